//! End to end, over real NATS JetStream and over the in-process bus: what
//! the registry decides about a partner governs what the inventory lets it do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use reemploi_e2e::{Stack, Transport, eventually};
use reemploi_proto::inventory as ipb;
use reemploi_proto::registry as rpb;
use reemploi_proto::types as tpb;
use reemploi_runtime::auth::Role;
use reemploi_runtime::status::reason;
use tonic::Code;

const WAIT: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn registry_decisions_govern_claims_in_process() {
    verified_suspended_reinstated(Transport::InProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn registry_decisions_govern_claims_over_nats() {
    verified_suspended_reinstated(Transport::Nats).await;
}

fn partner() -> rpb::Partner {
    rpb::Partner {
        legal_name: "Atelier Réemploi Coteaux".into(),
        siret: "90012345600015".into(),
        kinds: vec![rpb::PartnerKind::Aci as i32],
        location: Some(tpb::GeoPoint {
            latitude: 47.7480,
            longitude: 7.3200,
        }),
        accepted_categories: vec!["radiateur".into()],
        weekly_intake_kg: 8_000,
        service_radius_km: 15,
        ..Default::default()
    }
}

async fn verified_suspended_reinstated(transport: Transport) {
    let stack = Stack::start(transport).await;
    let mut admin = stack.registry(Role::Admin, None).await;
    let registered = admin
        .register_partner(rpb::RegisterPartnerRequest {
            partner: Some(partner()),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let partner_id = registered.name.trim_start_matches("partners/").to_string();

    // A site publishes a lot of radiators.
    let mut manager = stack
        .inventory(Role::SiteManager, Some("m2a-habitat"), None)
        .await;
    let site = manager
        .create_site(ipb::CreateSiteRequest {
            site: Some(ipb::Site {
                display_name: "Coteaux".into(),
                location: Some(tpb::GeoPoint {
                    latitude: 47.7460,
                    longitude: 7.3010,
                }),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let lot = manager
        .create_lot(ipb::CreateLotRequest {
            parent: site.name.clone(),
            lot: Some(ipb::Lot {
                designation: "Radiateurs fonte".into(),
                category: "radiateur".into(),
                quantity: Some(tpb::Quantity {
                    unit: tpb::Unit::Piece as i32,
                    milli: 410_000,
                }),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    manager
        .publish_lot(ipb::PublishLotRequest {
            name: lot.name.clone(),
            etag: String::new(),
        })
        .await
        .unwrap();

    let partner_client = stack
        .inventory(Role::Partner, None, Some(&partner_id))
        .await;
    let claim = |n: usize| {
        let mut c = partner_client.clone();
        let req = ipb::ClaimLotRequest {
            lot: lot.name.clone(),
            partner: registered.name.clone(),
            quantity: Some(tpb::Quantity {
                unit: tpb::Unit::Piece as i32,
                milli: 1_000,
            }),
            request_id: format!("claim-{n}"),
            ..Default::default()
        };
        async move { c.claim_lot(req).await }
    };
    // Pending: not yet allowed.
    let refused = claim(0).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused).as_deref(), Some("PARTNER_NOT_ELIGIBLE"));

    // Verified by the territory: the inventory hears of it and accepts claims.
    admin
        .verify_partner(rpb::VerifyPartnerRequest {
            name: registered.name.clone(),
            etag: String::new(),
        })
        .await
        .unwrap();
    let mut n = 1;
    eventually(WAIT, || {
        n += 1;
        let attempt = claim(n);
        async move { attempt.await.ok() }
    })
    .await;

    // Suspended: claims are refused again.
    admin
        .suspend_partner(rpb::SuspendPartnerRequest {
            name: registered.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    eventually(WAIT, || {
        n += 1;
        let attempt = claim(n);
        async move {
            match attempt.await {
                Err(s) if reason(&s).as_deref() == Some("PARTNER_NOT_ELIGIBLE") => Some(()),
                Err(s) => panic!("unexpected refusal {s:?}"),
                // Accepted before the suspension arrived: try again.
                Ok(_) => None,
            }
        }
    })
    .await;

    // Reinstated: accepted again.
    admin
        .reinstate_partner(rpb::ReinstatePartnerRequest {
            name: registered.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    eventually(WAIT, || {
        n += 1;
        let attempt = claim(n);
        async move { attempt.await.ok() }
    })
    .await;

    // Every accepted claim is in the ledger, and nothing else.
    let after = manager
        .get_lot(ipb::GetLotRequest {
            name: lot.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let claims = manager
        .list_claims(ipb::ListClaimsRequest {
            parent: lot.name.clone(),
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .claims;
    let reserved: i64 = claims.iter().map(|c| c.quantity.unwrap().milli).sum();
    assert_eq!(after.reserved.unwrap().milli, reserved);
    assert!(claims.len() >= 2);
    stack.stop().await;
}
