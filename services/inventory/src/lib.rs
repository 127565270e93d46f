//! The reemploi material inventory: sites list the materials they give up as
//! lots, ESS partners claim them, sites confirm and hand them over. Owns the
//! quantity ledger; publishes `reemploi.inventory.*`; follows the registry's
//! partner events to know who may claim.

pub mod authz;
pub mod cache;
pub mod diagnostic;
pub mod error;
pub mod events;
pub mod gauges;
pub mod ids;
pub mod model;
pub mod repo;
pub mod service;

use std::time::Duration;

use reemploi_proto::inventory::inventory_service_server::InventoryServiceServer;
use reemploi_proto::service_names::INVENTORY;
use reemploi_runtime::service::{Context, Prepared, Running, StartError};
use reemploi_store::{Migrations, now_millis};
use tokio_util::sync::CancellationToken;

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
    /// How many lots ListLots keeps in memory, by version, to answer pages without reading their rows again (0: none).
    #[arg(long, env = "REEMPLOI_LOT_CACHE_SIZE", default_value_t = 20_000)]
    pub lot_cache_size: usize,
}

impl Default for InventoryArgs {
    fn default() -> Self {
        let settings = Settings::default();
        InventoryArgs {
            reservation_ttl_secs: settings.reservation_ttl.as_secs(),
            sweep_interval_secs: settings.sweep_interval.as_secs(),
            lot_cache_size: settings.lot_cache_size,
        }
    }
}

impl InventoryArgs {
    /// The settings these flags describe.
    pub fn settings(&self) -> Settings {
        Settings {
            reservation_ttl: Duration::from_secs(self.reservation_ttl_secs),
            sweep_interval: Duration::from_secs(self.sweep_interval_secs.max(1)),
            lot_cache_size: self.lot_cache_size,
        }
    }
}

/// Migrates the database, makes sure the event stream exists, and starts
/// the relay, the partner projection and the sweeper beside the service.
pub async fn start(ctx: Context, args: &InventoryArgs) -> Result<Running, StartError> {
    let settings = args.settings();
    let Prepared { relay, pager } = ctx.prepare(events::PRODUCER, &migrations()).await?;
    ctx.metrics
        .probe("inventory", gauges::InventoryProbe::new(ctx.db.clone()));
    let inventory = Inventory::new(
        ctx.db.clone(),
        relay.clone(),
        settings.clone(),
        pager,
        ctx.shutdown.clone(),
    );
    let partners = ctx
        .subscribe(
            events::PRODUCER,
            reemploi_runtime::partners::subscription(events::PRODUCER, ctx.max_deliver),
            reemploi_runtime::partners::PartnerStatuses::new(ctx.db.clone(), events::PRODUCER),
        )
        .await?;
    let service = ctx.authenticated(
        InventoryServiceServer::new(inventory.clone())
            .max_decoding_message_size(ctx.max_message_bytes)
            .max_encoding_message_size(ctx.max_message_bytes),
    );
    Ok(
        Running::new(INVENTORY, |routes| routes.add_service(service))
            .spawn("inventory outbox relay", relay.run(ctx.stop.clone()))
            .task("inventory partner projection", partners)
            .spawn(
                "inventory sweeper",
                sweep(inventory, settings.sweep_interval, ctx.stop),
            ),
    )
}

/// Expires reservations and lots whose time has come, every `interval`.
async fn sweep(inventory: Inventory, interval: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval(interval);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {
                match inventory.sweep(now_millis()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(expired = n, "swept expired reservations and lots"),
                    Err(e) => tracing::warn!(error = %e, "sweep failed; will retry"),
                }
            }
        }
    }
}
