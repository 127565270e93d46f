//! The page that the unsubscribe link of a notification email opens: a
//! button, with no sign-in needed (the signed token of the link is the
//! proof), that turns that kind of notification off by email.

use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use reemploi_proto::notify as npb;
use tonic::Code;

use super::auth::pre_token;
use super::with_cookies;
use crate::WebState;
use crate::client::ClientIp;
use crate::error::WebError;
use crate::form::Fields;
use crate::session::{PreSession, PreSessionForm};
use crate::text::T;
use crate::view;

/// The path of the page, as the notification emails write it.
pub const PATH: &str = "/notifications/desabonnement";

/// GET `/notifications/desabonnement?jeton=…`: the button, nothing done
/// yet (mail scanners follow links; only the form turns anything off).
pub async fn unsubscribe_form(
    State(state): State<WebState>,
    PreSession(token): PreSession,
    uri: Uri,
) -> Result<Response, WebError> {
    let jeton = Fields::from_query(uri.query()).text("jeton");
    let (csrf, cookies) = pre_token(&state, token)?;
    let page = view::page(T::UNSUBSCRIBE_TITLE, None, form(&csrf, &jeton)).into_response();
    Ok(with_cookies(page, &cookies))
}

fn form(csrf: &str, jeton: &str) -> Markup {
    html! {
        p { (T::UNSUBSCRIBE_INTRO) }
        form.stack method="post" action=(PATH) {
            (view::csrf(csrf))
            input type="hidden" name="jeton" value=(jeton);
            button type="submit" { (T::UNSUBSCRIBE_BUTTON) }
        }
    }
}

/// POST `/notifications/desabonnement`: turns the link's kind off (again:
/// no change) and says which.
pub async fn unsubscribe(
    State(state): State<WebState>,
    client: ClientIp,
    PreSessionForm { form, .. }: PreSessionForm,
) -> Result<Response, WebError> {
    let answer = state
        .backend()
        .notify()
        .unsubscribe(client.request(npb::UnsubscribeRequest {
            token: form.text("jeton"),
        }))
        .await;
    match answer {
        Ok(reply) => {
            let kind = npb::NotificationKind::try_from(reply.into_inner().kind)
                .unwrap_or(npb::NotificationKind::Unspecified);
            let body = html! {
                p role="status" { (T::unsubscribed(kind)) }
                p { (T::UNSUBSCRIBE_AGAIN) }
            };
            Ok(view::page(T::UNSUBSCRIBE_TITLE, None, body).into_response())
        }
        Err(status) if status.code() == Code::InvalidArgument => {
            let body = html! { p role="alert" { (T::UNSUBSCRIBE_BAD_LINK) } };
            Ok(view::refused(view::page(T::UNSUBSCRIBE_TITLE, None, body)))
        }
        Err(status) => Err(status.into()),
    }
}
