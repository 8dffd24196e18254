//! The seeded parcel generator: a box or envelope of clutter, benign metal and
//! threats with real dimensions and materials, and the ground truth of every object.
//!
//! [`parcel`] draws everything from one `Pcg64` seeded by `seed`, in a fixed order, so
//! the same seed and options give the same parcel on any machine and thread count.
//!
//! ## World frame
//!
//! The container is centred on the origin with its length along world z (the belt /
//! rotation axis), height along y and width along x: `extent_mm = (length, height,
//! width)`.
//!
//! ## Composition
//!
//! 1. Threats: the requested kinds ([`Threats::Kinds`]) or, for [`Threats::Random`],
//!    none with probability 1/4, else 1–3 distinct kinds. A firearm part (barrel,
//!    slide, bolt, magazine, receiver) is hidden inside an electric motor housing with
//!    probability `hide_probability` (its truth then has `hidden_in`); any other
//!    threat is, with the same probability, surrounded by 2–3 hand tools.
//! 2. The container: a cardboard box (200–600 × 120–350 × 150–450 mm, walls 3–5 mm),
//!    a padded envelope (250–450 × 40–80 × 180–320 mm) or a polythene bag; grown if a
//!    threat would not fit, capped by `max_extent_mm`.
//! 3. Placement: threats first, then benign metal, then clutter, each with a
//!    uniformly random rotation and position inside the container, rejected if its
//!    parts' oriented bounding boxes come within 0.3 mm of anything placed (objects
//!    never overlap, so μ never double counts). Threats fall back to poses aligning
//!    their longest axis with the container's when random poses keep failing.
//!    Loose cartridges (5–50) scatter around a random point, each on its own.
//!
//! ## Object kinds (`GroundTruthObject::kind`) and their geometry
//!
//! Sizes in mm; "tube" = cylinder with a coaxial bore right through.
//!
//! | kind | class | geometry |
//! | --- | --- | --- |
//! | `pistol_polymer` | firearm | steel slide 165–200 long, 26–31 high, 23–28 wide, built as a U-channel (top plate + two side walls) with a breech block and sights; steel barrel tube Ø13–14.4, bore 9.0, 100–117 long inside the channel; glass-filled nylon frame (dust cover sides + floor) holding a steel trigger housing, recoil spring (thin steel tube) and guide rod; hollow grip (side walls + straps) at 105–112° to the bore axis holding a steel double-stack magazine (0.8 mm walls, follower, spring, 0–17 rounds of 9×19); trigger guard and trigger |
//! | `pistol_steel` | firearm | the same layout with a steel frame and straps, wooden grip panels, steel trigger |
//! | `revolver` | firearm | six steel chamber tubes (bore 9.7, Ø12.4) on a 12.5 mm pitch circle around an ejector tube, 39.5–42 long, each loaded with a .38 Special round with probability 0.8; steel top strap, bottom strap, recoil shield, front block; barrel tube Ø15–18, bore 9.0, 50–155 long, on the top chamber's axis, underlug when > 60; steel grip frame with wooden panels at 15–25° tilt; hammer, trigger, guard |
//! | `barrel` | firearm_part | steel tube 100–400 long, bore 5.56/7.62/9.0/11.43, wall 2.5–4 (≤ 200 long) or 4.5–8; a wider chamber section (20 % of the length, ≤ 55) at the breech; rifle barrels (> 250) add a gas-block collar and a front-sight block |
//! | `slide` | firearm_part | the pistol slide alone (U-channel, breech block, sights, no barrel) |
//! | `bolt` | firearm_part | bolt-action bolt (tube Ø17–19 with firing pin, two locking lugs, a perpendicular handle Ø8 with a ball knob Ø18, a shroud) or an AR-15 bolt carrier (tube Ø25.2, bore 13.2, 165–175 long, with bolt tube, firing pin and gas key) |
//! | `magazine` | firearm_part | 9×19 steel double-stack box 108–125 long, or 5.56×45 aluminium box 150–190 long, loaded 0–capacity |
//! | `receiver` | firearm_part | AR-15 lower (aluminium magazine-well shell 26×65×66 with 2.5 mm walls, fire-control pocket walls and floor, trigger guard, buffer tube Ø29.4, 160–200 long) or stamped AK receiver (1 mm steel side plates 45 high and floor, 230–250 long, front and rear trunnion blocks) |
//! | `cartridge_9x19` | ammunition | brass case Ø9.93 × 19.15 (3.0 solid head + 0.4 wall tube), propellant, lead core in a copper jacket Ø9.02 with a stepped nose; 29.69 overall. Loose: 5–50 around one point; boxed: 30–50 upright in a 5 × 10 grid |
//! | `cartridge_box` | container | 1 mm paperboard box around the boxed rounds |
//! | `knife` | blade | steel blade 80–250 long, 20–40 wide, 2–4 thick (main section + narrower tip on the spine side), optional crossguard, full tang between two handle scales (wood, ABS or rubber) 90–130 long |
//! | `pliers` | metal_other | two steel bars (handle + jaw), 150–220 long, crossed at 3–12°, one above the other |
//! | `spanner` | metal_other | flat steel bar 100–300 long, 4–7 thick, ring end (short tube across the bar), open end (head + two prongs) |
//! | `screwdriver` | metal_other | steel shaft Ø4–8, 75–200 long past a plastic handle tube Ø22–32 it runs through, flat tip |
//! | `fork`, `spoon`, `table_knife` | metal_other | stainless handle 100–130 + neck + head with 4 tines / flat bowl / blunt blade 90–115 × 15–20 × 1.5–2.5 |
//! | `coin` | metal_other | disc Ø16–30 × 1.5–2.5, brass, copper, steel or stainless; 1–8 together |
//! | `key` | metal_other | brass or steel blade 30–45 × 8 × 2–2.5 with a ring bow Ø24 |
//! | `ball_bearing` | metal_other | steel outer and inner ring tubes (bore Ø10–50) with balls between |
//! | `pipe_fitting` | metal_other | steel, brass or stainless tube Ø20–60, wall 2–5, 25–80 long (coupling), or a nipple with a wider collar |
//! | `motor_housing` | metal_other | aluminium or steel housing tube with bored end caps, copper winding tube, steel rotor tube on a steel shaft; hollow (no rotor/shaft) when something is hidden inside |
//! | `battery_18650` | metal_other | steel can Ø18 × 65 (0.25 wall, 0.3 end discs) around Li-ion cell contents (2.6 g/cm³) |
//! | `cable` | metal_other | copper conductor Ø1.2–3 in a PVC jacket, 2–6 parallel runs 80–250 long |
//! | `electronics` | clutter | ABS housing (2 mm walls) with an FR-4 board, an aluminium component and 0–4 18650 cells (separate objects) |
//! | `clothes` | clutter | cotton block (folded, 0.25 g/cm³) or cylinder (rolled) |
//! | `book` | clutter | paper block 5–50 thick |
//! | `bottle` | clutter | glass (2.5–4 wall) or PET (0.35 wall) bottle Ø60–90, 150–300 tall: base, body tube, shoulder ring, neck, PE cap, water filling 60–100 % from the base |
//! | `shoe` | clutter | rubber sole and heel, leather upper sides; in pairs |
//! | `cardboard_box`, `padded_envelope`, `polybag` | container | six walls: corrugated board 3–5 (0.15 g/cm³); 0.3 paper over 4 bubble wrap; 0.1 polythene |
//!
//! Thin coil springs are thin steel tubes with the coil's mass per length.

