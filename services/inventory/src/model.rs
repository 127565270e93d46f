//! Stored records of sites, lots and claims, their validation from the
//! public messages (once, at the edge), and their rendering back.

use prost_types::Timestamp;
use reemploi_domain::category::{self, Category};
use reemploi_domain::claim::ClaimStatus;
use reemploi_domain::geo::GeoPoint;
use reemploi_domain::ledger::Ledger;
use reemploi_domain::lot::LotStatus;
use reemploi_domain::quantity::{Quantity, Unit};
use reemploi_domain::waste::{self, Hazard, WasteCode};
use reemploi_domain::{DomainError, mass, text};
use reemploi_proto::{inventory as pb, types as tpb};
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use reemploi_runtime::validation::{Check, request_id};
pub use reemploi_runtime::wire::{
    checked_millis, etag, etag_allows, millis_ts, point_from_proto, point_proto, ts_millis,
};

use crate::error::{InventoryError, Result};
use reemploi_runtime::names::{ClaimName, Id, LotName, PartnerName, SiteName};

/// Longest free-text description accepted.
pub const MAX_DESCRIPTION: usize = 10_000;
/// Longest short text (names, designations).
pub const MAX_NAME: usize = 200;
/// Longest medium text (addresses, conditions, locations, reasons).
pub const MAX_LINE: usize = 500;
/// Longest note or reason.
pub const MAX_NOTE: usize = 2_000;
/// Most photo URLs on a lot.
pub const MAX_PHOTOS: usize = 20;

fn opt_ts(ms: Option<i64>) -> Option<Timestamp> {
    ms.map(millis_ts)
}

/// The proto unit of a domain unit.
pub fn unit_to_proto(unit: Unit) -> tpb::Unit {
    match unit {
        Unit::Piece => tpb::Unit::Piece,
        Unit::Metre => tpb::Unit::Metre,
        Unit::SquareMetre => tpb::Unit::SquareMetre,
        Unit::CubicMetre => tpb::Unit::CubicMetre,
        Unit::Kilogram => tpb::Unit::Kilogram,
        Unit::Tonne => tpb::Unit::Tonne,
        Unit::Litre => tpb::Unit::Litre,
    }
}

/// The domain unit of a proto unit number.
pub fn unit_from_proto(value: i32) -> std::result::Result<Unit, DomainError> {
    match tpb::Unit::try_from(value) {
        Ok(tpb::Unit::Piece) => Ok(Unit::Piece),
        Ok(tpb::Unit::Metre) => Ok(Unit::Metre),
        Ok(tpb::Unit::SquareMetre) => Ok(Unit::SquareMetre),
        Ok(tpb::Unit::CubicMetre) => Ok(Unit::CubicMetre),
        Ok(tpb::Unit::Kilogram) => Ok(Unit::Kilogram),
        Ok(tpb::Unit::Tonne) => Ok(Unit::Tonne),
        Ok(tpb::Unit::Litre) => Ok(Unit::Litre),
        Ok(tpb::Unit::Unspecified) => Err(DomainError::invalid("unit", "required")),
        Err(_) => Err(DomainError::invalid(
            "unit",
            format!("unknown unit {value}"),
        )),
    }
}

/// A validated positive quantity of a proto quantity.
pub fn quantity_from_proto(
    q: Option<&tpb::Quantity>,
) -> std::result::Result<Quantity, DomainError> {
    let q = q.ok_or_else(|| DomainError::invalid("quantity", "required"))?;
    let unit = unit_from_proto(q.unit).map_err(|e| match e {
        DomainError::Invalid { reason, .. } => DomainError::invalid("quantity.unit", reason),
        other => other,
    })?;
    let quantity = Quantity::positive(q.milli, unit).map_err(|e| match e {
        DomainError::Invalid { reason, .. } => DomainError::invalid("quantity.milli", reason),
        other => other,
    })?;
    quantity.whole_if_counted().map_err(|e| match e {
        DomainError::Invalid { reason, .. } => DomainError::invalid("quantity.milli", reason),
        other => other,
    })
}

fn quantity_proto(milli: i64, unit: Unit) -> tpb::Quantity {
    tpb::Quantity {
        unit: unit_to_proto(unit) as i32,
        milli,
    }
}

/// A client's timestamp at `field`, checked (see [`checked_millis`]).
pub fn time(check: &mut Check, field: &str, ts: Option<&Timestamp>) -> Option<i64> {
    match checked_millis(ts?) {
        Ok(ms) => Some(ms),
        Err(reason) => {
            check.fail(field, reason);
            None
        }
    }
}

fn window(
    check: &mut Check,
    field: &str,
    w: Option<&tpb::TimeWindow>,
) -> (Option<i64>, Option<i64>) {
    let Some(w) = w else { return (None, None) };
    let start = time(check, &format!("{field}.start_time"), w.start_time.as_ref());
    let end = time(check, &format!("{field}.end_time"), w.end_time.as_ref());
    if let (Some(s), Some(e)) = (start, end)
        && e <= s
    {
        check.fail(field, "end_time must be after start_time");
    }
    (start, end)
}

