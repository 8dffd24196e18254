//! Shape descriptors of metal candidates, in millimetres.
//!
//! Every candidate is described in its own **principal frame**: the eigenvectors of the
//! covariance of its voxel centres, longest axis first (`t`, then `u`, then `v`, the
//! thinnest). The candidate's μ (zero outside its mask) is resampled by trilinear
//! interpolation onto a grid aligned with that frame (step `h`, half a voxel where the
//! size allows), and thresholded at the object's own half-density level
//! `max(low_mu, min(½ μ₇₅, ½ μ_steel))` (μ₇₅ the 75th percentile of its voxels): the half-maximum of a blurred edge is where the real
//! surface is, so lengths, widths and bores come out in true millimetres instead of
//! growing with the blur of the scan. On that grid:
//!
//! - **extents**: the lengths of the thresholded object along `t`, `u`, `v`;
//!   `elongation = t / u`, `flatness = u / v`, `fill = volume / (t·u·v)`;
//! - **cross-sections** perpendicular to `t` (and to `v`): per slice the solid area,
//!   width, thickness and the **enclosed holes** (background cells that a flood from the
//!   slice border cannot reach). Holes are tracked slice to slice into **bores**: a
//!   bore has a diameter (of the circle of equal area), a length, an aspect ratio, a
//!   wall thickness and a count of **open ends** (the cell at the bore's centre just
//!   beyond an end is empty: a barrel's muzzle is open, a cartridge case and an 18650
//!   can are closed by a bullet, a cap or a base). Several similar bores side by side
//!   are counted (`parallel_bores`: a revolver's cylinder, a box of cartridges);
//! - **plate measures**: thickness = median over the middle slices of solid area /
//!   width, and the width profile along `t` (a blade narrows to a point at one end, a
//!   spanner widens at both);
//! - **density profile**: the ratio of the mean μ of the denser end third to the other
//!   (a lead bullet in a brass case);
//! - **two-part analysis**: the voxels are fitted by two line segments (k-lines, several
//!   starts, the best kept) and the angle between the parts' outward directions, their
//!   lengths and where they meet are reported: a pistol's slide and grip meet near the
//!   slide's rear at 100–115°, pliers' handles at a few tens of degrees, a straight bar
//!   gains nothing from two lines;
//! - **solid limbs**: the same question for limbs too thick for lines (a steel pistol's
//!   slide and frame read 50–70 mm across): the largest solid rectangles of the
//!   silhouette in the main plane, their angle, lengths, widths, gap and how much of the
//!   outline they cover ([`SolidLimbs`]);
//! - **material**: the median μ of the solid is matched (on a log scale) against μ of
//!   aluminium, steel, brass/copper, lead and tungsten at `metal_energy_kev` (the
//!   effective energy of the beam once hardened by the metal itself, well above the
//!   scan's water-equivalent energy), which gives a density and a mass.
use ndarray::{Array3, ArrayView3};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::Volume;

use super::candidates::Candidate;
use super::DetectOptions;

/// The metal a candidate's density suggests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Material {
    /// Aluminium and its alloys (2.7 g/cm³).
    Aluminium,
    /// Iron and steel, stainless included (7.9 g/cm³).
    Steel,
    /// Copper and brass (8.5 g/cm³).
    BrassCopper,
    /// Lead (11.3 g/cm³).
    Lead,
    /// Tungsten and its heavy alloys (19.3 g/cm³).
    Tungsten,
}

impl Material {
    /// All materials, lightest first.
    pub const ALL: [Material; 5] = [
        Material::Aluminium,
        Material::Steel,
        Material::BrassCopper,
        Material::Lead,
        Material::Tungsten,
    ];

    /// The name used in reports (`"steel"`, `"brass_copper"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Material::Aluminium => "aluminium",
            Material::Steel => "steel",
            Material::BrassCopper => "brass_copper",
            Material::Lead => "lead",
            Material::Tungsten => "tungsten",
        }
    }

    /// Density in g/cm³.
    pub fn density_g_cm3(self) -> f64 {
        self.physics().density_g_cm3()
    }

    /// The [`crate::physics::Material`] standing for this class.
    pub fn physics(self) -> crate::physics::Material {
        use crate::physics::Material as P;
        match self {
            Material::Aluminium => P::Aluminium,
            Material::Steel => P::Steel,
            Material::BrassCopper => P::Brass,
            Material::Lead => P::Lead,
            Material::Tungsten => P::Tungsten,
        }
    }

    /// Linear attenuation μ (mm⁻¹) at `energy_kev`, from [`crate::physics`] (NIST
    /// XCOM mass attenuation).
    pub fn mu_per_mm(self, energy_kev: f64) -> f64 {
        self.physics().mu_per_mm(energy_kev)
    }

    /// The material whose μ at `energy_kev` is nearest to `mu` on a log scale.
    pub fn guess(mu: f64, energy_kev: f64) -> Material {
        let lm = mu.max(1e-6).ln();
        let mut best = Material::Steel;
        let mut bd = f64::INFINITY;
        for m in Material::ALL {
            let d = (m.mu_per_mm(energy_kev).ln() - lm).abs();
            if d < bd {
                bd = d;
                best = m;
            }
        }
        best
    }
}

/// A right-handed-free orthonormal frame: centroid and principal axes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    /// Centroid, world `(z, y, x)` mm.
    pub centroid: [f64; 3],
    /// Unit axes (world `(z, y, x)` components), largest variance first; each axis's
    /// largest component is positive.
    pub axes: [[f64; 3]; 3],
    /// Variances (mm²) along the axes, decreasing.
    pub variances: [f64; 3],
}

/// Eigen-decomposition of a symmetric 3×3 matrix by cyclic Jacobi rotations: returns
/// eigenvalues in decreasing order and the matching unit eigenvectors (rows).
pub(crate) fn sym_eigen3(a: [[f64; 3]; 3]) -> ([f64; 3], [[f64; 3]; 3]) {
    let mut m = a;
    let mut v = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    for _ in 0..50 {
        let off = m[0][1].abs() + m[0][2].abs() + m[1][2].abs();
        let scale = m[0][0].abs() + m[1][1].abs() + m[2][2].abs();
        if off <= 1e-15 * scale.max(1e-300) {
            break;
        }
        for (p, q) in [(0usize, 1usize), (0, 2), (1, 2)] {
            if m[p][q].abs() < 1e-300 {
                continue;
            }
            let theta = (m[q][q] - m[p][p]) / (2.0 * m[p][q]);
            let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
            let t = if theta == 0.0 { 1.0 } else { t };
            let c = 1.0 / (t * t + 1.0).sqrt();
            let s = t * c;
            // m = Jᵀ m J with J the rotation in the (p, q) plane.
            for k in 0..3 {
                let mkp = m[k][p];
                let mkq = m[k][q];
                m[k][p] = c * mkp - s * mkq;
                m[k][q] = s * mkp + c * mkq;
            }
            for k in 0..3 {
                let mpk = m[p][k];
                let mqk = m[q][k];
                m[p][k] = c * mpk - s * mqk;
                m[q][k] = s * mpk + c * mqk;
            }
            for row in v.iter_mut() {
                let vp = row[p];
                let vq = row[q];
                row[p] = c * vp - s * vq;
                row[q] = s * vp + c * vq;
            }
        }
    }
    let vals = [m[0][0], m[1][1], m[2][2]];
    let mut idx = [0usize, 1, 2];
    idx.sort_by(|&a, &b| vals[b].total_cmp(&vals[a]).then(a.cmp(&b)));
    let mut out_vals = [0.0; 3];
    let mut out_vecs = [[0.0; 3]; 3];
    for (r, &i) in idx.iter().enumerate() {
        out_vals[r] = vals[i];
        let mut e = [v[0][i], v[1][i], v[2][i]];
        let n = (e[0] * e[0] + e[1] * e[1] + e[2] * e[2]).sqrt();
        for x in e.iter_mut() {
            *x /= n;
        }
        // Sign convention: the largest component positive.
        let big = (0..3)
            .max_by(|&a, &b| e[a].abs().total_cmp(&e[b].abs()).then(b.cmp(&a)))
            .unwrap();
        if e[big] < 0.0 {
            for x in e.iter_mut() {
                *x = -*x;
            }
        }
        out_vecs[r] = e;
    }
    (out_vals, out_vecs)
}

/// Principal frame of a set of points (world mm). `None` for no points.
pub fn frame_of(points: &[[f64; 3]]) -> Option<Frame> {
    if points.is_empty() {
        return None;
    }
    let n = points.len() as f64;
    let mut c = [0.0; 3];
    for p in points {
        for d in 0..3 {
            c[d] += p[d];
        }
    }
    for x in c.iter_mut() {
        *x /= n;
    }
    let mut cov = [[0.0; 3]; 3];
    for p in points {
        let q = [p[0] - c[0], p[1] - c[1], p[2] - c[2]];
        for a in 0..3 {
            for b in 0..3 {
                cov[a][b] += q[a] * q[b];
            }
        }
    }
    for row in cov.iter_mut() {
        for x in row.iter_mut() {
            *x /= n;
        }
    }
    let (vals, vecs) = sym_eigen3(cov);
    Some(Frame {
        centroid: c,
        axes: vecs,
        variances: [vals[0].max(0.0), vals[1].max(0.0), vals[2].max(0.0)],
    })
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

/// The `i`-th and `(i + 1)`-th smallest of `v` (total order; the same `i`-th twice when
/// `i` is the last): the values a full sort would put there, found in linear time.
fn order_pair(v: &mut [f64], i: usize) -> (f64, f64) {
    let (_, &mut at, above) = v.select_nth_unstable_by(i, f64::total_cmp);
    let next = above.iter().copied().min_by(f64::total_cmp).unwrap_or(at);
    (at, next)
}

fn median(v: &mut [f64]) -> f64 {
    let n = v.len();
    if n == 0 {
        return 0.0;
    }
    if n % 2 == 1 {
        order_pair(v, n / 2).0
    } else {
        let (a, b) = order_pair(v, n / 2 - 1);
        0.5 * (a + b)
    }
}

fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let i = pos.floor() as usize;
    let (a, b) = order_pair(v, i);
    a + (pos - i as f64) * (b - a)
}

/// A bore: a run of enclosed holes tracked through consecutive cross-sections.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bore {
    /// Diameter of the circle of the same area (median over the sections), mm.
    pub diameter_mm: f64,
    /// Length along the slicing axis, mm.
    pub length_mm: f64,
    /// Ends where the bore opens (0, 1 or 2).
    pub open_ends: u8,
    /// Diameter of the circle with the area of the whole section (solid and holes), mm.
    pub outer_diameter_mm: f64,
    /// Smallest solid thickness around the bore (median over sections, from the hole
    /// edge to the section's outline, along the in-slice axes), mm.
    pub wall_mm: f64,
    /// Ratio of the hole's longest to shortest axis (1 for a round bore).
    pub aspect: f64,
    /// The bore's length over the object's length along the same axis.
    pub length_fraction: f64,
    /// Hole area over its bounding rectangle's (≈0.79 round, ≈1 rectangular).
    pub rect_fill: f64,
    /// Diameter of the largest circle inside the hole (median over the sections), mm:
    /// the bore itself when the hole leaks into a slot beside it.
    pub inscribed_mm: f64,
}

/// The canonical-grid analysis of one piece (a candidate or one of its two parts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shape {
    /// Principal frame of the piece's voxels.
    pub frame: Frame,
    /// Lengths (mm) of the half-density solid along the three axes, longest first.
    pub extents_mm: [f64; 3],
    /// Volume of the half-density solid, mm³.
    pub volume_mm3: f64,
    /// Volume over the product of the extents.
    pub fill: f64,
    /// Median solid thickness of the middle cross-sections (area / width), mm.
    pub thickness_mm: f64,
    /// 80th percentile of the cross-sections' widths (along `u`), mm.
    pub width_mm: f64,
    /// Mean width of the first and last 12 % of the length over `width_mm` (a knife
    /// narrows at its tip and at its tang: both well under 1; a spoon's bowl or a
    /// spanner's heads: about 1 or more).
    pub end_width_ratio: [f64; 2],
    /// Longest stretch along the main axis (mm) over which the cross-section stays at
    /// least 0.6 of `width_mm` wide, dips of up to a voxel bridged: a knife's blade
    /// (60–200 mm, with its tang when that is wide enough), where a fork's head and
    /// tines or a spoon's bowl give under 55 mm.
    pub wide_run_mm: f64,
    /// Mean μ of the denser end third of the length over that of the other end third.
    pub end_density_ratio: f64,
    /// Mass per length (the sum of μ over the sections) of the first and last 15 % of
    /// the length over that of the middle 40 %: about 1 for a bar or a tube, several
    /// for a sheet-metal channel closed by solid blocks at its ends (a stamped
    /// receiver's trunnions).
    pub end_mass_ratio: [f64; 2],
    /// Mass (μ × volume) of the heavier half of the object across its thinnest axis
    /// over the lighter half's, over the sections holding at least 5 % of the peak: 1
    /// for an object symmetric across its thickness; rounds standing side by side, their
    /// lead bullets all on one side, read well above it.
    pub layer_mass_ratio: f64,
    /// How one-sided the dense core (cells at ≥ half the highest μ) is along the main
    /// axis: |gap to one end − gap to the other| / length, 0 for a centred core (or a
    /// uniform object), ≈0.4 for a bullet in a 9×19 round.
    pub core_asymmetry: f64,
    /// Extents (mm, along t, u, v) of the dense core: cells at ≥ half the highest μ
    /// (a bullet inside its cartridge, clear of the streaks around it).
    pub core_extents_mm: [f64; 3],
    /// Separate blobs (6-connected, ≥ 100 mm³) denser than twice the steel reference:
    /// lead and copper bullet cores; and their total volume, mm³.
    pub dense_blobs: (usize, f64),
    /// The longest bores along the main axis (up to four, longest first).
    pub bores: Vec<Bore>,
    /// The longest bore through the thinnest axis (a ring, an eye, a handle loop).
    pub cross_bore: Option<Bore>,
    /// The largest group of similar bores side by side, over the three slicing axes.
    pub parallel_bores: ParallelBores,
    /// The strongest repeat of the mass along the main axis (a row of rounds standing
    /// side by side in their box).
    pub row_period: RowPeriod,
    /// Median over the middle 80 % of the length of μ at each cross-section's centre of
    /// mass (bilinear) over the section's highest μ: about 1 for a solid rod, lower for
    /// a tube whose bore is narrower than the scan resolves (a 9 mm bore in 3.44 mm
    /// voxels, blurred into its walls, still dips at the axis).
    pub axial_mu_ratio: f64,
    /// The strongest repeat of two halves of the section in opposition (the two
    /// columns of rounds in a box magazine).
    pub staggered_rows: StaggeredRows,
    /// Median over the middle cross-sections (along the main axis) of the open
    /// concavity: (convex hull − solid − enclosed holes) / convex hull (a U-channel
    /// ≈0.3–0.45; a bar, plate or tube ≈0).
    pub channel: f64,
    /// Threshold used for the solid (mm⁻¹).
    pub level_mu: f64,
    /// Median μ of the piece's voxels (mm⁻¹).
    pub median_mu: f64,
    /// Grid step (mm).
    pub step_mm: f64,
    /// Largest voxel size of the scan (mm): the scale of its blur, below which
    /// thicknesses are not resolved.
    pub voxel_mm: f64,
}

