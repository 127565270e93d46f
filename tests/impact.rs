//! The impact service end to end: hand-overs recorded by the inventory,
//! partners from the registry, declarations by the partner, and the figures
//! and récolement that follow, checked against a computation by hand; who
//! may read and declare what. Both buses, both backends.

use reemploi_proto::impact as pb;
use reemploi_proto::inventory as ipb;
use reemploi_proto::types as tpb;
use reemploi_runtime::status::field_violations;

use super::*;

const ORG: &str = "m2a-habitat";
const SITE_AT: (f64, f64) = (47.7460, 7.3010);
const PARTNER_AT: (f64, f64) = (47.7822, 7.3481);
/// The mean Earth radius (IUGG), in metres.
const EARTH_RADIUS_M: f64 = 6_371_008.8;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn figures_follow_handovers_and_declarations_in_process() {
    figures_follow_handovers_and_declarations(Transport::InProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn figures_follow_handovers_and_declarations_over_nats() {
    figures_follow_handovers_and_declarations(Transport::Nats).await;
}

/// Kilometres between two points, by the haversine formula.
fn km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (p1, p2) = (a.0.to_radians(), b.0.to_radians());
    let h = ((p2 - p1) / 2.0).sin().powi(2)
        + p1.cos() * p2.cos() * ((b.1 - a.1).to_radians() / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().asin() / 1000.0
}

async fn site(stack: &Stack) -> String {
    let mut manager = stack.inventory(Role::SiteManager, Some(ORG), None).await;
    manager
        .create_site(ipb::CreateSiteRequest {
            site: Some(ipb::Site {
                display_name: "Coteaux tour A".into(),
                operation: Some(ipb::Operation {
                    programme: "NPNRU".into(),
                    quartier: "Coteaux".into(),
                    commune: "Mulhouse".into(),
                    insee_code: "68224".into(),
                }),
                location: Some(tpb::GeoPoint {
                    latitude: SITE_AT.0,
                    longitude: SITE_AT.1,
                }),
                ..Default::default()
            }),
            request_id: String::new(),
            site_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .name
}

async fn lot(
    stack: &Stack,
    site: &str,
    reference: &str,
    category: &str,
    (unit, amount): (tpb::Unit, i64),
    mass_g: i64,
    waste_code: &str,
) -> ipb::Lot {
    let mut manager = stack.inventory(Role::SiteManager, Some(ORG), None).await;
    let lot = manager
        .create_lot(ipb::CreateLotRequest {
            parent: site.to_string(),
            lot: Some(ipb::Lot {
                reference: reference.into(),
                designation: format!("{category} {reference}"),
                category: category.into(),
                quantity: Some(tpb::Quantity {
                    unit: unit as i32,
                    milli: amount * 1000,
                }),
                estimated_mass_g: mass_g,
                waste_code: waste_code.into(),
                ..Default::default()
            }),
            request_id: String::new(),
            lot_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    if !lot.hazardous {
        manager
            .publish_lot(ipb::PublishLotRequest {
                name: lot.name.clone(),
                etag: String::new(),
            })
            .await
            .unwrap();
    }
    lot
}

/// Claims `amount` of a lot, confirms it and hands it over weighing `mass_g`.
async fn handed_over(
    stack: &Stack,
    lot: &ipb::Lot,
    partner: &str,
    amount: i64,
    mass_g: i64,
) -> String {
    let id = partner.trim_start_matches("partners/");
    let mut taker = stack.inventory(Role::Partner, None, Some(id)).await;
    let unit = lot.quantity.unwrap().unit;
    let claim = eventually(WAIT, || {
        let mut c = taker.clone();
        let req = ipb::ClaimLotRequest {
            lot: lot.name.clone(),
            partner: partner.to_string(),
            quantity: Some(tpb::Quantity {
                unit,
                milli: amount * 1000,
            }),
            request_id: uuid::Uuid::now_v7().to_string(),
            ..Default::default()
        };
        async move { c.claim_lot(req).await.ok().map(|r| r.into_inner()) }
    })
    .await;
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
            name: claim.name.clone(),
            weighed_mass_g: mass_g,
            ..Default::default()
        })
        .await
        .unwrap();
    taker
        .get_claim(ipb::GetClaimRequest {
            name: claim.name.clone(),
        })
        .await
        .unwrap();
    claim.name
}

fn outcome(
    claim: &str,
    kind: pb::OutcomeKind,
    mass_g: i64,
    quantity: Option<tpb::Quantity>,
    destination: &str,
) -> pb::DeclareOutcomeRequest {
    pb::DeclareOutcomeRequest {
        parent: claim.to_string(),
        outcome: Some(pb::Outcome {
            kind: kind as i32,
            mass_g,
            quantity,
            destination: destination.into(),
            ..Default::default()
        }),
        request_id: String::new(),
    }
}

fn hours(
    claim: &str,
    activity: pb::Activity,
    minutes: i64,
    people: i32,
) -> pb::DeclareHoursRequest {
    pb::DeclareHoursRequest {
        parent: claim.to_string(),
        hours: Some(pb::HoursDeclaration {
            activity: activity as i32,
            minutes,
            people,
            ..Default::default()
        }),
        request_id: String::new(),
    }
}

fn everything(group_by: &[pb::Grouping]) -> pb::GetImpactSummaryRequest {
    pb::GetImpactSummaryRequest {
        group_by: group_by.iter().map(|g| *g as i32).collect(),
        ..Default::default()
    }
}

async fn figures_follow_handovers_and_declarations(transport: Transport) {
    let stack = Stack::start(transport).await;
    let site = site(&stack).await;
    let railings = lot(
        &stack,
        &site,
        "M5",
        "garde-corps",
        (tpb::Unit::Metre, 100),
        500_000,
        "17 04 05",
    )
    .await;
    let radiators = lot(
        &stack,
        &site,
        "M2",
        "radiateur",
        (tpb::Unit::Piece, 10),
        600_000,
        "17 04 05",
    )
    .await;
    let asbestos = lot(
        &stack,
        &site,
        "M9",
        "revetement-sol",
        (tpb::Unit::SquareMetre, 90),
        900_000,
        "17 06 05*",
    )
    .await;
    assert!(asbestos.hazardous);
    let mut admin = stack.registry(Role::Admin, None).await;
    let mut p = partner_at(
        "Atelier Illzach",
        &siret(41),
        PARTNER_AT.0,
        PARTNER_AT.1,
        30,
    );
    p.accepted_categories = vec!["garde-corps".into(), "radiateur".into()];
    let partner = verified(&mut admin, p).await;
    let other = verified(&mut admin, partner_at("Autre", &siret(42), 47.75, 7.34, 30)).await;
    let partner_id = partner.trim_start_matches("partners/").to_string();
    let other_id = other.trim_start_matches("partners/").to_string();
    let rail_claim = handed_over(&stack, &railings, &partner, 50, 240_000).await;
    let radiator_claim = handed_over(&stack, &radiators, &partner, 4, 250_000).await;

    let mut admin_impact = stack.impact(Role::Admin, None, None).await;
    eventually(WAIT, || {
        let mut c = admin_impact.clone();
        async move {
            let s = c
                .get_impact_summary(everything(&[]))
                .await
                .ok()?
                .into_inner();
            (s.total?.claims == 2 && s.groups.is_empty()).then_some(())
        }
    })
    .await;

    let mut taker = stack.impact(Role::Partner, None, Some(&partner_id)).await;
    let pieces = |n: i64| {
        Some(tpb::Quantity {
            unit: tpb::Unit::Piece as i32,
            milli: n * 1000,
        })
    };
    let mut first = outcome(
        &rail_claim,
        pb::OutcomeKind::ReusedAsIs,
        200_000,
        None,
        "Chantier Rixheim",
    );
    first.request_id = "rail-reuse".into();
    let declared = taker
        .declare_outcome(first.clone())
        .await
        .unwrap()
        .into_inner();
    // A retry with the same key is the same declaration, not a second one.
    assert_eq!(
        taker
            .declare_outcome(first)
            .await
            .unwrap()
            .into_inner()
            .name,
        declared.name
    );
    taker
        .declare_outcome(outcome(
            &rail_claim,
            pb::OutcomeKind::Disposed,
            40_000,
            None,
            "",
        ))
        .await
        .unwrap();
    // Two of the four radiators refurbished: their share of the weighed mass.
    let refurbished = taker
        .declare_outcome(outcome(
            &radiator_claim,
            pb::OutcomeKind::ReusedRefurbished,
            0,
            pieces(2),
            "Atelier",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(refurbished.mass_g, 125_000);
    taker
        .declare_outcome(outcome(
            &radiator_claim,
            pb::OutcomeKind::Resold,
            100_000,
            None,
            "Ressourcerie",
        ))
        .await
        .unwrap();
    taker
        .declare_hours(hours(&rail_claim, pb::Activity::Dismantling, 90, 3))
        .await
        .unwrap();
    taker
        .declare_hours(hours(&radiator_claim, pb::Activity::Refurbishing, 150, 2))
        .await
        .unwrap();
    taker
        .declare_hours(hours(&radiator_claim, pb::Activity::Sorting, 60, 1))
        .await
        .unwrap();

    // Above what was handed over: refused with the field, nothing recorded.
    let before = taker
        .list_declarations(pb::ListDeclarationsRequest {
            claim: rail_claim.clone(),
            site: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let err = taker
        .declare_outcome(outcome(
            &rail_claim,
            pb::OutcomeKind::Recycled,
            1_000,
            None,
            "",
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        field_violations(&err)
            .iter()
            .any(|(f, _)| f == "outcome.mass_g"),
        "{err:?}"
    );
    let after = taker
        .list_declarations(pb::ListDeclarationsRequest {
            claim: rail_claim.clone(),
            site: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(before, after);
    assert_eq!(after.outcomes.len(), 2);

    // By hand: 490 kg handed over; 200 kg of steel railings reused at
    // 2.211 kg CO2e/kg; the radiators have no factor; transport at 0.16 kg
    // CO2e per tonne-km over the straight line.
    let d = km(SITE_AT, PARTNER_AT);
    let transport =
        (0.240 * d * 0.16 * 1000.0).round() as i64 + (0.250 * d * 0.16 * 1000.0).round() as i64;
    let expected = pb::Figures {
        handed_over_mass_g: 490_000,
        reused_as_is_mass_g: 200_000,
        reused_refurbished_mass_g: 125_000,
        resold_mass_g: 100_000,
        recycled_mass_g: 0,
        disposed_mass_g: 40_000,
        undeclared_mass_g: 25_000,
        estimated_mass_g: 2_000_000,
        reuse_rate: 425_000.0 / 2_000_000.0,
        co2e_gross_g: 442_200,
        co2e_transport_g: transport,
        co2e_net_g: 442_200 - transport,
        without_factor_mass_g: 225_000,
        without_factor_share: 225_000.0 / 425_000.0,
        insertion_minutes: 300,
        insertion_people: 3 + 2,
        fte: 5.0 / 1607.0,
        lots: 2,
        claims: 2,
        partners: 1,
    };
    let summary = admin_impact
        .get_impact_summary(everything(&[]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(summary.total.as_ref(), Some(&expected));
    assert_eq!(summary.method_version, "impact-method/1");
    assert_eq!(summary.fte_hours_per_year, 1607);

    // Grouped, the groups add up to the total.
    let by_category = admin_impact
        .get_impact_summary(everything(&[pb::Grouping::Category]))
        .await
        .unwrap()
        .into_inner();
    let keys: Vec<_> = by_category
        .groups
        .iter()
        .map(|g| g.keys[0].as_str())
        .collect();
    assert_eq!(keys, ["garde-corps", "radiateur", "revetement-sol"]);
    let handed: i64 = by_category
        .groups
        .iter()
        .map(|g| g.figures.unwrap().handed_over_mass_g)
        .sum();
    let estimated: i64 = by_category
        .groups
        .iter()
        .map(|g| g.figures.unwrap().estimated_mass_g)
        .sum();
    assert_eq!((handed, estimated), (490_000, 2_000_000));
    let by_place = admin_impact
        .get_impact_summary(everything(&[pb::Grouping::Quartier, pb::Grouping::Month]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_place.groups.len(), 1);
    assert_eq!(by_place.groups[0].keys[0], "Coteaux");
    assert_eq!(by_place.groups[0].figures.unwrap().co2e_gross_g, 442_200);

    reuse_on_the_site(&stack, &radiators.name).await;
    recolement_lists_every_row(&stack, &site, &asbestos).await;
    who_may_do_what(&stack, &site, &rail_claim, &partner_id, &other_id).await;
    stack.stop().await;
}

/// The site's managers declare radiators reused on the site itself: for
/// the récolement, never beyond the estimate, reuse kinds only, theirs only.
async fn reuse_on_the_site(stack: &Stack, radiators: &str) {
    let mut manager = stack.impact(Role::SiteManager, Some(ORG), None).await;
    let here = |kind, mass_g| outcome(radiators, kind, mass_g, None, "Bâtiment C, sur place");
    let declared = manager
        .declare_outcome(here(pb::OutcomeKind::ReusedAsIs, 200_000))
        .await
        .unwrap()
        .into_inner();
    assert!(declared.name.starts_with(&format!("{radiators}/outcomes/")));
    // 250 kg handed over and 200 kg here leave 150 kg of the 600 kg estimate.
    let beyond = manager
        .declare_outcome(here(pb::OutcomeKind::ReusedAsIs, 400_001))
        .await
        .unwrap_err();
    assert_eq!(beyond.code(), Code::InvalidArgument);
    let resold = manager
        .declare_outcome(here(pb::OutcomeKind::Resold, 1_000))
        .await
        .unwrap_err();
    assert!(
        field_violations(&resold)
            .iter()
            .any(|(f, _)| f == "outcome.kind")
    );
    let mut elsewhere = stack
        .impact(Role::SiteManager, Some("autre-bailleur"), None)
        .await;
    let code = elsewhere
        .declare_outcome(here(pb::OutcomeKind::ReusedAsIs, 1_000))
        .await
        .unwrap_err()
        .code();
    assert_eq!(code, Code::NotFound);
    let mut partner = stack
        .impact(Role::Partner, None, Some(&uuid::Uuid::now_v7().to_string()))
        .await;
    let code = partner
        .declare_outcome(here(pb::OutcomeKind::ReusedAsIs, 1_000))
        .await
        .unwrap_err()
        .code();
    assert_eq!(code, Code::PermissionDenied);
}

async fn recolement_lists_every_row(stack: &Stack, site: &str, asbestos: &ipb::Lot) {
    let mut manager = stack.impact(Role::SiteManager, Some(ORG), None).await;
    let r = manager
        .export_recolement(pb::ExportRecolementRequest {
            site: site.to_string(),
        })
        .await
        .unwrap()
        .into_inner();
    let refs: Vec<_> = r.rows.iter().map(|row| row.reference.as_str()).collect();
    assert_eq!(refs, ["M2", "M5", "M9"]);
    let m9 = &r.rows[2];
    assert_eq!(m9.lot, asbestos.name);
    assert!(m9.hazardous);
    assert_eq!(
        (
            m9.disposed_mass_g,
            m9.reused_elsewhere_mass_g,
            m9.handed_over_mass_g
        ),
        (900_000, 0, 0)
    );
    let m5 = &r.rows[1];
    assert_eq!(
        (
            m5.handed_over_mass_g,
            m5.reused_elsewhere_mass_g,
            m5.disposed_mass_g
        ),
        (240_000, 200_000, 40_000)
    );
    assert_eq!(m5.not_handed_over_mass_g, 260_000);
    let m2 = &r.rows[0];
    assert_eq!(
        (m2.reused_on_site_mass_g, m2.not_handed_over_mass_g),
        (200_000, 150_000)
    );
    assert_eq!(m5.handovers.len(), 1);
    assert!(
        m5.destinations
            .iter()
            .any(|d| d.destination == "Chantier Rixheim" && d.mass_g == 200_000)
    );
    a_deleted_draft_leaves_the_recolement(stack, site).await;
}

/// A draft deleted from the inventory is no longer a row of its site's
/// récolement (nor of its estimate).
async fn a_deleted_draft_leaves_the_recolement(stack: &Stack, site: &str) {
    let mut inventory = stack.inventory(Role::SiteManager, Some(ORG), None).await;
    let spare = inventory
        .create_lot(ipb::CreateLotRequest {
            parent: site.to_string(),
            lot: Some(ipb::Lot {
                reference: "M7".into(),
                designation: "Doublon saisi deux fois".into(),
                category: "radiateur".into(),
                quantity: Some(tpb::Quantity {
                    unit: tpb::Unit::Piece as i32,
                    milli: 4_000,
                }),
                estimated_mass_g: 100_000,
                ..Default::default()
            }),
            request_id: String::new(),
            lot_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut manager = stack.impact(Role::SiteManager, Some(ORG), None).await;
    let request = || pb::ExportRecolementRequest {
        site: site.to_string(),
    };
    let references = |r: pb::Recolement| -> Vec<String> {
        r.rows.into_iter().map(|row| row.reference).collect()
    };
    let with_it = ["M2", "M5", "M7", "M9"].map(String::from).to_vec();
    eventually(Duration::from_secs(10), || {
        let mut m = manager.clone();
        let want = with_it.clone();
        async move {
            let r = m.export_recolement(request()).await.ok()?.into_inner();
            (references(r) == want).then_some(())
        }
    })
    .await;
    inventory
        .delete_lot(ipb::DeleteLotRequest {
            name: spare.name.clone(),
            etag: String::new(),
        })
        .await
        .unwrap();
    let without = ["M2", "M5", "M9"].map(String::from).to_vec();
    eventually(Duration::from_secs(10), || {
        let mut m = manager.clone();
        let want = without.clone();
        async move {
            let r = m.export_recolement(request()).await.ok()?.into_inner();
            (references(r) == want).then_some(())
        }
    })
    .await;
    let left = manager
        .export_recolement(request())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(left.rows.len(), 3);
}

async fn who_may_do_what(stack: &Stack, site: &str, claim: &str, partner: &str, other: &str) {
    let mut stranger = stack.impact(Role::Partner, None, Some(other)).await;
    let mut manager = stack.impact(Role::SiteManager, Some(ORG), None).await;
    let mut elsewhere = stack
        .impact(Role::SiteManager, Some("autre-bailleur"), None)
        .await;
    let mut integrator = stack.impact(Role::Integrator, None, None).await;
    let mut own = stack.impact(Role::Partner, None, Some(partner)).await;
    let declare = outcome(claim, pb::OutcomeKind::Recycled, 1, None, "");
    let denied = stranger.declare_outcome(declare.clone()).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let denied = manager.declare_outcome(declare).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let denied = manager
        .declare_hours(hours(claim, pb::Activity::Sorting, 10, 1))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    // Declarations: the claim's partner, the site's managers, admins and integrators.
    let by_claim = |c: &str| pb::ListDeclarationsRequest {
        claim: c.to_string(),
        site: String::new(),
    };
    assert_eq!(
        stranger
            .list_declarations(by_claim(claim))
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    assert_eq!(
        elsewhere
            .list_declarations(by_claim(claim))
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    let by_site = pb::ListDeclarationsRequest {
        claim: String::new(),
        site: site.to_string(),
    };
    assert_eq!(
        manager
            .list_declarations(by_site.clone())
            .await
            .unwrap()
            .into_inner()
            .outcomes
            .len(),
        4
    );
    assert_eq!(
        integrator
            .list_declarations(by_site.clone())
            .await
            .unwrap()
            .into_inner()
            .hours
            .len(),
        3
    );
    assert!(
        stranger
            .list_declarations(by_site)
            .await
            .unwrap()
            .into_inner()
            .outcomes
            .is_empty()
    );
    // Figures: a partner its own, a site manager its organisation's.
    let mut theirs = everything(&[]);
    theirs.partner = format!("partners/{partner}");
    assert_eq!(
        stranger
            .get_impact_summary(theirs.clone())
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    let mine = own.get_impact_summary(theirs).await.unwrap().into_inner();
    assert_eq!(mine.total.unwrap().handed_over_mass_g, 490_000);
    let nothing = stranger
        .get_impact_summary(everything(&[]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(nothing.total.unwrap().claims, 0);
    let outside = elsewhere
        .get_impact_summary(everything(&[]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(outside.total.unwrap().handed_over_mass_g, 0);
    let mut one_site = everything(&[]);
    one_site.territory = Some(pb::get_impact_summary_request::Territory::Site(
        site.to_string(),
    ));
    assert_eq!(
        elsewhere
            .get_impact_summary(one_site.clone())
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    assert_eq!(
        manager
            .get_impact_summary(one_site.clone())
            .await
            .unwrap()
            .into_inner()
            .total
            .unwrap()
            .claims,
        2
    );
    assert_eq!(
        integrator
            .get_impact_summary(one_site)
            .await
            .unwrap()
            .into_inner()
            .total
            .unwrap()
            .claims,
        2
    );
    // The récolement: the site's managers, admins and integrators.
    let rec = pb::ExportRecolementRequest {
        site: site.to_string(),
    };
    assert_eq!(
        own.export_recolement(rec.clone()).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    assert_eq!(
        elsewhere
            .export_recolement(rec.clone())
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    assert_eq!(
        integrator
            .export_recolement(rec)
            .await
            .unwrap()
            .into_inner()
            .rows
            .len(),
        3
    );
    // Bad input: a clear status with the field, before anything else.
    let mut bad = everything(&[pb::Grouping::Month, pb::Grouping::Month]);
    bad.family = "nope".into();
    let err = manager.get_impact_summary(bad).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let fields: Vec<_> = field_violations(&err).into_iter().map(|(f, _)| f).collect();
    assert!(
        fields.contains(&"group_by[1]".to_string()) && fields.contains(&"family".to_string()),
        "{fields:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn trips_count_once_in_process() {
    trips_count_once(Transport::InProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn trips_count_once_over_nats() {
    trips_count_once(Transport::Nats).await;
}

/// Waits until impact's total says `claims` claims handed over weighing
/// `mass_g`.
async fn total_becomes(stack: &Stack, claims: i64, mass_g: i64) -> pb::Figures {
    let admin = stack.impact(Role::Admin, None, None).await;
    eventually(WAIT, || {
        let mut c = admin.clone();
        async move {
            let s = c.get_impact_summary(everything(&[])).await.ok()?;
            let total = s.into_inner().total?;
            (total.claims == claims && total.handed_over_mass_g == mass_g).then_some(total)
        }
    })
    .await
}

/// A claim of 6 radiators picked up in two trips of 2, then closed: impact
/// counts each trip's mass as it is recorded, once; the claim counts once;
/// the récolement shows the 4 collected, not the 6 claimed; declarations
/// are bounded by the mass of the trips.
async fn trips_count_once(transport: Transport) {
    let stack = Stack::start(transport).await;
    let site = site(&stack).await;
    let radiators = lot(
        &stack,
        &site,
        "M2",
        "radiateur",
        (tpb::Unit::Piece, 10),
        600_000,
        "17 04 05",
    )
    .await;
    let mut admin = stack.registry(Role::Admin, None).await;
    let partner = verified(
        &mut admin,
        partner_at("Atelier", &siret(43), PARTNER_AT.0, PARTNER_AT.1, 30),
    )
    .await;
    let id = partner.trim_start_matches("partners/");
    let taker = stack.inventory(Role::Partner, None, Some(id)).await;
    let claim = eventually(WAIT, || {
        let mut c = taker.clone();
        let req = ipb::ClaimLotRequest {
            lot: radiators.name.clone(),
            partner: partner.clone(),
            quantity: Some(tpb::Quantity {
                unit: tpb::Unit::Piece as i32,
                milli: 6_000,
            }),
            request_id: "six".into(),
            ..Default::default()
        };
        async move { c.claim_lot(req).await.ok().map(|r| r.into_inner()) }
    })
    .await;
    let mut manager = stack.inventory(Role::SiteManager, Some(ORG), None).await;
    manager
        .confirm_claim(ipb::ConfirmClaimRequest {
            name: claim.name.clone(),
            etag: String::new(),
        })
        .await
        .unwrap();
    let trip = |grams: i64| ipb::RecordHandoverRequest {
        name: claim.name.clone(),
        weighed_mass_g: grams,
        quantity: Some(tpb::Quantity {
            unit: tpb::Unit::Piece as i32,
            milli: 2_000,
        }),
        ..Default::default()
    };
    manager.record_handover(trip(130_000)).await.unwrap();
    total_becomes(&stack, 1, 130_000).await;
    manager.record_handover(trip(118_000)).await.unwrap();
    total_becomes(&stack, 1, 248_000).await;
    let closed = manager
        .close_claim(ipb::CloseClaimRequest {
            name: claim.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(closed.status, ipb::ClaimStatus::HandedOver as i32);
    // The close is the claim's newest state: still the two trips' mass.
    let mut taker_impact = stack.impact(Role::Partner, None, Some(id)).await;
    let recolement = stack.impact(Role::SiteManager, Some(ORG), None).await;
    let row = eventually(WAIT, || {
        let mut c = recolement.clone();
        let site = site.clone();
        async move {
            let r = c
                .export_recolement(pb::ExportRecolementRequest { site })
                .await
                .ok()?
                .into_inner();
            let row = r.rows.into_iter().next()?;
            (row.handed_over_quantity?.milli == 4_000).then_some(row)
        }
    })
    .await;
    assert_eq!(row.handed_over_mass_g, 248_000);
    assert_eq!(row.not_handed_over_mass_g, 600_000 - 248_000);
    assert_eq!(total_becomes(&stack, 1, 248_000).await.lots, 1);
    let too_much = taker_impact
        .declare_outcome(outcome(
            &claim.name,
            pb::OutcomeKind::ReusedAsIs,
            248_001,
            None,
            "",
        ))
        .await
        .unwrap_err();
    assert_eq!(too_much.code(), tonic::Code::InvalidArgument);
    // Two of the four collected: their share of the trips' mass.
    let half = taker_impact
        .declare_outcome(outcome(
            &claim.name,
            pb::OutcomeKind::ReusedRefurbished,
            0,
            Some(tpb::Quantity {
                unit: tpb::Unit::Piece as i32,
                milli: 2_000,
            }),
            "Atelier",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(half.mass_g, 124_000);
}
