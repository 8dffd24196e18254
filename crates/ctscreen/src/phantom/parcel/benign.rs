//! Builders of benign items: hard metal (tools, cutlery, coins, keys, machine parts,
//! batteries, cables) that a detector must not call a threat, clutter (clothes,
//! books, bottles, shoes, electronics), and the parcel containers.
//!
//! Item frame: x along the item's length, y its width/up, z its thickness; mm.

use rand_pcg::Pcg64;

use super::build::{along_x, int, pick, uniform, Item, Part};
use super::threats::shell;
use crate::phantom::shapes::{Rotation, Shape};
use crate::phantom::ObjectClass;
use crate::physics::Material;

/// Pliers: two steel bars (jaw + handle) crossing at the pivot at a small angle, one
/// above the other.
pub(crate) fn pliers(rng: &mut Pcg64) -> Item {
    let mut it = Item::new(ObjectClass::MetalOther, "pliers");
    let l = uniform(rng, 150.0, 220.0);
    let delta = uniform(rng, 3.0, 12.0).to_radians();
    let th = uniform(rng, 5.0, 7.0);
    for s in [-1.0, 1.0] {
        let r = Rotation::about_z(s * delta);
        let z = s * (th / 2.0 + 0.05);
        let handle = Part::cuboid(
            [th, 10.0, 0.62 * l],
            [0.0, 0.0, -0.31 * l],
            Material::Steel,
            "handle",
        );
        let jaw = Part::cuboid(
            [th, 12.0, 0.32 * l],
            [0.0, 0.0, 0.16 * l],
            Material::Steel,
            "jaw",
        );
        it.add(handle.transformed(&r, [z, 0.0, 0.0]));
        it.add(jaw.transformed(&r, [z, 0.0, 0.0]));
    }
    it.feature("length", 0.94 * l);
    it
}

/// Spanner: a flat steel bar with a ring end (a short tube across the bar) and an
/// open end (a head block with two prongs).
pub(crate) fn spanner(rng: &mut Pcg64) -> Item {
    let mut it = Item::new(ObjectClass::MetalOther, "spanner");
    let l = uniform(rng, 100.0, 300.0);
    let w = uniform(rng, 10.0, 22.0).min(0.12 * l);
    let t = uniform(rng, 4.0, 7.0);
    let st = pick(rng, &[Material::Steel, Material::StainlessSteel]);
    let ro = 0.9 * w;
    let w2 = 1.8 * w;
    it.add(Part::new(
        Shape::tube(ro, 0.55 * ro, t),
        [0.0, 0.0, l / 2.0 - ro],
        Rotation::IDENTITY,
        st,
        "ring_end",
    ));
    for s in [-1.0, 1.0] {
        it.add(Part::cuboid(
            [t, 0.3 * w2, 0.9 * w2],
            [0.0, s * (0.225 * w2 + 0.15 * w2), -l / 2.0 + 0.45 * w2],
            st,
            "open_end",
        ));
    }
    it.add(Part::cuboid(
        [t, w2, 0.35 * w2],
        [0.0, 0.0, -l / 2.0 + 0.9 * w2 + 0.175 * w2],
        st,
        "head",
    ));
    let b0 = -l / 2.0 + 1.25 * w2;
    let b1 = l / 2.0 - 2.0 * ro;
    if b1 > b0 {
        it.add(Part::cuboid(
            [t, w, b1 - b0],
            [0.0, 0.0, 0.5 * (b0 + b1)],
            st,
            "bar",
        ));
    }
    it.feature("length", l).feature("thickness", t);
    it
}

