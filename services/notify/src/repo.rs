//! The notification service's SQL: its projections, the notifications with
//! their read marks, and the email preferences. Every statement runs on
//! both backends; values are always bound.

use reemploi_store::query::upsert_newer_sql;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

use reemploi_runtime::error::ApiError;

use crate::error::Result;
use crate::model::{Draft, Kind, Mode, Stored};

type Query = sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments>;

async fn upsert(
    conn: &mut AnyConnection,
    sql: String,
    q: impl FnOnce(Query) -> Query,
) -> Result<bool> {
    let q = q(sqlx::query(sqlx::AssertSqlSafe(sql)));
    Ok(q.execute(&mut *conn).await?.rows_affected() == 1)
}

/// An account as the service knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Its id (`accounts/{id}`).
    pub id: Uuid,
    /// Where its emails go.
    pub email: String,
    /// How it is greeted.
    pub display_name: String,
    /// `site_manager`, `partner`, `admin` or `integrator`.
    pub role: String,
    /// A site manager's organisation.
    pub org: Option<String>,
    /// A partner's staff's partner.
    pub partner_id: Option<Uuid>,
    /// Whether it may sign in (a disabled account gets no email).
    pub active: bool,
    /// When it was created (Unix ms).
    pub created_at: i64,
    /// Its version.
    pub version: i64,
}

const ACCOUNT_COLUMNS: &str =
    "id, email, display_name, role, org, partner_id, active, created_at, version";

/// Stores an account if newer than the one held; whether it was applied.
pub async fn upsert_account(conn: &mut AnyConnection, a: &Account) -> Result<bool> {
    let a = a.clone();
    upsert(conn, upsert_newer_sql("accounts", ACCOUNT_COLUMNS), |q| {
        q.bind(a.id.to_string())
            .bind(a.email)
            .bind(a.display_name)
            .bind(a.role)
            .bind(a.org)
            .bind(a.partner_id.map(|p| p.to_string()))
            .bind(i64::from(a.active))
            .bind(a.created_at)
            .bind(a.version)
    })
    .await
}

fn account_of(row: &AnyRow) -> Result<Account> {
    let id: String = row.try_get("id")?;
    let partner: Option<String> = row.try_get("partner_id")?;
    Ok(Account {
        id: parse_uuid("account id", &id)?,
        email: row.try_get("email")?,
        display_name: row.try_get("display_name")?,
        role: row.try_get("role")?,
        org: row.try_get("org")?,
        partner_id: partner
            .as_deref()
            .map(|p| parse_uuid("partner id", p))
            .transpose()?,
        active: row.try_get::<i64, _>("active")? != 0,
        created_at: row.try_get("created_at")?,
        version: row.try_get("version")?,
    })
}

/// The active accounts of an audience (by its stored key) that existed when
/// `at` (Unix ms) came: those a notification made then is for.
pub async fn accounts_of(
    conn: &mut AnyConnection,
    audience: &str,
    at: i64,
) -> Result<Vec<Account>> {
    let (filter, value) = match crate::model::Audience::parse(audience) {
        Some(crate::model::Audience::Partner(id)) => {
            ("role = 'partner' AND partner_id = $1", id.to_string())
        }
        Some(crate::model::Audience::Org(org)) => ("role = 'site_manager' AND org = $1", org),
        Some(crate::model::Audience::Admins) => {
            ("role = 'admin' AND $1 = 'admins'", "admins".to_owned())
        }
        None => return Ok(Vec::new()),
    };
    let sql = format!(
        "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE {filter} AND active = 1 AND created_at <= $2 ORDER BY id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(value)
        .bind(at)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(account_of).collect()
}

/// One account, if known.
pub async fn account(conn: &mut AnyConnection, id: Uuid) -> Result<Option<Account>> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(account_of).transpose()
}

/// A site: whose it is and how it is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// `sites/{site}`.
    pub name: String,
    /// How it is called.
    pub display_name: String,
    /// The organisation whose managers run it.
    pub org: String,
    /// Its version.
    pub version: i64,
}

/// Stores a site if newer; whether it was applied.
pub async fn upsert_site(conn: &mut AnyConnection, s: &Site) -> Result<bool> {
    let s = s.clone();
    upsert(
        conn,
        upsert_newer_sql("sites", "name, display_name, org, version"),
        |q| {
            q.bind(s.name)
                .bind(s.display_name)
                .bind(s.org)
                .bind(s.version)
        },
    )
    .await
}

/// A site, if known.
pub async fn site(conn: &mut AnyConnection, name: &str) -> Result<Option<Site>> {
    let row = sqlx::query("SELECT name, display_name, org, version FROM sites WHERE name = $1")
        .bind(name.to_owned())
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| {
        Ok(Site {
            name: r.try_get("name")?,
            display_name: r.try_get("display_name")?,
            org: r.try_get("org")?,
            version: r.try_get("version")?,
        })
    })
    .transpose()
}

