//! Binary morphology on `(z, y, x)` boolean volumes, with `scipy.ndimage`'s rules.
//!
//! A structuring element `S` of shape `(sz, sy, sx)` is centred at index
//! `(sz / 2, sy / 2, sx / 2)` (integer division, scipy's default `origin = 0`, also for
//! even sizes), giving offsets `d = s − centre`. Then
//!
//! * erosion: `out[p] = AND over d ∈ S of in[p + d]`,
//! * dilation: `out[p] = OR over d ∈ S of in[p − d]` (the Minkowski sum, adjoint of
//!   the erosion),
//!
//! and every voxel outside the volume reads as `false` (scipy's `border_value = 0`):
//! an erosion clears voxels whose neighbourhood leaves the volume, and a closing
//! (dilation then erosion) can therefore remove foreground within the element's reach
//! of the border, exactly as `scipy.ndimage.binary_closing` does.
//!
//! Implementation: a full box is applied separably (one 1D window per axis, each a
//! difference of prefix counts, so the cost does not grow with the size). Any other
//! element is split into runs along x, one per row of the element; for each run the
//! test "all (or any) voxels of `in` true in `[x + a, x + b]`" is one difference of
//! the row's prefix counts, vectorised over x. Work is parallel over z planes and
//! exact, so results do not depend on the thread count.

use ndarray::{s, Array3, ArrayView2, ArrayView3, ArrayViewMut2, Axis, Zip};
use rayon::prelude::*;

use super::{ensure_nonempty, label::label, Connectivity};
use crate::volume::ensure_allocatable;
use crate::{Error, Result};

/// A ball of `radius` voxels: shape `(2r + 1)³`, true where `z² + y² + x² ≤ r²` for
/// integer offsets from the centre, as `skimage.morphology.ball(radius)`.
///
/// **Errors** if the element would not fit in memory.
///
/// # Example
/// ```
/// let b = ctscreen::segment::ball(1).unwrap();
/// assert_eq!(b.dim(), (3, 3, 3));
/// assert_eq!(b.iter().filter(|&&v| v).count(), 7); // the 6-neighbourhood cross
/// ```
pub fn ball(radius: usize) -> Result<Array3<bool>> {
    let n = 2 * radius as u128 + 1;
    ensure_allocatable("ball", n * n * n, 1)?;
    let n = n as usize;
    let r = radius as i64;
    Ok(Array3::from_shape_fn((n, n, n), |(k, j, i)| {
        let (z, y, x) = (k as i64 - r, j as i64 - r, i as i64 - r);
        z * z + y * y + x * x <= r * r
    }))
}

/// A full cube of side `width` voxels (`skimage.morphology.cube(width)`); for even
/// widths the centre is at index `width / 2`, as scipy places it.
///
/// **Errors** if `width` is 0 or the element would not fit in memory.
///
/// # Example
/// ```
/// let c = ctscreen::segment::cube(3).unwrap();
/// assert!(c.iter().all(|&v| v) && c.len() == 27);
/// ```
pub fn cube(width: usize) -> Result<Array3<bool>> {
    if width == 0 {
        return Err(Error::invalid(
            "width",
            0,
            "a cube side of at least 1 voxel",
        ));
    }
    let w = width as u128;
    ensure_allocatable("cube", w * w * w, 1)?;
    Ok(Array3::from_elem((width, width, width), true))
}

/// The elementary structuring element of a connectivity, like
/// `scipy.ndimage.generate_binary_structure(3, c)`: the centre and its neighbours in a
/// 3×3×3 block for 6, 18 and 26; a 1×3×3 block for the in-plane 4 and 8.
///
/// # Example
/// ```
/// use ctscreen::segment::{generate_binary_structure, Connectivity};
/// let s = generate_binary_structure(Connectivity::Eighteen);
/// assert_eq!(s.iter().filter(|&&v| v).count(), 19);
/// ```
pub fn generate_binary_structure(connectivity: Connectivity) -> Array3<bool> {
    let planar = matches!(connectivity, Connectivity::Four | Connectivity::Eight);
    let nz = if planar { 1 } else { 3 };
    Array3::from_shape_fn((nz, 3, 3), |(k, j, i)| {
        let d = [
            if planar { 0 } else { k as i32 - 1 },
            j as i32 - 1,
            i as i32 - 1,
        ];
        d == [0, 0, 0] || connectivity.connects(d)
    })
}

