//! Integration tests of `ctscreen::io`: round trips of every writer, hand-built files of
//! every datatype, malformed inputs (typed errors, no panic, no huge allocation), DICOM
//! series built with the `dicom` crate, and atomic writes.

use std::io::Write;
use std::path::Path;

use ctscreen::io::{self, DataType, FileFormat, SaveOptions};
use ctscreen::{Error, Volume};
use ndarray::Array3;
use rand::{Rng, SeedableRng};

/// A volume with distinct values everywhere, negative ones, a fractional value and
/// geometry values that are exact in `f32` (NIfTI stores geometry in single precision).
fn sample_volume() -> Volume {
    let data = Array3::from_shape_fn((3, 4, 5), |(k, j, i)| {
        (k as f32 * 100.0 + j as f32 * 10.0 + i as f32) * 0.5 - 20.25
    });
    Volume::new(data, [2.5, 0.75, 1.25], [-100.5, 20.25, 3.0]).unwrap()
}

/// A direction that permutes and flips axes (exact in any precision).
fn permuted_direction() -> [[f64; 3]; 3] {
    [[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]
}

/// A general rotation (30° about (1, 2, 2)/3).
fn rotation() -> [[f64; 3]; 3] {
    let (s, c) = (30f64.to_radians().sin(), 30f64.to_radians().cos());
    let u = [1.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0];
    let k = [[0.0, -u[2], u[1]], [u[2], 0.0, -u[0]], [-u[1], u[0], 0.0]];
    std::array::from_fn(|i| {
        std::array::from_fn(|j| {
            let id = if i == j { 1.0 } else { 0.0 };
            c * id + s * k[i][j] + (1.0 - c) * u[i] * u[j]
        })
    })
}

fn assert_same(a: &Volume, b: &Volume) {
    assert_eq!(a.shape(), b.shape());
    assert_eq!(a.data(), b.data(), "voxel values differ");
    assert_eq!(a.spacing(), b.spacing());
    assert_eq!(a.origin(), b.origin());
    assert_eq!(a.direction(), b.direction());
}

#[test]
fn every_writer_round_trips_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let vol = sample_volume();
    let vol_perm = sample_volume()
        .with_direction(permuted_direction())
        .unwrap();
    for (name, options) in [
        ("a.nii", SaveOptions::new()),
        ("a.nii.gz", SaveOptions::new()),
        ("A.NII.GZ", SaveOptions::new()),
        ("a.mha", SaveOptions::new()),
        ("b.mha", SaveOptions::new().compress(true)),
        ("a.mhd", SaveOptions::new()),
        ("b.mhd", SaveOptions::new().compress(true)),
    ] {
        for v in [&vol, &vol_perm] {
            let path = dir.path().join(name);
            io::save_with(&path, v, &options).unwrap();
            let back = io::load(&path).unwrap();
            assert_same(&back, v);
            let info = io::read_info(&path).unwrap();
            assert_eq!(info.data_type, DataType::Float32, "{name}");
            assert_eq!(info.shape, v.shape());
            assert_eq!(info.spacing, v.spacing());
            assert_eq!(info.origin, v.origin());
            assert_eq!(info.direction, v.direction());
            let gz = name.to_ascii_lowercase().ends_with(".gz");
            assert_eq!(info.compressed, gz || options.compress, "{name}");
            let want = if name.to_ascii_lowercase().contains(".nii") {
                FileFormat::Nifti1
            } else {
                FileFormat::MetaImage
            };
            assert_eq!(info.format, want);
        }
    }
    // .mhd writes its data next to it, .raw or .zraw.
    assert!(dir.path().join("a.raw").is_file());
    assert!(dir.path().join("b.zraw").is_file());
    // Nothing but the written files is left in the directory.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
}

#[test]
fn general_rotation_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let vol = Volume::new(
        Array3::from_shape_fn((2, 3, 4), |(k, j, i)| (k * 12 + j * 4 + i) as f32),
        [0.1, 0.3, 0.7],
        [1.0 / 3.0, -2.0 / 7.0, 1e-3],
    )
    .unwrap()
    .with_direction(rotation())
    .unwrap();
    // MetaImage writes the shortest round-trip decimal: exact.
    for name in ["r.mha", "r.mhd"] {
        let p = dir.path().join(name);
        io::save(&p, &vol).unwrap();
        assert_same(&io::load(&p).unwrap(), &vol);
    }
    // NIfTI stores single precision: equal to f32 rounding.
    let p = dir.path().join("r.nii");
    io::save(&p, &vol).unwrap();
    let back = io::load(&p).unwrap();
    assert_eq!(back.data(), vol.data());
    for a in 0..3 {
        assert!((back.spacing()[a] - vol.spacing()[a]).abs() < 1e-7 * vol.spacing()[a]);
        assert!((back.origin()[a] - vol.origin()[a]).abs() < 1e-7);
        for b in 0..3 {
            assert!((back.direction()[a][b] - vol.direction()[a][b]).abs() < 1e-6);
        }
    }
}

#[test]
fn nifti_axes_follow_the_file_order() {
    // A volume that varies only along x must be written with x fastest: the first nx
    // floats after the header are the first row.
    let dir = tempfile::tempdir().unwrap();
    let vol = Volume::new(
        Array3::from_shape_fn((2, 3, 4), |(k, j, i)| (100 * k + 10 * j + i) as f32),
        [3.0, 2.0, 1.0],
        [30.0, 20.0, 10.0],
    )
    .unwrap();
    let p = dir.path().join("x.nii");
    io::save(&p, &vol).unwrap();
    let bytes = std::fs::read(&p).unwrap();
    let f = |off: usize| f32::from_le_bytes(bytes[off..off + 4].try_into().unwrap());
    let i16_at = |off: usize| i16::from_le_bytes(bytes[off..off + 2].try_into().unwrap());
    assert_eq!(
        [i16_at(40), i16_at(42), i16_at(44), i16_at(46)],
        [3, 4, 3, 2]
    );
    assert_eq!([f(80), f(84), f(88)], [1.0, 2.0, 3.0]); // pixdim = (dx, dy, dz)
    assert_eq!([f(280 + 12), f(296 + 12), f(312 + 12)], [10.0, 20.0, 30.0]); // srow offsets
    assert_eq!(i16_at(252), 1); // qform_code scanner
    assert_eq!(i16_at(254), 1); // sform_code scanner
    let voxels: Vec<f32> = (0..6).map(|n| f(352 + 4 * n)).collect();
    assert_eq!(voxels, vec![0.0, 1.0, 2.0, 3.0, 10.0, 11.0]);
}

