//! The `reemploi` command line: `reemploi up` runs every service of the
//! platform in one process on one port (embedded mode, design §10);
//! `reemploi token` signs development tokens with the same secret.

pub mod cli;
pub mod demo;
pub mod error;
pub mod secret;
pub mod token;
pub mod up;

use std::process::ExitCode;

pub use error::CliError;

use cli::{Cli, Command};

/// Runs the parsed command line and turns the outcome into an exit code.
/// Without a subcommand, prints the help.
pub async fn run(cli: Cli) -> ExitCode {
    let outcome = match cli.command {
        Some(Command::Up(args)) => {
            reemploi_runtime::telemetry::init(args.telemetry.log_format);
            up::run(*args).await
        }
        Some(Command::Token(args)) => token::run(&args),
        None => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            return match cmd.print_help() {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::FAILURE,
            };
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "reemploi stopped");
            eprintln!("reemploi: {e}");
            ExitCode::FAILURE
        }
    }
}
