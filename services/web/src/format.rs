//! Numbers, quantities and dates written the French way (decimal comma).

use reemploi_domain::calendar::{civil, days_from_civil};
use reemploi_proto::types::{Quantity, Unit};

use crate::text::T;

/// A decimal of thousandths, shortest exact form, with a decimal comma:
/// 12500 → "12,5".
pub fn milli(milli: i64) -> String {
    let sign = if milli < 0 { "-" } else { "" };
    let abs = milli.unsigned_abs();
    let (whole, frac) = (abs / 1000, abs % 1000);
    if frac == 0 {
        return format!("{sign}{whole}");
    }
    let digits = format!("{frac:03}");
    format!("{sign}{whole},{}", digits.trim_end_matches('0'))
}

/// The unit of a quantity, as shown.
pub fn unit(q: Option<&Quantity>) -> &'static str {
    T::unit(q.map_or(Unit::Unspecified, |q| q.unit()))
}

/// A quantity with its unit: "12,5 m²".
pub fn quantity(q: Option<&Quantity>) -> String {
    match q {
        Some(q) => format!("{} {}", milli(q.milli), unit(Some(q))),
        None => "—".to_owned(),
    }
}

/// A distance in kilometres with one decimal: "3,2 km".
pub fn km(metres: f64) -> String {
    let tenths = (metres / 100.0).round();
    // Distances on Earth fit easily; the cast only drops the fraction already rounded.
    #[allow(clippy::cast_possible_truncation)]
    let tenths = tenths as i64;
    format!("{} km", milli(tenths * 100))
}

/// A mass in grams, in kg or t: "350 kg", "1,2 t" (a negative one too:
/// "-1,2 t").
pub fn mass(grams: i64) -> String {
    if grams.unsigned_abs() >= 1_000_000 {
        format!("{} t", milli(grams / 1000))
    } else {
        format!("{} kg", milli(grams))
    }
}

/// Kilograms of a mass in grams, to the gram, as a CSV cell holds them:
/// 152500 → "152,5".
pub fn kg(grams: i64) -> String {
    milli(grams)
}

/// A mass of CO2e in grams: "350 kg CO2e", "-1,2 t CO2e".
pub fn co2e(grams: i64) -> String {
    format!("{} {}", mass(grams), T::CO2E)
}

/// Hours of minutes, to the hundredth: 90 → "1,5".
pub fn hours(minutes: i64) -> String {
    // Hundredths of an hour, rounded half up: 100 min is 1,67 h.
    let hundredths = (i128::from(minutes) * 100 * 2 + 60) / 120;
    milli(i64::try_from(hundredths * 10).unwrap_or(i64::MAX))
}

/// A decimal to the hundredth, with a decimal comma: 0.456 → "0,46".
pub fn hundredths(value: f64) -> String {
    if !value.is_finite() {
        return "0".to_owned();
    }
    // Figures of this page are far below 2^53: the cast only drops what
    // was rounded away.
    #[allow(clippy::cast_possible_truncation)]
    let hundredths = (value * 100.0).round() as i64;
    milli(hundredths.saturating_mul(10))
}

/// A ratio as a percentage, not capped at 100 % (a reuse rate may pass
/// it): 1.25 → "125 %"; above zero but below half a percent → "< 1 %",
/// which rounding would make a misleading "0 %"; below zero or not a
/// number → "0 %".
pub fn rate(fraction: f64) -> String {
    let fraction = if fraction.is_finite() {
        fraction.clamp(0.0, 1e6)
    } else {
        0.0
    };
    if fraction > 0.0 && fraction < 0.005 {
        return "< 1 %".to_owned();
    }
    // At most 10^8 after the clamp: the cast cannot truncate.
    #[allow(clippy::cast_possible_truncation)]
    let whole = (fraction * 100.0).round() as i64;
    format!("{whole} %")
}

/// A UTC instant: "12/03/2026 14:05 UTC".
pub fn datetime(t: Option<&prost_types::Timestamp>) -> String {
    let Some(t) = t else {
        return "—".to_owned();
    };
    let days = t.seconds.div_euclid(86_400);
    let secs = t.seconds.rem_euclid(86_400);
    let (y, m, d) = civil(days);
    format!(
        "{d:02}/{m:02}/{y} {:02}:{:02} UTC",
        secs / 3600,
        (secs % 3600) / 60
    )
}

/// Seconds in a day.
pub const DAY_SECS: i64 = 86_400;

