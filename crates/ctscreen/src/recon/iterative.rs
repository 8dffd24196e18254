//! Iterative reconstruction, written once against [`LinearOperator`]: SIRT, SART with
//! ordered subsets, and CGLS, each with optional non-negativity, a progress callback
//! (one unit per iteration), cancellation, and early stop on a small relative change of
//! the residual.
//!
//! With `A` the projector, `b` the measured line integrals:
//!
//! * SIRT: `x ← x + λ C Aᵀ R (b − A x)`, `R = 1 / (A 1)` (inverse ray sums), `C = 1 / (Aᵀ 1)`
//!   (inverse voxel sums); rays or voxels with a zero sum get weight 0.
//! * SART (ordered subsets): the same update restricted to one subset of views at a
//!   time (views `s, s + S, s + 2S, …` form subset `s`), so one iteration makes `S` updates.
//! * CGLS: conjugate gradients on the normal equations `AᵀA x = Aᵀ b`; the residual
//!   `‖b − A x‖` decreases monotonically. Non-negativity, if asked, clamps the final
//!   volume (CGLS has no projected form).
//!
//! Vector reductions use fixed-size chunks summed in order in f64, so results are
//! identical on any number of threads.

use ndarray::{Array3, ArrayView3, Zip};
use rayon::prelude::*;

use crate::geometry::{Geometry, VectorGeometry};
use crate::progress::{check, Progress};
use crate::project::{LinearOperator, Projector};
use crate::volume::{centered_origin, element_count, ensure_allocatable, ensure_finite};
use crate::{Error, Projections, Result, Volume};

/// Options of the iterative solvers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IterativeOptions {
    /// Iterations (SART: passes over all subsets). Default 50.
    pub iterations: usize,
    /// Clamp the volume to ≥ 0 after each update (CGLS: at the end). Default true.
    pub nonnegative: bool,
    /// Stop when the residual changes by less than this fraction between iterations
    /// (0 disables). Default 0.
    pub tolerance: f64,
    /// Relaxation λ of SIRT and SART. Default 1 (SIRT), 1 (SART).
    pub relaxation: f32,
    /// Ordered subsets of SART. Default 10.
    pub subsets: usize,
}

impl Default for IterativeOptions {
    fn default() -> Self {
        Self {
            iterations: 50,
            nonnegative: true,
            tolerance: 0.0,
            relaxation: 1.0,
            subsets: 10,
        }
    }
}

impl IterativeOptions {
    fn validate(&self) -> Result<()> {
        if self.iterations == 0 {
            return Err(Error::invalid("iterations", 0, "at least 1"));
        }
        if !self.tolerance.is_finite() || self.tolerance < 0.0 {
            return Err(Error::invalid(
                "tolerance",
                self.tolerance,
                "a finite fraction ≥ 0",
            ));
        }
        if !self.relaxation.is_finite() || self.relaxation <= 0.0 || self.relaxation >= 2.0 {
            return Err(Error::invalid(
                "relaxation",
                self.relaxation,
                "a value in (0, 2)",
            ));
        }
        if self.subsets == 0 {
            return Err(Error::invalid("subsets", 0, "at least 1"));
        }
        Ok(())
    }
}

/// An iterative reconstruction and its history.
#[derive(Debug, Clone)]
pub struct IterativeResult {
    /// The volume, μ in mm⁻¹, centred on the isocentre.
    pub volume: Volume,
    /// `‖b − A x‖₂` after each iteration.
    pub residuals: Vec<f64>,
}

const CHUNK: usize = 1 << 14;

fn dot(a: &[f32], b: &[f32]) -> f64 {
    let parts: Vec<f64> = a
        .par_chunks(CHUNK)
        .zip(b.par_chunks(CHUNK))
        .map(|(x, y)| {
            x.iter()
                .zip(y)
                .map(|(&p, &q)| f64::from(p) * f64::from(q))
                .sum()
        })
        .collect();
    parts.iter().sum()
}

fn norm(a: &[f32]) -> f64 {
    dot(a, a).sqrt()
}

fn inverse_sums(a: &Array3<f32>) -> Array3<f32> {
    a.mapv(|s| if s > 1e-6 { 1.0 / s } else { 0.0 })
}

