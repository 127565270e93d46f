//! Sign-in, sign-out and the sign-up of an ESS structure.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use reemploi_proto::identity as idpb;
use tonic::Code;

use super::{judged, with_cookies};
use crate::WebState;
use crate::client::ClientIp;
use crate::error::{WebError, redirect};
use crate::form::Fields;
use crate::session::{
    Auth, CSRF_COOKIE, MaybeAuth, PreSession, PreSessionForm, SESSION_COOKIE, Session,
    clear_cookie, new_token, safe_next,
};
use crate::text::T;
use crate::view::{self, Errors};

/// The token of the forms shown before sign-in, and the cookie to set when
/// it is new.
pub(super) fn pre_token(
    state: &WebState,
    token: Option<String>,
) -> Result<(String, Vec<String>), WebError> {
    match token {
        Some(token) => Ok((token, Vec::new())),
        None => {
            let token = new_token();
            let cookie = state.cookies().csrf(state.sealer(), &token)?;
            Ok((token, vec![cookie]))
        }
    }
}

/// Where to go after sign-in: a same-site path, else home.
fn next_of(fields: &Fields) -> String {
    fields
        .get("next")
        .filter(|n| safe_next(n))
        .unwrap_or("/")
        .to_owned()
}

/// GET `/connexion?next=…`.
pub async fn sign_in_form(
    State(state): State<WebState>,
    MaybeAuth(session): MaybeAuth,
    PreSession(token): PreSession,
    uri: Uri,
) -> Result<Response, WebError> {
    let next = next_of(&Fields::from_query(uri.query()));
    if session.is_some() {
        return Ok(redirect(&next));
    }
    let (token, cookies) = pre_token(&state, token)?;
    let body = sign_in_body(&token, &next, "", &Errors::default());
    let page = view::page(T::SIGN_IN_TITLE, None, body).into_response();
    Ok(with_cookies(page, &cookies))
}

fn sign_in_body(csrf: &str, next: &str, email: &str, errors: &Errors) -> Markup {
    html! {
        (errors.summary())
        form.stack method="post" action="/connexion" {
            (view::csrf(csrf))
            input type="hidden" name="next" value=(next);
            (view::input("email", T::EMAIL, "email", email, errors))
            (view::input("password", T::PASSWORD, "password", "", errors))
            button type="submit" { (T::SIGN_IN_BUTTON) }
        }
        p { a href="/mot-de-passe/oublie" { (T::FORGOT_LINK) } }
        p { (T::NO_ACCOUNT) " " a href="/inscription" { (T::SIGN_UP_LINK) } }
    }
}

/// POST `/connexion`: signs in with the identity service and keeps its
/// tokens in the session cookie.
pub async fn sign_in(
    State(state): State<WebState>,
    client: ClientIp,
    PreSessionForm { form, csrf }: PreSessionForm,
) -> Result<Response, WebError> {
    let next = next_of(&form);
    let email = form.text("email");
    let answer = state
        .backend()
        .identity()
        .sign_in(client.request(idpb::SignInRequest {
            email: email.clone(),
            password: form.get("password").unwrap_or_default().to_owned(),
        }))
        .await;
    match answer {
        Ok(answer) => start_session(&state, answer.into_inner(), &next),
        Err(status) if matches!(status.code(), Code::Unauthenticated | Code::InvalidArgument) => {
            let errors = Errors(vec![("email".into(), T::SIGN_IN_FAILED.into())]);
            let page = view::page(
                T::SIGN_IN_TITLE,
                None,
                sign_in_body(&csrf, &next, &email, &errors),
            );
            Ok((StatusCode::UNAUTHORIZED, page).into_response())
        }
        Err(status) => Err(status.into()),
    }
}

/// Sets the session cookie (with a CSRF token of its own: the pre-session
/// one is dropped) and goes to `next`.
pub(super) fn start_session(
    state: &WebState,
    answer: idpb::Session,
    next: &str,
) -> Result<Response, WebError> {
    let session = Session::from_proto(answer, new_token())?;
    let cookie = state.cookies().session(state.sealer(), &session)?;
    Ok(with_cookies(
        redirect(next),
        &[cookie, clear_cookie(CSRF_COOKIE)],
    ))
}

/// POST `/deconnexion`: ends the session at the identity service, then
/// forgets it here.
pub async fn sign_out(
    State(state): State<WebState>,
    Auth(session): Auth,
    body: Bytes,
) -> Result<Response, WebError> {
    session.check_csrf(Fields::from_body(&body).csrf())?;
    let ended = state
        .backend()
        .identity()
        .sign_out(idpb::SignOutRequest {
            refresh_token: session.refresh_token.clone(),
        })
        .await;
    match ended {
        // Already ended elsewhere: forgetting it here is all that is left.
        Ok(_) => {}
        Err(status) if status.code() == Code::Unauthenticated => {}
        // The session still works at the identity service: keep the cookie
        // so that the person can try again.
        Err(status) => return Err(status.into()),
    }
    Ok(with_cookies(
        redirect("/connexion"),
        &[clear_cookie(SESSION_COOKIE)],
    ))
}

/// GET `/inscription`.
pub async fn sign_up_form(
    State(state): State<WebState>,
    MaybeAuth(session): MaybeAuth,
    PreSession(token): PreSession,
) -> Result<Response, WebError> {
    if session.is_some() {
        return Ok(redirect("/"));
    }
    let (token, cookies) = pre_token(&state, token)?;
    let body = sign_up_body(&token, &Fields::default(), &Errors::default());
    let page = view::page(T::SIGN_UP_TITLE, None, body).into_response();
    Ok(with_cookies(page, &cookies))
}

fn sign_up_body(csrf: &str, form: &Fields, errors: &Errors) -> Markup {
    html! {
        p { (T::SIGN_UP_INTRO) }
        (errors.summary())
        form.stack method="post" action="/inscription" {
            (view::csrf(csrf))
            (view::input("structure_name", T::STRUCTURE_NAME, "text", &form.text("structure_name"), errors))
            (view::input("display_name", T::DISPLAY_NAME, "text", &form.text("display_name"), errors))
            (view::input("email", T::EMAIL, "email", &form.text("email"), errors))
            (view::field("password", T::PASSWORD, "password", "", Some(T::PASSWORD_HINT), errors))
            button type="submit" { (T::SIGN_UP_BUTTON) }
        }
    }
}

/// POST `/inscription`: creates the structure's first account, signs in,
/// and goes on to describe the structure.
pub async fn sign_up(
    State(state): State<WebState>,
    client: ClientIp,
    PreSessionForm { form, csrf }: PreSessionForm,
) -> Result<Response, WebError> {
    let answer = state
        .backend()
        .identity()
        .sign_up(client.request(idpb::SignUpRequest {
            email: form.text("email"),
            password: form.get("password").unwrap_or_default().to_owned(),
            display_name: form.text("display_name"),
            structure_name: form.text("structure_name"),
        }))
        .await;
    judged(
        answer,
        "email",
        |session| start_session(&state, session, "/structure"),
        |errors| view::page(T::SIGN_UP_TITLE, None, sign_up_body(&csrf, &form, errors)),
    )
}
