//! Whole units: an exact branch and bound whose relaxation is the mass model
//! (a min-cost flow), within a deterministic effort budget. See "Whole units"
//! in the crate docs for the model and why this is the method.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::rc::Rc;

use crate::alloc::{ArcSpec, Relaxed, relax};

/// Widest subset-sum table [`Problem::tighten`] builds, in capacity units
/// of the gcd of the masses (256 Kbit, 32 KiB).
const MAX_TABLE_BITS: i64 = 1 << 18;

/// Widest partner [`Problem::refill`] polishes, in gcd steps: 16 tonnes
/// in kilograms. Intakes in grams are wider: there a fill costs more than
/// the search it saves (it made the small random plans' proofs several
/// times slower), and so many steps rarely leave a partner short of a unit.
const MAX_FILL_STEPS: i64 = 1 << 14;

/// Most cells of the table [`Problem::refill`] builds (offers × capacity
/// steps, 4 bytes each): 16 MiB, 256 lots at the widest partner; beyond
/// that the polish is skipped rather than the memory spent.
const MAX_FILL_CELLS: u64 = 1 << 22;

/// Grams placed, then gram-metres: compared lexicographically by [`better`].
pub(crate) type Objective = (i64, i128);

/// Whether `a` places more grams than `b`, or as many over fewer gram-metres.
pub(crate) fn better(a: Objective, b: Objective) -> bool {
    a.0 > b.0 || (a.0 == b.0 && a.1 < b.1)
}

/// A whole-unit allocation problem, already validated: masses positive,
/// counts and capacities non-negative, arcs in range, sums within i64.
pub(crate) struct Problem<'a> {
    pub(crate) arcs: &'a [ArcSpec],
    /// Per arc: grams the partner can take of the lot in the lot's time.
    pub(crate) arc_g: Vec<i64>,
    /// Per lot: whole units available and the mass of one.
    pub(crate) units: Vec<i64>,
    pub(crate) unit_mass_g: Vec<i64>,
    /// Per partner: capacity in grams.
    pub(crate) cap: Vec<i64>,
}

/// Effort of a search: all of it, and the part spent polishing plans
/// (see [`Problem::polish`]).
struct Spend {
    spent: u64,
    polished: u64,
    budget: u64,
}

impl Spend {
    /// What the next polish may spend: polishing stops at a quarter of the
    /// budget, which kept on loose sites the proofs that the search alone
    /// reached while it found the plans that fill tight sites, and at
    /// [`MAX_POLISH`] whatever the budget, for a larger one is there to
    /// prove, and polishing every node slowed the proofs of small plans
    /// fivefold.
    fn polish_room(&self) -> u64 {
        (self.budget / 4)
            .min(MAX_POLISH)
            .saturating_sub(self.polished)
            .min(self.budget.saturating_sub(self.spent))
    }
}

/// Most effort a search spends polishing plans: a quarter of the default.
const MAX_POLISH: u64 = 5_000_000;

/// What the search found.
pub(crate) struct Outcome {
    /// Whole units on each arc, indexed like the arcs.
    pub(crate) units: Vec<i64>,
    pub(crate) objective: Objective,
    /// The search finished: `units` is the lexicographic optimum.
    pub(crate) optimal: bool,
    /// No whole-unit plan places more grams than this.
    pub(crate) mass_bound_g: i64,
    /// Relaxations solved, root included.
    pub(crate) nodes: usize,
}

/// One branching decision; a subproblem is the chain of decisions from its
/// newest back to the root, shared with its siblings, so an open node costs
/// a few words whatever its depth and the problem's size.
struct Fix {
    arc: usize,
    lo: i64,
    hi: i64,
    parent: Option<Rc<Fix>>,
}

/// Where to split an open node: units of `arc` in `lo..=whole` or
/// `whole + 1..=hi`.
#[derive(Clone, Copy)]
struct Branch {
    arc: usize,
    lo: i64,
    whole: i64,
    hi: i64,
}

/// An open subproblem, its relaxation already solved and rounded: `bound`,
/// the relaxation's optimum, is beaten by no plan of the subproblem.
struct Node {
    fixes: Option<Rc<Fix>>,
    bound: Objective,
    branch: Branch,
    /// Creation order: among equal bounds, the newest (deepest) first.
    seq: usize,
}

