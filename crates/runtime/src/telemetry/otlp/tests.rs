use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use opentelemetry::trace::{
    Event, Link, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanExporter as _, SpanLinks};
use proptest::prelude::*;
use prost::Message as _;

use super::*;

fn context(trace: u128, span: u64, sampled: bool, remote: bool, state: &str) -> SpanContext {
    let flags = if sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    let state = if state.is_empty() {
        TraceState::default()
    } else {
        TraceState::from_key_value([("vendor", state)]).expect("trace state")
    };
    SpanContext::new(
        TraceId::from(trace),
        SpanId::from(span),
        flags,
        remote,
        state,
    )
}

fn at(nanos: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(nanos)
}

/// A span as a call's: a name, two string attributes, a code, no parent.
fn call_span(scope: &InstrumentationScope, n: u64) -> SpanData {
    SpanData {
        span_context: context(
            0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736,
            n + 1,
            true,
            false,
            "",
        ),
        parent_span_id: SpanId::INVALID,
        parent_span_is_remote: false,
        span_kind: SpanKind::Internal,
        name: Cow::Borrowed("rpc"),
        start_time: at(1_764_000_000_000_000_000 + n),
        end_time: at(1_764_000_000_000_120_000 + n),
        attributes: vec![
            KeyValue::new("method", "/reemploi.inventory.v1.InventoryService/GetLot"),
            KeyValue::new("request_id", format!("0193-{n}")),
            KeyValue::new("code", "OK"),
        ],
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: Status::Unset,
        instrumentation_scope: scope.clone(),
    }
}

/// A span with every part OTLP has, and values at their defaults where a
/// oneof must still carry them (false, 0, "").
fn full_span(scope: &InstrumentationScope) -> SpanData {
    let mut events = SpanEvents::default();
    events.events.push(Event::new(
        "retry",
        at(1_764_000_000_000_050_000),
        vec![KeyValue::new("attempt", 2i64), KeyValue::new("empty", "")],
        1,
    ));
    events.events.push(Event::new("bare", at(1), Vec::new(), 0));
    events.dropped_count = 3;
    let mut links = SpanLinks::default();
    links.links.push(Link::new(
        context(7, 8, false, true, "x1"),
        vec![KeyValue::new("cause", true)],
        2,
    ));
    links
        .links
        .push(Link::new(context(9, 10, true, false, ""), Vec::new(), 0));
    links.dropped_count = 4;
    SpanData {
        span_context: context(u128::MAX - 5, 77, true, false, "a1"),
        parent_span_id: SpanId::from(66),
        parent_span_is_remote: true,
        span_kind: SpanKind::Consumer,
        name: Cow::Owned("consume é \"quoted\"".to_owned()),
        start_time: UNIX_EPOCH - Duration::from_secs(5),
        end_time: at(u64::MAX),
        attributes: vec![
            KeyValue::new("no", false),
            KeyValue::new("zero", 0i64),
            KeyValue::new("negative", -42i64),
            KeyValue::new("ratio", -0.5f64),
            KeyValue::new("empty", ""),
            KeyValue::new("owned", String::from("a value")),
            KeyValue::new("bools", Value::Array(Array::Bool(vec![true, false]))),
            KeyValue::new("ints", Value::Array(Array::I64(vec![0, -1, i64::MAX]))),
            KeyValue::new("floats", Value::Array(Array::F64(vec![1.5, 0.0]))),
            KeyValue::new(
                "strings",
                Value::Array(Array::String(vec![
                    StringValue::from("a"),
                    StringValue::from(""),
                ])),
            ),
            KeyValue::new("none", Value::Array(Array::I64(Vec::new()))),
        ],
        dropped_attributes_count: 5,
        events,
        links,
        status: Status::error("the store is gone"),
        instrumentation_scope: scope.clone(),
    }
}

/// The resource and scopes of the tests: a schema URL on each, attributes
/// on one scope, none on the other.
fn resource() -> Resource {
    Resource::builder_empty()
        .with_schema_url(
            [
                KeyValue::new("service.name", "reemploi-inventory"),
                KeyValue::new("service.instance", 3i64),
            ],
            "https://opentelemetry.io/schemas/1.30.0",
        )
        .build()
}

fn scopes() -> (InstrumentationScope, InstrumentationScope) {
    let main = InstrumentationScope::builder("reemploi")
        .with_version("0.1.0")
        .with_schema_url("https://opentelemetry.io/schemas/1.30.0")
        .with_attributes([KeyValue::new("layer", "tracing")])
        .build();
    let other = InstrumentationScope::builder("other").build();
    (main, other)
}

/// The request the generated types make of `spans`, encoded by prost.
fn reference(resource: &Resource, spans: &[SpanData]) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: group_spans_by_resource_and_scope(
            spans.to_vec(),
            &ResourceAttributesWithSchema::from(resource),
        ),
    }
}

