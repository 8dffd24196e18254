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
//! detector columns around `u`, their interpolation weights times the distance weight,
//! the start row and the row step are computed once per column and view, the valid z
//! range is clipped once (RabbitCT-style line clipping), and the inner loop interpolates
//! along the two columns, vectorised across z (AVX-512 where the CPU has it, else AVX2 +
//! FMA, chosen at run time; a scalar loop otherwise; all give the same sums). The vector
//! loop blends the two columns with their weights as it loads them and interpolates along
//! the blend only: half the permutes per voxel. Filtered views are stored transposed
//! (`(cols, rows)`, rows contiguous) with zero borders. Work is split over rayon tasks by
//! slabs of 4 y rows; each task gathers its slab into z-contiguous columns once per block
//! of views (reading whole x rows), walks x tiles of 16 columns and, for every tile, passes
//! over sub-blocks of 8 views so the tile's accumulators and the views' detector footprint
//! stay in cache, then writes the slab back. The AVX2 loop fetches the detector samples of
//! eight consecutive voxels with unaligned loads and permutes when they span at most 16
//! rows (voxels no more than twice the magnified row pitch along z), with 64-bit gathers
//! otherwise, and computes the row indices of the next eight voxels while it interpolates
//! the current ones. The AVX-512 loop takes sixteen voxels per step with two-table permutes
//! over 32 or 64 blended rows (voxels up to four times the magnified row pitch) and
//! backprojects up to eight views per pass over the column, so the accumulators are read
//! and written once for all of them.
//! Every voxel is written by one task and sums the views in their fixed order, so results
//! are bit-identical on any number of threads.
//!
//! The rate depends mostly on `s`, the detector rows stepped per voxel along z
//! (`dz · magnification / row pitch`): with `s < 1` (voxels no coarser than the
//! magnified detector pixels) every 8 voxels are served by a few contiguous loads; with
//! `s ≥ 1.99` (AVX2) or `s ≥ 4` (AVX-512) the kernel falls back to gathers and streams
//! detector rows it does not use, so a volume much coarser than the detector
//! reconstructs at a lower rate per voxel update (bin the detector rows first if the z
//! resolution allows it). The criterion
//! bench `recon` reports voxel updates per second.
//!
//! ## Memory
//!
//! Besides the output volume (`nz · ny · nx · 4` bytes) FDK holds one block of filtered
//! projections, `B · (cols + 2) · (rows + 4) · 4` bytes for a block of `B` views
//! ([`FdkOptions::view_block`]; by default as many views as fit in 64 MiB, from 8 to
//! 64),
//! and per worker thread a slab buffer of `4 · nx · nz · 4` bytes, one blended detector
//! line of `(rows + 36) · 4` bytes and a few rows of filter scratch. The input
//! projections are only read.

use ndarray::{s, Array3, ArrayView3, Axis};
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
    /// projections (see the module docs). 0 (the default) picks as many views as fit
    /// in 64 MiB, at least 8 and at most 64.
    pub view_block: usize,
}

