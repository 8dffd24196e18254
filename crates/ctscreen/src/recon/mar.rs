//! Metal artifact reduction (MAR) for FDK reconstructions.
//!
//! Dense metal (steel, brass) in a parcel makes its projections inconsistent (beam
//! hardening, scatter, photon starvation), and FDK spreads the inconsistency as dark and
//! bright streaks across the whole slice. Both methods here treat the detector samples
//! whose rays cross metal as missing and fill them in from their neighbours:
//!
//! 1. FDK of the measured projections;
//! 2. metal mask: voxels with μ above [`MarOptions::metal_threshold`] (default
//!    0.08 mm⁻¹ ≈ 3000 HU at 70 keV: steel and brass, not aluminium or glass), dilated
//!    by [`MarOptions::mask_dilation`] voxels to take in the partial-volume rim;
//! 3. metal trace: the mask is forward projected with the Joseph projector
//!    ([`crate::project::Projector`]); detector samples whose ray crosses more than
//!    1 % of a voxel of metal are "traced";
//! 4. **linear interpolation** ([`MarMethod::Linear`]): along each detector row, every
//!    run of traced samples is replaced by the straight line between the nearest
//!    untraced neighbours (constant continuation at the row ends);
//!    **normalised MAR** ([`MarMethod::Normalized`], Meyer et al., *Med. Phys.* 37, 2010):
//!    a prior image is made by classifying the linear-interpolation result into air (μ <
//!    ½ μw → 0), soft tissue / water (μ < 1½ μw → μw; metal voxels too) and denser
//!    non-metal material (kept); the projections are divided by the prior's forward
//!    projection (floored at the line integral of 10 mm of water), interpolated as
//!    above, and multiplied back (on the traced samples only). Interpolating the
//!    normalised data follows the structure of the objects next to the metal far better
//!    than a straight line does;
//! 5. FDK of the corrected projections, and the metal objects are pasted back from the
//!    first reconstruction: the voxels of step 2 (undilated) and those above half the
//!    threshold connected to them (6-neighbourhood hysteresis). A thin plate or blade
//!    lying in the slice plane reads dim along its middle, where the rays run along
//!    it through many centimetres of metal and beam hardening takes most of their
//!    line integral; the metal-free data of those voxels would read as water or air,
//!    holes inside the object. FDK being linear, the corrected reconstruction is
//!    computed as the first plus the FDK of the correction, which is zero outside the
//!    traces: detector rows the metal does not shadow cost nothing.
//!
//! Untraced detector samples are never changed, and voxels outside the metal objects see
//! the corrected data. Streak reduction is measured in the tests as *streak energy*: the
//! RMS difference, over non-metal voxels in a ring around the metal, between a
//! reconstruction and the reconstruction of the same scan without the metal objects.

use ndarray::{Array3, ArrayView3, Axis, Zip};
use rayon::prelude::*;

use super::fdk::{check_grid, check_projections, fdk_core, Circular, FdkOptions};
use crate::geometry::Geometry;
use crate::progress::{check, CancelOnly, Progress};
use crate::project::{LinearOperator, Projector};
use crate::segment::{binary_dilation, cube, hysteresis, Connectivity};
use crate::{Error, Projections, Result, Volume};

/// How traced detector samples are filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MarMethod {
    /// Linear interpolation along detector rows (LI-MAR).
    Linear,
    /// Normalised MAR (NMAR, Meyer et al. 2010): interpolation of the projections
    /// normalised by a prior image's projections.
    #[default]
    Normalized,
}

impl std::str::FromStr for MarMethod {
    type Err = Error;

    /// `"li"` / `"linear"` or `"nmar"` / `"normalized"`, case-insensitively.
    ///
    /// **Errors** with [`Error::InvalidParameter`] otherwise.
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "li" | "linear" | "li-mar" => Ok(MarMethod::Linear),
            "nmar" | "normalized" | "normalised" => Ok(MarMethod::Normalized),
            _ => Err(Error::invalid(
                "method",
                format!("{s:?}"),
                "\"li\" (linear interpolation) or \"nmar\" (normalised)",
            )),
        }
    }
}

/// Options of [`mar`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MarOptions {
    /// Linear interpolation or NMAR (default NMAR).
    pub method: MarMethod,
    /// Voxels above this μ (mm⁻¹) are metal. Default 0.08 mm⁻¹ (≈ 3000 HU at 70 keV).
    pub metal_threshold: f32,
    /// μ of water (mm⁻¹) for the NMAR prior. Default 0.0193 (≈ 70 keV).
    pub water_mu: f32,
    /// Dilation of the metal mask before tracing, voxels (26-neighbourhood steps).
    /// Default 1.
    pub mask_dilation: usize,
    /// Options of the two FDK reconstructions.
    pub fdk: FdkOptions,
}

