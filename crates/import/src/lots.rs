//! A PEMD diagnostic (one row per material) read into lots. Columns are
//! found by their header, French or English; each row is checked with the
//! domain rules the inventory applies, so bad rows are known before any
//! call.

use reemploi_domain::category;
use reemploi_domain::quantity::{Quantity, Unit};
use reemploi_domain::text;
use reemploi_domain::waste::{self, Hazard, WasteCode};
use reemploi_inventory::model::{MAX_DESCRIPTION, MAX_LINE, MAX_NAME, unit_to_proto};
use reemploi_proto::inventory as pb;
use reemploi_proto::types as tpb;

use crate::sheet::{Row, Sheet};
use crate::{ImportError, MissingColumn, Parsed, Reason, Reasons};

/// The column of a lot field and the headers (normalised) that name it.
struct Column {
    field: &'static str,
    aliases: &'static [&'static str],
    required: bool,
}

const COLUMNS: &[Column] = &[
    Column {
        field: "reference",
        aliases: &["ref", "reference", "id", "n", "no", "numero", "repere"],
        required: false,
    },
    Column {
        field: "designation",
        aliases: &[
            "designation",
            "libelle",
            "materiau",
            "material",
            "name",
            "nom",
            "element",
        ],
        required: true,
    },
    Column {
        field: "category",
        aliases: &["categorie", "category", "code categorie", "category code"],
        required: true,
    },
    Column {
        field: "quantity",
        aliases: &["quantite", "quantity", "qty", "qte", "quantites"],
        required: true,
    },
    Column {
        field: "unit",
        aliases: &["unite", "unit", "u", "unites", "units"],
        required: true,
    },
    Column {
        field: "mass_kg",
        aliases: &[
            "masse kg",
            "mass kg",
            "poids kg",
            "weight kg",
            "masse",
            "mass",
            "poids",
            "weight",
            "masse estimee kg",
            "estimated mass kg",
        ],
        required: false,
    },
    Column {
        field: "location",
        aliases: &[
            "localisation",
            "location",
            "emplacement",
            "building location",
            "situation",
        ],
        required: false,
    },
    Column {
        field: "condition",
        aliases: &["etat", "condition", "state", "etat de conservation"],
        required: false,
    },
    Column {
        field: "reuse_potential",
        aliases: &[
            "potentiel de reemploi",
            "reuse potential",
            "potentiel",
            "potentiel reemploi",
            "orientation",
            "exutoire",
        ],
        required: false,
    },
    Column {
        field: "waste_code",
        aliases: &[
            "code dechet",
            "waste code",
            "code ced",
            "ced",
            "code dechets",
            "ldc",
        ],
        required: false,
    },
    Column {
        field: "hazard",
        aliases: &[
            "danger",
            "hazard",
            "dangers",
            "hazards",
            "polluant",
            "polluants",
        ],
        required: false,
    },
    Column {
        field: "description",
        aliases: &[
            "description",
            "remarque",
            "remarques",
            "observations",
            "commentaire",
            "notes",
        ],
        required: false,
    },
];

