//! Scoring reports against ground truth.
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
//! **Ground truth of a parcel** ([`truth_of`]): every firearm, firearm part and blade
//! is one object; the cartridges of one batch (a handful scattered together, or a box)
//! are one ammunition object whose box covers them all, so that a box of 50 rounds
//! counts once, like a pistol; benign metal objects are kept for the confusion matrix.
//!
//! **Batches** ([`evaluate_batch`]): seeded parcels, every other one with threats (one
//! kind in turn from [`ThreatKind::ALL`], a second random kind one time in three) and
//! the others benign, all with hard benign metal; each is scanned (a polychromatic,
//! noisy cone-beam simulation reconstructed by FDK, or for quick runs the voxelised
//! truth with noise), run through [`detect`] and scored at every threshold of an ROC.
//! Everything is deterministic from the seed.
use std::collections::BTreeMap;
use std::time::Instant;

use ndarray::Axis;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use rand_pcg::Pcg64;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::report::{Kind, Report, Verdict};
use super::DetectOptions;
use crate::phantom::{parcel, ObjectClass, Parcel, ParcelOptions, ThreatKind, Threats};
use crate::progress::{self, Progress};
use crate::scanner::{scan, ScanOptions};
use crate::{Error, Result};

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

fn inside(p: [f64; 3], b: &[f64; 6], grow: f64) -> bool {
    (0..3).all(|k| p[k] >= b[k] - grow && p[k] <= b[k + 3] + grow)
}

fn centre(b: &[f64; 6]) -> [f64; 3] {
    [
        0.5 * (b[0] + b[3]),
        0.5 * (b[1] + b[4]),
        0.5 * (b[2] + b[5]),
    ]
}

/// Whether a finding (box and centroid) matches an object's box (the module's rule).
pub fn matches(
    finding_bbox: &[f64; 6],
    finding_centroid: [f64; 3],
    object_bbox: &[f64; 6],
) -> bool {
    iou(finding_bbox, object_bbox) >= 0.1
        || inside(finding_centroid, object_bbox, 5.0)
        || inside(centre(object_bbox), finding_bbox, 0.0)
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
                .filter(|f| inside(centre(&o.bbox_mm), &f.bbox_mm, 0.0))
                .max_by(|a, b| a.score.total_cmp(&b.score));
            let col = best.map_or("none", |f| kind_at(f).as_str());
            *row.entry(col.to_string()).or_default() += 1;
            continue;
        }
        let counts = per_class.get_mut(o.class.as_str()).expect("threat class");
        counts.total += 1;
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
        if best.is_some() {
            counts.detected += 1;
        }
        if own {
            counts.classified += 1;
        }
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
pub fn truth_of(parcel: &Parcel) -> Vec<TruthObject> {
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
                    name: if boxed { "cartridges_boxed" } else { "cartridges_loose" }.into(),
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
/// use ctscreen::detect::{detect, evaluate::evaluate, DetectOptions};
/// use ctscreen::phantom::{parcel, ParcelOptions, Threats};
/// let p = parcel(3, &ParcelOptions { threats: Threats::Kinds(vec![]), clutter: 0.0,
///     max_extent_mm: Some(120.0), ..Default::default() }).unwrap();
/// let vol = p.voxelize([40; 3], [3.0; 3], 100.0, 1).unwrap();
/// let report = detect(&vol, &DetectOptions { energy_kev: 100.0, ..Default::default() }).unwrap();
/// let scores = evaluate(&report, &p);
/// assert!(scores.benign_scene);
/// assert_eq!(scores.per_class["firearm"].total, 0);
/// ```
pub fn evaluate(report: &Report, parcel: &Parcel) -> Scores {
    evaluate_truth(report, &truth_of(parcel), report.threshold)
}

/// How [`evaluate_batch`] turns a parcel into a volume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanMode {
    /// Polychromatic noisy cone-beam simulation ([`crate::scanner::scan`]: 120 kVp,
    /// Poisson noise) reconstructed by FDK; detection runs at the beam's effective
    /// energy.
    Reconstruction {
        /// Photons per detector pixel in the open beam.
        photons: f64,
        /// Views over 360° (0: 1.5 × the volume's side).
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

/// Options of [`evaluate_batch`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchOptions {
    /// Share of parcels with threats (every other one at 0.5).
    pub threat_fraction: f64,
    /// Cap on the parcels' outer dimensions, mm.
    pub max_extent_mm: f64,
    /// Voxel size of the scans, mm.
    pub voxel_mm: f64,
    /// How parcels are scanned.
    pub mode: ScanMode,
    /// Detector options; `energy_kev` is replaced by the scan's.
    pub detect: DetectOptions,
    /// Score thresholds of the ROC (sorted ascending on output).
    pub roc_thresholds: Vec<f64>,
}

impl Default for BatchOptions {
    fn default() -> Self {
        Self {
            threat_fraction: 0.5,
            max_extent_mm: 300.0,
            voxel_mm: 2.0,
            mode: ScanMode::Reconstruction {
                photons: 1e5,
                views: 0,
            },
            detect: DetectOptions::default(),
            roc_thresholds: (0..=50).map(|k| k as f64 / 50.0).collect(),
        }
    }
}

/// One point of the ROC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RocPoint {
    /// Score threshold τ.
    pub threshold: f64,
    /// Threat objects detected / threat objects.
    pub recall: f64,
    /// Recall per threat class.
    pub recall_per_class: BTreeMap<String, f64>,
    /// False alarms (alarmed findings matching no threat) per benign parcel.
    pub false_alarms_per_benign_parcel: f64,
    /// Share of benign parcels with an `inspect` verdict.
    pub benign_parcels_alarmed: f64,
    /// Share of threat parcels with an `inspect` verdict.
    pub threat_parcels_alarmed: f64,
}

