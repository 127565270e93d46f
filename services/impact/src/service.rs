//! The impact service's gRPC methods: declarations by partners, figures
//! and récolements by whoever may read them.

use std::sync::Arc;

use reemploi_proto::impact as pb;
use reemploi_proto::impact::impact_service_server::ImpactService;
use reemploi_runtime::auth::{Principal, Role, caller};
use reemploi_runtime::error::ApiError;
use reemploi_runtime::idempotent;
use reemploi_runtime::names::{ClaimName, Id, LotName, SiteName};
use reemploi_runtime::service::answer;
use reemploi_runtime::wire::millis_ts;
use reemploi_store::{Db, now_millis};
use sqlx::AnyConnection;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::declare::{self, HoursInput, OutcomeInput, Parent};
use crate::error::{ImpactError, Result};
use crate::factors::Factors;
use crate::model::{Hours, Outcome, SiteReuse};
use crate::repo::{self, Scope};
use crate::rollup::recompute;

/// The impact service: its database, the factors, and the FTE divisor.
#[derive(Clone)]
pub struct Impact {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    factors: Factors,
    fte_hours_per_year: i32,
}

impl Impact {
    /// The service over a migrated database.
    pub fn new(db: Db, factors: Factors, fte_hours_per_year: i32) -> Impact {
        Impact {
            inner: Arc::new(Inner {
                db,
                factors,
                fte_hours_per_year,
            }),
        }
    }

    /// Its database.
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// The emission factors it counts with.
    pub fn factors(&self) -> &Factors {
        &self.inner.factors
    }

    /// Hours in one full-time equivalent year.
    pub fn fte_hours_per_year(&self) -> i32 {
        self.inner.fte_hours_per_year
    }

    /// Records an outcome (idempotent under `request_id`).
    pub async fn declare_outcome(
        &self,
        p: &Principal,
        req: &pb::DeclareOutcomeRequest,
    ) -> Result<pb::Outcome> {
        let input = OutcomeInput::try_from(req)?;
        let mut tx = self.db().begin_write().await?;
        repo::serialize(&mut tx, self.db()).await?;
        let id = declare::new_declaration_id();
        let key = input
            .request_id
            .as_ref()
            .map(|rid| idempotent::key(p, "declare_outcome", rid, req));
        if let Some(first) =
            idempotent::begin(&mut tx, key.as_ref(), &id.to_string(), now_millis()).await?
        {
            drop(tx);
            return match input.parent {
                Parent::Claim(claim) => self.outcome_by_id(&first, claim).await,
                Parent::Lot(lot) => self.site_reuse_by_id(&first, lot).await,
            };
        }
        let answer = match input.parent {
            Parent::Claim(name) => self.on_claim(&mut tx, p, name, id, input).await?,
            Parent::Lot(name) => {
                let (lot, mass_g) = declare::on_site(&mut tx, p, name, &input).await?;
                let reuse = SiteReuse {
                    id,
                    lot: name,
                    kind: input.kind,
                    quantity_milli: input.quantity.map(|(_, q)| q),
                    mass_g,
                    outcome_at: input.at,
                    destination: input.destination,
                    siret: input.siret,
                    created_at: now_millis(),
                };
                repo::insert_site_reuse(&mut tx, &reuse).await?;
                site_reuse_proto(&reuse, lot.unit)
            }
        };
        tx.commit().await?;
        Ok(answer)
    }

    /// An outcome of a handed-over claim, by its partner: recorded, and the
    /// claim's contribution computed again.
    async fn on_claim(
        &self,
        tx: &mut AnyConnection,
        p: &Principal,
        name: ClaimName,
        id: Uuid,
        input: OutcomeInput,
    ) -> Result<pb::Outcome> {
        let claim = declare::own_handed_over(tx, p, name).await?;
        let mass_g = declare::checked_mass(tx, &claim, &input).await?;
        let outcome = Outcome {
            id,
            claim: name,
            partner_id: claim.partner_id,
            kind: input.kind,
            quantity_milli: input.quantity.map(|(_, q)| q),
            mass_g,
            outcome_at: input.at,
            destination: input.destination,
            siret: input.siret,
            created_at: now_millis(),
        };
        repo::insert_outcome(tx, &outcome).await?;
        recompute(tx, self.factors(), claim.id).await?;
        Ok(outcome_proto(&outcome, input.quantity.map(|(u, _)| u)))
    }

    async fn site_reuse_by_id(&self, id: &str, lot: LotName) -> Result<pb::Outcome> {
        let mut conn = self.db().pool().acquire().await?;
        let unit = repo::lot(&mut conn, lot)
            .await?
            .map(|l| l.unit)
            .unwrap_or_default();
        repo::site_reuse_rows(&mut conn, lot.site)
            .await?
            .into_iter()
            .find(|r| r.id.to_string() == id)
            .map(|r| site_reuse_proto(&r, unit))
            .ok_or_else(|| ApiError::Internal(format!("recorded reuse {id} is gone")).into())
    }

