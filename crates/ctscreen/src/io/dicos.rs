//! DICOS (NEMA IIC 1 v04-2023): security-screening CT volumes and Threat Detection
//! Reports (TDR), read and written through the [`dicos`] crate.
//!
//! DICOS is DICOM with security-screening objects: a DICOS CT
//! (SOP class `1.2.840.10008.5.1.4.1.1.501.1`) is an enhanced multi-frame CT whose
//! geometry lives in functional groups, and a TDR (`1.2.840.10008.5.1.4.1.1.501.3`)
//! lists potential threat objects (PTOs) with their category, probability and region.
//!
//! [`crate::io::load`] and [`crate::io::read_info`] recognise a DICOS CT by its content
//! (the `DICM` magic, then the SOP Class UID of the file meta information; classes under
//! the CT arc, `…501.1.<n>`, count as CT: see [`is_ct_sop_class`]) and
//! [`crate::io::save`] writes one for a `.dcs` path. The functions here give the
//! options (units, compression, reproducible UIDs), the [`ScanReference`] a TDR needs,
//! and the TDR itself: [`save_tdr`] / [`load_tdr`] convert a detection [`Report`] to and
//! from a TDR.
//!
//! # Units
//!
//! DICOS scanners store CT values as **MHU** (modified Hounsfield units,
//! `MHU = HU + 1000 = 1000 μ / μw`, air 0, water 1000) or as HU, stated by the
//! Rescale Type. [`load_dicos`] returns μ in mm⁻¹, the unit every ctscreen stage works
//! in, converting with the water attenuation of [`DicosLoadOptions::water_mu_per_mm`]
//! (default: [`crate::volume::water_mu_per_mm`] at 70 keV, 0.01937 mm⁻¹, a typical
//! effective energy of a 120 kVp tube). [`load_dicos_with`] can return HU or the
//! rescaled values untouched instead. A CT without Rescale Type is taken as HU (the
//! DICOM CT convention); `US` (unspecified) loads only as [`OutputUnits::Rescaled`].
//! [`save_dicos`] writes MHU at the same water μ, so a save/load pair is the identity up
//! to the quantisation below.
//!
//! # Geometry
//!
//! Array axes `(z, y, x)` are (frame, row, column). The world position of voxel
//! `[k, j, i]` is Image Position (Patient) of frame `k` + `j` × row spacing × column
//! direction cosine + `i` × column spacing × row direction cosine, with DICOS patient
//! `(x, y, z)` mapped to ctscreen world `(x, y, z)`. Frames are sorted by position along
//! the slice normal (row cosine × column cosine); their spacing must be uniform to 1 %.
//! Volumes with the identity orientation load with the identity direction; oblique ones
//! keep their direction cosines ([`Volume::direction`]).
//!
//! # Quantisation of [`save_dicos`]
//!
//! Voxels are stored as unsigned 16-bit integers with a Rescale Slope and Intercept
//! (decimal strings, written and read back bit-identically) chosen so the value range
//! `[min, max]` of the volume maps onto `0 ..= 65535`. The round-trip error of each
//! voxel is at most half a step: `|Δμ| ≤ (max − min) / 131070 × (1 + 1e-5)` plus f32
//! rounding of the result (a relative 6e-8). Spacing, origin and direction are written
//! as the shortest decimals that read back to the same f64 (up to the 16 characters of
//! a DICOM decimal string), so ordinary values survive exactly.
//!
//! # UIDs
//!
//! SOP Instance, Series, Study and Frame of Reference UIDs are UUID-derived (`2.25.…`,
//! ISO/IEC 9834-8) from a 128-bit hash. By default the hash mixes the clock, the process
//! id and a counter, so every save gets fresh UIDs; with
//! [`DicosSaveOptions::uid_seed`] / [`TdrSaveOptions::uid_seed`] it mixes only the seed
//! and the content, so the same seed and the same data give the same UIDs.
//!
//! # Threat Detection Reports
//!
//! [`save_tdr`] writes a detection [`Report`] as a TDR; [`load_tdr`] reads one back.
//!
//! * **Alarm Decision** (4010,1031): `ALARM` for [`Verdict::Inspect`], `CLEAR` for
//!   [`Verdict::Clear`].
//! * **One PTO per finding** (Threat Sequence (4010,1011) item), in the report's
//!   order, PTO ID = the finding's id. Number of Total / Alarm Objects follow.
//! * **Threat category** ([`KIND_MAPPING`]): DICOS has no firearm, ammunition or blade
//!   category; its closest is `PI` (prohibited item), used for the four threat kinds,
//!   with ATD Assessment Flag `HIGH_THREAT` for a whole firearm and `THREAT` for parts,
//!   ammunition and blades. `metal_other` (dense metal that matches no threat, scored
//!   below the threshold) is `ANOMALY` with flag `UNKNOWN`: it may hide something, the
//!   detector does not call it. The exact kind starts the Threat Category Description
//!   (`"firearm_part: steel, 412 g, score 0.83"`, then one `"- <evidence>"` line per
//!   evidence sentence), so it round-trips through the standard attributes alone.
//! * **Probability** (4010,1016) = the finding's score (FL, single precision).
//! * **Box**: the Bounding Polygon (4010,101D) holds the min and max corners of
//!   `bbox_mm` as two points, DICOS patient `(x, y, z)` mm. That frame is the CT's
//!   world frame as [`save_dicos`] / [`load_dicos`] map it (patient `(x, y, z)` = the
//!   volume's world `(x, y, z)` = `origin + index × spacing` along the direction
//!   cosines), named by the CT's Frame of Reference UID, which the TDR carries. With a
//!   scan, each PTO also has a Threat ROI Voxel base and extents: the voxels of the
//!   CT whose centres lie in the box, `(column, row, frame)`.
//! * **Mass** (4010,1017) = `mass_g`; **Density** (4010,1018) = `mass_g / volume_mm3`
//!   in g/cm³ (0 when the volume is 0), from which a foreign reader can recover the
//!   volume.
//! * **Processing times**: Total Processing Time (4010,1069) = `timings.total_s` in ms;
//!   each PTO has processing start/end times and the same total (the detector times
//!   stages, not objects).
//! * **References**, when the scan is given: the CT's SOP class and instance UIDs
//!   (Referenced Study Sequence, as the DICOS reference toolkit expects, and in each
//!   PTO's Referenced Instance Sequence), its series (Referenced Series Sequence), its
//!   Study Instance UID (the TDR joins the CT's study) and its Frame of Reference
//!   UID. Without a scan the TDR gets a fresh study and frame of reference, no
//!   reference and no voxel ROI: the boxes are in the detected volume's world frame.
//!   The DICOS reference toolkit refuses such a TDR (it requires a referenced scan and
//!   a voxel ROI per threat); save the volume as DICOS first ([`save_dicos`] returns
//!   the reference) when the TDR must travel to DICOS systems.
//!
//! ## What travels
//!
//! Through the standard attributes, which any DICOS reader sees: the verdict; per
//! finding the id, the kind (category, flag and the description's prefix), the score,
//! the box, the mass, the volume (via the density), the evidence sentences (description
//! lines, cut at the 10240 characters of an LT value, and split at line breaks); the
//! total processing time. Single-precision attributes (FL: score, box, mass, density,
//! times) keep 24 bits.
//!
//! Everything else a [`Report`] holds has no DICOS attribute: per finding the class
//! scores, voxel count, mean μ, material, centroid, principal axes and extents, member
//! count and numeric features; per report the threshold, the metal thresholds, the
//! volume's shape and spacing, the per-stage timings. ctscreen stores the whole finding
//! and those report-level fields as JSON in a private element (creator `CTSCREEN 1`,
//! (4011,1000) UT), which other readers ignore. [`load_tdr`] uses that copy only when
//! the standard attributes still say exactly what it would write (the file was not
//! edited by another tool); then `load_tdr(save_tdr(report)) == report`, bit for bit,
//! evidence included. Otherwise the standard attributes decide and the rest takes
//! neutral values: class score of the kind = the probability, others 0; voxel count 0,
//! mean μ 0, material `"unknown"`, centroid = box centre, principal axes = world axes
//! ordered by box size with the box sizes as extents, one member, no features;
//! threshold and metal thresholds of [`DetectOptions::default`], shape and spacing of
//! the scan given to [`load_tdr_with`] (else zeros), stage timings 0. A PTO of another
//! toolkit whose category names no ctscreen kind (`EXPLOSIVE`, `CONTRABAND`, or `PI`
//! without a kind prefix…) loads as `metal_other` with the DICOS category, flag and
//! description as its evidence; [`load_tdr_with`] gives the assessments as stated.
//!
//! # What the `dicos` crate lacks (and how this module extends it)
//!
//! The crate reads and writes DICOM Part-10 files into its `Dataset` / `Element` /
//! `Value` model and decodes RLE, JPEG Lossless, JPEG-LS and JPEG 2000 (pure Rust,
//! enabled here). Missing pieces, handled here through that object model:
//! - its group-4010 tag constants (`ALARM_DECISION = (4010,100A)`,
//!   `THREAT_ROI_SEQUENCE = (4010,1020)`, `PTO_SEQUENCE = (4010,1010)`,
//!   `ATD_ASSESSMENT_PROBABILITY = (4010,1017)`, `OOI_TYPE = (4010,1012)`, …) do not
//!   match DICOM PS3.6 / NEMA IIC 1 (Alarm Decision is (4010,1031), Threat Sequence
//!   (4010,1011), ATD Assessment Probability (4010,1016), OOI Type (4010,1042), …), so
//!   this module defines its own tags ([`tags`]);
//! - it knows one SOP class UID (DICOS CT) and has no CT or TDR model: no functional
//!   groups, rescale, geometry, threat sequences, no mapping to a detection report:
//!   all built here;
//! - with Implicit VR Little Endian it knows the VR of only ~25 tags and skips
//!   undefined-length sequences, losing the functional groups: such files are
//!   transcoded to Explicit VR Little Endian with the `dicom` crate first (after the
//!   element structure has been checked against the file size);
//! - native pixel data with BitsAllocated 32 is split into 16-bit halves and a sample
//!   count that disagrees with the header is only a warning: this module re-pairs the
//!   halves and refuses the mismatch;
//! - its reader allocates each declared element length (up to 1 GiB) before reading
//!   it: this module caps the per-element limit at the file size;
//! - its JPEG 2000 decoder rejects the 0x00 byte that pads an odd-length fragment to
//!   even length (DICOM PS3.5 A.4): this module strips it after the end marker;
//! - no signed-pixel, BitsStored masking or per-frame rescale handling; no sniffing of
//!   the SOP class without parsing the whole file (read here from the file meta group
//!   alone); no header-only parse ([`read_info`] parses the whole file but decodes no
//!   pixel); no atomic writes.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use ::dicos::{Dataset, Element, PixelData, Tag, Value, Vr};
use ndarray::{Array3, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{DataType, FileFormat, FileInfo};
use crate::detect::report::{
    ClassScores, Finding, Kind, Shield, Thresholds, Timings, Verdict, SCHEMA_VERSION,
};
use crate::detect::{DetectOptions, Report};
use crate::volume::{self, Volume};
use crate::{Error, Result};

/// SOP Class UID of DICOS CT Image Storage.
pub const CT_SOP_CLASS_UID: &str = "1.2.840.10008.5.1.4.1.1.501.1";
/// SOP Class UID of DICOS Threat Detection Report Storage.
pub const TDR_SOP_CLASS_UID: &str = "1.2.840.10008.5.1.4.1.1.501.3";
/// Prefix shared by every DICOS SOP class UID (CT, DX, TDR, AIT, QR…).
pub const DICOS_SOP_CLASS_ROOT: &str = "1.2.840.10008.5.1.4.1.1.501.";
/// True for the SOP class UIDs read as a DICOS CT: [`CT_SOP_CLASS_UID`] and the
/// classes under its arc (`…501.1.<n>`, which the DICOS reference toolkit also lists
/// as CT).
pub fn is_ct_sop_class(uid: &str) -> bool {
    uid == CT_SOP_CLASS_UID
        || uid
            .strip_prefix(CT_SOP_CLASS_UID)
            .and_then(|rest| rest.strip_prefix('.'))
            .is_some_and(|rest| {
                !rest.is_empty()
                    && rest
                        .split('.')
                        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            })
}

/// Effective energy (keV) of the default water attenuation used for MHU/HU ↔ μ.
pub const DEFAULT_EFFECTIVE_ENERGY_KEV: f64 = 70.0;

const IMPLEMENTATION_CLASS_UID: &str = "2.25.129582834972374601374328907416245925";
const PRIVATE_CREATOR: &str = "CTSCREEN 1";
const LT_MAX_CHARS: usize = 10240;

/// Data element tags used by this module, checked against DICOM PS3.6 (which carries
/// the NEMA IIC 1 group-4010 attributes). `(4010,1080..1082)` are the PTO processing
/// times the DICOS reference toolkit writes and requires (not yet in PS3.6).
pub mod tags {
    use ::dicos::Tag;
    macro_rules! tags {
        ($($(#[$m:meta])* $name:ident = ($g:expr, $e:expr);)*) => {
            $($(#[$m])* pub const $name: Tag = Tag::new($g, $e);)*
        };
    }
    tags! {
        /// (0002,0001) OB
        FILE_META_VERSION = (0x0002, 0x0001);
        /// (0002,0002) UI
        MEDIA_SOP_CLASS_UID = (0x0002, 0x0002);
        /// (0002,0003) UI
        MEDIA_SOP_INSTANCE_UID = (0x0002, 0x0003);
        /// (0002,0004) CS DICOS version in the file meta (required by the DICOS toolkit)
        META_DICOS_VERSION = (0x0002, 0x0004);
        /// (0002,0010) UI
        TRANSFER_SYNTAX_UID = (0x0002, 0x0010);
        /// (0002,0012) UI
        IMPLEMENTATION_CLASS_UID = (0x0002, 0x0012);
        /// (0002,0013) SH
        IMPLEMENTATION_VERSION_NAME = (0x0002, 0x0013);
        /// (0008,0005) CS
        SPECIFIC_CHARACTER_SET = (0x0008, 0x0005);
        /// (0008,0008) CS
        IMAGE_TYPE = (0x0008, 0x0008);
        /// (0008,0012) DA
        INSTANCE_CREATION_DATE = (0x0008, 0x0012);
        /// (0008,0013) TM
        INSTANCE_CREATION_TIME = (0x0008, 0x0013);
        /// (0008,0016) UI
        SOP_CLASS_UID = (0x0008, 0x0016);
        /// (0008,0018) UI
        SOP_INSTANCE_UID = (0x0008, 0x0018);
        /// (0008,0020) DA
        STUDY_DATE = (0x0008, 0x0020);
        /// (0008,0021) DA
        SERIES_DATE = (0x0008, 0x0021);
        /// (0008,0023) DA
        CONTENT_DATE = (0x0008, 0x0023);
        /// (0008,002A) DT
        ACQUISITION_DATETIME = (0x0008, 0x002A);
        /// (0008,0030) TM
        STUDY_TIME = (0x0008, 0x0030);
        /// (0008,0031) TM
        SERIES_TIME = (0x0008, 0x0031);
        /// (0008,0033) TM
        CONTENT_TIME = (0x0008, 0x0033);
        /// (0008,0060) CS
        MODALITY = (0x0008, 0x0060);
        /// (0008,0070) LO
        MANUFACTURER = (0x0008, 0x0070);
        /// (0008,0080) LO Institution Name (DICOS machine location)
        INSTITUTION_NAME = (0x0008, 0x0080);
        /// (0008,0081) ST Institution Address (DICOS machine address)
        INSTITUTION_ADDRESS = (0x0008, 0x0081);
        /// (0008,0118) CS (DICOS Image Origin; DICOM Mapping Resource UID)
        IMAGE_ORIGIN = (0x0008, 0x0118);
        /// (0008,1010) SH Station Name (DICOS machine id)
        STATION_NAME = (0x0008, 0x1010);
        /// (0008,1090) LO
        MODEL_NAME = (0x0008, 0x1090);
        /// (0008,2108) CS DICOS coordinate system (`RHS`/`LHS`; not in PS3.6)
        COORDINATE_SYSTEM = (0x0008, 0x2108);
        /// (0008,1110) SQ Referenced Study Sequence (the DICOS toolkit's scan reference)
        REFERENCED_STUDY_SEQUENCE = (0x0008, 0x1110);
        /// (0008,1115) SQ Referenced Series Sequence (the CT's series and instance)
        REFERENCED_SERIES_SEQUENCE = (0x0008, 0x1115);
        /// (0008,114A) SQ
        REFERENCED_INSTANCE_SEQUENCE = (0x0008, 0x114A);
        /// (0008,1150) UI
        REFERENCED_SOP_CLASS_UID = (0x0008, 0x1150);
        /// (0008,1155) UI
        REFERENCED_SOP_INSTANCE_UID = (0x0008, 0x1155);
        /// (0008,9007) CS
        FRAME_TYPE = (0x0008, 0x9007);
        /// (0008,9205) CS
        PIXEL_PRESENTATION = (0x0008, 0x9205);
        /// (0008,9206) CS
        VOLUMETRIC_PROPERTIES = (0x0008, 0x9206);
        /// (0008,9207) CS
        VOLUME_BASED_CALCULATION_TECHNIQUE = (0x0008, 0x9207);
        /// (0010,0020) LO Patient ID (OOI ID)
        PATIENT_ID = (0x0010, 0x0020);
        /// (0010,0021) LO Issuer of Patient ID (OOI ID assigning authority)
        ISSUER_OF_PATIENT_ID = (0x0010, 0x0021);
        /// (0010,0022) CS Type of Patient ID (OOI ID type)
        TYPE_OF_PATIENT_ID = (0x0010, 0x0022);
        /// (0010,0040) CS
        PATIENT_SEX = (0x0010, 0x0040);
        /// (0018,0050) DS
        SLICE_THICKNESS = (0x0018, 0x0050);
        /// (0018,0088) DS
        SPACING_BETWEEN_SLICES = (0x0018, 0x0088);
        /// (0018,1000) LO
        DEVICE_SERIAL_NUMBER = (0x0018, 0x1000);
        /// (0018,1020) LO
        SOFTWARE_VERSIONS = (0x0018, 0x1020);
        /// (0018,1200) DA
        DATE_OF_LAST_CALIBRATION = (0x0018, 0x1200);
        /// (0018,1201) TM
        TIME_OF_LAST_CALIBRATION = (0x0018, 0x1201);
        /// (0018,9329) SQ
        CT_IMAGE_FRAME_TYPE_SEQUENCE = (0x0018, 0x9329);
        /// (0020,000D) UI
        STUDY_INSTANCE_UID = (0x0020, 0x000D);
        /// (0020,000E) UI
        SERIES_INSTANCE_UID = (0x0020, 0x000E);
        /// (0020,0010) SH
        STUDY_ID = (0x0020, 0x0010);
        /// (0020,0013) IS
        INSTANCE_NUMBER = (0x0020, 0x0013);
        /// (0020,0032) DS
        IMAGE_POSITION_PATIENT = (0x0020, 0x0032);
        /// (0020,0037) DS
        IMAGE_ORIENTATION_PATIENT = (0x0020, 0x0037);
        /// (0020,0052) UI
        FRAME_OF_REFERENCE_UID = (0x0020, 0x0052);
        /// (0020,1040) LO
        POSITION_REFERENCE_INDICATOR = (0x0020, 0x1040);
        /// (0020,9113) SQ
        PLANE_POSITION_SEQUENCE = (0x0020, 0x9113);
        /// (0020,9116) SQ
        PLANE_ORIENTATION_SEQUENCE = (0x0020, 0x9116);
        /// (0028,0002) US
        SAMPLES_PER_PIXEL = (0x0028, 0x0002);
        /// (0028,0004) CS
        PHOTOMETRIC_INTERPRETATION = (0x0028, 0x0004);
        /// (0028,0008) IS
        NUMBER_OF_FRAMES = (0x0028, 0x0008);
        /// (0028,0010) US
        ROWS = (0x0028, 0x0010);
        /// (0028,0011) US
        COLUMNS = (0x0028, 0x0011);
        /// (0028,0030) DS
        PIXEL_SPACING = (0x0028, 0x0030);
        /// (0028,0100) US
        BITS_ALLOCATED = (0x0028, 0x0100);
        /// (0028,0101) US
        BITS_STORED = (0x0028, 0x0101);
        /// (0028,0102) US
        HIGH_BIT = (0x0028, 0x0102);
        /// (0028,0103) US
        PIXEL_REPRESENTATION = (0x0028, 0x0103);
        /// (0028,0301) CS
        BURNED_IN_ANNOTATION = (0x0028, 0x0301);
        /// (0028,1052) DS
        RESCALE_INTERCEPT = (0x0028, 0x1052);
        /// (0028,1053) DS
        RESCALE_SLOPE = (0x0028, 0x1053);
        /// (0028,1054) LO
        RESCALE_TYPE = (0x0028, 0x1054);
        /// (0028,9110) SQ
        PIXEL_MEASURES_SEQUENCE = (0x0028, 0x9110);
        /// (0028,9145) SQ
        PIXEL_VALUE_TRANSFORMATION_SEQUENCE = (0x0028, 0x9145);
        /// (0040,0555) SQ
        ACQUISITION_CONTEXT_SEQUENCE = (0x0040, 0x0555);
        /// (2050,0020) CS
        PRESENTATION_LUT_SHAPE = (0x2050, 0x0020);
        /// (4300,0902) FL effective energy, keV (DICOS; not in PS3.6)
        EFFECTIVE_ENERGY = (0x4300, 0x0902);
        /// (4010,1001) SQ
        THREAT_ROI_VOXEL_SEQUENCE = (0x4010, 0x1001);
        /// (4010,1004) FL 3 (column, row, frame) voxel indices
        THREAT_ROI_BASE = (0x4010, 0x1004);
        /// (4010,1005) FL 3 voxel counts
        THREAT_ROI_EXTENTS = (0x4010, 0x1005);
        /// (4010,1006) OB
        THREAT_ROI_BITMAP = (0x4010, 0x1006);
        /// (4010,1010) US
        POTENTIAL_THREAT_OBJECT_ID = (0x4010, 0x1010);
        /// (4010,1011) SQ
        THREAT_SEQUENCE = (0x4010, 0x1011);
        /// (4010,1012) CS
        THREAT_CATEGORY = (0x4010, 0x1012);
        /// (4010,1013) LT
        THREAT_CATEGORY_DESCRIPTION = (0x4010, 0x1013);
        /// (4010,1014) CS
        ATD_ABILITY_ASSESSMENT = (0x4010, 0x1014);
        /// (4010,1015) CS
        ATD_ASSESSMENT_FLAG = (0x4010, 0x1015);
        /// (4010,1016) FL
        ATD_ASSESSMENT_PROBABILITY = (0x4010, 0x1016);
        /// (4010,1017) FL grams
        MASS = (0x4010, 0x1017);
        /// (4010,1018) FL g/cm³
        DENSITY = (0x4010, 0x1018);
        /// (4010,101D) FL 6-n, patient (x, y, z) mm
        BOUNDING_POLYGON = (0x4010, 0x101D);
        /// (4010,1024) CS
        ABORT_FLAG = (0x4010, 0x1024);
        /// (4010,1027) CS
        TDR_TYPE = (0x4010, 0x1027);
        /// (4010,1029) LO 1-n
        THREAT_DETECTION_ALGORITHM_AND_VERSION = (0x4010, 0x1029);
        /// (4010,102B) DT
        ALARM_DECISION_TIME = (0x4010, 0x102B);
        /// (4010,1031) CS
        ALARM_DECISION = (0x4010, 0x1031);
        /// (4010,1033) US
        NUMBER_OF_TOTAL_OBJECTS = (0x4010, 0x1033);
        /// (4010,1034) US
        NUMBER_OF_ALARM_OBJECTS = (0x4010, 0x1034);
        /// (4010,1037) SQ
        PTO_REPRESENTATION_SEQUENCE = (0x4010, 0x1037);
        /// (4010,1038) SQ
        ATD_ASSESSMENT_SEQUENCE = (0x4010, 0x1038);
        /// (4010,103A) CS
        DICOS_VERSION = (0x4010, 0x103A);
        /// (4010,1042) CS
        OOI_TYPE = (0x4010, 0x1042);
        /// (4010,1044) CS
        ACQUISITION_STATUS = (0x4010, 0x1044);
        /// (4010,1048) CS
        SCAN_TYPE = (0x4010, 0x1048);
        /// (4010,1069) FL ms
        TOTAL_PROCESSING_TIME = (0x4010, 0x1069);
        /// (4010,106D) CS
        ADDITIONAL_SCREENING_PERFORMED = (0x4010, 0x106D);
        /// (4010,1075) Image Scale Representation: DS in PS3.6, but the DICOS reference
        /// toolkit reads and writes FD, so FD is written

        IMAGE_SCALE_REPRESENTATION = (0x4010, 0x1075);
        /// (4010,1080) DT PTO processing start time
        PTO_PROCESSING_START = (0x4010, 0x1080);
        /// (4010,1081) DT PTO processing end time
        PTO_PROCESSING_END = (0x4010, 0x1081);
        /// (4010,1082) FL PTO processing time, ms
        PTO_PROCESSING_TIME = (0x4010, 0x1082);
        /// (4011,0010) LO private creator `CTSCREEN 1`
        PRIVATE_CREATOR = (0x4011, 0x0010);
        /// (4011,1000) UT private JSON: exact values the standard fields cannot hold
        PRIVATE_JSON = (0x4011, 0x1000);
        /// (5200,9229) SQ
        SHARED_FUNCTIONAL_GROUPS = (0x5200, 0x9229);
        /// (5200,9230) SQ
        PER_FRAME_FUNCTIONAL_GROUPS = (0x5200, 0x9230);
        /// (7FE0,0010) OW/OB
        PIXEL_DATA = (0x7FE0, 0x0010);
    }
}

// ---------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------

/// Which DICOS object a file holds, from its SOP class UID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DicosKind {
    /// DICOS CT Image (`…501.1`).
    Ct,
    /// DICOS Threat Detection Report (`…501.3`).
    Tdr,
    /// Another DICOS SOP class (DX, AIT, QR…), with its UID.
    Other(String),
}

/// The unit of the values [`load_dicos_with`] puts in the volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputUnits {
    /// Linear attenuation μ in mm⁻¹ (the ctscreen convention; the default).
    #[default]
    Mu,
    /// Hounsfield units.
    Hu,
    /// The rescaled values as the file states them (`slope × stored + intercept`),
    /// in whatever unit its Rescale Type names.
    Rescaled,
}

/// Options of [`load_dicos_with`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DicosLoadOptions {
    /// The unit of the returned volume.
    pub units: OutputUnits,
    /// μ of water in mm⁻¹ used to convert HU/MHU to μ (default: 70 keV, 0.01937).
    pub water_mu_per_mm: f64,
}

impl Default for DicosLoadOptions {
    fn default() -> Self {
        Self {
            units: OutputUnits::Mu,
            water_mu_per_mm: default_water_mu(),
        }
    }
}

/// Where a CT sits: its UIDs and its grid. A TDR refers to the CT by these UIDs and
/// places its voxel ROIs on this grid.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanReference {
    /// SOP Class UID of the CT (normally [`CT_SOP_CLASS_UID`]).
    pub sop_class_uid: String,
    /// SOP Instance UID of the CT (of its first file for a directory of slices).
    pub sop_instance_uid: String,
    /// Study Instance UID (the DICOS scan).
    pub study_instance_uid: String,
    /// Series Instance UID.
    pub series_instance_uid: String,
    /// Frame of Reference UID: the world frame of `origin_mm` and of TDR boxes.
    pub frame_of_reference_uid: String,
    /// Volume shape `(nz, ny, nx)`.
    pub shape: [usize; 3],
    /// Voxel size `(dz, dy, dx)` mm.
    pub spacing_mm: [f64; 3],
    /// World `(z, y, x)` mm of voxel `[0, 0, 0]`.
    pub origin_mm: [f64; 3],
    /// Direction cosines as [`Volume::direction`].
    pub direction: [[f64; 3]; 3],
}

impl ScanReference {
    /// A reference to a CT with the given UIDs laid out like `volume`
    /// (SOP class [`CT_SOP_CLASS_UID`]).
    pub fn new(
        volume: &Volume,
        sop_instance_uid: &str,
        study_instance_uid: &str,
        series_instance_uid: &str,
        frame_of_reference_uid: &str,
    ) -> Self {
        Self {
            sop_class_uid: CT_SOP_CLASS_UID.to_string(),
            sop_instance_uid: sop_instance_uid.to_string(),
            study_instance_uid: study_instance_uid.to_string(),
            series_instance_uid: series_instance_uid.to_string(),
            frame_of_reference_uid: frame_of_reference_uid.to_string(),
            shape: volume.shape(),
            spacing_mm: volume.spacing(),
            origin_mm: volume.origin(),
            direction: volume.direction(),
        }
    }

    /// Fractional voxel index `(k, j, i)` of world point `(z, y, x)` mm.
    pub fn index_of_world(&self, world: [f64; 3]) -> [f64; 3] {
        let d: [f64; 3] = std::array::from_fn(|r| world[r] - self.origin_mm[r]);
        // direction is orthonormal: its inverse is its transpose.
        std::array::from_fn(|a| {
            (0..3).map(|r| self.direction[r][a] * d[r]).sum::<f64>() / self.spacing_mm[a]
        })
    }
}

/// A DICOS CT as loaded: the volume, the reference to cite it from a TDR, and units.
#[derive(Debug, Clone, PartialEq)]
pub struct DicosCt {
    /// The voxels, `(z, y, x)`, in `units`.
    pub volume: Volume,
    /// UIDs and grid of the CT.
    pub scan: ScanReference,
    /// The Rescale Type the file states (`MHU`, `HU`, …; empty when absent).
    pub rescale_type: String,
    /// The unit of `volume`'s values.
    pub units: OutputUnits,
    /// Transfer Syntax UID of the (first) file.
    pub transfer_syntax_uid: String,
}

/// Pixel-data compression of [`save_dicos_with`]; all lossless.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Native pixels, Explicit VR Little Endian (the default; read by every toolkit).
    #[default]
    None,
    /// RLE Lossless (`1.2.840.10008.1.2.5`).
    Rle,
    /// JPEG Lossless, first-order prediction (`1.2.840.10008.1.2.4.70`).
    JpegLossless,
    /// JPEG-LS Lossless (`1.2.840.10008.1.2.4.80`).
    JpegLs,
    /// JPEG 2000 Lossless (`1.2.840.10008.1.2.4.90`).
    Jpeg2000,
}

