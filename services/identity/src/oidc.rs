//! Sign-in through an OpenID Connect provider, for deployments that have
//! one: the authorization code flow with PKCE (S256), the provider's
//! endpoints found by discovery, and its id_token checked here (signature
//! with the provider's published keys, issuer, audience, nonce, expiry).
//! Which account the identity gets is the service's decision, not this
//! module's.

use std::sync::RwLock;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reemploi_runtime::auth::RSA_ALGORITHMS;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

/// How long the provider gets to answer one request.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether an id_token may be signed with `alg`: asymmetric algorithms
/// only, so that neither `none` nor a secret shared with the client can
/// pass.
fn accepted(alg: Algorithm) -> bool {
    RSA_ALGORITHMS.contains(&alg) || matches!(alg, Algorithm::ES256 | Algorithm::EdDSA)
}

/// OpenID Connect: where the provider is and who this service is to it.
#[derive(clap::Args, Clone, Default, PartialEq, Eq)]
#[command(next_help_heading = "OpenID Connect", about = None, long_about = None)]
pub struct OidcArgs {
    /// The issuer of an OpenID Connect provider people may sign in with
    /// (its discovery document is read from
    /// <issuer>/.well-known/openid-configuration). None by default.
    #[arg(long = "oidc-issuer", env = "REEMPLOI_OIDC_ISSUER", value_name = "URL")]
    pub issuer: Option<String>,

    /// This service's client id at the provider.
    #[arg(long = "oidc-client-id", env = "REEMPLOI_OIDC_CLIENT_ID")]
    pub client_id: Option<String>,

    /// This service's client secret at the provider. Never printed.
    #[arg(
        long = "oidc-client-secret",
        env = "REEMPLOI_OIDC_CLIENT_SECRET",
        hide_env_values = true
    )]
    pub client_secret: Option<String>,

    /// Where the provider sends the browser back, registered with it
    /// [default: <public-url>/oidc/callback].
    #[arg(
        long = "oidc-redirect-url",
        env = "REEMPLOI_OIDC_REDIRECT_URL",
        value_name = "URL"
    )]
    pub redirect_url: Option<String>,
}

impl std::fmt::Debug for OidcArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcArgs")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("redirect_url", &self.redirect_url)
            .finish()
    }
}

/// Why a sign-in through the provider failed.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider could not be reached, or answered with something that
    /// is not what the protocol says.
    #[error("the OpenID provider cannot be used now: {0}")]
    Unavailable(String),
    /// The provider refused the code, or its id_token does not hold: the
    /// sign-in must start again.
    #[error("the sign-in with the OpenID provider was refused: {0}")]
    Refused(String),
}

/// Who the provider says signed in.
#[derive(Debug, Clone)]
pub struct ExternalIdentity {
    /// The provider's issuer.
    pub issuer: String,
    /// Its subject: the person's stable id at the provider.
    pub subject: String,
    /// Their email, if the provider gave one.
    pub email: Option<String>,
    /// Whether the provider verified that email.
    pub email_verified: bool,
    /// Their name, if given.
    pub name: Option<String>,
}

/// What a sign-in needs to remember between its start and its finish.
#[derive(Debug, Clone)]
pub struct Secrets {
    /// The `state` the provider sends back.
    pub state: String,
    /// The `nonce` the id_token must carry.
    pub nonce: String,
    /// The PKCE code verifier, sent with the code.
    pub verifier: String,
}

impl Secrets {
    /// Fresh random secrets.
    pub fn new() -> Secrets {
        Secrets {
            state: crate::tokens::new_secret("st"),
            nonce: crate::tokens::new_secret("n"),
            verifier: crate::tokens::new_secret("pkce"),
        }
    }
}

impl Default for Secrets {
    fn default() -> Self {
        Secrets::new()
    }
}

/// The PKCE S256 challenge of `verifier`.
pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The provider's discovery document, what of it is used.
#[derive(Debug, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

/// The token endpoint's answer, what of it is used.
#[derive(Deserialize)]
struct TokenAnswer {
    id_token: Option<String>,
}

