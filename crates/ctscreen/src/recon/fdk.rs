//! FDK (Feldkamp–Davis–Kress) reconstruction for circular cone beams, and its 2D case,
//! fan-beam FBP on a flat detector.
//!
//! ## The algorithm
//!
//! For a view at gantry angle θ and a detector pixel at `(u, v)` mm from the principal
//! point (the foot of the perpendicular from the source, i.e. the detector centre minus
//! its offsets), with SOD the source-to-isocentre and SDD the source-to-detector
//! distance:
//!
//! 1. cosine (Feldkamp) weighting: `p ← p · SDD / √(SDD² + u² + v²)`;
//! 2. short scans: Parker's weight `w(β, γ)`, `γ` the fan angle of the column
//!    (see [`crate::recon`] for the choice between full and short scans); full scans:
//!    `w = ½`; times the view's angular step `Δβ`;
//! 3. ramp filtering along each detector row with the pitch scaled to the isocentre,
//!    `τ = du · SOD / SDD` ([`crate::recon::filter`]);
//! 4. voxel-driven backprojection with the distance weight `1/U²`, where
//!    `U = (SOD + y cos θ − x sin θ) / SOD` is the voxel's depth along the central ray
//!    over SOD, and bilinear interpolation on the detector.
//!
//! Reconstructing exact line integrals gives μ in mm⁻¹.
//!
//! ## The backprojector
//!
//! The hot loop works on columns of voxels along the rotation axis z: for one column and
//! one view the detector column `u` (and its interpolation weights) and the distance
//! weight are shared by the whole column, and the detector row is linear in z. So the two
//! detector columns around `u` are blended once (weights included) into a 1D line, the
//! valid z range is clipped once (RabbitCT-style line clipping), and the inner loop is a
//! 1D linear interpolation along the line, vectorised across z (AVX2 + FMA gathers where
//! the CPU has them, a scalar loop otherwise). Filtered views are stored transposed
//! (`(cols, rows)`, rows contiguous) with zero borders. Work is split over rayon tasks
//! by slabs of y rows; each task walks x tiles of its slab and, for every tile, passes over
//! sub-blocks of 8 views so the tile's accumulators and the views' detector footprint stay
//! in cache. Every voxel is written by one task and sums the views in their fixed order,
//! so results are bit-identical on any number of threads.
//!
//! ## Memory
//!
//! Besides the output volume (`nz · ny · nx · 4` bytes) FDK holds one block of filtered
//! projections, at most `view_block · (cols + 2) · (rows + 4) · 4` bytes
//! ([`FdkOptions::view_block`], default 32 views), and per worker thread a tile buffer of
//! `4 · 16 · nz · 4` bytes plus a few rows of scratch. The input projections are only
//! read.

use ndarray::{Array3, ArrayView3, Axis};
use rayon::prelude::*;

use super::filter::{Filter, RampFilter};
use super::{fan_weights, FanWeights, ShortScan};
use crate::geometry::{Detector, Geometry};
use crate::progress::{check, Progress};
use crate::volume::{ensure_allocatable, ensure_finite};
use crate::{Error, Projections, Result, Volume};

/// Options of [`fdk`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdkOptions {
    /// The ramp-family filter (default Ram–Lak).
    pub filter: Filter,
    /// Full or short scan (default: detect from the angles).
    pub short_scan: ShortScan,
    /// Views filtered and backprojected per block; bounds the memory for filtered
    /// projections (see the module docs). 0 means the default, 32.
    pub view_block: usize,
}

impl Default for FdkOptions {
    fn default() -> Self {
        Self {
            filter: Filter::RamLak,
            short_scan: ShortScan::Auto,
            view_block: 32,
        }
    }
}

/// A circular fan or cone geometry, unpacked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Circular<'a> {
    pub(crate) angles: &'a [f64],
    pub(crate) sod: f64,
    pub(crate) sdd: f64,
    pub(crate) det: Detector,
}

impl<'a> Circular<'a> {
    /// The circular source geometry of a cone or fan beam.
    ///
    /// **Errors** for parallel-beam and vector geometries.
    pub(crate) fn of(geometry: &'a Geometry) -> Result<Self> {
        geometry.validate()?;
        match geometry {
            Geometry::Cone(g) => Ok(Self {
                angles: &g.angles_rad,
                sod: g.source_to_isocenter_mm,
                sdd: g.source_to_detector_mm,
                det: g.detector,
            }),
            Geometry::Fan(g) => Ok(Self {
                angles: &g.angles_rad,
                sod: g.source_to_isocenter_mm,
                sdd: g.source_to_detector_mm,
                det: g.detector,
            }),
            Geometry::Parallel(_) => Err(Error::invalid(
                "geometry",
                "parallel beam",
                "a circular cone- or fan-beam geometry (use fbp for parallel beams)",
            )),
            Geometry::Vector(_) => Err(Error::invalid(
                "geometry",
                "vector geometry",
                "a circular cone- or fan-beam geometry (use an iterative solver for vector geometries)",
            )),
        }
    }

