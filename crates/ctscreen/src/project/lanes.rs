//! Rays traced side by side: [`LANES`] rays of a detector row that step along the same
//! dominant axis, plane by plane, with the sample points, tap indices and weights in
//! vector registers (see the parent module's notes on order and determinism).
//!
//! The kernels run only where the CPU has AVX2 ([`lane_kernels`]); elsewhere the
//! projector traces rays one at a time, and these items go unused.
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]

use super::{Grid, Ray};

/// Rays traced side by side by the [`LaneKernels`].
pub(super) const LANES: usize = 8;

/// Traces [`LANES`] rays: their line integrals through `x`, taps inside the index box
/// `lo..hi` only.
pub(super) type TraceLanes = fn(&RayLanes, &Grid, [i64; 3], [i64; 3], &[f32]) -> [f64; LANES];

/// Scatters [`LANES`] rays' values into a slab of the volume starting at flat index
/// `offset` ([`scatter_lanes_generic`]).
pub(super) type ScatterLanes =
    fn(&RayLanes, &Grid, [i64; 3], [i64; 3], &[f32; LANES], &mut [f32], usize);

/// The lane kernels compiled for this CPU.
#[derive(Clone, Copy)]
pub(super) struct LaneKernels {
    pub(super) trace: TraceLanes,
    pub(super) scatter: ScatterLanes,
}

/// The lane kernels for this CPU, chosen once per projection: with AVX2 (and
/// AVX-512F for the trace; the scatter, scalar stores, measured no faster with it).
/// `None` elsewhere: compiled for the baseline instruction set the kernels measured
/// slower than one ray at a time (the adjoint of a 128³ cone beam: 2.5 s against
/// 1.9 s), so rays are then traced alone.
pub(super) fn lane_kernels() -> Option<LaneKernels> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            let trace: TraceLanes = if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: chosen only when the CPU reports AVX-512F and AVX2, the
                // features the function is compiled for.
                |l, g, lo, hi, x| unsafe { trace_lanes_avx512(l, g, lo, hi, x) }
            } else {
                // SAFETY: chosen only when the CPU reports AVX2.
                |l, g, lo, hi, x| unsafe { trace_lanes_avx2(l, g, lo, hi, x) }
            };
            return Some(LaneKernels {
                trace,
                // SAFETY: chosen only when the CPU reports AVX2.
                scatter: |l, g, lo, hi, v, out, offset| unsafe {
                    scatter_lanes_avx2(l, g, lo, hi, v, out, offset)
                },
            });
        }
    }
    None
}

/// [`LANES`] rays that step along the same dominant axis, as structure of arrays, each
/// with its plane range clipped to a box.
pub(super) struct RayLanes {
    m: usize,
    p: usize,
    q: usize,
    am: [f64; LANES],
    ap: [f64; LANES],
    aq: [f64; LANES],
    rp: [f64; LANES],
    rq: [f64; LANES],
    len: [f32; LANES],
    k0: [i64; LANES],
    k1: [i64; LANES],
    /// Every ray lies in one plane of axis `p` (`rp = 0`, `ap` a whole index, as in a 2D
    /// slice): its taps along `p` all carry weight 0 but the first.
    flat_p: bool,
}

impl RayLanes {
    /// The lanes of `rays` clipped to the index box `lo..hi`; `None` when their
    /// dominant axes differ or the grid `g` has 2³¹ voxels or more.
    pub(super) fn new(g: &Grid, rays: &[Ray; LANES], lo: [i64; 3], hi: [i64; 3]) -> Option<Self> {
        let (m, p, q) = (rays[0].m, rays[0].p, rays[0].q);
        if rays.iter().any(|r| r.m != m) || g.n.iter().product::<i64>() >= i64::from(i32::MAX) {
            return None;
        }
        // A ray that misses the box can have an empty range with far-off ends; bring
        // them next to the box (still empty, k0 > k1) so that they fit in i32.
        let ranges: [(i64, i64); LANES] = std::array::from_fn(|l| {
            let (k0, k1) = rays[l].clip(lo, hi);
            (k0.min(hi[m]), k1.max(lo[m] - 1))
        });
        Some(Self {
            m,
            p,
            q,
            am: rays.map(|r| r.a[m]),
            ap: rays.map(|r| r.a[p]),
            aq: rays.map(|r| r.a[q]),
            rp: rays.map(|r| r.rp),
            rq: rays.map(|r| r.rq),
            len: rays.map(|r| r.len as f32),
            k0: ranges.map(|r| r.0),
            k1: ranges.map(|r| r.1),
            flat_p: rays.iter().all(|r| r.rp == 0.0 && r.a[p].fract() == 0.0),
        })
    }
}

