//! End-to-end tests of the real `reemploi` binary.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reemploi_proto::inventory as pb;
use reemploi_proto::inventory::inventory_service_client::InventoryServiceClient;
use tonic::metadata::MetadataValue;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const BIN: &str = env!("CARGO_BIN_EXE_reemploi");

/// A running `reemploi up`; killed if the test fails before stopping it.
struct Up {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn up_demo(data_dir: &Path) -> Up {
    let mut child = Command::new(BIN)
        .args(["up", "--demo", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env_remove("DATABASE_URL")
        .env_remove("NATS_URL")
        .env_remove("REEMPLOI_JWT_SECRET")
        .env_remove("REEMPLOI_JWT_PUBLIC_KEY")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    // Keep draining stdout (logs go there too) so the child never blocks.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if let Some(addr) = line.strip_prefix("listening on ") {
                let _ = tx.send(addr.trim().parse::<SocketAddr>().unwrap());
            }
        }
    });
    let addr = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(addr) => addr,
        Err(e) => {
            let _ = child.kill();
            panic!("reemploi up did not print its address: {e}");
        }
    };
    Up { child, addr }
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
            Ok(m) if !m.is_empty() => break m,
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
    for service in [
        "",
        "reemploi.inventory.v1.InventoryService",
        "reemploi.registry.v1.RegistryService",
        "reemploi.matching.v1.MatchingService",
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
