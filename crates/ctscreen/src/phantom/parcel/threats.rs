//! Builders of threat items, one small function per kind, with real dimensions.
//!
//! Item frame: x forward (muzzle, bullet, blade tip), y up, z lateral; millimetres.

use rand_pcg::Pcg64;

use super::build::{along_x, along_y, int, pick, uniform, Item, Part};
use crate::phantom::shapes::{Rotation, Shape};
use crate::phantom::ObjectClass;
use crate::physics::Material;

/// Dimensions of a cartridge (mm).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CartridgeSpec {
    pub name: &'static str,
    /// Case body diameter.
    pub case_d: f64,
    pub case_len: f64,
    /// Solid case head (base) length.
    pub head_len: f64,
    pub wall: f64,
    /// Bottleneck: neck outer diameter and where the shoulder starts (from the base).
    pub neck: Option<(f64, f64)>,
    pub bullet_d: f64,
    pub bullet_len: f64,
    /// Overall length.
    pub oal: f64,
    /// Copper jacket over a lead core (full metal jacket) or plain lead.
    pub jacketed: bool,
}

/// 9×19 mm Parabellum: case 9.93 × 19.15 mm, bullet 9.02 mm, 29.69 mm overall.
pub(crate) const C9X19: CartridgeSpec = CartridgeSpec {
    name: "9x19",
    case_d: 9.93,
    case_len: 19.15,
    head_len: 3.0,
    wall: 0.4,
    neck: None,
    bullet_d: 9.02,
    bullet_len: 15.5,
    oal: 29.69,
    jacketed: true,
};

/// .38 Special: case 9.6 × 29.3 mm, lead bullet 9.07 mm, 39.0 mm overall.
pub(crate) const C38SPL: CartridgeSpec = CartridgeSpec {
    name: ".38 Special",
    case_d: 9.6,
    case_len: 29.3,
    head_len: 2.5,
    wall: 0.25,
    neck: None,
    bullet_d: 9.07,
    bullet_len: 14.8,
    oal: 39.0,
    jacketed: false,
};

/// 5.56×45 mm: case 9.4 × 44.7 mm (neck 6.6 mm from 36.5 mm), bullet 5.7 mm, 57.4 mm.
pub(crate) const C556: CartridgeSpec = CartridgeSpec {
    name: "5.56x45",
    case_d: 9.4,
    case_len: 44.7,
    head_len: 3.5,
    wall: 0.4,
    neck: Some((6.6, 36.5)),
    bullet_d: 5.7,
    bullet_len: 23.0,
    oal: 57.4,
    jacketed: true,
};

/// The parts of one cartridge along the item x axis, base at `x = -oal/2`: solid
/// brass head, case wall tube (and neck), propellant, bullet (lead core in a copper
/// jacket, stepped lead nose).
pub(crate) fn cartridge_parts(spec: &CartridgeSpec) -> Vec<Part> {
    let x0 = -spec.oal / 2.0;
    let rot = along_x();
    let cyl = |r: f64, a: f64, b: f64, m: Material, name: &'static str| {
        Part::new(
            Shape::cylinder(r, b - a),
            [0.0, 0.0, x0 + 0.5 * (a + b)],
            rot,
            m,
            name,
        )
    };
    let tube = |ro: f64, ri: f64, a: f64, b: f64, m: Material, name: &'static str| {
        Part::new(
            Shape::tube(ro, ri, b - a),
            [0.0, 0.0, x0 + 0.5 * (a + b)],
            rot,
            m,
            name,
        )
    };
    let r = spec.case_d / 2.0;
    let rb = spec.bullet_d / 2.0;
    let seat = spec.case_len + spec.bullet_len - spec.oal;
    let body_end = spec.neck.map_or(spec.case_len, |(_, s)| s);
    let mut parts = vec![
        cyl(r, 0.0, spec.head_len, Material::Brass, "case_head"),
        tube(
            r,
            r - spec.wall,
            spec.head_len,
            body_end,
            Material::Brass,
            "case_wall",
        ),
    ];
    if let Some((neck_d, shoulder)) = spec.neck {
        let rn = neck_d / 2.0;
        parts.push(tube(
            rn,
            rn - spec.wall,
            shoulder,
            spec.case_len,
            Material::Brass,
            "case_neck",
        ));
    }
    let bullet_base = spec.case_len - seat;
    parts.push(cyl(
        r - spec.wall - 0.05,
        spec.head_len,
        bullet_base.min(body_end),
        Material::Propellant,
        "propellant",
    ));
    let nose = 0.45 * spec.bullet_len;
    let body = spec.bullet_len - nose;
    if spec.jacketed {
        let t = (0.08 * rb).max(0.3);
        parts.push(cyl(
            rb - t,
            bullet_base,
            bullet_base + body,
            Material::Lead,
            "bullet_core",
        ));
        parts.push(tube(
            rb,
            rb - t,
            bullet_base,
            bullet_base + body,
            Material::Copper,
            "bullet_jacket",
        ));
    } else {
        parts.push(cyl(
            rb,
            bullet_base,
            bullet_base + body,
            Material::Lead,
            "bullet",
        ));
    }
    let mut x = bullet_base + body;
    for (frac_r, frac_l) in [(0.85, 0.40), (0.62, 0.33), (0.35, 0.27)] {
        let len = frac_l * nose;
        let m = if spec.jacketed {
            Material::Copper
        } else {
            Material::Lead
        };
        parts.push(cyl(frac_r * rb, x, x + len, m, "bullet_nose"));
        x += len;
    }
    parts
}

