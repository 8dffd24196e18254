//! Analytic primitives with exact line integrals.
//!
//! Every primitive is a [`Shape`] given in its own local frame (axes `(z, y, x)`,
//! centred on the origin) placed in the world by a [`Primitive`]: a centre (world
//! `(z, y, x)` mm) and a [`Rotation`] mapping local vectors to world vectors,
//! `world = center + R · local`. Cylinders and tubes have their axis along local z
//! (index 0).
//!
//! [`Primitive::chord`] returns the exact length (mm) of the intersection of an
//! infinite line with the solid, in closed form: a quadratic for the quadric surfaces,
//! slabs for the planes.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A 3-vector in world or local `(z, y, x)` order, millimetres.
pub type Vec3 = [f64; 3];

/// Below this magnitude a direction component counts as zero (the ray is parallel to
/// a slab or to a cylinder axis).
const PARALLEL_EPS: f64 = 1e-12;

pub(crate) fn dot(a: Vec3, b: Vec3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

pub(crate) fn sub(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

pub(crate) fn add(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

pub(crate) fn scale(a: Vec3, s: f64) -> Vec3 {
    [a[0] * s, a[1] * s, a[2] * s]
}

pub(crate) fn norm(a: Vec3) -> f64 {
    dot(a, a).sqrt()
}

/// The physical (right-handed) cross product of two vectors stored in `(z, y, x)` order.
pub(crate) fn cross(a: Vec3, b: Vec3) -> Vec3 {
    let (az, ay, ax) = (a[0], a[1], a[2]);
    let (bz, by, bx) = (b[0], b[1], b[2]);
    let cx = ay * bz - az * by;
    let cy = az * bx - ax * bz;
    let cz = ax * by - ay * bx;
    [cz, cy, cx]
}

/// A proper rotation (orthonormal, determinant +1) mapping local vectors to world
/// vectors: `world = m · local`, both in `(z, y, x)` order. Column `a` of `m` is the
/// world direction of local axis `a`. Rotations follow the right-hand rule about
/// physical axes: [`Rotation::about_z`] by +90° turns +x into +y.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rotation {
    /// The matrix, `m[row][col]`, rows and columns in `(z, y, x)` order.
    pub m: [[f64; 3]; 3],
}

impl Default for Rotation {
    fn default() -> Self {
        Self::IDENTITY
    }
}

impl Rotation {
    /// No rotation.
    pub const IDENTITY: Rotation = Rotation {
        m: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
    };

    /// Wraps a matrix after checking that it is a proper rotation (orthonormal to 1e-6,
    /// determinant +1).
    ///
    /// **Errors** if it is not.
    pub fn from_matrix(m: [[f64; 3]; 3]) -> Result<Self> {
        for a in 0..3 {
            for b in 0..3 {
                let d: f64 = (0..3).map(|r| m[r][a] * m[r][b]).sum();
                let want = if a == b { 1.0 } else { 0.0 };
                if !d.is_finite() || (d - want).abs() > 1e-6 {
                    return Err(Error::invalid(
                        "rotation",
                        format!("{m:?}"),
                        "an orthonormal 3×3 matrix",
                    ));
                }
            }
        }
        let r = Rotation { m };
        // Right-handed: the world images of local x and y satisfy x × y = z.
        let handed = dot(r.column(0), cross(r.column(2), r.column(1)));
        if (handed - 1.0).abs() > 1e-6 {
            return Err(Error::invalid(
                "rotation",
                format!("{m:?}"),
                "a proper rotation (determinant +1), not a reflection",
            ));
        }
        Ok(r)
    }

    /// Column `a`: the world direction of local axis `a` (0 = z, 1 = y, 2 = x).
    pub fn column(&self, a: usize) -> Vec3 {
        [self.m[0][a], self.m[1][a], self.m[2][a]]
    }

    /// Rotation by `angle` radians about the (normalised) world direction `axis`
    /// (Rodrigues' formula, right-hand rule). A zero or non-finite axis gives the
    /// identity.
    pub fn about_axis(axis: Vec3, angle: f64) -> Self {
        let n = norm(axis);
        if !(n.is_finite() && n > 0.0 && angle.is_finite()) {
            return Self::IDENTITY;
        }
        let k = scale(axis, 1.0 / n);
        let (s, c) = angle.sin_cos();
        let mut m = [[0.0; 3]; 3];
        for col in 0..3 {
            let mut e = [0.0; 3];
            e[col] = 1.0;
            let kxe = cross(k, e);
            let kd = dot(k, e);
            for row in 0..3 {
                m[row][col] = e[row] * c + kxe[row] * s + k[row] * kd * (1.0 - c);
            }
        }
        Rotation { m }
    }

    /// Rotation by `angle` radians about world z (turns +x towards +y).
    pub fn about_z(angle: f64) -> Self {
        Self::about_axis([1.0, 0.0, 0.0], angle)
    }

    /// Rotation by `angle` radians about world y (turns +z towards +x).
    pub fn about_y(angle: f64) -> Self {
        Self::about_axis([0.0, 1.0, 0.0], angle)
    }

    /// Rotation by `angle` radians about world x (turns +y towards +z).
    pub fn about_x(angle: f64) -> Self {
        Self::about_axis([0.0, 0.0, 1.0], angle)
    }

    /// Intrinsic Euler angles z-y'-x'' (yaw about z, then pitch about the new y, then
    /// roll about the newest x), radians: `R = Rz(yaw) · Ry(pitch) · Rx(roll)`.
    pub fn from_euler_zyx(yaw: f64, pitch: f64, roll: f64) -> Self {
        Self::about_z(yaw)
            .then(&Self::about_y(pitch))
            .then(&Self::about_x(roll))
    }

    /// The rotation of smallest angle that maps local axis `local_axis` (0 = z, 1 = y,
    /// 2 = x) onto the world direction `direction` (normalised here). A zero or
    /// non-finite direction gives the identity.
    pub fn align_axis(local_axis: usize, direction: Vec3) -> Self {
        let n = norm(direction);
        if !(n.is_finite() && n > 0.0) || local_axis > 2 {
            return Self::IDENTITY;
        }
        let d = scale(direction, 1.0 / n);
        let mut e = [0.0; 3];
        e[local_axis] = 1.0;
        let c = dot(e, d).clamp(-1.0, 1.0);
        let axis = cross(e, d);
        if norm(axis) < 1e-12 {
            if c > 0.0 {
                return Self::IDENTITY;
            }
            // Opposite: turn by π about any axis perpendicular to e.
            let mut p = [0.0; 3];
            p[(local_axis + 1) % 3] = 1.0;
            return Self::about_axis(p, std::f64::consts::PI);
        }
        Self::about_axis(axis, c.acos())
    }

    /// A rotation from a unit quaternion `(w, x, y, z)` (normalised here).
    pub fn from_quaternion(w: f64, x: f64, y: f64, z: f64) -> Self {
        let n = (w * w + x * x + y * y + z * z).sqrt();
        if !(n.is_finite() && n > 0.0) {
            return Self::IDENTITY;
        }
        let (w, x, y, z) = (w / n, x / n, y / n, z / n);
        // Standard matrix in (x, y, z) order, then permuted to (z, y, x).
        let r = [
            [
                1.0 - 2.0 * (y * y + z * z),
                2.0 * (x * y - w * z),
                2.0 * (x * z + w * y),
            ],
            [
                2.0 * (x * y + w * z),
                1.0 - 2.0 * (x * x + z * z),
                2.0 * (y * z - w * x),
            ],
            [
                2.0 * (x * z - w * y),
                2.0 * (y * z + w * x),
                1.0 - 2.0 * (x * x + y * y),
            ],
        ];
        let p = [2usize, 1, 0];
        let mut m = [[0.0; 3]; 3];
        for i in 0..3 {
            for j in 0..3 {
                m[i][j] = r[p[i]][p[j]];
            }
        }
        Rotation { m }
    }

    /// A rotation drawn uniformly from SO(3) (Shoemake's method, three uniforms).
    pub fn random<R: Rng + ?Sized>(rng: &mut R) -> Self {
        let u1: f64 = rng.random();
        let u2: f64 = rng.random();
        let u3: f64 = rng.random();
        let tau = std::f64::consts::TAU;
        let a = (1.0 - u1).sqrt();
        let b = u1.sqrt();
        Self::from_quaternion(
            a * (tau * u2).sin(),
            a * (tau * u2).cos(),
            b * (tau * u3).sin(),
            b * (tau * u3).cos(),
        )
    }

    /// The composition `self · other`: apply `other` first, then `self`.
    pub fn then(&self, other: &Rotation) -> Rotation {
        let mut m = [[0.0; 3]; 3];
        for i in 0..3 {
            for j in 0..3 {
                m[i][j] = (0..3).map(|k| self.m[i][k] * other.m[k][j]).sum();
            }
        }
        Rotation { m }
    }

    /// The inverse rotation (the transpose).
    pub fn inverse(&self) -> Rotation {
        let mut m = [[0.0; 3]; 3];
        for i in 0..3 {
            for j in 0..3 {
                m[i][j] = self.m[j][i];
            }
        }
        Rotation { m }
    }

    /// `m · v`: a local vector expressed in the world.
    pub fn apply(&self, v: Vec3) -> Vec3 {
        [dot(self.m[0], v), dot(self.m[1], v), dot(self.m[2], v)]
    }

    /// `mᵀ · v`: a world vector expressed in the local frame.
    pub fn apply_inverse(&self, v: Vec3) -> Vec3 {
        [
            self.m[0][0] * v[0] + self.m[1][0] * v[1] + self.m[2][0] * v[2],
            self.m[0][1] * v[0] + self.m[1][1] * v[1] + self.m[2][1] * v[2],
            self.m[0][2] * v[0] + self.m[1][2] * v[1] + self.m[2][2] * v[2],
        ]
    }
}

/// A solid in its local frame, centred on the local origin; sizes in mm.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Shape {
    /// Ellipsoid with semi-axes along local `(z, y, x)`.
    Ellipsoid {
        /// Semi-axes `(a_z, a_y, a_x)`, mm.
        semi_axes: Vec3,
    },
    /// Rectangular box (cuboid).
    Cuboid {
        /// Half sizes along local `(z, y, x)`, mm.
        half_extents: Vec3,
    },
    /// Finite, capped cylinder with its axis along local z; the cross-section may be
    /// elliptic.
    Cylinder {
        /// Semi-axis of the cross-section along local y, mm.
        radius_y: f64,
        /// Semi-axis of the cross-section along local x, mm.
        radius_x: f64,
        /// Half the length along local z, mm.
        half_length: f64,
    },
    /// A hollow tube: a circular cylinder minus a coaxial cylinder of the same length
    /// (open ends, so a bore runs right through).
    Tube {
        /// Outer radius, mm.
        outer_radius: f64,
        /// Inner (bore) radius, mm; `0 ≤ inner < outer`.
        inner_radius: f64,
        /// Half the length along local z, mm.
        half_length: f64,
    },
}

impl Shape {
    /// A sphere of `radius` mm.
    pub fn sphere(radius: f64) -> Self {
        Shape::Ellipsoid {
            semi_axes: [radius; 3],
        }
    }
    /// An ellipsoid with semi-axes `(a_z, a_y, a_x)` mm.
    pub fn ellipsoid(a_z: f64, a_y: f64, a_x: f64) -> Self {
        Shape::Ellipsoid {
            semi_axes: [a_z, a_y, a_x],
        }
    }
    /// A box of full sizes `(size_z, size_y, size_x)` mm.
    pub fn cuboid(size_z: f64, size_y: f64, size_x: f64) -> Self {
        Shape::Cuboid {
            half_extents: [size_z / 2.0, size_y / 2.0, size_x / 2.0],
        }
    }
    /// A circular cylinder of `radius` mm and full `length` mm along local z.
    pub fn cylinder(radius: f64, length: f64) -> Self {
        Shape::Cylinder {
            radius_y: radius,
            radius_x: radius,
            half_length: length / 2.0,
        }
    }
    /// A tube of outer and inner radius (mm) and full `length` mm along local z.
    pub fn tube(outer_radius: f64, inner_radius: f64, length: f64) -> Self {
        Shape::Tube {
            outer_radius,
            inner_radius,
            half_length: length / 2.0,
        }
    }

    /// Checks that every size is finite and positive (a tube's inner radius may be
    /// zero and must be below the outer radius).
    ///
    /// **Errors** naming the bad size.
    pub fn validate(&self) -> Result<()> {
        let pos = |name: &str, v: f64| -> Result<()> {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(Error::invalid(name, v, "a finite size > 0 mm"))
            }
        };
        match *self {
            Shape::Ellipsoid { semi_axes } => semi_axes
                .iter()
                .try_for_each(|&a| pos("ellipsoid semi-axis", a)),
            Shape::Cuboid { half_extents } => half_extents
                .iter()
                .try_for_each(|&a| pos("cuboid half-extent", a)),
            Shape::Cylinder {
                radius_y,
                radius_x,
                half_length,
            } => {
                pos("cylinder radius_y", radius_y)?;
                pos("cylinder radius_x", radius_x)?;
                pos("cylinder half_length", half_length)
            }
            Shape::Tube {
                outer_radius,
                inner_radius,
                half_length,
            } => {
                pos("tube outer_radius", outer_radius)?;
                pos("tube half_length", half_length)?;
                if !(inner_radius.is_finite() && inner_radius >= 0.0 && inner_radius < outer_radius)
                {
                    return Err(Error::invalid(
                        "tube inner_radius",
                        inner_radius,
                        format!("0 ≤ inner_radius < outer_radius = {outer_radius} mm"),
                    ));
                }
                Ok(())
            }
        }
    }

    /// Half sizes of the local bounding box `(z, y, x)`, mm.
    pub fn half_extents(&self) -> Vec3 {
        match *self {
            Shape::Ellipsoid { semi_axes } => semi_axes,
            Shape::Cuboid { half_extents } => half_extents,
            Shape::Cylinder {
                radius_y,
                radius_x,
                half_length,
            } => [half_length, radius_y, radius_x],
            Shape::Tube {
                outer_radius,
                half_length,
                ..
            } => [half_length, outer_radius, outer_radius],
        }
    }

    /// Volume of the solid in mm³.
    pub fn volume_mm3(&self) -> f64 {
        use std::f64::consts::PI;
        match *self {
            Shape::Ellipsoid { semi_axes: a } => 4.0 / 3.0 * PI * a[0] * a[1] * a[2],
            Shape::Cuboid { half_extents: h } => 8.0 * h[0] * h[1] * h[2],
            Shape::Cylinder {
                radius_y,
                radius_x,
                half_length,
            } => PI * radius_y * radius_x * 2.0 * half_length,
            Shape::Tube {
                outer_radius,
                inner_radius,
                half_length,
            } => PI * (outer_radius.powi(2) - inner_radius.powi(2)) * 2.0 * half_length,
        }
    }

    /// True if the local point `p` lies inside (or on) the solid.
    pub fn contains_local(&self, p: Vec3) -> bool {
        match *self {
            Shape::Ellipsoid { semi_axes: a } => {
                (p[0] / a[0]).powi(2) + (p[1] / a[1]).powi(2) + (p[2] / a[2]).powi(2) <= 1.0
            }
            Shape::Cuboid { half_extents: h } => {
                p[0].abs() <= h[0] && p[1].abs() <= h[1] && p[2].abs() <= h[2]
            }
            Shape::Cylinder {
                radius_y,
                radius_x,
                half_length,
            } => {
                p[0].abs() <= half_length
                    && (p[1] / radius_y).powi(2) + (p[2] / radius_x).powi(2) <= 1.0
            }
            Shape::Tube {
                outer_radius,
                inner_radius,
                half_length,
            } => {
                let r2 = p[1] * p[1] + p[2] * p[2];
                p[0].abs() <= half_length
                    && r2 <= outer_radius * outer_radius
                    && r2 >= inner_radius * inner_radius
            }
        }
    }

    /// Exact chord length (mm) of the line `p + t d` (local frame, `d` of unit length)
    /// through the solid.
    pub fn chord_local(&self, p: Vec3, d: Vec3) -> f64 {
        match *self {
            Shape::Ellipsoid { semi_axes: a } => {
                let q = [p[0] / a[0], p[1] / a[1], p[2] / a[2]];
                let e = [d[0] / a[0], d[1] / a[1], d[2] / a[2]];
                let aa = dot(e, e);
                let h = dot(q, e);
                let c = dot(q, q) - 1.0;
                let disc = h * h - aa * c;
                if disc <= 0.0 {
                    0.0
                } else {
                    2.0 * disc.sqrt() / aa
                }
            }
            Shape::Cuboid { half_extents: h } => {
                let mut t0 = f64::NEG_INFINITY;
                let mut t1 = f64::INFINITY;
                for i in 0..3 {
                    if d[i].abs() < PARALLEL_EPS {
                        if p[i].abs() > h[i] {
                            return 0.0;
                        }
                    } else {
                        let a = (-h[i] - p[i]) / d[i];
                        let b = (h[i] - p[i]) / d[i];
                        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
                        t0 = t0.max(lo);
                        t1 = t1.min(hi);
                    }
                }
                (t1 - t0).max(0.0)
            }
            Shape::Cylinder {
                radius_y,
                radius_x,
                half_length,
            } => {
                let Some((r0, r1)) = radial_interval(p, d, radius_y, radius_x) else {
                    return 0.0;
                };
                let Some((z0, z1)) = slab_interval(p[0], d[0], half_length) else {
                    return 0.0;
                };
                (r1.min(z1) - r0.max(z0)).max(0.0)
            }
            Shape::Tube {
                outer_radius,
                inner_radius,
                half_length,
            } => {
                let Some((z0, z1)) = slab_interval(p[0], d[0], half_length) else {
                    return 0.0;
                };
                let Some((o0, o1)) = radial_interval(p, d, outer_radius, outer_radius) else {
                    return 0.0;
                };
                let outer = (o1.min(z1) - o0.max(z0)).max(0.0);
                if inner_radius <= 0.0 || outer == 0.0 {
                    return outer;
                }
                let inner = match radial_interval(p, d, inner_radius, inner_radius) {
                    Some((i0, i1)) => (i1.min(z1) - i0.max(z0)).max(0.0),
                    None => 0.0,
                };
                (outer - inner).max(0.0)
            }
        }
    }
}

