//! GetImpactSummary over 1,000,000 hand-overs, grouped by quartier and
//! month, against a plain GROUP BY over the raw hand-over table, in the
//! same run on the same database.
//!
//! Setup: a fresh SQLite database (the embedded default) migrated as the
//! service does; 40 sites in 8 quartiers of 4 communes, 30 partners, 20
//! categories; each site gives up 12 categories to 5 partners. One million
//! hand-overs spread over the 24 whole months of 2024 and 2025 are written
//! as the service writes them, one contribution row per handed-over claim,
//! and the monthly sums are built from them with the same GROUP BY the
//! service's deltas amount to (feeding a million events through the
//! consumer would measure the loader, not the query).
//!
//! Measured: the service's `summary` (the same code the RPC runs, without
//! the network) for the 24 months grouped by quartier then month, 200 times;
//! the baseline, `SELECT quartier, month, SUM(...) FROM contributions JOIN
//! sites ... GROUP BY quartier, month`, 10 times. Both answers are checked
//! equal first. Prints p50 and p99 of each, the ratio of medians, and the
//! goals (p99 under 20 ms, at least 10x faster). Run with:
//!
//! ```text
//! cargo bench -p reemploi-impact --bench summary
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use reemploi_impact::{Factors, Impact, migrations};
use reemploi_proto::impact as pb;
use reemploi_runtime::auth::{Principal, Role};
use reemploi_runtime::wire::millis_ts;
use reemploi_store::Db;
use sqlx::Row;
use uuid::Uuid;

const HANDOVERS: usize = 1_000_000;
const SITES: usize = 40;
const PARTNERS: usize = 30;
/// 2024-01-01T00:00:00Z and 2026-01-01T00:00:00Z.
const FROM: i64 = 1_704_067_200_000;
const UNTIL: i64 = 1_767_225_600_000;
const CATEGORIES: [&str; 20] = [
    "porte-interieure",
    "porte-exterieure",
    "fenetre",
    "volet",
    "radiateur",
    "sanitaire",
    "evier",
    "baignoire",
    "parquet",
    "carrelage",
    "faience",
    "tuile",
    "brique",
    "garde-corps",
    "grille",
    "plaque-platre",
    "beton",
    "bois-charpente",
    "mobilier",
    "luminaire",
];
const QUARTIERS: [(&str, &str); 8] = [
    ("Coteaux", "68224"),
    ("Drouot-Jonquilles", "68224"),
    ("Péricentre-Fonderie", "68224"),
    ("Bourtzwiller", "68224"),
    ("Markstein-La Forêt", "68376"),
    ("Centre", "68376"),
    ("Illberg", "68154"),
    ("Île Napoléon", "68300"),
];

/// A small deterministic generator (xorshift), so that every run measures the same data.
struct Seq(u64);

impl Seq {
    fn next(&mut self, below: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % below as u64) as usize
    }
}

