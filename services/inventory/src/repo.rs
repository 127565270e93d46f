//! SQL of the inventory: one text per statement serves SQLite and
//! PostgreSQL (`$n` placeholders, BIGINT times in milliseconds, TEXT ids).

use reemploi_domain::claim::ClaimStatus;
use reemploi_domain::lot::LotStatus;
use reemploi_runtime::names::{Id, LotName};
pub use reemploi_store::Backend;
pub use reemploi_store::query::{Filter, select_page};
use reemploi_store::query::{save_keyed_sql, save_sql};
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

use crate::error::{InventoryError, Result};
use crate::model::{ClaimRow, LotRow, ReceiptRow, SiteRow};

/// Columns read into a [`SiteRow`].
pub const SITE_COLUMNS: &str = "id, display_name, programme, quartier, commune, insee_code, \
    latitude, longitude, address, owner_org, works_start, works_end, created_at, updated_at, version";
/// Columns read into a [`LotRow`].
pub const LOT_COLUMNS: &str = "id, site_id, owner_org, reference, designation, description, \
    category, unit, quantity, available, reserved, handed_over, estimated_mass_g, length_mm, \
    width_mm, height_mm, condition, building_location, photo_uris, available_from, \
    available_until, waste_code, hazards, reuse_potential, status, hazardous, latitude, \
    longitude, created_at, updated_at, version, check_at, check_result, checked_by, check_note, \
    check_recorded_by";
/// Columns read into a [`crate::model::LotKey`].
pub const LOT_KEY_COLUMNS: &str = "id, site_id, created_at, version, latitude, longitude";
/// Columns read into a [`ClaimRow`].
pub const CLAIM_COLUMNS: &str = "id, lot_id, site_id, owner_org, partner_id, unit, quantity, \
    pickup_from, pickup_until, status, expires_at, weighed_mass_g, handed_over_at, note, \
    request_id, created_at, updated_at, version, collected, trip_count";
/// Columns read into a [`ReceiptRow`].
pub const RECEIPT_COLUMNS: &str = "id, number, site_id, seq, lot_id, claim_id, owner_org,     partner_id, site_display_name, site_address, lot_designation, lot_reference, category, unit,     quantity, weighed_mass_g, handed_over_at, claim_quantity, collected, collected_mass_g,     completes_claim, recorded_by, created_at";

/// Row locking for read-then-write transactions: PostgreSQL needs `FOR UPDATE`;
/// SQLite's write transactions (BEGIN IMMEDIATE) already hold the only write lock.
pub(crate) fn lock(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    }
}

/// Runs a [`save_sql`] statement; a guarded UPDATE that finds the version
/// moved is a Conflict.
async fn run_save<'q>(
    conn: &mut AnyConnection,
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    previous: Option<i64>,
) -> Result<()> {
    let query = match previous {
        Some(v) => query.bind(v),
        None => query,
    };
    Ok(reemploi_store::one_row(query.execute(conn).await?)?)
}

