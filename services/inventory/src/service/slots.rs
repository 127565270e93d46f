//! Pick-up slots: a site publishes time windows in which trucks may come,
//! a partner books one for a confirmed claim, the site reads its day's
//! pick-ups. Each booking counts and inserts in one write transaction with
//! the slot locked, so that a slot never takes more trucks than it has.

use reemploi_domain::claim::ClaimStatus;
use reemploi_domain::text;
use reemploi_proto::inventory as pb;
use reemploi_runtime::auth::Principal;
use reemploi_runtime::names::{ClaimName, Id, LotName, PartnerName, SiteName, new_id};
use reemploi_runtime::validation::{Check, Violation};
use reemploi_store::query::{Filter, KeyValue, select_filtered};
use reemploi_store::{Backend, now_millis};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row as _};
use uuid::Uuid;

use super::{Inventory, not_found, parse_stored};
use crate::authz;
use crate::error::{InventoryError, Result};
use crate::events::pickup_booked_event;
use crate::model::{MAX_NAME, MAX_NOTE, millis_ts, time};
use crate::repo;

/// The longest slot: a working day and its night, no more.
const MAX_SLOT_MS: i64 = 24 * 3600 * 1000;
/// The widest range of ListPickups: a month of days.
const MAX_RANGE_MS: i64 = 31 * 24 * 3600 * 1000;
/// Most trucks in one slot.
const MAX_TRUCKS: i32 = 50;
/// Longest phone number, with its spaces and prefix.
const MAX_PHONE: usize = 40;

/// The claims whose bookings still hold a truck: not those cancelled,
/// rejected or expired since they booked.
macro_rules! live_claims {
    () => {
        "SELECT id FROM claims WHERE status NOT IN ('cancelled', 'rejected', 'expired')"
    };
}
const LIVE_CLAIMS: &str = live_claims!();
const SLOT_COLUMNS: &str = concat!(
    "s.id, s.site_id, s.owner_org, s.start_at, s.end_at, s.trucks, ",
    "s.access_instructions, s.contact_name, s.contact_phone, s.created_at, ",
    "(SELECT COUNT(*) FROM pickup_bookings b WHERE b.slot_id = s.id AND b.claim_id IN (",
    live_claims!(),
    ")) AS booked"
);
const BOOKING_COLUMNS: &str =
    "id, slot_id, site_id, lot_id, claim_id, partner_id, start_at, end_at, created_at";

/// `sites/{site}/pickupSlots/{slot}`.
#[derive(Debug, Clone, Copy)]
pub struct SlotName {
    pub site: Id,
    pub slot: Uuid,
}

impl SlotName {
    pub fn parse(field: &str, name: &str) -> Result<SlotName, Violation> {
        let bad = || Violation::new(field, "must be sites/{site}/pickupSlots/{slot}");
        let (site, slot) = name.split_once("/pickupSlots/").ok_or_else(bad)?;
        let site = SiteName::parse(field, site)?;
        let slot = Uuid::try_parse(slot)
            .ok()
            .filter(|u| u.hyphenated().to_string() == slot)
            .ok_or_else(bad)?;
        Ok(SlotName { site: site.0, slot })
    }
}

impl std::fmt::Display for SlotName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sites/{}/pickupSlots/{}", self.site, self.slot)
    }
}

/// A stored pick-up slot, with how many bookings it holds.
#[derive(Debug, Clone)]
pub struct SlotRow {
    pub name: SlotName,
    pub owner_org: String,
    pub start_at: i64,
    pub end_at: i64,
    pub trucks: i64,
    pub access_instructions: String,
    pub contact_name: String,
    pub contact_phone: String,
    pub created_at: i64,
    pub booked: i64,
}

impl SlotRow {
    fn from_row(row: &AnyRow) -> Result<SlotRow> {
        let id: String = row.try_get("id")?;
        let site: String = row.try_get("site_id")?;
        Ok(SlotRow {
            name: SlotName {
                site: parse_stored(&site)?,
                slot: stored_uuid(&id)?,
            },
            owner_org: row.try_get("owner_org")?,
            start_at: row.try_get("start_at")?,
            end_at: row.try_get("end_at")?,
            trucks: row.try_get("trucks")?,
            access_instructions: row.try_get("access_instructions")?,
            contact_name: row.try_get("contact_name")?,
            contact_phone: row.try_get("contact_phone")?,
            created_at: row.try_get("created_at")?,
            booked: row.try_get("booked")?,
        })
    }