/// Builds a NIfTI-1 single file by hand (independently of the crate's writer).
struct Nifti1 {
    dim: [i16; 8],
    datatype: i16,
    bitpix: i16,
    pixdim: [f32; 8],
    vox_offset: f32,
    slope: f32,
    inter: f32,
    qform_code: i16,
    sform_code: i16,
    srow: [[f32; 4]; 3],
    magic: [u8; 4],
    big: bool,
}

impl Nifti1 {
    fn new(shape_xyz: [i16; 3], datatype: i16, bitpix: i16) -> Self {
        Nifti1 {
            dim: [3, shape_xyz[0], shape_xyz[1], shape_xyz[2], 1, 1, 1, 1],
            datatype,
            bitpix,
            pixdim: [1.0, 1.0, 2.0, 3.0, 1.0, 1.0, 1.0, 1.0],
            vox_offset: 352.0,
            slope: 0.0,
            inter: 0.0,
            qform_code: 0,
            sform_code: 0,
            srow: [[0.0; 4]; 3],
            magic: *b"n+1\0",
            big: false,
        }
    }

    fn header(&self) -> Vec<u8> {
        let mut b = vec![0u8; 352];
        let big = self.big;
        let put = |b: &mut Vec<u8>, off: usize, bytes: &[u8]| {
            let mut v = bytes.to_vec();
            if big {
                v.reverse();
            }
            b[off..off + v.len()].copy_from_slice(&v);
        };
        put(&mut b, 0, &348i32.to_le_bytes());
        for (i, d) in self.dim.iter().enumerate() {
            put(&mut b, 40 + 2 * i, &d.to_le_bytes());
        }
        put(&mut b, 70, &self.datatype.to_le_bytes());
        put(&mut b, 72, &self.bitpix.to_le_bytes());
        for (i, p) in self.pixdim.iter().enumerate() {
            put(&mut b, 76 + 4 * i, &p.to_le_bytes());
        }
        put(&mut b, 108, &self.vox_offset.to_le_bytes());
        put(&mut b, 112, &self.slope.to_le_bytes());
        put(&mut b, 116, &self.inter.to_le_bytes());
        b[123] = 2; // mm
        put(&mut b, 252, &self.qform_code.to_le_bytes());
        put(&mut b, 254, &self.sform_code.to_le_bytes());
        for r in 0..3 {
            for c in 0..4 {
                put(&mut b, 280 + 16 * r + 4 * c, &self.srow[r][c].to_le_bytes());
            }
        }
        b[344..348].copy_from_slice(&self.magic);
        b
    }

    fn file(&self, data: &[u8]) -> Vec<u8> {
        let mut b = self.header();
        b.extend_from_slice(data);
        b
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn nifti_every_real_datatype_with_scaling() {
    let dir = tempfile::tempdir().unwrap();
    // Values 0..24 (x fastest over a 4 × 3 × 2 grid) minus 5, in each type, both byte
    // orders; then scaled by slope 0.5 and intercept -3.
    let vals: Vec<i64> = (0..24).map(|v| v - 5).collect();
    let cases: [(i16, i16, DataType); 10] = [
        (2, 8, DataType::UInt8),
        (256, 8, DataType::Int8),
        (4, 16, DataType::Int16),
        (512, 16, DataType::UInt16),
        (8, 32, DataType::Int32),
        (768, 32, DataType::UInt32),
        (1024, 64, DataType::Int64),
        (1280, 64, DataType::UInt64),
        (16, 32, DataType::Float32),
        (64, 64, DataType::Float64),
    ];
    for (code, bitpix, dt) in cases {
        let unsigned = matches!(
            dt,
            DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64
        );
        let vals: Vec<i64> = vals
            .iter()
            .map(|&v| if unsigned { v + 5 } else { v })
            .collect();
        for big in [false, true] {
            let mut data = Vec::new();
            for &v in &vals {
                let mut b: Vec<u8> = match dt {
                    DataType::UInt8 => (v as u8).to_le_bytes().to_vec(),
                    DataType::Int8 => (v as i8).to_le_bytes().to_vec(),
                    DataType::Int16 => (v as i16).to_le_bytes().to_vec(),
                    DataType::UInt16 => (v as u16).to_le_bytes().to_vec(),
                    DataType::Int32 => (v as i32).to_le_bytes().to_vec(),
                    DataType::UInt32 => (v as u32).to_le_bytes().to_vec(),
                    DataType::Int64 => v.to_le_bytes().to_vec(),
                    DataType::UInt64 => (v as u64).to_le_bytes().to_vec(),
                    DataType::Float32 => (v as f32).to_le_bytes().to_vec(),
                    _ => (v as f64).to_le_bytes().to_vec(),
                };
                if big {
                    b.reverse();
                }
                data.extend(b);
            }
            for (slope, inter) in [(0.0f32, 0.0f32), (0.5, -3.0)] {
                let mut n = Nifti1::new([4, 3, 2], code, bitpix);
                n.big = big;
                n.slope = slope;
                n.inter = inter;
                let p = write(dir.path(), "t.nii", &n.file(&data));
                let vol = io::load(&p).unwrap_or_else(|e| panic!("{dt} big={big}: {e}"));
                assert_eq!(vol.shape(), [2, 3, 4]);
                assert_eq!(vol.spacing(), [3.0, 2.0, 1.0]);
                for ((k, j, i), &got) in vol.data().indexed_iter() {
                    let raw = vals[i + 4 * j + 12 * k] as f64;
                    let want = if slope == 0.0 {
                        raw
                    } else {
                        raw * f64::from(slope) + f64::from(inter)
                    };
                    assert_eq!(got, want as f32, "{dt} big={big} at {k},{j},{i}");
                }
                assert_eq!(io::read_info(&p).unwrap().data_type, dt);
                // The same bytes gzip-compressed.
                let pg = write(dir.path(), "t.nii.gz", &gzip(&n.file(&data)));
                assert_eq!(io::load(&pg).unwrap().data(), vol.data());
            }
        }
    }
}

#[test]
fn nifti_sform_then_qform_then_pixdim() {
    let dir = tempfile::tempdir().unwrap();
    let data = vec![0u8; 24];
    let mut n = Nifti1::new([4, 3, 2], 2, 8);
    // sform: x axis flipped, spacing 1, 2, 3 and an offset.
    n.sform_code = 2;
    n.srow = [
        [-1.0, 0.0, 0.0, 10.0],
        [0.0, 2.0, 0.0, 20.0],
        [0.0, 0.0, 3.0, 30.0],
    ];
    let p = write(dir.path(), "s.nii", &n.file(&data));
    let v = io::load(&p).unwrap();
    assert_eq!(v.origin(), [30.0, 20.0, 10.0]);
    assert_eq!(
        v.direction(),
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, -1.0]]
    );
    assert_eq!(v.world_of_index([1.0, 1.0, 1.0]), [33.0, 22.0, 9.0]);
    // No transform: origin 0, identity.
    n.sform_code = 0;
    let p = write(dir.path(), "n.nii", &n.file(&data));
    let v = io::load(&p).unwrap();
    assert_eq!(v.origin(), [0.0; 3]);
    assert_eq!(v.direction()[0], [1.0, 0.0, 0.0]);
    // 4D with a 4th dimension of 1 loads as 3D; a real 4th dimension is refused.
    n.dim = [4, 4, 3, 2, 1, 1, 1, 1];
    let p = write(dir.path(), "d4.nii", &n.file(&data));
    assert_eq!(io::load(&p).unwrap().shape(), [2, 3, 4]);
    n.dim = [4, 4, 3, 1, 2, 1, 1, 1];
    let p = write(dir.path(), "d4b.nii", &n.file(&data));
    let e = io::load(&p).unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    assert!(e.to_string().contains("(4, 3, 1, 2)"), "{e}");
    // 2D loads as one slice.
    n.dim = [2, 4, 6, 1, 1, 1, 1, 1];
    let p = write(dir.path(), "d2.nii", &n.file(&data));
    assert_eq!(io::load(&p).unwrap().shape(), [1, 6, 4]);
}

