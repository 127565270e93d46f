//! Tracing setup: one global subscriber per process, filtered by `RUST_LOG`,
//! writing to stderr so that stdout keeps only what scripts read.
//!
//! In JSON, every line carries the fields of the spans it is in: inside a
//! call, the `rpc` span's method and request id (see [`crate::server`]), so
//! that a log collector gathers the lines of one request by its id.

use std::io::IsTerminal;
use std::sync::Once;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;

/// Filter used when `RUST_LOG` is unset or unparsable.
const DEFAULT_FILTER: &str = "info";

static INIT: Once = Once::new();

/// Installs the global subscriber once (safe to call several times: later
/// calls do nothing — tests call it from many places).
///
/// The level comes from `RUST_LOG` (default `info`); [`LogFormat::Auto`]
/// writes JSON unless stderr is a terminal. If another global subscriber
/// was installed by someone else first, that one is kept.
pub fn init(format: LogFormat) {
    INIT.call_once(|| {
        let terminal = std::io::stderr().is_terminal();
        let filter =
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
        // `try_init` rather than `init`: a test harness or an embedding
        // program may already own the global subscriber, and that is not an
        // error worth crashing for.
        let _ = subscriber(format.resolve(terminal), filter, std::io::stderr, terminal).try_init();
    });
}

/// The subscriber [`init`] installs, writing to `writer`: colour codes only
/// when `ansi` (a person at a terminal, never a file).
pub fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
    ansi: bool,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format.resolve(ansi) {
        LogFormat::Json => Box::new(
            builder
                .json()
                // The event's fields at the top level, and the current
                // span's (method, request id) under "span" on every line.
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(true)
                .finish(),
        ),
        LogFormat::Pretty | LogFormat::Auto => Box::new(builder.with_ansi(ansi).finish()),
    }
}
