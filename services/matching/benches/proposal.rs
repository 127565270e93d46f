//! Event to proposal, end to end over NATS JetStream.
//!
//! Measures the latency from the moment an inventory `PublishLot` call
//! returns OK to the moment the first `reemploi.matching.match.proposed`
//! event for that lot reaches an observer subscribed through the [`Bus`]
//! (a durable JetStream consumer, like any service's). In between: the
//! inventory's outbox and relay, NATS, matching's consumer (projection,
//! scoring, proposals and their outbox rows in one transaction), matching's
//! relay, NATS again, and the observer's consumer.
//!
//! Setup: fresh PostgreSQL databases and a unique NATS namespace, with
//! matching, inventory and registry started side by side as the end-to-end
//! tests do ([`Stack`]); 20 verified partners around Mulhouse accepting
//! radiators, one site. 2000 lots are created as drafts first, then their
//! publications are paced at 200 lots/s (open loop: a call is started every
//! 5 ms whether or not the previous ones returned) for 10 s.
//!
//! Baseline, in the same run on the same server and namespace: 2000 small
//! messages published at 200/s on a dedicated stream with async-nats (PubAck
//! awaited), received by a pull consumer with explicit acks; latency from
//! publish to receive.
//!
//! Prints p50 and p99 of both, the achieved rates and the goal (p99 of event
//! to proposal under 100 ms). Run with:
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres NATS_URL=nats://127.0.0.1:4222 \
//!     cargo bench -p reemploi-matching --bench proposal
//! ```
//!
//! Without either variable it prints why and exits successfully. Logs go to
//! stderr at `warn` unless `RUST_LOG` says otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_nats::jetstream::consumer::{AckPolicy, pull};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{self, StorageType};
use common::{ORG, fmt, percentile, radiators};
use futures::StreamExt;
use prost::Message as _;
use reemploi_e2e::{Stack, Transport};
use reemploi_events::{
    Bus, Handler, HandlerError, JetStreamBus, JetStreamOptions, Message, Subscription,
};
use reemploi_proto::events::{Envelope, envelope::Payload};
use reemploi_proto::inventory as ipb;
use reemploi_proto::registry as rpb;
use reemploi_proto::types as tpb;
use reemploi_runtime::auth::Role;
use tokio_util::sync::CancellationToken;

/// Lots published (and baseline messages sent).
const COUNT: usize = 2000;
/// Offered rate, per second.
const RATE: u64 = 200;
/// Verified partners around Mulhouse.
const PARTNERS: usize = 20;
/// The goal on the p99 of event to proposal.
const GOAL: Duration = Duration::from_millis(100);
/// How long stragglers may take once the last lot is published.
const DRAIN: Duration = Duration::from_secs(60);
/// Concurrent CreateLot calls while preparing the drafts.
const CREATE_CONCURRENCY: usize = 8;

fn main() {
    common::main("proposal", run());
}

async fn run() {
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
    eprintln!("namespace {}", stack.namespace);

    eprintln!("baseline: {COUNT} raw JetStream messages at {RATE}/s ...");
    let baseline = baseline(&bus, &stack.namespace).await;

    eprintln!("setup: {PARTNERS} partners, one site, {COUNT} draft lots ...");
    let stop = CancellationToken::new();
    let observer = Arc::new(Observer::default());
    bus.subscribe(
        Subscription {
            durable: "bench-observer".into(),
            stream_of: "matching".into(),
            filter: reemploi_matching::events::PROPOSED.into(),
            max_deliver: 5,
        },
        observer.clone(),
        stop.clone(),
    )
    .await
    .expect("observer subscribed");
    let site = setup(&stack, &observer).await;
    let drafts = drafts(&stack, &site).await;
    // Draft events are not proposals but do go through matching: let it
    // catch up so the run starts from an idle pipeline.
    wait_idle(&bus, &stack.namespace).await;

    eprintln!("run: publishing {COUNT} lots at {RATE}/s ...");
    let sampling = CancellationToken::new();
    let backlog = tokio::spawn(backlog(
        bus.clone(),
        stack.namespace.clone(),
        sampling.clone(),
    ));
    let run = publish_paced(&stack, drafts).await;
    let deadline = Instant::now() + DRAIN;
    while Instant::now() < deadline && observer.lots_seen(&run.published) < run.published.len() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sampling.cancel();
    let backlog = backlog.await.expect("backlog sampler");

    report(&baseline, &run, &observer, &backlog);

    stop.cancel();
    let stack_namespace = stack.namespace.clone();
    stack.stop().await;
    delete_streams(&bus, &format!("{}_", stack_namespace.to_uppercase())).await;
}

