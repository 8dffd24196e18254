//! Detection bindings: `detect`, `Report`, `Finding`, `evaluate`, `evaluate_set`.
use ctscreen::detect::evaluate::{evaluate_parcel, evaluate_set as core_evaluate_set, ScanMode};
use ctscreen::detect::probability::ScoreMap;
use ctscreen::detect::{detect_with_progress, DetectOptions, EvaluationOptions, Report};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::IntoPyResult;
use crate::json::{json_to_py, to_py_data};
use crate::phantom::PyParcel;
use crate::run::run_cancellable;
use crate::volume::PyVolume;

/// One dense object (or group) and what the detector makes of it.
///
/// Attributes
/// ----------
/// id : int
/// kind : str
///     "firearm", "firearm_part", "ammunition", "blade" or "metal_other".
/// score : float
///     Best threat score in [0, 1].
/// threat_probability : float or None
///     How often findings of this score were threats in the parcels the score map was
///     fitted on (see :class:`ScoreMap`); None where no map was applied.
/// bbox_mm : tuple of 6 float
///     (z0, y0, x0, z1, y1, x1) world mm, min and max corners.
/// voxel_count : int
/// volume_mm3 : float
/// mean_mu : float
///     Mean μ in mm⁻¹.
/// material : str
/// mass_g : float
/// centroid_mm : tuple of 3 float
/// principal_axes : list of 3 tuples
///     Unit vectors (z, y, x), longest first.
/// extents_mm : tuple of 3 float
/// evidence : list of str
///     The measurements that drove the call.
/// features : dict
///     Numeric features by name (units in the names).
#[pyclass(name = "Finding", module = "ctscreen", frozen, get_all)]
#[derive(Clone)]
pub struct PyFinding {
    id: u32,
    kind: String,
    score: f64,
    threat_probability: Option<f64>,
    bbox_mm: (f64, f64, f64, f64, f64, f64),
    voxel_count: u64,
    volume_mm3: f64,
    mean_mu: f64,
    material: String,
    mass_g: f64,
    centroid_mm: (f64, f64, f64),
    principal_axes: Vec<[f64; 3]>,
    extents_mm: (f64, f64, f64),
    evidence: Vec<String>,
    features: std::collections::BTreeMap<String, f64>,
}

#[pymethods]
impl PyFinding {
    fn __repr__(&self) -> String {
        format!(
            "Finding(id={}, kind={:?}, score={:.2}, evidence={:?})",
            self.id, self.kind, self.score, self.evidence
        )
    }
}

/// A region of the scan the beam did not pass through: its contents cannot be seen.
///
/// Attributes
/// ----------
/// bbox_mm : tuple of 6 float
///     (z0, y0, x0, z1, y1, x1) world mm of the unseen region.
/// volume_mm3 : float
///     Volume of the unseen region, mm³.
/// least_line_integral : float
///     ∫μ dl of the weakest ray through it (dimensionless): at most ``exp(-value)``
///     of the beam crosses it.
/// findings : list of int
///     Ids of the findings whose box holds its centre.
/// evidence : list of str
///     What was measured and what it means.
#[pyclass(name = "Shield", module = "ctscreen", frozen, get_all)]
#[derive(Clone)]
pub struct PyShield {
    bbox_mm: (f64, f64, f64, f64, f64, f64),
    volume_mm3: f64,
    least_line_integral: f64,
    findings: Vec<u32>,
    evidence: Vec<String>,
}

#[pymethods]
impl PyShield {
    fn __repr__(&self) -> String {
        format!(
            "Shield(volume_mm3={:.0}, least_line_integral={:.1}, findings={:?})",
            self.volume_mm3, self.least_line_integral, self.findings
        )
    }
}

fn tuple6(b: &[f64; 6]) -> (f64, f64, f64, f64, f64, f64) {
    (b[0], b[1], b[2], b[3], b[4], b[5])
}

