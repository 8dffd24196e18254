//! Forward projection and backprojection for every geometry.
//!
//! * [`forward_project`]: Joseph's ray-driven projector. For each detector pixel the ray
//!   of [`geometry::ray`] is followed through the voxel grid along its *dominant axis*
//!   (the array axis along which it advances fastest in voxel units); at every voxel
//!   plane of that axis the volume is interpolated bilinearly in the plane (voxels
//!   outside the grid count as 0), and the samples are summed times the ray length
//!   between two planes (`spacing / |direction component|`, mm). The result is a line
//!   integral: a volume of μ (mm⁻¹) gives −ln(I/I0) (dimensionless).
//! * [`Projector`]: the same projector as a [`LinearOperator`] `A` on a fixed voxel grid,
//!   with its exact adjoint `Aᵀ` (the transpose of the very same weights), for iterative
//!   reconstruction.
//! * [`backproject`]: the plain voxel-driven backprojector (see its docs for exactly what
//!   it sums); it is *not* the adjoint of the Joseph projector.
//!
//! The volume is placed in the world by its origin and spacing
//! ([`Volume::world_of_index`]); volumes must be axis-aligned (identity direction).
//! Rays of cone and fan beams start at the source (nothing behind the source is
//! integrated); parallel rays are whole lines.
//!
//! Every routine is `rayon`-parallel and deterministic: each output value is computed by
//! one task, in a fixed order, so results are bit-identical whatever the thread count.
//! The forward projector gives each task a detector row of one view, and on CPUs with
//! AVX2 traces the row's rays eight at a time where they share a dominant axis (in
//! vector registers, one sum per ray in the same order as alone, so the numbers do not
//! change). The adjoint splits
//! the volume into slabs along z (along y for a single-slice volume), one task each; a
//! task visits every ray that can reach its slab (detector pixels culled by projecting
//! the slab's corners, each ray's plane range clipped to the slab) in the fixed order
//! view, row, column, plane, and scatters only the taps that fall inside its slab. Each
//! voxel therefore sums its contributions in the same order for any slab size, and the
//! weights are the very numbers the forward projector uses. Rays that share a dominant
//! axis are scattered eight at a time, lane after lane within a plane: a voxel gets at
//! most one tap of a ray, so its terms still come ray after ray. The voxel-driven
//! backprojector gives each task a row of voxels and sums over views in order.

use ndarray::{Array3, ArrayView3, ArrayViewMut3};
use rayon::prelude::*;

use crate::geometry::{self, add, cross, dot, norm, scale, sub, Beam, Geometry, ViewVectors};
use crate::progress::{self, NoProgress, Progress};
use crate::volume::{centered_origin, ensure_allocatable, ensure_finite};
use crate::{Error, Projections, Result, Volume};

mod lanes;
use lanes::{lane_kernels, RayLanes, LANES};

/// A linear map between a volume `x` (`domain_shape`, `(z, y, x)`) and projections `y`
/// (`range_shape`, `(views, rows, cols)`), with its adjoint. Iterative reconstructions
/// (SIRT, SART, CGLS) are written once against this trait.
///
/// Implementations guarantee `⟨A x, y⟩ = ⟨x, Aᵀ y⟩` up to floating-point rounding, and
/// results that do not depend on the number of threads.
pub trait LinearOperator: Sync {
    /// Shape of the input of [`LinearOperator::apply`] (a volume, `(nz, ny, nx)`).
    fn domain_shape(&self) -> [usize; 3];

    /// Shape of the output of [`LinearOperator::apply`] (projections, `(views, rows, cols)`).
    fn range_shape(&self) -> [usize; 3];

    /// `y = A x`: overwrites `y` (any previous content is discarded).
    ///
    /// **Errors** with [`Error::ShapeMismatch`] if `x` or `y` has the wrong shape,
    /// [`Error::NonFinite`] if `x` holds NaN or infinity, [`Error::Cancelled`] if
    /// `progress` asks to stop (then `y` is partly written).
    fn apply(
        &self,
        x: ArrayView3<'_, f32>,
        y: ArrayViewMut3<'_, f32>,
        progress: &dyn Progress,
    ) -> Result<()>;

    /// `x = Aᵀ y`: overwrites `x`.
    ///
    /// **Errors** as [`LinearOperator::apply`], with the roles of `x` and `y` swapped.
    fn apply_adjoint(
        &self,
        y: ArrayView3<'_, f32>,
        x: ArrayViewMut3<'_, f32>,
        progress: &dyn Progress,
    ) -> Result<()>;

    /// `A x` in a new array of [`LinearOperator::range_shape`].
    ///
    /// **Errors** as [`LinearOperator::apply`], and [`Error::TooLarge`] if the output
    /// would not fit in memory.
    fn apply_new(&self, x: ArrayView3<'_, f32>, progress: &dyn Progress) -> Result<Array3<f32>> {
        let shape = self.range_shape();
        ensure_allocatable("projections", count(shape), 4)?;
        let mut y = Array3::zeros(shape);
        self.apply(x, y.view_mut(), progress)?;
        Ok(y)
    }

    /// `Aᵀ y` in a new array of [`LinearOperator::domain_shape`].
    ///
    /// **Errors** as [`LinearOperator::apply_adjoint`], and [`Error::TooLarge`].
    fn apply_adjoint_new(
        &self,
        y: ArrayView3<'_, f32>,
        progress: &dyn Progress,
    ) -> Result<Array3<f32>> {
        let shape = self.domain_shape();
        ensure_allocatable("volume", count(shape), 4)?;
        let mut x = Array3::zeros(shape);
        self.apply_adjoint(y, x.view_mut(), progress)?;
        Ok(x)
    }
}

fn count(shape: [usize; 3]) -> u128 {
    crate::volume::element_count(&shape)
}

