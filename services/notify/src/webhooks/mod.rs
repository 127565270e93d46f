//! Webhooks for integrators: a URL subscribed to event types gets each
//! matching event the service follows, posted as signed JSON, in order and
//! once, with retries. The gRPC methods that manage them (each caller its
//! own, admins all) live here; making, posting and storing deliveries in
//! the submodules.

pub mod deliver;
pub mod enqueue;
pub mod guard;
pub mod store;
pub mod validate;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reemploi_proto::notify as pb;
use reemploi_proto::notify::webhook_service_server::WebhookService;
use reemploi_runtime::auth::{Principal, Role, caller};
use reemploi_runtime::error::ApiError;
use reemploi_runtime::idempotent;
use reemploi_runtime::names::parse;
use reemploi_runtime::paging::Pager;
use reemploi_runtime::service::answer;
use reemploi_runtime::validation::{self, Check, Violation};
use reemploi_runtime::wire::millis_ts;
use reemploi_store::now_millis;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::error::{NotifyError, Result};
use crate::service::Notify;

pub use deliver::Settings;
pub use enqueue::{Live, enqueue};
use store::{Delivery, Hook, State};

type Reply<T> = std::result::Result<Response<T>, Status>;

/// The webhook methods over the notification service.
#[derive(Clone)]
pub struct Webhooks {
    notify: Notify,
    pager: Pager,
    /// Whether URLs may be http or reach inside addresses (see `guard`).
    allow_private: bool,
}

/// Integrators and admins have webhooks; people follow the app.
fn allowed(p: &Principal) -> Result<()> {
    match p.role {
        Role::Integrator | Role::Admin => Ok(()),
        Role::SiteManager | Role::Partner => {
            Err(ApiError::PermissionDenied("webhooks are for integrators and admins".into()).into())
        }
    }
}

/// A webhook the caller may see: its own, or any for an admin; others'
/// are as if they did not exist.
fn visible(p: &Principal, hook: Option<Hook>, name: &str) -> Result<Hook> {
    match hook {
        Some(h) if p.role == Role::Admin || h.owner == p.subject => Ok(h),
        _ => Err(ApiError::not_found("webhook", name).into()),
    }
}

/// 32 random bytes, base64url: a webhook's signing key.
fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

fn hook_proto(h: &Hook, with_secret: bool) -> pb::Webhook {
    pb::Webhook {
        name: format!("webhooks/{}", h.id),
        url: h.url.clone(),
        event_types: h.event_types.clone(),
        secret: if with_secret {
            h.secret.clone()
        } else {
            String::new()
        },
        owner: h.owner.clone(),
        create_time: Some(millis_ts(h.created_at)),
    }
}

fn delivery_proto(d: &Delivery) -> pb::Delivery {
    let state = match d.state {
        State::Pending => pb::DeliveryState::Pending,
        State::Delivered => pb::DeliveryState::Delivered,
        State::Failed => pb::DeliveryState::Failed,
    };
    pb::Delivery {
        name: format!("webhooks/{}/deliveries/{}", d.webhook_id, d.id),
        event_id: d.event_id.clone(),
        event_type: d.event_type.clone(),
        state: state as i32,
        attempts: i32::try_from(d.attempts).unwrap_or(i32::MAX),
        last_error: d.last_error.clone().unwrap_or_default(),
        create_time: Some(millis_ts(d.created_at)),
        deliver_time: d.delivered_at.map(millis_ts),
        next_attempt_time: (d.state == State::Pending).then(|| millis_ts(d.next_attempt_at)),
    }
}

impl Webhooks {
    /// The methods over `notify`, with its page tokens' signer; URLs to
    /// inside addresses and plain http only if `allow_private`.
    pub fn new(notify: Notify, pager: Pager, allow_private: bool) -> Webhooks {
        Webhooks {
            notify,
            pager,
            allow_private,
        }
    }

