//! What a partner can take in a plan: its intake rate over the time the
//! lots it can reach are available within the plan's horizon, less what it
//! already holds (see "Capacity" in the crate docs).

use crate::profile::{PartnerProfile, Window};

/// Milliseconds in a week: intake rates are declared per week.
pub const WEEK_MS: i64 = 7 * 24 * 3600 * 1000;

/// The period a plan hands lots out over: `[start_ms, end_ms]`, Unix
/// milliseconds (normally now, and now plus the plan's horizon).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Horizon {
    /// When the plan starts (now).
    pub start_ms: i64,
    /// When it ends.
    pub end_ms: i64,
}

impl Horizon {
    /// From `now_ms`, `horizon_ms` long (a negative length is empty).
    pub fn from_now(now_ms: i64, horizon_ms: i64) -> Horizon {
        Horizon {
            start_ms: now_ms,
            end_ms: now_ms.saturating_add(horizon_ms.max(0)),
        }
    }

    /// The part of `window` inside the horizon, if it lasts any time: an
    /// instant in common gives no time to pick anything up.
    pub fn overlap(self, window: Window) -> Option<(i64, i64)> {
        let from = window.from_ms.unwrap_or(i64::MIN).max(self.start_ms);
        let until = window.until_ms.unwrap_or(i64::MAX).min(self.end_ms);
        (from < until).then_some((from, until))
    }
}

/// Grams a partner taking `weekly_intake_g` a week takes in `ms`
/// milliseconds, rounded down (0 for a negative rate or time).
pub fn intake_over(weekly_intake_g: i64, ms: i64) -> i64 {
    let grams = i128::from(weekly_intake_g.max(0)) * i128::from(ms.max(0)) / i128::from(WEEK_MS);
    i64::try_from(grams).unwrap_or(i64::MAX)
}

/// Total length of the union of `spans` (`[from, until)` pairs), in
/// milliseconds; sorts them.
pub fn union_ms(spans: &mut [(i64, i64)]) -> i64 {
    spans.sort_unstable();
    let mut total = 0i64;
    let mut reach = i64::MIN;
    for &(from, until) in spans.iter() {
        let from = from.max(reach);
        if until > from {
            total = total.saturating_add(until - from);
            reach = until;
        }
    }
    total
}

/// One partner's capacity in a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capacity {
    /// Time, within the horizon, during which at least one lot the partner
    /// can reach is available, in milliseconds.
    pub window_ms: i64,
    /// Its weekly intake over that time, in grams.
    pub intake_g: i64,
    /// What it already holds and has not collected (its reserved and
    /// confirmed claims), in grams.
    pub held_g: i64,
    /// What the plan may give it: `intake_g − held_g`, at least 0.
    pub capacity_g: i64,
}

impl Capacity {
    /// The capacity of `partner` whose reachable lots are available, within
    /// the horizon, during `spans`.
    pub fn of(partner: &PartnerProfile, spans: &mut [(i64, i64)]) -> Capacity {
        let window_ms = union_ms(spans);
        let intake_g = intake_over(partner.weekly_intake_g, window_ms);
        let held_g = partner.committed_g.max(0);
        Capacity {
            window_ms,
            intake_g,
            held_g,
            capacity_g: intake_g.saturating_sub(held_g).max(0),
        }
    }
}
