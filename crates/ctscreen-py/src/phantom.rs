//! The scan simulator: `Parcel`, `Phantom`, `simulate`, `analytic_projections`, and the
//! helpers behind the `ctscreen.phantom` module (Shepp–Logan, materials, spectra).
use numpy::{IntoPyArray, PyArray1, PyArray2, PyArray3};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

use ctscreen::phantom::{
    self as ph, Attenuation, ContainerKind, ObjectClass, ParcelOptions, Primitive, Rotation, Shape,
    ThreatKind, Threats,
};
use ctscreen::physics::{self, DetectorResponse, Filtration, Material, SimulateOptions, Spectrum};

use crate::errors::IntoPyResult;
use crate::geometry::extract_geometry;
use crate::json::to_py_data;
use crate::run::run_cancellable;
use crate::volume::PyVolume;

fn truth_dict<'py>(py: Python<'py>, o: &ph::GroundTruthObject) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("label", o.label)?;
    d.set_item("cls", o.class.name())?;
    d.set_item("kind", &o.kind)?;
    d.set_item("material", o.material.name())?;
    d.set_item("bbox_mm", o.bbox_mm.to_vec())?;
    d.set_item("center_mm", o.center_mm.to_vec())?;
    d.set_item("size_mm", o.size_mm.to_vec())?;
    d.set_item("volume_mm3", o.volume_mm3)?;
    d.set_item("mass_g", o.mass_g)?;
    d.set_item("group", o.group)?;
    d.set_item("hidden_in", o.hidden_in)?;
    let f = PyDict::new(py);
    for (k, v) in &o.features {
        f.set_item(k, v)?;
    }
    d.set_item("features", f)?;
    Ok(d)
}

/// Reads the `threats` argument: "random" or None (random), one name, or a sequence
/// of names (empty for a benign parcel).
fn threats_arg(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Threats> {
    let Some(obj) = obj else {
        return Ok(Threats::Random);
    };
    if obj.is_none() {
        return Ok(Threats::Random);
    }
    if obj.cast::<PyString>().is_ok() {
        let s: String = obj.extract()?;
        if s.trim().eq_ignore_ascii_case("random") {
            return Ok(Threats::Random);
        }
        return Ok(Threats::Kinds(vec![ThreatKind::from_name(&s).py()?]));
    }
    let names: Vec<String> = obj.extract().map_err(|_| {
        PyTypeError::new_err(format!(
            "threats: expected \"random\", None or a list of threat names, got {}",
            obj.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))
    })?;
    let kinds = names
        .iter()
        .map(|n| ThreatKind::from_name(n))
        .collect::<ctscreen::Result<Vec<_>>>()
        .py()?;
    Ok(Threats::Kinds(kinds))
}

fn threats_to_py<'py>(py: Python<'py>, t: &Threats) -> PyResult<Bound<'py, PyAny>> {
    Ok(match t {
        Threats::Random => "random".into_pyobject(py)?.into_any(),
        Threats::Kinds(k) => PyList::new(py, k.iter().map(|k| k.name()))?.into_any(),
    })
}

fn default_energy(energy_kev: Option<f64>) -> f64 {
    energy_kev.unwrap_or_else(ph::default_energy_kev)
}

/// A generated parcel: an analytic scene of a box or envelope holding clutter, benign
/// metal and threats, with the ground truth of every object. Same arguments, same
/// parcel, on any machine and thread count.
///
/// Parameters
/// ----------
/// seed : int, optional
///     Seed of every random choice. Default 0.
/// threats : "random", None, str or list of str, optional
///     "random" or None (default): none with probability 1/4, else 1-3 distinct kinds.
///     A kind or a list of kinds; [] gives a benign parcel. Kinds: pistol_polymer
///     (alias "pistol"),
///     pistol_steel, revolver, barrel, slide, bolt, magazine, receiver,
///     cartridges_loose (alias "cartridges"), cartridges_boxed, knife.
/// hard_benign : bool, optional
///     Add tools, cutlery, coins, keys and machine parts. Default True.
/// container : str, optional
///     "random" (default), "box", "padded_envelope" or "polybag".
/// max_extent_mm : float or None, optional
///     Cap on every outer dimension of the container in mm (for small test volumes).
/// clutter : float, optional
///     Amount of clutter relative to the default (0 for none). Default 1.
/// hide_probability : float, optional
///     Probability that a threat is hidden in benign metal (a part inside a motor
///     housing, other threats among tools). Default 0.3.
///
/// Raises
/// ------
/// ValueError
///     On an unknown threat or container name, an option out of range, or threats that
///     cannot fit under max_extent_mm.
#[pyclass(name = "Parcel", module = "ctscreen", frozen)]
pub struct PyParcel {
    pub inner: ph::Parcel,
}

