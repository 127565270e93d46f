//! Event to proposal with 10,000 open needs, against none, in one run.
//!
//! Measures, as the proposal bench does, the latency from the moment an
//! inventory `PublishLot` call returns OK to the moment the first
//! `reemploi.matching.match.proposed` event for that lot reaches an
//! observer subscribed through the [`Bus`] (a durable JetStream consumer).
//! With needs, matching also looks up the open needs of the lot's family
//! around it, measures which the lot meets and puts their structures first.
//!
//! Setup: two stacks, each on fresh PostgreSQL databases and a unique NATS
//! namespace ([`Stack`]), each with 20 verified partners around Mulhouse
//! accepting radiators, one site and 500 draft lots of radiators. On the
//! second, 10,000 open needs are posted through CreateNeed: every family,
//! centres within some 60 km of Mulhouse, radii of 5 to 50 km, one in a
//! hundred by one of the 20 partners (so that some lots meet a need of
//! theirs), the others by structures matching has not heard of. Then both
//! stacks' lots are published at 50/s each, interleaved (the second 10 ms
//! after the first), so that both share whatever else the machine does.
//!
//! Prints p50 and p99 of both phases, their ratios (no needs over needs:
//! 1 when needs cost nothing; the goal is at least 0.8) and the goal on
//! the p99 with needs (under 100 ms). Run with:
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres NATS_URL=nats://127.0.0.1:4222 \
//!     cargo bench -p reemploi-matching --bench needs
//! ```
//!
//! Without either variable it prints why and exits successfully.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{ORG, fmt, percentile, radiators};
use futures::StreamExt;
use prost::Message as _;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reemploi_e2e::{Stack, Transport, partner_at, verified};
use reemploi_events::{
    Bus, Handler, HandlerError, JetStreamBus, JetStreamOptions, Message, Subscription,
};
use reemploi_proto::events::{Envelope, envelope::Payload};
use reemploi_proto::inventory as ipb;
use reemploi_proto::matching as mpb;
use reemploi_proto::types as tpb;
use reemploi_runtime::auth::Role;
use tokio_util::sync::CancellationToken;

/// Lots published in each phase.
const LOTS: usize = 500;
/// Offered rate, per second.
const RATE: u64 = 50;
/// Verified partners around Mulhouse.
const PARTNERS: usize = 20;
/// Open needs in the second phase.
const NEEDS: usize = 10_000;
/// Concurrent calls while preparing lots and needs.
const CONCURRENCY: usize = 16;
/// The goal on the p99 with needs.
const GOAL: Duration = Duration::from_millis(100);
/// The goal on the ratios, no needs over needs.
const RATIO_GOAL: f64 = 0.8;
/// How long stragglers may take once the last lot of a phase is published.
const DRAIN: Duration = Duration::from_secs(60);
const MULHOUSE: (f64, f64) = (47.7508, 7.3359);

fn main() {
    common::main("needs", run());
}

async fn run() {
    let stop = CancellationToken::new();
    eprintln!("setup: two stacks, each {PARTNERS} partners, one site, {LOTS} draft lots ...");
    let without = side(&stop).await;
    let with = side(&stop).await;
    eprintln!("posting {NEEDS} open needs on the second ...");
    let posted = post_needs(&with.stack, &with.partners).await;
    settle().await;
    for s in [&without, &with] {
        // Matching takes needs in as they come (every query and event reads
        // the change log); after a burst of 10,000, have it done before the
        // run, as a steady flow would.
        let mut m = s.stack.matching(0, Role::Admin, None, None).await;
        let _ = m
            .list_lot_matches(mpb::ListLotMatchesRequest {
                lot: format!("{}/lots/warm-up", s.site),
                page_size: 1,
            })
            .await;
    }
    eprintln!("run: {LOTS} lots at {RATE}/s on each, interleaved ...");
    let (a, b) = tokio::join!(
        phase(
            &without.stack,
            &without.observer,
            without.drafts.clone(),
            Duration::ZERO
        ),
        phase(
            &with.stack,
            &with.observer,
            with.drafts.clone(),
            tick(1) / 2
        ),
    );
    report(&a, &b, posted, &with.observer);
    stop.cancel();
    without.stack.stop().await;
    with.stack.stop().await;
}

/// One stack with its observer, partners, site and draft lots.
struct Side {
    stack: Stack,
    observer: Arc<Observer>,
    partners: Vec<String>,
    site: String,
    drafts: Vec<String>,
}

async fn side(stop: &CancellationToken) -> Side {
    let stack = Stack::start(Transport::Nats).await;
    let bus = JetStreamBus::connect(
        &reemploi_testing::nats::nats_url(),
        JetStreamOptions {
            namespace: Some(stack.namespace.clone()),
            replicas: 1,
        },
    )
    .await
    .expect("NATS reachable");
    let observer = Arc::new(Observer::default());
    bus.subscribe(
        Subscription {
            durable: "needs-bench-observer".into(),
            stream_of: "matching".into(),
            filter: reemploi_matching::events::PROPOSED.into(),
            max_deliver: 5,
        },
        observer.clone(),
        stop.clone(),
    )
    .await
    .expect("observer subscribed");
    let (partners, site) = setup(&stack, &observer).await;
    let drafts = drafts(&stack, &site).await;
    Side {
        stack,
        observer,
        partners,
        site,
        drafts,
    }
}

