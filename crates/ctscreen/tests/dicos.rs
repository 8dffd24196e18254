//! DICOS CT and TDR: round trips, content dispatch in `io::load`, report ↔ TDR,
//! interoperability shapes and malformed input.
//!
//! Malformed files are made by parsing a valid file with the `dicos` crate, editing
//! its data elements and writing it back, so each test breaks exactly one thing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ctscreen::detect::report::{
    ClassScores, Finding, Kind, Shield, Thresholds, Timings, Verdict, SCHEMA_VERSION,
};
use ctscreen::detect::{DetectOptions, Report};
use ctscreen::io::dicos::{tags, *};
use ctscreen::{io, volume, Error, Volume};
use dicos::{Dataset, Element, PixelData, Value, Vr};
use ndarray::Array3;

fn test_volume() -> Volume {
    // Air to steel-like μ with structure on every axis, spacing and origin with
    // non-trivial decimals.
    let data = Array3::from_shape_fn((5, 6, 7), |(k, j, i)| {
        let t = (k * 42 + j * 7 + i) as f32;
        -0.0005 + 0.1 * ((t * 0.37).sin() * 0.5 + 0.5).powi(3)
    });
    Volume::new(data, [1.25, 0.5, 0.75], [-12.5, 3.25, 100.0]).unwrap()
}

fn stated_bound(v: &Volume) -> f32 {
    let (lo, hi) = v.value_range().unwrap();
    let max_abs = lo.abs().max(hi.abs());
    ((hi - lo) as f64 / 131070.0 * (1.0 + 1e-5)) as f32 + 1e-7 * max_abs
}

fn max_abs_diff(a: &Array3<f32>, b: &Array3<f32>) -> f32 {
    assert_eq!(a.dim(), b.dim());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn parse(path: &Path) -> Dataset {
    dicos::parse(std::fs::File::open(path).unwrap()).unwrap()
}

fn write(path: &Path, ds: &Dataset) {
    let mut f = std::fs::File::create(path).unwrap();
    dicos::write(&mut f, ds).unwrap();
}

/// [`saved`] plus the TDR of [`sample_report`] referring to it: (TDR path, scan, report).
fn saved_tdr(dir: &Path) -> (PathBuf, ScanReference, Report) {
    let (_, _, scan) = saved(dir);
    let report = sample_report();
    let p = dir.join("tdr.dcs");
    save_tdr(&p, &report, Some(&scan)).unwrap();
    (p, scan, report)
}

fn saved(dir: &Path) -> (PathBuf, Volume, ScanReference) {
    let v = test_volume();
    let p = dir.join("ct.dcs");
    let scan = save_dicos(&p, &v).unwrap();
    (p, v, scan)
}

#[test]
fn ct_round_trip_within_stated_quantisation() {
    let dir = tempfile::tempdir().unwrap();
    let (p, v, scan) = saved(dir.path());
    assert!(is_dicos(&p));
    assert_eq!(dicos_kind(&p), Some(DicosKind::Ct));
    let ct = load_dicos_with(&p, &DicosLoadOptions::default()).unwrap();
    assert_eq!(ct.volume.spacing(), v.spacing());
    assert_eq!(ct.volume.origin(), v.origin());
    assert_eq!(ct.volume.direction(), v.direction());
    assert_eq!(ct.rescale_type, "MHU");
    assert_eq!(ct.units, OutputUnits::Mu);
    let err = max_abs_diff(ct.volume.data(), v.data());
    let bound = stated_bound(&v);
    assert!(err <= bound, "error {err} > stated bound {bound}");
    // The quantisation is real (16 bits over the range), not a float copy.
    assert!(err > bound / 100.0, "suspiciously exact: {err}");
    // The returned reference is what the file holds.
    assert_eq!(ct.scan, scan);
    assert!(scan.frame_of_reference_uid.starts_with("2.25."));
}

#[test]
fn ct_units_hu_and_rescaled_follow_mhu_definition() {
    let dir = tempfile::tempdir().unwrap();
    let (p, v, _) = saved(dir.path());
    let mw = volume::water_mu_per_mm(70.0).unwrap();
    let mu = load_dicos(&p).unwrap();
    let hu = load_dicos_with(
        &p,
        &DicosLoadOptions {
            units: OutputUnits::Hu,
            ..Default::default()
        },
    )
    .unwrap();
    let mhu = load_dicos_with(
        &p,
        &DicosLoadOptions {
            units: OutputUnits::Rescaled,
            ..Default::default()
        },
    )
    .unwrap();
    for ((&m, &h), &r) in mu
        .data()
        .iter()
        .zip(hu.volume.data())
        .zip(mhu.volume.data())
    {
        // MHU = HU + 1000 = 1000 μ / μw.
        assert!((h - (r - 1000.0)).abs() < 1e-3, "{h} {r}");
        assert!((volume::mu_to_hu(m, mw) - h).abs() < 2e-3, "{m} {h}");
    }
    // A different water μ scales μ proportionally.
    let other = load_dicos_with(
        &p,
        &DicosLoadOptions {
            water_mu_per_mm: 2.0 * mw,
            ..Default::default()
        },
    )
    .unwrap();
    let ratio = other.volume.data()[[4, 5, 6]] / mu.data()[[4, 5, 6]];
    assert!((ratio - 2.0).abs() < 1e-5, "{ratio}");
    assert!(max_abs_diff(mu.data(), v.data()) <= stated_bound(&v));
}

#[test]
fn every_compression_is_lossless_against_native() {
    let dir = tempfile::tempdir().unwrap();
    let (p, _, _) = saved(dir.path());
    let native = load_dicos(&p).unwrap();
    let v = test_volume();
    for c in [
        Compression::Rle,
        Compression::JpegLossless,
        Compression::JpegLs,
        Compression::Jpeg2000,
    ] {
        let q = dir.path().join(format!("{c:?}.dcs"));
        save_dicos_with(
            &q,
            &v,
            &DicosSaveOptions {
                compression: c,
                ..Default::default()
            },
        )
        .unwrap();
        let ct = load_dicos_with(&q, &DicosLoadOptions::default()).unwrap();
        assert_ne!(ct.transfer_syntax_uid, "1.2.840.10008.1.2.1", "{c:?}");
        assert_eq!(ct.volume.data(), native.data(), "{c:?}");
        assert_eq!(ct.volume.origin(), native.origin());
    }
}

#[test]
fn uids_reproducible_with_seed_and_fresh_without() {
    let dir = tempfile::tempdir().unwrap();
    let v = test_volume();
    let when = DateTimeUtc::from_unix(1_700_000_000, 0);
    let opts = DicosSaveOptions {
        uid_seed: Some(11),
        datetime: Some(when),
        ..Default::default()
    };
    let a = save_dicos_with(dir.path().join("a.dcs"), &v, &opts).unwrap();
    let b = save_dicos_with(dir.path().join("b.dcs"), &v, &opts).unwrap();
    assert_eq!(a, b);
    assert_eq!(
        std::fs::read(dir.path().join("a.dcs")).unwrap(),
        std::fs::read(dir.path().join("b.dcs")).unwrap()
    );
    let c = save_dicos(dir.path().join("c.dcs"), &v).unwrap();
    let d = save_dicos(dir.path().join("d.dcs"), &v).unwrap();
    assert_ne!(c.sop_instance_uid, d.sop_instance_uid);
    assert_ne!(c.study_instance_uid, a.study_instance_uid);
}

#[test]
fn oblique_direction_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let c = std::f64::consts::FRAC_1_SQRT_2;
    // Rotation by 45° about world z: array axis 1 (rows) and 2 (columns) rotate in y/x.
    let direction = [[1.0, 0.0, 0.0], [0.0, c, -c], [0.0, c, c]];
    let v = test_volume().with_direction(direction).unwrap();
    let p = dir.path().join("oblique.dcs");
    save_dicos(&p, &v).unwrap();
    let back = load_dicos(&p).unwrap();
    for r in 0..3 {
        for a in 0..3 {
            // Direction cosines travel as 16-character decimal strings.
            assert!((back.direction()[r][a] - direction[r][a]).abs() < 1e-10);
        }
    }
    assert_eq!(back.origin(), v.origin());
    let far = back.world_of_index([4.0, 5.0, 6.0]);
    let want = v.world_of_index([4.0, 5.0, 6.0]);
    for a in 0..3 {
        assert!((far[a] - want[a]).abs() < 1e-9, "{far:?} {want:?}");
    }
    assert!(max_abs_diff(back.data(), v.data()) <= stated_bound(&v));
}