/// What happened to one parcel of a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParcelResult {
    /// The parcel's seed.
    pub seed: u64,
    /// Threat kinds requested.
    pub threats: Vec<String>,
    /// Voxels per side of the scan.
    pub size: usize,
    /// Findings in its report.
    pub findings: usize,
    /// Scores at the batch threshold.
    pub scores: Scores,
    /// Threat objects missed at the threshold (their names).
    pub missed: Vec<String>,
    /// Descriptions of the false alarms at the threshold.
    pub false_alarms: Vec<String>,
    /// Seconds spent scanning (simulation and reconstruction, or voxelisation).
    pub scan_s: f64,
    /// Seconds spent in `detect`.
    pub detect_s: f64,
}

/// The scores of a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchScores {
    /// Seed of the batch.
    pub seed: u64,
    /// The options used.
    pub options: BatchOptions,
    /// Parcels scanned.
    pub parcels: usize,
    /// Of which benign.
    pub benign_parcels: usize,
    /// The decision threshold (`options.detect.threshold`).
    pub threshold: f64,
    /// Counts per threat class at the threshold.
    pub per_class: BTreeMap<String, ClassCounts>,
    /// Counts per generated threat kind (`pistol_polymer`, `barrel`, …).
    pub per_kind: BTreeMap<String, ClassCounts>,
    /// False alarms at the threshold, all parcels.
    pub false_alarms: usize,
    /// False alarms in benign parcels, per benign parcel.
    pub false_alarms_per_benign_parcel: f64,
    /// Confusion counts summed over the batch (see [`Scores::confusion`]).
    pub confusion: BTreeMap<String, BTreeMap<String, usize>>,
    /// The ROC, thresholds ascending.
    pub roc: Vec<RocPoint>,
    /// Per parcel.
    pub per_parcel: Vec<ParcelResult>,
}

impl BatchScores {
    /// Recall of a threat class at the threshold (detected / total; 1 when none).
    pub fn recall(&self, class: &str) -> f64 {
        self.per_class
            .get(class)
            .map_or(1.0, |c| if c.total == 0 { 1.0 } else { c.detected as f64 / c.total as f64 })
    }

    /// The ROC as CSV: `threshold,recall,recall_firearm,recall_firearm_part,
    /// recall_ammunition,recall_blade,false_alarms_per_benign_parcel,
    /// benign_parcels_alarmed,threat_parcels_alarmed`.
    pub fn roc_csv(&self) -> String {
        let mut s = String::from("threshold,recall,recall_firearm,recall_firearm_part,recall_ammunition,recall_blade,false_alarms_per_benign_parcel,benign_parcels_alarmed,threat_parcels_alarmed\n");
        for p in &self.roc {
            let r = |k: &str| p.recall_per_class.get(k).copied().unwrap_or(f64::NAN);
            s += &format!(
                "{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4}\n",
                p.threshold,
                p.recall,
                r("firearm"),
                r("firearm_part"),
                r("ammunition"),
                r("blade"),
                p.false_alarms_per_benign_parcel,
                p.benign_parcels_alarmed,
                p.threat_parcels_alarmed
            );
        }
        s
    }

