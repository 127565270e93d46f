//! Tracing setup: one global subscriber per process, filtered by `RUST_LOG`,
//! writing logs to stderr (stdout keeps only what scripts read) and turning
//! spans into OpenTelemetry spans.
//!
//! Every span gets an OpenTelemetry context whether or not traces are
//! exported, so that the trace id can go on log lines and travel with
//! calls and events (see `reemploi_events::trace`); spans leave the process
//! only when an OTLP endpoint is configured. In JSON, every line carries
//! the fields of the spans it is in: inside a call, the `rpc` span's
//! method, request id and trace id (see [`crate::server`]).

use std::fmt;
use std::io::IsTerminal;
use std::sync::{Mutex, Once};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanExporter, TracerProviderBuilder};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FormatFields, FormattedFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogFormat, TelemetryArgs};

/// Filter used when `RUST_LOG` is unset or unparsable.
const DEFAULT_FILTER: &str = "info";

static INIT: Once = Once::new();
/// The installed provider, kept to flush its spans on the way out.
static PROVIDER: Mutex<Option<SdkTracerProvider>> = Mutex::new(None);

/// Where spans go.
enum Export {
    /// Nowhere: ids only.
    Nowhere,
    /// To an OTLP/gRPC collector, in batches.
    Otlp(Box<opentelemetry_otlp::SpanExporter>),
    /// To an exporter of the caller's, each span as it ends (tests).
    Each(Box<dyn FnOnce(TracerProviderBuilder) -> TracerProviderBuilder>),
}

/// Installs the global subscriber once (safe to call several times: later
/// calls do nothing — tests call it from many places), exporting no span.
///
/// The level comes from `RUST_LOG` (default `info`); [`LogFormat::Auto`]
/// writes JSON unless stderr is a terminal. If another global subscriber
/// was installed by someone else first, that one is kept.
pub fn init(format: LogFormat) {
    install(format, "reemploi", Export::Nowhere);
}

/// As [`init`], for a process named `service` in the spans it exports, to
/// the OTLP endpoint of `args` when there is one. Call from within the
/// tokio runtime: the exporter runs on it.
///
/// An endpoint that cannot be used (not `http://`, or refused by the
/// exporter) is an error, for the process to stop on, as any bad setting.
pub fn start(args: &TelemetryArgs, service: &str) -> Result<(), String> {
    let export = match &args.otlp_endpoint {
        Some(url) => Export::Otlp(Box::new(otlp(url)?)),
        None => Export::Nowhere,
    };
    install(args.log_format, service, export);
    Ok(())
}

/// As [`init`], with spans handed to `exporter` as each ends: for tests
/// that look at the spans a process made.
pub fn init_with_exporter<E>(format: LogFormat, service: &str, exporter: E)
where
    E: SpanExporter + 'static,
{
    install(
        format,
        service,
        Export::Each(Box::new(move |builder| {
            builder.with_simple_exporter(exporter)
        })),
    );
}

/// Exports the spans not yet sent and stops exporting: call once the
/// process has stopped serving, whatever the outcome. The provider's
/// shutdown blocks (it waits for the last export), so it runs off the
/// runtime's workers.
pub async fn flush() {
    let provider = PROVIDER.lock().ok().and_then(|mut p| p.take());
    let Some(provider) = provider else {
        return;
    };
    match tokio::task::spawn_blocking(move || provider.shutdown()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "traces: could not flush the last spans"),
        Err(e) => tracing::warn!(error = %e, "traces: the flush did not finish"),
    }
}

fn install(format: LogFormat, service: &str, export: Export) {
    INIT.call_once(|| {
        let terminal = std::io::stderr().is_terminal();
        let filter =
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
        let provider = provider(service, export);
        let tracer = provider.tracer("reemploi");
        if let Ok(mut slot) = PROVIDER.lock() {
            *slot = Some(provider);
        }
        // `try_init` rather than `init`: a test harness or an embedding
        // program may already own the global subscriber, and that is not an
        // error worth crashing for.
        let _ = subscriber(format, filter, std::io::stderr, terminal, Some(tracer)).try_init();
    });
}

/// A tracer that makes span ids and exports nothing: for a subscriber of
/// one's own (a test) whose log lines should carry trace ids.
pub fn local_tracer() -> opentelemetry_sdk::trace::Tracer {
    SdkTracerProvider::builder().build().tracer("reemploi")
}

fn provider(service: &str, export: Export) -> SdkTracerProvider {
    let resource = Resource::builder()
        .with_service_name(service.to_owned())
        .build();
    let builder = SdkTracerProvider::builder().with_resource(resource);
    let builder = match export {
        Export::Nowhere => builder,
        Export::Each(add) => add(builder),
        // The SDK's batch processor on a thread of its own: spans queue
        // without waking anyone, and the thread wakes when a batch is full
        // or on its timer (not on every span, as a task on the runtime
        // fed through a channel would).
        Export::Otlp(exporter) => builder.with_batch_exporter(*exporter),
    };
    builder.build()
}

