//! gRPC server bootstrap: TLS or mutual TLS when configured, health,
//! reflection (v1 and v1alpha), limits, a tracing span per RPC, and a
//! graceful shutdown that tells load balancers first.

use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::Code;
use tonic::body::Body;
use tonic::codegen::{Bytes, http};
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::{HealthReporter, HealthService};
use tower::{Layer, Service};
use tracing::Level;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::config::ServerArgs;
use crate::metrics::{GrpcMetrics, Metrics};

/// The header a caller may name its request with; answered with the id
/// the request was logged under.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Longest request id taken from a caller; a longer one is replaced.
const MAX_REQUEST_ID: usize = 128;

/// HTTP/2 PING interval: finds dead peers behind NATs and idle-killing
/// proxies before a request is lost on them.
const HTTP2_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// How long to wait for a PING acknowledgement before dropping the
/// connection.
const HTTP2_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// TCP keepalive on accepted sockets, for peers that vanish silently.
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);
/// Longest TLS handshake: a peer that opens connections and never finishes
/// the handshake must not hold them forever.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The HTTP/2 transport failed.
    #[error("gRPC transport error: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// A file descriptor set could not be loaded into the reflection
    /// service.
    #[error("cannot build the reflection service: {0}")]
    Reflection(String),
    /// A socket operation failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The TLS flags are incomplete or name unusable files.
    #[error("TLS: {0}")]
    Tls(String),
}

/// How a server's listener is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// No TLS: everything, bearer tokens included, travels in clear.
    Plaintext,
    /// TLS with the server's certificate.
    Tls,
    /// TLS, and every client must present a certificate signed by
    /// --tls-client-ca.
    Mutual,
}

impl TlsMode {
    /// How the start-up log names it.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Plaintext => "off",
            TlsMode::Tls => "on",
            TlsMode::Mutual => "mutual (client certificates required)",
        }
    }
}

/// The TLS configuration that --tls-cert, --tls-key and --tls-client-ca
/// describe, with its files read and checked (a certificate and key that
/// rustls accepts, a client CA it can verify with), so that a bad file stops
/// the process at start instead of failing every handshake. `None` when TLS
/// is off.
pub fn tls_config(args: &ServerArgs) -> Result<Option<(ServerTlsConfig, TlsMode)>, ServerError> {
    let (cert_path, key_path) = match (&args.tls_cert, &args.tls_key) {
        (None, None) => {
            return match &args.tls_client_ca {
                Some(_) => Err(ServerError::Tls(
                    "--tls-client-ca needs --tls-cert and --tls-key: mutual TLS is TLS first"
                        .to_owned(),
                )),
                None => Ok(None),
            };
        }
        (Some(_), None) => {
            return Err(ServerError::Tls(
                "--tls-cert needs --tls-key (REEMPLOI_TLS_KEY), the certificate's private key"
                    .to_owned(),
            ));
        }
        (None, Some(_)) => {
            return Err(ServerError::Tls(
                "--tls-key needs --tls-cert (REEMPLOI_TLS_CERT), the certificate it belongs to"
                    .to_owned(),
            ));
        }
        (Some(cert), Some(key)) => (cert, key),
    };
    let identity = Identity::from_pem(
        read_pem("--tls-cert", cert_path)?,
        read_pem("--tls-key", key_path)?,
    );
    let mut config = ServerTlsConfig::new()
        .identity(identity)
        .timeout(TLS_HANDSHAKE_TIMEOUT);
    let mut mode = TlsMode::Tls;
    let mut files = format!(
        "--tls-cert {} / --tls-key {}",
        cert_path.display(),
        key_path.display()
    );
    if let Some(ca_path) = &args.tls_client_ca {
        config =
            config.client_ca_root(Certificate::from_pem(read_pem("--tls-client-ca", ca_path)?));
        mode = TlsMode::Mutual;
        files.push_str(&format!(" / --tls-client-ca {}", ca_path.display()));
    }
    // Building the acceptor parses the PEM files and matches the key to the
    // certificate: done once here so the error names the files.
    tonic::transport::Server::builder()
        .tls_config(config.clone())
        .map_err(|e| ServerError::Tls(format!("{files}: {}", error_chain(&e))))?;
    Ok(Some((config, mode)))
}

