//! Metal candidates: the dense objects of a scan, one mask each.
//!
//! Extraction runs in these steps, each explained by the physics of a parcel scan:
//!
//! 1. **One parallel pass over the volume** (rayon, one task per z slice) finds, row by
//!    row, the runs of voxels with μ ≥ `low_mu` and flags the runs that hold a voxel
//!    with μ ≥ `high_mu`; the same pass counts non-finite voxels and the value range.
//!    Metal is a small fraction of a parcel, so the runs are a sparse copy of the metal
//!    and everything after this pass costs in proportion to the metal, not the volume.
//! 2. **Run-based connected components with hysteresis**: runs that touch (6-, 18- or
//!    26-connectivity) are joined with a union–find whose root is always the first run
//!    in scan order, so labels follow scan order whatever the thread count. A component
//!    is kept only if it holds a run above `high_mu` (hysteresis: the low threshold
//!    keeps the blurred rim of a dense object, the high one refuses beam-hardening
//!    streaks and dense plastics, which rarely reach the density of steel) and if it is
//!    at least `min_volume_mm3` (streak specks, pins and staples go).
//! 3. **Optional opening** with a ball of `opening_radius_mm` (erosion and dilation by
//!    thresholding exact Euclidean distance maps), which cuts thin bridges made by
//!    streaks; pieces are relabelled.
//! 4. **Objects that blur together, split at narrow necks**, as an alternative reading
//!    (a "watershed-lite" on the distance to background):
//!    inside each component the exact Euclidean distance to the background is computed
//!    over its bounding box, voxels are flooded from the deepest down, and two flooded
//!    basins stay apart when both are deep (peak ≥ `split_min_core_mm`) and the voxel
//!    joining them is shallow (depth ≤ `split_neck_ratio` × the smaller peak): a narrow
//!    neck between two thick bodies, like two cartridges touching side by side or a
//!    tool resting on a bearing. Thin plates and wires have no deep core and are never
//!    split; a spanner's handle is not a neck (its depth is close to the heads'). The
//!    voxels are then shared out by a priority flood from each body's deep core, and a
//!    piece smaller than `split_min_volume_mm3` rejoins the neighbour it touches most
//!    (a split separates whole objects; it does not chip a bullet off its case). The
//!    pieces are kept as one of the [`Candidate::alternatives`]: two thick blocks
//!    joined by thin plates (a stamped receiver's trunnions) also look like this.
//! 5. **Bodies at the solid level, as an alternative.** Each candidate is relabelled
//!    at its own solid level (half the 75th percentile of its μ, capped at half of
//!    steel's μ at the metal energy); if that leaves two or more bodies of at least
//!    `split_min_volume_mm3`, each voxel goes to the body a breadth-first flood through
//!    the candidate reaches first, and the bodies are kept as
//!    [`Candidate::alternatives`]. Objects a millimetre or two apart merge through blur
//!    at `low_mu` but part at half their density, while thin walls read near that
//!    level and would fall apart, so the classifier weighs every reading.
//! 6. **Thick bodies, as an alternative.** A candidate of at least 20 cm³ is opened by
//!    a ball of 4 mm (at least one voxel): plates and rods thinner than about 8 mm
//!    (spanners, cutlery, coins, sheet, cable) go, bodies as thick as a slide, a bolt,
//!    a magazine or a box of rounds stay, their outline restored by the dilation. The
//!    pieces of at least 10 cm³ are kept as one of the [`Candidate::alternatives`]
//!    (even a single piece: a bolt with a fork lying across it is one object that the
//!    opening frees). Thin metal touching a threat along its length has no neck to
//!    split at and the same density, so neither step 4 nor step 5 parts them. The
//!    depth map is shared with step 4, and the distance transform skips the lanes of
//!    a box that hold no boundary.
use ndarray::{Array3, ArrayView3, Axis};
use rayon::prelude::*;

use crate::progress::{self, Progress};
use crate::{Error, Result, Volume};

use super::DetectOptions;

/// One metal candidate: a connected set of voxels, stored as a mask over its bounding box.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Index `(z, y, x)` of the bounding box's first voxel in the scanned volume.
    pub lo: [usize; 3],
    /// Membership over the bounding box, axes `(z, y, x)`; its shape is the box size.
    pub mask: Array3<bool>,
    /// Number of voxels in the mask.
    pub voxel_count: usize,
    /// Other readings of the same voxels as objects (module docs, steps 4 to 6): the
    /// pieces of the split at narrow necks and the bodies at the solid level, each when
    /// it gives two or more, and the thick bodies left by an opening, when it changes
    /// the candidate. The classifier may prefer one to the whole.
    pub alternatives: Vec<Vec<Candidate>>,
}

impl Candidate {
    /// One past the last voxel index `(z, y, x)` of the bounding box.
    pub fn hi(&self) -> [usize; 3] {
        let s = self.mask.dim();
        [self.lo[0] + s.0, self.lo[1] + s.1, self.lo[2] + s.2]
    }

    /// Two candidates read as one object: the union of their masks over the union of
    /// their boxes, with no other readings. The classifier judges a pair of nearby
    /// candidates this way when their joint outline may be one firearm's
    /// ([`super::classify::classify_candidates`]).
    ///
    /// # Example
    /// ```
    /// use ctscreen::detect::candidates::Candidate;
    /// let bar = |lo: [usize; 3]| Candidate {
    ///     lo,
    ///     mask: ndarray::Array3::from_elem((1, 1, 3), true),
    ///     voxel_count: 3,
    ///     alternatives: Vec::new(),
    /// };
    /// let both = bar([0, 0, 0]).joined(&bar([2, 1, 1]));
    /// assert_eq!((both.lo, both.hi(), both.voxel_count), ([0, 0, 0], [3, 2, 4], 6));
    /// ```
    pub fn joined(&self, other: &Candidate) -> Candidate {
        let (ha, hb) = (self.hi(), other.hi());
        let lo: [usize; 3] = std::array::from_fn(|k| self.lo[k].min(other.lo[k]));
        let hi: [usize; 3] = std::array::from_fn(|k| ha[k].max(hb[k]));
        let mut mask = Array3::from_elem((hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]), false);
        for c in [self, other] {
            let o = [c.lo[0] - lo[0], c.lo[1] - lo[1], c.lo[2] - lo[2]];
            for ((k, j, i), &m) in c.mask.indexed_iter() {
                if m {
                    mask[[o[0] + k, o[1] + j, o[2] + i]] = true;
                }
            }
        }
        let voxel_count = mask.iter().filter(|&&m| m).count();
        Candidate {
            lo,
            mask,
            voxel_count,
            alternatives: Vec::new(),
        }
    }
}

/// What the first pass learned about the whole volume.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VolumeStats {
    /// Number of voxels with μ ≥ the low threshold.
    pub metal_voxels: u64,
    /// Smallest finite value (mm⁻¹); `+inf` for an empty volume.
    pub min: f32,
    /// Largest finite value (mm⁻¹); `-inf` for an empty volume.
    pub max: f32,
}