/// All voxels of `in` in `[x + a, x + b]` true (erosion), or any (dilation).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    All,
    Any,
}

/// A row of the element: offsets `(dz, dy)` and the x offsets `a..=b`.
#[derive(Clone, Copy, Debug)]
struct Run {
    dz: isize,
    dy: isize,
    a: isize,
    b: isize,
}

enum Plan {
    /// A full box: x offsets `lo[2]..=hi[2]` etc.
    Box {
        lo: [isize; 3],
        hi: [isize; 3],
    },
    Runs(Vec<Run>),
}

fn plan(structure: &ArrayView3<'_, bool>, reflect: bool) -> Result<Plan> {
    let (sz, sy, sx) = structure.dim();
    if sz == 0 || sy == 0 || sx == 0 || !structure.iter().any(|&v| v) {
        return Err(Error::invalid(
            "structure",
            format!(
                "shape {:?} with {} true elements",
                structure.dim(),
                structure.iter().filter(|&&v| v).count()
            ),
            "a structuring element with at least one true element",
        ));
    }
    let c = [(sz / 2) as isize, (sy / 2) as isize, (sx / 2) as isize];
    let n = [sz as isize, sy as isize, sx as isize];
    let sign = if reflect { -1 } else { 1 };
    if structure.iter().all(|&v| v) {
        let lo: [isize; 3] =
            std::array::from_fn(|a| if reflect { -(n[a] - 1 - c[a]) } else { -c[a] });
        let hi: [isize; 3] = std::array::from_fn(|a| if reflect { c[a] } else { n[a] - 1 - c[a] });
        return Ok(Plan::Box { lo, hi });
    }
    let mut runs = Vec::new();
    for k in 0..sz {
        for j in 0..sy {
            let row = structure.slice(s![k, j, ..]);
            let mut i = 0;
            while i < sx {
                if !row[i] {
                    i += 1;
                    continue;
                }
                let start = i;
                while i < sx && row[i] {
                    i += 1;
                }
                let (a, b) = (start as isize - c[2], (i - 1) as isize - c[2]);
                let (a, b) = if reflect { (-b, -a) } else { (a, b) };
                runs.push(Run {
                    dz: sign * (k as isize - c[0]),
                    dy: sign * (j as isize - c[1]),
                    a,
                    b,
                });
            }
        }
    }
    // Central rows first: they decide most voxels of an erosion early in the cache.
    runs.sort_by_key(|r| (r.dz.abs() + r.dy.abs(), r.dz, r.dy, r.a));
    Ok(Plan::Runs(runs))
}

/// `out[x] op= window(prefix, x + a, x + b)` for a row of length `nx`; `prefix` has
/// `nx + 1` entries (`prefix[i]` = trues in `row[..i]`).
#[inline]
fn apply_run(out: &mut [bool], prefix: &[u32], a: isize, b: isize, mode: Mode) {
    let nx = out.len() as isize;
    // x with the whole window inside: x + a >= 0 and x + b <= nx - 1.
    let xl = (-a).clamp(0, nx) as usize;
    let xh = (nx - b).clamp(xl as isize, nx) as usize;
    match mode {
        Mode::All => {
            out[..xl].iter_mut().for_each(|o| *o = false);
            out[xh..].iter_mut().for_each(|o| *o = false);
            if xh > xl {
                let len = (b - a + 1) as u32;
                let hi = &prefix[(xl as isize + b + 1) as usize..];
                let lo = &prefix[(xl as isize + a) as usize..];
                for ((o, &h), &l) in out[xl..xh].iter_mut().zip(hi).zip(lo) {
                    *o &= h - l == len;
                }
            }
        }
        Mode::Any => {
            if xh > xl {
                let hi = &prefix[(xl as isize + b + 1) as usize..];
                let lo = &prefix[(xl as isize + a) as usize..];
                for ((o, &h), &l) in out[xl..xh].iter_mut().zip(hi).zip(lo) {
                    *o |= h != l;
                }
            }
            // Edges: clip the window to the row.
            for x in (0..xl).chain(xh.max(xl)..out.len()) {
                let lo = (x as isize + a).max(0);
                let hi = (x as isize + b).min(nx - 1);
                if lo <= hi {
                    out[x] |= prefix[hi as usize + 1] != prefix[lo as usize];
                }
            }
        }
    }
}