impl Default for FdkOptions {
    fn default() -> Self {
        Self {
            filter: Filter::RamLak,
            short_scan: ShortScan::Auto,
            view_block: 0,
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
    ensure_allocatable(what, crate::volume::element_count(shape), 4)
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
    fdk_view(
        projections.data().view(),
        geometry,
        shape,
        spacing_mm,
        options,
        progress,
    )
}

/// [`fdk`] on a borrowed `(views, rows, cols)` array of line integrals, in any memory
/// layout: for callers whose projections live elsewhere (a memory map, a NumPy array)
/// and should not be copied. Same errors as [`fdk`].
///
/// # Example
/// ```
/// use ctscreen::geometry::{ConeBeamGeometry, Geometry};
/// use ctscreen::recon::{fdk_view, FdkOptions};
/// use ctscreen::NoProgress;
/// let angles: Vec<f64> = (0..90).map(|i| (4.0 * i as f64).to_radians()).collect();
/// let g: Geometry = ConeBeamGeometry::new(angles, 300.0, 600.0, (16, 32), (2.0, 2.0), (0.0, 0.0))
///     .unwrap()
///     .into();
/// // Stored (cols, rows, views): a transposed view is read in place.
/// let stored = ndarray::Array3::<f32>::zeros((32, 16, 90));
/// let p = stored.view().reversed_axes();
/// let v = fdk_view(p, &g, [8, 16, 16], [1.0; 3], &FdkOptions::default(), &NoProgress).unwrap();
/// assert_eq!(v.shape(), [8, 16, 16]);
/// ```
pub fn fdk_view(
    projections: ArrayView3<'_, f32>,
    geometry: &Geometry,
    shape: [usize; 3],
    spacing_mm: [f64; 3],
    options: &FdkOptions,
    progress: &dyn Progress,
) -> Result<Volume> {
    let circ = Circular::of(geometry)?;
    check_projections(&projections, geometry)?;
    check_grid(&shape, &spacing_mm, "FDK volume")?;
    let out = fdk_core(projections, &circ, shape, spacing_mm, options, progress)?;
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
    /// World z of voxel row 0, mm.
    z0: f64,
    /// z spacing over the row pitch.
    dz_over_dv: f64,
    /// depth × this = 1 / (row step per voxel) = depth · dv / (SDD · dz).
    inv_slope_factor: f64,
}

/// One filtered view as the backprojector sees it.
#[derive(Debug, Clone, Copy)]
struct ViewPass {
    /// Sine and cosine of the gantry angle.
    sin_cos: (f64, f64),
    /// The padded detector row positions `[lo, hi]` of the samples that can read a
    /// nonzero row (within one row of one); `None` when the whole view is zero.
    samples: Option<(f64, f64)>,
}

/// Padding of the transposed views: one zero column each side, two zero rows each side.
const COL_PAD: usize = 1;
const ROW_PAD: usize = 2;
/// y rows per rayon task, x columns per tile, views per cache pass.
const TILE_Y: usize = 4;
const TILE_X: usize = 16;
const VIEW_PASS: usize = 8;
/// Default budget for the block of filtered views, bytes, and the least block size.
const BLOCK_BYTES: usize = 64 << 20;
const MIN_BLOCK: usize = 8;
/// At most this many views per block by default, so progress and cancellation stay
/// responsive.
const MAX_BLOCK: usize = 64;

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
    let ld = rows + 2 * ROW_PAD;
    let view_len = (cols + 2 * COL_PAD) * ld;
    let block = if options.view_block == 0 {
        (BLOCK_BYTES / (4 * view_len)).clamp(MIN_BLOCK, MAX_BLOCK)
    } else {
        options.view_block
    }
    .min(n_views);
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
        dz_over_dv: spacing_mm[0] / det.row_spacing_mm,
        inv_slope_factor: det.row_spacing_mm / (circ.sdd * spacing_mm[0]),
    };
    let grid = Grid {
        x0: -(nx as f64 - 1.0) / 2.0 * spacing_mm[2],
        dx: spacing_mm[2],
        y0: -(ny as f64 - 1.0) / 2.0 * spacing_mm[1],
        dy: spacing_mm[1],
    };
    let pre = PreWeights::new(circ, rows, cols);
    let mut out = Array3::<f32>::zeros((nz, ny, nx));
    let mut filtered = vec![0.0f32; block * view_len + SLACK];
    let mut spans: Vec<Option<(f64, f64)>> = vec![None; block];
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
            &pre,
            &ramp,
            first,
            &mut filtered[..count * view_len],
            &mut spans[..count],
            view_len,
        );
        let passes: Vec<ViewPass> = circ.angles[first..first + count]
            .iter()
            .zip(&spans)
            .map(|(a, &samples)| ViewPass {
                sin_cos: a.sin_cos(),
                samples,
            })
            .collect();
        let views = &filtered[..count * view_len + SLACK];
        out.axis_chunks_iter_mut(Axis(1), TILE_Y)
            .into_par_iter()
            .enumerate()
            .for_each_init(
                || Scratch {
                    slab: vec![0.0; TILE_Y * nx * nz],
                },
                |scratch, (chunk_index, mut slab)| {
                    if progress.is_cancelled() {
                        return; // the check after the block reports it
                    }
                    let y_first = chunk_index * TILE_Y;
                    let ty = slab.dim().1;
                    let columns = &mut scratch.slab[..ty * nx * nz];
                    // The x tile from x_first holds tx = min(16, nx − x_first) columns
                    // of each of the ty rows, y-major, from column ty · x_first of the
                    // scratch: where column (x, j) starts.
                    let width = |x_first: usize| TILE_X.min(nx - x_first);
                    let at = |x: usize, j: usize| {
                        let x_first = x / TILE_X * TILE_X;
                        (ty * x_first + j * width(x_first) + (x - x_first)) * nz
                    };
                    // Gather the slab into z-contiguous columns, reading whole rows
                    // (zeros before the first block).
                    if first == 0 {
                        columns.fill(0.0);
                    } else {
                        for (k, plane) in slab.outer_iter().enumerate() {
                            for (j, row) in plane.outer_iter().enumerate() {
                                for (x, v) in row.iter().enumerate() {
                                    columns[at(x, j) + k] = *v;
                                }
                            }
                        }
                    }
                    let mut x_first = 0;
                    while x_first < nx {
                        let tx = width(x_first);
                        let start = ty * x_first * nz;
                        let tile = &mut columns[start..start + ty * tx * nz];
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
                        kernel(TileWork {
                            tile,
                            nz,
                            columns: &cols_xy,
                            views,
                            view_len,
                            passes: &passes,
                            setup: &setup,
                        });
                        x_first += tx;
                    }
                    // Scatter the columns back one x tile of one row at a time: its
                    // columns are consecutive in the scratch and read in order, and the
                    // slab's cache lines they write are in cache since the gather.
                    for (j, mut rows) in slab.axis_iter_mut(Axis(1)).enumerate() {
                        for x_first in (0..nx).step_by(TILE_X) {
                            let base = at(x_first, j);
                            let mut tile_rows =
                                rows.slice_mut(s![.., x_first..x_first + width(x_first)]);
                            for (k, mut row) in tile_rows.outer_iter_mut().enumerate() {
                                for (i, v) in row.iter_mut().enumerate() {
                                    *v = columns[base + i * nz + k];
                                }
                            }
                        }
                    }
                },
            );
        check(progress)?;
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
    slab: Vec<f32>,
}

/// View-independent pre-weights: the Feldkamp cosine weight of every detector pixel
/// (`(rows, cols)`, row-major) and Parker's fan angle γ of every column.
struct PreWeights {
    cosine: Vec<f32>,
    gamma: Vec<f64>,
}

impl PreWeights {
    fn new(circ: &Circular<'_>, rows: usize, cols: usize) -> Self {
        let det = circ.det;
        let u_of = |c: usize| {
            (c as f64 - (cols as f64 - 1.0) / 2.0) * det.col_spacing_mm + det.col_offset_mm
        };
        let v_of = |r: usize| {
            (r as f64 - (rows as f64 - 1.0) / 2.0) * det.row_spacing_mm + det.row_offset_mm
        };
        let sdd2 = circ.sdd * circ.sdd;
        let cosine = (0..rows * cols)
            .map(|p| {
                let (u, v) = (u_of(p % cols), v_of(p / cols));
                (circ.sdd / (sdd2 + u * u + v * v).sqrt()) as f32
            })
            .collect();
        // Parker's γ is minus the column's fan angle in this frame: the ray through
        // column offset u travels at angle θ + π/2 − atan(u / SDD).
        let gamma = (0..cols).map(|c| -(u_of(c) / circ.sdd).atan()).collect();
        Self { cosine, gamma }
    }
}

/// Rows filtered together before their transposed write (16 floats = one cache line).
const ROW_CHUNK: usize = 16;

