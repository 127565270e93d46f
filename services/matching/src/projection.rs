//! Matching's own view of lots, partners and claims, built from the events
//! inventory and registry publish (event-carried state), applied in
//! aggregate-version order, and turned into engine profiles.

use reemploi_domain::category;
use reemploi_domain::geo::GeoPoint;
use reemploi_domain::partner::PartnerKind;
use reemploi_matching_engine::profile::{LotProfile, PartnerProfile, StructureKind, Window};
use reemploi_proto::inventory as ipb;
use reemploi_proto::registry as rpb;
use reemploi_runtime::names::parse;
use reemploi_runtime::wire::ts_millis;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

use crate::error::{MatchingError, Result};

/// How far ahead a partner plans its pick-ups (the engine's availability horizon).
pub const PARTNER_HORIZON_MS: i64 = 28 * 24 * 3600 * 1000;

/// A lot as matching keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Lot {
    pub id: Uuid,
    pub site_id: Uuid,
    pub owner_org: String,
    pub category: String,
    pub unit: String,
    pub available_units: i64,
    pub unit_mass_g: i64,
    pub latitude: f64,
    pub longitude: f64,
    pub available_from: Option<i64>,
    pub available_until: Option<i64>,
    pub status: String,
    pub hazardous: bool,
    pub version: i64,
}

/// A partner as matching keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Partner {
    pub id: Uuid,
    pub status: String,
    pub kinds: String,
    pub categories: String,
    pub latitude: f64,
    pub longitude: f64,
    pub radius_km: i64,
    pub weekly_intake_kg: i64,
    pub version: i64,
}

/// A claim as matching keeps it: whose capacity it uses, and how much.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub id: Uuid,
    pub lot_id: Uuid,
    pub partner_id: Uuid,
    pub mass_g: i64,
    pub open: bool,
    pub version: i64,
}

fn bad(what: &str, e: impl std::fmt::Display) -> MatchingError {
    MatchingError::BadEvent(format!("event {what}: {e}"))
}

impl Lot {
    /// From the lot an inventory event carries.
    pub fn from_event(lot: &ipb::Lot) -> Result<Lot> {
        let ids = parse("lot.name", &lot.name, "sites/{site}/lots/{lot}")
            .map_err(|e| bad("lot name", e))?;
        let quantity = lot.quantity.unwrap_or_default();
        let available = lot.available.unwrap_or_default().milli;
        // Mass of one unit of the lot's unit of measure, from the estimate of the whole lot.
        let unit_mass_g = if quantity.milli > 0 {
            i64::try_from(i128::from(lot.estimated_mass_g) * 1000 / i128::from(quantity.milli))
                .unwrap_or(i64::MAX)
        } else {
            0
        };
        let location = lot.location.unwrap_or_default();
        let window = lot.availability.unwrap_or_default();
        let status = ipb::LotStatus::try_from(lot.status)
            .map(|s| {
                s.as_str_name()
                    .trim_start_matches("LOT_STATUS_")
                    .to_lowercase()
            })
            .unwrap_or_else(|_| "unknown".into());
        Ok(Lot {
            id: ids[1],
            site_id: ids[0],
            owner_org: String::new(),
            category: lot.category.clone(),
            unit: quantity.unit.to_string(),
            available_units: available / 1000,
            unit_mass_g,
            latitude: location.latitude,
            longitude: location.longitude,
            available_from: window.start_time.as_ref().map(ts_millis),
            available_until: window.end_time.as_ref().map(ts_millis),
            status,
            hazardous: lot.hazardous,
            version: lot.version,
        })
    }

    /// Whether partners should be proposed this lot.
    pub fn on_offer(&self) -> bool {
        self.status == "published" && !self.hazardous && self.available_units > 0
    }

    /// The engine's view, if the lot's category is known.
    pub fn profile(&self) -> Option<LotProfile> {
        Some(LotProfile {
            id: self.id.to_string(),
            location: GeoPoint::new(self.latitude, self.longitude).ok()?,
            category: category::find(&self.category)?,
            available_units: self.available_units,
            unit_mass_g: self.unit_mass_g,
            window: Window {
                from_ms: self.available_from,
                until_ms: self.available_until,
            },
            hazardous: self.hazardous,
        })
    }

    fn from_row(row: &AnyRow) -> Result<Lot> {
        Ok(Lot {
            id: uuid_col(row, "id")?,
            site_id: uuid_col(row, "site_id")?,
            owner_org: row.try_get("owner_org")?,
            category: row.try_get("category")?,
            unit: row.try_get("unit")?,
            available_units: row.try_get("available_units")?,
            unit_mass_g: row.try_get("unit_mass_g")?,
            latitude: row.try_get("latitude")?,
            longitude: row.try_get("longitude")?,
            available_from: row.try_get("available_from")?,
            available_until: row.try_get("available_until")?,
            status: row.try_get("status")?,
            hazardous: row.try_get::<i64, _>("hazardous")? != 0,
            version: row.try_get("version")?,
        })
    }
}