/// Joseph's projector between a voxel grid and a [`Geometry`]'s detector: a
/// [`LinearOperator`] with an exact adjoint.
///
/// The grid has `shape` `(nz, ny, nx)` voxels of `spacing_mm` `(dz, dy, dx)`, voxel
/// `[0, 0, 0]` centred at world `origin_mm` `(z, y, x)`.
///
/// # Example
/// ```
/// use ctscreen::geometry::{Geometry, ParallelBeamGeometry};
/// use ctscreen::project::{LinearOperator, Projector};
/// use ctscreen::NoProgress;
/// let angles: Vec<f64> = (0..90).map(|i| (2 * i) as f64 * std::f64::consts::PI / 180.0).collect();
/// let g: Geometry = ParallelBeamGeometry::new(angles, 64, 1.0, 1).unwrap().into();
/// let a = Projector::centered([1, 48, 48], [1.0, 1.0, 1.0], &g).unwrap();
/// let x = ndarray::Array3::<f32>::ones((1, 48, 48));
/// let y = a.apply_new(x.view(), &NoProgress).unwrap();
/// assert_eq!(y.shape(), &[90, 1, 64]);
/// // the central ray crosses 48 voxels of 1 mm
/// assert!((y[[0, 0, 32]] - 48.0).abs() < 1e-3);
/// ```
#[derive(Debug, Clone)]
pub struct Projector {
    shape: [usize; 3],
    spacing_mm: [f64; 3],
    origin_mm: [f64; 3],
    geometry: Geometry,
    views: Vec<ViewVectors>,
    maps: Vec<DetectorMap>,
}

impl Projector {
    /// The projector for a grid of `shape` voxels of `spacing_mm`, voxel `[0, 0, 0]` at
    /// `origin_mm`, and `geometry`.
    ///
    /// **Errors** if the shape has a zero dimension, a spacing is not finite and
    /// positive, the origin is not finite, the geometry is invalid, or a view is
    /// degenerate (parallel rays lying in the detector plane, a source in the detector
    /// plane).
    pub fn new(
        shape: [usize; 3],
        spacing_mm: [f64; 3],
        origin_mm: [f64; 3],
        geometry: &Geometry,
    ) -> Result<Self> {
        if shape.contains(&0) {
            return Err(Error::invalid(
                "volume shape",
                format!("{shape:?}"),
                "(nz, ny, nx) all ≥ 1",
            ));
        }
        if shape.iter().any(|&n| n > (1usize << 31)) {
            return Err(Error::invalid(
                "volume shape",
                format!("{shape:?}"),
                "dimensions below 2^31",
            ));
        }
        if spacing_mm.iter().any(|s| !s.is_finite() || *s <= 0.0) {
            return Err(Error::invalid(
                "spacing",
                format!("{spacing_mm:?}"),
                "three finite spacings > 0 mm",
            ));
        }
        if origin_mm.iter().any(|o| !o.is_finite()) {
            return Err(Error::invalid(
                "origin",
                format!("{origin_mm:?}"),
                "three finite coordinates in mm",
            ));
        }
        geometry.validate()?;
        let views = geometry.view_vectors();
        let beam = geometry.beam();
        let maps = views
            .iter()
            .enumerate()
            .map(|(i, v)| DetectorMap::new(beam, v, i))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            shape,
            spacing_mm,
            origin_mm,
            geometry: geometry.clone(),
            views,
            maps,
        })
    }

    /// The projector for a grid centred on the isocentre
    /// (origin [`centered_origin`]`(shape, spacing_mm)`).
    ///
    /// **Errors** as [`Projector::new`].
    pub fn centered(shape: [usize; 3], spacing_mm: [f64; 3], geometry: &Geometry) -> Result<Self> {
        Self::new(
            shape,
            spacing_mm,
            centered_origin(shape, spacing_mm),
            geometry,
        )
    }

    /// The projector for `volume`'s grid (shape, spacing and origin).
    ///
    /// **Errors** as [`Projector::new`], and if the volume's direction is not the identity.
    pub fn for_volume(volume: &Volume, geometry: &Geometry) -> Result<Self> {
        check_axis_aligned(volume)?;
        Self::new(volume.shape(), volume.spacing(), volume.origin(), geometry)
    }

    /// The geometry.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }
    /// Grid shape `(nz, ny, nx)`.
    pub fn shape(&self) -> [usize; 3] {
        self.shape
    }
    /// Voxel size `(dz, dy, dx)` mm.
    pub fn spacing(&self) -> [f64; 3] {
        self.spacing_mm
    }
    /// World position `(z, y, x)` mm of voxel `[0, 0, 0]`.
    pub fn origin(&self) -> [f64; 3] {
        self.origin_mm
    }

    fn grid(&self) -> Grid {
        Grid::new(self.shape, self.spacing_mm, self.origin_mm)
    }

    /// Voxel-driven backprojection of `projections` onto this projector's grid (see
    /// [`backproject`] for what is computed).
    ///
    /// **Errors** with [`Error::ShapeMismatch`] if the projections do not have the
    /// geometry's shape, [`Error::NonFinite`] on NaN or infinity, [`Error::TooLarge`] if
    /// the volume would not fit in memory, [`Error::Cancelled`].
    pub fn backproject_voxel_driven(
        &self,
        projections: ArrayView3<'_, f32>,
        progress: &dyn Progress,
    ) -> Result<Array3<f32>> {
        check_shape("projections", self.range_shape(), projections.shape())?;
        ensure_finite("projections", projections.iter())?;
        ensure_allocatable("volume", count(self.shape), 4)?;
        let p = projections.as_standard_layout();
        let p = p.as_slice().expect("standard layout is contiguous");
        let [nz, ny, nx] = self.shape;
        let (rows, cols) = self.geometry.detector_shape();
        let mut out = Array3::<f32>::zeros((nz, ny, nx));
        let buf = out.as_slice_mut().expect("new array is contiguous");
        let sp = self.spacing_mm;
        let org = self.origin_mm;
        let plane = rows * cols;
        progress.start("voxel-driven backprojection", (nz * ny) as u64);
        buf.par_chunks_mut(nx)
            .enumerate()
            .try_for_each(|(line, acc)| -> Result<()> {
                progress::check(progress)?;
                let k = line / ny;
                let j = line % ny;
                let z = org[0] + k as f64 * sp[0];
                let y = org[1] + j as f64 * sp[1];
                let (hc, hr) = ((cols as f64 - 1.0) / 2.0, (rows as f64 - 1.0) / 2.0);
                for (m, map) in self.maps.iter().enumerate() {
                    let proj = &p[m * plane..(m + 1) * plane];
                    // Along the row of voxels, detector coordinates are linear (parallel)
                    // or a ratio of linear functions (cone) of the voxel index i.
                    let line = map.along_line([z, y, org[2]], [0.0, 0.0, sp[2]]);
                    for (i, a) in acc.iter_mut().enumerate() {
                        if let Some((u, v)) = line.at(i as f64) {
                            *a += bilinear(proj, rows, cols, v + hr, u + hc);
                        }
                    }
                }
                progress.advance(1);
                Ok(())
            })?;
        Ok(out)
    }
}

