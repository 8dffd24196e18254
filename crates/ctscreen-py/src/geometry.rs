//! Scan geometries: `ctscreen.Geometry` and its subclasses `ParallelBeamGeometry`,
//! `FanBeamGeometry`, `ConeBeamGeometry` and `VectorGeometry`, over the core's
//! `ctscreen::Geometry`. Other bindings take a geometry argument with
//! [`extract_geometry`].
use numpy::{AllowTypeChange, IntoPyArray, PyArray1, PyArray2, PyArrayLike1, PyArrayLike2};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use pyo3::PyClassInitializer;

use crate::errors::IntoPyResult;
use ctscreen::geometry::{
    Beam, ConeBeamGeometry, Detector, FanBeamGeometry, Geometry, ParallelBeamGeometry,
    VectorGeometry, ViewVectors,
};

/// Base class of every scan geometry (world frame: (z, y, x) mm, rotation about z; see
/// the subclasses). Not constructed directly.
///
/// Every geometry has the projection shape (views, rows, cols), its views in vector form,
/// JSON and RTK-XML serialisation, and pickles.
#[pyclass(name = "Geometry", module = "ctscreen", subclass, frozen)]
#[derive(Clone)]
pub struct PyGeometry {
    pub inner: Geometry,
}

/// The core geometry behind any `ctscreen.Geometry` object.
///
/// Raises `TypeError` if `obj` is not a geometry.
pub fn extract_geometry(obj: &Bound<'_, PyAny>) -> PyResult<Geometry> {
    match obj.cast::<PyGeometry>() {
        Ok(g) => Ok(g.get().inner.clone()),
        Err(_) => Err(PyTypeError::new_err(format!(
            "geometry: expected a ctscreen geometry (ParallelBeamGeometry, FanBeamGeometry, ConeBeamGeometry or VectorGeometry), got {}",
            obj.get_type().name()?
        ))),
    }
}

/// Wraps a core geometry in the matching Python subclass.
pub fn wrap_geometry(py: Python<'_>, g: Geometry) -> PyResult<Py<PyAny>> {
    let base = PyClassInitializer::from(PyGeometry { inner: g.clone() });
    Ok(match g {
        Geometry::Parallel(_) => Py::new(py, base.add_subclass(PyParallel))?.into_any(),
        Geometry::Fan(_) => Py::new(py, base.add_subclass(PyFan))?.into_any(),
        Geometry::Cone(_) => Py::new(py, base.add_subclass(PyCone))?.into_any(),
        Geometry::Vector(_) => Py::new(py, base.add_subclass(PyVector))?.into_any(),
    })
}

fn detector(g: &Geometry) -> Option<&Detector> {
    match g {
        Geometry::Parallel(p) => Some(&p.detector),
        Geometry::Fan(f) => Some(&f.detector),
        Geometry::Cone(c) => Some(&c.detector),
        Geometry::Vector(_) => None,
    }
}

/// A pitch given as one number (rows and columns alike) or as (row, col).
fn pitch(obj: &Bound<'_, PyAny>) -> PyResult<(f64, f64)> {
    if let Ok(v) = obj.extract::<f64>() {
        return Ok((v, v));
    }
    obj.extract::<(f64, f64)>().map_err(|_| {
        PyTypeError::new_err("detector_spacing_mm: expected a float or a (row, col) pair of floats")
    })
}

fn angles_vec(angles: PyArrayLike1<'_, f64, AllowTypeChange>) -> Vec<f64> {
    angles.as_array().to_vec()
}

#[pymethods]
impl PyGeometry {
    /// numpy.ndarray or None : gantry angle of each view, radians (float64); None for a
    /// vector geometry.
    #[getter]
    fn angles<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyArray1<f64>>> {
        self.inner
            .angles_rad()
            .map(|a| ndarray::Array1::from(a.to_vec()).into_pyarray(py))
    }

    /// int : number of views.
    #[getter]
    fn n_views(&self) -> usize {
        self.inner.n_views()
    }

    /// tuple of 2 int : detector (rows, cols); rows run along the rotation axis z.
    #[getter]
    fn detector_shape(&self) -> (usize, usize) {
        self.inner.detector_shape()
    }

