//! Reconstruction: `fbp`, `fdk`, `sirt`, `sart`, `cgls` and `mar`, GIL released and
//! interruptible with Ctrl-C.
use numpy::{AllowTypeChange, IntoPyArray, PyArray2, PyArrayLike2, PyArrayLike3};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::errors::IntoPyResult;
use crate::geometry::extract_geometry;
use crate::run::run_cancellable;
use crate::volume::PyVolume;
use ctscreen::recon::{
    self, FdkOptions, Filter, IterativeOptions, MarMethod, MarOptions, ShortScan,
};

fn parse_filter(name: &str) -> PyResult<Filter> {
    name.parse::<Filter>().py()
}

fn parse_short_scan(name: &str) -> PyResult<ShortScan> {
    match name.trim().to_ascii_lowercase().as_str() {
        "auto" => Ok(ShortScan::Auto),
        "full" | "off" | "none" => Ok(ShortScan::Full),
        "parker" | "short" => Ok(ShortScan::Parker),
        _ => Err(ctscreen::Error::invalid(
            "short_scan",
            format!("{name:?}"),
            "\"auto\", \"full\" or \"parker\"",
        ))
        .py(),
    }
}

fn projections(array: PyArrayLike3<'_, f32, AllowTypeChange>) -> PyResult<ctscreen::Projections> {
    ctscreen::Projections::new(array.as_array().as_standard_layout().into_owned()).py()
}

fn grid(shape: (usize, usize, usize), spacing: (f64, f64, f64)) -> ([usize; 3], [f64; 3]) {
    (
        [shape.0, shape.1, shape.2],
        [spacing.0, spacing.1, spacing.2],
    )
}

/// Filtered backprojection of a 2D sinogram.
///
/// Parallel beams: angles covering 180° (any order and spacing; a 360° scan is fine).
/// Fan beams (flat detector): a full 360° scan, or a short scan of at least 180° plus
/// the fan angle, weighted with Parker's weights.
///
/// Parameters
/// ----------
/// sinogram : array_like, shape (views, cols)
///     Line integrals -ln(I/I0), one row per view (any real dtype).
/// geometry : ParallelBeamGeometry or FanBeamGeometry
///     The scan, with one detector row.
/// shape : tuple of 2 int
///     Output image (ny, nx).
/// spacing_mm : tuple of 2 float, optional
///     Pixel size (dy, dx) in mm. Default (1, 1).
/// filter : str, optional
///     "ram-lak" (default), "shepp-logan", "cosine", "hamming" or "hann".
///
/// Returns
/// -------
/// numpy.ndarray, shape (ny, nx), float32
///     μ in mm⁻¹ on a grid centred on the isocentre (axes y, x).
///
/// Raises
/// ------
/// ValueError
///     If the sinogram does not match the geometry, holds NaN or infinity, the angles do
///     not cover the needed range, or a parameter is out of range.
/// KeyboardInterrupt
///     On Ctrl-C.
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
    let g = extract_geometry(geometry)?;
    let f = parse_filter(filter)?;
    let sino = sinogram.as_array().as_standard_layout().into_owned();
    let out = run_cancellable(py, false, |_| {
        recon::fbp(sino.view(), &g, shape, spacing_mm, f)
    })?;
    Ok(out.into_pyarray(py))
}

