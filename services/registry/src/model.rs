//! A partner as stored, its validation from the public message (once, at
//! the edge) and its rendering back.

use reemploi_domain::category;
use reemploi_domain::geo::GeoPoint;
use reemploi_domain::partner::{PartnerKind, PartnerStatus};
use reemploi_domain::siret::Siret;
use reemploi_domain::{DomainError, text};
use reemploi_proto::registry as pb;
use reemploi_runtime::error::ApiError;
use reemploi_runtime::validation::Check;
use reemploi_runtime::wire::{etag, millis_ts, point_from_proto, point_proto};
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use crate::error::{RegistryError, Result};

/// Longest name.
pub const MAX_NAME: usize = 200;
/// Longest address line, contact field or opening hours.
pub const MAX_LINE: usize = 500;
/// Farthest a partner may collect, in kilometres.
pub const MAX_RADIUS_KM: i32 = 200;
/// Largest storage capacity or weekly intake, in kg (100,000 t, the bound
/// of every mass).
pub const MAX_MASS_KG: i64 = reemploi_domain::mass::MAX_MASS_G / 1000;
/// Most insertion full-time equivalents, in hundredths.
pub const MAX_FTE_CENTI: i64 = 100_000 * 100;

/// The proto kind of a domain kind.
pub fn kind_proto(k: PartnerKind) -> pb::PartnerKind {
    match k {
        PartnerKind::Aci => pb::PartnerKind::Aci,
        PartnerKind::Ai => pb::PartnerKind::Ai,
        PartnerKind::Ei => pb::PartnerKind::Ei,
        PartnerKind::Eiti => pb::PartnerKind::Eiti,
        PartnerKind::Etti => pb::PartnerKind::Etti,
        PartnerKind::Ea => pb::PartnerKind::Ea,
        PartnerKind::Eatt => pb::PartnerKind::Eatt,
        PartnerKind::Geiq => pb::PartnerKind::Geiq,
        PartnerKind::Ressourcerie => pb::PartnerKind::Ressourcerie,
        PartnerKind::Association => pb::PartnerKind::Association,
        PartnerKind::Scop => pb::PartnerKind::Scop,
        PartnerKind::Scic => pb::PartnerKind::Scic,
    }
}

/// The domain kind of a proto kind number.
pub fn kind_from_proto(value: i32) -> std::result::Result<PartnerKind, DomainError> {
    PartnerKind::ALL
        .into_iter()
        .find(|k| kind_proto(*k) as i32 == value)
        .ok_or_else(|| DomainError::invalid("kinds", format!("unknown kind {value}")))
}

/// What a partner can do, as stored.
fn capability_code(value: i32) -> std::result::Result<&'static str, DomainError> {
    match pb::Capability::try_from(value) {
        Ok(pb::Capability::Collection) => Ok("collection"),
        Ok(pb::Capability::CarefulRemoval) => Ok("careful_removal"),
        Ok(pb::Capability::Refurbishing) => Ok("refurbishing"),
        Ok(pb::Capability::Resale) => Ok("resale"),
        Ok(pb::Capability::Recycling) => Ok("recycling"),
        Ok(pb::Capability::Unspecified) | Err(_) => Err(DomainError::invalid(
            "capabilities",
            format!("unknown capability {value}"),
        )),
    }
}

fn capability_from_code(code: &str) -> pb::Capability {
    match code {
        "collection" => pb::Capability::Collection,
        "careful_removal" => pb::Capability::CarefulRemoval,
        "refurbishing" => pb::Capability::Refurbishing,
        "resale" => pb::Capability::Resale,
        "recycling" => pb::Capability::Recycling,
        _ => pb::Capability::Unspecified,
    }
}

/// The proto status of a domain status.
pub fn status_proto(s: PartnerStatus) -> pb::PartnerStatus {
    match s {
        PartnerStatus::Pending => pb::PartnerStatus::Pending,
        PartnerStatus::Verified => pb::PartnerStatus::Verified,
        PartnerStatus::Suspended => pb::PartnerStatus::Suspended,
        PartnerStatus::Archived => pb::PartnerStatus::Archived,
    }
}

/// The domain status of a proto filter; `None` for "any".
pub fn status_filter(value: i32) -> Result<Option<PartnerStatus>> {
    match pb::PartnerStatus::try_from(value) {
        Ok(pb::PartnerStatus::Unspecified) => Ok(None),
        Ok(pb::PartnerStatus::Pending) => Ok(Some(PartnerStatus::Pending)),
        Ok(pb::PartnerStatus::Verified) => Ok(Some(PartnerStatus::Verified)),
        Ok(pb::PartnerStatus::Suspended) => Ok(Some(PartnerStatus::Suspended)),
        Ok(pb::PartnerStatus::Archived) => Ok(Some(PartnerStatus::Archived)),
        Err(_) => Err(ApiError::invalid("status", format!("unknown status {value}")).into()),
    }
}

