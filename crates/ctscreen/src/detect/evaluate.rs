//! Scoring reports against ground truth, and the evaluation harness.
//!
//! **Matching rule.** A finding *alarms* at threshold τ when its score ≥ τ. An alarmed
//! finding *matches* a ground-truth threat object when their boxes overlap with
//! intersection-over-union ≥ 0.1, or the finding's centroid lies inside the object's
//! box grown by 5 mm, or the object's box centre lies inside the finding's box (a
//! cluster finding covers the cartridges it groups). A threat object is **detected**
//! when an alarmed finding matches it, and **classified** when a matching alarmed
//! finding has the object's own kind. A **false alarm** is an alarmed finding that
//! matches no threat object. Benign objects never make a finding a hit.
//!
//! **Calibration.** A score is calibrated when, of the findings scoring about s, a share
//! s are threats. [`Evaluation::calibration`] bins every finding of the set by score
//! ([`CALIBRATION_BINS`] bins over [0, 1]) against the share that match a threat object
//! (the rule above, without a threshold), and sums the gaps into the expected
//! calibration error, over all findings and over those scoring at least 0.5. The scores
//! rank but are not probabilities; [`Evaluation::probability_calibration`] does the same
//! for the findings' threat probabilities, read from the scores by the map fitted on
//! the design seeds ([`super::probability`]).
//!
//! **Ground truth of a parcel** ([`truth_of_parcel`]): every firearm, firearm part and
//! blade is one object; the cartridges of one batch (a handful scattered together, or a
//! box) are one ammunition object whose box covers them all, so that a box of 50 rounds
//! counts once, like a pistol; benign metal objects are kept for the confusion matrix.
//!
//! **Evaluation sets** ([`evaluate_set`]): `parcels` generated parcels with seeds
//! `seed, seed + 1, …`; parcel `i` holds threats when the running count
//! ⌊(i + 1) f⌋ of the threat fraction f steps up (every other parcel at f = ½), its
//! kind taken in turn from [`ThreatKind::ALL`] (pistols, revolver, barrel, slide,
//! bolt, magazine, receiver, loose and boxed cartridges, knife), with a second kind
//! drawn from the seed one time in three. Every parcel carries hard benign metal
//! (tools, cutlery, coins, keys, bearings, pipe fittings, motor housings, batteries)
//! and hides a threat in benign metal with the generator's default probability. Each
//! parcel is scanned with [`crate::scanner::scan`] (120 kVp polychromatic, Poisson
//! noise, cone beam, FDK with metal artefact reduction) at `size`³ voxels over a field
//! of view of 1.1 × `max_extent_mm`, run through [`super::detect`] at the scan's
//! effective energy and scored at every threshold of the ROC.
//!
//! **Seeds.** The detector's rules were designed on parcel seeds below
//! [`DESIGN_SEEDS_END`] (the sets 0–399 and 2000–2199, the demo's seed 7 and seeds
//! 0–99 in examples and tests); the default evaluation seeds start at
//! [`DEFAULT_EVALUATION_SEED`], so a default run scores parcels the rules never saw.
//! [`Evaluation::overlaps_design_seeds`] says when a chosen range does not.
//!
//! Everything except the timings is deterministic: the same options give the same
//! [`Evaluation`] on any number of threads ([`Evaluation::without_timings`]).
use std::collections::BTreeMap;
use std::time::Instant;

use ndarray::Axis;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use rand_pcg::Pcg64;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::features::{box_centre, in_box};
#[cfg(doc)]
use super::probability::ScoreMap;
use super::report::{Kind, Report, Shield, Verdict};
use super::DetectOptions;
use crate::phantom::{parcel, ObjectClass, Parcel, ParcelOptions, ThreatKind, Threats};
use crate::physics::splitmix64;
use crate::progress::{self, Progress};
use crate::scanner::{scan, ScanOptions};
use crate::{Error, Result};

/// Bins of an evaluation's reliability table ([`Evaluation::calibration`]).
pub const CALIBRATION_BINS: usize = 10;

/// Parcel seeds below this were used to design and tune the detector's rules.
pub const DESIGN_SEEDS_END: u64 = 10_000;

/// First parcel seed of a default evaluation (disjoint from the design seeds).
pub const DEFAULT_EVALUATION_SEED: u64 = 1_000_000;

/// Photons per detector pixel in the open beam of a default evaluation's scans.
pub const DEFAULT_PHOTONS: f64 = 1e5;

/// Ground-truth class of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TruthClass {
    /// A whole firearm.
    Firearm,
    /// A firearm part alone.
    FirearmPart,
    /// Ammunition.
    Ammunition,
    /// A blade.
    Blade,
    /// Anything else.
    Benign,
}

impl TruthClass {
    /// The finding kind that names this class (`MetalOther` for benign).
    pub fn kind(self) -> Kind {
        match self {
            TruthClass::Firearm => Kind::Firearm,
            TruthClass::FirearmPart => Kind::FirearmPart,
            TruthClass::Ammunition => Kind::Ammunition,
            TruthClass::Blade => Kind::Blade,
            TruthClass::Benign => Kind::MetalOther,
        }
    }

    /// Name as in reports (`"firearm"`, …, `"benign"`).
    pub fn as_str(self) -> &'static str {
        match self {
            TruthClass::Benign => "benign",
            c => c.kind().as_str(),
        }
    }
}

/// One ground-truth object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthObject {
    /// Its label in the scene.
    pub label: u32,
    /// Its class.
    pub class: TruthClass,
    /// A short description (`"pistol"`, `"pipe fitting"`, …).
    pub name: String,
    /// Bounding box `(z0, y0, x0, z1, y1, x1)`, world mm.
    pub bbox_mm: [f64; 6],
}

/// Detection counts of one threat class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ClassCounts {
    /// Threat objects of the class.
    pub total: usize,
    /// Of those, matched by an alarmed finding of any threat kind.
    pub detected: usize,
    /// Of those, matched by an alarmed finding of their own kind.
    pub classified: usize,
    /// Of those not detected, the ones whose box centre lies in a [`Shield`]'s box:
    /// the scan could not see them.
    #[serde(default)]
    pub shielded: usize,
}

