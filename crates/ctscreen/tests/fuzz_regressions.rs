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
