//! A sparse uniform grid over Earth-centred 3-D coordinates (metres), the
//! spatial part of [`crate::index`].
//!
//! Entries live in *layers*: one per (material family, size class). The
//! cells of class `c` are cubes of side [`cell_side`]`(c)`; an entry is
//! stored in the cell holding its point, in a contiguous `Vec` per cell
//! found through one hash map keyed by (family, class, cell coordinates).
//! Every layer remembers the largest *reach* (the padded chord of a service
//! ball, 0 for a bare point) of an entry it ever held, so a query around
//! `q` with an extra reach `r` visits, per layer, the cells meeting the box
//! `q ± (reach + r)` on every axis: any entry whose ball meets the query
//! ball lies there. Working on the sphere embedded in 3-D, there is no seam
//! at the antimeridian and no distortion at the poles; when a query box
//! spans more cells than the map holds (a radius of a continent), the
//! occupied cells are walked instead.
//!
//! A [`Cover`] trades memory for lookups the other way: each ball is filed
//! in every cell it meets, so a point query reads one cell.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use reemploi_domain::category::Family;

/// Number of size classes: class `c` has cells of `1024 m · 2^c`, and class
/// 14 (16,777 km) already exceeds the Earth's diameter.
pub(crate) const CLASSES: usize = 16;

const FAMILIES: usize = Family::ALL.len();
const _: () = assert!(FAMILIES <= 32, "the cell key holds 5 bits of family");

const BASE_SIDE_M: f64 = 1024.0;
/// Bits per cell coordinate in the key, and the bias making them unsigned.
const COORD_BITS: u32 = 18;
const BIAS: i64 = 1 << (COORD_BITS - 1);
const COORD_MASK: u64 = (1 << COORD_BITS) - 1;

/// Side of the cells of `class`, in metres.
pub(crate) fn cell_side(class: usize) -> f64 {
    BASE_SIDE_M * (1u64 << class.min(CLASSES - 1)) as f64
}

/// The smallest class whose cells are at least `reach` wide (the last one
/// for anything larger, or NaN).
pub(crate) fn class_for(reach: f64) -> usize {
    (0..CLASSES)
        .find(|c| cell_side(*c) >= reach)
        .unwrap_or(CLASSES - 1)
}

/// Cell coordinate of `x` in cells of `side`, clamped to the key's range
/// (coordinates of points on the Earth stay far inside it).
fn coord(x: f64, side: f64) -> i64 {
    ((x / side).floor() as i64).clamp(-BIAS, BIAS - 1)
}

fn layer(family: usize, class: usize) -> usize {
    family * CLASSES + class
}

fn key(layer: usize, c: [i64; 3]) -> u64 {
    let part = |i: i64| ((i + BIAS) as u64) & COORD_MASK;
    ((layer as u64) << (3 * COORD_BITS))
        | (part(c[0]) << (2 * COORD_BITS))
        | (part(c[1]) << COORD_BITS)
        | part(c[2])
}

fn unkey(k: u64) -> (usize, [i64; 3]) {
    let part = |s: u32| ((k >> s) & COORD_MASK) as i64 - BIAS;
    (
        (k >> (3 * COORD_BITS)) as usize,
        [part(2 * COORD_BITS), part(COORD_BITS), part(0)],
    )
}

/// A multiplicative hash of the `u64` cell keys (the keys are not attacker
/// chosen: they come from coordinates).
#[derive(Default)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }

    fn write_u64(&mut self, v: u64) {
        let h = (self.0.rotate_left(5) ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = h ^ (h >> 29);
    }
}

type Cells<E> = HashMap<u64, Cell<E>, BuildHasherDefault<KeyHasher>>;

/// Relative slack of the single-precision screen of [`Cell::near`], far
/// above its rounding error (a few 1e-7 of the cell side), so it never
/// drops an entry the exact test would keep.
const SCREEN_REL: f32 = 1e-5;
/// Absolute slack of the same screen, in metres.
const SCREEN_ABS: f32 = 2.0;
/// Bound on the error of a screened distance in the cells of a [`Cover`],
/// whose points lie within a few hundred kilometres of the cell (a
/// centimetre or so of `f32` rounding): callers subtract it to get a lower
/// bound on the exact chord.
pub(crate) const SCREEN_SLACK_M: f64 = 2.0;