impl ClassCounts {
    /// Counts one threat object: `detected` by any alarmed finding, `classified` by one
    /// of its own kind; one not detected is looked for in the shields (`in_shield`).
    fn tally(&mut self, detected: bool, classified: bool, in_shield: impl FnOnce() -> bool) {
        self.total += 1;
        if detected {
            self.detected += 1;
        } else if in_shield() {
            self.shielded += 1;
        }
        if classified {
            self.classified += 1;
        }
    }
}

/// A matched pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Match {
    /// The finding's id.
    pub finding_id: u32,
    /// The object's label.
    pub truth_label: u32,
    /// The object's class.
    pub truth_class: TruthClass,
    /// The finding's kind at the threshold.
    pub kind: Kind,
}

/// Scores of one report against one scene's truth at one threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// The threshold τ used.
    pub threshold: f64,
    /// Counts per threat class (`"firearm"`, `"firearm_part"`, `"ammunition"`, `"blade"`).
    pub per_class: BTreeMap<String, ClassCounts>,
    /// Alarmed findings matching no threat object.
    pub false_alarms: usize,
    /// True when the scene holds no threat object.
    pub benign_scene: bool,
    /// The verdict at τ.
    pub verdict: Verdict,
    /// Confusion counts: truth class → the kind of the best alarmed finding matching
    /// it (`"missed"` when none); for benign objects, the kind of the best alarmed
    /// finding whose box holds the object's centre (`"none"` when none).
    pub confusion: BTreeMap<String, BTreeMap<String, usize>>,
    /// Every matched (finding, threat object) pair.
    pub matches: Vec<Match>,
}

fn iou(a: &[f64; 6], b: &[f64; 6]) -> f64 {
    let mut inter = 1.0;
    let mut va = 1.0;
    let mut vb = 1.0;
    for k in 0..3 {
        let lo = a[k].max(b[k]);
        let hi = a[k + 3].min(b[k + 3]);
        inter *= (hi - lo).max(0.0);
        va *= (a[k + 3] - a[k]).max(0.0);
        vb *= (b[k + 3] - b[k]).max(0.0);
    }
    let u = va + vb - inter;
    if u > 0.0 {
        inter / u
    } else {
        0.0
    }
}

/// Whether an object's box centre lies in the box of one of `shields`.
fn in_shield(shields: &[Shield], object_bbox: &[f64; 6]) -> bool {
    shields
        .iter()
        .any(|s| in_box(box_centre(object_bbox), &s.bbox_mm, 0.0))
}

/// Whether a finding (box and centroid) matches an object's box (the module's rule).
pub fn matches(
    finding_bbox: &[f64; 6],
    finding_centroid: [f64; 3],
    object_bbox: &[f64; 6],
) -> bool {
    iou(finding_bbox, object_bbox) >= 0.1
        || in_box(finding_centroid, object_bbox, 5.0)
        || in_box(box_centre(object_bbox), finding_bbox, 0.0)
}

/// Scores `report` against `truth` at `threshold` (see the module docs for the rule).
pub fn evaluate_truth(report: &Report, truth: &[TruthObject], threshold: f64) -> Scores {
    let alarmed: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.score >= threshold)
        .collect();
    let kind_at = |f: &super::report::Finding| f.class_scores.best().0;
    let mut per_class: BTreeMap<String, ClassCounts> = BTreeMap::new();
    for k in Kind::THREATS {
        per_class.insert(k.as_str().to_string(), ClassCounts::default());
    }
    let mut confusion: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let mut hit = vec![false; alarmed.len()];
    let mut pairs = Vec::new();
    for o in truth {
        let row = confusion.entry(o.class.as_str().to_string()).or_default();
        if o.class == TruthClass::Benign {
            let best = alarmed
                .iter()
                .filter(|f| in_box(box_centre(&o.bbox_mm), &f.bbox_mm, 0.0))
                .max_by(|a, b| a.score.total_cmp(&b.score));
            let col = best.map_or("none", |f| kind_at(f).as_str());
            *row.entry(col.to_string()).or_default() += 1;
            continue;
        }
        let mut best: Option<(f64, Kind)> = None;
        let mut own = false;
        for (fi, f) in alarmed.iter().enumerate() {
            if matches(&f.bbox_mm, f.centroid_mm, &o.bbox_mm) {
                hit[fi] = true;
                let k = kind_at(f);
                own |= k == o.class.kind();
                pairs.push(Match {
                    finding_id: f.id,
                    truth_label: o.label,
                    truth_class: o.class,
                    kind: k,
                });
                if best.is_none_or(|(s, _)| f.score > s) {
                    best = Some((f.score, k));
                }
            }
        }
        per_class
            .get_mut(o.class.as_str())
            .expect("threat class")
            .tally(best.is_some(), own, || {
                in_shield(&report.shields, &o.bbox_mm)
            });
        let col = match (own, best) {
            (true, _) => o.class.kind().as_str(),
            (false, Some((_, k))) => k.as_str(),
            (false, None) => "missed",
        };
        *row.entry(col.to_string()).or_default() += 1;
    }
    let false_alarms = hit.iter().filter(|h| !**h).count();
    Scores {
        threshold,
        per_class,
        false_alarms,
        benign_scene: truth.iter().all(|o| o.class == TruthClass::Benign),
        verdict: report.verdict_at(threshold),
        confusion,
        matches: pairs,
    }
}

/// The ground truth of a generated parcel (see the module docs): threat objects, with
/// cartridge batches merged, and benign metal objects.
pub fn truth_of_parcel(parcel: &Parcel) -> Vec<TruthObject> {
    let mut out: Vec<TruthObject> = Vec::new();
    let mut batch_index: BTreeMap<u32, usize> = BTreeMap::new();
    for o in &parcel.objects {
        let class = match o.class {
            ObjectClass::Firearm => TruthClass::Firearm,
            ObjectClass::FirearmPart => TruthClass::FirearmPart,
            ObjectClass::Ammunition => TruthClass::Ammunition,
            ObjectClass::Blade => TruthClass::Blade,
            ObjectClass::MetalOther => TruthClass::Benign,
            _ => continue,
        };
        if class == TruthClass::Ammunition {
            if let Some(g) = o.group {
                if let Some(&k) = batch_index.get(&g) {
                    let b = &mut out[k].bbox_mm;
                    for a in 0..3 {
                        b[a] = b[a].min(o.bbox_mm[a]);
                        b[a + 3] = b[a + 3].max(o.bbox_mm[a + 3]);
                    }
                    continue;
                }
                let boxed = parcel
                    .object(g)
                    .is_some_and(|first| first.class == ObjectClass::Container);
                batch_index.insert(g, out.len());
                out.push(TruthObject {
                    label: o.label,
                    class,
                    name: if boxed {
                        "cartridges_boxed"
                    } else {
                        "cartridges_loose"
                    }
                    .into(),
                    bbox_mm: o.bbox_mm,
                });
                continue;
            }
        }
        out.push(TruthObject {
            label: o.label,
            class,
            name: o.kind.clone(),
            bbox_mm: o.bbox_mm,
        });
    }
    out
}

