//! What a structure declares on a claim handed over to it, on the claim's
//! page: what became of the material (reused as is or after refurbishing,
//! resold, recycled, disposed of; a quantity in the lot's unit or a mass,
//! a date, the destination and its SIRET) and the insertion work it gave
//! (activity, hours, people, date). Each form is one call to the impact
//! service with a request id, so a form sent twice declares once; a
//! refusal shows the form again with what was typed and each message
//! beside its field.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use maud::{Markup, html};
use reemploi_domain::quantity::{Quantity as DomainQuantity, Unit as DomainUnit};
use reemploi_proto::impact::{
    self as pb, Activity, HoursDeclaration, ListDeclarationsResponse, Outcome, OutcomeKind,
};
use reemploi_proto::inventory::{self as ipb, Claim};
use reemploi_proto::types as tpb;
use tonic::Code;

use super::{form_errors, require};
use crate::WebState;
use crate::backend::bearer;
use crate::error::{WebError, redirect};
use crate::form::Fields;
use crate::format::{self, DAY_SECS};
use crate::session::{Auth, Role, Session, new_token, now};
use crate::text::T;
use crate::view::{self, Errors};

/// The outcomes a structure may declare, in the form's order.
const KINDS: [OutcomeKind; 5] = [
    OutcomeKind::ReusedAsIs,
    OutcomeKind::ReusedRefurbished,
    OutcomeKind::Resold,
    OutcomeKind::Recycled,
    OutcomeKind::Disposed,
];
/// The kinds of insertion work, in the form's order.
const ACTIVITIES: [Activity; 4] = [
    Activity::Dismantling,
    Activity::Collection,
    Activity::Sorting,
    Activity::Refurbishing,
];
/// The fields of the outcome form; a refusal naming another goes to the mass.
const OUTCOME_FIELDS: [&str; 6] = [
    "kind",
    "quantity",
    "mass_kg",
    "outcome_time",
    "destination",
    "destination_siret",
];
/// The fields of the hours form; a refusal naming another goes to the hours.
const HOURS_FIELDS: [&str; 4] = ["activity", "hours", "people", "work_time"];

/// The declaration form sent, shown again with what must be corrected.
#[derive(Debug, Clone, Default)]
pub enum Sent {
    /// Neither: both forms empty.
    #[default]
    Nothing,
    /// The outcome form.
    Outcome(Fields, Errors),
    /// The hours form.
    Hours(Fields, Errors),
}

/// The claim's declarations, `None` when the impact service does not
/// answer (the rest of the claim's page still shows).
pub(super) async fn declarations(
    state: &WebState,
    session: &Session,
    claim: &str,
) -> Option<ListDeclarationsResponse> {
    let request = pb::ListDeclarationsRequest {
        claim: claim.to_owned(),
        site: String::new(),
    };
    let request = bearer(&session.access_token, request).ok()?;
    let answer = state.backend().impact().list_declarations(request).await;
    match answer {
        Ok(answer) => Some(answer.into_inner()),
        // Not found while the service has not yet learnt of the hand-over.
        Err(status) if status.code() == Code::NotFound => None,
        Err(status) => {
            tracing::warn!(code = ?status.code(), "declarations unavailable");
            None
        }
    }
}

/// The declarations of a handed-over claim, and for its structure the two
/// forms; `path` is the claim's page.
pub(super) fn section(
    session: &Session,
    claim: &Claim,
    path: &str,
    declared: Option<&ListDeclarationsResponse>,
    sent: &Sent,
) -> Markup {
    let partner = session.account.role == Role::Partner;
    html! {
        section aria-labelledby="devenir" {
            h2 #devenir tabindex="-1" { (T::OUTCOMES_TITLE) }
            @match declared {
                None => p { (T::DECLARATIONS_UNAVAILABLE) },
                Some(declared) => {
                    (mass_left(claim, &declared.outcomes))
                    (outcomes_table(claim, &declared.outcomes))
                    @if partner { (outcome_form(session, claim, path, declared, sent)) }
                }
            }
        }
        section aria-labelledby="heures" {
            h2 #heures tabindex="-1" { (T::HOURS_TITLE) }
            @if let Some(declared) = declared {
                (hours_table(&declared.hours))
                @if partner { (hours_form(session, path, sent)) }
            }
        }
    }
}

