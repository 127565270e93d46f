//! What inventory publishes (lot, claim and site events through the outbox)
//! and what it follows (the registry's partner events, kept as a projection).

use std::sync::Arc;

use reemploi_events::{Handler, HandlerError, Message, Subscription, inbox};
use reemploi_proto::events::envelope::Payload;
use reemploi_runtime::envelope;
use reemploi_store::{Db, now_millis};

use crate::model::{ClaimRow, LotRow, SiteRow};
use crate::repo;
use reemploi_runtime::names::PartnerName;

/// The producing service's name, on subjects and envelopes.
pub const PRODUCER: &str = "inventory";

/// Subject prefix of every lot event.
pub const LOT_SUBJECT_PREFIX: &str = "reemploi.inventory.lot.";

fn envelope(
    subject: String,
    aggregate: String,
    version: i64,
    now: i64,
    payload: Payload,
) -> Message {
    reemploi_runtime::envelope::message(PRODUCER, subject, aggregate, version, now, payload)
}

/// `reemploi.inventory.site.<event>` carrying the site.
pub fn site_event(site: &SiteRow, event: &str) -> Message {
    envelope(
        format!("reemploi.inventory.site.{event}"),
        site.name().to_string(),
        site.version,
        site.updated_at,
        Payload::Site(site.to_proto()),
    )
}

/// `reemploi.inventory.lot.<event>` carrying the lot.
pub fn lot_event(lot: &LotRow, event: &str) -> Message {
    envelope(
        format!("{LOT_SUBJECT_PREFIX}{event}"),
        lot.name().to_string(),
        lot.version,
        lot.updated_at,
        Payload::Lot(lot.to_proto()),
    )
}

/// `reemploi.inventory.claim.<event>` carrying the claim.
pub fn claim_event(claim: &ClaimRow, event: &str) -> Message {
    envelope(
        format!("reemploi.inventory.claim.{event}"),
        claim.name().to_string(),
        claim.version,
        claim.updated_at,
        Payload::Claim(claim.to_proto()),
    )
}

/// The durable subscription feeding the partner projection.
pub fn partner_subscription(max_deliver: i64) -> Subscription {
    Subscription {
        durable: "inventory-partners".to_string(),
        stream_of: "registry".to_string(),
        filter: "reemploi.registry.partner.>".to_string(),
        max_deliver,
    }
}

/// Keeps inventory's own view of who may claim: partner id -> status, from
/// `reemploi.registry.partner.*`, applied once per event and never backwards.
pub struct PartnerProjection {
    db: Db,
}

impl PartnerProjection {
    /// The projection over the inventory database.
    pub fn new(db: Db) -> Arc<Self> {
        Arc::new(Self { db })
    }
}

/// What a decoded partner event changes in the projection: the partner's
/// id and its projected status, or a permanent failure for any other
/// payload or a bad name. Kept apart from the database work so that the
/// fuzz targets and tests check the decoding alone.
pub fn partner_update(
    msg: &Message,
    payload: Payload,
) -> Result<(uuid::Uuid, &'static str), HandlerError> {
    let Payload::Partner(partner) = payload else {
        return Err(envelope::unexpected(msg, &payload));
    };
    let id = PartnerName::parse("partner.name", &partner.name)
        .map_err(|e| HandlerError::Permanent(e.to_string()))?
        .0;
    Ok((
        id,
        reemploi_runtime::wire::partner_status_str(partner.status),
    ))
}

#[async_trait::async_trait]
impl Handler for PartnerProjection {
    async fn handle(&self, msg: &Message) -> Result<(), HandlerError> {
        let (envelope, payload) = envelope::decode(msg)?;
        let (id, status) = partner_update(msg, payload)?;
        let mut tx = self.db.begin_write().await?;
        if inbox::first_time(&mut tx, "inventory-partners", &msg.event_id).await? {
            repo::upsert_partner(
                &mut tx,
                id,
                status,
                envelope.aggregate_version,
                now_millis(),
            )
            .await
            .map_err(handler_error)?;
        }
        tx.commit()
            .await
            .map_err(reemploi_store::StoreError::from)?;
        Ok(())
    }
}

/// A failure of the projection: an outage of its database is waited out.
fn handler_error(e: crate::InventoryError) -> HandlerError {
    match e {
        crate::InventoryError::Unavailable(store) => HandlerError::from(store),
        other => HandlerError::Transient(other.to_string()),
    }
}
