//! Reconstruction against analytic phantoms: exact line integrals in, μ out.

mod common;

use std::f64::consts::PI;

use common::{ellipsoid, project, rmse_where, shepp_logan, sinogram, voxelize, Object};
use ctscreen::geometry::{ConeBeamGeometry, FanBeamGeometry, Geometry, ParallelBeamGeometry};
use ctscreen::recon::{fbp, fdk, FdkOptions, Filter, ShortScan};
use ctscreen::{Error, NoProgress, Projections};
use ndarray::{Array2, Array3, Axis};

fn angles(n: usize, range: f64, start: f64) -> Vec<f64> {
    (0..n)
        .map(|i| start + range * i as f64 / n as f64)
        .collect()
}

fn pool(n: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .unwrap()
}

/// Mean and max |error| of `img` against `mu` inside a disc of `radius` mm.
fn disc_stats(img: &Array2<f32>, spacing: f64, radius: f64, mu: f64) -> (f64, f64) {
    let (ny, nx) = img.dim();
    let mut sum = 0.0;
    let mut n = 0;
    let mut worst: f64 = 0.0;
    for ((j, i), &v) in img.indexed_iter() {
        let y = (j as f64 - (ny as f64 - 1.0) / 2.0) * spacing;
        let x = (i as f64 - (nx as f64 - 1.0) / 2.0) * spacing;
        if x * x + y * y < radius * radius {
            sum += f64::from(v);
            n += 1;
            worst = worst.max((f64::from(v) - mu).abs());
        }
    }
    (sum / n as f64, worst)
}

fn disc(radius: f64, mu: f64) -> Vec<Object> {
    vec![ellipsoid([0.0; 3], [radius, radius, radius], 0.0, mu)]
}

#[test]
fn fbp_parallel_disc_has_the_right_mu() {
    let g: Geometry = ParallelBeamGeometry::new(angles(360, PI, 0.0), 192, 1.0, 1)
        .unwrap()
        .into();
    let sino = sinogram(&g, &disc(40.0, 0.02));
    let img = fbp(sino.view(), &g, (128, 128), (1.0, 1.0), Filter::RamLak).unwrap();
    let (mean, worst) = disc_stats(&img, 1.0, 35.0, 0.02);
    assert!((mean - 0.02).abs() < 0.0002, "mean {mean}");
    assert!(worst < 0.001, "max error {worst}");
    // Outside the disc the image is ~0.
    assert!(img[[2, 2]].abs() < 0.0005, "{}", img[[2, 2]]);
}

#[test]
fn fbp_parallel_handles_360_uneven_and_shuffled_angles() {
    let objects = shepp_logan(50.0, 0.02, 1.0);
    let truth = voxelize(&objects, [1, 128, 128], [1.0, 1.0, 1.0], 3).index_axis_move(Axis(0), 0);
    let inside = |img: &Array2<f32>| {
        let mask = truth.iter().map(|&t| t > 0.0);
        rmse_where(img.iter(), truth.iter(), mask)
    };
    let uniform: Geometry = ParallelBeamGeometry::new(angles(240, PI, 0.0), 160, 1.0, 1)
        .unwrap()
        .into();
    let base = fbp(
        sinogram(&uniform, &objects).view(),
        &uniform,
        (128, 128),
        (1.0, 1.0),
        Filter::SheppLogan,
    )
    .unwrap();
    let base_rmse = inside(&base);
    assert!(base_rmse < 0.002, "uniform rmse {base_rmse}");
    // Uneven steps, over 360°, in a scrambled order.
    let mut uneven: Vec<f64> = (0..300)
        .map(|i| {
            let t = i as f64 / 300.0;
            2.0 * PI * (t + 0.3 * t * (1.0 - t))
        })
        .collect();
    uneven.sort_by_key(|a| ((a * 1e6) as i64 * 7919) % 1000);
    let g: Geometry = ParallelBeamGeometry::new(uneven, 160, 1.0, 1)
        .unwrap()
        .into();
    let img = fbp(
        sinogram(&g, &objects).view(),
        &g,
        (128, 128),
        (1.0, 1.0),
        Filter::SheppLogan,
    )
    .unwrap();
    let rmse = inside(&img);
    assert!(rmse < 1.2 * base_rmse, "uneven {rmse} vs {base_rmse}");
}

fn fan_geometry(angles: Vec<f64>) -> Geometry {
    FanBeamGeometry::new(angles, 400.0, 800.0, 256, 1.0)
        .unwrap()
        .into()
}

