//! The web app's flags. They come in two blocks because `reemploi up`
//! already has `--identity-url` (from the services' token settings) and
//! knows its own API address: it flattens [`WebArgs`] only and builds
//! [`Endpoints`] itself, while the `reemploi-web` binary flattens both.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use crate::error::SetupError;

/// Default address of the web app: loopback only, as the API's.
pub const DEFAULT_WEB_LISTEN: &str = "127.0.0.1:8080";
/// Default address of the API (`reemploi up` serves every service there).
pub const DEFAULT_API_URL: &str = "http://127.0.0.1:50051";
/// The file under the data directory holding a generated cookie key.
pub const KEY_FILE: &str = "web-key";

/// How the web app listens and keeps its sessions.
#[derive(clap::Args, Clone, PartialEq, Eq)]
#[command(next_help_heading = "Web app", about = None, long_about = None)]
// Argument ids are prefixed: `reemploi up` flattens these beside the other
// services' blocks, where `listen` and `public_url` are taken.
pub struct WebArgs {
    /// Address the web app listens on; port 0 picks a free port.
    #[arg(id = "web_listen", long = "web-listen", env = "REEMPLOI_WEB_LISTEN", default_value = DEFAULT_WEB_LISTEN)]
    pub listen: SocketAddr,

    /// Key that encrypts the session cookies: 64 hex digits or base64 of 32
    /// bytes. Without it, the key in <data-dir>/web-key is used (made on the
    /// first start). Every replica of the web app needs the same key.
    /// Never printed.
    #[arg(
        id = "web_cookie_key",
        long = "cookie-key",
        env = "REEMPLOI_WEB_COOKIE_KEY",
        hide_env_values = true
    )]
    pub cookie_key: Option<String>,

    /// Marks cookies Secure (sent over https only). Implied when
    /// --web-public-url is https; set it behind a proxy that terminates TLS.
    #[arg(
        id = "web_secure_cookies",
        long = "secure-cookies",
        env = "REEMPLOI_WEB_SECURE_COOKIES"
    )]
    pub secure_cookies: bool,

    /// The address people reach the web app at, e.g.
    /// https://reemploi.example.org.
    #[arg(
        id = "web_public_url",
        long = "web-public-url",
        env = "REEMPLOI_WEB_PUBLIC_URL"
    )]
    pub public_url: Option<String>,
}

impl WebArgs {
    /// Whether cookies are marked Secure.
    pub fn secure(&self) -> bool {
        self.secure_cookies
            || self
                .public_url
                .as_deref()
                .is_some_and(|u| u.to_ascii_lowercase().starts_with("https://"))
    }
}

impl Default for WebArgs {
    fn default() -> Self {
        WebArgs {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            cookie_key: None,
            secure_cookies: false,
            public_url: None,
        }
    }
}

impl fmt::Debug for WebArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebArgs")
            .field("listen", &self.listen)
            .field(
                "cookie_key",
                &self.cookie_key.as_ref().map(|_| "<redacted>"),
            )
            .field("secure_cookies", &self.secure_cookies)
            .field("public_url", &self.public_url)
            .finish()
    }
}

/// Where the web app reaches the API (the `reemploi-web` binary's flags).
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
#[command(next_help_heading = "API", about = None, long_about = None)]
pub struct ApiArgs {
    /// Address of the public gRPC API; each service's own flag overrides it.
    #[arg(long = "api-url", env = "REEMPLOI_WEB_API_URL", default_value = DEFAULT_API_URL)]
    pub api_url: String,
    /// Address of the identity service (default: --api-url).
    #[arg(long = "identity-url", env = "REEMPLOI_WEB_IDENTITY_URL")]
    pub identity_url: Option<String>,
    /// Address of the inventory (default: --api-url).
    #[arg(long = "inventory-url", env = "REEMPLOI_WEB_INVENTORY_URL")]
    pub inventory_url: Option<String>,
    /// Address of the registry (default: --api-url).
    #[arg(long = "registry-url", env = "REEMPLOI_WEB_REGISTRY_URL")]
    pub registry_url: Option<String>,
    /// Address of matching (default: --api-url).
    #[arg(long = "matching-url", env = "REEMPLOI_WEB_MATCHING_URL")]
    pub matching_url: Option<String>,
    /// Address of the impact service (default: --api-url).
    #[arg(long = "impact-url", env = "REEMPLOI_WEB_IMPACT_URL")]
    pub impact_url: Option<String>,
    /// Address of the notification service (default: --api-url).
    #[arg(long = "notify-url", env = "REEMPLOI_WEB_NOTIFY_URL")]
    pub notify_url: Option<String>,
    /// PEM file with the CA of the API's certificate, for https addresses
    /// served with a private CA (otherwise the web PKI is trusted).
    #[arg(long = "api-ca", env = "REEMPLOI_WEB_API_CA", value_name = "FILE")]
    pub api_ca: Option<PathBuf>,
    /// PEM file with the client certificate presented to https services
    /// that require one (their --tls-client-ca). Needs --api-key.
    #[arg(
        long = "api-cert",
        env = "REEMPLOI_WEB_API_CERT",
        value_name = "FILE",
        requires = "api_key"
    )]
    pub api_cert: Option<PathBuf>,
    /// PEM file with the private key of --api-cert. Never logged.
    #[arg(
        long = "api-key",
        env = "REEMPLOI_WEB_API_KEY",
        value_name = "FILE",
        requires = "api_cert"
    )]
    pub api_key: Option<PathBuf>,
}

