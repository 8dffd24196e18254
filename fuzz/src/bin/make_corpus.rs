//! Writes the seed corpus: small valid files for every target, one directory per target
//! under the given directory (default `corpus/`). Run by `make_corpus.sh`; the corpus
//! is not committed, this program recreates it.
//!
//!     cargo run --no-default-features --bin make_corpus -- corpus

use std::path::Path;

use ctscreen::geometry::{
    Beam, ConeBeamGeometry, FanBeamGeometry, Geometry, ParallelBeamGeometry, VectorGeometry,
    ViewVectors,
};
use ctscreen::io::{self, SaveOptions};
use ctscreen_fuzz::sample_volume;
use dicom::core::value::DataSetSequence;
use dicom::core::{DataElement, PrimitiveValue, VR};
use dicom::dictionary_std::{tags, uids};
use dicom::object::{FileMetaTableBuilder, InMemDicomObject};

fn main() {
    let out = std::env::args().nth(1).unwrap_or_else(|| "corpus".into());
    let out = Path::new(&out);
    let dirs = [
        "nifti",
        "nifti_gz",
        "mha",
        "dicom",
        "dicos",
        "dicos_tdr",
        "geometry_json",
        "rtk_xml",
    ];
    for d in dirs {
        std::fs::create_dir_all(out.join(d)).expect("corpus directory");
    }
    nifti_seeds(out);
    mha_seeds(out);
    dicom_seeds(&out.join("dicom"));
    dicos_seeds(&out.join("dicos"));
    tdr_seeds(&out.join("dicos_tdr"));
    geometry_seeds(out);
    for d in dirs {
        let n = std::fs::read_dir(out.join(d)).map_or(0, |r| r.count());
        println!("{d}: {n} seed files");
    }
}

fn put(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).expect("write seed");
}

/// A NIfTI-1 header (352 bytes with the extension flag) for `shape_xyz` of `datatype`.
fn nifti1_header(shape_xyz: [i16; 3], datatype: i16, bitpix: i16, big: bool) -> Vec<u8> {
    let mut b = vec![0u8; 352];
    let mut put = |off: usize, bytes: &[u8]| {
        let mut v = bytes.to_vec();
        if big {
            v.reverse();
        }
        b[off..off + v.len()].copy_from_slice(&v);
    };
    put(0, &348i32.to_le_bytes());
    let dim = [3, shape_xyz[0], shape_xyz[1], shape_xyz[2], 1, 1, 1, 1i16];
    for (i, d) in dim.iter().enumerate() {
        put(40 + 2 * i, &d.to_le_bytes());
    }
    put(70, &datatype.to_le_bytes());
    put(72, &bitpix.to_le_bytes());
    let pixdim = [-1.0f32, 0.5, 0.75, 2.0, 1.0, 1.0, 1.0, 1.0];
    for (i, p) in pixdim.iter().enumerate() {
        put(76 + 4 * i, &p.to_le_bytes());
    }
    put(108, &352f32.to_le_bytes());
    put(112, &2f32.to_le_bytes()); // scl_slope
    put(116, &(-1024f32).to_le_bytes()); // scl_inter
    put(252, &1i16.to_le_bytes()); // qform_code
    for (i, q) in [0.0f32, 0.0, 1.0, 10.0, -1.5, -3.0].iter().enumerate() {
        put(256 + 4 * i, &q.to_le_bytes());
    }
    b[123] = 2; // mm
    b[344..348].copy_from_slice(b"n+1\0");
    b
}

/// A NIfTI-2 file: 3 × 2 × 1 int16 with an sform.
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
    b[348..352].copy_from_slice(&1i32.to_le_bytes());
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
    b[500..504].copy_from_slice(&2i32.to_le_bytes());
    for v in [1i16, 2, 3, -4, -5, -6] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b
}

