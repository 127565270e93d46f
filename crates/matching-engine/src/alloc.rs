//! Site-wide allocation of lots to partners (model in the crate docs).

use crate::gate;
use crate::mcmf::Network;
use crate::profile::{LotProfile, PartnerProfile};

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
}

/// Every feasible pair at `now_ms`, ordered by lot then partner index.
pub fn feasible_arcs(
    lots: &[LotProfile],
    partners: &[PartnerProfile],
    now_ms: i64,
) -> Vec<ArcSpec> {
    let mut arcs = Vec::new();
    for (i, lot) in lots.iter().enumerate() {
        // A hazardous or empty lot has no arc at all; skip the partner loop.
        if lot.hazardous || lot.available_units <= 0 {
            continue;
        }
        for (j, partner) in partners.iter().enumerate() {
            if let Ok(passed) = gate::check(lot, partner, now_ms) {
                arcs.push(ArcSpec {
                    lot: i,
                    partner: j,
                    distance_m: passed.distance_m.round() as i64,
                });
            }
        }
    }
    arcs
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
/// [`feasible_arcs`]); partner capacity is its headroom, floored at zero.
pub fn solve_mass_flow(
    lots: &[LotProfile],
    partners: &[PartnerProfile],
    arcs: &[ArcSpec],
) -> Result<MassFlow, AllocError> {
    let supply = supplies(lots)?;
    // Flow totals are kept in i64 grams: refuse inputs whose sums could not be.
    supply
        .iter()
        .try_fold(0i64, |acc, s| acc.checked_add(*s))
        .ok_or(AllocError::Overflow)?;
    for a in arcs {
        if a.lot >= lots.len() || a.partner >= partners.len() || a.distance_m < 0 {
            return Err(AllocError::BadArc(*a));
        }
    }
    // Nodes: source, lots, partners, sink. Lots and partners without arcs
    // keep their nodes but get no edges, which costs nothing.
    let (l, p) = (lots.len(), partners.len());
    let (source, sink) = (0, l + p + 1);
    let mut net = Network::new(l + p + 2);
    let mut lot_used = vec![false; l];
    let mut partner_used = vec![false; p];
    for a in arcs {
        lot_used[a.lot] = true;
        partner_used[a.partner] = true;
    }
    for (i, s) in supply.iter().enumerate() {
        if lot_used[i] && *s > 0 {
            net.add_edge(source, 1 + i, *s, 0);
        }
    }
    for (j, partner) in partners.iter().enumerate() {
        let cap = partner.headroom_g().max(0);
        if partner_used[j] && cap > 0 {
            net.add_edge(1 + l + j, sink, cap, 0);
        }
    }
    let edges: Vec<usize> = arcs
        .iter()
        .map(|a| net.add_edge(1 + a.lot, 1 + l + a.partner, supply[a.lot], a.distance_m))
        .collect();
    let (mass_g, gram_metres) = net.solve(source, sink);
    let arcs = arcs
        .iter()
        .zip(edges)
        .filter_map(|(a, e)| {
            let mass_g = net.flow(e);
            (mass_g > 0).then_some(MassArc { arc: *a, mass_g })
        })
        .collect();
    Ok(MassFlow {
        arcs,
        mass_g,
        gram_metres,
    })
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

/// A site-wide allocation in whole units, with the exact mass-model optimum
/// it was derived from.
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
    /// Exact optimum of the mass model: an upper bound on the mass any
    /// whole-unit plan can place.
    pub mass_model: MassFlow,
    /// Arcs where the mass optimum splits a unit. Zero means the plan *is*
    /// that optimum, hence optimal for whole units in both objectives.
    pub split_arcs: usize,
}

impl Plan {
    /// Grams the mass model places beyond this plan. Zero means the plan's
    /// mass is the best any whole-unit plan reaches (its tonne-km are then
    /// optimal too only if [`Plan::split_arcs`] is zero).
    pub fn gap_g(&self) -> i64 {
        self.mass_model.mass_g - self.total_mass_g
    }
}

/// Allocates whole units of `lots` to `partners` at `now_ms`: solves the mass
/// model exactly, then rounds to whole units (see the crate docs).
pub fn allocate(
    lots: &[LotProfile],
    partners: &[PartnerProfile],
    now_ms: i64,
) -> Result<Plan, AllocError> {
    let arcs = feasible_arcs(lots, partners, now_ms);
    let mass_model = solve_mass_flow(lots, partners, &arcs)?;
    Ok(round_to_units(lots, partners, &arcs, mass_model))
}

fn round_to_units(
    lots: &[LotProfile],
    partners: &[PartnerProfile],
    arcs: &[ArcSpec],
    mass_model: MassFlow,
) -> Plan {
    let mut units_left: Vec<i64> = lots.iter().map(|l| l.available_units).collect();
    let mut cap_left: Vec<i64> = partners.iter().map(|p| p.headroom_g().max(0)).collect();
    // Units per arc, indexed like `arcs`.
    let mut units = vec![0i64; arcs.len()];
    let mut cursor = 0;
    let mut split_arcs = 0;
    for m in &mass_model.arcs {
        // Both lists follow the input arc order; walk them together.
        while cursor < arcs.len() && arcs[cursor] != m.arc {
            cursor += 1;
        }
        if cursor == arcs.len() {
            break;
        }
        let lot = &lots[m.arc.lot];
        // Floor: a started unit is not handed over; its mass stays free.
        let u = m.mass_g / lot.unit_mass_g;
        split_arcs += usize::from(m.mass_g % lot.unit_mass_g != 0);
        units[cursor] = u;
        units_left[m.arc.lot] -= u;
        cap_left[m.arc.partner] -= u * lot.unit_mass_g;
        cursor += 1;
    }
    // Greedy completion with what flooring freed: heaviest units first
    // (they were the hardest to place), each to its nearest partner that
    // still has room for whole units.
    let mut by_lot: Vec<Vec<usize>> = vec![Vec::new(); lots.len()];
    for (k, a) in arcs.iter().enumerate() {
        by_lot[a.lot].push(k);
    }
    let mut order: Vec<usize> = (0..lots.len()).filter(|i| units_left[*i] > 0).collect();
    order.sort_by_key(|i| (std::cmp::Reverse(lots[*i].unit_mass_g), *i));
    for i in order {
        let m = lots[i].unit_mass_g;
        let mut ks = by_lot[i].clone();
        ks.sort_by_key(|k| (arcs[*k].distance_m, arcs[*k].partner));
        for k in ks {
            if units_left[i] == 0 {
                break;
            }
            let j = arcs[k].partner;
            let add = units_left[i].min(cap_left[j] / m);
            if add > 0 {
                units[k] += add;
                units_left[i] -= add;
                cap_left[j] -= add * m;
            }
        }
    }
    let mut assignments = Vec::new();
    let (mut total_mass_g, mut gram_metres) = (0i64, 0i128);
    for (k, a) in arcs.iter().enumerate() {
        if units[k] == 0 {
            continue;
        }
        let mass_g = units[k] * lots[a.lot].unit_mass_g;
        total_mass_g += mass_g;
        gram_metres += i128::from(mass_g) * i128::from(a.distance_m);
        assignments.push(Assignment {
            lot_id: lots[a.lot].id.clone(),
            partner_id: partners[a.partner].id.clone(),
            units: units[k],
            mass_g,
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
    Plan {
        assignments,
        total_mass_g,
        total_tonne_km: gram_metres as f64 / GRAM_METRES_PER_TONNE_KM,
        unallocated,
        mass_model,
        split_arcs,
    }
}