fn prepare(
    projections: &Projections,
    geometry: &Geometry,
    shape: [usize; 3],
    spacing_mm: [f64; 3],
    options: &IterativeOptions,
) -> Result<Projector> {
    options.validate()?;
    let expected = geometry.projection_shape();
    if projections.shape() != expected {
        return Err(Error::shape(
            "projections vs geometry",
            expected,
            projections.shape(),
        ));
    }
    ensure_finite("projections", projections.data().iter())?;
    Projector::centered(shape, spacing_mm, geometry)
}

fn finish(x: Array3<f32>, op: &Projector, residuals: Vec<f64>) -> Result<IterativeResult> {
    let volume = Volume::new(x, op.spacing(), op.origin())?;
    Ok(IterativeResult { volume, residuals })
}

fn stalled(residuals: &[f64], tolerance: f64) -> bool {
    if tolerance <= 0.0 || residuals.len() < 2 {
        return false;
    }
    let (a, b) = (
        residuals[residuals.len() - 2],
        residuals[residuals.len() - 1],
    );
    a > 0.0 && ((a - b) / a).abs() < tolerance
}

/// One SIRT-type pass of `op` on `b`: `x ← x + λ C Aᵀ R (b − A x)`; returns ‖b − A x‖
/// before the update.
fn sirt_step(
    op: &dyn LinearOperator,
    b: ArrayView3<f32>,
    x: &mut Array3<f32>,
    inv_rays: &Array3<f32>,
    inv_voxels: &Array3<f32>,
    options: &IterativeOptions,
    progress: &dyn Progress,
) -> Result<f64> {
    let mut r = op.apply_new(x.view(), progress)?;
    Zip::from(&mut r).and(&b).par_for_each(|r, &b| *r = b - *r);
    let res = norm(r.as_slice().expect("standard layout"));
    Zip::from(&mut r)
        .and(inv_rays)
        .par_for_each(|r, &w| *r *= w);
    let back = op.apply_adjoint_new(r.view(), progress)?;
    let lambda = options.relaxation;
    let nonneg = options.nonnegative;
    Zip::from(x)
        .and(&back)
        .and(inv_voxels)
        .par_for_each(|x, &g, &c| {
            let v = *x + lambda * c * g;
            *x = if nonneg { v.max(0.0) } else { v };
        });
    Ok(res)
}

/// Refuses up front a reconstruction whose working arrays (`volumes` f32 arrays of the
/// operator's domain and `projections` of its range, alive at the same time) would not
/// fit in memory, before the first of them is allocated.
fn ensure_working_memory(
    what: &str,
    op: &dyn LinearOperator,
    volumes: u128,
    projections: u128,
) -> Result<()> {
    let d = element_count(&op.domain_shape());
    let r = element_count(&op.range_shape());
    ensure_allocatable(
        what,
        d.saturating_mul(volumes)
            .saturating_add(r.saturating_mul(projections)),
        4,
    )
}

fn weights(op: &dyn LinearOperator, progress: &dyn Progress) -> Result<(Array3<f32>, Array3<f32>)> {
    let ones_x = Array3::from_elem(op.domain_shape(), 1.0f32);
    let ones_y = Array3::from_elem(op.range_shape(), 1.0f32);
    let rays = op.apply_new(ones_x.view(), progress)?;
    let voxels = op.apply_adjoint_new(ones_y.view(), progress)?;
    Ok((inverse_sums(&rays), inverse_sums(&voxels)))
}

/// SIRT on any linear operator; `b` has the operator's range shape. Returns the volume
/// array and the residual after each iteration.
///
/// **Errors** on shape mismatch, bad options, NaN or ±inf in `b` ([`Error::NonFinite`]),
/// working arrays that would not fit in memory ([`Error::TooLarge`]), or cancellation.
pub fn sirt_operator(
    op: &dyn LinearOperator,
    b: ArrayView3<f32>,
    options: &IterativeOptions,
    progress: &dyn Progress,
) -> Result<(Array3<f32>, Vec<f64>)> {
    options.validate()?;
    if b.dim() != op.range_shape().into() {
        return Err(Error::shape(
            "projections vs operator",
            op.range_shape(),
            b.dim(),
        ));
    }
    ensure_finite("projections", b.iter())?;
    // x, the voxel weights and the backprojection; the ray weights and the residual.
    ensure_working_memory("SIRT working arrays", op, 3, 2)?;
    let (inv_rays, inv_voxels) = weights(op, progress)?;
    let mut x = Array3::zeros(op.domain_shape());
    let mut residuals = Vec::new();
    progress.start("SIRT", options.iterations as u64);
    for _ in 0..options.iterations {
        check(progress)?;
        sirt_step(op, b, &mut x, &inv_rays, &inv_voxels, options, progress)?;
        let r = {
            let mut ax = op.apply_new(x.view(), progress)?;
            Zip::from(&mut ax).and(&b).par_for_each(|a, &b| *a = b - *a);
            norm(ax.as_slice().expect("standard layout"))
        };
        residuals.push(r);
        progress.advance(1);
        if stalled(&residuals, options.tolerance) {
            break;
        }
    }
    Ok((x, residuals))
}

