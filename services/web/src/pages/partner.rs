//! The ESS structure's pages: describing the structure, the lots near it,
//! a lot with its claim form, and its claims.

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use reemploi_domain::geo::GeoPoint;
use reemploi_domain::quantity::{Quantity as DomainQuantity, Unit as DomainUnit};
use reemploi_proto::inventory::{self as ipb, Claim, ClaimStatus, Lot, LotStatus};
use reemploi_proto::registry::{self as rpb, Partner, PartnerKind, PartnerStatus};
use reemploi_proto::types::{self as tpb};
use tonic::Code;

use super::sites::category_label;
use super::{form_errors, require};
use crate::WebState;
use crate::backend::bearer;
use crate::error::{WebError, redirect};
use crate::form::Fields;
use crate::format;
use crate::session::{Auth, Role, Session, new_token};
use crate::text::T;
use crate::view::{self, Errors};

/// Claims listed on one page at most.
const MAX_CLAIMS: i32 = 200;
/// Lots near a structure listed at most.
const MAX_LOTS: i32 = 500;

/// The structure's registration, `None` while it has not registered.
async fn own_partner(state: &WebState, session: &Session) -> Result<Option<Partner>, WebError> {
    let request = rpb::GetPartnerRequest {
        name: session.account.partner.clone(),
    };
    match state
        .backend()
        .registry()
        .get_partner(bearer(&session.access_token, request)?)
        .await
    {
        Ok(partner) => Ok(Some(partner.into_inner())),
        Err(status) if status.code() == Code::NotFound => Ok(None),
        Err(status) => Err(status.into()),
    }
}

/// GET `/structure`: the structure's status, or the form that registers it.
pub async fn register_form(
    State(state): State<WebState>,
    Auth(session): Auth,
) -> Result<Response, WebError> {
    require(&session, &[Role::Partner])?;
    let body = match own_partner(&state, &session).await? {
        Some(partner) => structure_summary(&partner),
        None => register_body(&session.csrf, &Fields::default(), &Errors::default()),
    };
    Ok(view::page(T::REGISTER_TITLE, Some(&session), body).into_response())
}

fn structure_summary(partner: &Partner) -> Markup {
    let status = partner.status();
    html! {
        @if status == PartnerStatus::Pending { p.banner role="status" { (T::PENDING_BANNER) } }
        p { (T::REGISTERED) }
        dl {
            dt { (T::LEGAL_NAME) } dd { (partner.legal_name) }
            dt { (T::COL_SIRET) } dd { (partner.siret) }
            dt { (T::STRUCTURE_STATUS) } dd { (T::partner_status(status)) }
        }
    }
}

fn register_body(csrf: &str, form: &Fields, errors: &Errors) -> Markup {
    let chosen: BTreeSet<String> = form.all("accepted_categories").into_iter().collect();
    let kind = form.text("kind");
    let request_id = form.get("request_id").map_or_else(new_token, str::to_owned);
    html! {
        p { (T::REGISTER_INTRO) }
        (errors.summary())
        form.stack method="post" action="/structure" {
            (view::csrf(csrf))
            input type="hidden" name="request_id" value=(request_id);
            (view::input("legal_name", T::LEGAL_NAME, "text", &form.text("legal_name"), errors))
            (view::input("siret", T::SIRET, "text", &form.text("siret"), errors))
            div.field {
                label for="kinds" { (T::KIND) }
                @if let Some(e) = errors.of("kinds") { p.error id="kinds-erreur" { (e) } }
                select id="kinds" name="kind" {
                    @for k in (1..=12).filter_map(|k| PartnerKind::try_from(k).ok()) {
                        option value=(k.as_str_name()) selected[kind == k.as_str_name()] { (T::partner_kind(k)) }
                    }
                }
            }
            (view::input("line1", T::ADDRESS_LINE, "text", &form.text("line1"), errors))
            (view::input("postal_code", T::POSTAL_CODE, "text", &form.text("postal_code"), errors))
            (view::input("commune", T::COMMUNE, "text", &form.text("commune"), errors))
            fieldset {
                legend { (T::LOCATION_LEGEND) }
                p.hint { (T::LOCATION_HINT) }
                (view::input("latitude", T::LATITUDE, "text", &form.text("latitude"), errors))
                (view::input("longitude", T::LONGITUDE, "text", &form.text("longitude"), errors))
            }
            (view::input("service_radius_km", T::RADIUS, "number", form.get("service_radius_km").unwrap_or("20"), errors))
            (view::input("weekly_intake_kg", T::WEEKLY_INTAKE, "number", &form.text("weekly_intake_kg"), errors))
            (categories(&chosen, errors))
            (view::input("email", T::CONTACT_EMAIL, "email", &form.text("email"), errors))
            (view::input("phone", T::CONTACT_PHONE, "tel", &form.text("phone"), errors))
            button type="submit" { (T::REGISTER_BUTTON) }
        }
    }
}

