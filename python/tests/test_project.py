"""Projectors and geometries against independent references: scikit-image's radon
transform, RTK's Joseph projector (frame mapping pinned on an asymmetric phantom),
and a plain numpy voxel-driven backprojector."""

import pickle

import numpy as np
import pytest

import ctscreen as cs

try:  # itk-rtk is optional
    import itk
    from itk import RTK as rtk
except Exception as exc:  # pragma: no cover - depends on the environment
    rtk = None
    RTK_REASON = f"itk-rtk cannot be imported: {exc!r}"
else:
    RTK_REASON = ""

# ITK's SWIG wrappers emit DeprecationWarnings on import; they say nothing about us.
pytestmark = pytest.mark.filterwarnings("ignore:builtin type")

needs_rtk = pytest.mark.skipif(rtk is None, reason=RTK_REASON or "itk-rtk missing")


def rel_rmse(a, b):
    return float(np.sqrt(np.mean((a - b) ** 2)) / np.sqrt(np.mean(b**2)))


# --------------------------------------------------------------------------------------
# scikit-image
# --------------------------------------------------------------------------------------


def skimage_to_ours(image):
    """The documented mapping between skimage.transform.radon and our parallel beam.

    * image (rows, cols) is our volume (1, ny, nx) as is: rows along y, cols along x,
      1 mm pixels, with pixel (N//2, N//2) -- skimage's rotation centre -- at the
      isocentre, so origin = (0, -(N//2), -(N//2));
    * skimage's theta (degrees) is our angle -theta (radians): the two turn in
      opposite senses;
    * skimage's detector bin k sits at k - N//2, ours c at c - (N-1)/2 + offset, so
      the column offset is (N-1)/2 - N//2 (-0.5 mm for even N);
    * radon(...)[:, i] is our projections[i, 0, :].
    """
    n = image.shape[0]
    vol = cs.Volume(image[None], spacing=(1.0, 1.0, 1.0), origin=(0.0, -(n // 2), -(n // 2)))
    offset = (n - 1) / 2 - n // 2
    return vol, offset


@pytest.mark.parametrize("n", [96, 101])
def test_parallel_2d_matches_skimage_radon(n):
    from skimage.data import shepp_logan_phantom
    from skimage.transform import radon, resize

    image = resize(shepp_logan_phantom(), (n, n), anti_aliasing=True)
    # an asymmetric addition so that a mirrored mapping cannot pass
    yy, xx = np.mgrid[:n, :n]
    image[((yy - 0.3 * n) ** 2 + (xx - 0.62 * n) ** 2) < (0.06 * n) ** 2] += 0.8
    r = np.hypot(yy - n // 2, xx - n // 2)
    image[r > n // 2 - 1] = 0.0  # radon(circle=True) assumes nothing outside the circle
    theta = np.arange(0.0, 180.0, 4.5)
    ref = radon(image, theta=theta, circle=True)

    vol, offset = skimage_to_ours(image)
    geom = cs.ParallelBeamGeometry(-np.deg2rad(theta), n, 1.0, detector_offset_mm=(0.0, offset))
    ours = cs.forward_project(vol, geom)
    assert ours.shape == (len(theta), 1, n)
    assert ours.dtype == np.float32
    err = rel_rmse(ours[:, 0, :], ref.T)
    assert err < 0.02, err
    # the other sense of rotation is clearly wrong: the test can fail
    flipped = cs.forward_project(
        vol, cs.ParallelBeamGeometry(np.deg2rad(theta), n, 1.0, detector_offset_mm=(0.0, offset))
    )
    assert rel_rmse(flipped[:, 0, :], ref.T) > 0.1


def test_plain_array_volume_is_centred_with_unit_voxels():
    img = np.zeros((1, 9, 9))
    img[0, 4, 4] = 1.0
    g = cs.ParallelBeamGeometry([0.0, 0.7], 9, 1.0)
    p = cs.forward_project(img, g)
    # the centre voxel sits on the rotation axis: every view sees it in column 4,
    # symmetric about it; at θ = 0 the ray crosses 1 mm of it
    assert np.all(p[:, 0, :].argmax(axis=1) == 4)
    assert np.allclose(p[:, 0, 3], p[:, 0, 5], atol=1e-6)
    assert p[0, 0, 4] == pytest.approx(1.0, abs=1e-6)


# --------------------------------------------------------------------------------------
# RTK: frame mapping
# --------------------------------------------------------------------------------------


def asymmetric_phantom():
    """Off-centre balls and boxes of different values: no symmetry."""
    shape = (36, 44, 48)
    spacing = (1.0, 0.9, 1.1)
    zz, yy, xx = np.meshgrid(
        *[(np.arange(n) - (n - 1) / 2) * s for n, s in zip(shape, spacing)], indexing="ij"
    )
    vol = np.zeros(shape, np.float32)
    vol[((zz - 5) ** 2 + (yy + 8) ** 2 + (xx - 10) ** 2) < 36] = 0.02
    vol[(np.abs(zz + 8) < 4) & (np.abs(yy - 6) < 7) & (np.abs(xx + 9) < 3)] = 0.05
    vol[(np.abs(zz - 10) < 2) & (np.abs(yy - 12) < 3) & (np.abs(xx - 12) < 6)] = 0.03
    vol[((zz + 3) ** 2 + (yy - 2) ** 2 + (xx + 14) ** 2) < 9] = 0.08
    return cs.Volume(vol, spacing=spacing)


def to_rtk_volume(vol, flip_y=True):
    """Our volume in RTK's frame: x = x_rtk, y = -z_rtk, z = y_rtk, so RTK's array
    (z_rtk, y_rtk, x_rtk) is ours (-y, z, x): ``ours.transpose(1, 0, 2)[::-1]``."""
    a = vol.array
    ny = a.shape[1]
    dz, dy, dx = vol.spacing
    oz, oy, ox = vol.origin
    arr = a.transpose(1, 0, 2)
    if flip_y:
        arr = arr[::-1]
    img = itk.image_from_array(np.ascontiguousarray(arr, dtype=np.float32))
    img.SetSpacing([dx, dz, dy])
    img.SetOrigin([ox, oz, -(oy + (ny - 1) * dy)])
    return img


def rtk_forward(rtk_geometry, rtk_volume, rows, cols, spacing, n_views):
    """RTK's Joseph projector onto projection images with a centred origin."""
    image_type = itk.Image[itk.F, 3]
    src = rtk.ConstantImageSource[image_type].New()
    src.SetOrigin([-(cols - 1) / 2 * spacing[1], -(rows - 1) / 2 * spacing[0], 0.0])
    src.SetSpacing([spacing[1], spacing[0], 1.0])
    src.SetSize([cols, rows, n_views])
    src.SetConstant(0.0)
    fp = rtk.JosephForwardProjectionImageFilter[image_type, image_type].New()
    fp.SetInput(0, src.GetOutput())
    fp.SetInput(1, rtk_volume)
    fp.SetGeometry(rtk_geometry)
    fp.Update()
    return itk.array_from_image(fp.GetOutput())  # (views, rows, cols)


def read_rtk_geometry(path):
    reader = rtk.ThreeDCircularProjectionGeometryXMLFileReader.New()
    reader.SetFilename(str(path))
    reader.GenerateOutputInformation()
    return reader.GetOutputObject()


@needs_rtk
def test_cone_beam_matches_rtk_joseph_through_our_xml(tmp_path):
    vol = asymmetric_phantom()
    angles = np.deg2rad(10.0 + 30.0 * np.arange(12))
    rows, cols, spacing = 40, 60, (1.5, 1.6)
    geom = cs.ConeBeamGeometry(angles, 300.0, 600.0, (rows, cols), spacing, (2.0, -3.0))
    path = tmp_path / "geometry.xml"
    text = geom.to_rtk_xml(path)
    assert path.read_text() == text
    rg = read_rtk_geometry(path)  # RTK also checks our matrices against the parameters
    assert np.allclose(np.rad2deg(np.array(rg.GetGantryAngles())), np.rad2deg(angles) % 360)

    ours = cs.forward_project(vol, geom)
    theirs = rtk_forward(rg, to_rtk_volume(vol), rows, cols, spacing, len(angles))
    assert theirs.shape == ours.shape
    assert rel_rmse(ours, theirs) < 0.02
    # Without the y flip of the mapping the asymmetric phantom disagrees: the test pins it.
    wrong = rtk_forward(rg, to_rtk_volume(vol, flip_y=False), rows, cols, spacing, len(angles))
    assert rel_rmse(ours, wrong) > 0.2
    # and reading the file back gives our geometry again
    back = cs.ConeBeamGeometry.from_rtk_xml(path, (rows, cols), spacing)
    assert isinstance(back, cs.ConeBeamGeometry)
    assert np.allclose(back.view_vectors(), geom.view_vectors(), atol=1e-9)


@needs_rtk
def test_tilted_rtk_geometry_becomes_vector_and_matches_rtk(tmp_path):
    vol = asymmetric_phantom()
    rg = rtk.ThreeDCircularProjectionGeometry.New()
    # SID, SDD, gantry, projection offsets x/y, out-of-plane, in-plane, source offsets x/y
    rg.AddProjection(300.0, 600.0, 20.0, 2.0, -3.0, 4.0, 6.0, 5.0, -4.0)
    rg.AddProjection(320.0, 650.0, 110.0, -1.0, 2.0, -3.0, 0.0, 0.0, 3.0)
    rg.AddProjection(300.0, 600.0, 250.0, 0.0, 0.0, 0.0, -5.0, -2.0, 0.0)
    path = tmp_path / "tilted.xml"
    writer = rtk.ThreeDCircularProjectionGeometryXMLFileWriter.New()
    writer.SetObject(rg)
    writer.SetFilename(str(path))
    writer.WriteFile()

    rows, cols, spacing = 40, 60, (1.5, 1.6)
    geom = cs.ConeBeamGeometry.from_rtk_xml(path, (rows, cols), spacing)
    assert isinstance(geom, cs.VectorGeometry)
    # RTK's own source positions, mapped to ours (z, y, x) = (y_rtk, -z_rtk, x_rtk)
    for i in range(3):
        s = np.array(rg.GetSourcePosition(i))[:3]
        assert np.allclose(geom.view_vectors()[i, :3], [s[1], -s[2], s[0]], atol=1e-9)
    ours = cs.forward_project(vol, geom)
    theirs = rtk_forward(rg, to_rtk_volume(vol), rows, cols, spacing, 3)
    assert rel_rmse(ours, theirs) < 0.02


@needs_rtk
def test_parallel_beam_matches_rtk_joseph(tmp_path):
    vol = asymmetric_phantom()
    rows, cols, spacing = 40, 60, (1.5, 1.6)
    geom = cs.ParallelBeamGeometry(
        np.deg2rad([10.0, 75.0, 200.0]), cols, spacing, detector_rows=rows,
        detector_offset_mm=(1.0, -2.0),
    )
    path = tmp_path / "parallel.xml"
    geom.to_rtk_xml(path)
    ours = cs.forward_project(vol, geom)
    theirs = rtk_forward(read_rtk_geometry(path), to_rtk_volume(vol), rows, cols, spacing, 3)
    assert rel_rmse(ours, theirs) < 0.02


# --------------------------------------------------------------------------------------
# backprojection
# --------------------------------------------------------------------------------------


def test_backproject_matches_numpy_voxel_driven_reference():
    rng = np.random.default_rng(3)
    n_views, cols, pitch = 7, 41, 0.8
    angles = rng.uniform(0, np.pi, n_views)
    sino = rng.uniform(0, 1, (n_views, 1, cols)).astype(np.float32)
    geom = cs.ParallelBeamGeometry(angles, cols, pitch)
    shape, spacing = (1, 24, 26), (1.0, 1.1, 0.9)
    out = cs.backproject(sino, geom, shape, spacing)
    assert isinstance(out, cs.Volume)
    assert out.shape == shape

    # reference: voxel (y, x) projects to detector coordinate u = x cos θ + y sin θ
    # (mm); linear interpolation between column centres, 0 outside; plain sum.
    y = (np.arange(shape[1]) - (shape[1] - 1) / 2) * spacing[1]
    x = (np.arange(shape[2]) - (shape[2] - 1) / 2) * spacing[2]
    yy, xx = np.meshgrid(y, x, indexing="ij")
    centres = (np.arange(cols) - (cols - 1) / 2) * pitch
    ref = np.zeros(shape[1:])
    for i, t in enumerate(angles):
        u = xx * np.cos(t) + yy * np.sin(t)
        edge = np.concatenate([[centres[0] - pitch], centres, [centres[-1] + pitch]])
        vals = np.concatenate([[0.0], sino[i, 0], [0.0]])
        ref += np.interp(u, edge, vals, left=0.0, right=0.0)
    assert np.allclose(out.array[0], ref, atol=1e-4)


# --------------------------------------------------------------------------------------
# geometry objects and bad input
# --------------------------------------------------------------------------------------


def all_geometries():
    angles = np.linspace(0, np.pi, 5, endpoint=False)
    return [
        cs.ParallelBeamGeometry(angles, 16, 1.0),
        cs.ParallelBeamGeometry(angles, 16, (1.5, 1.0), detector_rows=4, detector_offset_mm=(0.5, -1.0)),
        cs.FanBeamGeometry(angles, 300.0, 500.0, 32, 1.2),
        cs.ConeBeamGeometry(angles, 300.0, 500.0, (8, 16), (1.5, 1.2), (0.5, -2.0)),
        cs.VectorGeometry(
            "cone", (4, 5),
            np.array([[0, -300, 10, 0, 200, -5, 0, 0.1, 1.0, 1.0, 0, 0]], dtype=float),
        ),
    ]


@pytest.mark.parametrize("geom", all_geometries(), ids=lambda g: type(g).__name__)
def test_geometry_json_and_pickle_round_trip(geom):
    assert isinstance(geom, cs.Geometry)
    back = cs.Geometry.from_json(geom.to_json())
    assert type(back) is type(geom) and back == geom
    again = pickle.loads(pickle.dumps(geom))
    assert type(again) is type(geom) and again == geom
    assert geom.projection_shape == (geom.n_views, *geom.detector_shape)
    assert geom.view_vectors().shape == (geom.n_views, 12)
    assert repr(geom).startswith(type(geom).__name__)


def test_geometry_properties_follow_the_conventions():
    g = cs.ConeBeamGeometry([0.0], 400.0, 800.0, (9, 17), 1.0)
    v = g.view_vectors()[0]
    # θ = 0: source on -y, columns along +x, rows along +z (vectors are (z, y, x))
    assert np.allclose(v[:3], [0, -400, 0])
    assert np.allclose(v[3:6], [0, 400, 0])
    assert np.allclose(v[6:9], [0, 0, 1]) and np.allclose(v[9:], [1, 0, 0])
    assert g.source_to_isocenter_mm == 400.0 and g.detector_spacing_mm == (1.0, 1.0)
    assert g.beam == "cone"
    p = cs.ParallelBeamGeometry(np.deg2rad(np.arange(180.0)), 8, 1.0)
    assert p.angular_range_rad == pytest.approx(np.pi)
    assert p.beam == "parallel"


def test_bad_input_raises_value_error():
    g = cs.ParallelBeamGeometry([0.0, 1.0], 8, 1.0)
    with pytest.raises(ValueError, match="shape mismatch"):
        cs.backproject(np.zeros((3, 1, 8)), g, (1, 8, 8))
    with pytest.raises(ValueError, match="shape"):
        cs.backproject(np.zeros((2, 1, 8)), g, (0, 8, 8))
    bad = np.zeros((1, 8, 8))
    bad[0, 2, 2] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        cs.forward_project(cs.Volume(bad), g)
    sino = np.zeros((2, 1, 8))
    sino[1, 0, 3] = np.inf
    with pytest.raises(ValueError, match="non-finite"):
        cs.backproject(sino, g, (1, 8, 8))
    with pytest.raises(TypeError, match="geometry"):
        cs.forward_project(np.zeros((1, 4, 4)), "not a geometry")
    with pytest.raises(ValueError, match="source_to_detector_mm"):
        cs.ConeBeamGeometry([0.0], 500.0, 400.0, (4, 4), 1.0)
    with pytest.raises(ValueError, match="angles"):
        cs.FanBeamGeometry([], 300.0, 500.0, 8, 1.0)
    with pytest.raises(ValueError, match="beam"):
        cs.VectorGeometry("fan", (1, 4), np.zeros((1, 12)))
    with pytest.raises(OSError):
        cs.ConeBeamGeometry.from_rtk_xml("/nonexistent/geometry.xml", (4, 4), 1.0)
    with pytest.raises(OSError, match="Vector|vector"):
        all_geometries()[-1].to_rtk_xml()