impl Partner {
    /// From the partner a registry event carries.
    pub fn from_event(p: &rpb::Partner) -> Result<Partner> {
        let id = parse("partner.name", &p.name, "partners/{partner}")
            .map_err(|e| bad("partner name", e))?[0];
        let kinds: Vec<String> = p
            .kinds
            .iter()
            .filter_map(|k| rpb::PartnerKind::try_from(*k).ok())
            .map(|k| {
                k.as_str_name()
                    .trim_start_matches("PARTNER_KIND_")
                    .to_string()
            })
            .collect();
        let status = rpb::PartnerStatus::try_from(p.status)
            .map(|s| {
                s.as_str_name()
                    .trim_start_matches("PARTNER_STATUS_")
                    .to_lowercase()
            })
            .unwrap_or_else(|_| "unknown".into());
        let location = p.location.unwrap_or_default();
        Ok(Partner {
            id,
            status,
            kinds: kinds.join(","),
            categories: p.accepted_categories.join(","),
            latitude: location.latitude,
            longitude: location.longitude,
            radius_km: i64::from(p.service_radius_km),
            weekly_intake_kg: p.weekly_intake_kg,
            version: p.version,
        })
    }

    /// The engine's view, given the mass its open claims already commit.
    pub fn profile(&self, committed_g: i64) -> Option<PartnerProfile> {
        let kinds: Vec<PartnerKind> = self
            .kinds
            .split(',')
            .filter_map(|k| PartnerKind::parse(if k == "ASSOCIATION" { "ASSO" } else { k }).ok())
            .collect();
        let kind = kinds
            .iter()
            .copied()
            .find(|k| k.is_insertion())
            .or(kinds.first().copied())
            .map_or(StructureKind::Other, structure_kind);
        Some(PartnerProfile {
            id: self.id.to_string(),
            location: GeoPoint::new(self.latitude, self.longitude).ok()?,
            radius_m: self.radius_km as f64 * 1000.0,
            accepted: self
                .categories
                .split(',')
                .filter_map(category::find)
                .collect(),
            weekly_intake_g: self.weekly_intake_kg.saturating_mul(1000),
            committed_g,
            verified_active: self.status == "verified",
            kind,
            horizon_ms: PARTNER_HORIZON_MS,
        })
    }

    fn from_row(row: &AnyRow) -> Result<Partner> {
        Ok(Partner {
            id: uuid_col(row, "id")?,
            status: row.try_get("status")?,
            kinds: row.try_get("kinds")?,
            categories: row.try_get("categories")?,
            latitude: row.try_get("latitude")?,
            longitude: row.try_get("longitude")?,
            radius_km: row.try_get("radius_km")?,
            weekly_intake_kg: row.try_get("weekly_intake_kg")?,
            version: row.try_get("version")?,
        })
    }
}

fn structure_kind(k: PartnerKind) -> StructureKind {
    match k {
        PartnerKind::Aci => StructureKind::Aci,
        PartnerKind::Ai => StructureKind::Ai,
        PartnerKind::Ei => StructureKind::Ei,
        PartnerKind::Eiti => StructureKind::Eiti,
        PartnerKind::Etti => StructureKind::Etti,
        PartnerKind::Ressourcerie => StructureKind::Ressourcerie,
        PartnerKind::Association => StructureKind::Association,
        PartnerKind::Scop => StructureKind::Scop,
        PartnerKind::Scic => StructureKind::Scic,
        PartnerKind::Ea | PartnerKind::Eatt | PartnerKind::Geiq => StructureKind::Other,
    }
}

impl Claim {
    /// From the claim an inventory event carries; its mass comes from the lot's unit mass.
    pub fn from_event(c: &ipb::Claim, unit_mass_g: i64) -> Result<Claim> {
        let ids = parse(
            "claim.name",
            &c.name,
            "sites/{site}/lots/{lot}/claims/{claim}",
        )
        .map_err(|e| bad("claim name", e))?;
        let partner = parse("claim.partner", &c.partner, "partners/{partner}")
            .map_err(|e| bad("claim partner", e))?[0];
        let milli = c.quantity.unwrap_or_default().milli;
        let status = ipb::ClaimStatus::try_from(c.status).unwrap_or(ipb::ClaimStatus::Unspecified);
        Ok(Claim {
            id: ids[2],
            lot_id: ids[1],
            partner_id: partner,
            mass_g: i64::try_from(i128::from(milli) * i128::from(unit_mass_g) / 1000)
                .unwrap_or(i64::MAX),
            open: matches!(
                status,
                ipb::ClaimStatus::Reserved | ipb::ClaimStatus::Confirmed
            ),
            version: c.version,
        })
    }
}

