//! Idempotency keys: a retried request with the same key returns the first
//! result; the same key with another request is refused. Each service keeps
//! a table `idempotency (scope, caller, request_id, result, created_at,
//! fingerprint)` with the first three as primary key.

use sqlx::{AnyConnection, Row};

use crate::StoreError;

/// What identifies one request for idempotency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// The operation, and the resource it acts under when keys are per
    /// resource (e.g. `create_lot:<site>`).
    pub scope: String,
    /// The whole principal that asked (role, organisation or partner,
    /// subject), so that two callers never share keys.
    pub caller: String,
    /// The client's key.
    pub request_id: String,
    /// A digest of the request, to tell a retry from a different request
    /// that reuses the key.
    pub fingerprint: String,
}

/// How a request with a key begins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begun {
    /// First time: `result` was recorded under the key; go ahead.
    New,
    /// A retry: here is the result recorded the first time.
    Repeat(String),
    /// The key was used for a different request: refuse this one.
    Reused,
}

/// Within the request's own transaction: records `result` under `key`, or
/// tells what was recorded before.
pub async fn begin(
    conn: &mut AnyConnection,
    key: &Key,
    result: &str,
    now: i64,
) -> Result<Begun, StoreError> {
    let found = sqlx::query(
        "SELECT result, fingerprint FROM idempotency \
         WHERE scope = $1 AND caller = $2 AND request_id = $3",
    )
    .bind(&key.scope)
    .bind(&key.caller)
    .bind(&key.request_id)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = found {
        let fingerprint: String = row.try_get("fingerprint")?;
        // Keys recorded before fingerprints were kept match any request.
        if !fingerprint.is_empty() && fingerprint != key.fingerprint {
            return Ok(Begun::Reused);
        }
        return Ok(Begun::Repeat(row.try_get("result")?));
    }
    sqlx::query(
        "INSERT INTO idempotency (scope, caller, request_id, result, created_at, fingerprint) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&key.scope)
    .bind(&key.caller)
    .bind(&key.request_id)
    .bind(result)
    .bind(now)
    .bind(&key.fingerprint)
    .execute(conn)
    .await?;
    Ok(Begun::New)
}
