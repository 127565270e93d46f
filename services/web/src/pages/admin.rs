//! The territory admin's pages: the partners and their verification.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use reemploi_proto::registry::{
    self as rpb, ArchivePartnerRequest, Partner, PartnerKind, PartnerStatus,
    ReinstatePartnerRequest, SuspendPartnerRequest, VerifyPartnerRequest,
};

use super::{id_of, require};
use crate::WebState;
use crate::backend::bearer;
use crate::error::{WebError, redirect};
use crate::form::Fields;
use crate::session::{Auth, Role};
use crate::text::T;
use crate::view;

/// The statuses the list filters on, by their query value.
const FILTERS: [(&str, PartnerStatus); 4] = [
    ("en-attente", PartnerStatus::Pending),
    ("verifiee", PartnerStatus::Verified),
    ("suspendue", PartnerStatus::Suspended),
    ("archivee", PartnerStatus::Archived),
];

/// GET `/partenaires?statut=…`: every partner, with the actions its status allows.
pub async fn partners(
    State(state): State<WebState>,
    Auth(session): Auth,
    uri: Uri,
) -> Result<Response, WebError> {
    require(&session, &[Role::Admin])?;
    let query = Fields::from_query(uri.query());
    let filter = query.get("statut").unwrap_or_default();
    let status = FILTERS
        .iter()
        .find(|(code, _)| *code == filter)
        .map_or(PartnerStatus::Unspecified, |(_, s)| *s);
    let answer = state
        .backend()
        .registry()
        .list_partners(bearer(
            &session.access_token,
            rpb::ListPartnersRequest {
                page_size: 1000,
                status: status as i32,
                ..Default::default()
            },
        )?)
        .await?
        .into_inner();
    let body = html! {
        p { a href="/partenaires/import" { (T::IMPORT_DIRECTORY_LINK) } }
        (filter_form(filter))
        @if answer.partners.is_empty() {
            p { (T::NO_PARTNERS) }
        } @else {
            div.table-wrap {
                table {
                    thead { tr {
                        th scope="col" { (T::COL_NAME) }
                        th scope="col" { (T::COL_SIRET) }
                        th scope="col" { (T::COL_COMMUNE) }
                        th scope="col" { (T::COL_STATUS) }
                        th scope="col" { (T::COL_ACTIONS) }
                    } }
                    tbody {
                        @for partner in &answer.partners { (row(partner, &session.csrf)) }
                    }
                }
            }
        }
    };
    Ok(view::page(T::PARTNERS_TITLE, Some(&session), body).into_response())
}

fn filter_form(current: &str) -> Markup {
    html! {
        form.inline method="get" action="/partenaires" {
            label for="statut" { (T::FILTER_STATUS) }
            select id="statut" name="statut" {
                option value="" selected[current.is_empty()] { (T::ANY_STATUS) }
                @for (code, status) in FILTERS {
                    option value=(code) selected[current == code] { (T::partner_status(status)) }
                }
            }
            button type="submit" { (T::FILTER_BUTTON) }
        }
    }
}

fn row(partner: &Partner, csrf: &str) -> Markup {
    let status = partner.status();
    let kinds: Vec<&str> = partner
        .kinds
        .iter()
        .map(|k| T::partner_kind(PartnerKind::try_from(*k).unwrap_or(PartnerKind::Unspecified)))
        .collect();
    let action = match status {
        PartnerStatus::Pending => Some(("verifier", T::VERIFY)),
        PartnerStatus::Verified => Some(("suspendre", T::SUSPEND)),
        PartnerStatus::Suspended => Some(("retablir", T::REINSTATE)),
        PartnerStatus::Archived | PartnerStatus::Unspecified => None,
    };
    html! {
        tr {
            th scope="row" {
                (partner.legal_name)
                @if !kinds.is_empty() { br; small { (kinds.join(", ")) } }
            }
            td data-label=(T::COL_SIRET) { (partner.siret) }
            td data-label=(T::COL_COMMUNE) { (partner.address.as_ref().map(|a| a.commune.as_str()).unwrap_or_default()) }
            td data-label=(T::COL_STATUS) { span class=(format!("status status-{}", status.as_str_name().to_lowercase())) { (T::partner_status(status)) } }
            td {
                div.actions {
                    @if let Some((action, label)) = action {
                        (action_form(partner, action, label, csrf, false))
                    }
                    @if status != PartnerStatus::Archived {
                        (action_form(partner, "archiver", T::ARCHIVE, csrf, true))
                    }
                }
            }
        }
    }
}

fn action_form(
    partner: &Partner,
    action: &str,
    label: &str,
    csrf: &str,
    secondary: bool,
) -> Markup {
    html! {
        form method="post" action=(format!("/partenaires/{}/{action}", id_of(&partner.name))) {
            (view::csrf(csrf))
            input type="hidden" name="etag" value=(partner.etag);
            button.secondary[secondary] type="submit" aria-label=(format!("{label} {}", partner.legal_name)) { (label) }
        }
    }
}

/// POST `/partenaires/{partner}/{verifier|suspendre|retablir|archiver}`.
pub async fn partner_action(
    State(state): State<WebState>,
    Auth(session): Auth,
    Path((partner, action)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, WebError> {
    let form = Fields::from_body(&body);
    session.check_csrf(form.csrf())?;
    require(&session, &[Role::Admin])?;
    let name = format!("partners/{partner}");
    let etag = form.text("etag");
    let token = session.access_token.as_str();
    let mut registry = state.backend().registry();
    match action.as_str() {
        "verifier" => {
            registry
                .verify_partner(bearer(token, VerifyPartnerRequest { name, etag })?)
                .await?;
        }
        "suspendre" => {
            let request = SuspendPartnerRequest {
                name,
                etag,
                reason: form.text("reason"),
            };
            registry.suspend_partner(bearer(token, request)?).await?;
        }
        "retablir" => {
            registry
                .reinstate_partner(bearer(token, ReinstatePartnerRequest { name, etag })?)
                .await?;
        }
        "archiver" => {
            registry
                .archive_partner(bearer(token, ArchivePartnerRequest { name, etag })?)
                .await?;
        }
        _ => return Err(WebError::NotFound),
    }
    Ok(redirect("/partenaires"))
}
