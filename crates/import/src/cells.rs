//! Cells as people write them in real diagnostics and directories, read
//! strictly: a category by its code or its label, numbers with spaces
//! between thousands, masses in kilograms or tonnes, a reuse potential in
//! words or `oui`/`non`. What is not understood is an error naming the
//! field, never a value quietly dropped.

use reemploi_domain::DomainError;
use reemploi_domain::category::{self, Category};
use reemploi_proto::inventory as pb;

use crate::sheet::normalize;

/// A category by its code (`porte-interieure`) or its French or English
/// label (`Porte intérieure`, `Interior door`), whatever the case and
/// accents.
pub fn category(cell: &str) -> Result<&'static Category, DomainError> {
    if let Ok(found) = category::parse(cell) {
        return Ok(found);
    }
    let wanted = normalize(cell);
    if wanted.is_empty() {
        // The domain's own words for an empty cell.
        return category::parse(cell);
    }
    category::all()
        .iter()
        .find(|c| {
            [c.code, c.label_fr, c.label_en]
                .map(normalize)
                .contains(&wanted)
        })
        .ok_or_else(|| {
            DomainError::invalid(
                "category",
                format!(
                    "unknown category {:?}: neither a code nor a label of the taxonomy",
                    cell.trim()
                ),
            )
        })
}

/// A number as written, without the spaces that group thousands in French
/// (`6 000`, also with a no-break or a narrow no-break space).
pub fn without_spaces(cell: &str) -> String {
    cell.chars().filter(|c| !c.is_whitespace()).collect()
}

/// A decimal (point or comma) scaled by `10^decimals` into a whole number:
/// `scaled("24,6", 6)` is 24,600,000. More decimals than `decimals` is an
/// error, as rounding would change what the file says.
pub fn scaled(field: &'static str, cell: &str, decimals: u32) -> Result<i64, DomainError> {
    let text = without_spaces(cell);
    let not_a_number = || DomainError::invalid(field, format!("{:?} is not a number", cell.trim()));
    if text.starts_with('-') {
        return Err(DomainError::invalid(field, "must not be negative"));
    }
    let text = text.strip_prefix('+').unwrap_or(&text);
    let (whole, fraction) = match text.split_once(['.', ',']) {
        Some((w, f)) => (w, f),
        None => (text, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) {
        return Err(not_a_number());
    }
    let places = u32::try_from(fraction.len()).unwrap_or(u32::MAX);
    if places > decimals {
        return Err(DomainError::invalid(
            field,
            format!(
                "{:?} has more than {decimals} decimals: write it to the {}",
                cell.trim(),
                if decimals == 3 { "gram in kg" } else { "gram" }
            ),
        ));
    }
    let too_large = || DomainError::invalid(field, format!("{:?} is too large", cell.trim()));
    let padded = format!(
        "{whole}{fraction}{}",
        "0".repeat(usize::try_from(decimals - places).unwrap_or(0))
    );
    padded.parse::<i64>().map_err(|_| too_large())
}

/// The unit a mass is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MassUnit {
    /// Kilograms.
    Kilogram,
    /// Tonnes.
    Tonne,
}

impl MassUnit {
    /// The field a mass in this unit is reported under.
    pub fn field(self) -> &'static str {
        match self {
            MassUnit::Kilogram => "mass_kg",
            MassUnit::Tonne => "mass_t",
        }
    }
}

/// A mass in grams. The cell is in the column's unit, unless it says its
/// own after the number (`6 000 kg`, `24,6 t`).
pub fn mass_g(column: MassUnit, cell: &str) -> Result<i64, DomainError> {
    let field = column.field();
    let cut = cell.find(|c: char| c.is_alphabetic()).unwrap_or(cell.len());
    let (number, unit) = cell.split_at(cut);
    if number.trim().is_empty() {
        return Err(DomainError::invalid(
            field,
            format!("{:?} is not a number", cell.trim()),
        ));
    }
    let unit = match normalize(unit).as_str() {
        "" => column,
        "kg" | "kilo" | "kilos" | "kilogramme" | "kilogrammes" => MassUnit::Kilogram,
        "t" | "tonne" | "tonnes" => MassUnit::Tonne,
        other => {
            return Err(DomainError::invalid(
                field,
                format!(
                    "{:?}: the unit {other:?} is not understood (kg or t)",
                    cell.trim()
                ),
            ));
        }
    };
    match unit {
        MassUnit::Kilogram => scaled(field, number, 3),
        MassUnit::Tonne => scaled(field, number, 6),
    }
}

