"""ctscreen.load / save / load_dicom against nibabel, SimpleITK and pydicom.

Axis conventions: ctscreen arrays are (z, y, x); nibabel's are (x, y, z) (so the
reference is ``get_fdata().transpose(2, 1, 0)``) and SimpleITK's GetArrayFromImage is
already (z, y, x) while its spacing/origin/direction are (x, y, z).
"""

import os
import pathlib
import random
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import ctscreen as cs

nib = pytest.importorskip("nibabel")
sitk = pytest.importorskip("SimpleITK")
pydicom = pytest.importorskip("pydicom")

F32_RTOL = 1e-6


def rev(a):
    return tuple(reversed(tuple(a)))


def affine_to_nibabel(aff_zyx):
    """Our 4x4 affine ((k, j, i) -> (z, y, x)) in nibabel's ((i, j, k) -> (x, y, z))."""
    p = np.eye(4)[[2, 1, 0, 3]]
    return p @ np.asarray(aff_zyx) @ p


def sitk_direction_to_ours(d):
    """SimpleITK's row-major (x, y, z) direction to our (z, y, x) matrix."""
    m = np.asarray(d, dtype=float).reshape(3, 3)
    return m[::-1, ::-1]


def assert_values(ours, ref):
    ref = np.asarray(ref, dtype=np.float64)
    scale = max(1.0, float(np.abs(ref).max())) if ref.size else 1.0
    np.testing.assert_allclose(ours, ref, rtol=F32_RTOL, atol=F32_RTOL * scale)


# ----------------------------------------------------------------------------- NIfTI


def nibabel_data_dir():
    return pathlib.Path(nib.__file__).parent / "tests" / "data"


def test_nibabel_bundled_files_match_get_fdata():
    files = sorted(
        p for p in nibabel_data_dir().iterdir() if p.name.endswith((".nii", ".nii.gz"))
    )
    assert files, "nibabel's test data is missing"
    compared, four_d, unloadable = [], [], []
    for path in files:
        try:
            img = nib.load(path)
            hdr = getattr(img, "nifti_header", img.header)
            shape = tuple(int(n) for n in hdr.get_data_shape())
        except Exception:  # nibabel itself cannot read it
            unloadable.append(path.name)
            continue
        if len(shape) > 3 and int(np.prod(shape[3:])) > 1:
            # Truly 4D+: ctscreen refuses it and says which shape.
            with pytest.raises(OSError, match="only 3D"):
                cs.load(path)
            four_d.append(path.name)
            continue
        vol = cs.load(path)
        ref = np.asarray(img.get_fdata()).reshape(shape[:3] + (1,) * (3 - len(shape[:3])))
        assert vol.array.dtype == np.float32
        assert_values(vol.array, ref.transpose(2, 1, 0))
        zooms = hdr.get_zooms()[:3]
        np.testing.assert_allclose(vol.spacing, rev(zooms), rtol=F32_RTOL)
        np.testing.assert_allclose(
            affine_to_nibabel(vol.affine), img.affine, rtol=1e-6, atol=1e-5
        )
        info = cs.read_info(path)
        assert info["data_type"] == np.dtype(hdr.get_data_dtype()).name
        assert info["shape"] == vol.shape
        compared.append(path.name)
    print(
        f"\nnibabel files compared: {len(compared)} {compared}; "
        f"4D+ refused: {four_d}; not loadable by nibabel: {unloadable}"
    )
    assert len(compared) >= 4
    assert len(four_d) >= 3  # example4d, example_nifti2, functional


DTYPES = [
    np.uint8,
    np.int8,
    np.int16,
    np.uint16,
    np.int32,
    np.uint32,
    np.int64,
    np.uint64,
    np.float32,
    np.float64,
]


