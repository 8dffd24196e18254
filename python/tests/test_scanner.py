"""The model scanner: its geometry covers the field of view, and scan + reconstruct
gives back the parcel that was scanned (against the parcel's own voxelisation)."""

import math

import numpy as np
import pytest

import ctscreen as cs

N = 64
FOV = 360.0


def test_scanner_geometry_sees_the_whole_field_of_view():
    g = cs.scanner_geometry((N, N, N), FOV, 0)
    assert g.n_views == 96  # 1.5 × 64, at least 90
    assert cs.scanner_geometry((32, 32, 32), FOV, 0).n_views == 90
    magnification = g.source_to_detector_mm / g.source_to_isocenter_mm
    rows, cols = g.detector_shape
    dv, du = g.detector_spacing_mm
    # Every angle sees the square's diagonal across, and the whole height.
    assert cols * du / magnification >= math.sqrt(2.0) * FOV
    assert rows * dv / magnification >= FOV
    # The source stays outside the field of view's circumscribed cylinder.
    assert g.source_to_isocenter_mm > math.sqrt(2.0) * FOV / 2


@pytest.fixture(scope="module")
def scanned():
    out = []
    for seed in (4, 9):
        parcel = cs.phantom.parcel(seed=seed, threats=["pistol"], max_extent_mm=300.0)
        vol = cs.scan_parcel(parcel, shape=(N, N, N), field_of_view_mm=FOV, views=96)
        out.append((parcel, vol))
    return out


def test_scan_reconstructs_the_parcel(scanned):
    for parcel, vol in scanned:
        assert vol.shape == (N, N, N)
        assert vol.spacing == pytest.approx((FOV / N,) * 3)
        # Centred on the isocentre.
        assert vol.origin == pytest.approx((-(N - 1) / 2 * FOV / N,) * 3)
        truth = parcel.voxelize((N, N, N), vol.spacing).array
        a = vol.array
        r = np.corrcoef(a.ravel(), truth.ravel())[0, 1]
        assert r > 0.75, f"seed {parcel.seed}: correlation with the truth {r:.3f}"
        # Air well away from every object stays air: no metal streaks or normalisation
        # blow-ups (which once reached several mm⁻¹ here).
        air = cs.binary_erosion(truth == 0, cs.ball(2))
        assert air.sum() > 0.2 * a.size
        assert np.percentile(np.abs(a[air]), 99.9) < 0.02
        assert np.abs(a).max() < truth.max()


def test_scan_is_deterministic_in_its_seed(scanned):
    parcel, vol = scanned[0]
    again = cs.scan_parcel(parcel, shape=(N, N, N), field_of_view_mm=FOV, views=96)
    assert np.array_equal(again.array, vol.array)
    other = cs.scan_parcel(parcel, shape=(N, N, N), field_of_view_mm=FOV, views=96, seed=parcel.seed + 1)
    assert not np.array_equal(other.array, vol.array)
    # Same scene, another noise draw: the same picture.
    assert np.corrcoef(other.array.ravel(), vol.array.ravel())[0, 1] > 0.95


def test_bad_scanner_input_is_a_value_error():
    parcel = cs.phantom.parcel(seed=1)
    with pytest.raises(ValueError, match="shape"):
        cs.scan_parcel(parcel, shape=(0, N, N))
    with pytest.raises(ValueError, match="field_of_view_mm"):
        cs.scan_parcel(parcel, shape=(N, N, N), field_of_view_mm=-1.0)
    with pytest.raises(ValueError, match="field_of_view_mm"):
        cs.scanner_geometry((N, N, N), float("nan"), 0)
