//! A PEMD diagnostic (one row per material) read into lots. [`columns`]
//! finds which column fills which field (the official form's headers and
//! their variants, French or English, or as `--map` says); each row is
//! checked with the domain rules the inventory applies, so bad rows are
//! known before any call, and a reference given twice is one of them (a
//! re-import matches rows to lots by reference).

pub mod again;
pub mod columns;

use std::collections::HashMap;

use reemploi_domain::DomainError;
use reemploi_domain::category;
use reemploi_domain::quantity::{Quantity, Unit};
use reemploi_domain::text;
use reemploi_domain::waste::{self, Hazard, WasteCode};
use reemploi_inventory::model::{MAX_DESCRIPTION, MAX_LINE, MAX_NAME, unit_to_proto};
use reemploi_proto::inventory as pb;
use reemploi_proto::types as tpb;

pub use columns::{Field, Layout, MapError, Mapping, check_mappings};

use crate::cells;
use crate::sheet::{Row, Sheet};
use crate::{ImportError, Parsed, Reason, Reasons};

/// A lot read from a row, ready to send.
#[derive(Debug, Clone)]
pub struct LotRow {
    /// The lot to create.
    pub lot: pb::Lot,
    /// Why it can never be published, when it cannot.
    pub hazardous: Option<Hazardous>,
    /// The lot's fields the row gives a value for (a column and a cell
    /// that is not empty), as UpdateLot's mask names them: a re-import
    /// changes these only, so an empty cell changes nothing.
    pub given: Vec<&'static str>,
}

/// Why a lot can never be published: its hazardous waste code, the hazards
/// that forbid reuse (at least one of the two).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hazardous {
    /// The waste code, when it is a hazardous one.
    pub waste_code: Option<WasteCode>,
    /// The hazards that forbid reuse.
    pub hazards: Vec<Hazard>,
}

impl std::fmt::Display for Hazardous {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut why = Vec::new();
        if let Some(code) = &self.waste_code {
            why.push(format!("hazardous waste code {code}"));
        }
        why.extend(self.hazards.iter().map(|h| h.code().to_owned()));
        f.write_str(&why.join(", "))
    }
}

/// A diagnostic read: its rows, and which column fills which field.
#[derive(Debug)]
pub struct Diagnostic {
    /// Its rows, good and bad.
    pub parsed: Parsed<LotRow>,
    /// Its columns.
    pub layout: Layout,
}

/// Hazard cells that say "none".
const NO_HAZARD: &[&str] = &[
    "", "-", "non", "no", "none", "aucun", "aucune", "neant", "néant", "ras", "/",
];

/// Hazard cells that say "yes" without naming the hazard (the form's
/// yes/no column): a hazard to be described, which does not by itself
/// forbid reuse (a hazardous waste code does).
const SOME_HAZARD: &[&str] = &["oui", "yes", "x", "dangereux"];

/// The longest reference the inventory keeps.
const MAX_REFERENCE: usize = 50;

/// Reads every row of a diagnostic whose columns are found by their
/// headers; `tick` is called once per row. Returns the rows, and the
/// headers of the columns nobody reads.
pub fn parse(
    sheet: &Sheet,
    tick: impl FnMut(),
) -> Result<(Parsed<LotRow>, Vec<String>), ImportError> {
    let diagnostic = parse_mapped(sheet, &[], tick)?;
    Ok((diagnostic.parsed, diagnostic.layout.unused))
}

/// Reads every row of a diagnostic, the columns `maps` names first (see
/// [`check_mappings`]); `tick` is called once per row.
pub fn parse_mapped(
    sheet: &Sheet,
    maps: &[Mapping],
    tick: impl FnMut(),
) -> Result<Diagnostic, ImportError> {
    let layout = Layout::find(sheet, maps)?;
    // Each reference's first line, lower-cased: a re-import matches by it.
    let mut seen: HashMap<String, u64> = HashMap::new();
    let parsed = Parsed::check_rows(&sheet.rows, tick, |row| lot(&layout, row, &mut seen));
    Ok(Diagnostic { parsed, layout })
}

/// One row as a lot, or every reason it is not one.
fn lot(layout: &Layout, row: &Row, seen: &mut HashMap<String, u64>) -> Result<LotRow, Vec<Reason>> {
    let mut errors = Reasons::default();
    let get = |f: Field| layout.get(row, f);
    // The fields are read in this order, the order of the row's reasons.
    let reference = errors.keep(
        text::optional("reference", get(Field::Reference), MAX_REFERENCE)
            .and_then(|r| first_use(seen, r, row.line)),
    );
    let fields = RowFields {
        reference,
        designation: errors.keep(text::required(
            "designation",
            get(Field::Designation),
            MAX_NAME,
        )),
        category: errors.keep(cells::category(get(Field::Category))),
        quantity: quantity(&mut errors, get(Field::Quantity), get(Field::Unit)),
        mass_g: match layout.mass(row) {
            None | Some((_, "")) => Some(0),
            Some((unit, cell)) => errors.keep(cells::mass_g(unit, cell)),
        },
        location: errors.keep(text::optional("location", get(Field::Location), MAX_LINE)),
        condition: errors.keep(text::optional("condition", get(Field::Condition), MAX_LINE)),
        description: errors.keep(text::optional(
            "description",
            get(Field::Description),
            MAX_DESCRIPTION,
        )),
        waste_code: match cells::waste_code_part(get(Field::WasteCode)) {
            "" => Some(None),
            w => errors.keep(WasteCode::parse(w).map(Some)),
        },
        hazards: hazards(&mut errors, get(Field::Hazard)),
        reuse_potential: errors.keep(cells::reuse_potential(get(Field::ReusePotential))),
    };
    match fields.lot() {
        Some((lot, hazardous)) if errors.0.is_empty() => Ok(LotRow {
            lot,
            hazardous,
            given: given(layout, row),
        }),
        _ => Err(errors.0),
    }
}

