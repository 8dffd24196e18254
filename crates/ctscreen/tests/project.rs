//! Projector tests: adjointness, exact chord lengths, determinism and bad input.

use ctscreen::geometry::{
    Beam, ConeBeamGeometry, FanBeamGeometry, Geometry, ParallelBeamGeometry, VectorGeometry,
    ViewVectors,
};
use ctscreen::project::{backproject, forward_project, LinearOperator, Projector};
use ctscreen::{Error, NoProgress, Projections, Volume};
use ndarray::Array3;
use rand::{Rng, SeedableRng};

fn random(shape: [usize; 3], seed: u64) -> Array3<f32> {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    Array3::from_shape_simple_fn(shape, || rng.random_range(-1.0f32..1.0))
}

fn angles(n: usize, range: f64, start: f64) -> Vec<f64> {
    (0..n)
        .map(|i| start + range * i as f64 / n as f64)
        .collect()
}

/// A set of small geometries covering every kind, with detector offsets, rays along
/// every dominant axis, and a source inside the volume.
fn cases() -> Vec<(&'static str, Geometry, [usize; 3], [f64; 3])> {
    let par2 = ParallelBeamGeometry::new(angles(37, 3.0, 0.1), 23, 1.3, 1).unwrap();
    let mut par3 = ParallelBeamGeometry::new(angles(11, 6.2, -0.3), 17, 1.1, 5).unwrap();
    par3.detector.col_offset_mm = 0.7;
    par3.detector.row_offset_mm = 0.3;
    let fan =
        FanBeamGeometry::new(angles(29, std::f64::consts::TAU, 0.2), 60.0, 110.0, 31, 1.4).unwrap();
    let cone = ConeBeamGeometry::new(
        angles(13, std::f64::consts::TAU, 0.05),
        40.0,
        75.0,
        (9, 15),
        (1.7, 1.5),
        (1.1, -2.3),
    )
    .unwrap();
    // Tilted views: a cone looking down the z axis (z-dominant rays), a cone with its
    // source inside the volume, tilted parallel rays.
    let views = vec![
        ViewVectors {
            source: [40.0, 3.0, -2.0],
            detector_center: [-30.0, 0.0, 1.0],
            u: [0.1, 0.0, 1.2],
            v: [0.2, 1.1, 0.0],
        },
        ViewVectors {
            source: [1.0, -2.0, 0.5],
            detector_center: [3.0, 30.0, 4.0],
            u: [0.0, 0.2, 1.5],
            v: [1.3, 0.0, 0.1],
        },
        ViewVectors {
            source: [-5.0, -35.0, 12.0],
            detector_center: [2.0, 40.0, -6.0],
            u: [0.3, 0.1, 1.4],
            v: [1.2, -0.2, 0.0],
        },
    ];
    let vec_cone = VectorGeometry {
        beam: Beam::Cone,
        rows: 12,
        cols: 14,
        views: views.clone(),
    };
    let par_views = vec![
        ViewVectors {
            source: [0.8, 0.3, -0.2],
            detector_center: [0.5, 0.0, 0.0],
            u: [0.0, 0.3, 1.1],
            v: [0.2, 1.0, 0.0],
        },
        ViewVectors {
            source: [0.3, 0.9, 0.4],
            detector_center: [0.0, 0.0, 1.0],
            u: [0.0, -0.4, 1.0],
            v: [1.0, 0.1, 0.1],
        },
    ];
    let vec_par = VectorGeometry {
        beam: Beam::Parallel,
        rows: 13,
        cols: 15,
        views: par_views,
    };
    vec![
        ("parallel 2D", par2.into(), [1, 17, 19], [1.0, 1.1, 0.9]),
        ("parallel 3D", par3.into(), [6, 15, 13], [1.2, 1.0, 0.8]),
        ("fan", fan.into(), [1, 21, 18], [1.0, 1.3, 1.1]),
        ("cone", cone.into(), [10, 12, 14], [1.0, 0.9, 1.2]),
        (
            "vector cone",
            vec_cone.into(),
            [11, 13, 12],
            [1.1, 1.0, 0.9],
        ),
        (
            "vector parallel",
            vec_par.into(),
            [9, 10, 11],
            [1.0, 1.2, 0.8],
        ),
    ]
}

