//! Tests of the scan simulator: exact chords, voxelisation, NIST attenuation,
//! polychromatic physics and noise, the parcel generator and its ground truth.

use ctscreen::geometry::{ConeBeamGeometry, FanBeamGeometry, Geometry, ParallelBeamGeometry};
use ctscreen::phantom::{
    analytic_projections, parcel, shepp_logan_3d, Attenuation, ContainerKind, ObjectClass,
    ParcelOptions, Phantom, Primitive, Rotation, Shape, ThreatKind, Threats,
};
use ctscreen::physics::{simulate, Filtration, Material, SimulateOptions, Spectrum};
use ctscreen::NoProgress;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

fn random_shape(rng: &mut Pcg64, kind: usize) -> Shape {
    let mut u = |lo: f64, hi: f64| lo + (hi - lo) * rng.random::<f64>();
    match kind {
        0 => Shape::ellipsoid(u(5.0, 40.0), u(5.0, 40.0), u(5.0, 40.0)),
        1 => Shape::cuboid(u(3.0, 60.0), u(3.0, 60.0), u(3.0, 60.0)),
        2 => Shape::cylinder(u(3.0, 30.0), u(5.0, 80.0)),
        3 => Shape::Cylinder {
            radius_y: u(3.0, 30.0),
            radius_x: u(3.0, 30.0),
            half_length: u(3.0, 40.0),
        },
        _ => {
            let ro = u(5.0, 30.0);
            Shape::tube(ro, u(0.2, 0.9) * ro, u(5.0, 80.0))
        }
    }
}

fn random_primitive(rng: &mut Pcg64, kind: usize) -> Primitive {
    let shape = random_shape(rng, kind);
    let c = [
        rng.random_range(-20.0..20.0),
        rng.random_range(-20.0..20.0),
        rng.random_range(-20.0..20.0),
    ];
    Primitive::new(shape, c, Rotation::random(rng)).unwrap()
}

fn unit(v: [f64; 3]) -> [f64; 3] {
    let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    [v[0] / n, v[1] / n, v[2] / n]
}

/// Chord length by dense midpoint sampling of `contains` along the line.
fn sampled_chord(p: &Primitive, point: [f64; 3], dir: [f64; 3], half: f64, n: usize) -> f64 {
    let h = 2.0 * half / n as f64;
    (0..n)
        .filter(|&i| {
            let t = -half + (i as f64 + 0.5) * h;
            p.contains([
                point[0] + t * dir[0],
                point[1] + t * dir[1],
                point[2] + t * dir[2],
            ])
        })
        .count() as f64
        * h
}

#[test]
fn exact_chords_match_dense_sampling_for_rotated_primitives() {
    let mut rng = Pcg64::seed_from_u64(11);
    let mut hits = 0;
    for kind in 0..5 {
        for _ in 0..8 {
            let prim = random_primitive(&mut rng, kind);
            for _ in 0..12 {
                // Lines through a random point near the object, random direction.
                let q = [
                    prim.center[0] + rng.random_range(-25.0..25.0),
                    prim.center[1] + rng.random_range(-25.0..25.0),
                    prim.center[2] + rng.random_range(-25.0..25.0),
                ];
                let d = unit([
                    rng.random_range(-1.0..1.0),
                    rng.random_range(-1.0..1.0),
                    rng.random_range(-1.0..1.0),
                ]);
                let exact = prim.chord(q, d);
                let half = 200.0;
                let n = 100_000; // step 4 µm
                let num = sampled_chord(&prim, q, d, half, n);
                assert!(
                    (exact - num).abs() < 0.02,
                    "kind {kind}: exact {exact} vs sampled {num} ({prim:?})"
                );
                if exact > 0.0 {
                    hits += 1;
                }
            }
        }
    }
    assert!(hits > 100, "too few lines hit their object: {hits}");
}

#[test]
fn chords_of_axis_aligned_primitives_are_textbook_values() {
    let id = Rotation::IDENTITY;
    let tube = Primitive::new(Shape::tube(10.0, 6.0, 50.0), [0.0; 3], id).unwrap();
    // Across the axis through the centre: 2 × wall.
    assert!((tube.chord([0.0, 0.0, -99.0], [0.0, 0.0, 1.0]) - 8.0).abs() < 1e-12);
    // Along the axis inside the wall: the full length.
    assert!((tube.chord([-99.0, 8.0, 0.0], [1.0, 0.0, 0.0]) - 50.0).abs() < 1e-12);
    // Along the axis through the bore: nothing.
    assert_eq!(tube.chord([-99.0, 0.0, 0.0], [1.0, 0.0, 0.0]), 0.0);
    let cyl = Primitive::new(Shape::cylinder(5.0, 20.0), [0.0; 3], id).unwrap();
    // Offset chord: 2 sqrt(r² − d²).
    let l = cyl.chord([0.0, 3.0, -50.0], [0.0, 0.0, 1.0]);
    assert!((l - 8.0).abs() < 1e-12, "{l}");
    let b = Primitive::new(Shape::cuboid(10.0, 20.0, 30.0), [0.0; 3], id).unwrap();
    let d = unit([0.0, 1.0, 1.0]);
    assert!((b.chord([0.0, 0.0, 0.0], d) - 20.0 * 2f64.sqrt()).abs() < 1e-9);
}