/// The profile of a partner: what it says about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub legal_name: String,
    pub trade_name: String,
    pub siret: Siret,
    pub kinds: Vec<PartnerKind>,
    pub address: pb::Address,
    pub location: GeoPoint,
    pub accepted_categories: Vec<&'static str>,
    pub capabilities: Vec<&'static str>,
    pub storage_capacity_kg: i64,
    pub weekly_intake_kg: i64,
    pub service_radius_km: i32,
    pub insertion_fte_centi: i64,
    pub contact: pb::Contact,
    pub opening_hours: String,
}

/// A postal address: each part optional, each checked.
fn address(c: &mut Check, a: &pb::Address) -> pb::Address {
    pb::Address {
        line1: c
            .ok(text::optional("address.line1", &a.line1, MAX_LINE))
            .flatten()
            .unwrap_or_default(),
        postal_code: c
            .ok(text::postal_code("address.postal_code", &a.postal_code))
            .flatten()
            .unwrap_or_default(),
        commune: c
            .ok(text::optional("address.commune", &a.commune, MAX_NAME))
            .flatten()
            .unwrap_or_default(),
        insee_code: c
            .ok(text::insee_code("address.insee_code", &a.insee_code))
            .flatten()
            .unwrap_or_default(),
    }
}

/// The categories a partner takes, each known, sorted, once.
fn accepted_categories(c: &mut Check, codes: &[String]) -> Vec<&'static str> {
    let mut accepted = Vec::new();
    for (i, code) in codes.iter().enumerate() {
        match category::parse(code) {
            Ok(cat) => accepted.push(cat.code),
            Err(_) => c.fail(
                &format!("accepted_categories[{i}]"),
                format!("unknown category `{code}`"),
            ),
        }
    }
    accepted.sort_unstable();
    accepted.dedup();
    accepted
}

/// Kilograms and full-time equivalents, bounded like every mass so that the
/// sums made of them stay exact; a service radius of 1 to 200 km.
fn amounts(c: &mut Check, p: &pb::Partner) {
    for (field, v, max) in [
        ("storage_capacity_kg", p.storage_capacity_kg, MAX_MASS_KG),
        ("weekly_intake_kg", p.weekly_intake_kg, MAX_MASS_KG),
        ("insertion_fte_centi", p.insertion_fte_centi, MAX_FTE_CENTI),
    ] {
        if v < 0 {
            c.fail(field, "must not be negative");
        } else if v > max {
            c.fail(field, format!("at most {max}"));
        }
    }
    if !(1..=MAX_RADIUS_KM).contains(&p.service_radius_km) {
        c.fail("service_radius_km", format!("from 1 to {MAX_RADIUS_KM} km"));
    }
}

/// A contact: a name, an e-mail address and a phone number, each optional.
fn contact(c: &mut Check, contact: &pb::Contact) -> pb::Contact {
    let email = contact.email.trim();
    if !email.is_empty()
        && (email.len() > 254 || !email.contains('@') || email.contains(char::is_whitespace))
    {
        c.fail("contact.email", "not an e-mail address");
    }
    pb::Contact {
        name: c
            .ok(text::optional("contact.name", &contact.name, MAX_NAME))
            .flatten()
            .unwrap_or_default(),
        email: email.to_string(),
        phone: c
            .ok(text::optional("contact.phone", &contact.phone, 40))
            .flatten()
            .unwrap_or_default(),
    }
}

impl Profile {
    /// Validates the writable fields of a proto partner, collecting every
    /// violation under `prefix` (e.g. `partner` or `requests[3].partner`).
    pub fn validate(p: &pb::Partner, prefix: &str) -> Result<Profile> {
        let mut c = Check::new(prefix);
        let legal_name = c.ok(text::required("legal_name", &p.legal_name, MAX_NAME));
        let trade_name = c.ok(text::optional("trade_name", &p.trade_name, MAX_NAME));
        let siret = c.ok(Siret::parse(&p.siret));
        if p.kinds.is_empty() {
            c.fail("kinds", "at least one kind of structure");
        }
        let mut kinds: Vec<PartnerKind> = p
            .kinds
            .iter()
            .filter_map(|k| c.ok(kind_from_proto(*k)))
            .collect();
        kinds.sort();
        kinds.dedup();
        let address = address(&mut c, &p.address.clone().unwrap_or_default());
        let location = c.ok(point_from_proto("location", p.location.as_ref()));
        let accepted = accepted_categories(&mut c, &p.accepted_categories);
        let mut capabilities: Vec<&'static str> = p
            .capabilities
            .iter()
            .filter_map(|v| c.ok(capability_code(*v)))
            .collect();
        capabilities.sort_unstable();
        capabilities.dedup();
        amounts(&mut c, p);
        let contact = contact(&mut c, &p.contact.clone().unwrap_or_default());
        let hours = c.ok(text::optional("opening_hours", &p.opening_hours, MAX_LINE));
        c.finish()?;
        let (Some(legal_name), Some(siret), Some(location)) = (legal_name, siret, location) else {
            return Err(ApiError::Internal("validated partner lost a field".into()).into());
        };
        Ok(Profile {
            legal_name,
            trade_name: trade_name.flatten().unwrap_or_default(),
            siret,
            kinds,
            address,
            location,
            accepted_categories: accepted,
            capabilities,
            storage_capacity_kg: p.storage_capacity_kg,
            weekly_intake_kg: p.weekly_intake_kg,
            service_radius_km: p.service_radius_km,
            insertion_fte_centi: p.insertion_fte_centi,
            contact,
            opening_hours: hours.flatten().unwrap_or_default(),
        })
    }