fn window_proto(start: Option<i64>, end: Option<i64>) -> Option<tpb::TimeWindow> {
    (start.is_some() || end.is_some()).then(|| tpb::TimeWindow {
        start_time: opt_ts(start),
        end_time: opt_ts(end),
    })
}

/// Fails with ABORTED when the client sent an etag that is not the current one.
pub fn check_etag(sent: &str, version: i64, name: &str) -> Result<()> {
    if etag_allows(sent, version) {
        Ok(())
    } else {
        Err(InventoryError::StaleEtag {
            name: name.to_string(),
        })
    }
}

/// A site as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteRow {
    pub id: Id,
    pub display_name: String,
    pub programme: String,
    pub quartier: String,
    pub commune: String,
    pub insee_code: String,
    pub location: GeoPoint,
    pub address: String,
    pub owner_org: String,
    pub works_start: Option<i64>,
    pub works_end: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

impl SiteRow {
    /// Validates a proto site into a new row (id and times set by the caller).
    pub fn validate(site: &pb::Site, id: Id, now: i64, version: i64) -> Result<SiteRow> {
        let mut c = Check::new("site");
        let display_name = c.ok(text::required("display_name", &site.display_name, MAX_NAME));
        let op = site.operation.clone().unwrap_or_default();
        let programme = c.ok(text::optional(
            "operation.programme",
            &op.programme,
            MAX_NAME,
        ));
        let quartier = c.ok(text::optional("operation.quartier", &op.quartier, MAX_NAME));
        let commune = c.ok(text::optional("operation.commune", &op.commune, MAX_NAME));
        let insee = c
            .ok(text::insee_code("operation.insee_code", &op.insee_code))
            .flatten();
        let location = c.ok(point_from_proto("location", site.location.as_ref()));
        let address = c.ok(text::optional("address", &site.address, MAX_LINE));
        let owner_org = c.ok(text::required("owner_org", &site.owner_org, MAX_NAME));
        let start = time(&mut c, "works_start_time", site.works_start_time.as_ref());
        let end = time(&mut c, "works_end_time", site.works_end_time.as_ref());
        if let (Some(s), Some(e)) = (start, end)
            && e < s
        {
            c.fail("works_end_time", "must not be before works_start_time");
        }
        c.finish()?;
        let (Some(display_name), Some(location), Some(owner_org)) =
            (display_name, location, owner_org)
        else {
            return Err(InventoryError::Internal(
                "validated site lost a field".into(),
            ));
        };
        Ok(SiteRow {
            id,
            display_name,
            programme: programme.flatten().unwrap_or_default(),
            quartier: quartier.flatten().unwrap_or_default(),
            commune: commune.flatten().unwrap_or_default(),
            insee_code: insee.unwrap_or_default(),
            location,
            address: address.flatten().unwrap_or_default(),
            owner_org,
            works_start: start,
            works_end: end,
            created_at: now,
            updated_at: now,
            version,
        })
    }

    /// The resource name.
    pub fn name(&self) -> SiteName {
        SiteName(self.id)
    }

    /// The public message.
    pub fn to_proto(&self) -> pb::Site {
        pb::Site {
            name: self.name().to_string(),
            display_name: self.display_name.clone(),
            operation: Some(pb::Operation {
                programme: self.programme.clone(),
                quartier: self.quartier.clone(),
                commune: self.commune.clone(),
                insee_code: self.insee_code.clone(),
            }),
            location: Some(point_proto(self.location)),
            address: self.address.clone(),
            owner_org: self.owner_org.clone(),
            works_start_time: opt_ts(self.works_start),
            works_end_time: opt_ts(self.works_end),
            create_time: Some(millis_ts(self.created_at)),
            update_time: Some(millis_ts(self.updated_at)),
            etag: etag(self.version),
            version: self.version,
            // Counted by GetSite only.
            lot_counts: Vec::new(),
        }
    }

    /// Reads a row selected with [`crate::repo::SITE_COLUMNS`].
    pub fn from_row(row: &AnyRow) -> Result<SiteRow> {
        Ok(SiteRow {
            id: id_col(row, "id")?,
            display_name: row.try_get("display_name")?,
            programme: row.try_get("programme")?,
            quartier: row.try_get("quartier")?,
            commune: row.try_get("commune")?,
            insee_code: row.try_get("insee_code")?,
            location: point_cols(row)?,
            address: row.try_get("address")?,
            owner_org: row.try_get("owner_org")?,
            works_start: row.try_get("works_start")?,
            works_end: row.try_get("works_end")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            version: row.try_get("version")?,
        })
    }
}

fn id_col(row: &AnyRow, col: &str) -> Result<Id> {
    let text: String = row.try_get(col)?;
    Id::parse(&text).ok_or_else(|| InventoryError::Internal(format!("stored {col}: {text:?}")))
}

