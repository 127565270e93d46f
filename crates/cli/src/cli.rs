//! The command line grammar (clap derive). Every flag has an environment
//! fallback; `--help` on each command shows it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use reemploi_inventory::InventoryArgs;
use reemploi_runtime::auth::Role;
use reemploi_runtime::config::{AuthArgs, BusArgs, ServerArgs, StoreArgs, TelemetryArgs};

/// reemploi: keeping building materials out of landfill. Runs the platform
/// and issues development tokens.
#[derive(Parser, Debug)]
#[command(name = "reemploi", version, propagate_version = true)]
#[command(after_help = "Examples:\n  reemploi up --demo\n  reemploi token --role admin")]
pub struct Cli {
    /// The command to run; without one, this help is printed.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Runs every reemploi service (inventory, registry, matching) in one
    /// process on one port, with health and reflection.
    ///
    /// With --database-url every service uses that one database (each keeps
    /// its own tables); otherwise each gets an SQLite file under --data-dir.
    /// Without --nats-url all services share one in-process bus. Without
    /// --jwt-secret or --jwt-public-key, tokens are HS256 with the secret in
    /// <data-dir>/jwt-secret (created if absent), the one `reemploi token`
    /// signs with. Prints `listening on ADDR` to stdout once bound; stops
    /// gracefully on SIGINT/SIGTERM.
    #[command(after_help = UP_EXAMPLES)]
    Up(Box<UpArgs>),
    /// Prints a signed development token (HS256) for the given role, using
    /// the same secret `reemploi up` uses.
    #[command(after_help = TOKEN_EXAMPLES)]
    Token(TokenArgs),
}

const UP_EXAMPLES: &str = "\
Examples:
  # Everything local: SQLite under ./data, in-process bus, generated JWT secret
  reemploi up --demo

  # On PostgreSQL and NATS JetStream
  reemploi up --database-url postgres://reemploi@localhost/reemploi --nats-url nats://localhost:4222

  # Then, in another shell:
  grpcurl -plaintext -H \"authorization: Bearer $(reemploi token --role admin)\" \\
    -d '{\"parent\":\"sites/-\"}' 127.0.0.1:50051 reemploi.inventory.v1.InventoryService/ListLots";

const TOKEN_EXAMPLES: &str = "\
Examples:
  reemploi token --role admin
  reemploi token --role site_manager --org m2a-habitat --ttl-hours 8
  reemploi token --role partner --partner partners/emmaus-mundo --data-dir /var/lib/reemploi";

/// Flags of `reemploi up`.
#[derive(Args, Debug)]
pub struct UpArgs {
    /// After start, loads the m2A sample: five ESS partners, registered and
    /// verified, and the site "Coteaux – démolition tour A" with its
    /// diagnostic, whose non-hazardous lots are published; safe to repeat
    /// across restarts. The variable takes true/false, yes/no, on/off
    /// or 1/0.
    #[arg(
        long,
        env = "REEMPLOI_DEMO",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub demo: bool,
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub bus: BusArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
    #[command(flatten)]
    pub inventory: InventoryArgs,
}

/// Flags of `reemploi token`.
#[derive(Args, Debug)]
pub struct TokenArgs {
    /// The role the token grants.
    #[arg(long, env = "REEMPLOI_TOKEN_ROLE", value_enum)]
    pub role: Role,
    /// Organisation the token acts for (`org` claim), e.g. m2a-habitat for a
    /// site manager.
    #[arg(long, env = "REEMPLOI_TOKEN_ORG")]
    pub org: Option<String>,
    /// Partner the token acts for (`partner` claim), for the partner role.
    #[arg(long, env = "REEMPLOI_TOKEN_PARTNER")]
    pub partner: Option<String>,
    /// Hours until the token expires.
    #[arg(long, env = "REEMPLOI_TOKEN_TTL_HOURS", default_value_t = 24)]
    pub ttl_hours: u64,
    /// Directory holding the jwt-secret file `reemploi up` generated; the file
    /// is created if absent. Ignored with --jwt-secret.
    #[arg(long, env = "REEMPLOI_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// HS256 secret to sign with, instead of <data-dir>/jwt-secret; must match
    /// the server's --jwt-secret. Never printed.
    #[arg(long, env = "REEMPLOI_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
}
