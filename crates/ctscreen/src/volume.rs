//! Volumes and projections: arrays with their physical placement.
//!
//! A [`Volume`] is an `Array3<f32>` with axes `(z, y, x)` (C order, x fastest), the
//! voxel spacing `(dz, dy, dx)` in millimetres, the world position of voxel `[0, 0, 0]`
//! (`origin`, `(z, y, x)` mm) and the direction cosines of the array axes. The world
//! position of voxel `[k, j, i]` is `origin + direction · (index ⊙ spacing)`; with the
//! identity direction (the default, and what every reconstruction produces) that is
//! `origin + index * spacing` per axis. Values are linear attenuation μ in mm⁻¹ unless a
//! file says otherwise (DICOM CT loads in HU; see [`hu_to_mu`]).
//!
//! [`Projections`] are line integrals −ln(I/I0), an `Array3<f32>` of `(views, rows, cols)`.

use ndarray::{s, Array3};

use crate::{Error, Result};

/// Linear attenuation of water in mm⁻¹ at the given effective energy (keV), from the
/// NIST XCOM mass attenuation coefficients of liquid water (density 1.0 g/cm³), log-log
/// interpolated. 70 keV, a typical effective energy of a 120 kVp tube, gives 0.01929 mm⁻¹.
///
/// **Errors** if `energy_kev` is not finite or outside 10–200 keV.
pub fn water_mu_per_mm(energy_kev: f64) -> Result<f64> {
    // (keV, μ/ρ cm²/g), NIST XCOM / Hubbell & Seltzer, water, liquid.
    const TABLE: [(f64, f64); 12] = [
        (10.0, 5.329),
        (15.0, 1.673),
        (20.0, 0.8096),
        (30.0, 0.3756),
        (40.0, 0.2683),
        (50.0, 0.2269),
        (60.0, 0.2059),
        (80.0, 0.1837),
        (100.0, 0.1707),
        (150.0, 0.1505),
        (200.0, 0.1370),
        (300.0, 0.1186),
    ];
    if !energy_kev.is_finite() || !(10.0..=200.0).contains(&energy_kev) {
        return Err(Error::invalid(
            "energy_kev",
            energy_kev,
            "a finite energy in 10–200 keV",
        ));
    }
    let i = TABLE
        .iter()
        .position(|&(e, _)| e >= energy_kev)
        .unwrap_or(TABLE.len() - 1)
        .max(1);
    let (e0, m0) = TABLE[i - 1];
    let (e1, m1) = TABLE[i];
    let t = (energy_kev.ln() - e0.ln()) / (e1.ln() - e0.ln());
    let mass = (m0.ln() + t * (m1.ln() - m0.ln())).exp();
    Ok(mass / 10.0) // cm²/g × 1 g/cm³ = cm⁻¹ → mm⁻¹
}

/// Converts μ (mm⁻¹) to Hounsfield units: `HU = 1000 (μ − μw) / μw`.
///
/// `water_mu` is μ of water at the scan's effective energy ([`water_mu_per_mm`]).
pub fn mu_to_hu(mu: f32, water_mu: f64) -> f32 {
    (1000.0 * (f64::from(mu) - water_mu) / water_mu) as f32
}

/// Converts Hounsfield units to μ (mm⁻¹): `μ = μw (1 + HU / 1000)`.
pub fn hu_to_mu(hu: f32, water_mu: f64) -> f32 {
    (water_mu * (1.0 + f64::from(hu) / 1000.0)) as f32
}

/// Bytes an allocation may take before [`ensure_allocatable`] refuses it: the
/// `CTSCREEN_MEMORY_LIMIT` environment variable (bytes, or with a `K`/`M`/`G` suffix)
/// if set, else the memory the operating system reports available (`MemAvailable`),
/// else 16 GiB.
pub fn memory_limit_bytes() -> u128 {
    if let Ok(text) = std::env::var("CTSCREEN_MEMORY_LIMIT") {
        let t = text.trim();
        let (num, mult) = match t.chars().last() {
            Some('K' | 'k') => (&t[..t.len() - 1], 1u128 << 10),
            Some('M' | 'm') => (&t[..t.len() - 1], 1u128 << 20),
            Some('G' | 'g') => (&t[..t.len() - 1], 1u128 << 30),
            _ => (t, 1u128),
        };
        if let Ok(n) = num.trim().parse::<u128>() {
            return n * mult;
        }
    }
    if let Ok(info) = std::fs::read_to_string("/proc/meminfo") {
        for line in info.lines() {
            if let Some(rest) = line.strip_prefix("MemAvailable:") {
                let kb: u128 = rest
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .unwrap_or(0);
                if kb > 0 {
                    return kb * 1024;
                }
            }
        }
    }
    16u128 << 30
}

