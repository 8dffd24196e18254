//! Segmentation bindings: thresholds, morphology, labelling and region properties.
//!
//! 2D arrays `(ny, nx)` are handled as volumes `(1, ny, nx)` and results come back 2D.
use ndarray::{Array3, ArrayView3, ArrayViewD, Axis, Ix3, IxDyn};
use numpy::{
    dtype, AllowTypeChange, IntoPyArray, PyArray1, PyArray2, PyArrayDescrMethods, PyArrayDyn,
    PyArrayLikeDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use ctscreen::segment::{self, Connectivity, RegionProps};

use crate::errors::IntoPyResult;
use crate::volume::PyVolume;

/// `numpy.asarray(obj)` as an untyped array.
fn as_ndarray<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyUntypedArray>> {
    let np = obj.py().import("numpy")?;
    let arr = np.call_method1("asarray", (obj,))?;
    Ok(arr.cast::<PyUntypedArray>()?.clone())
}

fn check_ndim(name: &str, ndim: usize) -> PyResult<bool> {
    match ndim {
        2 => Ok(true),
        3 => Ok(false),
        _ => Err(PyValueError::new_err(format!(
            "{name} must be a 2D (ny, nx) or 3D (nz, ny, nx) array; got {ndim} dimensions"
        ))),
    }
}

/// A dynamic view as `(z, y, x)`, adding a unit z axis to 2D.
fn view3<'a, T>(v: ArrayViewD<'a, T>) -> ArrayView3<'a, T> {
    let v = if v.ndim() == 2 {
        v.insert_axis(Axis(0))
    } else {
        v
    };
    v.into_dimensionality::<Ix3>().expect("checked 2D or 3D")
}

/// Back to the caller's dimensionality.
fn out_dims<'py, T: numpy::Element>(
    py: Python<'py>,
    a: Array3<T>,
    is_2d: bool,
) -> Bound<'py, PyArrayDyn<T>> {
    if is_2d {
        a.index_axis_move(Axis(0), 0).into_dyn().into_pyarray(py)
    } else {
        a.into_dyn().into_pyarray(py)
    }
}

/// Connectivity from its number; 2D input maps 6 → 4 and 18, 26 → 8.
fn connectivity(n: u32, is_2d: bool) -> PyResult<Connectivity> {
    let c = Connectivity::from_number(n).py()?;
    Ok(if is_2d {
        match c {
            Connectivity::Six => Connectivity::Four,
            Connectivity::Eighteen | Connectivity::TwentySix => Connectivity::Eight,
            c => c,
        }
    } else {
        c
    })
}

fn is_dtype<T: numpy::Element>(a: &Bound<'_, PyUntypedArray>) -> bool {
    a.dtype().is_equiv_to(&dtype::<T>(a.py()))
}

/// A binary mask from any array: bool as is; numbers must be 0 or 1.
fn binary_mask(name: &str, obj: &Bound<'_, PyAny>) -> PyResult<(Array3<bool>, bool)> {
    let arr = as_ndarray(obj)?;
    let is_2d = check_ndim(name, arr.ndim())?;
    if is_dtype::<bool>(&arr) {
        let a = arr.cast::<PyArrayDyn<bool>>()?.readonly();
        return Ok((view3(a.as_array()).as_standard_layout().into_owned(), is_2d));
    }
    let kind = arr.dtype().kind();
    if !matches!(kind, b'u' | b'i' | b'f') {
        return Err(PyValueError::new_err(format!(
            "{name} must be a boolean or numeric 0/1 array; got dtype {}",
            arr.dtype()
        )));
    }
    let a: PyArrayLikeDyn<'_, f64, AllowTypeChange> = arr.as_any().extract()?;
    let v = view3(a.as_array());
    let bad = v.iter().filter(|&&x| x != 0.0 && x != 1.0).count();
    if bad > 0 {
        let example = v
            .iter()
            .find(|&&x| x != 0.0 && x != 1.0)
            .copied()
            .unwrap_or(f64::NAN);
        return Err(PyValueError::new_err(format!(
            "{name} must be binary (only 0 and 1, or bool); found {bad} other value(s), e.g. {example}"
        )));
    }
    Ok((v.mapv(|x| x == 1.0), is_2d))
}

