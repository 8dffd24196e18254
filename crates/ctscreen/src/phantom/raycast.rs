//! Per-view accumulation of exact path lengths over a detector, object by object.
//!
//! For each object the 8 corners of its oriented bounding box are projected onto the
//! detector; only the pixels inside the rectangle around those projections (the
//! projection of a convex box is the hull of its projected corners) are traced. An
//! object with a corner behind the source is traced over the whole detector.

use crate::geometry::{self, Beam, ViewVectors};
use crate::physics::Material;

use super::shapes::{dot, sub, Primitive, Vec3};
use super::{Attenuation, Phantom};

/// What an object adds along a ray: length to a material slot, or μ·length to the
/// energy-independent constant.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Material(usize),
    Constant(f64),
}

#[derive(Debug, Clone)]
struct Prepared {
    primitive: Primitive,
    slot: Slot,
    corners: [Vec3; 8],
}

/// Path lengths of every pixel of one view.
#[derive(Debug, Clone)]
pub(crate) struct ViewLengths {
    /// `[slot][pixel]`, flattened: `lengths[slot * npix + pixel]`, mm.
    pub lengths: Vec<f64>,
    /// Σ μ·length of constant-μ objects per pixel (dimensionless).
    pub constant: Vec<f64>,
}

/// A phantom prepared for ray casting.
#[derive(Debug, Clone)]
pub(crate) struct Scene {
    objects: Vec<Prepared>,
    materials: Vec<Material>,
}

impl Scene {
    pub fn new(phantom: &Phantom) -> Self {
        let mut materials: Vec<Material> = Vec::new();
        let objects = phantom
            .objects
            .iter()
            .map(|o| {
                let slot = match o.attenuation {
                    Attenuation::Material(m) => {
                        let s = match materials.iter().position(|&x| x == m) {
                            Some(s) => s,
                            None => {
                                materials.push(m);
                                materials.len() - 1
                            }
                        };
                        Slot::Material(s)
                    }
                    Attenuation::Constant(mu) => Slot::Constant(mu),
                };
                Prepared {
                    primitive: o.primitive,
                    slot,
                    corners: o.primitive.obb_corners(),
                }
            })
            .collect();
        Self { objects, materials }
    }

    /// The materials in slot order.
    pub fn materials(&self) -> &[Material] {
        &self.materials
    }

    /// Exact per-material path lengths of every pixel centre ray of `view`.
    pub fn view_path_lengths(
        &self,
        beam: Beam,
        view: &ViewVectors,
        rows: usize,
        cols: usize,
    ) -> ViewLengths {
        let npix = rows * cols;
        let mut out = ViewLengths {
            lengths: vec![0.0; self.materials.len() * npix],
            constant: vec![0.0; npix],
        };
        let mapper = DetectorMap::new(beam, view, rows, cols);
        // Rays of every pixel centre, computed once per view.
        let rays: Vec<(Vec3, Vec3)> = (0..npix)
            .map(|pix| {
                geometry::ray(
                    beam,
                    view,
                    rows,
                    cols,
                    (pix / cols) as f64,
                    (pix % cols) as f64,
                )
            })
            .collect();
        for obj in &self.objects {
            let Some((r0, r1, c0, c1)) = mapper.footprint(&obj.corners) else {
                continue;
            };
            let prim = &obj.primitive;
            let rot = &prim.rotation;
            // What all rays of the view share (the source, or the direction) is moved
            // into the object's frame once.
            let shared = match beam {
                Beam::Cone => rot.apply_inverse(sub(view.source, prim.center)),
                Beam::Parallel => rot.apply_inverse(rays[0].1),
            };
            for r in r0..=r1 {
                for c in c0..=c1 {
                    let pix = r * cols + c;
                    let (p, d) = rays[pix];
                    let (pl, dl) = match beam {
                        Beam::Cone => (shared, rot.apply_inverse(d)),
                        Beam::Parallel => (rot.apply_inverse(sub(p, prim.center)), shared),
                    };
                    let l = prim.shape.chord_local(pl, dl);
                    if l > 0.0 {
                        match obj.slot {
                            Slot::Material(s) => out.lengths[s * npix + pix] += l,
                            Slot::Constant(mu) => out.constant[pix] += mu * l,
                        }
                    }
                }
            }
        }
        out
    }
}

