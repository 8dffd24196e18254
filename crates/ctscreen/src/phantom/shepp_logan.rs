//! Shepp–Logan head phantoms with exact projections.
//!
//! Both are sums of constant-μ ellipses/ellipsoids ([`Attenuation::Constant`], the
//! same μ at every energy). Coordinates of the published tables live in the unit cube
//! `[-1, 1]³` and are scaled by `radius_mm`; table x, y, z map to world x, y, z, and
//! the tables' rotation angle φ turns about world z (x towards y).
//!
//! * 2D: the "modified" phantom (Toft's intensities 1, −0.8, −0.2, −0.2, 0.1 × 6, as in
//!   P. Toft, *The Radon Transform*, 1996), the ellipses extruded along z as elliptic
//!   cylinders of length `4 · radius_mm`, so slices and single-row detectors near
//!   `z = 0` see the 2D phantom. μ = value × [`SHEPP_LOGAN_2D_MU_SCALE`]: the brain
//!   region (1 − 0.8 = 0.2) becomes 0.02 mm⁻¹, water-like.
//! * 3D: the ellipsoids of Kak & Slaney (*Principles of Computerized Tomographic
//!   Imaging*, 1988, the 3D Shepp–Logan table with gray levels 2, −0.98, −0.02 …).
//!   μ = value × [`SHEPP_LOGAN_3D_MU_SCALE`]: the brain (2 − 0.98 = 1.02) becomes
//!   0.0204 mm⁻¹.

use super::shapes::{Primitive, Rotation, Shape};
use super::{Attenuation, ObjectClass, Phantom};

/// μ in mm⁻¹ per unit of the 2D modified Shepp–Logan values.
pub const SHEPP_LOGAN_2D_MU_SCALE: f64 = 0.1;
/// μ in mm⁻¹ per unit of the 3D Kak–Slaney values.
pub const SHEPP_LOGAN_3D_MU_SCALE: f64 = 0.02;

/// One row of a table: six or eight numbers.
type Row6 = (f64, f64, f64, f64, f64, f64);
type Row8 = (f64, f64, f64, f64, f64, f64, f64, f64);

/// (value, a (x semi-axis), b (y semi-axis), x0, y0, φ degrees)
const SL2D: [Row6; 10] = [
    (1.0, 0.69, 0.92, 0.0, 0.0, 0.0),
    (-0.8, 0.6624, 0.8740, 0.0, -0.0184, 0.0),
    (-0.2, 0.1100, 0.3100, 0.22, 0.0, -18.0),
    (-0.2, 0.1600, 0.4100, -0.22, 0.0, 18.0),
    (0.1, 0.2100, 0.2500, 0.0, 0.35, 0.0),
    (0.1, 0.0460, 0.0460, 0.0, 0.1, 0.0),
    (0.1, 0.0460, 0.0460, 0.0, -0.1, 0.0),
    (0.1, 0.0460, 0.0230, -0.08, -0.605, 0.0),
    (0.1, 0.0230, 0.0230, 0.0, -0.606, 0.0),
    (0.1, 0.0230, 0.0460, 0.06, -0.605, 0.0),
];

/// (x0, y0, z0, a (x), b (y), c (z), φ degrees, value)
const SL3D: [Row8; 10] = [
    (0.0, 0.0, 0.0, 0.69, 0.92, 0.90, 0.0, 2.0),
    (0.0, 0.0, 0.0, 0.6624, 0.874, 0.88, 0.0, -0.98),
    (-0.22, 0.0, -0.25, 0.41, 0.16, 0.21, 108.0, -0.02),
    (0.22, 0.0, -0.25, 0.31, 0.11, 0.22, 72.0, -0.02),
    (0.0, 0.35, -0.25, 0.21, 0.25, 0.50, 0.0, 0.02),
    (0.0, 0.1, -0.25, 0.046, 0.046, 0.046, 0.0, 0.02),
    (-0.08, -0.65, -0.25, 0.046, 0.023, 0.02, 0.0, 0.01),
    (0.06, -0.65, -0.25, 0.046, 0.023, 0.02, 90.0, 0.01),
    (0.06, -0.105, 0.625, 0.056, 0.04, 0.10, 90.0, 0.02),
    (0.0, 0.1, 0.625, 0.056, 0.056, 0.10, 0.0, -0.02),
];

/// The modified 2D Shepp–Logan phantom scaled so the outer ellipse's y semi-axis is
/// `0.92 · radius_mm` (see the module docs). Labels 1–10 follow the table order.
/// A non-finite or non-positive radius is replaced by 1 mm.
///
/// # Example
/// ```
/// use ctscreen::phantom::shepp_logan_2d;
/// let ph = shepp_logan_2d(128.0);
/// // Through the centre along x: skull, brain, two ventricles.
/// let v = ph.line_integral_mono([0.0, 0.0, -500.0], [0.0, 0.0, 1.0], 70.0);
/// assert!(v > 0.0);
/// ```
pub fn shepp_logan_2d(radius_mm: f64) -> Phantom {
    let r = if radius_mm.is_finite() && radius_mm > 0.0 {
        radius_mm
    } else {
        1.0
    };
    let mut ph = Phantom::new();
    for (k, &(value, a, b, x0, y0, phi)) in SL2D.iter().enumerate() {
        let shape = Shape::Cylinder {
            radius_y: b * r,
            radius_x: a * r,
            half_length: 2.0 * r,
        };
        let prim = Primitive {
            shape,
            center: [0.0, y0 * r, x0 * r],
            rotation: Rotation::about_z(phi.to_radians()),
        };
        ph.push(
            prim,
            Attenuation::Constant(value * SHEPP_LOGAN_2D_MU_SCALE),
            k as u32 + 1,
            ObjectClass::Clutter,
            "ellipse",
        );
    }
    ph
}

/// The 3D Shepp–Logan phantom of Kak & Slaney scaled by `radius_mm` (the outer
/// ellipsoid's semi-axes are `(0.90, 0.92, 0.69) · radius_mm` along `(z, y, x)`).
/// Labels 1–10 follow the table order. A non-finite or non-positive radius is
/// replaced by 1 mm.
pub fn shepp_logan_3d(radius_mm: f64) -> Phantom {
    let r = if radius_mm.is_finite() && radius_mm > 0.0 {
        radius_mm
    } else {
        1.0
    };
    let mut ph = Phantom::new();
    for (k, &(x0, y0, z0, a, b, c, phi, value)) in SL3D.iter().enumerate() {
        let prim = Primitive {
            shape: Shape::ellipsoid(c * r, b * r, a * r),
            center: [z0 * r, y0 * r, x0 * r],
            rotation: Rotation::about_z(phi.to_radians()),
        };
        ph.push(
            prim,
            Attenuation::Constant(value * SHEPP_LOGAN_3D_MU_SCALE),
            k as u32 + 1,
            ObjectClass::Clutter,
            "ellipsoid",
        );
    }
    ph
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brain_values_are_water_like() {
        let ph = shepp_logan_2d(100.0);
        let v = ph.voxelize([1, 3, 3], [1.0, 1.0, 1.0], 70.0, 1).unwrap();
        // Centre voxel: skull + brain + the two small 0.1 blobs? centre is (0,0) inside
        // ellipses 1 and 2 only.
        assert!((v.data()[[0, 1, 1]] - 0.02).abs() < 1e-6);
        let ph = shepp_logan_3d(100.0);
        let v = ph.voxelize([1, 1, 1], [1.0; 3], 70.0, 1).unwrap();
        assert!((v.data()[[0, 0, 0]] - 0.0204).abs() < 1e-6);
    }
}