fn nifti_seeds(out: &Path) {
    let tmp = tempdir();
    let vol = sample_volume();
    io::save(tmp.join("s.nii"), &vol).expect("save nii");
    io::save(tmp.join("s.nii.gz"), &vol).expect("save nii.gz");
    let nii = std::fs::read(tmp.join("s.nii")).expect("read");
    let gz = std::fs::read(tmp.join("s.nii.gz")).expect("read");
    let mut int16 = nifti1_header([4, 3, 2], 4, 16, false);
    int16.extend((0..24i16).flat_map(|v| (v * 37 - 300).to_le_bytes()));
    let mut uint8_be = nifti1_header([2, 2, 2], 2, 8, true);
    uint8_be.extend(0..8u8);
    let mut f64_be = nifti1_header([2, 1, 1], 64, 64, true);
    f64_be.extend(1.5f64.to_be_bytes());
    f64_be.extend((-0.0f64).to_be_bytes());
    let seeds: [(&str, &[u8]); 5] = [
        ("float32.nii", &nii),
        ("int16_qform.nii", &int16),
        ("uint8_big_endian.nii", &uint8_be),
        ("float64_big_endian.nii", &f64_be),
        ("nifti2.nii", &nifti2_file()),
    ];
    for (name, bytes) in seeds {
        put(&out.join("nifti"), name, bytes);
        put(&out.join("nifti_gz"), name, bytes);
    }
    put(&out.join("nifti"), "float32.nii.gz", &gz);
    let _ = std::fs::remove_dir_all(tmp);
}

fn mha_seeds(out: &Path) {
    let dir = out.join("mha");
    let tmp = tempdir();
    let vol = sample_volume();
    for (name, compress) in [("plain.mha", false), ("zlib.mha", true)] {
        io::save_with(tmp.join(name), &vol, &SaveOptions::new().compress(compress))
            .expect("save mha");
        put(&dir, name, &std::fs::read(tmp.join(name)).expect("read"));
    }
    // Headers whose data files are the scratch directory's data.raw / data.zraw.
    let (raw, zraw) = ctscreen_fuzz::data_files();
    let header = |extra: &str, file: &str| {
        format!(
            "ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\n\
             {extra}TransformMatrix = 1 0 0 0 1 0 0 0 1\nOffset = 10 1.5 -3\n\
             ElementSpacing = 0.75 0.5 2\nDimSize = 5 4 3\nElementType = MET_FLOAT\n\
             ElementDataFile = {file}\n"
        )
    };
    put(&dir, "external.mhd", header("", "data.raw").as_bytes());
    put(
        &dir,
        "external_zlib.mhd",
        header(
            &format!(
                "CompressedData = True\nCompressedDataSize = {}\n",
                zraw.len()
            ),
            "data.zraw",
        )
        .as_bytes(),
    );
    put(
        &dir,
        "external_headersize.mhd",
        header("HeaderSize = -1\n", "data.raw").as_bytes(),
    );
    assert_eq!(raw.len(), 60 * 4);
    // 2D int16, big endian, with the ITK aliases of the keys.
    let mut short = b"NDims = 2\nDimSize = 3 2\nElementSize = 0.5 0.25\nPosition = 1 2\n\
        Orientation = 0 1 1 0\nElementByteOrderMSB = True\nElementType = MET_SHORT\n\
        ElementNumberOfChannels = 1\nElementDataFile = LOCAL\n"
        .to_vec();
    short.extend((0..6i16).flat_map(|v| (v * 1000 - 2500).to_be_bytes()));
    put(&dir, "short_2d_big_endian.mha", &short);
    let _ = std::fs::remove_dir_all(tmp);
}