    /// Full fan angle subtended by the detector columns (offsets included), radians.
    fn fan_angle(&self) -> f64 {
        let half = self.det.cols as f64 / 2.0 * self.det.col_spacing_mm;
        let reach = (self.det.col_offset_mm - half)
            .abs()
            .max((self.det.col_offset_mm + half).abs());
        2.0 * (reach / self.sdd).atan()
    }
}

/// Checks a reconstruction grid: sizes ≥ 1 and spacings finite and positive, and that
/// the volume can be allocated.
pub(crate) fn check_grid(shape: &[usize], spacing_mm: &[f64], what: &str) -> Result<()> {
    if shape.contains(&0) {
        return Err(Error::invalid(
            "shape",
            format!("{shape:?}"),
            "sizes ≥ 1 on every axis",
        ));
    }
    if spacing_mm.iter().any(|s| !s.is_finite() || *s <= 0.0) {
        return Err(Error::invalid(
            "spacing_mm",
            format!("{spacing_mm:?}"),
            "finite voxel spacings > 0 mm",
        ));
    }
    ensure_allocatable(what, shape.iter().map(|&n| n as u128).product(), 4)
}

/// Checks projections against a geometry: shape and finiteness.
pub(crate) fn check_projections(data: &ArrayView3<'_, f32>, geometry: &Geometry) -> Result<()> {
    let want = geometry.projection_shape();
    let found: [usize; 3] = data.dim().into();
    if want != found {
        return Err(Error::shape(
            "projections (views, rows, cols) vs geometry",
            want,
            found,
        ));
    }
    ensure_finite("projections", data.iter())
}

/// FDK reconstruction of circular cone-beam projections (or fan-beam ones, as the
/// one-row case) onto a grid of `shape` `[nz, ny, nx]` voxels of `spacing_mm`
/// `[dz, dy, dx]` mm centred on the isocentre. Returns μ in mm⁻¹.
///
/// Full and short scans are told apart from the angles (or as
/// [`FdkOptions::short_scan`] says); short scans get Parker weights. Detector offsets
/// are taken from the geometry. Progress is reported in views; cancellation is checked
/// between blocks of views.
///
/// **Errors** if the geometry is not a cone or fan beam, the projections do not have the
/// geometry's shape or hold NaN/inf values (the count is named), the grid is empty or its
/// spacing not positive, a short scan covers less than 180° plus the fan angle, the
/// output would not fit in memory, or the operation is cancelled.
///
/// # Example
/// ```
/// use ctscreen::geometry::{ConeBeamGeometry, Geometry};
/// use ctscreen::recon::{fdk, FdkOptions};
/// use ctscreen::{NoProgress, Projections};
/// let angles: Vec<f64> = (0..90).map(|i| (4.0 * i as f64).to_radians()).collect();
/// let g: Geometry = ConeBeamGeometry::new(angles, 300.0, 600.0, (16, 32), (2.0, 2.0), (0.0, 0.0))
///     .unwrap()
///     .into();
/// let p = Projections::new(ndarray::Array3::zeros((90, 16, 32))).unwrap();
/// let v = fdk(&p, &g, [8, 16, 16], [1.0, 1.0, 1.0], &FdkOptions::default(), &NoProgress).unwrap();
/// assert_eq!(v.shape(), [8, 16, 16]);
/// assert_eq!(v.origin(), [-3.5, -7.5, -7.5]);
/// ```
pub fn fdk(
    projections: &Projections,
    geometry: &Geometry,
    shape: [usize; 3],
    spacing_mm: [f64; 3],
    options: &FdkOptions,
    progress: &dyn Progress,
) -> Result<Volume> {
    let circ = Circular::of(geometry)?;
    let data = projections.data().view();
    check_projections(&data, geometry)?;
    check_grid(&shape, &spacing_mm, "FDK volume")?;
    let out = fdk_core(data, &circ, shape, spacing_mm, options, progress)?;
    Volume::centered(out, spacing_mm)
}

