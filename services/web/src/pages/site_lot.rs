//! A site manager's lot: its details and photos, the claims on it with
//! confirm / reject, the hand-over form (a trip: its quantity and weighed
//! mass), closing a claim partly collected and the trips' receipts, the
//! partners matching proposes with their score breakdown, and withdrawing
//! it. Every action is one API call with the manager's token; the page is
//! drawn again from the API afterwards.

use std::collections::{BTreeSet, HashMap};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use reemploi_domain::quantity::{Quantity as DomainQuantity, Unit as DomainUnit};
use reemploi_proto::inventory::{self as ipb, Claim, ClaimStatus, Lot, LotStatus};
use reemploi_proto::matching::{self as mpb, Match};
use reemploi_proto::registry as rpb;

use super::sites::category_label;
use super::{form_errors, id_of, require};
use crate::WebState;
use crate::backend::bearer;
use crate::error::{WebError, redirect};
use crate::form::Fields;
use crate::format;
use crate::session::{Auth, Role, Session};
use crate::text::T;
use crate::view::{self, Errors};

/// Claims of one lot shown at most.
const MAX_CLAIMS: i32 = 1000;
/// Partners matching is asked for.
const MATCHES: i32 = 10;

/// What the page shows of one lot.
struct LotView {
    site: String,
    lot: Lot,
    claims: Vec<Claim>,
    /// The receipts of the lot's trips, oldest first.
    receipts: Vec<ipb::Receipt>,
    /// `None` when matching could not answer (the rest of the page still shows).
    matches: Option<Vec<Match>>,
    /// Partner names by resource name.
    partners: HashMap<String, String>,
    /// What the manager sent, when the page is shown again with `errors`.
    sent: Fields,
    /// What the API or the page refused in it.
    errors: Errors,
}

/// The legal names of `names`, read a few at a time; a partner that cannot
/// be read is left out (shown by its id).
pub(crate) async fn partner_names(
    state: &WebState,
    session: &Session,
    names: BTreeSet<String>,
) -> HashMap<String, String> {
    super::fetch_all(names, |name| async move {
        let request = rpb::GetPartnerRequest { name };
        let request = bearer(&session.access_token, request).ok()?;
        let partner = state.backend().registry().get_partner(request).await.ok()?;
        Some(partner.into_inner().legal_name)
    })
    .await
}

async fn load(
    state: &WebState,
    session: &Session,
    site: &str,
    lot: &str,
) -> Result<LotView, WebError> {
    let name = format!("sites/{site}/lots/{lot}");
    let token = session.access_token.as_str();
    let claims_request = ipb::ListClaimsRequest {
        parent: name.clone(),
        page_size: MAX_CLAIMS,
        ..Default::default()
    };
    let matches_request = mpb::ListLotMatchesRequest {
        lot: name.clone(),
        page_size: MATCHES,
    };
    let (mut inventory, mut claims_client, mut matching) = (
        state.backend().inventory(),
        state.backend().inventory(),
        state.backend().matching(),
    );
    // The site is read first: the API says whether it is this person's to
    // manage (another organisation's is not found).
    super::site_edit::get_site(state, session, site).await?;
    let (lot, claims, matches) = tokio::join!(
        inventory.get_lot(bearer(token, ipb::GetLotRequest { name })?),
        claims_client.list_claims(bearer(token, claims_request)?),
        matching.list_lot_matches(bearer(token, matches_request)?),
    );
    let lot = lot?.into_inner();
    let claims = claims?.into_inner().claims;
    let matches = matches.ok().map(|m| m.into_inner().matches);
    let wanted: BTreeSet<String> = claims
        .iter()
        .map(|c| c.partner.clone())
        .chain(matches.iter().flatten().map(|m| m.partner.clone()))
        .collect();
    let site_receipts = format!("sites/{site}/lots/-/claims/-");
    let (partners, receipts) = tokio::join!(
        partner_names(state, session, wanted),
        super::receipt::of_claim(state, session, &site_receipts),
    );
    let receipts = receipts.into_iter().filter(|r| r.lot == lot.name).collect();
    Ok(LotView {
        site: site.to_owned(),
        lot,
        claims,
        receipts,
        matches,
        partners,
        sent: Fields::default(),
        errors: Errors::default(),
    })
}

impl LotView {
    fn partner(&self, name: &str) -> String {
        self.partners
            .get(name)
            .cloned()
            .unwrap_or_else(|| id_of(name).to_owned())
    }