/// Similar bores side by side in one object (a revolver's cylinder, cartridges packed
/// together).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ParallelBores {
    /// How many (≥ 8 mm long, 3–16 mm across, diameters within 30 %) share a section.
    pub count: usize,
    /// Their median diameter, mm.
    pub diameter_mm: f64,
    /// Their median length, mm.
    pub length_mm: f64,
    /// Share of them open at one end or both.
    pub open_share: f64,
    /// Slicing axis (0 main, 1 middle, 2 thinnest).
    pub axis: usize,
}

/// The strongest repeat of an object's mass per length along its main axis, at a
/// wavelength of [`ROW_PERIOD_MIN_MM`] to [`ROW_PERIOD_MAX_MM`] (a row of rounds
/// standing side by side in a box repeats at the case diameter plus the gap, about
/// 10.5 mm for 9×19). All zero when the object is too short to hold four periods.
///
/// The profile is the sum of μ over each cross-section of the canonical grid, less its
/// running mean over two of the longest wavelengths; at each wavelength the best
/// sinusoid is fitted over the cross-sections holding at least 5 % of the largest.
/// A coil spring does not repeat here (a helix crosses each section once per turn);
/// a uniform bar leaks about `period / (π · length)` from its ends.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct RowPeriod {
    /// Wavelength of the strongest repeat, mm.
    pub period_mm: f64,
    /// Its amplitude over the mean mass per length (0 for none, 1 for a profile going
    /// to zero between the repeats).
    pub modulation: f64,
    /// That amplitude over the median amplitude at wavelengths more than 15 % away:
    /// how far the repeat stands out of the spectrum (a row of ten rounds: 6–16; the
    /// lumps of benign metal: under 6).
    pub prominence: f64,
    /// Length of the profile over the wavelength.
    pub periods: f64,
}

/// Shortest wavelength (mm) [`RowPeriod`] looks for: 5.56 mm rounds stand about
/// 9.6 mm apart, and a coarser grid cannot show less than three samples per period.
pub const ROW_PERIOD_MIN_MM: f64 = 6.0;
/// Longest wavelength (mm) [`RowPeriod`] looks for: .45 ACP and 7.62×51 cases are 12 mm
/// across (shotgun shells, 20 mm and more, are left out).
pub const ROW_PERIOD_MAX_MM: f64 = 16.0;

/// Length (in sections) of the longest run of `wide` sections, runs of up to
/// `max_gap` narrow sections between wide ones counted in.
fn wide_run(wide: &[bool], max_gap: usize) -> usize {
    let (mut best, mut start, mut last) = (0, None::<usize>, 0);
    for (i, &w) in wide.iter().enumerate() {
        if !w {
            continue;
        }
        match start {
            Some(s0) if i - last <= max_gap + 1 => {
                last = i;
                best = best.max(last - s0 + 1);
            }
            _ => {
                start = Some(i);
                last = i;
                best = best.max(1);
            }
        }
    }
    best
}

/// [`Shape::end_mass_ratio`] of a mass-per-length profile, over the sections from the
/// first to the last holding at least 5 % of its peak.
fn end_mass_ratio(profile: &[f64]) -> [f64; 2] {
    let (kept, _) = held_sections(profile);
    let (Some(&first), Some(&last)) = (kept.first(), kept.last()) else {
        return [1.0, 1.0];
    };
    let span = &profile[first..=last];
    let n = span.len() as f64;
    let mean = |a: f64, b: f64| {
        let (i0, i1) = (
            (a * n).floor() as usize,
            ((b * n).ceil() as usize).min(span.len()),
        );
        let part = &span[i0..i1.max(i0 + 1).min(span.len())];
        part.iter().sum::<f64>() / part.len().max(1) as f64
    };
    let middle = mean(0.3, 0.7).max(1e-12);
    [mean(0.0, 0.15) / middle, mean(0.85, 1.0) / middle]
}

/// [`Shape::layer_mass_ratio`] of a mass profile across the thinnest axis: the two
/// halves of the sections from the first to the last holding at least 5 % of its peak
/// (the middle one left out of an odd count).
fn layer_mass_ratio(profile: &[f64]) -> f64 {
    let (kept, _) = held_sections(profile);
    let (Some(&first), Some(&last)) = (kept.first(), kept.last()) else {
        return 1.0;
    };
    let span = &profile[first..=last];
    let half = span.len() / 2;
    let a: f64 = span[..half].iter().sum();
    let b: f64 = span[span.len() - half..].iter().sum();
    if a.min(b) <= 0.0 {
        return 1.0;
    }
    a.max(b) / a.min(b)
}

/// [`Shape::axial_mu_ratio`] over the sections `filled` (ordered along the main axis).
fn axial_mu_ratio(c: &Canon, filled: &[usize]) -> f64 {
    let [_, nu, nv] = c.dims;
    let n = filled.len();
    let mid = &filled[n / 10..n - n / 10];
    let mut ratios: Vec<f64> = mid
        .iter()
        .filter_map(|&t| {
            let plane = &c.mu[t * nu * nv..(t + 1) * nu * nv];
            let (mut mass, mut cu, mut cv, mut top) = (0.0, 0.0, 0.0, 0.0f32);
            for (i, (&m, &solid)) in plane.iter().zip(&c.solid[t * nu * nv..]).enumerate() {
                if solid {
                    let m64 = f64::from(m);
                    mass += m64;
                    cu += m64 * (i / nv) as f64;
                    cv += m64 * (i % nv) as f64;
                    top = top.max(m);
                }
            }
            if mass <= 0.0 || top <= 0.0 {
                return None;
            }
            let (u, v) = (cu / mass, cv / mass);
            let (u0, v0) = (u.floor() as usize, v.floor() as usize);
            let (fu, fv) = (u - u0 as f64, v - v0 as f64);
            let at = |a: usize, b: usize| f64::from(plane[a.min(nu - 1) * nv + b.min(nv - 1)]);
            let centre = (1.0 - fu) * ((1.0 - fv) * at(u0, v0) + fv * at(u0, v0 + 1))
                + fu * ((1.0 - fv) * at(u0 + 1, v0) + fv * at(u0 + 1, v0 + 1));
            Some(centre / f64::from(top))
        })
        .collect();
    if ratios.is_empty() {
        1.0
    } else {
        median(&mut ratios)
    }
}

/// The sections of a mass-per-length profile holding more than 5 % of its peak (the
/// peak taken at least 0), and that peak.
fn held_sections(profile: &[f64]) -> (Vec<usize>, f64) {
    let peak = profile.iter().cloned().fold(0.0, f64::max);
    let kept = (0..profile.len())
        .filter(|&i| profile[i] > 0.05 * peak)
        .collect();
    (kept, peak)
}

/// The repeats of a mass-per-length profile sampled every `h` mm, shared by
/// [`RowPeriod`] and [`StaggeredRows`]: the sections it is measured over, their
/// length (mm), the shortest wavelength measured and the profile's spectrum.
struct Repeats {
    /// Sections holding more than 5 % of the profile's peak.
    kept: Vec<usize>,
    /// Length from the first to the last of them, mm.
    length: f64,
    /// Shortest wavelength measured, mm.
    lam_min: f64,
    /// The profile summed over `kept`.
    total: f64,
    /// [`repeat_spectrum`] of the profile itself.
    spectrum: Vec<(f64, f64)>,
}

impl Repeats {
    /// `None` when the profile is empty or its length holds fewer than four of the
    /// shortest wavelengths.
    fn of(profile: &[f64], h: f64) -> Option<Self> {
        let lam_min = ROW_PERIOD_MIN_MM.max(3.0 * h);
        let (kept, peak) = held_sections(profile);
        let (&first, &last) = (kept.first()?, kept.last()?);
        let length = (last - first + 1) as f64 * h;
        if !(peak > 0.0 && length >= 4.0 * lam_min && lam_min < ROW_PERIOD_MAX_MM) {
            return None;
        }
        let total: f64 = kept.iter().map(|&i| profile[i]).sum();
        let spectrum = repeat_spectrum(profile, &kept, h, lam_min, total);
        Some(Self {
            kept,
            length,
            lam_min,
            total,
            spectrum,
        })
    }
}

/// Amplitude of the best sinusoid fitted to `signal` over the sections `kept`, at
/// each wavelength from `lam_min` to [`ROW_PERIOD_MAX_MM`] in 0.1 mm steps, over the
/// mean of the profile whose sum over `kept` is `total` (a profile `1 + m cos(2πx/λ)`
/// measured against itself gives `m`).
/// The signal is first detrended by its running mean over two of the longest
/// wavelengths, truncated at the ends.
fn repeat_spectrum(
    signal: &[f64],
    kept: &[usize],
    h: f64,
    lam_min: f64,
    total: f64,
) -> Vec<(f64, f64)> {
    let n = signal.len();
    let half = ((ROW_PERIOD_MAX_MM / h).round() as usize).max(1);
    let mut prefix = vec![0.0; n + 1];
    for i in 0..n {
        prefix[i + 1] = prefix[i] + signal[i];
    }
    let detrended: Vec<f64> = (0..n)
        .map(|i| {
            let (a, b) = (i.saturating_sub(half), (i + half + 1).min(n));
            signal[i] - (prefix[b] - prefix[a]) / (b - a) as f64
        })
        .collect();
    let steps = ((ROW_PERIOD_MAX_MM - lam_min) / 0.1).floor() as usize + 1;
    (0..steps)
        .map(|k| {
            let lam = lam_min + 0.1 * k as f64;
            let w = std::f64::consts::TAU * h / lam;
            let (mut re, mut im) = (0.0, 0.0);
            for &i in kept {
                let (sn, cs) = (w * i as f64).sin_cos();
                re += detrended[i] * cs;
                im += detrended[i] * sn;
            }
            (lam, 2.0 * re.hypot(im) / total.max(1e-12))
        })
        .collect()
}

/// The strongest line of a spectrum: (wavelength, amplitude, amplitude over the median
/// amplitude at wavelengths more than 15 % away).
fn strongest(spectrum: &[(f64, f64)]) -> (f64, f64, f64) {
    let Some(&(period, amp)) = spectrum.iter().max_by(|a, b| a.1.total_cmp(&b.1)) else {
        return (0.0, 0.0, 0.0);
    };
    let mut far: Vec<f64> = spectrum
        .iter()
        .filter(|(lam, _)| (lam - period).abs() > 0.15 * period)
        .map(|&(_, a)| a)
        .collect();
    let floor = if far.is_empty() {
        amp
    } else {
        median(&mut far)
    };
    (period, amp, amp / floor.max(1e-9))
}

/// Measures [`RowPeriod`] from the [`Repeats`] of a profile of mass per length.
fn row_period(repeats: Option<&Repeats>) -> RowPeriod {
    let Some(r) = repeats else {
        return RowPeriod::default();
    };
    let (period, amp, prominence) = strongest(&r.spectrum);
    RowPeriod {
        period_mm: period,
        modulation: amp,
        prominence,
        periods: r.length / period,
    }
}

/// Two columns of mass repeating along the main axis half a period apart: the rounds of
/// a double-column box magazine, each column every case diameter (9.7–10.2 mm for
/// 5.56×45 and 9×19), the two offset by half of it.
///
/// The cross-sections are cut in two halves across `u` or across `v` (at the axis'
/// μ-weighted centre), giving two profiles of mass per length `a` and `b`. Rounds in
/// two staggered columns make `a − b` repeat at the column pitch while `a + b` (the
/// rounds of both columns, half a pitch apart) hardly does; rounds in one row make both
/// repeat alike, and a coil spring (a helix) makes `a − b` repeat the same on both
/// cuts, a quarter turn apart. All zero when the object is too short to hold four
/// periods.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct StaggeredRows {
    /// Wavelength of the strongest repeat of `a − b`, mm.
    pub period_mm: f64,
    /// Its amplitude over the mean mass per length of the whole section.
    pub modulation: f64,
    /// That amplitude over the median amplitude of `a − b` at wavelengths more than 15 %
    /// away.
    pub prominence: f64,
    /// Amplitude of `a + b` at that wavelength over that of `a − b`: near 0 for two
    /// columns in opposition, near 1 or more for rounds side by side in one row.
    pub in_phase: f64,
    /// Amplitude of `a − b` at that wavelength on the other cut over this one: small for
    /// two columns side by side, about 1 for a helix.
    pub other_cut: f64,
    /// Length of the profile over the wavelength.
    pub periods: f64,
    /// Slicing axis of the cut between the columns (1 middle, 2 thinnest).
    pub axis: usize,
}