/// One cartridge as an ammunition item.
pub(crate) fn cartridge(spec: &CartridgeSpec) -> Item {
    let mut it = Item::new(ObjectClass::Ammunition, kind_of(spec));
    it.parts = cartridge_parts(spec);
    it.feature("case_diameter", spec.case_d)
        .feature("overall_length", spec.oal)
        .feature("bullet_diameter", spec.bullet_d);
    it
}

fn kind_of(spec: &CartridgeSpec) -> &'static str {
    match spec.name {
        "9x19" => "cartridge_9x19",
        ".38 Special" => "cartridge_38spl",
        _ => "cartridge_556",
    }
}

/// Moves parts built along x so their axis points along `rotation`'s image of x, then
/// shifts them to `center`.
fn placed(parts: Vec<Part>, rotation: &Rotation, center: [f64; 3]) -> Vec<Part> {
    parts
        .into_iter()
        .map(|p| p.transformed(rotation, center))
        .collect()
}

/// Six walls of a rectangular shell of outer sizes `d` (z, y, x) and wall `t`,
/// centred at `c`.
pub(crate) fn shell(
    d: [f64; 3],
    t: f64,
    c: [f64; 3],
    m: Material,
    name: &'static str,
) -> Vec<Part> {
    let [dz, dy, dx] = d;
    let at = |o: [f64; 3]| [c[0] + o[0], c[1] + o[1], c[2] + o[2]];
    vec![
        Part::cuboid([dz, t, dx], at([0.0, dy / 2.0 - t / 2.0, 0.0]), m, name),
        Part::cuboid([dz, t, dx], at([0.0, -dy / 2.0 + t / 2.0, 0.0]), m, name),
        Part::cuboid(
            [t, dy - 2.0 * t, dx],
            at([dz / 2.0 - t / 2.0, 0.0, 0.0]),
            m,
            name,
        ),
        Part::cuboid(
            [t, dy - 2.0 * t, dx],
            at([-dz / 2.0 + t / 2.0, 0.0, 0.0]),
            m,
            name,
        ),
        Part::cuboid(
            [dz - 2.0 * t, dy - 2.0 * t, t],
            at([0.0, 0.0, dx / 2.0 - t / 2.0]),
            m,
            name,
        ),
        Part::cuboid(
            [dz - 2.0 * t, dy - 2.0 * t, t],
            at([0.0, 0.0, -dx / 2.0 + t / 2.0]),
            m,
            name,
        ),
    ]
}

