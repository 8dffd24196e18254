//! RTK's `ThreeDCircularProjectionGeometry` XML files, read and written.
//!
//! # RTK's frame and ours
//!
//! RTK (after IEC 61217) rotates its gantry about its fixed `y` axis. With every
//! parameter zero, the source sits at `+z_rtk` (`SourceToIsocenterDistance`), the
//! detector plane at `z_rtk = SID − SDD`, detector coordinate `u` runs along `+x_rtk` and
//! `v` along `+y_rtk`. The per-view rotation `M_R = Rz(−InPlane) · Rx(−OutOfPlane) ·
//! Ry(−Gantry)` maps fixed coordinates to the rotated (detector) frame, where the source
//! is at `(SourceOffsetX, SourceOffsetY, SID)` and detector coordinate `(u, v)` at
//! `(ProjectionOffsetX + u, ProjectionOffsetY + v, SID − SDD)`.
//!
//! Our frame rotates about world `z` (see the [`super`] module docs). The proper rotation
//!
//! ```text
//! x_ours = x_rtk,   y_ours = −z_rtk,   z_ours = y_rtk
//! ```
//!
//! maps RTK's frame onto ours so that gantry angle `φ` degrees is our angle `θ = φ` (in
//! radians): RTK's source `SID (sin φ, 0, cos φ)` becomes ours `(x, y) = SOD (sin θ,
//! −cos θ)`, RTK's `u = (cos φ, 0, −sin φ)` becomes our `u = (cos θ, sin θ)`, and `v`
//! (RTK `+y`) becomes our `+z`, the detector rows. An RTK volume array `(z_rtk, y_rtk,
//! x_rtk)` is therefore our `(−y, z, x)`: `ours = rtk.transpose(1, 0, 2)` flipped along
//! `y`, or `rtk = ours.transpose(1, 0, 2)[::-1]` in numpy, with origins mapped alike.
//!
//! RTK's projection stack is an ITK image whose pixel `(i, j)` lies at detector
//! coordinates `origin + (i, j) · spacing`. Our pixel `(r, c)` lies at `(c − (cols − 1)/2)`
//! column pitches (plus the column offset) from the detector centre. With RTK's
//! projection origin centred (`−(n − 1)/2 · spacing`, the default assumed here) our
//! column and row offsets are exactly `ProjectionOffsetX` and `ProjectionOffsetY`, and
//! the arrays `(views, rows, cols)` coincide.
//!
//! A parallel geometry is RTK's `SourceToDetectorDistance = 0`.

use std::path::Path;

use quick_xml::events::Event;

use super::{
    Beam, ConeBeamGeometry, Detector, FanBeamGeometry, Geometry, ParallelBeamGeometry,
    VectorGeometry, ViewVectors,
};
use crate::{Error, Result};

/// The nine parameters of one RTK projection (angles in degrees, distances in mm).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct RtkProjection {
    gantry_deg: f64,
    sid: f64,
    sdd: f64,
    po_x: f64,
    po_y: f64,
    out_of_plane_deg: f64,
    in_plane_deg: f64,
    so_x: f64,
    so_y: f64,
}

type Mat3 = [[f64; 3]; 3];

fn mat_mul(a: &Mat3, b: &Mat3) -> Mat3 {
    std::array::from_fn(|r| std::array::from_fn(|c| (0..3).map(|k| a[r][k] * b[k][c]).sum()))
}

fn mat_vec(a: &Mat3, v: [f64; 3]) -> [f64; 3] {
    std::array::from_fn(|r| (0..3).map(|k| a[r][k] * v[k]).sum())
}

fn transpose(a: &Mat3) -> Mat3 {
    std::array::from_fn(|r| std::array::from_fn(|c| a[c][r]))
}

