//! DICOM CT series through the `dicom` crate: headers with `dicom-object`, pixel data
//! (native, and the RLE / JPEG transfer syntaxes that have pure-Rust decoders) with
//! `dicom-pixeldata`.
//!
//! A volume is a set of single-frame slices sharing a `SeriesInstanceUID`, sorted along
//! the slice normal. Axes: slice index → z (axis 0), rows → y, columns → x. The world
//! frame is DICOM's LPS patient frame, unchanged.

use std::path::{Path, PathBuf};

use std::io::Read;

use ::dicom::core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use ::dicom::core::{Tag, VR};
use ::dicom::dictionary_std::tags;
use ::dicom::object::file::ReadPreamble;
use ::dicom::object::{DefaultDicomObject, OpenFileOptions, StandardDataDictionary};
use ::dicom::pixeldata::{ConvertOptions, ModalityLutOption, PixelDecoder};
use ndarray::{Array3, Axis};
use rayon::prelude::*;

use super::{make_volume, reverse3, reverse_matrix, DataType, FileFormat, FileInfo};
use crate::{Error, Result, Volume};

/// True if `head` has the DICOM Part 10 magic `DICM` at offset 128.
///
/// DICOS files share this magic; the DICOS reader will tell them apart by their SOP
/// class UID.
pub(super) fn sniff(head: &[u8]) -> bool {
    head.len() >= 132 && &head[128..132] == b"DICM"
}

/// Transfer syntaxes whose pixel data is stored uncompressed.
const NATIVE_TS: [&str; 4] = [
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.2",
    "1.2.840.10008.1.2.1.99",
];

/// The header fields of one slice.
#[derive(Debug, Clone)]
struct Slice {
    path: PathBuf,
    series: String,
    rows: usize,
    cols: usize,
    position: Option<[f64; 3]>,
    orientation: Option<[f64; 6]>,
    pixel_spacing: Option<[f64; 2]>,
    thickness: Option<f64>,
    spacing_between: Option<f64>,
    slope: f64,
    intercept: f64,
    data_type: DataType,
    transfer_syntax: String,
}

fn read_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::format(path, format!("not a readable DICOM file: {e}"))
}

/// Reads and parses a DICOM file. The element structure is checked first
/// ([`validate`]), so the parser never sees a length beyond the end of the file.
fn open(path: &Path, pixels: bool) -> Result<DefaultDicomObject> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    validate(&bytes).map_err(|m| read_error(path, m))?;
    let opts = OpenFileOptions::new().read_preamble(ReadPreamble::Always);
    let opts = if pixels {
        opts
    } else {
        opts.read_until(tags::PIXEL_DATA)
    };
    opts.from_reader(bytes.as_slice())
        .map_err(|e| read_error(path, e))
}

const UNDEFINED: u32 = 0xFFFF_FFFF;
/// Deepest sequence nesting accepted.
const MAX_DEPTH: u32 = 32;
/// Largest inflated data set accepted for the deflated transfer syntax.
const MAX_INFLATED: u64 = 1 << 30;

/// Checks the element structure of a DICOM Part 10 file: every declared length fits
/// in what remains of its container (file, sequence or item), sequences and items are
/// properly delimited, nesting is bounded. The `dicom` parser trusts declared lengths
/// when it allocates, so a corrupt length would otherwise cost gigabytes.
fn validate(b: &[u8]) -> std::result::Result<(), String> {
    if !sniff(b) {
        return Err("no DICM marker at byte 128".into());
    }
    // File meta group: explicit VR little endian, group 0002.
    let meta = Walker {
        b,
        big: false,
        explicit: true,
    };
    let mut pos = 132;
    let mut ts = String::new();
    while pos + 4 <= b.len() && meta.u16(pos) == Some(0x0002) {
        let (tag, len, hdr) = meta.header(pos, b.len())?;
        let start = pos + hdr;
        if len == UNDEFINED || start + len as usize > b.len() {
            return Err(format!("file meta element {tag:08X} overruns the file"));
        }
        if tag == 0x0002_0010 {
            ts = String::from_utf8_lossy(&b[start..start + len as usize])
                .trim_end_matches(['\0', ' '])
                .to_string();
        }
        pos = start + len as usize;
    }
    let rest = &b[pos..];
    let (explicit, big) = match ts.as_str() {
        "1.2.840.10008.1.2" => (false, false),
        "1.2.840.10008.1.2.2" => (true, true),
        _ => (true, false),
    };
    if ts == "1.2.840.10008.1.2.1.99" {
        let mut inflated = Vec::new();
        flate2::read::DeflateDecoder::new(rest)
            .take(MAX_INFLATED)
            .read_to_end(&mut inflated)
            .map_err(|e| format!("corrupt deflated data set: {e}"))?;
        let w = Walker {
            b: &inflated,
            big,
            explicit,
        };
        return w.dataset(0, inflated.len(), 0, false).map(|_| ());
    }
    let w = Walker {
        b: rest,
        big,
        explicit,
    };
    w.dataset(0, rest.len(), 0, false).map(|_| ())
}