/// Geometry constants of the backprojector, in padded detector index units.
#[derive(Debug, Clone, Copy)]
struct Setup {
    sod: f64,
    sdd: f64,
    /// 1 / column pitch, 1 / row pitch (mm⁻¹).
    inv_du: f64,
    inv_dv: f64,
    col_off: f64,
    row_off: f64,
    /// Padded column index of the principal point: (cols − 1)/2 + 1.
    col_centre: f64,
    /// Padded row index of the principal point: (rows − 1)/2 + 2.
    row_centre: f64,
    cols: usize,
    /// Padded rows per stored column: rows + 4 (two zero rows on each side).
    ld: usize,
    /// World z of voxel row 0 and the z spacing, mm.
    z0: f64,
    dz: f64,
}

/// Padding of the transposed views: one zero column each side, two zero rows each side.
const COL_PAD: usize = 1;
const ROW_PAD: usize = 2;
/// y rows per rayon task, x columns per tile, views per cache pass.
const TILE_Y: usize = 4;
const TILE_X: usize = 16;
const VIEW_PASS: usize = 8;

/// The FDK pipeline on raw arrays; the caller has validated everything.
pub(crate) fn fdk_core(
    data: ArrayView3<'_, f32>,
    circ: &Circular<'_>,
    shape: [usize; 3],
    spacing_mm: [f64; 3],
    options: &FdkOptions,
    progress: &dyn Progress,
) -> Result<Array3<f32>> {
    let (n_views, rows, cols) = data.dim();
    let det = circ.det;
    let weights = fan_weights(circ.angles, circ.fan_angle(), options.short_scan)?;
    let block = if options.view_block == 0 {
        32
    } else {
        options.view_block
    }
    .min(n_views);
    let ld = rows + 2 * ROW_PAD;
    let view_len = (cols + 2 * COL_PAD) * ld;
    ensure_allocatable(
        "filtered projection block",
        (block as u128) * (view_len as u128),
        4,
    )?;
    if ld > i32::MAX as usize / 2 {
        return Err(Error::invalid("detector rows", rows, "fewer than 2³⁰ rows"));
    }
    let tau = det.col_spacing_mm * circ.sod / circ.sdd;
    let ramp = RampFilter::new(options.filter, cols, tau)?;
    let [nz, ny, nx] = shape;
    let setup = Setup {
        sod: circ.sod,
        sdd: circ.sdd,
        inv_du: 1.0 / det.col_spacing_mm,
        inv_dv: 1.0 / det.row_spacing_mm,
        col_off: det.col_offset_mm,
        row_off: det.row_offset_mm,
        col_centre: (cols as f64 - 1.0) / 2.0 + COL_PAD as f64,
        row_centre: (rows as f64 - 1.0) / 2.0 + ROW_PAD as f64,
        cols,
        ld,
        z0: -(nz as f64 - 1.0) / 2.0 * spacing_mm[0],
        dz: spacing_mm[0],
    };
    let grid = Grid {
        x0: -(nx as f64 - 1.0) / 2.0 * spacing_mm[2],
        dx: spacing_mm[2],
        y0: -(ny as f64 - 1.0) / 2.0 * spacing_mm[1],
        dy: spacing_mm[1],
    };
    let mut out = Array3::<f32>::zeros((nz, ny, nx));
    let mut filtered = vec![0.0f32; block * view_len];
    progress.start("fdk", n_views as u64);
    let kernel = select_kernel();
    let mut first = 0;
    while first < n_views {
        check(progress)?;
        let count = block.min(n_views - first);
        filter_block(
            &data,
            circ,
            &weights,
            &ramp,
            first,
            &mut filtered[..count * view_len],
            view_len,
        );
        let trig: Vec<(f64, f64)> = circ.angles[first..first + count]
            .iter()
            .map(|a| a.sin_cos())
            .collect();
        let views = &filtered[..count * view_len];
        out.axis_chunks_iter_mut(Axis(1), TILE_Y)
            .into_par_iter()
            .enumerate()
            .for_each_init(
                || Scratch {
                    tile: vec![0.0; TILE_Y * TILE_X * nz],
                    line: vec![0.0; ld],
                },
                |scratch, (chunk_index, mut slab)| {
                    let y_first = chunk_index * TILE_Y;
                    let ty = slab.dim().1;
                    let mut x_first = 0;
                    while x_first < nx {
                        let tx = TILE_X.min(nx - x_first);
                        let tile = &mut scratch.tile[..ty * tx * nz];
                        // Gather the tile into z-contiguous columns.
                        for j in 0..ty {
                            for i in 0..tx {
                                let col = &mut tile[(j * tx + i) * nz..(j * tx + i + 1) * nz];
                                for (k, c) in col.iter_mut().enumerate() {
                                    *c = slab[[k, j, x_first + i]];
                                }
                            }
                        }
                        let cols_xy: Vec<(f64, f64)> = (0..ty)
                            .flat_map(|j| {
                                (0..tx).map(move |i| {
                                    (
                                        grid.x0 + (x_first + i) as f64 * grid.dx,
                                        grid.y0 + (y_first + j) as f64 * grid.dy,
                                    )
                                })
                            })
                            .collect();
                        kernel(
                            tile,
                            nz,
                            &cols_xy,
                            views,
                            view_len,
                            &trig,
                            &setup,
                            &mut scratch.line,
                        );
                        for j in 0..ty {
                            for i in 0..tx {
                                let col = &tile[(j * tx + i) * nz..(j * tx + i + 1) * nz];
                                for (k, c) in col.iter().enumerate() {
                                    slab[[k, j, x_first + i]] = *c;
                                }
                            }
                        }
                        x_first += tx;
                    }
                },
            );
        progress.advance(count as u64);
        first += count;
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy)]
struct Grid {
    x0: f64,
    dx: f64,
    y0: f64,
    dy: f64,
}

