//! Scan geometries: where the source and the detector are for every view.
//!
//! World coordinates are millimetres, written `(z, y, x)` like volume indices. The
//! rotation axis is world z (volume axis 0) through the isocentre `(0, 0, 0)`. At gantry
//! angle θ (radians), in the (x, y) plane, following ASTRA's circular conventions:
//!
//! * the source (cone and fan beam) sits at `x = SOD sin θ`, `y = −SOD cos θ`, `z = 0`,
//!   where SOD is `source_to_isocenter_mm`;
//! * the detector centre sits at `x = −(SDD − SOD) sin θ`, `y = (SDD − SOD) cos θ`, plus the
//!   detector offsets, where SDD is `source_to_detector_mm`;
//! * parallel rays travel along `(x, y) = (−sin θ, cos θ)`, the detector centre at the isocentre;
//! * detector columns step along `u = (cos θ, sin θ, 0)` (x, y, z) and rows along world +z.
//!
//! A detector of `rows × cols` pixels has pixel `(r, c)` centred at
//! `detector_center + (c − (cols − 1)/2) u_step + (r − (rows − 1)/2) v_step`, so the
//! projection array `(views, rows, cols)` has rows along the rotation axis.
//!
//! Every geometry converts to the general per-view vector form [`ViewVectors`] (like
//! ASTRA's `cone_vec` / `parallel3d_vec`), which the projectors use.
//!
//! RTK's `ThreeDCircularProjectionGeometry` XML files are read with
//! [`Geometry::from_rtk_xml`] and written with [`Geometry::to_rtk_xml`]; RTK rotates
//! about its `y` axis, and the frames map by `x_ours = x_rtk, y_ours = −z_rtk,
//! z_ours = y_rtk` with equal gantry angles (details in [`Geometry::from_rtk_xml`]).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

mod rtk;

/// A flat detector: pixel counts, pitch and the offset of its centre.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Detector {
    /// Pixel rows (along the rotation axis, world z); 1 for 2D scans.
    pub rows: usize,
    /// Pixel columns (across the rotation axis).
    pub cols: usize,
    /// Row pitch in mm (along z).
    pub row_spacing_mm: f64,
    /// Column pitch in mm.
    pub col_spacing_mm: f64,
    /// Shift of the detector centre along the row direction (world z), mm.
    #[serde(default)]
    pub row_offset_mm: f64,
    /// Shift of the detector centre along the column direction `u`, mm (RTK's `ProjectionOffsetX`).
    #[serde(default)]
    pub col_offset_mm: f64,
}

impl Detector {
    /// A centred detector of `rows × cols` pixels with pitch `(row, col)` mm.
    pub fn new(rows: usize, cols: usize, row_spacing_mm: f64, col_spacing_mm: f64) -> Self {
        Self {
            rows,
            cols,
            row_spacing_mm,
            col_spacing_mm,
            row_offset_mm: 0.0,
            col_offset_mm: 0.0,
        }
    }

    fn validate(&self) -> Result<()> {
        if self.rows == 0 || self.cols == 0 {
            return Err(Error::invalid(
                "detector_shape",
                format!("({}, {})", self.rows, self.cols),
                "at least one row and one column",
            ));
        }
        for (name, v) in [
            ("detector_row_spacing_mm", self.row_spacing_mm),
            ("detector_col_spacing_mm", self.col_spacing_mm),
        ] {
            if !v.is_finite() || v <= 0.0 {
                return Err(Error::invalid(name, v, "a finite pixel pitch > 0 mm"));
            }
        }
        for (name, v) in [
            ("detector_row_offset_mm", self.row_offset_mm),
            ("detector_col_offset_mm", self.col_offset_mm),
        ] {
            if !v.is_finite() {
                return Err(Error::invalid(name, v, "a finite offset in mm"));
            }
        }
        Ok(())
    }
}