fn prefix_row(row: &[bool], prefix: &mut [u32]) {
    prefix[0] = 0;
    let mut acc = 0u32;
    for (p, &v) in prefix[1..].iter_mut().zip(row) {
        acc += u32::from(v);
        *p = acc;
    }
}

/// Applies an element given as runs (general shape).
fn apply_runs(input: &[bool], shape: [usize; 3], runs: &[Run], mode: Mode) -> Result<Vec<bool>> {
    let [nz, ny, nx] = shape;
    let rows = nz * ny;
    ensure_allocatable(
        "morphology prefix counts",
        rows as u128 * (nx as u128 + 1),
        4,
    )?;
    let mut prefix = vec![0u32; rows * (nx + 1)];
    prefix
        .par_chunks_mut(nx + 1)
        .zip(input.par_chunks(nx))
        .for_each(|(p, r)| prefix_row(r, p));
    let mut out = vec![mode == Mode::All; input.len()];
    out.par_chunks_mut(ny * nx)
        .enumerate()
        .for_each(|(k, plane)| {
            for (j, row) in plane.chunks_mut(nx).enumerate() {
                for r in runs {
                    let (zz, yy) = (k as isize + r.dz, j as isize + r.dy);
                    if zz < 0 || yy < 0 || zz >= nz as isize || yy >= ny as isize {
                        if mode == Mode::All {
                            row.fill(false);
                            break;
                        }
                        continue;
                    }
                    let idx = zz as usize * ny + yy as usize;
                    apply_run(
                        row,
                        &prefix[idx * (nx + 1)..(idx + 1) * (nx + 1)],
                        r.a,
                        r.b,
                        mode,
                    );
                }
            }
        });
    Ok(out)
}

/// 1D window `[i + lo, i + hi]` along the first axis of a `(n, nx)` view.
fn lines_pass(
    src: ArrayView2<'_, bool>,
    mut dst: ArrayViewMut2<'_, bool>,
    lo: isize,
    hi: isize,
    mode: Mode,
) {
    let (n, nx) = src.dim();
    let mut q = vec![0u32; (n + 1) * nx];
    for i in 0..n {
        let (prev, cur) = q.split_at_mut((i + 1) * nx);
        let prev = &prev[i * nx..];
        for ((c, &p), &v) in cur[..nx].iter_mut().zip(prev).zip(src.row(i).iter()) {
            *c = p + u32::from(v);
        }
    }
    let len = (hi - lo + 1) as u32;
    for i in 0..n {
        let (a, b) = (i as isize + lo, i as isize + hi);
        let mut row = dst.row_mut(i);
        match mode {
            Mode::All => {
                if a < 0 || b >= n as isize {
                    row.fill(false);
                    continue;
                }
                let (qa, qb) = (&q[a as usize * nx..], &q[(b as usize + 1) * nx..]);
                for ((o, &h), &l) in row.iter_mut().zip(qb).zip(qa) {
                    *o = h - l == len;
                }
            }
            Mode::Any => {
                let (a, b) = (a.max(0), b.min(n as isize - 1));
                if a > b {
                    row.fill(false);
                    continue;
                }
                let (qa, qb) = (&q[a as usize * nx..], &q[(b as usize + 1) * nx..]);
                for ((o, &h), &l) in row.iter_mut().zip(qb).zip(qa) {
                    *o = h != l;
                }
            }
        }
    }
}

