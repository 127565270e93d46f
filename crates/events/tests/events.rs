//! Tests of reemploi-events against a real NATS JetStream (NATS_URL, and
//! throwaway nats-server processes for fault tests) and real databases
//! (SQLite files, PostgreSQL at DATABASE_URL).

// Test helpers (not only #[test] fns) may panic: a failure is what they report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::consumer::DeliverPolicy;
use futures::StreamExt;
use reemploi_events::outbox::{self, Relay};
use reemploi_events::{
    Bus, BusError, Handler, HandlerError, InProcessBus, JetStreamBus, JetStreamOptions, Message,
    Subscription, inbox, subject_matches,
};
use reemploi_store::{Backend, Db};
use reemploi_testing::db::{self as store_testing, TestDb};
use reemploi_testing::nats::{NatsServer, nats_url, unique_namespace};
use sqlx::Row;
use tokio_util::sync::CancellationToken;

// ---------------------------------------------------------------- helpers

async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if cond().await {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A database with the outbox/inbox tables (from the published SQL) and a
/// table the test consumer applies events to.
async fn events_db(backend: Backend) -> TestDb {
    let t = store_testing::fresh(backend).await;
    let tables = reemploi_events::outbox_tables_sql(backend);
    let applied = match backend {
        Backend::Sqlite => {
            "CREATE TABLE applied (ord INTEGER PRIMARY KEY AUTOINCREMENT, consumer TEXT NOT NULL, \
             event_id TEXT NOT NULL, subject TEXT NOT NULL, payload BLOB NOT NULL, \
             UNIQUE (consumer, event_id))"
        }
        Backend::Postgres => {
            "CREATE TABLE applied (ord BIGSERIAL PRIMARY KEY, consumer TEXT NOT NULL, \
             event_id TEXT NOT NULL, subject TEXT NOT NULL, payload BYTEA NOT NULL, \
             UNIQUE (consumer, event_id))"
        }
    };
    sqlx::raw_sql(sqlx::AssertSqlSafe(tables))
        .execute(t.db.pool())
        .await
        .unwrap();
    sqlx::raw_sql(applied).execute(t.db.pool()).await.unwrap();
    t
}

/// A consumer that applies each event to the `applied` table through the
/// inbox, optionally failing on chosen events.
struct Applier {
    db: Db,
    consumer: String,
    calls: AtomicUsize,
    /// event_id -> transient failures still to produce.
    transient: Mutex<HashMap<String, usize>>,
    permanent: HashSet<String>,
}

impl Applier {
    fn new(db: &Db, consumer: &str) -> Applier {
        Applier {
            db: db.clone(),
            consumer: consumer.to_owned(),
            calls: AtomicUsize::new(0),
            transient: Mutex::new(HashMap::new()),
            permanent: HashSet::new(),
        }
    }

    async fn applied(&self) -> Vec<(String, String, Vec<u8>)> {
        sqlx::query(
            "SELECT event_id, subject, payload FROM applied WHERE consumer = $1 ORDER BY ord",
        )
        .bind(self.consumer.as_str())
        .fetch_all(self.db.pool())
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
    }

    async fn count(&self) -> usize {
        self.applied().await.len()
    }
}

#[async_trait::async_trait]
impl Handler for Applier {
    async fn handle(&self, msg: &Message) -> Result<(), HandlerError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.permanent.contains(&msg.event_id) {
            return Err(HandlerError::Permanent("undecodable".into()));
        }
        {
            let mut transient = self.transient.lock().unwrap();
            if let Some(left) = transient.get_mut(&msg.event_id)
                && *left > 0
            {
                *left -= 1;
                return Err(HandlerError::Transient("database busy".into()));
            }
        }
        let mut tx = self.db.begin_write().await?;
        if !inbox::first_time(&mut tx, &self.consumer, &msg.event_id).await? {
            tx.commit().await?;
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO applied (consumer, event_id, subject, payload) VALUES ($1, $2, $3, $4)",
        )
        .bind(self.consumer.as_str())
        .bind(msg.event_id.as_str())
        .bind(msg.subject.as_str())
        .bind(msg.payload.to_vec())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Records what it receives, in memory.
#[derive(Default)]
struct Recorder {
    got: Mutex<Vec<Message>>,
    fail: bool,
}

impl Recorder {
    fn subjects(&self) -> Vec<String> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|m| m.subject.clone())
            .collect()
    }
    fn messages(&self) -> Vec<Message> {
        self.got.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl Handler for Recorder {
    async fn handle(&self, msg: &Message) -> Result<(), HandlerError> {
        self.got.lock().unwrap().push(msg.clone());
        if self.fail {
            return Err(HandlerError::Transient("nope".into()));
        }
        Ok(())
    }
}

async fn shared_bus(ns: &str) -> JetStreamBus {
    JetStreamBus::connect(
        &nats_url(),
        JetStreamOptions {
            namespace: Some(ns.to_owned()),
            replicas: 1,
        },
    )
    .await
    .expect("connect to NATS_URL")
}

/// Deletes a test's streams from the shared server.
async fn delete_streams(bus: &JetStreamBus, services: &[&str]) {
    for service in services {
        let _ = bus
            .jetstream()
            .delete_stream(bus.stream_name(service))
            .await;
    }
}

async fn stream_len(bus: &JetStreamBus, service: &str) -> u64 {
    let mut stream = bus
        .jetstream()
        .get_stream(bus.stream_name(service))
        .await
        .unwrap();
    stream.info().await.unwrap().state.messages
}

fn event(subject: &str, n: usize) -> Message {
    Message::new(subject, format!("payload-{n}").into_bytes())
}

async fn enqueue_committed(db: &Db, msgs: &[Message]) {
    for msg in msgs {
        let mut tx = db.begin_write().await.unwrap();
        outbox::enqueue(&mut tx, msg).await.unwrap();
        tx.commit().await.unwrap();
    }
}

// ---------------------------------------------------------------- subjects

#[test]
fn subject_matches_follows_nats_wildcard_rules() {
    let table = [
        (
            "reemploi.inventory.lot.published",
            "reemploi.inventory.lot.published",
            true,
        ),
        (
            "reemploi.inventory.lot.published",
            "reemploi.inventory.lot.withdrawn",
            false,
        ),
        (
            "reemploi.inventory.>",
            "reemploi.inventory.lot.published",
            true,
        ),
        ("reemploi.inventory.>", "reemploi.inventory.claim", true),
        ("reemploi.inventory.>", "reemploi.inventory", false),
        ("reemploi.*.lot.*", "reemploi.inventory.lot.published", true),
        (
            "reemploi.*.lot.*",
            "reemploi.inventory.claim.confirmed",
            false,
        ),
        ("reemploi.*.lot.*", "reemploi.inventory.lot", false),
        (
            "reemploi.*.lot.*",
            "reemploi.inventory.lot.published.extra",
            false,
        ),
        ("reemploi.*", "reemploi.inventory", true),
        ("reemploi.*", "reemploi.inventory.lot", false),
        (">", "reemploi", true),
        (">", "a.b.c", true),
        ("*", "a", true),
        ("*", "a.b", false),
        (
            "reemploi.registry.partner.>",
            "reemploi.registry.partner.verified",
            true,
        ),
        (
            "reemploi.registry.partner.>",
            "reemploi.registry.partners.verified",
            false,
        ),
        ("reemploi.registry", "reemploi.registry.partner", false),
        ("a.>.b", "a.x.b", false),
        ("", "a", false),
        ("a", "", false),
        ("a.*", "a.", false),
    ];
    for (filter, subject, expected) in table {
        assert_eq!(
            subject_matches(filter, subject),
            expected,
            "filter {filter:?} subject {subject:?}"
        );
    }
}

// ---------------------------------------------------------------- in process

async fn temporary_bus() -> InProcessBus {
    InProcessBus::temporary().await.expect("in-process bus")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_bus_delivers_to_matching_subscribers_only() {
    let bus = temporary_bus().await;
    let shutdown = CancellationToken::new();
    let lots = Arc::new(Recorder::default());
    let all_inventory = Arc::new(Recorder::default());
    let partners = Arc::new(Recorder::default());
    let stopped = Arc::new(Recorder::default());
    for (durable, filter, rec) in [
        ("m-lots", "reemploi.*.lot.*", &lots),
        ("m-inventory", "reemploi.inventory.>", &all_inventory),
        ("m-partners", "reemploi.registry.partner.>", &partners),
    ] {
        bus.subscribe(
            Subscription::new(durable, "any", filter),
            rec.clone(),
            shutdown.clone(),
        )
        .await
        .unwrap();
    }
    let gone = CancellationToken::new();
    let gone_task = bus
        .subscribe(
            Subscription::new("m-gone", "inventory", ">"),
            stopped.clone(),
            gone.clone(),
        )
        .await
        .unwrap();
    gone.cancel();
    gone_task.await.unwrap();

    for subject in [
        "reemploi.inventory.lot.published",
        "reemploi.inventory.claim.confirmed",
        "reemploi.registry.partner.verified",
        "reemploi.matching.match.proposed",
    ] {
        bus.publish(&Message::new(subject, &b"x"[..]))
            .await
            .unwrap();
    }
    wait_until(
        "every subscriber caught up",
        Duration::from_secs(10),
        || async {
            for durable in ["m-lots", "m-inventory", "m-partners"] {
                if bus.backlog(durable).await.unwrap() > 0 {
                    return false;
                }
            }
            true
        },
    )
    .await;
    assert_eq!(lots.subjects(), ["reemploi.inventory.lot.published"]);
    assert_eq!(
        all_inventory.subjects(),
        [
            "reemploi.inventory.lot.published",
            "reemploi.inventory.claim.confirmed"
        ]
    );
    assert_eq!(partners.subjects(), ["reemploi.registry.partner.verified"]);
    assert!(
        stopped.subjects().is_empty(),
        "a cancelled subscription got messages"
    );
    assert!(bus.dead_letters(None, 10).await.unwrap().is_empty());
    // Malformed subjects are refused.
    let err = bus
        .publish(&Message::new("reemploi.inventory.*", &b""[..]))
        .await
        .unwrap_err();
    assert!(matches!(err, BusError::Config(_)), "{err:?}");
}

/// A handler that takes its time with every message.
struct Slow(Duration, Recorder);

#[async_trait::async_trait]
impl Handler for Slow {
    async fn handle(&self, msg: &Message) -> Result<(), HandlerError> {
        tokio::time::sleep(self.0).await;
        self.1.handle(msg).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_failing_or_slow_subscriber_delays_nobody() {
    let bus = temporary_bus().await;
    let shutdown = CancellationToken::new();
    let ok = Arc::new(Recorder::default());
    let failing = Arc::new(Recorder {
        fail: true,
        ..Recorder::default()
    });
    let slow = Arc::new(Slow(Duration::from_secs(30), Recorder::default()));
    for (durable, handler) in [
        ("ok", ok.clone() as Arc<dyn Handler>),
        ("failing", failing.clone()),
        ("slow", slow.clone()),
    ] {
        bus.subscribe(
            Subscription::new(durable, "inventory", "reemploi.>").with_max_deliver(3),
            handler,
            shutdown.clone(),
        )
        .await
        .unwrap();
    }
    let msg = Message::new("reemploi.inventory.lot.published", &b"lot"[..]);
    // The publisher (a relay) is never held back by a subscriber.
    tokio::time::timeout(Duration::from_secs(2), bus.publish(&msg))
        .await
        .expect("publish returns without waiting for subscribers")
        .unwrap();
    let started = tokio::time::Instant::now();
    wait_until(
        "the healthy subscriber got it",
        Duration::from_secs(5),
        || async { ok.messages().len() == 1 },
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a slow subscriber held back another"
    );
    // The failing one is tried max_deliver times, then gives up: a dead letter.
    wait_until(
        "the failing subscriber dead-lettered it",
        Duration::from_secs(10),
        || async { !bus.dead_letters(None, 10).await.unwrap().is_empty() },
    )
    .await;
    assert_eq!(failing.messages().len(), 3);
    let dead = bus.dead_letters(None, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].durable, "failing");
    assert_eq!(dead[0].message, msg);
    assert!(dead[0].reason.contains("nope"), "{}", dead[0].reason);
    assert_eq!(ok.messages().len(), 1, "delivered once to the healthy one");
    // What metrics show of each: the failing one's repeats and its dead
    // letter, the slow one still holding its message (a lag of one).
    let stats = bus.consumer_stats().await;
    let of = |durable: &str| {
        let s = stats.iter().find(|s| s.durable == durable).unwrap();
        (s.delivered, s.redelivered, s.dead_lettered, s.lag)
    };
    assert_eq!(of("ok"), (1, 0, 0, Some(0)));
    assert_eq!(of("failing"), (3, 2, 1, Some(0)));
    assert_eq!(of("slow"), (1, 0, 0, Some(1)));
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_dead_letter_is_replayed_to_its_subscriber_only() {
    let t = events_db(Backend::Sqlite).await;
    let bus = temporary_bus().await;
    let mut applier = Applier::new(&t.db, "c");
    let other = Arc::new(Recorder::default());
    let bad = event("reemploi.inventory.lot.published", 0);
    applier.permanent.insert(bad.event_id.clone());
    let applier = Arc::new(applier);
    let shutdown = CancellationToken::new();
    bus.subscribe(
        Subscription::new("c", "inventory", "reemploi.inventory.>"),
        applier.clone(),
        shutdown.clone(),
    )
    .await
    .unwrap();
    bus.subscribe(
        Subscription::new("other", "inventory", "reemploi.inventory.>"),
        other.clone(),
        shutdown.clone(),
    )
    .await
    .unwrap();
    bus.publish(&bad).await.unwrap();
    // A permanent failure is dead-lettered at once.
    wait_until("dead-lettered", Duration::from_secs(5), || async {
        bus.dead_letters(None, 10).await.unwrap().len() == 1
    })
    .await;
    assert_eq!(applier.calls.load(Ordering::SeqCst), 1);
    let dead = bus.dead_letters(None, 10).await.unwrap().remove(0);
    assert_eq!((dead.durable.as_str(), &dead.message), ("c", &bad));

    // Fixed (the handler accepts it now), the dead letter is replayed to
    // its own subscriber, which applies it; the other one is not bothered.
    let fixed = Arc::new(Applier::new(&t.db, "c"));
    shutdown.cancel();
    let shutdown = CancellationToken::new();
    bus.subscribe(
        Subscription::new("c", "inventory", "reemploi.inventory.>"),
        fixed.clone(),
        shutdown.clone(),
    )
    .await
    .unwrap();
    bus.replay(&dead.id).await.unwrap();
    wait_until("replayed and applied", Duration::from_secs(5), || async {
        fixed.count().await == 1
    })
    .await;
    assert!(bus.dead_letters(None, 10).await.unwrap().is_empty());
    assert_eq!(other.messages().len(), 1);
    assert!(matches!(
        bus.replay(&dead.id).await,
        Err(BusError::Rejected(_))
    ));
    shutdown.cancel();
}

/// A handler whose storage is down for its first `outage` calls.
struct Outage {
    inner: Applier,
    outage: AtomicUsize,
}

#[async_trait::async_trait]
impl Handler for Outage {
    async fn handle(&self, msg: &Message) -> Result<(), HandlerError> {
        if self
            .outage
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(HandlerError::Unavailable("database down".into()));
        }
        self.inner.handle(msg).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_storage_outage_only_delays() {
    let t = events_db(Backend::Sqlite).await;
    let bus = temporary_bus().await;
    let outage = Arc::new(Outage {
        inner: Applier::new(&t.db, "c"),
        outage: AtomicUsize::new(6),
    });
    bus.subscribe(
        Subscription::new("c", "inventory", "reemploi.inventory.>").with_max_deliver(2),
        outage.clone(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let msgs: Vec<Message> = (0..3)
        .map(|n| event("reemploi.inventory.lot.published", n))
        .collect();
    for msg in &msgs {
        bus.publish(msg).await.unwrap();
    }
    wait_until(
        "applied after the outage",
        Duration::from_secs(20),
        || async { outage.inner.count().await == 3 },
    )
    .await;
    assert!(bus.dead_letters(None, 10).await.unwrap().is_empty());
    let applied: Vec<String> = outage
        .inner
        .applied()
        .await
        .into_iter()
        .map(|a| a.0)
        .collect();
    let expected: Vec<String> = msgs.iter().map(|m| m.event_id.clone()).collect();
    assert_eq!(applied, expected, "in order, once each");
}

/// Embedded mode end to end: outbox on SQLite, relay, in-process bus, inbox;
/// what the bus accepted survives the process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_over_in_process_bus_loses_nothing_across_a_restart() {
    let t = events_db(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("bus.db");
    let msgs: Vec<Message> = (0..5)
        .map(|n| event("reemploi.inventory.lot.published", n))
        .collect();
    enqueue_committed(&t.db, &msgs).await;
    {
        // The relay hands everything to the bus; the process then dies
        // before any subscriber ran.
        let bus = Arc::new(InProcessBus::open(&log).await.unwrap());
        let relay = Relay::new(t.db.clone(), bus.clone());
        assert_eq!(relay.drain().await.unwrap(), 5);
        assert_eq!(relay.pending().await.unwrap(), 0);
    }
    let bus = Arc::new(InProcessBus::open(&log).await.unwrap());
    let applier = Arc::new(Applier::new(&t.db, "embedded"));
    applier
        .transient
        .lock()
        .unwrap()
        .insert(msgs[2].event_id.clone(), 1);
    bus.subscribe(
        Subscription::new("embedded", "inventory", "reemploi.inventory.>"),
        applier.clone(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    wait_until("all applied", Duration::from_secs(10), || async {
        applier.count().await == 5
    })
    .await;
    let mut applied: Vec<String> = applier.applied().await.into_iter().map(|a| a.0).collect();
    let mut expected: Vec<String> = msgs.iter().map(|m| m.event_id.clone()).collect();
    // The one that failed once comes back after the others.
    assert_eq!(applied.last(), Some(&msgs[2].event_id));
    applied.sort();
    expected.sort();
    assert_eq!(applied, expected);
    // A relay retrying after a crash does not append twice.
    let again = Relay::new(t.db.clone(), bus.clone());
    assert_eq!(again.drain().await.unwrap(), 0);
    bus.publish(&msgs[0]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(applier.calls.load(Ordering::SeqCst), 6);
}

// ---------------------------------------------------------------- JetStream

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_consumer_applies_every_event_once_on_both_backends() {
    for backend in Backend::ALL {
        let ns = unique_namespace();
        let bus = shared_bus(&ns).await;
        let t = events_db(backend).await;
        let applier = Arc::new(Applier::new(&t.db, "matching-lots"));
        let shutdown = CancellationToken::new();
        bus.subscribe(
            Subscription::new("matching-lots", "inventory", "reemploi.inventory.lot.>"),
            applier.clone(),
            shutdown.clone(),
        )
        .await
        .unwrap();

        let msgs: Vec<Message> = (0..20)
            .map(|n| event("reemploi.inventory.lot.published", n))
            .collect();
        for msg in &msgs {
            bus.publish(msg).await.unwrap();
        }
        // Published again with the same event ids (a relay retry): dropped by
        // the broker's duplicate window.
        for msg in &msgs[..5] {
            bus.publish(msg).await.unwrap();
        }
        // Another subject in the stream, outside the consumer's filter.
        bus.publish(&event("reemploi.inventory.claim.confirmed", 99))
            .await
            .unwrap();

        wait_until("20 applied events", Duration::from_secs(10), || async {
            applier.count().await >= 20
        })
        .await;
        assert_eq!(stream_len(&bus, "inventory").await, 21, "{backend:?}");
        // Give a stray redelivery the chance to show up.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let applied = applier.applied().await;
        assert_eq!(applied.len(), 20, "{backend:?}");
        for (msg, (event_id, subject, payload)) in msgs.iter().zip(&applied) {
            assert_eq!(&msg.event_id, event_id, "{backend:?}: order");
            assert_eq!(&msg.subject, subject, "handlers see un-prefixed subjects");
            assert_eq!(msg.payload.as_ref(), payload.as_slice());
        }
        assert_eq!(applier.calls.load(Ordering::SeqCst), 20, "{backend:?}");

        // The inbox makes a repeat harmless.
        applier.handle(&msgs[0]).await.unwrap();
        assert_eq!(applier.count().await, 20);

        shutdown.cancel();
        delete_streams(&bus, &["inventory", "deadletter"]).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_transient_failure_is_redelivered_and_permanent_one_dead_lettered() {
    let ns = unique_namespace();
    let bus = shared_bus(&ns).await;
    let t = events_db(Backend::Sqlite).await;
    let shutdown = CancellationToken::new();

    let retried = event("reemploi.registry.partner.verified", 1);
    let undecodable = event("reemploi.registry.partner.verified", 2);
    let hopeless = event("reemploi.registry.partner.verified", 3);
    let fine = event("reemploi.registry.partner.created", 4);
    let mut applier = Applier::new(&t.db, "inventory-partners");
    applier.permanent.insert(undecodable.event_id.clone());
    {
        let mut transient = applier.transient.lock().unwrap();
        transient.insert(retried.event_id.clone(), 2);
        transient.insert(hopeless.event_id.clone(), usize::MAX);
    }
    let applier = Arc::new(applier);
    bus.subscribe(
        Subscription::new(
            "inventory-partners",
            "registry",
            "reemploi.registry.partner.>",
        )
        .with_max_deliver(3),
        applier.clone(),
        shutdown.clone(),
    )
    .await
    .unwrap();

    // A watcher of the dead-letter subject, itself a durable subscription.
    let dead = Arc::new(Recorder::default());
    bus.subscribe(
        Subscription::new(
            "dl-watch",
            "deadletter",
            "reemploi.deadletter.inventory-partners",
        ),
        dead.clone(),
        shutdown.clone(),
    )
    .await
    .unwrap();

    for msg in [&retried, &undecodable, &hopeless, &fine] {
        bus.publish(msg).await.unwrap();
    }

    wait_until("two dead letters", Duration::from_secs(15), || async {
        dead.messages().len() >= 2
    })
    .await;
    wait_until("retried event applied", Duration::from_secs(10), || async {
        applier.count().await >= 2
    })
    .await;

    let applied: HashSet<String> = applier.applied().await.into_iter().map(|a| a.0).collect();
    assert_eq!(
        applied,
        HashSet::from([retried.event_id.clone(), fine.event_id.clone()])
    );
    let dead_letters = dead.messages();
    assert_eq!(dead_letters.len(), 2);
    for d in &dead_letters {
        assert_eq!(d.subject, "reemploi.deadletter.inventory-partners");
    }
    let payloads: HashSet<Vec<u8>> = dead_letters.iter().map(|d| d.payload.to_vec()).collect();
    assert_eq!(
        payloads,
        HashSet::from([undecodable.payload.to_vec(), hopeless.payload.to_vec()])
    );
    // retried: 3 calls; undecodable: 1; hopeless: max_deliver = 3; fine: 1.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(applier.calls.load(Ordering::SeqCst), 8);
    // The same as metrics show it: 8 deliveries, 4 of them repeats, 2 dead
    // letters, and nothing left in the stream for the consumer.
    let stats = bus.consumer_stats().await;
    let partners = stats
        .iter()
        .find(|s| s.durable == "inventory-partners")
        .unwrap();
    assert_eq!(
        (
            partners.delivered,
            partners.redelivered,
            partners.dead_lettered,
            partners.lag
        ),
        (8, 4, 2, Some(0))
    );

    shutdown.cancel();
    delete_streams(&bus, &["registry", "deadletter"]).await;
}

// ---------------------------------------------------------------- relay

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_publishes_outbox_in_order_on_both_backends() {
    for backend in Backend::ALL {
        let ns = unique_namespace();
        let bus = Arc::new(shared_bus(&ns).await);
        let producer = events_db(backend).await;
        let consumer_db = events_db(backend).await;
        let applier = Arc::new(Applier::new(&consumer_db.db, "matching-inventory"));
        let shutdown = CancellationToken::new();
        bus.subscribe(
            Subscription::new("matching-inventory", "inventory", "reemploi.inventory.>"),
            applier.clone(),
            shutdown.clone(),
        )
        .await
        .unwrap();

        let relay = Relay::new(producer.db.clone(), bus.clone());
        tokio::spawn(relay.clone().run(shutdown.clone()));
        let msgs: Vec<Message> = (0..20)
            .map(|n| {
                let subject = if n % 2 == 0 {
                    "reemploi.inventory.lot.published"
                } else {
                    "reemploi.inventory.claim.created"
                };
                event(subject, n)
            })
            .collect();
        for msg in &msgs {
            let mut tx = producer.db.begin_write().await.unwrap();
            outbox::enqueue(&mut tx, msg).await.unwrap();
            tx.commit().await.unwrap();
            relay.notify();
        }

        wait_until("20 relayed events", Duration::from_secs(10), || async {
            applier.count().await >= 20
        })
        .await;
        let applied: Vec<String> = applier.applied().await.into_iter().map(|a| a.0).collect();
        let expected: Vec<String> = msgs.iter().map(|m| m.event_id.clone()).collect();
        assert_eq!(applied, expected, "{backend:?}: in order, each once");
        wait_until("outbox marked", Duration::from_secs(5), || async {
            relay.pending().await.unwrap() == 0
        })
        .await;
        assert_eq!(stream_len(&bus, "inventory").await, 20);

        // An event id enqueued twice is refused by the outbox itself.
        let mut tx = producer.db.begin_write().await.unwrap();
        let err = outbox::enqueue(&mut tx, &msgs[0]).await.unwrap_err();
        assert!(
            matches!(err, reemploi_store::StoreError::UniqueViolation { .. }),
            "{err:?}"
        );
        drop(tx);

        shutdown.cancel();
        delete_streams(&bus, &["inventory", "deadletter"]).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_delivers_events_committed_before_a_process_restart() {
    for backend in Backend::ALL {
        let ns = unique_namespace();
        let bus = Arc::new(shared_bus(&ns).await);
        let producer = events_db(backend).await;
        let applier = Arc::new(Applier::new(&producer.db, "restart"));
        let shutdown = CancellationToken::new();
        bus.subscribe(
            Subscription::new("restart", "inventory", "reemploi.inventory.>"),
            applier.clone(),
            shutdown.clone(),
        )
        .await
        .unwrap();

        // Committed, then the "process" died before any relay ran.
        let msgs: Vec<Message> = (0..5)
            .map(|n| event("reemploi.inventory.lot.withdrawn", n))
            .collect();
        {
            let db = Db::connect(&producer.url).await.unwrap();
            enqueue_committed(&db, &msgs).await;
            db.close().await;
        }

        // The restarted process: a new pool and a new relay.
        let db = Db::connect(&producer.url).await.unwrap();
        let relay = Relay::new(db.clone(), bus.clone());
        assert_eq!(relay.pending().await.unwrap(), 5);
        tokio::spawn(relay.clone().run(shutdown.clone()));
        wait_until(
            "5 delivered after restart",
            Duration::from_secs(10),
            || async { applier.count().await >= 5 },
        )
        .await;
        assert_eq!(relay.pending().await.unwrap(), 0);
        let applied: Vec<String> = applier.applied().await.into_iter().map(|a| a.0).collect();
        let expected: Vec<String> = msgs.iter().map(|m| m.event_id.clone()).collect();
        assert_eq!(applied, expected, "{backend:?}");

        shutdown.cancel();
        delete_streams(&bus, &["inventory", "deadletter"]).await;
    }
}

/// Two relays (replicas) on one PostgreSQL outbox publish each event once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_relays_on_postgres_keep_order_without_duplicates() {
    let ns = unique_namespace();
    let bus = Arc::new(shared_bus(&ns).await);
    let producer = events_db(Backend::Postgres).await;
    let msgs: Vec<Message> = (0..30)
        .map(|n| event("reemploi.inventory.lot.published", n))
        .collect();
    enqueue_committed(&producer.db, &msgs).await;
    bus.ensure_stream("inventory").await.unwrap();

    let a = Relay::new(producer.db.clone(), bus.clone());
    let b = Relay::new(Db::connect(&producer.url).await.unwrap(), bus.clone());
    let (ra, rb) = tokio::join!(a.drain(), b.drain());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    // Whoever lost the election may find rows left; drain until empty.
    let rest = a.drain().await.unwrap();
    assert_eq!(ra + rb + rest, 30, "each row published by one relay");
    assert_eq!(a.pending().await.unwrap(), 0);
    assert_eq!(stream_len(&bus, "inventory").await, 30);

    let applier = Arc::new(Applier::new(&producer.db, "order"));
    let shutdown = CancellationToken::new();
    bus.subscribe(
        Subscription::new("order", "inventory", "reemploi.inventory.>"),
        applier.clone(),
        shutdown.clone(),
    )
    .await
    .unwrap();
    wait_until("30 applied", Duration::from_secs(10), || async {
        applier.count().await >= 30
    })
    .await;
    let applied: Vec<String> = applier.applied().await.into_iter().map(|a| a.0).collect();
    let expected: Vec<String> = msgs.iter().map(|m| m.event_id.clone()).collect();
    assert_eq!(applied, expected);
    shutdown.cancel();
    delete_streams(&bus, &["inventory", "deadletter"]).await;
}

/// The broker dies with events pending: producers keep committing, the relay
/// keeps retrying, and after the restart everything arrives exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_and_consumer_survive_a_broker_restart_on_both_backends() {
    let mut server = NatsServer::start().await;
    for backend in Backend::ALL {
        let bus = Arc::new(
            JetStreamBus::connect(
                &server.url(),
                JetStreamOptions {
                    namespace: Some(unique_namespace()),
                    replicas: 0,
                },
            )
            .await
            .unwrap(),
        );
        let producer = events_db(backend).await;
        let consumer_db = events_db(backend).await;
        let applier = Arc::new(Applier::new(&consumer_db.db, "survivor"));
        let shutdown = CancellationToken::new();
        bus.subscribe(
            Subscription::new("survivor", "inventory", "reemploi.inventory.>"),
            applier.clone(),
            shutdown.clone(),
        )
        .await
        .unwrap();
        let relay =
            Relay::with_poll_interval(producer.db.clone(), bus.clone(), Duration::from_millis(100));
        tokio::spawn(relay.clone().run(shutdown.clone()));

        let before: Vec<Message> = (0..5)
            .map(|n| event("reemploi.inventory.lot.published", n))
            .collect();
        enqueue_committed(&producer.db, &before).await;
        relay.notify();
        wait_until("first events", Duration::from_secs(10), || async {
            applier.count().await >= 5
        })
        .await;

        server.kill().await;
        let during: Vec<Message> = (5..12)
            .map(|n| event("reemploi.inventory.lot.published", n))
            .collect();
        enqueue_committed(&producer.db, &during).await;
        relay.notify();
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert!(
            relay.pending().await.unwrap() > 0,
            "{backend:?}: nothing can be published while the broker is down"
        );

        server.restart().await;
        wait_until(
            "all events after restart",
            Duration::from_secs(40),
            || async { applier.count().await >= 12 },
        )
        .await;
        wait_until("outbox drained", Duration::from_secs(10), || async {
            relay.pending().await.unwrap() == 0
        })
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let applied: Vec<String> = applier.applied().await.into_iter().map(|a| a.0).collect();
        let expected: Vec<String> = before
            .iter()
            .chain(&during)
            .map(|m| m.event_id.clone())
            .collect();
        assert_eq!(
            applied.len(),
            12,
            "{backend:?}: none lost, none applied twice"
        );
        assert_eq!(
            applied.iter().collect::<HashSet<_>>(),
            expected.iter().collect::<HashSet<_>>(),
            "{backend:?}"
        );
        assert_eq!(
            stream_len(&bus, "inventory").await,
            12,
            "{backend:?}: broker dedup"
        );
        shutdown.cancel();
    }
}

#[tokio::test]
async fn jetstream_bus_refuses_bad_names() {
    let bus = shared_bus(&unique_namespace()).await;
    let shutdown = CancellationToken::new();
    let err = bus
        .subscribe(
            Subscription::new("bad.durable", "inventory", "reemploi.>"),
            Arc::new(Recorder::default()),
            shutdown.clone(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, BusError::Config(_)), "{err:?}");
    let err = bus.ensure_stream("in ventory").await.unwrap_err();
    assert!(matches!(err, BusError::Config(_)), "{err:?}");
    let err = JetStreamBus::connect("nats://127.0.0.1:1", JetStreamOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, BusError::Unavailable(_)), "{err:?}");
}

#[test]
fn namespaces_are_unique_and_valid() {
    let a = unique_namespace();
    let b = unique_namespace();
    assert_ne!(a, b);
    assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
}

#[tokio::test]
async fn enqueue_all_records_every_event_in_order_on_both_backends() {
    for backend in reemploi_store::Backend::ALL {
        let test_db = reemploi_testing::db::fresh(backend).await;
        let db = test_db.db.clone();
        let create = reemploi_events::outbox_tables_sql(backend);
        let mut conn = db.pool().acquire().await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(create))
            .execute(&mut *conn)
            .await
            .unwrap();
        let msgs: Vec<Message> = (0..5)
            .map(|i| {
                Message::new(
                    format!("reemploi.test.thing.e{i}"),
                    bytes::Bytes::from(vec![i as u8; 3]),
                )
            })
            .collect();
        let mut tx = db.begin_write().await.unwrap();
        reemploi_events::outbox::enqueue_all(&mut tx, &msgs)
            .await
            .unwrap();
        reemploi_events::outbox::enqueue_all(&mut tx, &[])
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let rows: Vec<(String, String, Vec<u8>)> =
            sqlx::query_as("SELECT event_id, subject, payload FROM outbox ORDER BY seq")
                .fetch_all(&mut *conn)
                .await
                .unwrap();
        let want: Vec<(String, String, Vec<u8>)> = msgs
            .iter()
            .map(|m| (m.event_id.clone(), m.subject.clone(), m.payload.to_vec()))
            .collect();
        assert_eq!(rows, want, "{backend:?}");
    }
}

// ------------------------------------------------- JetStream dead letters

/// A consumer that fails permanently on the events listed in `broken` until
/// they are taken out ("the handler is fixed"), and records every delivery.
struct Fixable {
    inner: Applier,
    broken: Mutex<HashSet<String>>,
    seen: Mutex<Vec<Message>>,
}

#[async_trait::async_trait]
impl Handler for Fixable {
    async fn handle(&self, msg: &Message) -> Result<(), HandlerError> {
        self.seen.lock().unwrap().push(msg.clone());
        if self.broken.lock().unwrap().contains(&msg.event_id) {
            return Err(HandlerError::Permanent(
                "unknown partner kind ESAT\nin payload".into(),
            ));
        }
        self.inner.handle(msg).await
    }
}

/// A dead letter is listed with what an operator needs, survives a replay
/// that fails again, and once the handler is fixed a replay delivers it to
/// the consumer under its original event id (so consumers that applied it
/// already ignore it) and takes it off the list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_dead_letters_are_listed_and_replayed() {
    let ns = unique_namespace();
    let bus = shared_bus(&ns).await;
    let t = events_db(Backend::Sqlite).await;
    let shutdown = CancellationToken::new();
    let good = event("reemploi.registry.partner.registered", 1);
    let bad = event("reemploi.registry.partner.verified", 2);
    let fixable = Arc::new(Fixable {
        inner: Applier::new(&t.db, "inventory-partners"),
        broken: Mutex::new(HashSet::from([bad.event_id.clone()])),
        seen: Mutex::new(Vec::new()),
    });
    // Another consumer of the same subjects, which applies everything: a
    // replay reaches it too, and its inbox must absorb it.
    let other = Arc::new(Applier::new(&t.db, "matching-partners"));
    let filter = "reemploi.registry.partner.>";
    bus.subscribe(
        Subscription::new("inventory-partners", "registry", filter),
        fixable.clone(),
        shutdown.clone(),
    )
    .await
    .unwrap();
    bus.subscribe(
        Subscription::new("matching-partners", "registry", filter),
        other.clone(),
        shutdown.clone(),
    )
    .await
    .unwrap();
    let before = reemploi_store::now_millis();
    bus.publish(&good).await.unwrap();
    bus.publish(&bad).await.unwrap();

    // Listed with its durable, subject, event id, payload and reason.
    wait_until("a dead letter", Duration::from_secs(15), || async {
        !bus.dead_letters(None, 10).await.unwrap().is_empty()
    })
    .await;
    let listed = bus.dead_letters(None, 10).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    let dead = &listed[0];
    assert_eq!(dead.durable, "inventory-partners");
    assert_eq!(
        dead.message, bad,
        "subject, event id and payload as published"
    );
    assert!(
        dead.reason.contains("unknown partner kind ESAT"),
        "{:?}",
        dead.reason
    );
    assert!(dead.dead_at_ms >= before, "{} < {before}", dead.dead_at_ms);
    assert_eq!(fixable.inner.count().await, 1, "the good event only");

    // Replayed before the fix: it fails again and must be a dead letter
    // again, under a new id, not vanish.
    bus.replay(&dead.id).await.unwrap();
    wait_until("the replay delivered", Duration::from_secs(15), || async {
        fixable.seen.lock().unwrap().len() == 3
    })
    .await;
    let replayed = fixable.seen.lock().unwrap()[2].clone();
    assert_eq!(replayed, bad, "a replay carries the original event id");
    wait_until(
        "the replay, failing again, dead-lettered again",
        Duration::from_secs(15),
        || async {
            let listed = bus.dead_letters(None, 10).await.unwrap();
            listed.len() == 1 && listed[0].id != dead.id
        },
    )
    .await;
    let again = bus.dead_letters(None, 10).await.unwrap().remove(0);
    assert_eq!(
        (again.durable.as_str(), &again.message),
        ("inventory-partners", &bad)
    );

    // Fixed, replayed: applied under the original event id, and gone from
    // the list; replaying it twice is refused.
    fixable.broken.lock().unwrap().clear();
    bus.replay(&again.id).await.unwrap();
    wait_until("the replay applied", Duration::from_secs(15), || async {
        fixable.inner.count().await == 2
    })
    .await;
    let applied: Vec<String> = fixable
        .inner
        .applied()
        .await
        .into_iter()
        .map(|a| a.0)
        .collect();
    assert_eq!(applied, [good.event_id.clone(), bad.event_id.clone()]);
    assert_eq!(fixable.seen.lock().unwrap().len(), 4);
    assert!(bus.dead_letters(None, 10).await.unwrap().is_empty());
    assert!(matches!(
        bus.replay(&again.id).await,
        Err(BusError::Rejected(_))
    ));

    // The other consumer received both replays and applied nothing twice.
    wait_until(
        "both replays delivered to the other consumer",
        Duration::from_secs(15),
        || async { other.calls.load(Ordering::SeqCst) >= 4 },
    )
    .await;
    let applied: Vec<String> = other.applied().await.into_iter().map(|a| a.0).collect();
    assert_eq!(applied, [good.event_id.clone(), bad.event_id.clone()]);

    shutdown.cancel();
    delete_streams(&bus, &["registry", "deadletter"]).await;
}

// ---------------------------------------------------------------- follow

/// Dead letters read a page at a time, each page after the last letter of
/// the one before, on either bus.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_read_page_by_page_on_both_buses() {
    let t = events_db(Backend::Sqlite).await;
    let in_process = temporary_bus().await;
    dead_letters_page_by_page(&in_process, &t, "inventory-in-process").await;
    let ns = unique_namespace();
    let jetstream = shared_bus(&ns).await;
    dead_letters_page_by_page(&jetstream, &t, "inventory-jetstream").await;
    delete_streams(&jetstream, &["inventory", "deadletter"]).await;
}

async fn dead_letters_page_by_page(bus: &dyn Bus, t: &TestDb, durable: &str) {
    let bad: Vec<Message> = (0..3)
        .map(|n| event("reemploi.inventory.lot.published", n))
        .collect();
    let mut applier = Applier::new(&t.db, durable);
    applier
        .permanent
        .extend(bad.iter().map(|m| m.event_id.clone()));
    let shutdown = CancellationToken::new();
    let subscriber = bus
        .subscribe(
            Subscription::new(durable, "inventory", "reemploi.inventory.>"),
            Arc::new(applier),
            shutdown.clone(),
        )
        .await
        .unwrap();
    for msg in &bad {
        bus.publish(msg).await.unwrap();
    }
    wait_until("three dead letters", Duration::from_secs(15), || async {
        bus.dead_letters(None, 10).await.unwrap().len() == 3
    })
    .await;
    let events = |letters: &[reemploi_events::DeadLetter]| -> Vec<String> {
        letters.iter().map(|d| d.message.event_id.clone()).collect()
    };
    let first = bus.dead_letters(None, 2).await.unwrap();
    assert_eq!(events(&first), ids(&bad[..2]), "{durable}");
    let next = bus.dead_letters(Some(&first[1].id), 2).await.unwrap();
    assert_eq!(events(&next), ids(&bad[2..]), "{durable}");
    let after_the_last = bus.dead_letters(Some(&next[0].id), 2).await.unwrap();
    assert!(after_the_last.is_empty(), "{durable}: {after_the_last:?}");
    for never in ["the third", "0", "-1"] {
        assert!(
            matches!(
                bus.dead_letters(Some(never), 2).await,
                Err(BusError::Rejected(_))
            ),
            "{durable}: `{never}`, an id no bus gives, is refused"
        );
    }
    // Replayed while its subscriber is stopped, the first is no longer a
    // dead letter; reading after it still reads those after it.
    shutdown.cancel();
    subscriber.await.unwrap();
    bus.replay(&first[0].id).await.unwrap();
    let left = bus.dead_letters(None, 10).await.unwrap();
    assert_eq!(events(&left), ids(&bad[1..]), "{durable}");
    let after_gone = bus.dead_letters(Some(&first[0].id), 10).await.unwrap();
    assert_eq!(events(&after_gone), ids(&bad[1..]), "{durable}");
}

fn ids(msgs: &[Message]) -> Vec<String> {
    msgs.iter().map(|m| m.event_id.clone()).collect()
}

/// Waits until `rec` holds `want` messages, then checks they are `want`, in order.
async fn received_exactly(what: &str, rec: &Recorder, want: &[Message]) {
    wait_until(what, Duration::from_secs(20), || async {
        rec.messages().len() >= want.len()
    })
    .await;
    assert_eq!(
        ids(&rec.messages()),
        ids(want),
        "{what}: in order, once each"
    );
    assert_eq!(
        rec.messages(),
        want,
        "{what}: subjects and payloads as published"
    );
}

/// Publishes `reemploi.registry.partner.{event}` numbered `numbers`, each
/// followed by a message of the same stream outside the followers' filter;
/// the partner messages, in order.
async fn published_with_noise<B: Bus>(
    bus: &B,
    event_name: &str,
    numbers: std::ops::Range<usize>,
) -> Vec<Message> {
    let mut published = Vec::new();
    for n in numbers {
        let msg = event(&format!("reemploi.registry.partner.{event_name}"), n);
        bus.publish(&msg).await.unwrap();
        published.push(msg);
        bus.publish(&event("reemploi.registry.site.noise", n))
            .await
            .unwrap();
    }
    published
}

/// What every bus owes a follower, on `bus` (and `reopen`, the same bus as
/// a process that starts again sees it): what was published before `follow`
/// and after, in order, to every follower, on its filter only; and all of it
/// again to a follower started anew.
async fn follow_contract<B: Bus, F, Fut>(bus: &B, reopen: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Box<dyn Bus>>,
{
    let filter = "reemploi.registry.partner.>";
    let shutdown = CancellationToken::new();
    let mut want = published_with_noise(bus, "suspended", 0..3).await;
    let (a, b) = (Arc::new(Recorder::default()), Arc::new(Recorder::default()));
    for rec in [&a, &b] {
        bus.follow("registry", filter, rec.clone(), shutdown.clone())
            .await
            .unwrap();
    }
    received_exactly("published before follow, follower a", &a, &want).await;
    received_exactly("published before follow, follower b", &b, &want).await;

    want.extend(published_with_noise(bus, "reinstated", 3..6).await);
    received_exactly("published after follow, follower a", &a, &want).await;
    received_exactly("published after follow, follower b", &b, &want).await;

    // The process stops and starts again: its followers start from the first.
    shutdown.cancel();
    let again = reopen().await;
    let restarted = Arc::new(Recorder::default());
    let shutdown = CancellationToken::new();
    again
        .follow("registry", filter, restarted.clone(), shutdown.clone())
        .await
        .unwrap();
    received_exactly("a follower after a restart", &restarted, &want).await;
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_followers_each_get_the_whole_log_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("bus.db");
    let bus = InProcessBus::open(&log).await.unwrap();
    // The process that starts again opens the same log.
    follow_contract(&bus, || async move {
        Box::new(InProcessBus::open(&log).await.unwrap()) as Box<dyn Bus>
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_followers_each_get_the_whole_stream_again_after_a_restart() {
    let ns = unique_namespace();
    let bus = shared_bus(&ns).await;
    // The process that starts again connects anew.
    let again = ns.clone();
    follow_contract(&bus, || async move {
        Box::new(shared_bus(&again).await) as Box<dyn Bus>
    })
    .await;
    delete_streams(&bus, &["registry"]).await;
}

/// A follower from now gets what is published after it starts, in order,
/// on its filter only, and nothing of what was published before.
async fn follow_new_contract<B: Bus>(bus: &B) {
    let filter = "reemploi.registry.partner.>";
    let shutdown = CancellationToken::new();
    published_with_noise(bus, "suspended", 0..3).await;
    let rec = Arc::new(Recorder::default());
    bus.follow_new("registry", filter, rec.clone(), shutdown.clone())
        .await
        .unwrap();
    let want = published_with_noise(bus, "reinstated", 3..6).await;
    received_exactly("published after follow_new", &rec, &want).await;
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_followers_from_now_get_only_what_follows() {
    follow_new_contract(&InProcessBus::temporary().await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_followers_from_now_get_only_what_follows() {
    let bus = shared_bus(&unique_namespace()).await;
    follow_new_contract(&bus).await;
    delete_streams(&bus, &["registry"]).await;
}

/// Two replicas of one durable share its messages, each applied by one of
/// them; two followers each get them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_followers_do_not_share_as_durable_replicas_do() {
    let ns = unique_namespace();
    let bus = shared_bus(&ns).await;
    let shutdown = CancellationToken::new();
    let filter = "reemploi.registry.partner.>";
    let replicas = [Arc::new(Recorder::default()), Arc::new(Recorder::default())];
    for rec in &replicas {
        bus.subscribe(
            Subscription::new("deny-list", "registry", filter),
            rec.clone(),
            shutdown.clone(),
        )
        .await
        .unwrap();
    }
    let followers = [Arc::new(Recorder::default()), Arc::new(Recorder::default())];
    for rec in &followers {
        bus.follow("registry", filter, rec.clone(), shutdown.clone())
            .await
            .unwrap();
    }
    let want: Vec<Message> = (0..40)
        .map(|n| event("reemploi.registry.partner.archived", n))
        .collect();
    for msg in &want {
        bus.publish(msg).await.unwrap();
    }
    for (i, rec) in followers.iter().enumerate() {
        received_exactly(&format!("follower {i}"), rec, &want).await;
    }
    wait_until(
        "the durable's replicas took every message",
        Duration::from_secs(20),
        || async { replicas.iter().map(|r| r.messages().len()).sum::<usize>() >= want.len() },
    )
    .await;
    let mut shared: Vec<String> = replicas.iter().flat_map(|r| ids(&r.messages())).collect();
    shared.sort();
    let mut expected = ids(&want);
    expected.sort();
    assert_eq!(
        shared, expected,
        "each message to one replica of the durable"
    );
    shutdown.cancel();
    delete_streams(&bus, &["registry", "deadletter"]).await;
}

/// Fails on chosen events: forever (transiently), or with its storage
/// unavailable a number of times.
#[derive(Default)]
struct Flaky {
    rec: Recorder,
    calls: Mutex<Vec<String>>,
    hopeless: HashSet<String>,
    /// event id -> `Unavailable` answers still to give.
    unavailable: Mutex<HashMap<String, usize>>,
}

#[async_trait::async_trait]
impl Handler for Flaky {
    async fn handle(&self, msg: &Message) -> Result<(), HandlerError> {
        self.calls.lock().unwrap().push(msg.event_id.clone());
        if self.hopeless.contains(&msg.event_id) {
            return Err(HandlerError::Transient("never applies".into()));
        }
        if let Some(left) = self.unavailable.lock().unwrap().get_mut(&msg.event_id)
            && *left > 0
        {
            *left -= 1;
            return Err(HandlerError::Unavailable("memory full".into()));
        }
        self.rec.handle(msg).await
    }
}

/// A message the handler keeps failing on is skipped after a few attempts,
/// and holds back the next ones only meanwhile; an unavailable handler gets
/// the same message until it takes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_follower_skips_what_keeps_failing_and_waits_out_an_outage() {
    let bus = temporary_bus().await;
    let msgs: Vec<Message> = (0..4)
        .map(|n| event("reemploi.registry.partner.verified", n))
        .collect();
    let handler = Arc::new(Flaky {
        hopeless: HashSet::from([msgs[1].event_id.clone()]),
        unavailable: Mutex::new(HashMap::from([(msgs[2].event_id.clone(), 4)])),
        ..Flaky::default()
    });
    let shutdown = CancellationToken::new();
    bus.follow(
        "registry",
        "reemploi.registry.>",
        handler.clone(),
        shutdown.clone(),
    )
    .await
    .unwrap();
    for msg in &msgs {
        bus.publish(msg).await.unwrap();
    }
    let want = [msgs[0].clone(), msgs[2].clone(), msgs[3].clone()];
    received_exactly("all but the hopeless one", &handler.rec, &want).await;
    let calls = handler.calls.lock().unwrap().clone();
    let count = |m: &Message| calls.iter().filter(|id| **id == m.event_id).count();
    assert_eq!(
        count(&msgs[1]),
        4,
        "a few attempts, then skipped: {calls:?}"
    );
    assert_eq!(count(&msgs[2]), 5, "retried through the outage: {calls:?}");
    assert_eq!(calls.last(), Some(&msgs[3].event_id), "in order: {calls:?}");
    assert!(
        bus.dead_letters(None, 10).await.unwrap().is_empty(),
        "no dead letters"
    );
    shutdown.cancel();
}

/// The ordered consumers on the stream of `service`, with where each starts.
async fn ordered_consumers(bus: &JetStreamBus, service: &str) -> Vec<(String, DeliverPolicy)> {
    let Ok(stream) = bus.jetstream().get_stream(bus.stream_name(service)).await else {
        return Vec::new();
    };
    let names: Vec<String> = stream
        .consumer_names()
        .filter_map(|n| async move { n.ok() })
        .collect()
        .await;
    let mut found = Vec::new();
    for name in names {
        if let Ok(info) = stream.consumer_info(&name).await {
            found.push((name, info.config.deliver_policy));
        }
    }
    found
}

/// A follower outlives the restart of its nats-server: what was published
/// before it and after it arrives, in order, each once. The broker forgets
/// the follower's ephemeral consumer, so the follower opens another after
/// the last message it handled; when that one is lost too before it
/// delivered anything, async-nats (0.51) recreates it from the stream's
/// first message, and the follower, seeing a message it handled already,
/// opens one after the last it handled again rather than read the whole
/// stream to pass over what it handled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_follower_survives_a_broker_restart() {
    let mut server = NatsServer::start().await;
    let bus = JetStreamBus::connect(
        &server.url(),
        JetStreamOptions {
            namespace: Some(unique_namespace()),
            replicas: 0,
        },
    )
    .await
    .unwrap();
    let mut want: Vec<Message> = (0..3)
        .map(|n| event("reemploi.registry.partner.suspended", n))
        .collect();
    for msg in &want {
        bus.publish(msg).await.unwrap();
    }
    let rec = Arc::new(Recorder::default());
    let shutdown = CancellationToken::new();
    let task = bus
        .follow(
            "registry",
            "reemploi.registry.partner.>",
            rec.clone(),
            shutdown.clone(),
        )
        .await
        .unwrap();
    received_exactly("before the restart", &rec, &want).await;

    server.kill().await;
    server.restart().await;
    let resumed = DeliverPolicy::ByStartSequence { start_sequence: 4 };
    wait_until(
        "a consumer re-opened after the last message handled",
        Duration::from_secs(40),
        || async {
            ordered_consumers(&bus, "registry")
                .await
                .iter()
                .any(|(_, policy)| *policy == resumed)
        },
    )
    .await;
    let lost: Vec<String> = ordered_consumers(&bus, "registry")
        .await
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    for name in &lost {
        bus.jetstream()
            .delete_consumer_from_stream(name, bus.stream_name("registry"))
            .await
            .unwrap();
    }
    wait_until(
        "the lost consumer recreated by async-nats",
        Duration::from_secs(40),
        || async {
            ordered_consumers(&bus, "registry")
                .await
                .iter()
                .any(|(name, _)| !lost.contains(name))
        },
    )
    .await;
    wait_until(
        "a consumer opened after the last message handled, not from the first",
        Duration::from_secs(40),
        || async {
            ordered_consumers(&bus, "registry")
                .await
                .iter()
                .any(|(name, policy)| !lost.contains(name) && *policy == resumed)
        },
    )
    .await;
    for n in 3..6 {
        let msg = event("reemploi.registry.partner.reinstated", n);
        // The client reconnects by itself; publish once it has.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while let Err(e) = bus.publish(&msg).await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "cannot publish after the restart: {e}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        want.push(msg);
    }
    received_exactly("after the restart", &rec, &want).await;
    assert!(!task.is_finished(), "the follower is still running");
    shutdown.cancel();
    task.await.unwrap();
}
