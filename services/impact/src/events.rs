//! What impact follows: the inventory's events (sites, lots, claims) and
//! the registry's (partners), applied to its projections one at a time,
//! each with the contributions it changes.

use std::sync::Arc;

use reemploi_events::{Handler, HandlerError, Message, Subscription, inbox};
use reemploi_proto::events::envelope::Payload;
use reemploi_runtime::envelope;
use sqlx::AnyConnection;

use crate::error::Result;
use crate::model::{Claim, Lot, Partner, Site};
use crate::repo::{self, Of};
use crate::rollup::recompute_by;
use crate::service::Impact;

/// The producing service's name, on its stream and envelopes.
pub const PRODUCER: &str = "impact";

/// The durable subscriptions impact consumes; replicas share them.
pub fn subscriptions(max_deliver: i64) -> [Subscription; 2] {
    [
        Subscription {
            durable: "impact-inventory".into(),
            stream_of: "inventory".into(),
            filter: "reemploi.inventory.>".into(),
            max_deliver,
        },
        Subscription {
            durable: "impact-partners".into(),
            stream_of: "registry".into(),
            filter: "reemploi.registry.partner.>".into(),
            max_deliver,
        },
    ]
}

impl Impact {
    /// Applies one event, once per event id, in one transaction.
    pub async fn apply(
        &self,
        consumer: &str,
        msg: &Message,
    ) -> std::result::Result<(), HandlerError> {
        let (head, payload) = envelope::decode(msg)?;
        let mut tx = self.db().begin_write().await?;
        repo::serialize(&mut tx, self.db()).await?;
        if !inbox::first_time(&mut tx, consumer, &msg.event_id).await? {
            return Ok(());
        }
        crate::audit::record(&mut tx, &head, &payload).await?;
        self.project(&mut tx, payload).await?;
        tx.commit()
            .await
            .map_err(reemploi_store::StoreError::from)?;
        Ok(())
    }

    async fn project(&self, conn: &mut AnyConnection, payload: Payload) -> Result<()> {
        let factors = self.factors();
        match payload {
            Payload::Site(s) => {
                let site = Site::from_event(&s)?;
                let old = repo::site(conn, site.id).await?;
                let moved = old
                    .is_none_or(|o| (o.latitude, o.longitude) != (site.latitude, site.longitude));
                if repo::upsert_site(conn, &site).await? && moved {
                    recompute_by(conn, factors, Of::Site(site.id)).await?;
                }
            }
            Payload::Lot(l) => {
                let lot = Lot::from_event(&l)?;
                let old = repo::lot(conn, lot.name()).await?;
                if repo::upsert_lot(conn, &lot).await? {
                    if let Some(o) = &old {
                        repo::add_estimate(conn, o.site_id, &o.category, -o.estimated_mass_g)
                            .await?;
                    }
                    repo::add_estimate(conn, lot.site_id, &lot.category, lot.estimated_mass_g)
                        .await?;
                    let counted = |l: &Lot| (l.category.clone(), l.unit, l.quantity_milli);
                    if old.is_none_or(|o| counted(&o) != counted(&lot)) {
                        recompute_by(conn, factors, Of::Lot(lot.name())).await?;
                    }
                }
            }
            Payload::Partner(p) => {
                let partner = Partner::from_event(&p)?;
                let old = repo::partner(conn, partner.id).await?;
                let moved = old.is_none_or(|o| {
                    (o.latitude, o.longitude) != (partner.latitude, partner.longitude)
                });
                if repo::upsert_partner(conn, &partner).await? && moved {
                    recompute_by(conn, factors, Of::Partner(partner.id)).await?;
                }
            }
            Payload::Claim(c) => {
                let claim = Claim::from_event(&c)?;
                if repo::upsert_claim(conn, &claim).await? {
                    // The lot's first hand-over may have moved to or from it.
                    recompute_by(conn, factors, Of::Lot(claim.name().lot)).await?;
                }
            }
            Payload::MatchProposal(_)
            | Payload::Revocation(_)
            | Payload::Need(_)
            | Payload::Account(_)
            | Payload::PickupBooking(_) => {}
        }
        Ok(())
    }
}

/// Feeds one durable subscription into [`Impact`].
pub struct Consumer {
    impact: Impact,
    name: String,
}

impl Consumer {
    /// The handler of the subscription named `name`.
    pub fn new(impact: Impact, name: &str) -> Arc<Consumer> {
        Arc::new(Consumer {
            impact,
            name: name.to_string(),
        })
    }
}

#[async_trait::async_trait]
impl Handler for Consumer {
    async fn handle(&self, msg: &Message) -> std::result::Result<(), HandlerError> {
        self.impact.apply(&self.name, msg).await
    }
}