/// The structuring element: None → the 6-neighbourhood cross (4 in 2D), as scipy.
fn structure_arg(structure: Option<&Bound<'_, PyAny>>, is_2d: bool) -> PyResult<Array3<bool>> {
    match structure {
        None => Ok(segment::generate_binary_structure(if is_2d {
            Connectivity::Four
        } else {
            Connectivity::Six
        })),
        Some(s) => {
            let (st, st_2d) = binary_mask("structure", s)?;
            if st_2d != is_2d {
                return Err(PyValueError::new_err(format!(
                    "structure must have the same number of dimensions as the mask ({}); got {}",
                    if is_2d { 2 } else { 3 },
                    if st_2d { 2 } else { 3 }
                )));
            }
            Ok(st)
        }
    }
}

fn finite_values<'py>(
    image: &'py PyArrayLikeDyn<'py, f32, AllowTypeChange>,
) -> ArrayViewD<'py, f32> {
    image.as_array()
}

/// Otsu's threshold.
///
/// The histogram has `nbins` equal bins over [min, max] of the values; the threshold
/// is the centre of the last bin of the lower class (foreground is ``image >
/// threshold``), as ``skimage.filters.threshold_otsu``. A constant image returns its
/// value.
///
/// Parameters
/// ----------
/// image : array_like
///     Values of any shape and real dtype (converted to float32), e.g. μ in mm⁻¹.
/// nbins : int, optional
///     Number of histogram bins (default 256).
///
/// Returns
/// -------
/// float
///     The threshold, in the units of `image`.
///
/// Raises
/// ------
/// ValueError
///     If `image` is empty or holds NaN/inf (the message gives the count), or `nbins`
///     is below 2.
#[pyfunction]
#[pyo3(signature = (image, nbins = 256))]
fn threshold_otsu(
    py: Python<'_>,
    image: PyArrayLikeDyn<'_, f32, AllowTypeChange>,
    nbins: usize,
) -> PyResult<f32> {
    let v = finite_values(&image);
    py.detach(|| segment::threshold_otsu(&v, nbins)).py()
}

/// Multi-level Otsu thresholds.
///
/// The `classes - 1` bin centres that split the `nbins`-bin histogram into `classes`
/// classes of maximal between-class variance, as
/// ``skimage.filters.threshold_multiotsu`` (solved by dynamic programming).
///
/// Parameters
/// ----------
/// image : array_like
///     Values of any shape and real dtype.
/// classes : int, optional
///     Number of classes, 2 to 32 (default 3).
/// nbins : int, optional
///     Number of histogram bins (default 256).
///
/// Returns
/// -------
/// numpy.ndarray
///     float32 thresholds, ascending, in the units of `image`.
///
/// Raises
/// ------
/// ValueError
///     If the values are not finite, or fewer than `classes` bins are occupied.
#[pyfunction]
#[pyo3(signature = (image, classes = 3, nbins = 256))]
fn threshold_multiotsu<'py>(
    py: Python<'py>,
    image: PyArrayLikeDyn<'py, f32, AllowTypeChange>,
    classes: usize,
    nbins: usize,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let v = finite_values(&image);
    let t = py
        .detach(|| segment::threshold_multiotsu(&v, classes, nbins))
        .py()?;
    Ok(PyArray1::from_vec(py, t))
}