#[test]
fn fbp_fan_full_and_short_scans() {
    let fan = fan_geometry(vec![0.0]);
    let Geometry::Fan(f) = &fan else {
        unreachable!()
    };
    let fan_angle = 2.0 * (128.0f64 / 800.0).atan();
    assert!((f.detector.cols as f64 - 256.0).abs() < 0.5);
    let objects = vec![
        ellipsoid([0.0; 3], [1.0, 45.0, 38.0], 0.3, 0.02),
        ellipsoid([0.0, 10.0, -8.0], [1.0, 8.0, 12.0], -0.5, 0.01),
    ];
    let truth = voxelize(&objects, [1, 128, 128], [1.0, 0.8, 0.8], 3).index_axis_move(Axis(0), 0);
    let interior: Vec<bool> = truth.iter().map(|&t| t > 0.0).collect();
    let rmse = |img: &Array2<f32>| rmse_where(img.iter(), truth.iter(), interior.iter().copied());

    let full = fan_geometry(angles(360, 2.0 * PI, 0.3));
    let img_full = fbp(
        sinogram(&full, &objects).view(),
        &full,
        (128, 128),
        (0.8, 0.8),
        Filter::RamLak,
    )
    .unwrap();
    let (mean, _) = disc_stats(&img_full, 0.8, 2.0, 0.02);
    assert!((mean - 0.02).abs() < 0.0002, "centre {mean}");
    let e_full = rmse(&img_full);
    assert!(e_full < 0.002, "full scan rmse {e_full}");

    // Short scan: 180° + fan angle, 1° steps, starting anywhere.
    let range = PI + fan_angle;
    let n = (range.to_degrees()).ceil() as usize + 1;
    let short_angles: Vec<f64> = (0..n)
        .map(|i| 2.0 + range * i as f64 / (n - 1) as f64)
        .collect();
    let short = fan_geometry(short_angles);
    let img_short = fbp(
        sinogram(&short, &objects).view(),
        &short,
        (128, 128),
        (0.8, 0.8),
        Filter::RamLak,
    )
    .unwrap();
    let e_short = rmse(&img_short);
    assert!(e_short < 1.1 * e_full, "short {e_short} vs full {e_full}");

    // Too short a scan is refused, naming the angles.
    let bad = fan_geometry(angles(150, PI, 0.0));
    let e = fbp(
        sinogram(&bad, &objects).view(),
        &bad,
        (64, 64),
        (1.0, 1.0),
        Filter::RamLak,
    )
    .unwrap_err();
    assert!(
        matches!(e, Error::InvalidParameter { ref name, .. } if name == "angles"),
        "{e}"
    );
}

fn cone(angles: Vec<f64>, offset: (f64, f64)) -> Geometry {
    ConeBeamGeometry::new(angles, 300.0, 600.0, (96, 128), (1.0, 1.0), offset)
        .unwrap()
        .into()
}

const SHAPE: [usize; 3] = [40, 64, 64];
const SPACING: [f64; 3] = [0.75, 0.75, 0.75];

fn cone_phantom() -> Vec<Object> {
    vec![
        ellipsoid([0.0, 0.0, 0.0], [11.0, 20.0, 16.0], 0.4, 0.02),
        ellipsoid([2.0, 4.0, -3.0], [4.0, 5.0, 6.0], 0.0, 0.015),
        ellipsoid([-5.0, -6.0, 5.0], [3.0, 3.0, 3.0], 0.0, -0.01),
    ]
}

fn fdk_of(g: &Geometry, objects: &[Object], options: &FdkOptions) -> Array3<f32> {
    let p = Projections::new(project(g, objects)).unwrap();
    fdk(&p, g, SHAPE, SPACING, options, &NoProgress)
        .unwrap()
        .into_data()
}

#[test]
fn fdk_ball_and_ellipsoids() {
    let full = cone(angles(180, 2.0 * PI, 0.0), (0.0, 0.0));
    // A ball: its centre has the right μ.
    let ball = fdk_of(&full, &disc(15.0, 0.02), &FdkOptions::default());
    let mut centre = 0.0;
    for k in 18..22 {
        for j in 30..34 {
            for i in 30..34 {
                centre += f64::from(ball[[k, j, i]]);
            }
        }
    }
    centre /= 64.0;
    assert!((centre - 0.02).abs() < 0.0004, "ball centre {centre}");
    assert!(ball[[20, 3, 3]].abs() < 0.001);

    let objects = cone_phantom();
    let truth = voxelize(&objects, SHAPE, SPACING, 2);
    let rec = fdk_of(&full, &objects, &FdkOptions::default());
    let mask: Vec<bool> = truth.iter().map(|&t| t > 0.0).collect();
    let e = rmse_where(rec.iter(), truth.iter(), mask.iter().copied());
    assert!(e < 0.0015, "fdk rmse {e}");
}

/// Zero detector rows and views are skipped by FDK (the MAR correction is mostly
/// zeros); the samples it skips must be exactly those that read nothing but zeros. The
/// reference replaces every zero by 1e-30, which forces the full path. What remains is
/// rounding: a voxel column's clipped z range splits differently between the vector
/// steps and the scalar tail (about 1 ulp); a skipped row would cost ~1 % of the peak.
#[test]
fn fdk_skips_zero_rows_and_views_exactly() {
    let g = cone(angles(60, 2.0 * PI, 0.1), (0.0, 0.0));
    let mut sparse = project(&g, &cone_phantom());
    for ((view, row, _), v) in sparse.indexed_iter_mut() {
        if !(40..52).contains(&row) || (10..20).contains(&view) || row == 45 {
            *v = 0.0;
        }
    }
    let dense = sparse.mapv(|v| if v == 0.0 { 1e-30 } else { v });
    let rec = |data: Array3<f32>| {
        fdk(
            &Projections::new(data).unwrap(),
            &g,
            SHAPE,
            SPACING,
            &FdkOptions::default(),
            &NoProgress,
        )
        .unwrap()
        .into_data()
    };
    let (a, b) = (rec(sparse), rec(dense));
    let peak = a.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(peak > 1e-3, "the band reconstructs to something ({peak})");
    let worst = a
        .iter()
        .zip(&b)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
    assert!(
        worst < 1e-6 * peak,
        "skipping zero rows changed a voxel by {worst} (peak {peak})"
    );
}

