//! Matching: applies inventory and registry events to its projections,
//! proposes the best partners for each lot on offer (once per pair), and
//! answers queries from an in-memory index kept fresh from the projections.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use reemploi_events::outbox::Relay;
use reemploi_events::{Handler, HandlerError, Message, Subscription, inbox};
use reemploi_matching_engine::alloc;
use reemploi_matching_engine::index::Index;
use reemploi_matching_engine::profile::{LotProfile, PartnerProfile};
use reemploi_matching_engine::score::{Scored, Scorer};
use reemploi_proto::events::envelope::Payload;
use reemploi_proto::matching as pb;
use reemploi_proto::matching::matching_service_server::MatchingService;
use reemploi_proto::types as tpb;
use reemploi_runtime::auth::{Principal, Role, caller};
use reemploi_runtime::envelope;
use reemploi_runtime::error::ApiError;
use reemploi_runtime::names::parse;
use reemploi_runtime::paging::Pager;
use reemploi_runtime::service::answer;
use reemploi_runtime::validation::Violation;
use reemploi_runtime::wire::millis_ts;
use reemploi_store::cursor::ChangeCursor;
use reemploi_store::{Db, now_millis};
use sqlx::AnyConnection;
use tokio::sync::Mutex;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::error::{MatchingError, Result};
use crate::projection::{self, Claim, Lot, Partner};

/// How many partners are proposed for a lot, and lots for a partner.
pub const PROPOSALS_PER_CHANGE: usize = 10;
/// The producing service's name, on subjects and envelopes.
pub const PRODUCER: &str = "matching";
/// Subject of a new proposal.
pub const PROPOSED: &str = "reemploi.matching.match.proposed";

/// The durable subscriptions matching consumes; replicas share them, so each
/// event is applied by one replica only.
pub fn subscriptions(max_deliver: i64) -> [Subscription; 2] {
    [
        Subscription {
            durable: "matching-inventory".into(),
            stream_of: "inventory".into(),
            filter: "reemploi.inventory.>".into(),
            max_deliver,
        },
        Subscription {
            durable: "matching-partners".into(),
            stream_of: "registry".into(),
            filter: "reemploi.registry.partner.>".into(),
            max_deliver,
        },
    ]
}

/// The engine index over the lots on offer and the verified partners, with
/// the position in the change log it reflects.
struct Live {
    index: Index,
    lot_names: HashMap<String, String>,
    cursor: ChangeCursor,
}

/// The matching service core.
#[derive(Clone)]
pub struct Matching {
    db: Db,
    relay: Relay,
    pager: Pager,
    live: Arc<RwLock<Live>>,
    refreshing: Arc<Mutex<()>>,
}

fn lock_poisoned() -> MatchingError {
    ApiError::Internal("index lock poisoned".into()).into()
}

fn lot_name(l: &Lot) -> String {
    format!("sites/{}/lots/{}", l.site_id, l.id)
}

async fn partner_profile(conn: &mut AnyConnection, p: &Partner) -> Result<Option<PartnerProfile>> {
    let committed = projection::committed_g(conn, p.id).await?;
    Ok(p.profile(committed))
}

impl Matching {
    /// Builds the index from the projections held in `db`.
    pub async fn new(db: Db, relay: Relay, pager: Pager) -> Result<Matching> {
        let mut conn = db.pool().acquire().await?;
        // Re-read a little of the log's tail at the first refresh: changes
        // numbered just below the end may still have been committing.
        let cursor = ChangeCursor::new((projection::last_change(&mut conn).await? - 100).max(0));
        let lots = projection::lots_on_offer(&mut conn).await?;
        let mut partners = Vec::new();
        for p in projection::verified_partners(&mut conn).await? {
            partners.extend(partner_profile(&mut conn, &p).await?);
        }
        let lot_names = lots
            .iter()
            .map(|l| (l.id.to_string(), lot_name(l)))
            .collect();
        let index = Index::new(
            Scorer::default(),
            partners,
            lots.iter().filter_map(Lot::profile).collect(),
        );
        drop(conn);
        Ok(Matching {
            db,
            relay,
            pager,
            live: Arc::new(RwLock::new(Live {
                index,
                lot_names,
                cursor,
            })),
            refreshing: Arc::new(Mutex::new(())),
        })
    }

