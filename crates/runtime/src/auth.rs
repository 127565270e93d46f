//! Bearer-token authentication: JWT verification into a [`Principal`], a
//! tonic interceptor that does it on every RPC, and helpers to issue
//! development tokens.
//!
//! Tokens are never logged or echoed back in errors: a token is a
//! credential for as long as it is valid.

use std::fmt;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::{AuthArgs, DEFAULT_JWT_MAX_LIFETIME_SECS};
use crate::keys::KeyRing;
use crate::limit::{RateLimits, RetryAfter};
use crate::revoked::DenyList;
use crate::verified::{Passed, Verified};

/// The RSA signature algorithms an RSA public key verifies.
pub const RSA_ALGORITHMS: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// Clock skew tolerated on `exp` (and `nbf`), in seconds.
pub const LEEWAY_SECS: u64 = 30;

/// What a caller is, which decides what it may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Role {
    /// Manages the lots of the sites of one organisation (`org` claim).
    SiteManager,
    /// A reuse partner that claims lots (`partner` claim).
    Partner,
    /// Platform operator.
    Admin,
    /// A third-party system reading through the API.
    Integrator,
}

impl Role {
    /// Every role, in declaration order.
    pub const ALL: [Role; 4] = [
        Role::SiteManager,
        Role::Partner,
        Role::Admin,
        Role::Integrator,
    ];

    /// The claim value: `site_manager`, `partner`, `admin` or `integrator`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::SiteManager => "site_manager",
            Role::Partner => "partner",
            Role::Admin => "admin",
            Role::Integrator => "integrator",
        }
    }

    /// Parses a claim value (exact, lower snake case).
    pub fn parse(s: &str) -> Result<Role, AuthError> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| AuthError::UnknownRole(s.to_owned()))
    }
}

impl FromStr for Role {
    type Err = AuthError;

