//! A span's fields as one JSON object, as the JSON log lines embed them.
//!
//! The log layer writes them when a span is made, for every call, although
//! a line is rarely written at info. tracing-subscriber's `JsonFields` goes
//! through serde_json and an `io::Write` adaptor that checks UTF-8 at every
//! fragment it is handed: a third of the instructions of a call's span
//! (callgrind). This writes the same object into a buffer sized for a
//! call's fields, and hands it over whole.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormattedFields;
use tracing_subscriber::fmt::format::{FormatFields, Writer};

/// Room for the fields of a call's span (its method and request id), so
/// that the object is written without growing its buffer.
const ROOM: usize = 160;

/// The fields of a span as a JSON object (`{}` without any).
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct SpanFields;

impl<'w> FormatFields<'w> for SpanFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        // Written here, then handed over whole: the writer is a `dyn
        // fmt::Write` over an empty buffer, which every small write would
        // reach through a call and grow several times.
        let mut object = String::with_capacity(ROOM);
        members(&mut object, true, fields);
        writer.write_str(&object)
    }

    fn add_fields(
        &self,
        current: &'w mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        // Fields recorded later join the object: its closing brace is
        // taken off and put back after them. A field recorded twice appears
        // twice, and a line shows the last (as JSON readers do): spans here
        // record a field once, after they are made.
        let object = &mut current.fields;
        let empty = object.is_empty() || object == "{}";
        if empty {
            object.clear();
        } else {
            object.pop();
        }
        members(object, empty, fields);
        Ok(())
    }
}

/// Writes `fields` as members of an object into `out`: all of it when
/// `opens`, else after members already written (its brace open).
fn members(out: &mut String, opens: bool, fields: impl RecordFields) {
    let mut members = Members { out, first: opens };
    fields.record(&mut members);
    let close = if members.first { "{}" } else { "}" };
    members.out.push_str(close);
}

/// A visitor writing each field as a member `"name":value`.
struct Members<'a> {
    out: &'a mut String,
    /// No member written yet: the next opens the object.
    first: bool,
}

impl Members<'_> {
    /// Starts the member `field`, up to its value.
    fn name(&mut self, field: &Field) -> &mut String {
        let opening = if std::mem::replace(&mut self.first, false) {
            "{\""
        } else {
            ",\""
        };
        self.out.push_str(opening);
        escape(self.out, field.name());
        self.out.push_str("\":");
        self.out
    }

    fn number(&mut self, field: &Field, value: impl fmt::Display) {
        // Writing to a String cannot fail, nor can a number's formatting.
        let _ = write!(self.name(field), "{value}");
    }
}

impl Visit for Members<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        string(self.name(field), value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        quoted(self.name(field), format_args!("{value:?}"));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        quoted(self.name(field), format_args!("{value}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.number(field, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.number(field, value);
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.number(field, value);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.number(field, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.number(field, value);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN nor infinity.
        if value.is_finite() {
            self.number(field, value);
        } else {
            self.name(field).push_str("null");
        }
    }
}

/// What `value` formats to, as a JSON string. A value whose formatting
/// fails keeps what it wrote: the object stays whole, and the span keeps
/// its fields (the log layer would have none to show for it otherwise).
fn quoted(out: &mut String, value: fmt::Arguments<'_>) {
    out.push('"');
    let _ = Escaped(&mut *out).write_fmt(value);
    out.push('"');
}

/// `s` as a JSON string.
fn string(out: &mut String, s: &str) {
    out.push('"');
    escape(out, s);
    out.push('"');
}

/// Appends `s` escaped for the inside of a JSON string: runs that need
/// nothing (all of a method's path or a request id) are copied whole.
fn escape(out: &mut String, mut s: &str) {
    // Most strings need nothing. Looking at every byte without stopping at
    // the first lets the compiler compare them a vector at a time.
    if !s
        .as_bytes()
        .iter()
        .fold(false, |any, &b| any | needs_escape(b))
    {
        out.push_str(s);
        return;
    }
    while let Some(at) = s.bytes().position(needs_escape) {
        out.push_str(&s[..at]);
        match s.as_bytes()[at] {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            control => {
                let _ = write!(out, "\\u{control:04x}");
            }
        }
        // The byte escaped is ASCII: the rest starts on a character.
        s = &s[at + 1..];
    }
    out.push_str(s);
}

/// Escapes what a value's formatting writes, piece by piece.
struct Escaped<'a>(&'a mut String);

impl fmt::Write for Escaped<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        escape(self.0, s);
        Ok(())
    }
}

/// Whether `b` cannot stand as it is inside a JSON string.
fn needs_escape(b: u8) -> bool {
    // `|`, not `||`: no branch, so that a loop over bytes can be vectorised.
    (b < 0x20) | (b == b'"') | (b == b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::tests::Lines;
    use tracing_subscriber::layer::SubscriberExt as _;

    /// The fields the log layer shows for the span `make` makes, on a line
    /// written inside it.
    fn kept(make: impl FnOnce() -> tracing::Span) -> serde_json::Value {
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(true)
                .with_span_list(false)
                .fmt_fields(SpanFields)
                .with_writer(move || writer.clone()),
        );
        tracing::subscriber::with_default(subscriber, || {
            let span = make();
            span.in_scope(|| tracing::info!("inside"));
        });
        let bytes = lines.0.lock().expect("lines").clone();
        let line: serde_json::Value = serde_json::from_slice(&bytes).expect("one JSON line");
        line["span"].clone()
    }

    #[test]
    fn fields_of_every_kind_make_one_object() {
        let odd = "quote \" backslash \\ line\nbell \u{7} é";
        let span = kept(|| {
            tracing::info_span!(
                "rpc",
                method = "/a.B/C",
                shown = %odd,
                debugged = ?("x", 1),
                n = -3i64,
                big = 18_446_744_073_709_551_615u64,
                ok = true,
                ratio = 0.25f64,
                nan = f64::NAN,
                later = tracing::field::Empty,
            )
        });
        assert_eq!(span["name"], "rpc");
        assert_eq!(span["method"], "/a.B/C");
        assert_eq!(span["shown"], odd);
        assert_eq!(span["debugged"], "(\"x\", 1)");
        assert_eq!(span["n"], -3);
        assert_eq!(span["big"], 18_446_744_073_709_551_615u64);
        assert_eq!(span["ok"], true);
        assert_eq!(span["ratio"], 0.25);
        assert!(span["nan"].is_null());
        assert!(span.get("later").is_none(), "{span}");
    }

    #[test]
    fn fields_recorded_later_join_the_object() {
        let span = kept(|| {
            let span = tracing::info_span!("rpc", method = "/a.B/C", code = tracing::field::Empty);
            span.record("code", "OK");
            span
        });
        assert_eq!(span["method"], "/a.B/C");
        assert_eq!(span["code"], "OK");
        let bare = kept(|| {
            let span = tracing::info_span!("bare", code = tracing::field::Empty);
            span.record("code", 7);
            span
        });
        assert_eq!(bare["code"], 7);
        let none = kept(|| tracing::info_span!("none"));
        assert_eq!(none, serde_json::json!({"name": "none"}));
    }
}