    /// Brings the index up to date with every change any replica committed.
    pub async fn refresh(&self) -> Result<()> {
        let _one_at_a_time = self.refreshing.lock().await;
        let mut cursor = self
            .live
            .read()
            .map_err(|_| lock_poisoned())?
            .cursor
            .clone();
        let mut conn = self.db.pool().acquire().await?;
        let read = projection::changes_after(&mut conn, cursor.after()).await?;
        let fresh: HashSet<i64> = cursor
            .take(read.iter().map(|c| c.0), std::time::Instant::now())
            .into_iter()
            .collect();
        let mut touched: Vec<(String, Uuid)> = read
            .into_iter()
            .filter(|c| fresh.contains(&c.0))
            .map(|(_, entity, id)| (entity, id))
            .collect();
        touched.sort();
        touched.dedup();
        for (entity, id) in &touched {
            self.reload(&mut conn, entity, *id).await?;
        }
        self.live.write().map_err(|_| lock_poisoned())?.cursor = cursor;
        Ok(())
    }

    /// Puts in the index what the projection holds now of one entity.
    async fn reload(&self, conn: &mut AnyConnection, entity: &str, id: Uuid) -> Result<()> {
        match entity {
            "lot" => {
                let lot = projection::lot(conn, id).await?;
                self.set_lot(id, lot.as_ref())
            }
            _ => {
                let profile = match projection::partner(conn, id).await? {
                    Some(p) if p.status == "verified" => partner_profile(conn, &p).await?,
                    Some(_) | None => None,
                };
                self.set_partner(id, profile).map(|_| ())
            }
        }
    }

    fn set_lot(&self, id: Uuid, lot: Option<&Lot>) -> Result<()> {
        let mut live = self.live.write().map_err(|_| lock_poisoned())?;
        let key = id.to_string();
        match lot
            .filter(|l| l.on_offer())
            .and_then(|l| l.profile().map(|p| (l, p)))
        {
            Some((l, profile)) => {
                live.lot_names.insert(key, lot_name(l));
                live.index.upsert_lot(profile);
            }
            None => {
                live.lot_names.remove(&key);
                live.index.remove_lot(&key);
            }
        }
        Ok(())
    }

    /// Sets a partner's profile in the index; returns the one it replaces.
    fn set_partner(
        &self,
        id: Uuid,
        profile: Option<PartnerProfile>,
    ) -> Result<Option<PartnerProfile>> {
        let mut live = self.live.write().map_err(|_| lock_poisoned())?;
        Ok(match profile {
            Some(profile) => live.index.upsert_partner(profile),
            None => live.index.remove_partner(&id.to_string()),
        })
    }

    /// Applies one event: projection, change log, proposals and their
    /// events, all in one transaction, once per event id.
    ///
    /// Events are applied one at a time across replicas (a lock taken in
    /// the transaction), and the index is refreshed under that lock: a lot
    /// published while a partner is verified is then ranked with that
    /// partner, whichever event comes second. The index takes the event's
    /// changes before the commit; if the transaction fails, the entity is
    /// read back from the projection.
    async fn apply(&self, consumer: &str, msg: &Message) -> std::result::Result<(), HandlerError> {
        let (_, payload) = envelope::decode(msg)?;
        let touched = touched(&payload).map_err(HandlerError::from)?;
        let mut tx = self.db.begin_write().await?;
        projection::serialize(&mut tx, &self.db).await?;
        if !inbox::first_time(&mut tx, consumer, &msg.event_id).await? {
            return Ok(());
        }
        self.refresh().await?;
        let applied = match self.project(&mut tx, payload).await {
            Ok(events) => self.relay.commit(tx, &events).await.map_err(Into::into),
            Err(e) => Err(e),
        };
        if let Err(e) = applied {
            let mut conn = self.db.pool().acquire().await?;
            if let Some((entity, id)) = touched {
                self.reload(&mut conn, entity, id).await?;
            }
            return Err(e.into());
        }
        Ok(())
    }

