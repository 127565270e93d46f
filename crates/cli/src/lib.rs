//! The `reemploi` command line: `reemploi up` runs every service of the
//! platform in one process on one port (embedded mode); `reemploi token`
//! signs development tokens with the same secret; `reemploi backup` and
//! `restore` copy its data directory; every other command is a client of
//! the public gRPC API (`commands`), connected as `config` says, printing as
//! `output` and `views` say.

pub mod backup;
pub mod cli;
pub mod client;
pub mod commands;
pub mod config;
pub mod dates;
pub mod demo;
pub mod demo_figures;
pub mod error;
pub mod figures;
pub mod import;
pub mod json;
pub mod output;
pub mod places;
pub mod prompt;
pub mod secret;
pub mod session;
pub mod token;
pub mod up;
pub mod views;

use std::process::ExitCode;

pub use error::CliError;

use cli::{Cli, Command};
use commands::Ctx;

/// Runs the parsed command line and turns the outcome into an exit code.
/// Without a subcommand, prints the help.
pub async fn run(cli: Cli) -> ExitCode {
    let Some(command) = cli.command else {
        let mut cmd = <Cli as clap::CommandFactory>::command();
        return match cmd.print_help() {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        };
    };
    let global = cli.global;
    if global.output == output::Format::Csv && !speaks_csv(&command) {
        let e = output::Format::no_csv();
        eprintln!("reemploi: {e}");
        return e.exit();
    }
    let tls = global.tls();
    let outcome = match command {
        Command::Up(args) => {
            match reemploi_runtime::telemetry::start(&args.service.telemetry, "reemploi") {
                Ok(()) => {
                    let outcome = up::run(*args, tls).await;
                    reemploi_runtime::telemetry::flush().await;
                    outcome
                }
                Err(e) => Err(CliError::Usage(e)),
            }
        }
        Command::Token(args) => token::run(&args),
        Command::Backup(args) => backup::backup(&args).await,
        Command::Restore(args) => backup::restore(&args).await,
        Command::Categories(args) => commands::categories::run(global.output, &args),
        Command::DeadLetters(c) => commands::deadletters::run(global.output, c).await,
        Command::Login(args) => {
            let ctx = unresolved(tls, global.output);
            commands::login::run(&ctx, global.addr, global.token, args).await
        }
        Command::Signup(args) => {
            let ctx = unresolved(tls, global.output);
            commands::login::signup(&ctx, global.addr, args).await
        }
        client => match config::resolve(global.addr.as_deref(), global.token.as_deref(), tls) {
            Ok(settings) => {
                let ctx = Ctx {
                    settings,
                    format: global.output,
                };
                run_client(&ctx, client).await
            }
            Err(e) => Err(e),
        },
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "reemploi failed");
            eprintln!("reemploi: {e}");
            e.exit()
        }
    }
}

/// Whether a command can print CSV (or, as `up` and `token`, has no output
/// format at all): any other is refused before it runs.
fn speaks_csv(command: &Command) -> bool {
    use commands::{
        accounts, api_tokens, claims, deadletters, lots, needs, notifications, partners, proposals,
        sites, slots, webhooks,
    };
    matches!(
        command,
        Command::Impact(_)
            | Command::Recolement(_)
            | Command::Audit(_)
            | Command::Up(_)
            | Command::Token(_)
            | Command::Categories(_)
            | Command::Matches(_)
            | Command::Recommend(_)
            | Command::Sites(sites::SitesCommand::List(_))
            | Command::Lots(lots::LotsCommand::List(_))
            | Command::Partners(partners::PartnersCommand::List(_))
            | Command::Claims(claims::ClaimsCommand::List(_))
            | Command::Slots(slots::SlotsCommand::List(_) | slots::SlotsCommand::Pickups(_))
            | Command::Proposals(proposals::ProposalsCommand::List(_))
            | Command::Notifications(notifications::NotificationsCommand::List(_))
            | Command::Needs(needs::NeedsCommand::List(_))
            | Command::Accounts(accounts::AccountsCommand::List(_))
            | Command::ApiTokens(api_tokens::ApiTokensCommand::List(_))
            | Command::DeadLetters(deadletters::DeadLettersCommand::List(_))
            | Command::Webhooks(
                webhooks::WebhooksCommand::List(_) | webhooks::WebhooksCommand::Deliveries(_)
            )
    )
}

/// The context of the commands that resolve the address themselves (they
/// store it).
fn unresolved(tls: config::ClientTls, format: output::Format) -> Ctx {
    Ctx {
        settings: config::Settings {
            addr: String::new(),
            token: None,
            session: None,
            tls,
        },
        format,
    }
}

