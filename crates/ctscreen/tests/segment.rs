//! The segmentation chain on a synthetic scene with known answers: threshold a
//! three-material volume, clean the mask, label it and measure the objects.

use ctscreen::segment::{
    ball, binary_opening, fill_holes, label, regionprops_of_volume, threshold_multiotsu,
    threshold_otsu, Connectivity,
};
use ctscreen::Volume;
use ndarray::Array3;

/// Background 0.002 mm⁻¹ (air/cardboard), a plastic slab 0.02, and three steel
/// objects 0.1: a ball of radius 6 mm, a rod 40 mm long along x (radius 3 mm) and a
/// hollow ball (shell 4–7 mm), with small deterministic noise.
fn scene() -> Volume {
    let spacing = [1.0, 0.5, 0.5];
    let (nz, ny, nx) = (40, 80, 120);
    let data = Array3::from_shape_fn((nz, ny, nx), |(k, j, i)| {
        let (z, y, x) = (
            k as f64 * spacing[0],
            j as f64 * spacing[1],
            i as f64 * spacing[2],
        );
        let noise = (((k * 7919 + j * 104729 + i * 1299709) % 1000) as f32 / 1000.0 - 0.5) * 0.002;
        let d = |c: [f64; 3]| ((z - c[0]).powi(2) + (y - c[1]).powi(2) + (x - c[2]).powi(2)).sqrt();
        let steel = d([12.0, 12.0, 12.0]) <= 6.0
            || ((z - 28.0).powi(2) + (y - 30.0).powi(2)).sqrt() <= 3.0 && (10.0..50.0).contains(&x)
            || (4.0..=7.0).contains(&d([20.0, 20.0, 45.0]));
        let plastic = (2.0..6.0).contains(&z);
        let mu = if steel {
            0.1
        } else if plastic {
            0.02
        } else {
            0.002
        };
        mu + noise
    });
    Volume::new(data, spacing, [0.0; 3]).unwrap()
}

#[test]
fn threshold_label_measure() {
    let vol = scene();
    let t = threshold_multiotsu(vol.data(), 3, 256).unwrap();
    // Each threshold sits just above a class (the first optimal bin is taken).
    assert!(t[0] > 0.003 && t[0] < 0.019, "{t:?}");
    assert!(t[1] > 0.021 && t[1] < 0.099, "{t:?}");
    let otsu = threshold_otsu(vol.data(), 256).unwrap();
    assert!(otsu > 0.003 && otsu < 0.1, "{otsu}");

    let metal = vol.data().mapv(|v| v > t[1]);
    let metal = binary_opening(metal.view(), ball(1).unwrap().view()).unwrap();
    let filled = fill_holes(metal.view(), Connectivity::Six).unwrap();
    let (labels, n) = label(filled.view(), Connectivity::TwentySix).unwrap();
    assert_eq!(n, 3);
    let props = regionprops_of_volume(labels.view(), &vol).unwrap();
    // Raster order of first voxel: the ball (z from 6 mm), the hollow ball (z from
    // 13 mm), the rod (z from 25 mm).
    let ball_p = &props[0];
    let shell = &props[1];
    let rod = &props[2];
    let sphere = |r: f64| 4.0 / 3.0 * std::f64::consts::PI * r.powi(3);
    assert!(
        (ball_p.volume_mm3 / sphere(6.0) - 1.0).abs() < 0.08,
        "{}",
        ball_p.volume_mm3
    );
    // The filled shell is a ball of radius 7.
    assert!(
        (shell.volume_mm3 / sphere(7.0) - 1.0).abs() < 0.08,
        "{}",
        shell.volume_mm3
    );
    for (c, want) in ball_p.centroid_mm.iter().zip([12.0, 12.0, 12.0]) {
        assert!((c - want).abs() < 0.1, "{:?}", ball_p.centroid_mm);
    }
    // The rod: longest axis along x, about 40 mm; mean μ of steel.
    assert!(
        rod.principal_axes[0][2].abs() > 0.99,
        "{:?}",
        rod.principal_axes
    );
    assert!(
        (rod.principal_extents_mm[0] - 40.0).abs() < 1.5,
        "{:?}",
        rod.principal_extents_mm
    );
    assert!((rod.intensity_mean.unwrap() - 0.1).abs() < 0.002);
    assert_eq!(rod.euler_number, 1);
    // Filling removed the cavity: one component, no cavity.
    assert_eq!(shell.euler_number, 1);
    // Before filling, the shell encloses a cavity: Euler number 2.
    let (raw, n_raw) = label(metal.view(), Connectivity::TwentySix).unwrap();
    assert_eq!(n_raw, 3);
    let raw_props = regionprops_of_volume(raw.view(), &vol).unwrap();
    assert_eq!(raw_props[1].euler_number, 2);
    // (7³ − 4³) / 7³ = 0.81 of the filled ball.
    let ratio = raw_props[1].volume_mm3 / shell.volume_mm3;
    assert!((ratio - 0.81).abs() < 0.05, "{ratio}");
}
