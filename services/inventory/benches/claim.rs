//! ClaimLot throughput and latency on PostgreSQL, against the bare SQL floor.
//!
//! What is measured, in one run:
//!
//! * **gRPC**: a real inventory server (the same wiring as `tests/support`:
//!   `reemploi_inventory::start`, in-process bus, HS256 tokens) on
//!   `127.0.0.1:0`, called by 16 concurrent clients, each on its own tonic
//!   channel and with its own verified partner. Every call claims 1 piece with
//!   a distinct `request_id`.
//! * **baseline**: the same write transaction issued directly through sqlx,
//!   on an `AnyPool` of the same kind and size as the service's
//!   ([`reemploi_store::Db::connect`]), by 16 concurrent tasks, on a separate
//!   fresh database migrated with [`reemploi_inventory::migrations`] and holding
//!   a copy of the same site and lots: `BEGIN; SELECT lot FOR UPDATE; UPDATE
//!   lots (ledger, version); INSERT claim; INSERT outbox (~600 bytes); COMMIT`.
//!
//! Two scenarios, each with a warm-up followed by the measured claims:
//! (a) every claim on one hot lot of 1,000,000 pieces (row-lock contention);
//! (b) claims spread uniformly over 1000 lots.
//!
//! For each it prints throughput (claims/s), p50/p99 latency for gRPC and
//! baseline and the gRPC/baseline throughput ratio (goal: at least 0.5), then
//! checks the ledger invariant on both databases. Finally, if
//! `target/release/reemploi` exists, it starts `reemploi up --demo` on a
//! temporary data directory, waits 5 s idle and prints its resident memory
//! (VmRSS) beside the 64 MiB goal.
//!
//! Run it with a PostgreSQL server on which it may `CREATE DATABASE` (the
//! databases it creates are dropped at the end):
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!     cargo bench -p reemploi-inventory --bench claim
//! ```
//!
//! `CLAIM_BENCH_N` overrides the number of measured claims per scenario
//! (default 4000). Without `DATABASE_URL` the benchmark prints how to run it
//! and exits successfully.

use std::error::Error;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use prost::Message as _;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use reemploi_events::{Bus, InProcessBus, Message};
use reemploi_inventory::repo;
use reemploi_proto::events::{Envelope, envelope::Payload};
use reemploi_proto::inventory as pb;
use reemploi_proto::inventory::inventory_service_client::InventoryServiceClient;
use reemploi_proto::registry as rpb;
use reemploi_proto::types as tpb;
use reemploi_runtime::auth::{Role, claims_for, issue_hs256};
use reemploi_runtime::names::{LotName, SiteName};
use reemploi_store::{Backend, Db, now_millis};
use reemploi_testing::db::TestDb;
use sqlx::Row as _;
use tokio::task::JoinSet;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use uuid::Uuid;

type BoxError = Box<dyn Error + Send + Sync>;
type Res<T> = Result<T, BoxError>;

const SECRET: &[u8] = b"bench-secret-of-at-least-32-bytes!!";
const ORG: &str = "org-m2a-habitat";
/// Concurrent clients (gRPC) or tasks (baseline).
const CLIENTS: usize = 16;
/// Measured claims per scenario unless `CLAIM_BENCH_N` says otherwise.
const DEFAULT_CLAIMS: usize = 4000;
/// Claims before measuring, per scenario.
const WARM_UP: usize = 400;
/// Pieces in the hot lot.
const HOT_QUANTITY: i64 = 1_000_000;
/// Lots of the spread scenario, and pieces in each.
const SPREAD_LOTS: usize = 1000;
const SPREAD_QUANTITY: i64 = 1000;
/// Outbox payload of the baseline, about the size of a claim event.
const OUTBOX_PAYLOAD: usize = 600;
/// The memory goal of `reemploi up`.
const RSS_GOAL_KIB: u64 = 64 * 1024;

