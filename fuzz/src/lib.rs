//! Fuzz targets for ctscreen's file readers and text parsers.
//!
//! Each target takes arbitrary bytes and must never panic, hang or allocate without
//! bound: a reader returns a volume or an error, a parser a geometry or an error. The
//! readers take paths, so the bytes are written to a scratch file in a per-process
//! directory on tmpfs (`/dev/shm` when it exists) before the reader opens it.
//!
//! Besides "no panic", the targets check what must hold whenever a load succeeds:
//! [`ctscreen::io::read_info`] agrees with the loaded volume, and the volume survives a
//! MetaImage write and read bit for bit; a parsed geometry serialises to JSON and parses
//! back equal, and a tiny projector on it gives finite line integrals.
//!
//! The same functions are called by the libFuzzer binaries in `fuzz_targets/` (`cargo
//! fuzz run <name>`) and by the plain, stable-toolchain driver `src/bin/mutate.rs`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ctscreen::geometry::Geometry;
use ctscreen::project::{LinearOperator, Projector};
use ctscreen::{io, NoProgress, Volume};

/// A fuzz target: takes the input bytes, returns whether they were accepted (loaded or
/// parsed), for statistics.
pub type Target = fn(&[u8]) -> bool;

/// The targets by name, as the driver and the README list them.
pub const TARGETS: &[(&str, Target)] = &[
    ("nifti", nifti),
    ("nifti_gz", nifti_gz),
    ("mha", mha),
    ("dicom", dicom),
    ("dicos", dicos),
    ("dicos_tdr", dicos_tdr),
    ("geometry_json", geometry_json),
    ("rtk_xml", rtk_xml),
];

/// The memory limit the targets run under, unless the environment sets another: small,
/// so that a corrupt header asking for gigabytes is refused by the library's own guard
/// well below the fuzzer's malloc limit.
pub const DEFAULT_MEMORY_LIMIT: &str = "256M";

/// The per-process scratch directory (created on first use). Holds the input file and
/// the data files that `.mhd` seeds refer to (`data.raw`, `data.zraw`).
pub fn scratch_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if std::env::var_os("CTSCREEN_MEMORY_LIMIT").is_none() {
            // Set once, before the library reads it; the fuzz processes are ours.
            std::env::set_var("CTSCREEN_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT);
        }
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("ctscreen-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        let (raw, zraw) = data_files();
        std::fs::write(dir.join("data.raw"), raw).expect("data.raw");
        std::fs::write(dir.join("data.zraw"), zraw).expect("data.zraw");
        dir
    })
}

/// Removes the scratch directory (the driver calls this at the end).
pub fn remove_scratch_dir() {
    let _ = std::fs::remove_dir_all(scratch_dir());
}

/// The small volume every seed is made from: 3 × 4 × 5 values with a sign change,
/// anisotropic spacing and an origin off zero.
pub fn sample_volume() -> Volume {
    let data = ndarray::Array3::from_shape_fn((3, 4, 5), |(k, j, i)| {
        (k as f32 - 1.0) * 0.5 + j as f32 * 0.25 - i as f32 * 0.125
    });
    Volume::new(data, [2.0, 0.5, 0.75], [-3.0, 1.5, 10.0]).expect("valid sample volume")
}

/// The little-endian float32 voxels of [`sample_volume`], raw and zlib-compressed: the
/// data files of the `.mhd` seeds.
pub fn data_files() -> (Vec<u8>, Vec<u8>) {
    let raw: Vec<u8> = sample_volume()
        .data()
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(&raw).expect("in-memory write");
    (raw.clone(), z.finish().expect("in-memory write"))
}

fn write_input(name: &str, bytes: &[u8]) -> PathBuf {
    let p = scratch_dir().join(name);
    std::fs::write(&p, bytes).expect("write the fuzz input to the scratch directory");
    p
}

/// Volumes up to this many voxels are also written and read back.
const ROUND_TRIP_VOXELS: usize = 1 << 16;

/// What must hold when a file loads: the header summary agrees, and the volume
/// survives a MetaImage round trip bit for bit.
fn check_loaded(path: &Path, vol: &Volume) {
    let info = io::read_info(path).expect("read_info must succeed where load did");
    assert_eq!(info.shape, vol.shape(), "read_info shape vs load");
    assert_eq!(info.spacing, vol.spacing(), "read_info spacing vs load");
    assert_eq!(info.origin, vol.origin(), "read_info origin vs load");
    assert_eq!(
        info.direction,
        vol.direction(),
        "read_info direction vs load"
    );
    assert_eq!(
        vol.data().len(),
        vol.shape().iter().product::<usize>(),
        "data length vs shape"
    );
    if vol.data().len() <= ROUND_TRIP_VOXELS {
        let out = scratch_dir().join("roundtrip.mha");
        io::save(&out, vol).expect("a loaded volume must save");
        let back = io::load(&out).expect("a saved volume must load");
        assert_eq!(back.shape(), vol.shape());
        assert_eq!(back.spacing(), vol.spacing());
        assert_eq!(back.origin(), vol.origin());
        assert_eq!(back.direction(), vol.direction());
        let same = back
            .data()
            .iter()
            .zip(vol.data().iter())
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "voxel values changed in a MetaImage round trip");
    }
}

