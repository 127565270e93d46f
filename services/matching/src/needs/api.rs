//! The needs' RPCs: who may do what, and each operation in one
//! transaction with its event.

use reemploi_domain::category;
use reemploi_domain::geo::GeoPoint;
use reemploi_proto::matching as pb;
use reemploi_runtime::auth::{Principal, Role};
use reemploi_runtime::error::ApiError;
use reemploi_runtime::idempotent;
use reemploi_runtime::mask::{Updatable, merge};
use reemploi_runtime::names::{SiteName, parse};
use reemploi_runtime::paging::Page;
use reemploi_runtime::validation::{Check, Violation, request_id};
use reemploi_runtime::wire::etag_allows;
use reemploi_store::now_millis;
use reemploi_store::query::{Filter, select_filtered};
use sqlx::AnyConnection;
use uuid::Uuid;

use super::{CLOSED, COLUMNS, CREATED, Fields, Need, State, UPDATED, by_name, save};
use crate::error::{MatchingError, Result};
use crate::repo;

/// What UpdateNeed may change, and how; naming a category drops the
/// family looked for, and the other way round (one of the two is).
static UPDATABLE: Updatable<pb::Need> = Updatable(&[
    ("category", |n, p| {
        n.category = p.category.clone();
        if !p.category.is_empty() {
            n.family.clear();
        }
    }),
    ("family", |n, p| {
        n.family = p.family.clone();
        if !p.family.is_empty() {
            n.category.clear();
        }
    }),
    ("min_quantity", |n, p| n.min_quantity = p.min_quantity),
    ("max_quantity", |n, p| n.max_quantity = p.max_quantity),
    ("center", |n, p| n.center = p.center),
    ("radius_km", |n, p| n.radius_km = p.radius_km),
    ("expire_time", |n, p| n.expire_time = p.expire_time),
    ("note", |n, p| n.note = p.note.clone()),
]);

fn denied(message: &str) -> MatchingError {
    ApiError::PermissionDenied(message.to_owned()).into()
}

/// A structure writes its own needs; an admin any.
fn may_write(p: &Principal, partner: Uuid) -> Result<()> {
    match p.role {
        Role::Admin => Ok(()),
        Role::Partner if p.own_partner() == Some(partner) => Ok(()),
        Role::Partner | Role::SiteManager | Role::Integrator => {
            Err(denied("a structure posts and changes its own needs only"))
        }
    }
}

/// `partners/{partner}/needs/{need}`.
fn need_name(field: &str, name: &str) -> Result<(Uuid, Uuid)> {
    let ids = parse(field, name, "partners/{partner}/needs/{need}")?;
    Ok((ids[0], ids[1]))
}

/// Where matching knows the structure to be.
async fn home(conn: &mut AnyConnection, partner: Uuid) -> Result<Option<GeoPoint>> {
    Ok(repo::partner(conn, partner)
        .await?
        .and_then(|p| GeoPoint::new(p.latitude, p.longitude).ok()))
}

fn stored_id(id: &str) -> Result<Uuid> {
    Uuid::try_parse(id).map_err(|e| ApiError::Internal(format!("stored id {id}: {e}")).into())
}

impl crate::Matching {
    /// Commits a need's change with its event and its entry in the change
    /// log (every replica then holds it as it is), and holds it here at once.
    async fn publish(
        &self,
        mut tx: sqlx::Transaction<'static, sqlx::Any>,
        need: &Need,
        subject: &str,
        now: i64,
    ) -> Result<()> {
        repo::record_change(&mut tx, "need", &need.id.to_string()).await?;
        self.relay.commit(tx, &[need.event(subject, now)]).await?;
        self.set_need(need.id, Some(need.clone()))
    }

