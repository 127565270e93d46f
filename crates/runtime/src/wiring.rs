//! From configuration to connected resources: the database a service keeps
//! its data in and the bus it publishes on.

use std::sync::Arc;

use reemploi_events::{Bus, BusError, InProcessBus, JetStreamBus, JetStreamOptions};
use reemploi_store::{Db, StoreError};

use crate::config::{BusArgs, StoreArgs};

/// Connects to `--database-url`, or to the service's SQLite file under
/// `--data-dir` when no URL is given. On PostgreSQL the service keeps its
/// tables in a schema of its own name, so services may share one database.
/// The URL is never logged.
pub async fn database(args: &StoreArgs, service: &str) -> Result<Db, StoreError> {
    let url = match &args.database_url {
        Some(url) => url.clone(),
        None => Db::sqlite_url(&args.data_dir, service)?,
    };
    let options = reemploi_store::DbOptions {
        schema: Some(service.to_string()),
        ..reemploi_store::DbOptions::default()
    };
    let db = Db::connect_with(&url, options).await?;
    tracing::info!(service, backend = ?db.backend(), "database connected");
    Ok(db)
}

/// Connects to NATS JetStream at `--nats-url`, or returns a fresh in-process
/// bus when no URL is given (embedded mode: events stay in this process).
pub async fn bus(args: &BusArgs) -> Result<Arc<dyn Bus>, BusError> {
    match &args.nats_url {
        Some(url) => {
            let bus = JetStreamBus::connect(
                url,
                JetStreamOptions {
                    namespace: args.event_namespace.clone(),
                    replicas: args.stream_replicas,
                },
            )
            .await?;
            tracing::info!(
                replicas = args.stream_replicas,
                "connected to NATS JetStream"
            );
            Ok(Arc::new(bus))
        }
        None => {
            tracing::info!("no NATS URL: events stay on the in-process bus");
            Ok(Arc::new(InProcessBus::new()))
        }
    }
}
