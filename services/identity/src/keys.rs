//! The Ed25519 keys tokens are signed with: made here, kept in the database
//! with their private half sealed (XChaCha20-Poly1305) under a
//! key-encryption key that is never stored beside them, published as a
//! JWKS, and rotated.
//!
//! Rotation: when the signing key is older than its lifetime, a new key is
//! made that signs only from [`PUBLISH_AHEAD`] later, so that every service
//! has fetched it (they refresh every minute) before any token names it.
//! An old key keeps verifying until the last token it signed has expired
//! (`signed_until`), then leaves the JWKS. An emergency rotation signs with
//! the new key at once and withdraws the others.

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::EncodingKey;
use reemploi_runtime::keys::{JwksSource, PublicKey};
use reemploi_store::{Db, StoreError, now_millis};
use sqlx::Row;

/// How long before it signs a new key is published.
pub const PUBLISH_AHEAD: Duration = Duration::from_secs(2 * 60);
/// Bytes of the key-encryption key.
const KEK_BYTES: usize = 32;
/// Bytes of an XChaCha20 nonce.
const NONCE_BYTES: usize = 24;
/// The file under the data directory holding a generated key-encryption key.
pub const KEK_FILE: &str = "identity-key";

/// What can go wrong with the keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The key-encryption key is missing, malformed, or not the one that
    /// sealed the stored keys.
    #[error("signing keys: {0}")]
    Kek(String),
    /// A stored key is unusable.
    #[error("signing key {kid}: {why}")]
    Corrupt {
        /// The key.
        kid: String,
        /// What is wrong.
        why: String,
    },
}

impl From<sqlx::Error> for KeyError {
    fn from(e: sqlx::Error) -> Self {
        KeyError::Store(e.into())
    }
}

/// The key-encryption key. Never printed.
#[derive(Clone)]
pub struct Kek([u8; KEK_BYTES]);

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(<redacted>)")
    }
}

impl Kek {
    /// From its text form: 64 hex digits or base64 of 32 bytes.
    pub fn parse(text: &str) -> Result<Kek, KeyError> {
        let text = text.trim();
        let bytes = if text.len() == 2 * KEK_BYTES && text.chars().all(|c| c.is_ascii_hexdigit()) {
            (0..KEK_BYTES)
                .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|_| KeyError::Kek("not hexadecimal".to_owned()))?
        } else {
            STANDARD
                .decode(text)
                .or_else(|_| URL_SAFE_NO_PAD.decode(text))
                .map_err(|_| {
                    KeyError::Kek("expected 64 hex digits or base64 of 32 bytes".to_owned())
                })?
        };
        let array: [u8; KEK_BYTES] = bytes
            .try_into()
            .map_err(|_| KeyError::Kek("the key-encryption key must be 32 bytes".to_owned()))?;
        Ok(Kek(array))
    }

    /// The key in `<data_dir>/identity-key`, made (random, mode 0600) when
    /// absent: for `reemploi up` and single-machine deployments.
    pub fn load_or_create(data_dir: &Path) -> Result<Kek, KeyError> {
        let path = data_dir.join(KEK_FILE);
        let text = reemploi_runtime::auth::load_or_create_secret(&path)
            .map_err(|e| KeyError::Kek(format!("cannot read or create {}: {e}", path.display())))?;
        Kek::parse(&text)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&self.0).into())
    }

    /// Seals `secret`, bound to `kid` (a sealed key moved to another row
    /// does not open).
    fn seal(&self, kid: &str, secret: &[u8]) -> Result<String, KeyError> {
        let nonce: [u8; NONCE_BYTES] = rand::random();
        let sealed = self
            .cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: secret,
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| KeyError::Kek("sealing failed".to_owned()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(STANDARD.encode(out))
    }

    fn open(&self, kid: &str, sealed: &str) -> Result<Vec<u8>, KeyError> {
        let corrupt = |why: &str| KeyError::Corrupt {
            kid: kid.to_owned(),
            why: why.to_owned(),
        };
        let raw = STANDARD.decode(sealed).map_err(|_| corrupt("not base64"))?;
        if raw.len() <= NONCE_BYTES {
            return Err(corrupt("too short"));
        }
        let (nonce, body) = raw.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| corrupt("too short"))?;
        self.cipher()
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: body,
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| {
                KeyError::Kek(format!(
                    "key {kid} does not open with this key-encryption key: is it the one the \
                     keys were made with?"
                ))
            })
    }
}

/// The key that signs now.
#[derive(Clone)]
pub struct Signer {
    /// Its id.
    pub kid: String,
    /// The PKCS#8 private key, as jsonwebtoken takes it.
    pub key: EncodingKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("kid", &self.kid).finish()
    }
}

/// The signing keys in the identity database.
#[derive(Debug, Clone)]
pub struct Keys {
    db: Db,
    kek: Kek,
    lifetime: Duration,
}

impl Keys {
    /// The keys of `db`, sealed with `kek`, each signing for `lifetime`.
    pub fn new(db: Db, kek: Kek, lifetime: Duration) -> Keys {
        Keys { db, kek, lifetime }
    }