struct Scratch {
    tile: Vec<f32>,
    line: Vec<f32>,
}

/// Weights, filters and transposes views `first .. first + count` into `out`
/// (`count` views of `(cols + 2, rows + 4)`, zero borders kept zero).
fn filter_block(
    data: &ArrayView3<'_, f32>,
    circ: &Circular<'_>,
    weights: &FanWeights,
    ramp: &RampFilter,
    first: usize,
    out: &mut [f32],
    view_len: usize,
) {
    let (_, rows, cols) = data.dim();
    let det = circ.det;
    let ld = rows + 2 * ROW_PAD;
    let sdd2 = circ.sdd * circ.sdd;
    let u_of =
        |c: usize| (c as f64 - (cols as f64 - 1.0) / 2.0) * det.col_spacing_mm + det.col_offset_mm;
    let v_of =
        |r: usize| (r as f64 - (rows as f64 - 1.0) / 2.0) * det.row_spacing_mm + det.row_offset_mm;
    out.par_chunks_mut(view_len).enumerate().for_each_init(
        || (ramp.scratch(), vec![0.0f32; cols], vec![0.0f64; cols]),
        |(scratch, line, col_weight), (b, view_out)| {
            let view = first + b;
            let theta = circ.angles[view];
            let step = weights.step[view];
            for (c, w) in col_weight.iter_mut().enumerate() {
                // Parker's γ is minus the column's fan angle in this frame: a ray at
                // column offset u travels at angle θ + π/2 − atan(u / SDD).
                let parker = match weights.parker {
                    Some(p) => p.weight(theta, -(u_of(c) / circ.sdd).atan()),
                    None => 1.0,
                };
                *w = step * parker;
            }
            for r in 0..rows {
                let v = v_of(r);
                let src = data.slice(ndarray::s![view, r, ..]);
                for (c, (l, p)) in line.iter_mut().zip(src.iter()).enumerate() {
                    let u = u_of(c);
                    let cosine = circ.sdd / (sdd2 + u * u + v * v).sqrt();
                    *l = (f64::from(*p) * cosine * col_weight[c]) as f32;
                }
                ramp.filter_line(line, scratch);
                for (c, l) in line.iter().enumerate() {
                    view_out[(c + COL_PAD) * ld + r + ROW_PAD] = *l;
                }
            }
        },
    );
}

/// The range of `k` in `0..n` with `lo ≤ a + k s ≤ hi`.
pub(crate) fn clip_range(a: f64, s: f64, lo: f64, hi: f64, n: usize) -> (usize, usize) {
    if s == 0.0 {
        return if a >= lo && a <= hi { (0, n) } else { (0, 0) };
    }
    let (t0, t1) = if s > 0.0 {
        ((lo - a) / s, (hi - a) / s)
    } else {
        ((hi - a) / s, (lo - a) / s)
    };
    let k0 = t0.ceil().max(0.0);
    let k1 = (t1.floor() + 1.0).min(n as f64);
    if !(k0 < k1) {
        return (0, 0);
    }
    (k0 as usize, k1 as usize)
}

