//! `reemploi-identity`: the identity service as its own process.

// mimalloc rather than the system allocator: less CPU a call (see the
// README, Benchmarks), most where one thread frees what another made.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use reemploi_identity::IdentityArgs;
use reemploi_runtime::process::{Failure, ServiceArgs, exit};

/// The reemploi identity service (gRPC): accounts, sign-in, invitations,
/// API tokens and the signing keys every service verifies tokens with.
#[derive(Parser)]
#[command(name = "reemploi-identity", version)]
struct Cli {
    #[command(flatten)]
    service: ServiceArgs,
    #[command(flatten)]
    identity: IdentityArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    exit("reemploi-identity", run(Cli::parse()).await)
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let ctx = cli.service.connect("identity").await?;
    let running = reemploi_identity::start(ctx.clone(), &cli.identity).await?;
    cli.service.serve(&ctx, running).await
}