fn month_of(i: usize) -> (String, i64) {
    let (year, month) = (2024 + i / 12, i % 12 + 1);
    // Days to the first of the month, from 2024-01-01 (2024 is a leap year).
    const DAYS: [i64; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let leap = i64::from(month > 2 && year == 2024);
    let days = (year as i64 - 2024) * 366 + DAYS[month - 1] + leap;
    (format!("{year:04}-{month:02}"), FROM + days * 86_400_000)
}

async fn load(db: &Db) -> Vec<Uuid> {
    let sites: Vec<Uuid> = (0..SITES).map(|_| Uuid::now_v7()).collect();
    let partners: Vec<Uuid> = (0..PARTNERS).map(|_| Uuid::now_v7()).collect();
    let mut tx = db.begin_write().await.unwrap();
    for (i, id) in sites.iter().enumerate() {
        let (quartier, insee) = QUARTIERS[i % QUARTIERS.len()];
        sqlx::query(
            "INSERT INTO sites (id, display_name, owner_org, quartier, commune, insee_code, \
             latitude, longitude, version) VALUES ($1, $2, 'org', $3, 'Commune', $4, 47.75, 7.33, 1)",
        )
        .bind(id.to_string())
        .bind(format!("Site {i}"))
        .bind(quartier)
        .bind(insee)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    let mut seq = Seq(0x9e37_79b9_7f4a_7c15);
    let mut rows = Vec::with_capacity(500);
    for n in 0..HANDOVERS {
        let site = seq.next(SITES);
        let partner = (site * 7 + seq.next(5)) % PARTNERS;
        let category = CATEGORIES[(site * 3 + seq.next(12)) % CATEGORIES.len()];
        let month = seq.next(24);
        let (key, start) = month_of(month);
        let at = start + (seq.next(27 * 86_400) as i64) * 1000;
        let mass = 1_000 + seq.next(500_000) as i64;
        rows.push(format!(
            "('{}', {at}, '{key}', '{}', '{}', '{category}', {mass}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, 1)",
            Uuid::now_v7(),
            sites[site],
            partners[partner],
            mass / 2,
            mass / 5,
            mass / 10,
            mass / 10,
            mass / 20,
            mass,
            mass / 100,
            mass / 3,
            seq.next(600) as i64,
            seq.next(4) as i64,
            i64::from(seq.next(10) == 0),
        ));
        if rows.len() == 500 || n + 1 == HANDOVERS {
            let sql = format!(
                "INSERT INTO contributions (claim_id, handed_over_at, month, site_id, partner_id, \
                 category, handed_g, reused_g, refurbished_g, resold_g, recycled_g, disposed_g, \
                 gross_g, transport_g, without_factor_g, minutes, people, lots, claims) VALUES {}",
                rows.join(", ")
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut *tx)
                .await
                .unwrap();
            rows.clear();
        }
    }
    let sums: Vec<String> = reemploi_impact::model::VALUE_COLUMNS
        .iter()
        .map(|c| format!("SUM({c})"))
        .collect();
    let cols = reemploi_impact::model::VALUE_COLUMNS.join(", ");
    for (table, keys) in reemploi_impact::repo::SUMS {
        let keys = keys.join(", ");
        let sql = format!(
            "INSERT INTO {table} (month, {keys}, {cols}) SELECT month, {keys}, {} \
             FROM contributions GROUP BY month, {keys}",
            sums.join(", ")
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    sites
}

const BASELINE: &str = "SELECT s.quartier AS quartier, c.month AS month, SUM(c.handed_g) AS handed_g, \
    SUM(c.reused_g) AS reused_g, SUM(c.refurbished_g) AS refurbished_g, SUM(c.resold_g) AS resold_g, \
    SUM(c.recycled_g) AS recycled_g, SUM(c.disposed_g) AS disposed_g, SUM(c.gross_g) AS gross_g, \
    SUM(c.transport_g) AS transport_g, SUM(c.without_factor_g) AS without_factor_g, \
    SUM(c.minutes) AS minutes, SUM(c.people) AS people, SUM(c.lots) AS lots, SUM(c.claims) AS claims, \
    COUNT(DISTINCT c.partner_id) AS partners \
    FROM contributions c JOIN sites s ON s.id = c.site_id \
    WHERE c.handed_over_at >= $1 AND c.handed_over_at < $2 GROUP BY s.quartier, c.month";

fn percentile(times: &mut [Duration], p: f64) -> Duration {
    times.sort();
    times[((times.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&Db::sqlite_url(dir.path(), "impact").unwrap())
        .await
        .unwrap();
    db.migrate(&migrations()).await.unwrap();
    let started = Instant::now();
    load(&db).await;
    eprintln!(
        "loaded {HANDOVERS} hand-overs in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let impact = Impact::new(db.clone(), Factors::shipped().unwrap(), 1607);
    let admin = Principal {
        subject: "bench".into(),
        role: Role::Admin,
        org: None,
        partner: None,
    };
    let req = pb::GetImpactSummaryRequest {
        start_time: Some(millis_ts(FROM)),
        end_time: Some(millis_ts(UNTIL)),
        group_by: vec![pb::Grouping::Quartier as i32, pb::Grouping::Month as i32],
        ..Default::default()
    };
    // The same answer both ways, first.
    let summary = impact.summary(&admin, &req).await.unwrap();
    let rows = sqlx::query(BASELINE)
        .bind(FROM)
        .bind(UNTIL)
        .fetch_all(db.pool())
        .await
        .unwrap();
    assert_eq!(summary.groups.len(), rows.len());
    for (group, row) in summary.groups.iter().zip(&rows) {
        let f = group.figures.unwrap();
        assert_eq!(
            group.keys,
            [
                row.get::<String, _>("quartier"),
                row.get::<String, _>("month")
            ]
        );
        assert_eq!(f.handed_over_mass_g, row.get::<i64, _>("handed_g"));
        assert_eq!(f.co2e_gross_g, row.get::<i64, _>("gross_g"));
        assert_eq!(f.insertion_minutes, row.get::<i64, _>("minutes"));
        assert_eq!(f.partners, row.get::<i64, _>("partners"));
    }
    let total: i64 = summary
        .groups
        .iter()
        .map(|g| g.figures.unwrap().claims)
        .sum();
    assert_eq!(total, HANDOVERS as i64);

    let mut service = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        std::hint::black_box(impact.summary(&admin, &req).await.unwrap());
        service.push(t.elapsed());
    }
    let mut baseline = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        std::hint::black_box(
            sqlx::query(BASELINE)
                .bind(FROM)
                .bind(UNTIL)
                .fetch_all(db.pool())
                .await
                .unwrap(),
        );
        baseline.push(t.elapsed());
    }
    let (s50, s99) = (
        percentile(&mut service, 0.5),
        percentile(&mut service, 0.99),
    );
    let (b50, b99) = (
        percentile(&mut baseline, 0.5),
        percentile(&mut baseline, 0.99),
    );
    println!(
        "GetImpactSummary, {HANDOVERS} hand-overs, by quartier and month ({} groups), SQLite",
        summary.groups.len()
    );
    println!(
        "  service  (monthly sums)  p50 {:8.2} ms  p99 {:8.2} ms  (200 runs)",
        ms(s50),
        ms(s99)
    );
    println!(
        "  baseline (GROUP BY raw)  p50 {:8.2} ms  p99 {:8.2} ms  (10 runs)",
        ms(b50),
        ms(b99)
    );
    println!(
        "  ratio of medians: {:.1}x faster (goal: at least 10x)",
        b50.as_secs_f64() / s50.as_secs_f64()
    );
    println!(
        "  p99 goal: under 20 ms: {}",
        if ms(s99) < 20.0 { "met" } else { "NOT met" }
    );
}
