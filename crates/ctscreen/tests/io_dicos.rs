//! DICOS CT and TDR: round trips, interoperability shapes and malformed input.
//!
//! Malformed files are made by parsing a valid file with the `dicos` crate, editing
//! its data elements and writing it back, so each test breaks exactly one thing.

use std::path::{Path, PathBuf};

use ctscreen::io_dicos::{self, tags, *};
use ctscreen::{volume, Error, Volume};
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

fn sample_report() -> TdrReport {
    TdrReport {
        alarm: true,
        processing_time_ms: 1_234.567_890_123,
        objects: vec![
            TdrThreat {
                id: 3,
                category: "firearm".into(),
                probability: 0.912_345_678_9,
                bbox_mm: [-12.5, 3.1, 100.123_456_789, -2.5, 5.7, 103.3],
                description: "pistol: slide–grip angle 105°\nsecond line".into(),
                evidence: vec![
                    "tube 112 mm long with 9 mm bore".into(),
                    "back\\slash, \"quotes\", μ = 0.05 mm⁻¹".into(),
                ],
                mass_g: Some(812.25),
                density_g_per_cm3: Some(7.85),
            },
            TdrThreat {
                id: 9,
                category: "ammunition".into(),
                probability: 0.5,
                bbox_mm: [0.0, 0.0, 0.0, 1.0, 1.0, 1.0],
                description: "cluster of 37 cylinders 10×30 mm".into(),
                evidence: vec![],
                mass_g: None,
                density_g_per_cm3: None,
            },
            TdrThreat {
                id: 10,
                category: "firearm_part".into(),
                probability: 0.0,
                bbox_mm: [1.0, 2.0, 3.0, 1.0, 2.0, 3.0],
                description: String::new(),
                evidence: vec!["".into()],
                mass_g: None,
                density_g_per_cm3: Some(2.7),
            },
            TdrThreat {
                id: 11,
                category: "blade".into(),
                probability: 1.0,
                bbox_mm: [-1e-3, -2e5, 7.0, 1e-3, 2e5, 7.5],
                description: "blade".into(),
                evidence: vec![],
                mass_g: None,
                density_g_per_cm3: None,
            },
            TdrThreat {
                id: 12,
                category: "metal_other".into(),
                probability: 0.125,
                bbox_mm: [4.0, 4.0, 4.0, 6.0, 6.0, 6.0],
                description: "bearing".into(),
                evidence: vec!["ring".into()],
                mass_g: None,
                density_g_per_cm3: None,
            },
        ],
        ..Default::default()
    }
}

#[test]
fn tdr_round_trip_is_lossless() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, scan) = saved(dir.path());
    let report = sample_report();
    let p = dir.path().join("tdr.dcs");
    save_tdr(&p, &report, &scan).unwrap();
    assert_eq!(dicos_kind(&p), Some(DicosKind::Tdr));
    let back = load_tdr(&p).unwrap();
    let mut want = report.clone();
    want.referenced_sop_instance_uid = scan.sop_instance_uid.clone();
    want.referenced_sop_class_uid = scan.sop_class_uid.clone();
    want.frame_of_reference_uid = scan.frame_of_reference_uid.clone();
    assert_eq!(back, want);
    // Saving the loaded report again (now with its UIDs filled in) is accepted and
    // gives the same struct.
    let q = dir.path().join("tdr2.dcs");
    save_tdr(&q, &back, &scan).unwrap();
    assert_eq!(load_tdr(&q).unwrap(), want);
    // No threats, clear.
    let clear = TdrReport {
        alarm: false,
        ..Default::default()
    };
    save_tdr(&q, &clear, &scan).unwrap();
    let b = load_tdr(&q).unwrap();
    assert!(!b.alarm && b.objects.is_empty());
    // A TDR is not a CT.
    assert!(is_format(&load_dicos(&q).unwrap_err()));
    assert!(is_format(&load_tdr(dir.path().join("ct.dcs")).unwrap_err()));
}

