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

// ---- matching ----

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use prost::Message as _;
use reemploi_events::{
    Bus, Handler, HandlerError, JetStreamBus, JetStreamOptions, Message, Subscription,
};
use reemploi_proto::events::{Envelope, envelope::Payload};
use reemploi_proto::matching as mpb;

/// Collects the proposals published on `reemploi.matching.match.proposed`.
#[derive(Default)]
struct Proposals {
    seen: Mutex<HashMap<String, (String, String)>>,
}

#[async_trait::async_trait]
impl Handler for Proposals {
    async fn handle(&self, msg: &Message) -> Result<(), HandlerError> {
        let envelope = Envelope::decode(msg.payload.as_ref())
            .map_err(|e| HandlerError::Permanent(e.to_string()))?;
        if let Some(Payload::MatchProposal(p)) = envelope.payload {
            let m = p.r#match.unwrap_or_default();
            self.seen
                .lock()
                .unwrap()
                .insert(envelope.event_id, (m.lot, m.partner));
        }
        Ok(())
    }
}

impl Proposals {
    fn pairs(&self) -> Vec<(String, String)> {
        self.seen.lock().unwrap().values().cloned().collect()
    }
}

async fn observe(stack: &Stack, shutdown: &tokio_util::sync::CancellationToken) -> Arc<Proposals> {
    let proposals = Arc::new(Proposals::default());
    let bus: Arc<dyn Bus> = match stack.transport {
        Transport::InProcess => stack.bus.clone(),
        Transport::Nats => Arc::new(
            JetStreamBus::connect(
                &reemploi_testing::nats::nats_url(),
                JetStreamOptions {
                    namespace: Some(stack.namespace.clone()),
                    replicas: 1,
                },
            )
            .await
            .unwrap(),
        ),
    };
    bus.subscribe(
        Subscription {
            durable: "test-observer".into(),
            stream_of: "matching".into(),
            filter: "reemploi.matching.match.proposed".into(),
            max_deliver: 5,
        },
        proposals.clone(),
        shutdown.clone(),
    )
    .await
    .unwrap();
    proposals
}

fn partner_at(name: &str, siret: &str, lat: f64, lon: f64, radius_km: i32) -> rpb::Partner {
    rpb::Partner {
        legal_name: name.into(),
        siret: siret.into(),
        kinds: vec![rpb::PartnerKind::Aci as i32],
        location: Some(tpb::GeoPoint {
            latitude: lat,
            longitude: lon,
        }),
        accepted_categories: vec!["radiateur".into()],
        weekly_intake_kg: 30_000,
        service_radius_km: radius_km,
        ..Default::default()
    }
}