fn categories(chosen: &BTreeSet<String>, errors: &Errors) -> Markup {
    html! {
        fieldset #accepted_categories {
            legend { (T::CATEGORIES) }
            @if let Some(e) = errors.of("accepted_categories") { p.error { (e) } }
            @for family in reemploi_domain::category::Family::ALL {
                fieldset.family {
                    legend { (family.label_fr()) }
                    @for c in reemploi_domain::category::all().iter().filter(|c| c.family == family) {
                        div.check {
                            input type="checkbox" id=(format!("cat-{}", c.code)) name="accepted_categories"
                                value=(c.code) checked[chosen.contains(c.code)];
                            label for=(format!("cat-{}", c.code)) { (c.label_fr) }
                        }
                    }
                }
            }
        }
    }
}

/// The numbers of a registration form.
struct Numbers {
    latitude: f64,
    longitude: f64,
    radius_km: i64,
    intake_kg: i64,
}

/// Reads the form's numbers (a decimal comma is accepted); those it cannot
/// read are errors.
fn numbers(form: &Fields) -> Result<Numbers, Errors> {
    let mut errors = Vec::new();
    let mut fail = |name: &str| {
        errors.push((
            name.to_owned(),
            format!("{} : {}", T::field(name), T::BAD_NUMBER),
        ));
    };
    let mut decimal = |name: &str| match form.text(name).replace(',', ".").parse::<f64>() {
        Ok(v) if v.is_finite() => v,
        _ => {
            fail(name);
            0.0
        }
    };
    let (latitude, longitude) = (decimal("latitude"), decimal("longitude"));
    let mut whole = |name: &str| match form.text(name) {
        text if text.is_empty() => 0,
        text => text.parse().unwrap_or_else(|_| {
            fail(name);
            0
        }),
    };
    let (radius_km, intake_kg) = (whole("service_radius_km"), whole("weekly_intake_kg"));
    if errors.is_empty() {
        Ok(Numbers {
            latitude,
            longitude,
            radius_km,
            intake_kg,
        })
    } else {
        Err(Errors(errors))
    }
}

/// The partner a registration form describes; nothing is sent while a
/// number cannot be read.
fn partner_of(form: &Fields) -> Result<Partner, Errors> {
    let n = numbers(form)?;
    let kind = PartnerKind::from_str_name(&form.text("kind")).unwrap_or(PartnerKind::Unspecified);
    Ok(Partner {
        legal_name: form.text("legal_name"),
        siret: form.text("siret").replace(' ', ""),
        kinds: vec![kind as i32],
        address: Some(rpb::Address {
            line1: form.text("line1"),
            postal_code: form.text("postal_code"),
            commune: form.text("commune"),
            insee_code: String::new(),
        }),
        location: Some(tpb::GeoPoint {
            latitude: n.latitude,
            longitude: n.longitude,
        }),
        accepted_categories: form.all("accepted_categories"),
        service_radius_km: i32::try_from(n.radius_km).unwrap_or(i32::MAX),
        weekly_intake_kg: n.intake_kg,
        contact: Some(rpb::Contact {
            name: String::new(),
            email: form.text("email"),
            phone: form.text("phone"),
        }),
        ..Default::default()
    })
}

