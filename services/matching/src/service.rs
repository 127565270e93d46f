//! Matching: applies inventory and registry events to its projections,
//! proposes the best partners for each lot on offer (once per pair), and
//! answers queries from an in-memory index kept fresh from the projections.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use reemploi_events::outbox::Relay;
use reemploi_matching_engine::alloc;
use reemploi_matching_engine::capacity::Horizon;
use reemploi_matching_engine::index::Index;
use reemploi_matching_engine::profile::{LotProfile, PartnerProfile};
use reemploi_matching_engine::score::{Scored, Scorer};
use reemploi_proto::matching as pb;
use reemploi_proto::matching::matching_service_server::MatchingService;
use reemploi_proto::types as tpb;
use reemploi_runtime::auth::{Principal, Role, caller};
use reemploi_runtime::error::ApiError;
use reemploi_runtime::names::{LotName, SiteName, parse};
use reemploi_runtime::paging::Pager;
use reemploi_runtime::service::answer;
use reemploi_runtime::validation::Violation;
use reemploi_store::cursor::ChangeCursor;
use reemploi_store::{Db, now_millis};
use sqlx::AnyConnection;
use tokio::sync::Mutex;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::error::{MatchingError, Result};
use crate::model::{Lot, Partner};
use crate::needs;
use crate::repo;

/// The engine index over the lots on offer and the verified partners, with
/// the position in the change log it reflects.
pub(crate) struct Live {
    pub(crate) index: Index,
    pub(crate) lot_names: HashMap<String, String>,
    /// The open needs, by family.
    pub(crate) needs: needs::OpenNeeds,
    cursor: ChangeCursor,
}

/// The matching service core.
#[derive(Clone)]
pub struct Matching {
    pub(crate) db: Db,
    pub(crate) relay: Relay,
    pub(crate) pager: Pager,
    live: Arc<RwLock<Live>>,
    refreshing: Arc<Mutex<()>>,
}

fn lock_poisoned() -> MatchingError {
    ApiError::Internal("index lock poisoned".into()).into()
}

fn lot_name(l: &Lot) -> String {
    l.name().to_string()
}

pub(crate) async fn partner_profile(
    conn: &mut AnyConnection,
    p: &Partner,
) -> Result<Option<PartnerProfile>> {
    let committed = repo::committed_g(conn, p.id).await?;
    Ok(p.profile(committed))
}

impl Matching {
    /// Builds the index from the projections held in `db`.
    pub async fn new(db: Db, relay: Relay, pager: Pager) -> Result<Matching> {
        let mut conn = db.pool().acquire().await?;
        // Re-read a little of the log's tail at the first refresh: changes
        // numbered just below the end may still have been committing.
        let cursor = ChangeCursor::new((repo::last_change(&mut conn).await? - 100).max(0));
        let lots = repo::lots_on_offer(&mut conn).await?;
        let mut partners = Vec::new();
        for p in repo::verified_partners(&mut conn).await? {
            partners.extend(partner_profile(&mut conn, &p).await?);
        }
        let lot_names = lots.iter().map(|l| (l.name().key(), lot_name(l))).collect();
        let open_needs = needs::OpenNeeds::load(&mut conn, now_millis()).await?;
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
                needs: open_needs,
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
        let read = repo::changes_after(&mut conn, cursor.after()).await?;
        let fresh: HashSet<i64> = cursor
            .take(read.iter().map(|c| c.0), std::time::Instant::now())
            .into_iter()
            .collect();
        let mut touched: Vec<(String, String)> = read
            .into_iter()
            .filter(|c| fresh.contains(&c.0))
            .map(|(_, entity, id)| (entity, id))
            .collect();
        touched.sort();
        touched.dedup();
        // Needs come in bursts (a structure's, an import's): read at once.
        let (need_ids, others): (Vec<_>, Vec<_>) = touched
            .into_iter()
            .partition(|(entity, _)| entity == "need");
        let ids: Vec<Uuid> = need_ids
            .iter()
            .filter_map(|(_, id)| Uuid::try_parse(id).ok())
            .collect();
        let read = needs::by_ids(&mut conn, &ids).await?;
        for id in ids {
            self.set_need(id, read.get(&id).cloned())?;
        }
        for (entity, id) in &others {
            self.reload(&mut conn, entity, id).await?;
        }
        self.live.write().map_err(|_| lock_poisoned())?.cursor = cursor;
        Ok(())
    }

