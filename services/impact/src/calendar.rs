//! Months of the UTC calendar, the unit of the figures' rollup: a month's
//! key (`YYYY-MM`) from a time, and the start of a month.

const DAY_MS: i64 = 86_400_000;

/// The civil date (year, month 1–12, day) of a count of days since 1970-01-01,
/// in the proleptic Gregorian calendar (400-year eras of 146,097 days).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days since 1970-01-01 of the first day of a month.
fn days_of(year: i64, month: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A month of the calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    year: i64,
    month: u32,
}

impl Month {
    /// The month a time (milliseconds since the epoch) falls in.
    pub fn of(millis: i64) -> Month {
        let (year, month, _) = civil(millis.div_euclid(DAY_MS));
        Month { year, month }
    }

    /// When the month starts, in milliseconds since the epoch.
    pub fn start(self) -> i64 {
        days_of(self.year, self.month) * DAY_MS
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