/// FDK is exact only in the mid-plane; away from it short scans add their own (known,
/// asymmetric) cone-beam artefacts. Parker's weights are judged on the slab |z| ≤ 6 mm
/// where the cone angle stays below 1°; the whole volume is checked more loosely.
#[test]
fn fdk_short_scan_parker_close_to_full_scan() {
    let objects = cone_phantom();
    let truth = voxelize(&objects, SHAPE, SPACING, 2);
    let slab: Vec<bool> = truth
        .indexed_iter()
        .map(|((k, _, _), &t)| t > 0.0 && ((k as f64 - 19.5) * SPACING[0]).abs() <= 6.0)
        .collect();
    let object: Vec<bool> = truth.iter().map(|&t| t > 0.0).collect();
    let errors = |rec: &Array3<f32>| {
        (
            rmse_where(rec.iter(), truth.iter(), slab.iter().copied()),
            rmse_where(rec.iter(), truth.iter(), object.iter().copied()),
        )
    };
    let full = cone(angles(180, 2.0 * PI, 0.0), (0.0, 0.0));
    let (full_slab, full_all) = errors(&fdk_of(&full, &objects, &FdkOptions::default()));
    let fan = 2.0 * (64.0f64 / 600.0).atan();
    let range = PI + fan;
    let n = (range / (2.0 * PI / 180.0)).ceil() as usize + 1;
    let short_angles: Vec<f64> = (0..n)
        .map(|i| -1.0 + range * i as f64 / (n - 1) as f64)
        .collect();
    let short = cone(short_angles.clone(), (0.0, 0.0));
    let (short_slab, short_all) = errors(&fdk_of(&short, &objects, &FdkOptions::default()));
    assert!(
        short_slab <= 1.1 * full_slab,
        "short {short_slab} vs full {full_slab}"
    );
    assert!(
        short_all <= 1.25 * full_all,
        "short {short_all} vs full {full_all}"
    );
    // Forcing full-scan weights on short-scan data is clearly worse: Parker matters.
    let forced = FdkOptions {
        short_scan: ShortScan::Full,
        ..FdkOptions::default()
    };
    let (forced_slab, _) = errors(&fdk_of(&short, &objects, &forced));
    assert!(
        forced_slab > 2.0 * short_slab,
        "forced {forced_slab} vs parker {short_slab}"
    );
}

#[test]
fn fdk_detector_offsets_give_the_same_reconstruction() {
    let objects = cone_phantom();
    let a = angles(120, 2.0 * PI, 0.1);
    let truth = voxelize(&objects, SHAPE, SPACING, 2);
    let mask: Vec<bool> = truth.iter().map(|&t| t > 0.0).collect();
    let centred = fdk_of(
        &cone(a.clone(), (0.0, 0.0)),
        &objects,
        &FdkOptions::default(),
    );
    let scale = rmse_where(centred.iter(), truth.iter(), mask.iter().copied());
    // Whole-pixel shifts sample the very same rays: the same image up to rounding.
    let shifted = fdk_of(
        &cone(a.clone(), (-4.0, 7.0)),
        &objects,
        &FdkOptions::default(),
    );
    let diff = rmse_where(centred.iter(), shifted.iter(), mask.iter().copied());
    assert!(
        diff < 0.01 * scale,
        "offset changes the image by {diff} (error scale {scale})"
    );
    // Sub-pixel shifts sample other rays: the same accuracy.
    let shifted = fdk_of(
        &cone(a.clone(), (-4.5, 7.25)),
        &objects,
        &FdkOptions::default(),
    );
    let e = rmse_where(shifted.iter(), truth.iter(), mask.iter().copied());
    assert!(e < 1.1 * scale, "shifted {e} vs centred {scale}");
    // Ignoring the offset (reconstructing shifted data as if centred) is much worse.
    let g_shift = cone(a.clone(), (-4.5, 7.25));
    let p = Projections::new(project(&g_shift, &objects)).unwrap();
    let wrong = fdk(
        &p,
        &cone(a, (0.0, 0.0)),
        SHAPE,
        SPACING,
        &FdkOptions::default(),
        &NoProgress,
    )
    .unwrap();
    let wrong_e = rmse_where(wrong.data().iter(), truth.iter(), mask.iter().copied());
    assert!(wrong_e > 5.0 * scale, "{wrong_e} vs {scale}");
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let objects = cone_phantom();
    let g = cone(angles(60, 2.0 * PI, 0.0), (1.0, -2.0));
    let p = Projections::new(project(&g, &objects)).unwrap();
    let options = FdkOptions {
        view_block: 7,
        ..FdkOptions::default()
    };
    let run = |threads| {
        pool(threads).install(|| {
            fdk(&p, &g, [21, 33, 35], [1.0, 0.9, 0.8], &options, &NoProgress)
                .unwrap()
                .into_data()
        })
    };
    let one = run(1);
    assert_eq!(one, run(2));
    assert_eq!(one, run(3));

    let pg: Geometry = ParallelBeamGeometry::new(angles(90, PI, 0.0), 100, 1.0, 1)
        .unwrap()
        .into();
    let sino = sinogram(&pg, &disc(30.0, 0.02));
    let run2 = |threads| {
        pool(threads).install(|| fbp(sino.view(), &pg, (67, 71), (1.0, 1.0), Filter::Hann).unwrap())
    };
    assert_eq!(run2(1), run2(2));
    let fg = fan_geometry(angles(90, 2.0 * PI, 0.0));
    let fsino = sinogram(&fg, &disc(30.0, 0.02));
    let run3 = |threads| {
        pool(threads)
            .install(|| fbp(fsino.view(), &fg, (67, 71), (1.0, 1.0), Filter::Cosine).unwrap())
    };
    assert_eq!(run3(1), run3(2));
}