fn check_axis_aligned(volume: &Volume) -> Result<()> {
    let d = volume.direction();
    let identity = (0..3).all(|r| (0..3).all(|c| d[r][c] == if r == c { 1.0 } else { 0.0 }));
    if !identity {
        return Err(Error::invalid(
            "volume direction",
            format!("{d:?}"),
            "the identity (projectors need an axis-aligned volume; resample it first)",
        ));
    }
    Ok(())
}

fn check_shape(what: &str, expected: [usize; 3], found: &[usize]) -> Result<()> {
    if found != expected {
        return Err(Error::shape(what, expected, found));
    }
    Ok(())
}

/// Bilinear interpolation of a `rows × cols` image at fractional `(r, c)`, zero outside.
#[inline]
fn bilinear(img: &[f32], rows: usize, cols: usize, r: f64, c: f64) -> f32 {
    if !(r > -1.0 && c > -1.0 && r < rows as f64 && c < cols as f64) {
        return 0.0;
    }
    // floor by truncation (r, c > −1 here)
    let r0 = (r + 1.0) as i64 - 1;
    let c0 = (c + 1.0) as i64 - 1;
    let fr = (r - r0 as f64) as f32;
    let fc = (c - c0 as f64) as f32;
    if r0 >= 0 && c0 >= 0 && (c0 as usize) + 1 < cols {
        let i = r0 as usize * cols + c0 as usize;
        if fr == 0.0 {
            // on a row centre (as for a one-row detector)
            return (1.0 - fc) * img[i] + fc * img[i + 1];
        }
        if (r0 as usize) + 1 < rows {
            return (1.0 - fr) * ((1.0 - fc) * img[i] + fc * img[i + 1])
                + fr * ((1.0 - fc) * img[i + cols] + fc * img[i + cols + 1]);
        }
    }
    let at = |rr: i64, cc: i64| -> f32 {
        if rr >= 0 && cc >= 0 && (rr as usize) < rows && (cc as usize) < cols {
            img[rr as usize * cols + cc as usize]
        } else {
            0.0
        }
    };
    (1.0 - fr) * ((1.0 - fc) * at(r0, c0) + fc * at(r0, c0 + 1))
        + fr * ((1.0 - fc) * at(r0 + 1, c0) + fc * at(r0 + 1, c0 + 1))
}

/// Maps world points to detector coordinates of one view: `(u, v)` in pixels from the
/// detector centre along the column and row steps.
#[derive(Debug, Clone, Copy)]
struct DetectorMap {
    beam: Beam,
    /// Cone: source; parallel: unit ray direction.
    source: [f64; 3],
    center: [f64; 3],
    /// Detector normal `u × v`.
    n: [f64; 3],
    /// Dual vectors: `(p − center)·mu` is the column coordinate of an in-plane point p.
    mu: [f64; 3],
    mv: [f64; 3],
    /// Cone: `(center − source)·n`; parallel: `direction·n`.
    reach: f64,
}

impl DetectorMap {
    fn new(beam: Beam, v: &ViewVectors, index: usize) -> Result<Self> {
        let n = cross(v.u, v.v);
        let nn = dot(n, n);
        let mu = scale(cross(v.v, n), 1.0 / nn);
        let mv = scale(cross(n, v.u), 1.0 / nn);
        let (source, reach) = match beam {
            Beam::Cone => (v.source, dot(sub(v.detector_center, v.source), n)),
            Beam::Parallel => {
                let d = geometry::normalize(v.source);
                (d, dot(d, n))
            }
        };
        let scale_ref = match beam {
            Beam::Cone => norm(sub(v.detector_center, v.source)) * nn.sqrt(),
            Beam::Parallel => nn.sqrt(),
        };
        if reach.abs() <= 1e-9 * scale_ref || !reach.is_finite() {
            return Err(Error::invalid(
                format!("views[{index}]"),
                format!("{v:?}"),
                match beam {
                    Beam::Cone => "a source outside the detector plane",
                    Beam::Parallel => "rays that cross the detector plane",
                },
            ));
        }
        Ok(Self {
            beam,
            source,
            center: v.detector_center,
            n,
            mu,
            mv,
            reach,
        })
    }

    /// Detector coordinates `(u, v)` (pixel units from the centre) where the ray through
    /// world point `p` meets the detector; `None` for a cone-beam point that is not in
    /// front of the source.
    #[inline]
    fn project(&self, p: [f64; 3]) -> Option<(f64, f64)> {
        let hit = match self.beam {
            Beam::Cone => {
                let w = sub(p, self.source);
                let den = dot(w, self.n);
                // s > 0: the point lies between the source and the detector side.
                let s = self.reach / den;
                if s <= 0.0 || !s.is_finite() {
                    return None;
                }
                sub(add(self.source, scale(w, s)), self.center)
            }
            Beam::Parallel => {
                let s = dot(sub(self.center, p), self.n) / self.reach;
                sub(add(p, scale(self.source, s)), self.center)
            }
        };
        Some((dot(hit, self.mu), dot(hit, self.mv)))
    }
}

/// Detector coordinates along the line of world points `p0 + t · step`, see
/// [`DetectorMap::along_line`].
#[derive(Debug, Clone, Copy)]
enum LineMap {
    /// `u = u0 + t du`, `v = v0 + t dv`.
    Parallel { u0: f64, du: f64, v0: f64, dv: f64 },
    /// `den = d0 + t dd`; valid where `reach / den > 0`; `u = eu + (reach / den)(wu0 + t dwu)`.
    Cone {
        reach: f64,
        d0: f64,
        dd: f64,
        eu: f64,
        wu0: f64,
        dwu: f64,
        ev: f64,
        wv0: f64,
        dwv: f64,
    },
}

impl LineMap {
    #[inline(always)]
    fn at(&self, t: f64) -> Option<(f64, f64)> {
        match *self {
            LineMap::Parallel { u0, du, v0, dv } => Some((u0 + t * du, v0 + t * dv)),
            LineMap::Cone {
                reach,
                d0,
                dd,
                eu,
                wu0,
                dwu,
                ev,
                wv0,
                dwv,
            } => {
                let s = reach / (d0 + t * dd);
                if s > 0.0 && s.is_finite() {
                    Some((eu + s * (wu0 + t * dwu), ev + s * (wv0 + t * dwv)))
                } else {
                    None
                }
            }
        }
    }
}