#[pymethods]
impl PyParcel {
    #[new]
    #[pyo3(signature = (seed = 0, threats = None, hard_benign = true, container = "random", max_extent_mm = None, clutter = 1.0, hide_probability = 0.3))]
    fn new(
        py: Python<'_>,
        seed: u64,
        threats: Option<&Bound<'_, PyAny>>,
        hard_benign: bool,
        container: &str,
        max_extent_mm: Option<f64>,
        clutter: f64,
        hide_probability: f64,
    ) -> PyResult<Self> {
        let threats = threats_arg(threats)?;
        let options = ParcelOptions {
            threats,
            hard_benign,
            container: ContainerKind::from_name(container).py()?,
            max_extent_mm,
            clutter,
            hide_probability,
        };
        let inner = py.detach(|| ph::parcel(seed, &options)).py()?;
        Ok(Self { inner })
    }

    /// int : the seed.
    #[getter]
    fn seed(&self) -> u64 {
        self.inner.seed
    }

    /// str : the container drawn ("box", "padded_envelope" or "polybag").
    #[getter]
    fn container(&self) -> &'static str {
        self.inner.container.name()
    }

    /// tuple of 3 float : outer size of the container (length along z, height along y,
    /// width along x) in mm; the container is centred on the origin.
    #[getter]
    fn extent_mm(&self) -> (f64, f64, f64) {
        let e = self.inner.extent_mm;
        (e[0], e[1], e[2])
    }

    /// list of dict : one per object, in label order: label (int, 1..N), cls
    /// ("firearm", "firearm_part", "ammunition", "blade", "metal_other", "container",
    /// "clutter"), kind (e.g. "pistol_polymer", "cartridge_9x19", "spanner"), material,
    /// bbox_mm (z0, y0, x0, z1, y1, x1 world mm), center_mm, size_mm (own extents,
    /// largest first), volume_mm3, mass_g, group (label heading its batch or None),
    /// hidden_in (label of the object hiding it or None), features (dict of named
    /// dimensions in mm, e.g. bore_diameter, grip_angle_deg).
    #[getter]
    fn objects<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let items = self
            .inner
            .objects
            .iter()
            .map(|o| truth_dict(py, o))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    /// The objects a detector should find (classes firearm, firearm_part, ammunition,
    /// blade), as in `objects`.
    ///
    /// Returns
    /// -------
    /// list of dict
    fn threats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let items = self
            .inner
            .threats()
            .map(|o| truth_dict(py, o))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    /// Phantom : the analytic scene (primitives with materials and labels).
    #[getter]
    fn phantom(&self) -> PyPhantom {
        PyPhantom {
            inner: self.inner.phantom.clone(),
        }
    }

    /// dict : the options the parcel was generated with.
    #[getter]
    fn options<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let o = &self.inner.options;
        let d = PyDict::new(py);
        d.set_item("threats", threats_to_py(py, &o.threats)?)?;
        d.set_item("hard_benign", o.hard_benign)?;
        d.set_item("container", o.container.name())?;
        d.set_item("max_extent_mm", o.max_extent_mm)?;
        d.set_item("clutter", o.clutter)?;
        d.set_item("hide_probability", o.hide_probability)?;
        Ok(d)
    }

    /// Linear attenuation μ (mm⁻¹) of the parcel on a grid centred on the origin.
    ///
    /// Parameters
    /// ----------
    /// shape : tuple of 3 int
    ///     (nz, ny, nx) voxels.
    /// spacing_mm : float or tuple of 3 float
    ///     Voxel size (dz, dy, dx) in mm.
    /// energy_kev : float or None, optional
    ///     Photon energy in keV (20-200); default the effective energy of the default
    ///     120 kVp spectrum (see ``phantom.effective_energy_kev``).
    /// supersample : int, optional
    ///     Samples per axis in each voxel (1-8); partial voxels get fractional μ.
    ///     Default 2.
    ///
    /// Returns
    /// -------
    /// Volume
    ///
    /// Raises
    /// ------
    /// ValueError
    ///     On a bad shape, spacing, energy or supersample, or a volume too large.
    #[pyo3(signature = (shape, spacing_mm, energy_kev = None, supersample = 2))]
    fn voxelize(
        &self,
        py: Python<'_>,
        shape: (usize, usize, usize),
        spacing_mm: &Bound<'_, PyAny>,
        energy_kev: Option<f64>,
        supersample: usize,
    ) -> PyResult<PyVolume> {
        let spacing = spacing_arg(spacing_mm)?;
        let e = default_energy(energy_kev);
        let inner = &self.inner;
        let v = py
            .detach(|| inner.voxelize([shape.0, shape.1, shape.2], spacing, e, supersample))
            .py()?;
        Ok(PyVolume { inner: v })
    }

    /// Ground-truth labels on the grid of `voxelize`: each voxel holds the label of the
    /// object containing its centre (0 for none); ``objects[label - 1]`` describes it.
    ///
    /// Parameters
    /// ----------
    /// shape : tuple of 3 int
    ///     (nz, ny, nx) voxels.
    /// spacing_mm : float or tuple of 3 float
    ///     Voxel size (dz, dy, dx) in mm.
    ///
    /// Returns
    /// -------
    /// numpy.ndarray of uint32, shape (nz, ny, nx)
    ///
    /// Raises
    /// ------
    /// ValueError
    ///     On a bad shape or spacing, or a volume too large.
    fn truth_labels<'py>(
        &self,
        py: Python<'py>,
        shape: (usize, usize, usize),
        spacing_mm: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray3<u32>>> {
        let spacing = spacing_arg(spacing_mm)?;
        let inner = &self.inner;
        let l = py
            .detach(|| inner.truth_labels([shape.0, shape.1, shape.2], spacing))
            .py()?;
        Ok(l.into_pyarray(py))
    }

    fn __repr__(&self) -> String {
        let p = &self.inner;
        let threats: Vec<&str> = p.threats().map(|o| o.kind.as_str()).collect();
        format!(
            "Parcel(seed={}, container={:?}, extent_mm=({:.0}, {:.0}, {:.0}), objects={}, threats={:?})",
            p.seed,
            p.container.name(),
            p.extent_mm[0],
            p.extent_mm[1],
            p.extent_mm[2],
            p.objects.len(),
            threats
        )
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let py = slf.py();
        let o = &slf.get().inner.options;
        let args = (
            slf.get().inner.seed,
            threats_to_py(py, &o.threats)?,
            o.hard_benign,
            o.container.name(),
            o.max_extent_mm,
            o.clutter,
            o.hide_probability,
        )
            .into_pyobject(py)?
            .into_any();
        Ok((py.get_type::<Self>().into_any(), args))
    }
}

