//! `reemploi-registry`: the partner registry as its own process.

use clap::Parser;
use reemploi_proto::service_names::REGISTRY;
use reemploi_runtime::process::{Failure, ServiceArgs, exit};

/// The reemploi partner registry (gRPC): ESS structures and their verification.
#[derive(Parser)]
#[command(name = "reemploi-registry", version)]
struct Cli {
    #[command(flatten)]
    service: ServiceArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    exit("reemploi-registry", run(Cli::parse()).await)
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let c = cli.service.connect("registry").await?;
    let running = reemploi_registry::start(
        c.db,
        c.bus,
        c.auth,
        cli.service.server.max_message_bytes,
        c.shutdown.clone(),
    )
    .await?;
    let routes = tonic::service::Routes::new(running.service);
    cli.service
        .serve(&[REGISTRY], routes, c.shutdown, running.tasks)
        .await
}
