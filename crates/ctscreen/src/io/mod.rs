//! Reading and writing volumes: NIfTI-1/2, MetaImage (`.mha`, `.mhd`), DICOM CT series
//! and DICOS CT; DICOS Threat Detection Reports in [`dicos`].
//!
//! | format | read | write | notes |
//! | --- | --- | --- | --- |
//! | NIfTI-1 `.nii`, `.nii.gz`, `.hdr`+`.img` | yes | `.nii`, `.nii.gz` (float32) | via the `nifti` crate |
//! | NIfTI-2 `.nii`, `.nii.gz` | yes | no | header parsed here, voxels converted by the `nifti` crate |
//! | MetaImage `.mha`, `.mhd` + `.raw`/`.zraw` | yes | yes (float32, zlib optional) | |
//! | DICOM CT (one file = one slice, or a directory) | yes | no | via the `dicom` crate; values in HU |
//! | DICOS CT (NEMA IIC 1; one multi-frame file, or a directory of one series) | yes | `.dcs` (MHU in uint16, RLE optional) | [`dicos`], via the `dicos` crate; values in μ (mm⁻¹) |
//! | DICOS Threat Detection Report | [`dicos::load_tdr`] | [`dicos::save_tdr`] | a detection [`crate::Report`], not a volume |
//!
//! [`load`] recognises the format from the file's content (NIfTI magic, also inside
//! gzip; the MetaImage text header; `DICM` at offset 128, then the SOP Class UID of the
//! file meta information: DICOS CT (`1.2.840.10008.5.1.4.1.1.501.1` and the classes
//! under it) goes to the DICOS reader, a DICOS TDR is refused with an error naming
//! [`dicos::load_tdr`], anything else to the DICOM reader; a directory is read as a
//! DICOS CT series when its first DICOM file in name order is a DICOS CT, else as a
//! DICOM series), never from its name. [`save`] picks the format from the extension.
//!
//! ## Axes and world frame
//!
//! Every format stores x fastest; a [`Volume`] is `(z, y, x)`, so file axes `(i, j, k)`
//! become array axes `(k, j, i)`, and spacing, origin and direction are permuted the same
//! way (`origin()[0]` is the file's z coordinate). The world frame is the file's own,
//! kept as is: **RAS** millimetres for NIfTI (+x = Right, +y = Anterior, +z = Superior),
//! **LPS** millimetres for MetaImage and DICOM (ITK and DICOM patient coordinates:
//! +x = Left, +y = Posterior, +z = Superior). Nothing is flipped between the two: saving
//! a volume loaded from DICOM as NIfTI keeps the LPS numbers, which NIfTI readers then
//! interpret as RAS. Convert explicitly (negate world x and y) when that matters.
//!
//! Values in the `(z, y, x)` order are what `nibabel`'s `get_fdata().transpose(2, 1, 0)`
//! and SimpleITK's `GetArrayFromImage` give; the Python tests check both.
//!
//! ## Values
//!
//! Voxels are converted to `f32`. NIfTI `scl_slope`/`scl_inter` are applied (a slope of
//! 0 or non-finite means no scaling), DICOM `RescaleSlope`/`RescaleIntercept` are applied
//! (so CT loads in Hounsfield units, not μ: see [`crate::volume::hu_to_mu`]), in `f64`
//! and rounded once to `f32`. DICOS CT loads as μ in mm⁻¹ (its MHU or HU converted at
//! the water μ of 70 keV, see [`dicos`]), so that `save` then `load` of a `.dcs` gives
//! the volume back up to 16-bit quantisation. [`read_info`] reports the on-disk data
//! type.
//!
//! ## Safety on bad input
//!
//! Headers are validated before any allocation: the declared voxel count is checked
//! against the file length (or, for compressed data, against
//! [`crate::volume::ensure_allocatable`]), so a corrupt header yields
//! [`Error::Format`], [`Error::Unsupported`] or [`Error::TooLarge`], never a panic or a
//! huge allocation.
//!
//! ## Writing
//!
//! Every writer is atomic: the file is written to a temporary file in the same
//! directory and renamed over the target only when complete; on any error the
//! temporary file is removed and an existing target is left untouched. A `.mhd` header
//! and its data file are renamed one after the other (data first).
//!
//! MetaImage is written uncompressed unless [`SaveOptions::compress`] says otherwise,
//! like ITK and SimpleITK: compression costs far more time than it saves on local disks,
//! and uncompressed files can be memory-mapped by other tools.

use std::fmt;
use std::path::{Path, PathBuf};

