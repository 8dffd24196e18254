//! Shields: regions of a scan that the beam did not pass through.
//!
//! A ray across enough metal reaches the detector with almost no photons: its
//! measured line integral `∫μ dl = −ln(I/I₀)` sits at the detector's floor, and every
//! such ray reads the same whatever lies on it. Where every ray through a region is
//! like that, the reconstruction there holds no information: an electric motor's
//! copper winding (two walls of 5–12 mm) or a 50 mm steel ball reads as a smooth
//! blur, and whatever is inside (a magazine, a bolt) cannot be seen. Security CT
//! raises a *shield alarm* for such regions; [`detect`](super::detect) reports them in
//! [`Report::shields`](super::Report::shields).
//!
//! The scanner turns about the volume's z axis (DESIGN's convention), so the rays
//! through a voxel lie, up to the cone angle, in its z slice. For each slice the
//! metal of the candidates is projected along [`SHIELD_ANGLES`] directions over 180°,
//! and a point is *unseen* when the least line integral through it, over all
//! directions, is at least [`DetectOptions::opaque_line_integral`]: its default 8
//! means that at most e⁻⁸ ≈ 3·10⁻⁴ of the beam crosses it from any side (about 30 of
//! the 10⁵ photons per pixel of the project's scanner). The reconstruction's own μ,
//! summed along a ray, stands for what the detector measured; where the rays were
//! starved it reads low (the metal-artefact correction replaces them by interpolation
//! and the filter spreads them), so the threshold sits below the count floor's ln
//! (10⁵ / 0.5) ≈ 12. Only the candidates' metal is projected: water and plastics add
//! at most a few units across a parcel, so the test errs on the side of calling a
//! region seen.
//!
//! On the design parcels at 96³ (seeds 0–199 and 2000–2199), 49 of the 52 benign
//! parcels holding an electric motor had a shield and none of the 148 without one;
//! 19 of the 33 firearm parts hidden inside a motor lay in a shield.
//!
//! The work is done on cells of about [`SHIELD_CELL_MM`] (a few voxels at fine
//! voxel sizes): opacity is a property of centimetres of metal, and the cost then
//! stays small next to the candidates' own.
use ndarray::Array3;
use rayon::prelude::*;

use crate::Volume;

use super::report::Shield;
use super::{Candidate, DetectOptions};

/// Directions over 180° along which each slice is projected.
pub const SHIELD_ANGLES: usize = 24;

/// Side of the cells (mm, in each axis at least one voxel) on which opacity is found.
pub const SHIELD_CELL_MM: f64 = 2.5;