mod benign;
mod build;
mod threats;

use ndarray::Array3;
use rand::SeedableRng;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

use self::build::{centre_group, group_aabb, int, uniform, Item, Placement, Space};
use super::shapes::Rotation;
use super::{Attenuation, ObjectClass, Phantom};
use crate::physics::Material;
use crate::{Error, Result, Volume};

/// The kinds of threat the generator can put in a parcel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThreatKind {
    /// Semi-automatic pistol with a glass-filled nylon frame, steel slide, barrel,
    /// magazine (loaded with 9×19) and springs. Class firearm, kind `pistol_polymer`.
    PistolPolymer,
    /// The same layout with a steel frame and wooden grip panels (`pistol_steel`).
    PistolSteel,
    /// Six-chamber revolver, steel (`revolver`).
    Revolver,
    /// A barrel on its own, 100–400 mm, bore 5.56–11.43 mm (`barrel`).
    Barrel,
    /// A pistol slide on its own (`slide`).
    Slide,
    /// A rifle bolt or bolt carrier group (`bolt`).
    Bolt,
    /// A pistol or rifle box magazine, possibly loaded (`magazine`).
    Magazine,
    /// An AR-15 lower or stamped AK receiver (`receiver`).
    Receiver,
    /// 5–50 loose 9×19 cartridges scattered together (`cartridge_9x19` each).
    CartridgesLoose,
    /// A box of 30–50 9×19 cartridges standing in rows (`cartridge_box` + cartridges).
    CartridgesBoxed,
    /// A knife with a 80–250 mm blade (`knife`).
    Knife,
}