fn validate_angles(angles: &[f64]) -> Result<()> {
    if angles.is_empty() {
        return Err(Error::invalid(
            "angles",
            "[] (empty)",
            "at least one view angle",
        ));
    }
    if let Some(a) = angles.iter().find(|a| !a.is_finite()) {
        return Err(Error::invalid("angles", a, "finite angles in radians"));
    }
    Ok(())
}

fn validate_distances(sod: f64, sdd: f64) -> Result<()> {
    if !sod.is_finite() || sod <= 0.0 {
        return Err(Error::invalid(
            "source_to_isocenter_mm",
            sod,
            "a finite distance > 0 mm",
        ));
    }
    if !sdd.is_finite() || sdd <= sod {
        return Err(Error::invalid(
            "source_to_detector_mm",
            sdd,
            format!("a finite distance greater than source_to_isocenter_mm = {sod}"),
        ));
    }
    Ok(())
}

/// Parallel-beam geometry: a stack of 2D parallel scans (one per detector row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParallelBeamGeometry {
    /// Gantry angle of each view, radians.
    pub angles_rad: Vec<f64>,
    /// The detector.
    pub detector: Detector,
}

impl ParallelBeamGeometry {
    /// `detector_cols` columns of pitch `detector_spacing_mm` (also the row pitch), and
    /// `detector_rows` rows (1 for a 2D sinogram).
    ///
    /// **Errors** if the angle list is empty or not finite, or the detector is empty or
    /// has a pitch that is not finite and positive.
    ///
    /// # Example
    /// ```
    /// use ctscreen::geometry::{Geometry, ParallelBeamGeometry};
    /// let angles: Vec<f64> = (0..180).map(|i| i as f64 * std::f64::consts::PI / 180.0).collect();
    /// let g = Geometry::Parallel(ParallelBeamGeometry::new(angles, 128, 1.0, 1).unwrap());
    /// assert_eq!(g.projection_shape(), [180, 1, 128]);
    /// ```
    pub fn new(
        angles_rad: Vec<f64>,
        detector_cols: usize,
        detector_spacing_mm: f64,
        detector_rows: usize,
    ) -> Result<Self> {
        let g = Self {
            angles_rad,
            detector: Detector::new(
                detector_rows,
                detector_cols,
                detector_spacing_mm,
                detector_spacing_mm,
            ),
        };
        g.validate()?;
        Ok(g)
    }

    fn validate(&self) -> Result<()> {
        validate_angles(&self.angles_rad)?;
        self.detector.validate()
    }
}

/// Fan-beam geometry with a flat detector of one row (2D).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FanBeamGeometry {
    /// Gantry angle of each view, radians.
    pub angles_rad: Vec<f64>,
    /// Source to rotation axis, mm.
    pub source_to_isocenter_mm: f64,
    /// Source to detector plane, mm.
    pub source_to_detector_mm: f64,
    /// The detector (one row).
    pub detector: Detector,
}

impl FanBeamGeometry {
    /// A 2D fan beam with `detector_cols` columns of pitch `detector_spacing_mm`.
    ///
    /// **Errors** if the angles are empty or not finite, a distance is not positive and
    /// finite, the source-to-detector distance does not exceed the source-to-isocentre
    /// distance, or the detector is empty.
    pub fn new(
        angles_rad: Vec<f64>,
        source_to_isocenter_mm: f64,
        source_to_detector_mm: f64,
        detector_cols: usize,
        detector_spacing_mm: f64,
    ) -> Result<Self> {
        let g = Self {
            angles_rad,
            source_to_isocenter_mm,
            source_to_detector_mm,
            detector: Detector::new(1, detector_cols, detector_spacing_mm, detector_spacing_mm),
        };
        g.validate()?;
        Ok(g)
    }

    fn validate(&self) -> Result<()> {
        validate_angles(&self.angles_rad)?;
        validate_distances(self.source_to_isocenter_mm, self.source_to_detector_mm)?;
        self.detector.validate()?;
        if self.detector.rows != 1 {
            return Err(Error::invalid(
                "detector rows",
                self.detector.rows,
                "1 for a fan beam (use a cone beam for more)",
            ));
        }
        Ok(())
    }
}

