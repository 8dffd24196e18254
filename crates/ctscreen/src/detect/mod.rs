//! Threat detection: dense metal candidates, shape descriptors, an explainable
//! classifier and the report.
//!
//! [`detect`] runs, on a volume of μ (mm⁻¹):
//!
//! 1. [`candidates::extract`]: hysteresis thresholds in physical units (defaults: low
//!    0.08 mm⁻¹, high 0.16 mm⁻¹; see [`DetectOptions`] for the physics), connected
//!    components of the sparse metal runs, small-object removal in mm³, optional
//!    opening, and a split of touching objects;
//! 2. [`features::describe`]: each candidate measured in its own principal frame at
//!    its own half-density level (extents, fill, plate thickness, width profile,
//!    bores, two-part angle, solid limbs of the silhouette, density profile,
//!    material, mass); pairs of nearby candidates ([`classify::joinable`]) are also
//!    described as one object, in case they are one firearm that the metal threshold
//!    parts;
//! 3. [`classify`]: rules with smooth logistic memberships give every candidate a
//!    score per threat class; similar cartridges close together are grouped into one
//!    ammunition finding, and a slide-like and a grip-like object meeting at a
//!    pistol's angle, or two objects whose joint outline is a pistol's, into one
//!    firearm finding. Every score comes with the sentences that drove it;
//! 4. [`shield`]: the regions that no ray crossed with more than a trace of its
//!    photons, whose contents the scan cannot show;
//! 5. the [`Report`]: findings (highest score first), each with the threat probability
//!    its score reads as ([`probability`]), shields and the verdict.
//!
//! [`evaluate`] scores a report against a generated parcel's ground truth
//! ([`evaluate_parcel`]) and runs seeded evaluation sets through the whole pipeline
//! ([`evaluate_set`]: recall per class, false alarms per benign parcel, confusion
//! matrix, ROC).
//!
//! # Report JSON schema (`schema_version` 1)
//!
//! ```text
//! {
//!   "schema_version": 1,
//!   "verdict": "clear" | "inspect",
//!   "threshold": 0.5,                       // score at or above which a finding alarms
//!   "thresholds": { "energy_kev": 70.0, "water_mu": 0.0193,   // mm⁻¹
//!                   "low_mu": 0.08, "high_mu": 0.16,          // mm⁻¹
//!                   "low_hu": 3147.0, "high_hu": 7295.0 },    // HU at energy_kev
//!   "volume_shape": [nz, ny, nx],
//!   "spacing_mm": [dz, dy, dx],
//!   "timings": { "candidates_s": …, "features_s": …, "classify_s": …, "shields_s": …,
//!                "total_s": … },
//!   "shields": [ {                           // regions the beam did not pass through
//!     "bbox_mm": [z0, y0, x0, z1, y1, x1],   // world mm
//!     "volume_mm3": 120400.0,
//!     "least_line_integral": 9.8,            // ∫μ dl of the weakest ray through it
//!     "findings": [3],                       // findings whose box holds its centre
//!     "evidence": ["every ray across this 120 cm³ region …", …]
//!   } ],
//!   "findings": [ {
//!     "id": 1,                                   // 1.., in this report
//!     "kind": "firearm" | "firearm_part" | "ammunition" | "blade" | "metal_other",
//!     "score": 0.93,                             // best threat score in [0, 1]
//!     "threat_probability": 0.99,                // share of such findings that were
//!                                                // threats (score map), or null
//!     "class_scores": { "firearm": …, "firearm_part": …, "ammunition": …, "blade": … },
//!     "bbox_mm": [z0, y0, x0, z1, y1, x1],       // world mm, voxel edges, min then max
//!     "voxel_count": 5210,                       // voxels above low_mu
//!     "volume_mm3": 5105.2,                      // solid at half its own density
//!     "mean_mu": 0.41,                           // mm⁻¹
//!     "material": "steel",                       // aluminium|steel|brass_copper|lead|tungsten
//!     "mass_g": 40.2,
//!     "centroid_mm": [z, y, x],
//!     "principal_axes": [[z, y, x], [z, y, x], [z, y, x]],   // unit vectors, longest first
//!     "extents_mm": [l0, l1, l2],                // along the principal axes
//!     "members": 1,                              // objects grouped into this finding
//!     "evidence": ["tube 112 mm long with 9 mm bore", …],
//!     "features": { "length_mm": 112.0, "bore_diameter_mm": 9.1, … }
//!   } ]
//! }
//! ```
//!
//! For a group finding (members > 1), `bbox_mm`, `voxel_count`, `volume_mm3` and
//! `mass_g` cover all members, `mean_mu` is their voxel-weighted mean, and
//! `principal_axes` / `extents_mm` are those of the largest member.
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::progress::{self, NoProgress, Progress};
use crate::{Error, Result, Volume};