    /// The ROC as a picture: recall (y) against false alarms per benign parcel (x),
    /// one curve for all threats, with the decision threshold marked.
    pub fn roc_image(&self) -> crate::render::RgbImage {
        use crate::render::RgbImage;
        let (w, h, m) = (420i64, 320i64, 40i64);
        let mut img = RgbImage::new(w as usize, h as usize);
        let white = [255, 255, 255];
        let grey = [90, 90, 90];
        let x_max = self
            .roc
            .iter()
            .map(|p| p.false_alarms_per_benign_parcel)
            .fold(0.1f64, f64::max);
        let px = |fa: f64| m + ((fa / x_max) * (w - 2 * m) as f64).round() as i64;
        let py = |r: f64| h - m - (r * (h - 2 * m) as f64).round() as i64;
        img.draw_rect(m, m, w - m, h - m, grey, 1);
        for k in 0..=4 {
            let y = py(k as f64 / 4.0);
            for x in (m..w - m).step_by(4) {
                img.put(x, y, grey);
            }
        }
        let line = |img: &mut RgbImage, (x0, y0): (i64, i64), (x1, y1): (i64, i64), c: [u8; 3]| {
            let n = (x1 - x0).abs().max((y1 - y0).abs()).max(1);
            for i in 0..=n {
                img.put(x0 + (x1 - x0) * i / n, y0 + (y1 - y0) * i / n, c);
            }
        };
        let pts: Vec<(i64, i64)> = self
            .roc
            .iter()
            .map(|p| (px(p.false_alarms_per_benign_parcel), py(p.recall)))
            .collect();
        for w2 in pts.windows(2) {
            line(&mut img, w2[0], w2[1], [80, 200, 255]);
        }
        if let Some(p) = self
            .roc
            .iter()
            .min_by(|a, b| (a.threshold - self.threshold).abs().total_cmp(&(b.threshold - self.threshold).abs()))
        {
            let (x, y) = (px(p.false_alarms_per_benign_parcel), py(p.recall));
            img.draw_rect(x - 3, y - 3, x + 3, y + 3, [255, 80, 80], 2);
        }
        img.draw_text(m, 8, "ROC: recall vs false alarms per benign parcel", white, 1);
        img.draw_text(m, h - m + 8, "0", white, 1);
        img.draw_text(w - m - 24, h - m + 8, &format!("{x_max:.2}"), white, 1);
        img.draw_text(4, m - 4, "1.0", white, 1);
        img.draw_text(4, h - m - 4, "0.0", white, 1);
        img
    }
}

/// SplitMix64: a well-mixed 64-bit value from a seed (for parcel seeds and draws).
fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Seed and threat kinds of parcel `index` of the batch `seed`.
pub fn batch_plan(seed: u64, index: usize, threat_fraction: f64) -> (u64, Vec<ThreatKind>) {
    let parcel_seed = splitmix(seed ^ splitmix(index as u64 + 1));
    // Threat parcels are spread evenly: index i is a threat parcel when the running
    // count ⌊(i + 1) f⌋ steps up.
    let f = threat_fraction.clamp(0.0, 1.0);
    let threat = ((index + 1) as f64 * f).floor() > (index as f64 * f).floor();
    if !threat {
        return (parcel_seed, Vec::new());
    }
    let ordinal = (index as f64 * f).floor() as usize;
    let all = ThreatKind::ALL;
    let first = all[ordinal % all.len()];
    let mut kinds = vec![first];
    let r = splitmix(parcel_seed ^ 0xD1CE);
    if r % 3 == 0 {
        let second = all[(r / 3) as usize % all.len()];
        if second != first {
            kinds.push(second);
        }
    }
    (parcel_seed, kinds)
}

