//! Idempotency keys: a retried request with the same key returns the first
//! result. Each service keeps a table
//! `idempotency (scope, caller, request_id, result, created_at)` with that
//! triple as primary key.

use sqlx::{AnyConnection, Row};

use crate::StoreError;

/// The result recorded for a key, if any.
pub async fn recorded(
    conn: &mut AnyConnection,
    scope: &str,
    caller: &str,
    request_id: &str,
) -> Result<Option<String>, StoreError> {
    let row = sqlx::query(
        "SELECT result FROM idempotency WHERE scope = $1 AND caller = $2 AND request_id = $3",
    )
    .bind(scope)
    .bind(caller)
    .bind(request_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| r.try_get("result")).transpose()?)
}

/// Records the result of a request, in the request's own transaction.
pub async fn record(
    conn: &mut AnyConnection,
    scope: &str,
    caller: &str,
    request_id: &str,
    result: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO idempotency (scope, caller, request_id, result, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(scope)
    .bind(caller)
    .bind(request_id)
    .bind(result)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}
