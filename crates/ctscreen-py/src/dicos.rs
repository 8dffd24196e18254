//! DICOS CT volumes and Threat Detection Reports (`ctscreen.load_dicos`, `save_tdr`, …)
//! over `ctscreen::io::dicos`. `ctscreen.load` / `ctscreen.save` reach DICOS CT through
//! `ctscreen::io` (see `io.rs`); the functions here add units, compression, UIDs and the
//! TDR ↔ `Report` conversion. Scan references travel as dicts of UIDs and grid.
use std::path::PathBuf;

use ctscreen::io::dicos::{
    self, Compression, DicosLoadOptions, DicosSaveOptions, OutputUnits, ScanReference,
    TdrSaveOptions,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::detect::PyReport;
use crate::errors::IntoPyResult;
use crate::volume::PyVolume;

fn units_of(units: &str) -> PyResult<OutputUnits> {
    match units {
        "mu" => Ok(OutputUnits::Mu),
        "hu" => Ok(OutputUnits::Hu),
        "rescaled" => Ok(OutputUnits::Rescaled),
        other => Err(PyValueError::new_err(format!(
            "units={other:?}; expected 'mu', 'hu' or 'rescaled'"
        ))),
    }
}

fn load_options(units: &str, water_mu_per_mm: Option<f64>) -> PyResult<DicosLoadOptions> {
    let mut o = DicosLoadOptions {
        units: units_of(units)?,
        ..Default::default()
    };
    if let Some(w) = water_mu_per_mm {
        o.water_mu_per_mm = w;
    }
    Ok(o)
}

fn scan_to_dict<'py>(py: Python<'py>, s: &ScanReference) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("sop_class_uid", &s.sop_class_uid)?;
    d.set_item("sop_instance_uid", &s.sop_instance_uid)?;
    d.set_item("study_instance_uid", &s.study_instance_uid)?;
    d.set_item("series_instance_uid", &s.series_instance_uid)?;
    d.set_item("frame_of_reference_uid", &s.frame_of_reference_uid)?;
    d.set_item("shape", (s.shape[0], s.shape[1], s.shape[2]))?;
    d.set_item(
        "spacing",
        (s.spacing_mm[0], s.spacing_mm[1], s.spacing_mm[2]),
    )?;
    d.set_item("origin", (s.origin_mm[0], s.origin_mm[1], s.origin_mm[2]))?;
    d.set_item("direction", s.direction)?;
    Ok(d)
}

/// Load a DICOS CT (NEMA IIC 1) as a Volume.
///
/// Parameters
/// ----------
/// path : str or os.PathLike
///     A multi-frame DICOS CT file, or a directory of DICOS CT files of one series.
/// units : {'mu', 'hu', 'rescaled'}, optional
///     'mu' (default): linear attenuation in mm^-1; 'hu': Hounsfield units;
///     'rescaled': slope * stored + intercept as the file states (MHU for most DICOS
///     scanners, MHU = HU + 1000).
/// water_mu_per_mm : float, optional
///     mu of water (mm^-1) for HU/MHU -> mu; default 0.01937 (70 keV).
///
/// Returns
/// -------
/// Volume
///     (z, y, x) = (frame, row, column); spacing and origin in mm from the file.
///
/// Raises
/// ------
/// OSError
///     If the file is unreadable, malformed or uses an unsupported feature.
/// ValueError
///     If `units` or `water_mu_per_mm` is invalid.
#[pyfunction]
#[pyo3(signature = (path, units = "mu", water_mu_per_mm = None))]
fn load_dicos(
    py: Python<'_>,
    path: PathBuf,
    units: &str,
    water_mu_per_mm: Option<f64>,
) -> PyResult<PyVolume> {
    let o = load_options(units, water_mu_per_mm)?;
    let ct = py.detach(|| dicos::load_dicos_with(&path, &o)).py()?;
    Ok(PyVolume { inner: ct.volume })
}