impl Compression {
    fn transfer_syntax(self) -> &'static str {
        match self {
            Compression::None => ::dicos::transfer::EXPLICIT_VR_LITTLE_ENDIAN,
            Compression::Rle => ::dicos::transfer::RLE_LOSSLESS,
            Compression::JpegLossless => ::dicos::transfer::JPEG_LOSSLESS_FIRST_ORDER,
            Compression::JpegLs => ::dicos::transfer::JPEG_LS_LOSSLESS,
            Compression::Jpeg2000 => ::dicos::transfer::JPEG_2000_LOSSLESS,
        }
    }
}

/// A calendar date and time in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTimeUtc {
    /// Year (1–9999).
    pub year: u16,
    /// Month 1–12.
    pub month: u8,
    /// Day 1–31.
    pub day: u8,
    /// Hour 0–23.
    pub hour: u8,
    /// Minute 0–59.
    pub minute: u8,
    /// Second 0–59.
    pub second: u8,
    /// Microseconds 0–999999.
    pub micros: u32,
}

impl DateTimeUtc {
    /// The current time from the system clock.
    pub fn now() -> Self {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Self::from_unix(d.as_secs() as i64, d.subsec_micros())
    }

    /// The UTC date and time `secs` seconds after 1970-01-01T00:00:00Z.
    pub fn from_unix(secs: i64, micros: u32) -> Self {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        // Civil-from-days (proleptic Gregorian), after H. Hinnant's algorithm.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        Self {
            year: year.clamp(1, 9999) as u16,
            month: month as u8,
            day: day as u8,
            hour: (rem / 3600) as u8,
            minute: (rem / 60 % 60) as u8,
            second: (rem % 60) as u8,
            micros: micros.min(999_999),
        }
    }

    fn da(&self) -> String {
        format!("{:04}{:02}{:02}", self.year, self.month, self.day)
    }
    fn tm(&self) -> String {
        format!(
            "{:02}{:02}{:02}.{:06}",
            self.hour, self.minute, self.second, self.micros
        )
    }
    fn dt(&self) -> String {
        format!("{}{}+0000", self.da(), self.tm())
    }
    fn minus_ms(&self, ms: f64) -> Self {
        let total = self.unix_micros() - (ms.max(0.0) * 1000.0).round() as i64;
        Self::from_unix(
            total.div_euclid(1_000_000),
            total.rem_euclid(1_000_000) as u32,
        )
    }
    fn unix_micros(&self) -> i64 {
        // Days-from-civil, the inverse of `from_unix`.
        let (y, m, d) = (
            i64::from(self.year) - i64::from(self.month <= 2),
            i64::from(self.month),
            i64::from(self.day),
        );
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400);
        let mp = if m > 2 { m - 3 } else { m + 9 };
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        let secs = days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second);
        secs * 1_000_000 + i64::from(self.micros)
    }
}

/// Options of [`save_dicos_with`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DicosSaveOptions {
    /// μ of water in mm⁻¹ for μ → MHU (default: 70 keV, 0.01937).
    pub water_mu_per_mm: f64,
    /// Pixel compression (default none).
    pub compression: Compression,
    /// `Some(seed)`: UIDs from the seed and the content (reproducible); `None`: fresh.
    pub uid_seed: Option<u64>,
    /// Acquisition/content date and time; `None`: now.
    pub datetime: Option<DateTimeUtc>,
}

impl Default for DicosSaveOptions {
    fn default() -> Self {
        Self {
            water_mu_per_mm: default_water_mu(),
            compression: Compression::None,
            uid_seed: None,
            datetime: None,
        }
    }
}

/// Options of [`save_tdr_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TdrSaveOptions {
    /// `Some(seed)`: UIDs from the seed and the content (reproducible); `None`: fresh.
    pub uid_seed: Option<u64>,
    /// Content / alarm decision date and time; `None`: now.
    pub datetime: Option<DateTimeUtc>,
}

/// Each ctscreen [`Kind`] and the DICOS Threat Category (4010,1012) and ATD Assessment
/// Flag (4010,1015) it is written as (see the module docs for the reasoning).
///
/// | kind | Threat Category | ATD Assessment Flag |
/// | --- | --- | --- |
/// | `firearm` | `PI` (prohibited item) | `HIGH_THREAT` |
/// | `firearm_part` | `PI` | `THREAT` |
/// | `ammunition` | `PI` | `THREAT` |
/// | `blade` | `PI` | `THREAT` |
/// | `metal_other` | `ANOMALY` | `UNKNOWN` |
///
/// PTOs flagged `HIGH_THREAT` or `THREAT` count as alarm objects (4010,1034). The exact
/// kind starts the Threat Category Description (`"firearm_part: …"`), where any DICOS
/// reader sees it and from which [`load_tdr`] recovers it.
pub const KIND_MAPPING: [(Kind, &str, &str); 5] = [
    (Kind::Firearm, "PI", "HIGH_THREAT"),
    (Kind::FirearmPart, "PI", "THREAT"),
    (Kind::Ammunition, "PI", "THREAT"),
    (Kind::Blade, "PI", "THREAT"),
    (Kind::MetalOther, "ANOMALY", "UNKNOWN"),
];

