//! The emission factors shipped with the code (`data/factors.csv`), each
//! with its source, and the counting method they serve
//! (docs/impact-method.md). A category with no line has no public factor:
//! its reused mass counts as "without factor" and adds zero.

use std::collections::HashMap;

/// The version every figure carries; bump it when the counting changes.
pub const METHOD_VERSION: &str = "impact-method/1";

/// The shipped table.
const FACTORS_CSV: &str = include_str!("../data/factors.csv");

/// What a factor multiplies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Per {
    /// Kilograms of CO2e per kilogram of product.
    Kg(f64),
    /// Kilograms of CO2e per piece.
    Unit(f64),
}

/// The factors by category, and the transport factor.
#[derive(Debug, Clone, PartialEq)]
pub struct Factors {
    by_category: HashMap<String, Per>,
    /// Kilograms of CO2e per tonne-kilometre of road transport.
    pub transport_kg_per_tkm: f64,
}

/// A line of the table that cannot be read: the build ships a broken table.
#[derive(Debug, thiserror::Error)]
#[error("data/factors.csv line {line}: {reason}")]
pub struct FactorError {
    line: u64,
    reason: String,
}

#[derive(serde::Deserialize)]
struct Line {
    category: String,
    per: String,
    kg_co2e: f64,
    source: String,
    year: u16,
    licence: String,
}

impl Factors {
    /// The shipped table, checked: every line has a source, a year and a
    /// licence, a known category, and a finite, non-negative factor.
    pub fn shipped() -> Result<Factors, FactorError> {
        Factors::parse(FACTORS_CSV)
    }

    /// A table in the shipped format.
    pub fn parse(text: &str) -> Result<Factors, FactorError> {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let mut by_category = HashMap::new();
        let mut transport = None;
        for (i, row) in reader.deserialize::<Line>().enumerate() {
            let line = i as u64 + 2;
            let fail = |reason: String| FactorError { line, reason };
            let l = row.map_err(|e| fail(e.to_string()))?;
            if l.source.trim().is_empty() || l.licence.trim().is_empty() || l.year < 1990 {
                return Err(fail(
                    "every factor needs its source, year and licence".into(),
                ));
            }
            if !l.kg_co2e.is_finite() || l.kg_co2e < 0.0 {
                return Err(fail(format!(
                    "factor {} is not a finite positive number",
                    l.kg_co2e
                )));
            }
            let per = match (l.category.as_str(), l.per.as_str()) {
                ("transport", "tkm") => {
                    transport = Some(l.kg_co2e);
                    continue;
                }
                (_, "kg") => Per::Kg(l.kg_co2e),
                (_, "unit") => Per::Unit(l.kg_co2e),
                (_, other) => return Err(fail(format!("unknown per {other:?}"))),
            };
            if reemploi_domain::category::find(&l.category).is_none() {
                return Err(fail(format!("unknown category {:?}", l.category)));
            }
            if by_category.insert(l.category.clone(), per).is_some() {
                return Err(fail(format!("category {:?} twice", l.category)));
            }
        }
        let transport_kg_per_tkm = transport.ok_or(FactorError {
            line: 0,
            reason: "no transport line".into(),
        })?;
        Ok(Factors {
            by_category,
            transport_kg_per_tkm,
        })
    }

    /// The factor of a category, if a public one exists.
    pub fn of(&self, category: &str) -> Option<Per> {
        self.by_category.get(category).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_table_reads_and_has_a_transport_factor() {
        let f = Factors::shipped().expect("shipped table");
        assert!(f.transport_kg_per_tkm > 0.0);
        assert_eq!(f.of("garde-corps"), Some(Per::Kg(2.211)));
        // No public factor was found for cast-iron radiators: no line.
        assert_eq!(f.of("radiateur"), None);
    }

    #[test]
    fn a_line_without_source_or_with_an_unknown_category_is_refused() {
        let head = "category,per,kg_co2e,source,year,licence,note\n";
        let t = "transport,tkm,0.1,\"doc\",2020,x,\n";
        assert!(Factors::parse(&format!("{head}{t}brique,kg,0.2,,2020,x,\n")).is_err());
        assert!(Factors::parse(&format!("{head}{t}nope,kg,0.2,doc,2020,x,\n")).is_err());
        assert!(Factors::parse(&format!("{head}brique,kg,0.2,doc,2020,x,\n")).is_err());
        assert!(Factors::parse(&format!("{head}{t}brique,kg,-1,doc,2020,x,\n")).is_err());
        let ok = Factors::parse(&format!("{head}{t}brique,unit,0.2,doc,2020,x,\n")).expect("ok");
        assert_eq!(ok.of("brique"), Some(Per::Unit(0.2)));
    }
}