    /// CreateWebhook for `p`: checked, then made once per `request_id`.
    pub async fn create(
        &self,
        p: &Principal,
        req: &pb::CreateWebhookRequest,
    ) -> Result<pb::Webhook> {
        allowed(p)?;
        let asked = req.webhook.clone().unwrap_or_default();
        let mut c = Check::new("");
        let url = validate::url(&mut c, "webhook.url", &asked.url, self.allow_private);
        let event_types = validate::event_types(&mut c, "webhook.event_types", &asked.event_types);
        let request_id = validation::request_id(&mut c, &req.request_id, false);
        c.finish()?;
        let now = now_millis();
        let hook = Hook {
            id: Uuid::now_v7(),
            owner: p.subject.clone(),
            url: url.unwrap_or_default(),
            event_types,
            secret: new_secret(),
            created_at: now,
            deleted_at: None,
        };
        let key = request_id.map(|rid| idempotent::key(p, "create_webhook", &rid, req));
        let mut tx = self.notify.db().begin_write().await?;
        if let Some(first) =
            idempotent::begin(&mut tx, key.as_ref(), &hook.id.to_string(), now).await?
        {
            drop(tx);
            let id = crate::repo::parse_uuid("webhook id", &first)?;
            let mut conn = self.notify.db().pool().acquire().await?;
            let name = format!("webhooks/{id}");
            let first = visible(p, store::hook(&mut conn, id).await?, &name)?;
            return Ok(hook_proto(&first, true));
        }
        store::insert_hook(&mut tx, &hook).await?;
        tx.commit().await?;
        self.notify.hooks().invalidate();
        // Not its URL: a query string may carry a credential of the receiver.
        tracing::info!(webhook = %hook.id, owner = %hook.owner, "webhook created");
        Ok(hook_proto(&hook, true))
    }

    /// ListWebhooks for `p`: its live webhooks (an admin's: all), oldest
    /// first, without their secrets.
    pub async fn list(
        &self,
        p: &Principal,
        req: &pb::ListWebhooksRequest,
    ) -> Result<pb::ListWebhooksResponse> {
        allowed(p)?;
        let owner = (p.role != Role::Admin).then_some(p.subject.as_str());
        let filters = format!("webhooks|{}", owner.unwrap_or("*"));
        let page = self.pager.page(req.page_size, &req.page_token, &filters)?;
        let mut conn = self.notify.db().pool().acquire().await?;
        let mut hooks =
            store::live_hooks(&mut conn, owner, page.after.as_deref(), page.size + 1).await?;
        let next_page_token = page.finish(&mut hooks, |h| h.id.to_string());
        Ok(pb::ListWebhooksResponse {
            webhooks: hooks.iter().map(|h| hook_proto(h, false)).collect(),
            next_page_token,
        })
    }

    /// DeleteWebhook for `p`: no delivery is made or posted any more; the
    /// made ones are kept.
    pub async fn delete(
        &self,
        p: &Principal,
        req: &pb::DeleteWebhookRequest,
    ) -> Result<pb::DeleteWebhookResponse> {
        allowed(p)?;
        let id = parse("name", &req.name, "webhooks/{webhook}")?[0];
        let mut tx = self.notify.db().begin_write().await?;
        let hook = visible(p, store::hook(&mut tx, id).await?, &req.name)?;
        if !store::delete_hook(&mut tx, hook.id, now_millis()).await? {
            return Err(ApiError::not_found("webhook", &req.name).into());
        }
        tx.commit().await?;
        self.notify.hooks().invalidate();
        tracing::info!(webhook = %hook.id, by = %p.subject, "webhook deleted");
        Ok(pb::DeleteWebhookResponse {})
    }