/// Parameter interval where the line lies inside the infinite elliptic cylinder
/// `(y/ry)² + (x/rx)² ≤ 1`; `None` if it misses.
fn radial_interval(p: Vec3, d: Vec3, ry: f64, rx: f64) -> Option<(f64, f64)> {
    let qy = p[1] / ry;
    let qx = p[2] / rx;
    let ey = d[1] / ry;
    let ex = d[2] / rx;
    let a = ey * ey + ex * ex;
    let c = qy * qy + qx * qx - 1.0;
    if a < PARALLEL_EPS * PARALLEL_EPS {
        return if c <= 0.0 {
            Some((f64::NEG_INFINITY, f64::INFINITY))
        } else {
            None
        };
    }
    let h = qy * ey + qx * ex;
    let disc = h * h - a * c;
    if disc <= 0.0 {
        return None;
    }
    let s = disc.sqrt();
    // Numerically stable roots of a t² + 2 h t + c = 0.
    let q = -(h + h.signum() * s);
    let (t0, t1) = if q == 0.0 {
        (-s / a, s / a)
    } else {
        let r0 = q / a;
        let r1 = c / q;
        if r0 < r1 {
            (r0, r1)
        } else {
            (r1, r0)
        }
    };
    Some((t0, t1))
}

/// Parameter interval where `|p + t d| ≤ h` along one axis; `None` if never.
fn slab_interval(p: f64, d: f64, h: f64) -> Option<(f64, f64)> {
    if d.abs() < PARALLEL_EPS {
        return if p.abs() <= h {
            Some((f64::NEG_INFINITY, f64::INFINITY))
        } else {
            None
        };
    }
    let a = (-h - p) / d;
    let b = (h - p) / d;
    Some(if a < b { (a, b) } else { (b, a) })
}

