//! Analytic phantoms: primitives with exact line integrals, Shepp–Logan, and the
//! seeded parcel generator with ground truth.
//!
//! A [`Phantom`] is a list of [`Object`]s, each a [`Primitive`] (an ellipsoid, box,
//! capped cylinder or hollow tube placed with a centre and rotation) filled with a
//! [`Material`] (or, for test phantoms, a constant μ). Objects add in μ, Shepp–Logan
//! style: where two overlap their μ add up, so scene builders keep solids apart and use
//! tubes for bores. Every object carries the `label` of the item it belongs to (one
//! pistol = many objects, one label) and that item's [`ObjectClass`].
//!
//! From a phantom one gets, exactly or by sampling:
//! * [`Phantom::path_lengths`]: per-material chord lengths along a line (closed form);
//! * [`Phantom::line_integral_mono`]: `∫ μ(E) dl` at one energy;
//! * [`analytic_projections`]: those line integrals for every detector pixel centre of
//!   a [`Geometry`];
//! * [`Phantom::voxelize`]: μ on a centred grid, supersampled, and
//!   [`Phantom::voxelize_labels`]: the ground-truth label grid.
//!
//! The polychromatic forward model with noise is [`crate::physics::simulate`].

pub mod parcel;
pub(crate) mod raycast;
pub mod shapes;
pub mod shepp_logan;

use ndarray::{Array3, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::geometry::Geometry;
use crate::physics::Material;
use crate::volume::{centered_origin, ensure_allocatable};
use crate::{Error, Projections, Result, Volume};

pub use parcel::{
    default_energy_kev, parcel, ContainerKind, GroundTruthObject, Parcel, ParcelOptions,
    ThreatKind, Threats,
};
pub use shapes::{Primitive, Rotation, Shape, Vec3};
pub use shepp_logan::{shepp_logan_2d, shepp_logan_3d};

/// What an object is, for scoring a detector against the truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectClass {
    /// A complete firearm (pistol, revolver).
    Firearm,
    /// An essential firearm part on its own (barrel, slide, bolt, magazine, receiver).
    FirearmPart,
    /// Cartridges.
    Ammunition,
    /// A fighting or utility knife.
    Blade,
    /// Benign metal: tools, cutlery, coins, keys, machine parts, battery cans.
    MetalOther,
    /// The parcel's box or envelope, and boxes holding other items.
    Container,
    /// Everything else (clothes, paper, bottles, electronics housings); also the
    /// regions of test phantoms.
    Clutter,
}

impl ObjectClass {
    /// Every class.
    pub const ALL: &'static [ObjectClass] = &[
        ObjectClass::Firearm,
        ObjectClass::FirearmPart,
        ObjectClass::Ammunition,
        ObjectClass::Blade,
        ObjectClass::MetalOther,
        ObjectClass::Container,
        ObjectClass::Clutter,
    ];

    /// The snake-case name (`"firearm"`, `"firearm_part"`, `"ammunition"`, `"blade"`,
    /// `"metal_other"`, `"container"`, `"clutter"`).
    pub fn name(self) -> &'static str {
        match self {
            ObjectClass::Firearm => "firearm",
            ObjectClass::FirearmPart => "firearm_part",
            ObjectClass::Ammunition => "ammunition",
            ObjectClass::Blade => "blade",
            ObjectClass::MetalOther => "metal_other",
            ObjectClass::Container => "container",
            ObjectClass::Clutter => "clutter",
        }
    }

    /// Parses [`ObjectClass::name`] (case-insensitive).
    ///
    /// **Errors** on an unknown name, listing the known ones.
    pub fn from_name(name: &str) -> Result<Self> {
        let n = name.trim().to_ascii_lowercase();
        ObjectClass::ALL
            .iter()
            .copied()
            .find(|c| c.name() == n)
            .ok_or_else(|| {
                let known: Vec<&str> = ObjectClass::ALL.iter().map(|c| c.name()).collect();
                Error::invalid("class", name, format!("one of {}", known.join(", ")))
            })
    }

    /// True for the classes a screening detector must find (firearm, firearm part,
    /// ammunition, blade).
    pub fn is_threat(self) -> bool {
        matches!(
            self,
            ObjectClass::Firearm
                | ObjectClass::FirearmPart
                | ObjectClass::Ammunition
                | ObjectClass::Blade
        )
    }
}