/// Weights, filters and transposes views `first .. first + count` into `out`
/// (`count` views of `(cols + 2, rows + 4)`, zero borders kept zero), and writes into
/// `spans` each view's padded sample range that can reach a nonzero row (see
/// [`ViewPass`]).
///
/// A row that is zero in the input is zero after filtering: it is written as zeros
/// without a trip through the filter. Projections whose rows are mostly zero (the
/// correction MAR adds to the detector samples it replaced) filter and backproject
/// in a fraction of the time; the result is the same up to rounding (a clipped z range
/// splits differently between vector steps and the scalar tail).
#[allow(clippy::too_many_arguments)]
fn filter_block(
    data: &ArrayView3<'_, f32>,
    circ: &Circular<'_>,
    weights: &FanWeights,
    pre: &PreWeights,
    ramp: &RampFilter,
    first: usize,
    out: &mut [f32],
    spans: &mut [Option<(f64, f64)>],
    view_len: usize,
) {
    let (_, rows, cols) = data.dim();
    let ld = rows + 2 * ROW_PAD;
    out.par_chunks_mut(view_len)
        .zip(spans.par_iter_mut())
        .enumerate()
        .for_each_init(
            || {
                (
                    ramp.scratch(),
                    vec![0.0f32; ROW_CHUNK * cols],
                    vec![0.0f32; cols],
                )
            },
            |(scratch, chunk, col_weight), (b, (view_out, span))| {
                let view = first + b;
                let mut nonzero: Option<(usize, usize)> = None;
                let theta = circ.angles[view];
                let step = weights.step[view];
                for (w, &g) in col_weight.iter_mut().zip(&pre.gamma) {
                    let parker = weights.parker.map_or(1.0, |p| p.weight(theta, g));
                    *w = (step * parker) as f32;
                }
                let mut r0 = 0;
                while r0 < rows {
                    let n = ROW_CHUNK.min(rows - r0);
                    for (dr, line) in chunk.chunks_exact_mut(cols).take(n).enumerate() {
                        let r = r0 + dr;
                        let src = data.slice(s![view, r, ..]);
                        if src.iter().all(|&p| p == 0.0) {
                            line.fill(0.0);
                            continue;
                        }
                        nonzero = Some(nonzero.map_or((r, r), |(lo, _)| (lo, r)));
                        let cosine = &pre.cosine[r * cols..(r + 1) * cols];
                        for (((l, p), cw), w) in
                            line.iter_mut().zip(src).zip(cosine).zip(&*col_weight)
                        {
                            *l = p * cw * w;
                        }
                        ramp.filter_line(line, scratch);
                    }
                    for c in 0..cols {
                        let dst = (c + COL_PAD) * ld + r0 + ROW_PAD;
                        for (dr, o) in view_out[dst..dst + n].iter_mut().enumerate() {
                            *o = chunk[dr * cols + c];
                        }
                    }
                    r0 += n;
                }
                // Samples strictly within one row of a nonzero row can read it.
                *span = nonzero
                    .map(|(lo, hi)| ((lo + ROW_PAD) as f64 - 1.0, (hi + ROW_PAD) as f64 + 1.0));
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
    if k0.partial_cmp(&k1) != Some(std::cmp::Ordering::Less) {
        return (0, 0);
    }
    (k0 as usize, k1 as usize)
}

/// A tile of z columns and the block of views to backproject into it.
struct TileWork<'a> {
    /// The accumulators: `columns.len()` runs of `nz` voxels along z.
    tile: &'a mut [f32],
    nz: usize,
    /// World (x, y) of each column, mm.
    columns: &'a [(f64, f64)],
    /// The block's filtered views, transposed and padded, `view_len` floats each, then
    /// `SLACK` zeros.
    views: &'a [f32],
    view_len: usize,
    passes: &'a [ViewPass],
    setup: &'a Setup,
}

/// Backprojects the views of one block into a tile of z columns.
type TileKernel = fn(TileWork<'_>);

fn select_kernel() -> TileKernel {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
        {
            return tile_avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return tile_avx2;
        }
    }
    tile_scalar
}

#[cfg(target_arch = "x86_64")]
fn tile_avx2(work: TileWork<'_>) {
    // SAFETY: `select_kernel` returns this function only when the CPU reports AVX2 and
    // FMA, the features `tile_avx2_impl` is compiled for.
    unsafe { tile_avx2_impl(work) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn tile_avx2_impl(work: TileWork<'_>) {
    let mut line = vec![0.0f32; work.setup.ld + LINE_SLACK];
    tile_generic(
        work,
        each_view(|acc, pair, ld, a, s, wa, wb, k0, k1| {
            // SAFETY: this closure runs inside a function compiled for AVX2 and FMA,
            // which is only called after the CPU reported both.
            unsafe { bilerp_avx2(acc, pair, ld, a, s, wa, wb, k0, k1, &mut line) }
        }),
    );
}

#[cfg(target_arch = "x86_64")]
fn tile_avx512(work: TileWork<'_>) {
    // SAFETY: `select_kernel` returns this function only when the CPU reports AVX-512F,
    // AVX2 and FMA, the features `tile_avx512_impl` is compiled for.
    unsafe { tile_avx512_impl(work) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn tile_avx512_impl(work: TileWork<'_>) {
    let mut line = vec![0.0f32; work.setup.ld + LINE_SLACK];
    tile_generic(work, |acc, views, ld, samples| {
        // SAFETY: this closure runs inside a function compiled for AVX-512F, AVX2 and
        // FMA, which is only called after the CPU reported all three.
        unsafe { column_avx512(acc, views, ld, samples, &mut line) }
    });
}

fn tile_scalar(work: TileWork<'_>) {
    tile_generic(work, each_view(bilerp_scalar));
}

/// Extra zero floats after the last stored view, so the vector kernels may load whole
/// registers past the end of a detector column (see [`bilerp_avx2`]).
pub(crate) const SLACK: usize = 64;

/// Where and how one view reads a column of voxels: `acc[k] += wa · lerp(col0, x) + wb ·
/// lerp(col1, x)` for voxels `k0 .. k1`, `x = a + k · slope` (padded detector rows), with
/// `col0`, `col1` the stored detector columns at `views[start ..]` and `ld` further on.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    start: usize,
    a: f32,
    slope: f32,
    wa: f32,
    wb: f32,
    k0: usize,
    k1: usize,
}

impl Sample {
    /// Columns c and c + 1 of the view, plus the slack the vector loads may touch.
    fn pair<'v>(&self, views: &'v [f32], ld: usize) -> &'v [f32] {
        &views[self.start..self.start + 2 * ld + SLACK]
    }
}

/// Backprojects the samples of a column one view at a time with `bilerp`.
#[inline(always)]
fn each_view(
    mut bilerp: impl FnMut(&mut [f32], &[f32], usize, f32, f32, f32, f32, usize, usize),
) -> impl FnMut(&mut [f32], &[f32], usize, &[Sample]) {
    move |acc, views, ld, samples| {
        for v in samples {
            bilerp(
                acc,
                v.pair(views, ld),
                ld,
                v.a,
                v.slope,
                v.wa,
                v.wb,
                v.k0,
                v.k1,
            );
        }
    }
}

#[inline(always)]
fn tile_generic(work: TileWork<'_>, mut column: impl FnMut(&mut [f32], &[f32], usize, &[Sample])) {
    let TileWork {
        tile,
        nz,
        columns,
        views,
        view_len,
        passes,
        setup: s,
    } = work;
    let ld = s.ld;
    let n_views = passes.len();
    let mut pass = 0;
    while pass < n_views {
        let pass_end = (pass + VIEW_PASS).min(n_views);
        for (col_index, &(x, y)) in columns.iter().enumerate() {
            let acc = &mut tile[col_index * nz..(col_index + 1) * nz];
            let mut samples = [Sample::default(); VIEW_PASS];
            let mut count = 0;
            for (b, view) in passes.iter().enumerate().take(pass_end).skip(pass) {
                let ViewPass {
                    sin_cos: (sin, cos),
                    samples: Some((row_lo, row_hi)),
                } = *view
                else {
                    continue; // every row of the view is zero
                };
                // Depth of the column along the central ray.
                let depth = s.sod + y * cos - x * sin;
                if depth <= 1e-6 * s.sod {
                    continue; // at or behind the source
                }
                let inv_depth = 1.0 / depth;
                let mag = s.sdd * inv_depth;
                let ui = (mag * (x * cos + y * sin) - s.col_off) * s.inv_du + s.col_centre;
                if !(ui > 0.0 && ui < (s.cols + 1) as f64) {
                    continue; // misses the detector (zero borders included)
                }
                let c = ui as usize; // ui > 0: truncation is floor
                let fu = ui - c as f64;
                let u_scale = s.sod * inv_depth;
                // The distance weight 1 / U².
                let w = u_scale * u_scale;
                // Padded detector row of voxel k: a + k · slope; valid in [row_lo, row_hi]
                // ([1, rows + 2] for a view with no zero rows).
                let a = (mag * s.z0 - s.row_off) * s.inv_dv + s.row_centre;
                let slope = mag * s.dz_over_dv;
                let inv_slope = depth * s.inv_slope_factor;
                let k0 = ((row_lo - a) * inv_slope).ceil().max(0.0);
                let k1 = (((row_hi - a) * inv_slope).floor() + 1.0).min(nz as f64);
                if k0.partial_cmp(&k1) != Some(std::cmp::Ordering::Less) {
                    continue;
                }
                samples[count] = Sample {
                    start: b * view_len + c * ld,
                    a: a as f32,
                    slope: slope as f32,
                    wa: (w * (1.0 - fu)) as f32,
                    wb: (w * fu) as f32,
                    k0: k0 as usize,
                    k1: k1 as usize,
                };
                count += 1;
            }
            column(acc, views, ld, &samples[..count]);
        }
        pass = pass_end;
    }
}

/// Bilinear interpolate-and-accumulate along a z column, for voxels `k0 .. k1`:
/// `acc[k] += wa · lerp(col0, x) + wb · lerp(col1, x)` with `x = a + k s`, where `col0`
/// and `col1` are `pair[..ld]` and `pair[ld..2 ld]`, `lerp(col, x) = col[i] + f (col[i+1] −
/// col[i])`, `i = ⌊x⌋` clamped to `0 ..= ld − 2`, `f = x − i`.
#[inline(always)]
pub(crate) fn bilerp_scalar(
    acc: &mut [f32],
    pair: &[f32],
    ld: usize,
    a: f32,
    s: f32,
    wa: f32,
    wb: f32,
    k0: usize,
    k1: usize,
) {
    let (col0, col1) = pair[..2 * ld].split_at(ld);
    let last = ld - 2;
    for (k, out) in acc.iter_mut().enumerate().take(k1).skip(k0) {
        let x = a + k as f32 * s;
        let i = (x.max(0.0) as usize).min(last);
        let f = x - i as f32;
        let p = col0[i] + f * (col0[i + 1] - col0[i]);
        let q = col1[i] + f * (col1[i + 1] - col1[i]);
        *out += wa * p + wb * q;
    }
}

/// Floats of scratch beyond `ld` that [`bilerp_avx2`] needs in its `line` buffer.
pub(crate) const LINE_SLACK: usize = 32;

/// AVX2 + FMA version of [`bilerp_scalar`], eight voxels per step. Bilinear
/// interpolation is linear in the samples, so the two detector columns are first
/// blended with their weights, `wa · col0[r] + wb · col1[r]` (the same sum in another
/// order), and only that blend is interpolated along the rows: half the permutes per
/// voxel. The samples of eight consecutive voxels span `⌈7 s⌉ + 2` rows, so for `s < 1`
/// two unaligned 8-row windows of each column (at the block's first row and one
/// below), blended and permuted into place, serve a block; for `s < 1.99` two 16-row
/// windows and a blend of two permutes; the index arithmetic of the next block runs
/// while the current one is interpolated, so its loads never wait on it. Steeper slopes
/// blend the rows the column reads into `line` once and gather pairs of neighbouring
/// rows from it with 64-bit gathers.
/// Requires `pair.len() ≥ 2 ld + SLACK`, `line.len() ≥ ld + LINE_SLACK`,
/// `2 ≤ ld < 2²⁹`, `s ≥ 0`.
///
/// The vector loop covers whole blocks of 8 voxels (`8 j .. 8 j + 8`) from the one
/// holding `k0` to the one holding `k1 − 1`, so it also touches voxels outside
/// `k0 .. k1`; each gets this view's own contribution, computed the same way: exactly
/// zero beyond the detector (their clamped rows are the zero rows that pad every stored
/// detector column, two above and two below) or beyond the rows that hold data, when
/// the caller narrowed `k0 .. k1` to them. A partial last block of the column (when
/// `acc.len()` is not a multiple of 8) is done by the scalar loop.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn bilerp_avx2(
    acc: &mut [f32],
    pair: &[f32],
    ld: usize,
    a: f32,
    s: f32,
    wa: f32,
    wb: f32,
    k0: usize,
    k1: usize,
    line: &mut [f32],
) {
    use std::arch::x86_64::*;
    assert!((2..(1 << 29)).contains(&ld) && pair.len() >= 2 * ld + SLACK && s >= 0.0);
    assert!(line.len() >= ld + LINE_SLACK);
    let k1 = k1.min(acc.len());
    let first = k0 / 8;
    let steps = k1.div_ceil(8).min(acc.len() / 8);
    if first < steps {
        let c = Consts {
            lanes: _mm256_setr_ps(0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0),
            vs: _mm256_set1_ps(s),
            va: _mm256_set1_ps(a),
            top: _mm256_set1_ps(ld as f32),
            last: _mm256_set1_epi32(ld as i32 - 2),
        };
        let (vwa, vwb) = (_mm256_set1_ps(wa), _mm256_set1_ps(wb));
        let col0 = pair.as_ptr();
        let out = acc.as_mut_ptr();
        // Direct paths (s < 1.99): each block reads rows i0 ..= i0 + 15 of both columns
        // from its first index i0 ≤ ld − 2, so the loads stay below col0[2 ld + 14] <
        // pair.len(); the lanes only select rows i0 + rel and i0 + rel + 1 with
        // i0 + rel ≤ ld − 2 (the clamped index), inside the column. Stores write
        // acc[8 j .. 8 j + 8] with j < steps ≤ acc.len() / 8.
        let mut kk = c.block(first);
        let eight = _mm256_set1_ps(8.0);
        // The first row, the row offsets and the fractions of the block at kk.
        let at = |kk: __m256| {
            let (i, f) = c.index(kk);
            let (i0, rel) = relative(i);
            (i0, rel, f)
        };
        if s < 0.99 {
            // Rows of eight voxels: rel ≤ ⌈7 s⌉ ≤ 7, so rows i0 ..= i0 + 8.
            let (mut i0, mut rel, mut f) = at(kk);
            for j in first..steps {
                kk = _mm256_add_ps(kk, eight);
                // SAFETY: see the bounds argument above.
                unsafe {
                    let p = col0.add(i0);
                    let w0 = blend_columns(p, ld, vwa, vwb);
                    let w1 = blend_columns(p.add(1), ld, vwa, vwb);
                    let (ni0, nrel, nf) = at(kk);
                    let p0 = _mm256_permutevar8x32_ps(w0, rel);
                    let p1 = _mm256_permutevar8x32_ps(w1, rel);
                    accumulate(out.add(8 * j), f, p0, p1);
                    (i0, rel, f) = (ni0, nrel, nf);
                }
            }
        } else if s < 1.99 {
            // rel ≤ ⌈7 s⌉ ≤ 14, so rows i0 ..= i0 + 15: two blended 8-row windows.
            let seven = _mm256_set1_epi32(7);
            let one = _mm256_set1_epi32(1);
            let (i0, mut rel, mut f) = at(kk);
            // SAFETY: see the bounds argument above.
            let (mut w0, mut w1) = unsafe {
                (
                    blend_columns(col0.add(i0), ld, vwa, vwb),
                    blend_columns(col0.add(i0 + 8), ld, vwa, vwb),
                )
            };
            for j in first..steps {
                kk = _mm256_add_ps(kk, eight);
                // SAFETY: see the bounds argument above.
                unsafe {
                    let (ni0, nrel, nf) = at(kk);
                    let p = col0.add(ni0);
                    let nw0 = blend_columns(p, ld, vwa, vwb);
                    let nw1 = blend_columns(p.add(8), ld, vwa, vwb);
                    let next = _mm256_add_epi32(rel, one);
                    let p0 = pick16(w0, w1, rel, seven);
                    let p1 = pick16(w0, w1, next, seven);
                    accumulate(out.add(8 * j), f, p0, p1);
                    (w0, w1, rel, f) = (nw0, nw1, nrel, nf);
                }
            }
        } else {
            // Steep slopes: blend the rows the blocks read into `line` once, then
            // gather pairs of rows from it.
            // Rows r_lo ..= r_hi hold every sample the blocks read (x grows with k,
            // and the index is monotone in x): from lane 0 of the first block to one
            // past lane 7 of the last; r_lo ≤ r_hi ≤ ld − 1.
            let r_lo = _mm256_cvtsi256_si32(c.index(c.block(first)).0) as usize;
            let r_hi = _mm256_extract_epi32::<7>(c.index(c.block(steps - 1)).0) as usize + 1;
            let dst = line.as_mut_ptr();
            let mut r = r_lo;
            while r <= r_hi {
                // SAFETY: r ≤ r_hi ≤ ld − 1, so the loads read up to col0[2 ld + 6] <
                // pair.len() and the store writes up to line[ld + 6] < line.len().
                unsafe {
                    _mm256_storeu_ps(dst.add(r - r_lo), blend_columns(col0.add(r), ld, vwa, vwb))
                };
                r += 8;
            }
            let base = line.as_ptr();
            let shift = _mm256_set1_epi32(r_lo as i32);
            for j in first..steps {
                // SAFETY: gathers read rows i − r_lo and i − r_lo + 1 ≤ r_hi − r_lo of
                // `line`, which the pass above wrote; the store is in `acc` as above.
                unsafe {
                    let (i, f) = c.index(c.block(j));
                    let (p0, p1) = gather_pairs(base, _mm256_sub_epi32(i, shift));
                    accumulate(out.add(8 * j), f, p0, p1);
                }
            }
        }
    }
    bilerp_scalar(acc, pair, ld, a, s, wa, wb, k0.max(8 * steps), k1);
}

/// The samples of one column of voxels, with AVX-512: up to eight views at a time
/// ([`bilerp_views_avx512`]) while their slopes allow, one at a time otherwise.
///
/// # Safety
/// The CPU must support AVX-512F, AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn column_avx512(
    acc: &mut [f32],
    views: &[f32],
    ld: usize,
    samples: &[Sample],
    line: &mut [f32],
) {
    let mut rest = samples;
    while !rest.is_empty() {
        // Views whose slope the 16-voxel blocks serve, from the first.
        let gentle = rest.iter().take_while(|v| v.slope < 4.0).count();
        // SAFETY (of every call): the caller guarantees AVX-512F, AVX2 and FMA.
        let done = unsafe {
            match gentle {
                8.. => bilerp_views_avx512::<8>(acc, views, ld, rest, line),
                4.. => bilerp_views_avx512::<4>(acc, views, ld, rest, line),
                2.. => bilerp_views_avx512::<2>(acc, views, ld, rest, line),
                _ => bilerp_views_avx512::<1>(acc, views, ld, rest, line),
            }
        };
        rest = &rest[done..];
    }
}

