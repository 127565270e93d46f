//! The notifications made from events, on a real database of each backend,
//! with events made as the other services make them: each change that
//! concerns someone is told once, to its audience only, whatever the
//! redeliveries; the clock's notifications are made once per fact;
//! preferences and unsubscribe links hold to their rules.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reemploi_events::{InProcessBus, Message};
use reemploi_proto::events::envelope::Payload;
use reemploi_proto::identity as idpb;
use reemploi_proto::inventory as ipb;
use reemploi_proto::matching as mpb;
use reemploi_proto::notify as pb;
use reemploi_proto::registry as rpb;
use reemploi_proto::types as tpb;
use reemploi_runtime::auth::{Principal, Role};
use reemploi_runtime::envelope;
use reemploi_runtime::paging::Pager;
use reemploi_runtime::wire::millis_ts;
use reemploi_store::{Backend, now_millis};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::model::Kind;
use crate::{Notify, Unsubscriber, migrations};

pub(crate) const HOUR: i64 = 3_600_000;
pub(crate) const ORG: &str = "m2a-habitat";

pub(crate) struct World {
    pub(crate) notify: Notify,
    _db: reemploi_testing::db::TestDb,
    pub(crate) partner: Uuid,
    pub(crate) site: String,
    pub(crate) lot: String,
}

pub(crate) async fn world(backend: Backend) -> World {
    let db = reemploi_testing::db::fresh(backend).await;
    db.db.migrate(&migrations()).await.unwrap();
    let notify = Notify::new(
        db.db.clone(),
        Pager::new(b"test pages"),
        Unsubscriber::new(b"test links"),
        CancellationToken::new(),
    );
    let site = format!("sites/{}", Uuid::now_v7());
    World {
        notify,
        _db: db,
        partner: Uuid::now_v7(),
        lot: format!("{site}/lots/r12"),
        site,
    }
}

pub(crate) fn event(subject: &str, aggregate: &str, version: i64, payload: Payload) -> Message {
    envelope::message(
        "test",
        subject.into(),
        aggregate.into(),
        version,
        now_millis(),
        payload,
    )
}

impl World {
    pub(crate) async fn apply(&self, consumer: &str, msg: &Message) {
        self.notify.apply(consumer, msg).await.unwrap();
    }

    pub(crate) fn site_event(&self) -> Message {
        let site = ipb::Site {
            name: self.site.clone(),
            display_name: "Coteaux".into(),
            owner_org: ORG.into(),
            ..Default::default()
        };
        event(
            "reemploi.inventory.site.created",
            &self.site,
            1,
            Payload::Site(site),
        )
    }

    pub(crate) fn lot_event(
        &self,
        status: ipb::LotStatus,
        version: i64,
        until: Option<i64>,
    ) -> Message {
        let lot = ipb::Lot {
            name: self.lot.clone(),
            designation: "Radiateurs fonte".into(),
            reference: "R12".into(),
            status: status as i32,
            availability: until.map(|u| tpb::TimeWindow {
                start_time: None,
                end_time: Some(millis_ts(u)),
            }),
            ..Default::default()
        };
        event(
            "reemploi.inventory.lot.updated",
            &self.lot,
            version,
            Payload::Lot(lot),
        )
    }

    pub(crate) fn partner_event(&self, status: rpb::PartnerStatus, version: i64) -> Message {
        let name = format!("partners/{}", self.partner);
        let p = rpb::Partner {
            name: name.clone(),
            legal_name: "Atelier du Rebberg".into(),
            status: status as i32,
            ..Default::default()
        };
        event(
            "reemploi.registry.partner.updated",
            &name,
            version,
            Payload::Partner(p),
        )
    }

    pub(crate) fn claim_event(
        &self,
        claim: &str,
        status: ipb::ClaimStatus,
        version: i64,
        expires: Option<i64>,
    ) -> Message {
        let c = ipb::Claim {
            name: claim.to_owned(),
            partner: format!("partners/{}", self.partner),
            status: status as i32,
            reservation_expire_time: expires.map(millis_ts),
            ..Default::default()
        };
        // Named as the inventory names each change.
        let what = status
            .as_str_name()
            .trim_start_matches("CLAIM_STATUS_")
            .to_lowercase();
        event(
            &format!("reemploi.inventory.claim.{what}"),
            claim,
            version,
            Payload::Claim(c),
        )
    }