/// Walks DICOM element headers without decoding values.
struct Walker<'a> {
    b: &'a [u8],
    big: bool,
    explicit: bool,
}

impl Walker<'_> {
    fn u16(&self, pos: usize) -> Option<u16> {
        let a: [u8; 2] = self.b.get(pos..pos + 2)?.try_into().ok()?;
        Some(if self.big {
            u16::from_be_bytes(a)
        } else {
            u16::from_le_bytes(a)
        })
    }

    fn u32(&self, pos: usize) -> Option<u32> {
        let a: [u8; 4] = self.b.get(pos..pos + 4)?.try_into().ok()?;
        Some(if self.big {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        })
    }

    fn tag(&self, pos: usize) -> Option<u32> {
        Some((u32::from(self.u16(pos)?) << 16) | u32::from(self.u16(pos + 2)?))
    }

    /// `(tag, value length, header length)` of the element at `pos`, with the length
    /// checked against the element's value size ([`Walker::value_size`]).
    fn header(&self, pos: usize, end: usize) -> std::result::Result<(u32, u32, usize), String> {
        let (tag, len, hdr) = self.raw_header(pos, end)?;
        let size = self.value_size(pos, tag);
        if len != UNDEFINED && size > 1 && len % size != 0 {
            return Err(format!(
                "element {tag:08X} at byte {pos} declares {len} bytes, not a multiple of its {size}-byte values"
            ));
        }
        Ok((tag, len, hdr))
    }

    /// The size of one value of the element at `pos`: 2, 4 or 8 for binary numbers
    /// (and 2 for word data), 1 otherwise. The parser reads `len / size` values and
    /// would lose its place in the stream on a remainder, reading garbage as the next
    /// element's length (a fuzzed file made it allocate 4 GB that way).
    fn value_size(&self, pos: usize, tag: u32) -> u32 {
        if tag >> 16 == 0xFFFE {
            return 1;
        }
        let vr: Option<[u8; 2]> = if self.explicit {
            Some([self.b[pos + 4], self.b[pos + 5]])
        } else if tag & 0xFFFF == 0 {
            Some(*b"UL") // group length
        } else {
            let t = Tag((tag >> 16) as u16, tag as u16);
            match StandardDataDictionary.by_tag(t).map(|e| e.vr()) {
                Some(VirtualVr::Exact(vr)) => Some(vr.to_bytes()),
                // US/SS, or US/OW, or OB/OW: words either way, or bytes of even length.
                Some(VirtualVr::Xs | VirtualVr::Lt | VirtualVr::Ox | VirtualVr::Px) => Some(*b"OW"),
                _ => None,
            }
        };
        match vr.as_ref().map(|v| &v[..]) {
            Some(b"US" | b"SS" | b"OW") => 2,
            Some(b"UL" | b"SL" | b"FL" | b"AT" | b"OL" | b"OF") => 4,
            Some(b"FD" | b"OD" | b"SV" | b"UV" | b"OV") => 8,
            _ => 1,
        }
    }

    /// `(tag, value length, header length)` of the element at `pos`, as stored.
    fn raw_header(&self, pos: usize, end: usize) -> std::result::Result<(u32, u32, usize), String> {
        let short = || format!("element header at byte {pos} runs past its container");
        let tag = self.tag(pos).filter(|_| pos + 8 <= end).ok_or_else(short)?;
        if tag >> 16 == 0xFFFE || !self.explicit {
            return Ok((tag, self.u32(pos + 4).ok_or_else(short)?, 8));
        }
        let vr = [self.b[pos + 4], self.b[pos + 5]];
        // The VRs with a 16-bit length (PS3.5 7.1.2); every other VR, unknown ones
        // included (read as UN, as the parser does), has 2 reserved bytes and a
        // 32-bit length.
        match &vr {
            b"AE" | b"AS" | b"AT" | b"CS" | b"DA" | b"DS" | b"DT" | b"FL" | b"FD" | b"IS"
            | b"LO" | b"LT" | b"PN" | b"SH" | b"SL" | b"SS" | b"ST" | b"TM" | b"UI" | b"UL"
            | b"US" => Ok((tag, u32::from(self.u16(pos + 6).ok_or_else(short)?), 8)),
            _ => {
                if pos + 12 > end {
                    return Err(short());
                }
                Ok((tag, self.u32(pos + 8).ok_or_else(short)?, 12))
            }
        }
    }

    fn is_sequence(&self, pos: usize, tag: u32) -> bool {
        if self.explicit {
            return self.b.get(pos + 4..pos + 6) == Some(b"SQ");
        }
        let t = Tag((tag >> 16) as u16, tag as u16);
        matches!(
            StandardDataDictionary.by_tag(t).map(|e| e.vr()),
            Some(VirtualVr::Exact(VR::SQ))
        )
    }

    /// Walks the data set in `pos..end`; with `in_item`, stops after an item
    /// delimitation item. Returns where it stopped.
    fn dataset(
        &self,
        mut pos: usize,
        end: usize,
        depth: u32,
        in_item: bool,
    ) -> std::result::Result<usize, String> {
        if depth > MAX_DEPTH {
            return Err(format!("sequences nested deeper than {MAX_DEPTH}"));
        }
        while pos < end {
            let (tag, len, hdr) = self.header(pos, end)?;
            if tag >> 16 == 0xFFFE {
                if tag == 0xFFFE_E00D && in_item {
                    return Ok(pos + 8);
                }
                return Err(format!("unexpected item tag {tag:08X} at byte {pos}"));
            }
            let start = pos + hdr;
            if len == UNDEFINED {
                let vr_is_ob_ow =
                    self.explicit && matches!(self.b.get(pos + 4..pos + 6), Some(b"OB" | b"OW"));
                pos = if tag == 0x7FE0_0010 && vr_is_ob_ow {
                    self.items(start, end, depth + 1, false, true)?
                } else {
                    // SQ, UN or (implicit VR) any element: a sequence of items.
                    self.items(start, end, depth + 1, false, false)?
                };
            } else {
                let stop = start
                    .checked_add(len as usize)
                    .filter(|&s| s <= end)
                    .ok_or_else(|| {
                        format!(
                            "element {tag:08X} declares {len} bytes but only {} remain",
                            end.saturating_sub(start)
                        )
                    })?;
                if self.is_sequence(pos, tag) {
                    self.items(start, stop, depth + 1, true, false)?;
                }
                pos = stop;
            }
        }
        if in_item {
            return Err("item without its delimiter".into());
        }
        Ok(pos)
    }

    /// Walks the items of a sequence (or the fragments of encapsulated pixel data) from
    /// `pos`: up to `end` if the sequence has a defined length, else up to the sequence
    /// delimiter. Returns where it stopped.
    fn items(
        &self,
        mut pos: usize,
        end: usize,
        depth: u32,
        defined: bool,
        fragments: bool,
    ) -> std::result::Result<usize, String> {
        if depth > MAX_DEPTH {
            return Err(format!("sequences nested deeper than {MAX_DEPTH}"));
        }
        loop {
            if defined && pos == end {
                return Ok(pos);
            }
            if pos + 8 > end {
                return Err("sequence without its delimiter".into());
            }
            let tag = self.tag(pos).ok_or("truncated sequence")?;
            let len = self.u32(pos + 4).ok_or("truncated sequence")?;
            pos += 8;
            match tag {
                0xFFFE_E0DD if !defined => return Ok(pos),
                0xFFFE_E000 if len == UNDEFINED && !fragments => {
                    pos = self.dataset(pos, end, depth, true)?;
                }
                0xFFFE_E000 if len != UNDEFINED => {
                    let stop = pos
                        .checked_add(len as usize)
                        .filter(|&s| s <= end)
                        .ok_or_else(|| {
                            format!("item declares {len} bytes but only {} remain", end - pos)
                        })?;
                    if !fragments {
                        self.dataset(pos, stop, depth, false)?;
                    }
                    pos = stop;
                }
                _ => return Err(format!("expected an item, found tag {tag:08X}")),
            }
        }
    }
}

