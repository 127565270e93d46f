//! Shared by the test binary and the bench: profile builders, seeded random
//! instances, and the independent checkers of the allocation (brute force and
//! an LP solved by microlp). Nothing here calls the engine's solver.

#![allow(dead_code)]

use microlp::{ComparisonOp, OptimizationDirection, Problem};
use rand::Rng;
use rand::rngs::StdRng;
use reemploi_domain::category::{self, Category};
use reemploi_domain::geo::GeoPoint;
use reemploi_matching_engine::alloc::{self, ArcSpec};
use reemploi_matching_engine::{Horizon, LotProfile, PartnerProfile, StructureKind, Window};

pub const DAY_MS: i64 = 86_400_000;
/// 2026-11-02T00:00:00Z, a fixed "now" so tests are reproducible.
pub const NOW: i64 = 1_793_577_600_000;

/// The horizon of the plans the allocation tests make: one week, within
/// which the lots of [`lot`] are available all along, so that a partner's
/// capacity is its weekly intake less what it holds.
pub const PLAN: Horizon = Horizon {
    start_ms: NOW,
    end_ms: NOW + 7 * DAY_MS,
};

/// The partners' capacities in grams for a plan over [`PLAN`].
fn caps(lots: &[LotProfile], partners: &[PartnerProfile], arcs: &[ArcSpec]) -> Vec<i64> {
    alloc::capacities(lots, partners, arcs, PLAN)
        .iter()
        .map(|c| c.capacity_g)
        .collect()
}

pub fn cat(code: &str) -> &'static Category {
    category::find(code).unwrap_or_else(|| panic!("no category {code}"))
}

pub fn pt(lat: f64, lon: f64) -> GeoPoint {
    GeoPoint::new(lat, lon).unwrap()
}

/// Point `east_m` metres east and `north_m` north of (lat, lon), flat-earth;
/// fine at the few-kilometre scale of the fixtures.
pub fn offset(lat: f64, lon: f64, east_m: f64, north_m: f64) -> GeoPoint {
    let dlat = north_m / 111_195.0;
    let dlon = east_m / (111_195.0 * lat.to_radians().cos());
    pt(lat + dlat, lon + dlon)
}

pub fn partner(id: &str, location: GeoPoint, accepted: &[&str]) -> PartnerProfile {
    PartnerProfile {
        id: id.to_owned(),
        location,
        radius_m: 20_000.0,
        accepted: accepted.iter().map(|c| cat(c)).collect(),
        weekly_intake_g: 2_000_000,
        committed_g: 0,
        verified_active: true,
        kind: StructureKind::Association,
        horizon_ms: 14 * DAY_MS,
    }
}

pub fn lot(
    id: &str,
    location: GeoPoint,
    category: &str,
    units: i64,
    unit_mass_g: i64,
) -> LotProfile {
    LotProfile {
        id: id.to_owned(),
        location,
        category: cat(category),
        available_units: units,
        unit_mass_g,
        window: Window {
            from_ms: Some(NOW - DAY_MS),
            until_ms: Some(NOW + 10 * DAY_MS),
        },
        hazardous: false,
    }
}

const KINDS: [StructureKind; 10] = [
    StructureKind::Aci,
    StructureKind::Ai,
    StructureKind::Ei,
    StructureKind::Eiti,
    StructureKind::Etti,
    StructureKind::Ressourcerie,
    StructureKind::Association,
    StructureKind::Scop,
    StructureKind::Scic,
    StructureKind::Other,
];

/// A rectangle of latitudes and longitudes to draw points in.
#[derive(Clone, Copy)]
pub struct Region {
    pub lat: (f64, f64),
    pub lon: (f64, f64),
}

/// Around Mulhouse, about 65 km × 45 km.
pub const MULHOUSE: Region = Region {
    lat: (47.55, 47.95),
    lon: (7.05, 7.65),
};