/// A [`Shape`] placed in the world.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Primitive {
    /// The solid in its local frame.
    pub shape: Shape,
    /// World position `(z, y, x)` mm of the local origin.
    pub center: Vec3,
    /// Local → world rotation.
    pub rotation: Rotation,
}

impl Primitive {
    /// Places `shape` at `center` (world `(z, y, x)` mm) with `rotation`.
    ///
    /// **Errors** if the shape has a non-positive or non-finite size or the centre is
    /// not finite.
    ///
    /// # Example
    /// ```
    /// use ctscreen::phantom::{Primitive, Rotation, Shape};
    /// let s = Primitive::new(Shape::sphere(10.0), [0.0; 3], Rotation::IDENTITY).unwrap();
    /// // A line through the centre crosses the full diameter.
    /// assert!((s.chord([0.0, 0.0, -50.0], [0.0, 0.0, 1.0]) - 20.0).abs() < 1e-12);
    /// ```
    pub fn new(shape: Shape, center: Vec3, rotation: Rotation) -> Result<Self> {
        shape.validate()?;
        if center.iter().any(|c| !c.is_finite()) {
            return Err(Error::invalid(
                "center",
                format!("{center:?}"),
                "three finite coordinates in mm",
            ));
        }
        Ok(Self {
            shape,
            center,
            rotation,
        })
    }