#[test]
fn nifti_pair_reads_the_img_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = Nifti1::new([2, 2, 1], 4, 16);
    n.magic = *b"ni1\0";
    n.vox_offset = 0.0;
    let hdr = n.header();
    write(dir.path(), "p.hdr", &hdr[..348]);
    let data: Vec<u8> = [1i16, -2, 3, -4]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    write(dir.path(), "p.img", &data);
    let v = io::load(dir.path().join("p.hdr")).unwrap();
    assert_eq!(
        v.data().iter().copied().collect::<Vec<_>>(),
        vec![1.0, -2.0, 3.0, -4.0]
    );
    std::fs::remove_file(dir.path().join("p.img")).unwrap();
    let e = io::load(dir.path().join("p.hdr")).unwrap_err();
    assert!(e.to_string().contains("p.img"), "{e}");
}

fn assert_format(e: &Error, needle: &str) {
    assert!(
        matches!(e, Error::Format { .. }),
        "expected Format, got {e:?}"
    );
    assert!(e.to_string().contains(needle), "{e}");
}

#[test]
fn malformed_nifti_gives_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = Nifti1::new([4, 3, 2], 16, 32);
    let data = vec![0u8; 4 * 24];
    let full = good.file(&data);

    // Truncated in the header, in the data, and a truncated gzip stream.
    let p = write(dir.path(), "t1.nii", &full[..200]);
    assert_format(&io::load(&p).unwrap_err(), "truncated NIfTI-1 header");
    let p = write(dir.path(), "t2.nii", &full[..full.len() - 10]);
    assert_format(&io::load(&p).unwrap_err(), "truncated");
    let gz = gzip(&full);
    let p = write(dir.path(), "t3.nii.gz", &gz[..gz.len() / 2]);
    let e = io::load(&p).unwrap_err();
    assert!(matches!(e, Error::Format { .. }), "{e:?}");

    // Wrong magic.
    let mut bad = full.clone();
    bad[344..348].copy_from_slice(b"xyz\0");
    let p = write(dir.path(), "magic.nii", &bad);
    assert!(matches!(
        io::load(&p).unwrap_err(),
        Error::Unsupported { .. }
    ));
    let p = write(dir.path(), "empty.nii", b"");
    assert_format(&io::load(&p).unwrap_err(), "empty");

    // 2^31 voxels declared in a 400-byte file: refused before any allocation.
    let mut huge = Nifti1::new([2048, 1024, 1024], 2, 8);
    huge.pixdim = [1.0; 8];
    let bytes = huge.file(&[0u8; 48]);
    assert_eq!(bytes.len(), 400);
    let p = write(dir.path(), "huge.nii", &bytes);
    let e = io::load(&p).unwrap_err();
    assert_format(&e, "truncated");
    assert!(e.to_string().contains("2048 × 1024 × 1024"), "{e}");
    // The same, gzip-compressed: the stream ends long before, or the memory guard says no.
    let p = write(dir.path(), "huge.nii.gz", &gzip(&bytes));
    let e = io::load(&p).unwrap_err();
    assert!(
        matches!(e, Error::Format { .. } | Error::TooLarge { .. }),
        "{e:?}"
    );
    // read_info only reads the header: it succeeds.
    assert_eq!(io::read_info(&p).unwrap().shape, [1024, 1024, 2048]);

    // Unsupported datatypes: complex64, RGB24, unknown.
    for (code, bitpix) in [(32i16, 64i16), (128, 24), (77, 8)] {
        let p = write(
            dir.path(),
            "dt.nii",
            &Nifti1::new([4, 3, 2], code, bitpix).file(&[0u8; 8 * 24]),
        );
        let e = io::load(&p).unwrap_err();
        assert!(matches!(e, Error::Unsupported { .. }), "{e:?}");
        assert!(e.to_string().contains(&format!("datatype {code}")), "{e}");
    }

    // Bad dims, spacing, offset, scaling.
    let mut n = Nifti1::new([4, 3, 2], 16, 32);
    n.dim[0] = 9;
    let p = write(dir.path(), "dim0.nii", &n.file(&data));
    assert!(io::load(&p).is_err());
    let mut n = Nifti1::new([4, -3, 2], 16, 32);
    let p = write(dir.path(), "negdim.nii", &n.file(&data));
    assert_format(&io::load(&p).unwrap_err(), "dim[2] = -3");
    n = Nifti1::new([4, 3, 2], 16, 32);
    n.pixdim[2] = 0.0;
    let p = write(dir.path(), "zero.nii", &n.file(&data));
    assert_format(&io::load(&p).unwrap_err(), "pixdim[2]");
    n.pixdim[2] = -1.5;
    let p = write(dir.path(), "neg.nii", &n.file(&data));
    assert_format(&io::load(&p).unwrap_err(), "pixdim[2] = -1.5");
    n.pixdim[2] = f32::NAN;
    let p = write(dir.path(), "nan.nii", &n.file(&data));
    assert_format(&io::load(&p).unwrap_err(), "pixdim[2]");
    n = Nifti1::new([4, 3, 2], 16, 32);
    n.vox_offset = 100.0;
    let p = write(dir.path(), "off.nii", &n.file(&data));
    assert_format(&io::load(&p).unwrap_err(), "vox_offset");
    n.vox_offset = 352.5;
    let p = write(dir.path(), "off2.nii", &n.file(&data));
    assert_format(&io::load(&p).unwrap_err(), "vox_offset");
    n = Nifti1::new([4, 3, 2], 16, 32);
    n.slope = 2.0;
    n.inter = f32::INFINITY;
    let p = write(dir.path(), "scl.nii", &n.file(&data));
    assert_format(&io::load(&p).unwrap_err(), "scl_inter");
    // bitpix disagreeing with datatype is ignored (as nibabel does): the datatype rules.
    n = Nifti1::new([4, 3, 2], 16, 8);
    let p = write(dir.path(), "bitpix.nii", &n.file(&data));
    assert_eq!(io::load(&p).unwrap().shape(), [2, 3, 4]);
}

