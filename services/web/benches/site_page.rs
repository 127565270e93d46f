//! What the site page costs: the page of a site with 1,000 lots, rendered
//! by the web app for a signed-in site manager, against a static page of
//! the same bytes served by the same process, under the same load.
//!
//! In one run, in this process: the identity and inventory services
//! (SQLite, in-process bus, rate limits off) and the web app in front of
//! them twice: as `reemploi up` runs it, following the bus and so keeping
//! the pages it rendered while they are still true, and as a
//! `reemploi-web` given no bus runs it, rendering every view. The first
//! has one extra route serving, from memory, the HTML the site page
//! answered (same size, no API call, no rendering). A site manager's site
//! holds 1,000 lots (700 published, 300 drafts). `wrk` (Debian's package)
//! loads each page for 5 alternating rounds; the median throughput and
//! median p99 latency of each are printed, with the ratios and the goals
//! (p99 under 50 ms, at least 0.3 of the static page's throughput, the
//! page under 150 KB) for the page as served; the page rendered at every
//! view is printed beside it, for what a view costs when nothing is kept.
//!
//! ```text
//! cargo bench -p reemploi-web --bench site_page
//! ```
//!
//! `SITE_BENCH_SECS` sets the length of one round (default 3 s),
//! `SITE_BENCH_CONNECTIONS` the connections wrk keeps open (default 8).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::error::Error;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;

use axum::routing::get;
use reemploi_events::{Bus, InProcessBus};
use reemploi_proto::identity as idpb;
use reemploi_proto::identity::identity_service_client::IdentityServiceClient;
use reemploi_proto::inventory as ipb;
use reemploi_proto::inventory::inventory_service_client::InventoryServiceClient;
use reemploi_proto::types as tpb;
use reemploi_runtime::auth::Role;
use reemploi_runtime::limit::RateLimits;
use reemploi_runtime::service::Context;
use reemploi_testing::grpc::{self as testing, Bearer};
use reemploi_web::session::{SESSION_COOKIE, Sealer, Session};
use reemploi_web::{Endpoints, WebArgs, WebState};
use tokio_util::sync::CancellationToken;

type BoxError = Box<dyn Error + Send + Sync>;
type Res<T> = Result<T, BoxError>;

const LOTS: usize = 1000;
const PUBLISHED: usize = 700;
const ROUNDS: usize = 5;
const KEY: [u8; 32] = [7; 32];
const PASSWORD: &str = "radiateurs-en-fonte-1932";
const P99_GOAL_MS: f64 = 50.0;
const RATIO_GOAL: f64 = 0.3;
const WEIGHT_GOAL: usize = 150 * 1024;

fn main() -> Res<()> {
    let env = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let secs: u32 = env("SITE_BENCH_SECS", "3").parse()?;
    let connections: u32 = env("SITE_BENCH_CONNECTIONS", "8").parse()?;
    if Command::new("wrk").arg("--version").output().is_err() {
        return Err("wrk is not installed: apt-get install wrk".into());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(secs, connections))
}

/// A context on a fresh SQLite database of `dir`, without rate limits.
async fn context(dir: &std::path::Path, name: &str, bus: Arc<dyn Bus>) -> Res<Context> {
    let url = reemploi_store::Db::sqlite_url(dir, name)?;
    let db = reemploi_store::Db::connect(&url).await?;
    let mut ctx = testing::context(db, bus);
    ctx.auth = ctx.auth.with_rate_limits(RateLimits::none());
    ctx.data_dir = dir.join(name);
    Ok(ctx)
}

