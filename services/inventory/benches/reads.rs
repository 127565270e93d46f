//! GetLot and ListLots over gRPC against a tonic echo of the same
//! messages, and what tracing and metrics cost them.
//!
//! What runs, in one run:
//!
//! * **inventory off**: the real `reemploi-inventory` binary (the one cargo
//!   builds for this bench, `CARGO_BIN_EXE_reemploi-inventory`) in a child
//!   process, on SQLite in a temporary directory, in-process bus, a static
//!   HS256 secret (`REEMPLOI_JWT_SECRET`), rate limits off, `RUST_LOG=off`
//!   (no span is even created) and no `--metrics-listen`.
//! * **inventory on**: the same binary on its own database, with
//!   `RUST_LOG=info` (JSON logs to a file; the per-call line is at debug),
//!   `--metrics-listen` and `--otlp-endpoint` pointing at an OTLP/gRPC trace
//!   collector this bench runs on its own thread, which counts the spans it
//!   receives. It reads an export only as far as its spans' boundaries,
//!   never their content: a collector would run on another machine, and
//!   this stand-in shares the cores being measured.
//! * **inventory off, no cache**: as "off", with `--lot-cache-size 0`:
//!   every ListLots page read whole from its rows, to show what the cache
//!   of lots by version gives.
//! * **echo**: a tonic service of this file in a child process (this same
//!   executable, started again with `READS_BENCH_ECHO=1`), which decodes
//!   the real request and answers with the bytes of a real reply, a lot
//!   and a page of lots as the "off" inventory encoded them. Its callers
//!   are the inventory's: the same requests, the same header, the same
//!   decoding of the reply into `Lot` and `ListLotsResponse`, the same
//!   checks. It is the floor of a tonic unary call of those messages.
//!
//! Each inventory is seeded through its gRPC API with one site and 300
//! published lots (6 pages of 50). The load generator is ours: 16 callers
//! over 4 HTTP/2 connections per target, on the bench's own runtime, each
//! calling in a loop for a fixed time after a warm-up, every latency
//! recorded. GetLot cycles over the 300 lots and ListLots over the 6 pages
//! (page tokens from a first walk), as an integrator reading the catalogue.
//!
//! Rounds alternate the four targets (their order rotating each round,
//! "off" and "on" always one right after the other, each first in turn);
//! for each case the median throughput, p50 and p99 over the rounds are
//! printed, with the server's CPU time per call (from `/proc`: what the
//! server itself spends, whereas throughput also depends on the load
//! generator sharing the cores), then the median of the per-round ratios
//! inventory/echo (goal: at least 0.3) and on/off (goal: at least 0.9),
//! with the spans the collector
//! received and the calls the metrics endpoint counted, to show that "on"
//! really records and exports.
//!
//! ```text
//! cargo bench -p reemploi-inventory --bench reads
//! ```
//!
//! `READS_BENCH_SECS` sets the measured time of one case (default 2 s),
//! `READS_BENCH_ROUNDS` the number of rounds (default 9). Both servers and
//! the load generator share the machine's cores, as they would any host.

use std::convert::Infallible;
use std::io::{BufRead as _, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use prost::Message as _;
use reemploi_proto::inventory as pb;
use reemploi_proto::inventory::inventory_service_client::InventoryServiceClient;
use reemploi_proto::types as tpb;
use reemploi_runtime::auth::{Role, claims_for, issue_hs256};
// A reply already encoded, written as it is: the echo pays no encoding,
// which the inventory does (a floor below any real server).
use reemploi_runtime::wire::Encoded;
use tokio::task::JoinSet;
use tonic::codegen::{BoxFuture, Service, http};
use tonic::metadata::AsciiMetadataValue;
use tonic::server::NamedService;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::transport::server::TcpIncoming;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Res<T> = Result<T, BoxError>;

const SECRET: &str = "bench-secret-of-at-least-32-bytes!!";
const ORG: &str = "org-m2a-habitat";
/// Published lots of the site, and the page size of ListLots.
const LOTS: usize = 300;
const PAGE: usize = 50;
/// HTTP/2 connections per target, and concurrent callers over them.
const CONNECTIONS: usize = 4;
const CALLERS: usize = 16;
const WARM_UP: Duration = Duration::from_millis(500);
const ECHO_GOAL: f64 = 0.3;
const TELEMETRY_GOAL: f64 = 0.9;
/// Set in the environment of the echo child process.
const ECHO_ENV: &str = "READS_BENCH_ECHO";
const ECHO_SERVICE: &str = "reemploi.bench.v1.Echo";
const ECHO_GET: &str = "/reemploi.bench.v1.Echo/GetLot";
const ECHO_LIST: &str = "/reemploi.bench.v1.Echo/ListLots";
/// Set in the echo's environment: the files holding its two replies.
const ECHO_LOT_FILE: &str = "READS_BENCH_ECHO_LOT";
const ECHO_PAGE_FILE: &str = "READS_BENCH_ECHO_PAGE";

fn main() -> Res<()> {
    if std::env::var_os(ECHO_ENV).is_some() {
        return echo_child();
    }
    let secs = match std::env::var("READS_BENCH_SECS") {
        Ok(s) => s.parse::<f64>()?,
        Err(_) => 2.0,
    };
    let rounds = match std::env::var("READS_BENCH_ROUNDS") {
        Ok(s) => s.parse::<usize>()?.max(1),
        // On a shared machine one round may differ from the next by a
        // fifth: nine give a median that moves less from run to run.
        Err(_) => 9,
    };
    let collector = Collector::start()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(&collector, Duration::from_secs_f64(secs), rounds))
}

