//! Refusals that protect the process and the user's files:
//!
//! * memory guard: operations whose output would exceed `CTSCREEN_MEMORY_LIMIT` fail up
//!   front with [`Error::TooLarge`] naming the size, never abort (checked in a child
//!   process, so the environment variable is not set in this test process);
//! * non-finite values: every public entry that computes from an array refuses NaN and
//!   ±inf with [`Error::NonFinite`] and the count; parameters with [`Error::InvalidParameter`];
//!   file readers keep them as stored;
//! * atomic writes: a writer aimed at a missing directory, at a path under a regular
//!   file, or at an existing directory leaves no file and no temporary file behind.

use std::path::Path;
use std::process::Command;

use ctscreen::geometry::{ConeBeamGeometry, FanBeamGeometry, Geometry, ParallelBeamGeometry};
use ctscreen::io::{self, SaveOptions};
use ctscreen::phantom::{
    analytic_projections, Attenuation, ObjectClass, Phantom, Primitive, Rotation, Shape,
};
use ctscreen::physics::{simulate, Filtration, Material, SimulateOptions, Spectrum};
use ctscreen::project::{backproject, forward_project, LinearOperator, Projector};
use ctscreen::recon::{
    cgls, fbp, fdk, filter_projections, iterative::cgls_operator, iterative::sirt_operator, sart,
    sirt, FdkOptions, Filter, IterativeOptions,
};
use ctscreen::render::{self, Window};
use ctscreen::scanner::{scan, ScanOptions};
use ctscreen::volume::memory_limit_bytes;
use ctscreen::{Error, NoProgress, Projections, Volume};
use ndarray::{Array2, Array3};

// ---------------------------------------------------------------- fixtures

fn cone(views: usize, det: (usize, usize)) -> Geometry {
    let angles = (0..views)
        .map(|i| i as f64 * std::f64::consts::TAU / views as f64)
        .collect();
    ConeBeamGeometry::new(angles, 100.0, 200.0, det, (2.0, 2.0), (0.0, 0.0))
        .unwrap()
        .into()
}

fn parallel(views: usize, cols: usize) -> Geometry {
    let angles = (0..views)
        .map(|i| i as f64 * std::f64::consts::PI / views as f64)
        .collect();
    ParallelBeamGeometry::new(angles, cols, 1.0, 1)
        .unwrap()
        .into()
}

fn phantom() -> Phantom {
    let mut ph = Phantom::new();
    let cyl = Primitive::new(Shape::cylinder(8.0, 10.0), [0.0; 3], Rotation::IDENTITY).unwrap();
    ph.push(
        cyl,
        Attenuation::Material(Material::Water),
        1,
        ObjectClass::Clutter,
        "water",
    );
    ph
}

fn small_volume() -> Volume {
    Volume::centered(
        Array3::from_shape_fn((4, 6, 6), |(k, j, i)| 0.01 * (k + j + i) as f32),
        [1.0; 3],
    )
    .unwrap()
}

// ---------------------------------------------------------------- memory guard

const CHILD: &str = "CTSCREEN_ROBUSTNESS_CHILD";
const LIMIT: u128 = 64 << 20;

