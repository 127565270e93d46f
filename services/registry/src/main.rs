//! `reemploi-registry`: the partner registry as its own process.

// mimalloc rather than the system allocator: less CPU a call (see the
// README, Benchmarks), most where one thread frees what another made.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use reemploi_registry::RegistryArgs;
use reemploi_runtime::process::{Failure, ServiceArgs, exit};

/// The reemploi partner registry (gRPC): ESS structures and their verification.
#[derive(Parser)]
#[command(name = "reemploi-registry", version)]
struct Cli {
    #[command(flatten)]
    service: ServiceArgs,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    exit("reemploi-registry", run(Cli::parse()).await)
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let ctx = cli.service.connect("registry").await?;
    let running = reemploi_registry::start(ctx.clone(), &cli.registry).await?;
    cli.service.serve(&ctx, running).await
}
