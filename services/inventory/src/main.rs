//! `reemploi-inventory`: the inventory service as its own process.

// mimalloc rather than the system allocator: less CPU a call (see the
// README, Benchmarks), most where one thread frees what another made.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

use reemploi_inventory::InventoryArgs;
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
    let ctx = cli.service.connect("inventory").await?;
    let running = reemploi_inventory::start(ctx.clone(), &cli.inventory).await?;
    cli.service.serve(&ctx, running).await
}
