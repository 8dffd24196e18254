//! Reconstruction bindings: FBP, FDK, SIRT, SART, CGLS.
use ctscreen::recon::{self, FdkOptions, Filter, IterativeOptions};
use ctscreen::{Progress, Projections};
use numpy::{AllowTypeChange, IntoPyArray, PyArray1, PyArray2, PyArrayLike2, PyArrayLike3};
use pyo3::prelude::*;

use crate::errors::IntoPyResult;
use crate::geometry::extract_geometry;
use crate::project::run_cancellable;
use crate::volume::PyVolume;

fn projections(p: PyArrayLike3<'_, f32, AllowTypeChange>) -> PyResult<Projections> {
    Projections::new(p.as_array().as_standard_layout().into_owned()).py()
}

/// Filtered backprojection of a 2D sinogram (parallel or fan beam).
///
/// Parameters
/// ----------
/// sinogram : array_like, shape (views, cols)
///     Line integrals; any real dtype (converted to float32 once).
/// geometry : ParallelBeamGeometry or FanBeamGeometry
///     With one detector row.
/// shape : tuple of 2 int
///     Output (ny, nx), centred on the isocentre.
/// spacing_mm : tuple of 2 float
///     Pixel size (dy, dx) in mm.
/// filter : str
///     "ram-lak" (default), "shepp-logan", "cosine", "hamming" or "hann".
///
/// Returns
/// -------
/// numpy.ndarray, shape (ny, nx), float32
///     μ in mm⁻¹.
///
/// Raises
/// ------
/// ValueError
///     If the sinogram disagrees with the geometry, holds NaN/inf, or a parameter is invalid.
#[pyfunction]
#[pyo3(signature = (sinogram, geometry, shape, spacing_mm = (1.0, 1.0), filter = "ram-lak"))]
fn fbp<'py>(
    py: Python<'py>,
    sinogram: PyArrayLike2<'py, f32, AllowTypeChange>,
    geometry: &Bound<'py, PyAny>,
    shape: (usize, usize),
    spacing_mm: (f64, f64),
    filter: &str,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let geom = extract_geometry(geometry)?;
    let filter: Filter = filter.parse().py()?;
    let sino = sinogram.as_array().as_standard_layout().into_owned();
    let out = py
        .detach(|| recon::fbp(sino.view(), &geom, shape, spacing_mm, filter))
        .py()?;
    Ok(out.into_pyarray(py))
}

/// FDK reconstruction of circular cone-beam projections.
///
/// Cosine weighting, ramp filtering along detector rows, Parker weights for short
/// scans (detected from the angles), detector offsets, voxel-driven backprojection.
///
/// Parameters
/// ----------
/// projections : array_like, shape (views, rows, cols)
///     Line integrals −ln(I/I0).
/// geometry : ConeBeamGeometry
/// shape : tuple of 3 int
///     Output (nz, ny, nx), centred on the isocentre.
/// spacing_mm : tuple of 3 float
///     Voxel size (dz, dy, dx) in mm.
/// filter : str
///     Ramp-family filter name (see :func:`fbp`).
///
/// Returns
/// -------
/// Volume
///     μ in mm⁻¹.
///
/// Raises
/// ------
/// ValueError
///     If the projections disagree with the geometry, hold NaN/inf, or a parameter is invalid.
/// KeyboardInterrupt
///     On Ctrl-C (the work stops within a block of views).
#[pyfunction]
#[pyo3(signature = (projections, geometry, shape, spacing_mm = (1.0, 1.0, 1.0), filter = "ram-lak"))]
fn fdk(
    py: Python<'_>,
    projections: PyArrayLike3<'_, f32, AllowTypeChange>,
    geometry: &Bound<'_, PyAny>,
    shape: (usize, usize, usize),
    spacing_mm: (f64, f64, f64),
    filter: &str,
) -> PyResult<PyVolume> {
    let geom = extract_geometry(geometry)?;
    let options = FdkOptions {
        filter: filter.parse().py()?,
        ..FdkOptions::default()
    };
    let p = self::projections(projections)?;
    let shape = [shape.0, shape.1, shape.2];
    let spacing = [spacing_mm.0, spacing_mm.1, spacing_mm.2];
    let inner = run_cancellable(py, |flag| {
        recon::fdk(&p, &geom, shape, spacing, &options, flag as &dyn Progress)
    })?;
    Ok(PyVolume { inner })
}

type Solver = fn(
    &Projections,
    &ctscreen::Geometry,
    [usize; 3],
    [f64; 3],
    &IterativeOptions,
    &dyn Progress,
) -> ctscreen::Result<recon::IterativeResult>;

fn iterate<'py>(
    py: Python<'py>,
    solver: Solver,
    projections: PyArrayLike3<'py, f32, AllowTypeChange>,
    geometry: &Bound<'py, PyAny>,
    shape: (usize, usize, usize),
    spacing_mm: (f64, f64, f64),
    options: IterativeOptions,
    return_residuals: bool,
) -> PyResult<Py<PyAny>> {
    let geom = extract_geometry(geometry)?;
    let p = self::projections(projections)?;
    let shape = [shape.0, shape.1, shape.2];
    let spacing = [spacing_mm.0, spacing_mm.1, spacing_mm.2];
    let r = run_cancellable(py, |flag| {
        solver(&p, &geom, shape, spacing, &options, flag as &dyn Progress)
    })?;
    let vol = Py::new(py, PyVolume { inner: r.volume })?.into_any();
    if return_residuals {
        let res: Bound<'py, PyArray1<f64>> = r.residuals.into_pyarray(py);
        Ok((vol, res).into_pyobject(py)?.into_any().unbind())
    } else {
        Ok(vol)
    }
}

