//! Explainable scoring of feasible (lot, partner) pairs.

use std::cmp::Ordering;

use reemploi_domain::category::Fit;

use crate::gate::{self, Gate};
use crate::profile::{LotProfile, PartnerProfile};

/// Category factor for a same-family (not same-code) fit: half of an exact
/// fit, so an exact partner wins when everything else is equal.
pub const FAMILY_FIT: f64 = 0.5;

/// Default urgency horizon: a deadline four weeks away or more is not urgent.
pub const DEFAULT_URGENCY_HORIZON_MS: i64 = 28 * 24 * 3_600 * 1_000;

/// Relative weights of the five factors. Any non-negative finite values with
/// a positive sum; [`Scorer::new`] normalises them to sum to 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights {
    /// Weight of [`Breakdown::category_fit`].
    pub category_fit: f64,
    /// Weight of [`Breakdown::distance`].
    pub distance: f64,
    /// Weight of [`Breakdown::capacity`].
    pub capacity: f64,
    /// Weight of [`Breakdown::urgency`].
    pub urgency: f64,
    /// Weight of [`Breakdown::insertion`].
    pub insertion: f64,
}

impl Default for Weights {
    /// Fit and proximity first, then capacity and urgency, and a modest
    /// insertion bonus that breaks near-ties in favour of SIAE.
    fn default() -> Weights {
        Weights {
            category_fit: 0.30,
            distance: 0.30,
            capacity: 0.15,
            urgency: 0.15,
            insertion: 0.10,
        }
    }
}

impl Weights {
    fn as_array(self) -> [f64; 5] {
        [
            self.category_fit,
            self.distance,
            self.capacity,
            self.urgency,
            self.insertion,
        ]
    }

    /// The same proportions scaled to sum to 1, or `None` when a weight is
    /// negative or not finite, or all are zero.
    pub fn normalised(self) -> Option<Weights> {
        let all = self.as_array();
        if all.iter().any(|w| !w.is_finite() || *w < 0.0) {
            return None;
        }
        let sum: f64 = all.iter().sum();
        if !(sum.is_finite() && sum > 0.0) {
            return None;
        }
        Some(Weights {
            category_fit: self.category_fit / sum,
            distance: self.distance / sum,
            capacity: self.capacity / sum,
            urgency: self.urgency / sum,
            insertion: self.insertion / sum,
        })
    }
}

/// Weights rejected by [`Scorer::new`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InvalidWeights;

impl std::fmt::Display for InvalidWeights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("weights must be finite, non-negative and not all zero")
    }
}

impl std::error::Error for InvalidWeights {}

/// Each factor of a score, every one in [0, 1], so a person can see why a
/// partner was proposed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Breakdown {
    /// 1 for an exact category, [`FAMILY_FIT`] for the same family.
    pub category_fit: f64,
    /// 1 at the partner's door, falling linearly to 0 at its radius.
    pub distance: f64,
    /// Share of the lot's available mass the partner's headroom can absorb
    /// (1 when it can take it all, or when the lot has no mass left).
    pub capacity: f64,
    /// 0 with no deadline or one at least the urgency horizon away, rising
    /// linearly to 1 at the deadline.
    pub urgency: f64,
    /// 1 for an insertion structure (SIAE), else 0.
    pub insertion: f64,
}

impl Breakdown {
    /// Weighted sum, clamped to [0, 1] against rounding. Non-decreasing in
    /// every factor (weights are non-negative and rounding is monotone), so
    /// an upper bound on a factor gives an upper bound on the total.
    fn total(&self, w: &Weights) -> f64 {
        let s = w.category_fit * self.category_fit
            + w.distance * self.distance
            + w.capacity * self.capacity
            + w.urgency * self.urgency
            + w.insertion * self.insertion;
        s.clamp(0.0, 1.0)
    }
}

/// A scored feasible pair.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// The lot.
    pub lot_id: String,
    /// The partner.
    pub partner_id: String,
    /// Weighted score in [0, 1]; higher is a better match.
    pub score: f64,
    /// Per-factor values behind `score`.
    pub breakdown: Breakdown,
    /// Great-circle distance between lot and partner, in metres.
    pub distance_m: f64,
}

/// The numbers of a score, without the ids, so ranking many candidates does
/// not clone strings it will throw away.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Evaluation {
    pub score: f64,
    pub breakdown: Breakdown,
    pub distance_m: f64,
}

/// Ranking used everywhere (index and linear scan alike): higher score first,
/// then nearer, then smaller id, so equal inputs give identical lists.
pub(crate) fn rank(a: (&Evaluation, &str), b: (&Evaluation, &str)) -> Ordering {
    rank_by(a.0, b.0, || a.1.cmp(b.1))
}

/// [`rank`] with the id comparison deferred to `ids`, called only on a tie
/// of score and distance, so callers holding slots need not look ids up.
pub(crate) fn rank_by(a: &Evaluation, b: &Evaluation, ids: impl FnOnce() -> Ordering) -> Ordering {
    b.score
        .total_cmp(&a.score)
        .then_with(|| a.distance_m.total_cmp(&b.distance_m))
        .then_with(ids)
}