/// POST `/structure`: registers the structure with the registry, pending
/// the territory's verification.
pub async fn register(
    State(state): State<WebState>,
    Auth(session): Auth,
    body: Bytes,
) -> Result<Response, WebError> {
    let form = Fields::from_body(&body);
    session.check_csrf(form.csrf())?;
    require(&session, &[Role::Partner])?;
    let again = |errors: &Errors| {
        let page = view::page(
            T::REGISTER_TITLE,
            Some(&session),
            register_body(&session.csrf, &form, errors),
        );
        (StatusCode::BAD_REQUEST, page).into_response()
    };
    let partner = match partner_of(&form) {
        Ok(partner) => partner,
        Err(errors) => return Ok(again(&errors)),
    };
    let request = rpb::RegisterPartnerRequest {
        partner: Some(partner),
        request_id: form.text("request_id"),
    };
    match state
        .backend()
        .registry()
        .register_partner(bearer(&session.access_token, request)?)
        .await
    {
        Ok(_) => Ok(redirect("/structure")),
        Err(status) => match form_errors(&status, "legal_name") {
            Some(errors) => Ok(again(&errors)),
            None => Err(status.into()),
        },
    }
}

/// GET `/lots`: published lots within the structure's service radius,
/// nearest first.
pub async fn lots(
    State(state): State<WebState>,
    Auth(session): Auth,
) -> Result<Response, WebError> {
    require(&session, &[Role::Partner])?;
    let Some(partner) = own_partner(&state, &session).await? else {
        return Ok(redirect("/structure"));
    };
    let home = partner.location.unwrap_or_default();
    let request = ipb::ListLotsRequest {
        parent: "sites/-".into(),
        page_size: MAX_LOTS,
        status: LotStatus::Published as i32,
        near: Some(home),
        radius_m: i64::from(partner.service_radius_km.max(1)) * 1000,
        ..Default::default()
    };
    let answer = state
        .backend()
        .inventory()
        .list_lots(bearer(&session.access_token, request)?)
        .await?
        .into_inner();
    let mut near: Vec<(f64, Lot)> = answer
        .lots
        .into_iter()
        .map(|lot| (distance_m(&home, lot.location.as_ref()), lot))
        .collect();
    near.sort_by(|a, b| a.0.total_cmp(&b.0));
    let body = html! {
        @if partner.status() == PartnerStatus::Pending { p.banner role="status" { (T::PENDING_BANNER) } }
        p { (T::LOTS_INTRO) }
        @if near.is_empty() { p { (T::NO_LOTS_NEAR) } }
        @else {
            div.table-wrap { table {
                thead { tr {
                    th scope="col" { (T::COL_LOT) }
                    th scope="col" { (T::CATEGORY) }
                    th scope="col" { (T::COL_AVAILABLE) }
                    th scope="col" { (T::COL_DISTANCE) }
                } }
                tbody { @for (metres, lot) in &near { tr {
                    th scope="row" { a href=(lot_path(&lot.name)) { (lot.designation) } }
                    td data-label=(T::CATEGORY) { (category_label(&lot.category)) }
                    td data-label=(T::COL_AVAILABLE) { (format::quantity(lot.available.as_ref())) }
                    td data-label=(T::COL_DISTANCE) { (format::km(*metres)) }
                } } }
            } }
        }
    };
    Ok(view::page(T::LOTS_TITLE, Some(&session), body).into_response())
}

/// Metres between two points (infinite when a point is missing or invalid,
/// so such a lot sorts last).
fn distance_m(from: &tpb::GeoPoint, to: Option<&tpb::GeoPoint>) -> f64 {
    let point = |p: &tpb::GeoPoint| GeoPoint::new(p.latitude, p.longitude).ok();
    match (point(from), to.and_then(point)) {
        (Some(a), Some(b)) => a.distance_m(b),
        _ => f64::INFINITY,
    }
}

/// `/lots/{site}/{lot}` of `sites/{site}/lots/{lot}`.
fn lot_path(name: &str) -> String {
    let parts: Vec<&str> = name.split('/').collect();
    match parts.as_slice() {
        ["sites", site, "lots", lot] => format!("/lots/{site}/{lot}"),
        _ => "/lots".to_owned(),
    }
}

/// `/reservations/{site}/{lot}/{claim}` of a claim's name.
fn claim_path(name: &str) -> String {
    let parts: Vec<&str> = name.split('/').collect();
    match parts.as_slice() {
        ["sites", site, "lots", lot, "claims", claim] => {
            format!("/reservations/{site}/{lot}/{claim}")
        }
        _ => "/mes-reservations".to_owned(),
    }
}

async fn get_lot(state: &WebState, session: &Session, name: String) -> Result<Lot, WebError> {
    Ok(state
        .backend()
        .inventory()
        .get_lot(bearer(&session.access_token, ipb::GetLotRequest { name })?)
        .await?
        .into_inner())
}

