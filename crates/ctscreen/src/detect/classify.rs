//! The threat classifier: rules with smooth memberships, and the evidence behind them.
//!
//! Each rule multiplies **memberships** in [0, 1]: `up(x, x0, w)`, the logistic
//! `1 / (1 + exp(−(x − x0) / w))` (½ at `x0`, from ≈0.12 to ≈0.88 over `x0 ± 2w`),
//! `down` its complement, and `band(x, lo, hi, w) = up(x, lo, w) · down(x, hi, w)`.
//! Bounds are real dimensions of the objects, not values fitted to scenes:
//!
//! - **barrel** (firearm part): a round bore 4–14 mm across (5.56 mm to 12 gauge
//!   slugs aside) at least 50 mm long, ≥ 6 bore diameters long, running most of the
//!   object's length, open at one end at least, in a body at most 50 mm across, with
//!   walls ≥ 1.5 mm. Pipe fittings and bearings are short or wide-bored, an 18650 can
//!   (17 mm) and a cartridge case are closed at both ends, a motor housing is wide.
//!   Round means the equal-area diameter is at most 1.35 × the inscribed circle's, the
//!   inscribed circle allowed one cell of the grid it was measured on (it is measured
//!   between cell centres, and a 9 mm bore is under three 3.44 mm voxels across).
//!   A bore under about three voxels is not resolved as a hole but still shows as a dip
//!   of μ at the axis of a round steel tube 95–450 mm long (to ≤ 0.7 of the walls'; a
//!   solid rod peaks there);
//! - **revolver cylinder** (firearm part): ≥ 5 similar bores 7–13 mm across, side by
//!   side, open, 25–70 mm long;
//! - **magazine** (firearm part): a thin-walled (≤ 2.5 mm) hollow box 80–200 mm long
//!   whose hole is flat (aspect ≥ 1.6) and 9–30 mm wide; or, loaded, rounds in **two
//!   staggered columns**: the two halves of the section across its thinnest axis
//!   repeat at a case diameter (8.5–12.5 mm) in opposition over at least 3.5 periods
//!   (seven rounds), which rounds in one row (in phase) and a coil spring (the same on
//!   both cuts) do not;
//! - **stamped receiver** (firearm part): a sheet-steel channel 205–290 mm long, 30–58
//!   mm across both ways (blur included), at most 30 % filled, closed at both ends by
//!   solid blocks (the trunnions) whose mass per length is at least 2.5 × the
//!   middle's. A tube or a bar has about the same mass per length all along;
//! - **slide assembly** (firearm part): a slide 150–215 mm long and 22–36 mm wide with
//!   its barrel and recoil spring beneath, 40–62 mm tall, at least about 450 g of
//!   steel and hollow along its axis (centre μ ≤ ½ the peak). A polymer pistol whose
//!   magazine holds few rounds shows nothing else: its frame reads as plastic;
//! - **pistol** (firearm): two limbs meeting at 95–128° (slide and grip: 100–115° in
//!   pistols, up to 125° in revolvers), the longer 110–260 mm and 14–50 mm wide, the
//!   shorter 55–160 mm and joined by its end; a bore in the longer limb adds to it.
//!   The same test runs on **pairs of objects** closer than 30 mm: a polymer-framed
//!   pistol shows a steel slide and a steel magazine with plastic between them, and a
//!   revolver's grip frame can read apart from its frame, which is then up to 100 mm
//!   across with the cylinder and trigger guard (taken only with its barrel or chambers
//!   showing, or with the grip frame reading as a solid steel bar of its size and
//!   weight, 45–70 mm and 80–250 g, beside a frame of about 450 g or more: a
//!   short-barrelled revolver with its chambers loaded shows neither). A pair is taken
//!   when it alarms as a firearm or scores at least what its members do alone. Limbs
//!   too thick for two fitted lines (an all-steel pistol's slide and frame, 50–70 mm
//!   across) are judged on the **solid limbs** of the silhouette instead: a body
//!   92–260 mm long (a snub-nosed revolver's is about 105–110 mm; 100 mm or more for
//!   two objects read as one) and a grip 45–170 mm beyond it at 95–130°, near one end,
//!   covering most of the outline (`pistol_silhouette`). Two candidates whose boxes
//!   lie within 16 mm of each other, each of at least 20 g and as thick as a grip, are
//!   also judged as **one outline** ([`joinable`], [`classify_candidates`]): a pistol's
//!   wooden grip panels or polymer frame can part its steel at the metal threshold
//!   into a body and a grip strap, neither a threat alone;
//! - **cartridge** (ammunition): a round cylinder 4.5–14.5 mm across, 15–85 mm long,
//!   1.6–7.5 diameters long, well filled, made stronger by a dense end (a lead bullet:
//!   the dense third ≥ 1.4 × the other) or a closed internal cavity (the case).
//!   Similar cartridges within two lengths of each other are **clustered** into one
//!   finding whose score grows with the count. ≥ 4 similar closed bores side by side in
//!   one object are cartridges packed touching. Rounds standing in a box merge into
//!   one block at coarse voxels; their **row** still shows as mass repeating along the
//!   block at the case pitch (7–13.5 mm, ≥ 6 times, standing out of the spectrum) in
//!   a block at least a pitch thick (thinner rods and strips repeat by themselves on
//!   the voxel grid);
//! - **blade**: a plate 1.2–5.5 mm thick, 18–50 mm wide and 110–460 mm long, thin for its
//!   width (the upper bounds judged on the thickness with the scan's blur, about 1.2
//!   voxels, taken out in quadrature: a 2–4 mm blade reads 4–5.6 mm in 3.44 mm
//!   voxels), made stronger by a pointed end (width of the last 12 % ≤ 0.55 of the
//!   median), weaker when both ends are wide (a spanner), a hole crosses it (a ring
//!   spanner's eye, scissors' bows) or it keeps 0.6 of its width over less than about
//!   55 mm (a fork's head and tines or a spoon's bowl next to other metal; a knife's
//!   blade keeps its width over 60–200 mm); and it fills at least 6 % of its principal
//!   box (knives fill 10–66 %; a tangle of tools whose sections read like a plate,
//!   2–5 %).
//!
//! Rounds inside an object that reads as a firearm (a loaded magazine blurred into its
//! slide) are explained by it: the object's ammunition score is cut by 0.6 × its
//! firearm score, so a loaded pistol is called a firearm.
//!
//! A finding's kind is the best class when its score reaches the threshold, otherwise
//! `metal_other`; its score is always the best class score.
use std::collections::BTreeMap;

use super::features::{box_gap_mm, relate, Bore, Descriptors, Segment, Shape, SolidLimbs, TwoPart};
use super::report::{ClassScores, Finding, Kind};
use super::DetectOptions;

/// Logistic step up: ½ at `x0`, width `w`.
pub fn up(x: f64, x0: f64, w: f64) -> f64 {
    1.0 / (1.0 + (-(x - x0) / w).exp())
}

/// Logistic step down: ½ at `x0`, width `w`.
pub fn down(x: f64, x0: f64, w: f64) -> f64 {
    1.0 - up(x, x0, w)
}

/// Soft membership of `x` in `[lo, hi]` with edge width `w`.
pub fn band(x: f64, lo: f64, hi: f64, w: f64) -> f64 {
    up(x, lo, w) * down(x, hi, w)
}

/// Scores and evidence of one candidate or group.
#[derive(Debug, Clone, Default)]
struct Call {
    scores: ClassScores,
    evidence: Vec<(f64, Kind, String)>,
    features: BTreeMap<String, f64>,
}

impl Call {
    fn feat(&mut self, name: &str, v: f64) {
        if v.is_finite() {
            self.features.insert(name.to_string(), v);
        }
    }
    fn say(&mut self, score: f64, kind: Kind, text: String) {
        self.evidence.push((score, kind, text));
    }
    /// Scores `kind` at least `score`, and says `text` when the score counts as
    /// evidence (≥ 0.2).
    fn claim(&mut self, kind: Kind, score: f64, text: impl FnOnce() -> String) {
        self.set(kind, score);
        if score >= 0.2 {
            self.say(score, kind, text());
        }
    }
    fn set(&mut self, kind: Kind, s: f64) {
        let s = s.clamp(0.0, 1.0);
        match kind {
            Kind::Firearm => self.scores.firearm = self.scores.firearm.max(s),
            Kind::FirearmPart => self.scores.firearm_part = self.scores.firearm_part.max(s),
            Kind::Ammunition => self.scores.ammunition = self.scores.ammunition.max(s),
            Kind::Blade => self.scores.blade = self.scores.blade.max(s),
            Kind::MetalOther => {}
        }
    }
}

fn bore_text(b: &Bore) -> String {
    let ends = match b.open_ends {
        0 => "closed at both ends",
        1 => "open at one end",
        _ => "open at both ends",
    };
    format!(
        "bore {:.1} mm across, {:.0} mm long, {ends}, wall {:.1} mm",
        b.diameter_mm, b.length_mm, b.wall_mm
    )
}

/// The inscribed circle of a bore measured on a grid of step `h` mm, allowing for the
/// grid: the inscribed diameter comes from distances between cell centres, so it reads
/// short by up to about a cell when the bore's axis falls between cell centres (round
/// 9 mm bores in 3.44 mm voxels read 6–7 mm inscribed against 8.5–9 mm of equal area).
fn inscribed_allowing_grid(b: &Bore, h: f64) -> f64 {
    b.inscribed_mm + h
}

