//! Runs the built `ctscreen` binary: the demo end to end, bad input, and Ctrl-C.
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn ctscreen() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ctscreen"))
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn bbox(v: &serde_json::Value) -> [f64; 6] {
    let a: Vec<f64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    [a[0], a[1], a[2], a[3], a[4], a[5]]
}

fn overlaps(a: &[f64; 6], b: &[f64; 6]) -> bool {
    (0..3).all(|k| a[k] < b[k + 3] && b[k] < a[k + 3])
}

fn decode_png(path: &Path) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

const OUTPUTS: [&str; 8] = [
    "report.json",
    "truth.json",
    "volume.nii.gz",
    "projections.mha",
    "geometry.json",
    "slices.png",
    "mip.png",
    "sinogram.png",
];

fn run_demo(out: &Path) {
    let run = ctscreen()
        .args(["demo", "--size", "128", "--quiet", "--out"])
        .arg(out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "demo failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
}

#[test]
fn demo_writes_every_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    run_demo(&out);
    for name in OUTPUTS {
        assert!(out.join(name).is_file(), "{name} missing");
    }
    // nothing staged is left behind
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), OUTPUTS.len());
    let report = json(&out.join("report.json"));
    let findings = report["findings"].as_array().unwrap();
    assert!(
        !findings.is_empty(),
        "the demo parcel holds metal: {report}"
    );
    assert!(findings
        .iter()
        .all(|f| !f["evidence"].as_array().unwrap().is_empty()));
    for name in ["slices.png", "mip.png", "sinogram.png"] {
        let (w, h, px) = decode_png(&out.join(name));
        assert!(w >= 64 && h >= 64, "{name} is {w}×{h}");
        let (lo, hi) = px
            .iter()
            .fold((255u8, 0u8), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        assert!(hi > lo + 100, "{name} is blank ({lo}..{hi})");
    }
    let volume = ctscreen::io::load(out.join("volume.nii.gz")).unwrap();
    assert_eq!(volume.shape(), [128, 128, 128]);
}

#[test]
fn demo_finds_the_pistol() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    run_demo(&out);
    let report = json(&out.join("report.json"));
    let truth = json(&out.join("truth.json"));
    let pistol = truth
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["cls"] == "firearm" || o["class"] == "firearm")
        .expect("the demo parcel holds a firearm");
    let pistol_box = bbox(&pistol["bbox_mm"]);
    let threshold = report["threshold"].as_f64().unwrap();
    let hit = report["findings"].as_array().unwrap().iter().any(|f| {
        f["kind"] == "firearm"
            && f["score"].as_f64().unwrap() >= threshold
            && overlaps(&bbox(&f["bbox_mm"]), &pistol_box)
    });
    assert!(
        hit,
        "no firearm finding overlaps the pistol at {pistol_box:?}: {}",
        report["findings"]
    );
    let alarmed: Vec<&serde_json::Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["score"].as_f64().unwrap() >= threshold)
        .collect();
    // The loose cartridges are still called ammunition.
    let cartridges: Vec<[f64; 6]> = truth
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["class"] == "ammunition")
        .map(|o| bbox(&o["bbox_mm"]))
        .collect();
    assert!(!cartridges.is_empty());
    assert!(
        alarmed.iter().any(|f| f["kind"] == "ammunition"
            && cartridges.iter().any(|c| overlaps(&bbox(&f["bbox_mm"]), c))),
        "no ammunition finding on the cartridges"
    );
    // No firearm away from the pistol (on the benign metal).
    for f in &alarmed {
        if f["kind"] == "firearm" {
            assert!(
                overlaps(&bbox(&f["bbox_mm"]), &pistol_box),
                "a firearm finding away from the pistol: {f}"
            );
        }
    }
}

fn assert_clean_failure(args: &[&str], needle: &str) {
    let run = ctscreen().args(args).output().unwrap();
    assert!(!run.status.success(), "{args:?} succeeded");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "{args:?}: stderr is not one line: {stderr}"
    );
    assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
    assert!(stderr.contains(needle), "{args:?}: {stderr} lacks {needle}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_input_fails_with_one_line_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("out");
    let out_s = out.to_str().unwrap();
    assert_clean_failure(
        &[
            "detect",
            d.join("missing.nii").to_str().unwrap(),
            "--out",
            out_s,
        ],
        "missing.nii",
    );
    let empty = d.join("empty_dir");
    std::fs::create_dir(&empty).unwrap();
    std::fs::write(empty.join("notes.txt"), "not DICOM").unwrap();
    assert_clean_failure(
        &["detect", empty.to_str().unwrap(), "--out", out_s],
        "DICOM",
    );
    let corrupt = d.join("corrupt.nii");
    let mut bytes = vec![0u8; 400];
    bytes[0..4].copy_from_slice(&348i32.to_le_bytes());
    bytes[344..348].copy_from_slice(b"n+1\0");
    std::fs::write(&corrupt, &bytes).unwrap();
    assert_clean_failure(
        &["detect", corrupt.to_str().unwrap(), "--out", out_s],
        "corrupt.nii",
    );
    assert_clean_failure(&["demo", "--size", "0", "--out", out_s], "--size");
    let blocker = d.join("a_file");
    std::fs::write(&blocker, "x").unwrap();
    let under_file = blocker.join("out");
    assert_clean_failure(
        &[
            "demo",
            "--size",
            "16",
            "--out",
            under_file.to_str().unwrap(),
        ],
        "a_file",
    );
    // no outputs were created by any failing run
    assert!(!out.exists() || std::fs::read_dir(&out).unwrap().count() == 0);
}

#[test]
fn ctrl_c_stops_the_demo_quickly_and_leaves_no_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let mut child = ctscreen()
        .args(["demo", "--size", "192", "--quiet", "--out"])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let sent = Instant::now();
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(5),
            "demo still running 5 s after Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let waited = sent.elapsed();
    assert!(
        !status.success(),
        "a cancelled demo must not report success"
    );
    assert!(
        waited < Duration::from_millis(1500),
        "stopped {waited:?} after Ctrl-C"
    );
    let left: Vec<_> = std::fs::read_dir(&out)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "files left behind: {left:?}");
}