fn spacing_arg(obj: &Bound<'_, PyAny>) -> PyResult<[f64; 3]> {
    if let Ok(s) = obj.extract::<f64>() {
        return Ok([s; 3]);
    }
    let t: (f64, f64, f64) = obj.extract().map_err(|_| {
        PyTypeError::new_err("spacing_mm: expected a float or a tuple (dz, dy, dx) of floats")
    })?;
    Ok([t.0, t.1, t.2])
}

/// An analytic phantom: primitives (ellipsoid, cuboid, cylinder, tube) placed in the
/// world (z, y, x mm) and filled with a material (energy-dependent μ from NIST tables)
/// or a constant μ; their μ add where they overlap. Build one with the ``add_*``
/// methods, ``Phantom.shepp_logan_2d`` / ``shepp_logan_3d``, or take ``Parcel.phantom``.
///
/// Parameters
/// ----------
/// json : str or None, optional
///     A phantom serialised by ``to_json``; None (default) for an empty phantom.
///
/// Raises
/// ------
/// ValueError
///     If the JSON is not a phantom.
#[pyclass(name = "Phantom", module = "ctscreen", frozen)]
#[derive(Clone)]
pub struct PyPhantom {
    pub inner: ph::Phantom,
}

fn rotation_arg(
    rotation: Option<[[f64; 3]; 3]>,
    axis: Option<(f64, f64, f64)>,
) -> PyResult<Rotation> {
    match (rotation, axis) {
        (Some(_), Some(_)) => Err(pyo3::exceptions::PyValueError::new_err(
            "give rotation or axis, not both",
        )),
        (Some(m), None) => Rotation::from_matrix(m).py(),
        (None, Some(a)) => {
            let v = [a.0, a.1, a.2];
            if v.iter().any(|x| !x.is_finite()) || v.iter().all(|x| *x == 0.0) {
                return Err(pyo3::exceptions::PyValueError::new_err(format!(
                    "invalid axis: {v:?} (expected a finite non-zero direction (z, y, x))"
                )));
            }
            Ok(Rotation::align_axis(0, v))
        }
        (None, None) => Ok(Rotation::IDENTITY),
    }
}

fn attenuation_arg(material: Option<&str>, mu: Option<f64>) -> PyResult<Attenuation> {
    match (material, mu) {
        (Some(_), Some(_)) => Err(pyo3::exceptions::PyValueError::new_err(
            "give material or mu, not both",
        )),
        (None, Some(m)) if m.is_finite() => Ok(Attenuation::Constant(m)),
        (None, Some(m)) => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "invalid mu: {m} (expected a finite value in mm⁻¹)"
        ))),
        (Some(name), None) => Ok(Attenuation::Material(Material::from_name(name).py()?)),
        (None, None) => Ok(Attenuation::Material(Material::Water)),
    }
}

impl PyPhantom {
    #[allow(clippy::too_many_arguments)]
    fn with(
        &self,
        shape: Shape,
        center_mm: (f64, f64, f64),
        rotation: Option<[[f64; 3]; 3]>,
        axis: Option<(f64, f64, f64)>,
        material: Option<&str>,
        mu: Option<f64>,
        label: u32,
        cls: &str,
    ) -> PyResult<Self> {
        let prim = Primitive::new(
            shape,
            [center_mm.0, center_mm.1, center_mm.2],
            rotation_arg(rotation, axis)?,
        )
        .py()?;
        let att = attenuation_arg(material, mu)?;
        let class = ObjectClass::from_name(cls).py()?;
        let mut inner = self.inner.clone();
        inner.push(prim, att, label, class, "user");
        Ok(Self { inner })
    }
}