fn nearly(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs()
}

#[test]
fn attenuation_matches_nist_within_two_percent() {
    // (material, NIST density g/cm³, [(keV, μ/ρ cm²/g)]) from Hubbell & Seltzer Table 3/4.
    type Case = (Material, f64, [(f64, f64); 3]);
    let cases: [Case; 4] = [
        (
            Material::Water,
            1.0,
            [(40.0, 0.2683), (60.0, 0.2059), (100.0, 0.1707)],
        ),
        (
            Material::Aluminium,
            2.699,
            [(40.0, 0.5685), (60.0, 0.2778), (100.0, 0.1704)],
        ),
        (
            Material::Steel,
            7.874,
            [(40.0, 3.629), (60.0, 1.205), (100.0, 0.3717)],
        ),
        (
            Material::Lead,
            11.35,
            [(40.0, 14.36), (60.0, 5.021), (100.0, 5.549)],
        ),
    ];
    for (m, rho, pts) in cases {
        for (e, mass) in pts {
            let want = mass * rho / 10.0;
            let got = m.mu_per_mm(e);
            assert!(
                nearly(got, want, 0.02),
                "{m} at {e} keV: {got} vs NIST {want}"
            );
        }
    }
    // Off-grid: log-log interpolation between NIST points stays between them.
    let w70 = Material::Water.mu_per_mm(70.0);
    assert!(w70 < 0.02059 && w70 > 0.01837, "{w70}");
}

fn water_cylinder(radius: f64) -> Phantom {
    let mut ph = Phantom::new();
    let c = Primitive::new(Shape::cylinder(radius, 100.0), [0.0; 3], Rotation::IDENTITY).unwrap();
    ph.push(
        c,
        Attenuation::Material(Material::Water),
        1,
        ObjectClass::Clutter,
        "water",
    );
    ph
}

#[test]
fn polychromatic_water_shows_beam_hardening() {
    let ph = water_cylinder(100.0);
    let cols = 201;
    let g: Geometry = ParallelBeamGeometry::new(vec![0.0], cols, 1.0, 1)
        .unwrap()
        .into();
    let opts = SimulateOptions {
        noise: false,
        ..Default::default()
    };
    let p = simulate(&ph, &g, &opts, &NoProgress).unwrap();
    // Chord length for column c: 2 sqrt(R² − u²), u = c − 100 mm.
    let mut pts: Vec<(f64, f64)> = (0..cols)
        .map(|c| {
            let u = c as f64 - 100.0;
            let l = 2.0 * (100.0f64 * 100.0 - u * u).max(0.0).sqrt();
            (l, f64::from(p.data()[[0, 0, c]]))
        })
        .filter(|(l, _)| *l > 5.0)
        .collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Effective μ = p / L falls as the path lengthens (the beam hardens) …
    for w in pts.windows(2) {
        if w[1].0 > w[0].0 + 1.0 {
            assert!(w[1].1 / w[1].0 < w[0].1 / w[0].0, "{w:?}");
        }
    }
    // … so p(L) is concave: below the chord through its end points.
    let (l0, p0) = pts[0];
    let (l1, p1) = pts[pts.len() - 1];
    let mid = pts
        .iter()
        .min_by(|a, b| {
            (a.0 - 0.5 * (l0 + l1))
                .abs()
                .total_cmp(&(b.0 - 0.5 * (l0 + l1)).abs())
        })
        .unwrap();
    let line = p0 + (p1 - p0) * (mid.0 - l0) / (l1 - l0);
    assert!(
        mid.1 > line + 0.01,
        "not concave: {} vs chord {}",
        mid.1,
        line
    );
    // At 200 mm the effective μ is the effective energy's water μ, by definition.
    let s = opts.spectrum().unwrap();
    let mu_eff = Material::Water.mu_per_mm(s.effective_energy_kev());
    let centre = f64::from(p.data()[[0, 0, 100]]);
    assert!(
        nearly(centre / 200.0, mu_eff, 2e-3),
        "{} vs {mu_eff}",
        centre / 200.0
    );
}