// ---- the baseline: raw JetStream publish -> consume ----

struct Baseline {
    /// Publish (before send) to receive by the consumer.
    latencies: Vec<Option<Duration>>,
    /// Publish to PubAck.
    acks: Vec<Duration>,
    rate: f64,
}

async fn baseline(bus: &JetStreamBus, namespace: &str) -> Baseline {
    let js = bus.jetstream().clone();
    let subject = format!("{namespace}.bench.baseline");
    let stream = js
        .create_stream(stream::Config {
            name: format!("{}_BENCH_BASELINE", namespace.to_uppercase()),
            subjects: vec![subject.clone()],
            storage: StorageType::File,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .expect("baseline stream");
    let consumer = stream
        .create_consumer(pull::Config {
            durable_name: Some(format!("{namespace}_bench-baseline")),
            ack_policy: AckPolicy::Explicit,
            ..Default::default()
        })
        .await
        .expect("baseline consumer");
    let received: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; COUNT]));
    let receiver = {
        let received = received.clone();
        let mut messages = consumer.messages().await.expect("baseline messages");
        tokio::spawn(async move {
            let mut n = 0;
            while n < COUNT {
                let Some(Ok(m)) = messages.next().await else {
                    break;
                };
                let at = Instant::now();
                let i = u64::from_be_bytes(m.payload[..8].try_into().unwrap()) as usize;
                if let Some(slot) = received.lock().unwrap().get_mut(i)
                    && slot.is_none()
                {
                    *slot = Some(at);
                    n += 1;
                }
                let _ = m.ack().await;
            }
        })
    };
    let mut sent = Vec::with_capacity(COUNT);
    let mut acks = Vec::with_capacity(COUNT);
    let start = tokio::time::Instant::now();
    for i in 0..COUNT {
        tokio::time::sleep_until(start + tick(i)).await;
        let mut payload = (i as u64).to_be_bytes().to_vec();
        payload.resize(64, b'.');
        let t0 = Instant::now();
        let ack = js
            .send_publish(
                subject.clone(),
                PublishMessage::build()
                    .payload(payload.into())
                    .message_id(reemploi_events::new_event_id()),
            )
            .await
            .expect("baseline publish");
        ack.await.expect("baseline PubAck");
        acks.push(t0.elapsed());
        sent.push(t0);
    }
    let elapsed = start.elapsed();
    let _ = tokio::time::timeout(DRAIN, receiver).await;
    let received = received.lock().unwrap().clone();
    Baseline {
        latencies: sent
            .iter()
            .zip(received)
            .map(|(s, r)| r.map(|r| r.duration_since(*s)))
            .collect(),
        acks,
        rate: COUNT as f64 / elapsed.as_secs_f64(),
    }
}

fn tick(i: usize) -> Duration {
    Duration::from_micros(1_000_000 / RATE * i as u64)
}

// ---- the observer ----

/// When the first proposal of each lot arrived.
#[derive(Default)]
struct Observer {
    first: Mutex<HashMap<String, Arrival>>,
    proposals: Mutex<usize>,
}

#[derive(Clone, Copy)]
struct Arrival {
    at: Instant,
    wall_ms: i64,
    /// When matching made the proposal (the envelope's occur_time).
    proposed_ms: i64,
}

