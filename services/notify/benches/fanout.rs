//! Event to notification, fanned out, over NATS JetStream and PostgreSQL.
//!
//! 10,000 `match.proposed` events, each for one of 1,000 partners (ten
//! each), are published on the matching stream as matching publishes them
//! (the envelope, `PubAck` awaited, one after the other). The notification
//! service (its real consumer, projections and PostgreSQL database, served
//! over gRPC on a port) turns each into a notification for its partner and a
//! webhook delivery. Measured from the moment each publish returns:
//!
//! - in the app: until the partner's `WatchNotifications` stream (one per
//!   partner, 1,000 streams over 20 HTTP/2 connections) yields it;
//! - by webhook: until a local HTTP receiver (keep-alive) gets its signed
//!   POST (one subscription, to every proposal).
//!
//! Baseline, in the same run on the same server: the same 10,000 envelopes
//! published the same way on a stream of their own and received by a pull
//! consumer with explicit acks: publish to receive.
//!
//! Prints throughput (events over the time from the first publish to the
//! last arrival) and p50/p99 of each, and the ratios to the baseline. Run:
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres NATS_URL=nats://127.0.0.1:4222 \
//!     cargo bench -p reemploi-notify --bench fanout
//! ```
//!
//! Without either variable it says why and exits successfully.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{AckPolicy, pull};
use async_nats::jetstream::stream::{self, StorageType};
use futures::StreamExt;
use reemploi_events::{Bus, JetStreamBus, JetStreamOptions, Message};
use reemploi_proto::events::envelope::Payload;
use reemploi_proto::matching as mpb;
use reemploi_proto::notify as npb;
use reemploi_proto::notify::notification_service_client::NotificationServiceClient;
use reemploi_proto::notify::webhook_service_client::WebhookServiceClient;
use reemploi_runtime::auth::Role;
use reemploi_store::Backend;
use reemploi_testing::grpc::{self as testing, Bearer};
use tokio::sync::mpsc;
use uuid::Uuid;

/// Events published.
const EVENTS: usize = 10_000;
/// Partners, each with its own watcher.
const RECIPIENTS: usize = 1_000;
/// HTTP/2 connections the watchers share.
const CONNECTIONS: usize = 20;
/// How long the last arrivals may take.
const DRAIN: Duration = Duration::from_secs(180);
const SUBJECT: &str = "reemploi.matching.match.proposed";

fn main() {
    let missing: Vec<&str> = ["DATABASE_URL", "NATS_URL"]
        .into_iter()
        .filter(|v| std::env::var(v).map_or(true, |s| s.is_empty()))
        .collect();
    if !missing.is_empty() {
        println!("fanout bench skipped: set {}", missing.join(" and "));
        return;
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(run());
}

/// Arrivals of event `i` (by its lot's number), as they come.
type Arrivals = mpsc::UnboundedSender<(usize, Instant)>;

/// The proposal of lot `lot` (a number) to `partner`, as matching makes it.
fn proposal(lot: usize, partner: Uuid) -> Message {
    let name = format!("sites/bench/lots/l{lot}");
    let m = mpb::MatchProposal {
        name: format!("proposals/{}", Uuid::now_v7()),
        r#match: Some(mpb::Match {
            lot: name.clone(),
            partner: format!("partners/{partner}"),
            score: 0.8,
            ..Default::default()
        }),
        ..Default::default()
    };
    reemploi_runtime::envelope::message(
        "matching",
        SUBJECT.into(),
        m.name.clone(),
        1,
        0,
        Payload::MatchProposal(m),
    )
}

fn lot_number(resource: &str) -> Option<usize> {
    resource.strip_prefix("sites/bench/lots/l")?.parse().ok()
}