    /// Puts in the index what the projection holds now of one entity,
    /// named as [`repo::record_change`] records it. A change recorded
    /// before lots were keyed by site (a bare lot id) is left for the
    /// start-up's full read to have covered.
    pub(crate) async fn reload(
        &self,
        conn: &mut AnyConnection,
        entity: &str,
        id: &str,
    ) -> Result<()> {
        match entity {
            "lot" => match LotName::from_key(id) {
                Some(name) => {
                    let lot = repo::lot(conn, name).await?;
                    self.set_lot(name, lot.as_ref())
                }
                None => Ok(()),
            },
            "need" => {
                let Ok(id) = Uuid::try_parse(id) else {
                    return Err(ApiError::Internal(format!("change of need {id:?}")).into());
                };
                let need = needs::by_id(conn, id).await?;
                self.set_need(id, need)
            }
            _ => {
                let Ok(id) = Uuid::try_parse(id) else {
                    return Err(ApiError::Internal(format!("change of partner {id:?}")).into());
                };
                let profile = match repo::partner(conn, id).await? {
                    Some(p) if p.status == "verified" => partner_profile(conn, &p).await?,
                    Some(_) | None => None,
                };
                self.set_partner(id, profile).map(|_| ())
            }
        }
    }

    /// Holds a need as it is now in the open needs.
    pub(crate) fn set_need(&self, id: Uuid, need: Option<needs::Need>) -> Result<()> {
        let mut live = self.live.write().map_err(|_| lock_poisoned())?;
        live.needs.set(id, need);
        Ok(())
    }

