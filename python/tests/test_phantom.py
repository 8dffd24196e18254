"""The scan simulator from Python: parcel determinism and pickling, voxelisation,
simulate, and Shepp-Logan's exact projections against scikit-image's radon transform
of our voxelised image."""

import pickle

import numpy as np
import pytest

import ctscreen as cs


def small_parcel(seed=7, threats=("pistol",)):
    return cs.phantom.parcel(seed=seed, threats=list(threats), max_extent_mm=260.0)


def test_parcel_is_deterministic_and_lists_its_threats():
    a = small_parcel()
    b = small_parcel()
    assert a.objects == b.objects
    assert [o["label"] for o in a.objects] == list(range(1, len(a.objects) + 1))
    kinds = [o["kind"] for o in a.threats()]
    assert kinds == ["pistol_polymer"]
    assert a.objects[0]["cls"] == "container"
    c = small_parcel(seed=8)
    assert c.objects != a.objects
    gun = a.threats()[0]
    assert 105.0 <= gun["features"]["grip_angle_deg"] <= 112.0
    assert gun["cls"] == "firearm" and gun["material"] == "steel"
    z0, y0, x0, z1, y1, x1 = gun["bbox_mm"]
    assert z0 < z1 and y0 < y1 and x0 < x1
    assert all(d <= 260.0 + 1e-9 for d in a.extent_mm)


def test_threat_names_and_errors():
    p = cs.phantom.parcel(seed=1, threats=["cartridges_boxed", "knife"], max_extent_mm=300)
    kinds = {o["kind"] for o in p.objects}
    assert {"cartridge_box", "cartridge_9x19", "knife"} <= kinds
    for o in p.objects:
        if o["kind"] == "cartridge_9x19":
            assert o["size_mm"][0] == pytest.approx(29.69, abs=0.05)
            assert o["size_mm"][1] == pytest.approx(9.93, abs=0.05)
    benign = cs.phantom.parcel(seed=1, threats=[])
    assert benign.threats() == []
    with pytest.raises(ValueError, match="threats"):
        cs.phantom.parcel(seed=1, threats=["bazooka"])
    with pytest.raises(ValueError, match="max_extent_mm"):
        cs.phantom.parcel(seed=1, threats=["barrel"], max_extent_mm=70, hide_probability=0)
    assert "pistol_polymer" in cs.phantom.THREAT_KINDS


def test_pickle_round_trip():
    a = small_parcel(seed=3, threats=["revolver", "cartridges"])
    b = pickle.loads(pickle.dumps(a))
    assert isinstance(b, cs.Parcel)
    assert b.objects == a.objects
    assert b.seed == 3 and b.options == a.options
    ph = cs.phantom.Phantom.shepp_logan_3d(50.0)
    ph2 = pickle.loads(pickle.dumps(ph))
    assert ph2.objects == ph.objects and len(ph2) == 10
    bad = ph.to_json().replace('"semi_axes":[', '"semi_axes":[-', 1)
    with pytest.raises(ValueError, match="semi-axis"):
        cs.phantom.Phantom(bad)


def test_voxelize_shape_spacing_and_labels():
    p = small_parcel()
    vol = p.voxelize((40, 48, 44), (6.0, 5.5, 6.0))
    assert isinstance(vol, cs.Volume)
    assert vol.shape == (40, 48, 44)
    assert vol.spacing == (6.0, 5.5, 6.0)
    # centred on the isocentre
    assert vol.origin == pytest.approx((-117.0, -129.25, -129.0))
    arr = vol.array
    assert arr.dtype == np.float32 and arr.max() > 0.1  # steel somewhere
    labels = p.truth_labels((40, 48, 44), (6.0, 5.5, 6.0))
    assert labels.dtype == np.uint32 and labels.shape == (40, 48, 44)
    assert labels.max() <= len(p.objects)
    gun = p.threats()[0]
    assert (labels == gun["label"]).sum() > 10
    # where the labels say "nothing", μ is (almost) nothing
    assert float(arr[labels == 0].mean()) < 0.01
    same = p.voxelize((40, 48, 44), (6.0, 5.5, 6.0))
    assert np.array_equal(same.array, arr)


