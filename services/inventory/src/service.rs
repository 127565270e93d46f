//! The inventory's operations, one gRPC method each, where they live: each
//! one transaction that validates, authorizes, applies the domain rules,
//! writes, and records the events in the outbox.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message as _;
use reemploi_proto::events::{Envelope, envelope::Payload};
use reemploi_proto::inventory::inventory_service_server::InventoryService;
use reemploi_runtime::auth::{caller, principal};
use reemploi_runtime::lapse::{Answers, Credential};
use reemploi_runtime::mask::{self, Updatable};
use reemploi_runtime::service::answer;
use reemploi_store::cursor::ChangeCursor;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use reemploi_domain::category::{self, Category};
use reemploi_domain::claim::{self, ClaimAction, ClaimStatus};
use reemploi_domain::geo::GeoPoint;
use reemploi_domain::ledger::Ledger;
use reemploi_domain::lot::{self, LotAction, LotStatus};
use reemploi_domain::quantity::Quantity;
use reemploi_domain::{mass, text};
use reemploi_events::Message;
use reemploi_events::outbox::Relay;
use reemploi_proto::inventory as pb;
use reemploi_runtime::auth::{Principal, Role};
use reemploi_runtime::idempotent;
use reemploi_runtime::paging::{Page, Pager};
use reemploi_runtime::partners;
use reemploi_runtime::validation::{self, Check, request_id};
use reemploi_store::{Db, now_millis};
use sqlx::AnyConnection;
use tokio::sync::Notify;
use uuid::Uuid;

mod slots;

use crate::authz;
use crate::cache::{self, CachedLot, LotCache};
use crate::error::{InventoryError, Result};
use crate::events::{claim_event, deleted_lot_event, lot_event, site_event};
use crate::ids;
use crate::model::{
    ClaimInput, ClaimRow, LotCheck, LotFields, LotKey, LotRow, MAX_LINE, MAX_NOTE, ReceiptRow,
    SiteRow, check_etag, claim_status_filter, lot_status_filter, lot_status_proto,
    quantity_from_proto, receipt_name, time,
};
use crate::repo::{
    self, CLAIM_COLUMNS, LOT_COLUMNS, LOT_KEY_COLUMNS, RECEIPT_COLUMNS, SITE_COLUMNS, select_page,
};
use reemploi_runtime::names::{self, ClaimName, Id, LotName, PartnerName, SiteName, new_id};
use reemploi_store::query::{Filter, select_filtered};
use reemploi_store::query::{KeyValue, Keyed, select_kept_keyed};

/// How far in the future a hand-over time may lie: the clocks of a phone on
/// site and of the server differ a little.
const HANDOVER_CLOCK_SKEW_MS: i64 = 5 * 60 * 1000;

/// How long before its claim was entered a territory admin may record a
/// pick-up: the authority brings in the hand-overs of a site that started
/// before the site was on reemploi (and the demo, a few past months).
pub const REGULARISATION_MS: i64 = 366 * 24 * 3600 * 1000;

/// Most lots in one BatchCreateLots.
pub const MAX_BATCH: usize = 1000;

/// Tunables of the inventory.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a reservation holds before it expires unless confirmed.
    pub reservation_ttl: Duration,
    /// How often expired reservations and lots are swept.
    pub sweep_interval: Duration,
    /// How many lots ListLots keeps as read (0: every page is read whole).
    pub lot_cache_size: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            reservation_ttl: Duration::from_secs(72 * 3600),
            sweep_interval: Duration::from_secs(30),
            lot_cache_size: cache::DEFAULT_CAPACITY,
        }
    }
}

/// The inventory: its database, its outbox relay and its settings.
#[derive(Clone)]
pub struct Inventory {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    relay: Relay,
    settings: Settings,
    pager: Pager,
    /// Lots already read for ListLots, by version.
    lots: LotCache,
    /// Woken after every commit that recorded events, for WatchLots.
    changes: Notify,
    /// Cancelled at shutdown: WatchLots streams end.
    shutdown: CancellationToken,
}