/// One CT slice with a nested sequence.
fn dicom_slice(rows: u16, cols: u16, bits: u16) -> InMemDicomObject {
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
        DataSetSequence::from(vec![item]),
    ));
    let mut put = |tag, vr, v: PrimitiveValue| {
        obj.put(DataElement::new(tag, vr, v));
    };
    put(tags::SOP_CLASS_UID, VR::UI, uids::CT_IMAGE_STORAGE.into());
    put(tags::SOP_INSTANCE_UID, VR::UI, "1.2.3.4.5".into());
    put(tags::MODALITY, VR::CS, "CT".into());
    put(tags::SERIES_INSTANCE_UID, VR::UI, "1.2.3.4".into());
    put(tags::IMAGE_POSITION_PATIENT, VR::DS, "-10\\-20\\5".into());
    put(
        tags::IMAGE_ORIENTATION_PATIENT,
        VR::DS,
        "1\\0\\0\\0\\1\\0".into(),
    );
    put(tags::PIXEL_SPACING, VR::DS, "0.5\\0.25".into());
    put(tags::SLICE_THICKNESS, VR::DS, "2".into());
    put(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16));
    put(
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        "MONOCHROME2".into(),
    );
    put(tags::ROWS, VR::US, PrimitiveValue::from(rows));
    put(tags::COLUMNS, VR::US, PrimitiveValue::from(cols));
    put(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(bits));
    put(tags::BITS_STORED, VR::US, PrimitiveValue::from(bits));
    put(tags::HIGH_BIT, VR::US, PrimitiveValue::from(bits - 1));
    put(
        tags::PIXEL_REPRESENTATION,
        VR::US,
        PrimitiveValue::from(1u16),
    );
    put(tags::RESCALE_SLOPE, VR::DS, "2".into());
    put(tags::RESCALE_INTERCEPT, VR::DS, "-1024".into());
    let n = usize::from(rows) * usize::from(cols);
    if bits == 16 {
        let words: Vec<u16> = (0..n).map(|i| (i as u16).wrapping_mul(977)).collect();
        put(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(words.into()));
    } else {
        let bytes: Vec<u8> = (0..n).map(|i| (i * 31) as u8).collect();
        put(tags::PIXEL_DATA, VR::OB, PrimitiveValue::U8(bytes.into()));
    }
    obj
}

fn dicom_seeds(dir: &Path) {
    let cases = [
        ("explicit_le.dcm", uids::EXPLICIT_VR_LITTLE_ENDIAN, 3, 4, 16),
        ("implicit_le.dcm", uids::IMPLICIT_VR_LITTLE_ENDIAN, 2, 3, 16),
        ("explicit_be.dcm", "1.2.840.10008.1.2.2", 3, 2, 16),
        (
            "explicit_le_8bit.dcm",
            uids::EXPLICIT_VR_LITTLE_ENDIAN,
            2,
            4,
            8,
        ),
    ];
    for (name, ts, rows, cols, bits) in cases {
        let obj = dicom_slice(rows, cols, bits);
        let file = obj
            .with_meta(
                FileMetaTableBuilder::new()
                    .media_storage_sop_class_uid(uids::CT_IMAGE_STORAGE)
                    .media_storage_sop_instance_uid("1.2.3.4.5")
                    .transfer_syntax(ts),
            )
            .expect("file meta");
        file.write_to_file(dir.join(name)).expect("write dicom");
        // Each seed must load, or the corpus would only explore error paths.
        io::load(dir.join(name)).expect("seed loads");
    }
}

/// DICOS CTs of the sample volume, native and with every lossless compression.
fn dicos_seeds(dir: &Path) {
    use ctscreen::io::dicos::{save_dicos_with, Compression, DicosSaveOptions};
    let cases = [
        ("native.dcs", Compression::None),
        ("rle.dcs", Compression::Rle),
        ("jpeg_lossless.dcs", Compression::JpegLossless),
        ("jpeg_ls.dcs", Compression::JpegLs),
        ("jpeg2000.dcs", Compression::Jpeg2000),
    ];
    for (name, compression) in cases {
        let options = DicosSaveOptions {
            compression,
            uid_seed: Some(1),
            ..Default::default()
        };
        save_dicos_with(dir.join(name), &sample_volume(), &options).expect("write dicos");
        io::load(dir.join(name)).expect("seed loads");
    }
}

