//! MetaImage (ITK's `.mha` / `.mhd`): a text header of `Key = Value` lines ending with
//! `ElementDataFile`, then the voxels (x fastest) in the same file (`LOCAL`) or in a
//! separate file, raw or zlib-compressed.
//!
//! Read: `NDims` 2 or 3 (2D loads with `nz = 1`), `DimSize`, `ElementSpacing` (or
//! `ElementSize`), `Offset`/`Origin`/`Position`, `TransformMatrix`/`Rotation`/
//! `Orientation` (the direction cosines of axis `a` are values `3a..3a+3`, as ITK
//! writes them), `ElementType` `MET_UCHAR`, `MET_CHAR`, `MET_USHORT`, `MET_SHORT`,
//! `MET_UINT`, `MET_INT`, `MET_ULONG`, `MET_LONG` (32-bit, as in MetaIO),
//! `MET_ULONG_LONG`, `MET_LONG_LONG`, `MET_FLOAT`, `MET_DOUBLE`, the byte order
//! (`ElementByteOrderMSB` / `BinaryDataByteOrderMSB`), `CompressedData` (zlib) with
//! `CompressedDataSize`, `HeaderSize` (bytes to skip in a data file, −1 = data at its
//! end) and `ElementDataFile` `LOCAL` or a file name relative to the header.
//! Multi-channel data (`ElementNumberOfChannels > 1`, `MET_*_ARRAY`), ASCII data and
//! file lists are [`Error::Unsupported`]. The world frame is ITK's LPS.
//!
//! Written: float32, little-endian, the geometry in shortest round-trip decimal (exact).

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use flate2::Compression;
use ndarray::Array3;

use super::{
    atomic, make_volume, read_data, reverse3, reverse_matrix, DataType, FileFormat, FileInfo,
};
use crate::{Error, Result, Volume};

/// Longest text header accepted (bytes before the voxel data).
const MAX_HEADER: u64 = 1 << 20;

/// MetaImage keys (lower case): the first line of a header must be one of them.
const KEYS: [&str; 30] = [
    "objecttype",
    "objectsubtype",
    "ndims",
    "comment",
    "formtypename",
    "name",
    "id",
    "parentid",
    "binarydata",
    "binarydatabyteordermsb",
    "elementbyteordermsb",
    "compresseddata",
    "compresseddatasize",
    "transformmatrix",
    "rotation",
    "orientation",
    "offset",
    "origin",
    "position",
    "centerofrotation",
    "anatomicalorientation",
    "elementspacing",
    "elementsize",
    "dimsize",
    "headersize",
    "modality",
    "elementtype",
    "elementnumberofchannels",
    "elementmin",
    "elementmax",
];

/// True if `head` looks like a MetaImage text header: the first line is `Key = Value`
/// with a MetaImage key, and `NDims` appears.
pub(super) fn sniff(head: &[u8]) -> bool {
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        Err(e) => match std::str::from_utf8(&head[..e.valid_up_to()]) {
            Ok(t) => t,
            Err(_) => return false,
        },
    };
    let Some(first) = text.lines().map(str::trim).find(|l| !l.is_empty()) else {
        return false;
    };
    let Some((key, _)) = first.split_once('=') else {
        return false;
    };
    let key = key.trim().to_ascii_lowercase();
    KEYS.contains(&key.as_str()) && text.to_ascii_lowercase().contains("ndims")
}

/// Where the voxels are.
#[derive(Debug, Clone)]
enum DataFile {
    /// In the header file, from this byte on.
    Local(u64),
    /// In another file.
    External(PathBuf),
}

/// A parsed and validated MetaImage header.
#[derive(Debug, Clone)]
struct Header {
    /// `(nx, ny, nz)`.
    dims: [usize; 3],
    spacing: [f64; 3],
    origin: [f64; 3],
    /// `dir[r][c]`: component r of axis c, file `(x, y, z)` order.
    dir: [[f64; 3]; 3],
    data_type: DataType,
    big_endian: bool,
    compressed: bool,
    compressed_size: Option<u64>,
    header_size: i64,
    data: DataFile,
}