    /// Matching's proposal `name` of the lot to the partner, `need` in its score.
    fn proposed(&self, name: &str, need: f64) -> Message {
        let m = mpb::MatchProposal {
            name: format!("proposals/{name}"),
            r#match: Some(mpb::Match {
                lot: self.lot.clone(),
                partner: format!("partners/{}", self.partner),
                breakdown: Some(mpb::ScoreBreakdown {
                    need,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        event(
            "reemploi.matching.match.proposed",
            &m.name,
            1,
            Payload::MatchProposal(m.clone()),
        )
    }

    pub(crate) fn claim_name(&self) -> String {
        format!("{}/claims/{}", self.lot, Uuid::now_v7())
    }

    async fn read(&self, p: &Principal) -> Vec<pb::Notification> {
        let req = pb::ListNotificationsRequest {
            page_size: 100,
            ..Default::default()
        };
        self.notify.list(p, &req).await.unwrap().notifications
    }

    fn manager(&self, subject: &str) -> Principal {
        Principal {
            subject: subject.into(),
            role: Role::SiteManager,
            org: Some(ORG.into()),
            partner: None,
        }
    }

    fn staff(&self) -> Principal {
        Principal {
            subject: "accounts/staff".into(),
            role: Role::Partner,
            org: None,
            partner: Some(format!("partners/{}", self.partner)),
        }
    }
}

fn admin() -> Principal {
    Principal {
        subject: "accounts/admin".into(),
        role: Role::Admin,
        org: None,
        partner: None,
    }
}

fn kinds(list: &[pb::Notification]) -> Vec<Kind> {
    list.iter()
        .map(|n| Kind::from_proto(n.kind).unwrap())
        .collect()
}

async fn each_backend<F, Fut>(test: F)
where
    F: Fn(Backend) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    test(Backend::Sqlite).await;
    test(Backend::Postgres).await;
}

#[tokio::test]
async fn an_event_delivered_again_notifies_nobody_twice() {
    each_backend(|backend| async move {
        let w = world(backend).await;
        w.apply("notify-inventory", &w.site_event()).await;
        w.apply(
            "notify-inventory",
            &w.lot_event(ipb::LotStatus::Published, 2, None),
        )
        .await;
        w.apply(
            "notify-partners",
            &w.partner_event(rpb::PartnerStatus::Pending, 1),
        )
        .await;
        let claim = w.claim_name();
        let reserved = w.claim_event(&claim, ipb::ClaimStatus::Reserved, 1, None);
        for _ in 0..3 {
            w.apply("notify-inventory", &reserved).await;
        }
        // The same event under a new id (a replay after a restore) is no
        // newer than what is held: nothing more either.
        let again = w.claim_event(&claim, ipb::ClaimStatus::Reserved, 1, None);
        w.apply("notify-inventory", &again).await;
        let managers = w.read(&w.manager("accounts/a")).await;
        assert_eq!(kinds(&managers), [Kind::ClaimReserved], "{backend:?}");
        assert_eq!(
            managers[0].title,
            "Nouvelle réservation : Radiateurs fonte (R12)"
        );
        assert_eq!(managers[0].body, "Par Atelier du Rebberg.");
        assert_eq!(kinds(&w.read(&admin()).await), [Kind::PartnerPending]);
        // Nothing of the site's for the partner; its confirmation only.
        assert!(w.read(&w.staff()).await.is_empty());
        w.apply(
            "notify-inventory",
            &w.claim_event(&claim, ipb::ClaimStatus::Confirmed, 2, None),
        )
        .await;
        w.apply(
            "notify-inventory",
            &w.claim_event(&claim, ipb::ClaimStatus::Confirmed, 2, None),
        )
        .await;
        assert_eq!(kinds(&w.read(&w.staff()).await), [Kind::ClaimConfirmed]);
        // An older version arriving late changes nothing.
        w.apply(
            "notify-inventory",
            &w.claim_event(&claim, ipb::ClaimStatus::Reserved, 1, None),
        )
        .await;
        assert_eq!(
            kinds(&w.read(&w.manager("accounts/a")).await),
            [Kind::ClaimReserved]
        );
    })
    .await;
}

#[tokio::test]
async fn partners_withdrawals_and_proposals_reach_their_audience() {
    each_backend(|backend| async move {
        let w = world(backend).await;
        w.apply("notify-inventory", &w.site_event()).await;
        w.apply(
            "notify-inventory",
            &w.lot_event(ipb::LotStatus::Published, 2, None),
        )
        .await;
        w.apply(
            "notify-partners",
            &w.partner_event(rpb::PartnerStatus::Pending, 1),
        )
        .await;
        w.apply(
            "notify-partners",
            &w.partner_event(rpb::PartnerStatus::Verified, 2),
        )
        .await;
        // A profile change of a verified partner is no news.
        w.apply(
            "notify-partners",
            &w.partner_event(rpb::PartnerStatus::Verified, 3),
        )
        .await;
        for (need, subject) in [(0.0, "a"), (1.0, "b")] {
            w.apply("notify-proposals", &w.proposed(subject, need))
                .await;
        }
        let claim = w.claim_name();
        w.apply(
            "notify-inventory",
            &w.claim_event(&claim, ipb::ClaimStatus::Reserved, 1, None),
        )
        .await;
        w.apply(
            "notify-inventory",
            &w.lot_event(ipb::LotStatus::Withdrawn, 3, None),
        )
        .await;
        let mine = w.read(&w.staff()).await;
        assert_eq!(
            kinds(&mine),
            [
                Kind::ClaimedLotWithdrawn,
                Kind::NeedMatched,
                Kind::LotProposed,
                Kind::PartnerVerified
            ],
            "{backend:?}"
        );
        let proposed = &mine[2];
        let site_id = w.site.trim_start_matches("sites/");
        assert_eq!(proposed.link, format!("/lots/{site_id}/r12"));
        assert_eq!(kinds(&w.read(&admin()).await), [Kind::PartnerPending]);
        let other = Principal {
            subject: "accounts/other".into(),
            role: Role::Partner,
            org: None,
            partner: Some(format!("partners/{}", Uuid::now_v7())),
        };
        assert!(w.read(&other).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn the_clock_tells_expiring_reservations_and_lots_once() {
    each_backend(|backend| async move {
        let w = world(backend).await;
        let bus = InProcessBus::temporary().await.unwrap();
        let now = now_millis();
        w.apply("notify-inventory", &w.site_event()).await;
        w.apply(
            "notify-inventory",
            &w.lot_event(ipb::LotStatus::Published, 2, Some(now + 72 * HOUR)),
        )
        .await;
        // Nobody claimed it: the managers hear of its end.
        assert_eq!(w.notify.sweep(&bus, now).await.unwrap(), 1);
        assert_eq!(w.notify.sweep(&bus, now + HOUR).await.unwrap(), 0);
        let said = w.read(&w.manager("accounts/a")).await;
        assert_eq!(kinds(&said), [Kind::LotExpiring], "{backend:?}");
        let claim = w.claim_name();
        w.apply(
            "notify-inventory",
            &w.claim_event(&claim, ipb::ClaimStatus::Reserved, 1, Some(now + 30 * HOUR)),
        )
        .await;
        // 30 h away: not yet; 23 h away: once.
        assert_eq!(w.notify.sweep(&bus, now).await.unwrap(), 0);
        assert_eq!(w.notify.sweep(&bus, now + 7 * HOUR).await.unwrap(), 1);
        assert_eq!(w.notify.sweep(&bus, now + 8 * HOUR).await.unwrap(), 0);
        let mine = w.read(&w.staff()).await;
        assert_eq!(kinds(&mine), [Kind::ReservationExpiring]);
        assert!(mine[0].body.contains("prend fin le"), "{}", mine[0].body);
        // Confirmed, it no longer expires.
        let other = w.claim_name();
        w.apply(
            "notify-inventory",
            &w.claim_event(&other, ipb::ClaimStatus::Confirmed, 1, Some(now + 2 * HOUR)),
        )
        .await;
        assert_eq!(w.notify.sweep(&bus, now + 9 * HOUR).await.unwrap(), 0);
    })
    .await;
}

/// Gives up on every message at once.
struct Refuses;

#[async_trait::async_trait]
impl reemploi_events::Handler for Refuses {
    async fn handle(&self, _: &Message) -> Result<(), reemploi_events::HandlerError> {
        Err(reemploi_events::HandlerError::Permanent(
            "nothing can apply it".into(),
        ))
    }
}

/// Dead letters are told to the admins, a page at each sweep, each once,
/// however many there are and whichever process sweeps.
#[tokio::test]
async fn every_dead_letter_is_told_once_to_the_admins() {
    use reemploi_events::Bus as _;
    let w = world(Backend::Sqlite).await;
    let bus = InProcessBus::temporary().await.unwrap();
    let stop = CancellationToken::new();
    bus.subscribe(
        reemploi_events::Subscription::new("impact-partners", "registry", "reemploi.registry.>"),
        std::sync::Arc::new(Refuses),
        stop.clone(),
    )
    .await
    .unwrap();
    for n in 0..5 {
        bus.publish(&Message::new("reemploi.registry.partner.updated", vec![n]))
            .await
            .unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while bus.dead_letters(None, 10).await.unwrap().len() < 5 {
        assert!(std::time::Instant::now() < deadline, "not dead-lettered");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let now = now_millis();
    // Two at a time, then none left to tell.
    for made in [2, 2, 1, 0] {
        assert_eq!(w.notify.sweep_reading(&bus, now, 2).await.unwrap(), made);
    }
    let told = w.read(&admin()).await;
    assert_eq!(kinds(&told), [Kind::DeadLetter; 5], "{told:?}");
    assert!(
        told.iter().all(|n| n.body.contains("impact-partners")),
        "{told:?}"
    );
    // Another process (or this one started again) reads them from the
    // first again, and tells nobody twice.
    let again = Notify::new(
        w.notify.db().clone(),
        Pager::new(b"test pages"),
        Unsubscriber::new(b"test links"),
        CancellationToken::new(),
    );
    for _ in 0..3 {
        assert_eq!(again.sweep_reading(&bus, now, 2).await.unwrap(), 0);
    }
    stop.cancel();
}

#[tokio::test]
async fn preferences_and_unsubscribe_links() {
    each_backend(|backend| async move {
        let w = world(backend).await;
        let account = Uuid::now_v7();
        let p = w.manager(&format!("accounts/{account}"));
        let prefs = w.notify.preferences(&p).await.unwrap();
        let got: Vec<_> = prefs
            .preferences
            .iter()
            .map(|x| Kind::from_proto(x.kind).unwrap())
            .collect();
        assert_eq!(
            got,
            [
                Kind::ClaimReserved,
                Kind::ClaimCancelled,
                Kind::PickupBooked,
                Kind::LotExpiring
            ]
        );
        // A kind of another role, or no mode: refused, nothing changed.
        let bad = pb::UpdatePreferencesRequest {
            preferences: vec![
                pb::Preference {
                    kind: pb::NotificationKind::LotProposed as i32,
                    mode: pb::EmailMode::Off as i32,
                },
                pb::Preference {
                    kind: pb::NotificationKind::ClaimReserved as i32,
                    mode: 0,
                },
            ],
        };
        let err = tonic::Status::from(w.notify.update_preferences(&p, &bad).await.unwrap_err());
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        let fields = reemploi_runtime::status::field_violations(&err);
        assert_eq!(fields.len(), 2, "{fields:?}");
        assert_eq!(w.notify.preferences(&p).await.unwrap(), prefs);
        let digest = pb::UpdatePreferencesRequest {
            preferences: vec![pb::Preference {
                kind: pb::NotificationKind::ClaimReserved as i32,
                mode: pb::EmailMode::Digest as i32,
            }],
        };
        let now = w.notify.update_preferences(&p, &digest).await.unwrap();
        assert_eq!(now.preferences[0].mode, pb::EmailMode::Digest as i32);
        // The link of an email turns its kind off, without signing in.
        let token = w.notify.unsubscriber().token(account, Kind::ClaimReserved);
        let done = w
            .notify
            .unsubscribe(&pb::UnsubscribeRequest {
                token: token.clone(),
            })
            .await
            .unwrap();
        assert_eq!(done.kind, pb::NotificationKind::ClaimReserved as i32);
        let after = w.notify.preferences(&p).await.unwrap();
        assert_eq!(after.preferences[0].mode, pb::EmailMode::Off as i32);
        let forged = token.replace(&account.to_string(), &Uuid::now_v7().to_string());
        let err = tonic::Status::from(
            w.notify
                .unsubscribe(&pb::UnsubscribeRequest { token: forged })
                .await
                .unwrap_err(),
        );
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        // A token that is not an account's has no preferences.
        let dev = w.manager("dev:site_manager");
        let err = tonic::Status::from(w.notify.preferences(&dev).await.unwrap_err());
        assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    })
    .await;
}

#[tokio::test]
async fn accounts_are_kept_for_the_emails() {
    each_backend(|backend| async move {
        let w = world(backend).await;
        let id = Uuid::now_v7();
        let account = |version: i64, status: idpb::AccountStatus| {
            let a = idpb::Account {
                name: format!("accounts/{id}"),
                email: "cheffe@m2a.example".into(),
                display_name: "Cheffe de projet".into(),
                role: idpb::AccountRole::SiteManager as i32,
                org: ORG.into(),
                status: status as i32,
                create_time: Some(millis_ts(1_000)),
                ..Default::default()
            };
            event(
                "reemploi.identity.account.updated",
                &a.name,
                version,
                Payload::Account(a.clone()),
            )
        };
        w.apply("notify-identity", &account(1, idpb::AccountStatus::Active))
            .await;
        let mut conn = w.notify.db().pool().acquire().await.unwrap();
        let found = crate::repo::accounts_of(&mut conn, &format!("org:{ORG}"), 2_000)
            .await
            .unwrap();
        assert_eq!(found.len(), 1, "{backend:?}");
        assert_eq!(found[0].email, "cheffe@m2a.example");
        // Not for what was made before it existed.
        assert!(
            crate::repo::accounts_of(&mut conn, &format!("org:{ORG}"), 999)
                .await
                .unwrap()
                .is_empty()
        );
        drop(conn);
        w.apply(
            "notify-identity",
            &account(2, idpb::AccountStatus::Disabled),
        )
        .await;
        let mut conn = w.notify.db().pool().acquire().await.unwrap();
        assert!(
            crate::repo::accounts_of(&mut conn, &format!("org:{ORG}"), 2_000)
                .await
                .unwrap()
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn claims_are_told_whatever_the_order_and_the_past_is_not_news() {
    each_backend(|backend| async move {
        let w = world(backend).await;
        w.apply("notify-inventory", &w.site_event()).await;
        w.apply(
            "notify-inventory",
            &w.lot_event(ipb::LotStatus::Published, 2, None),
        )
        .await;
        // The confirmation comes first (its reservation's event was retried).
        let claim = w.claim_name();
        let confirmed = w.claim_event(&claim, ipb::ClaimStatus::Confirmed, 2, None);
        let reserved = w.claim_event(&claim, ipb::ClaimStatus::Reserved, 1, None);
        w.apply("notify-inventory", &confirmed).await;
        w.apply("notify-inventory", &reserved).await;
        assert_eq!(
            kinds(&w.read(&w.staff()).await),
            [Kind::ClaimConfirmed],
            "{backend:?}"
        );
        assert_eq!(
            kinds(&w.read(&w.manager("accounts/a")).await),
            [Kind::ClaimReserved]
        );
        // Replayed under new event ids: told once all the same.
        let again = w.claim_event(&claim, ipb::ClaimStatus::Reserved, 1, None);
        w.apply("notify-inventory", &again).await;
        assert_eq!(
            kinds(&w.read(&w.manager("accounts/a")).await),
            [Kind::ClaimReserved]
        );
        // Two days old: kept, not told.
        let old_claim = w.claim_name();
        let c = ipb::Claim {
            name: old_claim.clone(),
            partner: format!("partners/{}", w.partner),
            status: ipb::ClaimStatus::Reserved as i32,
            ..Default::default()
        };
        let old = envelope::message(
            "test",
            "reemploi.inventory.claim.reserved".into(),
            old_claim.clone(),
            1,
            now_millis() - 48 * HOUR,
            Payload::Claim(c),
        );
        w.apply("notify-inventory", &old).await;
        assert_eq!(
            kinds(&w.read(&w.manager("accounts/a")).await),
            [Kind::ClaimReserved]
        );
        let mut conn = w.notify.db().pool().acquire().await.unwrap();
        let kept = crate::repo::claim(&mut conn, &old_claim).await.unwrap();
        assert_eq!(kept.map(|c| c.status).as_deref(), Some("reserved"));
    })
    .await;
}
