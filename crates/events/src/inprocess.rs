//! The in-process bus of the embedded mode: a durable log in one SQLite
//! file, read by one task per durable subscription and one per follower.
//!
//! Publishing appends to the log and returns: no subscriber is called on the
//! publisher's path, so a slow or failing subscriber never delays a relay
//! or another subscriber. Each subscription keeps its position in the log
//! (like a JetStream durable consumer) and its own queue of messages to try
//! again, so a crash loses nothing and a failing message holds back nobody.
//! A follower ([`Bus::follow`]) keeps its position in memory only, and reads
//! the whole log from the beginning.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use reemploi_store::{Db, DbOptions, StoreError, now_millis};
use sqlx::Row;
use sqlx::any::AnyRow;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{Bus, BusError, DeadLetter, Handler, HandlerError, Message, Subscription, run_handler};

/// Messages read from the log per round trip.
const BATCH: i64 = 200;
/// How often an idle subscription looks for retries that fell due or
/// messages another process appended (the dead-letter command).
const IDLE_POLL: Duration = Duration::from_secs(1);

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/bus");

struct Inner {
    db: Db,
    /// One wake-up per reader, rung on every publish: a durable
    /// subscription's under its durable name, a follower's under
    /// `follow:<uuid>` (no durable name holds a `:`) until its task ends.
    wakers: Mutex<HashMap<String, Arc<Notify>>>,
    /// A throwaway log file, removed when the bus is dropped.
    temporary: Option<PathBuf>,
    /// What the durable subscriptions made here did, for metrics.
    consumers: crate::ConsumerRegistry,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(path) = &self.temporary {
            for suffix in ["", "-wal", "-shm"] {
                let mut file = path.clone().into_os_string();
                file.push(suffix);
                let _ = std::fs::remove_file(file);
            }
        }
    }
}

/// In-process implementation of [`Bus`] (embedded mode).
///
/// [`Bus::publish`] appends to the log (an event id already there is not
/// appended twice). Each subscription reads the log in order from where it
/// stopped (a new one from the beginning), runs its handler, and on failure
/// puts the message in its own retry queue with a growing delay and goes on
/// with the next. A message that fails `max_deliver` times, or fails
/// permanently, becomes a dead letter, which [`Bus::replay`] puts back in
/// the queue. While the subscriber's own storage is unavailable it waits
/// and tries the same message again, without counting. A follower
/// ([`Bus::follow`]) reads the log from the beginning with its position in
/// memory, and neither retries later nor dead-letters.
#[derive(Clone)]
pub struct InProcessBus {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for InProcessBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let readers = self
            .inner
            .wakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("InProcessBus")
            .field("readers", &readers)
            .finish()
    }
}

