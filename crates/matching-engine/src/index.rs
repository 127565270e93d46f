//! In-memory spatial and category index over partners and lots.
//!
//! Points are embedded on a sphere in 3-D Cartesian metres (Earth-centred),
//! so a service disc of great-circle radius `r` is exactly the set of points
//! within chord `2R·sin(r / 2R)` of its centre: no seam at the antimeridian,
//! no distortion near the poles. The category index is one R-tree per
//! [`Family`]: a lot can only fit a partner that accepts something of the
//! lot's family, so a query touches one tree (for a lot) or the partner's
//! families (for a partner). Candidates from the trees are a superset of the
//! feasible pairs; the very same gates and scorer as the linear scan then
//! decide, which is why both return identical lists.
//!
//! # Branch and bound
//!
//! A query does not score every candidate. Tree entries carry the few
//! fields the gates and the scorer need (see [`PartnerHot`], [`LotHot`]), so
//! each candidate is screened on the cheap gates and given every factor
//! exactly except distance, for which the straight chord to the query point
//! (never longer than the great-circle distance, less a float pad) gives an
//! upper bound. The score is non-decreasing in each factor, so this yields
//! an upper bound `ub` on the candidate's score. Candidates are then taken
//! in decreasing `ub` and fully scored (haversine, radius gate) until the
//! list holds `k` and the next `ub` is strictly below the `k`-th score: every
//! candidate left would then rank strictly after the `k`-th, whatever its
//! distance or id. A candidate whose bound merely equals the `k`-th score is
//! still scored, since it could tie on score and win on distance or id.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use reemploi_domain::category::{self, Category, Family, Fit};
use reemploi_domain::geo::{EARTH_RADIUS_M, GeoPoint};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RStarInsertionStrategy, RTree, RTreeParams};

use crate::profile::{LotProfile, PartnerProfile, Window};
use crate::score::{self, Breakdown, Evaluation, Scored, Scorer};

/// Node sizes of the partner trees: wider nodes than rstar's default make
/// the point-in-box walk shallower over many overlapping service boxes.
struct PartnerParams;

impl RTreeParams for PartnerParams {
    const MIN_SIZE: usize = 6;
    const MAX_SIZE: usize = 16;
    const REINSERTION_COUNT: usize = 4;
    type DefaultInsertionStrategy = RStarInsertionStrategy;
}

type PartnerEntry = GeomWithData<Rectangle<[f64; 3]>, PartnerHot>;
type LotEntry = GeomWithData<[f64; 3], LotHot>;

/// What a lot query needs of a partner to screen and bound it, copied into
/// its tree entries (kept small: tree nodes are walked on every query) so
/// only the few candidates fully scored touch the profile slab.
#[derive(Debug, Clone, Copy, PartialEq)]
struct PartnerHot {
    radius_m: f64,
    headroom_g: i64,
    horizon_ms: i64,
    /// Bit `i` set when the partner accepts `category::all()[i]`; unused
    /// when [`PartnerHot::IRREGULAR`] is set.
    codes: u64,
    slot: u32,
    flags: u8,
}

impl PartnerHot {
    const INSERTION: u8 = 1;
    /// Some accepted code is not among the first 64 of the table: the fit
    /// is taken from the profile.
    const IRREGULAR: u8 = 2;
}

/// What a partner query needs of a lot to screen and bound it, copied into
/// its tree entry.
#[derive(Debug, Clone, Copy, PartialEq)]
struct LotHot {
    category: &'static Category,
    window: Window,
    /// `available_units × unit_mass_g`, saturating, as the scorer uses it.
    mass_g: i64,
    slot: u32,
}

/// Slack added to every search radius, in metres (absolute, plus a relative
/// part), so float rounding between the haversine gate and the chord embedding
/// can only add candidates, never lose one.
const PAD_M: f64 = 1.0;
const PAD_REL: f64 = 1e-9;

fn family_slot(f: Family) -> Option<usize> {
    Family::ALL.iter().position(|x| *x == f)
}

/// Index of a category in `category::all()` if below 64, matched by code as
/// [`category::fit`] does.
fn category_bit(c: &Category) -> Option<u32> {
    let all = category::all();
    let i = all
        .iter()
        .position(|x| std::ptr::eq(x, c))
        .or_else(|| all.iter().position(|x| x.code == c.code))?;
    u32::try_from(i).ok().filter(|i| *i < 64)
}