/// Maps world points to fractional detector `(row, col)` for one view.
struct DetectorMap {
    beam: Beam,
    source: Vec3,
    dir: Vec3,
    center: Vec3,
    u: Vec3,
    v: Vec3,
    normal: Vec3,
    inv_gram: [[f64; 2]; 2],
    rows: usize,
    cols: usize,
}

impl DetectorMap {
    fn new(beam: Beam, view: &ViewVectors, rows: usize, cols: usize) -> Self {
        let u = view.u;
        let v = view.v;
        let normal = super::shapes::cross(u, v);
        let (uu, uv, vv) = (dot(u, u), dot(u, v), dot(v, v));
        let det = uu * vv - uv * uv;
        let inv_gram = [[vv / det, -uv / det], [-uv / det, uu / det]];
        let n = super::shapes::norm(view.source);
        Self {
            beam,
            source: view.source,
            dir: super::shapes::scale(view.source, 1.0 / n),
            center: view.detector_center,
            u,
            v,
            normal,
            inv_gram,
            rows,
            cols,
        }
    }

    /// Fractional `(row, col)` where the ray through `p` meets the detector; `None`
    /// when `p` is not strictly between the source plane and beyond (cone beam) or the
    /// ray is parallel to the detector.
    fn project(&self, p: Vec3) -> Option<(f64, f64)> {
        let hit = match self.beam {
            Beam::Parallel => {
                let denom = dot(self.normal, self.dir);
                if denom.abs() < 1e-12 {
                    return None;
                }
                let t = dot(self.normal, sub(self.center, p)) / denom;
                super::shapes::add(p, super::shapes::scale(self.dir, t))
            }
            Beam::Cone => {
                let sp = sub(p, self.source);
                let denom = dot(self.normal, sp);
                let num = dot(self.normal, sub(self.center, self.source));
                // p must lie on the detector's side of the source.
                if denom.abs() < 1e-12 || num / denom <= 0.0 {
                    return None;
                }
                let t = num / denom;
                super::shapes::add(self.source, super::shapes::scale(sp, t))
            }
        };
        let w = sub(hit, self.center);
        let (bu, bv) = (dot(self.u, w), dot(self.v, w));
        let a = self.inv_gram[0][0] * bu + self.inv_gram[0][1] * bv;
        let b = self.inv_gram[1][0] * bu + self.inv_gram[1][1] * bv;
        let col = a + (self.cols as f64 - 1.0) / 2.0;
        let row = b + (self.rows as f64 - 1.0) / 2.0;
        Some((row, col))
    }

    /// Inclusive pixel rectangle `(r0, r1, c0, c1)` that holds every pixel whose ray
    /// may cross the box with these corners; `None` if it misses the detector.
    fn footprint(&self, corners: &[Vec3; 8]) -> Option<(usize, usize, usize, usize)> {
        let (mut rmin, mut rmax, mut cmin, mut cmax) = (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        );
        for &p in corners {
            match self.project(p) {
                Some((r, c)) if r.is_finite() && c.is_finite() => {
                    rmin = rmin.min(r);
                    rmax = rmax.max(r);
                    cmin = cmin.min(c);
                    cmax = cmax.max(c);
                }
                _ => return Some((0, self.rows - 1, 0, self.cols - 1)),
            }
        }
        let clamp = |lo: f64, hi: f64, n: usize| -> Option<(usize, usize)> {
            let lo = lo.floor();
            let hi = hi.ceil();
            if hi < 0.0 || lo > (n - 1) as f64 {
                return None;
            }
            Some((lo.max(0.0) as usize, hi.min((n - 1) as f64) as usize))
        };
        let (r0, r1) = clamp(rmin, rmax, self.rows)?;
        let (c0, c1) = clamp(cmin, cmax, self.cols)?;
        Some((r0, r1, c0, c1))
    }
}
