//! Reconstruction: ramp-family filters, filtered backprojection (parallel and fan beam),
//! FDK for circular cone beams (with Parker short-scan weights and detector offsets),
//! iterative solvers (SIRT, SART, CGLS) and metal artifact reduction.
//!
//! All reconstructions return μ in mm⁻¹ on a grid centred on the isocentre
//! ([`crate::Volume::centered`]), axes `(z, y, x)`.
//!
//! ## Angular weighting
//!
//! Views may come at any angles, in any order and with uneven steps: each view is
//! weighted by its own angular step `Δθᵢ`, half the distance between its two
//! neighbours once the angles are sorted (circularly, over π for parallel beams and 2π
//! for fan and cone beams).
//!
//! * Parallel beams need the angles to cover 180° (modulo 180°; a 360° scan counts each
//!   direction twice and gets half weights automatically).
//! * Fan and cone beams are *full scans* when the largest gap between sorted angles is
//!   at most 1.5 × the mean of the other gaps; the redundant data then get weight ½.
//!   Otherwise they are *short scans*: the covered range (2π minus the largest gap) must
//!   be at least 180° plus the fan angle (less one angular step), and every ray is
//!   weighted with Parker's weights (generalised to over-scans: δ = (range − π)/2 in
//!   place of the half fan angle) so that each line through the object counts once.
//!   [`ShortScan`] forces either treatment.

pub mod fbp;
pub mod fdk;
pub mod filter;
pub mod iterative;
pub mod mar;

pub use fbp::fbp;
pub use fdk::{fdk, fdk_view, FdkOptions};
pub use filter::{filter_projections, Filter};
pub use iterative::{cgls, sart, sirt, IterativeOptions, Reconstruction};
pub use mar::{mar, mar_view, MarMethod, MarOptions};

use std::f64::consts::PI;

use crate::{Error, Result};

/// Angles reduced modulo `period`, with the permutation that sorts them.
fn sorted_mod(angles: &[f64], period: f64) -> (Vec<usize>, Vec<f64>) {
    let reduced: Vec<f64> = angles.iter().map(|a| a.rem_euclid(period)).collect();
    let mut order: Vec<usize> = (0..angles.len()).collect();
    order.sort_by(|&a, &b| reduced[a].total_cmp(&reduced[b]).then(a.cmp(&b)));
    let sorted = order.iter().map(|&i| reduced[i]).collect();
    (order, sorted)
}

/// Circular gaps between sorted angles: `gaps[j]` is from `sorted[j]` to the next one.
fn circular_gaps(sorted: &[f64], period: f64) -> Vec<f64> {
    let n = sorted.len();
    (0..n)
        .map(|j| {
            if j + 1 < n {
                sorted[j + 1] - sorted[j]
            } else {
                sorted[0] + period - sorted[j]
            }
        })
        .collect()
}

/// Per-view angular steps for a full (circular) coverage of `period`: half the gap
/// to each neighbour, in the caller's view order. The steps sum to `period`.
fn circular_steps(angles: &[f64], period: f64) -> Vec<f64> {
    let n = angles.len();
    let (order, sorted) = sorted_mod(angles, period);
    let gaps = circular_gaps(&sorted, period);
    let mut steps = vec![0.0; n];
    for j in 0..n {
        let prev = gaps[(j + n - 1) % n];
        steps[order[j]] = 0.5 * (prev + gaps[j]);
    }
    steps
}

/// The largest circular gap, its index in sorted order, and the mean of the others.
fn largest_gap(gaps: &[f64]) -> (usize, f64, f64) {
    let (j, g) = gaps
        .iter()
        .copied()
        .enumerate()
        .fold((0, f64::NEG_INFINITY), |best, (j, g)| {
            if g > best.1 {
                (j, g)
            } else {
                best
            }
        });
    let total: f64 = gaps.iter().sum();
    let others = if gaps.len() > 1 {
        (total - g) / (gaps.len() - 1) as f64
    } else {
        g
    };
    (j, g, others)
}

