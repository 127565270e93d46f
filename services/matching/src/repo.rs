//! Matching's SQL: its projections (written in aggregate-version order),
//! the change log every replica follows, and the proposals made.

use reemploi_domain::geo::GeoPoint;
use reemploi_runtime::names::{Id, LotName};
use reemploi_store::query::{upsert_newer_keyed_sql, upsert_newer_sql};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

use crate::error::Result;
use crate::model::{Claim, Lot, Partner};

const LOT_COLUMNS: &str = "id, site_id, owner_org, category, unit, available_units, unit_mass_g, \
    latitude, longitude, available_from, available_until, status, hazardous, version";
/// Columns of a projected claim.
const CLAIM_COLUMNS: &str = "id, site_id, lot_id, partner_id, mass_g, open, version";
const PARTNER_COLUMNS: &str =
    "id, status, kinds, categories, latitude, longitude, radius_km, weekly_intake_kg, version";

/// Stores a lot if it is newer than the one held; returns whether it was applied.
pub async fn upsert_lot(conn: &mut AnyConnection, l: &Lot) -> Result<bool> {
    // Keyed by id and site: a lot's id is unique within its site only.
    let done = sqlx::query(sqlx::AssertSqlSafe(upsert_newer_keyed_sql(
        "lots",
        LOT_COLUMNS,
        2,
    )))
    .bind(l.id.to_string())
    .bind(l.site_id.to_string())
    .bind(&l.owner_org)
    .bind(&l.category)
    .bind(&l.unit)
    .bind(l.available_units)
    .bind(l.unit_mass_g)
    .bind(l.latitude)
    .bind(l.longitude)
    .bind(l.available_from)
    .bind(l.available_until)
    .bind(&l.status)
    .bind(i64::from(l.hazardous))
    .bind(l.version)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Stores a partner if it is newer than the one held; returns whether it was applied.
pub async fn upsert_partner(conn: &mut AnyConnection, p: &Partner) -> Result<bool> {
    let done = sqlx::query(sqlx::AssertSqlSafe(upsert_newer_sql(
        "partners",
        PARTNER_COLUMNS,
    )))
    .bind(p.id.to_string())
    .bind(&p.status)
    .bind(&p.kinds)
    .bind(&p.categories)
    .bind(p.latitude)
    .bind(p.longitude)
    .bind(p.radius_km)
    .bind(p.weekly_intake_kg)
    .bind(p.version)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Stores a claim if it is newer than the one held; returns whether it was applied.
pub async fn upsert_claim(conn: &mut AnyConnection, c: &Claim) -> Result<bool> {
    let done = sqlx::query(sqlx::AssertSqlSafe(upsert_newer_sql(
        "claims",
        CLAIM_COLUMNS,
    )))
    .bind(c.id.to_string())
    .bind(c.site_id.to_string())
    .bind(c.lot_id.to_string())
    .bind(c.partner_id.to_string())
    .bind(c.mass_g)
    .bind(i64::from(c.open))
    .bind(c.version)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records that an entity changed, so every replica refreshes its index:
/// a partner by its id, a lot by its [`LotName::key`].
pub async fn record_change(conn: &mut AnyConnection, entity: &str, id: &str) -> Result<()> {
    sqlx::query("INSERT INTO changes (entity, entity_id) VALUES ($1, $2)")
        .bind(entity)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Changes after `after`: (seq, entity, id as recorded).
pub async fn changes_after(
    conn: &mut AnyConnection,
    after: i64,
) -> Result<Vec<(i64, String, String)>> {
    let rows = sqlx::query(
        "SELECT seq, entity, entity_id FROM changes WHERE seq > $1 ORDER BY seq LIMIT 10000",
    )
    .bind(after)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("seq")?,
                r.try_get("entity")?,
                r.try_get("entity_id")?,
            ))
        })
        .collect()
}

/// The last change recorded.
pub async fn last_change(conn: &mut AnyConnection) -> Result<i64> {
    let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS seq FROM changes")
        .fetch_one(conn)
        .await?;
    Ok(row.try_get("seq")?)
}

