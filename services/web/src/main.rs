//! `reemploi-web`: the web app as its own process, a client of the API.

// mimalloc rather than the system allocator: less CPU a call (see the
// README, Benchmarks), most where one thread frees what another made.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use reemploi_events::{JetStreamBus, JetStreamOptions, NatsTls};
use reemploi_runtime::config::{NatsTlsArgs, TelemetryArgs};
use reemploi_web::{ApiArgs, WebArgs, WebState};
use tokio_util::sync::CancellationToken;

/// The reemploi web app: pages for site managers, ESS structures and the
/// territory admin, on the public gRPC API.
#[derive(Parser)]
#[command(name = "reemploi-web", version)]
struct Cli {
    #[command(flatten)]
    web: WebArgs,
    #[command(flatten)]
    api: ApiArgs,
    /// Directory of the generated cookie key (web-key) when --cookie-key is absent.
    #[arg(long = "data-dir", env = "REEMPLOI_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    #[command(flatten)]
    events: EventArgs,
    #[command(flatten)]
    telemetry: TelemetryArgs,
}

/// The events the web app follows to keep the site pages it rendered
/// while they are still true.
#[derive(clap::Args)]
#[command(next_help_heading = "Event bus", about = None, long_about = None)]
struct EventArgs {
    /// NATS server URL, or a comma-separated list of a cluster's servers,
    /// of the services' JetStream: the web app follows which sites change
    /// and which sessions end, and serves a site page again without
    /// rendering it while it is still true. When absent, every view is
    /// rendered. Never logged.
    #[arg(long = "nats-url", env = "NATS_URL", hide_env_values = true)]
    nats_url: Option<String>,
    /// Replicas of a stream, should the web app be the first to need it
    /// (the services' own setting).
    #[arg(
        long = "stream-replicas",
        env = "REEMPLOI_STREAM_REPLICAS",
        default_value_t = 1
    )]
    stream_replicas: usize,
    /// Prefix of subjects and stream names: the services' own.
    #[arg(long = "event-namespace", env = "REEMPLOI_EVENT_NAMESPACE")]
    event_namespace: Option<String>,
    #[command(flatten)]
    tls: NatsTlsArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = reemploi_runtime::telemetry::start(&cli.telemetry, "reemploi-web") {
        eprintln!("reemploi-web: {e}");
        return ExitCode::FAILURE;
    }
    let outcome = run(cli).await;
    reemploi_runtime::telemetry::flush().await;
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "reemploi-web stopped");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    let state = WebState::new(&cli.web, &cli.api.endpoints(), &cli.data_dir)?;
    let tls = cli.events.tls.files();
    let options = JetStreamOptions {
        namespace: cli.events.event_namespace.clone(),
        replicas: cli.events.stream_replicas,
    };
    // A bad NATS setting (URL, namespace, TLS file) is a configuration
    // error, stopping at start; NATS not answering yet is not.
    if let Some(url) = &cli.events.nats_url {
        JetStreamBus::check_settings(url, &options, &tls)?;
    }
    let listener = tokio::net::TcpListener::bind(cli.web.listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    let shutdown = reemploi_runtime::shutdown::on_signal();
    if let Some(url) = cli.events.nats_url.clone() {
        // Pages are served from the start; they are kept once NATS is reached.
        let kept = keep_pages(state.clone(), (url, options, tls), shutdown.clone());
        tokio::spawn(kept);
    }
    reemploi_web::serve(listener, state, shutdown).await?;
    Ok(())
}

/// Connects to NATS at `url`, waiting for it, then keeps the pages rendered
/// while the events say they are still true, until `shutdown`. A stream
/// that cannot be read yet is tried again, a minute apart at most.
async fn keep_pages(
    state: WebState,
    (url, options, tls): (String, JetStreamOptions, NatsTls),
    shutdown: CancellationToken,
) {
    let bus = tokio::select! {
        bus = JetStreamBus::connect_retrying(&url, options, &tls) => bus,
        () = shutdown.cancelled() => return,
    };
    let bus = match bus {
        Ok(bus) => bus,
        Err(e) => {
            tracing::error!(error = %e, "cannot reach NATS: every view is rendered");
            return;
        }
    };
    let mut retry = Duration::from_secs(1);
    loop {
        match state.keep_pages(&bus, shutdown.child_token()).await {
            Ok(()) => break,
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?retry, "cannot follow the events yet: every view is rendered");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(retry) => retry = (retry * 2).min(Duration::from_secs(60)),
            () = shutdown.cancelled() => return,
        }
    }
    tracing::info!("site pages kept while the events say they are true");
    // The connection lives as long as the web app.
    shutdown.cancelled().await;
}