/// The standard elements as a DICOS toolkit reads them: the box as the two-corner
/// Bounding Polygon (x, y, z) in mm, the voxel ROI on the CT grid, categories, flags,
/// counts.
#[test]
fn tdr_standard_elements_carry_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, scan) = saved(dir.path());
    let report = sample_report();
    let p = dir.path().join("tdr.dcs");
    save_tdr(&p, &report, &scan).unwrap();
    let ds = parse(&p);
    let str_of = |d: &Dataset, t| d.get_string(t).unwrap().to_string();
    assert_eq!(str_of(&ds, tags::ALARM_DECISION), "ALARM");
    assert_eq!(ds.get_u16(tags::NUMBER_OF_TOTAL_OBJECTS), Some(5));
    assert_eq!(ds.get_u16(tags::NUMBER_OF_ALARM_OBJECTS), Some(4));
    assert_eq!(
        str_of(&ds, tags::FRAME_OF_REFERENCE_UID),
        scan.frame_of_reference_uid
    );
    let threats = match &ds.get(tags::THREAT_SEQUENCE).unwrap().value {
        Value::Sequence(s) => s.clone(),
        _ => panic!("no threat sequence"),
    };
    let seq = |d: &Dataset, t| match &d.get(t).unwrap().value {
        Value::Sequence(s) => s[0].clone(),
        _ => panic!("not a sequence"),
    };
    let want = [
        ("PI", "HIGH_THREAT"),
        ("PI", "THREAT"),
        ("PI", "THREAT"),
        ("PI", "THREAT"),
        ("ANOMALY", "UNKNOWN"),
    ];
    for ((t, obj), (cat, flag)) in threats.iter().zip(&report.objects).zip(want) {
        assert_eq!(t.get_u16(tags::POTENTIAL_THREAT_OBJECT_ID), Some(obj.id));
        let a = seq(t, tags::ATD_ASSESSMENT_SEQUENCE);
        assert_eq!(str_of(&a, tags::THREAT_CATEGORY), cat);
        assert_eq!(str_of(&a, tags::ATD_ASSESSMENT_FLAG), flag);
        assert!(str_of(&a, tags::THREAT_CATEGORY_DESCRIPTION)
            .starts_with(&format!("{}: ", obj.category)));
        let rep = seq(t, tags::PTO_REPRESENTATION_SEQUENCE);
        let poly = rep
            .get(tags::BOUNDING_POLYGON)
            .unwrap()
            .value
            .as_f32s()
            .unwrap()
            .to_vec();
        let b = obj.bbox_mm;
        let expect = [b[2], b[1], b[0], b[5], b[4], b[3]].map(|x| x as f32);
        assert_eq!(poly, expect);
        let r = seq(&rep, tags::REFERENCED_INSTANCE_SEQUENCE);
        assert_eq!(
            str_of(&r, tags::REFERENCED_SOP_INSTANCE_UID),
            scan.sop_instance_uid
        );
    }
    // Voxel ROI of threat 12: box 4..6 mm on each axis, origin (-12.5, 3.25, 100),
    // spacing (1.25, 0.5, 0.75): indices z 13.2..14.8 → 13..15, y 1.5..5.5 → 2..6,
    // x -128..-125.33 → -128..-125.
    let roi = seq(
        &seq(&threats[4], tags::PTO_REPRESENTATION_SEQUENCE),
        tags::THREAT_ROI_VOXEL_SEQUENCE,
    );
    let base = roi
        .get(tags::THREAT_ROI_BASE)
        .unwrap()
        .value
        .as_f32s()
        .unwrap()
        .to_vec();
    let ext = roi
        .get(tags::THREAT_ROI_EXTENTS)
        .unwrap()
        .value
        .as_f32s()
        .unwrap()
        .to_vec();
    assert_eq!(base, vec![-128.0, 2.0, 13.0]);
    assert_eq!(ext, vec![4.0, 5.0, 3.0]);
}

