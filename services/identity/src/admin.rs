//! The identity operations that create or withdraw access: invitations,
//! password resets, disabling accounts, API tokens, key rotation.

use reemploi_proto::identity as pb;
use reemploi_runtime::auth::{Principal, Role};
use reemploi_runtime::error::ApiError;
use reemploi_runtime::names::parse;
use reemploi_runtime::validation::Check;
use reemploi_store::now_millis;
use uuid::Uuid;

use crate::error::{IdentityError, Result};
use crate::events::revocation;
use crate::model::{AccountStatus, ApiToken, Email, Grant, Invitation, MAX_NAME_CHARS};
use crate::password::NewPassword;
use crate::repo::{self, CodeTable};
use crate::service::{Identity, admin_only, denied, own_account};
use crate::tokens::{self, ACCESS_TTL, INVITATION_TTL, MAX_API_TOKEN_TTL, RESET_TTL, Token, ms};

/// Who invited the first admin, in its invitation.
pub const SETUP: &str = "setup";

impl Identity {
    /// Whether `p` may invite someone with `grant`: admins invite anyone; a
    /// verified partner's staff invite colleagues of the same partner.
    async fn may_invite(&self, p: &Principal, grant: &Grant) -> Result<()> {
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
                match repo::partner_status(&mut conn, partner).await?.as_deref() {
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

    /// CreateInvitation: stores the invitation, mails its link, and returns
    /// it with its code.
    pub async fn create_invitation(
        &self,
        p: &Principal,
        req: pb::CreateInvitationRequest,
    ) -> Result<pb::Invitation> {
        let inv = req
            .invitation
            .ok_or_else(|| ApiError::invalid("invitation", "required"))?;
        let mut c = Check::new("invitation");
        let email = c.take(Email::parse("invitation.email", &inv.email));
        let grant = match Grant::from_proto("invitation", inv.role, &inv.org, &inv.partner) {
            Ok(g) => Some(g),
            Err(v) => {
                c.extend(v);
                None
            }
        };
        c.finish()?;
        let (Some(email), Some(grant)) = (email, grant) else {
            return Err(ApiError::Internal("validated fields missing".to_owned()).into());
        };
        self.may_invite(p, &grant).await?;
        let (invitation, code) = self.invite(email, grant, &p.subject).await?;
        let role = invitation.grant.role.as_str();
        self.inner.letters.send(
            self.inner
                .letters
                .invitation(&invitation.email, &code, role),
        );
        Ok(invitation.to_proto(Some(&code)))
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

    /// AcceptInvitation: creates the account, sets its password, opens a
    /// session. The code works once, for 7 days.
    pub async fn accept_invitation(&self, req: pb::AcceptInvitationRequest) -> Result<pb::Session> {
        let mut c = Check::new("");
        let password = c.take(NewPassword::parse("password", &req.password));
        let display_name = c.ok(reemploi_domain::text::required(
            "display_name",
            &req.display_name,
            MAX_NAME_CHARS,
        ));
        c.finish()?;
        let (Some(password), Some(display_name)) = (password, display_name) else {
            return Err(ApiError::Internal("validated fields missing".to_owned()).into());
        };
        let invalid = || IdentityError::LinkInvalid("invitation");
        let hash = tokens::digest(&req.code);
        let mut conn = self.inner.db.pool().acquire().await?;
        let invitation = repo::invitation_by_code(&mut conn, &hash)
            .await?
            .filter(|i| i.accepted_at.is_none() && i.expires_at > now_millis())
            .ok_or_else(invalid)?;
        drop(conn);
        let password_hash = self.hash(password).await?;
        let now = now_millis();
        let account = crate::model::Account {
            id: Uuid::now_v7(),
            email: invitation.email.clone(),
            display_name,
            grant: invitation.grant.clone(),
            status: AccountStatus::Active,
            password_hash: Some(password_hash),
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let mut tx = self.inner.db.begin_write().await?;
        if !repo::use_code(&mut tx, CodeTable::Invitations, invitation.id, now).await? {
            return Err(invalid());
        }
        self.insert_new(&mut tx, &account).await?;
        tracing::info!(account = %account.name(), invitation = %invitation.id, "invitation accepted");
        self.open_session(tx, &account, Uuid::now_v7(), &[]).await
    }

    /// RequestPasswordReset: mails a link when the email has an active
    /// account; answers the same either way.
    pub async fn request_password_reset(
        &self,
        req: pb::RequestPasswordResetRequest,
    ) -> Result<pb::RequestPasswordResetResponse> {
        let email = Email::parse("email", &req.email)?;
        let mut tx = self.inner.db.begin_write().await?;
        let account = repo::account_by_email(&mut tx, &email)
            .await?
            .filter(|a| a.status == AccountStatus::Active);
        if let Some(account) = account {
            let code = tokens::new_secret("rst");
            let now = now_millis();
            let expires = now.saturating_add(ms(RESET_TTL));
            repo::insert_reset(&mut tx, account.id, &tokens::digest(&code), now, expires).await?;
            self.commit(tx, &[]).await?;
            self.inner
                .letters
                .send(self.inner.letters.reset(&account.email, &code));
        }
        Ok(pb::RequestPasswordResetResponse {})
    }

    /// ResetPassword: sets the password of a reset link's account (once,
    /// within 30 minutes) and revokes every session and token of it.
    pub async fn reset_password(
        &self,
        req: pb::ResetPasswordRequest,
    ) -> Result<pb::ResetPasswordResponse> {
        let password = NewPassword::parse("password", &req.password)?;
        let invalid = || IdentityError::LinkInvalid("password reset");
        let mut conn = self.inner.db.pool().acquire().await?;
        let (reset, account_id, expires_at, used_at) =
            repo::reset_by_code(&mut conn, &tokens::digest(&req.code))
                .await?
                .ok_or_else(invalid)?;
        drop(conn);
        if used_at.is_some() || expires_at <= now_millis() {
            return Err(invalid());
        }
        let hash = self.hash(password).await?;
        let now = now_millis();
        let mut tx = self.inner.db.begin_write().await?;
        if !repo::use_code(&mut tx, CodeTable::Resets, reset, now).await? {
            return Err(invalid());
        }
        let mut account = repo::account_by_id(&mut tx, account_id)
            .await?
            .ok_or_else(invalid)?;
        account.password_hash = Some(hash);
        account.updated_at = now;
        account.version += 1;
        repo::save_account(&mut tx, &account, Some(account.version - 1)).await?;
        repo::revoke_account_sessions(&mut tx, account.id, now).await?;
        let event = revocation(account.name(), now, now.saturating_add(ms(ACCESS_TTL)));
        self.commit(tx, &[event]).await?;
        tracing::info!(account = %account.name(), "password reset");
        Ok(pb::ResetPasswordResponse {})
    }

    /// DisableAccount: the account can no longer sign in and every token of
    /// it is refused everywhere.
    pub async fn disable_account(&self, p: &Principal, name: &str) -> Result<pb::Account> {
        admin_only(p)?;
        let mut account = self.account_named(p, name).await?;
        if own_account(p) == Some(account.id) {
            return Err(ApiError::precondition(
                "OWN_ACCOUNT",
                "an admin cannot disable their own account",
            )
            .into());
        }
        if account.status == AccountStatus::Disabled {
            return Ok(account.to_proto());
        }
        let now = now_millis();
        account.status = AccountStatus::Disabled;
        account.updated_at = now;
        account.version += 1;
        let mut tx = self.inner.db.begin_write().await?;
        repo::save_account(&mut tx, &account, Some(account.version - 1)).await?;
        repo::revoke_account_sessions(&mut tx, account.id, now).await?;
        let event = revocation(account.name(), now, now.saturating_add(ms(ACCESS_TTL)));
        self.commit(tx, &[event]).await?;
        tracing::info!(account = %account.name(), by = %p.subject, "account disabled");
        Ok(account.to_proto())
    }

    /// ListAccounts, newest first: admin only.
    pub async fn list_accounts(
        &self,
        p: &Principal,
        req: pb::ListAccountsRequest,
    ) -> Result<pb::ListAccountsResponse> {
        admin_only(p)?;
        let page = self
            .inner
            .pager
            .page(req.page_size, &req.page_token, "accounts")?;
        let mut conn = self.inner.db.pool().acquire().await?;
        let mut rows = repo::list_accounts(&mut conn, page.after.as_deref(), page.size + 1).await?;
        let next_page_token = page.finish(&mut rows, |a| a.id.to_string());
        Ok(pb::ListAccountsResponse {
            accounts: rows.iter().map(|a| a.to_proto()).collect(),
            next_page_token,
        })
    }

    /// CreateApiToken: an integrator's token with a required expiry (at
    /// most 366 days); its secret is in the answer only.
    pub async fn create_api_token(
        &self,
        p: &Principal,
        req: pb::CreateApiTokenRequest,
    ) -> Result<pb::CreateApiTokenResponse> {
        admin_only(p)?;
        let t = req
            .api_token
            .ok_or_else(|| ApiError::invalid("api_token", "required"))?;
        let now = now_millis();
        let mut c = Check::new("api_token");
        let display_name = c.ok(reemploi_domain::text::required(
            "display_name",
            &t.display_name,
            MAX_NAME_CHARS,
        ));
        let expires = match t
            .expire_time
            .as_ref()
            .map(reemploi_runtime::wire::checked_millis)
        {
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
        };
        c.finish()?;
        let (Some(display_name), Some(expires_at)) = (display_name, expires) else {
            return Err(ApiError::Internal("validated fields missing".to_owned()).into());
        };
        let token = ApiToken {
            id: Uuid::now_v7(),
            display_name,
            created_by: p.subject.clone(),
            created_at: now,
            expires_at,
            revoked_at: None,
        };
        let signer = self.inner.keys.signer_until(expires_at).await?;
        let grant = tokens::integrator();
        let secret = self.inner.issuer.sign(
            &signer,
            Token {
                subject: token.name(),
                grant: &grant,
                now_ms: now,
                expires_ms: expires_at,
                id: token.id.to_string(),
                session: None,
            },
        )?;
        let mut tx = self.inner.db.begin_write().await?;
        repo::insert_api_token(&mut tx, &token).await?;
        self.commit(tx, &[]).await?;
        tracing::info!(token = %token.name(), by = %p.subject, "API token created");
        Ok(pb::CreateApiTokenResponse {
            api_token: Some(token.to_proto()),
            secret,
        })
    }

    /// ListApiTokens, newest first: admin only.
    pub async fn list_api_tokens(
        &self,
        p: &Principal,
        req: pb::ListApiTokensRequest,
    ) -> Result<pb::ListApiTokensResponse> {
        admin_only(p)?;
        let page = self
            .inner
            .pager
            .page(req.page_size, &req.page_token, "api_tokens")?;
        let mut conn = self.inner.db.pool().acquire().await?;
        let mut rows =
            repo::list_api_tokens(&mut conn, page.after.as_deref(), page.size + 1).await?;
        let next_page_token = page.finish(&mut rows, |t| t.id.to_string());
        Ok(pb::ListApiTokensResponse {
            api_tokens: rows.iter().map(ApiToken::to_proto).collect(),
            next_page_token,
        })
    }

    /// RevokeApiToken: refused everywhere within a second.
    pub async fn revoke_api_token(&self, p: &Principal, name: &str) -> Result<pb::ApiToken> {
        admin_only(p)?;
        let id = parse("name", name, "apiTokens/{api_token}")?[0];
        let now = now_millis();
        let mut tx = self.inner.db.begin_write().await?;
        let mut token = repo::api_token_by_id(&mut tx, id)
            .await?
            .ok_or_else(|| ApiError::not_found("API token", name))?;
        if token.revoked_at.is_some() {
            return Ok(token.to_proto());
        }
        repo::revoke_api_token(&mut tx, id, now).await?;
        token.revoked_at = Some(now);
        let event = revocation(token.name(), now, token.expires_at);
        self.commit(tx, &[event]).await?;
        tracing::info!(token = %token.name(), by = %p.subject, "API token revoked");
        Ok(token.to_proto())
    }

    /// GetJwks: the public keys that verify tokens now.
    pub async fn jwks(&self) -> Result<pb::Jwks> {
        let keys = self.inner.keys.public().await?;
        Ok(pb::Jwks {
            keys: keys.iter().map(|k| k.to_jwk()).collect(),
        })
    }

    /// RotateSigningKeys: a new key signs now; with `retire_previous` every
    /// other key is withdrawn and the tokens it signed refused everywhere.
    pub async fn rotate_keys(&self, p: &Principal, retire_previous: bool) -> Result<pb::Jwks> {
        admin_only(p)?;
        let withdrawn = self.inner.keys.rotate(retire_previous).await?;
        let now = now_millis();
        let mut events = Vec::new();
        for kid in &withdrawn {
            let until = self.inner.keys.signed_until(kid).await?;
            events.push(revocation(format!("keys/{kid}"), now, until.max(now)));
        }
        let tx = self.inner.db.begin_write().await?;
        self.commit(tx, &events).await?;
        let keys = self.inner.keys.public().await?;
        self.inner.ring.replace(&keys);
        tracing::warn!(by = %p.subject, withdrawn = withdrawn.len(), "signing keys rotated");
        Ok(pb::Jwks {
            keys: keys.iter().map(|k| k.to_jwk()).collect(),
        })
    }
}
