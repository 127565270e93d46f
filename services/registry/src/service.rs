//! The registry's operations, each one transaction: validate, authorize,
//! apply the partner lifecycle, write, and record the event in the outbox.

use std::sync::Arc;

use reemploi_domain::category::{self, Category};
use reemploi_domain::geo::GeoPoint;
use reemploi_domain::partner::{self, PartnerAction, PartnerKind, PartnerStatus};
use reemploi_events::Message;
use reemploi_events::outbox::Relay;
use reemploi_proto::registry as pb;
use reemploi_proto::registry::registry_service_server::RegistryService;
use reemploi_runtime::auth::{Principal, Role, caller};
use reemploi_runtime::error::ApiError;
use reemploi_runtime::idempotent;
use reemploi_runtime::mask::{self, Updatable};
use reemploi_runtime::names::{new_id, parse};
use reemploi_runtime::paging::Pager;
use reemploi_runtime::service::answer;
use reemploi_runtime::validation::{self, Check, Violation, request_id};
use reemploi_runtime::wire::etag_allows;
use reemploi_store::query::{Filter, select_kept};
use reemploi_store::{Db, now_millis};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::error::{RegistryError, Result};
use crate::events::partner_event;
use crate::model::{PartnerRow, Profile, kind_from_proto, status_filter};
use crate::repo::{self, PARTNER_COLUMNS};

/// Most partners in one BatchRegisterPartners.
pub const MAX_BATCH: usize = 1000;

/// The registry: its database and its outbox relay.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    relay: Relay,
    pager: Pager,
}

fn denied(what: &str) -> RegistryError {
    ApiError::PermissionDenied(what.to_string()).into()
}

fn admin_only(p: &Principal) -> Result<()> {
    match p.role {
        Role::Admin => Ok(()),
        Role::SiteManager | Role::Partner | Role::Integrator => {
            Err(denied("only territory admins do this"))
        }
    }
}

fn partner_name(field: &str, name: &str) -> Result<Uuid> {
    Ok(parse(field, name, "partners/{partner}")?[0])
}

impl Registry {
    /// A registry over a migrated database, publishing through `relay`.
    pub fn new(db: Db, relay: Relay, pager: Pager) -> Registry {
        Registry {
            inner: Arc::new(Inner { db, relay, pager }),
        }
    }

    async fn commit(
        &self,
        tx: sqlx::Transaction<'static, sqlx::Any>,
        events: &[Message],
    ) -> Result<()> {
        Ok(self.inner.relay.commit(tx, events).await?)
    }

    async fn by_id(&self, id: Uuid) -> Result<PartnerRow> {
        let mut conn = self.inner.db.pool().acquire().await?;
        repo::get(&mut conn, id, None)
            .await?
            .ok_or_else(|| ApiError::not_found("partner", format!("partners/{id}")).into())
    }