impl InProcessBus {
    /// A reader of `filter` handing each message of the log after `position`
    /// to `handler`, on a task of its own until `shutdown`.
    fn follow_after(
        &self,
        filter: &str,
        handler: Arc<dyn Handler>,
        shutdown: CancellationToken,
        position: i64,
    ) -> JoinHandle<()> {
        let key = format!("follow:{}", uuid::Uuid::now_v7().simple());
        let wake = Arc::new(Notify::new());
        self.inner
            .wakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.clone(), wake.clone());
        let follower = Follower {
            db: self.inner.db.clone(),
            filter: filter.to_owned(),
            handler,
            shutdown: shutdown.clone(),
            position,
            _registered: Registered {
                inner: Arc::downgrade(&self.inner),
                key,
            },
        };
        tokio::spawn(read_log(follower, wake, shutdown))
    }

    /// Opens (creating if needed) the log in the SQLite file `path`.
    pub async fn open(path: &Path) -> Result<InProcessBus, BusError> {
        Self::open_file(path, None).await
    }

    /// A bus whose log lives in a fresh file under the system's temporary
    /// directory, removed when the last clone is dropped: for tests and
    /// benchmarks.
    pub async fn temporary() -> Result<InProcessBus, BusError> {
        let path =
            std::env::temp_dir().join(format!("reemploi-bus-{}.db", uuid::Uuid::now_v7().simple()));
        Self::open_file(&path, Some(path.clone())).await
    }

    async fn open_file(path: &Path, temporary: Option<PathBuf>) -> Result<InProcessBus, BusError> {
        let url = reemploi_store::sqlite_file_url(path)?;
        let db = Db::connect_with(&url, DbOptions::default()).await?;
        MIGRATIONS
            .run(db.pool())
            .await
            .map_err(|e| BusError::Store(StoreError::Migrate(e)))?;
        Ok(InProcessBus {
            inner: Arc::new(Inner {
                db,
                wakers: Mutex::new(HashMap::new()),
                temporary,
                consumers: crate::ConsumerRegistry::default(),
            }),
        })
    }

    fn wake_all(&self) {
        let wakers = self
            .inner
            .wakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for waker in wakers.values() {
            waker.notify_one();
        }
    }

    /// Sends every durable subscription back to the start of the log, and
    /// returns how many there are: after a restore, each consumer reads the
    /// whole log again, its inbox absorbing what it had applied, so that
    /// whatever its database's copy lacks (taken a moment before the
    /// log's) is applied again and nothing is missed.
    pub async fn rewind_subscriptions(&self) -> Result<u64, BusError> {
        let done = sqlx::query("UPDATE consumers SET acked_seq = 0")
            .execute(self.inner.db.pool())
            .await
            .map_err(StoreError::from)?;
        Ok(done.rows_affected())
    }

    /// How many messages `durable` has not yet taken from the log, plus its
    /// queued retries: 0 once it has caught up.
    pub async fn backlog(&self, durable: &str) -> Result<i64, BusError> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM messages WHERE seq > COALESCE( \
                 (SELECT acked_seq FROM consumers WHERE durable = $1), 0)) \
             + (SELECT COUNT(*) FROM retries WHERE durable = $1) AS n",
        )
        .bind(durable)
        .fetch_one(self.inner.db.pool())
        .await
        .map_err(StoreError::from)?;
        Ok(row.try_get("n").map_err(StoreError::from)?)
    }
}

/// One message as a subscription sees it, from the log or its retry queue.
struct Delivery {
    seq: i64,
    msg: Message,
    failures: i64,
}

fn delivery(row: &AnyRow, failures: bool) -> Result<Delivery, StoreError> {
    let payload: Vec<u8> = row.try_get("payload")?;
    Ok(Delivery {
        seq: row.try_get("seq")?,
        msg: Message {
            subject: row.try_get("subject")?,
            event_id: row.try_get("event_id")?,
            payload: payload.into(),
            traceparent: row.try_get("traceparent")?,
        },
        failures: if failures {
            row.try_get("failures")?
        } else {
            0
        },
    })
}

/// What became of one delivery.
enum Outcome {
    Done,
    /// The subscriber's storage is down: try the same again later, uncounted.
    Wait(String),
    Retry(String),
    Dead(String),
}

/// A task that reads the log, a durable subscription's ([`Reader`]) or a
/// follower's ([`Follower`]); [`read_log`] runs it.
trait LogReader {
    /// Delivers what the log holds past the reader's position; true if
    /// anything was delivered.
    async fn step(&mut self) -> Result<bool, BusError>;

    /// Logs a failed [`LogReader::step`], tried again after `retry_in`.
    fn stalled(&self, error: &BusError, retry_in: Duration);
}

/// Runs `reader` until `shutdown`: again at once while it finds something,
/// after a backoff when it fails, and otherwise once `wake` rings (a
/// publish) or after [`IDLE_POLL`].
async fn read_log(mut reader: impl LogReader, wake: Arc<Notify>, shutdown: CancellationToken) {
    let mut backoff = crate::RETRY_MIN;
    loop {
        if shutdown.is_cancelled() {
            return;
        }
        let progressed = match reader.step().await {
            Ok(progressed) => {
                backoff = crate::RETRY_MIN;
                progressed
            }
            Err(e) => {
                reader.stalled(&e, backoff);
                if crate::sleep_or_shutdown(&shutdown, backoff).await {
                    return;
                }
                backoff = (backoff * 2).min(crate::RETRY_MAX);
                continue;
            }
        };
        if !progressed {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = wake.notified() => {}
                () = tokio::time::sleep(IDLE_POLL) => {}
            }
        }
    }
}