/// Scores feasible pairs with fixed, normalised weights.
#[derive(Debug, Clone, PartialEq)]
pub struct Scorer {
    weights: Weights,
    urgency_horizon_ms: i64,
}

impl Default for Scorer {
    fn default() -> Scorer {
        // Default weights are valid by construction; fall back to them as is
        // rather than panic should someone edit them badly.
        let weights = Weights::default();
        Scorer {
            weights: weights.normalised().unwrap_or(weights),
            urgency_horizon_ms: DEFAULT_URGENCY_HORIZON_MS,
        }
    }
}

impl Scorer {
    /// A scorer with `weights` normalised to sum to 1 and the default
    /// urgency horizon.
    pub fn new(weights: Weights) -> Result<Scorer, InvalidWeights> {
        Ok(Scorer {
            weights: weights.normalised().ok_or(InvalidWeights)?,
            urgency_horizon_ms: DEFAULT_URGENCY_HORIZON_MS,
        })
    }

    /// Sets how far ahead a deadline starts to count as urgent (at least 1 ms).
    pub fn with_urgency_horizon_ms(mut self, horizon_ms: i64) -> Scorer {
        self.urgency_horizon_ms = horizon_ms.max(1);
        self
    }

    /// The normalised weights in use.
    pub fn weights(&self) -> Weights {
        self.weights
    }

    /// Scores a pair, or names the first gate it fails.
    pub fn score(
        &self,
        lot: &LotProfile,
        partner: &PartnerProfile,
        now_ms: i64,
    ) -> Result<Scored, Gate> {
        let e = self.evaluate(lot, partner, now_ms)?;
        Ok(Scored {
            lot_id: lot.id.clone(),
            partner_id: partner.id.clone(),
            score: e.score,
            breakdown: e.breakdown,
            distance_m: e.distance_m,
        })
    }

    pub(crate) fn evaluate(
        &self,
        lot: &LotProfile,
        partner: &PartnerProfile,
        now_ms: i64,
    ) -> Result<Evaluation, Gate> {
        let passed = gate::check(lot, partner, now_ms)?;
        let breakdown = Breakdown {
            category_fit: fit_factor(passed.fit),
            distance: distance_factor(passed.distance_m, partner.radius_m),
            capacity: capacity_factor(
                lot.available_units.saturating_mul(lot.unit_mass_g),
                partner.headroom_g(),
            ),
            urgency: self.urgency_factor(lot.window.until_ms, now_ms),
            insertion: insertion_factor(partner.kind.is_insertion()),
        };
        Ok(Evaluation {
            score: self.total(&breakdown),
            breakdown,
            distance_m: passed.distance_m,
        })
    }

    /// The weighted total of `breakdown`, exactly as [`Scorer::score`]
    /// computes it (the index scores through the same function).
    pub(crate) fn total(&self, breakdown: &Breakdown) -> f64 {
        breakdown.total(&self.weights)
    }

    /// Urgency of a lot whose deadline is `until_ms`.
    pub(crate) fn urgency_factor(&self, until_ms: Option<i64>, now_ms: i64) -> f64 {
        match until_ms {
            None => 0.0,
            Some(until) => {
                let left = until.saturating_sub(now_ms).max(0) as f64;
                (1.0 - left / self.urgency_horizon_ms as f64).clamp(0.0, 1.0)
            }
        }
    }
}

pub(crate) fn fit_factor(fit: Fit) -> f64 {
    match fit {
        Fit::Exact => 1.0,
        Fit::Family => FAMILY_FIT,
        // Unreachable after the category gate; scoring it 0 keeps the
        // function total without a panic.
        Fit::None => 0.0,
    }
}

pub(crate) fn insertion_factor(is_insertion: bool) -> f64 {
    if is_insertion { 1.0 } else { 0.0 }
}

/// Non-increasing in `distance_m` (rounding is monotone), so a lower bound
/// on the distance gives an upper bound on the factor.
pub(crate) fn distance_factor(distance_m: f64, radius_m: f64) -> f64 {
    if radius_m > 0.0 {
        (1.0 - distance_m / radius_m).clamp(0.0, 1.0)
    } else {
        // A zero radius only admits lots at the door.
        1.0
    }
}

/// Capacity factor of a partner with `headroom_g` for a lot of `mass_g`
/// (units × unit mass, saturating).
pub(crate) fn capacity_factor(mass_g: i64, headroom_g: i64) -> f64 {
    capacity_factor_f64(mass_g, headroom_g as f64)
}

/// [`capacity_factor`] of a headroom already converted to `f64`;
/// non-decreasing in `headroom_g`, so a rounded-up headroom bounds it.
pub(crate) fn capacity_factor_f64(mass_g: i64, headroom_g: f64) -> f64 {
    if mass_g <= 0 {
        return 1.0;
    }
    (headroom_g / mass_g as f64).clamp(0.0, 1.0)
}
