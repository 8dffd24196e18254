"""DICOS CT and TDR against the DICOS reference toolkit (pydicos, the Stratovan SDK
binding) and pydicom as a second opinion."""

import warnings

import numpy as np
import pytest

import ctscreen as cs

pydicos = pytest.importorskip("pydicos")
pyDICOS = pytest.importorskip("pyDICOS")
pydicom = pytest.importorskip("pydicom")

CT_SOP = "1.2.840.10008.5.1.4.1.1.501.1"
TDR_SOP = "1.2.840.10008.5.1.4.1.1.501.3"
# mm^-1 at 70 keV, the ctscreen default: NIST XCOM water 0.2059 cm^2/g at 60 keV and
# 0.1837 at 80 keV, log-log interpolated (= 0.019369).
MU_WATER = float(
    np.exp(np.log(0.2059) + np.log(70 / 60) / np.log(80 / 60) * np.log(0.1837 / 0.2059)) / 10
)


def dcmread(path):
    with warnings.catch_warnings():
        # The reference toolkit writes UIDs with leading zeros; pydicom warns.
        warnings.simplefilter("ignore")
        return pydicom.dcmread(str(path))


def pydicos_ct(path, arr, transfer_syntax=None):
    """A CT written by the reference toolkit: MHU, spacing (dz, dy, dx) = (2, 0.75, 0.5),
    first voxel at (x, y, z) = (-10, -20, 30)."""
    ct = pydicos.CTLoader()
    ct.SetOOIType(pyDICOS.CT.OBJECT_OF_INSPECTION_TYPE.enumTypeBaggage)
    ct.SetPhotometricInterpretation(pyDICOS.CT.PHOTOMETRIC_INTERPRETATION.enumMonochrome2)
    ct.SetImageType(
        pyDICOS.CT.OOI_IMAGE_CHARACTERISTICS.enumHighEnergy, pyDICOS.CT.IMAGE_FLAVOR.enumVolume
    )
    ct.SetImageAcquisitionDateAndTime(pyDICOS.DcsDate(2024, 1, 2), pyDICOS.DcsTime(3, 4, 5, 0))
    ct.SetContentDateAndTime(pyDICOS.DcsDate(2024, 1, 2), pyDICOS.DcsTime(3, 4, 5, 0))
    ct.SetImageAcquisitionDuration(1.5)
    ct.set_data([arr])
    s = ct.GetSectionByIndex(0)
    s.SetPlaneOrientation(pyDICOS.Vector3Dfloat(1, 0, 0), pyDICOS.Vector3Dfloat(0, 1, 0))
    s.SetPositionInMM(-10.0, -20.0, 30.0)
    s.SetSpacingInMM(0.5, 0.75, 2.0)  # column, row, slice
    s.SetSliceThickness(2.0)
    if transfer_syntax is None:
        ct.write(str(path))  # the toolkit's default: JPEG Lossless
    else:
        assert ct.Write(pyDICOS.Filename(str(path)), pyDICOS.ErrorLog(), transfer_syntax)
    return ct


@pytest.fixture
def raw_volume():
    rng = np.random.default_rng(3)
    return rng.integers(0, 4000, size=(4, 5, 6), dtype=np.uint16)


