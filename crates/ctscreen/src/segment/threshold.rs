//! Global thresholds (Otsu, multi-Otsu) and hysteresis thresholding.
//!
//! The histogram is scikit-image's for floating-point images: `bins` equal bins over
//! `[min, max]` of the values (the last bin closed), each represented by its centre.
//! Otsu picks the centre of the last bin of the lower class that maximises the
//! between-class variance (first maximum on ties), exactly `skimage.filters.
//! threshold_otsu`; multi-Otsu maximises the sum of `S²/P` over classes (Liao, Chen &
//! Chung 2001) like `threshold_multiotsu`, here by dynamic programming in
//! `O(classes · bins²)` instead of enumeration, taking the lexicographically smallest
//! optimum. Both compute in `f64`; scikit-image computes the bin edges in the image's
//! dtype, so the two can differ by one bin when a value sits on a bin edge.

use ndarray::{Array3, ArrayBase, ArrayView3, Data, Dimension, Zip};
use rayon::prelude::*;

use super::{label::label, Connectivity};
use crate::volume::ensure_finite;
use crate::{Error, Result};

/// Histogram over `[min, max]` with `bins` bins: counts, bin centres.
struct Histogram {
    counts: Vec<u64>,
    centres: Vec<f64>,
}

fn values_of<S: Data<Elem = f32>, D: Dimension>(
    values: &ArrayBase<S, D>,
) -> std::borrow::Cow<'_, [f32]> {
    match values.as_slice_memory_order() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(values.iter().copied().collect()),
    }
}

fn check_values(what: &str, v: &[f32]) -> Result<(f32, f32)> {
    if v.is_empty() {
        return Err(Error::invalid(what, "an empty array", "at least one value"));
    }
    ensure_finite(what, v.iter())?;
    let (lo, hi) = v
        .par_chunks(1 << 16)
        .map(|c| {
            c.iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &x| {
                    (a.min(x), b.max(x))
                })
        })
        .reduce(
            || (f32::INFINITY, f32::NEG_INFINITY),
            |(a, b), (c, d)| (a.min(c), b.max(d)),
        );
    Ok((lo, hi))
}

fn check_bins(bins: usize) -> Result<()> {
    if !(2..=1 << 20).contains(&bins) {
        return Err(Error::invalid("bins", bins, "2 to 1048576 histogram bins"));
    }
    Ok(())
}

/// numpy's rule for equal bins: index from the scaled value, corrected against the
/// edges, the maximum in the last bin.
fn histogram(v: &[f32], lo: f32, hi: f32, bins: usize) -> Histogram {
    let (lo, hi) = (f64::from(lo), f64::from(hi));
    let width = (hi - lo) / bins as f64;
    let edge = |i: usize| lo + i as f64 * width;
    let counts = v
        .par_chunks(1 << 16)
        .map(|c| {
            let mut h = vec![0u64; bins];
            for &x in c {
                let x = f64::from(x);
                let mut i = (((x - lo) / (hi - lo)) * bins as f64) as usize;
                i = i.min(bins - 1);
                if i > 0 && x < edge(i) {
                    i -= 1;
                } else if i + 1 < bins && x >= edge(i + 1) {
                    i += 1;
                }
                h[i] += 1;
            }
            h
        })
        .reduce(
            || vec![0u64; bins],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                a
            },
        );
    let centres = (0..bins).map(|i| lo + (i as f64 + 0.5) * width).collect();
    Histogram { counts, centres }
}

