//! Matching: applies inventory and registry events to its projections,
//! proposes the best partners for each lot on offer (once per pair), and
//! answers queries from an in-memory index kept fresh from the projections.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use prost::Message as _;
use reemploi_events::outbox::Relay;
use reemploi_events::{Handler, HandlerError, Message, Subscription, inbox};
use reemploi_matching_engine::alloc;
use reemploi_matching_engine::index::Index;
use reemploi_matching_engine::profile::{LotProfile, PartnerProfile};
use reemploi_matching_engine::score::{Scored, Scorer};
use reemploi_proto::events::{Envelope, envelope::Payload};
use reemploi_proto::matching as pb;
use reemploi_proto::types as tpb;
use reemploi_runtime::auth::{Principal, Role};
use reemploi_runtime::names::parse;
use reemploi_runtime::paging::Page;
use reemploi_runtime::wire::millis_ts;
use reemploi_store::cursor::ChangeCursor;
use reemploi_store::{Db, now_millis};
use sqlx::AnyConnection;
use tokio::sync::Mutex;
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
    live: Arc<RwLock<Live>>,
    refreshing: Arc<Mutex<()>>,
}

fn lock_poisoned() -> MatchingError {
    MatchingError::Internal("index lock poisoned".into())
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
    pub async fn new(db: Db, relay: Relay) -> Result<Matching> {
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
        let fresh: std::collections::HashSet<i64> = cursor
            .take(read.iter().map(|c| c.0), std::time::Instant::now())
            .into_iter()
            .collect();
        let changes: Vec<_> = read.into_iter().filter(|c| fresh.contains(&c.0)).collect();
        let mut lots = HashMap::new();
        let mut partners = HashMap::new();
        for (_, entity, id) in &changes {
            match entity.as_str() {
                "lot" => {
                    lots.insert(*id, projection::lot(&mut conn, *id).await?);
                }
                _ => {
                    let p = projection::partner(&mut conn, *id).await?;
                    let profile = match &p {
                        Some(p) if p.status == "verified" => partner_profile(&mut conn, p).await?,
                        Some(_) | None => None,
                    };
                    partners.insert(*id, profile);
                }
            }
        }
        let mut live = self.live.write().map_err(|_| lock_poisoned())?;
        for (id, lot) in lots {
            let key = id.to_string();
            match lot
                .as_ref()
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
        }
        for (id, profile) in partners {
            match profile {
                Some(profile) => {
                    live.index.upsert_partner(profile);
                }
                None => {
                    live.index.remove_partner(&id.to_string());
                }
            }
        }
        live.cursor = cursor;
        Ok(())
    }

    /// Applies one event: projection, change log, proposals and their
    /// events, all in one transaction, once per event id.
    async fn apply(&self, consumer: &str, msg: &Message) -> std::result::Result<(), HandlerError> {
        let envelope = Envelope::decode(msg.payload.as_ref())
            .map_err(|e| HandlerError::Permanent(format!("undecodable envelope: {e}")))?;
        let transient = |e: MatchingError| HandlerError::Transient(e.to_string());
        self.refresh().await.map_err(transient)?;
        let mut tx = self
            .db
            .begin_write()
            .await
            .map_err(|e| HandlerError::Transient(e.to_string()))?;
        if !inbox::first_time(&mut tx, consumer, &msg.event_id)
            .await
            .map_err(|e| HandlerError::Transient(e.to_string()))?
        {
            return Ok(());
        }
        let events = self.project(&mut tx, envelope).await.map_err(|e| match e {
            MatchingError::Internal(m) if m.starts_with("event ") => HandlerError::Permanent(m),
            other => transient(other),
        })?;
        self.relay
            .commit(tx, &events)
            .await
            .map_err(|e| HandlerError::Transient(e.to_string()))
    }

    async fn project(&self, conn: &mut AnyConnection, envelope: Envelope) -> Result<Vec<Message>> {
        let now = now_millis();
        match envelope.payload {
            Some(Payload::Site(site)) => {
                let id = parse("site.name", &site.name, "sites/{site}")
                    .map_err(|e| MatchingError::Internal(format!("event site name: {e}")))?[0];
                projection::upsert_site(conn, id, &site.owner_org, site.version).await?;
                Ok(Vec::new())
            }
            Some(Payload::Lot(lot)) => {
                let mut row = Lot::from_event(&lot)?;
                row.owner_org = projection::site_owner(conn, row.site_id).await?;
                if !projection::upsert_lot(conn, &row).await? {
                    return Ok(Vec::new());
                }
                projection::record_change(conn, "lot", row.id).await?;
                match row.profile().filter(|_| row.on_offer()) {
                    Some(profile) => {
                        let scored = self.read(|live| {
                            live.index.top_partners(&profile, PROPOSALS_PER_CHANGE, now)
                        })?;
                        self.proposals(conn, &scored, |_| lot.name.clone(), now)
                            .await
                    }
                    None => Ok(Vec::new()),
                }
            }
            Some(Payload::Claim(claim)) => {
                let lot = parse(
                    "claim.name",
                    &claim.name,
                    "sites/{site}/lots/{lot}/claims/{claim}",
                )
                .map_err(|e| MatchingError::Internal(format!("event claim name: {e}")))?[1];
                let unit_mass = projection::unit_mass_g(conn, lot).await?;
                let row = Claim::from_event(&claim, unit_mass)?;
                if projection::upsert_claim(conn, &row).await? {
                    // The partner's committed capacity moved.
                    projection::record_change(conn, "partner", row.partner_id).await?;
                }
                Ok(Vec::new())
            }
            Some(Payload::Partner(partner)) => {
                let row = Partner::from_event(&partner)?;
                if !projection::upsert_partner(conn, &row).await? {
                    return Ok(Vec::new());
                }
                projection::record_change(conn, "partner", row.id).await?;
                if row.status != "verified" {
                    return Ok(Vec::new());
                }
                match partner_profile(conn, &row).await? {
                    Some(profile) => {
                        let (scored, names) = self.read(|live| {
                            let scored = live.index.top_lots(&profile, PROPOSALS_PER_CHANGE, now);
                            let names: HashMap<String, String> = scored
                                .iter()
                                .filter_map(|s| {
                                    live.lot_names
                                        .get(&s.lot_id)
                                        .map(|n| (s.lot_id.clone(), n.clone()))
                                })
                                .collect();
                            (scored, names)
                        })?;
                        self.proposals(
                            conn,
                            &scored,
                            |s| names.get(&s.lot_id).cloned().unwrap_or_default(),
                            now,
                        )
                        .await
                    }
                    None => Ok(Vec::new()),
                }
            }
            Some(Payload::MatchProposal(_)) | None => Ok(Vec::new()),
        }
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
        lot_name: impl Fn(&Scored) -> String,
        now: i64,
    ) -> Result<Vec<Message>> {
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
        let new: std::collections::HashSet<(Uuid, Uuid)> =
            projection::propose_all(conn, &rows, now)
                .await?
                .into_iter()
                .collect();
        let mut events = Vec::new();
        for (lot, partner, id, _, s) in candidates {
            if !new.contains(&(lot, partner)) {
                continue;
            }
            let proposal = pb::MatchProposal {
                name: format!("proposals/{id}"),
                r#match: Some(to_match(s, lot_name(s))),
                create_time: Some(millis_ts(now)),
            };
            let event_id = Uuid::now_v7().to_string();
            let envelope = Envelope {
                event_id: event_id.clone(),
                occur_time: Some(millis_ts(now)),
                event_type: PROPOSED.to_string(),
                aggregate: proposal.name.clone(),
                aggregate_version: 1,
                producer: PRODUCER.to_string(),
                payload: Some(Payload::MatchProposal(proposal)),
            };
            events.push(Message {
                subject: PROPOSED.to_string(),
                event_id,
                payload: envelope.encode_to_vec().into(),
            });
        }
        Ok(events)
    }

    // ---- queries ----

    /// ListLotMatches: the partners that could take a lot, best first.
    pub async fn lot_matches(
        &self,
        p: &Principal,
        req: pb::ListLotMatchesRequest,
    ) -> Result<pb::ListLotMatchesResponse> {
        let ids = parse("lot", &req.lot, "sites/{site}/lots/{lot}")?;
        let size = page_size(req.page_size, 10, 100)?;
        self.refresh().await?;
        let mut conn = self.db.pool().acquire().await?;
        let lot = projection::lot(&mut conn, ids[1])
            .await?
            .filter(|l| l.site_id == ids[0])
            .ok_or_else(|| MatchingError::NotFound {
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
    }

    /// RecommendLots: the lots a partner should look at first.
    pub async fn recommend(
        &self,
        p: &Principal,
        req: pb::RecommendLotsRequest,
    ) -> Result<pb::RecommendLotsResponse> {
        let id = parse("partner", &req.partner, "partners/{partner}")?[0];
        match p.role {
            Role::Admin | Role::Integrator => {}
            Role::Partner if own_partner(p) == Some(id) => {}
            Role::Partner | Role::SiteManager => {
                return Err(MatchingError::PermissionDenied(
                    "a partner sees its own recommendations only".into(),
                ));
            }
        }
        let size = page_size(req.page_size, 50, 1000)?;
        let page = Page::parse(
            i32::try_from(size).unwrap_or(1000),
            &req.page_token,
            &req.partner,
        )?;
        self.refresh().await?;
        let mut conn = self.db.pool().acquire().await?;
        let partner =
            projection::partner(&mut conn, id)
                .await?
                .ok_or_else(|| MatchingError::NotFound {
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
    }

    /// PlanAllocation: a hand-out plan for a site or a set of lots.
    pub async fn plan(
        &self,
        p: &Principal,
        req: pb::PlanAllocationRequest,
    ) -> Result<pb::PlanAllocationResponse> {
        let mut conn = self.db.pool().acquire().await?;
        let lots: Vec<Lot> = if !req.site.is_empty() {
            let site = parse("site", &req.site, "sites/{site}")?[0];
            projection::site_lots(&mut conn, site).await?
        } else if !req.lots.is_empty() {
            let mut lots = Vec::new();
            for (i, name) in req.lots.iter().enumerate() {
                let ids = parse(&format!("lots[{i}]"), name, "sites/{site}/lots/{lot}")?;
                let lot = projection::lot(&mut conn, ids[1]).await?.ok_or_else(|| {
                    MatchingError::NotFound {
                        kind: "lot",
                        name: name.clone(),
                    }
                })?;
                lots.push(lot);
            }
            lots
        } else {
            return Err(MatchingError::Invalid(vec![
                reemploi_runtime::validation::Violation::new("site", "name a site or list lots"),
            ]));
        };
        for lot in &lots {
            may_see_site(p, &lot.owner_org)?;
        }
        let lots: Vec<&Lot> = lots.iter().filter(|l| l.on_offer()).collect();
        let partners = if req.partners.is_empty() {
            projection::verified_partners(&mut conn).await?
        } else {
            let mut partners = Vec::new();
            for (i, name) in req.partners.iter().enumerate() {
                let id = parse(&format!("partners[{i}]"), name, "partners/{partner}")?[0];
                partners.extend(projection::partner(&mut conn, id).await?);
            }
            partners
        };
        let mut partner_profiles = Vec::new();
        for partner in &partners {
            partner_profiles.extend(partner_profile(&mut conn, partner).await?);
        }
        let lot_profiles: Vec<LotProfile> = lots.iter().filter_map(|l| l.profile()).collect();
        // The search may use up to about a second of CPU: off the runtime.
        let now = now_millis();
        let plan = tokio::task::spawn_blocking(move || {
            alloc::allocate(&lot_profiles, &partner_profiles, now)
        })
        .await
        .map_err(|e| MatchingError::Internal(format!("allocation task: {e}")))?
        .map_err(|e| MatchingError::FailedPrecondition(e.to_string()))?;
        let by_id: HashMap<String, &Lot> = lots.iter().map(|l| (l.id.to_string(), *l)).collect();
        let quantity = |lot_id: &str, units: i64| tpb::Quantity {
            unit: by_id
                .get(lot_id)
                .and_then(|l| l.unit.parse().ok())
                .unwrap_or(0),
            milli: units.saturating_mul(1000),
        };
        let name = |lot_id: &str| by_id.get(lot_id).map(|l| lot_name(l)).unwrap_or_default();
        Ok(pb::PlanAllocationResponse {
            allocations: plan
                .assignments
                .iter()
                .map(|a| pb::Allocation {
                    lot: name(&a.lot_id),
                    partner: format!("partners/{}", a.partner_id),
                    quantity: Some(quantity(&a.lot_id, a.units)),
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
                    quantity: Some(quantity(&u.lot_id, u.units)),
                    mass_g: u.mass_g,
                })
                .collect(),
            optimal: plan.optimal,
            mass_bound_g: plan.mass_bound_g,
        })
    }
}

fn page_size(requested: i32, default: usize, max: usize) -> Result<usize> {
    match usize::try_from(requested) {
        Err(_) => Err(MatchingError::Invalid(vec![
            reemploi_runtime::validation::Violation::new("page_size", "must not be negative"),
        ])),
        Ok(0) => Ok(default),
        Ok(n) => Ok(n.min(max)),
    }
}

fn own_partner(p: &Principal) -> Option<Uuid> {
    let raw = p.partner.as_deref()?;
    Uuid::try_parse(raw.strip_prefix("partners/").unwrap_or(raw)).ok()
}

/// Admins and integrators see every site; site managers their organisation's.
fn may_see_site(p: &Principal, owner_org: &str) -> Result<()> {
    match p.role {
        Role::Admin | Role::Integrator => Ok(()),
        Role::SiteManager if p.org.as_deref() == Some(owner_org) => Ok(()),
        Role::SiteManager | Role::Partner => Err(MatchingError::PermissionDenied(
            "the matches of a lot are for its site's managers".into(),
        )),
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
