//! Configuration blocks that binaries flatten into their clap parser
//! (`#[command(flatten)]`). Every flag has an environment fallback so the
//! same binary runs from a shell, a systemd unit or a container.
//!
//! Values that may carry credentials (database and NATS URLs, the JWT
//! secret) have their environment values hidden from `--help` and are
//! redacted from `Debug` output, because both end up in logs and terminals.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Default listen address: loopback only, so a development run is never
/// exposed to the network by accident.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 50051);
/// Default maximum size of one gRPC message (16 MiB).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
/// Default per-request timeout in seconds.
pub const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 30;
/// Default shutdown grace period in seconds.
pub const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 10;
/// Default pause between NOT_SERVING and closing the listener, in milliseconds.
pub const DEFAULT_DRAIN_DELAY_MS: u64 = 1000;
/// Default number of concurrent requests per client connection.
pub const DEFAULT_CONCURRENCY_PER_CONNECTION: usize = 64;

/// Default longest remaining validity of an accepted token: 7 days.
pub const DEFAULT_JWT_MAX_LIFETIME_SECS: u64 = 7 * 24 * 3600;
/// Default average requests per second of one authenticated caller.
pub const DEFAULT_RATE_LIMIT_PER_PRINCIPAL: u32 = 100;
/// Default burst of one authenticated caller.
pub const DEFAULT_RATE_LIMIT_PER_PRINCIPAL_BURST: u32 = 500;
/// Default average requests per second without a valid token, per address.
pub const DEFAULT_RATE_LIMIT_UNAUTHENTICATED: u32 = 10;
/// Default burst without a valid token, per address.
pub const DEFAULT_RATE_LIMIT_UNAUTHENTICATED_BURST: u32 = 20;

/// Shown in place of secrets in `Debug` output.
const REDACTED: &str = "<redacted>";

fn redact(value: &Option<String>) -> Option<&'static str> {
    value.as_ref().map(|_| REDACTED)
}

/// Where and how the gRPC server listens.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
// `about = None`: without it clap would show this struct's doc comment
// as the description of whatever binary flattens it.
#[command(next_help_heading = "Server", about = None, long_about = None)]
pub struct ServerArgs {
    /// Address the gRPC server listens on; port 0 picks a free port.
    #[arg(
        long = "listen",
        env = "REEMPLOI_LISTEN",
        default_value = "127.0.0.1:50051"
    )]
    pub listen: SocketAddr,

    /// Largest gRPC message accepted or sent, in bytes (16 MiB by default).
    #[arg(
        long = "max-message-bytes",
        env = "REEMPLOI_MAX_MESSAGE_BYTES",
        default_value_t = DEFAULT_MAX_MESSAGE_BYTES
    )]
    pub max_message_bytes: usize,

    /// Time limit for one request, in seconds; a request still running
    /// after it is cancelled.
    #[arg(
        long = "request-timeout-secs",
        env = "REEMPLOI_REQUEST_TIMEOUT_SECS",
        default_value_t = DEFAULT_REQUEST_TIMEOUT_SECS
    )]
    pub request_timeout_secs: u64,

    /// On SIGINT/SIGTERM, seconds given to in-flight RPCs to finish after
    /// health turns NOT_SERVING; connections still busy afterwards are
    /// abandoned.
    #[arg(
        long = "shutdown-grace-secs",
        env = "REEMPLOI_SHUTDOWN_GRACE_SECS",
        default_value_t = DEFAULT_SHUTDOWN_GRACE_SECS
    )]
    pub shutdown_grace_secs: u64,

    /// On SIGINT/SIGTERM, milliseconds between health turning NOT_SERVING
    /// and the listener closing, so load balancers polling health stop
    /// sending traffic first (at most the grace period).
    #[arg(
        long = "drain-delay-ms",
        env = "REEMPLOI_DRAIN_DELAY_MS",
        default_value_t = DEFAULT_DRAIN_DELAY_MS
    )]
    pub drain_delay_ms: u64,

    /// Maximum number of requests served at once on one client connection.
    #[arg(
        long = "concurrency-per-connection",
        env = "REEMPLOI_CONCURRENCY_PER_CONNECTION",
        default_value_t = DEFAULT_CONCURRENCY_PER_CONNECTION
    )]
    pub concurrency_per_connection: usize,

    /// PEM file with the server's certificate (its chain, leaf first). With
    /// --tls-key the server speaks only TLS, health and reflection
    /// included; without both it listens in plaintext and bearer tokens
    /// cross the network in clear (fine on loopback or behind a proxy that
    /// terminates TLS).
    #[arg(
        long = "tls-cert",
        env = "REEMPLOI_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,

    /// PEM file with the private key of --tls-cert (PKCS#8, PKCS#1 or
    /// SEC1). Its contents are never logged.
    #[arg(
        long = "tls-key",
        env = "REEMPLOI_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,

    /// PEM file with the CA certificate(s) that sign client certificates:
    /// turns on mutual TLS, every client must then present a certificate
    /// signed by one of them. Needs --tls-cert and --tls-key.
    #[arg(
        long = "tls-client-ca",
        env = "REEMPLOI_TLS_CLIENT_CA",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_client_ca: Option<PathBuf>,
}