/// Runs `child_memory_limit_64m` in a child process of this test binary with
/// `CTSCREEN_MEMORY_LIMIT=64M`: the limit is read at call time, so it must not be set in
/// this (multi-threaded) process.
#[test]
fn memory_limit_refuses_oversized_outputs_up_front() {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args([
            "--exact",
            "child_memory_limit_64m",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("CTSCREEN_MEMORY_LIMIT", "64M")
        .env(CHILD, "1")
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // A killed or aborted child has no exit code of its own.
    assert!(
        out.status.success(),
        "child failed ({:?}):\n{text}",
        out.status
    );
    assert!(text.contains("1 passed"), "{text}");
    assert!(text.contains("refused 26 oversized operations"), "{text}");
}

/// Asserts `r` is [`Error::TooLarge`] for `what` with exactly `bytes` (when given) and
/// the 64 MiB limit, and that the message names both numbers.
fn too_large<T: std::fmt::Debug>(
    r: ctscreen::Result<T>,
    what: &str,
    bytes: Option<u128>,
    count: &mut usize,
) {
    let e = r.expect_err(what);
    match &e {
        Error::TooLarge {
            what: w,
            bytes: b,
            limit,
        } => {
            assert!(w.contains(what), "{what}: {e}");
            assert_eq!(*limit, LIMIT, "{e}");
            assert!(*b > LIMIT, "{e}");
            if let Some(want) = bytes {
                assert_eq!(*b, want, "{e}");
            }
            let msg = e.to_string();
            assert!(
                msg.contains(&b.to_string()) && msg.contains(&LIMIT.to_string()),
                "{msg}"
            );
        }
        other => panic!("{what}: expected TooLarge, got {other:?}"),
    }
    *count += 1;
}

#[test]
#[ignore = "run in a child process by memory_limit_refuses_oversized_outputs_up_front"]
fn child_memory_limit_64m() {
    if std::env::var_os(CHILD).is_none() {
        return; // run directly without the limit: nothing to check
    }
    assert_eq!(memory_limit_bytes(), LIMIT);
    let mut n = 0;
    // 257 × 256 × 256 float32 = 67,371,008 bytes, just above 64 MiB = 67,108,864.
    let big = [257usize, 256, 256];
    let big_bytes = Some(257u128 * 256 * 256 * 4);
    let absurd = [[1usize << 43; 3], [usize::MAX; 3], [1, usize::MAX, 2]];
    let vol = small_volume();
    let g = cone(6, (8, 10));
    let p = forward_project(&vol, &g).unwrap();

    // Control: below the limit everything works.
    assert_eq!(vol.resample([64, 64, 64]).unwrap().shape(), [64, 64, 64]);

    too_large(vol.resample(big), "resampled volume", big_bytes, &mut n);
    for shape in absurd {
        too_large(vol.resample(shape), "resampled volume", None, &mut n);
    }
    let opts = FdkOptions::default();
    too_large(
        fdk(&p, &g, big, [1.0; 3], &opts, &NoProgress),
        "FDK volume",
        big_bytes,
        &mut n,
    );
    too_large(
        fdk(&p, &g, absurd[0], [1.0; 3], &opts, &NoProgress),
        "FDK volume",
        None,
        &mut n,
    );
    let pg = parallel(8, 12);
    let sino = Array2::<f32>::ones((8, 12));
    too_large(
        fbp(sino.view(), &pg, (4100, 4100), (1.0, 1.0), Filter::RamLak),
        "FBP image",
        Some(4100 * 4100 * 4),
        &mut n,
    );
    // Projections of 257 views × 256 × 256.
    let big_g = cone(257, (256, 256));
    too_large(
        forward_project(&vol, &big_g),
        "projections",
        big_bytes,
        &mut n,
    );
    too_large(
        backproject(&p, &g, big, [1.0; 3]),
        "volume",
        big_bytes,
        &mut n,
    );
    // (Projector grids are limited to 2^31 per axis, InvalidParameter beyond.)
    too_large(
        backproject(&p, &g, [1 << 20; 3], [1.0; 3]),
        "volume",
        None,
        &mut n,
    );
    let a = Projector::centered(big, [1.0; 3], &g).unwrap();
    too_large(
        a.apply_adjoint_new(p.data().view(), &NoProgress),
        "volume",
        big_bytes,
        &mut n,
    );
    let a = Projector::for_volume(&vol, &big_g).unwrap();
    too_large(
        a.apply_new(vol.data().view(), &NoProgress),
        "projections",
        big_bytes,
        &mut n,
    );
    let it = IterativeOptions {
        iterations: 1,
        ..Default::default()
    };
    // Iterative solvers refuse before allocating their first working array, even for
    // grids whose single volume would fit (3 volumes of 24 MB here).
    let mid = [96usize, 256, 256];
    for shape in [big, mid, [1 << 20; 3]] {
        too_large(
            sirt(&p, &g, shape, [1.0; 3], &it, &NoProgress),
            "SIRT working arrays",
            None,
            &mut n,
        );
        too_large(
            cgls(&p, &g, shape, [1.0; 3], &it, &NoProgress),
            "CGLS working arrays",
            None,
            &mut n,
        );
    }
    too_large(
        sart(&p, &g, [32, 256, 256], [1.0; 3], &it, &NoProgress),
        "SART working arrays",
        None,
        &mut n,
    );
    let ph = phantom();
    let sim = SimulateOptions::default();
    too_large(
        simulate(&ph, &big_g, &sim, &NoProgress),
        "simulated projections",
        big_bytes,
        &mut n,
    );
    too_large(
        analytic_projections(&ph, &big_g, 70.0),
        "projections",
        big_bytes,
        &mut n,
    );
    too_large(
        ph.voxelize(big, [1.0; 3], 70.0, 1),
        "voxelized phantom",
        big_bytes,
        &mut n,
    );
    too_large(
        ph.voxelize_labels(absurd[0], [1.0; 3]),
        "label volume",
        None,
        &mut n,
    );
    // A picture of voxels 10⁷ times longer than wide: 4 × 4·10⁷ RGB pixels.
    let thin = Volume::new(Array3::zeros((2, 4, 4)), [1.0, 1.0, 1e-7], [0.0; 3]).unwrap();
    too_large(
        render::slice(
            &thin,
            0,
            0,
            Window {
                low: 0.0,
                high: 1.0,
            },
        ),
        "picture",
        None,
        &mut n,
    );
    // A scan whose reconstruction grid is too large.
    let scan_opts = ScanOptions {
        shape: big,
        views: 4,
        ..Default::default()
    };
    let e = scan(&ph, &scan_opts, &NoProgress).unwrap_err();
    assert!(matches!(e, Error::TooLarge { .. }), "{e}");
    n += 1;
    // A compressed MetaImage declaring 4096 × 4096 × 4 floats (plus the f32 copy).
    let dir = tempfile::tempdir().unwrap();
    let mha = dir.path().join("big.mha");
    std::fs::write(
        &mha,
        "NDims = 3\nDimSize = 4096 4096 4\nElementType = MET_FLOAT\nCompressedData = True\n\
         ElementDataFile = LOCAL\nxx",
    )
    .unwrap();
    too_large(
        io::load(&mha),
        "MetaImage volume",
        Some(4096 * 4096 * 4 * 8),
        &mut n,
    );
    println!("refused {n} oversized operations");
}

// ---------------------------------------------------------------- non-finite values

/// A copy of `a` with NaN at the first index, +inf at the middle one and −inf at the last.
fn poisoned(a: &Array3<f32>) -> Array3<f32> {
    let mut b = a.clone();
    let n = b.len();
    let s = b.as_slice_mut().unwrap();
    s[0] = f32::NAN;
    s[n / 2] = f32::INFINITY;
    s[n - 1] = f32::NEG_INFINITY;
    b
}

fn non_finite<T: std::fmt::Debug>(r: ctscreen::Result<T>, what: &str, count: usize) {
    match r {
        Err(Error::NonFinite { what: w, count: c }) => {
            assert_eq!((w.as_str(), c), (what, count));
        }
        other => panic!("expected NonFinite({what}, {count}), got {other:?}"),
    }
}

fn invalid<T: std::fmt::Debug>(r: ctscreen::Result<T>, name: &str) {
    match r {
        Err(Error::InvalidParameter { name: n, .. }) => {
            assert!(n.contains(name), "expected {name}, got {n}")
        }
        other => panic!("expected InvalidParameter({name}), got {other:?}"),
    }
}

#[test]
fn projectors_refuse_non_finite_arrays() {
    let vol = small_volume();
    let g = cone(6, (8, 10));
    let p = forward_project(&vol, &g).unwrap();
    let bad_vol = Volume::centered(poisoned(vol.data()), [1.0; 3]).unwrap();
    let bad_p = Projections::new(poisoned(p.data())).unwrap();
    non_finite(forward_project(&bad_vol, &g), "volume", 3);
    non_finite(
        backproject(&bad_p, &g, [4, 6, 6], [1.0; 3]),
        "projections",
        3,
    );
    let a = Projector::for_volume(&vol, &g).unwrap();
    non_finite(a.apply_new(bad_vol.data().view(), &NoProgress), "volume", 3);
    non_finite(
        a.apply_adjoint_new(bad_p.data().view(), &NoProgress),
        "projections",
        3,
    );
    non_finite(
        a.backproject_voxel_driven(bad_p.data().view(), &NoProgress),
        "projections",
        3,
    );
}

#[test]
fn reconstructions_refuse_non_finite_projections() {
    let vol = small_volume();
    let g = cone(6, (8, 10));
    let p = forward_project(&vol, &g).unwrap();
    let bad = Projections::new(poisoned(p.data())).unwrap();
    let opts = FdkOptions::default();
    non_finite(
        fdk(&bad, &g, [4, 6, 6], [1.0; 3], &opts, &NoProgress),
        "projections",
        3,
    );
    let it = IterativeOptions {
        iterations: 2,
        ..Default::default()
    };
    non_finite(
        sirt(&bad, &g, [4, 6, 6], [1.0; 3], &it, &NoProgress),
        "projections",
        3,
    );
    non_finite(
        sart(&bad, &g, [4, 6, 6], [1.0; 3], &it, &NoProgress),
        "projections",
        3,
    );
    non_finite(
        cgls(&bad, &g, [4, 6, 6], [1.0; 3], &it, &NoProgress),
        "projections",
        3,
    );
    let a = Projector::centered([4, 6, 6], [1.0; 3], &g).unwrap();
    non_finite(
        sirt_operator(&a, bad.data().view(), &it, &NoProgress),
        "projections",
        3,
    );
    non_finite(
        cgls_operator(&a, bad.data().view(), &it, &NoProgress),
        "projections",
        3,
    );
    let mut filtered = poisoned(p.data());
    non_finite(
        filter_projections(filtered.view_mut(), Filter::Hann, 1.0),
        "projections",
        3,
    );
    // 2D FBP, parallel and fan.
    let mut sino = Array2::<f32>::ones((8, 12));
    sino[[3, 4]] = f32::NAN;
    non_finite(
        fbp(
            sino.view(),
            &parallel(8, 12),
            (8, 8),
            (1.0, 1.0),
            Filter::RamLak,
        ),
        "projections",
        1,
    );
    let fan: Geometry = FanBeamGeometry::new(
        (0..8).map(|i| i as f64 * 0.8).collect(),
        100.0,
        200.0,
        12,
        2.0,
    )
    .unwrap()
    .into();
    non_finite(
        fbp(sino.view(), &fan, (8, 8), (1.0, 1.0), Filter::RamLak),
        "projections",
        1,
    );
}

#[test]
fn volume_operations_refuse_or_keep_non_finite_values() {
    let vol = small_volume();
    let bad = Volume::centered(poisoned(vol.data()), [1.0; 3]).unwrap();
    assert_eq!(bad.count_non_finite(), 3);
    non_finite(bad.resample([3, 3, 3]), "volume", 3);
    // Pure data movement keeps them.
    assert_eq!(
        bad.crop([0, 0, 0], [4, 6, 6]).unwrap().count_non_finite(),
        3
    );
    // Rendering draws them black instead of failing.
    let w = Window::auto(bad.data().iter());
    assert!(w.low.is_finite() && w.high.is_finite());
    let img = render::slice(
        &bad,
        0,
        0,
        Window {
            low: -1.0,
            high: 0.0,
        },
    )
    .unwrap();
    assert!(img.as_bytes().iter().all(|&b| b == 255 || b == 0));
    // Parameters: NaN spacing or origin.
    invalid(
        Volume::new(Array3::zeros((1, 1, 1)), [1.0, f64::NAN, 1.0], [0.0; 3]),
        "spacing",
    );
    invalid(
        Volume::new(
            Array3::zeros((1, 1, 1)),
            [1.0; 3],
            [f64::INFINITY, 0.0, 0.0],
        ),
        "origin",
    );
}

#[test]
fn simulation_refuses_non_finite_parameters() {
    let ph = phantom();
    let g = parallel(4, 16);
    let run = |o: SimulateOptions| simulate(&ph, &g, &o, &NoProgress).map(|_| ());
    let base = SimulateOptions::default();
    invalid(
        run(SimulateOptions {
            photons: f64::NAN,
            ..base.clone()
        }),
        "photons",
    );
    invalid(
        run(SimulateOptions {
            electronic_noise: f64::INFINITY,
            ..base.clone()
        }),
        "electronic_noise",
    );
    invalid(
        run(SimulateOptions {
            count_floor: f64::NAN,
            ..base.clone()
        }),
        "count_floor",
    );
    invalid(
        run(SimulateOptions {
            kvp: f64::NAN,
            ..base.clone()
        }),
        "kvp",
    );
    invalid(
        run(SimulateOptions {
            bin_kev: f64::NAN,
            ..base.clone()
        }),
        "bin_kev",
    );
    invalid(
        run(SimulateOptions {
            filtration: Filtration {
                al_mm: f64::NAN,
                ..Filtration::default()
            },
            ..base.clone()
        }),
        "filtration",
    );
    invalid(
        Spectrum::from_weights(vec![60.0, 80.0], vec![1.0, f64::NAN]),
        "weight",
    );
    invalid(
        Spectrum::from_weights(vec![60.0, 80.0], vec![f64::MAX, f64::MAX]),
        "weights",
    );
    invalid(Spectrum::from_weights(vec![f64::NAN], vec![1.0]), "energy");
    // A phantom made non-finite through its public fields.
    let mut bad = phantom();
    bad.objects[0].primitive.center[1] = f64::NAN;
    invalid(simulate(&bad, &g, &base, &NoProgress), "objects[0]");
    invalid(bad.voxelize([4, 4, 4], [1.0; 3], 70.0, 1), "objects[0]");
    invalid(bad.voxelize_labels([4, 4, 4], [1.0; 3]), "objects[0]");
    invalid(analytic_projections(&bad, &g, 70.0), "objects[0]");
    let mut bad_mu = phantom();
    bad_mu.objects[0].attenuation = Attenuation::Constant(f64::INFINITY);
    invalid(simulate(&bad_mu, &g, &base, &NoProgress), "objects[0].mu");
    // Geometries.
    invalid(
        ParallelBeamGeometry::new(vec![0.0, f64::NAN], 4, 1.0, 1),
        "angles",
    );
    invalid(
        ConeBeamGeometry::new(
            vec![0.0],
            100.0,
            f64::INFINITY,
            (2, 2),
            (1.0, 1.0),
            (0.0, 0.0),
        ),
        "source_to_detector_mm",
    );
    invalid(
        ConeBeamGeometry::new(vec![0.0], 100.0, 200.0, (2, 2), (1.0, 1.0), (f64::NAN, 0.0)),
        "offset",
    );
}

#[test]
fn readers_keep_non_finite_values_as_stored() {
    let dir = tempfile::tempdir().unwrap();
    let bad = Volume::centered(poisoned(small_volume().data()), [1.0; 3]).unwrap();
    for name in ["v.nii", "v.nii.gz", "v.mha", "v.mhd"] {
        let p = dir.path().join(name);
        io::save(&p, &bad).unwrap();
        let back = io::load(&p).unwrap();
        assert_eq!(back.count_non_finite(), 3, "{name}");
        let s = back.data().as_slice().unwrap();
        assert!(s[0].is_nan() && s[s.len() / 2] == f32::INFINITY, "{name}");
        assert_eq!(s[s.len() - 1], f32::NEG_INFINITY, "{name}");
    }
}

// ---------------------------------------------------------------- atomic writes

/// Every file under `dir`, recursively, relative to it.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if e.file_type().unwrap().is_dir() {
            out.push(format!("{name}/"));
            out.extend(tree(&e.path()).into_iter().map(|n| format!("{name}/{n}")));
        } else {
            out.push(name);
        }
    }
    out.sort();
    out
}

