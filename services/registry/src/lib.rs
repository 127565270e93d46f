//! The reemploi partner registry: the ESS structures that take materials
//! (insertion structures, ressourceries, cooperatives...), their profiles and
//! their verification by the territory. Publishes `reemploi.registry.partner.*`.

pub mod error;
pub mod events;
pub mod model;
pub mod repo;
pub mod service;

use reemploi_proto::registry::registry_service_server::RegistryServiceServer;
use reemploi_proto::service_names::REGISTRY;
use reemploi_runtime::service::{Context, Prepared, Running, StartError};
use reemploi_store::Migrations;

pub use error::RegistryError;
pub use service::Registry;

/// The registry's embedded migrations, per backend.
pub fn migrations() -> Migrations {
    Migrations {
        sqlite: sqlx::migrate!("./migrations/sqlite"),
        postgres: sqlx::migrate!("./migrations/postgres"),
    }
}

/// The registry's settings as flags (none yet: the block exists so that
/// every service starts the same way).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct RegistryArgs {}

/// Migrates the database, makes sure the event stream exists, and starts
/// the outbox relay beside the service.
pub async fn start(ctx: Context, _args: &RegistryArgs) -> Result<Running, StartError> {
    let Prepared { relay, pager } = ctx.prepare(events::PRODUCER, &migrations()).await?;
    let registry = Registry::new(ctx.db.clone(), relay.clone(), pager);
    let service = ctx.authenticated(
        RegistryServiceServer::new(registry)
            .max_decoding_message_size(ctx.max_message_bytes)
            .max_encoding_message_size(ctx.max_message_bytes),
    );
    Ok(Running::new(REGISTRY, |routes| routes.add_service(service))
        .spawn("registry outbox relay", relay.run(ctx.stop)))
}