impl DetectorMap {
    /// [`DetectorMap::project`] specialised to the points `p0 + t · step`.
    fn along_line(&self, p0: [f64; 3], step: [f64; 3]) -> LineMap {
        match self.beam {
            Beam::Parallel => {
                // hit − centre = (p − c) − ((p − c)·n / d·n) d, linear in p
                let proj = |x: [f64; 3]| {
                    let s = -dot(x, self.n) / self.reach;
                    add(x, scale(self.source, s))
                };
                let h0 = proj(sub(p0, self.center));
                let dh = proj(step);
                LineMap::Parallel {
                    u0: dot(h0, self.mu),
                    du: dot(dh, self.mu),
                    v0: dot(h0, self.mv),
                    dv: dot(dh, self.mv),
                }
            }
            Beam::Cone => {
                // hit − centre = (S − C) + s w, w = p − S, s = reach / (w·n)
                let w0 = sub(p0, self.source);
                let e = sub(self.source, self.center);
                LineMap::Cone {
                    reach: self.reach,
                    d0: dot(w0, self.n),
                    dd: dot(step, self.n),
                    eu: dot(e, self.mu),
                    wu0: dot(w0, self.mu),
                    dwu: dot(step, self.mu),
                    ev: dot(e, self.mv),
                    wv0: dot(w0, self.mv),
                    dwv: dot(step, self.mv),
                }
            }
        }
    }
}

/// The voxel grid in index space.
#[derive(Debug, Clone, Copy)]
struct Grid {
    n: [i64; 3],
    spacing: [f64; 3],
    origin: [f64; 3],
    strides: [usize; 3],
}

impl Grid {
    fn new(shape: [usize; 3], spacing: [f64; 3], origin: [f64; 3]) -> Self {
        Self {
            n: [shape[0] as i64, shape[1] as i64, shape[2] as i64],
            spacing,
            origin,
            strides: [shape[1] * shape[2], shape[2], 1],
        }
    }
}

/// One ray in index coordinates: position `a + t b` (t in mm along the ray), stepped
/// along the dominant axis `m`; `p`, `q` are the other two axes.
#[derive(Debug, Clone, Copy)]
struct Ray {
    a: [f64; 3],
    m: usize,
    p: usize,
    q: usize,
    /// `b[p] / b[m]`, `b[q] / b[m]`: in-plane index change per plane.
    rp: f64,
    rq: f64,
    /// Ray length between two planes, mm.
    len: f64,
    /// Planes the ray may sample (inclusive), before clipping to a box.
    k_lo: i64,
    k_hi: i64,
}

impl Ray {
    /// The ray from `origin` (world mm) along unit `dir`, `cone`: only `t ≥ 0`.
    #[inline]
    fn new(g: &Grid, origin: [f64; 3], dir: [f64; 3], cone: bool) -> Ray {
        let a: [f64; 3] = std::array::from_fn(|i| (origin[i] - g.origin[i]) / g.spacing[i]);
        let b: [f64; 3] = std::array::from_fn(|i| dir[i] / g.spacing[i]);
        let mut m = 0;
        for i in 1..3 {
            if b[i].abs() > b[m].abs() {
                m = i;
            }
        }
        let (p, q) = match m {
            0 => (1, 2),
            1 => (0, 2),
            _ => (0, 1),
        };
        let mut k_lo = 0;
        let mut k_hi = g.n[m] - 1;
        if cone {
            if b[m] > 0.0 {
                k_lo = k_lo.max(clamp_i64(a[m].ceil()));
            } else {
                k_hi = k_hi.min(clamp_i64(a[m].floor()));
            }
        }
        Ray {
            a,
            m,
            p,
            q,
            rp: b[p] / b[m],
            rq: b[q] / b[m],
            len: 1.0 / b[m].abs(),
            k_lo,
            k_hi,
        }
    }

    /// Planes `(k0, k1)` (inclusive; empty if `k0 > k1`) that may have a bilinear tap in
    /// the index box `lo..hi`. A superset: taps are checked one by one when traced.
    #[inline]
    fn clip(&self, lo: [i64; 3], hi: [i64; 3]) -> (i64, i64) {
        let mut k0 = self.k_lo.max(lo[self.m]);
        let mut k1 = self.k_hi.min(hi[self.m] - 1);
        for (ax, r) in [(self.p, self.rp), (self.q, self.rq)] {
            // need a[ax] + (k − a[m]) r ∈ (lo − 1, hi)
            let c = self.a[ax];
            let (l, h) = ((lo[ax] - 1) as f64, hi[ax] as f64);
            if r == 0.0 {
                if !(c > l && c < h) {
                    return (1, 0);
                }
            } else {
                let t1 = (l - c) / r;
                let t2 = (h - c) / r;
                let (tmin, tmax) = if t1 < t2 { (t1, t2) } else { (t2, t1) };
                k0 = k0.max(clamp_i64((self.a[self.m] + tmin).ceil()) - 1);
                k1 = k1.min(clamp_i64((self.a[self.m] + tmax).floor()) + 1);
            }
        }
        (k0, k1)
    }

    /// The line integral of `x` along the ray, taps inside the index box `lo..hi` only:
    /// `Σ w · x[i]` over [`Ray::trace`]'s taps, summed in f64 in their order.
    #[inline(always)]
    fn line_integral(&self, g: &Grid, lo: [i64; 3], hi: [i64; 3], x: &[f32]) -> f64 {
        let mut acc = 0.0f64;
        self.trace(g, lo, hi, self.clip(lo, hi), |i, w| {
            acc += f64::from(w * x[i]);
        });
        acc
    }