/// The task of one durable subscription.
struct Reader {
    db: Db,
    /// Its counts, for metrics.
    counters: Arc<crate::ConsumerCounters>,
    sub: Subscription,
    handler: Arc<dyn Handler>,
    shutdown: CancellationToken,
}

impl LogReader for Reader {
    /// Handles the retries that fell due, then the next batch of the log.
    async fn step(&mut self) -> Result<bool, BusError> {
        let retried = self.due_retries().await?;
        let read = self.next_batch().await?;
        Ok(retried || read)
    }

    fn stalled(&self, error: &BusError, retry_in: Duration) {
        tracing::warn!(durable = %self.sub.durable, error = %error, retry_in = ?retry_in, "in-process subscription stalled");
    }
}

impl Reader {
    async fn due_retries(&self) -> Result<bool, BusError> {
        let rows = sqlx::query(
            "SELECT seq, subject, event_id, payload, failures, \
             (SELECT traceparent FROM messages WHERE messages.seq = retries.seq) AS traceparent \
             FROM retries \
             WHERE durable = $1 AND due_at <= $2 ORDER BY due_at, seq LIMIT $3",
        )
        .bind(&self.sub.durable)
        .bind(now_millis())
        .bind(BATCH)
        .fetch_all(self.db.pool())
        .await
        .map_err(StoreError::from)?;
        for row in &rows {
            if self.shutdown.is_cancelled() {
                break;
            }
            let d = delivery(row, true)?;
            match self.deliver(&d, true).await {
                Outcome::Done => self.forget_retry(d.seq).await?,
                Outcome::Wait(reason) => self.requeue(&d, d.failures, &reason).await?,
                Outcome::Retry(reason) => self.requeue(&d, d.failures + 1, &reason).await?,
                Outcome::Dead(reason) => self.bury(&d, &reason).await?,
            }
        }
        Ok(!rows.is_empty())
    }

    async fn next_batch(&self) -> Result<bool, BusError> {
        let rows = sqlx::query(
            "SELECT seq, subject, event_id, payload, traceparent FROM messages \
             WHERE seq > (SELECT acked_seq FROM consumers WHERE durable = $1) ORDER BY seq LIMIT $2",
        )
        .bind(&self.sub.durable)
        .bind(BATCH)
        .fetch_all(self.db.pool())
        .await
        .map_err(StoreError::from)?;
        let mut acked = None;
        for row in &rows {
            if self.shutdown.is_cancelled() {
                break;
            }
            let d = delivery(row, false)?;
            if crate::subject_matches(&self.sub.filter, &d.msg.subject) {
                match self.deliver(&d, false).await {
                    Outcome::Done => {}
                    Outcome::Wait(reason) => {
                        // Its own storage is down: stop here and come back
                        // to this very message.
                        self.ack(acked).await?;
                        return Err(BusError::Handler(reason));
                    }
                    Outcome::Retry(reason) => self.requeue(&d, 1, &reason).await?,
                    Outcome::Dead(reason) => self.bury(&d, &reason).await?,
                }
            }
            acked = Some(d.seq);
        }
        self.ack(acked).await?;
        Ok(!rows.is_empty())
    }

    /// Hands `d` to the handler: a repeat when `again` (from the retries).
    async fn deliver(&self, d: &Delivery, again: bool) -> Outcome {
        self.counters.delivery(again);
        match run_handler(&self.handler, &self.sub.durable, &d.msg).await {
            Ok(()) => Outcome::Done,
            Err(HandlerError::Unavailable(reason)) => Outcome::Wait(reason),
            Err(HandlerError::Permanent(reason)) => Outcome::Dead(reason),
            Err(HandlerError::Transient(reason)) if d.failures + 1 >= self.sub.max_deliver => {
                Outcome::Dead(reason)
            }
            Err(HandlerError::Transient(reason)) => Outcome::Retry(reason),
        }
    }

    async fn ack(&self, seq: Option<i64>) -> Result<(), BusError> {
        match seq {
            Some(seq) => {
                self.at(
                    "UPDATE consumers SET acked_seq = $2 WHERE durable = $1 AND acked_seq < $2",
                    seq,
                )
                .await
            }
            None => Ok(()),
        }
    }