#[test]
fn bad_input_gives_typed_errors() {
    let g = cone(angles(10, 2.0 * PI, 0.0), (0.0, 0.0));
    let opts = FdkOptions::default();
    // Shape mismatch between projections and geometry.
    let p = Projections::new(Array3::zeros((10, 96, 127))).unwrap();
    let e = fdk(&p, &g, [8, 8, 8], [1.0; 3], &opts, &NoProgress).unwrap_err();
    assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
    assert!(e.to_string().contains("127"), "{e}");
    // NaN / inf: the count is named.
    let mut data = Array3::zeros((10, 96, 128));
    data[[0, 0, 0]] = f32::NAN;
    data[[3, 5, 7]] = f32::INFINITY;
    data[[9, 95, 127]] = f32::NEG_INFINITY;
    let p = Projections::new(data).unwrap();
    let e = fdk(&p, &g, [8, 8, 8], [1.0; 3], &opts, &NoProgress).unwrap_err();
    assert!(matches!(e, Error::NonFinite { count: 3, .. }), "{e}");
    assert!(e.to_string().contains('3'), "{e}");
    // Empty grid, bad spacing.
    let p = Projections::new(Array3::zeros((10, 96, 128))).unwrap();
    let e = fdk(&p, &g, [0, 8, 8], [1.0; 3], &opts, &NoProgress).unwrap_err();
    assert!(e.to_string().contains("shape"), "{e}");
    let e = fdk(&p, &g, [8, 8, 8], [1.0, -1.0, 1.0], &opts, &NoProgress).unwrap_err();
    assert!(e.to_string().contains("spacing"), "{e}");
    // Empty arrays are refused up front.
    assert!(Projections::new(Array3::zeros((0, 96, 128))).is_err());
    let pg: Geometry = ParallelBeamGeometry::new(angles(4, PI, 0.0), 16, 1.0, 1)
        .unwrap()
        .into();
    let e = fbp(
        Array2::zeros((0, 16)).view(),
        &pg,
        (8, 8),
        (1.0, 1.0),
        Filter::RamLak,
    )
    .unwrap_err();
    assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
    let mut sino = Array2::<f32>::zeros((4, 16));
    sino[[1, 1]] = f32::NAN;
    let e = fbp(sino.view(), &pg, (8, 8), (1.0, 1.0), Filter::RamLak).unwrap_err();
    assert!(matches!(e, Error::NonFinite { count: 1, .. }), "{e}");
    // Wrong geometry kinds.
    let e = fdk(
        &Projections::new(Array3::zeros((4, 1, 16))).unwrap(),
        &pg,
        [1, 8, 8],
        [1.0; 3],
        &opts,
        &NoProgress,
    )
    .unwrap_err();
    assert!(e.to_string().contains("parallel"), "{e}");
    let e = fbp(
        Array2::zeros((10, 128)).view(),
        &g,
        (8, 8),
        (1.0, 1.0),
        Filter::RamLak,
    )
    .unwrap_err();
    assert!(e.to_string().contains("rows"), "{e}");
}

#[test]
fn fdk_reports_progress_and_cancels() {
    use ctscreen::CancelFlag;
    let g = cone(angles(40, 2.0 * PI, 0.0), (0.0, 0.0));
    let p = Projections::new(Array3::zeros((40, 96, 128))).unwrap();
    let opts = FdkOptions {
        view_block: 16,
        ..FdkOptions::default()
    };
    let flag = CancelFlag::new();
    fdk(&p, &g, [4, 8, 8], [1.0; 3], &opts, &flag).unwrap();
    assert_eq!(flag.done(), 40);
    flag.cancel();
    let e = fdk(&p, &g, [4, 8, 8], [1.0; 3], &opts, &flag).unwrap_err();
    assert!(matches!(e, Error::Cancelled));
}

// ---------------------------------------------------------------- iterative solvers

mod iterative {
    use super::*;
    use ctscreen::project::{LinearOperator, Projector};
    use ctscreen::recon::iterative::{cgls_with, sirt_with, OrderedSubsets};
    use ctscreen::recon::{cgls, sart, sirt, IterativeOptions};
    use ctscreen::CancelFlag;
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    fn parallel_problem() -> (Geometry, Array3<f32>, Array3<f32>) {
        let g: Geometry = ParallelBeamGeometry::new(angles(60, PI, 0.0), 64, 1.0, 1)
            .unwrap()
            .into();
        let objects = shepp_logan(22.0, 0.02, 1.0);
        let b = project(&g, &objects);
        let truth = voxelize(&objects, [1, 48, 48], [1.0; 3], 3);
        (g, b, truth)
    }

    fn nonincreasing(r: &[f64]) -> bool {
        r.windows(2).all(|w| w[1] <= w[0] * (1.0 + 1e-6))
    }