/// GET `/lots/{site}/{lot}`: the lot, and the claim form for a partner.
pub async fn lot(
    State(state): State<WebState>,
    Auth(session): Auth,
    Path((site, lot)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let lot = get_lot(&state, &session, format!("sites/{site}/lots/{lot}")).await?;
    let body = lot_body(&session, &lot, &Fields::default(), &Errors::default());
    Ok(view::page(&lot.designation, Some(&session), body).into_response())
}

fn lot_body(session: &Session, lot: &Lot, form: &Fields, errors: &Errors) -> Markup {
    html! {
        (view::ledger(lot.quantity.as_ref(), lot.available.as_ref(), lot.reserved.as_ref(), lot.handed_over.as_ref()))
        h2 { (T::LOT_DETAILS) }
        dl {
            dt { (T::CATEGORY) } dd { (category_label(&lot.category)) }
            dt { (T::QUANTITY) } dd { (format::quantity(lot.quantity.as_ref())) }
            dt { (T::STATUS) } dd { (T::one_lot_status(lot.status())) }
            @if lot.estimated_mass_g > 0 { dt { (T::ESTIMATED_MASS) } dd { (format::mass(lot.estimated_mass_g)) } }
            @if !lot.condition.is_empty() { dt { (T::CONDITION) } dd { (lot.condition) } }
            @if !lot.building_location.is_empty() { dt { (T::BUILDING_LOCATION) } dd { (lot.building_location) } }
            @if !lot.description.is_empty() { dt { (T::DESCRIPTION) } dd { (lot.description) } }
        }
        @if session.account.role == Role::Partner { (claim_form(session, lot, form, errors)) }
    }
}

fn claim_form(session: &Session, lot: &Lot, form: &Fields, errors: &Errors) -> Markup {
    let unit = format::unit(lot.quantity.as_ref());
    let request_id = form.get("request_id").map_or_else(new_token, str::to_owned);
    html! {
        section aria-labelledby="reserver" {
            h2 #reserver { (T::CLAIM_HEADING) }
            @if lot.status() != LotStatus::Published {
                p { (T::NOT_CLAIMABLE) }
            } @else {
                (errors.summary())
                form.stack method="post" action=(lot_path(&lot.name)) {
                    (view::csrf(&session.csrf))
                    input type="hidden" name="request_id" value=(request_id);
                    (view::input("quantity", &T::claim_quantity(unit), "text", &form.text("quantity"), errors))
                    div.field {
                        label for="note" { (T::CLAIM_NOTE) }
                        textarea id="note" name="note" rows="3" { (form.text("note")) }
                    }
                    button type="submit" { (T::CLAIM_BUTTON) }
                }
            }
        }
    }
}

/// POST `/lots/{site}/{lot}`: claims a quantity of the lot for the structure.
pub async fn claim(
    State(state): State<WebState>,
    Auth(session): Auth,
    Path((site, lot)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, WebError> {
    let form = Fields::from_body(&body);
    session.check_csrf(form.csrf())?;
    require(&session, &[Role::Partner])?;
    let lot = get_lot(&state, &session, format!("sites/{site}/lots/{lot}")).await?;
    let again = |errors: &Errors| {
        let page = view::page(
            &lot.designation,
            Some(&session),
            lot_body(&session, &lot, &form, errors),
        );
        (StatusCode::BAD_REQUEST, page).into_response()
    };
    // Only the number is read here; the lot's unit goes with it.
    let Ok(quantity) = DomainQuantity::parse_decimal(&form.text("quantity"), DomainUnit::Piece)
    else {
        let message = format!("{} : {}", T::QUANTITY, T::BAD_QUANTITY);
        return Ok(again(&Errors(vec![("quantity".into(), message)])));
    };
    let request = ipb::ClaimLotRequest {
        lot: lot.name.clone(),
        partner: session.account.partner.clone(),
        quantity: Some(tpb::Quantity {
            unit: lot.quantity.as_ref().map_or(0, |q| q.unit),
            milli: quantity.milli(),
        }),
        request_id: form.text("request_id"),
        note: form.text("note"),
        pickup_window: None,
    };
    match state
        .backend()
        .inventory()
        .claim_lot(bearer(&session.access_token, request)?)
        .await
    {
        Ok(_) => Ok(redirect("/mes-reservations")),
        Err(status) => match form_errors(&status, "quantity") {
            Some(errors) => Ok(again(&errors)),
            None => Err(status.into()),
        },
    }
}

/// GET `/mes-reservations`: the structure's claims, newest first.
pub async fn claims(
    State(state): State<WebState>,
    Auth(session): Auth,
) -> Result<Response, WebError> {
    require(&session, &[Role::Partner])?;
    let request = ipb::ListClaimsRequest {
        parent: "sites/-/lots/-".into(),
        page_size: MAX_CLAIMS,
        partner: session.account.partner.clone(),
        ..Default::default()
    };
    let claims = state
        .backend()
        .inventory()
        .list_claims(bearer(&session.access_token, request)?)
        .await?
        .into_inner()
        .claims;
    let lots = designations(&state, &session, &claims).await;
    let body = html! {
        @if claims.is_empty() { p { (T::NO_CLAIMS) } }
        @else {
            div.table-wrap { table {
                thead { tr {
                    th scope="col" { (T::COL_LOT) }
                    th scope="col" { (T::QUANTITY) }
                    th scope="col" { (T::STATUS) }
                    th scope="col" { (T::COL_DATE) }
                } }
                tbody { @for claim in &claims { tr {
                    th scope="row" { a href=(claim_path(&claim.name)) { (lots.get(&lot_of(&claim.name)).cloned().unwrap_or_else(|| T::SEE_CLAIM.to_owned())) } }
                    td data-label=(T::QUANTITY) { (format::quantity(claim.quantity.as_ref())) }
                    td data-label=(T::STATUS) { (T::claim_status(claim.status())) }
                    td data-label=(T::COL_DATE) { (format::datetime(claim.create_time.as_ref())) }
                } } }
            } }
        }
    };
    Ok(view::page(T::CLAIMS_TITLE, Some(&session), body).into_response())
}

/// `sites/{site}/lots/{lot}` of a claim's name.
fn lot_of(claim: &str) -> String {
    claim.split("/claims/").next().unwrap_or(claim).to_owned()
}

/// The designation of each claimed lot, fetched together; a lot that cannot
/// be read is left out (its claims show a plain link).
async fn designations(
    state: &WebState,
    session: &Session,
    claims: &[Claim],
) -> std::collections::HashMap<String, String> {
    let names: BTreeSet<String> = claims.iter().map(|c| lot_of(&c.name)).collect();
    let fetches = names.into_iter().map(|name| async move {
        get_lot(state, session, name.clone())
            .await
            .ok()
            .map(|l| (name, l.designation))
    });
    futures::future::join_all(fetches)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// GET `/reservations/{site}/{lot}/{claim}`: one claim, if the API shows it.
pub async fn claim_page(
    State(state): State<WebState>,
    Auth(session): Auth,
    Path((site, lot, claim)): Path<(String, String, String)>,
) -> Result<Response, WebError> {
    let name = format!("sites/{site}/lots/{lot}/claims/{claim}");
    let claim = state
        .backend()
        .inventory()
        .get_claim(bearer(
            &session.access_token,
            ipb::GetClaimRequest { name },
        )?)
        .await?
        .into_inner();
    let status = claim.status();
    let body = html! {
        dl {
            dt { (T::STATUS) } dd { (T::claim_status(status)) }
            dt { (T::QUANTITY) } dd { (format::quantity(claim.quantity.as_ref())) }
            dt { (T::CLAIMED_AT) } dd { (format::datetime(claim.create_time.as_ref())) }
            @if status == ClaimStatus::Reserved {
                dt { (T::EXPIRES_AT) } dd { (format::datetime(claim.reservation_expire_time.as_ref())) }
            }
            @if claim.weighed_mass_g > 0 { dt { (T::WEIGHED_MASS) } dd { (format::mass(claim.weighed_mass_g)) } }
            @if !claim.note.is_empty() { dt { (T::NOTE) } dd { (claim.note) } }
        }
        p { a href=(lot_path(&lot_of(&claim.name))) { (T::SEE_LOT) } }
    };
    Ok(view::page(T::CLAIM_TITLE, Some(&session), body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_names_map_to_pages() {
        assert_eq!(lot_path("sites/a/lots/b"), "/lots/a/b");
        assert_eq!(claim_path("sites/a/lots/b/claims/c"), "/reservations/a/b/c");
        assert_eq!(lot_of("sites/a/lots/b/claims/c"), "sites/a/lots/b");
    }
}
