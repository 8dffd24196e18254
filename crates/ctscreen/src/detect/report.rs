//! The detection report and its JSON form (schema in the [`mod@crate::detect`] docs).
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Version of the report's JSON schema; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// What a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A whole (or nearly whole) firearm: pistol, revolver.
    Firearm,
    /// A part of a firearm alone: barrel, slide, bolt, magazine, receiver, cylinder.
    FirearmPart,
    /// Cartridges, loose or boxed.
    Ammunition,
    /// A knife or other blade.
    Blade,
    /// Dense metal that matches no threat.
    MetalOther,
}

impl Kind {
    /// The four threat kinds.
    pub const THREATS: [Kind; 4] = [
        Kind::Firearm,
        Kind::FirearmPart,
        Kind::Ammunition,
        Kind::Blade,
    ];

    /// The name used in reports: `"firearm"`, `"firearm_part"`, `"ammunition"`,
    /// `"blade"`, `"metal_other"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Firearm => "firearm",
            Kind::FirearmPart => "firearm_part",
            Kind::Ammunition => "ammunition",
            Kind::Blade => "blade",
            Kind::MetalOther => "metal_other",
        }
    }

    /// Parses a name as written by [`Kind::as_str`].
    ///
    /// **Errors** on any other string.
    pub fn parse(name: &str) -> Result<Kind> {
        [
            Kind::Firearm,
            Kind::FirearmPart,
            Kind::Ammunition,
            Kind::Blade,
            Kind::MetalOther,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
        .ok_or_else(|| {
            Error::invalid(
                "kind",
                name,
                "one of firearm, firearm_part, ammunition, blade, metal_other",
            )
        })
    }

    /// True for the four threat kinds.
    pub fn is_threat(self) -> bool {
        self != Kind::MetalOther
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The decision on a whole scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// No finding reaches the threshold.
    Clear,
    /// At least one finding reaches the threshold: an analyst should look.
    Inspect,
}

/// Per-class threat scores of a finding, each in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ClassScores {
    /// Score for [`Kind::Firearm`].
    pub firearm: f64,
    /// Score for [`Kind::FirearmPart`].
    pub firearm_part: f64,
    /// Score for [`Kind::Ammunition`].
    pub ammunition: f64,
    /// Score for [`Kind::Blade`].
    pub blade: f64,
}

impl ClassScores {
    /// The score of a threat kind (0 for [`Kind::MetalOther`]).
    pub fn get(&self, kind: Kind) -> f64 {
        match kind {
            Kind::Firearm => self.firearm,
            Kind::FirearmPart => self.firearm_part,
            Kind::Ammunition => self.ammunition,
            Kind::Blade => self.blade,
            Kind::MetalOther => 0.0,
        }
    }

    /// The threat kind with the highest score (ties: the order of [`Kind::THREATS`]) and
    /// that score.
    pub fn best(&self) -> (Kind, f64) {
        let mut best = (Kind::Firearm, self.firearm);
        for k in Kind::THREATS {
            if self.get(k) > best.1 {
                best = (k, self.get(k));
            }
        }
        best
    }
}

/// One dense object (or group of objects) and what the detector makes of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Number of the finding in this report, from 1.
    pub id: u32,
    /// The call: the best-scoring threat kind when its score reaches the report's
    /// threshold, else [`Kind::MetalOther`].
    pub kind: Kind,
    /// The best threat score in [0, 1] (also for `metal_other` findings, where it is
    /// below the threshold), so that the threshold can be moved afterwards.
    pub score: f64,
    /// How often findings of this score were threats where the score map was fitted
    /// ([`crate::detect::probability`]), in [0, 1]; `None` where no map was applied
    /// (a finding read back from DICOS, or from a report written before there was one).
    #[serde(default)]
    pub threat_probability: Option<f64>,
    /// Scores of each threat kind.
    pub class_scores: ClassScores,
    /// Bounding box `(z0, y0, x0, z1, y1, x1)`, world mm: the min and max corners of
    /// the voxels involved (voxel edges, not centres).
    pub bbox_mm: [f64; 6],
    /// Voxels above the low threshold that belong to it.
    pub voxel_count: u64,
    /// Volume of its solid at half its own density, mm³.
    pub volume_mm3: f64,
    /// Mean μ of its voxels, mm⁻¹.
    pub mean_mu: f64,
    /// Material suggested by its density (`"steel"`, `"brass_copper"`, `"lead"`, …).
    pub material: String,
    /// Mass estimate from the volume and the material's density, grams.
    pub mass_g: f64,
    /// Centroid, world `(z, y, x)` mm.
    pub centroid_mm: [f64; 3],
    /// Principal axes (unit vectors, world `(z, y, x)` components), longest first.
    pub principal_axes: [[f64; 3]; 3],
    /// Lengths along the principal axes, mm, longest first.
    pub extents_mm: [f64; 3],
    /// Number of separate metal objects grouped into this finding (1 for a single one;
    /// more for a cluster of cartridges or a slide with its magazine).
    pub members: u32,
    /// Sentences stating the measurements that drove the call.
    pub evidence: Vec<String>,
    /// The numeric features behind the call, by name (units in the names).
    pub features: BTreeMap<String, f64>,
}