/// The size of a bore for the barrel tests: its equal-area diameter when the hole is
/// round, capped by the grid-allowed inscribed circle when it leaks into a slot beside
/// it (then only the circle is the bore).
fn bore_size(b: &Bore, h: f64) -> f64 {
    b.diameter_mm.min(inscribed_allowing_grid(b, h))
}

/// Barrel membership of a bore measured on a grid of step `h` mm: a round hole 4–14 mm
/// across, ≥ 70 mm and ≥ 7.5 diameters long, along most of the object, open at an end.
/// Round means the equal-area diameter is at most 1.35 × the inscribed circle's, the
/// latter allowed one grid cell ([`inscribed_allowing_grid`]).
fn barrel_score(b: &Bore, h: f64) -> f64 {
    let d = bore_size(b, h);
    let open = match b.open_ends {
        0 => 0.1,
        1 => 0.9,
        _ => 1.0,
    };
    band(d, 4.0, 14.0, 0.7)
        * up(b.length_mm, 70.0, 5.0)
        * up(b.length_mm / d.max(1e-3), 7.5, 0.5)
        * up(b.length_fraction, 0.45, 0.06)
        * band(b.wall_mm, 0.8, 14.0, 0.3)
        * down(
            b.diameter_mm / inscribed_allowing_grid(b, h).max(1e-3),
            1.35,
            0.06,
        )
        * open
}