/// Applies a full box separably: x, then y, then z.
fn apply_box(
    input: &[bool],
    shape: [usize; 3],
    lo: [isize; 3],
    hi: [isize; 3],
    mode: Mode,
) -> Vec<bool> {
    let [nz, ny, nx] = shape;
    let mut a = vec![false; input.len()];
    a.par_chunks_mut(ny * nx)
        .zip(input.par_chunks(ny * nx))
        .for_each_init(
            || vec![0u32; nx + 1],
            |prefix, (dst, src)| {
                for (o, r) in dst.chunks_mut(nx).zip(src.chunks(nx)) {
                    prefix_row(r, prefix);
                    o.fill(mode == Mode::All);
                    apply_run(o, prefix, lo[2], hi[2], mode);
                }
            },
        );
    let a = Array3::from_shape_vec((nz, ny, nx), a).expect("shape");
    let mut b = Array3::from_elem((nz, ny, nx), false);
    if lo[1] == 0 && hi[1] == 0 {
        b.assign(&a);
    } else {
        Zip::from(a.axis_iter(Axis(0)))
            .and(b.axis_iter_mut(Axis(0)))
            .par_for_each(|s, d| lines_pass(s, d, lo[1], hi[1], mode));
    }
    if lo[0] == 0 && hi[0] == 0 {
        return b.into_raw_vec_and_offset().0;
    }
    let mut c = a; // reuse the allocation
    Zip::from(b.axis_iter(Axis(1)))
        .and(c.axis_iter_mut(Axis(1)))
        .par_for_each(|s, d| lines_pass(s, d, lo[0], hi[0], mode));
    c.into_raw_vec_and_offset().0
}

fn morph(
    mask: ArrayView3<'_, bool>,
    structure: ArrayView3<'_, bool>,
    erode: bool,
) -> Result<Array3<bool>> {
    let (nz, ny, nx) = mask.dim();
    ensure_nonempty("mask", [nz, ny, nx])?;
    ensure_allocatable("morphology output", nz as u128 * ny as u128 * nx as u128, 2)?;
    let plan = plan(&structure, !erode)?;
    let mode = if erode { Mode::All } else { Mode::Any };
    let input = mask.as_standard_layout();
    let input = input.as_slice().expect("standard layout");
    let out = match plan {
        Plan::Box { lo, hi } => apply_box(input, [nz, ny, nx], lo, hi, mode),
        Plan::Runs(runs) => apply_runs(input, [nz, ny, nx], &runs, mode)?,
    };
    Ok(Array3::from_shape_vec((nz, ny, nx), out).expect("shape"))
}

/// Binary erosion of `mask` by `structure` (both `(z, y, x)`): `out[p]` is true when
/// `mask[p + d]` is true for every offset `d` of the element (centre at `shape / 2`);
/// outside the volume counts as false. Same as `scipy.ndimage.binary_erosion(mask,
/// structure)` with its defaults (`border_value = 0`, `origin = 0`, one iteration).
///
/// **Errors** if `mask` has a zero dimension or `structure` has no true element.
///
/// # Example
/// ```
/// use ctscreen::segment::{binary_erosion, cube};
/// let mut m = ndarray::Array3::from_elem((5, 5, 5), false);
/// m.slice_mut(ndarray::s![1..4, 1..4, 1..4]).fill(true);
/// let e = binary_erosion(m.view(), cube(3).unwrap().view()).unwrap();
/// assert_eq!(e.iter().filter(|&&v| v).count(), 1);
/// assert!(e[[2, 2, 2]]);
/// ```
pub fn binary_erosion(
    mask: ArrayView3<'_, bool>,
    structure: ArrayView3<'_, bool>,
) -> Result<Array3<bool>> {
    morph(mask, structure, true)
}

/// Binary dilation of `mask` by `structure`: `out[p]` is true when `mask[p − d]` is
/// true for some offset `d` of the element (the Minkowski sum; voxels outside the
/// volume are false). Same as `scipy.ndimage.binary_dilation(mask, structure)`.
///
/// **Errors** as [`binary_erosion`].
///
/// # Example
/// ```
/// use ctscreen::segment::{binary_dilation, ball};
/// let mut m = ndarray::Array3::from_elem((5, 5, 5), false);
/// m[[2, 2, 2]] = true;
/// let d = binary_dilation(m.view(), ball(1).unwrap().view()).unwrap();
/// assert_eq!(d.iter().filter(|&&v| v).count(), 7);
/// ```
pub fn binary_dilation(
    mask: ArrayView3<'_, bool>,
    structure: ArrayView3<'_, bool>,
) -> Result<Array3<bool>> {
    morph(mask, structure, false)
}

