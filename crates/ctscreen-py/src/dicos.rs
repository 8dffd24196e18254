//! DICOS CT volumes and Threat Detection Reports (`ctscreen.load_dicos`, …).
//!
//! TDRs travel as plain dicts for now: `{"alarm", "processing_time_ms",
//! "referenced_sop_instance_uid", "referenced_sop_class_uid", "frame_of_reference_uid",
//! "objects": [{"id", "category", "probability", "bbox_mm", "description", "evidence",
//! "mass_g", "density_g_per_cm3"}]}`; scan references as dicts of UIDs and grid.
use std::path::PathBuf;

use ctscreen::io_dicos::{
    self, Compression, DicosLoadOptions, DicosSaveOptions, OutputUnits, ScanReference, TdrReport,
    TdrSaveOptions, TdrThreat,
};
use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

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

fn required<'py, T: for<'a> FromPyObject<'a, 'py>>(d: &Bound<'py, PyDict>, key: &str) -> PyResult<T>
where
    for<'a> <T as FromPyObject<'a, 'py>>::Error: Into<PyErr>,
{
    match d.get_item(key)? {
        Some(v) => v
            .extract::<T>()
            .map_err(Into::into)
            .map_err(|e: PyErr| PyValueError::new_err(format!("{key}: {e}"))),
        None => Err(PyKeyError::new_err(format!("missing key {key:?}"))),
    }
}

fn optional<'py, T: for<'a> FromPyObject<'a, 'py>>(
    d: &Bound<'py, PyDict>,
    key: &str,
) -> PyResult<Option<T>>
where
    for<'a> <T as FromPyObject<'a, 'py>>::Error: Into<PyErr>,
{
    match d.get_item(key)? {
        Some(v) if !v.is_none() => v
            .extract::<T>()
            .map(Some)
            .map_err(Into::into)
            .map_err(|e: PyErr| PyValueError::new_err(format!("{key}: {e}"))),
        _ => Ok(None),
    }
}

fn scan_from_dict(d: &Bound<'_, PyDict>) -> PyResult<ScanReference> {
    let t3 = |v: (f64, f64, f64)| [v.0, v.1, v.2];
    let shape: (usize, usize, usize) = required(d, "shape")?;
    Ok(ScanReference {
        sop_class_uid: optional(d, "sop_class_uid")?
            .unwrap_or_else(|| io_dicos::CT_SOP_CLASS_UID.to_string()),
        sop_instance_uid: required(d, "sop_instance_uid")?,
        study_instance_uid: optional(d, "study_instance_uid")?.unwrap_or_default(),
        series_instance_uid: optional(d, "series_instance_uid")?.unwrap_or_default(),
        frame_of_reference_uid: required(d, "frame_of_reference_uid")?,
        shape: [shape.0, shape.1, shape.2],
        spacing_mm: t3(required(d, "spacing")?),
        origin_mm: t3(required(d, "origin")?),
        direction: optional(d, "direction")?.unwrap_or([
            [1.0, 0.0, 0.0],
            [0.0, 1.0, 0.0],
            [0.0, 0.0, 1.0],
        ]),
    })
}

fn report_from_dict(d: &Bound<'_, PyDict>) -> PyResult<TdrReport> {
    let mut objects = Vec::new();
    if let Some(list) = d.get_item("objects")? {
        for (n, o) in list.try_iter()?.enumerate() {
            let o = o?;
            let o = o
                .cast::<PyDict>()
                .map_err(|_| PyValueError::new_err(format!("objects[{n}] must be a dict")))?;
            let b: (f64, f64, f64, f64, f64, f64) = required(o, "bbox_mm")?;
            objects.push(TdrThreat {
                id: required(o, "id")?,
                category: required(o, "category")?,
                probability: required(o, "probability")?,
                bbox_mm: [b.0, b.1, b.2, b.3, b.4, b.5],
                description: optional(o, "description")?.unwrap_or_default(),
                evidence: optional(o, "evidence")?.unwrap_or_default(),
                mass_g: optional(o, "mass_g")?,
                density_g_per_cm3: optional(o, "density_g_per_cm3")?,
            });
        }
    }
    Ok(TdrReport {
        alarm: required(d, "alarm")?,
        objects,
        processing_time_ms: optional(d, "processing_time_ms")?.unwrap_or(0.0),
        referenced_sop_instance_uid: optional(d, "referenced_sop_instance_uid")?
            .unwrap_or_default(),
        referenced_sop_class_uid: optional(d, "referenced_sop_class_uid")?.unwrap_or_default(),
        frame_of_reference_uid: optional(d, "frame_of_reference_uid")?.unwrap_or_default(),
    })
}

fn report_to_dict<'py>(py: Python<'py>, r: &TdrReport) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("alarm", r.alarm)?;
    d.set_item("processing_time_ms", r.processing_time_ms)?;
    d.set_item(
        "referenced_sop_instance_uid",
        &r.referenced_sop_instance_uid,
    )?;
    d.set_item("referenced_sop_class_uid", &r.referenced_sop_class_uid)?;
    d.set_item("frame_of_reference_uid", &r.frame_of_reference_uid)?;
    let objects = PyList::empty(py);
    for t in &r.objects {
        let o = PyDict::new(py);
        o.set_item("id", t.id)?;
        o.set_item("category", &t.category)?;
        o.set_item("probability", t.probability)?;
        let b = t.bbox_mm;
        o.set_item("bbox_mm", (b[0], b[1], b[2], b[3], b[4], b[5]))?;
        o.set_item("description", &t.description)?;
        o.set_item("evidence", &t.evidence)?;
        o.set_item("mass_g", t.mass_g)?;
        o.set_item("density_g_per_cm3", t.density_g_per_cm3)?;
        objects.append(o)?;
    }
    d.set_item("objects", objects)?;
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
    let ct = py.detach(|| io_dicos::load_dicos_with(&path, &o)).py()?;
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
    let ct = py.detach(|| io_dicos::load_dicos_with(&path, &o)).py()?;
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
///     The scan reference (UIDs and grid) for `save_tdr_struct`.
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
        .detach(|| io_dicos::save_dicos_with(&path, inner, &o))
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
    io_dicos::is_dicos(path)
}

