//! Prometheus metrics of a process, served in the text exposition format
//! at `/metrics` on `--metrics-listen` (off by default).
//!
//! Two kinds of figures:
//! - counted as things happen: gRPC requests by service, method and code,
//!   with latency histograms (recorded by the server's per-RPC layer);
//! - read when scraped, by [`Probe`]s: each service's outbox backlog and
//!   database pool, the bus's consumers (lag, redeliveries, dead letters),
//!   and what a service adds of its own (the inventory's lots and claims by
//!   status, mass handed over). Reading at scrape time keeps the figures
//!   exact and costs nothing between scrapes; each probe has a time limit,
//!   so a database or broker that hangs leaves a scrape short of its
//!   figures (`reemploi_metrics_probe_up` 0), never hanging.
//!
//! Labels never carry a connection string, a token or a client's value:
//! only service, method and consumer names and fixed codes and states. A
//! path that is not a method of the services served is counted as
//! `unknown` (whatever the code), so a client cannot make up label values.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use reemploi_events::Bus;
use reemploi_store::{Db, now_millis};
use sqlx::Row;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::Code;

/// The key prefix of the database pool probes.
const POOL_PROBE: &str = "pool:";

/// The longest a probe may take during a scrape.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Latency buckets of gRPC requests, in seconds: from a cached read (1 ms)
/// to the default request timeout (30 s).
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

