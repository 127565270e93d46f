//! The identity service: its core type, which implements
//! `reemploi.identity.v1.IdentityService`, one method per RPC: sessions
//! (sign-in, refresh, sign-out, sign-up), invitations, password resets,
//! accounts, API tokens and signing keys. Each change is one transaction
//! with the revocation it publishes, if any.

use std::sync::Arc;

use reemploi_events::outbox::Relay;
use reemploi_proto::identity as pb;
use reemploi_proto::identity::identity_service_server::IdentityService;
use reemploi_runtime::auth::{Role, caller};
use reemploi_runtime::error::ApiError;
use reemploi_runtime::keys::KeyRing;
use reemploi_runtime::limit::RateLimits;
use reemploi_runtime::names::parse;
use reemploi_runtime::paging::Pager;
use reemploi_runtime::service::answer;
use reemploi_runtime::validation::Check;
use reemploi_runtime::wire::millis_ts;
use reemploi_store::{Db, now_millis};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::accounts::{admin_only, api_token_expiry, blocking, own_account};
use crate::error::IdentityError;
use crate::events::revocation;
use crate::keys::Keys;
use crate::mail::Letters;
use crate::model::{AccountStatus, ApiToken, Email, Grant, MAX_NAME_CHARS};
use crate::oidc::{Provider, Secrets};
use crate::password::{Hasher, NewPassword};
use crate::repo::{self, CodeTable};
use crate::throttle::Throttle;
use crate::tokens::{self, ACCESS_TTL, EXTERNAL_SIGN_IN_TTL, Issuer, RESET_TTL, Token, ms};

/// The reply of a gRPC method.
type Reply<T> = Result<Response<T>, Status>;

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
    /// The OpenID provider people may sign in with, if any.
    pub(crate) provider: Option<Provider>,
    /// The process's rate limits, which know the proxies to believe about
    /// a caller's address.
    pub(crate) limits: RateLimits,
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
    /// The OpenID provider, if one is configured.
    pub provider: Option<Provider>,
    /// The process's rate limits (for the client address of a sign-in).
    pub limits: RateLimits,
}

impl Identity {
    /// The service over its parts.
    pub fn new(parts: Parts) -> crate::error::Result<Identity> {
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
                provider: parts.provider,
                limits: parts.limits,
            }),
        })
    }
}

#[tonic::async_trait]
impl IdentityService for Identity {
    /// SignIn: the same answer, in about the same time, for an unknown email,
    /// a wrong password and a disabled account; failures slow down.
    async fn sign_in(&self, request: Request<pb::SignInRequest>) -> Reply<pb::Session> {
        // Behind the web app, the address of the person, not the app's.
        let peer = self.inner.limits.client_ip(&request);
        let req = request.into_inner();
        answer::<_, IdentityError>(async move {
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
        })
        .await
    }

    /// StartExternalSignIn: a new sign-in with the OpenID provider, kept
    /// (its state hashed) for 10 minutes.
    async fn start_external_sign_in(
        &self,
        _request: Request<pb::StartExternalSignInRequest>,
    ) -> Reply<pb::ExternalSignIn> {
        answer::<_, IdentityError>(async move {
            let provider = self
                .inner
                .provider
                .as_ref()
                .ok_or(IdentityError::NoProvider)?;
            let secrets = Secrets::new();
            let authorization_url = provider.authorization_url(&secrets).await?;
            let now = now_millis();
            let row = repo::ExternalSignInRow {
                id: Uuid::now_v7(),
                nonce: secrets.nonce,
                code_verifier: secrets.verifier,
                expires_at: now.saturating_add(ms(EXTERNAL_SIGN_IN_TTL)),
                used_at: None,
            };
            let mut tx = self.inner.db.begin_write().await?;
            repo::insert_external_sign_in(&mut tx, &row, &tokens::digest(&secrets.state), now)
                .await?;
            self.commit(tx, &[]).await?;
            Ok(pb::ExternalSignIn {
                authorization_url,
                state: secrets.state,
                expire_time: Some(millis_ts(row.expires_at)),
            })
        })
        .await
    }