impl ThreatKind {
    /// Every kind.
    pub const ALL: &'static [ThreatKind] = &[
        ThreatKind::PistolPolymer,
        ThreatKind::PistolSteel,
        ThreatKind::Revolver,
        ThreatKind::Barrel,
        ThreatKind::Slide,
        ThreatKind::Bolt,
        ThreatKind::Magazine,
        ThreatKind::Receiver,
        ThreatKind::CartridgesLoose,
        ThreatKind::CartridgesBoxed,
        ThreatKind::Knife,
    ];

    /// The snake-case name (`"pistol_polymer"`, `"cartridges_loose"` …).
    pub fn name(self) -> &'static str {
        match self {
            ThreatKind::PistolPolymer => "pistol_polymer",
            ThreatKind::PistolSteel => "pistol_steel",
            ThreatKind::Revolver => "revolver",
            ThreatKind::Barrel => "barrel",
            ThreatKind::Slide => "slide",
            ThreatKind::Bolt => "bolt",
            ThreatKind::Magazine => "magazine",
            ThreatKind::Receiver => "receiver",
            ThreatKind::CartridgesLoose => "cartridges_loose",
            ThreatKind::CartridgesBoxed => "cartridges_boxed",
            ThreatKind::Knife => "knife",
        }
    }

    /// Parses a name; also accepts `pistol` (polymer frame), `cartridges`, `ammo`,
    /// `ammunition` (loose) and `blade` (knife).
    ///
    /// **Errors** naming the unknown kind and listing the known ones.
    pub fn from_name(name: &str) -> Result<Self> {
        let n = name.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        let alias = match n.as_str() {
            "pistol" => Some(ThreatKind::PistolPolymer),
            "cartridges" | "ammo" | "ammunition" | "cartridge" => Some(ThreatKind::CartridgesLoose),
            "blade" => Some(ThreatKind::Knife),
            _ => None,
        };
        if let Some(k) = alias {
            return Ok(k);
        }
        ThreatKind::ALL
            .iter()
            .copied()
            .find(|k| k.name() == n)
            .ok_or_else(|| {
                let known: Vec<&str> = ThreatKind::ALL.iter().map(|k| k.name()).collect();
                Error::invalid(
                    "threats",
                    name,
                    format!("\"random\" or kinds among {} (or pistol)", known.join(", ")),
                )
            })
    }

    /// The class of the main object this kind produces.
    pub fn class(self) -> ObjectClass {
        match self {
            ThreatKind::PistolPolymer | ThreatKind::PistolSteel | ThreatKind::Revolver => {
                ObjectClass::Firearm
            }
            ThreatKind::Barrel
            | ThreatKind::Slide
            | ThreatKind::Bolt
            | ThreatKind::Magazine
            | ThreatKind::Receiver => ObjectClass::FirearmPart,
            ThreatKind::CartridgesLoose | ThreatKind::CartridgesBoxed => ObjectClass::Ammunition,
            ThreatKind::Knife => ObjectClass::Blade,
        }
    }
}

/// Which threats a parcel holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Threats {
    /// None with probability 1/4, else 1–3 distinct kinds drawn uniformly.
    Random,
    /// Exactly these (an empty list gives a benign parcel).
    Kinds(Vec<ThreatKind>),
}

/// The outer packaging.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainerKind {
    /// Box 60 %, padded envelope 25 %, polythene bag 15 %.
    Random,
    /// Corrugated cardboard box.
    Box,
    /// Padded (bubble) envelope.
    PaddedEnvelope,
    /// Polythene mailing bag.
    Polybag,
}

impl ContainerKind {
    /// `"random"`, `"box"`, `"padded_envelope"`, `"polybag"`.
    pub fn name(self) -> &'static str {
        match self {
            ContainerKind::Random => "random",
            ContainerKind::Box => "box",
            ContainerKind::PaddedEnvelope => "padded_envelope",
            ContainerKind::Polybag => "polybag",
        }
    }

    /// Parses a name (`envelope` is accepted for the padded envelope, `bag` for the
    /// polybag).
    ///
    /// **Errors** on an unknown name.
    pub fn from_name(name: &str) -> Result<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "random" => Ok(ContainerKind::Random),
            "box" | "cardboard_box" => Ok(ContainerKind::Box),
            "padded_envelope" | "envelope" => Ok(ContainerKind::PaddedEnvelope),
            "polybag" | "bag" => Ok(ContainerKind::Polybag),
            _ => Err(Error::invalid(
                "container",
                name,
                "random, box, padded_envelope or polybag",
            )),
        }
    }
}