impl Default for ServerArgs {
    fn default() -> Self {
        ServerArgs {
            listen: DEFAULT_LISTEN,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            request_timeout_secs: DEFAULT_REQUEST_TIMEOUT_SECS,
            shutdown_grace_secs: DEFAULT_SHUTDOWN_GRACE_SECS,
            drain_delay_ms: DEFAULT_DRAIN_DELAY_MS,
            concurrency_per_connection: DEFAULT_CONCURRENCY_PER_CONNECTION,
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
        }
    }
}

impl ServerArgs {
    /// The request timeout as a [`Duration`].
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    /// The shutdown grace period as a [`Duration`].
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }

    /// The drain delay, at most the grace period.
    pub fn drain_delay(&self) -> Duration {
        Duration::from_millis(self.drain_delay_ms).min(self.shutdown_grace())
    }
}

/// Storage: where a service keeps its data.
#[derive(clap::Args, Clone, PartialEq, Eq)]
// `about = None`: without it clap would show this struct's doc comment
// as the description of whatever binary flattens it.
#[command(next_help_heading = "Storage", about = None, long_about = None)]
pub struct StoreArgs {
    /// Database connection URL (postgres://... or sqlite://...); when
    /// absent, an SQLite file under --data-dir is used. Never logged.
    #[arg(long = "database-url", env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Directory for local data (SQLite files, generated secrets).
    #[arg(long = "data-dir", env = "REEMPLOI_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
}

impl Default for StoreArgs {
    fn default() -> Self {
        StoreArgs {
            database_url: None,
            data_dir: PathBuf::from("./data"),
        }
    }
}

impl fmt::Debug for StoreArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreArgs")
            .field("database_url", &redact(&self.database_url))
            .field("data_dir", &self.data_dir)
            .finish()
    }
}

/// Event bus: how a service reaches NATS JetStream.
#[derive(clap::Args, Clone, PartialEq, Eq)]
// `about = None`: without it clap would show this struct's doc comment
// as the description of whatever binary flattens it.
#[command(next_help_heading = "Event bus", about = None, long_about = None)]
pub struct BusArgs {
    /// NATS server URL (nats://host:4222, may embed credentials), or a
    /// comma-separated list of a cluster's servers, all of which are used;
    /// at start, a service waits for NATS as long as it takes. When absent,
    /// the in-process bus is used, its log in <data-dir>/bus.db. Never logged.
    #[arg(long = "nats-url", env = "NATS_URL", hide_env_values = true)]
    pub nats_url: Option<String>,

    /// Number of replicas for the JetStream streams this service creates
    /// (3 on a production cluster).
    #[arg(
        long = "stream-replicas",
        env = "REEMPLOI_STREAM_REPLICAS",
        default_value_t = 1
    )]
    pub stream_replicas: usize,

    /// Prefix of subjects and stream names, so several deployments or
    /// test runs can share one NATS server without seeing each other.
    #[arg(long = "event-namespace", env = "REEMPLOI_EVENT_NAMESPACE")]
    pub event_namespace: Option<String>,

    /// Failed attempts after which an event a service cannot apply becomes
    /// a dead letter (listed and replayed with `reemploi dead-letters`).
    /// An outage of the service's own database is waited out, not counted.
    #[arg(
        long = "max-deliver",
        env = "REEMPLOI_MAX_DELIVER",
        default_value_t = reemploi_events::DEFAULT_MAX_DELIVER,
        value_parser = clap::value_parser!(i64).range(1..)
    )]
    pub max_deliver: i64,

    /// TLS to the NATS servers.
    #[command(flatten)]
    pub tls: NatsTlsArgs,
}

impl BusArgs {
    /// The TLS files of the NATS connection.
    pub fn nats_tls(&self) -> reemploi_events::NatsTls {
        self.tls.files()
    }
}