/// Defines `$name`, [`trace_lanes_generic`] with AVX2 gathers compiled for the
/// target features `$features` (which must include AVX2).
macro_rules! trace_lanes_with_features {
    ($name:ident, $features:literal) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $features)]
        fn $name(
            lanes: &RayLanes,
            g: &Grid,
            lo: [i64; 3],
            hi: [i64; 3],
            x: &[f32],
        ) -> [f64; LANES] {
            trace_lanes_generic(lanes, g, lo, hi, x, |x, index| {
                // SAFETY: this closure runs inside a function compiled for AVX2, called
                // only when the CPU reports it; `gather_avx2`'s contract on the indices
                // is `trace_lanes_taps`'s.
                unsafe { gather_avx2(x, index) }
            })
        }
    };
}

trace_lanes_with_features!(trace_lanes_avx512, "avx512f,avx2");
trace_lanes_with_features!(trace_lanes_avx2, "avx2");

/// `x[index[l]]` for each lane, in one AVX2 gather.
///
/// # Safety
/// The CPU must support AVX2, and every index must be in bounds of `x`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn gather_avx2(x: &[f32], index: &[i32; LANES]) -> [f32; LANES] {
    use std::arch::x86_64::{_mm256_i32gather_ps, _mm256_loadu_si256, _mm256_storeu_ps};
    let mut out = [0.0f32; LANES];
    // SAFETY: `index` and `out` are 8 lanes of 32 bits, as the unaligned load and store
    // read and write; the caller guarantees the gathered addresses lie in `x`.
    unsafe {
        let v = _mm256_loadu_si256(index.as_ptr().cast());
        let g = _mm256_i32gather_ps::<4>(x.as_ptr(), v);
        _mm256_storeu_ps(out.as_mut_ptr(), g);
    }
    out
}

#[inline(always)]
pub(super) fn trace_lanes_generic(
    lanes: &RayLanes,
    g: &Grid,
    lo: [i64; 3],
    hi: [i64; 3],
    x: &[f32],
    gather: impl Fn(&[f32], &[i32; LANES]) -> [f32; LANES],
) -> [f64; LANES] {
    if lanes.flat_p {
        trace_lanes_taps::<true>(lanes, g, lo, hi, x, gather)
    } else {
        trace_lanes_taps::<false>(lanes, g, lo, hi, x, gather)
    }
}

/// `x[index[l]]` for each lane, one load at a time: the portable gather, against
/// which the tests check the vector kernels.
#[cfg(test)]
#[inline(always)]
pub(super) fn gather_scalar(x: &[f32], index: &[i32; LANES]) -> [f32; LANES] {
    index.map(|i| x[i as usize])
}

/// Taps per plane of a lane: two along `p` times two along `q`.
const TAPS: usize = 4;

/// [`Ray::trace`] for [`LANES`] rays at once: for each plane of their joint range, in
/// order, calls `visit(index, weight)` with the flat voxel index and weight of each
/// tap (`[tap][lane]`, taps in the order of [`Ray::trace`]) and the number of taps that
/// may be nonzero (2 with `FLAT_P`, whose taps past the first along `p` all weigh 0).
/// A plane outside a ray's range, or a tap outside the box `lo..hi`, has index 0 and
/// weight 0. The weights are the very numbers [`Ray::trace`] gives.
#[inline(always)]
fn lanes_planes<const FLAT_P: bool>(
    lanes: &RayLanes,
    g: &Grid,
    lo: [i64; 3],
    hi: [i64; 3],
    mut visit: impl FnMut(&[[i32; LANES]; TAPS], &[[f32; LANES]; TAPS], usize),
) {
    let (Some(&kmin), Some(&kmax)) = (lanes.k0.iter().min(), lanes.k1.iter().max()) else {
        return;
    };
    // 32-bit index arithmetic (it vectorises): `RayLanes::new` takes only grids of fewer
    // than 2³¹ voxels, so every index, stride and bound fits.
    let (m, p, q) = (lanes.m, lanes.p, lanes.q);
    let (sm, sp, sq) = (
        g.strides[m] as i32,
        g.strides[p] as i32,
        g.strides[q] as i32,
    );
    let (lo_p, hi_p, lo_q, hi_q) = (lo[p] as i32, hi[p] as i32, lo[q] as i32, hi[q] as i32);
    let k0 = lanes.k0.map(|k| k as i32);
    let k1 = lanes.k1.map(|k| k as i32);
    let taps = if FLAT_P { 2 } else { TAPS };
    // An empty range (kmin > kmax) visits nothing.
    for k in kmin as i32..=kmax as i32 {
        // Clipping keeps every ray's planes inside lo[m]..hi[m]; k can lie one plane
        // outside only through an empty range, whose lane is off.
        let base = k * sm;
        let mut index = [[0i32; LANES]; TAPS];
        let mut weight = [[0.0f32; LANES]; TAPS];
        for l in 0..LANES {
            let on = k >= k0[l] && k <= k1[l];
            let dk = f64::from(k) - lanes.am[l];
            let cp = lanes.ap[l] + dk * lanes.rp[l];
            let cq = lanes.aq[l] + dk * lanes.rq[l];
            // As in `Ray::trace`; the clamp only moves points far outside the grid
            // (whose taps are skipped) into the range of i32.
            // SAFETY: `max` then `min` give a finite value in [0, 1e9] (never NaN: `max`
            // returns its other operand for NaN), which truncates into i32. (`clamp`
            // would pass a NaN through.)
            #[allow(clippy::manual_clamp)]
            let ip = unsafe { (cp + 4.0).max(0.0).min(1e9).to_int_unchecked::<i32>() } - 4;
            // SAFETY: as for `ip`.
            #[allow(clippy::manual_clamp)]
            let iq = unsafe { (cq + 4.0).max(0.0).min(1e9).to_int_unchecked::<i32>() } - 4;
            let fp = (cp - f64::from(ip)) as f32;
            let fq = (cq - f64::from(iq)) as f32;
            let len = lanes.len[l];
            let wp = [len * (1.0 - fp), len * fp];
            let wq = [1.0 - fq, fq];
            for dp in 0..2 {
                let jp = ip + dp as i32;
                let in_p = on && jp >= lo_p && jp < hi_p;
                for dq in 0..2 {
                    let jq = iq + dq as i32;
                    let inside = in_p && jq >= lo_q && jq < hi_q;
                    let t = 2 * dp + dq;
                    index[t][l] = if inside { base + jp * sp + jq * sq } else { 0 };
                    weight[t][l] = if inside { wp[dp] * wq[dq] } else { 0.0 };
                }
            }
        }
        visit(&index, &weight, taps);
    }
}