/// Save a Threat Detection Report given as a dict.
///
/// Parameters
/// ----------
/// path : str or os.PathLike
///     Output file.
/// report : dict
///     alarm (bool), processing_time_ms (float, ms), objects: list of dicts with id
///     (int 0-65535), category ('firearm', 'firearm_part', 'ammunition', 'blade',
///     'metal_other'), probability (0-1), bbox_mm ((z0, y0, x0, z1, y1, x1) world mm),
///     description (str), evidence (list of str), mass_g, density_g_per_cm3 (float or
///     None). Optional referenced_sop_instance_uid / referenced_sop_class_uid /
///     frame_of_reference_uid must match `scan` when given.
/// scan : dict
///     The scan reference returned by `save_dicos` or `load_dicos_ct`.
/// uid_seed : int, optional
///     Reproducible UIDs from this seed and the content.
///
/// Raises
/// ------
/// ValueError
///     For a malformed report (unknown category, duplicate id, probability outside
///     [0, 1], inverted box, UIDs contradicting the scan).
/// KeyError
///     If a required key is missing.
/// OSError
///     If the file cannot be written.
#[pyfunction]
#[pyo3(signature = (path, report, scan, uid_seed = None))]
fn save_tdr_struct(
    py: Python<'_>,
    path: PathBuf,
    report: &Bound<'_, PyDict>,
    scan: &Bound<'_, PyDict>,
    uid_seed: Option<u64>,
) -> PyResult<()> {
    let r = report_from_dict(report)?;
    let s = scan_from_dict(scan)?;
    let o = TdrSaveOptions {
        uid_seed,
        datetime: None,
    };
    py.detach(|| io_dicos::save_tdr_with(&path, &r, &s, &o))
        .py()
}

/// Load a Threat Detection Report as a dict (the layout `save_tdr_struct` takes).
///
/// Parameters
/// ----------
/// path : str or os.PathLike
///     A DICOS TDR file.
/// scan : dict, optional
///     Scan reference used to place threats that only carry a voxel ROI.
///
/// Returns
/// -------
/// dict
///
/// Raises
/// ------
/// OSError
///     If the file is unreadable, not a TDR, or holds a threat it cannot place.
#[pyfunction]
#[pyo3(signature = (path, scan = None))]
fn load_tdr_struct<'py>(
    py: Python<'py>,
    path: PathBuf,
    scan: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    let s = scan.map(scan_from_dict).transpose()?;
    let r = py
        .detach(|| io_dicos::load_tdr_with(&path, s.as_ref()))
        .py()?;
    report_to_dict(py, &r)
}

/// Registers the DICOS functions.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(load_dicos, m)?)?;
    m.add_function(wrap_pyfunction!(load_dicos_ct, m)?)?;
    m.add_function(wrap_pyfunction!(save_dicos, m)?)?;
    m.add_function(wrap_pyfunction!(is_dicos, m)?)?;
    m.add_function(wrap_pyfunction!(save_tdr_struct, m)?)?;
    m.add_function(wrap_pyfunction!(load_tdr_struct, m)?)?;
    Ok(())
}
