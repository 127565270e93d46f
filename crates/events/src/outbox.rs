//! The transactional outbox: events are written in the producer's transaction
//! and published afterwards by a [`Relay`], in order, marked published only
//! once the bus confirmed them.

use std::sync::Arc;
use std::time::Duration;

use reemploi_store::{Backend, Db, StoreError, now_millis};
use sqlx::Row;
use tokio::sync::{Mutex, Notify};
use tokio_util::sync::CancellationToken;

use crate::{Bus, BusError, Message};

/// Default interval between two polls of the outbox when nobody notifies.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Failures in a row that no retry can fix (the outbox cannot be read at
/// all) after which the relay gives up, so that its process stops with an
/// error rather than serve calls whose events would never leave.
const FATAL_IN_A_ROW: u32 = 5;
/// How long a woken relay waits for more commits before it publishes.
const COALESCE: Duration = Duration::from_millis(2);
/// Rows read per round trip.
const BATCH: i64 = 100;
/// Bounds of the retry backoff when the bus fails.
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Records an event in the caller's transaction, next to the state change it
/// describes: both commit or neither does.
pub async fn enqueue(conn: &mut sqlx::AnyConnection, msg: &Message) -> Result<(), StoreError> {
    crate::validate_subject(&msg.subject).map_err(|e| StoreError::Config(e.to_string()))?;
    sqlx::query(
        "INSERT INTO outbox (event_id, subject, payload, created_at, traceparent) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(msg.event_id.as_str())
    .bind(msg.subject.as_str())
    .bind(msg.payload.to_vec())
    .bind(now_millis())
    .bind(msg.traceparent.as_deref())
    .execute(conn)
    .await?;
    Ok(())
}

/// Records several events in one statement, in order, in the same
/// transaction as the state change (one round trip instead of one per event).
pub async fn enqueue_all(
    conn: &mut sqlx::AnyConnection,
    msgs: &[Message],
) -> Result<(), StoreError> {
    if msgs.is_empty() {
        return Ok(());
    }
    let now = now_millis();
    let mut args = sqlx::any::AnyArguments::default();
    let mut rows = Vec::with_capacity(msgs.len());
    for (i, msg) in msgs.iter().enumerate() {
        crate::validate_subject(&msg.subject).map_err(|e| StoreError::Config(e.to_string()))?;
        let n = i * 5;
        rows.push(format!(
            "(${}, ${}, ${}, ${}, ${})",
            n + 1,
            n + 2,
            n + 3,
            n + 4,
            n + 5
        ));
        let bind = |e: sqlx::error::BoxDynError| {
            StoreError::Config(format!("cannot bind an outbox row: {e}"))
        };
        sqlx::Arguments::add(&mut args, msg.event_id.clone()).map_err(bind)?;
        sqlx::Arguments::add(&mut args, msg.subject.clone()).map_err(bind)?;
        sqlx::Arguments::add(&mut args, msg.payload.to_vec()).map_err(bind)?;
        sqlx::Arguments::add(&mut args, now).map_err(bind)?;
        sqlx::Arguments::add(&mut args, msg.traceparent.clone()).map_err(bind)?;
    }
    // Only numbered placeholders are formatted into the text; every value is bound.
    let sql = format!(
        "INSERT INTO outbox (event_id, subject, payload, created_at, traceparent) VALUES {}",
        rows.join(", ")
    );
    sqlx::query_with(sqlx::AssertSqlSafe(sql), args)
        .execute(conn)
        .await?;
    Ok(())
}

/// Publishes pending outbox rows in order (by `seq`), awaiting each publish,
/// then marks them published; retries with backoff while the bus fails; wakes
/// on [`Relay::notify`] or every poll interval.
///
/// Several relays (service replicas) may share one PostgreSQL database: one
/// drains at a time (an advisory lock per schema), which keeps the order and avoids most
/// duplicates; the broker's dedup window absorbs the rest.
#[derive(Clone)]
pub struct Relay {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    bus: Arc<dyn Bus>,
    wake: Notify,
    /// One drain at a time per relay (run loop and explicit calls alike).
    draining: Mutex<()>,
    poll_interval: Duration,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("db", &self.inner.db)
            .field("poll_interval", &self.inner.poll_interval)
            .finish_non_exhaustive()
    }
}

struct Pending {
    seq: i64,
    msg: Message,
}

impl Relay {
    /// A relay publishing `db`'s outbox on `bus`.
    pub fn new(db: Db, bus: Arc<dyn Bus>) -> Relay {
        Relay::with_poll_interval(db, bus, DEFAULT_POLL_INTERVAL)
    }