/// AVX-512 version of [`bilerp_avx2`] for the first `N` views of `samples` (all of the same
/// column of voxels), sixteen voxels per step; returns `N`. Bit for bit the sums of
/// [`bilerp_avx2`] called for each view in turn (the same blend of the two detector
/// columns, the same row picks, the same interpolation, added to the accumulator in the
/// same order), with one read and one write of the accumulator per block for all `N`. The
/// samples of sixteen consecutive voxels span `⌈15 s⌉ + 2` rows, so two blended 16-row
/// windows and one two-table permute per row of the interpolated pair serve a block for
/// `s < 1.99`, four windows and two permutes for `s < 4`. The views cover the union of their
/// voxel ranges: outside its own range a view adds exactly zero (see [`bilerp_avx2`]).
/// Steeper slopes, and the voxels after the last whole block of 16, go to [`bilerp_avx2`].
/// Same requirements as [`bilerp_avx2`] for each view's pair of columns; `SLACK ≥ 62`.
///
/// # Safety
/// The CPU must support AVX-512F, AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn bilerp_views_avx512<const N: usize>(
    acc: &mut [f32],
    views: &[f32],
    ld: usize,
    samples: &[Sample],
    line: &mut [f32],
) -> usize {
    const { assert!(SLACK >= 62) };
    let samples: [&Sample; N] = std::array::from_fn(|i| &samples[i]);
    let pairs = samples.map(|v| v.pair(views, ld));
    assert!((2..(1 << 29)).contains(&ld) && samples.iter().all(|v| v.slope >= 0.0));
    let k0 = samples.iter().map(|v| v.k0).min().unwrap_or(0);
    let k1 = samples
        .iter()
        .map(|v| v.k1)
        .max()
        .unwrap_or(0)
        .min(acc.len());
    let first = k0 / 16;
    let steep = samples.iter().map(|v| v.slope).fold(0.0f32, f32::max);
    let steps = if steep < 4.0 {
        k1.div_ceil(16).min(acc.len() / 16)
    } else {
        first // steep: every voxel goes to the AVX2 kernel
    };
    if first < steps {
        // SAFETY: the caller guarantees the features; `steps ≤ acc.len() / 16`.
        unsafe {
            if steep < 1.99 {
                blocks_avx512::<N, 2>(acc, &pairs, ld, &samples, first, steps);
            } else {
                blocks_avx512::<N, 4>(acc, &pairs, ld, &samples, first, steps);
            }
        }
    }
    for (v, pair) in samples.iter().zip(pairs) {
        let rest = v.k0.max(16 * steps);
        if rest < v.k1 {
            // SAFETY: the caller guarantees AVX2 and FMA.
            unsafe { bilerp_avx2(acc, pair, ld, v.a, v.slope, v.wa, v.wb, rest, v.k1, line) };
        }
    }
    N
}

