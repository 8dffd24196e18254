//! NIfTI-1 and NIfTI-2.
//!
//! The header (348 bytes for NIfTI-1, 540 for NIfTI-2) is parsed and validated here
//! before anything is allocated: dimensions, datatype, `vox_offset` and the data length
//! against the file. The voxel bytes are then handed to the `nifti` crate
//! ([`nifti::InMemNiftiVolume::from_raw_fields`] and [`nifti::IntoNdArray`]) for the
//! conversion of every real datatype to `f32` or `f64`. Writing uses the crate's
//! [`nifti::writer::WriterOptions`] with a header built here.
//!
//! Axes: NIfTI `(i, j, k)`, i fastest, is the volume's `(z, y, x) = (k, j, i)`. Spacing is
//! `pixdim[1..=3]` (in mm, converted from metres or micrometres if `xyzt_units` says so);
//! origin and direction come from the sform if `sform_code > 0`, else the qform if
//! `qform_code > 0`, else origin 0 and identity direction. The world frame is NIfTI's RAS.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use ::nifti::{Endianness, InMemNiftiVolume, IntoNdArray, NiftiHeader, NiftiType};
use flate2::read::MultiGzDecoder;
use ndarray::{Array3, Ix3};

use super::{
    atomic, make_volume, read_data, reverse3, reverse_matrix, DataType, FileFormat, FileInfo,
};
use crate::{Error, Result, Volume};

const HDR1: usize = 348;
const HDR2: usize = 540;

/// True if `head` (the start of an uncompressed file) is a NIfTI header.
///
/// **Errors** with [`Error::Format`] for a file that starts like a NIfTI header but is
/// too short to hold one (a truncated file).
pub(super) fn sniff(path: &Path, head: &[u8]) -> Result<bool> {
    let Some(version) = version_of(head) else {
        return Ok(false);
    };
    let need = if version == 1 { HDR1 } else { HDR2 };
    if head.len() < need {
        return Err(Error::format(
            path,
            format!(
                "truncated NIfTI-{version} header: {} bytes, expected {need}",
                head.len()
            ),
        ));
    }
    Ok(true)
}

/// True if the gzip file `path` decompresses to a NIfTI header.
///
/// **Errors** with [`Error::Format`] if the stream is corrupt before a header shows.
pub(super) fn sniff_gz(path: &Path) -> Result<bool> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut head = Vec::new();
    let read = MultiGzDecoder::new(BufReader::new(file))
        .take(HDR2 as u64)
        .read_to_end(&mut head);
    match read {
        Ok(_) => Ok(version_of(&head).is_some()),
        Err(_) if version_of(&head).is_some() => Ok(true),
        Err(e) => Err(Error::format(
            path,
            format!("corrupt or truncated gzip stream: {e}"),
        )),
    }
}

/// 1 or 2 if `head` starts with a NIfTI-1 or NIfTI-2 header (checked by `sizeof_hdr` and
/// magic, whatever the byte order).
fn version_of(head: &[u8]) -> Option<u8> {
    if head.len() < 4 {
        return None;
    }
    let size = i32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let sizes = [size, size.swap_bytes()];
    if sizes.contains(&(HDR1 as i32)) {
        // The magic may be missing only if the file is truncated before it.
        if head.len() < HDR1 || matches!(&head[344..348], b"n+1\0" | b"ni1\0") {
            return Some(1);
        }
    }
    if sizes.contains(&(HDR2 as i32))
        && head.len() >= 8
        && matches!(&head[4..8], b"n+2\0" | b"ni2\0")
    {
        return Some(2);
    }
    None
}

/// The fields of a NIfTI-1 or NIfTI-2 header that this module uses, widened to the
/// NIfTI-2 types.
#[derive(Debug, Clone)]
struct Header {
    version: u8,
    /// `ni1`/`ni2`: the voxels are in a separate `.img` file.
    pair: bool,
    big_endian: bool,
    dim: [i64; 8],
    datatype: i16,
    pixdim: [f64; 8],
    vox_offset: f64,
    scl_slope: f64,
    scl_inter: f64,
    xyzt_units: i32,
    qform_code: i32,
    sform_code: i32,
    quatern: [f64; 6],
    srow: [[f64; 4]; 3],
}