impl Node {
    fn key(&self) -> (i64, Reverse<i128>, usize) {
        (self.bound.0, Reverse(self.bound.1), self.seq)
    }
}

impl PartialEq for Node {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Node {}

impl PartialOrd for Node {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Node {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl Problem<'_> {
    /// Most units an arc can carry: the lot's units, what fits the
    /// partner's capacity, and what it takes in the lot's time.
    fn arc_max(&self, k: usize) -> i64 {
        let a = self.arcs[k];
        let m = self.unit_mass_g[a.lot];
        self.units[a.lot]
            .min(self.cap[a.partner] / m)
            .min(self.arc_g[k] / m)
    }

    /// Tightens each partner's capacity to the largest mass that whole units
    /// of the lots it can reach actually sum to (bounded subset sum), which
    /// no whole-unit plan can exceed; partners whose table would cost more
    /// than what is left of `budget` keep the gcd rounding only. Returns the
    /// effort spent, in 64-bit words touched.
    pub(crate) fn tighten(&mut self, budget: u64) -> u64 {
        let mut by_partner: Vec<Vec<(i64, i64)>> = vec![Vec::new(); self.cap.len()];
        for k in 0..self.arcs.len() {
            let n = self.arc_max(k);
            if n > 0 {
                let a = self.arcs[k];
                by_partner[a.partner].push((self.unit_mass_g[a.lot], n));
            }
        }
        let mut spent = 0u64;
        for (j, items) in by_partner.iter().enumerate() {
            let g = items.iter().fold(0, |g, (m, _)| gcd(g, *m));
            if g == 0 {
                continue;
            }
            // Whole units only reach multiples of the gcd of their masses.
            let cap = self.cap[j] / g;
            self.cap[j] = cap * g;
            let total: i64 = items.iter().map(|(m, n)| m / g * n).sum();
            if total <= cap {
                // Everything fits: the capacity is not what binds.
                self.cap[j] = total * g;
                continue;
            }
            // A wider table costs more than it saves: on tonne-scale intakes
            // in grams it took the whole effort and tightened nothing.
            if cap > MAX_TABLE_BITS {
                continue;
            }
            let shifts: u64 = items
                .iter()
                .map(|(_, n)| u64::from(64 - n.leading_zeros()))
                .sum();
            let cost = shifts * (cap as u64 / 64 + 1);
            if spent + cost > budget {
                continue;
            }
            spent += cost;
            let reach = subset_sums(items, g, cap);
            self.cap[j] = reach * g;
        }
        spent
    }

    /// The relaxation of the whole problem (`None` only if a capacity is
    /// negative, which validation rules out).
    pub(crate) fn root(&self) -> Option<Relaxed> {
        let n = self.arcs.len();
        let hi: Vec<i64> = (0..n).map(|k| self.arc_max(k)).collect();
        self.evaluate(&vec![0; n], &hi).map(|(r, _)| r)
    }

    /// Solves the relaxation of a subproblem; `None` if its fixed units
    /// already exceed a lot or a partner.
    fn evaluate(&self, lo: &[i64], hi: &[i64]) -> Option<(Relaxed, Objective)> {
        let mut supply: Vec<i64> = self
            .units
            .iter()
            .zip(&self.unit_mass_g)
            .map(|(u, m)| u * m)
            .collect();
        let mut cap = self.cap.clone();
        let (mut mass, mut cost) = (0i64, 0i128);
        for (k, a) in self.arcs.iter().enumerate() {
            let g = lo[k] * self.unit_mass_g[a.lot];
            supply[a.lot] -= g;
            cap[a.partner] -= g;
            mass += g;
            cost += i128::from(g) * i128::from(a.distance_m);
        }
        if supply.iter().chain(&cap).any(|x| *x < 0) {
            return None;
        }
        let arc_cap: Vec<i64> = self
            .arcs
            .iter()
            .enumerate()
            .map(|(k, a)| (hi[k] - lo[k]) * self.unit_mass_g[a.lot])
            .collect();
        let r = relax(&supply, &cap, self.arcs, &arc_cap);
        let objective = (mass + r.mass_g, cost + r.gram_metres);
        Some((r, objective))
    }