/// Load a DICOS CT and the reference a TDR about it needs.
///
/// Parameters are those of `load_dicos`.
///
/// Returns
/// -------
/// (Volume, dict)
///     The volume and its scan reference: sop_class_uid, sop_instance_uid,
///     study_instance_uid, series_instance_uid, frame_of_reference_uid, shape,
///     spacing (mm), origin (mm), direction; plus rescale_type, units and
///     transfer_syntax_uid of the file.
///
/// Raises
/// ------
/// OSError, ValueError
///     As `load_dicos`.
#[pyfunction]
#[pyo3(signature = (path, units = "mu", water_mu_per_mm = None))]
fn load_dicos_ct<'py>(
    py: Python<'py>,
    path: PathBuf,
    units: &str,
    water_mu_per_mm: Option<f64>,
) -> PyResult<(PyVolume, Bound<'py, PyDict>)> {
    let o = load_options(units, water_mu_per_mm)?;
    let ct = py.detach(|| dicos::load_dicos_with(&path, &o)).py()?;
    let d = scan_to_dict(py, &ct.scan)?;
    d.set_item("rescale_type", &ct.rescale_type)?;
    d.set_item(
        "units",
        match ct.units {
            OutputUnits::Mu => "mu",
            OutputUnits::Hu => "hu",
            _ => "rescaled",
        },
    )?;
    d.set_item("transfer_syntax_uid", &ct.transfer_syntax_uid)?;
    Ok((PyVolume { inner: ct.volume }, d))
}

/// Save a Volume (mu in mm^-1) as a DICOS CT.
///
/// Stored as MHU (1000 mu / mu_water) in unsigned 16 bits with a slope and intercept
/// fitted to the value range: per-voxel error <= (max - min) / 131070 (+ float
/// rounding). Written atomically (temporary file + rename).
///
/// Parameters
/// ----------
/// path : str or os.PathLike
///     Output file.
/// volume : Volume
///     Values in mm^-1, spacing/origin in mm.
/// water_mu_per_mm : float, optional
///     mu of water (mm^-1) for mu -> MHU; default 0.01937 (70 keV).
/// compression : {None, 'rle', 'jpeg-lossless', 'jpeg-ls', 'jpeg2000'}, optional
///     Lossless pixel compression; default none (Explicit VR Little Endian).
/// uid_seed : int, optional
///     Derive the UIDs from this seed and the content (reproducible files); default:
///     fresh UIDs.
///
/// Returns
/// -------
/// dict
///     The scan reference written: sop_class_uid, sop_instance_uid,
///     study_instance_uid, series_instance_uid, frame_of_reference_uid, shape,
///     spacing (mm), origin (mm), direction.
///
/// Raises
/// ------
/// ValueError
///     If the volume has NaN/inf values or more than 65535 rows or columns.
/// OSError
///     If the file cannot be written.
#[pyfunction]
#[pyo3(signature = (path, volume, water_mu_per_mm = None, compression = None, uid_seed = None))]
fn save_dicos<'py>(
    py: Python<'py>,
    path: PathBuf,
    volume: PyRef<'py, PyVolume>,
    water_mu_per_mm: Option<f64>,
    compression: Option<&str>,
    uid_seed: Option<u64>,
) -> PyResult<Bound<'py, PyDict>> {
    let mut o = DicosSaveOptions {
        uid_seed,
        ..Default::default()
    };
    if let Some(w) = water_mu_per_mm {
        o.water_mu_per_mm = w;
    }
    o.compression = match compression {
        None | Some("none") => Compression::None,
        Some("rle") => Compression::Rle,
        Some("jpeg-lossless") => Compression::JpegLossless,
        Some("jpeg-ls") => Compression::JpegLs,
        Some("jpeg2000") => Compression::Jpeg2000,
        Some(other) => {
            return Err(PyValueError::new_err(format!(
            "compression={other:?}; expected None, 'rle', 'jpeg-lossless', 'jpeg-ls' or 'jpeg2000'"
        )))
        }
    };
    let inner = &volume.inner;
    let scan = py
        .detach(|| dicos::save_dicos_with(&path, inner, &o))
        .py()?;
    scan_to_dict(py, &scan)
}

/// True if the file is a DICOS object (DICM magic and a DICOS SOP class UID).
///
/// Parameters
/// ----------
/// path : str or os.PathLike
///     Any file; unreadable ones give False.
///
/// Returns
/// -------
/// bool
#[pyfunction]
fn is_dicos(path: PathBuf) -> bool {
    dicos::is_dicos(path)
}

