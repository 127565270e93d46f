//! The trace context an event carries, so that one request is one trace
//! from the gRPC call through the outbox, the bus and every consumer.
//!
//! The context is the W3C `traceparent` value: captured from the current
//! span when an event is made, stored with its outbox row, sent as a
//! message header, and made the parent of the spans that publish and
//! consume it. Without a tracing layer that records OpenTelemetry contexts
//! (see `reemploi_runtime::telemetry`) there is no context: events carry
//! none and spans have no parent, at no cost beyond a lookup.

use std::collections::HashMap;

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The header that carries the context, on NATS messages and gRPC calls.
pub const TRACEPARENT: &str = "traceparent";

/// Longest `traceparent` kept: version 00 is 55 characters; a peer's
/// longer value (a later version) is kept up to this, never a flood.
const MAX_LEN: usize = 128;

/// The current span's context as a `traceparent` value, or `None` outside
/// any traced span.
pub fn current() -> Option<String> {
    of(&tracing::Span::current())
}

/// `span`'s context as a `traceparent` value, or `None` when it has none.
pub fn of(span: &tracing::Span) -> Option<String> {
    let mut carrier = Carrier::default();
    TraceContextPropagator::new().inject_context(&span.context(), &mut carrier);
    carrier.0.remove(TRACEPARENT)
}

/// Makes `span` a child of the context in `traceparent`, when it is a
/// valid one; anything else leaves `span` where it was.
pub fn adopt(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(value) = traceparent.filter(|v| v.len() <= MAX_LEN) else {
        return;
    };
    let mut carrier = Carrier::default();
    carrier.0.insert(TRACEPARENT.to_owned(), value.to_owned());
    let cx = TraceContextPropagator::new().extract(&carrier);
    use opentelemetry::trace::TraceContextExt as _;
    if cx.span().span_context().is_valid() {
        // Fails only when the span is already closed or not recorded by
        // OpenTelemetry; either way it has no parent to gain.
        let _ = span.set_parent(cx);
    }
}

/// A string map for the propagator to read from and write to.
#[derive(Default)]
struct Carrier(HashMap<String, String>);

impl Injector for Carrier {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

impl Extractor for Carrier {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_layer_there_is_no_context() {
        let span = tracing::info_span!("x");
        assert_eq!(of(&span), None);
        adopt(
            &span,
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        );
        assert_eq!(of(&span), None);
    }
}