    /// Whole units from a relaxation: its whole part on each arc, then the
    /// units that frees, heaviest first, each to its nearest partner with
    /// room (within the subproblem's bounds).
    fn round(&self, lo: &[i64], hi: &[i64], r: &Relaxed) -> (Vec<i64>, Objective) {
        let mut units_left = self.units.clone();
        let mut cap_left = self.cap.clone();
        let mut x = vec![0i64; self.arcs.len()];
        for (k, a) in self.arcs.iter().enumerate() {
            let m = self.unit_mass_g[a.lot];
            x[k] = lo[k] + r.flows[k] / m;
            units_left[a.lot] -= x[k];
            cap_left[a.partner] -= x[k] * m;
        }
        let mut by_lot: Vec<Vec<usize>> = vec![Vec::new(); self.units.len()];
        for (k, a) in self.arcs.iter().enumerate() {
            by_lot[a.lot].push(k);
        }
        let mut order: Vec<usize> = (0..self.units.len())
            .filter(|i| units_left[*i] > 0)
            .collect();
        order.sort_by_key(|i| (Reverse(self.unit_mass_g[*i]), *i));
        for i in order {
            let m = self.unit_mass_g[i];
            let mut ks = std::mem::take(&mut by_lot[i]);
            ks.sort_by_key(|k| (self.arcs[*k].distance_m, self.arcs[*k].partner));
            for k in ks {
                let j = self.arcs[k].partner;
                let add = units_left[i].min(cap_left[j] / m).min(hi[k] - x[k]);
                if add > 0 {
                    x[k] += add;
                    units_left[i] -= add;
                    cap_left[j] -= add * m;
                }
            }
        }
        let objective = self.objective(&x);
        (x, objective)
    }

    fn objective(&self, x: &[i64]) -> Objective {
        self.arcs
            .iter()
            .zip(x)
            .fold((0, 0), |(mass, cost), (a, u)| {
                let g = u * self.unit_mass_g[a.lot];
                (mass + g, cost + i128::from(g) * i128::from(a.distance_m))
            })
    }

    /// Branch and bound from `root` (the relaxation of the whole problem),
    /// spending at most `budget` more effort. Best first: the open node with
    /// the best relaxation is split next, so the bound falls as fast as the
    /// nodes allow; children are solved and rounded when created, to be
    /// ranked and to improve the best plan early.
    pub(crate) fn search(&self, root: Relaxed, budget: u64) -> Outcome {
        let n = self.arcs.len();
        let hi0: Vec<i64> = (0..n).map(|k| self.arc_max(k)).collect();
        let mut best = (vec![0i64; n], (0, 0));
        let mut open = BinaryHeap::new();
        let mut spend = Spend {
            spent: 0,
            polished: 0,
            budget,
        };
        let (mut nodes, mut seq) = (1, 0);
        let root_bound = (root.mass_g, root.gram_metres);
        if let Some(branch) =
            self.settle(&vec![0; n], &hi0, &root, root_bound, &mut best, &mut spend)
        {
            open.push(Node {
                fixes: None,
                bound: root_bound,
                branch,
                seq,
            });
        }
        let mut stopped = false;
        while let Some(node) = open.pop() {
            if !better(node.bound, best.1) {
                // No other open node is better either.
                break;
            }
            if spend.spent >= budget {
                open.push(node);
                stopped = true;
                break;
            }
            let b = node.branch;
            for (lo, hi) in [(b.lo, b.whole), (b.whole + 1, b.hi)] {
                let fixes = Some(Rc::new(Fix {
                    arc: b.arc,
                    lo,
                    hi,
                    parent: node.fixes.clone(),
                }));
                let (clo, chi) = self.bounds(fixes.as_deref(), &hi0);
                nodes += 1;
                let Some((r, bound)) = self.evaluate(&clo, &chi) else {
                    continue;
                };
                spend.spent += r.work;
                if let Some(branch) = self.settle(&clo, &chi, &r, bound, &mut best, &mut spend) {
                    seq += 1;
                    open.push(Node {
                        fixes,
                        bound,
                        branch,
                        seq,
                    });
                }
            }
        }
        let left = stopped
            .then(|| {
                open.iter()
                    .filter(|s| better(s.bound, best.1))
                    .map(|s| s.bound.0)
                    .max()
            })
            .flatten();
        let (units, objective) = best;
        Outcome {
            units,
            objective,
            optimal: left.is_none(),
            mass_bound_g: left.map_or(objective.0, |m| m.max(objective.0)),
            nodes,
        }
    }