fn mha_header(lines: &[&str]) -> Vec<u8> {
    let mut s = String::new();
    for l in lines {
        s.push_str(l);
        s.push('\n');
    }
    s.into_bytes()
}

#[test]
fn metaimage_element_types_byte_order_and_2d() {
    let dir = tempfile::tempdir().unwrap();
    // A 2D int16 big-endian image with a header-relative .raw file and HeaderSize.
    let vals: [i16; 6] = [-3, -2, -1, 0, 1, 300];
    let mut raw = vec![0xAA; 5]; // 5 bytes to skip
    for v in vals {
        raw.extend_from_slice(&v.to_be_bytes());
    }
    write(dir.path(), "img.raw", &raw);
    let p = write(
        dir.path(),
        "img.mhd",
        &mha_header(&[
            "ObjectType = Image",
            "NDims = 2",
            "DimSize = 3 2",
            "ElementSpacing = 0.5 0.25",
            "Offset = 10 20",
            "ElementType = MET_SHORT",
            "ElementByteOrderMSB = True",
            "HeaderSize = 5",
            "ElementDataFile = img.raw",
        ]),
    );
    let v = io::load(&p).unwrap();
    assert_eq!(v.shape(), [1, 2, 3]);
    assert_eq!(v.spacing(), [1.0, 0.25, 0.5]);
    assert_eq!(v.origin(), [0.0, 20.0, 10.0]);
    assert_eq!(
        v.data().iter().copied().collect::<Vec<_>>(),
        vec![-3.0, -2.0, -1.0, 0.0, 1.0, 300.0]
    );
    assert_eq!(io::read_info(&p).unwrap().data_type, DataType::Int16);

    // HeaderSize = -1: data at the end of the file.
    write(
        dir.path(),
        "end.mhd",
        &mha_header(&[
            "NDims = 3",
            "DimSize = 2 1 1",
            "ElementType = MET_UCHAR",
            "HeaderSize = -1",
            "ElementDataFile = end.raw",
        ]),
    );
    write(dir.path(), "end.raw", &[9, 9, 9, 7, 8]);
    let v = io::load(dir.path().join("end.mhd")).unwrap();
    assert_eq!(v.data().iter().copied().collect::<Vec<_>>(), vec![7.0, 8.0]);

    // Every element type, LOCAL data, compressed and not.
    let types: [(&str, DataType, Vec<u8>); 12] = [
        ("MET_UCHAR", DataType::UInt8, vec![250]),
        ("MET_CHAR", DataType::Int8, (-7i8).to_le_bytes().to_vec()),
        (
            "MET_USHORT",
            DataType::UInt16,
            65000u16.to_le_bytes().to_vec(),
        ),
        (
            "MET_SHORT",
            DataType::Int16,
            (-1000i16).to_le_bytes().to_vec(),
        ),
        (
            "MET_UINT",
            DataType::UInt32,
            70000u32.to_le_bytes().to_vec(),
        ),
        (
            "MET_INT",
            DataType::Int32,
            (-70000i32).to_le_bytes().to_vec(),
        ),
        (
            "MET_ULONG",
            DataType::UInt32,
            70001u32.to_le_bytes().to_vec(),
        ),
        (
            "MET_LONG",
            DataType::Int32,
            (-70001i32).to_le_bytes().to_vec(),
        ),
        (
            "MET_ULONG_LONG",
            DataType::UInt64,
            1u64.to_le_bytes().to_vec(),
        ),
        (
            "MET_LONG_LONG",
            DataType::Int64,
            (-2i64).to_le_bytes().to_vec(),
        ),
        (
            "MET_FLOAT",
            DataType::Float32,
            0.1f32.to_le_bytes().to_vec(),
        ),
        (
            "MET_DOUBLE",
            DataType::Float64,
            0.1f64.to_le_bytes().to_vec(),
        ),
    ];
    let want = [
        250.0,
        -7.0,
        65000.0,
        -1000.0,
        70000.0,
        -70000.0,
        70001.0,
        -70001.0,
        1.0,
        -2.0,
        0.1f32,
        0.1f64 as f32,
    ];
    for ((name, dt, bytes), want) in types.into_iter().zip(want) {
        for compressed in [false, true] {
            let payload = if compressed {
                let mut z =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                z.write_all(&bytes).unwrap();
                z.finish().unwrap()
            } else {
                bytes.clone()
            };
            let et = format!("ElementType = {name}");
            let cd = format!(
                "CompressedData = {}",
                if compressed { "True" } else { "False" }
            );
            let cs = format!("CompressedDataSize = {}", payload.len());
            let mut file = mha_header(&[
                "ObjectType = Image",
                "NDims = 3",
                "DimSize = 1 1 1",
                &cd,
                &cs,
                &et,
                "ElementDataFile = LOCAL",
            ]);
            file.extend_from_slice(&payload);
            let p = write(dir.path(), "t.mha", &file);
            let v = io::load(&p).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(v.data()[[0, 0, 0]], want, "{name}");
            let info = io::read_info(&p).unwrap();
            assert_eq!(info.data_type, dt);
            assert_eq!(info.compressed, compressed);
        }
    }
}

