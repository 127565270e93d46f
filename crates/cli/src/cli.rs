//! The command line grammar (clap derive): the top level, the global
//! connection and output flags, `up` and `token`. Client command groups
//! keep their own grammar in `commands::*`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use reemploi_identity::IdentityArgs;
use reemploi_impact::ImpactArgs;
use reemploi_inventory::InventoryArgs;
use reemploi_matching::MatchingArgs;
use reemploi_registry::RegistryArgs;
use reemploi_runtime::auth::Role;
use reemploi_runtime::config::DEFAULT_JWT_MAX_LIFETIME_SECS;
use reemploi_runtime::process::ServiceArgs;

use crate::commands::{
    accounts, api_tokens, audit, claims, deadletters, export, hours, impact, login, lots, matching,
    needs, notifications, outcomes, partners, password, proposals, recolement, sites, slots,
    webhooks,
};
use crate::config::ClientTls;
use crate::output::Format;

/// reemploi: keeping building materials out of landfill. Runs the platform,
/// issues development tokens, and works with sites, lots, partners, claims,
/// matching and the territory's figures through the public API.
#[derive(Parser, Debug)]
#[command(name = "reemploi", version, propagate_version = true)]
#[command(after_help = MAIN_EXAMPLES)]
pub struct Cli {
    /// Connection and output flags, accepted by every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command to run; without one, this help is printed.
    #[command(subcommand)]
    pub command: Option<Command>,
}

const MAIN_EXAMPLES: &str = "\
Examples:
  reemploi up --demo                        # prints demo accounts and their password
  reemploi login --email <printed account>  # in another shell; asks for the password
  reemploi sites list
  reemploi sites create --name \"Coteaux – tour B\" --lat 47.746 --lon 7.301 --owner-org m2a-habitat
  reemploi lots import diagnostic.xlsx --site sites/… --publish
  reemploi partners import siae-68.csv --verify
  reemploi plan sites/…
  reemploi export geojson --out reemploi.geojson
  reemploi impact --from 2026-01 --to 2026-12 --by quartier
  reemploi logout

Exit codes: 0 ok, 1 other error, 2 usage, 3 not found, 4 unauthenticated or
permission denied, 5 server unreachable, 6 invalid input (file or server).";

/// Flags every client command takes. The address and token are resolved
/// flag, then environment, then the file `reemploi login` writes.
#[derive(Args, Debug)]
pub struct GlobalArgs {
    /// Server address, e.g. http://127.0.0.1:50051 or https://reemploi.example.org
    /// [default: from `reemploi login`, else http://127.0.0.1:50051].
    #[arg(
        long,
        global = true,
        env = "REEMPLOI_ADDR",
        help_heading = "Connection"
    )]
    pub addr: Option<String>,
    /// Bearer token [default: from `reemploi login`]. Never printed.
    #[arg(
        long,
        global = true,
        env = "REEMPLOI_TOKEN",
        hide_env_values = true,
        help_heading = "Connection"
    )]
    pub token: Option<String>,
    /// Output format: aligned tables for people, JSON for scripts, or CSV
    /// for spreadsheets (every list, `impact` and `recolement`).
    #[arg(
        short = 'o',
        long,
        global = true,
        value_enum,
        env = "REEMPLOI_OUTPUT",
        default_value_t = Format::Table,
        help_heading = "Output"
    )]
    pub output: Format,
    /// PEM file of the CA certificate(s) to trust for an https:// address,
    /// instead of the public web PKI roots: for a server whose certificate
    /// a private CA signed (its --tls-cert).
    #[arg(
        long,
        global = true,
        env = "REEMPLOI_CA",
        value_name = "FILE",
        help_heading = "Connection"
    )]
    pub ca: Option<PathBuf>,
    /// PEM file of the client certificate to present, for a server that
    /// requires one (mutual TLS, its --tls-client-ca). Needs --client-key.
    #[arg(
        long,
        global = true,
        env = "REEMPLOI_CLIENT_CERT",
        value_name = "FILE",
        requires = "client_key",
        help_heading = "Connection"
    )]
    pub client_cert: Option<PathBuf>,
    /// PEM file of the private key of --client-cert. Never printed.
    #[arg(
        long,
        global = true,
        env = "REEMPLOI_CLIENT_KEY",
        value_name = "FILE",
        requires = "client_cert",
        help_heading = "Connection"
    )]
    pub client_key: Option<PathBuf>,
}

