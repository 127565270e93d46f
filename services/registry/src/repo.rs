//! SQL of the registry, one text for SQLite and PostgreSQL.

use reemploi_store::Backend;
use reemploi_store::query::save_sql;
use sqlx::AnyConnection;
use uuid::Uuid;

use crate::error::Result;
use crate::model::PartnerRow;

/// Columns read into a [`PartnerRow`].
pub const PARTNER_COLUMNS: &str = "id, legal_name, trade_name, siret, kinds, address_line1, \
    postal_code, commune, insee_code, latitude, longitude, accepted_categories, capabilities, \
    storage_capacity_kg, weekly_intake_kg, service_radius_km, insertion_fte_centi, contact_name, \
    contact_email, contact_phone, opening_hours, status, search_text, created_at, updated_at, version";

fn joined<T: AsRef<str>>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|s| s.as_ref().to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Inserts a new partner, or writes a changed one guarded by its previous version.
pub async fn save(
    conn: &mut AnyConnection,
    p: &PartnerRow,
    previous_version: Option<i64>,
) -> Result<()> {
    let f = &p.profile;
    let sql = save_sql("partners", PARTNER_COLUMNS, previous_version);
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(p.id.to_string())
        .bind(&f.legal_name)
        .bind(&f.trade_name)
        .bind(f.siret.as_str())
        .bind(joined(f.kinds.iter().map(|k| k.code())))
        .bind(&f.address.line1)
        .bind(&f.address.postal_code)
        .bind(&f.address.commune)
        .bind(&f.address.insee_code)
        .bind(f.location.latitude())
        .bind(f.location.longitude())
        .bind(joined(&f.accepted_categories))
        .bind(joined(&f.capabilities))
        .bind(f.storage_capacity_kg)
        .bind(f.weekly_intake_kg)
        .bind(i64::from(f.service_radius_km))
        .bind(f.insertion_fte_centi)
        .bind(&f.contact.name)
        .bind(&f.contact.email)
        .bind(&f.contact.phone)
        .bind(&f.opening_hours)
        .bind(p.status.as_str())
        .bind(f.search_text())
        .bind(p.created_at)
        .bind(p.updated_at)
        .bind(p.version)
        .bind(previous_version.unwrap_or(0))
        .execute(conn)
        .await?;
    Ok(reemploi_store::one_row(done)?)
}

/// One partner, locked for a change on PostgreSQL (SQLite write transactions hold the only lock).
pub async fn get(
    conn: &mut AnyConnection,
    id: Uuid,
    lock: Option<Backend>,
) -> Result<Option<PartnerRow>> {
    let suffix = match lock {
        Some(Backend::Postgres) => " FOR UPDATE",
        Some(Backend::Sqlite) | None => "",
    };
    let sql = format!("SELECT {PARTNER_COLUMNS} FROM partners WHERE id = $1{suffix}");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(PartnerRow::from_row).transpose()
}

/// Whether a live (not archived) partner other than `except` holds `siret`.
pub async fn siret_taken(
    conn: &mut AnyConnection,
    siret: &str,
    except: Option<Uuid>,
) -> Result<bool> {
    let row = sqlx::query(
        "SELECT id FROM partners WHERE siret = $1 AND status <> 'archived' AND id <> $2",
    )
    .bind(siret)
    .bind(except.map(|u| u.to_string()).unwrap_or_default())
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}