/// DICOS Threat Category codes and their names in evidence sentences.
const DICOS_CATEGORIES: [(&str, &str); 7] = [
    ("EXPLOSIVE", "explosive"),
    ("PI", "prohibited item"),
    ("CONTRABAND", "contraband"),
    ("ANOMALY", "anomaly"),
    ("LAPTOP", "laptop"),
    ("OTHER", "other"),
    ("PHARMACEUTICAL", "pharmaceutical"),
];

/// The DICOS assessment of one potential threat object (PTO), as the file states it.
#[derive(Debug, Clone, PartialEq)]
pub struct PtoAssessment {
    /// Potential Threat Object ID (4010,1010).
    pub id: u16,
    /// Threat Category code (4010,1012): `PI`, `ANOMALY`, `EXPLOSIVE`, ….
    pub category: String,
    /// ATD Assessment Flag (4010,1015): `HIGH_THREAT`, `THREAT`, `NO_THREAT`, `UNKNOWN`.
    pub flag: String,
    /// Threat Category Description (4010,1013), free text.
    pub description: String,
}

/// A Threat Detection Report as [`load_tdr_with`] reads it: the report and what the
/// file says about the CT it refers to.
#[derive(Debug, Clone, PartialEq)]
pub struct Tdr {
    /// The report (see the module docs for the fields a TDR from another toolkit fills).
    pub report: Report,
    /// The DICOS assessment of each PTO, in the order of `report.findings`.
    pub assessments: Vec<PtoAssessment>,
    /// SOP Class UID of the referenced CT (empty when the TDR references none).
    pub scan_sop_class_uid: String,
    /// SOP Instance UID of the referenced CT (empty when none).
    pub scan_sop_instance_uid: String,
    /// Series Instance UID of the referenced CT (empty when the file does not say).
    pub scan_series_instance_uid: String,
    /// Study Instance UID of the TDR: the scan's study when it was saved with one.
    pub study_instance_uid: String,
    /// Frame of Reference UID of the boxes: the CT's when it was saved with one.
    pub frame_of_reference_uid: String,
    /// True when every finding and the report-level fields came from the ctscreen
    /// private copy (the file was written by ctscreen and not edited since): the report
    /// is then exactly the one saved.
    pub exact: bool,
}

// ---------------------------------------------------------------------------------
// Sniffing
// ---------------------------------------------------------------------------------

/// The DICOS SOP class of the file at `path`, read from its File Meta Information
/// (DICM magic at byte 128, then Media Storage SOP Class UID), without reading the
/// rest. `None` if the file is not a DICOM Part-10 file or not a DICOS object.
pub fn dicos_kind(path: impl AsRef<Path>) -> Option<DicosKind> {
    let meta = read_meta(path.as_ref()).ok()?;
    let uid = meta.sop_class_uid?;
    if is_ct_sop_class(&uid) {
        Some(DicosKind::Ct)
    } else if uid == TDR_SOP_CLASS_UID {
        Some(DicosKind::Tdr)
    } else if uid.starts_with(DICOS_SOP_CLASS_ROOT) {
        Some(DicosKind::Other(uid))
    } else {
        None
    }
}

/// True if `path` is a DICOS file (any DICOS SOP class), judged by content: the DICM
/// magic at byte 128 and a Media Storage SOP Class UID under
/// [`DICOS_SOP_CLASS_ROOT`]. Never errors: unreadable files are `false`.
///
/// # Example
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let p = dir.path().join("scan.dcs");
/// let v = ctscreen::Volume::new(ndarray::Array3::zeros((2, 3, 4)), [1.0; 3], [0.0; 3]).unwrap();
/// ctscreen::io::dicos::save_dicos(&p, &v).unwrap();
/// assert!(ctscreen::io::dicos::is_dicos(&p));
/// ```
pub fn is_dicos(path: impl AsRef<Path>) -> bool {
    dicos_kind(path).is_some()
}

/// True if `path` is a DICOS CT as [`crate::io::load`] judges it: a file whose SOP
/// class is DICOS CT ([`is_ct_sop_class`]), or a directory whose first DICOM Part-10
/// file (regular files in name order, judged by the `DICM` magic) is one. Never
/// errors: unreadable paths give `false`.
///
/// # Example
/// ```
/// use ctscreen::{io, Volume};
/// let dir = tempfile::tempdir().unwrap();
/// let v = Volume::new(ndarray::Array3::zeros((2, 3, 4)), [1.0; 3], [0.0; 3]).unwrap();
/// io::save(dir.path().join("scan.dcs"), &v).unwrap();
/// std::fs::rename(dir.path().join("scan.dcs"), dir.path().join("scan.dcm")).unwrap();
/// assert!(io::dicos::is_dicos_ct(dir.path().join("scan.dcm"))); // whatever the name
/// assert!(io::dicos::is_dicos_ct(dir.path()));
/// ```
pub fn is_dicos_ct(path: impl AsRef<Path>) -> bool {
    let path = path.as_ref();
    if path.is_dir() {
        dir_is_dicos_ct(path)
    } else {
        dicos_kind(path) == Some(DicosKind::Ct)
    }
}

fn dir_is_dicos_ct(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    for f in files {
        let mut head = [0u8; 132];
        let is_dicm = File::open(&f)
            .and_then(|mut h| h.read_exact(&mut head))
            .is_ok()
            && &head[128..] == b"DICM";
        if is_dicm {
            return dicos_kind(&f) == Some(DicosKind::Ct);
        }
    }
    false
}

struct Meta {
    sop_class_uid: Option<String>,
    transfer_syntax: Option<String>,
}

/// Reads only the File Meta Information group: its length is the fixed-position
/// (0002,0000) UL at bytes 132..144; the group is handed to the `dicos` parser alone.
fn read_meta(path: &Path) -> Result<Meta> {
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut head = [0u8; 144];
    let mut got = 0;
    while got < head.len() {
        match f.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    if got < 132 || &head[128..132] != b"DICM" {
        return Err(Error::format(
            path,
            "not a DICOM/DICOS Part-10 file: no DICM magic at byte 128",
        ));
    }
    let mut buf = head[..got].to_vec();
    if got == 144 && head[132..138] == [0x02, 0x00, 0x00, 0x00, b'U', b'L'] {
        let len = u32::from_le_bytes([head[140], head[141], head[142], head[143]]) as u64;
        let len = len.min(1 << 20);
        let mut rest = Vec::new();
        (&mut f)
            .take(len)
            .read_to_end(&mut rest)
            .map_err(|e| Error::io(path, e))?;
        buf.extend_from_slice(&rest);
    } else {
        // No group length: read a bounded prefix and let the parser stop where it can.
        let mut rest = Vec::new();
        (&mut f)
            .take(64 << 10)
            .read_to_end(&mut rest)
            .map_err(|e| Error::io(path, e))?;
        buf.extend_from_slice(&rest);
    }
    let ds = match ::dicos::parse_with_limit(std::io::Cursor::new(&buf), buf.len()) {
        Ok(ds) => ds,
        Err(_) => {
            // Without a group length the prefix may end mid-element: no UID known.
            return Ok(Meta {
                sop_class_uid: None,
                transfer_syntax: None,
            });
        }
    };
    Ok(Meta {
        sop_class_uid: get_string(&ds, tags::MEDIA_SOP_CLASS_UID)
            .or_else(|| get_string(&ds, tags::SOP_CLASS_UID)),
        transfer_syntax: get_string(&ds, tags::TRANSFER_SYNTAX_UID),
    })
}

// ---------------------------------------------------------------------------------
// Reading the dataset
// ---------------------------------------------------------------------------------

fn map_dicos_err(path: &Path, e: ::dicos::DicosError) -> Error {
    match e {
        ::dicos::DicosError::Io(io) => Error::io(path, io),
        ::dicos::DicosError::UnsupportedTransferSyntax(ts) => Error::Unsupported {
            path: path.to_path_buf(),
            what: format!("transfer syntax {ts}"),
        },
        other => Error::format(path, other.to_string()),
    }
}

/// Parses a whole DICOS file into the `dicos` object model. Implicit VR Little Endian
/// files are transcoded to Explicit VR Little Endian with the `dicom` crate first.
fn read_dataset(path: &Path) -> Result<Dataset> {
    let meta = read_meta(path)?;
    let ts = meta.transfer_syntax.unwrap_or_default();
    match ts.as_str() {
        ::dicos::transfer::EXPLICIT_VR_BIG_ENDIAN | ::dicos::transfer::DEFLATED_EXPLICIT_VR => {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                what: format!("transfer syntax {ts} (big-endian or deflated)"),
            })
        }
        _ => {}
    }
    let file_len = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    let limit = usize::try_from(file_len).unwrap_or(usize::MAX).max(1);
    if ts == ::dicos::transfer::IMPLICIT_VR_LITTLE_ENDIAN || ts.is_empty() {
        let bytes = transcode_to_explicit(path)?;
        let n = bytes.len();
        return ::dicos::parse_with_warnings_and_limit(std::io::Cursor::new(bytes), n)
            .map(|(ds, _)| ds)
            .map_err(|e| map_dicos_err(path, e));
    }
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    ::dicos::parse_with_warnings_and_limit(BufReader::new(f), limit)
        .map(|(ds, _)| ds)
        .map_err(|e| map_dicos_err(path, e))
}

/// The `dicom` crate reads the file after the element structure has been checked
/// against the file size ([`super::dicom`]), so a lying length cannot make it allocate.
fn transcode_to_explicit(path: &Path) -> Result<Vec<u8>> {
    use ::dicom::transfer_syntax::entries::EXPLICIT_VR_LITTLE_ENDIAN;
    let mut obj = super::dicom::open(path, true)?;
    obj.update_meta(|m| m.set_transfer_syntax(&EXPLICIT_VR_LITTLE_ENDIAN));
    let mut out = Vec::new();
    obj.write_all(&mut out)
        .map_err(|e| Error::format(path, format!("cannot transcode implicit VR: {e}")))?;
    Ok(out)
}

// -- value accessors over the `dicos` model (explicit VR; UN bytes read as text) --

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::Str(s) => Some(s.clone()),
        Value::Strings(s) => Some(s.join("\\")),
        Value::Bytes(b) => Some(
            String::from_utf8_lossy(b)
                .trim_end_matches(['\0', ' '])
                .to_string(),
        ),
        _ => None,
    }
}

fn get_string(ds: &Dataset, tag: Tag) -> Option<String> {
    ds.get(tag)
        .and_then(|e| text_of(&e.value))
        .map(|s| s.trim().to_string())
}

/// Multi-valued numbers from DS/IS text or FL/FD/US binary values.
fn get_numbers(ds: &Dataset, tag: Tag) -> Option<Vec<f64>> {
    let e = ds.get(tag)?;
    match &e.value {
        Value::F32(x) => Some(vec![f64::from(*x)]),
        Value::F64(x) => Some(vec![*x]),
        Value::F32s(x) => Some(x.iter().map(|&v| f64::from(v)).collect()),
        Value::F64s(x) => Some(x.clone()),
        Value::U16(x) => Some(vec![f64::from(*x)]),
        Value::U16s(x) => Some(x.iter().map(|&v| f64::from(v)).collect()),
        Value::U32(x) => Some(vec![f64::from(*x)]),
        Value::I16(x) => Some(vec![f64::from(*x)]),
        Value::I32(x) => Some(vec![f64::from(*x)]),
        Value::Bytes(b) if matches!(e.vr, Vr::FL) && b.len() % 4 == 0 => Some(
            b.chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
        ),
        Value::Bytes(b) if b.is_empty() => Some(Vec::new()),
        v => {
            let t = text_of(v)?;
            let parts: Vec<&str> = t.split('\\').map(str::trim).collect();
            if parts.iter().all(|p| p.is_empty()) {
                return Some(Vec::new());
            }
            parts.iter().map(|p| p.parse::<f64>().ok()).collect()
        }
    }
}

fn get_number(ds: &Dataset, tag: Tag) -> Option<f64> {
    get_numbers(ds, tag).and_then(|v| v.first().copied())
}

fn get_seq(ds: &Dataset, tag: Tag) -> Option<&[Dataset]> {
    match &ds.get(tag)?.value {
        Value::Sequence(items) => Some(items),
        _ => None,
    }
}

fn first_item(ds: &Dataset, tag: Tag) -> Option<&Dataset> {
    get_seq(ds, tag).and_then(|s| s.first())
}

/// Number of Frames (IS). The DICOS reference toolkit writes it as binary US; in an
/// Implicit VR file that arrives as IS text of control bytes, read back here as the
/// little-endian integer it is.
fn number_of_frames(ds: &Dataset) -> f64 {
    let Some(e) = ds.get(tags::NUMBER_OF_FRAMES) else {
        return 1.0;
    };
    if let Some(v) = get_number(ds, tags::NUMBER_OF_FRAMES) {
        return v;
    }
    let bytes: Vec<u8> = match &e.value {
        Value::Str(s) => s.bytes().collect(),
        Value::Bytes(b) => b.clone(),
        _ => return f64::NAN,
    };
    if bytes.is_empty() || bytes.len() > 4 || bytes.iter().any(|b| (0x20..0x7F).contains(b)) {
        return f64::NAN;
    }
    let mut le = [0u8; 4];
    le[..bytes.len()].copy_from_slice(&bytes);
    f64::from(u32::from_le_bytes(le))
}

fn require_u16(ds: &Dataset, tag: Tag, name: &str, path: &Path) -> Result<u16> {
    let v = get_number(ds, tag).ok_or_else(|| Error::format(path, format!("{name} missing")))?;
    if v.fract() != 0.0 || !(0.0..=65535.0).contains(&v) {
        return Err(Error::format(
            path,
            format!("{name} = {v}, expected 0–65535"),
        ));
    }
    Ok(v as u16)
}

// ---------------------------------------------------------------------------------
// CT loading
// ---------------------------------------------------------------------------------

/// Loads a DICOS CT as μ in mm⁻¹ (water at 70 keV, see the module docs), from one
/// multi-frame file or a directory of DICOS CT files of one series.
///
/// **Errors**: [`Error::Io`] if unreadable; [`Error::Format`] if the file is not a
/// DICOS CT, is truncated or inconsistent (frame count or sample count disagreeing with
/// the pixel data, missing geometry, duplicate frame positions);
/// [`Error::Unsupported`] for colour images, non-uniform slice spacing, transfer
/// syntaxes without a codec, or a Rescale Type that cannot be converted to μ;
/// [`Error::TooLarge`] if the declared volume exceeds the memory limit.
///
/// # Example
/// ```
/// use ctscreen::{io::dicos, Volume};
/// let dir = tempfile::tempdir().unwrap();
/// let p = dir.path().join("scan.dcs");
/// let data = ndarray::Array3::from_shape_fn((3, 4, 5), |(k, j, i)| 0.001 * (k + j + i) as f32);
/// let v = Volume::new(data, [2.0, 0.5, 0.5], [10.0, -20.0, 30.0]).unwrap();
/// dicos::save_dicos(&p, &v).unwrap();
/// let back = dicos::load_dicos(&p).unwrap();
/// assert_eq!(back.spacing(), [2.0, 0.5, 0.5]);
/// assert_eq!(back.origin(), [10.0, -20.0, 30.0]);
/// assert!((back.data()[[2, 3, 4]] - 0.009).abs() < 1e-6);
/// ```
pub fn load_dicos(path: impl AsRef<Path>) -> Result<Volume> {
    load_dicos_with(path, &DicosLoadOptions::default()).map(|ct| ct.volume)
}

/// Loads a DICOS CT with explicit units, also returning its [`ScanReference`].
///
/// **Errors** as [`load_dicos`]; also [`Error::InvalidParameter`] if
/// `water_mu_per_mm` is not finite and positive.
pub fn load_dicos_with(path: impl AsRef<Path>, options: &DicosLoadOptions) -> Result<DicosCt> {
    let path = path.as_ref();
    if !options.water_mu_per_mm.is_finite() || options.water_mu_per_mm <= 0.0 {
        return Err(Error::invalid(
            "water_mu_per_mm",
            options.water_mu_per_mm,
            "a finite μ of water > 0 mm⁻¹",
        ));
    }
    let (files, datasets) = read_ct_files(path)?;
    assemble_ct(&files, &datasets, options)
}

/// Reads the header of a DICOS CT (one file or a directory of one series) and reports
/// what [`load_dicos`] would give: shape, spacing, origin and direction of the volume,
/// the stored sample type and whether the pixels are compressed.
///
/// The `dicos` crate has no header-only mode: the file is parsed whole (pixel bytes
/// included, bounded by the file size) but no pixel is decoded.
///
/// **Errors** as [`load_dicos`], except that pixel decoding errors and the memory
/// limit are not checked.
///
/// # Example
/// ```
/// use ctscreen::{io, Volume};
/// let dir = tempfile::tempdir().unwrap();
/// let p = dir.path().join("scan.dcs");
/// let v = Volume::new(ndarray::Array3::zeros((3, 4, 5)), [2.0, 0.5, 0.5], [1.0, 2.0, 3.0]).unwrap();
/// io::save(&p, &v).unwrap();
/// let info = io::dicos::read_info(&p).unwrap();
/// assert_eq!(info.format, io::FileFormat::Dicos);
/// assert_eq!(info.data_type, io::DataType::UInt16);
/// assert_eq!((info.shape, info.spacing, info.origin), ([3, 4, 5], [2.0, 0.5, 0.5], [1.0, 2.0, 3.0]));
/// ```
pub fn read_info(path: impl AsRef<Path>) -> Result<FileInfo> {
    read_header(path.as_ref()).map(|(info, _)| info)
}

