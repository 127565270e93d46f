//! Proposals as people see them, over both buses: a partner lists those
//! made to it (new once, then seen), a site manager who its organisation's
//! lots were proposed to, an admin all; a declined pair is never proposed
//! again, when the lot comes back on offer and when its events are
//! replayed into a matching that forgot the lot; a claim makes the
//! claimer's proposal claimed.

use prost::Message as _;
use reemploi_events::{Handler, HandlerError, Message, Subscription};
use reemploi_proto::events::{Envelope, envelope::Payload};
use reemploi_proto::matching as mpb;
use reemploi_runtime::status::field_violations;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use super::*;

const ORG: &str = "m2a-habitat";
const OTHER_ORG: &str = "ville-mulhouse";

/// The proposal events matching publishes, once each, in the order seen.
#[derive(Default)]
struct Published {
    ids: Mutex<HashSet<String>>,
    events: Mutex<Vec<(String, mpb::MatchProposal)>>,
}

#[async_trait::async_trait]
impl Handler for Published {
    async fn handle(&self, msg: &Message) -> Result<(), HandlerError> {
        let envelope = Envelope::decode(msg.payload.as_ref())
            .map_err(|e| HandlerError::Permanent(e.to_string()))?;
        if !self.ids.lock().unwrap().insert(envelope.event_id) {
            return Ok(());
        }
        if let Some(Payload::MatchProposal(p)) = envelope.payload {
            self.events.lock().unwrap().push((msg.subject.clone(), p));
        }
        Ok(())
    }
}

impl Published {
    /// How many events of `kind` (`proposed`, `declined`) name this pair.
    fn count(&self, kind: &str, lot: &str, partner: &str) -> usize {
        let subject = format!("reemploi.matching.match.{kind}");
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|(s, p)| {
                let m = p.r#match.clone().unwrap_or_default();
                s == &subject && m.lot == lot && m.partner == partner
            })
            .count()
    }

    async fn wait(&self, kind: &str, lot: &str, partner: &str) {
        eventually(WAIT, || {
            let n = self.count(kind, lot, partner);
            async move { (n > 0).then_some(()) }
        })
        .await;
    }
}

async fn watch(stack: &Stack, stop: &tokio_util::sync::CancellationToken) -> Arc<Published> {
    let published = Arc::new(Published::default());
    stack
        .observer_bus()
        .await
        .subscribe(
            Subscription {
                durable: "proposals-observer".into(),
                stream_of: "matching".into(),
                filter: "reemploi.matching.match.>".into(),
                max_deliver: 5,
            },
            published.clone(),
            stop.clone(),
        )
        .await
        .unwrap();
    published
}

/// A verified partner near Coteaux, once matching knows it.
async fn partner_known(stack: &Stack, name: &str, n: u32, lat: f64, lon: f64) -> String {
    let mut registry = stack.registry(Role::Admin, None).await;
    let partner = verified(&mut registry, partner_at(name, &siret(n), lat, lon, 20)).await;
    let m = stack.matching(0, Role::Admin, None, None).await;
    eventually(WAIT, || {
        let mut m = m.clone();
        let req = mpb::RecommendLotsRequest {
            partner: partner.clone(),
            ..Default::default()
        };
        async move { m.recommend_lots(req).await.ok() }
    })
    .await;
    partner
}

fn id_of(partner: &str) -> String {
    partner.trim_start_matches("partners/").to_owned()
}

async fn as_partner(stack: &Stack, partner: &str) -> reemploi_e2e::Matching {
    stack
        .matching(0, Role::Partner, None, Some(&id_of(partner)))
        .await
}

async fn list(
    m: &reemploi_e2e::Matching,
    req: mpb::ListProposalsRequest,
) -> Result<Vec<mpb::MatchProposal>, tonic::Status> {
    let mut m = m.clone();
    m.list_proposals(req)
        .await
        .map(|r| r.into_inner().proposals)
}

