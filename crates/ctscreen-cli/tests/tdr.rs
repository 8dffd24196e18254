//! `ctscreen detect … --tdr`: the DICOS Threat Detection Report next to report.json,
//! read back with the library.
use std::path::Path;
use std::process::Command;

use ctscreen::detect::{DetectOptions, Kind, Report};
use ctscreen::io::{self, dicos};
use ctscreen::physics::Material;
use ctscreen::Volume;
use ndarray::Array3;

fn ctscreen(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ctscreen"))
        .args(args)
        .output()
        .expect("run ctscreen")
}

/// A steel tube 100 mm long with a 9 mm bore (a barrel) in 1 mm voxels, at steel's μ
/// for the detector's metal energy (what a polychromatic scan reconstructs).
fn barrel() -> Volume {
    barrel_at(DetectOptions::default().metal_energy_kev)
}

/// [`barrel`] at steel's μ for `energy_kev`.
fn barrel_at(energy_kev: f64) -> Volume {
    let steel = Material::Steel.mu_per_mm(energy_kev) as f32;
    let a = Array3::from_shape_fn((40, 40, 130), |(k, j, i)| {
        let r = ((k as f64 - 20.0).powi(2) + (j as f64 - 20.0).powi(2)).sqrt();
        if (15..115).contains(&i) && (4.5..=10.0).contains(&r) {
            steel
        } else {
            0.0
        }
    });
    Volume::centered(a, [1.0; 3]).unwrap()
}

fn detect_with_tdr(input: &Path, out: &Path, tdr: &Path) -> std::process::Output {
    ctscreen(&[
        "detect".as_ref(),
        input.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--tdr".as_ref(),
        tdr.as_os_str(),
        "--quiet".as_ref(),
    ])
}

fn report_json(out: &Path) -> Report {
    Report::from_json(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap()
}

#[test]
fn detect_writes_a_tdr_referencing_a_dicos_input() {
    let dir = tempfile::tempdir().unwrap();
    // A DICOS CT with a name that does not say so.
    let scan_path = dir.path().join("scan.dcm");
    io::save(dir.path().join("scan.dcs"), &barrel()).unwrap();
    std::fs::rename(dir.path().join("scan.dcs"), &scan_path).unwrap();
    let out = dir.path().join("out");
    let tdr = dir.path().join("threats.dcs");
    let run = detect_with_tdr(&scan_path, &out, &tdr);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    let json = report_json(&out);
    assert!(json.findings.iter().any(|f| f.kind == Kind::FirearmPart));
    let back = dicos::load_tdr_with(&tdr, None).unwrap();
    assert!(back.exact);
    assert_eq!(back.report, json);
    let scan = dicos::read_scan_reference(&scan_path).unwrap();
    assert_eq!(back.scan_sop_instance_uid, scan.sop_instance_uid);
    assert_eq!(back.scan_series_instance_uid, scan.series_instance_uid);
    assert_eq!(back.frame_of_reference_uid, scan.frame_of_reference_uid);
    // No temporary file left next to the TDR.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
}

#[test]
fn detect_writes_a_tdr_without_reference_for_other_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("scan.mha");
    io::save(&input, &barrel()).unwrap();
    let out = dir.path().join("out");
    let tdr = dir.path().join("threats.dcs");
    let run = detect_with_tdr(&input, &out, &tdr);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let back = dicos::load_tdr_with(&tdr, None).unwrap();
    assert_eq!(back.report, report_json(&out));
    assert!(back.scan_sop_instance_uid.is_empty());

    // An unwritable TDR path: one line on stderr, exit code 1.
    let bad = dir.path().join("no/such/dir/threats.dcs");
    let run = detect_with_tdr(&input, &out, &bad);
    assert_eq!(run.status.code(), Some(1));
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: ") && err.contains("threats.dcs"),
        "{err}"
    );
    assert!(!bad.exists());
}

#[test]
fn detect_reads_metal_at_the_given_energy() {
    // A monochromatic 70 keV volume: steel at 0.65 mm⁻¹, twice its 100 keV μ.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("scan.mha");
    io::save(&input, &barrel_at(70.0)).unwrap();
    let out = dir.path().join("out");
    let detect = |metal_kev: &str| {
        ctscreen(&[
            "detect".as_ref(),
            input.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
            "--energy-kev".as_ref(),
            "70".as_ref(),
            "--metal-energy-kev".as_ref(),
            metal_kev.as_ref(),
            "--quiet".as_ref(),
        ])
    };
    let run = detect("70");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let f = &report_json(&out).findings[0];
    assert_eq!(f.kind, Kind::FirearmPart);
    assert_eq!(f.material, "steel");
    let run = detect("100");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_ne!(report_json(&out).findings[0].material, "steel");

    let run = detect("500");
    assert_eq!(run.status.code(), Some(1));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("metal_energy_kev") && err.contains("500"),
        "{err}"
    );
}

#[test]
fn detect_reads_options_from_a_json_file_and_flags_override_it() {
    // The same 70 keV volume: the options file says where metals read.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("scan.mha");
    io::save(&input, &barrel_at(70.0)).unwrap();
    let options = dir.path().join("options.json");
    std::fs::write(
        &options,
        r#"{"energy_kev": 70, "metal_energy_kev": 70, "opaque_line_integral": 12}"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    let detect = |extra: &[&str]| {
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "detect".as_ref(),
            input.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
            "--options".as_ref(),
            options.as_os_str(),
            "--quiet".as_ref(),
        ];
        args.extend(extra.iter().map(std::ffi::OsStr::new));
        ctscreen(&args)
    };
    let run = detect(&[]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report = report_json(&out);
    assert_eq!(report.findings[0].material, "steel");
    assert_eq!(report.thresholds.energy_kev, 70.0);
    // a flag wins over the file
    let run = detect(&["--metal-energy-kev", "100"]);
    assert!(run.status.success());
    assert_ne!(report_json(&out).findings[0].material, "steel");

    // an unknown option: one line naming it, and no output folder
    std::fs::remove_dir_all(&out).unwrap();
    std::fs::write(&options, r#"{"opaque": 12}"#).unwrap();
    let run = detect(&[]);
    assert_eq!(run.status.code(), Some(1));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("unknown field `opaque`") && err.trim().lines().count() == 1,
        "{err}"
    );
    assert!(!out.exists());
}
