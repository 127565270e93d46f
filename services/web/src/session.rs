//! Sessions: the identity service's tokens in one cookie, encrypted and
//! authenticated with XChaCha20-Poly1305, renewed silently before the access
//! token expires; and the CSRF tokens every form carries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use reemploi_proto::identity as idpb;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;
use tonic::Code;

use crate::WebState;
use crate::backend::Backend;
use crate::client::ClientIp;
use crate::error::WebError;

/// The cookie holding the session.
pub const SESSION_COOKIE: &str = "reemploi_session";
/// The cookie holding the CSRF token of forms shown before sign-in.
pub const CSRF_COOKIE: &str = "reemploi_csrf";
/// The hidden form field carrying the CSRF token.
pub const CSRF_FIELD: &str = "csrf";
/// The access token is renewed when it has less than this left.
pub const REFRESH_MARGIN_SECS: i64 = 60;
/// How long a pre-session CSRF cookie lives.
const CSRF_COOKIE_SECS: i64 = 2 * 3600;
/// How long the answer to a refresh is kept for requests that arrive with
/// the same (now spent) refresh token: a page and its neighbour tab racing.
const REFRESH_MEMORY: Duration = Duration::from_secs(120);
const NONCE_BYTES: usize = 24;

/// What an account may do, as the pages need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// Manages the sites of one organisation.
    SiteManager,
    /// Staff of one ESS structure.
    Partner,
    /// Territory admin.
    Admin,
    /// Another platform.
    Integrator,
}

/// Who is signed in, as the identity service described the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// `accounts/{account}`.
    pub name: String,
    /// Email.
    pub email: String,
    /// How the person is shown.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// Organisation of a site manager.
    pub org: String,
    /// `partners/{partner}` of a partner's staff.
    pub partner: String,
}

/// The contents of the session cookie.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The account.
    pub account: Account,
    /// The bearer token of API calls.
    pub access_token: String,
    /// When it expires (seconds since the epoch).
    pub access_expires: i64,
    /// The token that renews the session, usable once.
    pub refresh_token: String,
    /// When it expires (seconds since the epoch).
    pub refresh_expires: i64,
    /// The CSRF token of this session's forms.
    pub csrf: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("account", &self.account.name)
            .field("access_expires", &self.access_expires)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// The session the identity service answered with, keeping `csrf`.
    pub fn from_proto(session: idpb::Session, csrf: String) -> Result<Session, WebError> {
        let account = session
            .account
            .ok_or_else(|| WebError::Internal("a session without its account".into()))?;
        let role = match idpb::AccountRole::try_from(account.role) {
            Ok(idpb::AccountRole::SiteManager) => Role::SiteManager,
            Ok(idpb::AccountRole::Partner) => Role::Partner,
            Ok(idpb::AccountRole::Admin) => Role::Admin,
            Ok(idpb::AccountRole::Integrator) => Role::Integrator,
            Ok(idpb::AccountRole::Unspecified) | Err(_) => {
                return Err(WebError::Internal("an account without a role".into()));
            }
        };
        let seconds = |t: Option<prost_types::Timestamp>| t.map_or(0, |t| t.seconds);
        Ok(Session {
            account: Account {
                name: account.name,
                email: account.email,
                display_name: account.display_name,
                role,
                org: account.org,
                partner: account.partner,
            },
            access_token: session.access_token,
            access_expires: seconds(session.access_token_expire_time),
            refresh_token: session.refresh_token,
            refresh_expires: seconds(session.refresh_token_expire_time),
            csrf,
        })
    }

    /// Whether the access token is expired or about to be.
    pub fn needs_refresh(&self, now: i64) -> bool {
        self.access_expires - now <= REFRESH_MARGIN_SECS
    }

    /// Refuses a form whose CSRF token is not this session's.
    pub fn check_csrf(&self, sent: Option<&str>) -> Result<(), WebError> {
        check_csrf(Some(&self.csrf), sent)
    }
}

/// Refuses unless `sent` is present and equal to `expected`.
pub fn check_csrf(expected: Option<&str>, sent: Option<&str>) -> Result<(), WebError> {
    match (expected, sent) {
        (Some(expected), Some(sent)) if !expected.is_empty() && same(expected, sent) => Ok(()),
        _ => Err(WebError::Csrf),
    }
}