impl Default for MarOptions {
    fn default() -> Self {
        Self {
            method: MarMethod::Normalized,
            metal_threshold: 0.08,
            water_mu: 0.0193,
            mask_dilation: 1,
            fdk: FdkOptions::default(),
        }
    }
}

/// Metal-artifact-reduced FDK reconstruction of circular cone- or fan-beam projections
/// onto a grid of `shape` `[nz, ny, nx]` voxels of `spacing_mm` `[dz, dy, dx]` mm centred
/// on the isocentre (see the module docs for the method). Returns μ in mm⁻¹; without
/// metal above the threshold it returns the plain FDK reconstruction.
///
/// Progress: stage `"mar"`, 4 units (FDK, trace, correction, FDK; 5 with NMAR's prior);
/// cancellation is checked between and inside the steps.
///
/// **Errors** as [`crate::recon::fdk()`], and for a threshold or water μ that is not finite
/// and positive.
///
/// # Example
/// ```
/// use ctscreen::geometry::{ConeBeamGeometry, Geometry};
/// use ctscreen::recon::mar::{mar, MarOptions};
/// use ctscreen::{NoProgress, Projections};
/// let angles: Vec<f64> = (0..60).map(|i| (6.0 * i as f64).to_radians()).collect();
/// let g: Geometry = ConeBeamGeometry::new(angles, 300.0, 600.0, (4, 48), (1.0, 1.0), (0.0, 0.0))
///     .unwrap()
///     .into();
/// let p = Projections::new(ndarray::Array3::zeros((60, 4, 48))).unwrap();
/// let v = mar(&p, &g, [2, 16, 16], [1.0; 3], &MarOptions::default(), &NoProgress).unwrap();
/// assert_eq!(v.shape(), [2, 16, 16]);
/// ```
pub fn mar(
    projections: &Projections,
    geometry: &Geometry,
    shape: [usize; 3],
    spacing_mm: [f64; 3],
    options: &MarOptions,
    progress: &dyn Progress,
) -> Result<Volume> {
    mar_view(
        projections.data().view(),
        geometry,
        shape,
        spacing_mm,
        options,
        progress,
    )
}

/// [`mar`] on a borrowed array of line integrals `(views, rows, cols)` in any memory
/// layout (a NumPy array read in place, for instance): no copy is made beyond the
/// corrected projections MAR works on.
///
/// **Errors** as [`mar`], and for projections that are not finite or whose shape does
/// not match the geometry.
pub fn mar_view(
    projections: ArrayView3<'_, f32>,
    geometry: &Geometry,
    shape: [usize; 3],
    spacing_mm: [f64; 3],
    options: &MarOptions,
    progress: &dyn Progress,
) -> Result<Volume> {
    mar_impl(
        projections,
        geometry,
        shape,
        spacing_mm,
        options,
        None,
        progress,
    )
}

/// [`mar`] for a caller that already holds `first`, the plain FDK reconstruction of
/// the same projections on the same grid with `options.fdk` (the scanner): the first
/// step is not computed again, and the `"mar"` stage has one unit fewer.
pub(crate) fn mar_with_first(
    projections: &Projections,
    geometry: &Geometry,
    spacing_mm: [f64; 3],
    options: &MarOptions,
    first: Array3<f32>,
    progress: &dyn Progress,
) -> Result<Volume> {
    let shape = first.dim().into();
    mar_impl(
        projections.data().view(),
        geometry,
        shape,
        spacing_mm,
        options,
        Some(first),
        progress,
    )
}

