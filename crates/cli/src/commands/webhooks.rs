//! `reemploi webhooks`: integrators' (and admins') webhooks: subscribe a
//! URL to event types, whose signing secret is shown once, list and delete
//! them, follow their deliveries and send a failed one again.

use clap::{Args, Subcommand, ValueEnum};
use reemploi_proto::notify as npb;

use super::{Ctx, pages};
use crate::CliError;
use crate::client::answer;
use crate::output::{Format, emit, emit_list, note, print};
use crate::views;

/// The `webhooks` subcommands.
#[derive(Subcommand, Debug)]
pub enum WebhooksCommand {
    /// Subscribes a URL to event types; prints its signing secret, once,
    /// alone on stdout.
    #[command(
        after_help = "Examples:\n  reemploi webhooks create --url https://hooks.example.org/reemploi --event-type inventory.lot.published > secret.txt\n  reemploi webhooks create --url http://10.0.0.5:8080/in --event-type 'inventory.claim.*' --event-type 'registry.>'"
    )]
    Create(CreateArgs),
    /// Lists the caller's webhooks (an admin's: all), without secrets.
    #[command(after_help = "Example:\n  reemploi webhooks list")]
    List(ListArgs),
    /// Deletes a webhook: nothing more is sent to it; its deliveries are kept.
    #[command(after_help = "Example:\n  reemploi webhooks delete webhooks/…")]
    Delete(NameArgs),
    /// Lists a webhook's deliveries, newest first.
    #[command(
        after_help = "Examples:\n  reemploi webhooks deliveries webhooks/…\n  reemploi webhooks deliveries webhooks/… --state failed"
    )]
    Deliveries(DeliveriesArgs),
    /// Sends a failed delivery again, from now, with all its retries.
    #[command(after_help = "Example:\n  reemploi webhooks retry webhooks/…/deliveries/…")]
    Retry(NameArgs),
}

/// Flags of `webhooks create`.
#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Where events are posted: https, or http to a loopback or private address.
    #[arg(long)]
    pub url: String,
    /// An event type: a subject without `reemploi.`, with NATS wildcards
    /// (`inventory.lot.published`, `inventory.claim.*`, `registry.>`);
    /// repeat for several.
    #[arg(long = "event-type", required = true)]
    pub event_types: Vec<String>,
    /// A key that makes a retry of this command return the first answer.
    #[arg(long)]
    pub request_id: Option<String>,
}

/// Flags of `webhooks list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    /// At most this many webhooks; 0 for all.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
}

/// A webhook's or a delivery's name.
#[derive(Args, Debug)]
pub struct NameArgs {
    /// `webhooks/ID` (or `webhooks/ID/deliveries/ID` for `retry`).
    pub name: String,
}

/// Where a delivery stands, to filter on.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum StateFilter {
    /// Waiting for its turn or its next attempt.
    Pending,
    /// Answered 2xx.
    Delivered,
    /// Retried for 24 hours without success.
    Failed,
}

/// Flags of `webhooks deliveries`.
#[derive(Args, Debug)]
pub struct DeliveriesArgs {
    /// `webhooks/ID`.
    pub webhook: String,
    /// Only those in this state.
    #[arg(long, value_enum)]
    pub state: Option<StateFilter>,
    /// At most this many deliveries; 0 for all.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
}

/// Runs a `webhooks` subcommand.
pub async fn run(ctx: &Ctx, cmd: WebhooksCommand) -> Result<(), CliError> {
    match cmd {
        WebhooksCommand::Create(a) => create(ctx, a).await,
        WebhooksCommand::List(a) => list(ctx, a).await,
        WebhooksCommand::Delete(a) => {
            let mut hooks = ctx.connect().await?.webhooks();
            let req = npb::DeleteWebhookRequest {
                name: a.name.clone(),
            };
            answer(hooks.delete_webhook(req).await)?;
            emit(ctx.format, serde_json::json!({"name": a.name}), || {
                format!("deleted {}: nothing more is sent to it\n", a.name)
            })
        }
        WebhooksCommand::Deliveries(a) => deliveries(ctx, a).await,
        WebhooksCommand::Retry(a) => {
            let mut hooks = ctx.connect().await?.webhooks();
            let req = npb::RetryDeliveryRequest { name: a.name };
            let d = answer(hooks.retry_delivery(req).await)?;
            emit(ctx.format, crate::json::message(&d), || {
                format!("{} is pending again: sent shortly\n", d.name)
            })
        }
    }
}

