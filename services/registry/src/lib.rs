//! The reemploi partner registry: the ESS structures that take materials
//! (insertion structures, ressourceries, cooperatives...), their profiles and
//! their verification by the territory. Publishes `reemploi.registry.partner.*`.

pub mod api;
pub mod error;
pub mod model;
pub mod repo;
pub mod service;

use std::sync::Arc;

use reemploi_events::Bus;
use reemploi_events::outbox::Relay;
use reemploi_proto::registry::registry_service_server::RegistryServiceServer;
use reemploi_runtime::auth::{AuthInterceptor, Authenticator};
use reemploi_store::{Db, Migrations};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;

pub use api::RegistryApi;
pub use error::RegistryError;
pub use service::Registry;

/// The registry's embedded migrations, per backend.
pub fn migrations() -> Migrations {
    Migrations {
        sqlite: sqlx::migrate!("./migrations/sqlite"),
        postgres: sqlx::migrate!("./migrations/postgres"),
    }
}

/// Why the registry could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be migrated.
    #[error("registry database: {0}")]
    Store(#[from] reemploi_store::StoreError),
    /// The event bus refused the stream.
    #[error("registry events: {0}")]
    Bus(#[from] reemploi_events::BusError),
}

/// The gRPC service, authenticated, ready to be mounted on a server.
pub type GrpcService = InterceptedService<RegistryServiceServer<RegistryApi>, AuthInterceptor>;

/// A started registry: its core, its gRPC service and its outbox relay.
pub struct Running {
    /// The operations, for in-process callers (demo loader, tests).
    pub registry: Registry,
    /// The gRPC service to mount.
    pub service: GrpcService,
    /// Background tasks; they return once `shutdown` is cancelled.
    pub tasks: JoinSet<()>,
}

/// Migrates the database, makes sure the event stream exists, starts the
/// outbox relay and builds the service. In one process with other services
/// on the in-process bus, start this after their subscriptions exist.
pub async fn start(
    db: Db,
    bus: Arc<dyn Bus>,
    auth: Authenticator,
    max_message_bytes: usize,
    shutdown: CancellationToken,
) -> Result<Running, StartError> {
    db.migrate(&migrations()).await?;
    bus.ensure_stream(service::PRODUCER).await?;
    let relay = Relay::new(db.clone(), bus);
    let registry = Registry::new(db, relay.clone());
    let mut tasks = JoinSet::new();
    tasks.spawn(relay.run(shutdown));
    let server = RegistryServiceServer::new(RegistryApi::new(registry.clone()))
        .max_decoding_message_size(max_message_bytes)
        .max_encoding_message_size(max_message_bytes);
    Ok(Running {
        registry,
        service: InterceptedService::new(server, AuthInterceptor::new(auth)),
        tasks,
    })
}
