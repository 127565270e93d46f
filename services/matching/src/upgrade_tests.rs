//! Upgrades: every migration is run over a database of the schema before it
//! holding rows (`tests/fixtures/upgrade/{sqlite,postgres}/NNNN.sql`), then
//! matching starts on it, builds its index from the old projections and
//! recommends the old lots; proposals and the change log name lots by site;
//! old proposals are new, without a score breakdown, listed to their
//! partner and declined by it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use reemploi_events::InProcessBus;
use reemploi_proto::matching as pb;
use reemploi_proto::matching::matching_service_client::MatchingServiceClient;
use reemploi_runtime::auth::Role;
use reemploi_store::Backend;
use reemploi_testing::grpc::{self as testing, Bearer};
use reemploi_testing::on_both_backends;
use reemploi_testing::upgrade::{Seeded, Upgrade};

const S1: &str = "0190a000-0000-7000-8000-000000000001";
const L1: &str = "0190a001-0000-7000-8000-000000000001";
const P1: &str = "0190a002-0000-7000-8000-000000000001";
const PROPOSAL_1: &str = "0190a007-0000-7000-8000-000000000001";
const PROPOSAL_2: &str = "0190a007-0000-7000-8000-000000000002";
/// The outbox row the fixtures leave unrelayed.
const PENDING_EVENT: &str = "0190a008-0000-7000-8000-000000000002";

type Client = MatchingServiceClient<
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, Bearer>,
>;

fn upgrade() -> Upgrade {
    Upgrade::new(
        crate::migrations(),
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/upgrade"),
    )
}

on_both_backends!(every_migration_keeps_the_rows_before_it);

/// A migration cannot land without a fixture of the schema before it.
#[test]
fn every_migration_has_a_fixture_of_the_schema_before_it() {
    upgrade().check_fixtures();
}

async fn every_migration_keeps_the_rows_before_it(backend: Backend) {
    let upgrade = upgrade();
    for from in upgrade.from_versions() {
        let seeded = upgrade.seeded(backend, from).await;
        seeded.upgrade(&crate::migrations()).await;
        lots_are_named_by_site(&seeded).await;
        proposals_are_new(&seeded).await;
        sites_are_placed_and_no_need_is_met(&seeded).await;
        served_after_upgrade(&seeded).await;
    }
}

