//! Connected-component labelling, parallel over z slabs.
//!
//! Three phases:
//!
//! 1. Each slab of z planes is scanned in raster order on its own (rayon, one task per
//!    slab). A foreground voxel looks at its already-visited neighbours (13 for
//!    26-connectivity, 9 for 18, 3 for 6) in a fixed priority order. Two visited
//!    neighbours that are adjacent and equal are already in the same equivalence class,
//!    so once a neighbour is found connected, every neighbour adjacent to it is skipped
//!    (the "covering" rule behind decision-tree scans such as Wu et al.'s and He et
//!    al.'s): for 26-connectivity, the voxel below (z − 1) covers all twelve others, so
//!    a hit there costs one load and no union. Such rows take two passes: a branch-free
//!    one settles background and hits below for the whole row and lists the rest, which
//!    a second pass resolves in order. Provisional labels go straight into the output
//!    array and equivalences into a per-slab union-find table (path halving, larger root
//!    linked under the smaller, so a parent index never exceeds its child).
//! 2. The slab tables are concatenated (a global id per provisional label, in slab
//!    order) and the voxels of each slab's first plane are joined with their neighbours
//!    in the plane below (serial: one plane per slab boundary).
//! 3. One ascending pass over the table turns it into final labels: a root (which is
//!    the smallest id of its component, i.e. the one created by the component's first
//!    voxel in raster order) takes the next number; every other id copies its parent's
//!    number. A parallel pass rewrites the output. Numbering is thus by raster order of
//!    each component's first voxel, as `scipy.ndimage.label` and `cc3d` number, and the
//!    result does not depend on how the volume was split into slabs.
//!
//! Memory: the input, the `u32` output, and the union-find table (one `u32` per
//! provisional label, at most one per foreground voxel and in practice far fewer).

use ndarray::{Array2, Array3, ArrayView2, ArrayView3, Axis};
use rayon::prelude::*;

use super::{ensure_nonempty, slab_count, slab_ranges, Connectivity, LabelValue};
use crate::progress::{self, NoProgress, Progress};
use crate::volume::ensure_allocatable;
use crate::{Error, Result};

/// Labels the connected components of `input` (`(z, y, x)`): voxels are joined when
/// they are neighbours under `connectivity`, equal, and not zero / `false`.
///
/// Returns the labels (0 = background, components numbered 1..=N in raster order of
/// their first voxel, the numbering of `scipy.ndimage.label` and `cc3d`) and N. For a
/// boolean or 0/1 mask this is `scipy.ndimage.label(mask, generate_binary_structure(3,
/// c))`; for an integer label image each value's components are labelled separately,
/// like `cc3d.connected_components`. The result is identical on any number of threads.
///
/// **Errors** if a dimension is zero, the output cannot be allocated
/// ([`Error::TooLarge`]), or the volume has more than 2³² − 2 provisional labels.
///
/// # Example
/// ```
/// use ctscreen::segment::{label, Connectivity};
/// let mut mask = ndarray::Array3::from_elem((3, 4, 5), false);
/// mask[[0, 0, 0]] = true;
/// mask[[1, 1, 1]] = true; // touches [0, 0, 0] by a corner only
/// mask[[2, 3, 4]] = true;
/// let (labels, n) = label(mask.view(), Connectivity::TwentySix).unwrap();
/// assert_eq!(n, 2);
/// assert_eq!(labels[[1, 1, 1]], 1);
/// assert_eq!(labels[[2, 3, 4]], 2);
/// let (_, n6) = label(mask.view(), Connectivity::Six).unwrap();
/// assert_eq!(n6, 3);
/// ```
pub fn label<T: LabelValue>(
    input: ArrayView3<'_, T>,
    connectivity: Connectivity,
) -> Result<(Array3<u32>, usize)> {
    label_with_progress(input, connectivity, &NoProgress)
}

