//! `reemploi outcomes`: a partner declares what became of material handed
//! over to it (reused as is or refurbished, resold, recycled, disposed of);
//! partners, site managers and the territory read the declarations of a
//! claim or a site.

use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use prost_types::Timestamp;
use reemploi_domain::quantity::{Quantity, Unit};
use reemploi_proto::impact as ipb;
use reemploi_proto::inventory as pb;
use reemploi_proto::types as tpb;

use super::{Ctx, request_id};
use crate::CliError;
use crate::client::{Connection, answer, site_name};
use crate::dates::parse_time;
use crate::figures;
use crate::output::{Table, emit, fields};
use crate::views;

/// The `outcomes` subcommands.
#[derive(Subcommand, Debug)]
pub enum OutcomesCommand {
    /// The claim's partner declares what became of (part of) the material
    /// of a handed-over claim.
    ///
    /// Give a quantity in the lot's unit, a mass in kilograms, or both;
    /// with a quantity alone, the mass counted is the claim's weighed mass
    /// pro rata. A claim may have several declarations (part reused, part
    /// recycled...); together they never exceed the mass handed over, and
    /// one that would is refused (exit code 6) and changes nothing. The
    /// figures (`reemploi impact`) count the mass declared reused, resold
    /// or refurbished as kept out of landfill.
    #[command(
        after_help = "Examples:\n  reemploi outcomes declare sites/…/lots/…/claims/… --kind reused --quantity 8 \\\n    --destination \"Chantier Bourtzwiller, 12 rue des Vosges\"\n  reemploi outcomes declare sites/…/lots/…/claims/… --kind recycled --mass-kg 120,5 --at 2026-03-31 \\\n    --destination \"Recycleur\" --siret 12345678901234"
    )]
    Declare(DeclareArgs),
    /// Lists declarations, oldest first: what became of the material, then
    /// the insertion hours.
    ///
    /// Of one claim or of one site's claims; a partner may name neither and
    /// gets its own. Masses in kilograms, hours in hours.
    #[command(
        after_help = "Examples:\n  reemploi outcomes list --claim sites/…/lots/…/claims/…\n  reemploi outcomes list --site sites/… --output json"
    )]
    List(ListArgs),
}

/// What became of the material.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// Reused as it was taken.
    Reused,
    /// Reused after refurbishing (cleaning, repair, reconditioning).
    Refurbished,
    /// Resold for reuse, e.g. through a ressourcerie.
    Resold,
    /// Sent to material recycling.
    Recycled,
    /// Disposed of (landfill, incineration).
    Disposed,
}

impl Kind {
    fn proto(self) -> ipb::OutcomeKind {
        match self {
            Kind::Reused => ipb::OutcomeKind::ReusedAsIs,
            Kind::Refurbished => ipb::OutcomeKind::ReusedRefurbished,
            Kind::Resold => ipb::OutcomeKind::Resold,
            Kind::Recycled => ipb::OutcomeKind::Recycled,
            Kind::Disposed => ipb::OutcomeKind::Disposed,
        }
    }
}

/// Flags of `outcomes declare`.
#[derive(Args, Debug)]
#[command(group(ArgGroup::new("amount").required(true).multiple(true).args(["quantity", "mass_kg"])))]
pub struct DeclareArgs {
    /// The claim: `sites/SITE/lots/LOT/claims/CLAIM`; it must have been
    /// handed over. Or, for a site manager, the lot `sites/SITE/lots/LOT`:
    /// material reused on the site itself (`--kind reused` or
    /// `refurbished`), for the récolement.
    pub claim: String,
    /// What became of it.
    #[arg(long, value_enum)]
    pub kind: Kind,
    /// How much, in the lot's unit (a decimal: 8, 12.5 or 12,5).
    #[arg(long)]
    pub quantity: Option<String>,
    /// The mass concerned, in kilograms (up to 3 decimals: 120.5 or 120,5).
    #[arg(long)]
    pub mass_kg: Option<String>,
    /// When it happened: a date (2026-03-31, midnight UTC) or an RFC 3339
    /// time; never in the future [default: now].
    #[arg(long, value_name = "DATE", value_parser = parse_time)]
    pub at: Option<Timestamp>,
    /// Where it went, free text (a building site, a shop, a recycler...).
    #[arg(long, default_value = "")]
    pub destination: String,
    /// The destination's SIRET (14 digits), when known.
    #[arg(long, default_value = "")]
    pub siret: String,
    /// Idempotency key: a retry with it returns the first declaration
    /// instead of declaring twice. Generated when absent.
    #[arg(long)]
    pub request_id: Option<String>,
}

