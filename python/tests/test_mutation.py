"""Mutated files never crash ``cs.load``: each load succeeds or raises ValueError/OSError.

Valid NIfTI-1/2, MetaImage and DICOM files are mutated with a fixed seed: random bit
flips, truncations, and header fields set to extremes (dimensions to 2^31 - 1, negative
or zero, garbage datatypes, ``vox_offset`` past the end, huge or bogus ``DimSize`` /
``ElementType``, DICOM ``Rows``/``Columns`` of 65535 ...). The loads run in child
processes, one batch per format, so that an abort or a segfault fails the test (naming
the file being loaded) instead of killing pytest.
"""

import json
import os
import random
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import ctscreen as cs

nib = pytest.importorskip("nibabel")
pydicom = pytest.importorskip("pydicom")

SEED = 20240611

# The child loads every file in argv[1:] and prints one JSON line per file *before* the
# load starts (so a crash names it) and one after, with the outcome.
CHILD = textwrap.dedent(
    """
    import json, sys
    import ctscreen as cs
    for path in sys.argv[1:]:
        print(json.dumps({"start": path}), flush=True)
        try:
            v = cs.load(path)
            out = {"path": path, "result": "ok", "shape": list(v.shape)}
        except (ValueError, OSError) as e:
            out = {"path": path, "result": type(e).__name__, "message": str(e)}
        except BaseException as e:  # anything else is a failure of the test
            out = {"path": path, "result": "unexpected " + type(e).__name__, "message": str(e)}
        print(json.dumps(out), flush=True)
    """
)


def run_batch(paths, memory_limit="512M"):
    """Loads `paths` in a child process; returns the outcome per path."""
    env = dict(os.environ)
    env["CTSCREEN_MEMORY_LIMIT"] = memory_limit
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, *map(str, paths)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [json.loads(l) for l in proc.stdout.splitlines() if l.startswith("{")]
    started = [l["start"] for l in lines if "start" in l]
    results = {l["path"]: l for l in lines if "path" in l}
    assert proc.returncode == 0, (
        f"child died with status {proc.returncode} while loading {started[-1] if started else '?'}\n"
        f"{proc.stderr[-3000:]}"
    )
    assert len(results) == len(paths)
    return results


def check(results, min_errors):
    bad = {p: r for p, r in results.items() if r["result"] not in ("ok", "ValueError", "OSError")}
    assert not bad, bad
    errors = [r for r in results.values() if r["result"] != "ok"]
    # The mutations must mostly be caught, or this test tests nothing.
    assert len(errors) >= min_errors, (len(errors), len(results))
    for r in errors:
        # Messages say something, and name the file when it is the file's fault.
        assert r["message"], r
        if r["result"] == "OSError":
            assert os.path.basename(r["path"]) in r["message"] or "/" in r["message"], r


# ---------------------------------------------------------------- generic mutations


def bit_flips(rng, data, n):
    out = []
    for _ in range(n):
        b = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        out.append(bytes(b))
    return out


def truncations(rng, data, n):
    return [data[: rng.randrange(len(data))] for _ in range(n)]


def byte_noise(rng, data, n, lo=0, hi=None):
    """Random bytes written over `lo..hi` (the header, where mutations matter most)."""
    hi = len(data) if hi is None else min(hi, len(data))
    out = []
    for _ in range(n):
        b = bytearray(data)
        for _ in range(rng.randint(1, 6)):
            b[rng.randrange(lo, hi)] = rng.choice([0, 0xFF, 0x7F, 0x80, rng.randrange(256)])
        out.append(bytes(b))
    return out


def write_all(tmp_path, prefix, ext, blobs):
    paths = []
    for i, blob in enumerate(blobs):
        p = tmp_path / f"{prefix}{i:04d}{ext}"
        p.write_bytes(blob)
        paths.append(p)
    return paths


def volume():
    rng = np.random.default_rng(SEED)
    return cs.Volume(rng.normal(size=(3, 4, 5)).astype(np.float32), spacing=(2.0, 0.5, 0.75), origin=(1.0, -2.0, 3.0))


