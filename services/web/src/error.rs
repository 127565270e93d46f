//! The web layer's errors and the one place they become HTTP responses.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tonic::Code;

use crate::session;
use crate::text::T;
use crate::view;

/// Why the web app cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The cookie key is malformed or its file unreadable.
    #[error("cookie key: {0}")]
    Key(String),
    /// An API address or its CA file is unusable.
    #[error("API: {0}")]
    Api(String),
    /// The event bus the pages kept follow cannot be read.
    #[error("events: {0}")]
    Events(#[from] reemploi_events::BusError),
}

/// Why a request did not get the page it asked for.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// No valid session: sign in, then come back to `next`.
    #[error("sign-in required")]
    SignIn {
        /// The same-site path to return to.
        next: Option<String>,
    },
    /// A form came without its CSRF token, or with another one.
    #[error("CSRF token missing or wrong")]
    Csrf,
    /// No such page.
    #[error("no such page")]
    NotFound,
    /// The page is for another role.
    #[error("page reserved to another role")]
    Forbidden,
    /// A request the web app cannot read (a malformed form body).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The API refused or failed.
    #[error("API: {}", .0.message())]
    Api(#[from] tonic::Status),
    /// A bug or a broken invariant of the web app itself.
    #[error("internal: {0}")]
    Internal(String),
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            WebError::SignIn { next } => sign_in_redirect(next.as_deref()),
            WebError::Csrf => page(StatusCode::FORBIDDEN, T::ERR_FORBIDDEN, T::ERR_CSRF),
            WebError::NotFound => page(
                StatusCode::NOT_FOUND,
                T::ERR_NOT_FOUND,
                T::ERR_NOT_FOUND_TEXT,
            ),
            WebError::Forbidden => page(StatusCode::FORBIDDEN, T::ERR_FORBIDDEN, T::ERR_ROLE),
            WebError::BadRequest(why) => {
                tracing::debug!(why, "bad request");
                page(
                    StatusCode::BAD_REQUEST,
                    T::ERR_BAD_REQUEST,
                    T::ERR_BAD_REQUEST_TEXT,
                )
            }
            WebError::Api(status) => api_response(&status),
            WebError::Internal(why) => {
                tracing::error!(why, "internal error");
                page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    T::ERR_INTERNAL,
                    T::ERR_INTERNAL_TEXT,
                )
            }
        }
    }
}

/// Every gRPC code, each to the page a person can act on. The API's own
/// message is English and meant for developers: the page says it in French,
/// from the stable `ErrorInfo` reason when there is one.
fn api_response(status: &tonic::Status) -> Response {
    let explained = reemploi_runtime::status::reason(status)
        .and_then(|reason| T::reason(&reason))
        .unwrap_or_default();
    let (code, title, text) = match status.code() {
        Code::Unauthenticated => {
            let mut response = sign_in_redirect(None);
            clear_session(&mut response);
            return response;
        }
        Code::PermissionDenied => (StatusCode::FORBIDDEN, T::ERR_FORBIDDEN, T::ERR_PERMISSION),
        Code::NotFound => (
            StatusCode::NOT_FOUND,
            T::ERR_NOT_FOUND,
            T::ERR_NOT_FOUND_TEXT,
        ),
        Code::InvalidArgument | Code::OutOfRange => {
            (StatusCode::BAD_REQUEST, T::ERR_BAD_REQUEST, T::ERR_INVALID)
        }
        Code::AlreadyExists | Code::FailedPrecondition | Code::Aborted => {
            (StatusCode::CONFLICT, T::ERR_CONFLICT, T::ERR_CONFLICT_TEXT)
        }
        Code::ResourceExhausted => (StatusCode::TOO_MANY_REQUESTS, T::ERR_BUSY, T::ERR_BUSY_TEXT),
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => (
            StatusCode::SERVICE_UNAVAILABLE,
            T::ERR_UNAVAILABLE,
            T::ERR_UNAVAILABLE_TEXT,
        ),
        Code::Ok | Code::Unknown | Code::Internal | Code::Unimplemented | Code::DataLoss => {
            tracing::error!(code = ?status.code(), message = status.message(), "API failure");
            (
                StatusCode::BAD_GATEWAY,
                T::ERR_INTERNAL,
                T::ERR_INTERNAL_TEXT,
            )
        }
    };
    let text = if explained.is_empty() {
        text
    } else {
        explained
    };
    page(code, title, text)
}

fn page(code: StatusCode, title: &str, text: &str) -> Response {
    (code, view::error_page(title, text)).into_response()
}

/// 303 to the sign-in page, with the page to come back to.
pub(crate) fn sign_in_redirect(next: Option<&str>) -> Response {
    let location = match next.filter(|n| session::safe_next(n)) {
        Some(next) => format!(
            "/connexion?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("next", next)
                .finish()
        ),
        None => "/connexion".to_owned(),
    };
    redirect(&location)
}

/// 303 See Other to `location` (a path of this site).
pub(crate) fn redirect(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    match HeaderValue::from_str(location) {
        Ok(value) => {
            response.headers_mut().insert(header::LOCATION, value);
        }
        Err(_) => {
            response
                .headers_mut()
                .insert(header::LOCATION, HeaderValue::from_static("/"));
        }
    }
    response
}

fn clear_session(response: &mut Response) {
    if let Ok(value) = HeaderValue::from_str(&session::clear_cookie(session::SESSION_COOKIE)) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}
