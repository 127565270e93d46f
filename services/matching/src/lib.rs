//! The reemploi matching service: which ESS partner can take which lot and
//! why, what each partner should look at first, and a site-wide hand-out
//! plan. Keeps its own projections of lots, claims and partners from events;
//! publishes `reemploi.matching.match.proposed`.

pub mod error;
pub mod events;
pub mod model;
pub mod needs;
pub mod proposals;
pub mod repo;
pub mod service;

#[cfg(test)]
mod upgrade_tests;

use reemploi_proto::matching::matching_service_server::MatchingServiceServer;
use reemploi_proto::service_names::MATCHING;
use reemploi_runtime::service::{Context, Prepared, Running, StartError};
use reemploi_store::Migrations;

pub use error::MatchingError;
pub use service::Matching;

/// The matching service's embedded migrations, per backend.
pub fn migrations() -> Migrations {
    Migrations {
        sqlite: sqlx::migrate!("./migrations/sqlite"),
        postgres: sqlx::migrate!("./migrations/postgres"),
    }
}

/// Matching's settings as flags (none yet: the block exists so that every
/// service starts the same way).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct MatchingArgs {}

/// Migrates, rebuilds the index from the projections, subscribes to the
/// inventory and registry events, and starts the outbox relay.
pub async fn start(ctx: Context, _args: &MatchingArgs) -> Result<Running, StartError> {
    let Prepared { relay, pager } = ctx.prepare(events::PRODUCER, &migrations()).await?;
    let matching = Matching::new(ctx.db.clone(), relay.clone(), pager)
        .await
        .map_err(|e| StartError::Other {
            service: events::PRODUCER,
            reason: format!("cannot build the index: {e}"),
        })?;
    let service = ctx.authenticated(
        MatchingServiceServer::new(matching.clone())
            .max_decoding_message_size(ctx.max_message_bytes)
            .max_encoding_message_size(ctx.max_message_bytes),
    );
    let mut running = Running::new(MATCHING, |routes| routes.add_service(service))
        .spawn("matching outbox relay", relay.run(ctx.stop.clone()));
    for subscription in events::subscriptions(ctx.max_deliver) {
        let name = subscription.durable.clone();
        let handler = events::Consumer::new(matching.clone(), &name);
        let consumer = ctx
            .subscribe(events::PRODUCER, subscription, handler)
            .await?;
        running = running.task(format!("matching consumer {name}"), consumer);
    }
    Ok(running)
}