impl std::fmt::Display for ObjectClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How an object attenuates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attenuation {
    /// A real material: μ depends on energy ([`Material::mu_per_mm`]).
    Material(Material),
    /// An energy-independent μ in mm⁻¹ (may be negative: Shepp–Logan's ellipses add).
    Constant(f64),
}

impl Attenuation {
    /// μ in mm⁻¹ at `energy_kev`.
    pub fn mu_per_mm(self, energy_kev: f64) -> f64 {
        match self {
            Attenuation::Material(m) => m.mu_per_mm(energy_kev),
            Attenuation::Constant(mu) => mu,
        }
    }
}

/// One primitive of a phantom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Object {
    /// Its solid and pose.
    pub primitive: Primitive,
    /// What fills it.
    pub attenuation: Attenuation,
    /// Label of the item it belongs to (≥ 1; shared by all primitives of one item).
    pub label: u32,
    /// Class of that item.
    pub class: ObjectClass,
    /// Which part of the item this primitive is (`"slide_top"`, `"case_wall"` …).
    pub part: String,
}

/// Chord lengths per material along one line, and the integral of constant-μ objects.
#[derive(Debug, Clone, PartialEq)]
pub struct PathLengths {
    /// Length in mm inside each material, indexed by [`Material::index`].
    pub mm: [f64; Material::COUNT],
    /// `Σ μ·length` of [`Attenuation::Constant`] objects (dimensionless).
    pub constant: f64,
}

impl PathLengths {
    /// The line integral `Σ_m μ_m(E) L_m + constant` at `energy_kev`.
    pub fn line_integral(&self, energy_kev: f64) -> f64 {
        Material::ALL
            .iter()
            .zip(self.mm.iter())
            .filter(|(_, &l)| l != 0.0)
            .map(|(m, &l)| m.mu_per_mm(energy_kev) * l)
            .sum::<f64>()
            + self.constant
    }
}

/// A list of objects whose μ add.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Phantom {
    /// The objects, in drawing order (for labels, later objects win).
    pub objects: Vec<Object>,
}

impl Phantom {
    /// An empty phantom.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends an object.
    pub fn push(
        &mut self,
        primitive: Primitive,
        attenuation: Attenuation,
        label: u32,
        class: ObjectClass,
        part: &str,
    ) {
        self.objects.push(Object {
            primitive,
            attenuation,
            label,
            class,
            part: part.to_string(),
        });
    }

    /// Checks every object: positive finite sizes, finite centre, a proper rotation,
    /// a finite constant μ. Phantoms built with [`Primitive::new`] always pass; this is
    /// for phantoms read from JSON or assembled from public fields.
    ///
    /// **Errors** naming the first bad object.
    pub fn validate(&self) -> Result<()> {
        for (i, o) in self.objects.iter().enumerate() {
            let p = &o.primitive;
            let named = |e: Error| Error::invalid(format!("objects[{i}]"), e, "a valid primitive");
            Primitive::new(p.shape, p.center, p.rotation).map_err(named)?;
            Rotation::from_matrix(p.rotation.m).map_err(named)?;
            if let Attenuation::Constant(mu) = o.attenuation {
                if !mu.is_finite() {
                    return Err(Error::invalid(
                        format!("objects[{i}].mu"),
                        mu,
                        "a finite μ in mm⁻¹",
                    ));
                }
            }
        }
        Ok(())
    }

    /// The materials used, without repeats, in first-use order.
    pub fn materials(&self) -> Vec<Material> {
        let mut out: Vec<Material> = Vec::new();
        for o in &self.objects {
            if let Attenuation::Material(m) = o.attenuation {
                if !out.contains(&m) {
                    out.push(m);
                }
            }
        }
        out
    }