/// What 0003 did to the rows that named a lot by its id alone.
async fn lots_are_named_by_site(seeded: &Seeded) {
    let from = seeded.from;
    let pool = seeded.db().pool();
    let sites: Vec<(String, String)> = sqlx::query_as("SELECT id, site_id FROM claims ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap();
    let sites: Vec<&str> = sites.iter().map(|(_, s)| s.as_str()).collect();
    // The last claim's lot was never projected: it has no site.
    assert_eq!(sites, [S1, S1, ""], "from {from}: claims' sites");
    let proposal: String =
        sqlx::query_scalar("SELECT site_id FROM proposals WHERE lot_id = $1 AND partner_id = $2")
            .bind(L1)
            .bind(P1)
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(proposal, S1, "from {from}");
    let change: String = sqlx::query_scalar("SELECT entity_id FROM changes WHERE seq = 1")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(change, format!("{S1}/{L1}"), "from {from}");
}

/// What 0006 did: sites take the place of their lots, old proposals were
/// made for no need, and there are no needs yet.
async fn sites_are_placed_and_no_need_is_met(seeded: &Seeded) {
    let from = seeded.from;
    let pool = seeded.db().pool();
    let sites: Vec<(String, Option<f64>, Option<f64>)> =
        sqlx::query_as("SELECT id, latitude, longitude FROM sites ORDER BY id")
            .fetch_all(pool)
            .await
            .unwrap();
    let at = (Some(47.7497), Some(7.3103));
    assert_eq!(
        sites,
        [
            (S1.to_owned(), at.0, at.1),
            (
                "0190a000-0000-7000-8000-000000000002".to_owned(),
                at.0,
                at.1
            )
        ],
        "from {from}"
    );
    let needs: Vec<f64> = sqlx::query_scalar("SELECT need FROM proposals ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(needs, [0.0, 0.0], "from {from}");
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM needs")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(count, 0, "from {from}");
}

/// A proposal's id, status, version, first factor, distance and decline reason.
type OldProposal = (String, String, i64, Option<f64>, Option<i64>, String);

/// What 0005 did to the proposals made before: new, first version, no
/// score breakdown or distance kept.
async fn proposals_are_new(seeded: &Seeded) {
    let from = seeded.from;
    let rows: Vec<OldProposal> = sqlx::query_as(
        "SELECT id, status, version, category_fit, distance_m, decline_reason FROM proposals \
         ORDER BY id",
    )
    .fetch_all(seeded.db().pool())
    .await
    .unwrap();
    let expected: Vec<_> = [PROPOSAL_1, PROPOSAL_2]
        .map(|id| {
            (
                id.to_owned(),
                "new".to_owned(),
                1,
                None,
                None,
                String::new(),
            )
        })
        .into();
    assert_eq!(rows, expected, "from {from}");
}

/// The old proposals as their partner lists them (new once, then seen),
/// and one declined.
async fn old_proposals_listed_and_declined(client: &mut Client, from: i64) {
    let list = async |client: &mut Client| {
        client
            .list_proposals(pb::ListProposalsRequest::default())
            .await
            .unwrap_or_else(|e| panic!("from {from}: proposals: {e}"))
            .into_inner()
            .proposals
    };
    let first = list(client).await;
    // Made in one moment: newest id first.
    let names: Vec<&str> = first.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            format!("proposals/{PROPOSAL_2}"),
            format!("proposals/{PROPOSAL_1}")
        ],
        "from {from}"
    );
    for p in &first {
        assert_eq!(p.status, pb::ProposalStatus::New as i32, "from {from}");
        let m = p.r#match.clone().unwrap();
        assert_eq!(m.breakdown, None, "from {from}: none was kept");
        assert_eq!(m.distance_m, 0, "from {from}");
    }
    assert_eq!(
        first[1].r#match.clone().unwrap().lot,
        format!("sites/{S1}/lots/{L1}")
    );
    let second = list(client).await;
    assert!(
        second
            .iter()
            .all(|p| p.status == pb::ProposalStatus::Seen as i32),
        "from {from}: {second:?}"
    );
    let declined = client
        .decline_proposal(pb::DeclineProposalRequest {
            name: format!("proposals/{PROPOSAL_1}"),
            reason: "Plus de place".into(),
        })
        .await
        .unwrap_or_else(|e| panic!("from {from}: decline: {e}"))
        .into_inner();
    assert_eq!(declined.status, pb::ProposalStatus::Declined as i32);
}

async fn served_after_upgrade(seeded: &Seeded) {
    let from = seeded.from;
    let bus = InProcessBus::temporary().await.unwrap();
    let ctx = testing::context(seeded.db().clone(), Arc::new(bus));
    let running = crate::start(ctx.clone(), &Default::default())
        .await
        .unwrap_or_else(|e| panic!("from {from}: matching starts: {e}"));
    let served = testing::spawn(&ctx, vec![running]).await;
    let token = testing::token(Role::Admin, None, None);
    let mut client = MatchingServiceClient::with_interceptor(
        testing::channel(served.addr).await,
        Bearer(Some(token)),
    );
    let matches = client
        .recommend_lots(pb::RecommendLotsRequest {
            partner: format!("partners/{P1}"),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("from {from}: recommendations: {e}"))
        .into_inner()
        .matches;
    let lots: Vec<&str> = matches.iter().map(|m| m.lot.as_str()).collect();
    assert_eq!(lots, [format!("sites/{S1}/lots/{L1}")], "from {from}");
    let token = testing::token(Role::Partner, None, Some(P1));
    let mut as_partner = MatchingServiceClient::with_interceptor(
        testing::channel(served.addr).await,
        Bearer(Some(token)),
    );
    old_proposals_listed_and_declined(&mut as_partner, from).await;
    seeded.wait_relayed(PENDING_EVENT).await;
    served.stop().await.unwrap();
}