/// The [`ScanReference`] of a DICOS CT file (or directory of one series), read from
/// its header: what [`save_tdr`] needs to refer a Threat Detection Report to that CT.
///
/// **Errors** as [`read_info`].
///
/// # Example
/// ```
/// use ctscreen::{io::dicos, Volume};
/// let dir = tempfile::tempdir().unwrap();
/// let p = dir.path().join("scan.dcs");
/// let v = Volume::new(ndarray::Array3::zeros((3, 4, 5)), [1.0; 3], [0.0; 3]).unwrap();
/// let saved = dicos::save_dicos(&p, &v).unwrap();
/// assert_eq!(dicos::read_scan_reference(&p).unwrap(), saved);
/// ```
pub fn read_scan_reference(path: impl AsRef<Path>) -> Result<ScanReference> {
    read_header(path.as_ref()).map(|(_, scan)| scan)
}

fn read_header(path: &Path) -> Result<(FileInfo, ScanReference)> {
    let (files, datasets) = read_ct_files(path)?;
    let plan = plan_ct(&files, &datasets)?;
    let (spacing, origin, direction) = plan.geometry();
    let shape = [plan.nz, plan.rows, plan.cols];
    // Geometry errors are the file's fault, as when loading.
    let vol = Volume::new(Array3::<f32>::zeros((0, 0, 0)), spacing, origin)
        .and_then(|v| v.with_direction(direction))
        .map_err(|e| Error::format(&files[0], format!("geometry: {e}")))?;
    let direction = vol.direction();
    let fmt = plan.formats[0];
    let data_type = match (fmt.bits_allocated, fmt.signed) {
        (8, false) => DataType::UInt8,
        (8, true) => DataType::Int8,
        (16, false) => DataType::UInt16,
        (16, true) => DataType::Int16,
        (_, false) => DataType::UInt32,
        (_, true) => DataType::Int32,
    };
    let ds0 = &datasets[0];
    let ts = get_string(ds0, tags::TRANSFER_SYNTAX_UID).unwrap_or_default();
    let compressed = !matches!(
        ts.as_str(),
        "" | ::dicos::transfer::IMPLICIT_VR_LITTLE_ENDIAN
            | ::dicos::transfer::EXPLICIT_VR_LITTLE_ENDIAN
    );
    let info = FileInfo {
        format: FileFormat::Dicos,
        data_type,
        compressed,
        shape,
        spacing,
        origin,
        direction,
    };
    let scan = scan_reference_of(ds0, shape, spacing, origin, direction);
    Ok((info, scan))
}

fn scan_reference_of(
    ds0: &Dataset,
    shape: [usize; 3],
    spacing: [f64; 3],
    origin: [f64; 3],
    direction: [[f64; 3]; 3],
) -> ScanReference {
    ScanReference {
        sop_class_uid: get_string(ds0, tags::SOP_CLASS_UID).unwrap_or_default(),
        sop_instance_uid: get_string(ds0, tags::SOP_INSTANCE_UID).unwrap_or_default(),
        study_instance_uid: get_string(ds0, tags::STUDY_INSTANCE_UID).unwrap_or_default(),
        series_instance_uid: get_string(ds0, tags::SERIES_INSTANCE_UID).unwrap_or_default(),
        frame_of_reference_uid: get_string(ds0, tags::FRAME_OF_REFERENCE_UID).unwrap_or_default(),
        shape,
        spacing_mm: spacing,
        origin_mm: origin,
        direction,
    }
}

/// The error for a TDR given where a CT volume was expected.
pub(crate) fn tdr_is_not_a_volume(path: &Path) -> Error {
    Error::Unsupported {
        path: path.to_path_buf(),
        what: "DICOS Threat Detection Report as a volume: this file is a threat report, \
               not a CT scan; read it with ctscreen::io::dicos::load_tdr \
               (Python: ctscreen.load_tdr)"
            .into(),
    }
}

/// The files of a DICOS CT (the file itself, or the DICOS CT files of a directory in
/// name order, which must share one series) and their parsed datasets.
fn read_ct_files(path: &Path) -> Result<(Vec<PathBuf>, Vec<Dataset>)> {
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| Error::io(path, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && dicos_kind(p) == Some(DicosKind::Ct))
            .collect();
        v.sort();
        if v.is_empty() {
            return Err(Error::format(path, "directory holds no DICOS CT file"));
        }
        v
    } else {
        vec![path.to_path_buf()]
    };
    let mut datasets = Vec::with_capacity(files.len());
    for f in &files {
        let ds = read_dataset(f)?;
        let class = get_string(&ds, tags::SOP_CLASS_UID)
            .or_else(|| get_string(&ds, tags::MEDIA_SOP_CLASS_UID))
            .unwrap_or_default();
        if class == TDR_SOP_CLASS_UID {
            return Err(tdr_is_not_a_volume(f));
        }
        if !is_ct_sop_class(&class) {
            return Err(Error::format(
                f,
                format!("SOP class {class:?} is not DICOS CT ({CT_SOP_CLASS_UID})"),
            ));
        }
        datasets.push(ds);
    }
    if datasets.len() > 1 {
        let s0 = get_string(&datasets[0], tags::SERIES_INSTANCE_UID);
        for (ds, f) in datasets.iter().zip(&files).skip(1) {
            if get_string(ds, tags::SERIES_INSTANCE_UID) != s0 {
                return Err(Error::Unsupported {
                    path: f.clone(),
                    what: format!(
                        "directory with several series ({:?} and {:?}): load one file or series",
                        s0.as_deref().unwrap_or(""),
                        get_string(ds, tags::SERIES_INSTANCE_UID).unwrap_or_default()
                    ),
                });
            }
        }
    }
    Ok((files, datasets))
}

/// One frame's placement and rescale.
struct FrameInfo {
    file: usize,
    index: usize,
    position: [f64; 3],
    slope: f64,
    intercept: f64,
    rescale_type: String,
}

/// Per-file image description common to its frames.
struct FileImage {
    rows: usize,
    cols: usize,
    row_cos: [f64; 3],
    col_cos: [f64; 3],
    pixel_spacing: [f64; 2],
    spacing_between: Option<f64>,
    slice_thickness: Option<f64>,
}

fn frame_lookup<'a>(
    ds: &'a Dataset,
    per_frame: Option<&'a Dataset>,
    seq: Tag,
) -> Option<&'a Dataset> {
    per_frame
        .and_then(|pf| first_item(pf, seq))
        .or_else(|| first_item(ds, tags::SHARED_FUNCTIONAL_GROUPS).and_then(|s| first_item(s, seq)))
}

fn finite_vec(path: &Path, what: &str, v: Option<Vec<f64>>, n: usize) -> Result<Option<Vec<f64>>> {
    match v {
        None => Ok(None),
        Some(v) if v.len() >= n && v[..n].iter().all(|x| x.is_finite()) => {
            Ok(Some(v[..n].to_vec()))
        }
        Some(v) => Err(Error::format(
            path,
            format!("{what} = {v:?}, expected {n} finite numbers"),
        )),
    }
}

fn describe_file(path: &Path, ds: &Dataset, frames: usize) -> Result<(FileImage, Vec<FrameInfo>)> {
    let rows = require_u16(ds, tags::ROWS, "Rows", path)? as usize;
    let cols = require_u16(ds, tags::COLUMNS, "Columns", path)? as usize;
    if rows == 0 || cols == 0 {
        return Err(Error::format(
            path,
            format!("image of {rows} rows × {cols} columns; expected both ≥ 1"),
        ));
    }
    let per_frame = get_seq(ds, tags::PER_FRAME_FUNCTIONAL_GROUPS);
    if let Some(pf) = per_frame {
        if pf.len() != frames {
            return Err(Error::format(
                path,
                format!(
                    "Per-Frame Functional Groups has {} items but Number of Frames is {frames}",
                    pf.len()
                ),
            ));
        }
    }
    let pf0 = per_frame.and_then(|p| p.first());
    let orient = frame_lookup(ds, pf0, tags::PLANE_ORIENTATION_SEQUENCE)
        .and_then(|o| get_numbers(o, tags::IMAGE_ORIENTATION_PATIENT))
        .or_else(|| get_numbers(ds, tags::IMAGE_ORIENTATION_PATIENT));
    let orient = finite_vec(path, "Image Orientation (Patient)", orient, 6)?
        .unwrap_or_else(|| vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
    let norm = |v: [f64; 3]| -> Result<[f64; 3]> {
        let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
        if n.is_nan() || n <= 1e-6 {
            return Err(Error::format(
                path,
                format!("Image Orientation (Patient) has a zero vector {v:?}"),
            ));
        }
        Ok([v[0] / n, v[1] / n, v[2] / n])
    };
    let row_cos = norm([orient[0], orient[1], orient[2]])?;
    let col_cos = norm([orient[3], orient[4], orient[5]])?;
    if dot(row_cos, col_cos).abs() > 1e-4 {
        return Err(Error::format(
            path,
            format!("Image Orientation (Patient) {orient:?} is not orthogonal"),
        ));
    }
    let measures = frame_lookup(ds, pf0, tags::PIXEL_MEASURES_SEQUENCE);
    let ps = measures
        .and_then(|m| get_numbers(m, tags::PIXEL_SPACING))
        .or_else(|| get_numbers(ds, tags::PIXEL_SPACING));
    let ps = finite_vec(path, "Pixel Spacing", ps, 2)?
        .ok_or_else(|| Error::format(path, "Pixel Spacing (0028,0030) missing"))?;
    if ps.iter().any(|&s| s <= 0.0) {
        return Err(Error::format(path, format!("Pixel Spacing {ps:?} not > 0")));
    }
    let positive = |v: Option<f64>| v.filter(|x| x.is_finite() && *x > 0.0);
    let spacing_between = positive(
        measures
            .and_then(|m| get_number(m, tags::SPACING_BETWEEN_SLICES))
            .or_else(|| get_number(ds, tags::SPACING_BETWEEN_SLICES)),
    );
    let slice_thickness = positive(
        measures
            .and_then(|m| get_number(m, tags::SLICE_THICKNESS))
            .or_else(|| get_number(ds, tags::SLICE_THICKNESS)),
    );
    let mut infos = Vec::with_capacity(frames.min(1 << 16));
    for k in 0..frames {
        let pfk = per_frame.and_then(|p| p.get(k));
        let pos = frame_lookup(ds, pfk, tags::PLANE_POSITION_SEQUENCE)
            .and_then(|p| get_numbers(p, tags::IMAGE_POSITION_PATIENT))
            .or_else(|| get_numbers(ds, tags::IMAGE_POSITION_PATIENT));
        let pos = finite_vec(path, "Image Position (Patient)", pos, 3)?.ok_or_else(|| {
            Error::format(path, format!("no Image Position (Patient) for frame {k}"))
        })?;
        let pvt = frame_lookup(ds, pfk, tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE);
        let from = |t: Tag| {
            pvt.and_then(|p| get_number(p, t))
                .or_else(|| get_number(ds, t))
        };
        let slope = from(tags::RESCALE_SLOPE).unwrap_or(1.0);
        let intercept = from(tags::RESCALE_INTERCEPT).unwrap_or(0.0);
        if !slope.is_finite() || !intercept.is_finite() || slope == 0.0 {
            return Err(Error::format(
                path,
                format!("Rescale Slope {slope} / Intercept {intercept} of frame {k}: expected finite, slope ≠ 0"),
            ));
        }
        let rescale_type = pvt
            .and_then(|p| get_string(p, tags::RESCALE_TYPE))
            .or_else(|| get_string(ds, tags::RESCALE_TYPE))
            .unwrap_or_default()
            .to_ascii_uppercase();
        infos.push(FrameInfo {
            file: 0,
            index: k,
            position: [pos[0], pos[1], pos[2]],
            slope,
            intercept,
            rescale_type,
        });
    }
    Ok((
        FileImage {
            rows,
            cols,
            row_cos,
            col_cos,
            pixel_spacing: [ps[0], ps[1]],
            spacing_between,
            slice_thickness,
        },
        infos,
    ))
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

/// Pixel layout of one file.
#[derive(Clone, Copy)]
struct PixelFormat {
    bits_allocated: u16,
    bits_stored: u16,
    signed: bool,
}

impl PixelFormat {
    fn of(path: &Path, ds: &Dataset) -> Result<Self> {
        let spp = get_number(ds, tags::SAMPLES_PER_PIXEL).unwrap_or(1.0);
        if spp != 1.0 {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                what: format!("Samples per Pixel {spp} (only grayscale, 1)"),
            });
        }
        if let Some(pi) = get_string(ds, tags::PHOTOMETRIC_INTERPRETATION) {
            if !pi.starts_with("MONOCHROME") {
                return Err(Error::Unsupported {
                    path: path.to_path_buf(),
                    what: format!("Photometric Interpretation {pi} (only MONOCHROME1/2)"),
                });
            }
        }
        let ba = require_u16(ds, tags::BITS_ALLOCATED, "Bits Allocated", path)?;
        if !matches!(ba, 8 | 16 | 32) {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                what: format!("Bits Allocated {ba} (only 8, 16, 32)"),
            });
        }
        let bs = get_number(ds, tags::BITS_STORED).unwrap_or(f64::from(ba));
        if !(1.0..=f64::from(ba)).contains(&bs) || bs.fract() != 0.0 {
            return Err(Error::format(
                path,
                format!("Bits Stored {bs} with Bits Allocated {ba}; expected 1..={ba}"),
            ));
        }
        let pr = get_number(ds, tags::PIXEL_REPRESENTATION).unwrap_or(0.0);
        Ok(Self {
            bits_allocated: ba,
            bits_stored: bs as u16,
            signed: pr == 1.0,
        })
    }

    /// Stored value of a raw sample (masked to Bits Stored, sign-extended if signed).
    #[inline]
    fn value(&self, raw: u32) -> f64 {
        let bits = u32::from(self.bits_stored);
        let masked = if bits >= 32 {
            raw
        } else {
            raw & ((1u32 << bits) - 1)
        };
        if self.signed {
            let shift = 32 - bits;
            f64::from(((masked << shift) as i32) >> shift)
        } else {
            f64::from(masked)
        }
    }
}

/// Raw samples of every frame of one file, `frames × rows × cols`, as u32.
fn file_samples(
    path: &Path,
    ds: &Dataset,
    fmt: PixelFormat,
    rows: usize,
    cols: usize,
    frames: usize,
) -> Result<Vec<Vec<u32>>> {
    let frame_len = rows * cols;
    let pd = ds
        .pixel_data()
        .ok_or_else(|| Error::format(path, "Pixel Data (7FE0,0010) missing or empty"))?;
    match pd {
        PixelData::Native { frames: parts } => {
            let total: usize = parts.iter().map(Vec::len).sum();
            // The dicos reader yields 8-bit samples widened, 32-bit ones as u16 halves.
            let per_sample = if fmt.bits_allocated == 32 { 2 } else { 1 };
            let expected = (frame_len as u128) * (frames as u128) * per_sample as u128;
            let pad_ok = fmt.bits_allocated == 8 && total as u128 == expected + 1;
            if total as u128 != expected && !pad_ok {
                return Err(Error::format(
                    path,
                    format!(
                        "pixel data holds {total} {}-bit words but Rows × Columns × Number of Frames = {rows} × {cols} × {frames} needs {expected}",
                        if fmt.bits_allocated == 8 { 8 } else { 16 }
                    ),
                ));
            }
            let flat: Vec<u16> = if parts.len() == 1 {
                Vec::new()
            } else {
                parts.iter().flatten().copied().collect()
            };
            let words: &[u16] = if parts.len() == 1 { &parts[0] } else { &flat };
            let step = frame_len * per_sample;
            Ok((0..frames)
                .map(|k| {
                    let w = &words[k * step..(k + 1) * step];
                    if per_sample == 2 {
                        w.chunks_exact(2)
                            .map(|c| u32::from(c[0]) | (u32::from(c[1]) << 16))
                            .collect()
                    } else {
                        w.iter().map(|&x| u32::from(x)).collect()
                    }
                })
                .collect())
        }
        PixelData::Encapsulated { frames: parts, .. } => {
            let ts = get_string(ds, tags::TRANSFER_SYNTAX_UID).unwrap_or_default();
            if parts.len() != frames {
                return Err(Error::format(
                    path,
                    format!(
                        "encapsulated pixel data holds {} frames but Number of Frames is {frames}",
                        parts.len()
                    ),
                ));
            }
            if fmt.bits_allocated > 16 {
                return Err(Error::Unsupported {
                    path: path.to_path_buf(),
                    what: format!("compressed {}-bit pixels", fmt.bits_allocated),
                });
            }
            if ::dicos::codec_registry::codec_for_transfer_syntax(&ts).is_none() {
                return Err(Error::Unsupported {
                    path: path.to_path_buf(),
                    what: format!("transfer syntax {ts} (no codec)"),
                });
            }
            let (w, h) = (cols as u32, rows as u32);
            parts
                .par_iter()
                .enumerate()
                .map(|(k, data)| {
                    // The codecs are untrusted-input decoders; a panic in one is turned
                    // into a format error rather than unwinding through the caller.
                    // DICOM pads odd-length fragments with one 0x00 after the JPEG end
                    // marker (FF D9); the crate's JPEG 2000 decoder rejects that byte.
                    let data: &[u8] = match data.as_slice() {
                        [rest @ .., 0xFF, 0xD9, 0x00] => &data[..rest.len() + 2],
                        d => d,
                    };
                    let decoded = std::panic::catch_unwind(|| {
                        ::dicos::codec_registry::decode_frame(data, w, h, &ts)
                    })
                    .map_err(|_| Error::format(path, format!("frame {k}: decoder failed")))?
                    .map_err(|e| Error::format(path, format!("frame {k}: {e}")))?;
                    if decoded.len() != frame_len {
                        return Err(Error::format(
                            path,
                            format!(
                                "frame {k} decodes to {} pixels, expected {rows} × {cols}",
                                decoded.len()
                            ),
                        ));
                    }
                    Ok(decoded.into_iter().map(u32::from).collect())
                })
                .collect()
        }
        _ => Err(Error::Unsupported {
            path: path.to_path_buf(),
            what: "pixel data encoding".into(),
        }),
    }
}