#[test]
fn adjoint_matches_forward_for_every_geometry() {
    for (name, g, shape, spacing) in cases() {
        // an origin off the isocentre as well
        let c = ctscreen::volume::centered_origin(shape, spacing);
        let dz = if shape[0] > 1 { 0.4 } else { 0.0 };
        let origin = [c[0] + dz, c[1] + 1.7, c[2] - 2.1];
        let a = Projector::new(shape, spacing, origin, &g).unwrap();
        let x = random(shape, 1);
        let y = random(a.range_shape(), 2);
        let ax = a.apply_new(x.view(), &NoProgress).unwrap();
        let aty = a.apply_adjoint_new(y.view(), &NoProgress).unwrap();
        let lhs: f64 = ax
            .iter()
            .zip(y.iter())
            .map(|(a, b)| *a as f64 * *b as f64)
            .sum();
        let rhs: f64 = x
            .iter()
            .zip(aty.iter())
            .map(|(a, b)| *a as f64 * *b as f64)
            .sum();
        let scale: f64 = ax.iter().map(|v| (*v as f64).abs()).sum::<f64>();
        assert!(scale > 1.0, "{name}: projection is empty");
        let rel = (lhs - rhs).abs() / lhs.abs().max(1e-3 * scale);
        assert!(
            rel < 1e-4,
            "{name}: <Ax,y> = {lhs}, <x,A'y> = {rhs}, rel {rel}"
        );
    }
}

/// A ball of radius `r` mm centred at world `c`, voxelized with partial volumes
/// (5³ sub-samples in the voxels the surface crosses).
fn ball(shape: [usize; 3], spacing: [f64; 3], c: [f64; 3], r: f64) -> Volume {
    let origin = ctscreen::volume::centered_origin(shape, spacing);
    let half_diag = 0.5 * (spacing.iter().map(|s| s * s).sum::<f64>()).sqrt();
    let data = Array3::from_shape_fn(shape, |(k, j, i)| {
        let p = [
            origin[0] + k as f64 * spacing[0],
            origin[1] + j as f64 * spacing[1],
            origin[2] + i as f64 * spacing[2],
        ];
        let d = ((p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2) + (p[2] - c[2]).powi(2)).sqrt();
        if d < r - half_diag {
            return 1.0;
        }
        if d > r + half_diag {
            return 0.0;
        }
        let n = 5;
        let mut inside = 0;
        for a in 0..n {
            for b in 0..n {
                for e in 0..n {
                    let o = |t: usize| (t as f64 + 0.5) / n as f64 - 0.5;
                    let q = [
                        p[0] + o(a) * spacing[0],
                        p[1] + o(b) * spacing[1],
                        p[2] + o(e) * spacing[2],
                    ];
                    let dd = (q[0] - c[0]).powi(2) + (q[1] - c[1]).powi(2) + (q[2] - c[2]).powi(2);
                    if dd <= r * r {
                        inside += 1;
                    }
                }
            }
        }
        inside as f32 / (n * n * n) as f32
    });
    Volume::new(data, spacing, origin).unwrap()
}

/// Exact chord of the line `o + t d` (unit `d`, `t ≥ t_min`) through the ball, and the
/// distance of the line from the centre.
fn sphere_chord(o: [f64; 3], d: [f64; 3], c: [f64; 3], r: f64, t_min: f64) -> (f64, f64) {
    let w = [o[0] - c[0], o[1] - c[1], o[2] - c[2]];
    let b = w[0] * d[0] + w[1] * d[1] + w[2] * d[2];
    let ww = w[0] * w[0] + w[1] * w[1] + w[2] * w[2];
    let dist = (ww - b * b).max(0.0).sqrt();
    let disc = b * b - (ww - r * r);
    if disc <= 0.0 {
        return (0.0, dist);
    }
    let (t0, t1) = (-b - disc.sqrt(), -b + disc.sqrt());
    ((t1.min(f64::MAX) - t0.max(t_min)).max(0.0), dist)
}