    pub(crate) fn set_lot(&self, name: LotName, lot: Option<&Lot>) -> Result<()> {
        let mut live = self.live.write().map_err(|_| lock_poisoned())?;
        let key = name.key();
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
    pub(crate) fn set_partner(
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

    pub(crate) fn read<T>(&self, f: impl FnOnce(&Live) -> T) -> Result<T> {
        let live = self.live.read().map_err(|_| lock_poisoned())?;
        Ok(f(&live))
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
            let site = SiteName::parse("site", &req.site)?.0;
            return repo::site_lots(conn, site).await;
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
            let lot_name = LotName::parse(&format!("lots[{i}]"), name)?;
            let lot = repo::lot(conn, lot_name)
                .await?
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

/// A plan's horizon when the request gives none: 12 weeks, a season of
/// works, over which structures plan their intake.
pub const DEFAULT_HORIZON_DAYS: i32 = 84;

/// The longest horizon a plan may have: a year (and a day).
pub const MAX_HORIZON_DAYS: i32 = 366;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// The horizon a plan request asks for, in days.
fn horizon_days(requested: i32) -> Result<i32> {
    match requested {
        0 => Ok(DEFAULT_HORIZON_DAYS),
        1..=MAX_HORIZON_DAYS => Ok(requested),
        _ => Err(ApiError::Invalid(vec![Violation::new(
            "horizon_days",
            format!("between 1 and {MAX_HORIZON_DAYS} days, or 0 for {DEFAULT_HORIZON_DAYS}"),
        )])
        .into()),
    }
}

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
        return repo::verified_partners(conn).await;
    }
    let mut partners = Vec::new();
    for (i, name) in distinct("partners", names)? {
        let id = parse(&format!("partners[{i}]"), name, "partners/{partner}")?[0];
        let partner = repo::partner(conn, id)
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
    partners: &[PartnerProfile],
) -> pb::PlanAllocationResponse {
    let by_id: HashMap<String, &Lot> = weighed.iter().map(|l| (l.name().key(), *l)).collect();
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
        capacities: plan
            .partners
            .iter()
            .map(|u| partner_capacity(u, partners))
            .collect(),
        horizon_days: 0,
    }
}

/// What a plan uses of a partner's capacity, as the API says it.
fn partner_capacity(u: &alloc::PartnerUse, partners: &[PartnerProfile]) -> pb::PartnerCapacity {
    let weekly_intake_g = partners
        .iter()
        .find(|p| p.id == u.partner_id)
        .map_or(0, |p| p.weekly_intake_g);
    pb::PartnerCapacity {
        partner: format!("partners/{}", u.partner_id),
        weekly_intake_kg: weekly_intake_g / 1000,
        window_seconds: u.capacity.window_ms / 1000,
        intake_g: u.capacity.intake_g,
        held_g: u.capacity.held_g,
        capacity_g: u.capacity.capacity_g,
        used_g: u.used_g,
        left_g: u.left_g(),
    }
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

/// A ranked pair as the API says it; `need`: the lot meets an open need
/// of the partner.
pub(crate) fn to_match(s: &Scored, lot: String, need: bool) -> pb::Match {
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
            need: if need { 1.0 } else { 0.0 },
        }),
        distance_m: s.distance_m.round() as i64,
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
            let name = LotName::parse("lot", &req.lot)?;
            let size = page_size(req.page_size, 10, 100)?;
            self.refresh().await?;
            let mut conn = self.db.pool().acquire().await?;
            let lot = repo::lot(&mut conn, name)
                .await?
                .ok_or_else(|| ApiError::NotFound {
                    kind: "lot",
                    name: req.lot.clone(),
                })?;
            may_see_site(p, &lot.owner_org)?;
            let now = now_millis();
            let matches = match lot.profile().filter(|_| lot.on_offer()) {
                Some(profile) => {
                    // The structures whose open need the lot meets first.
                    self.read(|live| {
                        let met = live.needs.met_by(&lot, now);
                        let top = live.index.top_partners(&profile, size, now);
                        needs::needs_first(&live.index, &profile, &met, top, now)
                    })?
                }
                None => Vec::new(),
            };
            Ok(pb::ListLotMatchesResponse {
                matches: matches
                    .iter()
                    .take(size)
                    .map(|(s, need)| to_match(s, req.lot.clone(), *need))
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
                repo::partner(&mut conn, id)
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
                    .map(|s| {
                        let name = names.get(&s.lot_id).cloned().unwrap_or_default();
                        to_match(s, name, false)
                    })
                    .collect(),
                next_page_token,
            })
        })
        .await
    }

    /// ListProposals: the proposals made to a partner, or of a site's lots.
    async fn list_proposals(
        &self,
        request: Request<pb::ListProposalsRequest>,
    ) -> Reply<pb::ListProposalsResponse> {
        let (p, req) = caller(request)?;
        answer(self.list_proposals_as(&p, &req)).await
    }

    /// DeclineProposal: the partner will not take that lot.
    async fn decline_proposal(
        &self,
        request: Request<pb::DeclineProposalRequest>,
    ) -> Reply<pb::MatchProposal> {
        let (p, req) = caller(request)?;
        answer(self.decline_proposal_as(&p, &req)).await
    }

    /// CreateNeed: a structure says what it looks for.
    async fn create_need(&self, request: Request<pb::CreateNeedRequest>) -> Reply<pb::Need> {
        let (p, req) = caller(request)?;
        answer(self.create_need_as(&p, &req)).await
    }

    /// UpdateNeed: a structure changes one of its needs.
    async fn update_need(&self, request: Request<pb::UpdateNeedRequest>) -> Reply<pb::Need> {
        let (p, req) = caller(request)?;
        answer(self.update_need_as(&p, &req)).await
    }

    /// CloseNeed: a structure no longer looks for it.
    async fn close_need(&self, request: Request<pb::CloseNeedRequest>) -> Reply<pb::Need> {
        let (p, req) = caller(request)?;
        answer(self.close_need_as(&p, &req)).await
    }

    /// ListNeeds: needs as the caller may see them.
    async fn list_needs(
        &self,
        request: Request<pb::ListNeedsRequest>,
    ) -> Reply<pb::ListNeedsResponse> {
        let (p, req) = caller(request)?;
        answer(self.list_needs_as(&p, &req)).await
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
            let days = horizon_days(req.horizon_days)?;
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
            let horizon = Horizon::from_now(now_millis(), i64::from(days) * DAY_MS);
            let (plan, partner_profiles) = tokio::task::spawn_blocking(move || {
                let plan = alloc::allocate(&lot_profiles, &partner_profiles, horizon);
                (plan, partner_profiles)
            })
            .await
            .map_err(|e| ApiError::Internal(format!("allocation task: {e}")))?;
            let plan =
                plan.map_err(|e| ApiError::precondition("NOT_ALLOCATABLE", e.to_string()))?;
            Ok(pb::PlanAllocationResponse {
                horizon_days: days,
                ..plan_response(&plan, &weighed, &massless, &partner_profiles)
            })
        })
        .await
    }
}