/// A reuse potential, from the words a diagnostic uses (`réemploi hors
/// site`, `reconditionnement`, `après diagnostic plomb`, `faible`,
/// `recyclage`, `aucun`), the form's `oui`/`non`, or the API's names.
/// An empty cell is "not assessed". The words that call for a check are
/// looked for first, so that a row that needs one is never read as
/// reusable as is.
pub fn reuse_potential(cell: &str) -> Result<pb::ReusePotential, DomainError> {
    use pb::ReusePotential as P;
    let text = normalize(cell);
    let words: Vec<&str> = text.split(' ').collect();
    // A word said with its negation ("non dangereux", "sans réserve") says
    // the opposite of the word alone.
    let negated = |i: usize| i > 0 && matches!(words[i - 1], "non" | "sans" | "pas" | "not");
    let has = |w: &str| {
        words
            .iter()
            .enumerate()
            .any(|(i, x)| *x == w && !negated(i))
    };
    let starts = |p: &str| words.iter().any(|x| x.starts_with(p));
    let starts_negated = |p: &str| {
        words
            .iter()
            .enumerate()
            .any(|(i, x)| x.starts_with(p) && negated(i))
    };
    let potential = match text.as_str() {
        "" => P::Unspecified,
        "oui" | "yes" | "o" | "y" | "x" | "direct" => P::Direct,
        "non" | "no" | "n" | "none" | "nul" | "nulle" => P::None,
        _ if has("aucun") || has("aucune") || has("dangereux") || starts("elimin") => P::None,
        _ if starts_negated("reemplo") || starts_negated("reutilis") => P::None,
        _ if starts("apres")
            || has("diagnostic")
            || starts("verif")
            || starts("controle")
            || has("check")
            || has("reserve")
            || has("reserves") =>
        {
            P::AfterCheck
        }
        _ if starts("recondition")
            || starts("renov")
            || starts("refurb")
            || starts("repar")
            || starts("restaur") =>
        {
            P::Refurbish
        }
        _ if starts("reemplo") || starts("reutilis") || starts("reus") => P::Direct,
        _ if starts("recycl") || starts("concass") || starts("valoris") => P::Recycle,
        _ if has("faible") || has("low") || starts("limit") => P::Low,
        _ => {
            return Err(DomainError::invalid(
                "reuse_potential",
                format!(
                    "{:?} is not understood: write oui or non, or direct (réemploi), refurbish \
                     (reconditionnement), after check (après diagnostic, à vérifier), low \
                     (faible), recycle (recyclage), none (aucun)",
                    cell.trim()
                ),
            ));
        }
    };
    Ok(potential)
}

/// The waste code of a cell that may follow it with its label
/// (`17 01 01 - Béton`, `17 06 05* (amiante)`): what comes before the
/// first letter.
pub fn waste_code_part(cell: &str) -> &str {
    match cell.find(|c: char| c.is_alphabetic()) {
        Some(i) => cell[..i].trim_end_matches([' ', '-', '–', ':', '(', '\u{a0}']),
        None => cell,
    }
}

