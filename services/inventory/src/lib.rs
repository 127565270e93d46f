//! The reemploi material inventory: sites list the materials they give up as
//! lots, ESS partners claim them, sites confirm and hand them over. Owns the
//! quantity ledger; publishes `reemploi.inventory.*`; follows the registry's
//! partner events to know who may claim.

pub mod api;
pub mod authz;
pub mod diagnostic;
pub mod error;
pub mod events;
pub mod model;
pub mod names;
pub mod repo;
pub mod service;

use std::sync::Arc;
use std::time::Duration;

use reemploi_events::Bus;
use reemploi_events::outbox::Relay;
use reemploi_proto::inventory::inventory_service_server::InventoryServiceServer;
use reemploi_runtime::auth::{AuthInterceptor, Authenticator};
use reemploi_store::{Db, Migrations, now_millis};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;

pub use api::InventoryApi;
pub use error::InventoryError;
pub use service::{Inventory, Settings};

/// The inventory's embedded migrations, per backend.
pub fn migrations() -> Migrations {
    Migrations {
        sqlite: sqlx::migrate!("./migrations/sqlite"),
        postgres: sqlx::migrate!("./migrations/postgres"),
    }
}

/// Inventory settings as flags.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Inventory")]
pub struct InventoryArgs {
    /// How long a claim's reservation holds before it expires unless the site confirms it, in seconds.
    #[arg(long, env = "REEMPLOI_RESERVATION_TTL_SECS", default_value_t = 72 * 3600)]
    pub reservation_ttl_secs: u64,
    /// How often expired reservations and lots are swept, in seconds.
    #[arg(long, env = "REEMPLOI_SWEEP_INTERVAL_SECS", default_value_t = 30)]
    pub sweep_interval_secs: u64,
}

impl InventoryArgs {
    /// The settings these flags describe.
    pub fn settings(&self) -> Settings {
        Settings {
            reservation_ttl: Duration::from_secs(self.reservation_ttl_secs),
            sweep_interval: Duration::from_secs(self.sweep_interval_secs.max(1)),
        }
    }
}

/// Why the inventory could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be migrated.
    #[error("inventory database: {0}")]
    Store(#[from] reemploi_store::StoreError),
    /// The event bus refused the stream or the subscription.
    #[error("inventory events: {0}")]
    Bus(#[from] reemploi_events::BusError),
}

/// The gRPC service, authenticated, ready to be mounted on a server.
pub type GrpcService = InterceptedService<InventoryServiceServer<InventoryApi>, AuthInterceptor>;

/// A started inventory: its core, its gRPC service and its background tasks
/// (outbox relay, partner projection, sweeper), which end with `shutdown`.
pub struct Running {
    /// The operations, for in-process callers (demo loader, tests).
    pub inventory: Inventory,
    /// The gRPC service to mount.
    pub service: GrpcService,
    /// Background tasks; they return once `shutdown` is cancelled.
    pub tasks: JoinSet<()>,
}

/// Migrates the database, makes sure the event stream exists, starts the
/// relay, the partner projection and the sweeper, and builds the service.
pub async fn start(
    db: Db,
    bus: Arc<dyn Bus>,
    settings: Settings,
    auth: Authenticator,
    max_message_bytes: usize,
    shutdown: CancellationToken,
) -> Result<Running, StartError> {
    db.migrate(&migrations()).await?;
    bus.ensure_stream(events::PRODUCER).await?;
    let relay = Relay::new(db.clone(), bus.clone());
    let inventory = Inventory::new(db.clone(), relay.clone(), settings.clone());
    let mut tasks = JoinSet::new();
    tasks.spawn(relay.run(shutdown.clone()));
    bus.subscribe(
        events::partner_subscription(),
        events::PartnerProjection::new(db),
        shutdown.clone(),
    )
    .await?;
    let sweeper = inventory.clone();
    let stop = shutdown.clone();
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(settings.sweep_interval);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {
                    match sweeper.sweep(now_millis()).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(expired = n, "swept expired reservations and lots"),
                        Err(e) => tracing::warn!(error = %e, "sweep failed; will retry"),
                    }
                }
            }
        }
    });
    let server = InventoryServiceServer::new(InventoryApi::new(inventory.clone(), shutdown))
        .max_decoding_message_size(max_message_bytes)
        .max_encoding_message_size(max_message_bytes);
    let service = InterceptedService::new(server, AuthInterceptor::new(auth));
    Ok(Running {
        inventory,
        service,
        tasks,
    })
}