/// Otsu's threshold of `values` (any shape) with a `bins`-bin histogram over
/// `[min, max]`: the centre of the last bin of the lower class; voxels `> t` are
/// foreground. A constant array returns its value. Agrees with
/// `skimage.filters.threshold_otsu(values, nbins=bins)` to within one bin width.
///
/// **Errors** if `values` is empty or holds NaN/±inf ([`Error::NonFinite`], with the
/// count), or `bins` is outside 2..=2²⁰.
///
/// # Example
/// ```
/// use ctscreen::segment::threshold_otsu;
/// let v = ndarray::Array1::from_iter((0..1000).map(|i| if i % 2 == 0 { 1.0f32 } else { 5.0 }));
/// let t = threshold_otsu(&v, 256).unwrap();
/// assert!(t > 1.0 && t < 5.0);
/// ```
pub fn threshold_otsu<S: Data<Elem = f32>, D: Dimension>(
    values: &ArrayBase<S, D>,
    bins: usize,
) -> Result<f32> {
    check_bins(bins)?;
    let v = values_of(values);
    let (lo, hi) = check_values("values", &v)?;
    if lo == hi {
        return Ok(lo);
    }
    let h = histogram(&v, lo, hi, bins);
    Ok(otsu_index(&h.counts, &h.centres).map_or(lo, |i| h.centres[i] as f32))
}

/// Index of the Otsu bin (first maximum of `w1 w2 (m1 − m2)²`).
fn otsu_index(counts: &[u64], centres: &[f64]) -> Option<usize> {
    let n = counts.len();
    let total_w: f64 = counts.iter().map(|&c| c as f64).sum();
    let total_s: f64 = counts
        .iter()
        .zip(centres)
        .map(|(&c, &x)| c as f64 * x)
        .sum();
    let (mut w1, mut s1) = (0.0f64, 0.0f64);
    let mut best = None;
    let mut best_v = f64::NEG_INFINITY;
    for i in 0..n - 1 {
        w1 += counts[i] as f64;
        s1 += counts[i] as f64 * centres[i];
        let w2 = total_w - w1;
        if w1 <= 0.0 || w2 <= 0.0 {
            // numpy gives NaN here, which argmax skips unless everything is NaN.
            continue;
        }
        let d = s1 / w1 - (total_s - s1) / w2;
        let var = w1 * w2 * d * d;
        if var > best_v {
            best_v = var;
            best = Some(i);
        }
    }
    best
}

/// Multi-level Otsu thresholds: the `classes − 1` thresholds (ascending, bin centres)
/// that split the `bins`-bin histogram of `values` into `classes` classes of maximal
/// between-class variance; class `k` holds values in `(t[k−1], t[k]]`. Agrees with
/// `skimage.filters.threshold_multiotsu(values, classes, nbins=bins)` to within one
/// bin width.
///
/// **Errors** if `values` is empty or not finite, `classes` is outside 2..=32, `bins`
/// outside 2..=65536, or the histogram has fewer occupied bins than `classes` (the
/// message says to increase `bins`, as scikit-image's does).
///
/// # Example
/// ```
/// use ctscreen::segment::threshold_multiotsu;
/// let v = ndarray::Array1::from_iter((0..3000).map(|i| (i % 3) as f32 * 10.0));
/// let t = threshold_multiotsu(&v, 3, 256).unwrap();
/// assert_eq!(t.len(), 2);
/// assert!(t[0] >= 0.0 && t[0] < 10.0 && t[1] >= 10.0 && t[1] < 20.0);
/// ```
pub fn threshold_multiotsu<S: Data<Elem = f32>, D: Dimension>(
    values: &ArrayBase<S, D>,
    classes: usize,
    bins: usize,
) -> Result<Vec<f32>> {
    if !(2..=32).contains(&classes) {
        return Err(Error::invalid("classes", classes, "2 to 32 classes"));
    }
    check_bins(bins)?;
    if bins > 1 << 16 {
        return Err(Error::invalid(
            "bins",
            bins,
            "2 to 65536 histogram bins for multi-Otsu",
        ));
    }
    let v = values_of(values);
    let (lo, hi) = check_values("values", &v)?;
    let h = if lo == hi {
        // One occupied bin whatever `bins` is.
        Histogram {
            counts: vec![v.len() as u64],
            centres: vec![f64::from(lo)],
        }
    } else {
        histogram(&v, lo, hi, bins)
    };
    let occupied: Vec<usize> = (0..h.counts.len()).filter(|&i| h.counts[i] > 0).collect();
    if occupied.len() < classes {
        return Err(Error::invalid(
            "classes",
            classes,
            format!(
                "at most {} classes: after binning into {bins} bins the values take only {} different values (try more bins)",
                occupied.len(),
                occupied.len()
            ),
        ));
    }
    let idx = if occupied.len() == classes {
        occupied[..classes - 1].to_vec()
    } else {
        multiotsu_indices(&h.counts, classes - 1)
    };
    Ok(idx.iter().map(|&i| h.centres[i] as f32).collect())
}