/// Options of [`parcel`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParcelOptions {
    /// Which threats. Default [`Threats::Random`].
    pub threats: Threats,
    /// Add benign hard metal (tools, cutlery, coins, keys, machine parts). Default on.
    pub hard_benign: bool,
    /// Packaging. Default random.
    pub container: ContainerKind,
    /// Cap on every outer dimension of the container, mm (for small test volumes);
    /// `None` for realistic sizes up to 600 mm.
    pub max_extent_mm: Option<f64>,
    /// Amount of clutter relative to the default (0 = none). Default 1.
    pub clutter: f64,
    /// Probability that a threat is hidden in benign metal. Default 0.3.
    pub hide_probability: f64,
}

impl Default for ParcelOptions {
    fn default() -> Self {
        Self {
            threats: Threats::Random,
            hard_benign: true,
            container: ContainerKind::Random,
            max_extent_mm: None,
            clutter: 1.0,
            hide_probability: 0.3,
        }
    }
}

impl ParcelOptions {
    fn validate(&self) -> Result<()> {
        if let Some(m) = self.max_extent_mm {
            if !m.is_finite() || m < 60.0 {
                return Err(Error::invalid(
                    "max_extent_mm",
                    m,
                    "a finite size ≥ 60 mm (or None)",
                ));
            }
        }
        if !self.clutter.is_finite() || !(0.0..=10.0).contains(&self.clutter) {
            return Err(Error::invalid("clutter", self.clutter, "a factor in 0–10"));
        }
        if !self.hide_probability.is_finite() || !(0.0..=1.0).contains(&self.hide_probability) {
            return Err(Error::invalid(
                "hide_probability",
                self.hide_probability,
                "a probability in 0–1",
            ));
        }
        Ok(())
    }
}

/// The truth about one object of a parcel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroundTruthObject {
    /// Its label in the phantom and in [`Parcel::truth_labels`] (1..N, dense).
    pub label: u32,
    /// Its class.
    pub class: ObjectClass,
    /// What it is (`"pistol_polymer"`, `"cartridge_9x19"`, `"spanner"` …).
    pub kind: String,
    /// The material making up most of its mass.
    pub material: Material,
    /// World bounding box `(z0, y0, x0, z1, y1, x1)` mm (tight around its solids).
    pub bbox_mm: [f64; 6],
    /// Centre of the bounding box, world `(z, y, x)` mm.
    pub center_mm: [f64; 3],
    /// Its extents along its own axes, largest first, mm.
    pub size_mm: [f64; 3],
    /// Volume of its solids, mm³.
    pub volume_mm3: f64,
    /// Mass, g.
    pub mass_g: f64,
    /// Label of the first object of its batch (cartridges of one handful or box).
    pub group: Option<u32>,
    /// Label of the object it is hidden inside.
    pub hidden_in: Option<u32>,
    /// Named dimensions (mm unless named otherwise): `bore_diameter`, `length`,
    /// `grip_angle_deg`, `rounds` …
    pub features: Vec<(String, f64)>,
}

/// A generated parcel: its phantom and the truth about every object in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parcel {
    /// The seed it was generated from.
    pub seed: u64,
    /// The options it was generated with.
    pub options: ParcelOptions,
    /// The container actually drawn.
    pub container: ContainerKind,
    /// Outer size of the container `(length z, height y, width x)`, mm.
    pub extent_mm: [f64; 3],
    /// The analytic scene.
    pub phantom: Phantom,
    /// One entry per object, in label order.
    pub objects: Vec<GroundTruthObject>,
}

impl Parcel {
    /// μ at `energy_kev` on a centred grid ([`Phantom::voxelize`]).
    ///
    /// **Errors** as [`Phantom::voxelize`].
    pub fn voxelize(
        &self,
        shape: [usize; 3],
        spacing_mm: [f64; 3],
        energy_kev: f64,
        supersample: usize,
    ) -> Result<Volume> {
        self.phantom
            .voxelize(shape, spacing_mm, energy_kev, supersample)
    }

    /// Ground-truth label grid ([`Phantom::voxelize_labels`]); labels index
    /// [`Parcel::objects`] (`objects[label - 1]`).
    ///
    /// **Errors** as [`Phantom::voxelize_labels`].
    pub fn truth_labels(&self, shape: [usize; 3], spacing_mm: [f64; 3]) -> Result<Array3<u32>> {
        self.phantom.voxelize_labels(shape, spacing_mm)
    }