#[test]
fn metaimage_transform_matrix_is_axis_major() {
    // ITK writes the direction cosines of axis 0 first. Axis x along world y, axis y
    // along world -x, z along z.
    let dir = tempfile::tempdir().unwrap();
    let mut file = mha_header(&[
        "NDims = 3",
        "DimSize = 1 1 1",
        "TransformMatrix = 0 1 0 -1 0 0 0 0 1",
        "Offset = 1 2 3",
        "ElementSpacing = 1 2 3",
        "ElementType = MET_UCHAR",
        "ElementDataFile = LOCAL",
    ]);
    file.push(0);
    let p = write(dir.path(), "m.mha", &file);
    let v = io::load(&p).unwrap();
    // Voxel index x + 1 (array axis 2) moves along world +y (volume row 1).
    let w = v.world_of_index([0.0, 0.0, 1.0]);
    assert_eq!(w, [3.0, 3.0, 1.0]);
    // Index y + 1 (array axis 1, spacing 2) moves along world -x.
    assert_eq!(v.world_of_index([0.0, 1.0, 0.0]), [3.0, 2.0, -1.0]);
}

#[test]
fn malformed_metaimage_gives_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let base = [
        "ObjectType = Image",
        "NDims = 3",
        "DimSize = 2 2 2",
        "ElementSpacing = 1 1 1",
        "ElementType = MET_UCHAR",
        "ElementDataFile = LOCAL",
    ];
    let with = |replace: &str, by: Option<&str>, data: usize| {
        let lines: Vec<&str> = base
            .iter()
            .filter_map(|l| if l.starts_with(replace) { by } else { Some(*l) })
            .collect();
        let mut f = mha_header(&lines);
        f.extend(std::iter::repeat_n(1u8, data));
        f
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("nodim", with("DimSize", None, 8), "missing DimSize"),
        (
            "baddim",
            with("DimSize", Some("DimSize = 2 2"), 8),
            "DimSize",
        ),
        (
            "zerodim",
            with("DimSize", Some("DimSize = 2 0 2"), 8),
            "DimSize",
        ),
        (
            "zerosp",
            with("ElementSpacing", Some("ElementSpacing = 1 0 1"), 8),
            "ElementSpacing",
        ),
        (
            "negsp",
            with("ElementSpacing", Some("ElementSpacing = 1 -2 1"), 8),
            "ElementSpacing",
        ),
        (
            "nansp",
            with("ElementSpacing", Some("ElementSpacing = 1 nan 1"), 8),
            "ElementSpacing",
        ),
        (
            "short",
            with("ObjectType", Some("ObjectType = Image"), 5),
            "truncated",
        ),
        (
            "notype",
            with("ElementType", None, 8),
            "missing ElementType",
        ),
        (
            "nofile",
            with("ElementDataFile", None, 0),
            "ElementDataFile",
        ),
        (
            "matrix",
            with("ObjectType", Some("TransformMatrix = 1 0 0 0 2 0 0 0 1"), 8),
            "TransformMatrix",
        ),
        ("ndims", with("NDims", Some("NDims = x"), 8), "NDims"),
        (
            "huge",
            with("DimSize", Some("DimSize = 2048 1024 1024"), 8),
            "truncated",
        ),
        (
            "overflow",
            with("DimSize", Some("DimSize = 99999999999999999999 1 1"), 8),
            "DimSize",
        ),
        (
            "missingraw",
            with("ElementDataFile", Some("ElementDataFile = nothere.raw"), 0),
            "nothere.raw",
        ),
    ];
    for (name, bytes, needle) in cases {
        let p = write(dir.path(), &format!("{name}.mha"), &bytes);
        let e = io::load(&p).unwrap_err();
        assert!(
            matches!(e, Error::Format { .. } | Error::Io { .. }),
            "{name}: {e:?}"
        );
        assert!(e.to_string().contains(needle), "{name}: {e}");
    }
    let unsupported = [
        (
            "channels",
            with("ObjectType", Some("ElementNumberOfChannels = 3"), 24),
            "ElementNumberOfChannels = 3",
        ),
        (
            "array",
            with("ElementType", Some("ElementType = MET_FLOAT_ARRAY"), 8),
            "MET_FLOAT_ARRAY",
        ),
        ("nd4", with("NDims", Some("NDims = 4"), 8), "NDims = 4"),
        (
            "ascii",
            with("ObjectType", Some("BinaryData = False"), 8),
            "ASCII",
        ),
        (
            "list",
            with("ElementDataFile", Some("ElementDataFile = LIST"), 0),
            "LIST",
        ),
    ];
    for (name, bytes, needle) in unsupported {
        let p = write(dir.path(), &format!("{name}.mha"), &bytes);
        let e = io::load(&p).unwrap_err();
        assert!(matches!(e, Error::Unsupported { .. }), "{name}: {e:?}");
        assert!(e.to_string().contains(needle), "{name}: {e}");
    }
    // Corrupt zlib data.
    let mut f = mha_header(&[
        "NDims = 3",
        "DimSize = 2 2 2",
        "ElementType = MET_UCHAR",
        "CompressedData = True",
        "ElementDataFile = LOCAL",
    ]);
    f.extend_from_slice(b"this is not zlib");
    let p = write(dir.path(), "z.mha", &f);
    assert!(matches!(io::load(&p).unwrap_err(), Error::Format { .. }));
}

#[test]
fn unknown_formats_and_extensions() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "x.bin",
        b"just some bytes that are no image at all",
    );
    let e = io::load(&p).unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e:?}");
    let p = write(dir.path(), "x.gz", &gzip(b"plain text"));
    assert!(matches!(
        io::load(&p).unwrap_err(),
        Error::Unsupported { .. }
    ));
    let e = io::load(dir.path().join("missing.nii")).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e:?}");
    assert!(e.to_string().contains("missing.nii"));
    let e = io::save(dir.path().join("x.png"), &sample_volume()).unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e:?}");
    assert!(!dir.path().join("x.png").exists());
}