/// [`label`] reporting progress (stage `"label"`, one unit per z plane) and checking
/// for cancellation between slabs.
///
/// **Errors** as [`label`], and [`Error::Cancelled`] when `progress` asks to stop.
pub fn label_with_progress<T: LabelValue>(
    input: ArrayView3<'_, T>,
    connectivity: Connectivity,
    progress: &dyn Progress,
) -> Result<(Array3<u32>, usize)> {
    let nz = input.dim().0;
    label_slabs(input, connectivity, slab_count(nz), progress)
}

/// Labels a 2D image `(y, x)`: [`label`] on it as a volume with one z plane, so 6 acts
/// as 4 and 18 or 26 as 8.
///
/// **Errors** as [`label`].
///
/// # Example
/// ```
/// use ctscreen::segment::{label_2d, Connectivity};
/// let img = ndarray::array![[1u8, 0, 2], [0, 1, 2]];
/// let (labels, n) = label_2d(img.view(), Connectivity::Eight).unwrap();
/// assert_eq!(n, 2);
/// assert_eq!(labels, ndarray::array![[1u32, 0, 2], [0, 1, 2]]);
/// ```
pub fn label_2d<T: LabelValue>(
    input: ArrayView2<'_, T>,
    connectivity: Connectivity,
) -> Result<(Array2<u32>, usize)> {
    let (labels, n) = label(input.insert_axis(Axis(0)), connectivity)?;
    Ok((labels.index_axis_move(Axis(0), 0), n))
}

/// The already-visited neighbours of a voxel for one connectivity, in priority order.
struct Neighbours<const K: usize> {
    /// Linear offsets (negative: earlier in raster order).
    off: [isize; K],
    /// Bit i covers neighbour i and every neighbour adjacent to it.
    cov: [u32; K],
    /// Neighbours missing in the first plane of a slab, the first row, the last row,
    /// the first column and the last column.
    zm: u32,
    ym: u32,
    yp: u32,
    xm: u32,
    xp: u32,
}

/// The visited ("causal") half of `conn`'s neighbourhood, optionally only the z − 1
/// plane, ordered by how many of the others each covers (most first).
fn causal_offsets(conn: Connectivity, below_only: bool) -> (Vec<[i32; 3]>, Vec<u32>) {
    let all: Vec<[i32; 3]> = conn
        .offsets()
        .into_iter()
        .filter(|d| d[0] < 0 || (!below_only && d[0] == 0 && (d[1] < 0 || (d[1] == 0 && d[2] < 0))))
        .collect();
    let adjacent =
        |a: [i32; 3], b: [i32; 3]| a == b || conn.connects([b[0] - a[0], b[1] - a[1], b[2] - a[2]]);
    let mut order: Vec<usize> = (0..all.len()).collect();
    // Stable sort: ties keep raster order.
    order.sort_by_key(|&i| std::cmp::Reverse(all.iter().filter(|&&b| adjacent(all[i], b)).count()));
    let offs: Vec<[i32; 3]> = order.iter().map(|&i| all[i]).collect();
    let cov = offs
        .iter()
        .map(|&a| {
            offs.iter()
                .enumerate()
                .filter(|(_, &b)| adjacent(a, b))
                .fold(0u32, |m, (j, _)| m | (1 << j))
        })
        .collect();
    (offs, cov)
}

impl<const K: usize> Neighbours<K> {
    fn new(conn: Connectivity, below_only: bool, ny: usize, nx: usize) -> Self {
        let (offs, cov) = causal_offsets(conn, below_only);
        assert_eq!(offs.len(), K, "neighbour table size");
        let mask = |f: &dyn Fn([i32; 3]) -> bool| {
            offs.iter()
                .enumerate()
                .filter(|(_, &d)| f(d))
                .fold(0u32, |m, (j, _)| m | (1 << j))
        };
        let (ny_i, nx_i) = (ny as isize, nx as isize);
        Self {
            off: std::array::from_fn(|i| {
                let d = offs[i];
                d[0] as isize * ny_i * nx_i + d[1] as isize * nx_i + d[2] as isize
            }),
            cov: std::array::from_fn(|i| cov[i]),
            zm: mask(&|d| d[0] < 0),
            ym: mask(&|d| d[1] < 0),
            yp: mask(&|d| d[1] > 0),
            xm: mask(&|d| d[2] < 0),
            xp: mask(&|d| d[2] > 0),
        }
    }
}

