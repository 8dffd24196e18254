//! Segmentation: global thresholds, binary morphology, connected components and
//! region properties of labelled volumes.
//!
//! The functions follow scikit-image and `scipy.ndimage` (names, definitions, border
//! rules) so that results can be checked against them:
//!
//! | here | reference |
//! | --- | --- |
//! | [`threshold_otsu`], [`threshold_multiotsu`] | `skimage.filters.threshold_otsu`, `threshold_multiotsu` |
//! | [`hysteresis`] | `skimage.filters.apply_hysteresis_threshold` (with a choice of connectivity) |
//! | [`binary_erosion`], [`binary_dilation`], [`binary_opening`], [`binary_closing`], [`fill_holes`] | `scipy.ndimage.binary_*`, `binary_fill_holes` |
//! | [`ball`], [`cube`], [`generate_binary_structure`] | `skimage.morphology.ball`, `cube`, `scipy.ndimage.generate_binary_structure` |
//! | [`label`] | `scipy.ndimage.label` for masks, `cc3d.connected_components` for multi-valued input |
//! | [`regionprops`] | `skimage.measure.regionprops` |
//!
//! Arrays are `(z, y, x)`; 2D images are handled as volumes with `nz = 1` (see
//! [`Connectivity::Four`] and [`Connectivity::Eight`] for in-plane neighbourhoods, and
//! [`label_2d`]). Labels are `Array3<u32>` with 0 for background and 1..N dense, numbered
//! in raster order of each component's first voxel. Every function gives bit-identical
//! results whatever the number of rayon threads.

use crate::{Error, Result};

mod label;
mod morphology;
mod regionprops;
mod threshold;

pub use label::{label, label_2d, label_with_progress};
pub use morphology::{
    ball, binary_closing, binary_dilation, binary_erosion, binary_opening, cube, fill_holes,
    generate_binary_structure,
};
pub use regionprops::{regionprops, regionprops_of_volume, regionprops_with_progress, RegionProps};
pub use threshold::{hysteresis, threshold_multiotsu, threshold_otsu};

/// Which voxels count as neighbours when grouping voxels into components.
///
/// The 3D neighbourhoods are those of `scipy.ndimage.generate_binary_structure(3, c)`
/// for `c` = 1, 2, 3. The 2D ones connect voxels only within a z plane (each plane is
/// treated as a separate 2D image), which is what a 2D image stored with `nz = 1` needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Connectivity {
    /// In-plane faces: 4 neighbours in the same z plane.
    Four,
    /// In-plane faces and corners: 8 neighbours in the same z plane.
    Eight,
    /// Faces: 6 neighbours.
    Six,
    /// Faces and edges: 18 neighbours.
    Eighteen,
    /// Faces, edges and corners: 26 neighbours.
    TwentySix,
}

impl Connectivity {
    /// The connectivity with this neighbour count: 4, 8 (in-plane) or 6, 18, 26.
    ///
    /// **Errors** with [`Error::InvalidParameter`] for any other number.
    ///
    /// # Example
    /// ```
    /// use ctscreen::segment::Connectivity;
    /// assert_eq!(Connectivity::from_number(26).unwrap(), Connectivity::TwentySix);
    /// assert!(Connectivity::from_number(7).is_err());
    /// ```
    pub fn from_number(n: u32) -> Result<Self> {
        match n {
            4 => Ok(Self::Four),
            8 => Ok(Self::Eight),
            6 => Ok(Self::Six),
            18 => Ok(Self::Eighteen),
            26 => Ok(Self::TwentySix),
            _ => Err(Error::invalid(
                "connectivity",
                n,
                "4 or 8 (within a plane), or 6, 18 or 26 (3D)",
            )),
        }
    }

    /// The neighbour count (4, 8, 6, 18 or 26).
    pub fn number(self) -> u32 {
        match self {
            Self::Four => 4,
            Self::Eight => 8,
            Self::Six => 6,
            Self::Eighteen => 18,
            Self::TwentySix => 26,
        }
    }

    /// True if the offset `(dz, dy, dx)` (each in −1..=1, not all zero) joins neighbours.
    pub fn connects(self, d: [i32; 3]) -> bool {
        let nonzero = d.iter().filter(|&&c| c != 0).count();
        if nonzero == 0 || d.iter().any(|c| c.abs() > 1) {
            return false;
        }
        match self {
            Self::Four => d[0] == 0 && nonzero == 1,
            Self::Eight => d[0] == 0,
            Self::Six => nonzero == 1,
            Self::Eighteen => nonzero <= 2,
            Self::TwentySix => true,
        }
    }

    /// All neighbour offsets `(dz, dy, dx)`, in raster order.
    pub fn offsets(self) -> Vec<[i32; 3]> {
        let mut v = Vec::new();
        for dz in -1..=1 {
            for dy in -1..=1 {
                for dx in -1..=1 {
                    if self.connects([dz, dy, dx]) {
                        v.push([dz, dy, dx]);
                    }
                }
            }
        }
        v
    }
}

/// A voxel type that [`label`] accepts: voxels are joined when they are neighbours,
/// equal and not zero (`false` for `bool`). A boolean or 0/1 mask therefore gives the
/// components of the mask; an integer label image gives the components of each label
/// value separately, like `cc3d.connected_components`.
pub trait LabelValue: Copy + PartialEq + Send + Sync + 'static {
    /// True for the background value (0 or `false`).
    fn is_background(self) -> bool;
}

impl LabelValue for bool {
    #[inline(always)]
    fn is_background(self) -> bool {
        !self
    }
}

macro_rules! label_value_int {
    ($($t:ty),*) => {$(
        impl LabelValue for $t {
            #[inline(always)]
            fn is_background(self) -> bool {
                self == 0
            }
        }
    )*};
}
label_value_int!(u8, i8, u16, i16, u32, i32, u64, i64);

/// Checks that a volume is not empty (every dimension ≥ 1).
fn ensure_nonempty(what: &str, shape: [usize; 3]) -> Result<()> {
    if shape.contains(&0) {
        return Err(Error::invalid(
            what,
            format!("shape {shape:?}"),
            "an array with every dimension ≥ 1",
        ));
    }
    Ok(())
}

/// Number of z slabs for work split along z: about four per rayon thread, at most `nz`.
/// Only used where the result does not depend on the split.
fn slab_count(nz: usize) -> usize {
    (rayon::current_num_threads() * 4).clamp(1, nz.max(1))
}

/// Splits `0..nz` into `n` contiguous ranges of near-equal size.
fn slab_ranges(nz: usize, n: usize) -> Vec<std::ops::Range<usize>> {
    let n = n.clamp(1, nz.max(1));
    (0..n).map(|s| (s * nz / n)..((s + 1) * nz / n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connectivity_counts_match_names() {
        for n in [4u32, 8, 6, 18, 26] {
            let c = Connectivity::from_number(n).unwrap();
            assert_eq!(c.offsets().len() as u32, n);
            assert_eq!(c.number(), n);
        }
        let e = Connectivity::from_number(7).unwrap_err().to_string();
        assert!(e.contains("connectivity") && e.contains('7'), "{e}");
    }

    #[test]
    fn slabs_cover_range() {
        for nz in 1..20 {
            for n in 1..25 {
                let r = slab_ranges(nz, n);
                assert_eq!(r[0].start, 0);
                assert_eq!(r.last().unwrap().end, nz);
                for w in r.windows(2) {
                    assert_eq!(w[0].end, w[1].start);
                    assert!(w[0].end > w[0].start);
                }
            }
        }
    }
}
