//! Runs the built `ctscreen` binary.
use std::process::Command;

use ctscreen::{io, Volume};
use ndarray::Array3;

fn ctscreen(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ctscreen"))
        .args(args)
        .output()
        .expect("run ctscreen")
}

#[test]
fn info_describes_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scan.nii.gz");
    let data = Array3::from_shape_fn((3, 4, 5), |(k, j, i)| (k * 20 + j * 5 + i) as f32 - 7.5);
    let vol = Volume::new(data, [2.5, 0.75, 1.25], [-10.0, 20.5, 3.0]).unwrap();
    io::save(&path, &vol).unwrap();

    let out = ctscreen(&["info".as_ref(), path.as_os_str()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("NIfTI-1 (compressed)"), "{text}");
    assert!(text.contains("float32"), "{text}");
    assert!(text.contains("(z, y, x) = (3, 4, 5)"), "{text}");
    assert!(
        text.contains("(dz, dy, dx) = (2.5, 0.75, 1.25) mm"),
        "{text}"
    );
    assert!(text.contains("(z, y, x) = (-10, 20.5, 3) mm"), "{text}");
    assert!(text.contains("values     -7.5 .. 51.5"), "{text}");

    let out = ctscreen(&["info".as_ref(), "--json".as_ref(), path.as_os_str()]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["shape"], serde_json::json!([3, 4, 5]));
    assert_eq!(v["data_type"], "float32");
    assert_eq!(v["min"], -7.5);
}

fn assert_one_line_error(out: &std::process::Output, needle: &str) {
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains(needle), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn info_errors_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.nii");
    assert_one_line_error(
        &ctscreen(&["info".as_ref(), missing.as_os_str()]),
        "missing.nii",
    );

    // A NIfTI file cut in its voxel data.
    let path = dir.path().join("cut.nii");
    let vol = Volume::new(Array3::zeros((4, 4, 4)), [1.0; 3], [0.0; 3]).unwrap();
    io::save(&path, &vol).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    assert_one_line_error(&ctscreen(&["info".as_ref(), path.as_os_str()]), "truncated");

    // Garbage.
    let junk = dir.path().join("junk.dat");
    std::fs::write(&junk, b"\x00\x01\x02 not an image").unwrap();
    assert_one_line_error(
        &ctscreen(&["info".as_ref(), junk.as_os_str()]),
        "unsupported",
    );
}