/// What the headers of a CT's files say: frames, their order along the slice normal,
/// the slice step, the pixel formats.
struct CtPlan {
    images: Vec<FileImage>,
    frames: Vec<FrameInfo>,
    formats: Vec<PixelFormat>,
    /// Frame indices (into `frames`) sorted along the slice normal.
    order: Vec<usize>,
    normal: [f64; 3],
    spacing_z: f64,
    rows: usize,
    cols: usize,
    nz: usize,
    rescale_type: String,
}

impl CtPlan {
    /// `(spacing, origin, direction)` of the volume, `(z, y, x)` order.
    fn geometry(&self) -> ([f64; 3], [f64; 3], [[f64; 3]; 3]) {
        let first = &self.images[0];
        let pos0 = self.frames[self.order[0]].position;
        let origin = [pos0[2], pos0[1], pos0[0]];
        let spacing = [
            self.spacing_z,
            first.pixel_spacing[0],
            first.pixel_spacing[1],
        ];
        // Axis a's world direction in (z, y, x) components: frame → normal, row →
        // column cosine, column → row cosine.
        let zyx = |v: [f64; 3]| [v[2], v[1], v[0]];
        let axes = [zyx(self.normal), zyx(first.col_cos), zyx(first.row_cos)];
        let direction = std::array::from_fn(|r| std::array::from_fn(|a| axes[a][r]));
        (spacing, origin, direction)
    }
}

/// Checks the headers of a CT's files against each other and against their pixel data
/// (sizes only, nothing decoded) and orders the frames.
fn plan_ct(files: &[PathBuf], datasets: &[Dataset]) -> Result<CtPlan> {
    let mut images = Vec::with_capacity(files.len());
    let mut frames_all: Vec<FrameInfo> = Vec::new();
    let mut formats = Vec::with_capacity(files.len());
    for (fi, (path, ds)) in files.iter().zip(datasets).enumerate() {
        let nf = number_of_frames(ds);
        if !(1.0..=f64::from(u32::MAX)).contains(&nf) || nf.fract() != 0.0 {
            return Err(Error::format(
                path,
                format!("Number of Frames {nf}, expected an integer ≥ 1"),
            ));
        }
        let fmt = PixelFormat::of(path, ds)?;
        let nf = nf as usize;
        // Check the declared frame count against the data before anything is sized by it.
        match ds.pixel_data() {
            Some(PixelData::Encapsulated { frames, .. }) if frames.len() != nf => {
                return Err(Error::format(
                    path,
                    format!(
                        "encapsulated pixel data holds {} frames but Number of Frames is {nf}",
                        frames.len()
                    ),
                ))
            }
            Some(PixelData::Native { frames }) => {
                // Declared size against the data actually present, before any
                // allocation is sized by the header.
                let words: u128 = frames.iter().map(|f| f.len() as u128).sum();
                let rows = get_number(ds, tags::ROWS).unwrap_or(0.0).max(0.0) as u128;
                let cols = get_number(ds, tags::COLUMNS).unwrap_or(0.0).max(0.0) as u128;
                let per_sample: u128 = if fmt.bits_allocated == 32 { 2 } else { 1 };
                let expected = rows * cols * nf as u128 * per_sample;
                let pad_ok = fmt.bits_allocated == 8 && words == expected + 1;
                if words != expected && !pad_ok {
                    return Err(Error::format(
                        path,
                        format!(
                            "pixel data holds {words} samples but Rows × Columns × Number of Frames = {rows} × {cols} × {nf} needs {expected}"
                        ),
                    ));
                }
            }
            None => return Err(Error::format(path, "Pixel Data (7FE0,0010) missing")),
            _ => {}
        }
        let (img, mut infos) = describe_file(path, ds, nf)?;
        for f in &mut infos {
            f.file = fi;
        }
        frames_all.extend(infos);
        images.push(img);
        formats.push(fmt);
    }
    let first = &images[0];
    let p0 = &files[0];
    for (img, f) in images.iter().zip(files).skip(1) {
        let same = img.rows == first.rows
            && img.cols == first.cols
            && (0..3).all(|a| {
                (img.row_cos[a] - first.row_cos[a]).abs() < 1e-4
                    && (img.col_cos[a] - first.col_cos[a]).abs() < 1e-4
            })
            && (0..2).all(|a| (img.pixel_spacing[a] - first.pixel_spacing[a]).abs() < 1e-6);
        if !same {
            return Err(Error::Unsupported {
                path: f.clone(),
                what: "files of one series with different size, orientation or pixel spacing"
                    .into(),
            });
        }
    }
    let rescale_type = frames_all[0].rescale_type.clone();
    if let Some(f) = frames_all.iter().find(|f| f.rescale_type != rescale_type) {
        return Err(Error::Unsupported {
            path: files[f.file].clone(),
            what: format!(
                "frames with different Rescale Types ({rescale_type:?} and {:?})",
                f.rescale_type
            ),
        });
    }
    let (rows, cols) = (first.rows, first.cols);
    let nz = frames_all.len();

    // Sort frames along the slice normal.
    let normal = cross(first.row_cos, first.col_cos);
    let nn = dot(normal, normal).sqrt();
    let normal = [normal[0] / nn, normal[1] / nn, normal[2] / nn];
    let mut order: Vec<usize> = (0..nz).collect();
    let along: Vec<f64> = frames_all.iter().map(|f| dot(f.position, normal)).collect();
    order.sort_by(|&a, &b| along[a].total_cmp(&along[b]));
    let spacing_z = if nz > 1 {
        let d0 = along[order[0]];
        let mean = (along[order[nz - 1]] - d0) / (nz - 1) as f64;
        if mean.is_nan() || mean <= 0.0 {
            return Err(Error::format(p0, "two frames at the same position"));
        }
        for w in order.windows(2) {
            let step = along[w[1]] - along[w[0]];
            if (step - mean).abs() > 0.01 * mean {
                return Err(Error::Unsupported {
                    path: p0.clone(),
                    what: format!(
                        "non-uniform slice spacing ({step} mm between two frames, mean {mean} mm)"
                    ),
                });
            }
        }
        let pa = frames_all[order[0]].position;
        for &k in &order {
            let p = frames_all[k].position;
            let t = along[k] - d0;
            let off: f64 = (0..3)
                .map(|a| (p[a] - pa[a] - t * normal[a]).powi(2))
                .sum::<f64>()
                .sqrt();
            if off > 0.01 * mean.max(first.pixel_spacing[0].min(first.pixel_spacing[1])) {
                return Err(Error::Unsupported {
                    path: p0.clone(),
                    what: format!(
                        "frames not stacked along the slice normal (offset {off} mm; tilted gantry?)"
                    ),
                });
            }
        }
        match first.spacing_between {
            Some(s) if (s - mean).abs() <= 1e-3 * mean => s,
            _ => mean,
        }
    } else {
        first
            .spacing_between
            .or(first.slice_thickness)
            .unwrap_or(1.0)
    };

    Ok(CtPlan {
        images,
        frames: frames_all,
        formats,
        order,
        normal,
        spacing_z,
        rows,
        cols,
        nz,
        rescale_type,
    })
}

fn assemble_ct(
    files: &[PathBuf],
    datasets: &[Dataset],
    options: &DicosLoadOptions,
) -> Result<DicosCt> {
    let plan = plan_ct(files, datasets)?;
    let (rows, cols, nz) = (plan.rows, plan.cols, plan.nz);
    volume::ensure_allocatable(
        "DICOS CT volume",
        (nz as u128) * (rows as u128) * (cols as u128),
        4,
    )?;
    let p0 = &files[0];
    let (frames_all, formats, order) = (&plan.frames, &plan.formats, &plan.order);
    let rescale_type = plan.rescale_type.clone();

    // Value conversion from the rescaled unit to the requested one.
    let mw = options.water_mu_per_mm;
    let (units, scale, offset): (OutputUnits, f64, f64) =
        match (options.units, rescale_type.as_str()) {
            (OutputUnits::Rescaled, _) => (OutputUnits::Rescaled, 1.0, 0.0),
            (OutputUnits::Mu, "HU" | "") => (OutputUnits::Mu, mw / 1000.0, mw),
            (OutputUnits::Mu, "MHU" | "HU_MOD") => (OutputUnits::Mu, mw / 1000.0, 0.0),
            (OutputUnits::Hu, "HU" | "") => (OutputUnits::Hu, 1.0, 0.0),
            (OutputUnits::Hu, "MHU" | "HU_MOD") => (OutputUnits::Hu, 1.0, -1000.0),
            (u, t) => {
                return Err(Error::Unsupported {
                    path: p0.clone(),
                    what: format!(
                    "Rescale Type {t:?} cannot be converted to {}; load with OutputUnits::Rescaled",
                    if u == OutputUnits::Mu { "μ" } else { "HU" }
                ),
                })
            }
        };

    // Decode each file once, then place its frames.
    let mut out = Array3::<f32>::zeros((nz, rows, cols));
    let mut slot_of = vec![0usize; nz];
    for (slot, &k) in order.iter().enumerate() {
        slot_of[k] = slot;
    }
    let mut base = 0usize;
    for (fi, (path, ds)) in files.iter().zip(datasets).enumerate() {
        let nf = frames_all.iter().filter(|f| f.file == fi).count();
        let samples = file_samples(path, ds, formats[fi], rows, cols, nf)?;
        let fmt = formats[fi];
        let mut targets: Vec<(usize, &Vec<u32>, f64, f64)> = Vec::with_capacity(nf);
        for (j, s) in samples.iter().enumerate() {
            let info = &frames_all[base + j];
            debug_assert_eq!(info.index, j);
            targets.push((slot_of[base + j], s, info.slope, info.intercept));
        }
        targets.sort_by_key(|t| t.0);
        let mut lanes: Vec<_> = out.axis_iter_mut(Axis(0)).enumerate().collect();
        let mut ti = 0;
        let mut work = Vec::with_capacity(nf);
        for (slot, lane) in lanes.drain(..) {
            if ti < targets.len() && targets[ti].0 == slot {
                work.push((lane, targets[ti]));
                ti += 1;
            }
        }
        work.into_par_iter().for_each(|(mut lane, (_, s, m, b))| {
            for (o, &raw) in lane.iter_mut().zip(s.iter()) {
                let v = m * fmt.value(raw) + b;
                *o = (scale * v + offset) as f32;
            }
        });
        base += nf;
    }

    let (spacing, origin, direction) = plan.geometry();
    let mut volume = Volume::new(out, spacing, origin)
        .map_err(|e| Error::format(p0, format!("geometry: {e}")))?;
    let identity =
        (0..3).all(|r| (0..3).all(|a| direction[r][a] == if r == a { 1.0 } else { 0.0 }));
    if !identity {
        volume = volume
            .with_direction(direction)
            .map_err(|e| Error::format(p0, format!("orientation: {e}")))?;
    }
    let ds0 = &datasets[0];
    let scan = scan_reference_of(
        ds0,
        volume.shape(),
        volume.spacing(),
        volume.origin(),
        volume.direction(),
    );
    Ok(DicosCt {
        volume,
        scan,
        rescale_type,
        units,
        transfer_syntax_uid: get_string(ds0, tags::TRANSFER_SYNTAX_UID).unwrap_or_default(),
    })
}

// ---------------------------------------------------------------------------------
// Writing helpers
// ---------------------------------------------------------------------------------

/// The effective energy (keV) at which water has attenuation `mw` (inverse of
/// [`volume::water_mu_per_mm`] by bisection; 0 when outside its 10–200 keV table).
fn effective_energy_kev(mw: f64) -> f64 {
    let (mut lo, mut hi) = (10.0f64, 200.0f64);
    let f = |e: f64| volume::water_mu_per_mm(e).unwrap_or(f64::NAN);
    if !(mw <= f(lo) && mw >= f(hi)) {
        return 0.0;
    }
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if f(mid) > mw {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

fn default_water_mu() -> f64 {
    volume::water_mu_per_mm(DEFAULT_EFFECTIVE_ENERGY_KEV).unwrap_or(0.019_37)
}

/// A decimal string (DS, ≤ 16 characters) for `v`: the shortest text that parses back
/// to the same f64 when it fits, else the closest 16-character form.
fn ds(v: f64) -> String {
    let v = if v == 0.0 { 0.0 } else { v }; // no "-0"
    let plain = format!("{v}");
    if plain.len() <= 16 {
        return plain;
    }
    let exp = format!("{v:e}");
    if exp.len() <= 16 {
        return exp;
    }
    for p in (0..16).rev() {
        let s = format!("{v:.p$e}");
        if s.len() <= 16 {
            return s;
        }
    }
    format!("{v:.0e}")
}

fn ds_multi(v: &[f64]) -> Value {
    Value::Strings(v.iter().map(|&x| ds(x)).collect())
}

fn put_str(ds_: &mut Dataset, tag: Tag, vr: Vr, s: &str) {
    ds_.insert(Element::new(tag, vr, Value::Str(s.to_string())));
}

fn put_strs(ds_: &mut Dataset, tag: Tag, vr: Vr, s: &[&str]) {
    ds_.insert(Element::new(
        tag,
        vr,
        Value::Strings(s.iter().map(|x| x.to_string()).collect()),
    ));
}

fn put_seq(ds_: &mut Dataset, tag: Tag, items: Vec<Dataset>) {
    ds_.insert(Element::new(tag, Vr::SQ, Value::Sequence(items)));
}

fn item(elements: Vec<Element>) -> Dataset {
    let mut d = Dataset::new();
    for e in elements {
        d.insert(e);
    }
    d
}

fn el_str(tag: Tag, vr: Vr, s: &str) -> Element {
    Element::new(tag, vr, Value::Str(s.to_string()))
}

/// SplitMix64 as a stream: the UID generator's mixing function.
fn splitmix(state: &mut u64) -> u64 {
    let z = crate::physics::splitmix64(*state);
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z
}

fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = 0xCBF2_9CE4_8422_2325u64 ^ seed;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01B3);
    }
    h
}

struct UidGen {
    state: u64,
}

impl UidGen {
    fn new(seed: Option<u64>, content: u64) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let state = match seed {
            Some(s) => fnv1a(s, &content.to_le_bytes()),
            None => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_nanos() as u64;
                let c = COUNTER.fetch_add(1, Ordering::Relaxed);
                let mut s = now ^ u64::from(std::process::id()).rotate_left(32) ^ content;
                splitmix(&mut s) ^ c.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            }
        };
        Self { state }
    }
    /// A `2.25.<decimal 128-bit>` UID (ISO/IEC 9834-8 UUID-derived form, ≤ 44 chars).
    fn next(&mut self) -> String {
        let hi = splitmix(&mut self.state);
        let lo = splitmix(&mut self.state);
        // Clear the top bit so the value stays below 2^127: 39 digits at most.
        let v = ((u128::from(hi) << 64) | u128::from(lo)) >> 1;
        format!("2.25.{}", v.max(1))
    }
}

/// Writes `ds` to `path` atomically (the shared writer of [`crate::io`]: a temporary
/// file in the same directory, renamed over `path` once complete and synced; removed on
/// any error).
fn write_atomic(path: &Path, ds: &Dataset) -> Result<()> {
    super::atomic::write_atomic(path, ".dcs", |tmp| {
        let f = File::create(tmp).map_err(|e| Error::io(path, e))?;
        let mut w = BufWriter::new(f);
        ::dicos::write(&mut w, ds).map_err(|e| match e {
            ::dicos::DicosError::Io(io) => Error::io(path, io),
            other => Error::format(path, format!("cannot encode: {other}")),
        })?;
        w.flush().map_err(|e| Error::io(path, e))
    })
}

fn common_header(
    d: &mut Dataset,
    sop_class: &str,
    sop_instance: &str,
    transfer_syntax: &str,
    when: &DateTimeUtc,
) {
    d.insert(Element::new(
        tags::FILE_META_VERSION,
        Vr::OB,
        Value::Bytes(vec![0, 1]),
    ));
    put_str(d, tags::MEDIA_SOP_CLASS_UID, Vr::UI, sop_class);
    put_str(d, tags::MEDIA_SOP_INSTANCE_UID, Vr::UI, sop_instance);
    put_str(d, tags::META_DICOS_VERSION, Vr::CS, "V03");
    put_str(d, tags::TRANSFER_SYNTAX_UID, Vr::UI, transfer_syntax);
    put_str(
        d,
        tags::IMPLEMENTATION_CLASS_UID,
        Vr::UI,
        IMPLEMENTATION_CLASS_UID,
    );
    put_str(
        d,
        tags::IMPLEMENTATION_VERSION_NAME,
        Vr::SH,
        &format!("CTSCREEN_{}", env!("CARGO_PKG_VERSION")),
    );
    put_str(d, tags::SPECIFIC_CHARACTER_SET, Vr::CS, "ISO_IR 192");
    put_str(d, tags::INSTANCE_CREATION_DATE, Vr::DA, &when.da());
    put_str(d, tags::INSTANCE_CREATION_TIME, Vr::TM, &when.tm());
    put_str(d, tags::SOP_CLASS_UID, Vr::UI, sop_class);
    put_str(d, tags::SOP_INSTANCE_UID, Vr::UI, sop_instance);
    for (date, time) in [
        (tags::STUDY_DATE, tags::STUDY_TIME),
        (tags::SERIES_DATE, tags::SERIES_TIME),
        (tags::CONTENT_DATE, tags::CONTENT_TIME),
    ] {
        put_str(d, date, Vr::DA, &when.da());
        put_str(d, time, Vr::TM, &when.tm());
    }
    put_str(d, tags::MANUFACTURER, Vr::LO, "ctscreen");
    put_str(d, tags::MODEL_NAME, Vr::LO, "ctscreen");
    put_str(d, tags::INSTITUTION_NAME, Vr::LO, "unknown");
    put_str(d, tags::INSTITUTION_ADDRESS, Vr::ST, "unknown");
    put_str(d, tags::STATION_NAME, Vr::SH, "unknown");
    put_str(d, tags::PATIENT_ID, Vr::LO, "unknown");
    put_str(d, tags::ISSUER_OF_PATIENT_ID, Vr::LO, "unknown");
    put_str(d, tags::TYPE_OF_PATIENT_ID, Vr::CS, "TEXT");
    put_str(d, tags::PATIENT_SEX, Vr::CS, "O");
    put_str(d, tags::DEVICE_SERIAL_NUMBER, Vr::LO, "unknown");
    put_str(d, tags::DATE_OF_LAST_CALIBRATION, Vr::DA, &when.da());
    put_str(d, tags::TIME_OF_LAST_CALIBRATION, Vr::TM, &when.tm());
    put_str(
        d,
        tags::SOFTWARE_VERSIONS,
        Vr::LO,
        &format!("ctscreen {}", env!("CARGO_PKG_VERSION")),
    );
    put_str(d, tags::STUDY_ID, Vr::SH, "1");
    put_str(d, tags::INSTANCE_NUMBER, Vr::IS, "1");
    put_str(d, tags::POSITION_REFERENCE_INDICATOR, Vr::LO, "");
    put_str(d, tags::DICOS_VERSION, Vr::CS, "V03");
    put_str(d, tags::OOI_TYPE, Vr::CS, "BAGGAGE");
    put_str(d, tags::ACQUISITION_STATUS, Vr::CS, "SUCCESSFUL");
    put_str(d, tags::SCAN_TYPE, Vr::CS, "OPERATIONAL");
}

