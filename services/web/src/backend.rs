//! The API as the web app sees it: one gRPC channel per service address,
//! and requests that carry the signed-in person's own token.

use std::collections::HashMap;
use std::time::Duration;

use reemploi_proto::identity::identity_service_client::IdentityServiceClient;
use reemploi_proto::impact::impact_service_client::ImpactServiceClient;
use reemploi_proto::inventory::inventory_service_client::InventoryServiceClient;
use reemploi_proto::matching::matching_service_client::MatchingServiceClient;
use reemploi_proto::notify::notification_service_client::NotificationServiceClient;
use reemploi_proto::registry::registry_service_client::RegistryServiceClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::args::Endpoints;
use crate::error::{SetupError, WebError};

/// How long to wait for a connection to the API.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one API call may take before the page gives up.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// One channel per service (shared when services share an address).
#[derive(Clone, Debug)]
pub struct Backend {
    identity: Channel,
    inventory: Channel,
    registry: Channel,
    matching: Channel,
    impact: Channel,
    notify: Channel,
}

impl Backend {
    /// Channels to `endpoints`, connected lazily: the web app may start
    /// before the API, and reconnects by itself when the API restarts.
    pub fn connect(endpoints: &Endpoints) -> Result<Backend, SetupError> {
        let tls = tls_config(endpoints)?;
        let mut channels: HashMap<String, Channel> = HashMap::new();
        let mut channel = |url: &str| -> Result<Channel, SetupError> {
            if let Some(channel) = channels.get(url) {
                return Ok(channel.clone());
            }
            let channel = lazy(url, &tls)?;
            channels.insert(url.to_owned(), channel.clone());
            Ok(channel)
        };
        Ok(Backend {
            identity: channel(&endpoints.identity)?,
            inventory: channel(&endpoints.inventory)?,
            registry: channel(&endpoints.registry)?,
            matching: channel(&endpoints.matching)?,
            impact: channel(&endpoints.impact)?,
            notify: channel(&endpoints.notify)?,
        })
    }

    /// The identity service.
    pub fn identity(&self) -> IdentityServiceClient<Channel> {
        IdentityServiceClient::new(self.identity.clone())
    }

    /// The inventory.
    pub fn inventory(&self) -> InventoryServiceClient<Channel> {
        InventoryServiceClient::new(self.inventory.clone())
    }

    /// The registry.
    pub fn registry(&self) -> RegistryServiceClient<Channel> {
        RegistryServiceClient::new(self.registry.clone())
    }

    /// Matching.
    pub fn matching(&self) -> MatchingServiceClient<Channel> {
        MatchingServiceClient::new(self.matching.clone())
    }

    /// The impact service.
    pub fn impact(&self) -> ImpactServiceClient<Channel> {
        ImpactServiceClient::new(self.impact.clone())
    }

    /// The notification service.
    pub fn notify(&self) -> NotificationServiceClient<Channel> {
        NotificationServiceClient::new(self.notify.clone())
    }
}

/// The TLS settings of https addresses: the CA of --api-ca (else the web
/// PKI), and the client certificate of --api-cert / --api-key.
fn tls_config(endpoints: &Endpoints) -> Result<ClientTlsConfig, SetupError> {
    let read = |flag: &str, path: &std::path::Path| {
        std::fs::read(path)
            .map_err(|e| SetupError::Api(format!("cannot read {flag} {}: {e}", path.display())))
    };
    let mut tls = match &endpoints.ca {
        Some(path) => {
            ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read("--api-ca", path)?))
        }
        None => ClientTlsConfig::new().with_webpki_roots(),
    };
    if let (Some(cert), Some(key)) = (&endpoints.client_cert, &endpoints.client_key) {
        tls = tls.identity(Identity::from_pem(
            read("--api-cert", cert)?,
            read("--api-key", key)?,
        ));
    }
    Ok(tls)
}

fn lazy(url: &str, tls: &ClientTlsConfig) -> Result<Channel, SetupError> {
    // The address may embed nothing secret, but say only which flag is wrong.
    let mut endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|_| SetupError::Api(format!("not an API address: {url}")))?
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(CALL_TIMEOUT);
    if url.to_ascii_lowercase().starts_with("https://") {
        endpoint = endpoint
            .tls_config(tls.clone())
            .map_err(|e| SetupError::Api(format!("TLS for {url}: {e}")))?;
    }
    Ok(endpoint.connect_lazy())
}

/// `request` carrying the current page's trace, which goes on in the
/// service called.
pub fn traced<T>(mut request: tonic::Request<T>) -> tonic::Request<T> {
    if let Some(parent) = reemploi_events::trace::current()
        && let Ok(value) = parent.parse()
    {
        request
            .metadata_mut()
            .insert(reemploi_events::trace::TRACEPARENT, value);
    }
    request
}

/// `message` with `authorization: Bearer <token>`, in the page's trace.
pub fn bearer<T>(token: &str, message: T) -> Result<tonic::Request<T>, WebError> {
    let mut request = tonic::Request::new(message);
    let value = format!("Bearer {token}")
        .parse()
        .map_err(|_| WebError::Internal("an access token is not a header value".into()))?;
    request.metadata_mut().insert("authorization", value);
    Ok(traced(request))
}