/// The number of elements of an array of `shape`, saturating at `u128::MAX` instead of
/// overflowing (three `usize` dimensions can exceed `u128`), for [`ensure_allocatable`].
///
/// # Example
/// ```
/// use ctscreen::volume::element_count;
/// assert_eq!(element_count(&[2, 3, 4]), 24);
/// assert_eq!(element_count(&[usize::MAX; 3]), u128::MAX);
/// ```
pub fn element_count(shape: &[usize]) -> u128 {
    shape
        .iter()
        .fold(1u128, |acc, &n| acc.saturating_mul(n as u128))
}

/// Refuses up front an allocation of `count` elements of `elem_bytes` bytes each that
/// would exceed [`memory_limit_bytes`], instead of letting the process be killed.
///
/// **Errors** with [`Error::TooLarge`] naming `what` and the size.
pub fn ensure_allocatable(what: &str, count: u128, elem_bytes: u128) -> Result<()> {
    let bytes = count.saturating_mul(elem_bytes);
    let limit = memory_limit_bytes();
    if bytes > limit {
        return Err(Error::TooLarge {
            what: what.to_string(),
            bytes,
            limit,
        });
    }
    Ok(())
}

/// Counts the values of `values` that are NaN or infinite.
pub fn count_non_finite<'a>(values: impl IntoIterator<Item = &'a f32>) -> usize {
    values.into_iter().filter(|v| !v.is_finite()).count()
}

/// Returns `Err(Error::NonFinite)` naming `what` if any value is NaN or infinite.
pub fn ensure_finite<'a>(what: &str, values: impl IntoIterator<Item = &'a f32>) -> Result<()> {
    let count = count_non_finite(values);
    if count > 0 {
        Err(Error::NonFinite {
            what: what.to_string(),
            count,
        })
    } else {
        Ok(())
    }
}

fn check_spacing(name: &str, spacing: [f64; 3]) -> Result<()> {
    if spacing.iter().any(|s| !s.is_finite() || *s <= 0.0) {
        return Err(Error::invalid(
            name,
            format!("{spacing:?}"),
            "three finite spacings > 0 mm",
        ));
    }
    Ok(())
}

/// A 3D image on a regular grid: `(z, y, x)` f32 data, spacing and origin in mm.
#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    data: Array3<f32>,
    spacing_mm: [f64; 3],
    origin_mm: [f64; 3],
    direction: [[f64; 3]; 3],
}

impl Volume {
    /// A volume with voxel `[0, 0, 0]` at world `origin_mm` (`(z, y, x)` mm) and
    /// voxel size `spacing_mm` (`(dz, dy, dx)` mm).
    ///
    /// **Errors** if a spacing is not finite and positive, or the origin not finite.
    ///
    /// # Example
    /// ```
    /// use ctscreen::Volume;
    /// let v = Volume::new(ndarray::Array3::zeros((4, 5, 6)), [2.0, 1.0, 1.0], [0.0; 3]).unwrap();
    /// assert_eq!(v.shape(), [4, 5, 6]);
    /// assert_eq!(v.world_of_index([1.0, 0.0, 2.0]), [2.0, 0.0, 2.0]);
    /// ```
    pub fn new(data: Array3<f32>, spacing_mm: [f64; 3], origin_mm: [f64; 3]) -> Result<Self> {
        check_spacing("spacing", spacing_mm)?;
        if origin_mm.iter().any(|o| !o.is_finite()) {
            return Err(Error::invalid(
                "origin",
                format!("{origin_mm:?}"),
                "three finite coordinates in mm",
            ));
        }
        let data = if data.is_standard_layout() {
            data
        } else {
            data.as_standard_layout().into_owned()
        };
        Ok(Self {
            data,
            spacing_mm,
            origin_mm,
            direction: IDENTITY,
        })
    }