type Labels3 = [(&'static str, String); 3];
type Labels2 = [(&'static str, String); 2];

/// The metrics of one process: cheap to clone, shared by every service the
/// process runs. [`Metrics::disabled`] records nothing and costs nothing.
#[derive(Clone, Default)]
pub struct Metrics {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    registry: Registry,
    grpc: GrpcMetrics,
    probes: Mutex<BTreeMap<String, Arc<dyn Probe>>>,
    /// What the probes found at the last scrape, encoded by the registry's
    /// collector.
    snapshot: Arc<Mutex<Samples>>,
    /// One scrape at a time: two at once would mix their snapshots.
    scrape: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let probes: Vec<String> = match &self.inner {
            Some(inner) => lock(&inner.probes).keys().cloned().collect(),
            None => Vec::new(),
        };
        f.debug_struct("Metrics")
            .field("enabled", &self.inner.is_some())
            .field("probes", &probes)
            .finish()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Metrics {
    /// Metrics that are recorded and can be scraped.
    pub fn new() -> Metrics {
        let grpc = GrpcMetrics::default();
        let snapshot = Arc::new(Mutex::new(Samples::default()));
        let mut registry = Registry::default();
        registry.register(
            "reemploi_grpc_requests",
            "gRPC requests finished, by service, method and status code",
            grpc.requests.clone(),
        );
        registry.register(
            "reemploi_grpc_request_duration_seconds",
            "Time from a gRPC request's arrival to its status, by service and method",
            grpc.durations.clone(),
        );
        registry.register_collector(Box::new(SnapshotCollector(snapshot.clone())));
        Metrics {
            inner: Some(Arc::new(Inner {
                registry,
                grpc,
                probes: Mutex::new(BTreeMap::new()),
                snapshot,
                scrape: tokio::sync::Mutex::new(()),
            })),
        }
    }

    /// Metrics that record nothing: the process serves no endpoint.
    pub fn disabled() -> Metrics {
        Metrics { inner: None }
    }

    /// Whether anything is recorded.
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Adds `probe`, read at every scrape, under `key`; a probe already
    /// under `key` is replaced (so that services sharing one bus add its
    /// probe once).
    pub fn probe(&self, key: impl Into<String>, probe: impl Probe) {
        if let Some(inner) = &self.inner {
            lock(&inner.probes).insert(key.into(), Arc::new(probe));
        }
    }

    /// The outbox, database pool and bus probes of `service`, whose
    /// database is `db`, on `bus`.
    pub fn watch_service(&self, service: &'static str, db: &Db, bus: &Arc<dyn Bus>) {
        self.probe(
            format!("outbox:{service}"),
            OutboxProbe {
                service,
                db: db.clone(),
            },
        );
        self.probe(
            format!("{POOL_PROBE}{service}"),
            PoolProbe {
                service,
                db: db.clone(),
            },
        );
        self.probe("bus", BusProbe(bus.clone()));
    }

    pub(crate) fn grpc(&self) -> Option<GrpcMetrics> {
        self.inner.as_ref().map(|inner| inner.grpc.clone())
    }

    /// Reads every probe and renders every metric in the text exposition
    /// format.
    pub async fn render(&self) -> String {
        let Some(inner) = &self.inner else {
            return String::new();
        };
        let _one = inner.scrape.lock().await;
        let mut probes: Vec<(String, Arc<dyn Probe>)> = lock(&inner.probes)
            .iter()
            .map(|(k, p)| (k.clone(), p.clone()))
            .collect();
        // Pools first: their probes answer at once, before the others take
        // connections of those pools for their queries.
        probes.sort_by_key(|(key, _)| !key.starts_with(POOL_PROBE));
        let read = probes.iter().map(|(key, probe)| async move {
            let mut samples = Samples::default();
            let outcome = tokio::time::timeout(PROBE_TIMEOUT, probe.sample(&mut samples)).await;
            (key, samples, outcome)
        });
        let mut merged = Samples::default();
        for (key, samples, outcome) in futures::future::join_all(read).await {
            let up = match outcome {
                Ok(Ok(())) => {
                    merged.merge(samples);
                    1
                }
                Ok(Err(reason)) => {
                    tracing::debug!(probe = %key, %reason, "metrics probe failed");
                    0
                }
                Err(_) => {
                    tracing::debug!(probe = %key, "metrics probe timed out");
                    0
                }
            };
            merged.gauge(
                "reemploi_metrics_probe_up",
                "Whether a probe answered at the last scrape (1) or failed or timed out (0)",
                &[("probe", key.as_str())],
                up,
            );
        }
        *lock(&inner.snapshot) = merged;
        let mut text = String::new();
        if let Err(e) =
            prometheus_client::encoding::prometheus_text::encode(&mut text, &inner.registry)
        {
            tracing::warn!(error = %e, "cannot encode the metrics");
        }
        text
    }
}

/// Figures read when scraped.
#[async_trait::async_trait]
pub trait Probe: Send + Sync + 'static {
    /// Adds the current figures to `out`; an error (why, without secrets)
    /// leaves them out of this scrape.
    async fn sample(&self, out: &mut Samples) -> Result<(), String>;
}

/// Figures a [`Probe`] found: families of samples by metric name.
#[derive(Debug, Default)]
pub struct Samples {
    families: BTreeMap<&'static str, SampleFamily>,
}

#[derive(Debug)]
struct SampleFamily {
    help: &'static str,
    kind: MetricType,
    samples: Vec<(Vec<(&'static str, String)>, Value)>,
}

#[derive(Debug, Clone, Copy)]
enum Value {
    Int(i64),
    Float(f64),
    Count(u64),
}

impl Samples {
    fn add(
        &mut self,
        name: &'static str,
        help: &'static str,
        kind: MetricType,
        labels: &[(&'static str, &str)],
        value: Value,
    ) {
        let family = self.families.entry(name).or_insert_with(|| SampleFamily {
            help,
            kind,
            samples: Vec::new(),
        });
        let labels = labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        family.samples.push((labels, value));
    }

    /// A gauge: a value that goes up and down.
    pub fn gauge(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, &str)],
        value: i64,
    ) {
        self.add(name, help, MetricType::Gauge, labels, Value::Int(value));
    }

    /// A gauge with a fractional value (seconds, ratios).
    pub fn gauge_f64(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, &str)],
        value: f64,
    ) {
        self.add(name, help, MetricType::Gauge, labels, Value::Float(value));
    }

    /// A counter kept elsewhere (it only grows while the process lives);
    /// `name` without `_total`, which the exposition adds.
    pub fn counter(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, &str)],
        value: u64,
    ) {
        self.add(name, help, MetricType::Counter, labels, Value::Count(value));
    }

    fn merge(&mut self, other: Samples) {
        for (name, family) in other.families {
            match self.families.get_mut(name) {
                Some(mine) => mine.samples.extend(family.samples),
                None => {
                    self.families.insert(name, family);
                }
            }
        }
    }
}

/// Encodes the last snapshot of the probes.
#[derive(Debug)]
struct SnapshotCollector(Arc<Mutex<Samples>>);

impl Collector for SnapshotCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let snapshot = lock(&self.0);
        for (name, family) in &snapshot.families {
            let mut metric = encoder.encode_descriptor(name, family.help, None, family.kind)?;
            for (labels, value) in &family.samples {
                let sample = metric.encode_family(labels)?;
                match *value {
                    Value::Int(v) => ConstGauge::new(v).encode(sample)?,
                    Value::Float(v) => ConstGauge::new(v).encode(sample)?,
                    Value::Count(v) => ConstCounter::new(v).encode(sample)?,
                }
            }
        }
        Ok(())
    }
}

