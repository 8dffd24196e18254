//! Iterative reconstruction: SIRT, SART with ordered subsets, and CGLS, written once
//! against [`LinearOperator`] (a forward projector with its exact adjoint), so they work
//! for every geometry the operator supports.
//!
//! All three solve `A x ≈ b` for a volume `x` (μ, mm⁻¹) from line integrals `b`:
//!
//! * **SIRT** (simultaneous iterative reconstruction technique):
//!   `x ← x + λ C Aᵀ R (b − A x)`, with `R = 1 / (A 1)` per detector pixel and
//!   `C = 1 / (Aᵀ 1)` per voxel (zero where the sums vanish). It minimises the
//!   `R`-weighted residual; smooth and robust to noise, slow to converge.
//! * **SART / OS-SART**: the same update applied to one subset of views at a time
//!   (views interleaved into `subsets` groups, visited in an order that keeps
//!   consecutive subsets far apart in angle). `R` is exact per subset; the voxel
//!   normalisation uses `C_s ≈ S / (Aᵀ 1)` (exact for evenly spread subsets), which
//!   keeps the memory at one volume. Converges about `S` times faster per sweep.
//! * **CGLS** (conjugate gradients on the normal equations `AᵀA x = Aᵀ b`): the fastest
//!   to reduce `‖b − A x‖`, and on noisy data it starts fitting the noise after a few
//!   tens of iterations (semi-convergence): use few iterations or `tol`.
//!
//! Non-negativity (`nonneg`) clips `x` at 0 after every SIRT/SART update (projected
//! iterations); CGLS iterates are unconstrained and its final result is clipped.
//!
//! Every solver records the residual norm `‖b − A x‖₂` (see each function for exactly
//! when), stops early when it changes by less than `tol` relative to the previous one,
//! reports one progress unit per iteration (stage `"sirt"`, `"sart"`, `"cgls"`) and checks
//! cancellation between iterations and inside the operator. Inner products are summed in
//! fixed chunks in a fixed order, so results are bit-identical on any thread count.

use ndarray::{Array3, ArrayView3, Axis};
use rayon::prelude::*;

use crate::geometry::{Geometry, VectorGeometry};
use crate::progress::{check, CancelOnly, Progress};
use crate::project::{LinearOperator, Projector};
use crate::volume::{element_count, ensure_allocatable, ensure_finite};
use crate::{Error, Projections, Result, Volume};

/// Options of the iterative solvers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IterativeOptions {
    /// Maximum number of iterations (SART: sweeps over all subsets). Default 50.
    pub iterations: usize,
    /// Clip the volume at 0 (see the module docs). Default `true`.
    pub nonneg: bool,
    /// Relaxation λ of SIRT and SART, in `(0, 2)`. Default 1.
    pub relaxation: f64,
    /// Stop when the residual norm changes by less than `tol` times its previous value.
    /// Default `1e-5`; 0 runs all iterations.
    pub tol: f64,
    /// SART: number of ordered subsets of views (clamped to the number of views).
    /// Default 10.
    pub subsets: usize,
}

impl Default for IterativeOptions {
    fn default() -> Self {
        Self {
            iterations: 50,
            nonneg: true,
            relaxation: 1.0,
            tol: 1e-5,
            subsets: 10,
        }
    }
}

impl IterativeOptions {
    fn validate(&self) -> Result<()> {
        if !(self.relaxation > 0.0 && self.relaxation < 2.0) {
            return Err(Error::invalid(
                "relaxation",
                self.relaxation,
                "a value in (0, 2)",
            ));
        }
        if !(self.tol >= 0.0 && self.tol.is_finite()) {
            return Err(Error::invalid("tol", self.tol, "a finite value ≥ 0"));
        }
        if self.subsets == 0 {
            return Err(Error::invalid("subsets", 0, "at least 1"));
        }
        Ok(())
    }
}