/// TLS to the NATS servers, for the services and for the command that
/// reads their dead letters.
#[derive(clap::Args, Debug, Clone, Default, PartialEq, Eq)]
// `about = None`: without it clap would show this struct's doc comment
// as the description of whatever binary flattens it.
#[command(about = None, long_about = None)]
pub struct NatsTlsArgs {
    /// PEM file with the CA certificate(s) that sign the NATS servers'
    /// certificates: the connection then requires TLS and trusts only
    /// them (a private CA). Read and checked at start.
    #[arg(long = "nats-ca", env = "REEMPLOI_NATS_CA", value_name = "FILE")]
    pub nats_ca: Option<PathBuf>,

    /// PEM file with a client certificate (leaf first) for NATS servers
    /// that verify clients (`verify: true`); requires TLS. Needs --nats-key.
    #[arg(
        long = "nats-cert",
        env = "REEMPLOI_NATS_CERT",
        value_name = "FILE",
        requires = "nats_key"
    )]
    pub nats_cert: Option<PathBuf>,

    /// PEM file with the private key of --nats-cert (PKCS#8, PKCS#1 or
    /// SEC1). Its contents are never logged.
    #[arg(
        long = "nats-key",
        env = "REEMPLOI_NATS_KEY",
        value_name = "FILE",
        requires = "nats_cert"
    )]
    pub nats_key: Option<PathBuf>,
}

impl NatsTlsArgs {
    /// The files named, for the connection to read and check.
    pub fn files(&self) -> reemploi_events::NatsTls {
        reemploi_events::NatsTls {
            ca: self.nats_ca.clone(),
            cert: self.nats_cert.clone(),
            key: self.nats_key.clone(),
        }
    }
}

impl Default for BusArgs {
    fn default() -> Self {
        BusArgs {
            nats_url: None,
            stream_replicas: 1,
            event_namespace: None,
            max_deliver: reemploi_events::DEFAULT_MAX_DELIVER,
            tls: NatsTlsArgs::default(),
        }
    }
}

impl fmt::Debug for BusArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BusArgs")
            .field("nats_url", &redact(&self.nats_url))
            .field("stream_replicas", &self.stream_replicas)
            .field("event_namespace", &self.event_namespace)
            .field("max_deliver", &self.max_deliver)
            .field("tls", &self.tls)
            .finish()
    }
}

/// Authentication: how bearer tokens are verified.
#[derive(clap::Args, Clone, PartialEq, Eq)]
// `about = None`: without it clap would show this struct's doc comment
// as the description of whatever binary flattens it.
#[command(next_help_heading = "Authentication", about = None, long_about = None)]
pub struct AuthArgs {
    /// Shared secret for HS256 tokens (development). Never printed.
    /// Conflicts with --jwt-public-key.
    #[arg(
        long = "jwt-secret",
        env = "REEMPLOI_JWT_SECRET",
        hide_env_values = true,
        conflicts_with = "jwt_public_key"
    )]
    pub jwt_secret: Option<String>,

    /// PEM file holding the Ed25519 (EdDSA) or RSA (RS256) public key of the
    /// token issuer, e.g. an OIDC provider. Requires --jwt-issuer and
    /// --jwt-audience.
    #[arg(
        long = "jwt-public-key",
        env = "REEMPLOI_JWT_PUBLIC_KEY",
        requires_all = ["jwt_issuer", "jwt_audience"]
    )]
    pub jwt_public_key: Option<PathBuf>,

    /// Required `iss` claim; not checked when absent. Required with
    /// --jwt-public-key: a token is then only accepted from that issuer.
    #[arg(long = "jwt-issuer", env = "REEMPLOI_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// Required `aud` claim; not checked when absent. Required with
    /// --jwt-public-key: tokens the issuer made for other services are
    /// then refused.
    #[arg(long = "jwt-audience", env = "REEMPLOI_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,

    /// Longest time a token may still be valid for, in seconds: a token
    /// whose `exp` lies further ahead (beyond 30 s of clock skew) is
    /// refused, so a stolen token is worth at most this long. 7 days by
    /// default.
    #[arg(
        long = "jwt-max-lifetime-secs",
        env = "REEMPLOI_JWT_MAX_LIFETIME_SECS",
        default_value_t = DEFAULT_JWT_MAX_LIFETIME_SECS,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub jwt_max_lifetime_secs: u64,

    /// The identity service whose public keys (JWKS) verify the tokens of
    /// signed-in people and API tokens, e.g. `http://identity:50051`;
    /// fetched at start and every minute. Not needed by `reemploi up` nor
    /// by the identity service itself, which hold the keys.
    #[arg(
        long = "identity-url",
        env = "REEMPLOI_IDENTITY_URL",
        value_name = "URL"
    )]
    pub identity_url: Option<String>,

    /// PEM file with the CA that signed the identity service's certificate,
    /// for an https --identity-url served with a private CA.
    #[arg(
        long = "identity-ca",
        env = "REEMPLOI_IDENTITY_CA",
        value_name = "FILE"
    )]
    pub identity_ca: Option<PathBuf>,

    /// PEM file with the client certificate this service presents to the
    /// identity service, when that one requires client certificates (its
    /// --tls-client-ca). Needs --identity-key.
    #[arg(
        long = "identity-cert",
        env = "REEMPLOI_IDENTITY_CERT",
        value_name = "FILE",
        requires = "identity_key"
    )]
    pub identity_cert: Option<PathBuf>,

    /// PEM file with the private key of --identity-cert. Its contents are
    /// never logged.
    #[arg(
        long = "identity-key",
        env = "REEMPLOI_IDENTITY_KEY",
        value_name = "FILE",
        requires = "identity_cert"
    )]
    pub identity_key: Option<PathBuf>,

    /// The `iss` of the identity service's tokens: it signs with it, every
    /// service requires it.
    #[arg(
        long = "token-issuer",
        env = "REEMPLOI_TOKEN_ISSUER",
        default_value = crate::auth::DEFAULT_TOKEN_ISSUER
    )]
    pub token_issuer: String,

    /// The `aud` of the identity service's tokens: it signs with it, every
    /// service requires it.
    #[arg(
        long = "token-audience",
        env = "REEMPLOI_TOKEN_AUDIENCE",
        default_value = crate::auth::DEFAULT_TOKEN_AUDIENCE
    )]
    pub token_audience: String,
}

