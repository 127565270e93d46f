//! The territory's figures for people and for spreadsheets: masses in
//! tonnes, CO2e in tonnes of CO2e, insertion time in hours, shares in
//! percent. Sums are exact in the integers the API sends (grams,
//! minutes); only their display is rounded.

use reemploi_proto::impact as ipb;

/// Grams as tonnes with 3 decimals, to the kilogram (halves away from
/// zero): `0,355`, `-1,250`, `1 234,568`. For people.
pub fn tonnes3(grams: i64) -> String {
    crate::views::fr(&fixed(round_div(grams, 1000), 1000, 3))
}

/// Grams as tonnes with 6 decimals, which is exact: `0.355250`. For CSV,
/// so that a spreadsheet's sum of the groups is the total row.
pub fn tonnes_exact(grams: i64) -> String {
    fixed(grams, 1_000_000, 6)
}

/// Minutes as hours with one decimal: 90 is `1,5`. For people.
pub fn hours1(minutes: i64) -> String {
    crate::views::fr(&fixed(round_div(minutes.saturating_mul(10), 60), 10, 1))
}

/// Minutes as hours with two decimals: 100 is `1.67`. For CSV, beside the
/// exact minutes.
pub fn hours2(minutes: i64) -> String {
    fixed(round_div(minutes.saturating_mul(100), 60), 100, 2)
}

/// Full-time equivalents with three decimals: a few hours are a small
/// fraction of a year. For CSV.
pub fn fte(fte: f64) -> String {
    format!("{fte:.3}")
}

/// [`fte`] for people: `0,001`.
pub fn fte_fr(fte_: f64) -> String {
    crate::views::fr(&fte(fte_))
}

/// A share in [0, 1] as a percentage with one decimal: `12,5 %`.
pub fn percent(share: f64) -> String {
    format!("{} %", crate::views::fr(&format!("{:.1}", share * 100.0)))
}

/// A share in [0, 1] with four decimals, for CSV.
pub fn share4(share: f64) -> String {
    format!("{share:.4}")
}

/// `n / per` written with `decimals` digits after the point, `n` being a
/// whole number of `1 / per`.
fn fixed(n: i64, per: u64, decimals: usize) -> String {
    let sign = if n < 0 { "-" } else { "" };
    let a = n.unsigned_abs();
    format!("{sign}{}.{:0decimals$}", a / per, a % per)
}

/// `n / d` rounded to the nearest whole number, halves away from zero.
fn round_div(n: i64, d: i64) -> i64 {
    let (q, r) = (n / d, n % d);
    if r.unsigned_abs().saturating_mul(2) >= d.unsigned_abs() {
        q + n.signum()
    } else {
        q
    }
}

/// Mass declared reused: as is, refurbished, or resold for reuse.
pub fn reused_g(f: &ipb::Figures) -> i64 {
    f.reused_as_is_mass_g
        .saturating_add(f.reused_refurbished_mass_g)
        .saturating_add(f.resold_mass_g)
}

/// What became of material, for people.
pub fn outcome_kind(v: i32) -> &'static str {
    match ipb::OutcomeKind::try_from(v) {
        Ok(ipb::OutcomeKind::ReusedAsIs) => "reused as is",
        Ok(ipb::OutcomeKind::ReusedRefurbished) => "refurbished",
        Ok(ipb::OutcomeKind::Resold) => "resold",
        Ok(ipb::OutcomeKind::Recycled) => "recycled",
        Ok(ipb::OutcomeKind::Disposed) => "disposed",
        Ok(ipb::OutcomeKind::Unspecified) | Err(_) => "?",
    }
}

/// What became of material, in the words of the PEMD récolement.
pub fn outcome_kind_fr(v: i32) -> &'static str {
    match ipb::OutcomeKind::try_from(v) {
        Ok(ipb::OutcomeKind::ReusedAsIs) => "réemploi en l'état",
        Ok(ipb::OutcomeKind::ReusedRefurbished) => "réemploi après remise en état",
        Ok(ipb::OutcomeKind::Resold) => "revente pour réemploi",
        Ok(ipb::OutcomeKind::Recycled) => "recyclage",
        Ok(ipb::OutcomeKind::Disposed) => "élimination",
        Ok(ipb::OutcomeKind::Unspecified) | Err(_) => "?",
    }
}

/// Insertion work, for people.
pub fn activity(v: i32) -> &'static str {
    match ipb::Activity::try_from(v) {
        Ok(ipb::Activity::Dismantling) => "dismantling",
        Ok(ipb::Activity::Collection) => "collection",
        Ok(ipb::Activity::Sorting) => "sorting",
        Ok(ipb::Activity::Refurbishing) => "refurbishing",
        Ok(ipb::Activity::Unspecified) | Err(_) => "?",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tonnes_hours_and_shares_are_written_for_people_and_spreadsheets() {
        assert_eq!(tonnes3(355_250), "0,355");
        assert_eq!(tonnes3(355_500), "0,356", "halves round up");
        assert_eq!(tonnes3(1_234_567_890), "1 234,568");
        assert_eq!(tonnes3(0), "0,000");
        assert_eq!(tonnes3(-12_400), "-0,012");
        assert_eq!(tonnes3(-12_500), "-0,013", "halves away from zero");
        assert_eq!(tonnes_exact(355_250), "0.355250");
        assert_eq!(tonnes_exact(-7), "-0.000007");
        assert_eq!(tonnes_exact(12_000_001), "12.000001");
        assert_eq!(hours1(90), "1,5");
        assert_eq!(hours1(100), "1,7");
        assert_eq!(hours2(100), "1.67");
        assert_eq!(hours2(120), "2.00");
        assert_eq!(fte(120.0 / 60.0 / 1607.0), "0.001");
        assert_eq!(percent(0.125), "12,5 %");
        assert_eq!(fte_fr(1.5), "1,500");
        assert_eq!(share4(1.0 / 3.0), "0.3333");
    }
}