/// Scores `report` against a generated parcel at the report's threshold (the module
/// docs give the matching rule).
///
/// # Example
/// ```
/// use ctscreen::detect::{detect, evaluate::evaluate_parcel, DetectOptions};
/// use ctscreen::phantom::{parcel, ParcelOptions, Threats};
/// let p = parcel(3, &ParcelOptions { threats: Threats::Kinds(vec![]), clutter: 0.0,
///     max_extent_mm: Some(120.0), ..Default::default() }).unwrap();
/// let vol = p.voxelize([40; 3], [3.0; 3], 100.0, 1).unwrap();
/// let report = detect(&vol, &DetectOptions { energy_kev: 100.0, ..Default::default() }).unwrap();
/// let scores = evaluate_parcel(&report, &p);
/// assert!(scores.benign_scene);
/// assert_eq!(scores.per_class["firearm"].total, 0);
/// ```
pub fn evaluate_parcel(report: &Report, parcel: &Parcel) -> Scores {
    evaluate_truth(report, &truth_of_parcel(parcel), report.threshold)
}

/// How [`evaluate_set`] turns a parcel into a volume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanMode {
    /// The project's scanner ([`crate::scanner::scan`]): polychromatic noisy cone-beam
    /// simulation reconstructed by FDK (with linear-interpolation MAR when metal is
    /// present, see [`ScanOptions::metal_artifact_reduction`](crate::scanner::ScanOptions));
    /// detection runs at the beam's effective energy.
    Reconstruction {
        /// Photons per detector pixel in the open beam.
        photons: f64,
        /// Views over 360° (0: 1.5 × `size`, at least 90).
        views: usize,
    },
    /// The parcel voxelised (2×2×2 supersampling, so partial volume is real) at
    /// `energy_kev`, plus Gaussian noise of `noise_mu` (mm⁻¹): quick, no artefacts.
    Truth {
        /// Energy of the μ values, keV; detection runs with this effective energy.
        energy_kev: f64,
        /// Standard deviation of the added noise, mm⁻¹.
        noise_mu: f64,
    },
}

/// Options of [`evaluate_set`]. `Default` gives the documented values; JSON callers may
/// give any subset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvaluationOptions {
    /// Number of parcels (1–100 000). Default 200.
    pub parcels: usize,
    /// Seed of the first parcel; parcel `i` has seed `seed + i`. Default
    /// [`DEFAULT_EVALUATION_SEED`].
    pub seed: u64,
    /// Side of each scan in voxels (16–1024). Default 128 (2.6 mm voxels over the
    /// default 330 mm field of view).
    pub size: usize,
    /// Share of parcels with threats (0–1). Default 0.5.
    pub threat_fraction: f64,
    /// Cap on the parcels' outer dimensions, mm (≥ 60); the field of view is 1.1 × this.
    /// Default 300.
    pub max_extent_mm: f64,
    /// How parcels are scanned. Default: the scanner at [`DEFAULT_PHOTONS`] (10⁵) photons
    /// per pixel.
    pub mode: ScanMode,
    /// Detector options; `energy_kev` is replaced by the scan's effective energy, and
    /// in [`ScanMode::Truth`] `metal_energy_kev` too (a voxelised truth is monochromatic).
    pub detect: DetectOptions,
    /// Score thresholds of the ROC (each in 0–1; sorted and deduplicated on output).
    /// Default 0, 0.02, …, 1.
    pub roc_thresholds: Vec<f64>,
}

impl Default for EvaluationOptions {
    fn default() -> Self {
        Self {
            parcels: 200,
            seed: DEFAULT_EVALUATION_SEED,
            size: 128,
            threat_fraction: 0.5,
            max_extent_mm: 300.0,
            mode: ScanMode::Reconstruction {
                photons: DEFAULT_PHOTONS,
                views: 0,
            },
            detect: DetectOptions::default(),
            roc_thresholds: (0..=50).map(|k| k as f64 / 50.0).collect(),
        }
    }
}

impl EvaluationOptions {
    /// Checks every field.
    ///
    /// **Errors** naming the first field out of range.
    pub fn validate(&self) -> Result<()> {
        self.detect.validate()?;
        if !(1..=100_000).contains(&self.parcels) {
            return Err(Error::invalid("parcels", self.parcels, "1–100000 parcels"));
        }
        if self.seed.checked_add(self.parcels as u64).is_none() {
            return Err(Error::invalid(
                "seed",
                self.seed,
                format!(
                    "a first seed with room for {} parcels below 2^64",
                    self.parcels
                ),
            ));
        }
        if !(16..=1024).contains(&self.size) {
            return Err(Error::invalid(
                "size",
                self.size,
                "a volume side of 16–1024 voxels",
            ));
        }
        if !(0.0..=1.0).contains(&self.threat_fraction) {
            return Err(Error::invalid(
                "threat_fraction",
                self.threat_fraction,
                "a share in 0–1",
            ));
        }
        if !self.max_extent_mm.is_finite() || !(60.0..=2000.0).contains(&self.max_extent_mm) {
            return Err(Error::invalid(
                "max_extent_mm",
                self.max_extent_mm,
                "a parcel size of 60–2000 mm",
            ));
        }
        match &self.mode {
            ScanMode::Reconstruction { photons, views } => {
                if !photons.is_finite() || *photons <= 0.0 {
                    return Err(Error::invalid("photons", photons, "a photon count > 0"));
                }
                if *views > 100_000 {
                    return Err(Error::invalid(
                        "views",
                        views,
                        "at most 100000 views (0: automatic)",
                    ));
                }
            }
            ScanMode::Truth {
                energy_kev,
                noise_mu,
            } => {
                crate::volume::water_mu_per_mm(*energy_kev)?;
                if !noise_mu.is_finite() || *noise_mu < 0.0 {
                    return Err(Error::invalid(
                        "noise_mu",
                        noise_mu,
                        "a finite standard deviation ≥ 0 mm⁻¹",
                    ));
                }
            }
        }
        if let Some(t) = self
            .roc_thresholds
            .iter()
            .find(|t| !(0.0..=1.0).contains(*t))
        {
            return Err(Error::invalid("roc_thresholds", t, "scores in 0–1"));
        }
        Ok(())
    }

