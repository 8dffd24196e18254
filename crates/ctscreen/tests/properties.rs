//! Property tests: invariants that must hold on random inputs.
//!
//! * the Joseph projector and its adjoint satisfy `⟨A x, y⟩ = ⟨x, Aᵀ y⟩` on random
//!   parallel, fan, cone and vector geometries and small random grids;
//! * every writer round-trips random volumes (shapes, spacings, origins, and values
//!   with ±0, subnormals, huge magnitudes, ±inf and NaN) through its reader;
//! * geometry JSON round-trips exactly;
//! * the HU ⇄ μ conversions are monotonic and invert each other;
//! * thresholds are monotonic: raising hysteresis thresholds never adds a voxel, and
//!   Otsu's threshold stays in the data's range and shifts with it.
//!
//! Case counts are kept small (32–64) so that the file runs in seconds.

use ctscreen::geometry::{
    Beam, ConeBeamGeometry, Detector, FanBeamGeometry, Geometry, ParallelBeamGeometry,
    VectorGeometry, ViewVectors,
};
use ctscreen::io::{self, SaveOptions};
use ctscreen::project::{LinearOperator, Projector};
use ctscreen::volume::{hu_to_mu, mu_to_hu, water_mu_per_mm};
use ctscreen::{NoProgress, Volume};
use ndarray::Array3;
use proptest::prelude::*;

// ---------------------------------------------------------------- strategies

fn angles(max_views: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(-7.0f64..7.0, 1..=max_views)
}

fn detector(max_rows: usize, max_cols: usize) -> impl Strategy<Value = Detector> {
    (
        1..=max_rows,
        1..=max_cols,
        0.3f64..3.0,
        0.3f64..3.0,
        -3.0f64..3.0,
        -3.0f64..3.0,
    )
        .prop_map(|(rows, cols, rs, cs, ro, co)| Detector {
            rows,
            cols,
            row_spacing_mm: rs,
            col_spacing_mm: cs,
            row_offset_mm: ro,
            col_offset_mm: co,
        })
}

/// A unit vector from two angles.
fn unit(theta: f64, phi: f64) -> [f64; 3] {
    let (st, ct) = theta.sin_cos();
    let (sp, cp) = phi.sin_cos();
    [ct, st * cp, st * sp]
}

fn vector_view() -> impl Strategy<Value = ([f64; 3], [f64; 3], f64, f64, f64, f64)> {
    (
        (0.2f64..2.9, -3.2f64..3.2),
        30.0f64..60.0,
        20.0f64..50.0,
        (-0.5f64..0.5, -0.5f64..0.5),
        0.3f64..2.0,
        0.3f64..2.0,
    )
        .prop_map(|((t, p), sod, odd, (tilt_u, tilt_v), su, sv)| {
            let dir = unit(t, p);
            (dir, [tilt_u, tilt_v, 0.0], sod, odd, su, sv)
        })
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn normalise(a: [f64; 3]) -> [f64; 3] {
    let n = (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]).sqrt();
    [a[0] / n, a[1] / n, a[2] / n]
}

/// A per-view vector geometry: sources (or ray directions) around the volume, detectors
/// facing them, slightly tilted.
fn vector_geometry() -> impl Strategy<Value = Geometry> {
    (
        prop::bool::ANY,
        1usize..=3,
        1usize..=6,
        prop::collection::vec(vector_view(), 1..=4),
    )
        .prop_map(|(cone, rows, cols, views)| {
            let views = views
                .into_iter()
                .map(|(dir, tilt, sod, odd, su, sv)| {
                    // Detector axes perpendicular to the central ray, then tilted.
                    let helper = if dir[0].abs() < 0.9 {
                        [1.0, 0.0, 0.0]
                    } else {
                        [0.0, 1.0, 0.0]
                    };
                    let e1 = normalise(cross(dir, helper));
                    let e2 = cross(dir, e1);
                    let u = normalise(std::array::from_fn(|i| e1[i] + tilt[0] * dir[i]));
                    let v = normalise(std::array::from_fn(|i| e2[i] + tilt[1] * dir[i]));
                    ViewVectors {
                        source: if cone {
                            std::array::from_fn(|i| -sod * dir[i])
                        } else {
                            dir
                        },
                        detector_center: std::array::from_fn(|i| odd * dir[i]),
                        u: std::array::from_fn(|i| su * u[i]),
                        v: std::array::from_fn(|i| sv * v[i]),
                    }
                })
                .collect();
            VectorGeometry {
                beam: if cone { Beam::Cone } else { Beam::Parallel },
                rows,
                cols,
                views,
            }
            .into()
        })
}