/// A double-stack box magazine in its own frame: length along y (feed lips at
/// `+length/2`), cartridges pointing +x, stacked in two staggered columns on a
/// follower and a coil spring (a thin steel tube of the same mass per length).
/// Returns the parts and the number of rounds loaded.
pub(crate) fn box_magazine(
    rng: &mut Pcg64,
    spec: &CartridgeSpec,
    body: Material,
    length: f64,
    max_rounds: usize,
) -> (Vec<Part>, usize) {
    let t = 0.8;
    let rc = spec.case_d / 2.0;
    let w_in = 2.0 * (2.0 * rc + 0.05) + 0.3; // two columns side by side
    let d_in = spec.oal + 1.2;
    let (w, d) = (w_in + 2.0 * t, d_in + 2.0 * t);
    let mut parts = vec![
        Part::cuboid(
            [t, length, d],
            [w / 2.0 - t / 2.0, 0.0, 0.0],
            body,
            "magazine_wall",
        ),
        Part::cuboid(
            [t, length, d],
            [-w / 2.0 + t / 2.0, 0.0, 0.0],
            body,
            "magazine_wall",
        ),
        Part::cuboid(
            [w_in, length, t],
            [0.0, 0.0, d / 2.0 - t / 2.0],
            body,
            "magazine_wall",
        ),
        Part::cuboid(
            [w_in, length, t],
            [0.0, 0.0, -d / 2.0 + t / 2.0],
            body,
            "magazine_wall",
        ),
        Part::cuboid(
            [w + 2.0, 4.0, d + 3.0],
            [0.0, -length / 2.0 - 2.0, 0.0],
            Material::Nylon,
            "magazine_base",
        ),
    ];
    // Rounds: the top one under the lips, then alternating columns every rc mm.
    let pitch = rc + 0.1;
    let y_top = length / 2.0 - 2.0 - rc;
    let spring_min = 6.0;
    let follower_h = 5.0;
    let room = y_top - (-length / 2.0 + 0.3 + spring_min + follower_h + 0.4 + rc);
    let fit = if room < 0.0 {
        0
    } else {
        (room / pitch) as usize + 1
    };
    let n = int(rng, 0, max_rounds.min(fit));
    let zc = w_in / 2.0 - rc - 0.05;
    for k in 0..n {
        let z = if k % 2 == 0 { zc } else { -zc };
        let y = y_top - k as f64 * pitch;
        parts.extend(placed(
            cartridge_parts(spec),
            &Rotation::IDENTITY,
            [z, y, 0.0],
        ));
    }
    let y_follow_top = if n > 0 {
        y_top - (n - 1) as f64 * pitch - rc - 0.2
    } else {
        y_top + rc
    };
    let y_follow_bottom = y_follow_top - follower_h;
    parts.push(Part::cuboid(
        [w_in - 0.4, follower_h, d_in - 0.4],
        [0.0, 0.5 * (y_follow_top + y_follow_bottom), 0.0],
        Material::Nylon,
        "magazine_follower",
    ));
    let s0 = -length / 2.0 + 0.3;
    let s1 = y_follow_bottom - 0.2;
    let ro = 0.5 * w_in.min(d_in) - 0.3;
    parts.push(Part::new(
        Shape::tube(ro, ro - 0.2, s1 - s0),
        [0.0, 0.5 * (s0 + s1), 0.0],
        along_y(),
        Material::Steel,
        "magazine_spring",
    ));
    (parts, n)
}

