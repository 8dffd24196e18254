//! 2D filtered backprojection for parallel- and fan-beam sinograms.
//!
//! Parallel beam: each view is ramp filtered ([`crate::recon::filter`]) with the
//! detector pitch, weighted by its angular step `Δθ` and backprojected along
//! `s = x cos θ + y sin θ` (the detector coordinate of pixel `(x, y)`, minus the column
//! offset) with linear interpolation. Fan beam (flat detector): the one-row case of
//! [`crate::recon::fdk()`]: cosine pre-weighting, ramp filter at the isocentre pitch,
//! `1/U²` distance weighting in the backprojection, Parker weights for short scans.
//!
//! Rows of the output are backprojected in parallel, each summing the views in their
//! fixed order, so the result does not depend on the thread count.

use ndarray::{s, Array2, ArrayView2, Axis};
use rayon::prelude::*;

use super::fdk::{check_grid, check_projections, clip_range, fdk_core, Circular, FdkOptions};
use super::filter::{Filter, RampFilter};
use super::parallel_weights;
use crate::geometry::{Geometry, ParallelBeamGeometry};
use crate::progress::NoProgress;
use crate::{Error, Result};

/// Zero samples on each side of a stored filtered row.
const PAD: usize = 2;

/// Filtered backprojection of a 2D sinogram `(views, cols)` onto an image of `shape`
/// `(ny, nx)` pixels of `spacing_mm` `(dy, dx)` mm centred on the isocentre. Returns μ
/// in mm⁻¹ with axes `(y, x)`.
///
/// `geometry` is a parallel beam with one detector row (angles covering 180°, any
/// spacing and order) or a fan beam (a full 360° scan, or a short scan of at least 180°
/// plus the fan angle, which gets Parker weights). A one-row cone beam is treated as a
/// fan beam.
///
/// **Errors** if the sinogram shape differs from the geometry's `(views, cols)`, the
/// geometry has more than one detector row or is a vector geometry, the sinogram holds
/// NaN/inf values (the count is named), the grid is empty or its spacing not positive,
/// or the angles do not cover the required range.
///
/// # Example
/// ```
/// use ctscreen::geometry::{Geometry, ParallelBeamGeometry};
/// use ctscreen::recon::{fbp, Filter};
/// let n = 180;
/// let angles: Vec<f64> = (0..n).map(|i| i as f64 * std::f64::consts::PI / n as f64).collect();
/// let g: Geometry = ParallelBeamGeometry::new(angles, 101, 1.0, 1).unwrap().into();
/// // A disc of radius 30 mm and μ = 0.02 mm⁻¹: chord lengths 2 √(r² − s²) μ.
/// let sino = ndarray::Array2::from_shape_fn((n, 101), |(_, c)| {
///     let s = c as f32 - 50.0;
///     0.02 * 2.0 * (900.0 - s * s).max(0.0).sqrt()
/// });
/// let img = fbp(sino.view(), &g, (64, 64), (1.0, 1.0), Filter::RamLak).unwrap();
/// assert!((img[[32, 32]] - 0.02).abs() < 0.001);
/// ```
pub fn fbp(
    sinogram: ArrayView2<'_, f32>,
    geometry: &Geometry,
    shape: (usize, usize),
    spacing_mm: (f64, f64),
    filter: Filter,
) -> Result<Array2<f32>> {
    geometry.validate()?;
    let (rows, _) = geometry.detector_shape();
    if rows != 1 {
        return Err(Error::invalid(
            "detector rows",
            rows,
            "1 for a 2D sinogram (use fdk for cone beams)",
        ));
    }
    check_grid(
        &[shape.0, shape.1],
        &[spacing_mm.0, spacing_mm.1],
        "FBP image",
    )?;
    let data3 = sinogram.insert_axis(Axis(1));
    check_projections(&data3, geometry)?;
    match geometry {
        Geometry::Parallel(g) => fbp_parallel(sinogram, g, shape, spacing_mm, filter),
        _ => {
            let circ = Circular::of(geometry)?;
            let options = FdkOptions {
                filter,
                ..FdkOptions::default()
            };
            let out = fdk_core(
                data3,
                &circ,
                [1, shape.0, shape.1],
                [1.0, spacing_mm.0, spacing_mm.1],
                &options,
                &NoProgress,
            )?;
            Ok(out.index_axis_move(Axis(0), 0))
        }
    }
}

fn fbp_parallel(
    sinogram: ArrayView2<'_, f32>,
    g: &ParallelBeamGeometry,
    (ny, nx): (usize, usize),
    (dy, dx): (f64, f64),
    filter: Filter,
) -> Result<Array2<f32>> {
    let (n_views, cols) = sinogram.dim();
    let steps = parallel_weights(&g.angles_rad)?;
    let du = g.detector.col_spacing_mm;
    let ramp = RampFilter::new(filter, cols, du)?;
    let mut filtered = Array2::<f32>::zeros((n_views, cols + 2 * PAD));
    filtered
        .axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each_init(
            || (ramp.scratch(), vec![0.0f32; cols]),
            |(scratch, line), (v, mut row)| {
                for (l, p) in line.iter_mut().zip(sinogram.row(v)) {
                    *l = *p;
                }
                ramp.filter_line(line, scratch);
                let w = steps[v] as f32;
                for (o, l) in row
                    .slice_mut(s![PAD..PAD + cols])
                    .iter_mut()
                    .zip(line.iter())
                {
                    *o = l * w;
                }
            },
        );
    let trig: Vec<(f64, f64)> = g.angles_rad.iter().map(|a| a.sin_cos()).collect();
    let x0 = -(nx as f64 - 1.0) / 2.0 * dx;
    let y0 = -(ny as f64 - 1.0) / 2.0 * dy;
    let centre = (cols as f64 - 1.0) / 2.0 + PAD as f64;
    let off = g.detector.col_offset_mm;
    let lerp = lerp_kernel();
    let mut out = Array2::<f32>::zeros((ny, nx));
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(j, mut row)| {
            let y = y0 + j as f64 * dy;
            let acc = row
                .as_slice_mut()
                .expect("a fresh standard-layout array has contiguous rows");
            for (v, &(sin, cos)) in trig.iter().enumerate() {
                let line = filtered
                    .row(v)
                    .to_slice()
                    .expect("a fresh standard-layout array has contiguous rows");
                // Detector index of pixel i: ((x0 + i dx) cos + y sin − off) / du + centre.
                let a = ((x0 * cos + y * sin) - off) / du + centre;
                let slope = dx * cos / du;
                let (k0, k1) = clip_range(a, slope, 1.0, (cols + PAD) as f64, nx);
                if k0 < k1 {
                    lerp(
                        &mut acc[k0..k1],
                        line,
                        (a + k0 as f64 * slope) as f32,
                        slope as f32,
                    );
                }
            }
        });
    Ok(out)
}

/// The 1D interpolate-and-accumulate kernel for this CPU.
fn lerp_kernel() -> fn(&mut [f32], &[f32], f32, f32) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return |acc, line, a, s| {
                // SAFETY: chosen only when the CPU reports AVX2 and FMA.
                unsafe { super::fdk::lerp_accumulate_avx2(acc, line, a, s) }
            };
        }
    }
    super::fdk::lerp_accumulate_scalar
}