    #[test]
    fn sirt_and_cgls_residuals_decrease_monotonically() {
        let (g, b, _) = parallel_problem();
        let op = Projector::centered([1, 48, 48], [1.0; 3], &g).unwrap();
        let opts = IterativeOptions {
            iterations: 30,
            tol: 0.0,
            ..IterativeOptions::default()
        };
        let s = sirt_with(&op, b.view(), None, &opts, &NoProgress).unwrap();
        assert_eq!(s.residuals.len(), 31);
        assert!(nonincreasing(&s.residuals), "{:?}", s.residuals);
        assert!(s.residuals[30] < 0.1 * s.residuals[0]);
        let c = cgls_with(&op, b.view(), None, &opts, &NoProgress).unwrap();
        assert_eq!(c.residuals.len(), 31);
        assert!(nonincreasing(&c.residuals), "{:?}", c.residuals);
        // CGLS reduces the residual faster than SIRT.
        assert!(c.residuals[10] < s.residuals[10]);
        // The recorded CGLS residual is the true one (without the final clipping).
        let free = IterativeOptions {
            nonneg: false,
            ..opts
        };
        let c = cgls_with(&op, b.view(), None, &free, &NoProgress).unwrap();
        let ax = op.apply_new(c.x.view(), &NoProgress).unwrap();
        let true_res = (&b - &ax)
            .iter()
            .map(|v| f64::from(*v).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(
            (true_res - c.residuals[30]).abs() < 1e-3 * c.residuals[0],
            "{true_res} vs {}",
            c.residuals[30]
        );
    }

    #[test]
    fn early_stop_on_tolerance() {
        let (g, b, _) = parallel_problem();
        let op = Projector::centered([1, 48, 48], [1.0; 3], &g).unwrap();
        let opts = IterativeOptions {
            iterations: 500,
            tol: 1e-2,
            ..IterativeOptions::default()
        };
        let s = sirt_with(&op, b.view(), None, &opts, &NoProgress).unwrap();
        assert!(s.converged && s.iterations < 500, "{}", s.iterations);
        let r = &s.residuals;
        let n = r.len();
        assert!((r[n - 2] - r[n - 1]).abs() <= 1e-2 * r[n - 2]);
    }

    fn cone_small(n: usize) -> Geometry {
        ConeBeamGeometry::new(
            angles(n, 2.0 * PI, 0.2),
            300.0,
            600.0,
            (24, 72),
            (1.0, 1.0),
            (0.0, 0.0),
        )
        .unwrap()
        .into()
    }

    const SHAPE_S: [usize; 3] = [12, 36, 36];

    fn small_phantom() -> Vec<Object> {
        vec![
            ellipsoid([0.0, 0.0, 0.0], [5.0, 15.0, 12.0], 0.3, 0.02),
            ellipsoid([1.0, 3.0, -3.0], [3.0, 4.0, 4.0], 0.0, 0.02),
            ellipsoid([-1.0, -6.0, 4.0], [3.0, 2.5, 2.5], 0.0, -0.015),
        ]
    }

    #[test]
    fn few_noisy_views_iterative_beats_fdk() {
        let g = cone_small(30);
        let objects = small_phantom();
        let truth = voxelize(&objects, SHAPE_S, [1.0; 3], 2);
        let mut data = project(&g, &objects);
        // Poisson-like noise for 10⁴ photons per pixel: σ = 1 / √(I0 e^{−p}).
        let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
        for v in data.iter_mut() {
            let z: f64 = StandardNormal.sample(&mut rng);
            *v += (z / (1e4 * (-f64::from(*v)).exp()).sqrt()) as f32;
        }
        let p = Projections::new(data).unwrap();
        let rmse = |a: &Array3<f32>| rmse_where(a.iter(), truth.iter(), truth.iter().map(|_| true));
        let e_fdk = rmse(
            fdk(
                &p,
                &g,
                SHAPE_S,
                [1.0; 3],
                &FdkOptions::default(),
                &NoProgress,
            )
            .unwrap()
            .data(),
        );
        let opts = IterativeOptions {
            iterations: 60,
            tol: 0.0,
            ..IterativeOptions::default()
        };
        let r_sirt = sirt(&p, &g, SHAPE_S, [1.0; 3], &opts, &NoProgress).unwrap();
        let e_sirt = rmse(r_sirt.volume.data());
        let cg_opts = IterativeOptions {
            iterations: 12,
            ..opts
        };
        let e_cgls = rmse(
            cgls(&p, &g, SHAPE_S, [1.0; 3], &cg_opts, &NoProgress)
                .unwrap()
                .volume
                .data(),
        );
        let sart_opts = IterativeOptions {
            iterations: 8,
            subsets: 6,
            ..opts
        };
        let e_sart = rmse(
            sart(&p, &g, SHAPE_S, [1.0; 3], &sart_opts, &NoProgress)
                .unwrap()
                .volume
                .data(),
        );
        assert!(e_sirt < e_fdk, "sirt {e_sirt} vs fdk {e_fdk}");
        assert!(e_cgls < e_fdk, "cgls {e_cgls} vs fdk {e_fdk}");
        assert!(e_sart < e_fdk, "sart {e_sart} vs fdk {e_fdk}");
    }

    #[test]
    fn sart_converges_faster_than_sirt_per_sweep() {
        let (g, b, truth) = parallel_problem();
        let p = Projections::new(b).unwrap();
        let opts = IterativeOptions {
            iterations: 4,
            tol: 0.0,
            subsets: 10,
            ..IterativeOptions::default()
        };
        let rmse = |a: &Array3<f32>| rmse_where(a.iter(), truth.iter(), truth.iter().map(|_| true));
        let e_sirt = rmse(
            sirt(&p, &g, [1, 48, 48], [1.0; 3], &opts, &NoProgress)
                .unwrap()
                .volume
                .data(),
        );
        let r = sart(&p, &g, [1, 48, 48], [1.0; 3], &opts, &NoProgress).unwrap();
        assert_eq!(r.residuals.len(), 4);
        assert!(nonincreasing(&r.residuals), "{:?}", r.residuals);
        let e_sart = rmse(r.volume.data());
        assert!(e_sart < 0.7 * e_sirt, "sart {e_sart} vs sirt {e_sirt}");
    }

    #[test]
    fn iterative_results_do_not_depend_on_the_thread_count() {
        let g = cone_small(10);
        let p = Projections::new(project(&g, &small_phantom())).unwrap();
        let opts = IterativeOptions {
            iterations: 3,
            subsets: 3,
            ..IterativeOptions::default()
        };
        type Solver = fn(
            &Projections,
            &Geometry,
            [usize; 3],
            [f64; 3],
            &IterativeOptions,
            &dyn ctscreen::Progress,
        ) -> ctscreen::Result<ctscreen::recon::Reconstruction>;
        for solver in [sirt as Solver, cgls as Solver, sart as Solver] {
            let run = |threads| {
                pool(threads)
                    .install(|| solver(&p, &g, SHAPE_S, [1.0; 3], &opts, &NoProgress).unwrap())
            };
            let (a, b) = (run(1), run(2));
            assert_eq!(a.volume, b.volume);
            assert_eq!(a.residuals, b.residuals);
        }
    }

    #[test]
    fn iterative_errors_and_cancellation() {
        let (g, b, _) = parallel_problem();
        let op = Projector::centered([1, 48, 48], [1.0; 3], &g).unwrap();
        let opts = IterativeOptions::default();
        let wrong = Array3::<f32>::zeros((59, 1, 64));
        let e = sirt_with(&op, wrong.view(), None, &opts, &NoProgress).unwrap_err();
        assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
        let mut nan = b.clone();
        nan[[3, 0, 3]] = f32::NAN;
        nan[[4, 0, 3]] = f32::INFINITY;
        let e = cgls_with(&op, nan.view(), None, &opts, &NoProgress).unwrap_err();
        assert!(matches!(e, Error::NonFinite { count: 2, .. }), "{e}");
        let bad = IterativeOptions {
            relaxation: 2.5,
            ..opts
        };
        let e = sirt_with(&op, b.view(), None, &bad, &NoProgress).unwrap_err();
        assert!(e.to_string().contains("relaxation"), "{e}");
        let x0 = Array3::<f32>::zeros((1, 47, 48));
        let e = sirt_with(&op, b.view(), Some(x0.view()), &opts, &NoProgress).unwrap_err();
        assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
        // Subsets must partition the views.
        let half = ctscreen::recon::iterative::geometry_subset(&g, &[0, 2, 4]).unwrap();
        let op_half = Projector::centered([1, 48, 48], [1.0; 3], &half).unwrap();
        assert!(
            OrderedSubsets::new(&op, vec![(vec![0, 2, 4], &op_half as &dyn LinearOperator)])
                .is_err()
        );
        // Cancellation stops between iterations; progress counts iterations.
        let flag = CancelFlag::new();
        let few = IterativeOptions {
            iterations: 3,
            tol: 0.0,
            ..opts
        };
        sirt_with(&op, b.view(), None, &few, &flag).unwrap();
        assert_eq!(flag.done(), 3);
        flag.cancel();
        let e = sirt_with(&op, b.view(), None, &few, &flag).unwrap_err();
        assert!(matches!(e, Error::Cancelled));
        let subsets = OrderedSubsets::new(&op, vec![]);
        assert!(subsets.is_err());
    }
}

// ---------------------------------------------------------------- metal artifact reduction

mod metal {
    use super::*;
    use common::{cylinder, ellipsoid, Shape};
    use ctscreen::geometry::ray;
    use ctscreen::recon::{mar, MarMethod, MarOptions};