// ---------------------------------------------------------------- echo

/// The echo service, routed by tonic as a generated server would be: it
/// decodes the real request and answers with the bytes of a real reply.
#[derive(Clone)]
struct EchoServer {
    replies: Arc<Replies>,
}

/// What the echo answers: a lot and a page of lots as the inventory
/// encoded them.
struct Replies {
    lot: Bytes,
    page: Bytes,
}

impl NamedService for EchoServer {
    const NAME: &'static str = ECHO_SERVICE;
}

impl Service<http::Request<tonic::body::Body>> for EchoServer {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let replies = self.replies.clone();
        Box::pin(async move {
            Ok(match req.uri().path() {
                ECHO_GET => {
                    let echo = Echo::<pb::GetLotRequest>::new(replies.lot.clone());
                    grpc().unary(echo, req).await
                }
                ECHO_LIST => {
                    let echo = Echo::<pb::ListLotsRequest>::new(replies.page.clone());
                    grpc().unary(echo, req).await
                }
                other => tonic::Status::unimplemented(other.to_owned()).into_http(),
            })
        })
    }
}

/// A server of one method, decoding `Req` and encoding what it answers.
fn grpc<Req: prost::Message + Default + Send + 'static>()
-> tonic::server::Grpc<tonic_prost::ProstCodec<Encoded, Req>> {
    tonic::server::Grpc::new(tonic_prost::ProstCodec::default())
}

/// Answers any `Req` with the same encoded reply.
struct Echo<Req>(Bytes, std::marker::PhantomData<Req>);

impl<Req> Echo<Req> {
    fn new(reply: Bytes) -> Echo<Req> {
        Echo(reply, std::marker::PhantomData)
    }
}

impl<Req: Send + 'static> tonic::server::UnaryService<Req> for Echo<Req> {
    type Response = Encoded;
    type Future = std::future::Ready<Result<tonic::Response<Encoded>, tonic::Status>>;

    fn call(&mut self, _: tonic::Request<Req>) -> Self::Future {
        std::future::ready(Ok(tonic::Response::new(Encoded(self.0.clone()))))
    }
}

/// The echo child process: reads the replies from the files its parent
/// named, serves on 127.0.0.1:0, prints where on stdout, and stops when its
/// stdin closes (its parent gone, however it ended).
fn echo_child() -> Res<()> {
    let file = |var: &str| -> Res<Bytes> {
        let path = std::env::var_os(var).ok_or_else(|| format!("{var} is not set"))?;
        Ok(Bytes::from(std::fs::read(path)?))
    };
    let replies = Arc::new(Replies {
        lot: file(ECHO_LOT_FILE)?,
        page: file(ECHO_PAGE_FILE)?,
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let incoming =
            TcpIncoming::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?.with_nodelay(Some(true));
        let addr = incoming.local_addr()?;
        let mut out = std::io::stdout();
        writeln!(out, "listening {addr}")?;
        out.flush()?;
        let stdin_closed = async {
            let _ = tokio::task::spawn_blocking(|| {
                std::io::copy(&mut std::io::stdin(), &mut std::io::sink())
            })
            .await;
        };
        tonic::transport::Server::builder()
            .add_service(EchoServer { replies })
            .serve_with_incoming_shutdown(incoming, stdin_closed)
            .await?;
        Ok(())
    })
}

/// A client of the echo, sending the same requests and authorization
/// header as the inventory's clients and decoding the same replies.
#[derive(Clone)]
struct EchoClient {
    grpc: tonic::client::Grpc<Channel>,
    bearer: AsciiMetadataValue,
}

impl EchoClient {
    async fn unary<Req, Reply>(&mut self, req: Req, path: &'static str) -> Res<Reply>
    where
        Req: prost::Message + Send + Sync + 'static,
        Reply: prost::Message + Default + Send + Sync + 'static,
    {
        self.grpc.ready().await?;
        let mut request = tonic::Request::new(req);
        request
            .metadata_mut()
            .insert("authorization", self.bearer.clone());
        let path = http::uri::PathAndQuery::from_static(path);
        let reply = self
            .grpc
            .unary(request, path, tonic_prost::ProstCodec::default())
            .await?;
        Ok(reply.into_inner())
    }
}

/// The two reads, from the inventory or from the echo.
trait Reader: Send + 'static {
    fn get_lot(&mut self, req: pb::GetLotRequest) -> impl Future<Output = Res<pb::Lot>> + Send;
    fn list_lots(
        &mut self,
        req: pb::ListLotsRequest,
    ) -> impl Future<Output = Res<pb::ListLotsResponse>> + Send;
}

