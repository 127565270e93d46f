//! Tracing setup: one global subscriber per process, filtered by `RUST_LOG`,
//! writing logs to stderr (stdout keeps only what scripts read) and turning
//! spans into OpenTelemetry spans.
//!
//! Every span gets an OpenTelemetry context whether or not traces are
//! exported, so that the trace id can go on log lines and travel with
//! calls and events (see `reemploi_events::trace`); spans leave the process
//! only when an OTLP endpoint is configured. In JSON, every line carries
//! the trace id of the span it is written in and the fields of the spans
//! it is in: inside a call, the `rpc` span's method and request id (see
//! [`crate::server`]).

use std::fmt;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex, Once, OnceLock};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanExporter, TracerProviderBuilder};
use tracing::dispatcher::{Dispatch, WeakDispatch};
use tracing_subscriber::Layer as _;
use tracing_subscriber::Registry;
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::fmt::format::{Format, Json, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogFormat, TelemetryArgs};

mod otlp;
mod span_fields;

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
    Otlp(Box<otlp::OtlpExporter>),
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
        Some(url) => Export::Otlp(Box::new(otlp_exporter(url)?)),
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
        let directives = std::env::var(EnvFilter::DEFAULT_ENV).unwrap_or_default();
        let filter = filter(&directives);
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
fn otlp_exporter(url: &str) -> Result<otlp::OtlpExporter, String> {
    if !url.starts_with("http://") {
        return Err(
            "--otlp-endpoint must be an http:// address (OTLP over plain HTTP/2, to a \
             collector on loopback or a private network)"
                .to_owned(),
        );
    }
    otlp::OtlpExporter::new(url)
}

/// The filter `directives` (`RUST_LOG`'s syntax) describe, or `info` when
/// they are empty or unreadable.
///
/// Directives by target and level only, the usual ones, make a
/// [`Targets`] filter, which decides once per call site. Only directives
/// on spans or fields (`[rpc{method=...}]=debug`) need an [`EnvFilter`],
/// which also looks at every span entered or left, on every thread, under
/// one lock: a cost paid by every call while such a filter is set.
pub fn filter(directives: &str) -> Filter {
    // Empty entries ("info,", "a,,b") say nothing, but `Targets` would read
    // one as "everything at ERROR", overriding the bare level.
    let directives = directives
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect::<Vec<_>>()
        .join(",");
    let directives = if directives.is_empty() {
        DEFAULT_FILTER
    } else {
        directives.as_str()
    };
    let on_spans = directives.contains(['[', '{']);
    if !on_spans && let Ok(targets) = directives.parse::<Targets>() {
        return Box::new(targets);
    }
    match EnvFilter::try_new(directives) {
        Ok(filter) => Box::new(filter),
        Err(_) => Box::new(EnvFilter::new(DEFAULT_FILTER)),
    }
}

/// A filter of [`filter`]'s making.
pub type Filter = Box<dyn tracing_subscriber::Layer<Registry> + Send + Sync>;

/// The subscriber [`init`] installs, writing logs to `writer` (colour
/// codes only when `ansi`: a person at a terminal, never a file), and
/// recording spans as OpenTelemetry spans of `tracer` when one is given.
pub fn subscriber<W>(
    format: LogFormat,
    filter: Filter,
    writer: W,
    ansi: bool,
    tracer: Option<opentelemetry_sdk::trace::Tracer>,
) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let registered = Registered::default();
    let logs = match format.resolve(ansi) {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .fmt_fields(span_fields::SpanFields)
            // The trace id and the event's fields at the top level, the
            // current span's (a call's method and request id) under "span",
            // and every span it is in under "spans".
            .event_format(JsonWithTraceId {
                format: tracing_subscriber::fmt::format()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(true),
                dispatch: registered.clone(),
            })
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
    tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(spans)
        .with(registered)
}

/// JSON lines as `tracing_subscriber` writes them, with the trace id of
/// the span a line is written in at the top level (`"trace_id"`), when
/// that span has an OpenTelemetry context.
///
/// The id is read when a line is written, not recorded on every span as a
/// field: most calls write no line, and a field recorded after a span is
/// made costs each layer a visit on every call.
struct JsonWithTraceId {
    format: Format<Json>,
    dispatch: Registered,
}

impl<S, N> FormatEvent<S, N> for JsonWithTraceId
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> fmt::Result {
        let trace_id = ctx
            .parent_span()
            .and_then(|span| self.dispatch.trace_id(&span.id()));
        let Some(trace_id) = trace_id else {
            return self.format.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.format
            .format_event(ctx, Writer::new(&mut line), event)?;
        let rest = line.strip_prefix('{').ok_or(fmt::Error)?;
        let comma = if rest.starts_with('}') { "" } else { "," };
        write!(writer, "{{\"trace_id\":\"{trace_id}\"{comma}{rest}")
    }
}