#[derive(Debug, Clone, Copy)]
struct Run {
    y: u32,
    x0: u32,
    x1: u32,
    high: bool,
}

#[derive(Debug, Default)]
struct SliceScan {
    runs: Vec<Run>,
    /// `row_start[y]..row_start[y + 1]` are the runs of row `y`.
    row_start: Vec<u32>,
    nonfinite: usize,
    min: f32,
    max: f32,
}

fn scan_slice(slice: &[f32], ny: usize, nx: usize, low: f32, high: f32) -> SliceScan {
    let mut out = SliceScan {
        runs: Vec::new(),
        row_start: Vec::with_capacity(ny + 1),
        nonfinite: 0,
        min: f32::INFINITY,
        max: f32::NEG_INFINITY,
    };
    for y in 0..ny {
        out.row_start.push(out.runs.len() as u32);
        let row = &slice[y * nx..(y + 1) * nx];
        // Fast path: range and finiteness of the whole row (vectorises well).
        let mut lo = f32::INFINITY;
        let mut hi = f32::NEG_INFINITY;
        let mut bad = 0usize;
        for &v in row {
            if v.is_finite() {
                lo = lo.min(v);
                hi = hi.max(v);
            } else {
                bad += 1;
            }
        }
        out.nonfinite += bad;
        out.min = out.min.min(lo);
        out.max = out.max.max(hi);
        if hi < low {
            continue;
        }
        let mut x = 0usize;
        while x < nx {
            let v = row[x];
            if v.is_finite() && v >= low {
                let x0 = x;
                let mut has_high = false;
                while x < nx && row[x].is_finite() && row[x] >= low {
                    has_high |= row[x] >= high;
                    x += 1;
                }
                out.runs.push(Run {
                    y: y as u32,
                    x0: x0 as u32,
                    x1: x as u32,
                    high: has_high,
                });
            } else {
                x += 1;
            }
        }
    }
    out.row_start.push(out.runs.len() as u32);
    out
}

fn find(parent: &mut [u32], mut i: u32) -> u32 {
    while parent[i as usize] != i {
        let p = parent[parent[i as usize] as usize];
        parent[i as usize] = p;
        i = p;
    }
    i
}

fn union(parent: &mut [u32], a: u32, b: u32) {
    let ra = find(parent, a);
    let rb = find(parent, b);
    if ra != rb {
        // The smaller index (earlier in scan order) stays the root.
        let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
        parent[hi as usize] = lo;
    }
}

/// Neighbour rows `(previous slice?, dy, x tolerance)` already scanned when a row is
/// visited, for each connectivity.
fn neighbour_rows(connectivity: u8) -> &'static [(bool, i32, u32)] {
    match connectivity {
        6 => &[(false, -1, 0), (true, 0, 0)],
        18 => &[(false, -1, 1), (true, -1, 0), (true, 0, 1), (true, 1, 0)],
        _ => &[(false, -1, 1), (true, -1, 1), (true, 0, 1), (true, 1, 1)],
    }
}