/// Circular cone-beam geometry with the parameters of RTK's
/// `ThreeDCircularProjectionGeometry` (in-plane rotation only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConeBeamGeometry {
    /// Gantry angle of each view, radians.
    pub angles_rad: Vec<f64>,
    /// Source to rotation axis, mm.
    pub source_to_isocenter_mm: f64,
    /// Source to detector plane, mm.
    pub source_to_detector_mm: f64,
    /// The detector.
    pub detector: Detector,
}

impl ConeBeamGeometry {
    /// A circular cone beam. `detector_shape` is `(rows, cols)`, `detector_spacing_mm`
    /// `(row, col)` pitch, `detector_offset_mm` the `(row, col)` shift of the detector
    /// centre in mm.
    ///
    /// **Errors** as [`FanBeamGeometry::new`], and for non-finite offsets.
    ///
    /// # Example
    /// ```
    /// use ctscreen::geometry::ConeBeamGeometry;
    /// let angles: Vec<f64> = (0..360).map(|i| (i as f64).to_radians()).collect();
    /// let g = ConeBeamGeometry::new(angles, 500.0, 1000.0, (64, 96), (1.0, 1.0), (0.0, 0.0)).unwrap();
    /// assert!((g.fan_angle_rad() - 2.0 * (48.0f64 / 1000.0).atan()).abs() < 1e-12);
    /// assert!(ConeBeamGeometry::new(vec![0.0], -1.0, 1000.0, (1, 1), (1.0, 1.0), (0.0, 0.0)).is_err());
    /// ```
    pub fn new(
        angles_rad: Vec<f64>,
        source_to_isocenter_mm: f64,
        source_to_detector_mm: f64,
        detector_shape: (usize, usize),
        detector_spacing_mm: (f64, f64),
        detector_offset_mm: (f64, f64),
    ) -> Result<Self> {
        let mut detector = Detector::new(
            detector_shape.0,
            detector_shape.1,
            detector_spacing_mm.0,
            detector_spacing_mm.1,
        );
        detector.row_offset_mm = detector_offset_mm.0;
        detector.col_offset_mm = detector_offset_mm.1;
        let g = Self {
            angles_rad,
            source_to_isocenter_mm,
            source_to_detector_mm,
            detector,
        };
        g.validate()?;
        Ok(g)
    }

    /// Full fan angle in radians subtended by the detector columns at the source
    /// (largest |u| on either side, offsets included, times two).
    pub fn fan_angle_rad(&self) -> f64 {
        fan_angle(&self.detector, self.source_to_detector_mm)
    }

    fn validate(&self) -> Result<()> {
        validate_angles(&self.angles_rad)?;
        validate_distances(self.source_to_isocenter_mm, self.source_to_detector_mm)?;
        self.detector.validate()
    }

    /// Reads an RTK geometry file; the same as [`Geometry::from_rtk_xml`], which see.
    /// Returns a [`Geometry`] because RTK files can describe more than a circular cone
    /// beam (tilted detectors, source offsets, parallel beams).
    ///
    /// **Errors** as [`Geometry::from_rtk_xml`].
    pub fn from_rtk_xml(
        path: impl AsRef<Path>,
        detector_shape: (usize, usize),
        detector_spacing_mm: (f64, f64),
        projection_origin_mm: Option<(f64, f64)>,
    ) -> Result<Geometry> {
        Geometry::from_rtk_xml(
            path,
            detector_shape,
            detector_spacing_mm,
            projection_origin_mm,
        )
    }

    /// Parses RTK geometry XML text; see [`Geometry::from_rtk_xml_str`].
    ///
    /// **Errors** as [`Geometry::from_rtk_xml`].
    pub fn from_rtk_xml_str(
        text: &str,
        detector_shape: (usize, usize),
        detector_spacing_mm: (f64, f64),
        projection_origin_mm: Option<(f64, f64)>,
    ) -> Result<Geometry> {
        Geometry::from_rtk_xml_str(
            text,
            detector_shape,
            detector_spacing_mm,
            projection_origin_mm,
        )
    }
}

