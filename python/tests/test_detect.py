"""Detection and evaluation from Python, checked against analytic shapes and scipy."""

import json
import pickle

import numpy as np
import pytest
from scipy import ndimage as ndi

import ctscreen as cs


def steel_tube(bore_mm=9.0, outer_mm=20.0, length_mm=100.0, spacing=1.0):
    """A steel tube along x with a round bore, in air. Its μ, 0.3 mm⁻¹, is steel as a
    120 kVp reconstruction shows it (the beam through steel is hard: about 100 keV,
    where steel is 0.29 mm⁻¹ and lead 6 mm⁻¹); twice steel's μ there reads as lead."""
    nz, ny, nx = 40, 40, 130
    z, y, x = np.mgrid[:nz, :ny, :nx].astype(float) * spacing
    r = np.hypot(z - 20 * spacing, y - 20 * spacing)
    inside = (x >= 15) & (x < 15 + length_mm) & (r <= outer_mm / 2) & (r >= bore_mm / 2)
    return np.where(inside, 0.3, 0.0).astype(np.float32)


def test_tube_reports_its_bore_and_the_voxels_scipy_labels():
    a = steel_tube()
    vol = cs.Volume(a, spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0))
    report = cs.detect(vol)
    assert report.findings, report
    f = report.findings[0]
    assert f.kind == "firearm_part"
    assert f.score >= report.threshold
    # the bore: 9 mm across (analytic), within a voxel and a half
    assert abs(f.features["bore_diameter_mm"] - 9.0) < 1.5, f.features
    assert any("bore" in e for e in f.evidence)
    # the object: scipy's 26-connected component of the voxels above the growing threshold
    mask = a >= 0.08  # the detector's growing threshold (low_mu)
    labels, n = ndi.label(mask, structure=np.ones((3, 3, 3)))
    assert n == 1
    assert f.voxel_count == int(mask.sum())
    sl = ndi.find_objects(labels)[0]
    # bbox_mm: voxel edges in world mm (origin 0, spacing 1)
    want = [s.start - 0.5 for s in sl] + [s.stop - 0.5 for s in sl]
    np.testing.assert_allclose(f.bbox_mm, want, atol=1e-9)
    # the material of 0.6 mm⁻¹ at the metal energy is steel, its solid volume the tube's
    assert f.material == "steel"
    tube_mm3 = np.pi * (10.0**2 - 4.5**2) * 100.0
    assert abs(f.volume_mm3 - tube_mm3) / tube_mm3 < 0.15
    # the report survives JSON and pickle
    back = pickle.loads(pickle.dumps(report))
    assert back.to_json() == report.to_json()


def test_monochromatic_volume_reads_steel_at_its_own_energy():
    """A volume voxelised at 70 keV shows steel at its 70 keV μ (NIST: about 0.65 mm⁻¹),
    more than twice steel's 100 keV μ that the detector assumes for reconstructions.
    Read as such it is not steel; told the metal energy, it is steel again."""
    mu70 = cs.phantom.mu_per_mm("steel", 70.0)
    mu100 = cs.phantom.mu_per_mm("steel", 100.0)
    assert mu70 > 2.0 * mu100  # the premise: the default reading is off by > 2x
    a = steel_tube() * np.float32(mu70 / 0.3)
    vol = cs.Volume(a, spacing=(1.0, 1.0, 1.0))
    default = cs.detect(vol, energy_kev=70.0).findings[0]
    assert default.material != "steel"
    told = cs.detect(vol, energy_kev=70.0, metal_energy_kev=70.0).findings[0]
    assert told.material == "steel"
    assert told.kind == "firearm_part"
    assert abs(told.features["bore_diameter_mm"] - 9.0) < 1.5
    with pytest.raises(ValueError, match="metal_energy_kev"):
        cs.detect(vol, metal_energy_kev=500.0)


def test_air_gives_an_empty_clear_report():
    vol = cs.Volume(np.full((16, 16, 16), 0.0002, np.float32), spacing=(1.0, 1.0, 1.0))
    report = cs.detect(vol)
    assert report.findings == []
    assert report.verdict == "clear"


def test_nan_voxels_are_refused_with_their_count():
    a = steel_tube()
    a[1, 2, 3] = np.nan
    a[5, 6, 7] = np.nan
    a[9, 9, 9] = np.inf
    with pytest.raises(ValueError, match=r"\b3\b"):
        cs.detect(cs.Volume(a, spacing=(1.0, 1.0, 1.0)))