    /// tuple of 3 int : shape (views, rows, cols) of this geometry's projections.
    #[getter]
    fn projection_shape(&self) -> (usize, usize, usize) {
        let s = self.inner.projection_shape();
        (s[0], s[1], s[2])
    }

    /// str : "cone" (rays from a point source; fan beams too) or "parallel".
    #[getter]
    fn beam(&self) -> &'static str {
        match self.inner.beam() {
            Beam::Cone => "cone",
            Beam::Parallel => "parallel",
        }
    }

    /// float or None : angular range covered, radians: span of the angles plus one mean
    /// step (2π for a full scan of evenly spaced views); None for a vector geometry.
    #[getter]
    fn angular_range_rad(&self) -> Option<f64> {
        self.inner.angular_range_rad()
    }

    /// Every view in vector form.
    ///
    /// Returns
    /// -------
    /// numpy.ndarray, shape (views, 12), float64
    ///     Per view: source (cone beam; the unit ray direction for parallel beams),
    ///     detector centre, column step u and row step v, each as world (z, y, x) in mm.
    fn view_vectors<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<f64>> {
        vectors_array(&self.inner.view_vectors()).into_pyarray(py)
    }

    /// Serialises the geometry to JSON (angles in radians).
    ///
    /// Returns
    /// -------
    /// str
    fn to_json(&self) -> String {
        self.inner.to_json()
    }

    /// Parses JSON written by `to_json` (circular geometries may give "angles_deg").
    ///
    /// Parameters
    /// ----------
    /// text : str
    ///
    /// Returns
    /// -------
    /// Geometry
    ///     A ParallelBeamGeometry, FanBeamGeometry, ConeBeamGeometry or VectorGeometry.
    ///
    /// Raises
    /// ------
    /// ValueError
    ///     On malformed JSON or invalid values.
    #[staticmethod]
    fn from_json(py: Python<'_>, text: &str) -> PyResult<Py<PyAny>> {
        wrap_geometry(py, Geometry::from_json(text).py()?)
    }

    /// Reads RTK's ThreeDCircularProjectionGeometry XML file.
    ///
    /// RTK rotates about its y axis; ours is z. The frames map by x = x_rtk,
    /// y = -z_rtk, z = y_rtk with equal gantry angles (degrees in the file, radians
    /// here); RTK's detector u/v are our columns/rows and ProjectionOffsetX/Y our
    /// column/row offsets when RTK's projection images have a centred origin. An RTK
    /// volume array (z, y, x) is ours (-y, z, x): ``rtk = ours.transpose(1, 0, 2)[::-1]``.
    ///
    /// Parameters
    /// ----------
    /// path : str or os.PathLike
    ///     The XML file.
    /// detector_shape : tuple of 2 int
    ///     Detector (rows, cols) — RTK files do not record it.
    /// detector_spacing_mm : float or tuple of 2 float
    ///     Pixel pitch (row, col) in mm.
    /// projection_origin_mm : tuple of 2 float or None
    ///     Origin (v, u) in mm of RTK's projection images; None (default) for centred
    ///     images, -(n - 1) / 2 * spacing.
    ///
    /// Returns
    /// -------
    /// Geometry
    ///     ConeBeamGeometry (FanBeamGeometry for one row) for a circular scan,
    ///     ParallelBeamGeometry when SourceToDetectorDistance is 0, VectorGeometry when
    ///     the file has tilts, source offsets or varying distances or offsets.
    ///
    /// Raises
    /// ------
    /// OSError
    ///     If the file cannot be read, is malformed or its Matrix disagrees with its
    ///     parameters, or uses unsupported features (cylindrical detector).
    /// ValueError
    ///     For a bad detector shape or spacing.
    #[staticmethod]
    #[pyo3(signature = (path, detector_shape, detector_spacing_mm, projection_origin_mm = None))]
    fn from_rtk_xml(
        py: Python<'_>,
        path: std::path::PathBuf,
        detector_shape: (usize, usize),
        detector_spacing_mm: &Bound<'_, PyAny>,
        projection_origin_mm: Option<(f64, f64)>,
    ) -> PyResult<Py<PyAny>> {
        let spacing = pitch(detector_spacing_mm)?;
        let g = py
            .detach(|| Geometry::from_rtk_xml(&path, detector_shape, spacing, projection_origin_mm))
            .py()?;
        wrap_geometry(py, g)
    }

    /// Writes the geometry as RTK ThreeDCircularProjectionGeometry XML (version 3, with
    /// matrices), for RTK projection images with a centred origin. Parallel beams get
    /// SourceToDetectorDistance 0 and RTK's plane source 10 m from the isocentre.
    ///
    /// Parameters
    /// ----------
    /// path : str or os.PathLike or None
    ///     If given, the XML is also written to this file.
    ///
    /// Returns
    /// -------
    /// str
    ///     The XML text.
    ///
    /// Raises
    /// ------
    /// OSError
    ///     For a VectorGeometry (not expressible here) or if the file cannot be written.
    #[pyo3(signature = (path = None))]
    fn to_rtk_xml(&self, path: Option<std::path::PathBuf>) -> PyResult<String> {
        let text = self.inner.to_rtk_xml().py()?;
        if let Some(p) = path {
            std::fs::write(&p, &text)
                .map_err(|e| ctscreen::Error::io(&p, e))
                .py()?;
        }
        Ok(text)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        match other.cast::<PyGeometry>() {
            Ok(o) => o.get().inner == self.inner,
            Err(_) => false,
        }
    }

    fn __repr__(&self) -> String {
        let [v, r, c] = self.inner.projection_shape();
        match &self.inner {
            Geometry::Parallel(_) => format!("ParallelBeamGeometry(views={v}, rows={r}, cols={c})"),
            Geometry::Fan(f) => format!(
                "FanBeamGeometry(views={v}, cols={c}, source_to_isocenter_mm={}, source_to_detector_mm={})",
                f.source_to_isocenter_mm, f.source_to_detector_mm
            ),
            Geometry::Cone(g) => format!(
                "ConeBeamGeometry(views={v}, rows={r}, cols={c}, source_to_isocenter_mm={}, source_to_detector_mm={})",
                g.source_to_isocenter_mm, g.source_to_detector_mm
            ),
            Geometry::Vector(g) => format!(
                "VectorGeometry(beam={:?}, views={v}, rows={r}, cols={c})",
                g.beam
            ),
        }
    }

    /// Pickling: the subclass and its constructor arguments.
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let py = slf.py();
        let g = &slf.get().inner;
        let cls = slf.get_type().into_any();
        let args = match g {
            Geometry::Parallel(p) => (
                p.angles_rad.clone(),
                p.detector.cols,
                (p.detector.row_spacing_mm, p.detector.col_spacing_mm),
                p.detector.rows,
                (p.detector.row_offset_mm, p.detector.col_offset_mm),
            )
                .into_pyobject(py)?,
            Geometry::Fan(f) => (
                f.angles_rad.clone(),
                f.source_to_isocenter_mm,
                f.source_to_detector_mm,
                f.detector.cols,
                f.detector.col_spacing_mm,
                f.detector.col_offset_mm,
            )
                .into_pyobject(py)?,
            Geometry::Cone(c) => (
                c.angles_rad.clone(),
                c.source_to_isocenter_mm,
                c.source_to_detector_mm,
                (c.detector.rows, c.detector.cols),
                (c.detector.row_spacing_mm, c.detector.col_spacing_mm),
                (c.detector.row_offset_mm, c.detector.col_offset_mm),
            )
                .into_pyobject(py)?,
            Geometry::Vector(v) => (
                match v.beam {
                    Beam::Cone => "cone",
                    Beam::Parallel => "parallel",
                },
                (v.rows, v.cols),
                vectors_array(&v.views).into_pyarray(py),
            )
                .into_pyobject(py)?,
        };
        Ok((cls, args))
    }
}