async fn run(secs: u32, connections: u32) -> Res<()> {
    let dir = tempfile::tempdir()?;
    let bus: Arc<dyn Bus> = Arc::new(InProcessBus::temporary().await?);
    let id_ctx = context(dir.path(), "identity", bus.clone()).await?;
    let identity = reemploi_identity::start(id_ctx.clone(), &Default::default()).await?;
    let identity = testing::spawn(&id_ctx, vec![identity]).await;
    let mut inv_ctx = context(dir.path(), "inventory", bus.clone()).await?;
    inv_ctx.auth = id_ctx.auth.clone();
    let inventory = reemploi_inventory::start(inv_ctx.clone(), &Default::default()).await?;
    let inventory = testing::spawn(&inv_ctx, vec![inventory]).await;

    let session = signed_in_manager(identity.addr)
        .await
        .map_err(|e| format!("signing in: {e}"))?;
    let site = site_with_lots(inventory.addr, &session.access_token)
        .await
        .map_err(|e| format!("making the site: {e}"))?;
    let url = |addr: SocketAddr| format!("http://{addr}");
    // The site page calls identity and inventory only; the other
    // addresses are never dialled.
    let endpoints = Endpoints {
        identity: url(identity.addr),
        inventory: url(inventory.addr),
        registry: url(inventory.addr),
        matching: url(inventory.addr),
        impact: url(inventory.addr),
        notify: url(inventory.addr),
        ..Endpoints::all("")
    };
    let args = WebArgs {
        cookie_key: Some(KEY.iter().map(|b| format!("{b:02x}")).collect()),
        ..WebArgs::default()
    };
    let kept = WebState::new(&args, &endpoints, dir.path())?;
    let stop = CancellationToken::new();
    kept.keep_pages(&*bus, stop.clone()).await?;
    let rendering = WebState::new(&args, &endpoints, dir.path())?;
    let cookie = format!(
        "{SESSION_COOKIE}={}",
        Sealer::new(&KEY).seal_session(&Session::from_proto(session, "banc".into())?)?
    );
    let site_path = format!("/chantiers/{}", site.rsplit('/').next().unwrap_or_default());
    let (web, shutdown, page) = serve(kept, &site_path, &cookie).await?;
    let (plain, plain_shutdown, plain_page) = serve(rendering, &site_path, &cookie).await?;
    if plain_page != page {
        return Err("the page kept and the page rendered differ".into());
    }
    report_page(&page);

    let mut rounds = Rounds::default();
    for _ in 0..ROUNDS {
        let load = |web, path| wrk(web, path, &cookie, secs, connections);
        rounds.served.push(load(web, &site_path).await?);
        rounds.fixed.push(load(web, "/banc/statique").await?);
        rounds.rendered.push(load(plain, &site_path).await?);
    }
    rounds.report(secs, connections);
    shutdown.cancel();
    plain_shutdown.cancel();
    stop.cancel();
    Ok(())
}

/// The web app on port 0, with `/banc/statique` answering the bytes the
/// site page answers now; its address, its shutdown and that page.
async fn serve(
    state: WebState,
    site_path: &str,
    cookie: &str,
) -> Res<(SocketAddr, CancellationToken, String)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let web = listener.local_addr()?;
    let page = reqwest::Client::new()
        .get(format!("http://{web}{site_path}"))
        .header("cookie", cookie)
        .send();
    let shutdown = CancellationToken::new();
    // Set once the site page has answered, before any load.
    let fixed: Arc<tokio::sync::OnceCell<String>> = Arc::new(tokio::sync::OnceCell::new());
    let served = fixed.clone();
    let app = reemploi_web::router(state)
        .route(
            "/banc/statique",
            get(move || {
                let served = served.clone();
                async move { axum::response::Html(served.get().cloned().unwrap_or_default()) }
            }),
        )
        .into_make_service_with_connect_info::<SocketAddr>();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
    });
    let response = page.await?;
    if !response.status().is_success() {
        return Err(format!("the site page answered {}", response.status()).into());
    }
    let html = response.text().await?;
    fixed
        .set(html.clone())
        .map_err(|_| "the static page was set twice")?;
    Ok((web, shutdown, html))
}

/// A site manager of `m2a-habitat` invited and signed in; the session.
async fn signed_in_manager(identity: SocketAddr) -> Res<idpb::Session> {
    let mut admin = IdentityServiceClient::with_interceptor(
        testing::channel(identity).await,
        Bearer(Some(testing::token(Role::Admin, None, None))),
    );
    let invitation = admin
        .create_invitation(idpb::CreateInvitationRequest {
            invitation: Some(idpb::Invitation {
                email: "cheffe@m2a-habitat.example".into(),
                role: idpb::AccountRole::SiteManager as i32,
                org: "m2a-habitat".into(),
                ..Default::default()
            }),
        })
        .await?
        .into_inner();
    let session = IdentityServiceClient::new(testing::channel(identity).await)
        .accept_invitation(idpb::AcceptInvitationRequest {
            code: invitation.code,
            password: PASSWORD.into(),
            display_name: "Cheffe de projet".into(),
        })
        .await?
        .into_inner();
    Ok(session)
}