fn text(obj: &DefaultDicomObject, tag: Tag) -> Option<String> {
    let e = obj.element_opt(tag).ok()??;
    e.to_str()
        .ok()
        .map(|s| s.trim().trim_end_matches('\0').to_string())
}

fn floats(obj: &DefaultDicomObject, tag: Tag) -> Option<Vec<f64>> {
    let e = obj.element_opt(tag).ok()??;
    e.to_multi_float64().ok()
}

fn float(obj: &DefaultDicomObject, tag: Tag) -> Option<f64> {
    floats(obj, tag).and_then(|v| v.first().copied())
}

fn int(obj: &DefaultDicomObject, tag: Tag) -> Option<i64> {
    let e = obj.element_opt(tag).ok()??;
    e.to_int::<i64>().ok()
}

fn fixed<const N: usize>(path: &Path, name: &str, v: Option<Vec<f64>>) -> Result<Option<[f64; N]>> {
    match v {
        None => Ok(None),
        Some(v) if v.len() == N && v.iter().all(|x| x.is_finite()) => {
            Ok(Some(std::array::from_fn(|i| v[i])))
        }
        Some(v) => Err(Error::format(
            path,
            format!("invalid {name} {v:?} (expected {N} finite numbers)"),
        )),
    }
}

/// Reads the header of one file; `None` for DICOM objects that are not images (no
/// `Rows`/`Columns`, e.g. a DICOMDIR or a structured report).
fn read_slice(path: &Path) -> Result<Option<Slice>> {
    let obj = open(path, false)?;
    let (Some(rows), Some(cols)) = (int(&obj, tags::ROWS), int(&obj, tags::COLUMNS)) else {
        return Ok(None);
    };
    if rows < 1 || cols < 1 {
        return Err(Error::format(
            path,
            format!("invalid image size Rows = {rows}, Columns = {cols}"),
        ));
    }
    let frames = int(&obj, tags::NUMBER_OF_FRAMES).unwrap_or(1);
    if frames != 1 {
        return Err(Error::Unsupported {
            path: path.to_path_buf(),
            what: format!(
                "multi-frame DICOM (NumberOfFrames = {frames}); only single-frame slices"
            ),
        });
    }
    let samples = int(&obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1);
    if samples != 1 {
        return Err(Error::Unsupported {
            path: path.to_path_buf(),
            what: format!("DICOM SamplesPerPixel = {samples} (colour); only grey-level images"),
        });
    }
    let bits = int(&obj, tags::BITS_ALLOCATED).unwrap_or(16);
    let signed = int(&obj, tags::PIXEL_REPRESENTATION).unwrap_or(0) == 1;
    let data_type = match (bits, signed) {
        (8, false) => DataType::UInt8,
        (8, true) => DataType::Int8,
        (16, false) => DataType::UInt16,
        (16, true) => DataType::Int16,
        _ => {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                what: format!("DICOM BitsAllocated = {bits} (expected 8 or 16)"),
            })
        }
    };
    let slope = float(&obj, tags::RESCALE_SLOPE).unwrap_or(1.0);
    let intercept = float(&obj, tags::RESCALE_INTERCEPT).unwrap_or(0.0);
    if !slope.is_finite() || !intercept.is_finite() {
        return Err(Error::format(
            path,
            format!("invalid RescaleSlope = {slope} / RescaleIntercept = {intercept}"),
        ));
    }
    let pixel_spacing = fixed::<2>(path, "PixelSpacing", floats(&obj, tags::PIXEL_SPACING))?;
    if let Some(ps) = pixel_spacing {
        if ps.iter().any(|&s| s <= 0.0) {
            return Err(Error::format(
                path,
                format!("invalid PixelSpacing {ps:?} (expected sizes > 0 mm)"),
            ));
        }
    }
    Ok(Some(Slice {
        path: path.to_path_buf(),
        series: text(&obj, tags::SERIES_INSTANCE_UID).unwrap_or_default(),
        rows: rows as usize,
        cols: cols as usize,
        position: fixed::<3>(
            path,
            "ImagePositionPatient",
            floats(&obj, tags::IMAGE_POSITION_PATIENT),
        )?,
        orientation: fixed::<6>(
            path,
            "ImageOrientationPatient",
            floats(&obj, tags::IMAGE_ORIENTATION_PATIENT),
        )?,
        pixel_spacing,
        thickness: float(&obj, tags::SLICE_THICKNESS).filter(|t| t.is_finite() && *t > 0.0),
        spacing_between: float(&obj, tags::SPACING_BETWEEN_SLICES)
            .filter(|t| t.is_finite() && *t > 0.0),
        slope,
        intercept,
        data_type,
        transfer_syntax: obj
            .meta()
            .transfer_syntax()
            .trim_end_matches('\0')
            .to_string(),
    }))
}