/// Equality in a time that does not depend on where the strings differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A fresh random token (CSRF, request ids of forms).
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Encrypts and authenticates cookie values. Each value is bound to its
/// cookie's name, so one cookie's value does not open as another's.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl Sealer {
    /// A sealer with a 32-byte key.
    pub fn new(key: &[u8; 32]) -> Sealer {
        Sealer {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// base64url(nonce ‖ ciphertext) of `plaintext` for cookie `name`.
    pub fn seal(&self, name: &str, plaintext: &[u8]) -> Result<String, WebError> {
        let nonce: [u8; NONCE_BYTES] = rand::random();
        let sealed = self
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: name.as_bytes(),
                },
            )
            .map_err(|_| WebError::Internal("cannot seal a cookie".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    /// The plaintext of a value [`Sealer::seal`] made for `name`; `None` if
    /// it was altered, made with another key or for another cookie.
    pub fn open(&self, name: &str, value: &str) -> Option<Vec<u8>> {
        let bytes = URL_SAFE_NO_PAD.decode(value).ok()?;
        if bytes.len() < NONCE_BYTES {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().ok()?;
        self.cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: name.as_bytes(),
                },
            )
            .ok()
    }

    /// The session cookie's value.
    pub fn seal_session(&self, session: &Session) -> Result<String, WebError> {
        let json = serde_json::to_vec(session)
            .map_err(|e| WebError::Internal(format!("cannot encode a session: {e}")))?;
        self.seal(SESSION_COOKIE, &json)
    }

    /// The session in a session cookie's value.
    pub fn open_session(&self, value: &str) -> Option<Session> {
        serde_json::from_slice(&self.open(SESSION_COOKIE, value)?).ok()
    }
}

/// How cookies are set.
#[derive(Debug, Clone, Copy)]
pub struct CookiePolicy {
    /// Whether cookies are sent over https only.
    pub secure: bool,
}

impl CookiePolicy {
    /// `Set-Cookie` of `name=value` for `max_age` seconds: HttpOnly (no
    /// script reads it), SameSite=Lax (not sent on cross-site POSTs), the
    /// whole site.
    pub fn set(&self, name: &str, value: &str, max_age: i64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{name}={value}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
            max_age.max(0)
        )
    }

    /// `Set-Cookie` of a session, living as long as its refresh token.
    pub fn session(&self, sealer: &Sealer, session: &Session) -> Result<String, WebError> {
        let value = sealer.seal_session(session)?;
        Ok(self.set(SESSION_COOKIE, &value, session.refresh_expires - now()))
    }

    /// `Set-Cookie` of a new pre-session CSRF token.
    pub fn csrf(&self, sealer: &Sealer, token: &str) -> Result<String, WebError> {
        let value = sealer.seal(CSRF_COOKIE, token.as_bytes())?;
        Ok(self.set(CSRF_COOKIE, &value, CSRF_COOKIE_SECS))
    }
}