fn main() -> Res<()> {
    let url = std::env::var("DATABASE_URL").unwrap_or_default();
    if Backend::from_url(&url) != Some(Backend::Postgres) {
        println!(
            "claim bench: skipped, DATABASE_URL does not name a PostgreSQL server.\n\
             Run it with a server on which it may CREATE DATABASE, e.g.:\n  \
             DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
             cargo bench -p reemploi-inventory --bench claim"
        );
        return Ok(());
    }
    let claims = match std::env::var("CLAIM_BENCH_N") {
        Ok(n) => n.parse::<usize>()?.max(CLIENTS),
        Err(_) => DEFAULT_CLAIMS,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(claims))?;
    memory()
}

// ---------------------------------------------------------------- server

#[derive(Clone)]
struct Bearer(String);

impl Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let value = format!("Bearer {}", self.0)
            .parse()
            .map_err(|_| tonic::Status::internal("authorization header"))?;
        req.metadata_mut().insert("authorization", value);
        Ok(req)
    }
}

type Client = InventoryServiceClient<InterceptedService<Channel, Bearer>>;

fn token(role: Role, org: Option<&str>, partner: Option<Uuid>) -> Res<String> {
    let claims = claims_for(
        role,
        org.map(str::to_string),
        partner.map(|p| p.to_string()),
        Duration::from_secs(3600),
    );
    Ok(issue_hs256(SECRET, &claims)?)
}

async fn client(addr: SocketAddr, token: String) -> Res<Client> {
    let channel = Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    Ok(InventoryServiceClient::with_interceptor(
        channel,
        Bearer(token),
    ))
}

/// A running inventory server, wired as `tests/support` does.
struct Server {
    addr: SocketAddr,
    bus: Arc<dyn Bus>,
    db: Db,
    spawned: reemploi_testing::grpc::Spawned,
}

impl Server {
    async fn start(db: Db) -> Res<Server> {
        let bus: Arc<dyn Bus> = Arc::new(InProcessBus::temporary().await?);
        let ctx = reemploi_testing::grpc::context(db.clone(), bus.clone());
        let running =
            reemploi_inventory::start(ctx.clone(), &reemploi_inventory::InventoryArgs::default())
                .await?;
        let spawned = reemploi_testing::grpc::spawn(&ctx, vec![running]).await;
        Ok(Server {
            addr: spawned.addr,
            bus,
            db,
            spawned,
        })
    }

