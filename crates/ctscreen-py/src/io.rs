//! `ctscreen.load`, `save`, `load_dicom`, `read_info`: file formats over `ctscreen::io`.
use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::IntoPyResult;
use crate::volume::PyVolume;

/// Load a volume from a NIfTI-1/2 (``.nii``, ``.nii.gz``, ``.hdr``), MetaImage
/// (``.mha``, ``.mhd``), DICOM or DICOS CT file, or a directory holding a DICOM or
/// DICOS CT series.
///
/// The format is recognised from the content, not the name: a DICOM file whose SOP
/// class is DICOS CT loads as DICOS whatever its extension (``.dcs``, ``.dcm``, none).
/// Values are converted to float32 with the file's scaling applied (NIfTI
/// ``scl_slope``/``scl_inter``; DICOM rescale, so CT loads in Hounsfield units; DICOS
/// CT in mu, mm^-1, from its MHU at the water mu of 70 keV, as ``load_dicos``). Axes are (z, y, x): a NIfTI or MetaImage
/// array (i, j, k) with i fastest becomes (k, j, i), which is what
/// ``nibabel_img.get_fdata().transpose(2, 1, 0)`` or ``SimpleITK.GetArrayFromImage``
/// give. The world frame is the file's own: RAS mm for NIfTI, LPS mm for MetaImage and
/// DICOM.
///
/// Parameters
/// ----------
/// path : str or os.PathLike
///     The file (or DICOM directory).
///
/// Returns
/// -------
/// Volume
///     ``.array`` float32 (nz, ny, nx), ``.spacing`` (dz, dy, dx) mm, ``.origin``
///     (z, y, x) mm, ``.direction``.
///
/// Raises
/// ------
/// OSError
///     If the file cannot be read, is malformed (truncated, inconsistent header) or uses
///     an unsupported feature (true 4D data, RGB or complex voxels, unknown format);
///     the message names the file and the problem. A DICOS Threat Detection Report is
///     refused with a message saying it is a threat report to read with ``load_tdr``.
/// ValueError
///     If the volume would not fit in memory (``CTSCREEN_MEMORY_LIMIT``).
#[pyfunction]
fn load(py: Python<'_>, path: PathBuf) -> PyResult<PyVolume> {
    let inner = py.detach(|| ctscreen::io::load(&path)).py()?;
    Ok(PyVolume { inner })
}

/// Save a volume; the format comes from the extension.
///
/// ``.nii`` and ``.nii.gz`` write NIfTI-1 float32 with sform and qform (codes 1,
/// scanner; geometry rounded to float32), ``.mha`` a single MetaImage file and ``.mhd``
/// a MetaImage header plus a ``.raw`` (or ``.zraw``) data file, both float32 with exact
/// geometry, ``.dcs`` a DICOS CT (mu stored as MHU in uint16 with a rescale fitted to
/// the value range, as ``save_dicos``; fresh UIDs). The file is written to a temporary name in the same directory and renamed
/// when complete: a failed save leaves no file behind and an existing file untouched.
///
/// Parameters
/// ----------
/// path : str or os.PathLike
///     Destination, ending in ``.nii``, ``.nii.gz``, ``.mha``, ``.mhd`` or ``.dcs``.
/// volume : Volume
///     The volume to write.
/// compress : bool, optional
///     zlib-compress MetaImage voxel data, RLE-compress DICOS pixel data (default
///     False). NIfTI ignores it: ``.nii.gz`` is always compressed.
///
/// Raises
/// ------
/// OSError
///     If the extension is not one of the above, or the file cannot be written (missing
///     or read-only directory, disk full).
/// ValueError
///     For ``.dcs``: NaN/inf voxels or more than 65535 rows or columns.
#[pyfunction]
#[pyo3(signature = (path, volume, compress = false))]
fn save(
    py: Python<'_>,
    path: PathBuf,
    volume: &Bound<'_, PyVolume>,
    compress: bool,
) -> PyResult<()> {
    let vol = &volume.get().inner;
    let options = ctscreen::io::SaveOptions::new().compress(compress);
    py.detach(|| ctscreen::io::save_with(&path, vol, &options))
        .py()
}

/// Load a DICOM CT series: a directory of single-frame slices, or one DICOM file.
///
/// Files that are not DICOM (no ``DICM`` marker) and subdirectories are ignored. Slices
/// are sorted by ``ImagePositionPatient`` along the slice normal (file names and order
/// do not matter); values are ``stored * RescaleSlope + RescaleIntercept`` (HU for CT).
/// Spacing is (slice step, PixelSpacing[0], PixelSpacing[1]) mm; origin and direction
/// are in DICOM's LPS patient frame, permuted to (z, y, x).
///
/// Parameters
/// ----------
/// path : str or os.PathLike
///     Directory of slices, or a single DICOM file.
/// series : str, optional
///     ``SeriesInstanceUID`` to load when the directory holds several series.
///
/// Returns
/// -------
/// Volume
///     float32 (slices, rows, columns) in HU.
///
/// Raises
/// ------
/// OSError
///     If there is no DICOM image, several series and no ``series``, slices that
///     disagree (size, orientation, pixel spacing), duplicate positions, slice steps
///     varying by more than 1 %, multi-frame or colour images, or an unsupported
///     compressed transfer syntax.
#[pyfunction]
#[pyo3(signature = (path, series = None))]
fn load_dicom(py: Python<'_>, path: PathBuf, series: Option<String>) -> PyResult<PyVolume> {
    let inner = py
        .detach(|| match &series {
            Some(uid) => ctscreen::io::load_dicom_series(&path, uid),
            None => ctscreen::io::load_dicom(&path),
        })
        .py()?;
    Ok(PyVolume { inner })
}

/// Read only the header of a file and describe it.
///
/// Parameters
/// ----------
/// path : str or os.PathLike
///     A file ``load`` accepts (or a DICOM directory).
///
/// Returns
/// -------
/// dict
///     ``format`` (``"NIfTI-1"``, ``"NIfTI-2"``, ``"MetaImage"``, ``"DICOM"``,
///     ``"DICOS CT"``),
///     ``data_type`` (numpy name of the on-disk type, e.g. ``"int16"``), ``compressed``
///     (bool), ``shape`` (nz, ny, nx), ``spacing`` (dz, dy, dx) mm, ``origin`` (z, y, x)
///     mm, ``direction`` (3x3 nested lists) -- the geometry ``load`` would give.
///
/// Raises
/// ------
/// OSError
///     As ``load``.
#[pyfunction]
fn read_info<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyDict>> {
    let info = py.detach(|| ctscreen::io::read_info(&path)).py()?;
    let d = PyDict::new(py);
    d.set_item("format", info.format.name())?;
    d.set_item("data_type", info.data_type.name())?;
    d.set_item("compressed", info.compressed)?;
    d.set_item("shape", (info.shape[0], info.shape[1], info.shape[2]))?;
    d.set_item(
        "spacing",
        (info.spacing[0], info.spacing[1], info.spacing[2]),
    )?;
    d.set_item("origin", (info.origin[0], info.origin[1], info.origin[2]))?;
    d.set_item("direction", info.direction)?;
    Ok(d)
}

/// Registers the functions.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_function(wrap_pyfunction!(save, m)?)?;
    m.add_function(wrap_pyfunction!(load_dicom, m)?)?;
    m.add_function(wrap_pyfunction!(read_info, m)?)?;
    Ok(())
}