fn uuid_col(row: &AnyRow, col: &str) -> Result<Uuid> {
    let text: String = row.try_get(col)?;
    Uuid::try_parse(&text).map_err(|e| InventoryError::Internal(format!("stored {col}: {e}")))
}

fn point_cols(row: &AnyRow) -> Result<GeoPoint> {
    GeoPoint::new(row.try_get("latitude")?, row.try_get("longitude")?)
        .map_err(|e| InventoryError::Internal(format!("stored location: {e}")))
}

fn stored<T>(what: &str, r: std::result::Result<T, DomainError>) -> Result<T> {
    r.map_err(|e| InventoryError::Internal(format!("stored {what}: {e}")))
}

/// The descriptive part of a lot: what a site manager writes and edits.
#[derive(Debug, Clone, PartialEq)]
pub struct LotFields {
    pub reference: String,
    pub designation: String,
    pub description: String,
    pub category: &'static Category,
    pub quantity: Quantity,
    pub estimated_mass_g: i64,
    pub dimensions: [i64; 3],
    pub condition: String,
    pub building_location: String,
    pub photo_uris: Vec<String>,
    pub available_from: Option<i64>,
    pub available_until: Option<i64>,
    pub waste_code: Option<WasteCode>,
    pub hazards: Vec<Hazard>,
    pub reuse_potential: i32,
    pub location: Option<GeoPoint>,
}

/// Dimensions in millimetres: none negative.
fn dimensions(c: &mut Check, d: &tpb::Dimensions) {
    for (name, v) in [
        ("length_mm", d.length_mm),
        ("width_mm", d.width_mm),
        ("height_mm", d.height_mm),
    ] {
        if v < 0 {
            c.fail(&format!("dimensions.{name}"), "must not be negative");
        }
    }
}

/// Photo links: at most [`MAX_PHOTOS`] http(s) URLs.
fn photos(c: &mut Check, uris: &[String]) {
    if uris.len() > MAX_PHOTOS {
        c.fail("photo_uris", format!("at most {MAX_PHOTOS} photos"));
    }
    for (i, uri) in uris.iter().enumerate() {
        let ok = (uri.starts_with("https://") || uri.starts_with("http://"))
            && uri.len() <= 2000
            && !uri.chars().any(char::is_whitespace);
        if !ok {
            c.fail(
                &format!("photo_uris[{i}]"),
                "must be an http(s) URL of at most 2000 characters",
            );
        }
    }
}

/// The hazards a diagnostic found, each known, sorted, once.
fn hazards(c: &mut Check, values: &[i32]) -> Vec<Hazard> {
    let mut hazards = Vec::new();
    for (i, h) in values.iter().enumerate() {
        match pb::Hazard::try_from(*h) {
            Ok(pb::Hazard::Asbestos) => hazards.push(Hazard::Asbestos),
            Ok(pb::Hazard::Lead) => hazards.push(Hazard::Lead),
            Ok(pb::Hazard::Pcb) => hazards.push(Hazard::Pcb),
            Ok(pb::Hazard::Pah) => hazards.push(Hazard::Pah),
            Ok(pb::Hazard::Other) => hazards.push(Hazard::Other),
            Ok(pb::Hazard::Unspecified) | Err(_) => {
                c.fail(&format!("hazards[{i}]"), format!("unknown hazard {h}"));
            }
        }
    }
    hazards.sort_by_key(|h| h.code());
    hazards.dedup();
    hazards
}

/// A lot's own location, its errors under `location.`.
fn location(p: &tpb::GeoPoint) -> std::result::Result<GeoPoint, DomainError> {
    GeoPoint::new(p.latitude, p.longitude).map_err(|e| match e {
        DomainError::Invalid { field, reason } => DomainError::Invalid {
            field: if field == "latitude" {
                "location.latitude"
            } else {
                "location.longitude"
            },
            reason,
        },
        other => other,
    })
}