fn vectors_array(views: &[ViewVectors]) -> ndarray::Array2<f64> {
    ndarray::Array2::from_shape_fn((views.len(), 12), |(i, k)| {
        let v = &views[i];
        [v.source, v.detector_center, v.u, v.v][k / 3][k % 3]
    })
}

fn circular<'a>(slf: &'a Bound<'_, PyGeometry>) -> &'a Geometry {
    &slf.get().inner
}

/// Parallel-beam geometry: 2D, or a stack of 2D parallel scans (one per detector row).
///
/// At gantry angle θ the rays travel along (x, y) = (-sin θ, cos θ); detector columns
/// step along (cos θ, sin θ) and rows along world z; the detector is centred on the
/// rotation axis (plus the offsets).
///
/// Parameters
/// ----------
/// angles : array_like of float
///     Gantry angle of each view, radians.
/// detector_cols : int
///     Detector columns.
/// detector_spacing_mm : float or tuple of 2 float
///     Pixel pitch in mm (one value for rows and columns, or (row, col)).
/// detector_rows : int, optional
///     Detector rows along z (1, the default, for a 2D sinogram).
/// detector_offset_mm : tuple of 2 float, optional
///     Shift (row, col) of the detector centre in mm. Default (0, 0).
///
/// Raises
/// ------
/// ValueError
///     If the angles are empty or not finite, or the detector is empty or has a pitch
///     that is not finite and positive.
#[pyclass(name = "ParallelBeamGeometry", module = "ctscreen", extends = PyGeometry, frozen)]
pub struct PyParallel;

