//! The reemploi web app: server-rendered French pages for site managers,
//! ESS structures and the territory admin, on the public gRPC API. It keeps
//! no business data: a person's session (the identity service's tokens) lives
//! in one encrypted cookie, and every page is built from API calls made with
//! that person's own token, so the services' checks are the only checks.
//! The one page it keeps, a site's, is kept for that token alone and only
//! while the events say it still holds ([`pages_kept`]).
#![forbid(unsafe_code)]

mod args;
mod backend;
mod chart;
pub mod client;
mod csv;
mod error;
mod form;
mod format;
mod headers;
mod map;
mod pages;
pub mod pages_kept;
mod routes;
pub mod session;
pub mod text;
mod trace;
mod view;

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use args::{ApiArgs, Endpoints, WebArgs};
pub use backend::Backend;
pub use error::{SetupError, WebError};
use pages_kept::PagesKept;
use session::{CookiePolicy, Refresher, Sealer};

/// What every request handler shares: the API channels, the cookie key and
/// how cookies are set. Cheap to clone.
#[derive(Clone)]
pub struct WebState {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    sealer: Sealer,
    cookies: CookiePolicy,
    refresher: Refresher,
    /// Set once, when the web app is given a bus to follow; until then
    /// (or without one) every view is rendered.
    pages: std::sync::OnceLock<PagesKept>,
}

impl std::fmt::Debug for WebState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebState")
            .field("secure_cookies", &self.inner.cookies.secure)
            .finish_non_exhaustive()
    }
}

impl WebState {
    /// The state for `args`, reaching the API at `endpoints`. The cookie key
    /// is `--cookie-key`, else the one in `<data_dir>/web-key` (made, mode
    /// 0600, on the first start). Connections to the API are opened on first
    /// use, so the web app starts while the API is still starting.
    pub fn new(args: &WebArgs, endpoints: &Endpoints, data_dir: &Path) -> Result<Self, SetupError> {
        let key = args::cookie_key(args, data_dir)?;
        Ok(WebState {
            inner: Arc::new(Inner {
                backend: Backend::connect(endpoints)?,
                sealer: Sealer::new(&key),
                cookies: CookiePolicy {
                    secure: args.secure(),
                },
                refresher: Refresher::default(),
                pages: std::sync::OnceLock::new(),
            }),
        })
    }

    /// Keeps rendered site pages while `bus` tells which sites change and
    /// which tokens are revoked, until `stop` (see [`pages_kept`]).
    /// Without it, every page is rendered.
    pub async fn keep_pages(
        &self,
        bus: &dyn reemploi_events::Bus,
        stop: CancellationToken,
    ) -> Result<(), SetupError> {
        if self.inner.pages.get().is_some() {
            return Ok(());
        }
        let readers = stop.child_token();
        let pages = PagesKept::following(bus, readers.clone()).await?;
        // Set once: a call that lost a race stops its own readers.
        if self.inner.pages.set(pages).is_err() {
            readers.cancel();
        }
        Ok(())
    }

    pub(crate) fn backend(&self) -> &Backend {
        &self.inner.backend
    }

    pub(crate) fn sealer(&self) -> &Sealer {
        &self.inner.sealer
    }

    pub(crate) fn cookies(&self) -> &CookiePolicy {
        &self.inner.cookies
    }

    pub(crate) fn refresher(&self) -> &Refresher {
        &self.inner.refresher
    }

    pub(crate) fn pages(&self) -> Option<&PagesKept> {
        self.inner.pages.get()
    }
}

/// Every page of the web app, with the session and security-header layers.
pub fn router(state: WebState) -> Router {
    let pages = routes::everyone()
        .merge(routes::admin())
        .merge(routes::site_manager())
        .merge(routes::partner())
        .merge(routes::imports())
        .fallback(pages::home::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            session::layer,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            forms_posted,
        ));
    // Static files stay outside the session layer: a stylesheet request
    // must never spend a refresh token.
    Router::new()
        .route("/static/app.css", get(pages::assets::css))
        .route("/static/app.js", get(pages::assets::js))
        .merge(pages)
        .layer(axum::middleware::from_fn(headers::secure))
        .layer(axum::middleware::from_fn(trace::span))
        .with_state(state)
}

/// After a form is posted, which may change anything, no page kept before
/// is served again to the session that posted it, on any replica: the
/// time is set in a cookie of its own (see [`pages_kept`]), by every
/// replica, whether it keeps pages itself or not.
async fn forms_posted(
    axum::extract::State(state): axum::extract::State<WebState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let writes = !matches!(
        *request.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    let mut response = next.run(request).await;
    if writes {
        let cookie = state.cookies().set(
            pages_kept::WRITTEN_COOKIE,
            &pages_kept::now_ms().to_string(),
            pages_kept::WRITTEN_COOKIE_SECS,
        );
        if let Ok(value) = axum::http::HeaderValue::from_str(&cookie) {
            response
                .headers_mut()
                .append(axum::http::header::SET_COOKIE, value);
        }
    }
    response
}

/// Serves the web app on `listener` until `shutdown` is cancelled, then lets
/// requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    state: WebState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    // The peer address of each request, forwarded to the identity service.
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}