/// A percentage of a fraction in [0, 1], rounded: 0.823 → "82 %".
pub fn percent(fraction: f64) -> String {
    let fraction = if fraction.is_finite() {
        fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    // In [0, 100] after the clamp: the cast cannot truncate.
    #[allow(clippy::cast_possible_truncation)]
    let whole = (fraction * 100.0).round() as i64;
    format!("{whole} %")
}

/// The date of a UTC instant: "12/03/2026".
pub fn date(t: Option<&prost_types::Timestamp>) -> String {
    match t {
        Some(t) => {
            let (y, m, d) = civil(t.seconds.div_euclid(DAY_SECS));
            format!("{d:02}/{m:02}/{y}")
        }
        None => "—".to_owned(),
    }
}

/// The day of an instant as a date input holds it: "2026-03-12" ("" for none).
pub fn date_input(t: Option<&prost_types::Timestamp>) -> String {
    t.map(|t| {
        let (y, m, d) = civil(t.seconds.div_euclid(DAY_SECS));
        format!("{y:04}-{m:02}-{d:02}")
    })
    .unwrap_or_default()
}

/// Midnight UTC of a date input's "2026-03-12"; `None` for anything else.
pub fn day_start(text: &str) -> Option<prost_types::Timestamp> {
    parse_date(text).map(|days| prost_types::Timestamp {
        seconds: days * DAY_SECS,
        nanos: 0,
    })
}

/// The day (days since 1970-01-01) of a date as a date input sends it,
/// `2026-03-12`; `None` for anything else, or a day that does not exist.
pub fn parse_date(text: &str) -> Option<i64> {
    let mut parts = text.trim().splitn(3, '-');
    let mut number = |digits: usize| {
        parts
            .next()
            .filter(|p| p.len() == digits && p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse::<i64>().ok())
    };
    let (y, m, d) = (number(4)?, number(2)?, number(2)?);
    let days = days_from_civil(y, m, d);
    (civil(days) == (y, m, d)).then_some(days)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_french() {
        assert_eq!(milli(12_500), "12,5");
        assert_eq!(milli(240_000), "240");
        assert_eq!(milli(1), "0,001");
        assert_eq!(km(3_249.0), "3,2 km");
        assert_eq!(mass(350_000), "350 kg");
        assert_eq!(mass(1_200_000), "1,2 t");
        assert_eq!(mass(-1_200_000), "-1,2 t");
        assert_eq!(kg(152_500), "152,5");
        assert_eq!(co2e(-350_000), "-350 kg CO2e");
        assert_eq!(hours(90), "1,5");
        assert_eq!(hours(100), "1,67");
        assert_eq!(hours(0), "0");
        assert_eq!(hundredths(0.456), "0,46");
        assert_eq!(hundredths(2.0), "2");
        assert_eq!(hundredths(f64::NAN), "0");
        assert_eq!(rate(1.25), "125 %");
        assert_eq!(rate(-1.0), "0 %");
        assert_eq!(rate(0.00003), "< 1 %");
        assert_eq!(rate(0.0), "0 %");
        assert_eq!(rate(f64::INFINITY), "0 %");
    }

    #[test]
    fn dates_are_gregorian() {
        let t = prost_types::Timestamp {
            seconds: 1_773_324_300,
            nanos: 0,
        };
        assert_eq!(datetime(Some(&t)), "12/03/2026 14:05 UTC");
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(-1), (1969, 12, 31));
        for days in [-800_000, -1, 0, 59, 20_000, 2_000_000] {
            let (y, m, d) = civil(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        let day = day_start("2026-03-12").expect("a date");
        assert_eq!(date_input(Some(&day)), "2026-03-12");
        assert_eq!(day_start("2026-02-31"), None);
    }

    #[test]
    fn dates_read_back_as_written() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2026-03-12"), Some(1_773_324_300 / DAY_SECS));
        for days in [-200_000, -1, 0, 59, 60, 20_000, 2_000_000] {
            let (y, m, d) = civil(days);
            assert_eq!(parse_date(&format!("{y:04}-{m:02}-{d:02}")), Some(days));
        }
        for bad in [
            "2026-02-30",
            "2026-13-01",
            "12/03/2026",
            "2026-3-12",
            "",
            "2026-03-12x",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
        let t = prost_types::Timestamp {
            seconds: 1_773_324_300,
            nanos: 0,
        };
        assert_eq!(date(Some(&t)), "12/03/2026");
        assert_eq!(percent(0.823), "82 %");
        assert_eq!(percent(f64::NAN), "0 %");
    }
}