impl Default for AuthArgs {
    fn default() -> Self {
        AuthArgs {
            jwt_secret: None,
            jwt_public_key: None,
            jwt_issuer: None,
            jwt_audience: None,
            jwt_max_lifetime_secs: DEFAULT_JWT_MAX_LIFETIME_SECS,
            identity_url: None,
            identity_ca: None,
            identity_cert: None,
            identity_key: None,
            token_issuer: crate::auth::DEFAULT_TOKEN_ISSUER.to_owned(),
            token_audience: crate::auth::DEFAULT_TOKEN_AUDIENCE.to_owned(),
        }
    }
}

impl fmt::Debug for AuthArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthArgs")
            .field("jwt_secret", &redact(&self.jwt_secret))
            .field("jwt_public_key", &self.jwt_public_key)
            .field("jwt_issuer", &self.jwt_issuer)
            .field("jwt_audience", &self.jwt_audience)
            .field("jwt_max_lifetime_secs", &self.jwt_max_lifetime_secs)
            .field("identity_url", &self.identity_url.as_ref().map(|_| "<set>"))
            .field("identity_ca", &self.identity_ca)
            .field("identity_cert", &self.identity_cert)
            .field("identity_key", &self.identity_key)
            .field("token_issuer", &self.token_issuer)
            .field("token_audience", &self.token_audience)
            .finish()
    }
}

