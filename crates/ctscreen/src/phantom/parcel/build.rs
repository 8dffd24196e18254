//! Building blocks of the generator: parts (a primitive + material), items (the
//! parts of one labelled object in its own frame), and placement without overlap.
//!
//! Item frames: x (index 2) is an item's "forward"/long axis, y (index 1) its "up",
//! z (index 0) its lateral axis. Cylinders and tubes have their axis along local z of
//! their own primitive, so a part along x uses [`along_x`].

use rand::Rng;
use rand_pcg::Pcg64;

use crate::phantom::shapes::{add, Primitive, Rotation, Shape, Vec3};
use crate::phantom::ObjectClass;
use crate::physics::Material;

/// Unit vectors in `(z, y, x)` order.
pub(crate) const AX_X: Vec3 = [0.0, 0.0, 1.0];
pub(crate) const AX_Y: Vec3 = [0.0, 1.0, 0.0];

/// Gap kept between separately placed objects, mm.
pub(crate) const GAP_MM: f64 = 0.3;

/// Rotation that turns a cylinder's axis (local z) into the item's x axis.
pub(crate) fn along_x() -> Rotation {
    Rotation::align_axis(0, AX_X)
}

/// Rotation that turns a cylinder's axis (local z) into the item's y axis.
pub(crate) fn along_y() -> Rotation {
    Rotation::align_axis(0, AX_Y)
}

/// Uniform draw in `[lo, hi]` (returns `lo` when the range is empty).
pub(crate) fn uniform(rng: &mut Pcg64, lo: f64, hi: f64) -> f64 {
    if hi > lo {
        lo + (hi - lo) * rng.random::<f64>()
    } else {
        lo
    }
}

/// Uniform integer in `lo..=hi`.
pub(crate) fn int(rng: &mut Pcg64, lo: usize, hi: usize) -> usize {
    if hi > lo {
        rng.random_range(lo..=hi)
    } else {
        lo
    }
}

/// One of the slice's values, uniformly.
pub(crate) fn pick<T: Copy>(rng: &mut Pcg64, options: &[T]) -> T {
    options[rng.random_range(0..options.len())]
}

/// A primitive with its material and a part name.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    pub prim: Primitive,
    pub material: Material,
    pub name: &'static str,
}

impl Part {
    pub fn new(
        shape: Shape,
        center: Vec3,
        rotation: Rotation,
        material: Material,
        name: &'static str,
    ) -> Self {
        debug_assert!(shape.validate().is_ok(), "{name}: {shape:?}");
        Self {
            prim: Primitive {
                shape,
                center,
                rotation,
            },
            material,
            name,
        }
    }

    /// An item-axis-aligned box of full sizes `(z, y, x)` centred at `center`.
    pub fn cuboid(size: Vec3, center: Vec3, material: Material, name: &'static str) -> Self {
        Self::new(
            Shape::cuboid(size[0], size[1], size[2]),
            center,
            Rotation::IDENTITY,
            material,
            name,
        )
    }

    /// The part moved by `world = rotation · local + offset`.
    pub fn transformed(&self, rotation: &Rotation, offset: Vec3) -> Self {
        Self {
            prim: Primitive {
                shape: self.prim.shape,
                center: add(rotation.apply(self.prim.center), offset),
                rotation: rotation.then(&self.prim.rotation),
            },
            material: self.material,
            name: self.name,
        }
    }
}

/// The parts of one labelled object, in the item's frame (or the world once placed).
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub class: ObjectClass,
    pub kind: &'static str,
    pub parts: Vec<Part>,
    /// Named dimensions for the truth (mm unless the name says otherwise).
    pub features: Vec<(String, f64)>,
    /// Index (within the same group) of the item this one is hidden in.
    pub hidden_in: Option<usize>,
    /// Index (within the same group) of the item that heads this one's batch.
    pub batch: Option<usize>,
    /// Loose batches spread over several groups: items with the same key belong to
    /// one batch, headed by the first placed.
    pub batch_key: Option<u64>,
    /// Extents along the item's own axes, largest first (fixed before placement).
    pub size: Option<[f64; 3]>,
}

impl Item {
    pub fn new(class: ObjectClass, kind: &'static str) -> Self {
        Self {
            class,
            kind,
            parts: Vec::new(),
            features: Vec::new(),
            hidden_in: None,
            batch: None,
            batch_key: None,
            size: None,
        }
    }

    /// Extents of the item in its current frame, largest first.
    pub fn local_size(&self) -> [f64; 3] {
        let b = group_aabb(std::slice::from_ref(self));
        let mut e = [b[1][0] - b[0][0], b[1][1] - b[0][1], b[1][2] - b[0][2]];
        e.sort_by(|a, b| b.total_cmp(a));
        e
    }

    pub fn add(&mut self, part: Part) -> &mut Self {
        self.parts.push(part);
        self
    }

    pub fn feature(&mut self, name: &str, value: f64) -> &mut Self {
        self.features.push((name.to_string(), value));
        self
    }

    pub fn transformed(&self, rotation: &Rotation, offset: Vec3) -> Self {
        Self {
            parts: self
                .parts
                .iter()
                .map(|p| p.transformed(rotation, offset))
                .collect(),
            ..self.clone()
        }
    }