/// Reads fixed-offset header fields in either byte order.
struct Fields<'a> {
    b: &'a [u8],
    big: bool,
}

impl Fields<'_> {
    fn bytes<const N: usize>(&self, off: usize) -> [u8; N] {
        let mut a = [0u8; N];
        a.copy_from_slice(&self.b[off..off + N]);
        if self.big {
            a.reverse();
        }
        a
    }
    fn i16(&self, off: usize) -> i16 {
        i16::from_le_bytes(self.bytes(off))
    }
    fn i32(&self, off: usize) -> i32 {
        i32::from_le_bytes(self.bytes(off))
    }
    fn i64(&self, off: usize) -> i64 {
        i64::from_le_bytes(self.bytes(off))
    }
    fn f32(&self, off: usize) -> f64 {
        f64::from(f32::from_le_bytes(self.bytes(off)))
    }
    fn f64(&self, off: usize) -> f64 {
        f64::from_le_bytes(self.bytes(off))
    }
}

impl Header {
    /// Parses the header at the start of `b` (at least 348 or 540 bytes, as
    /// [`version_of`] said).
    fn parse(path: &Path, b: &[u8]) -> Result<Header> {
        let version = version_of(b).ok_or_else(|| Error::format(path, "not a NIfTI header"))?;
        let need = if version == 1 { HDR1 } else { HDR2 };
        if b.len() < need {
            return Err(Error::format(
                path,
                format!(
                    "truncated NIfTI-{version} header: {} bytes, expected {need}",
                    b.len()
                ),
            ));
        }
        let little = i32::from_le_bytes([b[0], b[1], b[2], b[3]]) == need as i32;
        let f = Fields { b, big: !little };
        let h = if version == 1 {
            Header {
                version,
                pair: &b[344..348] == b"ni1\0",
                big_endian: !little,
                dim: std::array::from_fn(|i| i64::from(f.i16(40 + 2 * i))),
                datatype: f.i16(70),
                pixdim: std::array::from_fn(|i| f.f32(76 + 4 * i)),
                vox_offset: f.f32(108),
                scl_slope: f.f32(112),
                scl_inter: f.f32(116),
                xyzt_units: i32::from(b[123]),
                qform_code: i32::from(f.i16(252)),
                sform_code: i32::from(f.i16(254)),
                quatern: std::array::from_fn(|i| f.f32(256 + 4 * i)),
                srow: std::array::from_fn(|r| std::array::from_fn(|c| f.f32(280 + 16 * r + 4 * c))),
            }
        } else {
            Header {
                version,
                pair: &b[4..8] == b"ni2\0",
                big_endian: !little,
                dim: std::array::from_fn(|i| f.i64(16 + 8 * i)),
                datatype: f.i16(12),
                pixdim: std::array::from_fn(|i| f.f64(104 + 8 * i)),
                vox_offset: f.i64(168) as f64,
                scl_slope: f.f64(176),
                scl_inter: f.f64(184),
                xyzt_units: f.i32(500),
                qform_code: f.i32(344),
                sform_code: f.i32(348),
                quatern: std::array::from_fn(|i| f.f64(352 + 8 * i)),
                srow: std::array::from_fn(|r| std::array::from_fn(|c| f.f64(400 + 32 * r + 8 * c))),
            }
        };
        Ok(h)
    }

    fn format(&self) -> FileFormat {
        if self.version == 1 {
            FileFormat::Nifti1
        } else {
            FileFormat::Nifti2
        }
    }