/// Semi-automatic pistol: steel slide (a U-channel with breech block and sights)
/// around a steel barrel with a 9 mm bore, a frame (glass-filled nylon, or steel for
/// `all_steel`) with dust cover holding the recoil spring and guide rod, a steel
/// trigger housing, a grip at 105–112° to the bore axis holding a loaded 9×19
/// magazine, and a trigger guard.
pub(crate) fn pistol(rng: &mut Pcg64, all_steel: bool) -> Item {
    let kind = if all_steel {
        "pistol_steel"
    } else {
        "pistol_polymer"
    };
    let mut it = Item::new(ObjectClass::Firearm, kind);
    let frame_mat = if all_steel {
        Material::Steel
    } else {
        Material::NylonGlassFilled
    };
    let ls = uniform(rng, 165.0, 200.0);
    let hs = uniform(rng, 26.0, 31.0);
    let ws = uniform(rng, 23.0, 28.0);
    let ro = uniform(rng, 6.5, 7.2);
    let bore = 4.5;
    let angle = uniform(rng, 105.0, 112.0);
    let theta = (angle - 90.0).to_radians();
    // Slide.
    let tw = ((ws - 2.0 * ro - 1.0) / 2.0).max(3.0);
    let ch = hs - 6.0;
    it.add(Part::cuboid(
        [ws, 6.0, ls],
        [0.0, hs - 3.0, 0.0],
        Material::Steel,
        "slide_top",
    ));
    for s in [-1.0, 1.0] {
        it.add(Part::cuboid(
            [tw, ch, ls],
            [s * (ws / 2.0 - tw / 2.0), ch / 2.0, 0.0],
            Material::Steel,
            "slide_side",
        ));
    }
    let breech = 24.0;
    it.add(Part::cuboid(
        [ws - 2.0 * tw, ch, breech],
        [0.0, ch / 2.0, -ls / 2.0 + breech / 2.0],
        Material::Steel,
        "breech_block",
    ));
    it.add(Part::cuboid(
        [3.0, 5.0, 4.0],
        [0.0, hs + 2.5, ls / 2.0 - 6.0],
        Material::Steel,
        "front_sight",
    ));
    it.add(Part::cuboid(
        [10.0, 5.0, 6.0],
        [0.0, hs + 2.5, -ls / 2.0 + 8.0],
        Material::Steel,
        "rear_sight",
    ));
    let lb = uniform(rng, 100.0, 117.0).min(ls - breech - 4.5);
    let xb0 = -ls / 2.0 + breech + 0.5;
    it.add(Part::new(
        Shape::tube(ro, bore, lb),
        [0.0, ch / 2.0, xb0 + lb / 2.0],
        along_x(),
        Material::Steel,
        "barrel",
    ));
    // Frame below the slide (y < 0).
    let wf = ws - 2.0;
    let hf = 18.0;
    let xd0 = -ls / 2.0 + 70.0;
    let xd1 = ls / 2.0 - 8.0;
    let ld = xd1 - xd0;
    for s in [-1.0, 1.0] {
        it.add(Part::cuboid(
            [3.0, hf, ld],
            [s * (wf / 2.0 - 1.5), -hf / 2.0, 0.5 * (xd0 + xd1)],
            frame_mat,
            "dust_cover",
        ));
    }
    let rs = (wf / 2.0 - 3.0).min(hf / 2.0) - 0.5;
    let (sp0, sp1) = (xd0 + 25.5, xd1 - 0.5);
    it.add(Part::new(
        Shape::tube(rs, rs - 0.25, sp1 - sp0),
        [0.0, -hf / 2.0, 0.5 * (sp0 + sp1)],
        along_x(),
        Material::Steel,
        "recoil_spring",
    ));
    it.add(Part::new(
        Shape::cylinder(1.8, sp1 - sp0),
        [0.0, -hf / 2.0, 0.5 * (sp0 + sp1)],
        along_x(),
        Material::Steel,
        "guide_rod",
    ));
    // Steel trigger housing / locking block at the rear of the dust cover, the
    // recoil spring in front of it.
    it.add(Part::cuboid(
        [wf - 7.0, hf - 2.0, 24.0],
        [0.0, -hf / 2.0, xd0 + 12.5],
        Material::Steel,
        "trigger_housing",
    ));
    it.add(Part::cuboid(
        [wf, 3.0, ld],
        [0.0, -hf - 1.5, 0.5 * (xd0 + xd1)],
        frame_mat,
        "frame_floor",
    ));
    let y_floor = -hf - 3.0;
    // Grip behind the dust cover, tilted back by theta, reaching up to the slide,
    // holding the magazine (whose base plate sticks out below).
    let gd = uniform(rng, 46.0, 50.0);
    let gw = (ws + 4.0).max(29.0);
    let rg = Rotation::about_z(-theta);
    let gx = -ls / 2.0 + 45.0;
    let gy = -0.5 - gd / 2.0 * theta.sin();
    let mag_len = uniform(rng, 100.0, 112.0);
    let lg = mag_len - 6.0;
    let side_mat = if all_steel { Material::Wood } else { frame_mat };
    let strap_mat = frame_mat;
    let mut grip = Vec::new();
    for s in [-1.0, 1.0] {
        grip.push(Part::cuboid(
            [3.0, lg, gd],
            [s * (gw / 2.0 - 1.5), -lg / 2.0, 0.0],
            side_mat,
            "grip_side",
        ));
        grip.push(Part::cuboid(
            [gw - 6.0, lg, 4.0],
            [0.0, -lg / 2.0, s * (gd / 2.0 - 2.0)],
            strap_mat,
            "grip_strap",
        ));
    }
    let (mag, rounds) = box_magazine(rng, &C9X19, Material::Steel, mag_len, 17);
    grip.extend(placed(
        mag,
        &Rotation::IDENTITY,
        [0.0, -1.0 - mag_len / 2.0, 0.0],
    ));
    it.parts.extend(placed(grip, &rg, [0.0, gy, gx]));
    // Trigger guard and trigger in front of the grip.
    let gfront = gx + gd / 2.0 * theta.cos();
    let g0 = gfront + 3.0;
    let g1 = g0 + 44.0;
    let gh = 26.0;
    it.add(Part::cuboid(
        [8.0, 4.0, g1 - g0],
        [0.0, y_floor - 0.1 - gh - 2.0, 0.5 * (g0 + g1)],
        frame_mat,
        "trigger_guard",
    ));
    it.add(Part::cuboid(
        [8.0, gh, 4.0],
        [0.0, y_floor - 0.1 - gh / 2.0, g1 - 2.0],
        frame_mat,
        "trigger_guard",
    ));
    let trig_mat = if all_steel {
        Material::Steel
    } else {
        Material::Nylon
    };
    it.add(Part::cuboid(
        [6.0, 17.0, 5.0],
        [0.0, y_floor - 0.1 - 8.5, g0 + 14.0],
        trig_mat,
        "trigger",
    ));
    it.feature("slide_length", ls)
        .feature("barrel_length", lb)
        .feature("bore_diameter", 2.0 * bore)
        .feature("barrel_outer_diameter", 2.0 * ro)
        .feature("grip_angle_deg", angle)
        .feature("rounds", rounds as f64);
    it
}

