//! `reemploi-notify`: the notification service as its own process.

// mimalloc rather than the system allocator: less CPU a call (see the
// README, Benchmarks), most where one thread frees what another made.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use reemploi_notify::{EmailArgs, NotifyArgs};
use reemploi_runtime::process::{Failure, ServiceArgs, exit};

/// The reemploi notification service (gRPC): notifications in the app, by email and by webhook.
#[derive(Parser)]
#[command(name = "reemploi-notify", version)]
struct Cli {
    #[command(flatten)]
    service: ServiceArgs,
    #[command(flatten)]
    notify: NotifyArgs,
    #[command(flatten)]
    email: EmailArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    exit("reemploi-notify", run(Cli::parse()).await)
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let ctx = cli.service.connect("notify").await?;
    let running = reemploi_notify::start(ctx.clone(), &cli.notify, &cli.email).await?;
    cli.service.serve(&ctx, running).await
}