/// Accepted codes as a bit set over `category::all()`, or `None` when one
/// cannot be represented.
fn code_mask(p: &PartnerProfile) -> Option<u64> {
    p.accepted
        .iter()
        .try_fold(0u64, |m, c| category_bit(c).map(|i| m | (1u64 << i)))
}

fn dist2(a: [f64; 3], b: [f64; 3]) -> f64 {
    let (x, y, z) = (a[0] - b[0], a[1] - b[1], a[2] - b[2]);
    x * x + y * y + z * z
}

/// A lower bound on the haversine distance of two points whose embedded
/// points are `chord2` apart (squared): an arc is never shorter than its
/// chord, and the same pads as [`search_chord`] absorb float rounding.
fn distance_lower_bound_m(chord2: f64) -> f64 {
    (chord2.sqrt() - PAD_M) / (1.0 + PAD_REL)
}

fn to_xyz(p: GeoPoint) -> [f64; 3] {
    let (phi, lambda) = (p.latitude().to_radians(), p.longitude().to_radians());
    [
        EARTH_RADIUS_M * phi.cos() * lambda.cos(),
        EARTH_RADIUS_M * phi.cos() * lambda.sin(),
        EARTH_RADIUS_M * phi.sin(),
    ]
}

/// Padded chord length matching a great-circle radius; `None` for a radius
/// that can serve nowhere (negative or NaN).
fn search_chord(radius_m: f64) -> Option<f64> {
    if radius_m.is_nan() || radius_m < 0.0 {
        return None;
    }
    let half_turn = std::f64::consts::PI * EARTH_RADIUS_M;
    let chord = if radius_m >= half_turn {
        2.0 * EARTH_RADIUS_M
    } else {
        2.0 * EARTH_RADIUS_M * (radius_m / (2.0 * EARTH_RADIUS_M)).sin()
    };
    Some(chord * (1.0 + PAD_REL) + PAD_M)
}

fn families_of(p: &PartnerProfile) -> Vec<usize> {
    let mut out: Vec<usize> = p
        .accepted
        .iter()
        .filter_map(|c| family_slot(c.family))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The tree entry of a partner, or `None` when it can pass no gate whatever
/// the lot or the time: unverified, no capacity left, or a radius that
/// serves nowhere. Leaving those out of the trees is what the linear scan
/// cannot do; they stay in the slab and come back on upsert.
fn partner_entry(p: &PartnerProfile, slot: u32) -> Option<PartnerEntry> {
    if !p.verified_active || p.headroom_g() <= 0 {
        return None;
    }
    let chord = search_chord(p.radius_m)?;
    let c = to_xyz(p.location);
    let lo = [c[0] - chord, c[1] - chord, c[2] - chord];
    let hi = [c[0] + chord, c[1] + chord, c[2] + chord];
    let codes = code_mask(p);
    let mut flags = 0;
    if p.kind.is_insertion() {
        flags |= PartnerHot::INSERTION;
    }
    if codes.is_none() {
        flags |= PartnerHot::IRREGULAR;
    }
    let hot = PartnerHot {
        radius_m: p.radius_m,
        headroom_g: p.headroom_g(),
        horizon_ms: p.horizon_ms,
        codes: codes.unwrap_or(0),
        slot,
        flags,
    };
    Some(GeomWithData::new(Rectangle::from_corners(lo, hi), hot))
}

/// The tree and entry of a lot, or `None` when it can match no partner
/// (hazardous) or its family is unknown; such lots stay in the slab only.
fn lot_entry(l: &LotProfile, slot: u32) -> Option<(usize, LotEntry)> {
    if l.hazardous {
        return None;
    }
    let f = family_slot(l.category.family)?;
    let hot = LotHot {
        category: l.category,
        window: l.window,
        mass_g: l.available_units.saturating_mul(l.unit_mass_g),
        slot,
    };
    Some((f, GeomWithData::new(to_xyz(l.location), hot)))
}

/// A candidate with an upper bound on its score, ordered by that bound.
struct Bounded<T> {
    ub: f64,
    item: T,
}

impl<T> PartialEq for Bounded<T> {
    fn eq(&self, other: &Self) -> bool {
        self.ub.total_cmp(&other.ub) == Ordering::Equal
    }
}

impl<T> Eq for Bounded<T> {}

impl<T> PartialOrd for Bounded<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Bounded<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.ub.total_cmp(&other.ub)
    }
}

