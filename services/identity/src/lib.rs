//! The reemploi identity service: accounts and their sign-in (argon2id
//! passwords, EdDSA access tokens, rotating refresh tokens), invitations,
//! password resets, integrators' API tokens, and the signing keys every
//! service verifies tokens with (served as a JWKS). Publishes
//! `reemploi.identity.access.revoked`; follows the registry's partners.

pub mod accounts;
pub mod error;
pub mod events;
pub mod keys;
pub mod mail;
pub mod model;
pub mod oidc;
pub mod password;
pub mod repo;
pub mod service;
pub mod throttle;
pub mod tokens;

use std::sync::Arc;
use std::time::Duration;

use reemploi_proto::identity::identity_service_server::IdentityServiceServer;
use reemploi_proto::service_names::IDENTITY;
use reemploi_runtime::service::{Context, Prepared, Running, StartError};
use reemploi_store::Migrations;

pub use error::IdentityError;
pub use service::Identity;

use crate::keys::{Kek, Keys};
use crate::model::{Email, Grant};

/// Where the mail links point unless `--public-url` says otherwise: the web
/// app as `reemploi up` serves it by default.
pub const DEFAULT_PUBLIC_URL: &str = "http://localhost:8080";

/// The producing service's name, on subjects and envelopes.
pub const PRODUCER: &str = "identity";
/// How often the signing keys are checked for rotation.
const KEY_UPKEEP: Duration = Duration::from_secs(60);

/// The identity service's embedded migrations, per backend.
pub fn migrations() -> Migrations {
    Migrations {
        sqlite: sqlx::migrate!("./migrations/sqlite"),
        postgres: sqlx::migrate!("./migrations/postgres"),
    }
}

/// The identity service's settings.
#[derive(clap::Args, Clone)]
#[command(next_help_heading = "Identity", about = None, long_about = None)]
pub struct IdentityArgs {
    /// Where people open the links of invitation and password-reset mail
    /// (the web app); in `reemploi up`, those of notification emails too.
    #[arg(
        long = "public-url",
        env = "REEMPLOI_PUBLIC_URL",
        default_value = DEFAULT_PUBLIC_URL
    )]
    pub public_url: String,

    /// The key that seals the signing keys in the database: 64 hex digits
    /// or base64 of 32 bytes. Without it, one is made and kept in
    /// <data-dir>/identity-key. Never printed.
    #[arg(
        long = "key-encryption-key",
        env = "REEMPLOI_KEY_ENCRYPTION_KEY",
        hide_env_values = true
    )]
    pub key_encryption_key: Option<String>,

    /// Days a signing key signs before a new one takes over (old keys
    /// verify until the last token they signed has expired).
    #[arg(
        long = "signing-key-days",
        env = "REEMPLOI_SIGNING_KEY_DAYS",
        default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..=3650)
    )]
    pub signing_key_days: u64,

    /// The email of the first admin, invited when the service starts with
    /// no account at all.
    #[arg(
        long = "first-admin-email",
        env = "REEMPLOI_FIRST_ADMIN_EMAIL",
        default_value = "admin@reemploi.invalid"
    )]
    pub first_admin_email: String,

    #[command(flatten)]
    pub mail: reemploi_mail::MailArgs,

    #[command(flatten)]
    pub oidc: oidc::OidcArgs,
}

impl std::fmt::Debug for IdentityArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityArgs")
            .field("public_url", &self.public_url)
            .field(
                "key_encryption_key",
                &self.key_encryption_key.as_ref().map(|_| "<redacted>"),
            )
            .field("signing_key_days", &self.signing_key_days)
            .field("first_admin_email", &self.first_admin_email)
            .field("mail", &self.mail)
            .field("oidc", &self.oidc)
            .finish()
    }
}

impl Default for IdentityArgs {
    fn default() -> Self {
        IdentityArgs {
            public_url: DEFAULT_PUBLIC_URL.to_owned(),
            key_encryption_key: None,
            signing_key_days: 30,
            first_admin_email: "admin@reemploi.invalid".to_owned(),
            mail: reemploi_mail::MailArgs::default(),
            oidc: oidc::OidcArgs::default(),
        }
    }
}

fn other(reason: impl ToString) -> StartError {
    StartError::Other {
        service: PRODUCER,
        reason: reason.to_string(),
    }
}