    fn from_str(s: &str) -> Result<Role, AuthError> {
        Role::parse(s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is calling, from a verified token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    /// The token subject (`sub`).
    pub subject: String,
    /// The caller's role.
    pub role: Role,
    /// Organisation of a site manager; always present for that role.
    pub org: Option<String>,
    /// Partner id of a partner; always present for that role.
    pub partner: Option<String>,
}

impl Principal {
    /// The partner a partner's token acts for (`partner` claim, with or
    /// without its `partners/` prefix); `None` for other roles.
    pub fn own_partner(&self) -> Option<uuid::Uuid> {
        if self.role != Role::Partner {
            return None;
        }
        let raw = self.partner.as_deref()?;
        uuid::Uuid::try_parse(raw.strip_prefix("partners/").unwrap_or(raw)).ok()
    }

    /// The whole principal as one string (role, organisation, partner,
    /// subject): what scopes a caller's idempotency keys, so that two
    /// callers sharing a subject string never share keys.
    pub fn key(&self) -> String {
        format!(
            "{}|{}|{}|{}",
            self.role,
            self.org.as_deref().unwrap_or(""),
            self.partner.as_deref().unwrap_or(""),
            self.subject
        )
    }
}

/// JWT claims: sub, role, org?, partner?, exp, iat, and the token and
/// session ids the identity service sets (`jti`, `sid`). `iss`, `aud` and
/// `nbf` are checked from the raw token (see [`issue_hs256_with`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Subject: who the token was issued to.
    pub sub: String,
    /// Role of the subject.
    pub role: Role,
    /// Organisation (site managers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// Partner id (partners).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner: Option<String>,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Issue time, seconds since the Unix epoch.
    pub iat: u64,
    /// Issue time in milliseconds, which the identity service adds: a
    /// revocation covers the tokens issued up to its own millisecond, so
    /// one issued just after it, in the same second, still works.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat_ms: Option<u64>,
    /// Token id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// The signed-in session the token belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// Why a token or a key was refused. Messages never contain the token or
/// key material, so they can be sent to clients and logged.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `authorization` header, or an empty token.
    #[error("missing bearer token: send `authorization: Bearer <token>`")]
    Missing,
    /// The header or the token is not well formed.
    #[error("malformed bearer token")]
    Malformed,
    /// The token has expired.
    #[error("token expired")]
    Expired,
    /// The token's `nbf` (not before) lies in the future.
    #[error("token not yet valid: its `nbf` (not before) is in the future")]
    NotYetValid,
    /// The token's `exp` lies further ahead than the server accepts.
    #[error(
        "token lives too long: its `exp` is more than {max_secs} s away, the most this server accepts"
    )]
    LifetimeTooLong {
        /// The server's maximum, in seconds.
        max_secs: u64,
    },
    /// The signature does not match the configured key or algorithm.
    #[error("token signature is invalid")]
    BadSignature,
    /// The token names a signing key (`kid`) this server does not know:
    /// retired, or too new to have been fetched yet.
    #[error("token signed with an unknown key")]
    UnknownKey,
    /// The token was revoked: signed out, its account disabled, or its API
    /// token revoked.
    #[error("token revoked")]
    Revoked,
    /// The token is authentic but its claims are unacceptable.
    #[error("invalid token claims: {0}")]
    InvalidClaims(String),
    /// A role name that is not one of the four roles.
    #[error("unknown role {0:?}: expected site_manager, partner, admin or integrator")]
    UnknownRole(String),
    /// The key file could not be read.
    #[error("cannot read JWT key file {0}: {1}")]
    KeyFile(PathBuf, #[source] io::Error),
    /// The key is not usable (not an Ed25519/RSA public key, empty secret,
    /// secret and key both configured...).
    #[error("unusable JWT key: {0}")]
    InvalidKey(String),
    /// Neither a secret, a public key nor an identity service was configured.
    #[error(
        "no way to verify tokens: set --identity-url (or run the identity service in this \
         process), --jwt-secret or --jwt-public-key"
    )]
    NoKeyConfigured,
    /// A flag that the configured key needs is missing.
    #[error("{0}")]
    IncompleteConfig(String),
    /// Signing a token failed.
    #[error("cannot sign token: {0}")]
    Signing(String),
}

impl AuthError {
    /// The `ErrorInfo` reason a refused call carries, for clients to branch
    /// on.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::Missing => "TOKEN_MISSING",
            AuthError::Malformed => "TOKEN_MALFORMED",
            AuthError::Expired => "TOKEN_EXPIRED",
            AuthError::NotYetValid => "TOKEN_NOT_YET_VALID",
            AuthError::LifetimeTooLong { .. } => "TOKEN_LIFETIME_TOO_LONG",
            AuthError::BadSignature => "TOKEN_SIGNATURE_INVALID",
            AuthError::UnknownKey => "TOKEN_KEY_UNKNOWN",
            AuthError::Revoked => "TOKEN_REVOKED",
            AuthError::InvalidClaims(_) | AuthError::UnknownRole(_) => "TOKEN_CLAIMS_INVALID",
            // Configuration failures stop a process at start; they reach a
            // client only through a misconfigured server.
            AuthError::KeyFile(..)
            | AuthError::InvalidKey(_)
            | AuthError::NoKeyConfigured
            | AuthError::IncompleteConfig(_)
            | AuthError::Signing(_) => "UNAUTHENTICATED",
        }
    }
}

/// Which kind of key verifies tokens; shown in `Debug` instead of the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Hs256,
    Ed25519,
    Rsa,
}

/// A key configured by flags: the development HS256 secret, or the public
/// key of an outside identity provider.
#[derive(Clone)]
struct StaticKey {
    kind: KeyKind,
    key: DecodingKey,
    validation: Validation,
    issuer: Option<String>,
    audience: Option<String>,
    max_lifetime_secs: u64,
}

/// The tokens of the identity service: EdDSA, with a `kid` the key ring
/// holds, and its issuer and audience.
#[derive(Clone)]
struct Issued {
    ring: KeyRing,
    validation: Validation,
    issuer: String,
    audience: String,
}

