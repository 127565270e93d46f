//! The identity service's operations: sessions (sign-in, refresh,
//! sign-out, sign-up), invitations, password resets, accounts, API tokens
//! and signing keys. Each change is one transaction with the revocation it
//! publishes, if any.

use std::net::IpAddr;
use std::sync::Arc;

use reemploi_events::Message;
use reemploi_events::outbox::Relay;
use reemploi_proto::identity as pb;
use reemploi_runtime::auth::{Principal, Role};
use reemploi_runtime::error::ApiError;
use reemploi_runtime::keys::KeyRing;
use reemploi_runtime::names::parse;
use reemploi_runtime::paging::Pager;
use reemploi_runtime::wire::millis_ts;
use reemploi_store::{Db, now_millis};
use uuid::Uuid;

use crate::error::{IdentityError, Result};
use crate::events::revocation;
use crate::keys::Keys;
use crate::mail::Letters;
use crate::model::{Account, AccountStatus, Email, Grant};
use crate::password::{Hasher, NewPassword};
use crate::repo::{self, RefreshRow};
use crate::throttle::Throttle;
use crate::tokens::{self, ACCESS_TTL, Issuer, REFRESH_TTL, Token, ms};

/// The identity service. Cheap to clone.
#[derive(Clone)]
pub struct Identity {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) db: Db,
    pub(crate) relay: Relay,
    pub(crate) pager: Pager,
    pub(crate) keys: Keys,
    pub(crate) issuer: Issuer,
    pub(crate) hasher: Hasher,
    pub(crate) throttle: Throttle,
    pub(crate) letters: Letters,
    /// The ring of this process's authenticator, refreshed at once after a
    /// rotation.
    pub(crate) ring: KeyRing,
}

/// The parts an [`Identity`] is made of.
#[derive(Debug)]
pub struct Parts {
    /// Its migrated database.
    pub db: Db,
    /// Its outbox relay.
    pub relay: Relay,
    /// Its page-token signer.
    pub pager: Pager,
    /// Its signing keys.
    pub keys: Keys,
    /// Who it signs as.
    pub issuer: Issuer,
    /// Its mail.
    pub letters: Letters,
    /// The key ring of the process.
    pub ring: KeyRing,
}

pub(crate) fn denied(what: &str) -> IdentityError {
    ApiError::PermissionDenied(what.to_owned()).into()
}

pub(crate) fn admin_only(p: &Principal) -> Result<()> {
    match p.role {
        Role::Admin => Ok(()),
        Role::SiteManager | Role::Partner | Role::Integrator => {
            Err(denied("only territory admins do this"))
        }
    }
}

/// The account id of a principal signed in with an account.
pub(crate) fn own_account(p: &Principal) -> Option<Uuid> {
    p.subject
        .strip_prefix("accounts/")
        .and_then(|id| Uuid::try_parse(id).ok())
}

/// Runs the slow password work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("password task: {e}")).into())
}

impl Identity {
    /// The service over its parts.
    pub fn new(parts: Parts) -> Result<Identity> {
        Ok(Identity {
            inner: Arc::new(Inner {
                db: parts.db,
                relay: parts.relay,
                pager: parts.pager,
                keys: parts.keys,
                issuer: parts.issuer,
                hasher: Hasher::new()?,
                throttle: Throttle::default(),
                letters: parts.letters,
                ring: parts.ring,
            }),
        })
    }

    pub(crate) async fn commit(
        &self,
        tx: sqlx::Transaction<'static, sqlx::Any>,
        events: &[Message],
    ) -> Result<()> {
        Ok(self.inner.relay.commit(tx, events).await?)
    }

    /// Hashes a new password off the async threads.
    pub(crate) async fn hash(&self, password: NewPassword) -> Result<String> {
        let hasher = self.inner.hasher.clone();
        blocking(move || hasher.hash(&password))
            .await?
            .map_err(Into::into)
    }

    /// A signed access token for `account` in session `family`.
    async fn access_token(&self, account: &Account, family: Uuid, now: i64) -> Result<String> {
        let expires = now.saturating_add(ms(ACCESS_TTL));
        let signer = self.inner.keys.signer_until(expires).await?;
        Ok(self.inner.issuer.sign(
            &signer,
            Token {
                subject: account.name(),
                grant: &account.grant,
                now_ms: now,
                expires_ms: expires,
                id: Uuid::now_v7().to_string(),
                session: Some(family.to_string()),
            },
        )?)
    }