    fn page(&self, session: &Session) -> Markup {
        let (lot, errors) = (&self.lot, &self.errors);
        let body = html! {
            p { a href=(format!("/chantiers/{}", self.site)) { (T::BACK_TO_SITE) } }
            (view::ledger(lot.quantity.as_ref(), lot.available.as_ref(), lot.reserved.as_ref(), lot.handed_over.as_ref()))
            (errors.summary())
            (details(lot))
            (photos(lot))
            (self.claims_section(session))
            (self.matches_section())
            (self.withdraw_form(&session.csrf))
        };
        view::page(&lot.designation, Some(session), body)
    }

    fn claims_section(&self, session: &Session) -> Markup {
        html! {
            section aria-labelledby="reservations" {
                h2 #reservations { (T::CLAIMS_ON_LOT) " " (T::count(self.claims.len())) }
                @if self.claims.is_empty() { p { (T::NO_CLAIMS_ON_LOT) } }
                ul.cards {
                    @for claim in &self.claims {
                        // Focusable, so that an error summary's link lands here.
                        li id=(format!("reservation-{}", id_of(&claim.name))) tabindex="-1" {
                            (self.claim_card(claim, session))
                        }
                    }
                }
            }
        }
    }

    fn claim_card(&self, claim: &Claim, session: &Session) -> Markup {
        let status = claim.status();
        let partner = self.partner(&claim.partner);
        let card = format!("reservation-{}", id_of(&claim.name));
        // Names this claim among others of the same structure.
        let who = T::claim_of(
            &partner,
            &format::quantity(claim.quantity.as_ref()),
            &format::datetime(claim.create_time.as_ref()),
        );
        let action = |verb: &str| {
            format!(
                "/chantiers/{}/lots/{}/reservations/{}/{verb}",
                self.site,
                id_of(&self.lot.name),
                id_of(&claim.name)
            )
        };
        html! {
            h3 { (partner) }
            p.meta {
                (format::quantity(claim.quantity.as_ref())) " · "
                span class=(format!("status status-{}", status.as_str_name().to_lowercase())) { (T::claim_status(status)) }
                " · " (format::datetime(claim.create_time.as_ref()))
            }
            @if let Some(window) = &claim.pickup_window {
                p { (T::PICKUP_WISHED) " " (format::datetime(window.start_time.as_ref())) " – " (format::datetime(window.end_time.as_ref())) }
            }
            @if status == ClaimStatus::Reserved {
                p { (T::EXPIRES_AT) " " (format::datetime(claim.reservation_expire_time.as_ref())) }
            }
            @if !claim.note.is_empty() { p { (T::NOTE) " : " (claim.note) } }
            @if claim.weighed_mass_g > 0 { p { (T::WEIGHED_MASS) " : " (format::mass(claim.weighed_mass_g)) } }
            (super::receipt::trips(claim, &self.receipts_of(claim)))
            @if let Some(error) = self.errors.of(&card) { p.error { (error) } }
            @match status {
                ClaimStatus::Reserved => (decide_forms(&action, claim, &who, &session.csrf, &self.sent)),
                ClaimStatus::Confirmed => {
                    (handover_form(&action("remettre"), claim, &who, &session.csrf, self))
                    @if claim.trip_count > 0 { (self.close_form(&action("clore"), claim, &who, &session.csrf)) }
                }
                ClaimStatus::HandedOver | ClaimStatus::Rejected | ClaimStatus::Cancelled
                | ClaimStatus::Expired | ClaimStatus::Unspecified => {}
            }
        }
    }

    fn receipts_of(&self, claim: &Claim) -> Vec<ipb::Receipt> {
        let prefix = format!("{}/receipts/", claim.name);
        self.receipts
            .iter()
            .filter(|r| r.name.starts_with(&prefix))
            .cloned()
            .collect()
    }

    /// Closing a claim partly collected: the rest returns to the lot.
    fn close_form(&self, action: &str, claim: &Claim, who: &str, csrf: &str) -> Markup {
        let reason = format!("motif-clore-{}", id_of(&claim.name));
        html! {
            form.stack method="post" action=(action) {
                (view::csrf(csrf))
                input type="hidden" name="etag" value=(claim.etag);
                p.hint { (T::CLOSE_CLAIM_HINT) }
                label for=(reason) { (T::CLOSE_REASON) }
                input id=(reason) name=(reason) type="text" value=(self.sent.text(&reason));
                button.secondary type="submit" aria-label=(format!("{} : {who}", T::CLOSE_CLAIM)) { (T::CLOSE_CLAIM) }
            }
        }
    }

