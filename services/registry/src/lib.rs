//! The reemploi partner registry: the ESS structures that take materials
//! (insertion structures, ressourceries, cooperatives...), their profiles and
//! their verification by the territory. Publishes `reemploi.registry.partner.*`.

pub mod error;
pub mod events;
pub mod model;
pub mod repo;
pub mod service;

use reemploi_events::outbox::Relay;
use reemploi_proto::registry::registry_service_server::RegistryServiceServer;
use reemploi_proto::service_names::REGISTRY;
use reemploi_runtime::auth::AuthInterceptor;
use reemploi_runtime::paging::Pager;
use reemploi_runtime::service::{Context, Running, StartError};
use reemploi_store::Migrations;
use tonic::service::interceptor::InterceptedService;

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

/// The gRPC service, authenticated, ready to be mounted on a server.
pub type GrpcService = InterceptedService<RegistryServiceServer<Registry>, AuthInterceptor>;

/// Migrates the database, makes sure the event stream exists, and starts
/// the outbox relay beside the service.
pub async fn start(ctx: Context, _args: &RegistryArgs) -> Result<Running, StartError> {
    ctx.db
        .migrate(&migrations())
        .await
        .map_err(StartError::store(events::PRODUCER))?;
    ctx.bus
        .ensure_stream(events::PRODUCER)
        .await
        .map_err(StartError::bus(events::PRODUCER))?;
    let relay = Relay::new(ctx.db.clone(), ctx.bus);
    let pager = Pager::load(&ctx.db)
        .await
        .map_err(StartError::store(events::PRODUCER))?;
    let registry = Registry::new(ctx.db, relay.clone(), pager);
    let server = RegistryServiceServer::new(registry)
        .max_decoding_message_size(ctx.max_message_bytes)
        .max_encoding_message_size(ctx.max_message_bytes);
    let service = InterceptedService::new(server, AuthInterceptor::new(ctx.auth));
    Ok(Running::new(REGISTRY, |routes| routes.add_service(service))
        .spawn("registry outbox relay", relay.run(ctx.stop)))
}