    async fn project(&self, conn: &mut AnyConnection, payload: Payload) -> Result<Vec<Message>> {
        let now = now_millis();
        match payload {
            Payload::Site(site) => {
                let id = parse("site.name", &site.name, "sites/{site}")
                    .map_err(|e| MatchingError::BadEvent(format!("event site name: {e}")))?[0];
                projection::upsert_site(conn, id, &site.owner_org, site.version).await?;
                Ok(Vec::new())
            }
            Payload::Lot(lot) => {
                let mut row = Lot::from_event(&lot)?;
                row.owner_org = projection::site_owner(conn, row.site_id).await?;
                if !projection::upsert_lot(conn, &row).await? {
                    return Ok(Vec::new());
                }
                projection::record_change(conn, "lot", row.id).await?;
                self.set_lot(row.id, Some(&row))?;
                let scored = match row.profile().filter(|_| row.on_offer()) {
                    Some(profile) => self.read(|live| {
                        live.index.top_partners(&profile, PROPOSALS_PER_CHANGE, now)
                    })?,
                    None => Vec::new(),
                };
                self.proposals(conn, &scored, now).await
            }
            Payload::Claim(claim) => {
                let lot = parse(
                    "claim.name",
                    &claim.name,
                    "sites/{site}/lots/{lot}/claims/{claim}",
                )
                .map_err(|e| MatchingError::BadEvent(format!("event claim name: {e}")))?[1];
                let unit_mass = projection::unit_mass_g(conn, lot).await?;
                let row = Claim::from_event(&claim, unit_mass)?;
                if !projection::upsert_claim(conn, &row).await? {
                    return Ok(Vec::new());
                }
                // The partner's committed capacity moved, and with it its rank.
                projection::record_change(conn, "partner", row.partner_id).await?;
                let partner = projection::partner(conn, row.partner_id).await?;
                self.partner_changed(conn, row.partner_id, partner.as_ref(), now)
                    .await
            }
            Payload::Partner(partner) => {
                let row = Partner::from_event(&partner)?;
                if !projection::upsert_partner(conn, &row).await? {
                    return Ok(Vec::new());
                }
                projection::record_change(conn, "partner", row.id).await?;
                self.partner_changed(conn, row.id, Some(&row), now).await
            }
            Payload::MatchProposal(_) => Ok(Vec::new()),
        }
    }

    /// After a partner's profile changed: every lot whose ranking it may
    /// enter or leave is ranked again, and each pair now in a lot's top
    /// [`PROPOSALS_PER_CHANGE`] that was never proposed is proposed.
    async fn partner_changed(
        &self,
        conn: &mut AnyConnection,
        id: Uuid,
        partner: Option<&Partner>,
        now: i64,
    ) -> Result<Vec<Message>> {
        let profile = match partner {
            Some(p) if p.status == "verified" => partner_profile(conn, p).await?,
            Some(_) | None => None,
        };
        let before = self.set_partner(id, profile.clone())?;
        let scored = self.read(|live| {
            let mut lots: Vec<String> = [before.as_ref(), profile.as_ref()]
                .into_iter()
                .flatten()
                .flat_map(|p| reachable_lots(&live.index, p, now))
                .collect();
            lots.sort();
            lots.dedup();
            lots.iter()
                .filter_map(|l| live.index.lot(l))
                .flat_map(|l| live.index.top_partners(l, PROPOSALS_PER_CHANGE, now))
                .collect::<Vec<_>>()
        })?;
        self.proposals(conn, &scored, now).await
    }

