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

    // The partner books a pick-up: the site's managers are told when.
    let start = reemploi_store::now_millis() / 1000 + 2 * 86_400;
    let at = |seconds: i64| prost_types::Timestamp { seconds, nanos: 0 };
    let slot = manager
        .create_pickup_slot(ipb::CreatePickupSlotRequest {
            parent: site.clone(),
            pickup_slot: Some(ipb::PickupSlot {
                start_time: Some(at(start)),
                end_time: Some(at(start + 7_200)),
                trucks: 1,
                contact_name: "Mme Keller".into(),
                contact_phone: "+33 3 89 00 00 00".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    claimer
        .clone()
        .book_pickup_slot(ipb::BookPickupSlotRequest {
            name: slot.name.clone(),
            claim: claim.name.clone(),
        })
        .await
        .unwrap();
    let booked = arrives(&first, npb::NotificationKind::PickupBooked).await;
    assert!(booked.body.contains("Atelier du Rebberg"), "{booked:?}");
    assert_eq!(booked.link, format!("/chantiers/{site_id}/lots/{lot_id}"));

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
        [
            npb::NotificationKind::PickupBooked,
            npb::NotificationKind::ClaimReserved
        ],
        "exactly one of each"
    );

    // Read marks are each account's own.
    let before = listed(&first, true).await.unread_count;
    assert_eq!(before, 2);
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
    assert_eq!(left, 1);
    let read: Vec<bool> = listed(&first, false)
        .await
        .notifications
        .iter()
        .map(|n| n.read_time.is_some())
        .collect();
    assert_eq!(read, [false, true], "the booking unread, the claim read");
    assert_eq!(listed(&second, true).await.unread_count, 2);

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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhooks_post_a_claims_events_signed_and_in_order_in_process() {
    webhook_follows_a_claim(Transport::InProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhooks_post_a_claims_events_signed_and_in_order_over_nats() {
    webhook_follows_a_claim(Transport::Nats).await;
}

/// One POST as the receiver got it: its headers (lower-case) and body.
type Post = (std::collections::HashMap<String, String>, Vec<u8>);

/// An HTTP/1.1 receiver on port 0 answering 204; what it got, in order.
async fn receiver() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<Post>>>,
) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = got.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = sock.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_string();
                    let headers: std::collections::HashMap<String, String> = head
                        .lines()
                        .skip(1)
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned()))
                        .collect();
                    let length: usize = headers
                        .get("content-length")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    if buf.len() < end + 4 + length {
                        continue;
                    }
                    let body = buf[end + 4..end + 4 + length].to_vec();
                    seen.lock().unwrap().push((headers, body));
                    buf.drain(..end + 4 + length);
                    let answer = b"HTTP/1.1 204 No Content\r\n\r\n";
                    if sock.write_all(answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, got)
}

/// `v1=` and the hex HMAC-SHA256 of `{timestamp}.{body}` under `secret`,
/// computed here as a receiver would.
fn signed(secret: &str, timestamp: &str, body: &[u8]) -> String {
    use hmac::Mac as _;
    let mut mac =
        <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("v1={hex}")
}

async fn webhook_follows_a_claim(transport: Transport) {
    use reemploi_proto::notify::webhook_service_client::WebhookServiceClient;
    let stack = Stack::start(transport).await;
    let (addr, got) = receiver().await;
    let integrator = reemploi_testing::grpc::token(Role::Integrator, None, None);
    let mut hooks = WebhookServiceClient::with_interceptor(
        reemploi_testing::grpc::channel(stack.notify).await,
        reemploi_testing::grpc::Bearer(Some(integrator)),
    );
    let hook = hooks
        .create_webhook(npb::CreateWebhookRequest {
            webhook: Some(npb::Webhook {
                url: format!("http://{addr}/reemploi"),
                event_types: vec!["inventory.claim.*".into()],
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut registry = stack.registry(Role::Admin, None).await;
    let partner = verified(
        &mut registry,
        partner_at("Atelier du Rebberg", &siret(72), 47.745, 7.32, 30),
    )
    .await;
    let partner_id = partner.trim_start_matches("partners/").to_owned();
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
                milli: 2_000,
            }),
            request_id: "two".into(),
            ..Default::default()
        };
        async move { c.claim_lot(req).await.ok().map(|r| r.into_inner()) }
    })
    .await;
    let mut manager = stack.inventory(Role::SiteManager, Some(ORG), None).await;
    manager
        .confirm_claim(ipb::ConfirmClaimRequest {
            name: claim.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let posts = eventually(WAIT, || {
        let posts = got.lock().unwrap().clone();
        async move { (posts.len() >= 2).then_some(posts) }
    })
    .await;
    // The claim's two events, in their order, each signed with the secret.
    let types: Vec<&str> = posts
        .iter()
        .map(|(h, _)| h["reemploi-event-type"].as_str())
        .collect();
    assert_eq!(
        types,
        ["inventory.claim.reserved", "inventory.claim.confirmed"]
    );
    for (headers, body) in &posts {
        let timestamp = &headers["reemploi-timestamp"];
        assert_eq!(
            headers["reemploi-signature"],
            signed(&hook.secret, timestamp, body)
        );
        assert_ne!(
            headers["reemploi-signature"],
            signed("another secret", timestamp, body)
        );
        let json: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(json["aggregate"], claim.name.as_str());
        assert_eq!(json["id"], headers["reemploi-event-id"].as_str());
    }
    // Nothing more: one delivery per event.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(got.lock().unwrap().len(), 2);
    stack.stop().await;
}