impl Reader for Client {
    async fn get_lot(&mut self, req: pb::GetLotRequest) -> Res<pb::Lot> {
        Ok(InventoryServiceClient::get_lot(self, req)
            .await?
            .into_inner())
    }

    async fn list_lots(&mut self, req: pb::ListLotsRequest) -> Res<pb::ListLotsResponse> {
        Ok(InventoryServiceClient::list_lots(self, req)
            .await?
            .into_inner())
    }
}

impl Reader for EchoClient {
    async fn get_lot(&mut self, req: pb::GetLotRequest) -> Res<pb::Lot> {
        self.unary(req, ECHO_GET).await
    }

    async fn list_lots(&mut self, req: pb::ListLotsRequest) -> Res<pb::ListLotsResponse> {
        self.unary(req, ECHO_LIST).await
    }
}

// ---------------------------------------------------------------- collector

/// An OTLP/gRPC trace collector that only counts what it is sent.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<AtomicU64>,
    addr: Option<SocketAddr>,
}

/// The path of the one method of an OTLP/gRPC trace collector.
const OTLP_EXPORT: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// An OTLP `ExportTraceServiceRequest` read as far as its spans: its
/// `resource_spans` (1), their `scope_spans` (2), their `spans` (2) kept
/// as the bytes they are; every other field skipped.
#[derive(Clone, PartialEq, prost::Message)]
struct ExportSpans {
    #[prost(message, repeated, tag = "1")]
    resource_spans: Vec<ResourceSpans>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ResourceSpans {
    #[prost(message, repeated, tag = "2")]
    scope_spans: Vec<ScopeSpans>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ScopeSpans {
    #[prost(bytes = "bytes", repeated, tag = "2")]
    spans: Vec<Bytes>,
}

impl NamedService for Collector {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}

impl Service<http::Request<tonic::body::Body>> for Collector {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let collector = self.clone();
        Box::pin(async move {
            Ok(if req.uri().path() == OTLP_EXPORT {
                grpc::<ExportSpans>().unary(collector, req).await
            } else {
                tonic::Status::unimplemented(req.uri().path().to_owned()).into_http()
            })
        })
    }
}

impl tonic::server::UnaryService<ExportSpans> for Collector {
    type Response = Encoded;
    type Future = std::future::Ready<Result<tonic::Response<Encoded>, tonic::Status>>;

    /// Counts the spans, and answers with an empty (full) success.
    fn call(&mut self, request: tonic::Request<ExportSpans>) -> Self::Future {
        let spans: usize = request
            .get_ref()
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        self.spans.fetch_add(spans as u64, Ordering::Relaxed);
        std::future::ready(Ok(tonic::Response::new(Encoded::default())))
    }
}

impl Collector {
    /// Serves on 127.0.0.1:0 from a thread and runtime of its own, so that
    /// it takes no turn on the load generator's runtime.
    fn start() -> Res<Collector> {
        let incoming = StdListener::bind("127.0.0.1:0")?;
        // Required of a listener handed to tokio.
        incoming.set_nonblocking(true)?;
        let collector = Collector {
            addr: Some(incoming.local_addr()?),
            ..Collector::default()
        };
        let served = collector.clone();
        std::thread::Builder::new()
            .name("otlp-collector".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("collector runtime");
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(incoming)
                        .expect("collector listener on the runtime");
                    let result = tonic::transport::Server::builder()
                        .add_service(served)
                        .serve_with_incoming(TcpIncoming::from(listener))
                        .await;
                    if let Err(e) = result {
                        eprintln!("reads bench: the OTLP collector stopped: {e}");
                    }
                });
            })?;
        Ok(collector)
    }

    fn spans(&self) -> u64 {
        self.spans.load(Ordering::Relaxed)
    }
}

// ---------------------------------------------------------------- processes

/// A child process, killed when dropped if it is still running.
struct Proc {
    child: Child,
    name: &'static str,
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Proc {
    /// Asks it to stop (SIGTERM, as a service manager would) and waits up
    /// to `grace` for it to exit: the inventory then flushes its last spans.
    fn terminate(&mut self, grace: Duration) -> Res<()> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("{} did not stop within {grace:?}", self.name).into())
    }
}