#[test]
fn noise_variance_scales_as_one_over_photons() {
    // A 60 mm water slab in front of every pixel.
    let mut ph = Phantom::new();
    let b = Primitive::new(
        Shape::cuboid(100.0, 60.0, 1000.0),
        [0.0; 3],
        Rotation::IDENTITY,
    )
    .unwrap();
    ph.push(
        b,
        Attenuation::Material(Material::Water),
        1,
        ObjectClass::Clutter,
        "slab",
    );
    let cols = 6000;
    let g: Geometry = ParallelBeamGeometry::new(vec![0.0], cols, 0.1, 1)
        .unwrap()
        .into();
    let spectrum = Spectrum::kramers(120.0, Filtration::default(), 2.0).unwrap();
    let t = spectrum.transmission(Material::Water, 60.0);
    let mut vars = Vec::new();
    for photons in [2e3, 8e3] {
        let opts = SimulateOptions {
            photons,
            seed: 3,
            ..Default::default()
        };
        let p = simulate(&ph, &g, &opts, &NoProgress).unwrap();
        let v: Vec<f64> = p.data().iter().map(|&x| f64::from(x)).collect();
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (v.len() - 1) as f64;
        // Delta method: var(−ln N/I0) ≈ 1 / (I0 T).
        let want = 1.0 / (photons * t);
        assert!(nearly(var, want, 0.1), "I0 {photons}: var {var} vs {want}");
        assert!(nearly(mean, -t.ln(), 0.01), "mean {mean} vs {}", -t.ln());
        vars.push(var);
    }
    assert!(nearly(vars[0] / vars[1], 4.0, 0.1), "{vars:?}");
}

#[test]
fn steel_starves_and_hardens_and_floor_applies() {
    let mut ph = Phantom::new();
    let b = Primitive::new(
        Shape::cuboid(50.0, 50.0, 80.0),
        [0.0; 3],
        Rotation::IDENTITY,
    )
    .unwrap();
    ph.push(
        b,
        Attenuation::Material(Material::Steel),
        1,
        ObjectClass::MetalOther,
        "block",
    );
    let g: Geometry = ParallelBeamGeometry::new(vec![0.0], 8, 1.0, 1)
        .unwrap()
        .into();
    let opts = SimulateOptions {
        photons: 1e4,
        seed: 1,
        ..Default::default()
    };
    let p = simulate(&ph, &g, &opts, &NoProgress).unwrap();
    // 80 mm of steel: expected counts far below one photon → the floor.
    let floor = -(opts.count_floor / opts.photons).ln();
    for &v in p.data().iter() {
        assert!(v.is_finite() && f64::from(v) <= floor + 1e-4, "{v}");
    }
    assert!(p
        .data()
        .iter()
        .any(|&v| (f64::from(v) - floor).abs() < 1e-4));
}

#[test]
fn simulate_and_voxelize_are_deterministic_across_thread_counts() {
    let opts = ParcelOptions {
        threats: Threats::Kinds(vec![ThreatKind::PistolPolymer, ThreatKind::CartridgesLoose]),
        max_extent_mm: Some(260.0),
        ..Default::default()
    };
    let a = parcel(5, &opts).unwrap();
    let b = parcel(5, &opts).unwrap();
    assert_eq!(a, b);
    let c = parcel(6, &opts).unwrap();
    assert_ne!(a.phantom, c.phantom);
    let g: Geometry = ConeBeamGeometry::new(
        (0..6).map(|i| i as f64 * 0.5).collect(),
        500.0,
        900.0,
        (12, 40),
        (4.0, 8.0),
        (0.0, 0.0),
    )
    .unwrap()
    .into();
    let sim = SimulateOptions {
        seed: 9,
        ..Default::default()
    };
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let v = a.voxelize([40, 40, 40], [6.5; 3], 70.0, 2).unwrap();
            let l = a.truth_labels([40, 40, 40], [6.5; 3]).unwrap();
            let p = simulate(&a.phantom, &g, &sim, &NoProgress).unwrap();
            (v, l, p)
        })
    };
    let (v1, l1, p1) = run(1);
    let (v2, l2, p2) = run(2);
    assert_eq!(v1.data(), v2.data());
    assert_eq!(l1, l2);
    assert_eq!(p1.data(), p2.data());
    // Another noise seed changes the projections.
    let p3 = simulate(
        &a.phantom,
        &g,
        &SimulateOptions {
            seed: 10,
            ..Default::default()
        },
        &NoProgress,
    )
    .unwrap();
    assert_ne!(p1.data(), p3.data());
}

