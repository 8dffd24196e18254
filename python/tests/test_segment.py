"""Segmentation vs scipy.ndimage, scikit-image and cc3d on the same inputs."""

import pickle

import cc3d
import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage import filters, measure, morphology

import ctscreen as cs

RANK = {6: 1, 18: 2, 26: 3, 4: 1, 8: 2}


def rng(seed):
    return np.random.default_rng(seed)


def structured_volume():
    """Spheres, a hollow box, a torus-like ring, rods and specks."""
    z, y, x = np.mgrid[:40, :36, :44]
    v = np.zeros((40, 36, 44), bool)
    v |= (z - 10) ** 2 + (y - 10) ** 2 + (x - 12) ** 2 <= 36
    v |= (z - 28) ** 2 + (y - 24) ** 2 + (x - 30) ** 2 <= 49
    v[20:30, 2:12, 2:12] = True
    v[22:28, 4:10, 4:10] = False
    r = np.hypot(y - 20, x - 20)
    v |= (abs(z - 35) <= 1) & (r >= 5) & (r <= 7)
    for t in range(30):
        v[5 + t // 3, 30, t] = True
    v[0, 0, 0] = v[39, 35, 43] = v[1, 1, 1] = True
    return v


# ---------------------------------------------------------------- label


@pytest.mark.parametrize("conn", [6, 18, 26])
@pytest.mark.parametrize("density", [0.1, 0.3, 0.5, 0.7])
def test_label_matches_scipy_and_cc3d_random(conn, density):
    m = rng(int(density * 100) + conn).random((30, 31, 33)) < density
    got, n = cs.label(m, connectivity=conn)
    want, wn = ndi.label(m, ndi.generate_binary_structure(3, RANK[conn]))
    cc = cc3d.connected_components(m.astype(np.uint8), connectivity=conn)
    assert got.dtype == np.uint32 and got.shape == m.shape
    assert n == wn == cc.max()
    # All three number components by their first voxel in raster order.
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, cc)


@pytest.mark.parametrize("conn", [6, 18, 26])
def test_label_structured_and_edge_cases(conn):
    st = ndi.generate_binary_structure(3, RANK[conn])
    cases = [
        structured_volume(),
        np.ones((5, 6, 7), bool),
        np.zeros((5, 6, 7), bool),
        np.ones((1, 1, 1), bool),
        rng(1).random((1, 40, 37)) < 0.5,
        rng(2).random((40, 1, 37)) < 0.5,
        rng(3).random((40, 37, 1)) < 0.5,
        rng(4).random((1, 1, 100)) < 0.5,
    ]
    single = np.zeros((4, 5, 6), bool)
    single[2, 3, 4] = True
    cases.append(single)
    for m in cases:
        got, n = cs.label(m, connectivity=conn)
        want, wn = ndi.label(m, st)
        assert n == wn
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("conn", [4, 8])
def test_label_2d_matches_scipy_and_cc3d(conn):
    for density in (0.3, 0.55):
        m = rng(conn).random((60, 70)) < density
        got, n = cs.label(m, connectivity=conn)
        want, wn = ndi.label(m, ndi.generate_binary_structure(2, RANK[conn]))
        cc = cc3d.connected_components(m.astype(np.uint8), connectivity=conn)
        assert got.shape == (60, 70)
        assert n == wn
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(got, cc)
    # 3D connectivities on 2D input are their in-plane restrictions.
    m = rng(9).random((50, 40)) < 0.5
    np.testing.assert_array_equal(cs.label(m, 26)[0], cs.label(m, 8)[0])
    np.testing.assert_array_equal(cs.label(m, 6)[0], cs.label(m, 4)[0])


@pytest.mark.parametrize("conn", [6, 18, 26])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.uint64])
def test_label_multivalued_matches_cc3d(conn, dtype):
    a = rng(conn).integers(0, 4, (25, 26, 27)).astype(dtype)
    got, n = cs.label(a, connectivity=conn)
    want = cc3d.connected_components(a, connectivity=conn)
    assert n == want.max()
    np.testing.assert_array_equal(got, want)


def test_label_accepts_float_01_and_rejects_others():
    m = (rng(5).random((8, 9, 10)) < 0.5).astype(np.float64)
    got, n = cs.label(m)
    want, wn = ndi.label(m > 0, np.ones((3, 3, 3)))
    np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="binary"):
        cs.label(m * 0.5)
    with pytest.raises(ValueError, match="connectivity"):
        cs.label(m, connectivity=7)
    with pytest.raises(ValueError, match="2D"):
        cs.label(np.ones(5, bool))


def test_label_fortran_order_input():
    m = np.asfortranarray(rng(6).random((20, 21, 22)) < 0.4)
    got, _ = cs.label(m, 6)
    want, _ = ndi.label(m)
    np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------- thresholds


def bin_width(x, nbins):
    return (float(x.max()) - float(x.min())) / nbins