/// Hysteresis thresholding.
///
/// Keeps the voxels above `low` that are connected, through voxels above `low`, to a
/// voxel above `high` (``skimage.filters.apply_hysteresis_threshold``, which uses
/// connectivity 6 in 3D and 4 in 2D). `low` is clamped to at most `high`.
///
/// Parameters
/// ----------
/// image : array_like, shape (nz, ny, nx) or (ny, nx)
///     Values (any real dtype).
/// low, high : float
///     Thresholds, in the units of `image`.
/// connectivity : int, optional
///     6, 18 or 26 (default 6); in 2D 6 acts as 4 and 18 or 26 as 8. 4 and 8 connect
///     within z planes only.
///
/// Returns
/// -------
/// numpy.ndarray
///     bool mask of the same shape.
///
/// Raises
/// ------
/// ValueError
///     If `image` holds NaN/inf, a threshold is NaN, or the connectivity is not one of
///     4, 6, 8, 18, 26.
#[pyfunction]
#[pyo3(signature = (image, low, high, connectivity = 6))]
fn hysteresis<'py>(
    py: Python<'py>,
    image: PyArrayLikeDyn<'py, f32, AllowTypeChange>,
    low: f32,
    high: f32,
    connectivity: u32,
) -> PyResult<Bound<'py, PyArrayDyn<bool>>> {
    let is_2d = check_ndim("image", image.ndim())?;
    let conn = self::connectivity(connectivity, is_2d)?;
    let v = view3(image.as_array());
    let out = py.detach(|| segment::hysteresis(v, low, high, conn)).py()?;
    Ok(out_dims(py, out, is_2d))
}

macro_rules! morph_fn {
    ($name:ident, $core:path, $what:literal, $scipy:literal) => {
        #[doc = concat!("Binary ", $what, " of a mask by a structuring element.\n\n",
            "Same as ``scipy.ndimage.", $scipy, "(mask, structure)`` with its defaults: the element is centred\n",
            "at ``shape // 2`` and voxels outside the array count as False (``border_value=0``).\n\n",
            "Parameters\n----------\n",
            "mask : array_like, shape (nz, ny, nx) or (ny, nx)\n    Boolean, or numeric with only 0 and 1.\n",
            "structure : array_like or None, optional\n    Structuring element with the same number of dimensions (e.g. ``ball(r)``,\n",
            "    ``cube(w)``); None (default) is the 6-neighbourhood cross (4 in 2D).\n\n",
            "Returns\n-------\nnumpy.ndarray\n    bool array of the mask's shape.\n\n",
            "Raises\n------\nValueError\n    If `mask` or `structure` is not binary, has the wrong number of dimensions, or\n",
            "    the structure has no True element.")]
        #[pyfunction]
        #[pyo3(signature = (mask, structure = None))]
        fn $name<'py>(
            py: Python<'py>,
            mask: &Bound<'py, PyAny>,
            structure: Option<&Bound<'py, PyAny>>,
        ) -> PyResult<Bound<'py, PyArrayDyn<bool>>> {
            let (m, is_2d) = binary_mask("mask", mask)?;
            let st = structure_arg(structure, is_2d)?;
            let out = py.detach(|| $core(m.view(), st.view())).py()?;
            Ok(out_dims(py, out, is_2d))
        }
    };
}

morph_fn!(
    binary_erosion,
    segment::binary_erosion,
    "erosion",
    "binary_erosion"
);
morph_fn!(
    binary_dilation,
    segment::binary_dilation,
    "dilation",
    "binary_dilation"
);
morph_fn!(
    binary_opening,
    segment::binary_opening,
    "opening (erosion, then dilation)",
    "binary_opening"
);
morph_fn!(
    binary_closing,
    segment::binary_closing,
    "closing (dilation, then erosion)",
    "binary_closing"
);

/// Fill the holes of a mask.
///
/// Background not connected to the array's border (through background, under
/// `connectivity`) becomes foreground: ``scipy.ndimage.binary_fill_holes(mask)`` for
/// the default 6 (4 in 2D), or with ``generate_binary_structure(ndim, ndim)`` for 26
/// (8 in 2D).
///
/// Parameters
/// ----------
/// mask : array_like, shape (nz, ny, nx) or (ny, nx)
///     Boolean, or numeric with only 0 and 1.
/// connectivity : int, optional
///     Connectivity of the background: 6 (default), 18 or 26; in 2D 6 acts as 4 and
///     18 or 26 as 8.
///
/// Returns
/// -------
/// numpy.ndarray
///     bool array of the mask's shape.
///
/// Raises
/// ------
/// ValueError
///     If `mask` is not binary or the connectivity is not 4, 6, 8, 18 or 26.
#[pyfunction]
#[pyo3(signature = (mask, connectivity = 6))]
fn fill_holes<'py>(
    py: Python<'py>,
    mask: &Bound<'py, PyAny>,
    connectivity: u32,
) -> PyResult<Bound<'py, PyArrayDyn<bool>>> {
    let (m, is_2d) = binary_mask("mask", mask)?;
    let conn = self::connectivity(connectivity, is_2d)?;
    let out = py.detach(|| segment::fill_holes(m.view(), conn)).py()?;
    Ok(out_dims(py, out, is_2d))
}