    /// `(nx, ny, nz)`, validated: `dim[0]` in 1..=7, every used dimension ≥ 1, and every
    /// dimension after the third equal to 1.
    fn shape_xyz(&self, path: &Path) -> Result<[usize; 3]> {
        let nd = self.dim[0];
        if !(1..=7).contains(&nd) {
            return Err(Error::format(
                path,
                format!("invalid dim[0] = {nd} (expected 1 to 7 dimensions)"),
            ));
        }
        let nd = nd as usize;
        let used = &self.dim[1..=nd];
        if let Some(i) = used.iter().position(|&d| d < 1) {
            return Err(Error::format(
                path,
                format!("invalid dim[{}] = {} (expected ≥ 1)", i + 1, used[i]),
            ));
        }
        if used.len() > 3 && used[3..].iter().any(|&d| d != 1) {
            let shape: Vec<String> = used.iter().map(|d| d.to_string()).collect();
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                what: format!(
                    "{nd}D NIfTI image of shape ({}): only 3D volumes (or 4D with a 4th dimension of 1) load as a Volume",
                    shape.join(", ")
                ),
            });
        }
        let mut out = [1usize; 3];
        for (a, o) in out.iter_mut().enumerate().take(nd.min(3)) {
            *o = usize::try_from(used[a]).map_err(|_| {
                Error::format(path, format!("invalid dim[{}] = {}", a + 1, used[a]))
            })?;
        }
        Ok(out)
    }

    fn data_type(&self, path: &Path) -> Result<(DataType, NiftiType)> {
        let t = match self.datatype {
            2 => (DataType::UInt8, NiftiType::Uint8),
            256 => (DataType::Int8, NiftiType::Int8),
            4 => (DataType::Int16, NiftiType::Int16),
            512 => (DataType::UInt16, NiftiType::Uint16),
            8 => (DataType::Int32, NiftiType::Int32),
            768 => (DataType::UInt32, NiftiType::Uint32),
            1024 => (DataType::Int64, NiftiType::Int64),
            1280 => (DataType::UInt64, NiftiType::Uint64),
            16 => (DataType::Float32, NiftiType::Float32),
            64 => (DataType::Float64, NiftiType::Float64),
            code => {
                let name = match code {
                    32 => "complex64",
                    1792 => "complex128",
                    2048 => "complex256",
                    128 => "RGB24",
                    2304 => "RGBA32",
                    1536 => "float128",
                    1 => "binary",
                    0 => "unknown (0)",
                    _ => "unknown",
                };
                return Err(Error::Unsupported {
                    path: path.to_path_buf(),
                    what: format!(
                        "NIfTI datatype {code} ({name}): only real scalar types (uint8 to float64) load as a Volume"
                    ),
                });
            }
        };
        Ok(t)
    }

    /// Metres or micrometres to millimetres, from `xyzt_units` (unknown units are taken as mm).
    fn unit_to_mm(&self) -> f64 {
        match self.xyzt_units & 7 {
            1 => 1000.0,
            3 => 1e-3,
            _ => 1.0,
        }
    }

    /// `(spacing, origin, direction)` in NIfTI's `(x, y, z)` order.
    fn geometry_xyz(&self, path: &Path, shape: [usize; 3]) -> Result<GeometryXyz> {
        let unit = self.unit_to_mm();
        let mut spacing = [1.0; 3];
        for a in 0..3 {
            let p = self.pixdim[a + 1] * unit;
            if p.is_finite() && p > 0.0 {
                spacing[a] = p;
            } else if shape[a] > 1 {
                return Err(Error::format(
                    path,
                    format!(
                        "invalid pixdim[{}] = {} (expected a finite voxel size > 0)",
                        a + 1,
                        self.pixdim[a + 1]
                    ),
                ));
            }
        }
        if self.sform_code > 0 {
            if let Some((origin, dir)) = self.sform(unit) {
                return Ok((spacing, origin, dir));
            }
        }
        if self.qform_code > 0 {
            if let Some((origin, dir)) = self.qform(unit) {
                return Ok((spacing, origin, dir));
            }
        }
        Ok((spacing, [0.0; 3], IDENTITY))
    }

    /// Origin and direction cosines from the sform rows (columns normalised, made
    /// orthonormal if slightly sheared); `None` if unusable (non-finite, singular).
    fn sform(&self, unit: f64) -> Option<([f64; 3], [[f64; 3]; 3])> {
        let s = &self.srow;
        if s.iter().flatten().any(|v| !v.is_finite()) {
            return None;
        }
        let mut d = [[0.0; 3]; 3];
        for c in 0..3 {
            let norm = (0..3).map(|r| s[r][c] * s[r][c]).sum::<f64>().sqrt();
            if norm <= 0.0 || !norm.is_finite() {
                return None;
            }
            for r in 0..3 {
                d[r][c] = s[r][c] / norm;
            }
        }
        let d = if super::is_orthonormal(&d, 1e-6) {
            d
        } else {
            super::orthonormalize(d)?
        };
        Some(([s[0][3] * unit, s[1][3] * unit, s[2][3] * unit], d))
    }

    /// Origin and direction cosines from the qform quaternion and `qfac = pixdim[0]`.
    fn qform(&self, unit: f64) -> Option<([f64; 3], [[f64; 3]; 3])> {
        let [mut b, mut c, mut d, x, y, z] = self.quatern;
        if self.quatern.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let mut a2 = 1.0 - (b * b + c * c + d * d);
        if a2 < 1e-7 {
            // Rounding put (b, c, d) on or outside the unit sphere: a 180° rotation.
            let n = (b * b + c * c + d * d).sqrt();
            if n == 0.0 {
                return None;
            }
            (b, c, d) = (b / n, c / n, d / n);
            a2 = 0.0;
        }
        let a = a2.sqrt();
        let mut r = [
            [
                a * a + b * b - c * c - d * d,
                2.0 * (b * c - a * d),
                2.0 * (b * d + a * c),
            ],
            [
                2.0 * (b * c + a * d),
                a * a + c * c - b * b - d * d,
                2.0 * (c * d - a * b),
            ],
            [
                2.0 * (b * d - a * c),
                2.0 * (c * d + a * b),
                a * a + d * d - c * c - b * b,
            ],
        ];
        if self.pixdim[0] < 0.0 {
            for row in &mut r {
                row[2] = -row[2];
            }
        }
        Some(([x * unit, y * unit, z * unit], r))
    }

    /// Where the voxels start in the data stream, validated.
    fn data_offset(&self, path: &Path) -> Result<u64> {
        let hdr = if self.version == 1 { HDR1 } else { HDR2 } as f64;
        let off = self.vox_offset;
        if !off.is_finite() || off < 0.0 || off.fract() != 0.0 || off > 1e15 {
            return Err(Error::format(
                path,
                format!("invalid vox_offset = {off} (expected a whole number of bytes)"),
            ));
        }
        if self.pair {
            return Ok(off as u64);
        }
        if off == 0.0 {
            // Some writers leave it 0 in single files: the data follows the header and
            // the 4-byte extension flag.
            return Ok(hdr as u64 + 4);
        }
        if off < hdr {
            return Err(Error::format(
                path,
                format!("invalid vox_offset = {off} (inside the {hdr}-byte header)"),
            ));
        }
        Ok(off as u64)
    }

    /// `scl_slope`/`scl_inter` if they scale (slope finite and non-zero).
    fn scaling(&self, path: &Path) -> Result<Option<(f64, f64)>> {
        let (slope, inter) = (self.scl_slope, self.scl_inter);
        if slope == 0.0 || !slope.is_finite() {
            return Ok(None);
        }
        if !inter.is_finite() {
            return Err(Error::format(
                path,
                format!("invalid scl_inter = {inter} with scl_slope = {slope}"),
            ));
        }
        if slope == 1.0 && inter == 0.0 {
            return Ok(None);
        }
        Ok(Some((slope, inter)))
    }
}