/// Finds the regions of `volume` that no ray crosses with more than
/// `e^-opaque_line_integral` of its photons, from the metal of `candidates`; regions
/// of at least `shield_min_volume_mm3` are returned in scan order of their first cell,
/// each with the ids of the findings (`findings`: id and box) whose box holds its
/// centre.
pub(crate) fn find_shields(
    volume: &Volume,
    candidates: &[Candidate],
    findings: &[(u32, [f64; 6])],
    options: &DetectOptions,
) -> Vec<Shield> {
    let spacing = volume.spacing();
    let shape = volume.shape();
    if candidates.is_empty() {
        return Vec::new();
    }
    let factor: [usize; 3] =
        std::array::from_fn(|a| ((SHIELD_CELL_MM / spacing[a]).round() as usize).max(1));
    let cell_mm: [f64; 3] = std::array::from_fn(|a| spacing[a] * factor[a] as f64);
    // The cells spanned by the candidates (metal outside them blocks nothing).
    let mut lo = [usize::MAX; 3];
    let mut hi = [0usize; 3];
    for c in candidates {
        let h = c.hi();
        for d in 0..3 {
            lo[d] = lo[d].min(c.lo[d] / factor[d]);
            hi[d] = hi[d].max((h[d] - 1) / factor[d] + 1);
        }
    }
    let cells: [usize; 3] = std::array::from_fn(|d| hi[d] - lo[d]);
    // μ of the candidates' metal, averaged over each cell.
    let mut mu = Array3::<f32>::zeros(cells);
    let data = volume.data();
    let per_cell = (factor[0] * factor[1] * factor[2]) as f32;
    for c in candidates {
        for ((k, j, i), &m) in c.mask.indexed_iter() {
            if m {
                let v = [c.lo[0] + k, c.lo[1] + j, c.lo[2] + i];
                let cell = [
                    v[0] / factor[0] - lo[0],
                    v[1] / factor[1] - lo[1],
                    v[2] / factor[2] - lo[2],
                ];
                mu[cell] += data[v].max(0.0) / per_cell;
            }
        }
    }
    let limit = options.opaque_line_integral;
    // Per slice, the least line integral of each unseen cell (0 elsewhere).
    let slices: Vec<Vec<f32>> = mu
        .outer_iter()
        .into_par_iter()
        .map(|slice| unseen_in_slice(slice, [cell_mm[1], cell_mm[2]], limit))
        .collect();
    let Some(k0) = slices.iter().position(|u| !u.is_empty()) else {
        return Vec::new();
    };
    let k1 = slices.len() - slices.iter().rev().position(|u| !u.is_empty()).unwrap_or(0);
    let mut least = Array3::<f32>::zeros((k1 - k0, cells[1], cells[2]));
    for (k, u) in slices[k0..k1].iter().enumerate() {
        if !u.is_empty() {
            for (dst, &src) in least.index_axis_mut(ndarray::Axis(0), k).iter_mut().zip(u) {
                *dst = src;
            }
        }
    }
    let (labels, n) = super::candidates::local_components(&least.mapv(|l| l > 0.0), 26);
    let cell_mm3: f64 = cell_mm.iter().product();
    // Per region: its cells' box and count, and its weakest ray.
    let mut weakest = vec![f32::INFINITY; n + 1];
    for (&l, &v) in labels.iter().zip(least.iter()) {
        weakest[l as usize] = weakest[l as usize].min(v);
    }
    let mut out = Vec::new();
    let regions = super::candidates::label_boxes(&labels, n);
    for ((mut a, mut b, count), weakest) in regions.into_iter().zip(weakest).skip(1) {
        let volume_mm3 = count as f64 * cell_mm3;
        if count == 0 || volume_mm3 < options.shield_min_volume_mm3 {
            continue;
        }
        // The labels cover the slices from k0 on.
        a[0] += k0;
        b[0] += k0;
        let first: [usize; 3] = std::array::from_fn(|d| (lo[d] + a[d]) * factor[d]);
        let last: [usize; 3] = std::array::from_fn(|d| ((lo[d] + b[d]) * factor[d]).min(shape[d]));
        let bbox_mm = super::features::box_mm(volume, first, last);
        let centre = super::features::box_centre(&bbox_mm);
        let inside: Vec<u32> = findings
            .iter()
            .filter(|(_, b)| super::features::in_box(centre, b, 0.0))
            .map(|(id, _)| *id)
            .collect();
        let weakest = f64::from(weakest);
        let mut evidence = vec![format!(
            "every ray across this {:.0} cm³ region in its slice meets ∫μ dl ≥ {weakest:.1}: \
             at most {:.0e} of the beam gets through from any side",
            volume_mm3 / 1000.0,
            (-weakest).exp()
        )];
        evidence.push(
            "whatever lies inside cannot be seen: rescan at a higher energy or open it".into(),
        );
        if !inside.is_empty() {
            let ids: Vec<String> = inside.iter().map(|i| format!("#{i}")).collect();
            evidence.push(format!("inside the box of finding {}", ids.join(", ")));
        }
        out.push(Shield {
            bbox_mm,
            volume_mm3,
            least_line_integral: weakest,
            findings: inside,
            evidence,
        });
    }
    out
}