#[async_trait::async_trait]
impl Handler for Observer {
    async fn handle(&self, msg: &Message) -> Result<(), HandlerError> {
        let at = Instant::now();
        let wall_ms = wall_ms();
        let envelope = Envelope::decode(msg.payload.as_ref())
            .map_err(|e| HandlerError::Permanent(e.to_string()))?;
        if let Some(Payload::MatchProposal(p)) = envelope.payload {
            let proposed_ms = envelope
                .occur_time
                .map_or(0, |t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000);
            *self.proposals.lock().unwrap() += 1;
            let lot = p.r#match.unwrap_or_default().lot;
            self.first.lock().unwrap().entry(lot).or_insert(Arrival {
                at,
                wall_ms,
                proposed_ms,
            });
        }
        Ok(())
    }
}

impl Observer {
    fn get(&self, lot: &str) -> Option<Arrival> {
        self.first.lock().unwrap().get(lot).copied()
    }

    fn lots_seen(&self, published: &[Published]) -> usize {
        let first = self.first.lock().unwrap();
        published
            .iter()
            .filter(|p| first.contains_key(&p.lot))
            .count()
    }
}

fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

// ---- setup ----

/// A valid SIRET (Luhn) made of `head` and a check digit.
fn siret(n: usize) -> String {
    let head = format!("9{:012}", 4_500_000 + n * 7);
    for check in 0..10 {
        let candidate = format!("{head}{check}");
        let sum: u32 = candidate
            .bytes()
            .rev()
            .enumerate()
            .map(|(i, b)| {
                let d = u32::from(b - b'0');
                if i % 2 == 1 {
                    let x = d * 2;
                    if x > 9 { x - 9 } else { x }
                } else {
                    d
                }
            })
            .sum();
        if sum.is_multiple_of(10) {
            return candidate;
        }
    }
    unreachable!("one check digit fits")
}

