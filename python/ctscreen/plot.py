"""Matplotlib pictures of volumes, projections and detections.

Every function returns a :class:`matplotlib.figure.Figure` and never calls
``plt.show()``: display it in a notebook by leaving it as the cell's value, or save it
with ``fig.savefig(path)``. Images are drawn with square pixels in millimetres
(``extent`` in world mm), axial views with y down, coronal and sagittal views with +z up.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np

__all__ = ["slices", "mip", "detections", "sinogram"]

_KIND_COLORS = {
    "firearm": "#ff2d2d",
    "firearm_part": "#ff9a1f",
    "ammunition": "#ffe01f",
    "blade": "#2dd4ff",
    "metal_other": "#9aa0a6",
}


def _figure(ncols: int, size: float = 4.0):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size * ncols, size), layout="constrained")
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, axes


def _plane_extent(volume, axis: int):
    """(row axis, col axis, extent) for an image normal to ``axis`` in world mm."""
    rows, cols = {0: (1, 2), 1: (0, 2), 2: (0, 1)}[axis]
    sp, org, shape = volume.spacing, volume.origin, volume.shape

    def edges(a):
        return org[a] - sp[a] / 2, org[a] + (shape[a] - 0.5) * sp[a]

    c0, c1 = edges(cols)
    r0, r1 = edges(rows)
    # axial: y grows downwards; coronal/sagittal: z grows upwards
    extent = (c0, c1, r1, r0) if rows != 0 else (c0, c1, r0, r1)
    return rows, cols, extent


def _window(array: np.ndarray, window: Optional[Tuple[float, float]]):
    if window is not None:
        return window
    finite = array[np.isfinite(array)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(finite, [1.0, 99.5])
    return float(lo), float(hi if hi > lo else lo + 1.0)


_AXIS_NAMES = ("axial (z)", "coronal (y)", "sagittal (x)")
_WORLD = ("z", "y", "x")


def slices(volume, index: Optional[Sequence[int]] = None, window: Optional[Tuple[float, float]] = None, cmap: str = "gray"):
    """Three orthogonal slices of a volume.

    Parameters
    ----------
    volume : ctscreen.Volume
        The volume, values in mm^-1.
    index : sequence of 3 int, optional
        Slice indices (k, j, i); the centre by default.
    window : (float, float), optional
        Values (mm^-1) shown black and white; 1st-99.5th percentile by default.
    cmap : str
        Matplotlib colour map.

    Returns
    -------
    matplotlib.figure.Figure
    """
    a = volume.array
    shape = a.shape
    index = tuple(index) if index is not None else tuple(n // 2 for n in shape)
    lo, hi = _window(a, window)
    fig, axes = _figure(3)
    for axis, ax in enumerate(axes):
        plane = np.take(a, index[axis], axis=axis)
        rows, cols, extent = _plane_extent(volume, axis)
        if rows == 0:
            plane = plane[::-1]
        ax.imshow(plane, cmap=cmap, vmin=lo, vmax=hi, extent=extent, interpolation="nearest")
        ax.set_title(f"{_AXIS_NAMES[axis]} slice {index[axis]}")
        ax.set_xlabel(f"{_WORLD[cols]} (mm)")
        ax.set_ylabel(f"{_WORLD[rows]} (mm)")
    return fig


def mip(volume, axis: int = 0, window: Optional[Tuple[float, float]] = None, report=None, cmap: str = "gray"):
    """Maximum-intensity projection along one axis, with detection boxes if a report is given.

    Parameters
    ----------
    volume : ctscreen.Volume
    axis : int
        0 (z, looking down), 1 (y) or 2 (x).
    window : (float, float), optional
        Values (mm^-1) shown black and white.
    report : ctscreen.Report, optional
        Findings to draw as boxes labelled with kind and score.
    cmap : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, (ax,) = _figure(1, 6.0)
    _draw_mip(ax, volume, axis, window, report, cmap)
    return fig


def detections(volume, report, window: Optional[Tuple[float, float]] = None, cmap: str = "gray"):
    """The findings of a report as boxes over the three MIPs (a 3D view in three planes).

    Parameters
    ----------
    volume : ctscreen.Volume
    report : ctscreen.Report
    window : (float, float), optional
    cmap : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = _figure(3)
    for axis, ax in enumerate(axes):
        _draw_mip(ax, volume, axis, window, report, cmap)
    fig.suptitle(f"verdict: {getattr(report, 'verdict', '?')}  ({len(report.findings)} findings)")
    return fig


def _draw_mip(ax, volume, axis, window, report, cmap):
    from matplotlib.patches import Rectangle

    if axis not in (0, 1, 2):
        raise ValueError(f"invalid axis: {axis} (expected 0, 1 or 2)")
    a = volume.array
    m = a.max(axis=axis)
    rows, cols, extent = _plane_extent(volume, axis)
    if rows == 0:
        m = m[::-1]
    lo, hi = _window(m, window)
    ax.imshow(m, cmap=cmap, vmin=lo, vmax=hi, extent=extent, interpolation="nearest")
    ax.set_title(f"MIP along {_WORLD[axis]}")
    ax.set_xlabel(f"{_WORLD[cols]} (mm)")
    ax.set_ylabel(f"{_WORLD[rows]} (mm)")
    if report is None:
        return
    for f in report.findings:
        b = f.bbox_mm
        color = _KIND_COLORS.get(f.kind, "white")
        x0, x1 = b[cols], b[cols + 3]
        y0, y1 = b[rows], b[rows + 3]
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=color, linewidth=1.5))
        ax.text(x0, min(y0, y1), f"{f.kind} {f.score:.2f}", color=color, fontsize=8, va="bottom")


def sinogram(projections, row: Optional[int] = None, cmap: str = "gray"):
    """One detector row of a projection stack, as a sinogram (views down, columns across).

    Parameters
    ----------
    projections : numpy.ndarray, shape (views, rows, cols) or (views, cols)
        Line integrals.
    row : int, optional
        Detector row; the central row by default.
    cmap : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    p = np.asarray(projections)
    if p.ndim == 3:
        row = p.shape[1] // 2 if row is None else row
        p = p[:, row, :]
    elif p.ndim != 2:
        raise ValueError(f"invalid projections shape: {p.shape} (expected (views, rows, cols) or (views, cols))")
    fig, (ax,) = _figure(1, 5.0)
    ax.imshow(p, cmap=cmap, aspect="auto", interpolation="nearest")
    ax.set_xlabel("detector column")
    ax.set_ylabel("view")
    ax.set_title("sinogram" + (f" (row {row})" if row is not None else ""))
    return fig
