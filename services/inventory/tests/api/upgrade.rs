//! Upgrades: every migration is run over a database of the schema before it
//! holding rows (`tests/fixtures/upgrade/{sqlite,postgres}/NNNN.sql`), then
//! the inventory starts on it and serves the old rows: sites, lots with
//! UUID ids, their ledgers and claims, and the outbox row left pending.

use std::sync::Arc;

use reemploi_events::InProcessBus;
use reemploi_inventory::Settings;
use reemploi_proto::inventory as pb;
use reemploi_proto::types as tpb;
use reemploi_store::Backend;
use reemploi_testing::on_both_backends;
use reemploi_testing::upgrade::{Seeded, Upgrade};
use uuid::Uuid;

use super::support::{Client, spawn_with};

const S1: &str = "0190a000-0000-7000-8000-000000000001";
const L1: &str = "0190a001-0000-7000-8000-000000000001";
const P1: &str = "0190a002-0000-7000-8000-000000000001";
/// The fixtures' claim handed over, and one confirmed.
const HANDED: &str = "0190a003-0000-7000-8000-000000000003";
const CONFIRMED: &str = "0190a003-0000-7000-8000-000000000002";
/// The outbox row the fixtures leave unrelayed.
const PENDING_EVENT: &str = "0190a004-0000-7000-8000-000000000003";

fn upgrade() -> Upgrade {
    Upgrade::new(
        reemploi_inventory::migrations(),
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
        seeded.upgrade(&reemploi_inventory::migrations()).await;
        served_after_upgrade(&seeded).await;
    }
}