async fn verified(admin: &mut reemploi_e2e::Registry, partner: rpb::Partner) -> String {
    let p = admin
        .register_partner(rpb::RegisterPartnerRequest {
            partner: Some(partner),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    admin
        .verify_partner(rpb::VerifyPartnerRequest {
            name: p.name.clone(),
            etag: String::new(),
        })
        .await
        .unwrap();
    p.name
}

async fn published_radiators(stack: &Stack, site: &str, pieces: i64) -> String {
    let mut manager = stack
        .inventory(Role::SiteManager, Some("m2a-habitat"), None)
        .await;
    let lot = manager
        .create_lot(ipb::CreateLotRequest {
            parent: site.to_string(),
            lot: Some(ipb::Lot {
                designation: "Radiateurs fonte".into(),
                category: "radiateur".into(),
                quantity: Some(tpb::Quantity {
                    unit: tpb::Unit::Piece as i32,
                    milli: pieces * 1000,
                }),
                estimated_mass_g: pieces * 60_000,
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
    lot.name
}

async fn coteaux_site(stack: &Stack) -> String {
    let mut manager = stack
        .inventory(Role::SiteManager, Some("m2a-habitat"), None)
        .await;
    manager
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
        .into_inner()
        .name
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lots_are_proposed_to_partners_in_range_in_process() {
    proposed_in_range_and_gone_when_exhausted(Transport::InProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lots_are_proposed_to_partners_in_range_over_nats() {
    proposed_in_range_and_gone_when_exhausted(Transport::Nats).await;
}

async fn proposed_in_range_and_gone_when_exhausted(transport: Transport) {
    let stack = Stack::start(transport).await;
    let stop = tokio_util::sync::CancellationToken::new();
    let proposals = observe(&stack, &stop).await;
    let mut admin = stack.registry(Role::Admin, None).await;
    let near = verified(
        &mut admin,
        partner_at("Atelier Coteaux", "90012345600015", 47.7480, 7.3200, 15),
    )
    .await;
    // Strasbourg, 100 km away, collecting within 10 km: out of range.
    let far = verified(
        &mut admin,
        partner_at("Atelier Strasbourg", "90023456800013", 48.5734, 7.7521, 10),
    )
    .await;
    let mut m = stack.matching(0, Role::Admin, None, None).await;
    for partner in [&near, &far] {
        eventually(WAIT, || {
            let mut m = m.clone();
            let req = mpb::RecommendLotsRequest {
                partner: partner.clone(),
                ..Default::default()
            };
            async move { m.recommend_lots(req).await.ok() }
        })
        .await;
    }

    let site = coteaux_site(&stack).await;
    let lot = published_radiators(&stack, &site, 20).await;
    eventually(WAIT, || {
        let pairs = proposals.pairs();
        let lot = lot.clone();
        let near = near.clone();
        async move { pairs.contains(&(lot, near)).then_some(()) }
    })
    .await;
    assert!(
        !proposals.pairs().iter().any(|(_, p)| p == &far),
        "no proposal out of range"
    );

    // Matches carry their reasons; the far partner is not among them.
    let matches = m
        .list_lot_matches(mpb::ListLotMatchesRequest {
            lot: lot.clone(),
            page_size: 10,
        })
        .await
        .unwrap()
        .into_inner()
        .matches;
    assert_eq!(
        matches
            .iter()
            .map(|x| x.partner.clone())
            .collect::<Vec<_>>(),
        vec![near.clone()]
    );
    let b = matches[0].breakdown.unwrap();
    assert_eq!(b.category_fit, 1.0);
    assert_eq!(b.insertion, 1.0);
    assert!(matches[0].score > 0.0 && matches[0].score <= 1.0);

    // A plan for the site gives the lot to the partner in range.
    let mut manager_m = stack
        .matching(0, Role::SiteManager, Some("m2a-habitat"), None)
        .await;
    let plan = manager_m
        .plan_allocation(mpb::PlanAllocationRequest {
            site: site.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(plan.allocations.len(), 1);
    assert_eq!(plan.allocations[0].partner, near);
    assert_eq!(plan.total_mass_g, 20 * 60_000);
    assert!(plan.optimal);
    assert_eq!(plan.mass_bound_g, plan.total_mass_g);

    // Authorization: a partner sees its own recommendations only, not a lot's matches.
    let near_id = near.trim_start_matches("partners/").to_string();
    let mut as_near = stack.matching(0, Role::Partner, None, Some(&near_id)).await;
    assert!(
        as_near
            .recommend_lots(mpb::RecommendLotsRequest {
                partner: near.clone(),
                ..Default::default()
            })
            .await
            .is_ok()
    );
    let denied = as_near
        .recommend_lots(mpb::RecommendLotsRequest {
            partner: far.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let denied = as_near
        .list_lot_matches(mpb::ListLotMatchesRequest {
            lot: lot.clone(),
            page_size: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    // Recommended until a claim exhausts it.
    let recommended = |m: &reemploi_e2e::Matching| {
        let mut m = m.clone();
        let req = mpb::RecommendLotsRequest {
            partner: near.clone(),
            ..Default::default()
        };
        async move {
            m.recommend_lots(req)
                .await
                .unwrap()
                .into_inner()
                .matches
                .into_iter()
                .map(|x| x.lot)
                .collect::<HashSet<_>>()
        }
    };
    assert!(recommended(&as_near).await.contains(&lot));
    let mut claimer = stack.inventory(Role::Partner, None, Some(&near_id)).await;
    let mut n = 0;
    eventually(WAIT, || {
        n += 1;
        let req = ipb::ClaimLotRequest {
            lot: lot.clone(),
            partner: near.clone(),
            quantity: Some(tpb::Quantity {
                unit: tpb::Unit::Piece as i32,
                milli: 20_000,
            }),
            request_id: format!("all-{n}"),
            ..Default::default()
        };
        let mut c = claimer.clone();
        async move { c.claim_lot(req).await.ok() }
    })
    .await;
    eventually(WAIT, || {
        let fut = recommended(&as_near);
        let lot = lot.clone();
        async move { (!fut.await.contains(&lot)).then_some(()) }
    })
    .await;
    let _ = &mut claimer;
    stop.cancel();
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_matching_processes_publish_each_proposal_once() {
    let stack = Stack::start_with(Transport::Nats, 2).await;
    let stop = tokio_util::sync::CancellationToken::new();
    let proposals = observe(&stack, &stop).await;
    let mut admin = stack.registry(Role::Admin, None).await;
    let mut partners = Vec::new();
    for (i, siret) in ["90012345600015", "90023456800013", "90034567900014"]
        .iter()
        .enumerate()
    {
        let lon = 7.30 + 0.01 * i as f64;
        partners.push(
            verified(
                &mut admin,
                partner_at(&format!("Atelier {i}"), siret, 47.75, lon, 20),
            )
            .await,
        );
    }
    // Both replicas know every partner before lots arrive.
    for replica in 0..2 {
        let m = stack.matching(replica, Role::Admin, None, None).await;
        for partner in &partners {
            eventually(WAIT, || {
                let mut m = m.clone();
                let req = mpb::RecommendLotsRequest {
                    partner: partner.clone(),
                    ..Default::default()
                };
                async move { m.recommend_lots(req).await.ok() }
            })
            .await;
        }
    }
    let site = coteaux_site(&stack).await;
    let mut lots = Vec::new();
    for _ in 0..6 {
        lots.push(published_radiators(&stack, &site, 5).await);
    }
    let expected: HashSet<(String, String)> = lots
        .iter()
        .flat_map(|l| partners.iter().map(move |p| (l.clone(), p.clone())))
        .collect();
    eventually(WAIT, || {
        let got: HashSet<_> = proposals.pairs().into_iter().collect();
        let done = got == expected;
        async move { done.then_some(()) }
    })
    .await;
    // Give a duplicate the time to show up, then count: once per pair.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pairs = proposals.pairs();
    assert_eq!(
        pairs.len(),
        expected.len(),
        "each proposal published exactly once"
    );
    // Both replicas answer alike.
    let mut a = stack.matching(0, Role::Admin, None, None).await;
    let mut b = stack.matching(1, Role::Admin, None, None).await;
    for lot in &lots {
        let req = mpb::ListLotMatchesRequest {
            lot: lot.clone(),
            page_size: 10,
        };
        let ma = a.list_lot_matches(req.clone()).await.unwrap().into_inner();
        let mb = b.list_lot_matches(req).await.unwrap().into_inner();
        assert_eq!(ma, mb);
        assert_eq!(ma.matches.len(), 3);
    }
    stop.cancel();
    stack.stop().await;
}
