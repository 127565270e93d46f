//! The email channel end to end, on a real database of each backend and a
//! real SMTP server (aiosmtpd, a Python package, started here on a free
//! port): events as the other services make them become emails to the
//! accounts concerned only, once, whatever the redeliveries and replicas;
//! the digest groups a day's in one email; an unsubscribe link turns its
//! kind off and nothing else; a refused recipient is retried without
//! holding anyone else back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use mail_parser::MessageParser;
use reemploi_events::Message;
use reemploi_mail::{MailArgs, Mailer};
use reemploi_proto::events::envelope::Payload;
use reemploi_proto::identity as idpb;
use reemploi_proto::inventory as ipb;
use reemploi_proto::notify as pb;
use reemploi_runtime::wire::millis_ts;
use reemploi_store::{Backend, now_millis};
use uuid::Uuid;

use crate::email::MAX_ATTEMPTS;
use crate::letters::DIGEST_SUBJECT;
use crate::model::{Kind, Mode};
use crate::tests::{HOUR, ORG, World, event, world};
use crate::{Emailer, repo};

const PUBLIC_URL: &str = "https://reemploi.example";
const DAY: i64 = 24 * HOUR;

/// The Python side: an aiosmtpd server on a free port of 127.0.0.1
/// (printed once listening) that refuses recipients whose address starts
/// with `refuse` and saves each message as `NNN.eml`, its recipients in
/// `NNN.rcpt`.
const RELAY_PY: &str = r#"
import asyncio, os, sys
from aiosmtpd.smtp import SMTP

out = sys.argv[1]

