//! Spans to an OTLP/gRPC collector, written straight from the SDK's span
//! data into the bytes of one request per batch.
//!
//! A general exporter copies each batch whole (to keep it for a retry),
//! turns every span into generated protobuf structs (a dozen allocations
//! for a call's span: ids, name, each attribute's key and value), groups
//! them by scope through a hash map and only then encodes them. That was
//! nearly a third of what tracing added to a call (callgrind). Here each span is
//! written once, in place, and a retry sends the same bytes again.
//!
//! The messages are those of `opentelemetry/proto/collector/trace/v1`
//! (`ExportTraceServiceRequest` and what it holds); the tests decode what
//! is written here with the project's generated types and compare it with
//! their own conversion of the same spans.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{BufMut as _, Bytes};
use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status};
use opentelemetry::{Array, InstrumentationScope, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint};

use crate::wire::Encoded;

/// The collector's one method.
const EXPORT: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
/// How long one batch may take, retries included: a batch that cannot go
/// in that time is dropped (the SDK's thread waits on it meanwhile).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Tries of one batch while the collector answers that it may take it
/// later, the first pause between them doubling after each.
const ATTEMPTS: u32 = 3;
const FIRST_PAUSE: Duration = Duration::from_millis(100);
/// Bytes a call's span takes in a request, to size the buffer once.
const SPAN_ROOM: usize = 192;

/// Sends batches of spans to one OTLP/gRPC collector.
#[derive(Debug)]
pub(super) struct OtlpExporter {
    client: tonic::client::Grpc<Channel>,
    /// The runtime the sends run on: the SDK calls from a thread of its own.
    runtime: tokio::runtime::Handle,
    resource: EncodedResource,
    said: Arc<Said>,
}

/// The process's resource, written once.
#[derive(Debug, Default)]
struct EncodedResource {
    /// The `Resource` message: its attributes.
    message: Vec<u8>,
    schema_url: String,
}

impl From<&Resource> for EncodedResource {
    fn from(resource: &Resource) -> EncodedResource {
        let mut message = Proto::default();
        for (key, value) in resource.iter() {
            message.key_value(1, key.as_str(), value);
        }
        EncodedResource {
            message: message.0,
            schema_url: resource.schema_url().unwrap_or_default().to_owned(),
        }
    }
}

impl OtlpExporter {
    /// An exporter to `url` (`http://host:port`), connecting when it first
    /// sends. Call from within the tokio runtime: the connection runs on it.
    pub(super) fn new(url: &str) -> Result<OtlpExporter, String> {
        // The URL is not repeated: it may carry credentials.
        let endpoint = Endpoint::from_shared(url.to_owned())
            .map_err(|_| "--otlp-endpoint: not a valid URL".to_owned())?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true);
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| "--otlp-endpoint: traces are exported from a tokio runtime".to_owned())?;
        let channel = {
            let _in_runtime = runtime.enter();
            endpoint.connect_lazy()
        };
        Ok(OtlpExporter {
            client: tonic::client::Grpc::new(channel),
            runtime,
            resource: EncodedResource::default(),
            said: Arc::default(),
        })
    }
}

impl SpanExporter for OtlpExporter {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        let count = batch.len();
        let request = Bytes::from(request(&self.resource, &batch));
        // The spans go here, on the SDK's thread, not on the runtime's.
        drop(batch);
        // Made on the runtime: its timer is not on this thread.
        let client = self.client.clone();
        let sent = self.runtime.spawn(async move {
            tokio::time::timeout(EXPORT_TIMEOUT, send(client, request)).await
        });
        let said = self.said.clone();
        async move {
            let outcome = match sent.await {
                Ok(Ok(Ok(response))) => response.outcome(),
                Ok(Ok(Err(status))) => Outcome::Failed {
                    why: format!("the collector answered {:?}", status.code()),
                    answer: status.message().to_owned(),
                },
                Ok(Err(_)) => Outcome::Failed {
                    why: format!("the collector did not answer within {EXPORT_TIMEOUT:?}"),
                    answer: String::new(),
                },
                Err(_) => Outcome::Failed {
                    why: "the export stopped with the runtime".to_owned(),
                    answer: String::new(),
                },
            };
            said.report(count, outcome)
        }
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = EncodedResource::from(resource);
    }
}