impl LotFields {
    /// Validates the writable fields of a proto lot, collecting every violation
    /// under `prefix` (e.g. `lot` or `requests[3].lot`).
    pub fn validate(lot: &pb::Lot, prefix: &str) -> Result<LotFields> {
        let mut c = Check::new(prefix);
        let reference = c.ok(text::optional("reference", &lot.reference, 50));
        let designation = c.ok(text::required("designation", &lot.designation, MAX_NAME));
        let description = c.ok(text::optional(
            "description",
            &lot.description,
            MAX_DESCRIPTION,
        ));
        let category = c.ok(category::parse(&lot.category));
        let quantity = c.ok(quantity_from_proto(lot.quantity.as_ref()));
        c.ok(mass::estimated("estimated_mass_g", lot.estimated_mass_g));
        let d = lot.dimensions.unwrap_or_default();
        dimensions(&mut c, &d);
        let condition = c.ok(text::optional("condition", &lot.condition, MAX_LINE));
        let building_location = c.ok(text::optional(
            "building_location",
            &lot.building_location,
            MAX_LINE,
        ));
        photos(&mut c, &lot.photo_uris);
        let (available_from, available_until) =
            window(&mut c, "availability", lot.availability.as_ref());
        let waste_code = if lot.waste_code.trim().is_empty() {
            None
        } else {
            c.ok(WasteCode::parse(&lot.waste_code))
        };
        let hazards = hazards(&mut c, &lot.hazards);
        if pb::ReusePotential::try_from(lot.reuse_potential).is_err() {
            c.fail(
                "reuse_potential",
                format!("unknown reuse potential {}", lot.reuse_potential),
            );
        }
        let location = lot.location.as_ref().and_then(|p| c.ok(location(p)));
        c.finish()?;
        let (Some(designation), Some(category), Some(quantity)) = (designation, category, quantity)
        else {
            return Err(InventoryError::Internal(
                "validated lot lost a field".into(),
            ));
        };
        Ok(LotFields {
            reference: reference.flatten().unwrap_or_default(),
            designation,
            description: description.flatten().unwrap_or_default(),
            category,
            quantity,
            estimated_mass_g: lot.estimated_mass_g,
            dimensions: [d.length_mm.into(), d.width_mm.into(), d.height_mm.into()],
            condition: condition.flatten().unwrap_or_default(),
            building_location: building_location.flatten().unwrap_or_default(),
            photo_uris: lot.photo_uris.clone(),
            available_from,
            available_until,
            waste_code,
            hazards,
            reuse_potential: lot.reuse_potential,
            location,
        })
    }

    /// Whether these fields make the lot hazardous (never publishable).
    pub fn hazardous(&self) -> bool {
        waste::is_hazardous(self.waste_code.as_ref(), &self.hazards)
    }
}

/// A lot as stored: its fields, ledger and status.
#[derive(Debug, Clone, PartialEq)]
pub struct LotRow {
    /// Unique within its site only.
    pub id: Id,
    pub site_id: Id,
    pub owner_org: String,
    pub fields: LotFields,
    pub ledger: Ledger,
    pub status: LotStatus,
    pub location: GeoPoint,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
    /// The check of a lot "after check", once recorded.
    pub check: Option<LotCheck>,
}

/// The check (lead, structure) of a lot whose reuse potential is "after
/// check".
#[derive(Debug, Clone, PartialEq)]
pub struct LotCheck {
    pub at: i64,
    pub passed: bool,
    pub by: String,
    pub note: String,
    pub recorded_by: String,
}

impl LotCheck {
    /// Validates a RecordLotCheck's check (its time, result and author
    /// required, the time not after `latest`), recorded by `recorder`.
    pub fn validate(check: Option<&pb::LotCheck>, latest: i64, recorder: &str) -> Result<LotCheck> {
        let mut c = Check::new("check");
        let Some(check) = check else {
            c.fail("", "required");
            c.finish()?;
            return Err(InventoryError::Internal("a missing check passed".into()));
        };
        let at = time(&mut c, "check_time", check.check_time.as_ref());
        if check.check_time.is_none() {
            c.fail("check_time", "required");
        }
        if at.is_some_and(|at| at > latest) {
            c.fail("check_time", "must not be in the future");
        }
        let passed = match pb::CheckResult::try_from(check.result) {
            Ok(pb::CheckResult::Passed) => Some(true),
            Ok(pb::CheckResult::Failed) => Some(false),
            Ok(pb::CheckResult::Unspecified) => {
                c.fail("result", "required: passed or failed");
                None
            }
            Err(_) => {
                c.fail("result", format!("unknown result {}", check.result));
                None
            }
        };
        let by = c.ok(text::required("checked_by", &check.checked_by, MAX_NAME));
        let note = c.ok(text::optional("note", &check.note, MAX_NOTE));
        c.finish()?;
        match (at, passed, by) {
            (Some(at), Some(passed), Some(by)) => Ok(LotCheck {
                at,
                passed,
                by,
                note: note.flatten().unwrap_or_default(),
                recorded_by: recorder.to_owned(),
            }),
            _ => Err(InventoryError::Internal(
                "validated check lost a field".into(),
            )),
        }
    }

    /// The public message.
    pub fn to_proto(&self) -> pb::LotCheck {
        pb::LotCheck {
            check_time: Some(millis_ts(self.at)),
            result: if self.passed {
                pb::CheckResult::Passed
            } else {
                pb::CheckResult::Failed
            } as i32,
            checked_by: self.by.clone(),
            note: self.note.clone(),
            recorded_by: self.recorded_by.clone(),
        }
    }

