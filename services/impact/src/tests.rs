//! Properties of the figures, on a real SQLite database, with events made
//! as the inventory and the registry make them: an event delivered twice
//! changes nothing; any order of delivery (a replay from zero included)
//! gives the same figures; the groups sum to the total whatever the
//! grouping; a period is counted exactly whatever its bounds; declarations
//! above the handed-over mass are refused. Claims are picked up in one
//! to three trips, each event carrying the claim as it then was: a claim
//! completed, closed early, or left partly collected counts what its trips
//! weighed, once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use reemploi_events::Message;
use reemploi_proto::events::envelope::Payload;
use reemploi_proto::impact as pb;
use reemploi_proto::inventory as ipb;
use reemploi_proto::registry as rpb;
use reemploi_proto::types as tpb;
use reemploi_runtime::auth::{Principal, Role};
use reemploi_runtime::envelope;
use reemploi_runtime::wire::millis_ts;
use reemploi_store::Backend;
use sqlx::Row;
use uuid::Uuid;

use crate::{Factors, Impact, migrations};

const DAY: i64 = 86_400_000;
/// 2026-01-10T00:00:00Z: hand-overs fall from there over four months.
const BASE: i64 = 1_768_003_200_000;
const CATEGORIES: [&str; 3] = ["garde-corps", "radiateur", "mobilier"];

#[derive(Debug, Clone)]
struct ClaimSpec {
    lot: usize,
    partner: usize,
    mass_g: i64,
    handed: bool,
    day: i64,
    /// How many trips carried `mass_g` away.
    trips: i64,
    /// 0: the last trip completes the claim; 1: the site closes it after
    /// its trips; 2: it stays confirmed, partly collected.
    end: u8,
}

#[derive(Debug, Clone)]
struct Scenario {
    claims: Vec<ClaimSpec>,
    partner_moves: bool,
    shuffle: Vec<usize>,
    declarations: Vec<(usize, i32, i64)>,
    period: (i64, i64),
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let claim = (
        0..3usize,
        0..2usize,
        1..200_000i64,
        any::<bool>(),
        0..120i64,
        (1..4i64, 0..3u8),
    )
        .prop_map(
            |(lot, partner, mass_g, handed, day, (trips, end))| ClaimSpec {
                lot,
                partner,
                mass_g,
                handed,
                day,
                trips,
                end,
            },
        );
    (
        prop::collection::vec(claim, 1..7),
        any::<bool>(),
        prop::collection::vec(any::<usize>(), 40),
        prop::collection::vec((0..7usize, 1..6i32, 1..150_000i64), 0..6),
        (0..130i64, 0..130i64),
    )
        .prop_map(
            |(claims, partner_moves, shuffle, declarations, (a, b))| Scenario {
                claims,
                partner_moves,
                shuffle,
                declarations,
                period: (a.min(b), a.max(b) + 1),
            },
        )
}

struct World {
    sites: [Uuid; 2],
    lots: [Uuid; 3],
    partners: [Uuid; 2],
    claims: Vec<Uuid>,
}

fn event(aggregate: String, version: i64, payload: Payload) -> Message {
    envelope::message(
        "test",
        "reemploi.test.event".into(),
        aggregate,
        version,
        BASE,
        payload,
    )
}

