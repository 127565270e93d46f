//! A site's allocation plan: matching's proposal of who takes what of the
//! site's published lots, with its totals, what stays without a taker and
//! why, and whether the plan is proven optimal.

use std::collections::{BTreeSet, HashMap};

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use reemploi_proto::matching::{self as mpb, PlanAllocationResponse, UnallocatedReason};

use super::require;
use super::site_lot::partner_names;
use super::sites::all_lots;
use crate::WebState;
use crate::backend::bearer;
use crate::error::WebError;
use crate::format;
use crate::session::{Auth, Role};
use crate::text::T;
use crate::view;

/// GET `/chantiers/{site}/plan`.
pub async fn plan(
    State(state): State<WebState>,
    Auth(session): Auth,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    require(&session, &[Role::SiteManager, Role::Admin])?;
    let name = format!("sites/{id}");
    let token = session.access_token.as_str();
    let site = super::site_edit::get_site(&state, &session, &id).await?;
    let request = mpb::PlanAllocationRequest {
        site: name.clone(),
        ..Default::default()
    };
    let plan = state
        .backend()
        .matching()
        .plan_allocation(bearer(token, request)?)
        .await?
        .into_inner();
    let lots: HashMap<String, String> = all_lots(&state, &session, &name)
        .await?
        .into_iter()
        .map(|l| (l.name, l.designation))
        .collect();
    let wanted: BTreeSet<String> = plan.allocations.iter().map(|a| a.partner.clone()).collect();
    let partners = partner_names(&state, &session, wanted).await;
    let named = |map: &HashMap<String, String>, key: &str| {
        map.get(key)
            .cloned()
            .unwrap_or_else(|| super::id_of(key).to_owned())
    };
    let body = html! {
        p { a href=(format!("/chantiers/{id}")) { (T::BACK_TO_SITE) } }
        p.hint { (T::PLAN_INTRO) }
        (totals(&plan))
        @if plan.allocations.is_empty() {
            p { (T::PLAN_EMPTY) }
        } @else {
            div.table-wrap { table {
                caption { (T::PLAN_CAPTION) }
                thead { tr {
                    th scope="col" { (T::COL_LOT) }
                    th scope="col" { (T::COL_PARTNER) }
                    th scope="col" { (T::QUANTITY) }
                    th scope="col" { (T::COL_MASS) }
                    th scope="col" { (T::COL_DISTANCE) }
                } }
                tbody { @for a in &plan.allocations { tr {
                    th scope="row" { (named(&lots, &a.lot)) }
                    td data-label=(T::COL_PARTNER) { (named(&partners, &a.partner)) }
                    td data-label=(T::QUANTITY) { (format::quantity(a.quantity.as_ref())) }
                    td data-label=(T::COL_MASS) { (format::mass(a.mass_g)) }
                    td data-label=(T::COL_DISTANCE) { (format::km(a.distance_m as f64)) }
                } } }
            } }
        }
        @if !plan.unallocated.is_empty() {
            h2 { (T::UNALLOCATED_TITLE) }
            ul { @for u in &plan.unallocated {
                li {
                    (named(&lots, &u.lot)) " : " (format::quantity(u.quantity.as_ref()))
                    @if u.mass_g > 0 { " (" (format::mass(u.mass_g)) ")" }
                    " — " (T::unallocated(UnallocatedReason::try_from(u.reason).unwrap_or(UnallocatedReason::Unspecified)))
                }
            } }
        }
    };
    let title = T::plan_title(&site.display_name);
    Ok(view::page(&title, Some(&session), body).into_response())
}

fn totals(plan: &PlanAllocationResponse) -> Markup {
    html! {
        dl.totals {
            dt { (T::PLAN_MASS) } dd { (format::mass(plan.total_mass_g)) }
            dt { (T::PLAN_TONNE_KM) } dd { (format::milli((plan.total_tonne_km * 1000.0).round() as i64)) " t·km" }
            dt { (T::PLAN_OPTIMAL) }
            dd {
                @if plan.optimal { (T::PLAN_PROVEN) }
                @else { (T::plan_bound(&format::mass(plan.mass_bound_g))) }
            }
        }
    }
}