/// Threat Detection Reports: the detector's report on a short steel tube with a 9 mm bore
/// (one PTO), referring to a DICOS CT and to none; and an empty report.
fn tdr_seeds(dir: &Path) {
    use ctscreen::detect::{detect, DetectOptions};
    use ctscreen::io::dicos::{load_tdr, save_dicos, save_tdr_with, TdrSaveOptions};
    let steel = ctscreen::physics::Material::Steel.mu_per_mm(100.0) as f32;
    let tube = ndarray::Array3::from_shape_fn((24, 24, 60), |(k, j, i)| {
        let r = ((k as f64 - 12.0).powi(2) + (j as f64 - 12.0).powi(2)).sqrt();
        if (5..55).contains(&i) && (4.5..=9.0).contains(&r) {
            steel
        } else {
            0.0
        }
    });
    let volume = ctscreen::Volume::centered(tube, [1.0; 3]).expect("tube volume");
    let report = detect(&volume, &DetectOptions::default()).expect("detect");
    assert!(
        !report.findings.is_empty(),
        "the tube seed must hold a finding"
    );
    let scan = save_dicos(tempdir().join("scan.dcs"), &volume).expect("write scan");
    let options = TdrSaveOptions {
        uid_seed: Some(1),
        ..Default::default()
    };
    let empty = detect(
        &ctscreen::Volume::centered(ndarray::Array3::zeros((8, 8, 8)), [1.0; 3])
            .expect("air volume"),
        &DetectOptions::default(),
    )
    .expect("detect");
    for (name, report, scan) in [
        ("tube_with_scan.dcs", &report, Some(&scan)),
        ("tube.dcs", &report, None),
        ("empty.dcs", &empty, None),
    ] {
        save_tdr_with(dir.join(name), report, scan, &options).expect("write tdr");
        load_tdr(dir.join(name)).expect("seed loads");
    }
}

fn geometry_seeds(out: &Path) {
    let angles: Vec<f64> = (0..4).map(|i| i as f64 * 0.7).collect();
    let parallel: Geometry = ParallelBeamGeometry::new(angles.clone(), 3, 1.0, 2)
        .expect("parallel")
        .into();
    let fan: Geometry = FanBeamGeometry::new(angles.clone(), 100.0, 200.0, 3, 1.5)
        .expect("fan")
        .into();
    let mut cone = ConeBeamGeometry::new(angles, 100.0, 250.0, (2, 3), (1.0, 1.0), (0.5, -0.25))
        .expect("cone");
    cone.detector.row_offset_mm = 0.5;
    let cone: Geometry = cone.into();
    let vector: Geometry = VectorGeometry {
        beam: Beam::Cone,
        rows: 2,
        cols: 3,
        views: vec![ViewVectors {
            source: [1.0, -100.0, 5.0],
            detector_center: [0.0, 80.0, -2.0],
            u: [0.0, 0.1, 1.0],
            v: [1.0, 0.0, 0.0],
        }],
    }
    .into();
    let json = out.join("geometry_json");
    let xml = out.join("rtk_xml");
    for (name, g) in [
        ("parallel", &parallel),
        ("fan", &fan),
        ("cone", &cone),
        ("vector", &vector),
    ] {
        put(&json, &format!("{name}.json"), g.to_json().as_bytes());
        if let Ok(x) = g.to_rtk_xml() {
            put(&xml, &format!("{name}.xml"), x.as_bytes());
        }
    }
    put(
        &json,
        "cone_degrees.json",
        br#"{"type": "cone", "angles_deg": [0, 90, 180.5], "source_to_isocenter_mm": 500,
            "source_to_detector_mm": 1000,
            "detector": {"rows": 2, "cols": 3, "row_spacing_mm": 1, "col_spacing_mm": 1}}"#,
    );
    put(
        &xml,
        "tilted_v2.xml",
        br#"<?xml version="1.0"?>
<!DOCTYPE RTKGEOMETRY>
<RTKThreeDCircularGeometry version="2">
  <SourceToIsocenterDistance>500</SourceToIsocenterDistance>
  <SourceToDetectorDistance>1000</SourceToDetectorDistance>
  <Projection><GantryAngle>10</GantryAngle><OutOfPlaneAngle>5</OutOfPlaneAngle>
    <InPlaneAngle>-3</InPlaneAngle><SourceOffsetX>2</SourceOffsetX>
    <ProjectionOffsetY>-1.5</ProjectionOffsetY></Projection>
  <Projection><Angle>100</Angle><SourceToDetectorDistance>900</SourceToDetectorDistance></Projection>
</RTKThreeDCircularGeometry>"#,
    );
}

fn tempdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("ctscreen-make-corpus-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}
