//! `reemploi-inventory`: the inventory service as its own process.

use clap::Parser;
use reemploi_inventory::InventoryArgs;
use reemploi_proto::service_names::INVENTORY;
use reemploi_runtime::process::{Failure, ServiceArgs, exit};

/// The reemploi material inventory service (gRPC): sites, lots, claims and hand-overs.
#[derive(Parser)]
#[command(name = "reemploi-inventory", version)]
struct Cli {
    #[command(flatten)]
    service: ServiceArgs,
    #[command(flatten)]
    inventory: InventoryArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    exit("reemploi-inventory", run(Cli::parse()).await)
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let c = cli.service.connect("inventory").await?;
    let running = reemploi_inventory::start(
        c.db,
        c.bus,
        cli.inventory.settings(),
        c.auth,
        cli.service.server.max_message_bytes,
        c.shutdown.clone(),
    )
    .await?;
    let routes = tonic::service::Routes::new(running.service);
    cli.service
        .serve(&[INVENTORY], routes, c.shutdown, running.tasks)
        .await
}