/// One row by its key (`id`, or a lot's `site_id` and `id`), locked for a
/// change when `lock` names the backend.
async fn by_id<T>(
    conn: &mut AnyConnection,
    table: &str,
    columns: &str,
    key: &[(&str, String)],
    lock_for: Option<Backend>,
    decode: impl Fn(&sqlx::any::AnyRow) -> Result<T>,
) -> Result<Option<T>> {
    let wheres: Vec<String> = key
        .iter()
        .enumerate()
        .map(|(i, (column, _))| format!("{column} = ${}", i + 1))
        .collect();
    let sql = format!(
        "SELECT {columns} FROM {table} WHERE {}{}",
        wheres.join(" AND "),
        lock_for.map(lock).unwrap_or("")
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (_, value) in key {
        query = query.bind(value.clone());
    }
    let row = query.fetch_optional(conn).await?;
    row.as_ref().map(decode).transpose()
}

/// Inserts a site (`previous` None) or writes a changed one guarded by its previous version.
pub async fn save_site(conn: &mut AnyConnection, s: &SiteRow, previous: Option<i64>) -> Result<()> {
    let query = sqlx::query(sqlx::AssertSqlSafe(save_sql(
        "sites",
        SITE_COLUMNS,
        previous,
    )))
    .bind(s.id.to_string())
    .bind(s.display_name.clone())
    .bind(s.programme.clone())
    .bind(s.quartier.clone())
    .bind(s.commune.clone())
    .bind(s.insee_code.clone())
    .bind(s.location.latitude())
    .bind(s.location.longitude())
    .bind(s.address.clone())
    .bind(s.owner_org.clone())
    .bind(s.works_start)
    .bind(s.works_end)
    .bind(s.created_at)
    .bind(s.updated_at)
    .bind(s.version);
    run_save(conn, query, previous).await
}

/// One site, locked for a change when `lock_for` names the backend.
pub async fn get_site(
    conn: &mut AnyConnection,
    id: Id,
    lock_for: Option<Backend>,
) -> Result<Option<SiteRow>> {
    let key = [("id", id.to_string())];
    by_id(
        conn,
        "sites",
        SITE_COLUMNS,
        &key,
        lock_for,
        SiteRow::from_row,
    )
    .await
}

/// Which of `ids` lots of `site` already have.
pub async fn lot_ids_taken(
    conn: &mut AnyConnection,
    site: Id,
    ids: &[&str],
) -> Result<std::collections::HashSet<String>> {
    let mut taken = std::collections::HashSet::new();
    // A batch holds at most 1000 lots: in chunks, under every backend's
    // limit of bound values.
    for chunk in ids.chunks(500) {
        let mut f = reemploi_store::query::Filter::default();
        f.add("site_id = ?", site.to_string())?;
        f.any_of("id", chunk)?;
        let rows =
            reemploi_store::query::select_filtered(conn, "SELECT id FROM lots", f, "").await?;
        for row in rows {
            taken.insert(row.try_get::<String, _>("id")?);
        }
    }
    Ok(taken)
}

fn joined_hazards(lot: &LotRow) -> String {
    lot.fields
        .hazards
        .iter()
        .map(|h| h.code())
        .collect::<Vec<_>>()
        .join(",")
}

/// Inserts a lot (`previous` None) or writes a changed one (fields, ledger,
/// status) guarded by its previous version.
pub async fn save_lot(conn: &mut AnyConnection, l: &LotRow, previous: Option<i64>) -> Result<()> {
    let f = &l.fields;
    // Keyed by its id and site: a lot's id is unique within its site only.
    let query = sqlx::query(sqlx::AssertSqlSafe(save_keyed_sql(
        "lots",
        LOT_COLUMNS,
        2,
        previous,
    )))
    .bind(l.id.to_string())
    .bind(l.site_id.to_string())
    .bind(&l.owner_org)
    .bind(&f.reference)
    .bind(&f.designation)
    .bind(&f.description)
    .bind(f.category.code)
    .bind(l.unit().code())
    .bind(l.ledger.quantity)
    .bind(l.ledger.available)
    .bind(l.ledger.reserved)
    .bind(l.ledger.handed_over)
    .bind(f.estimated_mass_g)
    .bind(f.dimensions[0])
    .bind(f.dimensions[1])
    .bind(f.dimensions[2])
    .bind(&f.condition)
    .bind(&f.building_location)
    .bind(f.photo_uris.join("\n"))
    .bind(f.available_from)
    .bind(f.available_until)
    .bind(
        f.waste_code
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
    )
    .bind(joined_hazards(l))
    .bind(i64::from(f.reuse_potential))
    .bind(l.status.as_str())
    .bind(i64::from(l.hazardous()))
    .bind(l.location.latitude())
    .bind(l.location.longitude())
    .bind(l.created_at)
    .bind(l.updated_at)
    .bind(l.version)
    .bind(l.check.as_ref().map(|c| c.at))
    .bind(l.check.as_ref().map_or("", |c| c.result_code()))
    .bind(l.check.as_ref().map_or(String::new(), |c| c.by.clone()))
    .bind(l.check.as_ref().map_or(String::new(), |c| c.note.clone()))
    .bind(
        l.check
            .as_ref()
            .map_or(String::new(), |c| c.recorded_by.clone()),
    );
    run_save(conn, query, previous).await
}

/// Writes a lot's ledger and status only (claims move nothing else);
/// fails with Conflict if the stored version moved.
pub async fn update_ledger(
    conn: &mut AnyConnection,
    l: &LotRow,
    previous_version: i64,
) -> Result<()> {
    let done = sqlx::query(
        "UPDATE lots SET available = $2, reserved = $3, handed_over = $4, status = $5, \
         updated_at = $6, version = $7 WHERE id = $1 AND version = $8 AND site_id = $9",
    )
    .bind(l.id.to_string())
    .bind(l.ledger.available)
    .bind(l.ledger.reserved)
    .bind(l.ledger.handed_over)
    .bind(l.status.as_str())
    .bind(l.updated_at)
    .bind(l.version)
    .bind(previous_version)
    .bind(l.site_id.to_string())
    .execute(conn)
    .await?;
    Ok(reemploi_store::one_row(done)?)
}

/// Deletes a draft lot at `previous_version`; Conflict if it moved or is
/// no longer a draft (a claim may never reference it: drafts are unclaimable).
/// Its last version is kept: a lot made later under the same id starts
/// after it, so that the services following the lot events take it as
/// newer than the deletion.
pub async fn delete_draft(
    conn: &mut AnyConnection,
    name: LotName,
    previous_version: i64,
) -> Result<()> {
    let done = sqlx::query(
        "DELETE FROM lots WHERE id = $1 AND version = $2 AND status = 'draft' AND site_id = $3",
    )
    .bind(name.lot.to_string())
    .bind(previous_version)
    .bind(name.site.to_string())
    .execute(&mut *conn)
    .await?;
    reemploi_store::one_row(done)?;
    sqlx::query(
        "INSERT INTO deleted_lots (site_id, id, version) VALUES ($1, $2, $3) \
         ON CONFLICT (site_id, id) DO UPDATE SET version = excluded.version",
    )
    .bind(name.site.to_string())
    .bind(name.lot.to_string())
    // The deletion's own version, one past the draft's.
    .bind(previous_version + 1)
    .execute(conn)
    .await?;
    Ok(())
}

/// The last versions of the deleted lots of `site` among `ids`, by id.
pub async fn deleted_versions(
    conn: &mut AnyConnection,
    site: Id,
    ids: &[&str],
) -> Result<std::collections::HashMap<String, i64>> {
    let mut versions = std::collections::HashMap::new();
    for chunk in ids.chunks(500) {
        let mut f = reemploi_store::query::Filter::default();
        f.add("site_id = ?", site.to_string())?;
        f.any_of("id", chunk)?;
        let head = "SELECT id, version FROM deleted_lots";
        for row in reemploi_store::query::select_filtered(conn, head, f, "").await? {
            versions.insert(row.try_get("id")?, row.try_get("version")?);
        }
    }
    Ok(versions)
}

/// The ids of a site's drafts, oldest first (at most `limit`).
pub async fn draft_ids(conn: &mut AnyConnection, site: Id, limit: i64) -> Result<Vec<Id>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT id FROM lots WHERE site_id = $1 AND status = 'draft' \
         ORDER BY created_at, id LIMIT $2",
    )
    .bind(site.to_string())
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|(id,)| {
            Id::parse(&id).ok_or_else(|| InventoryError::Internal(format!("stored lot id {id:?}")))
        })
        .collect()
}