    /// Two-energy (60 and 100 keV, equal weights) line integrals of a water cylinder
    /// holding steel rods: −ln Σ wₑ exp(−μw(E) Lw − μs(E) Ls). Beam hardening in the
    /// steel makes the data inconsistent, as real metal does.
    fn polychromatic(g: &Geometry, water: &Shape, steel: &[Shape]) -> Array3<f32> {
        let (mu_w, mu_s) = ([0.0206, 0.0171], [0.948, 0.293]);
        let views = g.view_vectors();
        let (rows, cols) = g.detector_shape();
        Array3::from_shape_fn((views.len(), rows, cols), |(v, r, c)| {
            let (p, d) = ray(g.beam(), &views[v], rows, cols, r as f64, c as f64);
            let ls: f64 = steel.iter().map(|s| s.chord(p, d)).sum();
            let lw = (water.chord(p, d) - ls).max(0.0);
            let i: f64 = (0..2)
                .map(|e| 0.5 * (-mu_w[e] * lw - mu_s[e] * ls).exp())
                .sum();
            (-i.ln()) as f32
        })
    }

    const SHAPE_M: [usize; 3] = [4, 96, 96];

    /// The cone-beam scan of the MAR cases: 180 views over 360°, 8 × 192 pixels of 1 mm.
    fn geometry_m() -> Geometry {
        ConeBeamGeometry::new(
            angles(180, 2.0 * PI, 0.0),
            300.0,
            600.0,
            (8, 192),
            (1.0, 1.0),
            (0.0, 0.0),
        )
        .unwrap()
        .into()
    }

