//! One claim is one trace: the inventory's call, the outbox relay's
//! publish and the consumers of matching, impact and the notifications
//! share a trace id and hang together,
//! over the in-process bus and over NATS JetStream. A binary of its own:
//! the spans go to an in-memory exporter installed as the process's one
//! tracing subscriber.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::Value;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};
use reemploi_e2e::{
    Stack, Transport, coteaux_site, eventually, partner_at, published_radiators, siret, verified,
};
use reemploi_proto::inventory as ipb;
use reemploi_proto::types as tpb;
use reemploi_runtime::auth::Role;

const WAIT: Duration = Duration::from_secs(20);
/// The span of the caller, as its `traceparent` header says.
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// The spans every test of this binary made.
fn spans() -> &'static InMemorySpanExporter {
    static EXPORTER: OnceLock<InMemorySpanExporter> = OnceLock::new();
    EXPORTER.get_or_init(|| {
        let exporter = InMemorySpanExporter::default();
        reemploi_runtime::telemetry::init_with_exporter(
            reemploi_runtime::config::LogFormat::Pretty,
            "reemploi-tests",
            exporter.clone(),
        );
        exporter
    })
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| match &kv.value {
            Value::String(s) => s.as_str().to_owned(),
            other => other.to_string(),
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_claim_is_one_trace_in_process() {
    a_claim_is_one_trace(Transport::InProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_claim_is_one_trace_over_nats() {
    a_claim_is_one_trace(Transport::Nats).await;
}

async fn a_claim_is_one_trace(transport: Transport) {
    let exporter = spans();
    let stack = Stack::start(transport).await;
    let site = coteaux_site(&stack).await;
    let lot = published_radiators(&stack, &site, 10).await;
    let mut admin = stack.registry(Role::Admin, None).await;
    let partner = verified(
        &mut admin,
        partner_at("Atelier", &siret(7), 47.75, 7.30, 30),
    )
    .await;
    let id = partner.trim_start_matches("partners/").to_owned();
    let taker = stack.inventory(Role::Partner, None, Some(&id)).await;
    // The call's own id, to find its span among those of the other tests.
    let call_id = uuid::Uuid::now_v7().to_string();
    // The caller's trace, one per test (they share the exporter).
    let caller_trace = uuid::Uuid::now_v7().simple().to_string();
    eventually(WAIT, || {
        let mut c = taker.clone();
        let mut req = tonic::Request::new(ipb::ClaimLotRequest {
            lot: lot.clone(),
            partner: partner.clone(),
            quantity: Some(tpb::Quantity {
                unit: tpb::Unit::Piece as i32,
                milli: 2_000,
            }),
            request_id: uuid::Uuid::now_v7().to_string(),
            ..Default::default()
        });
        req.metadata_mut()
            .insert("x-request-id", call_id.parse().unwrap());
        // The caller's own trace, which the call continues.
        req.metadata_mut().insert(
            "traceparent",
            format!("00-{caller_trace}-{CALLER_SPAN}-01")
                .parse()
                .unwrap(),
        );
        async move { c.claim_lot(req).await.ok() }
    })
    .await;

    // The call, the relay's publish of the claim's event in the call's
    // trace, and matching's consumption of it, under the publish.
    let (call, publish, consume) = eventually(WAIT, || async {
        let finished = exporter.get_finished_spans().unwrap();
        // The attempt that succeeded: the first ones may come before the
        // inventory knows the partner is verified.
        let call = finished.iter().find(|s| {
            s.name == "rpc"
                && attribute(s, "request_id").as_deref() == Some(call_id.as_str())
                && attribute(s, "code").as_deref() == Some("OK")
        })?;
        let trace = call.span_context.trace_id();
        let publish = finished.iter().find(|s| {
            s.name == "publish"
                && s.span_context.trace_id() == trace
                && attribute(s, "subject").as_deref() == Some("reemploi.inventory.claim.reserved")
        })?;
        let consumed_by = |durable: &str| {
            finished.iter().find(|c| {
                c.name == "consume"
                    && c.parent_span_id == publish.span_context.span_id()
                    && attribute(c, "durable").as_deref() == Some(durable)
            })
        };
        let consume = consumed_by("matching-inventory")?;
        // Impact's figures and audit trail, and the notifications, follow
        // the same event.
        consumed_by("impact-inventory")?;
        consumed_by("notify-inventory")?;
        Some((call.clone(), publish.clone(), consume.clone()))
    })
    .await;
    let trace = call.span_context.trace_id();
    assert_eq!(
        attribute(&call, "method").as_deref(),
        Some("/reemploi.inventory.v1.InventoryService/ClaimLot")
    );
    assert_eq!(consume.span_context.trace_id(), trace);
    // The call continues the caller's trace, under the caller's span; the
    // publish descends from it through the handler's spans.
    assert_eq!(trace.to_string(), caller_trace);
    assert_eq!(call.parent_span_id.to_string(), CALLER_SPAN);
    let finished = exporter.get_finished_spans().unwrap();
    let mut ancestor = publish.parent_span_id;
    while ancestor != call.span_context.span_id() {
        let span = finished
            .iter()
            .find(|s| s.span_context.span_id() == ancestor)
            .expect("the publish's ancestors were exported");
        ancestor = span.parent_span_id;
    }
    stack.stop().await;
}

/// A page of the web app and the API calls it makes are one trace: the
/// web app's `http` span, then the identity service's `rpc` under it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_page_and_its_api_calls_are_one_trace() {
    let exporter = spans();
    let stack = Stack::start(Transport::InProcess).await;
    let api = |addr: std::net::SocketAddr| format!("http://{addr}");
    let endpoints = reemploi_web::Endpoints {
        identity: api(stack.identity),
        inventory: api(stack.inventory),
        registry: api(stack.registry),
        matching: api(stack.matching[0]),
        impact: api(stack.impact),
        notify: api(stack.notify),
        ..reemploi_web::Endpoints::all("http://127.0.0.1:1")
    };
    let data_dir = tempfile::tempdir().unwrap();
    let args = reemploi_web::WebArgs {
        cookie_key: Some("ab".repeat(32)),
        ..Default::default()
    };
    let state = reemploi_web::WebState::new(&args, &endpoints, data_dir.path()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let web = listener.local_addr().unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn(reemploi_web::serve(listener, state, shutdown.clone()));
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = browser
        .get(format!("http://{web}/connexion"))
        .send()
        .await
        .unwrap();
    let html = form.text().await.unwrap();
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("the form's CSRF field") + marker.len();
    let csrf = html[start..].split('"').next().unwrap().to_owned();
    // A sign-in that fails: the page asks the identity service.
    let answer = browser
        .post(format!("http://{web}/connexion"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "personne@example.org"),
            ("password", "pas le bon mot de passe"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    let (page, call) = eventually(WAIT, || async {
        let finished = exporter.get_finished_spans().unwrap();
        let page = finished.iter().find(|s| {
            s.name == "http"
                && attribute(s, "method").as_deref() == Some("POST")
                && attribute(s, "path").as_deref() == Some("/connexion")
        })?;
        let call = finished.iter().find(|s| {
            s.name == "rpc"
                && s.span_context.trace_id() == page.span_context.trace_id()
                && attribute(s, "method").as_deref()
                    == Some("/reemploi.identity.v1.IdentityService/SignIn")
        })?;
        Some((page.clone(), call.clone()))
    })
    .await;
    assert_eq!(attribute(&page, "status").as_deref(), Some("401"));
    // The call hangs under the page, through the handler's spans if any.
    let finished = exporter.get_finished_spans().unwrap();
    let mut ancestor = call.parent_span_id;
    while ancestor != page.span_context.span_id() {
        let span = finished
            .iter()
            .find(|s| s.span_context.span_id() == ancestor)
            .expect("the call's ancestors were exported");
        ancestor = span.parent_span_id;
    }
    shutdown.cancel();
    stack.stop().await;
}