/// Lets the events of the preparation drain, and the callers' rate
/// budgets refill, before a phase starts.
async fn settle() {
    tokio::time::sleep(Duration::from_secs(6)).await;
}

/// A call retried while the service says the caller's rate budget is spent
/// (100 calls a second per principal): preparing goes as fast as allowed.
async fn patient<T, F, Fut>(mut call: F) -> Result<T, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, tonic::Status>>,
{
    loop {
        match call().await {
            Err(e) if e.code() == tonic::Code::ResourceExhausted => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => return other,
        }
    }
}

// ---- the observer ----

/// When the first proposal of each lot arrived, and how many came with a need.
#[derive(Default)]
struct Observer {
    first: Mutex<HashMap<String, Instant>>,
    with_need: Mutex<usize>,
}

#[async_trait::async_trait]
impl Handler for Observer {
    async fn handle(&self, msg: &Message) -> Result<(), HandlerError> {
        let at = Instant::now();
        let envelope = Envelope::decode(msg.payload.as_ref())
            .map_err(|e| HandlerError::Permanent(e.to_string()))?;
        if let Some(Payload::MatchProposal(p)) = envelope.payload {
            let m = p.r#match.unwrap_or_default();
            if m.breakdown.is_some_and(|b| b.need > 0.0) {
                *self.with_need.lock().unwrap() += 1;
            }
            self.first.lock().unwrap().entry(m.lot).or_insert(at);
        }
        Ok(())
    }
}

impl Observer {
    fn get(&self, lot: &str) -> Option<Instant> {
        self.first.lock().unwrap().get(lot).copied()
    }
}

// ---- setup ----

fn siret(n: usize) -> String {
    reemploi_e2e::siret(u32::try_from(4_700_000 + n).unwrap())
}

/// The partners on a ring around Mulhouse, the site, and a warm-up lot
/// proposed to every partner (so matching knows them all).
async fn setup(stack: &Stack, observer: &Observer) -> (Vec<String>, String) {
    let mut admin = stack.registry(Role::Admin, None).await;
    let mut partners = Vec::new();
    for i in 0..PARTNERS {
        let angle = i as f64 / PARTNERS as f64 * std::f64::consts::TAU;
        let km = 2.0 + (i % 4) as f64 * 2.0;
        let at = (
            MULHOUSE.0 + km / 111.0 * angle.sin(),
            MULHOUSE.1 + km / 75.0 * angle.cos(),
        );
        let p = partner_at(&format!("Atelier {i}"), &siret(i), at.0, at.1, 20);
        partners.push(verified(&mut admin, p).await);
    }
    let site = reemploi_e2e::coteaux_site(stack).await;
    common::warm_up(stack, &site, PARTNERS, |lot| observer.get(lot).is_some()).await;
    (partners, site)
}

async fn drafts(stack: &Stack, site: &str) -> Vec<String> {
    let manager = stack.inventory(Role::SiteManager, Some(ORG), None).await;
    futures::stream::iter(0..LOTS)
        .map(|i| {
            let m = manager.clone();
            let req = ipb::CreateLotRequest {
                parent: site.to_string(),
                lot: Some(radiators(5 + (i % 20) as i64)),
                request_id: String::new(),
                lot_id: String::new(),
            };
            async move {
                let lot = patient(|| {
                    let (mut m, req) = (m.clone(), req.clone());
                    async move { m.create_lot(req).await }
                })
                .await;
                lot.expect("create lot").into_inner().name
            }
        })
        .buffered(CONCURRENCY)
        .collect()
        .await
}

/// Every family's categories, to spread the needs over them.
fn families() -> Vec<&'static str> {
    reemploi_domain::category::Family::ALL
        .iter()
        .map(|f| f.code())
        .collect()
}