/// `M_R`: fixed RTK coordinates → rotated (detector) frame.
fn rotation(p: &RtkProjection) -> Mat3 {
    let (sg, cg) = (-p.gantry_deg.to_radians()).sin_cos();
    let (so, co) = (-p.out_of_plane_deg.to_radians()).sin_cos();
    let (si, ci) = (-p.in_plane_deg.to_radians()).sin_cos();
    let rz = [[ci, -si, 0.0], [si, ci, 0.0], [0.0, 0.0, 1.0]];
    let rx = [[1.0, 0.0, 0.0], [0.0, co, -so], [0.0, so, co]];
    let ry = [[cg, 0.0, sg], [0.0, 1.0, 0.0], [-sg, 0.0, cg]];
    mat_mul(&rz, &mat_mul(&rx, &ry))
}

/// RTK's 3×4 projection matrix of a view (as written in the `Matrix` element).
fn projection_matrix(p: &RtkProjection) -> [[f64; 4]; 3] {
    let r = rotation(p);
    let mut m = [[0.0; 4]; 3];
    if p.sdd == 0.0 {
        // parallel: [1 0 0 −POx; 0 1 0 −POy; 0 0 0 1] · M_R
        for c in 0..3 {
            m[0][c] = r[0][c];
            m[1][c] = r[1][c];
        }
        m[0][3] = -p.po_x;
        m[1][3] = -p.po_y;
        m[2][3] = 1.0;
        return m;
    }
    // T2 · Mag · T3 · M_R, written out row by row.
    let (dx, dy) = (p.so_x - p.po_x, p.so_y - p.po_y);
    for c in 0..3 {
        m[0][c] = -p.sdd * r[0][c] + dx * r[2][c];
        m[1][c] = -p.sdd * r[1][c] + dy * r[2][c];
        m[2][c] = r[2][c];
    }
    m[0][3] = p.sdd * p.so_x - dx * p.sid;
    m[1][3] = p.sdd * p.so_y - dy * p.sid;
    m[2][3] = -p.sid;
    m
}

/// RTK fixed `(x, y, z)` → ours `(z, y, x)`.
fn rtk_to_ours(v: [f64; 3]) -> [f64; 3] {
    [v[1], -v[2], v[0]]
}

fn format_err(path: &Path, message: impl Into<String>) -> Error {
    Error::format(path, message)
}

