//! Partners' declarations on their handed-over claims: what became of the
//! material, and the insertion work it gave. Validated once at the edge,
//! then checked against the claim (its partner, its hand-over, its mass).

use reemploi_domain::siret::Siret;
use reemploi_domain::text;
use reemploi_proto::impact as pb;
use reemploi_runtime::auth::{Principal, Role};
use reemploi_runtime::error::ApiError;
use reemploi_runtime::names::{ClaimName, LotName};
use reemploi_runtime::validation::{self, Check, Violation};
use reemploi_runtime::wire::checked_millis;
use reemploi_store::now_millis;
use sqlx::AnyConnection;
use uuid::Uuid;

use crate::error::Result;
use crate::model::{Claim, Lot};
use crate::repo::{self, Scope};

/// Longest destination text.
pub const MAX_DESTINATION_CHARS: usize = 200;
/// Most minutes in one declaration (10,000 hours).
pub const MAX_MINUTES: i64 = 600_000;
/// Most people in one declaration.
pub const MAX_PEOPLE: i32 = 1000;

/// What an outcome is declared on.
#[derive(Debug, Clone, Copy)]
pub enum Parent {
    /// A handed-over claim, by its partner.
    Claim(ClaimName),
    /// A lot, by its site's managers: material reused on the site itself.
    Lot(LotName),
}

/// A DeclareOutcome request, validated.
#[derive(Debug)]
pub struct OutcomeInput {
    pub parent: Parent,
    pub kind: pb::OutcomeKind,
    /// Quantity in the lot's unit (unit number, thousandths).
    pub quantity: Option<(i32, i64)>,
    pub mass_g: i64,
    pub at: i64,
    pub destination: String,
    pub siret: String,
    pub request_id: Option<String>,
}

/// A DeclareHours request, validated.
#[derive(Debug)]
pub struct HoursInput {
    pub claim: ClaimName,
    pub activity: pb::Activity,
    pub minutes: i64,
    pub people: i32,
    pub at: i64,
    pub request_id: Option<String>,
}

/// A time a partner gives: defaults to now, never in the future.
fn past_time(c: &mut Check, field: &str, ts: Option<&prost_types::Timestamp>, now: i64) -> i64 {
    let Some(ts) = ts else { return now };
    match checked_millis(ts) {
        Ok(t) if t > now + 60_000 => {
            c.fail(field, "must not be in the future");
            now
        }
        Ok(t) => t,
        Err(e) => {
            c.fail(field, e);
            now
        }
    }
}

impl TryFrom<&pb::DeclareOutcomeRequest> for OutcomeInput {
    type Error = ApiError;

    fn try_from(req: &pb::DeclareOutcomeRequest) -> std::result::Result<Self, ApiError> {
        let mut c = Check::new("");
        let parent = if req.parent.contains("/claims/") {
            c.take(ClaimName::parse("parent", &req.parent))
                .map(Parent::Claim)
        } else {
            c.take(LotName::parse("parent", &req.parent))
                .map(Parent::Lot)
        };
        let request_id = validation::request_id(&mut c, &req.request_id, false);
        let Some(o) = req.outcome.as_ref() else {
            c.fail("outcome", "required");
            return Err(c.finish().err().unwrap_or_default().into());
        };
        let kind = match pb::OutcomeKind::try_from(o.kind) {
            Ok(pb::OutcomeKind::Unspecified) | Err(_) => {
                c.fail(
                    "outcome.kind",
                    "required: reused as is, refurbished, resold, recycled or disposed",
                );
                pb::OutcomeKind::Unspecified
            }
            Ok(k) => k,
        };
        let quantity = o
            .quantity
            .filter(|q| q.milli != 0)
            .map(|q| (q.unit, q.milli));
        if quantity.is_some_and(|(_, m)| m < 0) {
            c.fail("outcome.quantity.milli", "must not be negative");
        }
        if o.mass_g < 0 {
            c.fail("outcome.mass_g", "must not be negative");
        }
        if o.mass_g == 0 && quantity.is_none() {
            c.fail("outcome.mass_g", "give a mass, a quantity, or both");
        }
        let at = past_time(
            &mut c,
            "outcome.outcome_time",
            o.outcome_time.as_ref(),
            now_millis(),
        );
        let destination = c
            .take(
                text::optional("destination", &o.destination, MAX_DESTINATION_CHARS)
                    .map_err(|e| Violation::from_domain("outcome", &e)),
            )
            .flatten()
            .unwrap_or_default();
        let siret = if o.destination_siret.trim().is_empty() {
            String::new()
        } else {
            c.take(
                Siret::parse(&o.destination_siret)
                    .map(|s| s.as_str().to_owned())
                    .map_err(|e| Violation::new("outcome.destination_siret", e.to_string())),
            )
            .unwrap_or_default()
        };
        c.finish()?;
        Ok(OutcomeInput {
            parent: parent.ok_or_else(|| ApiError::invalid("parent", "required"))?,
            kind,
            quantity,
            mass_g: o.mass_g,
            at,
            destination,
            siret,
            request_id,
        })
    }
}

