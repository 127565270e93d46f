//! The SQL of webhooks and their deliveries, on both backends; values are
//! always bound.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

use crate::error::Result;
use crate::repo::parse_uuid;

/// A webhook as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Hook {
    /// Its id (`webhooks/{id}`).
    pub id: Uuid,
    /// Who created it (a token subject).
    pub owner: String,
    /// Where deliveries are posted.
    pub url: String,
    /// Subject patterns without `reemploi.`.
    pub event_types: Vec<String>,
    /// The signing key.
    pub secret: String,
    /// When it was created (Unix ms).
    pub created_at: i64,
    /// When it was deleted (Unix ms), if it was.
    pub deleted_at: Option<i64>,
}

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret signs deliveries, and the URL may carry a credential
        // of the receiver (a token in its query): neither reaches a log.
        f.debug_struct("Hook")
            .field("id", &self.id)
            .field("owner", &self.owner)
            .field("event_types", &self.event_types)
            .field("deleted_at", &self.deleted_at)
            .finish_non_exhaustive()
    }
}

const HOOK_COLUMNS: &str = "id, owner, url, event_types, secret, created_at, deleted_at";

fn hook_of(r: &AnyRow) -> Result<Hook> {
    let id: String = r.try_get("id")?;
    let types: String = r.try_get("event_types")?;
    Ok(Hook {
        id: parse_uuid("webhook id", &id)?,
        owner: r.try_get("owner")?,
        url: r.try_get("url")?,
        event_types: types.split(' ').map(str::to_owned).collect(),
        secret: r.try_get("secret")?,
        created_at: r.try_get("created_at")?,
        deleted_at: r.try_get("deleted_at")?,
    })
}