/// `webhooks create`: the secret alone on stdout (or in the JSON), what
/// the webhook is on stderr.
async fn create(ctx: &Ctx, a: CreateArgs) -> Result<(), CliError> {
    let mut hooks = ctx.connect().await?.webhooks();
    let req = npb::CreateWebhookRequest {
        webhook: Some(npb::Webhook {
            url: a.url,
            event_types: a.event_types,
            ..Default::default()
        }),
        request_id: a.request_id.unwrap_or_else(super::request_id),
    };
    let hook = answer(hooks.create_webhook(req).await)?;
    if ctx.format == Format::Json {
        return crate::output::print_json(&crate::json::message(&hook));
    }
    note(&format!(
        "created {} for {} ({}): its secret, below, is shown this once; \
         check each delivery's Reemploi-Signature with it",
        hook.name,
        hook.url,
        hook.event_types.join(" ")
    ));
    print(&format!("{}\n", hook.secret))
}

/// `webhooks list`.
async fn list(ctx: &Ctx, a: ListArgs) -> Result<(), CliError> {
    let hooks = ctx.connect().await?.webhooks();
    let all = pages(a.limit, |page_token, page_size| {
        let mut hooks = hooks.clone();
        let req = npb::ListWebhooksRequest {
            page_size,
            page_token,
        };
        async move {
            let r = answer(hooks.list_webhooks(req).await)?;
            Ok((r.webhooks, r.next_page_token))
        }
    })
    .await?;
    emit_list(
        ctx.format,
        &all,
        crate::json::message,
        &["NAME", "URL", "EVENT TYPES", "OWNER", "CREATED"],
        |h| {
            vec![
                h.name.clone(),
                h.url.clone(),
                h.event_types.join(" "),
                h.owner.clone(),
                views::timestamp(h.create_time.as_ref()),
            ]
        },
        "webhook",
    )
}

/// `webhooks deliveries`.
async fn deliveries(ctx: &Ctx, a: DeliveriesArgs) -> Result<(), CliError> {
    let hooks = ctx.connect().await?.webhooks();
    let state = match a.state {
        None => npb::DeliveryState::Unspecified,
        Some(StateFilter::Pending) => npb::DeliveryState::Pending,
        Some(StateFilter::Delivered) => npb::DeliveryState::Delivered,
        Some(StateFilter::Failed) => npb::DeliveryState::Failed,
    };
    let all = pages(a.limit, |page_token, page_size| {
        let mut hooks = hooks.clone();
        let req = npb::ListDeliveriesRequest {
            parent: a.webhook.clone(),
            state: state as i32,
            page_size,
            page_token,
        };
        async move {
            let r = answer(hooks.list_deliveries(req).await)?;
            Ok((r.deliveries, r.next_page_token))
        }
    })
    .await?;
    emit_list(
        ctx.format,
        &all,
        crate::json::message,
        &[
            "NAME",
            "EVENT",
            "STATE",
            "ATTEMPTS",
            "LAST ERROR",
            "CREATED",
        ],
        |d| {
            let state = npb::DeliveryState::try_from(d.state)
                .map(|s| s.as_str_name().trim_start_matches("DELIVERY_STATE_"))
                .unwrap_or("?")
                .to_owned();
            vec![
                d.name.clone(),
                d.event_type.clone(),
                state,
                d.attempts.to_string(),
                d.last_error.clone(),
                views::timestamp(d.create_time.as_ref()),
            ]
        },
        "delivery",
    )
}
