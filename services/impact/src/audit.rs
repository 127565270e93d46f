//! The audit trail: every site, lot, claim and partner event impact
//! applies, kept with who caused it (the envelope's actor), and listed to
//! admins by resource.
//!
//! Impact keeps it because it already follows every one of those events,
//! in order and once each: one place to ask, in both run modes.

use reemploi_proto::audit as pb;
use reemploi_proto::audit::audit_service_server::AuditService;
use reemploi_proto::events::envelope::Payload;
use reemploi_proto::events::{Actor, Envelope};
use reemploi_runtime::auth::{Principal, Role, caller};
use reemploi_runtime::error::ApiError;
use reemploi_runtime::names::{ClaimName, LotName, PartnerName, SiteName};
use reemploi_runtime::paging::{Page, Pager};
use reemploi_runtime::service::answer;
use reemploi_runtime::validation::Violation;
use reemploi_runtime::wire::{millis_ts, ts_millis};
use reemploi_store::Db;
use sqlx::{AnyConnection, Row};
use tonic::{Request, Response, Status};

use crate::error::{ImpactError, Result};

/// Records the event of `envelope` (whose payload is `payload`), once.
pub async fn record(
    conn: &mut AnyConnection,
    envelope: &Envelope,
    payload: &Payload,
) -> Result<()> {
    let partner = match payload {
        Payload::Claim(c) => Some(c.partner.clone()),
        Payload::Partner(_) => Some(envelope.aggregate.clone()),
        Payload::Site(_)
        | Payload::Lot(_)
        | Payload::MatchProposal(_)
        | Payload::Revocation(_)
        | Payload::Need(_)
        | Payload::Account(_) => None,
        Payload::PickupBooking(b) => Some(b.partner.clone()),
    };
    let at = envelope
        .occur_time
        .as_ref()
        .map(ts_millis)
        .unwrap_or_default();
    let actor = envelope.actor.as_ref();
    sqlx::query(
        "INSERT INTO audit_entries (event_id, occur_time, event_type, resource, resource_version, \
         partner, actor_subject, actor_role, actor_organization, actor_partner) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(&envelope.event_id)
    .bind(at)
    .bind(&envelope.event_type)
    .bind(&envelope.aggregate)
    .bind(envelope.aggregate_version)
    .bind(partner.filter(|p| !p.is_empty()))
    .bind(actor.map(|a| a.subject.clone()))
    .bind(actor.map(|a| i64::from(a.role)))
    .bind(
        actor
            .map(|a| a.organization.clone())
            .filter(|o| !o.is_empty()),
    )
    .bind(actor.map(|a| a.partner.clone()).filter(|p| !p.is_empty()))
    .execute(conn)
    .await
    .map_err(reemploi_store::StoreError::from)?;
    Ok(())
}

/// The audit trail's gRPC service.
#[derive(Clone)]
pub struct Audit {
    db: Db,
    pager: Pager,
}

impl Audit {
    /// The trail kept in `db`, with page tokens signed by `pager`.
    pub fn new(db: Db, pager: Pager) -> Audit {
        Audit { db, pager }
    }

    /// One page of the trail of the request's resource, for an admin.
    pub async fn list(
        &self,
        p: &Principal,
        req: &pb::ListAuditEntriesRequest,
    ) -> Result<pb::ListAuditEntriesResponse> {
        if p.role != Role::Admin {
            return Err(ApiError::PermissionDenied("the audit trail is for admins".into()).into());
        }
        let resource = resource(&req.resource).map_err(ApiError::from)?;
        let page = self
            .pager
            .page(req.page_size, &req.page_token, &resource)
            .map_err(ApiError::from)?;
        let mut conn = self
            .db
            .pool()
            .acquire()
            .await
            .map_err(reemploi_store::StoreError::from)?;
        let mut entries = entries(&mut conn, &resource, &page).await?;
        let next_page_token = page.finish(&mut entries, key);
        Ok(pb::ListAuditEntriesResponse {
            entries,
            next_page_token,
        })
    }
}

/// `name` in its one written form, when it names a site, a lot, a claim or
/// a partner.
fn resource(name: &str) -> std::result::Result<String, Violation> {
    const FIELD: &str = "resource";
    let parts = name.split('/').count();
    match (name.split('/').next(), parts) {
        (Some("partners"), 2) => Ok(PartnerName::parse(FIELD, name)?.to_string()),
        (Some("sites"), 2) => Ok(SiteName::parse(FIELD, name)?.to_string()),
        (Some("sites"), 4) => Ok(LotName::parse(FIELD, name)?.to_string()),
        (Some("sites"), 6) => Ok(ClaimName::parse(FIELD, name)?.to_string()),
        _ => Err(Violation::new(
            FIELD,
            "must name a site, a lot, a claim or a partner, e.g. `sites/s1/lots/m1` or `partners/{id}`",
        )),
    }
}

/// The page of `resource`'s trail, oldest first (by the time of the change,
/// then the event id): its own events, those of what it holds (a site's
/// lots and claims: names that continue `resource/`, a range of the
/// resource index), and, for a partner, its claims' (the partner index).
async fn entries(
    conn: &mut AnyConnection,
    resource: &str,
    page: &Page,
) -> Result<Vec<pb::AuditEntry>> {
    // `/` is followed by `0` in ASCII: the names below `resource` are
    // exactly those from `resource/` up to `resource0`.
    let (from, to) = (format!("{resource}/"), format!("{resource}0"));
    let (after_time, after_id) = match page.after.as_deref().map(|k| k.split_once('/')) {
        None => (i64::MIN, String::new()),
        Some(Some((time, id))) => (time.parse().map_err(|_| bad_token())?, id.to_owned()),
        Some(None) => return Err(bad_token()),
    };
    let rows = sqlx::query(
        "SELECT event_id, occur_time, event_type, resource, resource_version, actor_subject, \
         actor_role, actor_organization, actor_partner FROM audit_entries \
         WHERE (resource = $1 OR (resource >= $2 AND resource < $3) OR partner = $1) \
         AND (occur_time > $4 OR (occur_time = $4 AND event_id > $5)) \
         ORDER BY occur_time, event_id LIMIT $6",
    )
    .bind(resource)
    .bind(&from)
    .bind(&to)
    .bind(after_time)
    .bind(&after_id)
    .bind(i64::try_from(page.size + 1).unwrap_or(i64::MAX))
    .fetch_all(conn)
    .await
    .map_err(reemploi_store::StoreError::from)?;
    rows.iter()
        .map(|row| entry(row).map_err(|e| ImpactError::from(reemploi_store::StoreError::from(e))))
        .collect()
}

/// A page token whose key is not `{time}/{event id}`: signed by this
/// service, so only a key of another listing.
fn bad_token() -> ImpactError {
    ApiError::from(Violation::new(
        "page_token",
        "not a page token of this trail",
    ))
    .into()
}

/// The page key of `entry`: its time, then its event id.
fn key(entry: &pb::AuditEntry) -> String {
    let at = entry.occur_time.as_ref().map(ts_millis).unwrap_or_default();
    format!("{at}/{}", entry.event_id)
}

fn entry(row: &sqlx::any::AnyRow) -> std::result::Result<pb::AuditEntry, sqlx::Error> {
    let subject: Option<String> = row.try_get("actor_subject")?;
    let role: Option<i64> = row.try_get("actor_role")?;
    let organization: Option<String> = row.try_get("actor_organization")?;
    let partner: Option<String> = row.try_get("actor_partner")?;
    Ok(pb::AuditEntry {
        event_id: row.try_get("event_id")?,
        occur_time: Some(millis_ts(row.try_get("occur_time")?)),
        event_type: row.try_get("event_type")?,
        resource: row.try_get("resource")?,
        resource_version: row.try_get("resource_version")?,
        actor: subject.map(|subject| Actor {
            subject,
            role: role.and_then(|r| i32::try_from(r).ok()).unwrap_or_default(),
            organization: organization.unwrap_or_default(),
            partner: partner.unwrap_or_default(),
        }),
    })
}

#[tonic::async_trait]
impl AuditService for Audit {
    #[tracing::instrument(skip_all, fields(rpc = "ListAuditEntries"))]
    async fn list_audit_entries(
        &self,
        req: Request<pb::ListAuditEntriesRequest>,
    ) -> std::result::Result<Response<pb::ListAuditEntriesResponse>, Status> {
        let (p, r) = caller(req)?;
        answer::<_, ImpactError>(self.list(&p, &r)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_sites_lots_claims_and_partners() {
        assert_eq!(resource("sites/coteaux").unwrap(), "sites/coteaux");
        assert_eq!(
            resource("sites/coteaux/lots/m1").unwrap(),
            "sites/coteaux/lots/m1"
        );
        assert!(
            resource("sites/coteaux/lots/m1/claims/0191e5a0-0000-7000-8000-000000000001").is_ok()
        );
        assert!(resource("partners/0191e5a0-0000-7000-8000-000000000001").is_ok());
        for bad in [
            "",
            "sites",
            "sites/",
            "accounts/a",
            "sites/a/lots",
            "partners/not-a-uuid",
            "sites/a/b/c",
        ] {
            assert!(resource(bad).is_err(), "{bad}");
        }
    }
}