/// Save a detection Report as a DICOS Threat Detection Report (TDR).
///
/// The alarm decision is the verdict ("inspect" -> ALARM, "clear" -> CLEAR); each
/// finding becomes one potential threat object with its id, a DICOS threat category
/// (firearm -> PI with flag HIGH_THREAT; firearm_part, ammunition, blade -> PI with
/// THREAT; metal_other -> ANOMALY with UNKNOWN; the exact kind starts the threat
/// description), probability = score, its box as the bounding polygon in DICOS
/// patient (x, y, z) mm -- the scan's world frame, named by its Frame of Reference
/// UID --, mass, density (mass / volume) and the processing time. Everything else in
/// the report travels in a private element that other readers ignore, so
/// ``load_tdr(path)`` gives the same report back. Written atomically.
///
/// Parameters
/// ----------
/// path : str or os.PathLike
///     Output file (``.dcs`` by convention).
/// report : Report
///     From ``detect`` (or ``load_tdr``, ``Report.from_json``).
/// scan : str or os.PathLike, optional
///     The DICOS CT file (or directory of one series) the report was computed on: the
///     TDR then refers to its SOP instance, series, study and frame of reference UIDs
///     and gives each threat's voxel region on its grid. Only its header is used.
///     Default None: no reference; boxes are in the detected volume's world frame.
/// uid_seed : int, optional
///     Reproducible UIDs from this seed and the content; default fresh UIDs.
///
/// Raises
/// ------
/// ValueError
///     If the report cannot be stored (more than 65535 findings or an id above 65535,
///     repeated ids, a score outside [0, 1], an inverted box, non-finite numbers).
/// OSError
///     If the file cannot be written, or ``scan`` is not a readable DICOS CT.
#[pyfunction]
#[pyo3(signature = (path, report, scan = None, uid_seed = None))]
fn save_tdr(
    py: Python<'_>,
    path: PathBuf,
    report: &Bound<'_, PyReport>,
    scan: Option<PathBuf>,
    uid_seed: Option<u64>,
) -> PyResult<()> {
    let r = &report.get().inner;
    let o = TdrSaveOptions {
        uid_seed,
        datetime: None,
    };
    py.detach(|| -> ctscreen::Result<()> {
        let s = scan.as_ref().map(dicos::read_scan_reference).transpose()?;
        dicos::save_tdr_with(&path, r, s.as_ref(), &o)
    })
    .py()
}

/// Load a DICOS Threat Detection Report as a Report.
///
/// A TDR written by ``save_tdr`` (and not edited since) gives back exactly the report
/// that was saved. Otherwise (another toolkit's TDR, or an edited one) the standard
/// attributes decide: verdict, and per finding id, kind (from the category and the
/// description; a category with no ctscreen kind, e.g. EXPLOSIVE, loads as
/// "metal_other" with the DICOS assessment as evidence), score, box, mass, volume
/// (from the density), evidence lines and the total time; the rest takes neutral
/// values (class score of the kind = score, material "unknown", centroid = box
/// centre, no features, default thresholds).
///
/// Parameters
/// ----------
/// path : str or os.PathLike
///     A DICOS TDR file.
///
/// Returns
/// -------
/// Report
///
/// Raises
/// ------
/// OSError
///     If the file is unreadable, not a TDR (a DICOS CT says to use ``load``), or holds
///     a threat with only a voxel region (no bounding polygon).
#[pyfunction]
fn load_tdr(py: Python<'_>, path: PathBuf) -> PyResult<PyReport> {
    let inner = py.detach(|| dicos::load_tdr(&path)).py()?;
    Ok(PyReport { inner })
}

/// Registers the DICOS functions.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(load_dicos, m)?)?;
    m.add_function(wrap_pyfunction!(load_dicos_ct, m)?)?;
    m.add_function(wrap_pyfunction!(save_dicos, m)?)?;
    m.add_function(wrap_pyfunction!(is_dicos, m)?)?;
    m.add_function(wrap_pyfunction!(save_tdr, m)?)?;
    m.add_function(wrap_pyfunction!(load_tdr, m)?)?;
    Ok(())
}
