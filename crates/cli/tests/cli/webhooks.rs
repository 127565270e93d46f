//! `reemploi webhooks` as the real binary runs it against a real `reemploi
//! up`: an integrator subscribes a local receiver to published lots and
//! gets the secret once; a lot published through the CLI reaches the
//! receiver signed with that secret; its deliveries show it delivered; bad
//! input and other roles are refused.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::commands::draft;
use super::imports::{Server, site};
use super::{str_of, token_for};

/// One request received: its headers (lower-case names) and body.
type Received = (Vec<(String, String)>, Vec<u8>);

/// A receiver on a local port answering 200 to every request, in a thread.
fn receiver() -> (String, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/in", listener.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let keep = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut s = stream.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let (head_end, len) = loop {
                let n = s.read(&mut chunk).unwrap();
                buf.extend_from_slice(&chunk[..n]);
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..i]).to_lowercase();
                    let len = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map_or(0, |v| v.trim().parse::<usize>().unwrap());
                    break (i + 4, len);
                }
            };
            while buf.len() < head_end + len {
                let n = s.read(&mut chunk).unwrap();
                buf.extend_from_slice(&chunk[..n]);
            }
            let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
            let headers = head
                .lines()
                .skip(1)
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned()))
                .collect();
            keep.lock()
                .unwrap()
                .push((headers, buf[head_end..head_end + len].to_vec()));
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (url, got)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
}

/// The one request received, waited for up to 15 s.
fn the_one_received(got: &Mutex<Vec<Received>>) -> Received {
    let deadline = Instant::now() + Duration::from_secs(15);
    while got.lock().unwrap().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    // A moment more: a second delivery would show.
    std::thread::sleep(Duration::from_millis(300));
    let received = got.lock().unwrap().clone();
    assert_eq!(received.len(), 1, "only the published lot's event");
    received.into_iter().next().unwrap()
}

/// Checks the signature as an integrator would.
fn assert_signed(headers: &[(String, String)], body: &[u8], secret: &str) {
    let ts = header(headers, "reemploi-timestamp");
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{ts}.").as_bytes());
    mac.update(body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        header(headers, "reemploi-signature"),
        format!("v1={expected}")
    );
}

/// The arguments of `webhooks create` for `url` and one event type.
fn create<'a>(url: &'a str, event_type: &'a str) -> [&'a str; 6] {
    [
        "webhooks",
        "create",
        "--url",
        url,
        "--event-type",
        event_type,
    ]
}

#[test]
fn an_integrator_subscribes_and_gets_the_published_lots_signed() {
    // The receiver is on this machine: private targets allowed.
    let server = Server::start_with(&["--webhook-allow-private"]);
    let admin = &server.admin;
    let data = server.dir.path().join("data");
    let integrator = admin.as_token(&token_for(&data, &["--role", "integrator"]));
    let (url, got) = receiver();

    let err = integrator.fails(6, &create("ftp://127.0.0.1/in", "inventory.>"));
    assert!(err.contains("webhook.url"), "{err}");
    let partner_id = "0190c5a3-7b1e-7c4d-8f00-3a2b1c0d9e8f";
    let partner = admin.as_token(&token_for(
        &data,
        &["--role", "partner", "--partner", partner_id],
    ));
    partner.fails(4, &create(&url, "inventory.>"));

    let secret = integrator.ok(&create(&url, "inventory.lot.published"));
    let secret = secret.trim().to_owned();
    assert_eq!(secret.len(), 43, "{secret}");
    let listed = integrator.json(&["webhooks", "list"]);
    let hooks = listed.as_array().unwrap();
    assert_eq!(hooks.len(), 1, "{listed}");
    assert_eq!(hooks[0]["secret"], "", "never listed");
    let hook = str_of(&hooks[0], "name").to_owned();

    let coteaux = site(admin, "Coteaux – tour W");
    let lot = draft(admin, &coteaux, "Portes bois", &[]);
    let lot = str_of(&lot, "name").to_owned();
    admin.ok(&["lots", "publish", &lot]);

    let (headers, body) = the_one_received(&got);
    assert_eq!(
        header(&headers, "reemploi-event-type"),
        "inventory.lot.published"
    );
    assert_signed(&headers, &body, &secret);
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["aggregate"], lot.as_str());

    let deliveries = integrator.json(&["webhooks", "deliveries", &hook, "--state", "delivered"]);
    assert_eq!(deliveries.as_array().map(Vec::len), Some(1), "{deliveries}");
    let table = admin.ok(&["webhooks", "list"]);
    assert!(table.contains(&hook), "admins see every webhook: {table}");
    integrator.ok(&["webhooks", "delete", &hook]);
    let listed = integrator.json(&["webhooks", "list"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(0), "{listed}");
}
