//! End-to-end tests of the real `reemploi` binary.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use reemploi_proto::inventory as pb;
use reemploi_proto::inventory::inventory_service_client::InventoryServiceClient;
use serde_json::Value;
use tonic::metadata::MetadataValue;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

#[path = "cli/backup.rs"]
mod backup;
#[path = "cli/commands.rs"]
mod commands;
#[path = "cli/imports.rs"]
mod imports;
#[path = "cli/names.rs"]
mod names;
#[path = "cli/needs.rs"]
mod needs;
#[path = "cli/notifications.rs"]
mod notifications;
#[path = "cli/plan.rs"]
mod plan;
#[path = "cli/proposals.rs"]
mod proposals;
#[path = "cli/slots.rs"]
mod slots;
#[path = "cli/webhooks.rs"]
mod webhooks;

const BIN: &str = env!("CARGO_BIN_EXE_reemploi");

/// A running `reemploi up`; killed if the test fails before stopping it.
struct Up {
    child: Child,
    addr: SocketAddr,
    /// What it printed on stdout before its address: the first admin's
    /// invitation, the demo accounts and their password.
    stdout: String,
    /// The web app's URL, once printed (after the address).
    web: Arc<Mutex<Option<String>>>,
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn up_demo(data_dir: &Path) -> Up {
    up_demo_on(data_dir, None)
}

/// `reemploi up --demo`, on SQLite files under `data_dir`, or on one
/// PostgreSQL database shared by every service when `database_url` is given.
fn up_demo_on(data_dir: &Path, database_url: Option<&str>) -> Up {
    let mut args = vec!["--demo"];
    if let Some(url) = database_url {
        args.extend(["--database-url", url]);
    }
    up_with(data_dir, &args).0
}

/// `reemploi up` on port 0 with SQLite files under `data_dir` and `extra`
/// flags; also returns what it logs (stderr), collected as it comes.
fn up_with(data_dir: &Path, extra: &[&str]) -> (Up, Arc<Mutex<String>>) {
    let mut child = Command::new(BIN)
        .args([
            "up",
            "--listen",
            "127.0.0.1:0",
            "--web-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data_dir)
        .args(extra)
        .env_remove("DATABASE_URL")
        .env_remove("NATS_URL")
        .env_remove("REEMPLOI_JWT_SECRET")
        .env_remove("REEMPLOI_JWT_PUBLIC_KEY")
        // With the access log (a line per call, at debug), which a test
        // reads.
        .env("RUST_LOG", "info,reemploi_runtime::server=debug")
        // Piped stderr would get JSON; these tests read the readable lines.
        .env("REEMPLOI_LOG_FORMAT", "pretty")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let web = Arc::new(Mutex::new(None));
    // Keep draining both streams so the child never blocks on a full pipe.
    std::thread::spawn({
        let web = web.clone();
        move || {
            let mut printed = String::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if let Some(url) = line.strip_prefix("web app on ") {
                    *web.lock().unwrap() = Some(url.trim().to_owned());
                } else if let Some(addr) = line.strip_prefix("listening on ") {
                    let addr = addr.trim().parse::<SocketAddr>().unwrap();
                    let _ = tx.send((addr, std::mem::take(&mut printed)));
                } else {
                    printed.push_str(&line);
                    printed.push('\n');
                }
            }
        }
    });
    let logs = Arc::new(Mutex::new(String::new()));
    std::thread::spawn({
        let logs = logs.clone();
        move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                // Shown as well, as an inherited stderr would be.
                eprintln!("{line}");
                let mut logs = logs.lock().unwrap();
                logs.push_str(&line);
                logs.push('\n');
            }
        }
    });
    let (addr, printed) = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(got) => got,
        Err(e) => {
            let _ = child.kill();
            panic!(
                "reemploi up did not print its address: {e}\n{}",
                logs.lock().unwrap()
            );
        }
    };
    (
        Up {
            child,
            addr,
            stdout: printed,
            web,
        },
        logs,
    )
}