/// A ball structuring element.
///
/// Parameters
/// ----------
/// radius : int
///     Radius in voxels.
///
/// Returns
/// -------
/// numpy.ndarray
///     uint8 array of shape (2r+1, 2r+1, 2r+1), 1 where z² + y² + x² <= r² (integer
///     offsets from the centre), as ``skimage.morphology.ball(radius)``.
#[pyfunction]
fn ball<'py>(py: Python<'py>, radius: usize) -> PyResult<Bound<'py, numpy::PyArray3<u8>>> {
    Ok(segment::ball(radius).py()?.mapv(u8::from).into_pyarray(py))
}

/// A cube structuring element.
///
/// Parameters
/// ----------
/// width : int
///     Side in voxels (>= 1).
///
/// Returns
/// -------
/// numpy.ndarray
///     uint8 array of ones, shape (width, width, width).
///
/// Raises
/// ------
/// ValueError
///     If `width` is 0.
#[pyfunction]
fn cube<'py>(py: Python<'py>, width: usize) -> PyResult<Bound<'py, numpy::PyArray3<u8>>> {
    Ok(segment::cube(width).py()?.mapv(u8::from).into_pyarray(py))
}

macro_rules! label_typed {
    ($py:expr, $arr:expr, $conn:expr, $is_2d:expr, $($t:ty),*) => {{
        $(
            if is_dtype::<$t>(&$arr) {
                let a = $arr.cast::<PyArrayDyn<$t>>()?.readonly();
                let v = view3(a.as_array());
                let (l, n) = $py.detach(|| segment::label(v, $conn)).py()?;
                return Ok((out_dims($py, l, $is_2d).into_any(), n));
            }
        )*
    }};
}

/// Label connected components.
///
/// Voxels are joined when they are neighbours, equal and non-zero: for a boolean or
/// 0/1 mask this is ``scipy.ndimage.label(mask, generate_binary_structure(3, c))``;
/// for an integer label image each value's components are labelled separately, like
/// ``cc3d.connected_components``. Components are numbered 1..n in raster (C) order of
/// their first voxel, the order of scipy and cc3d, whatever the number of threads.
///
/// Parameters
/// ----------
/// mask : array_like, shape (nz, ny, nx) or (ny, nx)
///     bool or integer array; float arrays must hold only 0 and 1.
/// connectivity : int, optional
///     6 (faces), 18 (+ edges) or 26 (+ corners, default). In 2D 6 acts as 4 and 18 or
///     26 as 8, and 4 / 8 may be given directly; on 3D input 4 and 8 label each z
///     plane separately.
///
/// Returns
/// -------
/// labels : numpy.ndarray
///     uint32 array of the input's shape, 0 for background.
/// n : int
///     Number of components.
///
/// Raises
/// ------
/// ValueError
///     If the connectivity is not 4, 6, 8, 18 or 26, the input is not 2D or 3D, or a
///     float input holds values other than 0 and 1.
#[pyfunction]
#[pyo3(signature = (mask, connectivity = 26))]
fn label<'py>(
    py: Python<'py>,
    mask: &Bound<'py, PyAny>,
    connectivity: u32,
) -> PyResult<(Bound<'py, PyAny>, usize)> {
    let arr = as_ndarray(mask)?;
    let is_2d = check_ndim("mask", arr.ndim())?;
    let conn = self::connectivity(connectivity, is_2d)?;
    label_typed!(py, arr, conn, is_2d, bool, u8, i8, u16, i16, u32, i32, u64, i64);
    if is_dtype::<u64>(&arr) || arr.dtype().kind() == b'u' || arr.dtype().kind() == b'i' {
        // Other integer widths (e.g. platform-specific aliases): go through int64.
        let a: PyArrayLikeDyn<'_, i64, AllowTypeChange> = arr.as_any().extract()?;
        let v = view3(a.as_array());
        let (l, n) = py.detach(|| segment::label(v, conn)).py()?;
        return Ok((out_dims(py, l, is_2d).into_any(), n));
    }
    let (m, _) = binary_mask("mask", mask)?;
    let (l, n) = py.detach(|| segment::label(m.view(), conn)).py()?;
    Ok((out_dims(py, l, is_2d).into_any(), n))
}

