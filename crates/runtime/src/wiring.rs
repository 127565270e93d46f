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

/// Connects to NATS JetStream at `--nats-url` (one server or a
/// comma-separated list), over TLS with `--nats-ca` / `--nats-cert` /
/// `--nats-key` (their files checked first: a bad one fails at once),
/// waiting for it as long as needed, or opens the
/// in-process bus whose log is `<data-dir>/bus.db` when no URL is given
/// (embedded mode: events stay in this process).
pub async fn bus(bus: &BusArgs, store: &StoreArgs) -> Result<Arc<dyn Bus>, BusError> {
    match &bus.nats_url {
        Some(url) => {
            let tls = bus.nats_tls();
            let connected = JetStreamBus::connect_retrying(
                url,
                JetStreamOptions {
                    namespace: bus.event_namespace.clone(),
                    replicas: bus.stream_replicas,
                },
                &tls,
            )
            .await?;
            tracing::info!(
                replicas = bus.stream_replicas,
                tls = tls.mode(),
                "connected to NATS JetStream"
            );
            Ok(Arc::new(connected))
        }
        None => {
            reemploi_store::create_private_dir(&store.data_dir)?;
            let path = store.data_dir.join("bus.db");
            let local = InProcessBus::open(&path).await?;
            tracing::info!(log = %path.display(), "no NATS URL: events stay on the in-process bus");
            Ok(Arc::new(local))
        }
    }
}