/// Screwdriver: steel shaft with a flat tip through a plastic handle (a tube whose
/// bore is the shaft).
pub(crate) fn screwdriver(rng: &mut Pcg64) -> Item {
    let mut it = Item::new(ObjectClass::MetalOther, "screwdriver");
    let r = uniform(rng, 2.0, 4.0);
    let ls = uniform(rng, 75.0, 200.0);
    let lh = uniform(rng, 80.0, 110.0);
    let rh = uniform(rng, 11.0, 16.0);
    let x0 = -(lh + ls) / 2.0;
    it.add(Part::new(
        Shape::tube(rh, r, lh),
        [0.0, 0.0, x0 + lh / 2.0],
        along_x(),
        pick(
            rng,
            &[Material::Abs, Material::Pmma, Material::Polyethylene],
        ),
        "handle",
    ));
    it.add(Part::new(
        Shape::cylinder(r, lh + ls),
        [0.0, 0.0, x0 + (lh + ls) / 2.0],
        along_x(),
        Material::Steel,
        "shaft",
    ));
    it.add(Part::cuboid(
        [1.0, 2.0 * r, 8.0],
        [0.0, 0.0, x0 + lh + ls + 4.0],
        Material::Steel,
        "tip",
    ));
    it.feature("shaft_length", ls)
        .feature("shaft_diameter", 2.0 * r);
    it
}

/// Cutlery: a fork (handle, neck, head, four tines), a spoon (handle, neck, flat
/// bowl) or a table knife (blunt blade and handle), stainless steel.
pub(crate) fn cutlery(rng: &mut Pcg64) -> Item {
    let ss = Material::StainlessSteel;
    let t = uniform(rng, 1.5, 2.5);
    let lh = uniform(rng, 100.0, 130.0);
    match int(rng, 0, 2) {
        0 => {
            let mut it = Item::new(ObjectClass::MetalOther, "fork");
            it.add(Part::cuboid(
                [t, 12.0, lh],
                [0.0, 0.0, -lh / 2.0],
                ss,
                "handle",
            ));
            it.add(Part::cuboid([t, 7.0, 20.0], [0.0, 0.0, 10.0], ss, "neck"));
            it.add(Part::cuboid([t, 25.0, 15.0], [0.0, 0.0, 27.5], ss, "head"));
            for k in 0..4 {
                let y = -10.5 + 7.0 * k as f64;
                it.add(Part::cuboid([t, 3.0, 35.0], [0.0, y, 52.5], ss, "tine"));
            }
            it.feature("length", lh + 70.0);
            it
        }
        1 => {
            let mut it = Item::new(ObjectClass::MetalOther, "spoon");
            it.add(Part::cuboid(
                [t, 12.0, lh],
                [0.0, 0.0, -lh / 2.0],
                ss,
                "handle",
            ));
            it.add(Part::cuboid([t, 7.0, 20.0], [0.0, 0.0, 10.0], ss, "neck"));
            it.add(Part::new(
                Shape::ellipsoid(0.5 * t, 21.0, 30.0),
                [0.0, 0.0, 50.0],
                Rotation::IDENTITY,
                ss,
                "bowl",
            ));
            it.feature("length", lh + 80.0);
            it
        }
        _ => {
            let mut it = Item::new(ObjectClass::MetalOther, "table_knife");
            let lb = uniform(rng, 90.0, 115.0);
            let wb = uniform(rng, 15.0, 20.0);
            it.add(Part::cuboid([t, wb, lb], [0.0, 0.0, lb / 2.0], ss, "blade"));
            if uniform(rng, 0.0, 1.0) < 0.5 {
                it.add(Part::cuboid(
                    [8.0, 16.0, lh],
                    [0.0, 0.0, -lh / 2.0],
                    ss,
                    "handle",
                ));
            } else {
                it.add(Part::cuboid(
                    [t, 10.0, lh - 10.0],
                    [0.0, 0.0, -(lh - 10.0) / 2.0],
                    ss,
                    "tang",
                ));
                for s in [-1.0, 1.0] {
                    it.add(Part::cuboid(
                        [4.0, 16.0, lh],
                        [s * (t / 2.0 + 2.0), 0.0, -lh / 2.0],
                        Material::Abs,
                        "handle_scale",
                    ));
                }
            }
            it.feature("blade_length", lb)
                .feature("blade_width", wb)
                .feature("blade_thickness", t);
            it
        }
    }
}

/// A coin: a short cylinder 16–30 mm across, 1.5–2.5 mm thick, brass, copper, steel
/// or stainless (cupro-nickel-like).
pub(crate) fn coin(rng: &mut Pcg64) -> Item {
    let mut it = Item::new(ObjectClass::MetalOther, "coin");
    let r = uniform(rng, 8.0, 15.0);
    let t = uniform(rng, 1.5, 2.5);
    let m = pick(
        rng,
        &[
            Material::Brass,
            Material::Copper,
            Material::Steel,
            Material::StainlessSteel,
        ],
    );
    it.add(Part::new(
        Shape::cylinder(r, t),
        [0.0; 3],
        Rotation::IDENTITY,
        m,
        "coin",
    ));
    it.feature("diameter", 2.0 * r).feature("thickness", t);
    it
}