/// The issuer the identity service signs with unless configured otherwise.
pub const DEFAULT_TOKEN_ISSUER: &str = "reemploi-identity";
/// The audience of the identity service's tokens unless configured otherwise.
pub const DEFAULT_TOKEN_AUDIENCE: &str = "reemploi";

/// Verifies bearer tokens: those of the identity service against the keys
/// of its JWKS (a [`KeyRing`]), and, when configured, those signed with a
/// development HS256 secret or an outside provider's PEM public key
/// (EdDSA or RSA). Every token is checked against the [`DenyList`] of
/// revocations.
#[derive(Clone)]
pub struct Authenticator {
    fixed: Option<StaticKey>,
    issued: Issued,
    revoked: DenyList,
    limits: RateLimits,
    verified: Verified,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The static key is left out on purpose: for HS256 it is the secret.
        f.debug_struct("Authenticator")
            .field("static_key", &self.fixed.as_ref().map(|k| k.kind))
            .field(
                "issuer",
                &self.fixed.as_ref().and_then(|k| k.issuer.as_ref()),
            )
            .field(
                "audience",
                &self.fixed.as_ref().and_then(|k| k.audience.as_ref()),
            )
            .field("ring", &self.issued.ring)
            .field("revoked", &self.revoked.len())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// A validation for `algorithms` with the checks every token gets.
fn validation(algorithms: &[Algorithm]) -> Validation {
    // The placeholder algorithm is replaced right away.
    let mut validation = Validation::new(Algorithm::HS256);
    validation.algorithms = algorithms.to_vec();
    validation.leeway = LEEWAY_SECS;
    validation.set_required_spec_claims(&["exp"]);
    // Off by default in jsonwebtoken: a token issued for later must not
    // work now.
    validation.validate_nbf = true;
    // jsonwebtoken rejects any token carrying `aud` unless audiences are
    // configured; without a configured audience we do not care.
    validation.validate_aud = false;
    validation
}

impl Authenticator {
    /// Verifies only the identity service's tokens, issued by `issuer` for
    /// `audience`, with the keys `ring` holds.
    pub fn issued_by(issuer: &str, audience: &str, ring: KeyRing) -> Authenticator {
        let mut v = validation(&[Algorithm::EdDSA]);
        v.set_issuer(&[issuer]);
        v.set_audience(&[audience]);
        v.validate_aud = true;
        v.set_required_spec_claims(&["exp", "iss", "aud", "nbf", "iat"]);
        Authenticator {
            fixed: None,
            issued: Issued {
                ring,
                validation: v,
                issuer: issuer.to_owned(),
                audience: audience.to_owned(),
            },
            revoked: DenyList::default(),
            limits: RateLimits::none(),
            verified: Verified::default(),
        }
    }

    fn with_static(mut self, kind: KeyKind, key: DecodingKey, algorithms: &[Algorithm]) -> Self {
        self.fixed = Some(StaticKey {
            kind,
            key,
            validation: validation(algorithms),
            issuer: None,
            audience: None,
            max_lifetime_secs: DEFAULT_JWT_MAX_LIFETIME_SECS,
        });
        self
    }

    fn default_issued() -> Authenticator {
        Authenticator::issued_by(
            DEFAULT_TOKEN_ISSUER,
            DEFAULT_TOKEN_AUDIENCE,
            KeyRing::default(),
        )
    }

    /// Verifies HS256 tokens signed with `secret` (and the identity
    /// service's tokens, once its keys are in the ring).
    pub fn hs256(secret: &[u8]) -> Authenticator {
        Authenticator::default_issued().with_static(
            KeyKind::Hs256,
            DecodingKey::from_secret(secret),
            &[Algorithm::HS256],
        )
    }