// ---------------------------------------------------------------------------------
// CT saving
// ---------------------------------------------------------------------------------

/// Saves `volume` (μ in mm⁻¹) as a DICOS CT: one multi-frame file, MHU at water μ of
/// 70 keV, unsigned 16 bits, Explicit VR Little Endian, fresh UIDs. Returns the
/// [`ScanReference`] a TDR about this scan needs. See the module docs for the
/// quantisation error.
///
/// **Errors**: [`Error::NonFinite`] if a voxel is NaN/inf; [`Error::InvalidParameter`]
/// if the volume has more than 65535 rows or columns; [`Error::Io`] on write failure
/// (nothing is left at `path`, nor any temporary file).
///
/// # Example
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let v = ctscreen::Volume::centered(ndarray::Array3::from_elem((2, 3, 4), 0.02f32), [1.0; 3]).unwrap();
/// let scan = ctscreen::io::dicos::save_dicos(dir.path().join("a.dcs"), &v).unwrap();
/// assert!(scan.sop_instance_uid.starts_with("2.25."));
/// ```
pub fn save_dicos(path: impl AsRef<Path>, volume: &Volume) -> Result<ScanReference> {
    save_dicos_with(path, volume, &DicosSaveOptions::default())
}

/// [`save_dicos`] with options (water μ, compression, reproducible UIDs, date).
///
/// **Errors** as [`save_dicos`]; also [`Error::InvalidParameter`] for a bad
/// `water_mu_per_mm`, [`Error::Unsupported`] if the codec fails.
pub fn save_dicos_with(
    path: impl AsRef<Path>,
    volume: &Volume,
    options: &DicosSaveOptions,
) -> Result<ScanReference> {
    let path = path.as_ref();
    let mw = options.water_mu_per_mm;
    if !mw.is_finite() || mw <= 0.0 {
        return Err(Error::invalid(
            "water_mu_per_mm",
            mw,
            "a finite μ of water > 0 mm⁻¹",
        ));
    }
    volume::ensure_finite("volume", volume.data().iter())?;
    let [nz, ny, nx] = volume.shape();
    if ny > 65535 || nx > 65535 || nz == 0 || ny == 0 || nx == 0 {
        return Err(Error::invalid(
            "volume shape",
            format!("{:?}", volume.shape()),
            "1–65535 rows and columns, ≥ 1 frame",
        ));
    }
    let when = options.datetime.unwrap_or_else(DateTimeUtc::now);

    // μ → MHU, then the slope/intercept fitting [min, max] into 0..=65535.
    let to_mhu = 1000.0 / mw;
    let (lo, hi) = volume.value_range().unwrap_or((0.0, 0.0));
    let (lo, hi) = (f64::from(lo) * to_mhu, f64::from(hi) * to_mhu);
    let (slope_s, intercept_s) = rescale_for(lo, hi);
    let slope: f64 = slope_s.parse().unwrap_or(1.0);
    let intercept: f64 = intercept_s.parse().unwrap_or(0.0);
    let frame_len = ny * nx;
    let frames: Vec<Vec<u16>> = volume
        .data()
        .axis_iter(Axis(0))
        .into_par_iter()
        .map(|plane| {
            plane
                .iter()
                .map(|&v| {
                    let q = ((f64::from(v) * to_mhu - intercept) / slope).round();
                    q.clamp(0.0, 65535.0) as u16
                })
                .collect::<Vec<u16>>()
        })
        .collect();
    debug_assert!(frames.iter().all(|f| f.len() == frame_len));

    let mut content = fnv1a(
        0,
        format!(
            "{:?}{:?}{:?}",
            volume.shape(),
            volume.spacing(),
            volume.origin()
        )
        .as_bytes(),
    );
    for f in &frames {
        for &v in f {
            content = fnv1a(content, &v.to_le_bytes());
        }
    }
    let mut uids = UidGen::new(options.uid_seed, content);
    let sop = uids.next();
    let study = uids.next();
    let series = uids.next();
    let frame_of_ref = uids.next();

    let ts = options.compression.transfer_syntax();
    let mut d = Dataset::new();
    common_header(&mut d, CT_SOP_CLASS_UID, &sop, ts, &when);
    let image_type = ["DERIVED", "MU", "VOLUME", "NONE"];
    put_strs(&mut d, tags::IMAGE_TYPE, Vr::CS, &image_type);
    put_str(&mut d, tags::ACQUISITION_DATETIME, Vr::DT, &when.dt());
    put_str(&mut d, tags::MODALITY, Vr::CS, "CT");
    put_str(&mut d, tags::IMAGE_ORIGIN, Vr::CS, "MACHINE");
    put_str(&mut d, tags::COORDINATE_SYSTEM, Vr::CS, "RHS");
    put_seq(&mut d, tags::ACQUISITION_CONTEXT_SEQUENCE, Vec::new());
    d.insert(fl(tags::EFFECTIVE_ENERGY, &[effective_energy_kev(mw)]));
    put_str(&mut d, tags::PIXEL_PRESENTATION, Vr::CS, "MONOCHROME");
    put_str(&mut d, tags::VOLUMETRIC_PROPERTIES, Vr::CS, "VOLUME");
    put_str(
        &mut d,
        tags::VOLUME_BASED_CALCULATION_TECHNIQUE,
        Vr::CS,
        "NONE",
    );
    put_str(&mut d, tags::STUDY_INSTANCE_UID, Vr::UI, &study);
    put_str(&mut d, tags::SERIES_INSTANCE_UID, Vr::UI, &series);
    put_str(&mut d, tags::FRAME_OF_REFERENCE_UID, Vr::UI, &frame_of_ref);
    d.put_u16(tags::SAMPLES_PER_PIXEL, Vr::US, 1);
    put_str(
        &mut d,
        tags::PHOTOMETRIC_INTERPRETATION,
        Vr::CS,
        "MONOCHROME2",
    );
    put_str(&mut d, tags::NUMBER_OF_FRAMES, Vr::IS, &nz.to_string());
    d.put_u16(tags::ROWS, Vr::US, ny as u16);
    d.put_u16(tags::COLUMNS, Vr::US, nx as u16);
    d.put_u16(tags::BITS_ALLOCATED, Vr::US, 16);
    d.put_u16(tags::BITS_STORED, Vr::US, 16);
    d.put_u16(tags::HIGH_BIT, Vr::US, 15);
    d.put_u16(tags::PIXEL_REPRESENTATION, Vr::US, 0);
    put_str(&mut d, tags::BURNED_IN_ANNOTATION, Vr::CS, "NO");
    put_str(&mut d, tags::PRESENTATION_LUT_SHAPE, Vr::CS, "IDENTITY");

    // Geometry: DICOS (x, y, z) from the volume's (z, y, x) axes.
    let dir = volume.direction();
    let xyz_of_axis = |a: usize| [dir[2][a], dir[1][a], dir[0][a]];
    let row_cos = xyz_of_axis(2); // along a row: increasing column index (x axis)
    let col_cos = xyz_of_axis(1); // down a column: increasing row index (y axis)
    let [dz, dy, dx] = volume.spacing();
    let shared = item(vec![
        Element::new(
            tags::CT_IMAGE_FRAME_TYPE_SEQUENCE,
            Vr::SQ,
            Value::Sequence(vec![item(vec![
                Element::new(
                    tags::FRAME_TYPE,
                    Vr::CS,
                    Value::Strings(image_type.iter().map(|s| s.to_string()).collect()),
                ),
                el_str(tags::PIXEL_PRESENTATION, Vr::CS, "MONOCHROME"),
                el_str(tags::VOLUMETRIC_PROPERTIES, Vr::CS, "VOLUME"),
                el_str(tags::VOLUME_BASED_CALCULATION_TECHNIQUE, Vr::CS, "NONE"),
            ])]),
        ),
        Element::new(
            tags::PLANE_ORIENTATION_SEQUENCE,
            Vr::SQ,
            Value::Sequence(vec![item(vec![Element::new(
                tags::IMAGE_ORIENTATION_PATIENT,
                Vr::DS,
                ds_multi(&[
                    row_cos[0], row_cos[1], row_cos[2], col_cos[0], col_cos[1], col_cos[2],
                ]),
            )])]),
        ),
        Element::new(
            tags::PIXEL_MEASURES_SEQUENCE,
            Vr::SQ,
            Value::Sequence(vec![item(vec![
                el_str(tags::SLICE_THICKNESS, Vr::DS, &ds(dz)),
                el_str(tags::SPACING_BETWEEN_SLICES, Vr::DS, &ds(dz)),
                Element::new(tags::PIXEL_SPACING, Vr::DS, ds_multi(&[dy, dx])),
            ])]),
        ),
        Element::new(
            tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE,
            Vr::SQ,
            Value::Sequence(vec![item(vec![
                el_str(tags::RESCALE_INTERCEPT, Vr::DS, &intercept_s),
                el_str(tags::RESCALE_SLOPE, Vr::DS, &slope_s),
                el_str(tags::RESCALE_TYPE, Vr::LO, "MHU"),
            ])]),
        ),
    ]);
    put_seq(&mut d, tags::SHARED_FUNCTIONAL_GROUPS, vec![shared]);
    let per_frame: Vec<Dataset> = (0..nz)
        .map(|k| {
            let w = volume.world_of_index([k as f64, 0.0, 0.0]);
            item(vec![Element::new(
                tags::PLANE_POSITION_SEQUENCE,
                Vr::SQ,
                Value::Sequence(vec![item(vec![Element::new(
                    tags::IMAGE_POSITION_PATIENT,
                    Vr::DS,
                    ds_multi(&[w[2], w[1], w[0]]),
                )])]),
            )])
        })
        .collect();
    put_seq(&mut d, tags::PER_FRAME_FUNCTIONAL_GROUPS, per_frame);

    let pixel = match options.compression {
        Compression::None => PixelData::native(frames),
        c => encode_frames(path, c, frames, nx as u32, ny as u32)?,
    };
    let vr = if options.compression == Compression::None {
        Vr::OW
    } else {
        Vr::OB
    };
    d.insert(Element::new(tags::PIXEL_DATA, vr, Value::PixelData(pixel)));
    write_atomic(path, &d)?;
    Ok(ScanReference::new(
        volume,
        &sop,
        &study,
        &series,
        &frame_of_ref,
    ))
}

/// The Rescale Slope and Intercept decimal strings mapping `[lo, hi]` (MHU) onto
/// 0..=65535: intercept = `lo` rounded down to 10 significant digits, slope = the range
/// over 65535 rounded up to 6 significant digits (so `hi` still fits).
fn rescale_for(lo: f64, hi: f64) -> (String, String) {
    let round_sig = |v: f64, sig: i32, up: bool| -> f64 {
        if v == 0.0 {
            return 0.0;
        }
        let e = v.abs().log10().floor() as i32;
        let scale = 10f64.powi(sig - 1 - e);
        let x = v * scale;
        let r = if up { x.ceil() } else { x.floor() };
        r / scale
    };
    let b = round_sig(lo, 10, false);
    let b_s = ds(b);
    let b: f64 = b_s.parse().unwrap_or(lo);
    let range = hi - b;
    if range.is_nan() || range <= 0.0 {
        return ("1".to_string(), b_s);
    }
    let mut m = round_sig(range / 65535.0, 6, true);
    let mut m_s = ds(m);
    // Guard against the decimal text rounding below the needed slope.
    while m_s.parse::<f64>().unwrap_or(0.0) * 65535.0 < range {
        m *= 1.000_001;
        m_s = ds(m);
    }
    (m_s, b_s)
}

fn encode_frames(
    path: &Path,
    c: Compression,
    frames: Vec<Vec<u16>>,
    width: u32,
    height: u32,
) -> Result<PixelData> {
    let ts = c.transfer_syntax();
    let codec = ::dicos::codec_registry::codec_for_transfer_syntax(ts).ok_or_else(|| {
        Error::Unsupported {
            path: path.to_path_buf(),
            what: format!("compression {c:?} (codec not built)"),
        }
    })?;
    let encoded: Vec<Vec<u8>> = frames
        .into_par_iter()
        .enumerate()
        .map(|(k, f)| {
            let img = ::dicos::GrayImage::from_data(width, height, f).ok_or_else(|| {
                Error::format(path, format!("frame {k} has the wrong pixel count"))
            })?;
            let mut buf = Vec::new();
            codec
                .encode(&img, &mut buf)
                .map_err(|e| Error::Unsupported {
                    path: path.to_path_buf(),
                    what: format!("{c:?} encoding of frame {k}: {e}"),
                })?;
            if buf.len() % 2 == 1 {
                buf.push(0);
            }
            Ok(buf)
        })
        .collect::<Result<_>>()?;
    let mut offsets = Vec::with_capacity(encoded.len());
    let mut at: u64 = 0;
    for f in &encoded {
        offsets.push(u32::try_from(at).map_err(|_| {
            Error::invalid(
                "volume",
                "compressed size",
                "under 4 GiB of compressed pixels",
            )
        })?);
        at += 8 + f.len() as u64;
    }
    Ok(PixelData::encapsulated(encoded, offsets))
}

// ---------------------------------------------------------------------------------
// TDR
// ---------------------------------------------------------------------------------

fn category_and_flag(kind: Kind) -> (&'static str, &'static str) {
    KIND_MAPPING
        .iter()
        .find(|(k, _, _)| *k == kind)
        .map(|&(_, c, f)| (c, f))
        .unwrap_or(("OTHER", "UNKNOWN"))
}

fn fl(tag: Tag, v: &[f64]) -> Element {
    let vals: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    let value = if vals.len() == 1 {
        Value::F32(vals[0])
    } else {
        Value::F32s(vals)
    };
    Element::new(tag, Vr::FL, value)
}

fn private_json(value: &serde_json::Value) -> [Element; 2] {
    [
        el_str(tags::PRIVATE_CREATOR, Vr::LO, PRIVATE_CREATOR),
        Element::new(tags::PRIVATE_JSON, Vr::UT, Value::Str(value.to_string())),
    ]
}

/// The private JSON of an item, if it carries our private creator.
fn private_of(ds: &Dataset) -> Option<serde_json::Value> {
    if get_string(ds, tags::PRIVATE_CREATOR).as_deref() != Some(PRIVATE_CREATOR) {
        return None;
    }
    let text = ds.get(tags::PRIVATE_JSON).and_then(|e| text_of(&e.value))?;
    serde_json::from_str(&text).ok()
}

/// The report-level fields a TDR has no standard attribute for, kept in the private
/// element of the dataset.
#[derive(Debug, Serialize, Deserialize)]
struct ReportPrivate {
    schema_version: u32,
    verdict: Verdict,
    threshold: f64,
    thresholds: Thresholds,
    volume_shape: [usize; 3],
    spacing_mm: [f64; 3],
    timings: Timings,
    /// Shields have no DICOS threat item (they are not threats): only the private
    /// block carries them.
    #[serde(default)]
    shields: Vec<Shield>,
}

/// The standard (non-private) values a finding is written as, at the precision the
/// file stores them.
#[derive(Debug, PartialEq)]
struct PtoStandard {
    category: &'static str,
    flag: &'static str,
    probability: f32,
    /// `(z0, y0, x0, z1, y1, x1)`.
    bbox: [f32; 6],
    mass: f32,
    density: f32,
    description: String,
}

fn density_g_per_cm3(f: &Finding) -> f64 {
    if f.volume_mm3 > 0.0 {
        let d = f.mass_g * 1000.0 / f.volume_mm3;
        if (d as f32).is_finite() {
            return d;
        }
    }
    0.0
}

/// Threat Category Description: `"<kind>: <material>, <mass> g, score <score>"`, then
/// one `"- <evidence>"` line per evidence sentence, cut at the 10240 characters of LT.
fn description_of(f: &Finding) -> String {
    let material = if f.material.is_empty() {
        "unknown material"
    } else {
        &f.material
    };
    let mut s = format!(
        "{}: {material}, {:.0} g, score {:.2}",
        f.kind, f.mass_g, f.score
    );
    for e in &f.evidence {
        s.push_str("\n- ");
        s.push_str(e);
    }
    if s.chars().count() > LT_MAX_CHARS {
        s = s.chars().take(LT_MAX_CHARS).collect();
    }
    s
}