fn fan_angle(d: &Detector, sdd: f64) -> f64 {
    let half = (d.cols as f64) / 2.0 * d.col_spacing_mm;
    let reach = (d.col_offset_mm - half)
        .abs()
        .max((d.col_offset_mm + half).abs());
    2.0 * (reach / sdd).atan()
}

/// Whether rays diverge from a point source or travel in parallel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Beam {
    /// All rays of a view share one direction.
    Parallel,
    /// All rays of a view leave one source point.
    Cone,
}

/// One view in vector form; all vectors are world `(z, y, x)` mm.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ViewVectors {
    /// Cone beam: the source position. Parallel beam: the unit ray direction.
    pub source: [f64; 3],
    /// Centre of the detector.
    pub detector_center: [f64; 3],
    /// Step from one detector column to the next (length = column pitch).
    pub u: [f64; 3],
    /// Step from one detector row to the next (length = row pitch).
    pub v: [f64; 3],
}

/// General geometry: any source and detector pose per view (ASTRA's `cone_vec` /
/// `parallel3d_vec`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VectorGeometry {
    /// Cone or parallel rays.
    pub beam: Beam,
    /// Detector rows.
    pub rows: usize,
    /// Detector columns.
    pub cols: usize,
    /// One entry per view.
    pub views: Vec<ViewVectors>,
}

impl VectorGeometry {
    fn validate(&self) -> Result<()> {
        if self.views.is_empty() {
            return Err(Error::invalid("views", "[] (empty)", "at least one view"));
        }
        if self.rows == 0 || self.cols == 0 {
            return Err(Error::invalid(
                "detector_shape",
                format!("({}, {})", self.rows, self.cols),
                "at least one row and column",
            ));
        }
        for (i, w) in self.views.iter().enumerate() {
            let all = [w.source, w.detector_center, w.u, w.v];
            if all.iter().flatten().any(|x| !x.is_finite()) {
                return Err(Error::invalid(
                    format!("views[{i}]"),
                    format!("{w:?}"),
                    "finite vectors",
                ));
            }
            if norm(w.u) == 0.0
                || norm(w.v) == 0.0
                || norm(cross(w.u, w.v)) < 1e-12 * norm(w.u) * norm(w.v)
            {
                return Err(Error::invalid(
                    format!("views[{i}].u/v"),
                    format!("{:?} / {:?}", w.u, w.v),
                    "non-zero, non-parallel detector steps",
                ));
            }
            if self.beam == Beam::Parallel && norm(w.source) == 0.0 {
                return Err(Error::invalid(
                    format!("views[{i}].source"),
                    "zero vector",
                    "a non-zero ray direction",
                ));
            }
        }
        Ok(())
    }
}

/// A scan geometry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Geometry {
    /// Parallel beam (2D, or a stack of 2D rows).
    Parallel(ParallelBeamGeometry),
    /// 2D fan beam, flat detector.
    Fan(FanBeamGeometry),
    /// Circular cone beam.
    Cone(ConeBeamGeometry),
    /// Per-view vectors.
    Vector(VectorGeometry),
}

impl From<ParallelBeamGeometry> for Geometry {
    fn from(g: ParallelBeamGeometry) -> Self {
        Geometry::Parallel(g)
    }
}
impl From<FanBeamGeometry> for Geometry {
    fn from(g: FanBeamGeometry) -> Self {
        Geometry::Fan(g)
    }
}
impl From<ConeBeamGeometry> for Geometry {
    fn from(g: ConeBeamGeometry) -> Self {
        Geometry::Cone(g)
    }
}
impl From<VectorGeometry> for Geometry {
    fn from(g: VectorGeometry) -> Self {
        Geometry::Vector(g)
    }
}

impl Geometry {
    /// Checks every parameter; constructors and [`Geometry::from_json`] call this.
    ///
    /// **Errors** naming the first bad parameter.
    pub fn validate(&self) -> Result<()> {
        match self {
            Geometry::Parallel(g) => g.validate(),
            Geometry::Fan(g) => g.validate(),
            Geometry::Cone(g) => g.validate(),
            Geometry::Vector(g) => g.validate(),
        }
    }