/// Splits a multi-frame file into single-frame files with top-level geometry (the
/// classic layout), written in reverse order under shuffled names.
#[test]
fn directory_of_single_frame_slices_matches_multi_frame() {
    let dir = tempfile::tempdir().unwrap();
    let (p, _, _) = saved(dir.path());
    let multi = load_dicos(&p).unwrap();
    let slices = dir.path().join("slices");
    std::fs::create_dir(&slices).unwrap();
    let ds = parse(&p);
    let frames = ds.pixel_data().unwrap().native_frames().unwrap().to_vec();
    let per_frame = match &ds.get(tags::PER_FRAME_FUNCTIONAL_GROUPS).unwrap().value {
        Value::Sequence(s) => s.clone(),
        _ => unreachable!(),
    };
    for (k, frame) in frames.iter().enumerate() {
        let mut one = ds.clone();
        one.remove(tags::PER_FRAME_FUNCTIONAL_GROUPS);
        // Position at the top level rather than in functional groups.
        let pos = match &per_frame[k]
            .get(tags::PLANE_POSITION_SEQUENCE)
            .unwrap()
            .value
        {
            Value::Sequence(s) => s[0].get(tags::IMAGE_POSITION_PATIENT).unwrap().clone(),
            _ => unreachable!(),
        };
        one.insert(pos);
        one.insert(Element::new(
            tags::NUMBER_OF_FRAMES,
            Vr::IS,
            Value::Str("1".into()),
        ));
        let uid = format!("2.25.{}", 1000 + k);
        one.insert(Element::new(
            tags::SOP_INSTANCE_UID,
            Vr::UI,
            Value::Str(uid.clone()),
        ));
        one.insert(Element::new(
            tags::MEDIA_SOP_INSTANCE_UID,
            Vr::UI,
            Value::Str(uid),
        ));
        one.insert(Element::new(
            tags::PIXEL_DATA,
            Vr::OW,
            Value::PixelData(PixelData::native_single(frame.clone())),
        ));
        write(&slices.join(format!("z{}.dcs", frames.len() - k)), &one);
    }
    std::fs::write(slices.join("notes.txt"), "not dicos").unwrap();
    let stacked = load_dicos(&slices).unwrap();
    assert_eq!(stacked.data(), multi.data());
    assert_eq!(stacked.spacing(), multi.spacing());
    assert_eq!(stacked.origin(), multi.origin());
}

#[test]
fn implicit_vr_file_loads_like_explicit() {
    use dicom::transfer_syntax::entries::IMPLICIT_VR_LITTLE_ENDIAN;
    let dir = tempfile::tempdir().unwrap();
    let (p, _, _) = saved(dir.path());
    let mut obj = dicom::object::open_file(&p).unwrap();
    obj.update_meta(|m| m.set_transfer_syntax(&IMPLICIT_VR_LITTLE_ENDIAN));
    let q = dir.path().join("implicit.dcs");
    obj.write_to_file(&q).unwrap();
    let a = load_dicos(&p).unwrap();
    let ct = load_dicos_with(&q, &DicosLoadOptions::default()).unwrap();
    assert_eq!(ct.volume, a);
}

#[test]
fn loading_is_identical_on_one_and_two_threads() {
    let dir = tempfile::tempdir().unwrap();
    let v = test_volume();
    let p = dir.path().join("rle.dcs");
    save_dicos_with(
        &p,
        &v,
        &DicosSaveOptions {
            compression: Compression::Rle,
            ..Default::default()
        },
    )
    .unwrap();
    let run = |n| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap()
            .install(|| load_dicos(&p).unwrap())
    };
    assert_eq!(run(1), run(2));
}