/// Blocks `first .. steps` of sixteen voxels of [`bilerp_views_avx512`], with `W` blended
/// 16-row windows per view (2 for slopes below 1.99, 4 below 4).
///
/// # Safety
/// The CPU must support AVX-512F, AVX2 and FMA; `steps ≤ acc.len() / 16`; every pair holds
/// `2 ld + SLACK` floats.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn blocks_avx512<const N: usize, const W: usize>(
    acc: &mut [f32],
    pairs: &[&[f32]; N],
    ld: usize,
    samples: &[&Sample; N],
    first: usize,
    steps: usize,
) {
    use std::arch::x86_64::*;
    let lanes = _mm512_setr_ps(
        0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0,
    );
    let top = _mm512_set1_ps(ld as f32);
    let last = _mm512_set1_epi32(ld as i32 - 2);
    let one = _mm512_set1_epi32(1);
    let thirty_one = _mm512_set1_epi32(31);
    let consts = samples.map(|v| {
        (
            _mm512_set1_ps(v.slope),
            _mm512_set1_ps(v.a),
            _mm512_set1_ps(v.wa),
            _mm512_set1_ps(v.wb),
        )
    });
    let out = acc.as_mut_ptr();
    // Bounds: each block reads rows i0 ..= i0 + 16 W − 1 of both columns from its first
    // index i0 ≤ ld − 2, so the loads stay below col0[2 ld + 62] < pair.len(); the lanes
    // select rows i0 + rel and i0 + rel + 1 with i0 + rel ≤ ld − 2 (the clamped index),
    // inside the column. Rows of sixteen voxels: rel ≤ ⌈15 s⌉ (one more at most from the
    // rounding of x), so rel + 1 ≤ 31 for s < 1.99 and ≤ 62 for s < 4. Stores write
    // acc[16 j .. 16 j + 16] with j < steps ≤ acc.len() / 16.
    for j in first..steps {
        let kk = _mm512_add_ps(_mm512_set1_ps((16 * j) as f32), lanes);
        // SAFETY: the store and load are in bounds by the argument above.
        let mut sum = unsafe { _mm512_loadu_ps(out.add(16 * j)) };
        for (pair, &(vs, va, vwa, vwb)) in pairs.iter().zip(&consts) {
            // Row indices (clamped) and fractions, as `Consts::index`, and the offsets
            // from the first lane's, as `relative`.
            let x = _mm512_fmadd_ps(kk, vs, va);
            let clamped = _mm512_min_ps(_mm512_max_ps(x, _mm512_setzero_ps()), top);
            let i = _mm512_min_epi32(_mm512_cvttps_epi32(clamped), last);
            let f = _mm512_sub_ps(x, _mm512_cvtepi32_ps(i));
            let i0 = _mm_cvtsi128_si32(_mm512_castsi512_si128(i)) as usize;
            let rel = _mm512_sub_epi32(i, _mm512_set1_epi32(i0 as i32));
            // `wa · col0[r] + wb · col1[r]` for rows i0 + 16 w ..= i0 + 16 w + 15, as
            // `blend_columns`.
            let p = pair.as_ptr();
            // SAFETY: the loads are in bounds by the argument above.
            let w: [__m512; W] = std::array::from_fn(|w| unsafe {
                let q = p.add(i0 + 16 * w);
                _mm512_fmadd_ps(
                    vwb,
                    _mm512_loadu_ps(q.add(ld)),
                    _mm512_mul_ps(vwa, _mm512_loadu_ps(q)),
                )
            });
            // Lanes r (0 ..= 16 W − 1) of the windows.
            let pick = |r: __m512i| {
                let low = _mm512_permutex2var_ps(w[0], r, w[1]);
                if W == 2 {
                    low
                } else {
                    let high = _mm512_cmpgt_epi32_mask(r, thirty_one);
                    _mm512_mask_blend_ps(high, low, _mm512_permutex2var_ps(w[W - 2], r, w[W - 1]))
                }
            };
            let (p0, p1) = (pick(rel), pick(_mm512_add_epi32(rel, one)));
            // `p0 + f · (p1 − p0)` added as `accumulate` does.
            sum = _mm512_add_ps(sum, _mm512_fmadd_ps(f, _mm512_sub_ps(p1, p0), p0));
        }
        // SAFETY: as for the load.
        unsafe { _mm512_storeu_ps(out.add(16 * j), sum) };
    }
}