fn geometry() -> impl Strategy<Value = Geometry> {
    let parallel = (angles(5), detector(4, 8)).prop_map(|(a, d)| {
        Geometry::Parallel(ParallelBeamGeometry {
            angles_rad: a,
            detector: d,
        })
    });
    let fan = (angles(5), detector(1, 8), 20.0f64..80.0, 5.0f64..100.0).prop_map(
        |(a, mut d, sod, extra)| {
            d.row_offset_mm = 0.0;
            Geometry::Fan(FanBeamGeometry {
                angles_rad: a,
                source_to_isocenter_mm: sod,
                source_to_detector_mm: sod + extra,
                detector: d,
            })
        },
    );
    let cone =
        (angles(5), detector(4, 8), 20.0f64..80.0, 5.0f64..100.0).prop_map(|(a, d, sod, extra)| {
            Geometry::Cone(ConeBeamGeometry {
                angles_rad: a,
                source_to_isocenter_mm: sod,
                source_to_detector_mm: sod + extra,
                detector: d,
            })
        });
    prop_oneof![parallel, fan, cone, vector_geometry()]
}

/// A small grid: shape, spacing, and an origin near the centred one.
fn grid() -> impl Strategy<Value = ([usize; 3], [f64; 3], [f64; 3])> {
    (
        [1usize..=5, 1usize..=6, 1usize..=6],
        [0.4f64..2.5, 0.4f64..2.5, 0.4f64..2.5],
        [-2.0f64..2.0, -2.0f64..2.0, -2.0f64..2.0],
    )
        .prop_map(|(shape, spacing, shift)| {
            let origin =
                std::array::from_fn(|a| -(shape[a] as f64 - 1.0) / 2.0 * spacing[a] + shift[a]);
            (shape, spacing, origin)
        })
}

/// Deterministic pseudo-random values in [−1, 1] from a seed.
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

// ---------------------------------------------------------------- adjointness

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn projector_adjoint_is_exact_transpose(g in geometry(), (shape, spacing, origin) in grid(), seed in any::<u64>()) {
        let a = match Projector::new(shape, spacing, origin, &g) {
            Ok(a) => a,
            // Degenerate views (a ray lying in the detector plane) are refused; that
            // is tested elsewhere.
            Err(_) => return Ok(()),
        };
        let xs = values(shape.iter().product(), seed);
        let ys = values(g.projection_shape().iter().product(), seed ^ 0xabcdef);
        let x = Array3::from_shape_vec(shape, xs).unwrap();
        let y = Array3::from_shape_vec(g.projection_shape(), ys).unwrap();
        let ax = a.apply_new(x.view(), &NoProgress).unwrap();
        let aty = a.apply_adjoint_new(y.view(), &NoProgress).unwrap();
        let dot = |p: &Array3<f32>, q: &Array3<f32>| -> (f64, f64) {
            p.iter().zip(q.iter()).fold((0.0, 0.0), |(s, m), (&u, &v)| {
                let t = f64::from(u) * f64::from(v);
                (s + t, m + t.abs())
            })
        };
        let (lhs, mag1) = dot(&ax, &y);
        let (rhs, mag2) = dot(&x, &aty);
        let scale = mag1.max(mag2).max(1e-12);
        prop_assert!(
            (lhs - rhs).abs() <= 2e-5 * scale,
            "<Ax, y> = {lhs}, <x, A^T y> = {rhs} (scale {scale}) for {g:?}"
        );
        // Something was actually tested: the projector saw the volume for most cases;
        // a ray that misses it gives exactly 0, never NaN.
        prop_assert!(ax.iter().all(|v| v.is_finite()));
        prop_assert!(aty.iter().all(|v| v.is_finite()));
    }
}