    /// Calls `f(flat index, weight)` for every bilinear tap of planes `k0..=k1` inside
    /// the index box `lo..hi`. The weight of a tap depends only on the ray, the plane and
    /// the tap, never on the box: forward and adjoint use the same numbers.
    #[inline(always)]
    fn trace<F: FnMut(usize, f32)>(
        &self,
        g: &Grid,
        lo: [i64; 3],
        hi: [i64; 3],
        (k0, k1): (i64, i64),
        mut f: F,
    ) {
        let (m, p, q) = (self.m, self.p, self.q);
        let (sm, sp, sq) = (g.strides[m], g.strides[p], g.strides[q]);
        let (am, ap, aq) = (self.a[m], self.a[p], self.a[q]);
        let len = self.len as f32;
        for k in k0..=k1 {
            let dk = k as f64 - am;
            let cp = ap + dk * self.rp;
            let cq = aq + dk * self.rq;
            // floor by truncation: clipping keeps cp, cq > −3 (|rp|, |rq| ≤ 1); were one
            // ever lower, its taps would fall outside the box and be skipped.
            let ip = (cp + 4.0) as i64 - 4;
            let iq = (cq + 4.0) as i64 - 4;
            let fp = (cp - ip as f64) as f32;
            let fq = (cq - iq as f64) as f32;
            let wp = [len * (1.0 - fp), len * fp];
            let wq = [1.0 - fq, fq];
            let base = k as usize * sm;
            // A sample exactly on a voxel line (fraction 0, as for a 2D slice) has one
            // tap along that axis; the other would carry weight 0.
            let two_p = fp != 0.0;
            let two_q = fq != 0.0;
            if ip >= lo[p]
                && ip + (two_p as i64) < hi[p]
                && iq >= lo[q]
                && iq + (two_q as i64) < hi[q]
            {
                // every tap inside the box
                let i00 = base + ip as usize * sp + iq as usize * sq;
                f(i00, wp[0] * wq[0]);
                if two_q {
                    f(i00 + sq, wp[0] * wq[1]);
                }
                if two_p {
                    f(i00 + sp, wp[1] * wq[0]);
                    if two_q {
                        f(i00 + sp + sq, wp[1] * wq[1]);
                    }
                }
                continue;
            }
            for (dp, wpv) in wp.iter().enumerate() {
                let jp = ip + dp as i64;
                if jp < lo[p] || jp >= hi[p] {
                    continue;
                }
                let row = base + jp as usize * sp;
                for (dq, wqv) in wq.iter().enumerate() {
                    let jq = iq + dq as i64;
                    if jq < lo[q] || jq >= hi[q] {
                        continue;
                    }
                    f(row + jq as usize * sq, wpv * wqv);
                }
            }
        }
    }
}

#[inline]
fn clamp_i64(v: f64) -> i64 {
    // `as` saturates; keep well inside the range so ±1 cannot overflow.
    v.clamp(-1e15, 1e15) as i64
}

impl LinearOperator for Projector {
    fn domain_shape(&self) -> [usize; 3] {
        self.shape
    }

    fn range_shape(&self) -> [usize; 3] {
        self.geometry.projection_shape()
    }

    fn apply(
        &self,
        x: ArrayView3<'_, f32>,
        mut y: ArrayViewMut3<'_, f32>,
        progress: &dyn Progress,
    ) -> Result<()> {
        check_shape("volume", self.shape, x.shape())?;
        check_shape("projections", self.range_shape(), y.shape())?;
        ensure_finite("volume", x.iter())?;
        let x = x.as_standard_layout();
        let xs = x.as_slice().expect("standard layout is contiguous");
        match y.as_slice_mut() {
            Some(ys) => self.forward_into(xs, ys, progress),
            None => {
                let mut tmp = Array3::<f32>::zeros(y.raw_dim());
                self.forward_into(
                    xs,
                    tmp.as_slice_mut().expect("new array is contiguous"),
                    progress,
                )?;
                y.assign(&tmp);
                Ok(())
            }
        }
    }

    fn apply_adjoint(
        &self,
        y: ArrayView3<'_, f32>,
        mut x: ArrayViewMut3<'_, f32>,
        progress: &dyn Progress,
    ) -> Result<()> {
        check_shape("projections", self.range_shape(), y.shape())?;
        check_shape("volume", self.shape, x.shape())?;
        ensure_finite("projections", y.iter())?;
        let y = y.as_standard_layout();
        let ys = y.as_slice().expect("standard layout is contiguous");
        match x.as_slice_mut() {
            Some(xs) => self.adjoint_into(ys, xs, progress),
            None => {
                let mut tmp = Array3::<f32>::zeros(x.raw_dim());
                self.adjoint_into(
                    ys,
                    tmp.as_slice_mut().expect("new array is contiguous"),
                    progress,
                )?;
                x.assign(&tmp);
                Ok(())
            }
        }
    }
}

impl Projector {
    #[inline]
    fn ray(&self, g: &Grid, view: usize, r: usize, c: usize) -> Ray {
        let (rows, cols) = self.geometry.detector_shape();
        let beam = self.geometry.beam();
        let (o, d) = geometry::ray(beam, &self.views[view], rows, cols, r as f64, c as f64);
        Ray::new(g, o, d, beam == Beam::Cone)
    }

    fn forward_into(&self, x: &[f32], y: &mut [f32], progress: &dyn Progress) -> Result<()> {
        let rows = self.geometry.detector_shape().0;
        progress.start("forward projection", (self.views.len() * rows) as u64);
        // Rays are traced through the box of nonzero voxels only, and only the pixels
        // whose rays can reach it: a metal mask or an object in a wide field of view
        // fills a small part of the grid. The taps skipped hold zeros, so every line
        // integral is the same, bit for bit, as tracing the whole grid.
        match support(x, self.shape) {
            Some(b) => self.forward_in_box(x, y, b, progress),
            None => {
                progress::check(progress)?;
                y.fill(0.0);
                progress.advance((self.views.len() * rows) as u64);
                Ok(())
            }
        }
    }

    /// [`Self::forward_into`] with the taps limited to the index box `[lo, hi)`: exact
    /// when every voxel outside the box is zero.
    fn forward_in_box(
        &self,
        x: &[f32],
        y: &mut [f32],
        [lo, hi]: [[i64; 3]; 2],
        progress: &dyn Progress,
    ) -> Result<()> {
        let g = self.grid();
        let (rows, cols) = self.geometry.detector_shape();
        let bounds: Vec<[[usize; 2]; 2]> = (0..self.views.len())
            .map(|view| self.pixel_bounds(&g, view, lo, hi))
            .collect();
        let kernels = lane_kernels();
        y.par_chunks_mut(cols)
            .enumerate()
            .try_for_each(|(line, out)| -> Result<()> {
                progress::check(progress)?;
                let view = line / rows;
                let r = line % rows;
                let [[r0, r1], [c0, c1]] = bounds[view];
                if !(r0..r1).contains(&r) || c0 >= c1 {
                    out.fill(0.0);
                    progress.advance(1);
                    return Ok(());
                }
                out[..c0].fill(0.0);
                out[c1..].fill(0.0);
                let alone = |ray: Ray| ray.line_integral(&g, lo, hi, x) as f32;
                let mut c = c0;
                if let Some(k) = kernels {
                    // Side by side when LANES rays step along one axis (all of a parallel
                    // view's; a fan or cone view's but where the dominant axis changes);
                    // the sums are the same, bit for bit, as one by one.
                    while c + LANES <= c1 {
                        let rays: [Ray; LANES] =
                            std::array::from_fn(|l| self.ray(&g, view, r, c + l));
                        let out = &mut out[c..c + LANES];
                        match RayLanes::new(&g, &rays, lo, hi) {
                            Some(lanes) => {
                                let sums = (k.trace)(&lanes, &g, lo, hi, x);
                                for (o, s) in out.iter_mut().zip(sums) {
                                    *o = s as f32;
                                }
                            }
                            None => {
                                for (o, ray) in out.iter_mut().zip(rays) {
                                    *o = alone(ray);
                                }
                            }
                        }
                        c += LANES;
                    }
                }
                for (c, o) in out.iter_mut().enumerate().take(c1).skip(c) {
                    *o = alone(self.ray(&g, view, r, c));
                }
                progress.advance(1);
                Ok(())
            })
    }