impl ApiArgs {
    /// The address of each service.
    pub fn endpoints(&self) -> Endpoints {
        let or_api = |url: &Option<String>| url.clone().unwrap_or_else(|| self.api_url.clone());
        Endpoints {
            identity: or_api(&self.identity_url),
            inventory: or_api(&self.inventory_url),
            registry: or_api(&self.registry_url),
            matching: or_api(&self.matching_url),
            impact: or_api(&self.impact_url),
            notify: or_api(&self.notify_url),
            ca: self.api_ca.clone(),
            client_cert: self.api_cert.clone(),
            client_key: self.api_key.clone(),
        }
    }
}

/// The address of each service the web app calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The identity service.
    pub identity: String,
    /// The inventory.
    pub inventory: String,
    /// The registry.
    pub registry: String,
    /// Matching.
    pub matching: String,
    /// The impact service.
    pub impact: String,
    /// The notification service.
    pub notify: String,
    /// PEM file of the CA for https addresses, if not the web PKI.
    pub ca: Option<PathBuf>,
    /// PEM file of a client certificate for https services that require
    /// one, with [`Endpoints::client_key`].
    pub client_cert: Option<PathBuf>,
    /// PEM file of the private key of [`Endpoints::client_cert`].
    pub client_key: Option<PathBuf>,
}

impl Endpoints {
    /// Every service at one address, as `reemploi up` serves them.
    pub fn all(url: &str) -> Endpoints {
        Endpoints {
            identity: url.to_owned(),
            inventory: url.to_owned(),
            registry: url.to_owned(),
            matching: url.to_owned(),
            impact: url.to_owned(),
            notify: url.to_owned(),
            ca: None,
            client_cert: None,
            client_key: None,
        }
    }
}

/// The cookie key: the flag's, else the data directory's file.
pub(crate) fn cookie_key(args: &WebArgs, data_dir: &Path) -> Result<[u8; 32], SetupError> {
    match &args.cookie_key {
        Some(text) => parse_key(text),
        None => {
            let path = data_dir.join(KEY_FILE);
            let text = reemploi_runtime::auth::load_or_create_secret(&path).map_err(|e| {
                SetupError::Key(format!("cannot read or create {}: {e}", path.display()))
            })?;
            parse_key(&text)
        }
    }
}

/// 64 hex digits or base64 (standard or URL-safe) of 32 bytes.
fn parse_key(text: &str) -> Result<[u8; 32], SetupError> {
    let text = text.trim();
    let bytes = if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
        (0..32)
            .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| SetupError::Key("the cookie key is not hexadecimal".into()))?
    } else {
        STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text))
            .map_err(|_| {
                SetupError::Key("the cookie key must be 64 hex digits or base64 of 32 bytes".into())
            })?
    };
    bytes
        .try_into()
        .map_err(|_| SetupError::Key("the cookie key must be 32 bytes".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_from_hex_and_base64_only_at_32_bytes() {
        let hex = "00".repeat(31) + "ff";
        assert_eq!(parse_key(&hex).unwrap()[31], 0xff);
        let b64 = STANDARD.encode([7u8; 32]);
        assert_eq!(parse_key(&b64).unwrap(), [7u8; 32]);
        assert!(parse_key(&STANDARD.encode([7u8; 16])).is_err());
        assert!(parse_key("not a key").is_err());
    }

    #[test]
    fn an_https_public_url_makes_cookies_secure() {
        let mut args = WebArgs::default();
        assert!(!args.secure());
        args.public_url = Some("HTTPS://reemploi.example.org".into());
        assert!(args.secure());
    }
}