/// Voxelise one primitive, sum along x, and compare with the exact parallel
/// projection along x (pixel centres on voxel centres), away from edges.
#[test]
fn voxelized_primitives_integrate_to_exact_line_integrals() {
    let mut rng = Pcg64::seed_from_u64(4);
    let n = 64;
    let s = 1.0;
    for kind in 0..5 {
        let mut ph = Phantom::new();
        let mut prim = random_primitive(&mut rng, kind);
        prim.center = [
            rng.random_range(-3.0..3.0),
            rng.random_range(-3.0..3.0),
            0.0,
        ];
        // Keep it inside the grid.
        let b = prim.aabb();
        let reach = (0..3)
            .map(|a| b[0][a].abs().max(b[1][a].abs()))
            .fold(0.0, f64::max);
        if reach > 30.0 {
            let f = 28.0 / reach;
            prim.shape = match prim.shape {
                Shape::Ellipsoid { semi_axes } => Shape::Ellipsoid {
                    semi_axes: semi_axes.map(|a| a * f),
                },
                Shape::Cuboid { half_extents } => Shape::Cuboid {
                    half_extents: half_extents.map(|a| a * f),
                },
                Shape::Cylinder {
                    radius_y,
                    radius_x,
                    half_length,
                } => Shape::Cylinder {
                    radius_y: radius_y * f,
                    radius_x: radius_x * f,
                    half_length: half_length * f,
                },
                Shape::Tube {
                    outer_radius,
                    inner_radius,
                    half_length,
                } => Shape::Tube {
                    outer_radius: outer_radius * f,
                    inner_radius: inner_radius * f,
                    half_length: half_length * f,
                },
            };
            prim.center = prim.center.map(|c| c * f);
        }
        ph.push(
            prim,
            Attenuation::Constant(0.05),
            1,
            ObjectClass::Clutter,
            "p",
        );
        let vol = ph.voxelize([n, n, n], [s; 3], 70.0, 4).unwrap();
        // θ = π/2: rays along −x, columns along +y, rows along z.
        let g: Geometry = ParallelBeamGeometry::new(vec![std::f64::consts::FRAC_PI_2], n, s, n)
            .unwrap()
            .into();
        let exact = analytic_projections(&ph, &g, 70.0).unwrap();
        let e = exact.data();
        let max = e.iter().cloned().fold(0.0f32, f32::max);
        let mut checked = 0;
        for r in 1..n - 1 {
            for c in 1..n - 1 {
                let v = e[[0, r, c]];
                if v < 0.3 * max {
                    continue;
                }
                let smooth = (-1..=1).all(|dr: i32| {
                    (-1..=1).all(|dc: i32| {
                        let w = e[[0, (r as i32 + dr) as usize, (c as i32 + dc) as usize]];
                        (w - v).abs() < 0.05 * v
                    })
                });
                if !smooth {
                    continue;
                }
                let sum: f32 = (0..n).map(|i| vol.data()[[r, c, i]]).sum::<f32>() * s as f32;
                assert!(
                    ((sum - v) / v).abs() < 0.01,
                    "kind {kind} pixel ({r},{c}): voxel sum {sum} vs exact {v}"
                );
                checked += 1;
            }
        }
        assert!(checked > 10, "kind {kind}: only {checked} interior pixels");
    }
}

#[test]
fn analytic_projections_agree_between_geometries_on_the_central_ray() {
    // Fan and cone central rays pass through the isocentre like the parallel ray.
    let ph = shepp_logan_3d(80.0);
    let par: Geometry = ParallelBeamGeometry::new(vec![0.3], 9, 1.0, 1)
        .unwrap()
        .into();
    let fan: Geometry = FanBeamGeometry::new(vec![0.3], 400.0, 800.0, 9, 1.0)
        .unwrap()
        .into();
    let cone: Geometry =
        ConeBeamGeometry::new(vec![0.3], 400.0, 800.0, (9, 9), (1.0, 1.0), (0.0, 0.0))
            .unwrap()
            .into();
    let a = analytic_projections(&ph, &par, 70.0).unwrap().data()[[0, 0, 4]];
    let b = analytic_projections(&ph, &fan, 70.0).unwrap().data()[[0, 0, 4]];
    let c = analytic_projections(&ph, &cone, 70.0).unwrap().data()[[0, 4, 4]];
    assert!((a - b).abs() < 1e-5 && (a - c).abs() < 1e-5, "{a} {b} {c}");
    assert!(a > 0.0);
}

fn threat_parcel(kind: ThreatKind, seed: u64) -> ctscreen::Parcel {
    let opts = ParcelOptions {
        threats: Threats::Kinds(vec![kind]),
        hide_probability: 0.0,
        ..Default::default()
    };
    parcel(seed, &opts).unwrap()
}

fn feature(o: &ctscreen::phantom::GroundTruthObject, name: &str) -> f64 {
    o.features
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("{} has no feature {name}: {:?}", o.kind, o.features))
}