/// How many lots of a site have each status, by status name.
pub async fn lot_counts(conn: &mut AnyConnection, site: Id) -> Result<Vec<(String, i64)>> {
    let rows = sqlx::query(
        "SELECT status, COUNT(*) AS n FROM lots WHERE site_id = $1 GROUP BY status ORDER BY status",
    )
    .bind(site.to_string())
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("status")?, row.try_get("n")?)))
        .collect()
}

/// One lot, locked for a change when `lock_for` names the backend.
pub async fn get_lot(
    conn: &mut AnyConnection,
    name: LotName,
    lock_for: Option<Backend>,
) -> Result<Option<LotRow>> {
    let key = [
        ("site_id", name.site.to_string()),
        ("id", name.lot.to_string()),
    ];
    by_id(conn, "lots", LOT_COLUMNS, &key, lock_for, LotRow::from_row).await
}

/// Inserts a new claim, with the fingerprint of the request that made it
/// (a retry with the same request id must be the same request).
pub async fn insert_claim(conn: &mut AnyConnection, c: &ClaimRow, fingerprint: &str) -> Result<()> {
    let sql = save_sql(
        "claims",
        &format!("{CLAIM_COLUMNS}, request_fingerprint"),
        None,
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(c.id.to_string())
        .bind(c.lot.lot.to_string())
        .bind(c.lot.site.to_string())
        .bind(&c.owner_org)
        .bind(c.partner_id.to_string())
        .bind(c.quantity.unit().code())
        .bind(c.quantity.milli())
        .bind(c.pickup_from)
        .bind(c.pickup_until)
        .bind(c.status.as_str())
        .bind(c.expires_at)
        .bind(c.weighed_mass_g)
        .bind(c.handed_over_at)
        .bind(&c.note)
        .bind(&c.request_id)
        .bind(c.created_at)
        .bind(c.updated_at)
        .bind(c.version)
        .bind(c.collected)
        .bind(c.trip_count)
        .bind(fingerprint)
        .execute(conn)
        .await?;
    Ok(())
}

/// Writes a changed claim; fails with Conflict if the stored version moved.
pub async fn update_claim(
    conn: &mut AnyConnection,
    c: &ClaimRow,
    previous_version: i64,
) -> Result<()> {
    let done = sqlx::query(
        "UPDATE claims SET status = $2, weighed_mass_g = $3, handed_over_at = $4, note = $5, \
         updated_at = $6, version = $7, collected = $9, trip_count = $10 \
         WHERE id = $1 AND version = $8",
    )
    .bind(c.id.to_string())
    .bind(c.status.as_str())
    .bind(c.weighed_mass_g)
    .bind(c.handed_over_at)
    .bind(&c.note)
    .bind(c.updated_at)
    .bind(c.version)
    .bind(previous_version)
    .bind(c.collected)
    .bind(c.trip_count)
    .execute(conn)
    .await?;
    Ok(reemploi_store::one_row(done)?)
}

/// The next number of a site's receipts, from 1. The counter's row is
/// locked until the commit, so that concurrent trips of one site number
/// one after the other; it is the last row a trip locks (after its claim
/// and lot), so no two trips wait on each other in a cycle.
pub async fn next_receipt_seq(conn: &mut AnyConnection, site: Id) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO receipt_counters (site_id, last) VALUES ($1, 1) \
         ON CONFLICT (site_id) DO UPDATE SET last = receipt_counters.last + 1 RETURNING last",
    )
    .bind(site.to_string())
    .fetch_one(conn)
    .await?;
    Ok(row.try_get("last")?)
}