/// The gRPC request metrics the server's per-RPC layer records.
#[derive(Clone, Debug)]
pub(crate) struct GrpcMetrics {
    requests: Family<Labels3, Counter>,
    durations: Family<Labels2, Histogram>,
    /// The paths of the methods the server serves: any other is counted
    /// as `unknown`, so that callers cannot make up label values.
    served: Arc<HashSet<String>>,
    /// The series of each method called, by path, so that a call finds
    /// them without making labels (five strings) and hashing them; at most
    /// one entry per served method, and one for the others.
    by_path: Arc<std::sync::RwLock<HashMap<String, Arc<MethodSeries>>>>,
}

/// The series of one method: its latencies, and its count by outcome.
#[derive(Debug)]
struct MethodSeries {
    service: String,
    method: String,
    duration: Histogram,
    requests: std::sync::RwLock<Vec<(&'static str, Counter)>>,
}

impl Default for GrpcMetrics {
    fn default() -> Self {
        GrpcMetrics {
            requests: Family::default(),
            durations: Family::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS)),
            served: Arc::default(),
            by_path: Arc::default(),
        }
    }
}

impl GrpcMetrics {
    /// These metrics, naming only the methods of `paths`
    /// (`/package.Service/Method`).
    pub(crate) fn serving(self, paths: HashSet<String>) -> GrpcMetrics {
        GrpcMetrics {
            served: Arc::new(paths),
            ..self
        }
    }

    /// Records one finished RPC of `path` (`/package.Service/Method`) with
    /// `outcome` (a gRPC code name, or how it ended without one).
    pub(crate) fn record(&self, path: &str, outcome: &'static str, seconds: f64) {
        // A method nobody serves is counted, but under one name only
        // (whatever the code: calls are authenticated before routing).
        // Served paths come from descriptors, so they are well formed.
        let key = if self.served.contains(path) {
            path
        } else {
            UNKNOWN_PATH
        };
        let series = self.series(key);
        series.duration.observe(seconds);
        let counted = series
            .requests
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|(o, _)| *o == outcome)
            .map(|(_, counter)| counter.inc())
            .is_some();
        if !counted {
            let counter = self
                .requests
                .get_or_create(&[
                    ("grpc_service", series.service.clone()),
                    ("grpc_method", series.method.clone()),
                    ("grpc_code", outcome.to_owned()),
                ])
                .clone();
            counter.inc();
            let mut requests = series
                .requests
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            if !requests.iter().any(|(o, _)| *o == outcome) {
                requests.push((outcome, counter));
            }
        }
    }

    /// The series of `key`, a served path or [`UNKNOWN_PATH`], made on its
    /// first call.
    fn series(&self, key: &str) -> Arc<MethodSeries> {
        let known = self
            .by_path
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned();
        if let Some(series) = known {
            return series;
        }
        let (service, method) = split_path(key).unwrap_or(("unknown", "unknown"));
        let duration = self
            .durations
            .get_or_create(&[
                ("grpc_service", service.to_owned()),
                ("grpc_method", method.to_owned()),
            ])
            .clone();
        let made = Arc::new(MethodSeries {
            service: service.to_owned(),
            method: method.to_owned(),
            duration,
            requests: std::sync::RwLock::default(),
        });
        self.by_path
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.to_owned())
            .or_insert(made)
            .clone()
    }
}

/// The key of the calls to methods nobody serves (not a valid path).
const UNKNOWN_PATH: &str = "unknown";

/// `("package.Service", "Method")` of a well-formed gRPC path.
fn split_path(path: &str) -> Option<(&str, &str)> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    let fine = |s: &str| {
        !s.is_empty()
            && s.len() <= 128
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
    };
    (fine(service) && fine(method)).then_some((service, method))
}