@pytest.mark.parametrize("seed", range(5))
def test_otsu_matches_skimage(seed):
    r = rng(seed)
    x = np.concatenate([r.normal(0.02, 0.004, 30000), r.normal(0.06, 0.01, 10000 * (seed + 1))])
    x = x.astype(np.float32).reshape(-1, 10, 10)
    for nbins in (64, 256):
        ours = cs.threshold_otsu(x, nbins=nbins)
        ref = filters.threshold_otsu(x, nbins=nbins)
        assert abs(ours - ref) <= bin_width(x, nbins) * 1.0001


@pytest.mark.parametrize("classes", [2, 3, 4])
def test_multiotsu_matches_skimage(classes):
    r = rng(classes)
    x = np.concatenate([r.normal(m, 0.5, 5000) for m in (0, 4, 9, 15)]).astype(np.float32)
    ours = cs.threshold_multiotsu(x, classes=classes)
    ref = filters.threshold_multiotsu(x, classes=classes)
    assert ours.shape == ref.shape == (classes - 1,)
    np.testing.assert_allclose(ours, ref, atol=bin_width(x, 256) * 1.0001, rtol=0)


def test_thresholds_errors():
    x = np.ones(100, np.float32)
    x[[3, 50]] = np.nan
    with pytest.raises(ValueError, match="2 non-finite"):
        cs.threshold_otsu(x)
    with pytest.raises(ValueError, match="bins"):
        cs.threshold_multiotsu(np.array([0, 1, 0, 1], np.float32), classes=3)


@pytest.mark.parametrize("conn,ndim", [(6, 3), (6, 2), (26, 3)])
def test_hysteresis_matches_skimage(conn, ndim):
    shape = (24, 25, 26) if ndim == 3 else (80, 90)
    img = ndi.gaussian_filter(rng(conn + ndim).random(shape), 1.5).astype(np.float32)
    lo, hi = np.quantile(img, [0.55, 0.9])
    ours = cs.hysteresis(img, lo, hi, connectivity=conn)
    if conn == 6:
        ref = filters.apply_hysteresis_threshold(img, lo, hi)
    else:
        lab, n = ndi.label(img > lo, np.ones((3, 3, 3)))
        keep = ndi.maximum(img, lab, np.arange(n + 1)) > hi
        keep[0] = False
        ref = keep[lab]
    assert ours.dtype == bool
    np.testing.assert_array_equal(ours, ref)


# ---------------------------------------------------------------- morphology


def structures():
    r = rng(42)
    odd = r.random((3, 4, 5)) < 0.5
    odd[0, 0, 0] = True
    return [
        None,
        morphology.ball(1),
        morphology.ball(2),
        morphology.ball(3),
        np.ones((3, 3, 3), np.uint8),
        np.ones((4, 4, 4), np.uint8),
        np.ones((5, 1, 2), np.uint8),
        ndi.generate_binary_structure(3, 2),
        odd,
    ]


@pytest.mark.parametrize("i", range(9))
def test_morphology_matches_scipy(i):
    st = structures()[i]
    for m in (rng(i).random((20, 22, 24)) < 0.6, structured_volume()):
        for ours_f, ref_f in [
            (cs.binary_erosion, ndi.binary_erosion),
            (cs.binary_dilation, ndi.binary_dilation),
            (cs.binary_opening, ndi.binary_opening),
            (cs.binary_closing, ndi.binary_closing),
        ]:
            ours = ours_f(m, st) if st is not None else ours_f(m)
            ref = ref_f(m, structure=st)
            np.testing.assert_array_equal(ours, ref, err_msg=f"{ours_f.__name__} element {i}")


def test_morphology_2d_and_elements():
    m = rng(3).random((50, 60)) < 0.6
    st = morphology.disk(2)
    np.testing.assert_array_equal(cs.binary_erosion(m, st), ndi.binary_erosion(m, st))
    np.testing.assert_array_equal(cs.binary_dilation(m), ndi.binary_dilation(m))
    for r in range(5):
        np.testing.assert_array_equal(cs.ball(r), morphology.ball(r))
    np.testing.assert_array_equal(cs.cube(3), np.ones((3, 3, 3), np.uint8))
    with pytest.raises(ValueError, match="binary"):
        cs.binary_erosion(m * 2.0)
    with pytest.raises(ValueError, match="dimensions"):
        cs.binary_erosion(m, cs.ball(1))
    with pytest.raises(ValueError):
        cs.binary_erosion(np.ones((4, 4, 4)), np.zeros((3, 3, 3)))
    # uint8 0/1 masks are accepted.
    m3 = (rng(4).random((10, 11, 12)) < 0.5).astype(np.uint8)
    np.testing.assert_array_equal(cs.binary_closing(m3, cs.ball(1)), ndi.binary_closing(m3, cs.ball(1)))