/// Runs a client command.
async fn run_client(ctx: &Ctx, command: Command) -> Result<(), CliError> {
    match command {
        Command::Sites(c) => commands::sites::run(ctx, c).await,
        Command::Lots(c) => commands::lots::run(ctx, c).await,
        Command::Partners(c) => commands::partners::run(ctx, c).await,
        Command::Claim(a) => commands::claims::claim(ctx, a).await,
        Command::Claims(c) => commands::claims::run(ctx, c).await,
        Command::Slots(c) => commands::slots::run(ctx, c).await,
        Command::Matches(a) => commands::matching::matches(ctx, a).await,
        Command::Recommend(a) => commands::matching::recommend(ctx, a).await,
        Command::Plan(a) => commands::matching::plan(ctx, a).await,
        Command::Proposals(c) => commands::proposals::run(ctx, c).await,
        Command::Notifications(c) => commands::notifications::run(ctx, c).await,
        Command::Needs(c) => commands::needs::run(ctx, c).await,
        Command::Export(c) => commands::export::run(ctx, c).await,
        Command::Logout => commands::login::logout(ctx).await,
        Command::Accounts(c) => commands::accounts::run(ctx, c).await,
        Command::Password(c) => commands::password::run(ctx, c).await,
        Command::ApiTokens(c) => commands::api_tokens::run(ctx, c).await,
        Command::Outcomes(c) => commands::outcomes::run(ctx, c).await,
        Command::Hours(c) => commands::hours::run(ctx, c).await,
        Command::Impact(a) => commands::impact::run(ctx, a).await,
        Command::Recolement(a) => commands::recolement::run(ctx, a).await,
        Command::Audit(a) => commands::audit::run(ctx, a).await,
        Command::Webhooks(c) => commands::webhooks::run(ctx, c).await,
        // Dispatched by `run` before a connection is resolved.
        Command::Up(_)
        | Command::Token(_)
        | Command::Backup(_)
        | Command::Restore(_)
        | Command::Categories(_)
        | Command::Login(_)
        | Command::Signup(_)
        | Command::DeadLetters(_) => Err(CliError::Usage(
            "internal: this command is not a client command".to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use clap::{CommandFactory, Parser};

    /// Every command and subcommand has help text with an example.
    #[test]
    fn the_grammar_is_consistent_and_every_command_has_an_example() {
        let cmd = cli::Cli::command();
        cmd.clone().debug_assert();
        fn walk(c: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for sub in c.get_subcommands() {
                let p = format!("{path} {}", sub.get_name());
                let has = sub
                    .get_after_help()
                    .is_some_and(|h| h.to_string().contains("reemploi "));
                if !has && sub.get_name() != "help" {
                    missing.push(p.clone());
                }
                walk(sub, &p, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&cmd, "reemploi", &mut missing);
        assert!(missing.is_empty(), "no example: {missing:?}");
    }

    /// The help of the figures' commands says what they count, in which
    /// units, and where the FTE divisor comes from.
    #[test]
    fn the_figures_commands_say_their_units_and_the_fte_divisor() {
        let help = |path: &[&str]| {
            let mut cmd = cli::Cli::command();
            let mut sub = &mut cmd;
            for name in path {
                sub = sub.find_subcommand_mut(name).expect(name);
            }
            sub.render_long_help().to_string()
        };
        let hours = help(&["hours", "declare"]);
        for said in ["minutes", "1,607 h", "1,820 paid hours", "1,5", "1h30"] {
            assert!(hours.contains(said), "{said} in {hours}");
        }
        let impact = help(&["impact"]);
        for said in [
            "tonnes", "CO2e", "1,607 h", "1,820", "without", "method", "csv",
        ] {
            assert!(impact.contains(said), "{said} in {impact}");
        }
        let outcomes = help(&["outcomes", "declare"]);
        for said in [
            "reused",
            "refurbished",
            "resold",
            "recycled",
            "disposed",
            "kilograms",
        ] {
            assert!(outcomes.contains(said), "{said} in {outcomes}");
        }
        let recolement = help(&["recolement"]);
        assert!(
            recolement.contains("Réemployé hors site (t)"),
            "{recolement}"
        );
        let export = help(&["export", "geojson"]);
        assert!(
            export.contains("--figures") && export.contains("m2a-places.csv"),
            "{export}"
        );
    }

    #[test]
    fn csv_is_refused_up_front_except_where_it_is_printed() {
        let parse = |args: &[&str]| cli::Cli::try_parse_from(args).unwrap().command.unwrap();
        assert!(speaks_csv(&parse(&[
            "reemploi", "impact", "--by", "quartier"
        ])));
        assert!(speaks_csv(&parse(&["reemploi", "recolement", "sites/x"])));
        assert!(speaks_csv(&parse(&[
            "reemploi", "sites", "list", "-o", "csv"
        ])));
        assert!(speaks_csv(&parse(&[
            "reemploi",
            "matches",
            "sites/s/lots/l"
        ])));
        assert!(!speaks_csv(&parse(&["reemploi", "sites", "show", "s"])));
        assert!(!speaks_csv(&parse(&[
            "reemploi",
            "claims",
            "handover",
            "c",
            "--mass-kg",
            "1"
        ])));
    }

    use super::*;
}