#[test]
fn failed_saves_leave_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let vol = sample_volume();
    for name in ["a.nii", "a.nii.gz", "a.mha", "a.mhd"] {
        // Missing directory.
        let p = dir.path().join("missing").join(name);
        let e = io::save(&p, &vol).unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e:?}");
        assert!(e.to_string().contains(name), "{e}");
        // A "directory" that is a regular file.
        let file = write(dir.path(), "plainfile", b"x");
        let e = io::save(file.join(name), &vol).unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e:?}");
    }
    // Read-only directory (meaningless for root, which may write anyway).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let ro = dir.path().join("ro");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
        let probe = std::fs::write(ro.join("probe"), b"x").is_ok();
        if !probe {
            for name in ["a.nii", "a.mha", "a.mhd"] {
                let e = io::save(ro.join(name), &vol).unwrap_err();
                assert!(matches!(e, Error::Io { .. }), "{e:?}");
            }
            assert_eq!(std::fs::read_dir(&ro).unwrap().count(), 0);
        }
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // An existing file is replaced only by a complete new one.
    let p = dir.path().join("keep.nii");
    io::save(&p, &vol).unwrap();
    let before = std::fs::read(&p).unwrap();
    assert!(io::save(dir.path().join("keep.nii.png"), &vol).is_err());
    assert_eq!(std::fs::read(&p).unwrap(), before);
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".ctscreen"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Loads every mutation of `bytes` (random byte changes and truncations, fixed seed)
/// from a file named `name`: each must give a volume or an error, never a panic.
fn fuzz(name: &str, bytes: &[u8], extra: &[(&str, &[u8])], n: usize, seed: u64) -> usize {
    let dir = tempfile::tempdir().unwrap();
    for (n, b) in extra {
        write(dir.path(), n, b);
    }
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let mut errors = 0;
    for round in 0..n {
        let mut m = bytes.to_vec();
        match round % 4 {
            0 => {
                let len = rng.random_range(0..m.len());
                m.truncate(len);
            }
            _ => {
                for _ in 0..rng.random_range(1..=4) {
                    let i = rng.random_range(0..m.len());
                    m[i] = match rng.random_range(0..3) {
                        0 => rng.random(),
                        1 => m[i] ^ (1 << rng.random_range(0..8)),
                        _ => [0x00, 0xff, 0x7f, 0x80][rng.random_range(0..4)],
                    };
                }
            }
        }
        let p = write(dir.path(), name, &m);
        if io::load(&p).is_err() {
            errors += 1;
        }
        let _ = io::read_info(&p);
    }
    errors
}

#[test]
fn random_mutations_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let vol = sample_volume()
        .with_direction(permuted_direction())
        .unwrap();
    let mut total_errors = 0;
    for (i, name) in ["f.nii", "f.nii.gz", "f.mha"].iter().enumerate() {
        let p = dir.path().join(name);
        io::save_with(&p, &vol, &SaveOptions::new().compress(i == 2)).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        // Mutations in the header are the interesting ones: fuzz a header-sized prefix
        // more often by also mutating a copy with a short data section.
        total_errors += fuzz(name, &bytes, &[], 300, 7 + i as u64);
    }
    // .mhd header with its raw file present.
    let p = dir.path().join("f.mhd");
    io::save(&p, &vol).unwrap();
    let raw = std::fs::read(dir.path().join("f.raw")).unwrap();
    total_errors += fuzz(
        "f.mhd",
        &std::fs::read(&p).unwrap(),
        &[("f.raw", &raw)],
        300,
        11,
    );
    // Hand-built NIfTI files: int16 with scaling and a qform, and NIfTI-2.
    let mut n = Nifti1::new([4, 3, 2], 4, 16);
    n.slope = 2.0;
    n.qform_code = 1;
    total_errors += fuzz("g.nii", &n.file(&[7u8; 48]), &[], 300, 13);
    total_errors += fuzz("h.nii", &nifti2_file(), &[], 300, 17);
    assert!(
        total_errors > 100,
        "mutations should mostly be caught: {total_errors}"
    );
}

/// A NIfTI-2 file: 3 × 2 × 1 int16, pixdim (0.5, 0.25, 2), sform with offsets.
fn nifti2_file() -> Vec<u8> {
    let mut b = vec![0u8; 544];
    b[0..4].copy_from_slice(&540i32.to_le_bytes());
    b[4..12].copy_from_slice(b"n+2\0\r\n\x1a\n");
    b[12..14].copy_from_slice(&4i16.to_le_bytes());
    b[14..16].copy_from_slice(&16i16.to_le_bytes());
    for (i, d) in [3i64, 3, 2, 1, 1, 1, 1, 1].iter().enumerate() {
        b[16 + 8 * i..24 + 8 * i].copy_from_slice(&d.to_le_bytes());
    }
    for (i, p) in [1.0f64, 0.5, 0.25, 2.0, 1.0, 1.0, 1.0, 1.0]
        .iter()
        .enumerate()
    {
        b[104 + 8 * i..112 + 8 * i].copy_from_slice(&p.to_le_bytes());
    }
    b[168..176].copy_from_slice(&544i64.to_le_bytes());
    b[348..352].copy_from_slice(&1i32.to_le_bytes()); // sform_code
    let srow = [
        [0.5, 0.0, 0.0, -1.0],
        [0.0, 0.25, 0.0, -2.0],
        [0.0, 0.0, 2.0, -3.0f64],
    ];
    for r in 0..3 {
        for c in 0..4 {
            let off = 400 + 32 * r + 8 * c;
            b[off..off + 8].copy_from_slice(&srow[r][c].to_le_bytes());
        }
    }
    b[500..504].copy_from_slice(&2i32.to_le_bytes()); // mm
    for v in [1i16, 2, 3, -4, -5, -6] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b
}

#[test]
fn nifti2_reads() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "n2.nii", &nifti2_file());
    let v = io::load(&p).unwrap();
    assert_eq!(v.shape(), [1, 2, 3]);
    assert_eq!(v.spacing(), [2.0, 0.25, 0.5]);
    assert_eq!(v.origin(), [-3.0, -2.0, -1.0]);
    assert_eq!(
        v.data().iter().copied().collect::<Vec<_>>(),
        vec![1.0, 2.0, 3.0, -4.0, -5.0, -6.0]
    );
    let info = io::read_info(&p).unwrap();
    assert_eq!(info.format, FileFormat::Nifti2);
    assert_eq!(info.data_type, DataType::Int16);
    let pg = write(dir.path(), "n2.nii.gz", &gzip(&nifti2_file()));
    assert_eq!(io::load(&pg).unwrap(), v);
}

// ---------------------------------------------------------------- DICOM

mod dicom_files {
    use dicom::core::value::DataSetSequence;
    use dicom::core::{DataElement, PrimitiveValue, VR};
    use dicom::dictionary_std::{tags, uids};
    use dicom::object::{FileMetaTableBuilder, InMemDicomObject};
    use std::path::Path;