/// The DICOM image slices of `path` (a file or the files directly in a directory).
fn collect(path: &Path) -> Result<Vec<Slice>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_dir() {
        if !sniff(&super::read_head(path, 132)?) {
            return Err(Error::format(
                path,
                "not a DICOM file (no DICM marker at byte 128)",
            ));
        }
        return match read_slice(path)? {
            Some(s) => Ok(vec![s]),
            None => Err(Error::format(
                path,
                "DICOM file without an image (no Rows/Columns)",
            )),
        };
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| Error::io(path, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut slices = Vec::new();
    for f in files {
        // Unreadable entries and files without the marker are not part of the series.
        let Ok(head) = super::read_head(&f, 132) else {
            continue;
        };
        if !sniff(&head) {
            continue;
        }
        if let Some(s) = read_slice(&f)? {
            slices.push(s);
        }
    }
    if slices.is_empty() {
        return Err(Error::format(
            path,
            "no DICOM image in this directory (files need the DICM marker at byte 128)",
        ));
    }
    Ok(slices)
}

/// The slices of one series, sorted, with the geometry of the volume.
struct Series {
    slices: Vec<Slice>,
    info: FileInfo,
}

fn unit(v: [f64; 3]) -> Option<[f64; 3]> {
    let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    (n > 1e-6 && n.is_finite()).then(|| [v[0] / n, v[1] / n, v[2] / n])
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn select(path: &Path, series_uid: Option<&str>) -> Result<Series> {
    let mut slices = collect(path)?;
    let mut uids: Vec<String> = slices.iter().map(|s| s.series.clone()).collect();
    uids.sort();
    uids.dedup();
    let describe = |uids: &[String], slices: &[Slice]| {
        uids.iter()
            .map(|u| {
                let n = slices.iter().filter(|s| &s.series == u).count();
                format!("{u} ({n} slice{})", if n == 1 { "" } else { "s" })
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    match series_uid {
        Some(want) => {
            if !uids.iter().any(|u| u == want) {
                return Err(Error::format(
                    path,
                    format!(
                        "no DICOM series with SeriesInstanceUID {want}; found {}",
                        describe(&uids, &slices)
                    ),
                ));
            }
            slices.retain(|s| s.series == want);
        }
        None if uids.len() > 1 => {
            return Err(Error::format(
                path,
                format!(
                    "{} DICOM series in one directory: {}; choose one by its SeriesInstanceUID",
                    uids.len(),
                    describe(&uids, &slices)
                ),
            ))
        }
        None => {}
    }
    let first = slices[0].clone();
    let iop = first.orientation.unwrap_or([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
    let (Some(row_dir), Some(col_dir)) = (
        unit([iop[0], iop[1], iop[2]]),
        unit([iop[3], iop[4], iop[5]]),
    ) else {
        return Err(Error::format(
            &first.path,
            format!("invalid ImageOrientationPatient {iop:?}"),
        ));
    };
    let normal = unit([
        row_dir[1] * col_dir[2] - row_dir[2] * col_dir[1],
        row_dir[2] * col_dir[0] - row_dir[0] * col_dir[2],
        row_dir[0] * col_dir[1] - row_dir[1] * col_dir[0],
    ])
    .ok_or_else(|| {
        Error::format(
            &first.path,
            format!("invalid ImageOrientationPatient {iop:?} (parallel vectors)"),
        )
    })?;
    for s in &slices {
        if (s.rows, s.cols) != (first.rows, first.cols) {
            return Err(Error::format(
                &s.path,
                format!(
                    "slice of {} × {} pixels in a series of {} × {}",
                    s.rows, s.cols, first.rows, first.cols
                ),
            ));
        }
        let o = s.orientation.unwrap_or(iop);
        if o.iter().zip(&iop).any(|(a, b)| (a - b).abs() > 1e-4) {
            return Err(Error::format(
                &s.path,
                format!("ImageOrientationPatient {o:?} differs from the series' {iop:?}"),
            ));
        }
        let (a, b) = (s.pixel_spacing, first.pixel_spacing);
        let same = match (a, b) {
            (Some(a), Some(b)) => (0..2).all(|i| (a[i] - b[i]).abs() <= 1e-4 * b[i].max(1.0)),
            (None, None) => true,
            _ => false,
        };
        if !same {
            return Err(Error::format(
                &s.path,
                format!("PixelSpacing {a:?} differs from the series' {b:?}"),
            ));
        }
    }
    if slices.len() > 1 {
        if let Some(s) = slices.iter().find(|s| s.position.is_none()) {
            return Err(Error::format(
                &s.path,
                "missing ImagePositionPatient: slices cannot be ordered",
            ));
        }
    }
    let pos = |s: &Slice| s.position.unwrap_or([0.0; 3]);
    slices.sort_by(|a, b| dot(pos(a), normal).total_cmp(&dot(pos(b), normal)));
    let n = slices.len();
    let slice_step = if n > 1 {
        let d: Vec<f64> = slices.iter().map(|s| dot(pos(s), normal)).collect();
        let mean = (d[n - 1] - d[0]) / (n - 1) as f64;
        let steps: Vec<f64> = d.windows(2).map(|w| w[1] - w[0]).collect();
        if let Some(i) = steps.iter().position(|&s| s <= 1e-6 * mean.abs().max(1e-3)) {
            return Err(Error::format(
                path,
                format!(
                    "two slices at the same position ({:.4} mm along the normal): {} and {}",
                    d[i],
                    slices[i].path.display(),
                    slices[i + 1].path.display()
                ),
            ));
        }
        let (lo, hi) = steps
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &s| {
                (l.min(s), h.max(s))
            });
        if hi - mean > 0.01 * mean || mean - lo > 0.01 * mean {
            return Err(Error::format(
                path,
                format!(
                    "irregular slice spacing: steps between slices range from {lo:.4} to {hi:.4} mm (mean {mean:.4} mm, more than 1 % apart); missing slices?"
                ),
            ));
        }
        // The slices must stack along the normal (no gantry tilt / shear).
        let (p0, p1) = (pos(&slices[0]), pos(&slices[n - 1]));
        let step: [f64; 3] = std::array::from_fn(|i| (p1[i] - p0[i]) / (n - 1) as f64);
        let along = dot(step, normal);
        let off: f64 = (0..3)
            .map(|i| (step[i] - along * normal[i]).powi(2))
            .sum::<f64>()
            .sqrt();
        if off > 0.01 * along {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                what: format!(
                    "sheared DICOM series (gantry tilt): consecutive slices shift {off:.4} mm across the slice normal per {along:.4} mm step"
                ),
            });
        }
        mean
    } else {
        first.spacing_between.or(first.thickness).unwrap_or(1.0)
    };
    let ps = first.pixel_spacing.unwrap_or([1.0, 1.0]);
    // File-order (x = columns, y = rows, z = slices) direction columns.
    let mut dir = [[0.0; 3]; 3];
    for r in 0..3 {
        dir[r][0] = row_dir[r];
        dir[r][1] = col_dir[r];
        dir[r][2] = normal[r];
    }
    if !super::is_orthonormal(&dir, 1e-6) {
        dir = super::orthonormalize(dir).ok_or_else(|| {
            Error::format(
                &first.path,
                format!("invalid ImageOrientationPatient {iop:?}"),
            )
        })?;
    }
    let origin = pos(&slices[0]);
    let compressed = !NATIVE_TS.contains(&first.transfer_syntax.as_str());
    let info = FileInfo {
        format: FileFormat::Dicom,
        data_type: first.data_type,
        compressed,
        shape: [n, first.rows, first.cols],
        spacing: [slice_step, ps[0], ps[1]],
        origin: reverse3(origin),
        direction: reverse_matrix(dir),
    };
    Ok(Series { slices, info })
}

pub(super) fn read_info(path: &Path, series_uid: Option<&str>) -> Result<FileInfo> {
    Ok(select(path, series_uid)?.info)
}

pub(super) fn load(path: &Path, series_uid: Option<&str>) -> Result<Volume> {
    let Series { slices, info } = select(path, series_uid)?;
    let [n, rows, cols] = info.shape;
    // Uncompressed pixel data cannot be larger than its file: a header claiming
    // 65535 × 65535 pixels over a few bytes of data is refused before any allocation.
    for s in &slices {
        if NATIVE_TS.contains(&s.transfer_syntax.as_str()) {
            let need = crate::volume::element_count(&[s.rows, s.cols])
                .saturating_mul(s.data_type.size() as u128);
            let len = std::fs::metadata(&s.path)
                .map_err(|e| Error::io(&s.path, e))?
                .len();
            if need > u128::from(len) {
                return Err(Error::format(
                    &s.path,
                    format!(
                        "truncated: Rows × Columns = {} × {} of {} need {need} bytes of pixel data, the file has {len} bytes",
                        s.rows, s.cols, s.data_type
                    ),
                ));
            }
        }
    }
    let count = crate::volume::element_count(&info.shape);
    crate::volume::ensure_allocatable("DICOM volume", count, 4)?;
    let mut data = Array3::<f32>::zeros((n, rows, cols));
    // Slices decode in parallel, each into its own plane; the first error in slice
    // order is reported, whatever the thread count.
    let results: Vec<Result<()>> = data
        .axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(slices.par_iter())
        .map(|(mut out, s)| -> Result<()> {
            let values = decode_slice(s)?;
            for (o, v) in out.iter_mut().zip(values) {
                *o = (v * s.slope + s.intercept) as f32;
            }
            Ok(())
        })
        .collect();
    results.into_iter().collect::<Result<()>>()?;
    make_volume(path, data, info.spacing, info.origin, info.direction)
}

/// The stored pixel values of one slice (no rescale), row by row.
fn decode_slice(s: &Slice) -> Result<Vec<f64>> {
    let obj = open(&s.path, true)?;
    let unsupported = |e: &dyn std::fmt::Display| Error::Unsupported {
        path: s.path.clone(),
        what: format!("DICOM transfer syntax {} ({e})", s.transfer_syntax),
    };
    let native = NATIVE_TS.contains(&s.transfer_syntax.as_str());
    let decoded = obj.decode_pixel_data().map_err(|e| {
        if native {
            Error::format(&s.path, format!("cannot read the pixel data: {e}"))
        } else {
            unsupported(&e)
        }
    })?;
    let opts = ConvertOptions::new().with_modality_lut(ModalityLutOption::None);
    let values: Vec<f64> = decoded
        .to_vec_with_options(&opts)
        .map_err(|e| Error::format(&s.path, format!("cannot convert the pixel data: {e}")))?;
    if values.len() as u128 != crate::volume::element_count(&[s.rows, s.cols]) {
        return Err(Error::format(
            &s.path,
            format!(
                "pixel data holds {} values, Rows × Columns = {} × {} needs {}",
                values.len(),
                s.rows,
                s.cols,
                crate::volume::element_count(&[s.rows, s.cols])
            ),
        ));
    }
    Ok(values)
}