/// FDK reconstruction of circular cone-beam (or fan-beam) projections.
///
/// Cosine weighting, ramp filtering along detector rows, Parker weights for short scans
/// (detected from the angles), detector offsets from the geometry, and a vectorised,
/// multi-threaded voxel-driven backprojection.
///
/// Parameters
/// ----------
/// projections : array_like, shape (views, rows, cols)
///     Line integrals -ln(I/I0) (any real dtype).
/// geometry : ConeBeamGeometry or FanBeamGeometry
///     The scan; its projection shape must match.
/// shape : tuple of 3 int
///     Output grid (nz, ny, nx).
/// spacing_mm : tuple of 3 float, optional
///     Voxel size (dz, dy, dx) in mm. Default (1, 1, 1).
/// filter : str, optional
///     "ram-lak" (default), "shepp-logan", "cosine", "hamming" or "hann".
/// short_scan : str, optional
///     "auto" (default: detect from the angles), "full" or "parker".
/// progress : bool, optional
///     Show a tqdm progress bar (if tqdm is installed). Default False.
///
/// Returns
/// -------
/// Volume
///     μ in mm⁻¹, centred on the isocentre.
///
/// Raises
/// ------
/// ValueError
///     If the projections do not match the geometry, hold NaN or infinity, a short scan
///     covers less than 180° plus the fan angle, or a parameter is out of range.
/// KeyboardInterrupt
///     On Ctrl-C (the reconstruction stops at its next block of views).
#[pyfunction]
#[pyo3(signature = (projections, geometry, shape, spacing_mm = (1.0, 1.0, 1.0), filter = "ram-lak", short_scan = "auto", progress = false))]
fn fdk(
    py: Python<'_>,
    projections: PyArrayLike3<'_, f32, AllowTypeChange>,
    geometry: &Bound<'_, PyAny>,
    shape: (usize, usize, usize),
    spacing_mm: (f64, f64, f64),
    filter: &str,
    short_scan: &str,
    progress: bool,
) -> PyResult<PyVolume> {
    let g = extract_geometry(geometry)?;
    let options = FdkOptions {
        filter: parse_filter(filter)?,
        short_scan: parse_short_scan(short_scan)?,
        ..FdkOptions::default()
    };
    // Read in place: no copy of the projections (one is made only to convert a dtype).
    let p = projections.as_array();
    let (shape, spacing) = grid(shape, spacing_mm);
    let inner = run_cancellable(py, progress, |pr| {
        recon::fdk_view(p, &g, shape, spacing, &options, pr)
    })?;
    Ok(PyVolume { inner })
}

type Solver = fn(
    &ctscreen::Projections,
    &ctscreen::Geometry,
    [usize; 3],
    [f64; 3],
    &IterativeOptions,
    &dyn ctscreen::Progress,
) -> ctscreen::Result<recon::Reconstruction>;

#[allow(clippy::too_many_arguments)]
fn iterate<'py>(
    py: Python<'py>,
    solver: Solver,
    projections: PyArrayLike3<'py, f32, AllowTypeChange>,
    geometry: &Bound<'py, PyAny>,
    shape: (usize, usize, usize),
    spacing_mm: (f64, f64, f64),
    options: IterativeOptions,
    progress: bool,
    return_residuals: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let g = extract_geometry(geometry)?;
    let p = self::projections(projections)?;
    let (shape, spacing) = grid(shape, spacing_mm);
    let r = run_cancellable(py, progress, |pr| {
        solver(&p, &g, shape, spacing, &options, pr)
    })?;
    let volume = Bound::new(py, PyVolume { inner: r.volume })?.into_any();
    if return_residuals {
        Ok(PyTuple::new(py, [volume, r.residuals.into_pyobject(py)?.into_any()])?.into_any())
    } else {
        Ok(volume)
    }
}

