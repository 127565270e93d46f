//! `reemploi`: the command line. See [`reemploi::cli`].

// mimalloc rather than the system allocator: less CPU a call (see the
// README, Benchmarks), most where one thread frees what another made.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    reemploi::run(reemploi::cli::Cli::parse()).await
}