/// Registers and verifies the partners, creates the site, and waits until
/// matching knows every partner and proposals flow to the observer.
async fn setup(stack: &Stack, observer: &Observer) -> String {
    let mut admin = stack.registry(Role::Admin, None).await;
    for i in 0..PARTNERS {
        // On a ring 2 to 8 km around Mulhouse, collecting within 20 km.
        let angle = i as f64 / PARTNERS as f64 * std::f64::consts::TAU;
        let km = 2.0 + (i % 4) as f64 * 2.0;
        let registered = admin
            .register_partner(rpb::RegisterPartnerRequest {
                partner: Some(rpb::Partner {
                    legal_name: format!("Atelier Réemploi Mulhouse {i}"),
                    siret: siret(i),
                    kinds: vec![rpb::PartnerKind::Aci as i32],
                    location: Some(tpb::GeoPoint {
                        latitude: 47.7508 + km / 111.0 * angle.sin(),
                        longitude: 7.3359 + km / 75.0 * angle.cos(),
                    }),
                    accepted_categories: vec!["radiateur".into()],
                    weekly_intake_kg: 30_000,
                    service_radius_km: 20,
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .expect("register partner")
            .into_inner();
        admin
            .verify_partner(rpb::VerifyPartnerRequest {
                name: registered.name,
                etag: String::new(),
            })
            .await
            .expect("verify partner");
    }
    let mut manager = stack.inventory(Role::SiteManager, Some(ORG), None).await;
    let site = manager
        .create_site(ipb::CreateSiteRequest {
            site: Some(ipb::Site {
                display_name: "Coteaux".into(),
                location: Some(tpb::GeoPoint {
                    latitude: 47.7460,
                    longitude: 7.3010,
                }),
                ..Default::default()
            }),
            request_id: String::new(),
            site_id: String::new(),
        })
        .await
        .expect("create site")
        .into_inner()
        .name;
    // A warm-up lot: matches every partner once all are verified in
    // matching, and its proposal shows the observer is receiving.
    common::warm_up(stack, &site, PARTNERS, |lot| observer.get(lot).is_some()).await;
    site
}

async fn drafts(stack: &Stack, site: &str) -> Vec<String> {
    let manager = stack.inventory(Role::SiteManager, Some(ORG), None).await;
    futures::stream::iter(0..COUNT)
        .map(|i| {
            let mut m = manager.clone();
            let req = ipb::CreateLotRequest {
                parent: site.to_string(),
                lot: Some(radiators(5 + (i % 20) as i64)),
                request_id: String::new(),
                lot_id: String::new(),
            };
            async move {
                m.create_lot(req)
                    .await
                    .expect("create lot")
                    .into_inner()
                    .name
            }
        })
        .buffered(CREATE_CONCURRENCY)
        .collect()
        .await
}

/// Waits until matching has applied everything the inventory published:
/// the inventory stream stops growing and matching's consumer has nothing
/// pending or unacknowledged.
async fn wait_idle(bus: &JetStreamBus, namespace: &str) {
    let js = bus.jetstream();
    let durable = format!(
        "{namespace}_{}",
        reemploi_matching::events::subscriptions(1)[0].durable
    );
    let mut stream = js
        .get_stream(bus.stream_name("inventory"))
        .await
        .expect("inventory stream");
    let mut last = u64::MAX;
    let mut quiet = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while quiet < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = stream
            .info()
            .await
            .expect("stream info")
            .state
            .last_sequence;
        let consumer = stream
            .consumer_info(&durable)
            .await
            .expect("matching consumer info");
        if now == last && consumer.num_pending == 0 && consumer.num_ack_pending == 0 {
            quiet += 1;
        } else {
            quiet = 0;
        }
        last = now;
    }
}

// ---- the run ----

/// The largest backlog seen on a consumer during the run: messages in its
/// stream not yet delivered plus delivered but not yet acknowledged.
struct Backlog {
    matching: u64,
    observer: u64,
}

/// Samples the backlog of matching's inventory consumer and of the
/// observer every 100 ms until `stop`.
async fn backlog(bus: JetStreamBus, namespace: String, stop: CancellationToken) -> Backlog {
    let js = bus.jetstream();
    let matching = format!(
        "{namespace}_{}",
        reemploi_matching::events::subscriptions(1)[0].durable
    );
    let observer = format!("{namespace}_bench-observer");
    let mut max = Backlog {
        matching: 0,
        observer: 0,
    };
    while !stop.is_cancelled() {
        for (stream, durable, slot) in [
            ("inventory", &matching, &mut max.matching),
            ("matching", &observer, &mut max.observer),
        ] {
            if let Ok(stream) = js.get_stream(bus.stream_name(stream)).await
                && let Ok(info) = stream.consumer_info(durable).await
            {
                *slot = (*slot).max(info.num_pending + info.num_ack_pending as u64);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    max
}

struct Published {
    lot: String,
    at: Instant,
    wall_ms: i64,
}

struct Run {
    published: Vec<Published>,
    failed: usize,
    /// Calls started per second.
    offered: f64,
    /// Calls returned OK per second, from the first call to the last OK.
    achieved: f64,
}

async fn publish_paced(stack: &Stack, lots: Vec<String>) -> Run {
    // A few HTTP/2 connections, as several site managers would use.
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(stack.inventory(Role::SiteManager, Some(ORG), None).await);
    }
    let mut calls = tokio::task::JoinSet::new();
    let start = tokio::time::Instant::now();
    for (i, lot) in lots.into_iter().enumerate() {
        tokio::time::sleep_until(start + tick(i)).await;
        let mut client = clients[i % clients.len()].clone();
        calls.spawn(async move {
            let result = client
                .publish_lot(ipb::PublishLotRequest {
                    name: lot.clone(),
                    etag: String::new(),
                })
                .await;
            let published = Published {
                lot,
                at: Instant::now(),
                wall_ms: wall_ms(),
            };
            result.map(|_| published)
        });
    }
    let offered = COUNT as f64 / start.elapsed().as_secs_f64();
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
    let last = published.iter().map(|p| p.at).max();
    let achieved = last.map_or(0.0, |last| {
        published.len() as f64 / last.duration_since(start.into_std()).as_secs_f64()
    });
    Run {
        published,
        failed,
        offered,
        achieved,
    }
}

// ---- the report ----

/// Nearest-rank percentile; `None` (never arrived) ranks above everything.
fn sorted(mut v: Vec<Option<Duration>>) -> Vec<Option<Duration>> {
    v.sort_by_key(|d| (d.is_none(), *d));
    v
}

fn ms(v: i64) -> Option<Duration> {
    Some(Duration::from_millis(u64::try_from(v).unwrap_or(0)))
}

fn report(baseline: &Baseline, run: &Run, observer: &Observer, backlog: &Backlog) {
    let event_to_proposal = sorted(
        run.published
            .iter()
            .map(|p| observer.get(&p.lot).map(|a| a.at.duration_since(p.at)))
            .collect(),
    );
    // The same split at the envelope's occur_time (wall clock, 1 ms steps).
    let arrivals: Vec<(i64, Arrival)> = run
        .published
        .iter()
        .filter_map(|p| observer.get(&p.lot).map(|a| (p.wall_ms, a)))
        .collect();
    let to_matching = sorted(
        arrivals
            .iter()
            .map(|(w, a)| ms(a.proposed_ms - w))
            .collect(),
    );
    let to_observer = sorted(
        arrivals
            .iter()
            .map(|(_, a)| ms(a.wall_ms - a.proposed_ms))
            .collect(),
    );
    let raw = sorted(baseline.latencies.clone());
    let acks = sorted(baseline.acks.iter().copied().map(Some).collect());
    let lost = event_to_proposal.iter().filter(|d| d.is_none()).count();
    let p99 = percentile(&event_to_proposal, 0.99);
    let met = p99.is_some_and(|d| d < GOAL);

    println!();
    println!("event to proposal over NATS: {COUNT} lots at {RATE}/s, {PARTNERS} partners, 1 site");
    println!("{:-<86}", "");
    println!(
        "{:<44} {:>12} {:>12} {:>14}",
        "measure", "p50", "p99", "rate"
    );
    println!("{:-<86}", "");
    let row = |name: &str, v: &[Option<Duration>], rate: String| {
        println!(
            "{:<44} {:>12} {:>12} {:>14}",
            name,
            fmt(percentile(v, 0.50)),
            fmt(percentile(v, 0.99)),
            rate
        );
    };
    row(
        "baseline: JetStream publish -> receive",
        &raw,
        format!("{:.1}/s", baseline.rate),
    );
    row(
        "baseline: JetStream publish -> PubAck",
        &acks,
        String::new(),
    );
    row(
        "PublishLot OK -> first match.proposed",
        &event_to_proposal,
        format!("{:.1}/s", run.achieved),
    );
    row(
        "  of which: PublishLot OK -> proposal made",
        &to_matching,
        String::new(),
    );
    row(
        "  of which: proposal made -> observer",
        &to_observer,
        String::new(),
    );
    println!("{:-<86}", "");
    println!(
        "PublishLot: {} OK, {} failed; offered {:.1}/s, achieved {:.1}/s; lots without a proposal after {}s: {lost}; proposals received: {}",
        run.published.len(),
        run.failed,
        run.offered,
        run.achieved,
        DRAIN.as_secs(),
        *observer.proposals.lock().unwrap(),
    );
    println!(
        "largest backlog: {} lot events waiting for matching, {} proposals waiting for the observer",
        backlog.matching, backlog.observer
    );
    println!(
        "goal: p99 event to proposal < {} ms: {} (p99 {})",
        GOAL.as_millis(),
        if met { "MET" } else { "MISSED" },
        fmt(p99)
    );
}

/// Deletes the namespace's streams (their names start with `prefix`).
async fn delete_streams(bus: &JetStreamBus, prefix: &str) {
    let js = bus.jetstream();
    let names: Vec<String> = js
        .stream_names()
        .filter_map(|n| async move { n.ok() })
        .collect()
        .await;
    for name in names.iter().filter(|n| n.starts_with(prefix)) {
        let _ = js.delete_stream(name).await;
    }
}
