//! The reemploi notification service: follows the events of every service
//! and tells the people concerned (a structure's staff, an organisation's
//! site managers, the admins) what changed for them, in the app and by
//! email, once per event, and posts them to integrators' webhooks;
//! publishes nothing.

pub mod email;
pub mod error;
pub mod events;
pub mod herald;
pub mod letters;
pub mod model;
pub mod repo;
pub mod service;
pub mod sweep;
pub mod unsubscribe;
pub mod webhooks;
pub mod wording;

use std::time::Duration;

use reemploi_proto::notify::notification_service_server::NotificationServiceServer;
use reemploi_proto::notify::webhook_service_server::WebhookServiceServer;
use reemploi_proto::service_names::NOTIFY;
use reemploi_runtime::service::{Context, Running, StartError};
use reemploi_store::Migrations;

pub use email::{EmailArgs, Emailer};
pub use error::NotifyError;
pub use service::Notify;
pub use unsubscribe::Unsubscriber;

/// The notification service's embedded migrations, per backend.
pub fn migrations() -> Migrations {
    Migrations {
        sqlite: sqlx::migrate!("./migrations/sqlite"),
        postgres: sqlx::migrate!("./migrations/postgres"),
    }
}

/// The notification service's settings.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Notifications")]
pub struct NotifyArgs {
    /// How often reservations and lots about to expire, and dead letters, are looked for, in seconds.
    #[arg(
        long = "notify-sweep-interval-secs",
        value_name = "SECS",
        env = "REEMPLOI_NOTIFY_SWEEP_INTERVAL_SECS",
        default_value_t = 60
    )]
    pub notify_sweep_interval_secs: u64,

    /// The hour (UTC, 0-23) after which each day's email digest goes out.
    // The id is prefixed as the field above is: `reemploi up` flattens
    // these beside every other service's flags.
    #[arg(
        id = "notify_digest_hour",
        long = "digest-hour",
        value_name = "HOUR",
        env = "REEMPLOI_DIGEST_HOUR",
        default_value_t = 6,
        value_parser = clap::value_parser!(u32).range(0..=23)
    )]
    pub digest_hour: u32,

    /// The first retry's delay of a failed webhook delivery, in milliseconds; each next one doubles, up to an hour.
    #[arg(
        long = "webhook-retry-base-ms",
        env = "REEMPLOI_WEBHOOK_RETRY_BASE_MS",
        default_value_t = 1000
    )]
    pub webhook_retry_base_ms: u64,

    /// Let webhooks post over plain http and to loopback, private, link-local and other inside addresses: for trials on one machine and tests only (integrators are outside parties; the service sits inside the platform's network).
    #[arg(long = "webhook-allow-private", env = "REEMPLOI_WEBHOOK_ALLOW_PRIVATE")]
    pub webhook_allow_private: bool,
}

impl Default for NotifyArgs {
    fn default() -> Self {
        NotifyArgs {
            notify_sweep_interval_secs: 60,
            digest_hour: 6,
            webhook_retry_base_ms: 1000,
            webhook_allow_private: false,
        }
    }
}

/// Migrates, then follows every service's events, sweeps on the clock and
/// sends the emails: with `email`'s mail settings and links.
pub async fn start(
    ctx: Context,
    args: &NotifyArgs,
    email: &EmailArgs,
) -> Result<Running, StartError> {
    Ok(start_service(ctx, args, email).await?.0)
}

/// [`start`], with the service itself, for those who sweep or look inside
/// it in the same process (tests).
pub async fn start_service(
    ctx: Context,
    args: &NotifyArgs,
    email: &EmailArgs,
) -> Result<(Running, Notify), StartError> {
    let mailer =
        reemploi_mail::Mailer::new(&email.mail, &ctx.data_dir).map_err(|e| StartError::Other {
            service: events::PRODUCER,
            reason: e.to_string(),
        })?;
    let prepared = ctx.prepare(events::PRODUCER, &migrations()).await?;
    let unsubscriber = Unsubscriber::load(&ctx.db)
        .await
        .map_err(StartError::store(events::PRODUCER))?;
    let hooks_pager = prepared.pager.clone();
    let notify = Notify::new(
        ctx.db.clone(),
        prepared.pager,
        unsubscriber,
        ctx.shutdown.clone(),
    );
    // Unsubscribe needs no token: the link of an email is its proof.
    let service = ctx.optionally_authenticated(
        NotificationServiceServer::new(notify.clone())
            .max_decoding_message_size(ctx.max_message_bytes)
            .max_encoding_message_size(ctx.max_message_bytes),
    );
    let webhooks = ctx.authenticated(
        WebhookServiceServer::new(webhooks::Webhooks::new(
            notify.clone(),
            hooks_pager,
            args.webhook_allow_private,
        ))
        .max_decoding_message_size(ctx.max_message_bytes)
        .max_encoding_message_size(ctx.max_message_bytes),
    );
    let mut running = Running::new(NOTIFY, |routes| {
        routes.add_service(service).add_service(webhooks)
    });
    for subscription in events::subscriptions(ctx.max_deliver) {
        let name = subscription.durable.clone();
        let handler = events::Consumer::new(notify.clone(), &name);
        let consumer = ctx
            .subscribe(events::PRODUCER, subscription, handler)
            .await?;
        running = running.task(format!("notify consumer {name}"), consumer);
    }
    let interval = Duration::from_secs(args.notify_sweep_interval_secs.max(1));
    let running = running.spawn(
        "notify sweeper",
        notify
            .clone()
            .sweep_every(ctx.bus.clone(), interval, ctx.stop.clone()),
    );
    let settings = webhooks::Settings {
        allow_private: args.webhook_allow_private,
        ..webhooks::Settings::new(Duration::from_millis(args.webhook_retry_base_ms.max(1)))
    };
    let running = running.spawn(
        "webhook deliveries",
        notify.clone().deliver_webhooks(settings, ctx.stop.clone()),
    );
    let emailer = Emailer::new(notify.clone(), mailer, &email.public_url, args.digest_hour);
    let running = running.spawn("notify emails", emailer.run(ctx.stop.clone()));
    let running = running.spawn("notify herald", notify.clone().herald(ctx.stop.clone()));
    Ok((running, notify))
}

#[cfg(test)]
mod email_tests;
#[cfg(test)]
mod tests;