    /// Field of view of every scan, mm (1.1 × `max_extent_mm`).
    pub fn field_of_view_mm(&self) -> f64 {
        1.1 * self.max_extent_mm
    }

    /// Voxel size of every scan, mm.
    pub fn voxel_mm(&self) -> f64 {
        self.field_of_view_mm() / self.size as f64
    }
}

/// One point of the ROC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RocPoint {
    /// Score threshold τ.
    pub threshold: f64,
    /// Share of threat parcels whose verdict is `inspect` at τ (true-positive rate).
    pub threat_parcels_alarmed: f64,
    /// Share of benign parcels whose verdict is `inspect` at τ (false-positive rate).
    pub benign_parcels_alarmed: f64,
    /// Threat objects detected / threat objects.
    pub recall: f64,
    /// Recall per threat class (classes present in the set).
    pub recall_per_class: BTreeMap<String, f64>,
    /// False alarms (alarmed findings matching no threat) per benign parcel.
    pub false_alarms_per_benign_parcel: f64,
}

/// What happened to one parcel of a set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParcelResult {
    /// The parcel's seed.
    pub seed: u64,
    /// Threat kinds requested (empty: benign parcel).
    pub threats: Vec<String>,
    /// Findings in its report.
    pub findings: usize,
    /// The parcel-level score: the highest finding score (0 with no finding).
    pub verdict_score: f64,
    /// Shields in its report (regions the beam did not pass through).
    #[serde(default)]
    pub shields: usize,
    /// Scores at the decision threshold.
    pub scores: Scores,
    /// Threat objects missed at the threshold (their names, followed by `(in a
    /// shield)` for those the scan could not see).
    pub missed: Vec<String>,
    /// The false alarms at the threshold: kind, score, the benign object under it and
    /// the first evidence sentence.
    pub false_alarms: Vec<String>,
    /// Every finding's score, threat probability and whether it matches a threat
    /// object (the module's rule without a threshold), in report order: what
    /// [`Evaluation::calibration`] bins and what [`ScoreMap::fit`] fits.
    #[serde(default)]
    pub finding_outcomes: Vec<FindingOutcome>,
    /// Seconds spent scanning (simulation and reconstruction, or voxelisation).
    pub scan_s: f64,
    /// Seconds spent in `detect`.
    pub detect_s: f64,
}

/// One finding of an evaluation set, for calibration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FindingOutcome {
    /// Its score.
    pub score: f64,
    /// Its threat probability (`None` where the report had none).
    pub threat_probability: Option<f64>,
    /// Whether it matches a threat object.
    pub threat: bool,
}

/// Counts and recall of one threat class over a set.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ClassSummary {
    /// Threat objects of the class.
    pub total: usize,
    /// Of those, matched by an alarmed finding of any threat kind.
    pub detected: usize,
    /// Of those, matched by an alarmed finding of their own kind.
    pub classified: usize,
    /// `detected / total` (1 when `total` is 0).
    pub recall: f64,
    /// `classified / total` (1 when `total` is 0).
    pub classified_recall: f64,
    /// Of the objects not detected, those inside a shield ([`ClassCounts::shielded`]).
    #[serde(default)]
    pub shielded: usize,
}

impl ClassSummary {
    fn of(c: ClassCounts) -> Self {
        let r = |n: usize| {
            if c.total == 0 {
                1.0
            } else {
                n as f64 / c.total as f64
            }
        };
        Self {
            total: c.total,
            detected: c.detected,
            classified: c.classified,
            recall: r(c.detected),
            classified_recall: r(c.classified),
            shielded: c.shielded,
        }
    }
}

/// The result of [`evaluate_set`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The options used.
    pub options: EvaluationOptions,
    /// Parcel seeds used: `[first, one past the last]`.
    pub seed_range: [u64; 2],
    /// Voxel size of the scans, mm.
    pub voxel_mm: f64,
    /// Parcels scanned.
    pub parcels: usize,
    /// Of which benign (no threat).
    pub benign_parcels: usize,
    /// Of which with threats.
    pub threat_parcels: usize,
    /// The decision threshold (`options.detect.threshold`).
    pub threshold: f64,
    /// Per threat class (`"firearm"`, `"firearm_part"`, `"ammunition"`, `"blade"`) at
    /// the threshold.
    pub per_class: BTreeMap<String, ClassSummary>,
    /// Per generated threat kind (`pistol_polymer`, `barrel`, `cartridges_loose` …).
    pub per_kind: BTreeMap<String, ClassSummary>,
    /// False alarms at the threshold in all parcels.
    pub false_alarms: usize,
    /// False alarms at the threshold in benign parcels.
    pub false_alarms_benign: usize,
    /// `false_alarms_benign / benign_parcels`.
    pub false_alarms_per_benign_parcel: f64,
    /// Benign parcels whose report holds a shield (a region the beam did not pass
    /// through): not false alarms, but parcels the scan alone cannot clear.
    #[serde(default)]
    pub benign_parcels_shielded: usize,
    /// Confusion counts summed over the set: truth class → the kind of the best alarmed
    /// finding matching it (see [`Scores::confusion`]).
    pub confusion: BTreeMap<String, BTreeMap<String, usize>>,
    /// The ROC, thresholds ascending.
    pub roc: Vec<RocPoint>,
    /// Area under the parcel-level ROC: the probability that a threat parcel's
    /// verdict score exceeds a benign parcel's (ties count half); `None` unless both
    /// kinds of parcel are present.
    pub auc: Option<f64>,
    /// How well the findings' scores read as probabilities: every finding of the set,
    /// binned by score, against the share of them that match a threat object
    /// ([`calibration`]).
    #[serde(default)]
    pub calibration: Calibration,
    /// The same table for the findings' threat probabilities
    /// ([`crate::detect::probability`]): how well the score map, fitted on the design
    /// seeds, reads on this set.
    #[serde(default)]
    pub probability_calibration: Calibration,
    /// Per parcel, in seed order.
    pub per_parcel: Vec<ParcelResult>,
    /// Seconds spent in all (scans and detection).
    pub total_s: f64,
}