@pytest.mark.parametrize(
    "ts",
    [
        None,
        pyDICOS.CT.TRANSFER_SYNTAX.enumLittleEndianExplicit,
        pyDICOS.CT.TRANSFER_SYNTAX.enumLittleEndianImplicit,
        pyDICOS.CT.TRANSFER_SYNTAX.enumLosslessRLE,
    ],
    ids=["jpeg-lossless", "explicit", "implicit", "rle"],
)
def test_ct_from_reference_toolkit_loads_identically(tmp_path, raw_volume, ts):
    path = tmp_path / "ref.dcs"
    pydicos_ct(path, raw_volume, ts)
    assert cs.is_dicos(path)
    vol, ref = cs.load_dicos_ct(path, units="rescaled")
    assert ref["rescale_type"] == "MHU"
    np.testing.assert_array_equal(vol.array, raw_volume.astype(np.float32))
    assert vol.spacing == (2.0, 0.75, 0.5)
    assert vol.origin == (30.0, -20.0, -10.0)
    np.testing.assert_array_equal(np.asarray(vol.direction), np.eye(3))
    d = dcmread(path)
    assert ref["sop_instance_uid"] == d.SOPInstanceUID
    assert ref["frame_of_reference_uid"] == d.FrameOfReferenceUID
    # mu = MHU * mu_water / 1000.
    mu = cs.load_dicos(path)
    np.testing.assert_allclose(mu.array, raw_volume * MU_WATER / 1000.0, rtol=1e-4)
    hu = cs.load_dicos(path, units="hu")
    np.testing.assert_allclose(hu.array, raw_volume - 1000.0, atol=1e-3)


def test_default_water_mu_is_70_kev(tmp_path):
    vol = cs.Volume(np.full((2, 2, 2), MU_WATER, np.float32), origin=(0, 0, 0))
    cs.save_dicos(tmp_path / "w.dcs", vol)
    hu = cs.load_dicos(tmp_path / "w.dcs", units="hu")
    assert np.all(np.abs(hu.array) < 0.1)  # water is 0 HU


@pytest.fixture
def our_volume():
    z, y, x = np.meshgrid(np.arange(5), np.arange(6), np.arange(7), indexing="ij")
    arr = (0.002 * z + 0.01 * np.sin(y) ** 2 + 0.0007 * x).astype(np.float32)
    arr[2, 3, 4] = 0.25  # a steel-like voxel
    return cs.Volume(arr, spacing=(1.25, 0.5, 0.75), origin=(-12.5, 3.25, 100.0))


@pytest.mark.parametrize("compression", [None, "rle", "jpeg-lossless", "jpeg2000"])
def test_ct_from_ctscreen_reads_in_reference_toolkit(tmp_path, our_volume, compression):
    path = tmp_path / "ours.dcs"
    scan = cs.save_dicos(path, our_volume, compression=compression)
    # pydicom: valid DICOM, right SOP class, same stored pixels.
    d = dcmread(path)
    assert d.SOPClassUID == CT_SOP and d.file_meta.MediaStorageSOPClassUID == CT_SOP
    assert d.SOPInstanceUID == scan["sop_instance_uid"]
    assert d.Modality == "CT" and d.PhotometricInterpretation == "MONOCHROME2"
    assert (d.BitsAllocated, d.BitsStored, d.PixelRepresentation) == (16, 16, 0)
    pvt = d.SharedFunctionalGroupsSequence[0].PixelValueTransformationSequence[0]
    slope, intercept = float(pvt.RescaleSlope), float(pvt.RescaleIntercept)
    assert pvt.RescaleType == "MHU"
    # The reference toolkit: reads the file, same stored voxels and geometry.
    ct = pydicos.CTLoader(str(path))
    (stored,) = ct.get_data()
    assert stored.shape == our_volume.shape
    if compression in (None, "rle"):
        np.testing.assert_array_equal(stored, d.pixel_array)
    sec = ct.GetSectionByIndex(0)
    sp, pos = sec.GetSpacingInMM(), sec.GetPositionInMM()
    assert (sp.z, sp.y, sp.x) == pytest.approx(our_volume.spacing)
    assert (pos.z, pos.y, pos.x) == pytest.approx(our_volume.origin)
    assert sec.GetRescaleType().Get() == "MHU"
    # The toolkit's stored values, rescaled, are what ctscreen loads back...
    mu_ref = (stored.astype(np.float64) * slope + intercept) * MU_WATER / 1000.0
    back = cs.load_dicos(path)
    np.testing.assert_allclose(back.array, mu_ref, rtol=1e-4, atol=1e-9)
    assert back.spacing == our_volume.spacing and back.origin == our_volume.origin
    # ...and within the stated quantisation of the original.
    lo, hi = our_volume.array.min(), our_volume.array.max()
    bound = (hi - lo) / 131070 * (1 + 1e-5) + 1e-7 * hi
    assert np.abs(back.array - our_volume.array).max() <= bound


