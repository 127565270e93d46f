//! Why a `reemploi` command failed.

use std::path::PathBuf;

/// Everything a `reemploi` command can fail with. Messages never carry a
/// secret or a connection string.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The JWT secret file could not be read or created.
    #[error("JWT secret file {path}: {source}")]
    SecretFile {
        /// The secret file.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// The authentication flags are unusable.
    #[error("authentication: {0}")]
    Auth(#[from] reemploi_runtime::auth::AuthError),
    /// The database could not be reached.
    #[error("database: {0}")]
    Store(#[from] reemploi_store::StoreError),
    /// The event bus could not be reached.
    #[error("event bus: {0}")]
    Bus(#[from] reemploi_events::BusError),
    /// A service could not start.
    #[error("{0}")]
    Inventory(#[from] reemploi_inventory::StartError),
    /// The registry could not start.
    #[error("{0}")]
    Registry(#[from] reemploi_registry::StartError),
    /// Matching could not start.
    #[error("{0}")]
    Matching(#[from] reemploi_matching::StartError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// The server failed.
    #[error("server: {0}")]
    Server(#[from] reemploi_runtime::server::ServerError),
    /// The demo data set could not be loaded.
    #[error("demo: {0}")]
    Demo(String),
    /// Writing to stdout failed.
    #[error("stdout: {0}")]
    Stdout(#[source] std::io::Error),
}
