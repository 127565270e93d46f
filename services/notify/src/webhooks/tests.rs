//! Webhooks end to end on a real database of each backend, with events
//! applied as the consumers apply them and real HTTP receivers on local
//! sockets: signed bodies, one delivery per event in event order, a
//! receiver down holding up only its own webhook, retries by hand, and the
//! rules of who may do what.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use prost::Message as _;
use reemploi_events::Message;
use reemploi_proto::events::Envelope;
use reemploi_proto::events::envelope::Payload;
use reemploi_proto::inventory as ipb;
use reemploi_proto::notify as pb;
use reemploi_runtime::auth::{Principal, Role};
use reemploi_runtime::envelope;
use reemploi_runtime::paging::Pager;
use reemploi_store::{Backend, now_millis};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{Settings, Webhooks};
use crate::{Notify, Unsubscriber, migrations};

const CONSUMER: &str = "notify-inventory";

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Got {
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

#[derive(Default)]
struct ReceiverState {
    up: bool,
    /// Closes each connection at once, reading nothing.
    hang_up: bool,
    /// How many connections were closed so.
    hung_up: usize,
    /// The requests answered 2xx, in arrival order.
    got: Vec<Got>,
    /// How many were answered 503.
    refused: usize,
}

/// A minimal HTTP/1.1 receiver: 204 when up, 503 when down.
#[derive(Clone)]
struct Receiver {
    addr: SocketAddr,
    state: Arc<Mutex<ReceiverState>>,
}

impl Receiver {
    async fn start(up: bool) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let state = Arc::new(Mutex::new(ReceiverState {
            up,
            ..ReceiverState::default()
        }));
        let r = Receiver {
            addr: listener.local_addr().unwrap(),
            state: state.clone(),
        };
        tokio::spawn(async move {
            loop {
                let (mut sock, _) = listener.accept().await.unwrap();
                let state = state.clone();
                {
                    let mut s = state.lock().unwrap();
                    if s.hang_up {
                        s.hung_up += 1;
                        drop(sock);
                        continue;
                    }
                }
                tokio::spawn(async move {
                    let Some(got) = read_request(&mut sock).await else {
                        return;
                    };
                    let up = {
                        let mut s = state.lock().unwrap();
                        if s.up {
                            s.got.push(got);
                        } else {
                            s.refused += 1;
                        }
                        s.up
                    };
                    let answer = if up {
                        "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"
                    } else {
                        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    };
                    let _ = sock.write_all(answer.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        r
    }

    fn url(&self) -> String {
        format!("http://{}/hooks/reemploi", self.addr)
    }

    fn set_up(&self, up: bool) {
        self.state.lock().unwrap().up = up;
    }

    fn set_hang_up(&self, hang_up: bool) {
        self.state.lock().unwrap().hang_up = hang_up;
    }

    fn hung_up(&self) -> usize {
        self.state.lock().unwrap().hung_up
    }

    fn got(&self) -> Vec<Got> {
        self.state.lock().unwrap().got.clone()
    }

    fn refused(&self) -> usize {
        self.state.lock().unwrap().refused
    }

    /// The event ids received, in arrival order.
    fn event_ids(&self) -> Vec<String> {
        self.got()
            .iter()
            .map(|g| g.headers["reemploi-event-id"].clone())
            .collect()
    }
}

async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<Got> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..end].to_vec()).ok()?;
    let headers: HashMap<String, String> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = buf[end..].to_vec();
    while body.len() < len {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Got { headers, body })
}

struct World {
    notify: Notify,
    hooks: Webhooks,
    stop: CancellationToken,
    _db: reemploi_testing::db::TestDb,
    site: String,
}

impl Drop for World {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A world whose webhooks may post to the local receivers.
async fn world(backend: Backend, give_up_after: Duration) -> World {
    world_with(backend, give_up_after, true).await
}

async fn world_with(backend: Backend, give_up_after: Duration, allow_private: bool) -> World {
    let db = reemploi_testing::db::fresh(backend).await;
    db.db.migrate(&migrations()).await.unwrap();
    let notify = Notify::new(
        db.db.clone(),
        Pager::new(b"test pages"),
        Unsubscriber::new(b"test links"),
        CancellationToken::new(),
    );
    let stop = CancellationToken::new();
    let settings = Settings {
        retry_base: Duration::from_millis(20),
        give_up_after,
        timeout: Duration::from_secs(2),
        allow_private,
    };
    tokio::spawn(notify.clone().deliver_webhooks(settings, stop.clone()));
    World {
        hooks: Webhooks::new(notify.clone(), Pager::new(b"test pages"), allow_private),
        notify,
        stop,
        _db: db,
        site: format!("sites/{}", Uuid::now_v7()),
    }
}

fn integrator(name: &str) -> Principal {
    Principal {
        subject: format!("integrators/{name}"),
        role: Role::Integrator,
        org: None,
        partner: None,
    }
}

fn admin() -> Principal {
    Principal {
        subject: "accounts/admin".into(),
        role: Role::Admin,
        org: None,
        partner: None,
    }
}

fn create_req(url: &str, types: &[&str], request_id: &str) -> pb::CreateWebhookRequest {
    pb::CreateWebhookRequest {
        webhook: Some(pb::Webhook {
            url: url.to_owned(),
            event_types: types.iter().map(|t| (*t).to_owned()).collect(),
            ..Default::default()
        }),
        request_id: request_id.to_owned(),
    }
}

/// The lot event `n` of `site`, as the inventory makes it.
fn lot_event(site: &str, n: u32, subject: &str) -> Message {
    let name = format!("{site}/lots/r{n}");
    let lot = ipb::Lot {
        name: name.clone(),
        designation: "Portes isoplanes".into(),
        reference: format!("R{n}"),
        status: ipb::LotStatus::Published as i32,
        ..Default::default()
    };
    envelope::message(
        "inventory",
        subject.into(),
        name,
        1,
        now_millis(),
        Payload::Lot(lot),
    )
}

impl World {
    fn lot_event(&self, n: u32, subject: &str) -> Message {
        lot_event(&self.site, n, subject)
    }

    async fn apply(&self, msg: &Message) {
        self.notify.apply(CONSUMER, msg).await.unwrap();
    }

    async fn create(&self, p: &Principal, url: &str, types: &[&str]) -> pb::Webhook {
        self.hooks
            .create(p, &create_req(url, types, ""))
            .await
            .unwrap()
    }

    async fn deliveries(
        &self,
        p: &Principal,
        hook: &pb::Webhook,
        state: pb::DeliveryState,
    ) -> Vec<pb::Delivery> {
        let req = pb::ListDeliveriesRequest {
            parent: hook.name.clone(),
            state: state as i32,
            ..Default::default()
        };
        self.hooks.deliveries(p, &req).await.unwrap().deliveries
    }
}

/// Waits up to 15 s for `cond`.
async fn eventually<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..300 {
        if cond().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("v1={hex}")
}

async fn both<F, Fut>(test: F)
where
    F: Fn(Backend) -> Fut,
    Fut: Future<Output = ()>,
{
    test(Backend::Sqlite).await;
    test(Backend::Postgres).await;
}

#[tokio::test]
async fn a_delivery_is_signed_with_the_webhooks_secret() {
    both(|backend| async move {
        let w = world(backend, Duration::from_secs(60)).await;
        let receiver = Receiver::start(true).await;
        let p = integrator("acme");
        let hook = w.create(&p, &receiver.url(), &["inventory.lot.*"]).await;
        assert_eq!(hook.secret.len(), 43, "32 bytes in base64url");
        let other = w.create(&p, &receiver.url(), &["registry.>"]).await;
        let msg = w.lot_event(1, "reemploi.inventory.lot.published");
        w.apply(&msg).await;
        eventually("the delivery", || async { receiver.got().len() == 1 }).await;
        let got = &receiver.got()[0];
        let h = &got.headers;
        assert_eq!(h["content-type"], "application/json");
        assert_eq!(h["reemploi-event-id"], msg.event_id);
        assert_eq!(h["reemploi-event-type"], "inventory.lot.published");
        let ts = &h["reemploi-timestamp"];
        let sent: i64 = ts.parse().unwrap();
        assert!((now_millis() / 1000 - sent).abs() < 60);
        assert_eq!(h["reemploi-signature"], sign(&hook.secret, ts, &got.body));
        assert_ne!(h["reemploi-signature"], sign(&other.secret, ts, &got.body));
        assert_ne!(
            h["reemploi-signature"],
            sign(&hook.secret, &(sent + 1).to_string(), &got.body)
        );
        let json: serde_json::Value = serde_json::from_slice(&got.body).unwrap();
        assert_eq!(json["id"], msg.event_id.as_str());
        assert_eq!(json["type"], "inventory.lot.published");
        assert_eq!(json["aggregate"], format!("{}/lots/r1", w.site).as_str());
        assert_eq!(json["version"], 1);
        assert_eq!(json["producer"], "inventory");
        assert!(json["occurred_at"].as_str().unwrap().ends_with('Z'));
        let data = base64::engine::general_purpose::STANDARD
            .decode(json["data"].as_str().unwrap())
            .unwrap();
        let env = Envelope::decode(data.as_slice()).unwrap();
        assert_eq!(env.event_id, msg.event_id);
        assert!(matches!(env.payload, Some(Payload::Lot(_))));
        // The other webhook asked for other events: nothing for it.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(receiver.got().len(), 1);
        let listed = w
            .deliveries(&p, &other, pb::DeliveryState::Unspecified)
            .await;
        assert!(listed.is_empty());
        let listed = w.deliveries(&p, &hook, pb::DeliveryState::Delivered).await;
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].attempts, 1);
        assert!(listed[0].deliver_time.is_some());
    })
    .await;
}

#[tokio::test]
async fn a_receiver_down_delays_only_its_own_deliveries_which_all_come_in_order_once() {
    both(|backend| async move {
        let w = world(backend, Duration::from_secs(600)).await;
        let down = Receiver::start(false).await;
        let healthy = Receiver::start(true).await;
        let p = integrator("acme");
        let slow = w.create(&p, &down.url(), &["inventory.>"]).await;
        w.create(
            &integrator("other"),
            &healthy.url(),
            &["inventory.lot.published"],
        )
        .await;
        let mut sent = Vec::new();
        for n in 0..6 {
            let msg = w.lot_event(n, "reemploi.inventory.lot.published");
            w.apply(&msg).await;
            sent.push(msg.event_id);
        }
        eventually("the healthy receiver's deliveries", || async {
            healthy.got().len() == sent.len()
        })
        .await;
        assert_eq!(healthy.event_ids(), sent);
        assert!(down.got().is_empty());
        // Down for a while: the first delivery is retried, the others wait.
        eventually("retries", || async { down.refused() >= 4 }).await;
        let pending = w.deliveries(&p, &slow, pb::DeliveryState::Pending).await;
        assert_eq!(pending.len(), sent.len());
        let first = pending.last().unwrap();
        assert!(first.attempts >= 3, "{first:?}");
        assert_eq!(first.last_error, "HTTP 503", "{first:?}");
        assert!(pending[..pending.len() - 1].iter().all(|d| d.attempts == 0));
        down.set_up(true);
        eventually("the recovered receiver's deliveries", || async {
            down.got().len() == sent.len()
        })
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(down.event_ids(), sent, "each once, in event order");
        assert_eq!(healthy.event_ids(), sent);
        let done = w.deliveries(&p, &slow, pb::DeliveryState::Delivered).await;
        assert_eq!(done.len(), sent.len());
    })
    .await;
}

#[tokio::test]
async fn a_redelivered_event_makes_no_second_delivery() {
    both(|backend| async move {
        let w = world(backend, Duration::from_secs(60)).await;
        let receiver = Receiver::start(true).await;
        let p = integrator("acme");
        let hook = w
            .create(&p, &receiver.url(), &["inventory.lot.published"])
            .await;
        let msg = w.lot_event(1, "reemploi.inventory.lot.published");
        w.apply(&msg).await;
        w.apply(&msg).await;
        // Even past the inbox (another consumer's), the event goes once.
        w.notify.apply("notify-replay", &msg).await.unwrap();
        let other = w.lot_event(2, "reemploi.inventory.lot.withdrawn");
        w.apply(&other).await;
        // Accounts carry emails: never sent, whatever the patterns.
        let everything = w.create(&p, &receiver.url(), &[">"]).await;
        let id = Uuid::now_v7();
        let account = reemploi_proto::identity::Account {
            name: format!("accounts/{id}"),
            email: "cheffe@m2a.example".into(),
            role: reemploi_proto::identity::AccountRole::SiteManager as i32,
            org: "m2a".into(),
            ..Default::default()
        };
        let msg_account = envelope::message(
            "identity",
            "reemploi.identity.account.created".into(),
            account.name.clone(),
            1,
            now_millis(),
            Payload::Account(account),
        );
        w.notify
            .apply("notify-identity", &msg_account)
            .await
            .unwrap();
        let none = w
            .deliveries(&p, &everything, pb::DeliveryState::Unspecified)
            .await;
        assert!(none.is_empty(), "{none:?}");
        eventually("the delivery", || async { receiver.got().len() == 1 }).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(receiver.event_ids(), vec![msg.event_id.clone()]);
        let all = w
            .deliveries(&p, &hook, pb::DeliveryState::Unspecified)
            .await;
        assert_eq!(all.len(), 1);
    })
    .await;
}

fn code_of(e: crate::NotifyError) -> tonic::Status {
    tonic::Status::from(e)
}

#[tokio::test]
async fn bad_webhooks_are_refused_and_make_nothing() {
    both(|backend| async move {
        let w = world(backend, Duration::from_secs(60)).await;
        let p = integrator("acme");
        let cases = [
            ("ftp://127.0.0.1/in", vec!["inventory.>"], "webhook.url"),
            (
                "http://hooks.example.org/in",
                vec!["inventory.>"],
                "webhook.url",
            ),
            ("http://127.0.0.1:9/in", vec![], "webhook.event_types"),
            (
                "https://hooks.example.org/in",
                vec!["reemploi.inventory.lot.published"],
                "webhook.event_types[0]",
            ),
            (
                "https://hooks.example.org/in",
                vec!["inventory.lot.published", "inventory.>.x"],
                "webhook.event_types[1]",
            ),
        ];
        for (url, types, field) in cases {
            let err = w
                .hooks
                .create(&p, &create_req(url, &types, ""))
                .await
                .unwrap_err();
            let status = code_of(err);
            assert_eq!(
                status.code(),
                tonic::Code::InvalidArgument,
                "{url} {types:?}"
            );
            let fields = reemploi_runtime::status::field_violations(&status);
            assert!(fields.iter().any(|(f, _)| f == field), "{fields:?}");
        }
        let listed = w.hooks.list(&admin(), &Default::default()).await.unwrap();
        assert!(listed.webhooks.is_empty(), "nothing was made");
    })
    .await;
}

#[tokio::test]
async fn only_integrators_and_admins_have_webhooks_each_its_own() {
    both(|backend| async move {
        let w = world(backend, Duration::from_secs(60)).await;
        let p = integrator("acme");
        for role in [Role::Partner, Role::SiteManager] {
            let who = Principal {
                subject: "accounts/someone".into(),
                role,
                org: Some("m2a".into()),
                partner: Some(format!("partners/{}", Uuid::now_v7())),
            };
            let req = create_req("https://hooks.example.org/in", &["inventory.>"], "");
            let err = code_of(w.hooks.create(&who, &req).await.unwrap_err());
            assert_eq!(err.code(), tonic::Code::PermissionDenied);
            let err = code_of(w.hooks.list(&who, &Default::default()).await.unwrap_err());
            assert_eq!(err.code(), tonic::Code::PermissionDenied);
        }
        // A retry with the same request id gets the first answer.
        let req = create_req("https://hooks.example.org/in", &["inventory.>"], "create-1");
        let first = w.hooks.create(&p, &req).await.unwrap();
        let again = w.hooks.create(&p, &req).await.unwrap();
        assert_eq!(first, again);
        let theirs = w
            .create(
                &integrator("rival"),
                "https://rival.example.org/",
                &["registry.>"],
            )
            .await;
        let mine = w.hooks.list(&p, &Default::default()).await.unwrap();
        assert_eq!(mine.webhooks.len(), 1);
        assert_eq!(mine.webhooks[0].name, first.name);
        assert!(mine.webhooks[0].secret.is_empty(), "never listed");
        let del = pb::DeleteWebhookRequest {
            name: theirs.name.clone(),
        };
        let err = code_of(w.hooks.delete(&p, &del).await.unwrap_err());
        assert_eq!(err.code(), tonic::Code::NotFound);
        let list_theirs = pb::ListDeliveriesRequest {
            parent: theirs.name.clone(),
            ..Default::default()
        };
        let err = code_of(w.hooks.deliveries(&p, &list_theirs).await.unwrap_err());
        assert_eq!(err.code(), tonic::Code::NotFound);
        let all = w.hooks.list(&admin(), &Default::default()).await.unwrap();
        assert_eq!(all.webhooks.len(), 2);
        // Its owner deletes it: no more deliveries, the old ones kept.
        w.hooks.delete(&integrator("rival"), &del).await.unwrap();
        let all = w.hooks.list(&admin(), &Default::default()).await.unwrap();
        assert_eq!(all.webhooks.len(), 1);
        let err = code_of(
            w.hooks
                .delete(&integrator("rival"), &del)
                .await
                .unwrap_err(),
        );
        assert_eq!(err.code(), tonic::Code::NotFound);
    })
    .await;
}

#[tokio::test]
async fn a_receiver_that_refuses_connections_gets_its_deliveries_once_it_listens() {
    both(|backend| async move {
        let w = world(backend, Duration::from_secs(60)).await;
        // A receiver that hangs up on every connection, for now.
        let receiver = Receiver::start(true).await;
        receiver.set_hang_up(true);
        let p = integrator("acme");
        let hook = w.create(&p, &receiver.url(), &["inventory.lot.*"]).await;
        let a = w.lot_event(1, "reemploi.inventory.lot.published");
        let b = w.lot_event(2, "reemploi.inventory.lot.withdrawn");
        w.apply(&a).await;
        w.apply(&b).await;
        eventually("refused attempts", || async {
            let pending = w.deliveries(&p, &hook, pb::DeliveryState::Pending).await;
            pending.last().is_some_and(|d| d.attempts >= 2)
        })
        .await;
        assert!(receiver.hung_up() >= 2);
        let pending = w.deliveries(&p, &hook, pb::DeliveryState::Pending).await;
        let first = pending.last().unwrap();
        // Only the category: nothing of the connection's details.
        assert_eq!(first.last_error, "connection failed", "{first:?}");
        receiver.set_hang_up(false);
        eventually("both deliveries", || async { receiver.got().len() == 2 }).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(receiver.event_ids(), vec![a.event_id, b.event_id]);
    })
    .await;
}

#[tokio::test]
async fn a_deleted_webhook_gets_nothing_more() {
    both(|backend| async move {
        let w = world(backend, Duration::from_secs(60)).await;
        let receiver = Receiver::start(false).await;
        let p = integrator("acme");
        let hook = w.create(&p, &receiver.url(), &["inventory.>"]).await;
        w.apply(&w.lot_event(1, "reemploi.inventory.lot.published"))
            .await;
        eventually("a refused attempt", || async { receiver.refused() >= 1 }).await;
        let del = pb::DeleteWebhookRequest {
            name: hook.name.clone(),
        };
        w.hooks.delete(&p, &del).await.unwrap();
        receiver.set_up(true);
        w.apply(&w.lot_event(2, "reemploi.inventory.lot.published"))
            .await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(receiver.got().is_empty(), "nothing posted once deleted");
        // Its deliveries are kept, and no new one was made.
        let kept = w
            .deliveries(&p, &hook, pb::DeliveryState::Unspecified)
            .await;
        assert_eq!(kept.len(), 1);
        let retry = pb::RetryDeliveryRequest {
            name: kept[0].name.clone(),
        };
        let err = code_of(w.hooks.retry(&p, &retry).await.unwrap_err());
        assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    })
    .await;
}

/// Another's failed delivery, named under one's own webhook: not found,
/// and not put back in line either.
async fn no_retry_through_another_webhook(w: &World, failed: &pb::Delivery) {
    let rival = integrator("rival");
    let theirs = w
        .create(&rival, "https://rival.example.org/", &["registry.>"])
        .await;
    let failed_id: Uuid = failed.name.rsplit('/').next().unwrap().parse().unwrap();
    let crossed = pb::RetryDeliveryRequest {
        name: format!("{}/deliveries/{failed_id}", theirs.name),
    };
    let err = code_of(w.hooks.retry(&rival, &crossed).await.unwrap_err());
    assert_eq!(err.code(), tonic::Code::NotFound);
    let theirs_id: Uuid = theirs.name["webhooks/".len()..].parse().unwrap();
    let mut conn = w.notify.db().pool().acquire().await.unwrap();
    let moved = super::store::retry(&mut conn, theirs_id, failed_id, now_millis())
        .await
        .unwrap();
    assert!(!moved, "a delivery is retried only through its own webhook");
}

#[tokio::test]
async fn a_failed_delivery_is_sent_again_on_request() {
    both(|backend| async move {
        // Retries end fast here, to see deliveries fail (that a failure is
        // retried within its window is deliver::after_failure's test: here
        // an attempt may come late on a loaded machine).
        let w = world(backend, Duration::from_millis(400)).await;
        let receiver = Receiver::start(false).await;
        let p = integrator("acme");
        let hook = w.create(&p, &receiver.url(), &["inventory.>"]).await;
        let a = w.lot_event(1, "reemploi.inventory.lot.published");
        let b = w.lot_event(2, "reemploi.inventory.lot.updated");
        w.apply(&a).await;
        w.apply(&b).await;
        // The first fails, then the next one goes on (and fails too).
        eventually("both failed", || async {
            w.deliveries(&p, &hook, pb::DeliveryState::Failed)
                .await
                .len()
                == 2
        })
        .await;
        let failed = w.deliveries(&p, &hook, pb::DeliveryState::Failed).await;
        assert!(
            failed
                .iter()
                .all(|d| d.attempts >= 1 && d.last_error.contains("503"))
        );
        let first = failed.last().unwrap().clone();
        assert_eq!(first.event_id, a.event_id);
        no_retry_through_another_webhook(&w, &first).await;
        let still = w.deliveries(&p, &hook, pb::DeliveryState::Failed).await;
        assert_eq!(still.len(), 2, "{still:?}");
        receiver.set_up(true);
        let retried = w
            .hooks
            .retry(
                &p,
                &pb::RetryDeliveryRequest {
                    name: first.name.clone(),
                },
            )
            .await
            .unwrap();
        assert_eq!(retried.state, pb::DeliveryState::Pending as i32);
        assert_eq!(retried.attempts, 0);
        eventually("the retried delivery", || async {
            receiver.got().len() == 1
        })
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(receiver.event_ids(), vec![a.event_id.clone()]);
        let delivered = w.deliveries(&p, &hook, pb::DeliveryState::Delivered).await;
        assert_eq!(delivered.len(), 1);
        // Delivered: not to be retried; nor someone else's.
        let again = pb::RetryDeliveryRequest { name: first.name };
        let err = code_of(w.hooks.retry(&p, &again).await.unwrap_err());
        assert_eq!(err.code(), tonic::Code::FailedPrecondition);
        let err = code_of(
            w.hooks
                .retry(&integrator("rival"), &again)
                .await
                .unwrap_err(),
        );
        assert_eq!(err.code(), tonic::Code::NotFound);
    })
    .await;
}

#[tokio::test]
async fn the_served_service_takes_webhooks_and_posts_the_events_of_the_bus() {
    use reemploi_proto::notify::webhook_service_client::WebhookServiceClient;
    use reemploi_testing::grpc::{Bearer, token};
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let db = reemploi_testing::db::fresh(backend).await;
        let bus = Arc::new(reemploi_events::InProcessBus::temporary().await.unwrap());
        let ctx = reemploi_testing::grpc::context(db.db.clone(), bus.clone());
        let args = crate::NotifyArgs {
            webhook_retry_base_ms: 10,
            webhook_allow_private: true,
            ..Default::default()
        };
        let (running, _) = crate::start_service(ctx.clone(), &args, &Default::default())
            .await
            .unwrap();
        let served = reemploi_testing::grpc::spawn(&ctx, vec![running]).await;
        let channel = reemploi_testing::grpc::channel(served.addr).await;
        let client =
            |t: Option<String>| WebhookServiceClient::with_interceptor(channel.clone(), Bearer(t));
        let receiver = Receiver::start(true).await;
        let req = create_req(&receiver.url(), &["inventory.lot.published"], "");
        let err = client(None).create_webhook(req.clone()).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unauthenticated);
        let partner = token(Role::Partner, None, Some(&Uuid::now_v7().to_string()));
        let err = client(Some(partner))
            .create_webhook(req.clone())
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::PermissionDenied);
        let hook = client(Some(token(Role::Integrator, None, None)))
            .create_webhook(req)
            .await
            .unwrap()
            .into_inner();
        let site = format!("sites/{}", Uuid::now_v7());
        let msg = lot_event(&site, 1, "reemploi.inventory.lot.published");
        reemploi_events::Bus::publish(bus.as_ref(), &msg)
            .await
            .unwrap();
        eventually("the event posted", || async { receiver.got().len() == 1 }).await;
        let got = &receiver.got()[0];
        assert_eq!(got.headers["reemploi-event-id"], msg.event_id);
        let ts = &got.headers["reemploi-timestamp"];
        assert_eq!(
            got.headers["reemploi-signature"],
            sign(&hook.secret, ts, &got.body)
        );
        served.stop().await.unwrap();
    }
}