/// Flags of `outcomes list`.
#[derive(Args, Debug)]
#[command(group(ArgGroup::new("scope").args(["claim", "site"])))]
pub struct ListArgs {
    /// The declarations of this claim (`sites/SITE/lots/LOT/claims/CLAIM`).
    #[arg(long)]
    pub claim: Option<String>,
    /// The declarations on this site's claims (`sites/SITE` or `SITE`).
    #[arg(long)]
    pub site: Option<String>,
}

/// Runs an `outcomes` subcommand.
pub async fn run(ctx: &Ctx, cmd: OutcomesCommand) -> Result<(), CliError> {
    match cmd {
        OutcomesCommand::Declare(a) => declare(ctx, a).await,
        OutcomesCommand::List(a) => list(ctx, a).await,
    }
}

/// `outcomes declare`.
async fn declare(ctx: &Ctx, a: DeclareArgs) -> Result<(), CliError> {
    let mass_g = match a.mass_kg.as_deref() {
        Some(kg) => grams(kg)?,
        None => 0,
    };
    let conn = ctx.connect().await?;
    let quantity = match a.quantity.as_deref() {
        Some(q) => Some(in_claims_unit(&conn, &a.claim, q).await?),
        None => None,
    };
    let req = ipb::DeclareOutcomeRequest {
        parent: a.claim,
        outcome: Some(ipb::Outcome {
            kind: a.kind.proto() as i32,
            quantity,
            mass_g,
            outcome_time: a.at,
            destination: a.destination,
            destination_siret: a.siret,
            ..Default::default()
        }),
        request_id: a.request_id.unwrap_or_else(request_id),
    };
    let outcome = answer(conn.impact().declare_outcome(req).await)?;
    emit(ctx.format, crate::json::message(&outcome), || {
        outcome_text(&outcome)
    })
}

/// Kilograms with up to 3 decimals as grams.
pub fn grams(kg: &str) -> Result<i64, CliError> {
    // Thousandths of a kilogram are grams.
    Quantity::parse_decimal(kg, Unit::Kilogram)
        .map(|q| q.milli())
        .map_err(|e| CliError::Usage(format!("--mass-kg: {e}")))
}

/// `quantity` in the unit of the claim's lot (a claim is counted in it), or
/// of the lot itself for reuse on its site.
async fn in_claims_unit(
    conn: &Connection,
    parent: &str,
    quantity: &str,
) -> Result<tpb::Quantity, CliError> {
    let unit_number = if parent.contains("/claims/") {
        let req = pb::GetClaimRequest {
            name: parent.to_owned(),
        };
        let claim = answer(conn.inventory().get_claim(req).await)?;
        claim.quantity.map_or(0, |q| q.unit)
    } else {
        let req = pb::GetLotRequest {
            name: parent.to_owned(),
        };
        let lot = answer(conn.inventory().get_lot(req).await)?;
        lot.quantity.map_or(0, |q| q.unit)
    };
    let unit = reemploi_inventory::model::unit_from_proto(unit_number)
        .map_err(|e| CliError::Usage(format!("the claim's unit: {e}")))?;
    let parsed = Quantity::parse_decimal(quantity, unit)
        .map_err(|e| CliError::Usage(format!("--quantity: {e}")))?;
    Ok(tpb::Quantity {
        unit: unit_number,
        milli: parsed.milli(),
    })
}

/// `outcomes list`: the outcomes, then the hours.
async fn list(ctx: &Ctx, a: ListArgs) -> Result<(), CliError> {
    let req = ipb::ListDeclarationsRequest {
        claim: a.claim.unwrap_or_default(),
        site: a.site.as_deref().map(site_name).unwrap_or_default(),
    };
    let mut impact = ctx.connect().await?.impact();
    let declared = answer(impact.list_declarations(req).await)?;
    emit(ctx.format, crate::json::message(&declared), || {
        declarations_text(&declared)
    })
}