/// The result of :func:`detect`: findings, shields, verdict and the thresholds used.
///
/// Pickles, and converts to and from versioned JSON (``to_json`` / ``Report.from_json``).
#[pyclass(name = "Report", module = "ctscreen", frozen)]
pub struct PyReport {
    pub inner: Report,
}

#[pymethods]
impl PyReport {
    /// list of Finding : highest score first.
    #[getter]
    fn findings(&self) -> Vec<PyFinding> {
        self.inner
            .findings
            .iter()
            .map(|f| PyFinding {
                id: f.id,
                kind: f.kind.as_str().to_string(),
                score: f.score,
                threat_probability: f.threat_probability,
                bbox_mm: tuple6(&f.bbox_mm),
                voxel_count: f.voxel_count,
                volume_mm3: f.volume_mm3,
                mean_mu: f.mean_mu,
                material: f.material.clone(),
                mass_g: f.mass_g,
                centroid_mm: (f.centroid_mm[0], f.centroid_mm[1], f.centroid_mm[2]),
                principal_axes: f.principal_axes.to_vec(),
                extents_mm: (f.extents_mm[0], f.extents_mm[1], f.extents_mm[2]),
                evidence: f.evidence.clone(),
                features: f.features.clone(),
            })
            .collect()
    }

    /// list of Shield : regions the beam did not pass through, in scan order. They do
    /// not change ``verdict`` (which speaks of what was seen), but a scan with a
    /// shield cannot be cleared by this report alone.
    #[getter]
    fn shields(&self) -> Vec<PyShield> {
        self.inner
            .shields
            .iter()
            .map(|s| PyShield {
                bbox_mm: tuple6(&s.bbox_mm),
                volume_mm3: s.volume_mm3,
                least_line_integral: s.least_line_integral,
                findings: s.findings.clone(),
                evidence: s.evidence.clone(),
            })
            .collect()
    }

    /// str : "clear" or "inspect".
    #[getter]
    fn verdict(&self) -> PyResult<String> {
        let v = serde_json::to_value(self.inner.verdict)
            .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
        Ok(v.as_str().unwrap_or("").to_string())
    }

    /// float : decision threshold on the score.
    #[getter]
    fn threshold(&self) -> f64 {
        self.inner.threshold
    }

    /// The report as JSON text (versioned schema).
    #[pyo3(signature = (indent = false))]
    fn to_json(&self, indent: bool) -> PyResult<String> {
        if indent {
            self.inner.to_json_pretty()
        } else {
            self.inner.to_json()
        }
        .py()
    }

    /// The report as plain Python data (``json.loads(report.to_json())``).
    fn to_dict(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(json_to_py(py, &self.inner.to_json().py()?)?.unbind())
    }