def test_fill_holes_matches_scipy():
    for m in (structured_volume(), rng(8).random((30, 30, 30)) < 0.7):
        np.testing.assert_array_equal(cs.fill_holes(m), ndi.binary_fill_holes(m))
        np.testing.assert_array_equal(
            cs.fill_holes(m, connectivity=26),
            ndi.binary_fill_holes(m, ndi.generate_binary_structure(3, 3)),
        )
    m2 = rng(9).random((60, 60)) < 0.65
    np.testing.assert_array_equal(cs.fill_holes(m2), ndi.binary_fill_holes(m2))
    np.testing.assert_array_equal(cs.fill_holes(m2, 8), ndi.binary_fill_holes(m2, np.ones((3, 3))))


# ---------------------------------------------------------------- regionprops


def assert_rel(a, b, tol=1e-4):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=tol, atol=tol * 1e-3)


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (2.0, 0.7, 0.5)])
def test_regionprops_matches_skimage(spacing):
    labels, n = cs.label(structured_volume(), 26)
    inten = rng(1).random(labels.shape).astype(np.float32)
    ours = cs.regionprops(labels, inten, spacing=spacing)
    ref = measure.regionprops(labels.astype(np.int32), inten, spacing=spacing)
    assert [p.label for p in ours] == [r.label for r in ref] == list(range(1, n + 1))
    for p, r in zip(ours, ref):
        assert p.num_voxels == r.num_pixels
        assert_rel(p.area, r.area)
        assert tuple(p.bbox) == r.bbox
        # skimage's centroid with spacing is index * spacing (no origin).
        assert_rel(p.centroid_mm, r.centroid)
        assert_rel(np.asarray(p.centroid) * spacing, r.centroid)
        assert_rel(p.inertia_tensor_mm, r.inertia_tensor)
        assert_rel(p.inertia_tensor_eigvals_mm, r.inertia_tensor_eigvals)
        assert_rel(p.intensity_mean, r.intensity_mean)
        assert p.intensity_min == r.intensity_min
        assert p.intensity_max == r.intensity_max
        assert_rel(p.extent, r.extent)
        assert p.euler_number == r.euler_number


def test_regionprops_voxel_units_and_volume_input():
    labels = rng(2).integers(0, 6, (12, 13, 14)).astype(np.uint16)
    ref = measure.regionprops(labels.astype(np.int32))
    vol = cs.Volume(rng(3).random(labels.shape), spacing=(1.0, 1.0, 1.0), origin=(5.0, 6.0, 7.0))
    ours = cs.regionprops(labels, vol)
    for p, r in zip(ours, ref):
        assert_rel(p.inertia_tensor, r.inertia_tensor)
        assert_rel(p.inertia_tensor_eigvals, r.inertia_tensor_eigvals)
        assert_rel(p.centroid, r.centroid)
        assert_rel(p.centroid_mm, np.asarray(r.centroid) + (5.0, 6.0, 7.0))
        assert p.euler_number == r.euler_number
        assert p.intensity_mean is not None
    assert pickle.loads(pickle.dumps(ours[0])).bbox == ours[0].bbox


def test_regionprops_2d_matches_skimage():
    img = np.zeros((40, 50), np.int32)
    img[5:15, 5:30] = 1
    img[20:35, 10:20] = 2
    img[25:30, 13:17] = 0  # a hole
    img[22:38, 30:45] = 3
    inten = rng(4).random(img.shape).astype(np.float32)
    ours = cs.regionprops(img, inten, spacing=(0.5, 2.0))
    ref = measure.regionprops(img, inten, spacing=(0.5, 2.0))
    for p, r in zip(ours, ref):
        assert p.ndim == 2
        assert tuple(p.bbox) == r.bbox
        assert_rel(p.area, r.area)
        assert_rel(p.centroid_mm, r.centroid)
        assert_rel(p.inertia_tensor_mm, r.inertia_tensor)
        assert_rel(p.inertia_tensor_eigvals_mm, r.inertia_tensor_eigvals)
        assert_rel(p.intensity_mean, r.intensity_mean)
        assert p.euler_number == r.euler_number
        assert len(p.principal_extents_mm) == 2 and p.surface_area_mm2 is None
    assert ours[1].euler_number == 0
    # A 10 x 25 rectangle at (0.5, 2.0) mm: edges 2 * (25 * 2.0 + 10 * 0.5) mm.
    assert ours[0].perimeter_mm == pytest.approx(2 * (25 * 2.0 + 10 * 0.5))


def test_regionprops_errors():
    with pytest.raises(ValueError, match="shape"):
        cs.regionprops(np.ones((3, 4, 5), np.int32), np.ones((3, 4, 6)))
    with pytest.raises(ValueError, match="integer"):
        cs.regionprops(np.ones((3, 4, 5)))
    with pytest.raises(ValueError, match="spacing"):
        cs.regionprops(np.ones((3, 4, 5), np.int32), spacing=(1.0, 0.0, 1.0))
    with pytest.raises(ValueError):
        cs.regionprops(-np.ones((3, 4, 5), np.int32))