impl GlobalArgs {
    /// The TLS files the flags name.
    pub fn tls(&self) -> ClientTls {
        ClientTls {
            ca: self.ca.clone(),
            client_cert: self.client_cert.clone(),
            client_key: self.client_key.clone(),
        }
    }
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Runs every reemploi service (identity, inventory, registry,
    /// matching) in one process on one port, with health and reflection.
    ///
    /// With --database-url every service uses that one database (each keeps
    /// its own tables); otherwise each gets an SQLite file under --data-dir.
    /// Without --nats-url all services share one in-process bus. Without
    /// --jwt-secret or --jwt-public-key, tokens are HS256 with the secret in
    /// <data-dir>/jwt-secret (created if absent), the one `reemploi token`
    /// signs with. With --tls-cert and --tls-key it serves only TLS (and
    /// --demo loads over it: give --ca, and with --tls-client-ca
    /// --client-cert/--client-key, as to any client). Prints `listening on
    /// ADDR` to stdout once bound; stops gracefully on SIGINT/SIGTERM.
    #[command(after_help = UP_EXAMPLES)]
    Up(Box<UpArgs>),
    /// Prints a signed development token (HS256) for the given role, using
    /// the same secret `reemploi up` uses; says on stderr which secret.
    #[command(after_help = TOKEN_EXAMPLES)]
    Token(TokenArgs),
    /// Writes a backup of the embedded mode's data directory to one file,
    /// while `reemploi up` runs: a consistent copy of each database and the
    /// keys. (Distributed: back up PostgreSQL and NATS as the README says.)
    #[command(
        after_help = "Example:\n  reemploi backup --data-dir /var/lib/reemploi --to reemploi-2026-11-30.tar"
    )]
    Backup(crate::backup::BackupArgs),
    /// Restores a backup into a new data directory; then `reemploi up
    /// --data-dir` on it. Every service reads the event log again from its
    /// start, applying what its copy lacked.
    #[command(
        after_help = "Example:\n  reemploi restore --from reemploi-2026-11-30.tar --data-dir /var/lib/reemploi-restored"
    )]
    Restore(crate::backup::RestoreArgs),
    /// Signs in with an email and a password (asked for), or stores a
    /// token from elsewhere, for the following commands.
    ///
    /// With --email the password is asked for on the terminal, or read as
    /// one line from stdin when it is not one (never a flag or a variable).
    /// The session (address, access and refresh tokens) goes in the
    /// configuration file, mode 0600: $REEMPLOI_CONFIG, else
    /// $XDG_CONFIG_HOME/reemploi/config.toml, else
    /// ~/.config/reemploi/config.toml. Later commands renew its 15-minute
    /// access token as needed. Without --email, the token is --token,
    /// REEMPLOI_TOKEN or a line of stdin, checked against the server.
    #[command(
        after_help = "Examples:\n  reemploi login --addr https://reemploi.example.org --email lea@m2a.example\n  reemploi login --email admin@reemploi.invalid            # the server of the previous login\n  reemploi token --role admin | reemploi login --addr http://127.0.0.1:50051"
    )]
    Login(login::LoginArgs),
    /// Signs out: ends the stored session on the server and deletes the
    /// stored credentials (the address stays).
    #[command(after_help = "Example:\n  reemploi logout")]
    Logout,
    /// Creates the account of an ESS structure (a new partner) and signs
    /// in; then register the structure with `reemploi partners register`.
    #[command(
        after_help = "Example:\n  reemploi signup --addr https://reemploi.example.org --email camille@atelier.example \\\n    --structure \"Atelier Réemploi Coteaux\" --name Camille"
    )]
    Signup(login::SignupArgs),
    /// Accounts: invite people, accept an invitation, list, show, disable.
    #[command(
        subcommand,
        after_help = "Examples:\n  reemploi accounts invite --email lea@m2a.example --role site_manager --org m2a-habitat\n  reemploi accounts accept --code inv_…"
    )]
    Accounts(accounts::AccountsCommand),
    /// A forgotten password: ask for a reset link, then set a new one.
    #[command(
        subcommand,
        after_help = "Examples:\n  reemploi password forgot --email lea@m2a.example\n  reemploi password reset --code rst_…"
    )]
    Password(password::PasswordCommand),
    /// Integrators' API tokens (admins): create, list, revoke.
    #[command(
        subcommand,
        name = "api-tokens",
        after_help = "Examples:\n  reemploi api-tokens create --name \"Plateforme Cycle Up\" --expires-in 90d\n  reemploi api-tokens revoke apiTokens/…"
    )]
    ApiTokens(api_tokens::ApiTokensCommand),
    /// Renovation and demolition sites.
    #[command(
        subcommand,
        after_help = "Examples:\n  reemploi sites list\n  reemploi sites show sites/…"
    )]
    Sites(sites::SitesCommand),
    /// Lots of materials: create, list, show, publish, withdraw, import a diagnostic.
    #[command(
        subcommand,
        after_help = "Examples:\n  reemploi lots import diagnostic.csv --site sites/…\n  reemploi lots list --status published"
    )]
    Lots(lots::LotsCommand),
    /// ESS partners: register, show, list, verify, suspend, import the SIAE directory.
    #[command(
        subcommand,
        after_help = "Examples:\n  reemploi partners import siae-68.csv --verify\n  reemploi partners list --status pending"
    )]
    Partners(partners::PartnersCommand),
    /// The taxonomy of material categories: the codes lots and partners
    /// name, and the labels an import also reads (no server needed).
    #[command(
        after_help = "Examples:\n  reemploi categories\n  reemploi categories --family menuiserie --output json"
    )]
    Categories(crate::commands::categories::CategoriesArgs),
    /// Claims part of a published lot for a partner (the quantity is reserved).
    #[command(
        after_help = "Examples:\n  reemploi claim sites/…/lots/… --quantity 20                       # logged in as the partner\n  reemploi claim sites/…/lots/… --partner partners/… --quantity 20  # an admin, for a partner"
    )]
    Claim(claims::ClaimArgs),
    /// Claims: confirm, reject, cancel, record a hand-over, list, show.
    #[command(
        subcommand,
        after_help = "Examples:\n  reemploi claims list --status reserved\n  reemploi claims handover sites/…/lots/…/claims/… --mass-kg 820"
    )]
    Claims(claims::ClaimsCommand),
    /// Pick-up slots: a site publishes them, a partner books one for a
    /// confirmed claim, the site reads its day of pick-ups.
    #[command(
        subcommand,
        after_help = "Examples:\n  reemploi slots create coteaux-b --start 2027-01-15T08:00:00Z --end 2027-01-15T10:00:00Z --contact \"Mme Keller\" --phone \"+33 3 89 00 00 00\"\n  reemploi slots pickups coteaux-b --from 2027-01-15"
    )]
    Slots(slots::SlotsCommand),
    /// The partners that could take a lot, best first, with why.
    #[command(after_help = "Example:\n  reemploi matches sites/…/lots/… --limit 5")]
    Matches(matching::MatchesArgs),
    /// The lots a partner should look at first.
    #[command(after_help = "Example:\n  reemploi recommend partners/…")]
    Recommend(matching::RecommendArgs),
    /// What matching proposed: a partner's proposals (listing marks the new
    /// ones seen) or who a site's lots were proposed to; a partner declines
    /// one, and that lot is never proposed to it again.
    #[command(
        subcommand,
        after_help = "Examples:\n  reemploi proposals list --status new\n  reemploi proposals decline proposals/… --reason \"trop loin\""
    )]
    Proposals(proposals::ProposalsCommand),
    /// What the platform told you: your notifications (newest first),
    /// marking them read, and how each kind is emailed to your account.
    #[command(
        subcommand,
        after_help = "Examples:\n  reemploi notifications list --unread\n  reemploi notifications read --all\n  reemploi notifications email lot-proposed digest"
    )]
    Notifications(notifications::NotificationsCommand),
    /// What structures look for: a partner posts, edits, closes and lists
    /// its needs; a site manager lists the open needs around its sites. A
    /// lot published that meets an open need is proposed to its structure first.
    #[command(
        subcommand,
        after_help = "Examples:\n  reemploi needs create --category radiateur --radius-km 15 --until 2027-03-31\n  reemploi needs list --all --site coteaux-a"
    )]
    Needs(needs::NeedsCommand),
    /// A site's hand-out plan: who takes what, with mass, tonne-km and what stays.
    ///
    /// Whole units: most mass reused first, then the least transport. The
    /// plan says whether it is the proven optimum; a large one may stop
    /// at the search's limit and then says how much more could at most fit.
    #[command(
        after_help = "Examples:\n  reemploi plan sites/…\n  reemploi plan sites/… --output json"
    )]
    Plan(matching::PlanArgs),
    /// Events a service gave up applying: list them, replay them once the
    /// cause is fixed. Talks to the event bus (NATS, or the embedded log).
    #[command(
        subcommand,
        name = "dead-letters",
        after_help = "Examples:\n  reemploi dead-letters list --data-dir ./data\n  reemploi dead-letters replay --all --nats-url nats://nats-1:4222"
    )]
    DeadLetters(deadletters::DeadLettersCommand),
    /// Exports data for other tools (GeoJSON for maps).
    #[command(
        subcommand,
        after_help = "Examples:\n  reemploi export geojson --out reemploi.geojson\n  reemploi export geojson --figures --out figures.geojson"
    )]
    Export(export::ExportCommand),
    /// What became of material handed over: a partner declares it (reused,
    /// refurbished, resold, recycled, disposed); list the declarations.
    #[command(
        subcommand,
        after_help = "Examples:\n  reemploi outcomes declare sites/…/lots/…/claims/… --kind reused --mass-kg 200 --destination \"Chantier Bourtzwiller\"\n  reemploi outcomes list --site sites/…"
    )]
    Outcomes(outcomes::OutcomesCommand),
    /// Insertion hours: a partner declares the work of people in insertion
    /// on material handed over (in hours; sent as minutes).
    #[command(
        subcommand,
        after_help = "Example:\n  reemploi hours declare sites/…/lots/…/claims/… --activity dismantling --hours 1,5 --people 3"
    )]
    Hours(hours::HoursCommand),
    /// The territory's figures for a period: tonnes handed over and what
    /// became of them, CO2e avoided, insertion hours and FTE.
    ///
    /// Hand-overs count in the period of their hand-over, with everything
    /// declared on them. Masses in tonnes (weighed at pick-up); "reused"
    /// is reused as is, refurbished or resold. CO2e avoided in tonnes of
    /// CO2e: gross (the new products not made), minus the transport from
    /// the site to the partner, is net; reused mass of a category without
    /// a public factor counts zero, and its share is printed. Insertion:
    /// hours, people, and full-time equivalents, the hours divided by the
    /// impact service's yearly divisor (its setting: 1,607 h by default;
    /// ateliers-chantiers often count 1,820 paid hours), printed with the
    /// figures, as is the version of the counting method. What is counted
    /// is what the token may read: everything (admins, integrators), its
    /// organisation's sites (a site manager), its own (a partner).
    /// -o csv: one row per group, then a total row; tonnes with 6
    /// decimals (exact), so that the groups sum to the total.
    #[command(
        after_help = "Examples:\n  reemploi impact\n  reemploi impact --from 2026-01 --to 2026-06 --by quartier,month\n  reemploi impact --commune 68224 --by partner -o csv > partenaires.csv\n  reemploi impact --site sites/… -o json"
    )]
    Impact(impact::ImpactArgs),
    /// A site's récolement (PEMD, Cerfa 16288): per diagnostic row, the
    /// estimate, what was handed over, reused elsewhere, recycled, disposed
    /// of or never handed over, in tonnes, with the destinations.
    ///
    /// A hazardous row counts as disposed of, whole: it goes to the
    /// hazardous-waste route, never to reuse. The hand-overs (claims) are
    /// the proof. -o csv has French headers (Référence, Désignation, Code
    /// déchet, Masse estimée (t), Remis (t), Réemployé hors site (t),
    /// Recyclé (t), Éliminé (t), Non déclaré (t), Non remis (t),
    /// Destinations...), tonnes with 6 decimals, one row per lot.
    #[command(
        after_help = "Examples:\n  reemploi recolement sites/…\n  reemploi recolement sites/… -o csv > recolement.csv"
    )]
    Recolement(recolement::RecolementArgs),
    /// The audit trail of a site, a lot, a claim or a partner (admins):
    /// every change, oldest first, with when and who did it.
    ///
    /// A site's trail holds its lots' and their claims'; a partner's holds
    /// the claims made for it. "the platform" did what no account asked
    /// (a reservation that expired). Kept by the impact service from the
    /// events: a change shows within a second or so. Distributed, point
    /// --addr at the impact service.
    #[command(
        after_help = "Examples:\n  reemploi audit sites/coteaux/lots/m1\n  reemploi audit partners/… -o csv > trail.csv"
    )]
    Audit(audit::AuditArgs),
    /// Webhooks (integrators, admins): each matching event posted as signed
    /// JSON to a URL, in order, retried for 24 hours.
    ///
    /// Each caller manages its own; admins see all. The secret is shown
    /// once, at creation: it keys the HMAC-SHA256 of the
    /// Reemploi-Signature header (see ARCHITECTURE.md, Webhooks).
    #[command(
        subcommand,
        after_help = "Examples:\n  reemploi webhooks create --url https://hooks.example.org/in --event-type 'inventory.lot.*'\n  reemploi webhooks deliveries webhooks/… --state failed"
    )]
    Webhooks(webhooks::WebhooksCommand),
}