/// Scores candidates in decreasing bound and keeps the `k` best by
/// [`score::rank`], stopping once no bound left can reach the `k`-th (see
/// the module documentation). `eval` fully scores a candidate (`None` when
/// it fails a gate) and names its slot; `id` gives the id of a slot, used
/// only to break ties of score and distance.
fn best_first<'a, T>(
    candidates: Vec<Bounded<T>>,
    k: usize,
    mut eval: impl FnMut(&T) -> Option<(Evaluation, u32)>,
    id: impl Fn(u32) -> &'a str,
) -> Vec<(Evaluation, u32)> {
    let cmp = |a: &(Evaluation, u32), b: &(Evaluation, u32)| {
        score::rank_by(&a.0, &b.0, || id(a.1).cmp(id(b.1)))
    };
    let mut top: Vec<(Evaluation, u32)> = Vec::with_capacity(k.min(candidates.len()));
    let mut heap = BinaryHeap::from(candidates);
    while let Some(c) = heap.pop() {
        if top.len() >= k
            && let Some(last) = top.last()
            && c.ub < last.0.score
        {
            break;
        }
        let Some(new) = eval(&c.item) else {
            continue;
        };
        let at = top.partition_point(|x| cmp(x, &new) == Ordering::Less);
        if at < k {
            top.insert(at, new);
            top.truncate(k);
        }
    }
    top
}

/// A slab of profiles addressed by a stable `u32` slot, with an id map, so
/// tree entries stay small and ids are stored once per map.
#[derive(Debug)]
struct Slab<T> {
    items: Vec<Option<T>>,
    free: Vec<u32>,
    by_id: HashMap<String, u32>,
}

impl<T> Slab<T> {
    fn new() -> Slab<T> {
        Slab {
            items: Vec::new(),
            free: Vec::new(),
            by_id: HashMap::new(),
        }
    }

    fn get(&self, slot: u32) -> Option<&T> {
        self.items.get(slot as usize).and_then(Option::as_ref)
    }

    fn slot_of(&self, id: &str) -> Option<u32> {
        self.by_id.get(id).copied()
    }

    /// Stores `item` under `id` in a fresh slot.
    fn put(&mut self, id: &str, item: T) -> u32 {
        let slot = match self.free.pop() {
            Some(s) => {
                self.items[s as usize] = Some(item);
                s
            }
            None => {
                self.items.push(Some(item));
                // More than u32::MAX profiles would not fit in memory anyway.
                (self.items.len() - 1) as u32
            }
        };
        self.by_id.insert(id.to_owned(), slot);
        slot
    }

    /// Stores `item` under `id`, overwriting in place a profile with the
    /// same id (used before the trees exist, so no entry goes stale).
    fn upsert(&mut self, id: &str, item: T) -> u32 {
        match self.slot_of(id) {
            Some(slot) => {
                self.items[slot as usize] = Some(item);
                slot
            }
            None => self.put(id, item),
        }
    }

    fn take(&mut self, id: &str) -> Option<(u32, T)> {
        let slot = self.by_id.remove(id)?;
        let item = self.items.get_mut(slot as usize)?.take()?;
        self.free.push(slot);
        Some((slot, item))
    }

    fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        self.items
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.as_ref().map(|t| (i as u32, t)))
    }

    fn len(&self) -> usize {
        self.by_id.len()
    }
}

/// Spatial + category index of partners and lots, answering top-k queries
/// with the same results as a linear scan.
#[derive(Debug)]
pub struct Index {
    scorer: Scorer,
    partners: Slab<PartnerProfile>,
    lots: Slab<LotProfile>,
    /// Per family: the service box of every partner accepting that family.
    partner_trees: Vec<RTree<PartnerEntry, PartnerParams>>,
    /// Per family: the position of every lot of that family.
    lot_trees: Vec<RTree<LotEntry>>,
}

impl Index {
    /// Builds the index in bulk (much faster than inserting one by one).
    /// When two profiles share an id, the later one wins.
    pub fn new(scorer: Scorer, partners: Vec<PartnerProfile>, lots: Vec<LotProfile>) -> Index {
        let mut idx = Index {
            scorer,
            partners: Slab::new(),
            lots: Slab::new(),
            partner_trees: Vec::new(),
            lot_trees: Vec::new(),
        };
        for p in partners {
            let id = p.id.clone();
            idx.partners.upsert(&id, p);
        }
        for l in lots {
            let id = l.id.clone();
            idx.lots.upsert(&id, l);
        }
        let mut pbuckets: Vec<Vec<PartnerEntry>> = vec![Vec::new(); Family::ALL.len()];
        for (slot, p) in idx.partners.iter() {
            if let Some(entry) = partner_entry(p, slot) {
                for f in families_of(p) {
                    pbuckets[f].push(entry);
                }
            }
        }
        let mut lbuckets: Vec<Vec<LotEntry>> = vec![Vec::new(); Family::ALL.len()];
        for (slot, l) in idx.lots.iter() {
            if let Some((f, entry)) = lot_entry(l, slot) {
                lbuckets[f].push(entry);
            }
        }
        idx.partner_trees = pbuckets
            .into_iter()
            .map(RTree::bulk_load_with_params)
            .collect();
        idx.lot_trees = lbuckets.into_iter().map(RTree::bulk_load).collect();
        idx
    }

