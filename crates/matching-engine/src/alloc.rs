//! Site-wide allocation of lots to partners (model in the crate docs).

use crate::capacity::{Capacity, Horizon, intake_over};
use crate::gate;
use crate::mcmf::Network;
use crate::profile::{LotProfile, PartnerProfile};
use crate::whole::{Outcome, Problem};

/// Grams times metres in one tonne-kilometre.
const GRAM_METRES_PER_TONNE_KM: f64 = 1e9;

/// A (lot, partner) pair that passed every gate: an arc of the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArcSpec {
    /// Index into the `lots` slice.
    pub lot: usize,
    /// Index into the `partners` slice.
    pub partner: usize,
    /// Great-circle distance rounded to whole metres: the model's cost per
    /// gram, kept integral so the optimum is exact.
    pub distance_m: i64,
    /// Grams the partner can take in the time the lot is available within
    /// the plan's horizon: its weekly intake over that time.
    pub max_g: i64,
}

/// Every pair that passes the gates of reach (verified partner, lot not
/// hazardous, category, radius) and whose lot is available for some time
/// within `horizon`, ordered by lot then partner index. Capacities are
/// weighed by the plan, not gated: see [`capacities`].
pub fn feasible_arcs(
    lots: &[LotProfile],
    partners: &[PartnerProfile],
    horizon: Horizon,
) -> Vec<ArcSpec> {
    let mut arcs = Vec::new();
    for (i, lot) in lots.iter().enumerate() {
        // A hazardous or empty lot has no arc at all; skip the partner loop.
        if lot.hazardous || lot.available_units <= 0 {
            continue;
        }
        let Some((from, until)) = horizon.overlap(lot.window) else {
            continue;
        };
        for (j, partner) in partners.iter().enumerate() {
            if let Ok(passed) = gate::reach(lot, partner) {
                arcs.push(ArcSpec {
                    lot: i,
                    partner: j,
                    distance_m: passed.distance_m.round() as i64,
                    max_g: intake_over(partner.weekly_intake_g, until - from),
                });
            }
        }
    }
    arcs
}

/// Each partner's capacity for a plan over `arcs` (normally
/// [`feasible_arcs`] of the same horizon): its weekly intake over the
/// union of the times, within `horizon`, its lots are available, less
/// what it holds. A partner without arcs has none.
pub fn capacities(
    lots: &[LotProfile],
    partners: &[PartnerProfile],
    arcs: &[ArcSpec],
    horizon: Horizon,
) -> Vec<Capacity> {
    let mut spans: Vec<Vec<(i64, i64)>> = vec![Vec::new(); partners.len()];
    for a in arcs {
        if let (Some(lot), Some(s)) = (lots.get(a.lot), spans.get_mut(a.partner)) {
            s.extend(horizon.overlap(lot.window));
        }
    }
    partners
        .iter()
        .zip(&mut spans)
        .map(|(p, s)| {
            if s.is_empty() {
                Capacity {
                    held_g: p.committed_g.max(0),
                    ..Capacity::default()
                }
            } else {
                Capacity::of(p, s)
            }
        })
        .collect()
}

/// Why an allocation could not be computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllocError {
    /// A lot has negative units or a non-positive unit mass.
    InvalidLot {
        /// The lot's id.
        id: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// An arc refers to a lot or partner index out of range.
    BadArc(ArcSpec),
    /// A mass does not fit in 64 bits of grams.
    Overflow,
}

impl std::fmt::Display for AllocError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AllocError::InvalidLot { id, reason } => write!(f, "lot {id}: {reason}"),
            AllocError::BadArc(a) => write!(f, "arc {}->{} out of range", a.lot, a.partner),
            AllocError::Overflow => f.write_str("mass overflows 64-bit grams"),
        }
    }
}

impl std::error::Error for AllocError {}

/// Grams flowing on one arc in the mass model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MassArc {
    /// The arc.
    pub arc: ArcSpec,
    /// Grams of the lot sent to the partner (> 0).
    pub mass_g: i64,
}

/// Optimum of the mass model: the most grams placed, then the fewest
/// gram-metres among those placements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MassFlow {
    /// Arcs carrying flow, ordered as the input arcs.
    pub arcs: Vec<MassArc>,
    /// Total grams placed (first objective, maximised).
    pub mass_g: i64,
    /// Total grams × metres (second objective, minimised).
    pub gram_metres: i128,
}

