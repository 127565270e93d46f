//! `reemploi-matching`: the matching service as its own process.

// mimalloc rather than the system allocator: less CPU a call (see the
// README, Benchmarks), most where one thread frees what another made.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use reemploi_matching::MatchingArgs;
use reemploi_runtime::process::{Failure, ServiceArgs, exit};

/// The reemploi matching service (gRPC): proposals, recommendations and allocation plans.
#[derive(Parser)]
#[command(name = "reemploi-matching", version)]
struct Cli {
    #[command(flatten)]
    service: ServiceArgs,
    #[command(flatten)]
    matching: MatchingArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    exit("reemploi-matching", run(Cli::parse()).await)
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let ctx = cli.service.connect("matching").await?;
    let running = reemploi_matching::start(ctx.clone(), &cli.matching).await?;
    cli.service.serve(&ctx, running).await
}
