//! The model scanner: its geometry for a field of view, and scan + reconstruct in one call.
use ctscreen::scanner::{scan, ScanOptions};
use pyo3::prelude::*;

use crate::geometry::wrap_geometry;
use crate::phantom::PyParcel;
use crate::project::run_cancellable;
use crate::volume::PyVolume;

fn options(shape: (usize, usize, usize), field_of_view_mm: f64, views: usize) -> ScanOptions {
    ScanOptions {
        shape: [shape.0, shape.1, shape.2],
        field_of_view_mm,
        views,
        ..ScanOptions::default()
    }
}

/// The circular cone-beam geometry of the model parcel scanner for a volume.
///
/// Source-to-isocentre 2 × the field of view (at least 300 mm), magnification 2,
/// detector pixels of 2 voxels, enough rows and columns to see the whole cubic field
/// of view from every angle.
///
/// Parameters
/// ----------
/// shape : tuple of 3 int
///     The volume to reconstruct, (nz, ny, nx).
/// field_of_view_mm : float
///     Side of the cubic field of view in mm (voxel size = field_of_view_mm / max(shape)).
/// views : int
///     Views over 360°; 0 means 1.5 × max(shape), at least 90.
///
/// Returns
/// -------
/// ConeBeamGeometry
///
/// Raises
/// ------
/// ValueError
///     If a size is zero or the field of view not positive.
#[pyfunction]
#[pyo3(signature = (shape = (128, 128, 128), field_of_view_mm = 400.0, views = 0))]
fn scanner_geometry(
    py: Python<'_>,
    shape: (usize, usize, usize),
    field_of_view_mm: f64,
    views: usize,
) -> PyResult<Py<PyAny>> {
    let g = crate::errors::to_result(options(shape, field_of_view_mm, views).geometry())?;
    wrap_geometry(py, g)
}

/// Scans a generated parcel with the model scanner and reconstructs it (FDK).
///
/// A noisy polychromatic cone-beam scan (tungsten spectrum, Poisson noise) followed by
/// FDK; values are μ in mm⁻¹ at the beam's effective energy.
///
/// Parameters
/// ----------
/// parcel : Parcel
/// shape : tuple of 3 int
///     Output volume (nz, ny, nx). Default 128³.
/// field_of_view_mm : float, optional
///     Side of the cubic field of view; default 1.1 × the parcel's largest dimension.
/// views : int
///     Views over 360° (0: 1.5 × max(shape), at least 90).
/// spectrum_kvp : float
///     Tube voltage, kV.
/// photons : float
///     Photons per detector pixel in the open beam.
/// seed : int, optional
///     Noise seed; the parcel's seed by default.
///
/// Returns
/// -------
/// Volume
#[pyfunction]
#[pyo3(signature = (parcel, shape = (128, 128, 128), field_of_view_mm = None, views = 0, spectrum_kvp = 120.0, photons = 1e5, seed = None))]
fn scan_parcel(
    py: Python<'_>,
    parcel: &Bound<'_, PyParcel>,
    shape: (usize, usize, usize),
    field_of_view_mm: Option<f64>,
    views: usize,
    spectrum_kvp: f64,
    photons: f64,
    seed: Option<u64>,
) -> PyResult<PyVolume> {
    let parcel = &parcel.get().inner;
    let fov = field_of_view_mm
        .unwrap_or_else(|| 1.1 * parcel.extent_mm.iter().cloned().fold(0.0, f64::max));
    let mut opts = options(shape, fov, views);
    opts.simulate.kvp = spectrum_kvp;
    opts.simulate.photons = photons;
    opts.simulate.seed = seed.unwrap_or(parcel.seed);
    let result = run_cancellable(py, |flag| scan(&parcel.phantom, &opts, flag))?;
    Ok(PyVolume {
        inner: result.volume,
    })
}

/// Registers the functions.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(scanner_geometry, m)?)?;
    m.add_function(wrap_pyfunction!(scan_parcel, m)?)?;
    Ok(())
}