/// The result of an iterative solve on arrays.
#[derive(Debug, Clone, PartialEq)]
pub struct Solution {
    /// The volume, `(nz, ny, nx)`, μ in mm⁻¹.
    pub x: Array3<f32>,
    /// Residual norms `‖b − A x‖₂` (dimensionless line-integral units), one per iterate
    /// as each solver documents.
    pub residuals: Vec<f64>,
    /// Iterations carried out.
    pub iterations: usize,
    /// True when the run stopped early because the residual changed by less than `tol`.
    pub converged: bool,
}

/// The result of [`sirt`], [`sart`] or [`cgls`]: the volume and the residual history.
#[derive(Debug, Clone, PartialEq)]
pub struct Reconstruction {
    /// The reconstructed volume (μ in mm⁻¹), centred on the isocentre.
    pub volume: Volume,
    /// Residual norms, as in [`Solution::residuals`].
    pub residuals: Vec<f64>,
    /// Iterations carried out.
    pub iterations: usize,
    /// True when the run stopped early on `tol`.
    pub converged: bool,
}

const CHUNK: usize = 1 << 14;

/// `Σ aᵢ bᵢ` in f64, summed per fixed chunk and then in chunk order: independent of the
/// thread count.
fn dot(a: &[f32], b: &[f32]) -> f64 {
    let parts: Vec<f64> = a
        .par_chunks(CHUNK)
        .zip(b.par_chunks(CHUNK))
        .map(|(x, y)| {
            x.iter()
                .zip(y)
                .map(|(p, q)| f64::from(*p) * f64::from(*q))
                .sum::<f64>()
        })
        .collect();
    parts.iter().sum()
}

fn norm(a: &[f32]) -> f64 {
    dot(a, a).sqrt()
}

fn slice(a: &Array3<f32>) -> &[f32] {
    a.as_slice().expect("solver arrays are standard layout")
}

fn slice_mut(a: &mut Array3<f32>) -> &mut [f32] {
    a.as_slice_mut().expect("solver arrays are standard layout")
}

/// `1 / v` where `v > eps · max(v)`, else 0 (elementwise, in place).
fn invert_sums(v: &mut [f32]) {
    let max = v.iter().fold(0.0f32, |m, &x| m.max(x));
    let eps = (max * 1e-6).max(f32::MIN_POSITIVE);
    v.par_iter_mut()
        .for_each(|x| *x = if *x > eps { 1.0 / *x } else { 0.0 });
}

/// Refuses up front a solver whose working arrays (`volumes` f32 arrays of the
/// operator's domain and `projections` of its range, alive at the same time) would not
/// fit in memory, before the first of them is allocated.
fn alloc(what: &str, op: &dyn LinearOperator, volumes: u128, projections: u128) -> Result<()> {
    let d = element_count(&op.domain_shape());
    let r = element_count(&op.range_shape());
    ensure_allocatable(
        what,
        d.saturating_mul(volumes)
            .saturating_add(r.saturating_mul(projections)),
        4,
    )
}

/// Checks `b` and `x0` against the operator.
fn check_inputs(
    op: &dyn LinearOperator,
    b: &ArrayView3<'_, f32>,
    x0: Option<&ArrayView3<'_, f32>>,
) -> Result<()> {
    if b.shape() != op.range_shape() {
        return Err(Error::shape(
            "projections (views, rows, cols) vs operator",
            op.range_shape(),
            b.shape(),
        ));
    }
    ensure_finite("projections", b.iter())?;
    if let Some(x0) = x0 {
        if x0.shape() != op.domain_shape() {
            return Err(Error::shape(
                "initial volume vs operator",
                op.domain_shape(),
                x0.shape(),
            ));
        }
        ensure_finite("initial volume", x0.iter())?;
    }
    Ok(())
}

fn start_volume(
    op: &dyn LinearOperator,
    x0: Option<ArrayView3<'_, f32>>,
    nonneg: bool,
) -> Array3<f32> {
    let mut x = match x0 {
        Some(v) => v.as_standard_layout().into_owned(),
        None => Array3::zeros(op.domain_shape()),
    };
    if nonneg {
        x.par_mapv_inplace(|v| v.max(0.0));
    }
    x
}