/// What became of a batch.
#[derive(Debug)]
enum Outcome {
    /// The collector took every span.
    Taken,
    /// It took the request but rejected `spans` of its spans.
    Rejected { spans: i64, reason: String },
    /// It did not take the request.
    Failed { why: String, answer: String },
}

/// What has been logged of the batches, so that a collector down (or
/// rejecting spans) is told once, not for every batch, and once when it
/// takes a batch whole again. What the collector itself says goes only to
/// debug: a server may echo back what it was sent, credentials included.
#[derive(Debug, Default)]
struct Said {
    failing: AtomicBool,
    rejecting: AtomicBool,
}

impl Said {
    fn report(&self, count: usize, outcome: Outcome) -> OTelSdkResult {
        let was_failing = self
            .failing
            .swap(matches!(outcome, Outcome::Failed { .. }), Ordering::Relaxed);
        let was_rejecting = self.rejecting.swap(
            matches!(outcome, Outcome::Rejected { .. }),
            Ordering::Relaxed,
        );
        match outcome {
            Outcome::Taken => {
                if was_failing || was_rejecting {
                    tracing::info!("traces: the collector takes spans again");
                }
                Ok(())
            }
            Outcome::Rejected { spans, reason } => {
                if !was_rejecting {
                    tracing::warn!(
                        spans,
                        of = count,
                        "traces: the collector rejected spans of a batch (told once until it \
                         takes a batch whole)"
                    );
                }
                tracing::debug!(reason, "traces: why the collector rejected spans");
                Err(OTelSdkError::InternalFailure(format!(
                    "the collector rejected {spans} spans"
                )))
            }
            Outcome::Failed { why, answer } => {
                if !was_failing {
                    tracing::warn!(
                        spans = count,
                        "traces: {why}; spans are dropped until it takes them"
                    );
                }
                if !answer.is_empty() {
                    tracing::debug!(answer, "traces: what the collector answered");
                }
                Err(OTelSdkError::InternalFailure(why))
            }
        }
    }
}

/// Sends `request`, again while the collector answers that it may take it
/// later.
async fn send(
    mut client: tonic::client::Grpc<Channel>,
    request: Bytes,
) -> Result<ExportResponse, tonic::Status> {
    let mut pause = FIRST_PAUSE;
    let mut attempt = 1;
    loop {
        let answer = async {
            client
                .ready()
                .await
                .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
            client
                .unary(
                    tonic::Request::new(Encoded(request.clone())),
                    PathAndQuery::from_static(EXPORT),
                    tonic_prost::ProstCodec::<Encoded, ExportResponse>::default(),
                )
                .await
        }
        .await;
        match answer {
            Ok(reply) => return Ok(reply.into_inner()),
            Err(status) if attempt < ATTEMPTS && may_take_later(status.code()) => {
                tokio::time::sleep(pause).await;
                pause *= 2;
                attempt += 1;
            }
            Err(status) => return Err(status),
        }
    }
}

/// The codes after which OTLP lets a client send the same request again.
fn may_take_later(code: tonic::Code) -> bool {
    matches!(
        code,
        tonic::Code::Cancelled
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Aborted
            | tonic::Code::OutOfRange
            | tonic::Code::Unavailable
            | tonic::Code::DataLoss
    )
}

/// The request for `spans`: one `ResourceSpans` of this process, with one
/// `ScopeSpans` per instrumentation scope, in the order they first appear.
fn request(resource: &EncodedResource, spans: &[SpanData]) -> Vec<u8> {
    let mut out = Proto(Vec::with_capacity(64 + spans.len() * SPAN_ROOM));
    out.message(1, |resource_spans| {
        resource_spans.message(1, |r| r.0.extend_from_slice(&resource.message));
        for (scope, spans) in by_scope(spans) {
            resource_spans.message(2, |scope_spans| {
                scope_spans.message(1, |s| {
                    s.string(1, scope.name());
                    s.string(2, scope.version().unwrap_or_default());
                    for kv in scope.attributes() {
                        s.key_value(3, kv.key.as_str(), &kv.value);
                    }
                });
                for span in spans {
                    scope_spans.message(2, |s| s.span(span));
                }
                scope_spans.string(3, scope.schema_url().unwrap_or_default());
            });
        }
        resource_spans.string(3, &resource.schema_url);
    });
    out.0
}