/// A lot: what to call it and whether it is on offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lot {
    /// `sites/{site}/lots/{lot}`.
    pub name: String,
    /// `sites/{site}`.
    pub site: String,
    /// The diagnostic's reference.
    pub reference: String,
    /// What it is.
    pub designation: String,
    /// `draft`, `published`, `withdrawn`, `exhausted` or `expired`.
    pub status: String,
    /// The end of its availability (Unix ms).
    pub available_until: Option<i64>,
    /// Its version.
    pub version: i64,
}

const LOT_COLUMNS: &str = "name, site, reference, designation, status, available_until, version";

/// Stores a lot if newer; whether it was applied.
pub async fn upsert_lot(conn: &mut AnyConnection, l: &Lot) -> Result<bool> {
    let l = l.clone();
    upsert(conn, upsert_newer_sql("lots", LOT_COLUMNS), |q| {
        q.bind(l.name)
            .bind(l.site)
            .bind(l.reference)
            .bind(l.designation)
            .bind(l.status)
            .bind(l.available_until)
            .bind(l.version)
    })
    .await
}

fn lot_of(r: &AnyRow) -> Result<Lot> {
    Ok(Lot {
        name: r.try_get("name")?,
        site: r.try_get("site")?,
        reference: r.try_get("reference")?,
        designation: r.try_get("designation")?,
        status: r.try_get("status")?,
        available_until: r.try_get("available_until")?,
        version: r.try_get("version")?,
    })
}