/// The lot's fields a row gives a value for.
fn given(layout: &Layout, row: &Row) -> Vec<&'static str> {
    let mut fields: Vec<&'static str> = Vec::new();
    for field in Field::ALL {
        let filled = layout.has(field) && !layout.get(row, field).trim().is_empty();
        match field.lot_field() {
            Some(f) if filled && !fields.contains(&f) => fields.push(f),
            _ => {}
        }
    }
    fields
}

/// The reference, if no earlier row gave it (whatever its case).
fn first_use(
    seen: &mut HashMap<String, u64>,
    reference: Option<String>,
    line: u64,
) -> Result<Option<String>, DomainError> {
    let Some(r) = reference else {
        return Ok(None);
    };
    match seen.get(&r.to_lowercase()) {
        Some(first) => Err(DomainError::invalid(
            "reference",
            format!(
                "{r:?} is also on line {first}: a reference names one row, the one a \
                 re-import updates"
            ),
        )),
        None => {
            seen.insert(r.to_lowercase(), line);
            Ok(Some(r))
        }
    }
}

/// What a row says, field by field: `None` where a field is invalid (its
/// reason recorded).
struct RowFields {
    reference: Option<Option<String>>,
    designation: Option<String>,
    category: Option<&'static category::Category>,
    quantity: Option<(Unit, Quantity)>,
    mass_g: Option<i64>,
    location: Option<Option<String>>,
    condition: Option<Option<String>>,
    description: Option<Option<String>>,
    waste_code: Option<Option<WasteCode>>,
    hazards: Vec<Hazard>,
    reuse_potential: Option<pb::ReusePotential>,
}

impl RowFields {
    /// The lot and why it is hazardous, when every field is valid.
    fn lot(self) -> Option<(pb::Lot, Option<Hazardous>)> {
        let (unit, quantity) = self.quantity?;
        let waste_code = self.waste_code?;
        let hazardous = why_hazardous(waste_code.as_ref(), &self.hazards);
        let lot = pb::Lot {
            reference: self.reference?.unwrap_or_default(),
            designation: self.designation?,
            description: self.description?.unwrap_or_default(),
            category: self.category?.code.to_owned(),
            quantity: Some(tpb::Quantity {
                unit: unit_to_proto(unit) as i32,
                milli: quantity.milli(),
            }),
            estimated_mass_g: self.mass_g?,
            building_location: self.location?.unwrap_or_default(),
            condition: self.condition?.unwrap_or_default(),
            reuse_potential: self.reuse_potential? as i32,
            waste_code: waste_code.map(|w| w.to_string()).unwrap_or_default(),
            hazards: self
                .hazards
                .iter()
                .map(|h| hazard_proto(*h) as i32)
                .collect(),
            ..Default::default()
        };
        Some((lot, hazardous))
    }
}

/// The unit, then the quantity in it (not read without a valid unit); a
/// lot has more than nothing. Spaces between thousands are allowed.
fn quantity(errors: &mut Reasons, quantity: &str, unit: &str) -> Option<(Unit, Quantity)> {
    let unit = errors.keep(Unit::parse(unit))?;
    let quantity = errors.keep(
        Quantity::parse_decimal(&cells::without_spaces(quantity), unit)
            .and_then(|q| Quantity::positive(q.milli(), unit))
            .and_then(Quantity::whole_if_counted),
    )?;
    Some((unit, quantity))
}

/// The hazards a cell lists, separated by `;`, `,`, `/` or `+`; words
/// that say "none" are no hazard, a bare "yes" is another hazard.
fn hazards(errors: &mut Reasons, cell: &str) -> Vec<Hazard> {
    let mut found: Vec<Hazard> = Vec::new();
    for h in cell.split([';', ',', '/', '+']).map(str::trim) {
        let lowered = h.to_lowercase();
        let hazard = if NO_HAZARD.contains(&lowered.as_str()) {
            None
        } else if SOME_HAZARD.contains(&lowered.as_str()) {
            Some(Hazard::Other)
        } else {
            errors.keep(Hazard::parse(h))
        };
        if let Some(h) = hazard.filter(|h| !found.contains(h)) {
            found.push(h);
        }
    }
    found
}