/// Backprojects the views of one pass into a tile of z columns.
type TileKernel = fn(
    tile: &mut [f32],
    nz: usize,
    columns: &[(f64, f64)],
    views: &[f32],
    view_len: usize,
    trig: &[(f64, f64)],
    setup: &Setup,
    line: &mut [f32],
);

fn select_kernel() -> TileKernel {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return tile_avx2;
        }
    }
    tile_scalar
}

#[cfg(target_arch = "x86_64")]
fn tile_avx2(
    tile: &mut [f32],
    nz: usize,
    columns: &[(f64, f64)],
    views: &[f32],
    view_len: usize,
    trig: &[(f64, f64)],
    setup: &Setup,
    line: &mut [f32],
) {
    // SAFETY: `select_kernel` returns this function only when the CPU reports AVX2 and
    // FMA, the features `tile_avx2_impl` is compiled for.
    unsafe { tile_avx2_impl(tile, nz, columns, views, view_len, trig, setup, line) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn tile_avx2_impl(
    tile: &mut [f32],
    nz: usize,
    columns: &[(f64, f64)],
    views: &[f32],
    view_len: usize,
    trig: &[(f64, f64)],
    setup: &Setup,
    line: &mut [f32],
) {
    tile_generic(
        tile,
        nz,
        columns,
        views,
        view_len,
        trig,
        setup,
        line,
        |acc, line, a, s| {
            // SAFETY: this closure runs inside a function compiled for AVX2 and FMA,
            // which is only called after the CPU reported both.
            unsafe { lerp_accumulate_avx2(acc, line, a, s) }
        },
    );
}

fn tile_scalar(
    tile: &mut [f32],
    nz: usize,
    columns: &[(f64, f64)],
    views: &[f32],
    view_len: usize,
    trig: &[(f64, f64)],
    setup: &Setup,
    line: &mut [f32],
) {
    tile_generic(
        tile,
        nz,
        columns,
        views,
        view_len,
        trig,
        setup,
        line,
        lerp_accumulate_scalar,
    );
}

#[inline(always)]
fn tile_generic(
    tile: &mut [f32],
    nz: usize,
    columns: &[(f64, f64)],
    views: &[f32],
    view_len: usize,
    trig: &[(f64, f64)],
    s: &Setup,
    line: &mut [f32],
    lerp: impl Fn(&mut [f32], &[f32], f32, f32),
) {
    let ld = s.ld;
    let n_views = trig.len();
    let mut pass = 0;
    while pass < n_views {
        let pass_end = (pass + VIEW_PASS).min(n_views);
        for (col_index, &(x, y)) in columns.iter().enumerate() {
            let acc = &mut tile[col_index * nz..(col_index + 1) * nz];
            for b in pass..pass_end {
                let (sin, cos) = trig[b];
                let view = &views[b * view_len..(b + 1) * view_len];
                // Depth of the column along the central ray, over SOD.
                let depth = s.sod + y * cos - x * sin;
                if depth <= 1e-6 * s.sod {
                    continue; // at or behind the source
                }
                let mag = s.sdd / depth;
                let ui = (mag * (x * cos + y * sin) - s.col_off) * s.inv_du + s.col_centre;
                if !(ui > 0.0 && ui < (s.cols + 1) as f64) {
                    continue; // misses the detector (zero borders included)
                }
                let c = ui as usize; // ui > 0: truncation is floor
                let fu = ui - c as f64;
                let u_scale = s.sod / depth;
                let w = u_scale * u_scale; // 1 / U²
                let wa = (w * (1.0 - fu)) as f32;
                let wb = (w * fu) as f32;
                let a = (mag * s.z0 - s.row_off) * s.inv_dv + s.row_centre;
                let slope = mag * s.dz * s.inv_dv;
                let (k0, k1) = clip_range(a, slope, 1.0, (ld - ROW_PAD) as f64, nz);
                if k0 >= k1 {
                    continue;
                }
                let v_lo = a + k0 as f64 * slope;
                let v_hi = a + (k1 - 1) as f64 * slope;
                let r0 = (v_lo.floor() as usize).saturating_sub(1);
                let r1 = ((v_hi.floor() as usize) + 3).min(ld);
                let p0 = &view[c * ld + r0..c * ld + r1];
                let p1 = &view[(c + 1) * ld + r0..(c + 1) * ld + r1];
                let blend = &mut line[r0..r1];
                for ((t, &q0), &q1) in blend.iter_mut().zip(p0).zip(p1) {
                    *t = wa * q0 + wb * q1;
                }
                lerp(
                    &mut acc[k0..k1],
                    &line[..r1],
                    (a + k0 as f64 * slope) as f32,
                    slope as f32,
                );
            }
        }
        pass = pass_end;
    }
}

/// `acc[k] += line[i] + f · (line[i + 1] − line[i])` with `x = a + k s`, `i = ⌊x⌋`
/// clamped to `0 ..= line.len() − 2`, `f = x − i`: linear interpolation along a line,
/// accumulated. `line` has at least two samples.
#[inline(always)]
pub(crate) fn lerp_accumulate_scalar(acc: &mut [f32], line: &[f32], a: f32, s: f32) {
    let last = line.len() - 2;
    for (k, out) in acc.iter_mut().enumerate() {
        let x = a + k as f32 * s;
        let i = (x.max(0.0) as usize).min(last);
        let f = x - i as f32;
        let p0 = line[i];
        let p1 = line[i + 1];
        *out += p0 + f * (p1 - p0);
    }
}

/// AVX2 version of [`lerp_accumulate_scalar`]: eight voxels per step, gathers from the
/// line, scalar tail.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn lerp_accumulate_avx2(acc: &mut [f32], line: &[f32], a: f32, s: f32) {
    use std::arch::x86_64::*;
    assert!(line.len() >= 2 && line.len() < i32::MAX as usize);
    let n = acc.len();
    let last = _mm256_set1_epi32(line.len() as i32 - 2);
    let zero = _mm256_setzero_si256();
    let lanes = _mm256_setr_ps(0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0);
    let vs = _mm256_set1_ps(s);
    let va = _mm256_set1_ps(a);
    let base = line.as_ptr();
    let out = acc.as_mut_ptr();
    let mut k = 0;
    while k + 8 <= n {
        let kk = _mm256_add_ps(_mm256_set1_ps(k as f32), lanes);
        let x = _mm256_fmadd_ps(kk, vs, va);
        // Truncation then clamping: NaN and out-of-range values become 0 or last.
        let i = _mm256_min_epi32(_mm256_max_epi32(_mm256_cvttps_epi32(x), zero), last);
        let f = _mm256_sub_ps(x, _mm256_cvtepi32_ps(i));
        // SAFETY: every index in `i` lies in 0 ..= line.len() − 2, so both `base + i`
        // and `base + i + 1` point inside `line`; gathers read 4-byte lanes (scale 4).
        let p0 = _mm256_i32gather_ps::<4>(base, i);
        let p1 = _mm256_i32gather_ps::<4>(base.add(1), i);
        let v = _mm256_fmadd_ps(f, _mm256_sub_ps(p1, p0), p0);
        // SAFETY: k + 8 ≤ acc.len(), so the eight lanes at `out + k` are inside `acc`.
        let o = out.add(k);
        _mm256_storeu_ps(o, _mm256_add_ps(_mm256_loadu_ps(o), v));
        k += 8;
    }
    lerp_accumulate_scalar(&mut acc[k..], line, a + k as f32 * s, s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_range_matches_brute_force() {
        for &(a, s) in &[
            (0.3, 0.7),
            (5.0, -0.45),
            (2.0, 0.0),
            (-3.0, 1.9),
            (40.0, 2.0),
        ] {
            let (k0, k1) = clip_range(a, s, 1.0, 12.0, 20);
            for k in 0..20 {
                let x = a + k as f64 * s;
                assert_eq!(
                    (k0..k1).contains(&k),
                    (1.0..=12.0).contains(&x),
                    "{a} {s} {k}"
                );
            }
        }
    }

    #[test]
    fn vector_and_scalar_lerp_agree() {
        let line: Vec<f32> = (0..40).map(|i| ((i * 13 % 7) as f32) * 0.3 - 1.0).collect();
        for &(a, s) in &[
            (1.2f32, 0.83f32),
            (30.0, -0.9),
            (0.0, 1.7),
            (-5.0, 2.5),
            (3.0, 0.0),
        ] {
            let mut want = vec![1.0f32; 19];
            lerp_accumulate_scalar(&mut want, &line, a, s);
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                let mut got = vec![1.0f32; 19];
                // SAFETY: the CPU has AVX2 and FMA (checked above).
                unsafe { lerp_accumulate_avx2(&mut got, &line, a, s) };
                for (g, w) in got.iter().zip(&want) {
                    assert!((g - w).abs() < 1e-5, "{g} {w}");
                }
            }
        }
    }
}