/// Finds the metal candidates of `volume` (see the module docs for the steps).
///
/// Returns the candidates in scan order of their first voxel, and statistics of the
/// volume. Deterministic whatever the thread count.
///
/// **Errors** if the volume holds NaN or infinite voxels ([`Error::NonFinite`], with the
/// count), if its values cannot be μ in mm⁻¹ (beyond ±100, e.g. Hounsfield units), if
/// the options are invalid, or if cancelled.
///
/// # Example
/// ```
/// use ctscreen::{detect::{candidates::extract, DetectOptions}, Volume};
/// let mut a = ndarray::Array3::<f32>::zeros((20, 20, 20));
/// a.slice_mut(ndarray::s![5..15, 5..15, 5..15]).fill(0.5); // a 10 mm steel cube
/// let v = Volume::new(a, [1.0; 3], [0.0; 3]).unwrap();
/// let (cands, _) = extract(&v, &DetectOptions::default(), &ctscreen::NoProgress).unwrap();
/// assert_eq!(cands.len(), 1);
/// assert_eq!(cands[0].voxel_count, 1000);
/// ```
pub fn extract(
    volume: &Volume,
    options: &DetectOptions,
    progress: &dyn Progress,
) -> Result<(Vec<Candidate>, VolumeStats)> {
    options.validate()?;
    let [nz, ny, nx] = volume.shape();
    let mut stats = VolumeStats {
        metal_voxels: 0,
        min: f32::INFINITY,
        max: f32::NEG_INFINITY,
    };
    if nz == 0 || ny == 0 || nx == 0 {
        return Ok((Vec::new(), stats));
    }
    let low = options.low_mu;
    let high = options.high_mu;
    let data = volume
        .data()
        .as_slice()
        .expect("Volume keeps its data in standard layout");
    let plane = ny * nx;
    progress.start("detect: candidates", nz as u64);
    let scans: Vec<SliceScan> = data
        .par_chunks(plane)
        .map(|slice| {
            let s = scan_slice(slice, ny, nx, low, high);
            progress.advance(1);
            s
        })
        .collect();
    progress::check(progress)?;
    let nonfinite: usize = scans.iter().map(|s| s.nonfinite).sum();
    if nonfinite > 0 {
        return Err(Error::NonFinite {
            what: "volume".into(),
            count: nonfinite,
        });
    }
    for s in &scans {
        stats.min = stats.min.min(s.min);
        stats.max = stats.max.max(s.max);
        stats.metal_voxels += s.runs.iter().map(|r| u64::from(r.x1 - r.x0)).sum::<u64>();
    }
    if stats.max > 100.0 || stats.min < -100.0 {
        return Err(Error::invalid(
            "volume values",
            format!("range {} .. {}", stats.min, stats.max),
            "linear attenuation μ in mm⁻¹ (|μ| < 100); convert Hounsfield units with volume::hu_to_mu",
        ));
    }

    // Union–find over all runs, in scan order.
    let mut offset = Vec::with_capacity(nz + 1);
    let mut total = 0usize;
    for s in &scans {
        offset.push(total);
        total += s.runs.len();
    }
    offset.push(total);
    if total > u32::MAX as usize - 1 {
        return Err(Error::invalid(
            "volume",
            format!("{total} metal runs"),
            "fewer than 2^32 runs above low_mu (is low_mu far too low?)",
        ));
    }
    crate::volume::ensure_allocatable("candidate run labels", total as u128, 16)?;
    let mut parent: Vec<u32> = (0..total as u32).collect();
    let rows = neighbour_rows(options.connectivity);
    for z in 0..nz {
        let cur = &scans[z];
        for y in 0..ny {
            let (a0, a1) = (cur.row_start[y] as usize, cur.row_start[y + 1] as usize);
            if a0 == a1 {
                continue;
            }
            for &(prev_slice, dy, tol) in rows {
                if prev_slice && z == 0 {
                    continue;
                }
                let yy = y as i64 + dy as i64;
                if yy < 0 || yy >= ny as i64 {
                    continue;
                }
                let (zs, other) = if prev_slice {
                    (z - 1, &scans[z - 1])
                } else {
                    (z, cur)
                };
                let yy = yy as usize;
                let (b0, b1) = (
                    other.row_start[yy] as usize,
                    other.row_start[yy + 1] as usize,
                );
                let mut j = b0;
                for ia in a0..a1 {
                    let ra = cur.runs[ia];
                    while j < b1 && other.runs[j].x1 + tol <= ra.x0 {
                        j += 1;
                    }
                    let mut k = j;
                    while k < b1 && other.runs[k].x0 < ra.x1 + tol {
                        union(
                            &mut parent,
                            (offset[z] + ia) as u32,
                            (offset[zs] + k) as u32,
                        );
                        k += 1;
                    }
                }
            }
        }
    }
    progress::check(progress)?;

    // Component statistics, components numbered in scan order of their first run.
    struct Comp {
        count: u64,
        high: bool,
        lo: [usize; 3],
        hi: [usize; 3],
    }
    let mut comp_of_root: Vec<u32> = vec![u32::MAX; total];
    let mut comp_of_run: Vec<u32> = Vec::with_capacity(total);
    let mut comps: Vec<Comp> = Vec::new();
    for z in 0..nz {
        for (ir, r) in scans[z].runs.iter().enumerate() {
            let g = offset[z] + ir;
            let root = find(&mut parent, g as u32) as usize;
            if comp_of_root[root] == u32::MAX {
                comp_of_root[root] = comps.len() as u32;
                comps.push(Comp {
                    count: 0,
                    high: false,
                    lo: [usize::MAX; 3],
                    hi: [0; 3],
                });
            }
            let c = comp_of_root[root];
            comp_of_run.push(c);
            let comp = &mut comps[c as usize];
            comp.count += u64::from(r.x1 - r.x0);
            comp.high |= r.high;
            let (y, x0, x1) = (r.y as usize, r.x0 as usize, r.x1 as usize);
            comp.lo = [comp.lo[0].min(z), comp.lo[1].min(y), comp.lo[2].min(x0)];
            comp.hi = [
                comp.hi[0].max(z + 1),
                comp.hi[1].max(y + 1),
                comp.hi[2].max(x1),
            ];
        }
    }
    drop(parent);
    drop(comp_of_root);
    let voxel_mm3 = volume.voxel_volume_mm3();
    let keep: Vec<bool> = comps
        .iter()
        .map(|c| c.high && c.count as f64 * voxel_mm3 >= options.min_volume_mm3)
        .collect();
    // Runs of each kept component (counting sort by component).
    let mut kept_index = vec![u32::MAX; comps.len()];
    let mut kept: Vec<usize> = Vec::new();
    for (c, &k) in keep.iter().enumerate() {
        if k {
            kept_index[c] = kept.len() as u32;
            kept.push(c);
        }
    }
    let mut runs_of: Vec<Vec<(u32, Run)>> = vec![Vec::new(); kept.len()];
    let mut g = 0usize;
    for (z, s) in scans.iter().enumerate() {
        for r in &s.runs {
            let ki = kept_index[comp_of_run[g] as usize];
            if ki != u32::MAX {
                runs_of[ki as usize].push((z as u32, *r));
            }
            g += 1;
        }
    }
    drop(scans);
    for &c in &kept {
        let comp = &comps[c];
        let n: u128 = (0..3).map(|d| (comp.hi[d] - comp.lo[d]) as u128).product();
        crate::volume::ensure_allocatable("candidate bounding box", n, 1)?;
    }

    let view = volume.data().view();
    let spacing = volume.spacing();
    let pieces: Vec<Vec<Candidate>> = kept
        .par_iter()
        .zip(runs_of.par_iter())
        .map(|(&c, runs)| {
            let comp = &comps[c];
            let shape = [
                comp.hi[0] - comp.lo[0],
                comp.hi[1] - comp.lo[1],
                comp.hi[2] - comp.lo[2],
            ];
            let mut mask = Array3::from_elem(shape, false);
            for &(z, r) in runs {
                let k = z as usize - comp.lo[0];
                let j = r.y as usize - comp.lo[1];
                for x in r.x0 as usize..r.x1 as usize {
                    mask[[k, j, x - comp.lo[2]]] = true;
                }
            }
            let cand = Candidate {
                lo: comp.lo,
                mask,
                voxel_count: comp.count as usize,
                alternatives: Vec::new(),
            };
            refine(cand, view, spacing, options)
        })
        .collect();
    progress::check(progress)?;
    let out: Vec<Candidate> = pieces.into_iter().flatten().collect();
    Ok((out, stats))
}

/// Opening and splitting of one component; pieces below the size limit or without a
/// voxel above `high_mu` are dropped.
fn refine(
    cand: Candidate,
    data: ArrayView3<'_, f32>,
    spacing: [f64; 3],
    options: &DetectOptions,
) -> Vec<Candidate> {
    let voxel_mm3: f64 = spacing.iter().product();
    let mut pieces = vec![cand];
    if options.opening_radius_mm > 0.0 {
        pieces = pieces
            .into_iter()
            .flat_map(|c| open_and_relabel(c, spacing, options))
            .collect();
    }
    let keep = |c: &Candidate| {
        c.voxel_count as f64 * voxel_mm3 >= options.min_volume_mm3
            && has_high(c, data, options.high_mu)
    };
    pieces
        .into_iter()
        .filter(|c| keep(c))
        .map(|mut c| {
            if options.split_touching && (16..=MAX_REFINE_VOXELS).contains(&c.voxel_count) {
                let depth = distance_to_background(&c.mask, spacing);
                for (reading, least) in [
                    (split_touching(&c, &depth, spacing, options), 2),
                    (split_by_level(&c, data, spacing, options), 2),
                    (thick_bodies(&c, &depth, spacing, options), 1),
                ] {
                    let reading: Vec<Candidate> = reading.into_iter().filter(|b| keep(b)).collect();
                    if reading.len() >= least {
                        c.alternatives.push(reading);
                    }
                }
            }
            c
        })
        .collect()
}

fn has_high(c: &Candidate, data: ArrayView3<'_, f32>, high: f32) -> bool {
    c.mask
        .indexed_iter()
        .any(|((k, j, i), &m)| m && data[[c.lo[0] + k, c.lo[1] + j, c.lo[2] + i]] >= high)
}

/// Largest candidate (voxels) that opening and splitting work on; larger ones are
/// kept whole (they are sorted and flooded voxel by voxel).
const MAX_REFINE_VOXELS: usize = 4_000_000;

/// Radius of the opening that strips thin metal off thick bodies, mm: plates and rods
/// thinner than twice this (spanners 5–6 mm, cutlery, coins, sheet) go, bodies as
/// thick as a pistol's slide or magazine (20 mm and more) stay. Never below one voxel.
const THIN_OPENING_MM: f64 = 4.0;

/// Smallest candidate whose thick bodies are looked for, mm³: the steel of a polymer
/// pistol (slide and barrel, about 250 g) is some 30 cm³.
const THICK_MIN_VOLUME_MM3: f64 = 20_000.0;