pub mod candidates;
pub mod classify;
pub mod evaluate;
pub mod features;
pub mod probability;
pub mod report;
pub mod shield;
mod silhouette;

pub use candidates::Candidate;
pub use evaluate::{evaluate_parcel, evaluate_set, Evaluation, EvaluationOptions};
pub use features::{Descriptors, Material};
pub use report::{ClassScores, Finding, Kind, Report, Shield, Thresholds, Timings, Verdict};

/// Options of [`detect`]. `Default` gives the documented values; JSON and Python
/// callers may give any subset (missing fields take their defaults).
///
/// The metal thresholds come from the attenuation of materials at a 120 kVp scan's
/// effective energy (≈ 70 keV): water 0.019, aluminium 0.064, glass 0.045–0.06, steel
/// 0.67, brass 0.9, lead 4 mm⁻¹. Beam hardening lowers what a reconstruction shows for
/// thick steel (the beam through it is harder) and partial volume lowers thin steel
/// (a 2 mm blade in 1–2 mm voxels), so the seeding threshold sits well below steel
/// but well above aluminium, glass and bone plus their streaks (`high_mu` 0.16 ≈ 2.5 ×
/// aluminium), and the growing threshold keeps the blurred rim of dense objects while
/// staying above aluminium (`low_mu` 0.08). Light metals are therefore not candidates:
/// their μ overlaps glass and dense plastics, and no threat signature here rests on
/// them alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectOptions {
    /// Effective energy of the scan, keV (10–200); 70 for a 120 kVp tube. Used for
    /// μ of water (HU equivalents) and μ of the reference metals (material guess).
    pub energy_kev: f64,
    /// μ of water (mm⁻¹) to state thresholds in HU; `None`: from `energy_kev`.
    pub water_mu: Option<f64>,
    /// Effective energy (keV, 10–200) at which metals read in a reconstruction: the
    /// beam through steel is much harder than through water, so a 120 kVp scan shows
    /// steel near its 100 keV μ (0.29 mm⁻¹), not its μ at the water-equivalent energy.
    /// Used for the material guess and as the steel reference of density cues.
    pub metal_energy_kev: f64,
    /// Growing threshold of the hysteresis, mm⁻¹.
    pub low_mu: f32,
    /// Seeding threshold of the hysteresis, mm⁻¹ (≥ `low_mu`).
    pub high_mu: f32,
    /// Smallest candidate kept, mm³ (after splitting).
    pub min_volume_mm3: f64,
    /// Voxel connectivity of candidates: 6, 18 or 26.
    pub connectivity: u8,
    /// Radius of the optional opening, mm (0: none).
    pub opening_radius_mm: f64,
    /// Split touching objects at narrow necks.
    pub split_touching: bool,
    /// Least depth (distance to background, mm) of a body that may be split off.
    pub split_min_core_mm: f64,
    /// A neck splits two bodies when its depth is at most this fraction of the
    /// shallower body's depth (0–1).
    pub split_neck_ratio: f64,
    /// Smallest piece a split may leave, mm³; smaller pieces rejoin their neighbour.
    pub split_min_volume_mm3: f64,
    /// Score at or above which a finding alarms (0–1).
    pub threshold: f64,
    /// Line integral `∫μ dl` (dimensionless) from which a ray counts as opaque: a
    /// region every ray through which is opaque is a [`Shield`]. Default 8: at most
    /// e⁻⁸ ≈ 3·10⁻⁴ of the beam gets through (about 30 of the 10⁵ photons per pixel of
    /// the project's scanner), where noise, beam hardening and the metal-artefact
    /// correction leave the reconstruction nothing of the object's structure. Raise it
    /// for a scanner with many more photons per pixel.
    pub opaque_line_integral: f64,
    /// Smallest shield reported, mm³ (default 10 cm³: room for a handful of rounds or
    /// a pistol barrel).
    pub shield_min_volume_mm3: f64,
}

