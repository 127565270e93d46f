//! `reemploi backup` taken while claims are being made, and `reemploi
//! restore`: the restored platform starts, every ledger holds, nothing its
//! inventory recorded is missing from the event log, and its consumers
//! catch up with what their copies lacked.

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::Connection as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

use super::commands::{draft, verified_partner};
use super::imports::{Server, site};
use super::{Client, str_of, up_with};

/// A count read straight from a database file of the data directory.
fn count(db: &Path, sql: &str) -> i64 {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let options = SqliteConnectOptions::new().filename(db).read_only(true);
        let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
        let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&mut conn)
            .await
            .unwrap();
        n
    })
}

/// Waits until `sql` counts `want` in `db`.
fn counts_eventually(db: &Path, sql: &str, want: i64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n = count(db, sql);
        if n == want {
            return;
        }
        assert!(Instant::now() < deadline, "{sql}: {n}, not {want}");
        thread::sleep(Duration::from_millis(100));
    }
}

/// Every lot's ledger adds up, and the reserved quantity of all lots is
/// what the open claims hold.
fn ledgers_hold(admin: &Client) {
    let lots = admin.json(&["lots", "list", "--limit", "0"]);
    let milli = |v: &Value, k: &str| v[k]["milli"].as_str().unwrap().parse::<i64>().unwrap();
    let mut reserved = 0;
    for lot in lots.as_array().unwrap() {
        let (q, a, r, h) = (
            milli(lot, "quantity"),
            milli(lot, "available"),
            milli(lot, "reserved"),
            milli(lot, "handedOver"),
        );
        assert_eq!(q, a + r + h, "{lot}");
        reserved += r;
    }
    let claims = admin.json(&["claims", "list", "--limit", "0"]);
    let held: i64 = claims
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            matches!(
                str_of(c, "status"),
                "CLAIM_STATUS_RESERVED" | "CLAIM_STATUS_CONFIRMED"
            )
        })
        .map(|c| milli(c, "quantity"))
        .sum();
    assert_eq!(reserved, held);
}

#[test]
fn a_backup_taken_during_writes_is_restored_whole() {
    let server = Server::start();
    let admin = &server.admin;
    let coteaux = site(admin, "Coteaux – tour G");
    let lots: Vec<String> = (0..3)
        .map(|i| {
            let lot = draft(admin, &coteaux, &format!("Portes lot {i}"), &[]);
            let name = str_of(&lot, "name").to_owned();
            admin.ok(&["lots", "publish", &name]);
            name
        })
        .collect();
    let (_, partner) = verified_partner(&server, "Atelier de la Doller", "9001234560004");
    partner.json_eventually(&["claim", &lots[0], "--quantity", "1"]);

    // Claims keep coming while the backup is taken.
    let writer = {
        let (partner, admin, lots) = (partner.clone(), admin.clone(), lots.clone());
        thread::spawn(move || {
            for i in 0..24 {
                let claim = partner.json(&["claim", &lots[i % 3], "--quantity", "1"]);
                if i % 4 == 0 {
                    admin.ok(&["claims", "confirm", str_of(&claim, "name")]);
                }
            }
        })
    };
    thread::sleep(Duration::from_millis(300));
    let data = server.dir.path().join("data");
    // An operator's own file in the data directory is not backed up.
    std::fs::write(data.join("notes 2026.txt"), "à garder ailleurs").unwrap();
    let archive = server.path("reemploi.tar");
    admin.ok(&[
        "backup",
        "--data-dir",
        data.to_str().unwrap(),
        "--to",
        archive.to_str().unwrap(),
    ]);
    writer.join().unwrap();
    super::stop(server.up);

    let restored = server.dir.path().join("restored");
    let args = |dir: &Path| {
        vec![
            "restore".to_owned(),
            "--from".to_owned(),
            archive.to_str().unwrap().to_owned(),
            "--data-dir".to_owned(),
            dir.to_str().unwrap().to_owned(),
        ]
    };
    let restore = args(&restored);
    admin.ok(&restore.iter().map(String::as_str).collect::<Vec<_>>());
    let again = args(&data);
    let err = admin.fails(6, &again.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(err.contains("is not empty"), "{err}");
    assert!(!restored.join("notes 2026.txt").exists());
    // An archive cut short is refused, and leaves no directory behind.
    let bytes = std::fs::read(&archive).unwrap();
    let cut = server.dir.path().join("cut.tar");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let elsewhere = server.dir.path().join("elsewhere");
    let err = admin.fails(
        6,
        &[
            "restore",
            "--from",
            cut.to_str().unwrap(),
            "--data-dir",
            elsewhere.to_str().unwrap(),
        ],
    );
    assert!(err.contains("cut.tar"), "{err}");
    assert!(!elsewhere.exists(), "nothing left of a refused restore");

    // The restored platform starts on the copy, with the same keys.
    let (up, _) = up_with(&restored, &[]);
    let admin = Client {
        addr: format!("http://{}", up.addr),
        ..admin.clone()
    };
    ledgers_hold(&admin);
    let inventory = restored.join("inventory.db");
    counts_eventually(
        &inventory,
        "SELECT COUNT(*) FROM outbox WHERE published_at IS NULL",
        0,
    );
    let claims = count(&inventory, "SELECT COUNT(*) FROM claims");
    assert!(
        claims >= 2,
        "claims made before the backup are in it: {claims}"
    );
    // The log was copied first: it speaks of no claim the inventory's copy
    // lacks, and gets the events of those made after it again.
    let logged = "SELECT COUNT(DISTINCT event_id) FROM messages \
                  WHERE subject = 'reemploi.inventory.claim.reserved'";
    counts_eventually(&restored.join("bus.db"), logged, claims);
    counts_eventually(
        &restored.join("matching.db"),
        "SELECT COUNT(*) FROM claims",
        claims,
    );
    super::stop(up);
}