impl MassFlow {
    /// The second objective in tonne-kilometres.
    pub fn tonne_km(&self) -> f64 {
        self.gram_metres as f64 / GRAM_METRES_PER_TONNE_KM
    }
}

/// Available grams of each lot, after validating it.
fn supplies(lots: &[LotProfile]) -> Result<Vec<i64>, AllocError> {
    lots.iter()
        .map(|l| {
            if l.available_units < 0 {
                return Err(AllocError::InvalidLot {
                    id: l.id.clone(),
                    reason: "negative available units",
                });
            }
            if l.unit_mass_g <= 0 {
                return Err(AllocError::InvalidLot {
                    id: l.id.clone(),
                    reason: "unit mass must be positive",
                });
            }
            l.available_mass_g().ok_or(AllocError::Overflow)
        })
        .collect()
}

/// Solves the mass model exactly on the given arcs (normally
/// [`feasible_arcs`]) with the partners' [`capacities`] over `horizon`.
pub fn solve_mass_flow(
    lots: &[LotProfile],
    partners: &[PartnerProfile],
    arcs: &[ArcSpec],
    horizon: Horizon,
) -> Result<MassFlow, AllocError> {
    let cap = capacities(lots, partners, arcs, horizon);
    Ok(mass_model(lots, partners, arcs, &cap)?
        .0
        .into_mass_flow(arcs))
}

/// Validates the input, then solves the mass model; also returns the
/// partner capacities it used.
fn mass_model(
    lots: &[LotProfile],
    partners: &[PartnerProfile],
    arcs: &[ArcSpec],
    capacities: &[Capacity],
) -> Result<(Relaxed, Vec<i64>), AllocError> {
    let supply = supplies(lots)?;
    // Flow totals are kept in i64 grams: refuse inputs whose sums could not be.
    supply
        .iter()
        .try_fold(0i64, |acc, s| acc.checked_add(*s))
        .ok_or(AllocError::Overflow)?;
    for a in arcs {
        if a.lot >= lots.len()
            || a.partner >= partners.len()
            || a.partner >= capacities.len()
            || a.distance_m < 0
        {
            return Err(AllocError::BadArc(*a));
        }
    }
    let cap: Vec<i64> = capacities.iter().map(|c| c.capacity_g).collect();
    let arc_cap: Vec<i64> = arcs
        .iter()
        .map(|a| supply[a.lot].min(a.max_g.max(0)))
        .collect();
    Ok((relax(&supply, &cap, arcs, &arc_cap), cap))
}

/// Optimum of a mass model with explicit bounds, flows indexed like the arcs.
#[derive(Debug, Clone)]
pub(crate) struct Relaxed {
    /// Grams on each arc.
    pub(crate) flows: Vec<i64>,
    pub(crate) mass_g: i64,
    pub(crate) gram_metres: i128,
    /// Effort spent, in residual edges scanned.
    pub(crate) work: u64,
}

impl Relaxed {
    fn into_mass_flow(self, arcs: &[ArcSpec]) -> MassFlow {
        MassFlow {
            arcs: arcs
                .iter()
                .zip(&self.flows)
                .filter(|(_, f)| **f > 0)
                .map(|(a, f)| MassArc {
                    arc: *a,
                    mass_g: *f,
                })
                .collect(),
            mass_g: self.mass_g,
            gram_metres: self.gram_metres,
        }
    }
}