    fn to_proto(&self) -> pb::PickupSlot {
        pb::PickupSlot {
            name: self.name.to_string(),
            start_time: Some(millis_ts(self.start_at)),
            end_time: Some(millis_ts(self.end_at)),
            trucks: i32::try_from(self.trucks).unwrap_or(i32::MAX),
            access_instructions: self.access_instructions.clone(),
            contact_name: self.contact_name.clone(),
            contact_phone: self.contact_phone.clone(),
            booked: i32::try_from(self.booked).unwrap_or(i32::MAX),
            create_time: Some(millis_ts(self.created_at)),
        }
    }

    /// Validates a CreatePickupSlot's slot for the site `site` at `now`.
    fn validate(site: Id, owner_org: &str, s: Option<&pb::PickupSlot>, now: i64) -> Result<Self> {
        let mut c = Check::new("pickup_slot");
        let Some(s) = s else {
            c.fail("", "required");
            c.finish()?;
            return Err(InventoryError::Internal("a missing slot passed".into()));
        };
        let start = required_time(&mut c, "start_time", s.start_time.as_ref());
        let end = required_time(&mut c, "end_time", s.end_time.as_ref());
        if start.is_some_and(|t| t <= now) {
            c.fail("start_time", "must be in the future");
        }
        if let (Some(start), Some(end)) = (start, end) {
            if end <= start {
                c.fail("end_time", "must be after start_time");
            } else if end - start > MAX_SLOT_MS {
                c.fail("end_time", "a slot lasts at most 24 hours");
            }
        }
        if !(1..=MAX_TRUCKS).contains(&s.trucks) {
            c.fail("trucks", format!("must be 1 to {MAX_TRUCKS}"));
        }
        let access = c.ok(text::optional(
            "access_instructions",
            &s.access_instructions,
            MAX_NOTE,
        ));
        let contact = c.ok(text::required("contact_name", &s.contact_name, MAX_NAME));
        let phone = c.ok(text::required("contact_phone", &s.contact_phone, MAX_PHONE));
        c.finish()?;
        match (start, end, contact, phone) {
            (Some(start_at), Some(end_at), Some(contact_name), Some(contact_phone)) => {
                Ok(SlotRow {
                    name: SlotName {
                        site,
                        slot: new_id(),
                    },
                    owner_org: owner_org.to_owned(),
                    start_at,
                    end_at,
                    trucks: i64::from(s.trucks),
                    access_instructions: access.flatten().unwrap_or_default(),
                    contact_name,
                    contact_phone,
                    created_at: now,
                    booked: 0,
                })
            }
            _ => Err(InventoryError::Internal(
                "validated slot lost a field".into(),
            )),
        }
    }
}

/// A claim's truck booked on a slot.
#[derive(Debug, Clone)]
pub struct BookingRow {
    pub id: Uuid,
    pub slot: SlotName,
    pub claim: ClaimName,
    pub partner_id: Uuid,
    pub start_at: i64,
    pub end_at: i64,
    pub created_at: i64,
}

impl BookingRow {
    fn from_row(row: &AnyRow) -> Result<BookingRow> {
        let site = parse_stored(&row.try_get::<String, _>("site_id")?)?;
        let lot = parse_stored(&row.try_get::<String, _>("lot_id")?)?;
        Ok(BookingRow {
            id: stored_uuid(&row.try_get::<String, _>("id")?)?,
            slot: SlotName {
                site,
                slot: stored_uuid(&row.try_get::<String, _>("slot_id")?)?,
            },
            claim: ClaimName {
                lot: LotName { site, lot },
                claim: stored_uuid(&row.try_get::<String, _>("claim_id")?)?,
            },
            partner_id: stored_uuid(&row.try_get::<String, _>("partner_id")?)?,
            start_at: row.try_get("start_at")?,
            end_at: row.try_get("end_at")?,
            created_at: row.try_get("created_at")?,
        })
    }