def test_simulate_shape_determinism_and_physics():
    p = small_parcel()
    angles = np.linspace(0, np.pi, 8, endpoint=False)
    geom = cs.ConeBeamGeometry(angles, 600.0, 1000.0, (16, 48), (8.0, 8.0))
    a = cs.simulate(p, geom, spectrum_kvp=120, photons=1e5, seed=7)
    b = cs.simulate(p, geom, spectrum_kvp=120, photons=1e5, seed=7)
    assert a.shape == (8, 16, 48) and a.dtype == np.float32
    assert np.array_equal(a, b)
    c = cs.simulate(p, geom, spectrum_kvp=120, photons=1e5, seed=8)
    assert not np.array_equal(a, c)
    # noiseless polychromatic projections sit near the exact ones at the effective
    # energy where the parcel is thin (cardboard, clothes)
    clean = cs.simulate(p, geom, noise=False)
    exact = cs.analytic_projections(p, geom)
    thin = exact < 0.5
    assert thin.sum() > 50
    assert np.abs(clean[thin] - exact[thin]).mean() < 0.05
    # an energy-integrating detector weights the hard photons that get through, so
    # most thick rays read lower (not all: K edges and the starvation floor)
    ei = cs.simulate(p, geom, noise=False, detector="energy_integrating")
    thick = (clean > 1.0) & (clean < 9.0)
    assert thick.sum() > 10 and np.mean(ei[thick] < clean[thick]) > 0.9
    with pytest.raises(ValueError, match="detector"):
        cs.simulate(p, geom, detector="film")
    with pytest.raises(ValueError, match="spectrum_kvp"):
        cs.simulate(p, geom, spectrum_kvp=1000)
    with pytest.raises(TypeError):
        cs.simulate("not a parcel", geom)


def test_materials_and_spectrum():
    assert "steel" in cs.phantom.materials()
    # NIST: iron at 100 keV, 0.3717 cm²/g × 7.85 g/cm³
    assert cs.phantom.mu_per_mm("steel", 100.0) == pytest.approx(0.3717 * 7.85 / 10, rel=1e-9)
    e, w = cs.phantom.spectrum(120.0)
    assert e.shape == w.shape and w.sum() == pytest.approx(1.0)
    eff = cs.phantom.effective_energy_kev(120.0)
    assert 50.0 < eff < 80.0
    assert cs.phantom.effective_energy_kev(140.0) > eff


def _rel_rmse(a, b):
    return float(np.sqrt(np.mean((a - b) ** 2)) / np.sqrt(np.mean(b**2)))


def test_shepp_logan_2d_exact_projection_matches_radon_of_its_image():
    """Our exact parallel projections of Shepp-Logan 2D against skimage's radon of our
    voxelised image. Axis mapping as pinned in test_project.py: image rows along y,
    columns along x, pixel (N//2, N//2) at the isocentre (N odd: our grid centre),
    our angle = -theta, radon(...)[:, i] = projections[i, 0, :]."""
    from skimage.transform import radon

    n = 129
    img = cs.phantom.shepp_logan_2d(n, 1.0)
    assert img.shape == (n, n) and img.dtype == np.float32
    assert img[n // 2, n // 2] == pytest.approx(0.02, abs=1e-6)
    theta = np.arange(0.0, 180.0, 3.0)
    ref = radon(img.astype(np.float64), theta=theta, circle=True)
    ph = cs.phantom.Phantom.shepp_logan_2d(n / 2.0)
    geom = cs.ParallelBeamGeometry(-np.deg2rad(theta), n, 1.0)
    ours = cs.analytic_projections(ph, geom)
    assert ours.shape == (len(theta), 1, n)
    err = _rel_rmse(ours[:, 0, :], ref.T)
    assert err < 0.03, err
    # the opposite sense of rotation is clearly worse: the comparison can fail
    flipped = cs.analytic_projections(ph, cs.ParallelBeamGeometry(np.deg2rad(theta), n, 1.0))
    assert _rel_rmse(flipped[:, 0, :], ref.T) > 2 * err


def test_phantom_builder_line_integrals():
    ph = cs.phantom.Phantom().add_tube((0, 0, 0), 10.0, 6.0, 50.0, material="steel", axis=(0, 0, 1))
    # across the tube axis through the centre: two walls of 4 mm
    lengths = ph.path_lengths((0.0, -100.0, 0.0), (0.0, 1.0, 0.0))
    assert lengths["steel"] == pytest.approx(8.0)
    assert ph.line_integral((0.0, -100.0, 0.0), (0.0, 1.0, 0.0), 100.0) == pytest.approx(
        8.0 * cs.phantom.mu_per_mm("steel", 100.0)
    )
    vol = ph.voxelize((24, 24, 64), 1.0, energy_kev=100.0)
    a = vol.array
    assert a[12, 12, 32] == 0.0  # the bore
    assert a[12, 3, 32] == pytest.approx(cs.phantom.mu_per_mm("steel", 100.0), rel=1e-5)
    with pytest.raises(ValueError, match="inner_radius"):
        cs.phantom.Phantom().add_tube((0, 0, 0), 5.0, 6.0, 10.0)
    with pytest.raises(ValueError, match="material"):
        cs.phantom.Phantom().add_cuboid((0, 0, 0), (1, 1, 1), material="kryptonite")


def test_shepp_logan_3d_volume():
    vol = cs.phantom.shepp_logan_3d((32, 32, 32), 2.0)
    assert vol.shape == (32, 32, 32) and vol.spacing == (2.0, 2.0, 2.0)
    assert vol.array[16, 16, 16] == pytest.approx(0.0204, abs=2e-3)