    fn new_row(id: Uuid, profile: Profile, now: i64) -> PartnerRow {
        PartnerRow {
            id,
            profile,
            status: PartnerStatus::Pending,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    /// Verify, Suspend, Reinstate, Archive: admin only.
    pub async fn change_status(
        &self,
        p: &Principal,
        name: &str,
        etag: &str,
        action: PartnerAction,
    ) -> Result<pb::Partner> {
        admin_only(p)?;
        let id = partner_name("name", name)?;
        let mut tx = self.inner.db.begin_write().await?;
        let current = repo::get(&mut tx, id, Some(self.inner.db.backend()))
            .await?
            .ok_or_else(|| ApiError::not_found("partner", name.to_string()))?;
        if !etag_allows(etag, current.version) {
            return Err(ApiError::StaleEtag {
                name: name.to_string(),
            }
            .into());
        }
        let mut row = current.clone();
        row.status = partner::transition(current.status, action)?;
        row.version += 1;
        row.updated_at = now_millis();
        repo::save(&mut tx, &row, Some(current.version)).await?;
        let event = match action {
            PartnerAction::Verify => "verified",
            PartnerAction::Suspend => "suspended",
            PartnerAction::Reinstate => "reinstated",
            PartnerAction::Archive => "archived",
        };
        self.commit(tx, &[partner_event(&row, event)]).await?;
        Ok(row.to_proto())
    }
}

fn visible(p: &Principal, row: &PartnerRow) -> bool {
    match p.role {
        Role::Admin | Role::Integrator => true,
        Role::Partner => row.status == PartnerStatus::Verified || p.own_partner() == Some(row.id),
        Role::SiteManager => row.status == PartnerStatus::Verified,
    }
}

/// What UpdatePartner may change, and how.
const UPDATABLE: Updatable<pb::Partner> = Updatable(&[
    ("legal_name", |c, p| c.legal_name = p.legal_name.clone()),
    ("trade_name", |c, p| c.trade_name = p.trade_name.clone()),
    ("siret", |c, p| c.siret = p.siret.clone()),
    ("kinds", |c, p| c.kinds = p.kinds.clone()),
    ("address", |c, p| c.address = p.address.clone()),
    ("location", |c, p| c.location = p.location),
    ("accepted_categories", |c, p| {
        c.accepted_categories = p.accepted_categories.clone()
    }),
    ("capabilities", |c, p| {
        c.capabilities = p.capabilities.clone()
    }),
    ("storage_capacity_kg", |c, p| {
        c.storage_capacity_kg = p.storage_capacity_kg
    }),
    ("weekly_intake_kg", |c, p| {
        c.weekly_intake_kg = p.weekly_intake_kg
    }),
    ("service_radius_km", |c, p| {
        c.service_radius_km = p.service_radius_km
    }),
    ("insertion_fte_centi", |c, p| {
        c.insertion_fte_centi = p.insertion_fte_centi
    }),
    ("contact", |c, p| c.contact = p.contact.clone()),
    ("opening_hours", |c, p| {
        c.opening_hours = p.opening_hours.clone()
    }),
]);

/// The filters of a ListPartners request, validated.
struct PartnerQuery {
    kind: Option<PartnerKind>,
    category: Option<&'static Category>,
    status: Option<PartnerStatus>,
    near: Option<GeoPoint>,
    radius_m: i64,
    text: String,
}

impl PartnerQuery {
    fn parse(req: &pb::ListPartnersRequest) -> Result<PartnerQuery> {
        let mut c = Check::new("");
        let kind = match pb::PartnerKind::try_from(req.kind) {
            Ok(pb::PartnerKind::Unspecified) => None,
            _ => c.ok(kind_from_proto(req.kind).map_err(|_| {
                reemploi_domain::DomainError::invalid("kind", format!("unknown kind {}", req.kind))
            })),
        };
        let category = if req.category.is_empty() {
            None
        } else {
            c.ok(category::parse(&req.category))
        };
        let near = validation::near_filter(&mut c, req.near.as_ref(), req.radius_m);
        let text = validation::search_text(&mut c, &req.text);
        c.finish()?;
        Ok(PartnerQuery {
            kind,
            category,
            status: status_filter(req.status)?,
            near,
            radius_m: req.radius_m,
            text,
        })
    }

    /// What a page token is bound to.
    fn fingerprint(&self) -> String {
        format!(
            "kind={:?}|cat={:?}|near={:?}|r={}|status={:?}|text={}",
            self.kind,
            self.category.map(|c| c.code),
            self.near.map(|g| (g.latitude(), g.longitude())),
            self.radius_m,
            self.status,
            self.text,
        )
    }

    /// The SQL filter for `p`, after the id `after`: others see verified
    /// partners only, a partner its own profile too.
    fn filter(&self, p: &Principal, after: Option<&str>) -> Result<Filter> {
        let mut f = Filter::default();
        if let Some(k) = self.kind {
            f.add("(',' || kinds || ',') LIKE ?", format!("%,{},%", k.code()))?;
        }
        if let Some(cat) = self.category {
            f.add(
                "(',' || accepted_categories || ',') LIKE ?",
                format!("%,{},%", cat.code),
            )?;
        }
        if let Some(s) = self.status {
            f.add("status = ?", s.as_str().to_string())?;
        }
        if !self.text.is_empty() {
            f.add(
                "search_text LIKE ? ESCAPE '\\'",
                validation::like_contains(&self.text),
            )?;
        }
        if let Some(center) = self.near {
            f.near(center.latitude(), center.longitude(), self.radius_m as f64)?;
        }
        match p.role {
            Role::Admin | Role::Integrator => {}
            Role::Partner => {
                let own = p.own_partner().map(|u| u.to_string()).unwrap_or_default();
                f.add("(status = 'verified' OR id = ?)", own)?;
            }
            Role::SiteManager => f.raw("status = 'verified'"),
        }
        if let Some(after) = after {
            f.add("id > ?", after.to_string())?;
        }
        Ok(f)
    }

    /// Whether a partner the box of `near` let through lies within the radius.
    fn within(&self, row: &PartnerRow) -> bool {
        match self.near {
            Some(center) => row.profile.location.distance_m(center) <= self.radius_m as f64,
            None => true,
        }
    }
}

/// The reply of a gRPC method.
type Reply<T> = std::result::Result<Response<T>, Status>;

fn stored_id(id: &str) -> Result<Uuid> {
    Uuid::try_parse(id).map_err(|e| ApiError::Internal(format!("stored id {id}: {e}")).into())
}

#[tonic::async_trait]
impl RegistryService for Registry {
    /// RegisterPartner: a partner registers its own structure (under the id
    /// its token names); an admin registers any.
    async fn register_partner(
        &self,
        request: Request<pb::RegisterPartnerRequest>,
    ) -> Reply<pb::Partner> {
        let (p, req) = caller(request)?;
        let p = &p;
        answer::<_, RegistryError>(async move {
            let id = match p.role {
                Role::Admin => new_id(),
                Role::Partner => p
                    .own_partner()
                    .ok_or_else(|| denied("the token names no partner id"))?,
                Role::SiteManager | Role::Integrator => {
                    return Err(denied(
                        "partners register their own structure; admins register any",
                    ));
                }
            };
            let mut c = Check::new("");
            let key = request_id(&mut c, &req.request_id, false)
                .map(|rid| idempotent::key(p, "register", &rid, &req));
            c.finish()?;
            let profile = Profile::validate(&req.partner.unwrap_or_default(), "partner")?;
            let now = now_millis();
            let row = Self::new_row(id, profile, now);
            let mut tx = self.inner.db.begin_write().await?;
            if let Some(done) =
                idempotent::begin(&mut tx, key.as_ref(), &id.to_string(), now).await?
            {
                drop(tx);
                return Ok(self.by_id(stored_id(&done)?).await?.to_proto());
            }
            if repo::get(&mut tx, id, Some(self.inner.db.backend()))
                .await?
                .is_some()
            {
                return Err(ApiError::FailedPrecondition {
                    reason: "ALREADY_REGISTERED",
                    message: format!("partners/{id} is already registered"),
                }
                .into());
            }
            let siret = row.profile.siret.as_str().to_string();
            if repo::siret_taken(&mut tx, &siret, None).await? {
                return Err(RegistryError::SiretTaken(siret));
            }
            // On PostgreSQL a concurrent registration of the same SIRET waits on
            // the unique index and then fails here: it lost the race.
            repo::save(&mut tx, &row, None).await.map_err(|e| match e {
                RegistryError::Api(ApiError::Conflict) => RegistryError::SiretTaken(siret.clone()),
                other => other,
            })?;
            self.commit(tx, &[partner_event(&row, "registered")])
                .await
                .map_err(|e| match e {
                    RegistryError::Api(ApiError::Conflict) => RegistryError::SiretTaken(siret),
                    other => other,
                })?;
            Ok(row.to_proto())
        })
        .await
    }

    /// BatchRegisterPartners: admin only; all or nothing, every bad row reported.
    async fn batch_register_partners(
        &self,
        request: Request<pb::BatchRegisterPartnersRequest>,
    ) -> Reply<pb::BatchRegisterPartnersResponse> {
        let (p, req) = caller(request)?;
        let p = &p;
        answer::<_, RegistryError>(async move {
            admin_only(p)?;
            let mut c = Check::new("");
            let rid = request_id(&mut c, &req.request_id, false);
            if req.requests.is_empty() {
                c.fail("requests", "at least one partner");
            }
            if req.requests.len() > MAX_BATCH {
                c.fail(
                    "requests",
                    format!("at most {MAX_BATCH} partners per batch"),
                );
            }
            c.finish()?;
            let now = now_millis();
            let mut violations = Vec::new();
            let mut rows: Vec<PartnerRow> = Vec::new();
            for (i, r) in req.requests.iter().enumerate() {
                let prefix = format!("requests[{i}].partner");
                match Profile::validate(&r.partner.clone().unwrap_or_default(), &prefix) {
                    Ok(profile) => {
                        if rows.iter().any(|row| row.profile.siret == profile.siret) {
                            violations.push(Violation::new(
                                format!("{prefix}.siret"),
                                "repeated in this batch",
                            ));
                        }
                        rows.push(Self::new_row(new_id(), profile, now));
                    }
                    Err(RegistryError::Api(ApiError::Invalid(mut v))) => violations.append(&mut v),
                    Err(other) => return Err(other),
                }
            }
            if !violations.is_empty() {
                return Err(ApiError::Invalid(violations).into());
            }
            let key = rid.map(|rid| idempotent::key(p, "batch_register", &rid, &req));
            let ids: Vec<String> = rows.iter().map(|r| r.id.to_string()).collect();
            let mut tx = self.inner.db.begin_write().await?;
            if let Some(ids) = idempotent::begin(&mut tx, key.as_ref(), &ids.join(","), now).await?
            {
                drop(tx);
                let mut partners = Vec::new();
                for id in ids.split(',').filter(|s| !s.is_empty()) {
                    partners.push(self.by_id(stored_id(id)?).await?.to_proto());
                }
                return Ok(pb::BatchRegisterPartnersResponse { partners });
            }
            let mut taken = Vec::new();
            for (i, row) in rows.iter().enumerate() {
                if repo::siret_taken(&mut tx, row.profile.siret.as_str(), None).await? {
                    taken.push(format!("{} (requests[{i}])", row.profile.siret.as_str()));
                }
            }
            if !taken.is_empty() {
                return Err(RegistryError::SiretTaken(taken.join(", ")));
            }
            let mut events = Vec::with_capacity(rows.len());
            for row in &rows {
                repo::save(&mut tx, row, None).await?;
                events.push(partner_event(row, "registered"));
            }
            self.commit(tx, &events).await?;
            Ok(pb::BatchRegisterPartnersResponse {
                partners: rows.iter().map(PartnerRow::to_proto).collect(),
            })
        })
        .await
    }

    /// GetPartner. Partners that are not verified are visible to admins,
    /// integrators and themselves only.
    async fn get_partner(&self, request: Request<pb::GetPartnerRequest>) -> Reply<pb::Partner> {
        let (p, req) = caller(request)?;
        let p = &p;
        answer::<_, RegistryError>(async move {
            let id = partner_name("name", &req.name)?;
            match self.by_id(id).await {
                Ok(row) if visible(p, &row) => Ok(row.to_proto()),
                Ok(_) | Err(RegistryError::Api(ApiError::NotFound { .. })) => {
                    Err(ApiError::not_found("partner", req.name).into())
                }
                Err(e) => Err(e),
            }
        })
        .await
    }

    /// ListPartners.
    async fn list_partners(
        &self,
        request: Request<pb::ListPartnersRequest>,
    ) -> Reply<pb::ListPartnersResponse> {
        let (p, req) = caller(request)?;
        let p = &p;
        answer::<_, RegistryError>(async move {
            let query = PartnerQuery::parse(&req)?;
            let page =
                self.inner
                    .pager
                    .page(req.page_size, &req.page_token, &query.fingerprint())?;
            let mut conn = self.inner.db.pool().acquire().await?;
            let mut found: Vec<PartnerRow> = select_kept(
                &mut conn,
                "partners",
                PARTNER_COLUMNS,
                page.size,
                page.after.clone(),
                |after| query.filter(p, after),
                |row| PartnerRow::from_row(row).map(|r| (r.id.to_string(), r)),
                |row| query.within(row),
            )
            .await?
            .into_iter()
            .map(|(_, r)| r)
            .collect();
            let next_page_token = page.finish(&mut found, |r| r.id.to_string());
            Ok(pb::ListPartnersResponse {
                partners: found.iter().map(PartnerRow::to_proto).collect(),
                next_page_token,
            })
        })
        .await
    }

    /// UpdatePartner: a partner edits its own profile; admins any.
    async fn update_partner(
        &self,
        request: Request<pb::UpdatePartnerRequest>,
    ) -> Reply<pb::Partner> {
        let (p, req) = caller(request)?;
        let p = &p;
        answer::<_, RegistryError>(async move {
            let patch = req.partner.unwrap_or_default();
            let id = partner_name("partner.name", &patch.name)?;
            let fields = UPDATABLE.fields(req.update_mask.as_ref())?;
            match p.role {
                Role::Admin => {}
                Role::Partner if p.own_partner() == Some(id) => {}
                Role::Partner => return Err(denied("a partner edits its own profile only")),
                Role::SiteManager | Role::Integrator => {
                    return Err(denied("only the partner or an admin edits a profile"));
                }
            }
            let mut tx = self.inner.db.begin_write().await?;
            let current = repo::get(&mut tx, id, Some(self.inner.db.backend()))
                .await?
                .ok_or_else(|| ApiError::not_found("partner", patch.name.clone()))?;
            if !etag_allows(&patch.etag, current.version) {
                return Err(ApiError::StaleEtag {
                    name: patch.name.clone(),
                }
                .into());
            }
            if current.status == PartnerStatus::Archived {
                return Err(ApiError::FailedPrecondition {
                    reason: "PARTNER_ARCHIVED",
                    message: "an archived partner cannot be edited".into(),
                }
                .into());
            }
            let merged = mask::merge(&current.to_proto(), &patch, &fields);
            let profile = Profile::validate(&merged, "partner")?;
            let siret = profile.siret.as_str().to_string();
            if profile.siret != current.profile.siret
                && repo::siret_taken(&mut tx, &siret, Some(id)).await?
            {
                return Err(RegistryError::SiretTaken(siret));
            }
            let mut row = current.clone();
            row.profile = profile;
            row.version += 1;
            row.updated_at = now_millis();
            repo::save(&mut tx, &row, Some(current.version)).await?;
            self.commit(tx, &[partner_event(&row, "updated")]).await?;
            Ok(row.to_proto())
        })
        .await
    }

    async fn verify_partner(&self, req: Request<pb::VerifyPartnerRequest>) -> Reply<pb::Partner> {
        let (p, r) = caller(req)?;
        answer(self.change_status(&p, &r.name, &r.etag, PartnerAction::Verify)).await
    }

    async fn suspend_partner(&self, req: Request<pb::SuspendPartnerRequest>) -> Reply<pb::Partner> {
        let (p, r) = caller(req)?;
        if r.reason.chars().count() > 2000 {
            return Err(ApiError::invalid("reason", "at most 2000 characters").into());
        }
        answer(self.change_status(&p, &r.name, &r.etag, PartnerAction::Suspend)).await
    }

    async fn reinstate_partner(
        &self,
        req: Request<pb::ReinstatePartnerRequest>,
    ) -> Reply<pb::Partner> {
        let (p, r) = caller(req)?;
        answer(self.change_status(&p, &r.name, &r.etag, PartnerAction::Reinstate)).await
    }

    async fn archive_partner(&self, req: Request<pb::ArchivePartnerRequest>) -> Reply<pb::Partner> {
        let (p, r) = caller(req)?;
        answer(self.change_status(&p, &r.name, &r.etag, PartnerAction::Archive)).await
    }
}