    /// The world bounding box `[min, max]` (`(z, y, x)` mm) of all objects; `None` if
    /// empty.
    pub fn aabb(&self) -> Option<[Vec3; 2]> {
        let mut it = self.objects.iter().map(|o| o.primitive.aabb());
        let first = it.next()?;
        Some(it.fold(first, |acc, b| {
            [
                std::array::from_fn(|i| acc[0][i].min(b[0][i])),
                std::array::from_fn(|i| acc[1][i].max(b[1][i])),
            ]
        }))
    }

    /// Exact chord lengths per material of the infinite line through `point` along
    /// the unit direction `dir` (world `(z, y, x)`), plus the constant-μ integral.
    ///
    /// # Example
    /// ```
    /// use ctscreen::phantom::{Attenuation, ObjectClass, Phantom, Primitive, Rotation, Shape};
    /// use ctscreen::physics::Material;
    /// let mut ph = Phantom::new();
    /// let b = Primitive::new(Shape::cuboid(10.0, 10.0, 4.0), [0.0; 3], Rotation::IDENTITY).unwrap();
    /// ph.push(b, Attenuation::Material(Material::Steel), 1, ObjectClass::MetalOther, "plate");
    /// let l = ph.path_lengths([0.0, 0.0, -20.0], [0.0, 0.0, 1.0]);
    /// assert!((l.mm[Material::Steel.index()] - 4.0).abs() < 1e-12);
    /// ```
    pub fn path_lengths(&self, point: Vec3, dir: Vec3) -> PathLengths {
        let mut out = PathLengths {
            mm: [0.0; Material::COUNT],
            constant: 0.0,
        };
        for o in &self.objects {
            let l = o.primitive.chord(point, dir);
            if l > 0.0 {
                match o.attenuation {
                    Attenuation::Material(m) => out.mm[m.index()] += l,
                    Attenuation::Constant(mu) => out.constant += mu * l,
                }
            }
        }
        out
    }

    /// The monochromatic line integral `∫ μ(E) dl` along the line through `point`
    /// with unit direction `dir`.
    pub fn line_integral_mono(&self, point: Vec3, dir: Vec3, energy_kev: f64) -> f64 {
        self.objects
            .iter()
            .map(|o| {
                let l = o.primitive.chord(point, dir);
                if l > 0.0 {
                    o.attenuation.mu_per_mm(energy_kev) * l
                } else {
                    0.0
                }
            })
            .sum()
    }