/// SIRT reconstruction: x ← x + λ C Aᵀ R (b − A x) with the Joseph projector A.
///
/// Works for every geometry (parallel, fan, cone, vector).
///
/// Parameters
/// ----------
/// projections : array_like, shape (views, rows, cols)
///     Line integrals -ln(I/I0).
/// geometry : Geometry
///     Any geometry; its projection shape must match.
/// shape : tuple of 3 int
///     Output grid (nz, ny, nx).
/// spacing_mm : tuple of 3 float, optional
///     Voxel size (dz, dy, dx) in mm. Default (1, 1, 1).
/// iterations : int, optional
///     Maximum number of iterations. Default 50.
/// nonneg : bool, optional
///     Clip μ at 0 after every update. Default True.
/// relaxation : float, optional
///     λ in (0, 2). Default 1.
/// tol : float, optional
///     Stop when ‖b − A x‖ changes by less than tol relative to the previous iteration.
///     Default 1e-5; 0 runs every iteration.
/// progress : bool, optional
///     Show a tqdm progress bar (one step per iteration). Default False.
/// return_residuals : bool, optional
///     Also return the residual norms ‖b − A x_k‖ for k = 0 … n. Default False.
///
/// Returns
/// -------
/// Volume or (Volume, list of float)
///     μ in mm⁻¹ centred on the isocentre (and the residual history).
///
/// Raises
/// ------
/// ValueError
///     If the projections do not match the geometry, hold NaN or infinity, or a
///     parameter is out of range.
/// KeyboardInterrupt
///     On Ctrl-C.
#[pyfunction]
#[pyo3(signature = (projections, geometry, shape, spacing_mm = (1.0, 1.0, 1.0), iterations = 50, nonneg = true, relaxation = 1.0, tol = 1e-5, progress = false, return_residuals = false))]
fn sirt<'py>(
    py: Python<'py>,
    projections: PyArrayLike3<'py, f32, AllowTypeChange>,
    geometry: &Bound<'py, PyAny>,
    shape: (usize, usize, usize),
    spacing_mm: (f64, f64, f64),
    iterations: usize,
    nonneg: bool,
    relaxation: f64,
    tol: f64,
    progress: bool,
    return_residuals: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let options = IterativeOptions {
        iterations,
        nonneg,
        relaxation,
        tol,
        ..IterativeOptions::default()
    };
    iterate(
        py,
        recon::sirt,
        projections,
        geometry,
        shape,
        spacing_mm,
        options,
        progress,
        return_residuals,
    )
}

/// OS-SART reconstruction: the SIRT update applied to interleaved subsets of views in
/// turn (about `subsets` times faster convergence per sweep).
///
/// Parameters are those of `sirt` (iterations count sweeps over all subsets), plus
///
/// subsets : int, optional
///     Number of ordered subsets of views. Default 10.
///
/// Returns
/// -------
/// Volume or (Volume, list of float)
///     μ in mm⁻¹ (and the residual norm of each sweep, measured during the sweep).
///
/// Raises
/// ------
/// ValueError
///     As `sirt`.
/// KeyboardInterrupt
///     On Ctrl-C.
#[pyfunction]
#[pyo3(signature = (projections, geometry, shape, spacing_mm = (1.0, 1.0, 1.0), iterations = 10, subsets = 10, nonneg = true, relaxation = 1.0, tol = 1e-5, progress = false, return_residuals = false))]
fn sart<'py>(
    py: Python<'py>,
    projections: PyArrayLike3<'py, f32, AllowTypeChange>,
    geometry: &Bound<'py, PyAny>,
    shape: (usize, usize, usize),
    spacing_mm: (f64, f64, f64),
    iterations: usize,
    subsets: usize,
    nonneg: bool,
    relaxation: f64,
    tol: f64,
    progress: bool,
    return_residuals: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let options = IterativeOptions {
        iterations,
        subsets,
        nonneg,
        relaxation,
        tol,
    };
    iterate(
        py,
        recon::sart,
        projections,
        geometry,
        shape,
        spacing_mm,
        options,
        progress,
        return_residuals,
    )
}

/// CGLS reconstruction: conjugate gradients on AᵀA x = Aᵀ b.
///
/// The fastest to fit the data; on noisy data stop early (few tens of iterations).
///
/// Parameters are those of `sirt` except `relaxation`; `nonneg` (default False here)
/// clips only the final volume, and `iterations` defaults to 20.
///
/// Returns
/// -------
/// Volume or (Volume, list of float)
///     μ in mm⁻¹ (and ‖b − A x_k‖ for k = 0 … n).
///
/// Raises
/// ------
/// ValueError
///     As `sirt`.
/// KeyboardInterrupt
///     On Ctrl-C.
#[pyfunction]
#[pyo3(signature = (projections, geometry, shape, spacing_mm = (1.0, 1.0, 1.0), iterations = 20, nonneg = false, tol = 1e-5, progress = false, return_residuals = false))]
fn cgls<'py>(
    py: Python<'py>,
    projections: PyArrayLike3<'py, f32, AllowTypeChange>,
    geometry: &Bound<'py, PyAny>,
    shape: (usize, usize, usize),
    spacing_mm: (f64, f64, f64),
    iterations: usize,
    nonneg: bool,
    tol: f64,
    progress: bool,
    return_residuals: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let options = IterativeOptions {
        iterations,
        nonneg,
        tol,
        ..IterativeOptions::default()
    };
    iterate(
        py,
        recon::cgls,
        projections,
        geometry,
        shape,
        spacing_mm,
        options,
        progress,
        return_residuals,
    )
}