/// Revolver: a cylinder of six chamber tubes (9.7 mm bores, some loaded with .38
/// Special rounds) around an ejector tube, a steel frame (top strap, bottom strap,
/// recoil shield, front block), a barrel with a 9 mm bore aligned with the top
/// chamber, a steel grip frame with wooden panels, hammer, trigger and guard.
pub(crate) fn revolver(rng: &mut Pcg64) -> Item {
    let mut it = Item::new(ObjectClass::Firearm, "revolver");
    let lc = uniform(rng, 39.5, 42.0);
    let rp = 12.5;
    let rch = 6.2;
    let rcyl = rp + rch;
    let st = Material::Steel;
    let mut loaded = 0;
    for k in 0..6 {
        let a = std::f64::consts::FRAC_PI_2 + k as f64 * std::f64::consts::TAU / 6.0;
        let (z, y) = (rp * a.cos(), rp * a.sin());
        it.add(Part::new(
            Shape::tube(rch, 4.85, lc),
            [z, y, 0.0],
            along_x(),
            st,
            "chamber",
        ));
        if rng.random_bool_p(0.8) {
            loaded += 1;
            it.parts.extend(placed(
                cartridge_parts(&C38SPL),
                &Rotation::IDENTITY,
                [z, y, -lc / 2.0 + C38SPL.oal / 2.0],
            ));
        }
    }
    it.add(Part::new(
        Shape::tube(5.5, 2.5, lc),
        [0.0; 3],
        along_x(),
        st,
        "ejector_tube",
    ));
    let top = rcyl + 0.5;
    it.add(Part::cuboid(
        [14.0, 7.0, lc + 1.0],
        [0.0, top + 3.5, 0.0],
        st,
        "top_strap",
    ));
    let bot = -(rcyl + 0.5);
    it.add(Part::cuboid(
        [14.0, 8.0, lc + 1.0],
        [0.0, bot - 4.0, 0.0],
        st,
        "bottom_strap",
    ));
    let (ylo, yhi) = (bot - 8.0, top + 7.0);
    it.add(Part::cuboid(
        [26.0, yhi - ylo, 10.0],
        [0.0, 0.5 * (ylo + yhi), -lc / 2.0 - 0.5 - 5.0],
        st,
        "recoil_shield",
    ));
    let rb = uniform(rng, 7.5, 9.0);
    let lb = uniform(rng, 50.0, 155.0);
    let xb0 = lc / 2.0 + 1.5;
    it.add(Part::new(
        Shape::tube(rb, 4.5, lb),
        [0.0, rp, xb0 + lb / 2.0],
        along_x(),
        st,
        "barrel",
    ));
    let fb_top = rp - rb - 0.3;
    it.add(Part::cuboid(
        [14.0, fb_top - ylo, 13.5],
        [0.0, 0.5 * (fb_top + ylo), lc / 2.0 + 0.5 + 6.75],
        st,
        "front_block",
    ));
    if lb > 60.0 {
        it.add(Part::cuboid(
            [10.0, 6.0, 0.6 * lb],
            [0.0, fb_top - 3.0, lc / 2.0 + 14.5 + 0.3 * lb],
            st,
            "underlug",
        ));
    }
    let theta = uniform(rng, 15.0, 25.0).to_radians();
    let rg = Rotation::about_z(-theta);
    let gx = -lc / 2.0 - 8.5;
    let gy = ylo - 0.5 - 19.0 * theta.sin();
    let mut grip = vec![Part::cuboid(
        [12.0, 55.0, 22.0],
        [0.0, -27.5, 0.0],
        st,
        "grip_frame",
    )];
    for s in [-1.0, 1.0] {
        grip.push(Part::cuboid(
            [7.0, 95.0, 38.0],
            [s * 9.5, -47.5, 0.0],
            Material::Wood,
            "grip_panel",
        ));
    }
    it.parts.extend(placed(grip, &rg, [0.0, gy, gx]));
    it.add(Part::cuboid(
        [7.0, 18.0, 9.0],
        [0.0, top + 1.0, -lc / 2.0 - 10.5 - 5.0],
        st,
        "hammer",
    ));
    let g0 = -lc / 2.0 + 12.0;
    let g1 = g0 + 38.0;
    it.add(Part::cuboid(
        [7.0, 3.5, g1 - g0],
        [0.0, ylo - 0.2 - 24.0 - 1.75, 0.5 * (g0 + g1)],
        st,
        "trigger_guard",
    ));
    it.add(Part::cuboid(
        [7.0, 24.0, 3.5],
        [0.0, ylo - 0.2 - 12.0, g1 - 1.75],
        st,
        "trigger_guard",
    ));
    it.add(Part::cuboid(
        [6.0, 18.0, 5.0],
        [0.0, ylo - 0.2 - 10.0, g0 + 10.0],
        st,
        "trigger",
    ));
    it.feature("barrel_length", lb)
        .feature("bore_diameter", 9.0)
        .feature("chambers", 6.0)
        .feature("rounds", loaded as f64)
        .feature("cylinder_diameter", 2.0 * rcyl);
    it
}

/// Extension: a Bernoulli draw that reads well in builders.
trait Coin {
    fn random_bool_p(&mut self, p: f64) -> bool;
}
impl Coin for Pcg64 {
    fn random_bool_p(&mut self, p: f64) -> bool {
        uniform(self, 0.0, 1.0) < p
    }
}