    /// Runs `sql` with this subscription's durable as `$1` and `seq` as `$2`.
    async fn at(&self, sql: &'static str, seq: i64) -> Result<(), BusError> {
        sqlx::query(sql)
            .bind(&self.sub.durable)
            .bind(seq)
            .execute(self.db.pool())
            .await
            .map_err(StoreError::from)?;
        Ok(())
    }

    /// Queues `d` to be tried again after a delay that grows with `failures`.
    async fn requeue(&self, d: &Delivery, failures: i64, reason: &str) -> Result<(), BusError> {
        let delay = crate::redelivery_delay(failures);
        tracing::warn!(
            durable = %self.sub.durable, event_id = %d.msg.event_id, failures, reason,
            "in-process delivery failed; retry in {delay:?}"
        );
        let due = now_millis().saturating_add(i64::try_from(delay.as_millis()).unwrap_or(0));
        sqlx::query(
            "INSERT INTO retries (durable, seq, subject, event_id, payload, failures, due_at, reason) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (durable, seq) DO UPDATE \
             SET failures = excluded.failures, due_at = excluded.due_at, reason = excluded.reason",
        )
        .bind(&self.sub.durable)
        .bind(d.seq)
        .bind(&d.msg.subject)
        .bind(&d.msg.event_id)
        .bind(d.msg.payload.to_vec())
        .bind(failures)
        .bind(due)
        .bind(reason)
        .execute(self.db.pool())
        .await
        .map_err(StoreError::from)?;
        Ok(())
    }

    async fn forget_retry(&self, seq: i64) -> Result<(), BusError> {
        self.at("DELETE FROM retries WHERE durable = $1 AND seq = $2", seq)
            .await
    }

    /// Moves `d` to the dead letters, out of the retry queue, in one transaction.
    async fn bury(&self, d: &Delivery, reason: &str) -> Result<(), BusError> {
        tracing::error!(
            durable = %self.sub.durable, subject = %d.msg.subject, event_id = %d.msg.event_id,
            reason, "event dead-lettered"
        );
        self.counters.dead_letter();
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO dead_letters (durable, seq, subject, event_id, payload, reason, dead_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&self.sub.durable)
        .bind(d.seq)
        .bind(&d.msg.subject)
        .bind(&d.msg.event_id)
        .bind(d.msg.payload.to_vec())
        .bind(reason)
        .bind(now_millis())
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        sqlx::query("DELETE FROM retries WHERE durable = $1 AND seq = $2")
            .bind(&self.sub.durable)
            .bind(d.seq)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }
}

/// The task of one follower: the log from the beginning, position in memory.
struct Follower {
    db: Db,
    filter: String,
    handler: Arc<dyn Handler>,
    shutdown: CancellationToken,
    /// The last sequence of the log handed to the handler or passed over.
    position: i64,
    /// Takes the waker off the bus when the task ends.
    _registered: Registered,
}

/// A follower's entry in the bus's wakers, removed when dropped: when the
/// follower's task returns, panics or is aborted. It holds the bus weakly so
/// that a follower keeps no dropped bus (and its temporary file) alive.
struct Registered {
    inner: Weak<Inner>,
    key: String,
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.upgrade() {
            inner
                .wakers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&self.key);
        }
    }
}

impl LogReader for Follower {
    async fn step(&mut self) -> Result<bool, BusError> {
        self.next_batch().await
    }

    fn stalled(&self, error: &BusError, retry_in: Duration) {
        tracing::warn!(filter = %self.filter, error = %error, retry_in = ?retry_in, "in-process follower stalled");
    }
}

impl Follower {
    /// Hands the next batch of the log to the handler; true if the log had
    /// anything past the position (false on shutdown).
    async fn next_batch(&mut self) -> Result<bool, BusError> {
        let rows = sqlx::query(
            "SELECT seq, subject, event_id, payload, traceparent FROM messages WHERE seq > $1 \
             ORDER BY seq LIMIT $2",
        )
        .bind(self.position)
        .bind(BATCH)
        .fetch_all(self.db.pool())
        .await
        .map_err(StoreError::from)?;
        for row in &rows {
            let d = delivery(row, false)?;
            if crate::subject_matches(&self.filter, &d.msg.subject)
                && !crate::follow_one(&self.handler, &d.msg, &self.filter, &self.shutdown).await
            {
                return Ok(false);
            }
            self.position = d.seq;
        }
        Ok(!rows.is_empty())
    }
}

