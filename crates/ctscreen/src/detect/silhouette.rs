//! Two thick limbs from an object's silhouette in its main plane.
//!
//! Two fitted lines describe an L of thin limbs well (pliers, a rifle bolt's handle),
//! but not an L of thick ones: a pistol's slide and frame read 50–70 mm across in
//! their plane, and least squares then gains more by splitting that body lengthwise
//! into two parallel halves than by giving the grip its own line. Here each limb is a
//! **solid rectangle** instead:
//!
//! 1. the voxel centres are projected onto the plane of the two largest principal axes
//!    and rasterised into occupied cells (the silhouette; a 3D object's thickness fills
//!    it densely);
//! 2. for in-plane orientations every [`COARSE_STEP_DEG`] degrees, then every
//!    [`ANGLE_STEP_DEG`] around the best, the largest all-occupied rectangle aligned
//!    with that orientation is found (the histogram method, linear in the cells); the
//!    largest over all orientations is limb A;
//! 3. the same search over the cells outside A gives the next rectangle: one that lies
//!    along A (within [`PARALLEL_DEG`]) and touches it joins A (a steel frame below a
//!    slide), up to [`MAX_BODY_RECTS`] in all; the first that does not is limb B;
//! 4. every voxel goes to the nearer limb; the limbs' lengths (their voxels' extent
//!    along their long axes), the angle between their outward directions, where B
//!    meets A, the empty space between them (none when metal joins them) and the share
//!    of the silhouette they cover are reported.
//!
//! Cells are `max(voxel, length / 96)` across, so the cost does not grow with the
//! scan's resolution.

use super::features::{Frame, SolidLimbs};

/// Orientation step of the rectangle search, degrees.
pub(crate) const ANGLE_STEP_DEG: f64 = 2.0;

/// Orientation step of the first, coarse pass of the rectangle search, degrees.
const COARSE_STEP_DEG: f64 = 4.0;

/// Longest silhouette side in cells (the cell grows for large objects).
const MAX_CELLS: f64 = 96.0;

/// An oriented rectangle in the main plane: `[u0, u1] × [v0, v1]` in coordinates
/// rotated by `angle` from the frame's (first, second) axes, mm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rect {
    pub angle: f64,
    pub u: [f64; 2],
    pub v: [f64; 2],
}

impl Rect {
    fn rotate(&self, p: [f64; 2]) -> [f64; 2] {
        let (s, c) = self.angle.sin_cos();
        [c * p[0] + s * p[1], -s * p[0] + c * p[1]]
    }

    /// Distance (mm) from plane point `p` to the rectangle (0 inside).
    pub fn distance(&self, p: [f64; 2]) -> f64 {
        let [u, v] = self.rotate(p);
        let du = (self.u[0] - u).max(u - self.u[1]).max(0.0);
        let dv = (self.v[0] - v).max(v - self.v[1]).max(0.0);
        du.hypot(dv)
    }

    /// Side lengths (long, short), mm.
    pub fn sides(&self) -> (f64, f64) {
        let (a, b) = (self.u[1] - self.u[0], self.v[1] - self.v[0]);
        (a.max(b), a.min(b))
    }

    /// Unit direction of the long side in plane coordinates.
    fn long_axis(&self) -> [f64; 2] {
        let (s, c) = self.angle.sin_cos();
        if self.u[1] - self.u[0] >= self.v[1] - self.v[0] {
            [c, s]
        } else {
            [-s, c]
        }
    }

    /// Centre in plane coordinates.
    fn centre(&self) -> [f64; 2] {
        let (s, c) = self.angle.sin_cos();
        let (u, v) = (0.5 * (self.u[0] + self.u[1]), 0.5 * (self.v[0] + self.v[1]));
        [c * u - s * v, s * u + c * v]
    }

    fn area(&self) -> f64 {
        (self.u[1] - self.u[0]) * (self.v[1] - self.v[0])
    }