/// An e-mail address as the registry takes one: at most 254 characters,
/// an `@`, no space; one address per cell.
pub fn email(cell: &str) -> Result<Option<String>, DomainError> {
    let email = cell.trim();
    if email.is_empty() {
        return Ok(None);
    }
    let several = email.matches('@').count() > 1 || email.contains([';', ',']);
    if several {
        return Err(DomainError::invalid(
            "email",
            format!("{email:?}: one address per structure (its contact has one)"),
        ));
    }
    if email.len() > 254 || !email.contains('@') || email.contains(char::is_whitespace) {
        return Err(DomainError::invalid(
            "email",
            format!("{email:?} is not an e-mail address"),
        ));
    }
    Ok(Some(email.to_owned()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use pb::ReusePotential as P;

    #[test]
    fn categories_by_code_or_label() {
        assert_eq!(
            category("porte-interieure").unwrap().code,
            "porte-interieure"
        );
        assert_eq!(
            category("Porte intérieure").unwrap().code,
            "porte-interieure"
        );
        assert_eq!(category("RADIATOR").unwrap().code, "radiateur");
        let err = category("Menuiseries").unwrap_err().to_string();
        assert!(err.contains("taxonomy"), "{err}");
        assert!(category("").is_err());
    }

    #[test]
    fn masses_in_kilograms_or_tonnes() {
        assert_eq!(mass_g(MassUnit::Kilogram, "6 000").unwrap(), 6_000_000);
        assert_eq!(
            mass_g(MassUnit::Kilogram, "6\u{202f}000,5").unwrap(),
            6_000_500
        );
        assert_eq!(mass_g(MassUnit::Tonne, "24,6").unwrap(), 24_600_000);
        assert_eq!(mass_g(MassUnit::Tonne, "0.000001").unwrap(), 1);
        assert_eq!(mass_g(MassUnit::Tonne, "600 kg").unwrap(), 600_000);
        assert_eq!(mass_g(MassUnit::Kilogram, "1,5 t").unwrap(), 1_500_000);
        for (unit, bad, says) in [
            (MassUnit::Kilogram, "12 lb", "\"lb\""),
            (MassUnit::Kilogram, "-3", "negative"),
            (MassUnit::Kilogram, "1.0005", "decimals"),
            (MassUnit::Tonne, "environ 3", "not a number"),
            (MassUnit::Tonne, "3 environ", "not understood"),
            (MassUnit::Tonne, "3,2,1", "not a number"),
            (MassUnit::Tonne, "99999999999999999", "too large"),
        ] {
            let err = mass_g(unit, bad).unwrap_err().to_string();
            assert!(
                err.contains(says) && err.contains(unit.field()),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn reuse_potential_in_words_or_yes_no() {
        for (cell, want) in [
            ("", P::Unspecified),
            ("oui", P::Direct),
            ("Non", P::None),
            ("reemploi hors site", P::Direct),
            ("Réemploi sur site", P::Direct),
            ("reconditionnement", P::Refurbish),
            ("après diagnostic plomb", P::AfterCheck),
            ("oui, à vérifier", P::AfterCheck),
            ("faible", P::Low),
            ("concassage sur site", P::Recycle),
            ("recyclage", P::Recycle),
            ("aucun (dangereux)", P::None),
            ("non réemployable", P::None),
            ("after check", P::AfterCheck),
            ("réemploi sous réserve", P::AfterCheck),
            // Negations are not the word.
            ("réemploi sans réserve", P::Direct),
            ("non dangereux, réemploi direct", P::Direct),
            ("recyclage (non dangereux)", P::Recycle),
        ] {
            assert_eq!(reuse_potential(cell).unwrap(), want, "{cell}");
        }
        let err = reuse_potential("peut-être").unwrap_err().to_string();
        assert!(
            err.contains("reuse_potential") && err.contains("oui or non"),
            "{err}"
        );
    }

    #[test]
    fn waste_codes_followed_by_their_label() {
        assert_eq!(waste_code_part("17 01 01 - Béton"), "17 01 01");
        assert_eq!(waste_code_part("17 06 05* (amiante)"), "17 06 05*");
        assert_eq!(waste_code_part("17-06-05 *"), "17-06-05 *");
    }

    #[test]
    fn one_email_per_cell() {
        assert_eq!(email(" a@b.fr ").unwrap().as_deref(), Some("a@b.fr"));
        assert_eq!(email("").unwrap(), None);
        assert!(email("a@b.fr; c@d.fr").is_err());
        assert!(email("pas une adresse").is_err());
    }
}