/// Why a lot can never be published (its hazardous waste code, the
/// hazards that forbid reuse), when it cannot.
fn why_hazardous(waste_code: Option<&WasteCode>, hazards: &[Hazard]) -> Option<Hazardous> {
    waste::is_hazardous(waste_code, hazards).then(|| Hazardous {
        waste_code: waste_code.filter(|c| c.is_hazardous()).cloned(),
        hazards: hazards
            .iter()
            .copied()
            .filter(|h| h.forbids_reuse())
            .collect(),
    })
}

pub use reemploi_inventory::model::hazard_proto;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::sheet::read_csv;

    #[test]
    fn french_headers_in_any_order_and_bad_rows_with_reasons() {
        let csv = "Désignation;QUANTITÉ;Unité;Catégorie;Masse (kg);Code déchet;Danger;Réf\n\
                   Portes;12,5;m2;porte-interieure;300;17 02 01;non;A1\n\
                   Dalles;10;m2;revetement-sol;;17 06 05*;amiante;A2\n\
                   ;0;furlong;nope;x;;;A3\n\
                   WC suspendus;2,5;u;sanitaire;;17 01 03;;A4\n";
        let sheet = read_csv(csv.as_bytes()).unwrap();
        let (parsed, unused) = parse(&sheet, || {}).unwrap();
        assert!(unused.is_empty(), "{unused:?}");
        assert_eq!(parsed.good.len(), 2);
        let (line, first) = &parsed.good[0];
        assert_eq!(*line, 2);
        assert_eq!(first.lot.quantity.unwrap().milli, 12_500);
        assert_eq!(first.lot.estimated_mass_g, 300_000);
        assert!(first.hazardous.is_none());
        let why = parsed.good[1].1.hazardous.clone().unwrap().to_string();
        assert!(
            why.contains("17 06 05*") && why.contains("asbestos"),
            "{why}"
        );
        assert_eq!(parsed.bad.len(), 2);
        let bad = &parsed.bad[0];
        assert_eq!(bad.line, 4);
        for part in ["designation", "category", "unit", "mass_kg"] {
            assert!(bad.reason().contains(part), "{part} in {}", bad.reason());
        }
        assert_eq!(parsed.bad[1].line, 5);
        assert!(
            parsed.bad[1].reason().contains("counted whole"),
            "{}",
            parsed.bad[1].reason()
        );
    }

    #[test]
    fn a_missing_required_column_names_it() {
        let sheet = read_csv(b"ref,designation,unit\nA,B,u\n").unwrap();
        let err = parse(&sheet, || {}).unwrap_err().to_string();
        assert!(
            err.contains("category") && err.contains("quantity"),
            "{err}"
        );
    }

    #[test]
    fn the_official_form_with_masses_in_tonnes_and_yes_no_reuse() {
        let csv = "N°;Désignation du produit/matériau;Catégorie;Quantité estimée;Unité de mesure;\
                   Masse (t);Potentiel de réemploi (oui/non);Code déchet;Caractère dangereux\n\
                   M1;Portes bois;Porte intérieure;1 240;U;6,2;oui;17 02 01 - Bois;non\n\
                   M2;Garde-corps;garde-corps;310;ml;9,3;après diagnostic plomb;17 04 05;plomb\n\
                   M3;Dalles;revetement-sol;900;m²;4,5;non;17 06 05* (amiante);oui\n\
                   m1;Portes encore;porte-interieure;1;u;0,0000001;peut-être;17 02 01;\n";
        let sheet = read_csv(csv.as_bytes()).unwrap();
        let d = parse_mapped(&sheet, &[], || {}).unwrap();
        assert!(d.layout.unused.is_empty(), "{:?}", d.layout.unused);
        let lots: Vec<&pb::Lot> = d.parsed.good.iter().map(|(_, r)| &r.lot).collect();
        assert_eq!(lots.len(), 3, "{:?}", d.parsed.bad);
        assert_eq!(lots[0].category, "porte-interieure");
        assert_eq!(lots[0].quantity.unwrap().milli, 1_240_000);
        assert_eq!(lots[0].estimated_mass_g, 6_200_000);
        assert_eq!(lots[0].waste_code, "17 02 01");
        assert_eq!(lots[0].reuse_potential, pb::ReusePotential::Direct as i32);
        assert_eq!(
            lots[1].reuse_potential,
            pb::ReusePotential::AfterCheck as i32
        );
        assert_eq!(lots[1].hazards, vec![pb::Hazard::Lead as i32]);
        assert_eq!(lots[2].reuse_potential, pb::ReusePotential::None as i32);
        assert!(d.parsed.good[2].1.hazardous.is_some());
        // The last row repeats M1 (whatever the case), has a mass below the
        // gram and a reuse potential nobody understands: all three said.
        let bad = &d.parsed.bad[0];
        assert_eq!(bad.line, 5);
        let why = bad.reason();
        for said in [
            "also on line 2",
            "mass_t",
            "decimals",
            "reuse_potential",
            "peut-être",
        ] {
            assert!(why.contains(said), "{said} in {why}");
        }
    }
}
