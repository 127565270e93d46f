//! SQL of the registry, one text for SQLite and PostgreSQL.

use reemploi_store::Backend;
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
    let sql = match previous_version {
        None => {
            "INSERT INTO partners (id, legal_name, trade_name, siret, kinds, address_line1, \
             postal_code, commune, insee_code, latitude, longitude, accepted_categories, \
             capabilities, storage_capacity_kg, weekly_intake_kg, service_radius_km, \
             insertion_fte_centi, contact_name, contact_email, contact_phone, opening_hours, \
             status, search_text, created_at, updated_at, version) VALUES ($1, $2, $3, $4, $5, \
             $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, \
             $23, $24, $25, $26)"
        }
        Some(_) => {
            "UPDATE partners SET legal_name = $2, trade_name = $3, siret = $4, kinds = $5, \
             address_line1 = $6, postal_code = $7, commune = $8, insee_code = $9, latitude = $10, \
             longitude = $11, accepted_categories = $12, capabilities = $13, \
             storage_capacity_kg = $14, weekly_intake_kg = $15, service_radius_km = $16, \
             insertion_fte_centi = $17, contact_name = $18, contact_email = $19, \
             contact_phone = $20, opening_hours = $21, status = $22, search_text = $23, \
             created_at = $24, updated_at = $25, version = $26 WHERE id = $1 AND version = $27"
        }
    };
    let done = sqlx::query(sql)
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