/// The least line integral through each unseen cell of one z slice of cell μ
/// (row-major `(y, x)`; 0 for a cell that is seen); an empty vector when none is
/// unseen.
fn unseen_in_slice(slice: ndarray::ArrayView2<f32>, cell_mm: [f64; 2], limit: f64) -> Vec<f32> {
    let (ny, nx) = slice.dim();
    let none = Vec::new();
    // The rays along x and y are two of the directions: a cell can be unseen only if
    // its row and its column are both opaque.
    let mut rows = vec![0.0f64; ny];
    let mut cols = vec![0.0f64; nx];
    let mut metal: Vec<(usize, usize, f64)> = Vec::new();
    for ((j, i), &v) in slice.indexed_iter() {
        if v > 0.0 {
            let v = f64::from(v);
            rows[j] += v * cell_mm[1];
            cols[i] += v * cell_mm[0];
            metal.push((j, i, v));
        }
    }
    let opaque = |v: &f64| *v >= limit;
    let (Some(j0), Some(i0)) = (rows.iter().position(opaque), cols.iter().position(opaque)) else {
        return none;
    };
    let j1 = ny - rows.iter().rev().position(opaque).unwrap_or(0);
    let i1 = nx - cols.iter().rev().position(opaque).unwrap_or(0);
    let bin = cell_mm[0].min(cell_mm[1]);
    let area = cell_mm[0] * cell_mm[1];
    let reach = (ny as f64 * cell_mm[0]).hypot(nx as f64 * cell_mm[1]);
    let nbins = (reach / bin).ceil() as usize + 3;
    let centre = [0.5 * ny as f64 * cell_mm[0], 0.5 * nx as f64 * cell_mm[1]];
    let (h, w) = (j1 - j0, i1 - i0);
    let mut least = vec![f32::INFINITY; h * w];
    for (j, &r) in rows[j0..j1].iter().enumerate() {
        for (i, &c) in cols[i0..i1].iter().enumerate() {
            if r < limit || c < limit {
                least[j * w + i] = 0.0;
            }
        }
    }
    let mut sino = vec![0.0f64; nbins];
    for a in 0..SHIELD_ANGLES {
        let theta = std::f64::consts::PI * a as f64 / SHIELD_ANGLES as f64;
        let (s, c) = theta.sin_cos();
        // Bin coordinate (from the left edge of bin 0's centre) of a cell centre along
        // the detector direction (cos, sin) in (x, y): its ray runs along (−sin, cos).
        let t_of = |j: usize, i: usize| {
            let y = (j as f64 + 0.5) * cell_mm[0] - centre[0];
            let x = (i as f64 + 0.5) * cell_mm[1] - centre[1];
            let t = (x * c + y * s) / bin + 0.5 * nbins as f64 - 0.5;
            let b = t.floor();
            (b as usize, t - b)
        };
        sino.iter_mut().for_each(|v| *v = 0.0);
        for &(j, i, v) in &metal {
            // The cell's μ·area spread over bins of width `bin` is its line integral;
            // linear weights share it between two bins.
            let (b, f) = t_of(j, i);
            let m = v * area / bin;
            sino[b] += m * (1.0 - f);
            sino[b + 1] += m * f;
        }
        for j in 0..h {
            for i in 0..w {
                let l = &mut least[j * w + i];
                if *l > 0.0 {
                    let (b, f) = t_of(j0 + j, i0 + i);
                    *l = l.min((sino[b] * (1.0 - f) + sino[b + 1] * f) as f32);
                }
            }
        }
    }
    let mut out = vec![0.0f32; ny * nx];
    let mut any = false;
    for j in 0..h {
        for i in 0..w {
            let l = least[j * w + i];
            if f64::from(l) >= limit {
                out[(j0 + j) * nx + i0 + i] = l;
                any = true;
            }
        }
    }
    if any {
        out
    } else {
        none
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::candidates::extract;

    fn options() -> DetectOptions {
        DetectOptions::default()
    }

    /// A cylinder of μ along z: radius `r_out` mm, hollow inside `r_in`, `len` slices.
    fn cylinder(n: usize, spacing: f64, r_in: f64, r_out: f64, mu: f32) -> Volume {
        let c = 0.5 * (n as f64 - 1.0);
        let a = Array3::from_shape_fn((n, n, n), |(k, j, i)| {
            let r =
                (((j as f64 - c) * spacing).powi(2) + ((i as f64 - c) * spacing).powi(2)).sqrt();
            let z = (k as f64 - c).abs() * spacing;
            if z <= 30.0 && r <= r_out && r >= r_in {
                mu
            } else {
                0.0
            }
        });
        Volume::centered(a, [spacing; 3]).unwrap()
    }

    #[test]
    fn a_solid_disc_hides_the_points_whose_shortest_chord_is_opaque() {
        // Uniform disc of radius R and μ: the least line integral through a point at
        // radius r is the chord normal to the radius, 2 μ √(R² − r²); the point is
        // unseen when that reaches L, i.e. r ≤ √(R² − (L / 2μ)²).
        let (radius, mu) = (30.0, 0.3f32);
        let v = cylinder(80, 1.0, 0.0, radius, mu);
        let o = options();
        let (cands, _) = extract(&v, &o, &crate::NoProgress).unwrap();
        let shields = find_shields(&v, &cands, &[], &o);
        assert_eq!(shields.len(), 1);
        let s = &shields[0];
        let r_unseen =
            (radius.powi(2) - (o.opaque_line_integral / (2.0 * f64::from(mu))).powi(2)).sqrt();
        let width = s.bbox_mm[5] - s.bbox_mm[2];
        // Cells of 3 voxels (2.5 mm rounds to 3 at 1 mm): the box is the disc of
        // r_unseen rounded out to whole cells.
        assert!(
            (width - 2.0 * r_unseen).abs() <= 2.0 * 3.0,
            "{width} vs {}",
            2.0 * r_unseen
        );
        let z = s.bbox_mm[3] - s.bbox_mm[0];
        assert!((z - 61.0).abs() <= 6.0, "{z}");
        let area = std::f64::consts::PI * r_unseen.powi(2);
        let expected = area * 61.0;
        assert!(
            (s.volume_mm3 / expected - 1.0).abs() < 0.25,
            "{} vs {expected}",
            s.volume_mm3
        );
        assert!(s.least_line_integral >= o.opaque_line_integral);
    }

    #[test]
    fn a_thick_walled_tube_hides_its_bore_and_a_thin_one_does_not() {
        let o = options();
        // Copper-like walls 12 mm thick around a 25 mm bore: the shortest ray through
        // the axis crosses 24 mm at 0.4 mm⁻¹ = 9.6 ≥ 8.
        let v = cylinder(96, 1.0, 25.0, 37.0, 0.4);
        let (cands, _) = extract(&v, &o, &crate::NoProgress).unwrap();
        let shields = find_shields(
            &v,
            &cands,
            &[(7, [-50.0, -50.0, -50.0, 50.0, 50.0, 50.0])],
            &o,
        );
        assert_eq!(shields.len(), 1);
        let s = &shields[0];
        let c = crate::detect::features::box_centre(&s.bbox_mm);
        assert!(c.iter().all(|x| x.abs() < 3.0), "{c:?}");
        assert_eq!(s.findings, vec![7]);
        assert!(s.evidence.iter().any(|e| e.contains("#7")));
        // 4 mm walls: 8 mm of steel on the shortest ray, 2.4 ≪ 8.
        let v = cylinder(96, 1.0, 25.0, 29.0, 0.3);
        let (cands, _) = extract(&v, &o, &crate::NoProgress).unwrap();
        assert!(find_shields(&v, &cands, &[], &o).is_empty());
    }

    #[test]
    fn a_long_bar_blocks_only_along_itself() {
        // A steel bar 200 mm long, 10 × 10 mm: 200 × 0.3 = 60 along it, 3 across.
        let mut a = Array3::<f32>::zeros((30, 30, 240));
        a.slice_mut(ndarray::s![10..20, 10..20, 20..220]).fill(0.3);
        let v = Volume::centered(a, [1.0; 3]).unwrap();
        let o = options();
        let (cands, _) = extract(&v, &o, &crate::NoProgress).unwrap();
        assert!(find_shields(&v, &cands, &[], &o).is_empty());
    }
}