async fn run() {
    let namespace = reemploi_testing::nats::unique_namespace();
    let url = reemploi_testing::nats::nats_url();
    let bus: Arc<dyn Bus> = Arc::new(
        JetStreamBus::connect(
            &url,
            JetStreamOptions {
                namespace: Some(namespace.clone()),
                replicas: 1,
            },
        )
        .await
        .unwrap(),
    );
    let db = reemploi_testing::db::fresh(Backend::Postgres).await;
    let mut ctx = testing::context(db.db.clone(), bus.clone());
    // A thousand streams from one address: no rate limit in the way.
    ctx.auth = testing::authenticator();
    // The webhook receiver is on this machine: private targets allowed.
    let args = reemploi_notify::NotifyArgs {
        webhook_allow_private: true,
        ..Default::default()
    };
    let (running, _notify) =
        reemploi_notify::start_service(ctx.clone(), &args, &Default::default())
            .await
            .unwrap();
    let served = testing::spawn(&ctx, vec![running]).await;
    let partners: Vec<Uuid> = (0..RECIPIENTS).map(|_| Uuid::now_v7()).collect();

    let (in_app_tx, in_app_rx) = mpsc::unbounded_channel();
    watch_all(served.addr, &partners, in_app_tx).await;
    let (hook_tx, hook_rx) = mpsc::unbounded_channel();
    let receiver = receive_webhooks(hook_tx).await;
    subscribe_webhook(served.addr, receiver).await;
    let collected = Collected::start(in_app_rx, hook_rx);

    // Warm-up: one event per partner, until every watcher and the receiver have it.
    let warm: Vec<Message> = (0..RECIPIENTS)
        .map(|i| proposal(EVENTS + i, partners[i]))
        .collect();
    for m in &warm {
        bus.publish(m).await.unwrap();
    }
    collected
        .wait(EVENTS..EVENTS + RECIPIENTS, Duration::from_secs(120))
        .await;
    println!("fanout bench: warmed up ({RECIPIENTS} watchers and the webhook receiving)");

    let events: Vec<Message> = (0..EVENTS)
        .map(|i| proposal(i, partners[i % RECIPIENTS]))
        .collect();
    let mut published = Vec::with_capacity(EVENTS);
    for m in &events {
        bus.publish(m).await.unwrap();
        published.push(Instant::now());
    }
    collected.wait(0..EVENTS, DRAIN).await;
    let (in_app, hooks) = collected.times(EVENTS);
    let raw = baseline(&url, &namespace, &events).await;

    println!(
        "fanout bench: {EVENTS} events to {RECIPIENTS} recipients, published one after the other"
    );
    let raw_rate = report(
        "raw JetStream publish -> consume",
        &published_of(&raw),
        &raw.1,
    );
    let app_rate = report("in the app (event -> watcher)", &published, &in_app);
    let hook_rate = report("webhook (event -> receiver)", &published, &hooks);
    println!(
        "  ratios of throughput to raw: in the app {:.2}, webhook {:.2}",
        app_rate / raw_rate,
        hook_rate / raw_rate
    );
    served.stop().await.unwrap();
}

fn published_of(raw: &(Vec<Instant>, Vec<Option<Instant>>)) -> Vec<Instant> {
    raw.0.clone()
}