/// The CPU time process `pid` has used so far, user and system, from
/// `/proc/<pid>/stat` (in ticks of 1/100 s, the kernel's fixed USER_HZ).
fn cpu_time(pid: u32) -> Res<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold
    // spaces: state is the first, utime the 12th and stime the 13th.
    let after = stat.rsplit_once(')').ok_or("unreadable /proc stat")?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks =
        |i: usize| -> Res<u64> { Ok(fields.get(i).ok_or("short /proc stat")?.parse::<u64>()?) };
    Ok(Duration::from_millis((ticks(11)? + ticks(12)?) * 10))
}

/// A port free on loopback now, for a child that cannot say which port 0
/// gave it (with `RUST_LOG=off` it logs nothing). Another process could take
/// it in between; then the child fails to bind and the bench says so.
fn free_port() -> Res<SocketAddr> {
    Ok(StdListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// Starts the echo child, answering with the lot and page `seeded` holds
/// (written to files in `dir`), and reads the address it serves on.
fn start_echo(dir: &std::path::Path, seeded: &Seeded) -> Res<(Proc, SocketAddr)> {
    let (lot, page) = (dir.join("echo-lot.bin"), dir.join("echo-page.bin"));
    std::fs::write(&lot, &seeded.a_lot)?;
    std::fs::write(&page, &seeded.a_page)?;
    let mut child = Command::new(std::env::current_exe()?)
        .env(ECHO_ENV, "1")
        .env(ECHO_LOT_FILE, &lot)
        .env(ECHO_PAGE_FILE, &page)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("echo: no stdout")?;
    let proc = Proc {
        child,
        name: "the echo server",
    };
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line)?;
    let addr = line
        .trim()
        .strip_prefix("listening ")
        .ok_or_else(|| format!("echo: unexpected first line {line:?}"))?
        .parse()?;
    Ok((proc, addr))
}

/// A running `reemploi-inventory` and where it listens.
struct Inventory {
    proc: Proc,
    addr: SocketAddr,
    metrics: Option<SocketAddr>,
    dir: tempfile::TempDir,
}

/// Starts the inventory binary on a fresh SQLite database; with a
/// collector, with logs at info, metrics served and traces exported to it.
fn start_inventory(collector: Option<&Collector>, lot_cache: bool) -> Res<Inventory> {
    let dir = tempfile::tempdir()?;
    let addr = free_port()?;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_reemploi-inventory"));
    // Only what is set here: no database, bus, identity or telemetry
    // settings of the caller's shell.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("REEMPLOI_") || key.starts_with("OTEL_") || key.ends_with("_URL") {
            cmd.env_remove(key);
        }
    }
    cmd.arg("--listen")
        .arg(addr.to_string())
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--log-format", "json", "--drain-delay-ms", "0"])
        // Rate limits off: the bench is one principal calling flat out.
        .args(["--rate-limit-per-principal", "0"])
        .args(["--lot-cache-size", if lot_cache { "20000" } else { "0" }])
        .env("REEMPLOI_JWT_SECRET", SECRET)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("stderr.log"))?);
    let metrics = match collector.and_then(|c| c.addr) {
        None => {
            cmd.env("RUST_LOG", "off");
            None
        }
        Some(otlp) => {
            let metrics = free_port()?;
            cmd.env("RUST_LOG", "info")
                .arg("--metrics-listen")
                .arg(metrics.to_string())
                .arg("--otlp-endpoint")
                .arg(format!("http://{otlp}"));
            Some(metrics)
        }
    };
    let proc = Proc {
        child: cmd.spawn()?,
        name: "reemploi-inventory",
    };
    Ok(Inventory {
        proc,
        addr,
        metrics,
        dir,
    })
}

impl Inventory {
    /// Waits until it accepts connections (its migrations done), or fails
    /// with its log if it exits first.
    async fn ready(&mut self) -> Res<()> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(status) = self.proc.child.try_wait()? {
                let log = std::fs::read_to_string(self.dir.path().join("stderr.log"))?;
                return Err(format!("reemploi-inventory exited ({status}):\n{log}").into());
            }
            if tokio::net::TcpStream::connect(self.addr).await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err("reemploi-inventory did not listen within 120 s".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Lines written to its log.
    fn log_lines(&self) -> Res<usize> {
        let log = std::fs::read(self.dir.path().join("stderr.log"))?;
        Ok(log.iter().filter(|b| **b == b'\n').count())
    }
}

/// The calls of `method` the metrics endpoint at `addr` has counted, all
/// codes together.
fn counted_calls(addr: SocketAddr, method: &str) -> Res<f64> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut body = String::new();
    stream.read_to_string(&mut body)?;
    let wanted = format!("grpc_method=\"{method}\"");
    let mut total = 0.0;
    for line in body.lines() {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        // Counters only (`..._total{...}`), not the latency histogram.
        if series.contains("_total{") && series.contains(&wanted) {
            total += value.parse::<f64>().unwrap_or(0.0);
        }
    }
    Ok(total)
}

// ---------------------------------------------------------------- clients

/// Sends a token minted by the bench, parsed into a header value once.
#[derive(Clone)]
struct Bearer(AsciiMetadataValue);