    /// Moves every part by `offset` in the item frame.
    pub fn shifted(mut self, offset: Vec3) -> Self {
        for p in &mut self.parts {
            p.prim.center = add(p.prim.center, offset);
        }
        self
    }
}

/// Union of the tight AABBs of every part of every item.
pub(crate) fn group_aabb(items: &[Item]) -> [Vec3; 2] {
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for p in items.iter().flat_map(|i| &i.parts) {
        let b = p.prim.aabb();
        for a in 0..3 {
            lo[a] = lo[a].min(b[0][a]);
            hi[a] = hi[a].max(b[1][a]);
        }
    }
    [lo, hi]
}

/// Moves a group so its AABB is centred on the origin.
pub(crate) fn centre_group(items: Vec<Item>) -> Vec<Item> {
    let b = group_aabb(&items);
    let c: Vec3 = std::array::from_fn(|a| -0.5 * (b[0][a] + b[1][a]));
    items.into_iter().map(|i| i.shifted(c)).collect()
}

fn aabb_overlap(a: &[Vec3; 2], b: &[Vec3; 2], margin: f64) -> bool {
    (0..3).all(|i| a[0][i] - margin <= b[1][i] && b[0][i] - margin <= a[1][i])
}

/// Where a group may go.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Placement {
    /// Keep the group's centre within this distance (mm) of this point.
    pub near: Option<(Vec3, f64)>,
    /// Random tries before giving up.
    pub attempts: usize,
    /// After half the tries fail, align the group's longest axis with the free
    /// space's longest axis (still a random choice of sign and roll).
    pub align_fallback: bool,
}

impl Placement {
    pub fn tries(attempts: usize) -> Self {
        Self {
            near: None,
            attempts,
            align_fallback: false,
        }
    }
}

/// Placed primitives, for overlap rejection, inside an interior box.
pub(crate) struct Space {
    pub interior: [Vec3; 2],
    placed: Vec<(Primitive, [Vec3; 2])>,
}

impl Space {
    pub fn new(interior: [Vec3; 2]) -> Self {
        Self {
            interior,
            placed: Vec::new(),
        }
    }

    /// Tries to place `group` (in its own frame) with a random pose inside the
    /// interior without overlapping anything placed; returns the placed items.
    pub fn place(&mut self, rng: &mut Pcg64, group: &[Item], how: Placement) -> Option<Vec<Item>> {
        let group: Vec<Item> = group
            .iter()
            .map(|i| {
                let mut i = i.clone();
                i.size = i.size.or(Some(i.local_size()));
                i
            })
            .collect();
        let group = &group[..];
        for attempt in 0..how.attempts {
            let rotation = if how.align_fallback && attempt >= how.attempts / 2 {
                aligned_rotation(rng, group, &self.interior)
            } else {
                Rotation::random(rng)
            };
            let rotated: Vec<Item> = group
                .iter()
                .map(|i| i.transformed(&rotation, [0.0; 3]))
                .collect();
            let b = group_aabb(&rotated);
            let mut offset = [0.0; 3];
            let mut ok = true;
            for a in 0..3 {
                let mut lo = self.interior[0][a] - b[0][a];
                let mut hi = self.interior[1][a] - b[1][a];
                if let Some((c, r)) = how.near {
                    let centre = 0.5 * (b[0][a] + b[1][a]);
                    lo = lo.max(c[a] - r - centre);
                    hi = hi.min(c[a] + r - centre);
                }
                if hi < lo {
                    ok = false;
                    break;
                }
                offset[a] = uniform(rng, lo, hi);
            }
            if !ok {
                continue;
            }
            let placed: Vec<Item> = rotated
                .iter()
                .map(|i| i.transformed(&Rotation::IDENTITY, offset))
                .collect();
            if self.fits(&placed) {
                for p in placed.iter().flat_map(|i| &i.parts) {
                    self.placed.push((p.prim, p.prim.aabb()));
                }
                return Some(placed);
            }
        }
        None
    }

    fn fits(&self, items: &[Item]) -> bool {
        for p in items.iter().flat_map(|i| &i.parts) {
            let b = p.prim.aabb();
            for (q, qb) in &self.placed {
                if aabb_overlap(&b, qb, GAP_MM) && p.prim.obb_overlaps(q, GAP_MM / 2.0) {
                    return false;
                }
            }
        }
        true
    }
}

/// A signed axis permutation mapping the group's extents, largest first, onto the
/// interior's extents, largest first, with random signs (determinant kept +1).
fn aligned_rotation(rng: &mut Pcg64, group: &[Item], interior: &[Vec3; 2]) -> Rotation {
    let b = group_aabb(group);
    let mut g: Vec<usize> = (0..3).collect();
    g.sort_by(|&i, &j| (b[1][j] - b[0][j]).total_cmp(&(b[1][i] - b[0][i])));
    let mut w: Vec<usize> = (0..3).collect();
    w.sort_by(|&i, &j| {
        (interior[1][j] - interior[0][j]).total_cmp(&(interior[1][i] - interior[0][i]))
    });
    loop {
        let mut m = [[0.0; 3]; 3];
        for k in 0..3 {
            m[w[k]][g[k]] = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
        }
        if let Ok(r) = Rotation::from_matrix(m) {
            return r;
        }
    }
}
