//! `reemploi dead-letters`: the events a service gave up applying, listed
//! and replayed. An operator's command: it talks to the event bus itself
//! (NATS JetStream, or the embedded log in the data directory), not to the
//! API.

use std::sync::Arc;

use clap::{Args, Subcommand};
use reemploi_events::{Bus, DeadLetter, InProcessBus, JetStreamBus, JetStreamOptions};
use serde_json::json;

use crate::CliError;
use crate::output::{Format, emit_list, note};

/// Dead letters read at once: the list is read page by page, to the end.
const PAGE: usize = 1000;

/// `reemploi dead-letters …`.
#[derive(Subcommand, Debug)]
pub enum DeadLettersCommand {
    /// Lists the dead letters, oldest first: which consumer gave up which
    /// event, and why.
    #[command(
        after_help = "Examples:\n  reemploi dead-letters list --data-dir ./data\n  reemploi dead-letters list --nats-url nats://nats-1:4222 --output json"
    )]
    List(DeadLettersArgs),
    /// Delivers dead letters again to the consumer that gave up on them
    /// (once the cause is fixed), and removes them from the list.
    #[command(
        after_help = "Examples:\n  reemploi dead-letters replay 42 --nats-url nats://nats-1:4222\n  reemploi dead-letters replay --all --durable matching-partners --data-dir ./data"
    )]
    Replay(ReplayArgs),
}

/// Where the dead letters are.
#[derive(Args, Debug)]
pub struct DeadLettersArgs {
    /// Only those of this consumer (e.g. matching-partners).
    #[arg(long)]
    pub durable: Option<String>,
    /// NATS server URL, or a comma-separated list, of a distributed
    /// deployment. Never logged.
    #[arg(long, env = "NATS_URL", hide_env_values = true)]
    pub nats_url: Option<String>,
    /// TLS to the NATS servers, as the services'.
    #[command(flatten)]
    pub tls: reemploi_runtime::config::NatsTlsArgs,
    /// The deployment's event namespace on NATS, if it has one.
    #[arg(long, env = "REEMPLOI_EVENT_NAMESPACE")]
    pub event_namespace: Option<String>,
    /// Without --nats-url: the data directory of `reemploi up`, whose
    /// event log (bus.db) holds the dead letters.
    #[arg(long, env = "REEMPLOI_DATA_DIR", default_value = "./data")]
    pub data_dir: std::path::PathBuf,
}

/// Flags of `reemploi dead-letters replay`.
#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// The ids to replay, as `list` shows them.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub ids: Vec<String>,
    /// Replays every dead letter (of --durable, when given).
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub from: DeadLettersArgs,
}

/// The bus holding the dead letters: NATS when a URL is given (one attempt,
/// an operator wants an answer), else the embedded log of the data directory.
async fn open(args: &DeadLettersArgs) -> Result<Arc<dyn Bus>, CliError> {
    match &args.nats_url {
        Some(url) => {
            let tls = args.tls.files();
            let bus = JetStreamBus::connect_with_tls(
                url,
                JetStreamOptions {
                    namespace: args.event_namespace.clone(),
                    replicas: 1,
                },
                &tls,
            )
            .await?;
            Ok(Arc::new(bus))
        }
        None => {
            let log = args.data_dir.join("bus.db");
            if !log.is_file() {
                return Err(CliError::Usage(format!(
                    "no event log at {}: give the data directory of `reemploi up` (--data-dir), \
                     or --nats-url",
                    log.display()
                )));
            }
            Ok(Arc::new(InProcessBus::open(&log).await?))
        }
    }
}

/// Every dead letter (of `durable`, when given), oldest first, as they are
/// now: `replay --all` replays this list, not those set aside while it runs
/// (a replay that fails again comes back under a new id).
async fn listed(bus: &dyn Bus, durable: Option<&str>) -> Result<Vec<DeadLetter>, CliError> {
    let mut listed = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = bus.dead_letters(after.as_deref(), PAGE).await?;
        let full = page.len() == PAGE;
        after = page.last().map(|d| d.id.clone());
        listed.extend(
            page.into_iter()
                .filter(|d| durable.is_none_or(|want| d.durable == want)),
        );
        if !full {
            return Ok(listed);
        }
    }
}

/// Runs `reemploi dead-letters …`.
pub async fn run(format: Format, command: DeadLettersCommand) -> Result<(), CliError> {
    match command {
        DeadLettersCommand::List(args) => {
            let bus = open(&args).await?;
            let letters = listed(bus.as_ref(), args.durable.as_deref()).await?;
            emit_list(
                format,
                &letters,
                letter_json,
                &["ID", "CONSUMER", "SUBJECT", "EVENT", "REASON"],
                |d| {
                    vec![
                        d.id.clone(),
                        d.durable.clone(),
                        d.message.subject.clone(),
                        d.message.event_id.clone(),
                        d.reason.clone(),
                    ]
                },
                "dead letters",
            )
        }
        DeadLettersCommand::Replay(args) => {
            let bus = open(&args.from).await?;
            let ids = if args.all {
                listed(bus.as_ref(), args.from.durable.as_deref())
                    .await?
                    .into_iter()
                    .map(|d| d.id)
                    .collect()
            } else {
                args.ids
            };
            for id in &ids {
                bus.replay(id).await?;
            }
            note(&format!("{} dead letter(s) replayed", ids.len()));
            Ok(())
        }
    }
}

fn letter_json(d: &DeadLetter) -> serde_json::Value {
    json!({
        "id": d.id,
        "consumer": d.durable,
        "subject": d.message.subject,
        "event_id": d.message.event_id,
        "reason": d.reason,
        "dead_at_ms": d.dead_at_ms,
    })
}