    /// The stored result: `passed` or `failed`.
    pub fn result_code(&self) -> &'static str {
        if self.passed { "passed" } else { "failed" }
    }

    fn from_row(row: &AnyRow) -> Result<Option<LotCheck>> {
        let Some(at) = row.try_get::<Option<i64>, _>("check_at")? else {
            return Ok(None);
        };
        let result: String = row.try_get("check_result")?;
        Ok(Some(LotCheck {
            at,
            passed: result == "passed",
            by: row.try_get("checked_by")?,
            note: row.try_get("check_note")?,
            recorded_by: row.try_get("check_recorded_by")?,
        }))
    }
}

impl LotRow {
    /// The resource name.
    pub fn name(&self) -> LotName {
        LotName {
            site: self.site_id,
            lot: self.id,
        }
    }

    /// The lot's unit.
    pub fn unit(&self) -> Unit {
        self.fields.quantity.unit()
    }

    /// Whether the lot can never be published.
    pub fn hazardous(&self) -> bool {
        self.fields.hazardous()
    }

    /// Whether the lot's reuse potential is "after check".
    pub fn awaits_check(&self) -> bool {
        self.fields.reuse_potential == pb::ReusePotential::AfterCheck as i32
    }

    /// Why the lot may not be published yet: it is "after check" and no
    /// passed check is recorded.
    pub fn unchecked(&self) -> Option<String> {
        if !self.awaits_check() {
            return None;
        }
        let name = self.name();
        match &self.check {
            Some(check) if check.passed => None,
            Some(check) => Some(format!(
                "{name} failed its check (lead, structure) by {}: it cannot be published",
                check.by
            )),
            None => Some(format!(
                "{name} awaits a check (lead, structure): record a passed check \
                 (RecordLotCheck) before publishing it"
            )),
        }
    }

    /// The public message.
    pub fn to_proto(&self) -> pb::Lot {
        let f = &self.fields;
        let unit = self.unit();
        pb::Lot {
            name: self.name().to_string(),
            designation: f.designation.clone(),
            description: f.description.clone(),
            category: f.category.code.to_string(),
            quantity: Some(quantity_proto(self.ledger.quantity, unit)),
            available: Some(quantity_proto(self.ledger.available, unit)),
            reserved: Some(quantity_proto(self.ledger.reserved, unit)),
            handed_over: Some(quantity_proto(self.ledger.handed_over, unit)),
            estimated_mass_g: f.estimated_mass_g,
            dimensions: Some(tpb::Dimensions {
                length_mm: i32::try_from(f.dimensions[0]).unwrap_or(i32::MAX),
                width_mm: i32::try_from(f.dimensions[1]).unwrap_or(i32::MAX),
                height_mm: i32::try_from(f.dimensions[2]).unwrap_or(i32::MAX),
            }),
            condition: f.condition.clone(),
            building_location: f.building_location.clone(),
            photo_uris: f.photo_uris.clone(),
            availability: window_proto(f.available_from, f.available_until),
            waste_code: f
                .waste_code
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            hazards: f.hazards.iter().map(|h| hazard_proto(*h) as i32).collect(),
            reuse_potential: f.reuse_potential,
            status: lot_status_proto(self.status) as i32,
            hazardous: self.hazardous(),
            reference: f.reference.clone(),
            location: Some(point_proto(self.location)),
            create_time: Some(millis_ts(self.created_at)),
            update_time: Some(millis_ts(self.updated_at)),
            etag: etag(self.version),
            version: self.version,
            delete_time: None,
            check: self.check.as_ref().map(LotCheck::to_proto),
        }
    }

    /// Reads a row selected with [`crate::repo::LOT_COLUMNS`].
    pub fn from_row(row: &AnyRow) -> Result<LotRow> {
        let unit = stored("unit", Unit::parse(&row.try_get::<String, _>("unit")?))?;
        let category_code: String = row.try_get("category")?;
        let waste: String = row.try_get("waste_code")?;
        let hazards: String = row.try_get("hazards")?;
        let photos: String = row.try_get("photo_uris")?;
        let ledger = stored(
            "ledger",
            Ledger::from_parts(
                row.try_get("quantity")?,
                row.try_get("available")?,
                row.try_get("reserved")?,
                row.try_get("handed_over")?,
            ),
        )?;
        let fields = LotFields {
            reference: row.try_get("reference")?,
            designation: row.try_get("designation")?,
            description: row.try_get("description")?,
            category: stored("category", category::parse(&category_code))?,
            quantity: stored("quantity", Quantity::positive(ledger.quantity, unit))?,
            estimated_mass_g: row.try_get("estimated_mass_g")?,
            dimensions: [
                row.try_get("length_mm")?,
                row.try_get("width_mm")?,
                row.try_get("height_mm")?,
            ],
            condition: row.try_get("condition")?,
            building_location: row.try_get("building_location")?,
            photo_uris: photos.lines().map(str::to_string).collect(),
            available_from: row.try_get("available_from")?,
            available_until: row.try_get("available_until")?,
            waste_code: if waste.is_empty() {
                None
            } else {
                Some(stored("waste code", WasteCode::from_stored(&waste))?)
            },
            hazards: hazards
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| stored("hazard", Hazard::parse(s)))
                .collect::<Result<_>>()?,
            reuse_potential: i32::try_from(row.try_get::<i64, _>("reuse_potential")?).unwrap_or(0),
            location: None,
        };
        Ok(LotRow {
            id: id_col(row, "id")?,
            site_id: id_col(row, "site_id")?,
            owner_org: row.try_get("owner_org")?,
            fields,
            ledger,
            status: stored(
                "status",
                LotStatus::parse(&row.try_get::<String, _>("status")?),
            )?,
            location: point_cols(row)?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            version: row.try_get("version")?,
            check: LotCheck::from_row(row)?,
        })
    }
}