    /// Plain FDK of `data` on the [`SHAPE_M`] grid of 1 mm voxels.
    fn fdk_m(data: &Projections, g: &Geometry) -> Array3<f32> {
        fdk(
            data,
            g,
            SHAPE_M,
            [1.0; 3],
            &FdkOptions::default(),
            &NoProgress,
        )
        .unwrap()
        .into_data()
    }

    /// RMS difference over `ring` voxels.
    fn ring_rms(a: &Array3<f32>, b: &Array3<f32>, ring: &[bool]) -> f64 {
        rmse_where(a.iter(), b.iter(), ring.iter().copied())
    }

    /// True when every voxel where the masks differ touches (26-neighbourhood) a voxel of
    /// the other mask: the boundary moved by at most one voxel.
    fn within_one_voxel(a: &Array3<bool>, b: &Array3<bool>) -> bool {
        let (nz, ny, nx) = a.dim();
        let near = |m: &Array3<bool>, k: usize, j: usize, i: usize| {
            (k.saturating_sub(1)..(k + 2).min(nz)).any(|kk| {
                (j.saturating_sub(1)..(j + 2).min(ny))
                    .any(|jj| (i.saturating_sub(1)..(i + 2).min(nx)).any(|ii| m[[kk, jj, ii]]))
            })
        };
        a.indexed_iter().all(|((k, j, i), &va)| {
            let vb = b[[k, j, i]];
            va == vb || (va && near(b, k, j, i)) || (vb && near(a, k, j, i))
        })
    }

    #[test]
    fn mar_reduces_streaks_and_keeps_metal_boundaries() {
        mar_case(0.0, 40.0, None);
    }

    /// Noisy projections and a steel rod lying in the air beside the water, as metal in
    /// a parcel often does: its trace is bounded by rays that see only air (noise), where
    /// the NMAR prior's projections are near zero. NMAR must not carry that noise into
    /// the traces through the water (divided by a near-zero prior projection, it once
    /// came back as streaks of several mm⁻¹).
    #[test]
    fn mar_stays_stable_with_noise_and_metal_in_air() {
        mar_case(0.02, 30.0, Some((0.0, 38.0)));
    }