fn read_pem(flag: &str, path: &Path) -> Result<Vec<u8>, ServerError> {
    std::fs::read(path)
        .map_err(|e| ServerError::Tls(format!("{flag}: cannot read {}: {e}", path.display())))
}

/// The causes of `err`, outermost first, without tonic's generic
/// "transport error".
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut causes = Vec::new();
    let mut next = Some(err);
    while let Some(cause) = next {
        let text = cause.to_string();
        if text != "transport error" {
            causes.push(text);
        }
        next = cause.source();
    }
    if causes.is_empty() {
        "unusable TLS configuration".to_owned()
    } else {
        causes.join(": ")
    }
}

/// Builds and runs a tonic server: grpc.health.v1, server reflection v1 and
/// v1alpha, a tracing span per RPC, request timeout, concurrency limit per
/// connection and HTTP/2 keepalive. Application services come in as
/// [`Routes`].
pub struct Server {
    args: ServerArgs,
    descriptor_sets: Vec<&'static [u8]>,
    services: Vec<&'static str>,
    health: HealthReporter,
    drain_delay: Duration,
    /// Initial statuses that could not be set synchronously in `new`; set
    /// at the start of `serve`.
    pending_serving: Vec<&'static str>,
    metrics: Metrics,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("args", &self.args)
            .field("services", &self.services)
            .field("descriptor_sets", &self.descriptor_sets.len())
            .field("drain_delay", &self.drain_delay)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// `services`: the fully-qualified names of the application gRPC
    /// services (e.g. "reemploi.inventory.v1.InventoryService"), marked
    /// SERVING in health from now on, as is "" (the whole server).
    /// `descriptor_sets`: encoded `FileDescriptorSet`s served by reflection
    /// (health's own set is always added).
    pub fn new(
        args: &ServerArgs,
        descriptor_sets: &[&'static [u8]],
        services: &[&'static str],
    ) -> Server {
        let health = HealthReporter::new();
        let mut pending_serving = Vec::new();
        for name in services.iter().copied().chain([""]) {
            if !set_status_now(&health, name, ServingStatus::Serving) {
                pending_serving.push(name);
            }
        }
        Server {
            args: args.clone(),
            descriptor_sets: descriptor_sets.to_vec(),
            services: services.to_vec(),
            health,
            drain_delay: args.drain_delay(),
            pending_serving,
            metrics: Metrics::disabled(),
        }
    }

    /// Counts every RPC in `metrics` (requests by method and code, latency).
    pub fn with_metrics(mut self, metrics: Metrics) -> Server {
        self.metrics = metrics;
        self
    }

    /// Sets the pause between turning health NOT_SERVING and closing the
    /// listener, so load balancers polling health stop sending traffic
    /// first. Defaults to `--drain-delay-ms` (at most the grace period).
    pub fn with_drain_delay(mut self, delay: Duration) -> Server {
        self.drain_delay = delay;
        self
    }

    /// The health reporter, e.g. to flip a service NOT_SERVING when its
    /// database is down.
    pub fn health(&self) -> HealthReporter {
        self.health.clone()
    }

    /// Serves `routes` (application services, already wrapped with the auth
    /// interceptor and message-size limits by the caller) plus health and
    /// reflection on `listener`, over TLS when the arguments name a
    /// certificate, until `shutdown` is cancelled. Then: health
    /// for every service and "" turns NOT_SERVING, the drain delay passes,
    /// the listener closes and in-flight RPCs get up to the grace period to
    /// finish; connections still busy after that are abandoned and this
    /// returns.
    pub async fn serve(
        self,
        listener: TcpListener,
        routes: Routes,
        shutdown: CancellationToken,
    ) -> Result<(), ServerError> {
        let Server {
            args,
            descriptor_sets,
            services,
            health,
            drain_delay,
            pending_serving,
            metrics,
        } = self;
        for name in pending_serving {
            health
                .set_service_status(name, ServingStatus::Serving)
                .await;
        }

        let routes = with_health_and_reflection(routes, &health, &descriptor_sets)?;

        let tls = tls_config(&args)?;
        let local_addr = listener.local_addr()?;
        // serve_with_incoming ignores the builder's TCP settings, so they are
        // set on the incoming stream itself.
        let incoming = TcpIncoming::from(listener)
            .with_nodelay(Some(true))
            .with_keepalive(Some(TCP_KEEPALIVE));

        let stop_accepting = CancellationToken::new();
        let mut builder = tonic::transport::Server::builder();
        let tls_mode = match tls {
            Some((config, mode)) => {
                builder = builder.tls_config(config)?;
                mode
            }
            None => TlsMode::Plaintext,
        };
        let server = builder
            .timeout(args.request_timeout())
            .concurrency_limit_per_connection(args.concurrency_per_connection)
            .http2_keepalive_interval(Some(HTTP2_KEEPALIVE_INTERVAL))
            .http2_keepalive_timeout(Some(HTTP2_KEEPALIVE_TIMEOUT))
            .layer(RpcTraceLayer::new(
                served_methods(&descriptor_sets, &services),
                metrics.grpc(),
            ))
            .add_routes(routes)
            .serve_with_incoming_shutdown(incoming, stop_accepting.clone().cancelled_owned());
        let mut server = pin!(server);

        announce(local_addr, &services, tls_mode);
        tokio::select! {
            // The server only ends by itself on a transport error.
            result = &mut server => return result.map_err(ServerError::from),
            () = shutdown.cancelled() => {}
        }
        tracing::info!(
            drain_delay_ms = drain_delay.as_millis() as u64,
            grace_secs = args.shutdown_grace_secs,
            "shutting down: health NOT_SERVING"
        );
        for name in services.iter().copied().chain([""]) {
            health
                .set_service_status(name, ServingStatus::NotServing)
                .await;
        }
        // Keep serving during the drain delay: health checks must still be
        // answered, and see NOT_SERVING.
        tokio::select! {
            result = &mut server => return result.map_err(ServerError::from),
            () = tokio::time::sleep(drain_delay) => {}
        }
        stop_accepting.cancel();
        finish(server, &args).await
    }
}

/// `routes` with grpc.health.v1 and server reflection (v1 and v1alpha)
/// beside them, so that grpcurl and generated clients find their way.
fn with_health_and_reflection(
    routes: Routes,
    health: &HealthReporter,
    descriptor_sets: &[&'static [u8]],
) -> Result<Routes, ServerError> {
    Ok(routes
        .add_service(HealthServer::new(HealthService::from_health_reporter(
            health.clone(),
        )))
        .add_service(reflection_v1(descriptor_sets)?)
        .add_service(reflection_v1alpha(descriptor_sets)?))
}

/// Logs where the server listens and how, with a warning when bearer tokens
/// would cross a network in clear.
fn announce(addr: SocketAddr, services: &[&'static str], tls: TlsMode) {
    tracing::info!(addr = %addr, services = ?services, tls = tls.as_str(), "gRPC server listening");
    if tls == TlsMode::Plaintext && !addr.ip().is_loopback() {
        tracing::warn!(
            addr = %addr,
            "listening in plaintext beyond loopback: bearer tokens cross the network in \
             clear unless a proxy in front terminates TLS (see --tls-cert and --tls-key)"
        );
    }
}

/// Gives the calls still in flight the grace period, then abandons them.
async fn finish<F>(server: std::pin::Pin<&mut F>, args: &ServerArgs) -> Result<(), ServerError>
where
    F: Future<Output = Result<(), tonic::transport::Error>>,
{
    match tokio::time::timeout(args.shutdown_grace(), server).await {
        Ok(result) => {
            result?;
            tracing::info!("gRPC server stopped");
        }
        Err(_) => tracing::warn!(
            grace_secs = args.shutdown_grace_secs,
            "grace period over: abandoning RPCs still in flight"
        ),
    }
    Ok(())
}

/// Sets a health status without awaiting. The reporter's lock is
/// uncontended right after creation, so one poll completes; `false` if it
/// did not (e.g. the task's cooperative budget ran out), and the caller
/// retries asynchronously.
fn set_status_now(health: &HealthReporter, name: &str, status: ServingStatus) -> bool {
    let mut fut = pin!(health.set_service_status(name, status));
    fut.as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
        .is_ready()
}

/// The methods a server answers, by path (`/package.Service/Method`).
#[derive(Debug, Default)]
struct ServedMethods {
    /// Every method of the application services, health and reflection:
    /// the only paths the metrics name, since a caller may send any path.
    all: HashSet<String>,
    /// Those whose answer is a stream, produced while the response body is
    /// polled.
    streaming: HashSet<String>,
}

/// The methods of `services` that `descriptor_sets` describe, with those of
/// health and reflection.
fn served_methods(descriptor_sets: &[&[u8]], services: &[&str]) -> ServedMethods {
    use prost::Message as _;
    let mut served = ServedMethods::default();
    for path in REFLECTION_METHODS {
        served.all.insert(path.to_owned());
        served.streaming.insert(path.to_owned());
    }
    let sets = descriptor_sets
        .iter()
        .map(|set| (*set, true))
        .chain([(tonic_health::pb::FILE_DESCRIPTOR_SET, false)]);
    for (bytes, only_served) in sets {
        // The sets are compiled in: one that does not decode describes nothing.
        let Ok(set) = prost_types::FileDescriptorSet::decode(bytes) else {
            continue;
        };
        for file in &set.file {
            for service in &file.service {
                let name = match file.package() {
                    "" => service.name().to_owned(),
                    package => format!("{package}.{}", service.name()),
                };
                if only_served && !services.contains(&name.as_str()) {
                    continue;
                }
                for method in &service.method {
                    let path = format!("/{name}/{}", method.name());
                    if method.server_streaming() {
                        served.streaming.insert(path.clone());
                    }
                    served.all.insert(path);
                }
            }
        }
    }
    served
}

/// The methods of the two reflection services every server answers.
const REFLECTION_METHODS: [&str; 2] = [
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

fn reflection_builder<'b>(sets: &[&'b [u8]]) -> tonic_reflection::server::Builder<'b> {
    sets.iter().fold(
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            // The rich error details every status carries (BadRequest,
            // ErrorInfo, RetryInfo...), so that generic clients can decode them.
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET),
        |builder, set| builder.register_encoded_file_descriptor_set(set),
    )
}

fn reflection_v1(
    sets: &[&'static [u8]],
) -> Result<
    tonic_reflection::server::v1::ServerReflectionServer<
        impl tonic_reflection::server::v1::ServerReflection,
    >,
    ServerError,
> {
    reflection_builder(sets)
        .build_v1()
        .map_err(|e| ServerError::Reflection(e.to_string()))
}

fn reflection_v1alpha(
    sets: &[&'static [u8]],
) -> Result<
    tonic_reflection::server::v1alpha::ServerReflectionServer<
        impl tonic_reflection::server::v1alpha::ServerReflection,
    >,
    ServerError,
> {
    reflection_builder(sets)
        .build_v1alpha()
        .map_err(|e| ServerError::Reflection(e.to_string()))
}

/// Binds a listener (port 0 allowed) and returns it with its actual
/// address, so tests can bind port 0 and learn where to connect.
pub async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// Tower layer giving every RPC a span (`rpc` with the method path and a
/// request id) and one event when it ends, with the gRPC status code and
/// latency, which it also counts in the metrics.
#[derive(Clone, Debug)]
struct RpcTraceLayer {
    metrics: Option<GrpcMetrics>,
    /// The paths of the methods that answer with a stream.
    streaming: Arc<HashSet<String>>,
}

impl RpcTraceLayer {
    fn new(methods: ServedMethods, metrics: Option<GrpcMetrics>) -> RpcTraceLayer {
        RpcTraceLayer {
            metrics: metrics.map(|m| m.serving(methods.all)),
            streaming: Arc::new(methods.streaming),
        }
    }
}

impl<S> Layer<S> for RpcTraceLayer {
    type Service = RpcTrace<S>;

    fn layer(&self, inner: S) -> RpcTrace<S> {
        RpcTrace {
            inner,
            metrics: self.metrics.clone(),
            streaming: self.streaming.clone(),
        }
    }
}

#[derive(Clone, Debug)]
struct RpcTrace<S> {
    inner: S,
    metrics: Option<GrpcMetrics>,
    streaming: Arc<HashSet<String>>,
}

/// The caller's `x-request-id` when it is a sane one (visible ASCII, not
/// too long: it goes into every log line of the call), else a new UUIDv7.
fn request_id(headers: &http::HeaderMap) -> String {
    let given = headers
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= MAX_REQUEST_ID && v.bytes().all(|b| b.is_ascii_graphic())
        });
    match given {
        Some(id) => id.to_owned(),
        None => uuid::Uuid::now_v7().to_string(),
    }
}

impl<S, B> Service<http::Request<B>> for RpcTrace<S>
where
    S: Service<http::Request<B>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let method = req.uri().path().to_owned();
        let request_id = request_id(req.headers());
        // As strings, not `%` (Display): each layer then copies them
        // rather than running them through the formatting machinery.
        let span = tracing::info_span!(
            "rpc",
            method = method.as_str(),
            request_id = request_id.as_str(),
        );
        // The caller's trace, when it sends one, continues here. Log lines
        // read the trace id from the span when they are written.
        let traceparent = req
            .headers()
            .get(reemploi_events::trace::TRACEPARENT)
            .and_then(|v| v.to_str().ok());
        reemploi_events::trace::adopt(&span, traceparent);
        let caller = crate::actor::Slot::default();
        let record = RpcRecord {
            span: span.clone(),
            // Health probes and reflection would drown an access log.
            quiet: method.starts_with("/grpc.health.") || method.starts_with("/grpc.reflection."),
            streams: self.streaming.contains(&method),
            start: Instant::now(),
            done: false,
            metrics: self.metrics.clone(),
            method,
        };
        let fut = {
            let _entered = span.enter();
            caller.enter(|| self.inner.call(req))
        };
        let fut = caller.around(fut);
        let answer = async move {
            let mut record = record;
            match fut.await {
                Ok(mut response) => {
                    // Already checked to be a valid header value, or a UUID.
                    if let Ok(value) = http::HeaderValue::from_str(&request_id) {
                        response.headers_mut().insert(REQUEST_ID_HEADER, value);
                    }
                    Ok(record.watch(response))
                }
                Err(err) => {
                    record.finish(Outcome::TransportError);
                    Err(err)
                }
            }
        };
        Box::pin(InSpan {
            span,
            answer: Some(answer),
        })
    }
}