type Writer = Box<dyn Fn(&Path) -> ctscreen::Result<()>>;

fn writers() -> Vec<(&'static str, Writer)> {
    let vol = small_volume();
    let img = render::orthogonal_slices(&vol, Window::auto(vol.data().iter())).unwrap();
    let mut w: Vec<(&'static str, Writer)> = Vec::new();
    for name in ["out.nii", "out.nii.gz", "out.mha", "out.mhd"] {
        for compress in [false, true] {
            let v = vol.clone();
            w.push((
                name,
                Box::new(move |p: &Path| {
                    io::save_with(p.join(name), &v, &SaveOptions::new().compress(compress))
                }),
            ));
        }
    }
    w.push((
        "out.png",
        Box::new(move |p: &Path| img.write_png(p.join("out.png"))),
    ));
    w.push((
        "out.json",
        Box::new(|p: &Path| io::write_text_atomic(p.join("out.json"), "{}")),
    ));
    w
}

#[test]
fn failed_writes_leave_nothing_behind() {
    for (name, write) in writers() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("plainfile"), b"keep me").unwrap();
        std::fs::create_dir(root.join(name)).unwrap(); // the target is a directory
        let before = tree(root);

        // The parent directory is missing.
        let e = write(&root.join("missing").join("deeper")).unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{name}: {e:?}");
        assert!(e.to_string().contains("missing"), "{name}: {e}");
        // The "parent directory" is a regular file.
        let e = write(&root.join("plainfile")).unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{name}: {e:?}");
        // The target itself is an existing directory: the temporary file is written,
        // the rename fails, and the temporary file must go.
        let e = write(root).unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{name}: {e:?}");

        assert_eq!(tree(root), before, "{name}: files left behind");
        assert_eq!(std::fs::read(root.join("plainfile")).unwrap(), b"keep me");
    }
}

#[test]
fn successful_writes_leave_only_their_files() {
    for (name, write) in writers() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path()).unwrap();
        let mut want = vec![name.to_string()];
        if name == "out.mhd" {
            // Either data file, depending on the compression of this writer.
            let t = tree(dir.path());
            assert!(
                t.contains(&"out.raw".to_string()) ^ t.contains(&"out.zraw".to_string()),
                "{t:?}"
            );
            want.push(
                if t.contains(&"out.raw".to_string()) {
                    "out.raw"
                } else {
                    "out.zraw"
                }
                .into(),
            );
            want.sort();
        }
        assert_eq!(tree(dir.path()), want, "{name}");
    }
}