fn standard_of(f: &Finding) -> PtoStandard {
    let (category, flag) = category_and_flag(f.kind);
    PtoStandard {
        category,
        flag,
        probability: f.score as f32,
        bbox: f.bbox_mm.map(|v| v as f32),
        mass: f.mass_g as f32,
        density: density_g_per_cm3(f) as f32,
        description: description_of(f),
    }
}

/// Checks what the TDR stores of a report (the rest travels as JSON, which needs
/// finite numbers too).
fn validate_for_tdr(report: &Report) -> Result<()> {
    fn finite(name: &str, values: &[f64]) -> Result<()> {
        match values.iter().find(|v| !v.is_finite()) {
            Some(v) => Err(Error::invalid(name, v, "a finite number")),
            None => Ok(()),
        }
    }
    if report.findings.len() > usize::from(u16::MAX) {
        return Err(Error::invalid(
            "findings",
            report.findings.len(),
            "at most 65535 findings (DICOS threat object ids are 16-bit)",
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for f in &report.findings {
        if f.id > u32::from(u16::MAX) {
            return Err(Error::invalid(
                "finding id",
                f.id,
                "0–65535 (a 16-bit DICOS threat object id)",
            ));
        }
        if !seen.insert(f.id) {
            return Err(Error::invalid(
                "finding id",
                f.id,
                "ids unique within the report",
            ));
        }
        if !(0.0..=1.0).contains(&f.score) {
            return Err(Error::invalid("score", f.score, "a number in [0, 1]"));
        }
        let b = f.bbox_mm;
        if b.iter().any(|v| !v.is_finite()) || (0..3).any(|a| b[a] > b[a + 3]) {
            return Err(Error::invalid(
                "bbox_mm",
                format!("{b:?}"),
                "finite (z0, y0, x0, z1, y1, x1) with min ≤ max",
            ));
        }
        for (name, v) in [("mass_g", f.mass_g), ("volume_mm3", f.volume_mm3)] {
            if !v.is_finite() || v < 0.0 {
                return Err(Error::invalid(name, v, "a finite value ≥ 0"));
            }
        }
        let c = f.class_scores;
        finite(
            "class_scores",
            &[c.firearm, c.firearm_part, c.ammunition, c.blade],
        )?;
        finite("mean_mu", &[f.mean_mu])?;
        finite("centroid_mm", &f.centroid_mm)?;
        finite("principal_axes", f.principal_axes.as_flattened())?;
        finite("extents_mm", &f.extents_mm)?;
        let features: Vec<f64> = f.features.values().copied().collect();
        finite("features", &features)?;
    }
    let t = report.timings;
    for (name, v) in [
        ("timings.candidates_s", t.candidates_s),
        ("timings.features_s", t.features_s),
        ("timings.classify_s", t.classify_s),
        ("timings.total_s", t.total_s),
    ] {
        if !v.is_finite() || v < 0.0 {
            return Err(Error::invalid(name, v, "a finite time ≥ 0 s"));
        }
    }
    if !(0.0..=1.0).contains(&report.threshold) {
        return Err(Error::invalid(
            "threshold",
            report.threshold,
            "a score in [0, 1]",
        ));
    }
    let th = report.thresholds;
    finite(
        "thresholds",
        &[
            th.energy_kev,
            th.water_mu,
            th.low_mu,
            th.high_mu,
            th.low_hu,
            th.high_hu,
        ],
    )?;
    finite("spacing_mm", &report.spacing_mm)?;
    Ok(())
}

/// The voxels of `scan` whose centres lie in the box `b` (`(z0, y0, x0, z1, y1, x1)`
/// world mm), as DICOS Threat ROI Base and Extents in `(column, row, frame)` order; a
/// box thinner than a voxel gets the nearest voxel. A box that misses the grid gets
/// zero extents at the grid voxel nearest its centre (the DICOS toolkit requires one
/// ROI per threat). `None` for an empty grid or non-finite indices.
fn voxel_roi(scan: &ScanReference, b: &[f64; 6]) -> Option<([f64; 3], [f64; 3])> {
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for c in 0..8 {
        let w = [
            if c & 1 == 0 { b[0] } else { b[3] },
            if c & 2 == 0 { b[1] } else { b[4] },
            if c & 4 == 0 { b[2] } else { b[5] },
        ];
        let idx = scan.index_of_world(w);
        for a in 0..3 {
            lo[a] = lo[a].min(idx[a]);
            hi[a] = hi[a].max(idx[a]);
        }
    }
    let n = scan.shape.map(|n| n as f64);
    if (0..3).any(|a| n[a] < 1.0 || !lo[a].is_finite() || !hi[a].is_finite()) {
        return None;
    }
    if (0..3).any(|a| hi[a] < -0.5 || lo[a] > n[a] - 0.5) {
        let m: [f64; 3] =
            std::array::from_fn(|a| (0.5 * (lo[a] + hi[a])).round().clamp(0.0, n[a] - 1.0));
        return Some(([m[2], m[1], m[0]], [0.0; 3]));
    }
    let mut first = [0.0; 3];
    let mut last = [0.0; 3];
    for a in 0..3 {
        let n = n[a];
        let l = (lo[a] - 1e-6).ceil().max(0.0);
        let h = (hi[a] + 1e-6).floor().min(n - 1.0);
        (first[a], last[a]) = if l <= h {
            (l, h)
        } else {
            let m = (0.5 * (lo[a] + hi[a])).round().clamp(0.0, n - 1.0);
            (m, m)
        };
    }
    let base = [first[2], first[1], first[0]];
    let extents = [
        last[2] - first[2] + 1.0,
        last[1] - first[1] + 1.0,
        last[0] - first[0] + 1.0,
    ];
    Some((base, extents))
}

/// The box `(z0, y0, x0, z1, y1, x1)` world mm covering the voxels (their edges) of a
/// Threat ROI Voxel base/extents on the grid of `scan`.
fn voxel_roi_box(rep: Option<&Dataset>, scan: &ScanReference) -> Option<[f64; 6]> {
    let roi = first_item(rep?, tags::THREAT_ROI_VOXEL_SEQUENCE)?;
    let base = get_numbers(roi, tags::THREAT_ROI_BASE).filter(|v| v.len() == 3)?;
    let ext = get_numbers(roi, tags::THREAT_ROI_EXTENTS).filter(|v| v.len() == 3)?;
    if base.iter().chain(&ext).any(|v| !v.is_finite()) || ext.iter().any(|&e| e < 1.0) {
        return None;
    }
    // (column, row, frame) → (k, j, i), voxel edges.
    let k0 = [base[2] - 0.5, base[1] - 0.5, base[0] - 0.5];
    let k1 = [
        base[2] + ext[2] - 0.5,
        base[1] + ext[1] - 0.5,
        base[0] + ext[0] - 0.5,
    ];
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for c in 0..8 {
        let idx = [
            if c & 1 == 0 { k0[0] } else { k1[0] },
            if c & 2 == 0 { k0[1] } else { k1[1] },
            if c & 4 == 0 { k0[2] } else { k1[2] },
        ];
        for r in 0..3 {
            let w = scan.origin_mm[r]
                + (0..3)
                    .map(|a| scan.direction[r][a] * idx[a] * scan.spacing_mm[a])
                    .sum::<f64>();
            lo[r] = lo[r].min(w);
            hi[r] = hi[r].max(w);
        }
    }
    let b = [lo[0], lo[1], lo[2], hi[0], hi[1], hi[2]];
    b.iter().all(|v| v.is_finite()).then_some(b)
}

/// Saves a detection [`Report`] as a DICOS Threat Detection Report about the CT
/// `scan` (UIDs and grid, as [`save_dicos`], [`load_dicos_with`] or
/// [`read_scan_reference`] give them), or about no stored CT when `scan` is `None`.
/// Fresh UIDs, the current time; written atomically.
///
/// The alarm decision is the verdict (`Inspect` → `ALARM`, `Clear` → `CLEAR`); each
/// finding becomes one potential threat object (PTO) with the finding's id, its
/// [`KIND_MAPPING`] category and flag, probability = score, its box as the Bounding
/// Polygon (two corners, DICOS patient `(x, y, z)` mm = the volume's world
/// `(x, y, z)`, in the scan's Frame of Reference), mass, density = mass / volume, the
/// total processing time, and, with a scan, a reference to the CT and the voxel ROI of
/// the box on its grid. See the module docs for what else travels and how.
///
/// Without a scan the TDR has no scan reference and no voxel ROI: ctscreen and DICOM
/// readers read it, but the DICOS reference toolkit refuses it (it requires both).
///
/// **Errors**: [`Error::InvalidParameter`] if the report cannot be stored: more than
/// 65535 findings, an id above 65535 or repeated, a score outside [0, 1], a
/// non-finite or inverted box, a negative mass, volume or time, any non-finite
/// number; [`Error::Io`] on write failure (nothing is left at `path`).
///
/// # Example
/// ```
/// use ctscreen::{detect::{detect, DetectOptions}, io::dicos, Volume};
/// // A steel tube (a barrel: 100 mm long, 9 mm bore) in 1 mm voxels.
/// let a = ndarray::Array3::from_shape_fn((40, 40, 130), |(k, j, i)| {
///     let r = ((k as f64 - 20.0).powi(2) + (j as f64 - 20.0).powi(2)).sqrt();
///     if (15..115).contains(&i) && r <= 10.0 && r >= 4.5 { 0.6f32 } else { 0.0 }
/// });
/// let scan_volume = Volume::centered(a, [1.0; 3]).unwrap();
/// let dir = tempfile::tempdir().unwrap();
/// let scan = dicos::save_dicos(dir.path().join("ct.dcs"), &scan_volume).unwrap();
/// let report = detect(&scan_volume, &DetectOptions::default()).unwrap();
/// dicos::save_tdr(dir.path().join("tdr.dcs"), &report, Some(&scan)).unwrap();
/// let back = dicos::load_tdr(dir.path().join("tdr.dcs")).unwrap();
/// assert_eq!(back, report);
/// ```
pub fn save_tdr(
    path: impl AsRef<Path>,
    report: &Report,
    scan: Option<&ScanReference>,
) -> Result<()> {
    save_tdr_with(path, report, scan, &TdrSaveOptions::default())
}

/// [`save_tdr`] with options (reproducible UIDs, date).
///
/// **Errors** as [`save_tdr`].
pub fn save_tdr_with(
    path: impl AsRef<Path>,
    report: &Report,
    scan: Option<&ScanReference>,
    options: &TdrSaveOptions,
) -> Result<()> {
    let path = path.as_ref();
    validate_for_tdr(report)?;
    let when = options.datetime.unwrap_or_else(DateTimeUtc::now);
    let json = report.to_json()?;
    let content = fnv1a(
        fnv1a(
            0,
            scan.map(|s| s.sop_instance_uid.as_str())
                .unwrap_or("")
                .as_bytes(),
        ),
        json.as_bytes(),
    );
    let mut uids = UidGen::new(options.uid_seed, content);
    let sop = uids.next();
    let series = uids.next();
    let fresh_study = uids.next();
    let fresh_frame = uids.next();
    let nonempty = |s: Option<&String>, fresh: String| match s {
        Some(s) if !s.is_empty() => s.clone(),
        _ => fresh,
    };
    let study = nonempty(scan.map(|s| &s.study_instance_uid), fresh_study);
    let frame_of_ref = nonempty(scan.map(|s| &s.frame_of_reference_uid), fresh_frame);

    let mut d = Dataset::new();
    common_header(
        &mut d,
        TDR_SOP_CLASS_UID,
        &sop,
        ::dicos::transfer::EXPLICIT_VR_LITTLE_ENDIAN,
        &when,
    );
    put_str(&mut d, tags::MODALITY, Vr::CS, "TDR");
    let ct_ref = |s: &ScanReference| {
        item(vec![
            el_str(tags::REFERENCED_SOP_CLASS_UID, Vr::UI, &s.sop_class_uid),
            el_str(
                tags::REFERENCED_SOP_INSTANCE_UID,
                Vr::UI,
                &s.sop_instance_uid,
            ),
        ])
    };
    if let Some(s) = scan {
        put_seq(&mut d, tags::REFERENCED_STUDY_SEQUENCE, vec![ct_ref(s)]);
        if !s.series_instance_uid.is_empty() {
            put_seq(
                &mut d,
                tags::REFERENCED_SERIES_SEQUENCE,
                vec![item(vec![
                    el_str(tags::SERIES_INSTANCE_UID, Vr::UI, &s.series_instance_uid),
                    Element::new(
                        tags::REFERENCED_INSTANCE_SEQUENCE,
                        Vr::SQ,
                        Value::Sequence(vec![ct_ref(s)]),
                    ),
                ])],
            );
        }
    }
    put_str(&mut d, tags::STUDY_INSTANCE_UID, Vr::UI, &study);
    put_str(&mut d, tags::SERIES_INSTANCE_UID, Vr::UI, &series);
    put_str(&mut d, tags::FRAME_OF_REFERENCE_UID, Vr::UI, &frame_of_ref);

    let total_ms = report.timings.total_s * 1000.0;
    let start = when.minus_ms(total_ms);
    let mut alarm_objects = 0u16;
    let mut threats = Vec::with_capacity(report.findings.len());
    for f in &report.findings {
        let std = standard_of(f);
        if matches!(std.flag, "HIGH_THREAT" | "THREAT") {
            alarm_objects += 1;
        }
        let b = f.bbox_mm;
        let mut representation = Vec::new();
        if let Some(s) = scan {
            representation.push(Element::new(
                tags::REFERENCED_INSTANCE_SEQUENCE,
                Vr::SQ,
                Value::Sequence(vec![ct_ref(s)]),
            ));
            if let Some((base, extents)) = voxel_roi(s, &b) {
                representation.push(Element::new(
                    tags::THREAT_ROI_VOXEL_SEQUENCE,
                    Vr::SQ,
                    Value::Sequence(vec![item(vec![
                        fl(tags::THREAT_ROI_BASE, &base),
                        fl(tags::THREAT_ROI_EXTENTS, &extents),
                        Element::new(tags::THREAT_ROI_BITMAP, Vr::OB, Value::Bytes(Vec::new())),
                    ])]),
                ));
            }
        }
        // The standard fields exactly as `standard_of` states them (what `load_tdr`
        // compares the private copy against).
        let sb = std.bbox.map(f64::from);
        representation.extend([
            fl(tags::MASS, &[f64::from(std.mass)]),
            fl(tags::DENSITY, &[f64::from(std.density)]),
            fl(
                tags::BOUNDING_POLYGON,
                &[sb[2], sb[1], sb[0], sb[5], sb[4], sb[3]],
            ),
        ]);
        let assessment = item(vec![
            el_str(tags::THREAT_CATEGORY, Vr::CS, std.category),
            el_str(tags::THREAT_CATEGORY_DESCRIPTION, Vr::LT, &std.description),
            el_str(tags::ATD_ABILITY_ASSESSMENT, Vr::CS, "NO_INTERFERENCE"),
            el_str(tags::ATD_ASSESSMENT_FLAG, Vr::CS, std.flag),
            fl(
                tags::ATD_ASSESSMENT_PROBABILITY,
                &[f64::from(std.probability)],
            ),
        ]);
        let finding_json = serde_json::to_value(f)
            .map_err(|e| Error::invalid("finding", e, "a finding of finite numbers"))?;
        let mut elements = vec![
            Element::new(
                tags::POTENTIAL_THREAT_OBJECT_ID,
                Vr::US,
                Value::U16(f.id as u16),
            ),
            Element::new(
                tags::PTO_REPRESENTATION_SEQUENCE,
                Vr::SQ,
                Value::Sequence(vec![item(representation)]),
            ),
            Element::new(
                tags::ATD_ASSESSMENT_SEQUENCE,
                Vr::SQ,
                Value::Sequence(vec![assessment]),
            ),
            el_str(tags::PTO_PROCESSING_START, Vr::DT, &start.dt()),
            el_str(tags::PTO_PROCESSING_END, Vr::DT, &when.dt()),
            fl(tags::PTO_PROCESSING_TIME, &[total_ms]),
        ];
        elements.extend(private_json(&finding_json));
        threats.push(item(elements));
    }
    put_seq(&mut d, tags::THREAT_SEQUENCE, threats);
    put_str(&mut d, tags::ABORT_FLAG, Vr::CS, "SUCCESS");
    put_str(&mut d, tags::TDR_TYPE, Vr::CS, "MACHINE");
    put_strs(
        &mut d,
        tags::THREAT_DETECTION_ALGORITHM_AND_VERSION,
        Vr::LO,
        &["ctscreen", env!("CARGO_PKG_VERSION")],
    );
    put_str(&mut d, tags::ALARM_DECISION_TIME, Vr::DT, &when.dt());
    let alarm = report.verdict == Verdict::Inspect;
    put_str(
        &mut d,
        tags::ALARM_DECISION,
        Vr::CS,
        if alarm { "ALARM" } else { "CLEAR" },
    );
    d.put_u16(
        tags::NUMBER_OF_TOTAL_OBJECTS,
        Vr::US,
        report.findings.len() as u16,
    );
    d.put_u16(tags::NUMBER_OF_ALARM_OBJECTS, Vr::US, alarm_objects);
    d.insert(fl(tags::TOTAL_PROCESSING_TIME, &[total_ms]));
    put_str(&mut d, tags::ADDITIONAL_SCREENING_PERFORMED, Vr::CS, "NO");
    d.insert(Element::new(
        tags::IMAGE_SCALE_REPRESENTATION,
        Vr::FD,
        Value::F64(1.0),
    ));
    let top = ReportPrivate {
        schema_version: report.schema_version,
        verdict: report.verdict,
        threshold: report.threshold,
        thresholds: report.thresholds,
        volume_shape: report.volume_shape,
        spacing_mm: report.spacing_mm,
        timings: report.timings,
        shields: report.shields.clone(),
    };
    let top = serde_json::to_value(&top)
        .map_err(|e| Error::invalid("report", e, "a report of finite numbers"))?;
    for e in private_json(&top) {
        d.insert(e);
    }
    write_atomic(path, &d)
}

/// One PTO as the standard elements state it.
struct PtoRead {
    id: u16,
    category: String,
    flag: String,
    probability: f64,
    bbox: [f64; 6],
    mass: f64,
    density: f64,
    description: String,
}

impl PtoRead {
    /// True if `f` would be written as exactly these standard values.
    fn agrees_with(&self, f: &Finding) -> bool {
        let s = standard_of(f);
        u32::from(self.id) == f.id
            && s.category == self.category
            && s.flag == self.flag
            && s.probability == self.probability as f32
            && (0..6).all(|i| s.bbox[i] == self.bbox[i] as f32)
            && s.mass == self.mass as f32
            && s.density == self.density as f32
            && s.description.trim_end() == self.description.trim_end()
    }

    /// The finding the standard values alone describe (see the module docs).
    fn to_finding(&self) -> Finding {
        let recovered = self.description.lines().next().and_then(|first| {
            let (k, _) = first.split_once(": ")?;
            let kind = Kind::parse(k).ok()?;
            (category_and_flag(kind).0 == self.category).then_some(kind)
        });
        let (kind, evidence) = match recovered {
            Some(kind) => (
                kind,
                self.description
                    .lines()
                    .skip(1)
                    .filter_map(|l| l.strip_prefix("- ").map(String::from))
                    .collect(),
            ),
            None => {
                let name = DICOS_CATEGORIES
                    .iter()
                    .find(|(c, _)| *c == self.category)
                    .map_or("unknown", |(_, n)| n);
                let mut ev = vec![format!(
                    "DICOS threat category {} ({name}), ATD assessment {}",
                    self.category, self.flag
                )];
                if !self.description.trim().is_empty() {
                    ev.push(self.description.trim().to_string());
                }
                (Kind::MetalOther, ev)
            }
        };
        let mut class_scores = ClassScores::default();
        match kind {
            Kind::Firearm => class_scores.firearm = self.probability,
            Kind::FirearmPart => class_scores.firearm_part = self.probability,
            Kind::Ammunition => class_scores.ammunition = self.probability,
            Kind::Blade => class_scores.blade = self.probability,
            Kind::MetalOther => {}
        }
        let b = self.bbox;
        let size = [b[3] - b[0], b[4] - b[1], b[5] - b[2]];
        let mut axes = [0usize, 1, 2];
        axes.sort_by(|&p, &q| size[q].total_cmp(&size[p]));
        let unit =
            |a: usize| -> [f64; 3] { std::array::from_fn(|r| if r == a { 1.0 } else { 0.0 }) };
        Finding {
            id: u32::from(self.id),
            kind,
            score: self.probability,
            threat_probability: None,
            class_scores,
            bbox_mm: b,
            voxel_count: 0,
            volume_mm3: if self.mass > 0.0 && self.density > 0.0 {
                self.mass / self.density * 1000.0
            } else {
                0.0
            },
            mean_mu: 0.0,
            material: "unknown".into(),
            mass_g: self.mass,
            centroid_mm: [
                0.5 * (b[0] + b[3]),
                0.5 * (b[1] + b[4]),
                0.5 * (b[2] + b[5]),
            ],
            principal_axes: axes.map(unit),
            extents_mm: axes.map(|a| size[a]),
            members: 1,
            evidence,
            features: Default::default(),
        }
    }
}

/// Loads a DICOS Threat Detection Report as a detection [`Report`].
///
/// A TDR written by [`save_tdr`] and not edited since gives back exactly the report
/// that was saved. Otherwise the standard attributes decide and the report holds what
/// they can say (module docs, "What travels").
///
/// **Errors**: [`Error::Io`]; [`Error::Format`] if the file is not a DICOS TDR or a
/// threat lacks its id or assessment; [`Error::Unsupported`] for an Alarm Decision
/// other than ALARM/CLEAR or a threat without Bounding Polygon (a voxel-only ROI needs
/// the CT's grid: use [`load_tdr_with`]).
///
/// # Example
/// ```
/// use ctscreen::{detect::{detect, DetectOptions}, io::dicos, Volume};
/// let a = ndarray::Array3::from_shape_fn((24, 24, 24), |(k, j, i)| {
///     if (8..16).contains(&k) && (8..16).contains(&j) && (4..20).contains(&i) { 0.6f32 } else { 0.0 }
/// });
/// let report = detect(&Volume::centered(a, [1.0; 3]).unwrap(), &DetectOptions::default()).unwrap();
/// assert!(!report.findings.is_empty());
/// let dir = tempfile::tempdir().unwrap();
/// dicos::save_tdr(dir.path().join("tdr.dcs"), &report, None).unwrap();
/// assert_eq!(dicos::load_tdr(dir.path().join("tdr.dcs")).unwrap(), report);
/// ```
pub fn load_tdr(path: impl AsRef<Path>) -> Result<Report> {
    load_tdr_with(path, None).map(|t| t.report)
}

/// [`load_tdr`], also returning the CT references and the DICOS assessments, and
/// placing threats that carry only a voxel ROI (Threat ROI Base and Extents, no
/// Bounding Polygon) on the grid of `scan`: their box spans the edges of the ROI's
/// voxels. With `scan`, the report's `volume_shape` and `spacing_mm` come from it
/// when the file has no ctscreen private copy.
///
/// **Errors** as [`load_tdr`]; a voxel-only threat is [`Error::Unsupported`] only when
/// `scan` is `None`.
pub fn load_tdr_with(path: impl AsRef<Path>, scan: Option<&ScanReference>) -> Result<Tdr> {
    let path = path.as_ref();
    let d = read_dataset(path)?;
    let class = get_string(&d, tags::SOP_CLASS_UID)
        .or_else(|| get_string(&d, tags::MEDIA_SOP_CLASS_UID))
        .unwrap_or_default();
    if class != TDR_SOP_CLASS_UID {
        let what = if is_ct_sop_class(&class) {
            " (it is a DICOS CT scan: load it with ctscreen::io::load)"
        } else {
            ""
        };
        return Err(Error::format(
            path,
            format!("SOP class {class:?} is not DICOS TDR ({TDR_SOP_CLASS_UID}){what}"),
        ));
    }
    let alarm = match get_string(&d, tags::ALARM_DECISION).as_deref() {
        Some("ALARM") => true,
        Some("CLEAR") => false,
        other => {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                what: format!("Alarm Decision {other:?} (expected ALARM or CLEAR)"),
            })
        }
    };
    let total_ms = get_number(&d, tags::TOTAL_PROCESSING_TIME)
        .filter(|v| v.is_finite() && *v >= 0.0)
        .unwrap_or(0.0);

    let mut scan_sop_instance_uid = String::new();
    let mut scan_sop_class_uid = String::new();
    let mut scan_series_instance_uid = String::new();
    if let Some(r) = first_item(&d, tags::REFERENCED_SERIES_SEQUENCE) {
        scan_series_instance_uid = get_string(r, tags::SERIES_INSTANCE_UID).unwrap_or_default();
        if let Some(i) = first_item(r, tags::REFERENCED_INSTANCE_SEQUENCE) {
            scan_sop_instance_uid =
                get_string(i, tags::REFERENCED_SOP_INSTANCE_UID).unwrap_or_default();
            scan_sop_class_uid = get_string(i, tags::REFERENCED_SOP_CLASS_UID).unwrap_or_default();
        }
    }
    if scan_sop_instance_uid.is_empty() {
        if let Some(r) = first_item(&d, tags::REFERENCED_STUDY_SEQUENCE) {
            scan_sop_instance_uid =
                get_string(r, tags::REFERENCED_SOP_INSTANCE_UID).unwrap_or_default();
            scan_sop_class_uid = get_string(r, tags::REFERENCED_SOP_CLASS_UID).unwrap_or_default();
        }
    }

    let mut findings = Vec::new();
    let mut assessments = Vec::new();
    let mut exact = true;
    for (n, t) in get_seq(&d, tags::THREAT_SEQUENCE)
        .unwrap_or(&[])
        .iter()
        .enumerate()
    {
        let id = get_number(t, tags::POTENTIAL_THREAT_OBJECT_ID)
            .filter(|v| (0.0..=65535.0).contains(v) && v.fract() == 0.0)
            .ok_or_else(|| {
                Error::format(
                    path,
                    format!("threat {n}: Potential Threat Object ID missing"),
                )
            })? as u16;
        let rep = first_item(t, tags::PTO_REPRESENTATION_SEQUENCE);
        if scan_sop_instance_uid.is_empty() {
            if let Some(r) = rep.and_then(|r| first_item(r, tags::REFERENCED_INSTANCE_SEQUENCE)) {
                scan_sop_instance_uid =
                    get_string(r, tags::REFERENCED_SOP_INSTANCE_UID).unwrap_or_default();
                scan_sop_class_uid =
                    get_string(r, tags::REFERENCED_SOP_CLASS_UID).unwrap_or_default();
            }
        }
        let polygon = rep
            .and_then(|r| get_numbers(r, tags::BOUNDING_POLYGON))
            .filter(|p| p.len() >= 6 && p.len() % 3 == 0 && p.iter().all(|v| v.is_finite()));
        let bbox = match (polygon, scan) {
            (Some(p), _) => {
                let mut mn = [f64::INFINITY; 3];
                let mut mx = [f64::NEG_INFINITY; 3];
                for q in p.chunks_exact(3) {
                    for a in 0..3 {
                        mn[a] = mn[a].min(q[a]);
                        mx[a] = mx[a].max(q[a]);
                    }
                }
                [mn[2], mn[1], mn[0], mx[2], mx[1], mx[0]]
            }
            (None, Some(scan)) => voxel_roi_box(rep, scan).ok_or_else(|| {
                Error::format(
                    path,
                    format!("threat {id}: neither Bounding Polygon nor Threat ROI Base/Extents"),
                )
            })?,
            (None, None) => {
                return Err(Error::Unsupported {
                    path: path.to_path_buf(),
                    what: format!(
                        "threat {id} without a Bounding Polygon (its voxel ROI needs the CT: use load_tdr_with)"
                    ),
                })
            }
        };
        let assessment = first_item(t, tags::ATD_ASSESSMENT_SEQUENCE)
            .ok_or_else(|| Error::format(path, format!("threat {id}: ATD Assessment missing")))?;
        let nonneg = |v: Option<f64>| v.filter(|v| v.is_finite() && *v >= 0.0).unwrap_or(0.0);
        let read = PtoRead {
            id,
            category: get_string(assessment, tags::THREAT_CATEGORY).unwrap_or_default(),
            flag: get_string(assessment, tags::ATD_ASSESSMENT_FLAG).unwrap_or_default(),
            probability: get_number(assessment, tags::ATD_ASSESSMENT_PROBABILITY)
                .filter(|v| v.is_finite())
                .unwrap_or(0.0)
                .clamp(0.0, 1.0),
            bbox,
            mass: nonneg(rep.and_then(|r| get_number(r, tags::MASS))),
            density: nonneg(rep.and_then(|r| get_number(r, tags::DENSITY))),
            description: assessment
                .get(tags::THREAT_CATEGORY_DESCRIPTION)
                .and_then(|e| text_of(&e.value))
                .unwrap_or_default(),
        };
        let private = private_of(t)
            .and_then(|v| serde_json::from_value::<Finding>(v).ok())
            .filter(|f| read.agrees_with(f));
        exact &= private.is_some();
        findings.push(private.unwrap_or_else(|| read.to_finding()));
        assessments.push(PtoAssessment {
            id,
            category: read.category,
            flag: read.flag,
            description: read.description,
        });
    }

    let verdict = if alarm {
        Verdict::Inspect
    } else {
        Verdict::Clear
    };
    let top = private_of(&d)
        .and_then(|v| serde_json::from_value::<ReportPrivate>(v).ok())
        .filter(|p| {
            p.schema_version == SCHEMA_VERSION
                && p.verdict == verdict
                && (p.timings.total_s * 1000.0) as f32 == total_ms as f32
        });
    exact &= top.is_some();
    let report = match top {
        Some(p) => Report {
            schema_version: p.schema_version,
            findings,
            verdict,
            threshold: p.threshold,
            thresholds: p.thresholds,
            volume_shape: p.volume_shape,
            spacing_mm: p.spacing_mm,
            timings: p.timings,
            shields: p.shields,
        },
        None => {
            let defaults = DetectOptions::default();
            Report {
                schema_version: SCHEMA_VERSION,
                findings,
                shields: Vec::new(),
                verdict,
                threshold: defaults.threshold,
                thresholds: defaults.thresholds()?,
                volume_shape: scan.map_or([0; 3], |s| s.shape),
                spacing_mm: scan.map_or([0.0; 3], |s| s.spacing_mm),
                timings: Timings {
                    total_s: total_ms / 1000.0,
                    ..Timings::default()
                },
            }
        }
    };
    // What loads must save again: the same checks as `save_tdr` (unique 16-bit ids,
    // scores and threshold in [0, 1], finite values), now on the file's content.
    validate_for_tdr(&report)
        .map_err(|e| Error::format(path, format!("inconsistent threat report: {e}")))?;
    Ok(Tdr {
        report,
        assessments,
        scan_sop_class_uid,
        scan_sop_instance_uid,
        scan_series_instance_uid,
        study_instance_uid: get_string(&d, tags::STUDY_INSTANCE_UID).unwrap_or_default(),
        frame_of_reference_uid: get_string(&d, tags::FRAME_OF_REFERENCE_UID).unwrap_or_default(),
        exact,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_strings_round_trip_and_fit_16_chars() {
        for v in [
            0.0,
            -0.0,
            0.5,
            -12.75,
            1e-7,
            -1.234_567_890_123_4e-12,
            123_456_789.123_456_78,
            std::f64::consts::PI,
            1e300,
        ] {
            let s = ds(v);
            assert!(s.len() <= 16, "{s:?} for {v}");
            assert!(s.bytes().all(|b| b"0123456789+-.eE".contains(&b)), "{s:?}");
            let back: f64 = s.parse().unwrap();
            if format!("{v}").len() <= 16 || format!("{v:e}").len() <= 16 {
                assert_eq!(back, v, "{s}");
            } else {
                // 16 characters keep at least 10 significant digits.
                assert!(((back - v) / v).abs() < 1e-9, "{s} vs {v}");
            }
        }
        assert_eq!(ds(-0.0), "0");
    }

    #[test]
    fn rescale_covers_range_and_is_exact_text() {
        for (lo, hi) in [
            (0.0, 6169.0),
            (-1000.0, 3000.0),
            (1000.0, 1000.0),
            (5.0, 5.000_001),
        ] {
            let (m_s, b_s) = rescale_for(lo, hi);
            assert!(m_s.len() <= 16 && b_s.len() <= 16);
            let (m, b): (f64, f64) = (m_s.parse().unwrap(), b_s.parse().unwrap());
            assert!(m > 0.0);
            assert!(b <= lo, "intercept {b} above min {lo}");
            assert!(b + 65535.0 * m >= hi, "{b} + 65535 × {m} < {hi}");
            if hi > lo {
                // The step is at most 1e-5 coarser than the ideal range / 65535.
                let ideal = (hi - lo) / 65535.0;
                assert!(
                    m <= ideal * (1.0 + 1e-5) + 1e-9 * lo.abs() / 65535.0,
                    "{m} vs {ideal}"
                );
            }
        }
    }

    #[test]
    fn civil_dates_from_unix_seconds() {
        let t = DateTimeUtc::from_unix(0, 0);
        assert_eq!((t.year, t.month, t.day, t.hour), (1970, 1, 1, 0));
        // 2000-02-29T12:34:56Z (a leap day of a century leap year).
        let t = DateTimeUtc::from_unix(951_827_696, 42);
        assert_eq!(
            (t.year, t.month, t.day, t.hour, t.minute, t.second, t.micros),
            (2000, 2, 29, 12, 34, 56, 42)
        );
        assert_eq!(t.dt(), "20000229123456.000042+0000");
        assert_eq!(t.unix_micros(), 951_827_696_000_042);
        let earlier = t.minus_ms(1500.0);
        assert_eq!(earlier.unix_micros(), 951_827_694_500_042);
    }

    #[test]
    fn stored_values_masked_and_sign_extended() {
        let f = PixelFormat {
            bits_allocated: 16,
            bits_stored: 12,
            signed: true,
        };
        assert_eq!(f.value(0x0FFF), -1.0);
        assert_eq!(f.value(0x0800), -2048.0);
        assert_eq!(f.value(0xF7FF), 2047.0); // bits above Bits Stored ignored
        let u = PixelFormat {
            bits_allocated: 16,
            bits_stored: 16,
            signed: false,
        };
        assert_eq!(u.value(0xFFFF), 65535.0);
        let s32 = PixelFormat {
            bits_allocated: 32,
            bits_stored: 32,
            signed: true,
        };
        assert_eq!(s32.value(0xFFFF_FFFE), -2.0);
    }

    #[test]
    fn effective_energy_inverts_water_table() {
        let mw = volume::water_mu_per_mm(70.0).unwrap();
        assert!((effective_energy_kev(mw) - 70.0).abs() < 1e-6);
        assert_eq!(effective_energy_kev(10.0), 0.0);
    }

    #[test]
    fn uids_are_valid_and_seeded_ones_repeat() {
        let mut a = UidGen::new(Some(7), 99);
        let mut b = UidGen::new(Some(7), 99);
        let mut c = UidGen::new(Some(7), 100);
        let (ua, ub, uc) = (a.next(), b.next(), c.next());
        assert_eq!(ua, ub);
        assert_ne!(ua, uc);
        assert_ne!(UidGen::new(None, 1).next(), UidGen::new(None, 1).next());
        for u in [&ua, &uc] {
            assert!(u.len() <= 64 && u.starts_with("2.25."));
            let tail = &u[5..];
            assert!(!tail.starts_with('0') && tail.bytes().all(|c| c.is_ascii_digit()));
        }
    }
}
