#!/usr/bin/env python3
"""Side-by-side benchmarks of ctscreen against peer libraries, on the same data, in
the same run, with the same thread count. Each workload checks that the outputs
agree (RMSE or identical partitions) before it reports a ratio.

    python benches/peers/run.py                 # full sizes, writes benches/RESULTS.md + PNG
    python benches/peers/run.py --quick         # tiny sizes, asserts agreement only (test suite)
    python benches/peers/run.py --threads 1 2   # thread counts to measure (default: 2)

Peers (from PyPI): scikit-image (radon / iradon), ASTRA (CPU FBP, when its wheel is
installed), itk-rtk (FDK), connected-components-3d and SciPy (labelling), nibabel (NIfTI
read). Figures are medians of ``--repeat`` runs.
Thread counts are fixed before any library starts its pool: every measurement runs in a
child process with RAYON_NUM_THREADS, OMP_NUM_THREADS and ITK's thread count set.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
RESULTS = HERE.parent / "RESULTS.md"


def median_time(fn, repeat):
    times = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2], out


# --------------------------------------------------------------------------- workloads
# Each returns a dict: name, ours_s, peer, peer_s, units (work per run), unit name,
# accuracy text, ok (bool: outputs agree).


def wl_radon(n, views, repeat):
    import numpy as np
    from skimage.data import shepp_logan_phantom
    from skimage.transform import radon, resize

    import ctscreen as cs

    img = resize(shepp_logan_phantom(), (n, n), anti_aliasing=True).astype(np.float32)
    yy, xx = np.mgrid[:n, :n]
    img[np.hypot(yy - n // 2, xx - n // 2) > n // 2 - 1] = 0.0
    theta = np.linspace(0.0, 180.0, views, endpoint=False)
    geom, vol = _skimage_frame(img, theta)
    t_ours, ours = median_time(lambda: cs.forward_project(vol, geom), repeat)
    t_peer, peer = median_time(lambda: radon(img, theta=theta, circle=True), repeat)
    ours2 = _to_skimage_sinogram(ours)
    rel = float(np.sqrt(np.mean((ours2 - peer) ** 2)) / np.sqrt(np.mean(peer**2)))
    return dict(name=f"2D forward projection {n}² × {views} views", ours_s=t_ours, peer="skimage.transform.radon",
                peer_s=t_peer, work=n * n * views, unit="voxel-updates", accuracy=f"relative RMSE {rel:.3%}",
                ok=rel < 0.05)


def _to_skimage_sinogram(proj):
    """Our (views, 1, cols) → skimage's (cols, views)."""
    import numpy as np

    return np.asarray(proj)[:, 0, :].T