/// SIRT reconstruction of `projections` taken with `geometry` onto a centred grid of
/// `shape` voxels of `spacing_mm`.
///
/// **Errors** if the projections disagree with the geometry, hold NaN/inf, an option
/// is out of range, the grid is invalid, the working arrays would not fit in memory
/// ([`Error::TooLarge`]), or on cancellation.
///
/// # Example
/// ```
/// use ctscreen::geometry::{Geometry, ParallelBeamGeometry};
/// use ctscreen::recon::{sirt, IterativeOptions};
/// use ctscreen::{forward_project, NoProgress, Volume};
/// let angles: Vec<f64> = (0..30).map(|i| i as f64 * std::f64::consts::PI / 30.0).collect();
/// let g: Geometry = ParallelBeamGeometry::new(angles, 24, 1.0, 1).unwrap().into();
/// let truth = Volume::centered(ndarray::Array3::from_elem((1, 16, 16), 0.02), [1.0; 3]).unwrap();
/// let p = forward_project(&truth, &g).unwrap();
/// let opts = IterativeOptions { iterations: 20, ..Default::default() };
/// let r = sirt(&p, &g, [1, 16, 16], [1.0; 3], &opts, &NoProgress).unwrap();
/// assert!(r.residuals.last().unwrap() < &r.residuals[0]);
/// ```
pub fn sirt(
    projections: &Projections,
    geometry: &Geometry,
    shape: [usize; 3],
    spacing_mm: [f64; 3],
    options: &IterativeOptions,
    progress: &dyn Progress,
) -> Result<IterativeResult> {
    let op = prepare(projections, geometry, shape, spacing_mm, options)?;
    let (x, residuals) = sirt_operator(&op, projections.data().view(), options, progress)?;
    finish(x, &op, residuals)
}

/// The views of `geometry` with the given indices, as a vector geometry.
fn subset(geometry: &Geometry, views: &[usize]) -> Geometry {
    let all = geometry.view_vectors();
    let (rows, cols) = geometry.detector_shape();
    Geometry::Vector(VectorGeometry {
        beam: geometry.beam(),
        rows,
        cols,
        views: views.iter().map(|&i| all[i]).collect(),
    })
}

/// SART with ordered subsets (see the module docs).
///
/// **Errors** as [`sirt`].
pub fn sart(
    projections: &Projections,
    geometry: &Geometry,
    shape: [usize; 3],
    spacing_mm: [f64; 3],
    options: &IterativeOptions,
    progress: &dyn Progress,
) -> Result<IterativeResult> {
    let full = prepare(projections, geometry, shape, spacing_mm, options)?;
    let n_views = geometry.n_views();
    let n_sub = options.subsets.min(n_views);
    // Voxel weights per subset, x and the backprojection; the subsets' data and ray
    // weights (one projection stack each in all) and the residual.
    ensure_working_memory("SART working arrays", &full, n_sub as u128 + 3, 3)?;
    let origin = centered_origin(shape, spacing_mm);
    let mut parts = Vec::with_capacity(n_sub);
    for s in 0..n_sub {
        let idx: Vec<usize> = (s..n_views).step_by(n_sub).collect();
        let op = Projector::new(shape, spacing_mm, origin, &subset(geometry, &idx))?;
        let b = projections.data().select(ndarray::Axis(0), &idx);
        let (inv_rays, inv_voxels) = weights(&op, progress)?;
        parts.push((op, b, inv_rays, inv_voxels));
    }
    let mut x = Array3::zeros(shape);
    let mut residuals = Vec::new();
    progress.start("SART", options.iterations as u64);
    for _ in 0..options.iterations {
        check(progress)?;
        for (op, b, inv_rays, inv_voxels) in &parts {
            sirt_step(
                op,
                b.view(),
                &mut x,
                inv_rays,
                inv_voxels,
                options,
                progress,
            )?;
        }
        let mut ax = full.apply_new(x.view(), progress)?;
        Zip::from(&mut ax)
            .and(projections.data())
            .par_for_each(|a, &b| *a = b - *a);
        residuals.push(norm(ax.as_slice().expect("standard layout")));
        progress.advance(1);
        if stalled(&residuals, options.tolerance) {
            break;
        }
    }
    finish(x, &full, residuals)
}

