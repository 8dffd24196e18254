//! Inputs found by fuzzing (`fuzz/`) that once crashed, hung or over-allocated, rebuilt
//! here from their essential bytes. Each must now give a typed error.

use std::path::{Path, PathBuf};

use ctscreen::{io, Error};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(bytes).unwrap();
    z.finish().unwrap()
}

/// A NIfTI-2 header (int16) with the given `dim[0..8]` and `vox_offset`, plus `data`.
fn nifti2(dim: [i64; 8], vox_offset: i64, data: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 544];
    b[0..4].copy_from_slice(&540i32.to_le_bytes());
    b[4..12].copy_from_slice(b"n+2\0\r\n\x1a\n");
    b[12..14].copy_from_slice(&4i16.to_le_bytes());
    b[14..16].copy_from_slice(&16i16.to_le_bytes());
    for (i, d) in dim.iter().enumerate() {
        b[16 + 8 * i..24 + 8 * i].copy_from_slice(&d.to_le_bytes());
    }
    for i in 0..8 {
        b[104 + 8 * i..112 + 8 * i].copy_from_slice(&1.0f64.to_le_bytes());
    }
    b[168..176].copy_from_slice(&vox_offset.to_le_bytes());
    b.extend_from_slice(data);
    b
}

fn assert_refused(e: &Error) {
    assert!(
        matches!(e, Error::Format { .. } | Error::TooLarge { .. }),
        "expected a format or size error, got {e:?}"
    );
}

/// Three NIfTI-2 dimensions of 2^56 (and 2^48 with a vox_offset near 2^61): the voxel
/// count overflowed `u128` (a panic with overflow checks, a wrapped count without).
#[test]
fn nifti2_dimensions_whose_product_overflows_u128() {
    let dir = tempfile::tempdir().unwrap();
    let huge = 1i64 << 56;
    let cases = [
        nifti2([3, huge + 3, huge, huge, huge, huge, huge, 0], 2, &[0; 76]),
        nifti2(
            [3, 1 << 48, 1 << 48, 1 << 48, 1, 1, 1, 1],
            1 << 61,
            &[0; 19],
        ),
        nifti2([3, i64::MAX, i64::MAX, i64::MAX, 1, 1, 1, 1], 544, &[]),
    ];
    for (i, bytes) in cases.iter().enumerate() {
        let e = io::load(write(dir.path(), &format!("{i}.nii"), bytes)).unwrap_err();
        assert_refused(&e);
        let e = io::load(write(dir.path(), &format!("{i}.nii.gz"), &gzip(bytes))).unwrap_err();
        assert_refused(&e);
        // The header alone is fine to report.
        let info = io::read_info(dir.path().join(format!("{i}.nii"))).unwrap();
        assert_eq!(info.shape[0], usize::try_from(bytes_dim(bytes, 3)).unwrap());
    }
}

fn bytes_dim(b: &[u8], i: usize) -> i64 {
    i64::from_le_bytes(b[16 + 8 * i..24 + 8 * i].try_into().unwrap())
}

/// The same overflow in MetaImage: three 64-bit `DimSize` values.
#[test]
fn metaimage_dimensions_whose_product_overflows_u128() {
    let dir = tempfile::tempdir().unwrap();
    for dims in [
        "18446744073709551615 18446744073709551615 18446744073709551615",
        "4294967296 4294967296 4294967296",
        "18446744073709551615 18446744073709551615",
    ] {
        let nd = dims.split_whitespace().count();
        let text = format!(
            "ObjectType = Image\nNDims = {nd}\nDimSize = {dims}\nElementType = MET_DOUBLE\nElementDataFile = LOCAL\n0123456789"
        );
        for compressed in ["False", "True"] {
            let t = text.replace("NDims", &format!("CompressedData = {compressed}\nNDims"));
            let e = io::load(write(dir.path(), "o.mha", t.as_bytes())).unwrap_err();
            assert_refused(&e);
        }
    }
}

/// A DICOM Part 10 file: preamble, a file meta group (explicit VR little endian) naming
/// transfer syntax `ts`, then `dataset` as given.
fn part10(ts: &str, dataset: &[u8]) -> Vec<u8> {
    fn explicit(group: u16, elem: u16, vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
        let mut v = value.to_vec();
        if v.len() % 2 == 1 {
            v.push(0);
        }
        let mut b = Vec::new();
        b.extend(group.to_le_bytes());
        b.extend(elem.to_le_bytes());
        b.extend(vr);
        if vr == b"OB" {
            b.extend([0, 0]);
            b.extend((v.len() as u32).to_le_bytes());
        } else {
            b.extend((v.len() as u16).to_le_bytes());
        }
        b.extend(v);
        b
    }
    let mut meta = explicit(2, 1, b"OB", &[0, 1]);
    meta.extend(explicit(2, 2, b"UI", b"1.2.840.10008.5.1.4.1.1.2"));
    meta.extend(explicit(2, 3, b"UI", b"1.2.3.4"));
    meta.extend(explicit(2, 0x10, b"UI", ts.as_bytes()));
    let mut b = vec![0u8; 128];
    b.extend(b"DICM");
    b.extend(explicit(2, 0, b"UL", &(meta.len() as u32).to_le_bytes()));
    b.extend(meta);
    b.extend(dataset);
    b
}