def _skimage_frame(img, theta_deg):
    """Our geometry and volume for skimage's radon convention, as pinned in
    python/tests/test_project.py: skimage's θ (degrees) is our −θ (radians), and its
    rotation centre, pixel (n//2, n//2), is our isocentre."""
    import numpy as np

    import ctscreen as cs

    n = img.shape[0]
    c = (n - 1) / 2 - n // 2
    vol = cs.Volume(img[None].astype(np.float32), spacing=(1.0, 1.0, 1.0), origin=(0.0, -(n // 2), -(n // 2)))
    geom = cs.ParallelBeamGeometry(-np.deg2rad(theta_deg), n, 1.0, 1, detector_offset_mm=(0.0, c))
    return geom, vol


def wl_fbp(n, views, repeat):
    import numpy as np
    from skimage.data import shepp_logan_phantom
    from skimage.transform import iradon, radon, resize

    import ctscreen as cs

    img = resize(shepp_logan_phantom(), (n, n), anti_aliasing=True).astype(np.float32)
    yy, xx = np.mgrid[:n, :n]
    img[np.hypot(yy - n // 2, xx - n // 2) > n // 2 - 1] = 0.0
    theta = np.linspace(0.0, 180.0, views, endpoint=False)
    sino_sk = radon(img, theta=theta, circle=True)
    geom, _ = _skimage_frame(img, theta)
    sino = np.ascontiguousarray(sino_sk.T, dtype=np.float32)
    t_ours, ours = median_time(lambda: cs.fbp(sino, geom, (n, n), (1.0, 1.0), filter="ram-lak"), repeat)
    t_peer, peer = median_time(lambda: iradon(sino_sk, theta=theta, filter_name="ramp", circle=True), repeat)
    yy, xx = np.mgrid[:n, :n]
    inside = (yy - (n - 1) / 2) ** 2 + (xx - (n - 1) / 2) ** 2 < (n / 2 - 2) ** 2
    e_ours = float(np.sqrt(np.mean((np.asarray(ours) - img)[inside] ** 2)))
    e_peer = float(np.sqrt(np.mean((peer - img)[inside] ** 2)))
    rows = [dict(name=f"2D FBP {n}² from {views} views", ours_s=t_ours, peer="skimage.transform.iradon", peer_s=t_peer,
                 work=n * n * views, unit="voxel-updates",
                 accuracy=f"RMSE vs phantom: ours {e_ours:.4f}, peer {e_peer:.4f}", ok=e_ours <= 1.05 * e_peer)]
    astra_fbp = _astra_fbp(sino, theta, n)
    if astra_fbp is not None:
        t_astra, rec = median_time(astra_fbp, repeat)
        e_astra = float(np.sqrt(np.mean((rec - img)[inside] ** 2)))
        rows.append(dict(name=f"2D FBP {n}² from {views} views", ours_s=t_ours, peer="ASTRA FBP (CPU)", peer_s=t_astra,
                         work=n * n * views, unit="voxel-updates",
                         accuracy=f"RMSE vs phantom: ours {e_ours:.4f}, ASTRA {e_astra:.4f}", ok=e_ours <= 1.05 * e_astra))
    return rows


def _astra_fbp(sino, theta_deg, n):
    """ASTRA's CPU FBP (linear projector, Ram-Lak) of `sino` (views, n) as a function, or
    None without ASTRA. Its parallel geometry at angle θ has rays along (sin θ, −cos θ)
    and the detector along (cos θ, sin θ) with y up, which is skimage's θ and detector
    orientation: it takes skimage's sinogram as is."""
    try:
        import astra
    except ImportError:
        return None
    import numpy as np

    vol_geom = astra.create_vol_geom(n, n)
    proj_geom = astra.create_proj_geom("parallel", 1.0, sino.shape[1], np.deg2rad(theta_deg))

    def run():
        projector = astra.create_projector("linear", proj_geom, vol_geom)
        sino_id = astra.data2d.create("-sino", proj_geom, sino)
        rec_id = astra.data2d.create("-vol", vol_geom)
        cfg = astra.astra_dict("FBP")
        cfg.update(ReconstructionDataId=rec_id, ProjectionDataId=sino_id, ProjectorId=projector,
                   option={"FilterType": "Ram-Lak"})
        alg = astra.algorithm.create(cfg)
        try:
            astra.algorithm.run(alg)
            return astra.data2d.get(rec_id)
        finally:
            astra.algorithm.delete(alg)
            astra.data2d.delete([sino_id, rec_id])
            astra.projector.delete(projector)

    return run


def wl_fdk(n, views, det, repeat, threads):
    import numpy as np

    import ctscreen as cs

    try:
        import itk  # noqa: F401
        from itk import RTK  # noqa: F401

        import rtk_bridge  # benches/peers/rtk_bridge.py
    except ImportError as e:
        return dict(name=f"FDK {n}³", skipped=f"itk-rtk cannot be imported ({e})", ok=True)

    angles = np.linspace(0, 2 * np.pi, views, endpoint=False)
    sod, sdd = 500.0, 1000.0
    spacing = 1.0
    pitch = spacing * sdd / sod * n / det * 1.1
    geom = cs.ConeBeamGeometry(angles, sod, sdd, (det, det), (pitch, pitch))
    phantom = cs.Phantom.shepp_logan_3d(0.45 * n * spacing)
    proj = cs.analytic_projections(phantom, geom)
    truth = phantom.voxelize((n, n, n), spacing).array
    t_ours, ours = median_time(lambda: cs.fdk(proj, geom, (n, n, n), (spacing,) * 3), repeat)
    t_peer, peer = median_time(rtk_bridge.prepare(proj, geom, (n, n, n), spacing, threads), repeat)
    e_ours = float(np.sqrt(np.mean((ours.array - truth) ** 2)))
    e_peer = float(np.sqrt(np.mean((peer - truth) ** 2)))
    return dict(name=f"FDK {n}³ from {views} views of {det}²", ours_s=t_ours, peer="RTK FDKConeBeamReconstructionFilter (CPU)",
                peer_s=t_peer, work=n**3 * views, unit="voxel-updates",
                accuracy=f"RMSE vs phantom: ours {e_ours:.5f}, RTK {e_peer:.5f}", ok=e_ours <= 1.1 * e_peer)


def wl_label(n, connectivity, repeat, threads):
    import cc3d
    import numpy as np
    from scipy import ndimage

    import ctscreen as cs

    rng = np.random.default_rng(1)
    mask = rng.random((n, n, n)) < 0.5
    t_ours, (ours, n_ours) = median_time(lambda: cs.label(mask, connectivity=connectivity), repeat)
    t_cc3d, peer = median_time(lambda: cc3d.connected_components(mask, connectivity=connectivity), repeat)
    same = bool(np.array_equal(ours, peer))
    rows = [dict(name=f"label {n}³ random 50%, {connectivity}-connectivity", ours_s=t_ours, peer="cc3d.connected_components",
                 peer_s=t_cc3d, work=n**3, unit="voxels", accuracy="identical labels" if same else "LABELS DIFFER", ok=same)]
    structure = {6: ndimage.generate_binary_structure(3, 1), 18: ndimage.generate_binary_structure(3, 2),
                 26: ndimage.generate_binary_structure(3, 3)}[connectivity]
    t_sp, (sp, n_sp) = median_time(lambda: ndimage.label(mask, structure=structure), repeat)
    same = bool(np.array_equal(ours, sp))
    rows.append(dict(name=f"label {n}³ random 50%, {connectivity}-connectivity", ours_s=t_ours, peer="scipy.ndimage.label",
                     peer_s=t_sp, work=n**3, unit="voxels", accuracy="identical labels" if same else "LABELS DIFFER", ok=same))
    return rows


def wl_nifti(n, repeat):
    import nibabel as nib
    import numpy as np

    import ctscreen as cs

    rng = np.random.default_rng(2)
    data = rng.random((n, n, n), dtype=np.float32)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "v.nii.gz")
        cs.save(path, cs.Volume(data, spacing=(1.0, 1.0, 1.0)))
        t_ours, ours = median_time(lambda: cs.load(path).array, repeat)
        t_peer, peer = median_time(lambda: np.asarray(nib.load(path).get_fdata(dtype=np.float32)), repeat)
        same = bool(np.array_equal(ours, np.transpose(peer, (2, 1, 0))))
        size = os.path.getsize(path)
    return dict(name=f"NIfTI .nii.gz read {n}³ float32", ours_s=t_ours, peer="nibabel get_fdata", peer_s=t_peer,
                work=n**3 * 4 / 1e6, unit="MB (uncompressed)", accuracy=("identical" if same else "DIFFER") + f", file {size/1e6:.1f} MB",
                ok=same)


def wl_detect(n, repeat):
    import numpy as np

    import ctscreen as cs

    parcel = cs.phantom.parcel(seed=11, threats=["pistol"])
    # A voxelised truth is monochromatic: metals read at the voxelisation energy.
    vol = parcel.voxelize((n, n, n), 600.0 / n, energy_kev=100.0)
    t_ours, report = median_time(lambda: cs.detect(vol, energy_kev=100.0, metal_energy_kev=100.0), repeat)
    ok = any(f.kind == "firearm" for f in report.findings)
    return dict(name=f"detection on {n}³ (voxelised parcel with a pistol)", ours_s=t_ours, peer="-", peer_s=float("nan"),
                work=n**3, unit="voxels", accuracy="firearm found" if ok else "FIREARM MISSED", ok=ok)


FDK_MEMORY_SCRIPT = """
import resource, sys
import numpy as np
import ctscreen as cs
n, views, det = map(int, sys.argv[1:4])
angles = np.linspace(0, 2 * np.pi, views, endpoint=False)
pitch = 1000.0 / 500.0 * n / det * 1.1
geom = cs.ConeBeamGeometry(angles, 500.0, 1000.0, (det, det), (pitch, pitch))
proj = np.random.default_rng(0).random((views, det, det), dtype=np.float32)
small = cs.ConeBeamGeometry(np.linspace(0, 2 * np.pi, 8, endpoint=False), 500.0, 1000.0, (8, 8), (pitch, pitch))
cs.fdk(np.zeros((8, 8, 8), np.float32), small, (4, 4, 4), (1.0,) * 3)  # warm up: library, thread pool
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
vol = cs.fdk(proj, geom, (n, n, n), (1.0, 1.0, 1.0))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(before * 1024, after * 1024)
"""


def fdk_memory(n, views, det, threads):
    """Peak resident memory that FDK adds on top of its input (bytes), measured in a
    fresh process: ru_maxrss after the call minus before it (input already held)."""
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", FDK_MEMORY_SCRIPT, str(n), str(views), str(det)],
                         env=env, capture_output=True, text=True, check=True)
    before, after = map(int, out.stdout.split()[-2:])
    return after - before


# --------------------------------------------------------------------------- driver

def run_child(args):
    """Runs the workloads at one thread count; prints JSON rows."""
    threads = args.child
    try:
        import itk

        itk.MultiThreaderBase.SetGlobalDefaultNumberOfThreads(threads)
    except Exception:  # noqa: BLE001 - RTK absent: its workloads report so
        pass
    q = args.quick
    r = 1 if q else args.repeat
    rows = []
    jobs = [
        lambda: wl_radon(33 if q else 255, 24 if q else 360, r),
        lambda: wl_fbp(33 if q else 255, 24 if q else 360, r),
        lambda: wl_fdk(16 if q else 128, 24 if q else 360, 24 if q else 192, r, threads),
        lambda: wl_label(16 if q else 256, 26, r, threads),
        lambda: wl_label(16 if q else 256, 6, r, threads),
        lambda: wl_nifti(16 if q else 256, r),
        lambda: wl_detect(256 if q else 512, r),  # 2.3 mm voxels: the 9 mm bore resolves
    ]
    if not q:
        jobs.insert(3, lambda: wl_fdk(256, 360, 384, 1, threads))
    for job in jobs:
        try:
            out = job()
        except Exception as e:  # noqa: BLE001 - reported as a failed row
            out = dict(name=getattr(job, "__name__", "workload"), error=f"{type(e).__name__}: {e}", ok=False)
        for row in out if isinstance(out, list) else [out]:
            if "skipped" in row:
                print(f"[skip] {row['name']}: {row['skipped']}", file=sys.stderr)
                continue
            row["threads"] = threads
            rows.append(row)
    print("ROWS " + json.dumps(rows))


def versions():
    """Each peer's version: the module's ``__version__``, else its distribution's
    (cc3d has no ``__version__``; its distribution is connected-components-3d)."""
    import importlib.metadata

    distributions = {"cc3d": "connected-components-3d", "skimage": "scikit-image", "astra": "astra-toolbox"}
    out = {}
    for mod in ["ctscreen", "numpy", "skimage", "scipy", "cc3d", "nibabel", "itk", "astra"]:
        try:
            m = __import__(mod)
        except Exception:  # noqa: BLE001
            out[mod] = "not installed"
            continue
        version = getattr(m, "__version__", None)
        if version is None:
            try:
                version = importlib.metadata.version(distributions.get(mod, mod))
            except importlib.metadata.PackageNotFoundError:
                version = "unknown"
        out[mod] = version
    return out


EVALUATION_MARKER = "## Figures from other commands"


def cpu_description():
    """The CPU model and the widest vector extension the FDK kernel can use on it (the
    kernel is chosen at run time: AVX-512, else AVX2 + FMA, else scalar)."""
    model, flags = None, set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and model is None:
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    vector = "AVX-512" if "avx512f" in flags else "AVX2 + FMA" if {"avx2", "fma"} <= flags else "no AVX2"
    return f"{model or platform.processor() or 'unknown CPU'}, {vector}"


def write_results(rows, args, elapsed, memory=None):
    lines = ["# Benchmark results", "",
             f"Command: `python benches/peers/run.py {' '.join(sys.argv[1:])}` ({elapsed:.0f} s)", "",
             f"Machine: {platform.machine()} ({cpu_description()}), {os.cpu_count()} logical CPUs, {platform.platform()}, Python {platform.python_version()}", "",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()), "",
             "Each figure is the median of the runs; ours and the peer ran in the same process, on the same data,",
             "with the same thread count. Ratio = peer time / our time (higher is better for ctscreen).", "",
             "| workload | threads | ctscreen | peer | peer time | ratio | throughput (ours) | agreement |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['name']} | {r['threads']} | error | | | | | {r['error']} |")
            continue
        ratio = r["peer_s"] / r["ours_s"] if r["peer_s"] == r["peer_s"] else float("nan")
        thr = r["work"] / r["ours_s"]
        thr_s = f"{thr/1e9:.2f} G {r['unit']}/s" if thr > 1e8 else f"{thr/1e6:.1f} M {r['unit']}/s"
        lines.append(f"| {r['name']} | {r['threads']} | {r['ours_s']*1e3:.1f} ms | {r['peer']} | "
                     f"{r['peer_s']*1e3:.1f} ms | {ratio:.2f}× | {thr_s} | {r['accuracy']} |")
    if memory is not None:
        n, views, det, threads, added = memory
        volume, block = n**3 * 4, min(64, max(8, (64 << 20) // (4 * (det + 2) * (det + 4)))) * (det + 2) * (det + 4) * 4
        lines += ["", "## FDK peak memory", "",
                  f"FDK {n}³ from {views} views of {det}² ({threads} threads) raised the peak resident memory by "
                  f"{added / 2**20:.0f} MiB over its input: the volume is {volume / 2**20:.0f} MiB and the bound on "
                  f"the block of filtered views is {block / 2**20:.0f} MiB (crates/ctscreen/src/recon/fdk.rs, Memory).",
                  "Measured with ru_maxrss in a fresh process (`fdk_memory` in benches/peers/run.py)."]
    # The end-to-end and detection figures come from the CLI (see that section); keep them.
    old = RESULTS.read_text() if RESULTS.exists() else ""
    kept = old[old.index(EVALUATION_MARKER):] if EVALUATION_MARKER in old else ""
    RESULTS.write_text("\n".join(lines) + "\n" + ("\n" + kept if kept else ""))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ok = [r for r in rows if "error" not in r and r["peer_s"] == r["peer_s"]]
        fig, ax = plt.subplots(figsize=(8, 0.4 * len(ok) + 1.5))
        ax.barh([f"{r['name']} [{r['peer'].split()[0]}, {r['threads']}t]" for r in ok], [r["peer_s"] / r["ours_s"] for r in ok])
        ax.axvline(1.0, color="k", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("speed-up over the peer (peer time / ctscreen time)")
        fig.tight_layout()
        fig.savefig(HERE.parent / "results.png", dpi=100)
    except Exception as e:  # noqa: BLE001
        print(f"plot skipped: {e}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny sizes; check agreement, write nothing")
    p.add_argument("--threads", type=int, nargs="+", default=[2])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child is not None:
        return run_child(args)
    start = time.perf_counter()
    rows = []
    for t in args.threads:
        env = dict(os.environ, RAYON_NUM_THREADS=str(t), OMP_NUM_THREADS=str(t), ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS=str(t))
        cmd = [sys.executable, __file__, "--child", str(t), "--repeat", str(args.repeat)] + (["--quick"] if args.quick else [])
        out = subprocess.run(cmd, env=env, capture_output=True, text=True)
        sys.stderr.write(out.stderr)
        got = [line for line in out.stdout.splitlines() if line.startswith("ROWS ")]
        if out.returncode != 0 or not got:
            print(out.stdout)
            raise SystemExit(f"benchmark child ({t} threads) failed with exit code {out.returncode}")
        rows += json.loads(got[-1][5:])
    for r in rows:
        status = "ok " if r.get("ok") else "BAD"
        detail = r.get("error") or f"ours {r['ours_s']*1e3:.1f} ms, {r['peer']} {r['peer_s']*1e3:.1f} ms, {r['accuracy']}"
        print(f"[{status}] {r['name']} ({r['threads']} threads): {detail}")
    if not args.quick:
        t = max(args.threads)
        memory = (256, 360, 384, t, fdk_memory(256, 360, 384, t))
        write_results(rows, args, time.perf_counter() - start, memory)
        print(f"wrote {RESULTS}")
    bad = [r["name"] for r in rows if not r.get("ok")]
    if bad:
        raise SystemExit(f"outputs disagree or failed: {bad}")


if __name__ == "__main__":
    main()
