//! Events between reemploi services: the wire [`Message`], subject rules, the
//! [`Bus`] trait with a NATS JetStream implementation ([`JetStreamBus`],
//! distributed mode) and an in-process one ([`InProcessBus`], embedded mode),
//! the transactional [`outbox`] and its relay, and the consumer-side [`inbox`]
//! that makes redeliveries harmless.
//!
//! # Delivery guarantees
//!
//! A producer writes its state change and the event into the `outbox` table
//! in one transaction ([`outbox::enqueue`]); the [`outbox::Relay`] publishes
//! pending rows in order and marks them published only once the bus confirmed
//! (JetStream PubAck, or every in-process subscriber committed). A consumer
//! records the event id in its `inbox` table inside the transaction that
//! applies it ([`inbox::first_time`]) and acknowledges after the commit. So
//! nothing is lost when the broker or a service dies, and a repeat is applied
//! once. State a process keeps in memory (every process, not one replica
//! among several) is rebuilt with [`Bus::follow`] instead: an ephemeral
//! reader that delivers a stream from its first message in every process,
//! records nothing, and skips a message its handler keeps failing on.
//!
//! # Tables
//!
//! Every service that publishes or consumes events carries the outbox and
//! inbox tables in its migrations: [`outbox_tables_sql`] gives their
//! definition for each backend, to copy into a new service's first
//! migration (landed migrations are never edited).

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

pub mod inbox;
mod inprocess;
mod jetstream;
pub mod outbox;
mod tls;
pub mod trace;

pub use inprocess::InProcessBus;
pub use jetstream::{JetStreamBus, JetStreamOptions};
pub use tls::NatsTls;

/// The outbox and inbox tables on `backend`, as a service's migrations
/// define them once all applied.
pub fn outbox_tables_sql(backend: reemploi_store::Backend) -> String {
    let (seq, bytes) = match backend {
        reemploi_store::Backend::Sqlite => ("INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB"),
        reemploi_store::Backend::Postgres => ("BIGSERIAL PRIMARY KEY", "BYTEA"),
    };
    format!(
        "CREATE TABLE outbox (
    seq {seq},
    event_id TEXT NOT NULL UNIQUE,
    subject TEXT NOT NULL,
    payload {bytes} NOT NULL,
    created_at BIGINT NOT NULL,
    published_at BIGINT,
    traceparent TEXT
);
CREATE INDEX outbox_pending ON outbox (seq) WHERE published_at IS NULL;
CREATE TABLE inbox (
    consumer TEXT NOT NULL,
    event_id TEXT NOT NULL,
    processed_at BIGINT NOT NULL,
    PRIMARY KEY (consumer, event_id)
);
"
    )
}

/// The prefix of every reemploi subject.
pub const SUBJECT_ROOT: &str = "reemploi";

/// The service name whose stream holds dead letters (`reemploi.deadletter.<durable>`).
pub const DEADLETTER_SERVICE: &str = "deadletter";

/// Default number of deliveries before a message is dead-lettered.
pub const DEFAULT_MAX_DELIVER: i64 = 10;

/// One event on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// `reemploi.<service>.<entity>.<event>`, e.g. `reemploi.inventory.lot.published`.
    pub subject: String,
    /// A UUIDv7 string, sent as `Nats-Msg-Id` so the broker drops repeats.
    pub event_id: String,
    /// The protobuf envelope, opaque here.
    pub payload: bytes::Bytes,
    /// The W3C trace context of the span that made the event (see
    /// [`trace`]), sent as the `traceparent` header.
    pub traceparent: Option<String>,
}

impl Message {
    /// A message with a fresh UUIDv7 event id, in the current span's trace.
    pub fn new(subject: impl Into<String>, payload: impl Into<bytes::Bytes>) -> Message {
        Message {
            subject: subject.into(),
            event_id: new_event_id(),
            payload: payload.into(),
            traceparent: trace::current(),
        }
    }
}