    /// Makes a key that signs from `signs_from` (Unix ms).
    async fn create(&self, signs_from: i64) -> Result<String, KeyError> {
        let secret: [u8; 32] = rand::random();
        let signing = SigningKey::from_bytes(&secret);
        let kid = uuid::Uuid::now_v7().simple().to_string();
        let der = signing
            .to_pkcs8_der()
            .map_err(|e| KeyError::Kek(format!("cannot encode a new key: {e}")))?;
        let sealed = self.kek.seal(&kid, der.as_bytes())?;
        let public = URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes());
        sqlx::query(
            "INSERT INTO signing_keys (kid, public_key, sealed_private, created_at, signs_from, \
             signed_until, removed_at) VALUES ($1, $2, $3, $4, $5, 0, NULL)",
        )
        .bind(&kid)
        .bind(&public)
        .bind(&sealed)
        .bind(now_millis())
        .bind(signs_from)
        .execute(self.db.pool())
        .await?;
        tracing::info!(%kid, signs_from, "new signing key");
        Ok(kid)
    }

    /// Makes sure a key signs now and its successor is published in time;
    /// checks that the stored keys open with this key-encryption key.
    /// Run at start and periodically.
    pub async fn maintain(&self) -> Result<(), KeyError> {
        let now = now_millis();
        let current = self.current_row(now).await?;
        let Some((kid, sealed, signs_from)) = current else {
            self.create(now).await?;
            return Ok(());
        };
        // Fails at start, not at the first sign-in, when the KEK is wrong.
        self.kek.open(&kid, &sealed)?;
        let lifetime = i64::try_from(self.lifetime.as_millis()).unwrap_or(i64::MAX);
        let ahead = i64::try_from(PUBLISH_AHEAD.as_millis()).unwrap_or(0);
        let successor: Option<(i64,)> = sqlx::query_as(
            "SELECT signs_from FROM signing_keys WHERE signs_from > $1 AND removed_at IS NULL \
             ORDER BY signs_from DESC LIMIT 1",
        )
        .bind(now)
        .fetch_optional(self.db.pool())
        .await?;
        if successor.is_none() && signs_from.saturating_add(lifetime) <= now.saturating_add(ahead) {
            self.create(now.saturating_add(ahead)).await?;
        }
        Ok(())
    }

    async fn current_row(&self, now: i64) -> Result<Option<(String, String, i64)>, KeyError> {
        Ok(sqlx::query_as(
            "SELECT kid, sealed_private, signs_from FROM signing_keys \
             WHERE signs_from <= $1 AND removed_at IS NULL ORDER BY signs_from DESC, kid DESC LIMIT 1",
        )
        .bind(now)
        .fetch_optional(self.db.pool())
        .await?)
    }

    /// The key that signs now, having noted that it signs a token valid
    /// until `expires_at` (Unix ms), so that it verifies until then.
    pub async fn signer_until(&self, expires_at: i64) -> Result<Signer, KeyError> {
        let now = now_millis();
        let (kid, sealed, _) = match self.current_row(now).await? {
            Some(row) => row,
            None => {
                self.maintain().await?;
                self.current_row(now_millis())
                    .await?
                    .ok_or_else(|| KeyError::Kek("no signing key could be made".to_owned()))?
            }
        };
        sqlx::query(
            "UPDATE signing_keys SET signed_until = $2 WHERE kid = $1 AND signed_until < $2",
        )
        .bind(&kid)
        .bind(expires_at)
        .execute(self.db.pool())
        .await?;
        let der = self.kek.open(&kid, &sealed)?;
        Ok(Signer {
            kid,
            key: EncodingKey::from_ed_der(&der),
        })
    }

    /// The public keys that verify tokens now: the signing one, those
    /// published ahead, and older ones whose tokens have not all expired.
    pub async fn public(&self) -> Result<Vec<PublicKey>, KeyError> {
        let now = now_millis();
        let rows = sqlx::query(
            "SELECT kid, public_key FROM signing_keys WHERE removed_at IS NULL \
             AND (signed_until >= $1 OR signs_from >= (SELECT COALESCE(MAX(signs_from), 0) \
             FROM signing_keys WHERE signs_from <= $1 AND removed_at IS NULL)) \
             ORDER BY signs_from DESC, kid DESC",
        )
        .bind(now)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PublicKey {
                    kid: r.try_get("kid")?,
                    x: r.try_get("public_key")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(KeyError::from)
    }

    /// Makes a new key sign at once; with `retire_previous`, withdraws every
    /// other key (their tokens stop verifying). Returns the withdrawn ids.
    pub async fn rotate(&self, retire_previous: bool) -> Result<Vec<String>, KeyError> {
        let now = now_millis();
        let kid = self.create(now).await?;
        if !retire_previous {
            return Ok(Vec::new());
        }
        let withdrawn: Vec<(String,)> =
            sqlx::query_as("SELECT kid FROM signing_keys WHERE kid <> $1 AND removed_at IS NULL")
                .bind(&kid)
                .fetch_all(self.db.pool())
                .await?;
        sqlx::query(
            "UPDATE signing_keys SET removed_at = $2 WHERE kid <> $1 AND removed_at IS NULL",
        )
        .bind(&kid)
        .bind(now)
        .execute(self.db.pool())
        .await?;
        Ok(withdrawn.into_iter().map(|(k,)| k).collect())
    }

    /// The latest expiry of a token signed by `kid` (Unix ms).
    pub async fn signed_until(&self, kid: &str) -> Result<i64, KeyError> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT signed_until FROM signing_keys WHERE kid = $1")
                .bind(kid)
                .fetch_optional(self.db.pool())
                .await?;
        Ok(row.map(|(t,)| t).unwrap_or(0))
    }
}

#[async_trait::async_trait]
impl JwksSource for Keys {
    async fn fetch(&self) -> Result<Vec<PublicKey>, String> {
        self.public().await.map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_key_opens_with_its_kek_and_its_kid_only() {
        let kek = Kek::parse(&"ab".repeat(32)).unwrap();
        let sealed = kek.seal("k1", b"secret").unwrap();
        assert_eq!(kek.open("k1", &sealed).unwrap(), b"secret");
        assert!(kek.open("k2", &sealed).is_err());
        let other = Kek::parse(&"cd".repeat(32)).unwrap();
        assert!(other.open("k1", &sealed).is_err());
        assert!(Kek::parse("too short").is_err());
    }
}
