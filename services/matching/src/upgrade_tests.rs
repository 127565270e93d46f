//! Upgrades: every migration is run over a database of the schema before it
//! holding rows (`tests/fixtures/upgrade/{sqlite,postgres}/NNNN.sql`), then
//! matching starts on it, builds its index from the old projections and
//! recommends the old lots; proposals and the change log name lots by site.
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
/// The outbox row the fixtures leave unrelayed.
const PENDING_EVENT: &str = "0190a008-0000-7000-8000-000000000002";

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
    seeded.wait_relayed(PENDING_EVENT).await;
    served.stop().await.unwrap();
}