# --- content dispatch in load / save / read_info ----------------------------------------


def test_save_dcs_reads_in_reference_toolkit_and_load_dispatches_on_content(tmp_path, our_volume):
    path = tmp_path / "x.dcs"
    cs.save(path, our_volume)
    # pydicos: the same voxels, through the file's own rescale.
    d = dcmread(path)
    assert d.SOPClassUID == CT_SOP
    pvt = d.SharedFunctionalGroupsSequence[0].PixelValueTransformationSequence[0]
    (stored,) = pydicos.CTLoader(str(path)).get_data()
    mhu = stored.astype(np.float64) * float(pvt.RescaleSlope) + float(pvt.RescaleIntercept)
    lo, hi = our_volume.array.min(), our_volume.array.max()
    bound = (hi - lo) / 131070 * (1 + 1e-5) + 1e-7 * hi
    np.testing.assert_allclose(mhu * MU_WATER / 1000.0, our_volume.array, rtol=0, atol=bound)
    # load() recognises DICOS by content, whatever the name.
    want = cs.load_dicos(path)
    np.testing.assert_allclose(want.array, mhu * MU_WATER / 1000.0, rtol=1e-6, atol=1e-9)
    for name in ("x.dcm", "x"):
        (tmp_path / name).write_bytes(path.read_bytes())
        got = cs.load(tmp_path / name)
        np.testing.assert_array_equal(got.array, want.array)
        assert (got.spacing, got.origin) == (our_volume.spacing, our_volume.origin)
    info = cs.read_info(tmp_path / "x")
    assert info["format"] == "DICOS CT" and info["data_type"] == "uint16"
    assert info["shape"] == our_volume.shape and not info["compressed"]
    cs.save(tmp_path / "rle.dcs", our_volume, compress=True)
    assert dcmread(tmp_path / "rle.dcs").file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.5"
    np.testing.assert_array_equal(cs.load(tmp_path / "rle.dcs").array, want.array)


def test_plain_dicom_named_dcs_goes_to_the_dicom_reader(tmp_path):
    src = pydicom.data.get_testdata_file("CT_small.dcm")
    ds = pydicom.dcmread(src)
    path = tmp_path / "ct_small.dcs"
    path.write_bytes(open(src, "rb").read())
    assert not cs.is_dicos(path)
    vol = cs.load(path)
    hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_array_equal(vol.array[0], hu.astype(np.float32))
    assert cs.read_info(path)["format"] == "DICOM"


# --- Threat Detection Reports -----------------------------------------------------------

# ctscreen kind -> DICOS threat category, as pydicos names them.
CATEGORY = {
    "firearm": "enumProhibitedItem",
    "firearm_part": "enumProhibitedItem",
    "ammunition": "enumProhibitedItem",
    "blade": "enumProhibitedItem",
    "metal_other": "enumAnomaly",
}


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    """A small generated parcel (pistol, cartridges, knife among clutter) saved as a
    DICOS CT, and the report of cs.detect on that CT."""
    d = tmp_path_factory.mktemp("scan")
    parcel = cs.phantom.parcel(seed=41, threats=["pistol", "cartridges", "knife"], max_extent_mm=300)
    ct = d / "scan.dcs"
    cs.save(ct, parcel.voxelize((64, 64, 64), 330.0 / 64))
    vol = cs.load(ct)
    report = cs.detect(vol)
    kinds = {f.kind for f in report.findings}
    # Both kinds of mapping are exercised: a threat and other metal.
    assert "metal_other" in kinds and kinds - {"metal_other"}
    return ct, vol, report