/// `Set-Cookie` that removes cookie `name`.
pub fn clear_cookie(name: &str) -> String {
    format!("{name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax")
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// Whether `next` is a path of this site: it starts with one `/` and leads
/// nowhere else (no `//host`, no `/\host` that some browsers read so).
pub fn safe_next(next: &str) -> bool {
    next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(|c| c.is_control() || c == '\\')
}

/// Renews sessions, once per refresh token: requests that arrive together
/// with the same token (two tabs, a page and a form) get the same new
/// session, instead of the second spending a used token, which the identity
/// service takes as theft and answers by ending the session.
#[derive(Default)]
pub struct Refresher {
    recent: Mutex<HashMap<[u8; 32], (Instant, Renewal)>>,
}

/// The one renewal of a refresh token, shared by the requests that carry it.
type Renewal = Arc<OnceCell<Session>>;

impl Refresher {
    /// The session renewed from `old`'s refresh token.
    pub async fn refresh(
        &self,
        backend: &Backend,
        old: &Session,
        client: ClientIp,
    ) -> Result<Session, tonic::Status> {
        let cell = self.slot(&old.refresh_token);
        let renewed = cell
            .get_or_try_init(|| async {
                let answer = backend
                    .identity()
                    .refresh(client.request(idpb::RefreshRequest {
                        refresh_token: old.refresh_token.clone(),
                    }))
                    .await?
                    .into_inner();
                Session::from_proto(answer, old.csrf.clone())
                    .map_err(|e| tonic::Status::internal(e.to_string()))
            })
            .await?;
        Ok(renewed.clone())
    }

    fn slot(&self, refresh_token: &str) -> Renewal {
        let key: [u8; 32] = Sha256::digest(refresh_token.as_bytes()).into();
        let mut recent = match self.recent.lock() {
            Ok(guard) => guard,
            // A panic while holding the map leaves it usable: it holds no invariant.
            Err(poisoned) => poisoned.into_inner(),
        };
        recent.retain(|_, (at, _)| at.elapsed() < REFRESH_MEMORY);
        recent
            .entry(key)
            .or_insert_with(|| (Instant::now(), Arc::new(OnceCell::new())))
            .1
            .clone()
    }
}

/// Opens the session cookie, renews the session when its access token is
/// (nearly) expired, and hands the session to the page; sets the renewed
/// cookie, or clears one that no longer opens or whose session ended.
pub async fn layer(State(state): State<WebState>, mut request: Request, next: Next) -> Response {
    let client = ClientIp::of(request.extensions());
    let (session, cookie) = current(&state, request.headers(), client).await;
    if let Some(session) = session {
        request.extensions_mut().insert(session);
    }
    // A page read with a session the API no longer accepts (signed out
    // elsewhere, revoked) sends to sign-in: back here afterwards.
    let wanted = (request.method() == axum::http::Method::GET)
        .then(|| {
            request
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_owned())
        })
        .flatten();
    let mut response = next.run(request).await;
    if let Some(wanted) = wanted {
        come_back_to(&mut response, &wanted);
    }
    // A page that set the session itself (sign-in, sign-out) has the last word.
    if let Some(cookie) = cookie.filter(|_| !sets_cookie(&response, SESSION_COOKIE))
        && let Ok(value) = HeaderValue::from_str(&cookie)
    {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

async fn current(
    state: &WebState,
    headers: &HeaderMap,
    client: ClientIp,
) -> (Option<Session>, Option<String>) {
    let Some(raw) = cookie_value(headers, SESSION_COOKIE) else {
        return (None, None);
    };
    let Some(session) = state.sealer().open_session(raw) else {
        return (None, Some(clear_cookie(SESSION_COOKIE)));
    };
    if !session.needs_refresh(now()) {
        return (Some(session), None);
    }
    match state
        .refresher()
        .refresh(state.backend(), &session, client)
        .await
    {
        Ok(renewed) => match state.cookies().session(state.sealer(), &renewed) {
            Ok(cookie) => (Some(renewed), Some(cookie)),
            Err(e) => {
                tracing::error!(error = %e, "cannot set a renewed session");
                (None, None)
            }
        },
        Err(status) => match status.code() {
            // The session ended (signed out, revoked, expired): sign in again.
            Code::Unauthenticated
            | Code::InvalidArgument
            | Code::PermissionDenied
            | Code::NotFound
            | Code::FailedPrecondition => (None, Some(clear_cookie(SESSION_COOKIE))),
            // The identity service is out of reach: keep the session; the
            // page's own calls will say whether its token still works.
            Code::Ok
            | Code::Cancelled
            | Code::Unknown
            | Code::DeadlineExceeded
            | Code::AlreadyExists
            | Code::ResourceExhausted
            | Code::Aborted
            | Code::OutOfRange
            | Code::Unimplemented
            | Code::Internal
            | Code::Unavailable
            | Code::DataLoss => {
                tracing::warn!(code = ?status.code(), "cannot renew a session");
                (Some(session), None)
            }
        },
    }
}

/// Makes a bare redirect to sign-in come back to `wanted` afterwards.
fn come_back_to(response: &mut Response, wanted: &str) {
    let bare = response
        .headers()
        .get(header::LOCATION)
        .is_some_and(|l| l.as_bytes() == b"/connexion");
    // Home is where sign-in goes anyway.
    if bare && wanted != "/" && safe_next(wanted) {
        let redirect = crate::error::sign_in_redirect(Some(wanted));
        if let Some(location) = redirect.headers().get(header::LOCATION) {
            response
                .headers_mut()
                .insert(header::LOCATION, location.clone());
        }
    }
}

fn sets_cookie(response: &Response, name: &str) -> bool {
    let prefix = format!("{name}=");
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|v| v.as_bytes().starts_with(prefix.as_bytes()))
}

/// A page that needs a session; without one it sends the person to sign in
/// and back here.
#[derive(Debug, Clone)]
pub struct Auth(pub Session);

impl FromRequestParts<WebState> for Auth {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, _: &WebState) -> Result<Self, WebError> {
        match parts.extensions.get::<Session>() {
            Some(session) => Ok(Auth(session.clone())),
            None => {
                // After sign-in the browser GETs `next`: only a page it got
                // by GET can be returned to.
                let next = (parts.method == Method::GET || parts.method == Method::HEAD)
                    .then(|| parts.uri.path_and_query().map(|p| p.as_str().to_owned()))
                    .flatten();
                Err(WebError::SignIn { next })
            }
        }
    }
}