fn events(s: &Scenario, w: &World) -> Vec<Message> {
    let mut out = Vec::new();
    for (i, id) in w.sites.iter().enumerate() {
        let site = ipb::Site {
            name: format!("sites/{id}"),
            display_name: format!("Site {i}"),
            owner_org: "org".into(),
            operation: Some(ipb::Operation {
                quartier: ["Coteaux", "Drouot"][i].into(),
                commune: "Mulhouse".into(),
                insee_code: "68224".into(),
                ..Default::default()
            }),
            location: Some(tpb::GeoPoint {
                latitude: 47.74 + i as f64 / 100.0,
                longitude: 7.30,
            }),
            version: 1,
            ..Default::default()
        };
        out.push(event(site.name.clone(), 1, Payload::Site(site)));
    }
    for (i, id) in w.lots.iter().enumerate() {
        let lot = ipb::Lot {
            name: format!("sites/{}/lots/{id}", w.sites[i % 2]),
            category: CATEGORIES[i].into(),
            reference: format!("M{i}"),
            quantity: Some(tpb::Quantity {
                unit: tpb::Unit::Piece as i32,
                milli: 100_000,
            }),
            estimated_mass_g: 1_000_000 * (i as i64 + 1),
            version: 1,
            ..Default::default()
        };
        out.push(event(lot.name.clone(), 1, Payload::Lot(lot)));
    }
    for (i, id) in w.partners.iter().enumerate() {
        for version in 1..=(1 + i64::from(s.partner_moves)) {
            let partner = rpb::Partner {
                name: format!("partners/{id}"),
                legal_name: format!("Partner {i}"),
                location: Some(tpb::GeoPoint {
                    latitude: 47.78 + version as f64 / 50.0,
                    longitude: 7.35,
                }),
                version,
                ..Default::default()
            };
            out.push(event(
                partner.name.clone(),
                version,
                Payload::Partner(partner),
            ));
        }
    }
    out.extend(claim_events(s, w));
    out
}

/// Each claim reserved, then (for some) handed over.
fn claim_events(s: &Scenario, w: &World) -> Vec<Message> {
    let mut out = Vec::new();
    for (c, id) in s.claims.iter().zip(&w.claims) {
        let lot = w.lots[c.lot];
        let name = format!("sites/{}/lots/{lot}/claims/{id}", w.sites[c.lot % 2]);
        let reserved = ipb::Claim {
            name: name.clone(),
            partner: format!("partners/{}", w.partners[c.partner]),
            quantity: Some(tpb::Quantity {
                unit: tpb::Unit::Piece as i32,
                milli: 10_000,
            }),
            status: ipb::ClaimStatus::Reserved as i32,
            version: 1,
            ..Default::default()
        };
        out.push(event(name.clone(), 1, Payload::Claim(reserved.clone())));
        if c.handed {
            out.extend(trip_events(c, &name, reserved));
        }
    }
    out
}

/// The events of a claim's trips, as the inventory makes them: each the
/// claim as it is after the trip (masses and quantities summed, the latest
/// trip's time), the last one at `BASE + day + mass_g` ms.
fn trip_events(c: &ClaimSpec, name: &str, reserved: ipb::Claim) -> Vec<Message> {
    let trips = c.trips.min(c.mass_g);
    let last_at = BASE + c.day * DAY + c.mass_g;
    let mut out = Vec::new();
    let mut claim = reserved;
    for trip in 1..=trips {
        let mass = if trip == trips {
            c.mass_g - (trips - 1) * (c.mass_g / trips)
        } else {
            c.mass_g / trips
        };
        // Each trip takes 2 of the 10 pieces; the last all that is left
        // unless the claim is closed early or left partly collected.
        let collected = if trip == trips && c.end == 0 {
            10_000
        } else {
            2_000 * trip
        };
        claim = ipb::Claim {
            status: if collected == 10_000 {
                ipb::ClaimStatus::HandedOver as i32
            } else {
                ipb::ClaimStatus::Confirmed as i32
            },
            weighed_mass_g: claim.weighed_mass_g + mass,
            handover_time: Some(millis_ts(last_at - (trips - trip) * 3_600_000)),
            collected: Some(tpb::Quantity {
                unit: tpb::Unit::Piece as i32,
                milli: collected,
            }),
            trip_count: trip as i32,
            version: 1 + trip,
            ..claim
        };
        out.push(event(
            name.into(),
            claim.version,
            Payload::Claim(claim.clone()),
        ));
    }
    if c.end == 1 {
        let closed = ipb::Claim {
            status: ipb::ClaimStatus::HandedOver as i32,
            version: claim.version + 1,
            ..claim
        };
        out.push(event(name.into(), closed.version, Payload::Claim(closed)));
    }
    out
}