fn check_ball_chords(g: &Geometry, shape: [usize; 3], spacing: [f64; 3], c: [f64; 3], r: f64) {
    let vol = ball(shape, spacing, c, r);
    let p = forward_project(&vol, g).unwrap();
    let (rows, cols) = g.detector_shape();
    let beam = g.beam();
    let mut checked = 0;
    let mut worst = 0.0f64;
    for (v, view) in g.view_vectors().iter().enumerate() {
        for row in 0..rows {
            for col in 0..cols {
                let (o, d) =
                    ctscreen::geometry::ray(beam, view, rows, cols, row as f64, col as f64);
                let t_min = if beam == Beam::Cone { 0.0 } else { f64::MIN };
                let (exact, dist) = sphere_chord(o, d, c, r, t_min);
                let got = p.data()[[v, row, col]] as f64;
                if dist < 0.75 * r {
                    let rel = (got - exact).abs() / exact;
                    worst = worst.max(rel);
                    checked += 1;
                } else if dist > r + 2.0 * spacing.iter().cloned().fold(0.0, f64::max) {
                    assert_eq!(got, 0.0, "ray missing the ball must give 0");
                }
            }
        }
    }
    assert!(checked > 50, "only {checked} rays checked");
    eprintln!("worst relative chord error {worst} over {checked} rays");
    assert!(worst < 0.01, "worst relative chord error {worst}");
}

#[test]
fn parallel_2d_ball_matches_exact_chords() {
    let g: Geometry = ParallelBeamGeometry::new(angles(12, std::f64::consts::PI, 0.13), 90, 0.5, 1)
        .unwrap()
        .into();
    // a disc in a single-slice volume: the chord of the sphere at z = 0
    check_ball_chords(&g, [1, 160, 170], [1.0, 0.25, 0.25], [0.0, 3.0, -4.0], 15.0);
}

#[test]
fn fan_ball_matches_exact_chords() {
    let g: Geometry = FanBeamGeometry::new(
        angles(10, std::f64::consts::TAU, 0.3),
        150.0,
        320.0,
        90,
        0.9,
    )
    .unwrap()
    .into();
    check_ball_chords(&g, [1, 160, 160], [1.0, 0.25, 0.25], [0.0, -2.5, 3.0], 14.0);
}

#[test]
fn cone_ball_matches_exact_chords() {
    let g: Geometry = ConeBeamGeometry::new(
        angles(6, std::f64::consts::TAU, 0.2),
        120.0,
        240.0,
        (40, 44),
        (1.6, 1.5),
        (1.5, -2.0),
    )
    .unwrap()
    .into();
    check_ball_chords(&g, [64, 72, 68], [0.5, 0.45, 0.5], [2.0, -3.0, 2.5], 12.0);
}

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

#[test]
fn results_do_not_depend_on_thread_count() {
    for (name, g, shape, spacing) in cases() {
        let a = Projector::centered(shape, spacing, &g).unwrap();
        let x = random(shape, 3);
        let y = random(a.range_shape(), 4);
        let run = || {
            let ax = a.apply_new(x.view(), &NoProgress).unwrap();
            let aty = a.apply_adjoint_new(y.view(), &NoProgress).unwrap();
            let p = Projections::new(y.clone()).unwrap();
            let bp = backproject(&p, &g, shape, spacing).unwrap();
            (ax, aty, bp.into_data())
        };
        let one = in_pool(1, run);
        for threads in [2, 3] {
            let more = in_pool(threads, run);
            // bit-identical, not merely close
            let same = |a: &Array3<f32>, b: &Array3<f32>| {
                a.iter()
                    .zip(b.iter())
                    .all(|(p, q)| p.to_bits() == q.to_bits())
            };
            assert!(
                same(&one.0, &more.0),
                "{name}: forward differs with {threads} threads"
            );
            assert!(
                same(&one.1, &more.1),
                "{name}: adjoint differs with {threads} threads"
            );
            assert!(
                same(&one.2, &more.2),
                "{name}: backprojection differs with {threads} threads"
            );
        }
        assert!(one.1.iter().any(|v| *v != 0.0), "{name}: empty adjoint");
    }
}