def _rotated_affine():
    c, s = np.cos(0.3), np.sin(0.3)
    aff = np.diag([0.8, 1.25, 2.5, 1.0])
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    aff[:3, :3] = rot @ aff[:3, :3]
    aff[:3, 3] = [-12.5, 30.0, 7.25]
    return aff


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("endian", ["<", ">"])
def test_nibabel_written_datatypes_with_scaling(tmp_path, version, endian):
    """Every real datatype, both byte orders, NIfTI-1 and -2, raw and with the scaling
    nibabel computes when it stores floats as integers; compared with get_fdata()."""
    rng = np.random.default_rng(5)
    cls = nib.Nifti1Image if version == 1 else nib.Nifti2Image
    hcls = nib.Nifti1Header if version == 1 else nib.Nifti2Header
    n = 0
    for dt in DTYPES:
        info = np.iinfo(dt) if np.issubdtype(dt, np.integer) else None
        lo, hi = (max(info.min, -1000), min(info.max, 1000)) if info else (-1e3, 1e3)
        raw = rng.uniform(lo, hi, size=(5, 4, 3)).astype(dt)
        for scaled in (False, True):
            hdr = hcls(endianness=endian)
            if scaled and info is not None:
                # Floats stored as integers: nibabel picks slope and intercept.
                data = rng.uniform(-3.7, 11.3, size=(5, 4, 3))
                img = cls(data, _rotated_affine(), header=hdr)
                img.set_data_dtype(dt)
            elif scaled:
                continue
            else:
                img = cls(raw, _rotated_affine(), header=hdr)
                img.set_data_dtype(dt)
            p = tmp_path / f"v{version}{'b' if endian == '>' else 'l'}_{np.dtype(dt).name}_{scaled}.nii.gz"
            nib.save(img, p)
            back = nib.load(p)
            ref = back.get_fdata()
            vol = cs.load(str(p))
            assert_values(vol.array, ref.transpose(2, 1, 0))
            np.testing.assert_allclose(vol.spacing, rev(back.header.get_zooms()[:3]), rtol=1e-6)
            np.testing.assert_allclose(affine_to_nibabel(vol.affine), back.affine, rtol=1e-6, atol=1e-5)
            info_d = cs.read_info(p)
            assert info_d["format"] == f"NIfTI-{version}"
            assert info_d["data_type"] == np.dtype(dt).name
            if scaled:
                # nibabel moves the on-disk scaling to the array proxy when loading.
                assert back.dataobj.slope != 1.0 and back.dataobj.inter != 0.0
            n += 1
    assert n == 18


def test_nibabel_4d_with_last_dim_one_and_2d(tmp_path):
    data = np.arange(4 * 3 * 2, dtype=np.int16).reshape(4, 3, 2, 1)
    p = tmp_path / "d4.nii"
    nib.save(nib.Nifti1Image(data, np.diag([2.0, 3.0, 4.0, 1.0])), p)
    vol = cs.load(pathlib.Path(p))
    assert vol.shape == (2, 3, 4)
    np.testing.assert_array_equal(vol.array, data[..., 0].transpose(2, 1, 0))
    assert vol.spacing == (4.0, 3.0, 2.0)
    p2 = tmp_path / "d2.nii"
    nib.save(nib.Nifti1Image(data[:, :, 0, 0], np.eye(4)), p2)
    v2 = cs.load(p2)
    assert v2.shape == (1, 3, 4)
    np.testing.assert_array_equal(v2.array[0], data[:, :, 0, 0].T)
    # A NIfTI-1 pair: header (magic ni1) in .hdr, voxels in .img.
    pair = tmp_path / "pair.hdr"
    nib.save(nib.Nifti1Pair(data[..., 0].astype(np.float64), np.diag([2.0, 3.0, 4.0, 1.0])), pair)
    assert (tmp_path / "pair.img").is_file()
    vp = cs.load(pair)
    np.testing.assert_array_equal(vp.array, nib.load(pair).get_fdata().transpose(2, 1, 0))
    assert cs.read_info(pair)["format"] == "NIfTI-1"
    p4 = tmp_path / "true4d.nii"
    nib.save(nib.Nifti1Image(np.zeros((4, 3, 2, 5), np.float32), np.eye(4)), p4)
    with pytest.raises(OSError, match=r"\(4, 3, 2, 5\)"):
        cs.load(p4)