    /// A verified partner, announced as the registry would.
    async fn verified_partner(&self) -> Res<Uuid> {
        let id = Uuid::now_v7();
        let event_id = Uuid::now_v7().to_string();
        let subject = "reemploi.registry.partner.updated".to_string();
        let envelope = Envelope {
            event_id: event_id.clone(),
            event_type: subject.clone(),
            aggregate: format!("partners/{id}"),
            aggregate_version: 2,
            producer: "registry".into(),
            payload: Some(Payload::Partner(rpb::Partner {
                name: format!("partners/{id}"),
                status: rpb::PartnerStatus::Verified as i32,
                version: 2,
                ..Default::default()
            })),
            ..Default::default()
        };
        self.bus
            .publish(&Message {
                subject,
                event_id,
                payload: envelope.encode_to_vec().into(),
                traceparent: None,
            })
            .await?;
        // The in-process bus delivers on its own task: wait for the projection.
        loop {
            let held: Option<i64> =
                sqlx::query_scalar("SELECT version FROM partners WHERE id = $1")
                    .bind(id.to_string())
                    .fetch_optional(self.db.pool())
                    .await?;
            if held == Some(2) {
                return Ok(id);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn stop(self) {
        if let Err(e) = self.spawned.stop().await {
            eprintln!("claim bench: server failed: {e}");
        }
    }
}

// ---------------------------------------------------------------- data

fn pieces(whole: i64) -> Option<tpb::Quantity> {
    Some(tpb::Quantity {
        unit: tpb::Unit::Piece as i32,
        milli: whole * 1000,
    })
}

fn lot_msg(designation: &str, whole: i64) -> pb::Lot {
    pb::Lot {
        designation: designation.into(),
        category: "porte-interieure".into(),
        quantity: pieces(whole),
        estimated_mass_g: 25_000,
        waste_code: "17 02 01".into(),
        ..Default::default()
    }
}

/// The lots of both scenarios, as created and published through the API.
struct Data {
    site: String,
    hot: String,
    spread: Vec<String>,
}

async fn seed(manager: &mut Client) -> Res<Data> {
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
            request_id: String::new(),
            site_id: String::new(),
        })
        .await?
        .into_inner();
    let hot = manager
        .create_lot(pb::CreateLotRequest {
            parent: site.name.clone(),
            lot: Some(lot_msg("Portes bois 83x204 (lot chaud)", HOT_QUANTITY)),
            request_id: String::new(),
            lot_id: String::new(),
        })
        .await?
        .into_inner();
    let batch = manager
        .batch_create_lots(pb::BatchCreateLotsRequest {
            parent: site.name.clone(),
            requests: (0..SPREAD_LOTS)
                .map(|i| pb::CreateLotRequest {
                    parent: String::new(),
                    lot: Some(lot_msg(
                        &format!("Portes bois, palette {i}"),
                        SPREAD_QUANTITY,
                    )),
                    request_id: String::new(),
                    lot_id: String::new(),
                })
                .collect(),
            request_id: String::new(),
        })
        .await?
        .into_inner();
    let mut names = Vec::with_capacity(SPREAD_LOTS + 1);
    for lot in std::iter::once(hot).chain(batch.lots) {
        let lot = manager
            .publish_lot(pb::PublishLotRequest {
                name: lot.name,
                etag: String::new(),
            })
            .await?
            .into_inner();
        names.push(lot.name);
    }
    let hot = names.remove(0);
    Ok(Data {
        site: site.name,
        hot,
        spread: names,
    })
}

/// Copies the site and the lots, as stored by the service, to the baseline database.
async fn copy_data(from: &Db, to: &Db, data: &Data) -> Res<()> {
    let mut src = from.pool().acquire().await?;
    let mut dst = to.pool().begin().await?;
    let site = SiteName::parse("site", &data.site)?;
    let site = repo::get_site(&mut src, site.0, None)
        .await?
        .ok_or("seeded site missing")?;
    repo::save_site(&mut dst, &site, None).await?;
    for name in std::iter::once(&data.hot).chain(&data.spread) {
        let lot = repo::get_lot(&mut src, LotName::parse("lot", name)?, None)
            .await?
            .ok_or("seeded lot missing")?;
        repo::save_lot(&mut dst, &lot, None).await?;
    }
    dst.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------- load

/// Latencies and wall time of one measured run.
struct Sample {
    wall: Duration,
    latencies: Vec<Duration>,
}

impl Sample {
    fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[i.min(self.latencies.len() - 1)]
    }
}

/// One client's way of making the i-th claim of a run.
trait Claimer: Send + 'static {
    fn claim(&mut self, i: usize) -> impl Future<Output = Res<()>> + Send;
}