    fn read<T>(&self, f: impl FnOnce(&Live) -> T) -> Result<T> {
        let live = self.live.read().map_err(|_| lock_poisoned())?;
        Ok(f(&live))
    }

    /// Records the proposals not made before and returns their events.
    async fn proposals(
        &self,
        conn: &mut AnyConnection,
        scored: &[Scored],
        now: i64,
    ) -> Result<Vec<Message>> {
        let names = self.read(|live| {
            scored
                .iter()
                .filter_map(|s| {
                    live.lot_names
                        .get(&s.lot_id)
                        .map(|n| (s.lot_id.clone(), n.clone()))
                })
                .collect::<HashMap<String, String>>()
        })?;
        let candidates: Vec<(Uuid, Uuid, Uuid, f64, &Scored)> = scored
            .iter()
            .filter_map(|s| {
                let lot = Uuid::try_parse(&s.lot_id).ok()?;
                let partner = Uuid::try_parse(&s.partner_id).ok()?;
                Some((lot, partner, Uuid::now_v7(), s.score, s))
            })
            .collect();
        let rows: Vec<(Uuid, Uuid, Uuid, f64)> =
            candidates.iter().map(|c| (c.0, c.1, c.2, c.3)).collect();
        let new: HashSet<(Uuid, Uuid)> = projection::propose_all(conn, &rows, now)
            .await?
            .into_iter()
            .collect();
        let mut events = Vec::new();
        for (lot, partner, id, _, s) in candidates {
            if !new.contains(&(lot, partner)) {
                continue;
            }
            let lot_name = names.get(&s.lot_id).cloned().unwrap_or_default();
            events.push(proposal_event(id, to_match(s, lot_name), now));
        }
        Ok(events)
    }

    // ---- queries ----

    /// The lots a plan request names: a site's, or a list (each once,
    /// each found under the site its name gives).
    async fn plan_lots(
        &self,
        conn: &mut AnyConnection,
        req: &pb::PlanAllocationRequest,
    ) -> Result<Vec<Lot>> {
        if !req.site.is_empty() {
            let site = parse("site", &req.site, "sites/{site}")?[0];
            return projection::site_lots(conn, site).await;
        }
        if req.lots.is_empty() {
            return Err(ApiError::Invalid(vec![Violation::new(
                "site",
                "name a site or list lots",
            )])
            .into());
        }
        let names = distinct("lots", &req.lots)?;
        let mut lots = Vec::with_capacity(names.len());
        for (i, name) in names {
            let ids = parse(&format!("lots[{i}]"), name, "sites/{site}/lots/{lot}")?;
            let lot = projection::lot(conn, ids[1])
                .await?
                .filter(|l| l.site_id == ids[0])
                .ok_or_else(|| ApiError::NotFound {
                    kind: "lot",
                    name: name.clone(),
                })?;
            lots.push(lot);
        }
        Ok(lots)
    }
}

/// Most lots, and most partners, one plan request may name.
pub const MAX_PLAN_NAMES: usize = 1000;

/// The names of a repeated field, each once (first position kept), with
/// their index for error paths; more than [`MAX_PLAN_NAMES`] is refused.
fn distinct<'a>(field: &str, names: &'a [String]) -> Result<Vec<(usize, &'a String)>> {
    if names.len() > MAX_PLAN_NAMES {
        return Err(ApiError::Invalid(vec![Violation::new(
            field,
            format!("at most {MAX_PLAN_NAMES} names"),
        )])
        .into());
    }
    let mut seen = HashSet::new();
    Ok(names
        .iter()
        .enumerate()
        .filter(|(_, n)| seen.insert(n.as_str()))
        .collect())
}

/// The partners a plan may use: the ones named (each known to matching),
/// or every verified one.
async fn plan_partners(conn: &mut AnyConnection, names: &[String]) -> Result<Vec<Partner>> {
    if names.is_empty() {
        return projection::verified_partners(conn).await;
    }
    let mut partners = Vec::new();
    for (i, name) in distinct("partners", names)? {
        let id = parse(&format!("partners[{i}]"), name, "partners/{partner}")?[0];
        let partner = projection::partner(conn, id)
            .await?
            .ok_or_else(|| ApiError::NotFound {
                kind: "partner",
                name: name.clone(),
            })?;
        partners.push(partner);
    }
    Ok(partners)
}