/// The entries of one cell, in two parallel arrays: a compact one scanned
/// on every query (position relative to the cell's corner and reach, in
/// `f32`), and the full entries, touched only for the few that pass.
#[derive(Debug)]
pub(crate) struct Cell<E> {
    origin: [f64; 3],
    screen: Vec<[f32; 4]>,
    items: Vec<E>,
}

impl<E> Cell<E> {
    fn with_capacity(origin: [f64; 3], n: usize) -> Cell<E> {
        Cell {
            origin,
            screen: Vec::with_capacity(n),
            items: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, place: &Place, e: E) {
        let o = self.origin;
        let p = place.point;
        self.screen.push([
            (p[0] - o[0]) as f32,
            (p[1] - o[1]) as f32,
            (p[2] - o[2]) as f32,
            place.reach as f32,
        ]);
        self.items.push(e);
    }

    /// The entries whose ball may come within `extra` of `q`: a superset,
    /// screened in single precision with slack; callers test exactly.
    pub(crate) fn near(&self, q: [f64; 3], extra: f64) -> impl Iterator<Item = &E> {
        self.near_d2(q, extra).map(|(_, e)| e)
    }

    /// [`Cell::near`] with the squared distance from `q` to each entry's
    /// point as screened: within [`SCREEN_SLACK_M`] of the exact distance
    /// for cells of classes up to the cover's.
    pub(crate) fn near_d2(&self, q: [f64; 3], extra: f64) -> impl Iterator<Item = (f32, &E)> {
        let o = self.origin;
        let r = [
            (q[0] - o[0]) as f32,
            (q[1] - o[1]) as f32,
            (q[2] - o[2]) as f32,
        ];
        let extra = extra as f32;
        self.screen
            .iter()
            .zip(&self.items)
            .filter_map(move |(g, e)| {
                let (dx, dy, dz) = (g[0] - r[0], g[1] - r[1], g[2] - r[2]);
                let d2 = dx * dx + dy * dy + dz * dz;
                let lim = (g[3] + extra) * (1.0 + SCREEN_REL) + SCREEN_ABS;
                (d2 <= lim * lim).then_some((d2, e))
            })
    }
}

/// Where an entry goes: its family, the point it sits at, and its reach.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Place {
    pub family: usize,
    pub point: [f64; 3],
    pub reach: f64,
    /// Size class: [`class_for`] of the reach for balls, any fixed class
    /// for points.
    pub class: usize,
}

impl Place {
    fn key(&self) -> u64 {
        let side = cell_side(self.class);
        key(
            layer(self.family, self.class),
            self.point.map(|x| coord(x, side)),
        )
    }
}

/// The corner of the cell of key `k`.
fn origin(k: u64) -> [f64; 3] {
    let (l, c) = unkey(k);
    let side = cell_side(l % CLASSES);
    c.map(|i| i as f64 * side)
}

#[derive(Debug)]
pub(crate) struct Grid<E> {
    cells: Cells<E>,
    /// Per layer: the largest reach ever stored, negative while empty.
    reach: Vec<f64>,
}

impl<E> Grid<E> {
    pub(crate) fn new() -> Grid<E> {
        Grid {
            cells: Cells::default(),
            reach: vec![-1.0; FAMILIES * CLASSES],
        }
    }

    /// Builds the grid from everything `items` yields, called twice: once
    /// to size every cell exactly, once to fill them.
    pub(crate) fn build<I>(items: impl Fn() -> I) -> Grid<E>
    where
        I: Iterator<Item = (Place, E)>,
    {
        let mut counts: HashMap<u64, usize, BuildHasherDefault<KeyHasher>> = HashMap::default();
        for (place, _) in items() {
            *counts.entry(place.key()).or_insert(0) += 1;
        }
        let mut grid = Grid::new();
        grid.cells.reserve(counts.len());
        for (k, n) in counts {
            grid.cells.insert(k, Cell::with_capacity(origin(k), n));
        }
        for (place, e) in items() {
            grid.insert(place, e);
        }
        grid
    }