const UP_EXAMPLES: &str = "\
Examples:
  # Everything local: SQLite under ./data, in-process bus, generated JWT secret
  reemploi up --demo

  # On PostgreSQL and NATS JetStream
  reemploi up --database-url postgres://reemploi@localhost/reemploi --nats-url nats://localhost:4222

  # Over TLS (a certificate for localhost signed by ca.pem), then a client
  reemploi up --tls-cert server.pem --tls-key server.key
  reemploi --addr https://localhost:50051 --ca ca.pem sites list

  # Then, in another shell:
  grpcurl -plaintext -H \"authorization: Bearer $(reemploi token --role admin)\" \\
    -d '{\"parent\":\"sites/-\"}' 127.0.0.1:50051 reemploi.inventory.v1.InventoryService/ListLots";

const TOKEN_EXAMPLES: &str = "\
Examples:
  reemploi token --role admin
  reemploi token --role site_manager --org m2a-habitat --ttl-hours 8
  reemploi token --role partner --partner partners/0190c5a3-7b1e-7c4d-8f00-3a2b1c0d9e8f --data-dir /var/lib/reemploi

A new structure's token names the id it will register under: any new UUID
(`uuidgen`), then `reemploi partners register` with that token.";

/// `partners/ID` or `ID`, written back as `partners/ID`: the one form
/// every service reads. Anything else is refused here, not by a server
/// later with a less helpful word.
fn partner_claim(text: &str) -> Result<String, String> {
    let name = crate::client::partner_name(text);
    reemploi_runtime::names::PartnerName::parse("--partner", &name)
        .map(|p| p.to_string())
        .map_err(|_| {
            format!(
                "{text:?} is not a partner id: write partners/ID or ID, where ID is the \
                 partner's UUID (`reemploi partners list` shows them)"
            )
        })
}

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
    /// What every service binary takes (server, storage, bus, tokens,
    /// limits, logs).
    #[command(flatten)]
    pub service: ServiceArgs,
    #[command(flatten)]
    pub inventory: InventoryArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub matching: MatchingArgs,
    #[command(flatten)]
    pub impact: ImpactArgs,
    #[command(flatten)]
    pub notify: reemploi_notify::NotifyArgs,
    #[command(flatten)]
    pub identity: IdentityArgs,
    #[command(flatten)]
    pub web: reemploi_web::WebArgs,
}

