"""The package as a whole: stubs agree with the runtime, objects pickle, any array
layout is accepted, the GIL is released in heavy work, the plot helpers draw what
they should."""

import ast
import inspect
import pickle
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import ctscreen as cs

STUB_DIR = Path(cs.__file__).parent


def _stub_names(path):
    tree = ast.parse(path.read_text())
    out = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            out[node.name] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out[node.target.id] = node
    return out


def _public(module):
    return {n for n in dir(module) if not n.startswith("_") and not inspect.ismodule(getattr(module, n))}


def test_stubs_cover_the_runtime_and_nothing_else():
    stubs = _stub_names(STUB_DIR / "__init__.pyi")
    runtime = _public(cs) - {"plot", "dask", "phantom"}
    missing = sorted(runtime - set(stubs))
    extra = sorted(n for n in set(stubs) - runtime if not n.startswith("_") and n not in ("Tuple", "Optional"))
    assert not missing, f"public names without a stub: {missing}"
    assert not extra, f"stubs without a runtime object: {extra}"


def test_stub_signatures_match_the_runtime():
    stubs = _stub_names(STUB_DIR / "__init__.pyi")
    checked = 0
    for name, node in stubs.items():
        obj = getattr(cs, name, None)
        if not isinstance(node, ast.FunctionDef) or obj is None or not callable(obj):
            continue
        try:
            sig = inspect.signature(obj)
        except (TypeError, ValueError):
            continue
        want = [a.arg for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs]
        got = [p.name for p in sig.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        assert want == got, f"{name}: stub {want} != runtime {got}"
        checked += 1
    assert checked >= 10


def test_every_public_function_has_a_docstring():
    for name in _public(cs):
        obj = getattr(cs, name)
        assert (obj.__doc__ or "").strip(), f"{name} has no docstring"


def _examples():
    vol = cs.Volume(np.arange(24, dtype=np.float32).reshape(2, 3, 4), spacing=(2.0, 1.0, 0.5), origin=(1.0, 2.0, 3.0))
    angles = np.linspace(0, np.pi, 5, endpoint=False)
    return [
        vol,
        cs.ParallelBeamGeometry(angles, 8, 1.0, 2),
        cs.FanBeamGeometry(angles, 300.0, 600.0, 16, 1.5),
        cs.ConeBeamGeometry(angles, 300.0, 600.0, (8, 16), (1.0, 1.5), (0.5, -1.0)),
        cs.phantom.parcel(seed=5, threats=["knife"], max_extent_mm=300),
    ]


@pytest.mark.parametrize("obj", _examples(), ids=lambda o: type(o).__name__)
def test_public_objects_pickle(obj):
    back = pickle.loads(pickle.dumps(obj))
    assert type(back) is type(obj)
    if isinstance(obj, cs.Volume):
        np.testing.assert_array_equal(back.array, obj.array)
        assert back.spacing == obj.spacing and back.origin == obj.origin
    elif hasattr(obj, "to_json"):
        assert back.to_json() == obj.to_json()
    else:
        assert back.objects == obj.objects


def test_any_dtype_and_memory_order_is_accepted_once():
    rng = np.random.default_rng(0)
    base = rng.random((6, 7, 8))
    ref = cs.Volume(base.astype(np.float32)).array
    for arr in [base, np.asfortranarray(base), base.astype(np.int16) * 0 + base.astype(np.float32), base[:, :, :]]:
        np.testing.assert_array_equal(cs.Volume(arr).array, ref)
    big = rng.random((6, 14, 8))
    strided = big[:, ::2, :]
    assert not strided.flags.c_contiguous
    np.testing.assert_array_equal(cs.Volume(strided).array, strided.astype(np.float32))
    geom = cs.ParallelBeamGeometry(np.linspace(0, np.pi, 12, endpoint=False), 16, 1.0, 6)
    a = cs.forward_project(cs.Volume(base.astype(np.float32)), geom)
    b = cs.forward_project(cs.Volume(np.asfortranarray(base)), geom)
    np.testing.assert_array_equal(a, b)


def test_heavy_work_releases_the_gil():
    parcel = cs.phantom.parcel(seed=2, max_extent_mm=300)
    geom = cs.scanner_geometry((96, 96, 96), 330.0, 120)
    ticks = []
    stop = threading.Event()

    def count():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.002)

    t = threading.Thread(target=count)
    start = time.perf_counter()
    t.start()
    cs.simulate(parcel, geom, spectrum_kvp=120, photons=1e5, seed=1)
    elapsed = time.perf_counter() - start
    stop.set()
    t.join()
    during = [x for x in ticks if x < start + elapsed]
    assert elapsed > 0.1
    # with the GIL held the counter would stall for the whole call
    assert len(during) > 10, f"only {len(during)} ticks in {elapsed:.2f} s"


def test_plots_draw_the_data_and_never_show():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from ctscreen import plot

    data = np.zeros((10, 20, 30), np.float32)
    data[2:5, 5:8, 10:20] = 1.0
    vol = cs.Volume(data, spacing=(2.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0))
    fig = plot.slices(vol, index=(3, 6, 15))
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    img = fig.axes[0].images[0].get_array()
    np.testing.assert_array_equal(np.asarray(img), data[3])
    fig = plot.mip(vol, axis=0)
    np.testing.assert_array_equal(np.asarray(fig.axes[0].images[0].get_array()), data.max(axis=0))
    # +z is drawn up in coronal views: the first image row is the last z slice
    fig = plot.mip(vol, axis=1)
    np.testing.assert_array_equal(np.asarray(fig.axes[0].images[0].get_array()), data.max(axis=1)[::-1])
    sino = plot.sinogram(np.ones((5, 3, 4), np.float32))
    assert sino.axes[0].images[0].get_array().shape == (5, 4)
    with pytest.raises(ValueError):
        plot.sinogram(np.ones(5))