/// The mass of each cross-section of the canonical grid (along `t`), in all and by
/// `u` and by `v` (`nt × nu` and `nt × nv`, row-major), summed in one pass.
struct SectionMasses {
    along_t: Vec<f64>,
    by_u: Vec<f64>,
    by_v: Vec<f64>,
}

impl SectionMasses {
    fn of(c: &Canon) -> Self {
        let [nt, nu, nv] = c.dims;
        let mut by_u = vec![0.0; nt * nu];
        let mut by_v = vec![0.0; nt * nv];
        for (t, plane) in c.mu.chunks_exact(nu * nv).enumerate() {
            for (u, line) in plane.chunks_exact(nv).enumerate() {
                let mut along = 0.0;
                for (v, &m) in line.iter().enumerate() {
                    let m = f64::from(m);
                    along += m;
                    by_v[t * nv + v] += m;
                }
                by_u[t * nu + u] = along;
            }
        }
        let along_t = by_u
            .chunks_exact(nu.max(1))
            .map(|s| s.iter().sum())
            .collect();
        Self {
            along_t,
            by_u,
            by_v,
        }
    }
}

/// Measures [`StaggeredRows`] from the section masses of a grid with `nu × nv`
/// sections and the [`Repeats`] of their sum, sampled every `h` mm.
fn staggered_rows(
    masses: &SectionMasses,
    repeats: Option<&Repeats>,
    [nu, nv]: [usize; 2],
    h: f64,
) -> StaggeredRows {
    let Some(r) = repeats else {
        return StaggeredRows::default();
    };
    let nt = masses.along_t.len();
    let (by_u, by_v) = (&masses.by_u, &masses.by_v);
    let centre = |marginal: &[f64], n: usize| -> Option<f64> {
        let (mut mass, mut moment) = (0.0, 0.0);
        for (i, &m) in marginal.iter().enumerate() {
            mass += m;
            moment += m * (i % n) as f64;
        }
        (mass > 0.0).then(|| moment / mass)
    };
    let (Some(split_u), Some(split_v)) = (centre(by_u, nu), centre(by_v, nv)) else {
        return StaggeredRows::default();
    };
    let halves_of = |marginal: &[f64], n: usize, split: f64| -> [Vec<f64>; 2] {
        let mut halves = [vec![0.0; nt], vec![0.0; nt]];
        for (t, section) in marginal.chunks_exact(n).enumerate() {
            for (i, &m) in section.iter().enumerate() {
                halves[usize::from(i as f64 >= split)][t] += m;
            }
        }
        halves
    };
    let halves = [halves_of(by_u, nu, split_u), halves_of(by_v, nv, split_v)];
    let diff = |cut: usize| -> Vec<f64> {
        (0..nt)
            .map(|t| halves[cut][0][t] - halves[cut][1][t])
            .collect()
    };
    let spectra = [0, 1].map(|cut| repeat_spectrum(&diff(cut), &r.kept, h, r.lam_min, r.total));
    let lines = [0, 1].map(|cut| strongest(&spectra[cut]));
    let cut = if lines[1].1 >= lines[0].1 { 1 } else { 0 };
    let (period, amp, prominence) = lines[cut];
    let step = spectra[cut]
        .iter()
        .position(|&(lam, _)| lam == period)
        .unwrap_or(0);
    let amp_at = |s: &[(f64, f64)]| s.get(step).map_or(0.0, |x| x.1);
    StaggeredRows {
        period_mm: period,
        modulation: amp,
        prominence,
        in_phase: amp_at(&r.spectrum) / amp.max(1e-12),
        other_cut: amp_at(&spectra[1 - cut]) / amp.max(1e-12),
        periods: r.length / period,
        axis: cut + 1,
    }
}

/// Two line segments fitted to one object (or the main axes of two objects).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TwoPart {
    /// Angle between the parts' outward directions from their junction, degrees
    /// (90 for an L, ≈180 for a straight bar, small for a V).
    pub angle_deg: f64,
    /// Lengths of the two parts, mm (the longer first).
    pub lengths_mm: [f64; 2],
    /// RMS distance of each part's voxels to its line × 2 (a width proxy), mm.
    pub widths_mm: [f64; 2],
    /// Where the junction lies along each part: 0 at an end, 0.5 in the middle.
    pub junction: [f64; 2],
    /// Distance from the junction point to each segment (0 when on it), mm.
    pub gap_mm: [f64; 2],
    /// RMS distance to one line over RMS distance to the nearer of two lines (≥ 1).
    pub fit_gain: f64,
    /// Share of the voxels in each part.
    pub fractions: [f64; 2],
    /// Shape analysis of each part (the longer first), when run: for a clear two-part
    /// fit (fit gain ≥ 1.4, the smaller part ≥ 12 % of the voxels) whose angle
    /// (60–150°) and lengths (50–320 and 15–220 mm) could be a handgun's or a rifle
    /// bolt's.
    pub parts: Option<Box<[Shape; 2]>>,
}

/// Two solid limbs of the object's silhouette in its main plane: the largest solid
/// rectangle with the parallel ones touching it (A) and the largest other rectangle
/// (B). Unlike [`TwoPart`]'s lines, this holds for an L of thick limbs (a steel
/// pistol's slide and frame, 50–70 mm across, with its grip).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SolidLimbs {
    /// Angle between the limbs' outward directions from where B meets A, degrees.
    pub angle_deg: f64,
    /// Lengths of the limbs, mm: the extent of each one's voxels (those nearer to its
    /// rectangle) along its rectangle's long side; B's mostly outside A.
    pub lengths_mm: [f64; 2],
    /// Widths of A (its rectangles' span across its axis) and B (its rectangle's short
    /// side), mm.
    pub widths_mm: [f64; 2],
    /// Where B's centre line meets A, along A: 0 at an end, 0.5 in the middle.
    pub junction_a: f64,
    /// Gap between the two limbs, mm: the least empty space crossed from A's rectangles
    /// to B's through the silhouette (0 when they touch, or when metal joins them).
    pub gap_mm: f64,
    /// Share of the silhouette within a search cell of the two rectangles.
    pub cover: f64,
    /// Area of B over area of A.
    pub area_ratio: f64,
    /// Shape analysis of each limb's voxels (A first), when B is at least a tenth of A
    /// and the limbs could be a handgun's (angle 75–150°, A 70–320 mm and B 25–220 mm
    /// long, at least 55 % of the outline covered, at most 30 mm apart).
    pub parts: Option<Box<[Shape; 2]>>,
}

/// Everything measured about one candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Descriptors {
    /// Voxels in the candidate's mask.
    pub voxel_count: usize,
    /// Bounding box of the mask, world `(z0, y0, x0, z1, y1, x1)` mm (voxel extents).
    pub bbox_mm: [f64; 6],
    /// Mean μ of the mask's voxels, mm⁻¹.
    pub mean_mu: f64,
    /// 99th percentile of μ of the mask's voxels, mm⁻¹.
    pub peak_mu: f64,
    /// The material the solid's median μ suggests.
    pub material: Material,
    /// Mass estimate: solid volume × the material's density, grams.
    pub mass_g: f64,
    /// The whole candidate's shape.
    pub shape: Shape,
    /// The two-part analysis (candidates at least 60 mm long).
    pub two_part: Option<TwoPart>,
    /// The two solid limbs of the silhouette (candidates at least 60 mm long).
    pub limbs: Option<SolidLimbs>,
    /// How many extracted candidates these descriptors read as one object: 1, or 2
    /// for a pair joined by [`super::candidates::Candidate::joined`].
    #[serde(default = "one")]
    pub joined: usize,
}

fn one() -> usize {
    1
}

/// A piece to analyse: μ inside its mask (0 outside) over a box of the volume.
pub(crate) struct Piece<'a> {
    /// Masked μ over the box.
    pub f: &'a Array3<f32>,
    /// World position of `f[[0, 0, 0]]`, mm.
    pub origin: [f64; 3],
    /// Voxel size, mm.
    pub spacing: [f64; 3],
}

impl Piece<'_> {
    /// The largest voxel size, mm: the scale of the scan's blur.
    fn largest_voxel_mm(&self) -> f64 {
        self.spacing.iter().cloned().fold(0.0, f64::max)
    }

    fn points(&self) -> (Vec<[f64; 3]>, Vec<f32>) {
        let mut pts = Vec::new();
        let mut vals = Vec::new();
        for ((k, j, i), &v) in self.f.indexed_iter() {
            if v != 0.0 {
                pts.push([
                    self.origin[0] + k as f64 * self.spacing[0],
                    self.origin[1] + j as f64 * self.spacing[1],
                    self.origin[2] + i as f64 * self.spacing[2],
                ]);
                vals.push(v);
            }
        }
        (pts, vals)
    }

    #[inline]
    fn sample(&self, q: [f64; 3]) -> f32 {
        let (nz, ny, nx) = self.f.dim();
        if q[0] <= -1.0
            || q[1] <= -1.0
            || q[2] <= -1.0
            || q[0] >= nz as f64
            || q[1] >= ny as f64
            || q[2] >= nx as f64
        {
            return 0.0;
        }
        let fl = [q[0].floor(), q[1].floor(), q[2].floor()];
        let w = [
            (q[0] - fl[0]) as f32,
            (q[1] - fl[1]) as f32,
            (q[2] - fl[2]) as f32,
        ];
        let b = [fl[0] as isize, fl[1] as isize, fl[2] as isize];
        let data = self
            .f
            .as_slice()
            .expect("masked μ is built in standard layout");
        let (sy, sz) = (nx as isize, (nx * ny) as isize);
        if b[0] >= 0
            && b[1] >= 0
            && b[2] >= 0
            && b[0] + 1 < nz as isize
            && b[1] + 1 < ny as isize
            && b[2] + 1 < nx as isize
        {
            // All eight corners inside (most samples): the same arithmetic, no checks.
            let i = (b[0] * sz + b[1] * sy + b[2]) as usize;
            let (sy, sz) = (sy as usize, sz as usize);
            let x00 = data[i] + (data[i + 1] - data[i]) * w[2];
            let x01 = data[i + sy] + (data[i + sy + 1] - data[i + sy]) * w[2];
            let x10 = data[i + sz] + (data[i + sz + 1] - data[i + sz]) * w[2];
            let x11 = data[i + sz + sy] + (data[i + sz + sy + 1] - data[i + sz + sy]) * w[2];
            let y0 = x00 + (x01 - x00) * w[1];
            let y1 = x10 + (x11 - x10) * w[1];
            return y0 + (y1 - y0) * w[0];
        }
        let corner = |dz: isize, dy: isize, dx: isize| -> f32 {
            let (k, j, i) = (b[0] + dz, b[1] + dy, b[2] + dx);
            if k < 0 || j < 0 || i < 0 || k >= nz as isize || j >= ny as isize || i >= nx as isize {
                0.0
            } else {
                data[(k * sz + j * sy + i) as usize]
            }
        };
        let c000 = corner(0, 0, 0);
        let c001 = corner(0, 0, 1);
        let c010 = corner(0, 1, 0);
        let c011 = corner(0, 1, 1);
        let c100 = corner(1, 0, 0);
        let c101 = corner(1, 0, 1);
        let c110 = corner(1, 1, 0);
        let c111 = corner(1, 1, 1);
        let x00 = c000 + (c001 - c000) * w[2];
        let x01 = c010 + (c011 - c010) * w[2];
        let x10 = c100 + (c101 - c100) * w[2];
        let x11 = c110 + (c111 - c110) * w[2];
        let y0 = x00 + (x01 - x00) * w[1];
        let y1 = x10 + (x11 - x10) * w[1];
        y0 + (y1 - y0) * w[0]
    }
}

/// The piece resampled onto its principal frame.
struct Canon {
    h: f64,
    dims: [usize; 3],
    mu: Vec<f32>,
    solid: Vec<bool>,
}

impl Canon {
    fn idx(&self, t: usize, u: usize, v: usize) -> usize {
        (t * self.dims[1] + u) * self.dims[2] + v
    }
}

/// Fit gain (RMS distance to one line over that to the nearer of two) from which a
/// two-line fit counts as two limbs: the rules weigh a pair of limbs by a logistic
/// centred here, and the limbs' shapes are measured only from here.
pub(crate) const TWO_PART_GAIN_MIN: f64 = 1.4;

/// Largest canonical grid (samples) per piece; the step grows to fit. A handgun at
/// 1.2 mm voxels still gets a step of about 1 mm (finer than its voxels); the grid and
/// its three sets of cross-sections are most of what a large piece costs.
const MAX_CANON_SAMPLES: f64 = 1.0e6;

fn canonical(piece: &Piece<'_>, frame: &Frame, pts: &[[f64; 3]], level: f32) -> Canon {
    let min_sp = piece.spacing.iter().cloned().fold(f64::INFINITY, f64::min);
    let max_sp = piece.largest_voxel_mm();
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for p in pts {
        let q = sub(*p, frame.centroid);
        for a in 0..3 {
            let t = dot(q, frame.axes[a]);
            lo[a] = lo[a].min(t);
            hi[a] = hi[a].max(t);
        }
    }
    let margin = max_sp;
    for a in 0..3 {
        lo[a] -= margin;
        hi[a] += margin;
    }
    let mut h = 0.5 * min_sp;
    let count = |h: f64| -> f64 {
        (0..3)
            .map(|a| ((hi[a] - lo[a]) / h).floor() + 1.0)
            .product::<f64>()
    };
    if count(h) > MAX_CANON_SAMPLES {
        h *= (count(h) / MAX_CANON_SAMPLES).cbrt() * 1.01;
    }
    let dims: [usize; 3] = std::array::from_fn(|a| ((hi[a] - lo[a]) / h).floor() as usize + 1);
    // Index-space position of the first sample and the index-space steps of t, u, v.
    let to_index = |w: [f64; 3]| -> [f64; 3] {
        std::array::from_fn(|d| (w[d] - piece.origin[d]) / piece.spacing[d])
    };
    let mut start_w = frame.centroid;
    for a in 0..3 {
        for d in 0..3 {
            start_w[d] += lo[a] * frame.axes[a][d];
        }
    }
    let q0 = to_index(start_w);
    let steps: [[f64; 3]; 3] =
        std::array::from_fn(|a| std::array::from_fn(|d| h * frame.axes[a][d] / piece.spacing[d]));
    let n = dims[0] * dims[1] * dims[2];
    let mut mu = vec![0.0f32; n];
    mu.par_chunks_mut(dims[1] * dims[2])
        .enumerate()
        .for_each(|(t, plane)| {
            for (u, line) in plane.chunks_exact_mut(dims[2]).enumerate() {
                let base: [f64; 3] = std::array::from_fn(|d| {
                    q0[d] + t as f64 * steps[0][d] + u as f64 * steps[1][d]
                });
                for (v, m) in line.iter_mut().enumerate() {
                    let q: [f64; 3] = std::array::from_fn(|d| base[d] + v as f64 * steps[2][d]);
                    *m = piece.sample(q);
                }
            }
        });
    let solid = mu.iter().map(|&m| m >= level).collect();
    Canon { h, dims, mu, solid }
}