/// `out[0..8] += p0 + f · (p1 − p0)`.
///
/// # Safety
/// `out` must point at 8 writable floats.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn accumulate(
    out: *mut f32,
    f: std::arch::x86_64::__m256,
    p0: std::arch::x86_64::__m256,
    p1: std::arch::x86_64::__m256,
) {
    use std::arch::x86_64::*;
    let v = _mm256_fmadd_ps(f, _mm256_sub_ps(p1, p0), p0);
    // SAFETY: the caller guarantees 8 floats at `out`.
    unsafe { _mm256_storeu_ps(out, _mm256_add_ps(_mm256_loadu_ps(out), v)) };
}

/// Loop constants of [`bilerp_avx2`].
#[cfg(target_arch = "x86_64")]
struct Consts {
    lanes: std::arch::x86_64::__m256,
    vs: std::arch::x86_64::__m256,
    va: std::arch::x86_64::__m256,
    /// `ld` as a float: an upper clamp for row positions below 2³¹.
    top: std::arch::x86_64::__m256,
    last: std::arch::x86_64::__m256i,
}

#[cfg(target_arch = "x86_64")]
impl Consts {
    /// Voxel numbers `8 j .. 8 j + 8` as floats.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn block(&self, j: usize) -> std::arch::x86_64::__m256 {
        use std::arch::x86_64::*;
        _mm256_add_ps(_mm256_set1_ps((8 * j) as f32), self.lanes)
    }

    /// Row indices (clamped to `0 ..= ld − 2`; NaN and out-of-range values land on an
    /// end) and fractions of voxels `kk`. The index is a monotone function of the row
    /// position (clamped as a float before the conversion, which would give `i32::MIN`
    /// beyond 2³¹), so it never decreases along a column.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn index(
        &self,
        kk: std::arch::x86_64::__m256,
    ) -> (std::arch::x86_64::__m256i, std::arch::x86_64::__m256) {
        use std::arch::x86_64::*;
        let x = _mm256_fmadd_ps(kk, self.vs, self.va);
        // max_ps returns its second operand, 0, for a NaN x.
        let clamped = _mm256_min_ps(_mm256_max_ps(x, _mm256_setzero_ps()), self.top);
        let i = _mm256_min_epi32(_mm256_cvttps_epi32(clamped), self.last);
        (i, _mm256_sub_ps(x, _mm256_cvtepi32_ps(i)))
    }
}