#[pymethods]
impl PyPhantom {
    #[new]
    #[pyo3(signature = (json = None))]
    fn new(json: Option<&str>) -> PyResult<Self> {
        let inner = match json {
            None => ph::Phantom::new(),
            Some(t) => {
                let p: ph::Phantom = serde_json::from_str(t).map_err(|e| {
                    pyo3::exceptions::PyValueError::new_err(format!(
                        "invalid phantom JSON: {e} (expected the output of Phantom.to_json)"
                    ))
                })?;
                p.validate().py()?;
                p
            }
        };
        Ok(Self { inner })
    }

    /// The modified 2D Shepp–Logan phantom (Toft's intensities × 0.1 mm⁻¹, so the
    /// brain is 0.02 mm⁻¹), ellipses extruded along z as elliptic cylinders
    /// 4 × radius long; the outer ellipse's y semi-axis is 0.92 × radius_mm.
    ///
    /// Parameters
    /// ----------
    /// radius_mm : float
    ///     Half the side of the phantom's unit square, mm.
    ///
    /// Returns
    /// -------
    /// Phantom
    #[staticmethod]
    fn shepp_logan_2d(radius_mm: f64) -> Self {
        Self {
            inner: ph::shepp_logan_2d(radius_mm),
        }
    }

    /// The 3D Shepp–Logan phantom of Kak & Slaney (values × 0.02 mm⁻¹, brain
    /// 0.0204 mm⁻¹); the outer ellipsoid's semi-axes are (0.90, 0.92, 0.69) × radius_mm
    /// along (z, y, x).
    ///
    /// Parameters
    /// ----------
    /// radius_mm : float
    ///     Half the side of the phantom's unit cube, mm.
    ///
    /// Returns
    /// -------
    /// Phantom
    #[staticmethod]
    fn shepp_logan_3d(radius_mm: f64) -> Self {
        Self {
            inner: ph::shepp_logan_3d(radius_mm),
        }
    }

    /// A copy with an ellipsoid added.
    ///
    /// Parameters
    /// ----------
    /// center_mm : tuple of 3 float
    ///     World centre (z, y, x) in mm.
    /// semi_axes_mm : tuple of 3 float
    ///     Semi-axes along the local (z, y, x) axes, mm.
    /// material : str, optional
    ///     A material name (see ``phantom.materials()``); default "water".
    /// mu : float, optional
    ///     A constant μ in mm⁻¹ instead of a material.
    /// rotation : 3x3 nested sequence, optional
    ///     Local-to-world rotation matrix ((z, y, x) rows and columns).
    /// axis : tuple of 3 float, optional
    ///     Instead of rotation: the world direction of the local z axis.
    /// label : int, optional
    ///     Label for ``voxelize_labels``. Default 1.
    /// cls : str, optional
    ///     Object class name. Default "clutter".
    ///
    /// Returns
    /// -------
    /// Phantom
    ///
    /// Raises
    /// ------
    /// ValueError
    ///     On a non-positive size, a bad rotation, or an unknown material or class.
    #[pyo3(signature = (center_mm, semi_axes_mm, material = None, mu = None, rotation = None, axis = None, label = 1, cls = "clutter"))]
    fn add_ellipsoid(
        &self,
        center_mm: (f64, f64, f64),
        semi_axes_mm: (f64, f64, f64),
        material: Option<&str>,
        mu: Option<f64>,
        rotation: Option<[[f64; 3]; 3]>,
        axis: Option<(f64, f64, f64)>,
        label: u32,
        cls: &str,
    ) -> PyResult<Self> {
        let s = Shape::ellipsoid(semi_axes_mm.0, semi_axes_mm.1, semi_axes_mm.2);
        self.with(s, center_mm, rotation, axis, material, mu, label, cls)
    }

    /// A copy with a rectangular box added (full sizes along local (z, y, x), mm);
    /// other parameters as ``add_ellipsoid``.
    ///
    /// Returns
    /// -------
    /// Phantom
    #[pyo3(signature = (center_mm, size_mm, material = None, mu = None, rotation = None, axis = None, label = 1, cls = "clutter"))]
    fn add_cuboid(
        &self,
        center_mm: (f64, f64, f64),
        size_mm: (f64, f64, f64),
        material: Option<&str>,
        mu: Option<f64>,
        rotation: Option<[[f64; 3]; 3]>,
        axis: Option<(f64, f64, f64)>,
        label: u32,
        cls: &str,
    ) -> PyResult<Self> {
        let s = Shape::cuboid(size_mm.0, size_mm.1, size_mm.2);
        self.with(s, center_mm, rotation, axis, material, mu, label, cls)
    }

