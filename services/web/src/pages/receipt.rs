//! The receipts (bons d'enlèvement) of a claim's trips: the links to them
//! on the claim's pages, and one receipt as a page to print and sign. The
//! API says who may read one (the site's managers, the claim's partner,
//! admins): anyone else gets its 404.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use reemploi_proto::inventory::{self as ipb, Receipt};

use super::id_of;
use super::site_lot::partner_names;
use crate::WebState;
use crate::backend::bearer;
use crate::error::WebError;
use crate::format;
use crate::session::Session;
use crate::text::T;
use crate::view;

/// Receipts read at most for one page.
const MAX_RECEIPTS: i32 = 1000;

/// The receipts of `parent` (a claim, or a site's claims), oldest first;
/// none when they cannot be read (the rest of the page still shows).
pub async fn of_claim(state: &WebState, session: &Session, parent: &str) -> Vec<Receipt> {
    let request = ipb::ListReceiptsRequest {
        parent: parent.to_owned(),
        page_size: MAX_RECEIPTS,
        page_token: String::new(),
    };
    let Ok(request) = bearer(&session.access_token, request) else {
        return Vec::new();
    };
    match state.backend().inventory().list_receipts(request).await {
        Ok(answer) => answer.into_inner().receipts,
        Err(_) => Vec::new(),
    }
}

/// The address of a receipt's page.
pub fn path(receipt: &str) -> String {
    let parts: Vec<&str> = receipt.split('/').collect();
    match parts.as_slice() {
        ["sites", site, "lots", lot, "claims", claim, "receipts", id] => {
            format!("/bons/{site}/{lot}/{claim}/{id}")
        }
        _ => "/".to_owned(),
    }
}

/// What a claim collected so far and the links to its trips' receipts.
pub fn trips(claim: &ipb::Claim, receipts: &[Receipt]) -> Markup {
    html! {
        @if claim.trip_count > 0 {
            p {
                (T::collected(
                    &format::quantity(claim.collected.as_ref()),
                    &format::quantity(claim.quantity.as_ref()),
                    claim.trip_count,
                ))
            }
        }
        @if !receipts.is_empty() {
            ul.receipts aria-label=(T::RECEIPTS) {
                @for r in receipts {
                    li {
                        a href=(path(&r.name)) { (T::receipt_link(&r.number)) }
                        " — " (format::quantity(r.quantity.as_ref()))
                        ", " (format::mass(r.weighed_mass_g))
                        ", " (format::datetime(r.handover_time.as_ref()))
                    }
                }
            }
        }
    }
}

/// GET `/bons/{site}/{lot}/{claim}/{receipt}`.
pub async fn receipt_page(
    State(state): State<WebState>,
    crate::session::Auth(session): crate::session::Auth,
    Path((site, lot, claim, receipt)): Path<(String, String, String, String)>,
) -> Result<Response, WebError> {
    let name = format!("sites/{site}/lots/{lot}/claims/{claim}/receipts/{receipt}");
    let request = bearer(&session.access_token, ipb::GetReceiptRequest { name })?;
    let receipt = state
        .backend()
        .inventory()
        .get_receipt(request)
        .await?
        .into_inner();
    let partners = partner_names(&state, &session, BTreeSet::from([receipt.partner.clone()])).await;
    let partner = partners
        .get(&receipt.partner)
        .cloned()
        .unwrap_or_else(|| id_of(&receipt.partner).to_owned());
    Ok(page(&session, &receipt, &partner).into_response())
}

fn page(session: &Session, r: &Receipt, partner: &str) -> Markup {
    let body = html! {
        p.no-print { (T::RECEIPT_PRINT_HINT) }
        dl.receipt {
            dt { (T::RECEIPT_NUMBER) } dd { (r.number) }
            dt { (T::RECEIPT_DATE) } dd { (format::datetime(r.handover_time.as_ref())) }
            dt { (T::RECEIPT_SITE) } dd { (r.site_display_name) @if !r.site_address.is_empty() { br; (r.site_address) } }
            dt { (T::RECEIPT_GIVER) } dd { (r.owner_org) }
            dt { (T::RECEIPT_TAKER) } dd { (partner) }
            dt { (T::RECEIPT_LOT) } dd {
                @if !r.lot_reference.is_empty() { (r.lot_reference) " — " }
                (r.lot_designation)
            }
            dt { (T::QUANTITY) } dd { (format::quantity(r.quantity.as_ref())) }
            dt { (T::WEIGHED_MASS) } dd { (format::mass(r.weighed_mass_g)) }
            dt { (T::RECEIPT_COLLECTED) } dd {
                (T::collected_of(
                    &format::quantity(r.collected.as_ref()),
                    &format::quantity(r.claim_quantity.as_ref()),
                    &format::mass(r.collected_mass_g),
                ))
                @if r.completes_claim { " " (T::RECEIPT_COMPLETES) }
            }
        }
        div.signatures {
            p { (T::RECEIPT_SIGN_GIVER) }
            p { (T::RECEIPT_SIGN_TAKER) }
        }
    };
    view::page(&T::receipt_title(&r.number), Some(session), body)
}
