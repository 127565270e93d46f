//! The web app's paths, one group per audience; `router` in `lib.rs`
//! merges them under the session layer. A group says who the pages are
//! for, not who may use them: each handler checks the role itself.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::WebState;
use crate::pages::{
    access, accounts, admin, auth, declare, figures, home, imports, notifications, partner, plan,
    profile, receipt, recommend, site_edit, site_lot, sites, unsubscribe,
};

type Routes = Router<WebState>;

/// Signing in, up and out, and the links the identity and notification
/// services mail.
pub fn everyone() -> Routes {
    Router::new()
        .route("/", get(home::home))
        .route("/connexion", get(auth::sign_in_form).post(auth::sign_in))
        .route("/deconnexion", post(auth::sign_out))
        .route(
            "/invitation",
            get(access::invitation_form).post(access::accept_invitation),
        )
        .route(
            "/mot-de-passe/oublie",
            get(access::forgot_form).post(access::forgot),
        )
        .route(
            "/mot-de-passe/nouveau",
            get(access::reset_form).post(access::reset),
        )
        .route("/inscription", get(auth::sign_up_form).post(auth::sign_up))
        // The link of every notification email; no sign-in needed.
        .route(
            unsubscribe::PATH,
            get(unsubscribe::unsubscribe_form).post(unsubscribe::unsubscribe),
        )
        // Site managers and structures alike: the API says whose it is.
        .route(
            "/bons/{site}/{lot}/{claim}/{receipt}",
            get(receipt::receipt_page),
        )
        // Whoever receives notifications: the API says whose they are.
        .route("/notifications", get(notifications::notifications))
        .route("/notifications/lues", post(notifications::mark_all_read))
        .route("/notifications/compte", get(notifications::unread))
}

/// The territory admin: structures, accounts and the figures (which site
/// managers may read too, for their organisation's sites).
pub fn admin() -> Routes {
    Router::new()
        .route("/chiffres", get(figures::figures))
        .route("/chiffres.csv", get(figures::figures_csv))
        .route("/partenaires", get(admin::partners))
        .route(
            "/partenaires/{partner}/{action}",
            post(admin::partner_action),
        )
        .route("/comptes", get(accounts::accounts))
        .route("/comptes/inviter", post(accounts::invite))
        .route("/comptes/{account}/desactiver", post(accounts::disable))
}

/// Site managers: sites, their lots, claims and plan.
pub fn site_manager() -> Routes {
    Router::new()
        .route("/chantiers", get(sites::sites))
        .route(
            "/chantiers/nouveau",
            get(site_edit::new_form).post(site_edit::create),
        )
        .route("/chantiers/{site}", get(sites::site))
        .route(
            "/chantiers/{site}/modifier",
            get(site_edit::edit_form).post(site_edit::update),
        )
        .route("/chantiers/{site}/plan", get(plan::plan))
        .route("/chantiers/{site}/publier", post(sites::publish_drafts))
        .route("/chantiers/{site}/lots/{lot}", get(site_lot::lot_page))
        .route(
            "/chantiers/{site}/lots/{lot}/retirer",
            post(site_lot::withdraw),
        )
        .route(
            "/chantiers/{site}/lots/{lot}/reservations/{claim}/{action}",
            post(site_lot::claim_action),
        )
}

/// ESS structures: their profile, lots near them, claims, recommendations.
pub fn partner() -> Routes {
    Router::new()
        .route(
            "/structure",
            get(partner::register_form).post(partner::register),
        )
        .route("/structure/profil", post(profile::update))
        .route("/lots", get(partner::lots))
        .route("/lots/{site}/{lot}", get(partner::lot).post(partner::claim))
        .route("/mes-reservations", get(partner::claims))
        .route(
            "/reservations/{site}/{lot}/{claim}",
            get(partner::claim_page),
        )
        .route(
            "/reservations/{site}/{lot}/{claim}/annuler",
            post(partner::cancel),
        )
        .route(
            "/reservations/{site}/{lot}/{claim}/devenir",
            post(declare::declare_outcome),
        )
        .route(
            "/reservations/{site}/{lot}/{claim}/heures",
            post(declare::declare_hours),
        )
        .route("/recommandations", get(recommend::recommendations))
}

/// Imports by upload, previewed before anything is saved: the uploads and
/// their confirmations (which carry the file back) get larger bodies.
pub fn imports() -> Routes {
    Router::new()
        .route(
            "/chantiers/{site}/diagnostic",
            get(imports::diagnostic_form)
                .post(imports::diagnostic_preview)
                .layer(DefaultBodyLimit::max(imports::UPLOAD_LIMIT)),
        )
        .route(
            "/chantiers/{site}/diagnostic/creer",
            post(imports::diagnostic_create).layer(DefaultBodyLimit::max(imports::CONFIRM_LIMIT)),
        )
        .route(
            "/partenaires/import",
            get(imports::directory_form)
                .post(imports::directory_preview)
                .layer(DefaultBodyLimit::max(imports::UPLOAD_LIMIT)),
        )
        .route(
            "/partenaires/import/creer",
            post(imports::directory_create).layer(DefaultBodyLimit::max(imports::CONFIRM_LIMIT)),
        )
}
