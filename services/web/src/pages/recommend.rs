//! Recommendations (`/recommandations`): the lots matching ranks best for
//! the structure, each with its score, the factors of the score, and its
//! distance, so that the structure sees why.

use std::collections::HashMap;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use reemploi_proto::inventory::Lot;
use reemploi_proto::matching::{self as mpb, Match};
use reemploi_proto::registry::PartnerStatus;
use tonic::Code;

use super::partner::{lot_path, lots_named, own_partner, partner_page};
use super::require;
use crate::WebState;
use crate::backend::bearer;
use crate::error::{WebError, redirect};
use crate::session::{Auth, Role};
use crate::text::T;
use crate::view;

/// Recommendations shown at most.
const MAX_RECOMMENDATIONS: i32 = 50;

/// GET `/recommandations`.
pub async fn recommendations(
    State(state): State<WebState>,
    Auth(session): Auth,
) -> Result<Response, WebError> {
    require(&session, &[Role::Partner])?;
    let Some(partner) = own_partner(&state, &session).await? else {
        return Ok(redirect("/structure"));
    };
    let request = mpb::RecommendLotsRequest {
        partner: session.account.partner.clone(),
        page_size: MAX_RECOMMENDATIONS,
        page_token: String::new(),
    };
    let answer = state
        .backend()
        .matching()
        .recommend_lots(bearer(&session.access_token, request)?)
        .await;
    let matches = match answer {
        Ok(answer) => answer.into_inner().matches,
        // Matching learns of a structure through events: just registered,
        // it is not known there yet, and has nothing recommended.
        Err(status) if status.code() == Code::NotFound => Vec::new(),
        Err(status) => return Err(status.into()),
    };
    let lots = lots_named(&state, &session, matches.iter().map(|m| m.lot.clone())).await;
    let verified = partner.status() == PartnerStatus::Verified;
    let body = html! {
        p { (T::RECOMMEND_INTRO) }
        @if matches.is_empty() {
            p { (if verified { T::NO_RECOMMENDATIONS } else { T::RECOMMEND_PENDING }) }
        } @else {
            (table(&matches, &lots))
        }
    };
    Ok(partner_page(T::RECOMMEND_TITLE, &session, Some(&partner), body).into_response())
}

fn table(matches: &[Match], lots: &HashMap<String, Lot>) -> Markup {
    view::score_table(T::RECOMMEND_CAPTION, T::COL_LOT, matches, |m| {
        html! {
            a href=(lot_path(&m.lot)) {
                (lots.get(&m.lot).map_or(T::LOT_UNREADABLE, |l| l.designation.as_str()))
            }
        }
    })
}
