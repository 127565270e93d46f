//! `reemploi`: the command line. See [`reemploi::cli`].

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    reemploi::run(reemploi::cli::Cli::parse()).await
}