    /// FinishExternalSignIn: the state works once; the provider's identity
    /// gets the account it is linked to, or is linked now by its verified
    /// email to an account or an invitation.
    async fn finish_external_sign_in(
        &self,
        request: Request<pb::FinishExternalSignInRequest>,
    ) -> Reply<pb::Session> {
        let req = request.into_inner();
        answer::<_, IdentityError>(async move {
            let provider = self.inner.provider.as_ref().ok_or(IdentityError::NoProvider)?;
            let mut c = Check::new("");
            if req.state.trim().is_empty() {
                c.fail("state", "required");
            }
            if req.code.trim().is_empty() {
                c.fail("code", "required");
            }
            c.finish()?;
            let invalid = || IdentityError::LinkInvalid("external sign-in");
            let now = now_millis();
            let mut tx = self.inner.db.begin_write().await?;
            let row = repo::external_sign_in(&mut tx, &tokens::digest(&req.state))
                .await?
                .filter(|r| r.used_at.is_none() && r.expires_at > now)
                .ok_or_else(invalid)?;
            // Used up before the provider is asked: a state works once,
            // whatever comes of it.
            if !repo::use_external_sign_in(&mut tx, row.id, now).await? {
                return Err(invalid());
            }
            self.commit(tx, &[]).await?;
            let secrets = Secrets {
                state: req.state,
                nonce: row.nonce,
                verifier: row.code_verifier,
            };
            let external = provider.identity(&req.code, &secrets).await?;
            let account = self.external_account(&external).await?;
            let tx = self.inner.db.begin_write().await?;
            let session = self.open_session(tx, &account, Uuid::now_v7(), &[]).await?;
            tracing::info!(account = %account.name(), issuer = %external.issuer, "signed in through the identity provider");
            Ok(session)
        })
        .await
    }

    /// Refresh: a new session for a refresh token, which is used up; a token
    /// used twice revokes its whole session.
    async fn refresh(&self, request: Request<pb::RefreshRequest>) -> Reply<pb::Session> {
        let req = request.into_inner();
        answer::<_, IdentityError>(async move {
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
        })
        .await
    }

    /// SignOut: ends the session of a refresh token (an unknown one is
    /// already ended).
    async fn sign_out(&self, request: Request<pb::SignOutRequest>) -> Reply<pb::SignOutResponse> {
        let req = request.into_inner();
        answer::<_, IdentityError>(async move {
            let mut conn = self.inner.db.pool().acquire().await?;
            let row = repo::refresh_by_hash(&mut conn, &tokens::digest(&req.refresh_token)).await?;
            drop(conn);
            if let Some(row) = row.filter(|r| r.revoked_at.is_none()) {
                self.end_session(row.family, now_millis()).await?;
                tracing::info!(session = %row.family, "signed out");
            }
            Ok(pb::SignOutResponse {})
        })
        .await
    }

    /// SignUp: a partner account with a new partner id, whose token lets it
    /// register its structure with the registry.
    async fn sign_up(&self, request: Request<pb::SignUpRequest>) -> Reply<pb::Session> {
        let req = request.into_inner();
        answer::<_, IdentityError>(async move {
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
        })
        .await
    }

    /// CreateInvitation: stores the invitation, mails its link, and returns
    /// it with its code.
    async fn create_invitation(
        &self,
        request: Request<pb::CreateInvitationRequest>,
    ) -> Reply<pb::Invitation> {
        let (p, req) = caller(request)?;
        let p = &p;
        answer::<_, IdentityError>(async move {
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
        })
        .await
    }

    /// AcceptInvitation: creates the account, sets its password, opens a
    /// session. The code works once, for 7 days.
    async fn accept_invitation(
        &self,
        request: Request<pb::AcceptInvitationRequest>,
    ) -> Reply<pb::Session> {
        let req = request.into_inner();
        answer::<_, IdentityError>(async move {
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
        })
        .await
    }

    /// RequestPasswordReset: mails a link when the email has an active
    /// account; answers the same either way.
    async fn request_password_reset(
        &self,
        request: Request<pb::RequestPasswordResetRequest>,
    ) -> Reply<pb::RequestPasswordResetResponse> {
        let req = request.into_inner();
        answer::<_, IdentityError>(async move {
            let email = Email::parse("email", &req.email)?;
            let mut tx = self.inner.db.begin_write().await?;
            let account = repo::account_by_email(&mut tx, &email)
                .await?
                .filter(|a| a.status == AccountStatus::Active);
            if let Some(account) = account {
                let code = tokens::new_secret("rst");
                let now = now_millis();
                let expires = now.saturating_add(ms(RESET_TTL));
                repo::insert_reset(&mut tx, account.id, &tokens::digest(&code), now, expires)
                    .await?;
                self.commit(tx, &[]).await?;
                self.inner
                    .letters
                    .send(self.inner.letters.reset(&account.email, &code));
            }
            Ok(pb::RequestPasswordResetResponse {})
        })
        .await
    }

