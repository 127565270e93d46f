//! `reemploi-impact`: the impact service as its own process.

// mimalloc rather than the system allocator: less CPU a call (see the
// README, Benchmarks), most where one thread frees what another made.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use reemploi_impact::ImpactArgs;
use reemploi_runtime::process::{Failure, ServiceArgs, exit};

/// The reemploi impact service (gRPC): outcomes, insertion hours, figures and récolements.
#[derive(Parser)]
#[command(name = "reemploi-impact", version)]
struct Cli {
    #[command(flatten)]
    service: ServiceArgs,
    #[command(flatten)]
    impact: ImpactArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    exit("reemploi-impact", run(Cli::parse()).await)
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let ctx = cli.service.connect("impact").await?;
    let running = reemploi_impact::start(ctx.clone(), &cli.impact).await?;
    cli.service.serve(&ctx, running).await
}