pub fn random_point(rng: &mut StdRng, r: Region) -> GeoPoint {
    pt(
        rng.random_range(r.lat.0..=r.lat.1),
        rng.random_range(r.lon.0..=r.lon.1),
    )
}

pub fn random_partner(
    rng: &mut StdRng,
    id: usize,
    r: Region,
    radius_m: (f64, f64),
) -> PartnerProfile {
    let all = category::all();
    let n = rng.random_range(1..=4);
    let accepted = (0..n)
        .map(|_| &all[rng.random_range(0..all.len())])
        .collect();
    let weekly_intake_g = rng.random_range(0..=5_000_000);
    PartnerProfile {
        id: format!("p{id:06}"),
        location: random_point(rng, r),
        radius_m: rng.random_range(radius_m.0..=radius_m.1),
        accepted,
        weekly_intake_g,
        committed_g: if rng.random_bool(0.15) {
            weekly_intake_g
        } else {
            rng.random_range(0..=weekly_intake_g / 2)
        },
        verified_active: rng.random_bool(0.9),
        kind: KINDS[rng.random_range(0..KINDS.len())],
        horizon_ms: rng.random_range(1..=30) * DAY_MS,
    }
}

pub fn random_lot(rng: &mut StdRng, id: usize, r: Region) -> LotProfile {
    let all = category::all();
    let from_ms = rng
        .random_bool(0.5)
        .then(|| NOW + rng.random_range(-10..=40) * DAY_MS);
    let until_ms = rng
        .random_bool(0.7)
        .then(|| from_ms.unwrap_or(NOW) + rng.random_range(-2..=40) * DAY_MS);
    LotProfile {
        id: format!("l{id:07}"),
        location: random_point(rng, r),
        category: &all[rng.random_range(0..all.len())],
        available_units: rng.random_range(0..=50),
        unit_mass_g: rng.random_range(100..=100_000),
        window: Window { from_ms, until_ms },
        hazardous: rng.random_bool(0.05),
    }
}

/// Size and ranges of a random allocation instance.
#[derive(Clone, Copy)]
pub struct Shape {
    pub lots: usize,
    pub partners: usize,
    /// Side of the square everything is drawn in, metres.
    pub side_m: f64,
    /// Service radius of every partner, metres.
    pub radius_m: f64,
    pub units: (i64, i64),
    pub unit_mass_g: (i64, i64),
    pub capacity_g: (i64, i64),
}

/// An allocation instance where every lot and partner passes the non-spatial
/// gates and all accept the same family, so arcs come from distance alone.
pub fn allocation_instance(
    rng: &mut StdRng,
    shape: &Shape,
) -> (Vec<LotProfile>, Vec<PartnerProfile>) {
    let Shape {
        lots,
        partners,
        side_m,
        radius_m,
        units,
        unit_mass_g,
        capacity_g,
    } = *shape;
    let (lat0, lon0) = (47.55, 7.05);
    let codes = ["porte-interieure", "fenetre", "volet", "placard"];
    let ls = (0..lots)
        .map(|i| {
            let code = codes[rng.random_range(0..codes.len())];
            let at = offset(
                lat0,
                lon0,
                rng.random_range(0.0..side_m),
                rng.random_range(0.0..side_m),
            );
            lot(
                &format!("l{i:05}"),
                at,
                code,
                rng.random_range(units.0..=units.1),
                rng.random_range(unit_mass_g.0..=unit_mass_g.1),
            )
        })
        .collect();
    let ps = (0..partners)
        .map(|j| {
            let at = offset(
                lat0,
                lon0,
                rng.random_range(0.0..side_m),
                rng.random_range(0.0..side_m),
            );
            let mut p = partner(
                &format!("p{j:04}"),
                at,
                &[codes[rng.random_range(0..codes.len())]],
            );
            p.radius_m = radius_m;
            p.weekly_intake_g = rng.random_range(capacity_g.0..=capacity_g.1);
            p
        })
        .collect();
    (ls, ps)
}

/// Lexicographic optimum of the mass model as (mass grams, gram-metres).
pub type Objective = (i64, i128);

