//! The home page sends each role to its pages; the fallback is the 404 page.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;

use crate::error::redirect;
use crate::session::{MaybeAuth, Role};
use crate::text::T;
use crate::view;

/// `/`: sign-in for visitors, each role's first page otherwise.
pub async fn home(MaybeAuth(session): MaybeAuth) -> Response {
    let Some(session) = session else {
        return redirect("/connexion");
    };
    match session.account.role {
        Role::Admin => redirect("/partenaires"),
        Role::SiteManager => redirect("/chantiers"),
        Role::Partner => redirect("/lots"),
        Role::Integrator => view::page(
            T::HOME_TITLE,
            Some(&session),
            html! { p { (T::HOME_INTEGRATOR) } },
        )
        .into_response(),
    }
}

/// Any other path.
pub async fn not_found(MaybeAuth(session): MaybeAuth) -> Response {
    (
        StatusCode::NOT_FOUND,
        view::page(
            T::ERR_NOT_FOUND,
            session.as_ref(),
            html! {
                p { (T::ERR_NOT_FOUND_TEXT) }
                p { a href="/" { (T::BACK_HOME) } }
            },
        ),
    )
        .into_response()
}
