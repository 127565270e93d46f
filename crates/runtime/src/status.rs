//! Helpers to build rich gRPC errors with tonic-types: google.rpc
//! `BadRequest` field violations and an `ErrorInfo` with a stable reason in
//! the [`DOMAIN`] domain, so clients branch on the reason rather than on
//! message text.

use std::collections::HashMap;
use std::time::Duration;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

/// The `ErrorInfo.domain` of every error reemploi sends.
pub const DOMAIN: &str = "reemploi.eu";

/// `ErrorInfo.reason` of [`not_found`].
pub const REASON_NOT_FOUND: &str = "NOT_FOUND";

/// `ErrorInfo.reason` of [`internal`].
pub const REASON_INTERNAL: &str = "INTERNAL";

/// Longest text of a status message or field violation: a client's value
/// quoted back whole (a 1 MiB name) would exceed what clients accept in the
/// trailers, and they would fail to read the error at all.
pub const MAX_ECHO_CHARS: usize = 256;

/// `text` cut to `max` characters, with an ellipsis when cut.
pub fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// `ErrorInfo.reason` of [`rate_limited`].
pub const REASON_RATE_LIMITED: &str = "RATE_LIMITED";

fn error_info(details: &mut ErrorDetails, reason: &str) {
    details.set_error_info(reason, DOMAIN, HashMap::<String, String>::new());
}

/// INVALID_ARGUMENT with one `BadRequest` field violation per
/// `(field path, description)` pair and an `ErrorInfo` carrying `reason`.
pub fn invalid_argument(violations: Vec<(String, String)>, reason: &str) -> Status {
    let violations: Vec<(String, String)> = violations
        .into_iter()
        .map(|(field, description)| {
            (
                cut(&field, MAX_ECHO_CHARS),
                cut(&description, MAX_ECHO_CHARS),
            )
        })
        .collect();
    let message = match violations.as_slice() {
        [] => "invalid argument".to_owned(),
        [(field, description)] => format!("invalid {field}: {description}"),
        [(field, description), rest @ ..] => format!(
            "invalid {field}: {description} (and {} more invalid field(s))",
            rest.len()
        ),
    };
    let mut details = ErrorDetails::with_bad_request(within_budget(violations));
    error_info(&mut details, reason);
    Status::with_error_details(Code::InvalidArgument, message, details)
}

/// Bytes of field paths and descriptions one status carries at most. The
/// details travel base64-encoded in a trailer, and HTTP/2 peers refuse
/// header blocks past 16 KiB by default (the whole stream is then reset,
/// and the caller learns nothing): a batch of a thousand bad rows must
/// still come back as a readable refusal.
const MAX_VIOLATION_BYTES: usize = 6 * 1024;

/// The violations that fit in [`MAX_VIOLATION_BYTES`], in order, and when
/// some do not, a last one saying how many were left out.
fn within_budget(violations: Vec<(String, String)>) -> Vec<FieldViolation> {
    let total = violations.len();
    let mut used = 0;
    let mut kept = Vec::new();
    for (field, description) in violations {
        // Each violation's protobuf framing, on top of its text.
        used += field.len() + description.len() + 8;
        if used > MAX_VIOLATION_BYTES {
            break;
        }
        kept.push(FieldViolation::new(field, description));
    }
    if kept.len() < total {
        let more = total - kept.len();
        kept.push(FieldViolation::new(
            "",
            format!("{more} more violation(s) not listed: correct these and send again"),
        ));
    }
    kept
}

/// INVALID_ARGUMENT for the violations a request's validation found, with
/// the generic reason `INVALID_ARGUMENT`: what every service answers to
/// malformed input.
pub fn invalid_request(violations: Vec<crate::validation::Violation>) -> Status {
    invalid_argument(
        violations
            .into_iter()
            .map(|v| (v.field, v.description))
            .collect(),
        "INVALID_ARGUMENT",
    )
}

/// A status with `code` and `message` and an `ErrorInfo` carrying `reason`.
pub fn with_reason(code: Code, message: impl Into<String>, reason: &str) -> Status {
    let mut details = ErrorDetails::new();
    error_info(&mut details, reason);
    Status::with_error_details(code, cut(&message.into(), MAX_ECHO_CHARS), details)
}

/// NOT_FOUND for the resource `name` of type `resource`, with reason
/// [`REASON_NOT_FOUND`] and a `ResourceInfo` detail naming it.
pub fn not_found(resource: &str, name: &str) -> Status {
    let name = cut(name, MAX_ECHO_CHARS);
    let mut details = ErrorDetails::new();
    error_info(&mut details, REASON_NOT_FOUND);
    details.set_resource_info(resource, &name, "", "");
    Status::with_error_details(
        Code::NotFound,
        format!("{resource} {name} not found"),
        details,
    )
}

/// INTERNAL with a generic message: `cause` is logged here and never sent
/// to the client, who may not see internals (SQL, paths, hosts).
pub fn internal(context: &str, cause: &dyn std::fmt::Display) -> Status {
    tracing::error!(error = %cause, context, "internal error");
    with_reason(Code::Internal, "internal error", REASON_INTERNAL)
}

/// UNAVAILABLE because the service's database cannot be reached: the
/// client may retry later; `cause` is logged (within the RPC's span, which
/// names the method), not sent.
pub fn storage_unavailable(cause: &dyn std::fmt::Display) -> Status {
    tracing::warn!(error = %cause, "database unavailable");
    with_reason(
        Code::Unavailable,
        "the service's database is unavailable, retry later",
        "STORAGE_UNAVAILABLE",
    )
}

/// RESOURCE_EXHAUSTED for a caller over its rate limit, with reason
/// [`REASON_RATE_LIMITED`] and a `RetryInfo` saying how long to wait.
pub fn rate_limited(retry_after: Duration) -> Status {
    let mut details = ErrorDetails::with_retry_info(Some(retry_after));
    error_info(&mut details, REASON_RATE_LIMITED);
    Status::with_error_details(
        Code::ResourceExhausted,
        format!(
            "rate limit exceeded: retry in {} ms",
            retry_after.as_millis().max(1)
        ),
        details,
    )
}

/// For tests and clients: the `RetryInfo` delay, if any.
pub fn retry_delay(status: &Status) -> Option<Duration> {
    status
        .get_details_retry_info()
        .and_then(|info| info.retry_delay)
}

/// For tests and clients: the `(field path, description)` pairs of the
/// `BadRequest` detail; empty if there is none.
pub fn field_violations(status: &Status) -> Vec<(String, String)> {
    status
        .get_details_bad_request()
        .map(|bad| {
            bad.field_violations
                .into_iter()
                .map(|v| (v.field, v.description))
                .collect()
        })
        .unwrap_or_default()
}

/// For tests and clients: the `ErrorInfo` reason, if any.
pub fn reason(status: &Status) -> Option<String> {
    status.get_details_error_info().map(|info| info.reason)
}