    /// Records insertion work (idempotent under `request_id`).
    pub async fn declare_hours(
        &self,
        p: &Principal,
        req: &pb::DeclareHoursRequest,
    ) -> Result<pb::HoursDeclaration> {
        let input = HoursInput::try_from(req)?;
        let mut tx = self.db().begin_write().await?;
        repo::serialize(&mut tx, self.db()).await?;
        let id = declare::new_declaration_id();
        let key = input
            .request_id
            .as_ref()
            .map(|rid| idempotent::key(p, "declare_hours", rid, req));
        if let Some(first) =
            idempotent::begin(&mut tx, key.as_ref(), &id.to_string(), now_millis()).await?
        {
            drop(tx);
            return self.hours_by_id(&first, input.claim).await;
        }
        let claim = declare::own_handed_over(&mut tx, p, input.claim).await?;
        let hours = Hours {
            id,
            claim: input.claim,
            partner_id: claim.partner_id,
            activity: input.activity,
            minutes: input.minutes,
            people: i64::from(input.people),
            work_at: input.at,
            created_at: now_millis(),
        };
        repo::insert_hours(&mut tx, &hours).await?;
        recompute(&mut tx, self.factors(), claim.id).await?;
        tx.commit().await?;
        Ok(hours_proto(&hours))
    }

    async fn outcome_by_id(&self, id: &str, claim: ClaimName) -> Result<pb::Outcome> {
        let mut conn = self.db().pool().acquire().await?;
        let unit = claim_unit(&mut conn, claim).await?;
        repo::outcomes(&mut conn, Scope::Claim(claim.claim))
            .await?
            .into_iter()
            .find(|o| o.id.to_string() == id)
            .map(|o| outcome_proto(&o, unit))
            .ok_or_else(|| ApiError::Internal(format!("recorded outcome {id} is gone")).into())
    }

    async fn hours_by_id(&self, id: &str, claim: ClaimName) -> Result<pb::HoursDeclaration> {
        let mut conn = self.db().pool().acquire().await?;
        repo::hours(&mut conn, Scope::Claim(claim.claim))
            .await?
            .into_iter()
            .find(|h| h.id.to_string() == id)
            .map(|h| hours_proto(&h))
            .ok_or_else(|| ApiError::Internal(format!("recorded hours {id} are gone")).into())
    }

    /// The declarations the caller asks for and may read.
    pub async fn list_declarations(
        &self,
        p: &Principal,
        req: &pb::ListDeclarationsRequest,
    ) -> Result<pb::ListDeclarationsResponse> {
        let mut conn = self.db().pool().acquire().await?;
        let scope = self.declarations_scope(&mut conn, p, req).await?;
        let own = p.own_partner();
        let mut outcomes = repo::outcomes(&mut conn, scope).await?;
        let mut hours = repo::hours(&mut conn, scope).await?;
        // A partner reading a site sees its own declarations there only.
        if let Some(own) = own {
            outcomes.retain(|o| o.partner_id == own);
            hours.retain(|h| h.partner_id == own);
        }
        let mut units = std::collections::HashMap::new();
        let mut answer = pb::ListDeclarationsResponse::default();
        for o in &outcomes {
            let unit = match units.get(&o.claim.lot.lot) {
                Some(u) => *u,
                None => {
                    let u = claim_unit(&mut conn, o.claim).await?;
                    units.insert(o.claim.lot.lot, u);
                    u
                }
            };
            answer.outcomes.push(outcome_proto(o, unit));
        }
        answer.hours = hours.iter().map(hours_proto).collect();
        Ok(answer)
    }

    async fn declarations_scope(
        &self,
        conn: &mut AnyConnection,
        p: &Principal,
        req: &pb::ListDeclarationsRequest,
    ) -> Result<Scope> {
        match (req.claim.is_empty(), req.site.is_empty()) {
            (false, false) => {
                Err(ApiError::invalid("site", "give a claim or a site, not both").into())
            }
            (false, true) => {
                let name = ClaimName::parse("claim", &req.claim)?;
                let claim = repo::claim(conn, name.claim)
                    .await?
                    .filter(|c| c.name() == name)
                    .ok_or_else(|| ApiError::not_found("claim", req.claim.clone()))?;
                let readable = match p.role {
                    Role::Admin | Role::Integrator => true,
                    Role::Partner => p.own_partner() == Some(claim.partner_id),
                    Role::SiteManager => self.site_of_org(conn, p, claim.site_id).await?,
                };
                if !readable {
                    return Err(ApiError::not_found("claim", req.claim.clone()).into());
                }
                Ok(Scope::Claim(name.claim))
            }
            (true, false) => {
                let site = SiteName::parse("site", &req.site)?.0;
                let readable = match p.role {
                    Role::Admin | Role::Integrator | Role::Partner => true,
                    Role::SiteManager => self.site_of_org(conn, p, site).await?,
                };
                if !readable {
                    return Err(ApiError::not_found("site", req.site.clone()).into());
                }
                Ok(Scope::Site(site))
            }
            (true, true) => match p.own_partner() {
                Some(own) => Ok(Scope::Partner(own)),
                None => Err(ApiError::invalid("site", "give a claim or a site").into()),
            },
        }
    }