    /// A copy with a capped circular cylinder added (axis along local z, or along
    /// ``axis``), radius and full length in mm; other parameters as ``add_ellipsoid``.
    ///
    /// Returns
    /// -------
    /// Phantom
    #[pyo3(signature = (center_mm, radius_mm, length_mm, material = None, mu = None, rotation = None, axis = None, label = 1, cls = "clutter"))]
    fn add_cylinder(
        &self,
        center_mm: (f64, f64, f64),
        radius_mm: f64,
        length_mm: f64,
        material: Option<&str>,
        mu: Option<f64>,
        rotation: Option<[[f64; 3]; 3]>,
        axis: Option<(f64, f64, f64)>,
        label: u32,
        cls: &str,
    ) -> PyResult<Self> {
        let s = Shape::cylinder(radius_mm, length_mm);
        self.with(s, center_mm, rotation, axis, material, mu, label, cls)
    }

    /// A copy with a tube (a cylinder with a coaxial bore right through) added; other
    /// parameters as ``add_cylinder``.
    ///
    /// Returns
    /// -------
    /// Phantom
    #[pyo3(signature = (center_mm, outer_radius_mm, inner_radius_mm, length_mm, material = None, mu = None, rotation = None, axis = None, label = 1, cls = "clutter"))]
    fn add_tube(
        &self,
        center_mm: (f64, f64, f64),
        outer_radius_mm: f64,
        inner_radius_mm: f64,
        length_mm: f64,
        material: Option<&str>,
        mu: Option<f64>,
        rotation: Option<[[f64; 3]; 3]>,
        axis: Option<(f64, f64, f64)>,
        label: u32,
        cls: &str,
    ) -> PyResult<Self> {
        let s = Shape::tube(outer_radius_mm, inner_radius_mm, length_mm);
        self.with(s, center_mm, rotation, axis, material, mu, label, cls)
    }

    /// list of dict : the primitives (primitive: shape and pose, attenuation, label,
    /// class, part), as in ``to_json``.
    #[getter]
    fn objects<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py_data(py, &self.inner.objects)
    }

    fn __len__(&self) -> usize {
        self.inner.objects.len()
    }

    /// The phantom as JSON (round-trips through ``Phantom(json)``).
    ///
    /// Returns
    /// -------
    /// str
    fn to_json(&self) -> PyResult<String> {
        serde_json::to_string(&self.inner)
            .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))
    }

    /// μ (mm⁻¹) on a grid centred on the origin; see ``Parcel.voxelize``.
    ///
    /// Returns
    /// -------
    /// Volume
    #[pyo3(signature = (shape, spacing_mm, energy_kev = None, supersample = 2))]
    fn voxelize(
        &self,
        py: Python<'_>,
        shape: (usize, usize, usize),
        spacing_mm: &Bound<'_, PyAny>,
        energy_kev: Option<f64>,
        supersample: usize,
    ) -> PyResult<PyVolume> {
        let spacing = spacing_arg(spacing_mm)?;
        let e = default_energy(energy_kev);
        let inner = &self.inner;
        let v = py
            .detach(|| inner.voxelize([shape.0, shape.1, shape.2], spacing, e, supersample))
            .py()?;
        Ok(PyVolume { inner: v })
    }

    /// Labels on the grid of ``voxelize`` (last object containing the voxel centre
    /// wins; 0 for none).
    ///
    /// Returns
    /// -------
    /// numpy.ndarray of uint32, shape (nz, ny, nx)
    fn voxelize_labels<'py>(
        &self,
        py: Python<'py>,
        shape: (usize, usize, usize),
        spacing_mm: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray3<u32>>> {
        let spacing = spacing_arg(spacing_mm)?;
        let inner = &self.inner;
        let l = py
            .detach(|| inner.voxelize_labels([shape.0, shape.1, shape.2], spacing))
            .py()?;
        Ok(l.into_pyarray(py))
    }

    /// Exact line integral ∫ μ(E) dl along the infinite line through ``point_mm`` with
    /// direction ``direction`` (normalised here), both world (z, y, x).
    ///
    /// Parameters
    /// ----------
    /// point_mm : tuple of 3 float
    /// direction : tuple of 3 float
    /// energy_kev : float or None, optional
    ///     Default: the default spectrum's effective energy.
    ///
    /// Returns
    /// -------
    /// float
    #[pyo3(signature = (point_mm, direction, energy_kev = None))]
    fn line_integral(
        &self,
        point_mm: (f64, f64, f64),
        direction: (f64, f64, f64),
        energy_kev: Option<f64>,
    ) -> PyResult<f64> {
        let d = unit(direction)?;
        Ok(self.inner.line_integral_mono(
            [point_mm.0, point_mm.1, point_mm.2],
            d,
            default_energy(energy_kev),
        ))
    }

    /// Exact chord lengths (mm) per material along a line, and the integral of the
    /// constant-μ objects under the key "constant".
    ///
    /// Returns
    /// -------
    /// dict
    fn path_lengths<'py>(
        &self,
        py: Python<'py>,
        point_mm: (f64, f64, f64),
        direction: (f64, f64, f64),
    ) -> PyResult<Bound<'py, PyDict>> {
        let d = unit(direction)?;
        let l = self
            .inner
            .path_lengths([point_mm.0, point_mm.1, point_mm.2], d);
        let out = PyDict::new(py);
        for (m, v) in Material::ALL.iter().zip(l.mm.iter()) {
            if *v != 0.0 {
                out.set_item(m.name(), *v)?;
            }
        }
        out.set_item("constant", l.constant)?;
        Ok(out)
    }

    fn __repr__(&self) -> String {
        format!("Phantom(objects={})", self.inner.objects.len())
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let py = slf.py();
        let json = slf.get().to_json()?;
        Ok((
            py.get_type::<Self>().into_any(),
            (json,).into_pyobject(py)?.into_any(),
        ))
    }
}

