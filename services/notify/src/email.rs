//! The email channel: a background reader turns each notification into one
//! email row per recipient (its audience's accounts, as each chose for the
//! kind), exactly once; then the immediate rows are sent one by one, in
//! order per recipient and with retries, and the digest rows once a day,
//! one email per recipient.

use std::collections::BTreeMap;
use std::time::Duration;

use reemploi_mail::{MailArgs, Mailer};
use reemploi_store::{Backend, now_millis};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::error::Result;
use crate::letters::{self, Item};
use crate::model::{Kind, Mode};
use crate::repo::{self, parse_uuid};
use crate::service::Notify;

/// Where the links of the emails point unless told otherwise: the web app
/// as `reemploi up` serves it by default (the identity service's default).
pub const DEFAULT_PUBLIC_URL: &str = "http://localhost:8080";

/// The row of `cursors` the fan-out keeps.
const CURSOR: &str = "email";
/// The most notifications fanned out in one transaction.
const FAN_OUT_BATCH: i64 = 200;
/// The most emails picked at once.
const SEND_BATCH: i64 = 200;
/// How often the task looks for work made by other replicas.
const POLL: Duration = Duration::from_secs(5);
/// How long a replica owns an email it is sending: past it, another one
/// may send it (the first died in between).
const LEASE_MS: i64 = 10 * 60_000;
/// The wait after a first failure; it doubles with each further one.
const FIRST_RETRY_MS: i64 = 30_000;
/// The longest wait between two attempts.
const MAX_RETRY_MS: i64 = 6 * 3_600_000;
/// After this many failures an email is given up, so that it no longer
/// holds its recipient's later ones back.
pub const MAX_ATTEMPTS: i64 = 12;
const DAY_MS: i64 = 86_400_000;

/// Where the emails' links lead, for the `reemploi-notify` binary; `reemploi
/// up` takes both from the identity service's flags instead.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
#[command(next_help_heading = "Notifications", about = None, long_about = None)]
pub struct EmailArgs {
    /// Where people open the links of notification emails (the web app).
    #[arg(
        long = "notify-public-url",
        env = "REEMPLOI_NOTIFY_PUBLIC_URL",
        default_value = DEFAULT_PUBLIC_URL
    )]
    pub public_url: String,

    #[command(flatten)]
    pub mail: MailArgs,
}

impl Default for EmailArgs {
    fn default() -> Self {
        EmailArgs {
            public_url: DEFAULT_PUBLIC_URL.to_owned(),
            mail: MailArgs::default(),
        }
    }
}

/// Sends the notifications by email.
#[derive(Clone)]
pub struct Emailer {
    notify: Notify,
    mailer: Mailer,
    public_url: String,
    digest_hour: u32,
}

/// One email row to send, with what it says and where it goes.
struct Pending {
    seq: i64,
    account: Uuid,
    next_attempt_at: i64,
    attempts: i64,
    to: String,
    item: Item,
}

impl Emailer {
    /// Emails of `notify` sent by `mailer`, linking to `public_url`, the
    /// digest going out after `digest_hour` (UTC) each day.
    pub fn new(notify: Notify, mailer: Mailer, public_url: &str, digest_hour: u32) -> Emailer {
        Emailer {
            notify,
            mailer,
            public_url: public_url.trim_end_matches('/').to_owned(),
            digest_hour: digest_hour.min(23),
        }
    }

    /// Makes the email rows of every notification not yet read; how many.
    pub async fn fan_out(&self) -> Result<usize> {
        let mut made = 0;
        loop {
            let (read, rows) = self.fan_out_batch().await?;
            made += rows;
            if read < FAN_OUT_BATCH {
                return Ok(made);
            }
        }
    }

