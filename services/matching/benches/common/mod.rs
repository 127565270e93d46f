//! What the matching benchmarks share: the lots they publish, the warm-up
//! that proves matching knows every partner, and latency figures.

use std::time::Duration;

use reemploi_e2e::{Stack, eventually};
use reemploi_proto::inventory as ipb;
use reemploi_proto::matching as mpb;
use reemploi_proto::types as tpb;
use reemploi_runtime::auth::Role;

/// Runs the benchmark `name` on a tokio runtime, with warnings logged to
/// stderr, or says why it is skipped: it needs PostgreSQL and NATS.
pub fn main(name: &str, bench: impl std::future::Future<Output = ()>) {
    let missing: Vec<&str> = ["DATABASE_URL", "NATS_URL"]
        .into_iter()
        .filter(|v| std::env::var(v).map_or(true, |s| s.is_empty()))
        .collect();
    if !missing.is_empty() {
        println!(
            "{name} bench skipped: set {} (e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
             NATS_URL=nats://127.0.0.1:4222)",
            missing.join(" and ")
        );
        return;
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(bench);
}

/// The organisation of the benchmark's site.
pub const ORG: &str = "m2a-habitat";

/// Cast-iron radiators, 60 kg a piece.
pub fn radiators(pieces: i64) -> ipb::Lot {
    ipb::Lot {
        designation: "Radiateurs fonte".into(),
        category: "radiateur".into(),
        quantity: Some(tpb::Quantity {
            unit: tpb::Unit::Piece as i32,
            milli: pieces * 1000,
        }),
        estimated_mass_g: pieces * 60_000,
        ..Default::default()
    }
}

/// Publishes a warm-up lot on `site` and waits until matching ranks all
/// `partners` for it and `proposed` says its proposal reached the
/// benchmark's observer: from then on, what is measured is matching's work.
pub async fn warm_up(stack: &Stack, site: &str, partners: usize, proposed: impl Fn(&str) -> bool) {
    let mut manager = stack.inventory(Role::SiteManager, Some(ORG), None).await;
    let warmup = manager
        .create_lot(ipb::CreateLotRequest {
            parent: site.to_string(),
            lot: Some(radiators(20)),
            request_id: String::new(),
            lot_id: String::new(),
        })
        .await
        .expect("create warm-up lot")
        .into_inner()
        .name;
    manager
        .publish_lot(ipb::PublishLotRequest {
            name: warmup.clone(),
            etag: String::new(),
        })
        .await
        .expect("publish warm-up lot");
    let matching = stack.matching(0, Role::Admin, None, None).await;
    eventually(Duration::from_secs(30), || {
        let mut m = matching.clone();
        let req = mpb::ListLotMatchesRequest {
            lot: warmup.clone(),
            page_size: 50,
        };
        async move {
            let n = m
                .list_lot_matches(req)
                .await
                .ok()?
                .into_inner()
                .matches
                .len();
            (n == partners).then_some(())
        }
    })
    .await;
    eventually(Duration::from_secs(30), || {
        let seen = proposed(&warmup);
        async move { seen.then_some(()) }
    })
    .await;
}

/// The `p` quantile of latencies, a lost one counting as the slowest.
pub fn percentile(v: &[Option<Duration>], p: f64) -> Option<Duration> {
    let mut sorted = v.to_vec();
    sorted.sort_by_key(|d| (d.is_none(), *d));
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).copied().flatten()
}

/// A latency in milliseconds, or "lost".
pub fn fmt(d: Option<Duration>) -> String {
    d.map_or("lost".into(), |d| {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    })
}