/// Binary opening: erosion then dilation by `structure`
/// (`scipy.ndimage.binary_opening`). Always a subset of `mask`.
///
/// **Errors** as [`binary_erosion`].
///
/// # Example
/// ```
/// use ctscreen::segment::{binary_opening, cube};
/// let mut m = ndarray::Array3::from_elem((7, 7, 7), false);
/// m.slice_mut(ndarray::s![1..6, 1..6, 1..6]).fill(true);
/// m[[0, 0, 0]] = true; // a speck the opening removes
/// let o = binary_opening(m.view(), cube(3).unwrap().view()).unwrap();
/// assert!(!o[[0, 0, 0]] && o[[1, 1, 1]] && o[[3, 3, 3]]);
/// ```
pub fn binary_opening(
    mask: ArrayView3<'_, bool>,
    structure: ArrayView3<'_, bool>,
) -> Result<Array3<bool>> {
    let e = binary_erosion(mask, structure)?;
    binary_dilation(e.view(), structure)
}

/// Binary closing: dilation then erosion by `structure`
/// (`scipy.ndimage.binary_closing`). A superset of `mask` except within the element's
/// reach of the volume's border, where the erosion reads the outside as false (as in
/// scipy); pad the mask first to avoid that.
///
/// **Errors** as [`binary_erosion`].
///
/// # Example
/// ```
/// use ctscreen::segment::{binary_closing, cube};
/// let mut m = ndarray::Array3::from_elem((9, 9, 9), false);
/// m.slice_mut(ndarray::s![2..7, 2..7, 2..7]).fill(true);
/// m[[4, 4, 4]] = false; // a one-voxel cavity the closing fills
/// let c = binary_closing(m.view(), cube(3).unwrap().view()).unwrap();
/// assert!(c[[4, 4, 4]]);
/// ```
pub fn binary_closing(
    mask: ArrayView3<'_, bool>,
    structure: ArrayView3<'_, bool>,
) -> Result<Array3<bool>> {
    let d = binary_dilation(mask, structure)?;
    binary_erosion(d.view(), structure)
}