    /// ResetPassword: sets the password of a reset link's account (once,
    /// within 30 minutes) and revokes every session and token of it.
    async fn reset_password(
        &self,
        request: Request<pb::ResetPasswordRequest>,
    ) -> Reply<pb::ResetPasswordResponse> {
        let req = request.into_inner();
        answer::<_, IdentityError>(async move {
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
        })
        .await
    }

    /// GetAccount: an account, to itself and to admins (`accounts/me` for
    /// the caller's own).
    async fn get_account(&self, request: Request<pb::GetAccountRequest>) -> Reply<pb::Account> {
        let (p, req) = caller(request)?;
        let p = &p;
        answer::<_, IdentityError>(
            async move { Ok(self.account_named(p, &req.name).await?.to_proto()) },
        )
        .await
    }

    /// ListAccounts, newest first: admin only.
    async fn list_accounts(
        &self,
        request: Request<pb::ListAccountsRequest>,
    ) -> Reply<pb::ListAccountsResponse> {
        let (p, req) = caller(request)?;
        let p = &p;
        answer::<_, IdentityError>(async move {
            admin_only(p)?;
            let page = self
                .inner
                .pager
                .page(req.page_size, &req.page_token, "accounts")?;
            let mut conn = self.inner.db.pool().acquire().await?;
            let mut rows =
                repo::list_accounts(&mut conn, page.after.as_deref(), page.size + 1).await?;
            let next_page_token = page.finish(&mut rows, |a| a.id.to_string());
            Ok(pb::ListAccountsResponse {
                accounts: rows.iter().map(|a| a.to_proto()).collect(),
                next_page_token,
            })
        })
        .await
    }

    /// DisableAccount: the account can no longer sign in and every token of
    /// it is refused everywhere.
    async fn disable_account(
        &self,
        request: Request<pb::DisableAccountRequest>,
    ) -> Reply<pb::Account> {
        let (p, req) = caller(request)?;
        let (p, name) = (&p, req.name.as_str());
        answer::<_, IdentityError>(async move {
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
        })
        .await
    }

    /// CreateApiToken: an integrator's token with a required expiry (at
    /// most 366 days); its secret is in the answer only.
    async fn create_api_token(
        &self,
        request: Request<pb::CreateApiTokenRequest>,
    ) -> Reply<pb::CreateApiTokenResponse> {
        let (p, req) = caller(request)?;
        let p = &p;
        answer::<_, IdentityError>(async move {
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
            let expires = api_token_expiry(&mut c, t.expire_time.as_ref(), now);
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
        })
        .await
    }

    /// ListApiTokens, newest first: admin only.
    async fn list_api_tokens(
        &self,
        request: Request<pb::ListApiTokensRequest>,
    ) -> Reply<pb::ListApiTokensResponse> {
        let (p, req) = caller(request)?;
        let p = &p;
        answer::<_, IdentityError>(async move {
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
        })
        .await
    }

    /// RevokeApiToken: refused everywhere within a second.
    async fn revoke_api_token(
        &self,
        request: Request<pb::RevokeApiTokenRequest>,
    ) -> Reply<pb::ApiToken> {
        let (p, req) = caller(request)?;
        let (p, name) = (&p, req.name.as_str());
        answer::<_, IdentityError>(async move {
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
        })
        .await
    }

    /// GetJwks: the public keys that verify tokens now.
    async fn get_jwks(&self, _request: Request<pb::GetJwksRequest>) -> Reply<pb::Jwks> {
        answer::<_, IdentityError>(async move {
            let keys = self.inner.keys.public().await?;
            Ok(pb::Jwks {
                keys: keys.iter().map(|k| k.to_jwk()).collect(),
            })
        })
        .await
    }

    /// RotateSigningKeys: a new key signs now; with `retire_previous` every
    /// other key is withdrawn and the tokens it signed refused everywhere.
    async fn rotate_signing_keys(
        &self,
        request: Request<pb::RotateSigningKeysRequest>,
    ) -> Reply<pb::Jwks> {
        let (p, req) = caller(request)?;
        let (p, retire_previous) = (&p, req.retire_previous);
        answer::<_, IdentityError>(async move {
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
        })
        .await
    }
}