    fn to_proto(&self) -> pb::PickupBooking {
        pb::PickupBooking {
            name: format!("{}/bookings/{}", self.slot, self.id),
            claim: self.claim.to_string(),
            partner: PartnerName(self.partner_id).to_string(),
            lot: self.claim.lot.to_string(),
            start_time: Some(millis_ts(self.start_at)),
            end_time: Some(millis_ts(self.end_at)),
            create_time: Some(millis_ts(self.created_at)),
        }
    }
}

fn stored_uuid(id: &str) -> Result<Uuid> {
    Uuid::try_parse(id).map_err(|_| InventoryError::Internal(format!("stored uuid {id:?}")))
}

fn required_time(c: &mut Check, field: &str, ts: Option<&prost_types::Timestamp>) -> Option<i64> {
    if ts.is_none() {
        c.fail(field, "required");
    }
    time(c, field, ts)
}

/// A page token of slots or bookings: the `(start_at, id)` after which to go on.
fn page_key(after: &str) -> Result<[KeyValue; 2]> {
    let bad = || InventoryError::invalid("page_token", "not a token of this list");
    let (start, id) = after.split_once('|').ok_or_else(bad)?;
    let start = start.parse::<i64>().map_err(|_| bad())?;
    Ok([KeyValue::Int(start), KeyValue::Text(id.to_owned())])
}