impl Default for DetectOptions {
    fn default() -> Self {
        Self {
            energy_kev: 70.0,
            water_mu: None,
            metal_energy_kev: 100.0,
            low_mu: 0.08,
            high_mu: 0.16,
            min_volume_mm3: 150.0,
            connectivity: 26,
            opening_radius_mm: 0.0,
            split_touching: true,
            split_min_core_mm: 3.5,
            split_neck_ratio: 0.4,
            split_min_volume_mm3: 600.0,
            threshold: 0.5,
            opaque_line_integral: 8.0,
            shield_min_volume_mm3: 10_000.0,
        }
    }
}

impl DetectOptions {
    /// Checks every field.
    ///
    /// **Errors** naming the first field out of range.
    pub fn validate(&self) -> Result<()> {
        crate::volume::water_mu_per_mm(self.energy_kev)?;
        if !self.metal_energy_kev.is_finite() || !(10.0..=200.0).contains(&self.metal_energy_kev) {
            return Err(Error::invalid(
                "metal_energy_kev",
                self.metal_energy_kev,
                "a finite energy in 10–200 keV",
            ));
        }
        if let Some(w) = self.water_mu {
            if !w.is_finite() || w <= 0.0 {
                return Err(Error::invalid("water_mu", w, "a finite μ > 0 in mm⁻¹"));
            }
        }
        if !self.low_mu.is_finite() || self.low_mu <= 0.0 {
            return Err(Error::invalid(
                "low_mu",
                self.low_mu,
                "a finite μ > 0 in mm⁻¹",
            ));
        }
        if !self.high_mu.is_finite() || self.high_mu < self.low_mu {
            return Err(Error::invalid(
                "high_mu",
                self.high_mu,
                format!("a finite μ ≥ low_mu ({})", self.low_mu),
            ));
        }
        if !self.min_volume_mm3.is_finite() || self.min_volume_mm3 < 0.0 {
            return Err(Error::invalid(
                "min_volume_mm3",
                self.min_volume_mm3,
                "a finite volume ≥ 0 mm³",
            ));
        }
        if ![6, 18, 26].contains(&self.connectivity) {
            return Err(Error::invalid(
                "connectivity",
                self.connectivity,
                "6, 18 or 26",
            ));
        }
        if !self.opening_radius_mm.is_finite() || !(0.0..=50.0).contains(&self.opening_radius_mm) {
            return Err(Error::invalid(
                "opening_radius_mm",
                self.opening_radius_mm,
                "a radius in 0–50 mm",
            ));
        }
        if !self.split_min_core_mm.is_finite() || self.split_min_core_mm <= 0.0 {
            return Err(Error::invalid(
                "split_min_core_mm",
                self.split_min_core_mm,
                "a depth > 0 mm",
            ));
        }
        if !self.split_min_volume_mm3.is_finite() || self.split_min_volume_mm3 < 0.0 {
            return Err(Error::invalid(
                "split_min_volume_mm3",
                self.split_min_volume_mm3,
                "a finite volume ≥ 0 mm³",
            ));
        }
        if !(0.0..=1.0).contains(&self.split_neck_ratio) {
            return Err(Error::invalid(
                "split_neck_ratio",
                self.split_neck_ratio,
                "a ratio in 0–1",
            ));
        }
        if !self.opaque_line_integral.is_finite() || self.opaque_line_integral <= 0.0 {
            return Err(Error::invalid(
                "opaque_line_integral",
                self.opaque_line_integral,
                "a finite line integral > 0",
            ));
        }
        if !self.shield_min_volume_mm3.is_finite() || self.shield_min_volume_mm3 < 0.0 {
            return Err(Error::invalid(
                "shield_min_volume_mm3",
                self.shield_min_volume_mm3,
                "a finite volume ≥ 0 mm³",
            ));
        }
        if !(0.0..=1.0).contains(&self.threshold) {
            return Err(Error::invalid(
                "threshold",
                self.threshold,
                "a score in 0–1",
            ));
        }
        Ok(())
    }