/// Smallest thick body kept, mm³. The reading is there to free a threat's body (a
/// bolt, a slide, a loaded magazine, a box of rounds: 30–70 cm³) from thin metal; the
/// stubs an opening leaves where thin parts met (a few cm³) would only be new objects
/// to misread.
const THICK_PIECE_MIN_MM3: f64 = 10_000.0;

fn open_and_relabel(c: Candidate, spacing: [f64; 3], options: &DetectOptions) -> Vec<Candidate> {
    if c.voxel_count > MAX_REFINE_VOXELS {
        return vec![c];
    }
    let depth = distance_to_background(&c.mask, spacing);
    opened_pieces(
        &c,
        &depth,
        spacing,
        options.opening_radius_mm,
        options.connectivity,
        1,
    )
}

/// The thick bodies of a candidate (module docs, step 6): the pieces of its opening by
/// a ball of [`THIN_OPENING_MM`] (at least one voxel) that hold at least
/// [`THICK_PIECE_MIN_MM3`], unless the opening leaves the candidate as it was.
/// `depth` is the candidate's distance to background.
fn thick_bodies(
    c: &Candidate,
    depth: &Array3<f32>,
    spacing: [f64; 3],
    options: &DetectOptions,
) -> Vec<Candidate> {
    let voxel_mm3: f64 = spacing.iter().product();
    if (c.voxel_count as f64) * voxel_mm3 < THICK_MIN_VOLUME_MM3 {
        return Vec::new();
    }
    let largest = spacing.iter().cloned().fold(0.0, f64::max);
    let r = largest.max(THIN_OPENING_MM);
    let least = (THICK_PIECE_MIN_MM3 / voxel_mm3).ceil() as usize;
    let pieces = opened_pieces(c, depth, spacing, r, options.connectivity, least);
    if let [p] = pieces.as_slice() {
        if p.voxel_count == c.voxel_count {
            return Vec::new();
        }
    }
    pieces
}

/// The pieces of the opening of `c` by a ball of radius `r` mm: erosion keeps the
/// voxels deeper than `r` (`depth` is the distance to background), dilation adds back
/// the candidate's voxels within `r` of them.
fn opened_pieces(
    c: &Candidate,
    depth: &Array3<f32>,
    spacing: [f64; 3],
    r: f64,
    connectivity: u8,
    least: usize,
) -> Vec<Candidate> {
    let eroded = depth.mapv(|d| f64::from(d) > r);
    let reach = distance_to_set(&eroded, spacing);
    let opened = ndarray::Zip::from(&reach)
        .and(&c.mask)
        .map_collect(|&d, &m| m && f64::from(d) <= r);
    relabel_pieces(&opened, c.lo, connectivity, least)
}

/// Splits the connected pieces of `mask` (whose `[0, 0, 0]` is volume index `lo`) into
/// candidates of at least `least` voxels, in scan order of their first voxel.
fn relabel_pieces(
    mask: &Array3<bool>,
    lo: [usize; 3],
    connectivity: u8,
    least: usize,
) -> Vec<Candidate> {
    let (labels, n) = local_components(mask, connectivity);
    pieces_of_labels(&labels, n, lo, |_, count| count >= least)
}

/// The box (first index, one past the last) and voxel count of each label `1..=n` of
/// `labels`, in one pass; entry 0 (the background) and labels without voxels keep an
/// empty box and a count of 0.
pub(crate) fn label_boxes(labels: &Array3<u32>, n: usize) -> Vec<([usize; 3], [usize; 3], usize)> {
    let mut boxes = vec![([usize::MAX; 3], [0usize; 3], 0usize); n + 1];
    for ((k, j, i), &l) in labels.indexed_iter() {
        if l != 0 {
            let (a, b, count) = &mut boxes[l as usize];
            for (d, x) in [k, j, i].into_iter().enumerate() {
                a[d] = a[d].min(x);
                b[d] = b[d].max(x + 1);
            }
            *count += 1;
        }
    }
    boxes
}

/// One candidate per label `1..=n` of `labels` (whose `[0, 0, 0]` is volume index `lo`)
/// that holds a voxel and that `keep(label, voxel_count)` accepts, in label order, each
/// mask cut from its own box.
fn pieces_of_labels(
    labels: &Array3<u32>,
    n: usize,
    lo: [usize; 3],
    keep: impl Fn(u32, usize) -> bool,
) -> Vec<Candidate> {
    let mut out = Vec::new();
    for (l, (a, b, count)) in label_boxes(labels, n).into_iter().enumerate().skip(1) {
        if count == 0 || !keep(l as u32, count) {
            continue;
        }
        let sub = labels.slice(ndarray::s![a[0]..b[0], a[1]..b[1], a[2]..b[2]]);
        out.push(Candidate {
            lo: [lo[0] + a[0], lo[1] + a[1], lo[2] + a[2]],
            mask: sub.mapv(|v| v as usize == l),
            voxel_count: count,
            alternatives: Vec::new(),
        });
    }
    out
}

/// Offsets of the neighbours of a voxel for a connectivity (6, 18 or 26).
pub(crate) fn neighbour_offsets(connectivity: u8) -> Vec<[isize; 3]> {
    let mut v = Vec::new();
    for dz in -1isize..=1 {
        for dy in -1isize..=1 {
            for dx in -1isize..=1 {
                let n = dz.abs() + dy.abs() + dx.abs();
                let ok = match connectivity {
                    6 => n == 1,
                    18 => n == 1 || n == 2,
                    _ => n >= 1,
                };
                if ok {
                    v.push([dz, dy, dx]);
                }
            }
        }
    }
    v
}

/// Connected components of a small mask (breadth-first), labels 1..n in scan order.
pub(crate) fn local_components(mask: &Array3<bool>, connectivity: u8) -> (Array3<u32>, usize) {
    let (nz, ny, nx) = mask.dim();
    let offs = neighbour_offsets(connectivity);
    let mut labels = Array3::<u32>::zeros((nz, ny, nx));
    let mut n = 0u32;
    let mut queue: Vec<[usize; 3]> = Vec::new();
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                if !mask[[k, j, i]] || labels[[k, j, i]] != 0 {
                    continue;
                }
                n += 1;
                labels[[k, j, i]] = n;
                queue.clear();
                queue.push([k, j, i]);
                while let Some(p) = queue.pop() {
                    for o in &offs {
                        let q = [
                            p[0] as isize + o[0],
                            p[1] as isize + o[1],
                            p[2] as isize + o[2],
                        ];
                        if q[0] < 0
                            || q[1] < 0
                            || q[2] < 0
                            || q[0] >= nz as isize
                            || q[1] >= ny as isize
                            || q[2] >= nx as isize
                        {
                            continue;
                        }
                        let q = [q[0] as usize, q[1] as usize, q[2] as usize];
                        if mask[q] && labels[q] == 0 {
                            labels[q] = n;
                            queue.push(q);
                        }
                    }
                }
            }
        }
    }
    (labels, n as usize)
}