impl Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        req.metadata_mut().insert("authorization", self.0.clone());
        Ok(req)
    }
}

type Client = InventoryServiceClient<InterceptedService<Channel, Bearer>>;

fn bearer(role: Role, org: Option<&str>) -> Res<AsciiMetadataValue> {
    let claims = claims_for(
        role,
        org.map(str::to_string),
        None,
        Duration::from_secs(3600),
    );
    let token = issue_hs256(SECRET.as_bytes(), &claims)?;
    Ok(format!("Bearer {token}").parse()?)
}

/// `CONNECTIONS` channels to `addr`, each its own HTTP/2 connection.
async fn connections(addr: SocketAddr) -> Res<Vec<Channel>> {
    let mut channels = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        channels.push(
            Channel::from_shared(format!("http://{addr}"))?
                .connect()
                .await?,
        );
    }
    Ok(channels)
}

fn client(channel: Channel, bearer: &AsciiMetadataValue) -> Client {
    InventoryServiceClient::with_interceptor(channel, Bearer(bearer.clone()))
}

// ---------------------------------------------------------------- data

fn quantity(whole: i64) -> Option<tpb::Quantity> {
    Some(tpb::Quantity {
        unit: tpb::Unit::Piece as i32,
        milli: whole * 1000,
    })
}

/// A lot as a diagnostic describes one: every field a reader sees filled.
fn lot_msg(i: usize) -> pb::Lot {
    pb::Lot {
        designation: format!("Portes intérieures bois 83x204, palette {i}"),
        description: "Portes isoplanes à âme alvéolaire, huisseries bois, quincaillerie \
                      d'origine (paumelles, béquilles laiton). Déposées avec soin, stockées \
                      à plat sur palette, à l'abri. Quelques traces d'usage sur les chants."
            .into(),
        category: "porte-interieure".into(),
        quantity: quantity(24),
        estimated_mass_g: 600_000,
        dimensions: Some(tpb::Dimensions {
            length_mm: 830,
            width_mm: 40,
            height_mm: 2040,
        }),
        condition: "bon".into(),
        building_location: "Tour A, étages 1-15".into(),
        photo_uris: vec![
            format!("https://photos.example.org/coteaux/tour-a/portes-{i}-1.jpg"),
            format!("https://photos.example.org/coteaux/tour-a/portes-{i}-2.jpg"),
        ],
        waste_code: "17 02 01".into(),
        reuse_potential: pb::ReusePotential::Direct as i32,
        reference: format!("P{i}"),
        ..Default::default()
    }
}

/// What both inventories hold and what the callers ask for.
struct Seeded {
    site: String,
    lots: Arc<Vec<String>>,
    /// Page tokens of the full pages of ListLots ("" for the first).
    pages: Arc<Vec<String>>,
    /// Mean encoded sizes, in bytes.
    lot_bytes: usize,
    page_bytes: usize,
    get_request_bytes: usize,
    list_request_bytes: usize,
    /// A lot and a full page as the inventory encoded them.
    a_lot: Bytes,
    a_page: Bytes,
}

fn list_request(parent: &str, page_token: &str) -> pb::ListLotsRequest {
    pb::ListLotsRequest {
        parent: parent.to_owned(),
        page_size: PAGE as i32,
        page_token: page_token.to_owned(),
        ..Default::default()
    }
}