use self::dicos::DicosKind;
use crate::{Error, Result, Volume};

mod atomic;
mod dicom;
pub mod dicos;
mod metaimage;
mod nifti;

/// A file format this module reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FileFormat {
    /// NIfTI-1 (`.nii`, `.nii.gz`, `.hdr` + `.img`).
    Nifti1,
    /// NIfTI-2 (`.nii`, `.nii.gz`), read only.
    Nifti2,
    /// MetaImage (`.mha`, or `.mhd` + `.raw`/`.zraw`).
    MetaImage,
    /// DICOM CT image storage (one slice per file, or a directory holding a series), read only.
    Dicom,
    /// DICOS CT (NEMA IIC 1 security-screening CT, multi-frame), read and written by
    /// [`dicos`].
    Dicos,
}

impl FileFormat {
    /// A short human-readable name (`"NIfTI-1"`, `"MetaImage"`, …).
    pub fn name(self) -> &'static str {
        match self {
            FileFormat::Nifti1 => "NIfTI-1",
            FileFormat::Nifti2 => "NIfTI-2",
            FileFormat::MetaImage => "MetaImage",
            FileFormat::Dicom => "DICOM",
            FileFormat::Dicos => "DICOS CT",
        }
    }
}

impl fmt::Display for FileFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The type of the voxel values as stored in the file (before conversion to `f32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DataType {
    /// Unsigned 8-bit integer.
    UInt8,
    /// Signed 8-bit integer.
    Int8,
    /// Unsigned 16-bit integer.
    UInt16,
    /// Signed 16-bit integer.
    Int16,
    /// Unsigned 32-bit integer.
    UInt32,
    /// Signed 32-bit integer.
    Int32,
    /// Unsigned 64-bit integer.
    UInt64,
    /// Signed 64-bit integer.
    Int64,
    /// IEEE 754 single precision.
    Float32,
    /// IEEE 754 double precision.
    Float64,
}

impl DataType {
    /// Bytes per value.
    pub fn size(self) -> usize {
        match self {
            DataType::UInt8 | DataType::Int8 => 1,
            DataType::UInt16 | DataType::Int16 => 2,
            DataType::UInt32 | DataType::Int32 | DataType::Float32 => 4,
            DataType::UInt64 | DataType::Int64 | DataType::Float64 => 8,
        }
    }

    /// The numpy name of the type (`"uint8"`, `"int16"`, `"float32"`, …).
    pub fn name(self) -> &'static str {
        match self {
            DataType::UInt8 => "uint8",
            DataType::Int8 => "int8",
            DataType::UInt16 => "uint16",
            DataType::Int16 => "int16",
            DataType::UInt32 => "uint32",
            DataType::Int32 => "int32",
            DataType::UInt64 => "uint64",
            DataType::Int64 => "int64",
            DataType::Float32 => "float32",
            DataType::Float64 => "float64",
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a file's header says, without reading its voxels (see [`read_info`]).
///
/// Shape, spacing, origin and direction follow the [`Volume`] conventions (`(z, y, x)`,
/// mm, file's world frame) and are those [`load`] gives the volume.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FileInfo {
    /// The format recognised from the content.
    pub format: FileFormat,
    /// The on-disk type of the voxel values.
    pub data_type: DataType,
    /// True when the voxel data is compressed (gzip, zlib, or a compressed DICOM transfer syntax).
    pub compressed: bool,
    /// `(nz, ny, nx)`.
    pub shape: [usize; 3],
    /// Voxel size `(dz, dy, dx)` in mm.
    pub spacing: [f64; 3],
    /// World position `(z, y, x)` in mm of voxel `[0, 0, 0]`.
    pub origin: [f64; 3],
    /// Direction cosines, as [`Volume::direction`].
    pub direction: [[f64; 3]; 3],
}

/// Options of [`save_with`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SaveOptions {
    /// Compress the voxel data: zlib for `.mha` (`CompressedData = True`), a `.zraw` data
    /// file for `.mhd`, RLE Lossless for `.dcs`. NIfTI ignores it: the extension decides (`.nii.gz` is always
    /// gzip-compressed, `.nii` never). Default `false`, as ITK and SimpleITK do.
    pub compress: bool,
}

impl SaveOptions {
    /// The defaults: no compression for MetaImage.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`SaveOptions::compress`].
    pub fn compress(mut self, compress: bool) -> Self {
        self.compress = compress;
        self
    }
}

/// Loads a volume, recognising the format from the file's content: NIfTI-1 or NIfTI-2
/// (also gzip-compressed), MetaImage, a single DICOM file (one slice), or a DICOS CT
/// (whatever its name: `scan.dcs`, `scan.dcm` or no extension). A directory is read as
/// a DICOS CT series if its first DICOM file (in name order) is a DICOS CT, else as a
/// DICOM series, as [`load_dicom`] does.
///
/// Values are converted to `f32` with the file's scaling applied (NIfTI `scl_slope`,
/// DICOM rescale to HU, DICOS to μ in mm⁻¹ as [`dicos::load_dicos`]). 2D images load
/// with `nz = 1`; 4D NIfTI images whose 4th and later dimensions are all 1 load as 3D.
///
/// **Errors**: [`Error::Io`] if the file cannot be read; [`Error::Format`] if it is
/// truncated or its header inconsistent; [`Error::Unsupported`] for an unknown format or
/// an unsupported feature (4D data, RGB or complex voxels, multi-channel MetaImage, a
/// compressed DICOM transfer syntax without a pure-Rust decoder, a DICOS object other
/// than CT), and for a DICOS Threat Detection Report, whose message says it is a
/// threat report to read with [`dicos::load_tdr`]; [`Error::TooLarge`] if the volume
/// would not fit in memory.
///
/// # Example
/// ```
/// # fn main() -> ctscreen::Result<()> {
/// use ctscreen::{io, Volume};
/// let dir = std::env::temp_dir().join(format!("ctscreen-doc-load-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("scan.nii.gz");
/// let vol = Volume::new(ndarray::Array3::from_elem((2, 3, 4), 0.5), [2.0, 1.0, 1.0], [0.0; 3])?;
/// io::save(&path, &vol)?;
/// let back = io::load(&path)?;
/// assert_eq!(back.shape(), [2, 3, 4]);
/// assert_eq!(back.spacing(), [2.0, 1.0, 1.0]);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok(())
/// # }
/// ```
pub fn load(path: impl AsRef<Path>) -> Result<Volume> {
    let path = path.as_ref();
    match detect(path)? {
        Detected::Nifti => nifti::load(path),
        Detected::MetaImage => metaimage::load(path),
        Detected::DicomFile | Detected::Directory => dicom::load(path, None),
        Detected::Dicos(DicosKind::Ct) => self::dicos::load_dicos(path),
        Detected::Dicos(DicosKind::Tdr) => Err(self::dicos::tdr_is_not_a_volume(path)),
        Detected::Dicos(DicosKind::Other(uid)) => Err(dicos_other(path, &uid)),
    }
}

fn dicos_other(path: &Path, uid: &str) -> Error {
    Error::Unsupported {
        path: path.to_path_buf(),
        what: format!("DICOS object of SOP class {uid} (only DICOS CT loads as a volume)"),
    }
}

/// Reads only the header of a file (or, for a DICOM directory, of every slice) and
/// reports the format, the on-disk data type and the geometry [`load`] would give.
///
/// **Errors** as [`load`].
///
/// # Example
/// ```
/// # fn main() -> ctscreen::Result<()> {
/// use ctscreen::{io, Volume};
/// let dir = std::env::temp_dir().join(format!("ctscreen-doc-info-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("scan.mha");
/// io::save(&path, &Volume::new(ndarray::Array3::zeros((2, 3, 4)), [1.0; 3], [0.0; 3])?)?;
/// let info = io::read_info(&path)?;
/// assert_eq!(info.format, io::FileFormat::MetaImage);
/// assert_eq!(info.data_type, io::DataType::Float32);
/// assert_eq!(info.shape, [2, 3, 4]);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok(())
/// # }
/// ```
pub fn read_info(path: impl AsRef<Path>) -> Result<FileInfo> {
    let path = path.as_ref();
    match detect(path)? {
        Detected::Nifti => nifti::read_info(path),
        Detected::MetaImage => metaimage::read_info(path),
        Detected::DicomFile | Detected::Directory => dicom::read_info(path, None),
        Detected::Dicos(DicosKind::Ct) => self::dicos::read_info(path),
        Detected::Dicos(DicosKind::Tdr) => Err(self::dicos::tdr_is_not_a_volume(path)),
        Detected::Dicos(DicosKind::Other(uid)) => Err(dicos_other(path, &uid)),
    }
}

/// Saves a volume; the format comes from the extension (case-insensitive): `.nii`
/// (NIfTI-1), `.nii.gz` (NIfTI-1, gzip), `.mha` (MetaImage, one file), `.mhd` (MetaImage
/// header plus a `.raw` data file of the same stem), `.dcs` (DICOS CT, as
/// [`dicos::save_dicos`]: μ stored as MHU in unsigned 16 bits with the metadata the
/// DICOS CT IOD requires and fresh UIDs). Values are written as float32 except for
/// DICOS, MetaImage and DICOS uncompressed (see [`save_with`] to compress).
///
/// NIfTI stores geometry in single precision (sform and qform, both with code 1,
/// scanner): spacing, origin and direction are rounded to `f32`. MetaImage keeps them
/// exactly (shortest round-trip decimal), DICOS to the 16 characters of a decimal
/// string (exact for ordinary values).
///
/// The write is atomic: a temporary file in the target's directory, renamed when
/// complete, removed on error.
///
/// **Errors**: [`Error::Unsupported`] for an unknown extension or a NIfTI-1 dimension
/// above 32767; for DICOS, [`Error::NonFinite`] for NaN/inf voxels and
/// [`Error::InvalidParameter`] for more than 65535 rows or columns; [`Error::Io`] if the
/// file cannot be written.
///
/// # Example
/// ```
/// # fn main() -> ctscreen::Result<()> {
/// use ctscreen::{io, Volume};
/// let dir = std::env::temp_dir().join(format!("ctscreen-doc-save-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let vol = Volume::new(ndarray::Array3::from_elem((2, 3, 4), 1.5), [1.0, 0.5, 0.5], [-1.0, 2.0, 3.0])?;
/// io::save(dir.join("a.mhd"), &vol)?;              // a.mhd + a.raw
/// assert_eq!(io::load(dir.join("a.mhd"))?, vol);
/// assert!(io::save(dir.join("a.png"), &vol).is_err()); // unknown extension
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok(())
/// # }
/// ```
pub fn save(path: impl AsRef<Path>, volume: &Volume) -> Result<()> {
    save_with(path, volume, &SaveOptions::default())
}

/// [`save`] with options (MetaImage compression; for `.dcs`, RLE Lossless pixel data).
///
/// **Errors** as [`save`].
///
/// # Example
/// ```
/// # fn main() -> ctscreen::Result<()> {
/// use ctscreen::{io, Volume};
/// let dir = std::env::temp_dir().join(format!("ctscreen-doc-savewith-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("a.mha");
/// let vol = Volume::new(ndarray::Array3::zeros((8, 8, 8)), [1.0; 3], [0.0; 3])?;
/// io::save_with(&path, &vol, &io::SaveOptions::new().compress(true))?;
/// assert!(io::read_info(&path)?.compressed);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok(())
/// # }
/// ```
pub fn save_with(path: impl AsRef<Path>, volume: &Volume, options: &SaveOptions) -> Result<()> {
    let path = path.as_ref();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if name.ends_with(".nii.gz") {
        nifti::save(path, volume, true)
    } else if name.ends_with(".nii") {
        nifti::save(path, volume, false)
    } else if name.ends_with(".mha") {
        metaimage::save_mha(path, volume, options.compress)
    } else if name.ends_with(".mhd") {
        metaimage::save_mhd(path, volume, options.compress)
    } else if name.ends_with(".dcs") {
        let o = self::dicos::DicosSaveOptions {
            compression: if options.compress {
                self::dicos::Compression::Rle
            } else {
                self::dicos::Compression::None
            },
            ..Default::default()
        };
        self::dicos::save_dicos_with(path, volume, &o).map(|_| ())
    } else {
        Err(Error::Unsupported {
            path: path.to_path_buf(),
            what: "file extension for writing (expected .nii, .nii.gz, .mha, .mhd or .dcs)".into(),
        })
    }
}

/// Loads a DICOM CT series: a directory of single-frame slices (files that are not
/// DICOM, subdirectories and DICOM objects without pixel data are ignored), or a single
/// DICOM file (one slice).
///
/// Slices are sorted by their `ImagePositionPatient` projected on the slice normal
/// (the cross product of the two `ImageOrientationPatient` vectors), so file names and
/// order do not matter. Values are `stored × RescaleSlope + RescaleIntercept` (HU for
/// CT), per slice. Spacing is `(slice step, PixelSpacing[0] (between rows),
/// PixelSpacing[1] (between columns))`; with a single slice the slice step is
/// `SpacingBetweenSlices`, else `SliceThickness`, else 1 mm. The origin is the first
/// slice's position and the direction the orientation vectors and the normal, all in
/// DICOM's LPS patient frame, permuted to `(z, y, x)`.
///
/// **Errors**: [`Error::Format`] if the directory holds no DICOM image, holds several
/// series (the message lists their `SeriesInstanceUID`s; choose one with
/// [`load_dicom_series`]), if slices disagree in size, orientation or pixel spacing, if
/// two slices share a position, or if the slice step varies by more than 1 % of the
/// mean step; [`Error::Unsupported`] for multi-frame, colour or sheared (gantry-tilt)
/// data or a transfer syntax without a pure-Rust decoder; [`Error::Io`] for I/O errors.
///
/// # Example
/// ```no_run
/// # fn main() -> ctscreen::Result<()> {
/// let ct = ctscreen::io::load_dicom("series_dir/")?;
/// println!("{:?} voxels of {:?} mm", ct.shape(), ct.spacing());
/// # Ok(())
/// # }
/// ```
pub fn load_dicom(path: impl AsRef<Path>) -> Result<Volume> {
    dicom::load(path.as_ref(), None)
}

/// [`load_dicom`] restricted to the slices whose `SeriesInstanceUID` is `series_uid`,
/// for directories that hold several series.
///
/// **Errors** as [`load_dicom`]; [`Error::Format`] if no slice has that series UID (the
/// message lists the UIDs present).
pub fn load_dicom_series(path: impl AsRef<Path>, series_uid: &str) -> Result<Volume> {
    dicom::load(path.as_ref(), Some(series_uid))
}

/// What [`detect`] recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Detected {
    /// NIfTI-1 or NIfTI-2, plain or gzip.
    Nifti,
    /// A MetaImage text header.
    MetaImage,
    /// A DICOM Part 10 file (`DICM` at offset 128) that is not DICOS.
    DicomFile,
    /// A DICOS object; a directory whose first DICOM file is a DICOS CT is `Ct`.
    Dicos(DicosKind),
    /// A directory: a DICOM series.
    Directory,
}