    /// The detector pixels `(r0..r1, c0..c1)` of `view` whose rays can sample a voxel of
    /// the index box `lo..hi` (a superset; the whole detector when part of the box is not
    /// in front of a cone-beam source).
    fn pixel_bounds(&self, g: &Grid, view: usize, lo: [i64; 3], hi: [i64; 3]) -> [[usize; 2]; 2] {
        let (rows, cols) = self.geometry.detector_shape();
        let map = &self.maps[view];
        let (mut umin, mut umax, mut vmin, mut vmax) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for corner in 0..8 {
            // The box grown by one voxel: a sample point lies within one voxel of its
            // taps. Projection maps the (convex) box into the hull of its corners.
            let w: [f64; 3] = std::array::from_fn(|a| {
                let idx = if corner >> a & 1 == 0 {
                    lo[a] - 1
                } else {
                    hi[a]
                };
                g.origin[a] + idx as f64 * g.spacing[a]
            });
            let Some((u, v)) = map.project(w) else {
                return [[0, rows], [0, cols]];
            };
            umin = umin.min(u);
            umax = umax.max(u);
            vmin = vmin.min(v);
            vmax = vmax.max(v);
        }
        let to_range = |min: f64, max: f64, n: usize| -> [usize; 2] {
            let half = (n as f64 - 1.0) / 2.0;
            let a = (min + half - 1.0).floor().max(0.0);
            let b = ((max + half + 1.0).ceil() + 1.0).min(n as f64);
            if a >= b {
                [0, 0]
            } else {
                [a as usize, b as usize]
            }
        };
        [to_range(vmin, vmax, rows), to_range(umin, umax, cols)]
    }

    fn adjoint_into(&self, y: &[f32], x: &mut [f32], progress: &dyn Progress) -> Result<()> {
        let g = self.grid();
        let (rows, cols) = self.geometry.detector_shape();
        let [nz, ny, _] = self.shape;
        // Slabs along z, or along y for a single-slice volume; contiguous in memory.
        let axis = if nz > 1 || ny == 1 { 0 } else { 1 };
        let extent = self.shape[axis];
        let slabs_wanted = (4 * rayon::current_num_threads()).max(1);
        let thick = extent.div_ceil(slabs_wanted).max(1);
        let chunk = thick * g.strides[axis];
        let n_slabs = extent.div_ceil(thick);
        progress.start("adjoint projection", n_slabs as u64);
        let kernels = lane_kernels();
        x.par_chunks_mut(chunk)
            .enumerate()
            .try_for_each(|(s, out)| -> Result<()> {
                out.fill(0.0);
                let mut lo = [0i64; 3];
                let mut hi = g.n;
                lo[axis] = (s * thick) as i64;
                hi[axis] = (((s + 1) * thick).min(extent)) as i64;
                let offset = s * chunk;
                let scatter_alone = |ray: Ray, value: f32, out: &mut [f32]| {
                    if value != 0.0 {
                        ray.trace(&g, lo, hi, ray.clip(lo, hi), |i, w| {
                            out[i - offset] += w * value;
                        });
                    }
                };
                for view in 0..self.views.len() {
                    progress::check(progress)?;
                    let [[r0, r1], [c0, c1]] = self.pixel_bounds(&g, view, lo, hi);
                    for r in r0..r1 {
                        let line = &y[(view * rows + r) * cols..(view * rows + r + 1) * cols];
                        let mut c = c0;
                        if let Some(k) = kernels {
                            // Eight rays side by side (see `scatter_lanes_generic`: the
                            // same sums in the same order).
                            while c + LANES <= c1 {
                                let values: [f32; LANES] = std::array::from_fn(|l| line[c + l]);
                                if values.iter().any(|&v| v != 0.0) {
                                    let rays: [Ray; LANES] =
                                        std::array::from_fn(|l| self.ray(&g, view, r, c + l));
                                    match RayLanes::new(&g, &rays, lo, hi) {
                                        Some(lanes) => {
                                            (k.scatter)(&lanes, &g, lo, hi, &values, out, offset)
                                        }
                                        None => {
                                            for (ray, v) in rays.into_iter().zip(values) {
                                                scatter_alone(ray, v, out);
                                            }
                                        }
                                    }
                                }
                                c += LANES;
                            }
                        }
                        for (c, &v) in line.iter().enumerate().take(c1).skip(c) {
                            if v != 0.0 {
                                scatter_alone(self.ray(&g, view, r, c), v, out);
                            }
                        }
                    }
                }
                progress.advance(1);
                Ok(())
            })
    }
}

/// The index box `[lo, hi)` (per axis `z, y, x`) of the nonzero voxels of `x`, a
/// standard-layout grid of `shape`; `None` when every voxel is zero.
fn support(x: &[f32], shape: [usize; 3]) -> Option<[[i64; 3]; 2]> {
    let [_, ny, nx] = shape;
    let plane = ny * nx;
    if plane == 0 {
        return None;
    }
    x.par_chunks(plane)
        .enumerate()
        .filter_map(|(z, p)| {
            let mut b: Option<[[i64; 3]; 2]> = None;
            for (y, row) in p.chunks_exact(nx).enumerate() {
                let Some(x0) = row.iter().position(|&v| v != 0.0) else {
                    continue;
                };
                let x1 = row.iter().rposition(|&v| v != 0.0).unwrap_or(x0);
                let (y, x0, x1) = (y as i64, x0 as i64, x1 as i64 + 1);
                let z = z as i64;
                b = Some(match b {
                    None => [[z, y, x0], [z + 1, y + 1, x1]],
                    Some([lo, hi]) => [[z, lo[1], lo[2].min(x0)], [z + 1, y + 1, hi[2].max(x1)]],
                });
            }
            b
        })
        .reduce_with(|[alo, ahi], [blo, bhi]| {
            [
                std::array::from_fn(|a| alo[a].min(blo[a])),
                std::array::from_fn(|a| ahi[a].max(bhi[a])),
            ]
        })
}