/// `spans` by scope, in the order the scopes first appear. A process has
/// one or two scopes: a look along a short list, no hashing of each span's.
fn by_scope(spans: &[SpanData]) -> Vec<(&InstrumentationScope, Vec<&SpanData>)> {
    let mut groups: Vec<(&InstrumentationScope, Vec<&SpanData>)> = Vec::new();
    for span in spans {
        let scope = &span.instrumentation_scope;
        match groups.iter_mut().find(|(s, _)| *s == scope) {
            Some((_, group)) => group.push(span),
            None => groups.push((scope, vec![span])),
        }
    }
    groups
}

/// A protobuf message being written: fields appended in place, and a
/// nested message's length put before it once it is written. Fields at
/// their default value are left out, and fields are written in the order
/// of their tags: the bytes are those prost writes of the generated types.
#[derive(Default)]
struct Proto(Vec<u8>);

impl Proto {
    fn message(&mut self, tag: u32, body: impl FnOnce(&mut Proto)) {
        encode_key(tag, WireType::LengthDelimited, &mut self.0);
        // Room for a length of one byte, which most nested messages take
        // (an attribute, a status, a span's scope): written in place.
        let at = self.0.len();
        self.0.push(0);
        body(self);
        let len = self.0.len() - at - 1;
        if let Ok(short) = u8::try_from(len)
            && short < 0x80
        {
            self.0[at] = short;
            return;
        }
        // A longer one (a span, a batch): the body moves up by the bytes
        // its length takes beyond the one kept.
        let room = encoded_len_varint(len as u64);
        self.0.resize(at + room + len, 0);
        self.0.copy_within(at + 1..at + 1 + len, at + room);
        let mut head = &mut self.0[at..at + room];
        encode_varint(len as u64, &mut head);
    }

    /// A length-delimited field, written even when empty (a oneof's).
    fn bytes_always(&mut self, tag: u32, value: &[u8]) {
        encode_key(tag, WireType::LengthDelimited, &mut self.0);
        encode_varint(value.len() as u64, &mut self.0);
        self.0.extend_from_slice(value);
    }

    fn bytes(&mut self, tag: u32, value: &[u8]) {
        if !value.is_empty() {
            self.bytes_always(tag, value);
        }
    }

    fn string(&mut self, tag: u32, value: &str) {
        self.bytes(tag, value.as_bytes());
    }

    /// A varint field (uint32, uint64, int64, bool, enum), written even
    /// when zero (a oneof's).
    fn varint_always(&mut self, tag: u32, value: u64) {
        encode_key(tag, WireType::Varint, &mut self.0);
        encode_varint(value, &mut self.0);
    }

    fn varint(&mut self, tag: u32, value: u64) {
        if value != 0 {
            self.varint_always(tag, value);
        }
    }

    fn fixed64(&mut self, tag: u32, value: u64) {
        if value != 0 {
            encode_key(tag, WireType::SixtyFourBit, &mut self.0);
            self.0.put_u64_le(value);
        }
    }

    fn fixed32(&mut self, tag: u32, value: u32) {
        if value != 0 {
            encode_key(tag, WireType::ThirtyTwoBit, &mut self.0);
            self.0.put_u32_le(value);
        }
    }

    /// A `Span`.
    fn span(&mut self, span: &SpanData) {
        let cx = &span.span_context;
        self.bytes(1, &cx.trace_id().to_bytes());
        self.bytes(2, &cx.span_id().to_bytes());
        self.string(3, &cx.trace_state().header());
        if span.parent_span_id != SpanId::INVALID {
            self.bytes(4, &span.parent_span_id.to_bytes());
        }
        self.string(5, &span.name);
        self.varint(6, kind(&span.span_kind));
        self.fixed64(7, nanos(span.start_time));
        self.fixed64(8, nanos(span.end_time));
        for kv in &span.attributes {
            self.key_value(9, kv.key.as_str(), &kv.value);
        }
        self.varint(10, span.dropped_attributes_count.into());
        for event in span.events.iter() {
            self.message(11, |e| {
                e.fixed64(1, nanos(event.timestamp));
                e.string(2, &event.name);
                for kv in &event.attributes {
                    e.key_value(3, kv.key.as_str(), &kv.value);
                }
                e.varint(4, event.dropped_attributes_count.into());
            });
        }
        self.varint(12, span.events.dropped_count.into());
        for link in span.links.iter() {
            self.message(13, |l| {
                let cx = &link.span_context;
                l.bytes(1, &cx.trace_id().to_bytes());
                l.bytes(2, &cx.span_id().to_bytes());
                l.string(3, &cx.trace_state().header());
                for kv in &link.attributes {
                    l.key_value(4, kv.key.as_str(), &kv.value);
                }
                l.varint(5, link.dropped_attributes_count.into());
                l.fixed32(6, flags(cx, cx.is_remote()));
            });
        }
        self.varint(14, span.links.dropped_count.into());
        self.message(15, |s| {
            let code = match &span.status {
                Status::Unset => 0,
                Status::Ok => 1,
                Status::Error { description } => {
                    s.string(2, description);
                    2
                }
            };
            s.varint(3, code);
        });
        self.fixed32(16, flags(cx, span.parent_span_is_remote));
    }