#[test]
fn tdr_standard_fields_win_over_private_copy_and_foreign_files_load() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, scan) = saved(dir.path());
    let p = dir.path().join("tdr.dcs");
    save_tdr(&p, &sample_report(), &scan).unwrap();
    let mut ds = parse(&p);
    let strip_private = |d: &mut Dataset| {
        d.remove(tags::PRIVATE_CREATOR);
        d.remove(tags::PRIVATE_JSON);
    };
    if let Some(e) = ds.get_mut(tags::THREAT_SEQUENCE) {
        if let Value::Sequence(items) = &mut e.value {
            // Another toolkit edits the probability of the first threat...
            if let Some(Element {
                value: Value::Sequence(a),
                ..
            }) = items[0].get_mut(tags::ATD_ASSESSMENT_SEQUENCE)
            {
                a[0].insert(Element::new(
                    tags::ATD_ASSESSMENT_PROBABILITY,
                    Vr::FL,
                    Value::F32(0.25),
                ));
            }
            // ...and the second threat comes without our private element.
            strip_private(&mut items[1]);
        }
    }
    let q = dir.path().join("edited.dcs");
    write(&q, &ds);
    let back = load_tdr(&q).unwrap();
    assert_eq!(back.objects[0].probability, 0.25);
    assert_eq!(back.objects[0].bbox_mm, sample_report().objects[0].bbox_mm);
    assert_eq!(back.objects[1].category, "ammunition");
    assert_eq!(
        back.objects[1].description,
        "cluster of 37 cylinders 10×30 mm"
    );

    // A voxel-only ROI needs the scan to place it.
    if let Some(e) = ds.get_mut(tags::THREAT_SEQUENCE) {
        if let Value::Sequence(items) = &mut e.value {
            strip_private(&mut items[4]);
            if let Some(Element {
                value: Value::Sequence(r),
                ..
            }) = items[4].get_mut(tags::PTO_REPRESENTATION_SEQUENCE)
            {
                r[0].remove(tags::BOUNDING_POLYGON);
            }
            if let Some(Element {
                value: Value::Sequence(a),
                ..
            }) = items[4].get_mut(tags::ATD_ASSESSMENT_SEQUENCE)
            {
                a[0].insert(Element::new(
                    tags::THREAT_CATEGORY,
                    Vr::CS,
                    Value::Str("CONTRABAND".into()),
                ));
            }
        }
    }
    write(&q, &ds);
    assert!(matches!(load_tdr(&q), Err(Error::Unsupported { .. })));
    let placed = load_tdr_with(&q, Some(&scan)).unwrap();
    let t = &placed.objects[4];
    assert_eq!(t.category, "contraband");
    // Voxel centres of indices z 13..15, y 2..6, x -128..-125.
    let want = [3.75, 4.25, 4.0, 6.25, 6.25, 6.25];
    for (a, b) in t.bbox_mm.iter().zip(want) {
        assert!((a - b).abs() < 1e-9, "{:?}", t.bbox_mm);
    }
}

#[test]
fn tdr_rejects_invalid_reports() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, scan) = saved(dir.path());
    let p = dir.path().join("tdr.dcs");
    type Edit = Box<dyn Fn(&mut TdrReport)>;
    let bad: Vec<Edit> = vec![
        Box::new(|r| r.objects[0].probability = 1.5),
        Box::new(|r| r.objects[0].probability = f64::NAN),
        Box::new(|r| r.objects[1].id = r.objects[0].id),
        Box::new(|r| r.objects[0].category = "pistol".into()),
        Box::new(|r| r.objects[0].bbox_mm[0] = 50.0),
        Box::new(|r| r.objects[0].bbox_mm[5] = f64::INFINITY),
        Box::new(|r| r.objects[0].mass_g = Some(-1.0)),
        Box::new(|r| r.processing_time_ms = -1.0),
        Box::new(|r| r.referenced_sop_instance_uid = "1.2.3".into()),
        Box::new(|r| r.frame_of_reference_uid = "1.2.3".into()),
    ];
    for (n, edit) in bad.iter().enumerate() {
        let mut r = sample_report();
        edit(&mut r);
        let e = save_tdr(&p, &r, &scan).unwrap_err();
        assert!(matches!(e, Error::InvalidParameter { .. }), "case {n}: {e}");
        assert!(!p.exists(), "case {n} wrote a file");
    }
}

#[test]
fn tdr_with_foreign_alarm_decision_is_unsupported() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, scan) = saved(dir.path());
    let p = dir.path().join("tdr.dcs");
    save_tdr(&p, &sample_report(), &scan).unwrap();
    let mut ds = parse(&p);
    ds.insert(Element::new(
        tags::ALARM_DECISION,
        Vr::CS,
        Value::Str("UNKNOWN".into()),
    ));
    write(&p, &ds);
    assert!(matches!(load_tdr(&p), Err(Error::Unsupported { .. })));
    let _ = io_dicos::KIND_MAPPING;
}