/// Posts the needs as an admin; returns how many were posted.
async fn post_needs(stack: &Stack, partners: &[String]) -> usize {
    let admin = stack.matching(0, Role::Admin, None, None).await;
    let families = families();
    let mut rng = StdRng::seed_from_u64(10_000);
    let expire = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + 30 * 86_400;
    let requests: Vec<mpb::CreateNeedRequest> = (0..NEEDS)
        .map(|i| {
            let parent = match i % 100 {
                0 => partners[i / 100 % partners.len()].clone(),
                _ => format!("partners/{}", uuid::Uuid::now_v7()),
            };
            mpb::CreateNeedRequest {
                parent,
                need: Some(mpb::Need {
                    family: families[rng.random_range(0..families.len())].to_owned(),
                    center: Some(tpb::GeoPoint {
                        latitude: MULHOUSE.0 + rng.random_range(-0.5..0.5),
                        longitude: MULHOUSE.1 + rng.random_range(-0.7..0.7),
                    }),
                    radius_km: rng.random_range(5..=50),
                    expire_time: Some(prost_types::Timestamp {
                        seconds: expire,
                        nanos: 0,
                    }),
                    ..Default::default()
                }),
                request_id: String::new(),
            }
        })
        .collect();
    let posted: Vec<bool> = futures::stream::iter(requests)
        .map(|req| {
            let m = admin.clone();
            async move {
                patient(|| {
                    let (mut m, req) = (m.clone(), req.clone());
                    async move { m.create_need(req).await }
                })
                .await
                .is_ok()
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    posted.iter().filter(|ok| **ok).count()
}

// ---- a phase ----

struct Phase {
    /// PublishLot OK to the first proposal, `None` when none came.
    latencies: Vec<Option<Duration>>,
    failed: usize,
}

fn tick(i: usize) -> Duration {
    Duration::from_micros(1_000_000 / RATE * i as u64)
}

/// Publishes `lots` at [`RATE`] (open loop) from `offset` on, and waits
/// for their proposals.
async fn phase(stack: &Stack, observer: &Observer, lots: Vec<String>, offset: Duration) -> Phase {
    let client = stack.inventory(Role::SiteManager, Some(ORG), None).await;
    let mut calls = tokio::task::JoinSet::new();
    let start = tokio::time::Instant::now() + offset;
    for (i, lot) in lots.into_iter().enumerate() {
        tokio::time::sleep_until(start + tick(i)).await;
        let mut client = client.clone();
        calls.spawn(async move {
            let result = client
                .publish_lot(ipb::PublishLotRequest {
                    name: lot.clone(),
                    etag: String::new(),
                })
                .await;
            result.map(|_| (lot, Instant::now()))
        });
    }
    let mut published = Vec::new();
    let mut failed = 0;
    while let Some(done) = calls.join_next().await {
        match done.expect("publish task") {
            Ok(p) => published.push(p),
            Err(status) => {
                failed += 1;
                eprintln!("PublishLot failed: {status}");
            }
        }
    }
    let deadline = Instant::now() + DRAIN;
    while Instant::now() < deadline && published.iter().any(|(l, _)| observer.get(l).is_none()) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Phase {
        latencies: published
            .iter()
            .map(|(lot, at)| observer.get(lot).map(|seen| seen.duration_since(*at)))
            .collect(),
        failed,
    }
}

// ---- the report ----

/// Nearest-rank percentile; `None` (never arrived) ranks above everything.
/// `base / other`: 1 when other is as fast, less when slower.
fn ratio(base: Option<Duration>, other: Option<Duration>) -> Option<f64> {
    Some(base?.as_secs_f64() / other?.as_secs_f64())
}

fn report(without: &Phase, with: &Phase, posted: usize, observer: &Observer) {
    let (p50_0, p99_0) = (
        percentile(&without.latencies, 0.5),
        percentile(&without.latencies, 0.99),
    );
    let (p50_1, p99_1) = (
        percentile(&with.latencies, 0.5),
        percentile(&with.latencies, 0.99),
    );
    let r50 = ratio(p50_0, p50_1);
    let r99 = ratio(p99_0, p99_1);
    let show = |r: Option<f64>| r.map_or("-".to_owned(), |r| format!("{r:.2}"));
    println!();
    println!("event to proposal over NATS, {LOTS} lots a phase at {RATE}/s, {PARTNERS} partners");
    println!("{:-<72}", "");
    println!("{:<40} {:>14} {:>14}", "phase", "p50", "p99");
    println!("{:-<72}", "");
    println!(
        "{:<40} {:>14} {:>14}",
        "no need (baseline)",
        fmt(p50_0),
        fmt(p99_0)
    );
    println!(
        "{:<40} {:>14} {:>14}",
        format!("{posted} open needs"),
        fmt(p50_1),
        fmt(p99_1)
    );
    println!(
        "{:<40} {:>14} {:>14}",
        "ratio (baseline / needs)",
        show(r50),
        show(r99)
    );
    println!("{:-<72}", "");
    let lost = |p: &Phase| p.latencies.iter().filter(|d| d.is_none()).count();
    println!(
        "PublishLot failed: {} and {}; lots without a proposal: {} and {}; proposals with a need: {}",
        without.failed,
        with.failed,
        lost(without),
        lost(with),
        *observer.with_need.lock().unwrap()
    );
    let ratio_met = r50.is_some_and(|r| r >= RATIO_GOAL) && r99.is_some_and(|r| r >= RATIO_GOAL);
    println!(
        "goal: ratios at least {RATIO_GOAL}: {}; p99 with needs < {} ms: {}",
        if ratio_met { "MET" } else { "MISSED" },
        GOAL.as_millis(),
        if p99_1.is_some_and(|d| d < GOAL) {
            "MET"
        } else {
            "MISSED"
        }
    );
}