    /// Number of views.
    pub fn n_views(&self) -> usize {
        match self {
            Geometry::Parallel(g) => g.angles_rad.len(),
            Geometry::Fan(g) => g.angles_rad.len(),
            Geometry::Cone(g) => g.angles_rad.len(),
            Geometry::Vector(g) => g.views.len(),
        }
    }

    /// `(rows, cols)` of the detector.
    pub fn detector_shape(&self) -> (usize, usize) {
        match self {
            Geometry::Parallel(g) => (g.detector.rows, g.detector.cols),
            Geometry::Fan(g) => (g.detector.rows, g.detector.cols),
            Geometry::Cone(g) => (g.detector.rows, g.detector.cols),
            Geometry::Vector(g) => (g.rows, g.cols),
        }
    }

    /// The shape `(views, rows, cols)` of this geometry's projections.
    pub fn projection_shape(&self) -> [usize; 3] {
        let (r, c) = self.detector_shape();
        [self.n_views(), r, c]
    }

    /// Parallel or diverging rays.
    pub fn beam(&self) -> Beam {
        match self {
            Geometry::Parallel(_) => Beam::Parallel,
            Geometry::Fan(_) | Geometry::Cone(_) => Beam::Cone,
            Geometry::Vector(g) => g.beam,
        }
    }

    /// Gantry angles in radians for circular geometries; `None` for the vector form.
    pub fn angles_rad(&self) -> Option<&[f64]> {
        match self {
            Geometry::Parallel(g) => Some(&g.angles_rad),
            Geometry::Fan(g) => Some(&g.angles_rad),
            Geometry::Cone(g) => Some(&g.angles_rad),
            Geometry::Vector(_) => None,
        }
    }

    /// Every view in vector form (see the module docs for the conventions).
    pub fn view_vectors(&self) -> Vec<ViewVectors> {
        let circular =
            |angles: &[f64], det: &Detector, sod: Option<(f64, f64)>| -> Vec<ViewVectors> {
                angles
                    .iter()
                    .map(|&t| {
                        let (s, c) = t.sin_cos();
                        let u_hat = [0.0, s, c]; // (z, y, x)
                        let v_hat = [1.0, 0.0, 0.0];
                        let (source, center) = match sod {
                            Some((sod, sdd)) => {
                                let odd = sdd - sod;
                                ([0.0, -sod * c, sod * s], [0.0, odd * c, -odd * s])
                            }
                            None => ([0.0, c, -s], [0.0, 0.0, 0.0]),
                        };
                        let center = add(
                            add(center, scale(u_hat, det.col_offset_mm)),
                            scale(v_hat, det.row_offset_mm),
                        );
                        ViewVectors {
                            source,
                            detector_center: center,
                            u: scale(u_hat, det.col_spacing_mm),
                            v: scale(v_hat, det.row_spacing_mm),
                        }
                    })
                    .collect()
            };
        match self {
            Geometry::Parallel(g) => circular(&g.angles_rad, &g.detector, None),
            Geometry::Fan(g) => circular(
                &g.angles_rad,
                &g.detector,
                Some((g.source_to_isocenter_mm, g.source_to_detector_mm)),
            ),
            Geometry::Cone(g) => circular(
                &g.angles_rad,
                &g.detector,
                Some((g.source_to_isocenter_mm, g.source_to_detector_mm)),
            ),
            Geometry::Vector(g) => g.views.clone(),
        }
    }