    /// Options from a JSON object naming any of the fields above; the fields it leaves
    /// out keep their defaults. The result is checked with [`Self::validate`].
    ///
    /// **Errors**: text that is not a JSON object, an unknown field (the message names
    /// it and lists the known ones), a value of the wrong type, or a value out of range.
    ///
    /// ```
    /// use ctscreen::detect::DetectOptions;
    /// let options = DetectOptions::from_json(r#"{"opaque_line_integral": 12}"#).unwrap();
    /// assert_eq!(options.opaque_line_integral, 12.0);
    /// assert_eq!(options.threshold, DetectOptions::default().threshold);
    /// assert!(DetectOptions::from_json(r#"{"opaque": 12}"#).is_err());
    /// ```
    pub fn from_json(text: &str) -> Result<Self> {
        let options: Self = serde_json::from_str(text).map_err(|e| {
            Error::invalid(
                "detection options",
                e,
                "a JSON object of DetectOptions fields",
            )
        })?;
        options.validate()?;
        Ok(options)
    }

    /// μ of water used for HU (mm⁻¹).
    ///
    /// **Errors** if `energy_kev` is out of range.
    pub fn water_mu_per_mm(&self) -> Result<f64> {
        match self.water_mu {
            Some(w) => Ok(w),
            None => crate::volume::water_mu_per_mm(self.energy_kev),
        }
    }

    /// The thresholds in μ and HU.
    ///
    /// **Errors** if `energy_kev` is out of range.
    pub fn thresholds(&self) -> Result<Thresholds> {
        let w = self.water_mu_per_mm()?;
        Ok(Thresholds {
            energy_kev: self.energy_kev,
            water_mu: w,
            low_mu: f64::from(self.low_mu),
            high_mu: f64::from(self.high_mu),
            low_hu: f64::from(crate::volume::mu_to_hu(self.low_mu, w)),
            high_hu: f64::from(crate::volume::mu_to_hu(self.high_mu, w)),
        })
    }
}

/// Finds and classifies the dense metal objects of a scan.
///
/// `volume` holds μ in mm⁻¹ (convert HU with [`crate::volume::hu_to_mu`]). An empty or
/// metal-free volume gives a report with no findings and a `Clear` verdict.
/// Deterministic: the same input gives the same report (timings aside) on any number
/// of threads.
///
/// **Errors** if the volume holds NaN or infinite values ([`Error::NonFinite`], with
/// their count), if its values are not plausible μ (beyond ±100 mm⁻¹), or if an
/// option is out of range.
///
/// # Example
/// ```
/// use ctscreen::{detect::{detect, DetectOptions, Kind}, Volume};
/// // A steel tube, 100 mm long, 20 mm across with a 9 mm bore, in 1 mm voxels, at
/// // the μ a 120 kVp reconstruction shows for steel (0.35 mm⁻¹).
/// let a = ndarray::Array3::from_shape_fn((40, 40, 130), |(k, j, i)| {
///     let r = ((k as f64 - 20.0).powi(2) + (j as f64 - 20.0).powi(2)).sqrt();
///     if (15..115).contains(&i) && r <= 10.0 && r >= 4.5 { 0.35f32 } else { 0.0 }
/// });
/// let report = detect(&Volume::centered(a, [1.0; 3]).unwrap(), &DetectOptions::default()).unwrap();
/// assert_eq!(report.findings[0].kind, Kind::FirearmPart);
/// println!("{}", report.findings[0].evidence.join("; "));
/// ```
pub fn detect(volume: &Volume, options: &DetectOptions) -> Result<Report> {
    detect_with_progress(volume, options, &NoProgress)
}