/// The lexicographically smallest threshold indices `t_1 < … < t_m` maximising
/// `Σ S²/P` over the classes `[0, t_1], [t_1 + 1, t_2], …, [t_m + 1, n − 1]` (empty
/// probability classes count 0), every class at least one bin wide.
fn multiotsu_indices(counts: &[u64], m: usize) -> Vec<usize> {
    let n = counts.len();
    // Cumulative zeroth and first moments (bin index as the coordinate: an affine
    // change of coordinate does not move the optimum).
    let mut p = vec![0.0f64; n + 1];
    let mut s = vec![0.0f64; n + 1];
    for i in 0..n {
        p[i + 1] = p[i] + counts[i] as f64;
        s[i + 1] = s[i] + counts[i] as f64 * i as f64;
    }
    let var = |a: usize, b: usize| {
        // Class of bins a..=b.
        let pp = p[b + 1] - p[a];
        if pp > 0.0 {
            let ss = s[b + 1] - s[a];
            ss * ss / pp
        } else {
            0.0
        }
    };
    // g[k][a]: best value of classes k..=m when class k starts at bin a;
    // next[k][a]: the smallest end bin of class k achieving it.
    let mut g = vec![vec![f64::NEG_INFINITY; n]; m + 1];
    let mut next = vec![vec![0usize; n]; m + 1];
    for a in 0..n {
        g[m][a] = var(a, n - 1);
    }
    for k in (1..m).rev() {
        // Class k needs ≥ 1 bin and m − k classes after it ≥ 1 bin each.
        for a in k..n - (m - k) {
            let mut best = f64::NEG_INFINITY;
            let mut arg = a;
            for b in a..n - (m - k) {
                let v = var(a, b) + g[k + 1][b + 1];
                if v > best {
                    best = v;
                    arg = b;
                }
            }
            g[k][a] = best;
            next[k][a] = arg;
        }
    }
    let mut best = f64::NEG_INFINITY;
    let mut t1 = 0;
    for b in 0..n - m {
        let v = var(0, b) + g[1][b + 1];
        if v > best {
            best = v;
            t1 = b;
        }
    }
    let mut t = vec![t1];
    for k in 1..m {
        let prev = *t.last().expect("non-empty");
        t.push(next[k][prev + 1]);
    }
    t
}

