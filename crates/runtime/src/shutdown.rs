//! Turning process signals into a cancellation token that every task can
//! watch.

use tokio_util::sync::CancellationToken;

/// A token cancelled on SIGINT or SIGTERM (spawns the signal listener).
///
/// Must be called from inside a Tokio runtime. The handlers are installed
/// before this returns, so a signal arriving right after is not lost (and
/// does not kill the process). A handler that cannot be installed is logged
/// and that signal keeps its default action.
pub fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    let signals = imp::Signals::install();
    tokio::spawn(async move {
        let signal = signals.recv().await;
        tracing::info!(signal, "shutdown signal received");
        cancel.cancel();
    });
    token
}

#[cfg(unix)]
mod imp {
    use tokio::signal::unix::{Signal, SignalKind, signal};

    pub(super) struct Signals {
        interrupt: Option<Signal>,
        terminate: Option<Signal>,
    }

    fn install(kind: SignalKind, name: &str) -> Option<Signal> {
        signal(kind)
            .inspect_err(
                |err| tracing::error!(error = %err, signal = name, "cannot listen for signal"),
            )
            .ok()
    }

    async fn recv(signal: Option<&mut Signal>) {
        match signal {
            Some(signal) => {
                signal.recv().await;
            }
            // Never resolves: a missing handler must not stop the process.
            None => std::future::pending().await,
        }
    }

    impl Signals {
        pub(super) fn install() -> Signals {
            Signals {
                interrupt: install(SignalKind::interrupt(), "SIGINT"),
                terminate: install(SignalKind::terminate(), "SIGTERM"),
            }
        }

        /// Resolves with the name of the first signal received.
        pub(super) async fn recv(mut self) -> &'static str {
            tokio::select! {
                () = recv(self.interrupt.as_mut()) => "SIGINT",
                () = recv(self.terminate.as_mut()) => "SIGTERM",
            }
        }
    }
}

#[cfg(not(unix))]
mod imp {
    pub(super) struct Signals;

    impl Signals {
        pub(super) fn install() -> Signals {
            Signals
        }

        pub(super) async fn recv(self) -> &'static str {
            match tokio::signal::ctrl_c().await {
                Ok(()) => "Ctrl-C",
                Err(err) => {
                    tracing::error!(error = %err, "cannot listen for Ctrl-C");
                    std::future::pending().await
                }
            }
        }
    }
}