/// Findings whose score lies in one bin of [`Calibration`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    /// Scores `[low, high)` of the bin (the last bin holds `high` = 1 as well).
    pub score_range: [f64; 2],
    /// Findings in the bin.
    pub findings: usize,
    /// Their mean score (0 for an empty bin).
    pub mean_score: f64,
    /// The share of them that match a threat object (0 for an empty bin): what a
    /// calibrated score in this bin would read.
    pub threat_share: f64,
}

/// A reliability table of finding scores ([`calibration`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Equal-width bins over [0, 1], scores ascending.
    pub bins: Vec<CalibrationBin>,
    /// Findings counted.
    pub findings: usize,
    /// Expected calibration error: `Σ (nᵦ / n) |mean scoreᵦ − threat shareᵦ|` over the
    /// bins (0 for a perfectly calibrated score; 0 when there are no findings).
    pub expected_calibration_error: f64,
    /// The same over the findings scoring at least 0.5 only (those near and above the
    /// default threshold, where the calls are made), weighted within them.
    pub expected_calibration_error_above_half: f64,
}

/// The reliability table of `(score, hit)` pairs, a score in [0, 1] (clamped) and
/// whether that finding matches a threat object, in `bins` equal-width bins (at least
/// 1).
///
/// # Example
/// ```
/// use ctscreen::detect::evaluate::calibration;
/// // Scores of 0.9 that are right 9 times in 10, scores of 0.1 right 1 time in 10.
/// let pairs = (0..10).map(|i| (0.9, i < 9)).chain((0..10).map(|i| (0.1, i < 1)));
/// let c = calibration(pairs, 10);
/// assert_eq!(c.findings, 20);
/// assert!((c.bins[9].threat_share - 0.9).abs() < 1e-12);
/// assert!(c.expected_calibration_error < 1e-12);
/// ```
pub fn calibration(pairs: impl IntoIterator<Item = (f64, bool)>, bins: usize) -> Calibration {
    let nb = bins.max(1);
    let mut sum = vec![(0usize, 0.0f64, 0usize); nb];
    for (score, hit) in pairs {
        let s = if score.is_nan() {
            0.0
        } else {
            score.clamp(0.0, 1.0)
        };
        let b = ((s * nb as f64) as usize).min(nb - 1);
        sum[b].0 += 1;
        sum[b].1 += s;
        sum[b].2 += usize::from(hit);
    }
    let bins: Vec<CalibrationBin> = sum
        .iter()
        .enumerate()
        .map(|(b, &(n, total, hits))| CalibrationBin {
            score_range: [b as f64 / nb as f64, (b + 1) as f64 / nb as f64],
            findings: n,
            mean_score: if n > 0 { total / n as f64 } else { 0.0 },
            threat_share: if n > 0 { hits as f64 / n as f64 } else { 0.0 },
        })
        .collect();
    let ece = |from: f64| {
        let chosen: Vec<&CalibrationBin> =
            bins.iter().filter(|b| b.score_range[0] >= from).collect();
        let n: usize = chosen.iter().map(|b| b.findings).sum();
        if n == 0 {
            return 0.0;
        }
        chosen
            .iter()
            .map(|b| b.findings as f64 * (b.mean_score - b.threat_share).abs())
            .sum::<f64>()
            / n as f64
    };
    Calibration {
        findings: sum.iter().map(|b| b.0).sum(),
        expected_calibration_error: ece(0.0),
        expected_calibration_error_above_half: ece(0.5 - 1e-12),
        bins,
    }
}

impl Evaluation {
    /// Recall of a threat class at the threshold (1 when the set holds none).
    pub fn recall(&self, class: &str) -> f64 {
        self.per_class.get(class).map_or(1.0, |c| c.recall)
    }

    /// True when the parcel seeds overlap the seeds the rules were designed on
    /// (below [`DESIGN_SEEDS_END`]).
    pub fn overlaps_design_seeds(&self) -> bool {
        self.seed_range[0] < DESIGN_SEEDS_END
    }

    /// The same evaluation with every timing set to 0 (what is deterministic).
    pub fn without_timings(&self) -> Evaluation {
        let mut e = self.clone();
        e.total_s = 0.0;
        for p in &mut e.per_parcel {
            p.scan_s = 0.0;
            p.detect_s = 0.0;
        }
        e
    }

    /// The ROC as CSV: `threshold,threat_parcels_alarmed,benign_parcels_alarmed,recall,
    /// recall_firearm,recall_firearm_part,recall_ammunition,recall_blade,
    /// false_alarms_per_benign_parcel` (an empty cell for a class absent from the set).
    pub fn roc_csv(&self) -> String {
        let mut s = String::from("threshold,threat_parcels_alarmed,benign_parcels_alarmed,recall,recall_firearm,recall_firearm_part,recall_ammunition,recall_blade,false_alarms_per_benign_parcel\n");
        for p in &self.roc {
            let r = |k: &str| {
                p.recall_per_class
                    .get(k)
                    .map_or(String::new(), |v| format!("{v:.4}"))
            };
            s += &format!(
                "{:.4},{:.4},{:.4},{:.4},{},{},{},{},{:.4}\n",
                p.threshold,
                p.threat_parcels_alarmed,
                p.benign_parcels_alarmed,
                p.recall,
                r("firearm"),
                r("firearm_part"),
                r("ammunition"),
                r("blade"),
                p.false_alarms_per_benign_parcel,
            );
        }
        s
    }