#[inline]
fn find(parent: &mut [u32], mut x: u32) -> u32 {
    loop {
        let p = parent[x as usize];
        if p == x {
            return x;
        }
        let g = parent[p as usize];
        parent[x as usize] = g;
        x = g;
    }
}

/// Joins the classes of `a` and `b`, linking the larger root under the smaller;
/// returns the root.
#[inline]
fn union(parent: &mut [u32], a: u32, b: u32) -> u32 {
    let ra = find(parent, a);
    let rb = find(parent, b);
    if ra < rb {
        parent[rb as usize] = ra;
        ra
    } else {
        parent[ra as usize] = rb;
        rb
    }
}

fn too_many_labels() -> Error {
    Error::invalid(
        "input",
        "a volume with more than 4294967294 provisional components",
        "at most 2^32 − 2 components (split the volume)",
    )
}

/// Phase 1 state for one slab.
struct Scan<'a, T, const K: usize> {
    inp: &'a [T],
    out: &'a mut [u32],
    /// Union-find table (index 0 unused; `parent[l] <= l`).
    parent: Vec<u32>,
    nb: &'a Neighbours<K>,
}

impl<T: LabelValue, const K: usize> Scan<'_, T, K> {
    #[inline(always)]
    fn new_label(&mut self) -> Result<u32> {
        let lab = u32::try_from(self.parent.len())
            .ok()
            .filter(|&l| l < u32::MAX - 1)
            .ok_or_else(too_many_labels)?;
        self.parent.push(lab);
        Ok(lab)
    }

    /// A voxel with some neighbours outside the slab (`done` has their bits): test the
    /// neighbours one by one in priority order, skipping covered ones.
    #[inline(always)]
    fn edge(&mut self, v: usize, mut done: u32) -> Result<()> {
        let val = self.inp[v];
        if val.is_background() {
            self.out[v] = 0;
            return Ok(());
        }
        let mut lab = 0u32;
        for i in 0..K {
            if done & (1 << i) != 0 {
                continue;
            }
            let q = (v as isize + self.nb.off[i]) as usize;
            if self.inp[q] == val {
                done |= self.nb.cov[i];
                let lq = self.out[q];
                if lab == 0 {
                    lab = lq;
                } else if lq != lab {
                    lab = union(&mut self.parent, lab, lq);
                }
            }
        }
        if lab == 0 {
            lab = self.new_label()?;
        }
        self.out[v] = lab;
        Ok(())
    }

    /// A voxel whose neighbours are all inside the slab, when no neighbour covers all
    /// the others (4-, 6- and 18-connectivity; 8 and 26 take [`Self::covered_row`]).
    ///
    /// # Safety
    /// As [`Self::resolve`].
    #[inline(always)]
    unsafe fn interior(&mut self, v: usize) -> Result<()> {
        // SAFETY: v < len by the caller's contract.
        if unsafe { *self.inp.get_unchecked(v) }.is_background() {
            unsafe { *self.out.get_unchecked_mut(v) = 0 };
            return Ok(());
        }
        unsafe { self.resolve(v) }
    }

    /// The interior voxels `1..nx − 1` of the row starting at `base` when the first
    /// neighbour covers all the others (26-connectivity: the voxel below; 8: the one
    /// above). A branch-free first pass settles background and hits on that neighbour
    /// (three quarters of a random half-filled volume) and lists the other voxels in
    /// `slow`; a second pass resolves those in ascending x, so each finds its left
    /// neighbour final. No data-dependent branch in the first pass: on noisy input
    /// the per-voxel branch it replaces was mispredicted for about a quarter of the
    /// voxels.
    ///
    /// # Safety
    /// As [`Self::resolve`] for every voxel `base + 1 .. base + nx − 1`, and
    /// `slow.len() >= nx − 2`.
    #[inline(always)]
    unsafe fn covered_row(
        &mut self,
        base: usize,
        nx: usize,
        need: &mut [u8],
        slow: &mut [u32],
    ) -> Result<()> {
        let w = nx - 2;
        let q = (base as isize + self.nb.off[0]) as usize;
        debug_assert!(q + w < base + 1 && slow.len() >= w);
        let cur = &self.inp[base + 1..base + 1 + w];
        let nbv = &self.inp[q + 1..q + 1 + w];
        let (head, tail) = self.out.split_at_mut(base + 1);
        let nbl = &head[q + 1..q + 1 + w];
        let dst = &mut tail[..w];
        let need = &mut need[..w];
        for i in 0..w {
            let val = cur[i];
            let fg = !val.is_background();
            let hit = fg & (nbv[i] == val);
            // A mask, not a select: the compiler turns a select into a branch.
            dst[i] = nbl[i] & 0u32.wrapping_sub(u32::from(hit));
            need[i] = u8::from(fg & !hit);
        }
        let mut cnt = 0usize;
        for (i, &n) in need.iter().enumerate() {
            // SAFETY: cnt <= i < w <= slow.len().
            unsafe { *slow.get_unchecked_mut(cnt) = i as u32 };
            cnt += usize::from(n);
        }
        for k in 0..cnt {
            // SAFETY: k < cnt <= w <= slow.len(); the voxel is interior by the contract.
            let i = unsafe { *slow.get_unchecked(k) } as usize;
            unsafe { self.resolve(base + 1 + i)? };
        }
        Ok(())
    }

    /// A foreground voxel whose neighbours are all inside the slab: the connected
    /// neighbours as a bit mask without branches, then one label load (and union) per
    /// representative: the highest-priority connected neighbour not yet covered.
    ///
    /// # Safety
    /// `v + off[i]` must be in `0..v` for every `i` (the voxel is not in the slab's
    /// first plane, first or last row, or first or last column) and `v < inp.len()`.
    #[inline(always)]
    unsafe fn resolve(&mut self, v: usize) -> Result<()> {
        // SAFETY (all unchecked accesses below): v < len and 0 <= v + off[i] < v by the
        // caller's contract; bit i of `m`/`rem` is only set for i < K.
        let val = unsafe { *self.inp.get_unchecked(v) };
        let mut m = 0u32;
        for i in 0..K {
            let q = (v as isize + self.nb.off[i]) as usize;
            m |= u32::from(unsafe { *self.inp.get_unchecked(q) } == val) << i;
        }
        let lab = if m == 0 {
            self.new_label()?
        } else {
            let i = m.trailing_zeros() as usize;
            let (off, cov) =
                unsafe { (*self.nb.off.get_unchecked(i), *self.nb.cov.get_unchecked(i)) };
            let mut lab = unsafe { *self.out.get_unchecked((v as isize + off) as usize) };
            let mut rem = m & !cov;
            while rem != 0 {
                let i = rem.trailing_zeros() as usize;
                let (off, cov) =
                    unsafe { (*self.nb.off.get_unchecked(i), *self.nb.cov.get_unchecked(i)) };
                rem &= !cov;
                let lq = unsafe { *self.out.get_unchecked((v as isize + off) as usize) };
                if lq != lab {
                    lab = union(&mut self.parent, lab, lq);
                }
            }
            lab
        };
        unsafe { *self.out.get_unchecked_mut(v) = lab };
        Ok(())
    }
}

