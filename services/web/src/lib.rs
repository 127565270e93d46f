//! The reemploi web app: server-rendered French pages for site managers,
//! ESS structures and the territory admin, on the public gRPC API. It keeps
//! no business data: a person's session (the identity service's tokens) lives
//! in one encrypted cookie, and every page is built from API calls made with
//! that person's own token, so the services' checks are the only checks.
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
            }),
        })
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