/// The exporter to the collector at `url`. The URL is not repeated in
/// errors: it may carry credentials.
fn otlp(url: &str) -> Result<opentelemetry_otlp::SpanExporter, String> {
    use opentelemetry_otlp::WithExportConfig as _;
    if !url.starts_with("http://") {
        return Err(
            "--otlp-endpoint must be an http:// address (OTLP over plain HTTP/2, to a \
             collector on loopback or a private network)"
                .to_owned(),
        );
    }
    opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(url)
        .build()
        .map_err(|e| format!("--otlp-endpoint: {e}"))
}

/// The subscriber [`init`] installs, writing logs to `writer` (colour
/// codes only when `ansi`: a person at a terminal, never a file), and
/// recording spans as OpenTelemetry spans of `tracer` when one is given.
pub fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
    ansi: bool,
    tracer: Option<opentelemetry_sdk::trace::Tracer>,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let logs = match format.resolve(ansi) {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            // The event's fields at the top level, and the current span's
            // (method, request id, trace id) under "span" on every line.
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .fmt_fields(JsonSpanFields::default())
            .with_writer(writer)
            .boxed(),
        LogFormat::Pretty | LogFormat::Auto => tracing_subscriber::fmt::layer()
            .with_ansi(ansi)
            .with_writer(writer)
            .boxed(),
    };
    // Spans and their fields only: no per-poll timing, no thread, source
    // location or target, and no OpenTelemetry context made current on
    // every poll (contexts are read from the spans, see
    // `reemploi_events::trace`), so that a call costs little beyond its span.
    let spans = tracer.map(|tracer| {
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_tracked_inactivity(false)
            .with_threads(false)
            .with_location(false)
            .with_target(false)
            .with_context_activation(false)
            .with_error_events_to_exceptions(false)
            .with_error_events_to_status(false)
    });
    Box::new(
        tracing_subscriber::registry()
            .with(filter)
            .with(logs)
            .with(spans),
    )
}

/// The fields of spans as JSON, as `tracing_subscriber`'s `JsonFields`
/// writes them, except that fields recorded after a span was made are
/// appended to the object it has: the stock formatter parses the object
/// and writes it again, and the `rpc` span's trace id is recorded so on
/// every call. A field recorded twice appears twice; readers of JSON keep
/// the last.
#[derive(Debug, Default)]
struct JsonSpanFields(JsonFields);

impl<'writer> FormatFields<'writer> for JsonSpanFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        self.0.format_fields(writer, fields)
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let mut added = String::new();
        self.0.format_fields(Writer::new(&mut added), fields)?;
        let added = added
            .strip_prefix('{')
            .and_then(|a| a.strip_suffix('}'))
            .ok_or(fmt::Error)?;
        let kept = current.fields.trim_end();
        let kept = kept.strip_suffix('}').ok_or(fmt::Error);
        match (added.is_empty(), kept) {
            (true, _) => {}
            // Nothing was kept yet (or not an object): the new fields alone.
            (false, Err(_)) => current.fields = format!("{{{added}}}"),
            (false, Ok(kept)) => {
                let comma = if kept.trim_end().ends_with('{') {
                    ""
                } else {
                    ","
                };
                current.fields = format!("{kept}{comma}{added}}}");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::ErrorKind::Other)?
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn span_fields_recorded_later_join_those_it_was_made_with() {
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = subscriber(
            LogFormat::Json,
            EnvFilter::new("info"),
            move || writer.clone(),
            false,
            None,
        );
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "rpc",
                method = "/a.B/C",
                trace_id = tracing::field::Empty,
                note = tracing::field::Empty
            );
            let empty = tracing::info_span!(parent: &span, "empty", later = tracing::field::Empty);
            span.record("trace_id", "0af7651916cd43dd8448eb211c80319c");
            span.record("note", "a \"quoted\" } brace");
            empty.record("later", 7);
            span.in_scope(|| empty.in_scope(|| tracing::info!("inside")));
        });
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        let spans = line["spans"].as_array().unwrap();
        assert_eq!(spans[0]["method"], "/a.B/C", "{line}");
        assert_eq!(
            spans[0]["trace_id"], "0af7651916cd43dd8448eb211c80319c",
            "{line}"
        );
        assert_eq!(spans[0]["note"], "a \"quoted\" } brace", "{line}");
        assert_eq!(spans[1]["later"], 7, "{line}");
        assert_eq!(line["span"]["name"], "empty", "{line}");
    }
}