/// Phase 1 on one slab: provisional labels into `out`, equivalences into the returned
/// table (index 0 unused; `table[l] <= l`).
fn scan_slab<T: LabelValue, const K: usize>(
    inp: &[T],
    out: &mut [u32],
    planes: usize,
    ny: usize,
    nx: usize,
    nb: &Neighbours<K>,
) -> Result<Vec<u32>> {
    assert!(inp.len() == planes * ny * nx && out.len() == inp.len());
    let mut s = Scan {
        inp,
        out,
        parent: vec![0],
        nb,
    };
    let plane = ny * nx;
    let covering = nb.cov[0] == (1u32 << K) - 1;
    let mut slow = vec![0u32; nx];
    let mut need = vec![0u8; nx];
    for z in 0..planes {
        for y in 0..ny {
            let mut row = 0;
            if z == 0 {
                row |= nb.zm;
            }
            if y == 0 {
                row |= nb.ym;
            }
            if y + 1 == ny {
                row |= nb.yp;
            }
            let base = z * plane + y * nx;
            if row != 0 || nx < 3 {
                for x in 0..nx {
                    let done =
                        row | if x == 0 { nb.xm } else { 0 } | if x + 1 == nx { nb.xp } else { 0 };
                    s.edge(base + x, done)?;
                }
                continue;
            }
            s.edge(base, nb.xm)?;
            // SAFETY: this row has all its neighbour rows inside the slab (`row` is 0)
            // and 0 < x < nx − 1, so every causal neighbour of the voxel is an earlier
            // voxel of the slab; base + x < planes · ny · nx; `slow` has nx entries.
            if covering {
                unsafe { s.covered_row(base, nx, &mut need, &mut slow)? };
            } else {
                for x in 1..nx - 1 {
                    unsafe { s.interior(base + x)? };
                }
            }
            s.edge(base + nx - 1, nb.xp)?;
        }
    }
    Ok(s.parent)
}