@pytest.mark.parametrize("flip", [1.0, -1.0])
def test_qform_only_files_match_nibabel_affine(tmp_path, flip):
    """With sform_code 0 the qform (quaternion, qfac) gives the geometry."""
    aff = _rotated_affine() @ np.diag([1.0, 1.0, flip, 1.0])
    img = nib.Nifti1Image(np.arange(60, dtype=np.int16).reshape(5, 4, 3), None)
    img.set_qform(aff, code=1)
    img.set_sform(None, code=0)
    p = tmp_path / "q.nii"
    nib.save(img, p)
    back = nib.load(p)
    assert int(back.header["sform_code"]) == 0 and int(back.header["qform_code"]) == 1
    vol = cs.load(p)
    np.testing.assert_allclose(affine_to_nibabel(vol.affine), back.affine, atol=1e-5)
    assert np.linalg.det(np.asarray(vol.direction)) == pytest.approx(flip)


def _sample_volume():
    arr = (np.arange(3 * 4 * 5, dtype=np.float32).reshape(3, 4, 5) - 7.5) * 0.25
    # A direction with a genuine rotation (exact in float32 is not needed: compared
    # against nibabel with a tolerance) and a flip.
    c, s = np.cos(0.4), np.sin(0.4)
    d = np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]]) @ np.diag([1.0, 1.0, -1.0])
    return cs.Volume(arr, spacing=(2.5, 0.75, 1.25), origin=(-100.5, 20.25, 3.0), direction=d.tolist())


@pytest.mark.parametrize("name", ["out.nii", "out.nii.gz"])
def test_ctscreen_nifti_reads_in_nibabel(tmp_path, name):
    vol = _sample_volume()
    p = tmp_path / name
    cs.save(p, vol)
    img = nib.load(p)
    assert img.get_data_dtype() == np.float32
    np.testing.assert_array_equal(np.asarray(img.dataobj), vol.array.transpose(2, 1, 0))
    np.testing.assert_allclose(img.header.get_zooms(), rev(vol.spacing), rtol=1e-7)
    want = affine_to_nibabel(vol.affine)
    np.testing.assert_allclose(img.affine, want, rtol=1e-6, atol=1e-5)
    assert int(img.header["sform_code"]) == 1 and int(img.header["qform_code"]) == 1
    # The qform (quaternion) encodes the same affine as the sform.
    np.testing.assert_allclose(img.header.get_qform(), img.header.get_sform(), atol=1e-5)
    # And back through ctscreen.
    back = cs.load(p)
    np.testing.assert_array_equal(back.array, vol.array)
    np.testing.assert_allclose(back.affine, vol.affine, atol=1e-5)


# ------------------------------------------------------------------------- MetaImage


def _sitk_image(arr):
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((0.5, 0.3, 2.0))
    img.SetOrigin((1.5, -2.25, 3.125))
    c, s = np.cos(0.5), np.sin(0.5)
    d = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ np.diag([1.0, -1.0, 1.0])
    img.SetDirection(tuple(d.ravel()))
    return img


