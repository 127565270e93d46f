//! Tells the watchers of each audience that it has something new. One
//! reader per process follows the notifications made (by this process or
//! by another replica on the same database), woken by the process's own
//! commits and every second, and names the audiences concerned; a
//! `WatchNotifications` stream asks the database again only when its own
//! audience is named. A thousand open streams thus cost one query per
//! commit, not a thousand.

use std::sync::Arc;
use std::time::Duration;

use sqlx::Row;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::error::Result;
use crate::service::Notify;

/// How often the notifications of other replicas are looked for.
const POLL: Duration = Duration::from_secs(1);
/// Notifications read at once.
const BATCH: i64 = 5_000;
/// Audiences named and not yet heard by a slow watcher before it is told
/// it missed some (and asks the database anyway).
pub const CAPACITY: usize = 4_096;

/// What a watcher hears.
pub type Audiences = broadcast::Receiver<Arc<str>>;

/// Waits until `audience` is named (or names were missed); `false` once
/// nothing more will ever be named.
pub async fn named(heard: &mut Audiences, audience: &str) -> bool {
    loop {
        match heard.recv().await {
            Ok(a) if &*a == audience => return true,
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => return true,
            Err(broadcast::error::RecvError::Closed) => return false,
        }
    }
}

impl Notify {
    /// Names the audiences of the notifications made after `last`; the
    /// last sequence number read.
    async fn herald_once(&self, last: i64) -> Result<(i64, bool)> {
        let mut conn = self.db().pool().acquire().await?;
        let rows = sqlx::query(
            "SELECT seq, audience FROM notifications WHERE seq > $1 ORDER BY seq LIMIT 5000",
        )
        .bind(last)
        .fetch_all(&mut *conn)
        .await?;
        let mut newest = last;
        let mut named: Vec<String> = Vec::new();
        for r in &rows {
            newest = newest.max(r.try_get::<i64, _>("seq")?);
            let audience: String = r.try_get("audience")?;
            if !named.contains(&audience) {
                named.push(audience);
            }
        }
        for audience in named {
            // Nobody listening is no error.
            let _ = self.heralds().send(Arc::from(audience));
        }
        Ok((newest, rows.len() as i64 == BATCH))
    }

    /// Follows the notifications made until `stop`.
    pub async fn herald(self, stop: CancellationToken) {
        let mut woken = self.subscribe();
        let mut last = match self.last_seq().await {
            Ok(last) => last,
            Err(e) => {
                tracing::warn!(error = %e, "notifications not read; watchers poll meanwhile");
                0
            }
        };
        loop {
            match self.herald_once(last).await {
                Ok((newest, more)) => {
                    last = newest;
                    if more {
                        continue;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "new notifications not read; will retry"),
            }
            tokio::select! {
                () = stop.cancelled() => return,
                _ = woken.changed() => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }

    async fn last_seq(&self) -> Result<i64> {
        let mut conn = self.db().pool().acquire().await?;
        let last: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM notifications")
            .fetch_one(&mut *conn)
            .await?;
        Ok(last.unwrap_or(0))
    }
}