/// A key: a flat brass blade and a ring bow.
pub(crate) fn key(rng: &mut Pcg64) -> Item {
    let mut it = Item::new(ObjectClass::MetalOther, "key");
    let lb = uniform(rng, 30.0, 45.0);
    let t = uniform(rng, 2.0, 2.5);
    let m = pick(rng, &[Material::Brass, Material::Steel]);
    it.add(Part::cuboid([t, 8.0, lb], [0.0, 0.0, lb / 2.0], m, "blade"));
    it.add(Part::new(
        Shape::tube(12.0, 3.0, t),
        [0.0, 0.0, -12.0],
        Rotation::IDENTITY,
        m,
        "bow",
    ));
    it.feature("length", lb + 24.0);
    it
}

/// Ball bearing: steel outer and inner rings (tubes) with balls (spheres) between.
pub(crate) fn bearing(rng: &mut Pcg64) -> Item {
    let mut it = Item::new(ObjectClass::MetalOther, "ball_bearing");
    let ri = uniform(rng, 5.0, 25.0);
    let ro = 1.8 * ri + 6.0;
    let ring = 0.25 * (ro - ri);
    let gap = 0.5 * (ro - ri);
    let w = uniform(rng, 0.5, 0.8) * (ro - ri);
    let db = (gap - 0.4).min(w - 0.4);
    let rp = ri + ring + gap / 2.0;
    let st = Material::Steel;
    it.add(Part::new(
        Shape::tube(ro, ro - ring, w),
        [0.0; 3],
        Rotation::IDENTITY,
        st,
        "outer_ring",
    ));
    it.add(Part::new(
        Shape::tube(ri + ring, ri, w),
        [0.0; 3],
        Rotation::IDENTITY,
        st,
        "inner_ring",
    ));
    let n = ((std::f64::consts::TAU * rp) / (1.15 * db))
        .floor()
        .max(3.0) as usize;
    for k in 0..n {
        let a = std::f64::consts::TAU * k as f64 / n as f64;
        it.add(Part::new(
            Shape::sphere(db / 2.0),
            [0.0, rp * a.sin(), rp * a.cos()],
            Rotation::IDENTITY,
            st,
            "ball",
        ));
    }
    it.feature("bore_diameter", 2.0 * ri)
        .feature("outer_diameter", 2.0 * ro)
        .feature("width", w)
        .feature("balls", n as f64);
    it
}

/// Pipe fitting: a short steel, stainless or brass tube with a bore (a coupling), or
/// a nipple with a hexagon-sized collar (a wider coaxial tube section).
pub(crate) fn pipe_fitting(rng: &mut Pcg64) -> Item {
    let mut it = Item::new(ObjectClass::MetalOther, "pipe_fitting");
    let ro = uniform(rng, 10.0, 30.0);
    let wall = uniform(rng, 2.0, 5.0).min(0.4 * ro);
    let l = uniform(rng, 25.0, 80.0);
    let m = pick(
        rng,
        &[Material::Steel, Material::Brass, Material::StainlessSteel],
    );
    if uniform(rng, 0.0, 1.0) < 0.5 {
        it.add(Part::new(
            Shape::tube(ro, ro - wall, l),
            [0.0; 3],
            along_x(),
            m,
            "coupling",
        ));
    } else {
        let lc = 0.3 * l;
        it.add(Part::new(
            Shape::tube(ro * 1.25, ro - wall, lc),
            [0.0, 0.0, 0.0],
            along_x(),
            m,
            "collar",
        ));
        for s in [-1.0, 1.0] {
            it.add(Part::new(
                Shape::tube(ro, ro - wall, 0.35 * l),
                [0.0, 0.0, s * (lc / 2.0 + 0.175 * l)],
                along_x(),
                m,
                "thread",
            ));
        }
    }
    it.feature("outer_diameter", 2.0 * ro)
        .feature("bore_diameter", 2.0 * (ro - wall))
        .feature("length", l);
    it
}