/// Recognises the format from the first bytes of the file.
fn detect(path: &Path) -> Result<Detected> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Ok(if self::dicos::is_dicos_ct(path) {
            Detected::Dicos(DicosKind::Ct)
        } else {
            Detected::Directory
        });
    }
    let head = read_head(path, 4096)?;
    if head.is_empty() {
        return Err(Error::format(path, "empty file"));
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        // Gzip: only NIfTI is read compressed as a whole file.
        return if nifti::sniff_gz(path)? {
            Ok(Detected::Nifti)
        } else {
            Err(Error::Unsupported {
                path: path.to_path_buf(),
                what: "gzip-compressed file that is not NIfTI".into(),
            })
        };
    }
    if nifti::sniff(path, &head)? {
        return Ok(Detected::Nifti);
    }
    if dicom::sniff(&head) {
        return Ok(self::dicos::dicos_kind(path).map_or(Detected::DicomFile, Detected::Dicos));
    }
    if metaimage::sniff(&head) {
        return Ok(Detected::MetaImage);
    }
    Err(Error::Unsupported {
        path: path.to_path_buf(),
        what: "file format (not NIfTI-1/2, MetaImage or DICOM)".into(),
    })
}

/// The first `n` bytes of a file (fewer if the file is shorter).
fn read_head(path: &Path, n: usize) -> Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut head = Vec::with_capacity(n);
    file.take(n as u64)
        .read_to_end(&mut head)
        .map_err(|e| Error::io(path, e))?;
    Ok(head)
}

