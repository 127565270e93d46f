//! Months of the UTC calendar, the unit of the figures' rollup: a month's
//! key (`YYYY-MM`) from a time, and the start of a month.

const DAY_MS: i64 = 86_400_000;

use reemploi_domain::calendar::{civil, days_from_civil};

/// A month of the calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    year: i64,
    month: i64,
}

impl Month {
    /// The month a time (milliseconds since the epoch) falls in.
    pub fn of(millis: i64) -> Month {
        let (year, month, _) = civil(millis.div_euclid(DAY_MS));
        Month { year, month }
    }

    /// When the month starts, in milliseconds since the epoch.
    pub fn start(self) -> i64 {
        days_from_civil(self.year, self.month, 1) * DAY_MS
    }

    /// The month after.
    pub fn next(self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// `YYYY-MM`, which sorts as the months do.
    pub fn key(self) -> String {
        format!("{:04}-{:02}", self.year, self.month)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_dates() {
        assert_eq!(Month::of(0).key(), "1970-01");
        // 2026-03-01T00:00:00Z and one millisecond before it.
        assert_eq!(Month::of(1_772_323_200_000).key(), "2026-03");
        assert_eq!(Month::of(1_772_323_199_999).key(), "2026-02");
        assert_eq!(Month::of(1_772_323_200_000).start(), 1_772_323_200_000);
        // 2024-02-29 exists.
        assert_eq!(Month::of(1_709_164_800_000).key(), "2024-02");
        assert_eq!(Month::of(1_709_251_200_000).key(), "2024-03");
    }

    proptest! {
        #[test]
        fn a_time_lies_in_its_month(t in 0i64..4_102_444_800_000) {
            let m = Month::of(t);
            prop_assert!(m.start() <= t && t < m.next().start());
            prop_assert!(m.key() < m.next().key());
        }
    }
}