    /// A volume centred on the isocentre (world `(0, 0, 0)` at the centre of the
    /// grid): `origin = −(n − 1) / 2 · spacing` per axis. Reconstructions use this.
    ///
    /// **Errors** as [`Volume::new`].
    pub fn centered(data: Array3<f32>, spacing_mm: [f64; 3]) -> Result<Self> {
        let origin = centered_origin(data.dim().into(), spacing_mm);
        Self::new(data, spacing_mm, origin)
    }

    /// Sets the direction cosines: column `a` of `direction` (`direction[r][a]`) is the
    /// world unit vector, `(z, y, x)` components, of array axis `a`. Kept for files that
    /// carry an oblique orientation; the processing stages treat volumes as axis-aligned.
    ///
    /// **Errors** if the matrix is not finite and orthonormal to 1e-4.
    pub fn with_direction(mut self, direction: [[f64; 3]; 3]) -> Result<Self> {
        for a in 0..3 {
            for b in 0..3 {
                let dot: f64 = (0..3).map(|r| direction[r][a] * direction[r][b]).sum();
                let want = if a == b { 1.0 } else { 0.0 };
                if !dot.is_finite() || (dot - want).abs() > 1e-4 {
                    return Err(Error::invalid(
                        "direction",
                        format!("{direction:?}"),
                        "an orthonormal 3×3 matrix",
                    ));
                }
            }
        }
        self.direction = direction;
        Ok(self)
    }

    /// The voxel values, `(z, y, x)`.
    pub fn data(&self) -> &Array3<f32> {
        &self.data
    }
    /// The voxel values, mutable.
    pub fn data_mut(&mut self) -> &mut Array3<f32> {
        &mut self.data
    }
    /// Takes the voxel values out.
    pub fn into_data(self) -> Array3<f32> {
        self.data
    }
    /// Voxel size `(dz, dy, dx)` in mm.
    pub fn spacing(&self) -> [f64; 3] {
        self.spacing_mm
    }
    /// World position `(z, y, x)` in mm of voxel `[0, 0, 0]`'s centre.
    pub fn origin(&self) -> [f64; 3] {
        self.origin_mm
    }
    /// Direction cosines (see [`Volume::with_direction`]); identity unless a file set them.
    pub fn direction(&self) -> [[f64; 3]; 3] {
        self.direction
    }
    /// Array shape `(nz, ny, nx)`.
    pub fn shape(&self) -> [usize; 3] {
        self.data.dim().into()
    }
    /// Volume of one voxel in mm³.
    pub fn voxel_volume_mm3(&self) -> f64 {
        self.spacing_mm.iter().product()
    }
    /// World position `(z, y, x)` mm of the centre of voxel `index` (may be fractional).
    pub fn world_of_index(&self, index: [f64; 3]) -> [f64; 3] {
        let mut w = self.origin_mm;
        for (r, wr) in w.iter_mut().enumerate() {
            for a in 0..3 {
                *wr += self.direction[r][a] * index[a] * self.spacing_mm[a];
            }
        }
        w
    }
    /// The 4×4 affine mapping homogeneous `(k, j, i, 1)` indices to world `(z, y, x, 1)` mm.
    pub fn affine(&self) -> [[f64; 4]; 4] {
        let mut a = [[0.0; 4]; 4];
        for r in 0..3 {
            for c in 0..3 {
                a[r][c] = self.direction[r][c] * self.spacing_mm[c];
            }
            a[r][3] = self.origin_mm[r];
        }
        a[3][3] = 1.0;
        a
    }