/// Parses the projections of an RTK geometry file. Elements outside a `Projection` set
/// values for all following projections; elements inside one also stay in force for the
/// next projections, as in RTK's reader.
fn parse(text: &str, path: &Path) -> Result<Vec<RtkProjection>> {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<String> = Vec::new();
    let mut buf = String::new();
    let mut cur = RtkProjection::default();
    let mut matrix: Option<[[f64; 4]; 3]> = None;
    let mut out = Vec::new();
    let mut saw_root = false;
    loop {
        let ev = reader.read_event().map_err(|e| {
            format_err(
                path,
                format!("malformed XML at byte {}: {e}", reader.error_position()),
            )
        })?;
        match ev {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if stack.is_empty() {
                    if name != "RTKThreeDCircularGeometry" {
                        return Err(format_err(
                            path,
                            format!("root element <{name}>, expected <RTKThreeDCircularGeometry>"),
                        ));
                    }
                    saw_root = true;
                    for attr in e.attributes().flatten() {
                        if attr.key.as_ref() == b"version" {
                            let v = String::from_utf8_lossy(&attr.value).into_owned();
                            if v != "2" && v != "3" {
                                return Err(Error::Unsupported {
                                    path: path.to_path_buf(),
                                    what: format!("RTK geometry version {v} (expected 2 or 3)"),
                                });
                            }
                        }
                    }
                }
                if name == "Projection" {
                    matrix = None;
                }
                stack.push(name);
                buf.clear();
            }
            Event::Text(t) => {
                let s = t
                    .decode()
                    .map_err(|e| format_err(path, format!("bad text: {e}")))?;
                buf.push_str(&s);
            }
            Event::End(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if stack.pop().as_deref() != Some(name.as_str()) {
                    return Err(format_err(path, format!("unexpected </{name}>")));
                }
                let number = |buf: &str| -> Result<f64> {
                    let v: f64 = buf.trim().parse().map_err(|_| {
                        format_err(
                            path,
                            format!("<{name}> holds {:?}, expected a number", buf.trim()),
                        )
                    })?;
                    if !v.is_finite() {
                        return Err(format_err(path, format!("<{name}> is not finite: {v}")));
                    }
                    Ok(v)
                };
                match name.as_str() {
                    "GantryAngle" | "Angle" => cur.gantry_deg = number(&buf)?,
                    "InPlaneAngle" => cur.in_plane_deg = number(&buf)?,
                    "OutOfPlaneAngle" => cur.out_of_plane_deg = number(&buf)?,
                    "SourceToIsocenterDistance" => cur.sid = number(&buf)?,
                    "SourceToDetectorDistance" => cur.sdd = number(&buf)?,
                    "SourceOffsetX" => cur.so_x = number(&buf)?,
                    "SourceOffsetY" => cur.so_y = number(&buf)?,
                    "ProjectionOffsetX" => cur.po_x = number(&buf)?,
                    "ProjectionOffsetY" => cur.po_y = number(&buf)?,
                    "RadiusCylindricalDetector" if number(&buf)? != 0.0 => {
                        return Err(Error::Unsupported {
                            path: path.to_path_buf(),
                            what: format!(
                                "cylindrical detector (RadiusCylindricalDetector = {}); only flat panels",
                                buf.trim()
                            ),
                        });
                    }
                    "Matrix" => {
                        let vals: Vec<f64> = buf
                            .split_whitespace()
                            .map(|w| w.parse::<f64>())
                            .collect::<std::result::Result<_, _>>()
                            .map_err(|_| format_err(path, "<Matrix> holds a non-number"))?;
                        if vals.len() != 12 {
                            return Err(format_err(
                                path,
                                format!("<Matrix> holds {} numbers, expected 12 (3×4)", vals.len()),
                            ));
                        }
                        matrix = Some(std::array::from_fn(|r| {
                            std::array::from_fn(|c| vals[r * 4 + c])
                        }));
                    }
                    "Projection" => {
                        if let Some(m) = matrix {
                            let want = projection_matrix(&cur);
                            for r in 0..3 {
                                for c in 0..4 {
                                    if (m[r][c] - want[r][c]).abs() > 1e-3 {
                                        return Err(format_err(
                                            path,
                                            format!(
                                                "projection {}: <Matrix> {m:?} is not consistent with the parameters (they give {want:?})",
                                                out.len()
                                            ),
                                        ));
                                    }
                                }
                            }
                        }
                        out.push(cur);
                    }
                    // Collimation limits and unknown elements do not change the rays.
                    _ => {}
                }
                buf.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_root {
        return Err(format_err(path, "no <RTKThreeDCircularGeometry> element"));
    }
    if !stack.is_empty() {
        return Err(format_err(path, format!("unclosed <{}>", stack.join("><"))));
    }
    if out.is_empty() {
        return Err(format_err(path, "no <Projection> element"));
    }
    Ok(out)
}

/// Converts parsed projections to our geometry (see the module docs).
fn to_geometry(
    projs: &[RtkProjection],
    path: &Path,
    detector_shape: (usize, usize),
    detector_spacing_mm: (f64, f64),
    projection_origin_mm: Option<(f64, f64)>,
) -> Result<Geometry> {
    let (rows, cols) = detector_shape;
    let mut det = Detector::new(rows, cols, detector_spacing_mm.0, detector_spacing_mm.1);
    det.validate()?;
    // Where the detector centre is in RTK detector coordinates (u, v), before the
    // projection offsets.
    let (cv, cu) = match projection_origin_mm {
        Some((ov, ou)) => {
            if !ov.is_finite() || !ou.is_finite() {
                return Err(Error::invalid(
                    "projection_origin_mm",
                    format!("({ov}, {ou})"),
                    "finite (row, col) coordinates in mm",
                ));
            }
            (
                ov + (rows as f64 - 1.0) / 2.0 * det.row_spacing_mm,
                ou + (cols as f64 - 1.0) / 2.0 * det.col_spacing_mm,
            )
        }
        None => (0.0, 0.0),
    };
    let parallel = projs[0].sdd == 0.0;
    if projs.iter().any(|p| (p.sdd == 0.0) != parallel) {
        return Err(Error::Unsupported {
            path: path.to_path_buf(),
            what: "a mix of parallel (SourceToDetectorDistance = 0) and divergent projections"
                .into(),
        });
    }
    let first = projs[0];
    let angles: Vec<f64> = projs.iter().map(|p| p.gantry_deg.to_radians()).collect();
    let same = |f: fn(&RtkProjection) -> f64| projs.iter().all(|p| f(p) == f(&first));
    let untilted = projs
        .iter()
        .all(|p| p.in_plane_deg == 0.0 && p.out_of_plane_deg == 0.0);
    let fixed_offsets = same(|p| p.po_x) && same(|p| p.po_y);
    det.col_offset_mm = first.po_x + cu;
    det.row_offset_mm = first.po_y + cv;
    if parallel && untilted && fixed_offsets {
        return Ok(Geometry::Parallel(ParallelBeamGeometry {
            angles_rad: angles,
            detector: det,
        }));
    }
    let circular = untilted
        && fixed_offsets
        && projs.iter().all(|p| p.so_x == 0.0 && p.so_y == 0.0)
        && same(|p| p.sid)
        && same(|p| p.sdd)
        && first.sid > 0.0
        && first.sdd > first.sid;
    if !parallel && circular {
        if rows == 1 && det.row_offset_mm == 0.0 {
            let g = FanBeamGeometry {
                angles_rad: angles,
                source_to_isocenter_mm: first.sid,
                source_to_detector_mm: first.sdd,
                detector: det,
            };
            g.validate()?;
            return Ok(Geometry::Fan(g));
        }
        let g = ConeBeamGeometry {
            angles_rad: angles,
            source_to_isocenter_mm: first.sid,
            source_to_detector_mm: first.sdd,
            detector: det,
        };
        g.validate()?;
        return Ok(Geometry::Cone(g));
    }
    // Beyond the circular model: per-view vectors.
    let views = projs
        .iter()
        .map(|p| {
            let back = transpose(&rotation(p)); // rotated → fixed
            let to_world = |v: [f64; 3]| rtk_to_ours(mat_vec(&back, v));
            let u = to_world([det.col_spacing_mm, 0.0, 0.0]);
            let v = to_world([0.0, det.row_spacing_mm, 0.0]);
            if parallel {
                ViewVectors {
                    source: to_world([0.0, 0.0, -1.0]),
                    detector_center: to_world([p.po_x + cu, p.po_y + cv, 0.0]),
                    u,
                    v,
                }
            } else {
                ViewVectors {
                    source: to_world([p.so_x, p.so_y, p.sid]),
                    detector_center: to_world([p.po_x + cu, p.po_y + cv, p.sid - p.sdd]),
                    u,
                    v,
                }
            }
        })
        .collect();
    let g = Geometry::Vector(VectorGeometry {
        beam: if parallel { Beam::Parallel } else { Beam::Cone },
        rows,
        cols,
        views,
    });
    g.validate()?;
    Ok(g)
}

/// Reads RTK XML text (see [`Geometry::from_rtk_xml`]).
pub(super) fn from_str(
    text: &str,
    path: &Path,
    detector_shape: (usize, usize),
    detector_spacing_mm: (f64, f64),
    projection_origin_mm: Option<(f64, f64)>,
) -> Result<Geometry> {
    let projs = parse(text, path)?;
    to_geometry(
        &projs,
        path,
        detector_shape,
        detector_spacing_mm,
        projection_origin_mm,
    )
}

/// Distance RTK's plane source is placed at for parallel geometries we write: RTK
/// integrates between that plane and the detector at the same distance on the other side.
pub(super) const PARALLEL_SOURCE_DISTANCE_MM: f64 = 10_000.0;

/// Writes a circular geometry as RTK XML (see [`Geometry::to_rtk_xml`]).
pub(super) fn to_string(g: &Geometry) -> Result<String> {
    let (angles, sid, sdd, det) = match g {
        Geometry::Parallel(p) => (&p.angles_rad, PARALLEL_SOURCE_DISTANCE_MM, 0.0, &p.detector),
        Geometry::Fan(f) => (
            &f.angles_rad,
            f.source_to_isocenter_mm,
            f.source_to_detector_mm,
            &f.detector,
        ),
        Geometry::Cone(c) => (
            &c.angles_rad,
            c.source_to_isocenter_mm,
            c.source_to_detector_mm,
            &c.detector,
        ),
        Geometry::Vector(_) => {
            return Err(Error::Unsupported {
                path: Default::default(),
                what: "writing a vector geometry as RTK XML (only circular geometries)".into(),
            })
        }
    };
    g.validate()?;
    let mut s = String::from(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE RTKGEOMETRY>\n<RTKThreeDCircularGeometry version=\"3\">\n",
    );
    let mut global = |name: &str, v: f64| {
        if v != 0.0 {
            s.push_str(&format!("    <{name}>{v}</{name}>\n"));
        }
    };
    global("SourceToIsocenterDistance", sid);
    global("SourceToDetectorDistance", sdd);
    global("ProjectionOffsetX", det.col_offset_mm);
    global("ProjectionOffsetY", det.row_offset_mm);
    for &a in angles {
        let p = RtkProjection {
            gantry_deg: a.to_degrees().rem_euclid(360.0),
            sid,
            sdd,
            po_x: det.col_offset_mm,
            po_y: det.row_offset_mm,
            ..Default::default()
        };
        let m = projection_matrix(&p);
        s.push_str("  <Projection>\n");
        s.push_str(&format!(
            "    <GantryAngle>{}</GantryAngle>\n",
            p.gantry_deg
        ));
        s.push_str("    <Matrix>\n");
        for row in m {
            s.push_str("      ");
            for v in row {
                s.push_str(&format!(" {v:>24}"));
            }
            s.push('\n');
        }
        s.push_str("    </Matrix>\n  </Projection>\n");
    }
    s.push_str("</RTKThreeDCircularGeometry>\n");
    Ok(s)
}

/// Reads a file (see [`Geometry::from_rtk_xml`]).
pub(super) fn from_path(
    path: &Path,
    detector_shape: (usize, usize),
    detector_spacing_mm: (f64, f64),
    projection_origin_mm: Option<(f64, f64)>,
) -> Result<Geometry> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    from_str(
        &text,
        path,
        detector_shape,
        detector_spacing_mm,
        projection_origin_mm,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Written by RTK 2.x (itk-rtk) for `AddProjection(500, 1000, 10, 3, -2)` and
    /// `AddProjection(500, 1000, 50, 3, -2)`.
    const CIRCULAR: &str = r#"<?xml version="1.0"?>
<!DOCTYPE RTKGEOMETRY>
<RTKThreeDCircularGeometry version="3">
    <SourceToIsocenterDistance>500</SourceToIsocenterDistance>
    <SourceToDetectorDistance>1000</SourceToDetectorDistance>
    <ProjectionOffsetX>3</ProjectionOffsetX>
    <ProjectionOffsetY>-2</ProjectionOffsetY>
  <Projection>
    <GantryAngle>10</GantryAngle>
    <Matrix>
        -985.328697545209                   0    170.693754407894                1500
        0.347296355333861               -1000    1.96961550602442               -1000
         0.17364817766693                   0   0.984807753012208                -500
    </Matrix>
  </Projection>
  <Projection>
    <GantryAngle>50</GantryAngle>
    <Matrix>
        -645.085743015896                   0    764.116080289918                1500
         1.53208888623796               -1000    1.28557521937308               -1000
        0.766044443118978                   0   0.642787609686539                -500
    </Matrix>
  </Projection>
</RTKThreeDCircularGeometry>
"#;

    /// Written by RTK for `AddProjection(500, 1000, 10, 3, -2, 5, 7, 1.5, -0.5)` and
    /// `AddProjection(510, 1000, 50, 3, -2, 0, 0, 0, 0)`.
    const TILTED: &str = r#"<?xml version="1.0"?>
<!DOCTYPE RTKGEOMETRY>
<RTKThreeDCircularGeometry version="3">
    <SourceToDetectorDistance>1000</SourceToDetectorDistance>
    <ProjectionOffsetX>3</ProjectionOffsetX>
    <ProjectionOffsetY>-2</ProjectionOffsetY>
  <Projection>
    <GantryAngle>10</GantryAngle>
    <SourceToIsocenterDistance>500</SourceToIsocenterDistance>
    <SourceOffsetX>1.5</SourceOffsetX>
    <SourceOffsetY>-0.5</SourceOffsetY>
    <InPlaneAngle>7</InPlaneAngle>
    <OutOfPlaneAngle>5</OutOfPlaneAngle>
    <Matrix>
        -979.571050215796   -121.274860146009    160.421993117181                2250
         105.255729219648   -988.899947490572   -104.882674067663               -1250
        0.172987393925089 -0.0871557427476582   0.981060262190407                -500
    </Matrix>
  </Projection>
  <Projection>
    <GantryAngle>50</GantryAngle>
    <SourceToIsocenterDistance>510</SourceToIsocenterDistance>
    <SourceOffsetX>0</SourceOffsetX>
    <SourceOffsetY>0</SourceOffsetY>
    <InPlaneAngle>0</InPlaneAngle>
    <OutOfPlaneAngle>0</OutOfPlaneAngle>
    <Matrix>
        -645.085743015896                   0    764.116080289918                1530
         1.53208888623796               -1000    1.28557521937308               -1020
        0.766044443118978                   0   0.642787609686539                -510
    </Matrix>
  </Projection>
</RTKThreeDCircularGeometry>
"#;

    fn close(a: [f64; 3], b: [f64; 3], tol: f64) -> bool {
        (0..3).all(|i| (a[i] - b[i]).abs() <= tol * (1.0 + b[i].abs()))
    }

    #[test]
    fn circular_file_gives_cone_with_known_values() {
        let g = Geometry::from_rtk_xml_str(CIRCULAR, (4, 6), (1.0, 1.0), None).unwrap();
        let Geometry::Cone(c) = &g else {
            panic!("expected a cone beam, got {g:?}")
        };
        assert_eq!(c.source_to_isocenter_mm, 500.0);
        assert_eq!(c.source_to_detector_mm, 1000.0);
        assert_eq!(c.detector.col_offset_mm, 3.0);
        assert_eq!(c.detector.row_offset_mm, -2.0);
        assert!((c.angles_rad[0] - 10f64.to_radians()).abs() < 1e-15);
        assert!((c.angles_rad[1] - 50f64.to_radians()).abs() < 1e-15);
        // RTK's source at gantry φ: SID (sin φ, 0, cos φ) in its frame
        let phi = 10f64.to_radians();
        let rtk_source = [500.0 * phi.sin(), 0.0, 500.0 * phi.cos()];
        let v = g.view_vectors()[0];
        assert!(close(v.source, rtk_to_ours(rtk_source), 1e-12));
    }

    #[test]
    fn tilted_file_matches_rtk_source_and_detector() {
        let g = Geometry::from_rtk_xml_str(TILTED, (4, 6), (1.0, 1.0), None).unwrap();
        assert!(matches!(g, Geometry::Vector(_)), "{g:?}");
        let v = g.view_vectors();
        // Printed by RTK: GetSourcePosition(0) and the columns of
        // GetProjectionCoordinatesToFixedSystemMatrix(0) (u axis, v axis, origin), in
        // RTK's fixed frame.
        let src = [88.01516244, -43.89014759, 490.23411359];
        let u = [9.79311569e-01, 1.21405594e-01, -1.61893584e-01];
        let vv = [-1.04996248e-01, 9.88769214e-01, 1.06354264e-01];
        let origin = [-8.33457698e+01, 4.19645497e+01, -4.91228520e+02];
        assert!(close(v[0].source, rtk_to_ours(src), 1e-8));
        assert!(close(v[0].u, rtk_to_ours(u), 1e-8));
        assert!(close(v[0].v, rtk_to_ours(vv), 1e-8));
        assert!(close(v[0].detector_center, rtk_to_ours(origin), 1e-8));
        let src1 = [390.68266599, 0.0, 327.82168094];
        assert!(close(v[1].source, rtk_to_ours(src1), 1e-8));
        // in ours: the second view sits in the z = 0 plane, rotation about z
        assert_eq!(v[1].source[0], 0.0);
    }

    #[test]
    fn general_path_agrees_with_circular_cone() {
        // a tiny change of distance in the second view forces the vector form
        let tweaked = CIRCULAR
            .replace("<GantryAngle>50</GantryAngle>", "<GantryAngle>50</GantryAngle><SourceToIsocenterDistance>500.0000000001</SourceToIsocenterDistance>");
        let cone = Geometry::from_rtk_xml_str(CIRCULAR, (5, 7), (1.5, 1.2), None).unwrap();
        let vec = Geometry::from_rtk_xml_str(&tweaked, (5, 7), (1.5, 1.2), None).unwrap();
        assert!(matches!(vec, Geometry::Vector(_)));
        for (a, b) in cone.view_vectors().iter().zip(vec.view_vectors()) {
            assert!(close(a.source, b.source, 1e-9));
            assert!(close(a.detector_center, b.detector_center, 1e-9));
            assert!(close(a.u, b.u, 1e-12) && close(a.v, b.v, 1e-12));
        }
        // a projection origin that is not centred moves the detector centre
        let shifted =
            Geometry::from_rtk_xml_str(CIRCULAR, (5, 7), (1.5, 1.2), Some((-3.0, -3.6))).unwrap();
        let Geometry::Cone(c) = shifted else { panic!() };
        assert!((c.detector.col_offset_mm - 3.0).abs() < 1e-12); // −3.6 + 3 · 1.2 = 0
        assert!((c.detector.row_offset_mm - (-2.0)).abs() < 1e-12); // −3 + 2 · 1.5 = 0
    }

    #[test]
    fn write_then_read_round_trips() {
        let angles: Vec<f64> = vec![-0.3, 0.0, 1.0, 2.5, 7.0];
        let cone: Geometry = ConeBeamGeometry::new(
            angles.clone(),
            400.0,
            750.0,
            (8, 10),
            (1.5, 1.2),
            (0.5, -1.25),
        )
        .unwrap()
        .into();
        let par: Geometry = ParallelBeamGeometry::new(angles.clone(), 10, 0.7, 3)
            .unwrap()
            .into();
        let fan: Geometry = FanBeamGeometry::new(angles, 300.0, 600.0, 12, 1.1)
            .unwrap()
            .into();
        for g in [cone, par, fan] {
            let (rows, cols) = g.detector_shape();
            let spacing = match &g {
                Geometry::Cone(c) => (c.detector.row_spacing_mm, c.detector.col_spacing_mm),
                Geometry::Parallel(p) => (p.detector.row_spacing_mm, p.detector.col_spacing_mm),
                Geometry::Fan(f) => (f.detector.row_spacing_mm, f.detector.col_spacing_mm),
                Geometry::Vector(_) => unreachable!(),
            };
            let text = g.to_rtk_xml().unwrap();
            // our own matrices pass our reader's consistency check
            let back = Geometry::from_rtk_xml_str(&text, (rows, cols), spacing, None).unwrap();
            assert_eq!(
                std::mem::discriminant(&g),
                std::mem::discriminant(&back),
                "{text}"
            );
            for (a, b) in g.view_vectors().iter().zip(back.view_vectors()) {
                assert!(close(a.source, b.source, 1e-12), "{a:?} {b:?}");
                assert!(close(a.detector_center, b.detector_center, 1e-12));
                assert!(close(a.u, b.u, 1e-12) && close(a.v, b.v, 1e-12));
            }
        }
        let vector = Geometry::from_rtk_xml_str(TILTED, (4, 6), (1.0, 1.0), None).unwrap();
        assert!(matches!(
            vector.to_rtk_xml(),
            Err(Error::Unsupported { .. })
        ));
    }

    #[test]
    fn parallel_file_gives_parallel_beam() {
        let xml = r#"<RTKThreeDCircularGeometry version="3">
            <SourceToIsocenterDistance>1000</SourceToIsocenterDistance>
            <ProjectionOffsetX>0.5</ProjectionOffsetX>
            <Projection><GantryAngle>30</GantryAngle></Projection>
            <Projection><GantryAngle>120</GantryAngle></Projection>
        </RTKThreeDCircularGeometry>"#;
        let g = Geometry::from_rtk_xml_str(xml, (1, 16), (1.0, 1.0), None).unwrap();
        let Geometry::Parallel(p) = &g else {
            panic!("{g:?}")
        };
        assert_eq!(p.detector.col_offset_mm, 0.5);
        assert!((p.angles_rad[1] - 120f64.to_radians()).abs() < 1e-15);
        // the tilted parallel case becomes a vector geometry with parallel rays
        let tilted = xml.replace(
            "<Projection><GantryAngle>30</GantryAngle></Projection>",
            "<Projection><GantryAngle>30</GantryAngle><OutOfPlaneAngle>4</OutOfPlaneAngle></Projection>",
        );
        let g = Geometry::from_rtk_xml_str(&tilted, (1, 16), (1.0, 1.0), None).unwrap();
        assert_eq!(g.beam(), Beam::Parallel);
        assert!(matches!(g, Geometry::Vector(_)));
    }

    #[test]
    fn bad_files_are_refused() {
        let dims = ((4, 6), (1.0, 1.0));
        let read = |t: &str| Geometry::from_rtk_xml_str(t, dims.0, dims.1, None).unwrap_err();
        let e = read("<Other/>");
        assert!(e.to_string().contains("RTKThreeDCircularGeometry"), "{e}");
        let e = read(
            r#"<RTKThreeDCircularGeometry version="1"><Projection/></RTKThreeDCircularGeometry>"#,
        );
        assert!(matches!(e, Error::Unsupported { .. }), "{e}");
        let e = read(r#"<RTKThreeDCircularGeometry version="3"></RTKThreeDCircularGeometry>"#);
        assert!(e.to_string().contains("no <Projection>"), "{e}");
        let e = read(CIRCULAR.replace(">10<", ">ten<").as_str());
        assert!(
            e.to_string().contains("GantryAngle") && e.to_string().contains("ten"),
            "{e}"
        );
        // a matrix that disagrees with the parameters (RTK's 0.001 check)
        let e = read(CIRCULAR.replace(">10<", ">11<").as_str());
        assert!(e.to_string().contains("not consistent"), "{e}");
        let e = read(
            CIRCULAR
                .replace(
                    "<Projection>",
                    "<RadiusCylindricalDetector>1536</RadiusCylindricalDetector><Projection>",
                )
                .as_str(),
        );
        assert!(e.to_string().contains("cylindrical"), "{e}");
        let e = read(&CIRCULAR[..CIRCULAR.len() - 40]);
        assert!(matches!(e, Error::Format { .. }), "{e}");
        let e = Geometry::from_rtk_xml_str(CIRCULAR, (0, 6), (1.0, 1.0), None).unwrap_err();
        assert!(e.to_string().contains("detector_shape"), "{e}");
        let e = Geometry::from_rtk_xml("/nonexistent/geometry.xml", (4, 6), (1.0, 1.0), None)
            .unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e}");
    }
}