    /// The scorer used for every query.
    pub fn scorer(&self) -> &Scorer {
        &self.scorer
    }

    /// Number of partners indexed.
    pub fn partner_count(&self) -> usize {
        self.partners.len()
    }

    /// Number of lots indexed.
    pub fn lot_count(&self) -> usize {
        self.lots.len()
    }

    /// A partner by id.
    pub fn partner(&self, id: &str) -> Option<&PartnerProfile> {
        self.partners.slot_of(id).and_then(|s| self.partners.get(s))
    }

    /// A lot by id.
    pub fn lot(&self, id: &str) -> Option<&LotProfile> {
        self.lots.slot_of(id).and_then(|s| self.lots.get(s))
    }

    /// Adds or replaces a partner; returns the profile it replaced.
    pub fn upsert_partner(&mut self, partner: PartnerProfile) -> Option<PartnerProfile> {
        let old = self.remove_partner(&partner.id);
        let families = families_of(&partner);
        let id = partner.id.clone();
        let slot = self.partners.put(&id, partner);
        if let Some(entry) = self.partners.get(slot).and_then(|p| partner_entry(p, slot)) {
            for f in families {
                self.partner_trees[f].insert(entry);
            }
        }
        old
    }

    /// Removes a partner; returns it if it was there.
    pub fn remove_partner(&mut self, id: &str) -> Option<PartnerProfile> {
        let (slot, p) = self.partners.take(id)?;
        if let Some(entry) = partner_entry(&p, slot) {
            for f in families_of(&p) {
                self.partner_trees[f].remove(&entry);
            }
        }
        Some(p)
    }

    /// Adds or replaces a lot; returns the profile it replaced.
    pub fn upsert_lot(&mut self, lot: LotProfile) -> Option<LotProfile> {
        let old = self.remove_lot(&lot.id);
        let id = lot.id.clone();
        let slot = self.lots.put(&id, lot);
        if let Some((f, entry)) = self.lots.get(slot).and_then(|l| lot_entry(l, slot)) {
            self.lot_trees[f].insert(entry);
        }
        old
    }

    /// Removes a lot; returns it if it was there.
    pub fn remove_lot(&mut self, id: &str) -> Option<LotProfile> {
        let (slot, l) = self.lots.take(id)?;
        if let Some((f, entry)) = lot_entry(&l, slot) {
            self.lot_trees[f].remove(&entry);
        }
        Some(l)
    }

    fn partner_id(&self, slot: u32) -> &str {
        self.partners.get(slot).map_or("", |p| p.id.as_str())
    }

    fn lot_id(&self, slot: u32) -> &str {
        self.lots.get(slot).map_or("", |l| l.id.as_str())
    }