/// One lot.
pub async fn lot(conn: &mut AnyConnection, name: LotName) -> Result<Option<Lot>> {
    let sql = format!("SELECT {LOT_COLUMNS} FROM lots WHERE site_id = $1 AND id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(name.site.to_string())
        .bind(name.lot.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(Lot::from_row).transpose()
}

/// Every lot of a site.
pub async fn site_lots(conn: &mut AnyConnection, site: Id) -> Result<Vec<Lot>> {
    let sql = format!("SELECT {LOT_COLUMNS} FROM lots WHERE site_id = $1 ORDER BY id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(site.to_string())
        .fetch_all(conn)
        .await?;
    rows.iter().map(Lot::from_row).collect()
}

/// Every lot on offer. A row that cannot be read is logged and left out:
/// one bad record must not keep the service from starting.
pub async fn lots_on_offer(conn: &mut AnyConnection) -> Result<Vec<Lot>> {
    let sql = format!(
        "SELECT {LOT_COLUMNS} FROM lots WHERE status = 'published' AND hazardous = 0 AND available_units > 0"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(conn)
        .await?;
    Ok(readable(&rows, "lot", Lot::from_row))
}

/// The rows `read` can make sense of; the others are logged and skipped.
fn readable<T>(rows: &[AnyRow], what: &str, read: impl Fn(&AnyRow) -> Result<T>) -> Vec<T> {
    rows.iter()
        .filter_map(|row| match read(row) {
            Ok(item) => Some(item),
            Err(e) => {
                let id: Option<String> = row.try_get("id").ok();
                tracing::error!(what, id = ?id, error = %e, "unreadable row left out");
                None
            }
        })
        .collect()
}

/// One partner.
pub async fn partner(conn: &mut AnyConnection, id: Uuid) -> Result<Option<Partner>> {
    let sql = format!("SELECT {PARTNER_COLUMNS} FROM partners WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(Partner::from_row).transpose()
}

/// Every verified partner; unreadable rows are logged and left out.
pub async fn verified_partners(conn: &mut AnyConnection) -> Result<Vec<Partner>> {
    let sql = format!("SELECT {PARTNER_COLUMNS} FROM partners WHERE status = 'verified'");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(conn)
        .await?;
    Ok(readable(&rows, "partner", Partner::from_row))
}

/// The mass a partner's open claims commit, in grams. Summed here,
/// saturating, rather than by the database: one absurd claim must not make
/// the sum fail (SQLite's SUM stops with "integer overflow").
pub async fn committed_g(conn: &mut AnyConnection, partner: Uuid) -> Result<i64> {
    let masses: Vec<i64> =
        sqlx::query_scalar("SELECT mass_g FROM claims WHERE partner_id = $1 AND open = 1")
            .bind(partner.to_string())
            .fetch_all(conn)
            .await?;
    Ok(masses.into_iter().fold(0, i64::saturating_add))
}

/// The unit mass of a lot, 0 when unknown.
pub async fn unit_mass_g(conn: &mut AnyConnection, lot: LotName) -> Result<i64> {
    let row = sqlx::query("SELECT unit_mass_g FROM lots WHERE site_id = $1 AND id = $2")
        .bind(lot.site.to_string())
        .bind(lot.lot.to_string())
        .fetch_optional(conn)
        .await?;
    Ok(row
        .map(|r| r.try_get("unit_mass_g"))
        .transpose()?
        .unwrap_or(0))
}

/// Stores a site's owner and place if newer than what is held.
pub async fn upsert_site(
    conn: &mut AnyConnection,
    id: Id,
    owner_org: &str,
    at: Option<GeoPoint>,
    version: i64,
) -> Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(upsert_newer_sql(
        "sites",
        "id, owner_org, latitude, longitude, version",
    )))
    .bind(id.to_string())
    .bind(owner_org)
    .bind(at.map(GeoPoint::latitude))
    .bind(at.map(GeoPoint::longitude))
    .bind(version)
    .execute(conn)
    .await?;
    Ok(())
}

/// Where a site is, when matching knows.
pub async fn site_location(conn: &mut AnyConnection, id: Id) -> Result<Option<GeoPoint>> {
    let row: Option<(Option<f64>, Option<f64>)> =
        sqlx::query_as("SELECT latitude, longitude FROM sites WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(conn)
            .await?;
    Ok(match row {
        Some((Some(lat), Some(lon))) => GeoPoint::new(lat, lon).ok(),
        Some(_) | None => None,
    })
}

/// The organisation owning a site, empty when unknown.
pub async fn site_owner(conn: &mut AnyConnection, id: Id) -> Result<String> {
    let row = sqlx::query("SELECT owner_org FROM sites WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    Ok(row
        .map(|r| r.try_get("owner_org"))
        .transpose()?
        .unwrap_or_default())
}

/// Within a write transaction, waits for every other event being applied
/// (on any replica) to commit: ranking then sees all that came before.
/// SQLite's write transactions are already one at a time.
pub async fn serialize(conn: &mut AnyConnection, db: &reemploi_store::Db) -> Result<()> {
    if db.backend() == reemploi_store::Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(db.lock_key("matching events"))
            .execute(conn)
            .await?;
    }
    Ok(())
}