    /// Parameters of one synthetic CT slice.
    pub struct Slice<'a> {
        pub series: &'a str,
        pub position: [f64; 3],
        pub orientation: [f64; 6],
        pub pixel_spacing: [f64; 2],
        pub rows: u16,
        pub cols: u16,
        pub slope: f64,
        pub intercept: f64,
        pub pixels: Vec<i16>,
    }

    fn ds(v: &[f64]) -> String {
        v.iter()
            .map(|x| format!("{x}"))
            .collect::<Vec<_>>()
            .join("\\")
    }

    pub fn write(path: &Path, s: &Slice) {
        write_ts(path, s, uids::EXPLICIT_VR_LITTLE_ENDIAN);
    }

    /// Writes the slice in transfer syntax `ts`, with a nested sequence (two items,
    /// one holding another sequence) so that readers walk nested data sets.
    pub fn write_ts(path: &Path, s: &Slice, ts: &str) {
        let mut obj = InMemDicomObject::new_empty();
        let mut inner = InMemDicomObject::new_empty();
        inner.put(DataElement::new(
            tags::CODE_VALUE,
            VR::SH,
            PrimitiveValue::from("T-D0050"),
        ));
        let mut item = InMemDicomObject::new_empty();
        item.put(DataElement::new(
            tags::REFERENCED_SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from("1.2.3.999"),
        ));
        item.put(DataElement::new(
            tags::ANATOMIC_REGION_SEQUENCE,
            VR::SQ,
            DataSetSequence::from(vec![inner]),
        ));
        obj.put(DataElement::new(
            tags::REFERENCED_IMAGE_SEQUENCE,
            VR::SQ,
            DataSetSequence::from(vec![item.clone(), item]),
        ));
        let sop = format!(
            "1.2.3.4.{}",
            (s.position[2] * 1000.0).round() as i64 + 100000
        );
        let mut put = |tag, vr, v: PrimitiveValue| {
            obj.put(DataElement::new(tag, vr, v));
        };
        put(tags::SOP_CLASS_UID, VR::UI, uids::CT_IMAGE_STORAGE.into());
        put(tags::SOP_INSTANCE_UID, VR::UI, sop.clone().into());
        put(tags::MODALITY, VR::CS, "CT".into());
        put(tags::SERIES_INSTANCE_UID, VR::UI, s.series.into());
        put(tags::IMAGE_POSITION_PATIENT, VR::DS, ds(&s.position).into());
        put(
            tags::IMAGE_ORIENTATION_PATIENT,
            VR::DS,
            ds(&s.orientation).into(),
        );
        put(tags::PIXEL_SPACING, VR::DS, ds(&s.pixel_spacing).into());
        put(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16));
        put(
            tags::PHOTOMETRIC_INTERPRETATION,
            VR::CS,
            "MONOCHROME2".into(),
        );
        put(tags::ROWS, VR::US, PrimitiveValue::from(s.rows));
        put(tags::COLUMNS, VR::US, PrimitiveValue::from(s.cols));
        put(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16));
        put(tags::BITS_STORED, VR::US, PrimitiveValue::from(16u16));
        put(tags::HIGH_BIT, VR::US, PrimitiveValue::from(15u16));
        put(
            tags::PIXEL_REPRESENTATION,
            VR::US,
            PrimitiveValue::from(1u16),
        );
        put(tags::RESCALE_SLOPE, VR::DS, ds(&[s.slope]).into());
        put(tags::RESCALE_INTERCEPT, VR::DS, ds(&[s.intercept]).into());
        let words: Vec<u16> = s.pixels.iter().map(|&v| v as u16).collect();
        put(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(words.into()));
        let file = obj
            .with_meta(
                FileMetaTableBuilder::new()
                    .media_storage_sop_class_uid(uids::CT_IMAGE_STORAGE)
                    .media_storage_sop_instance_uid(sop)
                    .transfer_syntax(ts),
            )
            .unwrap();
        file.write_to_file(path).unwrap();
    }
}

use dicom_files::Slice;

fn slice(series: &str, z: f64, seed: i16) -> Slice<'_> {
    Slice {
        series,
        position: [-10.0, -20.0, z],
        orientation: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
        pixel_spacing: [0.5, 0.25],
        rows: 3,
        cols: 4,
        slope: 2.0,
        intercept: -1024.0,
        pixels: (0..12).map(|i| i * 10 + seed).collect(),
    }
}

#[test]
fn dicom_series_sorted_rescaled_with_geometry() {
    let dir = tempfile::tempdir().unwrap();
    // Slices written in scrambled order and names; z = 5, 7.5, 10, 12.5.
    let zs = [10.0, 5.0, 12.5, 7.5];
    for (n, &z) in zs.iter().enumerate() {
        let s = slice("1.2.3", z, (z * 2.0) as i16);
        dicom_files::write(&dir.path().join(format!("img{n}.dcm")), &s);
    }
    write(dir.path(), "README.txt", b"not dicom");
    write(dir.path(), "short", b"x");
    std::fs::create_dir(dir.path().join("subdir")).unwrap();
    let v = io::load_dicom(dir.path()).unwrap();
    assert_eq!(v.shape(), [4, 3, 4]);
    assert_eq!(v.spacing(), [2.5, 0.5, 0.25]);
    assert_eq!(v.origin(), [5.0, -20.0, -10.0]);
    assert_eq!(
        v.direction(),
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    );
    for (k, z) in [5.0f64, 7.5, 10.0, 12.5].iter().enumerate() {
        let seed = (z * 2.0) as i16;
        for j in 0..3 {
            for i in 0..4 {
                let stored = f64::from((j * 4 + i) as i16 * 10 + seed);
                assert_eq!(v.data()[[k, j, i]], (stored * 2.0 - 1024.0) as f32);
            }
        }
    }
    // load() on the directory and read_info agree.
    assert_eq!(io::load(dir.path()).unwrap(), v);
    let info = io::read_info(dir.path()).unwrap();
    assert_eq!(info.format, FileFormat::Dicom);
    assert_eq!(info.data_type, DataType::Int16);
    assert_eq!(info.shape, [4, 3, 4]);
    // A single file is one slice, through load() too.
    let one = io::load(dir.path().join("img0.dcm")).unwrap();
    assert_eq!(one.shape(), [1, 3, 4]);
    assert_eq!(one.origin(), [10.0, -20.0, -10.0]);
}