/// Fills the holes of `mask`: background voxels not connected to the volume's border
/// through background under `connectivity` become foreground. With
/// [`Connectivity::Six`] this is `scipy.ndimage.binary_fill_holes(mask)` (scipy's
/// default structure); [`Connectivity::TwentySix`] matches
/// `binary_fill_holes(mask, generate_binary_structure(3, 3))`. The in-plane
/// [`Connectivity::Four`] and [`Connectivity::Eight`] fill each z plane as a 2D image
/// (border = the plane's edges).
///
/// **Errors** if `mask` has a zero dimension or the labels do not fit in memory.
///
/// # Example
/// ```
/// use ctscreen::segment::{fill_holes, Connectivity};
/// let mut m = ndarray::Array3::from_elem((5, 5, 5), true);
/// m[[2, 2, 2]] = false; // enclosed: filled
/// m[[0, 2, 2]] = false; // on the border: kept
/// let f = fill_holes(m.view(), Connectivity::Six).unwrap();
/// assert!(f[[2, 2, 2]] && !f[[0, 2, 2]]);
/// ```
pub fn fill_holes(mask: ArrayView3<'_, bool>, connectivity: Connectivity) -> Result<Array3<bool>> {
    let (nz, ny, nx) = mask.dim();
    ensure_nonempty("mask", [nz, ny, nx])?;
    let background = mask.mapv(|m| !m);
    let (labels, n) = label(background.view(), connectivity)?;
    drop(background);
    let mut outside = vec![false; n + 1];
    let planar = matches!(connectivity, Connectivity::Four | Connectivity::Eight);
    let mut mark = |v: ArrayView2<'_, u32>| v.iter().for_each(|&l| outside[l as usize] = true);
    if !planar {
        mark(labels.index_axis(Axis(0), 0));
        mark(labels.index_axis(Axis(0), nz - 1));
    }
    for k in 0..nz {
        let p = labels.index_axis(Axis(0), k);
        mark(p.slice(s![0..1, ..]));
        mark(p.slice(s![ny - 1..ny, ..]));
        mark(p.slice(s![.., 0..1]));
        mark(p.slice(s![.., nx - 1..nx]));
    }
    outside[0] = true;
    let mut out = labels.mapv(|l| !outside[l as usize]);
    Zip::from(&mut out).and(&mask).for_each(|o, &m| *o |= m);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn random_mask(shape: (usize, usize, usize), p: f64, seed: u64) -> Array3<bool> {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        Array3::from_shape_simple_fn(shape, || rng.random_bool(p))
    }

    /// Direct definition, offset by offset.
    fn naive(mask: &Array3<bool>, st: &Array3<bool>, erode: bool) -> Array3<bool> {
        let (nz, ny, nx) = mask.dim();
        let (sz, sy, sx) = st.dim();
        let c = [(sz / 2) as i64, (sy / 2) as i64, (sx / 2) as i64];
        let get = |p: [i64; 3]| {
            if p[0] < 0
                || p[1] < 0
                || p[2] < 0
                || p[0] >= nz as i64
                || p[1] >= ny as i64
                || p[2] >= nx as i64
            {
                false
            } else {
                mask[[p[0] as usize, p[1] as usize, p[2] as usize]]
            }
        };
        Array3::from_shape_fn((nz, ny, nx), |(k, j, i)| {
            let mut acc = erode;
            for ((a, b, cc), &v) in st.indexed_iter() {
                if !v {
                    continue;
                }
                let d = [a as i64 - c[0], b as i64 - c[1], cc as i64 - c[2]];
                let p = [k as i64, j as i64, i as i64];
                if erode {
                    acc &= get([p[0] + d[0], p[1] + d[1], p[2] + d[2]]);
                } else {
                    acc |= get([p[0] - d[0], p[1] - d[1], p[2] - d[2]]);
                }
            }
            acc
        })
    }

    fn elements() -> Vec<Array3<bool>> {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(77);
        let mut odd = Array3::from_shape_simple_fn((3, 4, 5), || rng.random_bool(0.5));
        odd[[0, 0, 0]] = true;
        vec![
            ball(1).unwrap(),
            ball(2).unwrap(),
            cube(3).unwrap(),
            cube(2).unwrap(),
            cube(4).unwrap(),
            Array3::from_elem((1, 3, 5), true),
            Array3::from_elem((2, 1, 1), true),
            generate_binary_structure(Connectivity::Eighteen),
            generate_binary_structure(Connectivity::Four),
            odd,
        ]
    }

    #[test]
    fn matches_direct_definition() {
        for (n, st) in elements().iter().enumerate() {
            for (seed, p) in [(1u64, 0.3), (2, 0.8)] {
                let m = random_mask((7, 9, 11), p, seed + 10 * n as u64);
                let e = binary_erosion(m.view(), st.view()).unwrap();
                assert_eq!(e, naive(&m, st, true), "erosion, element {n}");
                let d = binary_dilation(m.view(), st.view()).unwrap();
                assert_eq!(d, naive(&m, st, false), "dilation, element {n}");
            }
        }
    }

    #[test]
    fn opening_and_closing_bracket_the_set() {
        for st in elements() {
            let (sz, sy, sx) = st.dim();
            let m0 = random_mask((8, 9, 10), 0.6, 4);
            // Pad by the element size so the closing's erosion never meets the border.
            let mut m = Array3::from_elem((8 + 2 * sz, 9 + 2 * sy, 10 + 2 * sx), false);
            m.slice_mut(s![sz..sz + 8, sy..sy + 9, sx..sx + 10])
                .assign(&m0);
            let o = binary_opening(m.view(), st.view()).unwrap();
            let c = binary_closing(m.view(), st.view()).unwrap();
            Zip::from(&o).and(&m).and(&c).for_each(|&o, &m, &c| {
                assert!(!o || m, "opening ⊆ set");
                assert!(!m || c, "set ⊆ closing");
            });
            // Idempotence.
            assert_eq!(binary_opening(o.view(), st.view()).unwrap(), o);
            assert_eq!(binary_closing(c.view(), st.view()).unwrap(), c);
        }
    }

    #[test]
    fn dilation_is_adjoint_of_erosion() {
        // δ(X) ⊆ Y  ⇔  X ⊆ ε(Y), for every pair tried.
        let mut checked = [0, 0];
        for st in elements() {
            for seed in 0..12u64 {
                let x = random_mask((5, 6, 7), 0.08, 100 + seed);
                let y = random_mask((5, 6, 7), 0.85, 200 + seed);
                let d = binary_dilation(x.view(), st.view()).unwrap();
                let e = binary_erosion(y.view(), st.view()).unwrap();
                let lhs = Zip::from(&d).and(&y).all(|&d, &y| !d || y);
                let rhs = Zip::from(&x).and(&e).all(|&x, &e| !x || e);
                assert_eq!(lhs, rhs);
                checked[lhs as usize] += 1;
                // And with Y = δ(X) the left side holds, so X ⊆ ε(δ(X)).
                let e2 = binary_erosion(d.view(), st.view()).unwrap();
                let c = binary_closing(x.view(), st.view()).unwrap();
                assert_eq!(e2, c);
            }
        }
        assert!(
            checked[0] > 0,
            "the test pairs should not all be trivially related"
        );
    }

    #[test]
    fn structures_and_errors() {
        assert_eq!(ball(0).unwrap().dim(), (1, 1, 1));
        assert_eq!(ball(3).unwrap().iter().filter(|&&v| v).count(), 123);
        assert!(cube(0).is_err());
        assert_eq!(
            generate_binary_structure(Connectivity::Six)
                .iter()
                .filter(|&&v| v)
                .count(),
            7
        );
        assert_eq!(
            generate_binary_structure(Connectivity::TwentySix)
                .iter()
                .filter(|&&v| v)
                .count(),
            27
        );
        assert_eq!(
            generate_binary_structure(Connectivity::Eight).dim(),
            (1, 3, 3)
        );
        let m = Array3::from_elem((3, 3, 3), true);
        let empty = Array3::from_elem((3, 3, 3), false);
        let e = binary_erosion(m.view(), empty.view())
            .unwrap_err()
            .to_string();
        assert!(e.contains("structure"), "{e}");
        let z = Array3::from_elem((0, 3, 3), true);
        assert!(binary_dilation(z.view(), m.view()).is_err());
    }

    #[test]
    fn fill_holes_shell_and_planes() {
        // A hollow box with a cavity: filled at 6; a diagonal leak lets 26 escape.
        let mut m = Array3::from_elem((7, 7, 7), false);
        m.slice_mut(s![1..6, 1..6, 1..6]).fill(true);
        m.slice_mut(s![2..5, 2..5, 2..5]).fill(false);
        let f = fill_holes(m.view(), Connectivity::Six).unwrap();
        assert!(f.slice(s![1..6, 1..6, 1..6]).iter().all(|&v| v));
        assert_eq!(f.iter().filter(|&&v| v).count(), 125);
        // Open the shell voxel [1, 1, 3]: it touches the outside through a face and the
        // cavity ([2, 2, 3]) only through an edge, which 18 and 26 cross but 6 does not.
        let mut leak = m.clone();
        leak[[1, 1, 3]] = false;
        let f6 = fill_holes(leak.view(), Connectivity::Six).unwrap();
        assert!(f6[[3, 3, 3]] && !f6[[1, 1, 3]]);
        for c in [Connectivity::Eighteen, Connectivity::TwentySix] {
            let f = fill_holes(leak.view(), c).unwrap();
            assert_eq!(f, leak, "{c:?}");
        }
        // In-plane: a ring in one plane is filled with 4, not across planes.
        let mut ring = Array3::from_elem((2, 5, 5), false);
        for i in 1..4 {
            ring[[0, 1, i]] = true;
            ring[[0, 3, i]] = true;
            ring[[0, i, 1]] = true;
            ring[[0, i, 3]] = true;
        }
        let f4 = fill_holes(ring.view(), Connectivity::Four).unwrap();
        assert!(f4[[0, 2, 2]]);
        let f8 = fill_holes(ring.view(), Connectivity::Eight).unwrap();
        assert!(f8[[0, 2, 2]]);
        let f3d = fill_holes(ring.view(), Connectivity::Six).unwrap();
        assert!(!f3d[[0, 2, 2]]);
    }

    #[test]
    fn identical_on_one_and_two_threads() {
        let m = random_mask((20, 21, 22), 0.5, 8);
        let run = |t: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .unwrap();
            pool.install(|| {
                elements()
                    .iter()
                    .map(|st| {
                        (
                            binary_erosion(m.view(), st.view()).unwrap(),
                            binary_dilation(m.view(), st.view()).unwrap(),
                        )
                    })
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(run(1), run(2));
    }
}