/// Joseph forward projection of `volume` (μ in mm⁻¹) for `geometry`: line integrals,
/// shape `(views, rows, cols)` of the geometry. Rays that miss the volume give 0.
///
/// **Errors** if the volume's direction is not the identity, holds NaN or infinity, the
/// geometry is invalid, or the projections would not fit in memory.
///
/// # Example
/// ```
/// use ctscreen::geometry::{ConeBeamGeometry, Geometry};
/// use ctscreen::{project::forward_project, Volume};
/// let vol = Volume::centered(ndarray::Array3::from_elem((16, 16, 16), 0.02), [1.0; 3]).unwrap();
/// let angles: Vec<f64> = (0..8).map(|i| i as f64 * 0.4).collect();
/// let g: Geometry = ConeBeamGeometry::new(angles, 200.0, 400.0, (16, 16), (2.0, 2.0), (0.0, 0.0))
///     .unwrap()
///     .into();
/// let p = forward_project(&vol, &g).unwrap();
/// assert_eq!(p.shape(), [8, 16, 16]);
/// ```
pub fn forward_project(volume: &Volume, geometry: &Geometry) -> Result<Projections> {
    forward_project_with(volume, geometry, &NoProgress)
}

/// [`forward_project`] with progress reporting and cancellation (stage
/// `"forward projection"`, one unit per detector row of a view).
///
/// **Errors** as [`forward_project`], and [`Error::Cancelled`].
pub fn forward_project_with(
    volume: &Volume,
    geometry: &Geometry,
    progress: &dyn Progress,
) -> Result<Projections> {
    let a = Projector::for_volume(volume, geometry)?;
    let y = a.apply_new(volume.data().view(), progress)?;
    Projections::new(y)
}

/// Plain voxel-driven backprojection onto a grid of `shape` `(nz, ny, nx)` voxels of
/// `spacing_mm` `(dz, dy, dx)`, centred on the isocentre.
///
/// For every voxel centre `x` and every view, the ray through `x` (from the source for
/// fan and cone beams, along the view's direction for parallel beams) is intersected
/// with the detector plane, and the projection is interpolated bilinearly there (0
/// outside the detector). The voxel gets the plain sum over views:
/// `b(x) = Σ_view p_view(row(x), col(x))` — no angular step `Δθ`, no distance or cosine
/// weighting, no filtering. Voxels behind a cone-beam source get nothing from that view.
/// It approximates (but is not exactly) the adjoint of [`forward_project`]; use
/// [`Projector`] for the exact adjoint.
///
/// **Errors** with [`Error::ShapeMismatch`] if `projections` do not have the geometry's
/// `(views, rows, cols)`, [`Error::NonFinite`] on NaN or infinity, and as
/// [`Projector::new`] for a bad grid or geometry.
///
/// # Example
/// ```
/// use ctscreen::geometry::{Geometry, ParallelBeamGeometry};
/// use ctscreen::{project::backproject, Projections};
/// let g: Geometry = ParallelBeamGeometry::new(vec![0.0, 1.0], 8, 1.0, 1).unwrap().into();
/// let p = Projections::new(ndarray::Array3::ones((2, 1, 8))).unwrap();
/// let v = backproject(&p, &g, [1, 4, 4], [1.0; 3]).unwrap();
/// assert!((v.data()[[0, 2, 2]] - 2.0).abs() < 1e-6); // one per view
/// ```
pub fn backproject(
    projections: &Projections,
    geometry: &Geometry,
    shape: [usize; 3],
    spacing_mm: [f64; 3],
) -> Result<Volume> {
    backproject_with(projections, geometry, shape, spacing_mm, &NoProgress)
}

/// [`backproject`] with progress reporting and cancellation (stage
/// `"voxel-driven backprojection"`, one unit per row of voxels).
///
/// **Errors** as [`backproject`], and [`Error::Cancelled`].
pub fn backproject_with(
    projections: &Projections,
    geometry: &Geometry,
    shape: [usize; 3],
    spacing_mm: [f64; 3],
    progress: &dyn Progress,
) -> Result<Volume> {
    let a = Projector::centered(shape, spacing_mm, geometry)?;
    let data = a.backproject_voxel_driven(projections.data().view(), progress)?;
    Volume::centered(data, spacing_mm)
}

#[cfg(test)]
mod tests {
    use super::lanes::{gather_scalar, trace_lanes_generic};
    use super::*;
    use crate::geometry::{ConeBeamGeometry, ParallelBeamGeometry};
    use rand::{Rng, SeedableRng};