#[test]
fn adjoint_property_is_not_vacuous() {
    // The property above skips refused geometries and may meet rays that miss the
    // grid; check on a fixed cone geometry that both sides are far from zero.
    let g: Geometry = ConeBeamGeometry::new(
        vec![0.1, 1.3, 2.9],
        40.0,
        90.0,
        (3, 5),
        (1.0, 1.2),
        (0.3, -0.4),
    )
    .unwrap()
    .into();
    let a = Projector::centered([3, 4, 5], [1.0, 0.8, 1.1], &g).unwrap();
    let x = Array3::from_shape_vec((3, 4, 5), values(60, 3)).unwrap();
    let y = Array3::from_shape_vec((3, 3, 5), values(45, 4)).unwrap();
    let ax = a.apply_new(x.view(), &NoProgress).unwrap();
    let aty = a.apply_adjoint_new(y.view(), &NoProgress).unwrap();
    let lhs: f64 = ax
        .iter()
        .zip(y.iter())
        .map(|(&p, &q)| f64::from(p) * f64::from(q))
        .sum();
    let rhs: f64 = x
        .iter()
        .zip(aty.iter())
        .map(|(&p, &q)| f64::from(p) * f64::from(q))
        .sum();
    assert!(lhs.abs() > 0.1, "{lhs}");
    assert!((lhs - rhs).abs() < 1e-5 * lhs.abs(), "{lhs} vs {rhs}");
}

// ---------------------------------------------------------------- writer round trips

/// Voxel values that stress the writers: ordinary numbers mixed with ±0, subnormals,
/// the extremes of f32, ±inf and NaN.
fn voxel() -> impl Strategy<Value = f32> {
    prop_oneof![
        4 => -1e3f32..1e3,
        1 => Just(0.0f32),
        1 => Just(-0.0f32),
        1 => prop::num::f32::SUBNORMAL,
        1 => prop::num::f32::NORMAL,
        1 => prop::sample::select(vec![
            f32::MAX,
            f32::MIN,
            f32::MIN_POSITIVE,
            f32::EPSILON,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
        ]),
    ]
}

fn random_volume() -> impl Strategy<Value = Volume> {
    (
        [1usize..=4, 1usize..=5, 1usize..=6],
        [1e-3f64..1e3, 1e-3f64..1e3, 1e-3f64..1e3],
        [-1e5f64..1e5, -1e5f64..1e5, -1e5f64..1e5],
    )
        .prop_flat_map(|(shape, spacing, origin)| {
            prop::collection::vec(voxel(), shape.iter().product::<usize>()).prop_map(move |v| {
                Volume::new(Array3::from_shape_vec(shape, v).unwrap(), spacing, origin).unwrap()
            })
        })
}

/// Same values bit for bit (any NaN matches any NaN: payloads are not promised).
fn same_values(a: &Volume, b: &Volume) -> bool {
    a.data()
        .iter()
        .zip(b.data().iter())
        .all(|(x, y)| (x.is_nan() && y.is_nan()) || x.to_bits() == y.to_bits())
}

fn f32_round(a: [f64; 3]) -> [f64; 3] {
    a.map(|v| f64::from(v as f32))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn every_writer_round_trips(vol in random_volume(), compress in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        // MetaImage keeps geometry exactly (shortest round-trip decimal).
        for name in ["v.mha", "v.mhd"] {
            let p = dir.path().join(name);
            io::save_with(&p, &vol, &SaveOptions::new().compress(compress)).unwrap();
            let back = io::load(&p).unwrap();
            prop_assert_eq!(back.shape(), vol.shape());
            prop_assert_eq!(back.spacing(), vol.spacing(), "{}", name);
            prop_assert_eq!(back.origin(), vol.origin(), "{}", name);
            prop_assert_eq!(back.direction(), vol.direction());
            prop_assert!(same_values(&back, &vol), "{} values", name);
        }
        // NIfTI stores geometry in single precision.
        for name in ["v.nii", "v.nii.gz"] {
            let p = dir.path().join(name);
            io::save(&p, &vol).unwrap();
            let back = io::load(&p).unwrap();
            prop_assert_eq!(back.shape(), vol.shape());
            prop_assert_eq!(back.spacing(), f32_round(vol.spacing()), "{}", name);
            prop_assert_eq!(back.origin(), f32_round(vol.origin()), "{}", name);
            prop_assert_eq!(back.direction(), vol.direction());
            prop_assert!(same_values(&back, &vol), "{} values", name);
        }
        // Nothing but the written files is left in the directory.
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let data = if compress { "v.zraw" } else { "v.raw" };
        let mut want = vec!["v.mha", "v.mhd", "v.nii", "v.nii.gz", data];
        want.sort();
        prop_assert_eq!(names, want);
    }
}