fn unit(d: (f64, f64, f64)) -> PyResult<[f64; 3]> {
    let n = (d.0 * d.0 + d.1 * d.1 + d.2 * d.2).sqrt();
    if !(n.is_finite() && n > 0.0) {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "invalid direction: {d:?} (expected a finite non-zero vector (z, y, x))"
        )));
    }
    Ok([d.0 / n, d.1 / n, d.2 / n])
}

/// The phantom behind a Parcel or Phantom argument.
fn scene_arg(obj: &Bound<'_, PyAny>) -> PyResult<ph::Phantom> {
    if let Ok(p) = obj.cast::<PyParcel>() {
        return Ok(p.get().inner.phantom.clone());
    }
    if let Ok(p) = obj.cast::<PyPhantom>() {
        return Ok(p.get().inner.clone());
    }
    Err(PyTypeError::new_err(format!(
        "scene: expected a ctscreen Parcel or Phantom, got {}",
        obj.get_type().name()?
    )))
}

/// Simulated X-ray projections of a parcel or phantom: polychromatic tube spectrum,
/// exact path lengths per material, Poisson noise and photon starvation.
///
/// For each detector pixel the expected counts are
/// ``photons * sum_E w(E) exp(-sum_m mu_m(E) L_m)`` (Kramers spectrum of a tungsten
/// tube with Al + Cu filtration, NIST attenuation); the counts are Poisson (plus
/// optional Gaussian electronic noise), raised to ``count_floor`` where starved, and
/// returned as ``-ln(N / photons)``. Deterministic for a seed on any thread count.
///
/// Parameters
/// ----------
/// scene : Parcel or Phantom
/// geometry : Geometry
///     Any ParallelBeamGeometry, FanBeamGeometry, ConeBeamGeometry or VectorGeometry.
/// spectrum_kvp : float, optional
///     Tube voltage in kV (30-200). Default 120.
/// photons : float, optional
///     Photons per pixel in the unattenuated beam (I0). Default 1e5.
/// seed : int, optional
///     Noise seed. Default 0.
/// noise : bool, optional
///     Poisson noise (default) or expected counts.
/// filtration_al_mm, filtration_cu_mm : float, optional
///     Tube filtration in mm of aluminium and copper. Defaults 2.5 and 0.1.
/// bin_kev : float, optional
///     Spectrum bin width in keV. Default 2.
/// electronic_noise : float, optional
///     Standard deviation of additive Gaussian noise in photons. Default 0.
/// count_floor : float, optional
///     Counts below this (photons) are raised to it before the log. Default 0.5.
/// detector : str, optional
///     "photon_counting" (default: each photon counts 1) or "energy_integrating" (the
///     signal is the deposited energy, compound Poisson).
///
/// Returns
/// -------
/// numpy.ndarray, shape (views, rows, cols), float32
///     Line integrals -ln(I/I0).
///
/// Raises
/// ------
/// ValueError
///     On an option out of range or projections too large.
/// TypeError
///     If scene or geometry has the wrong type.
/// KeyboardInterrupt
///     On Ctrl-C.
#[pyfunction]
#[pyo3(signature = (scene, geometry, spectrum_kvp = 120.0, photons = 1e5, seed = 0, noise = true, filtration_al_mm = 2.5, filtration_cu_mm = 0.1, bin_kev = 2.0, electronic_noise = 0.0, count_floor = 0.5, detector = "photon_counting"))]
fn simulate<'py>(
    py: Python<'py>,
    scene: &Bound<'py, PyAny>,
    geometry: &Bound<'py, PyAny>,
    spectrum_kvp: f64,
    photons: f64,
    seed: u64,
    noise: bool,
    filtration_al_mm: f64,
    filtration_cu_mm: f64,
    bin_kev: f64,
    electronic_noise: f64,
    count_floor: f64,
    detector: &str,
) -> PyResult<Bound<'py, PyArray3<f32>>> {
    let detector = match detector.trim().to_ascii_lowercase().as_str() {
        "photon_counting" | "pc" => DetectorResponse::PhotonCounting,
        "energy_integrating" | "ei" => DetectorResponse::EnergyIntegrating,
        other => {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "invalid detector: {other:?} (expected \"photon_counting\" or \"energy_integrating\")"
        )))
        }
    };
    let phantom = scene_arg(scene)?;
    let geom = extract_geometry(geometry)?;
    let opts = SimulateOptions {
        kvp: spectrum_kvp,
        filtration: Filtration {
            al_mm: filtration_al_mm,
            cu_mm: filtration_cu_mm,
        },
        bin_kev,
        photons,
        seed,
        noise,
        electronic_noise,
        count_floor,
        detector,
    };
    let p = run_cancellable(py, false, |flag| {
        physics::simulate(&phantom, &geom, &opts, flag)
    })?;
    Ok(p.into_data().into_pyarray(py))
}