/// The solid level of a set of μ values: half their 75th percentile, at least
/// `low_mu`, at most half of steel's μ at the metal energy (shared with the shape
/// descriptors, so that a lead bullet does not lift the level above its brass case).
pub(crate) fn solid_level(values: &mut [f32], options: &DetectOptions) -> f32 {
    if values.is_empty() {
        return options.low_mu;
    }
    let k = ((values.len() - 1) as f64 * 0.75).round() as usize;
    let (_, p75, _) = values.select_nth_unstable_by(k, f32::total_cmp);
    let cap = 0.5 * crate::physics::Material::Steel.mu_per_mm(options.metal_energy_kev);
    options.low_mu.max((0.5 * f64::from(*p75)).min(cap) as f32)
}

/// Splits a component into the bodies it holds at its own solid level (see the module
/// docs): bodies of at least `split_min_volume_mm3` seed a breadth-first flood through
/// the component's other voxels.
fn split_by_level(
    c: &Candidate,
    data: ArrayView3<'_, f32>,
    spacing: [f64; 3],
    options: &DetectOptions,
) -> Vec<Candidate> {
    if c.voxel_count > MAX_REFINE_VOXELS || c.voxel_count < 16 {
        return Vec::new();
    }
    let (nz, ny, nx) = c.mask.dim();
    let value = |k: usize, j: usize, i: usize| data[[c.lo[0] + k, c.lo[1] + j, c.lo[2] + i]];
    let mut vals: Vec<f32> = c
        .mask
        .indexed_iter()
        .filter(|(_, &m)| m)
        .map(|((k, j, i), _)| value(k, j, i))
        .collect();
    let level = solid_level(&mut vals, options);
    let solid = Array3::from_shape_fn((nz, ny, nx), |(k, j, i)| {
        c.mask[[k, j, i]] && value(k, j, i) >= level
    });
    let (labels, n) = local_components(&solid, options.connectivity);
    if n < 2 {
        return Vec::new();
    }
    let voxel_mm3: f64 = spacing.iter().product();
    let mut size = vec![0usize; n + 1];
    for &l in labels.iter() {
        size[l as usize] += 1;
    }
    let min_vox = (options.split_min_volume_mm3 / voxel_mm3).ceil() as usize;
    let big: Vec<bool> = (0..=n).map(|l| l > 0 && size[l] >= min_vox).collect();
    if big.iter().filter(|&&b| b).count() < 2 {
        return Vec::new();
    }
    // Breadth-first flood from the big bodies through the rest of the component.
    let mut owner = Array3::<u32>::zeros((nz, ny, nx));
    let mut queue = std::collections::VecDeque::new();
    for ((k, j, i), &l) in labels.indexed_iter() {
        if l > 0 && big[l as usize] {
            owner[[k, j, i]] = l;
            queue.push_back([k, j, i]);
        }
    }
    let offs = neighbour_offsets(options.connectivity);
    while let Some(p) = queue.pop_front() {
        let l = owner[p];
        for o in &offs {
            let q = [
                p[0] as isize + o[0],
                p[1] as isize + o[1],
                p[2] as isize + o[2],
            ];
            if q.iter().any(|&x| x < 0)
                || q[0] >= nz as isize
                || q[1] >= ny as isize
                || q[2] >= nx as isize
            {
                continue;
            }
            let q = [q[0] as usize, q[1] as usize, q[2] as usize];
            if c.mask[q] && owner[q] == 0 {
                owner[q] = l;
                queue.push_back(q);
            }
        }
    }
    pieces_of_labels(&owner, n, c.lo, |l, _| big[l as usize])
}