    /// The angular range a circular scan covers, radians: the span of the gantry angles
    /// plus one mean angular step (`(max − min) · n / (n − 1)`; 0 for a single view), so
    /// 360 views one degree apart cover 2π. `None` for the vector form. Useful to tell a
    /// short scan (about π plus the fan angle) from a full one.
    pub fn angular_range_rad(&self) -> Option<f64> {
        let a = self.angles_rad()?;
        let (lo, hi) = a
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| {
                (l.min(x), h.max(x))
            });
        let n = a.len() as f64;
        Some(if a.len() > 1 {
            (hi - lo) * n / (n - 1.0)
        } else {
            0.0
        })
    }

    /// Reads RTK's `ThreeDCircularProjectionGeometry` XML file (versions 2 and 3).
    ///
    /// RTK files do not describe the detector pixels, so give them: `detector_shape`
    /// `(rows, cols)`, `detector_spacing_mm` `(row, col)` pitch, and the origin of RTK's
    /// projection images `(v, u)` in mm (`None`: centred, `−(n − 1)/2 · spacing`, the usual
    /// choice).
    ///
    /// Elements outside `<Projection>` apply to every projection; as in RTK's reader a
    /// value stays in force until set again. `GantryAngle` (or the older `Angle`),
    /// `SourceToIsocenterDistance`, `SourceToDetectorDistance`, `ProjectionOffsetX/Y`,
    /// `OutOfPlaneAngle`, `InPlaneAngle` and `SourceOffsetX/Y` are read (angles in degrees,
    /// missing values 0); a `<Matrix>`, when present, must agree with them to 0.001 as RTK
    /// requires; collimation elements are ignored.
    ///
    /// The frames: RTK rotates about its `y` axis with the source at `+z_rtk` at angle 0,
    /// detector `u` along `x_rtk` and `v` along `y_rtk`. With `x_ours = x_rtk`,
    /// `y_ours = −z_rtk`, `z_ours = y_rtk`, RTK gantry angle φ° is our angle φ in radians,
    /// RTK's `u`/`v` are our columns/rows, `ProjectionOffsetX/Y` our column/row offsets
    /// (with centred projection origins), and RTK's volume array `(z, y, x)` is ours
    /// `(−y, z, x)` (numpy: `rtk = ours.transpose(1, 0, 2)[::-1]`).
    ///
    /// The result is [`Geometry::Cone`] (or [`Geometry::Fan`] for one row without row
    /// offset) when the file is a circular cone beam with fixed distances and offsets;
    /// [`Geometry::Parallel`] for `SourceToDetectorDistance = 0` without tilts and with
    /// fixed offsets; otherwise (out-of-plane or in-plane angles, source offsets, varying
    /// distances or offsets) the per-view [`Geometry::Vector`].
    ///
    /// **Errors** with [`Error::Io`] if the file cannot be read, [`Error::Format`] for
    /// malformed XML, a wrong root element, non-numbers, no projection, an inconsistent
    /// matrix; [`Error::Unsupported`] for another file version, a cylindrical detector, or a
    /// mix of parallel and divergent views; [`Error::InvalidParameter`] for a bad detector
    /// or degenerate views.
    ///
    /// # Example
    /// ```
    /// use ctscreen::Geometry;
    /// let xml = r#"<?xml version="1.0"?>
    /// <RTKThreeDCircularGeometry version="3">
    ///   <SourceToIsocenterDistance>500</SourceToIsocenterDistance>
    ///   <SourceToDetectorDistance>1000</SourceToDetectorDistance>
    ///   <Projection><GantryAngle>0</GantryAngle></Projection>
    ///   <Projection><GantryAngle>90</GantryAngle></Projection>
    /// </RTKThreeDCircularGeometry>"#;
    /// let g = Geometry::from_rtk_xml_str(xml, (16, 32), (1.0, 1.0), None).unwrap();
    /// assert!(matches!(g, Geometry::Cone(_)));
    /// assert!((g.angles_rad().unwrap()[1] - std::f64::consts::FRAC_PI_2).abs() < 1e-12);
    /// ```
    pub fn from_rtk_xml(
        path: impl AsRef<Path>,
        detector_shape: (usize, usize),
        detector_spacing_mm: (f64, f64),
        projection_origin_mm: Option<(f64, f64)>,
    ) -> Result<Self> {
        rtk::from_path(
            path.as_ref(),
            detector_shape,
            detector_spacing_mm,
            projection_origin_mm,
        )
    }

    /// [`Geometry::from_rtk_xml`] on XML text instead of a file.
    ///
    /// **Errors** as [`Geometry::from_rtk_xml`] (file errors name `<RTK geometry XML>`).
    pub fn from_rtk_xml_str(
        text: &str,
        detector_shape: (usize, usize),
        detector_spacing_mm: (f64, f64),
        projection_origin_mm: Option<(f64, f64)>,
    ) -> Result<Self> {
        rtk::from_str(
            text,
            Path::new("<RTK geometry XML>"),
            detector_shape,
            detector_spacing_mm,
            projection_origin_mm,
        )
    }

    /// Writes a circular geometry as RTK `ThreeDCircularProjectionGeometry` XML (version
    /// 3, with each projection's matrix, which RTK's reader requires), for RTK
    /// projection stacks whose origin is centred (`−(n − 1)/2 · spacing`). Gantry angles
    /// are written in degrees in `[0, 360)`; column/row offsets become
    /// `ProjectionOffsetX/Y`. A parallel beam is written with `SourceToDetectorDistance`
    /// 0 and RTK's plane source 10 m from the isocentre. The frame mapping is in
    /// [`Geometry::from_rtk_xml`]; reading the text back gives this geometry again.
    ///
    /// **Errors** with [`Error::Unsupported`] for [`Geometry::Vector`], and if the
    /// geometry is invalid.
    pub fn to_rtk_xml(&self) -> Result<String> {
        rtk::to_string(self)
    }

    /// Serialises to JSON (angles in radians, field `angles_rad`).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("geometry serialises")
    }

    /// Parses JSON written by [`Geometry::to_json`]. Circular geometries may give
    /// `"angles_deg"` instead of `"angles_rad"`.
    ///
    /// **Errors** with [`Error::InvalidParameter`] on malformed JSON or bad values.
    pub fn from_json(text: &str) -> Result<Self> {
        let mut value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| Error::invalid("geometry JSON", e, "a JSON object"))?;
        if let Some(obj) = value.as_object_mut() {
            if let Some(deg) = obj.remove("angles_deg") {
                if obj.contains_key("angles_rad") {
                    return Err(Error::invalid(
                        "geometry JSON",
                        "both angles_deg and angles_rad",
                        "one of them",
                    ));
                }
                let list = deg
                    .as_array()
                    .ok_or_else(|| Error::invalid("angles_deg", &deg, "a list of numbers"))?
                    .iter()
                    .map(|x| {
                        x.as_f64()
                            .map(f64::to_radians)
                            .ok_or_else(|| Error::invalid("angles_deg", x, "a number"))
                    })
                    .collect::<Result<Vec<f64>>>()?;
                obj.insert("angles_rad".into(), serde_json::json!(list));
            }
        }
        let g: Geometry = serde_json::from_value(value)
            .map_err(|e| Error::invalid("geometry JSON", e, "a ctscreen geometry"))?;
        g.validate()?;
        Ok(g)
    }
}