    /// Reads a report from JSON text written by ``to_json``.
    ///
    /// Raises
    /// ------
    /// ValueError
    ///     On malformed JSON or another schema version.
    #[staticmethod]
    fn from_json(text: &str) -> PyResult<Self> {
        Ok(Self {
            inner: Report::from_json(text).py()?,
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "Report(verdict={:?}, findings={}, threats={}, shields={})",
            self.verdict().unwrap_or_default(),
            self.inner.findings.len(),
            self.inner.threats().count(),
            self.inner.shields.len()
        )
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (String,))> {
        let py = slf.py();
        let text = slf.get().inner.to_json().py()?;
        Ok((py.get_type::<Self>().getattr("from_json")?, (text,)))
    }

    /// The same report with every finding's ``threat_probability`` read from another
    /// score map (one fitted on parcels like yours).
    ///
    /// Parameters
    /// ----------
    /// score_map : ScoreMap
    ///
    /// Returns
    /// -------
    /// Report
    fn with_score_map(&self, score_map: &PyScoreMap) -> Self {
        let mut inner = self.inner.clone();
        score_map.inner.apply(&mut inner);
        Self { inner }
    }
}

/// A monotone map from finding score to threat probability: the isotonic regression
/// of "matches a threat object" on the score over the findings of evaluation sets.
/// :func:`detect` applies :meth:`ScoreMap.builtin`, fitted on the design parcel seeds.
///
/// Attributes
/// ----------
/// fitted_on : str
///     What it was fitted on (seeds, voxel size, scan).
/// findings : int
///     Findings it was fitted on.
/// scores, probabilities : list of float
///     The curve's points: scores strictly increasing, probabilities non-decreasing,
///     both in [0, 1]; linear in between, flat beyond the ends.
#[pyclass(name = "ScoreMap", module = "ctscreen", frozen)]
pub struct PyScoreMap {
    inner: ScoreMap,
}

#[pymethods]
impl PyScoreMap {
    /// Fits the map to findings' scores and whether each matched a threat object.
    ///
    /// Parameters
    /// ----------
    /// scores : sequence of float
    ///     Scores in [0, 1].
    /// threats : sequence of bool
    ///     One per score.
    /// fitted_on : str, optional
    ///     What the findings come from, kept in the map.
    ///
    /// Returns
    /// -------
    /// ScoreMap
    ///
    /// Raises
    /// ------
    /// ValueError
    ///     With no score, scores and threats of different lengths, or a score not in
    ///     [0, 1].
    #[staticmethod]
    #[pyo3(signature = (scores, threats, fitted_on = ""))]
    fn fit(scores: Vec<f64>, threats: Vec<bool>, fitted_on: &str) -> PyResult<Self> {
        if scores.len() != threats.len() {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "threats: {} values for {} scores (expected one per score)",
                threats.len(),
                scores.len()
            )));
        }
        Ok(Self {
            inner: ScoreMap::fit(scores.into_iter().zip(threats), fitted_on).py()?,
        })
    }

    /// The map shipped with the library, fitted on the design parcel seeds.
    #[staticmethod]
    fn builtin() -> Self {
        Self {
            inner: ScoreMap::builtin().clone(),
        }
    }

    /// Reads a map from JSON written by ``to_json``.
    ///
    /// Raises
    /// ------
    /// OSError
    ///     If the text is not a score map, its curve is not monotone in [0, 1], or its
    ///     version is another.
    #[staticmethod]
    fn from_json(text: &str) -> PyResult<Self> {
        Ok(Self {
            inner: ScoreMap::from_json(text).py()?,
        })
    }

    /// The map as JSON text.
    fn to_json(&self) -> String {
        self.inner.to_json()
    }

    /// The threat probability of a score (NaN reads as 0).
    ///
    /// Parameters
    /// ----------
    /// score : float
    ///
    /// Returns
    /// -------
    /// float
    fn probability(&self, score: f64) -> f64 {
        self.inner.probability(score)
    }

    #[getter]
    fn fitted_on(&self) -> String {
        self.inner.fitted_on.clone()
    }

    #[getter]
    fn findings(&self) -> usize {
        self.inner.findings
    }

    #[getter]
    fn scores(&self) -> Vec<f64> {
        self.inner.scores.clone()
    }

    #[getter]
    fn probabilities(&self) -> Vec<f64> {
        self.inner.probabilities.clone()
    }

    fn __repr__(&self) -> String {
        format!(
            "ScoreMap(points={}, findings={}, fitted_on={:?})",
            self.inner.scores.len(),
            self.inner.findings,
            self.inner.fitted_on
        )
    }
}