/// The mass model on `supply` grams per lot, `cap` grams per partner and
/// `arc_cap` grams per arc: a min-cost maximum flow
/// `source -> lot -> partner -> sink`. Inputs must be non-negative and the
/// arcs in range (the callers check).
pub(crate) fn relax(supply: &[i64], cap: &[i64], arcs: &[ArcSpec], arc_cap: &[i64]) -> Relaxed {
    // Nodes: source, lots, partners, sink. Lots and partners without arcs
    // keep their nodes but get no edges, which costs nothing.
    let (l, p) = (supply.len(), cap.len());
    let (source, sink) = (0, l + p + 1);
    let mut net = Network::new(l + p + 2);
    let mut lot_used = vec![false; l];
    let mut partner_used = vec![false; p];
    for (a, c) in arcs.iter().zip(arc_cap) {
        if *c > 0 {
            lot_used[a.lot] = true;
            partner_used[a.partner] = true;
        }
    }
    for (i, s) in supply.iter().enumerate() {
        if lot_used[i] && *s > 0 {
            net.add_edge(source, 1 + i, *s, 0);
        }
    }
    for (j, c) in cap.iter().enumerate() {
        if partner_used[j] && *c > 0 {
            net.add_edge(1 + l + j, sink, *c, 0);
        }
    }
    let edges: Vec<Option<usize>> = arcs
        .iter()
        .zip(arc_cap)
        .map(|(a, c)| {
            (*c > 0).then(|| net.add_edge(1 + a.lot, 1 + l + a.partner, *c, a.distance_m))
        })
        .collect();
    let (mass_g, gram_metres, work) = net.solve(source, sink);
    Relaxed {
        flows: edges.iter().map(|e| e.map_or(0, |e| net.flow(e))).collect(),
        mass_g,
        gram_metres,
        work,
    }
}

/// Whole units of one lot handed to one partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The lot.
    pub lot_id: String,
    /// The partner.
    pub partner_id: String,
    /// Whole units (> 0).
    pub units: i64,
    /// `units` × unit mass, in grams.
    pub mass_g: i64,
    /// Distance in whole metres, as costed by the model.
    pub distance_m: i64,
}

/// What remains of a lot after the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unallocated {
    /// The lot.
    pub lot_id: String,
    /// Whole units left (> 0).
    pub units: i64,
    /// Their mass, in grams.
    pub mass_g: i64,
}

/// What a plan gives a partner, against its capacity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerUse {
    /// The partner.
    pub partner_id: String,
    /// Its capacity for the plan.
    pub capacity: Capacity,
    /// Grams the plan gives it (at most `capacity.capacity_g`).
    pub used_g: i64,
}

impl PartnerUse {
    /// Capacity the plan leaves it, in grams: `capacity_g − used_g`.
    pub fn left_g(&self) -> i64 {
        self.capacity.capacity_g - self.used_g
    }
}

/// A site-wide allocation in whole units, with the exact mass-model optimum
/// that bounds it and whether the search proved it optimal.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Whole-unit assignments, ordered by lot then partner index.
    pub assignments: Vec<Assignment>,
    /// Grams placed by `assignments`.
    pub total_mass_g: i64,
    /// Tonne-kilometres of `assignments` (grams × whole metres / 10⁹).
    pub total_tonne_km: f64,
    /// Lots with units left, in input order.
    pub unallocated: Vec<Unallocated>,
    /// Exact optimum of the mass model (the min-cost flow): an upper bound
    /// on the mass any whole-unit plan can place.
    pub mass_model: MassFlow,
    /// Arcs where the mass-model optimum splits a unit.
    pub split_arcs: usize,
    /// The search finished: no whole-unit plan places more grams, or as
    /// many over fewer tonne-kilometres.
    pub optimal: bool,
    /// No whole-unit plan places more grams than this (equal to
    /// `total_mass_g` when `optimal`).
    pub mass_bound_g: i64,
    /// Relaxations the search solved, the root included.
    pub nodes: usize,
    /// Each partner that can reach a lot of the plan, in input order, with
    /// its capacity and what the plan gives it.
    pub partners: Vec<PartnerUse>,
}

impl Plan {
    /// Grams a whole-unit plan might still place beyond this one: zero when
    /// the mass is proven best.
    pub fn gap_g(&self) -> i64 {
        self.mass_bound_g - self.total_mass_g
    }
}

/// How much effort [`allocate_with`] may spend proving a plan optimal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Effort {
    /// Residual edges scanned by the flow solves, plus 64-bit words touched
    /// by the capacity tables and cells by the fill tables of the polish: a
    /// deterministic stand-in for time, so the same input always gives the
    /// same plan. The mass model is always solved in full; the search stops
    /// when this is spent. The default, 20 million, is a few tenths of a
    /// second on one core; it proves most small sites with ample intakes,
    /// few with tight ones (see the crate docs for what was measured).
    pub max_work: u64,
}

impl Default for Effort {
    fn default() -> Self {
        Effort {
            max_work: 20_000_000,
        }
    }
}