def test_report_as_tdr_reads_in_reference_toolkit(tmp_path, scanned):
    ct, vol, report = scanned
    path = tmp_path / "tdr.dcs"
    cs.save_tdr(path, report, scan=ct)
    assert cs.is_dicos(path)

    t = pydicos.TDRLoader(str(path))
    data = t.get_data()
    alarm = pyDICOS.TDR.ALARM_DECISION
    want_alarm = alarm.enumAlarm if report.verdict == "inspect" else alarm.enumClear
    assert data["AlarmDecision"] == want_alarm
    assert len(data["PTOs"]) == len(report.findings) == t.GetNumPTOs()
    by_id = {f.id: f for f in report.findings}
    assert sorted(by_id) == sorted(p["ID"] for p in data["PTOs"])
    oz, oy, ox = vol.origin
    dz, dy, dx = vol.spacing
    for pto in data["PTOs"]:
        f = by_id[pto["ID"]]
        a = pto["Assessment"]
        assert a["category"] == getattr(pyDICOS.THREAT_CATEGORY, CATEGORY[f.kind])
        assert a["probability"] == pytest.approx(f.score, rel=1e-6, abs=1e-7)
        assert a["description"].startswith(f.kind + ": ")
        z0, y0, x0, z1, y1, x1 = f.bbox_mm
        p0, p1 = pto["Polygon"]
        assert (p0["x"], p0["y"], p0["z"]) == pytest.approx((x0, y0, z0), rel=1e-6)
        assert (p1["x"], p1["y"], p1["z"]) == pytest.approx((x1, y1, z1), rel=1e-6)
        # The voxel ROI: the CT voxels whose centres lie in the box (whose edges it is).
        base, ext = pto["Base"], pto["Extent"]
        assert (base["z"], base["y"], base["x"]) == (
            round((z0 - oz) / dz + 0.5),
            round((y0 - oy) / dy + 0.5),
            round((x0 - ox) / dx + 0.5),
        )
        assert (ext["z"], ext["y"], ext["x"]) == (
            round((z1 - z0) / dz),
            round((y1 - y0) / dy),
            round((x1 - x0) / dx),
        )
    assert t.GetTotalProcessingTimeInMS() == pytest.approx(
        report.to_dict()["timings"]["total_s"] * 1000, rel=1e-6
    )

    # pydicom: the references to the CT.
    d, c = dcmread(path), dcmread(ct)
    assert d.SOPClassUID == TDR_SOP and d.Modality == "TDR"
    assert d.FrameOfReferenceUID == c.FrameOfReferenceUID
    assert d.StudyInstanceUID == c.StudyInstanceUID
    assert d.ReferencedSeriesSequence[0].SeriesInstanceUID == c.SeriesInstanceUID
    assert d.NumberOfTotalObjects == len(report.findings)
    assert d.NumberOfAlarmObjects == sum(f.kind != "metal_other" for f in report.findings)
    for item in d.ThreatSequence:
        ref = item.PTORepresentationSequence[0].ReferencedInstanceSequence[0]
        assert ref.ReferencedSOPInstanceUID == c.SOPInstanceUID
        assert ref.ReferencedSOPClassUID == CT_SOP


def test_tdr_round_trip_gives_the_report_back(tmp_path, scanned):
    ct, _, report = scanned
    for scan in (ct, None):
        path = tmp_path / "tdr.dcs"
        cs.save_tdr(path, report, scan=scan, uid_seed=3)
        back = cs.load_tdr(path)
        assert isinstance(back, cs.Report)
        assert back.to_json() == report.to_json()
        assert back.findings[0].evidence == report.findings[0].evidence
    # A TDR is not a volume, and the error says what to do.
    with pytest.raises(OSError, match="threat report.*load_tdr"):
        cs.load(path)
    with pytest.raises(OSError, match="load"):
        cs.load_tdr(ct)