fn token(data_dir: &Path, role: &str) -> String {
    let out = Command::new(BIN)
        .args(["token", "--role", role, "--data-dir"])
        .arg(data_dir)
        .env_remove("REEMPLOI_JWT_SECRET")
        .output()
        .unwrap();
    assert!(out.status.success(), "token failed: {out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.ends_with('\n'));
    assert_eq!(text.lines().count(), 1, "only the token is printed");
    text.trim().to_owned()
}

async fn list_lots(addr: SocketAddr, token: &str) -> Vec<pb::Lot> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let bearer: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
    let mut client =
        InventoryServiceClient::with_interceptor(channel, move |mut req: tonic::Request<()>| {
            req.metadata_mut().insert("authorization", bearer.clone());
            Ok(req)
        });
    let mut lots = Vec::new();
    let mut page_token = String::new();
    loop {
        let resp = client
            .list_lots(pb::ListLotsRequest {
                parent: "sites/-".to_owned(),
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        lots.extend(resp.lots);
        if resp.next_page_token.is_empty() {
            return lots;
        }
        page_token = resp.next_page_token;
    }
}

/// The figures and the récolement of the demo site, as an integrator reads them.
async fn demo_figures(
    addr: SocketAddr,
    token: &str,
    site: &str,
) -> (
    reemploi_proto::impact::Figures,
    reemploi_proto::impact::Recolement,
) {
    use reemploi_proto::impact as ipb;
    use reemploi_proto::impact::impact_service_client::ImpactServiceClient;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let bearer: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
    let mut client =
        ImpactServiceClient::with_interceptor(channel, move |mut req: tonic::Request<()>| {
            req.metadata_mut().insert("authorization", bearer.clone());
            Ok(req)
        });
    let summary = client
        .get_impact_summary(ipb::GetImpactSummaryRequest::default())
        .await
        .unwrap()
        .into_inner();
    let recolement = client
        .export_recolement(ipb::ExportRecolementRequest {
            site: site.to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    // A few months of hand-overs: 95, 65, 35 and 3 days back.
    let by_month = client
        .get_impact_summary(ipb::GetImpactSummaryRequest {
            group_by: vec![ipb::Grouping::Month as i32],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(by_month.groups.len() >= 3, "{:?}", by_month.groups);
    (summary.total.unwrap(), recolement)
}

/// Kilometres between two points (haversine on the mean Earth radius).
fn km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (p1, p2) = (a.0.to_radians(), b.0.to_radians());
    let h = ((p2 - p1) / 2.0).sin().powi(2)
        + p1.cos() * p2.cos() * ((b.1 - a.1).to_radians() / 2.0).sin().powi(2);
    2.0 * 6_371_008.8 * h.sqrt().asin() / 1000.0
}

/// The demo's figures, by hand from demo_figures.rs, partners-sample.csv,
/// diagnostic-coteaux.csv and the shipped factors.
fn expected_demo_figures() -> reemploi_proto::impact::Figures {
    let site = (47.7460, 7.3010);
    // (kg weighed, where the structure is): radiators and doors to the
    // Atelier Réemploi Coteaux, railings to Bâti Insertion Sud-Alsace,
    // WC bowls to the Ressourcerie du Rhin.
    let trips = [
        (7_150.0, (47.7480, 7.3200)),
        (1_480.0, (47.7480, 7.3200)),
        (3_540.0, (47.7822, 7.3481)),
        (790.0, (47.7872, 7.3731)),
    ];
    let transport: i64 = trips
        .iter()
        .map(|(kg, at)| (kg / 1000.0 * km(site, *at) * 0.16 * 1000.0).round() as i64)
        .sum();
    // 100 of the 120 radiators refurbished: their share of 7,150 kg.
    let radiators = 7_150_000 * 100 / 120;
    // Only the steel railings have a factor: 3,200 kg x 2.211 kg CO2e/kg.
    let gross = 7_075_200;
    let without_factor = radiators + 1_200_000 + 280_000 + 600_000;
    let estimated_kg =
        6_000 + 24_600 + 3_600 + 7_400 + 9_300 + 83_600 + 71_400 + 23_000 + 4_500 + 7_440_000;
    reemploi_proto::impact::Figures {
        handed_over_mass_g: 12_960_000,
        reused_as_is_mass_g: 1_200_000,
        reused_refurbished_mass_g: radiators + 3_200_000,
        resold_mass_g: 880_000,
        recycled_mass_g: 7_150_000 - radiators,
        disposed_mass_g: 340_000,
        undeclared_mass_g: 190_000,
        estimated_mass_g: estimated_kg * 1000,
        reuse_rate: (1_200_000 + radiators + 3_200_000 + 880_000) as f64
            / (estimated_kg as f64 * 1000.0),
        co2e_gross_g: gross,
        co2e_transport_g: transport,
        co2e_net_g: gross - transport,
        without_factor_mass_g: without_factor,
        without_factor_share: without_factor as f64 / (without_factor + 3_200_000) as f64,
        // 40 + 120 + 16 + 8 + 40 + 5 hours; the most people on one activity per claim.
        insertion_minutes: 13_740,
        insertion_people: 4 + 3 + 3 + 2,
        fte: 229.0 / 1607.0,
        lots: 4,
        claims: 4,
        partners: 3,
    }
}

async fn list_partners(addr: SocketAddr, token: &str) -> Vec<reemploi_proto::registry::Partner> {
    use reemploi_proto::registry::registry_service_client::RegistryServiceClient;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let bearer: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
    let mut client =
        RegistryServiceClient::with_interceptor(channel, move |mut req: tonic::Request<()>| {
            req.metadata_mut().insert("authorization", bearer.clone());
            Ok(req)
        });
    client
        .list_partners(reemploi_proto::registry::ListPartnersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .partners
}

async fn lot_matches(
    addr: SocketAddr,
    token: &str,
    lot: &str,
) -> Result<Vec<reemploi_proto::matching::Match>, tonic::Status> {
    use reemploi_proto::matching::matching_service_client::MatchingServiceClient;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let bearer: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
    let mut client =
        MatchingServiceClient::with_interceptor(channel, move |mut req: tonic::Request<()>| {
            req.metadata_mut().insert("authorization", bearer.clone());
            Ok(req)
        });
    client
        .list_lot_matches(reemploi_proto::matching::ListLotMatchesRequest {
            lot: lot.to_owned(),
            page_size: 10,
        })
        .await
        .map(|r| r.into_inner().matches)
}

fn verified(partners: &[reemploi_proto::registry::Partner]) -> usize {
    partners
        .iter()
        .filter(|p| p.status == reemploi_proto::registry::PartnerStatus::Verified as i32)
        .count()
}

fn published(lots: &[pb::Lot]) -> usize {
    lots.iter()
        .filter(|l| l.status == pb::LotStatus::Published as i32)
        .count()
}

fn stop(mut up: Up) {
    let status = Command::new("kill")
        .args(["-TERM", &up.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = up.child.try_wait().unwrap() {
            assert!(status.success(), "reemploi up exited with {status}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "reemploi up did not stop within 15 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_runs_every_service_in_one_postgres_database() {
    let db = reemploi_testing::db::fresh(reemploi_store::Backend::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let up = up_demo_on(dir.path(), Some(&db.url));
    let token = token(dir.path(), "integrator");
    let lots = list_lots(up.addr, &token).await;
    assert_eq!(lots.len(), 10);
    assert_eq!(published(&lots), 9);
    let partners = list_partners(up.addr, &token).await;
    assert_eq!(verified(&partners), 5);
    stop(up);
    // Each service keeps its tables in its own schema of that one database.
    let schemas: Vec<String> = sqlx::query_scalar(
        "SELECT schema_name::text FROM information_schema.schemata \
         WHERE schema_name IN ('inventory', 'registry', 'matching') ORDER BY 1",
    )
    .fetch_all(db.db.pool())
    .await
    .unwrap();
    assert_eq!(schemas, ["inventory", "matching", "registry"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_demo_serves_lots_health_and_restarts_idempotently() {
    let dir = tempfile::tempdir().unwrap();

    let up = up_demo(dir.path());
    let token = token(dir.path(), "integrator");
    let lots = list_lots(up.addr, &token).await;
    assert_eq!(lots.len(), 10, "the Coteaux diagnostic has 10 lots");
    assert_eq!(
        published(&lots),
        9,
        "every lot but the asbestos one is published"
    );
    let m9: Vec<_> = lots.iter().filter(|l| l.hazardous).collect();
    assert_eq!(m9.len(), 1);
    assert_eq!(m9[0].status, pb::LotStatus::Draft as i32);

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", up.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    let partners = list_partners(up.addr, &token).await;
    assert_eq!(partners.len(), 5, "the m2A sample has 5 partners");
    let radiators = lots.iter().find(|l| l.category == "radiateur").unwrap();
    // Matching follows the events: give them a moment to arrive.
    let deadline = Instant::now() + Duration::from_secs(10);
    let matches = loop {
        match lot_matches(up.addr, &token, &radiators.name).await {
            // Both radiator takers, once their events have been applied.
            Ok(m) if m.len() >= 2 => break m,
            Ok(_) | Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            other => panic!("no matches for the radiators: {other:?}"),
        }
    };
    assert!(
        matches.len() >= 2,
        "the radiators match the partners that take them: {matches:?}"
    );
    assert_eq!(verified(&partners), 5, "the demo verifies them");
    let site = radiators.name.split("/lots/").next().unwrap().to_owned();
    let (figures, recolement) = demo_figures(up.addr, &token, &site).await;
    assert_eq!(figures, expected_demo_figures());
    let rows: Vec<_> = recolement
        .rows
        .iter()
        .map(|r| r.reference.as_str())
        .collect();
    assert_eq!(
        rows,
        ["M1", "M2", "M3", "M4", "M5", "M6", "M7", "M8", "M9", "M10"]
    );
    let m9 = &recolement.rows[8];
    assert!(m9.hazardous, "the asbestos row");
    assert_eq!(
        (m9.disposed_mass_g, m9.reused_elsewhere_mass_g),
        (4_500_000, 0)
    );
    for service in [
        "",
        "reemploi.inventory.v1.InventoryService",
        "reemploi.registry.v1.RegistryService",
        "reemploi.matching.v1.MatchingService",
        "reemploi.impact.v1.ImpactService",
    ] {
        let resp = health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            resp.status,
            ServingStatus::Serving as i32,
            "service {service:?}"
        );
    }
    drop(health);
    stop(up);

    let up = up_demo(dir.path());
    let lots = list_lots(up.addr, &token).await;
    assert_eq!(lots.len(), 10, "a second --demo adds nothing");
    assert_eq!(published(&lots), 9);
    let partners = list_partners(up.addr, &token).await;
    assert_eq!(partners.len(), 5, "nor partners");
    assert_eq!(verified(&partners), 5);
    let (again, _) = demo_figures(up.addr, &token, &site).await;
    assert_eq!(again, figures, "nor hand-overs, outcomes or hours");
    stop(up);
}

#[test]
fn token_with_wrong_role_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["token", "--role", "overlord", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "clap usage errors exit 2");
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--role"), "{err}");
    assert!(!dir.path().join("jwt-secret").exists());
}

#[test]
fn token_uses_the_given_secret_and_no_subcommand_prints_help() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args([
            "token",
            "--role",
            "admin",
            "--jwt-secret",
            "s3cret",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap().split('.').count(), 3);
    assert!(
        !dir.path().join("jwt-secret").exists(),
        "no file with --jwt-secret"
    );

    let out = Command::new(BIN).output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("Usage: reemploi"), "{help}");
}

// ---------------------------------------------------------------------
// The client commands, run as the real binary against a real `up`.
// ---------------------------------------------------------------------

/// How a client command is run: the server, the token, and a private
/// configuration file, so that neither the developer's environment nor
/// their ~/.config is read.
#[derive(Clone)]
struct Client {
    addr: String,
    token: Option<String>,
    config: PathBuf,
}

impl Client {
    fn new(addr: SocketAddr, token: &str, dir: &Path) -> Client {
        Client {
            addr: format!("http://{addr}"),
            token: Some(token.to_owned()),
            config: dir.join("config.toml"),
        }
    }

    fn as_token(&self, token: &str) -> Client {
        Client {
            token: Some(token.to_owned()),
            ..self.clone()
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env("REEMPLOI_ADDR", &self.addr)
            .env("REEMPLOI_CONFIG", &self.config)
            .env_remove("REEMPLOI_OUTPUT")
            .env_remove("XDG_CONFIG_HOME")
            .stdin(Stdio::null());
        match &self.token {
            Some(t) => cmd.env("REEMPLOI_TOKEN", t),
            None => cmd.env_remove("REEMPLOI_TOKEN"),
        };
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = self.command(args).output().unwrap();
        if let Some(token) = &self.token {
            for stream in [&out.stdout, &out.stderr] {
                assert!(
                    !String::from_utf8_lossy(stream).contains(token.as_str()),
                    "the token is never printed ({args:?})"
                );
            }
        }
        out
    }

    /// Runs a command that must succeed; returns its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "reemploi {args:?} failed with {:?}:\n{}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs a command with `--output json` that must succeed; parses stdout.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let text = self.ok(&all);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}):\n{text}"))
    }

    /// Like [`Client::json`] for commands answered from matching's
    /// projections, which follow the events a moment later: retried for up
    /// to 10 s while they fail.
    fn json_eventually(&self, args: &[&str]) -> Value {
        self.json_until(args, |_| true)
    }

    /// Like [`Client::json_eventually`], retried also while the answer is
    /// not yet `done` (a projection that knows the lot, not yet its last
    /// version); the last answer when time is up.
    fn json_until(&self, args: &[&str], done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        while Instant::now() < deadline {
            let out = self.run(&all);
            if out.status.success() {
                let value = serde_json::from_slice(&out.stdout).unwrap();
                if done(&value) {
                    return value;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.json(args)
    }

    /// Runs a command that must fail with `code`; returns its stderr.
    fn fails(&self, code: i32, args: &[&str]) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.code(),
            Some(code),
            "reemploi {args:?}: stdout {}\nstderr {stderr}",
            String::from_utf8_lossy(&out.stdout)
        );
        stderr
    }
}

fn token_for(data_dir: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(["token", "--data-dir"])
        .arg(data_dir)
        .args(args)
        .env_remove("REEMPLOI_JWT_SECRET")
        .output()
        .unwrap();
    assert!(out.status.success(), "token failed: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("no string {key} in {v}"))
}

/// A SIRET with a valid Luhn key: the 13 digits given, then the check digit.
fn siret(prefix13: &str) -> String {
    assert_eq!(prefix13.len(), 13);
    for check in 0..10u32 {
        let s = format!("{prefix13}{check}");
        let sum: u32 = s
            .bytes()
            .rev()
            .enumerate()
            .map(|(i, b)| {
                let d = u32::from(b - b'0');
                if i % 2 == 1 {
                    let dd = d * 2;
                    if dd > 9 { dd - 9 } else { dd }
                } else {
                    d
                }
            })
            .sum();
        if sum.is_multiple_of(10) {
            return s;
        }
    }
    unreachable!()
}

/// The demo partners (demo/partners-sample.csv) written as an SIAE
/// directory export, with coordinates and categories, under new SIRETs
/// (the demo registered the sample's own); `without_coordinates` adds a
/// row the API cannot take, on line 7.
fn siae_csv(without_coordinates: bool) -> String {
    let sample = include_str!("../../../demo/partners-sample.csv");
    let mut csv = String::from(
        "siret,type,raison_sociale,enseigne,addresse_ligne_1,code_postal,ville,departement,\
         site_web,description,latitude,longitude,categories,weekly_intake_kg\n",
    );
    for (i, line) in sample.lines().skip(1).enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        // name,kind,siret,commune,insee,lat,lon,categories,capacity,radius,fte
        csv.push_str(&format!(
            "{},{},{} (import),,1 rue du Test,68100,{},68,https://example.invalid,\"Structure, {i}\",{},{},{},{}\n",
            siret(&format!("81{i:011}")),
            f[1],
            f[0],
            f[3],
            f[5],
            f[6],
            f[7],
            f[8],
        ));
    }
    if without_coordinates {
        csv.push_str(&format!(
            "{},EI,Sans Coordonnées,,,68200,Mulhouse,68,,,,,tuile,100\n",
            siret("8299999999999")
        ));
    }
    csv
}

/// Checks the structure RFC 7946 gives a FeatureCollection of Points;
/// returns the features.
fn assert_rfc7946(doc: &Value) -> Vec<Value> {
    assert_eq!(doc["type"], "FeatureCollection");
    assert!(doc.get("crs").is_none(), "RFC 7946 removed `crs`");
    let features = doc["features"].as_array().expect("features is an array");
    for f in features {
        assert_eq!(f["type"], "Feature", "{f}");
        assert!(f["properties"].is_object(), "properties is an object: {f}");
        let g = &f["geometry"];
        assert_eq!(g["type"], "Point", "{f}");
        let c = g["coordinates"].as_array().expect("coordinates");
        assert_eq!(c.len(), 2, "a position is [longitude, latitude]: {f}");
        let (lon, lat) = (c[0].as_f64().unwrap(), c[1].as_f64().unwrap());
        assert!((-180.0..=180.0).contains(&lon), "{f}");
        assert!((-90.0..=90.0).contains(&lat), "{f}");
        // Everything here is in Mulhouse: longitude ~7.3, latitude ~47.7,
        // so swapped axes are caught.
        assert!(
            (7.0..8.0).contains(&lon) && (47.0..48.5).contains(&lat),
            "lon first: {f}"
        );
    }
    features.clone()
}

/// Réf, designation, category, quantity, unit, mass (kg), waste code, hazard.
type XlsxRow<'a> = (
    &'a str,
    &'a str,
    &'a str,
    f64,
    &'a str,
    f64,
    &'a str,
    &'a str,
);

fn write_xlsx(path: &Path) {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    let headers = [
        "Réf",
        "DÉSIGNATION",
        "Catégorie",
        "Quantité",
        "Unité",
        "Masse (kg)",
        "Code déchet",
        "Danger",
        "État",
    ];
    for (c, h) in headers.iter().enumerate() {
        ws.write_string(0, u16::try_from(c).unwrap(), *h).unwrap();
    }
    let rows: [XlsxRow; 3] = [
        (
            "X1",
            "Portes palières chêne",
            "porte-interieure",
            12.0,
            "u",
            480.0,
            "17 02 01",
            "",
        ),
        (
            "X2",
            "Radiateurs acier",
            "radiateur",
            30.0,
            "pce",
            900.5,
            "17 04 05",
            "non",
        ),
        (
            "X3",
            "Faux plafond amianté",
            "plaque-platre",
            55.5,
            "m²",
            600.0,
            "17 06 05*",
            "amiante",
        ),
    ];
    // Row 4 (the third data row) is left blank: spreadsheets have such
    // gaps, and line numbers must still be the ones the user sees.
    for (r, row) in rows.iter().enumerate() {
        let r = u32::try_from(if r == 2 { r + 2 } else { r + 1 }).unwrap();
        ws.write_string(r, 0, row.0).unwrap();
        ws.write_string(r, 1, row.1).unwrap();
        ws.write_string(r, 2, row.2).unwrap();
        ws.write_number(r, 3, row.3).unwrap();
        ws.write_string(r, 4, row.4).unwrap();
        ws.write_number(r, 5, row.5).unwrap();
        ws.write_string(r, 6, row.6).unwrap();
        ws.write_string(r, 7, row.7).unwrap();
        ws.write_string(r, 8, "bon").unwrap();
    }
    wb.save(path).unwrap();
}

#[test]
fn client_imports_diagnostics_and_partners_claims_and_exports_geojson() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let up = up_demo(&data);
    let admin = Client::new(up.addr, &token_for(&data, &["--role", "admin"]), dir.path());

    // A new site, then the Coteaux diagnostic CSV onto it.
    let site = admin.json(&[
        "sites",
        "create",
        "--name",
        "Coteaux – tour B",
        "--lat",
        "47.7455",
        "--lon",
        "7.3022",
        "--owner-org",
        "m2a-habitat",
        "--commune",
        "Mulhouse",
        "--insee",
        "68224",
    ]);
    let site = str_of(&site, "name").to_owned();
    let csv = dir.path().join("diagnostic-coteaux.csv");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../demo/diagnostic-coteaux.csv"),
        &csv,
    )
    .unwrap();
    let imported = admin.json(&["lots", "import", csv.to_str().unwrap(), "--site", &site]);
    let created = imported["created"].as_array().unwrap();
    assert_eq!(created.len(), 10, "{imported}");
    assert_eq!(created[0]["line"], 2);
    assert_eq!(created[0]["reference"], "M1");
    assert_eq!(created[0]["quantity"]["milli"], "240000");
    assert_eq!(created[0]["estimatedMassG"], "6000000");
    let hazardous = imported["hazardous"].as_array().unwrap();
    assert_eq!(hazardous.len(), 1, "{imported}");
    assert_eq!(hazardous[0]["line"], 10, "M9 is on line 10");
    assert!(str_of(&hazardous[0], "why").contains("asbestos"));
    let m9 = created.iter().find(|l| l["reference"] == "M9").unwrap();
    assert_eq!(m9["hazardous"], true);
    // The human report says it too.
    let m9_name = str_of(m9, "name").to_owned();
    let shown = admin.ok(&["lots", "show", &m9_name]);
    assert!(shown.contains("can never be published"), "{shown}");
    let err = admin.fails(1, &["lots", "publish", &m9_name]);
    assert!(err.contains("hazardous"), "{err}");

    // An XLSX with French headers (accents, capitals), a blank row, and a
    // hazardous row; published on import.
    let xlsx = dir.path().join("diagnostic.xlsx");
    write_xlsx(&xlsx);
    let site2 = admin.json(&[
        "sites",
        "create",
        "--name",
        "Bourtzwiller – barre 3",
        "--lat",
        "47.7700",
        "--lon",
        "7.3300",
        "--owner-org",
        "m2a-habitat",
    ]);
    let site2 = str_of(&site2, "name").to_owned();
    let out = admin.ok(&[
        "lots",
        "import",
        xlsx.to_str().unwrap(),
        "--site",
        &site2,
        "--publish",
    ]);
    assert!(out.contains("created 3 lot(s)"), "{out}");
    assert!(
        out.contains("hazardous: line 5 (Faux plafond amianté)")
            && out.contains("never be published"),
        "{out}"
    );
    let lots2 = admin.json(&["lots", "list", "--site", &site2]);
    let lots2 = lots2.as_array().unwrap();
    assert_eq!(lots2.len(), 3);
    let by_ref = |r: &str| lots2.iter().find(|l| l["reference"] == r).unwrap().clone();
    assert_eq!(by_ref("X1")["status"], "LOT_STATUS_PUBLISHED");
    assert_eq!(by_ref("X2")["quantity"]["milli"], "30000");
    assert_eq!(by_ref("X2")["estimatedMassG"], "900500");
    assert_eq!(by_ref("X3")["status"], "LOT_STATUS_DRAFT");
    assert_eq!(by_ref("X3")["quantity"]["unit"], "UNIT_SQUARE_METRE");

    // A file with bad rows: every one reported with its line; nothing
    // imported unless --skip-invalid, and then only the good rows.
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "designation;category;quantity;unit;mass_kg\n\
         Lavabos;sanitaire;12;u;180\n\
         Plinthes;parquet;40;furlong;\n\
         Tuiles;tuile;100;m2;3200\n\
         Fenêtres;fenetre-magique;-3;u;\n",
    )
    .unwrap();
    let site3 = admin.json(&[
        "sites",
        "create",
        "--name",
        "Drouot – îlot 2",
        "--lat",
        "47.7380",
        "--lon",
        "7.3150",
        "--owner-org",
        "m2a-habitat",
    ]);
    let site3 = str_of(&site3, "name").to_owned();
    let bad_path = bad.to_str().unwrap();
    for extra in [&[][..], &["--dry-run"][..]] {
        let mut args = vec!["lots", "import", bad_path, "--site", &site3];
        args.extend(extra);
        let err = admin.fails(6, &args);
        assert!(
            err.contains("bad.csv:3: unit: unknown unit \"furlong\""),
            "{err}"
        );
        assert!(
            err.contains("bad.csv:5: category") && err.contains("negative"),
            "{err}"
        );
        assert!(
            !err.contains("bad.csv:2:") && !err.contains("bad.csv:4:"),
            "{err}"
        );
    }
    let err = admin.fails(6, &["lots", "import", bad_path, "--site", &site3]);
    assert!(
        err.contains("--skip-invalid"),
        "says what to do next: {err}"
    );
    assert_eq!(
        admin.json(&["lots", "list", "--site", &site3]),
        Value::Array(vec![]),
        "nothing imported without --skip-invalid"
    );
    let partial = admin.json(&[
        "lots",
        "import",
        bad_path,
        "--site",
        &site3,
        "--skip-invalid",
    ]);
    let skipped: Vec<u64> = partial["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(skipped, vec![3, 5]);
    let names: Vec<&str> = partial["created"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| str_of(l, "designation"))
        .collect();
    assert_eq!(names, vec!["Lavabos", "Tuiles"]);
    assert_eq!(
        admin
            .json(&["lots", "list", "--site", &site3])
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Partners from an SIAE directory export: a row without coordinates
    // is a bad row; with --skip-invalid --verify the others are in.
    let siae = dir.path().join("siae.csv");
    std::fs::write(&siae, siae_csv(true)).unwrap();
    let siae_path = siae.to_str().unwrap();
    let err = admin.fails(6, &["partners", "import", siae_path]);
    assert!(
        err.contains("siae.csv:7: latitude/longitude: required"),
        "{err}"
    );
    let before = admin
        .json(&["partners", "list", "--limit", "0"])
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, 5, "nothing registered from a file with a bad row");
    let imported = admin.json(&[
        "partners",
        "import",
        siae_path,
        "--skip-invalid",
        "--verify",
    ]);
    let registered = imported["registered"].as_array().unwrap();
    assert_eq!(registered.len(), 5, "{imported}");
    assert!(
        registered
            .iter()
            .all(|p| p["status"] == "PARTNER_STATUS_VERIFIED")
    );
    assert_eq!(
        registered[0]["kinds"],
        serde_json::json!(["PARTNER_KIND_ACI"])
    );
    assert_eq!(
        registered[0]["serviceRadiusKm"], 30,
        "--default-radius-km's default"
    );
    assert_eq!(
        registered[1]["kinds"],
        serde_json::json!(["PARTNER_KIND_ACI", "PARTNER_KIND_RESSOURCERIE"])
    );
    // The same directory again registers nothing twice: each SIRET's
    // partner is found, and left as it is.
    let again = admin.json(&["partners", "import", siae_path, "--skip-invalid"]);
    assert_eq!(again["registered"], serde_json::json!([]), "{again}");
    assert_eq!(again["unchanged"].as_array().unwrap().len(), 5, "{again}");

    // The imported Atelier claims radiators of the XLSX site; the site
    // confirms and records the hand-over.
    let atelier = registered
        .iter()
        .find(|p| str_of(p, "legalName").starts_with("Atelier Réemploi Coteaux"))
        .unwrap();
    let atelier = str_of(atelier, "name").to_owned();
    let partner = admin.as_token(&token_for(
        &data,
        &["--role", "partner", "--partner", &atelier],
    ));
    let radiators = str_of(&by_ref("X2"), "name").to_owned();
    // The inventory learns of the verification through an event: give it
    // a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    let claim = loop {
        let out = partner.run(&[
            "claim",
            &radiators,
            "--partner",
            &atelier,
            "--quantity",
            "12",
            "--request-id",
            "claim-radiators-1",
            "--output",
            "json",
        ]);
        if out.status.success() {
            break serde_json::from_slice::<Value>(&out.stdout).unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "claim failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(claim["status"], "CLAIM_STATUS_RESERVED");
    assert_eq!(claim["quantity"]["milli"], "12000");
    let claim_name = str_of(&claim, "name").to_owned();
    // The retry names no partner: the partner's own token supplies it.
    let again = partner.json(&[
        "claim",
        &radiators,
        "--quantity",
        "12",
        "--request-id",
        "claim-radiators-1",
    ]);
    assert_eq!(
        again["name"], claim["name"],
        "a retry with the same request id claims once"
    );
    // An admin's token names no partner: the flag is required.
    let err = admin.fails(2, &["claim", &radiators, "--quantity", "1"]);
    assert!(err.contains("--partner is required"), "{err}");
    let confirmed = admin.json(&["claims", "confirm", &claim_name]);
    assert_eq!(confirmed["status"], "CLAIM_STATUS_CONFIRMED");
    let handed = admin.json(&["claims", "handover", &claim_name, "--mass-kg", "355.25"]);
    assert_eq!(handed["status"], "CLAIM_STATUS_HANDED_OVER");
    assert_eq!(handed["weighedMassG"], "355250");
    let listed = partner.json(&["claims", "list", "--partner", &atelier]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let lot = admin.json(&["lots", "show", &radiators]);
    assert_eq!(lot["handedOver"]["milli"], "12000");
    assert_eq!(lot["available"]["milli"], "18000");
    let human = admin.ok(&["claims", "list", "--lot", &radiators]);
    assert!(
        human.starts_with("NAME") && human.contains("handed_over"),
        "{human}"
    );

    // Matching answers through the CLI (tables and JSON).
    let plan = admin.json(&["plan", &site]);
    assert!(plan["allocations"].as_array().is_some(), "{plan}");
    assert!(
        plan["totalMassG"]
            .as_str()
            .is_some_and(|g| g.parse::<i64>().is_ok()),
        "{plan}"
    );
    // A site's plan is small enough for the search to prove it.
    assert_eq!(plan["optimal"], true, "{plan}");
    assert_eq!(plan["massBoundG"], plan["totalMassG"], "{plan}");
    let table = admin.ok(&["plan", &site]);
    assert!(
        table.contains("total:")
            && table.contains("tonne-km")
            && table.contains("optimal:")
            && table.contains("unallocated"),
        "{table}"
    );
    let _ = admin.json_eventually(&["matches", &radiators]);
    let _ = admin.json_eventually(&["recommend", &atelier]);

    // The map: published lots and verified partners, RFC 7946.
    let geojson = dir.path().join("map.geojson");
    admin.ok(&["export", "geojson", "--out", geojson.to_str().unwrap()]);
    let doc: Value = serde_json::from_slice(&std::fs::read(&geojson).unwrap()).unwrap();
    let features = assert_rfc7946(&doc);
    let published = admin.json(&["lots", "list", "--status", "published", "--limit", "0"]);
    let verified = admin.json(&["partners", "list", "--status", "verified", "--limit", "0"]);
    let kind = |k: &str| {
        features
            .iter()
            .filter(|f| f["properties"]["kind"] == k)
            .count()
    };
    assert_eq!(kind("lot"), published.as_array().unwrap().len());
    assert_eq!(kind("partner"), verified.as_array().unwrap().len());
    assert_eq!(kind("partner"), 10, "5 demo + 5 imported partners");
    let x1 = features
        .iter()
        .find(|f| f["properties"]["reference"] == "X1")
        .unwrap();
    assert_eq!(
        x1["geometry"]["coordinates"],
        serde_json::json!([7.33, 47.77])
    );
    assert_eq!(x1["properties"]["designation"], "Portes palières chêne");
    assert_eq!(x1["properties"]["quantity"], 12.0);
    assert_eq!(x1["properties"]["site"], site2.as_str());
    assert!(
        features
            .iter()
            .all(|f| f["properties"]["reference"] != "X3" && f["properties"]["reference"] != "M9"),
        "hazardous drafts are not on the map"
    );
    stop(up);
}

#[test]
fn each_exit_code_is_provoked_for_real() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let up = up_demo(&data);
    let admin = Client::new(up.addr, &token_for(&data, &["--role", "admin"]), dir.path());

    // 2: a usage error (clap's).
    let err = admin.fails(2, &["lots", "list", "--status", "bogus"]);
    assert!(err.contains("--status"), "{err}");
    admin.fails(2, &["claims", "handover"]);

    // 3: not found.
    let err = admin.fails(
        3,
        &["sites", "show", "01900000-0000-7000-8000-000000000000"],
    );
    assert!(
        err.contains("not found") && err.contains("reemploi sites list"),
        "{err}"
    );

    // 4: a partner token doing an admin's job, and no token at all.
    let partners = admin.json(&["partners", "list"]);
    let some_partner = str_of(&partners[0], "name").to_owned();
    let partner = admin.as_token(&token_for(
        &data,
        &["--role", "partner", "--partner", &some_partner],
    ));
    let err = partner.fails(4, &["partners", "verify", &some_partner]);
    assert!(err.contains("permission") || err.contains("admin"), "{err}");
    let anonymous = Client {
        token: None,
        ..admin.clone()
    };
    let err = anonymous.fails(4, &["sites", "list"]);
    assert!(
        err.contains("reemploi login"),
        "says what to do next: {err}"
    );

    // 5: nothing listens at the address.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let nowhere = Client {
        addr: format!("http://127.0.0.1:{port}"),
        ..admin.clone()
    };
    let err = nowhere.fails(5, &["lots", "list"]);
    assert!(err.contains("is `reemploi up` running"), "{err}");

    // 6: the server refuses an argument; and a bad input file.
    let err = admin.fails(
        6,
        &[
            "sites",
            "create",
            "--name",
            "Nowhere",
            "--lat",
            "95",
            "--lon",
            "7.3",
            "--owner-org",
            "x",
        ],
    );
    assert!(err.contains("site.latitude"), "the field is named: {err}");
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "").unwrap();
    admin.fails(
        6,
        &[
            "lots",
            "import",
            empty.to_str().unwrap(),
            "--site",
            "sites/x",
        ],
    );

    // 1: a server error of no other kind: publishing the demo's asbestos
    // tiles, which can never be (FAILED_PRECONDITION).
    let drafts = admin.json(&["lots", "list", "--status", "draft"]);
    let asbestos = drafts
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["hazardous"] == true)
        .unwrap();
    let err = admin.fails(1, &["lots", "publish", str_of(asbestos, "name")]);
    assert!(err.contains("hazardous"), "{err}");
    stop(up);
}

#[test]
fn login_stores_the_connection_privately_and_later_commands_use_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let up = up_demo(&data);
    let token = token_for(&data, &["--role", "integrator"]);
    let config = dir.path().join("conf").join("reemploi.toml");
    let bare = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .env("REEMPLOI_CONFIG", &config)
            .env_remove("REEMPLOI_ADDR")
            .env_remove("REEMPLOI_TOKEN")
            .env_remove("REEMPLOI_OUTPUT")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let addr = format!("http://{}", up.addr);

    // A token the server refuses is not stored.
    let out = bare(&["login", "--addr", &addr, "--token", "not-a-jwt"]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert!(!config.exists());

    let out = bare(&["login", "--addr", &addr, "--token", &token]);
    assert!(out.status.success(), "{out:?}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&token));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&config).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the token file is private");
    }
    // No flag, no environment: the file is used.
    let out = bare(&["lots", "list", "--output", "json"]);
    assert!(out.status.success(), "{out:?}");
    let lots: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(lots.as_array().unwrap().len(), 10);
    // A flag wins over the file.
    let out = bare(&["lots", "list", "--token", "wrong"]);
    assert_eq!(out.status.code(), Some(4));
    stop(up);
}

/// `reemploi dead-letters`: an event no consumer can apply is listed, per
/// consumer, and replayed to the one named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_and_replayed() {
    use reemploi_events::Bus as _;
    let dir = tempfile::tempdir().unwrap();
    let up = up_demo(dir.path());
    let log = reemploi_events::InProcessBus::open(&dir.path().join("bus.db"))
        .await
        .unwrap();
    // An envelope that decodes but carries nothing: the five partner
    // consumers give up on it at once, by the same rule.
    let empty = prost::Message::encode_to_vec(&reemploi_proto::events::Envelope::default());
    let log = &log;
    // A new event each time (its own id), carrying nothing.
    let publish_empty = || {
        let event =
            reemploi_events::Message::new("reemploi.registry.partner.updated", empty.clone());
        async move { log.publish(&event).await }
    };
    publish_empty().await.unwrap();
    let list = || {
        let out = Command::new(BIN)
            .args(["dead-letters", "list", "--output", "json", "--data-dir"])
            .arg(dir.path())
            .env_remove("NATS_URL")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let letters: Value = serde_json::from_slice(&out.stdout).unwrap();
        letters.as_array().unwrap().clone()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let letters = loop {
        let letters = list();
        if letters.len() == 5 {
            break letters;
        }
        assert!(Instant::now() < deadline, "dead letters: {letters:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut consumers: Vec<&str> = letters.iter().map(|l| str_of(l, "consumer")).collect();
    consumers.sort_unstable();
    assert_eq!(
        consumers,
        [
            "identity-partners",
            "impact-partners",
            "inventory-partners",
            "matching-partners",
            "notify-partners"
        ]
    );
    assert!(
        letters
            .iter()
            .all(|l| str_of(l, "reason").contains("carries no payload")),
        "{letters:?}"
    );
    let inventory_id = letters
        .iter()
        .find(|l| str_of(l, "consumer") == "inventory-partners")
        .map(|l| str_of(l, "id").to_owned())
        .unwrap();

    let replay_all = || {
        let out = Command::new(BIN)
            .args([
                "dead-letters",
                "replay",
                "--all",
                "--durable",
                "inventory-partners",
                "--data-dir",
            ])
            .arg(dir.path())
            .env_remove("NATS_URL")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let replayed = replay_all();
    assert!(replayed.contains("1 dead letter(s) replayed"), "{replayed}");
    // Replayed to its consumer, which fails on it again: a new dead letter.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let letters = list();
        let ids: Vec<&str> = letters.iter().map(|l| str_of(l, "id")).collect();
        if letters.len() == 5 && !ids.contains(&inventory_id.as_str()) {
            break;
        }
        assert!(Instant::now() < deadline, "after replay: {letters:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // More than are read at once (a thousand): every one listed, and
    // every one of the consumer named replayed.
    for _ in 0..200 {
        publish_empty().await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let listed = list().len();
        if listed == 1005 {
            break;
        }
        assert!(Instant::now() < deadline, "{listed} dead letters listed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let replayed = replay_all();
    assert!(
        replayed.contains("201 dead letter(s) replayed"),
        "{replayed}"
    );
    let out = Command::new(BIN)
        .args(["dead-letters", "replay", "999999", "--data-dir"])
        .arg(dir.path())
        .env_remove("NATS_URL")
        .output()
        .unwrap();
    assert!(!out.status.success(), "an unknown dead letter is an error");
    stop(up);
}

/// A background task that dies stops `reemploi up` with a clear error,
/// rather than leaving a server whose events never leave.
#[test]
fn up_stops_with_an_error_when_a_background_task_dies() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args([
            "up",
            "--listen",
            "127.0.0.1:0",
            "--web-listen",
            "127.0.0.1:0",
            "--drain-delay-ms",
            "0",
            "--data-dir",
        ])
        .arg(dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("NATS_URL")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    // The first admin's invitation comes first, then the address.
    let mut line = String::new();
    while !line.starts_with("listening on ") {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "no address printed"
        );
    }
    // Someone damages the registry's schema: its relay can no longer read
    // the outbox, whatever it retries.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let url = reemploi_store::Db::sqlite_url(dir.path(), "registry").unwrap();
        let db = reemploi_store::Db::connect(&url).await.unwrap();
        sqlx::query("DROP TABLE outbox")
            .execute(db.pool())
            .await
            .unwrap();
        db.close().await;
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("reemploi up kept running with a dead relay");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("background task `registry outbox relay` stopped"),
        "{stderr}"
    );
    // stdout holds only what scripts read: after the address, the web app's.
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert!(
        rest.lines().count() == 1 && rest.starts_with("web app on http://127.0.0.1:"),
        "{rest:?}"
    );
}

/// The web app `up` serves: its sign-in page, in French, with the
/// security headers, at the URL `up` prints after its address.
#[test]
fn up_serves_the_web_app_at_the_url_it_prints() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let (up, _logs) = up_with(&dir.path().join("data"), &[]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let url = loop {
        if let Some(url) = up.web.lock().unwrap().clone() {
            break url;
        }
        assert!(Instant::now() < deadline, "no web app URL printed");
        std::thread::sleep(Duration::from_millis(50));
    };
    let host = url
        .strip_prefix("http://")
        .and_then(|rest| rest.strip_suffix('/'))
        .unwrap_or_else(|| panic!("{url}"));
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(
        stream,
        "GET /connexion HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut page = String::new();
    stream.read_to_string(&mut page).unwrap();
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    let lower = page.to_ascii_lowercase();
    assert!(
        lower.contains("content-security-policy: default-src 'self'"),
        "{page}"
    );
    assert!(page.contains("lang=\"fr\""), "{page}");
    assert!(page.contains("<h1"), "{page}");
    stop(up);
}

/// `--metrics-listen` serves the figures of every service of the process
/// from one endpoint; with stderr piped and `--log-format auto` (the
/// default), logs are JSON lines, each line of a call with its request id.
#[test]
fn up_serves_its_metrics_and_logs_json_when_not_on_a_terminal() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // A free port, released for `up` to bind.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics = format!("127.0.0.1:{port}");
    let (up, logs) = up_with(
        &data,
        &["--metrics-listen", &metrics, "--log-format", "auto"],
    );
    let admin = Client::new(up.addr, &token_for(&data, &["--role", "admin"]), dir.path());
    admin.ok(&["sites", "list"]);

    let mut stream = std::net::TcpStream::connect(&metrics).unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {metrics}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.contains(
            "reemploi_grpc_requests_total{grpc_service=\"reemploi.inventory.v1.InventoryService\",\
             grpc_method=\"ListSites\",grpc_code=\"OK\"} 1\n"
        ),
        "{text}"
    );
    for service in ["identity", "inventory", "registry", "matching", "impact"] {
        let pending = format!("reemploi_outbox_pending{{service=\"{service}\"}} ");
        assert!(text.contains(&pending), "{service}: {text}");
    }
    assert!(
        text.contains("reemploi_lots{status=\"published\"} 0\n"),
        "{text}"
    );
    stop(up);

    let logs = logs.lock().unwrap();
    let lines: Vec<Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let call = lines
        .iter()
        .find(|l| {
            l["message"] == "rpc finished"
                && l["span"]["method"] == "/reemploi.inventory.v1.InventoryService/ListSites"
        })
        .unwrap_or_else(|| panic!("no line of the call in {logs}"));
    let id = call["span"]["request_id"].as_str().unwrap_or_default();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{call}");
}

// ---------------------------------------------------------------- hardening

use reemploi_testing::tls::{TestCa, write};

/// Test certificates as files: the CA, and a server certificate for
/// localhost signed by it.
struct Pki {
    ca: TestCa,
    ca_file: String,
    cert: String,
    key: String,
}

fn pki(dir: &Path) -> Pki {
    let ca = TestCa::new("reemploi test CA");
    let server = ca.server();
    let path = |name: &str, text: &str| write(dir, name, text).to_str().unwrap().to_owned();
    Pki {
        ca_file: path("ca.pem", &ca.cert),
        cert: path("server.pem", &server.cert),
        key: path("server.key", &server.key),
        ca,
    }
}

#[test]
fn up_over_tls_serves_the_client_that_trusts_its_ca() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let pki = pki(dir.path());
    // The demo loads over TLS too, trusting the CA given to `up`.
    let (up, logs) = up_with(
        &data,
        &[
            "--demo",
            "--tls-cert",
            &pki.cert,
            "--tls-key",
            &pki.key,
            "--ca",
            &pki.ca_file,
        ],
    );
    let port = up.addr.port();
    let admin = Client {
        addr: format!("https://localhost:{port}"),
        ..Client::new(up.addr, &token_for(&data, &["--role", "admin"]), dir.path())
    };

    let sites = admin.json(&["--ca", &pki.ca_file, "sites", "list"]);
    assert!(
        sites.to_string().contains("Coteaux – démolition tour A"),
        "{sites}"
    );
    // REEMPLOI_CA does the same.
    let out = admin
        .command(&["lots", "list", "--output", "json"])
        .env("REEMPLOI_CA", &pki.ca_file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let lots: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(lots.as_array().unwrap().len(), 10);

    // Without --ca the web PKI roots do not know the test CA.
    let err = admin.fails(5, &["sites", "list"]);
    assert!(err.contains("UnknownIssuer"), "{err}");
    // A plaintext client gets nothing.
    let plain = Client {
        addr: format!("http://127.0.0.1:{port}"),
        ..admin.clone()
    };
    let err = plain.fails(5, &["sites", "list"]);
    assert!(err.contains("connection to the server failed"), "{err}");
    // A CA with a plaintext address is a mistake, refused before any byte
    // (or token) is sent.
    let err = plain.fails(2, &["--ca", &pki.ca_file, "sites", "list"]);
    assert!(err.contains("https://"), "{err}");
    // An unreadable CA file is named.
    let err = admin.fails(6, &["--ca", "/nonexistent/ca.pem", "sites", "list"]);
    assert!(err.contains("/nonexistent/ca.pem"), "{err}");

    stop(up);
    // The start-up log says TLS is on and never shows the key.
    let logs = logs.lock().unwrap();
    assert!(logs.contains("tls=\"on\""), "{logs}");
    let key = std::fs::read_to_string(&pki.key).unwrap();
    assert!(!logs.contains(key.lines().nth(1).unwrap()));
}

/// Whether a TLS 1.3 client was refused by the server: the server's
/// `alert`, or, when the client wrote its request before reading that
/// alert, the connection the server closed (the client sees a broken pipe,
/// a reset, a closed connection or its call cancelled, depending on
/// timing, or a connection that never became ready).
fn refused_by_server(err: &str, alert: &str) -> bool {
    [
        alert,
        "broken pipe",
        "reset",
        "canceled",
        "closed",
        "not ready",
    ]
    .iter()
    .any(|sign| err.contains(sign))
}

#[test]
fn up_with_mutual_tls_serves_only_clients_with_a_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let pki = pki(dir.path());
    let clients = TestCa::new("reemploi client CA");
    let clients_ca = write(dir.path(), "clients.pem", &clients.cert);
    let client = clients.client("ops");
    let client_cert = write(dir.path(), "client.pem", &client.cert);
    let client_key = write(dir.path(), "client.key", &client.key);
    let (client_cert, client_key) = (client_cert.to_str().unwrap(), client_key.to_str().unwrap());
    let (up, logs) = up_with(
        &data,
        &[
            "--tls-cert",
            &pki.cert,
            "--tls-key",
            &pki.key,
            "--tls-client-ca",
            clients_ca.to_str().unwrap(),
        ],
    );
    let admin = Client {
        addr: format!("https://localhost:{}", up.addr.port()),
        ..Client::new(up.addr, &token_for(&data, &["--role", "admin"]), dir.path())
    };
    let with_cert = [
        "--ca",
        &pki.ca_file,
        "--client-cert",
        client_cert,
        "--client-key",
        client_key,
    ];
    let sites = admin.json(&[&with_cert[..], &["sites", "list"]].concat());
    assert_eq!(sites, Value::Array(Vec::new()));

    // Without a client certificate, even with a valid token: refused.
    let err = admin.fails(5, &["--ca", &pki.ca_file, "sites", "list"]);
    assert!(
        refused_by_server(&err, "CertificateRequired") && err.contains("--client-cert"),
        "{err}"
    );
    // A certificate of another CA (the server's own): refused.
    let intruder = pki.ca.client("intruder");
    let err = admin.fails(
        5,
        &[
            "--ca",
            &pki.ca_file,
            "--client-cert",
            write(dir.path(), "intruder.pem", &intruder.cert)
                .to_str()
                .unwrap(),
            "--client-key",
            write(dir.path(), "intruder.key", &intruder.key)
                .to_str()
                .unwrap(),
            "sites",
            "list",
        ],
    );
    assert!(refused_by_server(&err, "UnknownCA"), "{err}");
    // A certificate without its key is a usage error.
    admin.fails(
        2,
        &[
            "--ca",
            &pki.ca_file,
            "--client-cert",
            client_cert,
            "sites",
            "list",
        ],
    );
    stop(up);
    assert!(
        logs.lock()
            .unwrap()
            .contains("mutual (client certificates required)"),
        "the start-up log says mTLS is on"
    );
}

#[test]
fn tokens_beyond_the_maximum_lifetime_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // `reemploi token` refuses what servers would refuse: 7 days at most
    // by default.
    let out = Command::new(BIN)
        .args([
            "token",
            "--role",
            "admin",
            "--ttl-hours",
            "169",
            "--data-dir",
        ])
        .arg(&data)
        .env_remove("REEMPLOI_JWT_SECRET")
        .env_remove("REEMPLOI_JWT_MAX_LIFETIME_SECS")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--jwt-max-lifetime-secs") && err.contains("168 hours"),
        "{err}"
    );
    token_for(&data, &["--role", "admin", "--ttl-hours", "168"]);

    // A server with a one-hour maximum refuses a two-hour token (signed by
    // a `reemploi token` told of a longer maximum) and takes a one-hour one.
    let (up, _) = up_with(&data, &["--jwt-max-lifetime-secs", "3600"]);
    let long = token_for(
        &data,
        &[
            "--role",
            "admin",
            "--ttl-hours",
            "2",
            "--jwt-max-lifetime-secs",
            "7200",
        ],
    );
    let admin = Client::new(up.addr, &long, dir.path());
    let err = admin.fails(4, &["sites", "list"]);
    assert!(err.contains("lives too long"), "{err}");
    let short = token_for(&data, &["--role", "admin", "--ttl-hours", "1"]);
    admin.as_token(&short).ok(&["sites", "list"]);
    stop(up);
}

#[test]
fn bulk_commands_wait_out_the_rate_limit() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // One call per second: the import's registrations and verifications
    // are paced by the server's retry delays instead of failing.
    let (up, _) = up_with(
        &data,
        &[
            "--rate-limit-per-principal",
            "1",
            "--rate-limit-per-principal-burst",
            "1",
        ],
    );
    let admin = Client::new(up.addr, &token_for(&data, &["--role", "admin"]), dir.path());
    let siae = dir.path().join("siae.csv");
    std::fs::write(&siae, siae_csv(false)).unwrap();
    let started = Instant::now();
    let imported = admin.json(&["partners", "import", siae.to_str().unwrap(), "--verify"]);
    let partners = imported["registered"].as_array().unwrap();
    assert_eq!(partners.len(), 5, "{imported}");
    assert!(
        partners
            .iter()
            .all(|p| p["status"] == "PARTNER_STATUS_VERIFIED"),
        "{imported}"
    );
    // Six calls at one per second.
    assert!(started.elapsed() >= Duration::from_secs(4), "not paced");

    // A single command just after has no budget left: it says so.
    let err = admin.fails(1, &["sites", "list"]);
    assert!(
        err.contains("rate limit") && err.contains("wait a moment"),
        "{err}"
    );
    stop(up);
}

// ------------------------------------------------------------- identity

/// A password the identity service accepts (12 characters at least, not a
/// common one).
const NEW_PASSWORD: &str = "briques-du-Rebberg-1932";

impl Client {
    /// The same server, for someone signed in through the configuration
    /// file `config`: no token in the environment.
    fn signed_in(&self, config: &Path) -> Client {
        Client {
            token: None,
            config: config.to_owned(),
            ..self.clone()
        }
    }

    /// Runs a command with `input` on stdin, as a script pipes a password;
    /// the input is never printed back.
    fn piped(&self, args: &[&str], input: &str) -> Output {
        use std::io::Write as _;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let secret = input.lines().next().unwrap_or_default();
        for stream in [&out.stdout, &out.stderr] {
            assert!(
                secret.is_empty() || !String::from_utf8_lossy(stream).contains(secret),
                "the password is never printed ({args:?})"
            );
        }
        out
    }

    /// `login --email` with `password` piped; returns the output.
    fn login(&self, email: &str, password: &str) -> Output {
        self.piped(&["login", "--email", email], &format!("{password}\n"))
    }

    /// Retries a command for up to `within` until it exits with `code`
    /// (revocations reach every service within a second); returns stderr.
    fn fails_within(&self, within: Duration, code: i32, args: &[&str]) -> String {
        let deadline = Instant::now() + within;
        loop {
            let out = self.run(args);
            if out.status.code() == Some(code) {
                return String::from_utf8_lossy(&out.stderr).into_owned();
            }
            assert!(
                Instant::now() < deadline,
                "reemploi {args:?} still exits with {:?}: {}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn assert_ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed with {:?}:\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// The configuration file as TOML.
fn stored(config: &Path) -> toml::Table {
    toml::from_str(&std::fs::read_to_string(config).unwrap()).unwrap()
}

fn stored_str(config: &Path, key: &str) -> Option<String> {
    stored(config)
        .get(key)
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}

/// Rewrites some keys of the configuration file.
fn edit_config(config: &Path, changes: &[(&str, toml::Value)]) {
    let mut table = stored(config);
    for (key, value) in changes {
        table.insert((*key).to_owned(), value.clone());
    }
    std::fs::write(config, toml::to_string(&table).unwrap()).unwrap();
}

/// What follows `marker` on the first line that has it, up to a space.
fn after(text: &str, marker: &str) -> String {
    let at = text
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker:?} in:\n{text}"));
    text[at + marker.len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// The code of the newest mail to `to` under `<data>/mail/` that holds
/// `marker` (`reemploi password reset --code `...), waiting for it: mail is
/// written after the change, on a task of its own.
fn mailed_code(data: &Path, to: &str, marker: &str) -> String {
    let to = format!("To: {to}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut names: Vec<PathBuf> = std::fs::read_dir(data.join("mail"))
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        names.sort();
        if let Some(text) = names
            .iter()
            .rev()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .find(|t| t.contains(marker) && t.contains(&to))
        {
            return after(&text, marker);
        }
        assert!(Instant::now() < deadline, "no mail with {marker:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A demo account signs in with the printed password; the session is
/// stored privately (without the password), renewed when its access token
/// has expired (by the clock, or as the server says), and ended by logout.
#[test]
fn login_with_a_password_keeps_a_private_session_that_renews_itself_until_logout() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // A token the server will see as expired once the 30 s leeway is over.
    let expired = token_for(&data, &["--role", "admin", "--ttl-hours", "0"]);
    let made = Instant::now();
    let up = up_demo(&data);
    let password = after(&up.stdout, "password: ");
    let email = after(&up.stdout, "sign in: reemploi login --email ");
    assert_eq!(email, "admin@reemploi.example", "{}", up.stdout);
    let config = dir.path().join("admin.toml");
    let admin = Client::new(up.addr, "unused", dir.path()).signed_in(&config);

    // A wrong password and an unknown email get the same answer.
    let wrong = admin.login(&email, "not-the-password-at-all");
    let unknown = admin.login("nobody@reemploi.example", &password);
    assert_eq!(wrong.status.code(), Some(4), "{wrong:?}");
    assert_eq!(unknown.status.code(), Some(4), "{unknown:?}");
    assert_eq!(wrong.stderr, unknown.stderr);
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("wrong email or password"),
        "{wrong:?}"
    );
    assert!(!config.exists(), "nothing stored on a refused sign-in");

    let out = assert_ok(&admin.login(&email, &password), "login");
    assert!(out.contains("logged in") && out.contains(&email), "{out}");
    #[cfg(unix)]
    assert_eq!(mode(&config), 0o600, "the session file is private");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(!text.contains(&password), "the password is not stored");
    let first_refresh = stored_str(&config, "refresh_token").unwrap();
    let sites = admin.json(&["sites", "list"]);
    assert!(
        sites.to_string().contains("Coteaux"),
        "the stored session is used: {sites}"
    );
    let me = admin.json(&["accounts", "show", "me"]);
    assert_eq!(me["email"], email.as_str());
    assert_eq!(me["role"], "ACCOUNT_ROLE_ADMIN");

    // The clock says the access token has expired: it is renewed before
    // the call, and the rotated refresh token stored.
    edit_config(
        &config,
        &[
            ("token", "garbage".into()),
            ("token_expires_at", toml::Value::Integer(1)),
        ],
    );
    admin.json(&["sites", "list"]);
    let second_refresh = stored_str(&config, "refresh_token").unwrap();
    assert_ne!(second_refresh, first_refresh, "the refresh token rotated");
    assert_ne!(stored_str(&config, "token").unwrap(), "garbage");
    #[cfg(unix)]
    assert_eq!(mode(&config), 0o600, "still private after the renewal");

    // The clock thinks it is fine, the server says it has expired: renewed
    // and sent again.
    std::thread::sleep(Duration::from_secs(32).saturating_sub(made.elapsed()));
    edit_config(&config, &[("token", expired.as_str().into())]);
    let sites = admin.json(&["sites", "list"]);
    assert!(sites.to_string().contains("Coteaux"), "{sites}");
    let third_refresh = stored_str(&config, "refresh_token").unwrap();
    assert_ne!(
        third_refresh, second_refresh,
        "renewed on the server's word"
    );
    assert_ne!(stored_str(&config, "token").unwrap(), expired);

    // Logout ends the session on the server and forgets it here.
    let before_logout = std::fs::read_to_string(&config).unwrap();
    let out = admin.ok(&["logout"]);
    assert!(out.contains("session is ended on the server"), "{out}");
    let table = stored(&config);
    assert!(
        table.get("token").is_none() && table.get("refresh_token").is_none(),
        "{table:?}"
    );
    assert!(table.get("addr").is_some(), "the address stays");
    let err = admin.fails(4, &["sites", "list"]);
    assert!(err.contains("reemploi login"), "asks to log in: {err}");
    // The ended session's refresh token no longer renews anything.
    std::fs::write(&config, before_logout).unwrap();
    edit_config(&config, &[("token_expires_at", toml::Value::Integer(1))]);
    let err = admin.fails(4, &["sites", "list"]);
    assert!(
        err.contains("session has ended")
            && err.contains(&format!("reemploi login --email {email}")),
        "{err}"
    );
    stop(up);
}

/// The first admin accepts the invitation `up` prints; they invite a site
/// manager, who accepts with a piped password and signs in; once disabled,
/// the manager's session stops working.
#[test]
fn an_invited_site_manager_accepts_signs_in_and_is_locked_out_once_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (up, _) = up_with(&data, &[]);
    let code = after(&up.stdout, "reemploi accounts accept --code ");
    let nobody =
        Client::new(up.addr, "unused", dir.path()).signed_in(&dir.path().join("none.toml"));
    // Accepting needs no login, only the password (piped) and a name.
    let out = nobody.piped(
        &["accounts", "accept", "--code", &code, "--name", "Admin"],
        &format!("{NEW_PASSWORD}\n"),
    );
    let text = assert_ok(&out, "accept");
    assert!(
        text.contains("sign in: reemploi login --email admin@reemploi.invalid"),
        "{text}"
    );
    // Once only.
    let again = nobody.piped(
        &["accounts", "accept", "--code", &code, "--name", "Admin"],
        &format!("{NEW_PASSWORD}\n"),
    );
    assert_eq!(again.status.code(), Some(1), "{again:?}");
    assert!(String::from_utf8_lossy(&again.stderr).contains("unknown, expired or already used"));

    let admin = nobody.signed_in(&dir.path().join("admin.toml"));
    assert_ok(
        &admin.login("admin@reemploi.invalid", NEW_PASSWORD),
        "admin login",
    );
    // A role without what it acts for is a usage error.
    let err = admin.fails(
        2,
        &[
            "accounts",
            "invite",
            "--email",
            "lea@m2a.example",
            "--role",
            "site_manager",
        ],
    );
    assert!(err.contains("--org"), "{err}");
    let err = admin.fails(
        2,
        &[
            "accounts",
            "invite",
            "--email",
            "sam@atelier.example",
            "--role",
            "partner",
        ],
    );
    assert!(err.contains("--partner"), "{err}");
    let invitation = admin.json(&[
        "accounts",
        "invite",
        "--email",
        "lea@m2a.example",
        "--role",
        "site_manager",
        "--org",
        "m2a-habitat",
    ]);
    assert_eq!(invitation["role"], "ACCOUNT_ROLE_SITE_MANAGER");
    assert_eq!(invitation["org"], "m2a-habitat");
    let code = str_of(&invitation, "code").to_owned();
    assert!(code.starts_with("inv_"), "{invitation}");
    // The same code is in the mail.
    assert_eq!(
        mailed_code(&data, "lea@m2a.example", "reemploi accounts accept --code "),
        code
    );

    let lea = nobody.signed_in(&dir.path().join("lea.toml"));
    let out = lea.piped(
        &[
            "accounts",
            "accept",
            "--code",
            &code,
            "--name",
            "Léa Martin",
        ],
        &format!("{NEW_PASSWORD}\n"),
    );
    assert_ok(&out, "lea accepts");
    assert_ok(&lea.login("lea@m2a.example", NEW_PASSWORD), "lea login");
    let me = lea.json(&["accounts", "show", "me"]);
    assert_eq!(me["role"], "ACCOUNT_ROLE_SITE_MANAGER");
    assert_eq!(me["displayName"], "Léa Martin");
    lea.json(&["sites", "list"]);
    // Only admins list accounts.
    lea.fails(4, &["accounts", "list"]);
    let accounts = admin.json(&["accounts", "list"]);
    let lea_name = accounts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["email"] == "lea@m2a.example")
        .map(|a| str_of(a, "name").to_owned())
        .unwrap();
    let table = admin.ok(&["accounts", "list"]);
    assert!(
        table.starts_with("NAME") && table.contains("site_manager"),
        "{table}"
    );

    let disabled = admin.json(&["accounts", "disable", &lea_name]);
    assert_eq!(disabled["status"], "ACCOUNT_STATUS_DISABLED");
    let err = lea.fails_within(Duration::from_secs(2), 4, &["sites", "list"]);
    assert!(
        err.contains("reemploi login") || err.contains("revoked"),
        "{err}"
    );
    // Nor can the session be renewed, nor Léa sign in again.
    edit_config(
        &dir.path().join("lea.toml"),
        &[("token_expires_at", toml::Value::Integer(1))],
    );
    let err = lea.fails(4, &["sites", "list"]);
    assert!(err.contains("session has ended"), "{err}");
    let out = lea.login("lea@m2a.example", NEW_PASSWORD);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    stop(up);
}

/// An API token's secret is printed alone, works as a bearer token, and is
/// refused everywhere once revoked.
#[test]
fn api_tokens_are_created_used_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (up, _) = up_with(&data, &[]);
    let admin = Client::new(up.addr, &token_for(&data, &["--role", "admin"]), dir.path());
    admin.fails(2, &["api-tokens", "create", "--name", "no expiry"]);
    admin.fails(
        2,
        &[
            "api-tokens",
            "create",
            "--name",
            "x",
            "--expires-in",
            "soon",
        ],
    );
    let out = admin.run(&[
        "api-tokens",
        "create",
        "--name",
        "Plateforme Cycle Up",
        "--expires-in",
        "90d",
    ]);
    let stdout = assert_ok(&out, "api-tokens create");
    assert_eq!(stdout.lines().count(), 1, "the secret alone: {stdout}");
    let secret = stdout.trim().to_owned();
    let note = String::from_utf8_lossy(&out.stderr);
    assert!(
        note.contains("shown this once") && !note.contains(&secret),
        "{note}"
    );

    let integrator = admin.as_token(&secret);
    integrator.json(&["sites", "list"]);
    let tokens = admin.json(&["api-tokens", "list"]);
    let tokens = tokens.as_array().unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0]["displayName"], "Plateforme Cycle Up");
    assert!(
        !tokens[0].to_string().contains(&secret),
        "never the secret again"
    );
    let name = str_of(&tokens[0], "name").to_owned();

    let revoked = admin.json(&["api-tokens", "revoke", &name]);
    assert!(revoked["revokeTime"].is_string(), "{revoked}");
    let err = integrator.fails_within(Duration::from_secs(2), 4, &["sites", "list"]);
    assert!(err.contains("revoked"), "{err}");
    stop(up);
}

/// An ESS structure signs up (and is signed in), registers with its own
/// session; a forgotten password is reset with the mailed code.
#[test]
fn a_structure_signs_up_registers_and_resets_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (up, _) = up_with(&data, &[]);
    let config = dir.path().join("camille.toml");
    let camille = Client::new(up.addr, "unused", dir.path()).signed_in(&config);
    let out = camille.piped(
        &[
            "signup",
            "--email",
            "camille@atelier.example",
            "--structure",
            "Atelier Réemploi Coteaux",
            "--name",
            "Camille",
        ],
        &format!("{NEW_PASSWORD}\n"),
    );
    let text = assert_ok(&out, "signup");
    let partner = after(&text, "staff of the partner ");
    assert!(partner.starts_with("partners/"), "{text}");
    assert!(text.contains("reemploi partners register"), "{text}");
    #[cfg(unix)]
    assert_eq!(mode(&config), 0o600);

    // The session signup stored registers the structure under its id.
    let siret = siret("9001234560001");
    let args = [
        "partners",
        "register",
        "--legal-name",
        "Atelier Réemploi Coteaux",
        "--siret",
        &siret,
        "--kind",
        "ACI",
        "--lat",
        "47.748",
        "--lon",
        "7.32",
        "--category",
        "radiateur",
    ];
    let deadline = Instant::now() + Duration::from_secs(10);
    let registered = loop {
        let out = camille.run(&[&args[..], &["--output", "json"]].concat());
        if out.status.success() {
            break serde_json::from_slice::<Value>(&out.stdout).unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "register: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(registered["name"], partner.as_str());
    assert_eq!(registered["status"], "PARTNER_STATUS_PENDING");

    // Forgotten: the same answer for an unknown email; a code by mail.
    let forgot = camille.ok(&["password", "forgot", "--email", "camille@atelier.example"]);
    let unknown = camille.ok(&["password", "forgot", "--email", "nobody@atelier.example"]);
    assert_eq!(
        forgot.replace("camille@", "X@"),
        unknown.replace("nobody@", "X@")
    );
    let code = mailed_code(
        &data,
        "camille@atelier.example",
        "reemploi password reset --code ",
    );
    assert!(code.starts_with("rst_"), "{code}");
    let renewed = "tuiles-de-Bourtzwiller-68";
    // A password the service refuses (too short) is invalid input.
    let out = camille.piped(&["password", "reset", "--code", &code], "court\n");
    assert_eq!(out.status.code(), Some(6), "{out:?}");
    let out = camille.piped(
        &["password", "reset", "--code", &code],
        &format!("{renewed}\n"),
    );
    assert_ok(&out, "password reset");
    // Every session ended: the stored one too.
    camille.fails_within(Duration::from_secs(2), 4, &["accounts", "show", "me"]);
    // The revocation covers tokens issued up to the end of its second
    // (`iat` has whole seconds): a sign-in must come after it.
    std::thread::sleep(Duration::from_millis(1100));
    let old = camille.login("camille@atelier.example", NEW_PASSWORD);
    assert_eq!(old.status.code(), Some(4), "{old:?}");
    assert_ok(
        &camille.login("camille@atelier.example", renewed),
        "new password",
    );
    let me = camille.json(&["accounts", "show", "me"]);
    assert_eq!(me["partner"], partner.as_str());
    stop(up);
}

/// `reemploi token` refuses a site manager without --org and a partner
/// without --partner, and says which secret signed, never the secret.
#[test]
fn token_needs_what_the_role_acts_for_and_names_its_secret() {
    let dir = tempfile::tempdir().unwrap();
    let token = |args: &[&str]| {
        Command::new(BIN)
            .args(["token", "--data-dir"])
            .arg(dir.path())
            .args(args)
            .env_remove("REEMPLOI_JWT_SECRET")
            .env_remove("REEMPLOI_TOKEN_ORG")
            .env_remove("REEMPLOI_TOKEN_PARTNER")
            .output()
            .unwrap()
    };
    for (role, flag) in [("site_manager", "--org"), ("partner", "--partner")] {
        let out = token(&["--role", role]);
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag), "{err}");
    }
    assert!(
        !dir.path().join("jwt-secret").exists(),
        "refused before any file"
    );

    let out = token(&["--role", "site_manager", "--org", "m2a-habitat"]);
    assert!(out.status.success(), "{out:?}");
    let file = dir.path().join("jwt-secret");
    let secret = std::fs::read_to_string(&file).unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&file.display().to_string()), "{err}");
    assert!(!err.contains(secret.trim()), "never the secret: {err}");

    let out = token(&["--role", "admin", "--jwt-secret", "s3cret-value"]);
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--jwt-secret") && !err.contains("s3cret-value"),
        "{err}"
    );
}

// ---------------------------------------------------------------------
// The territory's figures: outcomes and hours declared by a partner, and
// what `impact`, `recolement` and the map make of them.
// ---------------------------------------------------------------------

/// A CSV document's header and rows.
fn csv_rows(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (headers, rows)
}

/// Tonnes with 6 decimals (the CSV's exact form) as grams.
fn grams_of(tonnes: &str) -> i64 {
    let (whole, frac) = tonnes.split_once('.').unwrap();
    assert_eq!(frac.len(), 6, "{tonnes}");
    let sign = if whole.starts_with('-') { -1 } else { 1 };
    whole.parse::<i64>().unwrap() * 1_000_000 + sign * frac.parse::<i64>().unwrap()
}

/// A site in Drouot-Jonquilles with the Coteaux diagnostic, published;
/// its name and its lots (name by reference).
fn drouot_site(admin: &Client, dir: &Path) -> (String, Vec<(String, String)>) {
    let site = admin.json(&[
        "sites",
        "create",
        "--name",
        "Drouot – îlot 4",
        "--lat",
        "47.7395",
        "--lon",
        "7.3460",
        "--owner-org",
        "m2a-habitat",
        "--quartier",
        "Drouot-Jonquilles",
        "--commune",
        "Mulhouse",
        "--insee",
        "68224",
    ]);
    let site = str_of(&site, "name").to_owned();
    let csv = dir.join("diagnostic-drouot.csv");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../demo/diagnostic-coteaux.csv"),
        &csv,
    )
    .unwrap();
    admin.ok(&[
        "lots",
        "import",
        csv.to_str().unwrap(),
        "--site",
        &site,
        "--publish",
    ]);
    let lots = admin.json(&["lots", "list", "--site", &site, "--limit", "0"]);
    let lots = lots
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                str_of(l, "reference").to_owned(),
                str_of(l, "name").to_owned(),
            )
        })
        .collect();
    (site, lots)
}