#[tokio::test]
async fn inside_targets_are_refused_unless_private_targets_are_allowed() {
    both(|backend| async move {
        let w = world_with(backend, Duration::from_secs(60), false).await;
        let p = integrator("acme");
        for url in [
            "https://127.0.0.1/in",
            "https://10.0.0.1/in",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/in",
            "https://[::ffff:127.0.0.1]/in",
            "https://localhost/in",
            "http://127.0.0.1:8080/in",
            "http://hooks.example.org/in",
        ] {
            let req = create_req(url, &["inventory.>"], "");
            let status = code_of(w.hooks.create(&p, &req).await.unwrap_err());
            assert_eq!(status.code(), tonic::Code::InvalidArgument, "{url}");
            let fields = reemploi_runtime::status::field_violations(&status);
            assert!(
                fields.iter().any(|(f, _)| f == "webhook.url"),
                "{url} {fields:?}"
            );
        }
        let listed = w.hooks.list(&admin(), &Default::default()).await.unwrap();
        assert!(listed.webhooks.is_empty(), "nothing was made");
        // A public https URL is taken.
        w.create(&p, "https://hooks.example.org/in", &["inventory.>"])
            .await;
    })
    .await;
}

#[tokio::test]
async fn a_stored_webhook_to_an_inside_address_is_not_posted_to() {
    both(|backend| async move {
        let w = world_with(backend, Duration::from_secs(60), false).await;
        let receiver = Receiver::start(true).await;
        let p = integrator("acme");
        let port = receiver.addr.port();
        // Made while private targets were allowed: an IP literal, and a
        // name that resolves to the machine itself (the resolver's check).
        let mut ids = Vec::new();
        for url in [
            format!("http://127.0.0.1:{port}/in"),
            format!("http://localhost:{port}/in"),
        ] {
            let hook = super::store::Hook {
                id: Uuid::now_v7(),
                owner: p.subject.clone(),
                url,
                event_types: vec!["inventory.>".into()],
                secret: "s".into(),
                created_at: now_millis(),
                deleted_at: None,
            };
            let mut conn = w.notify.db().pool().acquire().await.unwrap();
            super::store::insert_hook(&mut conn, &hook).await.unwrap();
            ids.push(hook.id);
        }
        w.notify.hooks().invalidate();
        w.apply(&w.lot_event(1, "reemploi.inventory.lot.published"))
            .await;
        for id in ids {
            let hook = pb::Webhook {
                name: format!("webhooks/{id}"),
                ..Default::default()
            };
            eventually("a refused attempt", || async {
                let pending = w.deliveries(&p, &hook, pb::DeliveryState::Pending).await;
                pending.first().is_some_and(|d| d.attempts >= 1)
            })
            .await;
            let pending = w.deliveries(&p, &hook, pb::DeliveryState::Pending).await;
            assert_eq!(pending[0].last_error, "address not allowed", "{pending:?}");
        }
        assert!(receiver.got().is_empty(), "nothing reached the receiver");
    })
    .await;
}

