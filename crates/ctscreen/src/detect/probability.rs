//! Threat probabilities: the rules' scores read as how often a finding so scored is a
//! threat.
//!
//! A finding's [`score`](super::Finding::score) is a product of rule memberships. It
//! ranks findings well, but it does not read as a probability: on the design parcels,
//! findings scoring 0.6–0.7 matched a threat object every time, and those scoring
//! 0.3–0.4 four times in ten. A [`ScoreMap`] is the monotone map from score to that
//! share, the **isotonic regression** of "matches a threat object" (1 or 0) on the
//! score, fitted by pool-adjacent-violators over the findings of evaluation sets
//! ([`ScoreMap::fit`]; matching as in [`super::evaluate`]), and read as a curve
//! through its steps' ends, linear in between and flat beyond them.
//!
//! [`super::detect`] sets every finding's
//! [`threat_probability`](super::Finding::threat_probability) from the map shipped with
//! the library ([`ScoreMap::builtin`], `score_map.json`): fitted on the design parcel
//! seeds only, never on evaluation seeds, by `scripts/fit_score_map.sh`
//! (`ctscreen evaluate` on the design sets, then `ctscreen fit-score-map`). The
//! decisions (a finding's kind, the verdict, the threshold) stay on the score; the
//! probability is what an analyst reads.
//!
//! **What the probability means.** It is the share of findings with that score that lay
//! on a threat object in the parcels it was fitted on: half of them held threats, among
//! hard benign metal, scanned at 120 kVp with 10⁵ photons per pixel at the evaluation's
//! voxel size (`fitted_on` says which). A different stream of parcels (fewer threats, other
//! clutter) or another scanner moves it; refit the map on parcels like yours
//! ([`ScoreMap::fit`], [`ScoreMap::apply`]). Low scores keep a floor of about
//! 0.2: pieces of a firearm read apart, and benign objects lying inside a threat's box,
//! count as matching it.
use serde::{Deserialize, Serialize};

#[cfg(doc)]
use super::evaluate::ParcelResult;
use super::evaluate::{Evaluation, ScanMode, DESIGN_SEEDS_END};
use super::report::Report;
use crate::{Error, Result};

/// Version of the [`ScoreMap`] JSON written and read by this library.
pub const SCORE_MAP_VERSION: u32 = 1;

/// A monotone map from finding score to threat probability (see the module docs).
///
/// The curve runs through the points `(scores[i], probabilities[i])`: `scores` strictly
/// increasing in [0, 1], `probabilities` non-decreasing in [0, 1].
///
/// # Example
/// ```
/// use ctscreen::detect::probability::ScoreMap;
/// // Findings scoring 0.2 are threats 1 time in 4. The one at 0.6 is a threat but
/// // those at 0.8 only 2 times in 3: a map that rises cannot say both, so they pool
/// // (3 in 4).
/// let pairs = [(0.2, true), (0.2, false), (0.2, false), (0.2, false),
///              (0.6, true), (0.8, true), (0.8, true), (0.8, false)];
/// let map = ScoreMap::fit(pairs, "eight findings").unwrap();
/// assert_eq!(map.probability(0.2), 0.25);
/// assert_eq!(map.probability(0.7), 0.75);
/// assert_eq!(map.probability(0.4), 0.5); // halfway between the steps
/// assert_eq!(map.probability(1.0), 0.75);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreMap {
    /// [`SCORE_MAP_VERSION`].
    pub version: u32,
    /// What the map was fitted on (parcel seeds, voxel size, scan).
    pub fitted_on: String,
    /// Findings it was fitted on.
    pub findings: usize,
    /// Scores of the curve's points, strictly increasing, in [0, 1].
    pub scores: Vec<f64>,
    /// Probabilities at those scores, non-decreasing, in [0, 1].
    pub probabilities: Vec<f64>,
}

/// A block of pool-adjacent-violators: scores `first..=last`, `weight` findings,
/// `hits` of them threats.
#[derive(Clone, Copy)]
struct Block {
    first: f64,
    last: f64,
    weight: f64,
    hits: f64,
}

impl Block {
    fn mean(&self) -> f64 {
        self.hits / self.weight
    }
}