#[test]
fn requests_are_the_bytes_the_generated_types_encode() {
    let resource = resource();
    let (main, other) = scopes();
    let spans = vec![
        call_span(&main, 0),
        full_span(&other),
        call_span(&main, 1),
        call_span(&other, 2),
    ];
    let ours = request(&EncodedResource::from(&resource), &spans);
    let expected = reference(&resource, &spans);
    // Decoded first, for a readable difference; then byte for byte.
    let decoded = ExportTraceServiceRequest::decode(ours.as_slice()).expect("a valid request");
    assert_eq!(decoded, expected);
    assert_eq!(ours, expected.encode_to_vec());
    // Two scopes, in the order they first appear, with their spans.
    let scope_spans = &decoded.resource_spans[0].scope_spans;
    let names: Vec<_> = scope_spans
        .iter()
        .map(|s| (s.scope.as_ref().map(|s| s.name.as_str()), s.spans.len()))
        .collect();
    assert_eq!(names, [(Some("reemploi"), 2), (Some("other"), 2)]);
}

#[test]
fn a_full_batch_has_lengths_of_three_bytes_as_prost_writes_them() {
    // A batch as the SDK sends under load: its scope's spans are over
    // 16 KiB, a length of three bytes.
    let resource = resource();
    let (main, _) = scopes();
    let spans: Vec<SpanData> = (0..512).map(|n| call_span(&main, n)).collect();
    let ours = request(&EncodedResource::from(&resource), &spans);
    assert!(ours.len() > 1 << 16, "{} bytes", ours.len());
    assert_eq!(ours, reference(&resource, &spans).encode_to_vec());
}

#[test]
fn an_empty_batch_and_an_empty_resource_are_encoded_as_prost_does() {
    let empty = Resource::builder_empty().build();
    for resource in [empty, resource()] {
        let ours = request(&EncodedResource::from(&resource), &[]);
        assert_eq!(ours, reference(&resource, &[]).encode_to_vec());
    }
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::I64),
        // NaN is never equal to itself; the bytes are compared, but the
        // reference's own conversion is exact for every other double.
        any::<f64>().prop_map(Value::F64),
        ".{0,40}".prop_map(|s| Value::String(s.into())),
        prop::collection::vec(any::<i64>(), 0..4).prop_map(|v| Value::Array(Array::I64(v))),
        prop::collection::vec(".{0,8}", 0..4).prop_map(|v| {
            Value::Array(Array::String(
                v.into_iter().map(StringValue::from).collect(),
            ))
        }),
    ]
}

proptest! {
    #[test]
    fn any_attributes_and_times_encode_as_prost_does(
        attributes in prop::collection::vec(("[a-z.]{0,12}", value()), 0..8),
        start in any::<u64>(),
        length in any::<u32>(),
        trace in any::<u128>(),
        span in any::<u64>(),
        parent in any::<u64>(),
        remote in any::<bool>(),
        name in ".{0,30}",
    ) {
        let (main, _) = scopes();
        let mut data = call_span(&main, 0);
        data.attributes = attributes.into_iter().map(|(k, v)| KeyValue::new(k, v)).collect();
        data.start_time = at(start);
        data.end_time = at(start.saturating_add(u64::from(length)));
        data.span_context = context(trace, span, true, false, "");
        data.parent_span_id = SpanId::from(parent);
        data.parent_span_is_remote = remote;
        data.name = Cow::Owned(name);
        let resource = resource();
        let spans = [data];
        let ours = request(&EncodedResource::from(&resource), &spans);
        prop_assert_eq!(ours, reference(&resource, &spans).encode_to_vec());
    }
}

/// A collector that refuses its first `refusals` requests as UNAVAILABLE,
/// then takes every one, keeping them; `rejecting` spans of each it takes
/// are said to be rejected.
#[derive(Clone, Default)]
struct Collector {
    refusals: Arc<Mutex<u32>>,
    rejecting: i64,
    calls: Arc<Mutex<u32>>,
    taken: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        *self.calls.lock().expect("calls") += 1;
        {
            let mut refusals = self.refusals.lock().expect("refusals");
            if *refusals > 0 {
                *refusals -= 1;
                return Err(tonic::Status::unavailable("starting"));
            }
        }
        self.taken.lock().expect("taken").push(request.into_inner());
        let partial_success = (self.rejecting > 0).then(|| ExportTracePartialSuccess {
            rejected_spans: self.rejecting,
            error_message: "too old".to_owned(),
        });
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success,
        }))
    }
}