    /// μ (mm⁻¹) at `energy_kev` on a grid of `shape` `(nz, ny, nx)` voxels of
    /// `spacing_mm` `(dz, dy, dx)`, centred on the world origin
    /// ([`Volume::centered`]). Each voxel averages `supersample³` regularly spaced
    /// samples (1 = centre only; 2–3 is plenty), so partial-volume voxels get
    /// fractional values. Parallel over z-slices, identical on any thread count.
    ///
    /// **Errors** if the phantom is invalid ([`Phantom::validate`]: NaN or ±inf sizes,
    /// centres or μ), a dimension is zero, a spacing not finite and positive, the
    /// energy outside 20–200 keV, `supersample` not in 1–8, or the volume too large.
    ///
    /// # Example
    /// ```
    /// use ctscreen::phantom::shepp_logan_3d;
    /// let ph = shepp_logan_3d(60.0);
    /// let v = ph.voxelize([16, 16, 16], [8.0; 3], 70.0, 2).unwrap();
    /// assert_eq!(v.shape(), [16, 16, 16]);
    /// ```
    pub fn voxelize(
        &self,
        shape: [usize; 3],
        spacing_mm: [f64; 3],
        energy_kev: f64,
        supersample: usize,
    ) -> Result<Volume> {
        self.validate()?;
        check_grid(shape, spacing_mm)?;
        if !energy_kev.is_finite()
            || !(crate::physics::MIN_ENERGY_KEV..=crate::physics::MAX_ENERGY_KEV)
                .contains(&energy_kev)
        {
            return Err(Error::invalid(
                "energy_kev",
                energy_kev,
                "an energy in 20–200 keV",
            ));
        }
        if !(1..=8).contains(&supersample) {
            return Err(Error::invalid(
                "supersample",
                supersample,
                "1 to 8 samples per axis",
            ));
        }
        ensure_allocatable("voxelized phantom", crate::volume::element_count(&shape), 4)?;
        let origin = centered_origin(shape, spacing_mm);
        let values: Vec<f64> = self
            .objects
            .iter()
            .map(|o| o.attenuation.mu_per_mm(energy_kev))
            .collect();
        let boxes: Vec<[Vec3; 2]> = self.objects.iter().map(|o| o.primitive.aabb()).collect();
        let s = supersample;
        let offsets: Vec<f64> = (0..s).map(|i| (i as f64 + 0.5) / s as f64 - 0.5).collect();
        let inv = 1.0 / (s * s * s) as f64;
        let mut data = Array3::<f32>::zeros(shape);
        let [_, ny, nx] = shape;
        data.axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(|(k, mut slice)| {
                let zc = origin[0] + k as f64 * spacing_mm[0];
                let mut acc = vec![0.0f64; ny * nx];
                for (oi, o) in self.objects.iter().enumerate() {
                    let Some((j0, j1, i0, i1)) =
                        voxel_range(&boxes[oi], zc, origin, spacing_mm, ny, nx)
                    else {
                        continue;
                    };
                    let mu = values[oi];
                    for j in j0..=j1 {
                        let yc = origin[1] + j as f64 * spacing_mm[1];
                        for i in i0..=i1 {
                            let xc = origin[2] + i as f64 * spacing_mm[2];
                            let mut count = 0usize;
                            for &oz in &offsets {
                                for &oy in &offsets {
                                    for &ox in &offsets {
                                        let p = [
                                            zc + oz * spacing_mm[0],
                                            yc + oy * spacing_mm[1],
                                            xc + ox * spacing_mm[2],
                                        ];
                                        if o.primitive.contains(p) {
                                            count += 1;
                                        }
                                    }
                                }
                            }
                            if count > 0 {
                                acc[j * nx + i] += mu * count as f64 * inv;
                            }
                        }
                    }
                }
                for (dst, src) in slice.iter_mut().zip(&acc) {
                    *dst = *src as f32;
                }
            });
        Volume::new(data, spacing_mm, origin)
    }

    /// Ground-truth labels on the grid of [`Phantom::voxelize`]: each voxel gets the
    /// label of the last object containing its centre, 0 where none does.
    ///
    /// **Errors** as [`Phantom::voxelize`] for the phantom and the grid.
    pub fn voxelize_labels(&self, shape: [usize; 3], spacing_mm: [f64; 3]) -> Result<Array3<u32>> {
        self.validate()?;
        check_grid(shape, spacing_mm)?;
        ensure_allocatable("label volume", crate::volume::element_count(&shape), 4)?;
        let origin = centered_origin(shape, spacing_mm);
        let boxes: Vec<[Vec3; 2]> = self.objects.iter().map(|o| o.primitive.aabb()).collect();
        let mut data = Array3::<u32>::zeros(shape);
        let [_, ny, nx] = shape;
        data.axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(|(k, mut slice)| {
                let zc = origin[0] + k as f64 * spacing_mm[0];
                for (oi, o) in self.objects.iter().enumerate() {
                    let Some((j0, j1, i0, i1)) =
                        voxel_range(&boxes[oi], zc, origin, spacing_mm, ny, nx)
                    else {
                        continue;
                    };
                    for j in j0..=j1 {
                        let yc = origin[1] + j as f64 * spacing_mm[1];
                        for i in i0..=i1 {
                            let xc = origin[2] + i as f64 * spacing_mm[2];
                            if o.primitive.contains([zc, yc, xc]) {
                                slice[[j, i]] = o.label;
                            }
                        }
                    }
                }
            });
        Ok(data)
    }
}