#[pymethods]
impl PyParallel {
    #[new]
    #[pyo3(signature = (angles, detector_cols, detector_spacing_mm, detector_rows = 1, detector_offset_mm = (0.0, 0.0)))]
    fn new(
        angles: PyArrayLike1<'_, f64, AllowTypeChange>,
        detector_cols: usize,
        detector_spacing_mm: &Bound<'_, PyAny>,
        detector_rows: usize,
        detector_offset_mm: (f64, f64),
    ) -> PyResult<PyClassInitializer<Self>> {
        let (sr, sc) = pitch(detector_spacing_mm)?;
        let mut g =
            ParallelBeamGeometry::new(angles_vec(angles), detector_cols, sc, detector_rows).py()?;
        g.detector.row_spacing_mm = sr;
        g.detector.row_offset_mm = detector_offset_mm.0;
        g.detector.col_offset_mm = detector_offset_mm.1;
        let g = Geometry::Parallel(g);
        g.validate().py()?;
        Ok(PyClassInitializer::from(PyGeometry { inner: g }).add_subclass(PyParallel))
    }

    /// tuple of 2 float : pixel pitch (row, col) in mm.
    #[getter]
    fn detector_spacing_mm(slf: &Bound<'_, Self>) -> (f64, f64) {
        let d = detector(circular(slf.as_super())).expect("circular geometry");
        (d.row_spacing_mm, d.col_spacing_mm)
    }

    /// tuple of 2 float : shift (row, col) of the detector centre in mm.
    #[getter]
    fn detector_offset_mm(slf: &Bound<'_, Self>) -> (f64, f64) {
        let d = detector(circular(slf.as_super())).expect("circular geometry");
        (d.row_offset_mm, d.col_offset_mm)
    }
}

/// Fan-beam geometry with a flat detector of one row (2D).
///
/// At gantry angle θ the source sits at (x, y) = SOD (sin θ, -cos θ) and the detector
/// centre at (SDD - SOD) (-sin θ, cos θ); columns step along (cos θ, sin θ).
///
/// Parameters
/// ----------
/// angles : array_like of float
///     Gantry angle of each view, radians.
/// source_to_isocenter_mm : float
///     Source to rotation axis (SOD), mm.
/// source_to_detector_mm : float
///     Source to detector (SDD), mm; larger than SOD.
/// detector_cols : int
///     Detector columns.
/// detector_spacing_mm : float
///     Column pitch in mm.
/// detector_offset_mm : float, optional
///     Shift of the detector centre along the columns in mm. Default 0.
///
/// Raises
/// ------
/// ValueError
///     If the angles are empty or not finite, a distance is not finite and positive, SDD
///     does not exceed SOD, or the detector is empty.
#[pyclass(name = "FanBeamGeometry", module = "ctscreen", extends = PyGeometry, frozen)]
pub struct PyFan;