/// Grams declared on the claim so far.
fn declared_mass(outcomes: &[Outcome]) -> i64 {
    outcomes
        .iter()
        .map(|o| o.mass_g.max(0))
        .fold(0, i64::saturating_add)
}

fn mass_left(claim: &Claim, outcomes: &[Outcome]) -> Markup {
    let declared = declared_mass(outcomes);
    html! {
        p #masse-declaree {
            (T::declared_of(&format::mass(declared), &format::mass(claim.weighed_mass_g)))
        }
    }
}

fn outcomes_table(claim: &Claim, outcomes: &[Outcome]) -> Markup {
    html! {
        @if outcomes.is_empty() { p { (T::NO_OUTCOMES) } }
        @else {
            div.table-wrap { table {
                caption { (T::OUTCOMES_CAPTION) }
                thead { tr {
                    th scope="col" { (T::OUTCOME_KIND) }
                    th scope="col" { (T::QUANTITY) }
                    th scope="col" { (T::COL_MASS) }
                    th scope="col" { (T::COL_DATE) }
                    th scope="col" { (T::DESTINATION) }
                } }
                tbody { @for o in outcomes { tr {
                    th scope="row" { (T::outcome_kind(o.kind())) }
                    td data-label=(T::QUANTITY) {
                        @if o.quantity.is_some() { (format::quantity(o.quantity.as_ref())) }
                        @else { (T::MASS_ONLY) }
                    }
                    td data-label=(T::COL_MASS) { (format::mass(o.mass_g)) }
                    td data-label=(T::COL_DATE) { (format::date(o.outcome_time.as_ref())) }
                    td data-label=(T::DESTINATION) {
                        (o.destination)
                        @if !o.destination_siret.is_empty() { " (" (T::SIRET) " " (o.destination_siret) ")" }
                    }
                } } }
            } }
            // The claim's unit, for whoever compares quantities.
            p.hint { (T::claim_unit(format::unit(claim.quantity.as_ref()))) }
        }
    }
}

fn hours_table(hours: &[HoursDeclaration]) -> Markup {
    html! {
        @if hours.is_empty() { p { (T::NO_HOURS) } }
        @else {
            div.table-wrap { table {
                caption { (T::HOURS_CAPTION) }
                thead { tr {
                    th scope="col" { (T::ACTIVITY) }
                    th scope="col" { (T::HOURS) }
                    th scope="col" { (T::PEOPLE) }
                    th scope="col" { (T::COL_DATE) }
                } }
                tbody { @for h in hours { tr {
                    th scope="row" { (T::activity(h.activity())) }
                    td data-label=(T::HOURS) { (format::hours(h.minutes)) " h" }
                    td data-label=(T::PEOPLE) { (h.people) }
                    td data-label=(T::COL_DATE) { (format::date(h.work_time.as_ref())) }
                } } }
            } }
        }
    }
}

/// What the form shows: what was sent to it and its errors, or nothing.
fn typed(sent: &Sent, outcome: bool) -> (Fields, Errors) {
    match (sent, outcome) {
        (Sent::Outcome(fields, errors), true) | (Sent::Hours(fields, errors), false) => {
            (fields.clone(), errors.clone())
        }
        _ => (Fields::default(), Errors::default()),
    }
}