class Save:
    def __init__(self):
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("refuse"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        base = os.path.join(out, "%03d" % self.count)
        with open(base + ".rcpt", "w") as f:
            f.write(",".join(envelope.rcpt_tos))
        with open(base + ".tmp", "wb") as f:
            f.write(envelope.original_content)
        os.rename(base + ".tmp", base + ".eml")
        return "250 OK"

async def main():
    # One handler for every connection: it numbers the messages.
    handler = Save()
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(handler, hostname="relay.test"), host="127.0.0.1", port=0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
"#;

/// A running relay; killed when dropped.
struct Relay {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

/// One message received: its recipient, subject and plain text.
#[derive(Debug)]
struct Received {
    to: String,
    subject: String,
    text: String,
    list_unsubscribe: String,
}

impl Relay {
    fn start() -> Relay {
        ensure_aiosmtpd();
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("relay.py");
        std::fs::write(&script, RELAY_PY).unwrap();
        let inbox = dir.path().join("inbox");
        std::fs::create_dir(&inbox).unwrap();
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(&inbox)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.path().join("relay.log")).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let port = rx
            .recv_timeout(Duration::from_secs(20))
            .ok()
            .and_then(|l| l.trim().parse().ok());
        let mut relay = Relay {
            child,
            port: 0,
            dir,
        };
        match port {
            Some(p) => relay.port = p,
            None => {
                let log = std::fs::read_to_string(relay.dir.path().join("relay.log"));
                panic!("aiosmtpd did not start: {log:?}");
            }
        }
        relay
    }

    fn mailer(&self) -> Mailer {
        let args = MailArgs {
            smtp_url: Some(format!("smtp://127.0.0.1:{}?tls=none", self.port)),
            smtp_ca_file: None,
            mail_from: "reemploi <no-reply@reemploi.example>".into(),
        };
        Mailer::new(&args, self.dir.path()).unwrap()
    }

    /// Everything received so far, in order.
    fn received(&self) -> Vec<Received> {
        let inbox = self.dir.path().join("inbox");
        let mut names: Vec<PathBuf> = std::fs::read_dir(&inbox)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|eml| {
                let raw = std::fs::read(&eml).unwrap();
                let m = MessageParser::default().parse(&raw).unwrap();
                Received {
                    to: std::fs::read_to_string(eml.with_extension("rcpt")).unwrap(),
                    subject: m.subject().unwrap_or_default().to_owned(),
                    text: m.body_text(0).unwrap_or_default().replace("\r\n", "\n"),
                    list_unsubscribe: m
                        .header_raw("List-Unsubscribe")
                        .unwrap_or_default()
                        .split_whitespace()
                        .collect(),
                }
            })
            .collect()
    }

    fn to(&self, address: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.to == address)
            .collect()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Makes sure `python3` can import aiosmtpd, installing it with pip once.
fn ensure_aiosmtpd() {
    static READY: OnceLock<bool> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        let importable = || {
            Command::new("python3")
                .args(["-c", "import aiosmtpd"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        importable()
            || (Command::new("python3")
                .args(["-m", "pip", "install", "--quiet", "aiosmtpd"])
                .env("PIP_ROOT_USER_ACTION", "ignore")
                .status()
                .is_ok_and(|s| s.success())
                && importable())
    });
    assert!(*ready, "these tests need python3 with aiosmtpd");
}

/// The accounts of the tests: two site managers of the organisation, one
/// of another, a partner's staff.
struct People {
    a1: Uuid,
    a2: Uuid,
}

const A1: &str = "chef1@m2a.example";
const A2: &str = "chef2@m2a.example";
const B: &str = "cheffe@autre.example";
const STAFF: &str = "equipe@atelier.example";

fn account_event(
    id: Uuid,
    email: &str,
    role: idpb::AccountRole,
    org: &str,
    partner: &str,
) -> Message {
    let a = idpb::Account {
        name: format!("accounts/{id}"),
        email: email.into(),
        display_name: email.into(),
        role: role as i32,
        org: org.into(),
        partner: partner.into(),
        status: idpb::AccountStatus::Active as i32,
        create_time: Some(millis_ts(now_millis() - HOUR)),
        ..Default::default()
    };
    event(
        "reemploi.identity.account.updated",
        &a.name,
        1,
        Payload::Account(a.clone()),
    )
}

async fn people(w: &World, extra: &[&str]) -> People {
    let people = People {
        a1: Uuid::now_v7(),
        a2: Uuid::now_v7(),
    };
    let partner = format!("partners/{}", w.partner);
    let mut all = vec![
        account_event(people.a1, A1, idpb::AccountRole::SiteManager, ORG, ""),
        account_event(people.a2, A2, idpb::AccountRole::SiteManager, ORG, ""),
        account_event(
            Uuid::now_v7(),
            B,
            idpb::AccountRole::SiteManager,
            "autre",
            "",
        ),
        account_event(
            Uuid::now_v7(),
            STAFF,
            idpb::AccountRole::Partner,
            "",
            &partner,
        ),
    ];
    for email in extra {
        let id = Uuid::now_v7();
        all.push(account_event(
            id,
            email,
            idpb::AccountRole::SiteManager,
            ORG,
            "",
        ));
    }
    for e in &all {
        w.apply("notify-identity", e).await;
    }
    w.apply("notify-inventory", &w.site_event()).await;
    w.apply(
        "notify-inventory",
        &w.lot_event(ipb::LotStatus::Published, 2, None),
    )
    .await;
    people
}

/// A new reservation on the lot: the managers' kind.
async fn reserve(w: &World) -> String {
    let claim = w.claim_name();
    w.apply(
        "notify-inventory",
        &w.claim_event(&claim, ipb::ClaimStatus::Reserved, 1, None),
    )
    .await;
    claim
}

fn emailer(w: &World, relay: &Relay) -> Emailer {
    // The digest hour half a day away from now: a test never straddles it.
    let hour = u32::try_from((now_millis() / HOUR + 12) % 24).unwrap();
    Emailer::new(w.notify.clone(), relay.mailer(), PUBLIC_URL, hour)
}

/// Fans out and sends what is due now; how many emails went.
async fn deliver(e: &Emailer) -> usize {
    e.fan_out().await.unwrap();
    e.send_due(now_millis()).await.unwrap()
}

async fn each_backend<F, Fut>(test: F)
where
    F: Fn(Backend) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    test(Backend::Sqlite).await;
    test(Backend::Postgres).await;
}

#[tokio::test]
async fn a_reservation_emails_each_manager_of_the_site_once() {
    each_backend(|backend| async move {
        let relay = Relay::start();
        let w = world(backend).await;
        let p = people(&w, &[]).await;
        let e = emailer(&w, &relay);
        let claim = reserve(&w).await;
        assert_eq!(deliver(&e).await, 2, "{backend:?}");
        let got = relay.received();
        let mut to: Vec<&str> = got.iter().map(|r| r.to.as_str()).collect();
        to.sort_unstable();
        assert_eq!(to, [A1, A2], "{backend:?}");
        let mine = &relay.to(A1)[0];
        assert_eq!(
            mine.subject,
            "Nouvelle réservation : Radiateurs fonte (R12)"
        );
        let site = w.site.trim_start_matches("sites/");
        let page = format!("{PUBLIC_URL}/chantiers/{site}/lots/r12\n");
        assert!(mine.text.contains(&page), "{}", mine.text);
        let token = w.notify.unsubscriber().token(p.a1, Kind::ClaimReserved);
        let stop = format!("{PUBLIC_URL}/notifications/desabonnement?jeton={token}\n");
        assert!(mine.text.contains(&stop), "{}", mine.text);
        assert_eq!(mine.list_unsubscribe, format!("<{}>", stop.trim_end()));
        // Delivered again, under its id or a new one: nothing more; nor
        // from a second replica reading the same notifications.
        let again = w.claim_event(&claim, ipb::ClaimStatus::Reserved, 1, None);
        w.apply("notify-inventory", &again).await;
        w.apply("notify-inventory", &again).await;
        let replica = emailer(&w, &relay);
        // A replica that read the same notifications before the cursor
        // moved makes no row twice.
        sqlx::query("DELETE FROM cursors")
            .execute(w.notify.db().pool())
            .await
            .unwrap();
        assert_eq!(replica.fan_out().await.unwrap(), 0, "{backend:?}");
        assert_eq!(deliver(&replica).await, 0);
        assert_eq!(deliver(&e).await, 0);
        assert_eq!(relay.received().len(), 2, "{backend:?}");
    })
    .await;
}

#[tokio::test]
async fn with_digest_chosen_a_days_notifications_come_as_one_email() {
    each_backend(|backend| async move {
        let relay = Relay::start();
        let w = world(backend).await;
        let p = people(&w, &[]).await;
        {
            let mut conn = w.notify.db().pool().acquire().await.unwrap();
            repo::set_mode(&mut conn, p.a1, Kind::ClaimReserved, Mode::Digest)
                .await
                .unwrap();
        }
        let e = emailer(&w, &relay);
        reserve(&w).await;
        reserve(&w).await;
        // The other manager gets each as it comes; the first, nothing yet.
        assert_eq!(deliver(&e).await, 2, "{backend:?}");
        assert_eq!(relay.to(A2).len(), 2);
        assert!(relay.to(A1).is_empty());
        let now = now_millis();
        // Made after today's digest hour came: for tomorrow's.
        assert_eq!(e.send_digests(now).await.unwrap(), 0);
        assert_eq!(e.send_digests(now + DAY).await.unwrap(), 1, "{backend:?}");
        assert_eq!(e.send_digests(now + DAY + HOUR).await.unwrap(), 0);
        assert_eq!(e.send_digests(now + 2 * DAY).await.unwrap(), 0);
        let digest = relay.to(A1);
        assert_eq!(digest.len(), 1, "{backend:?}");
        assert_eq!(digest[0].subject, DIGEST_SUBJECT);
        let title = "- Nouvelle réservation : Radiateurs fonte (R12)";
        assert_eq!(
            digest[0].text.matches(title).count(),
            2,
            "{}",
            digest[0].text
        );
        assert_eq!(digest[0].text.matches("jeton=").count(), 1);
        assert_eq!(relay.received().len(), 3);
    })
    .await;
}

#[tokio::test]
async fn an_unsubscribe_link_turns_its_kind_off_and_no_other() {
    each_backend(|backend| async move {
        let relay = Relay::start();
        let w = world(backend).await;
        people(&w, &[]).await;
        let e = emailer(&w, &relay);
        let claim = reserve(&w).await;
        assert_eq!(deliver(&e).await, 2);
        // The link of the email received, followed.
        let text = relay.to(A1)[0].text.clone();
        let token = text
            .split("jeton=")
            .nth(1)
            .and_then(|t| t.split_whitespace().next())
            .unwrap()
            .to_owned();
        let done = w
            .notify
            .unsubscribe(&pb::UnsubscribeRequest { token })
            .await
            .unwrap();
        assert_eq!(done.kind, pb::NotificationKind::ClaimReserved as i32);
        reserve(&w).await;
        assert_eq!(deliver(&e).await, 1, "{backend:?}");
        assert_eq!(relay.to(A1).len(), 1, "{backend:?}");
        assert_eq!(relay.to(A2).len(), 2);
        // Another kind still comes.
        w.apply(
            "notify-inventory",
            &w.claim_event(&claim, ipb::ClaimStatus::Cancelled, 2, None),
        )
        .await;
        assert_eq!(deliver(&e).await, 2, "{backend:?}");
        let mine = relay.to(A1);
        assert_eq!(mine.len(), 2);
        assert!(
            mine[1].subject.starts_with("Réservation annulée"),
            "{mine:?}"
        );
        assert!(relay.to(B).is_empty() && relay.to(STAFF).is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_refused_recipient_is_retried_later_and_holds_nobody_else_back() {
    each_backend(|backend| async move {
        let relay = Relay::start();
        let w = world(backend).await;
        people(&w, &["refuse@m2a.example"]).await;
        let e = emailer(&w, &relay);
        reserve(&w).await;
        reserve(&w).await;
        assert_eq!(deliver(&e).await, 4, "{backend:?}");
        assert_eq!(relay.to(A1).len(), 2);
        let rows = |w: &World| {
            let db = w.notify.db().clone();
            async move {
                let mut conn = db.pool().acquire().await.unwrap();
                let rows: Vec<(i64, String, i64, i64)> = sqlx::query_as(
                    "SELECT e.seq, e.state, e.attempts, e.next_attempt_at FROM emails e \
                     JOIN accounts a ON a.id = e.account_id \
                     WHERE a.email = 'refuse@m2a.example' ORDER BY e.seq",
                )
                .fetch_all(&mut *conn)
                .await
                .unwrap();
                rows
            }
        };
        let now = now_millis();
        let held = rows(&w).await;
        assert_eq!(held.len(), 2, "{backend:?}");
        // The first failed once and waits; the second waits behind it.
        assert_eq!((held[0].1.as_str(), held[0].2), ("pending", 1));
        assert!(held[0].3 > now, "{held:?}");
        assert_eq!((held[1].1.as_str(), held[1].2), ("pending", 0));
        assert_eq!(e.send_due(now).await.unwrap(), 0);
        assert_eq!(rows(&w).await[0].2, 1, "not retried before its time");
        // Its time come, it is tried again, and waits longer.
        assert_eq!(e.send_due(now + 31_000).await.unwrap(), 0);
        let again = rows(&w).await;
        assert_eq!(again[0].2, 2);
        assert!(again[0].3 >= now + 31_000 + 60_000, "{again:?}");
        assert_eq!(again[1].2, 0);
        let error: Option<String> =
            sqlx::query_scalar("SELECT last_error FROM emails WHERE seq = $1 AND attempts = 2")
                .bind(again[0].0)
                .fetch_one(w.notify.db().pool())
                .await
                .unwrap();
        assert!(error.unwrap().contains("550"));
        // Given up at last: the next one is tried.
        let mut t = now + 31_000;
        for _ in 2..MAX_ATTEMPTS {
            t += 7 * HOUR;
            e.send_due(t).await.unwrap();
        }
        let last = rows(&w).await;
        assert_eq!(last[0].1, "failed", "{last:?}");
        assert!(last[1].2 >= 1, "{last:?}");
        assert_eq!(relay.received().len(), 4);
    })
    .await;
}