    /// Verifies tokens with a PEM public key: Ed25519 (EdDSA) or RSA
    /// (RS256/384/512, PS256/384/512).
    pub fn from_public_key_pem(pem: &[u8]) -> Result<Authenticator, AuthError> {
        let auth = Authenticator::default_issued();
        if let Ok(key) = DecodingKey::from_ed_pem(pem) {
            return Ok(auth.with_static(KeyKind::Ed25519, key, &[Algorithm::EdDSA]));
        }
        if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
            return Ok(auth.with_static(KeyKind::Rsa, key, &RSA_ALGORITHMS));
        }
        Err(AuthError::InvalidKey(
            "expected a PEM Ed25519 or RSA public key".to_owned(),
        ))
    }

    /// Builds the authenticator the flags describe: the identity service's
    /// issuer and audience, and the secret or the key file with its issuer,
    /// audience and lifetime checks. A public key needs an issuer and an
    /// audience. Whether anything can verify tokens at all (the identity
    /// service's keys, or a static key) is for the caller to check, with
    /// [`Authenticator::has_static_key`], once it knows where the keys come
    /// from.
    pub fn from_args(args: &AuthArgs) -> Result<Authenticator, AuthError> {
        if args.jwt_max_lifetime_secs == 0 {
            return Err(AuthError::IncompleteConfig(
                "--jwt-max-lifetime-secs must be at least 1".to_owned(),
            ));
        }
        let issued =
            Authenticator::issued_by(&args.token_issuer, &args.token_audience, KeyRing::default());
        let auth = match (&args.jwt_secret, &args.jwt_public_key) {
            (Some(_), Some(_)) => {
                return Err(AuthError::InvalidKey(
                    "both a JWT secret and a public key are configured; choose one".to_owned(),
                ));
            }
            (Some(secret), None) => {
                if secret.is_empty() {
                    return Err(AuthError::InvalidKey("the JWT secret is empty".to_owned()));
                }
                issued.with_static(
                    KeyKind::Hs256,
                    DecodingKey::from_secret(secret.as_bytes()),
                    &[Algorithm::HS256],
                )
            }
            (None, Some(path)) => {
                // A provider's key signs tokens for every application and
                // tenant it serves: without both checks, a token it issued
                // to another of them would be accepted here.
                for (flag, value) in [
                    ("--jwt-issuer", &args.jwt_issuer),
                    ("--jwt-audience", &args.jwt_audience),
                ] {
                    if value.as_deref().is_none_or(|v| v.trim().is_empty()) {
                        return Err(AuthError::IncompleteConfig(format!(
                            "--jwt-public-key requires {flag}: the identity provider's tokens \
                             are accepted only with the issuer and audience this server expects"
                        )));
                    }
                }
                let pem = std::fs::read(path).map_err(|e| AuthError::KeyFile(path.clone(), e))?;
                let fixed = Authenticator::from_public_key_pem(&pem)?.fixed;
                Authenticator { fixed, ..issued }
            }
            (None, None) => issued,
        };
        let auth = match &args.jwt_issuer {
            Some(issuer) => auth.with_issuer(issuer),
            None => auth,
        };
        let auth = match &args.jwt_audience {
            Some(audience) => auth.with_audience(audience),
            None => auth,
        };
        Ok(auth.with_max_lifetime(Duration::from_secs(args.jwt_max_lifetime_secs)))
    }

    /// Whether a development secret or an outside provider's key is
    /// configured.
    pub fn has_static_key(&self) -> bool {
        self.fixed.is_some()
    }

    /// The `iss` the identity service's tokens carry.
    pub fn token_issuer(&self) -> &str {
        &self.issued.issuer
    }

    /// The `aud` the identity service's tokens carry.
    pub fn token_audience(&self) -> &str {
        &self.issued.audience
    }

    /// The ring of the identity service's public keys (shared by clones).
    pub fn key_ring(&self) -> &KeyRing {
        &self.issued.ring
    }

    /// The revocations this authenticator refuses (shared by clones).
    pub fn deny_list(&self) -> &DenyList {
        &self.revoked
    }

