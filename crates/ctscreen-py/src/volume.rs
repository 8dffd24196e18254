//! `ctscreen.Volume`: the core `Volume` behind a Python class.
use numpy::{AllowTypeChange, IntoPyArray, PyArray3, PyArrayLike3};
use pyo3::prelude::*;

use crate::errors::IntoPyResult;

/// A 3D image: float32 array with axes (z, y, x), voxel spacing (dz, dy, dx) in mm and
/// the world position (z, y, x) in mm of voxel [0, 0, 0].
///
/// Parameters
/// ----------
/// array : array_like, shape (nz, ny, nx)
///     Voxel values (linear attenuation μ in mm⁻¹ by convention). Any real dtype and
///     memory order is accepted; it is copied once into C-ordered float32.
/// spacing : tuple of 3 float, optional
///     Voxel size (dz, dy, dx) in millimetres. Default (1, 1, 1).
/// origin : tuple of 3 float or None, optional
///     World position (z, y, x) in mm of voxel [0, 0, 0]. None (default) centres the
///     grid on the isocentre: origin = -(n - 1) / 2 * spacing.
/// direction : 3x3 nested sequence or None, optional
///     Direction cosines (column a is the world unit vector of array axis a); identity
///     by default.
///
/// Raises
/// ------
/// ValueError
///     If a spacing is not finite and positive or the origin is not finite.
#[pyclass(name = "Volume", module = "ctscreen", frozen)]
#[derive(Clone)]
pub struct PyVolume {
    pub inner: ctscreen::Volume,
}

#[pymethods]
impl PyVolume {
    #[new]
    #[pyo3(signature = (array, spacing = (1.0, 1.0, 1.0), origin = None, direction = None))]
    fn new(
        array: PyArrayLike3<'_, f32, AllowTypeChange>,
        spacing: (f64, f64, f64),
        origin: Option<(f64, f64, f64)>,
        direction: Option<[[f64; 3]; 3]>,
    ) -> PyResult<Self> {
        let data = array.as_array().as_standard_layout().into_owned();
        let spacing = [spacing.0, spacing.1, spacing.2];
        let mut inner = match origin {
            Some(o) => ctscreen::Volume::new(data, spacing, [o.0, o.1, o.2]).py()?,
            None => ctscreen::Volume::centered(data, spacing).py()?,
        };
        if let Some(d) = direction {
            inner = inner.with_direction(d).py()?;
        }
        Ok(Self { inner })
    }

    /// numpy.ndarray : a copy of the voxel values, float32, shape (nz, ny, nx).
    #[getter]
    fn array<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray3<f32>> {
        self.inner.data().clone().into_pyarray(py)
    }

    /// tuple of 3 float : voxel size (dz, dy, dx) in mm.
    #[getter]
    fn spacing(&self) -> (f64, f64, f64) {
        let s = self.inner.spacing();
        (s[0], s[1], s[2])
    }

    /// tuple of 3 float : world position (z, y, x) in mm of voxel [0, 0, 0].
    #[getter]
    fn origin(&self) -> (f64, f64, f64) {
        let o = self.inner.origin();
        (o[0], o[1], o[2])
    }

    /// list of 3 lists : direction cosines, column a = world unit vector of axis a.
    #[getter]
    fn direction(&self) -> [[f64; 3]; 3] {
        self.inner.direction()
    }

    /// tuple of 3 int : (nz, ny, nx).
    #[getter]
    fn shape(&self) -> (usize, usize, usize) {
        let s = self.inner.shape();
        (s[0], s[1], s[2])
    }

    /// numpy.ndarray : 4x4 affine mapping (k, j, i, 1) indices to world (z, y, x, 1) mm.
    #[getter]
    fn affine<'py>(&self, py: Python<'py>) -> Bound<'py, numpy::PyArray2<f64>> {
        let a = self.inner.affine();
        ndarray::Array2::from_shape_fn((4, 4), |(r, c)| a[r][c]).into_pyarray(py)
    }

    /// The sub-volume of voxels start[a] .. start[a] + size[a], world positions kept.
    ///
    /// Raises
    /// ------
    /// ValueError
    ///     If the box is empty or reaches outside the volume.
    fn crop(&self, start: (usize, usize, usize), size: (usize, usize, usize)) -> PyResult<Self> {
        Ok(Self {
            inner: self
                .inner
                .crop([start.0, start.1, start.2], [size.0, size.1, size.2])
                .py()?,
        })
    }

    /// Trilinear resampling to `shape` over the same extent (first and last voxel centres kept).
    fn resample(&self, py: Python<'_>, shape: (usize, usize, usize)) -> PyResult<Self> {
        let inner = &self.inner;
        let out = py
            .detach(|| inner.resample([shape.0, shape.1, shape.2]))
            .py()?;
        Ok(Self { inner: out })
    }

    fn __repr__(&self) -> String {
        let s = self.inner.shape();
        format!(
            "Volume(shape=({}, {}, {}), spacing={:?}, origin={:?})",
            s[0],
            s[1],
            s[2],
            self.inner.spacing(),
            self.inner.origin()
        )
    }

    /// Rebuilds a volume from its pickled state (raw little-endian float32 bytes).
    #[staticmethod]
    fn _from_state(
        data: &[u8],
        shape: (usize, usize, usize),
        spacing: (f64, f64, f64),
        origin: (f64, f64, f64),
        direction: [[f64; 3]; 3],
    ) -> PyResult<Self> {
        let n = shape.0 * shape.1 * shape.2;
        if data.len() != n * 4 {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "invalid pickled volume: {} bytes for shape {shape:?} (expected {})",
                data.len(),
                n * 4
            )));
        }
        let values: Vec<f32> = data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let array = ndarray::Array3::from_shape_vec([shape.0, shape.1, shape.2], values)
            .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
        let inner = ctscreen::Volume::new(
            array,
            [spacing.0, spacing.1, spacing.2],
            [origin.0, origin.1, origin.2],
        )
        .and_then(|v| v.with_direction(direction))
        .py()?;
        Ok(Self { inner })
    }

    /// Pickles as raw bytes plus geometry: the state does not depend on numpy's
    /// buffer alignment (Dask and multiprocessing may hand back unaligned buffers).
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let py = slf.py();
        let me = slf.get();
        let bytes: Vec<u8> = me
            .inner
            .data()
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let state = (
            pyo3::types::PyBytes::new(py, &bytes),
            me.shape(),
            me.spacing(),
            me.origin(),
            me.direction(),
        );
        Ok((
            py.get_type::<Self>().getattr("_from_state")?,
            state.into_pyobject(py)?.into_any(),
        ))
    }
}

/// Registers the class.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyVolume>()
}