    /// The sub-volume of voxels `start[a] .. start[a] + size[a]`, with the origin moved
    /// so every kept voxel keeps its world position.
    ///
    /// **Errors** if the box is empty or reaches outside the volume.
    pub fn crop(&self, start: [usize; 3], size: [usize; 3]) -> Result<Volume> {
        let shape = self.shape();
        for a in 0..3 {
            if size[a] == 0
                || start[a]
                    .checked_add(size[a])
                    .is_none_or(|end| end > shape[a])
            {
                return Err(Error::invalid(
                    "crop box",
                    format!("start {start:?} size {size:?}"),
                    format!("a non-empty box inside the shape {shape:?}"),
                ));
            }
        }
        let data = self
            .data
            .slice(s![
                start[0]..start[0] + size[0],
                start[1]..start[1] + size[1],
                start[2]..start[2] + size[2]
            ])
            .to_owned();
        let origin = self.world_of_index([start[0] as f64, start[1] as f64, start[2] as f64]);
        Ok(Volume {
            data,
            spacing_mm: self.spacing_mm,
            origin_mm: origin,
            direction: self.direction,
        })
    }

    /// How many voxels are NaN or ±inf (file readers keep them as stored; processing
    /// functions refuse them, see the crate docs on non-finite values).
    ///
    /// # Example
    /// ```
    /// use ctscreen::Volume;
    /// let mut v = Volume::new(ndarray::Array3::zeros((1, 2, 2)), [1.0; 3], [0.0; 3]).unwrap();
    /// v.data_mut()[[0, 1, 0]] = f32::NAN;
    /// assert_eq!(v.count_non_finite(), 1);
    /// ```
    pub fn count_non_finite(&self) -> usize {
        count_non_finite(self.data.iter())
    }