#[derive(Debug, Clone, Copy)]
struct Hole {
    area: f64,
    c: [f64; 2],
    /// Centre of the largest inscribed circle (mm, slice coordinates).
    c_in: [f64; 2],
    /// Diameter of the largest inscribed circle, mm.
    d_in: f64,
    aspect: f64,
    /// Thinnest wall around the hole: the shortest of the first solid runs met when
    /// walking from the hole's centre along ±a and ±b, mm.
    wall: f64,
    /// Area over the area of the hole's bounding rectangle (≈0.79 round, ≈1 square).
    rect_fill: f64,
}

#[derive(Debug, Clone, Default)]
struct SliceStat {
    solid: usize,
    ext: [f64; 2],
    holes: Vec<Hole>,
    hole_area: f64,
    sum_mu: f64,
    /// Open concavity: (convex hull − solid − enclosed holes) / convex hull, in cells
    /// (a U-channel's notch ≈0.3–0.45; a bar, plate or tube ≈0).
    cavity: f64,
}

/// Cross-section statistics of a 2D slice `solid` (`n1 × n2`, row-major) with step `h`.
fn analyze_slice(solid: &[bool], mu: &[f32], n1: usize, n2: usize, h: f64) -> SliceStat {
    let mut st = SliceStat::default();
    let mut lo = [usize::MAX; 2];
    let mut hi = [0usize; 2];
    for a in 0..n1 {
        for b in 0..n2 {
            let i = a * n2 + b;
            if solid[i] {
                st.solid += 1;
                st.sum_mu += f64::from(mu[i]);
                lo = [lo[0].min(a), lo[1].min(b)];
                hi = [hi[0].max(a), hi[1].max(b)];
            }
        }
    }
    if st.solid == 0 {
        return st;
    }
    st.ext = [
        (hi[0] - lo[0] + 1) as f64 * h,
        (hi[1] - lo[1] + 1) as f64 * h,
    ];
    // Flood the background from the border (4-connected); what is left is enclosed.
    let mut seen = vec![false; n1 * n2];
    let mut stack: Vec<usize> = Vec::new();
    for a in 0..n1 {
        for b in 0..n2 {
            if (a == 0 || b == 0 || a == n1 - 1 || b == n2 - 1) && !solid[a * n2 + b] {
                seen[a * n2 + b] = true;
                stack.push(a * n2 + b);
            }
        }
    }
    let flood = |stack: &mut Vec<usize>, seen: &mut Vec<bool>, collect: &mut Vec<usize>| {
        while let Some(i) = stack.pop() {
            collect.push(i);
            let (a, b) = (i / n2, i % n2);
            let mut push = |j: usize| {
                if !solid[j] && !seen[j] {
                    seen[j] = true;
                    stack.push(j);
                }
            };
            if a > 0 {
                push(i - n2);
            }
            if a + 1 < n1 {
                push(i + n2);
            }
            if b > 0 {
                push(i - 1);
            }
            if b + 1 < n2 {
                push(i + 1);
            }
        }
    };
    let mut scratch = Vec::new();
    flood(&mut stack, &mut seen, &mut scratch);
    let hull = hull_area_cells(solid, n2, lo[0], hi[0]);
    let min_cells = (4.9 / (h * h)).max(3.0); // holes at least 2.5 mm across
    for start in 0..n1 * n2 {
        if solid[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let mut cells = Vec::new();
        flood(&mut stack, &mut seen, &mut cells);
        st.hole_area += cells.len() as f64 * h * h;
        if (cells.len() as f64) < min_cells {
            continue;
        }
        let n = cells.len() as f64;
        let (mut sa, mut sb) = (0.0, 0.0);
        for &i in &cells {
            sa += (i / n2) as f64;
            sb += (i % n2) as f64;
        }
        let (ca, cb) = (sa / n, sb / n);
        let (c_in, d_in) = inscribed_circle(&cells, n2, h);
        let (mut saa, mut sbb, mut sab) = (0.0, 0.0, 0.0);
        for &i in &cells {
            let (da, db) = ((i / n2) as f64 - ca, (i % n2) as f64 - cb);
            saa += da * da;
            sbb += db * db;
            sab += da * db;
        }
        let (saa, sbb, sab) = (saa / n, sbb / n, sab / n);
        let tr = saa + sbb;
        let det = saa * sbb - sab * sab;
        let disc = (tr * tr / 4.0 - det).max(0.0).sqrt();
        let (l1, l2) = (tr / 2.0 + disc, (tr / 2.0 - disc).max(1e-9));
        let aspect = (l1 / l2).sqrt().min(100.0);
        // Wall: walk from the centre along ±a and ±b through the hole and the first
        // solid run met (nested tubes: only the innermost wall counts).
        let (ia, ib) = (
            (c_in[0] / h).round() as isize,
            (c_in[1] / h).round() as isize,
        );
        let mut wall = f64::INFINITY;
        for (da, db) in [(1isize, 0isize), (-1, 0), (0, 1), (0, -1)] {
            let (mut a, mut b) = (ia, ib);
            let mut run = 0usize;
            while a >= 0 && b >= 0 && (a as usize) < n1 && (b as usize) < n2 {
                if solid[a as usize * n2 + b as usize] {
                    run += 1;
                } else if run > 0 {
                    break;
                }
                a += da;
                b += db;
            }
            if run > 0 {
                wall = wall.min(run as f64 * h);
            }
        }
        let (mut amin, mut amax, mut bmin, mut bmax) = (usize::MAX, 0, usize::MAX, 0);
        for &i in &cells {
            let (a, b) = (i / n2, i % n2);
            amin = amin.min(a);
            amax = amax.max(a);
            bmin = bmin.min(b);
            bmax = bmax.max(b);
        }
        let rect_fill = n / ((amax - amin + 1) * (bmax - bmin + 1)) as f64;
        st.holes.push(Hole {
            area: n * h * h,
            c: [ca * h, cb * h],
            c_in,
            d_in,
            aspect,
            rect_fill,
            wall: if wall.is_finite() { wall } else { 0.0 },
        });
    }
    // Open concavity: what the convex hull holds beyond the solid and its enclosed holes.
    let enclosed = st.hole_area / (h * h);
    st.cavity = ((hull - st.solid as f64 - enclosed) / hull.max(1.0)).max(0.0);
    st.holes
        .sort_by(|a, b| b.area.total_cmp(&a.area).then(a.c[0].total_cmp(&b.c[0])));
    st
}

/// Area (in cells) of the convex hull of the solid cells of rows `a0..=a1` of a slice
/// `n2` wide, cells taken as unit squares.
fn hull_area_cells(solid: &[bool], n2: usize, a0: usize, a1: usize) -> f64 {
    let mut pts: Vec<(f64, f64)> = Vec::new();
    for a in a0..=a1 {
        let row = &solid[a * n2..(a + 1) * n2];
        let first = row.iter().position(|&x| x);
        let last = row.iter().rposition(|&x| x);
        if let (Some(f), Some(l)) = (first, last) {
            let (af, bf, bl) = (a as f64, f as f64, l as f64 + 1.0);
            pts.extend([(af, bf), (af + 1.0, bf), (af, bl), (af + 1.0, bl)]);
        }
    }
    pts.sort_by(|p, q| p.0.total_cmp(&q.0).then(p.1.total_cmp(&q.1)));
    pts.dedup();
    if pts.len() < 3 {
        return 0.0;
    }
    let cross = |o: (f64, f64), a: (f64, f64), b: (f64, f64)| {
        (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
    };
    let mut lower: Vec<(f64, f64)> = Vec::new();
    for &p in &pts {
        while lower.len() >= 2 && cross(lower[lower.len() - 2], lower[lower.len() - 1], p) <= 0.0 {
            lower.pop();
        }
        lower.push(p);
    }
    let mut upper: Vec<(f64, f64)> = Vec::new();
    for &p in pts.iter().rev() {
        while upper.len() >= 2 && cross(upper[upper.len() - 2], upper[upper.len() - 1], p) <= 0.0 {
            upper.pop();
        }
        upper.push(p);
    }
    lower.pop();
    upper.pop();
    lower.extend(upper);
    let n = lower.len();
    let mut area = 0.0;
    for i in 0..n {
        let (p, q) = (lower[i], lower[(i + 1) % n]);
        area += p.0 * q.1 - q.0 * p.1;
    }
    0.5 * area.abs()
}

/// The largest circle inside a hole (cells are row-major indices of a slice `n2` wide):
/// its centre (mm, the mean of the cells within h/2 of the deepest) and diameter
/// (2 × the largest distance to a cell outside the hole, less one cell).
fn inscribed_circle(cells: &[usize], n2: usize, h: f64) -> ([f64; 2], f64) {
    let (mut a0, mut a1, mut b0, mut b1) = (usize::MAX, 0, usize::MAX, 0);
    for &i in cells {
        let (a, b) = (i / n2, i % n2);
        a0 = a0.min(a);
        a1 = a1.max(a);
        b0 = b0.min(b);
        b1 = b1.max(b);
    }
    let (na, nb) = (a1 - a0 + 1, b1 - b0 + 1);
    let mut d2 = vec![0.0f64; na * nb];
    for &i in cells {
        d2[(i / n2 - a0) * nb + (i % n2 - b0)] = f64::INFINITY;
    }
    let (mut v, mut z) = (Vec::new(), Vec::new());
    let mut line = Vec::new();
    let mut out = Vec::new();
    for a in 0..na {
        line.clear();
        line.extend_from_slice(&d2[a * nb..(a + 1) * nb]);
        out.clear();
        out.resize(nb, 0.0);
        super::candidates::edt_1d(&line, h, true, &mut out, &mut v, &mut z);
        d2[a * nb..(a + 1) * nb].copy_from_slice(&out);
    }
    for b in 0..nb {
        line.clear();
        line.extend((0..na).map(|a| d2[a * nb + b]));
        out.clear();
        out.resize(na, 0.0);
        super::candidates::edt_1d(&line, h, true, &mut out, &mut v, &mut z);
        for a in 0..na {
            d2[a * nb + b] = out[a];
        }
    }
    let best = d2.iter().cloned().fold(0.0f64, f64::max).sqrt();
    let (mut sa, mut sb, mut n) = (0.0, 0.0, 0.0);
    for a in 0..na {
        for b in 0..nb {
            if d2[a * nb + b].sqrt() >= best - 0.5 * h {
                sa += (a + a0) as f64;
                sb += (b + b0) as f64;
                n += 1.0;
            }
        }
    }
    ([sa / n * h, sb / n * h], (2.0 * best - h).max(h))
}

/// 6-connected blobs of cells at or above `dense_mu` of at least 100 mm³: (count,
/// total volume in mm³).
fn dense_blob_count(c: &Canon, dense_mu: f32) -> (usize, f64) {
    let [nt, nu, nv] = c.dims;
    let cell = c.h * c.h * c.h;
    let min_cells = (100.0 / cell).ceil() as usize;
    let mut seen = vec![false; c.mu.len()];
    let mut stack = Vec::new();
    let (mut n, mut vol) = (0usize, 0.0);
    for start in 0..c.mu.len() {
        if seen[start] || c.mu[start] < dense_mu {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let mut size = 0usize;
        while let Some(i) = stack.pop() {
            size += 1;
            let (t, u, v) = (i / (nu * nv), (i / nv) % nu, i % nv);
            let mut visit = |j: usize| {
                if !seen[j] && c.mu[j] >= dense_mu {
                    seen[j] = true;
                    stack.push(j);
                }
            };
            if t > 0 {
                visit(i - nu * nv);
            }
            if t + 1 < nt {
                visit(i + nu * nv);
            }
            if u > 0 {
                visit(i - nv);
            }
            if u + 1 < nu {
                visit(i + nv);
            }
            if v > 0 {
                visit(i - 1);
            }
            if v + 1 < nv {
                visit(i + 1);
            }
        }
        if size >= min_cells {
            n += 1;
            vol += size as f64 * cell;
        }
    }
    (n, vol)
}

/// Slices of the canonical grid perpendicular to `axis` (0 = t, 2 = v).
fn slice_stats(c: &Canon, axis: usize) -> Vec<SliceStat> {
    let [nt, nu, nv] = c.dims;
    let (ns, n1, n2) = match axis {
        0 => (nt, nu, nv),
        1 => (nu, nt, nv),
        _ => (nv, nt, nu),
    };
    // Slices are independent: in parallel (one large object otherwise keeps a single
    // thread busy while the others are idle), collected in order.
    (0..ns)
        .into_par_iter()
        .map_init(
            || (vec![false; n1 * n2], vec![0.0f32; n1 * n2]),
            |(solid, mu), s| {
                // Rows along v are contiguous in the canonical grid: copied whole for
                // slices across t and u, gathered element by element across v.
                if axis < 2 {
                    for a in 0..n1 {
                        let i = if axis == 0 {
                            c.idx(s, a, 0)
                        } else {
                            c.idx(a, s, 0)
                        };
                        solid[a * n2..(a + 1) * n2].copy_from_slice(&c.solid[i..i + n2]);
                        mu[a * n2..(a + 1) * n2].copy_from_slice(&c.mu[i..i + n2]);
                    }
                } else {
                    for a in 0..n1 {
                        for b in 0..n2 {
                            let i = c.idx(a, b, s);
                            solid[a * n2 + b] = c.solid[i];
                            mu[a * n2 + b] = c.mu[i];
                        }
                    }
                }
                analyze_slice(solid, mu, n1, n2, c.h)
            },
        )
        .collect()
}

#[derive(Debug, Clone)]
struct Track {
    first: usize,
    last: usize,
    holes: Vec<(usize, Hole)>,
}

/// Links the enclosed holes of consecutive slices into tracks: a hole continues the
/// nearest open track whose last hole's inscribed circle is centred within
/// max(3 mm, 0.5 d, 1.5 cells) and 0.5–2× as wide (inscribed diameters move in steps
/// of a cell); a track survives gaps of up to 3 mm (a streak can break a section). Inscribed circles keep a bore's track when the hole
/// leaks into a slot beside it.
fn track_holes(stats: &[SliceStat], h: f64) -> Vec<Track> {
    let max_gap = ((3.0 / h).round() as usize).max(1);
    let mut tracks: Vec<Track> = Vec::new();
    let mut active: Vec<usize> = Vec::new();
    for (s, st) in stats.iter().enumerate() {
        active.retain(|&ti| s <= tracks[ti].last + max_gap + 1);
        let mut used: Vec<usize> = Vec::new();
        for hole in &st.holes {
            let d = hole.d_in;
            let mut best: Option<(usize, f64)> = None;
            for &ti in &active {
                if used.contains(&ti) {
                    continue;
                }
                let prev = tracks[ti].holes.last().unwrap().1;
                let dist = ((prev.c_in[0] - hole.c_in[0]).powi(2)
                    + (prev.c_in[1] - hole.c_in[1]).powi(2))
                .sqrt();
                let ratio = hole.d_in / prev.d_in;
                if dist <= (0.5 * d).max(3.0).max(1.5 * h)
                    && (0.5..=2.0).contains(&ratio)
                    && best.is_none_or(|(_, bd)| dist < bd)
                {
                    best = Some((ti, dist));
                }
            }
            let ti = match best {
                Some((ti, _)) => {
                    tracks[ti].last = s;
                    tracks[ti].holes.push((s, *hole));
                    ti
                }
                None => {
                    tracks.push(Track {
                        first: s,
                        last: s,
                        holes: vec![(s, *hole)],
                    });
                    active.push(tracks.len() - 1);
                    tracks.len() - 1
                }
            };
            used.push(ti);
        }
    }
    tracks.retain(|t| t.holes.len() >= 2);
    tracks
}

/// Turns a track into a bore. `solid_at(slice, centre)` says whether the section
/// `slice` is solid at the in-slice position `centre` (mm).
fn bore_of_track(
    t: &Track,
    stats: &[SliceStat],
    h: f64,
    obj_len: f64,
    solid_at: &dyn Fn(usize, [f64; 2]) -> bool,
) -> Bore {
    let pi = std::f64::consts::PI;
    let mut ds: Vec<f64> = t
        .holes
        .iter()
        .map(|(_, ho)| 2.0 * (ho.area / pi).sqrt())
        .collect();
    let mut asp: Vec<f64> = t.holes.iter().map(|(_, ho)| ho.aspect).collect();
    let mut walls: Vec<f64> = t.holes.iter().map(|(_, ho)| ho.wall).collect();
    let mut rect: Vec<f64> = t.holes.iter().map(|(_, ho)| ho.rect_fill).collect();
    let mut d_in: Vec<f64> = t.holes.iter().map(|(_, ho)| ho.d_in).collect();
    let mut outer: Vec<f64> = t
        .holes
        .iter()
        .map(|(s, _)| {
            let st = &stats[*s];
            2.0 * ((st.solid as f64 * h * h + st.hole_area) / pi).sqrt()
        })
        .collect();
    let c_first = t.holes.first().unwrap().1.c_in;
    let c_last = t.holes.last().unwrap().1.c_in;
    let mut open_ends = 0u8;
    if t.first == 0 || !solid_at(t.first - 1, c_first) {
        open_ends += 1;
    }
    if t.last + 1 >= stats.len() || !solid_at(t.last + 1, c_last) {
        open_ends += 1;
    }
    let length = (t.last - t.first + 1) as f64 * h;
    Bore {
        diameter_mm: median(&mut ds),
        length_mm: length,
        open_ends,
        outer_diameter_mm: median(&mut outer),
        wall_mm: median(&mut walls),
        aspect: median(&mut asp),
        length_fraction: if obj_len > 0.0 {
            (length / obj_len).min(1.0)
        } else {
            0.0
        },
        rect_fill: median(&mut rect),
        inscribed_mm: median(&mut d_in),
    }
}

/// All bores along one slicing direction, longest first, with their slice spans.
fn bores_along(
    stats: &[SliceStat],
    h: f64,
    solid_at: &dyn Fn(usize, [f64; 2]) -> bool,
) -> Vec<(Bore, usize, usize)> {
    let filled: Vec<usize> = (0..stats.len()).filter(|&s| stats[s].solid > 0).collect();
    let obj_len = match (filled.first(), filled.last()) {
        (Some(a), Some(b)) => (b - a + 1) as f64 * h,
        _ => 0.0,
    };
    let mut out: Vec<(Bore, usize, usize)> = track_holes(stats, h)
        .iter()
        .map(|t| {
            (
                bore_of_track(t, stats, h, obj_len, solid_at),
                t.first,
                t.last,
            )
        })
        .collect();
    out.sort_by(|a, b| {
        b.0.length_mm
            .total_cmp(&a.0.length_mm)
            .then(b.0.diameter_mm.total_cmp(&a.0.diameter_mm))
            .then(a.1.cmp(&b.1))
    });
    out
}

/// The largest group of similar bores (≥ 8 mm long, 3–16 mm across, diameters within
/// 30 %) present side by side in one section: (count, median diameter mm, median
/// length mm, share open at an end or both).
fn parallel_bores(bores: &[(Bore, usize, usize)], axis: usize) -> ParallelBores {
    let cands: Vec<&(Bore, usize, usize)> = bores
        .iter()
        .filter(|(b, _, _)| b.length_mm >= 8.0 && (3.0..=16.0).contains(&b.diameter_mm))
        .collect();
    let mut best = ParallelBores {
        axis,
        ..Default::default()
    };
    for (ref_b, _, _) in &cands {
        let sim: Vec<&&(Bore, usize, usize)> = cands
            .iter()
            .filter(|(b, _, _)| (b.diameter_mm / ref_b.diameter_mm - 1.0).abs() <= 0.3)
            .collect();
        // Sections where similar bores start are where the most of them can coexist.
        for (_, s, _) in &sim {
            let here: Vec<&Bore> = sim
                .iter()
                .filter(|(_, a, b)| a <= s && s <= b)
                .map(|(b, _, _)| b)
                .collect();
            if here.len() > best.count {
                let mut d: Vec<f64> = here.iter().map(|b| b.diameter_mm).collect();
                let mut l: Vec<f64> = here.iter().map(|b| b.length_mm).collect();
                let open =
                    here.iter().filter(|b| b.open_ends >= 1).count() as f64 / here.len() as f64;
                best = ParallelBores {
                    count: here.len(),
                    diameter_mm: median(&mut d),
                    length_mm: median(&mut l),
                    open_share: open,
                    axis,
                };
            }
        }
    }
    best
}

/// Analyses one piece. `None` if it has no voxels.
pub(crate) fn shape_of(piece: &Piece<'_>, options: &DetectOptions) -> Option<Shape> {
    let (pts, vals) = piece.points();
    shape_of_points(piece, &pts, &vals, options)
}

/// [`shape_of`] given the piece's non-zero voxels (`Piece::points`), for a caller that
/// needs them too.
fn shape_of_points(
    piece: &Piece<'_>,
    pts: &[[f64; 3]],
    vals: &[f32],
    options: &DetectOptions,
) -> Option<Shape> {
    let frame = frame_of(pts)?;
    let mut vals = vals.to_vec();
    let mut v64: Vec<f64> = vals.iter().map(|&v| f64::from(v)).collect();
    let median_mu = median(&mut v64);
    let level = super::candidates::solid_level(&mut vals, options);
    let c = canonical(piece, &frame, pts, level);
    let h = c.h;
    let voxel_mm = piece.largest_voxel_mm();
    let [nt, nu, nv] = c.dims;
    // Extents of the solid.
    let mut lo = [usize::MAX; 3];
    let mut hi = [0usize; 3];
    let mut count = 0usize;
    for t in 0..nt {
        for u in 0..nu {
            for v in 0..nv {
                if c.solid[c.idx(t, u, v)] {
                    count += 1;
                    let p = [t, u, v];
                    for a in 0..3 {
                        lo[a] = lo[a].min(p[a]);
                        hi[a] = hi[a].max(p[a]);
                    }
                }
            }
        }
    }
    if count == 0 {
        // Too thin to reach its own level after resampling: fall back to voxel extents.
        let mut ext = [0.0; 3];
        for a in 0..3 {
            let proj: Vec<f64> = pts
                .iter()
                .map(|p| dot(sub(*p, frame.centroid), frame.axes[a]))
                .collect();
            let (mn, mx) = proj
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
                    (a.min(x), b.max(x))
                });
            let foot: f64 = (0..3)
                .map(|d| frame.axes[a][d].abs() * piece.spacing[d])
                .sum();
            ext[a] = mx - mn + foot;
        }
        let vol = pts.len() as f64 * piece.spacing.iter().product::<f64>();
        return Some(Shape {
            frame,
            extents_mm: ext,
            volume_mm3: vol,
            fill: vol / (ext[0] * ext[1] * ext[2]).max(1e-9),
            thickness_mm: ext[2],
            width_mm: ext[1],
            end_width_ratio: [1.0, 1.0],
            wide_run_mm: ext[0],
            end_density_ratio: 1.0,
            end_mass_ratio: [1.0, 1.0],
            layer_mass_ratio: 1.0,
            core_asymmetry: 0.0,
            core_extents_mm: ext,
            dense_blobs: (0, 0.0),
            bores: Vec::new(),
            cross_bore: None,
            parallel_bores: ParallelBores::default(),
            row_period: RowPeriod::default(),
            staggered_rows: StaggeredRows::default(),
            axial_mu_ratio: 1.0,
            channel: 0.0,
            level_mu: f64::from(level),
            median_mu,
            step_mm: h,
            voxel_mm,
        });
    }
    let ext: [f64; 3] = std::array::from_fn(|a| (hi[a] - lo[a] + 1) as f64 * h);
    let volume = count as f64 * h * h * h;
    let fill = volume / (ext[0] * ext[1] * ext[2]);

    let along_t = slice_stats(&c, 0);
    let filled: Vec<usize> = (0..nt).filter(|&t| along_t[t].solid > 0).collect();
    let n_f = filled.len();
    // Plate measures over the middle 60 % of the length.
    let mid: Vec<usize> = filled
        [(n_f as f64 * 0.2) as usize..((n_f as f64 * 0.8).ceil() as usize).max(1).min(n_f)]
        .to_vec();
    let mut thick: Vec<f64> = mid
        .iter()
        .map(|&t| along_t[t].solid as f64 * h * h / along_t[t].ext[0].max(h))
        .collect();
    let thickness = median(&mut thick);
    let mut widths: Vec<f64> = filled.iter().map(|&t| along_t[t].ext[0]).collect();
    let width = quantile(&mut widths, 0.8);
    let mut cav: Vec<f64> = mid.iter().map(|&t| along_t[t].cavity).collect();
    let channel = median(&mut cav);
    let ref_w = width.max(h);
    let end_n = ((n_f as f64 * 0.12).round() as usize).max(1);
    let mean_w =
        |ts: &[usize]| ts.iter().map(|&t| along_t[t].ext[0]).sum::<f64>() / ts.len().max(1) as f64;
    let end_width_ratio = [
        mean_w(&filled[..end_n.min(n_f)]) / ref_w,
        mean_w(&filled[n_f.saturating_sub(end_n)..]) / ref_w,
    ];
    let wide_run_mm = wide_run(
        &filled
            .iter()
            .map(|&t| along_t[t].ext[0] >= 0.6 * width)
            .collect::<Vec<_>>(),
        (voxel_mm / h).round() as usize,
    ) as f64
        * h;
    let third = (n_f / 3).max(1);
    let mean_mu = |ts: &[usize]| {
        let (s, n) = ts.iter().fold((0.0, 0usize), |(s, n), &t| {
            (s + along_t[t].sum_mu, n + along_t[t].solid)
        });
        s / n.max(1) as f64
    };
    let (m0, m1) = (
        mean_mu(&filled[..third.min(n_f)]),
        mean_mu(&filled[n_f.saturating_sub(third)..]),
    );
    let end_density_ratio = m0.max(m1) / m0.min(m1).max(1e-6);
    let peak = c.mu.iter().cloned().fold(0.0f32, f32::max);
    let mut clo = [usize::MAX; 3];
    let mut chi = [0usize; 3];
    for t in 0..nt {
        for u in 0..nu {
            for v in 0..nv {
                if c.mu[c.idx(t, u, v)] >= 0.5 * peak {
                    let p = [t, u, v];
                    for a in 0..3 {
                        clo[a] = clo[a].min(p[a]);
                        chi[a] = chi[a].max(p[a]);
                    }
                }
            }
        }
    }
    let core_asymmetry = if clo[0] <= chi[0] {
        let before = clo[0].saturating_sub(lo[0]) as f64;
        let after = hi[0].saturating_sub(chi[0]) as f64;
        (before - after).abs() / (hi[0] - lo[0] + 1) as f64
    } else {
        0.0
    };
    let dense_blobs = dense_blob_count(&c, dense_mu(options.metal_energy_kev) as f32);
    let core_extents_mm: [f64; 3] =
        std::array::from_fn(|a| (chi[a].saturating_sub(clo[a]) + 1) as f64 * h);
    let solid_t = |s: usize, cc: [f64; 2]| -> bool {
        let (a, b) = ((cc[0] / h).round() as usize, (cc[1] / h).round() as usize);
        s < nt && a < nu && b < nv && c.solid[c.idx(s, a, b)]
    };
    let bores_t = bores_along(&along_t, h, &solid_t);
    let along_u = slice_stats(&c, 1);
    let solid_u = |s: usize, cc: [f64; 2]| -> bool {
        let (a, b) = ((cc[0] / h).round() as usize, (cc[1] / h).round() as usize);
        s < nu && a < nt && b < nv && c.solid[c.idx(a, s, b)]
    };
    let bores_u = bores_along(&along_u, h, &solid_u);
    let along_v = slice_stats(&c, 2);
    let solid_v = |s: usize, cc: [f64; 2]| -> bool {
        let (a, b) = ((cc[0] / h).round() as usize, (cc[1] / h).round() as usize);
        s < nv && a < nt && b < nu && c.solid[c.idx(a, b, s)]
    };
    let bores_v = bores_along(&along_v, h, &solid_v);
    let parallel = [
        parallel_bores(&bores_t, 0),
        parallel_bores(&bores_u, 1),
        parallel_bores(&bores_v, 2),
    ]
    .into_iter()
    .fold(ParallelBores::default(), |a, b| {
        if b.count > a.count {
            b
        } else {
            a
        }
    });
    let masses = SectionMasses::of(&c);
    let repeats = Repeats::of(&masses.along_t, h);
    let row_period = row_period(repeats.as_ref());
    let end_mass_ratio = end_mass_ratio(&masses.along_t);
    let along_v: Vec<f64> = (0..nv)
        .map(|v| (0..nt).map(|t| masses.by_v[t * nv + v]).sum())
        .collect();
    let layer_mass_ratio = layer_mass_ratio(&along_v);
    let staggered_rows = staggered_rows(&masses, repeats.as_ref(), [nu, nv], h);
    let axial_mu_ratio = axial_mu_ratio(&c, &filled);
    Some(Shape {
        frame,
        extents_mm: ext,
        volume_mm3: volume,
        fill,
        thickness_mm: thickness,
        width_mm: width,
        end_width_ratio,
        wide_run_mm,
        end_density_ratio,
        end_mass_ratio,
        layer_mass_ratio,
        core_asymmetry,
        core_extents_mm,
        dense_blobs,
        bores: bores_t.iter().take(4).map(|b| b.0).collect(),
        cross_bore: bores_v.first().map(|b| b.0),
        parallel_bores: parallel,
        row_period,
        staggered_rows,
        axial_mu_ratio,
        channel,
        level_mu: f64::from(level),
        median_mu,
        step_mm: h,
        voxel_mm,
    })
}

/// A line segment: centre, unit direction and the parameter range it covers (mm).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Segment {
    pub c: [f64; 3],
    pub d: [f64; 3],
    pub t0: f64,
    pub t1: f64,
}