/// The line integrals of [`LANES`] rays, each summing `w · x[i]` over its taps in the
/// order of [`Ray::trace`]: a tap of index 0 and weight 0 adds `0 · x[0]`, which leaves
/// a sum unchanged (the sums start at +0 and `x` is finite).
#[inline(always)]
fn trace_lanes_taps<const FLAT_P: bool>(
    lanes: &RayLanes,
    g: &Grid,
    lo: [i64; 3],
    hi: [i64; 3],
    x: &[f32],
    gather: impl Fn(&[f32], &[i32; LANES]) -> [f32; LANES],
) -> [f64; LANES] {
    let mut acc = [0.0f64; LANES];
    if x.is_empty() {
        return acc;
    }
    lanes_planes::<FLAT_P>(lanes, g, lo, hi, |index, weight, taps| {
        for t in 0..taps {
            // An index is 0 (x is not empty) or that of a voxel inside the index box,
            // which lies in the grid `x` fills.
            let v = gather(x, &index[t]);
            for l in 0..LANES {
                acc[l] += f64::from(weight[t][l] * v[l]);
            }
        }
    });
    acc
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn scatter_lanes_avx2(
    lanes: &RayLanes,
    g: &Grid,
    lo: [i64; 3],
    hi: [i64; 3],
    values: &[f32; LANES],
    out: &mut [f32],
    offset: usize,
) {
    scatter_lanes_generic(lanes, g, lo, hi, values, out, offset)
}

/// The adjoint of [`trace_lanes_generic`]: adds `w · values[l]` to `out[i − offset]`
/// for every tap `(i, w)` of every lane `l`, lane by lane within a plane. A voxel gets
/// at most one tap of a ray (in the ray's plane through it), so each voxel receives
/// its terms ray after ray in the order of the rays, as when they are scattered one by
/// one. Taps of weight 0 (and lanes of value 0) are skipped: they would add 0.
#[inline(always)]
fn scatter_lanes_generic(
    lanes: &RayLanes,
    g: &Grid,
    lo: [i64; 3],
    hi: [i64; 3],
    values: &[f32; LANES],
    out: &mut [f32],
    offset: usize,
) {
    let visit = |index: &[[i32; LANES]; TAPS], weight: &[[f32; LANES]; TAPS], taps: usize| {
        for l in 0..LANES {
            let v = values[l];
            if v == 0.0 {
                continue;
            }
            for t in 0..taps {
                let w = weight[t][l];
                if w != 0.0 {
                    out[index[t][l] as usize - offset] += w * v;
                }
            }
        }
    };
    if lanes.flat_p {
        lanes_planes::<true>(lanes, g, lo, hi, visit)
    } else {
        lanes_planes::<false>(lanes, g, lo, hi, visit)
    }
}
