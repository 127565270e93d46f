//! Benchmarks (not tests): each figure is printed beside a baseline measured
//! in the same run. Run with `cargo bench -p reemploi-matching-engine`.

#![allow(clippy::unwrap_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;
use reemploi_matching_engine::alloc::{self};
use reemploi_matching_engine::{Index, Scorer, allocate};
use support::*;

/// Mainland France, roughly 780 km × 700 km.
const FRANCE: Region = Region {
    lat: (43.0, 50.0),
    lon: (-1.5, 7.5),
};

fn pct(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn statm_rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn status_kb(key: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn memory() {
    println!("== memory: index of 100,000 partners and 1,000,000 lots (goal < 1 GiB)");
    let before = statm_rss_bytes().unwrap_or(0);
    let mut rng = StdRng::seed_from_u64(1);
    let partners: Vec<_> = (0..100_000)
        .map(|i| random_partner(&mut rng, i, FRANCE, (5_000.0, 50_000.0)))
        .collect();
    let lots: Vec<_> = (0..1_000_000)
        .map(|i| random_lot(&mut rng, i, FRANCE))
        .collect();
    let t = Instant::now();
    let idx = Index::new(Scorer::default(), partners, lots);
    let build = t.elapsed();
    let after = statm_rss_bytes().unwrap_or(0);
    let gib = |b: f64| b / (1u64 << 30) as f64;
    println!("  bulk build                 {:>10.0} ms", ms(build));
    println!(
        "  estimated heap (structures) {:>9.3} GiB  ({:.1}% of goal)",
        gib(idx.heap_bytes_estimate() as f64),
        100.0 * gib(idx.heap_bytes_estimate() as f64)
    );
    println!(
        "  VmRSS growth (statm)        {:>9.3} GiB  ({:.1}% of goal); VmHWM {:.3} GiB",
        gib(after.saturating_sub(before) as f64),
        100.0 * gib(after.saturating_sub(before) as f64),
        gib((status_kb("VmHWM:").unwrap_or(0) * 1024) as f64)
    );

    // Top-10 lots for a partner among the million, indexed vs linear.
    let (mut fast, mut slow) = (Vec::new(), Vec::new());
    for q in 0..40 {
        let p = random_partner(&mut rng, 500_000 + q, FRANCE, (5_000.0, 50_000.0));
        let t = Instant::now();
        let a = black_box(idx.top_lots(&p, 10, NOW));
        fast.push(t.elapsed());
        let t = Instant::now();
        let b = black_box(idx.linear_top_lots(&p, 10, NOW));
        slow.push(t.elapsed());
        assert_eq!(a, b, "top_lots differs from the linear scan");
    }
    fast.sort();
    slow.sort();
    println!(
        "  top-10 lots of 1M: indexed p50 {:.3} ms p99 {:.3} ms | linear p50 {:.1} ms | ratio x{:.0} (identical: yes)",
        ms(pct(&fast, 50)),
        ms(pct(&fast, 99)),
        ms(pct(&slow, 50)),
        pct(&slow, 50).as_secs_f64() / pct(&fast, 50).as_secs_f64()
    );
}

fn top_partners() {
    println!(
        "== top-10 partners for a lot among 100,000 partners (goal ratio >= 100x, p99 < 1 ms)"
    );
    let mut rng = StdRng::seed_from_u64(2);
    let partners: Vec<_> = (0..100_000)
        .map(|i| random_partner(&mut rng, i, FRANCE, (5_000.0, 50_000.0)))
        .collect();
    let idx = Index::new(Scorer::default(), partners, Vec::new());
    let queries: Vec<_> = (0..1_000)
        .map(|i| random_lot(&mut rng, i, FRANCE))
        .collect();
    // Warm up caches and branch predictors on both paths.
    for l in queries.iter().take(20) {
        black_box(idx.top_partners(l, 10, NOW));
        black_box(idx.linear_top_partners(l, 10, NOW));
    }
    let (mut fast, mut slow) = (Vec::new(), Vec::new());
    let mut answered = 0;
    for l in &queries {
        let t = Instant::now();
        let a = black_box(idx.top_partners(l, 10, NOW));
        fast.push(t.elapsed());
        let t = Instant::now();
        let b = black_box(idx.linear_top_partners(l, 10, NOW));
        slow.push(t.elapsed());
        assert_eq!(a, b, "top_partners differs from the linear scan");
        answered += usize::from(!a.is_empty());
    }
    fast.sort();
    slow.sort();
    println!(
        "  {} queries ({} with >= 1 feasible partner), results identical: yes",
        queries.len(),
        answered
    );
    println!(
        "  indexed  p50 {:>8.3} ms  p99 {:>8.3} ms",
        ms(pct(&fast, 50)),
        ms(pct(&fast, 99))
    );
    println!(
        "  linear   p50 {:>8.3} ms  p99 {:>8.3} ms",
        ms(pct(&slow, 50)),
        ms(pct(&slow, 99))
    );
    println!(
        "  speed ratio (linear / indexed): p50 x{:.0}, p99 x{:.0}",
        pct(&slow, 50).as_secs_f64() / pct(&fast, 50).as_secs_f64(),
        pct(&slow, 99).as_secs_f64() / pct(&fast, 99).as_secs_f64()
    );
}

fn allocation() {
    println!(
        "== allocation: 2,000 lots x 500 partners, ~20 feasible partners per lot (goal < 1 s)"
    );
    let mut rng = StdRng::seed_from_u64(3);
    let shape = Shape {
        lots: 2_000,
        partners: 500,
        side_m: 100_000.0,
        radius_m: 13_000.0,
        units: (1, 50),
        unit_mass_g: (1_000, 80_000),
        capacity_g: (500_000, 5_000_000),
    };
    let (lots, partners) = allocation_instance(&mut rng, &shape);
    let arcs = alloc::feasible_arcs(&lots, &partners, PLAN);
    println!(
        "  {} feasible arcs, {:.1} per lot",
        arcs.len(),
        arcs.len() as f64 / lots.len() as f64
    );
    let mut ours = Vec::new();
    let mut plan = None;
    for _ in 0..5 {
        let t = Instant::now();
        let p = black_box(allocate(&lots, &partners, PLAN).unwrap());
        ours.push(t.elapsed());
        plan = Some(p);
    }
    ours.sort();
    let Some(plan) = plan else { return };
    let t = Instant::now();
    let (mass, cost) = lp_mass_model(&lots, &partners, &arcs);
    let lp = t.elapsed();
    let mm = &plan.mass_model;
    let same = mm.mass_g as f64 == mass
        && (mm.gram_metres as f64 - cost).abs() <= 1e-7 * (mm.gram_metres as f64).max(1.0);
    println!(
        "  engine (gates + min-cost flow + whole units): median {:.1} ms (min {:.1}, max {:.1})",
        ms(pct(&ours, 50)),
        ms(ours[0]),
        ms(ours[ours.len() - 1])
    );
    println!(
        "  independent LP (microlp, 2 phases):            {:.1} ms   ratio x{:.1}",
        ms(lp),
        lp.as_secs_f64() / pct(&ours, 50).as_secs_f64()
    );
    println!(
        "  mass model optimum: {} g, {:.3} t.km | LP: {} g, {:.3} t.km | same optimum: {}",
        mm.mass_g,
        mm.tonne_km(),
        mass as i64,
        cost / 1e9,
        if same { "yes" } else { "NO" }
    );
    println!(
        "  whole-unit plan: {} g, {:.3} t.km, {} assignments; optimal proven: {}; {} relaxations; \
         mass bound {} g ({:.4}% above the plan); mass model split {} arcs",
        plan.total_mass_g,
        plan.total_tonne_km,
        plan.assignments.len(),
        plan.optimal,
        plan.nodes,
        plan.mass_bound_g,
        100.0 * plan.gap_g() as f64 / plan.total_mass_g.max(1) as f64,
        plan.split_arcs,
    );
    assert!(same, "engine and LP disagree on the optimum");
}

/// Whole units: the engine's search against microlp's integer programming
/// on small plans where both prove their optimum, then the search against
/// the rounded flow on larger ones.
fn whole_units() {
    println!("== whole units, 7 lots x 3 partners, 20 instances: search vs MILP");
    let mut rng = StdRng::seed_from_u64(41);
    let small = SMALL_PLAN;
    let (mut ours, mut theirs, mut same, mut proven) = (vec![], vec![], 0, 0);
    for _ in 0..20 {
        let (lots, partners) = allocation_instance(&mut rng, &small);
        let arcs = alloc::feasible_arcs(&lots, &partners, PLAN);
        let t = Instant::now();
        let plan = black_box(allocate(&lots, &partners, PLAN).unwrap());
        ours.push(t.elapsed());
        let t = Instant::now();
        let (mass, cost) = milp_whole_units(&lots, &partners, &arcs);
        theirs.push(t.elapsed());
        let gm: i128 = plan
            .assignments
            .iter()
            .map(|a| i128::from(a.mass_g) * i128::from(a.distance_m))
            .sum();
        same += usize::from(
            plan.total_mass_g as f64 == mass
                && (gm as f64 - cost).abs() <= 1e-6 * (gm as f64).max(1.0),
        );
        proven += usize::from(plan.optimal);
    }
    ours.sort();
    theirs.sort();
    println!(
        "  engine (flow + branch and bound): median {:.2} ms, max {:.2} ms",
        ms(pct(&ours, 50)),
        ms(ours[ours.len() - 1])
    );
    println!(
        "  independent MILP (microlp, 2 phases): median {:.2} ms, max {:.2} ms   ratio x{:.1}",
        ms(pct(&theirs, 50)),
        ms(theirs[theirs.len() - 1]),
        pct(&theirs, 50).as_secs_f64() / pct(&ours, 50).as_secs_f64()
    );
    println!("  proven optimal: {proven}/20; same optimum as the MILP: {same}/20");

    println!("== whole units, 12 lots x 4 partners, 10 instances: search vs rounded flow");
    let larger = Shape {
        lots: 12,
        partners: 4,
        side_m: 12_000.0,
        radius_m: 8_000.0,
        units: (1, 8),
        unit_mass_g: (300, 25_000),
        capacity_g: (10_000, 150_000),
    };
    let below = |plan: &reemploi_matching_engine::Plan, bound: i64| {
        100.0 * (bound - plan.total_mass_g) as f64 / bound.max(1) as f64
    };
    let (mut searched, mut rounded, mut took, mut proven) = (vec![], vec![], vec![], 0);
    for _ in 0..10 {
        let (lots, partners) = allocation_instance(&mut rng, &larger);
        let t = Instant::now();
        let plan = black_box(allocate(&lots, &partners, PLAN).unwrap());
        took.push(t.elapsed());
        let flat =
            alloc::allocate_with(&lots, &partners, PLAN, alloc::Effort { max_work: 0 }).unwrap();
        // Both against the search's bound, the tighter of the two.
        searched.push(below(&plan, plan.mass_bound_g));
        rounded.push(below(&flat, plan.mass_bound_g));
        proven += usize::from(plan.optimal);
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2], v[v.len() - 1])
    };
    let ((s50, smax), (r50, rmax)) = (med(&mut searched), med(&mut rounded));
    took.sort();
    println!(
        "  mass below the bound: search median {s50:.2}% (max {smax:.2}%), rounded flow median {r50:.2}% (max {rmax:.2}%)"
    );
    println!(
        "  search time at the default effort: median {:.0} ms, max {:.0} ms; proven optimal {proven}/10",
        ms(pct(&took, 50)),
        ms(took[took.len() - 1])
    );

    println!("== whole units, sites of 20 lots x 6 partners, masses in whole kg, 10 instances");
    let (mut took, mut proven, mut split) = (vec![], 0, 0);
    for _ in 0..10 {
        let (lots, partners) = kg_instance(&mut rng, &KG_SITE);
        let t = Instant::now();
        let plan = black_box(allocate(&lots, &partners, PLAN).unwrap());
        took.push(t.elapsed());
        proven += usize::from(plan.optimal);
        split += usize::from(plan.split_arcs > 0);
    }
    took.sort();
    println!(
        "  proven optimal {proven}/10 ({split} needed a search); time median {:.1} ms, max {:.1} ms",
        ms(pct(&took, 50)),
        ms(took[took.len() - 1])
    );
    kg_sites("intakes of 2 to 20 t", KG_SITE.capacity_g);
    kg_sites("tight intakes of 0.5 to 5 t", TIGHT_G);
}