    /// Exact chord length (mm) of the infinite line through world `point` along the
    /// unit world direction `dir`.
    pub fn chord(&self, point: Vec3, dir: Vec3) -> f64 {
        let p = self.rotation.apply_inverse(sub(point, self.center));
        let d = self.rotation.apply_inverse(dir);
        self.shape.chord_local(p, d)
    }

    /// True if the world point lies inside (or on) the solid.
    pub fn contains(&self, point: Vec3) -> bool {
        let p = self.rotation.apply_inverse(sub(point, self.center));
        self.shape.contains_local(p)
    }

    /// The tight axis-aligned world bounding box `[min, max]`, `(z, y, x)` mm.
    pub fn aabb(&self) -> [Vec3; 2] {
        let m = &self.rotation.m;
        let mut half = [0.0; 3];
        for i in 0..3 {
            half[i] = match self.shape {
                Shape::Ellipsoid { semi_axes: a } => {
                    (0..3).map(|j| (m[i][j] * a[j]).powi(2)).sum::<f64>().sqrt()
                }
                Shape::Cuboid { half_extents: h } => (0..3).map(|j| (m[i][j] * h[j]).abs()).sum(),
                Shape::Cylinder {
                    radius_y,
                    radius_x,
                    half_length,
                } => {
                    (m[i][0] * half_length).abs()
                        + ((m[i][1] * radius_y).powi(2) + (m[i][2] * radius_x).powi(2)).sqrt()
                }
                Shape::Tube {
                    outer_radius,
                    half_length,
                    ..
                } => {
                    (m[i][0] * half_length).abs()
                        + outer_radius * (m[i][1].powi(2) + m[i][2].powi(2)).sqrt()
                }
            };
        }
        [sub(self.center, half), add(self.center, half)]
    }