/// Inserts a receipt.
pub async fn insert_receipt(conn: &mut AnyConnection, r: &ReceiptRow) -> Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(save_sql(
        "receipts",
        RECEIPT_COLUMNS,
        None,
    )))
    .bind(r.id.to_string())
    .bind(r.number())
    .bind(r.claim.lot.site.to_string())
    .bind(r.seq)
    .bind(r.claim.lot.lot.to_string())
    .bind(r.claim.claim.to_string())
    .bind(&r.owner_org)
    .bind(r.partner_id.to_string())
    .bind(&r.site_display_name)
    .bind(&r.site_address)
    .bind(&r.lot_designation)
    .bind(&r.lot_reference)
    .bind(&r.category)
    .bind(r.quantity.unit().code())
    .bind(r.quantity.milli())
    .bind(r.weighed_mass_g)
    .bind(r.handed_over_at)
    .bind(r.claim_quantity)
    .bind(r.collected)
    .bind(r.collected_mass_g)
    .bind(i64::from(r.completes_claim))
    .bind(&r.recorded_by)
    .bind(r.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// One receipt.
pub async fn get_receipt(conn: &mut AnyConnection, id: Uuid) -> Result<Option<ReceiptRow>> {
    let key = [("id", id.to_string())];
    by_id(
        conn,
        "receipts",
        RECEIPT_COLUMNS,
        &key,
        None,
        ReceiptRow::from_row,
    )
    .await
}

/// One claim, locked for a change when `lock_for` names the backend.
pub async fn get_claim(
    conn: &mut AnyConnection,
    id: Uuid,
    lock_for: Option<Backend>,
) -> Result<Option<ClaimRow>> {
    let key = [("id", id.to_string())];
    by_id(
        conn,
        "claims",
        CLAIM_COLUMNS,
        &key,
        lock_for,
        ClaimRow::from_row,
    )
    .await
}

/// The lot a claim is for, locked for the change, with the claiming
/// partner's projected status and the claim already made with this request
/// id, if any: one round trip for what every claim needs first.
pub async fn lot_for_claim(
    conn: &mut AnyConnection,
    backend: Backend,
    lot: LotName,
    partner: Uuid,
    request_id: &str,
) -> Result<Option<(LotRow, Option<String>, Option<(Uuid, String)>)>> {
    let sql = format!(
        "SELECT {LOT_COLUMNS}, (SELECT status FROM partners WHERE id = $2) AS partner_status, \
         (SELECT id FROM claims WHERE partner_id = $2 AND request_id = $3) AS existing_claim, \
         (SELECT request_fingerprint FROM claims WHERE partner_id = $2 AND request_id = $3) \
         AS existing_fingerprint FROM lots WHERE id = $1 AND site_id = $4{}",
        lock(backend)
    );
    let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(lot.lot.to_string())
        .bind(partner.to_string())
        .bind(request_id)
        .bind(lot.site.to_string())
        .fetch_optional(conn)
        .await?
    else {
        return Ok(None);
    };
    let existing: Option<String> = row.try_get("existing_claim")?;
    let fingerprint: Option<String> = row.try_get("existing_fingerprint")?;
    let existing = existing
        .map(|id| {
            Uuid::try_parse(&id)
                .map(|id| (id, fingerprint.unwrap_or_default()))
                .map_err(|e| InventoryError::Internal(format!("stored id: {e}")))
        })
        .transpose()?;
    Ok(Some((
        LotRow::from_row(&row)?,
        row.try_get("partner_status")?,
        existing,
    )))
}

/// Reserved claims whose deadline has passed, oldest first.
pub async fn expired_claim_ids(
    conn: &mut AnyConnection,
    now: i64,
    limit: i64,
) -> Result<Vec<Uuid>> {
    let rows = sqlx::query(
        "SELECT id FROM claims WHERE status = $1 AND expires_at <= $2 ORDER BY expires_at LIMIT $3",
    )
    .bind(ClaimStatus::Reserved.as_str())
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    ids(&rows)
}

/// Published or exhausted lots whose availability window has ended.
pub async fn expired_lot_ids(
    conn: &mut AnyConnection,
    now: i64,
    limit: i64,
) -> Result<Vec<LotName>> {
    let rows = sqlx::query(
        "SELECT id, site_id FROM lots WHERE status IN ($1, $2) AND available_until IS NOT NULL \
         AND available_until <= $3 ORDER BY available_until LIMIT $4",
    )
    .bind(LotStatus::Published.as_str())
    .bind(LotStatus::Exhausted.as_str())
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let (site, lot): (String, String) = (r.try_get("site_id")?, r.try_get("id")?);
            match (Id::parse(&site), Id::parse(&lot)) {
                (Some(site), Some(lot)) => Ok(LotName { site, lot }),
                _ => Err(InventoryError::Internal(format!(
                    "stored lot sites/{site}/lots/{lot}"
                ))),
            }
        })
        .collect()
}