/// The inverted row sums `1 / (A 1)` (range shape) and column sums `1 / (Aᵀ 1)` (domain
/// shape) of SIRT and SART: one forward and one back projection of ones.
fn inverse_sums(
    op: &dyn LinearOperator,
    quiet: &dyn Progress,
) -> Result<(Array3<f32>, Array3<f32>)> {
    let mut row_w = op.apply_new(Array3::from_elem(op.domain_shape(), 1.0).view(), quiet)?;
    invert_sums(slice_mut(&mut row_w));
    let mut col_w = op.apply_adjoint_new(Array3::from_elem(op.range_shape(), 1.0).view(), quiet)?;
    invert_sums(slice_mut(&mut col_w));
    Ok((row_w, col_w))
}

/// True when the last residual changed by less than `tol` relative to the one before.
fn stalled(residuals: &[f64], tol: f64) -> bool {
    match residuals {
        [.., prev, last] => *last == 0.0 || (prev - last).abs() <= tol * prev,
        _ => false,
    }
}

/// SIRT on a [`LinearOperator`]: `b` are the measured projections (the operator's range
/// shape), `x0` an optional starting volume (default zeros).
///
/// `residuals[k]` is `‖b − A x_k‖₂` for the iterates `x_0 … x_n` (`n + 1` values; the last
/// costs one extra forward projection).
///
/// **Errors** with [`Error::ShapeMismatch`] / [`Error::NonFinite`] for bad `b` or `x0`,
/// [`Error::InvalidParameter`] for bad options, [`Error::TooLarge`],
/// [`Error::Cancelled`].
///
/// # Example
/// ```
/// use ctscreen::geometry::{Geometry, ParallelBeamGeometry};
/// use ctscreen::project::{LinearOperator, Projector};
/// use ctscreen::recon::iterative::{sirt_with, IterativeOptions};
/// use ctscreen::NoProgress;
/// let angles: Vec<f64> = (0..20).map(|i| i as f64 * std::f64::consts::PI / 20.0).collect();
/// let g: Geometry = ParallelBeamGeometry::new(angles, 24, 1.0, 1).unwrap().into();
/// let a = Projector::centered([1, 16, 16], [1.0; 3], &g).unwrap();
/// let truth = ndarray::Array3::from_elem((1, 16, 16), 0.02f32);
/// let b = a.apply_new(truth.view(), &NoProgress).unwrap();
/// let opts = IterativeOptions { iterations: 30, ..Default::default() };
/// let s = sirt_with(&a, b.view(), None, &opts, &NoProgress).unwrap();
/// assert!(s.residuals.last().unwrap() < &(0.1 * s.residuals[0]));
/// ```
pub fn sirt_with(
    op: &dyn LinearOperator,
    b: ArrayView3<'_, f32>,
    x0: Option<ArrayView3<'_, f32>>,
    options: &IterativeOptions,
    progress: &dyn Progress,
) -> Result<Solution> {
    options.validate()?;
    check_inputs(op, &b, x0.as_ref())?;
    alloc("SIRT working arrays", op, 3, 3)?;
    let quiet = CancelOnly(progress);
    let b = b.as_standard_layout();
    let bs = b.as_slice().expect("standard layout");
    let (row_w, col_w) = inverse_sums(op, &quiet)?;

    let mut x = start_volume(op, x0, options.nonneg);
    let mut r = Array3::<f32>::zeros(op.range_shape());
    let mut g = Array3::<f32>::zeros(op.domain_shape());
    let lambda = options.relaxation as f32;
    let mut residuals = Vec::with_capacity(options.iterations + 1);
    let mut converged = false;
    let mut done = 0;
    progress.start("sirt", options.iterations as u64);
    loop {
        check(progress)?;
        op.apply(x.view(), r.view_mut(), &quiet)?;
        let rs = slice_mut(&mut r);
        rs.par_iter_mut()
            .zip(bs.par_iter())
            .for_each(|(ri, bi)| *ri = bi - *ri);
        residuals.push(norm(rs));
        if options.tol > 0.0 && stalled(&residuals, options.tol) {
            converged = true;
            break;
        }
        if done == options.iterations {
            break;
        }
        rs.par_iter_mut()
            .zip(slice(&row_w).par_iter())
            .for_each(|(ri, wi)| *ri *= wi);
        op.apply_adjoint(r.view(), g.view_mut(), &quiet)?;
        let nonneg = options.nonneg;
        slice_mut(&mut x)
            .par_iter_mut()
            .zip(slice(&g).par_iter().zip(slice(&col_w).par_iter()))
            .for_each(|(xi, (gi, ci))| {
                let v = *xi + lambda * ci * gi;
                *xi = if nonneg { v.max(0.0) } else { v };
            });
        done += 1;
        progress.advance(1);
    }
    Ok(Solution {
        x,
        residuals,
        iterations: done,
        converged,
    })
}