fn uuid_col(row: &AnyRow, col: &str) -> Result<Uuid> {
    let s: String = row.try_get(col)?;
    Uuid::try_parse(&s).map_err(|e| MatchingError::Internal(format!("stored {col}: {e}")))
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

const LOT_COLUMNS: &str = "id, site_id, owner_org, category, unit, available_units, unit_mass_g, \
    latitude, longitude, available_from, available_until, status, hazardous, version";
const PARTNER_COLUMNS: &str =
    "id, status, kinds, categories, latitude, longitude, radius_km, weekly_intake_kg, version";

/// Stores a lot if it is newer than the one held; returns whether it was applied.
pub async fn upsert_lot(conn: &mut AnyConnection, l: &Lot) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO lots (id, site_id, owner_org, category, unit, available_units, unit_mass_g, \
         latitude, longitude, available_from, available_until, status, hazardous, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
         ON CONFLICT (id) DO UPDATE SET category = excluded.category, unit = excluded.unit, \
         available_units = excluded.available_units, unit_mass_g = excluded.unit_mass_g, \
         latitude = excluded.latitude, longitude = excluded.longitude, \
         available_from = excluded.available_from, available_until = excluded.available_until, \
         status = excluded.status, hazardous = excluded.hazardous, version = excluded.version, \
         owner_org = excluded.owner_org WHERE lots.version < excluded.version",
    )
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
    let done = sqlx::query(
        "INSERT INTO partners (id, status, kinds, categories, latitude, longitude, radius_km, \
         weekly_intake_kg, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, kinds = excluded.kinds, \
         categories = excluded.categories, latitude = excluded.latitude, \
         longitude = excluded.longitude, radius_km = excluded.radius_km, \
         weekly_intake_kg = excluded.weekly_intake_kg, version = excluded.version \
         WHERE partners.version < excluded.version",
    )
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
    let done = sqlx::query(
        "INSERT INTO claims (id, lot_id, partner_id, mass_g, open, version) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET mass_g = excluded.mass_g, \
         open = excluded.open, version = excluded.version WHERE claims.version < excluded.version",
    )
    .bind(c.id.to_string())
    .bind(c.lot_id.to_string())
    .bind(c.partner_id.to_string())
    .bind(c.mass_g)
    .bind(i64::from(c.open))
    .bind(c.version)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records that an entity changed, so every replica refreshes its index.
pub async fn record_change(conn: &mut AnyConnection, entity: &str, id: Uuid) -> Result<()> {
    sqlx::query("INSERT INTO changes (entity, entity_id) VALUES ($1, $2)")
        .bind(entity)
        .bind(id.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// Changes after `after`: (seq, entity, id).
pub async fn changes_after(
    conn: &mut AnyConnection,
    after: i64,
) -> Result<Vec<(i64, String, Uuid)>> {
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
                uuid_col(r, "entity_id")?,
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
pub async fn lot(conn: &mut AnyConnection, id: Uuid) -> Result<Option<Lot>> {
    let sql = format!("SELECT {LOT_COLUMNS} FROM lots WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(Lot::from_row).transpose()
}

/// Every lot of a site.
pub async fn site_lots(conn: &mut AnyConnection, site: Uuid) -> Result<Vec<Lot>> {
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
pub async fn unit_mass_g(conn: &mut AnyConnection, lot: Uuid) -> Result<i64> {
    let row = sqlx::query("SELECT unit_mass_g FROM lots WHERE id = $1")
        .bind(lot.to_string())
        .fetch_optional(conn)
        .await?;
    Ok(row
        .map(|r| r.try_get("unit_mass_g"))
        .transpose()?
        .unwrap_or(0))
}

/// Records the proposals not made before, in one statement; returns the
/// (lot, partner) pairs that are new.
pub async fn propose_all(
    conn: &mut AnyConnection,
    proposals: &[(Uuid, Uuid, Uuid, f64)],
    now: i64,
) -> Result<Vec<(Uuid, Uuid)>> {
    if proposals.is_empty() {
        return Ok(Vec::new());
    }
    let mut args = sqlx::any::AnyArguments::default();
    let mut rows = Vec::with_capacity(proposals.len());
    let bind = |e: sqlx::error::BoxDynError| MatchingError::Internal(format!("bind: {e}"));
    for (i, (lot, partner, id, score)) in proposals.iter().enumerate() {
        let n = i * 5;
        rows.push(format!(
            "(${}, ${}, ${}, ${}, ${})",
            n + 1,
            n + 2,
            n + 3,
            n + 4,
            n + 5
        ));
        sqlx::Arguments::add(&mut args, lot.to_string()).map_err(bind)?;
        sqlx::Arguments::add(&mut args, partner.to_string()).map_err(bind)?;
        sqlx::Arguments::add(&mut args, id.to_string()).map_err(bind)?;
        sqlx::Arguments::add(&mut args, *score).map_err(bind)?;
        sqlx::Arguments::add(&mut args, now).map_err(bind)?;
    }
    // Only numbered placeholders are formatted into the text.
    let sql = format!(
        "INSERT INTO proposals (lot_id, partner_id, id, score, created_at) VALUES {} \
         ON CONFLICT (lot_id, partner_id) DO NOTHING RETURNING lot_id, partner_id",
        rows.join(", ")
    );
    let inserted = sqlx::query_with(sqlx::AssertSqlSafe(sql), args)
        .fetch_all(conn)
        .await?;
    inserted
        .iter()
        .map(|r| Ok((uuid_col(r, "lot_id")?, uuid_col(r, "partner_id")?)))
        .collect()
}

/// Stores a site's owner if newer than what is held.
pub async fn upsert_site(
    conn: &mut AnyConnection,
    id: Uuid,
    owner_org: &str,
    version: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO sites (id, owner_org, version) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE \
         SET owner_org = excluded.owner_org, version = excluded.version WHERE sites.version < excluded.version",
    )
    .bind(id.to_string())
    .bind(owner_org)
    .bind(version)
    .execute(conn)
    .await?;
    Ok(())
}

/// The organisation owning a site, empty when unknown.
pub async fn site_owner(conn: &mut AnyConnection, id: Uuid) -> Result<String> {
    let row = sqlx::query("SELECT owner_org FROM sites WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    Ok(row
        .map(|r| r.try_get("owner_org"))
        .transpose()?
        .unwrap_or_default())
}

/// What the matching consumers do with any event: decode it, then convert
/// its payload. Properties also checked, for longer, by the
/// `event_envelope` fuzz target (fuzz/, `scripts/fuzz`).
#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;
    use prost::Message as _;
    use prost_types::Timestamp;
    use reemploi_events::{HandlerError, Message};
    use reemploi_proto::events::Envelope;
    use reemploi_proto::events::envelope::Payload;
    use reemploi_proto::types as tpb;
    use reemploi_runtime::consume;

    use super::*;

    fn message(bytes: Vec<u8>) -> Message {
        Message {
            subject: "reemploi.test.event".to_owned(),
            event_id: "test".to_owned(),
            payload: bytes.into(),
        }
    }

    fn is_permanent(e: MatchingError) -> bool {
        matches!(HandlerError::from(e), HandlerError::Permanent(_))
    }

    /// A name: well formed for `pattern` or not.
    fn name(pattern: &'static str) -> impl Strategy<Value = String> {
        let valid = prop::array::uniform3(any::<u128>()).prop_map(move |ids| {
            let mut ids = ids.into_iter().map(Uuid::from_u128);
            pattern
                .split('/')
                .map(|s| match s.starts_with('{') {
                    true => ids.next().map(|u| u.to_string()).unwrap_or_default(),
                    false => s.to_owned(),
                })
                .collect::<Vec<_>>()
                .join("/")
        });
        prop_oneof![3 => valid, 1 => "\\PC{0,60}"]
    }

    fn quantity() -> impl Strategy<Value = Option<tpb::Quantity>> {
        proptest::option::of(
            (any::<i32>(), any::<i64>()).prop_map(|(unit, milli)| tpb::Quantity { unit, milli }),
        )
    }

    fn point() -> impl Strategy<Value = Option<tpb::GeoPoint>> {
        let coordinate = prop_oneof![any::<f64>(), -200.0..200.0f64];
        proptest::option::of(
            (coordinate.clone(), coordinate).prop_map(|(latitude, longitude)| tpb::GeoPoint {
                latitude,
                longitude,
            }),
        )
    }

    fn timestamp() -> impl Strategy<Value = Option<Timestamp>> {
        proptest::option::of(
            (any::<i64>(), any::<i32>()).prop_map(|(seconds, nanos)| Timestamp { seconds, nanos }),
        )
    }

    fn lot() -> impl Strategy<Value = ipb::Lot> {
        (
            name("sites/{site}/lots/{lot}"),
            prop_oneof![Just("porte-interieure".to_owned()), "\\PC{0,20}"],
            quantity(),
            quantity(),
            any::<i64>(),
            point(),
            proptest::option::of((timestamp(), timestamp())),
            any::<i32>(),
            any::<bool>(),
            any::<i64>(),
        )
            .prop_map(
                |(
                    name,
                    category,
                    quantity,
                    available,
                    estimated_mass_g,
                    location,
                    window,
                    status,
                    hazardous,
                    version,
                )| {
                    ipb::Lot {
                        name,
                        category,
                        quantity,
                        available,
                        estimated_mass_g,
                        location,
                        availability: window.map(|(start_time, end_time)| tpb::TimeWindow {
                            start_time,
                            end_time,
                        }),
                        status,
                        hazardous,
                        version,
                        ..Default::default()
                    }
                },
            )
    }

    fn partner() -> impl Strategy<Value = rpb::Partner> {
        (
            name("partners/{partner}"),
            prop::collection::vec(any::<i32>(), 0..4),
            prop::collection::vec(
                prop_oneof![Just("radiateur".to_owned()), "\\PC{0,12}"],
                0..4,
            ),
            point(),
            any::<i32>(),
            any::<i64>(),
            any::<i32>(),
            any::<i64>(),
        )
            .prop_map(
                |(
                    name,
                    kinds,
                    accepted_categories,
                    location,
                    service_radius_km,
                    weekly_intake_kg,
                    status,
                    version,
                )| {
                    rpb::Partner {
                        name,
                        kinds,
                        accepted_categories,
                        location,
                        service_radius_km,
                        weekly_intake_kg,
                        status,
                        version,
                        ..Default::default()
                    }
                },
            )
    }

    fn claim() -> impl Strategy<Value = ipb::Claim> {
        (
            name("sites/{site}/lots/{lot}/claims/{claim}"),
            name("partners/{partner}"),
            quantity(),
            any::<i32>(),
            any::<i64>(),
        )
            .prop_map(|(name, partner, quantity, status, version)| ipb::Claim {
                name,
                partner,
                quantity,
                status,
                version,
                ..Default::default()
            })
    }

    fn payload() -> impl Strategy<Value = Payload> {
        prop_oneof![
            lot().prop_map(Payload::Lot),
            partner().prop_map(Payload::Partner),
            claim().prop_map(Payload::Claim),
        ]
    }

    /// Converts as the consumer does; a refusal must be a dead letter.
    fn convert(
        payload: &Payload,
        unit_mass_g: i64,
        committed_g: i64,
    ) -> std::result::Result<(), TestCaseError> {
        match payload {
            Payload::Lot(l) => match Lot::from_event(l) {
                Ok(lot) => {
                    prop_assert_eq!(&l.name, &format!("sites/{}/lots/{}", lot.site_id, lot.id));
                    let _ = lot.on_offer();
                    let _ = lot.profile();
                }
                Err(e) => prop_assert!(is_permanent(e)),
            },
            Payload::Partner(p) => match Partner::from_event(p) {
                Ok(partner) => {
                    prop_assert_eq!(&p.name, &format!("partners/{}", partner.id));
                    let _ = partner.profile(committed_g);
                }
                Err(e) => prop_assert!(is_permanent(e)),
            },
            Payload::Claim(c) => match Claim::from_event(c, unit_mass_g) {
                Ok(claim) => prop_assert!(c.name.ends_with(&claim.id.to_string())),
                Err(e) => prop_assert!(is_permanent(e)),
            },
            Payload::Site(_) | Payload::MatchProposal(_) => {}
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_bytes_are_a_dead_letter_or_a_payload(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            match consume::envelope(&message(bytes)) {
                Ok((envelope, payload)) => {
                    prop_assert!(envelope.payload.is_none());
                    convert(&payload, 1000, 0)?;
                }
                Err(e) => prop_assert!(matches!(e, HandlerError::Permanent(_)), "{:?}", e),
            }
        }

        #[test]
        fn any_envelope_converts_or_is_a_dead_letter(
            payload in payload(),
            version in any::<i64>(),
            unit_mass_g in prop_oneof![any::<i64>(), 0..100_000i64],
            committed_g in any::<i64>(),
        ) {
            let envelope = Envelope {
                event_id: "test".to_owned(),
                aggregate_version: version,
                payload: Some(payload),
                ..Default::default()
            };
            let (decoded, payload) = consume::envelope(&message(envelope.encode_to_vec())).unwrap();
            prop_assert_eq!(decoded.aggregate_version, version);
            convert(&payload, unit_mass_g, committed_g)?;
        }
    }
}