impl ScoreMap {
    /// Fits the map to `(score, threat)` pairs: each finding's score and whether it
    /// matches a threat object. Findings of equal score are pooled; blocks of equal
    /// probability are merged, so the map has at most two points per step.
    ///
    /// **Errors** with [`Error::InvalidParameter`] when there is no pair, or a score is
    /// not finite or outside [0, 1].
    pub fn fit(
        pairs: impl IntoIterator<Item = (f64, bool)>,
        fitted_on: impl Into<String>,
    ) -> Result<ScoreMap> {
        let mut pairs: Vec<(f64, bool)> = pairs.into_iter().collect();
        if pairs.is_empty() {
            return Err(Error::invalid(
                "findings",
                0,
                "at least one (score, threat) pair",
            ));
        }
        if let Some((s, _)) = pairs
            .iter()
            .find(|(s, _)| !s.is_finite() || !(0.0..=1.0).contains(s))
        {
            return Err(Error::invalid("score", s, "a finite score in [0, 1]"));
        }
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        // Findings of one score first make one point: pooled with its neighbours as a
        // whole, never a finding at a time.
        let mut points: Vec<Block> = Vec::new();
        for (score, threat) in &pairs {
            let hit = f64::from(u8::from(*threat));
            match points.last_mut() {
                Some(b) if b.first == *score => {
                    b.weight += 1.0;
                    b.hits += hit;
                }
                _ => points.push(Block {
                    first: *score,
                    last: *score,
                    weight: 1.0,
                    hits: hit,
                }),
            }
        }
        let mut blocks: Vec<Block> = Vec::with_capacity(points.len());
        for point in points {
            blocks.push(point);
            // Pool while the last block does not rise above the one before it.
            while blocks.len() >= 2 {
                let (b, a) = (blocks[blocks.len() - 1], blocks[blocks.len() - 2]);
                if a.mean() < b.mean() {
                    break;
                }
                blocks.pop();
                let a = blocks.last_mut().expect("two blocks");
                a.last = b.last;
                a.weight += b.weight;
                a.hits += b.hits;
            }
        }
        let (mut scores, mut probabilities) = (Vec::new(), Vec::new());
        for b in &blocks {
            scores.push(b.first);
            probabilities.push(b.mean());
            if b.last > b.first {
                scores.push(b.last);
                probabilities.push(b.mean());
            }
        }
        Ok(ScoreMap {
            version: SCORE_MAP_VERSION,
            fitted_on: fitted_on.into(),
            findings: pairs.len(),
            scores,
            probabilities,
        })
    }

    /// Fits the map to every finding of `evaluations` ([`ParcelResult::finding_outcomes`]),
    /// noting their seeds, voxel sizes and scans in `fitted_on`.
    ///
    /// **Errors** with [`Error::InvalidParameter`] when an evaluation's seeds reach
    /// [`DESIGN_SEEDS_END`] (a map fitted on evaluation seeds would be scored on what it
    /// learned), and as [`ScoreMap::fit`].
    pub fn fit_evaluations(evaluations: &[Evaluation]) -> Result<ScoreMap> {
        let mut sets = Vec::new();
        for e in evaluations {
            let [first, end] = e.seed_range;
            if end > DESIGN_SEEDS_END {
                return Err(Error::invalid(
                    "seeds",
                    format!("{first}..{end}"),
                    format!("design seeds below {DESIGN_SEEDS_END}, not evaluation seeds"),
                ));
            }
            let scan = match e.options.mode {
                // `evaluate_set` scans with the default spectrum and these photons.
                ScanMode::Reconstruction { photons, .. } => format!(
                    "scanned at {:.0} kVp with {photons:.0e} photons per pixel",
                    crate::SimulateOptions::default().kvp
                ),
                ScanMode::Truth {
                    energy_kev,
                    noise_mu,
                } => {
                    format!("voxelised at {energy_kev} keV with noise {noise_mu} mm⁻¹")
                }
            };
            sets.push(format!(
                "seeds {first}–{}, {}³ voxels of {:.2} mm, {scan}",
                end.saturating_sub(1),
                e.options.size,
                e.voxel_mm
            ));
        }
        let pairs = evaluations
            .iter()
            .flat_map(|e| &e.per_parcel)
            .flat_map(|p| &p.finding_outcomes)
            .map(|o| (o.score, o.threat));
        ScoreMap::fit(pairs, format!("design parcels ({})", sets.join("; ")))
    }