/// A demo partner claims 12 of `lot` (once, whatever the retries, under
/// `request_id`); the site confirms and hands over `mass_kg`. Returns the
/// partner's client and the claim.
fn handed_over_claim(
    admin: &Client,
    data: &Path,
    lot: &str,
    request_id: &str,
    mass_kg: &str,
) -> (Client, String) {
    let partners = admin.json(&["partners", "list", "--status", "verified"]);
    let partner_name = str_of(&partners[0], "name").to_owned();
    let partner = admin.as_token(&token_for(
        data,
        &["--role", "partner", "--partner", &partner_name],
    ));
    let claim =
        partner.json_eventually(&["claim", lot, "--quantity", "12", "--request-id", request_id]);
    let claim = str_of(&claim, "name").to_owned();
    admin.ok(&["claims", "confirm", &claim]);
    admin.ok(&["claims", "handover", &claim, "--mass-kg", mass_kg]);
    (partner, claim)
}

#[test]
fn declared_outcomes_and_hours_are_the_figures_of_impact_recolement_and_the_map() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let up = up_demo(&data);
    let admin = Client::new(up.addr, &token_for(&data, &["--role", "admin"]), dir.path());
    let (site, lots) = drouot_site(&admin, dir.path());
    assert_eq!(lots.len(), 10, "{lots:?}");
    let m1 = &lots.iter().find(|(r, _)| r == "M1").unwrap().1;
    let (partner, claim) = handed_over_claim(&admin, &data, m1, "figures-claim-1", "355.25");
    // Another hand-over, of the demo site in Coteaux, with hours of its
    // own: the groups below are then more than one.
    let published = admin.json(&["lots", "list", "--status", "published", "--limit", "0"]);
    let coteaux_lot = published
        .as_array()
        .unwrap()
        .iter()
        .find(|l| !str_of(l, "name").starts_with(&site) && l["reference"] == "M2")
        .map(|l| str_of(l, "name").to_owned())
        .unwrap();
    let (_, coteaux_claim) =
        handed_over_claim(&admin, &data, &coteaux_lot, "figures-claim-2", "120");
    partner.json_eventually(&[
        "hours",
        "declare",
        &coteaux_claim,
        "--activity",
        "collection",
        "--hours",
        "2",
        "--people",
        "2",
        "--request-id",
        "figures-hours-2",
    ]);

    // The partner declares; impact learns of the hand-over through an
    // event, so the first declaration is retried (with one request id)
    // until it knows.
    let reused = partner.json_eventually(&[
        "outcomes",
        "declare",
        &claim,
        "--kind",
        "reused",
        "--quantity",
        "8",
        "--mass-kg",
        "200",
        "--destination",
        "Chantier Bourtzwiller",
        "--request-id",
        "figures-outcome-1",
    ]);
    assert_eq!(reused["massG"], "200000", "{reused}");
    assert_eq!(reused["kind"], "OUTCOME_KIND_REUSED_AS_IS");
    assert_eq!(reused["quantity"]["milli"], "8000");
    let recycled = partner.json(&[
        "outcomes",
        "declare",
        &claim,
        "--kind",
        "recycled",
        "--mass-kg",
        "100,5",
        "--destination",
        "=Recycleur du Rhin",
        "--siret",
        &siret("7320000000000"),
    ]);
    assert_eq!(recycled["massG"], "100500");
    let dismantling = partner.json(&[
        "hours",
        "declare",
        &claim,
        "--activity",
        "dismantling",
        "--hours",
        "1,5",
        "--people",
        "3",
    ]);
    assert_eq!(dismantling["minutes"], "90", "{dismantling}");
    assert_eq!(dismantling["people"], 3);
    partner.json(&[
        "hours",
        "declare",
        &claim,
        "--activity",
        "sorting",
        "--hours",
        "0h45",
        "--people",
        "2",
    ]);

    // The site's figures are exactly what was handed over and declared.
    let summary = admin.json(&["impact", "--site", &site]);
    let total = &summary["total"];
    assert_eq!(total["handedOverMassG"], "355250", "{summary}");
    assert_eq!(total["reusedAsIsMassG"], "200000");
    assert_eq!(total["recycledMassG"], "100500");
    assert_eq!(total["undeclaredMassG"], "54750");
    assert_eq!(total["insertionMinutes"], "135");
    assert_eq!(total["insertionPeople"], "3", "the most on one activity");
    assert_eq!(total["claims"], "1");
    assert_eq!(total["lots"], "1");
    let per_year = summary["fteHoursPerYear"].as_f64().unwrap();
    let fte = total["fte"].as_f64().unwrap();
    assert!((fte - 135.0 / 60.0 / per_year).abs() < 1e-9, "{summary}");
    let method = str_of(&summary, "methodVersion").to_owned();
    assert!(!method.is_empty());

    // For people: tonnes, hours, the share without factor, the method.
    let table = admin.ok(&["impact", "--site", &site]);
    assert!(
        table.contains(" 0,355 ")
            && table.contains(" 2,3 ")
            && table.contains("without a CO2e factor:")
            && table.contains("h a year")
            && table.contains(&format!("method: {method}")),
        "{table}"
    );

    // As CSV, everything (the demo's figures too) by quartier and month:
    // the groups sum to the total row.
    let (headers, rows) = csv_rows(&admin.ok(&["impact", "--by", "quartier,month", "-o", "csv"]));
    let col = |h: &str| headers.iter().position(|x| x == h).unwrap();
    let (total_rows, groups): (Vec<_>, Vec<_>) = rows.iter().partition(|r| r[0] == "total");
    assert_eq!(total_rows.len(), 1, "{rows:?}");
    for quartier in ["Drouot-Jonquilles", "Coteaux"] {
        assert!(
            groups.iter().any(|r| r[col("quartier")] == quartier),
            "{quartier}: {rows:?}"
        );
    }
    for name in [
        "handed_over_t",
        "reused_as_is_t",
        "recycled_t",
        "undeclared_t",
        "co2e_net_t",
    ] {
        let sum: i64 = groups.iter().map(|r| grams_of(&r[col(name)])).sum();
        assert_eq!(sum, grams_of(&total_rows[0][col(name)]), "{name}");
    }
    let minutes: i64 = groups
        .iter()
        .map(|r| r[col("insertion_minutes")].parse::<i64>().unwrap())
        .sum();
    assert_eq!(minutes.to_string(), total_rows[0][col("insertion_minutes")]);
    assert!(minutes >= 135 + 120, "both claims' hours: {rows:?}");

    // A declaration beyond the mass handed over (200 + 100.5 + 60 kg >
    // 355.25 kg) is invalid input, and changes nothing.
    let listed = admin.json(&["outcomes", "list", "--claim", &claim]);
    assert_eq!(listed["outcomes"].as_array().unwrap().len(), 2, "{listed}");
    assert_eq!(listed["hours"].as_array().unwrap().len(), 2, "{listed}");
    let err = partner.fails(
        6,
        &[
            "outcomes",
            "declare",
            &claim,
            "--kind",
            "disposed",
            "--mass-kg",
            "60",
        ],
    );
    assert!(err.contains("the server refused"), "{err}");
    assert_eq!(admin.json(&["outcomes", "list", "--claim", &claim]), listed);
    assert_eq!(admin.json(&["impact", "--site", &site]), summary);

    // The récolement: one row per lot of the site, in the form's words.
    let (headers, rows) = csv_rows(&admin.ok(&["recolement", &site, "-o", "csv"]));
    assert_eq!(rows.len(), lots.len(), "{rows:?}");
    let col = |h: &str| headers.iter().position(|x| x == h).unwrap();
    let row = |r: &str| rows.iter().find(|x| x[col("Référence")] == r).unwrap();
    assert_eq!(row("M1")[col("Remis (t)")], "0.355250");
    assert_eq!(row("M1")[col("Réemployé hors site (t)")], "0.200000");
    assert_eq!(row("M1")[col("Recyclé (t)")], "0.100500");
    assert!(
        row("M1")[col("Destinations")].contains("Chantier Bourtzwiller"),
        "{rows:?}"
    );
    assert_eq!(row("M9")[col("Dangereux")], "oui");
    assert_eq!(row("M9")[col("Réemployé hors site (t)")], "0.000000");
    let json = admin.json(&["recolement", &site]);
    assert_eq!(json["rows"].as_array().unwrap().len(), lots.len());

    // The map: a feature for the site's quartier, carrying its tonnes.
    let doc: Value = serde_json::from_str(&admin.ok(&["export", "geojson", "--figures"])).unwrap();
    let features = assert_rfc7946(&doc);
    let drouot = features
        .iter()
        .find(|f| {
            f["properties"]["kind"] == "quartier" && f["properties"]["name"] == "Drouot-Jonquilles"
        })
        .unwrap_or_else(|| panic!("no Drouot-Jonquilles feature: {doc}"));
    let quartier = admin.json(&["impact", "--quartier", "Drouot-Jonquilles"]);
    let handed: f64 = str_of(&quartier["total"], "handedOverMassG")
        .parse()
        .unwrap();
    assert!(handed >= 355_250.0, "{quartier}");
    assert_eq!(
        drouot["properties"]["handed_over_t"].as_f64().unwrap(),
        handed / 1e6
    );
    assert_eq!(drouot["properties"]["method_version"], method.as_str());
    assert!(
        features
            .iter()
            .any(|f| f["properties"]["kind"] == "commune" && f["properties"]["insee"] == "68224"),
        "{doc}"
    );

    // CSV is for lists and figures: elsewhere it is refused before anything
    // runs (a mutation never runs to then fail its printing).
    let err = admin.fails(2, &["claims", "confirm", &claim, "--output", "csv"]);
    assert!(err.contains("--output csv"), "{err}");
    stop(up);
}