/// CGLS on any linear operator (see the module docs).
///
/// **Errors** on shape mismatch, bad options, NaN or ±inf in `b` ([`Error::NonFinite`]),
/// working arrays that would not fit in memory ([`Error::TooLarge`]), or cancellation.
pub fn cgls_operator(
    op: &dyn LinearOperator,
    b: ArrayView3<f32>,
    options: &IterativeOptions,
    progress: &dyn Progress,
) -> Result<(Array3<f32>, Vec<f64>)> {
    options.validate()?;
    if b.dim() != op.range_shape().into() {
        return Err(Error::shape(
            "projections vs operator",
            op.range_shape(),
            b.dim(),
        ));
    }
    ensure_finite("projections", b.iter())?;
    // x, s and p; r and q.
    ensure_working_memory("CGLS working arrays", op, 3, 2)?;
    let mut x = Array3::<f32>::zeros(op.domain_shape());
    let mut r = b.to_owned();
    let mut s = op.apply_adjoint_new(r.view(), progress)?;
    let mut p = s.clone();
    let mut gamma = dot(s.as_slice().unwrap(), s.as_slice().unwrap());
    let mut residuals = Vec::new();
    progress.start("CGLS", options.iterations as u64);
    for _ in 0..options.iterations {
        check(progress)?;
        if gamma <= 0.0 {
            residuals.push(norm(r.as_slice().unwrap()));
            break;
        }
        let q = op.apply_new(p.view(), progress)?;
        let qq = dot(q.as_slice().unwrap(), q.as_slice().unwrap());
        if qq <= 0.0 {
            break;
        }
        let alpha = (gamma / qq) as f32;
        Zip::from(&mut x)
            .and(&p)
            .par_for_each(|x, &p| *x += alpha * p);
        Zip::from(&mut r)
            .and(&q)
            .par_for_each(|r, &q| *r -= alpha * q);
        residuals.push(norm(r.as_slice().unwrap()));
        progress.advance(1);
        if stalled(&residuals, options.tolerance) {
            break;
        }
        s = op.apply_adjoint_new(r.view(), progress)?;
        let gamma_new = dot(s.as_slice().unwrap(), s.as_slice().unwrap());
        let beta = (gamma_new / gamma) as f32;
        gamma = gamma_new;
        Zip::from(&mut p)
            .and(&s)
            .par_for_each(|p, &s| *p = s + beta * *p);
    }
    if options.nonnegative {
        x.par_mapv_inplace(|v| v.max(0.0));
    }
    Ok((x, residuals))
}