pin_project_lite::pin_project! {
    /// A call's answer made inside its span: entered while it is polled,
    /// and while it is dropped if it never finished (a call given up, whose
    /// handler may log as it unwinds). Unlike tracing's `Instrumented`, a
    /// finished one is not entered again only to be dropped: what it held
    /// went as it finished, inside the span.
    struct InSpan<F> {
        span: tracing::Span,
        #[pin]
        answer: Option<F>,
    }

    impl<F> PinnedDrop for InSpan<F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if this.answer.is_some() {
                let _entered = this.span.enter();
                this.answer.set(None);
            }
        }
    }
}

impl<F: Future> Future for InSpan<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let mut this = self.project();
        let _entered = this.span.enter();
        let Some(answer) = this.answer.as_mut().as_pin_mut() else {
            // As any future polled again after it answered (hyper never
            // does): a bug to surface, not a call to hang.
            panic!("a call's answer polled after it answered");
        };
        let out = std::task::ready!(answer.poll(cx));
        this.answer.set(None);
        Poll::Ready(out)
    }
}

/// How an RPC ended.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    Status(Code),
    /// The response ended without a grpc-status.
    NoStatus,
    TransportError,
    /// Dropped before completion: client cancel, timeout or lost connection.
    Dropped,
}

/// Logs the end of one RPC exactly once, even if it is dropped half-way.
struct RpcRecord {
    span: tracing::Span,
    quiet: bool,
    /// The answer is a stream, made while the body is polled.
    streams: bool,
    start: Instant,
    done: bool,
    metrics: Option<GrpcMetrics>,
    /// The request's path, `/package.Service/Method`.
    method: String,
}