/// The best barrel-like bore of a shape, with its score.
fn best_barrel(s: &Shape) -> Option<(Bore, f64)> {
    s.bores
        .iter()
        .map(|b| (*b, barrel_score(b, s.step_mm)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

/// A barrel inside a slide (or a revolver's frame) may be shorter than its limb, and
/// its bore may leak into the channel beside it: only the inscribed circle counts
/// (allowed one grid cell, capped by the equal-area diameter).
fn best_barrel_relaxed(s: &Shape) -> Option<(Bore, f64)> {
    s.bores
        .iter()
        .map(|b| {
            let sc = band(bore_size(b, s.step_mm), 4.0, 14.0, 0.7)
                * up(b.length_mm, 35.0, 5.0)
                * if b.open_ends > 0 { 1.0 } else { 0.3 };
            (*b, sc)
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

/// A barrel whose bore the scan does not resolve (under about three voxels: 5.56–9 mm
/// in 3.44 mm voxels), blurred into its walls: a straight round steel tube 95–450 mm
/// long, 13–38 mm across with the blur, whose μ still dips at the axis to at most about
/// 0.7 of the walls' (a solid rod or bar peaks there, 0.85 and more), with no wider
/// bore resolved along most of it (a pipe).
fn unresolved_bore_score(s: &Shape) -> f64 {
    let [l, w, t] = s.extents_mm;
    if s.bores
        .iter()
        .any(|b| b.diameter_mm > 14.0 && b.length_fraction >= 0.5)
    {
        return 0.0;
    }
    band(l, 95.0, 450.0, 6.0)
        * band(w, 13.0, 38.0, 1.5)
        * up(t / w.max(1e-3), 0.86, 0.02)
        * up(s.fill, 0.3, 0.03)
        * down(s.axial_mu_ratio, 0.68, 0.04)
}

/// An empty box magazine: a thin-walled tube of rectangular section (hole 15–35 mm
/// across, flat 1.2–2.2, filling its bounding rectangle), 90–200 mm long.
fn magazine_score(s: &Shape) -> Option<(Bore, f64)> {
    s.bores
        .iter()
        .map(|b| {
            let sc = band(b.diameter_mm, 15.0, 35.0, 1.5)
                * band(b.aspect, 1.2, 2.2, 0.06)
                * up(b.rect_fill, 0.88, 0.02)
                * band(b.wall_mm, 0.4, 4.0, 0.3)
                * up(b.length_fraction, 0.6, 0.06)
                * band(s.extents_mm[0], 90.0, 200.0, 6.0);
            (*b, sc)
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

/// Cartridge membership of one candidate: (score, cylinder, bullet, case). The case is
/// thin brass around powder, so at coarse voxels little of it is solid: the envelope
/// (a short round cylinder) and the bullet (lead or copper, reading at least 1.8× the
/// steel reference, as a core on one side of the length) carry the call.
fn cartridge_score(s: &Shape, peak_mu: f64, steel_ref: f64) -> (f64, f64, f64, f64) {
    let [l, w, t] = s.extents_mm;
    let bullet = up(peak_mu / steel_ref.max(1e-6), 1.8, 0.15)
        * up(s.core_asymmetry, 0.18, 0.04)
        * down(s.core_extents_mm[0] / l.max(1e-3), 0.75, 0.05);
    // With a bullet, its core gives the calibre (streaks around lead widen the rest).
    let (cw, ct) = (s.core_extents_mm[1], s.core_extents_mm[2]);
    let (w, t) = if bullet > 0.5 {
        (cw.min(w), ct.min(t))
    } else {
        (w, t)
    };
    let d = (w * t).sqrt();
    let cyl = band(d, 4.5, 14.5, 0.5)
        * band(l, 15.0, 85.0, 2.5)
        * band(l / d.max(1e-3), 1.6, 7.5, 0.25)
        * up(t.min(w) / t.max(w).max(1e-3), 0.72, 0.05)
        * up(s.fill, 0.2, 0.04);
    let case = s
        .bores
        .iter()
        .filter(|b| b.open_ends == 0 && b.diameter_mm < d)
        .map(|b| up(b.length_mm / l.max(1e-3), 0.2, 0.04))
        .fold(0.0, f64::max);
    let s1 = cyl * (0.4 + 0.6 * bullet.max(case));
    (s1, cyl, bullet, case)
}

/// Width (mm) that the reconstruction's blur gives, at half its own density, to a
/// plate much thinner than a voxel: about 1.2 voxels (the interpolating backprojection
/// and the resampling onto the principal frame each spread an edge over about a voxel).
/// Thin knife blades (2–4 mm) in 3.44 mm voxels read 4–5.6 mm thick.
fn plate_blur_mm(voxel_mm: f64) -> f64 {
    1.2 * voxel_mm
}

/// A plate's thickness with the blur taken out in quadrature: what the measured
/// thickness allows at most. Blur only thickens, so the lower bound of the blade test
/// keeps the measured value.
fn deblurred_thickness(s: &Shape) -> f64 {
    let b = plate_blur_mm(s.voxel_mm);
    (s.thickness_mm.powi(2) - b * b).max(0.0).sqrt()
}

/// Least share of its principal box that a blade fills. A knife's blade and handle
/// fill 0.10–0.66 of theirs (the handle, 15–25 mm thick, sets the box's thickness); a
/// tangle of cutlery and tools whose sections read like a plate spreads over a box
/// twenty to fifty times its volume (0.02–0.05).
const BLADE_FILL_MIN: f64 = 0.06;

/// Blade membership: (plate, narrow ends, holed, long edge). The upper thickness bounds
/// (≤ 5.5 mm, ≤ ¼ of the width) are judged on the deblurred thickness
/// ([`deblurred_thickness`]). The long edge asks the plate to keep 0.6 of its width
/// over ≥ 55 mm (a knife's blade keeps its full width over 60–200 mm before the tip; a
/// fork's head and tines or a spoon's bowl, the wide end of the cutlery that lies
/// beside other metal, over 40–50 mm). Short of it the score is cut to 0.4 ×, not
/// vetoed: a knife merged with other metal can read a wider reference width.
fn blade_parts(s: &Shape) -> (f64, f64, f64, f64) {
    let l = s.extents_mm[0];
    let w = s.width_mm;
    let t = s.thickness_mm;
    let t_sharp = deblurred_thickness(s);
    let plate = up(t, 1.2, 0.35)
        * down(t_sharp, 5.5, 0.35)
        * band(l, 110.0, 460.0, 10.0)
        * band(w, 18.0, 50.0, 1.5)
        * down(w / l.max(1e-3), 0.35, 0.04)
        * down(t_sharp / w.max(1e-3), 0.25, 0.03)
        * up(s.fill, BLADE_FILL_MIN, 0.01);
    let wide_end = s.end_width_ratio[0].max(s.end_width_ratio[1]);
    let narrow_ends = down(wide_end, 0.8, 0.05);
    let holed = s.cross_bore.map_or(0.0, |b| up(b.diameter_mm, 8.0, 1.0));
    let long_edge = up(s.wide_run_mm, 55.0, 3.0);
    (plate, narrow_ends, holed, long_edge)
}

/// Whether `count` parallel open bores side by side are a revolver's chambers (5–8).
fn is_revolver_cylinder(count: usize) -> bool {
    (5..=8).contains(&count)
}

/// Membership of a handgun's body length (slide, or barrel with cylinder and frame),
/// mm, in 92–260 mm for one object and 100–260 mm for two read as one.
///
/// The lower end of one object is that of the compact guns: a pocket pistol's slide
/// (Seecamp, Beretta 21) is 105–125 mm and a snub-nosed revolver reads about 105–115 mm
/// from muzzle to recoil shield; full-size slides are 165–215 mm. Two objects read as
/// one (a joined pair, or a slide-like and a grip-like object meeting at an angle) are
/// a weaker reading, since any two blocks may lie at a pistol's angle: there a body
/// under 100 mm is not taken (on the design seeds at 96³, a motor housing beside a
/// stack of coins, and a box of rounds beside a screwdriver, read 106–110 mm bodies),
/// and the compact guns that part at the metal threshold (a polymer pocket pistol's
/// slide and magazine) still have slides of 110 mm or more.
fn body_length_score(length_mm: f64, one_object: bool) -> f64 {
    if one_object {
        band(length_mm, 92.0, 260.0, 5.0)
    } else {
        band(length_mm, 100.0, 260.0, 10.0)
    }
}

/// A pistol or revolver from the geometry of two limbs: the angle between them, the
/// long limb (slide or barrel + frame: [`body_length_score`], a chunky section 14–55 mm
/// thick and 14 mm to `a_width_max` wide) and the short one (grip or magazine: 45–170
/// mm, ≥ 9 mm thick) joined by its end. Hand tools lying across each other fail on the
/// sections (spanners, screwdrivers, pliers are under 15 mm thick).
fn pistol_geometry(
    angle: f64,
    a: [f64; 3],
    b: [f64; 3],
    junction_b: f64,
    a_width_max: f64,
    one_object: bool,
) -> f64 {
    band(angle, 95.0, 130.0, 3.0)
        * body_length_score(a[0], one_object)
        * band(a[1], 14.0, a_width_max, 2.5)
        * band(a[2], 14.0, 55.0, 2.0)
        * band(b[0], 45.0, 170.0, 6.0)
        * band(b[2], 9.0, 50.0, 1.5)
        * down(junction_b, 0.3, 0.05)
}

/// Widest long limb of a two-line fit (a slide, or a revolver's barrel and cylinder),
/// mm.
const LIMB_WIDTH_MAX_MM: f64 = 55.0;

/// Widest long object of a two-object revolver, mm: its frame with the cylinder and the
/// trigger guard (80–100 mm across with the blur) when its grip frame reads apart from
/// it. Taken only when the chambers or the barrel show in it, or when the grip frame
/// reads as one ([`revolver_grip_frame_score`]); other long objects of a pair (a
/// polymer pistol's slide) are held to [`LIMB_WIDTH_MAX_MM`].
const REVOLVER_FRAME_WIDTH_MAX_MM: f64 = 100.0;

/// A pistol or revolver from the two solid limbs of its silhouette: the body (slide,
/// with a steel frame beneath it: 92–260 mm long for one object, 100–260 mm for two
/// read as one (a weaker reading), 20–75 mm across, 14–55 mm thick) and
/// the grip (45–170 mm beyond the body, ≥ 9 mm thick, its largest solid rectangle 7–65
/// mm across: wooden panels and a magazine holding few rounds leave only a 4 mm steel
/// strap solid, which reads 7–11 mm at 3.44 mm voxels) leaving it near
/// one end at 95–130°, at most about 16 mm of empty space from it (a polymer frame
/// between steel parts reads as a gap), the two covering most of the silhouette (a
/// trigger guard and a hammer leave some of it out). A barrel adds to the call. Spanners
/// and pliers fail on the thickness; a hammer on its right angle and, with a steel
/// handle, on the handle's length.
///
/// `one_object` is false when `l` is the outline of two candidates judged as one
/// (`joinable`), which must show a body of at least about 100 mm.
pub fn pistol_silhouette(l: &SolidLimbs, one_object: bool) -> f64 {
    let Some(parts) = &l.parts else { return 0.0 };
    let (ea, eb) = (parts[0].extents_mm, parts[1].extents_mm);
    band(l.angle_deg, 95.0, 130.0, 3.0)
        * body_length_score(l.lengths_mm[0], one_object)
        * band(l.widths_mm[0], 20.0, 75.0, 3.0)
        * band(ea[2], 14.0, 55.0, 2.0)
        * band(l.lengths_mm[1], 45.0, 170.0, 6.0)
        * band(l.widths_mm[1], 7.0, 65.0, 1.5)
        * up(eb[2], 9.0, 1.5)
        * down(l.junction_a, 0.35, 0.05)
        * up(l.cover, 0.62, 0.03)
        * down(l.gap_mm, 16.0, 3.0)
}

/// A rifle bolt: a round steel body 14–24 mm across and 90–170 mm long with a handle
/// 40–100 mm long (from the body's axis to the far side of its knob) at 75–105°. The
/// body's width is that of most of its sections (`width_mm`): the locking lugs and the
/// shroud widen a few of them. For the same reason the body is judged solid by its
/// sections, not its box: their solid thickness (area over width) is at least half
/// their width (a round bar's is 0.79 of it; bolts read 0.61–0.82 at 3.4 mm voxels,
/// where their box fill, lowered by the lugs, read 0.38–0.53).
fn bolt_score(tp: &TwoPart) -> f64 {
    let Some(parts) = &tp.parts else { return 0.0 };
    let a = &parts[0];
    let round = up(a.extents_mm[2] / a.width_mm.max(1e-3), 0.72, 0.05);
    band(tp.angle_deg, 75.0, 105.0, 3.0)
        * band(a.width_mm, 14.0, 24.0, 1.0)
        * band(tp.lengths_mm[0], 90.0, 170.0, 6.0)
        * band(tp.lengths_mm[1], 35.0, 105.0, 4.0)
        * down(tp.junction[1], 0.3, 0.05)
        * up(a.thickness_mm / a.width_mm.max(1e-3), 0.5, 0.04)
        * round
}

/// A pistol slide alone: a steel U-channel 150–215 mm long, 18–38 × 24–44 mm in section
/// as read (a slide 23–28 mm wide and 26–36 mm tall with its sights, plus the blur: one
/// to three 3.44 mm voxels, the most for a slide lying across the grid's axes). Read
/// alone, it must also weigh what a slide does ([`SLIDE_MASS_MIN_G`]).
fn slide_score(s: &Shape) -> f64 {
    let [l, w, t] = s.extents_mm;
    let (small, large) = (w.min(t), w.max(t));
    band(l, 150.0, 215.0, 6.0)
        * band(small, 18.0, 38.0, 1.5)
        * band(large, 24.0, 44.0, 1.5)
        * up(s.channel, 0.18, 0.03)
}

/// Least mass of a pistol slide read alone, g: a steel slide 165–200 mm long holds
/// about 60–76 cm³ of steel (470–600 g), and reads 470–780 g on the design scans with
/// what blurs onto it; pliers, forks and stacked tools of a slide's outline read 50–370
/// g (a fork lying on coins read as a 79 g U-channel and alarmed before the mass was
/// asked for).
const SLIDE_MASS_MIN_G: f64 = 380.0;

/// A pistol slide assembled with what rides under it: a steel slide 150–215 mm long
/// and 22–36 mm wide over its barrel, recoil spring and guide rod (or a steel frame's
/// dust cover), 40–62 mm tall with the blur; heavy, at least about 450 g (a slide
/// alone reads 540–780 g on the design scans, pliers and stacked tools of that
/// outline 150–330 g), and hollow along its length: μ at the sections' centres at most
/// half their peak (the slide's channel and the barrel's bore; a bar reads about 1).
/// This is what a polymer-framed pistol shows when its magazine holds few rounds: the
/// frame reads as plastic and the 0.8 mm magazine walls stay under the metal
/// threshold. A steel box-section tube or a stapler of that size and weight would
/// read alike.
fn slide_assembly_score(s: &Shape, mass_g: f64) -> f64 {
    let [l, w, t] = s.extents_mm;
    let (small, large) = (w.min(t), w.max(t));
    band(l, 150.0, 215.0, 6.0)
        * band(small, 22.0, 36.0, 1.5)
        * band(large, 40.0, 62.0, 2.0)
        * up(mass_g, 450.0, 40.0)
        * down(s.axial_mu_ratio, 0.5, 0.04)
}

/// Rounds standing side by side in a box: the mass along the object repeats at a case
/// diameter and gap (7–13.5 mm) at least six times, clearly out of the spectrum, in a
/// cross-section at least 1.5 repeats across (a round is longer than it is wide) and
/// about one repeat thick or more (a round is as thick as it is wide). Objects thinner
/// than that are left out for a second reason: a rod or strip under two voxels thick
/// lying at an angle to the grid repeats by itself, its partial volumes stepping every
/// `voxel / sin(angle)` along it.
fn row_of_rounds_score(s: &Shape) -> f64 {
    let r = s.row_period;
    let across = |extent: f64| extent / r.period_mm.max(1e-9);
    band(r.period_mm, 7.0, 13.5, 0.3)
        * up(r.periods, 6.0, 0.5)
        * up(r.modulation, 0.12, 0.025)
        * up(r.prominence, 6.0, 0.6)
        * up(across(s.extents_mm[1]), 1.5, 0.1)
        * up(across(s.extents_mm[2]), 0.9, 0.05)
}

/// A loaded double-column box magazine: the section cut across its thinnest axis into
/// two columns that repeat at a case diameter (8.5–12.5 mm: 5.56×45 and 9×19 stand
/// 9.7–10.2 mm apart in each column) in opposition, at least 3.5 periods long (seven
/// rounds), clearly out of the spectrum, while the whole section hardly repeats there
/// and the other cut does not (a coil spring's helix repeats alike on both cuts); in a
/// section two cases wide (thinnest extent 16–45 mm, blur included) and about one
/// cartridge deep (25–80 mm).
///
/// A partly loaded magazine among tools reads 3.5–4.5 periods, and on so short a
/// profile the two columns' sum at the repeat reads up to 0.6–0.7 of their difference
/// (in a full magazine 0.1–0.55; rounds side by side in one row 1 or more), so the
/// opposition asked for is under 0.7. On the 600 design parcels no object away from a
/// magazine or a box of rounds scores over 0.1.
fn loaded_magazine_score(s: &Shape) -> f64 {
    let g = s.staggered_rows;
    if g.axis != 2 {
        return 0.0;
    }
    band(g.period_mm, 8.5, 12.5, 0.3)
        * up(g.periods, 3.5, 0.3)
        * up(g.modulation, 0.07, 0.01)
        * up(g.prominence, 4.5, 0.4)
        * down(g.in_phase, 0.7, 0.05)
        * down(g.other_cut, 0.6, 0.05)
        * band(s.extents_mm[2], 16.0, 45.0, 2.0)
        * band(s.extents_mm[1], 25.0, 80.0, 3.0)
}

/// A stamped receiver: a hollow sheet-steel channel of a rifle's receiver size with
/// solid blocks (trunnions) at both ends.
fn receiver_score(s: &Shape) -> f64 {
    let [l, w, t] = s.extents_mm;
    band(l, 205.0, 290.0, 6.0)
        * band(w, 30.0, 58.0, 2.5)
        * band(t, 28.0, 58.0, 2.5)
        * down(s.fill, 0.3, 0.03)
        * up(s.end_mass_ratio[0].min(s.end_mass_ratio[1]), 2.5, 0.3)
}

/// A barrel found in an L of pistol geometry `geo`: its score (0 without one), with the
/// evidence when their product counts.
fn barrel_in_l(c: &mut Call, barrel: Option<(Bore, f64)>, geo: f64, place: &str) -> f64 {
    let Some((b, sc)) = barrel else { return 0.0 };
    if sc * geo > 0.2 {
        c.say(
            sc * geo,
            Kind::Firearm,
            format!("barrel in {place}: {}", bore_text(&b)),
        );
    }
    sc
}

/// A box of pistol rounds standing side by side, at voxels too coarse for their rows
/// ([`row_of_rounds_score`]) or their bullets' cores to show: a block as thick as a
/// round (22–55 mm) and wider than 35 mm, shorter than 160 mm, whose brightest voxels
/// read lead-dense (its 99th-percentile μ at least 0.87 × twice steel's at the metal
/// energy: brass fittings and steel read at most 0.85 ×) and whose mass sits on one
/// side of its thickness (the bullets' side at least 1.15 × the cases'; a solid or
/// symmetric block reads 1.0–1.05).
fn boxed_rounds_score(d: &Descriptors, metal_energy_kev: f64) -> f64 {
    let s = &d.shape;
    let [l, w, t] = s.extents_mm;
    up(
        d.peak_mu / super::features::dense_mu(metal_energy_kev),
        0.87,
        0.02,
    ) * band(t, 22.0, 55.0, 2.0)
        * up(w, 35.0, 3.0)
        * down(l, 160.0, 8.0)
        * up(s.layer_mass_ratio, 1.15, 0.03)
}

fn call_single(d: &Descriptors, metal_energy_kev: f64) -> Call {
    let mut c = Call::default();
    let s = &d.shape;
    let [l, w, t] = s.extents_mm;
    c.feat("length_mm", l);
    c.feat("width_mm", w);
    c.feat("height_mm", t);
    c.feat("fill", s.fill);
    c.feat("elongation", l / w.max(1e-3));
    c.feat("flatness", w / t.max(1e-3));
    c.feat("plate_thickness_mm", s.thickness_mm);
    c.feat("plate_thickness_deblurred_mm", deblurred_thickness(s));
    c.feat("plate_width_mm", s.width_mm);
    c.feat(
        "end_width_ratio_min",
        s.end_width_ratio[0].min(s.end_width_ratio[1]),
    );
    c.feat(
        "end_width_ratio_max",
        s.end_width_ratio[0].max(s.end_width_ratio[1]),
    );
    c.feat("end_density_ratio", s.end_density_ratio);
    c.feat("channel", s.channel);
    c.feat("solid_level_mu", s.level_mu);
    c.feat("mass_g", d.mass_g);
    c.feat("peak_mu", d.peak_mu);

    // Barrel (alone, or hidden in benign metal: only the bore's own wall counts).
    if let Some((b, sc)) = best_barrel(s) {
        c.feat("bore_diameter_mm", b.diameter_mm);
        c.feat("bore_length_mm", b.length_mm);
        c.feat("bore_open_ends", f64::from(b.open_ends));
        c.feat("bore_wall_mm", b.wall_mm);
        c.feat("bore_aspect", b.aspect);
        c.feat("barrel_score", sc);
        c.claim(Kind::FirearmPart, sc, || {
            format!(
                "tube {:.0} mm long with {:.0} mm bore ({})",
                b.length_mm.max(l * b.length_fraction),
                b.diameter_mm,
                bore_text(&b)
            )
        });
    }
    // Barrel with a bore below the resolution.
    let fine_bore = 0.8 * unresolved_bore_score(s);
    c.feat("axial_mu_ratio", s.axial_mu_ratio);
    c.feat("unresolved_bore_score", fine_bore);
    c.claim(Kind::FirearmPart, fine_bore, || {
        format!(
            "round steel tube {l:.0} mm long, {w:.0} mm across, its μ dipping at the axis to {:.0} % of the walls' (a bore under {:.0} mm, narrower than the scan resolves): barrel",
            100.0 * s.axial_mu_ratio,
            3.0 * s.voxel_mm
        )
    });
    // Parallel bores: a revolver cylinder or a loaded magazine (5–8), cartridges packed
    // side by side (closed cases, many).
    let p = s.parallel_bores;
    if p.count >= 2 {
        c.feat("parallel_bores", p.count as f64);
        c.feat("parallel_bore_diameter_mm", p.diameter_mm);
        c.feat("parallel_bore_length_mm", p.length_mm);
        c.feat("parallel_bore_open_share", p.open_share);
        let n = p.count as f64;
        let chambers = band(n, 4.5, 8.5, 0.3)
            * band(p.diameter_mm, 7.5, 11.5, 0.5)
            * band(p.length_mm, 12.0, 50.0, 3.0);
        if chambers >= 0.2 {
            c.say(
                chambers,
                Kind::FirearmPart,
                format!(
                    "{} parallel chambers {:.0} mm across, {:.0} mm long (revolver cylinder or loaded magazine)",
                    p.count, p.diameter_mm, p.length_mm
                ),
            );
        }
        c.set(Kind::FirearmPart, 0.85 * chambers);
        let packed = up(n, 2.5, 0.3)
            * band(p.diameter_mm, 4.0, 12.0, 0.5)
            * band(p.length_mm, 6.0, 60.0, 2.0)
            * down(p.open_share, 0.5, 0.1)
            * if p.count >= 9 { 1.0 } else { 0.8 };
        c.claim(Kind::Ammunition, packed, || {
            format!(
                "{} closed cases {:.0} mm across side by side (cartridges packed together)",
                p.count, p.diameter_mm
            )
        });
    }
    // Rounds in rows (a box of cartridges, whose cases and bullets merge at coarse voxels).
    let rows = row_of_rounds_score(s);
    let r = s.row_period;
    c.feat("row_period_mm", r.period_mm);
    c.feat("row_modulation", r.modulation);
    c.feat("row_prominence", r.prominence);
    c.feat("rows_score", rows);
    c.claim(Kind::Ammunition, rows, || {
        format!(
            "mass repeating every {:.1} mm, {:.0} times along {l:.0} mm ({:.0} % deep): rounds standing side by side",
            r.period_mm,
            r.periods,
            100.0 * r.modulation
        )
    });
    // Bullet cores: several blobs denser than any steel (lead, copper), of bullet size.
    let (nb, vb) = s.dense_blobs;
    c.feat("dense_blobs", nb as f64);
    c.feat("dense_volume_mm3", vb);
    let n_est = (nb as f64).max(vb / 700.0);
    let cores = up(n_est, 1.6, 0.25) * up(vb / nb.max(1) as f64, 150.0, 30.0);
    c.claim(Kind::Ammunition, cores, || {
        format!(
            "{} lead-dense cores, {:.0} mm³ in all (bullets)",
            nb.max(n_est.round() as usize),
            vb
        )
    });
    // Rounds standing in a box, too blurred for rows or cores.
    let boxed = boxed_rounds_score(d, metal_energy_kev);
    c.feat("layer_mass_ratio", s.layer_mass_ratio);
    c.feat("boxed_rounds_score", boxed);
    c.claim(Kind::Ammunition, boxed, || {
        format!(
            "block {l:.0} × {w:.0} × {t:.0} mm reading lead-dense (peak μ {:.2} mm⁻¹) and {:.1}× heavier on one side of its thickness: rounds standing side by side, bullets on one side",
            d.peak_mu, s.layer_mass_ratio
        )
    });
    // A loaded firearm in one piece: a barrel-like bore and bullet cores joined in one
    // steel object of a handgun's or a carbine's length. At coarse voxels a pistol's
    // slide, barrel and loaded magazine blur into one object whose L can be hidden by
    // what touches it; the barrel and the rounds inside it are not.
    let mut loaded = 0.0;
    if let Some((b, bore)) = best_barrel_relaxed(s) {
        loaded = bore.min(cores) * band(l, 120.0, 320.0, 8.0);
        c.feat("loaded_firearm", loaded);
        c.claim(Kind::Firearm, loaded, || {
            format!(
                "barrel ({}) and {} bullet cores in one {l:.0} mm steel object (loaded firearm)",
                bore_text(&b),
                nb.max(n_est.round() as usize)
            )
        });
    }
    // Empty magazine.
    if let Some((b, sc)) = magazine_score(s) {
        c.feat("magazine_score", sc);
        c.claim(Kind::FirearmPart, sc, || {
            format!(
                "thin-walled rectangular tube {l:.0} mm long, hole {:.0} mm across (box magazine)",
                b.diameter_mm
            )
        });
    }
    // Loaded magazine: rounds in two staggered columns.
    let g = s.staggered_rows;
    let loaded_mag = 0.9 * loaded_magazine_score(s);
    c.feat("stagger_period_mm", g.period_mm);
    c.feat("stagger_modulation", g.modulation);
    c.feat("stagger_prominence", g.prominence);
    c.feat("stagger_in_phase", g.in_phase);
    c.feat("loaded_magazine_score", loaded_mag);
    c.claim(Kind::FirearmPart, loaded_mag, || {
        format!(
            "two columns of mass repeating every {:.1} mm half a period apart, {:.0} times along {l:.0} mm ({:.0} % deep): rounds stacked in a double-column magazine",
            g.period_mm,
            g.periods,
            100.0 * g.modulation
        )
    });
    // Stamped receiver.
    let rc = 0.85 * receiver_score(s);
    c.feat(
        "end_mass_ratio_min",
        s.end_mass_ratio[0].min(s.end_mass_ratio[1]),
    );
    c.feat("receiver_score", rc);
    c.claim(Kind::FirearmPart, rc, || {
        format!(
            "hollow channel {l:.0} mm long, {w:.0} × {t:.0} mm across ({:.0} % filled), closed by solid blocks carrying {:.1}× and {:.1}× the middle's mass per length: stamped receiver and its trunnions",
            100.0 * s.fill,
            s.end_mass_ratio[0],
            s.end_mass_ratio[1]
        )
    });
    // Slide alone.
    let sl = slide_score(s) * up(d.mass_g, SLIDE_MASS_MIN_G, 30.0);
    c.feat("slide_score", sl);
    c.set(Kind::FirearmPart, 0.9 * sl);
    if sl >= 0.2 {
        c.say(
            0.9 * sl,
            Kind::FirearmPart,
            format!(
                "U-channel {l:.0} × {w:.0} × {t:.0} mm, {:.0} % open section (pistol slide)",
                100.0 * s.channel
            ),
        );
    }
    // Slide with its barrel and recoil assembly.
    let assembly = slide_assembly_score(s, d.mass_g);
    c.feat("slide_assembly_score", assembly);
    c.claim(Kind::FirearmPart, 0.9 * assembly, || {
        format!(
            "steel body {l:.0} × {w:.0} × {t:.0} mm, about {:.0} g, hollow along its axis (centre μ {:.2} of the peak): pistol slide over its barrel and recoil spring",
            d.mass_g, s.axial_mu_ratio
        )
    });
    // Cartridge.
    let steel_ref = super::features::Material::Steel.mu_per_mm(metal_energy_kev);
    let (cart, cyl, bullet, case) = cartridge_score(s, d.peak_mu, steel_ref);
    c.feat("cartridge_score", cart);
    c.feat("cylinder_score", cyl);
    c.set(Kind::Ammunition, cart);
    if cart >= 0.2 {
        let core = s.core_extents_mm;
        let d_cal = if bullet > 0.5 {
            (core[1].min(w) * core[2].min(t)).sqrt()
        } else {
            (w * t).sqrt()
        };
        let mut parts = vec![format!("cylinder {d_cal:.0} × {l:.0} mm")];
        if bullet > 0.5 {
            parts.push(format!(
                "dense end reading {:.1}× steel (lead/copper bullet)",
                d.peak_mu / steel_ref
            ));
        }
        if case > 0.5 {
            parts.push("closed inner cavity (case)".to_string());
        }
        c.say(cart, Kind::Ammunition, parts.join(", "));
    }
    // Blade.
    let (plate, narrow_ends, holed, long_edge) = blade_parts(s);
    let blade = plate * (0.3 + 0.7 * narrow_ends) * (1.0 - 0.8 * holed) * (0.4 + 0.6 * long_edge);
    c.feat("plate_score", plate);
    c.feat("plate_wide_run_mm", s.wide_run_mm);
    c.feat("blade_score", blade);
    c.set(Kind::Blade, blade);
    if blade >= 0.2 {
        let ends = if narrow_ends > 0.5 {
            format!(
                ", narrowing to {:.0} % and {:.0} % of its width at the ends (tip and tang)",
                100.0 * s.end_width_ratio[0].min(s.end_width_ratio[1]),
                100.0 * s.end_width_ratio[0].max(s.end_width_ratio[1])
            )
        } else {
            String::new()
        };
        c.say(
            blade,
            Kind::Blade,
            format!(
                "plate {l:.0} mm long, {:.0} mm wide over {:.0} mm, {:.1} mm thick{ends}",
                s.width_mm, s.wide_run_mm, s.thickness_mm
            ),
        );
    }
    // Whole firearm (or bolt) from two limbs.
    if let Some(tp) = &d.two_part {
        c.feat("two_part_angle_deg", tp.angle_deg);
        c.feat("two_part_gain", tp.fit_gain);
        c.feat("two_part_length_a_mm", tp.lengths_mm[0]);
        c.feat("two_part_length_b_mm", tp.lengths_mm[1]);
        c.feat("two_part_junction_b", tp.junction[1]);
        let geo = match &tp.parts {
            Some(parts) => {
                let (ea, eb) = (parts[0].extents_mm, parts[1].extents_mm);
                pistol_geometry(
                    tp.angle_deg,
                    [tp.lengths_mm[0], ea[1], ea[2]],
                    [tp.lengths_mm[1], eb[1], eb[2]],
                    tp.junction[1],
                    LIMB_WIDTH_MAX_MM,
                    d.joined <= 1,
                ) * up(tp.fit_gain, super::features::TWO_PART_GAIN_MIN, 0.12)
                    * down(tp.gap_mm[0].max(tp.gap_mm[1]), 25.0, 4.0)
            }
            None => 0.0,
        };
        let mut bore_a = 0.0;
        let mut chambers = 0.0;
        if let Some(parts) = &tp.parts {
            bore_a = barrel_in_l(&mut c, best_barrel_relaxed(&parts[0]), geo, "the long limb");
            let p = parts[0].parallel_bores.count.max(s.parallel_bores.count);
            if is_revolver_cylinder(p) {
                chambers = 1.0;
                if geo > 0.2 {
                    c.say(
                        geo,
                        Kind::Firearm,
                        format!("{p} parallel chambers in the long limb (revolver cylinder)"),
                    );
                }
            }
        }
        let fire = geo * (0.7 + 0.3 * f64::max(bore_a, chambers));
        c.feat("pistol_geometry", geo);
        c.set(Kind::Firearm, fire);
        if geo >= 0.2 {
            c.say(
                fire,
                Kind::Firearm,
                format!(
                    "L-shape: slide–grip angle {:.0}°, limbs {:.0} and {:.0} mm",
                    tp.angle_deg, tp.lengths_mm[0], tp.lengths_mm[1]
                ),
            );
        }
        let bolt = bolt_score(tp);
        c.feat("bolt_score", bolt);
        c.claim(Kind::FirearmPart, bolt, || {
            format!(
                "round bar {:.0} mm long with a {:.0} mm handle at {:.0}° (rifle bolt)",
                tp.lengths_mm[0], tp.lengths_mm[1], tp.angle_deg
            )
        });
    }
    // Whole firearm from two solid limbs (body and grip of a thick L).
    if let Some(sl) = &d.limbs {
        c.feat("limbs_angle_deg", sl.angle_deg);
        c.feat("limbs_cover", sl.cover);
        c.feat("limbs_length_a_mm", sl.lengths_mm[0]);
        c.feat("limbs_length_b_mm", sl.lengths_mm[1]);
        c.feat("limbs_junction_a", sl.junction_a);
        c.feat("limbs_width_a_mm", sl.widths_mm[0]);
        c.feat("limbs_width_b_mm", sl.widths_mm[1]);
        c.feat("limbs_gap_mm", sl.gap_mm);
        if let Some(parts) = &sl.parts {
            c.feat("limbs_thickness_a_mm", parts[0].extents_mm[2]);
            c.feat("limbs_thickness_b_mm", parts[1].extents_mm[2]);
        }
        let geo = pistol_silhouette(sl, d.joined <= 1);
        c.feat("pistol_silhouette", geo);
        if geo > 0.0 {
            // A barrel in the body, or in the whole object (the body's share of the
            // voxels can cut a bore short).
            let in_body = sl.parts.as_ref().and_then(|p| best_barrel_relaxed(&p[0]));
            let barrel = match (in_body, best_barrel_relaxed(s)) {
                (Some(a), Some(b)) => Some(if a.1 >= b.1 { a } else { b }),
                (a, b) => a.or(b),
            };
            let bore_a = barrel_in_l(&mut c, barrel, geo, "the L");
            let fire = geo * (0.8 + 0.2 * bore_a);
            c.set(Kind::Firearm, fire);
            if geo >= 0.2 {
                c.say(
                    fire,
                    Kind::Firearm,
                    format!(
                        "L-shape of solid limbs: body {:.0} × {:.0} mm, grip {:.0} × {:.0} mm beyond it at {:.0}°, {:.0} % of the outline",
                        sl.lengths_mm[0],
                        sl.widths_mm[0],
                        sl.lengths_mm[1],
                        sl.widths_mm[1],
                        sl.angle_deg,
                        100.0 * sl.cover
                    ),
                );
                if d.joined > 1 {
                    c.say(
                        fire,
                        Kind::Firearm,
                        format!(
                            "one outline of {} objects read apart at the metal threshold (plastic or wood between steel parts)",
                            d.joined
                        ),
                    );
                }
            }
        }
    }
    // The bore and the rounds of a loaded firearm are explained by it (as in a
    // two-object pistol): their part and ammunition scores yield to the firearm's. The
    // rounds yield to any firearm reading (which holds `loaded`): those of a pistol
    // whose loaded magazine blurs into its slide are explained by its shape.
    if loaded > 0.0 {
        c.scores.firearm_part *= 1.0 - 0.6 * loaded;
    }
    c.scores.ammunition *= 1.0 - 0.6 * c.scores.firearm;
    c
}

/// Work item: one or more candidates with their call.
struct Group {
    members: Vec<usize>,
    call: Call,
}

/// A candidate's descriptors, and those of its other readings as several objects
/// ([`super::candidates::Candidate::alternatives`]).
#[derive(Debug, Clone)]
pub struct Described {
    /// The candidate as one object.
    pub whole: Descriptors,
    /// Each other reading: the objects it finds.
    pub alternatives: Vec<Vec<Descriptors>>,
}

/// Margin by which a reading's value must beat the whole candidate's (and any reading
/// already preferred) for its objects to be taken instead.
const ALTERNATIVE_MARGIN: f64 = 0.1;

/// What a reading of a candidate says, for choosing between readings: a firearm that
/// alarms counts above everything else (a pistol is a slide, a barrel and a loaded
/// magazine together, so a firearm reading explains the parts and cartridges the other
/// readings see), then the best threat score of its findings.
fn reading_value(findings: &[Finding], threshold: f64) -> f64 {
    let fire = findings
        .iter()
        .map(|f| f.class_scores.firearm)
        .fold(0.0, f64::max);
    let best = findings.iter().map(|f| f.score).fold(0.0, f64::max);
    alarm_value(fire, best, threshold)
}

/// The value of [`reading_value`] from a firearm score and a best threat score: 1 +
/// the firearm score when it alarms, the best score otherwise.
fn alarm_value(firearm: f64, best: f64, threshold: f64) -> f64 {
    if firearm >= threshold {
        1.0 + firearm
    } else {
        best
    }
}

/// Picks, per candidate, the reading whose classification (pairs and clusters
/// included) says the most (more alarms first, then the best threat score): the whole
/// unless another beats it by a margin. Then each pair of candidates in `pairs` (from
/// [`joinable`]), described as one object by `join` (which may decline: `None`), whose
/// joint outline alarms as a firearm on the solid limbs of its silhouette
/// ([`pistol_silhouette`] and the firearm score both reach the threshold) replaces its
/// two candidates when it beats what they say among all the others by the same margin,
/// strongest pair first, each candidate in one pair at most: a pistol whose polymer
/// frame or wooden grip parts its steel at the metal threshold reads as one outline,
/// while two objects that merely lie near each other rarely make a body and a grip
/// covering most of their outline. `join` is asked only for pairs that could win (no
/// member already alarms as a firearm beyond reach), in parallel. Finally the chosen
/// objects of all candidates are classified together.
pub fn classify_candidates(
    items: &[Described],
    pairs: &[[usize; 2]],
    join: &(dyn Fn([usize; 2]) -> Option<Descriptors> + Sync),
    options: &DetectOptions,
) -> Vec<Finding> {
    use rayon::prelude::*;
    let threshold = options.threshold;
    let mut chosen: Vec<Vec<Descriptors>> = Vec::with_capacity(items.len());
    for it in items {
        let mut pick: Option<&Vec<Descriptors>> = None;
        let whole = classify(std::slice::from_ref(&it.whole), options);
        let mut top = reading_value(&whole, threshold) + ALTERNATIVE_MARGIN;
        for reading in &it.alternatives {
            let v = reading_value(&classify(reading, options), threshold);
            if v > top {
                top = v + ALTERNATIVE_MARGIN;
                pick = Some(reading);
            }
        }
        chosen.push(match pick {
            Some(r) => r.clone(),
            None => vec![it.whole.clone()],
        });
    }
    // What each candidate's objects say among all the others (a slide may already be
    // one firearm with a magazine beside it).
    let owner: Vec<usize> = chosen
        .iter()
        .enumerate()
        .flat_map(|(i, r)| std::iter::repeat_n(i, r.len()))
        .collect();
    let objects: Vec<Descriptors> = chosen.concat();
    let groups = classify_groups(&objects, options);
    let mut context = vec![0.0f64; items.len()];
    for g in &groups {
        let v = alarm_value(g.call.scores.firearm, g.call.scores.best().1, threshold);
        for &m in &g.members {
            context[owner[m]] = context[owner[m]].max(v);
        }
    }
    // A joined pair scores at most 1 + 1 against its members' context.
    let open = |m: usize| m < items.len() && context[m] + ALTERNATIVE_MARGIN < 2.0;
    let mut outlines: Vec<(f64, [usize; 2], Descriptors)> = pairs
        .par_iter()
        .filter(|&&[a, b]| a != b && open(a) && open(b))
        .filter_map(|&pair| {
            let whole = join(pair)?;
            let f = classify(std::slice::from_ref(&whole), options).pop()?;
            let outline = f.features.get("pistol_silhouette").copied().unwrap_or(0.0);
            let fire = f.class_scores.firearm;
            let apart = context[pair[0]].max(context[pair[1]]);
            let beats = 1.0 + fire > apart + ALTERNATIVE_MARGIN;
            (outline >= threshold && fire >= threshold && beats).then_some((fire, pair, whole))
        })
        .collect();
    outlines.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    if outlines.is_empty() {
        return findings_of(&objects, groups, threshold);
    }
    let mut joined_into: Vec<Option<usize>> = vec![None; items.len()];
    for (k, (_, [a, b], _)) in outlines.iter().enumerate() {
        if joined_into[*a].is_none() && joined_into[*b].is_none() {
            joined_into[*a] = Some(k);
            joined_into[*b] = Some(k);
        }
    }
    let mut objects: Vec<Descriptors> = Vec::new();
    for (i, reading) in chosen.into_iter().enumerate() {
        match joined_into[i] {
            // The pair enters once, with its first member.
            Some(k) if outlines[k].1[0].min(outlines[k].1[1]) == i => {
                objects.push(outlines[k].2.clone());
            }
            Some(_) => {}
            None => objects.extend(reading),
        }
    }
    classify(&objects, options)
}

/// Classifies described candidates into findings (highest score first, ids from 1).
pub fn classify(descs: &[Descriptors], options: &DetectOptions) -> Vec<Finding> {
    findings_of(descs, classify_groups(descs, options), options.threshold)
}

/// The groups of [`classify`]: pairs, clusters and single objects, with their calls.
fn classify_groups(descs: &[Descriptors], options: &DetectOptions) -> Vec<Group> {
    let calls: Vec<Call> = descs
        .iter()
        .map(|d| call_single(d, options.metal_energy_kev))
        .collect();
    let mut taken = vec![false; descs.len()];
    let mut groups: Vec<Group> = Vec::new();

    // Pistols from two objects: a slide-like and a grip/magazine-like limb.
    let mut pairs: Vec<(f64, usize, usize, Call)> = Vec::new();
    for i in 0..descs.len() {
        for j in 0..descs.len() {
            if i == j {
                continue;
            }
            if let Some(call) = pistol_pair(&descs[i], &descs[j]) {
                let sc = call.scores.firearm;
                // A pair becomes one finding when its firearm score comes close to
                // what its members score alone (a slide alone is a part; a slide with
                // a grip at a pistol's angle is a pistol).
                let geo = call.features.get("pistol_geometry").copied().unwrap_or(0.0);
                if sc >= 0.3 && geo >= 0.4 {
                    pairs.push((sc, i, j, call));
                }
            }
        }
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    for (_, i, j, mut call) in pairs {
        if taken[i] || taken[j] {
            continue;
        }
        // Keep the members' own calls (a part stays a part if that is stronger) and
        // raise the firearm score to the strongest member's when the geometry holds.
        // A part (or a loaded magazine) held at a pistol's angle is explained by the
        // firearm: its score passes to the firearm in proportion to the geometry.
        let geo = call.features.get("pistol_geometry").copied().unwrap_or(0.0);
        for m in [i, j] {
            let s = calls[m].scores;
            call.set(Kind::FirearmPart, s.firearm_part * (1.0 - 0.6 * geo));
            call.set(Kind::Ammunition, s.ammunition * (1.0 - 0.6 * geo));
            call.set(
                Kind::Firearm,
                s.firearm
                    .max(s.firearm_part * (0.6 + 0.4 * geo))
                    .max(s.ammunition * (0.5 + 0.4 * geo)),
            );
            call.evidence.extend(calls[m].evidence.iter().cloned());
        }
        // A pair that alarms as a firearm explains its members (a loaded magazine's
        // rounds, a barrel); one that does not must say at least what its members say
        // alone, or it is not taken (a part at a middling pistol's angle to something
        // stays a part).
        let alone = calls[i].scores.best().1.max(calls[j].scores.best().1);
        if call.scores.firearm < options.threshold && call.scores.best().1 < alone {
            continue;
        }
        taken[i] = true;
        taken[j] = true;
        groups.push(Group {
            members: vec![i, j],
            call,
        });
    }

    // Clusters of similar cartridges.
    let cart: Vec<(f64, f64, f64)> = descs
        .iter()
        .map(|d| {
            let steel_ref = super::features::Material::Steel.mu_per_mm(options.metal_energy_kev);
            let (_, cyl, bullet, _) = cartridge_score(&d.shape, d.peak_mu, steel_ref);
            let e = d.shape.extents_mm;
            let core = d.shape.core_extents_mm;
            let e = if bullet > 0.5 {
                [e[0], core[1].min(e[1]), core[2].min(e[2])]
            } else {
                e
            };
            (cyl, e[0], (e[1] * e[2]).sqrt())
        })
        .collect();
    let eligible: Vec<usize> = (0..descs.len())
        .filter(|&i| !taken[i] && cart[i].0 >= 0.3)
        .collect();
    let mut comp: Vec<usize> = (0..descs.len()).collect();
    fn root(c: &mut [usize], mut i: usize) -> usize {
        while c[i] != i {
            c[i] = c[c[i]];
            i = c[i];
        }
        i
    }
    for (a, &i) in eligible.iter().enumerate() {
        for &j in &eligible[a + 1..] {
            let (li, di) = (cart[i].1, cart[i].2);
            let (lj, dj) = (cart[j].1, cart[j].2);
            let similar = (li / lj - 1.0).abs() <= 0.25 && (di / dj - 1.0).abs() <= 0.25;
            let ci = descs[i].shape.frame.centroid;
            let cj = descs[j].shape.frame.centroid;
            let dist =
                ((ci[0] - cj[0]).powi(2) + (ci[1] - cj[1]).powi(2) + (ci[2] - cj[2]).powi(2))
                    .sqrt();
            if similar && dist <= 2.0 * li.max(lj).max(12.0) {
                let (ri, rj) = (root(&mut comp, i), root(&mut comp, j));
                if ri != rj {
                    comp[ri.max(rj)] = ri.min(rj);
                }
            }
        }
    }
    let mut clusters: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for &i in &eligible {
        let r = root(&mut comp, i);
        clusters.entry(r).or_default().push(i);
    }
    for (_, members) in clusters {
        if members.len() < 2 {
            continue;
        }
        let n = members.len() as f64;
        let mean_s: f64 = members
            .iter()
            .map(|&i| calls[i].scores.ammunition)
            .sum::<f64>()
            / n;
        let score = 1.0 - (1.0 - mean_s).powf(n.sqrt());
        let mut l: Vec<f64> = members.iter().map(|&i| cart[i].1).collect();
        let mut dd: Vec<f64> = members.iter().map(|&i| cart[i].2).collect();
        l.sort_by(f64::total_cmp);
        dd.sort_by(f64::total_cmp);
        let (ml, md) = (l[l.len() / 2], dd[dd.len() / 2]);
        let mut call = Call::default();
        call.set(Kind::Ammunition, score);
        call.feat("cluster_count", n);
        call.feat("cluster_mean_cartridge_score", mean_s);
        call.feat("cartridge_length_mm", ml);
        call.feat("cartridge_diameter_mm", md);
        call.say(
            score,
            Kind::Ammunition,
            format!("cluster of {} cylinders {md:.0}×{ml:.0} mm", members.len()),
        );
        // Keep the strongest member-level sentence too.
        if let Some(best) = members
            .iter()
            .flat_map(|&i| calls[i].evidence.iter())
            .filter(|e| e.1 == Kind::Ammunition)
            .max_by(|a, b| a.0.total_cmp(&b.0))
        {
            call.say(best.0, Kind::Ammunition, format!("e.g. {}", best.2));
        }
        for &i in &members {
            taken[i] = true;
        }
        groups.push(Group { members, call });
    }
    for (i, call) in calls.into_iter().enumerate() {
        if !taken[i] {
            groups.push(Group {
                members: vec![i],
                call,
            });
        }
    }
    groups
}

/// The findings of `groups` of `descs`, highest score first, ids from 1.
fn findings_of(descs: &[Descriptors], groups: Vec<Group>, threshold: f64) -> Vec<Finding> {
    let mut findings: Vec<Finding> = groups
        .into_iter()
        .map(|g| finding_of(descs, g, threshold))
        .collect();
    findings.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.bbox_mm[0].total_cmp(&b.bbox_mm[0]))
            .then(a.bbox_mm[1].total_cmp(&b.bbox_mm[1]))
            .then(a.bbox_mm[2].total_cmp(&b.bbox_mm[2]))
    });
    for (k, f) in findings.iter_mut().enumerate() {
        f.id = k as u32 + 1;
    }
    findings
}

/// A revolver's steel grip frame read apart from its frame: a solid bar (no bore, box
/// at least 60 % filled) 45–70 mm long of 80–250 g, beside a long object heavy enough
/// for a revolver's frame with its cylinder (about 450 g or more).
fn revolver_grip_frame_score(a: &Descriptors, b: &Descriptors) -> f64 {
    let sb = &b.shape;
    band(sb.extents_mm[0], 45.0, 70.0, 3.0)
        * band(b.mass_g, 80.0, 250.0, 15.0)
        * up(sb.fill, 0.6, 0.05)
        * up(a.mass_g, 450.0, 40.0)
}

/// Widest empty space between two candidates whose joint outline is judged
/// ([`joinable`]), mm: the gap [`pistol_silhouette`] allows between body and grip (a
/// polymer frame between steel parts).
pub const JOIN_GAP_MAX_MM: f64 = 16.0;

/// Least mass of each candidate of a joined pair, g: a revolver's grip frame or a
/// steel pistol's grip strap reads 20–30 g at 3.44 mm voxels.
pub const JOIN_MASS_MIN_G: f64 = 20.0;

/// Least thickness (smallest extent) of each candidate of a joined pair, and of the
/// thicker one, mm: [`pistol_silhouette`] asks at least about 9 mm of a grip and 14
/// mm of a body, with soft edges; wires, cutlery and sheet are thinner.
pub const JOIN_THICKNESS_MIN_MM: [f64; 2] = [6.0, 11.0];

/// Longest side of a joined pair's box, mm: a pistol 100–260 mm long with its grip
/// at an angle, lying across the grid.
pub const JOIN_SPAN_MM: [f64; 2] = [90.0, 340.0];

/// Whether two candidates may be one firearm split by the metal threshold (a polymer
/// frame or a wooden grip between steel parts), to be judged on their joint outline:
/// their boxes at most [`JOIN_GAP_MAX_MM`] apart, each of at least
/// [`JOIN_MASS_MIN_G`] and as thick as a grip ([`JOIN_THICKNESS_MIN_MM`]), one as
/// thick as a body, their joint box a handgun's length ([`JOIN_SPAN_MM`]).
pub fn joinable(a: &Descriptors, b: &Descriptors) -> bool {
    let span = (0..3)
        .map(|k| a.bbox_mm[k + 3].max(b.bbox_mm[k + 3]) - a.bbox_mm[k].min(b.bbox_mm[k]))
        .fold(0.0, f64::max);
    let thickness = |d: &Descriptors| {
        d.shape
            .extents_mm
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min)
    };
    let (ta, tb) = (thickness(a), thickness(b));
    box_gap_mm(&a.bbox_mm, &b.bbox_mm) <= JOIN_GAP_MAX_MM
        && a.mass_g >= JOIN_MASS_MIN_G
        && b.mass_g >= JOIN_MASS_MIN_G
        && ta.min(tb) >= JOIN_THICKNESS_MIN_MM[0]
        && ta.max(tb) >= JOIN_THICKNESS_MIN_MM[1]
        && (JOIN_SPAN_MM[0]..=JOIN_SPAN_MM[1]).contains(&span)
}

/// A two-object pistol: `a` the slide-like limb, `b` the grip-like one (a polymer
/// frame's slide and magazine, or a revolver's frame and grip frame).
fn pistol_pair(a: &Descriptors, b: &Descriptors) -> Option<Call> {
    let (sa, sb) = (&a.shape, &b.shape);
    if sa.extents_mm[0] < 90.0 || sb.extents_mm[0] < 45.0 || sb.extents_mm[0] > sa.extents_mm[0] {
        return None;
    }
    // Boxes closer than 30 mm.
    let gap = box_gap_mm(&a.bbox_mm, &b.bbox_mm);
    if gap > 30.0 {
        return None;
    }
    let seg = |s: &Shape| {
        let h = 0.5 * s.extents_mm[0];
        Segment::from_frame(&s.frame, -h, h)
    };
    let (angle, junction, gaps) = relate(&seg(sa), &seg(sb));
    let barrel = best_barrel_relaxed(sa);
    let bore = barrel.map_or(0.0, |x| x.1);
    let chambers = if is_revolver_cylinder(sa.parallel_bores.count) {
        1.0
    } else {
        0.0
    };
    // The segments are the limbs' axes: where a revolver's frame (80–100 mm across with
    // its trigger guard) meets its grip frame, the grip's axis stops short of the
    // frame's by the frame's half-width.
    let grip_frame = revolver_grip_frame_score(a, b);
    let (width_max, slack) = if chambers > 0.0 || bore >= 0.5 || grip_frame >= 0.5 {
        (REVOLVER_FRAME_WIDTH_MAX_MM, 0.5 * sa.extents_mm[1])
    } else {
        (LIMB_WIDTH_MAX_MM, 0.0)
    };
    let reach = gaps[0].max(gaps[1] - slack);
    let geo = pistol_geometry(
        angle,
        sa.extents_mm,
        sb.extents_mm,
        junction[1],
        width_max,
        false,
    ) * down(reach, 30.0, 5.0);
    if geo < 0.05 {
        return None;
    }
    let slide = slide_score(sa);
    let mag = magazine_score(sb)
        .map_or(0.0, |x| x.1)
        .max(loaded_magazine_score(sb));
    let loaded_b = up(sb.dense_blobs.0 as f64, 1.5, 0.25);
    // The long limb being a slide or holding a barrel or a revolver's chambers, or the
    // short one a magazine or holding bullets (a loaded magazine), confirms the
    // geometry.
    let confirm = bore
        .max(slide)
        .max(mag)
        .max(0.8 * loaded_b)
        .max(chambers)
        .max(grip_frame);
    let fire = geo * (0.6 + 0.4 * confirm);
    let mut call = Call::default();
    call.set(Kind::Firearm, fire);
    call.feat("two_part_angle_deg", angle);
    call.feat("two_part_length_a_mm", sa.extents_mm[0]);
    call.feat("two_part_length_b_mm", sb.extents_mm[0]);
    call.feat("two_part_junction_b", junction[1]);
    call.feat("two_part_reach_mm", reach);
    call.feat("pistol_geometry", geo);
    call.feat("slide_bore_score", bore);
    call.feat("slide_score", slide);
    call.feat("grip_magazine_score", mag);
    call.feat("revolver_grip_frame", grip_frame);
    // Named for what the long object reads as: a revolver's frame when it holds the
    // chambers or is wider than a slide, a slide otherwise.
    let (long, short) = if chambers > 0.0 || sa.extents_mm[1] > LIMB_WIDTH_MAX_MM {
        ("frame", "grip frame")
    } else {
        ("slide", "grip")
    };
    call.say(
        fire,
        Kind::Firearm,
        format!(
            "L-shape of two objects: {long}–{short} angle {angle:.0}°, {:.0} mm and {:.0} mm limbs {gap:.0} mm apart",
            sa.extents_mm[0], sb.extents_mm[0]
        ),
    );
    if chambers > 0.0 {
        call.say(
            geo,
            Kind::Firearm,
            format!(
                "{} parallel chambers in the {long} (revolver cylinder)",
                sa.parallel_bores.count
            ),
        );
    }
    if let Some((bb, sc)) = barrel {
        if sc > 0.3 {
            call.say(
                sc * geo,
                Kind::Firearm,
                format!("barrel in the {long}: {}", bore_text(&bb)),
            );
        }
    }
    if grip_frame > 0.3 {
        call.say(
            grip_frame * geo,
            Kind::Firearm,
            format!(
                "solid steel bar {:.0} × {:.0} mm of {:.0} g as the {short}, beside a {:.0} g {long} (revolver grip frame)",
                sb.extents_mm[0], sb.extents_mm[1], b.mass_g, a.mass_g
            ),
        );
    }
    if mag > 0.3 {
        call.say(
            mag * geo,
            Kind::Firearm,
            "magazine-like box in the grip (hollow, or rounds in two columns)".to_string(),
        );
    }
    Some(call)
}

fn finding_of(descs: &[Descriptors], g: Group, threshold: f64) -> Finding {
    let (best_kind, score) = g.call.scores.best();
    let kind = if score >= threshold {
        best_kind
    } else {
        Kind::MetalOther
    };
    let largest = *g
        .members
        .iter()
        .max_by(|&&a, &&b| {
            descs[a]
                .voxel_count
                .cmp(&descs[b].voxel_count)
                .then(b.cmp(&a))
        })
        .unwrap();
    let ld = &descs[largest];
    let mut bbox = ld.bbox_mm;
    let mut voxels = 0u64;
    let mut vol = 0.0;
    let mut mass = 0.0;
    let mut mu_sum = 0.0;
    let mut cen = [0.0; 3];
    for &m in &g.members {
        let d = &descs[m];
        for k in 0..3 {
            bbox[k] = bbox[k].min(d.bbox_mm[k]);
            bbox[k + 3] = bbox[k + 3].max(d.bbox_mm[k + 3]);
            cen[k] += d.shape.frame.centroid[k] * d.shape.volume_mm3;
        }
        voxels += d.voxel_count as u64;
        vol += d.shape.volume_mm3;
        mass += d.mass_g;
        mu_sum += d.mean_mu * d.voxel_count as f64;
    }
    for c in cen.iter_mut() {
        *c /= vol.max(1e-9);
    }
    // Evidence: sentences for the called kind first (strongest first), then others that
    // scored at least 0.2, then the material.
    let mut ev = g.call.evidence.clone();
    ev.sort_by(|a, b| {
        let ka = a.1 == best_kind;
        let kb = b.1 == best_kind;
        kb.cmp(&ka).then(b.0.total_cmp(&a.0))
    });
    let mut evidence: Vec<String> = ev.into_iter().map(|e| e.2).collect();
    evidence.dedup();
    evidence.push(format!(
        "{} (mean μ {:.2} mm⁻¹), about {:.0} g",
        ld.material.as_str().replace('_', "/"),
        mu_sum / voxels.max(1) as f64,
        mass
    ));
    let mut features = g.call.features.clone();
    features.insert("members".into(), g.members.len() as f64);
    Finding {
        id: 0,
        kind,
        score,
        threat_probability: None,
        class_scores: g.call.scores,
        bbox_mm: bbox,
        voxel_count: voxels,
        volume_mm3: vol,
        mean_mu: mu_sum / voxels.max(1) as f64,
        material: ld.material.as_str().to_string(),
        mass_g: mass,
        centroid_mm: if g.members.len() == 1 {
            ld.shape.frame.centroid
        } else {
            cen
        },
        principal_axes: ld.shape.frame.axes,
        extents_mm: ld.shape.extents_mm,
        members: g.members.len() as u32,
        evidence,
        features,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memberships_are_logistic() {
        assert!((up(5.0, 5.0, 1.0) - 0.5).abs() < 1e-12);
        assert!(up(7.0, 5.0, 1.0) > 0.88 && up(7.0, 5.0, 1.0) < 0.89);
        assert!((up(3.0, 5.0, 1.0) + down(3.0, 5.0, 1.0) - 1.0).abs() < 1e-12);
        assert!(band(10.0, 4.0, 14.0, 0.5) > 0.99);
        assert!(band(2.0, 4.0, 14.0, 0.5) < 0.02);
        assert!(band(20.0, 4.0, 14.0, 0.5) < 0.001);
    }

    fn bore(diameter_mm: f64, inscribed_mm: f64) -> Bore {
        Bore {
            diameter_mm,
            length_mm: 103.0,
            open_ends: 2,
            outer_diameter_mm: 19.5,
            wall_mm: 5.2,
            aspect: 1.09,
            length_fraction: 0.97,
            rect_fill: 0.79,
            inscribed_mm,
        }
    }

    /// A 9 mm barrel bore measured on the 1.72 mm grid of 3.44 mm voxels (values of a
    /// reconstructed parcel): the inscribed circle reads 6.0 mm against 8.5 mm of
    /// equal area because it is quantised to cell centres. Allowing one grid cell makes
    /// it round; judged without the allowance it failed the roundness test (score 0.23).
    #[test]
    fn a_round_bore_on_a_coarse_grid_is_a_barrel() {
        let b = bore(8.5, 6.0);
        let h = 1.72;
        assert!(barrel_score(&b, h) > 0.8, "{}", barrel_score(&b, h));
        // On a fine grid the same numbers do mean a hole leaking beside the bore.
        assert!(barrel_score(&b, 0.25) < 0.5, "{}", barrel_score(&b, 0.25));
        // A bore leaking into a slot twice its width stays refused on the coarse grid.
        let slot = bore(13.0, 6.0);
        assert!(barrel_score(&slot, h) < 0.1, "{}", barrel_score(&slot, h));
        // A 5.56 mm bore whose inscribed circle reads 3.1 mm is sized from its area.
        let small = bore(5.5, 3.1);
        assert!(barrel_score(&small, h) > 0.6, "{}", barrel_score(&small, h));
    }
}
