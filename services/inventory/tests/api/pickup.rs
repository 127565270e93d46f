//! Pick-ups in several trips: the ledger after each trip, a claim closed
//! with what was collected, the receipts of the trips, and who may record,
//! close and read them.

use super::*;

on_both_backends!(
    two_trucks_collect_one_claim,
    closing_returns_the_rest,
    trips_refuse_bad_quantities,
    pickup_authorization,
);

/// A confirmed claim of `whole` pieces of a fresh 150-piece lot (25 kg a
/// piece by its estimate).
async fn confirmed_claim(
    app: &App,
    m: &mut Client,
    whole: i64,
) -> (pb::Site, pb::Lot, pb::Claim, Uuid) {
    let site = new_site(m).await;
    let lot = published_lot(m, &site, 150).await;
    let partner = app.verified_partner().await;
    let mut p = app.partner(partner).await;
    let claim = p
        .claim_lot(claim_req(&lot, partner, whole, "pickup"))
        .await
        .unwrap()
        .into_inner();
    let claim = m
        .confirm_claim(pb::ConfirmClaimRequest {
            name: claim.name,
            etag: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    (site, lot, claim, partner)
}

fn trip(claim: &pb::Claim, pieces: Option<i64>, grams: i64) -> pb::RecordHandoverRequest {
    pb::RecordHandoverRequest {
        name: claim.name.clone(),
        weighed_mass_g: grams,
        quantity: pieces.and_then(|n| qty(tpb::Unit::Piece, n)),
        ..Default::default()
    }
}

fn milli(q: &Option<tpb::Quantity>) -> i64 {
    q.as_ref().map_or(-1, |q| q.milli)
}

async fn receipts_of(c: &mut Client, parent: &str) -> Vec<pb::Receipt> {
    c.list_receipts(pb::ListReceiptsRequest {
        parent: parent.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .receipts
}

/// Two trucks take one claim of 20 pieces: 8, then the 12 left (no
/// quantity: all that is left). The ledger holds after each trip, the
/// claim completes with the second, each trip has its numbered receipt and
/// the receipts' masses sum to the claim's. A retried trip counts once.
async fn two_trucks_collect_one_claim(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = app.manager().await;
    let (site, lot, claim, partner) = confirmed_claim(&app, &mut m, 20).await;
    assert_eq!(
        ledger(&get_lot(&mut m, &lot.name).await),
        (150_000, 130_000, 20_000, 0)
    );

    let mut first = trip(&claim, Some(8), 196_000);
    first.request_id = "truck-1".into();
    let after_one = m.record_handover(first.clone()).await.unwrap().into_inner();
    assert_eq!(after_one.status, pb::ClaimStatus::Confirmed as i32);
    assert_eq!(milli(&after_one.collected), 8_000);
    assert_eq!(after_one.trip_count, 1);
    assert_eq!(after_one.weighed_mass_g, 196_000);
    let lot_one = get_lot(&mut m, &lot.name).await;
    assert_ledger_holds(&lot_one);
    assert_eq!(ledger(&lot_one), (150_000, 130_000, 12_000, 8_000));
    // The first truck's retry records nothing more.
    let again = m.record_handover(first).await.unwrap().into_inner();
    assert_eq!((again.trip_count, milli(&again.collected)), (1, 8_000));
    assert_eq!(ledger(&get_lot(&mut m, &lot.name).await), ledger(&lot_one));

    let done = m
        .record_handover(trip(&claim, None, 305_500))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.status, pb::ClaimStatus::HandedOver as i32);
    assert_eq!(milli(&done.collected), 20_000);
    assert_eq!(done.trip_count, 2);
    assert_eq!(done.weighed_mass_g, 196_000 + 305_500);
    let lot_two = get_lot(&mut m, &lot.name).await;
    assert_ledger_holds(&lot_two);
    assert_eq!(ledger(&lot_two), (150_000, 130_000, 0, 20_000));
    let third = m
        .record_handover(trip(&claim, Some(1), 1_000))
        .await
        .unwrap_err();
    assert_eq!(third.code(), Code::FailedPrecondition, "{third:?}");

    let receipts = receipts_of(&mut m, &claim.name).await;
    let site_id = site.name.trim_start_matches("sites/");
    let numbers: Vec<&str> = receipts.iter().map(|r| r.number.as_str()).collect();
    assert_eq!(
        numbers,
        [format!("BE-{site_id}-0001"), format!("BE-{site_id}-0002")]
    );
    let masses: i64 = receipts.iter().map(|r| r.weighed_mass_g).sum();
    assert_eq!(masses, done.weighed_mass_g, "the receipts weigh the claim");
    let pieces: i64 = receipts.iter().map(|r| milli(&r.quantity)).sum();
    assert_eq!(pieces, milli(&done.collected));
    let last = &receipts[1];
    assert!(last.completes_claim && !receipts[0].completes_claim);
    assert_eq!(last.partner, format!("partners/{partner}"));
    assert_eq!(last.owner_org, ORG);
    assert_eq!(last.site, site.name);
    assert_eq!(last.site_display_name, site.display_name);
    assert_eq!(last.lot, lot.name);
    assert_eq!(last.lot_designation, lot.designation);
    assert_eq!(
        (milli(&last.collected), last.collected_mass_g),
        (20_000, done.weighed_mass_g)
    );
    let got = m
        .get_receipt(pb::GetReceiptRequest {
            name: last.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(&got, last);
    // The site's receipts: the same two, one after the other.
    let of_site = receipts_of(&mut m, &format!("{}/lots/-/claims/-", site.name)).await;
    assert_eq!(of_site, receipts);
    app.stop().await;
}

/// A claim partly collected is closed with what was collected: the rest
/// goes back to the lot (published again if the claim had exhausted it);
/// it cannot be cancelled any more, and a claim with nothing collected is
/// not closed.
async fn closing_returns_the_rest(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = app.manager().await;
    let (_site, lot, claim, partner) = confirmed_claim(&app, &mut m, 150).await;
    assert_eq!(
        get_lot(&mut m, &lot.name).await.status,
        pb::LotStatus::Exhausted as i32
    );
    let close = |claim: &pb::Claim| pb::CloseClaimRequest {
        name: claim.name.clone(),
        etag: String::new(),
        reason: "le reste est cassé".into(),
    };
    let nothing = m.close_claim(close(&claim)).await.unwrap_err();
    assert_eq!(nothing.code(), Code::FailedPrecondition);
    assert_eq!(reason(&nothing).as_deref(), Some("NOTHING_COLLECTED"));

    m.record_handover(trip(&claim, Some(40), 1_000_000))
        .await
        .unwrap();
    let mut p = app.partner(partner).await;
    let cancel = p
        .cancel_claim(pb::CancelClaimRequest {
            name: claim.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&cancel).as_deref(), Some("CLAIM_PARTLY_COLLECTED"));
    assert_eq!(
        ledger(&get_lot(&mut m, &lot.name).await),
        (150_000, 0, 110_000, 40_000),
        "the refused cancel changed nothing"
    );

    let closed = m.close_claim(close(&claim)).await.unwrap().into_inner();
    assert_eq!(closed.status, pb::ClaimStatus::HandedOver as i32);
    assert_eq!(milli(&closed.collected), 40_000);
    assert_eq!(closed.weighed_mass_g, 1_000_000);
    assert_eq!(closed.note, "le reste est cassé");
    let after = get_lot(&mut m, &lot.name).await;
    assert_ledger_holds(&after);
    assert_eq!(ledger(&after), (150_000, 110_000, 0, 40_000));
    assert_eq!(after.status, pb::LotStatus::Published as i32);
    let twice = m.close_claim(close(&claim)).await.unwrap_err();
    assert_eq!(twice.code(), Code::FailedPrecondition);
    assert_eq!(ledger(&get_lot(&mut m, &lot.name).await), ledger(&after));
    app.stop().await;
}

/// A trip in half pieces, beyond what is left, in another unit or with
/// a mass far above the trip's share is refused and changes nothing.
async fn trips_refuse_bad_quantities(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = app.manager().await;
    let (_site, lot, claim, _) = confirmed_claim(&app, &mut m, 20).await;
    let before = get_lot(&mut m, &lot.name).await;

    let mut half = trip(&claim, None, 50_000);
    half.quantity = Some(tpb::Quantity {
        unit: tpb::Unit::Piece as i32,
        milli: 2_500,
    });
    let refused = m.record_handover(half).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let violations = field_violations(&refused);
    assert_eq!(violations[0].0, "quantity.milli", "{violations:?}");

    let beyond = m
        .record_handover(trip(&claim, Some(21), 50_000))
        .await
        .unwrap_err();
    assert_eq!(beyond.code(), Code::FailedPrecondition);
    assert_eq!(reason(&beyond).as_deref(), Some("INSUFFICIENT_QUANTITY"));
    assert_eq!(beyond.message(), "21 u requested, 20 u available");

    let mut metres = trip(&claim, None, 50_000);
    metres.quantity = qty(tpb::Unit::Metre, 2);
    let refused = m.record_handover(metres).await.unwrap_err();
    assert_eq!(field_violations(&refused)[0].0, "quantity.unit");

    // Two pieces are 50 kg by the estimate: 2 t is no scale's surprise.
    let heavy = m
        .record_handover(trip(&claim, Some(2), 2_000_000))
        .await
        .unwrap_err();
    assert_eq!(field_violations(&heavy)[0].0, "weighed_mass_g");

    assert_eq!(get_lot(&mut m, &lot.name).await, before);
    assert!(receipts_of(&mut m, &claim.name).await.is_empty());
    app.stop().await;
}

/// Site managers of the site's organisation and admins record trips and
/// close claims; the claim's partner, another partner, another
/// organisation and integrators do not. Receipts are read by who reads
/// the claim: its site's managers, its partner, admins and integrators.
async fn pickup_authorization(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = app.manager().await;
    let (site, lot, claim, partner) = confirmed_claim(&app, &mut m, 20).await;
    let mut own = app.partner(partner).await;
    let mut stranger = app.partner(app.verified_partner().await).await;
    let mut other_org = app
        .client_with(Some(token(Role::SiteManager, Some("org-other"), None)))
        .await;
    let mut integrator = app.client_with(Some(token_for(Role::Integrator))).await;
    let mut admin = app.client_with(Some(token_for(Role::Admin))).await;

    for (who, c, code) in [
        ("the partner", &mut own, Code::PermissionDenied),
        ("another partner", &mut stranger, Code::NotFound),
        ("another organisation", &mut other_org, Code::NotFound),
        ("an integrator", &mut integrator, Code::PermissionDenied),
    ] {
        let refused = c
            .record_handover(trip(&claim, Some(1), 25_000))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), code, "{who} records a trip");
        let refused = c
            .close_claim(pb::CloseClaimRequest {
                name: claim.name.clone(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(refused.code(), code, "{who} closes");
    }
    assert_eq!(
        ledger(&get_lot(&mut m, &lot.name).await),
        (150_000, 130_000, 20_000, 0)
    );
    m.record_handover(trip(&claim, Some(1), 25_000))
        .await
        .unwrap();
    let by_admin = admin
        .record_handover(trip(&claim, Some(1), 25_000))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_admin.trip_count, 2);
    admin
        .close_claim(pb::CloseClaimRequest {
            name: claim.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap();

    let receipts = receipts_of(&mut m, &claim.name).await;
    assert_eq!(receipts.len(), 2);
    let get = |name: &str| pb::GetReceiptRequest { name: name.into() };
    for (who, c) in [
        ("the partner", &mut own),
        ("an integrator", &mut integrator),
        ("an admin", &mut admin),
    ] {
        let got = c.get_receipt(get(&receipts[0].name)).await;
        assert_eq!(got.unwrap().into_inner(), receipts[0], "{who} reads");
        assert_eq!(receipts_of(c, &claim.name).await, receipts, "{who} lists");
    }
    let site_wide = format!("{}/lots/-/claims/-", site.name);
    for (who, c) in [
        ("another partner", &mut stranger),
        ("another organisation", &mut other_org),
    ] {
        let refused = c.get_receipt(get(&receipts[0].name)).await.unwrap_err();
        assert_eq!(refused.code(), Code::NotFound, "{who} reads");
        assert!(receipts_of(c, &claim.name).await.is_empty(), "{who}");
        assert!(receipts_of(c, &site_wide).await.is_empty(), "{who}");
    }
    let bad = m.get_receipt(get(&claim.name)).await.unwrap_err();
    assert_eq!(field_violations(&bad)[0].0, "name");
    app.stop().await;
}