/// CGLS on a [`LinearOperator`] (see [`sirt_with`] for `b` and `x0`).
///
/// `residuals[k]` is `‖b − A x_k‖₂` for `x_0 … x_n`, maintained by the recurrence (no extra
/// projections). With `nonneg` only the final volume is clipped at 0.
///
/// **Errors** as [`sirt_with`].
pub fn cgls_with(
    op: &dyn LinearOperator,
    b: ArrayView3<'_, f32>,
    x0: Option<ArrayView3<'_, f32>>,
    options: &IterativeOptions,
    progress: &dyn Progress,
) -> Result<Solution> {
    options.validate()?;
    check_inputs(op, &b, x0.as_ref())?;
    alloc("CGLS working arrays", op, 3, 2)?;
    let quiet = CancelOnly(progress);
    let mut x = start_volume(op, x0, false);
    let mut r = op.apply_new(x.view(), &quiet)?;
    {
        let b = b.as_standard_layout();
        slice_mut(&mut r)
            .par_iter_mut()
            .zip(b.as_slice().expect("standard layout").par_iter())
            .for_each(|(ri, bi)| *ri = bi - *ri);
    }
    let mut s = op.apply_adjoint_new(r.view(), &quiet)?;
    let mut p = s.clone();
    let mut q = Array3::<f32>::zeros(op.range_shape());
    let mut gamma = dot(slice(&s), slice(&s));
    let mut residuals = vec![norm(slice(&r))];
    let mut converged = false;
    let mut done = 0;
    progress.start("cgls", options.iterations as u64);
    while done < options.iterations {
        check(progress)?;
        if gamma == 0.0 {
            converged = true;
            break;
        }
        op.apply(p.view(), q.view_mut(), &quiet)?;
        let delta = dot(slice(&q), slice(&q));
        if delta == 0.0 {
            converged = true;
            break;
        }
        let alpha = (gamma / delta) as f32;
        slice_mut(&mut x)
            .par_iter_mut()
            .zip(slice(&p).par_iter())
            .for_each(|(xi, pi)| *xi += alpha * pi);
        slice_mut(&mut r)
            .par_iter_mut()
            .zip(slice(&q).par_iter())
            .for_each(|(ri, qi)| *ri -= alpha * qi);
        residuals.push(norm(slice(&r)));
        done += 1;
        progress.advance(1);
        if options.tol > 0.0 && stalled(&residuals, options.tol) {
            converged = true;
            break;
        }
        if done == options.iterations {
            break;
        }
        op.apply_adjoint(r.view(), s.view_mut(), &quiet)?;
        let gamma_new = dot(slice(&s), slice(&s));
        let beta = (gamma_new / gamma) as f32;
        gamma = gamma_new;
        slice_mut(&mut p)
            .par_iter_mut()
            .zip(slice(&s).par_iter())
            .for_each(|(pi, si)| *pi = si + beta * *pi);
    }
    if options.nonneg {
        x.par_mapv_inplace(|v| v.max(0.0));
    }
    Ok(Solution {
        x,
        residuals,
        iterations: done,
        converged,
    })
}

/// A [`LinearOperator`] split into ordered subsets of projection views, for SART.
///
/// `full` maps the volume to all views; subset `s` is an operator on the same volume
/// whose range is the views `views[s]` (indices into `full`'s range axis 0, each view in
/// exactly one subset), in that order.
pub struct OrderedSubsets<'a> {
    full: &'a dyn LinearOperator,
    subsets: Vec<(Vec<usize>, &'a dyn LinearOperator)>,
}