/// The crate docs' figures on 200 sites of 20 lots x 6 partners in whole
/// kilograms with intakes of `capacity_g`, at the default effort beside the
/// rounded flow (no search).
fn kg_sites(label: &str, capacity_g: (i64, i64)) {
    println!("== whole units, 200 sites of 20 lots x 6 partners in whole kg, {label}");
    let mut rng = StdRng::seed_from_u64(99);
    let shape = Shape {
        capacity_g,
        ..KG_SITE
    };
    let (mut took, mut above, mut proven, mut full, mut flat_full) = (vec![], vec![], 0, 0, 0);
    for _ in 0..200 {
        let (lots, partners) = kg_instance(&mut rng, &shape);
        let t = Instant::now();
        let plan = black_box(allocate(&lots, &partners, PLAN).unwrap());
        took.push(t.elapsed());
        let flat =
            alloc::allocate_with(&lots, &partners, PLAN, alloc::Effort { max_work: 0 }).unwrap();
        proven += usize::from(plan.optimal);
        full += usize::from(plan.gap_g() == 0);
        flat_full += usize::from(flat.total_mass_g == plan.mass_bound_g);
        // The mass model's tonne-km bound those of any plan of its mass.
        if plan.total_mass_g == plan.mass_model.mass_g {
            above.push(100.0 * (plan.total_tonne_km / plan.mass_model.tonne_km() - 1.0));
        }
    }
    took.sort();
    above.sort_by(f64::total_cmp);
    println!(
        "  proven optimal {proven}/200; mass proven the maximum {full}/200 (rounded flow: {flat_full}/200)"
    );
    if let (Some(mid), Some(max)) = (above.get(above.len() / 2), above.last()) {
        println!(
            "  tonne-km above the mass model's (a lower bound) on {} sites: median {mid:.2}%, max {max:.2}%",
            above.len()
        );
    }
    println!(
        "  time at the default effort: median {:.0} ms, max {:.0} ms",
        ms(pct(&took, 50)),
        ms(took[took.len() - 1])
    );
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments, run everything.
    memory();
    top_partners();
    allocation();
    whole_units();
}