/// Electric motor: aluminium or steel housing tube with end caps (bored for the
/// shaft), copper stator winding, steel rotor (a tube on the shaft) and shaft.
/// With `hollow_radius`/`hollow_length` set, the rotor and shaft are left out and the
/// winding's bore is at least that radius and the housing that long, to hide an
/// object inside.
pub(crate) fn motor_housing(rng: &mut Pcg64, hollow: Option<(f64, f64)>) -> Item {
    let mut it = Item::new(ObjectClass::MetalOther, "motor_housing");
    let (wind_in, l) = match hollow {
        Some((r, len)) => (r + uniform(rng, 1.0, 3.0), len + uniform(rng, 4.0, 20.0)),
        None => (uniform(rng, 12.0, 35.0), uniform(rng, 70.0, 200.0)),
    };
    let wind_out = wind_in + uniform(rng, 5.0, 12.0);
    let wall = uniform(rng, 2.0, 5.0);
    let ro = wind_out + 0.3 + wall;
    let m = pick(rng, &[Material::Aluminium, Material::Steel]);
    it.add(Part::new(
        Shape::tube(ro, ro - wall, l),
        [0.0; 3],
        along_x(),
        m,
        "housing",
    ));
    let shaft_r = uniform(rng, 3.0, 6.0).min(0.5 * wind_in);
    for s in [-1.0, 1.0] {
        it.add(Part::new(
            Shape::tube(ro, shaft_r + 1.0, 4.0),
            [0.0, 0.0, s * (l / 2.0 + 2.1)],
            along_x(),
            m,
            "end_cap",
        ));
    }
    let lw = if hollow.is_some() { l - 1.0 } else { 0.6 * l };
    it.add(Part::new(
        Shape::tube(wind_out, wind_in, lw),
        [0.0; 3],
        along_x(),
        Material::Copper,
        "winding",
    ));
    if hollow.is_none() {
        let rr = wind_in - 1.0;
        it.add(Part::new(
            Shape::tube(rr, shaft_r, 0.6 * l),
            [0.0; 3],
            along_x(),
            Material::Steel,
            "rotor",
        ));
        it.add(Part::new(
            Shape::cylinder(shaft_r, l + 30.0),
            [0.0; 3],
            along_x(),
            Material::Steel,
            "shaft",
        ));
    }
    it.feature("outer_diameter", 2.0 * ro)
        .feature("length", l + 8.2);
    it
}

/// An 18650 lithium-ion cell: 18 mm × 65 mm nickel-plated steel can (0.25 mm wall,
/// 0.3 mm end discs) around the cell contents.
pub(crate) fn battery_18650() -> Item {
    let mut it = Item::new(ObjectClass::MetalOther, "battery_18650");
    let r = 9.0;
    let l = 65.0;
    it.add(Part::new(
        Shape::tube(r, r - 0.25, l - 0.6),
        [0.0; 3],
        along_x(),
        Material::Steel,
        "can",
    ));
    for s in [-1.0, 1.0] {
        it.add(Part::new(
            Shape::cylinder(r, 0.3),
            [0.0, 0.0, s * (l / 2.0 - 0.15)],
            along_x(),
            Material::Steel,
            "can_end",
        ));
    }
    it.add(Part::new(
        Shape::cylinder(r - 0.3, l - 0.8),
        [0.0; 3],
        along_x(),
        Material::LiIonCell,
        "cell_contents",
    ));
    it.feature("diameter", 2.0 * r).feature("length", l);
    it
}

/// A cable: copper conductor in a PVC jacket, folded in 2–6 parallel runs.
pub(crate) fn cable(rng: &mut Pcg64) -> Item {
    let mut it = Item::new(ObjectClass::MetalOther, "cable");
    let rc = uniform(rng, 0.6, 1.5);
    let rj = rc + uniform(rng, 1.0, 2.5);
    let ls = uniform(rng, 80.0, 250.0);
    let n = int(rng, 2, 6);
    for k in 0..n {
        let y = k as f64 * (2.0 * rj + 1.0);
        it.add(Part::new(
            Shape::cylinder(rc, ls),
            [0.0, y, 0.0],
            along_x(),
            Material::Copper,
            "conductor",
        ));
        it.add(Part::new(
            Shape::tube(rj, rc, ls),
            [0.0, y, 0.0],
            along_x(),
            Material::Pvc,
            "jacket",
        ));
    }
    it.feature("conductor_diameter", 2.0 * rc)
        .feature("runs", n as f64);
    it
}

