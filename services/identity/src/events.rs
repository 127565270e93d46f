//! What the identity service publishes (revocations, on
//! `reemploi.identity.access.revoked`, which every process follows into its
//! deny list) and what it follows (the registry's partner events, to know
//! which partners are verified and may invite colleagues).

use std::sync::Arc;

use reemploi_events::{Handler, HandlerError, Message, Subscription, inbox};
use reemploi_proto::events::envelope::Payload;
use reemploi_proto::identity as pb;
use reemploi_runtime::envelope;
use reemploi_runtime::names::PartnerName;
use reemploi_runtime::revoked::{PRODUCER, SUBJECT};
use reemploi_runtime::wire::millis_ts;
use reemploi_store::{Db, now_millis};

use crate::repo;

/// A revocation of `subject`'s tokens issued up to `at` (Unix ms), which
/// matters until `until` (Unix ms, the expiry of the last token it covers).
pub fn revocation(subject: String, at: i64, until: i64) -> Message {
    envelope::message(
        PRODUCER,
        SUBJECT.to_owned(),
        subject.clone(),
        1,
        at,
        Payload::Revocation(pb::Revocation {
            subject,
            revoke_time: Some(millis_ts(at)),
            expire_time: Some(millis_ts(until)),
        }),
    )
}

/// The durable subscription feeding the partner projection.
pub fn partner_subscription(max_deliver: i64) -> Subscription {
    Subscription {
        durable: "identity-partners".to_owned(),
        stream_of: "registry".to_owned(),
        filter: "reemploi.registry.partner.>".to_owned(),
        max_deliver,
    }
}

/// The identity service's view of partners: id -> status, never backwards.
pub struct PartnerProjection {
    db: Db,
}

impl PartnerProjection {
    /// The projection over the identity database.
    pub fn new(db: Db) -> Arc<Self> {
        Arc::new(Self { db })
    }
}

#[async_trait::async_trait]
impl Handler for PartnerProjection {
    async fn handle(&self, msg: &Message) -> Result<(), HandlerError> {
        let (env, payload) = envelope::decode(msg)?;
        let Payload::Partner(partner) = payload else {
            return Err(envelope::unexpected(msg, &payload));
        };
        let id = PartnerName::parse("partner.name", &partner.name)
            .map_err(|e| HandlerError::Permanent(e.to_string()))?
            .0;
        let mut tx = self.db.begin_write().await?;
        if inbox::first_time(&mut tx, "identity-partners", &msg.event_id).await? {
            repo::upsert_partner(
                &mut tx,
                id,
                reemploi_runtime::wire::partner_status_str(partner.status),
                env.aggregate_version,
                now_millis(),
            )
            .await
            .map_err(|e| HandlerError::Transient(e.to_string()))?;
        }
        tx.commit()
            .await
            .map_err(reemploi_store::StoreError::from)?;
        Ok(())
    }
}