/// Hysteresis thresholding: the voxels `> low` that are connected (through voxels
/// `> low`, under `connectivity`) to at least one voxel `> high`. `low` is clamped to
/// at most `high`, as `skimage.filters.apply_hysteresis_threshold` does (which uses
/// 6-connectivity in 3D, 4 in 2D).
///
/// **Errors** if `volume` is empty or holds NaN/±inf, or `low`/`high` is NaN.
///
/// # Example
/// ```
/// use ctscreen::segment::{hysteresis, Connectivity};
/// let v = ndarray::Array3::from_shape_vec((1, 1, 9), vec![1.0f32, 2., 3., 2., 1., 2., 1., 3., 2.]).unwrap();
/// let m = hysteresis(v.view(), 1.5, 2.5, Connectivity::Six).unwrap();
/// let want = [false, true, true, true, false, false, false, true, true];
/// assert_eq!(m.iter().copied().collect::<Vec<_>>(), want);
/// ```
pub fn hysteresis(
    volume: ArrayView3<'_, f32>,
    low: f32,
    high: f32,
    connectivity: Connectivity,
) -> Result<Array3<bool>> {
    if low.is_nan() || high.is_nan() {
        return Err(Error::invalid(
            "low/high",
            format!("{low}/{high}"),
            "thresholds that are not NaN",
        ));
    }
    ensure_finite("volume", volume.iter())?;
    let low = low.min(high);
    let mask_low = volume.mapv(|v| v > low);
    let (labels, n) = label(mask_low.view(), connectivity)?;
    let mut keep = vec![false; n + 1];
    Zip::from(&labels).and(&volume).for_each(|&l, &v| {
        if v > high {
            keep[l as usize] = true;
        }
    });
    keep[0] = false;
    Ok(labels.mapv(|l| keep[l as usize]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array1;
    use rand::{Rng, SeedableRng};

    #[test]
    fn otsu_splits_two_modes_and_errors() {
        let v: Array1<f32> = (0..200).map(|i| if i < 120 { 0.0 } else { 10.0 }).collect();
        let t = threshold_otsu(&v, 256).unwrap();
        // Every bin between the modes gives the same variance: the first wins.
        assert!((t - 10.0 / 512.0).abs() < 1e-6, "{t}");
        let c: Array1<f32> = Array1::from_elem(5, 3.5);
        assert_eq!(threshold_otsu(&c, 256).unwrap(), 3.5);
        let mut bad = v.clone();
        bad[3] = f32::NAN;
        bad[7] = f32::NAN;
        let e = threshold_otsu(&bad, 256).unwrap_err().to_string();
        assert!(e.contains('2') && e.contains("values"), "{e}");
        assert!(threshold_otsu(&v, 1).is_err());
        assert!(threshold_otsu(&Array1::<f32>::zeros(0), 256).is_err());
    }

    #[test]
    fn otsu_matches_brute_force_variance() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(2);
        let v: Array1<f32> = (0..5000)
            .map(|_| {
                if rng.random_bool(0.3) {
                    rng.random_range(5.0..9.0)
                } else {
                    rng.random_range(0.0..6.0)
                }
            })
            .collect();
        let t = threshold_otsu(&v, 64).unwrap();
        // Brute force over the bin centres on the raw values: the between-class
        // variance of the split at t is maximal among all centres.
        let bv = |th: f32| {
            let (a, b): (Vec<f32>, Vec<f32>) = v.iter().partition(|&&x| x <= th);
            let (na, nb) = (a.len() as f64, b.len() as f64);
            if na == 0.0 || nb == 0.0 {
                return 0.0;
            }
            let ma = a.iter().map(|&x| x as f64).sum::<f64>() / na;
            let mb = b.iter().map(|&x| x as f64).sum::<f64>() / nb;
            na * nb * (ma - mb).powi(2)
        };
        let (lo, hi) = (0.0f32, 9.0f32);
        let w = (hi - lo) / 64.0;
        let best = (0..64)
            .map(|i| bv(lo + (i as f32 + 0.5) * w))
            .fold(0.0, f64::max);
        // Bin-centre binning vs raw values: within 2 % of the true optimum.
        assert!(bv(t) >= 0.98 * best, "{} vs {}", bv(t), best);
    }

    #[test]
    fn otsu_follows_affine_changes_of_the_values() {
        // t(a·x + b) = a·t(x) + b: the histogram of the mapped values is the same
        // histogram with mapped bin centres (up to f32 rounding of the values).
        let mut rng = rand_pcg::Pcg64::seed_from_u64(21);
        let v: Array1<f32> = (0..4000)
            .map(|i| {
                if i % 4 == 0 {
                    rng.random_range(3.0..4.0)
                } else {
                    rng.random_range(0.0..2.5)
                }
            })
            .collect();
        let t = threshold_otsu(&v, 128).unwrap() as f64;
        for (a, b) in [(2.0f32, 0.0f32), (0.5, 10.0), (3.0, -7.0)] {
            let w = v.mapv(|x| a * x + b);
            let tw = threshold_otsu(&w, 128).unwrap() as f64;
            let width = 4.0 * a as f64 / 128.0;
            assert!(
                (tw - (a as f64 * t + b as f64)).abs() <= width,
                "{a} {b}: {tw} vs {t}"
            );
        }
    }

    #[test]
    fn multiotsu_three_modes_and_monotone() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(3);
        let v: Array1<f32> = (0..6000)
            .map(|i| (i % 3) as f32 * 10.0 + rng.random_range(-1.0..1.0))
            .collect();
        let t = threshold_multiotsu(&v, 3, 256).unwrap();
        // Any split inside the gaps is optimal; the first (lowest) is taken.
        assert!(
            t[0] > 0.5 && t[0] < 1.5 && t[1] > 10.5 && t[1] < 11.5,
            "{t:?}"
        );
        for k in 2..6 {
            let t = threshold_multiotsu(&v, k, 128).unwrap();
            assert_eq!(t.len(), k - 1);
            assert!(t.windows(2).all(|w| w[0] < w[1]), "{t:?}");
        }
        // Two classes: the same criterion as Otsu.
        let t2 = threshold_multiotsu(&v, 2, 256).unwrap();
        assert_eq!(t2[0], threshold_otsu(&v, 256).unwrap());
        let few: Array1<f32> = (0..10).map(|i| (i % 2) as f32).collect();
        let e = threshold_multiotsu(&few, 3, 256).unwrap_err().to_string();
        assert!(e.contains("bins"), "{e}");
        let exact: Array1<f32> = (0..9).map(|i| (i % 3) as f32).collect();
        let t = threshold_multiotsu(&exact, 3, 256).unwrap();
        assert!(t[0] < 0.01 && (t[1] - 1.0).abs() < 0.01, "{t:?}");
    }

    #[test]
    fn multiotsu_dp_matches_enumeration() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(9);
        for _ in 0..20 {
            let n = 24;
            let counts: Vec<u64> = (0..n)
                .map(|_| {
                    if rng.random_bool(0.3) {
                        0
                    } else {
                        rng.random_range(1..100)
                    }
                })
                .collect();
            let m = 2;
            let got = multiotsu_indices(&counts, m);
            let score = |t: &[usize]| {
                let mut bounds = vec![0];
                bounds.extend(t.iter().map(|&x| x + 1));
                bounds.push(n);
                bounds
                    .windows(2)
                    .map(|w| {
                        let p: f64 = counts[w[0]..w[1]].iter().map(|&c| c as f64).sum();
                        let s: f64 = (w[0]..w[1]).map(|i| counts[i] as f64 * i as f64).sum();
                        if p > 0.0 {
                            s * s / p
                        } else {
                            0.0
                        }
                    })
                    .sum::<f64>()
            };
            let mut best = (f64::NEG_INFINITY, vec![]);
            for a in 0..n - 2 {
                for b in a + 1..n - 1 {
                    let v = score(&[a, b]);
                    if v > best.0 * (1.0 + 1e-12) {
                        best = (v, vec![a, b]);
                    }
                }
            }
            assert!(
                (score(&got) - best.0).abs() <= 1e-9 * best.0,
                "{got:?} {best:?}"
            );
        }
    }

    #[test]
    fn hysteresis_keeps_components_touching_high() {
        let mut v = Array3::<f32>::zeros((3, 5, 5));
        v[[1, 1, 1]] = 0.6;
        v[[1, 1, 2]] = 0.9; // high, joined to [1,1,1]
        v[[0, 4, 4]] = 0.6; // low only, isolated
        v[[2, 2, 2]] = 0.6; // edge-adjacent to [1, 1, 2]: joined at 18 and 26, not 6
        let m6 = hysteresis(v.view(), 0.5, 0.8, Connectivity::Six).unwrap();
        assert!(m6[[1, 1, 1]] && m6[[1, 1, 2]] && !m6[[0, 4, 4]] && !m6[[2, 2, 2]]);
        let m26 = hysteresis(v.view(), 0.5, 0.8, Connectivity::TwentySix).unwrap();
        assert!(m26[[2, 2, 2]] && !m26[[0, 4, 4]]);
        // Raising the high threshold never adds voxels.
        let m_hi = hysteresis(v.view(), 0.5, 0.95, Connectivity::Six).unwrap();
        assert!(m_hi.iter().zip(m6.iter()).all(|(&a, &b)| !a || b));
        assert!(m_hi.iter().all(|&x| !x));
        let mut bad = v.clone();
        bad[[0, 0, 0]] = f32::NAN;
        assert!(hysteresis(bad.view(), 0.5, 0.8, Connectivity::Six).is_err());
    }
}