/// A fresh event id: a UUIDv7, so ids sort by creation time.
pub fn new_event_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Errors of a [`Bus`].
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The broker cannot be reached or did not confirm in time: retry later.
    #[error("event bus unavailable: {0}")]
    Unavailable(String),
    /// No stream takes the subject (yet): the producer's stream is created
    /// on demand.
    #[error("no stream for the subject: {0}")]
    NoStream(String),
    /// The broker refused the message or request (bad subject, too large).
    #[error("event bus rejected the request: {0}")]
    Rejected(String),
    /// An in-process subscriber failed to apply the message.
    #[error("subscriber failed: {0}")]
    Handler(String),
    /// A subject, durable or service name is malformed.
    #[error("invalid event bus configuration: {0}")]
    Config(String),
    /// The outbox or inbox could not be read or written.
    #[error(transparent)]
    Store(#[from] reemploi_store::StoreError),
}

impl BusError {
    /// Whether retrying cannot help: the outbox or log itself is unusable
    /// (a missing table, a bad configuration), not merely unreachable.
    pub fn is_fatal(&self) -> bool {
        match self {
            BusError::Store(e) => matches!(
                e,
                reemploi_store::StoreError::Other(_)
                    | reemploi_store::StoreError::Migrate(_)
                    | reemploi_store::StoreError::Config(_)
            ),
            BusError::Config(_) => true,
            BusError::Unavailable(_)
            | BusError::NoStream(_)
            | BusError::Rejected(_)
            | BusError::Handler(_) => false,
        }
    }
}

/// Why a [`Handler`] could not apply a message.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The subscriber's own storage is unreachable: the message is fine and
    /// will be applied once it is back. Redelivered with a delay for as long
    /// as it takes, never counted against `max_deliver`: an outage only
    /// delays events.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// May succeed later (a conflict, a constraint that a later event
    /// satisfies...): redelivered with a delay, dead-lettered after
    /// `max_deliver` failures.
    #[error("transient: {0}")]
    Transient(String),
    /// Will never succeed (undecodable payload...): dead-letter at once.
    #[error("permanent: {0}")]
    Permanent(String),
}

// A database that is down comes back: waiting is all it takes. Any other
// storage failure is retried too, and dead-lettered if it persists.
impl From<reemploi_store::StoreError> for HandlerError {
    fn from(e: reemploi_store::StoreError) -> Self {
        match e {
            reemploi_store::StoreError::Unavailable(_) => HandlerError::Unavailable(e.to_string()),
            other => HandlerError::Transient(other.to_string()),
        }
    }
}

impl From<sqlx::Error> for HandlerError {
    fn from(e: sqlx::Error) -> Self {
        HandlerError::from(reemploi_store::StoreError::from(e))
    }
}

/// A subscriber's side: applies one message.
#[async_trait::async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Applies `msg`; returns `Ok(())` only after the local commit. An error
    /// gets the message redelivered later (or dead-lettered).
    async fn handle(&self, msg: &Message) -> Result<(), HandlerError>;
}

/// A durable subscription.
#[derive(Debug, Clone)]
pub struct Subscription {
    /// The consumer's name, e.g. `inventory-partners` (letters, digits, `-`, `_`).
    pub durable: String,
    /// The producing service whose stream holds the subjects, e.g. `registry`.
    pub stream_of: String,
    /// A subject filter with NATS wildcards, e.g. `reemploi.registry.partner.>`.
    pub filter: String,
    /// Deliveries after which a failing message goes to `reemploi.deadletter.<durable>`.
    pub max_deliver: i64,
}

impl Subscription {
    /// A subscription with the default `max_deliver` (10).
    pub fn new(
        durable: impl Into<String>,
        stream_of: impl Into<String>,
        filter: impl Into<String>,
    ) -> Subscription {
        Subscription {
            durable: durable.into(),
            stream_of: stream_of.into(),
            filter: filter.into(),
            max_deliver: DEFAULT_MAX_DELIVER,
        }
    }

    /// Sets `max_deliver`.
    pub fn with_max_deliver(mut self, max_deliver: i64) -> Subscription {
        self.max_deliver = max_deliver;
        self
    }

    fn validate(&self) -> Result<(), BusError> {
        validate_name("durable", &self.durable)?;
        validate_name("service", &self.stream_of)?;
        validate_filter(&self.filter)?;
        if self.max_deliver < 1 {
            return Err(BusError::Config(format!(
                "max_deliver must be at least 1, got {}",
                self.max_deliver
            )));
        }
        Ok(())
    }
}

/// The dead-letter subject of a durable consumer.
pub fn deadletter_subject(durable: &str) -> String {
    format!("{SUBJECT_ROOT}.{DEADLETTER_SERVICE}.{durable}")
}