    /// Lower-cased names, for text search.
    pub fn search_text(&self) -> String {
        format!(
            "{} {} {}",
            self.legal_name, self.trade_name, self.address.commune
        )
        .to_lowercase()
    }
}

/// A partner as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct PartnerRow {
    pub id: Uuid,
    pub profile: Profile,
    pub status: PartnerStatus,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

impl PartnerRow {
    /// The resource name.
    pub fn name(&self) -> String {
        format!("partners/{}", self.id)
    }

    /// The public message.
    pub fn to_proto(&self) -> pb::Partner {
        let p = &self.profile;
        pb::Partner {
            name: self.name(),
            legal_name: p.legal_name.clone(),
            trade_name: p.trade_name.clone(),
            siret: p.siret.as_str().to_string(),
            kinds: p.kinds.iter().map(|k| kind_proto(*k) as i32).collect(),
            address: Some(p.address.clone()),
            location: Some(point_proto(p.location)),
            accepted_categories: p
                .accepted_categories
                .iter()
                .map(|c| (*c).to_string())
                .collect(),
            capabilities: p
                .capabilities
                .iter()
                .map(|c| capability_from_code(c) as i32)
                .collect(),
            storage_capacity_kg: p.storage_capacity_kg,
            weekly_intake_kg: p.weekly_intake_kg,
            service_radius_km: p.service_radius_km,
            insertion_fte_centi: p.insertion_fte_centi,
            contact: Some(p.contact.clone()),
            opening_hours: p.opening_hours.clone(),
            status: status_proto(self.status) as i32,
            create_time: Some(millis_ts(self.created_at)),
            update_time: Some(millis_ts(self.updated_at)),
            etag: etag(self.version),
            version: self.version,
        }
    }

    /// Reads a row selected with [`crate::repo::PARTNER_COLUMNS`].
    pub fn from_row(row: &AnyRow) -> Result<PartnerRow> {
        let stored = |what: &str, e: DomainError| {
            RegistryError::from(ApiError::Internal(format!("stored {what}: {e}")))
        };
        let id: String = row.try_get("id")?;
        let kinds: String = row.try_get("kinds")?;
        let cats: String = row.try_get("accepted_categories")?;
        let caps: String = row.try_get("capabilities")?;
        let split = |s: &str| {
            s.split(',')
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        let profile = Profile {
            legal_name: row.try_get("legal_name")?,
            trade_name: row.try_get("trade_name")?,
            siret: Siret::parse(&row.try_get::<String, _>("siret")?)
                .map_err(|e| stored("siret", e))?,
            kinds: split(&kinds)
                .iter()
                .map(|k| PartnerKind::parse(k).map_err(|e| stored("kind", e)))
                .collect::<Result<_>>()?,
            address: pb::Address {
                line1: row.try_get("address_line1")?,
                postal_code: row.try_get("postal_code")?,
                commune: row.try_get("commune")?,
                insee_code: row.try_get("insee_code")?,
            },
            location: GeoPoint::new(row.try_get("latitude")?, row.try_get("longitude")?)
                .map_err(|e| stored("location", e))?,
            accepted_categories: split(&cats)
                .iter()
                .map(|c| {
                    category::parse(c)
                        .map(|c| c.code)
                        .map_err(|e| stored("category", e))
                })
                .collect::<Result<_>>()?,
            capabilities: split(&caps)
                .iter()
                .filter_map(|c| capability_code(capability_from_code(c) as i32).ok())
                .collect(),
            storage_capacity_kg: row.try_get("storage_capacity_kg")?,
            weekly_intake_kg: row.try_get("weekly_intake_kg")?,
            service_radius_km: i32::try_from(row.try_get::<i64, _>("service_radius_km")?)
                .unwrap_or(MAX_RADIUS_KM),
            insertion_fte_centi: row.try_get("insertion_fte_centi")?,
            contact: pb::Contact {
                name: row.try_get("contact_name")?,
                email: row.try_get("contact_email")?,
                phone: row.try_get("contact_phone")?,
            },
            opening_hours: row.try_get("opening_hours")?,
        };
        Ok(PartnerRow {
            id: Uuid::try_parse(&id).map_err(|e| ApiError::Internal(format!("stored id: {e}")))?,
            profile,
            status: PartnerStatus::parse(&row.try_get::<String, _>("status")?)
                .map_err(|e| stored("status", e))?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            version: row.try_get("version")?,
        })
    }
}