fn edited(dir: &Path, name: &str, edit: impl FnOnce(&mut Dataset)) -> PathBuf {
    let (p, _, _) = saved(dir);
    let mut ds = parse(&p);
    edit(&mut ds);
    let q = dir.join(name);
    write(&q, &ds);
    q
}

fn is_format(e: &Error) -> bool {
    matches!(e, Error::Format { .. })
}

#[test]
fn malformed_ct_files_give_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Truncated in the pixel data and in the header.
    let (p, _, _) = saved(d);
    let bytes = std::fs::read(&p).unwrap();
    for cut in [bytes.len() - 7, bytes.len() / 2, 600, 140, 100] {
        let q = d.join(format!("cut{cut}.dcs"));
        std::fs::write(&q, &bytes[..cut]).unwrap();
        let e = load_dicos(&q).unwrap_err();
        assert!(is_format(&e), "cut at {cut}: {e}");
    }
    // Not DICOM at all.
    let q = d.join("noise.dcs");
    std::fs::write(&q, vec![7u8; 4096]).unwrap();
    assert!(!is_dicos(&q));
    assert!(is_format(&load_dicos(&q).unwrap_err()));
    assert!(matches!(
        load_dicos(d.join("missing.dcs")),
        Err(Error::Io { .. })
    ));

    // Wrong SOP class (plain DICOM CT Image Storage).
    let q = edited(d, "dicom_ct.dcs", |ds| {
        for t in [tags::SOP_CLASS_UID, tags::MEDIA_SOP_CLASS_UID] {
            ds.insert(Element::new(
                t,
                Vr::UI,
                Value::Str("1.2.840.10008.5.1.4.1.1.2".into()),
            ));
        }
    });
    assert!(!is_dicos(&q));
    let e = load_dicos(&q).unwrap_err();
    assert!(
        is_format(&e) && e.to_string().contains("not DICOS CT"),
        "{e}"
    );

    // Frame count disagreeing with the pixel data (and with the functional groups).
    let q = edited(d, "frames.dcs", |ds| {
        ds.insert(Element::new(
            tags::NUMBER_OF_FRAMES,
            Vr::IS,
            Value::Str("6".into()),
        ));
    });
    let e = load_dicos(&q).unwrap_err();
    assert!(is_format(&e) && e.to_string().contains("needs"), "{e}");

    // Absurd sizes: refused from the data length, before any allocation.
    let q = edited(d, "absurd.dcs", |ds| {
        ds.put_u16(tags::ROWS, Vr::US, 65535);
        ds.put_u16(tags::COLUMNS, Vr::US, 65535);
        ds.insert(Element::new(
            tags::NUMBER_OF_FRAMES,
            Vr::IS,
            Value::Str("2000000000".into()),
        ));
    });
    let e = load_dicos(&q).unwrap_err();
    assert!(is_format(&e), "{e}");
    let q = edited(d, "zero_rows.dcs", |ds| ds.put_u16(tags::ROWS, Vr::US, 0));
    assert!(is_format(&load_dicos(&q).unwrap_err()));
    let q = edited(d, "neg_frames.dcs", |ds| {
        ds.insert(Element::new(
            tags::NUMBER_OF_FRAMES,
            Vr::IS,
            Value::Str("-3".into()),
        ));
    });
    assert!(is_format(&load_dicos(&q).unwrap_err()));

    // Unsupported pixel formats.
    let q = edited(d, "rgb.dcs", |ds| {
        ds.put_u16(tags::SAMPLES_PER_PIXEL, Vr::US, 3)
    });
    assert!(matches!(load_dicos(&q), Err(Error::Unsupported { .. })));
    let q = edited(d, "bits12.dcs", |ds| {
        ds.put_u16(tags::BITS_ALLOCATED, Vr::US, 12)
    });
    assert!(matches!(load_dicos(&q), Err(Error::Unsupported { .. })));

    // A rescale type with no μ meaning loads only as rescaled values.
    let q = edited(d, "us.dcs", |ds| {
        ds.insert(Element::new(
            tags::RESCALE_TYPE,
            Vr::LO,
            Value::Str("US".into()),
        ));
        if let Some(e) = ds.get_mut(tags::SHARED_FUNCTIONAL_GROUPS) {
            if let Value::Sequence(items) = &mut e.value {
                items[0].remove(tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE);
            }
        }
    });
    assert!(matches!(load_dicos(&q), Err(Error::Unsupported { .. })));
    let raw = load_dicos_with(
        &q,
        &DicosLoadOptions {
            units: OutputUnits::Rescaled,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(raw.rescale_type, "US");

    // Missing geometry.
    let q = edited(d, "nopos.dcs", |ds| {
        ds.remove(tags::PER_FRAME_FUNCTIONAL_GROUPS);
    });
    let e = load_dicos(&q).unwrap_err();
    assert!(is_format(&e) && e.to_string().contains("Position"), "{e}");

    // An element whose declared length runs past the end of the file.
    let mut bad = bytes.clone();
    let at = bad
        .windows(4)
        .position(|w| w == [0x28, 0x00, 0x10, 0x00])
        .unwrap();
    // (0028,0010) US: replace its VR by OB (long form) with a huge length.
    bad[at + 4..at + 6].copy_from_slice(b"OB");
    bad.splice(at + 6..at + 10, [0, 0, 0xF0, 0xFF, 0xFF, 0xFF]);
    let q = d.join("huge_len.dcs");
    std::fs::write(&q, &bad).unwrap();
    assert!(is_format(&load_dicos(&q).unwrap_err()));
}

#[test]
fn non_uniform_spacing_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let q = edited(dir.path(), "uneven.dcs", |ds| {
        if let Some(e) = ds.get_mut(tags::PER_FRAME_FUNCTIONAL_GROUPS) {
            if let Value::Sequence(items) = &mut e.value {
                let pos = Element::new(
                    tags::IMAGE_POSITION_PATIENT,
                    Vr::DS,
                    Value::Strings(vec!["100".into(), "3.25".into(), "-9".into()]),
                );
                let mut plane = Dataset::new();
                plane.insert(pos);
                items[4].insert(Element::new(
                    tags::PLANE_POSITION_SEQUENCE,
                    Vr::SQ,
                    Value::Sequence(vec![plane]),
                ));
            }
        }
    });
    let e = load_dicos(&q).unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
}

