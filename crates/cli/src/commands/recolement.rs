//! `reemploi recolement`: a site's récolement (PEMD, Cerfa 16288): per
//! diagnostic row, what was estimated and what became of it, with the
//! destinations and the hand-overs that prove it.

use clap::Args;
use reemploi_proto::impact as ipb;

use super::Ctx;
use crate::CliError;
use crate::client::{answer, site_name};
use crate::figures::{self, tonnes_exact, tonnes3};
use crate::output::{Format, Table, csv_text, print, print_json};
use crate::views;

/// Flags of `recolement`.
#[derive(Args, Debug)]
pub struct RecolementArgs {
    /// The site: `sites/SITE` or `SITE`.
    pub site: String,
}

/// Runs `recolement`.
pub async fn run(ctx: &Ctx, a: RecolementArgs) -> Result<(), CliError> {
    let format = ctx.format;
    let req = ipb::ExportRecolementRequest {
        site: site_name(&a.site),
    };
    let mut impact = ctx.connect().await?.impact();
    let recolement = answer(impact.export_recolement(req).await)?;
    match format {
        Format::Json => print_json(&crate::json::message(&recolement)),
        Format::Table => print(&recolement_table(&recolement)),
        Format::Csv => print(&recolement_csv(&recolement)?),
    }
}

/// The récolement for people: one row per diagnostic row, in tonnes, then
/// where the material went.
pub fn recolement_table(r: &ipb::Recolement) -> String {
    let mut table = Table::new(&[
        "REF",
        "DESIGNATION",
        "WASTE CODE",
        "ESTIMATED (t)",
        "HANDED OVER (t)",
        "REUSED ON SITE (t)",
        "REUSED ELSEWHERE (t)",
        "RECYCLED (t)",
        "DISPOSED (t)",
        "UNDECLARED (t)",
        "NOT HANDED OVER (t)",
    ]);
    let mut destinations = Vec::new();
    for row in &r.rows {
        let designation = if row.hazardous {
            format!("{} (hazardous)", row.designation)
        } else {
            row.designation.clone()
        };
        table.row(vec![
            row.reference.clone(),
            designation,
            row.waste_code.clone(),
            tonnes3(row.estimated_mass_g),
            tonnes3(row.handed_over_mass_g),
            tonnes3(row.reused_on_site_mass_g),
            tonnes3(row.reused_elsewhere_mass_g),
            tonnes3(row.recycled_mass_g),
            tonnes3(row.disposed_mass_g),
            tonnes3(row.undeclared_mass_g),
            tonnes3(row.not_handed_over_mass_g),
        ]);
        for d in &row.destinations {
            destinations.push(format!(
                "  {}: {} {} t{}\n",
                row.reference,
                figures::outcome_kind(d.kind),
                tonnes3(d.mass_g),
                destination_suffix(&d.destination, &d.siret, "SIRET")
            ));
        }
    }
    let mut text = format!("{} ({})\n{}", r.display_name, r.site, table.render());
    if !destinations.is_empty() {
        text.push_str("\ndestinations:\n");
        text.extend(destinations);
    }
    text.push_str(&format!("\nmethod: {}\n", r.method_version));
    text
}

/// ` to PLACE (SIRET …)`, or nothing for an undeclared place.
fn destination_suffix(place: &str, siret: &str, siret_word: &str) -> String {
    match (place.is_empty(), siret.is_empty()) {
        (true, true) => String::new(),
        (false, true) => format!(" — {place}"),
        (true, false) => format!(" — {siret_word} {siret}"),
        (false, false) => format!(" — {place} ({siret_word} {siret})"),
    }
}

/// The columns of the CSV, in the words of the PEMD récolement form.
const CSV_COLUMNS: [&str; 19] = [
    "Référence",
    "Désignation",
    "Catégorie",
    "Code déchet",
    "Dangereux",
    "Quantité estimée",
    "Unité",
    "Masse estimée (t)",
    "Quantité remise",
    "Remis (t)",
    "Réemployé sur site (t)",
    "Réemployé hors site (t)",
    "Recyclé (t)",
    "Éliminé (t)",
    "Non déclaré (t)",
    "Non remis (t)",
    "Destinations",
    "Remises",
    "Lot",
];

/// The récolement as CSV: one row per diagnostic row, masses in tonnes
/// with 6 decimals (exact), the destinations joined in one cell, the
/// hand-overs (claims) that prove them in another.
pub fn recolement_csv(r: &ipb::Recolement) -> Result<String, CliError> {
    let rows: Vec<Vec<String>> = r.rows.iter().map(csv_row).collect();
    csv_text(&CSV_COLUMNS, &rows)
}