fn outcome_form(
    session: &Session,
    claim: &Claim,
    path: &str,
    declared: &ListDeclarationsResponse,
    sent: &Sent,
) -> Markup {
    let (form, errors) = typed(sent, true);
    let request_id = form.get("request_id").map_or_else(new_token, str::to_owned);
    let kind = form.text("kind");
    let left = claim
        .weighed_mass_g
        .saturating_sub(declared_mass(&declared.outcomes));
    let unit = format::unit(claim.quantity.as_ref());
    html! {
        h3 { (T::DECLARE_OUTCOME) }
        (errors.summary())
        form.stack method="post" action=(format!("{path}/devenir")) {
            (view::csrf(&session.csrf))
            input type="hidden" name="request_id" value=(request_id);
            div.field {
                label for="kind" { (T::OUTCOME_KIND) }
                @if let Some(e) = errors.of("kind") { p.error id="kind-erreur" { (e) } }
                select #kind name="kind" aria-describedby=[errors.of("kind").map(|_| "kind-erreur")] {
                    @for k in KINDS {
                        option value=(k.as_str_name()) selected[kind == k.as_str_name()] { (T::outcome_kind(k)) }
                    }
                }
            }
            fieldset.fields #combien {
                legend { (T::HOW_MUCH) }
                p.hint { (T::HOW_MUCH_HINT) }
                (view::input("quantity", &T::declared_quantity(unit), "text", &form.text("quantity"), &errors))
                (view::field("mass_kg", T::MASS_KG, "text", &form.text("mass_kg"), Some(&T::mass_left(&format!("{} kg", format::kg(left.max(0))))), &errors))
            }
            (view::field("outcome_time", T::OUTCOME_DATE, "date", &form.text("outcome_time"), Some(T::DATE_HINT), &errors))
            (view::input("destination", T::DESTINATION, "text", &form.text("destination"), &errors))
            (view::field("destination_siret", T::DESTINATION_SIRET, "text", &form.text("destination_siret"), Some(T::OPTIONAL), &errors))
            button type="submit" { (T::DECLARE_OUTCOME_BUTTON) }
        }
    }
}

fn hours_form(session: &Session, path: &str, sent: &Sent) -> Markup {
    let (form, errors) = typed(sent, false);
    let request_id = form.get("request_id").map_or_else(new_token, str::to_owned);
    let activity = form.text("activity");
    html! {
        h3 { (T::DECLARE_HOURS) }
        (errors.summary())
        form.stack method="post" action=(format!("{path}/heures")) {
            (view::csrf(&session.csrf))
            input type="hidden" name="request_id" value=(request_id);
            div.field {
                label for="activity" { (T::ACTIVITY) }
                @if let Some(e) = errors.of("activity") { p.error id="activity-erreur" { (e) } }
                select #activity name="activity" aria-describedby=[errors.of("activity").map(|_| "activity-erreur")] {
                    @for a in ACTIVITIES {
                        option value=(a.as_str_name()) selected[activity == a.as_str_name()] { (T::activity(a)) }
                    }
                }
            }
            (view::field("hours", T::HOURS, "text", &form.text("hours"), Some(T::HOURS_HINT), &errors))
            (view::field("people", T::PEOPLE, "number", &form.text("people"), Some(T::PEOPLE_HINT), &errors))
            (view::field("work_time", T::WORK_DATE, "date", &form.text("work_time"), Some(T::DATE_HINT), &errors))
            button type="submit" { (T::DECLARE_HOURS_BUTTON) }
        }
    }
}

/// The instant of a date field: midnight UTC of the day, as the app's other
/// dates; a day after today (UTC) is refused here, as the service would.
fn day_of(
    form: &Fields,
    name: &str,
    label: &str,
) -> Result<Option<prost_types::Timestamp>, (String, String)> {
    let Some(day) = form.date(name, label)? else {
        return Ok(None);
    };
    if day > now().div_euclid(DAY_SECS) {
        return Err((name.to_owned(), T::unreadable(label, T::BAD_FUTURE)));
    }
    Ok(Some(prost_types::Timestamp {
        seconds: day * DAY_SECS,
        nanos: 0,
    }))
}

/// Kilograms written with a decimal comma or point, in grams; `None` for
/// anything that is not a positive mass.
fn grams(kg: &str) -> Option<i64> {
    let milli = DomainQuantity::parse_decimal(kg, DomainUnit::Kilogram)
        .ok()?
        .milli();
    (milli > 0).then_some(milli)
}