    /// Corners in plane coordinates.
    fn corners(&self) -> [[f64; 2]; 4] {
        let (s, c) = self.angle.sin_cos();
        let w = |u: f64, v: f64| [c * u - s * v, s * u + c * v];
        [
            w(self.u[0], self.v[0]),
            w(self.u[1], self.v[0]),
            w(self.u[0], self.v[1]),
            w(self.u[1], self.v[1]),
        ]
    }

    /// Gap to another rectangle, mm: the nearest approach of either's corners to the
    /// other (0 when they touch or overlap at a corner).
    fn gap(&self, other: &Rect) -> f64 {
        other
            .corners()
            .iter()
            .map(|&p| self.distance(p))
            .chain(self.corners().iter().map(|&p| other.distance(p)))
            .fold(f64::INFINITY, f64::min)
    }

    /// Angle between the long axes, degrees in [0, 90].
    fn axis_angle_deg(&self, other: &Rect) -> f64 {
        let (a, b) = (self.long_axis(), other.long_axis());
        (a[0] * b[0] + a[1] * b[1])
            .abs()
            .min(1.0)
            .acos()
            .to_degrees()
    }
}

/// Distance from `p` to the nearest of `rects`.
fn distance_to(rects: &[Rect], p: [f64; 2]) -> f64 {
    rects
        .iter()
        .map(|r| r.distance(p))
        .fold(f64::INFINITY, f64::min)
}

/// The silhouette's occupied cells on its fine grid.
struct FineGrid<'a> {
    /// Row-major `dims[0] × dims[1]`.
    occupied: &'a [bool],
    dims: [usize; 2],
    /// Plane coordinates of the first cell's corner, mm.
    origin: [f64; 2],
    /// Cell side, mm.
    step: f64,
}

impl FineGrid<'_> {
    /// The least length (mm) of empty space crossed by a path from `from` to `to`
    /// through the silhouette: 0 when metal joins them. Empty runs shorter than a voxel
    /// between occupied cells are closed first (the cells can be finer than the voxels
    /// whose centres fill them). Dijkstra over the 8-neighbour grid, with steps of 5 and 7
    /// units (straight, diagonal) into empty cells, 0 into occupied ones: integers, so
    /// the order of the search is exact. Reads to about a search cell, like the
    /// rectangles' own gap.
    fn empty_gap(&self, voxel_mm: f64, from: &[Rect], to: &Rect) -> f64 {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        let [n0, n1] = self.dims;
        let reach = (0.5 * (voxel_mm / self.step - 1.0)).ceil().max(0.0) as usize;
        let mut solid = vec![false; n0 * n1];
        for i in 0..n0 {
            for j in 0..n1 {
                if self.occupied[i * n1 + j] {
                    for a in i.saturating_sub(reach)..(i + reach + 1).min(n0) {
                        let row = &mut solid[a * n1..(a + 1) * n1];
                        row[j.saturating_sub(reach)..(j + reach + 1).min(n1)].fill(true);
                    }
                }
            }
        }
        let centre = |k: usize| {
            [
                self.origin[0] + ((k / n1) as f64 + 0.5) * self.step,
                self.origin[1] + ((k % n1) as f64 + 0.5) * self.step,
            ]
        };
        let mut cost = vec![u32::MAX; n0 * n1];
        let mut heap = BinaryHeap::new();
        for (k, c) in cost.iter_mut().enumerate() {
            if distance_to(from, centre(k)) <= 0.5 * self.step {
                *c = 0;
                heap.push(Reverse((0u32, k)));
            }
        }
        while let Some(Reverse((c, k))) = heap.pop() {
            if c > cost[k] {
                continue;
            }
            if to.distance(centre(k)) <= 0.5 * self.step {
                // An occupied cell reaches past the outline by half a cell on average,
                // on both sides of an empty run.
                return if c == 0 {
                    0.0
                } else {
                    (f64::from(c) / 5.0 + 1.0) * self.step
                };
            }
            let (i, j) = ((k / n1) as isize, (k % n1) as isize);
            for (di, dj) in [
                (-1, -1),
                (-1, 0),
                (-1, 1),
                (0, -1),
                (0, 1),
                (1, -1),
                (1, 0),
                (1, 1),
            ] {
                let (a, b) = (i + di, j + dj);
                if a < 0 || b < 0 || a >= n0 as isize || b >= n1 as isize {
                    continue;
                }
                let m = a as usize * n1 + b as usize;
                let step = if solid[m] {
                    0
                } else if di != 0 && dj != 0 {
                    7
                } else {
                    5
                };
                if c + step < cost[m] {
                    cost[m] = c + step;
                    heap.push(Reverse((c + step, m)));
                }
            }
        }
        f64::INFINITY
    }
}