/// The answer of PlanAllocation for `plan` over the `weighed` lots, with
/// the lots left out for want of a mass.
fn plan_response(
    plan: &alloc::Plan,
    weighed: &[&Lot],
    massless: &[&Lot],
) -> pb::PlanAllocationResponse {
    let by_id: HashMap<String, &Lot> = weighed.iter().map(|l| (l.id.to_string(), *l)).collect();
    let quantity = |lot: Option<&&Lot>, units: i64| tpb::Quantity {
        unit: lot.and_then(|l| l.unit.parse().ok()).unwrap_or(0),
        milli: units.saturating_mul(1000),
    };
    let name = |lot_id: &str| by_id.get(lot_id).map(|l| lot_name(l)).unwrap_or_default();
    let no_mass = massless.iter().map(|l| pb::Unallocated {
        lot: lot_name(l),
        quantity: Some(quantity(Some(l), l.available_units)),
        mass_g: 0,
        reason: pb::UnallocatedReason::NoMass as i32,
    });
    pb::PlanAllocationResponse {
        allocations: plan
            .assignments
            .iter()
            .map(|a| pb::Allocation {
                lot: name(&a.lot_id),
                partner: format!("partners/{}", a.partner_id),
                quantity: Some(quantity(by_id.get(&a.lot_id), a.units)),
                mass_g: a.mass_g,
                distance_m: a.distance_m,
            })
            .collect(),
        total_mass_g: plan.total_mass_g,
        total_tonne_km: plan.total_tonne_km,
        unallocated: plan
            .unallocated
            .iter()
            .map(|u| pb::Unallocated {
                lot: name(&u.lot_id),
                quantity: Some(quantity(by_id.get(&u.lot_id), u.units)),
                mass_g: u.mass_g,
                reason: pb::UnallocatedReason::NoTaker as i32,
            })
            .chain(no_mass)
            .collect(),
        optimal: plan.optimal,
        mass_bound_g: plan.mass_bound_g,
    }
}

/// The entity whose index entry an event changes, to read back if it fails.
fn touched(payload: &Payload) -> Result<Option<(&'static str, Uuid)>> {
    let bad = |e: reemploi_runtime::validation::Violation| MatchingError::BadEvent(e.to_string());
    Ok(match payload {
        Payload::Lot(l) => Some((
            "lot",
            parse("lot.name", &l.name, "sites/{site}/lots/{lot}").map_err(bad)?[1],
        )),
        Payload::Partner(p) => Some((
            "partner",
            parse("partner.name", &p.name, "partners/{partner}").map_err(bad)?[0],
        )),
        Payload::Claim(c) => Some((
            "partner",
            parse("claim.partner", &c.partner, "partners/{partner}").map_err(bad)?[0],
        )),
        Payload::Site(_) | Payload::MatchProposal(_) => None,
    })
}

/// Every lot on offer whose ranking `partner` could be part of, whatever
/// its status and capacity now: those its location, radius, categories
/// and horizon reach.
fn reachable_lots(index: &Index, partner: &PartnerProfile, now: i64) -> Vec<String> {
    let probe = PartnerProfile {
        verified_active: true,
        committed_g: 0,
        weekly_intake_g: partner.weekly_intake_g.max(1),
        ..partner.clone()
    };
    index
        .top_lots(&probe, index.lot_count(), now)
        .into_iter()
        .map(|s| s.lot_id)
        .collect()
}

