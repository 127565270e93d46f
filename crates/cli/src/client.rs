//! The connection to a reemploi server: one channel (TLS when the address
//! is https, with a private CA and a client certificate when given) shared
//! by the inventory, registry, matching, identity and impact clients, each
//! sending the bearer token (a stored session's, renewed as it expires).

use std::path::Path;
use std::time::Duration;

use reemploi_proto::audit::audit_service_client::AuditServiceClient;
use reemploi_proto::identity::identity_service_client::IdentityServiceClient;
use reemploi_proto::impact::impact_service_client::ImpactServiceClient;
use reemploi_proto::inventory as pb;
use reemploi_proto::inventory::inventory_service_client::InventoryServiceClient;
use reemploi_proto::matching::matching_service_client::MatchingServiceClient;
use reemploi_proto::notify::notification_service_client::NotificationServiceClient;
use reemploi_proto::notify::webhook_service_client::WebhookServiceClient;
use reemploi_proto::registry as rpb;
use reemploi_proto::registry::registry_service_client::RegistryServiceClient;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http_body_util::{BodyExt as _, Full};
use tonic::codegen::http::{self, HeaderValue};
use tonic::codegen::{Bytes, Service, StdError};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::CliError;
use crate::config::{ClientTls, Settings};
use crate::session::{self, Session};

/// How long to wait for the TCP (and TLS) connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one call may take; a 1000-row import stays well under it.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);
/// Most one call waits, in all, for the server's rate limit before its
/// RESOURCE_EXHAUSTED is reported.
const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);
/// Wait when a rate-limited answer names no delay.
const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(1);

/// How the calls of a connection authenticate.
#[derive(Clone)]
enum Auth {
    /// No `authorization` header.
    Anonymous,
    /// `authorization: Bearer TOKEN`, a token given as is.
    Token(HeaderValue),
    /// The signed-in session of the configuration file, renewed as needed.
    Session(Arc<Session>),
}

/// The channel every client of a connection uses: it adds the bearer token
/// to each call and, for a stored session, renews the access token when it
/// expires (see [`crate::session`]).
#[derive(Clone)]
pub struct Authed {
    channel: Channel,
    auth: Auth,
}

type Reply = http::Response<tonic::body::Body>;

impl Service<http::Request<tonic::body::Body>> for Authed {
    type Response = Reply;
    type Error = StdError;
    type Future = Pin<Box<dyn Future<Output = Result<Reply, StdError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), StdError>> {
        // Readiness is awaited inside each call, on the clone of the channel
        // that serves it: a buffered channel must be polled ready by the
        // very handle that then calls (and a renewal calls first).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let (channel, auth) = (self.channel.clone(), self.auth.clone());
        let path = request.uri().path().to_owned();
        Box::pin(async move {
            let reply = match auth {
                Auth::Anonymous => {
                    let mut channel = channel;
                    std::future::poll_fn(|cx| channel.poll_ready(cx)).await?;
                    channel.call(request).await?
                }
                Auth::Token(bearer) => session::send(channel, request, bearer).await?,
                Auth::Session(session) => with_session(&session, channel, request).await?,
            };
            Ok(name_missing_service(&path, reply))
        })
    }
}

/// A server without the service called (one service of a distributed
/// deployment, given for another) answers UNIMPLEMENTED with no message:
/// say which service the address lacks, so the person can point the
/// command at the right one.
fn name_missing_service(path: &str, mut reply: Reply) -> Reply {
    let headers = reply.headers_mut();
    let unimplemented = headers
        .get("grpc-status")
        .is_some_and(|v| v.as_bytes() == b"12");
    let silent = headers.get("grpc-message").is_none_or(|m| m.is_empty());
    if unimplemented && silent {
        let (service, method) = path
            .trim_start_matches('/')
            .split_once('/')
            .unwrap_or((path, ""));
        let text = format!(
            "this address does not serve {service} ({method}): it may be another service \
             of a distributed deployment; give --addr of the process that runs it"
        );
        // Printable ASCII only, so the header needs no percent-encoding.
        let text: String = text
            .chars()
            .filter(|c| (' '..='~').contains(c) && *c != '%')
            .collect();
        if let Ok(value) = HeaderValue::from_str(&text) {
            headers.insert("grpc-message", value);
        }
    }
    reply
}