/// What ListLots reads of a lot before its content: which one, which
/// version, and where (for the radius).
#[derive(Debug, Clone, Copy)]
pub struct LotKey {
    pub key: crate::cache::Key,
    pub stamp: crate::cache::Stamp,
    pub location: GeoPoint,
}

impl LotKey {
    /// Reads a row selected with [`crate::repo::LOT_KEY_COLUMNS`].
    pub fn from_row(row: &AnyRow) -> Result<LotKey> {
        Ok(LotKey {
            key: (id_col(row, "site_id")?, id_col(row, "id")?),
            stamp: crate::cache::Stamp {
                created_at: row.try_get("created_at")?,
                version: row.try_get("version")?,
            },
            location: point_cols(row)?,
        })
    }

    /// The key of ListLots' pages: site, creation time, lot.
    pub fn page_key(&self) -> String {
        format!("{}/{}/{}", self.key.0, self.stamp.created_at, self.key.1)
    }

    /// A lot's key as read whole.
    pub fn of(lot: &LotRow) -> LotKey {
        LotKey {
            key: (lot.site_id, lot.id),
            stamp: crate::cache::Stamp {
                created_at: lot.created_at,
                version: lot.version,
            },
            location: lot.location,
        }
    }
}

/// The proto status of a domain lot status.
pub fn lot_status_proto(s: LotStatus) -> pb::LotStatus {
    match s {
        LotStatus::Draft => pb::LotStatus::Draft,
        LotStatus::Published => pb::LotStatus::Published,
        LotStatus::Withdrawn => pb::LotStatus::Withdrawn,
        LotStatus::Exhausted => pb::LotStatus::Exhausted,
        LotStatus::Expired => pb::LotStatus::Expired,
    }
}

/// The domain lot status of a proto filter; `None` for "any".
pub fn lot_status_filter(value: i32) -> Result<Option<LotStatus>> {
    match pb::LotStatus::try_from(value) {
        Ok(pb::LotStatus::Unspecified) => Ok(None),
        Ok(pb::LotStatus::Draft) => Ok(Some(LotStatus::Draft)),
        Ok(pb::LotStatus::Published) => Ok(Some(LotStatus::Published)),
        Ok(pb::LotStatus::Withdrawn) => Ok(Some(LotStatus::Withdrawn)),
        Ok(pb::LotStatus::Exhausted) => Ok(Some(LotStatus::Exhausted)),
        Ok(pb::LotStatus::Expired) => Ok(Some(LotStatus::Expired)),
        Err(_) => Err(InventoryError::invalid(
            "status",
            format!("unknown status {value}"),
        )),
    }
}

/// The proto hazard of a domain hazard.
pub fn hazard_proto(h: Hazard) -> pb::Hazard {
    match h {
        Hazard::Asbestos => pb::Hazard::Asbestos,
        Hazard::Lead => pb::Hazard::Lead,
        Hazard::Pcb => pb::Hazard::Pcb,
        Hazard::Pah => pb::Hazard::Pah,
        Hazard::Other => pb::Hazard::Other,
    }
}

/// A claim as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimRow {
    pub id: Uuid,
    pub lot: LotName,
    pub owner_org: String,
    pub partner_id: Uuid,
    pub quantity: Quantity,
    pub pickup_from: Option<i64>,
    pub pickup_until: Option<i64>,
    pub status: ClaimStatus,
    pub expires_at: i64,
    /// Summed over the trips.
    pub weighed_mass_g: i64,
    /// The latest trip's time.
    pub handed_over_at: Option<i64>,
    pub note: String,
    pub request_id: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
    /// Collected over the trips, in thousandths of the lot's unit.
    pub collected: i64,
    pub trip_count: i64,
}

/// A validated ClaimLot request.
#[derive(Debug, Clone)]
pub struct ClaimInput {
    pub lot: LotName,
    pub partner: PartnerName,
    pub quantity: Quantity,
    pub pickup_from: Option<i64>,
    pub pickup_until: Option<i64>,
    pub request_id: String,
    pub note: String,
}

impl TryFrom<&pb::ClaimLotRequest> for ClaimInput {
    type Error = InventoryError;