    /// Stores a new refresh token of session `family` in `tx` and returns it.
    async fn refresh_token(
        conn: &mut sqlx::AnyConnection,
        account: Uuid,
        family: Uuid,
        now: i64,
    ) -> Result<(String, i64)> {
        let secret = tokens::new_secret("rt");
        let expires_at = now.saturating_add(ms(REFRESH_TTL));
        let row = RefreshRow {
            id: Uuid::now_v7(),
            family,
            account,
            expires_at,
            used_at: None,
            revoked_at: None,
        };
        repo::insert_refresh(conn, &row, &tokens::digest(&secret), now).await?;
        Ok((secret, expires_at))
    }

    /// A new session of `account` within `tx`, committed with `events`.
    pub(crate) async fn open_session(
        &self,
        mut tx: sqlx::Transaction<'static, sqlx::Any>,
        account: &Account,
        family: Uuid,
        events: &[Message],
    ) -> Result<pb::Session> {
        let now = now_millis();
        let (refresh, refresh_expires) =
            Self::refresh_token(&mut tx, account.id, family, now).await?;
        self.commit(tx, events).await?;
        let access = self.access_token(account, family, now).await?;
        Ok(pb::Session {
            account: Some(account.to_proto()),
            access_token: access,
            access_token_expire_time: Some(millis_ts(now.saturating_add(ms(ACCESS_TTL)))),
            refresh_token: refresh,
            refresh_token_expire_time: Some(millis_ts(refresh_expires)),
        })
    }

    /// SignIn: the same answer, in about the same time, for an unknown email,
    /// a wrong password and a disabled account; failures slow down.
    pub async fn sign_in(
        &self,
        req: pb::SignInRequest,
        peer: Option<IpAddr>,
    ) -> Result<pb::Session> {
        let email = Email::parse("email", &req.email)?;
        if req.password.is_empty() {
            return Err(ApiError::invalid("password", "required").into());
        }
        if let Some(wait) = self.inner.throttle.wait(email.as_str(), peer) {
            return Err(IdentityError::Throttled(wait));
        }
        let mut conn = self.inner.db.pool().acquire().await?;
        let account = repo::account_by_email(&mut conn, &email).await?;
        drop(conn);
        let hash = account.as_ref().and_then(|a| a.password_hash.clone());
        let hasher = self.inner.hasher.clone();
        let password = req.password;
        let matched = blocking(move || hasher.verify(hash.as_deref(), &password)).await?;
        let account = match account {
            Some(a) if matched && a.status == AccountStatus::Active => a,
            _ => {
                self.inner.throttle.failed(email.as_str(), peer);
                tracing::info!(peer = ?peer, "sign-in refused");
                return Err(IdentityError::SignInFailed);
            }
        };
        self.inner.throttle.succeeded(email.as_str());
        let tx = self.inner.db.begin_write().await?;
        let session = self.open_session(tx, &account, Uuid::now_v7(), &[]).await?;
        tracing::info!(account = %account.name(), "signed in");
        Ok(session)
    }

    /// Refresh: a new session for a refresh token, which is used up; a token
    /// used twice revokes its whole session.
    pub async fn refresh(&self, req: pb::RefreshRequest) -> Result<pb::Session> {
        let hash = tokens::digest(&req.refresh_token);
        let now = now_millis();
        let mut tx = self.inner.db.begin_write().await?;
        let row = repo::refresh_by_hash(&mut tx, &hash)
            .await?
            .ok_or(IdentityError::SessionEnded)?;
        if row.revoked_at.is_some() || row.expires_at <= now {
            return Err(IdentityError::SessionEnded);
        }
        if row.used_at.is_some() || !repo::use_refresh(&mut tx, row.id, now).await? {
            drop(tx);
            self.end_session(row.family, now).await?;
            tracing::warn!(session = %row.family, "refresh token reused: session revoked");
            return Err(IdentityError::RefreshReused);
        }
        let account = repo::account_by_id(&mut tx, row.account)
            .await?
            .filter(|a| a.status == AccountStatus::Active)
            .ok_or(IdentityError::SessionEnded)?;
        self.open_session(tx, &account, row.family, &[]).await
    }