/// Scans `n_parcels` seeded parcels, detects and scores them (see the module docs).
///
/// Progress: one stage "evaluate" counting parcels; cancellation is checked between
/// parcels (and inside the scans).
///
/// **Errors** on invalid options, or if cancelled.
pub fn evaluate_batch(
    n_parcels: usize,
    seed: u64,
    options: &BatchOptions,
    progress: &dyn Progress,
) -> Result<BatchScores> {
    options.detect.validate()?;
    if !options.voxel_mm.is_finite() || options.voxel_mm <= 0.0 {
        return Err(Error::invalid("voxel_mm", options.voxel_mm, "a voxel size > 0 mm"));
    }
    if !options.max_extent_mm.is_finite() || options.max_extent_mm < 60.0 {
        return Err(Error::invalid(
            "max_extent_mm",
            options.max_extent_mm,
            "a parcel size ≥ 60 mm",
        ));
    }
    if !(0.0..=1.0).contains(&options.threat_fraction) {
        return Err(Error::invalid(
            "threat_fraction",
            options.threat_fraction,
            "a share in 0–1",
        ));
    }
    let threshold = options.detect.threshold;
    let mut runs: Vec<(Report, Vec<TruthObject>, ParcelResult)> = Vec::with_capacity(n_parcels);
    let quiet = crate::progress::NoProgress;
    progress.start("evaluate", n_parcels as u64);
    for i in 0..n_parcels {
        progress::check(progress)?;
        let (pseed, kinds) = batch_plan(seed, i, options.threat_fraction);
        let popts = ParcelOptions {
            threats: Threats::Kinds(kinds.clone()),
            max_extent_mm: Some(options.max_extent_mm),
            ..ParcelOptions::default()
        };
        let p = parcel(pseed, &popts)?;
        let fov = p.extent_mm.iter().cloned().fold(0.0, f64::max) * 1.06 + 4.0 * options.voxel_mm;
        let n = ((fov / options.voxel_mm).ceil() as usize).max(16);
        let t0 = Instant::now();
        let (volume, energy) = match &options.mode {
            ScanMode::Reconstruction { photons, views } => {
                let mut so = ScanOptions {
                    shape: [n; 3],
                    field_of_view_mm: n as f64 * options.voxel_mm,
                    views: *views,
                    ..ScanOptions::default()
                };
                so.simulate.seed = pseed;
                so.simulate.photons = *photons;
                let s = scan(&p.phantom, &so, &ProgressCheck(progress))?;
                (s.volume, s.effective_energy_kev)
            }
            ScanMode::Truth {
                energy_kev,
                noise_mu,
            } => {
                let mut v = p.voxelize([n; 3], [options.voxel_mm; 3], *energy_kev, 2)?;
                if *noise_mu > 0.0 {
                    let normal = Normal::new(0.0f32, *noise_mu as f32).map_err(|_| {
                        Error::invalid("noise_mu", noise_mu, "a finite standard deviation ≥ 0")
                    })?;
                    v.data_mut()
                        .axis_iter_mut(Axis(0))
                        .into_par_iter()
                        .enumerate()
                        .for_each(|(k, mut plane)| {
                            let mut rng = Pcg64::seed_from_u64(splitmix(pseed ^ (k as u64) << 20));
                            for x in plane.iter_mut() {
                                *x += normal.sample(&mut rng);
                            }
                        });
                }
                (v, *energy_kev)
            }
        };
        let scan_s = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let dopts = DetectOptions {
            energy_kev: energy,
            ..options.detect.clone()
        };
        let report = super::detect_with_progress(&volume, &dopts, &quiet)?;
        let detect_s = t1.elapsed().as_secs_f64();
        let truth = truth_of(&p);
        let scores = evaluate_truth(&report, &truth, threshold);
        let hit_labels: Vec<u32> = scores.matches.iter().map(|m| m.truth_label).collect();
        let missed = truth
            .iter()
            .filter(|o| o.class != TruthClass::Benign && !hit_labels.contains(&o.label))
            .map(|o| o.name.clone())
            .collect();
        let matched_ids: Vec<u32> = scores.matches.iter().map(|m| m.finding_id).collect();
        let false_alarms = report
            .findings
            .iter()
            .filter(|f| f.score >= threshold && !matched_ids.contains(&f.id))
            .map(|f| {
                let benign = truth
                    .iter()
                    .filter(|o| o.class == TruthClass::Benign && matches(&f.bbox_mm, f.centroid_mm, &o.bbox_mm))
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
        let result = ParcelResult {
            seed: pseed,
            threats: kinds.iter().map(|k| k.name().to_string()).collect(),
            size: n,
            findings: report.findings.len(),
            scores,
            missed,
            false_alarms,
            scan_s,
            detect_s,
        };
        runs.push((report, truth, result));
        progress.advance(1);
    }

    let benign_parcels = runs.iter().filter(|r| r.2.threats.is_empty()).count();
    let mut per_class: BTreeMap<String, ClassCounts> = BTreeMap::new();
    let mut per_kind: BTreeMap<String, ClassCounts> = BTreeMap::new();
    let mut confusion: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let mut false_alarms = 0;
    let mut benign_fa = 0;
    for (report, truth, res) in &runs {
        let s = &res.scores;
        for (k, c) in &s.per_class {
            let e = per_class.entry(k.clone()).or_default();
            e.total += c.total;
            e.detected += c.detected;
            e.classified += c.classified;
        }
        for (row, cols) in &s.confusion {
            let r = confusion.entry(row.clone()).or_default();
            for (col, n) in cols {
                *r.entry(col.clone()).or_default() += n;
            }
        }
        false_alarms += s.false_alarms;
        if res.threats.is_empty() {
            benign_fa += s.false_alarms;
        }
        for o in truth.iter().filter(|o| o.class != TruthClass::Benign) {
            let e = per_kind.entry(o.name.clone()).or_default();
            e.total += 1;
            if s.matches.iter().any(|m| m.truth_label == o.label) {
                e.detected += 1;
            }
            if s
                .matches
                .iter()
                .any(|m| m.truth_label == o.label && m.kind == o.class.kind())
            {
                e.classified += 1;
            }
        }
        let _ = report;
    }
    let mut ths = options.roc_thresholds.clone();
    ths.retain(|t| t.is_finite());
    ths.sort_by(f64::total_cmp);
    ths.dedup();
    let roc = ths
        .iter()
        .map(|&t| {
            let mut total = 0usize;
            let mut detected = 0usize;
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
                let alarmed = s.verdict == Verdict::Inspect;
                if res.threats.is_empty() {
                    fa_benign += s.false_alarms;
                    benign_alarmed += usize::from(alarmed);
                } else {
                    threat_alarmed += usize::from(alarmed);
                }
            }
            let nb = benign_parcels.max(1) as f64;
            let nt = (runs.len() - benign_parcels).max(1) as f64;
            RocPoint {
                threshold: t,
                recall: if total > 0 { detected as f64 / total as f64 } else { 1.0 },
                recall_per_class: cls
                    .into_iter()
                    .filter(|(_, (n, _))| *n > 0)
                    .map(|(k, (n, d))| (k, d as f64 / n as f64))
                    .collect(),
                false_alarms_per_benign_parcel: fa_benign as f64 / nb,
                benign_parcels_alarmed: benign_alarmed as f64 / nb,
                threat_parcels_alarmed: threat_alarmed as f64 / nt,
            }
        })
        .collect();
    Ok(BatchScores {
        seed,
        options: options.clone(),
        parcels: runs.len(),
        benign_parcels,
        threshold,
        per_class,
        per_kind,
        false_alarms,
        false_alarms_per_benign_parcel: benign_fa as f64 / benign_parcels.max(1) as f64,
        confusion,
        roc,
        per_parcel: runs.into_iter().map(|r| r.2).collect(),
    })
}

/// Passes cancellation through to a stage while keeping its own progress counts out of
/// the caller's "evaluate" stage.
struct ProgressCheck<'a>(&'a dyn Progress);