    /// Refuses static-key tokens whose `exp` is more than `max` (plus the
    /// clock-skew leeway) away. 7 days unless set. The identity service's
    /// own tokens are not capped: it sets their lifetime itself (an API
    /// token may live a year).
    pub fn with_max_lifetime(mut self, max: Duration) -> Authenticator {
        self.verified = Verified::default();
        if let Some(k) = &mut self.fixed {
            k.max_lifetime_secs = max.as_secs();
        }
        self
    }

    /// Limits calls per principal and, for calls without a valid token,
    /// per client address; the [`AuthInterceptor`] applies them. Clones of
    /// this authenticator share the same buckets. None unless set.
    pub fn with_rate_limits(mut self, limits: RateLimits) -> Authenticator {
        self.limits = limits;
        self
    }

    /// The rate limits the interceptor applies.
    pub fn rate_limits(&self) -> &RateLimits {
        &self.limits
    }

    /// Requires static-key tokens to carry `iss` equal to `issuer`.
    pub fn with_issuer(mut self, issuer: &str) -> Authenticator {
        self.verified = Verified::default();
        if let Some(k) = &mut self.fixed {
            k.validation.set_issuer(&[issuer]);
            k.validation.required_spec_claims.insert("iss".to_owned());
            k.issuer = Some(issuer.to_owned());
        }
        self
    }

    /// Requires static-key tokens to carry `aud` equal to (or containing)
    /// `audience`.
    pub fn with_audience(mut self, audience: &str) -> Authenticator {
        self.verified = Verified::default();
        if let Some(k) = &mut self.fixed {
            k.validation.set_audience(&[audience]);
            k.validation.validate_aud = true;
            k.validation.required_spec_claims.insert("aud".to_owned());
            k.audience = Some(audience.to_owned());
        }
        self
    }

    /// Verifies `token` (without the `Bearer ` prefix): signature, `exp`
    /// and `nbf` with a 30 s leeway, issuer and audience, a lifetime within
    /// the maximum for static-key tokens, the deny list, and the claims
    /// each role needs (`partner` for partners, `org` for site managers).
    /// A token naming a key id the ring lacks is refused and makes the ring
    /// fetch the keys again. A token that passed is remembered, so that its
    /// signature is checked once; its expiry, its key and the deny list are
    /// checked on every call.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        principal_from_claims(self.passed(token)?.claims)
    }

    /// What [`Authenticator::verify`] checks, giving the claims that passed.
    pub(crate) fn passed(&self, token: &str) -> Result<Passed, AuthError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        let now = now_secs();
        let passed = match self.verified.get(token) {
            // Signature, issuer, audience, `nbf` and lifetime cannot change
            // for the same bytes; the expiry and the key can.
            Some(p) if p.claims.exp.saturating_add(LEEWAY_SECS) < now => {
                self.verified.remove(token);
                return Err(AuthError::Expired);
            }
            Some(p)
                if !p.issued
                    || p.kid
                        .as_deref()
                        .is_some_and(|k| self.issued.ring.contains(k)) =>
            {
                p
            }
            _ => {
                let p = self.check_signature(token)?;
                self.verified.insert(token, p.clone(), now);
                p
            }
        };
        if self.revoked.refuses(&passed.claims, passed.kid.as_deref()) {
            return Err(AuthError::Revoked);
        }
        Ok(passed)
    }

    /// Checks the signature of `token` with the key it names, and the
    /// claims its key requires.
    fn check_signature(&self, token: &str) -> Result<Passed, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        let issued_key = match (&header.kid, header.alg) {
            (Some(kid), Algorithm::EdDSA) => self.issued.ring.get(kid),
            _ => None,
        };
        let (claims, issued) = match (issued_key, &self.fixed) {
            (Some(key), _) => (decode_claims(token, &key, &self.issued.validation)?, true),
            // A static key verifies only its own algorithms: an EdDSA token
            // naming an unknown key is the identity service's, not a forgery
            // of the development secret.
            (None, Some(fixed)) if fixed.validation.algorithms.contains(&header.alg) => {
                let claims = decode_claims(token, &fixed.key, &fixed.validation)?;
                let latest = now_secs()
                    .saturating_add(fixed.max_lifetime_secs)
                    .saturating_add(LEEWAY_SECS);
                if claims.exp > latest {
                    return Err(AuthError::LifetimeTooLong {
                        max_secs: fixed.max_lifetime_secs,
                    });
                }
                (claims, false)
            }
            (None, _) => {
                if header.kid.is_some() {
                    self.issued.ring.want();
                    return Err(AuthError::UnknownKey);
                }
                return Err(AuthError::BadSignature);
            }
        };
        Ok(Passed {
            claims,
            kid: header.kid,
            issued,
        })
    }
}