    /// A `KeyValue`.
    fn key_value(&mut self, tag: u32, key: &str, value: &Value) {
        self.message(tag, |kv| {
            kv.string(1, key);
            kv.message(2, |v| v.any_value(value));
        });
    }

    /// The inside of an `AnyValue`: one field of its oneof, written even
    /// at its default.
    fn any_value(&mut self, value: &Value) {
        match value {
            Value::String(s) => self.bytes_always(1, s.as_str().as_bytes()),
            Value::Bool(b) => self.varint_always(2, u64::from(*b)),
            Value::I64(i) => self.int_value(*i),
            Value::F64(f) => self.double_value(*f),
            Value::Array(array) => self.message(5, |a| a.array(array)),
            // A kind of value newer than this encoder: sent without one.
            _ => {}
        }
    }

    /// An int64 is written as its two's complement, in ten bytes when
    /// negative.
    fn int_value(&mut self, value: i64) {
        self.varint_always(3, value as u64);
    }

    fn double_value(&mut self, value: f64) {
        encode_key(4, WireType::SixtyFourBit, &mut self.0);
        self.0.put_f64_le(value);
    }

    /// The inside of an `ArrayValue`: each element an `AnyValue`.
    fn array(&mut self, array: &Array) {
        match array {
            Array::Bool(values) => {
                for b in values {
                    self.message(1, |v| v.varint_always(2, u64::from(*b)));
                }
            }
            Array::I64(values) => {
                for i in values {
                    self.message(1, |v| v.int_value(*i));
                }
            }
            Array::F64(values) => {
                for f in values {
                    self.message(1, |v| v.double_value(*f));
                }
            }
            Array::String(values) => {
                for s in values {
                    self.message(1, |v| v.bytes_always(1, s.as_str().as_bytes()));
                }
            }
            // An array of a kind newer than this encoder: sent empty.
            _ => {}
        }
    }
}

/// OTLP's `SpanKind`.
fn kind(kind: &SpanKind) -> u64 {
    match kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

/// OTLP's span flags: the W3C trace flags, and whether the parent (or the
/// linked span) is known to be in another process.
fn flags(cx: &SpanContext, remote: bool) -> u32 {
    const HAS_IS_REMOTE: u32 = 0x100;
    const IS_REMOTE: u32 = 0x200;
    let remote = if remote { IS_REMOTE } else { 0 };
    u32::from(cx.trace_flags().to_u8()) | HAS_IS_REMOTE | remote
}

/// Nanoseconds since the Unix epoch (0 before it, as OTLP has no earlier).
fn nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// `ExportTraceServiceResponse`: what the collector says of the spans.
#[derive(Clone, PartialEq, prost::Message)]
struct ExportResponse {
    #[prost(message, optional, tag = "1")]
    partial_success: Option<PartialSuccess>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct PartialSuccess {
    #[prost(int64, tag = "1")]
    rejected_spans: i64,
    #[prost(string, tag = "2")]
    error_message: String,
}

impl ExportResponse {
    fn outcome(self) -> Outcome {
        match self.partial_success {
            Some(partial) if partial.rejected_spans > 0 => Outcome::Rejected {
                spans: partial.rejected_spans,
                reason: partial.error_message,
            },
            Some(_) | None => Outcome::Taken,
        }
    }
}

#[cfg(test)]
mod tests;