    fn try_from(req: &pb::ClaimLotRequest) -> Result<ClaimInput> {
        let mut c = Check::new("");
        let lot = c.take(LotName::parse("lot", &req.lot));
        let partner = c.take(PartnerName::parse("partner", &req.partner));
        let quantity = c.ok(quantity_from_proto(req.quantity.as_ref()));
        let (pickup_from, pickup_until) =
            window(&mut c, "pickup_window", req.pickup_window.as_ref());
        let request_id = request_id(&mut c, &req.request_id, true);
        let note = c.ok(text::optional("note", &req.note, MAX_NOTE));
        c.finish()?;
        let (Some(lot), Some(partner), Some(quantity)) = (lot, partner, quantity) else {
            return Err(InventoryError::Internal(
                "validated claim lost a field".into(),
            ));
        };
        Ok(ClaimInput {
            lot,
            partner,
            quantity,
            pickup_from,
            pickup_until,
            request_id: request_id.unwrap_or_default(),
            note: note.flatten().unwrap_or_default(),
        })
    }
}

impl ClaimRow {
    /// The resource name.
    pub fn name(&self) -> ClaimName {
        ClaimName {
            lot: self.lot,
            claim: self.id,
        }
    }

    /// The public message.
    pub fn to_proto(&self) -> pb::Claim {
        pb::Claim {
            name: self.name().to_string(),
            partner: PartnerName(self.partner_id).to_string(),
            quantity: Some(quantity_proto(self.quantity.milli(), self.quantity.unit())),
            pickup_window: window_proto(self.pickup_from, self.pickup_until),
            status: claim_status_proto(self.status) as i32,
            reservation_expire_time: Some(millis_ts(self.expires_at)),
            weighed_mass_g: self.weighed_mass_g,
            handover_time: opt_ts(self.handed_over_at),
            note: self.note.clone(),
            request_id: self.request_id.clone(),
            create_time: Some(millis_ts(self.created_at)),
            update_time: Some(millis_ts(self.updated_at)),
            etag: etag(self.version),
            version: self.version,
            collected: Some(quantity_proto(self.collected, self.quantity.unit())),
            trip_count: i32::try_from(self.trip_count).unwrap_or(i32::MAX),
        }
    }

    /// What is left to collect, in thousandths of the lot's unit.
    pub fn remainder(&self) -> i64 {
        self.quantity.milli() - self.collected
    }

    /// Reads a row selected with [`crate::repo::CLAIM_COLUMNS`].
    pub fn from_row(row: &AnyRow) -> Result<ClaimRow> {
        let unit = stored("unit", Unit::parse(&row.try_get::<String, _>("unit")?))?;
        Ok(ClaimRow {
            id: uuid_col(row, "id")?,
            lot: LotName {
                site: id_col(row, "site_id")?,
                lot: id_col(row, "lot_id")?,
            },
            owner_org: row.try_get("owner_org")?,
            partner_id: uuid_col(row, "partner_id")?,
            quantity: stored(
                "quantity",
                Quantity::positive(row.try_get("quantity")?, unit),
            )?,
            pickup_from: row.try_get("pickup_from")?,
            pickup_until: row.try_get("pickup_until")?,
            status: stored(
                "status",
                ClaimStatus::parse(&row.try_get::<String, _>("status")?),
            )?,
            expires_at: row.try_get("expires_at")?,
            weighed_mass_g: row.try_get("weighed_mass_g")?,
            handed_over_at: row.try_get("handed_over_at")?,
            note: row.try_get("note")?,
            request_id: row.try_get("request_id")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            version: row.try_get("version")?,
            collected: row.try_get("collected")?,
            trip_count: row.try_get("trip_count")?,
        })
    }
}

/// The receipt (bon d'enlèvement) of one trip, as stored: what it says is
/// copied when the trip is recorded, so that it stays what was handed over.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiptRow {
    pub id: Uuid,
    pub claim: ClaimName,
    /// The site's own count, from 1.
    pub seq: i64,
    pub owner_org: String,
    pub partner_id: Uuid,
    pub site_display_name: String,
    pub site_address: String,
    pub lot_designation: String,
    pub lot_reference: String,
    pub category: String,
    pub quantity: Quantity,
    pub weighed_mass_g: i64,
    pub handed_over_at: i64,
    pub claim_quantity: i64,
    pub collected: i64,
    pub collected_mass_g: i64,
    pub completes_claim: bool,
    pub recorded_by: String,
    pub created_at: i64,
}

impl ReceiptRow {
    /// The receipt's number: the site's id and its count, which no other
    /// site shares.
    pub fn number(&self) -> String {
        format!("BE-{}-{:04}", self.claim.lot.site, self.seq)
    }

    /// The resource name.
    pub fn name(&self) -> String {
        format!("{}/receipts/{}", self.claim, self.id)
    }

