//! In-memory spatial and category index over partners and lots.
//!
//! Points are embedded on a sphere in 3-D Cartesian metres (Earth-centred),
//! so a service disc of great-circle radius `r` is exactly the set of points
//! within chord `2R·sin(r / 2R)` of its centre: no seam at the antimeridian,
//! no distortion near the poles. Both sides live in sparse uniform grids
//! over those coordinates (see [`crate::grid`]), layered by [`Family`]: a
//! lot can only fit a partner that accepts something of the lot's family,
//! so a query touches one family (for a lot) or the partner's families (for
//! a partner).
//!
//! - Lots sit in the 16 km cell holding them; a partner query visits the
//!   cells meeting the box around its service ball.
//! - A partner whose service ball is at most [`COVER_MAX_REACH`] across is
//!   filed in *every* 33 km cell its ball meets near the sphere (a
//!   [`Cover`], about a dozen cells for a 30 km radius), so the partners
//!   that may serve a lot are all in the one cell holding the lot: a lot
//!   query is one hash lookup and one contiguous scan.
//! - Larger balls (a region, the planet) go to a grid layered by size
//!   class, in cells about as wide as the balls, visited 3 × 3 × 3 cells
//!   per class at most.
//!
//! Cells keep a single-precision copy of each position, scanned first with
//! a slack far above its rounding error. Candidates from the grids are a
//! superset of the feasible pairs; the very same gates and scorer as the
//! linear scan then decide, which is why both return identical lists.
//!
//! # Branch and bound
//!
//! A query does not score every candidate. Grid entries carry the few
//! fields the gates and the scorer need (see [`Brief`], [`LotHot`]), so
//! each candidate is screened on the cheap gates and given every factor
//! exactly except distance, for which the straight chord to the query point
//! (never longer than the great-circle distance, less float pads) gives an
//! upper bound, and for a partner capacity, from its headroom rounded up.
//! The score is non-decreasing in each factor, so this yields an upper
//! bound `ub` on the candidate's score. Candidates are then taken
//! in decreasing `ub` and fully scored (haversine, radius gate) until the
//! list holds `k` and the next `ub` is strictly below the `k`-th score: every
//! candidate left would then rank strictly after the `k`-th, whatever its
//! distance or id. A candidate whose bound merely equals the `k`-th score is
//! still scored, since it could tie on score and win on distance or id.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use reemploi_domain::category::{self, Category, Family, Fit};
use reemploi_domain::geo::{EARTH_RADIUS_M, GeoPoint};

use crate::grid::{self, COVER_MAX_REACH, Cover, Grid, Place};
use crate::profile::{LotProfile, PartnerProfile, Window};
use crate::score::{self, Breakdown, Evaluation, Scored, Scorer};

/// Size class of the lot cells (16 km): a partner query of a few tens of
/// kilometres visits a few dozen cells per family.
const LOT_CLASS: usize = 4;

/// What a lot query needs of a partner to screen and bound it, copied
/// next to its position in the grid cells (stored contiguously per cell,
/// 32 bytes) so only the few candidates fully scored touch the profile
/// slab. Radius and headroom are rounded *up* to `f32`: they only enter
/// the upper bound, which stays one; the score itself is computed from the
/// profile.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Brief {
    /// Bit `i` set when the partner accepts `category::all()[i]`; unused
    /// when [`Brief::IRREGULAR`] is set.
    codes: u64,
    horizon_ms: i64,
    radius_up: f32,
    headroom_up: f32,
    slot: u32,
    flags: u8,
}

impl Brief {
    const INSERTION: u8 = 1;
    /// Some accepted code is not among the first 64 of the table: the fit
    /// is taken from the profile.
    const IRREGULAR: u8 = 2;
}

/// A partner's grid entry: its [`Brief`] and exact ball.
#[derive(Debug, Clone, Copy, PartialEq)]
struct PartnerHot {
    /// Embedded position of the partner.
    centre: [f64; 3],
    /// Padded chord of the service radius ([`search_chord`]).
    chord: f64,
    brief: Brief,
}

/// The smallest `f32` not below `x` (`x` finite or infinite, not NaN).
fn f32_up(x: f64) -> f32 {
    let y = x as f32;
    if f64::from(y) < x { y.next_up() } else { y }
}

/// What a partner query needs of a lot to screen and bound it, copied into
/// its grid entry: 64 bytes (the window is stored without its `Option`
/// tags, which go in `flags`), exact values only.
#[derive(Debug, Clone, Copy, PartialEq)]
struct LotHot {
    position: [f64; 3],
    category: &'static Category,
    from_ms: i64,
    until_ms: i64,
    /// `available_units × unit_mass_g`, saturating, as the scorer uses it.
    mass_g: i64,
    slot: u32,
    flags: u8,
}