/// The row a dead letter's id names.
fn dead_letter_id(id: &str) -> Result<i64, BusError> {
    // Row ids start at 1.
    id.parse()
        .ok()
        .filter(|row| *row > 0)
        .ok_or_else(|| BusError::Rejected(format!("no dead letter `{id}`")))
}

#[async_trait::async_trait]
impl Bus for InProcessBus {
    async fn publish(&self, msg: &Message) -> Result<(), BusError> {
        let (n, failure) = self.publish_batch(std::slice::from_ref(msg)).await;
        match failure {
            Some(e) => Err(e),
            None if n == 1 => Ok(()),
            None => Err(BusError::Rejected("message not appended".to_owned())),
        }
    }

    async fn publish_batch(&self, msgs: &[Message]) -> (usize, Option<BusError>) {
        let valid = msgs
            .iter()
            .position(|m| crate::validate_subject(&m.subject).is_err())
            .unwrap_or(msgs.len());
        let appended = append(&self.inner.db, &msgs[..valid]).await;
        if let Err(e) = appended {
            return (0, Some(e));
        }
        if valid > 0 {
            self.wake_all();
        }
        match msgs.get(valid) {
            Some(bad) => (valid, crate::validate_subject(&bad.subject).err()),
            None => (valid, None),
        }
    }

