//! What the service follows: the accounts of the identity service, the
//! inventory's sites, lots, claims and pick-ups, the registry's partners and
//! matching's proposals. Each event updates the projections and, when it
//! changes something someone should know, makes notifications, and the
//! deliveries of the webhooks that asked for it, in one transaction and
//! once per event id.

use std::sync::Arc;

use reemploi_events::{Handler, HandlerError, Message, Subscription, inbox};
use reemploi_proto::events::Envelope;
use reemploi_proto::events::envelope::Payload;
use reemploi_proto::identity as ipb;
use reemploi_proto::inventory as inv;
use reemploi_proto::matching as mpb;
use reemploi_proto::registry as rpb;
use reemploi_runtime::envelope;
use reemploi_runtime::names::{ClaimName, LotName, parse};
use reemploi_runtime::wire::{partner_status_str, ts_millis};
use reemploi_store::now_millis;
use sqlx::AnyConnection;
use uuid::Uuid;

use crate::error::{NotifyError, Result};
use crate::model::{Audience, Draft, Kind};
use crate::repo::{self, Account, Claim, Lot, Partner, Site};
use crate::service::Notify;
use crate::wording::{self, Facts};

/// The producing service's name, on its stream and envelopes.
pub const PRODUCER: &str = "notify";

/// The subject of a new proposal.
const PROPOSED: &str = "reemploi.matching.match.proposed";

/// The durable subscriptions the service consumes; replicas share them.
pub fn subscriptions(max_deliver: i64) -> [Subscription; 4] {
    let sub = |durable: &str, stream: &str, filter: &str| {
        Subscription::new(durable, stream, filter).with_max_deliver(max_deliver)
    };
    [
        sub("notify-identity", "identity", "reemploi.identity.>"),
        sub("notify-inventory", "inventory", "reemploi.inventory.>"),
        sub("notify-partners", "registry", "reemploi.registry.partner.>"),
        sub("notify-proposals", "matching", PROPOSED),
    ]
}

fn bad(what: &str, e: impl std::fmt::Display) -> NotifyError {
    NotifyError::BadEvent(format!("{what}: {e}"))
}

impl Notify {
    /// Applies one event, once per event id, in one transaction; wakes the
    /// watchers when it made notifications.
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
        // Who owns webhooks may change: a token revoked, an account disabled.
        let owners = matches!(payload, Payload::Account(_) | Payload::Revocation(_));
        let mut drafts = project(&mut tx, &head, payload).await?;
        if !is_news(&head, now_millis()) {
            // Kept in the projections, told to nobody: a service that
            // starts on a platform with a history (or catches up after a
            // long outage) does not announce the past as new.
            drafts.clear();
        }
        let made = self.store(&mut tx, &drafts).await?;
        let posts = crate::webhooks::enqueue(&mut tx, self.hooks(), &head, msg).await?;
        tx.commit()
            .await
            .map_err(reemploi_store::StoreError::from)?;
        if made > 0 {
            self.wake();
        }
        if owners {
            self.hooks().invalidate();
        }
        if posts > 0 {
            self.hooks().wake();
        }
        Ok(())
    }
}

/// How old an event may be and still be news.
pub const NEWS_WINDOW_MS: i64 = 24 * 3_600_000;

/// Whether the event of `head` happened within [`NEWS_WINDOW_MS`] of `now`.
pub fn is_news(head: &Envelope, now: i64) -> bool {
    head.occur_time
        .as_ref()
        .map(ts_millis)
        .is_some_and(|at| now.saturating_sub(at) <= NEWS_WINDOW_MS)
}