    /// A relay that polls every `poll_interval` when not notified.
    pub fn with_poll_interval(db: Db, bus: Arc<dyn Bus>, poll_interval: Duration) -> Relay {
        Relay {
            inner: Arc::new(Inner {
                db,
                bus,
                wake: Notify::new(),
                draining: Mutex::new(()),
                poll_interval,
            }),
        }
    }

    /// Call after committing a transaction that enqueued events, to publish promptly.
    pub fn notify(&self) {
        // notify_one keeps a permit when the loop is busy, so no wake-up is lost.
        self.inner.wake.notify_one();
    }

    /// Records `events` in the transaction's outbox, commits the state change
    /// with them, and wakes the relay when there is something to publish.
    pub async fn commit(
        &self,
        mut tx: sqlx::Transaction<'static, sqlx::Any>,
        events: &[Message],
    ) -> Result<(), StoreError> {
        enqueue_all(&mut tx, events).await?;
        tx.commit().await?;
        if !events.is_empty() {
            self.notify();
        }
        Ok(())
    }

    /// One pass: publishes everything pending now and returns how many were
    /// published; stops at the first failure so that order is kept.
    pub async fn drain(&self) -> Result<usize, BusError> {
        let _one_at_a_time = self.inner.draining.lock().await;
        let mut published = 0;
        loop {
            let n = match self.inner.db.backend() {
                Backend::Sqlite => self.drain_batch_sqlite().await?,
                Backend::Postgres => match self.drain_batch_postgres().await? {
                    Some(n) => n,
                    // Another replica is draining.
                    None => return Ok(published),
                },
            };
            published += n;
            if n < BATCH as usize {
                return Ok(published);
            }
        }
    }

    async fn drain_batch_sqlite(&self) -> Result<usize, BusError> {
        // No transaction around the publishes: in-process subscribers write
        // to the same SQLite file and need its write lock meanwhile.
        let rows = fetch_pending(self.inner.db.pool()).await?;
        let (spans, msgs) = outgoing(&rows);
        let (published, failure) = self.inner.bus.publish_batch(&msgs).await;
        drop(spans);
        let seqs: Vec<i64> = rows.iter().take(published).map(|r| r.seq).collect();
        mark_published(self.inner.db.pool(), &seqs).await?;
        match failure {
            Some(e) => Err(e),
            None => Ok(published),
        }
    }

    async fn drain_batch_postgres(&self) -> Result<Option<usize>, BusError> {
        let mut tx = self
            .inner
            .db
            .pool()
            .begin()
            .await
            .map_err(StoreError::from)?;
        // The drain lock is taken in the same statement that reads the
        // pending rows (one round trip); with nothing pending, no lock is needed.
        let found = sqlx::query(
            "SELECT seq, event_id, subject, payload, traceparent, \
             pg_try_advisory_xact_lock($2) AS leader \
             FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT $1",
        )
        .bind(BATCH)
        .bind(self.inner.db.lock_key("outbox relay"))
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        if let Some(first) = found.first() {
            let leader: bool = first.try_get("leader").map_err(StoreError::from)?;
            if !leader {
                return Ok(None);
            }
        }
        let rows = found
            .iter()
            .map(pending_row)
            .collect::<Result<Vec<_>, StoreError>>()?;
        let (spans, msgs) = outgoing(&rows);
        let (published, failure) = self.inner.bus.publish_batch(&msgs).await;
        drop(spans);
        let seqs: Vec<i64> = rows.iter().take(published).map(|r| r.seq).collect();
        mark_published(&mut *tx, &seqs).await?;
        // Commit what was published even when a later publish failed.
        tx.commit().await.map_err(StoreError::from)?;
        match failure {
            Some(e) => Err(e),
            None => Ok(Some(published)),
        }
    }

