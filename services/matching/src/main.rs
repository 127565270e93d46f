//! `reemploi-matching`: the matching service as its own process.

use clap::Parser;
use reemploi_runtime::config::{AuthArgs, BusArgs, ServerArgs, StoreArgs, TelemetryArgs};

/// The reemploi matching service (gRPC): proposals, recommendations and allocation plans.
#[derive(Parser)]
#[command(name = "reemploi-matching", version)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    bus: BusArgs,
    #[command(flatten)]
    auth: AuthArgs,
    #[command(flatten)]
    telemetry: TelemetryArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    reemploi_runtime::telemetry::init(cli.telemetry.log_format);
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "reemploi-matching stopped");
            eprintln!("reemploi-matching: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    let shutdown = reemploi_runtime::shutdown::on_signal();
    let db = reemploi_runtime::wiring::database(&cli.store, "matching").await?;
    let bus = reemploi_runtime::wiring::bus(&cli.bus).await?;
    let auth = reemploi_runtime::auth::Authenticator::from_args(&cli.auth)?;
    let mut running = reemploi_matching::start(
        db,
        bus,
        auth,
        cli.server.max_message_bytes,
        shutdown.clone(),
    )
    .await?;
    let (listener, addr) = reemploi_runtime::server::bind(cli.server.listen).await?;
    tracing::info!(%addr, "matching listening");
    reemploi_runtime::server::Server::new(
        &cli.server,
        &[reemploi_proto::FILE_DESCRIPTOR_SET],
        &[reemploi_proto::service_names::MATCHING],
    )
    .serve(
        listener,
        tonic::service::Routes::new(running.service),
        shutdown,
    )
    .await?;
    while running.tasks.join_next().await.is_some() {}
    Ok(())
}