#[pymethods]
impl PyFan {
    #[new]
    #[pyo3(signature = (angles, source_to_isocenter_mm, source_to_detector_mm, detector_cols, detector_spacing_mm, detector_offset_mm = 0.0))]
    fn new(
        angles: PyArrayLike1<'_, f64, AllowTypeChange>,
        source_to_isocenter_mm: f64,
        source_to_detector_mm: f64,
        detector_cols: usize,
        detector_spacing_mm: f64,
        detector_offset_mm: f64,
    ) -> PyResult<PyClassInitializer<Self>> {
        let mut g = FanBeamGeometry::new(
            angles_vec(angles),
            source_to_isocenter_mm,
            source_to_detector_mm,
            detector_cols,
            detector_spacing_mm,
        )
        .py()?;
        g.detector.col_offset_mm = detector_offset_mm;
        let g = Geometry::Fan(g);
        g.validate().py()?;
        Ok(PyClassInitializer::from(PyGeometry { inner: g }).add_subclass(PyFan))
    }

    /// float : source to rotation axis, mm.
    #[getter]
    fn source_to_isocenter_mm(slf: &Bound<'_, Self>) -> f64 {
        match circular(slf.as_super()) {
            Geometry::Fan(f) => f.source_to_isocenter_mm,
            _ => unreachable!("FanBeamGeometry holds a fan beam"),
        }
    }

    /// float : source to detector, mm.
    #[getter]
    fn source_to_detector_mm(slf: &Bound<'_, Self>) -> f64 {
        match circular(slf.as_super()) {
            Geometry::Fan(f) => f.source_to_detector_mm,
            _ => unreachable!("FanBeamGeometry holds a fan beam"),
        }
    }

    /// float : column pitch in mm.
    #[getter]
    fn detector_spacing_mm(slf: &Bound<'_, Self>) -> f64 {
        detector(circular(slf.as_super()))
            .expect("circular geometry")
            .col_spacing_mm
    }

    /// float : shift of the detector centre along the columns, mm.
    #[getter]
    fn detector_offset_mm(slf: &Bound<'_, Self>) -> f64 {
        detector(circular(slf.as_super()))
            .expect("circular geometry")
            .col_offset_mm
    }
}

/// Circular cone-beam geometry with the parameters of RTK's
/// ThreeDCircularProjectionGeometry (in-plane rotation about world z).
///
/// At gantry angle θ the source sits at (x, y, z) = (SOD sin θ, -SOD cos θ, 0) and the
/// detector centre at (SDD - SOD) (-sin θ, cos θ, 0) plus the offsets; columns step along
/// (cos θ, sin θ, 0), rows along +z.
///
/// Parameters
/// ----------
/// angles : array_like of float
///     Gantry angle of each view, radians.
/// source_to_isocenter_mm : float
///     Source to rotation axis (SOD), mm.
/// source_to_detector_mm : float
///     Source to detector plane (SDD), mm; larger than SOD.
/// detector_shape : tuple of 2 int
///     Detector (rows, cols).
/// detector_spacing_mm : float or tuple of 2 float
///     Pixel pitch (row, col) in mm.
/// detector_offset_mm : tuple of 2 float, optional
///     Shift (row, col) of the detector centre in mm (RTK's ProjectionOffsetY/X).
///     Default (0, 0).
///
/// Raises
/// ------
/// ValueError
///     If the angles are empty or not finite, a distance is not finite and positive, SDD
///     does not exceed SOD, the detector is empty or an offset is not finite.
#[pyclass(name = "ConeBeamGeometry", module = "ctscreen", extends = PyGeometry, frozen)]
pub struct PyCone;

#[pymethods]
impl PyCone {
    #[new]
    #[pyo3(signature = (angles, source_to_isocenter_mm, source_to_detector_mm, detector_shape, detector_spacing_mm, detector_offset_mm = (0.0, 0.0)))]
    fn new(
        angles: PyArrayLike1<'_, f64, AllowTypeChange>,
        source_to_isocenter_mm: f64,
        source_to_detector_mm: f64,
        detector_shape: (usize, usize),
        detector_spacing_mm: &Bound<'_, PyAny>,
        detector_offset_mm: (f64, f64),
    ) -> PyResult<PyClassInitializer<Self>> {
        let g = ConeBeamGeometry::new(
            angles_vec(angles),
            source_to_isocenter_mm,
            source_to_detector_mm,
            detector_shape,
            pitch(detector_spacing_mm)?,
            detector_offset_mm,
        )
        .py()?;
        Ok(PyClassInitializer::from(PyGeometry { inner: g.into() }).add_subclass(PyCone))
    }