/// [`detect`] with progress reporting and cancellation.
///
/// **Errors** as [`detect`], and [`Error::Cancelled`] when `progress` asks to stop.
pub fn detect_with_progress(
    volume: &Volume,
    options: &DetectOptions,
    progress: &dyn Progress,
) -> Result<Report> {
    use rayon::prelude::*;
    options.validate()?;
    let thresholds = options.thresholds()?;
    let t0 = Instant::now();
    let (cands, _stats) = candidates::extract(volume, options, progress)?;
    let t1 = Instant::now();
    progress.start("detect: features", cands.len() as u64);
    let described: Vec<(usize, classify::Described)> = cands
        .par_iter()
        .enumerate()
        .filter_map(|(index, c)| {
            // The readings of one large candidate cost as much as many small
            // candidates: describe them in parallel too.
            let (whole, alternatives) = rayon::join(
                || features::describe(volume, c, options),
                || {
                    c.alternatives
                        .par_iter()
                        .map(|reading| {
                            reading
                                .par_iter()
                                .filter_map(|a| features::describe(volume, a, options))
                                .collect()
                        })
                        .collect()
                },
            );
            let whole = whole?;
            progress.advance(1);
            Some((
                index,
                classify::Described {
                    whole,
                    alternatives,
                },
            ))
        })
        .collect();
    progress::check(progress)?;
    // Nearby candidates that may be one firearm parted by the metal threshold, as one
    // object each.
    let pairs: Vec<[usize; 2]> = (0..described.len())
        .flat_map(|a| (a + 1..described.len()).map(move |b| [a, b]))
        .filter(|&[a, b]| classify::joinable(&described[a].1.whole, &described[b].1.whole))
        .collect();
    let (index, described): (Vec<usize>, Vec<classify::Described>) = described.into_iter().unzip();
    let t2 = Instant::now();
    let join = |[a, b]: [usize; 2]| {
        let both = cands[index[a]].joined(&cands[index[b]]);
        // The outline first: only one that may be a pistol's is measured in full.
        let outline = features::outline(volume, &both, options)?;
        if classify::pistol_silhouette(&outline, false) < options.threshold {
            return None;
        }
        let mut whole = features::describe(volume, &both, options)?;
        whole.joined = 2;
        Some(whole)
    };
    let findings = classify::classify_candidates(&described, &pairs, &join, options);
    let t3 = Instant::now();
    let boxes: Vec<(u32, [f64; 6])> = findings.iter().map(|f| (f.id, f.bbox_mm)).collect();
    let shields = shield::find_shields(volume, &cands, &boxes, options);
    let t4 = Instant::now();
    let verdict = if findings.iter().any(|f| f.score >= options.threshold) {
        Verdict::Inspect
    } else {
        Verdict::Clear
    };
    let mut report = Report {
        schema_version: report::SCHEMA_VERSION,
        findings,
        shields,
        verdict,
        threshold: options.threshold,
        thresholds,
        volume_shape: volume.shape(),
        spacing_mm: volume.spacing(),
        timings: Timings {
            candidates_s: (t1 - t0).as_secs_f64(),
            features_s: (t2 - t1).as_secs_f64(),
            classify_s: (t3 - t2).as_secs_f64(),
            shields_s: (t4 - t3).as_secs_f64(),
            total_s: (t4 - t0).as_secs_f64(),
        },
    };
    probability::ScoreMap::builtin().apply(&mut report);
    Ok(report)
}
