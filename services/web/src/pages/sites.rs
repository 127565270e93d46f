//! The site manager's pages: the organisation's sites, a site's lots by
//! status with their ledgers, and publishing drafts.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use reemploi_proto::inventory::{self as ipb, Lot, LotStatus, Site};

use super::{id_of, require};
use crate::backend::bearer;
use crate::error::{WebError, redirect};
use crate::form::Fields;
use crate::session::{Auth, Role, Session};
use crate::text::T;
use crate::{WebState, pages_kept};
use crate::{format, view};

/// Lots of one site read at most: ten pages of the API's largest.
const MAX_PAGES: usize = 10;
/// Lots shown on one page of a site.
const PER_PAGE: usize = 100;
/// The statuses of a site's lots in the order they are shown (what needs
/// action first), with the query value that filters on each.
const STATUS_CODES: [(LotStatus, &str); 5] = [
    (LotStatus::Draft, "brouillons"),
    (LotStatus::Published, "publies"),
    (LotStatus::Exhausted, "epuises"),
    (LotStatus::Withdrawn, "retires"),
    (LotStatus::Expired, "expires"),
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
        p { a.button href="/chantiers/nouveau" { (T::NEW_SITE) } }
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

/// Every lot of a site, up to [`MAX_PAGES`] pages.
pub(crate) async fn all_lots(
    state: &WebState,
    session: &Session,
    site: &str,
) -> Result<Vec<Lot>, WebError> {
    let mut inventory = state.backend().inventory();
    let mut lots: Vec<Lot> = Vec::new();
    let mut page_token = String::new();
    for _ in 0..MAX_PAGES {
        let request = ipb::ListLotsRequest {
            parent: site.to_owned(),
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
    Ok(lots)
}

/// GET `/chantiers/{site}?statut=…&apres=…`: the site's lots of one
/// status (by default the first, in the order of [`STATUS_CODES`], that
/// has lots), [`PER_PAGE`] at a time, each with its ledger; every status
/// with its count (the site's `lot_counts`) as a link to its lots. Only
/// one page of lots is asked of the API, whatever the site's size; a page
/// already made for this session is served again while it is still true
/// (see [`crate::pages_kept`]).
pub async fn site(
    State(state): State<WebState>,
    Auth(session): Auth,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    require(&session, &[Role::SiteManager, Role::Admin])?;
    let path = kept_path(&id, &uri);
    let token = session.access_token.as_str();
    let stamp = match state.pages() {
        Some(pages) => {
            let written = crate::session::cookie_value(&headers, pages_kept::WRITTEN_COOKIE)
                .and_then(|v| v.parse::<i64>().ok());
            let now = crate::session::now();
            if let Some((kept, age)) = pages.get((token, written), &path, &id, now) {
                let age = [(axum::http::header::AGE, age.to_string())];
                return Ok((age, axum::response::Html(kept)).into_response());
            }
            pages.stamp(&id, pages_kept::now_ms())
        }
        None => None,
    };
    let page = Bytes::from(render_site(&state, &session, &id, &uri).await?);
    if let (Some(pages), Some(stamp)) = (state.pages(), stamp) {
        let made_for = (token, session.access_expires);
        pages.keep(made_for, &path, (&id, stamp), page.clone());
    }
    Ok(axum::response::Html(page).into_response())
}

/// What a site page is kept under: its path with only the query fields
/// that change it, so that other fields cannot make copies of it.
fn kept_path(id: &str, uri: &Uri) -> String {
    let query = Fields::from_query(uri.query());
    let kept = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("statut", query.get("statut").unwrap_or_default())
        .append_pair("apres", query.get("apres").unwrap_or_default())
        .finish();
    format!("/chantiers/{id}?{kept}")
}

/// The HTML of [`site`]'s page, from the API.
async fn render_site(
    state: &WebState,
    session: &Session,
    id: &str,
    uri: &Uri,
) -> Result<String, WebError> {
    let site = super::site_edit::get_site(state, session, id).await?;
    let count = |status: LotStatus| {
        site.lot_counts
            .iter()
            .find(|c| c.status() == status)
            .map_or(0, |c| usize::try_from(c.count).unwrap_or(0))
    };
    let query = Fields::from_query(uri.query());
    let filter = STATUS_CODES
        .iter()
        .find(|(_, code)| query.get("statut") == Some(*code))
        .or_else(|| STATUS_CODES.iter().find(|(s, _)| count(*s) > 0))
        .map_or(LotStatus::Draft, |(status, _)| *status);
    let after = query.text("apres");
    let request = ipb::ListLotsRequest {
        parent: site.name.clone(),
        page_size: i32::try_from(PER_PAGE).unwrap_or(i32::MAX),
        page_token: after.clone(),
        status: filter as i32,
        ..Default::default()
    };
    let answer = state
        .backend()
        .inventory()
        .list_lots(bearer(&session.access_token, request)?)
        .await?
        .into_inner();
    let here = lots_href(id, filter, &after);
    let body = html! {
        (site_facts(&site))
        ul.links {
            li { a href=(format!("/chantiers/{id}/modifier")) { (T::EDIT_SITE) } }
            li { a href=(format!("/chantiers/{id}/plan")) { (T::PLAN_LINK) } }
            li { a href=(format!("/chantiers/{id}/diagnostic")) { (T::IMPORT_DIAGNOSTIC_LINK) } }
        }
        @if site.lot_counts.is_empty() { p { (T::NO_LOTS) } }
        @else { (status_nav(id, filter, count)) }
        @if count(LotStatus::Draft) > 0 { (publish_drafts_form(id, &session.csrf, &here)) }
        @if !answer.lots.is_empty() {
            section aria-labelledby="lots-du-statut" {
                h2 #lots-du-statut { (T::lot_status(filter)) " " (T::count(count(filter))) }
                ul.cards {
                    @for lot in &answer.lots { li id=(format!("lot-{}", id_of(&lot.name))) { (lot_card(id, lot)) } }
                }
            }
        } @else if !site.lot_counts.is_empty() {
            p { (T::NO_LOTS) }
        }
        (pager(id, filter, &after, &answer.next_page_token))
    };
    Ok(view::page(&site.display_name, Some(session), body).into_string())
}

/// The link to a page of a site's lots of one status, from a page token.
fn lots_href(site: &str, status: LotStatus, after: &str) -> String {
    let code = STATUS_CODES
        .iter()
        .find(|(s, _)| *s == status)
        .map_or("brouillons", |(_, code)| *code);
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("statut", code);
    if !after.is_empty() {
        query.append_pair("apres", after);
    }
    format!("/chantiers/{site}?{}", query.finish())
}

/// Every status that has lots, with its count, each a link to its lots.
fn status_nav(site: &str, filter: LotStatus, count: impl Fn(LotStatus) -> usize) -> Markup {
    html! {
        nav aria-label=(T::LOTS_BY_STATUS) {
            ul.links {
                @for (status, _) in STATUS_CODES {
                    @if count(status) > 0 {
                        li { a href=(lots_href(site, status, "")) aria-current=[(filter == status).then_some("page")] {
                            (T::lot_status(status)) " " (T::count(count(status)))
                        } }
                    }
                }
            }
        }
    }
}

/// Back to the first page, and on to the next, when there are others.
fn pager(site: &str, filter: LotStatus, after: &str, next: &str) -> Markup {
    html! {
        @if !after.is_empty() || !next.is_empty() {
            nav.pager aria-label=(T::PAGES) {
                @if !after.is_empty() { a href=(lots_href(site, filter, "")) { (T::PAGE_FIRST) } }
                @if !next.is_empty() { a rel="next" href=(lots_href(site, filter, next)) { (T::PAGE_NEXT) } }
            }
        }
    }
}

/// The form that publishes the drafts ticked in their cards (their
/// checkboxes belong to it through their `form` attribute, since a card
/// holds a form of its own), or every draft.
fn publish_drafts_form(site: &str, csrf: &str, back: &str) -> Markup {
    html! {
        form.actions id="brouillons" method="post" action=(format!("/chantiers/{site}/publier")) {
            (view::csrf(csrf))
            input type="hidden" name="retour" value=(back);
            button type="submit" { (T::PUBLISH_SELECTED) }
            button.secondary type="submit" name="tous" value="1" { (T::PUBLISH_ALL) }
        }
    }
}

/// One lot: its name (to its page), category, reference, quantity and
/// ledger; a draft has its box and button for the drafts' form, which
/// is outside the card so that a page of a hundred drafts carries one
/// form, not a hundred.
fn lot_card(site: &str, lot: &Lot) -> Markup {
    let lot_id = id_of(&lot.name);
    let publishable = !lot.hazardous && lot.status() == LotStatus::Draft;
    html! {
        h3 { a href=(format!("/chantiers/{site}/lots/{lot_id}")) { (lot.designation) } }
        p.meta {
            (category_label(&lot.category))
            @if !lot.reference.is_empty() { " · " (lot.reference) }
            " · " (format::quantity(lot.quantity.as_ref()))
        }
        (view::ledger(lot.quantity.as_ref(), lot.available.as_ref(), lot.reserved.as_ref(), lot.handed_over.as_ref()))
        @if lot.hazardous {
            p.warning { (T::HAZARDOUS) }
        } @else if publishable {
            div.actions {
                div.check {
                    input id=(format!("choisir-{lot_id}")) type="checkbox" name="lot" value=(lot_id) form="brouillons";
                    label for=(format!("choisir-{lot_id}")) { (T::select_lot(&lot.designation)) }
                }
                input type="hidden" name=(format!("etag-{lot_id}")) value=(lot.etag) form="brouillons";
                button type="submit" name="seul" value=(lot_id) form="brouillons" aria-label=(format!("{} {}", T::PUBLISH, lot.designation)) { (T::PUBLISH) }
            }
        }
    }
}

/// The French name of a category code (the code itself when unknown).
pub(crate) fn category_label(code: &str) -> String {
    reemploi_domain::category::find(code).map_or_else(|| code.to_owned(), |c| c.label_fr.to_owned())
}

/// POST `/chantiers/{site}/publier`: publishes the draft of the button
/// pressed (`seul`), the drafts ticked, or every draft of the site
/// (`tous`), one call each; then back to the page of the list the form was
/// on, or, when the API refused some, a page naming them and why (those
/// it accepted stay published).
pub async fn publish_drafts(
    State(state): State<WebState>,
    Auth(session): Auth,
    Path(site): Path<String>,
    body: Bytes,
) -> Result<Response, WebError> {
    let form = Fields::from_body(&body);
    session.check_csrf(form.csrf())?;
    require(&session, &[Role::SiteManager, Role::Admin])?;
    // Another organisation's site is not found, before any lot is tried.
    super::site_edit::get_site(&state, &session, &site).await?;
    let lots = all_lots(&state, &session, &format!("sites/{site}")).await?;
    let chosen: Vec<(String, String)> = if form.get("tous").is_some() {
        lots.iter()
            .filter(|l| l.status() == LotStatus::Draft && !l.hazardous)
            .map(|l| (l.name.clone(), l.etag.clone()))
            .collect()
    } else {
        let one = form.get("seul").map(|lot| vec![lot.to_owned()]);
        one.unwrap_or_else(|| form.all("lot"))
            .into_iter()
            .map(|lot| {
                let etag = form.text(&format!("etag-{lot}"));
                (format!("sites/{site}/lots/{lot}"), etag)
            })
            .collect()
    };
    let mut inventory = state.backend().inventory();
    let mut refused = Vec::new();
    for (name, etag) in chosen {
        let request = ipb::PublishLotRequest {
            name: name.clone(),
            etag,
        };
        match inventory
            .publish_lot(bearer(&session.access_token, request)?)
            .await
        {
            Ok(_) => {}
            Err(status) if status.code() == tonic::Code::Unauthenticated => {
                return Err(status.into());
            }
            Err(status) => refused.push((name, status)),
        }
    }
    let home = format!("/chantiers/{site}");
    let back = form
        .get("retour")
        .filter(|b| b.starts_with(&home))
        .unwrap_or(&home);
    if refused.is_empty() {
        return Ok(redirect(back));
    }
    let designation = |name: &str| {
        lots.iter()
            .find(|l| l.name == name)
            .map_or_else(|| id_of(name).to_owned(), |l| l.designation.clone())
    };
    let body = html! {
        p role="alert" { (T::publish_refused(refused.len())) }
        ul { @for (name, status) in &refused {
            li { (designation(name)) " : " (T::refusal(status)) }
        } }
        p { a href=(back) { (T::BACK_TO_SITE) } }
    };
    let page = view::page(T::PUBLISH_REFUSED_TITLE, Some(&session), body);
    Ok((axum::http::StatusCode::CONFLICT, page).into_response())
}