    pub(crate) fn insert(&mut self, place: Place, e: E) {
        let l = layer(place.family, place.class);
        if let Some(r) = self.reach.get_mut(l) {
            // `max` keeps a NaN reach from poisoning the layer.
            *r = r.max(place.reach);
        }
        let k = place.key();
        self.cells
            .entry(k)
            .or_insert_with(|| Cell::with_capacity(origin(k), 1))
            .push(&place, e);
    }

    /// Removes one entry at `place` matching `which`; whether one was found.
    pub(crate) fn remove(&mut self, place: Place, which: impl Fn(&E) -> bool) -> bool {
        let k = place.key();
        let Some(cell) = self.cells.get_mut(&k) else {
            return false;
        };
        let Some(at) = cell.items.iter().position(which) else {
            return false;
        };
        cell.items.swap_remove(at);
        cell.screen.swap_remove(at);
        if cell.items.is_empty() {
            self.cells.remove(&k);
        }
        true
    }

    /// Calls `f` on every cell of `family` that may hold an entry whose
    /// ball comes within `extra` of `q` (and maybe others); the caller then
    /// screens its entries with [`Cell::near`].
    pub(crate) fn visit<'a>(
        &'a self,
        family: usize,
        q: [f64; 3],
        extra: f64,
        mut f: impl FnMut(&'a Cell<E>),
    ) {
        for class in 0..CLASSES {
            let l = layer(family, class);
            let Some(reach) = self.reach.get(l).copied() else {
                continue;
            };
            // Negative while the layer is empty.
            if reach.is_nan() || reach < 0.0 {
                continue;
            }
            let side = cell_side(class);
            let r = reach + extra;
            let lo = q.map(|x| coord(x - r, side));
            let hi = q.map(|x| coord(x + r, side));
            let span = |a: usize| (hi[a] - lo[a] + 1) as f64;
            if span(0) * span(1) * span(2) > self.cells.len() as f64 {
                for (k, cell) in &self.cells {
                    let (kl, c) = unkey(*k);
                    if kl == l && (0..3).all(|a| lo[a] <= c[a] && c[a] <= hi[a]) {
                        f(cell);
                    }
                }
                continue;
            }
            for x in lo[0]..=hi[0] {
                for y in lo[1]..=hi[1] {
                    for z in lo[2]..=hi[2] {
                        if let Some(cell) = self.cells.get(&key(l, [x, y, z])) {
                            f(cell);
                        }
                    }
                }
            }
        }
    }

    /// Heap bytes of the map and the cells, from their capacities.
    pub(crate) fn heap_bytes(&self) -> usize {
        cells_heap_bytes(&self.cells) + self.reach.capacity() * std::mem::size_of::<f64>()
    }
}

/// Side of the cells of a [`Cover`] (32.8 km).
const COVER_CLASS: usize = 5;
/// Largest reach a [`Cover`] takes: larger balls would each fill too many
/// cells, and go to a [`Grid`] instead.
pub(crate) const COVER_MAX_REACH: f64 = 4.0 * BASE_SIDE_M * (1u64 << COVER_CLASS) as f64;
/// Slack of the geometric tests deciding which cells a ball covers, in
/// metres: far above float rounding at the Earth's scale.
const COVER_PAD_M: f64 = 16.0;

/// Balls indexed by every cell they meet, so the balls that may contain a
/// point are all in the single cell holding it: a query is one hash lookup
/// and one contiguous scan. Only cells meeting the sphere of radius
/// `sphere_m` (where every query point lies) are filled.
#[derive(Debug)]
pub(crate) struct Cover<E> {
    cells: Cells<E>,
    sphere_m: f64,
}

impl<E: Copy> Cover<E> {
    pub(crate) fn new(sphere_m: f64) -> Cover<E> {
        Cover {
            cells: Cells::default(),
            sphere_m,
        }
    }