impl TryFrom<&pb::DeclareHoursRequest> for HoursInput {
    type Error = ApiError;

    fn try_from(req: &pb::DeclareHoursRequest) -> std::result::Result<Self, ApiError> {
        let mut c = Check::new("");
        let claim = c.take(ClaimName::parse("parent", &req.parent));
        let request_id = validation::request_id(&mut c, &req.request_id, false);
        let Some(h) = req.hours.as_ref() else {
            c.fail("hours", "required");
            return Err(c.finish().err().unwrap_or_default().into());
        };
        let activity = match pb::Activity::try_from(h.activity) {
            Ok(pb::Activity::Unspecified) | Err(_) => {
                c.fail(
                    "hours.activity",
                    "required: dismantling, collection, sorting or refurbishing",
                );
                pb::Activity::Unspecified
            }
            Ok(a) => a,
        };
        if !(1..=MAX_MINUTES).contains(&h.minutes) {
            c.fail("hours.minutes", format!("from 1 to {MAX_MINUTES} minutes"));
        }
        if !(1..=MAX_PEOPLE).contains(&h.people) {
            c.fail("hours.people", format!("from 1 to {MAX_PEOPLE} people"));
        }
        let at = past_time(
            &mut c,
            "hours.work_time",
            h.work_time.as_ref(),
            now_millis(),
        );
        c.finish()?;
        Ok(HoursInput {
            claim: claim.ok_or_else(|| ApiError::invalid("parent", "required"))?,
            activity,
            minutes: h.minutes,
            people: h.people,
            at,
            request_id,
        })
    }
}

/// The handed-over claim `name`, if the caller is its partner.
pub async fn own_handed_over(
    conn: &mut AnyConnection,
    p: &Principal,
    name: ClaimName,
) -> Result<Claim> {
    let missing = || ApiError::not_found("claim", name.to_string());
    let claim = repo::claim(conn, name.claim).await?.ok_or_else(missing)?;
    if claim.name() != name {
        return Err(missing().into());
    }
    match p.role {
        Role::Partner if p.own_partner() == Some(claim.partner_id) => {}
        Role::Partner | Role::Admin | Role::SiteManager | Role::Integrator => {
            return Err(ApiError::PermissionDenied(
                "only the partner that took the material declares on it".into(),
            )
            .into());
        }
    }
    if !claim.handed_over() {
        return Err(ApiError::precondition(
            "NOT_HANDED_OVER",
            format!(
                "{name} has not been handed over (yet): declare once the material is collected"
            ),
        )
        .into());
    }
    Ok(claim)
}

fn kg(g: i64) -> String {
    format!("{:.3} kg", g as f64 / 1000.0)
}