const IDENTITY: [[f64; 3]; 3] = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];

/// Spacing, origin and direction cosines in file `(x, y, z)` order.
type GeometryXyz = ([f64; 3], [f64; 3], [[f64; 3]; 3]);

/// An opened NIfTI file: parsed header and where its voxels are.
struct Opened {
    header: Header,
    gz_header: bool,
    data_path: PathBuf,
    data_gz: bool,
}

fn is_gz(path: &Path) -> Result<bool> {
    Ok(super::read_head(path, 2)?.starts_with(&[0x1f, 0x8b]))
}

fn open(path: &Path) -> Result<Opened> {
    let gz_header = is_gz(path)?;
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut head = Vec::new();
    let read = if gz_header {
        MultiGzDecoder::new(BufReader::new(file))
            .take(HDR2 as u64)
            .read_to_end(&mut head)
    } else {
        file.take(HDR2 as u64).read_to_end(&mut head)
    };
    read.map_err(|e| {
        if gz_header {
            Error::format(path, format!("corrupt gzip stream: {e}"))
        } else {
            Error::io(path, e)
        }
    })?;
    let header = Header::parse(path, &head)?;
    let (data_path, data_gz) = if header.pair {
        let img = image_path(path)?;
        let gz = is_gz(&img)?;
        (img, gz)
    } else {
        (path.to_path_buf(), gz_header)
    };
    Ok(Opened {
        header,
        gz_header,
        data_path,
        data_gz,
    })
}