    fn matches_section(&self) -> Markup {
        html! {
            section aria-labelledby="propositions" {
                h2 #propositions { (T::MATCHES_TITLE) }
                p.hint { (T::MATCHES_INTRO) }
                @match &self.matches {
                    None => p { (T::MATCHES_UNAVAILABLE) },
                    Some(matches) if matches.is_empty() => p { (T::NO_MATCHES) },
                    Some(matches) => (view::score_table(T::MATCHES_CAPTION, T::COL_PARTNER, matches, |m| html! { (self.partner(&m.partner)) })),
                }
            }
        }
    }
}

fn details(lot: &Lot) -> Markup {
    html! {
        h2 { (T::LOT_DETAILS) }
        dl {
            dt { (T::STATUS) } dd { (T::one_lot_status(lot.status())) }
            dt { (T::CATEGORY) } dd { (category_label(&lot.category)) }
            @if !lot.reference.is_empty() { dt { (T::REFERENCE) } dd { (lot.reference) } }
            dt { (T::QUANTITY) } dd { (format::quantity(lot.quantity.as_ref())) }
            @if lot.estimated_mass_g > 0 { dt { (T::ESTIMATED_MASS) } dd { (format::mass(lot.estimated_mass_g)) } }
            @if !lot.condition.is_empty() { dt { (T::CONDITION) } dd { (lot.condition) } }
            @if !lot.building_location.is_empty() { dt { (T::BUILDING_LOCATION) } dd { (lot.building_location) } }
            @if !lot.waste_code.is_empty() { dt { (T::WASTE_CODE) } dd { (lot.waste_code) } }
            @if lot.reuse_potential == ipb::ReusePotential::AfterCheck as i32 {
                dt { (T::LOT_CHECK) }
                dd {
                    @match &lot.check {
                        Some(check) => (T::lot_check(
                            check.result == ipb::CheckResult::Passed as i32,
                            &format::datetime(check.check_time.as_ref()),
                            &check.checked_by,
                        )),
                        None => (T::LOT_CHECK_AWAITED),
                    }
                }
            }
            @if let Some(window) = &lot.availability {
                dt { (T::AVAILABILITY) }
                dd { (format::datetime(window.start_time.as_ref())) " – " (format::datetime(window.end_time.as_ref())) }
            }
            @if !lot.description.is_empty() { dt { (T::DESCRIPTION) } dd { (lot.description) } }
        }
        @if lot.hazardous { p.warning { (T::HAZARDOUS) } }
    }
}