#[test]
fn bad_input_gives_typed_errors() {
    let g: Geometry = ParallelBeamGeometry::new(angles(4, 3.0, 0.0), 8, 1.0, 1)
        .unwrap()
        .into();
    // projections whose shape disagrees with the geometry
    let p = Projections::new(Array3::zeros((5, 1, 8))).unwrap();
    let e = backproject(&p, &g, [1, 8, 8], [1.0; 3]).unwrap_err();
    assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
    assert!(e.to_string().contains("[4, 1, 8]"), "{e}");
    // empty volume grid
    let p = Projections::new(Array3::zeros((4, 1, 8))).unwrap();
    let e = backproject(&p, &g, [1, 0, 8], [1.0; 3]).unwrap_err();
    assert!(
        matches!(e, Error::InvalidParameter { .. }) && e.to_string().contains("shape"),
        "{e}"
    );
    let e = Projector::centered([0, 0, 0], [1.0; 3], &g).unwrap_err();
    assert!(matches!(e, Error::InvalidParameter { .. }), "{e}");
    // bad spacing
    let e = backproject(&p, &g, [1, 8, 8], [1.0, -1.0, 1.0]).unwrap_err();
    assert!(e.to_string().contains("spacing"), "{e}");
    // NaN in a volume or in projections
    let mut data = Array3::<f32>::zeros((1, 8, 8));
    data[[0, 3, 3]] = f32::NAN;
    let vol = Volume::centered(data, [1.0; 3]).unwrap();
    let e = forward_project(&vol, &g).unwrap_err();
    assert!(matches!(e, Error::NonFinite { count: 1, .. }), "{e}");
    let mut bad = Array3::<f32>::zeros((4, 1, 8));
    bad[[1, 0, 2]] = f32::INFINITY;
    let e = backproject(
        &Projections::new(bad.clone()).unwrap(),
        &g,
        [1, 8, 8],
        [1.0; 3],
    )
    .unwrap_err();
    assert!(matches!(e, Error::NonFinite { .. }), "{e}");
    let a = Projector::centered([1, 8, 8], [1.0; 3], &g).unwrap();
    let e = a.apply_adjoint_new(bad.view(), &NoProgress).unwrap_err();
    assert!(matches!(e, Error::NonFinite { .. }), "{e}");
    // operator shapes
    let e = a
        .apply_new(Array3::zeros((1, 8, 9)).view(), &NoProgress)
        .unwrap_err();
    assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
    let mut y = Array3::zeros((4, 1, 7));
    let e = a
        .apply(Array3::zeros((1, 8, 8)).view(), y.view_mut(), &NoProgress)
        .unwrap_err();
    assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
    // an oblique volume
    let rot = [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]];
    let vol = Volume::centered(Array3::zeros((1, 8, 8)), [1.0; 3])
        .unwrap()
        .with_direction(rot)
        .unwrap();
    let e = forward_project(&vol, &g).unwrap_err();
    assert!(e.to_string().contains("direction"), "{e}");
    // a parallel view whose rays lie in the detector plane
    let flat = VectorGeometry {
        beam: Beam::Parallel,
        rows: 1,
        cols: 4,
        views: vec![ViewVectors {
            source: [0.0, 0.0, 1.0],
            detector_center: [0.0; 3],
            u: [0.0, 0.0, 1.0],
            v: [1.0, 0.0, 0.0],
        }],
    };
    let e = Projector::centered([1, 4, 4], [1.0; 3], &flat.into()).unwrap_err();
    assert!(e.to_string().contains("views[0]"), "{e}");
    // cancellation
    let flag = ctscreen::CancelFlag::new();
    flag.cancel();
    let e = a
        .apply_new(Array3::zeros((1, 8, 8)).view(), &flag)
        .unwrap_err();
    assert!(matches!(e, Error::Cancelled));
    let e = a
        .apply_adjoint_new(Array3::zeros((4, 1, 8)).view(), &flag)
        .unwrap_err();
    assert!(matches!(e, Error::Cancelled));
}

#[test]
fn strided_views_are_accepted() {
    let (_, g, shape, spacing) = cases().swap_remove(3);
    let a = Projector::centered(shape, spacing, &g).unwrap();
    let x = random(shape, 5);
    let xt = x.t().to_owned(); // Fortran-ordered copy, reversed back below
    let y1 = a.apply_new(x.view(), &NoProgress).unwrap();
    let y2 = a.apply_new(xt.t(), &NoProgress).unwrap();
    assert_eq!(y1, y2);
    let mut out =
        Array3::<f32>::zeros((a.range_shape()[2], a.range_shape()[1], a.range_shape()[0]));
    a.apply(x.view(), out.view_mut().reversed_axes(), &NoProgress)
        .unwrap();
    assert_eq!(out.t(), y1);
}