/// Runs `total` claims from the workers, each taking the next index until
/// none is left; records every call's latency.
async fn drive<C: Claimer>(workers: Vec<C>, total: usize) -> Res<Sample> {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut set = JoinSet::new();
    for mut worker in workers {
        let next = next.clone();
        set.spawn(async move {
            let mut latencies = Vec::with_capacity(total / CLIENTS + 1);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return Ok::<_, BoxError>(latencies);
                }
                let t = Instant::now();
                worker.claim(i).await?;
                latencies.push(t.elapsed());
            }
        });
    }
    let mut latencies = Vec::with_capacity(total);
    let mut first_error = None;
    while let Some(joined) = set.join_next().await {
        match joined? {
            Ok(l) => latencies.extend(l),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let wall = start.elapsed();
    if let Some(e) = first_error {
        return Err(e);
    }
    latencies.sort_unstable();
    Ok(Sample { wall, latencies })
}

/// Which lot the i-th claim of a scenario takes.
#[derive(Clone)]
struct Targets(Arc<Vec<usize>>);

impl Targets {
    fn hot(n: usize) -> Targets {
        Targets(Arc::new(vec![0; n]))
    }

    fn spread(n: usize, lots: usize) -> Targets {
        let mut rng = StdRng::seed_from_u64(0x5eed_c1a1);
        Targets(Arc::new(
            (0..n).map(|_| rng.random_range(0..lots)).collect(),
        ))
    }
}

struct GrpcWorker {
    client: Client,
    partner: String,
    lots: Arc<Vec<String>>,
    targets: Targets,
    tag: &'static str,
}

impl Claimer for GrpcWorker {
    async fn claim(&mut self, i: usize) -> Res<()> {
        grpc_claim(self, i).await
    }
}

async fn grpc_claim(w: &mut GrpcWorker, i: usize) -> Res<()> {
    let lot = w.lots[w.targets.0[i]].clone();
    w.client
        .claim_lot(pb::ClaimLotRequest {
            lot,
            partner: w.partner.clone(),
            quantity: pieces(1),
            request_id: format!("{}-{i}", w.tag),
            ..Default::default()
        })
        .await?;
    Ok(())
}

struct SqlWorker {
    db: Db,
    partner: String,
    lots: Arc<Vec<LotName>>,
    targets: Targets,
    tag: &'static str,
    payload: Arc<Vec<u8>>,
}

impl Claimer for SqlWorker {
    async fn claim(&mut self, i: usize) -> Res<()> {
        sql_claim(self, i).await
    }
}

/// The claim's write transaction, without the service around it.
async fn sql_claim(w: &mut SqlWorker, i: usize) -> Res<()> {
    let lot = w.lots[w.targets.0[i]];
    let (lot_id, site_id) = (lot.lot.to_string(), lot.site.to_string());
    let now = now_millis();
    let mut tx = w.db.pool().begin().await?;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM lots WHERE id = $1 AND site_id = $2 FOR UPDATE",
        repo::LOT_COLUMNS
    )))
    .bind(&lot_id)
    .bind(&site_id)
    .fetch_one(&mut *tx)
    .await?;
    let available: i64 = row.try_get("available")?;
    let reserved: i64 = row.try_get("reserved")?;
    let version: i64 = row.try_get("version")?;
    let owner_org: String = row.try_get("owner_org")?;
    let unit: String = row.try_get("unit")?;
    let milli = 1000;
    if available < milli {
        return Err("baseline lot exhausted".into());
    }
    let done = sqlx::query(
        "UPDATE lots SET available = $2, reserved = $3, updated_at = $4, version = $5 \
         WHERE id = $1 AND version = $6 AND site_id = $7",
    )
    .bind(&lot_id)
    .bind(available - milli)
    .bind(reserved + milli)
    .bind(now)
    .bind(version + 1)
    .bind(version)
    .bind(&site_id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err("baseline lot changed under its row lock".into());
    }
    let claim_id = Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO claims (id, lot_id, site_id, owner_org, partner_id, unit, quantity, \
         pickup_from, pickup_until, status, expires_at, weighed_mass_g, handed_over_at, note, \
         request_id, created_at, updated_at, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
         $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
    )
    .bind(&claim_id)
    .bind(&lot_id)
    .bind(site_id)
    .bind(owner_org)
    .bind(&w.partner)
    .bind(unit)
    .bind(milli)
    .bind(None::<i64>)
    .bind(None::<i64>)
    .bind("reserved")
    .bind(now + 72 * 3600 * 1000)
    .bind(0_i64)
    .bind(None::<i64>)
    .bind("")
    .bind(format!("{}-{i}", w.tag))
    .bind(now)
    .bind(now)
    .bind(1_i64)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO outbox (event_id, subject, payload, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(Uuid::now_v7().to_string())
    .bind("reemploi.inventory.claim.reserved")
    .bind(w.payload.as_slice())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------- scenarios

struct Row {
    scenario: &'static str,
    grpc: Sample,
    sql: Sample,
}

struct Setup {
    grpc_clients: Vec<(Client, String)>,
    grpc_lots: Vec<String>,
    sql_db: Db,
    sql_partners: Vec<String>,
    sql_lots: Vec<LotName>,
}

async fn scenario(
    s: &mut Setup,
    name: &'static str,
    targets: Targets,
    lots: std::ops::Range<usize>,
    warm: usize,
    n: usize,
) -> Res<Row> {
    let grpc_lots = Arc::new(s.grpc_lots[lots.clone()].to_vec());
    let sql_lots = Arc::new(s.sql_lots[lots].to_vec());
    let mut samples = Vec::new();
    for (phase, count) in [("warm", warm), ("run", n)] {
        let tag: &'static str = match (name, phase) {
            ("hot", "warm") => "hot-warm",
            ("hot", _) => "hot-run",
            (_, "warm") => "spread-warm",
            _ => "spread-run",
        };
        // Warm-up and measured claims take different slices of the targets.
        let targets = Targets(Arc::new(
            targets.0[if phase == "warm" {
                0..warm
            } else {
                warm..warm + n
            }]
            .to_vec(),
        ));
        let workers: Vec<GrpcWorker> = s
            .grpc_clients
            .iter()
            .map(|(client, partner)| GrpcWorker {
                client: client.clone(),
                partner: partner.clone(),
                lots: grpc_lots.clone(),
                targets: targets.clone(),
                tag,
            })
            .collect();
        let grpc = drive(workers, count).await?;
        let payload = Arc::new(vec![0x5a; OUTBOX_PAYLOAD]);
        let workers: Vec<SqlWorker> = s
            .sql_partners
            .iter()
            .map(|partner| SqlWorker {
                db: s.sql_db.clone(),
                partner: partner.clone(),
                lots: sql_lots.clone(),
                targets: targets.clone(),
                tag,
                payload: payload.clone(),
            })
            .collect();
        let sql = drive(workers, count).await?;
        samples.push((grpc, sql));
    }
    let (grpc, sql) = samples.pop().ok_or("no measured phase")?;
    Ok(Row {
        scenario: name,
        grpc,
        sql,
    })
}

