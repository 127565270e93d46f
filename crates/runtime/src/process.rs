//! What every service binary does around its service: flags, logging,
//! connecting its database and bus, serving until a signal, a clean exit.

use std::process::ExitCode;
use std::sync::Arc;

use reemploi_events::Bus;
use reemploi_store::Db;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

use crate::auth::Authenticator;
use crate::config::{AuthArgs, BusArgs, ServerArgs, StoreArgs, TelemetryArgs};

/// The flags every service binary takes.
#[derive(clap::Args, Clone)]
pub struct ServiceArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub bus: BusArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
}

/// A failure that ends the process; its message is logged and printed.
pub type Failure = Box<dyn std::error::Error>;

/// What a service needs, connected from its flags.
pub struct Connected {
    /// The service's database.
    pub db: Db,
    /// The event bus.
    pub bus: Arc<dyn Bus>,
    /// The token verifier.
    pub auth: Authenticator,
    /// Cancelled on SIGINT or SIGTERM.
    pub shutdown: CancellationToken,
}

impl ServiceArgs {
    /// Starts logging, listens for signals, connects the database of
    /// `service` and the bus, and loads the token verifier.
    pub async fn connect(&self, service: &str) -> Result<Connected, Failure> {
        crate::telemetry::init(self.telemetry.log_format);
        let shutdown = crate::shutdown::on_signal();
        Ok(Connected {
            db: crate::wiring::database(&self.store, service).await?,
            bus: crate::wiring::bus(&self.bus).await?,
            auth: Authenticator::from_args(&self.auth)?,
            shutdown,
        })
    }

    /// Serves `routes` (with health and reflection for `services`) until
    /// shutdown, then waits for the service's background `tasks`.
    pub async fn serve(
        &self,
        services: &[&'static str],
        routes: Routes,
        shutdown: CancellationToken,
        mut tasks: JoinSet<()>,
    ) -> Result<(), Failure> {
        let (listener, addr) = crate::server::bind(self.server.listen).await?;
        tracing::info!(%addr, ?services, "listening");
        crate::server::Server::new(
            &self.server,
            &[reemploi_proto::FILE_DESCRIPTOR_SET],
            services,
        )
        .serve(listener, routes, shutdown)
        .await?;
        while tasks.join_next().await.is_some() {}
        Ok(())
    }
}

/// The exit code of a binary named `name` that ended with `result`.
pub fn exit(name: &str, result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "{name} stopped");
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}
