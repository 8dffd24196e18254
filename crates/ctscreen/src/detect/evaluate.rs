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
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::report::{Kind, Report, Verdict};

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