/// Lots whose ledger is broken, or whose reserved quantity differs from
/// their reserved claims; and the number of claims.
async fn check_ledger(db: &Db) -> Res<(i64, i64)> {
    let broken: i64 = sqlx::query(
        "SELECT COUNT(*) FROM lots l WHERE l.available < 0 OR l.reserved < 0 \
         OR l.handed_over < 0 OR l.quantity <> l.available + l.reserved + l.handed_over \
         OR l.reserved <> (SELECT CAST(COALESCE(SUM(c.quantity), 0) AS BIGINT) FROM claims c \
         WHERE c.site_id = l.site_id AND c.lot_id = l.id AND c.status = 'reserved')",
    )
    .fetch_one(db.pool())
    .await?
    .try_get(0)?;
    let claims: i64 = sqlx::query("SELECT COUNT(*) FROM claims")
        .fetch_one(db.pool())
        .await?
        .try_get(0)?;
    Ok((broken, claims))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn run(n: usize) -> Res<()> {
    println!(
        "claim bench: {CLIENTS} concurrent clients, {WARM_UP} warm-up + {n} measured claims \
         per scenario, PostgreSQL"
    );
    let grpc_db: TestDb = reemploi_testing::db::fresh(Backend::Postgres).await;
    let sql_db: TestDb = reemploi_testing::db::fresh(Backend::Postgres).await;
    sql_db.db.migrate(&reemploi_inventory::migrations()).await?;

    let server = Server::start(grpc_db.db.clone()).await?;
    let mut manager = client(server.addr, token(Role::SiteManager, Some(ORG), None)?).await?;
    let t = Instant::now();
    let data = seed(&mut manager).await?;
    copy_data(&grpc_db.db, &sql_db.db, &data).await?;
    let mut grpc_clients = Vec::with_capacity(CLIENTS);
    let mut sql_partners = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        let partner = server.verified_partner().await?;
        let c = client(server.addr, token(Role::Partner, None, Some(partner))?).await?;
        grpc_clients.push((c, format!("partners/{partner}")));
        sql_partners.push(partner.to_string());
    }
    println!(
        "seeded 1 + {SPREAD_LOTS} published lots and {CLIENTS} partners in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let mut grpc_lots = vec![data.hot.clone()];
    grpc_lots.extend(data.spread.iter().cloned());
    let mut sql_lots = Vec::with_capacity(grpc_lots.len());
    for name in &grpc_lots {
        sql_lots.push(LotName::parse("lot", name)?);
    }
    let mut setup = Setup {
        grpc_clients,
        grpc_lots,
        sql_db: sql_db.db.clone(),
        sql_partners,
        sql_lots,
    };

    let mut rows = Vec::new();
    let t = Instant::now();
    rows.push(
        scenario(
            &mut setup,
            "hot",
            Targets::hot(WARM_UP + n),
            0..1,
            WARM_UP,
            n,
        )
        .await?,
    );
    println!("scenario hot done in {:.1} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    rows.push(
        scenario(
            &mut setup,
            "spread",
            Targets::spread(WARM_UP + n, SPREAD_LOTS),
            1..SPREAD_LOTS + 1,
            WARM_UP,
            n,
        )
        .await?,
    );
    println!("scenario spread done in {:.1} s", t.elapsed().as_secs_f64());

    println!();
    println!(
        "{:<28} {:>9} {:>9} {:>9} {:>13}",
        "scenario / path", "claims/s", "p50 ms", "p99 ms", "gRPC/baseline"
    );
    println!("{}", "-".repeat(72));
    for row in &rows {
        let label = match row.scenario {
            "hot" => "(a) 1 hot lot",
            _ => "(b) 1000 lots",
        };
        let ratio = row.grpc.throughput() / row.sql.throughput();
        for (path, s, r) in [
            ("gRPC ClaimLot", &row.grpc, format!("{ratio:.2}")),
            ("baseline sqlx", &row.sql, String::new()),
        ] {
            println!(
                "{:<28} {:>9.0} {:>9.2} {:>9.2} {:>13}",
                format!("{label}, {path}"),
                s.throughput(),
                ms(s.percentile(0.50)),
                ms(s.percentile(0.99)),
                r
            );
        }
        println!(
            "{:<28} {:>43}",
            "",
            if ratio >= 0.5 {
                "goal >= 0.5: met"
            } else {
                "goal >= 0.5: NOT met"
            }
        );
    }
    println!();

    let expected = 2 * (WARM_UP + n) as i64;
    let mut ok = true;
    for (path, db) in [("gRPC", &grpc_db.db), ("baseline", &sql_db.db)] {
        let (broken, claims) = check_ledger(db).await?;
        let good = broken == 0 && claims == expected;
        ok &= good;
        println!(
            "ledger invariant ({path}): {} ({broken} broken lots, {claims}/{expected} claims)",
            if good { "holds" } else { "VIOLATED" }
        );
    }

    drop(manager);
    drop(setup);
    server.stop().await;
    grpc_db.db.close().await;
    sql_db.db.close().await;
    drop(grpc_db);
    drop(sql_db);
    if !ok {
        return Err("the ledger invariant does not hold".into());
    }
    Ok(())
}

// ---------------------------------------------------------------- memory

fn reemploi_binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    target.join("release").join("reemploi")
}