/// Updates the projections with one event; the notifications it calls for.
pub async fn project(
    conn: &mut AnyConnection,
    head: &Envelope,
    payload: Payload,
) -> Result<Vec<Draft>> {
    let version = head.aggregate_version;
    let event = Event {
        id: head.event_id.clone(),
        what: head
            .event_type
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .to_owned(),
    };
    match payload {
        Payload::Account(a) => {
            let account = account_of(&a, version)?;
            if repo::upsert_account(conn, &account).await? && !account.active {
                // A disabled account's webhooks stop with it.
                crate::webhooks::store::retire_owner(conn, &a.name, now_millis()).await?;
            }
            Ok(Vec::new())
        }
        Payload::Revocation(r) => {
            // An integrator's API token revoked: its webhooks stop. (An
            // account's revocations also come with a password reset: its
            // webhooks stop only when it is disabled, above.)
            if r.subject.starts_with("apiTokens/") {
                crate::webhooks::store::retire_owner(conn, &r.subject, now_millis()).await?;
            }
            Ok(Vec::new())
        }
        Payload::Site(s) => {
            let site = Site {
                name: s.name,
                display_name: s.display_name,
                org: s.owner_org,
                version,
            };
            repo::upsert_site(conn, &site).await?;
            Ok(Vec::new())
        }
        Payload::Lot(l) => on_lot(conn, &event, l, version).await,
        Payload::Claim(c) => on_claim(conn, &event, c, version).await,
        Payload::Partner(p) => on_partner(conn, &event, p, version).await,
        Payload::MatchProposal(m) if head.event_type == PROPOSED => {
            on_proposal(conn, &event, m).await
        }
        Payload::PickupBooking(b) => on_pickup(conn, &event, b).await,
        Payload::MatchProposal(_) | Payload::Need(_) => Ok(Vec::new()),
    }
}

/// The event a notification comes from: its id, and what it says
/// happened (the last word of its subject: `reserved`, `confirmed`...).
struct Event {
    id: String,
    what: String,
}

impl Event {
    fn draft(
        &self,
        audience: Audience,
        kind: Kind,
        facts: &Facts,
        resource: &str,
        link: String,
    ) -> Draft {
        let dedup = format!("{}|{}|{}", self.id, kind.as_str(), audience.key());
        Draft {
            event_id: Some(self.id.clone()),
            ..wording::draft(dedup, audience, kind, facts, resource, link)
        }
    }
}

fn account_of(a: &ipb::Account, version: i64) -> Result<Account> {
    let id =
        parse("account.name", &a.name, "accounts/{account}").map_err(|e| bad("account", e))?[0];
    let role = match ipb::AccountRole::try_from(a.role) {
        Ok(ipb::AccountRole::SiteManager) => "site_manager",
        Ok(ipb::AccountRole::Partner) => "partner",
        Ok(ipb::AccountRole::Admin) => "admin",
        Ok(ipb::AccountRole::Integrator) => "integrator",
        Ok(ipb::AccountRole::Unspecified) | Err(_) => return Err(bad("account.role", a.role)),
    };
    let partner_id = if a.partner.is_empty() {
        None
    } else {
        Some(
            parse("account.partner", &a.partner, "partners/{partner}")
                .map_err(|e| bad("account", e))?[0],
        )
    };
    Ok(Account {
        id,
        email: a.email.clone(),
        display_name: a.display_name.clone(),
        role: role.to_owned(),
        org: Some(a.org.clone()).filter(|o| !o.is_empty()),
        partner_id,
        active: a.status == ipb::AccountStatus::Active as i32,
        created_at: a.create_time.as_ref().map(ts_millis).unwrap_or_default(),
        version,
    })
}

fn lot_status(status: i32) -> &'static str {
    match inv::LotStatus::try_from(status) {
        Ok(inv::LotStatus::Draft) => "draft",
        Ok(inv::LotStatus::Published) => "published",
        Ok(inv::LotStatus::Withdrawn) => "withdrawn",
        Ok(inv::LotStatus::Exhausted) => "exhausted",
        Ok(inv::LotStatus::Expired) => "expired",
        Ok(inv::LotStatus::Unspecified) | Err(_) => "unknown",
    }
}

fn claim_status(status: i32) -> &'static str {
    match inv::ClaimStatus::try_from(status) {
        Ok(inv::ClaimStatus::Reserved) => "reserved",
        Ok(inv::ClaimStatus::Confirmed) => "confirmed",
        Ok(inv::ClaimStatus::HandedOver) => "handed_over",
        Ok(inv::ClaimStatus::Rejected) => "rejected",
        Ok(inv::ClaimStatus::Cancelled) => "cancelled",
        Ok(inv::ClaimStatus::Expired) => "expired",
        Ok(inv::ClaimStatus::Unspecified) | Err(_) => "unknown",
    }
}