/// A message a subscription gave up on, kept to be looked at and replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Its identity in the dead-letter store, for [`Bus::replay`].
    pub id: String,
    /// The durable subscription that gave up.
    pub durable: String,
    /// The message as it was published.
    pub message: Message,
    /// The last failure.
    pub reason: String,
    /// When it was given up, in Unix milliseconds (0 when unknown).
    pub dead_at_ms: i64,
}

/// What one durable subscription of a bus did in this process, and how
/// far behind its stream it is: for metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerStats {
    /// The durable name, as subscribed (without namespace).
    pub durable: String,
    /// Deliveries to its handler, repeats included.
    pub delivered: u64,
    /// Deliveries of a message it had been given before (after a failure,
    /// or an acknowledgement that never arrived).
    pub redelivered: u64,
    /// Messages it gave up on, moved to the dead letters.
    pub dead_lettered: u64,
    /// Messages of its stream it has not acknowledged yet (not taken, or
    /// taken and not done), when the bus could tell.
    pub lag: Option<u64>,
}

/// Counters of one durable subscription, bumped by its reader task.
#[derive(Debug, Default)]
struct ConsumerCounters {
    delivered: std::sync::atomic::AtomicU64,
    redelivered: std::sync::atomic::AtomicU64,
    dead_lettered: std::sync::atomic::AtomicU64,
}

impl ConsumerCounters {
    /// Counts one delivery, a repeat if `again`.
    fn delivery(&self, again: bool) {
        use std::sync::atomic::Ordering::Relaxed;
        self.delivered.fetch_add(1, Relaxed);
        if again {
            self.redelivered.fetch_add(1, Relaxed);
        }
    }

    fn dead_letter(&self) {
        self.dead_lettered
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn stats(&self, durable: &str, lag: Option<u64>) -> ConsumerStats {
        use std::sync::atomic::Ordering::Relaxed;
        ConsumerStats {
            durable: durable.to_owned(),
            delivered: self.delivered.load(Relaxed),
            redelivered: self.redelivered.load(Relaxed),
            dead_lettered: self.dead_lettered.load(Relaxed),
            lag,
        }
    }
}

/// The counters of a bus's durable subscriptions, by durable name (with
/// the producing service whose stream each reads).
#[derive(Debug, Default)]
struct ConsumerRegistry(
    std::sync::Mutex<std::collections::BTreeMap<String, (String, Arc<ConsumerCounters>)>>,
);

impl ConsumerRegistry {
    /// The counters of `sub`, shared with an earlier subscription of the
    /// same durable.
    fn counters(&self, sub: &Subscription) -> Arc<ConsumerCounters> {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(sub.durable.clone())
            .or_insert_with(|| (sub.stream_of.clone(), Arc::default()))
            .1
            .clone()
    }

    /// Every durable with its stream's service and counters.
    fn all(&self) -> Vec<(String, String, Arc<ConsumerCounters>)> {
        let map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.iter()
            .map(|(durable, (stream_of, c))| (durable.clone(), stream_of.clone(), c.clone()))
            .collect()
    }
}

/// The event bus: publishing and durable subscriptions.
#[async_trait::async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Publishes and returns only once the message is durable: JetStream PubAck
    /// awaited (with `Nats-Msg-Id` = event_id for dedup), or, in process, once
    /// every matching local subscriber's handler returned `Ok`.
    async fn publish(&self, msg: &Message) -> Result<(), BusError>;

    /// Publishes `msgs` in order and returns how many of them, from the
    /// first, are durable, with the error that stopped the rest. A bus may
    /// have several in flight at once (JetStream pipelines the PubAcks).
    async fn publish_batch(&self, msgs: &[Message]) -> (usize, Option<BusError>) {
        for (i, msg) in msgs.iter().enumerate() {
            if let Err(e) = self.publish(msg).await {
                return (i, Some(e));
            }
        }
        (msgs.len(), None)
    }