/// Most rectangles merged into limb A: its largest and up to two parallel ones beside
/// it (a slide above, a frame below).
const MAX_BODY_RECTS: usize = 3;

/// Long axes closer than this (degrees) make a rectangle touching A part of A.
const PARALLEL_DEG: f64 = 20.0;

/// Largest all-true rectangle of a `rows × cols` grid: `(area, row0, row1, col0, col1)`
/// with inclusive bounds, `None` for an empty grid.
fn largest_rectangle(
    grid: &[bool],
    rows: usize,
    cols: usize,
) -> Option<(usize, usize, usize, usize, usize)> {
    let mut heights = vec![0usize; cols + 1];
    let mut stack: Vec<usize> = Vec::with_capacity(cols + 1);
    let mut best: Option<(usize, usize, usize, usize, usize)> = None;
    for r in 0..rows {
        for c in 0..cols {
            heights[c] = if grid[r * cols + c] {
                heights[c] + 1
            } else {
                0
            };
        }
        // heights[cols] stays 0: a sentinel that empties the stack.
        stack.clear();
        for c in 0..=cols {
            while let Some(&top) = stack.last() {
                if heights[top] < heights[c] {
                    break;
                }
                stack.pop();
                let h = heights[top];
                if h == 0 {
                    continue;
                }
                let left = stack.last().map_or(0, |&s| s + 1);
                let area = h * (c - left);
                if best.is_none_or(|b| area > b.0) {
                    best = Some((area, r + 1 - h, r, left, c - 1));
                }
            }
            stack.push(c);
        }
    }
    best
}

/// The largest solid rectangle at one orientation (`angle_deg` from the plane's first
/// axis) of the occupied `cells` (plane coordinates, mm) rasterised at `cell` mm,
/// skipping the cells for which `skip` is true: `(area in mm², rectangle)`.
fn rect_at(cells: &[[f64; 2]], cell: f64, skip: &[bool], angle_deg: f64) -> Option<(f64, Rect)> {
    let angle = angle_deg.to_radians();
    let (s, c) = angle.sin_cos();
    let mut rotated = Vec::with_capacity(cells.len());
    let (mut u_min, mut v_min) = (f64::INFINITY, f64::INFINITY);
    let (mut u_max, mut v_max) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    for (p, &sk) in cells.iter().zip(skip) {
        if sk {
            continue;
        }
        let (u, v) = (c * p[0] + s * p[1], -s * p[0] + c * p[1]);
        u_min = u_min.min(u);
        u_max = u_max.max(u);
        v_min = v_min.min(v);
        v_max = v_max.max(v);
        rotated.push([u, v]);
    }
    if rotated.is_empty() {
        return None;
    }
    let cols = ((u_max - u_min) / cell) as usize + 1;
    let rows = ((v_max - v_min) / cell) as usize + 1;
    let mut grid = vec![false; rows * cols];
    for q in &rotated {
        // Non-negative offsets: truncation is the floor.
        let cu = (((q[0] - u_min) / cell) as usize).min(cols - 1);
        let cv = (((q[1] - v_min) / cell) as usize).min(rows - 1);
        grid[cv * cols + cu] = true;
    }
    // A rotated lattice leaves isolated empty cells: fill those whose two opposite
    // neighbours (left and right, or above and below) are occupied.
    let filled: Vec<bool> = (0..rows * cols)
        .map(|i| {
            let (r, c) = (i / cols, i % cols);
            grid[i]
                || (c > 0 && c + 1 < cols && grid[i - 1] && grid[i + 1])
                || (r > 0 && r + 1 < rows && grid[i - cols] && grid[i + cols])
        })
        .collect();
    let (area, r0, r1, c0, c1) = largest_rectangle(&filled, rows, cols)?;
    Some((
        area as f64 * cell * cell,
        Rect {
            angle,
            u: [u_min + c0 as f64 * cell, u_min + (c1 + 1) as f64 * cell],
            v: [v_min + r0 as f64 * cell, v_min + (r1 + 1) as f64 * cell],
        },
    ))
}