/// Reads exactly `len` bytes of voxel data from `reader`, growing the buffer only as data
/// arrives (so a lying header on a compressed stream cannot force a huge allocation).
/// `what` names the data in the truncation message.
fn read_data(
    reader: &mut dyn std::io::Read,
    len: u64,
    path: &Path,
    what: &str,
    reserve: bool,
) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::new();
    if reserve {
        let n = usize::try_from(len).map_err(|_| Error::TooLarge {
            what: what.to_string(),
            bytes: u128::from(len),
            limit: usize::MAX as u128,
        })?;
        buf.try_reserve_exact(n).map_err(|_| Error::TooLarge {
            what: what.to_string(),
            bytes: u128::from(len),
            limit: crate::volume::memory_limit_bytes(),
        })?;
    }
    let got = reader
        .take(len)
        .read_to_end(&mut buf)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData => {
                Error::format(path, format!("corrupt compressed {what}: {e}"))
            }
            _ => Error::io(path, e),
        })?;
    if (got as u64) < len {
        return Err(Error::format(
            path,
            format!("truncated: {what} should be {len} bytes, found {got}"),
        ));
    }
    Ok(buf)
}

/// Converts file-order `(x, y, z)` geometry to the volume's `(z, y, x)` order (and back:
/// the permutation is its own inverse).
fn reverse3(a: [f64; 3]) -> [f64; 3] {
    [a[2], a[1], a[0]]
}