fn csv_row(row: &ipb::RecolementRow) -> Vec<String> {
    let amount = |q: Option<&reemploi_proto::types::Quantity>| {
        q.map(|q| views::decimal(q.milli)).unwrap_or_default()
    };
    let unit = row
        .estimated_quantity
        .or(row.handed_over_quantity)
        .map(|q| views::unit_symbol(q.unit))
        .unwrap_or_default();
    let destinations: Vec<String> = row
        .destinations
        .iter()
        .map(|d| {
            format!(
                "{} : {} t{}",
                figures::outcome_kind_fr(d.kind),
                tonnes_exact(d.mass_g),
                destination_suffix(&d.destination, &d.siret, "SIRET")
            )
        })
        .collect();
    vec![
        row.reference.clone(),
        row.designation.clone(),
        row.category.clone(),
        row.waste_code.clone(),
        if row.hazardous { "oui" } else { "non" }.to_owned(),
        amount(row.estimated_quantity.as_ref()),
        unit.to_owned(),
        tonnes_exact(row.estimated_mass_g),
        amount(row.handed_over_quantity.as_ref()),
        tonnes_exact(row.handed_over_mass_g),
        tonnes_exact(row.reused_on_site_mass_g),
        tonnes_exact(row.reused_elsewhere_mass_g),
        tonnes_exact(row.recycled_mass_g),
        tonnes_exact(row.disposed_mass_g),
        tonnes_exact(row.undeclared_mass_g),
        tonnes_exact(row.not_handed_over_mass_g),
        destinations.join(" | "),
        row.handovers.join(" "),
        row.lot.clone(),
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use reemploi_proto::types as tpb;

    use super::*;

    fn recolement() -> ipb::Recolement {
        let pieces = |milli| {
            Some(tpb::Quantity {
                unit: tpb::Unit::Piece as i32,
                milli,
            })
        };
        ipb::Recolement {
            site: "sites/s".to_owned(),
            display_name: "Coteaux – tour B".to_owned(),
            rows: vec![
                ipb::RecolementRow {
                    lot: "sites/s/lots/a".to_owned(),
                    reference: "M1".to_owned(),
                    designation: "Portes palières".to_owned(),
                    waste_code: "17 02 01".to_owned(),
                    estimated_quantity: pieces(240_000),
                    estimated_mass_g: 6_000_000,
                    handed_over_quantity: pieces(12_000),
                    handed_over_mass_g: 355_250,
                    reused_elsewhere_mass_g: 200_000,
                    undeclared_mass_g: 155_250,
                    not_handed_over_mass_g: 5_644_750,
                    destinations: vec![ipb::Destination {
                        kind: ipb::OutcomeKind::ReusedAsIs as i32,
                        destination: "=Chantier Bourtzwiller".to_owned(),
                        siret: "12345678901234".to_owned(),
                        mass_g: 200_000,
                    }],
                    handovers: vec!["sites/s/lots/a/claims/c".to_owned()],
                    ..Default::default()
                },
                ipb::RecolementRow {
                    reference: "M9".to_owned(),
                    designation: "Faux plafond amianté".to_owned(),
                    hazardous: true,
                    estimated_mass_g: 600_000,
                    disposed_mass_g: 600_000,
                    ..Default::default()
                },
            ],
            method_version: "impact-method/1".to_owned(),
        }
    }

    #[test]
    fn the_csv_speaks_the_recolement_form_one_row_per_diagnostic_row() {
        let text = recolement_csv(&recolement()).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let headers: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        for h in [
            "Référence",
            "Désignation",
            "Code déchet",
            "Masse estimée (t)",
            "Remis (t)",
            "Réemployé sur site (t)",
            "Réemployé hors site (t)",
            "Recyclé (t)",
            "Éliminé (t)",
            "Non déclaré (t)",
            "Non remis (t)",
            "Destinations",
        ] {
            assert!(headers.iter().any(|x| x == h), "{h} in {headers:?}");
        }
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2);
        let col = |h: &str| headers.iter().position(|x| x == h).unwrap();
        assert_eq!(&rows[0][col("Remis (t)")], "0.355250");
        assert_eq!(&rows[0][col("Quantité estimée")], "240");
        assert_eq!(&rows[0][col("Unité")], "u");
        assert_eq!(
            &rows[0][col("Destinations")],
            "réemploi en l'état : 0.200000 t — =Chantier Bourtzwiller (SIRET 12345678901234)"
        );
        assert_eq!(&rows[1][col("Dangereux")], "oui");
        assert_eq!(&rows[1][col("Éliminé (t)")], "0.600000");
    }

    #[test]
    fn the_table_shows_tonnes_destinations_and_the_method() {
        let text = recolement_table(&recolement());
        assert!(
            text.starts_with("Coteaux – tour B (sites/s)\nREF"),
            "{text}"
        );
        assert!(text.contains("Faux plafond amianté (hazardous)"), "{text}");
        assert!(
            text.contains("M1: reused as is 0,200 t — =Chantier"),
            "{text}"
        );
        assert!(text.contains("method: impact-method/1"), "{text}");
    }
}