def test_evaluate_set_counts_add_up():
    e = cs.evaluate_set(parcels=2, size=48, mode="truth")
    json.dumps(e)  # plain data
    assert e["parcels"] == 2
    assert e["benign_parcels"] + e["threat_parcels"] == 2
    assert e["threat_parcels"] == 1  # every other parcel, the second
    assert e["seed_range"] == [1_000_000, 1_000_002]
    per = e["per_parcel"]
    assert [p["seed"] for p in per] == [1_000_000, 1_000_001]
    assert per[0]["threats"] == [] and per[1]["threats"]
    for cls, c in e["per_class"].items():
        total = sum(p["scores"]["per_class"][cls]["total"] for p in per)
        detected = sum(p["scores"]["per_class"][cls]["detected"] for p in per)
        assert (c["total"], c["detected"]) == (total, detected), cls
        assert c["classified"] <= c["detected"] <= c["total"]
        assert c["recall"] == pytest.approx(detected / total if total else 1.0)
    assert sum(c["total"] for c in e["per_class"].values()) >= 1
    fa = sum(p["scores"]["false_alarms"] for p in per if not p["threats"])
    assert e["false_alarms_benign"] == fa
    assert e["false_alarms_per_benign_parcel"] == pytest.approx(fa / e["benign_parcels"])
    roc = e["roc"]
    assert [r["threshold"] for r in roc] == sorted(r["threshold"] for r in roc)
    for lo, hi in zip(roc, roc[1:]):
        assert lo["threat_parcels_alarmed"] >= hi["threat_parcels_alarmed"]
        assert lo["benign_parcels_alarmed"] >= hi["benign_parcels_alarmed"]
    # the parcel verdict score is the report's best finding score
    assert all(0.0 <= p["verdict_score"] <= 1.0 for p in per)
    # the reliability table holds every finding once; its error is recomputed here
    cal = e["calibration"]
    bins = cal["bins"]
    assert len(bins) == 10 and bins[0]["score_range"] == [0.0, 0.1]
    assert cal["findings"] == sum(b["findings"] for b in bins) == sum(p["findings"] for p in per)
    assert cal["findings"] > 0
    for b in bins:
        lo, hi = b["score_range"]
        assert b["findings"] == 0 or lo <= b["mean_score"] <= hi
        assert 0.0 <= b["threat_share"] <= 1.0
    ece = sum(b["findings"] * abs(b["mean_score"] - b["threat_share"]) for b in bins) / cal["findings"]
    assert cal["expected_calibration_error"] == pytest.approx(ece)
    # every finding's outcome is listed, with the shipped map's probability of its score
    outcomes = [o for p in per for o in p["finding_outcomes"]]
    assert len(outcomes) == cal["findings"]
    shipped = cs.ScoreMap.builtin()
    for o in outcomes:
        assert o["threat_probability"] == pytest.approx(shipped.probability(o["score"]))
    pcal = e["probability_calibration"]
    assert pcal["findings"] == len(outcomes)
    assert sum(b["findings"] * b["threat_share"] for b in pcal["bins"]) == pytest.approx(
        sum(o["threat"] for o in outcomes)
    )


def test_evaluate_set_refuses_bad_options():
    with pytest.raises(ValueError, match="parcels"):
        cs.evaluate_set(parcels=0)
    with pytest.raises(ValueError, match="size"):
        cs.evaluate_set(parcels=1, size=4)
    with pytest.raises(ValueError, match="mode"):
        cs.evaluate_set(parcels=1, mode="xray")
    with pytest.raises(ValueError, match="photons"):
        cs.evaluate_set(parcels=1, photons=0.0)


