//! The notifications (`/notifications`): what the platform told the
//! signed-in person (a claim on a lot of theirs, their claim confirmed, a
//! structure to verify...), newest first, each with a link to its page;
//! marking them all read; and the unread count the header's badge shows
//! (`/notifications/compte`, read by the page script only: without it the
//! header's link is enough).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use reemploi_proto::notify as npb;

use super::require;
use crate::WebState;
use crate::backend::bearer;
use crate::error::{WebError, redirect};
use crate::form::Fields;
use crate::format;
use crate::session::{Auth, Role, Session};
use crate::text::T;
use crate::view;

/// Notifications shown at most.
const SHOWN: i32 = 100;

/// The roles that receive notifications (integrators have webhooks).
const READERS: &[Role] = &[Role::Admin, Role::SiteManager, Role::Partner];

async fn list(
    state: &WebState,
    session: &Session,
    page_size: i32,
) -> Result<npb::ListNotificationsResponse, WebError> {
    let request = npb::ListNotificationsRequest {
        unread_only: false,
        page_size,
        page_token: String::new(),
    };
    Ok(state
        .backend()
        .notify()
        .list_notifications(bearer(&session.access_token, request)?)
        .await?
        .into_inner())
}

/// GET `/notifications`.
pub async fn notifications(
    State(state): State<WebState>,
    Auth(session): Auth,
) -> Result<Response, WebError> {
    require(&session, READERS)?;
    let listed = list(&state, &session, SHOWN).await?;
    let body = html! {
        p { (T::NOTIFICATIONS_INTRO) }
        p role="status" { (T::unread_count(listed.unread_count)) }
        @if listed.unread_count > 0 {
            form method="post" action="/notifications/lues" {
                (view::csrf(&session.csrf))
                button type="submit" { (T::MARK_ALL_READ) }
            }
        }
        @if listed.notifications.is_empty() {
            p { (T::NO_NOTIFICATIONS) }
        } @else {
            ul.notifications aria-label=(T::NOTIFICATIONS_LIST) {
                @for n in &listed.notifications { (item(n)) }
            }
        }
    };
    Ok(view::page(T::NOTIFICATIONS_TITLE, Some(&session), body).into_response())
}

fn item(n: &npb::Notification) -> Markup {
    let unread = n.read_time.is_none();
    html! {
        li.unread[unread] {
            p.title {
                @if unread { strong.badge { (T::UNREAD) } " " }
                (n.title)
            }
            @if !n.body.is_empty() { p { (n.body) } }
            p.meta {
                time datetime=(format::datetime(n.create_time.as_ref())) { (format::datetime(n.create_time.as_ref())) }
                // Only the app's own pages: a link never leaves the site.
                @if n.link.starts_with('/') && !n.link.starts_with("//") {
                    " — " a href=(n.link) { (T::SEE) }
                }
            }
        }
    }
}

/// POST `/notifications/lues`: every notification made so far read.
pub async fn mark_all_read(
    State(state): State<WebState>,
    Auth(session): Auth,
    body: Bytes,
) -> Result<Response, WebError> {
    let form = Fields::from_body(&body);
    session.check_csrf(form.csrf())?;
    require(&session, READERS)?;
    let request = npb::MarkNotificationsReadRequest {
        names: Vec::new(),
        all: true,
    };
    state
        .backend()
        .notify()
        .mark_notifications_read(bearer(&session.access_token, request)?)
        .await?;
    Ok(redirect("/notifications"))
}

/// GET `/notifications/compte`: the unread count, as plain text.
pub async fn unread(
    State(state): State<WebState>,
    Auth(session): Auth,
) -> Result<Response, WebError> {
    require(&session, READERS)?;
    let listed = list(&state, &session, 1).await?;
    let headers = [
        (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    Ok((headers, listed.unread_count.to_string()).into_response())
}