impl Segment {
    fn dist2(&self, p: [f64; 3]) -> f64 {
        let q = sub(p, self.c);
        let t = dot(q, self.d).clamp(self.t0, self.t1);
        let r = [
            q[0] - t * self.d[0],
            q[1] - t * self.d[1],
            q[2] - t * self.d[2],
        ];
        dot(r, r)
    }

    /// The segment of a frame's main axis covering `[t0, t1]`.
    pub fn from_frame(f: &Frame, t0: f64, t1: f64) -> Segment {
        Segment {
            c: f.centroid,
            d: f.axes[0],
            t0,
            t1,
        }
    }

    pub fn length(&self) -> f64 {
        self.t1 - self.t0
    }
}

fn fit_segment(points: &[[f64; 3]]) -> Option<(Segment, Frame)> {
    let f = frame_of(points)?;
    let mut proj: Vec<f64> = points
        .iter()
        .map(|p| dot(sub(*p, f.centroid), f.axes[0]))
        .collect();
    let t0 = quantile(&mut proj, 0.01);
    let t1 = quantile(&mut proj, 0.99);
    Some((Segment::from_frame(&f, t0, t1), f))
}

/// How two segments meet: (angle between outward directions in degrees, junction
/// position along each as 0 = end … 0.5 = middle, distance from the junction point to
/// each segment in mm).
pub(crate) fn relate(a: &Segment, b: &Segment) -> (f64, [f64; 2], [f64; 2]) {
    let w0 = sub(a.c, b.c);
    let bb = dot(a.d, b.d);
    let d = dot(a.d, w0);
    let e = dot(b.d, w0);
    let denom = 1.0 - bb * bb;
    let p = if denom > 1e-6 {
        let s = (bb * e - d) / denom;
        let t = (e - bb * d) / denom;
        let p1: [f64; 3] = std::array::from_fn(|k| a.c[k] + s * a.d[k]);
        let p2: [f64; 3] = std::array::from_fn(|k| b.c[k] + t * b.d[k]);
        std::array::from_fn(|k| 0.5 * (p1[k] + p2[k]))
    } else {
        // Parallel: the midpoint of the nearest pair of ends.
        let ends = |s: &Segment| -> [[f64; 3]; 2] {
            [
                std::array::from_fn(|k| s.c[k] + s.t0 * s.d[k]),
                std::array::from_fn(|k| s.c[k] + s.t1 * s.d[k]),
            ]
        };
        let (ea, eb) = (ends(a), ends(b));
        let mut best = (f64::INFINITY, [0.0; 3]);
        for x in ea {
            for y in eb {
                let r = sub(x, y);
                let dd = dot(r, r);
                if dd < best.0 {
                    best = (dd, std::array::from_fn(|k| 0.5 * (x[k] + y[k])));
                }
            }
        }
        best.1
    };
    let mut out_dirs = [[0.0; 3]; 2];
    let mut junction = [0.0; 2];
    let mut gap = [0.0; 2];
    for (i, s) in [a, b].into_iter().enumerate() {
        let tp = dot(sub(p, s.c), s.d);
        let len = s.length().max(1e-9);
        junction[i] = if tp <= s.t0 || tp >= s.t1 {
            0.0
        } else {
            (tp - s.t0).min(s.t1 - tp) / len
        };
        gap[i] = s.dist2(p).sqrt();
        let sign = if (tp - s.t0).abs() <= (s.t1 - tp).abs() {
            1.0
        } else {
            -1.0
        };
        out_dirs[i] = [sign * s.d[0], sign * s.d[1], sign * s.d[2]];
    }
    let cosang = dot(out_dirs[0], out_dirs[1]).clamp(-1.0, 1.0);
    (cosang.acos().to_degrees(), junction, gap)
}