#[test]
fn save_is_atomic_and_validates() {
    let dir = tempfile::tempdir().unwrap();
    let v = test_volume();
    // Into a missing directory: an I/O error, nothing left behind.
    let e = save_dicos(dir.path().join("no/such/dir/x.dcs"), &v).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e}");
    // Onto an existing directory: the rename fails, the temporary is removed.
    let target = dir.path().join("occupied");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("keep"), b"x").unwrap();
    assert!(save_dicos(&target, &v).is_err());
    // Overwriting a file replaces it whole.
    let p = dir.path().join("ct.dcs");
    std::fs::write(&p, b"old").unwrap();
    save_dicos(&p, &v).unwrap();
    assert!(is_dicos(&p));
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");

    let mut nan = test_volume();
    nan.data_mut()[[1, 1, 1]] = f32::NAN;
    assert!(matches!(save_dicos(&p, &nan), Err(Error::NonFinite { .. })));
    let wide = Volume::new(Array3::zeros((1, 1, 70000)), [1.0; 3], [0.0; 3]).unwrap();
    assert!(matches!(
        save_dicos(&p, &wide),
        Err(Error::InvalidParameter { .. })
    ));
    // A constant volume (zero range) is exact.
    let flat = Volume::new(Array3::from_elem((2, 2, 2), 0.0193f32), [1.0; 3], [0.0; 3]).unwrap();
    save_dicos(&p, &flat).unwrap();
    let back = load_dicos(&p).unwrap();
    assert!(back.data().iter().all(|&x| (x - 0.0193).abs() < 1e-7));
}

#[test]
fn io_load_recognises_dicos_ct_by_content() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (p, v, scan) = saved(d);
    let want = load_dicos(&p).unwrap();
    // Whatever the name: .dcm, none, even a misleading one.
    for name in ["scan.dcm", "scan", "scan.nii"] {
        let q = d.join(name);
        std::fs::copy(&p, &q).unwrap();
        assert_eq!(io::load(&q).unwrap(), want, "{name}");
    }
    let info = io::read_info(&p).unwrap();
    assert_eq!(info.format, io::FileFormat::Dicos);
    assert_eq!(info.data_type, io::DataType::UInt16);
    assert!(!info.compressed);
    assert_eq!(info.shape, v.shape());
    assert_eq!(info.spacing, v.spacing());
    assert_eq!(info.origin, v.origin());
    assert_eq!(info.direction, v.direction());
    assert_eq!(read_scan_reference(&p).unwrap(), scan);
    // A directory of DICOS CT files loads through the DICOS reader.
    let series = d.join("series");
    std::fs::create_dir(&series).unwrap();
    std::fs::copy(&p, series.join("a.dcs")).unwrap();
    assert_eq!(io::load(&series).unwrap(), want);

    // io::save of .dcs writes a DICOS CT; compress → RLE, same voxels.
    let x = d.join("x.dcs");
    io::save(&x, &v).unwrap();
    assert_eq!(dicos_kind(&x), Some(DicosKind::Ct));
    let back = io::load(&x).unwrap();
    assert!(max_abs_diff(back.data(), v.data()) <= stated_bound(&v));
    assert_eq!((back.spacing(), back.origin()), (v.spacing(), v.origin()));
    let y = d.join("y.DCS");
    io::save_with(&y, &v, &io::SaveOptions::new().compress(true)).unwrap();
    assert!(io::read_info(&y).unwrap().compressed);
    assert_eq!(io::load(&y).unwrap(), back);

    // A class under the CT arc loads as CT; another DICOS class does not.
    let set_class = |uid: &'static str| {
        move |ds: &mut Dataset| {
            for t in [tags::SOP_CLASS_UID, tags::MEDIA_SOP_CLASS_UID] {
                ds.insert(Element::new(t, Vr::UI, Value::Str(uid.into())));
            }
        }
    };
    let q = edited(d, "sub.dcs", set_class("1.2.840.10008.5.1.4.1.1.501.1.2"));
    assert_eq!(dicos_kind(&q), Some(DicosKind::Ct));
    assert_eq!(io::load(&q).unwrap().shape(), v.shape());
    let q = edited(d, "dx.dcs", set_class("1.2.840.10008.5.1.4.1.1.501.2.1"));
    let e = io::load(&q).unwrap_err();
    assert!(
        matches!(e, Error::Unsupported { .. }) && e.to_string().contains("501.2.1"),
        "{e}"
    );
    assert!(!is_ct_sop_class("1.2.840.10008.5.1.4.1.1.501.10"));
    assert!(!is_ct_sop_class("1.2.840.10008.5.1.4.1.1.501.1."));
}

#[test]
fn a_tdr_is_not_a_volume() {
    let dir = tempfile::tempdir().unwrap();
    let (p, _, scan) = saved(dir.path());
    let t = dir.path().join("report.dcm");
    save_tdr(&t, &sample_report(), Some(&scan)).unwrap();
    assert_eq!(dicos_kind(&t), Some(DicosKind::Tdr));
    let errors = [
        io::load(&t).unwrap_err(),
        io::read_info(&t).unwrap_err(),
        load_dicos(&t).unwrap_err(),
    ];
    for e in errors {
        let msg = e.to_string();
        assert!(matches!(e, Error::Unsupported { .. }), "{e:?}");
        assert!(
            msg.contains("threat report") && msg.contains("load_tdr"),
            "{msg}"
        );
    }
    // And a CT is not a TDR.
    let e = load_tdr(&p).unwrap_err();
    assert!(is_format(&e) && e.to_string().contains("io::load"), "{e}");
}