fn mar_impl(
    data: ArrayView3<'_, f32>,
    geometry: &Geometry,
    shape: [usize; 3],
    spacing_mm: [f64; 3],
    options: &MarOptions,
    first: Option<Array3<f32>>,
    progress: &dyn Progress,
) -> Result<Volume> {
    for (name, v) in [
        ("metal_threshold", options.metal_threshold),
        ("water_mu", options.water_mu),
    ] {
        if !(v.is_finite() && v > 0.0) {
            return Err(Error::invalid(name, v, "a finite μ > 0 mm⁻¹"));
        }
    }
    let circ = Circular::of(geometry)?;
    check_projections(&data, geometry)?;
    check_grid(&shape, &spacing_mm, "MAR volume")?;
    // Projection-sized buffers: trace, traced flags, corrected copy, prior projections.
    crate::volume::ensure_allocatable("MAR projection buffers", data.len() as u128 * 4, 4)?;
    let quiet = CancelOnly(progress);
    // Trace, correction, final FDK; NMAR's prior; the first FDK unless given.
    let steps = 3 + u64::from(options.method == MarMethod::Normalized) + u64::from(first.is_none());
    progress.start("mar", steps);

    let (first, done) = match first {
        Some(first) => (first, 0),
        None => {
            let first = fdk_core(data, &circ, shape, spacing_mm, &options.fdk, &quiet)?;
            progress.advance(1);
            (first, 1)
        }
    };
    let metal = first.mapv(|v| v > options.metal_threshold);
    if !metal.iter().any(|&m| m) {
        progress.advance(steps - done);
        return Volume::centered(first, spacing_mm);
    }

    check(progress)?;
    let op = Projector::centered(shape, spacing_mm, geometry)?;
    let dilated = dilate(&metal, options.mask_dilation)?;
    let trace = op.apply_new(
        dilated.mapv(|m| if m { 1.0f32 } else { 0.0 }).view(),
        &quiet,
    )?;
    let min_spacing = spacing_mm.iter().copied().fold(f64::INFINITY, f64::min) as f32;
    let traced = trace.mapv(|t| t > 0.01 * min_spacing);
    progress.advance(1);

    check(progress)?;
    let mut corrected = data.to_owned();
    interpolate_traces(&mut corrected, &traced);
    progress.advance(1);

    // FDK is linear and the correction is zero outside the traces, so each
    // reconstruction of corrected data is the first one plus the FDK of the correction:
    // detector rows without a traced sample are skipped (see `fdk_core`).
    let reconstruct_corrected = |mut change: Array3<f32>| -> Result<Array3<f32>> {
        Zip::from(&mut change)
            .and(&data)
            .par_for_each(|c, &d| *c -= d);
        let mut out = fdk_core(
            change.view(),
            &circ,
            shape,
            spacing_mm,
            &options.fdk,
            &quiet,
        )?;
        Zip::from(&mut out)
            .and(&first)
            .par_for_each(|o, &f| *o += f);
        Ok(out)
    };
    if options.method == MarMethod::Normalized {
        check(progress)?;
        let li = reconstruct_corrected(corrected)?;
        let prior = prior_image(&li, &dilated, options.water_mu);
        let prior_proj = op.apply_new(prior.view(), &quiet)?;
        progress.advance(1);
        let floor = NMAR_FLOOR_WATER_MM * options.water_mu;
        corrected = normalized_interpolation(data, &prior_proj, &traced, floor);
    }

    check(progress)?;
    let mut out = reconstruct_corrected(corrected)?;
    // The metal objects: the metal voxels and the dim voxels of the same objects.
    let objects = hysteresis(
        first.view(),
        0.5 * options.metal_threshold,
        options.metal_threshold,
        Connectivity::Six,
    )?;
    Zip::from(&mut out)
        .and(&first)
        .and(&objects)
        .par_for_each(|o, &f, &m| {
            if m {
                *o = f;
            }
        });
    progress.advance(1);
    Volume::centered(out, spacing_mm)
}

/// The NMAR prior: air → 0, soft tissue (and metal) → μw, denser material kept.
fn prior_image(li: &Array3<f32>, metal: &Array3<bool>, water_mu: f32) -> Array3<f32> {
    let mut prior = li.clone();
    Zip::from(&mut prior).and(metal).par_for_each(|p, &m| {
        *p = if m || (*p >= 0.5 * water_mu && *p < 1.5 * water_mu) {
            water_mu
        } else if *p < 0.5 * water_mu {
            0.0
        } else {
            *p
        };
    });
    prior
}

/// The prior's projections are floored at the line integral of this many mm of water
/// before dividing by them. Rays that graze the parcel or pass through air have prior
/// projections near 0 while their measured values are noise: divided by a tiny number,
/// that noise became a huge normalised value, and interpolated into a trace through
/// the parcel it came back multiplied by a large prior projection (the reconstruction
/// was then dominated by streaks of several mm⁻¹). With the floor, air and grazing rays
/// are normalised by the projection of a few mm of water, and the normalisation only
/// shapes the interpolation where the prior sees real material.
const NMAR_FLOOR_WATER_MM: f32 = 10.0;