#[tokio::test]
async fn a_revoked_token_or_a_disabled_account_stops_its_webhooks() {
    both(|backend| async move {
        let w = world(backend, Duration::from_secs(60)).await;
        let receiver = Receiver::start(true).await;
        let token = Principal {
            subject: format!("apiTokens/{}", Uuid::now_v7()),
            ..integrator("platform")
        };
        let account = Uuid::now_v7();
        let person = Principal {
            subject: format!("accounts/{account}"),
            ..integrator("person")
        };
        let other = integrator("other");
        for p in [&token, &person, &other] {
            w.create(p, &receiver.url(), &["inventory.>"]).await;
        }
        // The token revoked: its webhook stops; so does the account's once
        // disabled (a password reset, which also revokes, does not).
        let revoked = reemploi_proto::identity::Revocation {
            subject: token.subject.clone(),
            ..Default::default()
        };
        let msg = envelope::message(
            "identity",
            "reemploi.identity.access.revoked".into(),
            token.subject.clone(),
            1,
            now_millis(),
            Payload::Revocation(revoked),
        );
        w.apply(&msg).await;
        let disabled = reemploi_proto::identity::Account {
            name: person.subject.clone(),
            email: "integration@platform.example".into(),
            role: reemploi_proto::identity::AccountRole::Integrator as i32,
            status: reemploi_proto::identity::AccountStatus::Disabled as i32,
            ..Default::default()
        };
        let msg = envelope::message(
            "identity",
            "reemploi.identity.account.updated".into(),
            person.subject.clone(),
            2,
            now_millis(),
            Payload::Account(disabled),
        );
        w.apply(&msg).await;
        w.apply(&w.lot_event(1, "reemploi.inventory.lot.published"))
            .await;
        eventually("the live webhook's delivery", || async {
            !receiver.got().is_empty()
        })
        .await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(receiver.got().len(), 1, "only the live webhook's");
        for (p, live) in [(&token, 0), (&person, 0), (&other, 1)] {
            let listed = w
                .hooks
                .list(p, &pb::ListWebhooksRequest::default())
                .await
                .unwrap();
            assert_eq!(listed.webhooks.len(), live, "{}", p.subject);
        }
    })
    .await;
}