/// A barrel on its own: a steel tube 100–400 mm long with a 5.56–11.43 mm bore, a
/// wider chamber section at the breech, and on long (rifle) barrels a gas block and a
/// front sight base.
pub(crate) fn barrel(rng: &mut Pcg64) -> Item {
    let mut it = Item::new(ObjectClass::FirearmPart, "barrel");
    let bore = pick(rng, &[5.56, 7.62, 9.0, 9.0, 11.43]);
    let len = uniform(rng, 100.0, 400.0);
    let rb = bore / 2.0;
    let wall = if len > 200.0 {
        uniform(rng, 4.5, 8.0)
    } else {
        uniform(rng, 2.5, 4.0)
    };
    let ro = rb + wall;
    let lch = (0.2 * len).min(55.0);
    let rch_o = ro + uniform(rng, 1.0, 3.0);
    let rch_i = rb + uniform(rng, 1.0, 2.0);
    let x0 = -len / 2.0;
    it.add(Part::new(
        Shape::tube(rch_o, rch_i, lch),
        [0.0, 0.0, x0 + lch / 2.0],
        along_x(),
        Material::Steel,
        "chamber",
    ));
    it.add(Part::new(
        Shape::tube(ro, rb, len - lch),
        [0.0, 0.0, x0 + lch + (len - lch) / 2.0],
        along_x(),
        Material::Steel,
        "barrel",
    ));
    if len > 250.0 {
        it.add(Part::new(
            Shape::tube(ro + 5.0, ro, 22.0),
            [0.0, 0.0, x0 + 0.65 * len],
            along_x(),
            Material::Steel,
            "gas_block",
        ));
        it.add(Part::cuboid(
            [5.0, 9.0, 8.0],
            [0.0, ro + 4.5, len / 2.0 - 12.0],
            Material::Steel,
            "front_sight",
        ));
    }
    it.feature("length", len)
        .feature("bore_diameter", bore)
        .feature("outer_diameter", 2.0 * ro);
    it
}

/// A pistol slide on its own (steel U-channel, breech block, sights; no barrel).
pub(crate) fn slide(rng: &mut Pcg64) -> Item {
    let mut it = Item::new(ObjectClass::FirearmPart, "slide");
    let ls = uniform(rng, 165.0, 200.0);
    let hs = uniform(rng, 26.0, 31.0);
    let ws = uniform(rng, 23.0, 28.0);
    let tw = uniform(rng, 3.5, 5.0);
    let ch = hs - 6.0;
    it.add(Part::cuboid(
        [ws, 6.0, ls],
        [0.0, hs - 3.0, 0.0],
        Material::Steel,
        "slide_top",
    ));
    for s in [-1.0, 1.0] {
        it.add(Part::cuboid(
            [tw, ch, ls],
            [s * (ws / 2.0 - tw / 2.0), ch / 2.0, 0.0],
            Material::Steel,
            "slide_side",
        ));
    }
    it.add(Part::cuboid(
        [ws - 2.0 * tw, ch, 24.0],
        [0.0, ch / 2.0, -ls / 2.0 + 12.0],
        Material::Steel,
        "breech_block",
    ));
    it.add(Part::cuboid(
        [3.0, 5.0, 4.0],
        [0.0, hs + 2.5, ls / 2.0 - 6.0],
        Material::Steel,
        "front_sight",
    ));
    it.add(Part::cuboid(
        [10.0, 5.0, 6.0],
        [0.0, hs + 2.5, -ls / 2.0 + 8.0],
        Material::Steel,
        "rear_sight",
    ));
    it.feature("length", ls)
        .feature("height", hs + 5.0)
        .feature("width", ws);
    it
}