/// Electronics (power bank, router): an ABS housing with a circuit board and 0–4
/// 18650 cells side by side. Returns the housing first, then one item per cell.
pub(crate) fn electronics(rng: &mut Pcg64) -> Vec<Item> {
    let t = 2.0;
    let cells = int(rng, 0, 4);
    let dz = uniform(rng, 24.0, 35.0);
    let dy = uniform(rng, 60.0, 95.0).max(cells as f64 * 18.3 + 2.0 * t + 1.0);
    let dx = uniform(rng, 100.0, 170.0);
    let mut housing = Item::new(ObjectClass::Clutter, "electronics");
    housing.parts = shell([dz, dy, dx], t, [0.0; 3], Material::Abs, "housing");
    let (x_in0, x_in1) = (-dx / 2.0 + t, dx / 2.0 - t);
    let pcb_len = (x_in1 - x_in0 - 66.0).max(10.0).min(0.4 * dx);
    housing.add(Part::cuboid(
        [1.6, dy - 2.0 * t - 1.0, pcb_len],
        [0.0, 0.0, x_in1 - 0.3 - pcb_len / 2.0],
        Material::Fr4,
        "circuit_board",
    ));
    housing.add(Part::cuboid(
        [4.0, 10.0, 12.0],
        [-0.8 - 2.0 - 0.05, 0.0, x_in1 - 0.3 - pcb_len / 2.0],
        Material::Aluminium,
        "component",
    ));
    housing.feature("cells", cells as f64);
    let mut items = vec![housing];
    let x_cell = x_in0 + 0.3 + 32.5;
    for k in 0..cells {
        let y = (k as f64 - (cells as f64 - 1.0) / 2.0) * 18.3;
        let b = battery_18650().shifted([0.0, y, x_cell]);
        items.push(b);
    }
    items
}

/// Folded clothes (a cotton block) or a rolled garment (a cotton cylinder).
pub(crate) fn clothes(rng: &mut Pcg64) -> Item {
    let mut it = Item::new(ObjectClass::Clutter, "clothes");
    if uniform(rng, 0.0, 1.0) < 0.7 {
        let s = [
            uniform(rng, 20.0, 80.0),
            uniform(rng, 120.0, 300.0),
            uniform(rng, 150.0, 350.0),
        ];
        it.add(Part::cuboid(s, [0.0; 3], Material::Cotton, "folded"));
    } else {
        let r = uniform(rng, 30.0, 60.0);
        let l = uniform(rng, 150.0, 300.0);
        it.add(Part::new(
            Shape::cylinder(r, l),
            [0.0; 3],
            along_x(),
            Material::Cotton,
            "rolled",
        ));
    }
    it
}

/// A book or magazine (a paper block).
pub(crate) fn book(rng: &mut Pcg64) -> Item {
    let mut it = Item::new(ObjectClass::Clutter, "book");
    let s = [
        uniform(rng, 5.0, 50.0),
        uniform(rng, 130.0, 220.0),
        uniform(rng, 180.0, 290.0),
    ];
    it.add(Part::cuboid(s, [0.0; 3], Material::Paper, "pages"));
    it
}