/// A lot, if known.
pub async fn lot(conn: &mut AnyConnection, name: &str) -> Result<Option<Lot>> {
    let sql = format!("SELECT {LOT_COLUMNS} FROM lots WHERE name = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(name.to_owned())
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(lot_of).transpose()
}

/// The published lots whose availability ends in `[from, until)` and that
/// nobody ever claimed.
pub async fn lots_expiring_unclaimed(
    conn: &mut AnyConnection,
    from: i64,
    until: i64,
) -> Result<Vec<Lot>> {
    let sql = format!(
        "SELECT {LOT_COLUMNS} FROM lots WHERE status = 'published' \
         AND available_until >= $1 AND available_until < $2 \
         AND NOT EXISTS (SELECT 1 FROM claims WHERE claims.lot = lots.name) ORDER BY name"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(from)
        .bind(until)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(lot_of).collect()
}

/// A claim: whose, on what, where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// `sites/{site}/lots/{lot}/claims/{claim}`.
    pub name: String,
    /// `sites/{site}/lots/{lot}`.
    pub lot: String,
    /// The claiming partner.
    pub partner_id: Uuid,
    /// `reserved`, `confirmed`, `handed_over`, `rejected`, `cancelled` or `expired`.
    pub status: String,
    /// When a reservation expires unless confirmed (Unix ms).
    pub expires_at: Option<i64>,
    /// Its version.
    pub version: i64,
}

const CLAIM_COLUMNS: &str = "name, lot, partner_id, status, expires_at, version";

/// Stores a claim if newer; whether it was applied.
pub async fn upsert_claim(conn: &mut AnyConnection, c: &Claim) -> Result<bool> {
    let c = c.clone();
    upsert(conn, upsert_newer_sql("claims", CLAIM_COLUMNS), |q| {
        q.bind(c.name)
            .bind(c.lot)
            .bind(c.partner_id.to_string())
            .bind(c.status)
            .bind(c.expires_at)
            .bind(c.version)
    })
    .await
}

fn claim_of(r: &AnyRow) -> Result<Claim> {
    let partner: String = r.try_get("partner_id")?;
    Ok(Claim {
        name: r.try_get("name")?,
        lot: r.try_get("lot")?,
        partner_id: parse_uuid("partner id", &partner)?,
        status: r.try_get("status")?,
        expires_at: r.try_get("expires_at")?,
        version: r.try_get("version")?,
    })
}

/// A claim, if known.
pub async fn claim(conn: &mut AnyConnection, name: &str) -> Result<Option<Claim>> {
    let sql = format!("SELECT {CLAIM_COLUMNS} FROM claims WHERE name = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(name.to_owned())
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(claim_of).transpose()
}

/// The live (reserved or confirmed) claims on a lot.
pub async fn live_claims(conn: &mut AnyConnection, lot: &str) -> Result<Vec<Claim>> {
    let sql = format!(
        "SELECT {CLAIM_COLUMNS} FROM claims WHERE lot = $1 \
         AND status IN ('reserved', 'confirmed') ORDER BY name"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(lot.to_owned())
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(claim_of).collect()
}

/// The reservations expiring in `[from, until)`.
pub async fn reservations_expiring(
    conn: &mut AnyConnection,
    from: i64,
    until: i64,
) -> Result<Vec<Claim>> {
    let sql = format!(
        "SELECT {CLAIM_COLUMNS} FROM claims WHERE status = 'reserved' \
         AND expires_at >= $1 AND expires_at < $2 ORDER BY name"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(from)
        .bind(until)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(claim_of).collect()
}

/// A partner: its name and status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partner {
    /// Its id.
    pub id: Uuid,
    /// How it is called.
    pub display_name: String,
    /// `pending`, `verified`, `suspended` or `archived`.
    pub status: String,
    /// Its version.
    pub version: i64,
}

/// Stores a partner if newer; whether it was applied.
pub async fn upsert_partner(conn: &mut AnyConnection, p: &Partner) -> Result<bool> {
    let p = p.clone();
    upsert(
        conn,
        upsert_newer_sql("partners", "id, display_name, status, version"),
        |q| {
            q.bind(p.id.to_string())
                .bind(p.display_name)
                .bind(p.status)
                .bind(p.version)
        },
    )
    .await
}

/// A partner, if known.
pub async fn partner(conn: &mut AnyConnection, id: Uuid) -> Result<Option<Partner>> {
    let row = sqlx::query("SELECT id, display_name, status, version FROM partners WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| {
        Ok(Partner {
            id,
            display_name: r.try_get("display_name")?,
            status: r.try_get("status")?,
            version: r.try_get("version")?,
        })
    })
    .transpose()
}

/// Stores a notification unless one with its `dedup` key exists; its
/// sequence number when it was new.
pub async fn insert_notification(
    conn: &mut AnyConnection,
    d: &Draft,
    now: i64,
) -> Result<Option<i64>> {
    let seq: Option<i64> = sqlx::query_scalar(
        "INSERT INTO notifications \
         (id, dedup, audience, kind, title, body, resource, link, event_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (dedup) DO NOTHING RETURNING seq",
    )
    .bind(Uuid::now_v7().to_string())
    .bind(d.dedup.clone())
    .bind(d.audience.key())
    .bind(d.kind.as_str())
    .bind(d.title.clone())
    .bind(d.body.clone())
    .bind(d.resource.clone())
    .bind(d.link.clone())
    .bind(d.event_id.clone())
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(seq)
}

const STORED_COLUMNS: &str = "n.seq, n.id, n.audience, n.kind, n.title, n.body, n.resource, \
     n.link, n.created_at, COALESCE(r.read_at, CASE WHEN n.seq <= a.seq THEN a.read_at END) AS read_at";

/// The joins that give `account` its read time of each notification.
const READ_JOINS: &str = "LEFT JOIN reads r ON r.account = $1 AND r.seq = n.seq \
     LEFT JOIN read_all a ON a.account = $1";

/// What decides that a notification is unread by the account of `READ_JOINS`.
const UNREAD: &str = "r.seq IS NULL AND (a.seq IS NULL OR n.seq > a.seq)";

fn stored_of(r: &AnyRow) -> Result<Stored> {
    let id: String = r.try_get("id")?;
    let kind: String = r.try_get("kind")?;
    Ok(Stored {
        seq: r.try_get("seq")?,
        id: parse_uuid("notification id", &id)?,
        audience: r.try_get("audience")?,
        kind: Kind::parse(&kind)
            .ok_or_else(|| ApiError::Internal(format!("stored kind {kind:?}")))?,
        title: r.try_get("title")?,
        body: r.try_get("body")?,
        resource: r.try_get("resource")?,
        link: r.try_get("link")?,
        created_at: r.try_get("created_at")?,
        read_at: r.try_get("read_at")?,
    })
}

/// A page of an audience's notifications as `account` reads them: newest
/// first, before `before` (a sequence number), at most `limit`.
pub async fn page(
    conn: &mut AnyConnection,
    account: &str,
    audience: &str,
    unread_only: bool,
    before: Option<i64>,
    limit: usize,
) -> Result<Vec<Stored>> {
    let unread = if unread_only {
        format!(" AND {UNREAD}")
    } else {
        String::new()
    };
    let sql = format!(
        "SELECT {STORED_COLUMNS} FROM notifications n {READ_JOINS} \
         WHERE n.audience = $2 AND n.seq < $3{unread} ORDER BY n.seq DESC LIMIT {limit}"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(account.to_owned())
        .bind(audience.to_owned())
        .bind(before.unwrap_or(i64::MAX))
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(stored_of).collect()
}

/// An audience's notifications made after `after`, oldest first, as
/// `account` reads them; only the unread ones when `unread_only`.
pub async fn after(
    conn: &mut AnyConnection,
    account: &str,
    audience: &str,
    after: i64,
    unread_only: bool,
    limit: usize,
) -> Result<Vec<Stored>> {
    let unread = if unread_only {
        format!(" AND {UNREAD}")
    } else {
        String::new()
    };
    let sql = format!(
        "SELECT {STORED_COLUMNS} FROM notifications n {READ_JOINS} \
         WHERE n.audience = $2 AND n.seq > $3{unread} ORDER BY n.seq LIMIT {limit}"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(account.to_owned())
        .bind(audience.to_owned())
        .bind(after)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(stored_of).collect()
}

/// How many of an audience's notifications `account` has not read.
pub async fn unread_count(conn: &mut AnyConnection, account: &str, audience: &str) -> Result<i64> {
    let sql = format!(
        "SELECT COUNT(*) FROM notifications n {READ_JOINS} WHERE n.audience = $2 AND {UNREAD}"
    );
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(account.to_owned())
        .bind(audience.to_owned())
        .fetch_one(&mut *conn)
        .await?)
}

/// The last sequence number of an audience (0 when it has none).
pub async fn last_seq(conn: &mut AnyConnection, audience: &str) -> Result<i64> {
    let last: Option<i64> =
        sqlx::query_scalar("SELECT MAX(seq) FROM notifications WHERE audience = $1")
            .bind(audience.to_owned())
            .fetch_one(&mut *conn)
            .await?;
    Ok(last.unwrap_or(0))
}

/// The sequence number of the notification `id` of an audience, if it is one of its.
pub async fn seq_of(conn: &mut AnyConnection, audience: &str, id: Uuid) -> Result<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT seq FROM notifications WHERE audience = $1 AND id = $2")
            .bind(audience.to_owned())
            .bind(id.to_string())
            .fetch_optional(&mut *conn)
            .await?,
    )
}

/// Marks one notification read by `account` (again: no change).
pub async fn mark_read(conn: &mut AnyConnection, account: &str, seq: i64, now: i64) -> Result<()> {
    sqlx::query("INSERT INTO reads (account, seq, read_at) VALUES ($1, $2, $3) ON CONFLICT (account, seq) DO NOTHING")
        .bind(account.to_owned())
        .bind(seq)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Marks everything up to `seq` read by `account`.
pub async fn mark_all_read(
    conn: &mut AnyConnection,
    account: &str,
    seq: i64,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO read_all (account, seq, read_at) VALUES ($1, $2, $3) \
         ON CONFLICT (account) DO UPDATE SET seq = excluded.seq, read_at = excluded.read_at \
         WHERE read_all.seq < excluded.seq",
    )
    .bind(account.to_owned())
    .bind(seq)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// An account's chosen email modes.
pub async fn preferences(conn: &mut AnyConnection, account: Uuid) -> Result<Vec<(Kind, Mode)>> {
    let rows = sqlx::query("SELECT kind, mode FROM preferences WHERE account_id = $1")
        .bind(account.to_string())
        .fetch_all(&mut *conn)
        .await?;
    let mut out = Vec::new();
    for r in rows {
        let (kind, mode): (String, String) = (r.try_get("kind")?, r.try_get("mode")?);
        // A kind or mode this version does not know is left alone.
        if let (Some(k), Some(m)) = (Kind::parse(&kind), Mode::parse(&mode)) {
            out.push((k, m));
        }
    }
    Ok(out)
}

/// The email mode of `kind` for `account`: its choice, else the default.
pub async fn mode(conn: &mut AnyConnection, account: Uuid, kind: Kind) -> Result<Mode> {
    let mode: Option<String> =
        sqlx::query_scalar("SELECT mode FROM preferences WHERE account_id = $1 AND kind = $2")
            .bind(account.to_string())
            .bind(kind.as_str())
            .fetch_optional(&mut *conn)
            .await?;
    Ok(mode
        .as_deref()
        .and_then(Mode::parse)
        .unwrap_or(kind.default_mode()))
}

/// Sets the email mode of `kind` for `account`.
pub async fn set_mode(
    conn: &mut AnyConnection,
    account: Uuid,
    kind: Kind,
    mode: Mode,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO preferences (account_id, kind, mode) VALUES ($1, $2, $3) \
         ON CONFLICT (account_id, kind) DO UPDATE SET mode = excluded.mode",
    )
    .bind(account.to_string())
    .bind(kind.as_str())
    .bind(mode.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(crate) fn parse_uuid(what: &str, s: &str) -> Result<Uuid> {
    Uuid::try_parse(s).map_err(|_| ApiError::Internal(format!("stored {what}: {s:?}")).into())
}

/// On PostgreSQL, consumers of different streams serialise their writes
/// to the notifications, so that an audience's sequence numbers commit in
/// order and a reader that saw number n never misses a smaller one.
pub async fn serialize(conn: &mut AnyConnection, db: &reemploi_store::Db) -> Result<()> {
    if db.backend() == reemploi_store::Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(db.lock_key("notifications"))
            .execute(conn)
            .await?;
    }
    Ok(())
}
