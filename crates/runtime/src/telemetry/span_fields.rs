//! A span's fields as one JSON object, as the JSON log lines embed them.
//!
//! The log layer writes them when a span is made, for every call, although
//! a line is rarely written at info. tracing-subscriber's `JsonFields` goes
//! through serde_json and an `io::Write` adaptor that checks UTF-8 at every
//! fragment it is handed: a third of the instructions of a call's span
//! (callgrind). This writes the same object straight into the span's buffer.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormattedFields;
use tracing_subscriber::fmt::format::{FormatFields, Writer};

/// The fields of a span as a JSON object (`{}` without any).
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct SpanFields;

impl<'w> FormatFields<'w> for SpanFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        object(&mut writer, true, fields)
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
        let empty = current.fields.is_empty() || current.fields == "{}";
        if empty {
            current.fields.clear();
        } else {
            current.fields.pop();
        }
        object(&mut current.as_writer(), empty, fields)
    }
}

/// Writes `fields` as members of an object: all of it when `opens`, else
/// after members already written (its brace open).
fn object(writer: &mut Writer<'_>, opens: bool, fields: impl RecordFields) -> fmt::Result {
    let mut members = Members {
        writer,
        first: opens,
        result: Ok(()),
    };
    fields.record(&mut members);
    members.result?;
    if members.first {
        members.writer.write_str("{}")
    } else {
        members.writer.write_char('}')
    }
}

/// A visitor writing each field as a member `"name":value`.
struct Members<'a, 'w> {
    writer: &'a mut Writer<'w>,
    /// No member written yet: the next opens the object.
    first: bool,
    result: fmt::Result,
}

impl Members<'_, '_> {
    fn member(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        let opening = if std::mem::replace(&mut self.first, false) {
            '{'
        } else {
            ','
        };
        self.result = self
            .writer
            .write_char(opening)
            .and_then(|()| string(self.writer, field.name()))
            .and_then(|()| self.writer.write_char(':'))
            .and_then(|()| value(self.writer));
    }
}

impl Visit for Members<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field, |w| string(w, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.member(field, |w| quoted(w, format_args!("{value:?}")));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.member(field, |w| quoted(w, format_args!("{value}")));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field, |w| write!(w, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field, |w| write!(w, "{value}"));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.member(field, |w| write!(w, "{value}"));
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.member(field, |w| write!(w, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field, |w| write!(w, "{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN nor infinity.
        if value.is_finite() {
            self.member(field, |w| write!(w, "{value}"));
        } else {
            self.member(field, |w| w.write_str("null"));
        }
    }
}

/// What `value` formats to, as a JSON string. A value whose formatting
/// fails keeps what it wrote: the object stays whole, and the span keeps
/// its fields (the log layer would have none to show for it otherwise).
fn quoted(w: &mut Writer<'_>, value: fmt::Arguments<'_>) -> fmt::Result {
    w.write_char('"')?;
    // The buffer is a String, which never fails: an error is the value's.
    let _ = Escaped(&mut *w).write_fmt(value);
    w.write_char('"')
}

/// `s` as a JSON string.
fn string(w: &mut Writer<'_>, s: &str) -> fmt::Result {
    w.write_char('"')?;
    Escaped(&mut *w).write_str(s)?;
    w.write_char('"')
}

/// Escapes what it is given for the inside of a JSON string: runs that
/// need nothing (all of a method's path or a request id) are written whole.
struct Escaped<'a, 'w>(&'a mut Writer<'w>);

impl fmt::Write for Escaped<'_, '_> {
    fn write_str(&mut self, mut s: &str) -> fmt::Result {
        while let Some(at) = s.bytes().position(|b| matches!(b, b'"' | b'\\' | 0..=0x1f)) {
            self.0.write_str(&s[..at])?;
            match s.as_bytes()[at] {
                b'"' => self.0.write_str("\\\""),
                b'\\' => self.0.write_str("\\\\"),
                b'\n' => self.0.write_str("\\n"),
                b'\r' => self.0.write_str("\\r"),
                b'\t' => self.0.write_str("\\t"),
                control => write!(self.0, "\\u{control:04x}"),
            }?;
            // The byte escaped is ASCII: the rest starts on a character.
            s = &s[at + 1..];
        }
        self.0.write_str(s)
    }
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