/// Finds dense metal in a volume and classifies each object as firearm, firearm part,
/// ammunition, blade or other metal, with the evidence for each call.
///
/// Parameters
/// ----------
/// volume : Volume
///     μ in mm⁻¹ (a reconstruction or a voxelised phantom).
/// energy_kev : float
///     Effective energy of the scan, keV (HU equivalents). Default 70.
/// metal_energy_kev : float, optional
///     Energy (keV) at which metals read in the volume, for the material guess and the
///     density cues. Default 100: in a reconstruction of a polychromatic scan the beam
///     through steel is hardened. For a monochromatic volume (a phantom voxelised at
///     ``energy_kev``, a monochromatic simulation) give the same value as ``energy_kev``.
/// threshold : float, optional
///     Decision threshold on the score (default: the detector's own).
/// **options
///     Any other detection option by name, as listed by :func:`detect_options` with
///     its default: e.g. ``opaque_line_integral=12`` for a scanner with many more
///     photons per pixel, ``shield_min_volume_mm3``, ``low_mu`` / ``high_mu`` (mm⁻¹),
///     ``split_touching=False``. Units are in the names and in the Rust docs of
///     ``DetectOptions``.
///
/// Returns
/// -------
/// Report
///
/// Raises
/// ------
/// ValueError
///     If the volume holds NaN voxels (the message gives how many), an option is out of
///     range or of the wrong type, or an option name is unknown (the message lists the
///     known ones).
#[pyfunction]
#[pyo3(signature = (volume, energy_kev = 70.0, threshold = None, metal_energy_kev = None, **options))]
fn detect(
    py: Python<'_>,
    volume: &Bound<'_, PyVolume>,
    energy_kev: f64,
    threshold: Option<f64>,
    metal_energy_kev: Option<f64>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<PyReport> {
    let vol = &volume.get().inner;
    let options = detect_options_from(
        py,
        &[
            ("energy_kev", Some(energy_kev)),
            ("threshold", threshold),
            ("metal_energy_kev", metal_energy_kev),
        ],
        options,
    )?;
    let inner = run_cancellable(py, false, |flag| detect_with_progress(vol, &options, flag))?;
    Ok(PyReport { inner })
}

/// Detection options from named arguments and `**options` (any `DetectOptions` field),
/// through the JSON reader of the Rust API: unknown names and bad values are refused
/// there, with the same messages.
fn detect_options_from(
    py: Python<'_>,
    named: &[(&str, Option<f64>)],
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<DetectOptions> {
    let fields = match options {
        Some(o) => o.copy()?,
        None => PyDict::new(py),
    };
    for (name, value) in named {
        if let Some(v) = value {
            fields.set_item(name, v)?;
        }
    }
    let text: String = py
        .import("json")?
        .call_method1("dumps", (fields,))?
        .extract()?;
    DetectOptions::from_json(&text).py()
}

/// The detection options and their defaults, by name.
///
/// Every name may be passed to :func:`detect` and :func:`evaluate_set` as a keyword
/// argument. Units are in the names or in the Rust docs of ``DetectOptions``: μ in
/// mm⁻¹, volumes in mm³, energies in keV, lengths in mm.
///
/// Returns
/// -------
/// dict
///     Option name to default value (``water_mu`` is ``None``: from ``energy_kev``).
#[pyfunction]
fn detect_options(py: Python<'_>) -> PyResult<Py<PyAny>> {
    Ok(to_py_data(py, &DetectOptions::default())?.unbind())
}

/// Scores a report against a generated parcel's ground truth.
///
/// A threat object is detected when an alarmed finding (score ≥ threshold) overlaps it
/// (see the Rust docs of ``detect::evaluate`` for the matching rule); a false alarm is an
/// alarmed finding that matches no threat.
///
/// Parameters
/// ----------
/// report : Report
/// parcel : Parcel
///
/// Returns
/// -------
/// dict
///     ``per_class`` (total, detected, classified per class), ``false_alarms``,
///     ``benign_scene``, ``verdict``, ``confusion``, ``matches``, ``threshold``.
#[pyfunction]
fn evaluate(
    py: Python<'_>,
    report: &Bound<'_, PyReport>,
    parcel: &Bound<'_, PyParcel>,
) -> PyResult<Py<PyAny>> {
    let scores = evaluate_parcel(&report.get().inner, &parcel.get().inner);
    Ok(to_py_data(py, &scores)?.unbind())
}

/// Generates, scans, detects and scores a seeded set of parcels.
///
/// Parcel ``i`` has seed ``seed + i``; every other parcel (at ``threat_fraction=0.5``)
/// holds threats, their kinds taken in turn from every generated kind, and all carry
/// hard benign metal. Each is scanned with the project's scanner (120 kVp
/// polychromatic cone beam, Poisson noise, FDK with metal artefact reduction) at
/// ``size``³ voxels over a field of view of 1.1 × ``max_extent_mm``, or, with
/// ``mode="truth"``, voxelised with Gaussian noise (quick, no artefacts). The rules
/// were designed on seeds below 10 000; the default seeds start at 1 000 000.
/// Deterministic apart from the timings. Releases the GIL; Ctrl-C cancels between
/// chunks of work.
///
/// Parameters
/// ----------
/// parcels : int
///     Number of parcels (1–100000). Default 200.
/// size : int
///     Side of each scan in voxels (16–1024). Default 128 (2.6 mm voxels).
/// seed : int
///     Seed of the first parcel. Default 1000000.
/// threat_fraction : float
///     Share of parcels with threats (0–1). Default 0.5.
/// max_extent_mm : float
///     Cap on the parcels' outer dimensions, mm. Default 300.
/// threshold : float, optional
///     Decision threshold on the finding score (default: the detector's own).
/// mode : str
///     ``"scan"`` (simulate and reconstruct) or ``"truth"`` (voxelised phantom at
///     100 keV plus 0.005 mm⁻¹ noise). Default ``"scan"``.
/// photons : float
///     Photons per detector pixel in the open beam, for ``"scan"``: the scanner's
///     dose. Default 1e5.
/// progress : bool
///     Show a tqdm bar when tqdm is installed. Default False.
/// **options
///     Detection options by name, as for :func:`detect` (see :func:`detect_options`).
///
/// Returns
/// -------
/// dict
///     ``per_class`` (total, detected, classified, recall, classified_recall per
///     threat class), ``false_alarms_per_benign_parcel``, ``confusion``, ``roc``
///     (threshold, threat/benign parcels alarmed, recall…), ``auc``, ``calibration``
///     (findings binned by score against the share matching a threat, and the
///     expected calibration error), ``probability_calibration`` (the same for the
///     findings' threat probabilities), ``per_parcel`` (with ``finding_outcomes``:
///     each finding's score, threat probability and whether it matches a threat, what
///     :meth:`ScoreMap.fit` takes), ``seed_range``, ``options`` and the counts.
///
/// Raises
/// ------
/// ValueError
///     If an option is out of range (the message names it).
/// KeyboardInterrupt
///     On Ctrl-C.
#[pyfunction]
#[pyo3(signature = (parcels = 200, size = 128, seed = ctscreen::detect::evaluate::DEFAULT_EVALUATION_SEED, threat_fraction = 0.5, max_extent_mm = 300.0, threshold = None, mode = "scan", photons = ctscreen::detect::evaluate::DEFAULT_PHOTONS, progress = false, **options))]
fn evaluate_set(
    py: Python<'_>,
    parcels: usize,
    size: usize,
    seed: u64,
    threat_fraction: f64,
    max_extent_mm: f64,
    threshold: Option<f64>,
    mode: &str,
    photons: f64,
    progress: bool,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Py<PyAny>> {
    let mut options = EvaluationOptions {
        parcels,
        size,
        seed,
        threat_fraction,
        max_extent_mm,
        detect: detect_options_from(py, &[("threshold", threshold)], options)?,
        ..EvaluationOptions::default()
    };
    options.mode = match mode {
        "scan" => ScanMode::Reconstruction { photons, views: 0 },
        "truth" => ScanMode::Truth {
            energy_kev: 100.0,
            noise_mu: 0.005,
        },
        other => {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "invalid mode {other:?}: expected \"scan\" or \"truth\""
            )))
        }
    };
    let e = run_cancellable(py, progress, |p| core_evaluate_set(&options, p))?;
    Ok(to_py_data(py, &e)?.unbind())
}

/// Registers the classes and functions.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyReport>()?;
    m.add_class::<PyFinding>()?;
    m.add_class::<PyShield>()?;
    m.add_class::<PyScoreMap>()?;
    m.add_function(wrap_pyfunction!(detect, m)?)?;
    m.add_function(wrap_pyfunction!(detect_options, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate_set, m)?)?;
    Ok(())
}
