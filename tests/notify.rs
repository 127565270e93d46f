//! Notifications across services, on both buses: a claim on a lot is told
//! to the site managers of the lot's organisation (in the app, and live to
//! a watcher) and to nobody else; its confirmation to the partner; a
//! partner's registration to the admins. Each account keeps its own read
//! marks; nobody reads another audience's notifications.

use futures::StreamExt as _;
use reemploi_proto::notify as npb;
use reemploi_runtime::auth::{claims_for, issue_hs256};
use reemploi_testing::grpc::SECRET;

use super::*;

const ORG: &str = "m2a-habitat";

/// A token of `role` for account `subject` (each its own read marks).
fn token_of(subject: &str, role: Role, org: Option<&str>, partner: Option<&str>) -> String {
    let mut claims = claims_for(
        role,
        org.map(str::to_owned),
        partner.map(str::to_owned),
        Duration::from_secs(600),
    );
    claims.sub = subject.to_owned();
    issue_hs256(SECRET, &claims).unwrap()
}

async fn listed(
    client: &reemploi_e2e::Notifications,
    unread_only: bool,
) -> npb::ListNotificationsResponse {
    client
        .clone()
        .list_notifications(npb::ListNotificationsRequest {
            unread_only,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

fn kinds(list: &npb::ListNotificationsResponse) -> Vec<npb::NotificationKind> {
    list.notifications
        .iter()
        .map(|n| npb::NotificationKind::try_from(n.kind).unwrap())
        .collect()
}

/// Waits until `client` holds a notification of `kind`; it.
async fn arrives(
    client: &reemploi_e2e::Notifications,
    kind: npb::NotificationKind,
) -> npb::Notification {
    eventually(WAIT, || async {
        listed(client, false)
            .await
            .notifications
            .into_iter()
            .find(|n| n.kind == kind as i32)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claims_are_told_to_whom_they_concern_in_process() {
    told_to_whom_it_concerns(Transport::InProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claims_are_told_to_whom_they_concern_over_nats() {
    told_to_whom_it_concerns(Transport::Nats).await;
}

async fn told_to_whom_it_concerns(transport: Transport) {
    let stack = Stack::start(transport).await;
    let first = stack
        .notifications_with(token_of(
            "accounts/first",
            Role::SiteManager,
            Some(ORG),
            None,
        ))
        .await;
    let second = stack
        .notifications_with(token_of(
            "accounts/second",
            Role::SiteManager,
            Some(ORG),
            None,
        ))
        .await;
    let elsewhere = stack
        .notifications(Role::SiteManager, Some("another-org"), None)
        .await;
    let admin = stack.notifications(Role::Admin, None, None).await;
    // A watcher of the organisation, open before anything happens.
    let mut watch = second
        .clone()
        .watch_notifications(npb::WatchNotificationsRequest {})
        .await
        .unwrap()
        .into_inner();

    let mut registry = stack.registry(Role::Admin, None).await;
    let partner = verified(
        &mut registry,
        partner_at("Atelier du Rebberg", &siret(71), 47.745, 7.32, 30),
    )
    .await;
    let partner_id = partner.trim_start_matches("partners/").to_owned();
    let staff = stack
        .notifications(Role::Partner, None, Some(&partner_id))
        .await;
    let pending = arrives(&admin, npb::NotificationKind::PartnerPending).await;
    assert!(pending.title.contains("Atelier du Rebberg"), "{pending:?}");
    assert_eq!(pending.link, "/partenaires");
    arrives(&staff, npb::NotificationKind::PartnerVerified).await;

    let site = coteaux_site(&stack).await;
    let lot = published_radiators(&stack, &site, 10).await;
    let claimer = stack
        .inventory(Role::Partner, None, Some(&partner_id))
        .await;
    let claim = eventually(WAIT, || {
        let mut c = claimer.clone();
        let req = ipb::ClaimLotRequest {
            lot: lot.clone(),
            partner: partner.clone(),
            quantity: Some(tpb::Quantity {
                unit: tpb::Unit::Piece as i32,
                milli: 4_000,
            }),
            request_id: "four".into(),
            ..Default::default()
        };
        async move { c.claim_lot(req).await.ok().map(|r| r.into_inner()) }
    })
    .await;

    // Both managers of the organisation, nobody else.
    let reserved = arrives(&first, npb::NotificationKind::ClaimReserved).await;
    assert!(reserved.title.contains("Radiateurs fonte"), "{reserved:?}");
    assert!(reserved.body.contains("Atelier du Rebberg"), "{reserved:?}");
    assert_eq!(reserved.resource, claim.name);
    let (site_id, lot_id) = {
        let parts: Vec<&str> = lot.split('/').collect();
        (parts[1].to_owned(), parts[3].to_owned())
    };
    assert_eq!(reserved.link, format!("/chantiers/{site_id}/lots/{lot_id}"));
    arrives(&second, npb::NotificationKind::ClaimReserved).await;
    let seen = tokio::time::timeout(WAIT, async {
        loop {
            let n = watch.next().await.expect("the watch goes on").unwrap();
            if n.kind == npb::NotificationKind::ClaimReserved as i32 {
                return n;
            }
        }
    })
    .await
    .expect("the watcher is told");
    assert_eq!(seen.name, reserved.name);

    let mut manager = stack.inventory(Role::SiteManager, Some(ORG), None).await;
    manager
        .confirm_claim(ipb::ConfirmClaimRequest {
            name: claim.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let confirmed = arrives(&staff, npb::NotificationKind::ClaimConfirmed).await;
    assert_eq!(confirmed.link, "/mes-reservations");

    // Only what concerns each: the other organisation has nothing, the
    // partner nothing of the site's, the admins nothing of the claims.
    assert!(listed(&elsewhere, false).await.notifications.is_empty());
    let staff_kinds = kinds(&listed(&staff, false).await);
    assert!(
        !staff_kinds.contains(&npb::NotificationKind::ClaimReserved),
        "{staff_kinds:?}"
    );
    let admin_kinds = kinds(&listed(&admin, false).await);
    assert_eq!(admin_kinds, [npb::NotificationKind::PartnerPending]);
    let first_kinds = kinds(&listed(&first, false).await);
    assert_eq!(
        first_kinds,
        [npb::NotificationKind::ClaimReserved],
        "exactly one"
    );

    // Read marks are each account's own.
    let before = listed(&first, true).await.unread_count;
    assert_eq!(before, 1);
    let left = first
        .clone()
        .mark_notifications_read(npb::MarkNotificationsReadRequest {
            names: vec![reserved.name.clone()],
            all: false,
        })
        .await
        .unwrap()
        .into_inner()
        .unread_count;
    assert_eq!(left, 0);
    assert!(
        listed(&first, false).await.notifications[0]
            .read_time
            .is_some()
    );
    assert_eq!(listed(&second, true).await.unread_count, 1);

    // Another audience's notification is not found, and nothing is marked.
    let staff_unread = listed(&staff, true).await.unread_count;
    assert!(staff_unread >= 2, "verified and confirmed at least");
    let err = elsewhere
        .clone()
        .mark_notifications_read(npb::MarkNotificationsReadRequest {
            names: vec![confirmed.name.clone()],
            all: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(listed(&staff, true).await.unread_count, staff_unread);
    // Integrators have webhooks, not notifications.
    let integrator = stack.notifications(Role::Integrator, None, None).await;
    let err = integrator
        .clone()
        .list_notifications(npb::ListNotificationsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    // All read at once.
    let left = staff
        .clone()
        .mark_notifications_read(npb::MarkNotificationsReadRequest {
            names: vec![],
            all: true,
        })
        .await
        .unwrap()
        .into_inner()
        .unread_count;
    assert_eq!(left, 0);
    assert_eq!(listed(&staff, true).await.notifications.len(), 0);
    stack.stop().await;
}