/// The `.img` (or `.img.gz`) file next to a `.hdr` header of a NIfTI pair.
fn image_path(hdr: &Path) -> Result<PathBuf> {
    let name = hdr
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let lower = name.to_ascii_lowercase();
    let stem = if lower.ends_with(".hdr.gz") {
        &name[..name.len() - 7]
    } else if lower.ends_with(".hdr") {
        &name[..name.len() - 4]
    } else {
        return Err(Error::format(
            hdr,
            "header-only NIfTI (magic ni1/ni2) whose name does not end in .hdr: cannot find its .img file",
        ));
    };
    for ext in [".img", ".img.gz", ".IMG"] {
        let p = super::with_name(hdr, &format!("{stem}{ext}"));
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(Error::format(
        hdr,
        format!("header-only NIfTI (magic ni1/ni2): its data file {stem}.img is missing"),
    ))
}

fn info_of(path: &Path, o: &Opened) -> Result<FileInfo> {
    let h = &o.header;
    let shape_xyz = h.shape_xyz(path)?;
    let (data_type, _) = h.data_type(path)?;
    let (spacing, origin, dir) = h.geometry_xyz(path, shape_xyz)?;
    Ok(FileInfo {
        format: h.format(),
        data_type,
        compressed: o.gz_header || o.data_gz,
        shape: [shape_xyz[2], shape_xyz[1], shape_xyz[0]],
        spacing: reverse3(spacing),
        origin: reverse3(origin),
        direction: reverse_matrix(dir),
    })
}

pub(super) fn read_info(path: &Path) -> Result<FileInfo> {
    let o = open(path)?;
    info_of(path, &o)
}

pub(super) fn load(path: &Path) -> Result<Volume> {
    let o = open(path)?;
    let info = info_of(path, &o)?;
    let h = &o.header;
    let (dtype, ntype) = h.data_type(path)?;
    let shape_xyz = [info.shape[2], info.shape[1], info.shape[0]];
    // Saturating: three NIfTI-2 dimensions of up to 2^63 overflow even u128.
    let count = crate::volume::element_count(&shape_xyz);
    let nbytes = count.saturating_mul(dtype.size() as u128);
    let scaling = h.scaling(path)?;
    // Raw bytes + the f32 result (+ an f64 intermediate when scaling).
    let per_voxel = dtype.size() as u128 + 4 + if scaling.is_some() { 8 } else { 0 };
    let offset = h.data_offset(path)?;
    let dpath = &o.data_path;
    if !o.data_gz {
        let len = std::fs::metadata(dpath)
            .map_err(|e| Error::io(dpath, e))?
            .len();
        if u128::from(offset).saturating_add(nbytes) > u128::from(len) {
            return Err(Error::format(
                dpath,
                format!(
                    "truncated: the header declares {} voxels of {dtype} ({nbytes} bytes) from byte {offset}, but the file has {len} bytes",
                    shape_xyz.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(" × ")
                ),
            ));
        }
    }
    crate::volume::ensure_allocatable("NIfTI volume", count, per_voxel)?;
    let nbytes = nbytes as u64; // ≤ the memory limit, so it fits
    let file = File::open(dpath).map_err(|e| Error::io(dpath, e))?;
    let raw = if o.data_gz {
        let mut r = MultiGzDecoder::new(BufReader::new(file));
        skip(&mut r, offset, dpath)?;
        read_data(&mut r, nbytes, dpath, "voxel data", false)?
    } else {
        let mut r = BufReader::new(file);
        r.seek(SeekFrom::Start(offset))
            .map_err(|e| Error::io(dpath, e))?;
        read_data(&mut r, nbytes, dpath, "voxel data", true)?
    };
    let data = convert(path, h, ntype, shape_xyz, raw, scaling)?;
    make_volume(path, data, info.spacing, info.origin, info.direction)
}

/// Skips `n` bytes of a stream (the header and extensions of a compressed file).
fn skip(r: &mut dyn Read, n: u64, path: &Path) -> Result<()> {
    let skipped = std::io::copy(&mut r.take(n), &mut std::io::sink())
        .map_err(|e| Error::format(path, format!("corrupt gzip stream: {e}")))?;
    if skipped < n {
        return Err(Error::format(
            path,
            format!(
                "truncated: the voxel data should start at byte {n}, the stream ends at {skipped}"
            ),
        ));
    }
    Ok(())
}

/// Raw voxel bytes (file order, x fastest) to the `(z, y, x)` array, through the `nifti`
/// crate's datatype conversion. Scaling is done here in `f64`, rounded once to `f32`.
fn convert(
    path: &Path,
    h: &Header,
    ntype: NiftiType,
    shape_xyz: [usize; 3],
    raw: Vec<u8>,
    scaling: Option<(f64, f64)>,
) -> Result<Array3<f32>> {
    let mut raw_dim = [1u16; 8];
    raw_dim[0] = 3;
    for a in 0..3 {
        raw_dim[a + 1] = u16::try_from(shape_xyz[a]).map_err(|_| Error::Unsupported {
            path: path.to_path_buf(),
            what: format!("NIfTI dimension {} > 65535", shape_xyz[a]),
        })?;
    }
    let endianness = if h.big_endian {
        Endianness::Big
    } else {
        Endianness::Little
    };
    let nifti_err = |e: ::nifti::NiftiError| Error::format(path, e.to_string());
    // Slope 0: the crate leaves the values unscaled.
    let vol = InMemNiftiVolume::from_raw_fields(raw_dim, ntype, 0.0, 0.0, raw, endianness)
        .map_err(nifti_err)?;
    // The crate gives a Fortran-order (i, j, k) array; reversing the axes gives the
    // C-order (k, j, i) = (z, y, x) array without copying.
    let data = match scaling {
        None => vol.into_ndarray::<f32>().map_err(nifti_err)?,
        Some((slope, inter)) => vol
            .into_ndarray::<f64>()
            .map_err(nifti_err)?
            .mapv(|v| (v * slope + inter) as f32),
    };
    let data = data
        .into_dimensionality::<Ix3>()
        .map_err(|e| Error::format(path, e.to_string()))?
        .reversed_axes();
    Ok(if data.is_standard_layout() {
        data
    } else {
        data.as_standard_layout().into_owned()
    })
}

/// Writes NIfTI-1 float32, gzip-compressed if `gz`, with sform and qform (codes 1,
/// scanner) from the volume's geometry.
pub(super) fn save(path: &Path, vol: &Volume, gz: bool) -> Result<()> {
    let [nz, ny, nx] = vol.shape();
    if let Some(&n) = [nx, ny, nz].iter().find(|&&n| n > i16::MAX as usize) {
        return Err(Error::Unsupported {
            path: path.to_path_buf(),
            what: format!("NIfTI-1 dimension {n} (at most 32767 per axis)"),
        });
    }
    let header = header_for(vol)?;
    let ext = if gz { ".nii.gz" } else { ".nii" };
    atomic::write_atomic(path, ext, |tmp| {
        ::nifti::writer::WriterOptions::new(tmp)
            .reference_header(&header)
            .write_nifti(&vol.data().t())
            .map_err(|e| match e {
                ::nifti::NiftiError::Io(io) => Error::io(path, io),
                e => Error::format(path, e.to_string()),
            })?;
        // The crate drops its buffered writer without checking the final flush: check
        // the length of what reached the file.
        if !gz {
            let want = 352 + 4 * (nx * ny * nz) as u64;
            let len = std::fs::metadata(tmp)
                .map_err(|e| Error::io(path, e))?
                .len();
            if len != want {
                return Err(Error::io(
                    path,
                    std::io::Error::other(format!("short write: {len} of {want} bytes")),
                ));
            }
        }
        Ok(())
    })
}

/// The NIfTI-1 header (geometry fields) for `vol`.
fn header_for(vol: &Volume) -> Result<NiftiHeader> {
    let spacing = reverse3(vol.spacing());
    let origin = reverse3(vol.origin());
    let dir = reverse_matrix(vol.direction());
    let mut h = NiftiHeader {
        endianness: Endianness::Little,
        xyzt_units: 2, // mm
        qform_code: 1,
        sform_code: 1,
        ..NiftiHeader::default()
    };
    h.set_description_str("ctscreen")
        .map_err(|e| Error::format("", e.to_string()))?;
    for r in 0..3 {
        let row: [f32; 4] = [
            (dir[r][0] * spacing[0]) as f32,
            (dir[r][1] * spacing[1]) as f32,
            (dir[r][2] * spacing[2]) as f32,
            origin[r] as f32,
        ];
        match r {
            0 => h.srow_x = row,
            1 => h.srow_y = row,
            _ => h.srow_z = row,
        }
    }
    let (quat, qfac) = quaternion_of(dir);
    h.pixdim = [
        qfac as f32,
        spacing[0] as f32,
        spacing[1] as f32,
        spacing[2] as f32,
        1.0,
        1.0,
        1.0,
        1.0,
    ];
    h.quatern_b = quat[1] as f32;
    h.quatern_c = quat[2] as f32;
    h.quatern_d = quat[3] as f32;
    h.quatern_x = origin[0] as f32;
    h.quatern_y = origin[1] as f32;
    h.quatern_z = origin[2] as f32;
    Ok(h)
}

/// The qform quaternion `(a, b, c, d)` (a ≥ 0) and `qfac` (±1) of an orthonormal
/// direction matrix: a proper rotation times `diag(1, 1, qfac)`.
fn quaternion_of(dir: [[f64; 3]; 3]) -> ([f64; 4], f64) {
    let det = dir[0][0] * (dir[1][1] * dir[2][2] - dir[1][2] * dir[2][1])
        - dir[0][1] * (dir[1][0] * dir[2][2] - dir[1][2] * dir[2][0])
        + dir[0][2] * (dir[1][0] * dir[2][1] - dir[1][1] * dir[2][0]);
    let mut r = dir;
    let qfac = if det < 0.0 {
        for row in &mut r {
            row[2] = -row[2];
        }
        -1.0
    } else {
        1.0
    };
    let trace = r[0][0] + r[1][1] + r[2][2];
    let (mut a, mut b, mut c, mut d);
    if trace + 1.0 > 0.5 {
        a = 0.5 * (trace + 1.0).sqrt();
        b = 0.25 * (r[2][1] - r[1][2]) / a;
        c = 0.25 * (r[0][2] - r[2][0]) / a;
        d = 0.25 * (r[1][0] - r[0][1]) / a;
    } else {
        let xd = 1.0 + r[0][0] - (r[1][1] + r[2][2]);
        let yd = 1.0 + r[1][1] - (r[0][0] + r[2][2]);
        let zd = 1.0 + r[2][2] - (r[0][0] + r[1][1]);
        if xd > 1.0 {
            b = 0.5 * xd.sqrt();
            c = 0.25 * (r[0][1] + r[1][0]) / b;
            d = 0.25 * (r[0][2] + r[2][0]) / b;
            a = 0.25 * (r[2][1] - r[1][2]) / b;
        } else if yd > 1.0 {
            c = 0.5 * yd.sqrt();
            b = 0.25 * (r[0][1] + r[1][0]) / c;
            d = 0.25 * (r[1][2] + r[2][1]) / c;
            a = 0.25 * (r[0][2] - r[2][0]) / c;
        } else {
            d = 0.5 * zd.sqrt();
            b = 0.25 * (r[0][2] + r[2][0]) / d;
            c = 0.25 * (r[1][2] + r[2][1]) / d;
            a = 0.25 * (r[1][0] - r[0][1]) / d;
        }
        if a < 0.0 {
            (a, b, c, d) = (-a, -b, -c, -d);
        }
    }
    ([a, b, c, d], qfac)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(qfac: f64, q: [f64; 3]) -> Header {
        let mut pixdim = [1.0; 8];
        pixdim[0] = qfac;
        Header {
            version: 1,
            pair: false,
            big_endian: false,
            dim: [3, 2, 2, 2, 1, 1, 1, 1],
            datatype: 16,
            pixdim,
            vox_offset: 352.0,
            scl_slope: 0.0,
            scl_inter: 0.0,
            xyzt_units: 2,
            qform_code: 1,
            sform_code: 0,
            quatern: [q[0], q[1], q[2], 0.0, 0.0, 0.0],
            srow: [[0.0; 4]; 3],
        }
    }

    #[test]
    fn quaternion_round_trips_through_qform() {
        // A rotation of 30° about (1, 2, 2)/3 composed with each axis flip, and the
        // 180° rotations that take the `trace + 1 ≤ 0.5` branches.
        let (s, c) = (30f64.to_radians().sin(), 30f64.to_radians().cos());
        let u = [1.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0];
        let rot: [[f64; 3]; 3] = std::array::from_fn(|i| {
            std::array::from_fn(|j| {
                let k = [[0.0, -u[2], u[1]], [u[2], 0.0, -u[0]], [-u[1], u[0], 0.0]];
                let id = if i == j { 1.0 } else { 0.0 };
                c * id + s * k[i][j] + (1.0 - c) * u[i] * u[j]
            })
        });
        let half_turns = [
            [[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]],
            [[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, -1.0]],
            [[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]],
        ];
        for base in [rot, IDENTITY].into_iter().chain(half_turns) {
            for flip in [1.0, -1.0] {
                let mut m = base;
                for row in &mut m {
                    row[2] *= flip;
                }
                let (q, qfac) = quaternion_of(m);
                let (_, back) = header(qfac, [q[1], q[2], q[3]]).qform(1.0).unwrap();
                for i in 0..3 {
                    for j in 0..3 {
                        assert!((back[i][j] - m[i][j]).abs() < 1e-12, "{m:?} -> {back:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn version_needs_size_and_magic() {
        let mut b = vec![0u8; 348];
        b[0..4].copy_from_slice(&348i32.to_le_bytes());
        assert_eq!(version_of(&b), None);
        b[344..348].copy_from_slice(b"n+1\0");
        assert_eq!(version_of(&b), Some(1));
        b[0..4].copy_from_slice(&348i32.to_be_bytes());
        assert_eq!(version_of(&b), Some(1));
        let mut b2 = vec![0u8; 540];
        b2[0..4].copy_from_slice(&540i32.to_le_bytes());
        b2[4..8].copy_from_slice(b"n+2\0");
        assert_eq!(version_of(&b2), Some(2));
    }
}