/// The session, if any, for pages open to everyone (their header says who
/// is signed in).
#[derive(Debug, Clone)]
pub struct MaybeAuth(pub Option<Session>);

impl FromRequestParts<WebState> for MaybeAuth {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _: &WebState,
    ) -> Result<Self, std::convert::Infallible> {
        Ok(MaybeAuth(parts.extensions.get::<Session>().cloned()))
    }
}

/// The CSRF token of the forms shown before sign-in, from its cookie.
#[derive(Debug, Clone)]
pub struct PreSession(pub Option<String>);

impl FromRequestParts<WebState> for PreSession {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &WebState,
    ) -> Result<Self, std::convert::Infallible> {
        let token = cookie_value(&parts.headers, CSRF_COOKIE)
            .and_then(|raw| state.sealer().open(CSRF_COOKIE, raw))
            .and_then(|bytes| String::from_utf8(bytes).ok());
        Ok(PreSession(token))
    }
}

/// A form posted before sign-in, whose token matched the pre-session
/// cookie's: the page refuses any other with 403 before calling anything.
#[derive(Debug)]
pub struct PreSessionForm {
    /// The form's fields.
    pub form: crate::form::Fields,
    /// The token, for the form shown again.
    pub csrf: String,
}

impl FromRequest<WebState> for PreSessionForm {
    type Rejection = WebError;

    async fn from_request(request: Request, state: &WebState) -> Result<Self, WebError> {
        let (mut parts, body) = request.into_parts();
        let Ok(PreSession(token)) = PreSession::from_request_parts(&mut parts, state).await;
        let body = axum::body::Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|e| WebError::BadRequest(e.body_text()))?;
        let form = crate::form::Fields::from_body(&body);
        check_csrf(token.as_deref(), form.csrf())?;
        Ok(PreSessionForm {
            form,
            csrf: token.unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_unaltered_with_its_key_and_name() {
        let sealer = Sealer::new(&[1; 32]);
        let sealed = sealer.seal("a", b"secret").unwrap();
        assert!(!sealed.contains("secret"));
        assert_eq!(sealer.open("a", &sealed).unwrap(), b"secret");
        assert!(sealer.open("b", &sealed).is_none());
        assert!(Sealer::new(&[2; 32]).open("a", &sealed).is_none());
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 1;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        assert!(
            sealer
                .open("a", &String::from_utf8(altered).unwrap())
                .is_none()
        );
    }

    #[test]
    fn only_same_site_paths_are_returned_to() {
        assert!(safe_next("/chantiers/abc?x=1"));
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "chantiers",
            "",
        ] {
            assert!(!safe_next(bad), "{bad}");
        }
    }

    #[test]
    fn csrf_tokens_must_be_present_and_equal() {
        assert!(check_csrf(Some("abc"), Some("abc")).is_ok());
        assert!(check_csrf(Some("abc"), Some("abd")).is_err());
        assert!(check_csrf(Some("abc"), None).is_err());
        assert!(check_csrf(None, Some("abc")).is_err());
        assert!(check_csrf(Some(""), Some("")).is_err());
    }

    #[test]
    fn cookies_are_http_only_lax_and_secure_when_asked() {
        let plain = CookiePolicy { secure: false }.set("n", "v", 10);
        assert_eq!(plain, "n=v; Path=/; Max-Age=10; HttpOnly; SameSite=Lax");
        assert!(
            CookiePolicy { secure: true }
                .set("n", "v", 10)
                .ends_with("; Secure")
        );
    }
}