/// A lot read from a row, ready to send.
#[derive(Debug, Clone)]
pub struct LotRow {
    /// The lot to create.
    pub lot: pb::Lot,
    /// Why it can never be published, when it cannot.
    pub hazardous: Option<Hazardous>,
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

/// Where each field's column is.
struct Layout(Vec<(&'static str, usize)>);

impl Layout {
    fn get<'a>(&self, row: &'a Row, field: &str) -> &'a str {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .and_then(|(_, i)| row.cells.get(*i))
            .map_or("", String::as_str)
    }
}

/// Hazard cells that say "none".
const NO_HAZARD: &[&str] = &[
    "", "-", "non", "no", "none", "aucun", "aucune", "neant", "néant", "ras", "/",
];

/// Finds the columns; a missing required one makes the file unusable.
/// Returns the headers nobody reads, to warn about them.
fn layout(sheet: &Sheet) -> Result<(Layout, Vec<String>), ImportError> {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for c in COLUMNS {
        match sheet.column(c.aliases) {
            Some(i) => found.push((c.field, i)),
            None if c.required => missing.push(MissingColumn {
                field: c.field,
                example: c.aliases.first().copied().unwrap_or(c.field),
            }),
            None => {}
        }
    }
    if !missing.is_empty() {
        return Err(ImportError::MissingColumns {
            missing,
            headers: sheet.headers.clone(),
        });
    }
    let unused = sheet
        .headers
        .iter()
        .enumerate()
        .filter(|(i, h)| !h.is_empty() && !found.iter().any(|(_, j)| j == i))
        .map(|(_, h)| h.clone())
        .collect();
    Ok((Layout(found), unused))
}

/// Reads every row of a diagnostic; `tick` is called once per row.
/// Returns the rows, and the headers of the columns nobody reads.
pub fn parse(
    sheet: &Sheet,
    tick: impl FnMut(),
) -> Result<(Parsed<LotRow>, Vec<String>), ImportError> {
    let (layout, unused) = layout(sheet)?;
    let parsed = Parsed::check_rows(&sheet.rows, tick, |row| lot(&layout, row));
    Ok((parsed, unused))
}

/// One row as a lot, or every reason it is not one.
fn lot(layout: &Layout, row: &Row) -> Result<LotRow, Vec<Reason>> {
    let mut errors = Reasons::default();
    let get = |f: &str| layout.get(row, f);
    // The fields are read in this order, the order of the row's reasons.
    let fields = RowFields {
        reference: errors.keep(text::optional("reference", get("reference"), 50)),
        designation: errors.keep(text::required("designation", get("designation"), MAX_NAME)),
        category: errors.keep(category::parse(get("category"))),
        quantity: quantity(&mut errors, get("quantity"), get("unit")),
        mass_g: mass_g(&mut errors, get("mass_kg")),
        location: errors.keep(text::optional("location", get("location"), MAX_LINE)),
        condition: errors.keep(text::optional("condition", get("condition"), MAX_LINE)),
        description: errors.keep(text::optional(
            "description",
            get("description"),
            MAX_DESCRIPTION,
        )),
        waste_code: match get("waste_code") {
            "" => Some(None),
            w => errors.keep(WasteCode::parse(w).map(Some)),
        },
        hazards: hazards(&mut errors, get("hazard")),
        reuse_potential: reemploi_inventory::diagnostic::reuse_potential(get("reuse_potential")),
    };
    match fields.lot() {
        Some(lot) if errors.0.is_empty() => Ok(lot),
        _ => Err(errors.0),
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
    reuse_potential: pb::ReusePotential,
}

impl RowFields {
    /// The lot, when every field is valid.
    fn lot(self) -> Option<LotRow> {
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
            reuse_potential: self.reuse_potential as i32,
            waste_code: waste_code.map(|w| w.to_string()).unwrap_or_default(),
            hazards: self
                .hazards
                .iter()
                .map(|h| hazard_proto(*h) as i32)
                .collect(),
            ..Default::default()
        };
        Some(LotRow { lot, hazardous })
    }
}

/// The unit, then the quantity in it (not read without a valid unit); a
/// lot has more than nothing.
fn quantity(errors: &mut Reasons, quantity: &str, unit: &str) -> Option<(Unit, Quantity)> {
    let unit = errors.keep(Unit::parse(unit))?;
    let quantity = errors.keep(
        Quantity::parse_decimal(quantity, unit).and_then(|q| Quantity::positive(q.milli(), unit)),
    )?;
    Some((unit, quantity))
}

/// The estimated mass in grams (thousandths of the kilograms written); 0
/// when the cell is empty.
fn mass_g(errors: &mut Reasons, cell: &str) -> Option<i64> {
    match cell {
        "" => Some(0),
        m => errors.keep(
            Quantity::parse_decimal(m, Unit::Kilogram)
                .map(Quantity::milli)
                .map_err(|e| reemploi_domain::DomainError::invalid("mass_kg", strip_field(&e))),
        ),
    }
}

/// The hazards a cell lists, separated by `;`, `,`, `/` or `+`; words
/// that say "none" are no hazard.
fn hazards(errors: &mut Reasons, cell: &str) -> Vec<Hazard> {
    cell.split([';', ',', '/', '+'])
        .map(str::trim)
        .filter(|h| !NO_HAZARD.contains(&h.to_lowercase().as_str()))
        .filter_map(|h| errors.keep(Hazard::parse(h)))
        .collect()
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

/// The reason of a domain error without its own field name (the caller
/// names the column).
fn strip_field(e: &reemploi_domain::DomainError) -> String {
    match e {
        reemploi_domain::DomainError::Invalid { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
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
                   Portes;12,5;u;porte-interieure;300;17 02 01;non;A1\n\
                   Dalles;10;m2;revetement-sol;;17 06 05*;amiante;A2\n\
                   ;0;furlong;nope;x;;;A3\n";
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
        assert_eq!(parsed.bad.len(), 1);
        let bad = &parsed.bad[0];
        assert_eq!(bad.line, 4);
        for part in ["designation", "category", "unit", "mass_kg"] {
            assert!(bad.reason().contains(part), "{part} in {}", bad.reason());
        }
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
}
