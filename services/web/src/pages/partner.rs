//! The ESS structure's pages: describing the structure, the lots near it,
//! a lot with its claim form, and its claims, which it may cancel, and on
//! which, once handed over, it declares outcomes and hours (`declare`).
//! Every page of the section says so while the structure awaits
//! verification.

use std::collections::{BTreeSet, HashMap};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use reemploi_domain::geo::GeoPoint;
use reemploi_domain::quantity::{Quantity as DomainQuantity, Unit as DomainUnit};
use reemploi_proto::inventory::{self as ipb, Claim, ClaimStatus, Lot, LotStatus};
use reemploi_proto::registry::{self as rpb, Partner, PartnerKind, PartnerStatus};
use reemploi_proto::types::{self as tpb};
use tonic::Code;

use super::sites::category_label;
use super::{declare, form_errors, nearby, profile, require};
use crate::WebState;
use crate::backend::bearer;
use crate::error::{WebError, redirect};
use crate::form::Fields;
use crate::format::{self, DAY_SECS};
use crate::session::{Auth, Role, Session, new_token};
use crate::text::T;
use crate::view::{self, Errors};

/// Claims listed on one page at most.
const MAX_CLAIMS: i32 = 200;

/// The structure's registration, `None` while it has not registered.
pub(super) async fn own_partner(
    state: &WebState,
    session: &Session,
) -> Result<Option<Partner>, WebError> {
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

/// The structure's registration for a partner's page, `None` for another role.
async fn partner_of_session(
    state: &WebState,
    session: &Session,
) -> Result<Option<Partner>, WebError> {
    if session.account.role == Role::Partner {
        own_partner(state, session).await
    } else {
        Ok(None)
    }
}

/// A page of the partner section: while the structure awaits the
/// territory's verification, a banner above `body` says so.
pub(super) fn partner_page(
    title: &str,
    session: &Session,
    partner: Option<&Partner>,
    body: Markup,
) -> Markup {
    let pending = partner.is_some_and(|p| p.status() == PartnerStatus::Pending);
    let body = html! {
        @if pending { p.banner role="status" { (T::PENDING_BANNER) } }
        (body)
    };
    view::page(title, Some(session), body)
}

/// GET `/structure`: the structure's profile with its edit form, or the
/// form that registers it.
pub async fn register_form(
    State(state): State<WebState>,
    Auth(session): Auth,
    RawQuery(query): RawQuery,
) -> Result<Response, WebError> {
    require(&session, &[Role::Partner])?;
    let page = match own_partner(&state, &session).await? {
        Some(partner) => {
            let saved = Fields::from_query(query.as_deref())
                .get("enregistre")
                .is_some();
            let form = profile::form_of(&partner);
            profile::page(&session, &partner, &form, &Errors::default(), saved)
        }
        None => view::page(
            T::REGISTER_TITLE,
            Some(&session),
            register_body(&session.csrf, &Fields::default(), &Errors::default()),
        ),
    };
    Ok(page.into_response())
}

fn register_body(csrf: &str, form: &Fields, errors: &Errors) -> Markup {
    let request_id = form.get("request_id").map_or_else(new_token, str::to_owned);
    html! {
        p { (T::REGISTER_INTRO) }
        (errors.summary())
        form.stack method="post" action="/structure" {
            (view::csrf(csrf))
            input type="hidden" name="request_id" value=(request_id);
            (profile_fields(form, errors))
            button type="submit" { (T::REGISTER_BUTTON) }
        }
    }
}

/// The fields describing a structure, for its registration and its profile.
pub(super) fn profile_fields(form: &Fields, errors: &Errors) -> Markup {
    let chosen: BTreeSet<String> = form.all("accepted_categories").into_iter().collect();
    let kind = form.text("kind");
    html! {
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
        let message = T::unreadable(T::field(name), T::BAD_NUMBER);
        errors.push((name.to_owned(), message));
    };
    let mut decimal = |name: &str| {
        form.decimal(name).unwrap_or_else(|| {
            fail(name);
            0.0
        })
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
pub(super) fn partner_of(form: &Fields) -> Result<Partner, Errors> {
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
        view::refused(page)
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

/// GET `/lots`: published lots near the structure, nearest first, within
/// the filters of the query, as a list or a map.
pub async fn lots(
    State(state): State<WebState>,
    Auth(session): Auth,
    RawQuery(query): RawQuery,
) -> Result<Response, WebError> {
    require(&session, &[Role::Partner])?;
    let Some(partner) = own_partner(&state, &session).await? else {
        return Ok(redirect("/structure"));
    };
    let filters = nearby::Filters::read(&Fields::from_query(query.as_deref()), &partner);
    let found = nearby::find(&state, &session, &partner, &filters).await?;
    let sites = match filters.view() {
        nearby::View::Map => nearby::sites_of(&state, &session, &found.lots).await,
        nearby::View::List => HashMap::new(),
    };
    let body = nearby::body(&partner, &filters, &found, &sites);
    Ok(partner_page(T::LOTS_TITLE, &session, Some(&partner), body).into_response())
}

/// Metres between two points (infinite when a point is missing or invalid,
/// so such a lot sorts last).
pub(super) fn distance_m(from: &tpb::GeoPoint, to: Option<&tpb::GeoPoint>) -> f64 {
    let point = |p: &tpb::GeoPoint| GeoPoint::new(p.latitude, p.longitude).ok();
    match (point(from), to.and_then(point)) {
        (Some(a), Some(b)) => a.distance_m(b),
        _ => f64::INFINITY,
    }
}

/// `/lots/{site}/{lot}` of `sites/{site}/lots/{lot}`.
pub(super) fn lot_path(name: &str) -> String {
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
    let name = format!("sites/{site}/lots/{lot}");
    let (lot, partner) = tokio::join!(
        get_lot(&state, &session, name),
        partner_of_session(&state, &session)
    );
    let (lot, partner) = (lot?, partner?);
    let body = lot_body(&session, &lot, &Fields::default(), &Errors::default());
    Ok(partner_page(&lot.designation, &session, partner.as_ref(), body).into_response())
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
                    fieldset #pickup_window {
                        legend { (T::PICKUP_LEGEND) }
                        (view::input("pickup_from", T::PICKUP_FROM, "date", &form.text("pickup_from"), errors))
                        (view::input("pickup_until", T::PICKUP_UNTIL, "date", &form.text("pickup_until"), errors))
                    }
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

/// The wished pick-up window of a claim form: whole days, the last one
/// included; `None` when no day is given.
fn pickup_window(form: &Fields) -> Result<Option<tpb::TimeWindow>, Errors> {
    let mut errors = Vec::new();
    let mut day = |name: &str, label: &str| {
        form.date(name, label).unwrap_or_else(|error| {
            errors.push(error);
            None
        })
    };
    let from = day("pickup_from", T::PICKUP_FROM);
    let until = day("pickup_until", T::PICKUP_UNTIL);
    if let (Some(f), Some(u)) = (from, until)
        && u < f
    {
        let message = T::unreadable(T::PICKUP_UNTIL, T::BAD_WINDOW);
        errors.push(("pickup_until".to_owned(), message));
    }
    if !errors.is_empty() {
        return Err(Errors(errors));
    }
    let at = |seconds: i64| prost_types::Timestamp { seconds, nanos: 0 };
    Ok(
        (from.is_some() || until.is_some()).then(|| tpb::TimeWindow {
            start_time: from.map(|f| at(f * DAY_SECS)),
            end_time: until.map(|u| at((u + 1) * DAY_SECS)),
        }),
    )
}

/// The quantity and pick-up window of a claim form, or every error in it.
fn claim_input(form: &Fields) -> Result<(i64, Option<tpb::TimeWindow>), Errors> {
    // Only the number is read here; the lot's unit goes with it.
    let quantity = DomainQuantity::parse_decimal(&form.text("quantity"), DomainUnit::Piece)
        .map_err(|_| {
            let message = T::unreadable(T::QUANTITY, T::BAD_QUANTITY);
            ("quantity".to_owned(), message)
        });
    match (quantity, pickup_window(form)) {
        (Ok(quantity), Ok(window)) => Ok((quantity.milli(), window)),
        (quantity, window) => {
            let mut errors: Vec<(String, String)> = quantity.err().into_iter().collect();
            errors.extend(window.err().map(|e| e.0).unwrap_or_default());
            Err(Errors(errors))
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
    let name = format!("sites/{site}/lots/{lot}");
    let (lot, partner) = tokio::join!(
        get_lot(&state, &session, name),
        own_partner(&state, &session)
    );
    let (lot, partner) = (lot?, partner?);
    let again = |errors: &Errors| {
        let body = lot_body(&session, &lot, &form, errors);
        partner_page(&lot.designation, &session, partner.as_ref(), body)
    };
    let (milli, pickup_window) = match claim_input(&form) {
        Ok(input) => input,
        Err(errors) => return Ok(view::refused(again(&errors))),
    };
    let request = ipb::ClaimLotRequest {
        lot: lot.name.clone(),
        partner: session.account.partner.clone(),
        quantity: Some(tpb::Quantity {
            unit: lot.quantity.as_ref().map_or(0, |q| q.unit),
            milli,
        }),
        request_id: form.text("request_id"),
        note: form.text("note"),
        pickup_window,
    };
    let answer = state
        .backend()
        .inventory()
        .claim_lot(bearer(&session.access_token, request)?)
        .await;
    super::judged(
        answer,
        "quantity",
        |_| Ok(redirect("/mes-reservations")),
        again,
    )
}

/// Whether the structure may still cancel a claim.
fn cancellable(claim: &Claim) -> bool {
    matches!(
        claim.status(),
        ClaimStatus::Reserved | ClaimStatus::Confirmed
    )
}

/// The cancel form of a claim; `in_list` for the button of a row of
/// `/mes-reservations`, which comes back there.
fn cancel_form(session: &Session, claim: &Claim, lot: &str, in_list: bool) -> Markup {
    let name = T::cancel_claim_of(
        lot,
        &format::quantity(claim.quantity.as_ref()),
        &format::datetime(claim.create_time.as_ref()),
    );
    html! {
        form.inline-form[in_list].stack[!in_list] method="post" action=(format!("{}/annuler", claim_path(&claim.name))) {
            (view::csrf(&session.csrf))
            input type="hidden" name="etag" value=(claim.etag);
            @if in_list {
                input type="hidden" name="retour" value="liste";
                button.secondary type="submit" aria-label=(name) { (T::CANCEL) }
            } @else {
                p.hint { (T::CANCEL_HINT) }
                div.field {
                    label for="reason" { (T::CANCEL_REASON) }
                    textarea id="reason" name="reason" rows="2" {}
                }
                button.secondary type="submit" { (T::CANCEL_CLAIM) }
            }
        }
    }
}

/// GET `/mes-reservations`: the structure's claims, in the API's order
/// (oldest first); the page says when there are more than it lists.
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
    let mut inventory = state.backend().inventory();
    let (claims, partner) = tokio::join!(
        inventory.list_claims(bearer(&session.access_token, request)?),
        own_partner(&state, &session)
    );
    let (answer, partner) = (claims?.into_inner(), partner?);
    let claims = answer.claims;
    let lots = designations(&state, &session, &claims).await;
    let body = html! {
        @if claims.is_empty() { p { (T::NO_CLAIMS) } }
        @else {
            @if !answer.next_page_token.is_empty() { p.notice { (T::claims_cut(claims.len())) } }
            div.table-wrap { table {
                caption { (T::CLAIMS_CAPTION) }
                thead { tr {
                    th scope="col" { (T::COL_LOT) }
                    th scope="col" { (T::QUANTITY) }
                    th scope="col" { (T::STATUS) }
                    th scope="col" { (T::COL_DATE) }
                    th scope="col" { (T::COL_ACTIONS) }
                } }
                tbody { @for claim in &claims {
                    @let lot = lots.get(&lot_of(&claim.name)).cloned().unwrap_or_else(|| T::SEE_CLAIM.to_owned());
                    tr {
                        th scope="row" { a href=(claim_path(&claim.name)) { (lot) } }
                        td data-label=(T::QUANTITY) { (format::quantity(claim.quantity.as_ref())) }
                        td data-label=(T::STATUS) { (T::claim_status(claim.status())) }
                        td data-label=(T::COL_DATE) { (format::datetime(claim.create_time.as_ref())) }
                        td data-label=(T::COL_ACTIONS) {
                            @if cancellable(claim) { (cancel_form(&session, claim, &lot, true)) }
                            @if claim.status() == ClaimStatus::HandedOver {
                                a href=(format!("{}#devenir", claim_path(&claim.name))) aria-label=(T::declare_on(&lot)) { (T::DECLARE_LINK) }
                            }
                        }
                    }
                } }
            } }
        }
    };
    Ok(partner_page(T::CLAIMS_TITLE, &session, partner.as_ref(), body).into_response())
}

/// `sites/{site}/lots/{lot}` of a claim's name.
fn lot_of(claim: &str) -> String {
    claim.split("/claims/").next().unwrap_or(claim).to_owned()
}

/// The lots named, read a few at a time; a lot that cannot be read is left
/// out.
pub(super) async fn lots_named(
    state: &WebState,
    session: &Session,
    names: impl IntoIterator<Item = String>,
) -> HashMap<String, Lot> {
    super::fetch_all(names, |name| async move {
        get_lot(state, session, name).await.ok()
    })
    .await
}

/// The designation of each claimed lot; a lot that cannot be read is left
/// out (its claims show a plain link).
async fn designations(
    state: &WebState,
    session: &Session,
    claims: &[Claim],
) -> HashMap<String, String> {
    lots_named(state, session, claims.iter().map(|c| lot_of(&c.name)))
        .await
        .into_iter()
        .map(|(name, lot)| (name, lot.designation))
        .collect()
}

/// A claim's pick-up window, in days when it is made of whole days.
fn window_text(window: Option<&tpb::TimeWindow>) -> String {
    let Some(window) = window else {
        return "—".to_owned();
    };
    let whole = |t: Option<&prost_types::Timestamp>| t.is_none_or(|t| t.seconds % DAY_SECS == 0);
    let (start, end) = (window.start_time.as_ref(), window.end_time.as_ref());
    if !whole(start) || !whole(end) {
        return format!("{} → {}", format::datetime(start), format::datetime(end));
    }
    // The end is exclusive: the last day is the one before.
    let last = end.map(|t| prost_types::Timestamp {
        seconds: t.seconds - DAY_SECS,
        nanos: 0,
    });
    let from = start.map(|t| format::date(Some(t)));
    let until = last.as_ref().map(|t| format::date(Some(t)));
    T::window(from.as_deref(), until.as_deref())
}

/// GET `/reservations/{site}/{lot}/{claim}`: one claim, if the API shows
/// it; handed over, what became of it and the work it gave.
pub async fn claim_page(
    State(state): State<WebState>,
    Auth(session): Auth,
    Path((site, lot, claim)): Path<(String, String, String)>,
) -> Result<Response, WebError> {
    let name = format!("sites/{site}/lots/{lot}/claims/{claim}");
    let request = bearer(&session.access_token, ipb::GetClaimRequest { name })?;
    let claim = state
        .backend()
        .inventory()
        .get_claim(request)
        .await?
        .into_inner();
    let page = claim_view(&state, &session, claim, &declare::Sent::Nothing).await?;
    Ok(page.into_response())
}

/// The page of `claim`, with the declaration form `sent` shown again.
pub(super) async fn claim_view(
    state: &WebState,
    session: &Session,
    claim: Claim,
    sent: &declare::Sent,
) -> Result<Markup, WebError> {
    let status = claim.status();
    let path = claim_path(&claim.name);
    let (partner, declared) = tokio::join!(partner_of_session(state, session), async {
        if status == ClaimStatus::HandedOver {
            declare::declarations(state, session, &claim.name).await
        } else {
            None
        }
    });
    let partner = partner?;
    let receipts = if claim.trip_count > 0 {
        super::receipt::of_claim(state, session, &claim.name).await
    } else {
        Vec::new()
    };
    let body = html! {
        dl {
            dt { (T::STATUS) } dd { (T::claim_status(status)) }
            dt { (T::QUANTITY) } dd { (format::quantity(claim.quantity.as_ref())) }
            dt { (T::CLAIMED_AT) } dd { (format::datetime(claim.create_time.as_ref())) }
            @if status == ClaimStatus::Reserved {
                dt { (T::EXPIRES_AT) } dd { (format::datetime(claim.reservation_expire_time.as_ref())) }
            }
            @if claim.pickup_window.is_some() { dt { (T::PICKUP) } dd { (window_text(claim.pickup_window.as_ref())) } }
            @if claim.weighed_mass_g > 0 { dt { (T::WEIGHED_MASS) } dd { (format::mass(claim.weighed_mass_g)) } }
            @if !claim.note.is_empty() { dt { (T::NOTE) } dd { (claim.note) } }
        }
        (super::receipt::trips(&claim, &receipts))
        p { a href=(lot_path(&lot_of(&claim.name))) { (T::SEE_LOT) } }
        @if session.account.role == Role::Partner && cancellable(&claim) {
            section aria-labelledby="annuler" {
                h2 #annuler { (T::CANCEL_CLAIM) }
                (cancel_form(session, &claim, "", false))
            }
        }
        @if status == ClaimStatus::HandedOver {
            (declare::section(session, &claim, &path, declared.as_ref(), sent))
        }
    };
    Ok(partner_page(
        T::CLAIM_TITLE,
        session,
        partner.as_ref(),
        body,
    ))
}

/// POST `/reservations/{site}/{lot}/{claim}/annuler`: cancels the claim
/// (the API checks that it is the structure's own and still open), then
/// back to the claim, or to the list it was cancelled from.
pub async fn cancel(
    State(state): State<WebState>,
    Auth(session): Auth,
    Path((site, lot, claim)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Response, WebError> {
    let form = Fields::from_body(&body);
    session.check_csrf(form.csrf())?;
    require(&session, &[Role::Partner])?;
    let name = format!("sites/{site}/lots/{lot}/claims/{claim}");
    let request = ipb::CancelClaimRequest {
        name: name.clone(),
        etag: form.text("etag"),
        reason: form.text("reason"),
    };
    state
        .backend()
        .inventory()
        .cancel_claim(bearer(&session.access_token, request)?)
        .await?;
    Ok(match form.get("retour") {
        Some("liste") => redirect("/mes-reservations"),
        _ => redirect(&claim_path(&name)),
    })
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

    #[test]
    fn a_pick_up_window_is_whole_days_the_last_included() {
        let form = |from: &str, until: &str| {
            Fields::from_query(Some(&format!("pickup_from={from}&pickup_until={until}")))
        };
        assert_eq!(pickup_window(&form("", "")).unwrap(), None);
        let window = pickup_window(&form("2026-03-12", "2026-03-13"))
            .unwrap()
            .unwrap();
        let day = format::parse_date("2026-03-12").unwrap() * DAY_SECS;
        assert_eq!(window.start_time.as_ref().unwrap().seconds, day);
        assert_eq!(
            window.end_time.as_ref().unwrap().seconds,
            day + 2 * DAY_SECS
        );
        assert_eq!(window_text(Some(&window)), "du 12/03/2026 au 13/03/2026");
        let one = pickup_window(&form("2026-03-12", "2026-03-12")).unwrap();
        assert_eq!(window_text(one.as_ref()), "le 12/03/2026");
        let errors = pickup_window(&form("2026-03-12", "2026-03-11")).unwrap_err();
        assert!(errors.of("pickup_until").is_some());
        let errors = pickup_window(&form("12 mars", "")).unwrap_err();
        assert!(errors.of("pickup_from").is_some());
    }
}