/// The mass of an outcome: declared, or the claim's weighed mass pro rata
/// of the quantity; refused if the claim's declarations would exceed what
/// was handed over, in mass or in quantity.
pub async fn checked_mass(
    conn: &mut AnyConnection,
    claim: &Claim,
    input: &OutcomeInput,
) -> Result<i64> {
    let lot = repo::lot(conn, claim.name().lot).await?;
    match (input.quantity, lot.as_ref()) {
        (Some((unit, _)), Some(lot)) if unit != lot.unit => {
            return Err(
                ApiError::invalid("outcome.quantity.unit", "must be the lot's unit").into(),
            );
        }
        // Its unit cannot be checked yet: the lot's event is on its way.
        (Some(_), None) => {
            return Err(ApiError::precondition(
                "LOT_UNKNOWN_YET",
                "the lot of this claim is not known here yet: declare a mass, or retry in a moment",
            )
            .into());
        }
        _ => {}
    }
    let mass_g = match input.quantity {
        Some((_, q)) if input.mass_g == 0 && claim.quantity_milli > 0 => {
            let share =
                i128::from(claim.weighed_mass_g) * i128::from(q) / i128::from(claim.quantity_milli);
            i64::try_from(share).unwrap_or(i64::MAX)
        }
        _ => input.mass_g,
    };
    let declared = repo::outcomes(conn, Scope::Claim(claim.id)).await?;
    let mass_before: i64 = declared.iter().map(|o| o.mass_g).sum();
    if mass_before.saturating_add(mass_g) > claim.weighed_mass_g {
        return Err(ApiError::invalid(
            "outcome.mass_g",
            format!(
                "{} declared before and {} now exceed the {} handed over",
                kg(mass_before),
                kg(mass_g),
                kg(claim.weighed_mass_g)
            ),
        )
        .into());
    }
    if let Some((_, q)) = input.quantity {
        let before: i64 = declared.iter().filter_map(|o| o.quantity_milli).sum();
        if before.saturating_add(q) > claim.quantity_milli {
            return Err(ApiError::invalid(
                "outcome.quantity.milli",
                format!(
                    "{} declared before and {} now exceed the {} handed over (thousandths of the unit)",
                    before, q, claim.quantity_milli
                ),
            )
            .into());
        }
    }
    Ok(mass_g)
}

/// A new declaration's id.
pub fn new_declaration_id() -> Uuid {
    reemploi_runtime::names::new_id()
}

/// The lot `name` on which the caller, a manager of its site's
/// organisation, declares reuse on the site, with the mass it declares:
/// reuse kinds only, in the lot's unit, never beyond the lot's estimate.
pub async fn on_site(
    conn: &mut AnyConnection,
    p: &Principal,
    name: LotName,
    input: &OutcomeInput,
) -> Result<(Lot, i64)> {
    let missing = || ApiError::not_found("lot", name.to_string());
    let lot = repo::lot(conn, name).await?.ok_or_else(missing)?;
    let site = repo::site(conn, lot.site_id).await?.ok_or_else(missing)?;
    match p.role {
        Role::SiteManager if p.org.as_ref() == Some(&site.owner_org) => {}
        Role::SiteManager => return Err(missing().into()),
        Role::Admin | Role::Partner | Role::Integrator => {
            return Err(ApiError::PermissionDenied(
                "only the site's managers declare reuse on the site".into(),
            )
            .into());
        }
    }
    if !matches!(
        input.kind,
        pb::OutcomeKind::ReusedAsIs | pb::OutcomeKind::ReusedRefurbished
    ) {
        return Err(ApiError::invalid(
            "outcome.kind",
            "on the site: reused as is or after refurbishing",
        )
        .into());
    }
    let mass_g = match input.quantity {
        Some((unit, _)) if unit != lot.unit => {
            return Err(
                ApiError::invalid("outcome.quantity.unit", "must be the lot's unit").into(),
            );
        }
        Some((_, q)) if input.mass_g == 0 && lot.quantity_milli > 0 => {
            let share =
                i128::from(lot.estimated_mass_g) * i128::from(q) / i128::from(lot.quantity_milli);
            i64::try_from(share).unwrap_or(i64::MAX)
        }
        _ => input.mass_g,
    };
    let before: i64 = repo::site_reuse(conn, lot.site_id)
        .await?
        .iter()
        .filter(|r| r.0 == lot.id)
        .map(|r| r.1)
        .sum();
    if before.saturating_add(mass_g) > lot.estimated_mass_g {
        return Err(ApiError::invalid(
            "outcome.mass_g",
            format!(
                "{} declared before and {} now exceed the diagnostic's estimate of {}",
                kg(before),
                kg(mass_g),
                kg(lot.estimated_mass_g)
            ),
        )
        .into());
    }
    Ok((lot, mass_g))
}
