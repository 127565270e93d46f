//! Matching's own view of lots, partners and claims, built from the events
//! inventory and registry publish (event-carried state), and turned into
//! engine profiles.

use reemploi_domain::category;
use reemploi_domain::geo::GeoPoint;
use reemploi_domain::partner::PartnerKind;
use reemploi_matching_engine::profile::{LotProfile, PartnerProfile, StructureKind, Window};
use reemploi_proto::inventory as ipb;
use reemploi_proto::registry as rpb;
use reemploi_runtime::error::ApiError;
use reemploi_runtime::names::{ClaimName, Id, LotName, parse};
use reemploi_runtime::wire::ts_millis;
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use crate::error::{MatchingError, Result};

/// How far ahead a partner plans its pick-ups (the engine's availability horizon).
pub const PARTNER_HORIZON_MS: i64 = 28 * 24 * 3600 * 1000;

/// A lot as matching keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Lot {
    /// Unique within its site only.
    pub id: Id,
    pub site_id: Id,
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
    pub site_id: Id,
    pub lot_id: Id,
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
        let name = LotName::parse("lot.name", &lot.name).map_err(|e| bad("lot name", e))?;
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
        // A deleted draft is kept as such, at its newer version, so that
        // no older event brings it back.
        let status = match lot.delete_time {
            Some(_) => "deleted".to_owned(),
            None => ipb::LotStatus::try_from(lot.status)
                .map(|s| {
                    s.as_str_name()
                        .trim_start_matches("LOT_STATUS_")
                        .to_lowercase()
                })
                .unwrap_or_else(|_| "unknown".into()),
        };
        Ok(Lot {
            id: name.lot,
            site_id: name.site,
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

    /// The lot's name.
    pub fn name(&self) -> LotName {
        LotName {
            site: self.site_id,
            lot: self.id,
        }
    }

    /// Whether partners should be proposed this lot.
    pub fn on_offer(&self) -> bool {
        self.status == "published" && !self.hazardous && self.available_units > 0
    }

    /// The engine's view, if the lot's category is known.
    pub fn profile(&self) -> Option<LotProfile> {
        Some(LotProfile {
            // Lot ids are unique within their site only: the index holds
            // every site's lots, by site and id.
            id: self.name().key(),
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

    pub(crate) fn from_row(row: &AnyRow) -> Result<Lot> {
        Ok(Lot {
            id: id_col(row, "id")?,
            site_id: id_col(row, "site_id")?,
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

    pub(crate) fn from_row(row: &AnyRow) -> Result<Partner> {
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
        let name = ClaimName::parse("claim.name", &c.name).map_err(|e| bad("claim name", e))?;
        let partner = parse("claim.partner", &c.partner, "partners/{partner}")
            .map_err(|e| bad("claim partner", e))?[0];
        // A partner holds what it has not collected yet: the trips made
        // are no longer the site's to allocate nor the partner's to fetch.
        let collected = c.collected.map_or(0, |q| q.milli);
        let milli = c
            .quantity
            .unwrap_or_default()
            .milli
            .saturating_sub(collected)
            .max(0);
        let status = ipb::ClaimStatus::try_from(c.status).unwrap_or(ipb::ClaimStatus::Unspecified);
        Ok(Claim {
            id: name.claim,
            site_id: name.lot.site,
            lot_id: name.lot.lot,
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

pub(crate) fn id_col(row: &AnyRow, col: &str) -> Result<Id> {
    let s: String = row.try_get(col)?;
    Id::parse(&s).ok_or_else(|| ApiError::Internal(format!("stored {col}: {s:?}")).into())
}

pub(crate) fn uuid_col(row: &AnyRow, col: &str) -> Result<Uuid> {
    let s: String = row.try_get(col)?;
    Uuid::try_parse(&s).map_err(|e| ApiError::Internal(format!("stored {col}: {e}")).into())
}

/// What the matching consumers do with any event: decode it, then convert
/// its payload (property tests).
#[cfg(test)]
mod tests;