/// Exact monochromatic line integrals of a parcel or phantom through every detector
/// pixel centre of a geometry (no noise, no beam hardening).
///
/// Parameters
/// ----------
/// scene : Parcel or Phantom
/// geometry : Geometry
/// energy_kev : float or None, optional
///     Photon energy (20-200 keV); default the default spectrum's effective energy.
///
/// Returns
/// -------
/// numpy.ndarray, shape (views, rows, cols), float32
///
/// Raises
/// ------
/// ValueError
///     On an energy out of range or projections too large.
/// TypeError
///     If scene or geometry has the wrong type.
#[pyfunction]
#[pyo3(signature = (scene, geometry, energy_kev = None))]
fn analytic_projections<'py>(
    py: Python<'py>,
    scene: &Bound<'py, PyAny>,
    geometry: &Bound<'py, PyAny>,
    energy_kev: Option<f64>,
) -> PyResult<Bound<'py, PyArray3<f32>>> {
    let phantom = scene_arg(scene)?;
    let geom = extract_geometry(geometry)?;
    let e = default_energy(energy_kev);
    let p = py
        .detach(|| ph::analytic_projections(&phantom, &geom, e))
        .py()?;
    Ok(p.into_data().into_pyarray(py))
}

/// The modified 2D Shepp–Logan phantom as an image of μ (mm⁻¹): brain 0.02 mm⁻¹
/// (Toft's intensities × 0.1), on an n × n grid of ``spacing_mm`` pixels centred on
/// the isocentre; the phantom's unit square spans the whole image (radius
/// n·spacing/2). ``Phantom.shepp_logan_2d(radius_mm)`` gives the exact phantom.
///
/// Parameters
/// ----------
/// n : int, optional
///     Image size. Default 256.
/// spacing_mm : float, optional
///     Pixel size in mm. Default 1.
/// supersample : int, optional
///     Samples per pixel axis (1-8). Default 3.
///
/// Returns
/// -------
/// numpy.ndarray, shape (n, n), float32
///     Rows along y, columns along x.
#[pyfunction]
#[pyo3(name = "_shepp_logan_2d", signature = (n = 256, spacing_mm = 1.0, supersample = 3))]
fn shepp_logan_2d<'py>(
    py: Python<'py>,
    n: usize,
    spacing_mm: f64,
    supersample: usize,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let v = py
        .detach(|| {
            ph::shepp_logan_2d(n as f64 * spacing_mm / 2.0).voxelize(
                [1, n, n],
                [spacing_mm; 3],
                70.0,
                supersample,
            )
        })
        .py()?;
    let img = v.into_data().index_axis_move(ndarray::Axis(0), 0);
    Ok(img.into_pyarray(py))
}

/// The 3D Shepp–Logan phantom (Kak & Slaney, values × 0.02 mm⁻¹) voxelised on a grid
/// centred on the isocentre; radius = half the grid's smallest side.
///
/// Parameters
/// ----------
/// shape : tuple of 3 int, optional
///     (nz, ny, nx). Default (128, 128, 128).
/// spacing_mm : float, optional
///     Voxel size in mm. Default 1.
/// supersample : int, optional
///     Samples per voxel axis (1-8). Default 2.
///
/// Returns
/// -------
/// Volume
#[pyfunction]
#[pyo3(name = "_shepp_logan_3d", signature = (shape = (128, 128, 128), spacing_mm = 1.0, supersample = 2))]
fn shepp_logan_3d(
    py: Python<'_>,
    shape: (usize, usize, usize),
    spacing_mm: f64,
    supersample: usize,
) -> PyResult<PyVolume> {
    let r = shape.0.min(shape.1).min(shape.2) as f64 * spacing_mm / 2.0;
    let v = py
        .detach(|| {
            ph::shepp_logan_3d(r).voxelize(
                [shape.0, shape.1, shape.2],
                [spacing_mm; 3],
                70.0,
                supersample,
            )
        })
        .py()?;
    Ok(PyVolume { inner: v })
}

/// Names of the materials (with NIST μ/ρ tables), e.g. "water", "steel", "brass".
///
/// Returns
/// -------
/// list of str
#[pyfunction]
#[pyo3(name = "_materials")]
fn materials() -> Vec<&'static str> {
    Material::ALL.iter().map(|m| m.name()).collect()
}

