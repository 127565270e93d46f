//! `reemploi-web`: the web app as its own process, a client of the API.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use reemploi_runtime::config::TelemetryArgs;
use reemploi_web::{ApiArgs, WebArgs, WebState};

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
    telemetry: TelemetryArgs,
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
    let listener = tokio::net::TcpListener::bind(cli.web.listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    let shutdown = reemploi_runtime::shutdown::on_signal();
    reemploi_web::serve(listener, state, shutdown).await?;
    Ok(())
}
