//! What the identity operations are made of: sessions (access and
//! refresh tokens), accounts and invitations, and who may do what.

use reemploi_events::Message;
use reemploi_proto::identity as pb;
use reemploi_runtime::auth::{Principal, Role};
use reemploi_runtime::error::ApiError;
use reemploi_runtime::names::parse;
use reemploi_runtime::wire::millis_ts;
use reemploi_store::now_millis;
use uuid::Uuid;

use crate::error::{IdentityError, Result};
use crate::events::revocation;
use crate::model::{Account, AccountStatus, Email, Grant, Invitation};
use crate::oidc::ExternalIdentity;
use crate::password::NewPassword;
use crate::repo::CodeTable;
use crate::repo::{self, RefreshRow};
use crate::service::Identity;
use crate::tokens::MAX_API_TOKEN_TTL;
use reemploi_runtime::validation::Check;

use crate::tokens::{self, ACCESS_TTL, INVITATION_TTL, REFRESH_TTL, Token, ms};

/// Who invited the first admin, in its invitation.
pub const SETUP: &str = "setup";

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
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("password task: {e}")).into())
}

/// The expiry of a new API token, required, in the future and at most
/// 366 days away; a violation is recorded in `c`.
pub(crate) fn api_token_expiry(
    c: &mut Check,
    expire_time: Option<&prost_types::Timestamp>,
    now: i64,
) -> Option<i64> {
    match expire_time.map(reemploi_runtime::wire::checked_millis) {
        None => {
            c.fail("expire_time", "required: API tokens expire");
            None
        }
        Some(Err(why)) => {
            c.fail("expire_time", why);
            None
        }
        Some(Ok(at)) if at <= now => {
            c.fail("expire_time", "must be in the future");
            None
        }
        Some(Ok(at)) if at > now.saturating_add(ms(MAX_API_TOKEN_TTL)) => {
            c.fail("expire_time", "must be at most 366 days away");
            None
        }
        Some(Ok(at)) => Some(at),
    }
}

impl Identity {
    pub(crate) async fn commit(
        &self,
        tx: sqlx::Transaction<'static, sqlx::Any>,
        events: &[Message],
    ) -> Result<()> {
        self.inner.relay.commit(tx, events).await?;
        // Saving an account enqueues its event too, beyond `events`.
        self.inner.relay.notify();
        Ok(())
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

    /// Revokes session `family` and the access tokens it issued.
    pub(crate) async fn end_session(&self, family: Uuid, now: i64) -> Result<()> {
        let mut tx = self.inner.db.begin_write().await?;
        repo::revoke_family(&mut tx, family, now).await?;
        let event = revocation(
            format!("sessions/{family}"),
            now,
            now.saturating_add(ms(ACCESS_TTL)),
        );
        self.commit(tx, &[event]).await
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

    /// Whether `p` may invite someone with `grant`: admins invite anyone; a
    /// verified partner's staff invite colleagues of the same partner.
    pub(crate) async fn may_invite(&self, p: &Principal, grant: &Grant) -> Result<()> {
        match p.role {
            Role::Admin => Ok(()),
            Role::Partner => {
                if grant.role != Role::Partner || grant.partner != p.own_partner() {
                    return Err(denied(
                        "a partner's account invites colleagues of its own partner only",
                    ));
                }
                let Some(partner) = grant.partner else {
                    return Err(denied("this token names no partner"));
                };
                let mut conn = self.inner.db.pool().acquire().await?;
                match reemploi_runtime::partners::status(&mut conn, partner)
                    .await?
                    .as_deref()
                {
                    Some("verified") => Ok(()),
                    _ => Err(ApiError::precondition(
                        "PARTNER_NOT_VERIFIED",
                        "colleagues can be invited once the territory has verified the partner",
                    )
                    .into()),
                }
            }
            Role::SiteManager | Role::Integrator => Err(denied(
                "admins invite people; partners invite their colleagues",
            )),
        }
    }

    /// Stores an invitation of `email` with `grant` by `by`; its code.
    pub async fn invite(
        &self,
        email: Email,
        grant: Grant,
        by: &str,
    ) -> Result<(Invitation, String)> {
        let now = now_millis();
        let mut tx = self.inner.db.begin_write().await?;
        if repo::account_by_email(&mut tx, &email).await?.is_some() {
            return Err(IdentityError::EmailTaken);
        }
        let code = tokens::new_secret("inv");
        let invitation = Invitation {
            id: Uuid::now_v7(),
            email,
            grant,
            invited_by: by.to_owned(),
            expires_at: now.saturating_add(ms(INVITATION_TTL)),
            accepted_at: None,
        };
        repo::insert_invitation(&mut tx, &invitation, &tokens::digest(&code), now).await?;
        self.commit(tx, &[]).await?;
        tracing::info!(invitation = %invitation.id, by, role = %invitation.grant.role, "invitation created");
        Ok((invitation, code))
    }

    /// The letters of this service, for the first admin's invitation.
    pub fn letters(&self) -> &crate::mail::Letters {
        &self.inner.letters
    }

    /// Whether any account exists yet.
    pub async fn has_accounts(&self) -> Result<bool> {
        let mut conn = self.inner.db.pool().acquire().await?;
        repo::any_account(&mut conn).await
    }

    /// The account of a provider identity: the one linked to it; else,
    /// on its verified email, the account of that email or the account an
    /// invitation of it makes now, linked to it for next time.
    pub(crate) async fn external_account(&self, ext: &ExternalIdentity) -> Result<Account> {
        let now = now_millis();
        let mut tx = self.inner.db.begin_write().await?;
        if let Some(id) = repo::linked_account(&mut tx, &ext.issuer, &ext.subject).await? {
            return repo::account_by_id(&mut tx, id)
                .await?
                .filter(|a| a.status == AccountStatus::Active)
                .ok_or(IdentityError::SignInFailed);
        }
        let email = match &ext.email {
            Some(email) if ext.email_verified => {
                Email::parse("email", email).map_err(|_| IdentityError::EmailNotVerified)?
            }
            _ => return Err(IdentityError::EmailNotVerified),
        };
        let account = match repo::account_by_email(&mut tx, &email).await? {
            Some(a) if a.status == AccountStatus::Active => a,
            Some(_) => return Err(IdentityError::SignInFailed),
            None => {
                let invitation = repo::pending_invitation(&mut tx, &email, now)
                    .await?
                    .ok_or(IdentityError::NotInvited)?;
                let name = ext.name.clone().filter(|n| !n.trim().is_empty());
                let account = Account {
                    id: Uuid::now_v7(),
                    display_name: name.unwrap_or_else(|| email.as_str().to_owned()),
                    email,
                    grant: invitation.grant.clone(),
                    status: AccountStatus::Active,
                    // Signs in through the provider only, until a reset.
                    password_hash: None,
                    created_at: now,
                    updated_at: now,
                    version: 1,
                };
                if !repo::use_code(&mut tx, CodeTable::Invitations, invitation.id, now).await? {
                    return Err(IdentityError::NotInvited);
                }
                self.insert_new(&mut tx, &account).await?;
                tracing::info!(account = %account.name(), invitation = %invitation.id, "invitation accepted through the identity provider");
                account
            }
        };
        repo::link_account(&mut tx, &ext.issuer, &ext.subject, account.id, now).await?;
        self.commit(tx, &[]).await?;
        Ok(account)
    }
}