fn finding(id: u32, kind: Kind, score: f64, bbox_mm: [f64; 6]) -> Finding {
    let mut features = BTreeMap::new();
    features.insert("length_mm".to_string(), 112.25);
    features.insert("bore_mm".to_string(), 9.0 / 7.0);
    Finding {
        id,
        kind,
        score,
        threat_probability: None,
        class_scores: ClassScores {
            firearm: score * 0.5,
            firearm_part: 0.1 / 3.0,
            ammunition: 0.0,
            blade: 1e-9,
        },
        bbox_mm,
        voxel_count: 12_345 + u64::from(id),
        volume_mm3: 1234.5 / 7.0,
        mean_mu: 0.6 + 1e-9,
        material: "steel".into(),
        mass_g: 812.25 / 3.0,
        centroid_mm: [1.0 / 3.0, -2.5, 101.0],
        principal_axes: [[0.0, 0.6, 0.8], [0.0, 0.8, -0.6], [1.0, 0.0, 0.0]],
        extents_mm: [112.0, 30.5, 1.0 / 3.0],
        members: 2,
        evidence: vec![
            "tube 112 mm long with 9 mm bore".into(),
            "back\\slash, \"quotes\", μ = 0.05 mm⁻¹, slide–grip angle 105°".into(),
        ],
        features,
    }
}

/// Boxes on the grid of `test_volume` (origin (-12.5, 3.25, 100), spacing
/// (1.25, 0.5, 0.75), shape (5, 6, 7)).
fn sample_report() -> Report {
    // Voxel edges of k 1..=3, j 2..=4, i 0..=1.
    let aligned = [-11.875, 4.0, 99.625, -8.125, 5.5, 101.125];
    // A point at the centre of voxel (2, 3, 4).
    let point = [-10.0, 4.75, 103.0, -10.0, 4.75, 103.0];
    let outside = [50.0, 50.0, 50.0, 60.0, 60.0, 60.5];
    let everything = [-1e3, -2e5, -1e4, 1e3, 2e5, 1e4];
    let odd = [-1e-3, 3.1, 100.123_456_789, 1e-3, 5.7, 103.3];
    let mut f = vec![
        finding(3, Kind::Firearm, 0.912_345_678_9, aligned),
        finding(9, Kind::Ammunition, 0.5, point),
        finding(10, Kind::FirearmPart, 1.0, outside),
        finding(11, Kind::Blade, 0.75, everything),
        finding(12, Kind::MetalOther, 0.0, odd),
    ];
    f[1].evidence.clear();
    f[2].mass_g = 0.0;
    f[2].volume_mm3 = 0.0;
    f[4].material = String::new();
    Report {
        schema_version: SCHEMA_VERSION,
        findings: f,
        // Shields have no DICOS threat item: the private block alone carries them.
        shields: vec![Shield {
            bbox_mm: [-11.875, 4.0, 99.625, -8.125, 5.5, 101.125],
            volume_mm3: 12_345.678,
            least_line_integral: 8.0 + 1.0 / 3.0,
            findings: vec![3, 11],
            evidence: vec!["every ray across this 12 cm³ region … ∫μ dl ≥ 8.3".into()],
        }],
        verdict: Verdict::Inspect,
        threshold: 0.45,
        thresholds: Thresholds {
            energy_kev: 65.5,
            ..DetectOptions::default().thresholds().unwrap()
        },
        volume_shape: [5, 6, 7],
        spacing_mm: [1.25, 0.5, 0.75],
        timings: Timings {
            candidates_s: 0.123_456_789,
            features_s: 0.2,
            classify_s: 0.01,
            shields_s: 0.003,
            total_s: 1.234_567_890_123,
        },
    }
}