fn memory() -> Res<()> {
    let bin = reemploi_binary();
    if !bin.is_file() {
        println!(
            "memory: skipped, {} not found; build it with `cargo build --release -p reemploi`",
            bin.display()
        );
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let mut child = std::process::Command::new(&bin)
        .args([
            "up",
            "--demo",
            "--listen",
            "127.0.0.1:0",
            "--web-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path())
        // Embedded mode: SQLite under the data dir, in-process bus.
        .env_remove("DATABASE_URL")
        .env_remove("NATS_URL")
        .env_remove("REEMPLOI_LISTEN")
        .env_remove("REEMPLOI_DATA_DIR")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let result = measure_rss(&mut child);
    let _ = child.kill();
    let _ = child.wait();
    let rss = result?;
    println!(
        "memory: `reemploi up --demo` VmRSS after 5 s idle: {:.1} MiB (goal <= 64 MiB: {})",
        rss as f64 / 1024.0,
        if rss <= RSS_GOAL_KIB {
            "met"
        } else {
            "NOT met"
        }
    );
    Ok(())
}

/// Waits for `listening on`, then 5 s, and reads the child's VmRSS in KiB.
fn measure_rss(child: &mut std::process::Child) -> Res<u64> {
    use std::io::BufRead as _;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if line.starts_with("listening on") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .map_err(|_| "reemploi up did not print `listening on` within 60 s")?;
    std::thread::sleep(Duration::from_secs(5));
    if let Some(status) = child.try_wait()? {
        return Err(format!("reemploi up exited: {status}").into());
    }
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .ok_or("no VmRSS in /proc/<pid>/status")?;
    let kib = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()?;
    Ok(kib)
}