#[test]
fn dicom_oblique_orientation_sorts_along_the_normal() {
    // Rows along (0, 1, 0), columns along (0, 0, -1): the normal is (-1, 0, 0), so
    // slices are ordered by decreasing world x.
    let dir = tempfile::tempdir().unwrap();
    for (n, x) in [3.0, 1.0, 2.0].iter().enumerate() {
        let mut s = slice("9.9", 0.0, *x as i16);
        s.position = [*x, 0.0, 0.0];
        s.orientation = [0.0, 1.0, 0.0, 0.0, 0.0, -1.0];
        dicom_files::write(&dir.path().join(format!("{n}.dcm")), &s);
    }
    let v = io::load_dicom(dir.path()).unwrap();
    assert_eq!(v.origin(), [0.0, 0.0, 3.0]); // (z, y, x) of the first slice: x = 3
    assert_eq!(v.spacing()[0], 1.0);
    // Slice index 1 is one step along the normal: world x = 2.
    assert_eq!(v.world_of_index([1.0, 0.0, 0.0]), [0.0, 0.0, 2.0]);
    // Column index moves along world +y, row index along world -z.
    assert_eq!(v.world_of_index([0.0, 0.0, 1.0]), [0.0, 0.25, 3.0]);
    assert_eq!(v.world_of_index([0.0, 1.0, 0.0]), [-0.5, 0.0, 3.0]);
    assert_eq!(v.data()[[0, 0, 0]], (3.0 * 2.0 - 1024.0) as f32);
}

#[test]
fn dicom_errors() {
    let dir = tempfile::tempdir().unwrap();
    // No DICOM at all.
    write(dir.path(), "a.txt", b"hello");
    let e = io::load_dicom(dir.path()).unwrap_err();
    assert_format(&e, "no DICOM image");
    assert!(e.to_string().contains(&dir.path().display().to_string()));

    // Two series: an error naming both, then each loads on request.
    for (n, z) in [0.0, 1.0].iter().enumerate() {
        dicom_files::write(&dir.path().join(format!("a{n}.dcm")), &slice("1.1", *z, 0));
    }
    dicom_files::write(&dir.path().join("b0.dcm"), &slice("2.2", 0.0, 0));
    let e = io::load_dicom(dir.path()).unwrap_err();
    assert_format(&e, "1.1 (2 slices), 2.2 (1 slice)");
    assert_eq!(
        io::load_dicom_series(dir.path(), "1.1").unwrap().shape(),
        [2, 3, 4]
    );
    assert_eq!(
        io::load_dicom_series(dir.path(), "2.2").unwrap().shape(),
        [1, 3, 4]
    );
    assert_format(
        &io::load_dicom_series(dir.path(), "3.3").unwrap_err(),
        "3.3",
    );

    // Irregular spacing (a missing slice), duplicate positions, size mismatch.
    let d2 = tempfile::tempdir().unwrap();
    for (n, z) in [0.0, 1.0, 2.0, 4.0].iter().enumerate() {
        dicom_files::write(&d2.path().join(format!("{n}.dcm")), &slice("1", *z, 0));
    }
    assert_format(
        &io::load_dicom(d2.path()).unwrap_err(),
        "irregular slice spacing",
    );
    dicom_files::write(&d2.path().join("3.dcm"), &slice("1", 2.0, 0));
    assert_format(&io::load_dicom(d2.path()).unwrap_err(), "same position");
    let mut s = slice("1", 3.0, 0);
    s.rows = 2;
    s.pixels.truncate(8);
    dicom_files::write(&d2.path().join("3.dcm"), &s);
    assert_format(&io::load_dicom(d2.path()).unwrap_err(), "2 × 4 pixels");
    // 0.5 % jitter is accepted.
    let d3 = tempfile::tempdir().unwrap();
    for (n, z) in [0.0, 1.005, 2.0, 3.0].iter().enumerate() {
        dicom_files::write(&d3.path().join(format!("{n}.dcm")), &slice("1", *z, 0));
    }
    assert_eq!(io::load_dicom(d3.path()).unwrap().spacing()[0], 1.0);

    // A file that is not DICOM, given directly.
    let e = io::load_dicom(dir.path().join("a.txt")).unwrap_err();
    assert_format(&e, "not a DICOM file");
}

#[test]
fn dicom_mutations_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.dcm");
    dicom_files::write(&p, &slice("1.2", 0.0, 3));
    let bytes = std::fs::read(&p).unwrap();
    let mut errors = fuzz("m.dcm", &bytes, &[], 300, 23);
    for (n, ts) in [
        dicom::dictionary_std::uids::IMPLICIT_VR_LITTLE_ENDIAN,
        "1.2.840.10008.1.2.2", // explicit VR big endian (retired)
    ]
    .iter()
    .enumerate()
    {
        let p = dir.path().join(format!("t{n}.dcm"));
        dicom_files::write_ts(&p, &slice("1.2", 0.0, 3), ts);
        // The unmutated file loads.
        let v = io::load(&p).unwrap();
        assert_eq!(v.data()[[0, 0, 1]], (13.0 * 2.0 - 1024.0) as f32, "{ts}");
        errors += fuzz(
            "m.dcm",
            &std::fs::read(&p).unwrap(),
            &[],
            200,
            29 + n as u64,
        );
    }
    assert!(errors > 100, "{errors}");
}

#[test]
fn dicom_load_is_identical_on_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    for n in 0..8 {
        let mut s = slice("7.7", n as f64 * 0.5, n as i16);
        s.slope = 0.5 + n as f64;
        dicom_files::write(&dir.path().join(format!("{n}.dcm")), &s);
    }
    let run = |threads| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| io::load_dicom(dir.path()).unwrap())
    };
    let (a, b) = (run(1), run(2));
    assert_eq!(a, b);
    assert_eq!(a.data()[[7, 2, 3]], ((110.0 + 7.0) * 7.5 - 1024.0) as f32);
}

/// `load` picks the reader from the SOP class, not the name: a plain DICOM CT slice
/// named like a DICOS file still goes to the DICOM reader (values in HU).
#[test]
fn plain_dicom_named_dcs_goes_to_the_dicom_reader() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("slice.dcs");
    dicom_files::write(&p, &slice("1.2.3", 5.0, 7));
    let v = io::load(&p).unwrap();
    assert_eq!(v, io::load_dicom(&p).unwrap());
    assert_eq!(v.data()[[0, 0, 1]], (17.0 * 2.0 - 1024.0) as f32);
    assert_eq!(io::read_info(&p).unwrap().format, FileFormat::Dicom);
    // A directory of plain DICOM slices stays a DICOM series.
    let series = dir.path().join("series");
    std::fs::create_dir(&series).unwrap();
    std::fs::copy(&p, series.join("a.dcs")).unwrap();
    assert_eq!(io::read_info(&series).unwrap().format, FileFormat::Dicom);
}