    /// CreateNeed: by the structure (or an admin), once per request id.
    pub(crate) async fn create_need_as(
        &self,
        p: &Principal,
        req: &pb::CreateNeedRequest,
    ) -> Result<pb::Need> {
        let partner = parse("parent", &req.parent, "partners/{partner}")?[0];
        may_write(p, partner)?;
        let mut c = Check::new("");
        let key = request_id(&mut c, &req.request_id, false)
            .map(|rid| idempotent::key(p, "create_need", &rid, req));
        c.finish()?;
        let now = now_millis();
        let mut conn = self.db.pool().acquire().await?;
        let home = home(&mut conn, partner).await?;
        drop(conn);
        let fields = Fields::validate(&req.need.clone().unwrap_or_default(), "need", home, now)
            .map_err(ApiError::Invalid)?;
        let need = Need {
            id: Uuid::now_v7(),
            partner_id: partner,
            fields,
            closed: false,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let mut tx = self.db.begin_write().await?;
        if let Some(done) =
            idempotent::begin(&mut tx, key.as_ref(), &need.id.to_string(), now).await?
        {
            let first = by_name(&mut tx, partner, stored_id(&done)?).await?;
            return first.map(|n| n.to_proto(now)).ok_or_else(|| {
                ApiError::Internal(format!("need {done} recorded, not found")).into()
            });
        }
        save(&mut tx, &need).await?;
        self.publish(tx, &need, CREATED, now).await?;
        Ok(need.to_proto(now))
    }

    /// UpdateNeed: the fields of the mask, on an open need, at the etag read.
    pub(crate) async fn update_need_as(
        &self,
        p: &Principal,
        req: &pb::UpdateNeedRequest,
    ) -> Result<pb::Need> {
        let patch = req.need.clone().unwrap_or_default();
        let (partner, id) = need_name("need.name", &patch.name)?;
        may_write(p, partner)?;
        let fields = UPDATABLE
            .fields(req.update_mask.as_ref())
            .map_err(ApiError::Invalid)?;
        let now = now_millis();
        let mut tx = self.db.begin_write().await?;
        let current = by_name(&mut tx, partner, id)
            .await?
            .ok_or_else(|| ApiError::not_found("need", &patch.name))?;
        if !etag_allows(&patch.etag, current.version) {
            return Err(ApiError::StaleEtag { name: patch.name }.into());
        }
        match current.state(now) {
            State::Open => {}
            State::Closed => {
                return Err(ApiError::precondition("NEED_CLOSED", "the need is closed").into());
            }
            State::Expired => {
                return Err(ApiError::precondition("NEED_EXPIRED", "the need has expired").into());
            }
        }
        let merged = merge(&current.to_proto(now), &patch, &fields);
        let home = home(&mut tx, partner).await?;
        let fields = Fields::validate(&merged, "need", home, now).map_err(ApiError::Invalid)?;
        let next = Need {
            fields,
            updated_at: now,
            version: current.version + 1,
            ..current
        };
        if !save(&mut tx, &next).await? {
            return Err(ApiError::Conflict.into());
        }
        self.publish(tx, &next, UPDATED, now).await?;
        Ok(next.to_proto(now))
    }

    /// CloseNeed: once; a repeat returns the need as it is.
    pub(crate) async fn close_need_as(
        &self,
        p: &Principal,
        req: &pb::CloseNeedRequest,
    ) -> Result<pb::Need> {
        let (partner, id) = need_name("name", &req.name)?;
        may_write(p, partner)?;
        let now = now_millis();
        let mut tx = self.db.begin_write().await?;
        let current = by_name(&mut tx, partner, id)
            .await?
            .ok_or_else(|| ApiError::not_found("need", &req.name))?;
        if current.closed {
            return Ok(current.to_proto(now));
        }
        if !etag_allows(&req.etag, current.version) {
            return Err(ApiError::StaleEtag {
                name: req.name.clone(),
            }
            .into());
        }
        let next = Need {
            closed: true,
            updated_at: now,
            version: current.version + 1,
            ..current
        };
        if !save(&mut tx, &next).await? {
            return Err(ApiError::Conflict.into());
        }
        self.publish(tx, &next, CLOSED, now).await?;
        Ok(next.to_proto(now))
    }

    /// ListNeeds: newest first, as the caller may see them.
    pub(crate) async fn list_needs_as(
        &self,
        p: &Principal,
        req: &pb::ListNeedsRequest,
    ) -> Result<pb::ListNeedsResponse> {
        let q = Query::parse(req)?;
        let page = self
            .pager
            .page(req.page_size, &req.page_token, &q.fingerprint())?;
        let mut conn = self.db.pool().acquire().await?;
        let near = scope(&mut conn, p, &q).await?;
        let now = now_millis();
        let head = format!("SELECT {COLUMNS} FROM needs");
        // Near a site, distances are measured here: the page is cut after.
        let tail = match near {
            Some(_) => " ORDER BY created_at DESC, id DESC".to_owned(),
            None => format!(" ORDER BY created_at DESC, id DESC LIMIT {}", page.size + 1),
        };
        let rows = select_filtered(&mut conn, &head, q.filter(near, &page, now)?, &tail).await?;
        let mut needs = Vec::with_capacity(rows.len());
        for row in &rows {
            let need = Need::from_row(row)?;
            let holds = |at: GeoPoint| {
                at.distance_m(need.fields.center) <= f64::from(need.fields.radius_km) * 1000.0
            };
            if near.is_none_or(holds) {
                needs.push(need);
            }
        }
        let next_page_token = page.finish(&mut needs, |n| format!("{}/{}", n.created_at, n.id));
        Ok(pb::ListNeedsResponse {
            needs: needs.iter().map(|n| n.to_proto(now)).collect(),
            next_page_token,
        })
    }
}

/// A ListNeeds request, parsed.
struct Query {
    /// `None` for `partners/-`.
    partner: Option<Uuid>,
    site: Option<SiteName>,
    state: State,
    category: Option<&'static category::Category>,
}

impl Query {
    fn parse(req: &pb::ListNeedsRequest) -> Result<Query> {
        let mut violations = Vec::new();
        let partner = match req.parent.as_str() {
            "partners/-" => None,
            parent => parse("parent", parent, "partners/{partner}")
                .map(|ids| ids[0])
                .map_err(|v| violations.push(v))
                .ok(),
        };
        let site = (!req.site.is_empty())
            .then(|| {
                SiteName::parse("site", &req.site)
                    .map_err(|v| violations.push(v))
                    .ok()
            })
            .flatten();
        let state = State::from_request(req.state)
            .map_err(|v| violations.push(v))
            .unwrap_or(State::Open);
        let category = (!req.category.is_empty())
            .then(|| {
                category::find(&req.category).or_else(|| {
                    violations.push(Violation::new("category", "unknown category"));
                    None
                })
            })
            .flatten();
        if !violations.is_empty() {
            return Err(ApiError::Invalid(violations).into());
        }
        Ok(Query {
            partner,
            site,
            state,
            category,
        })
    }