/// The id_token claims read after its checks.
#[derive(Deserialize)]
struct IdClaims {
    sub: String,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<serde_json::Value>,
    #[serde(default)]
    name: Option<String>,
}

/// A configured OpenID provider.
pub struct Provider {
    http: reqwest::Client,
    issuer: String,
    client_id: String,
    client_secret: String,
    redirect_url: String,
    found: OnceCell<Discovery>,
    keys: RwLock<Option<JwkSet>>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl Provider {
    /// The provider `args` configure, if any; `public_url` gives the
    /// default redirect URL. An issuer without a client id and secret is a
    /// configuration error.
    pub fn from_args(args: &OidcArgs, public_url: &str) -> Result<Option<Provider>, String> {
        let Some(issuer) = &args.issuer else {
            return Ok(None);
        };
        let (Some(client_id), Some(client_secret)) = (&args.client_id, &args.client_secret) else {
            return Err("--oidc-issuer needs --oidc-client-id and --oidc-client-secret".to_owned());
        };
        let redirect_url = args
            .redirect_url
            .clone()
            .unwrap_or_else(|| format!("{}/oidc/callback", public_url.trim_end_matches('/')));
        let http = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            // The endpoints come from the discovery document; a redirect
            // elsewhere is not followed with the client's secret.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Some(Provider {
            http,
            issuer: issuer.trim_end_matches('/').to_owned(),
            client_id: client_id.clone(),
            client_secret: client_secret.clone(),
            redirect_url,
            found: OnceCell::new(),
            keys: RwLock::new(None),
        }))
    }

    /// The discovery document, read once (a failed read is tried again by
    /// the next sign-in).
    async fn discovery(&self) -> Result<&Discovery, OidcError> {
        self.found
            .get_or_try_init(|| async {
                let url = format!("{}/.well-known/openid-configuration", self.issuer);
                let found: Discovery = self.get_json(&url).await?;
                if found.issuer.trim_end_matches('/') != self.issuer {
                    return Err(OidcError::Unavailable(format!(
                        "its discovery document names issuer {} instead of {}",
                        found.issuer, self.issuer
                    )));
                }
                Ok(found)
            })
            .await
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, OidcError> {
        let unavailable = |e: reqwest::Error| OidcError::Unavailable(e.without_url().to_string());
        self.http
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(unavailable)?
            .json()
            .await
            .map_err(unavailable)
    }

    /// Where to send the browser for the sign-in of `secrets`.
    pub async fn authorization_url(&self, secrets: &Secrets) -> Result<String, OidcError> {
        let found = self.discovery().await?;
        let mut url = reqwest::Url::parse(&found.authorization_endpoint)
            .map_err(|e| OidcError::Unavailable(format!("authorization endpoint: {e}")))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", &self.redirect_url)
            .append_pair("scope", "openid email profile")
            .append_pair("state", &secrets.state)
            .append_pair("nonce", &secrets.nonce)
            .append_pair("code_challenge", &challenge(&secrets.verifier))
            .append_pair("code_challenge_method", "S256");
        Ok(url.into())
    }

    /// Trades `code` for an id_token and checks it against `secrets`.
    pub async fn identity(
        &self,
        code: &str,
        secrets: &Secrets,
    ) -> Result<ExternalIdentity, OidcError> {
        let found = self.discovery().await?;
        let answer = self
            .http
            .post(&found.token_endpoint)
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &self.redirect_url),
                ("code_verifier", &secrets.verifier),
            ])
            .send()
            .await
            .map_err(|e| OidcError::Unavailable(e.without_url().to_string()))?;
        let status = answer.status();
        if status.is_client_error() {
            // invalid_grant and its kind: a used, expired or stolen code.
            return Err(OidcError::Refused(format!(
                "the provider refused the code ({status})"
            )));
        }
        let answer: TokenAnswer = answer
            .error_for_status()
            .map_err(|e| OidcError::Unavailable(e.without_url().to_string()))?
            .json()
            .await
            .map_err(|e| OidcError::Unavailable(e.without_url().to_string()))?;
        let id_token = answer
            .id_token
            .ok_or_else(|| OidcError::Unavailable("no id_token in its answer".to_owned()))?;
        self.check(&id_token, &found.issuer, &secrets.nonce).await
    }

    /// Checks `id_token`: its signature with the key its `kid` names,
    /// issuer, audience (this client), expiry and `nonce`.
    async fn check(
        &self,
        id_token: &str,
        issuer: &str,
        nonce: &str,
    ) -> Result<ExternalIdentity, OidcError> {
        let refused = |why: &str| OidcError::Refused(why.to_owned());
        let header =
            jsonwebtoken::decode_header(id_token).map_err(|_| refused("malformed id_token"))?;
        if !accepted(header.alg) {
            return Err(refused("id_token signed with an algorithm not accepted"));
        }
        let key = self.key(header.kid.as_deref()).await?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = reemploi_runtime::auth::LEEWAY_SECS;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[&self.client_id]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<IdClaims>(id_token, &key, &validation)
            .map_err(|e| OidcError::Refused(format!("id_token: {e}")))?
            .claims;
        if claims.nonce.as_deref() != Some(nonce) {
            return Err(refused("the id_token's nonce is not this sign-in's"));
        }
        let email_verified = match claims.email_verified {
            Some(serde_json::Value::Bool(b)) => b,
            // Some providers send it as a string.
            Some(serde_json::Value::String(s)) => s == "true",
            _ => false,
        };
        Ok(ExternalIdentity {
            issuer: issuer.to_owned(),
            subject: claims.sub,
            email: claims.email,
            email_verified,
            name: claims.name,
        })
    }

    /// The provider's key `kid`, its key set read again when it is not
    /// there (the provider rotated).
    async fn key(&self, kid: Option<&str>) -> Result<DecodingKey, OidcError> {
        if let Some(key) = self.held_key(kid)? {
            return Ok(key);
        }
        let found = self.discovery().await?;
        let set: JwkSet = self.get_json(&found.jwks_uri).await?;
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Some(set);
        self.held_key(kid)?.ok_or_else(|| {
            OidcError::Refused("the id_token names a key the provider does not publish".to_owned())
        })
    }

    fn held_key(&self, kid: Option<&str>) -> Result<Option<DecodingKey>, OidcError> {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let Some(set) = keys.as_ref() else {
            return Ok(None);
        };
        let jwk = match kid {
            Some(kid) => set.find(kid),
            // Without a kid, only a lone key is unambiguous.
            None if set.keys.len() == 1 => set.keys.first(),
            None => None,
        };
        jwk.map(|jwk| {
            DecodingKey::from_jwk(jwk)
                .map_err(|e| OidcError::Unavailable(format!("a published key is unusable: {e}")))
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenge_is_the_rfc_7636_example() {
        // RFC 7636, appendix B.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn secrets_are_fresh_and_the_verifier_is_valid_pkce() {
        let (a, b) = (Secrets::new(), Secrets::new());
        assert_ne!(a.state, b.state);
        assert_ne!(a.nonce, b.nonce);
        let v = &a.verifier;
        assert!((43..=128).contains(&v.len()), "{v}");
        assert!(
            v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
        );
    }

    #[test]
    fn an_issuer_needs_its_client() {
        let args = OidcArgs {
            issuer: Some("https://idp.example".to_owned()),
            ..OidcArgs::default()
        };
        assert!(Provider::from_args(&args, "https://reemploi.example").is_err());
        assert!(
            Provider::from_args(&OidcArgs::default(), "x")
                .unwrap()
                .is_none()
        );
        let args = OidcArgs {
            client_id: Some("reemploi".to_owned()),
            client_secret: Some("the-client-secret".to_owned()),
            ..args
        };
        let p = Provider::from_args(&args, "https://reemploi.example/")
            .unwrap()
            .unwrap();
        assert_eq!(p.redirect_url, "https://reemploi.example/oidc/callback");
        for shown in [format!("{p:?}"), format!("{args:?}")] {
            assert!(!shown.contains("the-client-secret"), "{shown}");
        }
    }
}