/// Stores a new webhook.
pub async fn insert_hook(conn: &mut AnyConnection, h: &Hook) -> Result<()> {
    sqlx::query(
        "INSERT INTO webhooks (id, owner, url, event_types, secret, created_at, deleted_at) \
         VALUES ($1, $2, $3, $4, $5, $6, NULL)",
    )
    .bind(h.id.to_string())
    .bind(h.owner.clone())
    .bind(h.url.clone())
    .bind(h.event_types.join(" "))
    .bind(h.secret.clone())
    .bind(h.created_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One webhook, deleted or not.
pub async fn hook(conn: &mut AnyConnection, id: Uuid) -> Result<Option<Hook>> {
    let sql = format!("SELECT {HOOK_COLUMNS} FROM webhooks WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(hook_of).transpose()
}

/// The live webhooks (of `owner`, or everyone's), oldest first, after the
/// id `after`, at most `limit`.
pub async fn live_hooks(
    conn: &mut AnyConnection,
    owner: Option<&str>,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<Hook>> {
    let sql = format!(
        "SELECT {HOOK_COLUMNS} FROM webhooks WHERE deleted_at IS NULL \
         AND ($1 = '' OR owner = $1) AND id > $2 ORDER BY id LIMIT {limit}"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(owner.unwrap_or_default().to_owned())
        .bind(after.unwrap_or_default().to_owned())
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(hook_of).collect()
}

/// Marks a webhook deleted; whether it was live.
pub async fn delete_hook(conn: &mut AnyConnection, id: Uuid, now: i64) -> Result<bool> {
    let done =
        sqlx::query("UPDATE webhooks SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL")
            .bind(id.to_string())
            .bind(now)
            .execute(&mut *conn)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks every live webhook of `owner` deleted (its token revoked, its
/// account disabled); how many there were.
pub async fn retire_owner(conn: &mut AnyConnection, owner: &str, now: i64) -> Result<u64> {
    let done =
        sqlx::query("UPDATE webhooks SET deleted_at = $2 WHERE owner = $1 AND deleted_at IS NULL")
            .bind(owner.to_owned())
            .bind(now)
            .execute(&mut *conn)
            .await?;
    Ok(done.rows_affected())
}

/// The live webhooks that have deliveries waiting.
pub async fn hooks_with_pending(conn: &mut AnyConnection) -> Result<Vec<Hook>> {
    let sql = format!(
        "SELECT {HOOK_COLUMNS} FROM webhooks w WHERE deleted_at IS NULL AND EXISTS \
         (SELECT 1 FROM deliveries d WHERE d.webhook_id = w.id AND d.state = 'PENDING') ORDER BY id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(hook_of).collect()
}

/// Where a delivery stands, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Waiting for its turn or its next attempt.
    Pending,
    /// Answered 2xx.
    Delivered,
    /// Given up.
    Failed,
}

impl State {
    /// Its stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "PENDING",
            State::Delivered => "DELIVERED",
            State::Failed => "FAILED",
        }
    }

    fn parse(s: &str) -> Option<State> {
        match s {
            "PENDING" => Some(State::Pending),
            "DELIVERED" => Some(State::Delivered),
            "FAILED" => Some(State::Failed),
            _ => None,
        }
    }
}

/// A delivery as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Its position among all deliveries: each webhook's go in this order.
    pub seq: i64,
    /// Its id.
    pub id: Uuid,
    /// Its webhook.
    pub webhook_id: Uuid,
    /// The event's id.
    pub event_id: String,
    /// The event's subject without `reemploi.`.
    pub event_type: String,
    /// The JSON posted.
    pub body: Vec<u8>,
    /// Where it stands.
    pub state: State,
    /// Attempts made since `retry_from`.
    pub attempts: i64,
    /// The last attempt's outcome.
    pub last_error: Option<String>,
    /// When it was made (Unix ms).
    pub created_at: i64,
    /// When its retries began (its creation or a manual retry).
    pub retry_from: i64,
    /// When its next attempt is due.
    pub next_attempt_at: i64,
    /// When it was delivered.
    pub delivered_at: Option<i64>,
}

const DELIVERY_COLUMNS: &str = "seq, id, webhook_id, event_id, event_type, body, state, attempts, \
     last_error, created_at, retry_from, next_attempt_at, delivered_at";

fn delivery_of(r: &AnyRow) -> Result<Delivery> {
    let id: String = r.try_get("id")?;
    let hook: String = r.try_get("webhook_id")?;
    let state: String = r.try_get("state")?;
    Ok(Delivery {
        seq: r.try_get("seq")?,
        id: parse_uuid("delivery id", &id)?,
        webhook_id: parse_uuid("webhook id", &hook)?,
        event_id: r.try_get("event_id")?,
        event_type: r.try_get("event_type")?,
        body: r.try_get("body")?,
        state: State::parse(&state).ok_or_else(|| {
            reemploi_runtime::error::ApiError::Internal(format!("stored state {state:?}"))
        })?,
        attempts: r.try_get("attempts")?,
        last_error: r.try_get("last_error")?,
        created_at: r.try_get("created_at")?,
        retry_from: r.try_get("retry_from")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        delivered_at: r.try_get("delivered_at")?,
    })
}

/// Makes the delivery of an event to a webhook unless it was made; whether
/// it is new.
pub async fn insert_delivery(
    conn: &mut AnyConnection,
    webhook: Uuid,
    event_id: &str,
    event_type: &str,
    body: Vec<u8>,
    now: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO deliveries (id, webhook_id, event_id, event_type, body, state, attempts, \
         created_at, retry_from, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $5, 'PENDING', 0, $6, $6, $6) \
         ON CONFLICT (webhook_id, event_id) DO NOTHING",
    )
    .bind(Uuid::now_v7().to_string())
    .bind(webhook.to_string())
    .bind(event_id.to_owned())
    .bind(event_type.to_owned())
    .bind(body)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The first pending delivery of a live webhook: the only one it may post
/// (none once it is deleted, even while its deliveries are being posted).
pub async fn head(conn: &mut AnyConnection, webhook: Uuid) -> Result<Option<Delivery>> {
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE webhook_id = $1 AND state = 'PENDING' \
         AND EXISTS (SELECT 1 FROM webhooks w WHERE w.id = $1 AND w.deleted_at IS NULL) \
         ORDER BY seq LIMIT 1"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(webhook.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(delivery_of).transpose()
}

/// One delivery of a webhook.
pub async fn delivery(
    conn: &mut AnyConnection,
    webhook: Uuid,
    id: Uuid,
) -> Result<Option<Delivery>> {
    let sql =
        format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE webhook_id = $1 AND id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(webhook.to_string())
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(delivery_of).transpose()
}

/// A page of a webhook's deliveries, newest first, before `before` (a seq).
pub async fn deliveries(
    conn: &mut AnyConnection,
    webhook: Uuid,
    state: Option<State>,
    before: Option<i64>,
    limit: usize,
) -> Result<Vec<Delivery>> {
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE webhook_id = $1 \
         AND ($2 = '' OR state = $2) AND seq < $3 ORDER BY seq DESC LIMIT {limit}"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(webhook.to_string())
        .bind(state.map_or("", State::as_str))
        .bind(before.unwrap_or(i64::MAX))
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(delivery_of).collect()
}

/// Takes the attempt of a pending delivery due at `due` until `until`, so
/// that no other replica posts it meanwhile; whether it was taken.
pub async fn lease(conn: &mut AnyConnection, id: Uuid, due: i64, until: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE deliveries SET next_attempt_at = $3 \
         WHERE id = $1 AND state = 'PENDING' AND next_attempt_at = $2",
    )
    .bind(id.to_string())
    .bind(due)
    .bind(until)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The outcome of one attempt.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Answered 2xx at this time.
    Delivered(i64),
    /// Failed; tried again at `next`.
    Retry { error: String, next: i64 },
    /// Failed, and the retries are over.
    Failed { error: String },
}

/// Records an attempt of a pending delivery.
pub async fn record(conn: &mut AnyConnection, id: Uuid, outcome: &Outcome) -> Result<()> {
    let (state, error, next, delivered) = match outcome {
        Outcome::Delivered(at) => (State::Delivered, None, *at, Some(*at)),
        Outcome::Retry { error, next } => (State::Pending, Some(error.clone()), *next, None),
        Outcome::Failed { error } => (State::Failed, Some(error.clone()), 0, None),
    };
    sqlx::query(
        "UPDATE deliveries SET state = $2, attempts = attempts + 1, \
         last_error = COALESCE($3, last_error), next_attempt_at = $4, delivered_at = $5 \
         WHERE id = $1 AND state = 'PENDING'",
    )
    .bind(id.to_string())
    .bind(state.as_str())
    .bind(error)
    .bind(next)
    .bind(delivered)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Puts a failed delivery of `webhook` back in line from `now`; whether
/// it was one of its failed ones.
pub async fn retry(conn: &mut AnyConnection, webhook: Uuid, id: Uuid, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE deliveries SET state = 'PENDING', attempts = 0, retry_from = $2, \
         next_attempt_at = $2 WHERE id = $1 AND webhook_id = $3 AND state = 'FAILED'",
    )
    .bind(id.to_string())
    .bind(now)
    .bind(webhook.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hooks_debug_shows_neither_its_url_nor_its_secret() {
        let h = Hook {
            id: Uuid::now_v7(),
            owner: "integrators/acme".into(),
            url: "https://hooks.example.org/in?token=url-credential".into(),
            event_types: vec!["inventory.>".into()],
            secret: "signing-secret".into(),
            created_at: 1,
            deleted_at: None,
        };
        let shown = format!("{h:?}");
        assert!(shown.contains("integrators/acme"), "{shown}");
        assert!(!shown.contains("url-credential"), "{shown}");
        assert!(!shown.contains("hooks.example.org"), "{shown}");
        assert!(!shown.contains("signing-secret"), "{shown}");
    }
}