/// A region of the scan that the beam did not pass through (a shield): whatever lies
/// inside cannot be seen (see [`crate::detect::shield`](mod@crate::detect::shield)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shield {
    /// Bounding box `(z0, y0, x0, z1, y1, x1)`, world mm, of the unseen region.
    pub bbox_mm: [f64; 6],
    /// Volume of the unseen region, mm³.
    pub volume_mm3: f64,
    /// The least line integral `∫μ dl` (dimensionless) over the rays through the
    /// region's slices that are still opaque: `e^-least` is the most of the beam that
    /// crosses it.
    pub least_line_integral: f64,
    /// Ids of the findings whose box holds the region's centre (the metal around it).
    pub findings: Vec<u32>,
    /// Sentences stating what was measured and what it means.
    pub evidence: Vec<String>,
}

/// Thresholds used, in μ and in Hounsfield units at the effective energy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Effective energy of the scan, keV.
    pub energy_kev: f64,
    /// μ of water at that energy, mm⁻¹.
    pub water_mu: f64,
    /// Low (growing) threshold, mm⁻¹.
    pub low_mu: f64,
    /// High (seeding) threshold, mm⁻¹.
    pub high_mu: f64,
    /// Low threshold in HU.
    pub low_hu: f64,
    /// High threshold in HU.
    pub high_hu: f64,
}

/// Wall-clock seconds spent in each stage (not deterministic; everything else is).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Timings {
    /// Candidate extraction.
    pub candidates_s: f64,
    /// Shape descriptors.
    pub features_s: f64,
    /// Classification and grouping, with the pairs of candidates measured as one object
    /// ([`crate::detect::classify::joinable`]).
    pub classify_s: f64,
    /// Finding the shields.
    #[serde(default)]
    pub shields_s: f64,
    /// Everything.
    pub total_s: f64,
}

/// The result of [`crate::detect::detect`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Findings, highest score first.
    pub findings: Vec<Finding>,
    /// Regions the beam did not pass through, in scan order. They are not findings and
    /// do not change `verdict` (which speaks of what was seen), but a scan with a
    /// shield cannot be cleared by this report alone.
    #[serde(default)]
    pub shields: Vec<Shield>,
    /// [`Verdict::Inspect`] if any finding's score reaches `threshold`.
    pub verdict: Verdict,
    /// Decision threshold on the score.
    pub threshold: f64,
    /// Metal thresholds used.
    pub thresholds: Thresholds,
    /// Shape `(nz, ny, nx)` of the scanned volume.
    pub volume_shape: [usize; 3],
    /// Voxel size `(dz, dy, dx)` of the scanned volume, mm.
    pub spacing_mm: [f64; 3],
    /// Time per stage.
    pub timings: Timings,
}

impl Report {
    /// The findings whose score reaches the report's threshold.
    pub fn threats(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(move |f| f.score >= self.threshold)
    }

    /// The verdict the report would give at another `threshold`.
    pub fn verdict_at(&self, threshold: f64) -> Verdict {
        if self.findings.iter().any(|f| f.score >= threshold) {
            Verdict::Inspect
        } else {
            Verdict::Clear
        }
    }

    /// Serialises to compact JSON.
    ///
    /// **Errors** never in practice (all numbers are finite); kept for symmetry.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self)
            .map_err(|e| Error::invalid("report", e, "a report of finite numbers"))
    }

    /// Serialises to indented JSON.
    ///
    /// **Errors** as [`Report::to_json`].
    pub fn to_json_pretty(&self) -> Result<String> {
        serde_json::to_string_pretty(self)
            .map_err(|e| Error::invalid("report", e, "a report of finite numbers"))
    }

    /// Parses JSON written by [`Report::to_json`].
    ///
    /// **Errors** with [`Error::Format`] if the text is not a report, or with
    /// [`Error::Unsupported`] if its `schema_version` is not [`SCHEMA_VERSION`].
    pub fn from_json(text: &str) -> Result<Report> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| Error::format("report JSON", e.to_string()))?;
        let version = value.get("schema_version").and_then(|v| v.as_u64());
        if version != Some(u64::from(SCHEMA_VERSION)) {
            return Err(Error::Unsupported {
                path: "report JSON".into(),
                what: format!(
                    "schema_version {} (this library reads {SCHEMA_VERSION})",
                    version.map_or("missing".to_string(), |v| v.to_string())
                ),
            });
        }
        serde_json::from_value(value).map_err(|e| Error::format("report JSON", e.to_string()))
    }
}