/// A TDR written by ctscreen gives back exactly the report that was saved, with or
/// without a scan, and refers to the scan's UIDs.
#[test]
fn tdr_round_trip_is_lossless() {
    let dir = tempfile::tempdir().unwrap();
    let (p, scan, report) = saved_tdr(dir.path());
    assert_eq!(dicos_kind(&p), Some(DicosKind::Tdr));
    assert_eq!(load_tdr(&p).unwrap(), report);
    let tdr = load_tdr_with(&p, None).unwrap();
    assert!(tdr.exact);
    assert_eq!(tdr.report, report);
    assert_eq!(tdr.scan_sop_instance_uid, scan.sop_instance_uid);
    assert_eq!(tdr.scan_sop_class_uid, CT_SOP_CLASS_UID);
    assert_eq!(tdr.scan_series_instance_uid, scan.series_instance_uid);
    assert_eq!(tdr.study_instance_uid, scan.study_instance_uid);
    assert_eq!(tdr.frame_of_reference_uid, scan.frame_of_reference_uid);
    let flags: Vec<_> = tdr.assessments.iter().map(|a| a.flag.as_str()).collect();
    assert_eq!(
        flags,
        ["HIGH_THREAT", "THREAT", "THREAT", "THREAT", "UNKNOWN"]
    );

    // Without a scan: same report, no references, a frame of reference of its own.
    let q = dir.path().join("tdr_alone.dcs");
    save_tdr(&q, &report, None).unwrap();
    let alone = load_tdr_with(&q, None).unwrap();
    assert!(alone.exact);
    assert_eq!(alone.report, report);
    assert!(alone.scan_sop_instance_uid.is_empty() && alone.scan_series_instance_uid.is_empty());
    assert!(alone.frame_of_reference_uid.starts_with("2.25."));
    assert_ne!(alone.frame_of_reference_uid, scan.frame_of_reference_uid);

    // No findings, clear.
    let clear = Report {
        findings: Vec::new(),
        verdict: Verdict::Clear,
        ..report.clone()
    };
    save_tdr(&q, &clear, Some(&scan)).unwrap();
    assert_eq!(load_tdr(&q).unwrap(), clear);

    // Seeded UIDs and date: the same bytes twice.
    let o = TdrSaveOptions {
        uid_seed: Some(3),
        datetime: Some(DateTimeUtc::from_unix(1_700_000_000, 0)),
    };
    let (a, b) = (dir.path().join("a.dcs"), dir.path().join("b.dcs"));
    save_tdr_with(&a, &report, Some(&scan), &o).unwrap();
    save_tdr_with(&b, &report, Some(&scan), &o).unwrap();
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

fn strip_private(d: &mut Dataset) {
    d.remove(tags::PRIVATE_CREATOR);
    d.remove(tags::PRIVATE_JSON);
}

fn threat_items(ds: &mut Dataset) -> &mut Vec<Dataset> {
    match &mut ds.get_mut(tags::THREAT_SEQUENCE).unwrap().value {
        Value::Sequence(items) => items,
        _ => panic!("no threat sequence"),
    }
}

fn first_mut(ds: &mut Dataset, tag: dicos::Tag) -> &mut Dataset {
    match &mut ds.get_mut(tag).unwrap().value {
        Value::Sequence(items) => &mut items[0],
        _ => panic!("not a sequence"),
    }
}

/// What the standard DICOS attributes alone carry (as another toolkit would leave the
/// file): verdict; per finding id, kind, score, box, mass, volume (via the density),
/// evidence; total time. Everything else takes the documented neutral values.
#[test]
fn tdr_standard_attributes_alone_carry_the_stated_fields() {
    let dir = tempfile::tempdir().unwrap();
    let (p, scan, report) = saved_tdr(dir.path());
    let mut ds = parse(&p);
    strip_private(&mut ds);
    threat_items(&mut ds).iter_mut().for_each(strip_private);
    let q = dir.path().join("standard.dcs");
    write(&q, &ds);
    let tdr = load_tdr_with(&q, Some(&scan)).unwrap();
    assert!(!tdr.exact);
    let back = tdr.report;
    let single = |v: f64| f64::from(v as f32);

    // Carried.
    assert_eq!(back.verdict, report.verdict);
    assert_eq!(back.findings.len(), report.findings.len());
    let ms = single(report.timings.total_s * 1000.0);
    assert_eq!(back.timings.total_s, ms / 1000.0);
    for (got, want) in back.findings.iter().zip(&report.findings) {
        assert_eq!(got.id, want.id);
        assert_eq!(got.kind, want.kind);
        assert_eq!(got.score, single(want.score));
        assert_eq!(got.bbox_mm, want.bbox_mm.map(single));
        assert_eq!(got.mass_g, single(want.mass_g));
        if want.volume_mm3 > 0.0 && want.mass_g > 0.0 {
            let rel = (got.volume_mm3 - want.volume_mm3).abs() / want.volume_mm3;
            assert!(rel < 1e-6, "{} vs {}", got.volume_mm3, want.volume_mm3);
        } else {
            assert_eq!(got.volume_mm3, 0.0);
        }
        assert_eq!(got.evidence, want.evidence);
        // Neutral values for what no DICOS attribute holds.
        let b = got.bbox_mm;
        assert_eq!(
            got.centroid_mm,
            [
                0.5 * (b[0] + b[3]),
                0.5 * (b[1] + b[4]),
                0.5 * (b[2] + b[5])
            ]
        );
        if got.kind.is_threat() {
            assert_eq!(got.class_scores.get(got.kind), got.score);
        }
        assert_eq!(
            got.class_scores.best().1,
            if got.kind.is_threat() { got.score } else { 0.0 }
        );
        assert_eq!((got.voxel_count, got.mean_mu, got.members), (0, 0.0, 1));
        assert_eq!(got.material, "unknown");
        assert!(got.features.is_empty());
        let mut sizes = [b[3] - b[0], b[4] - b[1], b[5] - b[2]];
        sizes.sort_by(|x, y| y.total_cmp(x));
        assert_eq!(got.extents_mm, sizes);
    }
    let defaults = DetectOptions::default();
    assert_eq!(back.threshold, defaults.threshold);
    assert_eq!(back.thresholds, defaults.thresholds().unwrap());
    assert_eq!(back.volume_shape, scan.shape);
    assert_eq!(back.spacing_mm, scan.spacing_mm);
    assert_eq!(back.timings.candidates_s, 0.0);
}

/// The standard elements as a DICOS toolkit reads them: the box as the two-corner
/// Bounding Polygon (x, y, z) in mm, the voxel ROI on the CT grid, categories, flags,
/// counts, references.
#[test]
fn tdr_standard_elements_as_a_toolkit_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let (p, scan, report) = saved_tdr(dir.path());
    let mut ds = parse(&p);
    let str_of = |d: &Dataset, t| d.get_string(t).unwrap().to_string();
    assert_eq!(str_of(&ds, tags::ALARM_DECISION), "ALARM");
    assert_eq!(ds.get_u16(tags::NUMBER_OF_TOTAL_OBJECTS), Some(5));
    assert_eq!(ds.get_u16(tags::NUMBER_OF_ALARM_OBJECTS), Some(4));
    assert_eq!(
        str_of(&ds, tags::FRAME_OF_REFERENCE_UID),
        scan.frame_of_reference_uid
    );
    assert_eq!(
        str_of(&ds, tags::STUDY_INSTANCE_UID),
        scan.study_instance_uid
    );
    let series = first_mut(&mut ds, tags::REFERENCED_SERIES_SEQUENCE).clone();
    assert_eq!(
        str_of(&series, tags::SERIES_INSTANCE_UID),
        scan.series_instance_uid
    );
    let f32s = |d: &Dataset, t| match &d.get(t).unwrap().value {
        Value::F32(x) => vec![*x],
        Value::F32s(v) => v.clone(),
        v => panic!("not FL: {v:?}"),
    };
    let threats = threat_items(&mut ds).clone();
    for (t, f) in threats.iter().zip(&report.findings) {
        let mut t = t.clone();
        assert_eq!(
            t.get_u16(tags::POTENTIAL_THREAT_OBJECT_ID),
            Some(f.id as u16)
        );
        let a = first_mut(&mut t, tags::ATD_ASSESSMENT_SEQUENCE).clone();
        let (_, cat, flag) = KIND_MAPPING.iter().find(|m| m.0 == f.kind).unwrap();
        assert_eq!(str_of(&a, tags::THREAT_CATEGORY), *cat);
        assert_eq!(str_of(&a, tags::ATD_ASSESSMENT_FLAG), *flag);
        assert_eq!(f32s(&a, tags::ATD_ASSESSMENT_PROBABILITY), [f.score as f32]);
        assert!(str_of(&a, tags::THREAT_CATEGORY_DESCRIPTION).starts_with(&format!("{}: ", f.kind)));
        let rep = first_mut(&mut t, tags::PTO_REPRESENTATION_SEQUENCE).clone();
        let b = f.bbox_mm;
        let expect = [b[2], b[1], b[0], b[5], b[4], b[3]].map(|x| x as f32);
        assert_eq!(f32s(&rep, tags::BOUNDING_POLYGON), expect);
        assert_eq!(f32s(&rep, tags::MASS), [f.mass_g as f32]);
        let density = if f.volume_mm3 > 0.0 {
            f.mass_g * 1000.0 / f.volume_mm3
        } else {
            0.0
        };
        assert_eq!(f32s(&rep, tags::DENSITY), [density as f32]);
        let mut rep = rep;
        let r = first_mut(&mut rep, tags::REFERENCED_INSTANCE_SEQUENCE).clone();
        assert_eq!(
            str_of(&r, tags::REFERENCED_SOP_INSTANCE_UID),
            scan.sop_instance_uid
        );
        // Voxel ROI: (column, row, frame) base and extents of the voxels whose
        // centres lie in the box; off the grid, zero extents at the grid voxel nearest
        // the box centre.
        let (base, ext) = match f.id {
            3 => ([0.0, 2.0, 1.0], [2.0, 3.0, 3.0]),
            9 => ([4.0, 3.0, 2.0], [1.0, 1.0, 1.0]),
            11 => ([0.0, 0.0, 0.0], [7.0, 6.0, 5.0]),
            10 => ([0.0, 5.0, 4.0], [0.0; 3]),
            12 => ([2.0, 2.0, 4.0], [0.0; 3]),
            id => panic!("unexpected id {id}"),
        };
        let v = first_mut(&mut rep, tags::THREAT_ROI_VOXEL_SEQUENCE).clone();
        assert_eq!(f32s(&v, tags::THREAT_ROI_BASE), base, "id {}", f.id);
        assert_eq!(f32s(&v, tags::THREAT_ROI_EXTENTS), ext, "id {}", f.id);
        let ms = (report.timings.total_s * 1000.0) as f32;
        assert_eq!(f32s(&t, tags::PTO_PROCESSING_TIME), [ms]);
    }
    assert_eq!(
        f32s(&ds, tags::TOTAL_PROCESSING_TIME),
        [(report.timings.total_s * 1000.0) as f32]
    );
}

