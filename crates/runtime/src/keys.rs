//! The public keys of the identity service as every service holds them: a
//! [`KeyRing`] refreshed in the background from a [`JwksSource`] (the
//! identity service's `GetJwks` over gRPC, or its database when it runs in
//! the same process).
//!
//! Verification stays synchronous (a tonic interceptor cannot wait), so the
//! ring is filled ahead of use: fetched at start, every
//! [`REFRESH_INTERVAL`], and at once when a token names a key it does not
//! hold. The identity service publishes a new key well before it signs with
//! it, so that last case only follows an emergency rotation.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use reemploi_proto::identity as pb;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How often the ring is fetched again when nothing asks for it sooner.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(60);
/// Least time between two fetches asked for by unknown key ids, so that
/// tokens with made-up `kid`s cannot turn into a flood of fetches.
const MIN_REFETCH: Duration = Duration::from_millis(500);
/// First and longest wait after a failed fetch.
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(10);

/// One Ed25519 public key, as a JWK carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// Its key id, the `kid` of the tokens it signed.
    pub kid: String,
    /// The 32-byte public key, base64url without padding (JWK `x`).
    pub x: String,
}

impl PublicKey {
    /// The JWK of this key.
    pub fn to_jwk(&self) -> pb::Jwk {
        pb::Jwk {
            kid: self.kid.clone(),
            kty: "OKP".to_owned(),
            crv: "Ed25519".to_owned(),
            x: self.x.clone(),
            alg: "EdDSA".to_owned(),
        }
    }

    /// The key a JWK describes, if it is an Ed25519 signing key.
    pub fn from_jwk(jwk: &pb::Jwk) -> Option<PublicKey> {
        (jwk.kty == "OKP" && jwk.crv == "Ed25519" && !jwk.kid.is_empty()).then(|| PublicKey {
            kid: jwk.kid.clone(),
            x: jwk.x.clone(),
        })
    }
}

/// Where the public keys come from.
#[async_trait::async_trait]
pub trait JwksSource: Send + Sync + 'static {
    /// Every key that verifies tokens now.
    async fn fetch(&self) -> Result<Vec<PublicKey>, String>;
}

/// The identity service's `GetJwks`, over a channel.
#[derive(Debug, Clone)]
pub struct GrpcJwks {
    channel: tonic::transport::Channel,
}

impl GrpcJwks {
    /// Fetches from the identity service at the other end of `channel`.
    pub fn new(channel: tonic::transport::Channel) -> GrpcJwks {
        GrpcJwks { channel }
    }
}

#[async_trait::async_trait]
impl JwksSource for GrpcJwks {
    async fn fetch(&self) -> Result<Vec<PublicKey>, String> {
        let mut client =
            pb::identity_service_client::IdentityServiceClient::new(self.channel.clone());
        let jwks = client
            .get_jwks(pb::GetJwksRequest {})
            .await
            .map_err(|s| format!("GetJwks: {}: {}", s.code(), s.message()))?
            .into_inner();
        Ok(jwks.keys.iter().filter_map(PublicKey::from_jwk).collect())
    }
}

/// The verifying keys by id, shared by every clone.
#[derive(Clone, Default)]
pub struct KeyRing {
    inner: Arc<Ring>,
}

#[derive(Default)]
struct Ring {
    keys: RwLock<HashMap<String, DecodingKey>>,
    wanted: Notify,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("keys", &self.kids())
            .finish()
    }
}

impl KeyRing {
    /// The key `kid`, if the ring holds it.
    pub fn get(&self, kid: &str) -> Option<DecodingKey> {
        self.inner.keys.read().unpoisoned().get(kid).cloned()
    }

    /// Whether the ring holds the key `kid`.
    pub fn contains(&self, kid: &str) -> bool {
        self.inner.keys.read().unpoisoned().contains_key(kid)
    }

    /// The ids of the keys held.
    pub fn kids(&self) -> Vec<String> {
        let mut kids: Vec<String> = self
            .inner
            .keys
            .read()
            .unpoisoned()
            .keys()
            .cloned()
            .collect();
        kids.sort();
        kids
    }

