//! Analytic phantoms with exact line integrals, for reconstruction tests.
#![allow(dead_code)]

use ctscreen::geometry::{ray, Geometry};
use ndarray::{Array2, Array3};

/// A solid shape of constant μ.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    /// Ellipsoid: centre and semi-axes `(z, y, x)` mm, rotated by `angle` (rad) about z.
    Ellipsoid {
        centre: [f64; 3],
        axes: [f64; 3],
        angle: f64,
    },
    /// Cylinder along z: centre `(z, y, x)`, radius and half length, mm.
    Cylinder {
        centre: [f64; 3],
        radius: f64,
        half_length: f64,
    },
}

/// A shape with its attenuation (added to whatever lies beneath), mm⁻¹.
#[derive(Debug, Clone, Copy)]
pub struct Object {
    pub shape: Shape,
    pub mu: f64,
}

pub fn ellipsoid(centre: [f64; 3], axes: [f64; 3], angle: f64, mu: f64) -> Object {
    Object {
        shape: Shape::Ellipsoid {
            centre,
            axes,
            angle,
        },
        mu,
    }
}

pub fn cylinder(centre: [f64; 3], radius: f64, half_length: f64, mu: f64) -> Object {
    Object {
        shape: Shape::Cylinder {
            centre,
            radius,
            half_length,
        },
        mu,
    }
}

/// Roots interval of `A t² + 2 B t + C ≤ 0`, if any.
fn quad(a: f64, b: f64, c: f64) -> Option<(f64, f64)> {
    if a <= 0.0 {
        return None;
    }
    let disc = b * b - a * c;
    if disc <= 0.0 {
        return None;
    }
    let r = disc.sqrt();
    Some(((-b - r) / a, (-b + r) / a))
}

impl Shape {
    /// Length of the line `p + t d` (`d` unit, `(z, y, x)`) inside the shape.
    pub fn chord(&self, p: [f64; 3], d: [f64; 3]) -> f64 {
        match *self {
            Shape::Ellipsoid {
                centre,
                axes,
                angle,
            } => {
                let (s, c) = angle.sin_cos();
                let q = [p[0] - centre[0], p[1] - centre[1], p[2] - centre[2]];
                // Into the ellipsoid frame (rotate by −angle about z), then scale.
                let tf = |v: [f64; 3]| {
                    [
                        v[0] / axes[0],
                        (-s * v[2] + c * v[1]) / axes[1],
                        (c * v[2] + s * v[1]) / axes[2],
                    ]
                };
                let (mq, md) = (tf(q), tf(d));
                let dot = |a: [f64; 3], b: [f64; 3]| a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
                quad(dot(md, md), dot(mq, md), dot(mq, mq) - 1.0).map_or(0.0, |(t0, t1)| t1 - t0)
            }
            Shape::Cylinder {
                centre,
                radius,
                half_length,
            } => {
                let q = [p[0] - centre[0], p[1] - centre[1], p[2] - centre[2]];
                let Some((mut t0, mut t1)) = quad(
                    d[1] * d[1] + d[2] * d[2],
                    q[1] * d[1] + q[2] * d[2],
                    q[1] * q[1] + q[2] * q[2] - radius * radius,
                ) else {
                    return 0.0;
                };
                if d[0].abs() > 1e-12 {
                    let (a, b) = ((-half_length - q[0]) / d[0], (half_length - q[0]) / d[0]);
                    t0 = t0.max(a.min(b));
                    t1 = t1.min(a.max(b));
                } else if q[0].abs() > half_length {
                    return 0.0;
                }
                (t1 - t0).max(0.0)
            }
        }
    }

    /// Whether world point `p` `(z, y, x)` is inside.
    pub fn contains(&self, p: [f64; 3]) -> bool {
        match *self {
            Shape::Ellipsoid {
                centre,
                axes,
                angle,
            } => {
                let (s, c) = angle.sin_cos();
                let q = [p[0] - centre[0], p[1] - centre[1], p[2] - centre[2]];
                let e = [
                    q[0] / axes[0],
                    (-s * q[2] + c * q[1]) / axes[1],
                    (c * q[2] + s * q[1]) / axes[2],
                ];
                e[0] * e[0] + e[1] * e[1] + e[2] * e[2] <= 1.0
            }
            Shape::Cylinder {
                centre,
                radius,
                half_length,
            } => {
                let q = [p[0] - centre[0], p[1] - centre[1], p[2] - centre[2]];
                q[1] * q[1] + q[2] * q[2] <= radius * radius && q[0].abs() <= half_length
            }
        }
    }
}