#[test]
fn every_threat_kind_appears_with_plausible_dimensions() {
    for &kind in ThreatKind::ALL {
        for seed in 0..3 {
            let p = threat_parcel(kind, seed);
            let of = |k: &str| p.objects.iter().filter(|o| o.kind == k).collect::<Vec<_>>();
            let between = |v: f64, lo: f64, hi: f64, what: &str| {
                assert!(
                    v >= lo && v <= hi,
                    "{kind:?} seed {seed}: {what} = {v} not in [{lo}, {hi}]"
                );
            };
            match kind {
                ThreatKind::PistolPolymer | ThreatKind::PistolSteel => {
                    let name = kind.name();
                    let g = of(name);
                    assert_eq!(g.len(), 1, "{name}");
                    let g = g[0];
                    assert_eq!(g.class, ObjectClass::Firearm);
                    between(feature(g, "grip_angle_deg"), 105.0, 112.0, "grip angle");
                    between(feature(g, "bore_diameter"), 8.9, 9.1, "bore");
                    between(feature(g, "barrel_length"), 95.0, 117.0, "barrel length");
                    between(g.size_mm[0], 165.0, 240.0, "length");
                    between(g.size_mm[1], 120.0, 165.0, "height");
                    between(g.size_mm[2], 25.0, 40.0, "width");
                }
                ThreatKind::Revolver => {
                    let g = of("revolver")[0];
                    between(feature(g, "chambers"), 6.0, 6.0, "chambers");
                    between(g.size_mm[0], 140.0, 300.0, "length");
                }
                ThreatKind::Barrel => {
                    let b = of("barrel")[0];
                    assert_eq!(b.class, ObjectClass::FirearmPart);
                    between(feature(b, "length"), 100.0, 400.0, "length");
                    between(feature(b, "bore_diameter"), 5.5, 12.0, "bore");
                    between(b.size_mm[0], 100.0, 401.0, "extent");
                }
                ThreatKind::Slide => between(of("slide")[0].size_mm[0], 165.0, 200.0, "length"),
                ThreatKind::Bolt => between(of("bolt")[0].size_mm[0], 95.0, 200.0, "length"),
                ThreatKind::Magazine => {
                    let m = of("magazine")[0];
                    between(m.size_mm[0], 100.0, 200.0, "length");
                }
                ThreatKind::Receiver => {
                    between(of("receiver")[0].size_mm[0], 200.0, 400.0, "length")
                }
                ThreatKind::CartridgesLoose | ThreatKind::CartridgesBoxed => {
                    let c = of("cartridge_9x19");
                    if kind == ThreatKind::CartridgesLoose {
                        between(c.len() as f64, 1.0, 50.0, "loose count");
                    } else {
                        between(c.len() as f64, 30.0, 50.0, "boxed count");
                        assert_eq!(of("cartridge_box").len(), 1);
                    }
                    let group = c[0].group;
                    assert!(group.is_some());
                    for x in &c {
                        assert_eq!(x.class, ObjectClass::Ammunition);
                        assert_eq!(x.group, group, "one batch");
                        between(x.size_mm[0], 29.6, 29.8, "overall length");
                        between(x.size_mm[1], 9.9, 9.95, "case diameter");
                        between(feature(x, "case_diameter"), 9.9, 9.95, "case diameter");
                    }
                }
                ThreatKind::Knife => {
                    let k = of("knife")[0];
                    assert_eq!(k.class, ObjectClass::Blade);
                    between(feature(k, "blade_length"), 80.0, 250.0, "blade length");
                    between(feature(k, "blade_width"), 20.0, 40.0, "blade width");
                    between(feature(k, "blade_thickness"), 2.0, 4.0, "blade thickness");
                }
            }
            // Labels are dense and index the truth.
            for (i, o) in p.objects.iter().enumerate() {
                assert_eq!(o.label as usize, i + 1);
            }
            let extent = p.extent_mm;
            assert!(
                extent.iter().all(|&d| (30.0..=1000.0).contains(&d)),
                "{extent:?}"
            );
        }
    }
}

#[test]
fn hidden_parts_sit_inside_their_motor_housing() {
    let opts = ParcelOptions {
        threats: Threats::Kinds(vec![ThreatKind::Barrel, ThreatKind::Bolt]),
        hide_probability: 1.0,
        ..Default::default()
    };
    let p = parcel(21, &opts).unwrap();
    let hidden: Vec<_> = p.objects.iter().filter(|o| o.hidden_in.is_some()).collect();
    assert_eq!(hidden.len(), 2);
    for h in hidden {
        let host = p.object(h.hidden_in.unwrap()).unwrap();
        assert_eq!(host.kind, "motor_housing");
        for a in 0..3 {
            assert!(h.bbox_mm[a] >= host.bbox_mm[a] - 1e-6);
            assert!(h.bbox_mm[a + 3] <= host.bbox_mm[a + 3] + 1e-6);
        }
    }
}