/// [`label`] with an explicit number of z slabs (tests use it to exercise the merge).
pub(crate) fn label_slabs<T: LabelValue>(
    input: ArrayView3<'_, T>,
    connectivity: Connectivity,
    n_slabs: usize,
    progress: &dyn Progress,
) -> Result<(Array3<u32>, usize)> {
    let (nz, ny, nx) = input.dim();
    ensure_nonempty("input", [nz, ny, nx])?;
    let n_vox = nz as u128 * ny as u128 * nx as u128;
    ensure_allocatable("labels", n_vox, 4)?;
    let inp = input.as_standard_layout();
    let inp = inp.as_slice().expect("standard layout is contiguous");
    let mut out = vec![0u32; inp.len()];
    let ranges = slab_ranges(nz, n_slabs);
    let plane = ny * nx;
    progress.start("label", nz as u64);

    // Phase 1: independent slabs.
    let tables: Vec<Vec<u32>> = {
        let mut chunks: Vec<(&[T], &mut [u32], usize)> = Vec::with_capacity(ranges.len());
        let mut rest = out.as_mut_slice();
        for r in &ranges {
            let len = (r.end - r.start) * plane;
            let (head, tail) = rest.split_at_mut(len);
            chunks.push((&inp[r.start * plane..r.end * plane], head, r.end - r.start));
            rest = tail;
        }
        chunks
            .into_par_iter()
            .map(|(src, dst, planes)| {
                progress::check(progress)?;
                let t = match connectivity {
                    Connectivity::Four => scan_slab(
                        src,
                        dst,
                        planes,
                        ny,
                        nx,
                        &Neighbours::<2>::new(connectivity, false, ny, nx),
                    ),
                    Connectivity::Eight => scan_slab(
                        src,
                        dst,
                        planes,
                        ny,
                        nx,
                        &Neighbours::<4>::new(connectivity, false, ny, nx),
                    ),
                    Connectivity::Six => scan_slab(
                        src,
                        dst,
                        planes,
                        ny,
                        nx,
                        &Neighbours::<3>::new(connectivity, false, ny, nx),
                    ),
                    Connectivity::Eighteen => scan_slab(
                        src,
                        dst,
                        planes,
                        ny,
                        nx,
                        &Neighbours::<9>::new(connectivity, false, ny, nx),
                    ),
                    Connectivity::TwentySix => scan_slab(
                        src,
                        dst,
                        planes,
                        ny,
                        nx,
                        &Neighbours::<13>::new(connectivity, false, ny, nx),
                    ),
                }?;
                progress.advance(planes as u64);
                Ok(t)
            })
            .collect::<Result<Vec<_>>>()?
    };
    progress::check(progress)?;

    // Phase 2: one global table, slab after slab. Slab s owns ids offset_s ..=
    // offset_s + n_s: a sentinel (its background, final value 0) then its labels.
    let mut offsets = Vec::with_capacity(tables.len());
    let mut total: u64 = 0;
    for t in &tables {
        offsets.push(total);
        total += t.len() as u64;
    }
    if total >= u64::from(u32::MAX) {
        return Err(too_many_labels());
    }
    let mut table: Vec<u32> = Vec::with_capacity(total as usize);
    for (t, &o) in tables.iter().zip(&offsets) {
        let o = o as u32;
        table.extend(t.iter().map(|&p| o + p));
    }
    drop(tables);
    let (below, below_cov) = causal_offsets(connectivity, true);
    if !below.is_empty() {
        for s in 1..ranges.len() {
            let z = ranges[s].start;
            let (o_up, o_down) = (offsets[s] as u32, offsets[s - 1] as u32);
            for y in 0..ny {
                for x in 0..nx {
                    let v = (z * ny + y) * nx + x;
                    let val = inp[v];
                    if val.is_background() {
                        continue;
                    }
                    let gv = o_up + out[v];
                    let mut done = 0u32;
                    for (i, d) in below.iter().enumerate() {
                        if done & (1 << i) != 0 {
                            continue;
                        }
                        let (yy, xx) = (y as isize + d[1] as isize, x as isize + d[2] as isize);
                        if yy < 0 || xx < 0 || yy >= ny as isize || xx >= nx as isize {
                            continue;
                        }
                        let q = ((z - 1) * ny + yy as usize) * nx + xx as usize;
                        if inp[q] == val {
                            done |= below_cov[i];
                            union(&mut table, gv, o_down + out[q]);
                        }
                    }
                }
            }
        }
    }

    // Phase 3: final numbering by first voxel (ids ascend in raster order of the voxel
    // that created them, and every non-root points to a smaller id), then rewrite.
    let mut n: u32 = 0;
    for (s, &o) in offsets.iter().enumerate() {
        let o = o as usize;
        let end = offsets.get(s + 1).map_or(table.len(), |&e| e as usize);
        table[o] = 0;
        for g in o + 1..end {
            let p = table[g] as usize;
            if p == g {
                n += 1;
                table[g] = n;
            } else {
                table[g] = table[p];
            }
        }
    }
    let mut rest = out.as_mut_slice();
    let mut chunks: Vec<(&mut [u32], &[u32])> = Vec::with_capacity(ranges.len());
    for (s, (r, &o)) in ranges.iter().zip(&offsets).enumerate() {
        let (head, tail) = rest.split_at_mut((r.end - r.start) * plane);
        let end = offsets.get(s + 1).map_or(table.len(), |&e| e as usize);
        chunks.push((head, &table[o as usize..end]));
        rest = tail;
    }
    chunks.into_par_iter().for_each(|(dst, map)| {
        // Label 0 maps to the slab's sentinel, 0: no branch per voxel.
        for l in dst.iter_mut() {
            *l = map[*l as usize];
        }
    });
    let labels = Array3::from_shape_vec((nz, ny, nx), out).expect("shape matches length");
    Ok((labels, n as usize))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::s;
    use rand::{Rng, SeedableRng};
    use std::collections::{HashMap, VecDeque};

    /// Independent reference: breadth-first flood fill from each unlabelled foreground
    /// voxel in raster order, over all neighbours of `conn`.
    fn bfs_label<T: LabelValue>(a: ArrayView3<'_, T>, conn: Connectivity) -> (Array3<u32>, usize) {
        let (nz, ny, nx) = a.dim();
        let offs = conn.offsets();
        let mut out = Array3::<u32>::zeros((nz, ny, nx));
        let mut n = 0u32;
        let mut queue = VecDeque::new();
        for z in 0..nz {
            for y in 0..ny {
                for x in 0..nx {
                    let v = a[[z, y, x]];
                    if v.is_background() || out[[z, y, x]] != 0 {
                        continue;
                    }
                    n += 1;
                    out[[z, y, x]] = n;
                    queue.push_back([z, y, x]);
                    while let Some(p) = queue.pop_front() {
                        for d in &offs {
                            let q = [
                                p[0] as i64 + d[0] as i64,
                                p[1] as i64 + d[1] as i64,
                                p[2] as i64 + d[2] as i64,
                            ];
                            if q.iter().any(|&c| c < 0)
                                || q[0] >= nz as i64
                                || q[1] >= ny as i64
                                || q[2] >= nx as i64
                            {
                                continue;
                            }
                            let q = [q[0] as usize, q[1] as usize, q[2] as usize];
                            if a[q] == v && out[q] == 0 {
                                out[q] = n;
                                queue.push_back(q);
                            }
                        }
                    }
                }
            }
        }
        (out, n as usize)
    }

    const ALL: [Connectivity; 5] = [
        Connectivity::Four,
        Connectivity::Eight,
        Connectivity::Six,
        Connectivity::Eighteen,
        Connectivity::TwentySix,
    ];

    fn random_mask(shape: (usize, usize, usize), p: f64, seed: u64) -> Array3<bool> {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        Array3::from_shape_simple_fn(shape, || rng.random_bool(p))
    }

    #[test]
    fn matches_flood_fill_on_random_masks() {
        let mut seed = 0;
        for &shape in &[(9, 10, 11), (1, 17, 13), (12, 1, 9), (7, 8, 1), (16, 5, 6)] {
            for &p in &[0.2, 0.45, 0.7] {
                seed += 1;
                let m = random_mask(shape, p, seed);
                for c in ALL {
                    let (want, wn) = bfs_label(m.view(), c);
                    for slabs in [1, 2, 3, shape.0] {
                        let (got, n) = label_slabs(m.view(), c, slabs, &NoProgress).unwrap();
                        assert_eq!(n, wn, "{shape:?} p={p} {c:?} slabs={slabs}");
                        assert_eq!(got, want, "{shape:?} p={p} {c:?} slabs={slabs}");
                    }
                }
            }
        }
    }

    #[test]
    fn multivalued_input_matches_flood_fill() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(5);
        let a = Array3::from_shape_simple_fn((10, 9, 8), || rng.random_range(0u16..4));
        for c in ALL {
            let (want, wn) = bfs_label(a.view(), c);
            for slabs in [1, 4, 10] {
                let (got, n) = label_slabs(a.view(), c, slabs, &NoProgress).unwrap();
                assert_eq!((n, &got), (wn, &want), "{c:?} slabs={slabs}");
            }
        }
        // Two touching blocks of different values stay separate.
        let mut b = Array3::<i32>::zeros((2, 2, 4));
        b.slice_mut(s![.., .., 0..2]).fill(7);
        b.slice_mut(s![.., .., 2..4]).fill(-3);
        let (l, n) = label(b.view(), Connectivity::TwentySix).unwrap();
        assert_eq!(n, 2);
        assert_eq!(l[[1, 1, 1]], 1);
        assert_eq!(l[[0, 0, 2]], 2);
    }

    #[test]
    fn edge_cases() {
        for c in ALL {
            let one = Array3::from_elem((1, 1, 1), true);
            assert_eq!(label(one.view(), c).unwrap().1, 1);
            let zero = Array3::from_elem((4, 3, 5), false);
            let (l, n) = label(zero.view(), c).unwrap();
            assert_eq!(n, 0);
            assert!(l.iter().all(|&v| v == 0));
            let full = Array3::from_elem((4, 3, 5), 1u8);
            let (l, n) = label(full.view(), c).unwrap();
            let planes = matches!(c, Connectivity::Four | Connectivity::Eight);
            assert_eq!(n, if planes { 4 } else { 1 }, "{c:?}");
            if !planes {
                assert!(l.iter().all(|&v| v == 1));
            }
        }
        let empty = Array3::<bool>::from_elem((0, 3, 3), false);
        assert!(label(empty.view(), Connectivity::Six).is_err());
        // A diagonal line: one component at 26 (and 18 in-plane), 10 at 6.
        let mut d = Array3::from_elem((10, 10, 10), false);
        for i in 0..10 {
            d[[i, i, i]] = true;
        }
        assert_eq!(label(d.view(), Connectivity::TwentySix).unwrap().1, 1);
        assert_eq!(label(d.view(), Connectivity::Eighteen).unwrap().1, 10);
        assert_eq!(label(d.view(), Connectivity::Six).unwrap().1, 10);
    }

    #[test]
    fn u_shape_merges_late() {
        // Two arms joined only at the bottom row: provisional labels must merge.
        let mut m = Array3::from_elem((1, 5, 5), false);
        for y in 0..5 {
            m[[0, y, 0]] = true;
            m[[0, y, 4]] = true;
        }
        for x in 0..5 {
            m[[0, 4, x]] = true;
        }
        let (l, n) = label(m.view(), Connectivity::Four).unwrap();
        assert_eq!(n, 1);
        assert_eq!(l[[0, 0, 4]], 1);
    }

    /// Same partition: a bijection between label values, background to background.
    fn same_partition(a: &Array3<u32>, b: &Array3<u32>) -> bool {
        let mut ab = HashMap::new();
        let mut ba = HashMap::new();
        a.iter().zip(b.iter()).all(|(&x, &y)| {
            (x == 0) == (y == 0) && *ab.entry(x).or_insert(y) == y && *ba.entry(y).or_insert(x) == x
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        #[test]
        fn partition_invariant_under_flips(seed in 0u64..1000, p in 0.2f64..0.8, ci in 0usize..5, axis in 0usize..3) {
            let m = random_mask((7, 9, 8), p, seed);
            let c = ALL[ci];
            let (l, n) = label(m.view(), c).unwrap();
            let mut flipped = m.clone();
            flipped.invert_axis(Axis(axis));
            let (mut lf, nf) = label(flipped.view(), c).unwrap();
            lf.invert_axis(Axis(axis));
            proptest::prop_assert_eq!(n, nf);
            proptest::prop_assert!(same_partition(&l, &lf.as_standard_layout().to_owned()));
        }
    }

    #[test]
    fn identical_on_one_and_two_threads() {
        let m = random_mask((40, 33, 35), 0.5, 11);
        let run = |t: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .unwrap();
            pool.install(|| {
                ALL.iter()
                    .map(|&c| label(m.view(), c).unwrap())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(run(1), run(2));
    }

    #[test]
    fn non_standard_layout_input() {
        let m = random_mask((6, 7, 8), 0.5, 3);
        let t = m.view().permuted_axes([2, 1, 0]);
        let (a, na) = label(t, Connectivity::Six).unwrap();
        let (b, nb) = bfs_label(t, Connectivity::Six);
        assert_eq!((na, a), (nb, b));
    }

    #[test]
    fn cancellation_is_reported() {
        let flag = crate::progress::CancelFlag::new();
        flag.cancel();
        let m = random_mask((4, 4, 4), 0.5, 1);
        let e = label_with_progress(m.view(), Connectivity::Six, &flag).unwrap_err();
        assert!(matches!(e, Error::Cancelled));
    }
}
