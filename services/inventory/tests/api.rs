//! Every inventory RPC through a real gRPC client on a real socket, on
//! SQLite and on PostgreSQL; concurrency, idempotency, bad input, auth, and
//! events over real NATS JetStream.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "api/checks.rs"]
mod checks;
#[path = "api/listing.rs"]
mod listing;
#[path = "api/names.rs"]
mod names;
#[path = "api/pickup.rs"]
mod pickup;
#[path = "api/slots.rs"]
mod slots;
mod support;
#[path = "api/upgrade.rs"]
mod upgrade;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use prost::Message as _;
use prost_types::{FieldMask, Timestamp};
use reemploi_events::{Bus, JetStreamBus, JetStreamOptions};
use reemploi_inventory::Settings;
use reemploi_proto::events::Envelope;
use reemploi_proto::inventory as pb;
use reemploi_proto::inventory::inventory_service_server::InventoryService as _;
use reemploi_proto::registry as rpb;
use reemploi_proto::types as tpb;
use reemploi_runtime::auth::{Role, claims_for, issue_hs256};
use reemploi_runtime::status::{field_violations, reason};
use reemploi_store::Backend;
use reemploi_testing::nats::NatsServer;
use support::{App, Client, ORG, spawn_app, token};
use tonic::Code;
use uuid::Uuid;

use reemploi_testing::on_both_backends;

on_both_backends!(
    every_rpc,
    concurrent_claims_never_oversell,
    repeated_request_id_gives_one_claim,
    bad_inputs_change_nothing,
    authorization,
    expiry_returns_reservations,
    hostile_values_are_refused,
    request_ids_belong_to_one_caller_and_one_request,
    sites_are_listed_newest_first,
    claims_speak_in_the_lots_terms,
    drafts_are_deleted_and_published_in_batches,
    outbox_backlog_shows_while_nats_is_down,
    platform_gauges_count_lots_claims_and_mass,
);

/// A lead check passed yesterday.
fn passed_check() -> pb::LotCheck {
    let yesterday = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        - 86_400;
    pb::LotCheck {
        check_time: ts(yesterday),
        result: pb::CheckResult::Passed as i32,
        checked_by: "Diagnostics Alsace, plomb".into(),
        note: "peinture sans plomb au-delà du seuil".into(),
        ..Default::default()
    }
}

/// A draft of `site`, with `reuse` and `hazards`.
async fn draft_lot(
    c: &mut Client,
    site: &pb::Site,
    reuse: pb::ReusePotential,
    hazards: &[pb::Hazard],
) -> pb::Lot {
    let mut lot = lot_msg("Portes bois", 4);
    lot.reuse_potential = reuse as i32;
    lot.hazards = hazards.iter().map(|h| *h as i32).collect();
    c.create_lot(pb::CreateLotRequest {
        parent: site.name.clone(),
        lot: Some(lot),
        request_id: String::new(),
        lot_id: String::new(),
    })
    .await
    .unwrap()
    .into_inner()
}