/// Angular weights of a parallel-beam scan: `Δθᵢ` (radians) per view, summing to π.
///
/// **Errors** if the angles leave a gap (modulo π) more than four times the mean of the
/// other gaps: FBP needs 180° of coverage.
pub(crate) fn parallel_weights(angles: &[f64]) -> Result<Vec<f64>> {
    if angles.len() >= 3 {
        let (_, sorted) = sorted_mod(angles, PI);
        let gaps = circular_gaps(&sorted, PI);
        let (_, g, others) = largest_gap(&gaps);
        if g > 4.0 * others {
            return Err(Error::invalid(
                "angles",
                format!(
                    "a gap of {:.2}° (modulo 180°) between views",
                    g.to_degrees()
                ),
                format!(
                    "views covering 180° without gaps much larger than the typical step ({:.2}°)",
                    others.to_degrees()
                ),
            ));
        }
    }
    Ok(circular_steps(angles, PI))
}

/// How to treat the angular range of a fan- or cone-beam scan.
///
/// See the module docs: `Auto` tells full from short scans by the largest gap between
/// the sorted angles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShortScan {
    /// Detect: a full scan unless the largest angular gap exceeds 1.5 × the mean of the
    /// others.
    #[default]
    Auto,
    /// Treat as a full 360° scan (weights ½ on redundant rays).
    Full,
    /// Treat as a short scan with Parker weights.
    Parker,
}

/// Parker's short-scan weights for one scan (Parker 1982, generalised to over-scans).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Parker {
    /// Gantry angle where the scan starts (β = 0), radians.
    start: f64,
    /// Half the over-scan beyond 180°: δ = (range − π) / 2, radians.
    delta: f64,
}

impl Parker {
    /// The weight of the ray at gantry angle `theta` whose fan angle is `gamma`
    /// (radians, Parker's sign convention: the conjugate ray of `(β, γ)` is
    /// `(β + π + 2γ, −γ)`). Weights of a ray and its conjugate sum to 1.
    pub(crate) fn weight(&self, theta: f64, gamma: f64) -> f64 {
        let beta = (theta - self.start).rem_euclid(2.0 * PI);
        let d = self.delta;
        let s2 = |x: f64| {
            let s = (0.25 * PI * x).sin();
            s * s
        };
        if d - gamma > 0.0 && beta < 2.0 * (d - gamma) {
            s2(beta / (d - gamma))
        } else if beta <= PI - 2.0 * gamma {
            1.0
        } else if d + gamma > 0.0 && beta <= PI + 2.0 * d {
            s2((PI + 2.0 * d - beta) / (d + gamma))
        } else {
            0.0
        }
    }
}

/// View weights of a fan- or cone-beam scan.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FanWeights {
    /// Per view: the angular step Δβ (radians), times ½ for full scans.
    pub(crate) step: Vec<f64>,
    /// Parker weights for short scans.
    pub(crate) parker: Option<Parker>,
}

