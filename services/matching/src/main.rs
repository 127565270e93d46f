//! `reemploi-matching`: the matching service as its own process.

use clap::Parser;
use reemploi_proto::service_names::MATCHING;
use reemploi_runtime::process::{Failure, ServiceArgs, exit};

/// The reemploi matching service (gRPC): proposals, recommendations and allocation plans.
#[derive(Parser)]
#[command(name = "reemploi-matching", version)]
struct Cli {
    #[command(flatten)]
    service: ServiceArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    exit("reemploi-matching", run(Cli::parse()).await)
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let c = cli.service.connect("matching").await?;
    let running = reemploi_matching::start(
        c.db,
        c.bus,
        c.auth,
        cli.service.server.max_message_bytes,
        c.shutdown.clone(),
    )
    .await?;
    let routes = tonic::service::Routes::new(running.service);
    cli.service
        .serve(&[MATCHING], routes, c.shutdown, running.tasks)
        .await
}