fn check_grid(shape: [usize; 3], spacing_mm: [f64; 3]) -> Result<()> {
    if shape.contains(&0) {
        return Err(Error::invalid(
            "shape",
            format!("{shape:?}"),
            "three sizes ≥ 1",
        ));
    }
    if spacing_mm.iter().any(|s| !s.is_finite() || *s <= 0.0) {
        return Err(Error::invalid(
            "spacing_mm",
            format!("{spacing_mm:?}"),
            "three finite spacings > 0 mm",
        ));
    }
    Ok(())
}

/// Voxel index ranges `(j0, j1, i0, i1)` (inclusive) in slice `z = zc` whose voxels
/// (centre ± half a spacing) overlap the box; `None` if none.
fn voxel_range(
    b: &[Vec3; 2],
    zc: f64,
    origin: Vec3,
    spacing: [f64; 3],
    ny: usize,
    nx: usize,
) -> Option<(usize, usize, usize, usize)> {
    let hz = 0.5 * spacing[0];
    if zc + hz < b[0][0] || zc - hz > b[1][0] {
        return None;
    }
    let range = |axis: usize, n: usize| -> Option<(usize, usize)> {
        let lo = ((b[0][axis] - origin[axis]) / spacing[axis] - 0.5).ceil();
        let hi = ((b[1][axis] - origin[axis]) / spacing[axis] + 0.5).floor();
        if hi < 0.0 || lo > (n - 1) as f64 || hi < lo {
            return None;
        }
        Some((lo.max(0.0) as usize, hi.min((n - 1) as f64) as usize))
    };
    let (j0, j1) = range(1, ny)?;
    let (i0, i1) = range(2, nx)?;
    Some((j0, j1, i0, i1))
}

/// Exact monochromatic line integrals `∫ μ(E) dl` of `phantom` for the ray through
/// every detector pixel centre of `geometry`, `(views, rows, cols)`. Parallel over
/// views.
///
/// **Errors** if the phantom ([`Phantom::validate`]) or the geometry is invalid, the
/// energy outside 20–200 keV, or the output too large.
///
/// # Example
/// ```
/// use ctscreen::geometry::{Geometry, ParallelBeamGeometry};
/// use ctscreen::phantom::{analytic_projections, shepp_logan_2d};
/// let ph = shepp_logan_2d(100.0);
/// let g: Geometry = ParallelBeamGeometry::new(vec![0.0, 0.5], 64, 4.0, 1).unwrap().into();
/// let p = analytic_projections(&ph, &g, 70.0).unwrap();
/// assert_eq!(p.shape(), [2, 1, 64]);
/// ```
pub fn analytic_projections(
    phantom: &Phantom,
    geometry: &Geometry,
    energy_kev: f64,
) -> Result<Projections> {
    phantom.validate()?;
    geometry.validate()?;
    if !energy_kev.is_finite()
        || !(crate::physics::MIN_ENERGY_KEV..=crate::physics::MAX_ENERGY_KEV).contains(&energy_kev)
    {
        return Err(Error::invalid(
            "energy_kev",
            energy_kev,
            "an energy in 20–200 keV",
        ));
    }
    let shape = geometry.projection_shape();
    ensure_allocatable("projections", crate::volume::element_count(&shape), 4)?;
    let scene = raycast::Scene::new(phantom);
    let mu: Vec<f64> = scene
        .materials()
        .iter()
        .map(|m| m.mu_per_mm(energy_kev))
        .collect();
    let views = geometry.view_vectors();
    let beam = geometry.beam();
    let (rows, cols) = geometry.detector_shape();
    let mut data = Array3::<f32>::zeros(shape);
    data.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(vi, mut out)| {
            let l = scene.view_path_lengths(beam, &views[vi], rows, cols);
            let npix = rows * cols;
            for pix in 0..npix {
                let mut v = l.constant[pix];
                for (s, m) in mu.iter().enumerate() {
                    v += m * l.lengths[s * npix + pix];
                }
                out[[pix / cols, pix % cols]] = v as f32;
            }
        });
    Projections::new(data)
}