/// Metal-artifact-reduced FDK reconstruction.
///
/// FDK, metal mask by threshold, metal trace by forward projection, the traced detector
/// samples filled in by linear interpolation ("li") or normalised interpolation with a
/// tissue-class prior ("nmar", Meyer et al. 2010), FDK again, metal pasted back.
///
/// Parameters
/// ----------
/// projections : array_like, shape (views, rows, cols)
///     Line integrals -ln(I/I0).
/// geometry : ConeBeamGeometry or FanBeamGeometry
///     The scan; its projection shape must match.
/// shape : tuple of 3 int
///     Output grid (nz, ny, nx).
/// spacing_mm : tuple of 3 float, optional
///     Voxel size (dz, dy, dx) in mm. Default (1, 1, 1).
/// method : str, optional
///     "nmar" (default) or "li".
/// metal_threshold : float, optional
///     μ (mm⁻¹) above which a voxel is metal. Default 0.08 (≈ 3000 HU at 70 keV: steel,
///     brass).
/// water_mu : float, optional
///     μ of water (mm⁻¹) for the NMAR prior. Default 0.0193.
/// mask_dilation : int, optional
///     Dilation of the metal mask before tracing, voxels. Default 1.
/// filter : str, optional
///     The FDK filter. Default "ram-lak".
/// progress : bool, optional
///     Show a tqdm progress bar. Default False.
///
/// Returns
/// -------
/// Volume
///     μ in mm⁻¹, centred on the isocentre.
///
/// Raises
/// ------
/// ValueError
///     As `fdk`, and for an unknown method or a threshold that is not positive.
/// KeyboardInterrupt
///     On Ctrl-C.
#[pyfunction]
#[pyo3(signature = (projections, geometry, shape, spacing_mm = (1.0, 1.0, 1.0), method = "nmar", metal_threshold = 0.08, water_mu = 0.0193, mask_dilation = 1, filter = "ram-lak", progress = false))]
fn mar(
    py: Python<'_>,
    projections: PyArrayLike3<'_, f32, AllowTypeChange>,
    geometry: &Bound<'_, PyAny>,
    shape: (usize, usize, usize),
    spacing_mm: (f64, f64, f64),
    method: &str,
    metal_threshold: f32,
    water_mu: f32,
    mask_dilation: usize,
    filter: &str,
    progress: bool,
) -> PyResult<PyVolume> {
    let g = extract_geometry(geometry)?;
    let options = MarOptions {
        method: method.parse::<MarMethod>().py()?,
        metal_threshold,
        water_mu,
        mask_dilation,
        fdk: FdkOptions {
            filter: parse_filter(filter)?,
            ..FdkOptions::default()
        },
    };
    // Read in place, like `fdk` (a copy is made only to convert a dtype).
    let p = projections.as_array();
    let (shape, spacing) = grid(shape, spacing_mm);
    let inner = run_cancellable(py, progress, |pr| {
        recon::mar_view(p, &g, shape, spacing, &options, pr)
    })?;
    Ok(PyVolume { inner })
}

/// Adds the reconstruction functions to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(fbp, m)?)?;
    m.add_function(wrap_pyfunction!(fdk, m)?)?;
    m.add_function(wrap_pyfunction!(sirt, m)?)?;
    m.add_function(wrap_pyfunction!(sart, m)?)?;
    m.add_function(wrap_pyfunction!(cgls, m)?)?;
    m.add_function(wrap_pyfunction!(mar, m)?)?;
    Ok(())
}