/// Flags of `reemploi token`.
#[derive(Args, Debug)]
pub struct TokenArgs {
    /// The role the token grants.
    #[arg(long, env = "REEMPLOI_TOKEN_ROLE", value_enum)]
    pub role: Role,
    /// Organisation the token acts for (`org` claim), e.g. m2a-habitat;
    /// required for a site manager.
    #[arg(
        long,
        env = "REEMPLOI_TOKEN_ORG",
        required_if_eq("role", "site_manager")
    )]
    pub org: Option<String>,
    /// Partner the token acts for (`partner` claim): `partners/ID` or
    /// `ID`, the partner's id (a UUID, as `reemploi partners list` shows);
    /// required for the partner role.
    #[arg(
        long,
        env = "REEMPLOI_TOKEN_PARTNER",
        required_if_eq("role", "partner"),
        value_parser = partner_claim
    )]
    pub partner: Option<String>,
    /// Hours until the token expires; at most --jwt-max-lifetime-secs.
    #[arg(long, env = "REEMPLOI_TOKEN_TTL_HOURS", default_value_t = 24)]
    pub ttl_hours: u64,
    /// The servers' --jwt-max-lifetime-secs (same variable): a longer
    /// --ttl-hours is refused here, since those servers would refuse the
    /// token. 7 days by default.
    #[arg(
        long,
        env = "REEMPLOI_JWT_MAX_LIFETIME_SECS",
        default_value_t = DEFAULT_JWT_MAX_LIFETIME_SECS
    )]
    pub jwt_max_lifetime_secs: u64,
    /// Directory holding the jwt-secret file `reemploi up` generated; the file
    /// is created if absent. Ignored with --jwt-secret.
    #[arg(long, env = "REEMPLOI_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// HS256 secret to sign with, instead of <data-dir>/jwt-secret; must match
    /// the server's --jwt-secret. Never printed.
    #[arg(long, env = "REEMPLOI_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
}