/// Divides by the prior's projections (at least `floor`), interpolates the traces,
/// multiplies back.
fn normalized_interpolation(
    data: ArrayView3<'_, f32>,
    prior: &Array3<f32>,
    traced: &Array3<bool>,
    floor: f32,
) -> Array3<f32> {
    let mut norm = data.to_owned();
    Zip::from(&mut norm)
        .and(prior)
        .par_for_each(|n, &p| *n /= p.max(floor));
    interpolate_traces(&mut norm, traced);
    // Untraced samples are the data as measured, not divided and multiplied back.
    Zip::from(&mut norm)
        .and(prior)
        .and(traced)
        .and(&data)
        .par_for_each(|n, &p, &t, &d| *n = if t { *n * p.max(floor) } else { d });
    norm
}

/// Replaces every run of traced samples along each detector row by linear interpolation
/// between its untraced neighbours (constant at the row ends; rows traced end to end
/// are left as they are).
pub(crate) fn interpolate_traces(data: &mut Array3<f32>, traced: &Array3<bool>) {
    data.axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(traced.axis_iter(Axis(0)).into_par_iter())
        .for_each(|(mut view, mask)| {
            for (mut row, m) in view.rows_mut().into_iter().zip(mask.rows()) {
                let n = row.len();
                let mut c = 0;
                while c < n {
                    if !m[c] {
                        c += 1;
                        continue;
                    }
                    let start = c;
                    while c < n && m[c] {
                        c += 1;
                    }
                    let left = start.checked_sub(1).map(|l| row[l]);
                    let right = (c < n).then(|| row[c]);
                    match (left, right) {
                        (Some(a), Some(b)) => {
                            let span = (c - start + 1) as f32;
                            for (t, k) in (start..c).enumerate() {
                                let w = (t + 1) as f32 / span;
                                row[k] = a + w * (b - a);
                            }
                        }
                        (Some(a), None) | (None, Some(a)) => {
                            for k in start..c {
                                row[k] = a;
                            }
                        }
                        (None, None) => {}
                    }
                }
            }
        });
}

/// Dilation of a mask by `steps` 26-neighbourhood steps: by a (2 steps + 1)³ cube,
/// outside the volume counting as empty.
///
/// **Errors** for a `steps` whose cube side overflows, or a mask too large to copy.
fn dilate(mask: &Array3<bool>, steps: usize) -> Result<Array3<bool>> {
    let side = steps
        .checked_mul(2)
        .and_then(|w| w.checked_add(1))
        .ok_or_else(|| {
            Error::invalid(
                "mask_dilation",
                steps,
                "a dilation in voxels that fits the volume",
            )
        })?;
    binary_dilation(mask.view(), cube(side)?.view())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces_are_interpolated_linearly() {
        let mut d = Array3::from_shape_vec(
            (1, 2, 8),
            vec![
                1.0, 2.0, 9.0, 9.0, 9.0, 6.0, 7.0, 8.0, //
                9.0, 9.0, 3.0, 4.0, 5.0, 6.0, 9.0, 9.0,
            ],
        )
        .unwrap();
        let m = Array3::from_shape_fn((1, 2, 8), |(_, r, c)| {
            if r == 0 {
                (2..5).contains(&c)
            } else {
                !(2..=5).contains(&c)
            }
        });
        interpolate_traces(&mut d, &m);
        let row0: Vec<f32> = d.slice(ndarray::s![0, 0, ..]).to_vec();
        assert_eq!(row0, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
        let row1: Vec<f32> = d.slice(ndarray::s![0, 1, ..]).to_vec();
        assert_eq!(row1, vec![3.0, 3.0, 3.0, 4.0, 5.0, 6.0, 6.0, 6.0]);
    }

    #[test]
    fn dilation_grows_by_one_voxel() {
        let mut m = Array3::from_elem((5, 5, 5), false);
        m[[2, 2, 2]] = true;
        let d = dilate(&m, 1).unwrap();
        assert_eq!(d.iter().filter(|&&v| v).count(), 27);
        assert!(d[[1, 1, 1]] && !d[[0, 2, 2]]);
        assert_eq!(dilate(&m, 0).unwrap(), m);
    }

    #[test]
    fn method_names() {
        assert_eq!("NMAR".parse::<MarMethod>().unwrap(), MarMethod::Normalized);
        assert_eq!("li".parse::<MarMethod>().unwrap(), MarMethod::Linear);
        assert!("x".parse::<MarMethod>().is_err());
    }
}