    /// Water cylinder of `water_radius` mm with two steel rods inside and optionally one
    /// more at `(y, x)` mm (radius 3 mm); the same seeded Gaussian noise of `sigma` is
    /// added to the scans with and without the rods (so that the ring error measures
    /// what MAR changes, not the noise). Checks the MAR goals.
    fn mar_case(sigma: f32, water_radius: f64, extra_rod: Option<(f64, f64)>) {
        use rand::SeedableRng;
        use rand_distr::{Distribution, Normal};
        let g = geometry_m();
        let water = cylinder([0.0; 3], water_radius, 100.0, 1.0).shape;
        let mut rods = vec![
            cylinder([0.0, 0.0, -15.0], 4.0, 100.0, 1.0).shape,
            cylinder([0.0, 6.0, 15.0], 4.0, 100.0, 1.0).shape,
        ];
        if let Some((y, x)) = extra_rod {
            rods.push(cylinder([0.0, y, x], 3.0, 100.0, 1.0).shape);
        }
        let noisy = |mut a: Array3<f32>| {
            let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
            let normal = Normal::new(0.0f32, sigma.max(f32::MIN_POSITIVE)).unwrap();
            if sigma > 0.0 {
                a.iter_mut().for_each(|v| *v += normal.sample(&mut rng));
            }
            Projections::new(a).unwrap()
        };
        let with_metal = noisy(polychromatic(&g, &water, &rods));
        let without = noisy(polychromatic(&g, &water, &[]));
        let spacing = [1.0; 3];
        let reference = fdk_m(&without, &g);
        let plain = fdk_m(&with_metal, &g);
        // Ring: inside the water, 3 to 25 mm from a rod's surface.
        let ring: Vec<bool> = reference
            .indexed_iter()
            .map(|((_, j, i), _)| {
                let y = j as f64 - 47.5;
                let x = i as f64 - 47.5;
                let d = [(0.0, -15.0), (6.0, 15.0)]
                    .iter()
                    .map(|(cy, cx)| ((y - cy).powi(2) + (x - cx).powi(2)).sqrt() - 4.0)
                    .fold(f64::INFINITY, f64::min);
                let r = water_radius - 4.0;
                (3.0..25.0).contains(&d) && x * x + y * y < r * r
            })
            .collect();
        let e_plain = ring_rms(&plain, &reference, &ring);
        let options = MarOptions::default();
        let truth_metal = voxelize(
            &rods
                .iter()
                .map(|&shape| Object { shape, mu: 1.0 })
                .collect::<Vec<_>>(),
            SHAPE_M,
            spacing,
            1,
        )
        .mapv(|v| v > 0.5);
        let plain_mask = plain.mapv(|v| v > options.metal_threshold);
        assert!(
            within_one_voxel(&plain_mask, &truth_metal),
            "plain FDK finds the rods"
        );
        for method in [MarMethod::Linear, MarMethod::Normalized] {
            let opts = MarOptions { method, ..options };
            let out = mar(&with_metal, &g, SHAPE_M, spacing, &opts, &NoProgress)
                .unwrap()
                .into_data();
            let e = ring_rms(&out, &reference, &ring);
            assert!(
                e <= 0.6 * e_plain,
                "{method:?}: streak energy {e} vs plain {e_plain}"
            );
            let mask = out.mapv(|v| v > opts.metal_threshold);
            assert!(
                within_one_voxel(&mask, &plain_mask),
                "{method:?} moved the metal boundary"
            );
            assert!(
                within_one_voxel(&mask, &truth_metal),
                "{method:?} vs true rods"
            );
            // Outside the water nothing may appear: at most a few times the noise
            // level of plain FDK there.
            let outside = |a: &Array3<f32>| {
                a.indexed_iter()
                    .filter(|((_, j, i), _)| {
                        let (y, x) = (*j as f64 - 47.5, *i as f64 - 47.5);
                        let clear_of_rod = extra_rod.is_none_or(|(ry, rx)| {
                            (y - ry).powi(2) + (x - rx).powi(2) > 10.0f64.powi(2)
                        });
                        let r = water_radius + 3.0;
                        x * x + y * y > r * r && clear_of_rod
                    })
                    .fold(0.0f32, |m, (_, v)| m.max(v.abs()))
            };
            assert!(
                outside(&out) <= 2.0 * outside(&plain) + 1e-3,
                "{method:?}: {} outside the object (plain FDK {})",
                outside(&out),
                outside(&plain)
            );
            let worst = |a: &Array3<f32>| {
                a.iter()
                    .zip(reference.iter())
                    .zip(&ring)
                    .filter(|(_, &r)| r)
                    .fold(0.0f32, |m, ((x, y), _)| m.max((x - y).abs()))
            };
            // Not only on average: no ring voxel keeps more than a third of plain
            // FDK's worst streak (the old NMAR normalisation left 57 % of it here).
            assert!(
                worst(&out) <= 0.35 * worst(&plain),
                "{method:?}: worst ring voxel {} vs plain {}",
                worst(&out),
                worst(&plain)
            );
            eprintln!(
                "{method:?}: streak energy {e:.5} (plain FDK {e_plain:.5}), worst ring voxel {} (plain {})",
                worst(&out),
                worst(&plain)
            );
        }
        if sigma > 0.0 {
            return;
        }
        // Without metal, MAR is plain FDK.
        let clean = mar(&without, &g, SHAPE_M, spacing, &options, &NoProgress).unwrap();
        assert_eq!(clean.data(), &reference);
        // Bad options are named.
        let bad = MarOptions {
            metal_threshold: f32::NAN,
            ..options
        };
        let e = mar(&with_metal, &g, SHAPE_M, spacing, &bad, &NoProgress).unwrap_err();
        assert!(e.to_string().contains("metal_threshold"), "{e}");
    }

    /// A thin steel plate (0.8 mm thick, 80 mm long) lying in the slice plane, in water:
    /// the rays along it cross up to 80 mm of steel and read far less than its μ times
    /// that (beam hardening), so FDK reads the plate's middle dim, partly under the metal
    /// threshold (128 of its voxels here). MAR must keep what FDK read there: the dim
    /// voxels connected to the metal are part of the object, and filling them from the
    /// metal-free interpolated data turned them into water or air (holes inside the
    /// plate).
    #[test]
    fn mar_keeps_the_dim_middle_of_a_plate_along_the_rays() {
        let g = geometry_m();
        let water = cylinder([0.0; 3], 45.0, 100.0, 1.0).shape;
        let plate = ellipsoid([0.0; 3], [100.0, 0.4, 40.0], 0.0, 1.0).shape;
        let data = Projections::new(polychromatic(&g, &water, &[plate])).unwrap();
        let spacing = [1.0; 3];
        let plain = fdk_m(&data, &g);
        let options = MarOptions::default();
        let (low, high) = (0.5 * options.metal_threshold, options.metal_threshold);
        let inside: Vec<bool> = voxelize(
            &[Object {
                shape: plate,
                mu: 1.0,
            }],
            SHAPE_M,
            spacing,
            4,
        )
        .iter()
        .map(|&f| f > 0.2)
        .collect();
        let dim = plain
            .iter()
            .zip(&inside)
            .filter(|(&v, &m)| m && v > low && v <= high)
            .count();
        assert!(
            dim >= 10,
            "only {dim} plate voxels read dim: the case tests nothing"
        );
        for method in [MarMethod::Linear, MarMethod::Normalized] {
            let opts = MarOptions { method, ..options };
            let out = mar(&data, &g, SHAPE_M, spacing, &opts, &NoProgress)
                .unwrap()
                .into_data();
            let lost = out
                .iter()
                .zip(plain.iter())
                .zip(&inside)
                .filter(|((&o, &p), &m)| m && p > low && o <= low)
                .count();
            assert_eq!(
                lost, 0,
                "{method:?}: {lost} of {dim} dim plate voxels read as non-metal"
            );
        }
    }
}
