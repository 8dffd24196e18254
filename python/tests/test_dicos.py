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


def report_dict():
    return {
        "alarm": True,
        "processing_time_ms": 321.125,
        "objects": [
            {
                "id": 1,
                "category": "firearm",
                "probability": 0.875,
                "bbox_mm": (-10.0, 4.0, 101.5, -7.5, 5.5, 103.0),
                "description": "pistol: slide–grip angle 105°",
                "evidence": ["L-shape", "tube 112 mm, 9 mm bore"],
                "mass_g": 812.5,
                "density_g_per_cm3": 7.75,
            },
            {
                "id": 2,
                "category": "ammunition",
                "probability": 0.5,
                "bbox_mm": (-12.5, 3.25, 100.0, -11.25, 3.75, 100.75),
                "description": "cluster of 37 cylinders",
                "evidence": [],
                "mass_g": None,
                "density_g_per_cm3": None,
            },
            {
                "id": 7,
                "category": "metal_other",
                "probability": 0.125,
                "bbox_mm": (-5.0, 5.0, 102.25, -5.0, 5.0, 102.25),
                "description": "bearing",
                "evidence": ["ring"],
                "mass_g": None,
                "density_g_per_cm3": None,
            },
        ],
    }


def test_tdr_from_ctscreen_reads_in_reference_toolkit(tmp_path, our_volume):
    scan = cs.save_dicos(tmp_path / "ct.dcs", our_volume)
    path = tmp_path / "tdr.dcs"
    rep = report_dict()
    cs.save_tdr_struct(path, rep, scan)
    d = dcmread(path)
    assert d.SOPClassUID == TDR_SOP and d.file_meta.MediaStorageSOPClassUID == TDR_SOP
    assert d.Modality == "TDR" and d.AlarmDecision == "ALARM"
    assert d.FrameOfReferenceUID == scan["frame_of_reference_uid"]
    assert d.StudyInstanceUID == scan["study_instance_uid"]
    assert len(d.ThreatSequence) == 3 and d.NumberOfTotalObjects == 3
    assert d.NumberOfAlarmObjects == 2
    for item in d.ThreatSequence:
        ref = item.PTORepresentationSequence[0].ReferencedInstanceSequence[0]
        assert ref.ReferencedSOPInstanceUID == scan["sop_instance_uid"]
        assert ref.ReferencedSOPClassUID == CT_SOP

    t = pydicos.TDRLoader(str(path))
    data = t.get_data()
    assert data["AlarmDecision"] == pyDICOS.TDR.ALARM_DECISION.enumAlarm
    assert len(data["PTOs"]) == len(rep["objects"]) == t.GetNumPTOs()
    cat = pyDICOS.THREAT_CATEGORY
    want_cat = {"firearm": cat.enumProhibitedItem, "ammunition": cat.enumProhibitedItem,
                "metal_other": cat.enumAnomaly}
    by_id = {o["id"]: o for o in rep["objects"]}
    for pto in data["PTOs"]:
        o = by_id[pto["ID"]]
        a = pto["Assessment"]
        assert a["category"] == want_cat[o["category"]]
        assert a["probability"] == pytest.approx(o["probability"], rel=1e-6)
        assert a["description"].startswith(o["category"] + ": " + o["description"])
        z0, y0, x0, z1, y1, x1 = o["bbox_mm"]
        (p0, p1) = pto["Polygon"]
        assert (p0["x"], p0["y"], p0["z"]) == pytest.approx((x0, y0, z0))
        assert (p1["x"], p1["y"], p1["z"]) == pytest.approx((x1, y1, z1))
        # Voxel ROI on the CT grid (base in (column, row, frame) voxels).
        k0 = round((z0 - our_volume.origin[0]) / our_volume.spacing[0])
        i0 = round((x0 - our_volume.origin[2]) / our_volume.spacing[2])
        assert (pto["Base"]["x"], pto["Base"]["z"]) == (i0, k0)
    assert t.GetTotalProcessingTimeInMS() == pytest.approx(rep["processing_time_ms"])


def test_tdr_dict_round_trip_is_exact(tmp_path, our_volume):
    scan = cs.save_dicos(tmp_path / "ct.dcs", our_volume)
    rep = report_dict()
    rep["objects"][0]["probability"] = 0.123456789  # not an f32: kept exact
    cs.save_tdr_struct(tmp_path / "tdr.dcs", rep, scan)
    back = cs.load_tdr_struct(tmp_path / "tdr.dcs")
    assert back["referenced_sop_instance_uid"] == scan["sop_instance_uid"]
    assert back["frame_of_reference_uid"] == scan["frame_of_reference_uid"]
    for k in ("alarm", "processing_time_ms"):
        assert back[k] == rep[k]
    for got, want in zip(back["objects"], rep["objects"]):
        assert got == {**want, "bbox_mm": tuple(want["bbox_mm"])}
    # The loaded dict saves again unchanged.
    cs.save_tdr_struct(tmp_path / "tdr2.dcs", back, scan)
    assert cs.load_tdr_struct(tmp_path / "tdr2.dcs") == back


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
    back = cs.load_tdr_struct(tmp_path / "tdr.dcs")
    assert back["alarm"] is False
    assert back["processing_time_ms"] == 42.0
    (o,) = back["objects"]
    assert o["id"] == 5 and o["category"] == "explosive" and o["description"] == "sheet"
    assert o["probability"] == pytest.approx(0.25)
    assert o["bbox_mm"] == pytest.approx((30.0, -18.5, -9.5, 32.0, -17.75, -8.5))
    assert o["mass_g"] == 10.0 and o["density_g_per_cm3"] == 1.5


def test_errors_map_to_python_exceptions(tmp_path, our_volume):
    bad = tmp_path / "bad.dcs"
    bad.write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00")
    assert not cs.is_dicos(bad)
    with pytest.raises(OSError):
        cs.load_dicos(bad)
    with pytest.raises(ValueError):
        cs.load_dicos(bad, units="kelvin")
    scan = cs.save_dicos(tmp_path / "ct.dcs", our_volume)
    rep = report_dict()
    rep["objects"][0]["probability"] = 2.0
    with pytest.raises(ValueError, match="probability"):
        cs.save_tdr_struct(tmp_path / "t.dcs", rep, scan)
    del rep["alarm"]
    with pytest.raises(KeyError):
        cs.save_tdr_struct(tmp_path / "t.dcs", rep, scan)
    with pytest.raises(OSError):
        cs.load_tdr_struct(tmp_path / "ct.dcs")
    nan = our_volume.array.copy()
    nan[0, 0, 0] = np.nan
    with pytest.raises(ValueError):
        cs.save_dicos(tmp_path / "n.dcs", cs.Volume(nan))


def test_seeded_uids_reproduce(tmp_path, our_volume):
    a = cs.save_dicos(tmp_path / "a.dcs", our_volume, uid_seed=5)
    b = cs.save_dicos(tmp_path / "b.dcs", our_volume, uid_seed=5)
    c = cs.save_dicos(tmp_path / "c.dcs", our_volume)
    assert a["sop_instance_uid"] == b["sop_instance_uid"] != c["sop_instance_uid"]