    /// Rounds a subproblem's relaxation into a plan, kept if it is the best
    /// so far, and picks the unit to branch on: the heaviest one the
    /// relaxation splits, since its two sides differ the most. `None` when
    /// the subproblem cannot beat the best plan, which includes a
    /// relaxation that splits nothing.
    fn settle(
        &self,
        lo: &[i64],
        hi: &[i64],
        r: &Relaxed,
        bound: Objective,
        best: &mut (Vec<i64>, Objective),
        spend: &mut Spend,
    ) -> Option<Branch> {
        let (mut x, got) = self.round(lo, hi, r);
        // Polish only what rounding left short of the node's mass: polishing
        // plans that have it too made loose sites, proven in half a
        // millisecond, take thirty. A plan lighter than the best but cheaper
        // may become the best once its partners are filled: polishing only
        // the best ones left plans up to 2.4% above the optimum on tight
        // sites, these 1.1%.
        if got.0 < bound.0 && (better(got, best.1) || got.1 < best.1.1) {
            let cost = self.polish(&mut x, spend.polish_room());
            spend.spent += cost;
            spend.polished += cost;
        }
        let got = self.objective(&x);
        if better(got, best.1) {
            *best = (x, got);
        }
        if !better(bound, best.1) {
            return None;
        }
        let mass = |k: usize| self.unit_mass_g[self.arcs[k].lot];
        let arc = (0..self.arcs.len())
            .filter(|k| r.flows[*k] % mass(*k) != 0)
            .max_by_key(|k| (mass(*k), Reverse(*k)))?;
        Some(Branch {
            arc,
            lo: lo[arc],
            whole: lo[arc] + r.flows[arc] / mass(arc),
            hi: hi[arc],
        })
    }

    /// Unit bounds of every arc in a subproblem. A decision only ever
    /// narrows its ancestors' range on its arc, so intersecting them all
    /// gives the subproblem's own.
    fn bounds(&self, mut fix: Option<&Fix>, hi0: &[i64]) -> (Vec<i64>, Vec<i64>) {
        let mut lo = vec![0i64; hi0.len()];
        let mut hi = hi0.to_vec();
        while let Some(f) = fix {
            lo[f.arc] = lo[f.arc].max(f.lo);
            hi[f.arc] = hi[f.arc].min(f.hi);
            fix = f.parent.as_deref();
        }
        (lo, hi)
    }
}

/// Units of one lot a partner could take in [`Problem::refill`]: up to
/// `most` units on arc `arc`, each `weight` gcd steps and `cost`
/// gram-metres.
struct Offer {
    arc: usize,
    most: i64,
    weight: usize,
    cost: i128,
}

impl Problem<'_> {
    /// Improves a whole-unit plan `x` one partner at a time: each partner in
    /// turn gets the best fill of its capacity (most grams, then fewest
    /// gram-metres) from the units it holds and those no partner holds, the
    /// others staying as they are; sweeps until a sweep changes nothing or
    /// `budget` is spent. Rounding often leaves partners a few kilograms
    /// short when no leftover unit fits the gap; an exact fill from a table
    /// of sums closes it by swapping units. Returns the effort spent, in
    /// table cells.
    fn polish(&self, x: &mut [i64], budget: u64) -> u64 {
        let mut by_partner: Vec<Vec<usize>> = vec![Vec::new(); self.cap.len()];
        for (k, a) in self.arcs.iter().enumerate() {
            by_partner[a.partner].push(k);
        }
        let mut spent = 0u64;
        loop {
            let mut changed = false;
            for ks in &by_partner {
                let (improved, cost) = self.refill(x, ks, budget.saturating_sub(spent));
                spent += cost;
                changed |= improved;
            }
            if !changed && spent < budget {
                let (improved, cost) = self.swap_pairs(x, &by_partner, budget - spent);
                spent += cost;
                changed = improved;
            }
            if !changed || spent >= budget {
                return spent;
            }
        }
    }

