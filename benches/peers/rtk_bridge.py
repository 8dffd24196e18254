"""RTK's CPU FDK on ctscreen's data, for the side-by-side runs in run.py.

The geometry goes through RTK's own XML reader (``ConeBeamGeometry.to_rtk_xml``); the
volume frames map as pinned in python/tests/test_project.py: x = x_rtk, y = −z_rtk,
z = y_rtk, so RTK's array (z_rtk, y_rtk, x_rtk) is ours (−y, z, x).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np


def _rtk():
    import itk
    from itk import RTK as rtk

    return itk, rtk


def _to_rtk_volume(itk, array, spacing):
    nz, ny, nx = array.shape
    dz, dy, dx = spacing
    img = itk.image_from_array(np.ascontiguousarray(array.transpose(1, 0, 2)[::-1], np.float32))
    img.SetSpacing([dx, dz, dy])
    img.SetOrigin([-(nx - 1) / 2 * dx, -(nz - 1) / 2 * dz, -(ny - 1) / 2 * dy])
    return img


def prepare(proj, geom, shape, spacing_mm, threads):
    """Builds RTK's FDK filter for `proj` (views, rows, cols) on `geom`; returns a
    function that runs it and gives the volume in ctscreen's (z, y, x) layout.

    Setting up (XML geometry, image conversion) is outside the returned function, so
    that timing it measures the reconstruction alone, as for ctscreen."""
    itk, rtk = _rtk()
    itk.MultiThreaderBase.SetGlobalDefaultNumberOfThreads(int(threads))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "geometry.xml"
        geom.to_rtk_xml(path)
        reader = rtk.ThreeDCircularProjectionGeometryXMLFileReader.New()
        reader.SetFilename(str(path))
        reader.GenerateOutputInformation()
        rtk_geometry = reader.GetOutputObject()
    rows, cols = geom.detector_shape
    dv, du = geom.detector_spacing_mm
    p = itk.image_from_array(np.ascontiguousarray(np.asarray(proj), np.float32))
    p.SetSpacing([du, dv, 1.0])
    p.SetOrigin([-(cols - 1) / 2 * du, -(rows - 1) / 2 * dv, 0.0])
    spacing = (spacing_mm,) * 3 if np.isscalar(spacing_mm) else tuple(spacing_mm)
    def run():
        # A fresh (zero) output grid per run, as the filter releases its input's buffer;
        # allocating it is part of RTK's work as allocating the volume is part of ours.
        empty = _to_rtk_volume(itk, np.zeros(shape, np.float32), spacing)
        fdk = rtk.FDKConeBeamReconstructionFilter[itk.Image[itk.F, 3]].New()
        fdk.SetNumberOfWorkUnits(int(threads))
        fdk.SetInput(0, empty)
        fdk.SetInput(1, p)
        fdk.SetGeometry(rtk_geometry)
        fdk.Update()
        return itk.array_from_image(fdk.GetOutput())[::-1].transpose(1, 0, 2)

    return run