/// Allocates whole units of `lots` to `partners` over `horizon` with the
/// default [`Effort`] (see the crate docs).
pub fn allocate(
    lots: &[LotProfile],
    partners: &[PartnerProfile],
    horizon: Horizon,
) -> Result<Plan, AllocError> {
    allocate_with(lots, partners, horizon, Effort::default())
}

/// Allocates whole units: solves the mass model exactly, then searches for
/// the whole-unit optimum within `effort` (see the crate docs).
pub fn allocate_with(
    lots: &[LotProfile],
    partners: &[PartnerProfile],
    horizon: Horizon,
    effort: Effort,
) -> Result<Plan, AllocError> {
    let arcs = feasible_arcs(lots, partners, horizon);
    let capacities = capacities(lots, partners, &arcs, horizon);
    let (model, cap) = mass_model(lots, partners, &arcs, &capacities)?;
    let split_arcs = arcs
        .iter()
        .zip(&model.flows)
        .filter(|(a, f)| **f % lots[a.lot].unit_mass_g != 0)
        .count();
    let mut problem = Problem {
        arcs: &arcs,
        arc_g: arcs.iter().map(|a| a.max_g.max(0)).collect(),
        units: lots.iter().map(|l| l.available_units).collect(),
        unit_mass_g: lots.iter().map(|l| l.unit_mass_g).collect(),
        cap: cap.clone(),
    };
    let mut budget = effort.max_work.saturating_sub(model.work);
    budget = budget.saturating_sub(problem.tighten(budget));
    // Tighter capacities give a tighter root; unchanged ones, the same.
    let root = match (problem.cap != cap && budget > 0)
        .then(|| problem.root())
        .flatten()
    {
        Some(r) => {
            budget = budget.saturating_sub(r.work);
            r
        }
        None => model.clone(),
    };
    let outcome = problem.search(root, budget);
    let mut plan = plan(
        lots,
        partners,
        &arcs,
        outcome,
        model.into_mass_flow(&arcs),
        split_arcs,
    );
    plan.partners = partner_uses(partners, &arcs, &capacities, &plan.assignments);
    Ok(plan)
}

/// What the plan gives each partner with an arc, against its capacity.
fn partner_uses(
    partners: &[PartnerProfile],
    arcs: &[ArcSpec],
    capacities: &[Capacity],
    assignments: &[Assignment],
) -> Vec<PartnerUse> {
    let mut reached = vec![false; partners.len()];
    for a in arcs {
        reached[a.partner] = true;
    }
    partners
        .iter()
        .zip(capacities)
        .zip(reached)
        .filter(|(_, r)| *r)
        .map(|((p, c), _)| PartnerUse {
            partner_id: p.id.clone(),
            capacity: *c,
            used_g: assignments
                .iter()
                .filter(|a| a.partner_id == p.id)
                .map(|a| a.mass_g)
                .sum(),
        })
        .collect()
}

fn plan(
    lots: &[LotProfile],
    partners: &[PartnerProfile],
    arcs: &[ArcSpec],
    outcome: Outcome,
    mass_model: MassFlow,
    split_arcs: usize,
) -> Plan {
    let mut units_left: Vec<i64> = lots.iter().map(|l| l.available_units).collect();
    let mut assignments = Vec::new();
    for (a, u) in arcs.iter().zip(&outcome.units) {
        if *u == 0 {
            continue;
        }
        units_left[a.lot] -= u;
        assignments.push(Assignment {
            lot_id: lots[a.lot].id.clone(),
            partner_id: partners[a.partner].id.clone(),
            units: *u,
            mass_g: u * lots[a.lot].unit_mass_g,
            distance_m: a.distance_m,
        });
    }
    let unallocated = lots
        .iter()
        .zip(&units_left)
        .filter(|(_, u)| **u > 0)
        .map(|(l, u)| Unallocated {
            lot_id: l.id.clone(),
            units: *u,
            mass_g: u * l.unit_mass_g,
        })
        .collect();
    let (total_mass_g, gram_metres) = outcome.objective;
    Plan {
        assignments,
        total_mass_g,
        total_tonne_km: gram_metres as f64 / GRAM_METRES_PER_TONNE_KM,
        unallocated,
        mass_model,
        split_arcs,
        optimal: outcome.optimal,
        mass_bound_g: outcome.mass_bound_g,
        nodes: outcome.nodes,
        partners: Vec::new(),
    }
}
