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

use std::collections::HashMap;

use reemploi_domain::category::Family;
use reemploi_domain::geo::{EARTH_RADIUS_M, GeoPoint};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};

use crate::profile::{LotProfile, PartnerProfile};
use crate::score::{self, Evaluation, Scored, Scorer};

type PartnerEntry = GeomWithData<Rectangle<[f64; 3]>, u32>;
type LotEntry = GeomWithData<[f64; 3], u32>;

/// Slack added to every search radius, in metres (absolute, plus a relative
/// part), so float rounding between the haversine gate and the chord embedding
/// can only add candidates, never lose one.
const PAD_M: f64 = 1.0;
const PAD_REL: f64 = 1e-9;

fn family_slot(f: Family) -> Option<usize> {
    Family::ALL.iter().position(|x| *x == f)
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
    Some(GeomWithData::new(Rectangle::from_corners(lo, hi), slot))
}

/// Whether `q` lies in the ball inscribed in the cube `r` (padded, so a
/// superset of the service disc).
fn within_ball(r: &Rectangle<[f64; 3]>, q: [f64; 3]) -> bool {
    let (lo, hi) = (r.lower(), r.upper());
    let half = (hi[0] - lo[0]) / 2.0;
    let d2: f64 = (0..3)
        .map(|i| {
            let c = (lo[i] + hi[i]) / 2.0;
            (q[i] - c) * (q[i] - c)
        })
        .sum();
    // The centre and half side come back from sums of floats: pad once more.
    d2 <= (half + PAD_M) * (half + PAD_M)
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
    partner_trees: Vec<RTree<PartnerEntry>>,
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
            if let Some(f) = family_slot(l.category.family) {
                lbuckets[f].push(GeomWithData::new(to_xyz(l.location), slot));
            }
        }
        idx.partner_trees = pbuckets.into_iter().map(RTree::bulk_load).collect();
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
        let family = family_slot(lot.category.family);
        let point = to_xyz(lot.location);
        let id = lot.id.clone();
        let slot = self.lots.put(&id, lot);
        if let Some(f) = family {
            self.lot_trees[f].insert(GeomWithData::new(point, slot));
        }
        old
    }

    /// Removes a lot; returns it if it was there.
    pub fn remove_lot(&mut self, id: &str) -> Option<LotProfile> {
        let (slot, l) = self.lots.take(id)?;
        if let Some(f) = family_slot(l.category.family) {
            self.lot_trees[f].remove(&GeomWithData::new(to_xyz(l.location), slot));
        }
        Some(l)
    }

    /// The `k` best feasible partners for `lot` (which need not be indexed),
    /// best first: score descending, then distance, then partner id.
    pub fn top_partners(&self, lot: &LotProfile, k: usize, now_ms: i64) -> Vec<Scored> {
        let Some(f) = family_slot(lot.category.family) else {
            return Vec::new();
        };
        if k == 0 {
            return Vec::new();
        }
        let q = to_xyz(lot.location);
        let here = AABB::from_point(q);
        let candidates = self.partner_trees[f]
            .locate_in_envelope_intersecting(&here)
            // The box is a cube around the service ball; drop its corners
            // with a cheap chord test before the haversine in the gates.
            .filter(|e| within_ball(e.geom(), q))
            .filter_map(|e| self.partners.get(e.data))
            .filter_map(|p| {
                self.scorer
                    .evaluate(lot, p, now_ms)
                    .ok()
                    .map(|ev| (ev, lot, p))
            })
            .collect();
        top_k(candidates, k, |_, p| p.id.as_str())
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
        let centre = to_xyz(partner.location);
        let mut candidates = Vec::new();
        for f in families_of(partner) {
            for e in self.lot_trees[f].locate_within_distance(centre, chord * chord) {
                if let Some(l) = self.lots.get(e.data)
                    && let Ok(ev) = self.scorer.evaluate(l, partner, now_ms)
                {
                    candidates.push((ev, l, partner));
                }
            }
        }
        top_k(candidates, k, |l, _| l.id.as_str())
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
        .map(|(ev, l, p)| Scored {
            lot_id: l.id.clone(),
            partner_id: p.id.clone(),
            score: ev.score,
            breakdown: ev.breakdown,
            distance_m: ev.distance_m,
        })
        .collect()
}