fn better(a: Objective, b: Objective) -> bool {
    a.0 > b.0 || (a.0 == b.0 && a.1 < b.1)
}

/// Exhaustive search over integer flows on the arcs, in steps of `step(arc)`
/// grams: step 1 is the mass model, the unit mass gives whole units.
fn brute(
    lots: &[LotProfile],
    partners: &[PartnerProfile],
    arcs: &[ArcSpec],
    whole_units: bool,
) -> Objective {
    fn go(
        k: usize,
        arcs: &[ArcSpec],
        step: &[i64],
        supply: &mut [i64],
        cap: &mut [i64],
        acc: Objective,
        best: &mut Objective,
    ) {
        if k == arcs.len() {
            if better(acc, *best) {
                *best = acc;
            }
            return;
        }
        let a = arcs[k];
        let most = supply[a.lot].min(cap[a.partner]).min(a.max_g) / step[k];
        for n in 0..=most {
            let g = n * step[k];
            supply[a.lot] -= g;
            cap[a.partner] -= g;
            go(
                k + 1,
                arcs,
                step,
                supply,
                cap,
                (acc.0 + g, acc.1 + i128::from(g) * i128::from(a.distance_m)),
                best,
            );
            supply[a.lot] += g;
            cap[a.partner] += g;
        }
    }
    let mut supply: Vec<i64> = lots
        .iter()
        .map(|l| l.available_units * l.unit_mass_g)
        .collect();
    let mut cap = caps(lots, partners, arcs);
    let step: Vec<i64> = arcs
        .iter()
        .map(|a| {
            if whole_units {
                lots[a.lot].unit_mass_g
            } else {
                1
            }
        })
        .collect();
    let mut best = (0, 0);
    go(0, arcs, &step, &mut supply, &mut cap, (0, 0), &mut best);
    best
}

/// Brute-force optimum of the mass model (grams divisible).
pub fn brute_mass_model(
    lots: &[LotProfile],
    partners: &[PartnerProfile],
    arcs: &[ArcSpec],
) -> Objective {
    brute(lots, partners, arcs, false)
}

/// Brute-force optimum with whole units (the integer program).
pub fn brute_whole_units(
    lots: &[LotProfile],
    partners: &[PartnerProfile],
    arcs: &[ArcSpec],
) -> Objective {
    brute(lots, partners, arcs, true)
}

/// The mass model as two LPs solved by microlp: maximise grams, then fix
/// them and minimise gram-metres. Returns (grams, gram-metres) as floats.
pub fn lp_mass_model(
    lots: &[LotProfile],
    partners: &[PartnerProfile],
    arcs: &[ArcSpec],
) -> (f64, f64) {
    two_phases(lots, partners, arcs, false)
}

/// The whole-unit problem as two integer programs solved by microlp's branch
/// and bound: maximise grams over integer units per arc, then fix them and
/// minimise gram-metres. Returns (grams, gram-metres) as floats.
pub fn milp_whole_units(
    lots: &[LotProfile],
    partners: &[PartnerProfile],
    arcs: &[ArcSpec],
) -> (f64, f64) {
    two_phases(lots, partners, arcs, true)
}