impl std::fmt::Debug for OrderedSubsets<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrderedSubsets")
            .field("range", &self.full.range_shape())
            .field(
                "subsets",
                &self.subsets.iter().map(|(v, _)| v).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl<'a> OrderedSubsets<'a> {
    /// Groups `subsets` (views, operator) under `full`, visited in the given order.
    ///
    /// **Errors** if the views do not partition `0 .. views`, or a subset operator's
    /// domain or range shape does not match.
    pub fn new(
        full: &'a dyn LinearOperator,
        subsets: Vec<(Vec<usize>, &'a dyn LinearOperator)>,
    ) -> Result<Self> {
        let [n_views, rows, cols] = full.range_shape();
        let mut seen = vec![false; n_views];
        for (views, op) in &subsets {
            if op.domain_shape() != full.domain_shape() {
                return Err(Error::shape(
                    "subset operator volume",
                    full.domain_shape(),
                    op.domain_shape(),
                ));
            }
            if op.range_shape() != [views.len(), rows, cols] {
                return Err(Error::shape(
                    "subset operator projections",
                    [views.len(), rows, cols],
                    op.range_shape(),
                ));
            }
            for &v in views {
                if v >= n_views || std::mem::replace(&mut seen[v], true) {
                    return Err(Error::invalid(
                        "subset views",
                        v,
                        format!("each view of 0..{n_views} in exactly one subset"),
                    ));
                }
            }
        }
        if let Some(v) = seen.iter().position(|s| !s) {
            return Err(Error::invalid(
                "subset views",
                format!("view {v} missing"),
                format!("each view of 0..{n_views} in exactly one subset"),
            ));
        }
        Ok(Self { full, subsets })
    }
}

/// The views of `n_views` split into `subsets` interleaved groups (`s, s + S, s + 2S, …`),
/// ordered so that consecutive groups are far apart (golden-ratio order). Empty groups
/// are dropped.
pub fn interleaved_subsets(n_views: usize, subsets: usize) -> Vec<Vec<usize>> {
    let s = subsets.clamp(1, n_views.max(1));
    let mut order: Vec<usize> = (0..s).collect();
    let golden = 0.618_033_988_749_894_9_f64;
    order.sort_by(|&a, &b| {
        let fa = (a as f64 * golden).fract();
        let fb = (b as f64 * golden).fract();
        fa.total_cmp(&fb)
    });
    order
        .into_iter()
        .map(|first| (first..n_views).step_by(s).collect::<Vec<usize>>())
        .filter(|v| !v.is_empty())
        .collect()
}

/// The same scan restricted to `views` (in that order).
///
/// **Errors** if a view index is out of range or the list is empty.
pub fn geometry_subset(geometry: &Geometry, views: &[usize]) -> Result<Geometry> {
    let n = geometry.n_views();
    if views.is_empty() {
        return Err(Error::invalid("views", "[] (empty)", "at least one view"));
    }
    if let Some(&v) = views.iter().find(|&&v| v >= n) {
        return Err(Error::invalid(
            "views",
            v,
            format!("view indices below {n}"),
        ));
    }
    let pick = |a: &[f64]| views.iter().map(|&v| a[v]).collect::<Vec<f64>>();
    Ok(match geometry {
        Geometry::Parallel(g) => {
            let mut g = g.clone();
            g.angles_rad = pick(&g.angles_rad);
            Geometry::Parallel(g)
        }
        Geometry::Fan(g) => {
            let mut g = g.clone();
            g.angles_rad = pick(&g.angles_rad);
            Geometry::Fan(g)
        }
        Geometry::Cone(g) => {
            let mut g = g.clone();
            g.angles_rad = pick(&g.angles_rad);
            Geometry::Cone(g)
        }
        Geometry::Vector(g) => Geometry::Vector(VectorGeometry {
            views: views.iter().map(|&v| g.views[v]).collect(),
            ..g.clone()
        }),
    })
}

/// OS-SART over [`OrderedSubsets`] (see [`sirt_with`] for `b` and `x0`).
///
/// `residuals[k]` is the residual norm of sweep `k` measured on the way: each subset's
/// `‖b_s − A_s x‖²` just before its update, summed over the sweep (no extra projections).
///
/// **Errors** as [`sirt_with`].
pub fn sart_with(
    ops: &OrderedSubsets<'_>,
    b: ArrayView3<'_, f32>,
    x0: Option<ArrayView3<'_, f32>>,
    options: &IterativeOptions,
    progress: &dyn Progress,
) -> Result<Solution> {
    options.validate()?;
    let full = ops.full;
    check_inputs(full, &b, x0.as_ref())?;
    alloc("SART working arrays", full, 3, 3)?;
    let quiet = CancelOnly(progress);
    let (row_w, col_w) = inverse_sums(full, &quiet)?;
    // Per subset: its measured data and row weights.
    let parts: Vec<(Array3<f32>, Array3<f32>)> = ops
        .subsets
        .iter()
        .map(|(views, _)| {
            (
                b.select(Axis(0), views).as_standard_layout().into_owned(),
                row_w
                    .select(Axis(0), views)
                    .as_standard_layout()
                    .into_owned(),
            )
        })
        .collect();
    let n_sub = ops.subsets.len() as f32;
    let lambda = options.relaxation as f32;
    let nonneg = options.nonneg;
    let mut x = start_volume(full, x0, nonneg);
    let mut g = Array3::<f32>::zeros(full.domain_shape());
    let mut residuals = Vec::with_capacity(options.iterations);
    let mut converged = false;
    let mut done = 0;
    progress.start("sart", options.iterations as u64);
    while done < options.iterations {
        let mut sweep = 0.0f64;
        for ((_, op), (bs, ws)) in ops.subsets.iter().zip(&parts) {
            check(progress)?;
            let mut r = op.apply_new(x.view(), &quiet)?;
            let rs = slice_mut(&mut r);
            rs.par_iter_mut()
                .zip(slice(bs).par_iter())
                .for_each(|(ri, bi)| *ri = bi - *ri);
            sweep += dot(rs, rs);
            rs.par_iter_mut()
                .zip(slice(ws).par_iter())
                .for_each(|(ri, wi)| *ri *= wi);
            op.apply_adjoint(r.view(), g.view_mut(), &quiet)?;
            slice_mut(&mut x)
                .par_iter_mut()
                .zip(slice(&g).par_iter().zip(slice(&col_w).par_iter()))
                .for_each(|(xi, (gi, ci))| {
                    let v = *xi + lambda * n_sub * ci * gi;
                    *xi = if nonneg { v.max(0.0) } else { v };
                });
        }
        residuals.push(sweep.sqrt());
        done += 1;
        progress.advance(1);
        if options.tol > 0.0 && stalled(&residuals, options.tol) {
            converged = true;
            break;
        }
    }
    Ok(Solution {
        x,
        residuals,
        iterations: done,
        converged,
    })
}

fn prepare<'a>(
    projections: &'a Projections,
    geometry: &Geometry,
    shape: [usize; 3],
    spacing_mm: [f64; 3],
) -> Result<(Projector, ArrayView3<'a, f32>)> {
    let op = Projector::centered(shape, spacing_mm, geometry)?;
    Ok((op, projections.data().view()))
}

fn finish(solution: Solution, spacing_mm: [f64; 3]) -> Result<Reconstruction> {
    Ok(Reconstruction {
        volume: Volume::centered(solution.x, spacing_mm)?,
        residuals: solution.residuals,
        iterations: solution.iterations,
        converged: solution.converged,
    })
}

/// SIRT reconstruction of `projections` (`(views, rows, cols)` line integrals of
/// `geometry`, any kind) onto a grid of `shape` `[nz, ny, nx]` voxels of `spacing_mm`
/// `[dz, dy, dx]` mm centred on the isocentre, with the Joseph projector
/// ([`Projector`]). See [`sirt_with`].
///
/// **Errors** if the grid or geometry is invalid, the projections do not match the
/// geometry or hold NaN/inf, the options are out of range, memory would not suffice, or
/// the run is cancelled.
///
/// # Example
/// ```
/// use ctscreen::geometry::{Geometry, ParallelBeamGeometry};
/// use ctscreen::recon::iterative::{sirt, IterativeOptions};
/// use ctscreen::{NoProgress, Projections};
/// let angles: Vec<f64> = (0..12).map(|i| i as f64 * std::f64::consts::PI / 12.0).collect();
/// let g: Geometry = ParallelBeamGeometry::new(angles, 16, 1.0, 1).unwrap().into();
/// let p = Projections::new(ndarray::Array3::zeros((12, 1, 16))).unwrap();
/// let r = sirt(&p, &g, [1, 8, 8], [1.0; 3], &IterativeOptions::default(), &NoProgress).unwrap();
/// assert_eq!(r.volume.shape(), [1, 8, 8]);
/// assert_eq!(r.residuals[0], 0.0);
/// ```
pub fn sirt(
    projections: &Projections,
    geometry: &Geometry,
    shape: [usize; 3],
    spacing_mm: [f64; 3],
    options: &IterativeOptions,
    progress: &dyn Progress,
) -> Result<Reconstruction> {
    let (op, b) = prepare(projections, geometry, shape, spacing_mm)?;
    finish(sirt_with(&op, b, None, options, progress)?, spacing_mm)
}

/// CGLS reconstruction; arguments and errors as [`sirt`], algorithm [`cgls_with`].
pub fn cgls(
    projections: &Projections,
    geometry: &Geometry,
    shape: [usize; 3],
    spacing_mm: [f64; 3],
    options: &IterativeOptions,
    progress: &dyn Progress,
) -> Result<Reconstruction> {
    let (op, b) = prepare(projections, geometry, shape, spacing_mm)?;
    finish(cgls_with(&op, b, None, options, progress)?, spacing_mm)
}

/// OS-SART reconstruction with [`IterativeOptions::subsets`] interleaved subsets
/// ([`interleaved_subsets`]); arguments and errors as [`sirt`], algorithm
/// [`sart_with`].
pub fn sart(
    projections: &Projections,
    geometry: &Geometry,
    shape: [usize; 3],
    spacing_mm: [f64; 3],
    options: &IterativeOptions,
    progress: &dyn Progress,
) -> Result<Reconstruction> {
    options.validate()?;
    let (op, b) = prepare(projections, geometry, shape, spacing_mm)?;
    let groups = interleaved_subsets(geometry.n_views(), options.subsets);
    let ops = groups
        .iter()
        .map(|views| Projector::centered(shape, spacing_mm, &geometry_subset(geometry, views)?))
        .collect::<Result<Vec<Projector>>>()?;
    let subsets = OrderedSubsets::new(
        &op,
        groups
            .into_iter()
            .zip(ops.iter().map(|o| o as &dyn LinearOperator))
            .collect(),
    )?;
    finish(sart_with(&subsets, b, None, options, progress)?, spacing_mm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsets_partition_and_spread() {
        let s = interleaved_subsets(20, 4);
        assert_eq!(s.len(), 4);
        let mut all: Vec<usize> = s.iter().flatten().copied().collect();
        all.sort();
        assert_eq!(all, (0..20).collect::<Vec<_>>());
        assert_eq!(interleaved_subsets(3, 10).len(), 3);
    }

    #[test]
    fn stall_rule() {
        assert!(!stalled(&[1.0], 0.1));
        assert!(stalled(&[1.0, 0.95], 0.1));
        assert!(!stalled(&[1.0, 0.8], 0.1));
        assert!(stalled(&[1.0, 0.0], 0.0));
    }

    #[test]
    fn dot_is_exact_on_small_integers() {
        let a: Vec<f32> = (0..40_000).map(|i| (i % 7) as f32).collect();
        let want: f64 = a.iter().map(|&x| f64::from(x * x)).sum();
        assert_eq!(dot(&a, &a), want);
    }
}