    /// The minimum and maximum voxel value, ignoring NaN; `None` if every value is NaN.
    pub fn value_range(&self) -> Option<(f32, f32)> {
        let mut lo = f32::INFINITY;
        let mut hi = f32::NEG_INFINITY;
        for &v in self.data.iter() {
            if !v.is_nan() {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
        (lo <= hi).then_some((lo, hi))
    }

    /// Trilinear resampling onto a grid of `shape` covering the same physical extent
    /// (first and last voxel centres kept), so the spacing becomes
    /// `old_spacing · (old_n − 1) / (new_n − 1)` per axis (unchanged for `n = 1`).
    ///
    /// **Errors** if a target dimension is zero, the output is too large
    /// ([`Error::TooLarge`]), or the volume holds NaN or ±inf ([`Error::NonFinite`]).
    pub fn resample(&self, shape: [usize; 3]) -> Result<Volume> {
        if shape.contains(&0) {
            return Err(Error::invalid(
                "shape",
                format!("{shape:?}"),
                "three sizes ≥ 1",
            ));
        }
        ensure_allocatable("resampled volume", element_count(&shape), 4)?;
        // Interpolation would smear NaN and ±inf into their neighbours.
        ensure_finite("volume", self.data.iter())?;
        let old = self.shape();
        let scale: Vec<f64> = (0..3)
            .map(|a| {
                if shape[a] > 1 {
                    (old[a] - 1) as f64 / (shape[a] - 1) as f64
                } else {
                    0.0
                }
            })
            .collect();
        let spacing: [f64; 3] = std::array::from_fn(|a| {
            if shape[a] > 1 && old[a] > 1 {
                self.spacing_mm[a] * scale[a]
            } else {
                self.spacing_mm[a]
            }
        });
        let src = &self.data;
        let axis = |a: usize, i: usize| -> (usize, usize, f32) {
            let p = i as f64 * scale[a];
            let i0 = (p.floor() as usize).min(old[a] - 1);
            let i1 = (i0 + 1).min(old[a] - 1);
            (i0, i1, (p - i0 as f64) as f32)
        };
        let data = Array3::from_shape_fn(shape, |(k, j, i)| {
            let (z0, z1, tz) = axis(0, k);
            let (y0, y1, ty) = axis(1, j);
            let (x0, x1, tx) = axis(2, i);
            let lerp = |a: f32, b: f32, t: f32| a + (b - a) * t;
            let plane = |z: usize| {
                lerp(
                    lerp(src[[z, y0, x0]], src[[z, y0, x1]], tx),
                    lerp(src[[z, y1, x0]], src[[z, y1, x1]], tx),
                    ty,
                )
            };
            lerp(plane(z0), plane(z1), tz)
        });
        let mut out = Volume::new(data, spacing, self.origin_mm)?;
        out.direction = self.direction;
        Ok(out)
    }
}

const IDENTITY: [[f64; 3]; 3] = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];

/// The origin that puts the centre of a grid of `shape` × `spacing_mm` at world 0.
pub fn centered_origin(shape: [usize; 3], spacing_mm: [f64; 3]) -> [f64; 3] {
    std::array::from_fn(|a| -(shape[a] as f64 - 1.0) / 2.0 * spacing_mm[a])
}

/// Projection data: line integrals −ln(I/I0), `(views, rows, cols)`.
///
/// Rows run along the rotation axis (world z), columns across it, matching the
/// detector of a [`crate::geometry::Geometry`].
#[derive(Debug, Clone, PartialEq)]
pub struct Projections {
    data: Array3<f32>,
}

impl Projections {
    /// Wraps `(views, rows, cols)` line integrals.
    ///
    /// **Errors** if any dimension is zero.
    pub fn new(data: Array3<f32>) -> Result<Self> {
        if data.is_empty() {
            return Err(Error::invalid(
                "projections shape",
                format!("{:?}", data.dim()),
                "(views, rows, cols) all ≥ 1",
            ));
        }
        let data = if data.is_standard_layout() {
            data
        } else {
            data.as_standard_layout().into_owned()
        };
        Ok(Self { data })
    }
    /// The line integrals, `(views, rows, cols)`.
    pub fn data(&self) -> &Array3<f32> {
        &self.data
    }
    /// Mutable line integrals.
    pub fn data_mut(&mut self) -> &mut Array3<f32> {
        &mut self.data
    }
    /// Takes the array out.
    pub fn into_data(self) -> Array3<f32> {
        self.data
    }
    /// `(views, rows, cols)`.
    pub fn shape(&self) -> [usize; 3] {
        self.data.dim().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hu_round_trip_and_water_table() {
        let mw = water_mu_per_mm(70.0).unwrap();
        assert!((mw - 0.01929).abs() < 2e-4, "{mw}");
        assert_eq!(mu_to_hu(mw as f32, mw).round(), 0.0);
        assert!((mu_to_hu(0.0, mw) + 1000.0).abs() < 1e-3);
        assert!((hu_to_mu(mu_to_hu(0.05, mw), mw) - 0.05).abs() < 1e-6);
        assert!(water_mu_per_mm(f64::NAN).is_err());
        assert!(water_mu_per_mm(5.0).is_err());
    }

    #[test]
    fn bad_spacing_is_named() {
        let e = Volume::new(Array3::zeros((1, 1, 1)), [1.0, 0.0, 1.0], [0.0; 3]).unwrap_err();
        assert!(e.to_string().contains("spacing"), "{e}");
    }

    #[test]
    fn crop_keeps_world_positions() {
        let data = Array3::from_shape_fn((4, 4, 4), |(k, j, i)| (k * 16 + j * 4 + i) as f32);
        let v = Volume::new(data, [1.0, 2.0, 3.0], [10.0, 20.0, 30.0]).unwrap();
        let c = v.crop([1, 2, 3], [2, 2, 1]).unwrap();
        assert_eq!(c.data()[[0, 0, 0]], v.data()[[1, 2, 3]]);
        assert_eq!(c.origin(), v.world_of_index([1.0, 2.0, 3.0]));
        assert!(v.crop([3, 0, 0], [2, 1, 1]).is_err());
    }

    #[test]
    fn resample_linear_ramp_is_exact() {
        let data = Array3::from_shape_fn((3, 5, 9), |(k, j, i)| (k + 2 * j + 3 * i) as f32);
        let v = Volume::new(data, [1.0, 1.0, 1.0], [0.0; 3]).unwrap();
        let r = v.resample([5, 9, 17]).unwrap();
        assert_eq!(r.spacing(), [0.5, 0.5, 0.5]);
        for ((k, j, i), &x) in r.data().indexed_iter() {
            let want = 0.5 * k as f32 + 2.0 * 0.5 * j as f32 + 3.0 * 0.5 * i as f32;
            assert!((x - want).abs() < 1e-4);
        }
    }

    #[test]
    fn memory_guard_refuses_absurd_sizes() {
        let e = ensure_allocatable("test volume", 1u128 << 60, 4).unwrap_err();
        assert!(matches!(e, Error::TooLarge { .. }));
        assert!(e.to_string().contains("test volume"));
    }
}
