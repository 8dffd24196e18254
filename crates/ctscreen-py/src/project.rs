//! `forward_project` and `backproject`: the core projectors, GIL released, Ctrl-C honoured.
use numpy::{AllowTypeChange, IntoPyArray, PyArray3, PyArrayLike3};
use pyo3::prelude::*;

use crate::errors::IntoPyResult;
use crate::geometry::extract_geometry;
use crate::run::run_cancellable;
use crate::volume::PyVolume;

/// A Volume, or an array (z, y, x) taken with 1 mm voxels centred on the isocentre.
fn extract_volume(obj: &Bound<'_, PyAny>) -> PyResult<ctscreen::Volume> {
    if let Ok(v) = obj.cast::<PyVolume>() {
        return Ok(v.get().inner.clone());
    }
    let a: PyArrayLike3<'_, f32, AllowTypeChange> = obj.extract()?;
    ctscreen::Volume::centered(a.as_array().as_standard_layout().into_owned(), [1.0; 3]).py()
}

/// Joseph forward projection: line integrals of a volume for every ray of a geometry.
///
/// Each ray (through a detector pixel centre) is followed along its dominant axis one
/// voxel plane at a time, the volume is interpolated bilinearly in each plane (0 outside)
/// and the samples are summed times the ray length per plane. Fan and cone rays start at
/// the source. Rays that miss the volume give 0.
///
/// Parameters
/// ----------
/// volume : Volume or array_like, shape (nz, ny, nx)
///     Linear attenuation μ in mm⁻¹, placed in the world by its origin and spacing (a
///     plain array is taken with 1 mm voxels centred on the isocentre). For a 2D image
///     pass shape (1, ny, nx).
/// geometry : Geometry
///     Any ParallelBeamGeometry, FanBeamGeometry, ConeBeamGeometry or VectorGeometry.
///
/// Returns
/// -------
/// numpy.ndarray, shape (views, rows, cols), float32
///     Line integrals -ln(I/I0) (dimensionless).
///
/// Raises
/// ------
/// ValueError
///     If the volume holds NaN or infinity, is oblique (non-identity direction), or the
///     output would not fit in memory.
/// TypeError
///     If geometry is not a geometry.
/// KeyboardInterrupt
///     On Ctrl-C.
#[pyfunction]
fn forward_project<'py>(
    py: Python<'py>,
    volume: &Bound<'py, PyAny>,
    geometry: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArray3<f32>>> {
    let g = extract_geometry(geometry)?;
    let vol = extract_volume(volume)?;
    let p = run_cancellable(py, false, |flag| {
        ctscreen::project::forward_project_with(&vol, &g, flag)
    })?;
    Ok(p.into_data().into_pyarray(py))
}

/// Plain voxel-driven backprojection onto a grid centred on the isocentre.
///
/// For every voxel centre and view, the ray through the voxel (from the source for fan
/// and cone beams) meets the detector, the projection is interpolated bilinearly there
/// (0 outside the detector), and the voxel gets the plain sum over views — no angular
/// step, no distance weighting, no filtering. Voxels behind a cone-beam source get
/// nothing from that view. It approximates, but is not exactly, the adjoint of
/// `forward_project`.
///
/// Parameters
/// ----------
/// projections : array_like, shape (views, rows, cols)
///     Values to backproject (any real dtype; used as float32).
/// geometry : Geometry
///     The scan geometry; its projection shape must match.
/// shape : tuple of 3 int
///     Output grid (nz, ny, nx).
/// spacing : tuple of 3 float, optional
///     Voxel size (dz, dy, dx) in mm. Default (1, 1, 1).
///
/// Returns
/// -------
/// Volume
///     The backprojection, centred on the isocentre.
///
/// Raises
/// ------
/// ValueError
///     If the projections' shape disagrees with the geometry, they hold NaN or infinity,
///     the shape is empty or a spacing is not finite and positive.
/// KeyboardInterrupt
///     On Ctrl-C.
#[pyfunction]
#[pyo3(signature = (projections, geometry, shape, spacing = (1.0, 1.0, 1.0)))]
fn backproject(
    py: Python<'_>,
    projections: PyArrayLike3<'_, f32, AllowTypeChange>,
    geometry: &Bound<'_, PyAny>,
    shape: (usize, usize, usize),
    spacing: (f64, f64, f64),
) -> PyResult<PyVolume> {
    let g = extract_geometry(geometry)?;
    let p = ctscreen::Projections::new(projections.as_array().as_standard_layout().into_owned())
        .py()?;
    let v = run_cancellable(py, false, |flag| {
        ctscreen::project::backproject_with(
            &p,
            &g,
            [shape.0, shape.1, shape.2],
            [spacing.0, spacing.1, spacing.2],
            flag,
        )
    })?;
    Ok(PyVolume { inner: v })
}

/// Registers the functions.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(forward_project, m)?)?;
    m.add_function(wrap_pyfunction!(backproject, m)?)?;
    Ok(())
}