impl RpcRecord {
    /// Finishes now if the status is in the headers (trailers-only
    /// response, the usual error case), otherwise when the body yields its
    /// trailers.
    fn watch(mut self, response: http::Response<Body>) -> http::Response<Body> {
        if let Some(code) = grpc_status(response.headers()) {
            self.finish(Outcome::Status(code));
            return response;
        }
        let (parts, body) = response.into_parts();
        if body.is_end_stream() {
            self.finish(Outcome::NoStatus);
            return http::Response::from_parts(parts, body);
        }
        http::Response::from_parts(
            parts,
            Body::new(RecordedBody {
                inner: body,
                record: Some(self),
            }),
        )
    }

    fn finish(&mut self, outcome: Outcome) {
        if self.done {
            return;
        }
        self.done = true;
        let elapsed = self.start.elapsed();
        let latency_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        // gRPC's own names of the codes (as in the metrics' labels), and
        // static: nothing is formatted for a call that logs no line.
        let code = match outcome {
            Outcome::Status(code) => crate::metrics::code_name(code),
            // A response without grpc-status is UNKNOWN to the client.
            Outcome::NoStatus => "UNKNOWN",
            Outcome::TransportError => "TRANSPORT_ERROR",
            Outcome::Dropped => "CANCELLED",
        };
        if let Some(metrics) = &self.metrics {
            metrics.record(&self.method, code, elapsed.as_secs_f64());
        }
        // The code goes to the exported span only (its duration is its
        // own): recording it as a field would make the log layer format
        // the span's fields again, on every call, for lines that carry it
        // already.
        self.span.set_attribute("code", code);
        let server_fault = matches!(
            outcome,
            Outcome::Status(Code::Internal | Code::Unknown | Code::DataLoss)
                | Outcome::NoStatus
                | Outcome::TransportError
        );
        // Every call is counted in the metrics (with --metrics-listen) and
        // exported as a span (with --otlp-endpoint): a line for each would
        // repeat them at a cost per call. A server fault is logged at warn;
        // the others at debug, an access log for
        // `RUST_LOG=info,reemploi_runtime::server=debug`, and health probes
        // and reflection at trace.
        let level = if server_fault {
            Level::WARN
        } else if self.quiet {
            Level::TRACE
        } else {
            Level::DEBUG
        };
        // Entering the span costs every layer a visit: not for a line that
        // no filter lets through at any place (most calls, at info).
        if level > tracing::level_filters::LevelFilter::current() {
            return;
        }
        let _entered = self.span.enter();
        if server_fault {
            tracing::warn!(code, latency_ms, "rpc failed");
        } else if self.quiet {
            tracing::trace!(code, latency_ms, "rpc finished");
        } else {
            tracing::debug!(code, latency_ms, "rpc finished");
        }
    }
}