/// Sends a call with the session's access token; when the server refuses
/// it as expired, renews it and sends the call once more (the request body
/// is kept for that: unary and server-streaming calls send one message).
async fn with_session(
    session: &Session,
    channel: Channel,
    request: http::Request<tonic::body::Body>,
) -> Result<Reply, StdError> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    let again = |bytes: Bytes| {
        let mut r = http::Request::new(tonic::body::Body::new(Full::new(bytes)));
        *r.method_mut() = parts.method.clone();
        *r.uri_mut() = parts.uri.clone();
        *r.version_mut() = parts.version;
        *r.headers_mut() = parts.headers.clone();
        *r.extensions_mut() = parts.extensions.clone();
        r
    };
    let bearer = match session.bearer(&channel, None).await {
        Ok(bearer) => bearer,
        Err(status) => return Ok(status.into_http()),
    };
    let reply = session::send(channel.clone(), again(body.clone()), bearer.clone()).await?;
    if !session::refused_as_expired(reply.headers()) {
        return Ok(reply);
    }
    match session.bearer(&channel, Some(&bearer)).await {
        Ok(renewed) => Ok(session::send(channel, again(body), renewed).await?),
        Err(status) => Ok(status.into_http()),
    }
}

/// An open connection to the server.
#[derive(Clone)]
pub struct Connection {
    authed: Authed,
}

/// The address as shown to people: scheme, host and port only, so that
/// credentials written into a URL are never echoed.
pub fn display_addr(addr: &str) -> String {
    match addr.parse::<tonic::codegen::http::Uri>() {
        Ok(uri) => {
            let scheme = uri.scheme_str().unwrap_or("http");
            match uri.authority() {
                Some(a) => {
                    let host_port = a.as_str().rsplit('@').next().unwrap_or_default();
                    format!("{scheme}://{host_port}")
                }
                None => "(unparsable address)".to_owned(),
            }
        }
        Err(_) => "(unparsable address)".to_owned(),
    }
}

/// `host:port` becomes `http://host:port`: the usual way to write a local
/// server.
fn with_scheme(addr: &str) -> String {
    if addr.contains("://") {
        addr.to_owned()
    } else {
        format!("http://{addr}")
    }
}

impl Connection {
    /// Connects to the server the settings name.
    pub async fn open(settings: &Settings) -> Result<Connection, CliError> {
        let addr = with_scheme(&settings.addr);
        let shown = display_addr(&addr);
        let bad_addr = || {
            CliError::Usage(format!(
                "the server address {shown} is not a URL like http://127.0.0.1:50051 \
                 or https://reemploi.example.org"
            ))
        };
        let mut endpoint = Endpoint::from_shared(addr.clone())
            .map_err(|_| bad_addr())?
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT);
        match endpoint.uri().scheme_str() {
            Some("https") => {
                endpoint = endpoint
                    .tls_config(tls_config(&settings.tls)?)
                    .map_err(|e| {
                        CliError::Usage(format!("TLS for {shown}: {}", transport_reason(&e)))
                    })?;
            }
            Some("http") if settings.tls.is_set() => {
                // Whoever names a CA or a client certificate expects TLS:
                // better refuse than send the token in clear.
                return Err(CliError::Usage(format!(
                    "--ca, --client-cert and --client-key are for https:// addresses, but {shown} \
                     is plaintext: write the address with https://"
                )));
            }
            Some("http") => {}
            _ => return Err(bad_addr()),
        }
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| CliError::Unreachable {
                addr: shown.clone(),
                reason: transport_reason(&e),
            })?;
        let auth = match (&settings.token, &settings.session) {
            (Some(token), _) => Auth::Token(
                HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                    CliError::Usage(
                        "the token holds characters a header cannot carry: copy it again \
                         (`reemploi login --token TOKEN`)"
                            .to_owned(),
                    )
                })?,
            ),
            (None, Some(stored)) => Auth::Session(Arc::new(Session::new(stored))),
            (None, None) => Auth::Anonymous,
        };
        Ok(Connection {
            authed: Authed { channel, auth },
        })
    }

    /// The inventory service (sites, lots, claims).
    pub fn inventory(&self) -> InventoryServiceClient<Authed> {
        InventoryServiceClient::new(self.authed.clone())
    }

    /// The registry service (partners).
    pub fn registry(&self) -> RegistryServiceClient<Authed> {
        RegistryServiceClient::new(self.authed.clone())
    }

    /// The matching service.
    pub fn matching(&self) -> MatchingServiceClient<Authed> {
        MatchingServiceClient::new(self.authed.clone())
    }

    /// The impact service (outcomes, insertion hours, figures, récolements).
    pub fn impact(&self) -> ImpactServiceClient<Authed> {
        ImpactServiceClient::new(self.authed.clone())
    }

    /// The notification service (notifications, email preferences).
    pub fn notify(&self) -> NotificationServiceClient<Authed> {
        NotificationServiceClient::new(self.authed.clone())
    }

    /// The audit trail (kept by the impact service).
    pub fn audit(&self) -> AuditServiceClient<Authed> {
        AuditServiceClient::new(self.authed.clone())
    }

    /// The identity service (accounts, sessions, API tokens).
    pub fn identity(&self) -> IdentityServiceClient<Authed> {
        IdentityServiceClient::new(self.authed.clone())
    }

    /// Webhooks (served by the notification service).
    pub fn webhooks(&self) -> WebhookServiceClient<Authed> {
        WebhookServiceClient::new(self.authed.clone())
    }
}

