//! Runs `ctscreen evaluate` on a small set: the JSON's counts add up, the ROC is
//! monotone, the PNG decodes, and bad flags fail with one line.
use std::process::Command;

fn ctscreen() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ctscreen"))
}

/// Runs `command`, which must succeed (else the test fails with its stderr).
fn succeed(command: &mut Command) {
    let run = command.output().unwrap();
    assert!(
        run.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
}

fn u(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

#[test]
fn evaluate_writes_consistent_counts_and_a_roc_picture() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("eval");
    succeed(
        ctscreen()
            .args([
                "evaluate",
                "--parcels",
                "4",
                "--size",
                "64",
                "--photons",
                "200000",
                "--quiet",
                "--out",
            ])
            .arg(&out),
    );
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["evaluation.json", "roc.png"]);
    let e: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("evaluation.json")).unwrap())
            .unwrap();

    // Parcels: 4, seeds 1000000..1000004, every other one with threats.
    assert_eq!(u(&e["parcels"]), 4);
    assert_eq!(u(&e["benign_parcels"]) + u(&e["threat_parcels"]), 4);
    assert_eq!(u(&e["threat_parcels"]), 2);
    assert_eq!(e["seed_range"], serde_json::json!([1_000_000, 1_000_004]));
    assert_eq!(
        e["options"]["mode"]["reconstruction"]["photons"].as_f64(),
        Some(2e5),
        "{}",
        e["options"]["mode"]
    );
    let parcels = e["per_parcel"].as_array().unwrap();
    assert_eq!(parcels.len(), 4);

    // Per-class totals are the sums over parcels; detected ≤ total; recall = ratio.
    for (class, c) in e["per_class"].as_object().unwrap() {
        let total: u64 = parcels
            .iter()
            .map(|p| u(&p["scores"]["per_class"][class]["total"]))
            .sum();
        let detected: u64 = parcels
            .iter()
            .map(|p| u(&p["scores"]["per_class"][class]["detected"]))
            .sum();
        assert_eq!(u(&c["total"]), total, "{class}");
        assert_eq!(u(&c["detected"]), detected, "{class}");
        assert!(
            u(&c["classified"]) <= detected && detected <= total,
            "{class}"
        );
        let recall = c["recall"].as_f64().unwrap();
        let want = if total == 0 {
            1.0
        } else {
            detected as f64 / total as f64
        };
        assert!((recall - want).abs() < 1e-12, "{class}");
    }
    // Threat parcels hold threat objects, benign ones none.
    for p in parcels {
        let total: u64 = p["scores"]["per_class"]
            .as_object()
            .unwrap()
            .values()
            .map(|c| u(&c["total"]))
            .sum();
        assert_eq!(
            p["threats"].as_array().unwrap().is_empty(),
            total == 0,
            "{p}"
        );
    }
    // False alarms: the benign share sums over benign parcels, the rate divides it.
    let fa_benign: u64 = parcels
        .iter()
        .filter(|p| p["threats"].as_array().unwrap().is_empty())
        .map(|p| u(&p["scores"]["false_alarms"]))
        .sum();
    let fa_all: u64 = parcels
        .iter()
        .map(|p| u(&p["scores"]["false_alarms"]))
        .sum();
    assert_eq!(u(&e["false_alarms_benign"]), fa_benign);
    assert_eq!(u(&e["false_alarms"]), fa_all);
    let rate = e["false_alarms_per_benign_parcel"].as_f64().unwrap();
    assert!((rate - fa_benign as f64 / u(&e["benign_parcels"]) as f64).abs() < 1e-12);
    // Confusion rows count every truth object once.
    let threat_objects: u64 = e["per_class"]
        .as_object()
        .unwrap()
        .values()
        .map(|c| u(&c["total"]))
        .sum();
    let confusion_threats: u64 = e["confusion"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(row, _)| row.as_str() != "benign")
        .flat_map(|(_, cols)| cols.as_object().unwrap().values().map(u))
        .sum();
    assert_eq!(confusion_threats, threat_objects);
    // The ROC: thresholds ascending, alarm rates never rising with the threshold.
    let roc = e["roc"].as_array().unwrap();
    assert_eq!(roc.len(), 51);
    for w in roc.windows(2) {
        assert!(w[0]["threshold"].as_f64() < w[1]["threshold"].as_f64());
        for k in ["threat_parcels_alarmed", "benign_parcels_alarmed", "recall"] {
            assert!(
                w[0][k].as_f64().unwrap() >= w[1][k].as_f64().unwrap(),
                "{k}"
            );
        }
    }
    // At τ = 0 every parcel with a finding alarms.
    let with_findings = parcels
        .iter()
        .filter(|p| !p["threats"].as_array().unwrap().is_empty() && u(&p["findings"]) > 0)
        .count();
    let tpr0 = roc[0]["threat_parcels_alarmed"].as_f64().unwrap();
    assert!((tpr0 - with_findings as f64 / 2.0).abs() < 1e-12);

    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(out.join("roc.png")).unwrap(),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (480, 400));
    assert!(buf.iter().any(|&b| b > 200), "the picture is blank");
}

#[test]
fn bad_evaluate_flags_fail_with_one_line_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("eval");
    for (args, needle) in [
        (["--parcels", "0"], "--parcels"),
        (["--size", "8"], "--size"),
        (["--photons", "0"], "--photons"),
        (["--threshold", "2"], "threshold"),
    ] {
        let run = ctscreen()
            .arg("evaluate")
            .args(args)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert!(!run.status.success());
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(needle),
            "{stderr}"
        );
    }
    assert!(!out.exists(), "a refused run created its output folder");
}

/// `fit-score-map` fits on an evaluation of design seeds, writes a map whose findings
/// are the evaluation's, and refuses an evaluation of evaluation seeds without writing.
#[test]
fn fit_score_map_takes_design_seeds_only() {
    let dir = tempfile::tempdir().unwrap();
    let evaluate = |seed: &str, out: &std::path::Path| {
        succeed(
            ctscreen()
                .args(["evaluate", "--parcels", "2", "--size", "40", "--quiet"])
                .args(["--seed", seed, "--out"])
                .arg(out),
        );
        out.join("evaluation.json")
    };
    let design = evaluate("20", &dir.path().join("design"));
    let map_path = dir.path().join("map.json");
    succeed(
        ctscreen()
            .arg("fit-score-map")
            .arg(&design)
            .arg("--quiet")
            .arg("--out")
            .arg(&map_path),
    );
    let e: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&design).unwrap()).unwrap();
    let findings: u64 = e["per_parcel"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| u(&p["findings"]))
        .sum();
    let map = ctscreen::detect::probability::ScoreMap::from_json(
        &std::fs::read_to_string(&map_path).unwrap(),
    )
    .unwrap();
    assert_eq!(map.findings as u64, findings);
    assert!(map.fitted_on.contains("seeds 20–21"), "{}", map.fitted_on);

    let held_out = evaluate("1000000", &dir.path().join("held-out"));
    let refused = dir.path().join("refused.json");
    let run = ctscreen()
        .arg("fit-score-map")
        .arg(&held_out)
        .arg("--out")
        .arg(&refused)
        .output()
        .unwrap();
    assert!(!run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("design seeds below 10000"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!refused.exists());
}