/// A lot withdrawn while claimed: its claimants are told.
async fn on_lot(
    conn: &mut AnyConnection,
    e: &Event,
    l: inv::Lot,
    version: i64,
) -> Result<Vec<Draft>> {
    let name = LotName::parse("lot.name", &l.name).map_err(|x| bad("lot", x))?;
    let status = if l.delete_time.is_some() {
        "deleted"
    } else {
        lot_status(l.status)
    };
    let lot = Lot {
        name: name.to_string(),
        site: format!("sites/{}", name.site),
        reference: l.reference.clone(),
        designation: l.designation.clone(),
        status: status.to_owned(),
        available_until: l
            .availability
            .as_ref()
            .and_then(|w| w.end_time.as_ref())
            .map(ts_millis),
        version,
    };
    let old = repo::lot(conn, &lot.name).await?;
    if !repo::upsert_lot(conn, &lot).await? {
        return Ok(Vec::new());
    }
    let withdrawn = lot.status == "withdrawn" && old.is_none_or(|o| o.status != "withdrawn");
    if !withdrawn {
        return Ok(Vec::new());
    }
    let facts = Facts {
        subject: wording::lot(&lot.designation, &lot.reference),
        ..Facts::default()
    };
    let mut drafts = Vec::new();
    for claim in repo::live_claims(conn, &lot.name).await? {
        let to = Audience::Partner(claim.partner_id);
        drafts.push(e.draft(
            to,
            Kind::ClaimedLotWithdrawn,
            &facts,
            &claim.name,
            wording::CLAIMS_PAGE.to_owned(),
        ));
    }
    Ok(drafts)
}

/// How a lot is called, from the projection (or a placeholder while its
/// event has not arrived).
pub(crate) async fn lot_words(conn: &mut AnyConnection, lot: &str) -> Result<String> {
    Ok(repo::lot(conn, lot)
        .await?
        .map(|l| wording::lot(&l.designation, &l.reference))
        .unwrap_or_else(|| wording::SOME_LOT.to_owned()))
}

async fn partner_words(conn: &mut AnyConnection, id: Uuid) -> Result<String> {
    Ok(repo::partner(conn, id)
        .await?
        .map(|p| p.display_name)
        .unwrap_or_else(|| wording::SOME_PARTNER.to_owned()))
}

/// The organisation that runs the site of `lot`, if known.
async fn org_of(conn: &mut AnyConnection, lot: &str) -> Result<Option<String>> {
    let Ok(name) = LotName::parse("lot", lot) else {
        return Ok(None);
    };
    Ok(repo::site(conn, &format!("sites/{}", name.site))
        .await?
        .map(|s| s.org))
}

/// A claim's moves: a new reservation and a cancellation are told to the
/// site's managers, a confirmation or a rejection to the partner.
async fn on_claim(
    conn: &mut AnyConnection,
    e: &Event,
    c: inv::Claim,
    version: i64,
) -> Result<Vec<Draft>> {
    let name = ClaimName::parse("claim.name", &c.name).map_err(|x| bad("claim", x))?;
    let partner_id =
        parse("claim.partner", &c.partner, "partners/{partner}").map_err(|x| bad("claim", x))?[0];
    let lot = name.lot.to_string();
    let claim = Claim {
        name: name.to_string(),
        lot: lot.clone(),
        partner_id,
        status: claim_status(c.status).to_owned(),
        expires_at: c.reservation_expire_time.as_ref().map(ts_millis),
        version,
    };
    repo::upsert_claim(conn, &claim).await?;
    // What the event says happened, whatever the order events arrive in (a
    // retried one may come after the next); each claim is reserved,
    // confirmed, rejected or cancelled once, so that is told once.
    let kind = match e.what.as_str() {
        "reserved" => Kind::ClaimReserved,
        "cancelled" => Kind::ClaimCancelled,
        "confirmed" => Kind::ClaimConfirmed,
        "rejected" => Kind::ClaimRejected,
        _ => return Ok(Vec::new()),
    };
    let facts = Facts {
        subject: lot_words(conn, &lot).await?,
        who: partner_words(conn, partner_id).await?,
        when: String::new(),
    };
    let mut draft = if kind.role() == reemploi_runtime::auth::Role::Partner {
        e.draft(
            Audience::Partner(partner_id),
            kind,
            &facts,
            &claim.name,
            wording::CLAIMS_PAGE.to_owned(),
        )
    } else {
        let Some(org) = org_of(conn, &lot).await? else {
            return Ok(Vec::new());
        };
        e.draft(
            Audience::Org(org),
            kind,
            &facts,
            &claim.name,
            wording::site_lot_page(&lot),
        )
    };
    // Once per claim and kind, even replayed under new event ids.
    draft.dedup = format!("claim|{}|{}", claim.name, kind.as_str());
    Ok(vec![draft])
}

