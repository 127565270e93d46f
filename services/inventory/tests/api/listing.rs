//! ListLots serves lots it has already read from memory, by version: the
//! listing must show every change as GetLot (which always reads the row)
//! does, whichever way the lot changed, and whoever lists.

use super::*;

on_both_backends!(listed_lots_follow_every_change);

/// Lists every lot twice (the second listing comes from the cache when
/// the first filled it) and checks both against GetLot, lot by lot.
async fn listed_as_read(c: &mut Client, parent: &str) -> Vec<pb::Lot> {
    let list = |c: &mut Client| {
        let mut c = c.clone();
        let parent = parent.to_string();
        async move {
            c.list_lots(pb::ListLotsRequest {
                parent,
                page_size: 100,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .lots
        }
    };
    let first = list(c).await;
    let again = list(c).await;
    assert_eq!(first, again, "a listing read twice differs");
    for lot in &first {
        assert_eq!(*lot, get_lot(c, &lot.name).await, "listed stale");
    }
    first
}

fn designation_of(lots: &[pb::Lot], name: &str) -> Option<String> {
    lots.iter()
        .find(|l| l.name == name)
        .map(|l| l.designation.clone())
}

async fn listed_lots_follow_every_change(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = app.manager().await;
    let site = new_site(&mut m).await;
    let parent = site.name.clone();
    let lot = published_lot(&mut m, &site, 10).await;
    let draft = m
        .create_lot(pb::CreateLotRequest {
            parent: parent.clone(),
            lot: Some(lot_msg("Radiateurs fonte", 4)),
            request_id: String::new(),
            lot_id: "radiateurs".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed_as_read(&mut m, &parent).await.len(), 2);

    // An edit.
    let edited = m
        .update_lot(pb::UpdateLotRequest {
            lot: Some(pb::Lot {
                name: lot.name.clone(),
                designation: "Portes bois revues".into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["designation".into()],
            }),
        })
        .await
        .unwrap()
        .into_inner();
    let lots = listed_as_read(&mut m, &parent).await;
    assert_eq!(
        designation_of(&lots, &lot.name).as_deref(),
        Some("Portes bois revues")
    );

    // A claim, its confirmation and hand-over move the ledger only.
    let partner = app.verified_partner().await;
    let mut p = app.partner(partner).await;
    let claim = p
        .claim_lot(claim_req(&edited, partner, 3, "three"))
        .await
        .unwrap()
        .into_inner();
    let listed = listed_as_read(&mut p, &parent).await;
    assert_eq!(ledger(&listed[0]), (10_000, 7_000, 3_000, 0));
    m.confirm_claim(pb::ConfirmClaimRequest {
        name: claim.name.clone(),
        etag: String::new(),
    })
    .await
    .unwrap();
    m.record_handover(pb::RecordHandoverRequest {
        name: claim.name.clone(),
        weighed_mass_g: 90_000,
        ..Default::default()
    })
    .await
    .unwrap();
    let listed = listed_as_read(&mut m, &parent).await;
    assert_eq!(ledger(&listed[0]), (10_000, 7_000, 0, 3_000));

    // A withdrawal, seen by a partner and the manager alike.
    m.withdraw_lot(pb::WithdrawLotRequest {
        name: lot.name.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    let listed = listed_as_read(&mut m, &parent).await;
    assert_eq!(listed[0].status, pb::LotStatus::Withdrawn as i32);
    assert_eq!(
        listed_as_read(&mut p, &parent).await[0].status,
        listed[0].status
    );

    // A draft deleted and made again under its id is the new one, and the
    // partner, who never sees drafts, still does not.
    m.delete_lot(pb::DeleteLotRequest {
        name: draft.name.clone(),
        etag: String::new(),
    })
    .await
    .unwrap();
    assert_eq!(listed_as_read(&mut m, &parent).await.len(), 1);
    m.create_lot(pb::CreateLotRequest {
        parent: parent.clone(),
        lot: Some(lot_msg("Radiateurs acier", 6)),
        request_id: String::new(),
        lot_id: "radiateurs".into(),
    })
    .await
    .unwrap();
    let lots = listed_as_read(&mut m, &parent).await;
    assert_eq!(
        designation_of(&lots, &draft.name).as_deref(),
        Some("Radiateurs acier")
    );
    assert_eq!(listed_as_read(&mut p, &parent).await.len(), 1);
    app.stop().await;
}
