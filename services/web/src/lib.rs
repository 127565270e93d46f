//! The reemploi web app: server-rendered French pages for site managers,
//! ESS structures and the territory admin, on the public gRPC API. It keeps
//! no business data: a person's session (the identity service's tokens) lives
//! in one encrypted cookie, and every page is built from API calls made with
//! that person's own token, so the services' checks are the only checks.
#![forbid(unsafe_code)]

mod args;
mod backend;
pub mod client;
mod error;
mod form;
mod format;
mod headers;
mod map;
mod pages;
pub mod session;
pub mod text;
mod view;

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
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
    let pages = Router::new()
        .route("/", get(pages::home::home))
        .route(
            "/connexion",
            get(pages::auth::sign_in_form).post(pages::auth::sign_in),
        )
        .route("/deconnexion", post(pages::auth::sign_out))
        .route(
            "/invitation",
            get(pages::access::invitation_form).post(pages::access::accept_invitation),
        )
        .route(
            "/mot-de-passe/oublie",
            get(pages::access::forgot_form).post(pages::access::forgot),
        )
        .route(
            "/mot-de-passe/nouveau",
            get(pages::access::reset_form).post(pages::access::reset),
        )
        .route(
            "/inscription",
            get(pages::auth::sign_up_form).post(pages::auth::sign_up),
        )
        .route(
            "/structure",
            get(pages::partner::register_form).post(pages::partner::register),
        )
        .route("/partenaires", get(pages::admin::partners))
        .route(
            "/partenaires/{partner}/{action}",
            post(pages::admin::partner_action),
        )
        .route("/comptes", get(pages::accounts::accounts))
        .route("/comptes/inviter", post(pages::accounts::invite))
        .route(
            "/comptes/{account}/desactiver",
            post(pages::accounts::disable),
        )
        .route("/chantiers", get(pages::sites::sites))
        .route(
            "/chantiers/nouveau",
            get(pages::site_edit::new_form).post(pages::site_edit::create),
        )
        .route("/chantiers/{site}", get(pages::sites::site))
        .route(
            "/chantiers/{site}/modifier",
            get(pages::site_edit::edit_form).post(pages::site_edit::update),
        )
        .route("/chantiers/{site}/plan", get(pages::plan::plan))
        .route(
            "/chantiers/{site}/publier",
            post(pages::sites::publish_drafts),
        )
        .route(
            "/chantiers/{site}/lots/{lot}",
            get(pages::site_lot::lot_page),
        )
        .route(
            "/chantiers/{site}/lots/{lot}/retirer",
            post(pages::site_lot::withdraw),
        )
        .route(
            "/chantiers/{site}/lots/{lot}/reservations/{claim}/{action}",
            post(pages::site_lot::claim_action),
        )
        .route(
            "/chantiers/{site}/lots/{lot}/publier",
            post(pages::sites::publish),
        )
        .route("/lots", get(pages::partner::lots))
        .route(
            "/lots/{site}/{lot}",
            get(pages::partner::lot).post(pages::partner::claim),
        )
        .route("/mes-reservations", get(pages::partner::claims))
        .route(
            "/reservations/{site}/{lot}/{claim}",
            get(pages::partner::claim_page),
        )
        // The partner section's filters and map live on /lots; these add
        // cancelling a claim, recommendations and editing the profile.
        .route(
            "/reservations/{site}/{lot}/{claim}/annuler",
            post(pages::partner::cancel),
        )
        .route("/recommandations", get(pages::recommend::recommendations))
        .route("/structure/profil", post(pages::profile::update))
        // Imports by upload (pages::imports), previewed before anything is saved.
        .route(
            "/chantiers/{site}/diagnostic",
            get(pages::imports::diagnostic_form)
                .post(pages::imports::diagnostic_preview)
                .layer(DefaultBodyLimit::max(pages::imports::UPLOAD_LIMIT)),
        )
        .route(
            "/chantiers/{site}/diagnostic/creer",
            post(pages::imports::diagnostic_create)
                .layer(DefaultBodyLimit::max(pages::imports::CONFIRM_LIMIT)),
        )
        .route(
            "/partenaires/import",
            get(pages::imports::directory_form)
                .post(pages::imports::directory_preview)
                .layer(DefaultBodyLimit::max(pages::imports::UPLOAD_LIMIT)),
        )
        .route(
            "/partenaires/import/creer",
            post(pages::imports::directory_create)
                .layer(DefaultBodyLimit::max(pages::imports::CONFIRM_LIMIT)),
        )
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