// ---------------------------------------------------------------- geometry JSON

/// Any finite f64, including subnormals, ±0 and the extremes.
fn any_finite() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -1e4f64..1e4,
        1 => prop::num::f64::NORMAL,
        1 => prop::num::f64::SUBNORMAL,
        1 => prop::sample::select(vec![0.0, -0.0, f64::MAX, f64::MIN, f64::MIN_POSITIVE]),
    ]
}

fn positive() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => 1e-3f64..1e4,
        1 => prop::num::f64::POSITIVE.prop_filter("finite", |v| v.is_finite() && *v > 0.0),
    ]
}

fn json_detector(one_row: bool) -> impl Strategy<Value = Detector> {
    (
        1usize..=100_000,
        1usize..=100_000,
        positive(),
        positive(),
        any_finite(),
        any_finite(),
    )
        .prop_map(move |(rows, cols, rs, cs, ro, co)| Detector {
            rows: if one_row { 1 } else { rows },
            cols,
            row_spacing_mm: rs,
            col_spacing_mm: cs,
            row_offset_mm: if one_row { 0.0 } else { ro },
            col_offset_mm: co,
        })
}

fn json_geometry() -> impl Strategy<Value = Geometry> {
    let angles = || prop::collection::vec(any_finite(), 1..=6);
    let distances = || (positive(), 1.0f64..1e3).prop_map(|(sod, k)| (sod, sod * (1.0 + k)));
    let parallel = (angles(), json_detector(false)).prop_map(|(a, d)| {
        Geometry::Parallel(ParallelBeamGeometry {
            angles_rad: a,
            detector: d,
        })
    });
    let fan = (angles(), json_detector(true), distances()).prop_map(|(a, d, (s, t))| {
        Geometry::Fan(FanBeamGeometry {
            angles_rad: a,
            source_to_isocenter_mm: s,
            source_to_detector_mm: t,
            detector: d,
        })
    });
    let cone = (angles(), json_detector(false), distances()).prop_map(|(a, d, (s, t))| {
        Geometry::Cone(ConeBeamGeometry {
            angles_rad: a,
            source_to_isocenter_mm: s,
            source_to_detector_mm: t,
            detector: d,
        })
    });
    prop_oneof![parallel, fan, cone, vector_geometry()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn geometry_json_round_trips_exactly(g in json_geometry()) {
        prop_assume!(g.validate().is_ok());
        let text = g.to_json();
        let back = Geometry::from_json(&text).unwrap();
        prop_assert_eq!(&back, &g);
        // Bit for bit, so -0.0 and subnormals survive too.
        let bits = |g: &Geometry| -> Vec<u64> {
            let mut v: Vec<u64> = g.angles_rad().unwrap_or(&[]).iter().map(|a| a.to_bits()).collect();
            for w in g.view_vectors() {
                for x in [w.source, w.detector_center, w.u, w.v].iter().flatten() {
                    v.push(x.to_bits());
                }
            }
            v
        };
        prop_assert_eq!(bits(&back), bits(&g));
        prop_assert_eq!(back.to_json(), text);
    }
}

// ---------------------------------------------------------------- HU ⇄ μ

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn hu_mu_round_trip_and_monotonic(
        energy in 10.0f64..200.0,
        mu in 0.0f32..5.0,
        delta in 1e-6f32..1.0,
        hu in -1000.0f32..30_000.0,
    ) {
        let w = water_mu_per_mm(energy).unwrap();
        prop_assert!(w > 0.0 && w.is_finite());
        // μ → HU → μ within f32 rounding (relative, plus an absolute floor near 0).
        let back = hu_to_mu(mu_to_hu(mu, w), w);
        prop_assert!((back - mu).abs() <= 1e-6 * mu.abs().max(w as f32) + 1e-7, "{mu} -> {back}");
        // HU → μ → HU likewise.
        let hu_back = mu_to_hu(hu_to_mu(hu, w), w);
        prop_assert!((hu_back - hu).abs() <= 1e-5 * hu.abs().max(1000.0), "{hu} -> {hu_back}");
        // Monotonic: more attenuation, more HU (never less), and back.
        let mu2 = mu + delta;
        prop_assert!(mu_to_hu(mu2, w) >= mu_to_hu(mu, w));
        prop_assert!(mu_to_hu(mu2, w) > mu_to_hu(mu, w) || delta < 1e-5);
        let hu2 = hu + delta * 100.0;
        prop_assert!(hu_to_mu(hu2, w) >= hu_to_mu(hu, w));
        // Fixed points: air is −1000 HU, water is 0 HU.
        prop_assert!((mu_to_hu(0.0, w) + 1000.0).abs() < 1e-3);
        prop_assert!(mu_to_hu(w as f32, w).abs() < 1e-2);
    }

    #[test]
    fn water_attenuation_decreases_with_energy(e1 in 10.0f64..200.0, e2 in 10.0f64..200.0) {
        let (lo, hi) = if e1 < e2 { (e1, e2) } else { (e2, e1) };
        prop_assume!(hi - lo > 1e-9);
        prop_assert!(water_mu_per_mm(lo).unwrap() > water_mu_per_mm(hi).unwrap());
    }
}