fn load_file(name: &str, bytes: &[u8]) -> bool {
    let p = write_input(name, bytes);
    match io::load(&p) {
        Ok(vol) => {
            check_loaded(&p, &vol);
            true
        }
        Err(_) => {
            // read_info reads less than load; it may succeed or fail, but not panic.
            let _ = io::read_info(&p);
            false
        }
    }
}

/// A NIfTI-1/2 file as stored (`.nii`, or gzip bytes when the input is gzip).
pub fn nifti(data: &[u8]) -> bool {
    load_file("input.nii", data)
}

/// The input gzip-compressed and read as `.nii.gz`: explores NIfTI headers behind the
/// gzip decoder (mutating compressed bytes mostly breaks the deflate stream).
pub fn nifti_gz(data: &[u8]) -> bool {
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(data).expect("in-memory write");
    load_file("input.nii.gz", &z.finish().expect("in-memory write"))
}

/// A MetaImage header, with `LOCAL` data or referring to `data.raw` / `data.zraw` in the
/// scratch directory (`.mhd` seeds).
pub fn mha(data: &[u8]) -> bool {
    load_file("input.mha", data)
}

/// A DICOM Part 10 file (one CT slice).
pub fn dicom(data: &[u8]) -> bool {
    load_file("input.dcm", data)
}

/// A DICOS CT (NEMA IIC 1), read by content through [`io::load`] like any `.dcs` file.
pub fn dicos(data: &[u8]) -> bool {
    load_file("input.dcs", data)
}

/// A DICOS Threat Detection Report ([`io::dicos::load_tdr_with`]). A report it accepts
/// must save as a TDR again and load back with the same findings.
pub fn dicos_tdr(data: &[u8]) -> bool {
    let p = write_input("input_tdr.dcs", data);
    match io::dicos::load_tdr_with(&p, None) {
        Ok(tdr) => {
            let out = scratch_dir().join("roundtrip_tdr.dcs");
            io::dicos::save_tdr(&out, &tdr.report, None).expect("a loaded report must save");
            let back = io::dicos::load_tdr(&out).expect("a saved TDR must load");
            assert_eq!(
                back.findings.len(),
                tdr.report.findings.len(),
                "findings lost in a TDR round trip"
            );
            for (a, b) in back.findings.iter().zip(&tdr.report.findings) {
                assert_eq!(a.kind, b.kind, "kind changed in a TDR round trip");
            }
            true
        }
        Err(_) => false,
    }
}

/// Pixels of the tiny projector run on every parsed geometry: more would make slow
/// executions, not better ones.
const MAX_PROJECTION_PIXELS: u128 = 4096;

/// What must hold for every geometry a parser accepts.
fn check_geometry(g: &Geometry) {
    g.validate().expect("a parsed geometry must validate");
    let views = g.view_vectors();
    assert_eq!(views.len(), g.n_views());
    let json = g.to_json();
    let back = Geometry::from_json(&json).expect("to_json output must parse back");
    assert_eq!(&back, g, "geometry JSON round trip");
    if !matches!(g, Geometry::Vector(_)) {
        if let Ok(xml) = g.to_rtk_xml() {
            let (rows, cols) = g.detector_shape();
            let _ = Geometry::from_rtk_xml_str(&xml, (rows, cols), (1.0, 1.0), None);
        }
    }
    let pixels: u128 = g.projection_shape().iter().map(|&n| n as u128).product();
    if pixels <= MAX_PROJECTION_PIXELS {
        if let Ok(a) = Projector::centered([3, 4, 5], [1.0, 1.0, 1.0], g) {
            let x = ndarray::Array3::<f32>::ones((3, 4, 5));
            if let Ok(y) = a.apply_new(x.view(), &NoProgress) {
                assert!(
                    y.iter().all(|v| v.is_finite()),
                    "non-finite line integral of a finite volume"
                );
                let back = a
                    .apply_adjoint_new(y.view(), &NoProgress)
                    .expect("the adjoint of a forward result must run");
                assert!(back.iter().all(|v| v.is_finite()));
            }
        }
    }
}

/// Geometry JSON ([`Geometry::from_json`]).
pub fn geometry_json(data: &[u8]) -> bool {
    let text = String::from_utf8_lossy(data);
    match Geometry::from_json(&text) {
        Ok(g) => {
            check_geometry(&g);
            true
        }
        Err(_) => false,
    }
}

/// RTK `ThreeDCircularProjectionGeometry` XML ([`Geometry::from_rtk_xml_str`]) for a
/// 2 × 3 detector of 1 mm pixels.
pub fn rtk_xml(data: &[u8]) -> bool {
    let text = String::from_utf8_lossy(data);
    match Geometry::from_rtk_xml_str(&text, (2, 3), (1.0, 1.0), None) {
        Ok(g) => {
            check_geometry(&g);
            true
        }
        Err(_) => false,
    }
}