/// The claims of `token`, verified with `key`.
fn decode_claims(
    token: &str,
    key: &DecodingKey,
    validation: &Validation,
) -> Result<Claims, AuthError> {
    // Decode into a JSON value first so that a claims problem (unknown
    // role, missing `sub`) is reported as such, not as a malformed token.
    let data =
        jsonwebtoken::decode::<serde_json::Value>(token, key, validation).map_err(map_jwt_error)?;
    serde_json::from_value(data.claims).map_err(|e| AuthError::InvalidClaims(e.to_string()))
}

/// Checks the role-specific claims and builds the principal.
fn principal_from_claims(claims: Claims) -> Result<Principal, AuthError> {
    if claims.sub.trim().is_empty() {
        return Err(AuthError::InvalidClaims("`sub` is empty".to_owned()));
    }
    let present = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
    match claims.role {
        Role::Partner if !present(&claims.partner) => {
            return Err(AuthError::InvalidClaims(
                "role partner requires a `partner` claim".to_owned(),
            ));
        }
        Role::SiteManager if !present(&claims.org) => {
            return Err(AuthError::InvalidClaims(
                "role site_manager requires an `org` claim".to_owned(),
            ));
        }
        _ => {}
    }
    Ok(Principal {
        subject: claims.sub,
        role: claims.role,
        org: claims.org,
        partner: claims.partner,
    })
}

fn map_jwt_error(err: jsonwebtoken::errors::Error) -> AuthError {
    match err.kind() {
        ErrorKind::ExpiredSignature => AuthError::Expired,
        // A token signed with another algorithm than the key's is as bad as
        // a wrong signature, and reported the same way.
        ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => AuthError::BadSignature,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidIssuer => AuthError::InvalidClaims("wrong issuer".to_owned()),
        ErrorKind::InvalidAudience => AuthError::InvalidClaims("wrong audience".to_owned()),
        ErrorKind::InvalidSubject => AuthError::InvalidClaims("wrong subject".to_owned()),
        ErrorKind::MissingRequiredClaim(claim) => {
            AuthError::InvalidClaims(format!("missing `{claim}` claim"))
        }
        ErrorKind::InvalidClaimFormat(claim) => {
            AuthError::InvalidClaims(format!("`{claim}` has the wrong format"))
        }
        ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidEddsaKey
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidKeyFormat => AuthError::InvalidKey(err.to_string()),
        _ => AuthError::Malformed,
    }
}

/// The claims of an issued token, with the optional registered claims that
/// [`Claims`] leaves to the verifier.
#[derive(Serialize)]
struct IssuedClaims<'a> {
    #[serde(flatten)]
    claims: &'a Claims,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
}

/// Signs an HS256 token (dev tokens, tests).
pub fn issue_hs256(secret: &[u8], claims: &Claims) -> Result<String, AuthError> {
    issue_hs256_with(secret, claims, None, None)
}

/// The claims a token states, read without checking its signature or
/// expiry: for a client defaulting to the identity it presents. Never use it
/// to authorize anything; the server verifies every token it receives.
pub fn unverified_claims(token: &str) -> Result<Claims, AuthError> {
    jsonwebtoken::dangerous::insecure_decode::<Claims>(token)
        .map(|data| data.claims)
        .map_err(|_| AuthError::Malformed)
}