/// The largest solid rectangle over all orientations ([`rect_at`]): every
/// [`COARSE_STEP_DEG`] degrees, then every [`ANGLE_STEP_DEG`] around the best (a
/// limb's rectangle shrinks by its length × the angle off its axis, so the coarse
/// search already tells the limbs apart; the fine one sets the angle).
fn best_rect(cells: &[[f64; 2]], cell: f64, skip: &[bool]) -> Option<Rect> {
    let better = |best: Option<(f64, Rect)>, r: Option<(f64, Rect)>| match (best, r) {
        (Some(b), Some(r)) if r.0 > b.0 => Some(r),
        (None, r) => r,
        (b, _) => b,
    };
    let coarse = (180.0 / COARSE_STEP_DEG).round() as usize;
    let mut best = None;
    let mut best_deg = 0.0;
    for step in 0..coarse {
        let deg = step as f64 * COARSE_STEP_DEG;
        let r = rect_at(cells, cell, skip, deg);
        let next = better(best, r);
        if next.map(|x| x.0) != best.map(|x| x.0) {
            best_deg = deg;
        }
        best = next;
    }
    let fine = (COARSE_STEP_DEG / ANGLE_STEP_DEG).round() as i32;
    for k in (1 - fine)..fine {
        if k != 0 {
            let deg = best_deg + f64::from(k) * ANGLE_STEP_DEG;
            best = better(best, rect_at(cells, cell, skip, deg));
        }
    }
    best.map(|b| b.1)
}

