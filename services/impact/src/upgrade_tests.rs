//! Upgrades: every migration is run over a database of the schema before it
//! holding rows (`tests/fixtures/upgrade/{sqlite,postgres}/NNNN.sql`), then
//! impact starts on it and answers the old figures, from the monthly sums
//! (whole months) and from the contributions (a period cut mid-month) alike.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use reemploi_events::InProcessBus;
use reemploi_proto::impact as pb;
use reemploi_proto::impact::impact_service_client::ImpactServiceClient;
use reemploi_runtime::auth::Role;
use reemploi_runtime::wire::millis_ts;
use reemploi_store::Backend;
use reemploi_testing::grpc::{self as testing, Bearer};
use reemploi_testing::on_both_backends;
use reemploi_testing::upgrade::{Seeded, Upgrade};

const DAY: i64 = 86_400_000;
/// 2026-01-01T00:00:00Z and 2026-03-01T00:00:00Z: the fixtures' hand-overs
/// fall in between, on 26 January and 10 February.
const JANUARY: i64 = 1_767_225_600_000;
const MARCH: i64 = 1_772_323_200_000;
const L2: &str = "0190a001-0000-7000-8000-000000000002";

fn upgrade() -> Upgrade {
    // Impact publishes nothing: its outbox is never written.
    Upgrade::new(
        crate::migrations(),
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/upgrade"),
    )
    .may_be_empty(&["outbox"])
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
        if from >= 2 {
            let deleted: i64 = sqlx::query_scalar("SELECT deleted FROM lots WHERE id = $1")
                .bind(L2)
                .fetch_one(seeded.db().pool())
                .await
                .unwrap();
            assert_eq!(deleted, 1, "from {from}: a deleted lot stays deleted");
        }
        served_after_upgrade(&seeded).await;
    }
}

async fn served_after_upgrade(seeded: &Seeded) {
    let from = seeded.from;
    let bus = InProcessBus::temporary().await.unwrap();
    let ctx = testing::context(seeded.db().clone(), Arc::new(bus));
    let running = crate::start(ctx.clone(), &Default::default())
        .await
        .unwrap_or_else(|e| panic!("from {from}: impact starts: {e}"));
    let served = testing::spawn(&ctx, vec![running]).await;
    let token = testing::token(Role::Admin, None, None);
    let mut client = ImpactServiceClient::with_interceptor(
        testing::channel(served.addr).await,
        Bearer(Some(token)),
    );
    // Whole months are read from the sums, a cut period from the
    // contributions: both hold the two hand-overs.
    for (start, end) in [(JANUARY, MARCH), (JANUARY + 14 * DAY, MARCH - 14 * DAY)] {
        let total = client
            .get_impact_summary(pb::GetImpactSummaryRequest {
                start_time: Some(millis_ts(start)),
                end_time: Some(millis_ts(end)),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("from {from}: summary: {e}"))
            .into_inner()
            .total
            .unwrap_or_default();
        let got = [
            total.handed_over_mass_g,
            total.reused_as_is_mass_g,
            total.resold_mass_g,
            total.recycled_mass_g,
            total.co2e_gross_g,
            total.insertion_minutes,
            total.lots,
            total.claims,
        ];
        assert_eq!(
            got,
            [141_000, 60_000, 50_000, 31_000, 200_000, 330, 2, 2],
            "from {from}, period {start}..{end}"
        );
    }
    served.stop().await.unwrap();
}