    /// The parcel-level ROC as a picture: threat parcels alarmed (true-positive rate,
    /// y) against benign parcels alarmed (false-positive rate, x), with the decision
    /// threshold marked and the area under the curve in the title.
    pub fn roc_image(&self) -> crate::render::RgbImage {
        use crate::render::{plot_curves, Curve};
        let mut pts: Vec<(f64, f64)> = self
            .roc
            .iter()
            .map(|p| (p.benign_parcels_alarmed, p.threat_parcels_alarmed))
            .collect();
        // From (1, 1) at threshold 0 down to (0, 0) beyond the highest score.
        pts.push((1.0, 1.0));
        pts.push((0.0, 0.0));
        pts.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        pts.dedup();
        let marker = self
            .roc
            .iter()
            .min_by(|a, b| {
                (a.threshold - self.threshold)
                    .abs()
                    .total_cmp(&(b.threshold - self.threshold).abs())
            })
            .map(|p| (p.benign_parcels_alarmed, p.threat_parcels_alarmed));
        let title = match self.auc {
            Some(a) => format!("parcel ROC, {} parcels, AUC {a:.3}", self.parcels),
            None => format!("parcel ROC, {} parcels", self.parcels),
        };
        plot_curves(
            &title,
            "benign parcels alarmed",
            "threat parcels alarmed",
            &[
                Curve {
                    points: vec![(0.0, 0.0), (1.0, 1.0)],
                    color: [90, 90, 90],
                },
                Curve {
                    points: pts,
                    color: [80, 200, 255],
                },
            ],
            marker.map(|m| (m, [255, 80, 80])),
        )
    }
}

/// Threat kinds of parcel `index` of a set whose first seed is `first_seed` (see the
/// module docs): empty for a benign parcel.
pub fn set_plan(first_seed: u64, index: usize, threat_fraction: f64) -> Vec<ThreatKind> {
    let f = threat_fraction.clamp(0.0, 1.0);
    let threat = ((index + 1) as f64 * f).floor() > (index as f64 * f).floor();
    if !threat {
        return Vec::new();
    }
    let ordinal = (index as f64 * f).floor() as usize;
    let all = ThreatKind::ALL;
    let first = all[ordinal % all.len()];
    let mut kinds = vec![first];
    let r = splitmix64(first_seed.wrapping_add(index as u64) ^ 0xD1CE);
    if r.is_multiple_of(3) {
        let second = all[(r / 3) as usize % all.len()];
        if second != first {
            kinds.push(second);
        }
    }
    kinds
}