/// Most points the two-line fit iterates on (an even stride through the voxels): the
/// segments of a 150 mm object are still fitted on thousands of points, far more than
/// two lines need (20 000 points made the k-lines passes a tenth of a 512³ detection).
const TWO_LINE_SAMPLES: usize = 6_000;

/// Fits two segments to `points` (k-lines from several starts, best kept). Returns the
/// two segments (the longer first), the assignment of every point (0 = longer part) and
/// the fit gain. `None` when a part would hold under 10 % of the points.
pub(crate) fn two_lines(
    points: &[[f64; 3]],
    frame: &Frame,
) -> Option<([Segment; 2], Vec<u8>, f64)> {
    if points.len() < 40 {
        return None;
    }
    let stride = points.len().div_ceil(TWO_LINE_SAMPLES);
    let sample: Vec<[f64; 3]> = points.iter().step_by(stride).copied().collect();
    let n = sample.len();
    let proj = |a: usize| -> Vec<f64> {
        sample
            .iter()
            .map(|p| dot(sub(*p, frame.centroid), frame.axes[a]))
            .collect()
    };
    let p0 = proj(0);
    let p1 = proj(1);
    let q = |v: &[f64], x: f64| quantile(&mut v.to_vec(), x);
    let (q03, q05, q07, q15) = (q(&p0, 0.3), q(&p0, 0.5), q(&p0, 0.7), q(&p1, 0.5));
    let split = |v: &[f64], at: f64| -> Vec<u8> { v.iter().map(|&t| u8::from(t > at)).collect() };
    // Starts: cuts across the main axis, along the second, and along both diagonals
    // of the main plane (an L's limbs lie on either side of one of them).
    let (s0, s1) = (
        frame.variances[0].sqrt().max(1e-9),
        frame.variances[1].sqrt().max(1e-9),
    );
    let diag = |sign: f64| -> Vec<f64> {
        p0.iter()
            .zip(&p1)
            .map(|(&a, &b)| a / s0 + sign * b / s1)
            .collect()
    };
    let (dp, dm) = (diag(1.0), diag(-1.0));
    let (qdp, qdm) = (q(&dp, 0.5), q(&dm, 0.5));
    let q01 = q(&p0, 0.15);
    let q09 = q(&p0, 0.85);
    let mut starts: Vec<Vec<u8>> = vec![
        split(&p0, q05),
        split(&p0, q03),
        split(&p0, q07),
        split(&p0, q01),
        split(&p0, q09),
        split(&p1, q15),
        split(&dp, qdp),
        split(&dm, qdm),
        p0.iter()
            .zip(&p1)
            .map(|(&a, &b)| u8::from(a * b > 0.0))
            .collect(),
    ];
    // Geometric starts from extreme points: E1 farthest from the centroid, E2 farthest
    // from E1, E3 farthest from the line E1E2 (an L's or V's three ends); each pair of
    // them is tried as one limb, the third point's nearest approach as the other.
    let far = |from: [f64; 3]| -> usize {
        (0..n)
            .max_by(|&a, &b| {
                let da = dot(sub(sample[a], from), sub(sample[a], from));
                let db = dot(sub(sample[b], from), sub(sample[b], from));
                da.total_cmp(&db).then(b.cmp(&a))
            })
            .unwrap_or(0)
    };
    let e1 = sample[far(frame.centroid)];
    let e2 = sample[far(e1)];
    let seg_of = |a: [f64; 3], b: [f64; 3]| -> Option<Segment> {
        let d = sub(b, a);
        let l = dot(d, d).sqrt();
        (l > 1e-6).then(|| Segment {
            c: a,
            d: [d[0] / l, d[1] / l, d[2] / l],
            t0: 0.0,
            t1: l,
        })
    };
    if let Some(l12) = seg_of(e1, e2) {
        let i3 = (0..n)
            .max_by(|&a, &b| {
                l12.dist2(sample[a])
                    .total_cmp(&l12.dist2(sample[b]))
                    .then(b.cmp(&a))
            })
            .unwrap_or(0);
        let e3 = sample[i3];
        for (p, q, r) in [(e1, e2, e3), (e1, e3, e2), (e2, e3, e1)] {
            if let Some(la) = seg_of(p, q) {
                let t = dot(sub(r, la.c), la.d).clamp(la.t0, la.t1);
                let foot = [
                    la.c[0] + t * la.d[0],
                    la.c[1] + t * la.d[1],
                    la.c[2] + t * la.d[2],
                ];
                if let Some(lb) = seg_of(foot, r) {
                    starts.push(
                        sample
                            .iter()
                            .map(|pt| u8::from(lb.dist2(*pt) < la.dist2(*pt)))
                            .collect(),
                    );
                }
            }
        }
    }
    let mut best: Option<(f64, [Segment; 2])> = None;
    for mut assign in starts {
        let mut segs: Option<[Segment; 2]> = None;
        for _ in 0..25 {
            let part = |k: u8| -> Vec<[f64; 3]> {
                sample
                    .iter()
                    .zip(&assign)
                    .filter(|(_, &a)| a == k)
                    .map(|(p, _)| *p)
                    .collect()
            };
            let (pa, pb) = (part(0), part(1));
            if pa.len() < n / 10 || pb.len() < n / 10 {
                segs = None;
                break;
            }
            let (sa, sb) = (fit_segment(&pa)?.0, fit_segment(&pb)?.0);
            segs = Some([sa, sb]);
            let mut changed = false;
            for (p, a) in sample.iter().zip(assign.iter_mut()) {
                let na = u8::from(sb.dist2(*p) < sa.dist2(*p));
                if na != *a {
                    *a = na;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        if let Some(s) = segs {
            let cost: f64 = sample
                .iter()
                .map(|p| s[0].dist2(*p).min(s[1].dist2(*p)))
                .sum();
            if best.as_ref().is_none_or(|(c, _)| cost < *c) {
                best = Some((cost, s));
            }
        }
    }
    let (cost, mut segs) = best?;
    if segs[1].length() > segs[0].length() {
        segs.swap(0, 1);
    }
    let rms2 = (cost / n as f64).sqrt().max(1e-9);
    let rms1 = (frame.variances[1] + frame.variances[2]).sqrt();
    let assign: Vec<u8> = points
        .iter()
        .map(|p| u8::from(segs[1].dist2(*p) < segs[0].dist2(*p)))
        .collect();
    let n1 = assign.iter().filter(|&&a| a == 1).count();
    if n1 < points.len() / 10 || points.len() - n1 < points.len() / 10 {
        return None;
    }
    Some((segs, assign, rms1 / rms2))
}

/// Density (mm⁻¹) above which material reads as lead or copper rather than steel:
/// twice the steel reference at the metal energy (keV).
pub(crate) fn dense_mu(metal_energy_kev: f64) -> f64 {
    2.0 * Material::Steel.mu_per_mm(metal_energy_kev)
}

/// Shortest length (mm) for which the two-part analysis is run.
const TWO_PART_MIN_LENGTH_MM: f64 = 60.0;

/// World box `(z0, y0, x0, z1, y1, x1)` mm of the voxels `lo..hi` (voxel edges, not
/// centres).
pub(crate) fn box_mm(volume: &Volume, lo: [usize; 3], hi: [usize; 3]) -> [f64; 6] {
    let spacing = volume.spacing();
    let w0 = volume.world_of_index([lo[0] as f64, lo[1] as f64, lo[2] as f64]);
    let w1 = volume.world_of_index([(hi[0] - 1) as f64, (hi[1] - 1) as f64, (hi[2] - 1) as f64]);
    [
        w0[0].min(w1[0]) - 0.5 * spacing[0],
        w0[1].min(w1[1]) - 0.5 * spacing[1],
        w0[2].min(w1[2]) - 0.5 * spacing[2],
        w0[0].max(w1[0]) + 0.5 * spacing[0],
        w0[1].max(w1[1]) + 0.5 * spacing[1],
        w0[2].max(w1[2]) + 0.5 * spacing[2],
    ]
}

/// Centre of a world box `(z0, y0, x0, z1, y1, x1)`, mm.
pub(crate) fn box_centre(b: &[f64; 6]) -> [f64; 3] {
    std::array::from_fn(|d| 0.5 * (b[d] + b[d + 3]))
}

/// Distance between two world boxes `(z0, y0, x0, z1, y1, x1)`, mm: 0 when they
/// overlap.
pub(crate) fn box_gap_mm(a: &[f64; 6], b: &[f64; 6]) -> f64 {
    (0..3)
        .map(|k| (a[k].max(b[k]) - a[k + 3].min(b[k + 3])).max(0.0))
        .map(|g| g * g)
        .sum::<f64>()
        .sqrt()
}

/// Whether point `p` (world mm) lies in box `b` grown by `grow` mm on every side.
pub(crate) fn in_box(p: [f64; 3], b: &[f64; 6], grow: f64) -> bool {
    (0..3).all(|d| p[d] >= b[d] - grow && p[d] <= b[d + 3] + grow)
}

/// Measures one candidate of `volume`.
///
/// Returns `None` for an empty candidate.
pub fn describe(volume: &Volume, cand: &Candidate, options: &DetectOptions) -> Option<Descriptors> {
    let data = volume.data().view();
    let f = masked_mu(data, cand, None);
    let spacing = volume.spacing();
    let origin = volume.world_of_index([cand.lo[0] as f64, cand.lo[1] as f64, cand.lo[2] as f64]);
    let piece = Piece {
        f: &f,
        origin,
        spacing,
    };
    let (pts, vals) = piece.points();
    let shape = shape_of_points(&piece, &pts, &vals, options)?;
    let mean_mu = vals.iter().map(|&v| f64::from(v)).sum::<f64>() / vals.len().max(1) as f64;
    let mut v64: Vec<f64> = vals.iter().map(|&v| f64::from(v)).collect();
    let peak_mu = quantile(&mut v64, 0.99);
    let mut solid_vals: Vec<f64> = v64
        .iter()
        .copied()
        .filter(|&v| v >= shape.level_mu)
        .collect();
    let solid_mu = if solid_vals.is_empty() {
        shape.median_mu
    } else {
        median(&mut solid_vals)
    };
    let material = Material::guess(solid_mu, options.metal_energy_kev);
    let mass_g = shape.volume_mm3 * material.density_g_cm3() / 1000.0;
    let bbox_mm = box_mm(volume, cand.lo, cand.hi());
    let (two_part, limbs) = if shape.extents_mm[0] >= TWO_PART_MIN_LENGTH_MM {
        // Independent analyses of one object: side by side, so that a large object (a
        // pistol at fine voxels) does not hold one thread while the others idle.
        rayon::join(
            || two_part_of(&piece, &pts, &shape.frame, options, data, cand),
            || limbs_of(&piece, &pts, &shape.frame, options, data, cand),
        )
    } else {
        (None, None)
    };
    Some(Descriptors {
        voxel_count: cand.voxel_count,
        bbox_mm,
        mean_mu,
        peak_mu,
        material,
        mass_g,
        shape,
        two_part,
        limbs,
        joined: 1,
    })
}

/// The two solid limbs of a candidate's silhouette alone ([`Descriptors::limbs`]),
/// without the rest of [`describe`]: a first look, at a fraction of its cost, at a
/// pair of candidates joined as one object. `None` for an empty candidate.
pub fn outline(volume: &Volume, cand: &Candidate, options: &DetectOptions) -> Option<SolidLimbs> {
    let data = volume.data().view();
    let f = masked_mu(data, cand, None);
    let origin = volume.world_of_index([cand.lo[0] as f64, cand.lo[1] as f64, cand.lo[2] as f64]);
    let piece = Piece {
        f: &f,
        origin,
        spacing: volume.spacing(),
    };
    let (pts, _) = piece.points();
    let frame = frame_of(&pts)?;
    limbs_of(&piece, &pts, &frame, options, data, cand)
}

/// μ of the volume inside the candidate's mask (and, with `keep`, only where
/// `keep[voxel index in mask order]`), zero elsewhere, over the candidate's box.
fn masked_mu(data: ArrayView3<'_, f32>, cand: &Candidate, keep: Option<&[u8]>) -> Array3<f32> {
    let mut f = Array3::<f32>::zeros(cand.mask.dim());
    let mut n = 0usize;
    for ((k, j, i), &m) in cand.mask.indexed_iter() {
        if m {
            let take = keep.is_none_or(|kp| kp[n] != 0);
            n += 1;
            if take {
                // Voxels in a mask are ≥ low_mu > 0, so 0 marks "outside" unambiguously.
                f[[k, j, i]] = data[[cand.lo[0] + k, cand.lo[1] + j, cand.lo[2] + i]].max(1e-6);
            }
        }
    }
    f
}

fn two_part_of(
    piece: &Piece<'_>,
    pts: &[[f64; 3]],
    frame: &Frame,
    options: &DetectOptions,
    data: ArrayView3<'_, f32>,
    cand: &Candidate,
) -> Option<TwoPart> {
    let (segs, assign, gain) = two_lines(pts, frame)?;
    let (angle, junction, gap) = relate(&segs[0], &segs[1]);
    let n = assign.len() as f64;
    let n1 = assign.iter().filter(|&&a| a == 1).count() as f64;
    let fractions = [(n - n1) / n, n1 / n];
    let mut widths = [0.0; 2];
    for k in 0..2u8 {
        let sub_pts: Vec<[f64; 3]> = pts
            .iter()
            .zip(&assign)
            .filter(|(_, &a)| a == k)
            .map(|(p, _)| *p)
            .collect();
        if let Some(f) = frame_of(&sub_pts) {
            widths[k as usize] = (12.0 * f.variances[1]).sqrt();
        }
    }
    // Shape analysis of the parts when the object really is two-limbed (two lines fit
    // it at least 1.4 times better than one: where the rules' own fit-gain factor
    // reaches one half) and the limbs could be a handgun's slide and grip or a bolt and
    // its handle (well beyond the bands the rules score): the parts' shapes cost as
    // much as the object's. Handguns and bolts read gains of 1.7–2.6.
    let (la, lb) = (segs[0].length(), segs[1].length());
    let could_be_firearm = (60.0..=150.0).contains(&angle)
        && (50.0..=320.0).contains(&la)
        && (15.0..=220.0).contains(&lb);
    let parts = if gain >= TWO_PART_GAIN_MIN && fractions[1] >= 0.12 && could_be_firearm {
        part_shapes(piece, &assign, options, data, cand)
    } else {
        None
    };
    Some(TwoPart {
        angle_deg: angle,
        lengths_mm: [la, lb],
        widths_mm: widths,
        junction,
        gap_mm: gap,
        fit_gain: gain,
        fractions,
        parts,
    })
}

/// Shape analysis of the two parts of a candidate: `assign` gives each voxel of its
/// mask (in mask order) its part, 0 or 1.
fn part_shapes(
    piece: &Piece<'_>,
    assign: &[u8],
    options: &DetectOptions,
    data: ArrayView3<'_, f32>,
    cand: &Candidate,
) -> Option<Box<[Shape; 2]>> {
    let mk = |k: u8| -> Option<Shape> {
        let keep: Vec<u8> = assign.iter().map(|&a| u8::from(a == k)).collect();
        let f = masked_mu(data, cand, Some(&keep));
        let p = Piece {
            f: &f,
            origin: piece.origin,
            spacing: piece.spacing,
        };
        shape_of(&p, options)
    };
    let (a, b) = rayon::join(|| mk(0), || mk(1));
    Some(Box::new([a?, b?]))
}

/// The two solid limbs of a candidate's silhouette (see [`SolidLimbs`]).
fn limbs_of(
    piece: &Piece<'_>,
    pts: &[[f64; 3]],
    frame: &Frame,
    options: &DetectOptions,
    data: ArrayView3<'_, f32>,
    cand: &Candidate,
) -> Option<SolidLimbs> {
    let (mut l, assign) = super::silhouette::limbs(pts, frame, piece.largest_voxel_mm())?;
    // The limbs' own shapes cost as much as the candidate's: they are measured only
    // when the limbs could be a handgun's (well beyond the bands the rules score). A
    // steel pistol's grip may show only one 4 mm strap, 7–11 mm of solid across: 4–9 %
    // of the body's area.
    let could_be_handgun = l.area_ratio >= 0.04
        && (75.0..=150.0).contains(&l.angle_deg)
        && (70.0..=320.0).contains(&l.lengths_mm[0])
        && (25.0..=220.0).contains(&l.lengths_mm[1])
        && l.cover >= 0.55
        && l.gap_mm <= 30.0;
    if could_be_handgun {
        l.parts = part_shapes(piece, &assign, options, data, cand);
    }
    Some(l)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::candidates::extract;
    use ndarray::Array3;

    fn vol(a: Array3<f32>, sp: f64) -> Volume {
        Volume::new(a, [sp; 3], [0.0; 3]).unwrap()
    }

    /// A profile `1 + m cos(2πx/λ)` over 110 mm: the fitted sinusoid is the one put in
    /// (its amplitude over the mean is `m`), standing far out of the spectrum.
    #[test]
    fn row_period_finds_a_pure_repeat() {
        let (h, lam, m) = (1.72, 10.5, 0.3);
        let profile: Vec<f64> = (0..64)
            .map(|i| 1.0 + m * (std::f64::consts::TAU * i as f64 * h / lam).cos())
            .collect();
        let r = row_period(Repeats::of(&profile, h).as_ref());
        assert!((r.period_mm - lam).abs() <= 0.15, "{r:?}");
        assert!((r.modulation - m).abs() < 0.03, "{r:?}");
        assert!(r.prominence > 10.0, "{r:?}");
        assert!((r.periods - 64.0 * h / lam).abs() < 0.2, "{r:?}");
    }

    /// Runs of wide sections: gaps up to `max_gap` are bridged, longer ones split.
    #[test]
    fn wide_run_bridges_short_dips_only() {
        let w = |s: &str| s.chars().map(|c| c == '#').collect::<Vec<_>>();
        assert_eq!(wide_run(&w("..###.##....#"), 1), 6);
        assert_eq!(wide_run(&w("..###.##....#"), 0), 3);
        assert_eq!(wide_run(&w("##..####"), 2), 8);
        assert_eq!(wide_run(&w("...."), 3), 0);
        assert_eq!(wide_run(&[], 3), 0);
    }

    /// A uniform bar repeats only through its ends: under `λ / (π L)` at any λ of the
    /// band; too short a bar is not measured at all.
    #[test]
    fn row_period_of_a_uniform_bar_is_small() {
        let h = 1.72;
        let profile = vec![2.0; 64];
        let r = row_period(Repeats::of(&profile, h).as_ref());
        let length = 64.0 * h;
        assert!(
            r.modulation < ROW_PERIOD_MAX_MM / (std::f64::consts::PI * length),
            "{r:?}"
        );
        assert_eq!(
            row_period(Repeats::of(&[2.0; 10], h).as_ref()),
            RowPeriod::default()
        );
        assert_eq!(
            row_period(Repeats::of(&[], h).as_ref()),
            RowPeriod::default()
        );
        assert_eq!(
            row_period(Repeats::of(&[0.0; 64], h).as_ref()),
            RowPeriod::default()
        );
    }

    /// A tube blurred until its bore is no hole at the solid level still dips at the
    /// axis; a solid rod of the same size peaks there.
    #[test]
    fn axial_mu_ratio_tells_a_blurred_tube_from_a_rod() {
        let (nt, n) = (40, 15);
        let grid = |inner: f64| {
            let mut mu = vec![0.0f32; nt * n * n];
            for t in 0..nt {
                for u in 0..n {
                    for v in 0..n {
                        let r = ((u as f64 - 7.0).powi(2) + (v as f64 - 7.0).powi(2)).sqrt();
                        // Outer radius 6 cells, walls blurred over about a cell.
                        let wall =
                            (1.0 / (1.0 + (r - 6.0).exp())) * (1.0 / (1.0 + (inner - r).exp()));
                        mu[(t * n + u) * n + v] = wall as f32;
                    }
                }
            }
            let solid: Vec<bool> = mu.iter().map(|&m| m >= 0.2).collect();
            Canon {
                h: 1.0,
                dims: [nt, n, n],
                mu,
                solid,
            }
        };
        let filled: Vec<usize> = (0..nt).collect();
        let tube = grid(1.0);
        // The bore is no hole at the solid level: its centre is solid.
        assert!(tube.solid[tube.idx(20, 7, 7)]);
        let r = axial_mu_ratio(&tube, &filled);
        assert!(r < 0.6, "{r}");
        let rod = axial_mu_ratio(&grid(-50.0), &filled);
        assert!(rod > 0.95, "{rod}");
    }

    #[test]
    fn layer_mass_ratio_weighs_the_two_halves() {
        // Empty margins (under 5 % of the peak) are left out; the middle section of an
        // odd count belongs to neither half.
        let layered = [0.0, 3.0, 3.0, 1.0, 1.0, 1.0, 0.01];
        assert!((layer_mass_ratio(&layered) - 3.0).abs() < 1e-12);
        let symmetric = [1.0, 2.0, 5.0, 2.0, 1.0];
        assert_eq!(layer_mass_ratio(&symmetric), 1.0);
        assert_eq!(layer_mass_ratio(&[]), 1.0);
    }

    /// Ends over middle of a channel with blocks at its ends; about 1 for a bar, also
    /// with empty sections around it.
    #[test]
    fn end_mass_ratio_sees_blocks_at_the_ends() {
        let mut profile = vec![0.0; 5];
        profile.extend(std::iter::repeat_n(6.0, 15));
        profile.extend(std::iter::repeat_n(1.0, 70));
        profile.extend(std::iter::repeat_n(4.0, 15));
        profile.extend(vec![0.0; 5]);
        let [a, b] = end_mass_ratio(&profile);
        assert!((a - 6.0).abs() < 0.5 && (b - 4.0).abs() < 0.5, "{a} {b}");
        let mut bar = vec![0.0; 3];
        bar.extend(std::iter::repeat_n(2.0, 60));
        assert_eq!(end_mass_ratio(&bar), [1.0, 1.0]);
        assert_eq!(end_mass_ratio(&[]), [1.0, 1.0]);
    }

    /// A canonical grid of `dims` cells of 1 mm holding balls of radius 2.5 mm at
    /// `centres` (cells), μ 1 inside.
    fn balls(dims: [usize; 3], centres: &[[f64; 3]]) -> Canon {
        let [nt, nu, nv] = dims;
        let mut mu = vec![0.0f32; nt * nu * nv];
        for t in 0..nt {
            for u in 0..nu {
                for v in 0..nv {
                    let p = [t as f64, u as f64, v as f64];
                    let inside = centres
                        .iter()
                        .any(|c| (0..3).map(|a| (p[a] - c[a]).powi(2)).sum::<f64>() <= 6.25);
                    if inside {
                        mu[(t * nu + u) * nv + v] = 1.0;
                    }
                }
            }
        }
        let solid = mu.iter().map(|&m| m > 0.5).collect();
        Canon {
            h: 1.0,
            dims,
            mu,
            solid,
        }
    }

    /// [`staggered_rows`] of a whole canonical grid.
    fn stagger_of(c: &Canon) -> StaggeredRows {
        let masses = SectionMasses::of(c);
        let repeats = Repeats::of(&masses.along_t, c.h);
        staggered_rows(&masses, repeats.as_ref(), [c.dims[1], c.dims[2]], c.h)
    }

    /// Two columns of balls every 10 mm, the second half a period on, side by side
    /// across `v`: the halves cut across `v` repeat at 10 mm in opposition, the whole
    /// section and the other cut hardly at all. One column beside a uniform bar repeats
    /// in phase with the section; a helix repeats alike on both cuts.
    #[test]
    fn staggered_rows_tell_two_columns_from_one_row_and_a_helix() {
        let dims = [110, 14, 20];
        let columns: Vec<[f64; 3]> = (0..20)
            .map(|k| {
                [
                    5.0 + 5.0 * k as f64,
                    7.0,
                    if k % 2 == 0 { 5.0 } else { 14.0 },
                ]
            })
            .collect();
        let g = stagger_of(&balls(dims, &columns));
        assert_eq!(g.axis, 2, "{g:?}");
        assert!((g.period_mm - 10.0).abs() <= 0.3, "{g:?}");
        assert!(g.prominence > 5.0 && g.modulation > 0.3, "{g:?}");
        assert!(g.in_phase < 0.2 && g.other_cut < 0.2, "{g:?}");
        assert!((g.periods - 10.0).abs() < 1.0, "{g:?}");

        let mut row: Vec<[f64; 3]> = (0..10).map(|k| [5.0 + 10.0 * k as f64, 7.0, 5.0]).collect();
        row.extend((0..200).map(|k| [2.5 + 0.5 * k as f64, 7.0, 14.0]));
        let g = stagger_of(&balls(dims, &row));
        assert!((g.period_mm - 10.0).abs() <= 0.3, "{g:?}");
        assert!(g.in_phase > 0.8, "{g:?}");

        let helix: Vec<[f64; 3]> = (0..400)
            .map(|k| {
                let t = 5.0 + 0.25 * k as f64;
                let (sn, cs) = (std::f64::consts::TAU * t / 10.0).sin_cos();
                [t, 7.0 + 4.5 * cs, 10.0 + 4.5 * sn]
            })
            .collect();
        let g = stagger_of(&balls([110, 14, 20], &helix));
        assert!((g.period_mm - 10.0).abs() <= 0.3, "{g:?}");
        assert!(g.other_cut > 0.7, "{g:?}");
        assert_eq!(
            stagger_of(&balls([6, 14, 20], &[])),
            StaggeredRows::default()
        );
    }

    proptest::proptest! {
        /// Selection gives exactly the order statistics of a full sort.
        #[test]
        fn median_and_quantile_match_a_sort(
            v in proptest::collection::vec(-3i8..4, 1..40),
            q in 0.0f64..=1.0,
        ) {
            let v: Vec<f64> = v.into_iter().map(|x| f64::from(x) * 0.5).collect();
            let mut sorted = v.clone();
            sorted.sort_by(f64::total_cmp);
            let n = sorted.len();
            let want_median = if n % 2 == 1 {
                sorted[n / 2]
            } else {
                0.5 * (sorted[n / 2 - 1] + sorted[n / 2])
            };
            let pos = q * (n - 1) as f64;
            let i = pos.floor() as usize;
            let j = (i + 1).min(n - 1);
            let want_q = sorted[i] + (pos - i as f64) * (sorted[j] - sorted[i]);
            proptest::prop_assert_eq!(median(&mut v.clone()), want_median);
            proptest::prop_assert_eq!(quantile(&mut v.clone(), q), want_q);
        }
    }

    fn only(v: &Volume) -> Descriptors {
        let o = DetectOptions::default();
        let (c, _) = extract(v, &o, &crate::NoProgress).unwrap();
        assert_eq!(c.len(), 1, "expected one candidate, found {}", c.len());
        describe(v, &c[0], &o).unwrap()
    }

    /// Fills voxels whose centre (world mm, the volume's origin is 0) satisfies `inside`.
    fn fill(
        shape: (usize, usize, usize),
        sp: f64,
        mu: f32,
        inside: impl Fn([f64; 3]) -> bool,
    ) -> Array3<f32> {
        Array3::from_shape_fn(shape, |(k, j, i)| {
            if inside([k as f64 * sp, j as f64 * sp, i as f64 * sp]) {
                mu
            } else {
                0.0
            }
        })
    }

    #[test]
    fn eigen_solver_diagonalises() {
        let a = [[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 1.0]];
        let (vals, vecs) = sym_eigen3(a);
        assert!(vals[0] >= vals[1] && vals[1] >= vals[2]);
        for r in 0..3 {
            for i in 0..3 {
                let av: f64 = (0..3).map(|k| a[i][k] * vecs[r][k]).sum();
                assert!((av - vals[r] * vecs[r][i]).abs() < 1e-9);
            }
        }
        // trace is preserved
        assert!((vals.iter().sum::<f64>() - 8.0).abs() < 1e-9);
    }

    #[test]
    fn material_table_orders_metals() {
        let e = 70.0;
        let mus: Vec<f64> = Material::ALL.iter().map(|m| m.mu_per_mm(e)).collect();
        assert!(mus.windows(2).all(|w| w[0] < w[1]), "{mus:?}");
        // NIST: iron 100 keV μ/ρ = 0.3717 cm²/g → μ = 0.292 mm⁻¹
        assert!((Material::Steel.mu_per_mm(100.0) - 0.03717 * 7.85).abs() < 1e-3);
        assert_eq!(Material::guess(0.3, 100.0), Material::Steel);
        assert_eq!(Material::guess(0.05, 100.0), Material::Aluminium);
        assert_eq!(Material::guess(6.0, 100.0), Material::Lead);
    }

    #[test]
    fn tube_bore_diameter_within_a_voxel() {
        // A steel tube along a tilted axis: outer radius 10 mm, bore 9 mm, 120 mm long.
        let sp = 1.0;
        let c = [30.0, 30.0, 80.0];
        let d = {
            let v = [0.3f64, 0.2, 1.0];
            let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
            [v[0] / n, v[1] / n, v[2] / n]
        };
        let a = fill((60, 60, 160), sp, 0.6, |p| {
            let q = sub(p, c);
            let t = dot(q, d);
            let r2 = dot(q, q) - t * t;
            t.abs() <= 60.0 && (4.5 * 4.5..=100.0).contains(&r2)
        });
        let desc = only(&vol(a, sp));
        let b = desc.shape.bores[0];
        assert!((b.diameter_mm - 9.0).abs() <= sp, "{b:?}");
        assert!((b.length_mm - 120.0).abs() <= 4.0, "{b:?}");
        assert_eq!(b.open_ends, 2);
        assert!((b.outer_diameter_mm - 20.0).abs() <= 1.5, "{b:?}");
        assert!((desc.shape.extents_mm[0] - 120.0).abs() <= 3.0);
        assert!(b.aspect < 1.3);
    }

    #[test]
    fn closed_can_has_a_closed_cavity() {
        // An 18650-like can: 18 mm × 65 mm, 0.5 mm… here 1.5 mm walls and caps.
        let sp = 0.5;
        let a = fill((50, 50, 150), sp, 0.6, |p| {
            let (y, z, x) = (p[1] - 12.5, p[0] - 12.5, p[2] - 5.0);
            let r = (y * y + z * z).sqrt();
            let inside_outer = r <= 9.0 && (0.0..=65.0).contains(&x);
            let inside_inner = r < 7.5 && (1.5..=63.5).contains(&x);
            inside_outer && !inside_inner
        });
        let desc = only(&vol(a, sp));
        let b = desc.shape.bores[0];
        assert_eq!(b.open_ends, 0, "{b:?}");
        assert!((b.diameter_mm - 15.0).abs() <= 1.0, "{b:?}");
    }

    #[test]
    fn l_shape_angle_within_five_degrees() {
        // Slide 180 × 30 × 26 mm along x; grip 110 × 30 × 26 hanging from its rear at 105°.
        let sp = 1.0;
        let ang = 105f64.to_radians();
        // outward directions from the junction at the slide's rear (x = 20):
        let slide_dir = [0.0, 0.0, 1.0]; // (z, y, x)
        let grip_dir = [0.0, ang.sin(), ang.cos()]; // y down, x backwards
        let j = [40.0, 20.0, 25.0];
        let a = fill((80, 140, 220), sp, 0.6, |p| {
            let q = sub(p, j);
            let in_box = |dir: [f64; 3], side: [f64; 3], len: f64| {
                let t = dot(q, dir);
                let s = dot(q, side);
                let z = q[0];
                (0.0..=len).contains(&t) && s.abs() <= 15.0 && z.abs() <= 13.0
            };
            let side_s = [0.0, 1.0, 0.0];
            let side_g = [0.0, -ang.cos(), ang.sin()];
            in_box(slide_dir, side_s, 180.0) || in_box(grip_dir, side_g, 110.0)
        });
        let desc = only(&vol(a, sp));
        let tp = desc.two_part.expect("two-part analysis");
        assert!((tp.angle_deg - 105.0).abs() <= 5.0, "{tp:?}");
        assert!(tp.fit_gain > 1.5, "{tp:?}");
        assert!((tp.lengths_mm[0] - 180.0).abs() < 25.0, "{tp:?}");
    }

    #[test]
    fn plate_thickness_and_pointed_end() {
        // A blade: 200 mm long, 30 mm wide, 3 mm thick, tapering to a point over 60 mm.
        let sp = 0.5;
        let a = fill((20, 80, 440), sp, 0.6, |p| {
            let (z, y, x) = (p[0] - 5.0, p[1] - 20.0, p[2] - 10.0);
            let half_w = if x <= 140.0 {
                15.0
            } else {
                15.0 * (200.0 - x) / 60.0
            };
            (0.0..=200.0).contains(&x) && y.abs() <= half_w && z.abs() <= 1.5
        });
        let desc = only(&vol(a, sp));
        let s = &desc.shape;
        // |z| ≤ 1.5 mm holds 7 voxel layers of 0.5 mm: the voxelised plate is 3.5 mm thick.
        assert!((s.thickness_mm - 3.5).abs() <= sp, "{s:?}");
        assert!((s.extents_mm[0] - 200.0).abs() <= 3.0, "{s:?}");
        assert!((s.width_mm - 30.0).abs() <= 2.0, "{s:?}");
        let tip = s.end_width_ratio[0].min(s.end_width_ratio[1]);
        let heel = s.end_width_ratio[0].max(s.end_width_ratio[1]);
        assert!(tip < 0.45 && heel > 0.9, "{s:?}");
        assert!(s.channel < 0.05, "{s:?}");
    }

    #[test]
    fn revolver_like_cylinder_counts_its_chambers() {
        // 40 mm long, 38 mm across, six 9 mm chambers on a 12 mm radius, open both ends.
        let sp = 0.5;
        let a = fill((100, 100, 100), sp, 0.6, |p| {
            let (z, y, x) = (p[0] - 25.0, p[1] - 25.0, p[2] - 25.0);
            if x.abs() > 20.0 || (z * z + y * y).sqrt() > 19.0 {
                return false;
            }
            for k in 0..6 {
                let a = k as f64 * std::f64::consts::PI / 3.0;
                let (cz, cy) = (12.0 * a.cos(), 12.0 * a.sin());
                if ((z - cz).powi(2) + (y - cy).powi(2)).sqrt() < 4.5 {
                    return false;
                }
            }
            (z * z + y * y).sqrt() > 2.5
        });
        let desc = only(&vol(a, sp));
        // The main axis of a squat cylinder is not guaranteed; look along each slicing.
        let s = &desc.shape;
        let p = s.parallel_bores;
        assert_eq!(p.count, 6, "{s:?}");
        assert!((p.diameter_mm - 9.0).abs() <= 1.0);
        assert_eq!(p.open_share, 1.0);
    }
}
