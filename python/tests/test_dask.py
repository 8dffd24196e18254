"""Batch screening on a dask.distributed LocalCluster gives the same reports as a
serial loop, in the same order."""

import numpy as np
import pytest

import ctscreen as cs
from ctscreen.dask import screen, screen_one

distributed = pytest.importorskip("dask.distributed")


def _items(tmp_path):
    items = []
    for i, threats in enumerate([["knife"], [], ["barrel"]]):
        parcel = cs.phantom.parcel(seed=40 + i, threats=threats, max_extent_mm=300)
        items.append(parcel.voxelize((64, 64, 64), 330.0 / 64))
    path = tmp_path / "scan.nii.gz"
    cs.save(str(path), items[0])
    items.append(str(path))
    items.append(cs.phantom.parcel(seed=50, threats=["pistol_polymer"], max_extent_mm=300))
    return items


def test_cluster_and_serial_reports_agree(tmp_path):
    items = _items(tmp_path)
    serial = screen(items)
    assert len(serial) == len(items)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            parallel = screen(items, client=client)
    def content(report):  # everything but the wall-clock timings
        d = report.to_dict()
        d.pop("timings")
        return d

    assert [content(r) for r in parallel] == [content(r) for r in serial]
    # the file and the in-memory volume it was written from screen alike
    assert content(serial[0]) == content(serial[3])


def test_bad_items_are_rejected():
    with pytest.raises(ValueError, match="invalid item"):
        screen_one(42)
    with pytest.raises(OSError):
        screen_one("/nonexistent/scan.nii.gz")