    /// The threat probability of a finding scoring `score`: the curve through the
    /// map's points, linear between them and flat beyond the first and last. A NaN
    /// score reads as 0.
    pub fn probability(&self, score: f64) -> f64 {
        let (s, p) = (&self.scores, &self.probabilities);
        let score = if score.is_nan() { 0.0 } else { score };
        let i = s.partition_point(|&x| x <= score);
        if i == 0 {
            return p[0];
        }
        if i == s.len() {
            return p[s.len() - 1];
        }
        let t = (score - s[i - 1]) / (s[i] - s[i - 1]);
        p[i - 1] + t * (p[i] - p[i - 1])
    }

    /// Sets the threat probability of every finding of `report` from its score.
    pub fn apply(&self, report: &mut Report) {
        for f in &mut report.findings {
            f.threat_probability = Some(self.probability(f.score));
        }
    }

    /// The map shipped with the library (`score_map.json`, fitted on the design seeds;
    /// see the module docs).
    pub fn builtin() -> &'static ScoreMap {
        static MAP: std::sync::OnceLock<ScoreMap> = std::sync::OnceLock::new();
        MAP.get_or_init(|| {
            ScoreMap::from_json(include_str!("score_map.json")).expect("the shipped score map")
        })
    }

    /// Parses and checks JSON written by [`ScoreMap::to_json`].
    ///
    /// **Errors** with [`Error::Format`] if the text is not a score map or its points
    /// are not a monotone curve in [0, 1]², and [`Error::Unsupported`] if its `version`
    /// is not [`SCORE_MAP_VERSION`].
    pub fn from_json(text: &str) -> Result<ScoreMap> {
        const WHAT: &str = "score map JSON";
        let map: ScoreMap =
            serde_json::from_str(text).map_err(|e| Error::format(WHAT, e.to_string()))?;
        if map.version != SCORE_MAP_VERSION {
            return Err(Error::Unsupported {
                path: WHAT.into(),
                what: format!(
                    "version {} (this library reads {SCORE_MAP_VERSION})",
                    map.version
                ),
            });
        }
        let (s, p) = (&map.scores, &map.probabilities);
        let bad = |message: String| Err(Error::format(WHAT, message));
        if s.is_empty() || s.len() != p.len() {
            return bad(format!(
                "{} scores and {} probabilities (expected as many of each, at least one)",
                s.len(),
                p.len()
            ));
        }
        let unit = |x: &f64| x.is_finite() && (0.0..=1.0).contains(x);
        if let Some(x) = s.iter().chain(p).find(|x| !unit(x)) {
            return bad(format!(
                "value {x} (expected scores and probabilities in [0, 1])"
            ));
        }
        if let Some(w) = s.windows(2).find(|w| w[1] <= w[0]) {
            return bad(format!(
                "score {} after {} (expected strictly increasing scores)",
                w[1], w[0]
            ));
        }
        if let Some(w) = p.windows(2).find(|w| w[1] < w[0]) {
            return bad(format!(
                "probability {} after {} (expected non-decreasing probabilities)",
                w[1], w[0]
            ));
        }
        Ok(map)
    }

    /// Serialises to indented JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a score map of finite numbers")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Isotonic regression by brute force: the least-squares non-decreasing fit of
    /// points with weights, by repeated averaging of the first violating run (a
    /// different route from the stack of blocks).
    fn isotonic_by_passes(y: &[f64], w: &[f64]) -> Vec<f64> {
        let mut fit = y.to_vec();
        loop {
            let Some(i) = (0..fit.len() - 1).find(|&i| fit[i] > fit[i + 1] + 1e-12) else {
                return fit;
            };
            // The run of equal values around the violation, averaged by weight.
            let (mut a, mut b) = (i, i + 1);
            while a > 0 && (fit[a - 1] - fit[a]).abs() < 1e-12 {
                a -= 1;
            }
            while b + 1 < fit.len() && (fit[b + 1] - fit[b]).abs() < 1e-12 {
                b += 1;
            }
            let (sw, swy) = (a..=b).fold((0.0, 0.0), |(s, t), k| (s + w[k], t + w[k] * fit[k]));
            for v in &mut fit[a..=b] {
                *v = swy / sw;
            }
        }
    }

    #[test]
    fn fit_is_the_isotonic_regression_of_the_pooled_scores() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_pcg::Pcg64::seed_from_u64(5);
        for _ in 0..50 {
            // Scores on a coarse grid, so that ties are common; threat more often when
            // the score is high.
            let pairs: Vec<(f64, bool)> = (0..rng.random_range(1..200))
                .map(|_| {
                    let s = f64::from(rng.random_range(0..=20u8)) / 20.0;
                    (s, rng.random::<f64>() < 0.2 + 0.6 * s)
                })
                .collect();
            let map = ScoreMap::fit(pairs.iter().copied(), "test").unwrap();
            let mut xs: Vec<f64> = pairs.iter().map(|p| p.0).collect();
            xs.sort_by(f64::total_cmp);
            xs.dedup();
            let w: Vec<f64> = xs
                .iter()
                .map(|&x| pairs.iter().filter(|p| p.0 == x).count() as f64)
                .collect();
            let y: Vec<f64> = xs
                .iter()
                .zip(&w)
                .map(|(&x, &n)| pairs.iter().filter(|p| p.0 == x && p.1).count() as f64 / n)
                .collect();
            let want = isotonic_by_passes(&y, &w);
            for (x, v) in xs.iter().zip(&want) {
                assert!((map.probability(*x) - v).abs() < 1e-9, "{x}: {map:?}");
            }
            assert_eq!(map.findings, pairs.len());
            // What it writes, it reads.
            assert_eq!(ScoreMap::from_json(&map.to_json()).unwrap(), map);
        }
    }

    #[test]
    fn bad_pairs_and_bad_maps_are_refused_by_name() {
        let e = ScoreMap::fit(std::iter::empty(), "none").unwrap_err();
        assert!(e.to_string().contains("findings"), "{e}");
        let e = ScoreMap::fit([(0.5, true), (f64::NAN, false)], "nan").unwrap_err();
        assert!(e.to_string().contains("NaN"), "{e}");
        let e = ScoreMap::fit([(1.5, true)], "over").unwrap_err();
        assert!(e.to_string().contains("1.5"), "{e}");
        let good = ScoreMap::fit([(0.1, false), (0.9, true)], "x").unwrap();
        let text = |s: &str, p: &str, v: u32| {
            format!(
                r#"{{"version":{v},"fitted_on":"x","findings":2,"scores":{s},"probabilities":{p}}}"#
            )
        };
        assert_eq!(
            ScoreMap::from_json(&text("[0.1,0.9]", "[0.0,1.0]", 1)).unwrap(),
            good.clone()
        );
        for (s, p, needle) in [
            ("[0.9,0.1]", "[0.0,1.0]", "strictly increasing"),
            ("[0.1,0.9]", "[1.0,0.0]", "non-decreasing"),
            ("[0.1,0.9]", "[0.0]", "as many"),
            ("[0.1,1.9]", "[0.0,1.0]", "1.9"),
            ("[]", "[]", "at least one"),
        ] {
            let e = ScoreMap::from_json(&text(s, p, 1)).unwrap_err();
            assert!(e.to_string().contains(needle), "{s} {p}: {e}");
        }
        let e = ScoreMap::from_json(&text("[0.1,0.9]", "[0.0,1.0]", 9)).unwrap_err();
        assert!(matches!(e, Error::Unsupported { .. }), "{e}");
        assert!(ScoreMap::from_json("{").is_err());
    }

    #[test]
    fn the_shipped_map_is_fitted_on_design_seeds_and_rises() {
        let map = ScoreMap::builtin();
        assert!(map.fitted_on.contains("design"), "{}", map.fitted_on);
        assert!(map.findings >= 1000, "{}", map.findings);
        // Low scores read as unlikely threats and high ones as likely.
        assert!(map.probability(0.0) < 0.3, "{map:?}");
        assert!(map.probability(1.0) > 0.9, "{map:?}");
    }
}