    fn fingerprint(&self) -> String {
        format!(
            "partner={}|site={}|state={:?}|category={}",
            self.partner.map(|p| p.to_string()).unwrap_or_default(),
            self.site.map(|s| s.to_string()).unwrap_or_default(),
            self.state,
            self.category.map(|c| c.code).unwrap_or_default(),
        )
    }

    /// The WHERE clause; `near`, the site the needs' areas must hold.
    fn filter(&self, near: Option<GeoPoint>, page: &Page, now: i64) -> Result<Filter> {
        let mut w = Filter::default();
        if let Some(partner) = self.partner {
            w.add("partner_id = ?", partner.to_string())?;
        }
        match self.state {
            State::Open => {
                w.raw("state = 'open'");
                w.add("expire_at > ?", now)?;
            }
            State::Expired => {
                w.raw("state = 'open'");
                w.add("expire_at <= ?", now)?;
            }
            State::Closed => w.raw("state = 'closed'"),
        }
        if let Some(c) = self.category {
            w.add("family = ?", c.family.code().to_owned())?;
            w.add("(category = ? OR category = '')", c.code.to_owned())?;
        }
        if let Some(at) = near {
            // No area is wider than MAX_RADIUS_KM around its centre.
            w.add("latitude >= ?", at.latitude() - super::MAX_RADIUS_DEGREES)?;
            w.add("latitude <= ?", at.latitude() + super::MAX_RADIUS_DEGREES)?;
        }
        if let Some(after) = &page.after {
            let (time, id) = after
                .split_once('/')
                .and_then(|(t, id)| Some((t.parse::<i64>().ok()?, id)))
                .ok_or_else(|| ApiError::invalid("page_token", "not a token of this list"))?;
            w.before_in_time("created_at", time, id)?;
        }
        Ok(w)
    }
}

/// Who may list what: a structure its own needs; a site manager the open
/// needs around one of its organisation's sites (named); admins and
/// integrators every one. Returns where the site is, when one is named.
async fn scope(conn: &mut AnyConnection, p: &Principal, q: &Query) -> Result<Option<GeoPoint>> {
    match p.role {
        Role::Admin | Role::Integrator => {}
        Role::Partner => {
            if q.partner.is_none() || q.partner != p.own_partner() {
                return Err(denied("a structure lists its own needs only"));
            }
        }
        Role::SiteManager => {
            let Some(site) = q.site else {
                return Err(ApiError::invalid(
                    "site",
                    "required: a site manager lists the needs around one of its sites",
                )
                .into());
            };
            let owner = repo::site_owner(conn, site.0).await?;
            if owner.is_empty() || p.org.as_deref() != Some(owner.as_str()) {
                return Err(denied(
                    "a site manager reads the needs around its own sites",
                ));
            }
            if q.state != State::Open {
                return Err(denied("a site manager reads open needs only"));
            }
        }
    }
    match q.site {
        Some(site) => Ok(Some(repo::site_location(conn, site.0).await?.ok_or_else(
            || {
                ApiError::precondition(
                    "SITE_NOT_PLACED",
                    "matching does not know where the site is",
                )
            },
        )?)),
        None => Ok(None),
    }
}