impl Drop for RpcRecord {
    fn drop(&mut self) {
        self.finish(Outcome::Dropped);
    }
}

fn grpc_status(headers: &http::HeaderMap) -> Option<Code> {
    headers
        .get("grpc-status")
        .map(|value| Code::from_bytes(value.as_bytes()))
}

/// A response body that reports the RPC's status when trailers arrive.
struct RecordedBody {
    inner: Body,
    record: Option<RpcRecord>,
}

impl HttpBody for RecordedBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let this = &mut *self;
        // Streaming handlers run while the body is polled: keep their
        // events inside the RPC span. A unary answer is only encoded here,
        // which logs nothing: entering its span would cost every call
        // (each layer marks the span at every entry and exit) for nothing.
        let poll = {
            let _entered = this
                .record
                .as_ref()
                .filter(|r| r.streams)
                .map(|r| r.span.enter());
            Pin::new(&mut this.inner).poll_frame(cx)
        };
        let outcome = match &poll {
            Poll::Ready(Some(Ok(frame))) => frame
                .trailers_ref()
                .map(|trailers| grpc_status(trailers).map_or(Outcome::NoStatus, Outcome::Status)),
            Poll::Ready(Some(Err(status))) => Some(Outcome::Status(status.code())),
            Poll::Ready(None) => Some(Outcome::NoStatus),
            Poll::Pending => None,
        };
        if let Some(outcome) = outcome
            && let Some(mut record) = this.record.take()
        {
            record.finish(outcome);
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_methods_name_those_that_answer_with_a_stream() {
        let served = served_methods(&[], &[]);
        for path in [
            "/grpc.health.v1.Health/Check",
            "/grpc.health.v1.Health/Watch",
            REFLECTION_METHODS[0],
            REFLECTION_METHODS[1],
        ] {
            assert!(served.all.contains(path), "{path} in {:?}", served.all);
        }
        assert!(served.streaming.contains("/grpc.health.v1.Health/Watch"));
        assert!(served.streaming.contains(REFLECTION_METHODS[0]));
        assert!(!served.streaming.contains("/grpc.health.v1.Health/Check"));
        assert_eq!(served.all.len(), 4, "{:?}", served.all);
    }
}
