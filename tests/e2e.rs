//! End to end, over real NATS JetStream and over the in-process bus: what
//! the registry decides about a partner governs what the inventory lets it do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use reemploi_e2e::{
    Stack, Transport, coteaux_site, eventually, partner_at, published_radiators, siret, verified,
};
use reemploi_proto::inventory as ipb;
use reemploi_proto::registry as rpb;
use reemploi_proto::types as tpb;
use reemploi_runtime::auth::Role;
use reemploi_runtime::status::reason;
use tonic::Code;

const WAIT: Duration = Duration::from_secs(15);

mod audit;
mod capacity;
mod identity;
mod impact;
mod names;
mod needs;
mod notify;
mod proposals;

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
            site_id: String::new(),
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
            lot_id: String::new(),
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
use reemploi_events::{Handler, HandlerError, Message, Subscription};
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
    let bus = stack.observer_bus().await;
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

/// A draft lot of radiators on `site`.
async fn draft_radiators(manager: &mut reemploi_e2e::Inventory, site: &str, n: usize) -> String {
    manager
        .create_lot(ipb::CreateLotRequest {
            parent: site.to_string(),
            lot: Some(ipb::Lot {
                designation: format!("Radiateurs fonte {n}"),
                category: "radiateur".into(),
                quantity: Some(tpb::Quantity {
                    unit: tpb::Unit::Piece as i32,
                    milli: 10_000,
                }),
                estimated_mass_g: 600_000,
                ..Default::default()
            }),
            request_id: String::new(),
            lot_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .name
}

/// Lots published while partners are verified, round after round: every
/// pair that ranks (a partner among a lot's top 10) is proposed, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_ranked_pair_is_proposed_once_when_lots_and_partners_race() {
    const ROUNDS: u32 = 5;
    const PER_ROUND: u32 = 4;
    let stack = Stack::start(Transport::Nats).await;
    let stop = tokio_util::sync::CancellationToken::new();
    let proposals = observe(&stack, &stop).await;
    let mut admin = stack.registry(Role::Admin, None).await;
    let mut manager = stack
        .inventory(Role::SiteManager, Some("m2a-habitat"), None)
        .await;
    let site = coteaux_site(&stack).await;
    let mut lots = Vec::new();
    for round in 0..ROUNDS {
        let mut pending = Vec::new();
        let mut drafts = Vec::new();
        for i in 0..PER_ROUND {
            let n = round * PER_ROUND + i;
            // Spread around the site, all within each other's reach.
            let lat = 47.7460 + f64::from(n) * 0.002;
            let p = admin
                .register_partner(rpb::RegisterPartnerRequest {
                    partner: Some(partner_at(
                        &format!("Atelier {n}"),
                        &siret(n),
                        lat,
                        7.31,
                        30,
                    )),
                    request_id: String::new(),
                })
                .await
                .unwrap()
                .into_inner();
            pending.push(p.name);
            drafts.push(draft_radiators(&mut manager, &site, n as usize).await);
        }
        // Verify and publish at the same time.
        let verify = pending.iter().map(|name| {
            let mut admin = admin.clone();
            let req = rpb::VerifyPartnerRequest {
                name: name.clone(),
                etag: String::new(),
            };
            async move { admin.verify_partner(req).await.map(drop) }
        });
        let publish = drafts.iter().map(|name| {
            let mut manager = manager.clone();
            let req = ipb::PublishLotRequest {
                name: name.clone(),
                etag: String::new(),
            };
            async move { manager.publish_lot(req).await.map(drop) }
        });
        let (verified, published) = tokio::join!(
            futures::future::join_all(verify),
            futures::future::join_all(publish)
        );
        assert!(verified.iter().chain(&published).all(Result::is_ok));
        lots.extend(drafts);
    }
    let mut m = stack.matching(0, Role::Admin, None, None).await;
    let ranked = |m: &mut reemploi_e2e::Matching| {
        let mut m = m.clone();
        let lots = lots.clone();
        async move {
            let mut pairs = HashSet::new();
            for lot in lots {
                let req = mpb::ListLotMatchesRequest { lot, page_size: 10 };
                for found in m.list_lot_matches(req).await.ok()?.into_inner().matches {
                    pairs.insert((found.lot, found.partner));
                }
            }
            Some(pairs)
        }
    };
    // Once matching has caught up, each lot ranks 10 of the 20 partners.
    let expected = eventually(Duration::from_secs(60), || {
        let ranked = ranked(&mut m);
        let lots = lots.len();
        async move { ranked.await.filter(|pairs| pairs.len() == lots * 10) }
    })
    .await;
    let missing = eventually(Duration::from_secs(30), || {
        let seen: HashSet<(String, String)> = proposals.pairs().into_iter().collect();
        let missing: Vec<_> = expected.difference(&seen).cloned().collect();
        async move { missing.is_empty().then_some(missing) }
    })
    .await;
    assert!(missing.is_empty());
    let mut per_pair: HashMap<(String, String), usize> = HashMap::new();
    for pair in proposals.pairs() {
        *per_pair.entry(pair).or_default() += 1;
    }
    assert!(
        per_pair.values().all(|n| *n == 1),
        "a pair was proposed twice: {per_pair:?}"
    );
    stop.cancel();
    stack.stop().await;
}

/// Rows no event can produce any more (an absurd mass, a broken id) are
/// left out at start, and every query keeps answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matching_starts_and_answers_despite_absurd_rows() {
    let t = reemploi_testing::db::fresh(reemploi_store::Backend::Sqlite).await;
    t.db.migrate(&reemploi_matching::migrations())
        .await
        .unwrap();
    let partner = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO partners (id, status, kinds, categories, latitude, longitude, radius_km, \
         weekly_intake_kg, version) VALUES ($1, 'verified', 'ACI', 'radiateur', 47.75, 7.32, 20, 8000, 2)",
    )
    .bind(partner.to_string())
    .execute(t.db.pool())
    .await
    .unwrap();
    // Two open claims whose masses add up beyond 64 bits.
    for _ in 0..2 {
        sqlx::query(
            "INSERT INTO claims (id, lot_id, partner_id, mass_g, open, version) VALUES ($1, $2, $3, $4, 1, 1)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(partner.to_string())
        .bind(i64::MAX / 2 + 1)
        .execute(t.db.pool())
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO lots (id, site_id, owner_org, category, unit, available_units, unit_mass_g, \
         latitude, longitude, status, hazardous, version) \
         VALUES ('not-a-uuid', 'nor-this', 'm2a', 'radiateur', '1', 3, 60000, 47.74, 7.30, 'published', 0, 1)",
    )
    .execute(t.db.pool())
    .await
    .unwrap();
    let bus = reemploi_events::InProcessBus::temporary().await.unwrap();
    let ctx = reemploi_testing::grpc::context(t.db.clone(), Arc::new(bus));
    let running = reemploi_matching::start(ctx.clone(), &Default::default())
        .await
        .expect("matching starts despite the bad rows");
    let served = reemploi_testing::grpc::spawn(&ctx, vec![running]).await;
    let mut m = mpb::matching_service_client::MatchingServiceClient::with_interceptor(
        reemploi_testing::grpc::channel(served.addr).await,
        reemploi_testing::grpc::Bearer(Some(reemploi_testing::grpc::token(
            Role::Admin,
            None,
            None,
        ))),
    );
    m.recommend_lots(mpb::RecommendLotsRequest {
        partner: format!("partners/{partner}"),
        ..Default::default()
    })
    .await
    .expect("recommendations answer");
    m.plan_allocation(mpb::PlanAllocationRequest {
        site: format!("sites/{}", uuid::Uuid::now_v7()),
        ..Default::default()
    })
    .await
    .expect("plans answer");
    served.stop().await.unwrap();
}

