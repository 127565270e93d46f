//! What the identity service hands out: signed access tokens and API tokens
//! (JWT, EdDSA), and opaque secrets (refresh tokens, invitation and reset
//! codes) of which only a SHA-256 is stored.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Header};
use reemploi_runtime::auth::{Claims, Role};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::keys::Signer;
use crate::model::Grant;

/// How long an access token works.
pub const ACCESS_TTL: Duration = Duration::from_secs(15 * 60);
/// How long a refresh token works, if not used before.
pub const REFRESH_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// How long an invitation link works.
pub const INVITATION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long a password-reset link works.
pub const RESET_TTL: Duration = Duration::from_secs(30 * 60);
/// How long a sign-in with the OpenID provider may take.
pub const EXTERNAL_SIGN_IN_TTL: Duration = Duration::from_secs(10 * 60);
/// The longest an API token may be made for.
pub const MAX_API_TOKEN_TTL: Duration = Duration::from_secs(366 * 24 * 3600);

/// Random bytes in an opaque secret.
const SECRET_BYTES: usize = 32;

/// Milliseconds of a duration, for adding to Unix ms.
pub fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A new opaque secret, `<prefix>_<43 base64url characters>`: the prefix
/// says what it is to a person (and to secret scanners).
pub fn new_secret(prefix: &str) -> String {
    let bytes: [u8; SECRET_BYTES] = rand::random();
    format!("{prefix}_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// What is stored of a secret: its SHA-256, hex.
pub fn digest(secret: &str) -> String {
    Sha256::digest(secret.trim().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The registered claims this service adds around [`Claims`].
#[derive(Serialize)]
struct Signed<'a> {
    #[serde(flatten)]
    claims: &'a Claims,
    iss: &'a str,
    aud: &'a str,
    nbf: u64,
}

/// Who signs, for whom.
#[derive(Debug, Clone)]
pub struct Issuer {
    /// `iss`.
    pub issuer: String,
    /// `aud`.
    pub audience: String,
}

/// Why a token could not be signed.
#[derive(Debug, thiserror::Error)]
#[error("cannot sign a token: {0}")]
pub struct SignError(String);

/// One token to sign.
#[derive(Debug)]
pub struct Token<'a> {
    /// `sub`: `accounts/{id}` or `apiTokens/{id}`.
    pub subject: String,
    /// Its role, organisation and partner.
    pub grant: &'a Grant,
    /// Issue time, Unix ms.
    pub now_ms: i64,
    /// Expiry, Unix ms.
    pub expires_ms: i64,
    /// `jti`.
    pub id: String,
    /// `sid`: the session, for access tokens.
    pub session: Option<String>,
}

impl Issuer {
    /// `token`, signed by `signer`.
    pub fn sign(&self, signer: &Signer, token: Token<'_>) -> Result<String, SignError> {
        let secs = |ms: i64| u64::try_from(ms.div_euclid(1000)).unwrap_or(0);
        let claims = Claims {
            sub: token.subject,
            role: token.grant.role,
            org: token.grant.org.clone(),
            partner: token.grant.partner.map(|p| p.to_string()),
            exp: secs(token.expires_ms),
            iat: secs(token.now_ms),
            iat_ms: u64::try_from(token.now_ms).ok(),
            jti: Some(token.id),
            sid: token.session,
        };
        let now_ms = token.now_ms;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(signer.kid.clone());
        let body = Signed {
            claims: &claims,
            iss: &self.issuer,
            aud: &self.audience,
            nbf: secs(now_ms),
        };
        jsonwebtoken::encode(&header, &body, &signer.key).map_err(|e| SignError(e.to_string()))
    }
}

/// The grant of an API token: an integrator, nothing more.
pub fn integrator() -> Grant {
    Grant {
        role: Role::Integrator,
        org: None,
        partner: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_only_their_digest_is_kept() {
        let a = new_secret("rt");
        let b = new_secret("rt");
        assert_ne!(a, b);
        assert!(a.starts_with("rt_") && a.len() == 3 + 43);
        assert_eq!(digest(&a), digest(&format!(" {a}\n")));
        assert_ne!(digest(&a), digest(&b));
        assert_eq!(digest(&a).len(), 64);
    }
}