/// A bottle of water: glass (3 mm walls, 5 mm base) or PET (0.35 mm walls), body,
/// shoulder ring, neck, cap, and the liquid filling 60–100 % from the base.
pub(crate) fn bottle(rng: &mut Pcg64) -> Item {
    let mut it = Item::new(ObjectClass::Clutter, "bottle");
    let glass = uniform(rng, 0.0, 1.0) < 0.5;
    let (m, wall, base) = if glass {
        (Material::Glass, uniform(rng, 2.5, 4.0), 5.0)
    } else {
        (Material::Pet, 0.35, 2.0)
    };
    let r = uniform(rng, 30.0, 45.0);
    let h = uniform(rng, 150.0, 300.0);
    let rn = 13.0;
    let ln = 35.0;
    let body = h - ln - 12.0;
    let x0 = -h / 2.0;
    let rx = along_x();
    it.add(Part::new(
        Shape::cylinder(r, base),
        [0.0, 0.0, x0 + base / 2.0],
        rx,
        m,
        "base",
    ));
    it.add(Part::new(
        Shape::tube(r, r - wall, body - base),
        [0.0, 0.0, x0 + base + (body - base) / 2.0],
        rx,
        m,
        "body",
    ));
    it.add(Part::new(
        Shape::tube(r, rn, wall),
        [0.0, 0.0, x0 + body + wall / 2.0],
        rx,
        m,
        "shoulder",
    ));
    it.add(Part::new(
        Shape::tube(rn, rn - wall.min(3.0), ln),
        [0.0, 0.0, x0 + body + wall + ln / 2.0],
        rx,
        m,
        "neck",
    ));
    it.add(Part::new(
        Shape::cylinder(rn + 1.5, 12.0 - wall),
        [0.0, 0.0, x0 + body + wall + ln + (12.0 - wall) / 2.0],
        rx,
        Material::Polyethylene,
        "cap",
    ));
    let fill = uniform(rng, 0.6, 1.0) * (body - base);
    it.add(Part::new(
        Shape::cylinder(r - wall - 0.05, fill),
        [0.0, 0.0, x0 + base + fill / 2.0],
        rx,
        Material::Water,
        "liquid",
    ));
    it.feature("diameter", 2.0 * r)
        .feature("liquid_length", fill);
    it
}

/// A shoe: rubber sole and heel, leather upper sides.
pub(crate) fn shoe(rng: &mut Pcg64) -> Item {
    let mut it = Item::new(ObjectClass::Clutter, "shoe");
    let l = uniform(rng, 240.0, 300.0);
    let w = uniform(rng, 85.0, 105.0);
    let ts = uniform(rng, 10.0, 25.0);
    it.add(Part::cuboid(
        [w, ts, l],
        [0.0, 0.0, 0.0],
        Material::Rubber,
        "sole",
    ));
    it.add(Part::cuboid(
        [w - 10.0, 15.0, 70.0],
        [0.0, ts / 2.0 + 7.5, -l / 2.0 + 35.0],
        Material::Rubber,
        "heel",
    ));
    let hu = uniform(rng, 50.0, 90.0);
    for s in [-1.0, 1.0] {
        it.add(Part::cuboid(
            [2.5, hu, l - 80.0],
            [s * (w / 2.0 - 1.25), ts / 2.0 + hu / 2.0, 35.0],
            Material::Leather,
            "upper",
        ));
    }
    it
}

/// The parcel's outer container of outer sizes `d` `(z, y, x)`: a corrugated
/// cardboard box (3–5 mm walls), a padded envelope (0.3 mm paper over 4 mm bubble
/// wrap) or a polythene mailing bag (0.1 mm).
pub(crate) fn container(rng: &mut Pcg64, kind: super::ContainerKind, d: [f64; 3]) -> (Item, f64) {
    use super::ContainerKind;
    match kind {
        ContainerKind::PaddedEnvelope => {
            let mut it = Item::new(ObjectClass::Container, "padded_envelope");
            it.parts = shell(d, 0.3, [0.0; 3], Material::Paper, "paper");
            let inner = d.map(|x| x - 0.6);
            it.parts.extend(shell(
                inner,
                4.0,
                [0.0; 3],
                Material::BubbleWrap,
                "bubble_wrap",
            ));
            it.feature("wall", 4.3);
            (it, 4.3)
        }
        ContainerKind::Polybag => {
            let mut it = Item::new(ObjectClass::Container, "polybag");
            it.parts = shell(d, 0.1, [0.0; 3], Material::Polyethylene, "film");
            it.feature("wall", 0.1);
            (it, 0.1)
        }
        _ => {
            let t = uniform(rng, 3.0, 5.0);
            let mut it = Item::new(ObjectClass::Container, "cardboard_box");
            it.parts = shell(d, t, [0.0; 3], Material::Cardboard, "cardboard");
            it.feature("wall", t);
            (it, t)
        }
    }
}
