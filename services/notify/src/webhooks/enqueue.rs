//! The deliveries an event makes, in the consumer's transaction: one per
//! live webhook whose event types match the event, with the JSON body that
//! will be posted. The live webhooks are kept in memory, so that an event
//! costs no query when there are none.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reemploi_events::{Message, subject_matches};
use reemploi_proto::events::Envelope;
use reemploi_runtime::wire::ts_millis;
use reemploi_store::now_millis;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

use crate::error::Result;
use crate::repo::parse_uuid;
use crate::webhooks::store;

/// How long the list of live webhooks is trusted: those another replica
/// creates or deletes are seen after this long at most.
const FRESH_FOR: Duration = Duration::from_secs(5);

/// What every subject starts with; event types go without it.
pub const PREFIX: &str = "reemploi.";

/// One live webhook, as far as matching goes.
#[derive(Debug, Clone)]
struct LiveHook {
    id: Uuid,
    patterns: Vec<String>,
}

/// The live webhooks in memory, and the signal of new deliveries.
#[derive(Debug, Default)]
pub struct Live {
    hooks: Mutex<Option<(Instant, Arc<Vec<LiveHook>>)>>,
    enqueued: tokio::sync::Notify,
}

impl Live {
    /// Forgets the list: it is read again at the next event (after a
    /// webhook was created or deleted here).
    pub fn invalidate(&self) {
        if let Ok(mut hooks) = self.hooks.lock() {
            *hooks = None;
        }
    }

    /// Wakes the delivery task.
    pub fn wake(&self) {
        self.enqueued.notify_one();
    }

    /// Waits until [`Live::wake`] is called (or was, since the last wait).
    pub async fn woken(&self) {
        self.enqueued.notified().await;
    }

    fn cached(&self) -> Option<Arc<Vec<LiveHook>>> {
        let hooks = self.hooks.lock().ok()?;
        match &*hooks {
            Some((at, list)) if at.elapsed() < FRESH_FOR => Some(list.clone()),
            _ => None,
        }
    }

    async fn current(&self, conn: &mut AnyConnection) -> Result<Arc<Vec<LiveHook>>> {
        if let Some(list) = self.cached() {
            return Ok(list);
        }
        let rows = sqlx::query("SELECT id, event_types FROM webhooks WHERE deleted_at IS NULL")
            .fetch_all(&mut *conn)
            .await?;
        let mut list = Vec::with_capacity(rows.len());
        for r in rows {
            let id: String = r.try_get("id")?;
            let types: String = r.try_get("event_types")?;
            list.push(LiveHook {
                id: parse_uuid("webhook id", &id)?,
                patterns: types.split(' ').map(str::to_owned).collect(),
            });
        }
        let list = Arc::new(list);
        if let Ok(mut hooks) = self.hooks.lock() {
            *hooks = Some((Instant::now(), list.clone()));
        }
        Ok(list)
    }
}

/// Makes the deliveries of the event `msg` (whose envelope is `head`) in
/// the caller's transaction; how many are new.
pub async fn enqueue(
    conn: &mut AnyConnection,
    live: &Live,
    head: &Envelope,
    msg: &Message,
) -> Result<usize> {
    let Some(event_type) = msg.subject.strip_prefix(PREFIX) else {
        return Ok(0);
    };
    // Accounts carry people's emails: they are not for integrators.
    if event_type.starts_with("identity.") {
        return Ok(0);
    }
    let hooks = live.current(conn).await?;
    let targets: Vec<Uuid> = hooks
        .iter()
        .filter(|h| h.patterns.iter().any(|p| subject_matches(p, event_type)))
        .map(|h| h.id)
        .collect();
    if targets.is_empty() {
        return Ok(0);
    }
    let body = body(head, event_type, &msg.payload);
    let now = now_millis();
    let mut made = 0;
    for id in targets {
        if store::insert_delivery(conn, id, &msg.event_id, event_type, body.clone(), now).await? {
            made += 1;
        }
    }
    Ok(made)
}

/// The JSON posted for an event: its envelope's head in the clear, and the
/// envelope itself (protobuf, base64) for what it carries.
fn body(head: &Envelope, event_type: &str, envelope: &[u8]) -> Vec<u8> {
    let occurred = head.occur_time.as_ref().map(ts_millis).unwrap_or_default();
    serde_json::json!({
        "id": head.event_id,
        "type": event_type,
        "occurred_at": reemploi_domain::calendar::rfc3339_millis(occurred),
        "aggregate": head.aggregate,
        "version": head.aggregate_version,
        "producer": head.producer,
        "data": STANDARD.encode(envelope),
    })
    .to_string()
    .into_bytes()
}