    /// Starts consuming on a task of its own until `shutdown`; returns once
    /// the consumer exists (so what is published afterwards reaches it),
    /// with the task's handle for the caller to supervise.
    async fn subscribe(
        &self,
        sub: Subscription,
        handler: Arc<dyn Handler>,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, BusError>;

    /// Delivers every message the stream of `stream_of` holds on `filter`,
    /// from the first, then each new one, in order, to `handler`, on a task
    /// of its own until `shutdown`: for state a process keeps in memory.
    /// The reader is ephemeral: nothing is recorded, every process (every
    /// replica) gets every message, and a process that starts again starts
    /// from the first again. Returns once the reader exists (so what is
    /// published afterwards reaches it), with the task's handle.
    ///
    /// There is no retry queue and no dead letter: a transient failure is
    /// tried again a few times, then the message is skipped with an error
    /// log, as is at once one that fails permanently; while the handler
    /// reports [`HandlerError::Unavailable`] the same message is tried again
    /// until it succeeds or `shutdown`. The buses avoid delivering a message
    /// twice to one follower, but a handler should tolerate a repeat.
    async fn follow(
        &self,
        stream_of: &str,
        filter: &str,
        handler: Arc<dyn Handler>,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, BusError>;

    /// As [`Bus::follow`], but from the next message published rather than
    /// the first: for state that only needs what changes from now on (a
    /// reader that comes back after losing its connection still resumes
    /// where it was, nothing skipped).
    async fn follow_new(
        &self,
        stream_of: &str,
        filter: &str,
        handler: Arc<dyn Handler>,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, BusError>;

    /// Makes sure the stream of a producing service exists (`inventory` ->
    /// stream `REEMPLOI_INVENTORY` with subjects `reemploi.inventory.>`).
    async fn ensure_stream(&self, service: &str) -> Result<(), BusError>;

    /// The dead letters, oldest first, at most `limit`: from the oldest, or
    /// those set aside after the dead letter `after` (an id as listed, which
    /// need not be there any more), so that a reader can page through them
    /// all. An id the bus could never have given is refused.
    async fn dead_letters(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, BusError>;

    /// What each durable subscription made through this bus did, and its
    /// lag; none for a bus that keeps no count.
    async fn consumer_stats(&self) -> Vec<ConsumerStats> {
        Vec::new()
    }

    /// Delivers the dead letter `id` again and removes it from the dead
    /// letters. Subscribers that applied it already ignore it (their inbox).
    async fn replay(&self, id: &str) -> Result<(), BusError>;
}

/// Whether `subject` matches `filter` under NATS rules: tokens are separated
/// by `.`, `*` matches exactly one token, `>` (last token only) matches one or
/// more remaining tokens.
pub fn subject_matches(filter: &str, subject: &str) -> bool {
    if filter.is_empty() || subject.is_empty() {
        return false;
    }
    let mut subject_tokens = subject.split('.');
    let mut filter_tokens = filter.split('.').peekable();
    while let Some(f) = filter_tokens.next() {
        if f == ">" {
            // Only valid as the last token, and it needs at least one token to match.
            return filter_tokens.peek().is_none()
                && subject_tokens.next().is_some_and(|s| !s.is_empty());
        }
        match subject_tokens.next() {
            Some(s) if !s.is_empty() && (f == "*" || f == s) => {}
            _ => return false,
        }
    }
    subject_tokens.next().is_none()
}

/// The arguments of [`Bus::follow`], checked alike by every bus: the
/// producing service's name and the subject filter.
fn validate_follow(stream_of: &str, filter: &str) -> Result<(), BusError> {
    validate_name("service", stream_of)?;
    validate_filter(filter)
}

/// A name used in stream, consumer and subject tokens.
fn validate_name(what: &str, name: &str) -> Result<(), BusError> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(BusError::Config(format!(
            "invalid {what} name `{name}`: use 1-64 letters, digits, `-` or `_`"
        )));
    }
    Ok(())
}

fn validate_filter(filter: &str) -> Result<(), BusError> {
    let tokens: Vec<&str> = filter.split('.').collect();
    let bad = filter.is_empty()
        || tokens
            .iter()
            .any(|t| t.is_empty() || t.contains(char::is_whitespace))
        || tokens.iter().enumerate().any(|(i, t)| {
            (t.contains('>') && (*t != ">" || i + 1 != tokens.len()))
                || (t.contains('*') && *t != "*")
        });
    if bad {
        return Err(BusError::Config(format!(
            "invalid subject filter `{filter}`"
        )));
    }
    Ok(())
}

fn validate_subject(subject: &str) -> Result<(), BusError> {
    if subject.is_empty()
        || subject
            .split('.')
            .any(|t| t.is_empty() || t.contains(['*', '>']) || t.contains(char::is_whitespace))
    {
        return Err(BusError::Config(format!("invalid subject `{subject}`")));
    }
    Ok(())
}

/// Bounds of the backoff of loops that wait for a broker or a database.
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Delay before a message is delivered again after its `failures`-th
/// failure: 200 ms doubling, capped at 30 s.
fn redelivery_delay(failures: i64) -> Duration {
    let exp = u32::try_from(failures.clamp(1, 9) - 1).unwrap_or(8);
    Duration::from_millis(200 * 2u64.pow(exp)).min(Duration::from_secs(30))
}

/// Sleeps unless shutdown comes first; true on shutdown.
async fn sleep_or_shutdown(shutdown: &CancellationToken, d: Duration) -> bool {
    tokio::select! {
        () = shutdown.cancelled() => true,
        () = tokio::time::sleep(d) => false,
    }
}

/// Attempts of a follower's handler on one message that fails transiently
/// before the message is skipped.
const FOLLOW_ATTEMPTS: i64 = 4;

/// Hands `msg` to a follower's `handler` (see [`Bus::follow`]): a message
/// that fails transiently gets [`FOLLOW_ATTEMPTS`] attempts in all, one that
/// fails permanently one, then it is skipped with an error log; while the
/// handler's storage is unavailable it is tried again with backoff, uncounted.
/// False if `shutdown` came first (the message may not have been applied).
async fn follow_one(
    handler: &Arc<dyn Handler>,
    msg: &Message,
    filter: &str,
    shutdown: &CancellationToken,
) -> bool {
    let mut failures = 0;
    let mut backoff = RETRY_MIN;
    loop {
        if shutdown.is_cancelled() {
            return false;
        }
        let delay = match run_handler(handler, filter, msg).await {
            Ok(()) => return true,
            Err(HandlerError::Unavailable(reason)) => {
                tracing::warn!(
                    filter, event_id = %msg.event_id, reason = %reason, retry_in = ?backoff,
                    "follower's storage unavailable; trying the same message again"
                );
                let delay = backoff;
                backoff = (backoff * 2).min(RETRY_MAX);
                delay
            }
            Err(HandlerError::Transient(reason)) if failures + 1 < FOLLOW_ATTEMPTS => {
                failures += 1;
                let delay = redelivery_delay(failures);
                tracing::warn!(
                    filter, event_id = %msg.event_id, failures, reason = %reason,
                    "follower's handler failed; retry in {delay:?}"
                );
                delay
            }
            Err(HandlerError::Transient(reason) | HandlerError::Permanent(reason)) => {
                // No dead letters for followers: each process rebuilds its
                // state from the stream, and holding every later message
                // back behind one that will not apply would be worse.
                tracing::error!(
                    filter, subject = %msg.subject, event_id = %msg.event_id, reason = %reason,
                    "follower skipped an event its handler could not apply"
                );
                return true;
            }
        };
        if sleep_or_shutdown(shutdown, delay).await {
            return false;
        }
    }
}

/// Runs a handler on its own task so that a panic in it is a transient
/// failure of one message rather than the death of the consumer loop.
async fn run_handler(
    handler: &Arc<dyn Handler>,
    durable: &str,
    msg: &Message,
) -> Result<(), HandlerError> {
    let handler = handler.clone();
    let msg = msg.clone();
    // One span per delivery, in the trace of the request that made the event.
    let span = tracing::info_span!(
        "consume",
        durable,
        subject = %msg.subject,
        event_id = %msg.event_id,
    );
    trace::adopt(&span, msg.traceparent.as_deref());
    let handled = async move { handler.handle(&msg).await }.instrument(span);
    match tokio::spawn(handled).await {
        Ok(result) => result,
        Err(join) => Err(HandlerError::Transient(format!("handler panicked: {join}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_validated() {
        for ok in [
            "reemploi.>",
            "reemploi.*.lot.*",
            "a",
            "reemploi.registry.partner.>",
        ] {
            assert!(validate_filter(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a..b", "a.>.b", "a.b*", "a.>>", ".a", "a b"] {
            assert!(validate_filter(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn subjects_are_validated() {
        assert!(validate_subject("reemploi.inventory.lot.published").is_ok());
        for bad in ["", "a.*", "a.>", "a..b", "a b"] {
            assert!(validate_subject(bad).is_err(), "{bad}");
        }
    }
}