#[test]
fn tdr_edited_by_another_tool_falls_back_to_standard_values() {
    let dir = tempfile::tempdir().unwrap();
    let (p, scan, report) = saved_tdr(dir.path());
    let mut ds = parse(&p);
    // Another toolkit edits the probability of the first threat: its private copy no
    // longer agrees, the standard values win; the other threats stay exact.
    let a = first_mut(&mut threat_items(&mut ds)[0], tags::ATD_ASSESSMENT_SEQUENCE);
    a.insert(Element::new(
        tags::ATD_ASSESSMENT_PROBABILITY,
        Vr::FL,
        Value::F32(0.25),
    ));
    let q = dir.path().join("edited.dcs");
    write(&q, &ds);
    let tdr = load_tdr_with(&q, None).unwrap();
    assert!(!tdr.exact);
    let back = tdr.report;
    let f0 = &back.findings[0];
    assert_eq!((f0.kind, f0.score), (Kind::Firearm, 0.25));
    assert_eq!(f0.evidence, report.findings[0].evidence);
    assert_eq!(f0.material, "unknown");
    assert_eq!(back.findings[1..], report.findings[1..]);
    assert_eq!(back.timings, report.timings);

    // A foreign category on a voxel-only ROI: needs the scan to place it, then loads as
    // metal_other with the DICOS assessment as evidence and the ROI's voxel edges as box.
    let t0 = &mut threat_items(&mut ds)[0];
    strip_private(t0);
    first_mut(t0, tags::PTO_REPRESENTATION_SEQUENCE).remove(tags::BOUNDING_POLYGON);
    let a = first_mut(t0, tags::ATD_ASSESSMENT_SEQUENCE);
    a.insert(Element::new(
        tags::THREAT_CATEGORY,
        Vr::CS,
        Value::Str("CONTRABAND".into()),
    ));
    a.insert(Element::new(
        tags::THREAT_CATEGORY_DESCRIPTION,
        Vr::LT,
        Value::Str("cigarettes".into()),
    ));
    write(&q, &ds);
    assert!(matches!(load_tdr(&q), Err(Error::Unsupported { .. })));
    let placed = load_tdr_with(&q, Some(&scan)).unwrap();
    let t = &placed.report.findings[0];
    assert_eq!(t.kind, Kind::MetalOther);
    assert!(t.evidence[0].contains("CONTRABAND") && t.evidence[0].contains("HIGH_THREAT"));
    assert_eq!(t.evidence[1], "cigarettes");
    assert_eq!(placed.assessments[0].category, "CONTRABAND");
    for (a, b) in t.bbox_mm.iter().zip(report.findings[0].bbox_mm) {
        assert!((a - b).abs() < 1e-9, "{:?}", t.bbox_mm);
    }
}

#[test]
fn tdr_rejects_reports_it_cannot_store() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, scan) = saved(dir.path());
    let p = dir.path().join("tdr.dcs");
    type Edit = Box<dyn Fn(&mut Report)>;
    let bad: Vec<Edit> = vec![
        Box::new(|r| r.findings[0].score = 1.5),
        Box::new(|r| r.findings[0].score = f64::NAN),
        Box::new(|r| r.findings[1].id = r.findings[0].id),
        Box::new(|r| r.findings[0].id = 70_000),
        Box::new(|r| r.findings[0].bbox_mm[0] = 50.0),
        Box::new(|r| r.findings[0].bbox_mm[5] = f64::INFINITY),
        Box::new(|r| r.findings[0].mass_g = -1.0),
        Box::new(|r| r.findings[0].volume_mm3 = f64::NAN),
        Box::new(|r| r.findings[0].centroid_mm[1] = f64::NAN),
        Box::new(|r| {
            r.findings[0].features.insert("x".into(), f64::INFINITY);
        }),
        Box::new(|r| r.timings.total_s = -1.0),
        Box::new(|r| r.threshold = 2.0),
    ];
    for (n, edit) in bad.iter().enumerate() {
        let mut r = sample_report();
        edit(&mut r);
        let e = save_tdr(&p, &r, Some(&scan)).unwrap_err();
        assert!(matches!(e, Error::InvalidParameter { .. }), "case {n}: {e}");
        assert!(!p.exists(), "case {n} wrote a file");
    }
}