/// A rifle bolt: either a bolt-action bolt (bored body with firing pin, locking lugs,
/// handle with a ball knob, shroud) or an AR-15 bolt carrier group (bored carrier,
/// bolt, firing pin, gas key).
pub(crate) fn bolt(rng: &mut Pcg64) -> Item {
    let mut it = Item::new(ObjectClass::FirearmPart, "bolt");
    let st = Material::Steel;
    if uniform(rng, 0.0, 1.0) < 0.5 {
        let lb = uniform(rng, 95.0, 130.0);
        let r = uniform(rng, 8.5, 9.5);
        it.add(Part::new(
            Shape::tube(r, 3.0, lb),
            [0.0; 3],
            along_x(),
            st,
            "bolt_body",
        ));
        it.add(Part::new(
            Shape::cylinder(1.5, lb - 2.0),
            [0.0; 3],
            along_x(),
            st,
            "firing_pin",
        ));
        for s in [-1.0, 1.0] {
            it.add(Part::cuboid(
                [5.0, 5.0, 10.0],
                [0.0, s * (r + 2.5), lb / 2.0 - 5.0],
                st,
                "locking_lug",
            ));
        }
        let hl = uniform(rng, 35.0, 55.0);
        it.add(Part::new(
            Shape::cylinder(4.0, hl),
            [r + 0.2 + hl / 2.0, 0.0, -lb / 2.0 + 20.0],
            Rotation::IDENTITY,
            st,
            "bolt_handle",
        ));
        it.add(Part::new(
            Shape::sphere(9.0),
            [r + 0.2 + hl + 9.1, 0.0, -lb / 2.0 + 20.0],
            Rotation::IDENTITY,
            st,
            "bolt_knob",
        ));
        it.add(Part::new(
            Shape::cylinder(r + 0.5, 22.0),
            [0.0, 0.0, -lb / 2.0 - 11.2],
            along_x(),
            st,
            "bolt_shroud",
        ));
        it.feature("length", lb + 22.0).feature("diameter", 2.0 * r);
    } else {
        let lc = uniform(rng, 165.0, 175.0);
        it.add(Part::new(
            Shape::tube(12.6, 6.6, lc),
            [0.0; 3],
            along_x(),
            st,
            "bolt_carrier",
        ));
        it.add(Part::new(
            Shape::tube(6.4, 2.0, 60.0),
            [0.0, 0.0, lc / 2.0 - 10.0],
            along_x(),
            st,
            "bolt",
        ));
        it.add(Part::new(
            Shape::cylinder(1.6, 85.0),
            [0.0, 0.0, lc / 2.0 - 32.0],
            along_x(),
            st,
            "firing_pin",
        ));
        it.add(Part::cuboid(
            [9.0, 10.0, 45.0],
            [0.0, 12.6 + 5.2, 20.0],
            st,
            "gas_key",
        ));
        it.feature("length", lc + 20.0).feature("diameter", 25.2);
    }
    it
}

/// A magazine on its own: a 9×19 pistol magazine (steel) or a 5.56×45 rifle
/// magazine (aluminium), loaded with 0 to its capacity.
pub(crate) fn magazine(rng: &mut Pcg64) -> Item {
    let mut it = Item::new(ObjectClass::FirearmPart, "magazine");
    let (parts, n, spec) = if uniform(rng, 0.0, 1.0) < 0.6 {
        let len = uniform(rng, 108.0, 125.0);
        let (p, n) = box_magazine(rng, &C9X19, Material::Steel, len, 17);
        (p, n, C9X19)
    } else {
        let len = uniform(rng, 150.0, 190.0);
        let (p, n) = box_magazine(rng, &C556, Material::Aluminium, len, 30);
        (p, n, C556)
    };
    it.parts = parts;
    it.feature("rounds", n as f64)
        .feature("cartridge_length", spec.oal);
    it
}

/// A receiver: an AR-15 lower (aluminium magazine well shell, fire-control pocket,
/// trigger guard, buffer tube) or a stamped AK receiver (steel sheet U-channel with
/// front and rear trunnions).
pub(crate) fn receiver(rng: &mut Pcg64) -> Item {
    let mut it = Item::new(ObjectClass::FirearmPart, "receiver");
    if uniform(rng, 0.0, 1.0) < 0.5 {
        let al = Material::Aluminium;
        it.parts.extend(shell_open_y(
            [26.0, 65.0, 66.0],
            2.5,
            [0.0, -32.5, 0.0],
            al,
            "magazine_well",
        ));
        for s in [-1.0, 1.0] {
            it.add(Part::cuboid(
                [3.0, 32.0, 70.0],
                [s * 10.5, -16.0, 68.5],
                al,
                "fire_control_pocket",
            ));
        }
        it.add(Part::cuboid(
            [18.0, 4.0, 70.0],
            [0.0, -34.0, 68.5],
            al,
            "pocket_floor",
        ));
        it.add(Part::cuboid(
            [8.0, 4.0, 50.0],
            [0.0, -56.0, 61.0],
            al,
            "trigger_guard",
        ));
        let lt = uniform(rng, 160.0, 200.0);
        it.add(Part::new(
            Shape::tube(14.7, 12.7, lt),
            [0.0, -8.0, 104.0 + lt / 2.0],
            along_x(),
            al,
            "buffer_tube",
        ));
        it.feature("length", 137.0 + lt)
            .feature("kind_ar15_lower", 1.0);
    } else {
        let st = Material::Steel;
        let lr = uniform(rng, 230.0, 250.0);
        for s in [-1.0, 1.0] {
            it.add(Part::cuboid(
                [1.0, 45.0, lr],
                [s * 17.0, 0.0, 0.0],
                st,
                "receiver_side",
            ));
        }
        it.add(Part::cuboid(
            [33.0, 1.0, lr],
            [0.0, -23.0, 0.0],
            st,
            "receiver_bottom",
        ));
        it.add(Part::cuboid(
            [32.0, 30.0, 40.0],
            [0.0, -7.4, lr / 2.0 - 20.0],
            st,
            "front_trunnion",
        ));
        it.add(Part::cuboid(
            [32.0, 20.0, 25.0],
            [0.0, -12.4, -lr / 2.0 + 12.5],
            st,
            "rear_trunnion",
        ));
        it.feature("length", lr).feature("kind_ak", 1.0);
    }
    it
}

