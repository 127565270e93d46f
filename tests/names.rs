//! Readable ids across services: two sites, each with a lot `m1` (its
//! reference), are told apart by matching's proposals, rankings and plans
//! and by impact's figures and récolement, over both buses.

use reemploi_proto::impact as pb;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lots_of_one_id_on_two_sites_stay_apart_in_process() {
    lots_of_one_id_on_two_sites_stay_apart(Transport::InProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lots_of_one_id_on_two_sites_stay_apart_over_nats() {
    lots_of_one_id_on_two_sites_stay_apart(Transport::Nats).await;
}

const ORG: &str = "m2a-habitat";

/// A site `sites/{id}` near Coteaux with one published lot of radiators
/// whose reference is `M1`: `sites/{id}/lots/m1`.
async fn site_with_m1(stack: &Stack, id: &str, name: &str, pieces: i64) -> String {
    let mut manager = stack.inventory(Role::SiteManager, Some(ORG), None).await;
    let site = manager
        .create_site(ipb::CreateSiteRequest {
            site: Some(ipb::Site {
                display_name: name.into(),
                location: Some(tpb::GeoPoint {
                    latitude: 47.7460,
                    longitude: 7.3010,
                }),
                ..Default::default()
            }),
            request_id: String::new(),
            site_id: id.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(site.name, format!("sites/{id}"));
    let lot = manager
        .create_lot(ipb::CreateLotRequest {
            parent: site.name,
            lot: Some(ipb::Lot {
                reference: "M1".into(),
                designation: format!("Radiateurs {name}"),
                category: "radiateur".into(),
                quantity: Some(tpb::Quantity {
                    unit: tpb::Unit::Piece as i32,
                    milli: pieces * 1000,
                }),
                estimated_mass_g: pieces * 60_000,
                ..Default::default()
            }),
            request_id: String::new(),
            lot_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(lot.name, format!("sites/{id}/lots/m1"));
    manager
        .publish_lot(ipb::PublishLotRequest {
            name: lot.name.clone(),
            etag: String::new(),
        })
        .await
        .unwrap();
    lot.name
}

/// Claims `pieces` of `lot` for `partner`, confirms and hands them over.
async fn handed_over(stack: &Stack, lot: &str, partner: &str, pieces: i64, mass_g: i64) {
    let id = partner.trim_start_matches("partners/");
    let taker = stack.inventory(Role::Partner, None, Some(id)).await;
    let claim = eventually(WAIT, || {
        let mut c = taker.clone();
        let req = ipb::ClaimLotRequest {
            lot: lot.to_string(),
            partner: partner.to_string(),
            quantity: Some(tpb::Quantity {
                unit: tpb::Unit::Piece as i32,
                milli: pieces * 1000,
            }),
            request_id: uuid::Uuid::now_v7().to_string(),
            ..Default::default()
        };
        async move { c.claim_lot(req).await.ok().map(|r| r.into_inner()) }
    })
    .await;
    assert!(claim.name.starts_with(&format!("{lot}/claims/")));
    let mut manager = stack.inventory(Role::SiteManager, Some(ORG), None).await;
    manager
        .confirm_claim(ipb::ConfirmClaimRequest {
            name: claim.name.clone(),
            etag: String::new(),
        })
        .await
        .unwrap();
    manager
        .record_handover(ipb::RecordHandoverRequest {
            name: claim.name,
            weighed_mass_g: mass_g,
            ..Default::default()
        })
        .await
        .unwrap();
}

async fn lots_of_one_id_on_two_sites_stay_apart(transport: Transport) {
    let stack = Stack::start(transport).await;
    let a = site_with_m1(&stack, "coteaux-a", "Coteaux A", 10).await;
    let b = site_with_m1(&stack, "coteaux-b", "Coteaux B", 6).await;
    let mut admin = stack.registry(Role::Admin, None).await;
    let partner = verified(
        &mut admin,
        partner_at("Atelier Illzach", &siret(77), 47.7822, 7.3481, 30),
    )
    .await;
    matching_tells_them_apart(&stack, &partner, &a, &b).await;
    a_deleted_drafts_id_made_again_is_matched(&stack, &partner).await;
    handed_over(&stack, &a, &partner, 4, 250_000).await;
    impact_tells_them_apart(&stack, &a, &b).await;
    stack.stop().await;
}

/// Matching ranks, recommends and plans each lot under its own name.
async fn matching_tells_them_apart(stack: &Stack, partner: &str, a: &str, b: &str) {
    let partner_id = partner.trim_start_matches("partners/").to_string();
    let matching = stack.matching(0, Role::SiteManager, Some(ORG), None).await;
    for lot in [a, b] {
        eventually(WAIT, || {
            let m = matching.clone();
            async move { lot_matches(&m, lot).await.contains(partner).then_some(()) }
        })
        .await;
    }
    let mine = stack
        .matching(0, Role::Partner, None, Some(&partner_id))
        .await;
    let recommended = recommended_lots(&mine, partner).await;
    assert_eq!(recommended, HashSet::from([a.to_owned(), b.to_owned()]));
    let plan = mine
        .clone()
        .plan_allocation(mpb::PlanAllocationRequest {
            lots: vec![b.to_owned()],
            ..Default::default()
        })
        .await;
    // A partner plans nothing for a site: refused, not a plan of another m1.
    assert_eq!(plan.unwrap_err().code(), Code::PermissionDenied);
    let mut planner = stack.matching(0, Role::Admin, None, None).await;
    let plan = planner
        .plan_allocation(mpb::PlanAllocationRequest {
            site: "sites/coteaux-b".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let planned: Vec<(&str, i64)> = plan
        .allocations
        .iter()
        .map(|x| (x.lot.as_str(), x.quantity.map_or(0, |q| q.milli)))
        .collect();
    assert_eq!(planned, [(b, 6_000)]);
}

/// A draft deleted, then made again under its id and published: matching,
/// which keeps the deletion, takes the new lot as newer and ranks it.
async fn a_deleted_drafts_id_made_again_is_matched(stack: &Stack, partner: &str) {
    let mut manager = stack.inventory(Role::SiteManager, Some(ORG), None).await;
    let draft = |designation: &str| ipb::CreateLotRequest {
        parent: "sites/coteaux-b".into(),
        lot: Some(ipb::Lot {
            designation: designation.into(),
            category: "radiateur".into(),
            quantity: Some(tpb::Quantity {
                unit: tpb::Unit::Piece as i32,
                milli: 2_000,
            }),
            estimated_mass_g: 120_000,
            ..Default::default()
        }),
        request_id: String::new(),
        lot_id: "d1".into(),
    };
    let first = manager.create_lot(draft("Radiateurs")).await.unwrap();
    manager
        .delete_lot(ipb::DeleteLotRequest {
            name: first.into_inner().name,
            etag: String::new(),
        })
        .await
        .unwrap();
    let again = manager
        .create_lot(draft("Radiateurs, encore"))
        .await
        .unwrap();
    let lot = again.into_inner().name;
    assert_eq!(lot, "sites/coteaux-b/lots/d1");
    manager
        .publish_lot(ipb::PublishLotRequest {
            name: lot.clone(),
            etag: String::new(),
        })
        .await
        .unwrap();
    let matching = stack.matching(0, Role::SiteManager, Some(ORG), None).await;
    eventually(WAIT, || {
        let m = matching.clone();
        let lot = lot.clone();
        async move { lot_matches(&m, &lot).await.contains(partner).then_some(()) }
    })
    .await;
}

/// Impact counts the hand-over of `a` on the lot and site it was made on.
async fn impact_tells_them_apart(stack: &Stack, a: &str, b: &str) {
    let mut impact = stack.impact(Role::Admin, None, None).await;
    let recolement = |site: &'static str| {
        let mut c = impact.clone();
        async move {
            c.export_recolement(pb::ExportRecolementRequest { site: site.into() })
                .await
                .ok()
                .map(|r| r.into_inner().rows)
        }
    };
    let rows_a = eventually(WAIT, || async {
        recolement("sites/coteaux-a")
            .await
            .filter(|rows| rows.iter().any(|r| r.handed_over_mass_g > 0))
    })
    .await;
    let handed = |rows: &[pb::RecolementRow]| -> Vec<(String, i64)> {
        rows.iter()
            .map(|r| (r.lot.clone(), r.handed_over_mass_g))
            .collect()
    };
    assert_eq!(handed(&rows_a), [(a.to_owned(), 250_000)]);
    // Site b: its m1, and the draft made again under `d1` (no reference).
    let rows_b = recolement("sites/coteaux-b").await.unwrap();
    let d1 = "sites/coteaux-b/lots/d1".to_owned();
    assert_eq!(handed(&rows_b), [(d1, 0), (b.to_owned(), 0)]);
    assert_eq!(rows_b[1].not_handed_over_mass_g, 360_000);
    let summary = impact
        .get_impact_summary(pb::GetImpactSummaryRequest {
            group_by: vec![pb::Grouping::Site as i32],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let groups: Vec<(Vec<String>, Vec<String>, i64)> = summary
        .groups
        .into_iter()
        .map(|g| {
            (
                g.keys,
                g.labels,
                g.figures.unwrap_or_default().handed_over_mass_g,
            )
        })
        .collect();
    // Each site by its name, the one with only estimates too.
    let site = |key: &str, label: &str, handed: i64| {
        (vec![key.to_string()], vec![label.to_string()], handed)
    };
    assert_eq!(
        groups,
        [
            site("sites/coteaux-a", "Coteaux A", 250_000),
            site("sites/coteaux-b", "Coteaux B", 0)
        ]
    );
}
