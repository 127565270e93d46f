//! Reads a PEMD diagnostic as CSV (one row per item: ref, designation,
//! category, quantity, unit, mass_kg, location, condition, reuse_potential,
//! waste_code, hazard) into lot creation requests.

use reemploi_domain::quantity::{Quantity, Unit};
use reemploi_domain::waste::Hazard;
use reemploi_proto::inventory as pb;
use reemploi_proto::types as tpb;

use crate::model::unit_to_proto;

/// A row that could not be read, with its line number in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based line number (the header is line 1).
    pub line: u64,
    /// What is wrong.
    pub reason: String,
}

/// The reuse potential named by a diagnostic's free text.
pub fn reuse_potential(text: &str) -> pb::ReusePotential {
    let t = text.to_lowercase();
    if t.contains("aucun") || t.contains("dangereux") {
        pb::ReusePotential::None
    } else if t.contains("diagnostic") || t.contains("après") || t.contains("apres") {
        pb::ReusePotential::AfterCheck
    } else if t.contains("recond") || t.contains("rénov") {
        pb::ReusePotential::Refurbish
    } else if t.contains("réemploi") || t.contains("reemploi") || t.contains("réutil") {
        pb::ReusePotential::Direct
    } else if t.contains("recycl") || t.contains("concassage") {
        pb::ReusePotential::Recycle
    } else if t.contains("faible") {
        pb::ReusePotential::Low
    } else {
        pb::ReusePotential::Unspecified
    }
}

/// Reads every row; returns the lots, or every bad row with its line.
pub fn read(csv_text: &str) -> Result<Vec<pb::Lot>, Vec<RowError>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(csv_text.as_bytes());
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            return Err(vec![RowError {
                line: 1,
                reason: e.to_string(),
            }]);
        }
    };
    let mut lots = Vec::new();
    let mut errors = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = u64::try_from(i).unwrap_or(u64::MAX).saturating_add(2);
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                errors.push(RowError {
                    line,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        let fields: std::collections::HashMap<String, String> = headers
            .iter()
            .zip(record.iter())
            .map(|(h, v)| (h.to_ascii_lowercase(), v.to_string()))
            .collect();
        match row(&fields) {
            Ok(lot) => lots.push(lot),
            Err(reason) => errors.push(RowError { line, reason }),
        }
    }
    if errors.is_empty() {
        Ok(lots)
    } else {
        Err(errors)
    }
}

fn row(fields: &std::collections::HashMap<String, String>) -> Result<pb::Lot, String> {
    let get = |name: &str| fields.get(name).map(String::as_str).unwrap_or_default();
    let unit = Unit::parse(get("unit")).map_err(|e| e.to_string())?;
    let quantity = Quantity::parse_decimal(get("quantity"), unit).map_err(|e| e.to_string())?;
    let mass_kg = get("mass_kg");
    let estimated_mass_g = if mass_kg.is_empty() {
        0
    } else {
        Quantity::parse_decimal(mass_kg, Unit::Kilogram)
            .map_err(|e| format!("mass_kg: {e}"))?
            .milli()
    };
    let hazards = get("hazard")
        .split([';', ','])
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| {
            Hazard::parse(h)
                .map(hazard_number)
                .map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(pb::Lot {
        reference: get("ref").to_string(),
        designation: get("designation").to_string(),
        category: get("category").to_string(),
        quantity: Some(tpb::Quantity {
            unit: unit_to_proto(unit) as i32,
            milli: quantity.milli(),
        }),
        estimated_mass_g,
        building_location: get("location").to_string(),
        condition: get("condition").to_string(),
        reuse_potential: reuse_potential(get("reuse_potential")) as i32,
        waste_code: get("waste_code").to_string(),
        hazards,
        ..Default::default()
    })
}

fn hazard_number(h: Hazard) -> i32 {
    crate::model::hazard_proto(h) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_coteaux_diagnostic() {
        let lots = read(include_str!("../../../demo/diagnostic-coteaux.csv")).unwrap();
        assert_eq!(lots.len(), 10);
        assert_eq!(lots[0].reference, "M1");
        assert_eq!(lots[0].quantity.unwrap().milli, 240_000);
        assert_eq!(lots[0].estimated_mass_g, 6_000_000);
        assert_eq!(lots[8].hazards, vec![pb::Hazard::Asbestos as i32]);
    }

    #[test]
    fn reports_bad_rows_with_lines() {
        let csv = "ref,designation,category,quantity,unit\nA,Porte,porte-interieure,2,u\nB,X,tuile,-3,m2\nC,Y,tuile,4,furlong\n";
        let errors = read(csv).unwrap_err();
        assert_eq!(
            errors.iter().map(|e| e.line).collect::<Vec<_>>(),
            vec![3, 4]
        );
    }
}