/// The outcome an outcome form describes (in the claim's unit), or every
/// error in it.
fn outcome_of(form: &Fields, claim: &Claim) -> Result<Outcome, Errors> {
    let mut errors = Vec::new();
    let kind = OutcomeKind::from_str_name(&form.text("kind"))
        .filter(|k| KINDS.contains(k))
        .unwrap_or_else(|| {
            errors.push((
                "kind".to_owned(),
                T::unreadable(T::OUTCOME_KIND, T::BAD_CHOICE),
            ));
            OutcomeKind::Unspecified
        });
    let quantity = match form.text("quantity") {
        text if text.is_empty() => None,
        text => match DomainQuantity::parse_decimal(&text, DomainUnit::Piece) {
            Ok(q) if q.milli() > 0 => Some(tpb::Quantity {
                unit: claim.quantity.as_ref().map_or(0, |q| q.unit),
                milli: q.milli(),
            }),
            _ => {
                errors.push((
                    "quantity".to_owned(),
                    T::unreadable(T::QUANTITY, T::BAD_QUANTITY),
                ));
                None
            }
        },
    };
    let mass_g = match form.text("mass_kg") {
        text if text.is_empty() => 0,
        text => grams(&text).unwrap_or_else(|| {
            errors.push(("mass_kg".to_owned(), T::unreadable(T::MASS_KG, T::BAD_MASS)));
            0
        }),
    };
    if errors.is_empty() && quantity.is_none() && mass_g == 0 {
        errors.push(("quantity".to_owned(), T::QUANTITY_OR_MASS.to_owned()));
    }
    let outcome_time = day_of(form, "outcome_time", T::OUTCOME_DATE).unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    if !errors.is_empty() {
        return Err(Errors(errors));
    }
    Ok(Outcome {
        kind: kind as i32,
        quantity,
        mass_g,
        outcome_time,
        destination: form.text("destination"),
        destination_siret: form.text("destination_siret").replace(' ', ""),
        ..Default::default()
    })
}

/// The insertion work an hours form describes, or every error in it.
fn hours_of(form: &Fields) -> Result<HoursDeclaration, Errors> {
    let mut errors = Vec::new();
    let activity = Activity::from_str_name(&form.text("activity"))
        .filter(|a| ACTIVITIES.contains(a))
        .unwrap_or_else(|| {
            errors.push((
                "activity".to_owned(),
                T::unreadable(T::ACTIVITY, T::BAD_CHOICE),
            ));
            Activity::Unspecified
        });
    // Thousandths of an hour, exactly as typed; the minute is the unit sent.
    let minutes = DomainQuantity::parse_decimal(&form.text("hours"), DomainUnit::Piece)
        .ok()
        .map(|q| (i128::from(q.milli()) * 60 + 500) / 1000)
        .and_then(|m| i64::try_from(m).ok())
        .filter(|m| *m > 0)
        .unwrap_or_else(|| {
            errors.push(("hours".to_owned(), T::unreadable(T::HOURS, T::BAD_HOURS)));
            0
        });
    let people = form
        .text("people")
        .parse::<i32>()
        .ok()
        .filter(|p| *p > 0)
        .unwrap_or_else(|| {
            errors.push(("people".to_owned(), T::unreadable(T::PEOPLE, T::BAD_PEOPLE)));
            0
        });
    let work_time = day_of(form, "work_time", T::WORK_DATE).unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    if !errors.is_empty() {
        return Err(Errors(errors));
    }
    Ok(HoursDeclaration {
        activity: activity as i32,
        minutes,
        people,
        work_time,
        ..Default::default()
    })
}

/// The errors a declaration form shows for the service's refusal: field
/// violations beside the fields they name (a field the form does not
/// have goes to `fallback`), a refused state with its reason; `None` for a
/// refusal the form cannot help with.
fn refusal(status: &tonic::Status, fields: &[&str], fallback: &str) -> Option<Errors> {
    // The service says in English, for developers, that a declaration
    // exceeds what was handed over: the form says it in French.
    let exceeded = reemploi_runtime::status::field_violations(status)
        .into_iter()
        .filter_map(|(path, _)| match path.as_str() {
            "outcome.mass_g" => Some(("mass_kg".to_owned(), T::MASS_EXCEEDED.to_owned())),
            "outcome.quantity.milli" => {
                Some(("quantity".to_owned(), T::QUANTITY_EXCEEDED.to_owned()))
            }
            _ => None,
        })
        .collect::<Vec<_>>();
    if !exceeded.is_empty() {
        return Some(Errors(exceeded));
    }
    let errors = match form_errors(status, fallback) {
        Some(errors) => errors,
        None if matches!(status.code(), Code::FailedPrecondition | Code::OutOfRange) => {
            let reason = reemploi_runtime::status::reason(status);
            let text = reason
                .as_deref()
                .and_then(T::reason)
                .unwrap_or(T::DECLARATION_REFUSED);
            Errors(vec![(fallback.to_owned(), text.to_owned())])
        }
        None => return None,
    };
    Some(Errors(
        errors
            .0
            .into_iter()
            .map(|(field, message)| {
                let field = if fields.contains(&field.as_str()) {
                    field
                } else {
                    fallback.to_owned()
                };
                (field, message)
            })
            .collect(),
    ))
}