    /// One partner at a time stalls when a partner short of its capacity
    /// needs a unit another holds: for each partner short of its capacity
    /// and each other partner holding units it can reach, frees the other's
    /// units, refills the short one, then the other, and keeps the result
    /// if the plan is better.
    /// Returns whether a swap was kept and the effort spent.
    fn swap_pairs(&self, x: &mut [i64], by_partner: &[Vec<usize>], budget: u64) -> (bool, u64) {
        let mut spent = 0u64;
        for (j, short) in by_partner.iter().enumerate() {
            let load: i64 = short
                .iter()
                .map(|k| x[*k] * self.unit_mass_g[self.arcs[*k].lot])
                .sum();
            if load >= self.cap[j] {
                continue;
            }
            let reach: Vec<usize> = short.iter().map(|k| self.arcs[*k].lot).collect();
            // Only a partner holding units the short one can reach may help.
            let helps = |ks: &[usize]| {
                ks.iter()
                    .any(|k| x[*k] > 0 && reach.contains(&self.arcs[*k].lot))
            };
            for (_, other) in by_partner
                .iter()
                .enumerate()
                .filter(|(o, ks)| *o != j && helps(ks))
            {
                let before = self.objective(x);
                let mut y = x.to_vec();
                for k in other {
                    y[*k] = 0;
                }
                for ks in [short, other] {
                    let (_, cost) = self.refill(&mut y, ks, budget.saturating_sub(spent));
                    spent += cost;
                }
                if better(self.objective(&y), before) {
                    x.copy_from_slice(&y);
                    return (true, spent);
                }
                if spent >= budget {
                    return (false, spent);
                }
            }
        }
        (false, spent)
    }

    /// What partner arcs `ks` could carry in plan `x`, and the gcd of the
    /// unit masses in grams: every unit held on the arc or held by nobody.
    fn offers(&self, x: &[i64], ks: &[usize]) -> (Vec<Offer>, i64) {
        let mut left = self.units.clone();
        for (k, a) in self.arcs.iter().enumerate() {
            left[a.lot] -= x[k];
        }
        let offers: Vec<(usize, i64)> = ks
            .iter()
            .map(|k| (*k, (x[*k] + left[self.arcs[*k].lot]).min(self.arc_max(*k))))
            .filter(|(_, n)| *n > 0)
            .collect();
        let g = offers
            .iter()
            .fold(0, |g, (k, _)| gcd(g, self.unit_mass_g[self.arcs[*k].lot]));
        let offers = offers
            .into_iter()
            .map(|(k, most)| {
                let a = self.arcs[k];
                let m = self.unit_mass_g[a.lot];
                Offer {
                    arc: k,
                    most,
                    weight: (m / g) as usize,
                    cost: i128::from(m) * i128::from(a.distance_m),
                }
            })
            .collect();
        (offers, g)
    }