/// Prints throughput, p50 and p99; the throughput.
fn report(what: &str, published: &[Instant], arrived: &[Option<Instant>]) -> f64 {
    let mut latencies: Vec<Option<Duration>> = published
        .iter()
        .zip(arrived)
        .map(|(p, a)| a.map(|a| a.saturating_duration_since(*p)))
        .collect();
    latencies.sort_by_key(|d| (d.is_none(), *d));
    let q = |p: f64| {
        latencies[((p * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len()) - 1]
    };
    let lost = arrived.iter().filter(|a| a.is_none()).count();
    let last = arrived
        .iter()
        .flatten()
        .max()
        .copied()
        .unwrap_or(published[0]);
    let secs = last
        .saturating_duration_since(published[0])
        .as_secs_f64()
        .max(1e-9);
    let rate = (arrived.len() - lost) as f64 / secs;
    let ms = |d: Option<Duration>| {
        d.map_or("lost".to_owned(), |d| {
            format!("{:.1} ms", d.as_secs_f64() * 1e3)
        })
    };
    println!(
        "  {what}: {rate:.0} events/s, p50 {}, p99 {}, lost {lost}",
        ms(q(0.5)),
        ms(q(0.99))
    );
    rate
}

/// What the watchers and the receiver got, by event number.
struct Collected {
    in_app: Arc<Mutex<HashMap<usize, Instant>>>,
    hooks: Arc<Mutex<HashMap<usize, Instant>>>,
}

impl Collected {
    fn start(
        mut in_app: mpsc::UnboundedReceiver<(usize, Instant)>,
        mut hooks: mpsc::UnboundedReceiver<(usize, Instant)>,
    ) -> Collected {
        let c = Collected {
            in_app: Arc::default(),
            hooks: Arc::default(),
        };
        let (a, h) = (c.in_app.clone(), c.hooks.clone());
        tokio::spawn(async move {
            while let Some((i, t)) = in_app.recv().await {
                a.lock().unwrap().entry(i).or_insert(t);
            }
        });
        tokio::spawn(async move {
            while let Some((i, t)) = hooks.recv().await {
                h.lock().unwrap().entry(i).or_insert(t);
            }
        });
        c
    }

    async fn wait(&self, range: std::ops::Range<usize>, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let done = |m: &Mutex<HashMap<usize, Instant>>| {
                let m = m.lock().unwrap();
                range.clone().all(|i| m.contains_key(&i))
            };
            if (done(&self.in_app) && done(&self.hooks)) || Instant::now() > deadline {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn times(&self, n: usize) -> (Vec<Option<Instant>>, Vec<Option<Instant>>) {
        let get = |m: &Mutex<HashMap<usize, Instant>>| {
            let m = m.lock().unwrap();
            (0..n).map(|i| m.get(&i).copied()).collect()
        };
        (get(&self.in_app), get(&self.hooks))
    }
}

/// One WatchNotifications stream per partner; each arrival to `arrivals`.
async fn watch_all(addr: SocketAddr, partners: &[Uuid], arrivals: Arrivals) {
    let mut channels = Vec::new();
    for _ in 0..CONNECTIONS {
        channels.push(testing::channel(addr).await);
    }
    for (i, partner) in partners.iter().enumerate() {
        let token = testing::token(Role::Partner, None, Some(&partner.to_string()));
        let mut client = NotificationServiceClient::with_interceptor(
            channels[i % CONNECTIONS].clone(),
            Bearer(Some(token)),
        );
        let mut stream = client
            .watch_notifications(npb::WatchNotificationsRequest {})
            .await
            .unwrap()
            .into_inner();
        let arrivals = arrivals.clone();
        tokio::spawn(async move {
            while let Some(Ok(n)) = stream.next().await {
                if let Some(i) = lot_number(&n.resource) {
                    let _ = arrivals.send((i, Instant::now()));
                }
            }
        });
    }
}

/// A local receiver of webhooks (HTTP/1.1, keep-alive); its address.
async fn receive_webhooks(arrivals: Arrivals) -> SocketAddr {
    use axum::routing::post;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/hooks",
        post(move |body: axum::body::Bytes| {
            let arrivals = arrivals.clone();
            async move {
                let at = Instant::now();
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let bytes = base64_decode(v["data"].as_str().unwrap_or_default());
                if let Some(i) = lot_of_envelope(&bytes) {
                    let _ = arrivals.send((i, at));
                }
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s))
        .unwrap_or_default()
}

fn lot_of_envelope(bytes: &[u8]) -> Option<usize> {
    use prost::Message as _;
    let envelope = reemploi_proto::events::Envelope::decode(bytes).ok()?;
    match envelope.payload? {
        Payload::MatchProposal(m) => lot_number(&m.r#match?.lot),
        _ => None,
    }
}

async fn subscribe_webhook(addr: SocketAddr, receiver: SocketAddr) {
    let token = testing::token(Role::Integrator, None, None);
    let mut hooks =
        WebhookServiceClient::with_interceptor(testing::channel(addr).await, Bearer(Some(token)));
    hooks
        .create_webhook(npb::CreateWebhookRequest {
            webhook: Some(npb::Webhook {
                url: format!("http://{receiver}/hooks"),
                event_types: vec!["matching.match.proposed".into()],
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap();
}

/// The same envelopes, published one after the other on a stream of their
/// own, received by a pull consumer: publish times and arrival times.
async fn baseline(
    url: &str,
    namespace: &str,
    events: &[Message],
) -> (Vec<Instant>, Vec<Option<Instant>>) {
    let client = async_nats::connect(url).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let subject = format!("{namespace}.bench.raw");
    let stream = js
        .create_stream(stream::Config {
            name: format!(
                "BENCH_RAW_{}",
                namespace.to_uppercase().replace(['-', '.'], "_")
            ),
            subjects: vec![subject.clone()],
            storage: StorageType::File,
            ..Default::default()
        })
        .await
        .unwrap();
    let consumer = stream
        .create_consumer(pull::Config {
            durable_name: Some("raw".into()),
            ack_policy: AckPolicy::Explicit,
            ..Default::default()
        })
        .await
        .unwrap();
    let arrived: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; events.len()]));
    let seen = arrived.clone();
    let n = events.len();
    let reader = tokio::spawn(async move {
        let mut messages = consumer.messages().await.unwrap();
        let mut count = 0;
        while count < n {
            let Some(Ok(m)) = messages.next().await else {
                break;
            };
            let at = Instant::now();
            if let Some(i) = lot_of_envelope(&m.payload) {
                seen.lock().unwrap()[i] = Some(at);
                count += 1;
            }
            m.ack().await.unwrap();
        }
    });
    let mut published = Vec::with_capacity(n);
    for m in events {
        js.publish(subject.clone(), m.payload.clone())
            .await
            .unwrap()
            .await
            .unwrap();
        published.push(Instant::now());
    }
    let _ = tokio::time::timeout(DRAIN, reader).await;
    let arrived = arrived.lock().unwrap().clone();
    js.delete_stream(stream.cached_info().config.name.clone())
        .await
        .unwrap();
    (published, arrived)
}