/// One variable per arc: grams (continuous) or, with `whole_units`, units
/// (integer) weighing the lot's unit mass each.
fn two_phases(
    lots: &[LotProfile],
    partners: &[PartnerProfile],
    arcs: &[ArcSpec],
    whole_units: bool,
) -> (f64, f64) {
    // Grams one unit of the variable stands for, and how many it may take.
    let grams = |a: &ArcSpec| {
        if whole_units {
            lots[a.lot].unit_mass_g as f64
        } else {
            1.0
        }
    };
    let most = |l: &LotProfile| {
        if whole_units {
            l.available_units
        } else {
            l.available_units * l.unit_mass_g
        }
    };
    let cap = caps(lots, partners, arcs);
    let build = |dir: OptimizationDirection, cost: &dyn Fn(&ArcSpec) -> f64| {
        let mut pb = Problem::new(dir);
        let vars: Vec<_> = arcs
            .iter()
            .map(|a| {
                // What the partner takes in the lot's time bounds the arc.
                let n = most(&lots[a.lot]).min(a.max_g / grams(a) as i64);
                if whole_units {
                    pb.add_integer_var(cost(a), (0, i32::try_from(n).unwrap()))
                } else {
                    pb.add_var(cost(a), (0.0, n as f64))
                }
            })
            .collect();
        for (i, l) in lots.iter().enumerate() {
            let terms: Vec<_> = arcs
                .iter()
                .zip(&vars)
                .filter(|(a, _)| a.lot == i)
                .map(|(_, v)| (*v, 1.0))
                .collect();
            if !terms.is_empty() {
                pb.add_constraint(terms.as_slice(), ComparisonOp::Le, most(l) as f64);
            }
        }
        for (j, c) in cap.iter().enumerate() {
            let terms: Vec<_> = arcs
                .iter()
                .zip(&vars)
                .filter(|(a, _)| a.partner == j)
                .map(|(a, v)| (*v, grams(a)))
                .collect();
            if !terms.is_empty() {
                pb.add_constraint(terms.as_slice(), ComparisonOp::Le, *c as f64);
            }
        }
        (pb, vars)
    };
    let (first, _) = build(OptimizationDirection::Maximize, &grams);
    // The optimum is a whole number of grams: rounding removes only the
    // solver's float noise before phase two fixes it.
    let mass = first
        .solve()
        .unwrap()
        .solution()
        .unwrap()
        .objective()
        .round();
    let (mut second, vars) = build(OptimizationDirection::Minimize, &|a| {
        grams(a) * a.distance_m as f64
    });
    let all: Vec<_> = arcs
        .iter()
        .zip(&vars)
        .map(|(a, v)| (*v, grams(a)))
        .collect();
    second.add_constraint(all.as_slice(), ComparisonOp::Eq, mass);
    let cost = second.solve().unwrap().solution().unwrap().objective();
    (mass, cost)
}

/// Small random plans, on which both exact whole-unit solvers (the engine's
/// search and the MILP) prove their optimum quickly.
pub const SMALL_PLAN: Shape = Shape {
    lots: 7,
    partners: 3,
    side_m: 10_000.0,
    radius_m: 8_000.0,
    units: (1, 5),
    unit_mass_g: (300, 25_000),
    capacity_g: (10_000, 80_000),
};

/// Sites of 20 lots and 6 partners with unit masses and intakes in whole
/// kilograms, the shape the crate docs make claims about; `capacity_g`
/// sets how tight the intakes are.
pub const KG_SITE: Shape = Shape {
    lots: 20,
    partners: 6,
    side_m: 20_000.0,
    radius_m: 13_000.0,
    units: (1, 100),
    unit_mass_g: (1_000, 80_000),
    capacity_g: (2_000_000, 20_000_000),
};

/// Tight intakes for [`KG_SITE`]: 0.5 to 5 t a partner, some 16.5 t in
/// all against some 41 t of lots, so every partner is full and the
/// whole-unit question is which units fill it to the kilogram.
pub const TIGHT_G: (i64, i64) = (500_000, 5_000_000);

/// An instance of `shape` with unit masses and intakes rounded down to
/// whole kilograms (declared that way); intakes are then rarely multiples
/// of the unit masses.
pub fn kg_instance(rng: &mut StdRng, shape: &Shape) -> (Vec<LotProfile>, Vec<PartnerProfile>) {
    let (mut lots, mut partners) = allocation_instance(rng, shape);
    for l in &mut lots {
        l.unit_mass_g = (l.unit_mass_g / 1000).max(1) * 1000;
    }
    for p in &mut partners {
        p.weekly_intake_g = p.weekly_intake_g / 1000 * 1000;
    }
    (lots, partners)
}