/// Four walls of a rectangular shell open at the top and bottom (along y).
fn shell_open_y(d: [f64; 3], t: f64, c: [f64; 3], m: Material, name: &'static str) -> Vec<Part> {
    let [dz, dy, dx] = d;
    vec![
        Part::cuboid(
            [t, dy, dx],
            [c[0] + dz / 2.0 - t / 2.0, c[1], c[2]],
            m,
            name,
        ),
        Part::cuboid(
            [t, dy, dx],
            [c[0] - dz / 2.0 + t / 2.0, c[1], c[2]],
            m,
            name,
        ),
        Part::cuboid(
            [dz - 2.0 * t, dy, t],
            [c[0], c[1], c[2] + dx / 2.0 - t / 2.0],
            m,
            name,
        ),
        Part::cuboid(
            [dz - 2.0 * t, dy, t],
            [c[0], c[1], c[2] - dx / 2.0 + t / 2.0],
            m,
            name,
        ),
    ]
}

/// A knife: steel blade 80–250 mm long, 20–40 mm wide, 2–4 mm thick with a narrower
/// tip section on the spine side, a crossguard, a full tang and two handle scales.
pub(crate) fn knife(rng: &mut Pcg64) -> Item {
    let mut it = Item::new(ObjectClass::Blade, "knife");
    let l = uniform(rng, 80.0, 250.0);
    let w = uniform(rng, 20.0, 40.0);
    let t = uniform(rng, 2.0, 4.0);
    let lh = uniform(rng, 90.0, 130.0);
    let th = uniform(rng, 14.0, 22.0);
    let wh = (0.9 * w).max(22.0);
    let steel = pick(rng, &[Material::StainlessSteel, Material::Steel]);
    let scale_mat = pick(rng, &[Material::Wood, Material::Abs, Material::Rubber]);
    let guard = uniform(rng, 0.0, 1.0) < 0.5;
    let x0 = if guard { 5.0 } else { 0.0 };
    let main = 0.78 * l;
    it.add(Part::cuboid(
        [t, w, main],
        [0.0, 0.0, x0 + main / 2.0],
        steel,
        "blade",
    ));
    it.add(Part::cuboid(
        [t, 0.55 * w, l - main],
        [0.0, w / 2.0 - 0.275 * w, x0 + main + (l - main) / 2.0],
        steel,
        "blade_tip",
    ));
    if guard {
        it.add(Part::cuboid(
            [th, w + 14.0, 5.0],
            [0.0, 0.0, 2.5],
            steel,
            "guard",
        ));
    }
    it.add(Part::cuboid(
        [t, 0.6 * wh, lh - 5.0],
        [0.0, 0.0, -(lh - 5.0) / 2.0],
        steel,
        "tang",
    ));
    let sc = (th - t) / 2.0;
    for s in [-1.0, 1.0] {
        it.add(Part::cuboid(
            [sc, wh, lh],
            [s * (t / 2.0 + sc / 2.0), 0.0, -lh / 2.0],
            scale_mat,
            "handle_scale",
        ));
    }
    it.feature("blade_length", l)
        .feature("blade_width", w)
        .feature("blade_thickness", t);
    it
}

/// A cardboard box of 9×19 cartridges standing in rows (5 × 10 cells, 30–50 filled),
/// paperboard walls 1 mm thick: the box (a container item) first, then one item per
/// cartridge (batch = the box).
pub(crate) fn cartridge_box(rng: &mut Pcg64) -> Vec<Item> {
    let spec = C9X19;
    let pitch = spec.case_d + 0.6;
    let (nr, nc) = (5usize, 10usize);
    let t = 1.0;
    let inner = [nr as f64 * pitch, spec.oal + 1.0, nc as f64 * pitch];
    let outer = [inner[0] + 2.0 * t, inner[1] + 2.0 * t, inner[2] + 2.0 * t];
    let mut bx = Item::new(ObjectClass::Container, "cartridge_box");
    bx.parts = shell(outer, t, [0.0; 3], Material::Paper, "box_wall");
    let n = int(rng, 30, nr * nc);
    bx.feature("rounds", n as f64);
    let mut items = vec![bx];
    let up = Rotation::align_axis(2, [0.0, 1.0, 0.0]);
    for k in 0..n {
        let (i, j) = (k / nc, k % nc);
        let z = -inner[0] / 2.0 + (i as f64 + 0.5) * pitch;
        let x = -inner[2] / 2.0 + (j as f64 + 0.5) * pitch;
        let mut c = cartridge(&spec);
        c.parts = placed(c.parts, &up, [z, -inner[1] / 2.0 + spec.oal / 2.0 + 0.3, x]);
        c.batch = Some(0);
        items.push(c);
    }
    items
}