/// An implicit-VR element.
fn implicit(group: u16, elem: u16, value: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(group.to_le_bytes());
    b.extend(elem.to_le_bytes());
    b.extend((value.len() as u32).to_le_bytes());
    b.extend(value);
    b
}

/// A binary element whose length is not a multiple of its value size (a private group
/// length of 2 bytes, a `Rows` of 3): the `dicom` parser reads whole values only, loses
/// its place in the stream and takes later bytes for a length. The fuzzed file below
/// (a mutated CT slice) made it allocate 4 GB that way.
#[test]
fn dicom_value_lengths_must_fit_the_value_size() {
    let dir = tempfile::tempdir().unwrap();
    let ct = |rows: &[u8]| -> Vec<u8> {
        let us = |v: u16| v.to_le_bytes();
        let mut ds = implicit(0x0008, 0x0060, b"CT");
        ds.extend(implicit(0x0028, 0x0002, &us(1)));
        ds.extend(implicit(0x0028, 0x0004, b"MONOCHROME2 "));
        ds.extend(implicit(0x0028, 0x0010, rows));
        ds.extend(implicit(0x0028, 0x0011, &us(2)));
        ds.extend(implicit(0x0028, 0x0100, &us(16)));
        ds.extend(implicit(0x0028, 0x0101, &us(16)));
        ds.extend(implicit(0x0028, 0x0102, &us(15)));
        ds.extend(implicit(0x0028, 0x0103, &us(0)));
        ds.extend(implicit(0x7FE0, 0x0010, &[1, 0, 2, 0, 3, 0, 4, 0]));
        part10("1.2.840.10008.1.2", &ds)
    };
    // The well-formed file loads (2 × 2 pixels).
    let ok = io::load(write(dir.path(), "ok.dcm", &ct(&2u16.to_le_bytes()))).unwrap();
    assert_eq!(ok.shape(), [1, 2, 2]);
    assert_eq!(ok.data().as_slice().unwrap(), &[1.0, 2.0, 3.0, 4.0]);
    let e = io::load(write(dir.path(), "odd.dcm", &ct(&[2, 0, 0]))).unwrap_err();
    assert!(e.to_string().contains("not a multiple"), "{e}");
    assert!(matches!(e, Error::Format { .. }), "{e:?}");

    // 65535 rows over 8 bytes of pixel data: refused from the file size before the
    // volume is allocated (65535 × 65535 would have asked for 17 GB).
    let e = io::load(write(dir.path(), "huge.dcm", &ct(&65535u16.to_le_bytes()))).unwrap_err();
    assert!(e.to_string().contains("truncated"), "{e}");

    let fuzzed = part10("1.2.840.10008.1.2", &hex(FUZZED_DATASET));
    let e = io::load(write(dir.path(), "fuzzed.dcm", &fuzzed)).unwrap_err();
    assert!(e.to_string().contains("not a multiple"), "{e}");
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The data set (implicit VR little endian) of the fuzzed file: after the
/// SOPInstanceUID comes a private group length (00FF,0000) of 2 bytes.
const FUZZED_DATASET: &str = "\
    080016001a000000312e322e3034302e31303030382e352e312e342e312e312e3200080018000a00\
    0000312e322e332e342e35ffff00000002000000435408004011fffffffffeff00e0ffffffff0800\
    55110a000000312e322e332e3939390008001822fffffffffeff00e0ffffffff0800000108000000\
    542d443030353020feff0de000000000feffdde000000000feff0de000000000feffdde000000000\
    1800500002000000322020000e0008000000312e322e332e3400200032000a0000002d31305c2d32\
    305c3520200037000c000000315c305c305c305c315c302028000200020000000100280004000c00\
    00004d4f4e4f4348524f4d45322028001000020000000200280011000200000003002800300008000\
    000302e355c302e3235280000010200000010002800010102000000100028000201020000000f0028\
    00030102000000010028005210060000002d313032342028005310020000003220e07f10000c00000\
    00000d103a207730b440f1513";