@pytest.mark.parametrize("ext", [".mha", ".mhd"])
@pytest.mark.parametrize("compress", [False, True])
def test_simpleitk_writes_ctscreen_reads(tmp_path, ext, compress):
    rng = np.random.default_rng(1)
    for dt in [np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.int64, np.uint64, np.float32, np.float64]:
        arr = rng.integers(0, 100, size=(3, 4, 5)).astype(dt) if np.issubdtype(dt, np.integer) else rng.normal(size=(3, 4, 5)).astype(dt)
        img = _sitk_image(arr)
        p = tmp_path / f"s_{np.dtype(dt).name}{ext}"
        sitk.WriteImage(img, str(p), compress)
        vol = cs.load(p)
        np.testing.assert_array_equal(vol.array, sitk.GetArrayFromImage(img).astype(np.float32))
        assert vol.spacing == rev(img.GetSpacing())
        assert vol.origin == rev(img.GetOrigin())
        np.testing.assert_array_equal(np.asarray(vol.direction), sitk_direction_to_ours(img.GetDirection()))
        info = cs.read_info(p)
        assert info["data_type"] == np.dtype(dt).name
        assert info["compressed"] == compress


@pytest.mark.parametrize("name,compress", [("o.mha", False), ("o.mha", True), ("o.mhd", False), ("o.mhd", True)])
def test_ctscreen_writes_simpleitk_reads(tmp_path, name, compress):
    rng = np.random.default_rng(2)
    arr = rng.normal(size=(4, 5, 6)).astype(np.float32)
    c, s = np.cos(0.2), np.sin(0.2)
    d = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    vol = cs.Volume(arr, spacing=(0.1, 0.7, 1.0 / 3.0), origin=(1e-3, -5.5, 2.0 / 7.0), direction=d.tolist())
    p = tmp_path / name
    cs.save(p, vol, compress=compress)
    img = sitk.ReadImage(str(p))
    assert img.GetPixelID() == sitk.sitkFloat32
    np.testing.assert_array_equal(sitk.GetArrayFromImage(img), arr)
    assert img.GetSpacing() == rev(vol.spacing)
    assert img.GetOrigin() == rev(vol.origin)
    np.testing.assert_allclose(sitk_direction_to_ours(img.GetDirection()), d, atol=1e-15)
    # ctscreen round trip is exact.
    back = cs.load(p)
    np.testing.assert_array_equal(back.array, arr)
    assert back.spacing == vol.spacing and back.origin == vol.origin
    assert back.direction == vol.direction
    if name.endswith(".mhd"):
        assert (tmp_path / ("o.zraw" if compress else "o.raw")).is_file()


def test_simpleitk_2d_image_loads_as_one_slice(tmp_path):
    arr = np.arange(12, dtype=np.int16).reshape(3, 4)
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((0.5, 0.25))
    p = tmp_path / "two.mha"
    sitk.WriteImage(img, str(p))
    vol = cs.load(p)
    assert vol.shape == (1, 3, 4)
    np.testing.assert_array_equal(vol.array[0], arr)
    assert vol.spacing[1:] == (0.25, 0.5)


# ----------------------------------------------------------------------------- DICOM


def test_pydicom_ct_small():
    path = pydicom.data.get_testdata_file("CT_small.dcm")
    ds = pydicom.dcmread(path)
    want = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    for vol in (cs.load_dicom(path), cs.load(path)):
        assert vol.shape == (1, int(ds.Rows), int(ds.Columns))
        np.testing.assert_array_equal(vol.array[0], want.astype(np.float32))
        ps = [float(v) for v in ds.PixelSpacing]
        assert vol.spacing[1:] == (ps[0], ps[1])
        assert vol.spacing[0] == float(ds.SpacingBetweenSlices)
        assert vol.origin == rev(float(v) for v in ds.ImagePositionPatient)
    info = cs.read_info(path)
    assert info["format"] == "DICOM" and info["data_type"] == "int16"


def _pydicom_file(name):
    path = pydicom.data.get_testdata_file(name, download=False)
    if path is None:
        pytest.skip(f"{name} is not bundled with this pydicom")
    return path