    /// One batch after the cursor, rows and cursor in one transaction: a
    /// crash leaves both as they were, and a replica doing the same work
    /// meanwhile makes no row twice (the key is the notification and the
    /// account). Notifications read, rows made.
    async fn fan_out_batch(&self) -> Result<(i64, usize)> {
        let db = self.notify.db();
        let mut tx = db.begin_write().await?;
        if db.backend() == Backend::Postgres {
            // Replicas take turns rather than do the same batch together.
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(db.lock_key("email-fan-out"))
                .execute(&mut *tx)
                .await?;
        }
        let cursor: Option<i64> = sqlx::query_scalar("SELECT seq FROM cursors WHERE name = $1")
            .bind(CURSOR)
            .fetch_optional(&mut *tx)
            .await?;
        let rows = sqlx::query(
            "SELECT seq, audience, kind, created_at FROM notifications \
             WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(cursor.unwrap_or(0))
        .bind(FAN_OUT_BATCH)
        .fetch_all(&mut *tx)
        .await?;
        let mut made = 0;
        let mut last = None;
        for row in &rows {
            let seq: i64 = row.try_get("seq")?;
            made += fan_out_one(&mut tx, row).await?;
            last = Some(seq);
        }
        if let Some(last) = last {
            sqlx::query(
                "INSERT INTO cursors (name, seq) VALUES ($1, $2) ON CONFLICT (name) \
                 DO UPDATE SET seq = excluded.seq WHERE cursors.seq < excluded.seq",
            )
            .bind(CURSOR)
            .bind(last)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok((i64::try_from(rows.len()).unwrap_or(i64::MAX), made))
    }

    /// Sends every immediate email due at `now`, each recipient's in the
    /// order they were made; how many were sent.
    pub async fn send_due(&self, now: i64) -> Result<usize> {
        self.cancel_unwanted().await?;
        let mut sent = 0;
        loop {
            let heads = self.due_heads(now).await?;
            if heads.is_empty() {
                return Ok(sent);
            }
            for email in heads {
                if !self.claim(&email, now).await? {
                    continue;
                }
                let mail = letters::single(&self.public_url, &email.to, &email.item, |k| {
                    self.notify.unsubscriber().token(email.account, k)
                });
                let outcome = self.mailer.send(&mail).await;
                let done = self.record(&[&email], outcome.map(|_| ()), now).await?;
                sent += usize::from(done);
            }
        }
    }

    /// Sends the digest of every recipient with digest emails made before
    /// the last digest hour that came by `now`: one email each; how many.
    /// Called many times a day, it sends each recipient one digest a day.
    pub async fn send_digests(&self, now: i64) -> Result<usize> {
        self.cancel_unwanted().await?;
        let cutoff = digest_cutoff(now, self.digest_hour);
        let mut conn = self.notify.db().pool().acquire().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{PENDING_SELECT} WHERE e.state = 'pending' AND e.digest = 1 \
             AND n.created_at < $1 AND e.next_attempt_at <= $2 \
             ORDER BY e.account_id, e.seq LIMIT 5000"
        )))
        .bind(cutoff)
        .bind(now)
        .fetch_all(&mut *conn)
        .await?;
        drop(conn);
        let mut by_account: BTreeMap<Uuid, Vec<Pending>> = BTreeMap::new();
        for row in &rows {
            let p = pending_of(row)?;
            by_account.entry(p.account).or_default().push(p);
        }
        let mut sent = 0;
        for (account, all) in by_account {
            // An account's digest is taken whole or not at all, so that two
            // replicas never send it in two parts.
            let taken = self.claim_digest(account, cutoff, now).await?;
            let mut mine: Vec<Pending> =
                all.into_iter().filter(|p| taken.contains(&p.seq)).collect();
            if mine.len() < taken.len() {
                // More than one listing holds: read back all that was taken.
                mine = self.taken_digest(account, now).await?;
            }
            let Some(first) = mine.first() else {
                continue;
            };
            let items: Vec<&Item> = mine.iter().map(|p| &p.item).collect();
            let mail = letters::digest(&self.public_url, &first.to, &items, |k| {
                self.notify.unsubscriber().token(account, k)
            });
            let outcome = self.mailer.send(&mail).await;
            let refs: Vec<&Pending> = mine.iter().collect();
            sent += usize::from(self.record(&refs, outcome.map(|_| ()), now).await?);
        }
        Ok(sent)
    }

    /// Fans out, sends what is due and the digests until `stop`; woken by
    /// every new notification of this replica, and every few seconds for
    /// those of the others and for retries.
    pub async fn run(self, stop: CancellationToken) {
        let mut woken = self.notify.subscribe();
        loop {
            let now = now_millis();
            if let Err(e) = self.fan_out().await {
                tracing::warn!(error = %e, "email fan-out failed");
            }
            if let Err(e) = self.send_due(now).await {
                tracing::warn!(error = %e, "emails not sent");
            }
            if let Err(e) = self.send_digests(now).await {
                tracing::warn!(error = %e, "digests not sent");
            }
            tokio::select! {
                () = stop.cancelled() => return,
                _ = woken.changed() => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// Pending emails nobody should get any more: their kind was turned
    /// off since, or their account was disabled.
    async fn cancel_unwanted(&self) -> Result<()> {
        let mut conn = self.notify.db().pool().acquire().await?;
        sqlx::query(
            "UPDATE emails SET state = 'cancelled' WHERE state = 'pending' AND (EXISTS \
             (SELECT 1 FROM notifications n JOIN preferences p ON p.kind = n.kind \
              WHERE n.seq = emails.seq AND p.account_id = emails.account_id AND p.mode = $1) \
             OR NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = emails.account_id AND a.active = 1))",
        )
        .bind(Mode::Off.as_str())
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// The first pending immediate email of each recipient, when it is due.
    async fn due_heads(&self, now: i64) -> Result<Vec<Pending>> {
        let mut conn = self.notify.db().pool().acquire().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{PENDING_SELECT} WHERE e.state = 'pending' AND e.digest = 0 \
             AND e.next_attempt_at <= $1 AND NOT EXISTS (SELECT 1 FROM emails p \
             WHERE p.account_id = e.account_id AND p.digest = 0 \
             AND p.state = 'pending' AND p.seq < e.seq) ORDER BY e.seq LIMIT $2"
        )))
        .bind(now)
        .bind(SEND_BATCH)
        .fetch_all(&mut *conn)
        .await?;
        rows.iter().map(pending_of).collect()
    }

    /// Takes an email for this replica until the lease ends; whether it
    /// was still there to take (another replica may have taken or sent it).
    async fn claim(&self, p: &Pending, now: i64) -> Result<bool> {
        let mut conn = self.notify.db().pool().acquire().await?;
        let done = sqlx::query(
            "UPDATE emails SET next_attempt_at = $1 WHERE seq = $2 AND account_id = $3 \
             AND state = 'pending' AND next_attempt_at = $4",
        )
        .bind(now + LEASE_MS)
        .bind(p.seq)
        .bind(p.account.to_string())
        .bind(p.next_attempt_at)
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Takes every digest row of `account` due now, in one statement: the
    /// sequence numbers taken (none when another replica took them first).
    async fn claim_digest(&self, account: Uuid, cutoff: i64, now: i64) -> Result<Vec<i64>> {
        let mut conn = self.notify.db().pool().acquire().await?;
        let taken: Vec<i64> = sqlx::query_scalar(
            "UPDATE emails SET next_attempt_at = $1 WHERE account_id = $2 AND digest = 1 \
             AND state = 'pending' AND next_attempt_at <= $3 \
             AND seq IN (SELECT seq FROM notifications WHERE created_at < $4) RETURNING seq",
        )
        .bind(now + LEASE_MS)
        .bind(account.to_string())
        .bind(now)
        .bind(cutoff)
        .fetch_all(&mut *conn)
        .await?;
        Ok(taken)
    }

    /// The digest rows of `account` taken by [`Emailer::claim_digest`] at `now`.
    async fn taken_digest(&self, account: Uuid, now: i64) -> Result<Vec<Pending>> {
        let mut conn = self.notify.db().pool().acquire().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{PENDING_SELECT} WHERE e.account_id = $1 AND e.digest = 1 \
             AND e.state = 'pending' AND e.next_attempt_at = $2 ORDER BY e.seq"
        )))
        .bind(account.to_string())
        .bind(now + LEASE_MS)
        .fetch_all(&mut *conn)
        .await?;
        rows.iter().map(pending_of).collect()
    }

    /// Marks `emails` (one email's rows) sent, or due again later; whether
    /// they were sent.
    async fn record(
        &self,
        emails: &[&Pending],
        outcome: std::result::Result<(), reemploi_mail::MailError>,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.notify.db().begin_write().await?;
        for p in emails {
            let q = match &outcome {
                Ok(()) => sqlx::query(
                    "UPDATE emails SET state = 'sent', sent_at = $1, attempts = attempts + 1, \
                     last_error = NULL WHERE seq = $2 AND account_id = $3",
                )
                .bind(now),
                Err(e) => {
                    let attempts = p.attempts + 1;
                    let state = if attempts >= MAX_ATTEMPTS {
                        "failed"
                    } else {
                        "pending"
                    };
                    // The mail crate's errors never hold the relay's
                    // password nor the body.
                    sqlx::query(
                        "UPDATE emails SET next_attempt_at = $1, attempts = attempts + 1, \
                         last_error = $2, state = $3 WHERE seq = $4 AND account_id = $5",
                    )
                    .bind(now + backoff(attempts))
                    .bind(e.to_string())
                    .bind(state)
                }
            };
            q.bind(p.seq)
                .bind(p.account.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        if let Err(e) = &outcome {
            tracing::warn!(error = %e, emails = emails.len(), "email not sent; will retry");
        }
        Ok(outcome.is_ok())
    }
}

/// The rows of one notification for every account of its audience that
/// wants it by email; how many were new.
async fn fan_out_one(conn: &mut AnyConnection, row: &AnyRow) -> Result<usize> {
    let seq: i64 = row.try_get("seq")?;
    let audience: String = row.try_get("audience")?;
    let kind: String = row.try_get("kind")?;
    let created_at: i64 = row.try_get("created_at")?;
    // A kind this version does not know sends no email.
    let Some(kind) = Kind::parse(&kind) else {
        return Ok(0);
    };
    let mut made = 0;
    for account in repo::accounts_of(conn, &audience, created_at).await? {
        let digest = match repo::mode(conn, account.id, kind).await? {
            Mode::Off => continue,
            Mode::Immediate => 0_i64,
            Mode::Digest => 1,
        };
        let done = sqlx::query(
            "INSERT INTO emails (seq, account_id, digest, state, attempts, next_attempt_at, \
             last_error, sent_at) VALUES ($1, $2, $3, 'pending', 0, $4, NULL, NULL) \
             ON CONFLICT (seq, account_id) DO NOTHING",
        )
        .bind(seq)
        .bind(account.id.to_string())
        .bind(digest)
        .bind(created_at)
        .execute(&mut *conn)
        .await?;
        made += usize::try_from(done.rows_affected()).unwrap_or(0);
    }
    Ok(made)
}

const PENDING_SELECT: &str = "SELECT e.seq, e.account_id, e.attempts, e.next_attempt_at, \
     n.kind, n.title, n.body, n.link, a.email FROM emails e \
     JOIN notifications n ON n.seq = e.seq JOIN accounts a ON a.id = e.account_id";

fn pending_of(row: &AnyRow) -> Result<Pending> {
    let account: String = row.try_get("account_id")?;
    let kind: String = row.try_get("kind")?;
    Ok(Pending {
        seq: row.try_get("seq")?,
        account: parse_uuid("email account", &account)?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        attempts: row.try_get("attempts")?,
        to: row.try_get("email")?,
        item: Item {
            kind: Kind::parse(&kind).ok_or_else(|| {
                reemploi_runtime::error::ApiError::Internal(format!("stored kind {kind:?}"))
            })?,
            title: row.try_get("title")?,
            body: row.try_get("body")?,
            link: row.try_get("link")?,
        },
    })
}

/// The wait before the next attempt after `attempts` failures.
fn backoff(attempts: i64) -> i64 {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    FIRST_RETRY_MS
        .saturating_mul(1_i64 << doublings)
        .min(MAX_RETRY_MS)
}

/// The last digest time (UTC, at `hour` o'clock) at or before `now`: the
/// digest holds what was made before it, so what comes after waits for the
/// next day's.
pub fn digest_cutoff(now: i64, hour: u32) -> i64 {
    let today = now - now.rem_euclid(DAY_MS) + i64::from(hour.min(23)) * 3_600_000;
    if now >= today { today } else { today - DAY_MS }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn retries_wait_longer_each_time_up_to_a_bound() {
        assert_eq!(backoff(1), FIRST_RETRY_MS);
        assert_eq!(backoff(2), 2 * FIRST_RETRY_MS);
        assert_eq!(backoff(3), 4 * FIRST_RETRY_MS);
        assert_eq!(backoff(40), MAX_RETRY_MS);
    }

    #[test]
    fn the_digest_holds_what_came_before_the_last_digest_hour() {
        let day = 20_000 * DAY_MS;
        let hour = 3_600_000;
        assert_eq!(digest_cutoff(day + 5 * hour, 6), day - DAY_MS + 6 * hour);
        assert_eq!(digest_cutoff(day + 6 * hour, 6), day + 6 * hour);
        assert_eq!(digest_cutoff(day + 23 * hour, 6), day + 6 * hour);
        assert_eq!(digest_cutoff(day, 0), day);
    }
}