/// CGLS reconstruction (see the module docs).
///
/// **Errors** as [`sirt`].
pub fn cgls(
    projections: &Projections,
    geometry: &Geometry,
    shape: [usize; 3],
    spacing_mm: [f64; 3],
    options: &IterativeOptions,
    progress: &dyn Progress,
) -> Result<IterativeResult> {
    let op = prepare(projections, geometry, shape, spacing_mm, options)?;
    let (x, residuals) = cgls_operator(&op, projections.data().view(), options, progress)?;
    finish(x, &op, residuals)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::ParallelBeamGeometry;
    use crate::phantom::{analytic_projections, shepp_logan_2d};
    use crate::NoProgress;

    fn setup(views: usize, noise: f32) -> (Projections, Geometry, Array3<f32>) {
        let n = 48;
        let angles: Vec<f64> = (0..views)
            .map(|i| i as f64 * std::f64::consts::PI / views as f64)
            .collect();
        let g: Geometry = ParallelBeamGeometry::new(angles, 64, 1.0, 1)
            .unwrap()
            .into();
        let ph = shepp_logan_2d(n as f64 / 2.0);
        let truth = ph
            .voxelize([1, n, n], [1.0; 3], 70.0, 3)
            .unwrap()
            .into_data();
        let mut p = analytic_projections(&ph, &g, 70.0).unwrap();
        // deterministic pseudo-noise
        let mut state = 12345u64;
        p.data_mut().mapv_inplace(|v| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5;
            v + noise * u
        });
        (p, g, truth)
    }

    fn rmse(a: &Array3<f32>, b: &Array3<f32>) -> f64 {
        let s: f64 = a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum();
        (s / a.len() as f64).sqrt()
    }

    #[test]
    fn residuals_fall_monotonically() {
        let (p, g, _) = setup(30, 0.0);
        let opts = IterativeOptions {
            iterations: 15,
            nonnegative: false,
            ..Default::default()
        };
        for r in [
            sirt(&p, &g, [1, 48, 48], [1.0; 3], &opts, &NoProgress).unwrap(),
            cgls(&p, &g, [1, 48, 48], [1.0; 3], &opts, &NoProgress).unwrap(),
        ] {
            for w in r.residuals.windows(2) {
                assert!(w[1] <= w[0] * (1.0 + 1e-6), "{:?}", r.residuals);
            }
            assert!(r.residuals.last().unwrap() < &(0.5 * r.residuals[0]));
        }
    }

    #[test]
    fn iterative_beats_fbp_on_few_noisy_views() {
        let (p, g, truth) = setup(30, 0.2);
        let sino = p.data().index_axis(ndarray::Axis(1), 0).to_owned();
        let fbp = crate::recon::fbp(
            sino.view(),
            &g,
            (48, 48),
            (1.0, 1.0),
            crate::recon::Filter::RamLak,
        )
        .unwrap();
        let fbp = fbp.insert_axis(ndarray::Axis(0));
        let e_fbp = rmse(&fbp, &truth);
        let s = sirt(
            &p,
            &g,
            [1, 48, 48],
            [1.0; 3],
            &IterativeOptions {
                iterations: 40,
                ..Default::default()
            },
            &NoProgress,
        )
        .unwrap();
        let c = cgls(
            &p,
            &g,
            [1, 48, 48],
            [1.0; 3],
            &IterativeOptions {
                iterations: 8,
                ..Default::default()
            },
            &NoProgress,
        )
        .unwrap();
        let o = sart(
            &p,
            &g,
            [1, 48, 48],
            [1.0; 3],
            &IterativeOptions {
                iterations: 5,
                subsets: 5,
                ..Default::default()
            },
            &NoProgress,
        )
        .unwrap();
        let (e_s, e_c, e_o) = (
            rmse(s.volume.data(), &truth),
            rmse(c.volume.data(), &truth),
            rmse(o.volume.data(), &truth),
        );
        assert!(
            e_s < e_fbp && e_c < e_fbp && e_o < e_fbp,
            "FBP {e_fbp}, SIRT {e_s}, CGLS {e_c}, SART {e_o}"
        );
    }

    #[test]
    fn same_result_on_one_and_two_threads() {
        let (p, g, _) = setup(20, 0.1);
        let opts = IterativeOptions {
            iterations: 5,
            ..Default::default()
        };
        let run = |n| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .unwrap()
                .install(|| {
                    (
                        sirt(&p, &g, [1, 48, 48], [1.0; 3], &opts, &NoProgress)
                            .unwrap()
                            .volume,
                        cgls(&p, &g, [1, 48, 48], [1.0; 3], &opts, &NoProgress)
                            .unwrap()
                            .volume,
                    )
                })
        };
        assert_eq!(run(1), run(2));
    }

    #[test]
    fn bad_input_is_named() {
        let (mut p, g, _) = setup(10, 0.0);
        let e = sirt(
            &p,
            &g,
            [1, 48, 48],
            [1.0; 3],
            &IterativeOptions {
                iterations: 0,
                ..Default::default()
            },
            &NoProgress,
        )
        .unwrap_err();
        assert!(e.to_string().contains("iterations"));
        p.data_mut()[[0, 0, 0]] = f32::NAN;
        let e = cgls(
            &p,
            &g,
            [1, 48, 48],
            [1.0; 3],
            &IterativeOptions::default(),
            &NoProgress,
        )
        .unwrap_err();
        assert!(matches!(e, Error::NonFinite { count: 1, .. }));
    }
}