/// The dispatcher a subscriber was registered with, kept by a layer of its
/// own. A line's formatter reads the OpenTelemetry context of a span
/// through it: while an event is written, the current dispatcher cannot be
/// reached again (tracing guards against re-entry).
#[derive(Clone, Default)]
struct Registered(Arc<OnceLock<WeakDispatch>>);

impl Registered {
    /// The trace id of the span `id`, in hex, when it has a valid
    /// OpenTelemetry context.
    fn trace_id(&self, id: &tracing::span::Id) -> Option<String> {
        use opentelemetry::trace::TraceContextExt as _;
        let dispatch = self.0.get()?.upgrade()?;
        let cx = tracing_opentelemetry::get_otel_context(id, &dispatch)?;
        let ids = cx.span().span_context().clone();
        ids.is_valid().then(|| ids.trace_id().to_string())
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Registered {
    fn on_register_dispatch(&self, dispatch: &Dispatch) {
        // A subscriber is registered once; a second registration (the
        // same subscriber made the default again) names the same one.
        let _ = self.0.set(dispatch.downgrade());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// What a subscriber writes, kept for a test to read.
    #[derive(Clone, Default)]
    pub(super) struct Lines(pub(super) Arc<Mutex<Vec<u8>>>);

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

    /// The messages of the events that `directives` let through, of five
    /// written at every level by two targets, the last inside an `rpc` span.
    fn passed(directives: &str) -> Vec<String> {
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = subscriber(
            LogFormat::Json,
            filter(directives),
            move || writer.clone(),
            false,
            None,
        );
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!(target: "reemploi_runtime::server", "server debug");
            tracing::info!(target: "reemploi_runtime::server", "server info");
            tracing::debug!(target: "sqlx::query", "sqlx debug");
            tracing::warn!(target: "sqlx::query", "sqlx warn");
            tracing::info_span!("rpc").in_scope(|| {
                tracing::debug!(target: "reemploi_inventory", "debug in rpc");
            });
        });
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| {
                let line: serde_json::Value = serde_json::from_str(l).unwrap();
                line["message"].as_str().unwrap().to_owned()
            })
            .collect()
    }

    #[test]
    fn filters_read_rust_log_by_target_and_by_span() {
        // By target and level.
        assert_eq!(
            passed("warn,reemploi_runtime::server=debug"),
            ["server debug", "server info", "sqlx warn"]
        );
        assert_eq!(passed("info"), ["server info", "sqlx warn"]);
        // Empty entries change nothing.
        assert_eq!(passed("info,"), ["server info", "sqlx warn"]);
        assert_eq!(
            passed(",warn,,reemploi_runtime::server=debug,"),
            ["server debug", "server info", "sqlx warn"]
        );
        assert_eq!(passed("off"), Vec::<String>::new());
        // Empty or unreadable: info.
        assert_eq!(passed(" "), ["server info", "sqlx warn"]);
        assert_eq!(passed("=debug=,,"), ["server info", "sqlx warn"]);
        // Inside a span: only the events in it.
        assert_eq!(passed("warn,[rpc]=debug"), ["sqlx warn", "debug in rpc"]);
    }

    #[test]
    fn json_lines_carry_the_trace_id_of_their_span() {
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = subscriber(
            LogFormat::Json,
            filter("info"),
            move || writer.clone(),
            false,
            Some(local_tracer()),
        );
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("outside");
            let call = tracing::info_span!("rpc", method = "/a.B/C");
            reemploi_events::trace::adopt(
                &call,
                Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            );
            call.in_scope(|| {
                tracing::info!("in the call");
                tracing::info_span!("store").in_scope(|| tracing::info!(n = 2, "in its child"));
            });
            tracing::info_span!("other").in_scope(|| tracing::info!("in another trace"));
        });
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(lines[0]["message"], "outside");
        assert!(lines[0].get("trace_id").is_none(), "{}", lines[0]);
        for line in &lines[1..3] {
            assert_eq!(
                line["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736",
                "{line}"
            );
            assert_eq!(line["spans"][0]["method"], "/a.B/C", "{line}");
        }
        assert_eq!(lines[2]["n"], 2, "{}", lines[2]);
        let other = lines[3]["trace_id"].as_str().unwrap();
        assert_eq!(other.len(), 32, "{}", lines[3]);
        assert_ne!(other, "4bf92f3577b34da6a3ce929d0e0e4736");
    }
}
