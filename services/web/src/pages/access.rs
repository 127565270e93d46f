//! The pages the identity service's mail links open: accepting an
//! invitation (which sets the password and signs in), asking for a
//! password-reset link, and setting a new password with it.

use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use reemploi_proto::identity as idpb;

use super::auth::{pre_token, start_session};
use super::{judged, with_cookies};
use crate::WebState;
use crate::client::ClientIp;
use crate::error::WebError;
use crate::form::Fields;
use crate::session::{PreSession, PreSessionForm};
use crate::text::T;
use crate::view::{self, Errors};

/// A page shown before sign-in, with the pre-session form token.
fn before_sign_in(
    state: &WebState,
    token: Option<String>,
    title: &str,
    body: impl FnOnce(&str) -> Markup,
) -> Result<Response, WebError> {
    let (token, cookies) = pre_token(state, token)?;
    let page = view::page(title, None, body(&token)).into_response();
    Ok(with_cookies(page, &cookies))
}

/// A page of these, shown before sign-in.
fn page(title: &str, body: Markup) -> Markup {
    view::page(title, None, body)
}

/// GET `/invitation?code=…`.
pub async fn invitation_form(
    State(state): State<WebState>,
    PreSession(token): PreSession,
    uri: Uri,
) -> Result<Response, WebError> {
    let code = Fields::from_query(uri.query()).text("code");
    before_sign_in(&state, token, T::INVITATION_TITLE, |csrf| {
        invitation_body(csrf, &code, "", &Errors::default())
    })
}

fn invitation_body(csrf: &str, code: &str, name: &str, errors: &Errors) -> Markup {
    html! {
        p { (T::INVITATION_INTRO) }
        (errors.summary())
        form.stack method="post" action="/invitation" {
            (view::csrf(csrf))
            input type="hidden" name="code" value=(code);
            (view::input("display_name", T::DISPLAY_NAME, "text", name, errors))
            (view::field("password", T::NEW_PASSWORD, "password", "", Some(T::PASSWORD_HINT), errors))
            button type="submit" { (T::INVITATION_BUTTON) }
        }
    }
}

/// POST `/invitation`: creates the account and signs in.
pub async fn accept_invitation(
    State(state): State<WebState>,
    client: ClientIp,
    PreSessionForm { form, csrf }: PreSessionForm,
) -> Result<Response, WebError> {
    let answer = state
        .backend()
        .identity()
        .accept_invitation(client.request(idpb::AcceptInvitationRequest {
            code: form.text("code"),
            password: form.get("password").unwrap_or_default().to_owned(),
            display_name: form.text("display_name"),
        }))
        .await;
    let (code, name) = (form.text("code"), form.text("display_name"));
    judged(
        answer,
        "display_name",
        |session| start_session(&state, session, "/"),
        |errors| {
            page(
                T::INVITATION_TITLE,
                invitation_body(&csrf, &code, &name, errors),
            )
        },
    )
}

/// GET `/mot-de-passe/oublie`.
pub async fn forgot_form(
    State(state): State<WebState>,
    PreSession(token): PreSession,
) -> Result<Response, WebError> {
    before_sign_in(&state, token, T::FORGOT_TITLE, |csrf| {
        forgot_body(csrf, "", &Errors::default())
    })
}

fn forgot_body(csrf: &str, email: &str, errors: &Errors) -> Markup {
    html! {
        p { (T::FORGOT_INTRO) }
        (errors.summary())
        form.stack method="post" action="/mot-de-passe/oublie" {
            (view::csrf(csrf))
            (view::input("email", T::EMAIL, "email", email, errors))
            button type="submit" { (T::FORGOT_BUTTON) }
        }
    }
}

/// POST `/mot-de-passe/oublie`: asks for a link; the answer is the same
/// whether the address has an account or not.
pub async fn forgot(
    State(state): State<WebState>,
    client: ClientIp,
    PreSessionForm { form, csrf }: PreSessionForm,
) -> Result<Response, WebError> {
    let email = form.text("email");
    let answer = state
        .backend()
        .identity()
        .request_password_reset(client.request(idpb::RequestPasswordResetRequest {
            email: email.clone(),
        }))
        .await;
    let sent = html! { p role="status" { (T::FORGOT_SENT) } };
    judged(
        answer,
        "email",
        |_| Ok(page(T::FORGOT_TITLE, sent).into_response()),
        |errors| page(T::FORGOT_TITLE, forgot_body(&csrf, &email, errors)),
    )
}

/// GET `/mot-de-passe/nouveau?code=…`.
pub async fn reset_form(
    State(state): State<WebState>,
    PreSession(token): PreSession,
    uri: Uri,
) -> Result<Response, WebError> {
    let code = Fields::from_query(uri.query()).text("code");
    before_sign_in(&state, token, T::RESET_TITLE, |csrf| {
        reset_body(csrf, &code, &Errors::default())
    })
}

fn reset_body(csrf: &str, code: &str, errors: &Errors) -> Markup {
    html! {
        (errors.summary())
        form.stack method="post" action="/mot-de-passe/nouveau" {
            (view::csrf(csrf))
            input type="hidden" name="code" value=(code);
            (view::field("password", T::NEW_PASSWORD, "password", "", Some(T::PASSWORD_HINT), errors))
            button type="submit" { (T::RESET_BUTTON) }
        }
    }
}

/// POST `/mot-de-passe/nouveau`: sets the password; every session of the
/// account ends, so the person signs in again.
pub async fn reset(
    State(state): State<WebState>,
    client: ClientIp,
    PreSessionForm { form, csrf }: PreSessionForm,
) -> Result<Response, WebError> {
    let answer = state
        .backend()
        .identity()
        .reset_password(client.request(idpb::ResetPasswordRequest {
            code: form.text("code"),
            password: form.get("password").unwrap_or_default().to_owned(),
        }))
        .await;
    let code = form.text("code");
    let done = html! {
        p role="status" { (T::RESET_DONE) }
        p { a href="/connexion" { (T::SIGN_IN_BUTTON) } }
    };
    judged(
        answer,
        "password",
        |_| Ok(page(T::RESET_TITLE, done).into_response()),
        |errors| page(T::RESET_TITLE, reset_body(&csrf, &code, errors)),
    )
}