    /// float : source to rotation axis, mm.
    #[getter]
    fn source_to_isocenter_mm(slf: &Bound<'_, Self>) -> f64 {
        match circular(slf.as_super()) {
            Geometry::Cone(c) => c.source_to_isocenter_mm,
            _ => unreachable!("ConeBeamGeometry holds a cone beam"),
        }
    }

    /// float : source to detector plane, mm.
    #[getter]
    fn source_to_detector_mm(slf: &Bound<'_, Self>) -> f64 {
        match circular(slf.as_super()) {
            Geometry::Cone(c) => c.source_to_detector_mm,
            _ => unreachable!("ConeBeamGeometry holds a cone beam"),
        }
    }

    /// tuple of 2 float : pixel pitch (row, col) in mm.
    #[getter]
    fn detector_spacing_mm(slf: &Bound<'_, Self>) -> (f64, f64) {
        let d = detector(circular(slf.as_super())).expect("circular geometry");
        (d.row_spacing_mm, d.col_spacing_mm)
    }

    /// tuple of 2 float : shift (row, col) of the detector centre in mm.
    #[getter]
    fn detector_offset_mm(slf: &Bound<'_, Self>) -> (f64, f64) {
        let d = detector(circular(slf.as_super())).expect("circular geometry");
        (d.row_offset_mm, d.col_offset_mm)
    }

    /// float : full fan angle in radians subtended by the detector columns at the source.
    #[getter]
    fn fan_angle_rad(slf: &Bound<'_, Self>) -> f64 {
        match circular(slf.as_super()) {
            Geometry::Cone(c) => c.fan_angle_rad(),
            _ => unreachable!("ConeBeamGeometry holds a cone beam"),
        }
    }
}

/// General geometry: any source and detector pose per view (like ASTRA's cone_vec and
/// parallel3d_vec), world (z, y, x) mm.
///
/// Parameters
/// ----------
/// beam : {"cone", "parallel"}
///     Rays from a point source, or parallel rays.
/// detector_shape : tuple of 2 int
///     Detector (rows, cols).
/// vectors : array_like, shape (views, 12)
///     Per view: source position (cone) or ray direction (parallel), detector centre,
///     column step u and row step v (lengths = pixel pitches), each (z, y, x) in mm.
///
/// Raises
/// ------
/// ValueError
///     On an unknown beam, an empty detector, non-finite vectors or degenerate views.
#[pyclass(name = "VectorGeometry", module = "ctscreen", extends = PyGeometry, frozen)]
pub struct PyVector;

#[pymethods]
impl PyVector {
    #[new]
    fn new(
        beam: &str,
        detector_shape: (usize, usize),
        vectors: PyArrayLike2<'_, f64, AllowTypeChange>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let beam = match beam {
            "cone" => Beam::Cone,
            "parallel" => Beam::Parallel,
            other => {
                return Err(PyValueError::new_err(format!(
                    "invalid beam: {other:?} (expected \"cone\" or \"parallel\")"
                )))
            }
        };
        let a = vectors.as_array();
        if a.ncols() != 12 {
            return Err(PyValueError::new_err(format!(
                "shape mismatch in vectors: expected (views, 12), found {:?}",
                a.shape()
            )));
        }
        let views = a
            .rows()
            .into_iter()
            .map(|r| {
                let t = |k: usize| [r[3 * k], r[3 * k + 1], r[3 * k + 2]];
                ViewVectors {
                    source: t(0),
                    detector_center: t(1),
                    u: t(2),
                    v: t(3),
                }
            })
            .collect();
        let g = Geometry::Vector(VectorGeometry {
            beam,
            rows: detector_shape.0,
            cols: detector_shape.1,
            views,
        });
        g.validate().py()?;
        Ok(PyClassInitializer::from(PyGeometry { inner: g }).add_subclass(PyVector))
    }
}

/// Registers the classes.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyGeometry>()?;
    m.add_class::<PyParallel>()?;
    m.add_class::<PyFan>()?;
    m.add_class::<PyCone>()?;
    m.add_class::<PyVector>()?;
    Ok(())
}