/// Generates, scans, detects and scores a seeded set of parcels (see the module docs
/// for the plan, the scan and the matching rule).
///
/// Progress: one stage `"evaluate"` counting parcels; cancellation is checked between
/// parcels and inside each scan and detection. Deterministic apart from the timings:
/// the same options give the same result on any number of threads.
///
/// **Errors** on invalid options ([`EvaluationOptions::validate`]), and
/// [`Error::Cancelled`] when `progress` asks to stop.
///
/// # Example
/// ```
/// use ctscreen::detect::evaluate::{evaluate_set, EvaluationOptions, ScanMode};
/// let options = EvaluationOptions {
///     parcels: 2,
///     size: 48,
///     mode: ScanMode::Truth { energy_kev: 100.0, noise_mu: 0.005 },
///     ..Default::default()
/// };
/// let e = evaluate_set(&options, &ctscreen::NoProgress).unwrap();
/// assert_eq!(e.benign_parcels + e.threat_parcels, 2);
/// assert_eq!(e.seed_range, [1_000_000, 1_000_002]);
/// assert!(!e.overlaps_design_seeds());
/// ```
pub fn evaluate_set(options: &EvaluationOptions, progress: &dyn Progress) -> Result<Evaluation> {
    options.validate()?;
    let t_all = Instant::now();
    let threshold = options.detect.threshold;
    let n = options.size;
    let fov = options.field_of_view_mm();
    let voxel = options.voxel_mm();
    let inner = progress::CancelOnly(progress);
    let mut runs: Vec<(Report, Vec<TruthObject>, ParcelResult)> =
        Vec::with_capacity(options.parcels);
    progress.start("evaluate", options.parcels as u64);
    for i in 0..options.parcels {
        progress::check(progress)?;
        let pseed = options.seed + i as u64;
        let kinds = set_plan(options.seed, i, options.threat_fraction);
        let popts = ParcelOptions {
            threats: Threats::Kinds(kinds.clone()),
            max_extent_mm: Some(options.max_extent_mm),
            ..ParcelOptions::default()
        };
        let p = parcel(pseed, &popts)?;
        let t0 = Instant::now();
        // A voxelised truth is monochromatic: metals read at the same energy as water.
        let (volume, energy, metal_energy) = match &options.mode {
            ScanMode::Reconstruction { photons, views } => {
                let mut so = ScanOptions {
                    shape: [n; 3],
                    field_of_view_mm: fov,
                    views: *views,
                    ..ScanOptions::default()
                };
                so.simulate.seed = pseed;
                so.simulate.photons = *photons;
                let s = scan(&p.phantom, &so, &inner)?;
                (
                    s.volume,
                    s.effective_energy_kev,
                    options.detect.metal_energy_kev,
                )
            }
            ScanMode::Truth {
                energy_kev,
                noise_mu,
            } => {
                let mut v = p.voxelize([n; 3], [voxel; 3], *energy_kev, 2)?;
                if *noise_mu > 0.0 {
                    let normal = Normal::new(0.0f32, *noise_mu as f32).map_err(|_| {
                        Error::invalid("noise_mu", noise_mu, "a finite standard deviation ≥ 0")
                    })?;
                    v.data_mut()
                        .axis_iter_mut(Axis(0))
                        .into_par_iter()
                        .enumerate()
                        .for_each(|(k, mut plane)| {
                            let mut rng =
                                Pcg64::seed_from_u64(splitmix64(pseed ^ ((k as u64) << 20)));
                            for x in plane.iter_mut() {
                                *x += normal.sample(&mut rng);
                            }
                        });
                }
                (v, *energy_kev, *energy_kev)
            }
        };
        let scan_s = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let dopts = DetectOptions {
            energy_kev: energy,
            metal_energy_kev: metal_energy,
            ..options.detect.clone()
        };
        let report = super::detect_with_progress(&volume, &dopts, &inner)?;
        let detect_s = t1.elapsed().as_secs_f64();
        let truth = truth_of_parcel(&p);
        let scores = evaluate_truth(&report, &truth, threshold);
        let missed = truth
            .iter()
            .filter(|o| {
                o.class != TruthClass::Benign
                    && !scores.matches.iter().any(|m| m.truth_label == o.label)
            })
            .map(|o| {
                if in_shield(&report.shields, &o.bbox_mm) {
                    format!("{} (in a shield)", o.name)
                } else {
                    o.name.clone()
                }
            })
            .collect();
        let false_alarms = report
            .findings
            .iter()
            .filter(|f| {
                f.score >= threshold && !scores.matches.iter().any(|m| m.finding_id == f.id)
            })
            .map(|f| {
                let benign = truth
                    .iter()
                    .filter(|o| {
                        o.class == TruthClass::Benign
                            && matches(&f.bbox_mm, f.centroid_mm, &o.bbox_mm)
                    })
                    .map(|o| o.name.as_str())
                    .collect::<Vec<_>>()
                    .join("+");
                format!(
                    "{} {:.2} on {}: {}",
                    f.kind,
                    f.score,
                    if benign.is_empty() { "?" } else { &benign },
                    f.evidence.first().map_or("", |e| e.as_str())
                )
            })
            .collect();
        let finding_outcomes = report
            .findings
            .iter()
            .map(|f| FindingOutcome {
                score: f.score,
                threat_probability: f.threat_probability,
                threat: truth.iter().any(|o| {
                    o.class != TruthClass::Benign && matches(&f.bbox_mm, f.centroid_mm, &o.bbox_mm)
                }),
            })
            .collect();
        let result = ParcelResult {
            seed: pseed,
            threats: kinds.iter().map(|k| k.name().to_string()).collect(),
            findings: report.findings.len(),
            verdict_score: report.findings.iter().map(|f| f.score).fold(0.0, f64::max),
            shields: report.shields.len(),
            scores,
            missed,
            false_alarms,
            finding_outcomes,
            scan_s,
            detect_s,
        };
        runs.push((report, truth, result));
        progress.advance(1);
    }
    progress::check(progress)?;

    let benign_parcels = runs.iter().filter(|r| r.2.threats.is_empty()).count();
    let threat_parcels = runs.len() - benign_parcels;
    let mut per_class: BTreeMap<String, ClassCounts> = BTreeMap::new();
    for k in Kind::THREATS {
        per_class.insert(k.as_str().to_string(), ClassCounts::default());
    }
    let mut per_kind: BTreeMap<String, ClassCounts> = BTreeMap::new();
    let mut confusion: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let (mut false_alarms, mut false_alarms_benign) = (0usize, 0usize);
    for (report, truth, res) in &runs {
        let s = &res.scores;
        for (k, c) in &s.per_class {
            let e = per_class.entry(k.clone()).or_default();
            e.total += c.total;
            e.detected += c.detected;
            e.classified += c.classified;
            e.shielded += c.shielded;
        }
        for (row, cols) in &s.confusion {
            let r = confusion.entry(row.clone()).or_default();
            for (col, n) in cols {
                *r.entry(col.clone()).or_default() += n;
            }
        }
        false_alarms += s.false_alarms;
        if res.threats.is_empty() {
            false_alarms_benign += s.false_alarms;
        }
        // Per generated kind: the parcel's requested kinds name its threat objects
        // (`cartridges_loose` / `cartridges_boxed` batches keep their own names).
        for o in truth.iter().filter(|o| o.class != TruthClass::Benign) {
            let mine = || s.matches.iter().filter(|m| m.truth_label == o.label);
            per_kind.entry(o.name.clone()).or_default().tally(
                mine().next().is_some(),
                mine().any(|m| m.kind == o.class.kind()),
                || in_shield(&report.shields, &o.bbox_mm),
            );
        }
    }
    let mut ths = options.roc_thresholds.clone();
    ths.sort_by(f64::total_cmp);
    ths.dedup();
    let nb = benign_parcels.max(1) as f64;
    let nt = threat_parcels.max(1) as f64;
    let roc = ths
        .iter()
        .map(|&t| {
            let (mut total, mut detected) = (0usize, 0usize);
            let mut cls: BTreeMap<String, (usize, usize)> = BTreeMap::new();
            let (mut fa_benign, mut benign_alarmed, mut threat_alarmed) = (0usize, 0usize, 0usize);
            for (report, truth, res) in &runs {
                let s = evaluate_truth(report, truth, t);
                for (k, c) in &s.per_class {
                    total += c.total;
                    detected += c.detected;
                    let e = cls.entry(k.clone()).or_default();
                    e.0 += c.total;
                    e.1 += c.detected;
                }
                let alarmed = usize::from(s.verdict == Verdict::Inspect);
                if res.threats.is_empty() {
                    fa_benign += s.false_alarms;
                    benign_alarmed += alarmed;
                } else {
                    threat_alarmed += alarmed;
                }
            }
            RocPoint {
                threshold: t,
                threat_parcels_alarmed: threat_alarmed as f64 / nt,
                benign_parcels_alarmed: benign_alarmed as f64 / nb,
                recall: if total > 0 {
                    detected as f64 / total as f64
                } else {
                    1.0
                },
                recall_per_class: cls
                    .into_iter()
                    .filter(|(_, (n, _))| *n > 0)
                    .map(|(k, (n, d))| (k, d as f64 / n as f64))
                    .collect(),
                false_alarms_per_benign_parcel: fa_benign as f64 / nb,
            }
        })
        .collect();
    let auc = (benign_parcels > 0 && threat_parcels > 0).then(|| {
        let mut wins = 0.0;
        for (_, _, a) in runs.iter().filter(|r| !r.2.threats.is_empty()) {
            for (_, _, b) in runs.iter().filter(|r| r.2.threats.is_empty()) {
                wins += match a.verdict_score.total_cmp(&b.verdict_score) {
                    std::cmp::Ordering::Greater => 1.0,
                    std::cmp::Ordering::Equal => 0.5,
                    std::cmp::Ordering::Less => 0.0,
                };
            }
        }
        wins / (benign_parcels * threat_parcels) as f64
    });
    let outcomes = || runs.iter().flat_map(|r| r.2.finding_outcomes.iter());
    Ok(Evaluation {
        options: options.clone(),
        seed_range: [options.seed, options.seed + options.parcels as u64],
        voxel_mm: voxel,
        parcels: runs.len(),
        benign_parcels,
        threat_parcels,
        threshold,
        per_class: per_class
            .into_iter()
            .map(|(k, c)| (k, ClassSummary::of(c)))
            .collect(),
        per_kind: per_kind
            .into_iter()
            .map(|(k, c)| (k, ClassSummary::of(c)))
            .collect(),
        false_alarms,
        false_alarms_benign,
        false_alarms_per_benign_parcel: false_alarms_benign as f64 / nb,
        benign_parcels_shielded: runs
            .iter()
            .filter(|r| r.2.threats.is_empty() && r.2.shields > 0)
            .count(),
        confusion,
        roc,
        auc,
        calibration: calibration(outcomes().map(|o| (o.score, o.threat)), CALIBRATION_BINS),
        probability_calibration: calibration(
            outcomes().filter_map(|o| Some((o.threat_probability?, o.threat))),
            CALIBRATION_BINS,
        ),
        per_parcel: runs.into_iter().map(|r| r.2).collect(),
        total_s: t_all.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reliability table against counts worked by hand.
    #[test]
    fn calibration_bins_and_errors_by_hand() {
        // 4 findings at 0.95, 1 of them a threat; 6 at 0.05, none; 0.5 and 1.0 go to
        // bins 5 and 9 (the last bin holds 1); NaN counts as 0, above 1 as 1.
        let pairs = std::iter::repeat_n((0.95, false), 3)
            .chain([(0.95, true)])
            .chain(std::iter::repeat_n((0.05, false), 5))
            .chain([(f64::NAN, false), (0.5, true), (1.7, true)]);
        let c = calibration(pairs, 10);
        assert_eq!(c.findings, 12);
        assert_eq!(c.bins.len(), 10);
        assert_eq!(c.bins[0].findings, 6);
        assert!((c.bins[0].mean_score - 0.25 / 6.0).abs() < 1e-12);
        assert_eq!(c.bins[0].threat_share, 0.0);
        assert_eq!(c.bins[5].findings, 1);
        assert_eq!(c.bins[9].findings, 5);
        assert!((c.bins[9].mean_score - (4.0 * 0.95 + 1.0) / 5.0).abs() < 1e-12);
        assert!((c.bins[9].threat_share - 0.4).abs() < 1e-12);
        assert_eq!(
            c.bins[3],
            CalibrationBin {
                score_range: [0.3, 0.4],
                ..Default::default()
            }
        );
        // |0.0417 − 0| × 6 + |0.5 − 1| × 1 + |0.96 − 0.4| × 5, over 12 and over 6.
        let all = (0.25 + 0.5 + 5.0 * (0.96 - 0.4)) / 12.0;
        let above = (0.5 + 5.0 * (0.96 - 0.4)) / 6.0;
        assert!((c.expected_calibration_error - all).abs() < 1e-12);
        assert!((c.expected_calibration_error_above_half - above).abs() < 1e-12);
        let none = calibration(std::iter::empty(), 0);
        assert_eq!((none.bins.len(), none.findings), (1, 0));
        assert_eq!(none.expected_calibration_error, 0.0);
    }

    #[test]
    fn iou_of_boxes() {
        let a = [0.0, 0.0, 0.0, 2.0, 2.0, 2.0];
        let b = [1.0, 0.0, 0.0, 3.0, 2.0, 2.0];
        assert!((iou(&a, &b) - 4.0 / 12.0).abs() < 1e-12);
        assert_eq!(iou(&a, &[5.0, 5.0, 5.0, 6.0, 6.0, 6.0]), 0.0);
    }

    #[test]
    fn the_plan_alternates_and_cycles_through_every_threat_kind() {
        let plans: Vec<Vec<ThreatKind>> = (0..44)
            .map(|i| set_plan(DEFAULT_EVALUATION_SEED, i, 0.5))
            .collect();
        // Every other parcel is benign, the others start with the kinds in turn.
        for (i, p) in plans.iter().enumerate() {
            assert_eq!(p.is_empty(), i % 2 == 0, "{i}");
        }
        let firsts: Vec<ThreatKind> = plans
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| p[0])
            .collect();
        assert_eq!(&firsts[..ThreatKind::ALL.len()], ThreatKind::ALL);
        assert!(plans.iter().any(|p| p.len() == 2));
        assert!(set_plan(5, 3, 0.0).is_empty());
        assert!((0..10).all(|i| !set_plan(5, i, 1.0).is_empty()));
    }

    #[test]
    fn options_are_checked() {
        let ok = EvaluationOptions::default();
        assert!(ok.validate().is_ok());
        assert!((ok.voxel_mm() - 330.0 / 128.0).abs() < 1e-12);
        for (bad, name) in [
            (
                EvaluationOptions {
                    parcels: 0,
                    ..ok.clone()
                },
                "parcels",
            ),
            (
                EvaluationOptions {
                    size: 8,
                    ..ok.clone()
                },
                "size",
            ),
            (
                EvaluationOptions {
                    seed: u64::MAX,
                    ..ok.clone()
                },
                "seed",
            ),
            (
                EvaluationOptions {
                    threat_fraction: 1.5,
                    ..ok.clone()
                },
                "threat_fraction",
            ),
            (
                EvaluationOptions {
                    max_extent_mm: f64::NAN,
                    ..ok.clone()
                },
                "max_extent_mm",
            ),
            (
                EvaluationOptions {
                    roc_thresholds: vec![0.5, 2.0],
                    ..ok.clone()
                },
                "roc_thresholds",
            ),
        ] {
            let e = bad.validate().unwrap_err().to_string();
            assert!(e.contains(name), "{e}");
        }
    }

    #[test]
    fn cancelled_sets_stop_with_an_error() {
        let flag = crate::CancelFlag::new();
        flag.cancel();
        let o = EvaluationOptions {
            parcels: 3,
            size: 32,
            ..Default::default()
        };
        assert!(matches!(evaluate_set(&o, &flag), Err(Error::Cancelled)));
    }
}