/// Exact line integrals of `objects` for every pixel of `geometry`, `(views, rows, cols)`.
pub fn project(geometry: &Geometry, objects: &[Object]) -> Array3<f32> {
    let views = geometry.view_vectors();
    let (rows, cols) = geometry.detector_shape();
    let beam = geometry.beam();
    Array3::from_shape_fn((views.len(), rows, cols), |(v, r, c)| {
        let (p, d) = ray(beam, &views[v], rows, cols, r as f64, c as f64);
        objects
            .iter()
            .map(|o| o.mu * o.shape.chord(p, d))
            .sum::<f64>() as f32
    })
}

/// A 2D sinogram `(views, cols)` of a one-row geometry.
pub fn sinogram(geometry: &Geometry, objects: &[Object]) -> Array2<f32> {
    let p = project(geometry, objects);
    p.index_axis_move(ndarray::Axis(1), 0)
}

/// μ on a centred grid, averaged over `sub³` sub-samples per voxel.
pub fn voxelize(
    objects: &[Object],
    shape: [usize; 3],
    spacing: [f64; 3],
    sub: usize,
) -> Array3<f32> {
    let origin: Vec<f64> = (0..3)
        .map(|a| -(shape[a] as f64 - 1.0) / 2.0 * spacing[a])
        .collect();
    Array3::from_shape_fn(shape, |(k, j, i)| {
        let mut total = 0.0;
        let subs: Vec<f64> = (0..sub)
            .map(|s| (s as f64 + 0.5) / sub as f64 - 0.5)
            .collect();
        let zsubs: &[f64] = if shape[0] == 1 { &[0.0] } else { &subs };
        for &a in zsubs {
            for &b in &subs {
                for &c in &subs {
                    let p = [
                        origin[0] + (k as f64 + a) * spacing[0],
                        origin[1] + (j as f64 + b) * spacing[1],
                        origin[2] + (i as f64 + c) * spacing[2],
                    ];
                    total += objects
                        .iter()
                        .filter(|o| o.shape.contains(p))
                        .map(|o| o.mu)
                        .sum::<f64>();
                }
            }
        }
        (total / (zsubs.len() * subs.len() * subs.len()) as f64) as f32
    })
}

/// Root mean square of `a − b` over the voxels where `mask` holds.
pub fn rmse_where<'a>(
    a: impl IntoIterator<Item = &'a f32>,
    b: impl IntoIterator<Item = &'a f32>,
    mask: impl IntoIterator<Item = bool>,
) -> f64 {
    let mut s = 0.0;
    let mut n = 0usize;
    for ((x, y), m) in a.into_iter().zip(b).zip(mask) {
        if m {
            s += (f64::from(*x) - f64::from(*y)).powi(2);
            n += 1;
        }
    }
    (s / n.max(1) as f64).sqrt()
}

/// The 2D Shepp–Logan head phantom (modified contrast), scaled to `radius` mm along y,
/// with μ in mm⁻¹ (`mu_scale` × the usual grey levels). Axes `(z, y, x)`, z extent `half_z`.
pub fn shepp_logan(radius: f64, mu_scale: f64, half_z: f64) -> Vec<Object> {
    // (value, a (x), b (y), x0, y0, phi degrees)
    let table = [
        (1.0, 0.69, 0.92, 0.0, 0.0, 0.0),
        (-0.8, 0.6624, 0.874, 0.0, -0.0184, 0.0),
        (-0.2, 0.11, 0.31, 0.22, 0.0, -18.0),
        (-0.2, 0.16, 0.41, -0.22, 0.0, 18.0),
        (0.1, 0.21, 0.25, 0.0, 0.35, 0.0),
        (0.1, 0.046, 0.046, 0.0, 0.1, 0.0),
        (0.1, 0.046, 0.046, 0.0, -0.1, 0.0),
        (0.1, 0.046, 0.023, -0.08, -0.605, 0.0),
        (0.1, 0.023, 0.023, 0.0, -0.606, 0.0),
        (0.1, 0.023, 0.046, 0.06, -0.605, 0.0),
    ];
    table
        .iter()
        .map(|&(v, a, b, x0, y0, phi)| {
            ellipsoid(
                [0.0, y0 * radius, x0 * radius],
                [half_z, b * radius, a * radius],
                f64::to_radians(phi),
                v * mu_scale,
            )
        })
        .collect()
}
