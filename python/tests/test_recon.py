"""Reconstruction against independent references: scikit-image's iradon (2D FBP) and
RTK's FDKConeBeamReconstructionFilter (3D cone beam), plus the binding behaviour (GIL
released, Ctrl-C, errors)."""

import _thread
import signal
import threading
import warnings

import numpy as np
import pytest

import ctscreen as cs

try:  # itk-rtk is optional
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import itk
        from itk import RTK as rtk
except Exception as exc:  # pragma: no cover - depends on the environment
    rtk = None
    RTK_REASON = f"itk-rtk cannot be imported: {exc!r}"
else:
    RTK_REASON = ""

needs_rtk = pytest.mark.skipif(rtk is None, reason=RTK_REASON or "itk-rtk missing")


def rmse(a, b, mask=None):
    d = (np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2
    if mask is not None:
        d = d[mask]
    return float(np.sqrt(d.mean()))


# --------------------------------------------------------------------------------------
# 2D: scikit-image
# --------------------------------------------------------------------------------------


def skimage_case(n=256, n_angles=360):
    """Shepp-Logan resized to n², its radon sinogram, and our matching geometry.

    The mapping (also pinned for the projector in test_project.py): skimage's image rows
    are our y, columns our x, 1 mm pixels; its rotation centre is pixel n//2; its angle
    θ (degrees) is our -θ (radians); its detector bin k sits at k - n//2 mm, so our
    column offset is (n-1)/2 - n//2 (-0.5 mm for even n); radon(...)[:, i] is our
    sinogram row i. Our output grid is centred on the isocentre, so an (n+1)² grid puts
    its pixel i at i - n//2 mm, exactly on skimage's pixel i for even n.
    """
    from skimage.data import shepp_logan_phantom
    from skimage.transform import radon, resize

    image = resize(shepp_logan_phantom(), (n, n), anti_aliasing=True)
    yy, xx = np.mgrid[:n, :n]
    inside = np.hypot(yy - n // 2, xx - n // 2) < n // 2 - 1
    image[~inside] = 0.0
    theta = np.linspace(0.0, 180.0, n_angles, endpoint=False)
    sino = radon(image, theta=theta, circle=True)
    geom = cs.ParallelBeamGeometry(
        -np.deg2rad(theta), n, 1.0, detector_offset_mm=(0.0, (n - 1) / 2 - n // 2)
    )
    return image, inside, theta, sino, geom


@pytest.mark.parametrize(
    "ours_name, theirs_name", [("ram-lak", "ramp"), ("shepp-logan", "shepp-logan"), ("hann", "hann")]
)
def test_fbp_shepp_logan_no_worse_than_skimage_iradon(ours_name, theirs_name):
    from skimage.transform import iradon

    image, inside, theta, sino, geom = skimage_case()
    n = image.shape[0]
    theirs = iradon(sino, theta=theta, filter_name=theirs_name, circle=True)
    ours_full = cs.fbp(sino.T, geom, (n + 1, n + 1), (1.0, 1.0), filter=ours_name)
    assert ours_full.dtype == np.float32 and ours_full.shape == (n + 1, n + 1)
    ours = ours_full[:n, :n]
    e_ours, e_theirs = rmse(ours, image, inside), rmse(theirs, image, inside)
    # no worse, up to float32 rounding (we compute in float32, skimage in float64)
    assert e_ours <= e_theirs * (1 + 1e-4), (e_ours, e_theirs)
    # and the two agree closely: the mapping is right
    assert rmse(ours, theirs, inside) < 0.5 * e_theirs
    # the opposite sense of rotation gives a clearly worse image: the test can fail
    wrong = cs.ParallelBeamGeometry(np.deg2rad(theta), n, 1.0, detector_offset_mm=(0.0, -0.5))
    flipped = cs.fbp(sino.T, wrong, (n + 1, n + 1), (1.0, 1.0), filter=ours_name)[:n, :n]
    assert rmse(flipped, image, inside) > 2 * e_ours


def test_fbp_accepts_any_dtype_and_layout():
    image, inside, theta, sino, geom = skimage_case(64, 90)
    a = cs.fbp(sino.T.astype(np.float64), geom, (65, 65))
    b = cs.fbp(np.asfortranarray(sino.T.astype(np.float32)), geom, (65, 65))
    assert np.array_equal(a, b)


# --------------------------------------------------------------------------------------
# 3D: RTK's FDK on analytic cone-beam projections of a 3D Shepp-Logan phantom
# --------------------------------------------------------------------------------------

# (value, semi-axes x, y, z, centre x, y, z, rotation about z in degrees), in units of
# the phantom radius; the modified 3D Shepp-Logan head (no out-of-plane tilts).
SHEPP_LOGAN_3D = [
    (1.0, 0.69, 0.92, 0.81, 0.0, 0.0, 0.0, 0.0),
    (-0.8, 0.6624, 0.874, 0.78, 0.0, -0.0184, 0.0, 0.0),
    (-0.2, 0.11, 0.31, 0.22, 0.22, 0.0, 0.0, -18.0),
    (-0.2, 0.16, 0.41, 0.28, -0.22, 0.0, 0.0, 18.0),
    (0.1, 0.21, 0.25, 0.41, 0.0, 0.35, -0.15, 0.0),
    (0.1, 0.046, 0.046, 0.05, 0.0, 0.1, 0.25, 0.0),
    (0.1, 0.046, 0.046, 0.05, 0.0, -0.1, 0.25, 0.0),
    (0.1, 0.046, 0.023, 0.05, -0.08, -0.605, 0.0, 0.0),
    (0.1, 0.023, 0.023, 0.02, 0.0, -0.606, 0.0, 0.0),
    (0.1, 0.023, 0.046, 0.02, 0.06, -0.605, 0.0, 0.0),
]


def ellipsoids(radius=35.0, mu=0.02):
    for v, a, b, c, x0, y0, z0, phi in SHEPP_LOGAN_3D:
        yield (
            v * mu,
            np.array([c, b, a]) * radius,  # semi-axes (z, y, x)
            np.array([z0, y0, x0]) * radius,  # centre (z, y, x)
            np.deg2rad(phi),
        )


def to_ellipsoid_frame(p, axes, centre, phi):
    """World points (..., 3) as (z, y, x) into the unit-sphere frame of an ellipsoid
    rotated by phi about z."""
    q = p - centre
    c, s = np.cos(phi), np.sin(phi)
    z, y, x = q[..., 0], q[..., 1], q[..., 2]
    return np.stack([z / axes[0], (c * y - s * x) / axes[1], (c * x + s * y) / axes[2]], -1)


def analytic_projections(geom):
    """Exact line integrals of the phantom for every detector pixel of geom."""
    vv = geom.view_vectors()  # (views, 12): source, detector centre, u, v as (z, y, x)
    rows, cols = geom.detector_shape
    src, det, u, v = vv[:, 0:3], vv[:, 3:6], vv[:, 6:9], vv[:, 9:12]
    cu = np.arange(cols) - (cols - 1) / 2
    cv = np.arange(rows) - (rows - 1) / 2
    pix = (
        det[:, None, None, :]
        + cu[None, None, :, None] * u[:, None, None, :]
        + cv[None, :, None, None] * v[:, None, None, :]
    )
    d = pix - src[:, None, None, :]
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    s = np.broadcast_to(src[:, None, None, :], d.shape)
    out = np.zeros(d.shape[:-1])
    for value, axes, centre, phi in ellipsoids():
        q = to_ellipsoid_frame(s, axes, centre, phi)
        e = to_ellipsoid_frame(s + d, axes, centre, phi) - q  # direction, same frame
        a = (e * e).sum(-1)
        b = (q * e).sum(-1)
        c = (q * q).sum(-1) - 1.0
        disc = np.maximum(b * b - a * c, 0.0)
        out += value * 2.0 * np.sqrt(disc) / a
    return out.astype(np.float32)


def voxelize(shape, spacing, sub=2):
    """The phantom on a centred grid, averaged over sub³ samples per voxel."""
    acc = np.zeros(shape)
    offs = (np.arange(sub) + 0.5) / sub - 0.5
    for oz in offs:
        for oy in offs:
            for ox in offs:
                grids = [
                    (np.arange(n) - (n - 1) / 2 + o) * sp
                    for n, sp, o in zip(shape, spacing, (oz, oy, ox))
                ]
                p = np.stack(np.meshgrid(*grids, indexing="ij"), -1)
                for value, axes, centre, phi in ellipsoids():
                    q = to_ellipsoid_frame(p, axes, centre, phi)
                    acc += value * ((q * q).sum(-1) <= 1.0)
    return acc / sub**3


def to_rtk_volume(array, spacing):
    """Our (z, y, x) grid centred on the isocentre, in RTK's frame (rotation about y):
    x = x_rtk, y = -z_rtk, z = y_rtk, so RTK's array (z_rtk, y_rtk, x_rtk) is ours
    (-y, z, x): ``ours.transpose(1, 0, 2)[::-1]`` (pinned in test_project.py)."""
    nz, ny, nx = array.shape
    dz, dy, dx = spacing
    img = itk.image_from_array(np.ascontiguousarray(array.transpose(1, 0, 2)[::-1], np.float32))
    img.SetSpacing([dx, dz, dy])
    img.SetOrigin([-(nx - 1) / 2 * dx, -(nz - 1) / 2 * dz, -(ny - 1) / 2 * dy])
    return img


def from_rtk_volume(img):
    return itk.array_from_image(img)[::-1].transpose(1, 0, 2)


def rtk_fdk(geom, proj, shape, spacing, tmp_path):
    path = tmp_path / "geometry.xml"
    geom.to_rtk_xml(path)
    reader = rtk.ThreeDCircularProjectionGeometryXMLFileReader.New()
    reader.SetFilename(str(path))
    reader.GenerateOutputInformation()
    rg = reader.GetOutputObject()
    rows, cols = geom.detector_shape
    dv, du = geom.detector_spacing_mm
    p = itk.image_from_array(np.ascontiguousarray(proj, np.float32))
    p.SetSpacing([du, dv, 1.0])
    p.SetOrigin([-(cols - 1) / 2 * du, -(rows - 1) / 2 * dv, 0.0])
    image_type = itk.Image[itk.F, 3]
    fdk = rtk.FDKConeBeamReconstructionFilter[image_type].New()
    fdk.SetInput(0, to_rtk_volume(np.zeros(shape, np.float32), spacing))
    fdk.SetInput(1, p)
    fdk.SetGeometry(rg)
    fdk.Update()
    return from_rtk_volume(fdk.GetOutput())


@needs_rtk
def test_fdk_within_rtk_band_on_analytic_shepp_logan(tmp_path):
    angles = np.deg2rad(np.arange(0.0, 360.0, 3.0))
    geom = cs.ConeBeamGeometry(angles, 300.0, 600.0, (96, 128), (1.5, 1.5), (0.0, 0.0))
    proj = analytic_projections(geom)
    shape, spacing = (48, 72, 72), (1.0, 1.0, 1.0)
    truth = voxelize(shape, spacing)
    head = truth > 0.0

    ours = cs.fdk(proj, geom, shape, spacing).array
    theirs = rtk_fdk(geom, proj, shape, spacing, tmp_path)
    assert theirs.shape == ours.shape
    e_ours, e_rtk = rmse(ours, truth, head), rmse(theirs, truth, head)
    assert e_ours <= 1.1 * e_rtk, (e_ours, e_rtk)
    # the same image, voxel by voxel (same frame, same scaling)
    assert rmse(ours, theirs, head) < 0.5 * e_rtk
    assert abs(ours[head].mean() - theirs[head].mean()) < 0.02 * abs(theirs[head].mean())


@needs_rtk
def test_fdk_detector_offset_matches_rtk(tmp_path):
    angles = np.deg2rad(np.arange(0.0, 360.0, 3.0))
    geom = cs.ConeBeamGeometry(angles, 300.0, 600.0, (96, 128), (1.5, 1.5), (4.5, -6.0))
    proj = analytic_projections(geom)
    shape, spacing = (40, 64, 64), (1.0, 1.1, 1.1)
    truth = voxelize(shape, spacing)
    head = truth > 0.0
    ours = cs.fdk(proj, geom, shape, spacing).array
    theirs = rtk_fdk(geom, proj, shape, spacing, tmp_path)
    e_ours, e_rtk = rmse(ours, truth, head), rmse(theirs, truth, head)
    assert e_ours <= 1.1 * e_rtk, (e_ours, e_rtk)


# --------------------------------------------------------------------------------------
# iterative and MAR
# --------------------------------------------------------------------------------------


def test_iterative_solvers_reduce_the_residual():
    image, inside, theta, sino, geom = skimage_case(48, 60)
    proj = sino.T[:, None, :].astype(np.float32) * 0.02
    for solve in (cs.sirt, cs.cgls, cs.sart):
        vol, res = solve(proj, geom, (1, 49, 49), iterations=8, return_residuals=True, tol=0.0)
        assert isinstance(vol, cs.Volume) and vol.shape == (1, 49, 49)
        assert res[-1] < 0.5 * res[0], (solve.__name__, res)
    plain = cs.sirt(proj, geom, (1, 49, 49), iterations=2)
    assert isinstance(plain, cs.Volume)
    with pytest.raises(ValueError, match="relaxation"):
        cs.sirt(proj, geom, (1, 49, 49), relaxation=3.0)


def test_mar_keeps_metal_and_runs():
    angles = np.deg2rad(np.arange(0.0, 360.0, 3.0))
    geom = cs.ConeBeamGeometry(angles, 300.0, 600.0, (4, 96), (1.0, 1.0))
    vol = np.zeros((4, 48, 48), np.float32)
    yy, xx = np.mgrid[:48, :48] - 23.5
    vol[:, np.hypot(yy, xx) < 18] = 0.02
    vol[:, np.hypot(yy, xx - 8) < 3] = 0.5
    proj = cs.forward_project(cs.Volume(vol), geom)
    for method in ("li", "nmar"):
        out = cs.mar(proj, geom, (4, 48, 48), method=method)
        assert isinstance(out, cs.Volume)
        assert out.array[2, 24, 32] > 0.08  # the metal is pasted back
    with pytest.raises(ValueError, match="method"):
        cs.mar(proj, geom, (4, 48, 48), method="magic")


# --------------------------------------------------------------------------------------
# bindings
# --------------------------------------------------------------------------------------


def slow_case():
    angles = np.linspace(0.0, 2 * np.pi, 240, endpoint=False)
    geom = cs.ConeBeamGeometry(angles, 300.0, 600.0, (96, 128), (1.0, 1.0))
    proj = np.random.default_rng(0).random((240, 96, 128), dtype=np.float32)
    return geom, proj


def test_fdk_releases_the_gil():
    geom, proj = slow_case()
    counter = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            counter[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        before = counter[0]
        vol = cs.fdk(proj, geom, (96, 96, 96), (0.5, 0.5, 0.5))
        after = counter[0]
    finally:
        stop.set()
        t.join()
    assert vol.shape == (96, 96, 96)
    assert after - before > 1000, after - before


def test_fdk_is_interrupted_by_ctrl_c():
    geom, proj = slow_case()
    # Python leaves SIGINT ignored when it starts with it ignored (a background job of a
    # non-interactive shell), and then interrupt_main does nothing: install the usual
    # handler for the test.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.2, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            for _ in range(20):  # far longer than the timer
                cs.fdk(proj, geom, (128, 128, 128), (0.5, 0.5, 0.5))
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)


def test_fdk_progress_bar_and_errors(capsys):
    pytest.importorskip("tqdm")
    angles = np.linspace(0.0, 2 * np.pi, 40, endpoint=False)
    geom = cs.ConeBeamGeometry(angles, 300.0, 600.0, (8, 32), (1.0, 1.0))
    proj = np.zeros((40, 8, 32), np.float32)
    vol = cs.fdk(proj, geom, (4, 16, 16), progress=True)
    assert np.all(vol.array == 0)
    with pytest.raises(ValueError, match="shape mismatch"):
        cs.fdk(proj[:, :, :31], geom, (4, 16, 16))
    bad = proj.copy()
    bad[0, 0, :3] = np.nan
    with pytest.raises(ValueError, match="3 non-finite"):
        cs.fdk(bad, geom, (4, 16, 16))
    with pytest.raises(ValueError, match="filter"):
        cs.fdk(proj, geom, (4, 16, 16), filter="gauss")
    with pytest.raises(ValueError):
        cs.fdk(np.zeros((0, 8, 32)), geom, (4, 16, 16))
    with pytest.raises(TypeError):
        cs.fdk(proj, "not a geometry", (4, 16, 16))


def test_fdk_reads_strided_and_float64_projections_like_contiguous_float32():
    """fdk reads the NumPy array in place whatever its strides (no copy), and converts
    other dtypes; every layout must give the bit-identical volume."""
    angles = np.linspace(0.0, 2 * np.pi, 36, endpoint=False)
    geom = cs.ConeBeamGeometry(angles, 300.0, 600.0, (8, 24), (1.0, 1.0))
    proj = np.random.default_rng(5).random((36, 8, 24), dtype=np.float32)
    want = cs.fdk(proj, geom, (6, 12, 12)).array
    # Stored (cols, rows, views) and transposed back: a view with reversed strides.
    strided = np.ascontiguousarray(proj.transpose(2, 1, 0)).transpose(2, 1, 0)
    assert not strided.flags.c_contiguous
    # Every other element of a larger array: non-unit strides.
    spaced = np.zeros((36, 16, 48), np.float32)
    spaced[:, ::2, ::2] = proj
    for other in (strided, spaced[:, ::2, ::2], proj.astype(np.float64)):
        np.testing.assert_array_equal(cs.fdk(other, geom, (6, 12, 12)).array, want)


def test_mar_reads_strided_and_float64_projections_like_contiguous_float32():
    """mar, like fdk, reads the NumPy array in place; every layout gives the same volume,
    and the metal (a dense bar in water) is found and pasted back in each."""
    angles = np.linspace(0.0, 2 * np.pi, 48, endpoint=False)
    geom = cs.ConeBeamGeometry(angles, 300.0, 600.0, (8, 40), (1.0, 1.0))
    vol = np.zeros((6, 20, 20), np.float32)
    vol[:, 4:16, 4:16] = 0.02
    vol[2:4, 9:11, 12:14] = 0.5
    proj = np.ascontiguousarray(cs.forward_project(cs.Volume(vol), geom), dtype=np.float32)
    want = cs.mar(proj, geom, (6, 20, 20), method="li").array
    assert want.max() > 0.3
    strided = np.ascontiguousarray(proj.transpose(2, 1, 0)).transpose(2, 1, 0)
    assert not strided.flags.c_contiguous
    for other in (strided, proj.astype(np.float64)):
        np.testing.assert_allclose(
            cs.mar(other, geom, (6, 20, 20), method="li").array, want, rtol=0, atol=1e-6
        )