    /// Whether `site` belongs to the site manager's organisation.
    pub async fn site_of_org(
        &self,
        conn: &mut AnyConnection,
        p: &Principal,
        site: Id,
    ) -> Result<bool> {
        let site = repo::site(conn, site).await?;
        Ok(site.is_some_and(|s| Some(&s.owner_org) == p.org.as_ref()))
    }
}

/// The unit of a claim's lot (`0` while the lot is unknown).
async fn claim_unit(conn: &mut AnyConnection, claim: ClaimName) -> Result<Option<i32>> {
    Ok(repo::lot(conn, claim.lot).await?.map(|l| l.unit))
}

fn outcome_proto(o: &Outcome, unit: Option<i32>) -> pb::Outcome {
    pb::Outcome {
        name: format!("{}/outcomes/{}", o.claim, o.id),
        kind: o.kind.into(),
        quantity: o
            .quantity_milli
            .map(|milli| reemploi_proto::types::Quantity {
                unit: unit.unwrap_or_default(),
                milli,
            }),
        mass_g: o.mass_g,
        outcome_time: Some(millis_ts(o.outcome_at)),
        destination: o.destination.clone(),
        destination_siret: o.siret.clone(),
        partner: format!("partners/{}", o.partner_id),
        create_time: Some(millis_ts(o.created_at)),
    }
}

fn site_reuse_proto(r: &SiteReuse, unit: i32) -> pb::Outcome {
    pb::Outcome {
        name: format!("{}/outcomes/{}", r.lot, r.id),
        kind: r.kind.into(),
        quantity: r
            .quantity_milli
            .map(|milli| reemploi_proto::types::Quantity { unit, milli }),
        mass_g: r.mass_g,
        outcome_time: Some(millis_ts(r.outcome_at)),
        destination: r.destination.clone(),
        destination_siret: r.siret.clone(),
        partner: String::new(),
        create_time: Some(millis_ts(r.created_at)),
    }
}

fn hours_proto(h: &Hours) -> pb::HoursDeclaration {
    pb::HoursDeclaration {
        name: format!("{}/hours/{}", h.claim, h.id),
        activity: h.activity.into(),
        minutes: h.minutes,
        people: i32::try_from(h.people).unwrap_or(i32::MAX),
        work_time: Some(millis_ts(h.work_at)),
        partner: format!("partners/{}", h.partner_id),
        create_time: Some(millis_ts(h.created_at)),
    }
}

type Reply<T> = std::result::Result<Response<T>, Status>;

#[tonic::async_trait]
impl ImpactService for Impact {
    #[tracing::instrument(skip_all, fields(rpc = "DeclareOutcome"))]
    async fn declare_outcome(&self, req: Request<pb::DeclareOutcomeRequest>) -> Reply<pb::Outcome> {
        let (p, r) = caller(req)?;
        answer::<_, ImpactError>(Impact::declare_outcome(self, &p, &r)).await
    }

    #[tracing::instrument(skip_all, fields(rpc = "DeclareHours"))]
    async fn declare_hours(
        &self,
        req: Request<pb::DeclareHoursRequest>,
    ) -> Reply<pb::HoursDeclaration> {
        let (p, r) = caller(req)?;
        answer::<_, ImpactError>(Impact::declare_hours(self, &p, &r)).await
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListDeclarations"))]
    async fn list_declarations(
        &self,
        req: Request<pb::ListDeclarationsRequest>,
    ) -> Reply<pb::ListDeclarationsResponse> {
        let (p, r) = caller(req)?;
        answer::<_, ImpactError>(Impact::list_declarations(self, &p, &r)).await
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetImpactSummary"))]
    async fn get_impact_summary(
        &self,
        req: Request<pb::GetImpactSummaryRequest>,
    ) -> Reply<pb::ImpactSummary> {
        let (p, r) = caller(req)?;
        answer::<_, ImpactError>(self.summary(&p, &r)).await
    }

    #[tracing::instrument(skip_all, fields(rpc = "ExportRecolement"))]
    async fn export_recolement(
        &self,
        req: Request<pb::ExportRecolementRequest>,
    ) -> Reply<pb::Recolement> {
        let (p, r) = caller(req)?;
        answer::<_, ImpactError>(self.recolement(&p, &r)).await
    }
}