/// Properties of one labelled region, as returned by :func:`regionprops`.
///
/// Attributes are read-only. Index-space values are (z, y, x) — (y, x) for 2D input;
/// "_mm" values use the spacing and, for world positions, the origin.
#[pyclass(name = "RegionProps", module = "ctscreen", frozen)]
#[derive(Clone)]
pub struct PyRegionProps {
    inner: RegionProps,
    is_2d: bool,
    /// (dz, dy, dx) in mm used for the measurements.
    spacing: [f64; 3],
}

impl PyRegionProps {
    /// Keeps the in-plane components (drops z) for 2D input.
    fn vec3(&self, v: [f64; 3]) -> Vec<f64> {
        if self.is_2d {
            v[1..].to_vec()
        } else {
            v.to_vec()
        }
    }
    /// Indices of the principal axes to report: in 2D, the two in-plane ones.
    fn axes_kept(&self) -> Vec<usize> {
        if self.is_2d {
            // Drop the axis closest to z (the region has no extent along z).
            let a = &self.inner.principal_axes;
            let drop = (0..3).fold(0, |b, i| if a[i][0].abs() > a[b][0].abs() { i } else { b });
            (0..3).filter(|&i| i != drop).collect()
        } else {
            vec![0, 1, 2]
        }
    }
    fn matrix<'py>(&self, py: Python<'py>, m: [[f64; 3]; 3]) -> Bound<'py, PyArray2<f64>> {
        let o = if self.is_2d { 1 } else { 0 };
        let n = 3 - o;
        ndarray::Array2::from_shape_fn((n, n), |(r, c)| m[r + o][c + o]).into_pyarray(py)
    }
}