impl Collector {
    /// Serves on 127.0.0.1:0 until the test's runtime ends.
    async fn serve(&self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let service = TraceServiceServer::new(self.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        addr
    }

    fn spans(&self) -> Vec<String> {
        self.taken
            .lock()
            .expect("taken")
            .iter()
            .flat_map(|r| &r.resource_spans)
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .map(|s| s.name.clone())
            .collect()
    }
}

/// An exporter to `addr` of a process described by `resource` (one
/// instance: the order of its attributes is that of its hash map).
fn exporter_to(addr: SocketAddr, resource: &Resource) -> OtlpExporter {
    let mut exporter = OtlpExporter::new(&format!("http://{addr}")).expect("exporter");
    exporter.set_resource(resource);
    exporter
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_reach_the_collector_again_after_it_refused_them() {
    let collector = Collector {
        refusals: Arc::new(Mutex::new(2)),
        ..Collector::default()
    };
    let addr = collector.serve().await;
    let resource = resource();
    let exporter = exporter_to(addr, &resource);
    let (main, _) = scopes();
    let batch = vec![call_span(&main, 0), full_span(&main)];
    exporter
        .export(batch.clone())
        .await
        .expect("sent on the third try");
    assert_eq!(*collector.calls.lock().expect("calls"), 3);
    assert_eq!(collector.spans(), ["rpc", "consume é \"quoted\""]);
    let taken = collector.taken.lock().expect("taken").clone();
    assert_eq!(taken, [reference(&resource, &batch)]);
    assert!(!exporter.said.failing.load(Ordering::Relaxed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdks_batches_from_its_own_thread_reach_the_collector() {
    use opentelemetry::trace::{Tracer as _, TracerProvider as _};
    let collector = Collector::default();
    let exporter =
        OtlpExporter::new(&format!("http://{}", collector.serve().await)).expect("exporter");
    // As `telemetry::start` makes it: the SDK's thread, outside the runtime.
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_resource(resource())
        .with_batch_exporter(exporter)
        .build();
    let tracer = provider.tracer("reemploi");
    for name in ["one", "two", "three"] {
        tracer.in_span(name, |_| {});
    }
    tokio::task::spawn_blocking(move || provider.shutdown())
        .await
        .expect("shutdown ran")
        .expect("the last batch sent");
    assert_eq!(collector.spans(), ["one", "two", "three"]);
    let taken = collector.taken.lock().expect("taken").clone();
    let resource = taken[0].resource_spans[0]
        .resource
        .as_ref()
        .expect("resource");
    assert!(
        resource
            .attributes
            .iter()
            .any(|kv| kv.key == "service.name"),
        "{resource:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_refused_every_time_or_in_part_fails_then_the_next_goes() {
    // Refused more often than it is tried: the batch fails, the next goes.
    let collector = Collector {
        refusals: Arc::new(Mutex::new(ATTEMPTS)),
        ..Collector::default()
    };
    let exporter = exporter_to(collector.serve().await, &resource());
    let (main, _) = scopes();
    let failed = exporter.export(vec![call_span(&main, 0)]).await;
    assert!(failed.is_err(), "{failed:?}");
    assert!(exporter.said.failing.load(Ordering::Relaxed));
    assert!(collector.spans().is_empty());
    exporter
        .export(vec![call_span(&main, 1)])
        .await
        .expect("the next batch goes");
    assert!(!exporter.said.failing.load(Ordering::Relaxed));
    assert_eq!(collector.spans(), ["rpc"]);
    // Spans the collector took but rejected are a failure to say.
    let rejecting = Collector {
        rejecting: 1,
        ..Collector::default()
    };
    let exporter = exporter_to(rejecting.serve().await, &resource());
    let partly = exporter.export(vec![call_span(&main, 2)]).await;
    let Err(OTelSdkError::InternalFailure(why)) = partly else {
        panic!("a partial success is not a success: {partly:?}");
    };
    assert!(why.contains("rejected 1 spans"), "{why}");
    // Told as rejections, not as a collector down.
    assert!(exporter.said.rejecting.load(Ordering::Relaxed));
    assert!(!exporter.said.failing.load(Ordering::Relaxed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_not_there_fails_the_batch_without_hanging() {
    // Port 0, where nothing can listen (no free port that another test
    // could take meanwhile): refused at once, tried three times.
    let addr = SocketAddr::from(([127, 0, 0, 1], 0));
    let exporter = exporter_to(addr, &resource());
    let (main, _) = scopes();
    let started = std::time::Instant::now();
    let failed = exporter.export(vec![call_span(&main, 0)]).await;
    assert!(failed.is_err(), "{failed:?}");
    assert!(
        started.elapsed() < EXPORT_TIMEOUT,
        "{:?}",
        started.elapsed()
    );
    assert!(exporter.said.failing.load(Ordering::Relaxed));
}

#[test]
fn failures_and_rejections_are_remembered_until_a_batch_goes_whole() {
    let said = Said::default();
    let failed = || Outcome::Failed {
        why: "down".to_owned(),
        answer: "secret echoed".to_owned(),
    };
    let rejected = || Outcome::Rejected {
        spans: 1,
        reason: "too old".to_owned(),
    };
    let flags = |said: &Said| {
        (
            said.failing.load(Ordering::Relaxed),
            said.rejecting.load(Ordering::Relaxed),
        )
    };
    assert!(said.report(2, failed()).is_err());
    assert_eq!(flags(&said), (true, false));
    assert!(said.report(2, failed()).is_err());
    assert_eq!(flags(&said), (true, false));
    assert!(said.report(2, rejected()).is_err());
    assert_eq!(flags(&said), (false, true));
    assert!(said.report(2, Outcome::Taken).is_ok());
    assert_eq!(flags(&said), (false, false));
}

#[test]
fn a_bad_url_is_refused_without_being_repeated() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _in = runtime.enter();
    let err = OtlpExporter::new("not a url at all").expect_err("refused");
    assert!(!err.contains("not a url"), "the URL is not repeated: {err}");
}
