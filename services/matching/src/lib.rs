//! The reemploi matching service: which ESS partner can take which lot and
//! why, what each partner should look at first, and a site-wide hand-out
//! plan. Keeps its own projections of lots, claims and partners from events;
//! publishes `reemploi.matching.match.proposed`.

pub mod api;
pub mod error;
pub mod projection;
pub mod service;

use std::sync::Arc;

use reemploi_events::Bus;
use reemploi_events::outbox::Relay;
use reemploi_proto::matching::matching_service_server::MatchingServiceServer;
use reemploi_runtime::auth::{AuthInterceptor, Authenticator};
use reemploi_store::{Db, Migrations};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;

pub use api::MatchingApi;
pub use error::MatchingError;
pub use service::Matching;

/// The matching service's embedded migrations, per backend.
pub fn migrations() -> Migrations {
    Migrations {
        sqlite: sqlx::migrate!("./migrations/sqlite"),
        postgres: sqlx::migrate!("./migrations/postgres"),
    }
}

/// Why matching could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be migrated or read.
    #[error("matching database: {0}")]
    Store(#[from] reemploi_store::StoreError),
    /// The projections could not be loaded into the index.
    #[error("matching index: {0}")]
    Index(#[from] MatchingError),
    /// The event bus refused the stream or a subscription.
    #[error("matching events: {0}")]
    Bus(#[from] reemploi_events::BusError),
}

/// The gRPC service, authenticated, ready to be mounted on a server.
pub type GrpcService = InterceptedService<MatchingServiceServer<MatchingApi>, AuthInterceptor>;

/// A started matching service.
pub struct Running {
    /// The core, for in-process callers and tests.
    pub matching: Matching,
    /// The gRPC service to mount.
    pub service: GrpcService,
    /// Background tasks; they return once `shutdown` is cancelled.
    pub tasks: JoinSet<()>,
}

/// Migrates, rebuilds the index from the projections, subscribes to the
/// inventory and registry events, and starts the outbox relay. In one
/// process on the in-process bus, start this before the services whose
/// events it follows.
pub async fn start(
    db: Db,
    bus: Arc<dyn Bus>,
    auth: Authenticator,
    max_message_bytes: usize,
    shutdown: CancellationToken,
) -> Result<Running, StartError> {
    db.migrate(&migrations()).await?;
    bus.ensure_stream(service::PRODUCER).await?;
    let relay = Relay::new(db.clone(), bus.clone());
    let matching = Matching::new(db, relay.clone()).await?;
    for subscription in service::subscriptions() {
        let name = subscription.durable.clone();
        bus.subscribe(
            subscription,
            service::Consumer::new(matching.clone(), &name),
            shutdown.clone(),
        )
        .await?;
    }
    let mut tasks = JoinSet::new();
    tasks.spawn(relay.run(shutdown));
    let server = MatchingServiceServer::new(MatchingApi::new(matching.clone()))
        .max_decoding_message_size(max_message_bytes)
        .max_encoding_message_size(max_message_bytes);
    Ok(Running {
        matching,
        service: InterceptedService::new(server, AuthInterceptor::new(auth)),
        tasks,
    })
}