impl LotHot {
    const FROM: u8 = 1;
    const UNTIL: u8 = 2;

    fn window(&self) -> Window {
        Window {
            from_ms: (self.flags & LotHot::FROM != 0).then_some(self.from_ms),
            until_ms: (self.flags & LotHot::UNTIL != 0).then_some(self.until_ms),
        }
    }
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

/// The grid entry of a partner, or `None` when it can pass no gate whatever
/// the lot or the time: unverified, no capacity left, or a radius that
/// serves nowhere. Leaving those out of the grid is what the linear scan
/// cannot do; they stay in the slab and come back on upsert.
fn partner_entry(p: &PartnerProfile, slot: u32) -> Option<PartnerHot> {
    if !p.verified_active || p.headroom_g() <= 0 {
        return None;
    }
    let chord = search_chord(p.radius_m)?;
    let centre = to_xyz(p.location);
    let codes = code_mask(p);
    let mut flags = 0;
    if p.kind.is_insertion() {
        flags |= Brief::INSERTION;
    }
    if codes.is_none() {
        flags |= Brief::IRREGULAR;
    }
    Some(PartnerHot {
        centre,
        chord,
        brief: Brief {
            codes: codes.unwrap_or(0),
            horizon_ms: p.horizon_ms,
            radius_up: f32_up(p.radius_m),
            headroom_up: f32_up(p.headroom_g() as f64),
            slot,
            flags,
        },
    })
}

/// Where a partner entry goes in the layer of `family`.
fn partner_place(h: &PartnerHot, family: usize) -> Place {
    Place {
        family,
        point: h.centre,
        reach: h.chord,
        class: grid::class_for(h.chord),
    }
}

/// The grid place and entry of a lot, or `None` when it can match no
/// partner (hazardous) or its family is unknown; such lots stay in the slab
/// only.
fn lot_entry(l: &LotProfile, slot: u32) -> Option<(Place, LotHot)> {
    if l.hazardous {
        return None;
    }
    let family = family_slot(l.category.family)?;
    let position = to_xyz(l.location);
    let mut flags = 0;
    if l.window.from_ms.is_some() {
        flags |= LotHot::FROM;
    }
    if l.window.until_ms.is_some() {
        flags |= LotHot::UNTIL;
    }
    let hot = LotHot {
        position,
        category: l.category,
        from_ms: l.window.from_ms.unwrap_or(0),
        until_ms: l.window.until_ms.unwrap_or(0),
        mass_g: l.available_units.saturating_mul(l.unit_mass_g),
        slot,
        flags,
    };
    let place = Place {
        family,
        point: position,
        reach: 0.0,
        class: LOT_CLASS,
    };
    Some((place, hot))
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
/// grid entries stay small and ids are stored once per map.
#[derive(Debug)]
struct Slab<T> {
    items: Vec<Option<T>>,
    free: Vec<u32>,
    by_id: HashMap<String, u32>,
}

impl<T> Slab<T> {
    fn with_capacity(n: usize) -> Slab<T> {
        Slab {
            items: Vec::with_capacity(n),
            free: Vec::new(),
            by_id: HashMap::with_capacity(n),
        }
    }

    /// Gives back what duplicate ids left unused after a bulk build.
    fn shrink_to_fit(&mut self) {
        self.items.shrink_to_fit();
        self.by_id.shrink_to_fit();
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

    /// Stores `item` under its id (`id` reads it), overwriting in place a
    /// profile with the same id (used before the grids exist, so no entry
    /// goes stale).
    fn upsert(&mut self, item: T, id: impl Fn(&T) -> &str) -> u32 {
        match self.slot_of(id(&item)) {
            Some(slot) => {
                self.items[slot as usize] = Some(item);
                slot
            }
            None => {
                let key = id(&item).to_owned();
                self.put(&key, item)
            }
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
    /// Per family: every partner accepting that family, in every cell its
    /// service ball meets (balls up to [`COVER_MAX_REACH`]).
    partner_cover: Cover<Brief>,
    /// Per family and ball size: partners with larger balls.
    partner_grid: Grid<PartnerHot>,
    /// Per family: the position of every lot of that family.
    lot_grid: Grid<LotHot>,
}

impl Index {
    /// Builds the index in bulk (much faster than inserting one by one).
    /// When two profiles share an id, the later one wins.
    pub fn new(scorer: Scorer, partners: Vec<PartnerProfile>, lots: Vec<LotProfile>) -> Index {
        let mut idx = Index {
            scorer,
            partners: Slab::with_capacity(partners.len()),
            lots: Slab::with_capacity(lots.len()),
            partner_cover: Cover::new(EARTH_RADIUS_M),
            partner_grid: Grid::new(),
            lot_grid: Grid::new(),
        };
        for p in partners {
            idx.partners.upsert(p, |p| &p.id);
        }
        for l in lots {
            idx.lots.upsert(l, |l| &l.id);
        }
        idx.partners.shrink_to_fit();
        idx.lots.shrink_to_fit();
        let slots: Vec<u32> = idx.partners.iter().map(|(slot, _)| slot).collect();
        for slot in slots {
            idx.place_partner(slot);
        }
        idx.partner_cover.shrink_to_fit();
        let lots = &idx.lots;
        idx.lot_grid = Grid::build(|| lots.iter().filter_map(|(slot, l)| lot_entry(l, slot)));
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
        let id = partner.id.clone();
        let slot = self.partners.put(&id, partner);
        self.place_partner(slot);
        old
    }

    /// Enters the partner of `slot` in the cover or grid of each of its
    /// families, if it can pass the static gates.
    fn place_partner(&mut self, slot: u32) {
        let Some(p) = self.partners.get(slot) else {
            return;
        };
        let Some(entry) = partner_entry(p, slot) else {
            return;
        };
        let families = families_of(p);
        if entry.chord <= COVER_MAX_REACH {
            for f in families {
                self.partner_cover
                    .insert(partner_place(&entry, f), entry.brief);
            }
        } else {
            for f in families {
                self.partner_grid.insert(partner_place(&entry, f), entry);
            }
        }
    }

    /// Removes a partner; returns it if it was there.
    pub fn remove_partner(&mut self, id: &str) -> Option<PartnerProfile> {
        let (slot, p) = self.partners.take(id)?;
        if let Some(entry) = partner_entry(&p, slot) {
            let cover = entry.chord <= COVER_MAX_REACH;
            for f in families_of(&p) {
                let place = partner_place(&entry, f);
                if cover {
                    self.partner_cover.remove(place, |b| b.slot == slot);
                } else {
                    self.partner_grid.remove(place, |e| e.brief.slot == slot);
                }
            }
        }
        Some(p)
    }

    /// Adds or replaces a lot; returns the profile it replaced.
    pub fn upsert_lot(&mut self, lot: LotProfile) -> Option<LotProfile> {
        let old = self.remove_lot(&lot.id);
        let id = lot.id.clone();
        let slot = self.lots.put(&id, lot);
        if let Some((place, entry)) = self.lots.get(slot).and_then(|l| lot_entry(l, slot)) {
            self.lot_grid.insert(place, entry);
        }
        old
    }

    /// Removes a lot; returns it if it was there.
    pub fn remove_lot(&mut self, id: &str) -> Option<LotProfile> {
        let (slot, l) = self.lots.take(id)?;
        if let Some((place, _)) = lot_entry(&l, slot) {
            self.lot_grid.remove(place, |e| e.slot == slot);
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
        let mut candidates = Vec::with_capacity(64);
        // Screens and bounds a partner whose centre lies `chord2_lb` or
        // more (squared chord) from the lot.
        let mut consider = |h: &Brief, chord2_lb: f64| {
            let end = now_ms.saturating_add(h.horizon_ms.max(0));
            if !lot.window.overlaps(now_ms, end) {
                return;
            }
            let fit = self.brief_fit(h, lot, lot_bit);
            if fit == Fit::None {
                return;
            }
            // Rounded-up radius and headroom: factors at least the exact
            // ones, so `ub` is still an upper bound.
            let bound = Breakdown {
                category_fit: score::fit_factor(fit),
                distance: score::distance_factor(
                    distance_lower_bound_m(chord2_lb),
                    f64::from(h.radius_up),
                ),
                capacity: score::capacity_factor_f64(mass_g, f64::from(h.headroom_up)),
                urgency,
                insertion: score::insertion_factor(h.flags & Brief::INSERTION != 0),
            };
            candidates.push(Bounded {
                ub: self.scorer.total(&bound),
                item: (h.slot, bound.category_fit),
            });
        };
        if let Some(cell) = self.partner_cover.cell(f, q) {
            for (d2, h) in cell.near_d2(q, 0.0) {
                // The screen's distance is within a few centimetres of the
                // exact chord: take off its whole slack.
                let lb = (f64::from(d2).sqrt() - grid::SCREEN_SLACK_M).max(0.0);
                consider(h, lb * lb);
            }
        }
        self.partner_grid.visit(f, q, 0.0, |cell| {
            for h in cell.near(q, 0.0) {
                let chord2 = dist2(h.centre, q);
                // The padded chord keeps every partner the radius gate admits.
                if chord2 <= h.chord * h.chord {
                    consider(&h.brief, chord2);
                }
            }
        });
        self.prefetch_partners(&mut candidates, k);
        let top = best_first(
            candidates,
            k,
            |&(slot, category_fit)| {
                let exact = self.exact_for_lot(lot, slot, category_fit, mass_g, urgency)?;
                Some((exact, slot))
            },
            |slot| self.partner_id(slot),
        );
        top.into_iter()
            .map(|(ev, slot)| scored(ev, &lot.id, self.partner_id(slot)))
            .collect()
    }

    /// How a partner of the lot's family layer takes the lot's category: at
    /// least `Family` there, `Exact` when its code bits say so, and looked up
    /// in the profile when its codes do not fit the bits.
    fn brief_fit(&self, h: &Brief, lot: &LotProfile, lot_bit: Option<u32>) -> Fit {
        if h.flags & Brief::IRREGULAR != 0 {
            self.partners
                .get(h.slot)
                .map_or(Fit::None, |p| p.best_fit(lot.category))
        } else if lot_bit.is_some_and(|bit| h.codes >> bit & 1 == 1) {
            Fit::Exact
        } else {
            Fit::Family
        }
    }

    /// The exact evaluation of the partner at `slot` for `lot`, every factor
    /// from its profile (the fit was exact in the bound already); `None`
    /// when the lot lies beyond its radius.
    fn exact_for_lot(
        &self,
        lot: &LotProfile,
        slot: u32,
        category_fit: f64,
        mass_g: i64,
        urgency: f64,
    ) -> Option<Evaluation> {
        let p = self.partners.get(slot)?;
        let distance_m = lot.location.distance_m(p.location);
        // Written so a NaN distance fails the radius gate.
        let inside = distance_m <= p.radius_m;
        if !inside {
            return None;
        }
        let breakdown = Breakdown {
            category_fit,
            distance: score::distance_factor(distance_m, p.radius_m),
            capacity: score::capacity_factor(mass_g, p.headroom_g()),
            urgency,
            insertion: score::insertion_factor(p.kind.is_insertion()),
        };
        Some(Evaluation {
            score: self.scorer.total(&breakdown),
            breakdown,
            distance_m,
        })
    }

    /// Loads the profiles of the `2k` best-bounded candidates, those the
    /// search will most likely score, in a loop of independent reads: the
    /// processor then overlaps their cache misses, which the search, reading
    /// one profile per step of a dependent loop, cannot. Only a hint for
    /// speed; reorders `candidates`, which the search puts in a heap anyway.
    fn prefetch_partners(&self, candidates: &mut [Bounded<(u32, f64)>], k: usize) {
        let n = candidates.len().min(k.saturating_mul(2));
        if n == 0 {
            return;
        }
        if candidates.len() > n {
            candidates.select_nth_unstable_by(n - 1, |a, b| b.cmp(a));
        }
        let touched: f64 = candidates[..n]
            .iter()
            .filter_map(|c| self.partners.get(c.item.0))
            .map(|p| p.radius_m)
            .sum();
        std::hint::black_box(touched);
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
        let chord2 = chord * chord;
        for f in families_of(partner) {
            self.lot_grid.visit(f, centre, chord, |cell| {
                for h in cell.near(centre, chord) {
                    let d2 = dist2(h.position, centre);
                    if d2 > chord2 {
                        continue;
                    }
                    let window = h.window();
                    if !window.overlaps(now_ms, end) {
                        continue;
                    }
                    let fit = partner.best_fit(h.category);
                    if fit == Fit::None {
                        continue;
                    }
                    let bound = Breakdown {
                        category_fit: score::fit_factor(fit),
                        distance: score::distance_factor(
                            distance_lower_bound_m(d2),
                            partner.radius_m,
                        ),
                        capacity: score::capacity_factor(h.mass_g, headroom_g),
                        urgency: self.scorer.urgency_factor(window.until_ms, now_ms),
                        insertion,
                    };
                    candidates.push(Bounded {
                        ub: self.scorer.total(&bound),
                        item: (h, bound),
                    });
                }
            });
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
    /// capacities (profiles, id strings, id maps, grid maps and cells). An estimate: allocator slack is not counted.
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
        partners
            + lots
            + self.partner_cover.heap_bytes()
            + self.partner_grid.heap_bytes()
            + self.lot_grid.heap_bytes()
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