impl Header {
    fn count(&self) -> u128 {
        // Saturating: three 64-bit DimSize values overflow even u128.
        crate::volume::element_count(&self.dims)
    }
}

fn parse_bool(path: &Path, key: &str, v: &str) -> Result<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(Error::format(
            path,
            format!("invalid {key} = {v} (expected True or False)"),
        )),
    }
}

fn parse_floats(path: &Path, key: &str, v: &str, n: usize) -> Result<Vec<f64>> {
    let vals: Vec<f64> = v
        .split_whitespace()
        .map(|t| t.parse::<f64>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| Error::format(path, format!("invalid {key} = {v} (expected {n} numbers)")))?;
    if vals.len() != n || vals.iter().any(|x| !x.is_finite()) {
        return Err(Error::format(
            path,
            format!("invalid {key} = {v} (expected {n} finite numbers)"),
        ));
    }
    Ok(vals)
}

fn element_type(path: &Path, v: &str) -> Result<DataType> {
    Ok(match v.to_ascii_uppercase().as_str() {
        "MET_UCHAR" => DataType::UInt8,
        "MET_CHAR" => DataType::Int8,
        "MET_USHORT" => DataType::UInt16,
        "MET_SHORT" => DataType::Int16,
        "MET_UINT" | "MET_ULONG" => DataType::UInt32,
        "MET_INT" | "MET_LONG" => DataType::Int32,
        "MET_ULONG_LONG" => DataType::UInt64,
        "MET_LONG_LONG" => DataType::Int64,
        "MET_FLOAT" => DataType::Float32,
        "MET_DOUBLE" => DataType::Float64,
        other => {
            let why = if other.ends_with("_ARRAY") {
                "multi-channel data"
            } else {
                "unknown type"
            };
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                what: format!("MetaImage ElementType = {v} ({why})"),
            });
        }
    })
}