/// Fraction of the 1D cell `[c − h/2, c + h/2]` inside `[lo, hi]`.
fn overlap(c: f64, h: f64, lo: f64, hi: f64) -> f64 {
    ((c + h / 2.0).min(hi) - (c - h / 2.0).max(lo)).max(0.0) / h
}

#[test]
fn tilted_views_through_a_box_match_exact_chords() {
    // Views from above (rays mostly along z), obliquely, and a parallel tilt: every
    // dominant axis is exercised. Checked rays enter and leave through faces at least
    // two voxels from any edge of the box, and cross at least 8 mm of it (shorter
    // chords between adjacent faces pass close to the edge between them).
    let (lo, hi) = ([-6.0, -9.0, -7.5], [7.0, 8.0, 6.5]);
    let spacing = [0.4, 0.45, 0.5];
    let shape = [56, 56, 50];
    let origin = ctscreen::volume::centered_origin(shape, spacing);
    let data = Array3::from_shape_fn(shape, |(k, j, i)| {
        let idx = [k, j, i];
        (0..3)
            .map(|a| {
                overlap(
                    origin[a] + idx[a] as f64 * spacing[a],
                    spacing[a],
                    lo[a],
                    hi[a],
                )
            })
            .product::<f64>() as f32
    });
    let vol = Volume::new(data, spacing, origin).unwrap();
    let views = vec![
        ViewVectors {
            source: [150.0, 4.0, -3.0],
            detector_center: [-100.0, 0.0, 2.0],
            u: [0.0, 0.1, 0.8],
            v: [0.1, 0.8, 0.0],
        },
        ViewVectors {
            source: [-60.0, -120.0, 50.0],
            detector_center: [40.0, 90.0, -30.0],
            u: [0.0, 0.3, 0.9],
            v: [0.9, -0.2, 0.1],
        },
    ];
    let cone: Geometry = VectorGeometry {
        beam: Beam::Cone,
        rows: 40,
        cols: 44,
        views,
    }
    .into();
    let par: Geometry = VectorGeometry {
        beam: Beam::Parallel,
        rows: 36,
        cols: 40,
        views: vec![ViewVectors {
            source: [0.5, 0.7, -0.5],
            detector_center: [0.0; 3],
            u: [0.0, 0.45, 0.6],
            v: [0.75, -0.3, 0.2],
        }],
    }
    .into();
    for g in [cone, par] {
        let p = forward_project(&vol, &g).unwrap();
        let (rows, cols) = g.detector_shape();
        let mut checked = 0;
        let mut worst = 0.0f64;
        for (vi, view) in g.view_vectors().iter().enumerate() {
            for r in 0..rows {
                for c in 0..cols {
                    let (o, d) =
                        ctscreen::geometry::ray(g.beam(), view, rows, cols, r as f64, c as f64);
                    // slab method
                    let (mut t0, mut t1) = (f64::MIN, f64::MAX);
                    for a in 0..3 {
                        let (ta, tb) = ((lo[a] - o[a]) / d[a], (hi[a] - o[a]) / d[a]);
                        t0 = t0.max(ta.min(tb));
                        t1 = t1.min(ta.max(tb));
                    }
                    if t1 <= t0 {
                        continue;
                    }
                    let inside = |t: f64| {
                        // the two coordinates other than the face's are ≥ 2 voxels inside
                        let q: Vec<f64> = (0..3).map(|a| o[a] + t * d[a]).collect();
                        let margin: Vec<bool> = (0..3)
                            .map(|a| {
                                q[a] > lo[a] + 2.0 * spacing[a] && q[a] < hi[a] - 2.0 * spacing[a]
                            })
                            .collect();
                        margin.iter().filter(|m| **m).count() >= 2
                    };
                    let exact = t1 - t0;
                    if exact < 8.0 || !inside(t0) || !inside(t1) {
                        continue;
                    }
                    let got = p.data()[[vi, r, c]] as f64;
                    worst = worst.max((got - exact).abs() / exact);
                    checked += 1;
                }
            }
        }
        eprintln!("box: worst relative chord error {worst} over {checked} rays");
        assert!(checked > 100, "only {checked} rays checked");
        assert!(
            worst < 0.01,
            "worst relative chord error {worst} over {checked} rays"
        );
    }
}