/// The key id (`kid`) a token's header names, read without checking
/// anything: to ask whether that key was revoked, never to authorize.
pub fn unverified_key_id(token: &str) -> Option<String> {
    jsonwebtoken::decode_header(token).ok()?.kid
}

/// Signs an HS256 token that also carries `iss` and/or `aud`, for servers
/// started with --jwt-issuer / --jwt-audience.
pub fn issue_hs256_with(
    secret: &[u8],
    claims: &Claims,
    issuer: Option<&str>,
    audience: Option<&str>,
) -> Result<String, AuthError> {
    let body = IssuedClaims {
        claims,
        iss: issuer,
        aud: audience,
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &body,
        &EncodingKey::from_secret(secret),
    )
    .map_err(|e| AuthError::Signing(e.to_string()))
}

/// Seconds since the Unix epoch; 0 if the clock is before 1970, which makes
/// every token look expired rather than crashing.
fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Convenience: claims for role/org/partner valid `ttl` from now, with
/// subject `dev:<role>`.
pub fn claims_for(
    role: Role,
    org: Option<String>,
    partner: Option<String>,
    ttl: Duration,
) -> Claims {
    let iat = now_secs();
    Claims {
        sub: format!("dev:{role}"),
        role,
        org,
        partner,
        exp: iat.saturating_add(ttl.as_secs()),
        iat,
        iat_ms: None,
        jti: None,
        sid: None,
    }
}

/// A tonic interceptor: reads `authorization: Bearer <token>`, verifies it
/// and inserts the [`Principal`] into the request extensions. Failures
/// become UNAUTHENTICATED with the reason, never the token. It also applies
/// the authenticator's rate limits: per principal for a valid token, per
/// client address otherwise; a call over its budget gets
/// RESOURCE_EXHAUSTED with a retry delay instead.
#[derive(Clone, Debug)]
pub struct AuthInterceptor {
    /// Shared with the calls it lets through, to check their token again
    /// (see [`crate::lapse`]).
    authenticator: std::sync::Arc<Authenticator>,
    optional: bool,
}

/// Why a call let through by an optional interceptor has no principal:
/// what [`principal`] answers when a method needs one after all.
#[derive(Debug, Clone)]
struct Refused {
    message: String,
    reason: &'static str,
}

impl AuthInterceptor {
    /// An interceptor verifying with `a`: a call without a valid token is
    /// refused.
    pub fn new(a: Authenticator) -> Self {
        AuthInterceptor {
            authenticator: std::sync::Arc::new(a),
            optional: false,
        }
    }

    /// An interceptor for a service some of whose methods need no token
    /// (signing in): a call without a valid token goes through without a
    /// principal (under the per-address rate limit), and the methods that
    /// need one refuse it through [`principal`] with the token's fault.
    pub fn optional(a: Authenticator) -> Self {
        AuthInterceptor {
            authenticator: std::sync::Arc::new(a),
            optional: true,
        }
    }

    fn authenticate<T>(&self, req: &tonic::Request<T>) -> Result<Principal, AuthError> {
        let value = req
            .metadata()
            .get("authorization")
            .ok_or(AuthError::Missing)?;
        let value = value.to_str().map_err(|_| AuthError::Malformed)?;
        let token = bearer_token(value).ok_or(AuthError::Malformed)?;
        self.authenticator.verify(token)
    }
}

/// The token after a case-insensitive `Bearer ` scheme.
pub(crate) fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