    /// The `k` best feasible partners for `lot` (which need not be indexed),
    /// best first: score descending, then distance, then partner id.
    pub fn top_partners(&self, lot: &LotProfile, k: usize, now_ms: i64) -> Vec<Scored> {
        let Some(f) = family_slot(lot.category.family) else {
            return Vec::new();
        };
        // A hazardous lot fails a gate with every partner.
        if k == 0 || lot.hazardous {
            return Vec::new();
        }
        // Everything that depends on the lot alone, once.
        let q = to_xyz(lot.location);
        let lot_bit = category_bit(lot.category);
        let mass_g = lot.available_units.saturating_mul(lot.unit_mass_g);
        let urgency = self.scorer.urgency_factor(lot.window.until_ms, now_ms);
        let mut candidates = Vec::new();
        for e in self.partner_trees[f].locate_in_envelope_intersecting(&AABB::from_point(q)) {
            let h = &e.data;
            // The box is a cube around the service ball: drop its corners.
            let (lo, hi) = (e.geom().lower(), e.geom().upper());
            let half = (hi[0] - lo[0]) / 2.0;
            let centre = [
                (lo[0] + hi[0]) / 2.0,
                (lo[1] + hi[1]) / 2.0,
                (lo[2] + hi[2]) / 2.0,
            ];
            let chord2 = dist2(centre, q);
            // Centre and half side come back from sums of floats: pad again.
            let in_ball = chord2 <= (half + PAD_M) * (half + PAD_M);
            if !in_ball {
                continue;
            }
            let end = now_ms.saturating_add(h.horizon_ms.max(0));
            if !lot.window.overlaps(now_ms, end) {
                continue;
            }
            // In this family's tree, the fit is at least `Family`.
            let fit = if h.flags & PartnerHot::IRREGULAR != 0 {
                match self.partners.get(h.slot) {
                    Some(p) => p.best_fit(lot.category),
                    None => continue,
                }
            } else if lot_bit.is_some_and(|bit| h.codes >> bit & 1 == 1) {
                Fit::Exact
            } else {
                Fit::Family
            };
            if fit == Fit::None {
                continue;
            }
            let bound = Breakdown {
                category_fit: score::fit_factor(fit),
                distance: score::distance_factor(distance_lower_bound_m(chord2), h.radius_m),
                capacity: score::capacity_factor(mass_g, h.headroom_g),
                urgency,
                insertion: score::insertion_factor(h.flags & PartnerHot::INSERTION != 0),
            };
            candidates.push(Bounded {
                ub: self.scorer.total(&bound),
                item: (h, bound),
            });
        }
        let top = best_first(
            candidates,
            k,
            |&(h, bound)| {
                let p = self.partners.get(h.slot)?;
                let distance_m = lot.location.distance_m(p.location);
                // Written so a NaN distance fails the radius gate.
                let inside = distance_m <= h.radius_m;
                if !inside {
                    return None;
                }
                let breakdown = Breakdown {
                    distance: score::distance_factor(distance_m, h.radius_m),
                    ..bound
                };
                let ev = Evaluation {
                    score: self.scorer.total(&breakdown),
                    breakdown,
                    distance_m,
                };
                Some((ev, h.slot))
            },
            |slot| self.partner_id(slot),
        );
        top.into_iter()
            .map(|(ev, slot)| scored(ev, &lot.id, self.partner_id(slot)))
            .collect()
    }

    /// Baseline for [`Index::top_partners`]: scores every indexed partner.
    pub fn linear_top_partners(&self, lot: &LotProfile, k: usize, now_ms: i64) -> Vec<Scored> {
        if k == 0 {
            return Vec::new();
        }
        let candidates = self
            .partners
            .iter()
            .filter_map(|(_, p)| {
                self.scorer
                    .evaluate(lot, p, now_ms)
                    .ok()
                    .map(|ev| (ev, lot, p))
            })
            .collect();
        top_k(candidates, k, |_, p| p.id.as_str())
    }

    /// The `k` best feasible lots for `partner` (which need not be indexed),
    /// best first: score descending, then distance, then lot id.
    pub fn top_lots(&self, partner: &PartnerProfile, k: usize, now_ms: i64) -> Vec<Scored> {
        let Some(chord) = search_chord(partner.radius_m) else {
            return Vec::new();
        };
        // Same static gates as `partner_entry`: no lot can pass them.
        if !partner.verified_active || partner.headroom_g() <= 0 {
            return Vec::new();
        }
        if k == 0 {
            return Vec::new();
        }
        // Everything that depends on the partner alone, once.
        let centre = to_xyz(partner.location);
        let end = now_ms.saturating_add(partner.horizon_ms.max(0));
        let headroom_g = partner.headroom_g();
        let insertion = score::insertion_factor(partner.kind.is_insertion());
        let mut candidates = Vec::new();
        for f in families_of(partner) {
            for e in self.lot_trees[f].locate_within_distance(centre, chord * chord) {
                let h = &e.data;
                if !h.window.overlaps(now_ms, end) {
                    continue;
                }
                let fit = partner.best_fit(h.category);
                if fit == Fit::None {
                    continue;
                }
                let bound = Breakdown {
                    category_fit: score::fit_factor(fit),
                    distance: score::distance_factor(
                        distance_lower_bound_m(dist2(*e.geom(), centre)),
                        partner.radius_m,
                    ),
                    capacity: score::capacity_factor(h.mass_g, headroom_g),
                    urgency: self.scorer.urgency_factor(h.window.until_ms, now_ms),
                    insertion,
                };
                candidates.push(Bounded {
                    ub: self.scorer.total(&bound),
                    item: (h, bound),
                });
            }
        }
        let top = best_first(
            candidates,
            k,
            |&(h, bound)| {
                let l = self.lots.get(h.slot)?;
                let distance_m = l.location.distance_m(partner.location);
                // Written so a NaN distance or radius fails the radius gate.
                let inside = distance_m <= partner.radius_m;
                if !inside {
                    return None;
                }
                let breakdown = Breakdown {
                    distance: score::distance_factor(distance_m, partner.radius_m),
                    ..bound
                };
                let ev = Evaluation {
                    score: self.scorer.total(&breakdown),
                    breakdown,
                    distance_m,
                };
                Some((ev, h.slot))
            },
            |slot| self.lot_id(slot),
        );
        top.into_iter()
            .map(|(ev, slot)| scored(ev, self.lot_id(slot), &partner.id))
            .collect()
    }