/// SIRT: simultaneous iterative reconstruction, `x ← x + λ C Aᵀ R (b − A x)`.
///
/// Parameters
/// ----------
/// projections : array_like, shape (views, rows, cols)
/// geometry : any geometry class
/// shape : tuple of 3 int
///     Output (nz, ny, nx), centred on the isocentre.
/// spacing_mm : tuple of 3 float
/// iterations : int
/// nonneg : bool
///     Clamp to ≥ 0 after each update.
/// relaxation : float
///     λ in (0, 2).
/// tolerance : float
///     Stop when the residual changes by less than this fraction (0: never).
/// return_residuals : bool
///     Also return ‖b − A x‖ after each iteration.
///
/// Returns
/// -------
/// Volume, or (Volume, numpy.ndarray) with ``return_residuals=True``
#[pyfunction]
#[pyo3(signature = (projections, geometry, shape, spacing_mm = (1.0, 1.0, 1.0), iterations = 50, nonneg = true, relaxation = 1.0, tolerance = 0.0, return_residuals = false))]
fn sirt<'py>(
    py: Python<'py>,
    projections: PyArrayLike3<'py, f32, AllowTypeChange>,
    geometry: &Bound<'py, PyAny>,
    shape: (usize, usize, usize),
    spacing_mm: (f64, f64, f64),
    iterations: usize,
    nonneg: bool,
    relaxation: f32,
    tolerance: f64,
    return_residuals: bool,
) -> PyResult<Py<PyAny>> {
    let options = IterativeOptions {
        iterations,
        nonnegative: nonneg,
        relaxation,
        tolerance,
        ..Default::default()
    };
    iterate(
        py,
        recon::sirt,
        projections,
        geometry,
        shape,
        spacing_mm,
        options,
        return_residuals,
    )
}

/// SART with ordered subsets: the SIRT update on one subset of views at a time.
///
/// Parameters are those of :func:`sirt`, plus ``subsets`` (views ``s, s+S, …`` form
/// subset ``s``).
///
/// Returns
/// -------
/// Volume, or (Volume, numpy.ndarray) with ``return_residuals=True``
#[pyfunction]
#[pyo3(signature = (projections, geometry, shape, spacing_mm = (1.0, 1.0, 1.0), iterations = 10, subsets = 10, nonneg = true, relaxation = 1.0, tolerance = 0.0, return_residuals = false))]
fn sart<'py>(
    py: Python<'py>,
    projections: PyArrayLike3<'py, f32, AllowTypeChange>,
    geometry: &Bound<'py, PyAny>,
    shape: (usize, usize, usize),
    spacing_mm: (f64, f64, f64),
    iterations: usize,
    subsets: usize,
    nonneg: bool,
    relaxation: f32,
    tolerance: f64,
    return_residuals: bool,
) -> PyResult<Py<PyAny>> {
    let options = IterativeOptions {
        iterations,
        subsets,
        nonnegative: nonneg,
        relaxation,
        tolerance,
    };
    iterate(
        py,
        recon::sart,
        projections,
        geometry,
        shape,
        spacing_mm,
        options,
        return_residuals,
    )
}

/// CGLS: conjugate gradients on the normal equations; the residual falls monotonically.
///
/// Parameters are those of :func:`sirt` without ``relaxation``; ``nonneg`` clamps the
/// final volume.
///
/// Returns
/// -------
/// Volume, or (Volume, numpy.ndarray) with ``return_residuals=True``
#[pyfunction]
#[pyo3(signature = (projections, geometry, shape, spacing_mm = (1.0, 1.0, 1.0), iterations = 20, nonneg = true, tolerance = 0.0, return_residuals = false))]
fn cgls<'py>(
    py: Python<'py>,
    projections: PyArrayLike3<'py, f32, AllowTypeChange>,
    geometry: &Bound<'py, PyAny>,
    shape: (usize, usize, usize),
    spacing_mm: (f64, f64, f64),
    iterations: usize,
    nonneg: bool,
    tolerance: f64,
    return_residuals: bool,
) -> PyResult<Py<PyAny>> {
    let options = IterativeOptions {
        iterations,
        nonnegative: nonneg,
        tolerance,
        ..Default::default()
    };
    iterate(
        py,
        recon::cgls,
        projections,
        geometry,
        shape,
        spacing_mm,
        options,
        return_residuals,
    )
}

/// Registers the functions.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(fbp, m)?)?;
    m.add_function(wrap_pyfunction!(fdk, m)?)?;
    m.add_function(wrap_pyfunction!(sirt, m)?)?;
    m.add_function(wrap_pyfunction!(sart, m)?)?;
    m.add_function(wrap_pyfunction!(cgls, m)?)?;
    Ok(())
}