/// `P D P` with `P` the axis reversal: the direction matrix in the other axis order.
fn reverse_matrix(d: [[f64; 3]; 3]) -> [[f64; 3]; 3] {
    std::array::from_fn(|r| std::array::from_fn(|c| d[2 - r][2 - c]))
}

/// True if the columns of `d` are orthonormal to `tol`.
fn is_orthonormal(d: &[[f64; 3]; 3], tol: f64) -> bool {
    (0..3).all(|a| {
        (0..3).all(|b| {
            let dot: f64 = (0..3).map(|r| d[r][a] * d[r][b]).sum();
            let want = if a == b { 1.0 } else { 0.0 };
            dot.is_finite() && (dot - want).abs() <= tol
        })
    })
}

/// The nearest orthonormal matrix (polar decomposition by Newton iteration
/// `R ← (R + R⁻ᵀ) / 2`), for slightly non-orthogonal file matrices; `None` if `d` is
/// singular or not finite.
fn orthonormalize(d: [[f64; 3]; 3]) -> Option<[[f64; 3]; 3]> {
    let mut r = d;
    for _ in 0..60 {
        let inv_t = inverse_transpose(&r)?;
        let next: [[f64; 3]; 3] =
            std::array::from_fn(|i| std::array::from_fn(|j| 0.5 * (r[i][j] + inv_t[i][j])));
        let delta: f64 = (0..3)
            .flat_map(|i| (0..3).map(move |j| (i, j)))
            .map(|(i, j)| (next[i][j] - r[i][j]).abs())
            .sum();
        r = next;
        if delta < 1e-15 {
            break;
        }
    }
    is_orthonormal(&r, 1e-9).then_some(r)
}