    /// Baseline for [`Index::top_lots`]: scores every indexed lot.
    pub fn linear_top_lots(&self, partner: &PartnerProfile, k: usize, now_ms: i64) -> Vec<Scored> {
        if k == 0 {
            return Vec::new();
        }
        let candidates = self
            .lots
            .iter()
            .filter_map(|(_, l)| {
                self.scorer
                    .evaluate(l, partner, now_ms)
                    .ok()
                    .map(|ev| (ev, l, partner))
            })
            .collect();
        top_k(candidates, k, |l, _| l.id.as_str())
    }

    /// Estimated heap bytes held by the index, counted from its containers'
    /// capacities (profiles, id strings, id maps, tree entries plus node
    /// overhead). An estimate: allocator slack is not counted.
    pub fn heap_bytes_estimate(&self) -> usize {
        use std::mem::size_of;
        let strings = |m: &HashMap<String, u32>| -> usize {
            // hashbrown: one control byte per bucket plus the (key, value) pair.
            m.capacity() * (size_of::<(String, u32)>() + 1)
                + m.keys().map(|k| k.capacity()).sum::<usize>()
        };
        let partners = self.partners.items.capacity() * size_of::<Option<PartnerProfile>>()
            + self
                .partners
                .iter()
                .map(|(_, p)| p.id.capacity() + p.accepted.capacity() * size_of::<usize>())
                .sum::<usize>()
            + self.partners.free.capacity() * 4
            + strings(&self.partners.by_id);
        let lots = self.lots.items.capacity() * size_of::<Option<LotProfile>>()
            + self
                .lots
                .iter()
                .map(|(_, l)| l.id.capacity())
                .sum::<usize>()
            + self.lots.free.capacity() * 4
            + strings(&self.lots.by_id);
        // rstar nodes hold at most 6 children by default; count a parent
        // node (envelope + child vector) for every ~4 entries on average.
        let tree = |n: usize, entry: usize, env: usize| n * entry + n.div_ceil(4) * (env + 48);
        let ptrees: usize = self
            .partner_trees
            .iter()
            .map(|t| tree(t.size(), size_of::<PartnerEntry>() + 8, 48))
            .sum();
        let ltrees: usize = self
            .lot_trees
            .iter()
            .map(|t| tree(t.size(), size_of::<LotEntry>() + 8, 48))
            .sum();
        partners + lots + ptrees + ltrees
    }
}

/// Keeps the `k` best candidates in ranking order and materialises them.
fn top_k<'a>(
    mut candidates: Vec<(Evaluation, &'a LotProfile, &'a PartnerProfile)>,
    k: usize,
    key: impl Fn(&'a LotProfile, &'a PartnerProfile) -> &'a str,
) -> Vec<Scored> {
    let cmp = |a: &(Evaluation, &'a LotProfile, &'a PartnerProfile),
               b: &(Evaluation, &'a LotProfile, &'a PartnerProfile)| {
        score::rank((&a.0, key(a.1, a.2)), (&b.0, key(b.1, b.2)))
    };
    if candidates.len() > k {
        candidates.select_nth_unstable_by(k - 1, cmp);
        candidates.truncate(k);
    }
    candidates.sort_unstable_by(cmp);
    candidates
        .into_iter()
        .map(|(ev, l, p)| scored(ev, &l.id, &p.id))
        .collect()
}

fn scored(ev: Evaluation, lot_id: &str, partner_id: &str) -> Scored {
    Scored {
        lot_id: lot_id.to_owned(),
        partner_id: partner_id.to_owned(),
        score: ev.score,
        breakdown: ev.breakdown,
        distance_m: ev.distance_m,
    }
}