impl Progress for ProgressCheck<'_> {
    fn is_cancelled(&self) -> bool {
        self.0.is_cancelled()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_boxes() {
        let a = [0.0, 0.0, 0.0, 2.0, 2.0, 2.0];
        let b = [1.0, 0.0, 0.0, 3.0, 2.0, 2.0];
        assert!((iou(&a, &b) - 4.0 / 12.0).abs() < 1e-12);
        assert_eq!(iou(&a, &[5.0, 5.0, 5.0, 6.0, 6.0, 6.0]), 0.0);
    }
}

/// The scoring truth of a generated parcel: its threat objects with their classes and
/// its benign metal (class [`TruthClass::Benign`]); containers and low-density
/// clutter are left out (the detector looks at dense metal only).
pub fn truth_of_parcel(parcel: &crate::phantom::Parcel) -> Vec<TruthObject> {
    use crate::phantom::ObjectClass;
    parcel
        .objects
        .iter()
        .filter_map(|o| {
            let class = match o.class {
                ObjectClass::Firearm => TruthClass::Firearm,
                ObjectClass::FirearmPart => TruthClass::FirearmPart,
                ObjectClass::Ammunition => TruthClass::Ammunition,
                ObjectClass::Blade => TruthClass::Blade,
                ObjectClass::MetalOther => TruthClass::Benign,
                _ => return None,
            };
            Some(TruthObject {
                label: o.label,
                class,
                name: o.kind.clone(),
                bbox_mm: o.bbox_mm,
            })
        })
        .collect()
}

/// Scores `report` against a generated parcel at the report's own threshold
/// ([`evaluate_truth`] with [`truth_of_parcel`]).
pub fn evaluate_parcel(report: &Report, parcel: &crate::phantom::Parcel) -> Scores {
    evaluate_truth(report, &truth_of_parcel(parcel), report.threshold)
}