impl tonic::service::Interceptor for AuthInterceptor {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let limits = self.authenticator.rate_limits();
        match self.authenticate(&req) {
            Ok(principal) => {
                if let Err(RetryAfter(delay)) = limits.check_principal(&principal) {
                    tracing::debug!(
                        subject = %principal.subject,
                        role = %principal.role,
                        retry_ms = delay.as_millis() as u64,
                        "request refused: principal over its rate limit"
                    );
                    return Err(crate::status::rate_limited(delay));
                }
                crate::actor::record(&principal);
                req.extensions_mut().insert(principal);
                req.extensions_mut()
                    .insert(crate::lapse::Checker(self.authenticator.clone()));
                Ok(req)
            }
            Err(err) => {
                // Without a valid token a call has no identity but its
                // address; with one it is counted per principal only, so
                // callers behind one address (a NAT, a proxy) keep budgets
                // of their own.
                let client = limits.client_ip(&req);
                if let Err(RetryAfter(delay)) = limits.check_unauthenticated(client) {
                    tracing::debug!(
                        client = ?client,
                        retry_ms = delay.as_millis() as u64,
                        "request refused: unauthenticated calls from this address over their rate limit"
                    );
                    return Err(crate::status::rate_limited(delay));
                }
                if self.optional {
                    req.extensions_mut().insert(Refused {
                        message: err.to_string(),
                        reason: err.reason(),
                    });
                    return Ok(req);
                }
                tracing::debug!(reason = %err, "request refused: authentication failed");
                Err(crate::status::with_reason(
                    tonic::Code::Unauthenticated,
                    err.to_string(),
                    err.reason(),
                ))
            }
        }
    }
}

/// In a handler: the caller's principal, or UNAUTHENTICATED (with the
/// token's fault when an optional interceptor let the call through).
pub fn principal<T>(req: &tonic::Request<T>) -> Result<Principal, tonic::Status> {
    if let Some(p) = req.extensions().get::<Principal>() {
        return Ok(p.clone());
    }
    Err(match req.extensions().get::<Refused>() {
        Some(r) => {
            crate::status::with_reason(tonic::Code::Unauthenticated, r.message.clone(), r.reason)
        }
        None => tonic::Status::unauthenticated("no authenticated principal on this request"),
    })
}

/// Number of random bytes in a generated secret.
const GENERATED_SECRET_BYTES: usize = 32;

/// Loads the secret from `path`, or creates a random 32-byte secret (hex)
/// there with 0600 permissions and returns it. For `reemploi up` without a
/// configured secret. Parent directories are created as needed.
pub fn load_or_create_secret(path: &Path) -> io::Result<String> {
    match read_secret(path) {
        Ok(secret) => return Ok(secret),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        reemploi_store::create_private_dir(parent).map_err(io::Error::other)?;
    }
    let bytes: [u8; GENERATED_SECRET_BYTES] = rand::random();
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();

    let mut options = std::fs::OpenOptions::new();
    // create_new: two processes starting together must not overwrite each
    // other's secret; the loser reads the winner's.
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        // Set at creation so the secret is never readable by others, not
        // even for a moment.
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = match options.open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => return read_secret(path),
        Err(err) => return Err(err),
    };
    #[cfg(unix)]
    {
        // The umask can only remove bits, but be explicit in case the
        // process runs with an unusual one.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(secret.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    tracing::info!(path = %path.display(), "generated a new secret");
    Ok(secret)
}

fn read_secret(path: &Path) -> io::Result<String> {
    let mut contents = String::new();
    std::fs::File::open(path)?.read_to_string(&mut contents)?;
    let secret = contents.trim();
    if secret.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("secret file {} is empty", path.display()),
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), mode = format!("{:o}", mode & 0o777), "secret file is readable by other users");
        }
    }
    Ok(secret.to_owned())
}

/// In a handler: the caller's principal and the request's message.
pub fn caller<T>(req: tonic::Request<T>) -> Result<(Principal, T), tonic::Status> {
    let p = principal(&req)?;
    Ok((p, req.into_inner()))
}

/// A request carrying `principal`, as the interceptor leaves it: for
/// in-process callers of a service's gRPC methods (tests, tools).
pub fn as_caller<T>(principal: Principal, message: T) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    req.extensions_mut().insert(principal);
    req
}