#[test]
fn objects_never_overlap() {
    let mut rng = Pcg64::seed_from_u64(99);
    for seed in 0..4 {
        let opts = ParcelOptions {
            threats: Threats::Kinds(ThreatKind::ALL.to_vec()),
            container: ContainerKind::Box,
            ..Default::default()
        };
        let p = parcel(seed, &opts).unwrap();
        let boxes: Vec<_> = p
            .phantom
            .objects
            .iter()
            .map(|o| o.primitive.aabb())
            .collect();
        for (i, o) in p.phantom.objects.iter().enumerate() {
            let b = boxes[i];
            for _ in 0..60 {
                let q: [f64; 3] = std::array::from_fn(|a| rng.random_range(b[0][a]..=b[1][a]));
                if !o.primitive.contains(q) {
                    continue;
                }
                for (j, other) in p.phantom.objects.iter().enumerate() {
                    if j != i
                        && (0..3).all(|a| q[a] >= boxes[j][0][a] && q[a] <= boxes[j][1][a])
                        && other.primitive.contains(q)
                    {
                        // Touching faces are allowed; a point strictly inside both is not.
                        let inside_both = [0.05, -0.05].iter().all(|&e| {
                            let qq = [q[0] + e, q[1] + e, q[2] + e];
                            o.primitive.contains(qq) && other.primitive.contains(qq)
                        });
                        assert!(
                            !inside_both,
                            "seed {seed}: {} ({}) overlaps {} ({}) at {q:?}",
                            o.part, o.label, other.part, other.label
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn truth_boxes_contain_their_voxels() {
    let opts = ParcelOptions {
        threats: Threats::Kinds(vec![
            ThreatKind::PistolSteel,
            ThreatKind::Knife,
            ThreatKind::CartridgesBoxed,
        ]),
        max_extent_mm: Some(320.0),
        ..Default::default()
    };
    let p = parcel(3, &opts).unwrap();
    let n = 100;
    let s = 3.3;
    let labels = p.truth_labels([n, n, n], [s; 3]).unwrap();
    let origin = -(n as f64 - 1.0) / 2.0 * s;
    let mut seen = vec![0usize; p.objects.len() + 1];
    for ((k, j, i), &l) in labels.indexed_iter() {
        if l == 0 {
            continue;
        }
        seen[l as usize] += 1;
        let o = p.object(l).unwrap();
        let w = [
            origin + k as f64 * s,
            origin + j as f64 * s,
            origin + i as f64 * s,
        ];
        for a in 0..3 {
            assert!(
                w[a] >= o.bbox_mm[a] - 1e-9 && w[a] <= o.bbox_mm[a + 3] + 1e-9,
                "voxel {w:?} of {} outside {:?}",
                o.kind,
                o.bbox_mm
            );
        }
    }
    // Every threat is visible in the labels.
    for t in p.threats() {
        assert!(seen[t.label as usize] > 0, "{} has no voxel", t.kind);
    }
    // The container fits in the capped extent.
    assert!(p.extent_mm.iter().all(|&d| d <= 320.0 + 1e-9));
}

/// A cap that a threat's long tail of sizes exceeds redraws the threat instead of
/// failing: these seeds drew a knife, a receiver and a barrel with its bolt longer than
/// 300 mm allows on all of the first six tries.
#[test]
fn a_cap_redraws_threats_too_long_for_it() {
    for (seed, kinds) in [
        (143, vec![ThreatKind::Knife]),
        (295, vec![ThreatKind::Receiver]),
        (169, vec![ThreatKind::Barrel, ThreatKind::Bolt]),
    ] {
        let opts = ParcelOptions {
            threats: Threats::Kinds(kinds.clone()),
            max_extent_mm: Some(300.0),
            ..Default::default()
        };
        let p = parcel(seed, &opts).unwrap_or_else(|e| panic!("seed {seed} {kinds:?}: {e}"));
        assert!(
            p.extent_mm.iter().all(|&d| d <= 300.0 + 1e-9),
            "{:?}",
            p.extent_mm
        );
        assert!(
            p.objects.iter().any(|o| o.class.is_threat()),
            "seed {seed}: no threat among {:?}",
            p.objects.iter().map(|o| &o.kind).collect::<Vec<_>>()
        );
    }
}

#[test]
fn too_small_a_cap_is_an_error_naming_it() {
    let opts = ParcelOptions {
        threats: Threats::Kinds(vec![ThreatKind::Barrel]),
        max_extent_mm: Some(80.0),
        hide_probability: 0.0,
        ..Default::default()
    };
    let e = parcel(1, &opts).unwrap_err();
    assert!(e.to_string().contains("max_extent_mm"), "{e}");
    let e = parcel(
        1,
        &ParcelOptions {
            clutter: f64::NAN,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("clutter"), "{e}");
}

fn write_png(path: &std::path::Path, img: &[f32], h: usize, w: usize) {
    let max = img.iter().cloned().fold(0.0f32, f32::max).max(1e-12);
    let bytes: Vec<u8> = img
        .iter()
        .map(|&v| ((v / max).sqrt().clamp(0.0, 1.0) * 255.0) as u8)
        .collect();
    let file = std::fs::File::create(path).unwrap();
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w as u32, h as u32);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header()
        .unwrap()
        .write_image_data(&bytes)
        .unwrap();
}

/// Writes maximum-intensity projections of a few parcels' μ to PNG (kept in
/// `$CTSCREEN_GALLERY_DIR` when set, else in a temporary directory).
#[test]
fn gallery_of_parcels() {
    let keep = std::env::var_os("CTSCREEN_GALLERY_DIR").map(std::path::PathBuf::from);
    let tmp = tempfile::tempdir().unwrap();
    let dir = keep.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir).unwrap();
    let n = [96, 64, 96];
    let s = [4.0, 4.0, 4.0];
    for (seed, kinds) in [
        (1u64, vec![ThreatKind::PistolPolymer]),
        (2, vec![ThreatKind::Revolver, ThreatKind::CartridgesBoxed]),
        (3, vec![ThreatKind::Barrel, ThreatKind::Knife]),
    ] {
        let opts = ParcelOptions {
            threats: Threats::Kinds(kinds),
            container: ContainerKind::Box,
            max_extent_mm: Some(380.0),
            ..Default::default()
        };
        let p = parcel(seed, &opts).unwrap();
        let v = p.voxelize(n, s, 70.0, 1).unwrap();
        let d = v.data();
        for (axis, name) in [(0usize, "z"), (1, "y")] {
            let mip = d.map_axis(ndarray::Axis(axis), |lane| {
                lane.iter().cloned().fold(0.0f32, f32::max)
            });
            let (h, w) = mip.dim();
            let img: Vec<f32> = mip.iter().cloned().collect();
            let mean = img.iter().sum::<f32>() / img.len() as f32;
            let var = img.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / img.len() as f32;
            assert!(
                var > 0.0 && img.iter().any(|&x| x > 0.1),
                "seed {seed}: blank MIP"
            );
            write_png(
                &dir.join(format!("parcel_{seed}_mip_{name}.png")),
                &img,
                h,
                w,
            );
        }
    }
}

/// The Joseph projector applied to a finely voxelised primitive agrees with the exact
/// line integrals of the analytic primitive, away from edges, in every geometry.
#[test]
fn joseph_projection_of_voxelized_primitives_matches_exact_integrals() {
    use ctscreen::project::forward_project;
    let mut rng = Pcg64::seed_from_u64(17);
    let n = 96;
    let s = 0.5;
    let angles: Vec<f64> = (0..5).map(|i| 0.2 + i as f64 * 0.61).collect();
    let geoms: Vec<(&str, Geometry)> = vec![
        (
            "parallel",
            ParallelBeamGeometry::new(angles.clone(), 72, 0.75, 8)
                .unwrap()
                .into(),
        ),
        (
            "fan",
            FanBeamGeometry::new(angles.clone(), 300.0, 600.0, 72, 1.5)
                .unwrap()
                .into(),
        ),
        (
            "cone",
            ConeBeamGeometry::new(angles, 300.0, 600.0, (48, 72), (1.5, 1.5), (0.0, 0.0))
                .unwrap()
                .into(),
        ),
    ];
    for kind in 0..5 {
        let mut ph = Phantom::new();
        let shape = match kind {
            0 => Shape::ellipsoid(14.0, 9.0, 18.0),
            1 => Shape::cuboid(20.0, 14.0, 26.0),
            2 => Shape::cylinder(9.0, 30.0),
            3 => Shape::Cylinder {
                radius_y: 7.0,
                radius_x: 12.0,
                half_length: 14.0,
            },
            _ => Shape::tube(12.0, 6.0, 30.0),
        };
        let prim = Primitive::new(shape, [0.7, -1.3, 2.1], Rotation::random(&mut rng)).unwrap();
        ph.push(
            prim,
            Attenuation::Material(Material::Aluminium),
            1,
            ObjectClass::MetalOther,
            "p",
        );
        let vol = ph.voxelize([n, n, n], [s; 3], 70.0, 3).unwrap();
        for (name, g) in &geoms {
            let exact = analytic_projections(&ph, g, 70.0).unwrap();
            let joseph = forward_project(&vol, g).unwrap();
            let (e, j) = (exact.data(), joseph.data());
            let [nv, nr, nc] = exact.shape();
            let max = e.iter().cloned().fold(0.0f32, f32::max);
            let mut checked = 0;
            let mut worst = 0.0f32;
            for v in 0..nv {
                for r in 0..nr {
                    for c in 1..nc - 1 {
                        let x = e[[v, r, c]];
                        if x < 0.3 * max {
                            continue;
                        }
                        let rows: Vec<usize> = if nr == 1 {
                            vec![0]
                        } else if r == 0 || r == nr - 1 {
                            continue;
                        } else {
                            vec![r - 1, r, r + 1]
                        };
                        let mut smooth = rows.iter().all(|&rr| {
                            (c - 1..=c + 1).all(|cc| (e[[v, rr, cc]] - x).abs() < 0.04 * x)
                        });
                        // Away from edges and from the tangents of curved surfaces: small
                        // second difference along the detector row too.
                        let curv = e[[v, r, c - 1]] + e[[v, r, c + 1]] - 2.0 * x;
                        smooth &= curv.abs() < 0.005 * x;
                        if nr == 1 && smooth {
                            // One row: look one voxel above and below the ray too.
                            let view = g.view_vectors()[v];
                            let (p0, d) =
                                ctscreen::geometry::ray(g.beam(), &view, 1, nc, 0.0, c as f64);
                            smooth = [-s, s].iter().all(|&dz| {
                                let q = [p0[0] + dz, p0[1], p0[2]];
                                let y = ph.line_integral_mono(q, d, 70.0) as f32;
                                (y - x).abs() < 0.04 * x
                            });
                        }
                        if !smooth {
                            continue;
                        }
                        let rel = ((j[[v, r, c]] - x) / x).abs();
                        worst = worst.max(rel);
                        checked += 1;
                    }
                }
            }
            assert!(
                checked >= 10,
                "kind {kind} {name}: only {checked} pixels checked"
            );
            assert!(
                worst < 0.01,
                "kind {kind} {name}: worst relative error {worst}"
            );
        }
    }
}

#[test]
fn simulate_reports_progress_and_honours_cancellation() {
    let ph = water_cylinder(50.0);
    let g: Geometry =
        ParallelBeamGeometry::new((0..12).map(|i| i as f64 * 0.2).collect(), 32, 4.0, 1)
            .unwrap()
            .into();
    let flag = ctscreen::CancelFlag::new();
    simulate(&ph, &g, &SimulateOptions::default(), &flag).unwrap();
    assert_eq!(flag.done(), 12, "one unit per view");
    flag.cancel();
    let e = simulate(&ph, &g, &SimulateOptions::default(), &flag).unwrap_err();
    assert!(matches!(e, ctscreen::Error::Cancelled), "{e}");
    let bad = SimulateOptions {
        photons: -1.0,
        ..Default::default()
    };
    let e = simulate(&ph, &g, &bad, &NoProgress).unwrap_err();
    assert!(e.to_string().contains("photons"), "{e}");
}

#[test]
fn energy_integrating_detector_weights_hard_photons() {
    use ctscreen::physics::DetectorResponse;
    let mut ph = Phantom::new();
    let b = Primitive::new(
        Shape::cuboid(100.0, 80.0, 1000.0),
        [0.0; 3],
        Rotation::IDENTITY,
    )
    .unwrap();
    ph.push(
        b,
        Attenuation::Material(Material::Water),
        1,
        ObjectClass::Clutter,
        "slab",
    );
    let cols = 6000;
    let g: Geometry = ParallelBeamGeometry::new(vec![0.0], cols, 0.1, 1)
        .unwrap()
        .into();
    let base = SimulateOptions {
        photons: 4e3,
        seed: 5,
        ..Default::default()
    };
    let ei = SimulateOptions {
        detector: DetectorResponse::EnergyIntegrating,
        ..base.clone()
    };
    let clean = |o: &SimulateOptions| {
        let o = SimulateOptions {
            noise: false,
            ..o.clone()
        };
        f64::from(simulate(&ph, &g, &o, &NoProgress).unwrap().data()[[0, 0, 0]])
    };
    // Energy weighting favours the hard photons that get through: lower line integral.
    let (p_pc, p_ei) = (clean(&base), clean(&ei));
    assert!(p_ei < p_pc - 0.01, "EI {p_ei} vs PC {p_pc}");
    // Expected EI value and compound-Poisson variance from the spectrum directly.
    let s = base.spectrum().unwrap();
    let (mut m0, mut m, mut m2) = (0.0, 0.0, 0.0);
    for (&e, &w) in s.energies_kev().iter().zip(s.weights()) {
        let t = (-Material::Water.mu_per_mm(e) * 80.0).exp();
        m0 += w * e;
        m += w * e * t;
        m2 += w * e * e * t;
    }
    assert!(nearly(p_ei, -(m / m0).ln(), 1e-4), "{p_ei}");
    let p = simulate(&ph, &g, &ei, &NoProgress).unwrap();
    let v: Vec<f64> = p.data().iter().map(|&x| f64::from(x)).collect();
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (v.len() - 1) as f64;
    let want = m2 / (base.photons * m * m);
    assert!(nearly(var, want, 0.1), "EI variance {var} vs {want}");
}