/// The first lane's index (the smallest: x grows with k) and every lane's offset from it.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2,fma")]
fn relative(i: std::arch::x86_64::__m256i) -> (usize, std::arch::x86_64::__m256i) {
    use std::arch::x86_64::*;
    let i0 = _mm256_cvtsi256_si32(i);
    (i0 as usize, _mm256_sub_epi32(i, _mm256_set1_epi32(i0)))
}

/// `wa · col0[r] + wb · col1[r]` for the eight rows at `p` of the first column, with the
/// second column `ld` floats further on.
///
/// # Safety
/// 8 floats at `p` and 8 at `p + ld` must be readable.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn blend_columns(
    p: *const f32,
    ld: usize,
    wa: std::arch::x86_64::__m256,
    wb: std::arch::x86_64::__m256,
) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    // SAFETY: the caller guarantees both 8-float runs are readable.
    unsafe {
        _mm256_fmadd_ps(
            wb,
            _mm256_loadu_ps(p.add(ld)),
            _mm256_mul_ps(wa, _mm256_loadu_ps(p)),
        )
    }
}

/// Lanes `rel` (0 ..= 15) of the 16 floats `w0 ‖ w1`: two permutes and a blend.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2,fma")]
fn pick16(
    w0: std::arch::x86_64::__m256,
    w1: std::arch::x86_64::__m256,
    rel: std::arch::x86_64::__m256i,
    seven: std::arch::x86_64::__m256i,
) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    let hi = _mm256_castsi256_ps(_mm256_cmpgt_epi32(rel, seven));
    _mm256_blendv_ps(
        _mm256_permutevar8x32_ps(w0, rel),
        _mm256_permutevar8x32_ps(w1, rel),
        hi,
    )
}