    /// Keys of the cells of `family` that the ball of `place` meets near
    /// the sphere (a superset, by [`COVER_PAD_M`]).
    fn cover(&self, place: &Place) -> impl Iterator<Item = u64> + use<E> {
        let side = cell_side(COVER_CLASS);
        let (p, r) = (place.point, place.reach);
        let lo = p.map(|x| coord(x - r - COVER_PAD_M, side));
        let hi = p.map(|x| coord(x + r + COVER_PAD_M, side));
        let l = layer(place.family, COVER_CLASS);
        let (reach, sphere) = (r + COVER_PAD_M, self.sphere_m);
        (lo[0]..=hi[0])
            .flat_map(move |x| (lo[1]..=hi[1]).map(move |y| (x, y)))
            .flat_map(move |(x, y)| (lo[2]..=hi[2]).map(move |z| [x, y, z]))
            .filter(move |c| {
                let bl = c.map(|i| i as f64 * side);
                // Squared distances from a point to the box, nearest and
                // farthest.
                let near = |a: [f64; 3]| -> f64 {
                    (0..3)
                        .map(|i| {
                            let d = (bl[i] - a[i]).max(a[i] - (bl[i] + side)).max(0.0);
                            d * d
                        })
                        .sum()
                };
                let far = (0..3)
                    .map(|i| {
                        let d = bl[i].abs().max((bl[i] + side).abs());
                        d * d
                    })
                    .sum::<f64>();
                near(p) <= reach * reach
                    && near([0.0; 3]) <= (sphere + COVER_PAD_M) * (sphere + COVER_PAD_M)
                    && far >= (sphere - COVER_PAD_M) * (sphere - COVER_PAD_M)
            })
            .map(move |c| key(l, c))
    }

    /// Stores `e` in every cell its ball meets; `place.reach` must not
    /// exceed [`COVER_MAX_REACH`].
    pub(crate) fn insert(&mut self, place: Place, e: E) {
        for k in self.cover(&place).collect::<Vec<_>>() {
            self.cells
                .entry(k)
                .or_insert_with(|| Cell::with_capacity(origin(k), 1))
                .push(&place, e);
        }
    }

    /// Removes the entry matching `which` from every cell of its ball.
    pub(crate) fn remove(&mut self, place: Place, which: impl Fn(&E) -> bool) {
        for k in self.cover(&place).collect::<Vec<_>>() {
            let Some(cell) = self.cells.get_mut(&k) else {
                continue;
            };
            if let Some(at) = cell.items.iter().position(&which) {
                cell.items.swap_remove(at);
                cell.screen.swap_remove(at);
            }
            if cell.items.is_empty() {
                self.cells.remove(&k);
            }
        }
    }

    /// Gives back the slack of cells grown one entry at a time.
    pub(crate) fn shrink_to_fit(&mut self) {
        for c in self.cells.values_mut() {
            c.items.shrink_to_fit();
            c.screen.shrink_to_fit();
        }
        self.cells.shrink_to_fit();
    }

    /// The cell of `family` holding `q`: every ball containing `q` is in it.
    pub(crate) fn cell(&self, family: usize, q: [f64; 3]) -> Option<&Cell<E>> {
        let side = cell_side(COVER_CLASS);
        let k = key(layer(family, COVER_CLASS), q.map(|x| coord(x, side)));
        self.cells.get(&k)
    }

    /// Heap bytes of the map and the cells, from their capacities.
    pub(crate) fn heap_bytes(&self) -> usize {
        cells_heap_bytes(&self.cells)
    }
}

/// Heap bytes of a map of cells and of the cells, from their capacities.
fn cells_heap_bytes<E>(cells: &Cells<E>) -> usize {
    use std::mem::size_of;
    cells.capacity() * (size_of::<(u64, Cell<E>)>() + 1)
        + cells
            .values()
            .map(|c| {
                c.items.capacity() * size_of::<E>() + c.screen.capacity() * size_of::<[f32; 4]>()
            })
            .sum::<usize>()
}