#[pymethods]
impl PyRegionProps {
    /// int : the label value.
    #[getter]
    fn label(&self) -> u32 {
        self.inner.label
    }
    /// int : number of voxels (pixels in 2D).
    #[getter]
    fn num_voxels(&self) -> u64 {
        self.inner.voxel_count
    }
    /// float : voxel count times the voxel volume (pixel area in 2D), as skimage's
    /// ``area`` with ``spacing``; mm³ (mm² in 2D).
    #[getter]
    fn area(&self) -> f64 {
        self.inner.volume_mm3
    }
    /// float : physical volume in mm³ (area in mm² for 2D input).
    #[getter]
    fn volume_mm3(&self) -> f64 {
        self.inner.volume_mm3
    }
    /// tuple of int : bounding box (z0, y0, x0, z1, y1, x1), min inclusive, max
    /// exclusive, as skimage's ``bbox``; (y0, x0, y1, x1) in 2D.
    #[getter]
    fn bbox(&self) -> Vec<usize> {
        let b = self.inner.bbox;
        if self.is_2d {
            vec![b[1], b[2], b[4], b[5]]
        } else {
            b.to_vec()
        }
    }
    /// tuple of float : bounding box in world mm, outer faces of the extreme voxels:
    /// origin + (index - 1/2) * spacing for the minimum, origin + (max - 1/2) * spacing
    /// for the exclusive maximum.
    #[getter]
    fn bbox_mm(&self) -> Vec<f64> {
        let b = self.inner.bbox_mm;
        if self.is_2d {
            vec![b[1], b[2], b[4], b[5]]
        } else {
            b.to_vec()
        }
    }
    /// tuple of float : mean voxel index (skimage's ``centroid`` without spacing).
    #[getter]
    fn centroid(&self) -> Vec<f64> {
        self.vec3(self.inner.centroid)
    }
    /// tuple of float : centroid in world mm, origin + centroid * spacing.
    #[getter]
    fn centroid_mm(&self) -> Vec<f64> {
        self.vec3(self.inner.centroid_mm)
    }
    /// float or None : mean intensity (None without an intensity image).
    #[getter]
    fn intensity_mean(&self) -> Option<f64> {
        self.inner.intensity_mean
    }
    /// float or None : minimum intensity.
    #[getter]
    fn intensity_min(&self) -> Option<f32> {
        self.inner.intensity_min
    }
    /// float or None : maximum intensity.
    #[getter]
    fn intensity_max(&self) -> Option<f32> {
        self.inner.intensity_max
    }
    /// numpy.ndarray : inertia tensor in voxel units (skimage's definition), 3x3 (2x2
    /// in 2D).
    #[getter]
    fn inertia_tensor<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<f64>> {
        self.matrix(py, self.inner.inertia_tensor)
    }
    /// list of float : eigenvalues of ``inertia_tensor``, descending.
    #[getter]
    fn inertia_tensor_eigvals(&self) -> Vec<f64> {
        let e = self.inner.inertia_tensor_eigvals;
        if self.is_2d {
            e[1..].to_vec()
        } else {
            e.to_vec()
        }
    }
    /// numpy.ndarray : inertia tensor in mm² (skimage's ``inertia_tensor`` with
    /// ``spacing``).
    #[getter]
    fn inertia_tensor_mm<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<f64>> {
        self.matrix(py, self.inner.inertia_tensor_mm)
    }
    /// list of float : eigenvalues of ``inertia_tensor_mm``, descending.
    #[getter]
    fn inertia_tensor_eigvals_mm(&self) -> Vec<f64> {
        let e = self.inner.inertia_tensor_eigvals_mm;
        if self.is_2d {
            e[1..].to_vec()
        } else {
            e.to_vec()
        }
    }
    /// numpy.ndarray : principal axes as rows of unit vectors (z, y, x) — (y, x) in 2D
    /// — from the longest direction of the region to the shortest.
    #[getter]
    fn principal_axes<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<f64>> {
        let keep = self.axes_kept();
        let a = self.inner.principal_axes;
        let o = if self.is_2d { 1 } else { 0 };
        ndarray::Array2::from_shape_fn((keep.len(), 3 - o), |(r, c)| a[keep[r]][c + o])
            .into_pyarray(py)
    }
    /// list of float : variance of the voxel centres along each principal axis, mm².
    #[getter]
    fn principal_variances_mm2(&self) -> Vec<f64> {
        self.axes_kept()
            .iter()
            .map(|&i| self.inner.principal_variances_mm2[i])
            .collect()
    }
    /// list of float : extent along each principal axis in mm (projected voxel centres
    /// plus one voxel's projected width: an oriented bounding box).
    #[getter]
    fn principal_extents_mm(&self) -> Vec<f64> {
        self.axes_kept()
            .iter()
            .map(|&i| self.inner.principal_extents_mm[i])
            .collect()
    }
    /// float : voxels / bounding-box voxels (skimage's ``extent``).
    #[getter]
    fn extent(&self) -> f64 {
        self.inner.extent
    }
    /// tuple of int : exposed voxel faces normal to z, y, x (y, x in 2D: pixel edges).
    #[getter]
    fn exposed_faces(&self) -> Vec<u64> {
        let f = self.inner.exposed_faces;
        if self.is_2d {
            f[1..].to_vec()
        } else {
            f.to_vec()
        }
    }
    /// float or None : surface area estimate in mm², the area of the exposed voxel
    /// faces (over-estimates smooth surfaces, about 3/2 for a sphere); None in 2D.
    #[getter]
    fn surface_area_mm2(&self) -> Option<f64> {
        (!self.is_2d).then_some(self.inner.surface_area_mm2)
    }
    /// float or None : in 2D, the length in mm of the exposed pixel edges (a
    /// staircase perimeter, not skimage's ``perimeter``); None in 3D.
    #[getter]
    fn perimeter_mm(&self) -> Option<f64> {
        let [_, dy, dx] = self.spacing;
        self.is_2d.then(|| {
            // Edges normal to y are dx long, edges normal to x are dy long.
            self.inner.exposed_faces[1] as f64 * dx + self.inner.exposed_faces[2] as f64 * dy
        })
    }
    /// int : Euler characteristic with 26-connected foreground and 6-connected
    /// background (8 / 4 in 2D), skimage's ``euler_number``: components - tunnels +
    /// cavities (components - holes in 2D).
    #[getter]
    fn euler_number(&self) -> i64 {
        self.inner.euler_number
    }
    /// int : 2 or 3, the dimensionality of the labelled image.
    #[getter]
    fn ndim(&self) -> usize {
        if self.is_2d {
            2
        } else {
            3
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "RegionProps(label={}, num_voxels={}, bbox={:?}, volume_mm3={})",
            self.inner.label,
            self.inner.voxel_count,
            self.bbox(),
            self.inner.volume_mm3
        )
    }