def test_thick_walled_tube_is_a_shield_as_scipy_projections_say():
    """A copper-like tube along z (the scanner's rotation axis), walls 12 mm thick at
    0.4 mm⁻¹ around a 28 mm bore: every ray through the bore crosses 24 mm of wall
    (∫μ dl = 9.6) and a point in the wall at radius r has its weakest ray along the
    chord 2·√(b² − r²). Against the default opacity of 8 the unseen region is the
    disc r ≤ √(26² − 10²) = 24 mm (analytic), which scipy's rotated projections of
    the middle slice reproduce; the shield's area per slice matches both."""
    n, length = 72, 40
    z, y, x = np.mgrid[:n, :n, :n].astype(float)
    r = np.hypot(y - (n - 1) / 2, x - (n - 1) / 2)
    tube = (r >= 14.0) & (r <= 26.0) & (np.abs(z - (n - 1) / 2) < length / 2)
    a = np.where(tube, 0.4, 0.0).astype(np.float32)
    vol = cs.Volume(a, spacing=(1.0, 1.0, 1.0))
    report = cs.detect(vol)
    assert len(report.shields) == 1, report.shields
    s = report.shields[0]
    assert s.least_line_integral >= 8.0
    # the reference: the least line integral through each pixel over 90 directions
    mid = a[n // 2].astype(float)
    least = np.full(mid.shape, np.inf)
    for theta in np.arange(0.0, 180.0, 2.0):
        rot = ndi.rotate(mid, theta, reshape=False, order=1)
        rays = np.broadcast_to(rot.sum(axis=0), rot.shape)
        least = np.minimum(least, ndi.rotate(rays, -theta, reshape=False, order=0))
    scipy_area = float((least >= 8.0).sum())
    analytic_area = np.pi * 24.0**2
    assert abs(scipy_area - analytic_area) / analytic_area < 0.1, scipy_area
    # opacity is found on cells of about 2.5 mm (3 voxels here): an end cell half
    # filled with wall reads half as dense
    z_mm = s.bbox_mm[3] - s.bbox_mm[0]
    assert abs(z_mm - length) <= 6.0, s.bbox_mm
    area = s.volume_mm3 / z_mm
    assert abs(area - scipy_area) / scipy_area < 0.2, (area, scipy_area)
    # the same walls 4 mm thick: 8 mm of metal on the weakest ray, ∫μ dl = 3.2
    thin = np.where((r >= 22.0) & (r <= 26.0) & tube, 0.4, 0.0).astype(np.float32)
    assert cs.detect(cs.Volume(thin, spacing=(1.0, 1.0, 1.0))).shields == []
    # shields survive JSON
    back = cs.Report.from_json(report.to_json())
    assert back.to_dict()["shields"] == report.to_dict()["shields"]
    # every point has a ray along a diameter that crosses 24 mm of wall (∫μ dl = 9.6):
    # a scanner whose opacity starts at 10 sees through all of it
    assert cs.detect(vol, opaque_line_integral=10.0).shields == []
    assert len(cs.detect(vol, opaque_line_integral=9.0).shields) == 1
    # and a shield smaller than the smallest reported is not reported
    assert cs.detect(vol, shield_min_volume_mm3=1.01 * s.volume_mm3).shields == []
    assert len(cs.detect(vol, shield_min_volume_mm3=0.99 * s.volume_mm3).shields) == 1


def test_detection_options_by_name_reach_the_rust_reader():
    defaults = cs.detect_options()
    assert defaults["opaque_line_integral"] == 8.0
    assert defaults["threshold"] == 0.5
    vol = cs.Volume(steel_tube(), spacing=(1.0, 1.0, 1.0))
    # every default passed back by name gives the same report
    by_name = cs.detect(vol, **{k: v for k, v in defaults.items() if k != "water_mu"})
    assert by_name.to_dict()["findings"] == cs.detect(vol).to_dict()["findings"]
    # a growing threshold above the tube's μ leaves no candidate
    assert cs.detect(vol, low_mu=0.35, high_mu=0.4).findings == []
    with pytest.raises(ValueError, match="unknown field `opaque`.*opaque_line_integral"):
        cs.detect(vol, opaque=12.0)
    with pytest.raises(ValueError, match="opaque_line_integral: -1"):
        cs.detect(vol, opaque_line_integral=-1.0)
    with pytest.raises(ValueError, match="expected a boolean"):
        cs.detect(vol, split_touching="yes")
    with pytest.raises(ValueError, match="connectivity"):
        cs.evaluate_set(parcels=1, connectivity=5)


def test_score_map_fit_is_scipys_isotonic_regression():
    """The map is the isotonic regression of "threat" on the score with equal scores
    pooled: scipy's weighted isotonic regression of each score's threat share."""
    from scipy.optimize import isotonic_regression

    rng = np.random.default_rng(3)
    scores = rng.integers(0, 41, size=600) / 40.0  # ties are common
    threats = rng.random(600) < 0.1 + 0.8 * scores**2
    m = cs.ScoreMap.fit(scores.tolist(), threats.tolist(), fitted_on="random findings")
    xs, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    share = np.bincount(inverse, weights=threats.astype(float)) / counts
    want = isotonic_regression(share, weights=counts.astype(float)).x
    got = np.array([m.probability(x) for x in xs])
    np.testing.assert_allclose(got, want, atol=1e-12)
    assert m.findings == 600 and m.fitted_on == "random findings"
    assert np.all(np.diff(m.scores) > 0) and np.all(np.diff(m.probabilities) >= 0)
    # between the curve's points it is linear, beyond them flat
    a, b = m.scores[0], m.scores[1]
    pa, pb = m.probabilities[0], m.probabilities[1]
    assert m.probability((a + b) / 2) == pytest.approx((pa + pb) / 2)
    assert m.probability(2.0) == m.probabilities[-1]
    assert cs.ScoreMap.from_json(m.to_json()).probabilities == m.probabilities


def test_score_map_on_reports_and_its_bad_input():
    report = cs.detect(cs.Volume(steel_tube(), spacing=(1.0, 1.0, 1.0)))
    f = report.findings[0]
    assert f.threat_probability == pytest.approx(cs.ScoreMap.builtin().probability(f.score))
    # a map of one's own: every finding of that score was a threat
    mine = cs.ScoreMap.fit([0.0, 1.0], [True, True])
    assert mine.probability(0.3) == 1.0
    other = report.with_score_map(mine)
    assert [g.threat_probability for g in other.findings] == [1.0] * len(report.findings)
    assert [g.score for g in other.findings] == [g.score for g in report.findings]
    with pytest.raises(ValueError, match="one per score"):
        cs.ScoreMap.fit([0.1, 0.2], [True])
    with pytest.raises(ValueError, match="1.5"):
        cs.ScoreMap.fit([1.5], [True])
    with pytest.raises(ValueError, match="at least one"):
        cs.ScoreMap.fit([], [])
    bad = json.loads(mine.to_json())
    bad["probabilities"] = [1.0, 0.0]
    with pytest.raises(OSError, match="non-decreasing"):
        cs.ScoreMap.from_json(json.dumps(bad))