/// Migrates, makes sure a key signs, fills the process's key ring (and
/// keeps it filled), follows the registry's partners, invites the first
/// admin when there is no account, and serves `IdentityService`.
pub async fn start(ctx: Context, args: &IdentityArgs) -> Result<Running, StartError> {
    let Prepared { relay, pager } = ctx.prepare(PRODUCER, &migrations()).await?;
    let kek = match &args.key_encryption_key {
        Some(text) => Kek::parse(text),
        None => Kek::load_or_create(&ctx.data_dir),
    }
    .map_err(other)?;
    let lifetime = Duration::from_secs(args.signing_key_days.saturating_mul(24 * 3600));
    let keys = Keys::new(ctx.db.clone(), kek, lifetime);
    keys.maintain().await.map_err(other)?;
    let ring = ctx.auth.key_ring().clone();
    ring.replace(&keys.public().await.map_err(other)?);
    let mailer = reemploi_mail::Mailer::new(&args.mail, &ctx.data_dir).map_err(other)?;
    let provider = oidc::Provider::from_args(&args.oidc, &args.public_url).map_err(other)?;
    let identity = Identity::new(service::Parts {
        db: ctx.db.clone(),
        relay: relay.clone(),
        pager,
        keys: keys.clone(),
        issuer: tokens::Issuer {
            issuer: ctx.auth.token_issuer().to_owned(),
            audience: ctx.auth.token_audience().to_owned(),
        },
        letters: mail::Letters::new(mailer, &args.public_url),
        ring: ring.clone(),
        provider,
        limits: ctx.auth.rate_limits().clone(),
    })
    .map_err(other)?;
    invite_first_admin(&identity, &args.first_admin_email).await?;
    // Accounts made before they were published as events, once.
    if repo::publish_accounts_once(&ctx.db).await.map_err(other)? {
        relay.notify();
    }
    let partners = ctx
        .subscribe(
            PRODUCER,
            reemploi_runtime::partners::subscription(PRODUCER, ctx.max_deliver),
            reemploi_runtime::partners::PartnerStatuses::new(ctx.db.clone(), PRODUCER),
        )
        .await?;
    let service = ctx.optionally_authenticated(
        IdentityServiceServer::new(identity)
            .max_decoding_message_size(ctx.max_message_bytes)
            .max_encoding_message_size(ctx.max_message_bytes),
    );
    Ok(Running::new(IDENTITY, |routes| routes.add_service(service))
        .spawn("identity outbox relay", relay.run(ctx.stop.clone()))
        .task("identity partners", partners)
        .spawn(
            "identity signing keys",
            ring.refresh(Arc::new(keys.clone()), ctx.stop.clone()),
        )
        .spawn("identity key upkeep", upkeep(keys, ctx.stop)))
}

/// Rotates the signing key when it is due.
async fn upkeep(keys: Keys, stop: tokio_util::sync::CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(KEY_UPKEEP) => {}
        }
        if let Err(e) = keys.maintain().await {
            tracing::error!(error = %e, "signing key upkeep failed; retrying");
        }
    }
}

/// With no account yet, invites the first admin and prints the link: the
/// one way in of a new deployment.
async fn invite_first_admin(identity: &Identity, email: &str) -> Result<(), StartError> {
    if identity.has_accounts().await.map_err(other)? {
        return Ok(());
    }
    let email = Email::parse("--first-admin-email", email).map_err(other)?;
    let grant = Grant {
        role: reemploi_runtime::auth::Role::Admin,
        org: None,
        partner: None,
    };
    let (invitation, code) = identity
        .invite(email, grant, accounts::SETUP)
        .await
        .map_err(other)?;
    let letters = identity.letters();
    let mail = letters.invitation(&invitation.email, &code, "admin");
    let sent = letters.send_now(&mail).await;
    println!(
        "no account yet: the first admin ({}) is invited.\n  open {}\n  or run: reemploi accounts accept --code {code}",
        invitation.email,
        letters.invitation_link(&code)
    );
    match sent {
        Ok(reemploi_mail::Sent::File { path }) => {
            println!("  (mail written to {})", path.display())
        }
        Ok(reemploi_mail::Sent::Smtp { .. }) => println!("  (mail sent to {})", invitation.email),
        Err(e) => tracing::warn!(error = %e, "the first admin's invitation mail was not sent"),
    }
    Ok(())
}