    /// Restores an object from ``__reduce__``'s state (JSON).
    #[staticmethod]
    fn _from_state(state: &str, ndim: usize, spacing: [f64; 3]) -> PyResult<Self> {
        let inner: RegionProps = serde_json::from_str(state)
            .map_err(|e| PyValueError::new_err(format!("invalid RegionProps state: {e}")))?;
        Ok(Self {
            inner,
            is_2d: ndim == 2,
            spacing,
        })
    }

    #[allow(clippy::type_complexity)]
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, (String, usize, [f64; 3]))> {
        let me = slf.get();
        let state = serde_json::to_string(&me.inner)
            .map_err(|e| PyValueError::new_err(format!("cannot serialise RegionProps: {e}")))?;
        Ok((
            slf.py().get_type::<Self>().getattr("_from_state")?,
            (state, me.ndim(), me.spacing),
        ))
    }
}

fn labels_u32(obj: &Bound<'_, PyAny>) -> PyResult<(Array3<u32>, bool)> {
    let arr = as_ndarray(obj)?;
    let is_2d = check_ndim("labels", arr.ndim())?;
    if is_dtype::<u32>(&arr) {
        let a = arr.cast::<PyArrayDyn<u32>>()?.readonly();
        return Ok((view3(a.as_array()).as_standard_layout().into_owned(), is_2d));
    }
    let kind = arr.dtype().kind();
    if !matches!(kind, b'u' | b'i' | b'b') {
        return Err(PyValueError::new_err(format!(
            "labels must be an integer (or bool) array; got dtype {}",
            arr.dtype()
        )));
    }
    let a: PyArrayLikeDyn<'_, i64, AllowTypeChange> = arr.as_any().extract()?;
    let v = view3(a.as_array());
    let bad = v
        .iter()
        .filter(|&&x| x < 0 || x > i64::from(u32::MAX))
        .count();
    if bad > 0 {
        return Err(PyValueError::new_err(format!(
            "labels must be in 0..=4294967295; found {bad} value(s) outside"
        )));
    }
    Ok((v.mapv(|x| x as u32), is_2d))
}

/// A (z, y, x) triple from 3 values, or from 2 (y, x) for 2D input with `z2d` for z.
fn triple(name: &str, v: Option<Vec<f64>>, is_2d: bool, z2d: f64) -> PyResult<Option<[f64; 3]>> {
    match v {
        None => Ok(None),
        Some(v) if v.len() == 3 => Ok(Some([v[0], v[1], v[2]])),
        Some(v) if v.len() == 2 && is_2d => Ok(Some([z2d, v[0], v[1]])),
        Some(v) => Err(PyValueError::new_err(format!(
            "{name} must have {} values; got {} ({v:?})",
            if is_2d { "2 (or 3)" } else { "3" },
            v.len()
        ))),
    }
}

