//! Feasibility gates: hard rules a (lot, partner) pair must pass before it is
//! scored or allocated. Each gate is named so a refusal can be explained and
//! each rule tested on its own.

use reemploi_domain::category::Fit;

use crate::profile::{LotProfile, PartnerProfile};

/// A feasibility rule that a (lot, partner) pair failed.
///
/// [`feasible`] checks them in declaration order and reports the first
/// failure; [`failed_gates`] reports them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Gate {
    /// The partner is not verified by the territory, or is suspended.
    NotVerified,
    /// The lot holds hazardous materials and is never proposed.
    Hazardous,
    /// No accepted category of the partner is the lot's, nor in its family.
    CategoryNotAccepted,
    /// The lot lies beyond the partner's service radius.
    OutOfRadius,
    /// The lot's availability window misses the partner's intake window
    /// `[now, now + horizon]` (or the lot's window is empty).
    WindowsApart,
    /// The partner has no capacity left this week (intake minus committed ≤ 0).
    NoCapacity,
}

impl Gate {
    /// Every gate, in checking order.
    pub const ALL: [Gate; 6] = [
        Gate::NotVerified,
        Gate::Hazardous,
        Gate::CategoryNotAccepted,
        Gate::OutOfRadius,
        Gate::WindowsApart,
        Gate::NoCapacity,
    ];

    /// Stable snake_case code, for proposals and logs.
    pub fn code(self) -> &'static str {
        match self {
            Gate::NotVerified => "not_verified",
            Gate::Hazardous => "hazardous",
            Gate::CategoryNotAccepted => "category_not_accepted",
            Gate::OutOfRadius => "out_of_radius",
            Gate::WindowsApart => "windows_apart",
            Gate::NoCapacity => "no_capacity",
        }
    }
}

impl std::fmt::Display for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// What passing the gates established, reused by scoring so the distance and
/// fit are computed once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Passed {
    pub distance_m: f64,
    pub fit: Fit,
}

/// Evaluates one gate.
fn holds(gate: Gate, lot: &LotProfile, partner: &PartnerProfile, now_ms: i64) -> bool {
    match gate {
        Gate::NotVerified => partner.verified_active,
        Gate::Hazardous => !lot.hazardous,
        Gate::CategoryNotAccepted => partner.best_fit(lot.category) != Fit::None,
        // `<=` is false for a NaN radius, which therefore serves nowhere.
        Gate::OutOfRadius => lot.location.distance_m(partner.location) <= partner.radius_m,
        Gate::WindowsApart => {
            let end = now_ms.saturating_add(partner.horizon_ms.max(0));
            lot.window.overlaps(now_ms, end)
        }
        Gate::NoCapacity => partner.headroom_g() > 0,
    }
}

/// Checks every gate in [`Gate::ALL`] order and returns the first that fails.
pub fn feasible(lot: &LotProfile, partner: &PartnerProfile, now_ms: i64) -> Result<(), Gate> {
    check(lot, partner, now_ms).map(|_| ())
}

/// Every gate the pair fails, in checking order; empty when feasible.
pub fn failed_gates(lot: &LotProfile, partner: &PartnerProfile, now_ms: i64) -> Vec<Gate> {
    Gate::ALL
        .into_iter()
        .filter(|g| !holds(*g, lot, partner, now_ms))
        .collect()
}

/// Same verdict as [`feasible`], cheap gates first, computing the distance
/// and category fit only once.
pub(crate) fn check(
    lot: &LotProfile,
    partner: &PartnerProfile,
    now_ms: i64,
) -> Result<Passed, Gate> {
    let passed = reach(lot, partner)?;
    if !holds(Gate::WindowsApart, lot, partner, now_ms) {
        return Err(Gate::WindowsApart);
    }
    if !holds(Gate::NoCapacity, lot, partner, now_ms) {
        return Err(Gate::NoCapacity);
    }
    Ok(passed)
}

/// The gates that do not depend on time or capacity, in [`Gate::ALL`]
/// order: a plan weighs windows and capacities over its own horizon.
pub(crate) fn reach(lot: &LotProfile, partner: &PartnerProfile) -> Result<Passed, Gate> {
    if !partner.verified_active {
        return Err(Gate::NotVerified);
    }
    if lot.hazardous {
        return Err(Gate::Hazardous);
    }
    let fit = partner.best_fit(lot.category);
    if fit == Fit::None {
        return Err(Gate::CategoryNotAccepted);
    }
    let distance_m = lot.location.distance_m(partner.location);
    // Written so a NaN distance or radius fails the gate.
    let inside = distance_m <= partner.radius_m;
    if !inside {
        return Err(Gate::OutOfRadius);
    }
    Ok(Passed { distance_m, fit })
}