fn pairs(proposals: &[mpb::MatchProposal]) -> Vec<(String, String)> {
    proposals
        .iter()
        .map(|p| {
            let m = p.r#match.clone().unwrap_or_default();
            (m.lot, m.partner)
        })
        .collect()
}

fn status(p: &mpb::MatchProposal) -> mpb::ProposalStatus {
    mpb::ProposalStatus::try_from(p.status).unwrap()
}

/// A site of `org` at Coteaux with a published lot of radiators: the lot.
async fn lot_of(stack: &Stack, org: &str) -> String {
    let mut manager = stack.inventory(Role::SiteManager, Some(org), None).await;
    let site = manager
        .create_site(ipb::CreateSiteRequest {
            site: Some(ipb::Site {
                display_name: format!("Chantier de {org}"),
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
        .into_inner()
        .name;
    let lot = manager
        .create_lot(ipb::CreateLotRequest {
            parent: site,
            lot: Some(ipb::Lot {
                designation: "Radiateurs fonte".into(),
                category: "radiateur".into(),
                quantity: Some(tpb::Quantity {
                    unit: tpb::Unit::Piece as i32,
                    milli: 20_000,
                }),
                estimated_mass_g: 20 * 60_000,
                ..Default::default()
            }),
            request_id: String::new(),
            lot_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .name;
    manager
        .publish_lot(ipb::PublishLotRequest {
            name: lot.clone(),
            etag: String::new(),
        })
        .await
        .unwrap();
    lot
}

fn site_of(lot: &str) -> String {
    lot.split("/lots/").next().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn proposals_are_listed_by_role_in_process() {
    listed_by_role(Transport::InProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn proposals_are_listed_by_role_over_nats() {
    listed_by_role(Transport::Nats).await;
}

/// Two partners, three lots (the last of another organisation), each lot
/// proposed to both: who sees which.
async fn listed_by_role(transport: Transport) {
    let stack = Stack::start(transport).await;
    let stop = tokio_util::sync::CancellationToken::new();
    let published = watch(&stack, &stop).await;
    let a = partner_known(&stack, "Atelier Coteaux", 1, 47.7480, 7.3200).await;
    let b = partner_known(&stack, "Ressourcerie Drouot", 2, 47.7560, 7.3500).await;
    let mut lots = Vec::new();
    for org in [ORG, ORG, OTHER_ORG] {
        let lot = lot_of(&stack, org).await;
        for partner in [&a, &b] {
            published.wait("proposed", &lot, partner).await;
        }
        lots.push(lot);
    }
    partner_sees_its_own(&stack, &lots, &a, &b).await;
    manager_sees_its_lots(&stack, &lots, &a, &b).await;
    admin_and_integrator_see_all(&stack, &lots, &a, &b).await;
    bad_requests_are_refused(&stack, &a, &b).await;
    stop.cancel();
    stack.stop().await;
}

async fn partner_sees_its_own(stack: &Stack, lots: &[String], a: &str, b: &str) {
    let as_a = as_partner(stack, a).await;
    let first = list(&as_a, Default::default()).await.unwrap();
    let newest_first: Vec<(String, String)> = lots
        .iter()
        .rev()
        .map(|l| (l.clone(), a.to_owned()))
        .collect();
    assert_eq!(pairs(&first), newest_first);
    for p in &first {
        assert_eq!(status(p), mpb::ProposalStatus::New, "{p:?}");
        assert!(p.seen_time.is_none());
        let m = p.r#match.clone().unwrap();
        let breakdown = m.breakdown.unwrap();
        assert_eq!(breakdown.category_fit, 1.0);
        assert_eq!(breakdown.insertion, 1.0);
        assert!(m.score > 0.0 && m.score <= 1.0);
        // Atelier Coteaux is some 1.5 km from the site.
        assert!((1_000..2_000).contains(&m.distance_m), "{}", m.distance_m);
        assert!(p.name.starts_with("proposals/"));
    }
    let again = list(&as_a, Default::default()).await.unwrap();
    assert_eq!(pairs(&again), newest_first);
    assert!(again.iter().all(|p| status(p) == mpb::ProposalStatus::Seen));
    assert!(again.iter().all(|p| p.seen_time.is_some()));

    // Pages of two, the same order; a token is for the filters it was made for.
    let page = |page_token: String| mpb::ListProposalsRequest {
        page_size: 2,
        page_token,
        ..Default::default()
    };
    let mut m = as_a.clone();
    let one = m
        .list_proposals(page(String::new()))
        .await
        .unwrap()
        .into_inner();
    let two = m
        .list_proposals(page(one.next_page_token.clone()))
        .await
        .unwrap()
        .into_inner();
    assert!(two.next_page_token.is_empty());
    let paged: Vec<_> = one.proposals.into_iter().chain(two.proposals).collect();
    assert_eq!(pairs(&paged), newest_first);
    let other_filters = mpb::ListProposalsRequest {
        site: site_of(&lots[0]),
        page_token: one.next_page_token,
        ..Default::default()
    };
    let refused = m.list_proposals(other_filters).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);

    // Itself by name, not another partner.
    let named = mpb::ListProposalsRequest {
        partner: a.to_owned(),
        ..Default::default()
    };
    assert_eq!(list(&as_a, named).await.unwrap().len(), 3);
    let other = mpb::ListProposalsRequest {
        partner: b.to_owned(),
        ..Default::default()
    };
    let denied = list(&as_a, other).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
}

async fn manager_sees_its_lots(stack: &Stack, lots: &[String], a: &str, b: &str) {
    let manager = stack.matching(0, Role::SiteManager, Some(ORG), None).await;
    let all = list(&manager, Default::default()).await.unwrap();
    // Its two lots, newest first; each lot's two proposals were made in
    // one moment, in either order.
    let got = pairs(&all);
    let mut lots_in_order: Vec<&String> = got.iter().map(|(l, _)| l).collect();
    lots_in_order.dedup();
    assert_eq!(lots_in_order, [&lots[1], &lots[0]]);
    let expected: HashSet<(String, String)> = lots[..2]
        .iter()
        .flat_map(|l| [(l.clone(), a.to_owned()), (l.clone(), b.to_owned())])
        .collect();
    assert_eq!(got.len(), 4);
    assert_eq!(got.into_iter().collect::<HashSet<_>>(), expected);
    let of_lot = mpb::ListProposalsRequest {
        lot: lots[0].clone(),
        ..Default::default()
    };
    let of_lot: HashSet<_> = pairs(&list(&manager, of_lot).await.unwrap())
        .into_iter()
        .collect();
    assert_eq!(
        of_lot,
        HashSet::from([
            (lots[0].clone(), a.to_owned()),
            (lots[0].clone(), b.to_owned())
        ])
    );
    for foreign in [
        mpb::ListProposalsRequest {
            site: site_of(&lots[2]),
            ..Default::default()
        },
        mpb::ListProposalsRequest {
            lot: lots[2].clone(),
            ..Default::default()
        },
    ] {
        let denied = list(&manager, foreign).await.unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied);
    }
    let decline = mpb::DeclineProposalRequest {
        name: all[0].name.clone(),
        reason: String::new(),
    };
    let denied = manager.clone().decline_proposal(decline).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
}

async fn admin_and_integrator_see_all(stack: &Stack, lots: &[String], a: &str, b: &str) {
    let admin = stack.matching(0, Role::Admin, None, None).await;
    assert_eq!(list(&admin, Default::default()).await.unwrap().len(), 6);
    // Neither the site manager's listing nor the admin's marked b's as seen.
    let of_b = mpb::ListProposalsRequest {
        partner: b.to_owned(),
        ..Default::default()
    };
    let of_b = list(&admin, of_b).await.unwrap();
    assert_eq!(of_b.len(), 3);
    assert!(of_b.iter().all(|p| status(p) == mpb::ProposalStatus::New));
    let seen = mpb::ListProposalsRequest {
        status: mpb::ProposalStatus::Seen as i32,
        ..Default::default()
    };
    let seen: HashSet<_> = pairs(&list(&admin, seen).await.unwrap())
        .into_iter()
        .collect();
    let of_a: HashSet<_> = lots.iter().map(|l| (l.clone(), a.to_owned())).collect();
    assert_eq!(seen, of_a);
    let integrator = stack.matching(0, Role::Integrator, None, None).await;
    assert_eq!(
        list(&integrator, Default::default()).await.unwrap().len(),
        6
    );
    let decline = mpb::DeclineProposalRequest {
        name: of_b[0].name.clone(),
        reason: String::new(),
    };
    let denied = integrator
        .clone()
        .decline_proposal(decline.clone())
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let as_a = as_partner(stack, a).await;
    let denied = as_a.clone().decline_proposal(decline).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "b's, not a's");
}

async fn bad_requests_are_refused(stack: &Stack, a: &str, b: &str) {
    let admin = stack.matching(0, Role::Admin, None, None).await;
    let bad = mpb::ListProposalsRequest {
        partner: "partenaires/x".into(),
        site: "sites/".into(),
        lot: "sites/a/lots".into(),
        status: 42,
        page_size: 5,
        ..Default::default()
    };
    let refused = list(&admin, bad).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let fields: HashSet<String> = field_violations(&refused)
        .into_iter()
        .map(|(f, _)| f)
        .collect();
    assert_eq!(
        fields,
        HashSet::from(["partner", "site", "lot", "status"].map(String::from))
    );
    let negative = mpb::ListProposalsRequest {
        page_size: -1,
        ..Default::default()
    };
    let refused = list(&admin, negative).await.unwrap_err();
    assert_eq!(field_violations(&refused)[0].0, "page_size");

    let as_a = as_partner(stack, a).await;
    let decline = |name: &str, reason: String| mpb::DeclineProposalRequest {
        name: name.to_owned(),
        reason,
    };
    for (name, reason, field) in [
        ("proposals/not-a-uuid", String::new(), "name"),
        ("", String::new(), "name"),
        (b, String::new(), "name"),
    ] {
        let refused = as_a
            .clone()
            .decline_proposal(decline(name, reason))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{name}");
        assert_eq!(field_violations(&refused)[0].0, field, "{name}");
    }
    let mine = list(&as_a, Default::default()).await.unwrap();
    let too_long = decline(&mine[0].name, "x".repeat(1001));
    let refused = as_a.clone().decline_proposal(too_long).await.unwrap_err();
    assert_eq!(field_violations(&refused)[0].0, "reason");
    let unknown = format!("proposals/{}", uuid::Uuid::now_v7());
    let missing = as_a
        .clone()
        .decline_proposal(decline(&unknown, String::new()))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_declined_pair_is_never_proposed_again_in_process() {
    declined_for_good(Transport::InProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_declined_pair_is_never_proposed_again_over_nats() {
    declined_for_good(Transport::Nats).await;
}

/// A's proposal of the lot is declined; D claims the whole lot (its
/// proposal is claimed) and cancels, which puts the lot back on offer:
/// C, verified meanwhile, is proposed it, A is not. Then matching forgets
/// the lot and every event of it is delivered again: E, verified
/// meanwhile, is proposed it, A still not.
async fn declined_for_good(transport: Transport) {
    let stack = Stack::start(transport).await;
    let stop = tokio_util::sync::CancellationToken::new();
    let published = watch(&stack, &stop).await;
    let a = partner_known(&stack, "Atelier Coteaux", 1, 47.7480, 7.3200).await;
    let d = partner_known(&stack, "Bâti Insertion", 4, 47.7600, 7.3300).await;
    let lot = lot_of(&stack, ORG).await;
    published.wait("proposed", &lot, &a).await;
    published.wait("proposed", &lot, &d).await;

    let declined = decline(&stack, &published, &lot, &a).await;
    claimed_after_a_claim(&stack, &lot, &d).await;

    // Back on offer, proposed to C, never again to A.
    let c = partner_known(&stack, "Ressourcerie Drouot", 3, 47.7560, 7.3500).await;
    assert_eq!(published.count("proposed", &lot, &c), 0);
    cancel_claims(&stack, &lot, &d).await;
    published.wait("proposed", &lot, &c).await;
    assert_declined_once(&stack, &published, &lot, &a, &declined).await;

    replayed_into_a_matching_that_forgot(&stack, &published, &lot).await;
    assert_declined_once(&stack, &published, &lot, &a, &declined).await;
    for partner in [&c, &d] {
        assert_eq!(published.count("proposed", &lot, partner), 1);
    }
    stop.cancel();
    stack.stop().await;
}

/// A declines its proposal of `lot`, twice: one decline, one event.
async fn decline(stack: &Stack, published: &Published, lot: &str, a: &str) -> mpb::MatchProposal {
    let as_a = as_partner(stack, a).await;
    let mine = list(&as_a, Default::default()).await.unwrap();
    assert_eq!(pairs(&mine), [(lot.to_owned(), a.to_owned())]);
    let req = mpb::DeclineProposalRequest {
        name: mine[0].name.clone(),
        reason: "  Pas de place avant mars  ".into(),
    };
    let declined = as_a
        .clone()
        .decline_proposal(req.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status(&declined), mpb::ProposalStatus::Declined);
    assert_eq!(declined.decline_reason, "Pas de place avant mars");
    assert!(declined.decline_time.is_some());
    assert!(declined.seen_time.is_some(), "listed before");
    published.wait("declined", lot, a).await;
    let again = as_a
        .clone()
        .decline_proposal(req)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, declined, "a repeat changes nothing");
    let listed = list(&as_a, Default::default()).await.unwrap();
    assert_eq!(listed, std::slice::from_ref(&declined));
    declined
}

/// D claims the whole lot: its proposal becomes claimed, the lot leaves
/// the offer.
async fn claimed_after_a_claim(stack: &Stack, lot: &str, d: &str) {
    let claimer = stack.inventory(Role::Partner, None, Some(&id_of(d))).await;
    eventually(WAIT, || {
        let mut c = claimer.clone();
        let req = ipb::ClaimLotRequest {
            lot: lot.to_owned(),
            partner: d.to_owned(),
            quantity: Some(tpb::Quantity {
                unit: tpb::Unit::Piece as i32,
                milli: 20_000,
            }),
            request_id: "all-of-it".into(),
            ..Default::default()
        };
        async move { c.claim_lot(req).await.ok() }
    })
    .await;
    let as_d = as_partner(stack, d).await;
    let claimed = eventually(WAIT, || {
        let as_d = as_d.clone();
        async move {
            let mine = list(&as_d, Default::default()).await.unwrap();
            mine.into_iter()
                .find(|p| status(p) == mpb::ProposalStatus::Claimed)
        }
    })
    .await;
    assert_eq!(
        pairs(std::slice::from_ref(&claimed)),
        [(lot.to_owned(), d.to_owned())]
    );
    assert!(claimed.claim_time.is_some());
    let admin = stack.matching(0, Role::Admin, None, None).await;
    eventually(WAIT, || {
        let mut m = admin.clone();
        let req = mpb::ListLotMatchesRequest {
            lot: lot.to_owned(),
            page_size: 10,
        };
        async move {
            let matches = m.list_lot_matches(req).await.unwrap().into_inner().matches;
            matches.is_empty().then_some(())
        }
    })
    .await;
}

/// D cancels its claims of `lot`: the lot is back on offer.
async fn cancel_claims(stack: &Stack, lot: &str, d: &str) {
    let mut claimer = stack.inventory(Role::Partner, None, Some(&id_of(d))).await;
    let claims = claimer
        .list_claims(ipb::ListClaimsRequest {
            parent: lot.to_owned(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .claims;
    for claim in claims {
        claimer
            .cancel_claim(ipb::CancelClaimRequest {
                name: claim.name,
                etag: String::new(),
                reason: "Camion en panne".into(),
            })
            .await
            .unwrap();
    }
}

/// A's proposal of `lot`: one row, declined as it was, one proposal
/// event and one decline event.
async fn assert_declined_once(
    stack: &Stack,
    published: &Published,
    lot: &str,
    a: &str,
    declined: &mpb::MatchProposal,
) {
    assert_eq!(published.count("proposed", lot, a), 1);
    assert_eq!(published.count("declined", lot, a), 1);
    let admin = stack.matching(0, Role::Admin, None, None).await;
    let of_a = mpb::ListProposalsRequest {
        partner: a.to_owned(),
        ..Default::default()
    };
    assert_eq!(
        list(&admin, of_a).await.unwrap(),
        std::slice::from_ref(declined)
    );
    let rows: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM proposals WHERE site_id || '/' || lot_id = $1 AND partner_id = $2",
    )
    .bind(lot.trim_start_matches("sites/").replace("/lots/", "/"))
    .bind(id_of(a))
    .fetch_one(stack.db("matching").pool())
    .await
    .unwrap();
    assert_eq!(rows, 1);
}

/// Matching forgets `lot` (as a rebuild of its projections would start),
/// E is verified (and so not proposed the forgotten lot), then every event
/// of the lot is delivered again under new event ids: the lot is ranked
/// again, E is proposed it.
async fn replayed_into_a_matching_that_forgot(stack: &Stack, published: &Published, lot: &str) {
    let key = lot.trim_start_matches("sites/").replace("/lots/", "/");
    let matching = stack.db("matching");
    sqlx::query("DELETE FROM lots WHERE site_id || '/' || id = $1")
        .bind(&key)
        .execute(matching.pool())
        .await
        .unwrap();
    // Every replica reloads what the log names: the lot leaves the index.
    sqlx::query("INSERT INTO changes (entity, entity_id) VALUES ('lot', $1)")
        .bind(&key)
        .execute(matching.pool())
        .await
        .unwrap();
    let e = partner_known(stack, "Recyclerie Bourtzwiller", 5, 47.7700, 7.3100).await;
    assert_eq!(published.count("proposed", lot, &e), 0);

    let events = lot_events(stack, lot).await;
    assert!(
        events.len() >= 4,
        "created, published, exhausted, published"
    );
    let bus = stack.observer_bus().await;
    for (subject, mut envelope) in events {
        envelope.event_id = uuid::Uuid::now_v7().to_string();
        let replay = Message {
            subject,
            event_id: envelope.event_id.clone(),
            payload: envelope.encode_to_vec().into(),
            traceparent: None,
        };
        bus.publish(&replay).await.unwrap();
    }
    published.wait("proposed", lot, &e).await;
}

/// The lot's events as the inventory published them, in order.
async fn lot_events(stack: &Stack, lot: &str) -> Vec<(String, Envelope)> {
    let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(
        "SELECT subject, payload FROM outbox WHERE subject LIKE 'reemploi.inventory.lot.%' \
         ORDER BY seq",
    )
    .fetch_all(stack.db("inventory").pool())
    .await
    .unwrap();
    rows.into_iter()
        .map(|(subject, payload)| (subject, Envelope::decode(payload.as_slice()).unwrap()))
        .filter(|(_, envelope)| envelope.aggregate == lot)
        .collect()
}