/// The watershed-lite split described in the module docs.
fn split_touching(
    c: &Candidate,
    depth: &Array3<f32>,
    spacing: [f64; 3],
    options: &DetectOptions,
) -> Vec<Candidate> {
    let min_core = options.split_min_core_mm as f32;
    let max_depth = depth.iter().fold(0.0f32, |a, &b| a.max(b));
    if max_depth < min_core {
        return Vec::new();
    }
    let (nz, ny, nx) = c.mask.dim();
    let lin = |k: usize, j: usize, i: usize| (k * ny + j) * nx + i;
    let mut order: Vec<(f32, u32)> = c
        .mask
        .indexed_iter()
        .filter(|(_, &m)| m)
        .map(|((k, j, i), _)| (depth[[k, j, i]], lin(k, j, i) as u32))
        .collect();
    // Deepest first; equal depths in scan order.
    order.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let n = nz * ny * nx;
    const NONE: u32 = u32::MAX;
    let mut basin = vec![NONE; n]; // flooded voxels: an index into `parent`
    let mut parent: Vec<u32> = Vec::new();
    let mut peak: Vec<f32> = Vec::new();
    let offs = neighbour_offsets(options.connectivity);
    let ratio = options.split_neck_ratio as f32;
    let mut roots: Vec<u32> = Vec::with_capacity(26);
    for &(d, idx) in &order {
        let idx = idx as usize;
        let (k, j, i) = (idx / (ny * nx), (idx / nx) % ny, idx % nx);
        roots.clear();
        for o in &offs {
            let (kk, jj, ii) = (k as isize + o[0], j as isize + o[1], i as isize + o[2]);
            if kk < 0
                || jj < 0
                || ii < 0
                || kk >= nz as isize
                || jj >= ny as isize
                || ii >= nx as isize
            {
                continue;
            }
            let b = basin[lin(kk as usize, jj as usize, ii as usize)];
            if b != NONE {
                let r = find(&mut parent, b);
                if !roots.contains(&r) {
                    roots.push(r);
                }
            }
        }
        if roots.is_empty() {
            parent.push(parent.len() as u32);
            peak.push(d);
            basin[idx] = (parent.len() - 1) as u32;
            continue;
        }
        // The deepest basin takes the voxel; the others join it unless both are deep
        // and this voxel is a narrow neck between them.
        roots.sort_unstable_by(|&a, &b| {
            peak[b as usize]
                .total_cmp(&peak[a as usize])
                .then(a.cmp(&b))
        });
        let main = roots[0];
        for &r in &roots[1..] {
            let small = peak[r as usize].min(peak[main as usize]);
            let separate = small >= min_core && d <= ratio * small;
            if !separate {
                // Union keeping `main` as the root (its peak is the larger).
                parent[r as usize] = main;
            }
        }
        basin[idx] = main;
    }
    // Final basin of each voxel.
    let mut label_of_root: Vec<u32> = vec![0; parent.len()];
    let mut nlab = 0u32;
    let mut labels = Array3::<u32>::zeros((nz, ny, nx));
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                let b = basin[lin(k, j, i)];
                if b == NONE {
                    continue;
                }
                let r = find(&mut parent, b) as usize;
                if label_of_root[r] == 0 {
                    nlab += 1;
                    label_of_root[r] = nlab;
                }
                labels[[k, j, i]] = label_of_root[r];
            }
        }
    }
    if nlab <= 1 {
        return Vec::new();
    }
    // The flooding decides which bodies are separate; the voxels are then shared out
    // by a priority flood from each body's deep core (depth ≥ 0.7 × its peak), deepest
    // first and first-come first-served among equal depths, so that a plateau or a
    // contact region is divided between the bodies instead of going to the first one
    // in scan order.
    let mut body_peak = vec![0.0f32; nlab as usize + 1];
    for ((k, j, i), &l) in labels.indexed_iter() {
        if l > 0 {
            body_peak[l as usize] = body_peak[l as usize].max(depth[[k, j, i]]);
        }
    }
    let mut heap: std::collections::BinaryHeap<(u32, std::cmp::Reverse<u64>, u32, u32)> =
        std::collections::BinaryHeap::new();
    let mut seq = 0u64;
    let mut owner = vec![0u32; n];
    for ((k, j, i), &l) in labels.indexed_iter() {
        if l > 0 && depth[[k, j, i]] >= 0.7 * body_peak[l as usize] {
            let idx = lin(k, j, i);
            owner[idx] = l;
            heap.push((
                depth[[k, j, i]].to_bits(),
                std::cmp::Reverse(seq),
                idx as u32,
                l,
            ));
            seq += 1;
        }
    }
    while let Some((_, _, idx, l)) = heap.pop() {
        let idx = idx as usize;
        let (k, j, i) = (idx / (ny * nx), (idx / nx) % ny, idx % nx);
        for o in &offs {
            let (kk, jj, ii) = (k as isize + o[0], j as isize + o[1], i as isize + o[2]);
            if kk < 0
                || jj < 0
                || ii < 0
                || kk >= nz as isize
                || jj >= ny as isize
                || ii >= nx as isize
            {
                continue;
            }
            let (kk, jj, ii) = (kk as usize, jj as usize, ii as usize);
            let q = lin(kk, jj, ii);
            if c.mask[[kk, jj, ii]] && owner[q] == 0 {
                owner[q] = l;
                heap.push((
                    depth[[kk, jj, ii]].to_bits(),
                    std::cmp::Reverse(seq),
                    q as u32,
                    l,
                ));
                seq += 1;
            }
        }
    }
    for ((k, j, i), l) in labels.indexed_iter_mut() {
        *l = owner[lin(k, j, i)];
    }
    // A split separates whole objects: a piece under `split_min_volume_mm3` goes back to
    // the piece it shares the most faces with (smallest pieces first).
    let voxel_mm3: f64 = spacing.iter().product();
    let min_vox = (options.split_min_volume_mm3 / voxel_mm3).ceil() as usize;
    loop {
        let mut size = vec![0usize; nlab as usize + 1];
        for &l in labels.iter() {
            size[l as usize] += 1;
        }
        let small = (1..=nlab as usize)
            .filter(|&l| size[l] > 0 && size[l] < min_vox)
            .min_by_key(|&l| (size[l], l));
        let Some(small) = small else { break };
        let mut contact = vec![0usize; nlab as usize + 1];
        for ((k, j, i), &l) in labels.indexed_iter() {
            if l as usize != small {
                continue;
            }
            for (d, n) in [(0usize, nz), (1, ny), (2, nx)] {
                let mut q = [k, j, i];
                for step in [-1isize, 1] {
                    let p = q[d] as isize + step;
                    if p < 0 || p >= n as isize {
                        continue;
                    }
                    let keep = q[d];
                    q[d] = p as usize;
                    let m = labels[q] as usize;
                    if m != 0 && m != small {
                        contact[m] += 1;
                    }
                    q[d] = keep;
                }
            }
        }
        let target = (1..=nlab as usize)
            .filter(|&m| contact[m] > 0)
            .max_by_key(|&m| (contact[m], std::cmp::Reverse(m)));
        let Some(target) = target else { break };
        labels.mapv_inplace(|l| {
            if l as usize == small {
                target as u32
            } else {
                l
            }
        });
    }
    pieces_of_labels(&labels, nlab as usize, c.lo, |_, _| true)
}

/// Exact Euclidean distance (mm) from each set voxel of `mask` to the nearest unset
/// voxel centre, with everything outside the array unset; 0 on unset voxels.
/// Separable lower-envelope algorithm (Felzenszwalb & Huttenlocher 2012), one pass per
/// axis, anisotropic spacing `(dz, dy, dx)` mm.
pub(crate) fn distance_to_background(mask: &Array3<bool>, spacing: [f64; 3]) -> Array3<f32> {
    let mut d2: Array3<f64> = mask.mapv(|m| if m { f64::INFINITY } else { 0.0 });
    squared_distances(&mut d2, spacing, true);
    d2.mapv(|x| x.sqrt() as f32)
}

/// Exact Euclidean distance (mm) from each voxel to the nearest set voxel of `set`,
/// looking only inside the array (infinite where `set` is empty); 0 on set voxels.
fn distance_to_set(set: &Array3<bool>, spacing: [f64; 3]) -> Array3<f32> {
    let mut d2: Array3<f64> = set.mapv(|m| if m { 0.0 } else { f64::INFINITY });
    squared_distances(&mut d2, spacing, false);
    d2.mapv(|x| x.sqrt() as f32)
}

/// The separable transform in place: `d2` holds 0 on sites and infinity elsewhere, and
/// ends as squared distances (mm²) to the nearest site; `border` adds sites just
/// outside each face. Lanes that are all sites, or (without `border`) hold none yet,
/// are left as they are: their transform is the identity, and in a candidate's box
/// most lanes are one or the other.
fn squared_distances(d2: &mut Array3<f64>, spacing: [f64; 3], border: bool) {
    let dims = d2.dim();
    let dims = [dims.0, dims.1, dims.2];
    let mut f = Vec::new();
    let mut out = Vec::new();
    let mut v: Vec<usize> = Vec::new();
    let mut zb: Vec<f64> = Vec::new();
    for axis in [2usize, 1, 0] {
        let n = dims[axis];
        let s = spacing[axis];
        for mut lane in d2.lanes_mut(Axis(axis)) {
            f.clear();
            f.extend(lane.iter().copied());
            if f.iter().all(|&x| x == 0.0) || (!border && f.iter().all(|x| x.is_infinite())) {
                continue;
            }
            out.clear();
            out.resize(n, 0.0);
            edt_1d(&f, s, border, &mut out, &mut v, &mut zb);
            for (dst, &src) in lane.iter_mut().zip(out.iter()) {
                *dst = src;
            }
        }
    }
}