/// Reads and validates the header of `path`.
fn parse(path: &Path) -> Result<Header> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut buf = Vec::new();
    file.take(MAX_HEADER)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(path, e))?;

    let mut fields: Vec<(String, String)> = Vec::new();
    let mut pos = 0usize;
    let mut data_start = None;
    let mut line_no = 0;
    while pos < buf.len() {
        line_no += 1;
        let end = buf[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(buf.len(), |i| pos + i);
        let line = std::str::from_utf8(&buf[pos..end]).map_err(|_| {
            Error::format(
                path,
                format!(
                    "line {line_no} of the MetaImage header is not text (missing ElementDataFile?)"
                ),
            )
        })?;
        let next = (end + 1).min(buf.len());
        let line = line.trim();
        pos = next;
        if line.is_empty() {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(Error::format(
                path,
                format!("line {line_no} of the MetaImage header is not `Key = Value`: {line:?}"),
            ));
        };
        let key = k.trim().to_ascii_lowercase();
        let value = v.trim().to_string();
        let is_data = key == "elementdatafile";
        fields.push((key, value));
        if is_data {
            data_start = Some(end as u64 + 1);
            break;
        }
    }
    let Some(data_start) = data_start else {
        return Err(Error::format(
            path,
            if buf.len() as u64 >= MAX_HEADER {
                "MetaImage header longer than 1 MiB without ElementDataFile".to_string()
            } else {
                "missing ElementDataFile in the MetaImage header (truncated?)".to_string()
            },
        ));
    };
    let get = |names: &[&str]| {
        fields
            .iter()
            .rev()
            .find(|(k, _)| names.contains(&k.as_str()))
            .map(|(_, v)| v.as_str())
    };
    let required = |name: &str, key: &str| {
        get(&[key])
            .ok_or_else(|| Error::format(path, format!("missing {name} in the MetaImage header")))
    };

    let ndims_text = required("NDims", "ndims")?;
    let ndims: usize = match ndims_text.parse() {
        Ok(n @ (2 | 3)) => n,
        Ok(n) => {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                what: format!("MetaImage NDims = {n} (only 2 and 3)"),
            })
        }
        Err(_) => {
            return Err(Error::format(
                path,
                format!("invalid NDims = {ndims_text} (expected 2 or 3)"),
            ))
        }
    };
    if let Some(c) = get(&["elementnumberofchannels"]) {
        if c.trim() != "1" {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                what: format!("MetaImage ElementNumberOfChannels = {c} (only 1)"),
            });
        }
    }
    if let Some(b) = get(&["binarydata"]) {
        if !parse_bool(path, "BinaryData", b)? {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                what: "MetaImage BinaryData = False (ASCII voxel data)".into(),
            });
        }
    }

    let dim_text = required("DimSize", "dimsize")?;
    let dim_vals: Vec<u64> = dim_text
        .split_whitespace()
        .map(|t| t.parse::<u64>())
        .collect::<std::result::Result<_, _>>()
        .ok()
        .filter(|v: &Vec<u64>| v.len() == ndims && v.iter().all(|&n| n >= 1))
        .ok_or_else(|| {
            Error::format(
                path,
                format!("invalid DimSize = {dim_text} (expected {ndims} integers ≥ 1)"),
            )
        })?;
    let mut dims = [1usize; 3];
    for (a, &n) in dim_vals.iter().enumerate() {
        dims[a] = usize::try_from(n)
            .map_err(|_| Error::format(path, format!("invalid DimSize = {dim_text}")))?;
    }

    let spacing_key = if get(&["elementspacing"]).is_some() {
        Some(("ElementSpacing", "elementspacing"))
    } else if get(&["elementsize"]).is_some() {
        Some(("ElementSize", "elementsize"))
    } else {
        None
    };
    let mut spacing = [1.0; 3];
    if let Some((name, key)) = spacing_key {
        let text = get(&[key]).unwrap_or_default();
        let v = parse_floats(path, name, text, ndims)?;
        if v.iter().any(|&s| s <= 0.0) {
            return Err(Error::format(
                path,
                format!("invalid {name} = {text} (expected voxel sizes > 0)"),
            ));
        }
        spacing[..ndims].copy_from_slice(&v);
    }

    let mut origin = [0.0; 3];
    if let Some(text) = get(&["offset", "origin", "position"]) {
        let v = parse_floats(path, "Offset", text, ndims)?;
        origin[..ndims].copy_from_slice(&v);
    }

    let mut dir = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    if let Some(text) = get(&["transformmatrix", "rotation", "orientation"]) {
        let v = parse_floats(path, "TransformMatrix", text, ndims * ndims)?;
        for c in 0..ndims {
            for r in 0..ndims {
                dir[r][c] = v[c * ndims + r];
            }
        }
        if !super::is_orthonormal(&dir, 1e-4) {
            return Err(Error::format(
                path,
                format!(
                    "invalid TransformMatrix = {text} (expected orthonormal direction cosines)"
                ),
            ));
        }
    }

    let data_type = element_type(path, required("ElementType", "elementtype")?)?;
    let big_endian = match get(&["binarydatabyteordermsb", "elementbyteordermsb"]) {
        Some(v) => parse_bool(path, "BinaryDataByteOrderMSB", v)?,
        None => false,
    };
    let compressed = match get(&["compresseddata"]) {
        Some(v) => parse_bool(path, "CompressedData", v)?,
        None => false,
    };
    let compressed_size = match get(&["compresseddatasize"]) {
        Some(v) => Some(
            v.parse::<u64>()
                .map_err(|_| Error::format(path, format!("invalid CompressedDataSize = {v}")))?,
        ),
        None => None,
    };
    let header_size = match get(&["headersize"]) {
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|&n| n >= -1)
            .ok_or_else(|| Error::format(path, format!("invalid HeaderSize = {v}")))?,
        None => 0,
    };

    let data_name = get(&["elementdatafile"]).unwrap_or_default();
    let data = if data_name.eq_ignore_ascii_case("local") {
        DataFile::Local(data_start)
    } else if data_name.is_empty()
        || data_name.eq_ignore_ascii_case("list")
        || data_name.contains('%')
    {
        return Err(Error::Unsupported {
            path: path.to_path_buf(),
            what: format!(
                "MetaImage ElementDataFile = {data_name:?} (only LOCAL or one data file)"
            ),
        });
    } else {
        let p = Path::new(data_name);
        DataFile::External(if p.is_absolute() {
            p.to_path_buf()
        } else {
            path.parent().unwrap_or(Path::new("")).join(p)
        })
    };

    Ok(Header {
        dims,
        spacing,
        origin,
        dir,
        data_type,
        big_endian,
        compressed,
        compressed_size,
        header_size,
        data,
    })
}