/// DeleteLot drops drafts only, and says so on the event stream;
/// BatchPublishLots publishes lots named all or none, or every draft that
/// can be, holding the hazardous and those awaiting a check.
async fn drafts_are_deleted_and_published_in_batches(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = app.manager().await;
    let site = new_site(&mut m).await;
    let direct = pb::ReusePotential::Direct;
    let spare = draft_lot(&mut m, &site, direct, &[]).await;
    let mut p = app.partner(app.verified_partner().await).await;
    let hidden = p
        .delete_lot(pb::DeleteLotRequest {
            name: spare.name.clone(),
            etag: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound, "a partner sees no draft");
    let stale = m
        .delete_lot(pb::DeleteLotRequest {
            name: spare.name.clone(),
            etag: "\"99\"".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    m.delete_lot(pb::DeleteLotRequest {
        name: spare.name.clone(),
        etag: spare.etag.clone(),
    })
    .await
    .unwrap();
    let gone = m
        .get_lot(pb::GetLotRequest {
            name: spare.name.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);

    let doors = draft_lot(&mut m, &site, direct, &[]).await;
    let leaded = draft_lot(&mut m, &site, pb::ReusePotential::AfterCheck, &[]).await;
    let asbestos = draft_lot(&mut m, &site, direct, &[pb::Hazard::Asbestos]).await;
    let batch = |names: Vec<String>, all: bool, after_check: bool| pb::BatchPublishLotsRequest {
        parent: site.name.clone(),
        names,
        all_drafts: all,
        include_after_check: after_check,
    };
    for (bad, field) in [
        (batch(vec![doors.name.clone()], true, false), "names"),
        (batch(vec![], false, false), "names"),
        (
            batch(vec![doors.name.clone()], false, true),
            "include_after_check",
        ),
        (
            batch(vec!["sites/x/lots/y".into()], false, false),
            "names[0]",
        ),
    ] {
        let refused = m.batch_publish_lots(bad).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument);
        assert_eq!(field_violations(&refused)[0].0, field);
    }
    let all_or_none = m
        .batch_publish_lots(batch(
            vec![doors.name.clone(), asbestos.name.clone()],
            false,
            false,
        ))
        .await
        .unwrap_err();
    assert_eq!(all_or_none.code(), Code::FailedPrecondition);
    assert!(
        all_or_none.message().contains(&asbestos.name),
        "{}",
        all_or_none.message()
    );
    assert_eq!(
        get_lot(&mut m, &doors.name).await.status,
        pb::LotStatus::Draft as i32
    );

    let done = m
        .batch_publish_lots(batch(vec![], true, false))
        .await
        .unwrap()
        .into_inner();
    let names = |lots: &[pb::Lot]| lots.iter().map(|l| l.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&done.lots), vec![doors.name.clone()]);
    let held: Vec<(&str, &str)> = done
        .held
        .iter()
        .map(|h| (h.name.as_str(), h.reason.as_str()))
        .collect();
    assert_eq!(held.len(), 2, "{held:?}");
    assert!(
        held.iter()
            .any(|(n, r)| *n == leaded.name && r.contains("check")),
        "{held:?}"
    );
    assert!(
        held.iter()
            .any(|(n, r)| *n == asbestos.name && r.contains("hazardous")),
        "{held:?}"
    );
    // Saying the check is passed is not enough: it must be recorded.
    let unchecked = m
        .batch_publish_lots(batch(vec![], true, true))
        .await
        .unwrap()
        .into_inner();
    assert!(unchecked.lots.is_empty(), "{unchecked:?}");
    m.record_lot_check(pb::RecordLotCheckRequest {
        name: leaded.name.clone(),
        check: Some(passed_check()),
        ..Default::default()
    })
    .await
    .unwrap();
    let checked = m
        .batch_publish_lots(batch(vec![], true, false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(names(&checked.lots), vec![leaded.name.clone()]);
    assert_eq!(checked.held.len(), 1, "the asbestos stays a draft");

    // The deletion is on the stream, with the draft's delete_time.
    let mut integrator = app.client_with(Some(token_for(Role::Integrator))).await;
    let mut watch = integrator
        .watch_lots(pb::WatchLotsRequest {
            parent: site.name.clone(),
            start_cursor: "0".into(),
        })
        .await
        .unwrap()
        .into_inner();
    loop {
        let change = tokio::time::timeout(Duration::from_secs(10), watch.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if change.event_type == "reemploi.inventory.lot.deleted" {
            let lot = change.lot.unwrap();
            assert_eq!(lot.name, spare.name);
            assert!(lot.delete_time.is_some());
            break;
        }
    }
    app.stop().await;
}

/// A claim is told in the lot's unit, in whole pieces, confirmed only for
/// an eligible partner and handed over only once confirmed.
async fn claims_speak_in_the_lots_terms(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = app.manager().await;
    let site = new_site(&mut m).await;
    let lot = published_lot(&mut m, &site, 150).await;
    let partner = app.verified_partner().await;
    let mut p = app.partner(partner).await;

    let mut half = claim_req(&lot, partner, 2, "half");
    half.quantity = Some(tpb::Quantity {
        unit: tpb::Unit::Piece as i32,
        milli: 2_500,
    });
    let refused = p.claim_lot(half).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let violations = field_violations(&refused);
    assert_eq!(violations[0].0, "quantity.milli", "{violations:?}");
    assert!(violations[0].1.contains("whole"), "{violations:?}");

    let greedy = p
        .claim_lot(claim_req(&lot, partner, 500, "greedy"))
        .await
        .unwrap_err();
    assert_eq!(greedy.code(), Code::FailedPrecondition);
    assert_eq!(reason(&greedy).as_deref(), Some("INSUFFICIENT_QUANTITY"));
    assert_eq!(greedy.message(), "500 u requested, 150 u available");
    assert_eq!(
        ledger(&get_lot(&mut m, &lot.name).await),
        (150_000, 150_000, 0, 0),
        "refused claims changed nothing"
    );

    let claim = p
        .claim_lot(claim_req(&lot, partner, 20, "twenty"))
        .await
        .unwrap()
        .into_inner();
    let early = m
        .record_handover(pb::RecordHandoverRequest {
            name: claim.name.clone(),
            weighed_mass_g: 500_000,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(early.code(), Code::FailedPrecondition);
    assert_eq!(reason(&early).as_deref(), Some("CLAIM_NOT_CONFIRMED"));
    assert!(
        early.message().contains("confirm it"),
        "{}",
        early.message()
    );

    let confirm = || pb::ConfirmClaimRequest {
        name: claim.name.clone(),
        etag: String::new(),
    };
    app.set_partner(partner, rpb::PartnerStatus::Suspended, 3)
        .await;
    let suspended = m.confirm_claim(confirm()).await.unwrap_err();
    assert_eq!(suspended.code(), Code::FailedPrecondition);
    assert_eq!(reason(&suspended).as_deref(), Some("PARTNER_NOT_ELIGIBLE"));
    assert!(
        suspended.message().contains("suspended"),
        "{}",
        suspended.message()
    );
    let still = m
        .get_claim(pb::GetClaimRequest {
            name: claim.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(still.status, pb::ClaimStatus::Reserved as i32);
    app.set_partner(partner, rpb::PartnerStatus::Verified, 4)
        .await;
    let confirmed = m.confirm_claim(confirm()).await.unwrap().into_inner();
    assert_eq!(confirmed.status, pb::ClaimStatus::Confirmed as i32);
    app.stop().await;
}

/// ListSites keeps its contract: newest first, across pages.
async fn sites_are_listed_newest_first(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = app.manager().await;
    let mut created = Vec::new();
    for _ in 0..3 {
        created.push(new_site(&mut m).await.name);
    }
    created.reverse();
    let page = |token: String| {
        let mut m = m.clone();
        async move {
            m.list_sites(pb::ListSitesRequest {
                page_size: 2,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
        }
    };
    let first = page(String::new()).await;
    let second = page(first.next_page_token.clone()).await;
    let listed: Vec<String> = first
        .sites
        .iter()
        .chain(&second.sites)
        .map(|s| s.name.clone())
        .collect();
    assert_eq!(listed, created);
    assert!(second.next_page_token.is_empty());
    app.stop().await;
}

fn qty(unit: tpb::Unit, whole: i64) -> Option<tpb::Quantity> {
    Some(tpb::Quantity {
        unit: unit as i32,
        milli: whole * 1000,
    })
}

fn point(lat: f64, lon: f64) -> Option<tpb::GeoPoint> {
    Some(tpb::GeoPoint {
        latitude: lat,
        longitude: lon,
    })
}

fn ts(secs: i64) -> Option<Timestamp> {
    Some(Timestamp {
        seconds: secs,
        nanos: 0,
    })
}

fn site_msg() -> pb::Site {
    pb::Site {
        display_name: "Coteaux – tour A".into(),
        operation: Some(pb::Operation {
            programme: "NPNRU".into(),
            quartier: "Coteaux".into(),
            commune: "Mulhouse".into(),
            insee_code: "68224".into(),
        }),
        location: point(47.7460, 7.3010),
        address: "rue de Provence, Mulhouse".into(),
        ..Default::default()
    }
}

fn lot_msg(designation: &str, whole: i64) -> pb::Lot {
    pb::Lot {
        designation: designation.into(),
        category: "porte-interieure".into(),
        quantity: qty(tpb::Unit::Piece, whole),
        estimated_mass_g: whole * 25_000,
        waste_code: "17 02 01".into(),
        ..Default::default()
    }
}

async fn new_site(c: &mut Client) -> pb::Site {
    c.create_site(pb::CreateSiteRequest {
        site: Some(site_msg()),
        request_id: String::new(),
        site_id: String::new(),
    })
    .await
    .unwrap()
    .into_inner()
}

async fn published_lot(c: &mut Client, site: &pb::Site, whole: i64) -> pb::Lot {
    let lot = c
        .create_lot(pb::CreateLotRequest {
            parent: site.name.clone(),
            lot: Some(lot_msg("Portes bois 83x204", whole)),
            request_id: String::new(),
            lot_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    c.publish_lot(pb::PublishLotRequest {
        name: lot.name,
        etag: String::new(),
    })
    .await
    .unwrap()
    .into_inner()
}

fn claim_req(lot: &pb::Lot, partner: Uuid, whole: i64, rid: &str) -> pb::ClaimLotRequest {
    pb::ClaimLotRequest {
        lot: lot.name.clone(),
        partner: format!("partners/{partner}"),
        quantity: qty(tpb::Unit::Piece, whole),
        request_id: rid.into(),
        ..Default::default()
    }
}

fn ledger(lot: &pb::Lot) -> (i64, i64, i64, i64) {
    let m = |q: &Option<tpb::Quantity>| q.as_ref().map_or(-1, |q| q.milli);
    (
        m(&lot.quantity),
        m(&lot.available),
        m(&lot.reserved),
        m(&lot.handed_over),
    )
}

fn assert_ledger_holds(lot: &pb::Lot) {
    let (q, a, r, h) = ledger(lot);
    assert!(
        a >= 0 && r >= 0 && h >= 0,
        "negative ledger {:?}",
        ledger(lot)
    );
    assert_eq!(q, a + r + h, "ledger broken: {:?}", ledger(lot));
}

async fn get_lot(c: &mut Client, name: &str) -> pb::Lot {
    c.get_lot(pb::GetLotRequest { name: name.into() })
        .await
        .unwrap()
        .into_inner()
}

async fn every_rpc(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = app.manager().await;

    // Sites: create (idempotent), get, list, update with mask + etag.
    let req = pb::CreateSiteRequest {
        site: Some(site_msg()),
        request_id: "site-1".into(),
        site_id: String::new(),
    };
    let site = m.create_site(req.clone()).await.unwrap().into_inner();
    assert_eq!(
        m.create_site(req).await.unwrap().into_inner().name,
        site.name
    );
    assert_eq!(site.owner_org, ORG);
    let got = m
        .get_site(pb::GetSiteRequest {
            name: site.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, site);
    let listed = m
        .list_sites(pb::ListSitesRequest {
            text: "coteaux".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.sites.len(), 1);
    let updated = m
        .update_site(pb::UpdateSiteRequest {
            site: Some(pb::Site {
                name: site.name.clone(),
                display_name: "Coteaux – tour A et B".into(),
                etag: site.etag.clone(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["display_name".into()],
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.display_name, "Coteaux – tour A et B");
    assert_eq!(
        updated.address, site.address,
        "fields outside the mask are kept"
    );
    assert_eq!(updated.version, site.version + 1);

    // A whole diagnostic in one batch.
    let diagnostic =
        reemploi_inventory::diagnostic::read(include_str!("../../../demo/diagnostic-coteaux.csv"))
            .unwrap();
    let batch = m
        .batch_create_lots(pb::BatchCreateLotsRequest {
            parent: site.name.clone(),
            requests: diagnostic
                .into_iter()
                .map(|lot| pb::CreateLotRequest {
                    lot: Some(lot),
                    ..Default::default()
                })
                .collect(),
            request_id: "diag-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(batch.lots.len(), 10);
    let asbestos = batch.lots.iter().find(|l| l.reference == "M9").unwrap();
    assert!(asbestos.hazardous);
    for lot in batch.lots.iter().filter(|l| !l.hazardous) {
        // The railings awaiting their lead check are published once it passed.
        let etag = if lot.reuse_potential == pb::ReusePotential::AfterCheck as i32 {
            let checked = m
                .record_lot_check(pb::RecordLotCheckRequest {
                    name: lot.name.clone(),
                    etag: lot.etag.clone(),
                    check: Some(passed_check()),
                })
                .await
                .unwrap()
                .into_inner();
            checked.etag
        } else {
            lot.etag.clone()
        };
        let published = m
            .publish_lot(pb::PublishLotRequest {
                name: lot.name.clone(),
                etag,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(published.status, pb::LotStatus::Published as i32);
    }

    // Single lot with location and availability window; get; update.
    let mut door = lot_msg("Porte palière", 12);
    door.location = point(47.7800, 7.3400);
    door.availability = Some(tpb::TimeWindow {
        start_time: ts(1_800_000_000),
        end_time: ts(1_900_000_000),
    });
    let door = m
        .create_lot(pb::CreateLotRequest {
            parent: site.name.clone(),
            lot: Some(door),
            request_id: "door".into(),
            lot_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(get_lot(&mut m, &door.name).await, door);
    let door = m
        .update_lot(pb::UpdateLotRequest {
            lot: Some(pb::Lot {
                name: door.name.clone(),
                quantity: qty(tpb::Unit::Piece, 10),
                etag: door.etag.clone(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["quantity".into()],
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ledger(&door), (10_000, 10_000, 0, 0));
    assert_eq!(door.designation, "Porte palière");

    // Filters and pagination.
    let list = |req: pb::ListLotsRequest| {
        let mut m = m.clone();
        async move { m.list_lots(req).await.unwrap().into_inner() }
    };
    let all = list(pb::ListLotsRequest {
        parent: site.name.clone(),
        ..Default::default()
    })
    .await;
    assert_eq!(all.lots.len(), 11);
    let radiators = list(pb::ListLotsRequest {
        parent: "sites/-".into(),
        category: "radiateur".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(radiators.lots.len(), 1);
    let drafts = list(pb::ListLotsRequest {
        parent: site.name.clone(),
        status: pb::LotStatus::Draft as i32,
        ..Default::default()
    })
    .await;
    assert_eq!(drafts.lots.len(), 2, "M9 and the door are drafts");
    let near = list(pb::ListLotsRequest {
        parent: site.name.clone(),
        near: point(47.7800, 7.3400),
        radius_m: 1000,
        ..Default::default()
    })
    .await;
    assert_eq!(
        near.lots.iter().map(|l| l.name.clone()).collect::<Vec<_>>(),
        vec![door.name.clone()]
    );
    let at = list(pb::ListLotsRequest {
        parent: site.name.clone(),
        available_at: ts(1_700_000_000),
        ..Default::default()
    })
    .await;
    assert_eq!(at.lots.len(), 10, "the door is not available yet");
    let text = list(pb::ListLotsRequest {
        parent: site.name.clone(),
        text: "radiateurs".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(text.lots.len(), 1);
    let mut seen = HashSet::new();
    let mut token = String::new();
    loop {
        let page = list(pb::ListLotsRequest {
            parent: site.name.clone(),
            page_size: 4,
            page_token: token,
            ..Default::default()
        })
        .await;
        assert!(page.lots.len() <= 4);
        seen.extend(page.lots.iter().map(|l| l.name.clone()));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen.len(), 11);

    // Watch from the beginning sees the publications.
    let mut integrator = app.client_with(Some(token_for(Role::Integrator))).await;
    let mut watch = integrator
        .watch_lots(pb::WatchLotsRequest {
            parent: site.name.clone(),
            start_cursor: "0".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut published = 0;
    while published < 9 {
        let change = tokio::time::timeout(Duration::from_secs(10), watch.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if change.event_type == "reemploi.inventory.lot.published" {
            published += 1;
        }
    }

    // Claims: claim, get, list, confirm, hand over; reject and cancel return quantity.
    let partner = app.verified_partner().await;
    let mut p = app.partner(partner).await;
    let radiator = &radiators.lots[0];
    let claim = p
        .claim_lot(claim_req(radiator, partner, 10, "c1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(claim.status, pb::ClaimStatus::Reserved as i32);
    assert_eq!(
        ledger(&get_lot(&mut m, &radiator.name).await),
        (410_000, 400_000, 10_000, 0)
    );
    // The live stream sees the ledger move.
    let change = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let c = watch.next().await.unwrap().unwrap();
            if c.lot.as_ref().is_some_and(|l| l.name == radiator.name) {
                return c;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(change.event_type, "reemploi.inventory.lot.updated");
    assert_eq!(
        p.get_claim(pb::GetClaimRequest {
            name: claim.name.clone()
        })
        .await
        .unwrap()
        .into_inner(),
        claim
    );
    let claims = m
        .list_claims(pb::ListClaimsRequest {
            parent: radiator.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(claims.claims.len(), 1);
    let confirmed = m
        .confirm_claim(pb::ConfirmClaimRequest {
            name: claim.name.clone(),
            etag: claim.etag.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(confirmed.status, pb::ClaimStatus::Confirmed as i32);
    let done = m
        .record_handover(pb::RecordHandoverRequest {
            name: claim.name.clone(),
            weighed_mass_g: 612_500,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.status, pb::ClaimStatus::HandedOver as i32);
    assert_eq!(done.weighed_mass_g, 612_500);
    assert_eq!(
        ledger(&get_lot(&mut m, &radiator.name).await),
        (410_000, 400_000, 0, 10_000)
    );

    let rejected = p
        .claim_lot(claim_req(radiator, partner, 5, "c2"))
        .await
        .unwrap()
        .into_inner();
    let rejected = m
        .reject_claim(pb::RejectClaimRequest {
            name: rejected.name,
            reason: "pas de créneau".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rejected.status, pb::ClaimStatus::Rejected as i32);
    let cancelled = p
        .claim_lot(claim_req(radiator, partner, 400, "c3"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        get_lot(&mut m, &radiator.name).await.status,
        pb::LotStatus::Exhausted as i32
    );
    let cancelled = p
        .cancel_claim(pb::CancelClaimRequest {
            name: cancelled.name,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cancelled.status, pb::ClaimStatus::Cancelled as i32);
    let after = get_lot(&mut m, &radiator.name).await;
    assert_eq!(ledger(&after), (410_000, 400_000, 0, 10_000));
    assert_eq!(
        after.status,
        pb::LotStatus::Published as i32,
        "a returned reservation reopens the lot"
    );

    // Withdraw: no more claims.
    let withdrawn = m
        .withdraw_lot(pb::WithdrawLotRequest {
            name: radiator.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(withdrawn.status, pb::LotStatus::Withdrawn as i32);
    app.stop().await;
}

fn token_for(role: Role) -> String {
    token(role, None, None)
}

async fn concurrent_claims_never_oversell(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = app.manager().await;
    let site = new_site(&mut m).await;
    let lot = published_lot(&mut m, &site, 100).await;
    let partner = app.verified_partner().await;
    let client = app.partner(partner).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200 {
        let mut c = client.clone();
        let want: i64 = rand::random_range(1..=5);
        let req = claim_req(&lot, partner, want, &format!("claim-{i}"));
        tasks.spawn(async move { (want, c.claim_lot(req).await) });
    }
    let mut accepted = 0;
    while let Some(done) = tasks.join_next().await {
        let (want, result) = done.unwrap();
        match result {
            Ok(claim) => {
                assert_eq!(claim.into_inner().quantity.unwrap().milli, want * 1000);
                accepted += want * 1000;
            }
            Err(status) => {
                assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
            }
        }
    }
    let after = get_lot(&mut m, &lot.name).await;
    assert!(accepted <= 100_000);
    assert!(accepted > 0);
    assert_eq!(after.reserved.unwrap().milli, accepted);
    assert_ledger_holds(&after);
    app.stop().await;
}

async fn repeated_request_id_gives_one_claim(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = app.manager().await;
    let site = new_site(&mut m).await;
    let lot = published_lot(&mut m, &site, 20).await;
    let partner = app.verified_partner().await;
    let mut p = app.partner(partner).await;
    let first = p
        .claim_lot(claim_req(&lot, partner, 3, "same"))
        .await
        .unwrap()
        .into_inner();
    let second = p
        .claim_lot(claim_req(&lot, partner, 3, "same"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first, second);
    let claims = m
        .list_claims(pb::ListClaimsRequest {
            parent: lot.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(claims.claims.len(), 1);
    assert_eq!(
        ledger(&get_lot(&mut m, &lot.name).await),
        (20_000, 17_000, 3_000, 0)
    );
    app.stop().await;
}

/// Everything the inventory holds, to check that a refused request changed nothing.
async fn snapshot(m: &mut Client) -> Vec<pb::Lot> {
    m.list_lots(pb::ListLotsRequest {
        parent: "sites/-".into(),
        page_size: 1000,
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .lots
}

/// A request id is the caller's own (its whole principal: two tokens with
/// the same subject but another organisation or partner share nothing), and
/// it names one request: reused for another, it is refused.
async fn request_ids_belong_to_one_caller_and_one_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = app.manager().await;
    let mut other_org = app
        .client_with(Some(token(Role::SiteManager, Some("org-other"), None)))
        .await;
    let site_req = |name: &str| pb::CreateSiteRequest {
        site: Some(pb::Site {
            display_name: name.into(),
            location: point(47.746, 7.301),
            ..Default::default()
        }),
        request_id: "site-1".into(),
        site_id: String::new(),
    };
    let a = m
        .create_site(site_req("Coteaux"))
        .await
        .unwrap()
        .into_inner();
    // Same subject string, another organisation: its own site.
    let b = other_org
        .create_site(site_req("Coteaux"))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(a.name, b.name);
    assert_eq!(b.owner_org, "org-other");
    // A retry gets the first answer; the key with another request is refused.
    let again = m
        .create_site(site_req("Coteaux"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.name, a.name);
    let status = m.create_site(site_req("Drouot")).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        field_violations(&status)
            .iter()
            .any(|(f, _)| f == "request_id")
    );

    let lot_req = |designation: &str| pb::CreateLotRequest {
        parent: a.name.clone(),
        lot: Some(lot_msg(designation, 3)),
        request_id: "lot-1".into(),
        lot_id: String::new(),
    };
    let lot = m.create_lot(lot_req("Portes")).await.unwrap().into_inner();
    assert_eq!(
        m.create_lot(lot_req("Portes"))
            .await
            .unwrap()
            .into_inner()
            .name,
        lot.name
    );
    let status = m.create_lot(lot_req("Radiateurs")).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);

    let first = published_lot(&mut m, &a, 5).await;
    let second = published_lot(&mut m, &a, 5).await;
    let partner = app.verified_partner().await;
    let mut p = app.partner(partner).await;
    let claim = p
        .claim_lot(claim_req(&first, partner, 2, "claim-1"))
        .await
        .unwrap()
        .into_inner();
    let retry = p
        .claim_lot(claim_req(&first, partner, 2, "claim-1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retry.name, claim.name);
    let before = snapshot(&mut m).await;
    for (lot, whole) in [(&first, 3), (&second, 2)] {
        let status = p
            .claim_lot(claim_req(lot, partner, whole, "claim-1"))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(
            field_violations(&status)
                .iter()
                .any(|(f, _)| f == "request_id")
        );
    }
    assert_eq!(
        snapshot(&mut m).await,
        before,
        "refused claims reserved nothing"
    );
    app.stop().await;
}

/// Values found by a hostile client: each refused with its field, nothing
/// changed.
async fn hostile_values_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = app.manager().await;
    let site = new_site(&mut m).await;
    let lot = published_lot(&mut m, &site, 4).await;
    let partner = app.verified_partner().await;
    let mut p = app.partner(partner).await;
    let claim = p
        .claim_lot(claim_req(&lot, partner, 1, "one-door"))
        .await
        .unwrap()
        .into_inner();
    m.confirm_claim(pb::ConfirmClaimRequest {
        name: claim.name.clone(),
        etag: String::new(),
    })
    .await
    .unwrap();
    let before = snapshot(&mut m).await;
    let refused = |status: tonic::Status, field: &str| {
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        let fields = field_violations(&status);
        assert!(
            fields.iter().any(|(f, _)| f == field),
            "{field}: violations {fields:?}"
        );
    };
    let create = |lot: pb::Lot| pb::CreateLotRequest {
        parent: site.name.clone(),
        lot: Some(lot),
        ..Default::default()
    };
    let bad_time = |seconds, nanos| Some(Timestamp { seconds, nanos });
    let window = |start, end| {
        Some(tpb::TimeWindow {
            start_time: start,
            end_time: end,
        })
    };
    let lots: Vec<(&str, pb::Lot)> = vec![
        (
            "lot.estimated_mass_g",
            pb::Lot {
                estimated_mass_g: i64::MAX,
                ..lot_msg("Porte", 1)
            },
        ),
        (
            "lot.availability.start_time",
            pb::Lot {
                availability: window(bad_time(1_700_000_000, -5), None),
                ..lot_msg("Porte", 1)
            },
        ),
        (
            "lot.availability.end_time",
            pb::Lot {
                availability: window(None, bad_time(1_700_000_000, 2_000_000_000)),
                ..lot_msg("Porte", 1)
            },
        ),
        (
            "lot.availability.start_time",
            pb::Lot {
                // Around the year 292 billion.
                availability: window(bad_time(9_214_646_400_000_000_000, 0), None),
                ..lot_msg("Porte", 1)
            },
        ),
        // Asbestos exists in the List of Waste only with its asterisk.
        (
            "lot.waste_code",
            pb::Lot {
                waste_code: "17 06 05".into(),
                ..lot_msg("Dalles", 1)
            },
        ),
        (
            "lot.waste_code",
            pb::Lot {
                waste_code: "17 06 99".into(),
                ..lot_msg("Dalles", 1)
            },
        ),
    ];
    for (field, lot) in lots {
        refused(m.create_lot(create(lot)).await.unwrap_err(), field);
    }
    let status = m
        .create_site(pb::CreateSiteRequest {
            site: Some(pb::Site {
                works_start_time: bad_time(0, -1),
                ..site.clone()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    refused(status, "site.works_start_time");
    let status = m
        .list_lots(pb::ListLotsRequest {
            available_at: bad_time(i64::MAX, 0),
            ..Default::default()
        })
        .await
        .unwrap_err();
    refused(status, "available_at");
    let status = p
        .claim_lot(pb::ClaimLotRequest {
            pickup_window: window(bad_time(0, 1_000_000_000), None),
            ..claim_req(&lot, partner, 1, "bad-window")
        })
        .await
        .unwrap_err();
    refused(status, "pickup_window.start_time");

    // A door of 25 kg weighed at 9.2e18 g, or at 200 kg without saying
    // it is a surprise; handed over in the future, or before the claim.
    let handover = |grams, at: Option<Timestamp>, unexpected| pb::RecordHandoverRequest {
        name: claim.name.clone(),
        weighed_mass_g: grams,
        handover_time: at,
        accept_unexpected_mass: unexpected,
        ..Default::default()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    for (req, field) in [
        (handover(i64::MAX, None, true), "weighed_mass_g"),
        (handover(200_000, None, false), "weighed_mass_g"),
        (handover(25_000, ts(now + 86_400), false), "handover_time"),
        (handover(25_000, ts(now - 86_400), false), "handover_time"),
        (handover(25_000, bad_time(now, -1), false), "handover_time"),
    ] {
        refused(m.record_handover(req).await.unwrap_err(), field);
    }
    assert_eq!(
        snapshot(&mut m).await,
        before,
        "refused values changed nothing"
    );
    let current = m
        .get_claim(pb::GetClaimRequest {
            name: claim.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(current.status, pb::ClaimStatus::Confirmed as i32);
    // A territory admin regularises a pick-up made before the claim was
    // entered, within a year of it; a real surprise at the scale is
    // recorded once confirmed.
    let mut admin = app.client_with(Some(token(Role::Admin, None, None))).await;
    let too_old = admin
        .record_handover(handover(200_000, ts(now - 400 * 86_400), true))
        .await
        .unwrap_err();
    refused(too_old, "handover_time");
    let done = admin
        .record_handover(handover(200_000, ts(now - 30 * 86_400), true))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.weighed_mass_g, 200_000);
    assert_eq!(done.handover_time.unwrap().seconds, now - 30 * 86_400);
    app.stop().await;
}

async fn bad_inputs_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = app.manager().await;
    let site = new_site(&mut m).await;
    let lot = published_lot(&mut m, &site, 10).await;
    let mut asbestos = lot_msg("Dalles vinyle-amiante", 5);
    asbestos.waste_code = "17 06 05*".into();
    let asbestos = m
        .create_lot(pb::CreateLotRequest {
            parent: site.name.clone(),
            lot: Some(asbestos),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let withdrawn = published_lot(&mut m, &site, 4).await;
    m.withdraw_lot(pb::WithdrawLotRequest {
        name: withdrawn.name.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    let partner = app.verified_partner().await;
    let p = app.partner(partner).await;
    let before = snapshot(&mut m).await;

    let create = |lot: pb::Lot| pb::CreateLotRequest {
        parent: site.name.clone(),
        lot: Some(lot),
        ..Default::default()
    };
    let with = |f: fn(&mut pb::Lot)| {
        let mut l = lot_msg("Porte", 3);
        f(&mut l);
        create(l)
    };
    type Call =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), tonic::Status>> + Send>>;
    let cases: Vec<(&str, Code, Option<&str>, Call)> = vec![
        (
            "zero quantity",
            Code::InvalidArgument,
            Some("lot.quantity.milli"),
            {
                let mut m = m.clone();
                let r = with(|l| l.quantity = qty(tpb::Unit::Piece, 0));
                Box::pin(async move { m.create_lot(r).await.map(drop) })
            },
        ),
        (
            "negative quantity",
            Code::InvalidArgument,
            Some("lot.quantity.milli"),
            {
                let mut m = m.clone();
                let r = with(|l| l.quantity = Some(tpb::Quantity { unit: 1, milli: -5 }));
                Box::pin(async move { m.create_lot(r).await.map(drop) })
            },
        ),
        (
            "unknown unit",
            Code::InvalidArgument,
            Some("lot.quantity.unit"),
            {
                let mut m = m.clone();
                let r = with(|l| {
                    l.quantity = Some(tpb::Quantity {
                        unit: 42,
                        milli: 1000,
                    })
                });
                Box::pin(async move { m.create_lot(r).await.map(drop) })
            },
        ),
        (
            "latitude 91",
            Code::InvalidArgument,
            Some("lot.location.latitude"),
            {
                let mut m = m.clone();
                let r = with(|l| l.location = point(91.0, 7.0));
                Box::pin(async move { m.create_lot(r).await.map(drop) })
            },
        ),
        (
            "empty designation",
            Code::InvalidArgument,
            Some("lot.designation"),
            {
                let mut m = m.clone();
                let r = with(|l| l.designation = "   ".into());
                Box::pin(async move { m.create_lot(r).await.map(drop) })
            },
        ),
        (
            "10 MB description",
            Code::InvalidArgument,
            Some("lot.description"),
            {
                let mut m = m.clone();
                let mut l = lot_msg("Porte", 3);
                l.description = "é".repeat(5 * 1024 * 1024);
                let r = create(l);
                Box::pin(async move { m.create_lot(r).await.map(drop) })
            },
        ),
        (
            "forged page token",
            Code::InvalidArgument,
            Some("page_token"),
            {
                let mut m = m.clone();
                Box::pin(async move {
                    m.list_lots(pb::ListLotsRequest {
                        parent: "sites/-".into(),
                        page_token: "djF8ZGVhZGJlZWZ8bm9wZQ".into(),
                        ..Default::default()
                    })
                    .await
                    .map(drop)
                })
            },
        ),
        ("page_size -1", Code::InvalidArgument, Some("page_size"), {
            let mut m = m.clone();
            Box::pin(async move {
                m.list_lots(pb::ListLotsRequest {
                    page_size: -1,
                    ..Default::default()
                })
                .await
                .map(drop)
            })
        }),
        ("publish hazardous", Code::FailedPrecondition, None, {
            let mut m = m.clone();
            let name = asbestos.name.clone();
            Box::pin(async move {
                m.publish_lot(pb::PublishLotRequest {
                    name,
                    etag: String::new(),
                })
                .await
                .map(drop)
            })
        }),
        ("claim withdrawn", Code::FailedPrecondition, None, {
            let mut p = p.clone();
            let r = claim_req(&withdrawn, partner, 1, "w");
            Box::pin(async move { p.claim_lot(r).await.map(drop) })
        }),
        (
            "claim more than available",
            Code::FailedPrecondition,
            None,
            {
                let mut p = p.clone();
                let r = claim_req(&lot, partner, 11, "too-much");
                Box::pin(async move { p.claim_lot(r).await.map(drop) })
            },
        ),
        ("stale etag", Code::Aborted, None, {
            let mut m = m.clone();
            let r = pb::UpdateLotRequest {
                lot: Some(pb::Lot {
                    name: lot.name.clone(),
                    designation: "Nouveau".into(),
                    etag: "\"1\"".into(),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["designation".into()],
                }),
            };
            Box::pin(async move { m.update_lot(r).await.map(drop) })
        }),
        (
            "unknown mask path",
            Code::InvalidArgument,
            Some("update_mask"),
            {
                let mut m = m.clone();
                let r = pb::UpdateLotRequest {
                    lot: Some(pb::Lot {
                        name: lot.name.clone(),
                        ..Default::default()
                    }),
                    update_mask: Some(FieldMask {
                        paths: vec!["status".into()],
                    }),
                };
                Box::pin(async move { m.update_lot(r).await.map(drop) })
            },
        ),
        ("malformed name", Code::InvalidArgument, Some("name"), {
            let mut m = m.clone();
            Box::pin(async move {
                m.get_lot(pb::GetLotRequest {
                    name: "lots/42".into(),
                })
                .await
                .map(drop)
            })
        }),
        ("unknown lot", Code::NotFound, None, {
            let mut m = m.clone();
            let name = format!("{}/lots/{}", site.name, Uuid::now_v7());
            Box::pin(async move { m.get_lot(pb::GetLotRequest { name }).await.map(drop) })
        }),
    ];
    for (what, code, field, call) in cases {
        let status = call.await.expect_err(what);
        assert_eq!(status.code(), code, "{what}: {status:?}");
        assert!(reason(&status).is_some(), "{what}: an ErrorInfo reason");
        if let Some(field) = field {
            let fields = field_violations(&status);
            assert!(
                fields.iter().any(|(f, _)| f == field),
                "{what}: violations {fields:?}"
            );
        }
    }
    // A batch with bad rows: every bad row reported, nothing created.
    let status = m
        .batch_create_lots(pb::BatchCreateLotsRequest {
            parent: site.name.clone(),
            requests: vec![
                create(lot_msg("Bonne porte", 2)),
                create(lot_msg("", 2)),
                with(|l| l.category = "licorne".into()),
            ],
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    let fields: Vec<String> = field_violations(&status)
        .into_iter()
        .map(|(f, _)| f)
        .collect();
    assert!(
        fields.contains(&"requests[1].lot.designation".to_string()),
        "{fields:?}"
    );
    assert!(
        fields.contains(&"requests[2].lot.category".to_string()),
        "{fields:?}"
    );
    // A thousand bad rows: still a refusal the caller can read (the first
    // ones listed, the count of the rest), not a transport error.
    let status = m
        .batch_create_lots(pb::BatchCreateLotsRequest {
            parent: site.name.clone(),
            requests: (0..1000)
                .map(|_| with(|l| l.category = "licorne".into()))
                .collect(),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    let fields = field_violations(&status);
    assert_eq!(fields[0].0, "requests[0].lot.category");
    assert!(
        fields
            .last()
            .unwrap()
            .1
            .contains("more violation(s) not listed")
    );
    assert_eq!(
        snapshot(&mut m).await,
        before,
        "refused requests changed nothing"
    );
    app.stop().await;
}

async fn authorization(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = app.manager().await;
    let site = new_site(&mut m).await;
    let lot = published_lot(&mut m, &site, 10).await;
    let partner = app.verified_partner().await;
    let other_partner = app.verified_partner().await;

    let code = |r: Result<tonic::Response<pb::Site>, tonic::Status>| r.unwrap_err().code();
    // No token, bad signature, expired token.
    let mut anonymous = app.client_with(None).await;
    assert_eq!(
        code(
            anonymous
                .get_site(pb::GetSiteRequest {
                    name: site.name.clone()
                })
                .await
        ),
        Code::Unauthenticated
    );
    let forged = issue_hs256(
        b"another-secret-another-secret-xx",
        &claims_for(Role::Admin, None, None, Duration::from_secs(60)),
    )
    .unwrap();
    let mut forged = app.client_with(Some(forged)).await;
    assert_eq!(
        code(
            forged
                .get_site(pb::GetSiteRequest {
                    name: site.name.clone()
                })
                .await
        ),
        Code::Unauthenticated
    );
    let mut old = claims_for(Role::Admin, None, None, Duration::from_secs(60));
    old.exp = old.iat.saturating_sub(3600);
    old.iat = old.iat.saturating_sub(7200);
    let mut expired = app
        .client_with(Some(issue_hs256(support::SECRET, &old).unwrap()))
        .await;
    assert_eq!(
        code(
            expired
                .get_site(pb::GetSiteRequest {
                    name: site.name.clone()
                })
                .await
        ),
        Code::Unauthenticated
    );

    // Wrong role: an integrator reads but does not write; a partner does not create sites.
    let mut integrator = app.client_with(Some(token_for(Role::Integrator))).await;
    integrator
        .get_lot(pb::GetLotRequest {
            name: lot.name.clone(),
        })
        .await
        .unwrap();
    let denied = integrator
        .publish_lot(pb::PublishLotRequest {
            name: lot.name.clone(),
            etag: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let mut p = app.partner(partner).await;
    assert_eq!(
        code(
            p.create_site(pb::CreateSiteRequest {
                site: Some(site_msg()),
                request_id: String::new(),
                site_id: String::new(),
            })
            .await
        ),
        Code::PermissionDenied
    );

    // Another organisation's site.
    let mut stranger = app
        .client_with(Some(token(Role::SiteManager, Some("org-elsewhere"), None)))
        .await;
    let denied = stranger
        .create_lot(pb::CreateLotRequest {
            parent: site.name.clone(),
            lot: Some(lot_msg("Intrus", 1)),
            request_id: String::new(),
            lot_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let mut foreign = site_msg();
    foreign.owner_org = ORG.into();
    assert_eq!(
        code(
            stranger
                .create_site(pb::CreateSiteRequest {
                    site: Some(foreign),
                    request_id: String::new(),
                    site_id: String::new(),
                })
                .await
        ),
        Code::PermissionDenied
    );
    let denied = stranger
        .withdraw_lot(pb::WithdrawLotRequest {
            name: lot.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    // A partner claiming for another partner.
    let denied = p
        .claim_lot(claim_req(&lot, other_partner, 1, "x"))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    // Only verified partners claim: suspended ones are refused.
    app.set_partner(partner, rpb::PartnerStatus::Suspended, 3)
        .await;
    let refused = p
        .claim_lot(claim_req(&lot, partner, 1, "y"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused).as_deref(), Some("PARTNER_NOT_ELIGIBLE"));
    // An older event does not undo a newer one.
    app.set_partner(partner, rpb::PartnerStatus::Verified, 2)
        .await;
    assert!(p.claim_lot(claim_req(&lot, partner, 1, "z")).await.is_err());
    app.set_partner(partner, rpb::PartnerStatus::Verified, 4)
        .await;
    p.claim_lot(claim_req(&lot, partner, 1, "z")).await.unwrap();
    // Nothing of this changed the lot but the one accepted claim.
    assert_eq!(
        ledger(&get_lot(&mut m, &lot.name).await),
        (10_000, 9_000, 1_000, 0)
    );
    app.stop().await;
}

async fn expiry_returns_reservations(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = app.manager().await;
    let site = new_site(&mut m).await;
    let lot = published_lot(&mut m, &site, 8).await;
    let partner = app.verified_partner().await;
    let mut p = app.partner(partner).await;
    let reserved = p
        .claim_lot(claim_req(&lot, partner, 8, "all"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        get_lot(&mut m, &lot.name).await.status,
        pb::LotStatus::Exhausted as i32
    );
    let deadline = reserved.reservation_expire_time.unwrap();
    // Before the deadline nothing expires; after it, the reservation returns.
    let before = deadline.seconds * 1000 - 1000;
    assert_eq!(app.inventory.sweep(before).await.unwrap(), 0);
    assert_eq!(
        app.inventory
            .sweep((deadline.seconds + 1) * 1000)
            .await
            .unwrap(),
        1
    );
    let claim = p
        .get_claim(pb::GetClaimRequest {
            name: reserved.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(claim.status, pb::ClaimStatus::Expired as i32);
    let after = get_lot(&mut m, &lot.name).await;
    assert_eq!(ledger(&after), (8_000, 8_000, 0, 0));
    assert_eq!(after.status, pb::LotStatus::Published as i32);
    app.stop().await;
}

// ---- events over real NATS JetStream ----

struct Recorded {
    subjects: Vec<String>,
    ids: HashSet<String>,
}

/// Reads everything in the test's inventory stream with an ephemeral consumer.
async fn read_stream(url: &str, ns: &str, expect: usize) -> Recorded {
    let client = async_nats::connect(url).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let stream_name = format!("{}_REEMPLOI_INVENTORY", ns.to_uppercase());
    let mut stream = js.get_stream(&stream_name).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while stream.info().await.unwrap().state.messages < expect as u64 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "stream has fewer than {expect} events"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config::default())
        .await
        .unwrap();
    let mut messages = consumer
        .fetch()
        .max_messages(expect + 50)
        .expires(Duration::from_secs(2))
        .messages()
        .await
        .unwrap();
    let mut rec = Recorded {
        subjects: Vec::new(),
        ids: HashSet::new(),
    };
    while let Some(msg) = messages.next().await {
        let msg = msg.unwrap();
        let env = Envelope::decode(msg.payload.as_ref()).unwrap();
        assert!(
            rec.ids.insert(env.event_id.clone()),
            "event {} published twice",
            env.event_id
        );
        rec.subjects.push(env.event_type);
        msg.ack().await.unwrap();
    }
    rec
}

async fn jetstream_bus(url: &str, ns: &str) -> Arc<dyn Bus> {
    Arc::new(
        JetStreamBus::connect(
            url,
            JetStreamOptions {
                namespace: Some(ns.into()),
                replicas: 1,
            },
        )
        .await
        .unwrap(),
    )
}

/// Verifies a partner through the registry's stream, as the registry would.
async fn verified_over_nats(app: &App) -> Uuid {
    let partner = app.verified_partner().await;
    // The projection follows a durable consumer: wait until it has applied the event.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let mut conn = app.db.pool().acquire().await.unwrap();
        if reemploi_runtime::partners::status(&mut conn, partner)
            .await
            .unwrap()
            .as_deref()
            == Some("verified")
        {
            return partner;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "partner event never applied"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A call still running when the signal comes finishes during the grace
/// period, and its events are published before the process ends: the relay
/// stops only after the server has finished its calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_of_calls_finishing_during_shutdown_are_published() {
    let app = spawn_app(Backend::Sqlite).await;
    let db = app.db.clone();
    let mut m = app.manager().await;
    // Hold the database's write lock: the next call waits inside the server.
    let blocker = db.begin_write().await.unwrap();
    let call = tokio::spawn(async move {
        m.create_site(pb::CreateSiteRequest {
            site: Some(pb::Site {
                display_name: "Drouot".into(),
                location: point(47.75, 7.33),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stopping = tokio::spawn(app.stop());
    tokio::time::sleep(Duration::from_millis(500)).await;
    blocker.rollback().await.unwrap();
    call.await.unwrap().expect("the call in flight completes");
    stopping.await.unwrap();
    let pending: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE published_at IS NULL")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(pending, 0, "an event of the last call was left unpublished");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_change_reaches_jetstream_once() {
    let url = reemploi_testing::nats::nats_url();
    let ns = reemploi_testing::nats::unique_namespace();
    let test_db = reemploi_testing::db::fresh(Backend::Postgres).await;
    let app = support::spawn_with(
        test_db.db.clone(),
        jetstream_bus(&url, &ns).await,
        Settings::default(),
    )
    .await;
    let mut m = app.manager().await;
    let site = new_site(&mut m).await;
    let lot = published_lot(&mut m, &site, 5).await;
    let partner = verified_over_nats(&app).await;
    let mut p = app.partner(partner).await;
    let claim = p
        .claim_lot(claim_req(&lot, partner, 5, "all"))
        .await
        .unwrap()
        .into_inner();
    m.confirm_claim(pb::ConfirmClaimRequest {
        name: claim.name.clone(),
        etag: String::new(),
    })
    .await
    .unwrap();
    m.record_handover(pb::RecordHandoverRequest {
        name: claim.name,
        weighed_mass_g: 120_000,
        ..Default::default()
    })
    .await
    .unwrap();
    let expected = [
        "reemploi.inventory.site.created",
        "reemploi.inventory.lot.created",
        "reemploi.inventory.lot.published",
        "reemploi.inventory.claim.reserved",
        "reemploi.inventory.lot.exhausted",
        "reemploi.inventory.claim.confirmed",
        "reemploi.inventory.claim.handed_over",
        "reemploi.inventory.lot.updated",
    ];
    let rec = read_stream(&url, &ns, expected.len()).await;
    assert_eq!(rec.subjects, expected);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn relay_survives_broker_and_service_restarts() {
    let mut nats = NatsServer::start().await;
    let url = nats.url();
    let ns = reemploi_testing::nats::unique_namespace();
    let test_db = reemploi_testing::db::fresh(Backend::Sqlite).await;
    let app = support::spawn_with(
        test_db.db.clone(),
        jetstream_bus(&url, &ns).await,
        Settings::default(),
    )
    .await;
    let mut m = app.manager().await;
    let site = new_site(&mut m).await;
    let lot = published_lot(&mut m, &site, 5).await;

    // The broker dies; changes still commit, and wait in the outbox.
    nats.kill().await;
    for i in 0..3 {
        m.update_lot(pb::UpdateLotRequest {
            lot: Some(pb::Lot {
                name: lot.name.clone(),
                designation: format!("Portes, lot {i}"),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["designation".into()],
            }),
        })
        .await
        .unwrap();
    }
    nats.restart().await;
    let rec = read_stream(&url, &ns, 6).await;
    assert_eq!(rec.subjects.len(), 6);
    assert_eq!(
        rec.subjects
            .iter()
            .filter(|s| *s == "reemploi.inventory.lot.updated")
            .count(),
        3
    );
    app.stop().await;

    // The service dies between commit and publish: a change committed with no
    // relay running is published by the next process on the same database.
    let offline = support::spawn_with(
        test_db.db.clone(),
        Arc::new(reemploi_events::InProcessBus::temporary().await.unwrap()),
        Settings::default(),
    )
    .await;
    // Stop its relay at once, then commit through the core API with no relay.
    offline.stop().await;
    let relay_less = reemploi_inventory::Inventory::new(
        test_db.db.clone(),
        reemploi_events::outbox::Relay::new(test_db.db.clone(), jetstream_bus(&url, &ns).await),
        Settings::default(),
        reemploi_runtime::paging::Pager::load(&test_db.db)
            .await
            .unwrap(),
        tokio_util::sync::CancellationToken::new(),
    );
    let admin = reemploi_runtime::auth::Principal {
        subject: "t".into(),
        role: Role::Admin,
        org: None,
        partner: None,
    };
    relay_less
        .withdraw_lot(reemploi_runtime::auth::as_caller(
            admin,
            pb::WithdrawLotRequest {
                name: lot.name.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    let restarted = support::spawn_with(
        test_db.db.clone(),
        jetstream_bus(&url, &ns).await,
        Settings::default(),
    )
    .await;
    let rec = read_stream(&url, &ns, 7).await;
    assert_eq!(
        rec.subjects.last().map(String::as_str),
        Some("reemploi.inventory.lot.withdrawn")
    );
    assert_eq!(rec.subjects.len(), 7);
    restarted.stop().await;
}

// ---------------------------------------------------------------- metrics

use reemploi_testing::metrics::{scrape, value};

/// The inventory's outbox backlog and the age of its oldest event, as its
/// metrics endpoint shows them now.
async fn backlog(app: &App) -> (f64, f64) {
    let text = scrape(app.metrics).await;
    let of = |name| value(&text, name, &[("service", "inventory")]);
    match (
        of("reemploi_outbox_pending"),
        of("reemploi_outbox_oldest_pending_age_seconds"),
    ) {
        (Some(pending), Some(age)) => (pending, age),
        _ => panic!("no outbox figures in {text}"),
    }
}

/// Scrapes until the backlog is `pending`, for up to 30 s.
async fn backlog_becomes(app: &App, pending: f64) -> (f64, f64) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let seen = backlog(app).await;
        if seen.0 == pending {
            return seen;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "outbox backlog stayed at {seen:?}, not {pending}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The outbox backlog grows on the metrics endpoint while NATS is down
/// (commits go on, publishing cannot), with the age of the oldest event,
/// and falls to nothing once NATS is back.
async fn outbox_backlog_shows_while_nats_is_down(backend: Backend) {
    let mut nats = NatsServer::start().await;
    let ns = reemploi_testing::nats::unique_namespace();
    let test_db = reemploi_testing::db::fresh(backend).await;
    let app = support::spawn_with(
        test_db.db.clone(),
        jetstream_bus(&nats.url(), &ns).await,
        Settings::default(),
    )
    .await;
    let mut m = app.manager().await;
    let site = new_site(&mut m).await;
    let lot = published_lot(&mut m, &site, 5).await;
    assert_eq!(backlog_becomes(&app, 0.0).await, (0.0, 0.0));

    nats.kill().await;
    for i in 1..=3 {
        m.update_lot(pb::UpdateLotRequest {
            lot: Some(pb::Lot {
                name: lot.name.clone(),
                designation: format!("Portes, lot {i}"),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["designation".into()],
            }),
        })
        .await
        .unwrap();
        let (pending, _) = backlog(&app).await;
        assert_eq!(pending, f64::from(i), "one more event waits per change");
    }
    let (_, first_age) = backlog(&app).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (pending, later_age) = backlog(&app).await;
    assert_eq!(pending, 3.0);
    assert!(
        later_age >= first_age + 1.0,
        "the oldest event ages: {first_age} then {later_age}"
    );

    nats.restart().await;
    assert_eq!(backlog_becomes(&app, 0.0).await, (0.0, 0.0));
    // The site, the lot created and published, and the three updates.
    let rec = read_stream(&nats.url(), &ns, 6).await;
    assert_eq!(rec.subjects.len(), 6, "{:?}", rec.subjects);
    app.stop().await;
}

/// The platform's own gauges, read from the inventory's tables, and the
/// figures every service shows (requests, pool, consumers).
async fn platform_gauges_count_lots_claims_and_mass(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = app.manager().await;
    let site = new_site(&mut m).await;
    let lot = published_lot(&mut m, &site, 10).await;
    published_lot(&mut m, &site, 3).await;
    draft_lot(&mut m, &site, pb::ReusePotential::Direct, &[]).await;
    let partner = app.verified_partner().await;
    let mut p = app.partner(partner).await;
    let kept = p
        .claim_lot(claim_req(&lot, partner, 4, "kept"))
        .await
        .unwrap()
        .into_inner();
    p.claim_lot(claim_req(&lot, partner, 1, "open"))
        .await
        .unwrap();
    m.confirm_claim(pb::ConfirmClaimRequest {
        name: kept.name.clone(),
        etag: String::new(),
    })
    .await
    .unwrap();
    m.record_handover(pb::RecordHandoverRequest {
        name: kept.name.clone(),
        weighed_mass_g: 98_500,
        ..Default::default()
    })
    .await
    .unwrap();

    // The partner projection's consumer reads the whole log (the
    // inventory's own events too): scraped until it has caught up.
    let durable = [("durable", "inventory-partners")];
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let text = loop {
        let text = scrape(app.metrics).await;
        if value(&text, "reemploi_consumer_lag", &durable) == Some(0.0) {
            break text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "consumer lag: {text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let gauge = |name: &str, labels: &[(&str, &str)]| {
        value(&text, name, labels).unwrap_or_else(|| panic!("no {name} {labels:?} in {text}"))
    };
    for (status, n) in [
        ("published", 2.0),
        ("draft", 1.0),
        ("withdrawn", 0.0),
        ("exhausted", 0.0),
        ("expired", 0.0),
    ] {
        assert_eq!(gauge("reemploi_lots", &[("status", status)]), n, "{status}");
    }
    for (status, n) in [
        ("reserved", 1.0),
        ("confirmed", 0.0),
        ("handed_over", 1.0),
        ("rejected", 0.0),
        ("cancelled", 0.0),
        ("expired", 0.0),
    ] {
        assert_eq!(
            gauge("reemploi_claims", &[("status", status)]),
            n,
            "{status}"
        );
    }
    assert_eq!(gauge("reemploi_handed_over_mass_kilograms", &[]), 98.5);
    let pool = |state| {
        gauge(
            "reemploi_db_pool_connections",
            &[("service", "inventory"), ("state", state)],
        )
    };
    assert!(pool("idle") + pool("in_use") >= 1.0, "{text}");
    assert!(
        gauge(
            "reemploi_db_pool_max_connections",
            &[("service", "inventory")]
        ) >= 1.0
    );
    // It took the partner's event, and gave up on none.
    assert!(
        gauge("reemploi_consumer_deliveries_total", &durable) >= 1.0,
        "{text}"
    );
    assert_eq!(gauge("reemploi_consumer_dead_letters_total", &durable), 0.0);
    assert_eq!(
        gauge(
            "reemploi_grpc_requests_total",
            &[("grpc_method", "RecordHandover"), ("grpc_code", "OK")]
        ),
        1.0
    );
    for probe in ["inventory", "outbox:inventory", "pool:inventory", "bus"] {
        assert_eq!(
            gauge("reemploi_metrics_probe_up", &[("probe", probe)]),
            1.0,
            "{probe}"
        );
    }
    app.stop().await;
}