    /// The public message.
    pub fn to_proto(&self) -> pb::Receipt {
        let unit = self.quantity.unit();
        pb::Receipt {
            name: self.name(),
            number: self.number(),
            site: SiteName(self.claim.lot.site).to_string(),
            site_display_name: self.site_display_name.clone(),
            site_address: self.site_address.clone(),
            owner_org: self.owner_org.clone(),
            lot: self.claim.lot.to_string(),
            lot_designation: self.lot_designation.clone(),
            lot_reference: self.lot_reference.clone(),
            category: self.category.clone(),
            partner: PartnerName(self.partner_id).to_string(),
            quantity: Some(quantity_proto(self.quantity.milli(), unit)),
            weighed_mass_g: self.weighed_mass_g,
            handover_time: Some(millis_ts(self.handed_over_at)),
            claim_quantity: Some(quantity_proto(self.claim_quantity, unit)),
            collected: Some(quantity_proto(self.collected, unit)),
            collected_mass_g: self.collected_mass_g,
            completes_claim: self.completes_claim,
            recorded_by: self.recorded_by.clone(),
            create_time: Some(millis_ts(self.created_at)),
        }
    }

    /// Reads a row selected with [`crate::repo::RECEIPT_COLUMNS`].
    pub fn from_row(row: &AnyRow) -> Result<ReceiptRow> {
        let unit = stored("unit", Unit::parse(&row.try_get::<String, _>("unit")?))?;
        Ok(ReceiptRow {
            id: uuid_col(row, "id")?,
            claim: ClaimName {
                lot: LotName {
                    site: id_col(row, "site_id")?,
                    lot: id_col(row, "lot_id")?,
                },
                claim: uuid_col(row, "claim_id")?,
            },
            seq: row.try_get("seq")?,
            owner_org: row.try_get("owner_org")?,
            partner_id: uuid_col(row, "partner_id")?,
            site_display_name: row.try_get("site_display_name")?,
            site_address: row.try_get("site_address")?,
            lot_designation: row.try_get("lot_designation")?,
            lot_reference: row.try_get("lot_reference")?,
            category: row.try_get("category")?,
            quantity: stored(
                "quantity",
                Quantity::positive(row.try_get("quantity")?, unit),
            )?,
            weighed_mass_g: row.try_get("weighed_mass_g")?,
            handed_over_at: row.try_get("handed_over_at")?,
            claim_quantity: row.try_get("claim_quantity")?,
            collected: row.try_get("collected")?,
            collected_mass_g: row.try_get("collected_mass_g")?,
            completes_claim: row.try_get::<i64, _>("completes_claim")? != 0,
            recorded_by: row.try_get("recorded_by")?,
            created_at: row.try_get("created_at")?,
        })
    }
}

/// The name of a receipt,
/// `sites/{site}/lots/{lot}/claims/{claim}/receipts/{receipt}`.
pub fn receipt_name(field: &str, name: &str) -> Result<(ClaimName, Uuid)> {
    let bad = || {
        InventoryError::invalid(
            field,
            "must be sites/{site}/lots/{lot}/claims/{claim}/receipts/{receipt}",
        )
    };
    let (claim, receipt) = name.rsplit_once("/receipts/").ok_or_else(bad)?;
    let claim = ClaimName::parse(field, claim).map_err(|_| bad())?;
    let receipt = Uuid::try_parse(receipt).map_err(|_| bad())?;
    Ok((claim, receipt))
}

/// The proto status of a domain claim status.
pub fn claim_status_proto(s: ClaimStatus) -> pb::ClaimStatus {
    match s {
        ClaimStatus::Reserved => pb::ClaimStatus::Reserved,
        ClaimStatus::Confirmed => pb::ClaimStatus::Confirmed,
        ClaimStatus::HandedOver => pb::ClaimStatus::HandedOver,
        ClaimStatus::Rejected => pb::ClaimStatus::Rejected,
        ClaimStatus::Cancelled => pb::ClaimStatus::Cancelled,
        ClaimStatus::Expired => pb::ClaimStatus::Expired,
    }
}

/// The domain claim status of a proto filter; `None` for "any".
pub fn claim_status_filter(value: i32) -> Result<Option<ClaimStatus>> {
    match pb::ClaimStatus::try_from(value) {
        Ok(pb::ClaimStatus::Unspecified) => Ok(None),
        Ok(pb::ClaimStatus::Reserved) => Ok(Some(ClaimStatus::Reserved)),
        Ok(pb::ClaimStatus::Confirmed) => Ok(Some(ClaimStatus::Confirmed)),
        Ok(pb::ClaimStatus::HandedOver) => Ok(Some(ClaimStatus::HandedOver)),
        Ok(pb::ClaimStatus::Rejected) => Ok(Some(ClaimStatus::Rejected)),
        Ok(pb::ClaimStatus::Cancelled) => Ok(Some(ClaimStatus::Cancelled)),
        Ok(pb::ClaimStatus::Expired) => Ok(Some(ClaimStatus::Expired)),
        Err(_) => Err(InventoryError::invalid(
            "status",
            format!("unknown status {value}"),
        )),
    }
}