/// The lot's photos, from their URLs: https ones shown (the page's
/// security policy loads images over https only), others as links.
fn photos(lot: &Lot) -> Markup {
    html! {
        @if !lot.photo_uris.is_empty() {
            section aria-labelledby="photos" {
                h2 #photos { (T::PHOTOS) }
                ul.photos {
                    @for (i, uri) in lot.photo_uris.iter().enumerate() {
                        li {
                            @if uri.starts_with("https://") {
                                a href=(uri) { img src=(uri) alt=(T::photo_alt(&lot.designation, i + 1)) loading="lazy"; }
                            } @else {
                                a href=(uri) { (T::photo_alt(&lot.designation, i + 1)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn decide_forms(
    action: &dyn Fn(&str) -> String,
    claim: &Claim,
    who: &str,
    csrf: &str,
    sent: &Fields,
) -> Markup {
    let reason_id = format!("motif-{}", id_of(&claim.name));
    html! {
        div.actions {
            form method="post" action=(action("confirmer")) {
                (view::csrf(csrf))
                input type="hidden" name="etag" value=(claim.etag);
                button type="submit" aria-label=(format!("{} : {who}", T::CONFIRM)) { (T::CONFIRM) }
            }
            form.inline method="post" action=(action("refuser")) {
                (view::csrf(csrf))
                input type="hidden" name="etag" value=(claim.etag);
                label for=(reason_id) { (T::REJECT_REASON) }
                input id=(reason_id) name=(reason_id) type="text" value=(sent.text(&reason_id)) aria-label=(format!("{} : {who}", T::REJECT_REASON));
                button.secondary type="submit" aria-label=(format!("{} : {who}", T::REJECT)) { (T::REJECT) }
            }
        }
    }
}

/// The hand-over form of a confirmed claim; shown again, it keeps what
/// the manager typed.
fn handover_form(action: &str, claim: &Claim, who: &str, csrf: &str, view: &LotView) -> Markup {
    let id = id_of(&claim.name);
    let mass = format!("masse-{id}");
    let quantity = format!("quantite-{id}");
    let unexpected = format!("inattendue-{id}");
    let typed = view.sent.text(&mass);
    let unit = claim.quantity.map_or(0, |q| q.unit);
    html! {
        form.stack method="post" action=(action) {
            (view::csrf(csrf))
            input type="hidden" name="etag" value=(claim.etag);
            input type="hidden" name=(format!("unite-{id}")) value=(unit);
            (view::field(&quantity, &T::trip_quantity(who), "text", &view.sent.text(&quantity), Some(T::TRIP_QUANTITY_HINT), &view.errors))
            (view::field(&mass, &T::handover_mass(who), "text", &typed, Some(T::HANDOVER_MASS_HINT), &view.errors))
            div.check {
                input id=(unexpected) name=(unexpected) type="checkbox" value="1" checked[view.sent.get(&unexpected).is_some()];
                label for=(unexpected) { (T::ACCEPT_UNEXPECTED_MASS) }
            }
            button type="submit" aria-label=(format!("{} : {who}", T::RECORD_HANDOVER)) { (T::RECORD_HANDOVER) }
        }
    }
}

impl LotView {
    fn withdraw_form(&self, csrf: &str) -> Markup {
        let lot = &self.lot;
        let can = matches!(lot.status(), LotStatus::Draft | LotStatus::Published);
        let action = format!("/chantiers/{}/lots/{}/retirer", self.site, id_of(&lot.name));
        html! {
            @if can {
                section aria-labelledby="retirer" {
                    h2 #retirer { (T::WITHDRAW_TITLE) }
                    p.hint { (T::WITHDRAW_HINT) }
                    form.stack method="post" action=(action) {
                        (view::csrf(csrf))
                        input type="hidden" name="etag" value=(lot.etag);
                        (view::input("reason", T::WITHDRAW_REASON, "text", &self.sent.text("reason"), &self.errors))
                        button.secondary type="submit" { (T::WITHDRAW) }
                    }
                }
            }
        }
    }
}

/// GET `/chantiers/{site}/lots/{lot}`.
pub async fn lot_page(
    State(state): State<WebState>,
    Auth(session): Auth,
    Path((site, lot)): Path<(String, String)>,
) -> Result<Response, WebError> {
    require(&session, &[Role::SiteManager, Role::Admin])?;
    let view = load(&state, &session, &site, &lot).await?;
    Ok(view.page(&session).into_response())
}

/// POST `/chantiers/{site}/lots/{lot}/retirer`.
pub async fn withdraw(
    State(state): State<WebState>,
    Auth(session): Auth,
    Path((site, lot)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, WebError> {
    let form = Fields::from_body(&body);
    session.check_csrf(form.csrf())?;
    require(&session, &[Role::SiteManager, Role::Admin])?;
    let request = ipb::WithdrawLotRequest {
        name: format!("sites/{site}/lots/{lot}"),
        etag: form.text("etag"),
        reason: form.text("reason"),
    };
    let answer = state
        .backend()
        .inventory()
        .withdraw_lot(bearer(&session.access_token, request)?)
        .await;
    match answer {
        Ok(_) => Ok(redirect(&format!("/chantiers/{site}/lots/{lot}"))),
        Err(status) => match form_errors(&status, "reason") {
            Some(errors) => again(&state, &session, (&site, &lot), form, errors).await,
            None => Err(status.into()),
        },
    }
}

/// POST `/chantiers/{site}/lots/{lot}/reservations/{claim}/{confirmer|refuser|remettre|clore}`.
pub async fn claim_action(
    State(state): State<WebState>,
    Auth(session): Auth,
    Path((site, lot, claim, action)): Path<(String, String, String, String)>,
    body: Bytes,
) -> Result<Response, WebError> {
    let form = Fields::from_body(&body);
    session.check_csrf(form.csrf())?;
    require(&session, &[Role::SiteManager, Role::Admin])?;
    let name = format!("sites/{site}/lots/{lot}/claims/{claim}");
    let (token, etag) = (session.access_token.as_str(), form.text("etag"));
    let mut inventory = state.backend().inventory();
    let answer = match action.as_str() {
        "confirmer" => {
            let request = ipb::ConfirmClaimRequest { name, etag };
            inventory.confirm_claim(bearer(token, request)?).await
        }
        "refuser" => {
            let reason = form.text(&format!("motif-{claim}"));
            let request = ipb::RejectClaimRequest { name, etag, reason };
            inventory.reject_claim(bearer(token, request)?).await
        }
        "remettre" => {
            let request = match trip_request(&form, &claim, name, etag) {
                Ok(request) => request,
                Err(errors) => return again(&state, &session, (&site, &lot), form, errors).await,
            };
            inventory.record_handover(bearer(token, request)?).await
        }
        "clore" => {
            let reason = form.text(&format!("motif-clore-{claim}"));
            let request = ipb::CloseClaimRequest { name, etag, reason };
            inventory.close_claim(bearer(token, request)?).await
        }
        _ => return Err(WebError::NotFound),
    };
    // A refusal is shown on the claim's own hand-over field (the trip's
    // quantity for what concerns it), or on its card.
    let field = match action.as_str() {
        "remettre" => format!("masse-{claim}"),
        _ => format!("reservation-{claim}"),
    };
    let quantity_field = format!("quantite-{claim}");
    match answer {
        Ok(_) => Ok(redirect(&format!(
            "/chantiers/{site}/lots/{lot}#reservation-{claim}"
        ))),
        Err(status) => match form_errors(&status, &field) {
            Some(errors) => {
                let errors = Errors(
                    errors
                        .0
                        .into_iter()
                        .map(|(f, m)| match (action.as_str(), f.as_str()) {
                            ("remettre", "quantity") => (quantity_field.clone(), m),
                            _ => (field.clone(), m),
                        })
                        .collect(),
                );
                again(&state, &session, (&site, &lot), form, errors).await
            }
            None => Err(status.into()),
        },
    }
}

/// The lot page again, with what the manager sent and what must be
/// corrected (400).
async fn again(
    state: &WebState,
    session: &Session,
    (site, lot): (&str, &str),
    sent: Fields,
    errors: Errors,
) -> Result<Response, WebError> {
    let view = LotView {
        sent,
        errors,
        ..load(state, session, site, lot).await?
    };
    Ok(view::refused(view.page(session)))
}

/// The trip a hand-over form describes: its weighed mass, and its quantity
/// in the claim's unit when one is typed (all that is left otherwise);
/// what cannot be read is refused on its field before any call.
fn trip_request(
    form: &Fields,
    claim: &str,
    name: String,
    etag: String,
) -> Result<ipb::RecordHandoverRequest, Errors> {
    let field = format!("masse-{claim}");
    let Some(weighed_mass_g) = grams(&form.text(&field)) else {
        let message = T::unreadable(T::WEIGHED_MASS, T::BAD_MASS);
        return Err(Errors(vec![(field, message)]));
    };
    let typed = form.text(&format!("quantite-{claim}"));
    let quantity = if typed.trim().is_empty() {
        None
    } else {
        // Only the number is read here; the claim's unit goes with it, and
        // the API says whether it must be whole.
        let unit = form
            .text(&format!("unite-{claim}"))
            .parse::<i32>()
            .unwrap_or(0);
        let milli = DomainQuantity::parse_decimal(typed.trim(), DomainUnit::Piece)
            .ok()
            .map(|q| q.milli())
            .filter(|milli| *milli > 0);
        let Some(milli) = milli else {
            let message = T::unreadable(T::TRIP_QUANTITY, T::BAD_QUANTITY);
            return Err(Errors(vec![(format!("quantite-{claim}"), message)]));
        };
        Some(reemploi_proto::types::Quantity { unit, milli })
    };
    Ok(ipb::RecordHandoverRequest {
        name,
        weighed_mass_g,
        accept_unexpected_mass: form.get(&format!("inattendue-{claim}")).is_some(),
        etag,
        quantity,
        ..Default::default()
    })
}

/// Kilograms written with a decimal comma or point, in grams; `None` for
/// anything that is not a positive mass.
fn grams(kg: &str) -> Option<i64> {
    let milli = DomainQuantity::parse_decimal(kg, DomainUnit::Kilogram)
        .ok()?
        .milli();
    (milli > 0).then_some(milli)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masses_are_read_in_kilograms() {
        assert_eq!(grams("12,5"), Some(12_500));
        assert_eq!(grams("350"), Some(350_000));
        assert_eq!(grams("0"), None);
        assert_eq!(grams("-3"), None);
        assert_eq!(grams("douze"), None);
    }
}