/// The inventory started on the upgraded database reads, changes and
/// relays what the fixture held.
async fn served_after_upgrade(seeded: &Seeded) {
    let from = seeded.from;
    let bus = InProcessBus::temporary().await.expect("in-process bus");
    let app = spawn_with(seeded.db().clone(), Arc::new(bus), Settings::default()).await;
    let mut m = app.manager().await;
    let site = format!("sites/{S1}");
    let lot = format!("{site}/lots/{L1}");

    let got = m
        .get_site(pb::GetSiteRequest { name: site.clone() })
        .await
        .unwrap_or_else(|e| panic!("from {from}: old site: {e}"))
        .into_inner();
    assert_eq!(got.owner_org, super::ORG, "from {from}");
    let lots = list_lots(&mut m, &site).await;
    let expected = if from >= 4 { 3 } else { 2 };
    assert_eq!(
        lots.len(),
        expected,
        "from {from}: lots of {site}: {lots:?}"
    );

    let old = get_lot(&mut m, &lot).await;
    assert_eq!(
        super::ledger(&old),
        (10_000, 5_000, 3_000, 2_000),
        "from {from}: the ledger of {lot}"
    );
    assert_eq!(old.status, pb::LotStatus::Published as i32, "from {from}");
    assert_eq!(old.photo_uris.len(), 2, "from {from}");
    assert!(
        old.check.is_none(),
        "from {from}: no lot was checked before checks"
    );
    let claims = m
        .list_claims(pb::ListClaimsRequest {
            parent: lot.clone(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("from {from}: claims of {lot}: {e}"))
        .into_inner()
        .claims;
    assert_eq!(claims.len(), 6, "from {from}: every status is read back");

    // The old lot is still claimed and confirmed through its UUID name.
    let partner: Uuid = P1.parse().expect("partner id");
    let mut p = app.partner(partner).await;
    let claim = p
        .claim_lot(pb::ClaimLotRequest {
            lot: lot.clone(),
            partner: format!("partners/{P1}"),
            quantity: Some(tpb::Quantity {
                unit: tpb::Unit::Piece as i32,
                milli: 1_000,
            }),
            request_id: format!("after-upgrade-{from}"),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("from {from}: claim of an old lot: {e}"))
        .into_inner();
    m.confirm_claim(pb::ConfirmClaimRequest {
        name: claim.name,
        etag: String::new(),
    })
    .await
    .unwrap_or_else(|e| panic!("from {from}: confirm: {e}"));
    let after = get_lot(&mut m, &lot).await;
    assert_eq!(super::ledger(&after), (10_000, 4_000, 4_000, 2_000));
    old_handover_has_its_receipt(&mut m, from).await;

    if from >= 4 {
        readable_ids_stay_per_site(&mut m, from).await;
    }
    if from >= 9 {
        pickup_slot_and_booking_kept(&mut m, from).await;
    }
    seeded.wait_relayed(PENDING_EVENT).await;
    ledgers_hold(seeded, from).await;
    app.stop().await;
}

/// The claim handed over before trips were counted collected all it
/// claimed in one trip, whose receipt is the site's first; the next trip
/// of the site takes the next number.
async fn old_handover_has_its_receipt(m: &mut Client, from: i64) {
    let claim = format!("sites/{S1}/lots/{L1}/claims/{HANDED}");
    let old = m
        .get_claim(pb::GetClaimRequest {
            name: claim.clone(),
        })
        .await
        .unwrap_or_else(|e| panic!("from {from}: {e}"))
        .into_inner();
    assert_eq!(old.collected.map(|q| q.milli), Some(2_000), "from {from}");
    assert_eq!(old.trip_count, 1, "from {from}");
    let receipts = m
        .list_receipts(pb::ListReceiptsRequest {
            parent: format!("sites/{S1}/lots/-/claims/-"),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("from {from}: receipts: {e}"))
        .into_inner()
        .receipts;
    assert_eq!(receipts.len(), 1, "from {from}: {receipts:?}");
    let receipt = &receipts[0];
    assert_eq!(receipt.number, format!("BE-{S1}-0001"), "from {from}");
    assert_eq!(receipt.weighed_mass_g, 91_000, "from {from}");
    assert!(receipt.completes_claim, "from {from}");
    assert_eq!(receipt.name, format!("{claim}/receipts/{HANDED}"));

    let confirmed = format!("sites/{S1}/lots/{L1}/claims/{CONFIRMED}");
    m.record_handover(pb::RecordHandoverRequest {
        name: confirmed.clone(),
        weighed_mass_g: 45_000,
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("from {from}: a trip of an old claim: {e}"));
    let next = m
        .list_receipts(pb::ListReceiptsRequest {
            parent: confirmed,
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("from {from}: receipts: {e}"))
        .into_inner()
        .receipts;
    assert_eq!(next[0].number, format!("BE-{S1}-0002"), "from {from}");
}

/// The fixture's pick-up slot (26 January 2026, 8:00 to 12:00 UTC) and
/// the confirmed claim's booking on it.
async fn pickup_slot_and_booking_kept(m: &mut Client, from: i64) {
    let site = format!("sites/{S1}");
    let at = |millis: i64| {
        Some(prost_types::Timestamp {
            seconds: millis / 1000,
            nanos: 0,
        })
    };
    let slots = m
        .list_pickup_slots(pb::ListPickupSlotsRequest {
            parent: site.clone(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("from {from}: slots: {e}"))
        .into_inner()
        .pickup_slots;
    assert_eq!(slots.len(), 1, "from {from}: {slots:?}");
    assert_eq!(slots[0].trucks, 2, "from {from}");
    let pickups = m
        .list_pickups(pb::ListPickupsRequest {
            parent: site,
            start_time: at(1_769_385_600_000),
            end_time: at(1_769_472_000_000),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("from {from}: pick-ups: {e}"))
        .into_inner()
        .pickups;
    assert_eq!(pickups.len(), 1, "from {from}: {pickups:?}");
    assert!(
        pickups[0].claim.ends_with(CONFIRMED),
        "from {from}: {pickups:?}"
    );
}

/// Lot `m1` of two sites: two lots.
async fn readable_ids_stay_per_site(m: &mut Client, from: i64) {
    let lot = get_lot(m, &format!("sites/{S1}/lots/m1")).await;
    assert_eq!(super::ledger(&lot), (6_000, 5_000, 1_000, 0), "from {from}");
}

/// Every lot's ledger adds up, its open claims reserve what they have not
/// collected, and what claims collected is what it handed over.
async fn ledgers_hold(seeded: &Seeded, from: i64) {
    let broken: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM lots l WHERE l.quantity <> l.available + l.reserved + l.handed_over \
         OR l.reserved <> (SELECT COALESCE(SUM(c.quantity - c.collected), 0) FROM claims c \
             WHERE c.site_id = l.site_id AND c.lot_id = l.id \
             AND c.status IN ('reserved', 'confirmed')) \
         OR l.handed_over <> (SELECT COALESCE(SUM(c.collected), 0) FROM claims c \
             WHERE c.site_id = l.site_id AND c.lot_id = l.id)",
    )
    .fetch_one(seeded.db().pool())
    .await
    .expect("check the ledgers");
    assert_eq!(broken, 0, "from {from}: lots whose ledger does not hold");
}

async fn list_lots(m: &mut Client, site: &str) -> Vec<pb::Lot> {
    m.list_lots(pb::ListLotsRequest {
        parent: site.into(),
        ..Default::default()
    })
    .await
    .expect("list the lots of an old site")
    .into_inner()
    .lots
}

async fn get_lot(m: &mut Client, name: &str) -> pb::Lot {
    m.get_lot(pb::GetLotRequest { name: name.into() })
        .await
        .unwrap_or_else(|e| panic!("get {name}: {e}"))
        .into_inner()
}
