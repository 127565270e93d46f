//! The site manager's pages: the organisation's sites, a site's lots by
//! status with their ledgers, and publishing drafts.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use reemploi_proto::inventory::{self as ipb, Lot, LotStatus, Site};

use super::{id_of, require};
use crate::WebState;
use crate::backend::bearer;
use crate::error::{WebError, redirect};
use crate::form::Fields;
use crate::session::{Auth, Role};
use crate::text::T;
use crate::{format, view};

/// Lots of one site read at most: ten pages of the API's largest.
const MAX_PAGES: usize = 10;
/// The order the statuses are shown in: what needs action first.
const STATUS_ORDER: [LotStatus; 5] = [
    LotStatus::Draft,
    LotStatus::Published,
    LotStatus::Exhausted,
    LotStatus::Withdrawn,
    LotStatus::Expired,
];

/// GET `/chantiers`: the sites of the manager's organisation (every site for an admin).
pub async fn sites(
    State(state): State<WebState>,
    Auth(session): Auth,
) -> Result<Response, WebError> {
    require(&session, &[Role::SiteManager, Role::Admin])?;
    let owner_org = match session.account.role {
        Role::SiteManager => session.account.org.clone(),
        Role::Admin | Role::Partner | Role::Integrator => String::new(),
    };
    let answer = state
        .backend()
        .inventory()
        .list_sites(bearer(
            &session.access_token,
            ipb::ListSitesRequest {
                page_size: 1000,
                owner_org,
                ..Default::default()
            },
        )?)
        .await?
        .into_inner();
    let body = html! {
        @if answer.sites.is_empty() {
            p { (T::NO_SITES) }
        } @else {
            ul.cards {
                @for site in &answer.sites { li { (site_card(site)) } }
            }
        }
    };
    Ok(view::page(T::SITES_TITLE, Some(&session), body).into_response())
}

fn site_card(site: &Site) -> Markup {
    html! {
        h2 { a href=(format!("/chantiers/{}", id_of(&site.name))) { (site.display_name) } }
        (site_facts(site))
    }
}

/// The operation and address of a site (its name is the heading above).
fn site_facts(site: &Site) -> Markup {
    let operation = site.operation.as_ref().map(|o| {
        [
            o.programme.as_str(),
            o.quartier.as_str(),
            o.commune.as_str(),
        ]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" · ")
    });
    html! {
        @if let Some(operation) = operation.filter(|o| !o.is_empty()) { p { (operation) } }
        @if !site.address.is_empty() { p { (site.address) } }
    }
}

/// GET `/chantiers/{site}`: the site's lots by status, each with its ledger.
pub async fn site(
    State(state): State<WebState>,
    Auth(session): Auth,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    require(&session, &[Role::SiteManager, Role::Admin])?;
    let name = format!("sites/{id}");
    let mut inventory = state.backend().inventory();
    let site = inventory
        .get_site(bearer(
            &session.access_token,
            ipb::GetSiteRequest { name: name.clone() },
        )?)
        .await?
        .into_inner();
    let mut lots: Vec<Lot> = Vec::new();
    let mut page_token = String::new();
    for _ in 0..MAX_PAGES {
        let request = ipb::ListLotsRequest {
            parent: name.clone(),
            page_size: 1000,
            page_token,
            ..Default::default()
        };
        let answer = inventory
            .list_lots(bearer(&session.access_token, request)?)
            .await?
            .into_inner();
        lots.extend(answer.lots);
        if answer.next_page_token.is_empty() {
            break;
        }
        page_token = answer.next_page_token;
    }
    let body = html! {
        (site_facts(&site))
        p { a href=(format!("/chantiers/{id}/diagnostic")) { (T::IMPORT_DIAGNOSTIC_LINK) } }
        @if lots.is_empty() { p { (T::NO_LOTS) } }
        @for status in STATUS_ORDER {
            @let group: Vec<&Lot> = lots.iter().filter(|l| l.status() == status).collect();
            @if !group.is_empty() {
                section aria-labelledby=(format!("statut-{}", status as i32)) {
                    h2 id=(format!("statut-{}", status as i32)) {
                        (T::lot_status(status)) " " (T::count(group.len()))
                    }
                    ul.cards {
                        @for lot in group { li id=(format!("lot-{}", id_of(&lot.name))) { (lot_card(&id, lot, &session.csrf)) } }
                    }
                }
            }
        }
    };
    Ok(view::page(&site.display_name, Some(&session), body).into_response())
}

fn lot_card(site: &str, lot: &Lot, csrf: &str) -> Markup {
    let lot_id = id_of(&lot.name);
    html! {
        h3 { a href=(format!("/lots/{site}/{lot_id}")) { (lot.designation) } }
        p.meta {
            (category_label(&lot.category))
            @if !lot.reference.is_empty() { " · " (lot.reference) }
            " · " (format::quantity(lot.quantity.as_ref()))
        }
        (view::ledger(lot.quantity.as_ref(), lot.available.as_ref(), lot.reserved.as_ref(), lot.handed_over.as_ref()))
        @if lot.hazardous {
            p.warning { (T::HAZARDOUS) }
        } @else if lot.status() == LotStatus::Draft {
            form method="post" action=(format!("/chantiers/{site}/lots/{lot_id}/publier")) {
                (view::csrf(csrf))
                input type="hidden" name="etag" value=(lot.etag);
                button type="submit" aria-label=(format!("{} {}", T::PUBLISH, lot.designation)) { (T::PUBLISH) }
            }
        }
    }
}

/// The French name of a category code (the code itself when unknown).
pub(crate) fn category_label(code: &str) -> String {
    reemploi_domain::category::find(code).map_or_else(|| code.to_owned(), |c| c.label_fr.to_owned())
}

/// POST `/chantiers/{site}/lots/{lot}/publier`.
pub async fn publish(
    State(state): State<WebState>,
    Auth(session): Auth,
    Path((site, lot)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, WebError> {
    let form = Fields::from_body(&body);
    session.check_csrf(form.csrf())?;
    require(&session, &[Role::SiteManager, Role::Admin])?;
    let request = ipb::PublishLotRequest {
        name: format!("sites/{site}/lots/{lot}"),
        etag: form.text("etag"),
    };
    state
        .backend()
        .inventory()
        .publish_lot(bearer(&session.access_token, request)?)
        .await?;
    Ok(redirect(&format!("/chantiers/{site}")))
}