/// The slot, locked for the change when `lock` says so.
async fn get_slot(
    conn: &mut AnyConnection,
    name: SlotName,
    lock_for: Option<Backend>,
) -> Result<Option<SlotRow>> {
    // PostgreSQL refuses FOR UPDATE beside an aggregate: the slot row is
    // locked on its own first, then read with its count.
    if let Some(backend) = lock_for {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM pickup_slots WHERE id = $1{}",
            repo::lock(backend)
        )))
        .bind(name.slot.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    }
    let sql =
        format!("SELECT {SLOT_COLUMNS} FROM pickup_slots s WHERE s.id = $1 AND s.site_id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(name.slot.to_string())
        .bind(name.site.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(SlotRow::from_row).transpose()
}

async fn insert_slot(conn: &mut AnyConnection, s: &SlotRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO pickup_slots (id, site_id, owner_org, start_at, end_at, trucks, \
         access_instructions, contact_name, contact_phone, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(s.name.slot.to_string())
    .bind(s.name.site.to_string())
    .bind(s.owner_org.clone())
    .bind(s.start_at)
    .bind(s.end_at)
    .bind(s.trucks)
    .bind(s.access_instructions.clone())
    .bind(s.contact_name.clone())
    .bind(s.contact_phone.clone())
    .bind(s.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_booking(conn: &mut AnyConnection, b: &BookingRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO pickup_bookings (id, slot_id, site_id, lot_id, claim_id, partner_id, \
         start_at, end_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(b.id.to_string())
    .bind(b.slot.slot.to_string())
    .bind(b.slot.site.to_string())
    .bind(b.claim.lot.lot.to_string())
    .bind(b.claim.claim.to_string())
    .bind(b.partner_id.to_string())
    .bind(b.start_at)
    .bind(b.end_at)
    .bind(b.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

async fn booked_already(conn: &mut AnyConnection, slot: Uuid, claim: Uuid) -> Result<bool> {
    let row = sqlx::query("SELECT id FROM pickup_bookings WHERE slot_id = $1 AND claim_id = $2")
        .bind(slot.to_string())
        .bind(claim.to_string())
        .fetch_optional(conn)
        .await?;
    Ok(row.is_some())
}

/// Why a claim may not be booked on `slot` (FAILED_PRECONDITION), if it may not.
fn bookable(
    slot: &SlotRow,
    claim: ClaimName,
    status: ClaimStatus,
    now: i64,
) -> Option<(&'static str, String)> {
    if claim.lot.site != slot.name.site {
        return Some((
            "OTHER_SITE",
            format!("{claim} is on another site than {}", slot.name),
        ));
    }
    if status != ClaimStatus::Confirmed {
        return Some((
            "CLAIM_NOT_CONFIRMED",
            format!("{claim} is {status}: only a confirmed claim books a pick-up"),
        ));
    }
    if slot.end_at <= now {
        return Some(("SLOT_PAST", format!("{} is over", slot.name)));
    }
    if slot.booked >= slot.trucks {
        return Some((
            "SLOT_FULL",
            format!("{} takes {} trucks: all are booked", slot.name, slot.trucks),
        ));
    }
    None
}

/// A time range of ListPickupSlots (optional ends) or ListPickups (required).
fn range(
    start: Option<&prost_types::Timestamp>,
    end: Option<&prost_types::Timestamp>,
    required: bool,
) -> Result<(Option<i64>, Option<i64>)> {
    let mut c = Check::new("");
    let from = if required {
        required_time(&mut c, "start_time", start)
    } else {
        time(&mut c, "start_time", start)
    };
    let until = if required {
        required_time(&mut c, "end_time", end)
    } else {
        time(&mut c, "end_time", end)
    };
    if let (Some(from), Some(until)) = (from, until) {
        if until <= from {
            c.fail("end_time", "must be after start_time");
        } else if required && until - from > MAX_RANGE_MS {
            c.fail("end_time", "at most 31 days after start_time");
        }
    }
    c.finish()?;
    Ok((from, until))
}

impl Inventory {
    /// CreatePickupSlot.
    pub(super) async fn slot_create(
        &self,
        p: &Principal,
        req: pb::CreatePickupSlotRequest,
    ) -> Result<pb::PickupSlot> {
        let site = SiteName::parse("parent", &req.parent)?;
        let mut tx = self.inner.db.begin_write().await?;
        let site = repo::get_site(&mut tx, site.0, None)
            .await?
            .ok_or_else(|| not_found("site", site))?;
        authz::manage(p, &site.owner_org)?;
        let slot = SlotRow::validate(
            site.id,
            &site.owner_org,
            req.pickup_slot.as_ref(),
            now_millis(),
        )?;
        insert_slot(&mut tx, &slot).await?;
        self.commit(tx, &[]).await?;
        Ok(slot.to_proto())
    }

    /// ListPickupSlots: for who reads the site.
    pub(super) async fn slot_list(
        &self,
        p: &Principal,
        req: pb::ListPickupSlotsRequest,
    ) -> Result<pb::ListPickupSlotsResponse> {
        let site = SiteName::parse("parent", &req.parent)?;
        let (from, until) = range(req.start_time.as_ref(), req.end_time.as_ref(), false)?;
        let page = self.inner.pager.page(
            req.page_size,
            &req.page_token,
            &format!("slots|site={site}|{from:?}|{until:?}"),
        )?;
        let mut conn = self.conn().await?;
        let row = repo::get_site(&mut conn, site.0, None).await?;
        let row = row
            .filter(|s| authz::sees_site(p, &s.owner_org))
            .ok_or_else(|| not_found("site", site))?;
        let mut f = Filter::default();
        f.add("s.site_id = ?", row.id.to_string())?;
        if let Some(from) = from {
            f.add("s.start_at >= ?", from)?;
        }
        if let Some(until) = until {
            f.add("s.start_at < ?", until)?;
        }
        if let Some(after) = &page.after {
            f.after_key(&["s.start_at", "s.id"], &page_key(after)?)?;
        }
        let head = format!("SELECT {SLOT_COLUMNS} FROM pickup_slots s");
        let tail = format!(" ORDER BY s.start_at, s.id LIMIT {}", page.size + 1);
        let rows = select_filtered(&mut conn, &head, f, &tail).await?;
        let mut slots = rows
            .iter()
            .map(SlotRow::from_row)
            .collect::<Result<Vec<_>>>()?;
        let next_page_token =
            page.finish(&mut slots, |s| format!("{}|{}", s.start_at, s.name.slot));
        Ok(pb::ListPickupSlotsResponse {
            pickup_slots: slots.iter().map(SlotRow::to_proto).collect(),
            next_page_token,
        })
    }

    /// DeletePickupSlot: only a slot nobody booked.
    pub(super) async fn slot_delete(
        &self,
        p: &Principal,
        req: pb::DeletePickupSlotRequest,
    ) -> Result<()> {
        let name = SlotName::parse("name", &req.name)?;
        let mut tx = self.inner.db.begin_write().await?;
        let slot = get_slot(&mut tx, name, Some(self.inner.db.backend()))
            .await?
            .filter(|s| authz::sees_site(p, &s.owner_org))
            .ok_or_else(|| not_found("pickup slot", name))?;
        authz::manage(p, &slot.owner_org)?;
        if slot.booked > 0 {
            return Err(InventoryError::precondition(
                "SLOT_BOOKED",
                format!(
                    "{name} holds {} bookings: it cannot be deleted",
                    slot.booked
                ),
            ));
        }
        // Only the bookings of claims that ended are left: they go with it.
        for table in ["pickup_bookings WHERE slot_id", "pickup_slots WHERE id"] {
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} = $1")))
                .bind(name.slot.to_string())
                .execute(&mut *tx)
                .await?;
        }
        self.commit(tx, &[]).await?;
        Ok(())
    }

    /// BookPickupSlot: the claim's partner books a truck on the slot.
    pub(super) async fn slot_book(
        &self,
        p: &Principal,
        req: pb::BookPickupSlotRequest,
    ) -> Result<pb::PickupBooking> {
        let mut c = Check::new("");
        let name = c.take(SlotName::parse("name", &req.name));
        let claim_name = c.take(ClaimName::parse("claim", &req.claim));
        c.finish()?;
        let (Some(name), Some(claim_name)) = (name, claim_name) else {
            return Err(InventoryError::Internal("validated names lost".into()));
        };
        let mut tx = self.inner.db.begin_write().await?;
        // Locked, as every change of a claim does, so that it cannot be
        // cancelled between the check of its status and the booking.
        let claim = repo::get_claim(&mut tx, claim_name.claim, Some(self.inner.db.backend()))
            .await?
            .filter(|c| c.lot == claim_name.lot)
            .filter(|c| authz::sees_claim(p, &c.owner_org, c.partner_id))
            .ok_or_else(|| not_found("claim", claim_name))?;
        authz::book_pickup(p, claim.partner_id)?;
        let slot = get_slot(&mut tx, name, Some(self.inner.db.backend()))
            .await?
            .ok_or_else(|| not_found("pickup slot", name))?;
        if booked_already(&mut tx, name.slot, claim.id).await? {
            return Err(InventoryError::AlreadyExists {
                kind: "pickup booking",
                name: format!("{claim_name} on {name}"),
            });
        }
        let now = now_millis();
        if let Some((reason, why)) = bookable(&slot, claim_name, claim.status, now) {
            return Err(InventoryError::precondition(reason, why));
        }
        let booking = BookingRow {
            id: new_id(),
            slot: name,
            claim: claim_name,
            partner_id: claim.partner_id,
            start_at: slot.start_at,
            end_at: slot.end_at,
            created_at: now,
        };
        insert_booking(&mut tx, &booking).await?;
        let booked = booking.to_proto();
        self.commit(tx, &[pickup_booked_event(&booked, now)])
            .await?;
        Ok(booked)
    }

    /// ListPickups: the site's bookings of the slots starting in a range.
    pub(super) async fn pickups_list(
        &self,
        p: &Principal,
        req: pb::ListPickupsRequest,
    ) -> Result<pb::ListPickupsResponse> {
        let site = SiteName::parse("parent", &req.parent)?;
        let (from, until) = range(req.start_time.as_ref(), req.end_time.as_ref(), true)?;
        let page = self.inner.pager.page(
            req.page_size,
            &req.page_token,
            &format!("pickups|site={site}|{from:?}|{until:?}"),
        )?;
        self.site_for_lots(p, &req.parent).await?;
        let mut f = Filter::default();
        f.add("site_id = ?", site.0.to_string())?;
        f.add("start_at >= ?", from.unwrap_or(i64::MIN))?;
        f.add("start_at < ?", until.unwrap_or(i64::MAX))?;
        f.raw(&format!("claim_id IN ({LIVE_CLAIMS})"));
        if let Some(after) = &page.after {
            f.after_key(&["start_at", "id"], &page_key(after)?)?;
        }
        let mut conn = self.conn().await?;
        let head = format!("SELECT {BOOKING_COLUMNS} FROM pickup_bookings");
        let tail = format!(" ORDER BY start_at, id LIMIT {}", page.size + 1);
        let rows = select_filtered(&mut conn, &head, f, &tail).await?;
        let mut bookings = rows
            .iter()
            .map(BookingRow::from_row)
            .collect::<Result<Vec<_>>>()?;
        let next_page_token = page.finish(&mut bookings, |b| format!("{}|{}", b.start_at, b.id));
        Ok(pb::ListPickupsResponse {
            pickups: bookings.iter().map(BookingRow::to_proto).collect(),
            next_page_token,
        })
    }
}