/// Linear attenuation μ in mm⁻¹ of a material at one energy (NIST, log-log
/// interpolated; valid 20-200 keV).
///
/// Parameters
/// ----------
/// material : str
/// energy_kev : float
///
/// Returns
/// -------
/// float
///
/// Raises
/// ------
/// ValueError
///     On an unknown material or an energy outside 20-200 keV.
#[pyfunction]
#[pyo3(name = "_mu_per_mm")]
fn mu_per_mm(material: &str, energy_kev: f64) -> PyResult<f64> {
    let m = Material::from_name(material).py()?;
    if !energy_kev.is_finite() || !(20.0..=200.0).contains(&energy_kev) {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "invalid energy_kev: {energy_kev} (expected an energy in 20–200 keV)"
        )));
    }
    Ok(m.mu_per_mm(energy_kev))
}

/// Density of a material in g/cm³.
///
/// Parameters
/// ----------
/// material : str
///
/// Returns
/// -------
/// float
#[pyfunction]
#[pyo3(name = "_density_g_cm3")]
fn density_g_cm3(material: &str) -> PyResult<f64> {
    Ok(Material::from_name(material).py()?.density_g_cm3())
}

/// The tube spectrum used by ``simulate``: Kramers' law for a tungsten anode, Al + Cu
/// filtration, bins from 20 keV to the kVp.
///
/// Parameters
/// ----------
/// kvp : float, optional
///     Tube voltage in kV (30-200). Default 120.
/// filtration_al_mm, filtration_cu_mm : float, optional
///     Defaults 2.5 and 0.1 mm.
/// bin_kev : float, optional
///     Bin width in keV. Default 1.
///
/// Returns
/// -------
/// energies_kev : numpy.ndarray of float64
///     Bin centres.
/// weights : numpy.ndarray of float64
///     Photon-number fractions (sum 1).
#[pyfunction]
#[pyo3(name = "_spectrum", signature = (kvp = 120.0, filtration_al_mm = 2.5, filtration_cu_mm = 0.1, bin_kev = 1.0))]
fn spectrum<'py>(
    py: Python<'py>,
    kvp: f64,
    filtration_al_mm: f64,
    filtration_cu_mm: f64,
    bin_kev: f64,
) -> PyResult<Pair<'py>> {
    let s = kramers(kvp, filtration_al_mm, filtration_cu_mm, bin_kev)?;
    Ok((
        s.energies_kev().to_vec().into_pyarray(py),
        s.weights().to_vec().into_pyarray(py),
    ))
}

/// Two 1-D float64 arrays.
type Pair<'py> = (Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>);

fn kramers(kvp: f64, al: f64, cu: f64, bin: f64) -> PyResult<Spectrum> {
    Spectrum::kramers(
        kvp,
        Filtration {
            al_mm: al,
            cu_mm: cu,
        },
        bin,
    )
    .py()
}

/// Effective energy (keV) of a tube spectrum: where water's μ equals the
/// beam-hardened effective μ −ln(T)/200 mm of 200 mm of water. Ground truth is
/// voxelised at this energy by default, so HU conversions agree with reconstructions.
///
/// Parameters
/// ----------
/// kvp : float, optional
///     Default 120.
/// filtration_al_mm, filtration_cu_mm : float, optional
///     Defaults 2.5 and 0.1 mm.
///
/// Returns
/// -------
/// float
#[pyfunction]
#[pyo3(name = "_effective_energy_kev", signature = (kvp = 120.0, filtration_al_mm = 2.5, filtration_cu_mm = 0.1))]
fn effective_energy_kev(kvp: f64, filtration_al_mm: f64, filtration_cu_mm: f64) -> PyResult<f64> {
    Ok(kramers(kvp, filtration_al_mm, filtration_cu_mm, 1.0)?.effective_energy_kev())
}

/// Registers the classes and functions.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyParcel>()?;
    m.add_class::<PyPhantom>()?;
    m.add_function(wrap_pyfunction!(simulate, m)?)?;
    m.add_function(wrap_pyfunction!(analytic_projections, m)?)?;
    m.add_function(wrap_pyfunction!(shepp_logan_2d, m)?)?;
    m.add_function(wrap_pyfunction!(shepp_logan_3d, m)?)?;
    m.add_function(wrap_pyfunction!(materials, m)?)?;
    m.add_function(wrap_pyfunction!(mu_per_mm, m)?)?;
    m.add_function(wrap_pyfunction!(density_g_cm3, m)?)?;
    m.add_function(wrap_pyfunction!(spectrum, m)?)?;
    m.add_function(wrap_pyfunction!(effective_energy_kev, m)?)?;
    m.add(
        "_THREAT_KINDS",
        ThreatKind::ALL.iter().map(|k| k.name()).collect::<Vec<_>>(),
    )?;
    Ok(())
}
