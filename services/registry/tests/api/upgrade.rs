//! Upgrades: every migration is run over a database of the schema before it
//! holding rows (`tests/fixtures/upgrade/{sqlite,postgres}/NNNN.sql`), then
//! the registry starts on it and serves the old partners, keeps a SIRET to
//! one live partner and relays the event left pending.

use reemploi_proto::registry as pb;
use reemploi_runtime::auth::Role;
use reemploi_store::Backend;
use reemploi_testing::on_both_backends;
use reemploi_testing::upgrade::{Seeded, Upgrade};
use tonic::Code;

const P1: &str = "0190a002-0000-7000-8000-000000000001";
const P2: &str = "0190a002-0000-7000-8000-000000000002";
/// The SIRET of P1, and of an archived partner.
const SIRET: &str = "90012345600007";
/// The outbox row the fixtures leave unrelayed.
const PENDING_EVENT: &str = "0190a006-0000-7000-8000-000000000003";

fn upgrade() -> Upgrade {
    // The registry follows no event: its inbox is never written.
    Upgrade::new(
        reemploi_registry::migrations(),
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/upgrade"),
    )
    .may_be_empty(&["inbox"])
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
        seeded.upgrade(&reemploi_registry::migrations()).await;
        served_after_upgrade(&seeded).await;
    }
}

async fn served_after_upgrade(seeded: &Seeded) {
    let from = seeded.from;
    let app = super::spawn_on(seeded.db().clone()).await;
    let mut admin = app.client(Role::Admin, None).await;
    let partners = super::all(&mut admin).await;
    assert_eq!(partners.len(), 4, "from {from}: {partners:?}");

    let p1 = admin
        .get_partner(pb::GetPartnerRequest {
            name: format!("partners/{P1}"),
        })
        .await
        .unwrap_or_else(|e| panic!("from {from}: old partner: {e}"))
        .into_inner();
    assert_eq!(p1.siret, SIRET, "from {from}");
    assert_eq!(p1.status, pb::PartnerStatus::Verified as i32, "from {from}");
    assert_eq!(p1.accepted_categories, ["radiateur", "porte-interieure"]);

    // The archived partner's SIRET is P1's: still one live partner per SIRET.
    let taken = admin
        .register_partner(super::register(super::partner_msg(SIRET)))
        .await
        .expect_err("a live partner's SIRET registered twice");
    assert_eq!(taken.code(), Code::AlreadyExists, "from {from}: {taken:?}");

    let reinstated = admin
        .reinstate_partner(pb::ReinstatePartnerRequest {
            name: format!("partners/{P2}"),
            etag: String::new(),
        })
        .await
        .unwrap_or_else(|e| panic!("from {from}: reinstate an old partner: {e}"))
        .into_inner();
    assert_eq!(reinstated.status, pb::PartnerStatus::Verified as i32);

    seeded.wait_relayed(PENDING_EVENT).await;
    app.stop().await;
}
