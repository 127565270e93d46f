//! Dates on the command line: a day (2026-12-31, midnight UTC), an RFC 3339
//! time, and for the bounds of a period also a month (2026-03).

use prost_types::Timestamp;

const USAGE: &str = "write a date as 2026-12-31, or a time as 2026-12-31T18:00:00Z (RFC 3339)";
const PERIOD_USAGE: &str =
    "write a month as 2026-03, a date as 2026-03-31, or a time as 2026-03-31T18:00:00Z (RFC 3339)";

/// A date (midnight UTC) or an RFC 3339 time.
pub fn parse_time(text: &str) -> Result<Timestamp, String> {
    let text = text.trim();
    let full = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        text.to_owned()
    };
    full.parse::<Timestamp>().map_err(|_| USAGE.to_owned())
}

/// The start of a period, included: a month from its first day, a day from
/// its midnight (UTC), or a time.
pub fn parse_start(text: &str) -> Result<Timestamp, String> {
    match month(text.trim()) {
        Some((year, month)) => first_day(year, month),
        None => parse_time(text).map_err(|_| PERIOD_USAGE.to_owned()),
    }
}

/// The end of a period, excluded, as the API takes it; but a month or a day
/// is meant whole by whoever writes `--to 2026-03` or `--to 2026-03-31`, so
/// the end is the start of the next one. A time is the end itself.
pub fn parse_end(text: &str) -> Result<Timestamp, String> {
    let text = text.trim();
    if let Some((year, month)) = month(text) {
        return if month == 12 {
            first_day(year + 1, 1)
        } else {
            first_day(year, month + 1)
        };
    }
    let at = parse_time(text).map_err(|_| PERIOD_USAGE.to_owned())?;
    if text.len() == 10 {
        // Days in UTC are all 86,400 seconds long (no leap seconds here).
        Ok(Timestamp {
            seconds: at.seconds + 86_400,
            nanos: 0,
        })
    } else {
        Ok(at)
    }
}

fn first_day(year: i64, month: u8) -> Result<Timestamp, String> {
    Timestamp::date(year, month, 1).map_err(|_| PERIOD_USAGE.to_owned())
}

/// `2026-03` as (2026, 3).
fn month(text: &str) -> Option<(i64, u8)> {
    if text.len() != 7 || !text.is_ascii() || text.as_bytes()[4] != b'-' {
        return None;
    }
    let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    let (year, month) = (&text[..4], &text[5..]);
    if !all_digits(year) || !all_digits(month) {
        return None;
    }
    let month = month.parse::<u8>().ok().filter(|m| (1..=12).contains(m))?;
    Some((year.parse().ok()?, month))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn day(y: i64, m: u8, d: u8) -> Timestamp {
        Timestamp::date(y, m, d).unwrap()
    }

    #[test]
    fn a_period_takes_months_and_days_whole() {
        assert_eq!(parse_start("2026-03").unwrap(), day(2026, 3, 1));
        assert_eq!(parse_end("2026-03").unwrap(), day(2026, 4, 1));
        assert_eq!(parse_end("2026-12").unwrap(), day(2027, 1, 1));
        assert_eq!(parse_start("2026-03-31").unwrap(), day(2026, 3, 31));
        assert_eq!(parse_end("2026-03-31").unwrap(), day(2026, 4, 1));
        assert_eq!(parse_end("2026-12-31").unwrap(), day(2027, 1, 1));
        let t = parse_end("2026-03-31T18:00:00Z").unwrap();
        assert_eq!(t.seconds, day(2026, 3, 31).seconds + 18 * 3600);
        for bad in ["2026-13", "2026-3", "31/03/2026", "mars", "2026-é3", ""] {
            assert!(parse_start(bad).is_err(), "{bad}");
            assert!(parse_end(bad).is_err(), "{bad}");
        }
    }
}