/// The claim a declaration's name is under.
fn claim_of(name: &str) -> &str {
    let end = name
        .find("/outcomes/")
        .or_else(|| name.find("/hours/"))
        .unwrap_or(name.len());
    &name[..end]
}

/// Kilograms with their grams: `355.25 kg`.
fn kg(grams: i64) -> String {
    format!("{} kg", views::fr(&views::decimal(grams)))
}

/// An outcome for people.
pub fn outcome_text(o: &ipb::Outcome) -> String {
    fields(&[
        ("name", o.name.clone()),
        ("kind", figures::outcome_kind(o.kind).to_owned()),
        ("quantity", views::quantity(o.quantity.as_ref())),
        ("mass", kg(o.mass_g)),
        ("at", views::timestamp(o.outcome_time.as_ref())),
        ("destination", o.destination.clone()),
        ("SIRET", o.destination_siret.clone()),
        ("partner", o.partner.clone()),
        ("declared", views::timestamp(o.create_time.as_ref())),
    ])
}

/// Declared hours for people.
pub fn hours_text(h: &ipb::HoursDeclaration) -> String {
    fields(&[
        ("name", h.name.clone()),
        ("activity", figures::activity(h.activity).to_owned()),
        (
            "time",
            format!("{} h ({} min)", figures::hours2(h.minutes), h.minutes),
        ),
        ("people", h.people.to_string()),
        ("at", views::timestamp(h.work_time.as_ref())),
        ("partner", h.partner.clone()),
        ("declared", views::timestamp(h.create_time.as_ref())),
    ])
}

/// The declarations as two tables.
pub fn declarations_text(d: &ipb::ListDeclarationsResponse) -> String {
    let mut outcomes = Table::new(&[
        "CLAIM",
        "KIND",
        "QUANTITY",
        "MASS",
        "AT",
        "DESTINATION",
        "SIRET",
    ]);
    for o in &d.outcomes {
        outcomes.row(vec![
            views::id(claim_of(&o.name)).to_owned(),
            figures::outcome_kind(o.kind).to_owned(),
            views::quantity(o.quantity.as_ref()),
            kg(o.mass_g),
            views::timestamp(o.outcome_time.as_ref()),
            o.destination.clone(),
            o.destination_siret.clone(),
        ]);
    }
    let mut hours = Table::new(&["CLAIM", "ACTIVITY", "HOURS", "PEOPLE", "AT"]);
    for h in &d.hours {
        hours.row(vec![
            views::id(claim_of(&h.name)).to_owned(),
            figures::activity(h.activity).to_owned(),
            figures::hours2(h.minutes),
            h.people.to_string(),
            views::timestamp(h.work_time.as_ref()),
        ]);
    }
    let section = |title: &str, t: &Table| {
        if t.is_empty() {
            format!("{title}: none\n")
        } else {
            format!("{title}:\n{}", t.render())
        }
    };
    format!(
        "{}\n{}",
        section("outcomes", &outcomes),
        section("insertion hours", &hours)
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn declarations_are_listed_under_their_claims() {
        let claim = "sites/s/lots/l/claims/c1";
        let d = ipb::ListDeclarationsResponse {
            outcomes: vec![ipb::Outcome {
                name: format!("{claim}/outcomes/o1"),
                kind: ipb::OutcomeKind::Recycled as i32,
                mass_g: 120_500,
                destination: "Recycleur".to_owned(),
                ..Default::default()
            }],
            hours: vec![],
        };
        let text = declarations_text(&d);
        let row = text.lines().find(|l| l.starts_with("c1 ")).unwrap();
        assert!(row.contains(" recycled "), "{text}");
        assert!(
            text.contains("120,5 kg") && text.contains("Recycleur"),
            "{text}"
        );
        assert!(text.contains("insertion hours: none"), "{text}");
        assert_eq!(claim_of(&format!("{claim}/hours/h1")), claim);
        assert_eq!(grams("120,5").unwrap(), 120_500);
        assert!(grams("-1").is_err());
    }
}