/// One-dimensional squared distance transform of `f` (sites at positions `q · s` mm),
/// into `out`; with `border`, background sites (value 0) lie just outside both ends.
/// A lane without any finite value and no border gets infinity.
pub(crate) fn edt_1d(
    f: &[f64],
    s: f64,
    border: bool,
    out: &mut [f64],
    v: &mut Vec<usize>,
    z: &mut Vec<f64>,
) {
    let n = f.len();
    // Sites: index 0 is the virtual site at position -1, n + 1 the one at position n.
    let val = |q: usize| -> f64 {
        if q == 0 || q == n + 1 {
            if border {
                0.0
            } else {
                f64::INFINITY
            }
        } else {
            f[q - 1]
        }
    };
    let pos = |q: usize| -> f64 { (q as f64 - 1.0) * s };
    v.clear();
    z.clear();
    for q in 0..n + 2 {
        let fq = val(q);
        if !fq.is_finite() {
            continue;
        }
        loop {
            match v.last() {
                None => {
                    v.push(q);
                    z.push(f64::NEG_INFINITY);
                    break;
                }
                Some(&p) => {
                    let (pp, pq) = (pos(p), pos(q));
                    let x = ((fq + pq * pq) - (val(p) + pp * pp)) / (2.0 * (pq - pp));
                    if x <= *z.last().unwrap() {
                        v.pop();
                        z.pop();
                    } else {
                        v.push(q);
                        z.push(x);
                        break;
                    }
                }
            }
        }
    }
    if v.is_empty() {
        out.fill(f64::INFINITY);
        return;
    }
    let mut k = 0usize;
    for (i, o) in out.iter_mut().enumerate() {
        let x = i as f64 * s;
        while k + 1 < v.len() && z[k + 1] < x {
            k += 1;
        }
        let p = v[k];
        let dx = x - pos(p);
        *o = dx * dx + val(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::s;

    fn opts() -> DetectOptions {
        DetectOptions::default()
    }

    #[test]
    fn edt_matches_brute_force() {
        let mask = Array3::from_shape_fn((7, 9, 8), |(k, j, i)| {
            (k * 7 + j * 3 + i * 5) % 11 != 0 && !(k == 3 && j == 4)
        });
        let sp = [2.0, 1.0, 0.5];
        let d = distance_to_background(&mask, sp);
        for ((k, j, i), &m) in mask.indexed_iter() {
            let mut best = f64::INFINITY;
            // background inside, and the virtual background just outside each face
            for ((kk, jj, ii), &mm) in mask.indexed_iter() {
                if !mm {
                    let dd = ((k as f64 - kk as f64) * sp[0]).powi(2)
                        + ((j as f64 - jj as f64) * sp[1]).powi(2)
                        + ((i as f64 - ii as f64) * sp[2]).powi(2);
                    best = best.min(dd);
                }
            }
            let faces = [
                (k as f64 + 1.0) * sp[0],
                (7.0 - k as f64) * sp[0],
                (j as f64 + 1.0) * sp[1],
                (9.0 - j as f64) * sp[1],
                (i as f64 + 1.0) * sp[2],
                (8.0 - i as f64) * sp[2],
            ];
            for fdist in faces {
                best = best.min(fdist * fdist);
            }
            let want = if m { best.sqrt() } else { 0.0 };
            assert!((d[[k, j, i]] as f64 - want).abs() < 1e-4, "{k} {j} {i}");
        }
    }

    #[test]
    fn distance_to_set_matches_brute_force_and_ignores_the_faces() {
        let set = Array3::from_shape_fn((6, 7, 9), |(k, j, i)| (k * 5 + j * 7 + i * 3) % 17 == 0);
        let sp = [1.5, 1.0, 0.75];
        let d = distance_to_set(&set, sp);
        for ((k, j, i), _) in set.indexed_iter() {
            let mut best = f64::INFINITY;
            for ((kk, jj, ii), &s) in set.indexed_iter() {
                if s {
                    let dd = ((k as f64 - kk as f64) * sp[0]).powi(2)
                        + ((j as f64 - jj as f64) * sp[1]).powi(2)
                        + ((i as f64 - ii as f64) * sp[2]).powi(2);
                    best = best.min(dd);
                }
            }
            assert!(
                (d[[k, j, i]] as f64 - best.sqrt()).abs() < 1e-4,
                "{k} {j} {i}"
            );
        }
        let empty = Array3::from_elem((3, 4, 5), false);
        assert!(distance_to_set(&empty, sp).iter().all(|d| d.is_infinite()));
    }

    /// A 40 × 30 × 30 mm steel block with a 3 mm plate (a spanner's thickness)
    /// touching it: the opening's reading keeps the block and drops the plate.
    #[test]
    fn thick_bodies_strip_a_thin_plate_off_a_block() {
        let mut a = Array3::<f32>::zeros((40, 60, 120));
        a.slice_mut(s![5..35, 5..35, 5..45]).fill(0.5);
        a.slice_mut(s![18..21, 10..50, 45..115]).fill(0.5);
        let v = Volume::new(a, [1.0; 3], [0.0; 3]).unwrap();
        let (cands, _) = extract(&v, &opts(), &crate::NoProgress).unwrap();
        assert_eq!(cands.len(), 1);
        let c = &cands[0];
        assert_eq!(c.voxel_count, 30 * 30 * 40 + 3 * 40 * 70);
        let thick: Vec<&Vec<Candidate>> = c
            .alternatives
            .iter()
            .filter(|r| r.len() == 1 && r[0].voxel_count < c.voxel_count)
            .collect();
        assert_eq!(
            thick.len(),
            1,
            "{:?}",
            c.alternatives.iter().map(|r| r.len()).collect::<Vec<_>>()
        );
        // The block, and at most a stub of the plate where the two meet.
        let block = &thick[0][0];
        assert_eq!(block.lo, [5, 5, 5]);
        let hi = block.hi();
        assert!(hi[..2] == [35, 35] && (45..=47).contains(&hi[2]), "{hi:?}");
        // The ball rounds the block's edges a little.
        let share = block.voxel_count as f64 / (30 * 30 * 40) as f64;
        assert!((0.9..=1.01).contains(&share), "{share}");
    }

    #[test]
    fn hysteresis_keeps_only_components_with_a_dense_voxel() {
        let mut a = Array3::<f32>::zeros((12, 12, 30));
        a.slice_mut(s![2..8, 2..8, 2..8]).fill(0.5); // steel
        a.slice_mut(s![2..8, 2..8, 12..18]).fill(0.09); // above low, never high
        a.slice_mut(s![2..8, 2..8, 22..28]).fill(0.09);
        a[[5, 5, 25]] = 0.4; // one dense voxel makes the third cube a candidate
        let v = Volume::new(a, [1.0; 3], [0.0; 3]).unwrap();
        let (c, stats) = extract(&v, &opts(), &crate::NoProgress).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].lo, [2, 2, 2]);
        assert_eq!(c[1].lo, [2, 2, 22]);
        assert_eq!(stats.metal_voxels, 3 * 216);
    }

    #[test]
    fn small_components_are_removed_in_mm3() {
        let mut a = Array3::<f32>::zeros((10, 10, 10));
        a.slice_mut(s![1..3, 1..3, 1..3]).fill(0.6); // 8 voxels of 8 mm³ = 64 mm³
        let v = Volume::new(a.clone(), [2.0; 3], [0.0; 3]).unwrap();
        let mut o = opts();
        o.min_volume_mm3 = 60.0;
        assert_eq!(extract(&v, &o, &crate::NoProgress).unwrap().0.len(), 1);
        o.min_volume_mm3 = 70.0;
        assert_eq!(extract(&v, &o, &crate::NoProgress).unwrap().0.len(), 0);
    }

    #[test]
    fn connectivity_decides_diagonal_contacts() {
        let mut a = Array3::<f32>::zeros((12, 12, 12));
        a.slice_mut(s![1..5, 1..5, 1..5]).fill(0.6);
        a.slice_mut(s![5..9, 5..9, 5..9]).fill(0.6); // touches only at a corner
        let v = Volume::new(a, [1.0; 3], [0.0; 3]).unwrap();
        let mut o = opts();
        o.split_touching = false;
        o.min_volume_mm3 = 1.0;
        for (conn, n) in [(26u8, 1usize), (18, 2), (6, 2)] {
            o.connectivity = conn;
            assert_eq!(
                extract(&v, &o, &crate::NoProgress).unwrap().0.len(),
                n,
                "{conn}"
            );
        }
    }

    #[test]
    fn touching_balls_are_split_and_a_bar_is_not() {
        // Two balls of radius 6 mm touching at one point, and a long bar 4 mm thick.
        let mut a = Array3::<f32>::zeros((20, 20, 70));
        for ((k, j, i), v) in a.indexed_iter_mut() {
            let (z, y, x) = (k as f64, j as f64, i as f64);
            let r1 = ((z - 10.0).powi(2) + (y - 10.0).powi(2) + (x - 8.0).powi(2)).sqrt();
            let r2 = ((z - 10.0).powi(2) + (y - 10.0).powi(2) + (x - 20.0).powi(2)).sqrt();
            if r1 <= 6.0 || r2 <= 6.0 {
                *v = 0.6;
            }
            if (8..12).contains(&k) && (8..12).contains(&j) && (30..68).contains(&i) {
                *v = 0.6;
            }
        }
        let v = Volume::new(a, [1.0; 3], [0.0; 3]).unwrap();
        let (c, _) = extract(&v, &opts(), &crate::NoProgress).unwrap();
        assert_eq!(
            c.len(),
            2,
            "{:?}",
            c.iter().map(|c| c.voxel_count).collect::<Vec<_>>()
        );
        // The balls are one candidate whose split reading has two (nearly) equal halves.
        let halves = &c[0].alternatives[0];
        assert_eq!(halves.len(), 2);
        let (n0, n1) = (halves[0].voxel_count as f64, halves[1].voxel_count as f64);
        assert!((n0 - n1).abs() / (n0 + n1) < 0.1, "{n0} {n1}");
        assert_eq!(n0 + n1, c[0].voxel_count as f64);
        // The bar has no other reading.
        assert_eq!(c[1].voxel_count, 4 * 4 * 38);
        assert!(c[1].alternatives.is_empty());
    }

    #[test]
    fn a_small_body_is_not_split_off() {
        // Ball of radius 7 mm (1437 mm³) touching one of radius 4.5 mm (382 mm³).
        let mut a = Array3::<f32>::zeros((24, 24, 40));
        for ((k, j, i), v) in a.indexed_iter_mut() {
            let (z, y, x) = (k as f64, j as f64, i as f64);
            let r1 = ((z - 12.0).powi(2) + (y - 12.0).powi(2) + (x - 10.0).powi(2)).sqrt();
            let r2 = ((z - 12.0).powi(2) + (y - 12.0).powi(2) + (x - 21.5).powi(2)).sqrt();
            if r1 <= 7.0 || r2 <= 4.5 {
                *v = 0.6;
            }
        }
        let v = Volume::new(a, [1.0; 3], [0.0; 3]).unwrap();
        let mut o = opts();
        o.split_min_core_mm = 3.0;
        let (c, _) = extract(&v, &o, &crate::NoProgress).unwrap();
        assert_eq!(c.len(), 1);
        assert!(c[0].alternatives.is_empty());
        o.split_min_volume_mm3 = 100.0;
        let (c, _) = extract(&v, &o, &crate::NoProgress).unwrap();
        assert_eq!(c[0].alternatives[0].len(), 2);
    }

    #[test]
    fn bodies_apart_at_their_level_are_an_alternative_reading() {
        // Two steel blocks 2 mm apart, joined through blur at a level of 0.1.
        let mut a = Array3::<f32>::zeros((20, 20, 40));
        a.slice_mut(s![4..16, 4..16, 4..18]).fill(0.5);
        a.slice_mut(s![4..16, 4..16, 20..34]).fill(0.5);
        a.slice_mut(s![4..16, 4..16, 18..20]).fill(0.1);
        let v = Volume::new(a, [1.0; 3], [0.0; 3]).unwrap();
        let (c, _) = extract(&v, &opts(), &crate::NoProgress).unwrap();
        assert_eq!(c.len(), 1);
        let level = c[0].alternatives.last().expect("a level reading");
        assert_eq!(level.len(), 2);
        assert_eq!(
            level[0].voxel_count + level[1].voxel_count,
            c[0].voxel_count
        );
    }

    #[test]
    fn opening_cuts_a_thin_bridge() {
        let mut a = Array3::<f32>::zeros((16, 16, 40));
        a.slice_mut(s![3..13, 3..13, 2..14]).fill(0.6);
        a.slice_mut(s![3..13, 3..13, 26..38]).fill(0.6);
        a.slice_mut(s![7..8, 7..8, 14..26]).fill(0.6); // one-voxel wire between them
        let v = Volume::new(a, [1.0; 3], [0.0; 3]).unwrap();
        let mut o = opts();
        o.split_touching = false;
        assert_eq!(extract(&v, &o, &crate::NoProgress).unwrap().0.len(), 1);
        o.opening_radius_mm = 1.5;
        let (c, _) = extract(&v, &o, &crate::NoProgress).unwrap();
        assert_eq!(c.len(), 2);
        // Opening a box with a ball keeps the box (corners rounded off only).
        assert!(c[0].voxel_count > 1000 && c[0].voxel_count <= 1200);
    }

    #[test]
    fn nan_voxels_are_counted_in_the_error() {
        let mut a = Array3::<f32>::zeros((4, 4, 4));
        a[[1, 1, 1]] = f32::NAN;
        a[[2, 1, 1]] = f32::INFINITY;
        let v = Volume::new(a, [1.0; 3], [0.0; 3]).unwrap();
        let e = extract(&v, &opts(), &crate::NoProgress).unwrap_err();
        assert!(matches!(e, Error::NonFinite { count: 2, .. }), "{e}");
        assert!(e.to_string().contains('2'));
    }

    #[test]
    fn hounsfield_input_is_refused() {
        let mut a = Array3::<f32>::from_elem((4, 4, 4), -1000.0);
        a[[1, 1, 1]] = 3000.0;
        let v = Volume::new(a, [1.0; 3], [0.0; 3]).unwrap();
        let e = extract(&v, &opts(), &crate::NoProgress).unwrap_err();
        assert!(e.to_string().contains("hu_to_mu"), "{e}");
    }
}
