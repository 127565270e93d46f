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

/// A valid SIRET (Luhn) for test partner `n`.
fn siret(n: u32) -> String {
    let body = format!("9{n:012}");
    let sum: u32 = body
        .chars()
        .rev()
        .enumerate()
        .map(|(i, c)| {
            let d = c.to_digit(10).unwrap();
            // The check digit will take the last place: from the right, the
            // body's digits start at an even position, doubled.
            if i % 2 == 0 {
                let twice = d * 2;
                twice / 10 + twice % 10
            } else {
                d
            }
        })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
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
            (plan.unallocated.len() + plan.allocations.len() >= 2).then_some(plan)
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