fn info_of(h: &Header) -> FileInfo {
    FileInfo {
        format: FileFormat::MetaImage,
        data_type: h.data_type,
        compressed: h.compressed,
        shape: [h.dims[2], h.dims[1], h.dims[0]],
        spacing: reverse3(h.spacing),
        origin: reverse3(h.origin),
        direction: reverse_matrix(h.dir),
    }
}

pub(super) fn read_info(path: &Path) -> Result<FileInfo> {
    Ok(info_of(&parse(path)?))
}

pub(super) fn load(path: &Path) -> Result<Volume> {
    let h = parse(path)?;
    let info = info_of(&h);
    let count = h.count();
    let size = h.data_type.size() as u128;
    let nbytes = count.saturating_mul(size);
    let (dpath, start) = match &h.data {
        DataFile::Local(off) => (path.to_path_buf(), *off),
        DataFile::External(p) => (p.clone(), 0),
    };
    let len = std::fs::metadata(&dpath)
        .map_err(|e| Error::io(&dpath, e))?
        .len();
    let start = match (&h.data, h.header_size) {
        (DataFile::Local(_), _) => start,
        (DataFile::External(_), -1) if !h.compressed => {
            u64::try_from(u128::from(len).saturating_sub(nbytes)).unwrap_or(0)
        }
        (DataFile::External(_), -1) => {
            return Err(Error::format(
                path,
                "HeaderSize = -1 with compressed data (the data start is unknown)",
            ))
        }
        (DataFile::External(_), n) => n as u64,
    };
    let available = len.saturating_sub(start);
    if !h.compressed && nbytes > u128::from(available) {
        return Err(Error::format(
            &dpath,
            format!(
                "truncated: DimSize {} × {} × {} of {} needs {nbytes} bytes of voxel data, the file has {available}",
                h.dims[0], h.dims[1], h.dims[2], h.data_type
            ),
        ));
    }
    crate::volume::ensure_allocatable("MetaImage volume", count, size + 4)?;
    let nbytes = nbytes as u64; // ≤ the memory limit
    let mut file = BufReader::new(File::open(&dpath).map_err(|e| Error::io(&dpath, e))?);
    file.seek(SeekFrom::Start(start))
        .map_err(|e| Error::io(&dpath, e))?;
    let raw = if h.compressed {
        let csize = h.compressed_size.unwrap_or(available).min(available);
        let mut z = ZlibDecoder::new(file.take(csize));
        read_data(&mut z, nbytes, &dpath, "decompressed voxel data", false)?
    } else {
        read_data(&mut file, nbytes, &dpath, "voxel data", true)?
    };
    let values = decode(&raw, h.data_type, h.big_endian);
    drop(raw);
    let data = Array3::from_shape_vec(info.shape, values)
        .map_err(|e| Error::format(path, e.to_string()))?;
    make_volume(path, data, info.spacing, info.origin, info.direction)
}