fn ids(rows: &[sqlx::any::AnyRow]) -> Result<Vec<Uuid>> {
    rows.iter()
        .map(|r| {
            let s: String = r.try_get("id")?;
            Uuid::try_parse(&s).map_err(|e| InventoryError::Internal(format!("stored id: {e}")))
        })
        .collect()
}

/// One recorded change, for WatchLots: its position, and the envelope when
/// it is a lot event (other events only fill the numbering).
pub struct LotChange {
    pub seq: i64,
    pub payload: Option<Vec<u8>>,
}

/// Lot events recorded after `after`, in order.
pub async fn lot_changes_after(
    conn: &mut AnyConnection,
    after: i64,
    limit: i64,
) -> Result<Vec<LotChange>> {
    // Every event's number is read, lot or not, so that the reader's cursor
    // sees no false holes; only lot events carry their payload.
    let rows = sqlx::query(
        "SELECT seq, CASE WHEN subject LIKE $2 THEN payload END AS payload FROM outbox \
         WHERE seq > $1 ORDER BY seq LIMIT $3",
    )
    .bind(after)
    .bind("reemploi.inventory.lot.%")
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(LotChange {
                seq: r.try_get("seq")?,
                payload: r.try_get("payload")?,
            })
        })
        .collect()
}

/// The last recorded event position.
pub async fn last_seq(conn: &mut AnyConnection) -> Result<i64> {
    let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS seq FROM outbox")
        .fetch_one(conn)
        .await?;
    Ok(row.try_get("seq")?)
}
