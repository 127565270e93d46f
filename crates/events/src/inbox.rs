//! The consumer-side inbox: the ids of events already applied, so that a
//! redelivered event is applied once.

use reemploi_store::{StoreError, now_millis};

/// Within the consumer's transaction, records that `consumer` processes
/// `event_id`; returns `false` if it already did (the caller then applies
/// nothing, commits and acks).
///
/// On PostgreSQL a concurrent transaction recording the same pair waits for
/// this one, then sees the row: replicas of a consumer apply an event once.
pub async fn first_time(
    conn: &mut sqlx::AnyConnection,
    consumer: &str,
    event_id: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO inbox (consumer, event_id, processed_at) VALUES ($1, $2, $3) \
         ON CONFLICT (consumer, event_id) DO NOTHING",
    )
    .bind(consumer)
    .bind(event_id)
    .bind(now_millis())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes inbox rows older than `older_than_millis` milliseconds; safe once
/// the broker can no longer redeliver them. Returns how many.
pub async fn prune(
    conn: &mut sqlx::AnyConnection,
    older_than_millis: i64,
) -> Result<u64, StoreError> {
    let cutoff = now_millis().saturating_sub(older_than_millis);
    let done = sqlx::query("DELETE FROM inbox WHERE processed_at < $1")
        .bind(cutoff)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}