// ---------------------------------------------------------------- thresholds

/// A small random volume with smooth structure and noise, values in about 0–1.
fn blobs(seed: u64) -> Array3<f32> {
    let v = values(6 * 7 * 8, seed);
    Array3::from_shape_fn((6, 7, 8), |(k, j, i)| {
        let smooth =
            ((k as f32 * 0.9).sin() + (j as f32 * 0.7).cos() + (i as f32 * 0.5).sin()) / 6.0 + 0.5;
        smooth + 0.2 * (v[(k * 7 + j) * 8 + i].abs().min(1.0) - 0.5)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Raising either hysteresis threshold never adds a voxel; the result always lies
    /// between the two plain thresholds (`> high` ⊆ result ⊆ `> low`).
    #[test]
    fn hysteresis_is_monotonic_in_its_thresholds(
        seed in any::<u64>(),
        low in 0.0f32..1.0,
        high in 0.0f32..1.0,
        raise_low in 0.0f32..0.3,
        raise_high in 0.0f32..0.3,
        ci in 0usize..3,
    ) {
        use ctscreen::segment::{hysteresis, Connectivity};
        let conn = [Connectivity::Six, Connectivity::Eighteen, Connectivity::TwentySix][ci];
        let v = blobs(seed);
        let a = hysteresis(v.view(), low, high, conn).unwrap();
        let b = hysteresis(v.view(), low + raise_low, high + raise_high, conn).unwrap();
        let low_c = low.min(high);
        for ((&x, &y), &m) in a.iter().zip(b.iter()).zip(v.iter()) {
            prop_assert!(x || !y, "raising the thresholds added a voxel");
            prop_assert!(!x || m > low_c, "a kept voxel at or below low");
            prop_assert!(x || m <= high, "a voxel above high was dropped");
        }
    }

    /// Otsu's threshold lies within the data's range and moves with it: adding a
    /// constant shifts the threshold by that constant (within one bin: the shifted
    /// values are rounded to f32, which can move a value across a bin edge).
    #[test]
    fn otsu_threshold_is_in_range_and_shift_equivariant(seed in any::<u64>(), shift in -4i32..5) {
        use ctscreen::segment::threshold_otsu;
        let v = blobs(seed);
        let t = threshold_otsu(&v, 256).unwrap();
        let (lo, hi) = v.iter().fold((f32::MAX, f32::MIN), |(a, b), &x| (a.min(x), b.max(x)));
        prop_assert!(t >= lo && t <= hi, "{t} outside [{lo}, {hi}]");
        let moved = v.mapv(|x| x + shift as f32);
        let t2 = threshold_otsu(&moved, 256).unwrap();
        let tol = (hi - lo) / 256.0 * 1.01 + 1e-5 * (1.0 + shift.abs() as f32);
        prop_assert!((t2 - (t + shift as f32)).abs() <= tol, "{t} + {shift} vs {t2}");
    }
}