/// Found by fuzzing (`fuzz/`, target `dicos_tdr`): a TDR holding a report that
/// [`save_tdr`] refuses loaded, and saving it back then failed. Two cases: two threat
/// objects with one id, and a threshold of 3.5 in ctscreen's private block. What loads
/// must save again, so both are now refused on load, naming the value.
#[test]
fn tdr_holding_a_report_it_cannot_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (p, _, _) = saved_tdr(dir.path());
    let mut ds = parse(&p);
    let first_id = threat_items(&mut ds)[0]
        .get(tags::POTENTIAL_THREAT_OBJECT_ID)
        .unwrap()
        .clone();
    threat_items(&mut ds)[1].insert(first_id);
    let twice = dir.path().join("twice.dcs");
    write(&twice, &ds);
    let e = load_tdr(&twice).unwrap_err();
    assert!(is_format(&e) && e.to_string().contains("finding id"), "{e}");

    let mut bytes = std::fs::read(&p).unwrap();
    let key = b"\"threshold\":0.45";
    let at: Vec<usize> = (0..bytes.len() - key.len())
        .filter(|&i| &bytes[i..i + key.len()] == key)
        .collect();
    assert_eq!(at.len(), 1, "the threshold in the private block");
    bytes[at[0] + key.len() - 4] = b'3';
    let high = dir.path().join("high.dcs");
    std::fs::write(&high, &bytes).unwrap();
    let e = load_tdr(&high).unwrap_err();
    assert!(is_format(&e) && e.to_string().contains("3.45"), "{e}");
}

#[test]
fn tdr_with_foreign_alarm_decision_is_unsupported() {
    let dir = tempfile::tempdir().unwrap();
    let (p, _, _) = saved_tdr(dir.path());
    let mut ds = parse(&p);
    ds.insert(Element::new(
        tags::ALARM_DECISION,
        Vr::CS,
        Value::Str("UNKNOWN".into()),
    ));
    write(&p, &ds);
    assert!(matches!(load_tdr(&p), Err(Error::Unsupported { .. })));
}

#[test]
fn malformed_tdr_files_give_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (p, _, _) = saved_tdr(dir.path());
    let bytes = std::fs::read(&p).unwrap();
    for cut in [bytes.len() - 3, bytes.len() / 2, 300, 131] {
        let q = dir.path().join(format!("cut{cut}.dcs"));
        std::fs::write(&q, &bytes[..cut]).unwrap();
        let e = load_tdr(&q).unwrap_err();
        assert!(is_format(&e), "cut at {cut}: {e}");
    }
    let mut ds = parse(&p);
    threat_items(&mut ds)[2].remove(tags::ATD_ASSESSMENT_SEQUENCE);
    write(&p, &ds);
    let e = load_tdr(&p).unwrap_err();
    assert!(is_format(&e) && e.to_string().contains("Assessment"), "{e}");
}

/// Random byte changes and truncations (fixed seed) of a DICOS CT (native and RLE) and
/// of a TDR: every mutation loads, or fails with a typed error; never a panic, and
/// never an allocation sized by a corrupt header (the memory limit of the test process
/// would abort it).
#[test]
fn random_mutations_never_panic() {
    use rand::{Rng, SeedableRng};
    let dir = tempfile::tempdir().unwrap();
    let (ct, v, scan) = saved(dir.path());
    let rle = dir.path().join("rle.dcs");
    let o = DicosSaveOptions {
        compression: Compression::Rle,
        ..Default::default()
    };
    save_dicos_with(&rle, &v, &o).unwrap();
    let tdr = dir.path().join("tdr.dcs");
    save_tdr(&tdr, &sample_report(), Some(&scan)).unwrap();
    let mut rng = rand_pcg::Pcg64::seed_from_u64(21);
    let mut errors = 0;
    let mut loaded = 0;
    for (name, src) in [("ct.m", &ct), ("rle.m", &rle), ("tdr.m", &tdr)] {
        let bytes = std::fs::read(src).unwrap();
        for round in 0..200 {
            let mut m = bytes.clone();
            if round % 4 == 0 {
                m.truncate(rng.random_range(0..m.len()));
            } else {
                for _ in 0..rng.random_range(1..=4) {
                    let i = rng.random_range(0..m.len());
                    m[i] = match rng.random_range(0..3) {
                        0 => rng.random(),
                        1 => m[i] ^ (1 << rng.random_range(0..8)),
                        _ => [0x00, 0xff, 0x7f, 0x80][rng.random_range(0..4)],
                    };
                }
            }
            let p = dir.path().join(name);
            std::fs::write(&p, &m).unwrap();
            let results = [
                io::load(&p).map(|_| ()),
                io::read_info(&p).map(|_| ()),
                load_tdr(&p).map(|_| ()),
            ];
            // The reader that fits the original file: io::load for a CT, load_tdr for
            // a TDR (the others refuse it whole).
            let fit = if name == "tdr.m" { 2 } else { 0 };
            for (n, r) in results.into_iter().enumerate() {
                match r {
                    Ok(()) if n == fit => loaded += 1,
                    Ok(()) => {}
                    Err(
                        Error::Format { .. }
                        | Error::Unsupported { .. }
                        | Error::Io { .. }
                        | Error::TooLarge { .. },
                    ) => errors += usize::from(n == fit),
                    Err(e) => panic!("{name} round {round}: untyped error {e:?}"),
                }
            }
        }
    }
    // Observed with this seed: 355 caught, 245 loaded.
    assert!(errors > 150, "mutations should often be caught: {errors}");
    assert!(
        loaded > 100,
        "mutations in pixels or text still load: {loaded}"
    );
}