    /// The object with this label.
    pub fn object(&self, label: u32) -> Option<&GroundTruthObject> {
        self.objects.get((label as usize).checked_sub(1)?)
    }

    /// The objects a detector should find (firearms, parts, ammunition, blades).
    pub fn threats(&self) -> impl Iterator<Item = &GroundTruthObject> {
        self.objects.iter().filter(|o| o.class.is_threat())
    }
}

/// The effective energy (keV) of the default 120 kVp spectrum
/// ([`crate::physics::SimulateOptions::default`]), at which ground truth is usually
/// voxelised.
pub fn default_energy_kev() -> f64 {
    crate::physics::SimulateOptions::default()
        .spectrum()
        .map(|s| s.effective_energy_kev())
        .unwrap_or(70.0)
}

/// Generates the parcel of `seed` (see the module docs).
///
/// With `max_extent_mm`, threats drawn longer than the cap allows are drawn again (up
/// to 40 tries), so the cap trims the tail of the threat sizes rather than failing.
///
/// **Errors** if an option is out of range, or the requested threats cannot fit in a
/// container capped at `max_extent_mm`.
///
/// # Example
/// ```
/// use ctscreen::phantom::{parcel, ParcelOptions, ThreatKind, Threats, ObjectClass};
/// let opts = ParcelOptions { threats: Threats::Kinds(vec![ThreatKind::PistolPolymer]), ..Default::default() };
/// let p = parcel(7, &opts).unwrap();
/// assert!(p.objects.iter().any(|o| o.class == ObjectClass::Firearm));
/// assert_eq!(p, parcel(7, &opts).unwrap());
/// ```
pub fn parcel(seed: u64, options: &ParcelOptions) -> Result<Parcel> {
    options.validate()?;
    let mut grow = 1.0;
    let mut last = None;
    for attempt in 0..CAPPED_ATTEMPTS {
        match compose(seed, attempt, options, grow)? {
            Ok(p) => return Ok(p),
            Err(e) => {
                // A threat drawn longer than the cap allows is redrawn (each try draws
                // anew), so a cap shortens the long tail of threat sizes instead of
                // failing (1 % of knife or receiver parcels at 300 mm did after six
                // tries, which stopped `ctscreen evaluate`); a placement failure gives
                // up after the growing tries.
                let over_cap =
                    matches!(&e, Error::InvalidParameter { name, .. } if name == "max_extent_mm");
                last = Some(e);
                if attempt + 1 >= GROWING_ATTEMPTS && !over_cap {
                    break;
                }
            }
        }
        grow *= 1.15;
    }
    Err(last.unwrap_or_else(|| Error::invalid("threats", "?", "threats that fit")))
}

/// Tries of [`parcel`], each with a fresh draw and a 15 % larger container.
const GROWING_ATTEMPTS: u64 = 6;
/// Tries while the threats drawn are too long for `max_extent_mm`.
const CAPPED_ATTEMPTS: u64 = 40;

/// How a pending threat is to be placed.
enum Plan {
    /// A group placed as one rigid body; `tools` adds hand tools around it.
    Group { items: Vec<Item>, tools: bool },
    /// Loose cartridges scattered around one point.
    Loose { n: usize },
}

