//! Masses in grams, and the bounds that keep them plausible and every sum
//! of them exact in 64 bits.

use crate::DomainError;

/// The largest mass one lot (or one hand-over) may have: 100,000 tonnes,
/// far beyond any demolition's lot, yet small enough that the masses of
/// ten million lots still add up without overflow.
pub const MAX_MASS_G: i64 = 100_000_000_000;

/// Slack above twice the expected mass before a weighed mass needs
/// confirming: small items weigh little, and a pallet or a crate of fittings
/// can come with them.
const WEIGHED_SLACK_G: i64 = 50_000;

/// A lot's estimated mass: 0 (unknown) up to [`MAX_MASS_G`].
pub fn estimated(field: &'static str, grams: i64) -> Result<i64, DomainError> {
    if grams < 0 {
        return Err(DomainError::invalid(field, "must not be negative"));
    }
    if grams > MAX_MASS_G {
        return Err(DomainError::invalid(
            field,
            format!("at most {MAX_MASS_G} g (100,000 t) for one lot"),
        ));
    }
    Ok(grams)
}

/// A weighed mass: positive, at most [`MAX_MASS_G`], and — unless the
/// caller confirms an unexpected mass — at most twice the mass expected
/// from the lot's estimate, plus 50 kg. `expected_g` is 0 when the lot has
/// no estimate.
pub fn weighed(
    field: &'static str,
    grams: i64,
    expected_g: i64,
    confirmed: bool,
) -> Result<i64, DomainError> {
    if grams <= 0 {
        return Err(DomainError::invalid(
            field,
            "the weighed mass in grams must be positive",
        ));
    }
    if grams > MAX_MASS_G {
        return Err(DomainError::invalid(
            field,
            format!("at most {MAX_MASS_G} g (100,000 t)"),
        ));
    }
    let plausible = expected_g.saturating_mul(2).saturating_add(WEIGHED_SLACK_G);
    if expected_g > 0 && grams > plausible && !confirmed {
        return Err(DomainError::invalid(
            field,
            format!(
                "{grams} g is far above the {expected_g} g expected from the lot's estimate; \
                 check the scale, or confirm the unexpected mass to record it"
            ),
        ));
    }
    Ok(grams)
}

/// The share of `total_g` that `part` of `whole` represents, rounded down;
/// 0 when `whole` is not positive. Exact for every input (128-bit product).
pub fn share(total_g: i64, part: i64, whole: i64) -> i64 {
    if whole <= 0 {
        return 0;
    }
    let share = i128::from(total_g) * i128::from(part) / i128::from(whole);
    i64::try_from(share).unwrap_or(if share < 0 { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_are_bounded() {
        assert_eq!(estimated("m", 0), Ok(0));
        assert_eq!(estimated("m", MAX_MASS_G), Ok(MAX_MASS_G));
        assert!(estimated("m", MAX_MASS_G + 1).is_err());
        assert!(estimated("m", i64::MAX).is_err());
        assert!(estimated("m", -1).is_err());
    }

    #[test]
    fn weighed_masses_are_checked_against_the_estimate() {
        // A 25 kg door expected.
        assert_eq!(weighed("w", 27_000, 25_000, false), Ok(27_000));
        assert_eq!(weighed("w", 100_000, 25_000, false), Ok(100_000));
        assert!(weighed("w", 100_001, 25_000, false).is_err());
        assert_eq!(weighed("w", 100_001, 25_000, true), Ok(100_001));
        // Confirmation never lets an absurd mass through.
        assert!(weighed("w", i64::MAX, 25_000, true).is_err());
        // No estimate: only the absolute bound.
        assert_eq!(weighed("w", 5_000_000, 0, false), Ok(5_000_000));
        assert!(weighed("w", 0, 0, true).is_err());
    }

    #[test]
    fn shares_never_overflow() {
        assert_eq!(share(1_000, 1, 4), 250);
        assert_eq!(share(MAX_MASS_G, i64::MAX, i64::MAX), MAX_MASS_G);
        assert_eq!(share(i64::MAX, i64::MAX, 1), i64::MAX);
        assert_eq!(share(5, 1, 0), 0);
    }
}