async fn get_claim(state: &WebState, session: &Session, name: String) -> Result<Claim, WebError> {
    let request = bearer(&session.access_token, ipb::GetClaimRequest { name })?;
    Ok(state
        .backend()
        .inventory()
        .get_claim(request)
        .await?
        .into_inner())
}

/// The claim's page again, with the form sent and its errors (400).
async fn again(
    state: &WebState,
    session: &Session,
    claim: Claim,
    sent: Sent,
) -> Result<Response, WebError> {
    let page = super::partner::claim_view(state, session, claim, &sent).await?;
    Ok(view::refused(page))
}

/// POST `/reservations/{site}/{lot}/{claim}/devenir`: declares what became
/// of (part of) the material, then back to the claim's declarations.
pub async fn declare_outcome(
    State(state): State<WebState>,
    Auth(session): Auth,
    Path((site, lot, claim)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Response, WebError> {
    let form = Fields::from_body(&body);
    session.check_csrf(form.csrf())?;
    require(&session, &[Role::Partner])?;
    let name = format!("sites/{site}/lots/{lot}/claims/{claim}");
    let claim = get_claim(&state, &session, name.clone()).await?;
    let outcome = match outcome_of(&form, &claim) {
        Ok(outcome) => outcome,
        Err(errors) => return again(&state, &session, claim, Sent::Outcome(form, errors)).await,
    };
    let request = pb::DeclareOutcomeRequest {
        parent: name,
        outcome: Some(outcome),
        request_id: form.text("request_id"),
    };
    let answer = state
        .backend()
        .impact()
        .declare_outcome(bearer(&session.access_token, request)?)
        .await;
    match answer {
        Ok(_) => Ok(redirect(&format!(
            "/reservations/{site}/{lot}/{}#devenir",
            super::id_of(&claim.name)
        ))),
        Err(status) => match refusal(&status, &OUTCOME_FIELDS, "mass_kg") {
            Some(errors) => again(&state, &session, claim, Sent::Outcome(form, errors)).await,
            None => Err(status.into()),
        },
    }
}

/// POST `/reservations/{site}/{lot}/{claim}/heures`: declares insertion
/// work, then back to the claim's declarations.
pub async fn declare_hours(
    State(state): State<WebState>,
    Auth(session): Auth,
    Path((site, lot, claim)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Response, WebError> {
    let form = Fields::from_body(&body);
    session.check_csrf(form.csrf())?;
    require(&session, &[Role::Partner])?;
    let name = format!("sites/{site}/lots/{lot}/claims/{claim}");
    let claim = get_claim(&state, &session, name.clone()).await?;
    let hours = match hours_of(&form) {
        Ok(hours) => hours,
        Err(errors) => return again(&state, &session, claim, Sent::Hours(form, errors)).await,
    };
    let request = pb::DeclareHoursRequest {
        parent: name,
        hours: Some(hours),
        request_id: form.text("request_id"),
    };
    let answer = state
        .backend()
        .impact()
        .declare_hours(bearer(&session.access_token, request)?)
        .await;
    match answer {
        Ok(_) => Ok(redirect(&format!(
            "/reservations/{site}/{lot}/{}#heures",
            super::id_of(&claim.name)
        ))),
        Err(status) => match refusal(&status, &HOURS_FIELDS, "hours") {
            Some(errors) => again(&state, &session, claim, Sent::Hours(form, errors)).await,
            None => Err(status.into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim() -> Claim {
        Claim {
            quantity: Some(tpb::Quantity {
                unit: tpb::Unit::Piece as i32,
                milli: 4_000,
            }),
            weighed_mass_g: 152_500,
            ..Default::default()
        }
    }

    #[test]
    fn an_outcome_form_reads_a_quantity_in_the_claims_unit_or_a_mass() {
        let form = Fields::from_query(Some(
            "kind=OUTCOME_KIND_RESOLD&quantity=2&mass_kg=&outcome_time=2026-03-12&destination=Boutique&destination_siret=732+829+320+00074",
        ));
        let o = outcome_of(&form, &claim()).unwrap();
        assert_eq!(o.kind(), OutcomeKind::Resold);
        assert_eq!(
            o.quantity,
            Some(tpb::Quantity {
                unit: tpb::Unit::Piece as i32,
                milli: 2_000
            })
        );
        assert_eq!(o.mass_g, 0);
        assert_eq!(
            o.outcome_time.unwrap().seconds,
            format::parse_date("2026-03-12").unwrap() * DAY_SECS
        );
        assert_eq!(o.destination_siret, "73282932000074");
        let by_mass = Fields::from_query(Some("kind=OUTCOME_KIND_RECYCLED&mass_kg=12%2C5"));
        let o = outcome_of(&by_mass, &claim()).unwrap();
        assert_eq!((o.quantity, o.mass_g, o.outcome_time), (None, 12_500, None));
    }

    #[test]
    fn an_outcome_form_without_an_amount_or_with_bad_values_is_refused_here() {
        let none = Fields::from_query(Some("kind=OUTCOME_KIND_RECYCLED"));
        assert!(
            outcome_of(&none, &claim())
                .unwrap_err()
                .of("quantity")
                .is_some()
        );
        let bad = Fields::from_query(Some(
            "kind=OUTCOME_KIND_UNSPECIFIED&quantity=deux&mass_kg=-1&outcome_time=2999-01-01",
        ));
        let errors = outcome_of(&bad, &claim()).unwrap_err();
        for field in ["kind", "quantity", "mass_kg", "outcome_time"] {
            assert!(errors.of(field).is_some(), "{field}: {errors:?}");
        }
    }

    #[test]
    fn hours_are_read_as_decimals_into_minutes() {
        let form = Fields::from_query(Some("activity=ACTIVITY_SORTING&hours=1%2C5&people=3"));
        let h = hours_of(&form).unwrap();
        assert_eq!(
            (h.activity(), h.minutes, h.people),
            (Activity::Sorting, 90, 3)
        );
        let form = Fields::from_query(Some("activity=ACTIVITY_SORTING&hours=0.25&people=1"));
        assert_eq!(hours_of(&form).unwrap().minutes, 15);
        let bad = Fields::from_query(Some("activity=x&hours=0&people=0"));
        let errors = hours_of(&bad).unwrap_err();
        for field in ["activity", "hours", "people"] {
            assert!(errors.of(field).is_some(), "{field}: {errors:?}");
        }
    }

    #[test]
    fn a_refusal_names_the_forms_fields_or_falls_back() {
        let status = reemploi_runtime::status::invalid_argument(
            vec![
                ("outcome.mass_g".to_owned(), "too much".to_owned()),
                ("parent".to_owned(), "not handed over".to_owned()),
            ],
            "INVALID",
        );
        let errors = refusal(&status, &OUTCOME_FIELDS, "mass_kg").unwrap();
        assert_eq!(
            errors.0,
            vec![("mass_kg".to_owned(), T::MASS_EXCEEDED.to_owned())]
        );
        let status = reemploi_runtime::status::invalid_argument(
            vec![
                ("outcome.destination_siret".to_owned(), "bad".to_owned()),
                ("parent".to_owned(), "not handed over".to_owned()),
            ],
            "INVALID",
        );
        let errors = refusal(&status, &OUTCOME_FIELDS, "mass_kg").unwrap();
        let fields: Vec<&str> = errors.0.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["destination_siret", "mass_kg"]);
        let other = tonic::Status::failed_precondition("no");
        let errors = refusal(&other, &HOURS_FIELDS, "hours").unwrap();
        assert_eq!(errors.of("hours"), Some(T::DECLARATION_REFUSED));
        assert!(
            refusal(
                &tonic::Status::permission_denied("no"),
                &HOURS_FIELDS,
                "hours"
            )
            .is_none()
        );
    }
}