/// Raw samples to `f32` (exactly for every integer type up to 24 bits, rounded to
/// nearest beyond).
fn decode(raw: &[u8], t: DataType, big: bool) -> Vec<f32> {
    macro_rules! conv {
        ($ty:ty, $n:expr) => {
            raw.chunks_exact($n)
                .map(|c| {
                    let mut a = [0u8; $n];
                    a.copy_from_slice(c);
                    (if big {
                        <$ty>::from_be_bytes(a)
                    } else {
                        <$ty>::from_le_bytes(a)
                    }) as f32
                })
                .collect()
        };
    }
    match t {
        DataType::UInt8 => raw.iter().map(|&v| f32::from(v)).collect(),
        DataType::Int8 => raw.iter().map(|&v| f32::from(v as i8)).collect(),
        DataType::UInt16 => conv!(u16, 2),
        DataType::Int16 => conv!(i16, 2),
        DataType::UInt32 => conv!(u32, 4),
        DataType::Int32 => conv!(i32, 4),
        DataType::UInt64 => conv!(u64, 8),
        DataType::Int64 => conv!(i64, 8),
        DataType::Float32 => conv!(f32, 4),
        DataType::Float64 => conv!(f64, 8),
    }
}

/// Writes the header lines of a float32 little-endian image; `data_file` is `LOCAL` or
/// a file name.
fn write_header(
    w: &mut dyn Write,
    vol: &Volume,
    compressed_size: Option<u64>,
    data_file: &str,
) -> std::io::Result<()> {
    let dims = vol.shape();
    let spacing = reverse3(vol.spacing());
    let origin = reverse3(vol.origin());
    let dir = reverse_matrix(vol.direction());
    let join = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let matrix: Vec<f64> = (0..3)
        .flat_map(|c| (0..3).map(move |r| (r, c)))
        .map(|(r, c)| dir[r][c])
        .collect();
    writeln!(w, "ObjectType = Image")?;
    writeln!(w, "NDims = 3")?;
    writeln!(w, "BinaryData = True")?;
    writeln!(w, "BinaryDataByteOrderMSB = False")?;
    match compressed_size {
        Some(n) => {
            writeln!(w, "CompressedData = True")?;
            writeln!(w, "CompressedDataSize = {n}")?;
        }
        None => writeln!(w, "CompressedData = False")?,
    }
    writeln!(w, "TransformMatrix = {}", join(&matrix))?;
    writeln!(w, "Offset = {}", join(&origin))?;
    writeln!(w, "CenterOfRotation = 0 0 0")?;
    writeln!(w, "ElementSpacing = {}", join(&spacing))?;
    writeln!(w, "DimSize = {} {} {}", dims[2], dims[1], dims[0])?;
    writeln!(w, "ElementType = MET_FLOAT")?;
    writeln!(w, "ElementDataFile = {data_file}")?;
    Ok(())
}

/// Writes the voxels as float32 little-endian, x fastest.
fn write_voxels(w: &mut dyn Write, vol: &Volume) -> std::io::Result<()> {
    let mut chunk = Vec::with_capacity(1 << 16);
    for &v in vol.data().iter() {
        chunk.extend_from_slice(&v.to_le_bytes());
        if chunk.len() >= 1 << 16 {
            w.write_all(&chunk)?;
            chunk.clear();
        }
    }
    w.write_all(&chunk)
}

/// The zlib-compressed voxels.
fn compress(vol: &Volume) -> std::io::Result<Vec<u8>> {
    let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
    write_voxels(&mut z, vol)?;
    z.finish()
}

/// Writes a complete `.mha` (header and `LOCAL` voxels) to `w`.
fn write_mha(w: &mut dyn Write, vol: &Volume, compressed: bool) -> std::io::Result<()> {
    if compressed {
        let z = compress(vol)?;
        write_header(w, vol, Some(z.len() as u64), "LOCAL")?;
        w.write_all(&z)?;
    } else {
        write_header(w, vol, None, "LOCAL")?;
        write_voxels(w, vol)?;
    }
    w.flush()
}

