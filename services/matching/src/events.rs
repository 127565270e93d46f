//! What matching follows and publishes: the inventory's and the registry's
//! events, applied to its projections one at a time, and the proposals
//! they lead to (`reemploi.matching.match.proposed`).

use std::collections::HashSet;
use std::sync::Arc;

use reemploi_domain::geo::GeoPoint;
use reemploi_events::{Handler, HandlerError, Message, Subscription, inbox};
use reemploi_matching_engine::index::Index;
use reemploi_matching_engine::profile::PartnerProfile;
use reemploi_matching_engine::score::Scored;
use reemploi_proto::events::envelope::Payload;
use reemploi_runtime::envelope;
use reemploi_runtime::names::{ClaimName, LotName, SiteName, parse};
use reemploi_store::now_millis;
use sqlx::AnyConnection;
use uuid::Uuid;

use crate::error::{MatchingError, Result};
use crate::model::{Claim, Lot, Partner};
use crate::needs;
use crate::proposals::{self, NewProposal, Proposal};
use crate::repo;
use crate::service::{Matching, partner_profile};

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

impl Matching {
    /// Applies one event: projection, change log, proposals and their
    /// events, all in one transaction, once per event id.
    ///
    /// Events are applied one at a time across replicas (a lock taken in
    /// the transaction), and the index is refreshed under that lock: a lot
    /// published while a partner is verified is then ranked with that
    /// partner, whichever event comes second. The index takes the event's
    /// changes before the commit; if the transaction fails, the entity is
    /// read back from the projection.
    async fn apply(&self, consumer: &str, msg: &Message) -> std::result::Result<(), HandlerError> {
        let (_, payload) = envelope::decode(msg)?;
        let touched = touched(&payload).map_err(HandlerError::from)?;
        let mut tx = self.db.begin_write().await?;
        repo::serialize(&mut tx, &self.db).await?;
        if !inbox::first_time(&mut tx, consumer, &msg.event_id).await? {
            return Ok(());
        }
        self.refresh().await?;
        let applied = match self.project(&mut tx, payload).await {
            Ok(events) => self.relay.commit(tx, &events).await.map_err(Into::into),
            Err(e) => Err(e),
        };
        if let Err(e) = applied {
            let mut conn = self.db.pool().acquire().await?;
            if let Some((entity, id)) = touched {
                self.reload(&mut conn, entity, &id).await?;
            }
            return Err(e.into());
        }
        Ok(())
    }

    async fn project(&self, conn: &mut AnyConnection, payload: Payload) -> Result<Vec<Message>> {
        let now = now_millis();
        match payload {
            Payload::Site(site) => {
                let id = SiteName::parse("site.name", &site.name)
                    .map_err(|e| MatchingError::BadEvent(format!("event site name: {e}")))?
                    .0;
                let at = site
                    .location
                    .and_then(|p| GeoPoint::new(p.latitude, p.longitude).ok());
                repo::upsert_site(conn, id, &site.owner_org, at, site.version).await?;
                Ok(Vec::new())
            }
            Payload::Lot(lot) => {
                let mut row = Lot::from_event(&lot)?;
                row.owner_org = repo::site_owner(conn, row.site_id).await?;
                if !repo::upsert_lot(conn, &row).await? {
                    return Ok(Vec::new());
                }
                repo::record_change(conn, "lot", &row.name().key()).await?;
                self.set_lot(row.name(), Some(&row))?;
                let scored = match row.profile().filter(|_| row.on_offer()) {
                    Some(profile) => {
                        // The structures whose open need the lot meets come first.
                        self.read(|live| {
                            let met = live.needs.met_by(&row, now);
                            let top = live.index.top_partners(&profile, PROPOSALS_PER_CHANGE, now);
                            needs::needs_first(&live.index, &profile, &met, top, now)
                        })?
                    }
                    None => Vec::new(),
                };
                self.proposals(conn, &scored, now).await
            }
            Payload::Claim(claim) => {
                let lot = ClaimName::parse("claim.name", &claim.name)
                    .map_err(|e| MatchingError::BadEvent(format!("event claim name: {e}")))?
                    .lot;
                let unit_mass = repo::unit_mass_g(conn, lot).await?;
                let row = Claim::from_event(&claim, unit_mass)?;
                if !repo::upsert_claim(conn, &row).await? {
                    return Ok(Vec::new());
                }
                // The partner's committed capacity moved, and with it its rank.
                repo::record_change(conn, "partner", &row.partner_id.to_string()).await?;
                let partner = repo::partner(conn, row.partner_id).await?;
                let events = self
                    .partner_changed(conn, row.partner_id, partner.as_ref(), now)
                    .await?;
                // After the ranking, which may have just proposed this lot to
                // this partner: the proposal it claimed is then claimed too.
                let lot = LotName {
                    site: row.site_id,
                    lot: row.lot_id,
                };
                proposals::mark_claimed(conn, lot, row.partner_id, now).await?;
                Ok(events)
            }
            Payload::Partner(partner) => {
                let row = Partner::from_event(&partner)?;
                if !repo::upsert_partner(conn, &row).await? {
                    return Ok(Vec::new());
                }
                repo::record_change(conn, "partner", &row.id.to_string()).await?;
                self.partner_changed(conn, row.id, Some(&row), now).await
            }
            Payload::MatchProposal(_)
            | Payload::Revocation(_)
            | Payload::Need(_)
            | Payload::Account(_)
            | Payload::PickupBooking(_) => Ok(Vec::new()),
        }
    }