/// Angular weights of a fan- or cone-beam scan with full fan angle `fan_angle` (rad).
///
/// **Errors** if a short scan covers less than 180° plus the fan angle (less one step).
pub(crate) fn fan_weights(angles: &[f64], fan_angle: f64, range: ShortScan) -> Result<FanWeights> {
    let n = angles.len();
    let two_pi = 2.0 * PI;
    let (order, sorted) = sorted_mod(angles, two_pi);
    let gaps = circular_gaps(&sorted, two_pi);
    let (jmax, gmax, others) = largest_gap(&gaps);
    let short = match range {
        ShortScan::Auto => n >= 2 && gmax > 1.5 * others,
        ShortScan::Full => false,
        ShortScan::Parker => true,
    };
    if !short {
        let step = circular_steps(angles, two_pi)
            .into_iter()
            .map(|s| 0.5 * s)
            .collect();
        return Ok(FanWeights { step, parker: None });
    }
    let covered = two_pi - gmax;
    let needed = PI + fan_angle;
    if n < 2 || covered + others < needed - 1e-9 {
        return Err(Error::invalid(
            "angles",
            format!("a short scan over {:.2}° ({n} views)", covered.to_degrees()),
            format!(
                "at least 180° plus the fan angle ({:.2}°) = {:.2}°, or a full 360° scan",
                fan_angle.to_degrees(),
                needed.to_degrees()
            ),
        ));
    }
    // The scan starts at the angle after the largest gap; β runs over [0, covered].
    let first = (jmax + 1) % n;
    let start = sorted[first];
    let beta: Vec<f64> = (0..n)
        .map(|j| (sorted[(first + j) % n] - start).rem_euclid(two_pi))
        .collect();
    let mut step = vec![0.0; n];
    for j in 0..n {
        let lo = if j == 0 { beta[0] } else { beta[j - 1] };
        let hi = if j + 1 == n { beta[n - 1] } else { beta[j + 1] };
        step[order[(first + j) % n]] = 0.5 * (hi - lo);
    }
    Ok(FanWeights {
        step,
        parker: Some(Parker {
            start,
            delta: 0.5 * (covered - PI),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_handle_uneven_and_duplicate_angles() {
        let angles = [0.0, 0.3, 0.4, 1.9, 2.5];
        let s = circular_steps(&angles, PI);
        assert!((s.iter().sum::<f64>() - PI).abs() < 1e-12);
        assert!((s[1] - 0.2).abs() < 1e-12);
        // A 360° parallel scan: every direction twice, half weights.
        let full: Vec<f64> = (0..360).map(|i| (i as f64).to_radians()).collect();
        let w = parallel_weights(&full).unwrap();
        for x in &w {
            assert!((x - 0.5f64.to_radians()).abs() < 1e-9, "{x}");
        }
        // 0..150° parallel is not enough.
        let part: Vec<f64> = (0..150).map(|i| (i as f64).to_radians()).collect();
        assert!(parallel_weights(&part)
            .unwrap_err()
            .to_string()
            .contains("180"));
    }

    #[test]
    fn full_and_short_scans_are_told_apart() {
        let full: Vec<f64> = (0..90)
            .map(|i| (4.0 * i as f64).to_radians() + 1.0)
            .collect();
        let w = fan_weights(&full, 0.3, ShortScan::Auto).unwrap();
        assert!(w.parker.is_none());
        assert!((w.step.iter().sum::<f64>() - PI).abs() < 1e-9);
        // Short scan, given in descending order and wrapping through 0.
        let fan = 20f64.to_radians();
        let n = 101;
        let range = PI + fan;
        let short: Vec<f64> = (0..n)
            .rev()
            .map(|i| -0.5 + range * i as f64 / (n - 1) as f64)
            .collect();
        let w = fan_weights(&short, fan, ShortScan::Auto).unwrap();
        let p = w.parker.unwrap();
        assert!(((p.start - (2.0 * PI - 0.5)).abs()) < 1e-9, "{p:?}");
        assert!((p.delta - fan / 2.0).abs() < 1e-9);
        assert!((w.step.iter().sum::<f64>() - range).abs() < 1e-9);
        // Conjugate rays sum to one.
        for &(b, g) in &[(0.05, 0.1), (0.3, -0.15), (1.0, 0.0), (0.01, -0.17)] {
            let t = p.start + b;
            let s = p.weight(t, g) + p.weight(t + PI + 2.0 * g, -g);
            assert!((s - 1.0).abs() < 1e-12, "{b} {g}: {s}");
        }
        // Too short.
        let tiny: Vec<f64> = (0..100).map(|i| (1.5 * i as f64).to_radians()).collect();
        let e = fan_weights(&tiny, fan, ShortScan::Auto).unwrap_err();
        assert!(e.to_string().contains("short scan"), "{e}");
    }
}