/// Measure labelled regions.
///
/// One entry per label present (sorted by label), with area/volume, bounding box,
/// centroid, intensity statistics, inertia tensor and eigenvalues, principal axes and
/// extents, fill ratio, surface area and Euler number. The shared properties agree
/// with ``skimage.measure.regionprops(labels, intensity, spacing=spacing)``.
///
/// Parameters
/// ----------
/// labels : array_like, shape (nz, ny, nx) or (ny, nx)
///     Non-negative integer labels, 0 = background (need not be dense).
/// intensity : Volume or array_like or None, optional
///     Intensity image of the same shape (e.g. μ in mm⁻¹). A Volume also supplies the
///     default spacing and origin.
/// spacing : tuple of float or None, optional
///     Voxel size (dz, dy, dx) in mm — (dy, dx) in 2D. Default: the Volume's, else 1.
/// origin : tuple of float or None, optional
///     World position (z, y, x) in mm of voxel [0, 0, 0]. Default: the Volume's, else 0.
///
/// Returns
/// -------
/// list of RegionProps
///
/// Raises
/// ------
/// ValueError
///     If labels are not integers >= 0, shapes differ, the spacing is not positive, or
///     the intensity holds NaN/inf.
#[pyfunction]
#[pyo3(signature = (labels, intensity = None, spacing = None, origin = None))]
fn regionprops(
    py: Python<'_>,
    labels: &Bound<'_, PyAny>,
    intensity: Option<&Bound<'_, PyAny>>,
    spacing: Option<Vec<f64>>,
    origin: Option<Vec<f64>>,
) -> PyResult<Vec<PyRegionProps>> {
    let (lab, is_2d) = labels_u32(labels)?;
    let mut sp = triple("spacing", spacing, is_2d, 1.0)?;
    let mut org = triple("origin", origin, is_2d, 0.0)?;
    let intensity_arr: Option<Array3<f32>> = match intensity {
        None => None,
        Some(obj) => {
            if let Ok(vol) = obj.cast::<PyVolume>() {
                let v = &vol.get().inner;
                sp = sp.or(Some(v.spacing()));
                org = org.or(Some(v.origin()));
                Some(v.data().clone())
            } else {
                let a: PyArrayLikeDyn<'_, f32, AllowTypeChange> = obj.extract()?;
                let v = a.as_array();
                let want: IxDyn = if is_2d {
                    IxDyn(&lab.shape()[1..])
                } else {
                    IxDyn(lab.shape())
                };
                if v.raw_dim() != want {
                    return Err(PyValueError::new_err(format!(
                        "intensity must have the labels' shape {:?}; got {:?}",
                        ndarray::Dimension::slice(&want),
                        v.shape()
                    )));
                }
                Some(view3(v).as_standard_layout().into_owned())
            }
        }
    };
    let sp = sp.unwrap_or([1.0; 3]);
    let org = org.unwrap_or([0.0; 3]);
    let props = py
        .detach(|| {
            segment::regionprops(
                lab.view(),
                intensity_arr.as_ref().map(|a| a.view()),
                sp,
                org,
            )
        })
        .py()?;
    Ok(props
        .into_iter()
        .map(|inner| PyRegionProps {
            inner,
            is_2d,
            spacing: sp,
        })
        .collect())
}

/// Registers the segmentation functions and classes.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRegionProps>()?;
    m.add_function(wrap_pyfunction!(threshold_otsu, m)?)?;
    m.add_function(wrap_pyfunction!(threshold_multiotsu, m)?)?;
    m.add_function(wrap_pyfunction!(hysteresis, m)?)?;
    m.add_function(wrap_pyfunction!(binary_erosion, m)?)?;
    m.add_function(wrap_pyfunction!(binary_dilation, m)?)?;
    m.add_function(wrap_pyfunction!(binary_opening, m)?)?;
    m.add_function(wrap_pyfunction!(binary_closing, m)?)?;
    m.add_function(wrap_pyfunction!(fill_holes, m)?)?;
    m.add_function(wrap_pyfunction!(ball, m)?)?;
    m.add_function(wrap_pyfunction!(cube, m)?)?;
    m.add_function(wrap_pyfunction!(label, m)?)?;
    m.add_function(wrap_pyfunction!(regionprops, m)?)?;
    Ok(())
}