    async fn subscribe(
        &self,
        sub: Subscription,
        handler: Arc<dyn Handler>,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, BusError> {
        sub.validate()?;
        sqlx::query(
            "INSERT INTO consumers (durable, filter, acked_seq) VALUES ($1, $2, 0) \
             ON CONFLICT (durable) DO UPDATE SET filter = excluded.filter",
        )
        .bind(&sub.durable)
        .bind(&sub.filter)
        .execute(self.inner.db.pool())
        .await
        .map_err(StoreError::from)?;
        let wake = Arc::new(Notify::new());
        self.inner
            .wakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(sub.durable.clone(), wake.clone());
        let reader = Reader {
            db: self.inner.db.clone(),
            counters: self.inner.consumers.counters(&sub),
            sub,
            handler,
            shutdown: shutdown.clone(),
        };
        Ok(tokio::spawn(read_log(reader, wake, shutdown)))
    }

    async fn follow(
        &self,
        stream_of: &str,
        filter: &str,
        handler: Arc<dyn Handler>,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, BusError> {
        // One log holds every service's messages: `stream_of` is checked
        // like a subscription's, and the filter alone selects.
        crate::validate_follow(stream_of, filter)?;
        Ok(self.follow_after(filter, handler, shutdown, 0))
    }

    async fn follow_new(
        &self,
        stream_of: &str,
        filter: &str,
        handler: Arc<dyn Handler>,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, BusError> {
        crate::validate_follow(stream_of, filter)?;
        let (last,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(seq), 0) FROM messages")
            .fetch_one(self.inner.db.pool())
            .await
            .map_err(StoreError::from)?;
        Ok(self.follow_after(filter, handler, shutdown, last))
    }

    async fn ensure_stream(&self, service: &str) -> Result<(), BusError> {
        crate::validate_name("service", service)
    }

    async fn consumer_stats(&self) -> Vec<crate::ConsumerStats> {
        let mut stats = Vec::new();
        for (durable, _, counters) in self.inner.consumers.all() {
            let lag = match self.backlog(&durable).await {
                Ok(n) => u64::try_from(n).ok(),
                Err(e) => {
                    tracing::debug!(%durable, error = %e, "cannot read a subscription's backlog");
                    None
                }
            };
            stats.push(counters.stats(&durable, lag));
        }
        stats
    }

    async fn dead_letters(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, BusError> {
        let after = after.map(dead_letter_id).transpose()?.unwrap_or(0);
        let rows = sqlx::query(
            "SELECT id, durable, subject, event_id, payload, reason, dead_at FROM dead_letters \
             WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.inner.db.pool())
        .await
        .map_err(StoreError::from)?;
        rows.iter()
            .map(|row| {
                let id: i64 = row.try_get("id")?;
                let payload: Vec<u8> = row.try_get("payload")?;
                Ok(DeadLetter {
                    id: id.to_string(),
                    durable: row.try_get("durable")?,
                    message: Message {
                        subject: row.try_get("subject")?,
                        event_id: row.try_get("event_id")?,
                        payload: payload.into(),
                        traceparent: None,
                    },
                    reason: row.try_get("reason")?,
                    dead_at_ms: row.try_get("dead_at")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(|e| BusError::Store(e.into()))
    }

    async fn replay(&self, id: &str) -> Result<(), BusError> {
        let id = dead_letter_id(id)?;
        let mut tx = self.inner.db.begin_write().await?;
        let moved = sqlx::query(
            "INSERT INTO retries (durable, seq, subject, event_id, payload, failures, due_at, reason) \
             SELECT durable, seq, subject, event_id, payload, 0, $2, 'replayed' FROM dead_letters \
             WHERE id = $1 ON CONFLICT (durable, seq) DO UPDATE SET failures = 0, due_at = excluded.due_at",
        )
        .bind(id)
        .bind(now_millis())
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        if moved.rows_affected() == 0 {
            return Err(BusError::Rejected(format!("no dead letter `{id}`")));
        }
        sqlx::query("DELETE FROM dead_letters WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        tx.commit().await.map_err(StoreError::from)?;
        self.wake_all();
        Ok(())
    }
}

/// Appends `msgs` to the log in one transaction; an event id already in the
/// log is not appended again (a relay that retries after a crash).
async fn append(db: &Db, msgs: &[Message]) -> Result<(), BusError> {
    if msgs.is_empty() {
        return Ok(());
    }
    let now = now_millis();
    let mut tx = db.begin_write().await?;
    for msg in msgs {
        sqlx::query(
            "INSERT INTO messages (event_id, subject, payload, created_at, traceparent) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(&msg.event_id)
        .bind(&msg.subject)
        .bind(msg.payload.to_vec())
        .bind(now)
        .bind(msg.traceparent.as_deref())
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
    }
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nothing;

    #[async_trait::async_trait]
    impl Handler for Nothing {
        async fn handle(&self, _msg: &Message) -> Result<(), HandlerError> {
            Ok(())
        }
    }

    fn readers(bus: &InProcessBus) -> Vec<String> {
        let mut keys: Vec<String> = bus
            .inner
            .wakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    }

    /// A follower's waker sits beside durable ones under a key no durable
    /// can take, and is gone once its task has ended.
    #[tokio::test]
    async fn a_follower_takes_its_waker_away_when_it_ends() {
        let bus = InProcessBus::temporary().await.expect("bus");
        let shutdown = CancellationToken::new();
        bus.subscribe(
            Subscription::new("follow", "inventory", "reemploi.>"),
            Arc::new(Nothing),
            shutdown.clone(),
        )
        .await
        .expect("subscribe");
        let stop = CancellationToken::new();
        let task = bus
            .follow("inventory", "reemploi.>", Arc::new(Nothing), stop.clone())
            .await
            .expect("follow");
        let keys = readers(&bus);
        assert_eq!(keys.len(), 2, "{keys:?}");
        assert_eq!(keys[0], "follow");
        assert!(keys[1].starts_with("follow:"), "{keys:?}");
        stop.cancel();
        task.await.expect("the follower ends cleanly");
        assert_eq!(readers(&bus), ["follow"]);

        // Aborted rather than stopped: gone all the same.
        let task = bus
            .follow(
                "inventory",
                "reemploi.>",
                Arc::new(Nothing),
                shutdown.clone(),
            )
            .await
            .expect("follow");
        assert_eq!(readers(&bus).len(), 2);
        task.abort();
        let _ = task.await;
        assert_eq!(readers(&bus), ["follow"]);
        shutdown.cancel();
    }

    #[tokio::test]
    async fn follow_refuses_bad_filters_and_services() {
        let bus = InProcessBus::temporary().await.expect("bus");
        let shutdown = CancellationToken::new();
        for (service, filter) in [
            ("inventory", "a..b"),
            ("inventory", ""),
            ("in ventory", ">"),
        ] {
            let err = bus
                .follow(service, filter, Arc::new(Nothing), shutdown.clone())
                .await
                .expect_err("refused");
            assert!(matches!(err, BusError::Config(_)), "{err:?}");
        }
        assert!(readers(&bus).is_empty());
    }
}