/// The two limbs of `points` (world mm) in the main plane of `frame`; `voxel_mm` is
/// the scan's voxel size. `None` when the silhouette has no second limb.
///
/// Returns the limbs without their shapes (`parts` is `None`) and the limb of every
/// point: 0 for A (inside it, or nearer to it), 1 for B.
pub(crate) fn limbs(
    points: &[[f64; 3]],
    frame: &Frame,
    voxel_mm: f64,
) -> Option<(SolidLimbs, Vec<u8>)> {
    let dot = |a: [f64; 3], b: [f64; 3]| a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    let plane: Vec<[f64; 2]> = points
        .iter()
        .map(|p| {
            let q = [
                p[0] - frame.centroid[0],
                p[1] - frame.centroid[1],
                p[2] - frame.centroid[2],
            ];
            [dot(q, frame.axes[0]), dot(q, frame.axes[1])]
        })
        .collect();
    let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    for p in &plane {
        for k in 0..2 {
            lo[k] = lo[k].min(p[k]);
            hi[k] = hi[k].max(p[k]);
        }
    }
    let span = (hi[0] - lo[0]).max(hi[1] - lo[1]);
    if !span.is_finite() || span <= 0.0 {
        return None;
    }
    let cell = voxel_mm.max(span / MAX_CELLS);
    // The silhouette as the centres of occupied cells half as wide as the search grid's:
    // few enough to rotate at every orientation searched, dense enough to fill that grid.
    let fine = 0.5 * cell;
    let nf = [
        ((hi[0] - lo[0]) / fine).floor() as usize + 1,
        ((hi[1] - lo[1]) / fine).floor() as usize + 1,
    ];
    let mut occupied = vec![false; nf[0] * nf[1]];
    for p in &plane {
        let i = (((p[0] - lo[0]) / fine).floor() as usize).min(nf[0] - 1);
        let j = (((p[1] - lo[1]) / fine).floor() as usize).min(nf[1] - 1);
        occupied[i * nf[1] + j] = true;
    }
    let cells: Vec<[f64; 2]> = occupied
        .iter()
        .enumerate()
        .filter(|(_, &o)| o)
        .map(|(k, _)| {
            let (i, j) = (k / nf[1], k % nf[1]);
            [
                lo[0] + (i as f64 + 0.5) * fine,
                lo[1] + (j as f64 + 0.5) * fine,
            ]
        })
        .collect();
    // Limb A: the largest solid rectangle, with the rectangles next found that lie
    // along it and touch it (a steel frame below a slide is one body with it); limb B:
    // the first rectangle that does not.
    let a = best_rect(&cells, cell, &vec![false; cells.len()])?;
    let mut body = vec![a];
    // Cells taken, with half a search cell of slack for the ragged edge.
    let mut taken: Vec<bool> = cells.iter().map(|&p| a.distance(p) <= 0.5 * cell).collect();
    let b = loop {
        let r = best_rect(&cells, cell, &taken)?;
        let joins = r.axis_angle_deg(&a) < PARALLEL_DEG
            && body.iter().any(|x| x.gap(&r) <= cell)
            && body.len() < MAX_BODY_RECTS;
        if !joins {
            break r;
        }
        for (t, &p) in taken.iter_mut().zip(&cells) {
            *t |= r.distance(p) <= 0.5 * cell;
        }
        body.push(r);
    };
    // Covered: within a search cell of a rectangle (an all-occupied rectangle stops
    // short of a blurred, ragged outline by up to a cell).
    let covered = cells
        .iter()
        .filter(|&&p| distance_to(&body, p) <= cell || b.distance(p) <= cell)
        .count();
    let cover = covered as f64 / cells.len() as f64;
    // Each point goes to the nearer limb (A when inside both); the limbs' lengths are
    // the extents of their points along their long axes, which covers the parts of a
    // limb narrower than its rectangle (a slide's rear above the grip, its front beyond
    // the frame).
    let assign: Vec<u8> = plane
        .iter()
        .map(|&p| u8::from(b.distance(p) < distance_to(&body, p)))
        .collect();
    let (da, db) = (a.long_axis(), b.long_axis());
    let extent = |k: u8, d: [f64; 2]| -> Option<[f64; 2]> {
        let mut t: Vec<f64> = plane
            .iter()
            .zip(&assign)
            .filter(|(_, &s)| s == k)
            .map(|(p, _)| p[0] * d[0] + p[1] * d[1])
            .collect();
        if t.is_empty() {
            return None;
        }
        let last = t.len() - 1;
        let (i0, i1) = (
            (last as f64 * 0.01).round() as usize,
            (last as f64 * 0.99).round() as usize,
        );
        // Order statistics by selection: the 99th percentile first, then the 1st
        // among the values below it.
        let hi = *t.select_nth_unstable_by(i1, f64::total_cmp).1;
        let lo = *t[..=i1].select_nth_unstable_by(i0, f64::total_cmp).1;
        Some([lo, hi])
    };
    let ext_a = extent(0, da)?;
    let ext_b = extent(1, db)?;
    let lengths = [
        ext_a[1] - ext_a[0] + voxel_mm,
        ext_b[1] - ext_b[0] + voxel_mm,
    ];
    // A's width: the span of its rectangles across its axis.
    let normal_a = [-da[1], da[0]];
    let across: Vec<f64> = body
        .iter()
        .flat_map(|r| r.corners())
        .map(|p| p[0] * normal_a[0] + p[1] * normal_a[1])
        .collect();
    let width_a = across.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
        - across.iter().cloned().fold(f64::INFINITY, f64::min);
    // Where B's centre line meets A's axis, and the outward directions from there: A
    // towards its farther end, B away from A.
    let cb = b.centre();
    let tb = cb[0] * da[0] + cb[1] * da[1];
    let len_a = (ext_a[1] - ext_a[0]).max(1e-9);
    let junction_a = ((tb - ext_a[0]).min(ext_a[1] - tb) / len_a).clamp(0.0, 0.5);
    let out_a = if tb - ext_a[0] > ext_a[1] - tb {
        [-da[0], -da[1]]
    } else {
        da
    };
    let ca = a.centre();
    let ta = (cb[0] - ca[0]) * da[0] + (cb[1] - ca[1]) * da[1];
    let away = [cb[0] - (ca[0] + ta * da[0]), cb[1] - (ca[1] + ta * da[1])];
    let out_b = if db[0] * away[0] + db[1] * away[1] >= 0.0 {
        db
    } else {
        [-db[0], -db[1]]
    };
    let cos = (out_a[0] * out_b[0] + out_a[1] * out_b[1]).clamp(-1.0, 1.0);
    // The gap is empty space: rectangles apart but joined by metal (a grip's rectangle
    // found below a ragged upper grip, a trigger guard) touch.
    let rect_gap = body.iter().map(|r| r.gap(&b)).fold(f64::INFINITY, f64::min);
    let gap_mm = if rect_gap > cell {
        let grid = FineGrid {
            occupied: &occupied,
            dims: nf,
            origin: lo,
            step: fine,
        };
        grid.empty_gap(voxel_mm, &body, &b).min(rect_gap)
    } else {
        rect_gap
    };
    let area_a: f64 = body.iter().map(Rect::area).sum();
    let limbs = SolidLimbs {
        angle_deg: cos.acos().to_degrees(),
        lengths_mm: lengths,
        widths_mm: [width_a, b.sides().1],
        junction_a,
        gap_mm,
        cover,
        area_ratio: b.area() / area_a.max(1e-9),
        parts: None,
    };
    Some((limbs, assign))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::features::frame_of;

    #[test]
    fn largest_rectangle_of_a_small_grid() {
        #[rustfmt::skip]
        let g = [
            0, 1, 1, 0, 0,
            1, 1, 1, 1, 0,
            1, 1, 1, 1, 1,
            0, 1, 1, 1, 0,
        ];
        let grid: Vec<bool> = g.iter().map(|&x| x == 1).collect();
        // Rows 1–3 × columns 1–3: 9 cells (rows 1–2 × columns 0–3 give 8).
        assert_eq!(largest_rectangle(&grid, 4, 5), Some((9, 1, 3, 1, 3)));
        assert_eq!(largest_rectangle(&[false; 6], 2, 3), None);
    }

    /// Voxel centres (1 mm grid, 20 mm thick) of a body `body_l × body_w` along a
    /// direction at `rot` degrees in the z = 0 plane, with a grip `grip_l × grip_w`
    /// leaving its rear end at `angle` degrees from the body's forward direction.
    fn thick_l(
        body_l: f64,
        body_w: f64,
        grip_l: f64,
        grip_w: f64,
        angle: f64,
        rot: f64,
    ) -> Vec<[f64; 3]> {
        let (sr, cr) = rot.to_radians().sin_cos();
        let (sa, ca) = angle.to_radians().sin_cos();
        let mut pts = Vec::new();
        for iy in -200..=200 {
            for ix in -200..=200 {
                let (x, y) = (f64::from(ix), f64::from(iy));
                // body frame: t forward, n up; the body's rear-bottom corner at the origin
                let (t, n) = (cr * x + sr * y, -sr * x + cr * y);
                let in_body = (0.0..=body_l).contains(&t) && (0.0..=body_w).contains(&n);
                // grip from the body's rear, along (ca, -sa) in (t, n) (downwards)
                let (gt, gn) = (t - 0.5 * grip_w, n);
                let along = gt * ca - gn * sa;
                let across = gt * sa + gn * ca;
                let in_grip = (0.0..=grip_l).contains(&along) && across.abs() <= 0.5 * grip_w;
                if in_body || in_grip {
                    for iz in -10..=10 {
                        pts.push([f64::from(iz), y, x]);
                    }
                }
            }
        }
        pts
    }

    #[test]
    fn a_thick_l_is_found_at_its_angle() {
        for (angle, rot) in [(105.0, 0.0), (110.0, 37.0), (95.0, 128.0)] {
            let pts = thick_l(190.0, 60.0, 110.0, 35.0, angle, rot);
            let frame = frame_of(&pts).unwrap();
            let (l, _) = limbs(&pts, &frame, 1.0).unwrap();
            assert!((l.widths_mm[0] - 60.0).abs() <= 6.0, "{l:?}");
            assert!((l.lengths_mm[0] - 190.0).abs() <= 8.0, "{:?}", l.lengths_mm);
            assert!(
                (l.lengths_mm[1] - 110.0).abs() <= 15.0,
                "{:?}",
                l.lengths_mm
            );
            assert!(
                (l.angle_deg - angle).abs() <= 2.0 * ANGLE_STEP_DEG + 2.0,
                "angle {} for {angle} (rot {rot})",
                l.angle_deg
            );
            assert!(l.junction_a < 0.2, "{}", l.junction_a);
            assert!(l.gap_mm <= 2.0 && l.cover > 0.9, "{} {}", l.gap_mm, l.cover);
        }
    }

    /// A body 190 × 60 mm and a grip 35 × 110 mm below its rear, `gap` mm of empty
    /// space between them, bridged (or not) by a 3 mm strip of metal, on a 1 mm grid
    /// 20 mm thick.
    fn split_l(gap: i32, bridged: bool) -> Vec<[f64; 3]> {
        let mut pts = Vec::new();
        for y in -(gap + 110)..=60 {
            for x in 0..=190 {
                let body = y >= 0;
                let grip = y <= -gap && x <= 35;
                let bridge = bridged && y < 0 && (20..23).contains(&x);
                if body || grip || bridge {
                    for z in -10..=10 {
                        pts.push([f64::from(z), f64::from(y), f64::from(x)]);
                    }
                }
            }
        }
        pts
    }

    #[test]
    fn the_gap_is_empty_space_not_metal() {
        for gap in [12, 30] {
            let pts = split_l(gap, false);
            let frame = frame_of(&pts).unwrap();
            let (l, _) = limbs(&pts, &frame, 1.0).unwrap();
            // To a search cell (here 2.7 mm).
            assert!((l.gap_mm - f64::from(gap)).abs() <= 3.0, "{gap}: {l:?}");
            let pts = split_l(gap, true);
            let frame = frame_of(&pts).unwrap();
            let (l, _) = limbs(&pts, &frame, 1.0).unwrap();
            assert!(l.gap_mm <= 1.0, "{gap} bridged: {l:?}");
        }
    }

    #[test]
    fn a_straight_bar_has_no_second_limb_of_note() {
        let pts = thick_l(200.0, 30.0, 0.0, 0.0, 100.0, 20.0);
        let frame = frame_of(&pts).unwrap();
        let l = limbs(&pts, &frame, 1.0);
        // Whatever B is found, it is a sliver of the ragged edge.
        if let Some((l, _)) = l {
            assert!(l.area_ratio < 0.05, "{l:?}");
        }
    }
}