/// The canonical name of a gRPC status code, as the gRPC specification
/// writes it (`OK`, `NOT_FOUND`...).
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// A service's outbox: events committed and not yet published.
struct OutboxProbe {
    service: &'static str,
    db: Db,
}

#[async_trait::async_trait]
impl Probe for OutboxProbe {
    async fn sample(&self, out: &mut Samples) -> Result<(), String> {
        // The partial index of unpublished rows keeps this cheap.
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox \
             WHERE published_at IS NULL",
        )
        .fetch_one(self.db.pool())
        .await
        .map_err(|e| reemploi_store::StoreError::from(e).to_string())?;
        let pending: i64 = row.try_get("n").map_err(|e| e.to_string())?;
        let oldest: Option<i64> = row.try_get("oldest").map_err(|e| e.to_string())?;
        let age_ms = oldest.map_or(0, |at| now_millis().saturating_sub(at).max(0));
        let labels = [("service", self.service)];
        out.gauge(
            "reemploi_outbox_pending",
            "Events committed to a service's outbox and not yet published",
            &labels,
            pending,
        );
        out.gauge_f64(
            "reemploi_outbox_oldest_pending_age_seconds",
            "Age of the oldest event still waiting in a service's outbox (0 when none waits)",
            &labels,
            age_ms as f64 / 1000.0,
        );
        Ok(())
    }
}

/// A service's database connection pool.
struct PoolProbe {
    service: &'static str,
    db: Db,
}

#[async_trait::async_trait]
impl Probe for PoolProbe {
    async fn sample(&self, out: &mut Samples) -> Result<(), String> {
        let pool = self.db.pool();
        let open = i64::from(pool.size());
        let idle = i64::try_from(pool.num_idle()).unwrap_or(i64::MAX);
        const HELP: &str = "Open connections of a service's database pool, idle or in use";
        for (state, n) in [("idle", idle), ("in_use", (open - idle).max(0))] {
            out.gauge(
                "reemploi_db_pool_connections",
                HELP,
                &[("service", self.service), ("state", state)],
                n,
            );
        }
        out.gauge(
            "reemploi_db_pool_max_connections",
            "Most connections a service's database pool opens",
            &[("service", self.service)],
            i64::from(pool.options().get_max_connections()),
        );
        Ok(())
    }
}

/// The durable subscriptions of the process's bus.
struct BusProbe(Arc<dyn Bus>);

#[async_trait::async_trait]
impl Probe for BusProbe {
    async fn sample(&self, out: &mut Samples) -> Result<(), String> {
        for stats in self.0.consumer_stats().await {
            let labels = [("durable", stats.durable.as_str())];
            out.counter(
                "reemploi_consumer_deliveries",
                "Events handed to a durable consumer's handler, repeats included",
                &labels,
                stats.delivered,
            );
            out.counter(
                "reemploi_consumer_redeliveries",
                "Deliveries of an event a durable consumer had been given before",
                &labels,
                stats.redelivered,
            );
            out.counter(
                "reemploi_consumer_dead_letters",
                "Events a durable consumer gave up on, moved to the dead letters",
                &labels,
                stats.dead_lettered,
            );
            if let Some(lag) = stats.lag {
                out.gauge(
                    "reemploi_consumer_lag",
                    "Events in a durable consumer's stream it has not yet acknowledged",
                    &labels,
                    i64::try_from(lag).unwrap_or(i64::MAX),
                );
            }
        }
        Ok(())
    }
}

/// Binds the metrics endpoint's address (port 0 allowed).
pub async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    crate::server::bind(addr).await
}

/// Serves `GET /metrics` on `listener` until `stop`.
pub async fn serve(
    metrics: Metrics,
    listener: TcpListener,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let app = axum::Router::new()
        .route("/metrics", axum::routing::get(scrape))
        .with_state(metrics);
    axum::serve(listener, app)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
}

async fn scrape(
    axum::extract::State(metrics): axum::extract::State<Metrics>,
) -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, CONTENT_TYPE)],
        metrics.render().await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_paths_name_a_method() {
        assert_eq!(
            split_path("/reemploi.inventory.v1.InventoryService/GetLot"),
            Some(("reemploi.inventory.v1.InventoryService", "GetLot"))
        );
        for bad in ["", "/", "/a", "a/b", "/a/b c", "/a/", "/a/b/c"] {
            assert_eq!(split_path(bad), None, "{bad}");
        }
    }
}
