//! Copies of live SQLite databases, for the embedded mode's backups.

use std::path::Path;
use std::time::Duration;

use sqlx::Connection as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

use crate::StoreError;

/// How long a snapshot waits for a writer holding the database's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Writes a consistent copy of the SQLite database `from`, in use or not,
/// to the new file `to`. `VACUUM INTO` reads one snapshot of the database
/// as any reader does (the WAL lets writers carry on meanwhile) and writes
/// it whole, compacted, with nothing of the write-ahead log left outside.
pub async fn sqlite(from: &Path, to: &Path) -> Result<(), StoreError> {
    let target = to
        .to_str()
        .ok_or_else(|| StoreError::Config(format!("path {} is not valid UTF-8", to.display())))?;
    let options = SqliteConnectOptions::new()
        .filename(from)
        .read_only(true)
        .busy_timeout(BUSY_TIMEOUT);
    let mut conn = SqliteConnection::connect_with(&options).await?;
    sqlx::query("VACUUM INTO $1")
        .bind(target)
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Row as _;

    #[tokio::test]
    async fn a_snapshot_holds_what_was_committed_and_opens_on_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("live.db");
        let options = SqliteConnectOptions::new()
            .filename(&live)
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
        let mut writer = SqliteConnection::connect_with(&options).await.unwrap();
        sqlx::query("CREATE TABLE t (n INTEGER NOT NULL)")
            .execute(&mut writer)
            .await
            .unwrap();
        for n in 0..100 {
            sqlx::query("INSERT INTO t (n) VALUES ($1)")
                .bind(n)
                .execute(&mut writer)
                .await
                .unwrap();
        }
        // A transaction open and not committed is not in the copy.
        sqlx::query("BEGIN").execute(&mut writer).await.unwrap();
        sqlx::query("INSERT INTO t (n) VALUES (1000)")
            .execute(&mut writer)
            .await
            .unwrap();
        let copy = dir.path().join("copy.db");
        sqlite(&live, &copy).await.unwrap();
        sqlx::query("COMMIT").execute(&mut writer).await.unwrap();
        let read = SqliteConnectOptions::new().filename(&copy).read_only(true);
        let mut reader = SqliteConnection::connect_with(&read).await.unwrap();
        let row = sqlx::query("SELECT COUNT(*) AS c, MAX(n) AS m FROM t")
            .fetch_one(&mut reader)
            .await
            .unwrap();
        assert_eq!(row.get::<i64, _>("c"), 100);
        assert_eq!(row.get::<i64, _>("m"), 99);
        assert!(
            sqlite(&live, &copy).await.is_err(),
            "an existing file is never overwritten"
        );
    }
}