def test_tdr_from_reference_toolkit_loads(tmp_path, raw_volume):
    ct = pydicos_ct(tmp_path / "ct.dcs", raw_volume)
    data = {
        "ContentDateAndTime": {"date": (2024, 1, 2), "time": (3, 4, 5, 0)},
        "AlarmDecision": pyDICOS.TDR.ALARM_DECISION.enumClear,
        "AlarmDecisionDateTime": {"date": (2024, 1, 2), "time": (3, 4, 6, 0)},
        "ProcessingTime": 42.0,
        "PTOs": [{
            "Base": {"x": 1, "y": 2, "z": 0}, "Extent": {"x": 3, "y": 2, "z": 2}, "ID": 5,
            "Polygon": [{"x": -9.5, "y": -18.5, "z": 30.0}, {"x": -8.5, "y": -17.75, "z": 32.0}],
            "Assessment": {"flag": pyDICOS.ASSESSMENT_FLAG.enumThreat,
                           "category": pyDICOS.THREAT_CATEGORY.enumExplosive,
                           "description": "sheet", "probability": 0.25},
            "PTOProcessingTime": {"ProcessingStartTime": {"date": (2024, 1, 2), "time": (3, 4, 5, 0)},
                                  "ProcessingEndTime": {"date": (2024, 1, 2), "time": (3, 4, 5, 9)},
                                  "fTotalTimeMS": 0.009},
        }],
    }
    tdr = ct.generate_tdr(data)
    tdr.SetBaggagePTODetails(5, 10.0, 1.5, 0)
    tdr.write(str(tmp_path / "tdr.dcs"))
    back = cs.load_tdr(tmp_path / "tdr.dcs")
    assert back.verdict == "clear"
    assert back.to_dict()["timings"]["total_s"] == pytest.approx(0.042)
    (f,) = back.findings
    # No ctscreen kind for an explosive: other metal, with the DICOS call as evidence.
    assert f.id == 5 and f.kind == "metal_other"
    assert "EXPLOSIVE" in f.evidence[0] and f.evidence[1] == "sheet"
    assert f.score == pytest.approx(0.25)
    assert f.bbox_mm == pytest.approx((30.0, -18.5, -9.5, 32.0, -17.75, -8.5))
    assert f.mass_g == 10.0 and f.volume_mm3 == pytest.approx(10.0 / 1.5 * 1000.0)


def test_errors_map_to_python_exceptions(tmp_path, our_volume):
    bad = tmp_path / "bad.dcs"
    bad.write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00")
    assert not cs.is_dicos(bad)
    with pytest.raises(OSError):
        cs.load_dicos(bad)
    with pytest.raises(ValueError):
        cs.load_dicos(bad, units="kelvin")
    with pytest.raises(OSError):
        cs.load_tdr(bad)
    report = cs.Report.from_json(
        '{"schema_version": 1, "findings": [], "verdict": "clear", "threshold": 2.0,'
        ' "thresholds": {"energy_kev": 70, "water_mu": 0.0194, "low_mu": 0.08, "high_mu": 0.16,'
        ' "low_hu": 3130, "high_hu": 7260}, "volume_shape": [1, 1, 1], "spacing_mm": [1, 1, 1],'
        ' "timings": {"candidates_s": 0, "features_s": 0, "classify_s": 0, "total_s": 0}}'
    )
    with pytest.raises(ValueError, match="threshold"):
        cs.save_tdr(tmp_path / "t.dcs", report)
    assert not (tmp_path / "t.dcs").exists()
    with pytest.raises(OSError):
        cs.save_tdr(tmp_path / "t.dcs", report, scan=bad)
    nan = our_volume.array.copy()
    nan[0, 0, 0] = np.nan
    with pytest.raises(ValueError):
        cs.save_dicos(tmp_path / "n.dcs", cs.Volume(nan))
    with pytest.raises(ValueError):
        cs.save(tmp_path / "n.dcs", cs.Volume(nan))


def test_seeded_uids_reproduce(tmp_path, our_volume):
    a = cs.save_dicos(tmp_path / "a.dcs", our_volume, uid_seed=5)
    b = cs.save_dicos(tmp_path / "b.dcs", our_volume, uid_seed=5)
    c = cs.save_dicos(tmp_path / "c.dcs", our_volume)
    assert a["sop_instance_uid"] == b["sop_instance_uid"] != c["sop_instance_uid"]
