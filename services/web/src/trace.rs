//! One span per page request (`http`, with its method, path and status),
//! continuing the caller's trace when a proxy sends a `traceparent`, and
//! carried on to every API call the page makes (see
//! [`crate::backend::bearer`]): a page, its gRPC calls and what they set off
//! through the event bus are one trace. The path is logged, never the query
//! string, which may carry an invitation or reset code.

use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument as _;

/// Wraps a request in its span.
pub async fn span(request: Request, next: Next) -> Response {
    let span = tracing::info_span!(
        "http",
        method = %request.method(),
        path = %request.uri().path(),
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    );
    let parent = request
        .headers()
        .get(reemploi_events::trace::TRACEPARENT)
        .and_then(|v| v.to_str().ok());
    reemploi_events::trace::adopt(&span, parent);
    let start = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    span.record("status", response.status().as_u16());
    span.record("latency_ms", start.elapsed().as_secs_f64() * 1e3);
    span.in_scope(|| tracing::debug!("request served"));
    response
}