@pytest.mark.parametrize(
    "name",
    [
        "MR_small.dcm",  # explicit VR little endian
        "MR_small_implicit.dcm",
        "MR_small_bigendian.dcm",
        "MR_small_expb.dcm",
        "MR_small_RLE.dcm",  # RLE lossless, decoded in pure Rust
    ],
)
def test_pydicom_transfer_syntaxes(name):
    path = _pydicom_file(name)
    ds = pydicom.dcmread(path)
    want = ds.pixel_array.astype(np.float64) * float(ds.get("RescaleSlope", 1)) + float(ds.get("RescaleIntercept", 0))
    vol = cs.load(path)
    np.testing.assert_array_equal(vol.array[0], want.astype(np.float32))


def test_pydicom_unsupported_files_say_why():
    with pytest.raises(OSError, match=r"transfer syntax 1\.2\.840\.10008\.1\.2\.4\.90"):
        cs.load(_pydicom_file("MR_small_jp2klossless.dcm"))
    with pytest.raises(OSError, match="multi-frame"):
        cs.load(_pydicom_file("rtdose.dcm"))


def _write_slice(path, series_uid, z, pixels, *, slope=1.0, intercept=-1024.0, implicit=False, study="1.2.3"):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series_uid
    ds.ImagePositionPatient = [-50.0, -60.0, z]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [0.7, 0.6]
    ds.SliceThickness = 1.0
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleSlope = slope
    ds.RescaleIntercept = intercept
    ds.PixelData = pixels.astype(np.int16).tobytes()
    ds.save_as(path, enforce_file_format=True)


def test_pydicom_series_shuffled_files(tmp_path):
    rng = np.random.default_rng(3)
    zs = [10.0 + 1.5 * k for k in range(6)]
    slices = {z: rng.integers(-1000, 3000, size=(5, 7)).astype(np.int16) for z in zs}
    order = list(zs)
    random.Random(4).shuffle(order)
    for n, z in enumerate(order):
        # Implicit and explicit VR mixed; per-slice rescale differs.
        _write_slice(tmp_path / f"IM{n:04d}", "1.2.826.0.1.1", z, slices[z], slope=1.0 + (n % 2), implicit=n % 2 == 0)
    (tmp_path / "notes.txt").write_text("not dicom")
    vol = cs.load_dicom(tmp_path)
    assert vol.shape == (6, 5, 7)
    np.testing.assert_allclose(vol.spacing, (1.5, 0.7, 0.6))
    assert vol.origin == (10.0, -60.0, -50.0)
    for k, z in enumerate(zs):
        ds = pydicom.dcmread(tmp_path / f"IM{order.index(z):04d}")
        want = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        np.testing.assert_array_equal(vol.array[k], want.astype(np.float32))
    # pathlib and str both work; load() on a directory is load_dicom().
    np.testing.assert_array_equal(cs.load(str(tmp_path)).array, vol.array)


def test_dicom_series_errors(tmp_path):
    px = np.zeros((4, 4), np.int16)
    for n, z in enumerate([0.0, 1.0, 2.0, 4.0]):
        _write_slice(tmp_path / f"a{n}.dcm", "1.1", z, px)
    with pytest.raises(OSError, match="irregular slice spacing"):
        cs.load_dicom(tmp_path)
    _write_slice(tmp_path / "a3.dcm", "1.1", 3.0, px)
    _write_slice(tmp_path / "b0.dcm", "2.2", 0.0, px)
    with pytest.raises(OSError, match=r"1\.1 \(4 slices\), 2\.2 \(1 slice\)"):
        cs.load_dicom(tmp_path)
    assert cs.load_dicom(tmp_path, series="1.1").shape == (4, 4, 4)
    assert cs.load_dicom(tmp_path, series="2.2").shape == (1, 4, 4)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "x.txt").write_text("hello")
    with pytest.raises(OSError, match="no DICOM image") as e:
        cs.load_dicom(empty)
    assert str(empty) in str(e.value)


# ------------------------------------------------------------------- errors, atomicity