    /// Revokes session `family` and the access tokens it issued.
    async fn end_session(&self, family: Uuid, now: i64) -> Result<()> {
        let mut tx = self.inner.db.begin_write().await?;
        repo::revoke_family(&mut tx, family, now).await?;
        let event = revocation(
            format!("sessions/{family}"),
            now,
            now.saturating_add(ms(ACCESS_TTL)),
        );
        self.commit(tx, &[event]).await
    }

    /// SignOut: ends the session of a refresh token (an unknown one is
    /// already ended).
    pub async fn sign_out(&self, req: pb::SignOutRequest) -> Result<pb::SignOutResponse> {
        let mut conn = self.inner.db.pool().acquire().await?;
        let row = repo::refresh_by_hash(&mut conn, &tokens::digest(&req.refresh_token)).await?;
        drop(conn);
        if let Some(row) = row.filter(|r| r.revoked_at.is_none()) {
            self.end_session(row.family, now_millis()).await?;
            tracing::info!(session = %row.family, "signed out");
        }
        Ok(pb::SignOutResponse {})
    }

    /// SignUp: a partner account with a new partner id, whose token lets it
    /// register its structure with the registry.
    pub async fn sign_up(&self, req: pb::SignUpRequest) -> Result<pb::Session> {
        let mut c = reemploi_runtime::validation::Check::new("");
        let email = c.take(Email::parse("email", &req.email));
        let password = c.take(NewPassword::parse("password", &req.password));
        let display_name = c.ok(reemploi_domain::text::required(
            "display_name",
            &req.display_name,
            crate::model::MAX_NAME_CHARS,
        ));
        let structure = c.ok(reemploi_domain::text::required(
            "structure_name",
            &req.structure_name,
            crate::model::MAX_NAME_CHARS,
        ));
        c.finish()?;
        let (Some(email), Some(password), Some(display_name), Some(structure)) =
            (email, password, display_name, structure)
        else {
            return Err(ApiError::Internal("validated fields missing".to_owned()).into());
        };
        let grant = Grant {
            role: Role::Partner,
            org: None,
            partner: Some(Uuid::now_v7()),
        };
        let account = self
            .create_account(email, display_name, grant, password)
            .await?;
        tracing::info!(account = %account.0.name(), %structure, "ESS structure signed up");
        Ok(account.1)
    }

    /// Creates an account with `password` and opens its first session.
    pub(crate) async fn create_account(
        &self,
        email: Email,
        display_name: String,
        grant: Grant,
        password: NewPassword,
    ) -> Result<(Account, pb::Session)> {
        let hash = self.hash(password).await?;
        let now = now_millis();
        let account = Account {
            id: Uuid::now_v7(),
            email,
            display_name,
            grant,
            status: AccountStatus::Active,
            password_hash: Some(hash),
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let mut tx = self.inner.db.begin_write().await?;
        self.insert_new(&mut tx, &account).await?;
        let session = self.open_session(tx, &account, Uuid::now_v7(), &[]).await?;
        Ok((account, session))
    }

    /// Inserts a new account; a taken email is [`IdentityError::EmailTaken`].
    pub(crate) async fn insert_new(
        &self,
        conn: &mut sqlx::AnyConnection,
        account: &Account,
    ) -> Result<()> {
        if repo::account_by_email(conn, &account.email)
            .await?
            .is_some()
        {
            return Err(IdentityError::EmailTaken);
        }
        match repo::save_account(conn, account, None).await {
            Err(IdentityError::Api(ApiError::Conflict)) => Err(IdentityError::EmailTaken),
            other => other,
        }
    }

    /// The account named `name` (`accounts/me` for the caller's own).
    pub(crate) async fn account_named(&self, p: &Principal, name: &str) -> Result<Account> {
        let id = if name == "accounts/me" {
            own_account(p).ok_or_else(|| denied("this token belongs to no account"))?
        } else {
            parse("name", name, "accounts/{account}")?[0]
        };
        if p.role != Role::Admin && own_account(p) != Some(id) {
            return Err(denied("an account is visible to itself and to admins"));
        }
        let mut conn = self.inner.db.pool().acquire().await?;
        repo::account_by_id(&mut conn, id)
            .await?
            .ok_or_else(|| ApiError::not_found("account", format!("accounts/{id}")).into())
    }
}