/// The system acting on its own behalf (the sweeper).
fn system() -> Principal {
    Principal {
        subject: "system:inventory".to_string(),
        role: Role::Admin,
        org: None,
        partner: None,
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn not_found(kind: &'static str, name: impl ToString) -> InventoryError {
    InventoryError::NotFound {
        kind,
        name: name.to_string(),
    }
}

/// What UpdateSite may change, and how.
const SITE_UPDATABLE: Updatable<pb::Site> = Updatable(&[
    ("display_name", |c, p| {
        c.display_name = p.display_name.clone()
    }),
    ("operation", |c, p| c.operation = p.operation.clone()),
    ("location", |c, p| c.location = p.location),
    ("address", |c, p| c.address = p.address.clone()),
    ("works_start_time", |c, p| {
        c.works_start_time = p.works_start_time
    }),
    ("works_end_time", |c, p| c.works_end_time = p.works_end_time),
]);

/// What UpdateLot may change, and how.
const LOT_UPDATABLE: Updatable<pb::Lot> = Updatable(&[
    ("designation", |c, p| c.designation = p.designation.clone()),
    ("description", |c, p| c.description = p.description.clone()),
    ("category", |c, p| c.category = p.category.clone()),
    ("quantity", |c, p| c.quantity = p.quantity),
    ("estimated_mass_g", |c, p| {
        c.estimated_mass_g = p.estimated_mass_g
    }),
    ("dimensions", |c, p| c.dimensions = p.dimensions),
    ("condition", |c, p| c.condition = p.condition.clone()),
    ("building_location", |c, p| {
        c.building_location = p.building_location.clone()
    }),
    ("photo_uris", |c, p| c.photo_uris = p.photo_uris.clone()),
    ("availability", |c, p| c.availability = p.availability),
    ("waste_code", |c, p| c.waste_code = p.waste_code.clone()),
    ("hazards", |c, p| c.hazards = p.hazards.clone()),
    ("reuse_potential", |c, p| {
        c.reuse_potential = p.reuse_potential
    }),
    ("reference", |c, p| c.reference = p.reference.clone()),
    ("location", |c, p| c.location = p.location),
]);

impl Inventory {
    /// An inventory over a migrated database, publishing through `relay`.
    pub fn new(
        db: Db,
        relay: Relay,
        settings: Settings,
        pager: Pager,
        shutdown: CancellationToken,
    ) -> Inventory {
        Inventory {
            inner: Arc::new(Inner {
                lots: LotCache::new(settings.lot_cache_size),
                db,
                relay,
                settings,
                pager,
                shutdown,
                changes: Notify::new(),
            }),
        }
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// The lots of a page of ListLots (one more than the page when there
    /// is a next one): their keys first, then the lots from the cache if
    /// it holds every one at the version read, else the rows, remembered.
    async fn lot_page(
        &self,
        conn: &mut AnyConnection,
        p: &Principal,
        query: &LotQuery,
        page: &Page,
    ) -> Result<Vec<Arc<CachedLot>>> {
        if self.inner.lots.capacity() == 0 {
            return self.lot_page_read(conn, p, query, page).await;
        }
        let keys = select_kept_keyed(
            conn,
            Keyed {
                table: "lots",
                columns: LOT_KEY_COLUMNS,
                order_by: LOT_ORDER,
            },
            page.size,
            page.after.clone(),
            |after| query.filter(p, after),
            |row| LotKey::from_row(row).map(|k| (k.page_key(), k)),
            |key| query.within(key.location),
        )
        .await?;
        let wanted: Vec<_> = keys.iter().map(|(_, k)| (k.key, k.stamp)).collect();
        if let Some(lots) = self.inner.lots.get_all(&wanted) {
            return Ok(lots);
        }
        let lots = self.lot_page_read(conn, p, query, page).await?;
        self.inner.lots.put_all(lots.iter().cloned());
        Ok(lots)
    }

    /// The lots of a page of ListLots, read whole.
    async fn lot_page_read(
        &self,
        conn: &mut AnyConnection,
        p: &Principal,
        query: &LotQuery,
        page: &Page,
    ) -> Result<Vec<Arc<CachedLot>>> {
        let rows = select_kept_keyed(
            conn,
            Keyed {
                table: "lots",
                columns: LOT_COLUMNS,
                order_by: LOT_ORDER,
            },
            page.size,
            page.after.clone(),
            |after| query.filter(p, after),
            |row| LotRow::from_row(row).map(|l| (lot_page_of(&l), l)),
            |lot| query.within(lot.location),
        )
        .await?;
        Ok(rows
            .into_iter()
            .map(|(_, row)| {
                Arc::new(CachedLot {
                    proto: row.to_proto(),
                    row,
                })
            })
            .collect())
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    async fn conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>> {
        Ok(self.inner.db.pool().acquire().await?)
    }

    /// Commits `tx` after recording `events` in its outbox, then wakes the relay.
    async fn commit(
        &self,
        tx: sqlx::Transaction<'static, sqlx::Any>,
        events: &[Message],
    ) -> Result<()> {
        self.inner.relay.commit(tx, events).await?;
        if !events.is_empty() {
            self.inner.changes.notify_waiters();
        }
        Ok(())
    }

    /// Waits until events are committed (or a poll period passes).
    pub async fn changed(&self, poll: Duration) {
        let _ = tokio::time::timeout(poll, self.inner.changes.notified()).await;
    }

    // ---- sites ----

    async fn get_site_by_id(&self, id: Id) -> Result<SiteRow> {
        let mut conn = self.conn().await?;
        repo::get_site(&mut conn, id, None)
            .await?
            .ok_or_else(|| not_found("site", SiteName(id)))
    }

    // ---- lots ----

    fn new_lot(
        site: &SiteRow,
        (id, version): (Id, i64),
        fields: LotFields,
        now: i64,
    ) -> Result<LotRow> {
        let location = fields.location.unwrap_or(site.location);
        Ok(LotRow {
            id,
            site_id: site.id,
            owner_org: site.owner_org.clone(),
            ledger: Ledger::new(fields.quantity.milli())?,
            fields,
            status: LotStatus::Draft,
            location,
            created_at: now,
            updated_at: now,
            version,
            check: None,
        })
    }

    async fn site_for_lots(&self, p: &Principal, parent: &str) -> Result<SiteRow> {
        let site = SiteName::parse("parent", parent)?;
        let site = self.get_site_by_id(site.0).await?;
        authz::manage(p, &site.owner_org)?;
        Ok(site)
    }

    async fn lot_by_id(&self, name: LotName) -> Result<LotRow> {
        let mut conn = self.conn().await?;
        repo::get_lot(&mut conn, name, None)
            .await?
            .ok_or_else(|| not_found("lot", name))
    }

    /// Loads a lot for a change, checking its name, the caller's right and the etag.
    async fn lot_for_change(
        &self,
        conn: &mut AnyConnection,
        p: &Principal,
        name: LotName,
        etag: &str,
    ) -> Result<LotRow> {
        let lot = repo::get_lot(conn, name, Some(self.inner.db.backend()))
            .await?
            .ok_or_else(|| not_found("lot", name))?;
        if lot.status == LotStatus::Draft && !authz::sees_drafts(p, &lot.owner_org) {
            return Err(not_found("lot", name));
        }
        authz::manage(p, &lot.owner_org)?;
        check_etag(etag, lot.version, &name.to_string())?;
        Ok(lot)
    }

    async fn lot_transition(
        &self,
        p: &Principal,
        name: &str,
        etag: &str,
        action: LotAction,
    ) -> Result<pb::Lot> {
        let name = LotName::parse("name", name)?;
        let mut tx = self.inner.db.begin_write().await?;
        let current = self.lot_for_change(&mut tx, p, name, etag).await?;
        if action == LotAction::Publish {
            not_unchecked(&current)?;
        }
        let mut lot = current.clone();
        lot.status = lot::transition(current.status, action, current.hazardous())?;
        lot.version += 1;
        lot.updated_at = now_millis();
        repo::save_lot(&mut tx, &lot, Some(current.version)).await?;
        let event = match action {
            LotAction::Publish => "published",
            LotAction::Withdraw => "withdrawn",
            LotAction::Exhaust => "exhausted",
            LotAction::Replenish => "updated",
            LotAction::Expire => "expired",
        };
        self.commit(tx, &[lot_event(&lot, event)]).await?;
        Ok(lot.to_proto())
    }

    // ---- claims ----

    /// Moves a claim through its lifecycle, returning what it has not
    /// collected to the lot (reject, cancel, expire, close), in one
    /// transaction. Trips are recorded by [`Inventory::record_trip`].
    async fn claim_transition(
        &self,
        p: &Principal,
        name: ClaimName,
        etag: &str,
        action: ClaimAction,
        finish: impl FnOnce(&mut ClaimRow, &LotRow) -> Result<()>,
    ) -> Result<pb::Claim> {
        let backend = self.inner.db.backend();
        let mut tx = self.inner.db.begin_write().await?;
        let current = self.claim_for_change(&mut tx, p, name, etag).await?;
        match action {
            ClaimAction::Cancel => authz::cancel(p, &current.owner_org, current.partner_id)?,
            ClaimAction::Confirm
            | ClaimAction::Reject
            | ClaimAction::HandOver
            | ClaimAction::Close
            | ClaimAction::Expire => {
                authz::manage(p, &current.owner_org)?;
            }
        }
        partly_collected(&current, action)?;
        if action == ClaimAction::Confirm {
            let status = partners::status(&mut tx, current.partner_id).await?;
            confirmable(current.partner_id, status.as_deref())?;
        }
        let mut claim = current.clone();
        claim.status = claim::transition(current.status, action)?;
        let now = now_millis();
        claim.version += 1;
        claim.updated_at = now;
        let before = repo::get_lot(&mut tx, name.lot, Some(backend))
            .await?
            .ok_or_else(|| InventoryError::Internal(format!("claim {name} has no lot")))?;
        finish(&mut claim, &before)?;
        let mut events = Vec::new();
        // What the claim still holds goes back; what it collected stays handed over.
        let rest = current.remainder();
        if claim::releases(action) && rest > 0 {
            let mut lot = before.clone();
            lot.ledger = before
                .ledger
                .release(rest)
                .map_err(|e| e.in_unit(before.unit()))?;
            if lot.status == LotStatus::Exhausted && lot.ledger.available > 0 {
                lot.status = lot::transition(lot.status, LotAction::Replenish, lot.hazardous())?;
            }
            lot.version += 1;
            lot.updated_at = now;
            repo::update_ledger(&mut tx, &lot, before.version).await?;
            events.push(lot_event(&lot, "updated"));
        }
        repo::update_claim(&mut tx, &claim, current.version).await?;
        let kind = match action {
            ClaimAction::Confirm => "confirmed",
            ClaimAction::Reject => "rejected",
            ClaimAction::Cancel => "cancelled",
            ClaimAction::Expire => "expired",
            ClaimAction::HandOver => "handed_over",
            ClaimAction::Close => "closed",
        };
        events.insert(0, claim_event(&claim, kind));
        self.commit(tx, &events).await?;
        Ok(claim.to_proto())
    }

    /// A claim named for a change, locked: NOT_FOUND to who may not see
    /// it; ABORTED on a stale etag.
    async fn claim_for_change(
        &self,
        conn: &mut AnyConnection,
        p: &Principal,
        name: ClaimName,
        etag: &str,
    ) -> Result<ClaimRow> {
        let current = repo::get_claim(conn, name.claim, Some(self.inner.db.backend()))
            .await?
            .filter(|c| c.lot == name.lot && authz::sees_claim(p, &c.owner_org, c.partner_id))
            .ok_or_else(|| not_found("claim", name))?;
        check_etag(etag, current.version, &name.to_string())?;
        Ok(current)
    }

    /// Records one trip of a confirmed claim: the ledger moves the trip's
    /// quantity from reserved to handed over, the claim adds it to what it
    /// collected (HANDED_OVER once all is), the trip gets its receipt; one
    /// transaction, its events in the outbox.
    async fn record_trip(&self, p: &Principal, trip: Trip) -> Result<pb::Claim> {
        let name = trip.name;
        let mut tx = self.inner.db.begin_write().await?;
        let receipt_id = new_id();
        if let Some(_first) = idempotent::begin(
            &mut tx,
            trip.key.as_ref(),
            &receipt_id.to_string(),
            trip.now,
        )
        .await?
        {
            drop(tx);
            let mut conn = self.conn().await?;
            let claim = repo::get_claim(&mut conn, name.claim, None)
                .await?
                .filter(|c| authz::sees_claim(p, &c.owner_org, c.partner_id))
                .ok_or_else(|| not_found("claim", name))?;
            return Ok(claim.to_proto());
        }
        let current = self.claim_for_change(&mut tx, p, name, &trip.etag).await?;
        authz::manage(p, &current.owner_org)?;
        if current.status == ClaimStatus::Reserved {
            return Err(InventoryError::precondition(
                "CLAIM_NOT_CONFIRMED",
                format!("{name} is reserved: confirm it before recording its hand-over"),
            ));
        }
        // Only a confirmed claim has something left to collect.
        claim::transition(current.status, ClaimAction::HandOver)?;
        let before = repo::get_lot(&mut tx, name.lot, Some(self.inner.db.backend()))
            .await?
            .ok_or_else(|| InventoryError::Internal(format!("claim {name} has no lot")))?;
        let quantity = trip.quantity_of(&current)?;
        trip.check(p, &current, &before, quantity)?;
        let mut claim = current.clone();
        claim.collected += quantity;
        claim.trip_count += 1;
        claim.weighed_mass_g = claim.weighed_mass_g.saturating_add(trip.mass_g);
        claim.handed_over_at = Some(current.handed_over_at.map_or(trip.at, |t| t.max(trip.at)));
        let complete = claim.remainder() == 0;
        if complete {
            claim.status = ClaimStatus::HandedOver;
        }
        claim.version += 1;
        claim.updated_at = trip.now;
        let mut lot = before.clone();
        lot.ledger = before
            .ledger
            .hand_over(quantity)
            .map_err(|e| e.in_unit(before.unit()))?;
        lot.version += 1;
        lot.updated_at = trip.now;
        let site = repo::get_site(&mut tx, name.lot.site, None)
            .await?
            .ok_or_else(|| InventoryError::Internal(format!("claim {name} has no site")))?;
        let seq = repo::next_receipt_seq(&mut tx, name.lot.site).await?;
        let receipt = trip.receipt(receipt_id, seq, p, (&site, &before, &claim), quantity)?;
        repo::update_ledger(&mut tx, &lot, before.version).await?;
        repo::update_claim(&mut tx, &claim, current.version).await?;
        repo::insert_receipt(&mut tx, &receipt).await?;
        let kind = if complete { "handed_over" } else { "picked_up" };
        let events = [claim_event(&claim, kind), lot_event(&lot, "updated")];
        self.commit(tx, &events).await?;
        Ok(claim.to_proto())
    }

    /// The fields and chosen ids of a BatchCreateLots' lots, every bad one
    /// reported; an id chosen twice in the batch is refused on its second use.
    fn batch_fields(req: &pb::BatchCreateLotsRequest) -> Result<(Vec<Option<Id>>, Vec<LotFields>)> {
        let mut violations = Vec::new();
        let mut wanted = Vec::with_capacity(req.requests.len());
        let mut fields = Vec::with_capacity(req.requests.len());
        let mut seen = std::collections::HashMap::new();
        for (i, r) in req.requests.iter().enumerate() {
            if !r.parent.is_empty() && r.parent != req.parent {
                violations.push(validation::Violation::new(
                    format!("requests[{i}].parent"),
                    "must be empty or equal to the batch's parent",
                ));
            }
            let mut c = Check::new("");
            let field = format!("requests[{i}].lot_id");
            let chosen = ids::chosen(&mut c, &field, &r.lot_id);
            if let Err(mut v) = c.finish() {
                violations.append(&mut v);
            }
            if let Some(id) = chosen
                && let Some(first) = seen.insert(id, i)
            {
                seen.insert(id, first);
                violations.push(validation::Violation::new(
                    field,
                    format!("`{id}` is also requests[{first}].lot_id"),
                ));
            }
            wanted.push(chosen);
            let lot = r.lot.clone().unwrap_or_default();
            match LotFields::validate(&lot, &format!("requests[{i}].lot")) {
                Ok(f) => fields.push(f),
                Err(InventoryError::Invalid(mut v)) => violations.append(&mut v),
                Err(other) => return Err(other),
            }
        }
        if violations.is_empty() {
            Ok((wanted, fields))
        } else {
            Err(InventoryError::Invalid(violations))
        }
    }

    fn reason(reason: &str) -> Result<String> {
        let mut c = Check::new("");
        let r = c.ok(text::optional("reason", reason, MAX_NOTE));
        c.finish()?;
        Ok(r.flatten().unwrap_or_default())
    }

    // ---- background ----

    /// Expires the reservations and lots whose time has come; returns how many changed.
    pub async fn sweep(&self, now: i64) -> Result<usize> {
        let (claims, lots) = {
            let mut conn = self.conn().await?;
            (
                repo::expired_claim_ids(&mut conn, now, 500).await?,
                repo::expired_lot_ids(&mut conn, now, 500).await?,
            )
        };
        let admin = system();
        let mut changed = 0;
        for id in claims {
            let Some(claim) = ({
                let mut conn = self.conn().await?;
                repo::get_claim(&mut conn, id, None).await?
            }) else {
                continue;
            };
            match self
                .claim_transition(&admin, claim.name(), "", ClaimAction::Expire, |_, _| Ok(()))
                .await
            {
                Ok(_) => changed += 1,
                // Confirmed or cancelled meanwhile: nothing to expire.
                Err(InventoryError::FailedPrecondition { .. } | InventoryError::Conflict) => {}
                Err(e) => return Err(e),
            }
        }
        for name in lots {
            let lot = self.lot_by_id(name).await?;
            match self
                .lot_transition(&admin, &lot.name().to_string(), "", LotAction::Expire)
                .await
            {
                Ok(_) => changed += 1,
                Err(InventoryError::FailedPrecondition { .. } | InventoryError::Conflict) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(changed)
    }

    /// Lot changes recorded after `after`: (position, envelope bytes).
    pub async fn lot_changes(&self, after: i64, limit: i64) -> Result<Vec<repo::LotChange>> {
        let mut conn = self.conn().await?;
        repo::lot_changes_after(&mut conn, after, limit).await
    }

    /// The current end of the change log.
    pub async fn last_change(&self) -> Result<i64> {
        let mut conn = self.conn().await?;
        repo::last_seq(&mut conn).await
    }
}

/// The reply of a gRPC method.
type Reply<T> = std::result::Result<Response<T>, Status>;

/// How often a WatchLots stream looks for changes made by other replicas.
const WATCH_POLL: Duration = Duration::from_millis(500);

/// The filters of a ListLots request, validated.
struct LotQuery {
    site: Option<Id>,
    category: Option<&'static Category>,
    status: Option<LotStatus>,
    near: Option<GeoPoint>,
    radius_m: i64,
    text: String,
    available_at: Option<i64>,
}

/// The order of ListLots: by site, then in the order lots were made (ids
/// chosen by clients do not follow it as UUIDv7s do).
const LOT_ORDER: &str = "site_id, created_at, id";

/// Matches a lot's designation, description or reference.
const LOT_TEXT: &str = "(LOWER(designation) LIKE ? ESCAPE '\\' \
    OR LOWER(description) LIKE $N ESCAPE '\\' OR LOWER(reference) LIKE $N ESCAPE '\\')";

impl LotQuery {
    fn parse(req: &pb::ListLotsRequest) -> Result<LotQuery> {
        let site = names::site_or_all("parent", &req.parent)?;
        let mut c = Check::new("");
        let category = if req.category.is_empty() {
            None
        } else {
            c.ok(category::parse(&req.category))
        };
        let status = lot_status_filter(req.status)?;
        let near = validation::near_filter(&mut c, req.near.as_ref(), req.radius_m);
        let text = validation::search_text(&mut c, &req.text);
        let available_at = time(&mut c, "available_at", req.available_at.as_ref());
        c.finish()?;
        Ok(LotQuery {
            site,
            category,
            status,
            near,
            radius_m: req.radius_m,
            text,
            available_at,
        })
    }

    /// What a page token is bound to.
    fn fingerprint(&self) -> String {
        format!(
            "site={:?}|cat={:?}|status={:?}|near={:?}|r={}|at={:?}|text={}",
            self.site,
            self.category.map(|c| c.code),
            self.status,
            self.near.map(|g| (g.latitude(), g.longitude())),
            self.radius_m,
            self.available_at,
            self.text,
        )
    }

    /// The SQL filter for `p`, after the lot `after` (a [`LotName::key`]):
    /// drafts are for their site's managers, admins and integrators only.
    fn filter(&self, p: &Principal, after: Option<&str>) -> Result<Filter> {
        let mut f = Filter::default();
        if let Some(site) = self.site {
            f.add("site_id = ?", site.to_string())?;
        }
        if let Some(cat) = self.category {
            f.add("category = ?", cat.code.to_string())?;
        }
        if let Some(s) = self.status {
            f.add("status = ?", s.as_str().to_string())?;
        }
        if let Some(at) = self.available_at {
            f.add("(available_from IS NULL OR available_from <= ?)", at)?;
            f.add("(available_until IS NULL OR available_until > ?)", at)?;
        }
        if !self.text.is_empty() {
            f.add(LOT_TEXT, validation::like_contains(&self.text))?;
        }
        if let Some(center) = self.near {
            f.near(center.latitude(), center.longitude(), self.radius_m as f64)?;
        }
        match (p.role, p.org.as_deref()) {
            (Role::Admin | Role::Integrator, _) => {}
            (Role::SiteManager, Some(org)) => {
                f.add("(status <> 'draft' OR owner_org = ?)", org.to_string())?;
            }
            (Role::SiteManager | Role::Partner, _) => f.raw("status <> 'draft'"),
        }
        if let Some(after) = after {
            // Lots are read by site, then in the order they were made (ids
            // chosen by clients do not follow it as UUIDv7s do).
            let (site, time, lot) = lot_page_key(after)?;
            f.after_key(
                &["site_id", "created_at", "id"],
                &[
                    KeyValue::Text(site.to_string()),
                    KeyValue::Int(time),
                    KeyValue::Text(lot.to_string()),
                ],
            )?;
        }
        Ok(f)
    }

    /// Whether a lot the box of `near` let through lies within the radius.
    fn within(&self, at: GeoPoint) -> bool {
        match self.near {
            Some(center) => at.distance_m(center) <= self.radius_m as f64,
            None => true,
        }
    }
}

/// Only verified partners, as the inventory's projection knows them, claim.
fn eligible(input: &ClaimInput, status: Option<&str>) -> Result<()> {
    let why = match status {
        Some("verified") => return Ok(()),
        Some(status) => format!(
            "{} is {status}: only verified, active partners may claim",
            input.partner
        ),
        None => format!(
            "{} is not a verified partner (unknown to the inventory)",
            input.partner
        ),
    };
    Err(InventoryError::precondition("PARTNER_NOT_ELIGIBLE", why))
}

/// A validated BatchPublishLots: the site, and the lots named (None: every
/// draft that can be published).
struct PublishBatch {
    site: SiteName,
    names: Option<Vec<LotName>>,
}

impl TryFrom<&pb::BatchPublishLotsRequest> for PublishBatch {
    type Error = InventoryError;

    fn try_from(req: &pb::BatchPublishLotsRequest) -> Result<PublishBatch> {
        let mut c = Check::new("");
        let site = c.take(SiteName::parse("parent", &req.parent));
        if req.all_drafts != req.names.is_empty() {
            c.fail(
                "names",
                "name the lots to publish, or set all_drafts: one of the two",
            );
        }
        if req.include_after_check && !req.all_drafts {
            c.fail(
                "include_after_check",
                "only with all_drafts: lots named are published as named",
            );
        }
        if req.names.len() > MAX_BATCH {
            c.fail("names", format!("at most {MAX_BATCH} lots in one call"));
        }
        let mut names = Vec::new();
        for (i, name) in req.names.iter().enumerate() {
            let field = format!("names[{i}]");
            if let Some(lot) = c.take(LotName::parse(&field, name)) {
                if site.is_some_and(|s| s.0 != lot.site) {
                    c.fail(&field, format!("not a lot of {}", req.parent));
                } else if names.contains(&lot) {
                    c.fail(&field, "named twice");
                }
                names.push(lot);
            }
        }
        c.finish()?;
        let site = site.ok_or_else(|| InventoryError::Internal("validated parent lost".into()))?;
        Ok(PublishBatch {
            site,
            names: (!req.all_drafts).then_some(names),
        })
    }
}

impl PublishBatch {
    /// Why a draft is left as it is when every draft is published.
    fn held(&self, lot: &LotRow) -> Option<&'static str> {
        if self.names.is_some() {
            return None;
        }
        if lot.hazardous() {
            return Some("hazardous: it can never be published for reuse");
        }
        match &lot.check {
            _ if !lot.awaits_check() => None,
            Some(check) if check.passed => None,
            Some(_) => Some("its check (lead, structure) failed: it cannot be published"),
            None => Some(
                "awaiting a check (lead, structure): record the check, and it is published \
                 once passed",
            ),
        }
    }
}

/// A lot "after check" is published only once a passed check is recorded.
fn not_unchecked(lot: &LotRow) -> Result<()> {
    match lot.unchecked() {
        Some(why) => Err(InventoryError::precondition("CHECK_NOT_PASSED", why)),
        None => Ok(()),
    }
}

/// Only a claim of a partner still verified and active is confirmed: one
/// suspended or archived since it claimed is rejected or waits.
fn confirmable(partner: Uuid, status: Option<&str>) -> Result<()> {
    match status {
        Some("verified") => Ok(()),
        status => Err(InventoryError::precondition(
            "PARTNER_NOT_ELIGIBLE",
            format!(
                "partners/{partner} is {}: a claim is confirmed only for a verified, active \
                 partner; reject it, or wait until the partner is reinstated",
                status.unwrap_or("unknown to the inventory")
            ),
        )),
    }
}

/// The lot a claim names, if it can take it: under the named site,
/// published, counted in the claim's unit.
fn claimable(input: &ClaimInput, lot: LotRow) -> Result<LotRow> {
    let lot = Some(lot)
        .filter(|l| l.site_id == input.lot.site && l.status != LotStatus::Draft)
        .ok_or_else(|| not_found("lot", input.lot))?;
    if !lot.status.is_claimable() {
        return Err(InventoryError::precondition(
            "LOT_NOT_CLAIMABLE",
            format!(
                "{} is {}: only published lots can be claimed",
                input.lot, lot.status
            ),
        ));
    }
    if input.quantity.unit() != lot.unit() {
        return Err(InventoryError::invalid(
            "quantity.unit",
            format!("the lot is counted in {}", lot.unit()),
        ));
    }
    Ok(lot)
}

/// The position of a lot in ListLots' order: `{site}/{created_at}/{lot}`.
fn lot_page_key(key: &str) -> Result<(Id, i64, Id)> {
    let mut parts = key.splitn(3, '/');
    let parsed = match (parts.next(), parts.next(), parts.next()) {
        (Some(site), Some(time), Some(lot)) => Id::parse(site)
            .zip(time.parse::<i64>().ok())
            .zip(Id::parse(lot))
            .map(|((site, time), lot)| (site, time, lot)),
        _ => None,
    };
    parsed.ok_or_else(|| InventoryError::invalid("page_token", "not a token of this list"))
}

/// The key [`lot_page_key`] reads.
fn lot_page_of(lot: &LotRow) -> String {
    LotKey::of(lot).page_key()
}

/// The parent of ListClaims: `sites/-/lots/-` (or empty) for every claim,
/// `sites/{site}/lots/-` for a site's, `sites/{site}/lots/{lot}` for a lot's.
fn claims_parent(parent: &str) -> Result<(Option<Id>, Option<Id>)> {
    if parent.is_empty() || parent == "sites/-/lots/-" {
        return Ok((None, None));
    }
    if let Some(site) = parent.strip_suffix("/lots/-") {
        let site = SiteName::parse("parent", site)?;
        return Ok((Some(site.0), None));
    }
    let lot = LotName::parse("parent", parent)?;
    Ok((Some(lot.site), Some(lot.lot)))
}

fn parse_stored(id: &str) -> Result<Id> {
    Id::parse(id).ok_or_else(|| InventoryError::Internal(format!("stored id {id:?}")))
}

/// A claim partly collected is closed with what it collected, never
/// rejected or cancelled (the material already left the site); only such
/// a claim is closed (one with nothing collected is cancelled or rejected).
fn partly_collected(claim: &ClaimRow, action: ClaimAction) -> Result<()> {
    let name = claim.name();
    match action {
        ClaimAction::Reject | ClaimAction::Cancel if claim.collected > 0 => {
            Err(InventoryError::precondition(
                "CLAIM_PARTLY_COLLECTED",
                format!(
                    "{name} was partly collected: close it with what was collected \
                     (CloseClaim) instead"
                ),
            ))
        }
        ClaimAction::Close if claim.collected == 0 && claim.status.is_open() => {
            Err(InventoryError::precondition(
                "NOTHING_COLLECTED",
                format!("{name} has collected nothing: cancel or reject it instead"),
            ))
        }
        ClaimAction::Confirm
        | ClaimAction::Reject
        | ClaimAction::Cancel
        | ClaimAction::Expire
        | ClaimAction::HandOver
        | ClaimAction::Close => Ok(()),
    }
}

/// A validated RecordHandover: one trip.
struct Trip {
    name: ClaimName,
    /// The quantity asked for; None: all that is left.
    quantity: Option<Quantity>,
    mass_g: i64,
    at: i64,
    now: i64,
    etag: String,
    accept_unexpected_mass: bool,
    key: Option<reemploi_store::idempotency::Key>,
}

impl Trip {
    fn validate(p: &Principal, req: &pb::RecordHandoverRequest, now: i64) -> Result<Trip> {
        let mut c = Check::new("");
        let name = c.take(ClaimName::parse("name", &req.name));
        let at = time(&mut c, "handover_time", req.handover_time.as_ref());
        c.ok(mass::weighed("weighed_mass_g", req.weighed_mass_g, 0, true));
        let quantity = req
            .quantity
            .as_ref()
            .and_then(|q| c.ok(quantity_from_proto(Some(q))));
        let key = request_id(&mut c, &req.request_id, false)
            .map(|rid| idempotent::key(p, "record_handover", &rid, req));
        c.finish()?;
        let name = name.ok_or_else(|| InventoryError::Internal("validated name lost".into()))?;
        Ok(Trip {
            name,
            quantity,
            mass_g: req.weighed_mass_g,
            at: at.unwrap_or(now),
            now,
            etag: req.etag.clone(),
            accept_unexpected_mass: req.accept_unexpected_mass,
            key,
        })
    }

    /// The trip's quantity in thousandths: as asked, in the lot's unit and
    /// at most what is left; or all that is left.
    fn quantity_of(&self, claim: &ClaimRow) -> Result<i64> {
        let left = claim.remainder();
        let Some(q) = self.quantity else {
            return Ok(left);
        };
        if q.unit() != claim.quantity.unit() {
            return Err(InventoryError::invalid(
                "quantity.unit",
                format!("the lot is counted in {}", claim.quantity.unit()),
            ));
        }
        if q.milli() > left {
            let short = reemploi_domain::DomainError::InsufficientQuantity {
                requested: q.milli(),
                available: left,
                unit: Some(q.unit()),
            };
            return Err(short.into());
        }
        Ok(q.milli())
    }

    /// The weighed mass is plausible for the trip's share of the lot (or
    /// confirmed); the time neither in the future nor before the claim,
    /// except for a territory admin regularising a pick-up made before its
    /// claim was entered (up to [`REGULARISATION_MS`] before it).
    fn check(&self, p: &Principal, claim: &ClaimRow, lot: &LotRow, quantity: i64) -> Result<()> {
        let mut c = Check::new("");
        let expected = mass::share(
            lot.fields.estimated_mass_g,
            quantity,
            lot.fields.quantity.milli(),
        );
        let mass = self.mass_g;
        c.ok(mass::weighed(
            "weighed_mass_g",
            mass,
            expected,
            self.accept_unexpected_mass,
        ));
        if self.at > self.now.saturating_add(HANDOVER_CLOCK_SKEW_MS) {
            c.fail("handover_time", "must not be in the future");
        }
        match p.role {
            Role::Admin if self.at < claim.created_at.saturating_sub(REGULARISATION_MS) => {
                c.fail(
                    "handover_time",
                    "must not be more than 366 days before the claim was made",
                );
            }
            Role::Admin => {}
            Role::SiteManager | Role::Partner | Role::Integrator if self.at < claim.created_at => {
                c.fail("handover_time", "must not be before the claim was made");
            }
            Role::SiteManager | Role::Partner | Role::Integrator => {}
        }
        Ok(c.finish()?)
    }

    /// The trip's receipt, once `claim` holds it.
    fn receipt(
        &self,
        id: Uuid,
        seq: i64,
        p: &Principal,
        (site, lot, claim): (&SiteRow, &LotRow, &ClaimRow),
        quantity: i64,
    ) -> Result<ReceiptRow> {
        Ok(ReceiptRow {
            id,
            claim: self.name,
            seq,
            owner_org: claim.owner_org.clone(),
            partner_id: claim.partner_id,
            site_display_name: site.display_name.clone(),
            site_address: site.address.clone(),
            lot_designation: lot.fields.designation.clone(),
            lot_reference: lot.fields.reference.clone(),
            category: lot.fields.category.code.to_string(),
            quantity: Quantity::positive(quantity, claim.quantity.unit())?,
            weighed_mass_g: self.mass_g,
            handed_over_at: self.at,
            claim_quantity: claim.quantity.milli(),
            collected: claim.collected,
            collected_mass_g: claim.weighed_mass_g,
            completes_claim: claim.status == ClaimStatus::HandedOver,
            recorded_by: p.subject.clone(),
            created_at: self.now,
        })
    }
}

/// The parent of ListReceipts: a claim, or `sites/{site}/lots/-/claims/-`.
fn receipts_parent(parent: &str) -> Result<(Id, Option<ClaimName>)> {
    if let Some(site) = parent.strip_suffix("/lots/-/claims/-") {
        let site = SiteName::parse("parent", site)?;
        return Ok((site.0, None));
    }
    let claim = ClaimName::parse("parent", parent)?;
    Ok((claim.lot.site, Some(claim)))
}

#[tonic::async_trait]
impl InventoryService for Inventory {
    /// CreateSite.
    async fn create_site(&self, request: Request<pb::CreateSiteRequest>) -> Reply<pb::Site> {
        let (p, req) = caller(request)?;
        let p = &p;
        answer::<_, InventoryError>(async move {
            let mut c = Check::new("");
            let key = request_id(&mut c, &req.request_id, false)
                .map(|rid| idempotent::key(p, "create_site", &rid, &req));
            let chosen = ids::chosen(&mut c, "site_id", &req.site_id);
            c.finish()?;
            let mut site = req.site.unwrap_or_default();
            site.owner_org = authz::create_site(p, site.owner_org.trim())?;
            let now = now_millis();
            let id = chosen.unwrap_or_else(Id::generate);
            let row = SiteRow::validate(&site, id, now, 1)?;
            let mut tx = self.inner.db.begin_write().await?;
            if let Some(id) =
                idempotent::begin(&mut tx, key.as_ref(), &row.id.to_string(), now).await?
            {
                drop(tx);
                return self
                    .get_site_by_id(parse_stored(&id)?)
                    .await
                    .map(|s| s.to_proto());
            }
            // After the key: a retry of the call that took the id is answered above.
            ids::refuse_taken_site(&mut tx, chosen).await?;
            repo::save_site(&mut tx, &row, None).await?;
            self.commit(tx, &[site_event(&row, "created")]).await?;
            Ok(row.to_proto())
        })
        .await
    }

    /// GetSite.
    async fn get_site(&self, request: Request<pb::GetSiteRequest>) -> Reply<pb::Site> {
        let (p, req) = caller(request)?;
        let p = &p;
        answer::<_, InventoryError>(async move {
            let name = SiteName::parse("name", &req.name)?;
            let site = self.get_site_by_id(name.0).await?;
            if !authz::sees_site(p, &site.owner_org) {
                return Err(not_found("site", name));
            }
            let drafts = authz::sees_drafts(p, &site.owner_org);
            let mut conn = self.conn().await?;
            let mut proto = site.to_proto();
            for (status, count) in repo::lot_counts(&mut conn, site.id).await? {
                let status = LotStatus::parse(&status)?;
                if status != LotStatus::Draft || drafts {
                    proto.lot_counts.push(pb::LotCount {
                        status: lot_status_proto(status) as i32,
                        count,
                    });
                }
            }
            Ok(proto)
        })
        .await
    }

    /// ListSites.
    async fn list_sites(
        &self,
        request: Request<pb::ListSitesRequest>,
    ) -> Reply<pb::ListSitesResponse> {
        let (p, req) = caller(request)?;
        let p = &p;
        answer::<_, InventoryError>(async move {
            let text = req.text.trim().to_lowercase();
            let page = self.inner.pager.page(
                req.page_size,
                &req.page_token,
                &format!("org={}|text={text}", req.owner_org),
            )?;
            let mut f = Filter::default();
            if !req.owner_org.is_empty() {
                f.add("owner_org = ?", req.owner_org.clone())?;
            }
            // A site manager lists its own organisation's sites only.
            if p.role == Role::SiteManager {
                f.add("owner_org = ?", p.org.clone().unwrap_or_default())?;
            }
            if !text.is_empty() {
                f.add(
                "(LOWER(display_name) LIKE ? ESCAPE '\\' OR LOWER(quartier) LIKE $N ESCAPE '\\' \
                 OR LOWER(commune) LIKE $N ESCAPE '\\')",
                validation::like_contains(&text),
            )?;
            }
            // Newest first by creation time: ids chosen by clients do not
            // follow it as UUIDv7s do.
            if let Some(after) = &page.after {
                let (time, id) = after
                    .split_once('/')
                    .and_then(|(t, id)| Some((t.parse::<i64>().ok()?, id)))
                    .ok_or_else(|| {
                        InventoryError::invalid("page_token", "not a token of this list")
                    })?;
                f.before_in_time("created_at", time, id)?;
            }
            let mut conn = self.conn().await?;
            let head = format!("SELECT {SITE_COLUMNS} FROM sites");
            let tail = format!(" ORDER BY created_at DESC, id DESC LIMIT {}", page.size + 1);
            let rows = select_filtered(&mut conn, &head, f, &tail).await?;
            let mut sites = rows
                .iter()
                .map(SiteRow::from_row)
                .collect::<Result<Vec<_>>>()?;
            let next_page_token = page.finish(&mut sites, |x| format!("{}/{}", x.created_at, x.id));
            Ok(pb::ListSitesResponse {
                sites: sites.iter().map(SiteRow::to_proto).collect(),
                next_page_token,
            })
        })
        .await
    }

    /// UpdateSite.
    async fn update_site(&self, request: Request<pb::UpdateSiteRequest>) -> Reply<pb::Site> {
        let (p, req) = caller(request)?;
        let p = &p;
        answer::<_, InventoryError>(async move {
            let patch = req.site.unwrap_or_default();
            let name = SiteName::parse("site.name", &patch.name)?;
            let fields = SITE_UPDATABLE.fields(req.update_mask.as_ref())?;
            let mut tx = self.inner.db.begin_write().await?;
            let current = repo::get_site(&mut tx, name.0, Some(self.inner.db.backend()))
                .await?
                .ok_or_else(|| not_found("site", name))?;
            authz::manage(p, &current.owner_org)?;
            check_etag(&patch.etag, current.version, &name.to_string())?;
            let merged = mask::merge(&current.to_proto(), &patch, &fields);
            let now = now_millis();
            let mut row = SiteRow::validate(&merged, current.id, now, current.version + 1)?;
            row.created_at = current.created_at;
            repo::save_site(&mut tx, &row, Some(current.version)).await?;
            self.commit(tx, &[site_event(&row, "updated")]).await?;
            Ok(row.to_proto())
        })
        .await
    }

    /// CreateLot.
    async fn create_lot(&self, request: Request<pb::CreateLotRequest>) -> Reply<pb::Lot> {
        let (p, req) = caller(request)?;
        let p = &p;
        answer::<_, InventoryError>(async move {
            let mut c = Check::new("");
            let rid = request_id(&mut c, &req.request_id, false);
            let chosen = ids::chosen(&mut c, "lot_id", &req.lot_id);
            c.finish()?;
            let site = self.site_for_lots(p, &req.parent).await?;
            let key =
                rid.map(|rid| idempotent::key(p, format!("create_lot:{}", site.id), &rid, &req));
            let fields = LotFields::validate(&req.lot.unwrap_or_default(), "lot")?;
            let now = now_millis();
            let backend = self.inner.db.backend();
            let mut tx = self.inner.db.begin_write().await?;
            let wanted = [(chosen, fields.reference.as_str())];
            let id = ids::lot_ids(&mut tx, backend, site.id, &wanted).await?[0];
            let version = ids::first_versions(&mut tx, site.id, &[id]).await?[0];
            let row = Self::new_lot(&site, (id, version), fields, now)?;
            if let Some(id) =
                idempotent::begin(&mut tx, key.as_ref(), &row.id.to_string(), now).await?
            {
                drop(tx);
                let lot = parse_stored(&id)?;
                return self
                    .lot_by_id(LotName { site: site.id, lot })
                    .await
                    .map(|l| l.to_proto());
            }
            ids::refuse_taken_lots(&mut tx, site.id, chosen.as_slice()).await?;
            repo::save_lot(&mut tx, &row, None).await?;
            self.commit(tx, &[lot_event(&row, "created")]).await?;
            Ok(row.to_proto())
        })
        .await
    }

    /// BatchCreateLots: all or nothing, every bad row reported.
    async fn batch_create_lots(
        &self,
        request: Request<pb::BatchCreateLotsRequest>,
    ) -> Reply<pb::BatchCreateLotsResponse> {
        let (p, req) = caller(request)?;
        let p = &p;
        answer::<_, InventoryError>(async move {
            let mut c = Check::new("");
            let rid = request_id(&mut c, &req.request_id, false);
            if req.requests.is_empty() {
                c.fail("requests", "at least one lot");
            }
            if req.requests.len() > MAX_BATCH {
                c.fail("requests", format!("at most {MAX_BATCH} lots per batch"));
            }
            c.finish()?;
            let site = self.site_for_lots(p, &req.parent).await?;
            let now = now_millis();
            let (wanted, fields) = Self::batch_fields(&req)?;
            let key = rid.map(|rid| {
                idempotent::key(p, format!("batch_create_lots:{}", site.id), &rid, &req)
            });
            let backend = self.inner.db.backend();
            let mut tx = self.inner.db.begin_write().await?;
            let wanted_refs: Vec<(Option<Id>, &str)> = wanted
                .iter()
                .zip(&fields)
                .map(|(chosen, f)| (*chosen, f.reference.as_str()))
                .collect();
            let lot_ids = ids::lot_ids(&mut tx, backend, site.id, &wanted_refs).await?;
            let versions = ids::first_versions(&mut tx, site.id, &lot_ids).await?;
            let mut rows = Vec::with_capacity(fields.len());
            // Made a millisecond apart, in the order of the requests: lists,
            // in the order lots were made, show a diagnostic in its own.
            let lots = lot_ids.into_iter().zip(versions).zip(fields);
            for (made, (key, f)) in (now..).zip(lots) {
                rows.push(Self::new_lot(&site, key, f, made)?);
            }
            let ids: Vec<String> = rows.iter().map(|r| r.id.to_string()).collect();
            if let Some(ids) = idempotent::begin(&mut tx, key.as_ref(), &ids.join(","), now).await?
            {
                drop(tx);
                let mut lots = Vec::new();
                for id in ids.split(',').filter(|s| !s.is_empty()) {
                    let name = LotName {
                        site: site.id,
                        lot: parse_stored(id)?,
                    };
                    lots.push(self.lot_by_id(name).await?.to_proto());
                }
                return Ok(pb::BatchCreateLotsResponse { lots });
            }
            let chosen: Vec<Id> = wanted.iter().flatten().copied().collect();
            ids::refuse_taken_lots(&mut tx, site.id, &chosen).await?;
            let mut events = Vec::with_capacity(rows.len());
            for row in &rows {
                repo::save_lot(&mut tx, row, None).await?;
                events.push(lot_event(row, "created"));
            }
            self.commit(tx, &events).await?;
            Ok(pb::BatchCreateLotsResponse {
                lots: rows.iter().map(LotRow::to_proto).collect(),
            })
        })
        .await
    }

    /// GetLot. Drafts are visible only to their site's managers, admins and integrators.
    async fn get_lot(&self, request: Request<pb::GetLotRequest>) -> Reply<pb::Lot> {
        let (p, req) = caller(request)?;
        let p = &p;
        answer::<_, InventoryError>(async move {
            let name = LotName::parse("name", &req.name)?;
            let mut conn = self.conn().await?;
            match repo::get_lot(&mut conn, name, None).await? {
                Some(lot)
                    if lot.status != LotStatus::Draft || authz::sees_drafts(p, &lot.owner_org) =>
                {
                    Ok(lot.to_proto())
                }
                _ => Err(not_found("lot", name)),
            }
        })
        .await
    }

    /// ListLots.
    async fn list_lots(
        &self,
        request: Request<pb::ListLotsRequest>,
    ) -> Reply<pb::ListLotsResponse> {
        let (p, req) = caller(request)?;
        let p = &p;
        answer::<_, InventoryError>(async move {
            let query = LotQuery::parse(&req)?;
            let page =
                self.inner
                    .pager
                    .page(req.page_size, &req.page_token, &query.fingerprint())?;
            let mut conn = self.conn().await?;
            let mut found = self.lot_page(&mut conn, p, &query, &page).await?;
            let next_page_token = page.finish(&mut found, |lot| lot_page_of(&lot.row));
            Ok(pb::ListLotsResponse {
                lots: found.iter().map(|lot| lot.proto.clone()).collect(),
                next_page_token,
            })
        })
        .await
    }

    /// UpdateLot.
    async fn update_lot(&self, request: Request<pb::UpdateLotRequest>) -> Reply<pb::Lot> {
        let (p, req) = caller(request)?;
        let p = &p;
        answer::<_, InventoryError>(async move {
            let patch = req.lot.unwrap_or_default();
            let name = LotName::parse("lot.name", &patch.name)?;
            let fields = LOT_UPDATABLE.fields(req.update_mask.as_ref())?;
            let mut tx = self.inner.db.begin_write().await?;
            let current = self.lot_for_change(&mut tx, p, name, &patch.etag).await?;
            if !current.status.is_editable() {
                return Err(InventoryError::precondition(
                    "LOT_NOT_EDITABLE",
                    format!("a {} lot cannot be edited", current.status),
                ));
            }
            let merged = mask::merge(&current.to_proto(), &patch, &fields);
            let fields = LotFields::validate(&merged, "lot")?;
            let mut lot = current.clone();
            lot.ledger = if fields.quantity.unit() == current.unit() {
                current
                    .ledger
                    .resize(fields.quantity.milli())
                    .map_err(|e| match e {
                        reemploi_domain::DomainError::Invalid { reason, .. } => {
                            InventoryError::invalid("lot.quantity", reason)
                        }
                        other => other.into(),
                    })?
            } else if current.ledger.reserved == 0 && current.ledger.handed_over == 0 {
                Ledger::new(fields.quantity.milli())?
            } else {
                return Err(InventoryError::precondition(
                    "UNIT_LOCKED",
                    "the unit of a lot cannot change once part of it is claimed",
                ));
            };
            if lot.status == LotStatus::Published && fields.hazardous() {
                return Err(InventoryError::precondition(
                    "HAZARDOUS_LOT",
                    "a published lot cannot become hazardous: withdraw it first",
                ));
            }
            if let Some(location) = fields.location {
                lot.location = location;
            }
            lot.fields = fields;
            if lot.status == LotStatus::Published && lot.ledger.available == 0 {
                lot.status = lot::transition(lot.status, LotAction::Exhaust, lot.hazardous())?;
            }
            lot.version += 1;
            lot.updated_at = now_millis();
            repo::save_lot(&mut tx, &lot, Some(current.version)).await?;
            self.commit(tx, &[lot_event(&lot, "updated")]).await?;
            Ok(lot.to_proto())
        })
        .await
    }

    /// PublishLot.
    async fn publish_lot(&self, request: Request<pb::PublishLotRequest>) -> Reply<pb::Lot> {
        let (p, req) = caller(request)?;
        let p = &p;
        answer::<_, InventoryError>(async move {
            self.lot_transition(p, &req.name, &req.etag, LotAction::Publish)
                .await
        })
        .await
    }

    /// DeleteLot: drafts only.
    async fn delete_lot(&self, request: Request<pb::DeleteLotRequest>) -> Reply<()> {
        let (p, req) = caller(request)?;
        let p = &p;
        answer::<_, InventoryError>(async move {
            let name = LotName::parse("name", &req.name)?;
            let mut tx = self.inner.db.begin_write().await?;
            let current = self.lot_for_change(&mut tx, p, name, &req.etag).await?;
            if current.status != LotStatus::Draft {
                return Err(InventoryError::precondition(
                    "LOT_NOT_DRAFT",
                    format!(
                        "{name} is {}: only a draft is deleted; withdraw a published lot instead",
                        current.status
                    ),
                ));
            }
            repo::delete_draft(&mut tx, name, current.version).await?;
            let mut gone = current;
            gone.version += 1;
            gone.updated_at = now_millis();
            self.commit(tx, &[deleted_lot_event(&gone)]).await?;
            Ok(())
        })
        .await
    }

    /// BatchPublishLots: the lots named, all or none, or every draft that
    /// can be.
    async fn batch_publish_lots(
        &self,
        request: Request<pb::BatchPublishLotsRequest>,
    ) -> Reply<pb::BatchPublishLotsResponse> {
        let (p, req) = caller(request)?;
        let p = &p;
        answer::<_, InventoryError>(async move {
            let batch = PublishBatch::try_from(&req)?;
            if batch.names.is_none() {
                // Read before the write transaction: on SQLite it holds the
                // database's one write lock, which another connection of the
                // pool must not wait on.
                let site = self.get_site_by_id(batch.site.0).await?;
                if !authz::sees_site(p, &site.owner_org) {
                    return Err(not_found("site", batch.site));
                }
                authz::manage(p, &site.owner_org)?;
            }
            let mut tx = self.inner.db.begin_write().await?;
            let targets = match &batch.names {
                Some(names) => names.clone(),
                None => repo::draft_ids(&mut tx, batch.site.0, MAX_BATCH as i64)
                    .await?
                    .into_iter()
                    .map(|lot| LotName {
                        site: batch.site.0,
                        lot,
                    })
                    .collect(),
            };
            let mut answer = pb::BatchPublishLotsResponse::default();
            let mut events = Vec::new();
            for name in targets {
                let current = self.lot_for_change(&mut tx, p, name, "").await?;
                if let Some(reason) = batch.held(&current) {
                    answer.held.push(pb::HeldLot {
                        name: name.to_string(),
                        reason: reason.into(),
                    });
                    continue;
                }
                not_unchecked(&current)?;
                let mut lot = current.clone();
                lot.status =
                    lot::transition(current.status, LotAction::Publish, current.hazardous())
                        .map_err(|e| {
                            InventoryError::precondition(
                                "LOT_NOT_PUBLISHABLE",
                                format!("{name}: {e}"),
                            )
                        })?;
                lot.version += 1;
                lot.updated_at = now_millis();
                repo::save_lot(&mut tx, &lot, Some(current.version)).await?;
                events.push(lot_event(&lot, "published"));
                answer.lots.push(lot.to_proto());
            }
            self.commit(tx, &events).await?;
            Ok(answer)
        })
        .await
    }

    /// RecordLotCheck: the check of a lot "after check", draft or published.
    async fn record_lot_check(
        &self,
        request: Request<pb::RecordLotCheckRequest>,
    ) -> Reply<pb::Lot> {
        let (p, req) = caller(request)?;
        let p = &p;
        answer::<_, InventoryError>(async move {
            let mut c = Check::new("");
            let name = c.take(LotName::parse("name", &req.name));
            c.finish()?;
            let name =
                name.ok_or_else(|| InventoryError::Internal("validated name lost".into()))?;
            let now = now_millis();
            let latest = now.saturating_add(HANDOVER_CLOCK_SKEW_MS);
            let check = LotCheck::validate(req.check.as_ref(), latest, &p.subject)?;
            let mut tx = self.inner.db.begin_write().await?;
            let current = self.lot_for_change(&mut tx, p, name, &req.etag).await?;
            if !current.awaits_check() {
                return Err(InventoryError::precondition(
                    "NO_CHECK_NEEDED",
                    format!("{name}'s reuse potential is not \"after check\": it needs no check"),
                ));
            }
            if !matches!(current.status, LotStatus::Draft | LotStatus::Published) {
                return Err(InventoryError::precondition(
                    "LOT_NOT_EDITABLE",
                    format!(
                        "{name} is {}: its check can no longer change",
                        current.status
                    ),
                ));
            }
            if !check.passed && current.status == LotStatus::Published {
                // A failed check would leave on offer what must not be.
                return Err(InventoryError::precondition(
                    "LOT_PUBLISHED",
                    format!("{name} is published: withdraw it before recording a failed check"),
                ));
            }
            let mut lot = current.clone();
            lot.check = Some(check);
            lot.version += 1;
            lot.updated_at = now;
            repo::save_lot(&mut tx, &lot, Some(current.version)).await?;
            self.commit(tx, &[lot_event(&lot, "updated")]).await?;
            Ok(lot.to_proto())
        })
        .await
    }

    /// WithdrawLot.
    async fn withdraw_lot(&self, request: Request<pb::WithdrawLotRequest>) -> Reply<pb::Lot> {
        let (p, req) = caller(request)?;
        let p = &p;
        answer::<_, InventoryError>(async move {
            let mut c = Check::new("");
            c.ok(text::optional("reason", &req.reason, MAX_LINE));
            c.finish()?;
            self.lot_transition(p, &req.name, &req.etag, LotAction::Withdraw)
                .await
        })
        .await
    }

    /// ClaimLot: reserves atomically; a repeated request_id returns the first claim.
    async fn claim_lot(&self, request: Request<pb::ClaimLotRequest>) -> Reply<pb::Claim> {
        let (p, req) = caller(request)?;
        let p = &p;
        answer::<_, InventoryError>(async move {
            let input = ClaimInput::try_from(&req)?;
            authz::claim_for(p, input.partner.0)?;
            // Whoever claims for the partner is part of the request: a key used
            // by an admin for the partner is not the partner's own.
            let fingerprint = idempotent::fingerprint_by(p, &req);
            let mut tx = self.inner.db.begin_write().await?;
            // One round trip locks the lot and answers the two questions asked
            // before every claim: is this a retry, and may this partner claim?
            let (current, status, existing) = repo::lot_for_claim(
                &mut tx,
                self.inner.db.backend(),
                input.lot,
                input.partner.0,
                &input.request_id,
            )
            .await?
            .ok_or_else(|| not_found("lot", input.lot))?;
            if let Some((existing, recorded)) = existing {
                // Claims recorded before fingerprints were kept match any retry.
                if !recorded.is_empty() && recorded != fingerprint {
                    return Err(InventoryError::Invalid(vec![idempotent::reused()]));
                }
                let claim = repo::get_claim(&mut tx, existing, None)
                    .await?
                    .ok_or_else(|| InventoryError::Internal("claim vanished".into()))?;
                return Ok(claim.to_proto());
            }
            eligible(&input, status.as_deref())?;
            let current = claimable(&input, current)?;
            let now = now_millis();
            let mut lot = current.clone();
            lot.ledger = current
                .ledger
                .reserve(input.quantity.milli())
                .map_err(|e| e.in_unit(current.unit()))?;
            let mut lot_event_kind = "updated";
            if lot.ledger.available == 0 {
                lot.status = lot::transition(lot.status, LotAction::Exhaust, lot.hazardous())?;
                lot_event_kind = "exhausted";
            }
            lot.version += 1;
            lot.updated_at = now;
            let claim = ClaimRow {
                id: new_id(),
                lot: input.lot,
                owner_org: lot.owner_org.clone(),
                partner_id: input.partner.0,
                quantity: input.quantity,
                pickup_from: input.pickup_from,
                pickup_until: input.pickup_until,
                status: ClaimStatus::Reserved,
                expires_at: now.saturating_add(ms(self.inner.settings.reservation_ttl)),
                weighed_mass_g: 0,
                handed_over_at: None,
                collected: 0,
                trip_count: 0,
                note: input.note,
                request_id: input.request_id,
                created_at: now,
                updated_at: now,
                version: 1,
            };
            repo::update_ledger(&mut tx, &lot, current.version).await?;
            repo::insert_claim(&mut tx, &claim, &fingerprint).await?;
            self.commit(
                tx,
                &[
                    claim_event(&claim, "reserved"),
                    lot_event(&lot, lot_event_kind),
                ],
            )
            .await?;
            Ok(claim.to_proto())
        })
        .await
    }

    /// GetClaim.
    async fn get_claim(&self, request: Request<pb::GetClaimRequest>) -> Reply<pb::Claim> {
        let (p, req) = caller(request)?;
        let p = &p;
        answer::<_, InventoryError>(async move {
            let name = ClaimName::parse("name", &req.name)?;
            let mut conn = self.conn().await?;
            match repo::get_claim(&mut conn, name.claim, None).await? {
                Some(c)
                    if c.lot == name.lot && authz::sees_claim(p, &c.owner_org, c.partner_id) =>
                {
                    Ok(c.to_proto())
                }
                _ => Err(not_found("claim", name)),
            }
        })
        .await
    }

    /// ListClaims.
    async fn list_claims(
        &self,
        request: Request<pb::ListClaimsRequest>,
    ) -> Reply<pb::ListClaimsResponse> {
        let (p, req) = caller(request)?;
        let p = &p;
        answer::<_, InventoryError>(async move {
            let (site, lot) = claims_parent(&req.parent)?;
            let partner = if req.partner.is_empty() {
                None
            } else {
                Some(PartnerName::parse("partner", &req.partner)?)
            };
            let status = claim_status_filter(req.status)?;
            let page = self.inner.pager.page(
                req.page_size,
                &req.page_token,
                &format!("site={site:?}|lot={lot:?}|partner={partner:?}|status={status:?}"),
            )?;
            let mut f = Filter::default();
            if let Some(site) = site {
                f.add("site_id = ?", site.to_string())?;
            }
            if let Some(lot) = lot {
                f.add("lot_id = ?", lot.to_string())?;
            }
            if let Some(partner) = partner {
                f.add("partner_id = ?", partner.0.to_string())?;
            }
            if let Some(s) = status {
                f.add("status = ?", s.as_str().to_string())?;
            }
            match p.role {
                Role::Admin | Role::Integrator => {}
                Role::SiteManager => f.add("owner_org = ?", p.org.clone().unwrap_or_default())?,
                Role::Partner => {
                    let own = p.own_partner().map(|id| id.to_string()).unwrap_or_default();
                    f.add("partner_id = ?", own)?;
                }
            }
            if let Some(after) = &page.after {
                f.add("id > ?", after.clone())?;
            }
            let mut conn = self.conn().await?;
            let rows = select_page(&mut conn, "claims", CLAIM_COLUMNS, f, page.size + 1).await?;
            let mut claims = rows
                .iter()
                .map(ClaimRow::from_row)
                .collect::<Result<Vec<_>>>()?;
            let next_page_token = page.finish(&mut claims, |x| x.id.to_string());
            Ok(pb::ListClaimsResponse {
                claims: claims.iter().map(ClaimRow::to_proto).collect(),
                next_page_token,
            })
        })
        .await
    }

    /// ConfirmClaim.
    async fn confirm_claim(&self, request: Request<pb::ConfirmClaimRequest>) -> Reply<pb::Claim> {
        let (p, req) = caller(request)?;
        let p = &p;
        answer::<_, InventoryError>(async move {
            let name = ClaimName::parse("name", &req.name)?;
            self.claim_transition(p, name, &req.etag, ClaimAction::Confirm, |_, _| Ok(()))
                .await
        })
        .await
    }

    /// RejectClaim.
    async fn reject_claim(&self, request: Request<pb::RejectClaimRequest>) -> Reply<pb::Claim> {
        let (p, req) = caller(request)?;
        let p = &p;
        answer::<_, InventoryError>(async move {
            let name = ClaimName::parse("name", &req.name)?;
            let reason = Self::reason(&req.reason)?;
            self.claim_transition(p, name, &req.etag, ClaimAction::Reject, |c, _| {
                c.note = reason;
                Ok(())
            })
            .await
        })
        .await
    }

    /// CancelClaim.
    async fn cancel_claim(&self, request: Request<pb::CancelClaimRequest>) -> Reply<pb::Claim> {
        let (p, req) = caller(request)?;
        let p = &p;
        answer::<_, InventoryError>(async move {
            let name = ClaimName::parse("name", &req.name)?;
            let reason = Self::reason(&req.reason)?;
            self.claim_transition(p, name, &req.etag, ClaimAction::Cancel, |c, _| {
                c.note = reason;
                Ok(())
            })
            .await
        })
        .await
    }

    /// RecordHandover: one trip of a confirmed claim (see [`Trip`]).
    async fn record_handover(
        &self,
        request: Request<pb::RecordHandoverRequest>,
    ) -> Reply<pb::Claim> {
        let (p, req) = caller(request)?;
        let p = &p;
        answer::<_, InventoryError>(async move {
            let trip = Trip::validate(p, &req, now_millis())?;
            self.record_trip(p, trip).await
        })
        .await
    }

    /// CloseClaim: the rest of a partly collected claim goes back to the lot.
    async fn close_claim(&self, request: Request<pb::CloseClaimRequest>) -> Reply<pb::Claim> {
        let (p, req) = caller(request)?;
        let p = &p;
        answer::<_, InventoryError>(async move {
            let name = ClaimName::parse("name", &req.name)?;
            let reason = Self::reason(&req.reason)?;
            self.claim_transition(p, name, &req.etag, ClaimAction::Close, |c, _| {
                if !reason.is_empty() {
                    c.note = reason;
                }
                Ok(())
            })
            .await
        })
        .await
    }

    /// GetReceipt: for who may read its claim.
    async fn get_receipt(&self, request: Request<pb::GetReceiptRequest>) -> Reply<pb::Receipt> {
        let (p, req) = caller(request)?;
        let p = &p;
        answer::<_, InventoryError>(async move {
            let (claim, id) = receipt_name("name", &req.name)?;
            let mut conn = self.conn().await?;
            match repo::get_receipt(&mut conn, id).await? {
                Some(r) if r.claim == claim && authz::sees_claim(p, &r.owner_org, r.partner_id) => {
                    Ok(r.to_proto())
                }
                _ => Err(not_found("receipt", &req.name)),
            }
        })
        .await
    }

    /// ListReceipts: of a claim, or of a site's claims, by number.
    async fn list_receipts(
        &self,
        request: Request<pb::ListReceiptsRequest>,
    ) -> Reply<pb::ListReceiptsResponse> {
        let (p, req) = caller(request)?;
        let p = &p;
        answer::<_, InventoryError>(async move {
            let (site, claim) = receipts_parent(&req.parent)?;
            let page = self.inner.pager.page(
                req.page_size,
                &req.page_token,
                &format!("site={site}|claim={claim:?}"),
            )?;
            let mut f = Filter::default();
            f.add("site_id = ?", site.to_string())?;
            if let Some(claim) = claim {
                f.add("lot_id = ?", claim.lot.lot.to_string())?;
                f.add("claim_id = ?", claim.claim.to_string())?;
            }
            match p.role {
                Role::Admin | Role::Integrator => {}
                Role::SiteManager => f.add("owner_org = ?", p.org.clone().unwrap_or_default())?,
                Role::Partner => {
                    let own = p.own_partner().map(|id| id.to_string()).unwrap_or_default();
                    f.add("partner_id = ?", own)?;
                }
            }
            if let Some(after) = &page.after {
                let seq = after.parse::<i64>().map_err(|_| {
                    InventoryError::invalid("page_token", "not a token of this list")
                })?;
                f.add("seq > ?", seq)?;
            }
            let mut conn = self.conn().await?;
            let head = format!("SELECT {RECEIPT_COLUMNS} FROM receipts");
            let tail = format!(" ORDER BY seq LIMIT {}", page.size + 1);
            let rows = select_filtered(&mut conn, &head, f, &tail).await?;
            let mut receipts = rows
                .iter()
                .map(ReceiptRow::from_row)
                .collect::<Result<Vec<_>>>()?;
            let next_page_token = page.finish(&mut receipts, |r| r.seq.to_string());
            Ok(pb::ListReceiptsResponse {
                receipts: receipts.iter().map(ReceiptRow::to_proto).collect(),
                next_page_token,
            })
        })
        .await
    }

    /// CreatePickupSlot.
    async fn create_pickup_slot(
        &self,
        request: Request<pb::CreatePickupSlotRequest>,
    ) -> Reply<pb::PickupSlot> {
        let (p, req) = caller(request)?;
        answer::<_, InventoryError>(self.slot_create(&p, req)).await
    }

    /// ListPickupSlots.
    async fn list_pickup_slots(
        &self,
        request: Request<pb::ListPickupSlotsRequest>,
    ) -> Reply<pb::ListPickupSlotsResponse> {
        let (p, req) = caller(request)?;
        answer::<_, InventoryError>(self.slot_list(&p, req)).await
    }

    /// DeletePickupSlot.
    async fn delete_pickup_slot(&self, request: Request<pb::DeletePickupSlotRequest>) -> Reply<()> {
        let (p, req) = caller(request)?;
        answer::<_, InventoryError>(self.slot_delete(&p, req)).await
    }

    /// BookPickupSlot.
    async fn book_pickup_slot(
        &self,
        request: Request<pb::BookPickupSlotRequest>,
    ) -> Reply<pb::PickupBooking> {
        let (p, req) = caller(request)?;
        answer::<_, InventoryError>(self.slot_book(&p, req)).await
    }

    /// ListPickups.
    async fn list_pickups(
        &self,
        request: Request<pb::ListPickupsRequest>,
    ) -> Reply<pb::ListPickupsResponse> {
        let (p, req) = caller(request)?;
        answer::<_, InventoryError>(self.pickups_list(&p, req)).await
    }

    type WatchLotsStream = Answers<pb::WatchLotsResponse>;

    async fn watch_lots(&self, req: Request<pb::WatchLotsRequest>) -> Reply<Self::WatchLotsStream> {
        let p = principal(&req)?;
        authz::watch(&p)?;
        // The stream ends, refused, once the token it was opened with lapses.
        let credential = Credential::of(&req);
        let req = req.into_inner();
        let site = names::site_or_all("parent", &req.parent)
            .map_err(|v| Status::from(InventoryError::from(v)))?
            .map(|id| names::SiteName(id).to_string());
        let start = match req.start_cursor.as_str() {
            "" => self.last_change().await?,
            c => c.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                Status::from(InventoryError::invalid(
                    "start_cursor",
                    "empty, \"0\", or a cursor received from this stream",
                ))
            })?,
        };
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let inventory = self.clone();
        let shutdown = self.inner.shutdown.clone();
        tokio::spawn(async move {
            // Commits may become visible out of number order: the cursor
            // delivers a late one instead of skipping it.
            let mut cursor = ChangeCursor::new(start);
            loop {
                let read = match inventory.lot_changes(cursor.after(), 500).await {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = tx.send(Err(Status::from(e))).await;
                        return;
                    }
                };
                let fresh: HashSet<i64> = cursor
                    .take(read.iter().map(|c| c.seq), Instant::now())
                    .into_iter()
                    .collect();
                let caught_up = fresh.is_empty();
                for change in read.into_iter().filter(|c| fresh.contains(&c.seq)) {
                    let Some(payload) = change.payload else {
                        continue;
                    };
                    let Ok(envelope) = Envelope::decode(payload.as_slice()) else {
                        tracing::error!(seq = change.seq, "undecodable lot event in the outbox");
                        continue;
                    };
                    let Some(Payload::Lot(lot)) = envelope.payload else {
                        continue;
                    };
                    if site
                        .as_ref()
                        .is_some_and(|s| !lot.name.starts_with(&format!("{s}/")))
                    {
                        continue;
                    }
                    let item = pb::WatchLotsResponse {
                        cursor: change.seq.to_string(),
                        event_type: envelope.event_type,
                        lot: Some(lot),
                        occur_time: envelope.occur_time,
                    };
                    if tx.send(Ok(item)).await.is_err() {
                        return;
                    }
                }
                if caught_up {
                    tokio::select! {
                        () = inventory.changed(WATCH_POLL) => {}
                        () = tx.closed() => return,
                        () = shutdown.cancelled() => return,
                    }
                }
            }
        });
        let answers = Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx));
        Ok(Response::new(credential.guard(answers)))
    }
}