    /// Runs until `shutdown`, then makes a final drain attempt. Returns
    /// early only when the outbox itself cannot be read, time after time
    /// (a damaged schema): the caller's supervision then stops the process.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut backoff = RETRY_MIN;
        let mut fatal = 0;
        loop {
            let wait = match self.drain().await {
                Ok(_) => {
                    backoff = RETRY_MIN;
                    fatal = 0;
                    None
                }
                Err(e) if e.is_fatal() && fatal + 1 >= FATAL_IN_A_ROW => {
                    tracing::error!(error = %e, "outbox relay: the outbox cannot be read; giving up");
                    return;
                }
                Err(e) => {
                    fatal = if e.is_fatal() { fatal + 1 } else { 0 };
                    tracing::warn!(error = %e, retry_in = ?backoff, "outbox relay: publish failed");
                    let wait = backoff;
                    backoff = (backoff * 2).min(RETRY_MAX);
                    Some(wait)
                }
            };
            let stop = match wait {
                // After a failure, wait out the backoff (a notify would only
                // hammer a bus that is down).
                Some(d) => tokio::select! {
                    _ = shutdown.cancelled() => true,
                    _ = tokio::time::sleep(d) => false,
                },
                None => tokio::select! {
                    _ = shutdown.cancelled() => true,
                    _ = self.inner.wake.notified() => {
                        // Let the commits of a burst gather, so one pass
                        // publishes them together instead of one pass each.
                        tokio::time::sleep(COALESCE).await;
                        false
                    }
                    _ = tokio::time::sleep(self.inner.poll_interval) => false,
                },
            };
            if stop {
                if let Err(e) = self.drain().await {
                    tracing::warn!(error = %e, "outbox relay: final drain failed; events stay pending");
                }
                return;
            }
        }
    }

    /// How many events wait to be published.
    pub async fn pending(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) FROM outbox WHERE published_at IS NULL")
            .fetch_one(self.inner.db.pool())
            .await?;
        Ok(row.try_get(0)?)
    }

    /// Deletes rows published more than `older_than` ago (well past the
    /// broker's dedup window); returns how many.
    pub async fn prune(&self, older_than: Duration) -> Result<u64, StoreError> {
        let age = i64::try_from(older_than.as_millis()).unwrap_or(i64::MAX);
        let cutoff = now_millis().saturating_sub(age);
        let done =
            sqlx::query("DELETE FROM outbox WHERE published_at IS NOT NULL AND published_at < $1")
                .bind(cutoff)
                .execute(self.inner.db.pool())
                .await?;
        Ok(done.rows_affected())
    }
}

/// Marks every event still in the outbox as to be published again, and
/// returns how many: after a restore, the bus log (copied before this
/// database) may lack the last ones; the bus keeps an event id once, so
/// publishing again the ones it has changes nothing.
pub async fn republish_all(db: &Db) -> Result<u64, StoreError> {
    let done = sqlx::query("UPDATE outbox SET published_at = NULL WHERE published_at IS NOT NULL")
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected())
}

async fn fetch_pending<'e, E>(executor: E) -> Result<Vec<Pending>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let rows = sqlx::query(
        "SELECT seq, event_id, subject, payload, traceparent FROM outbox \
         WHERE published_at IS NULL ORDER BY seq LIMIT $1",
    )
    .bind(BATCH)
    .fetch_all(executor)
    .await?;
    rows.iter().map(pending_row).collect()
}

fn pending_row(row: &sqlx::any::AnyRow) -> Result<Pending, StoreError> {
    let payload: Vec<u8> = row.try_get(3)?;
    Ok(Pending {
        seq: row.try_get(0)?,
        msg: Message {
            event_id: row.try_get(1)?,
            subject: row.try_get(2)?,
            payload: payload.into(),
            traceparent: row.try_get(4)?,
        },
    })
}

/// The messages of `rows` as they go out, each with a `publish` span in
/// the trace it was made in (open until the caller drops it, once the bus
/// confirmed), and carrying that span's context on to its consumers.
fn outgoing(rows: &[Pending]) -> (Vec<tracing::Span>, Vec<Message>) {
    rows.iter()
        .map(|row| {
            let span = tracing::info_span!(
                "publish",
                subject = %row.msg.subject,
                event_id = %row.msg.event_id,
            );
            crate::trace::adopt(&span, row.msg.traceparent.as_deref());
            let mut msg = row.msg.clone();
            if let Some(context) = crate::trace::of(&span) {
                msg.traceparent = Some(context);
            }
            (span, msg)
        })
        .unzip()
}

/// Marks the rows of `seqs` published, in one statement.
async fn mark_published<'e, E>(executor: E, seqs: &[i64]) -> Result<(), StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    if seqs.is_empty() {
        return Ok(());
    }
    let mut args = sqlx::any::AnyArguments::default();
    let bind =
        |e: sqlx::error::BoxDynError| StoreError::Config(format!("cannot bind a sequence: {e}"));
    sqlx::Arguments::add(&mut args, now_millis()).map_err(bind)?;
    let mut placeholders = Vec::with_capacity(seqs.len());
    for (i, seq) in seqs.iter().enumerate() {
        sqlx::Arguments::add(&mut args, *seq).map_err(bind)?;
        placeholders.push(format!("${}", i + 2));
    }
    // Only numbered placeholders are formatted into the text.
    let sql = format!(
        "UPDATE outbox SET published_at = $1 WHERE seq IN ({})",
        placeholders.join(", ")
    );
    sqlx::query_with(sqlx::AssertSqlSafe(sql), args)
        .execute(executor)
        .await?;
    Ok(())
}