    /// Replaces the units of partner arcs `ks` (all of one partner) in `x`
    /// by the partner's best fill (see [`Problem::polish`]) if it beats
    /// theirs; returns whether it did and the effort spent. A partner whose
    /// table would be wider than [`MAX_FILL_STEPS`] steps, hold more than
    /// [`MAX_FILL_CELLS`] cells or cost more than `budget` is left as it is.
    fn refill(&self, x: &mut [i64], ks: &[usize], budget: u64) -> (bool, u64) {
        let Some(j) = ks.first().map(|k| self.arcs[*k].partner) else {
            return (false, 0);
        };
        let (offers, g) = self.offers(x, ks);
        if g == 0 || self.cap[j] / g > MAX_FILL_STEPS {
            return (false, 0);
        }
        let cap = (self.cap[j] / g) as usize;
        let cost = offers.len() as u64 * (cap as u64 + 1);
        if cost > budget || cost > MAX_FILL_CELLS {
            return (false, 0);
        }
        let (fill, counts) = cheapest_fills(&offers, cap);
        let Some(top) = (0..=cap).rev().find(|c| fill[*c] < i128::MAX) else {
            return (false, cost);
        };
        let held: Objective = ks.iter().fold((0, 0), |(mass, gm), k| {
            let a = self.arcs[*k];
            let grams = x[*k] * self.unit_mass_g[a.lot];
            (
                mass + grams,
                gm + i128::from(grams) * i128::from(a.distance_m),
            )
        });
        if !better((top as i64 * g, fill[top]), held) {
            return (false, cost);
        }
        let mut c = top;
        for (o, offer) in offers.iter().enumerate().rev() {
            let n = counts[o * (cap + 1) + c];
            x[offer.arc] = i64::from(n);
            c -= n as usize * offer.weight;
        }
        for k in ks {
            if !offers.iter().any(|o| o.arc == *k) {
                x[*k] = 0;
            }
        }
        (true, cost)
    }
}

/// Fewest gram-metres that fill exactly `c` gcd steps with at most `most`
/// units of each offer, for every `c` up to `cap` (`i128::MAX` where no
/// units do), and the units of each offer in the fill of each `c`, offers
/// taken in order, to read a fill back.
///
/// Bounded knapsack in `offers × cap` steps: with unit weight `w`, unit
/// cost `q` and at most `n` units, the new cost of `c = r + p·w` is the
/// least `old[r + s·w] + (p − s)·q` over `p − n ≤ s ≤ p`, that is `p·q`
/// plus a minimum of `old[r + s·w] − s·q` over a sliding window, kept in
/// a monotone queue.
fn cheapest_fills(offers: &[Offer], cap: usize) -> (Vec<i128>, Vec<u32>) {
    let mut fill = vec![i128::MAX; cap + 1];
    fill[0] = 0;
    let mut counts = vec![0u32; offers.len() * (cap + 1)];
    let mut queue: std::collections::VecDeque<(usize, i128)> = Default::default();
    for (o, offer) in offers.iter().enumerate() {
        let old = fill.clone();
        let row = &mut counts[o * (cap + 1)..(o + 1) * (cap + 1)];
        let w = offer.weight;
        for r in 0..w.min(cap + 1) {
            queue.clear();
            for (p, c) in (r..=cap).step_by(w).enumerate() {
                if old[c] < i128::MAX {
                    let key = old[c] - p as i128 * offer.cost;
                    while queue.back().is_some_and(|(_, k)| *k >= key) {
                        queue.pop_back();
                    }
                    queue.push_back((p, key));
                }
                while queue
                    .front()
                    .is_some_and(|(s, _)| (p - s) as i64 > offer.most)
                {
                    queue.pop_front();
                }
                if let Some((s, key)) = queue.front() {
                    fill[c] = key + p as i128 * offer.cost;
                    // At most `cap` units of weight >= 1: within u32, as
                    // `cap` is at most MAX_FILL_STEPS.
                    row[c] = (p - s) as u32;
                }
            }
        }
    }
    (fill, counts)
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Largest `s <= cap` that `n` items of weight `m / g` sum to, over the
/// `(m, n)` in `items`; a bitset of reachable sums, each item count split
/// into powers of two so every count up to `n` stays reachable.
fn subset_sums(items: &[(i64, i64)], g: i64, cap: i64) -> i64 {
    let cap = cap as usize;
    let mut bits = vec![0u64; cap / 64 + 1];
    bits[0] = 1;
    let reached = |bits: &[u64]| bits[cap / 64] >> (cap % 64) & 1 == 1;
    for &(m, n) in items {
        let w = (m / g) as usize;
        let mut left = n;
        let mut chunk = 1;
        while left > 0 {
            let take = chunk.min(left);
            shift_or(&mut bits, w * take as usize, cap);
            left -= take;
            chunk *= 2;
        }
        if reached(&bits) {
            return cap as i64;
        }
    }
    // Bits above `cap` are kept clear, so the highest set bit is the answer.
    bits.iter()
        .enumerate()
        .rev()
        .find(|(_, w)| **w != 0)
        .map_or(0, |(i, w)| {
            (i * 64 + 63 - w.leading_zeros() as usize) as i64
        })
}

/// `bits |= bits << by`, keeping bits `0..=cap`.
fn shift_or(bits: &mut [u64], by: usize, cap: usize) {
    if by > cap {
        return;
    }
    let (words, rest) = (by / 64, by % 64);
    // High to low, so each source word is read before it is written.
    for w in (words..bits.len()).rev() {
        let mut v = bits[w - words] << rest;
        if rest > 0 && w > words {
            v |= bits[w - words - 1] >> (64 - rest);
        }
        bits[w] |= v;
    }
    let top = cap % 64;
    if let Some(last) = bits.last_mut()
        && top < 63
    {
        *last &= (1u64 << (top + 1)) - 1;
    }
}