    /// After a partner's profile changed: every lot whose ranking it may
    /// enter or leave is ranked again, and each pair now in a lot's top
    /// [`PROPOSALS_PER_CHANGE`] that was never proposed is proposed.
    async fn partner_changed(
        &self,
        conn: &mut AnyConnection,
        id: Uuid,
        partner: Option<&Partner>,
        now: i64,
    ) -> Result<Vec<Message>> {
        let profile = match partner {
            Some(p) if p.status == "verified" => partner_profile(conn, p).await?,
            Some(_) | None => None,
        };
        let before = self.set_partner(id, profile.clone())?;
        let scored = self.read(|live| {
            let mut lots: Vec<String> = [before.as_ref(), profile.as_ref()]
                .into_iter()
                .flatten()
                .flat_map(|p| reachable_lots(&live.index, p, now))
                .collect();
            lots.sort();
            lots.dedup();
            lots.iter()
                .filter_map(|l| live.index.lot(l))
                .flat_map(|l| live.index.top_partners(l, PROPOSALS_PER_CHANGE, now))
                .map(|s| (s, false))
                .collect::<Vec<_>>()
        })?;
        self.proposals(conn, &scored, now).await
    }

    /// Records the proposals whose pair was never proposed (declined
    /// pairs stay proposed once) and returns their events; each pair with
    /// whether the lot meets an open need of the partner.
    async fn proposals(
        &self,
        conn: &mut AnyConnection,
        scored: &[(Scored, bool)],
        now: i64,
    ) -> Result<Vec<Message>> {
        let candidates: Vec<NewProposal> = scored
            .iter()
            .filter_map(|(s, need)| {
                Some(NewProposal {
                    id: Uuid::now_v7(),
                    lot: LotName::from_key(&s.lot_id)?,
                    partner_id: Uuid::try_parse(&s.partner_id).ok()?,
                    scored: s,
                    need: *need,
                })
            })
            .collect();
        let new: HashSet<(LotName, Uuid)> = proposals::insert_new(conn, &candidates, now)
            .await?
            .into_iter()
            .collect();
        Ok(candidates
            .iter()
            .filter(|c| new.contains(&(c.lot, c.partner_id)))
            .map(|c| proposal_event(&c.made(now)))
            .collect())
    }
}

/// The entity whose index entry an event changes, to read back if it fails:
/// a lot by its [`LotName::key`], a partner by its id.
fn touched(payload: &Payload) -> Result<Option<(&'static str, String)>> {
    let bad = |e: reemploi_runtime::validation::Violation| MatchingError::BadEvent(e.to_string());
    Ok(match payload {
        Payload::Lot(l) => Some((
            "lot",
            LotName::parse("lot.name", &l.name).map_err(bad)?.key(),
        )),
        Payload::Partner(p) => Some((
            "partner",
            parse("partner.name", &p.name, "partners/{partner}").map_err(bad)?[0].to_string(),
        )),
        Payload::Claim(c) => Some((
            "partner",
            parse("claim.partner", &c.partner, "partners/{partner}").map_err(bad)?[0].to_string(),
        )),
        Payload::Site(_)
        | Payload::MatchProposal(_)
        | Payload::Revocation(_)
        | Payload::Need(_)
        | Payload::Account(_)
        | Payload::PickupBooking(_) => None,
    })
}

/// Every lot on offer whose ranking `partner` could be part of, whatever
/// its status and capacity now: those its location, radius, categories
/// and horizon reach.
fn reachable_lots(index: &Index, partner: &PartnerProfile, now: i64) -> Vec<String> {
    let probe = PartnerProfile {
        verified_active: true,
        committed_g: 0,
        weekly_intake_g: partner.weekly_intake_g.max(1),
        ..partner.clone()
    };
    index
        .top_lots(&probe, index.lot_count(), now)
        .into_iter()
        .map(|s| s.lot_id)
        .collect()
}

/// The `match.proposed` event of a new proposal.
fn proposal_event(proposal: &Proposal) -> Message {
    envelope::message(
        PRODUCER,
        PROPOSED.to_string(),
        proposal.name(),
        proposal.version,
        proposal.created_at,
        Payload::MatchProposal(proposal.to_proto()),
    )
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