    /// The projector traces rays side by side (`LaneKernels`) where it
    /// can; every line integral, and every voxel of the adjoint, must be what `Ray::trace`
    /// gives ray by ray, bit for bit: in a 2D slice (taps in one plane), in 3D, and where
    /// a fan or cone's rays change dominant axis within a group of lanes.
    #[test]
    fn rays_traced_side_by_side_equal_rays_traced_alone() {
        use crate::geometry::FanBeamGeometry;
        let angles: Vec<f64> = (0..9).map(|i| 0.11 + i as f64 * 0.37).collect();
        let cases: Vec<([usize; 3], [f64; 3], Geometry)> = vec![
            (
                [1, 30, 27],
                [1.0, 1.0, 1.1],
                ParallelBeamGeometry::new(angles.clone(), 37, 0.9, 1)
                    .unwrap()
                    .into(),
            ),
            (
                [1, 30, 27],
                [1.0, 0.9, 1.1],
                FanBeamGeometry::new(angles.clone(), 40.0, 80.0, 45, 1.7)
                    .unwrap()
                    .into(),
            ),
            (
                [13, 21, 19],
                [1.2, 1.0, 0.9],
                ParallelBeamGeometry::new(angles.clone(), 29, 0.8, 17)
                    .unwrap()
                    .into(),
            ),
            (
                [13, 21, 19],
                [1.2, 1.0, 0.9],
                ConeBeamGeometry::new(angles, 30.0, 60.0, (19, 41), (1.9, 1.9), (0.3, -0.6))
                    .unwrap()
                    .into(),
            ),
        ];
        let mut rng = rand_pcg::Pcg64::seed_from_u64(8);
        let mut mixed_groups = 0;
        for (shape, spacing, g) in &cases {
            let op = Projector::centered(*shape, *spacing, g).unwrap();
            let x: Vec<f32> = (0..shape.iter().product::<usize>())
                .map(|_| rng.random_range(0.0..0.5))
                .collect();
            let mut y = vec![0.0f32; op.range_shape().iter().product()];
            op.forward_into(&x, &mut y, &NoProgress).unwrap();
            let grid = op.grid();
            let box_ = [[0i64; 3], grid.n];
            let (rows, cols) = g.detector_shape();
            for view in 0..op.views.len() {
                for r in 0..rows {
                    for c in 0..cols {
                        let acc = op
                            .ray(&grid, view, r, c)
                            .line_integral(&grid, box_[0], box_[1], &x);
                        let got = y[(view * rows + r) * cols + c];
                        assert_eq!(got.to_bits(), (acc as f32).to_bits(), "{g:?}");
                    }
                    for c in (0..cols.saturating_sub(LANES - 1)).step_by(LANES) {
                        let rays: [Ray; LANES] =
                            std::array::from_fn(|l| op.ray(&grid, view, r, c + l));
                        match RayLanes::new(&grid, &rays, box_[0], box_[1]) {
                            None => mixed_groups += 1,
                            Some(lanes) => {
                                // The portable kernel agrees with the one this CPU runs.
                                let [lo, hi] = box_;
                                let plain =
                                    trace_lanes_generic(&lanes, &grid, lo, hi, &x, gather_scalar);
                                let Some(k) = lane_kernels() else { continue };
                                let fast = (k.trace)(&lanes, &grid, lo, hi, &x);
                                assert_eq!(plain.map(f64::to_bits), fast.map(f64::to_bits));
                            }
                        }
                    }
                }
            }
            assert!(y.iter().filter(|&&v| v > 0.0).count() > y.len() / 3);

            // Clipped to a box that many rays miss (empty plane ranges side by side with
            // full ones).
            let sub = [
                [0, 5, 4],
                [shape[0] as i64, shape[1] as i64 - 9, shape[2] as i64 - 8],
            ];
            let mut y_sub = vec![1.0f32; y.len()];
            op.forward_in_box(&x, &mut y_sub, sub, &NoProgress).unwrap();
            let mut missed = 0;
            for view in 0..op.views.len() {
                for r in 0..rows {
                    for c in 0..cols {
                        let acc = op
                            .ray(&grid, view, r, c)
                            .line_integral(&grid, sub[0], sub[1], &x);
                        missed += usize::from(acc == 0.0);
                        let got = y_sub[(view * rows + r) * cols + c];
                        assert_eq!(got.to_bits(), (acc as f32).to_bits(), "{g:?} in {sub:?}");
                    }
                }
            }
            assert!(
                missed > y.len() / 10 && missed < y.len(),
                "{missed} rays miss"
            );

            // The adjoint, ray after ray in the order view, row, column (a few rays
            // zero, as the projector skips them), against the same scattered by lanes.
            let values: Vec<f32> = (0..y.len())
                .map(|i| {
                    if i % 7 == 3 {
                        0.0
                    } else {
                        rng.random_range(-1.0..1.0)
                    }
                })
                .collect();
            let mut alone = vec![0.0f32; x.len()];
            for view in 0..op.views.len() {
                for r in 0..rows {
                    for c in 0..cols {
                        let v = values[(view * rows + r) * cols + c];
                        let ray = op.ray(&grid, view, r, c);
                        ray.trace(
                            &grid,
                            box_[0],
                            box_[1],
                            ray.clip(box_[0], box_[1]),
                            |i, w| {
                                alone[i] += w * v;
                            },
                        );
                    }
                }
            }
            let mut side_by_side = vec![1.0f32; x.len()];
            op.adjoint_into(&values, &mut side_by_side, &NoProgress)
                .unwrap();
            assert!(alone.iter().filter(|&&v| v != 0.0).count() > x.len() / 2);
            let same = alone
                .iter()
                .zip(&side_by_side)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "adjoint differs for {g:?}");
        }
        assert!(mixed_groups > 0, "no group of rays changed dominant axis");
    }

    /// Tracing only the box of nonzero voxels gives the whole-grid line integrals bit
    /// for bit, whatever the beam, and `support` finds the exact box.
    #[test]
    fn forward_projection_clipped_to_the_support_is_exact() {
        let shape = [12, 14, 16];
        let mut rng = rand_pcg::Pcg64::seed_from_u64(5);
        let mut x = vec![0.0f32; shape.iter().product()];
        let (lo, hi) = ([3usize, 2, 9], [7usize, 11, 15]);
        for z in lo[0]..hi[0] {
            for y in lo[1]..hi[1] {
                for xx in lo[2]..hi[2] {
                    if rng.random_bool(0.6) {
                        x[(z * shape[1] + y) * shape[2] + xx] = rng.random_range(0.01..0.5);
                    }
                }
            }
        }
        // The corners of the box are set, so the support is exactly the box.
        for (z, y, xx) in [(lo[0], lo[1], lo[2]), (hi[0] - 1, hi[1] - 1, hi[2] - 1)] {
            x[(z * shape[1] + y) * shape[2] + xx] = 0.3;
        }
        let box_ = support(&x, shape).unwrap();
        assert_eq!(box_, [lo.map(|v| v as i64), hi.map(|v| v as i64)]);
        assert_eq!(support(&vec![0.0; x.len()], shape), None);

        let angles: Vec<f64> = (0..7).map(|i| 0.3 + i as f64 * 0.9).collect();
        let geometries: [Geometry; 2] = [
            ConeBeamGeometry::new(
                angles.clone(),
                60.0,
                120.0,
                (20, 26),
                (1.5, 1.5),
                (0.4, -0.7),
            )
            .unwrap()
            .into(),
            ParallelBeamGeometry::new(angles, 24, 0.9, 13)
                .unwrap()
                .into(),
        ];
        for g in &geometries {
            let op = Projector::centered(shape, [1.0, 0.9, 1.1], g).unwrap();
            let n = op.range_shape().iter().product();
            let (mut clipped, mut whole) = (vec![1.0f32; n], vec![1.0f32; n]);
            op.forward_into(&x, &mut clipped, &NoProgress).unwrap();
            let full = [[0i64; 3], op.grid().n];
            op.forward_in_box(&x, &mut whole, full, &NoProgress)
                .unwrap();
            assert!(whole.iter().filter(|&&v| v > 0.0).count() > n / 10);
            let same = clipped
                .iter()
                .zip(&whole)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "clipped projection differs for {g:?}");
        }
    }
}