/// The `match.proposed` event of a new proposal.
fn proposal_event(id: Uuid, found: pb::Match, now: i64) -> Message {
    let proposal = pb::MatchProposal {
        name: format!("proposals/{id}"),
        r#match: Some(found),
        create_time: Some(millis_ts(now)),
    };
    envelope::message(
        PRODUCER,
        PROPOSED.to_string(),
        proposal.name.clone(),
        1,
        now,
        Payload::MatchProposal(proposal),
    )
}

/// The reply of a gRPC method.
type Reply<T> = std::result::Result<Response<T>, Status>;

fn page_size(requested: i32, default: usize, max: usize) -> Result<usize> {
    match usize::try_from(requested) {
        Err(_) => Err(
            ApiError::Invalid(vec![reemploi_runtime::validation::Violation::new(
                "page_size",
                "must not be negative",
            )])
            .into(),
        ),
        Ok(0) => Ok(default),
        Ok(n) => Ok(n.min(max)),
    }
}

/// Admins and integrators see every site; site managers their organisation's.
fn may_see_site(p: &Principal, owner_org: &str) -> Result<()> {
    match p.role {
        Role::Admin | Role::Integrator => Ok(()),
        Role::SiteManager if p.org.as_deref() == Some(owner_org) => Ok(()),
        Role::SiteManager | Role::Partner => Err(ApiError::PermissionDenied(
            "the matches of a lot are for its site's managers".into(),
        )
        .into()),
    }
}

fn to_match(s: &Scored, lot: String) -> pb::Match {
    pb::Match {
        lot,
        partner: format!("partners/{}", s.partner_id),
        score: s.score,
        breakdown: Some(pb::ScoreBreakdown {
            category_fit: s.breakdown.category_fit,
            distance: s.breakdown.distance,
            capacity: s.breakdown.capacity,
            urgency: s.breakdown.urgency,
            insertion: s.breakdown.insertion,
        }),
        distance_m: s.distance_m.round() as i64,
    }
}

/// Feeds one durable subscription into [`Matching`].
pub struct Consumer {
    matching: Matching,
    name: String,
}

impl Consumer {
    /// The handler of the subscription named `name`.
    pub fn new(matching: Matching, name: &str) -> Arc<Consumer> {
        Arc::new(Consumer {
            matching,
            name: name.to_string(),
        })
    }
}

#[async_trait::async_trait]
impl Handler for Consumer {
    async fn handle(&self, msg: &Message) -> std::result::Result<(), HandlerError> {
        self.matching.apply(&self.name, msg).await
    }
}

#[tonic::async_trait]
impl MatchingService for Matching {
    /// ListLotMatches: the partners that could take a lot, best first.
    async fn list_lot_matches(
        &self,
        request: Request<pb::ListLotMatchesRequest>,
    ) -> Reply<pb::ListLotMatchesResponse> {
        let (p, req) = caller(request)?;
        let p = &p;
        answer::<_, MatchingError>(async move {
            let ids = parse("lot", &req.lot, "sites/{site}/lots/{lot}")?;
            let size = page_size(req.page_size, 10, 100)?;
            self.refresh().await?;
            let mut conn = self.db.pool().acquire().await?;
            let lot = projection::lot(&mut conn, ids[1])
                .await?
                .filter(|l| l.site_id == ids[0])
                .ok_or_else(|| ApiError::NotFound {
                    kind: "lot",
                    name: req.lot.clone(),
                })?;
            may_see_site(p, &lot.owner_org)?;
            let matches = match lot.profile().filter(|_| lot.on_offer()) {
                Some(profile) => {
                    self.read(|live| live.index.top_partners(&profile, size, now_millis()))?
                }
                None => Vec::new(),
            };
            Ok(pb::ListLotMatchesResponse {
                matches: matches
                    .iter()
                    .map(|s| to_match(s, req.lot.clone()))
                    .collect(),
            })
        })
        .await
    }