/// `(col[i], col[i + 1])` for the eight indices of `i`, as two vectors, with two
/// 4-lane 64-bit gathers.
///
/// # Safety
/// AVX2 must be available and every `col + i` must point at two readable floats.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn gather_pairs(
    col: *const f32,
    i: std::arch::x86_64::__m256i,
) -> (std::arch::x86_64::__m256, std::arch::x86_64::__m256) {
    use std::arch::x86_64::*;
    // SAFETY: the caller guarantees 8 readable bytes at col + 4 i for every lane.
    let (lo, hi) = unsafe {
        (
            _mm256_i32gather_pd::<4>(col as *const f64, _mm256_castsi256_si128(i)),
            _mm256_i32gather_pd::<4>(col as *const f64, _mm256_extracti128_si256::<1>(i)),
        )
    };
    let (lo, hi) = (_mm256_castpd_ps(lo), _mm256_castpd_ps(hi));
    // lo = a0 b0 a1 b1 | a2 b2 a3 b3, hi = a4 b4 a5 b5 | a6 b6 a7 b7
    let evens = _mm256_shuffle_ps::<0x88>(lo, hi); // a0 a1 a4 a5 | a2 a3 a6 a7
    let odds = _mm256_shuffle_ps::<0xDD>(lo, hi);
    let order = |v: __m256| _mm256_castpd_ps(_mm256_permute4x64_pd::<0xD8>(_mm256_castps_pd(v)));
    (order(evens), order(odds))
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

/// AVX2 version of [`lerp_accumulate_scalar`]: eight voxels per step, scalar tail. With
/// `|s| ≤ 1` the samples of eight voxels lie within nine consecutive ones: two unaligned
/// loads from the lowest index, permuted into place, fetch them (where nine samples from
/// there are inside `line`); otherwise two gathers.
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
    // The index is monotone along k (clamping keeps it so): lowest in lane 0 when
    // s ≥ 0, in lane 7 otherwise; with |s| ≤ 1 the lanes lie within 0 ..= 7 of it.
    let windows = s.abs() <= 1.0;
    let mut k = 0;
    while k + 8 <= n {
        let kk = _mm256_add_ps(_mm256_set1_ps(k as f32), lanes);
        let x = _mm256_fmadd_ps(kk, vs, va);
        // Truncation then clamping: NaN and out-of-range values become 0 or last.
        let i = _mm256_min_epi32(_mm256_max_epi32(_mm256_cvttps_epi32(x), zero), last);
        let f = _mm256_sub_ps(x, _mm256_cvtepi32_ps(i));
        let lowest = if s >= 0.0 {
            _mm256_cvtsi256_si32(i)
        } else {
            _mm256_extract_epi32::<7>(i)
        } as usize;
        let (p0, p1) = if windows && lowest + 9 <= line.len() {
            let rel = _mm256_sub_epi32(i, _mm256_set1_epi32(lowest as i32));
            // SAFETY: lowest + 9 ≤ line.len(), so both 8-float loads are inside `line`;
            // the lanes select samples i and i + 1 of the line.
            unsafe {
                let p = base.add(lowest);
                (
                    _mm256_permutevar8x32_ps(_mm256_loadu_ps(p), rel),
                    _mm256_permutevar8x32_ps(_mm256_loadu_ps(p.add(1)), rel),
                )
            }
        } else {
            // SAFETY: every index in `i` lies in 0 ..= line.len() − 2, so both `base + i`
            // and `base + i + 1` point inside `line`; gathers read 4-byte lanes (scale 4).
            unsafe {
                (
                    _mm256_i32gather_ps::<4>(base, i),
                    _mm256_i32gather_ps::<4>(base.add(1), i),
                )
            }
        };
        let v = _mm256_fmadd_ps(f, _mm256_sub_ps(p1, p0), p0);
        // SAFETY: k + 8 ≤ acc.len(), so the eight lanes at `out + k` are inside `acc`.
        unsafe {
            let o = out.add(k);
            _mm256_storeu_ps(o, _mm256_add_ps(_mm256_loadu_ps(o), v));
        }
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
    fn vector_and_scalar_bilerp_agree() {
        // Two stored detector columns of ld rows with their zero padding rows.
        let ld = 153;
        let mut pair: Vec<f32> = (0..2 * ld + SLACK)
            .map(|i| ((i * 29 % 17) as f32) * 0.25 - 1.5)
            .collect();
        for col in 0..2 {
            for r in [0, 1, ld - 2, ld - 1] {
                pair[col * ld + r] = 0.0;
            }
        }
        // Slopes for each vector path (permute, permute + blend, gather), and edges.
        for &(a, s) in &[
            (1.2f64, 0.83f64),
            (2.5, 0.0),
            (0.0, 0.98),
            (-2.0, 1.5),
            (3.3, 1.99),
            (0.0, 2.6),
            (1.0, 7.0),
            (-3.0, 0.7),
            (40.0, 0.9),
            (1.5, 4.0e8), // lanes past the column reach row positions beyond 2³¹
            (0.5, 3.5),
            (-1.0, 1.995),
            (2.0, 3.99),
            (140.0, 0.4),
        ] {
            for n in [1usize, 8, 19, 40, 64, 100] {
                let (k0, k1) = clip_range(a, s, 1.0, (ld - ROW_PAD) as f64, n);
                let mut want = vec![1.0f32; n];
                bilerp_scalar(&mut want, &pair, ld, a as f32, s as f32, 0.3, 0.9, k0, k1);
                #[cfg(target_arch = "x86_64")]
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    let mut got = vec![1.0f32; n];
                    // SAFETY: the CPU has AVX2 and FMA (checked above).
                    let mut line = vec![f32::NAN; ld + LINE_SLACK];
                    unsafe {
                        bilerp_avx2(
                            &mut got, &pair, ld, a as f32, s as f32, 0.3, 0.9, k0, k1, &mut line,
                        )
                    };
                    for (k, (g, w)) in got.iter().zip(&want).enumerate() {
                        assert!((g - w).abs() < 1e-4, "a {a} s {s} n {n} k {k}: {g} vs {w}");
                    }
                    if std::arch::is_x86_feature_detected!("avx512f") {
                        let sample = Sample {
                            start: 0,
                            a: a as f32,
                            slope: s as f32,
                            wa: 0.3,
                            wb: 0.9,
                            k0,
                            k1,
                        };
                        let mut wide = vec![1.0f32; n];
                        // SAFETY: the CPU has AVX-512F, AVX2 and FMA (checked above).
                        unsafe { column_avx512(&mut wide, &pair, ld, &[sample], &mut line) };
                        // The same sums in the same order: bit for bit.
                        assert_eq!(wide, got, "a {a} s {s} n {n}");
                        // Many views at once (in groups of 8, 4, 2, 1, with a steep view
                        // among them): the same as one after the other.
                        let mut all = vec![sample];
                        for m in 1..12 {
                            let (a, slope) = (
                                sample.a * 0.7 + 5.0 - 4.0 * m as f32,
                                if m == 9 {
                                    4.5
                                } else {
                                    sample.slope * (1.0 + 0.03 * m as f32)
                                },
                            );
                            let (k0, k1) =
                                clip_range(a as f64, slope as f64, 1.0, (ld - ROW_PAD) as f64, n);
                            let (wa, wb) = (0.1 * m as f32, 0.5 - 0.07 * m as f32);
                            all.push(Sample {
                                start: 0,
                                a,
                                slope,
                                wa,
                                wb,
                                k0,
                                k1,
                            });
                        }
                        let mut want = vec![1.0f32; n];
                        let mut both = vec![1.0f32; n];
                        // SAFETY: as above.
                        unsafe {
                            for v in &all {
                                bilerp_avx2(
                                    &mut want, &pair, ld, v.a, v.slope, v.wa, v.wb, v.k0, v.k1,
                                    &mut line,
                                );
                            }
                            column_avx512(&mut both, &pair, ld, &all, &mut line);
                        }
                        assert_eq!(both, want, "a {a} s {s} n {n} (12 views)");
                    }
                }
            }
        }
    }

    #[test]
    fn vector_and_scalar_lerp_agree() {
        let line: Vec<f32> = (0..40).map(|i| ((i * 13 % 7) as f32) * 0.3 - 1.0).collect();
        for &(a, s) in &[
            (1.2f32, 0.83f32),
            (30.0, -0.9),
            (12.5, -1.0),
            (-3.0, 1.0),
            (37.0, 0.7),
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