# ---------------------------------------------------------------- NIfTI


def nifti1_extremes(data):
    """NIfTI-1 (little endian) with one header field set to an extreme value each."""
    out = []

    def put(fmt, off, value):
        b = bytearray(data)
        struct.pack_into(fmt, b, off, value)
        out.append(bytes(b))

    for i in range(1, 4):  # dim[1..3], int16
        for v in (32767, -1, 0, -32768):
            put("<h", 40 + 2 * i, v)
    for v in (0, 8, -1, 32767):  # dim[0]
        put("<h", 40, v)
    for v in (0, 1, 3, 32, 128, 1536, 2048, 2304, 12345, -1):  # datatype
        put("<h", 70, v)
    for v in (0, 3, 1024, -16):  # bitpix
        put("<h", 72, v)
    for v in (len(data) + 1.0, 1e9, 3.4e38, -352.0, 100.0, 352.5, float("nan"), float("inf")):  # vox_offset
        put("<f", 108, v)
    for v in (float("nan"), float("inf"), 0.0, -1e38):  # scl_slope, scl_inter
        put("<f", 112, v)
        put("<f", 116, v)
    for i in range(0, 4):  # pixdim
        for v in (0.0, -1.0, float("nan"), float("inf"), 1e-45):
            put("<f", 76 + 4 * i, v)
    for v in (0, 1, 2, 255):  # xyzt_units
        b = bytearray(data)
        b[123] = v
        out.append(bytes(b))
    for off in (252, 254):  # qform/sform codes with garbage matrices
        for v in (1, 4, -1, 32767):
            b = bytearray(data)
            struct.pack_into("<h", b, off, v)
            for k in range(280, 328, 4):
                struct.pack_into("<f", b, k, float("nan") if v == 4 else 1e30)
            out.append(bytes(b))
    for v in (b"ni1\0", b"n+2\0", b"\0\0\0\0"):  # magic
        b = bytearray(data)
        b[344:348] = v
        out.append(bytes(b))
    return out


def nifti2_extremes(data):
    out = []

    def put(fmt, off, value):
        b = bytearray(data)
        struct.pack_into(fmt, b, off, value)
        out.append(bytes(b))

    for i in range(1, 4):  # dim[1..3], int64
        for v in (2**31 - 1, 2**62, 2**63 - 1, -1, 0, -(2**63)):
            put("<q", 16 + 8 * i, v)
    for v in (-1, 8, 2**40):
        put("<q", 16, v)
    for v in (0, 7, 1536, -1):  # datatype
        put("<h", 12, v)
    for v in (2**62, -1, len(data) + 1, 3):  # vox_offset, int64
        put("<q", 168, v)
    return out


@pytest.fixture(scope="module")
def nifti_files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nifti-src")
    cs.save(tmp / "f.nii", volume())
    n1 = (tmp / "f.nii").read_bytes()
    # int16 with scaling, written by nibabel, and a NIfTI-2 file.
    arr = (np.arange(60, dtype=np.int16).reshape(5, 4, 3) * 37 - 900).astype(np.int16)
    img = nib.Nifti1Image(arr, np.diag([0.5, 0.75, 2.0, 1.0]))
    img.header.set_slope_inter(2.0, -1024.0)
    nib.save(img, tmp / "i16.nii")
    n2 = nib.Nifti2Image(arr.astype(np.float32), np.diag([0.5, 0.75, 2.0, 1.0]))
    nib.save(n2, tmp / "f2.nii")
    return n1, (tmp / "i16.nii").read_bytes(), (tmp / "f2.nii").read_bytes()