/// PlanAllocation on what diagnostics and hostile clients send: lots
/// without a mass, repeated names, unknown partners, foreign lots.
async fn plans_handle_what_clients_send(transport: Transport) {
    let stack = Stack::start(transport).await;
    let mut admin = stack.registry(Role::Admin, None).await;
    let taker = verified(
        &mut admin,
        partner_at("Atelier Coteaux", &siret(900), 47.7480, 7.3200, 15),
    )
    .await;
    let site = coteaux_site(&stack).await;
    let other_site = coteaux_site(&stack).await;
    let weighed = published_radiators(&stack, &site, 3).await;
    let mut manager = stack
        .inventory(Role::SiteManager, Some("m2a-habitat"), None)
        .await;
    // A diagnostic line without a mass.
    let massless = manager
        .create_lot(ipb::CreateLotRequest {
            parent: site.clone(),
            lot: Some(ipb::Lot {
                designation: "Portes".into(),
                category: "radiateur".into(),
                quantity: Some(tpb::Quantity {
                    unit: tpb::Unit::Piece as i32,
                    milli: 4000,
                }),
                ..Default::default()
            }),
            request_id: String::new(),
            lot_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    manager
        .publish_lot(ipb::PublishLotRequest {
            name: massless.name.clone(),
            etag: String::new(),
        })
        .await
        .unwrap();
    let mut m = stack.matching(0, Role::Admin, None, None).await;
    let plan = eventually(WAIT, || {
        let mut m = m.clone();
        let req = mpb::PlanAllocationRequest {
            site: site.clone(),
            ..Default::default()
        };
        async move {
            let plan = m.plan_allocation(req).await.ok()?.into_inner();
            // Both lots and the partner known: partners and lots come on
            // streams of their own, in no order between them.
            let placed = !plan.allocations.is_empty();
            (placed && plan.unallocated.len() + plan.allocations.len() >= 2).then_some(plan)
        }
    })
    .await;
    assert_eq!(plan.allocations.len(), 1, "{plan:?}");
    assert_eq!(plan.allocations[0].lot, weighed);
    let left: Vec<_> = plan
        .unallocated
        .iter()
        .map(|u| (u.lot.clone(), u.reason))
        .collect();
    assert_eq!(
        left,
        [(massless.name.clone(), mpb::UnallocatedReason::NoMass as i32)]
    );

    // The same lot 2,000 times is refused; three times counts once; a
    // partner named twice has its capacity once.
    let status = m
        .plan_allocation(mpb::PlanAllocationRequest {
            lots: vec![weighed.clone(); 2000],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let plan = m
        .plan_allocation(mpb::PlanAllocationRequest {
            lots: vec![weighed.clone(); 3],
            partners: vec![taker.clone(), taker.clone()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let placed: i64 = plan
        .allocations
        .iter()
        .map(|a| a.quantity.unwrap_or_default().milli)
        .sum();
    assert_eq!(placed, 3000, "a 3-piece lot places at most 3 pieces");

    // An unknown partner, and a lot named under another site, are not found.
    for req in [
        mpb::PlanAllocationRequest {
            site: site.clone(),
            partners: vec![format!("partners/{}", uuid::Uuid::now_v7())],
            ..Default::default()
        },
        mpb::PlanAllocationRequest {
            lots: vec![weighed.replace(&site, &other_site)],
            ..Default::default()
        },
    ] {
        let status = m.plan_allocation(req).await.unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn plans_handle_what_clients_send_in_process() {
    plans_handle_what_clients_send(Transport::InProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn plans_handle_what_clients_send_over_nats() {
    plans_handle_what_clients_send(Transport::Nats).await;
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

// ---- faults: a NATS node dies, a consumer's database goes away ----

use reemploi_e2e::StackOptions;
use reemploi_events::{JetStreamBus, JetStreamOptions};
use reemploi_testing::nats::NatsCluster;
use reemploi_testing::proxy::{Proxy, postgres_addr};

/// How long effects may take to arrive across a failover: stream leaders
/// re-elected, clients reconnected, consumers re-opened (a missed 5 s
/// heartbeat reveals a lost server), on a loaded machine.
const FAILOVER_WAIT: Duration = Duration::from_secs(60);

/// `partner` claims one piece of `lot`, retrying until the inventory has
/// heard that it is verified.
async fn claim_one(stack: &Stack, lot: &str, partner: &str, wait: Duration) {
    let id = partner.trim_start_matches("partners/").to_string();
    let client = stack.inventory(Role::Partner, None, Some(&id)).await;
    eventually(wait, || {
        let mut c = client.clone();
        let req = ipb::ClaimLotRequest {
            lot: lot.to_string(),
            partner: partner.to_string(),
            quantity: Some(tpb::Quantity {
                unit: tpb::Unit::Piece as i32,
                milli: 1_000,
            }),
            // Unique per claim: a repeated (partner, request id) is an
            // idempotent repeat of the first claim, not a new one.
            request_id: format!("{id}-{}", uuid::Uuid::now_v7()),
            ..Default::default()
        };
        async move {
            match c.claim_lot(req).await {
                Ok(_) => Some(()),
                Err(s) if reason(&s).as_deref() == Some("PARTNER_NOT_ELIGIBLE") => None,
                // Its database just came back (after a cut): not yet.
                Err(s) if s.code() == Code::Unavailable => None,
                // Anything else is a defect, not a delay.
                Err(s) => panic!("claim refused: {s:?}"),
            }
        }
    })
    .await;
}

/// The partners matching lists for `lot`.
async fn lot_matches(m: &reemploi_e2e::Matching, lot: &str) -> HashSet<String> {
    let mut m = m.clone();
    m.list_lot_matches(mpb::ListLotMatchesRequest {
        lot: lot.to_string(),
        page_size: 100,
    })
    .await
    .map(|r| {
        r.into_inner()
            .matches
            .into_iter()
            .map(|x| x.partner)
            .collect()
    })
    .unwrap_or_default()
}

/// The lots matching recommends to `partner`.
async fn recommended_lots(m: &reemploi_e2e::Matching, partner: &str) -> HashSet<String> {
    let mut m = m.clone();
    m.recommend_lots(mpb::RecommendLotsRequest {
        partner: partner.to_string(),
        page_size: 1000,
        ..Default::default()
    })
    .await
    .map(|r| r.into_inner().matches.into_iter().map(|x| x.lot).collect())
    .unwrap_or_default()
}

/// The node that leads the stream of `service`: killing it forces the
/// stream, not merely some client connections, to fail over.
async fn stream_leader(cluster: &NatsCluster, namespace: &str, service: &str) -> usize {
    let bus = JetStreamBus::connect(
        &cluster.urls(),
        JetStreamOptions {
            namespace: Some(namespace.to_string()),
            replicas: 3,
        },
    )
    .await
    .unwrap();
    let mut stream = bus
        .jetstream()
        .get_stream(bus.stream_name(service))
        .await
        .unwrap();
    let info = stream.info().await.unwrap();
    assert_eq!(info.config.num_replicas, 3, "an R3 stream");
    info.cluster
        .clone()
        .and_then(|c| c.leader)
        .and_then(|leader| cluster.node_named(&leader))
        .expect("the stream has a leader in the cluster")
}

/// Three NATS nodes, R3 streams; the node leading the registry's stream is
/// killed (SIGKILL) half-way through registrations, lots and claims, and
/// the services keep going on the other two. In the end every effect has
/// arrived: the inventory lets every verified partner claim, matching
/// lists and proposes every lot to every partner, once, and nothing was
/// dead-lettered.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn r3_streams_lose_nothing_when_a_cluster_node_is_killed() {
    const ROUNDS: usize = 6;
    let mut cluster = NatsCluster::start().await;
    let stack = Stack::start_with_options(
        Transport::Nats,
        StackOptions {
            nats_urls: Some(cluster.urls()),
            stream_replicas: 3,
            ..StackOptions::default()
        },
    )
    .await;
    let stop = tokio_util::sync::CancellationToken::new();
    let proposals = observe(&stack, &stop).await;
    let mut admin = stack.registry(Role::Admin, None).await;
    let site = coteaux_site(&stack).await;
    let (mut partners, mut lots) = (Vec::new(), Vec::new());
    let mut killed = None;
    for round in 0..ROUNDS {
        if round == ROUNDS / 2 {
            // Events of the earlier rounds are still crossing the cluster.
            let victim = stream_leader(&cluster, &stack.namespace, "registry").await;
            cluster.kill(victim).await;
            killed = Some(victim);
        }
        let lon = 7.30 + 0.005 * round as f64;
        partners.push(
            verified(
                &mut admin,
                partner_at(
                    &format!("Atelier {round}"),
                    &siret(round as u32),
                    47.75,
                    lon,
                    20,
                ),
            )
            .await,
        );
        lots.push(published_radiators(&stack, &site, 5).await);
        if round > 0 {
            claim_one(
                &stack,
                &lots[round - 1],
                &partners[round - 1],
                FAILOVER_WAIT,
            )
            .await;
        }
    }
    let killed = killed.unwrap();
    assert!(!cluster.is_running(killed));

    // Matching applied every partner and lot event: each lot lists every
    // partner (all are in range), each partner is recommended every lot.
    let all_partners: HashSet<String> = partners.iter().cloned().collect();
    let all_lots: HashSet<String> = lots.iter().cloned().collect();
    let m = stack.matching(0, Role::Admin, None, None).await;
    for lot in &lots {
        eventually(FAILOVER_WAIT, || {
            let m = m.clone();
            let want = all_partners.clone();
            async move { (lot_matches(&m, lot).await == want).then_some(()) }
        })
        .await;
    }
    for partner in &partners {
        eventually(FAILOVER_WAIT, || {
            let m = m.clone();
            let want = all_lots.clone();
            async move {
                recommended_lots(&m, partner)
                    .await
                    .is_superset(&want)
                    .then_some(())
            }
        })
        .await;
    }
    // The inventory heard of every verification: each partner claims (the
    // last one for the first time). Each claim also updates its lot, and
    // matching, knowing every partner now, proposes the lot to all of them:
    // a pair missed while a lot and a partner were applied at the same
    // moment is proposed now, so every pair is due.
    for (i, partner) in partners.iter().enumerate() {
        claim_one(&stack, &lots[(i + 1) % ROUNDS], partner, FAILOVER_WAIT).await;
    }
    // Every claim took its piece: two of every lot, one of the last.
    let mut manager = stack
        .inventory(Role::SiteManager, Some("m2a-habitat"), None)
        .await;
    for (i, lot) in lots.iter().enumerate() {
        let got = manager
            .get_lot(ipb::GetLotRequest { name: lot.clone() })
            .await
            .unwrap()
            .into_inner();
        let claimed = if i + 1 < ROUNDS { 2_000 } else { 1_000 };
        assert_eq!(got.reserved.unwrap().milli, claimed, "lot {i}");
    }
    let expected: HashSet<(String, String)> = lots
        .iter()
        .flat_map(|l| partners.iter().map(move |p| (l.clone(), p.clone())))
        .collect();
    let deadline = tokio::time::Instant::now() + FAILOVER_WAIT;
    loop {
        let got: HashSet<_> = proposals.pairs().into_iter().collect();
        if got == expected {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            // Published but not observed, or never published?
            let js = JetStreamBus::connect(
                &cluster.urls(),
                JetStreamOptions {
                    namespace: Some(stack.namespace.clone()),
                    replicas: 3,
                },
            )
            .await
            .unwrap();
            let mut stream = js
                .jetstream()
                .get_stream(js.stream_name("matching"))
                .await
                .unwrap();
            let published = stream.info().await.unwrap().state.messages;
            let mut missing = Vec::new();
            for (l, p) in expected.difference(&got) {
                let li = lots.iter().position(|x| x == l);
                let pi = partners.iter().position(|x| x == p);
                let listed = lot_matches(&m, l).await.contains(p);
                missing.push((li, pi, listed));
            }
            let count = |service: &'static str, sql: &'static str| {
                let db = stack.db(service);
                async move {
                    sqlx::query_scalar::<_, i64>(sql)
                        .fetch_one(db.pool())
                        .await
                        .unwrap()
                }
            };
            let recorded = count("matching", "SELECT COUNT(*) FROM proposals").await;
            let relayed = count("matching", "SELECT COUNT(published_at) FROM outbox").await;
            panic!(
                "{} of {} pairs proposed after {FAILOVER_WAIT:?}: {recorded} recorded by \
                 matching, {relayed} relayed, {published} on the stream; missing (lot, \
                 partner, listed now): {missing:?}",
                got.len(),
                expected.len(),
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        proposals.pairs().len(),
        expected.len(),
        "each pair proposed once"
    );
    // The dead-letter stream may still be electing a leader: Unavailable
    // means ask again.
    let dead = eventually(FAILOVER_WAIT, || {
        let bus = stack.bus.clone();
        async move { bus.dead_letters(None, 100).await.ok() }
    })
    .await;
    assert!(dead.is_empty(), "dead letters: {dead:?}");
    stop.cancel();
    stack.stop().await;
}

/// A service given the three URLs of a cluster whose first node is down
/// starts, creates its R3 streams and consumer, publishes and consumes;
/// the node, restarted, rejoins.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_service_starts_while_a_listed_nats_node_is_down() {
    reemploi_runtime::telemetry::init(reemploi_runtime::config::LogFormat::Pretty);
    let mut cluster = NatsCluster::start().await;
    cluster.kill(0).await;
    // Down, not dying: if it led the cluster, the others have elected another.
    cluster.wait_available().await;
    let namespace = reemploi_testing::nats::unique_namespace();
    let bus_args = reemploi_runtime::config::BusArgs {
        nats_url: Some(cluster.urls()),
        stream_replicas: 3,
        event_namespace: Some(namespace.clone()),
        ..Default::default()
    };
    let store_args = reemploi_runtime::config::StoreArgs::default();
    // As a service binary connects (waiting for NATS as long as no listed
    // node answers): bounded here, so that a client stuck on the dead
    // first node fails the test rather than hang it.
    let connect = reemploi_runtime::wiring::bus(&bus_args, &store_args);
    let bus = tokio::time::timeout(Duration::from_secs(20), connect)
        .await
        .expect("connected within 20 s with the first node down")
        .unwrap();
    let db = reemploi_testing::db::fresh(reemploi_store::Backend::Postgres).await;
    let ctx = reemploi_testing::grpc::context(db.db.clone(), bus.clone());
    let running = tokio::time::timeout(
        Duration::from_secs(30),
        reemploi_inventory::start(ctx.clone(), &Default::default()),
    )
    .await
    .expect("started within 30 s")
    .expect("the inventory starts with one of three nodes down");
    let served = reemploi_testing::grpc::spawn(&ctx, vec![running]).await;

    // It publishes: its relay puts the site's event on its R3 stream...
    let token = reemploi_testing::grpc::token(Role::SiteManager, Some("m2a-habitat"), None);
    let mut manager = ipb::inventory_service_client::InventoryServiceClient::with_interceptor(
        reemploi_testing::grpc::channel(served.addr).await,
        reemploi_testing::grpc::Bearer(Some(token)),
    );
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
            site_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let js = JetStreamBus::connect(
        &cluster.urls(),
        JetStreamOptions {
            namespace: Some(namespace.clone()),
            replicas: 3,
        },
    )
    .await
    .unwrap();
    let stream = js
        .jetstream()
        .get_stream(js.stream_name("inventory"))
        .await
        .unwrap();
    eventually(WAIT, || {
        let mut stream = stream.clone();
        async move { (stream.info().await.ok()?.state.messages == 1).then_some(()) }
    })
    .await;
    assert_eq!(stream.cached_info().config.num_replicas, 3);
    // ...and consumes: a registry event published on the cluster reaches
    // its partner projection, which lets the partner claim.
    let partner = uuid::Uuid::now_v7();
    let envelope = reemploi_proto::events::Envelope {
        event_id: uuid::Uuid::now_v7().to_string(),
        event_type: "reemploi.registry.partner.verified".into(),
        aggregate: format!("partners/{partner}"),
        aggregate_version: 2,
        producer: "registry".into(),
        payload: Some(Payload::Partner(rpb::Partner {
            name: format!("partners/{partner}"),
            status: rpb::PartnerStatus::Verified as i32,
            ..partner_at("Atelier", "90012345600015", 47.75, 7.30, 20)
        })),
        ..Default::default()
    };
    bus.publish(&Message {
        subject: "reemploi.registry.partner.verified".into(),
        event_id: envelope.event_id.clone(),
        payload: envelope.encode_to_vec().into(),
        traceparent: None,
    })
    .await
    .unwrap();
    let lot = manager
        .create_lot(ipb::CreateLotRequest {
            parent: site.name.clone(),
            lot: Some(ipb::Lot {
                designation: "Radiateurs fonte".into(),
                category: "radiateur".into(),
                quantity: Some(tpb::Quantity {
                    unit: tpb::Unit::Piece as i32,
                    milli: 5_000,
                }),
                ..Default::default()
            }),
            request_id: String::new(),
            lot_id: String::new(),
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
    let token = reemploi_testing::grpc::token(Role::Partner, None, Some(&partner.to_string()));
    let claimer = ipb::inventory_service_client::InventoryServiceClient::with_interceptor(
        reemploi_testing::grpc::channel(served.addr).await,
        reemploi_testing::grpc::Bearer(Some(token)),
    );
    let mut n = 0;
    eventually(WAIT, || {
        n += 1;
        let mut c = claimer.clone();
        let req = ipb::ClaimLotRequest {
            lot: lot.name.clone(),
            partner: format!("partners/{partner}"),
            quantity: Some(tpb::Quantity {
                unit: tpb::Unit::Piece as i32,
                milli: 1_000,
            }),
            request_id: format!("claim-{n}"),
            ..Default::default()
        };
        async move { c.claim_lot(req).await.ok() }
    })
    .await;

    // The node comes back on its ports and store and serves JetStream again.
    cluster.restart(0).await;
    assert!(cluster.is_running(0));
    served.stop().await.unwrap();
}

/// The state of the durable consumer `durable` of a stack's namespace on
/// the stream of `service`.
async fn consumer_state(
    js: &JetStreamBus,
    namespace: &str,
    service: &str,
    durable: &str,
) -> async_nats::jetstream::consumer::Info {
    let stream = js
        .jetstream()
        .get_stream(js.stream_name(service))
        .await
        .unwrap();
    stream
        .consumer_info(format!("{namespace}_{durable}"))
        .await
        .unwrap()
}

/// The inventory and matching lose their PostgreSQL (through a proxy that is
/// cut) while a partner is registered and verified, for longer than
/// `max_deliver` = 2 attempts take. Once it is back, both have applied the
/// partner's events: it may claim, and it is proposed the lot on offer;
/// nothing was dead-lettered.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_consumer_database_outage_only_delays_events() {
    const MAX_DELIVER: i64 = 2;
    let database_url = std::env::var("DATABASE_URL").expect("DATABASE_URL names PostgreSQL");
    let proxy = Proxy::start(postgres_addr(&database_url)).await;
    let stack = Stack::start_with_options(
        Transport::Nats,
        StackOptions {
            max_deliver: MAX_DELIVER,
            consumer_db_via: Some(proxy.addr()),
            // A failed attempt takes one acquire timeout: short, so that
            // the old budget of attempts is spent in a few seconds.
            acquire_timeout: Some(Duration::from_secs(1)),
            ..StackOptions::default()
        },
    )
    .await;
    let stop = tokio_util::sync::CancellationToken::new();
    let proposals = observe(&stack, &stop).await;
    let site = coteaux_site(&stack).await;
    let lot = published_radiators(&stack, &site, 5).await;
    let js = JetStreamBus::connect(
        &reemploi_testing::nats::nats_url(),
        JetStreamOptions {
            namespace: Some(stack.namespace.clone()),
            replicas: 1,
        },
    )
    .await
    .unwrap();
    // Matching has applied the site and the lot (3 events) before the cut:
    // only the partner's events meet the outage.
    eventually(WAIT, || {
        let (js, ns) = (js.clone(), stack.namespace.clone());
        async move {
            let c = consumer_state(&js, &ns, "inventory", "matching-inventory").await;
            (c.ack_floor.stream_sequence == 3).then_some(())
        }
    })
    .await;

    proxy.cut().await;
    let mut admin = stack.registry(Role::Admin, None).await;
    let partner = verified(
        &mut admin,
        partner_at("Atelier Coteaux", "90012345600015", 47.7480, 7.3200, 15),
    )
    .await;
    // Registered and verified: two events, each allowed MAX_DELIVER failed
    // attempts before the change. Wait until both consumers have gone past
    // that budget, failing at once if one of them gives up instead.
    let events = 2;
    for durable in ["inventory-partners", "matching-partners"] {
        eventually(Duration::from_secs(30), || {
            let (bus, js, ns) = (stack.bus.clone(), js.clone(), stack.namespace.clone());
            async move {
                let dead = bus.dead_letters(None, 10).await.unwrap();
                let dead: Vec<_> = dead
                    .iter()
                    .map(|d| (&d.durable, &d.message.subject, &d.reason))
                    .collect();
                assert!(dead.is_empty(), "dead-lettered during the outage: {dead:?}");
                // Every delivery, redeliveries included, takes a consumer
                // sequence number.
                let c = consumer_state(&js, &ns, "registry", durable).await;
                (c.delivered.consumer_sequence > events * MAX_DELIVER as u64).then_some(())
            }
        })
        .await;
    }
    proxy.restore().await;

    claim_one(&stack, &lot, &partner, Duration::from_secs(30)).await;
    eventually(Duration::from_secs(30), || {
        let pairs = proposals.pairs();
        let want = (lot.clone(), partner.clone());
        async move { pairs.contains(&want).then_some(()) }
    })
    .await;
    let dead = stack.bus.dead_letters(None, 10).await.unwrap();
    assert!(dead.is_empty(), "dead letters: {dead:?}");
    stop.cancel();
    stack.stop().await;
}