/// The events in another order, some twice.
fn shuffled(events: &[Message], picks: &[usize]) -> Vec<Message> {
    let mut out = events.to_vec();
    for (i, p) in picks.iter().enumerate() {
        let (a, b) = (i % out.len(), p % out.len());
        out.swap(a, b);
    }
    for p in picks.iter().take(5) {
        out.push(out[p % out.len()].clone());
    }
    out
}

async fn impact() -> (reemploi_testing::db::TestDb, Impact) {
    let test = reemploi_testing::db::fresh(Backend::Sqlite).await;
    test.db.migrate(&migrations()).await.unwrap();
    let impact = Impact::new(test.db.clone(), Factors::shipped().unwrap(), 1607);
    (test, impact)
}

fn partner(id: Uuid) -> Principal {
    Principal {
        subject: "p".into(),
        role: Role::Partner,
        org: None,
        partner: Some(id.to_string()),
    }
}

fn admin() -> Principal {
    Principal {
        subject: "a".into(),
        role: Role::Admin,
        org: None,
        partner: None,
    }
}

/// Declares what the scenario says; which ones were accepted.
async fn declare(impact: &Impact, s: &Scenario, w: &World) -> Vec<bool> {
    let mut accepted = Vec::new();
    for (claim, kind, mass_g) in &s.declarations {
        let Some(c) = s.claims.get(*claim) else {
            continue;
        };
        let name = format!(
            "sites/{}/lots/{}/claims/{}",
            w.sites[c.lot % 2],
            w.lots[c.lot],
            w.claims[*claim]
        );
        let req = pb::DeclareOutcomeRequest {
            parent: name,
            outcome: Some(pb::Outcome {
                kind: *kind,
                mass_g: *mass_g,
                ..Default::default()
            }),
            request_id: String::new(),
        };
        let result = impact
            .declare_outcome(&partner(w.partners[c.partner]), &req)
            .await;
        accepted.push(result.is_ok());
    }
    accepted
}