/// Creates a site and `LOTS` published lots through the API of `addr`,
/// then walks ListLots as the reader to collect its page tokens and sizes.
async fn seed(addr: SocketAddr, reader: &AsciiMetadataValue) -> Res<Seeded> {
    let channel = Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let mut manager = client(channel.clone(), &bearer(Role::SiteManager, Some(ORG))?);
    let site = manager
        .create_site(pb::CreateSiteRequest {
            site: Some(pb::Site {
                display_name: "Coteaux – tour A".into(),
                operation: Some(pb::Operation {
                    programme: "NPNRU".into(),
                    quartier: "Coteaux".into(),
                    commune: "Mulhouse".into(),
                    insee_code: "68224".into(),
                }),
                location: Some(tpb::GeoPoint {
                    latitude: 47.7460,
                    longitude: 7.3010,
                }),
                address: "rue de Provence, Mulhouse".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await?
        .into_inner()
        .name;
    manager
        .batch_create_lots(pb::BatchCreateLotsRequest {
            parent: site.clone(),
            requests: (0..LOTS)
                .map(|i| pb::CreateLotRequest {
                    lot: Some(lot_msg(i)),
                    ..Default::default()
                })
                .collect(),
            request_id: String::new(),
        })
        .await?;
    let published = manager
        .batch_publish_lots(pb::BatchPublishLotsRequest {
            parent: site.clone(),
            all_drafts: true,
            ..Default::default()
        })
        .await?
        .into_inner();
    if published.lots.len() != LOTS {
        return Err(format!("{} of {LOTS} lots published", published.lots.len()).into());
    }
    walk_pages(client(channel, reader), site).await
}

async fn walk_pages(mut reader: Client, site: String) -> Res<Seeded> {
    let (mut lots, mut pages, mut page_sizes, mut lot_sizes) = (vec![], vec![], vec![], vec![]);
    let (mut a_lot, mut a_page) = (Bytes::new(), Bytes::new());
    let mut token = String::new();
    loop {
        let page = reader
            .list_lots(list_request(&site, &token))
            .await?
            .into_inner();
        if page.lots.len() == PAGE {
            pages.push(token.clone());
            page_sizes.push(page.encoded_len());
            if a_page.is_empty() {
                a_page = page.encode_to_vec().into();
                a_lot = page.lots[0].encode_to_vec().into();
            }
        }
        for lot in &page.lots {
            lot_sizes.push(lot.encoded_len());
            lots.push(lot.name.clone());
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    if lots.len() != LOTS || pages.is_empty() {
        return Err(format!(
            "the reader sees {} lots in {} full pages",
            lots.len(),
            pages.len()
        )
        .into());
    }
    let mean = |v: &[usize]| v.iter().sum::<usize>() / v.len();
    let get_request_bytes = mean(
        &lots
            .iter()
            .map(|name| pb::GetLotRequest { name: name.clone() }.encoded_len())
            .collect::<Vec<_>>(),
    );
    let list_request_bytes = mean(
        &pages
            .iter()
            .map(|t| list_request(&site, t).encoded_len())
            .collect::<Vec<_>>(),
    );
    Ok(Seeded {
        lot_bytes: mean(&lot_sizes),
        page_bytes: mean(&page_sizes),
        get_request_bytes,
        list_request_bytes,
        site,
        a_lot,
        a_page,
        lots: Arc::new(lots),
        pages: Arc::new(pages),
    })
}

// ---------------------------------------------------------------- load

/// Every call's latency in the measured window, and all calls made.
struct Sample {
    latencies: Vec<Duration>,
    window: Duration,
    calls: usize,
}

impl Sample {
    fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.window.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[i.min(self.latencies.len() - 1)]
    }
}

/// One caller's way of making its i-th call.
trait Caller: Send + 'static {
    fn call(&mut self, i: usize) -> impl Future<Output = Res<()>> + Send;
}

struct GetLot<R> {
    reader: R,
    names: Arc<Vec<String>>,
}

impl<R: Reader> Caller for GetLot<R> {
    async fn call(&mut self, i: usize) -> Res<()> {
        let name = self.names[i % self.names.len()].clone();
        let lot = self.reader.get_lot(pb::GetLotRequest { name }).await?;
        if lot.name.is_empty() {
            return Err("GetLot returned a lot without a name".into());
        }
        Ok(())
    }
}

struct ListLots<R> {
    reader: R,
    site: String,
    pages: Arc<Vec<String>>,
}

impl<R: Reader> Caller for ListLots<R> {
    async fn call(&mut self, i: usize) -> Res<()> {
        let token = &self.pages[i % self.pages.len()];
        let page = self
            .reader
            .list_lots(list_request(&self.site, token))
            .await?;
        if page.lots.len() != PAGE {
            return Err("ListLots returned a short page".into());
        }
        Ok(())
    }
}

/// Runs the callers concurrently for `WARM_UP` then `run`, recording the
/// latency of every call that starts after the warm-up and ends in time.
async fn drive<C: Caller>(callers: Vec<C>, run: Duration) -> Res<Sample> {
    let measure = Instant::now() + WARM_UP;
    let end = measure + run;
    let mut set = JoinSet::new();
    let n = callers.len();
    for (k, mut caller) in callers.into_iter().enumerate() {
        set.spawn(async move {
            let mut latencies = Vec::with_capacity(4096);
            let mut calls = 0;
            // Callers start at different lots or pages, and stay apart.
            let mut i = k;
            loop {
                let start = Instant::now();
                if start >= end {
                    return Ok::<_, BoxError>((latencies, calls));
                }
                caller.call(i).await?;
                let done = Instant::now();
                calls += 1;
                if start >= measure && done <= end {
                    latencies.push(done - start);
                }
                i += n;
            }
        });
    }
    let mut sample = Sample {
        latencies: Vec::new(),
        window: run,
        calls: 0,
    };
    while let Some(joined) = set.join_next().await {
        let (latencies, calls) = joined??;
        sample.latencies.extend(latencies);
        sample.calls += calls;
    }
    sample.latencies.sort_unstable();
    Ok(sample)
}

#[derive(Clone, Copy)]
enum Read {
    Get,
    List,
}

#[derive(Clone, Copy)]
enum Target {
    Echo,
    Off,
    On,
    /// As "off", without ListLots' cache of lots: every page read whole.
    Uncached,
}

/// The order of the targets in round `round`. It turns each round: none
/// always goes first, on a machine that cools or heats up under it. "Off"
/// and "on" are always measured one right after the other, first one then
/// the other: their ratio compares two cases a few seconds apart, not
/// across other cases while the load of the machine's other work drifts.
fn order(round: usize) -> [Target; 4] {
    let (first, second) = if round.is_multiple_of(2) {
        (Target::Off, Target::On)
    } else {
        (Target::On, Target::Off)
    };
    match round % 3 {
        0 => [Target::Echo, first, second, Target::Uncached],
        1 => [first, second, Target::Uncached, Target::Echo],
        _ => [Target::Uncached, Target::Echo, first, second],
    }
}

/// The four targets, connected, and what their callers send.
struct Targets {
    reader: AsciiMetadataValue,
    echo: Vec<Channel>,
    off: (Vec<Channel>, Seeded),
    on: (Vec<Channel>, Seeded),
    uncached: (Vec<Channel>, Seeded),
}

/// One measured case: `CALLERS` callers spread over the target's connections.
async fn case(t: &Targets, read: Read, target: Target, run: Duration) -> Res<Sample> {
    let (channels, seeded) = match target {
        // The echo is asked what "off" is asked: it answers all alike.
        Target::Echo => {
            let echo = |k: usize| EchoClient {
                grpc: tonic::client::Grpc::new(t.echo[k % CONNECTIONS].clone()),
                bearer: t.reader.clone(),
            };
            return read_with(read, &t.off.1, echo, run).await;
        }
        Target::Off => (&t.off.0, &t.off.1),
        Target::On => (&t.on.0, &t.on.1),
        Target::Uncached => (&t.uncached.0, &t.uncached.1),
    };
    let inventory = |k: usize| client(channels[k % CONNECTIONS].clone(), &t.reader);
    read_with(read, seeded, inventory, run).await
}

/// `CALLERS` callers of `read`, the k-th reading through `reader(k)`.
async fn read_with<R: Reader>(
    read: Read,
    seeded: &Seeded,
    reader: impl Fn(usize) -> R,
    run: Duration,
) -> Res<Sample> {
    match read {
        Read::Get => {
            let callers = (0..CALLERS)
                .map(|k| GetLot {
                    reader: reader(k),
                    names: seeded.lots.clone(),
                })
                .collect();
            drive(callers, run).await
        }
        Read::List => {
            let callers = (0..CALLERS)
                .map(|k| ListLots {
                    reader: reader(k),
                    site: seeded.site.clone(),
                    pages: seeded.pages.clone(),
                })
                .collect();
            drive(callers, run).await
        }
    }
}

// ---------------------------------------------------------------- run

/// The figures of one case in one round.
#[derive(Clone, Copy)]
struct Figures {
    throughput: f64,
    p50: Duration,
    p99: Duration,
    /// The server's CPU time (user and system) per call, in microseconds:
    /// less sensitive than throughput to what else the machine runs.
    cpu_us: f64,
}

/// Per read (GetLot, ListLots), per target (echo, off, on, uncached), one
/// per round.
type Table = [[Vec<Figures>; 4]; 2];

async fn run(collector: &Collector, secs: Duration, rounds: usize) -> Res<()> {
    println!(
        "reads bench: {CALLERS} callers over {CONNECTIONS} HTTP/2 connections per target, \
         {:.1} s measured per case after {:.1} s of warm-up, {rounds} rounds",
        secs.as_secs_f64(),
        WARM_UP.as_secs_f64()
    );
    let mut off = start_inventory(None, true)?;
    let mut on = start_inventory(Some(collector), true)?;
    let mut uncached = start_inventory(None, false)?;
    off.ready().await?;
    on.ready().await?;
    uncached.ready().await?;
    let reader = bearer(Role::Integrator, None)?;
    let t = Instant::now();
    let off_seed = seed(off.addr, &reader).await?;
    let on_seed = seed(on.addr, &reader).await?;
    let uncached_seed = seed(uncached.addr, &reader).await?;
    println!(
        "seeded 1 site and {LOTS} published lots in each inventory in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let (echo_proc, echo_addr) = start_echo(off.dir.path(), &off_seed)?;
    print_sizes(&off_seed);
    let targets = Targets {
        echo: connections(echo_addr).await?,
        off: (connections(off.addr).await?, off_seed),
        on: (connections(on.addr).await?, on_seed),
        uncached: (connections(uncached.addr).await?, uncached_seed),
        reader,
    };

    let pids = [
        echo_proc.child.id(),
        off.proc.child.id(),
        on.proc.child.id(),
        uncached.proc.child.id(),
    ];
    let mut table: Table = Default::default();
    let mut on_calls = 0;
    for round in 0..rounds {
        let t = Instant::now();
        for read in [Read::Get, Read::List] {
            for target in order(round) {
                let pid = pids[target as usize];
                let cpu = cpu_time(pid)?;
                let sample = case(&targets, read, target, secs).await?;
                let cpu = cpu_time(pid)?.saturating_sub(cpu);
                if matches!(target, Target::On) {
                    on_calls += sample.calls;
                }
                table[read as usize][target as usize].push(Figures {
                    throughput: sample.throughput(),
                    p50: sample.percentile(0.50),
                    p99: sample.percentile(0.99),
                    cpu_us: cpu.as_secs_f64() * 1e6 / sample.calls.max(1) as f64,
                });
            }
        }
        println!(
            "round {}/{rounds} done in {:.1} s",
            round + 1,
            t.elapsed().as_secs_f64()
        );
    }
    let metrics = on.metrics.ok_or("the \"on\" inventory serves no metrics")?;
    let counted = (
        counted_calls(metrics, "GetLot")?,
        counted_calls(metrics, "ListLots")?,
    );
    let log_lines = on.log_lines()?;
    drop(targets);
    // Stopping it flushes the spans still in its batch.
    on.proc.terminate(Duration::from_secs(30))?;
    report(&table);
    println!(
        "\n\"on\": the collector received {} spans for {on_calls} read calls ({:.2} a call); \
         the metrics endpoint counted {:.0} GetLot and {:.0} ListLots calls; \
         {log_lines} log lines. \"off\": {} log lines.",
        collector.spans(),
        collector.spans() as f64 / on_calls.max(1) as f64,
        counted.0,
        counted.1,
        off.log_lines()?,
    );
    // Ratios of an "on" that exported nothing would measure nothing.
    if collector.spans() < on_calls as u64 {
        let log = std::fs::read_to_string(on.dir.path().join("stderr.log"))?;
        let last: Vec<&str> = log.lines().rev().take(5).collect();
        return Err(format!(
            "the \"on\" inventory exported fewer spans than it answered calls (the \
             SDK drops spans, without a word, when its queue of 2,048 is full: an \
             exporter that cannot keep up); the last lines of its log, newest first: \
             {last:#?}"
        )
        .into());
    }
    Ok(())
}

fn print_sizes(s: &Seeded) {
    println!(
        "encoded sizes: GetLot request {} B, reply (Lot) {} B; ListLots request {} B, \
         reply (page of {PAGE}) {} B (means over the lots and pages); the echo answers \
         with one of them, {} B and {} B",
        s.get_request_bytes,
        s.lot_bytes,
        s.list_request_bytes,
        s.page_bytes,
        s.a_lot.len(),
        s.a_page.len(),
    );
}

// ---------------------------------------------------------------- report

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn report(table: &Table) {
    println!();
    println!(
        "{:<34} {:>10} {:>9} {:>9} {:>12}",
        "case (median of rounds)", "calls/s", "p50 ms", "p99 ms", "CPU us/call"
    );
    println!("{}", "-".repeat(78));
    for (read, read_name) in [(Read::Get, "GetLot"), (Read::List, "ListLots")] {
        for (target, target_name) in [
            (Target::Echo, "echo"),
            (Target::Off, "inventory off"),
            (Target::On, "inventory on"),
            (Target::Uncached, "inventory off, no cache"),
        ] {
            let rounds = &table[read as usize][target as usize];
            println!(
                "{:<34} {:>10.0} {:>9.2} {:>9.2} {:>12.1}",
                format!("{read_name}, {target_name}"),
                median(rounds.iter().map(|f| f.throughput).collect()),
                median(rounds.iter().map(|f| ms(f.p50)).collect()),
                median(rounds.iter().map(|f| ms(f.p99)).collect()),
                median(rounds.iter().map(|f| f.cpu_us).collect()),
            );
        }
    }
    println!();
    println!("throughput ratios, median of the per-round ratios [each round's]:");
    for (read, read_name) in [(Read::Get, "GetLot"), (Read::List, "ListLots")] {
        let row = &table[read as usize];
        for (num, den, what, goal) in [
            (Target::Off, Target::Echo, "inventory off / echo", ECHO_GOAL),
            (Target::On, Target::Echo, "inventory on / echo", ECHO_GOAL),
            (Target::On, Target::Off, "on / off", TELEMETRY_GOAL),
            (Target::Off, Target::Uncached, "off / no cache", 0.0),
        ] {
            let ratios: Vec<f64> = row[num as usize]
                .iter()
                .zip(&row[den as usize])
                .map(|(n, d)| n.throughput / d.throughput)
                .collect();
            let each: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
            let ratio = median(ratios);
            let verdict = if goal == 0.0 {
                "(no goal)       ".to_owned()
            } else if ratio >= goal {
                format!("goal >= {goal}: met     ")
            } else {
                format!("goal >= {goal}: NOT met ")
            };
            println!(
                "  {:<32} {ratio:>5.2}  {verdict} [{}]",
                format!("{read_name} {what}"),
                each.join(" ")
            );
        }
    }
}