fn create(tmp: &Path, target: &Path) -> Result<BufWriter<File>> {
    File::create(tmp)
        .map(BufWriter::new)
        .map_err(|e| Error::io(target, e))
}

fn finish(w: BufWriter<File>, target: &Path) -> Result<()> {
    w.into_inner()
        .map_err(|e| Error::io(target, e.into_error()))?
        .sync_all()
        .map_err(|e| Error::io(target, e))
}

/// Writes `path` as a single `.mha` file.
pub(super) fn save_mha(path: &Path, vol: &Volume, compressed: bool) -> Result<()> {
    atomic::write_atomic(path, ".mha", |tmp| {
        let mut w = create(tmp, path)?;
        write_mha(&mut w, vol, compressed).map_err(|e| Error::io(path, e))?;
        finish(w, path)
    })
}

/// Writes `path` (`.mhd` header) and its data file (same stem, `.raw`, or `.zraw`
/// when compressed).
pub(super) fn save_mhd(path: &Path, vol: &Volume, compressed: bool) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = &name[..name.len().saturating_sub(4)];
    let data_name = format!("{stem}.{}", if compressed { "zraw" } else { "raw" });
    let data_path = super::with_name(path, &data_name);
    atomic::write_atomic_pair(path, &data_path, |tmp_h, tmp_d| {
        let mut d = create(tmp_d, &data_path)?;
        let csize = if compressed {
            let z = compress(vol).map_err(|e| Error::io(&data_path, e))?;
            d.write_all(&z).map_err(|e| Error::io(&data_path, e))?;
            Some(z.len() as u64)
        } else {
            write_voxels(&mut d, vol).map_err(|e| Error::io(&data_path, e))?;
            None
        };
        finish(d, &data_path)?;
        let mut h = create(tmp_h, path)?;
        write_header(&mut h, vol, csize, &data_name).map_err(|e| Error::io(path, e))?;
        finish(h, path)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that accepts `limit` bytes and then fails, like a full disk.
    struct FailingWriter {
        written: usize,
        limit: usize,
    }

    impl Write for FailingWriter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.written + buf.len() > self.limit {
                return Err(std::io::Error::other("disk full (simulated)"));
            }
            self.written += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn writer_error_mid_way_is_reported() {
        // Incompressible values, so that the compressed stream also passes the limit.
        let mut state = 12345u64;
        let data = Array3::from_shape_simple_fn((4, 32, 32), || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 40) as f32
        });
        let vol = Volume::new(data, [1.0; 3], [0.0; 3]).unwrap();
        for compressed in [false, true] {
            let mut w = FailingWriter {
                written: 0,
                limit: 1000,
            };
            let err = write_mha(&mut w, &vol, compressed).unwrap_err();
            assert!(err.to_string().contains("disk full"));
        }
    }

    #[test]
    fn decode_handles_byte_order_and_sign() {
        let raw = [0x01, 0x80, 0xff, 0xff];
        assert_eq!(decode(&raw, DataType::Int16, false), vec![-32767.0, -1.0]);
        assert_eq!(decode(&raw, DataType::Int16, true), vec![384.0, -1.0]);
        assert_eq!(
            decode(&raw, DataType::UInt16, false),
            vec![32769.0, 65535.0]
        );
        assert_eq!(decode(&raw[..2], DataType::Int8, false), vec![1.0, -128.0]);
        let f = 1.5f64.to_be_bytes();
        assert_eq!(decode(&f, DataType::Float64, true), vec![1.5]);
    }

    #[test]
    fn sniff_wants_a_metaimage_first_line() {
        assert!(sniff(b"ObjectType = Image\nNDims = 3\n"));
        assert!(sniff(b"NDims = 2\nDimSize = 2 2\n"));
        assert!(!sniff(b"Hello = world\nNDims = 3\n"));
        assert!(!sniff(b"\x00\x01binary"));
    }
}