    /// Replaces the keys with `keys`; those that are not valid base64url
    /// Ed25519 keys are left out, with a warning.
    pub fn replace(&self, keys: &[PublicKey]) {
        let mut decoded = HashMap::new();
        for key in keys {
            match DecodingKey::from_ed_components(&key.x) {
                Ok(k) => {
                    decoded.insert(key.kid.clone(), k);
                }
                Err(e) => {
                    tracing::warn!(kid = %key.kid, error = %e, "unusable public key left out")
                }
            }
        }
        *self.inner.keys.write().unpoisoned() = decoded;
    }

    /// Asks the refresh task for a fetch now: a token named a key the ring
    /// does not hold.
    pub fn want(&self) {
        self.inner.wanted.notify_one();
    }

    /// Keeps the ring filled from `source` until `stop`: at once, then every
    /// [`REFRESH_INTERVAL`] or when [`KeyRing::want`] asks. A failed fetch
    /// keeps the keys held and is retried with a growing delay.
    pub async fn refresh(self, source: Arc<dyn JwksSource>, stop: CancellationToken) {
        let mut retry = RETRY_MIN;
        let mut last = None::<Instant>;
        loop {
            if let Some(at) = last {
                let since = at.elapsed();
                if since < MIN_REFETCH {
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(MIN_REFETCH - since) => {}
                    }
                }
            }
            last = Some(Instant::now());
            let wait = match source.fetch().await {
                Ok(keys) => {
                    retry = RETRY_MIN;
                    self.replace(&keys);
                    tracing::debug!(keys = keys.len(), "signing keys fetched");
                    REFRESH_INTERVAL
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?retry, "cannot fetch the signing keys");
                    let wait = retry;
                    retry = (retry * 2).min(RETRY_MAX);
                    wait
                }
            };
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
                () = self.inner.wanted.notified() => {}
            }
        }
    }
}

/// A poisoned lock still holds usable keys: a panic elsewhere must not
/// stop verification.
pub(crate) trait UnpoisonedLock<T> {
    fn unpoisoned(self) -> T;
}

impl<T> UnpoisonedLock<T> for Result<T, PoisonError<T>> {
    fn unpoisoned(self) -> T {
        self.unwrap_or_else(PoisonError::into_inner)
    }
}

/// A lazily connected channel to the identity service at `url` (`http://`
/// or `https://`; a bare `host:port` is plaintext). For https it trusts
/// `auth.identity_ca` and, with `auth.identity_cert` and
/// `auth.identity_key`, presents that client certificate (an identity
/// service with mutual TLS); the files are read and checked here, at start.
pub fn identity_channel(
    url: &str,
    auth: &crate::config::AuthArgs,
) -> Result<tonic::transport::Channel, crate::auth::AuthError> {
    use crate::auth::AuthError;
    let url = if url.contains("://") {
        url.to_owned()
    } else {
        format!("http://{url}")
    };
    let bad = |why: String| AuthError::IncompleteConfig(format!("--identity-url: {why}"));
    let mut endpoint = tonic::transport::Endpoint::from_shared(url.clone())
        .map_err(|e| bad(e.to_string()))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10));
    if url.starts_with("https://") {
        let read = |path: &std::path::Path| {
            std::fs::read(path).map_err(|e| AuthError::KeyFile(path.into(), e))
        };
        let mut tls = tonic::transport::ClientTlsConfig::new();
        match &auth.identity_ca {
            Some(path) => {
                tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(read(path)?));
            }
            None => {
                return Err(bad(
                    "an https identity service needs --identity-ca with the CA of its certificate"
                        .to_owned(),
                ));
            }
        }
        if let (Some(cert), Some(key)) = (&auth.identity_cert, &auth.identity_key) {
            tls = tls.identity(tonic::transport::Identity::from_pem(
                read(cert)?,
                read(key)?,
            ));
        }
        // Building the connector parses the files: a bad one fails now.
        endpoint = endpoint.tls_config(tls).map_err(|e| {
            bad(format!(
                "unusable --identity-ca / --identity-cert / --identity-key: {}",
                crate::server::error_chain(&e)
            ))
        })?;
    } else if auth.identity_cert.is_some() {
        return Err(bad(
            "--identity-cert needs an https:// identity service".to_owned()
        ));
    }
    Ok(endpoint.connect_lazy())
}