/// World position `(z, y, x)` mm of the centre of detector pixel `(row, col)` in `view`,
/// for a detector of `rows × cols`.
pub fn pixel_center(view: &ViewVectors, rows: usize, cols: usize, row: f64, col: f64) -> [f64; 3] {
    let cu = col - (cols as f64 - 1.0) / 2.0;
    let cv = row - (rows as f64 - 1.0) / 2.0;
    add(
        add(view.detector_center, scale(view.u, cu)),
        scale(view.v, cv),
    )
}

/// The ray through detector pixel `(row, col)`: a point on it and its unit direction
/// (from the source side towards the detector), world `(z, y, x)` mm.
pub fn ray(
    beam: Beam,
    view: &ViewVectors,
    rows: usize,
    cols: usize,
    row: f64,
    col: f64,
) -> ([f64; 3], [f64; 3]) {
    let p = pixel_center(view, rows, cols, row, col);
    match beam {
        Beam::Parallel => (p, normalize(view.source)),
        Beam::Cone => (view.source, normalize(sub(p, view.source))),
    }
}

pub(crate) fn add(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}
pub(crate) fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}
pub(crate) fn scale(a: [f64; 3], s: f64) -> [f64; 3] {
    [a[0] * s, a[1] * s, a[2] * s]
}
pub(crate) fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
pub(crate) fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}
pub(crate) fn norm(a: [f64; 3]) -> f64 {
    dot(a, a).sqrt()
}
pub(crate) fn normalize(a: [f64; 3]) -> [f64; 3] {
    scale(a, 1.0 / norm(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cone() -> ConeBeamGeometry {
        ConeBeamGeometry::new(
            vec![0.0, 0.5, 2.0],
            400.0,
            800.0,
            (8, 16),
            (1.5, 1.0),
            (2.0, -3.0),
        )
        .unwrap()
    }

    #[test]
    fn json_round_trip_and_degrees() {
        let g: Geometry = cone().into();
        let back = Geometry::from_json(&g.to_json()).unwrap();
        assert_eq!(g, back);
        // full-precision angles survive exactly
        let angles: Vec<f64> = (0..50)
            .map(|i| i as f64 * std::f64::consts::PI / 49.0)
            .collect();
        let p: Geometry = ParallelBeamGeometry::new(angles, 8, 0.3, 1).unwrap().into();
        assert_eq!(Geometry::from_json(&p.to_json()).unwrap(), p);
        let text = r#"{"type":"parallel","angles_deg":[0,90],"detector":{"rows":1,"cols":4,"row_spacing_mm":1,"col_spacing_mm":1}}"#;
        let p = Geometry::from_json(text).unwrap();
        assert!((p.angles_rad().unwrap()[1] - std::f64::consts::FRAC_PI_2).abs() < 1e-15);
    }

    #[test]
    fn bad_values_are_named() {
        let e = ConeBeamGeometry::new(vec![0.0], 500.0, 400.0, (1, 1), (1.0, 1.0), (0.0, 0.0))
            .unwrap_err();
        assert!(e.to_string().contains("source_to_detector_mm"), "{e}");
        let e = ParallelBeamGeometry::new(vec![], 4, 1.0, 1).unwrap_err();
        assert!(e.to_string().contains("angles"), "{e}");
        let e = ParallelBeamGeometry::new(vec![f64::NAN], 4, 1.0, 1).unwrap_err();
        assert!(e.to_string().contains("NaN"), "{e}");
        let e = ParallelBeamGeometry::new(vec![0.0], 4, -1.0, 1).unwrap_err();
        assert!(e.to_string().contains("spacing"), "{e}");
        let text = r#"{"type":"cone","angles_rad":[0],"source_to_isocenter_mm":-5,"source_to_detector_mm":10,"detector":{"rows":1,"cols":4,"row_spacing_mm":1,"col_spacing_mm":1}}"#;
        assert!(Geometry::from_json(text)
            .unwrap_err()
            .to_string()
            .contains("source_to_isocenter_mm"));
    }

    #[test]
    fn central_ray_passes_through_isocentre_and_distances_hold() {
        let mut g = cone();
        g.detector.row_offset_mm = 0.0;
        g.detector.col_offset_mm = 0.0;
        g.detector.cols = 17;
        g.detector.rows = 9;
        let geom: Geometry = g.clone().into();
        for view in geom.view_vectors() {
            assert!((norm(view.source) - 400.0).abs() < 1e-9);
            assert!((norm(sub(view.detector_center, view.source)) - 800.0).abs() < 1e-9);
            let (o, d) = ray(Beam::Cone, &view, 9, 17, 4.0, 8.0);
            // distance from the isocentre to the central ray
            let t = -dot(o, d);
            assert!(norm(add(o, scale(d, t))) < 1e-9);
            assert!(dot(view.u, view.v).abs() < 1e-12);
        }
        // θ = 0: source on −y, +u along +x.
        let v0 = geom.view_vectors()[0];
        assert!((v0.source[1] + 400.0).abs() < 1e-12 && v0.u[2] > 0.0);
    }
}