fn inverse_transpose(m: &[[f64; 3]; 3]) -> Option<[[f64; 3]; 3]> {
    // Cofactor matrix / determinant = inverse transposed.
    let cof = |r: usize, c: usize| {
        let (r1, r2) = ((r + 1) % 3, (r + 2) % 3);
        let (c1, c2) = ((c + 1) % 3, (c + 2) % 3);
        m[r1][c1] * m[r2][c2] - m[r1][c2] * m[r2][c1]
    };
    let det = m[0][0] * cof(0, 0) + m[0][1] * cof(0, 1) + m[0][2] * cof(0, 2);
    if !det.is_finite() || det.abs() < 1e-12 {
        return None;
    }
    Some(std::array::from_fn(|r| {
        std::array::from_fn(|c| cof(r, c) / det)
    }))
}

/// Builds the volume from file contents, turning geometry errors into [`Error::Format`]
/// about the file (bad values there are the file's fault, not the caller's).
fn make_volume(
    path: &Path,
    data: ndarray::Array3<f32>,
    spacing: [f64; 3],
    origin: [f64; 3],
    direction: [[f64; 3]; 3],
) -> Result<Volume> {
    let vol = Volume::new(data, spacing, origin).map_err(|e| Error::format(path, e.to_string()))?;
    vol.with_direction(direction)
        .map_err(|e| Error::format(path, e.to_string()))
}

/// `name` in the directory of `path`.
fn with_name(path: &Path, name: &str) -> PathBuf {
    match path.parent() {
        Some(dir) => dir.join(name),
        None => PathBuf::from(name),
    }
}

/// Writes `bytes` to `path` atomically: into a hidden temporary file in the same
/// directory, renamed over `path` only when complete and synced; on failure the
/// temporary file is removed and `path` is untouched. Reports, JSON sidecars and PNGs
/// are written this way.
///
/// **Errors** with [`Error::Io`] naming `path` if the directory is missing or not writable.
pub fn write_bytes_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    let path = path.as_ref();
    atomic::write_atomic(path, ".tmp", |tmp| {
        std::fs::write(tmp, bytes).map_err(|e| Error::io(path, e))
    })
}

/// [`write_bytes_atomic`] for text.
///
/// **Errors** as [`write_bytes_atomic`].
pub fn write_text_atomic(path: impl AsRef<Path>, text: &str) -> Result<()> {
    write_bytes_atomic(path, text.as_bytes())
}