async fn dump(impact: &Impact, sql: &str) -> Vec<String> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_all(impact.db().pool())
        .await
        .unwrap();
    let cell = |r: &sqlx::any::AnyRow, i: usize| {
        r.try_get::<String, _>(i)
            .or_else(|_| r.try_get::<i64, _>(i).map(|v| v.to_string()))
            .unwrap()
    };
    rows.iter()
        .map(|r| {
            (0..r.len())
                .map(|i| cell(r, i))
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

fn additive(f: &pb::Figures) -> [i64; 14] {
    [
        f.handed_over_mass_g,
        f.reused_as_is_mass_g,
        f.reused_refurbished_mass_g,
        f.resold_mass_g,
        f.recycled_mass_g,
        f.disposed_mass_g,
        f.undeclared_mass_g,
        f.co2e_gross_g,
        f.co2e_transport_g,
        f.co2e_net_g,
        f.without_factor_mass_g,
        f.insertion_minutes,
        f.lots,
        f.claims,
    ]
}

async fn check(s: Scenario) {
    let w = World {
        sites: [Uuid::now_v7(), Uuid::now_v7()],
        lots: [Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7()],
        partners: [Uuid::now_v7(), Uuid::now_v7()],
        claims: s.claims.iter().map(|_| Uuid::now_v7()).collect(),
    };
    let all = events(&s, &w);
    let (_a, first) = impact().await;
    for m in &all {
        first.apply("c", m).await.unwrap();
    }
    let (_b, second) = impact().await;
    for m in shuffled(&all, &s.shuffle) {
        second.apply("c", &m).await.unwrap();
    }
    let accepted = declare(&first, &s, &w).await;
    assert_eq!(declare(&second, &s, &w).await, accepted);
    // Sums that came back to zero (a claim moved) say nothing.
    for sql in [
        "SELECT * FROM contributions ORDER BY claim_id",
        "SELECT * FROM figures WHERE claims <> 0 ORDER BY month, site_id, partner_id, category",
        "SELECT * FROM partner_figures WHERE claims <> 0 ORDER BY month, site_id, partner_id",
        "SELECT * FROM site_figures WHERE claims <> 0 ORDER BY month, site_id",
    ] {
        assert_eq!(dump(&first, sql).await, dump(&second, sql).await, "{sql}");
    }
    // Declarations never exceed the weighed mass of their claim.
    for (c, id) in s.claims.iter().zip(&w.claims) {
        let declared: i64 = crate::repo::outcomes(
            &mut first.db().pool().acquire().await.unwrap(),
            crate::repo::Scope::Claim(*id),
        )
        .await
        .unwrap()
        .iter()
        .map(|o| o.mass_g)
        .sum();
        assert!(declared <= if c.handed { c.mass_g } else { 0 });
    }
    summaries_add_up(&first, &s).await;
}

/// The groups sum to the total whatever the grouping, and any period
/// counts exactly the claims handed over in it.
async fn summaries_add_up(first: &Impact, s: &Scenario) {
    let total = first
        .summary(&admin(), &pb::GetImpactSummaryRequest::default())
        .await
        .unwrap()
        .total
        .unwrap();
    let handed: i64 = s.claims.iter().filter(|c| c.handed).map(|c| c.mass_g).sum();
    assert_eq!(total.handed_over_mass_g, handed);
    partners_are_distinct(first, s, total.partners).await;
    for g in 1..=6 {
        let req = pb::GetImpactSummaryRequest {
            group_by: vec![g],
            ..Default::default()
        };
        let grouped = first.summary(&admin(), &req).await.unwrap();
        let mut sum = [0i64; 14];
        for group in &grouped.groups {
            for (acc, v) in sum
                .iter_mut()
                .zip(additive(group.figures.as_ref().unwrap()))
            {
                *acc += v;
            }
        }
        assert_eq!(sum, additive(&total), "grouping {g}");
    }
    // Any period: its figures are those of the claims handed over in it.
    let (from, until) = (
        BASE + s.period.0 * DAY + 7_200_000,
        BASE + s.period.1 * DAY + 3_600_000,
    );
    let req = pb::GetImpactSummaryRequest {
        start_time: Some(millis_ts(from)),
        end_time: Some(millis_ts(until)),
        ..Default::default()
    };
    let period = first.summary(&admin(), &req).await.unwrap().total.unwrap();
    let expected: i64 = s
        .claims
        .iter()
        .filter(|c| c.handed)
        .map(|c| (BASE + c.day * DAY + c.mass_g, c.mass_g))
        .filter(|(at, _)| (from..until).contains(at))
        .map(|(_, m)| m)
        .sum();
    assert_eq!(period.handed_over_mass_g, expected);
}

/// Partners are counted distinct: in all, and per quartier (site `lot % 2`).
async fn partners_are_distinct(first: &Impact, s: &Scenario, total: i64) {
    let taking = |quartier: Option<usize>| {
        let partners: std::collections::BTreeSet<usize> = s
            .claims
            .iter()
            .filter(|c| c.handed && quartier.is_none_or(|q| c.lot % 2 == q))
            .map(|c| c.partner)
            .collect();
        partners.len() as i64
    };
    assert_eq!(total, taking(None));
    let req = pb::GetImpactSummaryRequest {
        group_by: vec![pb::Grouping::Quartier as i32, pb::Grouping::Month as i32],
        ..Default::default()
    };
    let by_quartier = pb::GetImpactSummaryRequest {
        group_by: vec![pb::Grouping::Quartier as i32],
        ..Default::default()
    };
    for group in first.summary(&admin(), &by_quartier).await.unwrap().groups {
        let q = usize::from(group.keys[0] == "Drouot");
        assert_eq!(
            group.figures.unwrap().partners,
            taking(Some(q)),
            "{group:?}"
        );
    }
    let by_month = first.summary(&admin(), &req).await.unwrap();
    let most = by_month
        .groups
        .iter()
        .map(|g| g.figures.unwrap().partners)
        .max()
        .unwrap_or(0);
    assert!(most <= total);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn figures_hold_whatever_the_order_and_the_grouping(s in scenario()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(check(s));
    }
}
