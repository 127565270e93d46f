//! Tracing setup: one global subscriber per process, filtered by `RUST_LOG`,
//! writing to stderr so that stdout keeps only what scripts read.

use std::io::IsTerminal;
use std::sync::Once;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Filter used when `RUST_LOG` is unset or unparsable.
const DEFAULT_FILTER: &str = "info";

static INIT: Once = Once::new();

/// Installs the global subscriber once (safe to call several times: later
/// calls do nothing — tests call it from many places).
///
/// The level comes from `RUST_LOG` (default `info`). If another global
/// subscriber was installed by someone else first, that one is kept.
pub fn init(format: LogFormat) {
    INIT.call_once(|| {
        let filter =
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
        // Colour codes only for a person at a terminal, never in a file.
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal());
        // `try_init` rather than `init`: a test harness or an embedding
        // program may already own the global subscriber, and that is not an
        // error worth crashing for.
        let _ = match format {
            LogFormat::Pretty => builder.try_init(),
            LogFormat::Json => builder.json().flatten_event(true).try_init(),
        };
    });
}