def test_nifti_mutations(tmp_path, nifti_files):
    import gzip

    rng = random.Random(SEED)
    n1, i16, n2 = nifti_files
    blobs = []
    blobs += nifti1_extremes(n1)
    blobs += nifti1_extremes(i16)[::2]
    blobs += nifti2_extremes(n2)
    blobs += bit_flips(rng, n1, 25) + bit_flips(rng, n2, 15)
    blobs += byte_noise(rng, i16, 20, 0, 352) + byte_noise(rng, n2, 15, 0, 544)
    blobs += truncations(rng, n1, 15) + truncations(rng, n2, 10)
    paths = write_all(tmp_path, "m", ".nii", blobs)
    # The same header mutations behind gzip, and mutated gzip streams.
    gz = [gzip.compress(b) for b in nifti1_extremes(n1)[::3] + nifti2_extremes(n2)[::2]]
    whole = gzip.compress(n1)
    gz += bit_flips(rng, whole, 15) + truncations(rng, whole, 10)
    paths += write_all(tmp_path, "g", ".nii.gz", gz)
    assert len(paths) > 250
    results = run_batch(paths)
    check(results, min_errors=len(paths) // 2)
    # Sanity: the unmutated files load.
    (tmp_path / "ok.nii").write_bytes(n2)
    assert cs.load(tmp_path / "ok.nii").shape == (3, 4, 5)


# ---------------------------------------------------------------- MetaImage


def mha_variants(header: str, payload: bytes):
    """The header with one field replaced or added at a time, extremes and garbage."""
    lines = header.strip("\n").split("\n")

    def with_field(key, value):
        out, done = [], False
        for l in lines:
            if l.split("=")[0].strip() == key:
                out.append(f"{key} = {value}")
                done = True
            else:
                out.append(l)
        if not done:  # add before ElementDataFile
            out.insert(len(out) - 1, f"{key} = {value}")
        return ("\n".join(out) + "\n").encode() + payload

    fields = {
        "DimSize": [
            "2147483647 2147483647 2147483647",
            "4294967296 4294967296 4294967296",
            "18446744073709551615 1 1",
            "18446744073709551616 1 1",
            "-1 4 3",
            "0 4 3",
            "5 4",
            "5 4 3 2",
            "a b c",
            "1e9 1 1",
            "",
        ],
        "ElementType": ["MET_BOGUS", "MET_FLOAT_ARRAY", "MET_STRING", "", "MET_DOUBLE", "MET_UCHAR", "float"],
        "NDims": ["0", "1", "4", "-3", "99999999999999999999", "two"],
        "ElementSpacing": ["nan nan nan", "0 0 0", "-1 1 1", "inf 1 1", "1e-320 1 1", "1 1"],
        "Offset": ["nan 0 0", "inf -inf 0", "1e308 1e308 1e308", "1 2"],
        "TransformMatrix": ["0 0 0 0 0 0 0 0 0", "1 0 0 0 1 0 0 0 nan", "2 0 0 0 2 0 0 0 2", "1 0 0"],
        "CompressedData": ["True", "Maybe"],
        "CompressedDataSize": ["0", "18446744073709551615", "-5", "1"],
        "ElementNumberOfChannels": ["3", "0", "-1"],
        "BinaryData": ["False"],
        "BinaryDataByteOrderMSB": ["True", "perhaps"],
        "HeaderSize": ["-1", "-2", "9223372036854775807", "1000000"],
        "ElementDataFile": ["nonexistent.raw", "LIST", "", "%d.raw", "/dev/null", "."],
    }
    out = []
    for key, values in fields.items():
        for v in values:
            out.append(with_field(key, v))
    return out


def test_metaimage_mutations(tmp_path):
    rng = random.Random(SEED + 1)
    src = tmp_path / "src"
    src.mkdir()
    cs.save(src / "plain.mha", volume())
    cs.save(src / "zlib.mha", volume(), compress=True)
    plain = (src / "plain.mha").read_bytes()
    zlib_ = (src / "zlib.mha").read_bytes()
    split = plain.index(b"ElementDataFile = LOCAL\n") + len(b"ElementDataFile = LOCAL\n")
    header, payload = plain[:split].decode(), plain[split:]
    zsplit = zlib_.index(b"ElementDataFile = LOCAL\n") + len(b"ElementDataFile = LOCAL\n")
    blobs = mha_variants(header, payload) + mha_variants(zlib_[:zsplit].decode(), zlib_[zsplit:])[::2]
    blobs += bit_flips(rng, plain, 25) + bit_flips(rng, zlib_, 20)
    blobs += byte_noise(rng, plain, 25, 0, split)
    blobs += truncations(rng, plain, 15) + truncations(rng, zlib_, 15)
    paths = write_all(tmp_path, "m", ".mha", blobs)
    # .mhd headers next to a real data file.
    cs.save(tmp_path / "data.mhd", volume())
    mhd = (tmp_path / "data.mhd").read_text()
    paths += write_all(tmp_path, "h", ".mhd", mha_variants(mhd, b"")[::2])
    assert len(paths) > 200
    results = run_batch(paths)
    check(results, min_errors=len(paths) // 2)


# ---------------------------------------------------------------- DICOM


def dicom_variants():
    """CT_small.dcm with header elements set to extremes (through pydicom)."""
    path = pydicom.data.get_testdata_file("CT_small.dcm")
    base = pydicom.dcmread(path)
    out = []

    def variant(**changes):
        ds = base.copy()
        for k, v in changes.items():
            setattr(ds, k, v)
        from io import BytesIO

        buf = BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        out.append(buf.getvalue())

    for rows, cols in [(65535, 65535), (65535, 1), (1, 65535), (0, 128), (128, 0), (1, 1), (129, 128)]:
        variant(Rows=rows, Columns=cols)
    for bits in (0, 1, 7, 12, 32, 64, 255):
        variant(BitsAllocated=bits)
    for spp in (0, 3, 4):
        variant(SamplesPerPixel=spp)
    for frames in ("0", "2", "1000", "-1"):
        variant(NumberOfFrames=frames)
    for ps in (["0", "0"], ["-1", "1"], ["nan", "1"], ["inf", "1"], ["1"]):
        variant(PixelSpacing=ps)
    for slope in ("nan", "inf", "0", "1e308"):
        variant(RescaleSlope=slope)
    for iop in (["0"] * 6, ["1", "0", "0", "1", "0", "0"], ["nan"] * 6, ["1", "0"]):
        variant(ImageOrientationPatient=iop)
    for ipp in (["nan", "0", "0"], ["1e308", "1e308", "1e308"], ["0"]):
        variant(ImagePositionPatient=ipp)
    variant(PixelRepresentation=5)
    variant(PixelData=b"")
    variant(PixelData=b"\x00" * 7)
    return path, out


def test_dicom_mutations(tmp_path):
    rng = random.Random(SEED + 2)
    path, blobs = dicom_variants()
    data = open(path, "rb").read()
    pixels_at = data.rfind(b"\xe0\x7f\x10\x00")  # the pixel data element
    blobs += byte_noise(rng, data, 60, 128, pixels_at)  # header bytes, lengths included
    blobs += bit_flips(rng, data, 40)
    blobs += truncations(rng, data, 30)
    # Element lengths set to extremes: every 4-byte-aligned 32-bit length field after
    # the preamble is a candidate; pick some.
    for _ in range(40):
        b = bytearray(data)
        i = rng.randrange(132, pixels_at)
        struct.pack_into("<I", b, i, rng.choice([0xFFFFFFFF, 0x7FFFFFFF, 0xFFFFFFFE, len(data), 3]))
        blobs.append(bytes(b))
    paths = write_all(tmp_path, "d", ".dcm", blobs)
    assert len(paths) > 200
    results = run_batch(paths)
    check(results, min_errors=len(paths) // 3)
    # The unmutated file loads, and its huge-Rows variant is refused from the file size.
    assert cs.load(path).shape == (1, 128, 128)
    huge = results[str(paths[0])]
    assert huge["result"] == "OSError" and "truncated" in huge["message"], huge


def test_huge_dicom_header_is_refused_without_a_memory_limit(tmp_path):
    """Rows = Columns = 65535 (17 GB as float32) over 32 KB of pixels: refused from the
    file size, not by the memory limit (the child runs with the machine's own limit)."""
    path, blobs = dicom_variants()
    p = tmp_path / "huge.dcm"
    p.write_bytes(blobs[0])
    env_limit = "1024G"  # far above this machine
    r = run_batch([p], memory_limit=env_limit)[str(p)]
    assert r["result"] == "OSError" and "truncated" in r["message"], r