/// Rate limits: token buckets refilled at a steady rate up to a burst.
/// Health and reflection are never limited.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
// `about = None`: without it clap would show this struct's doc comment
// as the description of whatever binary flattens it.
#[command(next_help_heading = "Rate limits", about = None, long_about = None)]
pub struct LimitArgs {
    /// Requests per second one authenticated caller may make on average;
    /// a caller is a token's role, org, partner and subject together.
    /// Calls over it get RESOURCE_EXHAUSTED with a retry delay. 0 turns
    /// the limit off.
    #[arg(
        long = "rate-limit-per-principal",
        env = "REEMPLOI_RATE_LIMIT_PER_PRINCIPAL",
        value_name = "PER_SECOND",
        default_value_t = DEFAULT_RATE_LIMIT_PER_PRINCIPAL
    )]
    pub per_principal: u32,

    /// Requests one authenticated caller may make at once before the
    /// per-second rate applies.
    #[arg(
        long = "rate-limit-per-principal-burst",
        env = "REEMPLOI_RATE_LIMIT_PER_PRINCIPAL_BURST",
        value_name = "REQUESTS",
        default_value_t = DEFAULT_RATE_LIMIT_PER_PRINCIPAL_BURST,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub per_principal_burst: u32,

    /// Requests per second without a valid token (missing, expired,
    /// forged...) allowed from one client address (an IPv6 address counts
    /// with its whole /64) on average; beyond it they get
    /// RESOURCE_EXHAUSTED instead of UNAUTHENTICATED. 0 turns the limit off.
    #[arg(
        long = "rate-limit-unauthenticated",
        env = "REEMPLOI_RATE_LIMIT_UNAUTHENTICATED",
        value_name = "PER_SECOND",
        default_value_t = DEFAULT_RATE_LIMIT_UNAUTHENTICATED
    )]
    pub unauthenticated: u32,

    /// Requests without a valid token one client address may make at once
    /// before the per-second rate applies.
    #[arg(
        long = "rate-limit-unauthenticated-burst",
        env = "REEMPLOI_RATE_LIMIT_UNAUTHENTICATED_BURST",
        value_name = "REQUESTS",
        default_value_t = DEFAULT_RATE_LIMIT_UNAUTHENTICATED_BURST,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub unauthenticated_burst: u32,

    /// Addresses of proxies that call on behalf of others (the web app's
    /// hosts), comma-separated: from them, the client address counted by
    /// the limits above and by the sign-in throttling is the one they send
    /// in `x-forwarded-for`. Without it, every person signing in through
    /// the web app would share its address. `reemploi up` trusts loopback,
    /// where its own web app calls from, unless given a list.
    #[arg(
        long = "trusted-proxy",
        env = "REEMPLOI_TRUSTED_PROXIES",
        value_name = "IP",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Default for LimitArgs {
    fn default() -> Self {
        LimitArgs {
            per_principal: DEFAULT_RATE_LIMIT_PER_PRINCIPAL,
            per_principal_burst: DEFAULT_RATE_LIMIT_PER_PRINCIPAL_BURST,
            unauthenticated: DEFAULT_RATE_LIMIT_UNAUTHENTICATED,
            unauthenticated_burst: DEFAULT_RATE_LIMIT_UNAUTHENTICATED_BURST,
            trusted_proxies: Vec::new(),
        }
    }
}

/// Logging and tracing: the log format (the level comes from `RUST_LOG`,
/// default `info`) and where traces go.
#[derive(clap::Args, Debug, Clone, Default, PartialEq, Eq)]
// `about = None`: without it clap would show this struct's doc comment
// as the description of whatever binary flattens it.
#[command(next_help_heading = "Logging and tracing", about = None, long_about = None)]
pub struct TelemetryArgs {
    /// Log output format: `pretty` for people, `json` for log collectors
    /// (one object per line, each line of a call with its method and
    /// request id), `auto` for `pretty` on a terminal and `json` otherwise.
    /// The level is set with RUST_LOG (default "info").
    #[arg(
        long = "log-format",
        env = "REEMPLOI_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Auto
    )]
    pub log_format: LogFormat,
    /// OTLP/gRPC endpoint to export traces to, e.g. http://collector:4317
    /// (plain HTTP/2: a collector on loopback or a private network): every
    /// call, every event published and every event consumed is a span, and
    /// one request is one trace across the services. Off when absent (trace
    /// ids are still made and written on JSON log lines). Spans follow RUST_LOG:
    /// at a level above info (e.g. warn) none is made.
    #[arg(
        long = "otlp-endpoint",
        env = "OTEL_EXPORTER_OTLP_ENDPOINT",
        value_name = "URL",
        hide_env_values = true
    )]
    pub otlp_endpoint: Option<String>,
}

/// How log lines are written.
#[derive(clap::ValueEnum, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// `pretty` when stderr is a terminal, `json` otherwise (a file, a
    /// pipe, a journal).
    #[default]
    Auto,
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// The format `Auto` stands for, given whether stderr is a terminal.
    pub fn resolve(self, terminal: bool) -> LogFormat {
        match self {
            LogFormat::Auto if terminal => LogFormat::Pretty,
            LogFormat::Auto => LogFormat::Json,
            other => other,
        }
    }
}

/// Metrics: where Prometheus scrapes this process.
#[derive(clap::Args, Debug, Clone, Default, PartialEq, Eq)]
// `about = None`: without it clap would show this struct's doc comment
// as the description of whatever binary flattens it.
#[command(next_help_heading = "Metrics", about = None, long_about = None)]
pub struct MetricsArgs {
    /// Address of an HTTP endpoint serving Prometheus metrics at
    /// `/metrics` (text exposition format): gRPC requests, outbox backlog,
    /// consumer lag, database pools and the platform's own figures. Off
    /// when absent; port 0 picks a free port, which the log names. No
    /// authentication: keep it on loopback or a private network.
    #[arg(
        long = "metrics-listen",
        env = "REEMPLOI_METRICS_LISTEN",
        value_name = "ADDR"
    )]
    pub metrics_listen: Option<SocketAddr>,
}