/// The client TLS configuration: the given CA or else the web PKI roots,
/// and the client certificate when there is one.
fn tls_config(tls: &ClientTls) -> Result<ClientTlsConfig, CliError> {
    let config = match &tls.ca {
        Some(ca) => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read("--ca", ca)?)),
        None => ClientTlsConfig::new().with_webpki_roots(),
    };
    match (&tls.client_cert, &tls.client_key) {
        (Some(cert), Some(key)) => Ok(config.identity(Identity::from_pem(
            read("--client-cert", cert)?,
            read("--client-key", key)?,
        ))),
        (None, None) => Ok(config),
        _ => Err(CliError::Usage(
            "--client-cert and --client-key go together".to_owned(),
        )),
    }
}

fn read(flag: &str, path: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| CliError::File {
        path: path.to_owned(),
        reason: format!("{flag}: {e}"),
    })
}

/// Makes `call` again while the server answers that the caller is over its
/// rate limit, after the delay the answer asks for (at most
/// [`MAX_RATE_LIMIT_WAIT`] in all): a command making one call per row, such
/// as an import's publications, then slows to the server's pace instead of
/// failing half-way.
pub async fn paced<T, F, Fut>(mut call: F) -> Result<tonic::Response<T>, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let mut waited = Duration::ZERO;
    loop {
        match call().await {
            Err(status)
                if status.code() == tonic::Code::ResourceExhausted
                    && reemploi_runtime::status::reason(&status).as_deref()
                        == Some(reemploi_runtime::status::REASON_RATE_LIMITED)
                    && waited < MAX_RATE_LIMIT_WAIT =>
            {
                let delay = reemploi_runtime::status::retry_delay(&status)
                    .unwrap_or(DEFAULT_RATE_LIMIT_WAIT)
                    .clamp(Duration::from_millis(1), MAX_RATE_LIMIT_WAIT - waited);
                tracing::debug!(delay_ms = delay.as_millis() as u64, "rate limited: waiting");
                tokio::time::sleep(delay).await;
                waited += delay;
            }
            answer => return answer,
        }
    }
}

impl Connection {
    /// Publishes a draft lot, at the server's pace (see [`paced`]).
    pub async fn publish_lot(&self, name: &str) -> Result<pb::Lot, tonic::Status> {
        let req = pb::PublishLotRequest {
            name: name.to_owned(),
            etag: String::new(),
        };
        paced(|| {
            let (mut inventory, req) = (self.inventory(), req.clone());
            async move { inventory.publish_lot(req).await }
        })
        .await
        .map(tonic::Response::into_inner)
    }

    /// Verifies a pending partner, at the server's pace (see [`paced`]).
    pub async fn verify_partner(&self, name: &str) -> Result<rpb::Partner, tonic::Status> {
        let req = rpb::VerifyPartnerRequest {
            name: name.to_owned(),
            etag: String::new(),
        };
        paced(|| {
            let (mut registry, req) = (self.registry(), req.clone());
            async move { registry.verify_partner(req).await }
        })
        .await
        .map(tonic::Response::into_inner)
    }
}

/// The innermost cause of a transport error ("Connection refused"...): the
/// outer ones only say "transport error".
fn transport_reason(e: &tonic::transport::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}

/// The outcome of a call, its status turned into a [`CliError`].
pub fn answer<T>(r: Result<tonic::Response<T>, tonic::Status>) -> Result<T, CliError> {
    r.map(tonic::Response::into_inner)
        .map_err(|s| CliError::from_status(&s))
}

/// `sites/ID` from `ID` or `sites/ID`.
pub fn site_name(id: &str) -> String {
    prefixed("sites/", id)
}

/// `partners/ID` from `ID` or `partners/ID`.
pub fn partner_name(id: &str) -> String {
    prefixed("partners/", id)
}

/// `proposals/ID` from `ID` or `proposals/ID`.
pub fn proposal_name(id: &str) -> String {
    prefixed("proposals/", id)
}

fn prefixed(prefix: &str, id: &str) -> String {
    let id = id.trim();
    if id.starts_with(prefix) {
        id.to_owned()
    } else {
        format!("{prefix}{id}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_shown_without_credentials() {
        assert_eq!(
            display_addr("https://user:pw@example.org:8443/x"),
            "https://example.org:8443"
        );
        assert_eq!(display_addr("http://127.0.0.1:1"), "http://127.0.0.1:1");
        assert_eq!(with_scheme("127.0.0.1:50051"), "http://127.0.0.1:50051");
        assert_eq!(site_name("abc"), "sites/abc");
        assert_eq!(partner_name("partners/abc"), "partners/abc");
    }
}