/// A partner's moves: a new one waits for the admins; verified or
/// suspended, its staff are told.
async fn on_partner(
    conn: &mut AnyConnection,
    e: &Event,
    p: rpb::Partner,
    version: i64,
) -> Result<Vec<Draft>> {
    let id =
        parse("partner.name", &p.name, "partners/{partner}").map_err(|x| bad("partner", x))?[0];
    let partner = Partner {
        id,
        display_name: if p.trade_name.is_empty() {
            p.legal_name.clone()
        } else {
            p.trade_name.clone()
        },
        status: partner_status_str(p.status).to_owned(),
        version,
    };
    let old = repo::partner(conn, id).await?;
    if !repo::upsert_partner(conn, &partner).await? {
        return Ok(Vec::new());
    }
    let was = old.map(|o| o.status);
    if was.as_deref() == Some(partner.status.as_str()) {
        return Ok(Vec::new());
    }
    let (to, kind, link) = match partner.status.as_str() {
        "pending" => (
            Audience::Admins,
            Kind::PartnerPending,
            wording::PARTNERS_PAGE,
        ),
        "verified" => (
            Audience::Partner(id),
            Kind::PartnerVerified,
            wording::HOME_PAGE,
        ),
        "suspended" => (
            Audience::Partner(id),
            Kind::PartnerSuspended,
            wording::HOME_PAGE,
        ),
        _ => return Ok(Vec::new()),
    };
    let facts = Facts {
        subject: partner.display_name.clone(),
        ..Facts::default()
    };
    Ok(vec![e.draft(to, kind, &facts, &p.name, link.to_owned())])
}

/// A proposal, told to the partner (as a need met when a need ranked it).
async fn on_proposal(
    conn: &mut AnyConnection,
    e: &Event,
    m: mpb::MatchProposal,
) -> Result<Vec<Draft>> {
    let Some(found) = m.r#match else {
        return Err(bad("proposal", "no match"));
    };
    let partner = parse("match.partner", &found.partner, "partners/{partner}")
        .map_err(|x| bad("proposal", x))?[0];
    let lot = LotName::parse("match.lot", &found.lot)
        .map_err(|x| bad("proposal", x))?
        .to_string();
    let need = found.breakdown.as_ref().is_some_and(|b| b.need > 0.0);
    let kind = if need {
        Kind::NeedMatched
    } else {
        Kind::LotProposed
    };
    let facts = Facts {
        subject: lot_words(conn, &lot).await?,
        ..Facts::default()
    };
    Ok(vec![e.draft(
        Audience::Partner(partner),
        kind,
        &facts,
        &lot,
        wording::partner_lot_page(&lot),
    )])
}

/// A pick-up booked, told to the site's managers.
async fn on_pickup(
    conn: &mut AnyConnection,
    e: &Event,
    b: inv::PickupBooking,
) -> Result<Vec<Draft>> {
    let lot = LotName::parse("booking.lot", &b.lot)
        .map_err(|x| bad("booking", x))?
        .to_string();
    let partner = parse("booking.partner", &b.partner, "partners/{partner}")
        .map_err(|x| bad("booking", x))?[0];
    let Some(org) = org_of(conn, &lot).await? else {
        return Ok(Vec::new());
    };
    let facts = Facts {
        subject: lot_words(conn, &lot).await?,
        who: partner_words(conn, partner).await?,
        when: b
            .start_time
            .as_ref()
            .map(|t| wording::date(ts_millis(t)))
            .unwrap_or_default(),
    };
    Ok(vec![e.draft(
        Audience::Org(org),
        Kind::PickupBooked,
        &facts,
        &b.name,
        wording::site_lot_page(&lot),
    )])
}

/// Feeds one durable subscription into [`Notify`].
pub struct Consumer {
    notify: Notify,
    name: String,
}

impl Consumer {
    /// The handler of the subscription named `name`.
    pub fn new(notify: Notify, name: &str) -> Arc<Consumer> {
        Arc::new(Consumer {
            notify,
            name: name.to_owned(),
        })
    }
}

#[async_trait::async_trait]
impl Handler for Consumer {
    async fn handle(&self, msg: &Message) -> std::result::Result<(), HandlerError> {
        self.notify.apply(&self.name, msg).await
    }
}
