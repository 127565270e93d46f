//! `reemploi categories`: the taxonomy of material categories, as the
//! domain holds it (no server needed). A lot has one category; a partner
//! accepts some; an import reads either the code or a label.

use clap::Args;
use reemploi_domain::category::{self, Category, Family};
use serde_json::json;

use crate::CliError;
use crate::output::{Format, emit_list};

/// Flags of `reemploi categories`.
#[derive(Args, Debug)]
pub struct CategoriesArgs {
    /// Only the categories of this family: menuiserie, chauffage,
    /// sanitaire, plomberie, revetement, couverture, maconnerie,
    /// metallerie, cloison, structure, mobilier, electricite, isolation,
    /// amenagement-exterieur.
    #[arg(long)]
    pub family: Option<String>,
}

/// The columns of the table.
const COLUMNS: &[&str] = &["CODE", "FAMILY", "LABEL", "LABEL (EN)", "USUAL WASTE CODE"];

/// Prints the categories, the family's only with `--family`.
pub fn run(format: Format, a: &CategoriesArgs) -> Result<(), CliError> {
    let family = match a.family.as_deref() {
        None => None,
        Some(f) => Some(Family::parse(f).map_err(|e| {
            let families: Vec<&str> = Family::ALL.iter().map(|f| f.code()).collect();
            CliError::Usage(format!("--family: {e}: one of {}", families.join(", ")))
        })?),
    };
    let categories: Vec<&Category> = category::all()
        .iter()
        .filter(|c| family.is_none_or(|f| c.family == f))
        .collect();
    emit_list(
        format,
        &categories,
        |c| {
            json!({
                "code": c.code,
                "family": c.family.code(),
                "labelFr": c.label_fr,
                "labelEn": c.label_en,
                "usualWasteCode": c.usual_waste_code,
            })
        },
        COLUMNS,
        |c| {
            vec![
                c.code.to_owned(),
                c.family.code().to_owned(),
                c.label_fr.to_owned(),
                c.label_en.to_owned(),
                c.usual_waste_code.to_owned(),
            ]
        },
        "category",
    )
}