    /// RecommendLots: the lots a partner should look at first.
    async fn recommend_lots(
        &self,
        request: Request<pb::RecommendLotsRequest>,
    ) -> Reply<pb::RecommendLotsResponse> {
        let (p, req) = caller(request)?;
        let p = &p;
        answer::<_, MatchingError>(async move {
            let id = parse("partner", &req.partner, "partners/{partner}")?[0];
            match p.role {
                Role::Admin | Role::Integrator => {}
                Role::Partner if p.own_partner() == Some(id) => {}
                Role::Partner | Role::SiteManager => {
                    return Err(ApiError::PermissionDenied(
                        "a partner sees its own recommendations only".into(),
                    )
                    .into());
                }
            }
            let size = page_size(req.page_size, 50, 1000)?;
            let page = self.pager.page(
                i32::try_from(size).unwrap_or(1000),
                &req.page_token,
                &req.partner,
            )?;
            self.refresh().await?;
            let mut conn = self.db.pool().acquire().await?;
            let partner =
                projection::partner(&mut conn, id)
                    .await?
                    .ok_or_else(|| ApiError::NotFound {
                        kind: "partner",
                        name: req.partner.clone(),
                    })?;
            let profile = match partner.status.as_str() {
                "verified" => partner_profile(&mut conn, &partner).await?,
                _ => None,
            };
            drop(conn);
            let Some(profile) = profile else {
                return Ok(pb::RecommendLotsResponse::default());
            };
            let (ranked, names) = self.read(|live| {
                let ranked = live.index.top_lots(&profile, 1000, now_millis());
                let names: HashMap<String, String> = ranked
                    .iter()
                    .filter_map(|s| {
                        live.lot_names
                            .get(&s.lot_id)
                            .map(|n| (s.lot_id.clone(), n.clone()))
                    })
                    .collect();
                (ranked, names)
            })?;
            let start = match &page.after {
                Some(after) => ranked
                    .iter()
                    .position(|s| &s.lot_id == after)
                    .map_or(ranked.len(), |i| i + 1),
                None => 0,
            };
            let mut slice: Vec<&Scored> = ranked.iter().skip(start).take(page.size + 1).collect();
            let next_page_token = page.finish(&mut slice, |s| s.lot_id.clone());
            Ok(pb::RecommendLotsResponse {
                matches: slice
                    .iter()
                    .map(|s| to_match(s, names.get(&s.lot_id).cloned().unwrap_or_default()))
                    .collect(),
                next_page_token,
            })
        })
        .await
    }

    /// PlanAllocation: a hand-out plan for a site or a set of lots. Lots
    /// without an estimated mass are left out and reported as such.
    async fn plan_allocation(
        &self,
        request: Request<pb::PlanAllocationRequest>,
    ) -> Reply<pb::PlanAllocationResponse> {
        let (p, req) = caller(request)?;
        let p = &p;
        answer::<_, MatchingError>(async move {
            let mut conn = self.db.pool().acquire().await?;
            let lots = self.plan_lots(&mut conn, &req).await?;
            for lot in &lots {
                may_see_site(p, &lot.owner_org)?;
            }
            let partners = plan_partners(&mut conn, &req.partners).await?;
            let mut partner_profiles = Vec::new();
            for partner in &partners {
                partner_profiles.extend(partner_profile(&mut conn, partner).await?);
            }
            drop(conn);
            let (weighed, massless): (Vec<&Lot>, Vec<&Lot>) = lots
                .iter()
                .filter(|l| l.on_offer())
                .partition(|l| l.unit_mass_g > 0);
            let lot_profiles: Vec<LotProfile> =
                weighed.iter().filter_map(|l| l.profile()).collect();
            // The search may use up to about a second of CPU: off the runtime.
            let now = now_millis();
            let plan = tokio::task::spawn_blocking(move || {
                alloc::allocate(&lot_profiles, &partner_profiles, now)
            })
            .await
            .map_err(|e| ApiError::Internal(format!("allocation task: {e}")))?
            .map_err(|e| ApiError::precondition("NOT_ALLOCATABLE", e.to_string()))?;
            Ok(plan_response(&plan, &weighed, &massless))
        })
        .await
    }
}