    /// ListDeliveries for `p`: a webhook's deliveries, newest first.
    pub async fn deliveries(
        &self,
        p: &Principal,
        req: &pb::ListDeliveriesRequest,
    ) -> Result<pb::ListDeliveriesResponse> {
        allowed(p)?;
        let mut c = Check::new("");
        let id = c.take(parse("parent", &req.parent, "webhooks/{webhook}"));
        let state = match pb::DeliveryState::try_from(req.state) {
            Ok(pb::DeliveryState::Unspecified) => None,
            Ok(pb::DeliveryState::Pending) => Some(State::Pending),
            Ok(pb::DeliveryState::Delivered) => Some(State::Delivered),
            Ok(pb::DeliveryState::Failed) => Some(State::Failed),
            Err(_) => {
                c.fail("state", "PENDING, DELIVERED or FAILED");
                None
            }
        };
        c.finish()?;
        let id = id.map(|ids| ids[0]).unwrap_or_default();
        let filters = format!("deliveries|{id}|{}", state.map_or("", State::as_str));
        let page = self.pager.page(req.page_size, &req.page_token, &filters)?;
        let before = match page.after.as_deref() {
            None => None,
            Some(seq) => Some(
                seq.parse::<i64>()
                    .map_err(|_| Violation::new("page_token", "not a token of this listing"))?,
            ),
        };
        let mut conn = self.notify.db().pool().acquire().await?;
        visible(p, store::hook(&mut conn, id).await?, &req.parent)?;
        let mut rows = store::deliveries(&mut conn, id, state, before, page.size + 1).await?;
        let next_page_token = page.finish(&mut rows, |d| d.seq.to_string());
        Ok(pb::ListDeliveriesResponse {
            deliveries: rows.iter().map(delivery_proto).collect(),
            next_page_token,
        })
    }

    /// RetryDelivery for `p`: a failed delivery is pending again from now,
    /// with all its retries.
    pub async fn retry(
        &self,
        p: &Principal,
        req: &pb::RetryDeliveryRequest,
    ) -> Result<pb::Delivery> {
        allowed(p)?;
        let ids = parse(
            "name",
            &req.name,
            "webhooks/{webhook}/deliveries/{delivery}",
        )?;
        let (hook_id, id) = (ids[0], ids[1]);
        let mut tx = self.notify.db().begin_write().await?;
        let hook = visible(p, store::hook(&mut tx, hook_id).await?, &req.name)?;
        if hook.deleted_at.is_some() {
            return Err(ApiError::precondition(
                "WEBHOOK_DELETED",
                "the webhook was deleted: its deliveries are no longer sent",
            )
            .into());
        }
        if !store::retry(&mut tx, hook_id, id, now_millis()).await? {
            let found = store::delivery(&mut tx, hook_id, id).await?;
            return Err(match found {
                None => ApiError::not_found("delivery", &req.name),
                Some(_) => ApiError::precondition(
                    "DELIVERY_NOT_FAILED",
                    "only a failed delivery is sent again; this one is pending or delivered",
                ),
            }
            .into());
        }
        let retried = store::delivery(&mut tx, hook_id, id)
            .await?
            .ok_or_else(|| ApiError::not_found("delivery", &req.name))?;
        tx.commit().await?;
        self.notify.hooks().wake();
        Ok(delivery_proto(&retried))
    }
}

#[tonic::async_trait]
impl WebhookService for Webhooks {
    async fn create_webhook(
        &self,
        request: Request<pb::CreateWebhookRequest>,
    ) -> Reply<pb::Webhook> {
        let (p, req) = caller(request)?;
        answer::<_, NotifyError>(self.create(&p, &req)).await
    }

    async fn list_webhooks(
        &self,
        request: Request<pb::ListWebhooksRequest>,
    ) -> Reply<pb::ListWebhooksResponse> {
        let (p, req) = caller(request)?;
        answer::<_, NotifyError>(self.list(&p, &req)).await
    }

    async fn delete_webhook(
        &self,
        request: Request<pb::DeleteWebhookRequest>,
    ) -> Reply<pb::DeleteWebhookResponse> {
        let (p, req) = caller(request)?;
        answer::<_, NotifyError>(self.delete(&p, &req)).await
    }

    async fn list_deliveries(
        &self,
        request: Request<pb::ListDeliveriesRequest>,
    ) -> Reply<pb::ListDeliveriesResponse> {
        let (p, req) = caller(request)?;
        answer::<_, NotifyError>(self.deliveries(&p, &req)).await
    }

    async fn retry_delivery(
        &self,
        request: Request<pb::RetryDeliveryRequest>,
    ) -> Reply<pb::Delivery> {
        let (p, req) = caller(request)?;
        answer::<_, NotifyError>(self.retry(&p, &req)).await
    }
}

#[cfg(test)]
mod tests;