/// A site of [`LOTS`] lots of varied designations, [`PUBLISHED`] of them
/// published; the site's name.
async fn site_with_lots(inventory: SocketAddr, token: &str) -> Res<String> {
    let mut client = InventoryServiceClient::with_interceptor(
        testing::channel(inventory).await,
        Bearer(Some(token.to_owned())),
    );
    let site = client
        .create_site(ipb::CreateSiteRequest {
            site: Some(ipb::Site {
                display_name: "Coteaux – démolition tour A".into(),
                location: Some(tpb::GeoPoint {
                    latitude: 47.746,
                    longitude: 7.301,
                }),
                ..Default::default()
            }),
            request_id: String::new(),
            site_id: String::new(),
        })
        .await?
        .into_inner()
        .name;
    let kinds = [
        ("Radiateur fonte à colonnes", "radiateur"),
        ("Porte intérieure bois 83x204", "porte-interieure"),
        ("Lavabo céramique", "sanitaire"),
    ];
    let requests = (0..LOTS)
        .map(|i| {
            let (designation, category) = kinds[i % kinds.len()];
            ipb::CreateLotRequest {
                parent: site.clone(),
                lot: Some(ipb::Lot {
                    designation: format!("{designation} — logement {}", i + 1),
                    category: category.into(),
                    reference: format!("M{}", i + 1),
                    quantity: Some(tpb::Quantity {
                        unit: tpb::Unit::Piece as i32,
                        milli: 1_000 * (1 + i as i64 % 40),
                    }),
                    estimated_mass_g: 35_000,
                    ..Default::default()
                }),
                request_id: String::new(),
                lot_id: String::new(),
            }
        })
        .collect();
    let lots = client
        .batch_create_lots(ipb::BatchCreateLotsRequest {
            parent: site.clone(),
            requests,
            request_id: String::new(),
        })
        .await?
        .into_inner()
        .lots;
    for lot in lots.iter().take(PUBLISHED) {
        client
            .publish_lot(ipb::PublishLotRequest {
                name: lot.name.clone(),
                etag: String::new(),
            })
            .await?;
    }
    Ok(site)
}

fn report_page(page: &str) {
    let cards = page.matches("<li id=\"lot-").count();
    println!(
        "site page of a site with {LOTS} lots: {} bytes ({:.1} KB, goal under {} KB: {}), {cards} lots on its first page",
        page.len(),
        page.len() as f64 / 1024.0,
        WEIGHT_GOAL / 1024,
        if page.len() < WEIGHT_GOAL {
            "met"
        } else {
            "NOT met"
        },
    );
}

/// One wrk round: requests per second and p99 latency in milliseconds.
async fn wrk(
    web: SocketAddr,
    path: &str,
    cookie: &str,
    secs: u32,
    connections: u32,
) -> Res<(f64, f64)> {
    let output = tokio::process::Command::new("wrk")
        .args([
            "-t",
            "2",
            "-c",
            &connections.to_string(),
            "-d",
            &format!("{secs}s"),
            "--latency",
        ])
        .args(["-H", &format!("Cookie: {cookie}")])
        .arg(format!("http://{web}{path}"))
        .output()
        .await?;
    let text = String::from_utf8_lossy(&output.stdout);
    if text.contains("Non-2xx") {
        return Err(format!("{path} answered errors under load:\n{text}").into());
    }
    let rate = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .ok_or_else(|| format!("no throughput in wrk's output:\n{text}"))?
        .trim()
        .parse::<f64>()?;
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .ok_or_else(|| format!("no p99 in wrk's output:\n{text}"))?;
    Ok((rate, millis(p99.trim())?))
}

/// wrk's latency ("812.00us", "12.34ms", "1.02s") in milliseconds.
fn millis(text: &str) -> Res<f64> {
    let (number, scale) = if let Some(n) = text.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return Err(format!("unreadable latency {text:?}").into());
    };
    Ok(number.parse::<f64>()? * scale)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Each round's throughput and p99 of the three pages.
#[derive(Default)]
struct Rounds {
    /// The site page as `reemploi up` serves it: kept while still true.
    served: Vec<(f64, f64)>,
    /// The same bytes from memory.
    fixed: Vec<(f64, f64)>,
    /// The site page rendered at every view.
    rendered: Vec<(f64, f64)>,
}

impl Rounds {
    fn report(&self, secs: u32, connections: u32) {
        let rate = |r: &[(f64, f64)]| median(r.iter().map(|x| x.0).collect());
        let p99 = |r: &[(f64, f64)]| median(r.iter().map(|x| x.1).collect());
        let base = rate(&self.fixed);
        println!(
            "wrk, {connections} connections, {ROUNDS} alternating rounds of {secs} s, medians:"
        );
        let line = |what: &str, r: &[(f64, f64)]| {
            println!(
                "  {what:<34}{:>9.0} req/s, p99 {:>7.2} ms, {:.3} of static",
                rate(r),
                p99(r),
                rate(r) / base
            );
        };
        line("same bytes, static (base):", &self.fixed);
        line("site page, as served (kept):", &self.served);
        line("site page, rendered at every view:", &self.rendered);
        let met = |ok: bool| if ok { "met" } else { "NOT met" };
        let ratio = rate(&self.served) / base;
        println!(
            "  as served: ratio {ratio:.3} (goal: at least {RATIO_GOAL}) {}; p99 goal under {P99_GOAL_MS} ms {}",
            met(ratio >= RATIO_GOAL),
            met(p99(&self.served) < P99_GOAL_MS)
        );
    }
}