    /// The 8 world corners of the oriented bounding box (local half extents rotated).
    pub fn obb_corners(&self) -> [Vec3; 8] {
        let h = self.shape.half_extents();
        let mut out = [[0.0; 3]; 8];
        for (k, c) in out.iter_mut().enumerate() {
            let s = [
                if k & 1 == 0 { -1.0 } else { 1.0 },
                if k & 2 == 0 { -1.0 } else { 1.0 },
                if k & 4 == 0 { -1.0 } else { 1.0 },
            ];
            let local = [s[0] * h[0], s[1] * h[1], s[2] * h[2]];
            *c = add(self.center, self.rotation.apply(local));
        }
        out
    }

    /// True if the oriented bounding boxes of `self` and `other`, each grown by
    /// `margin` mm, intersect (separating-axis test over the 15 candidate axes).
    /// Conservative for every shape: disjoint boxes mean disjoint solids.
    pub fn obb_overlaps(&self, other: &Primitive, margin: f64) -> bool {
        let ha = self.shape.half_extents().map(|h| h + margin);
        let hb = other.shape.half_extents().map(|h| h + margin);
        let a_axes = [
            self.rotation.column(0),
            self.rotation.column(1),
            self.rotation.column(2),
        ];
        let b_axes = [
            other.rotation.column(0),
            other.rotation.column(1),
            other.rotation.column(2),
        ];
        let t = sub(other.center, self.center);
        let separated = |axis: Vec3| -> bool {
            let n = norm(axis);
            if n < 1e-9 {
                return false;
            }
            let ra: f64 = (0..3).map(|i| ha[i] * dot(a_axes[i], axis).abs()).sum();
            let rb: f64 = (0..3).map(|i| hb[i] * dot(b_axes[i], axis).abs()).sum();
            dot(t, axis).abs() > ra + rb
        };
        for ax in a_axes.iter().chain(b_axes.iter()) {
            if separated(*ax) {
                return false;
            }
        }
        for a in &a_axes {
            for b in &b_axes {
                if separated(cross(*a, *b)) {
                    return false;
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_pcg::Pcg64;

    #[test]
    fn rotations_are_proper_and_follow_the_right_hand_rule() {
        let r = Rotation::about_z(std::f64::consts::FRAC_PI_2);
        let x = [0.0, 0.0, 1.0];
        let y = r.apply(x);
        assert!((y[1] - 1.0).abs() < 1e-12, "{y:?}");
        let r = Rotation::about_x(std::f64::consts::FRAC_PI_2);
        let z = r.apply([0.0, 1.0, 0.0]);
        assert!((z[0] - 1.0).abs() < 1e-12, "{z:?}");
        let mut rng = Pcg64::seed_from_u64(3);
        for _ in 0..50 {
            let r = Rotation::random(&mut rng);
            assert!(Rotation::from_matrix(r.m).is_ok());
            let back = r.then(&r.inverse());
            for i in 0..3 {
                for j in 0..3 {
                    let want = if i == j { 1.0 } else { 0.0 };
                    assert!((back.m[i][j] - want).abs() < 1e-12);
                }
            }
        }
        let d = [0.3, -0.4, 0.5];
        let a = Rotation::align_axis(0, d);
        let got = a.apply([1.0, 0.0, 0.0]);
        for i in 0..3 {
            assert!((got[i] - d[i] / norm(d)).abs() < 1e-12);
        }
        let reflect = [[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        assert!(Rotation::from_matrix(reflect).is_err());
    }

    #[test]
    fn bad_sizes_are_named() {
        let e =
            Primitive::new(Shape::tube(5.0, 6.0, 10.0), [0.0; 3], Rotation::IDENTITY).unwrap_err();
        assert!(e.to_string().contains("inner_radius"), "{e}");
        let e = Primitive::new(Shape::sphere(f64::NAN), [0.0; 3], Rotation::IDENTITY).unwrap_err();
        assert!(e.to_string().contains("semi-axis"), "{e}");
    }
}
