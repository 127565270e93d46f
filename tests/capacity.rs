//! A site's plan, over both buses and backends: a partner's capacity is
//! its weekly intake over the plan's horizon less what it holds (its open
//! claims), the plan never gives it more, and the figures add up; a bad
//! horizon is refused on its field.

use reemploi_proto::matching as mpb;
use reemploi_runtime::status::field_violations;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn plans_weigh_held_claims_and_the_horizon_in_process() {
    held_claims_and_horizon(Transport::InProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn plans_weigh_held_claims_and_the_horizon_over_nats() {
    held_claims_and_horizon(Transport::Nats).await;
}

async fn plan(m: &reemploi_e2e::Matching, site: &str, days: i32) -> mpb::PlanAllocationResponse {
    let mut m = m.clone();
    m.plan_allocation(mpb::PlanAllocationRequest {
        site: site.to_owned(),
        horizon_days: days,
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
}

async fn held_claims_and_horizon(transport: Transport) {
    let stack = Stack::start(transport).await;
    let mut admin = stack.registry(Role::Admin, None).await;
    // 1 t a week, near the Coteaux.
    let partner = verified(
        &mut admin,
        rpb::Partner {
            weekly_intake_kg: 1_000,
            ..partner_at("Atelier", &siret(71), 47.7480, 7.3200, 15)
        },
    )
    .await;
    let site = coteaux_site(&stack).await;
    let lot = published_radiators(&stack, &site, 100).await;
    // The partner holds 10 radiators (600 kg) it has not collected.
    let id = partner.trim_start_matches("partners/").to_owned();
    let claimer = stack.inventory(Role::Partner, None, Some(&id)).await;
    let mut n = 0;
    eventually(WAIT, || {
        n += 1;
        let req = ipb::ClaimLotRequest {
            lot: lot.clone(),
            partner: partner.clone(),
            quantity: Some(tpb::Quantity {
                unit: tpb::Unit::Piece as i32,
                milli: 10_000,
            }),
            request_id: format!("held-{n}"),
            ..Default::default()
        };
        let mut c = claimer.clone();
        async move { c.claim_lot(req).await.ok() }
    })
    .await;
    let m = stack
        .matching(0, Role::SiteManager, Some("m2a-habitat"), None)
        .await;
    // Two weeks: 2 t of intake, 600 kg held, 1.4 t left: 23 radiators.
    let two_weeks = eventually(WAIT, || {
        let m = m.clone();
        let site = site.clone();
        async move {
            let p = plan(&m, &site, 14).await;
            p.capacities
                .first()
                .is_some_and(|c| c.held_g == 600_000)
                .then_some(p)
        }
    })
    .await;
    assert_eq!(two_weeks.horizon_days, 14);
    let c = &two_weeks.capacities[0];
    assert_eq!(c.partner, partner);
    assert_eq!(c.weekly_intake_kg, 1_000);
    assert_eq!(c.window_seconds, 14 * 86_400);
    assert_eq!(
        (c.intake_g, c.capacity_g, c.used_g, c.left_g),
        (2_000_000, 1_400_000, 1_380_000, 20_000)
    );
    assert_eq!(two_weeks.total_mass_g, 1_380_000);
    assert_eq!(two_weeks.allocations[0].quantity.unwrap().milli, 23_000);
    // The default horizon, 12 weeks: room for the 90 radiators left.
    // The claim and the lot's new ledger reach matching as two events:
    // wait for the lot's too (until then it offers all 100).
    let default = eventually(WAIT, || {
        let m = m.clone();
        let site = site.clone();
        async move {
            let p = plan(&m, &site, 0).await;
            p.capacities
                .first()
                .is_some_and(|c| c.used_g != 100 * 60_000)
                .then_some(p)
        }
    })
    .await;
    assert_eq!(default.horizon_days, 84);
    let c = &default.capacities[0];
    assert_eq!((c.intake_g, c.held_g), (12_000_000, 600_000));
    assert_eq!(c.used_g, 90 * 60_000);
    assert_eq!(c.used_g + c.left_g, c.capacity_g);
    assert!(default.unallocated.is_empty(), "{default:?}");
    // A horizon out of bounds is refused on its field.
    for days in [-1, 367] {
        let mut mm = m.clone();
        let refused = mm
            .plan_allocation(mpb::PlanAllocationRequest {
                site: site.clone(),
                horizon_days: days,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{days}");
        let fields: Vec<String> = field_violations(&refused)
            .into_iter()
            .map(|(field, _)| field)
            .collect();
        assert_eq!(fields, ["horizon_days"], "{days}");
    }
    stack.stop().await;
}