/// One composition try. The outer `Result` carries option errors, the inner one a
/// failure to fit the threats (retried in a bigger container).
fn compose(seed: u64, attempt: u64, options: &ParcelOptions, grow: f64) -> Result<Result<Parcel>> {
    let mut rng = Pcg64::seed_from_u64(seed ^ attempt.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let kinds = match &options.threats {
        Threats::Kinds(k) => k.clone(),
        Threats::Random => {
            if uniform(&mut rng, 0.0, 1.0) < 0.25 {
                Vec::new()
            } else {
                let n = int(&mut rng, 1, 3);
                let mut pool: Vec<ThreatKind> = ThreatKind::ALL.to_vec();
                let mut out = Vec::new();
                for _ in 0..n {
                    let i = int(&mut rng, 0, pool.len() - 1);
                    out.push(pool.remove(i));
                }
                out
            }
        }
    };
    let mut plans: Vec<Plan> = Vec::new();
    for &k in &kinds {
        plans.push(threat_plan(&mut rng, k, options.hide_probability));
    }
    // Container size: random, grown so every threat fits when aligned.
    let container = match options.container {
        ContainerKind::Random => {
            let u = uniform(&mut rng, 0.0, 1.0);
            if u < 0.6 {
                ContainerKind::Box
            } else if u < 0.85 {
                ContainerKind::PaddedEnvelope
            } else {
                ContainerKind::Polybag
            }
        }
        k => k,
    };
    let mut outer = match container {
        ContainerKind::PaddedEnvelope => [
            uniform(&mut rng, 250.0, 450.0),
            uniform(&mut rng, 40.0, 80.0),
            uniform(&mut rng, 180.0, 320.0),
        ],
        ContainerKind::Polybag => [
            uniform(&mut rng, 250.0, 500.0),
            uniform(&mut rng, 60.0, 150.0),
            uniform(&mut rng, 200.0, 380.0),
        ],
        _ => {
            let l = uniform(&mut rng, 200.0, 600.0);
            [
                l,
                uniform(&mut rng, 120.0, 350.0),
                uniform(&mut rng, 150.0, 450.0f64.min(l)),
            ]
        }
    };
    outer = outer.map(|d| d * grow);
    let (mut container_item, wall) = benign::container(&mut rng, container, outer);
    let mut need = [0.0f64; 3];
    for plan in &plans {
        let e = match plan {
            Plan::Group { items, .. } => {
                let b = group_aabb(items);
                let mut e: Vec<f64> = (0..3).map(|a| b[1][a] - b[0][a]).collect();
                e.sort_by(|a, b| b.total_cmp(a));
                [e[0], e[1], e[2]]
            }
            Plan::Loose { .. } => [threats::C9X19.oal, 10.0, 10.0],
        };
        for i in 0..3 {
            need[i] = need[i].max(e[i] + 4.0);
        }
    }
    let mut order: Vec<usize> = (0..3).collect();
    order.sort_by(|&i, &j| outer[j].total_cmp(&outer[i]));
    for (rank, &axis) in order.iter().enumerate() {
        let inner = outer[axis] - 2.0 * wall - 2.0;
        if inner < need[rank] {
            outer[axis] = need[rank] + 2.0 * wall + 2.0;
        }
    }
    if let Some(cap) = options.max_extent_mm {
        for (axis, d) in outer.iter_mut().enumerate() {
            if *d > cap {
                let rank = order.iter().position(|&a| a == axis).unwrap_or(0);
                if need[rank] + 2.0 * wall + 2.0 > cap {
                    return Ok(Err(Error::invalid(
                        "max_extent_mm",
                        cap,
                        format!(
                            "at least {:.0} mm to fit the requested threats",
                            need[rank] + 2.0 * wall + 2.0
                        ),
                    )));
                }
                *d = cap;
            }
        }
    }
    // Rebuild the container at the final size (same kind, same wall draw order).
    let (ci, _) = benign::container(&mut rng, container, outer);
    container_item.parts = ci.parts;
    let half: [f64; 3] = std::array::from_fn(|a| outer[a] / 2.0 - wall - 0.5);
    let mut space = Space::new([half.map(|h| -h), half]);
    let mut placed: Vec<Vec<Item>> = vec![vec![container_item]];

    // Threats, largest first.
    plans.sort_by(|a, b| plan_size(b).total_cmp(&plan_size(a)));
    for plan in plans {
        match plan {
            Plan::Group { items, tools } => {
                let how = Placement {
                    near: None,
                    attempts: 400,
                    align_fallback: true,
                };
                let Some(g) = space.place(&mut rng, &items, how) else {
                    return Ok(Err(Error::invalid(
                        "threats",
                        items[0].kind,
                        "a container large enough (raise max_extent_mm)",
                    )));
                };
                let centre = bbox_centre(&g);
                placed.push(g);
                if tools {
                    for _ in 0..int(&mut rng, 2, 3) {
                        let tool = match int(&mut rng, 0, 2) {
                            0 => benign::pliers(&mut rng),
                            1 => benign::spanner(&mut rng),
                            _ => benign::screwdriver(&mut rng),
                        };
                        let how = Placement {
                            near: Some((centre, 110.0)),
                            attempts: 60,
                            align_fallback: false,
                        };
                        if let Some(g) = space.place(&mut rng, &[centre_item(tool)], how) {
                            placed.push(g);
                        }
                    }
                }
            }
            Plan::Loose { n } => {
                let key = placed.len() as u64;
                let mut any = false;
                // A handful around one point; move the point if it is crowded.
                for _ in 0..5 {
                    let c: [f64; 3] = std::array::from_fn(|a| {
                        uniform(&mut rng, space.interior[0][a], space.interior[1][a])
                    });
                    let r = 25.0 + 4.0 * n as f64;
                    for _ in 0..n {
                        let mut item = centre_item(threats::cartridge(&threats::C9X19));
                        item.batch_key = Some(key);
                        let how = Placement {
                            near: Some((c, r)),
                            attempts: 40,
                            align_fallback: false,
                        };
                        if let Some(g) = space.place(&mut rng, std::slice::from_ref(&item), how) {
                            any = true;
                            placed.push(g);
                        }
                    }
                    if any {
                        break;
                    }
                }
                if !any {
                    return Ok(Err(Error::invalid(
                        "threats",
                        "cartridges_loose",
                        "a container large enough (raise max_extent_mm)",
                    )));
                }
            }
        }
    }

    // Benign hard metal.
    let interior_volume: f64 = (0..3)
        .map(|a| space.interior[1][a] - space.interior[0][a])
        .product();
    let vol_scale = (interior_volume / 1.0e7).clamp(0.3, 3.0);
    if options.hard_benign {
        let n = ((int(&mut rng, 2, 7) as f64) * vol_scale).round().max(1.0) as usize;
        for _ in 0..n {
            let groups: Vec<Vec<Item>> = match int(&mut rng, 0, 10) {
                0 => vec![vec![benign::pliers(&mut rng)]],
                1 => vec![vec![benign::spanner(&mut rng)]],
                2 => vec![vec![benign::screwdriver(&mut rng)]],
                3 | 4 => vec![vec![benign::cutlery(&mut rng)]],
                5 => (0..int(&mut rng, 1, 8))
                    .map(|_| vec![benign::coin(&mut rng)])
                    .collect(),
                6 => vec![vec![benign::key(&mut rng)]],
                7 => vec![vec![benign::bearing(&mut rng)]],
                8 => vec![vec![benign::pipe_fitting(&mut rng)]],
                9 => vec![vec![benign::motor_housing(&mut rng, None)]],
                _ => vec![vec![benign::cable(&mut rng)]],
            };
            let mut near = None;
            for g in groups {
                let g = centre_group(g);
                let how = Placement {
                    near,
                    attempts: 60,
                    align_fallback: false,
                };
                if let Some(p) = space.place(&mut rng, &g, how) {
                    near = near.or(Some((bbox_centre(&p), 60.0)));
                    placed.push(p);
                }
            }
        }
    }

    // Clutter.
    let n_clutter = (options.clutter * interior_volume / 3.0e6)
        .round()
        .min(30.0) as usize;
    for _ in 0..n_clutter {
        let g: Vec<Item> = match int(&mut rng, 0, 8) {
            0..=2 => vec![benign::clothes(&mut rng)],
            3 | 4 => vec![benign::book(&mut rng)],
            5 => vec![benign::bottle(&mut rng)],
            6 => {
                let a = benign::shoe(&mut rng);
                let w = group_aabb(std::slice::from_ref(&a));
                let dz = w[1][0] - w[0][0] + 5.0;
                let b = a.clone().shifted([dz, 0.0, 0.0]);
                vec![a, b]
            }
            _ => benign::electronics(&mut rng),
        };
        let g = centre_group(g);
        if let Some(p) = space.place(&mut rng, &g, Placement::tries(30)) {
            placed.push(p);
        }
    }

    Ok(Ok(finish(seed, options, container, outer, placed)))
}

/// Largest extent of a pending threat, mm.
fn plan_size(plan: &Plan) -> f64 {
    match plan {
        Plan::Group { items, .. } => {
            let b = group_aabb(items);
            (0..3).map(|a| b[1][a] - b[0][a]).fold(0.0, f64::max)
        }
        Plan::Loose { .. } => 0.0,
    }
}

fn centre_item(item: Item) -> Item {
    centre_group(vec![item]).pop().expect("one item")
}

fn bbox_centre(items: &[Item]) -> [f64; 3] {
    let b = group_aabb(items);
    std::array::from_fn(|a| 0.5 * (b[0][a] + b[1][a]))
}

/// Builds a threat's items in its own frame, deciding how it is presented.
fn threat_plan(rng: &mut Pcg64, kind: ThreatKind, hide: f64) -> Plan {
    let single = |it: Item| vec![it];
    let items = match kind {
        ThreatKind::PistolPolymer => single(threats::pistol(rng, false)),
        ThreatKind::PistolSteel => single(threats::pistol(rng, true)),
        ThreatKind::Revolver => single(threats::revolver(rng)),
        ThreatKind::Barrel => single(threats::barrel(rng)),
        ThreatKind::Slide => single(threats::slide(rng)),
        ThreatKind::Bolt => single(threats::bolt(rng)),
        ThreatKind::Magazine => single(threats::magazine(rng)),
        ThreatKind::Receiver => single(threats::receiver(rng)),
        ThreatKind::Knife => single(threats::knife(rng)),
        ThreatKind::CartridgesBoxed => threats::cartridge_box(rng),
        ThreatKind::CartridgesLoose => return Plan::Loose { n: int(rng, 5, 50) },
    };
    let items = centre_group(items);
    let hidden = uniform(rng, 0.0, 1.0) < hide;
    if hidden && kind.class() == ObjectClass::FirearmPart {
        return Plan::Group {
            items: hide_in_motor(rng, items.into_iter().next().expect("one item")),
            tools: false,
        };
    }
    Plan::Group {
        items,
        tools: hidden,
    }
}

/// Puts `part` along the axis of a motor housing built around it (rotor and shaft
/// left out): the housing is item 0, the part item 1 with `hidden_in = 0`.
fn hide_in_motor(rng: &mut Pcg64, part: Item) -> Vec<Item> {
    // Turn the part so its longest extent runs along x, the housing axis.
    let b = group_aabb(std::slice::from_ref(&part));
    let e: Vec<f64> = (0..3).map(|a| b[1][a] - b[0][a]).collect();
    let long = (0..3).max_by(|&i, &j| e[i].total_cmp(&e[j])).unwrap_or(2);
    let mut dir = [0.0; 3];
    dir[long] = 1.0;
    // Rotation taking item axis `long` onto x.
    let r = Rotation::align_axis(2, dir).inverse();
    let mut part = centre_item(part.transformed(&r, [0.0; 3]));
    let b = group_aabb(std::slice::from_ref(&part));
    let len = b[1][2] - b[0][2];
    let rad = (0..2)
        .map(|a| b[0][a].abs().max(b[1][a].abs()).powi(2))
        .sum::<f64>()
        .sqrt();
    let housing = benign::motor_housing(rng, Some((rad, len)));
    part.hidden_in = Some(0);
    vec![housing, part]
}

/// Assigns labels in placement order and writes the phantom and truth.
fn finish(
    seed: u64,
    options: &ParcelOptions,
    container: ContainerKind,
    extent: [f64; 3],
    groups: Vec<Vec<Item>>,
) -> Parcel {
    let mut phantom = Phantom::new();
    let mut objects: Vec<GroundTruthObject> = Vec::new();
    let mut heads: Vec<(u64, u32)> = Vec::new();
    for group in groups {
        let base = objects.len() as u32 + 1;
        for (i, item) in group.iter().enumerate() {
            let label = base + i as u32;
            for p in &item.parts {
                phantom.push(
                    p.prim,
                    Attenuation::Material(p.material),
                    label,
                    item.class,
                    p.name,
                );
            }
            let mut gto = truth_of(item, label);
            gto.hidden_in = item.hidden_in.map(|h| base + h as u32);
            gto.group = item.batch.map(|h| base + h as u32);
            if let Some(key) = item.batch_key {
                let head = match heads.iter().find(|(k, _)| *k == key) {
                    Some(&(_, l)) => l,
                    None => {
                        heads.push((key, label));
                        label
                    }
                };
                gto.group = Some(head);
            }
            objects.push(gto);
        }
    }
    Parcel {
        seed,
        options: options.clone(),
        container,
        extent_mm: extent,
        phantom,
        objects,
    }
}

fn truth_of(item: &Item, label: u32) -> GroundTruthObject {
    let b = group_aabb(std::slice::from_ref(item));
    let mut volume = 0.0;
    let mut mass = 0.0;
    let mut by_mat: Vec<(Material, f64)> = Vec::new();
    for p in &item.parts {
        let v = p.prim.shape.volume_mm3();
        let m = v * p.material.density_g_cm3() / 1000.0;
        volume += v;
        mass += m;
        match by_mat.iter_mut().find(|(mm, _)| *mm == p.material) {
            Some(e) => e.1 += m,
            None => by_mat.push((p.material, m)),
        }
    }
    let material = by_mat
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|e| e.0)
        .unwrap_or(Material::Water);
    GroundTruthObject {
        label,
        class: item.class,
        kind: item.kind.to_string(),
        material,
        bbox_mm: [b[0][0], b[0][1], b[0][2], b[1][0], b[1][1], b[1][2]],
        center_mm: std::array::from_fn(|a| 0.5 * (b[0][a] + b[1][a])),
        size_mm: item.size.unwrap_or_else(|| item.local_size()),
        volume_mm3: volume,
        mass_g: mass,
        group: None,
        hidden_in: None,
        features: item.features.clone(),
    }
}