def test_bad_files_raise_named_errors(tmp_path):
    good = tmp_path / "good.nii"
    cs.save(good, _sample_volume())
    raw = good.read_bytes()
    (tmp_path / "trunc.nii").write_bytes(raw[:-7])
    with pytest.raises(OSError, match="truncated"):
        cs.load(tmp_path / "trunc.nii")
    (tmp_path / "hdr.nii").write_bytes(raw[:100])
    with pytest.raises(OSError, match="truncated NIfTI-1 header"):
        cs.load(tmp_path / "hdr.nii")
    (tmp_path / "junk.bin").write_bytes(b"\x00\x01\x02 definitely not an image" * 20)
    with pytest.raises(OSError, match="unsupported file format"):
        cs.load(tmp_path / "junk.bin")
    # 2^31 voxels declared in a 400-byte file.
    huge = bytearray(raw[:352]) + bytearray(48)
    struct.pack_into("<8h", huge, 40, 3, 2048, 1024, 1024, 1, 1, 1, 1)
    struct.pack_into("<hh", huge, 70, 2, 8)
    (tmp_path / "huge.nii").write_bytes(bytes(huge))
    with pytest.raises(OSError, match="2048 × 1024 × 1024"):
        cs.load(tmp_path / "huge.nii")
    (tmp_path / "nodim.mha").write_bytes(b"ObjectType = Image\nNDims = 3\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n\x00")
    with pytest.raises(OSError, match="missing DimSize"):
        cs.load(tmp_path / "nodim.mha")
    (tmp_path / "sp.mha").write_bytes(
        b"NDims = 3\nDimSize = 1 1 1\nElementSpacing = 1 0 1\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n\x00"
    )
    with pytest.raises(OSError, match="ElementSpacing"):
        cs.load(tmp_path / "sp.mha")
    with pytest.raises(OSError, match="missing.nii"):
        cs.load(tmp_path / "missing.nii")
    # A volume too large for the memory limit is a ValueError (not about the file).
    env = dict(os.environ, CTSCREEN_MEMORY_LIMIT="100", PYTHONPATH=os.pathsep.join(sys.path))
    code = textwrap.dedent(
        f"""
        import ctscreen as cs
        try:
            cs.load({str(good)!r})
        except ValueError as e:
            print("ValueError", e)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.startswith("ValueError") and "CTSCREEN_MEMORY_LIMIT" in out.stdout


def _listing(d):
    return sorted(p.name for p in pathlib.Path(d).iterdir())


@pytest.mark.parametrize("name", ["a.nii", "a.nii.gz", "a.mha", "a.mhd"])
def test_failed_save_leaves_no_file(tmp_path, name):
    vol = _sample_volume()
    with pytest.raises(OSError):
        cs.save(tmp_path / "no" / "such" / name, vol)
    assert not (tmp_path / "no").exists()
    with pytest.raises(OSError, match="extension"):
        cs.save(tmp_path / "a.png", vol)
    assert _listing(tmp_path) == []
    # A write that fails mid-way (file size limit hit while writing the voxels) in a
    # child process: the previous file survives intact and no temporary file is left.
    target = tmp_path / name
    small = cs.Volume(np.ones((2, 2, 2), np.float32))
    cs.save(target, small)
    before = {p: (tmp_path / p).read_bytes() for p in _listing(tmp_path)}
    code = textwrap.dedent(
        f"""
        import resource, signal, numpy as np, ctscreen as cs
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        rng = np.random.default_rng(0)
        vol = cs.Volume(rng.normal(size=(16, 32, 32)).astype(np.float32))
        try:
            cs.save({str(target)!r}, vol, compress=True)
        except OSError as e:
            print("OSError", e)
        """
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.startswith("OSError"), out.stdout + out.stderr
    assert _listing(tmp_path) == sorted(before)
    for p, b in before.items():
        assert (tmp_path / p).read_bytes() == b
    np.testing.assert_array_equal(cs.load(target).array, small.array)
