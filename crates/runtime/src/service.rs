//! The one start-up contract of every service.
//!
//! A service's `start(Context, &Args) -> Result<Running, StartError>`
//! migrates its database, subscribes to the events it follows and spawns
//! its background tasks (relay, consumers, sweepers); it returns its gRPC
//! routes and those tasks. A service binary starts one service, `reemploi
//! up` several; both hand what they started to [`serve`], which serves the
//! routes on one listener and supervises the tasks: a task that ends before
//! it was told to stop ends the process with an error, rather than leaving
//! a half-working server.
//!
//! Shutdown comes in two steps, so that no event of a call is left behind:
//! `shutdown` (the signal) stops the listener and lets in-flight calls
//! finish; only then is `stop` cancelled, and the tasks end (the relay
//! publishes what those last calls committed on its way out).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use reemploi_events::{Bus, BusError};
use reemploi_store::{Db, StoreError};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

use crate::auth::Authenticator;
use crate::config::ServerArgs;
use crate::metrics::Metrics;
use crate::server::{Server, ServerError};

/// The reply of a gRPC method whose operation is `operation`: its value, or
/// its error turned into a status by the service's one mapping.
pub async fn answer<T, E: Into<tonic::Status>>(
    operation: impl Future<Output = Result<T, E>>,
) -> Result<tonic::Response<T>, tonic::Status> {
    operation
        .await
        .map(tonic::Response::new)
        .map_err(Into::into)
}

/// How long background tasks get to finish once told to stop.
const TASK_GRACE: Duration = Duration::from_secs(10);

/// What a service is given to start.
#[derive(Clone)]
pub struct Context {
    /// The service's own database, connected.
    pub db: Db,
    /// The event bus.
    pub bus: Arc<dyn Bus>,
    /// The token verifier for its RPCs, with the rate limits its
    /// [`crate::auth::AuthInterceptor`] applies (shared by clones).
    pub auth: Authenticator,
    /// Largest gRPC message accepted or sent.
    pub max_message_bytes: usize,
    /// Failed attempts after which an event becomes a dead letter.
    pub max_deliver: i64,
    /// Where the process keeps its files (SQLite databases, generated
    /// keys, mail written to files).
    pub data_dir: std::path::PathBuf,
    /// Cancelled on SIGINT/SIGTERM: streaming calls end.
    pub shutdown: CancellationToken,
    /// Cancelled once the server has finished its calls: background tasks end.
    pub stop: CancellationToken,
    /// The process's metrics (shared by the services of one process), or
    /// [`Metrics::disabled`].
    pub metrics: Metrics,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("db", &self.db)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

/// What every service sets up first, from its [`Context`].
#[derive(Debug)]
pub struct Prepared {
    /// The relay of its outbox (not yet running).
    pub relay: reemploi_events::outbox::Relay,
    /// Its page-token signer.
    pub pager: crate::paging::Pager,
}

impl Context {
    /// Migrates the database of `service`, makes sure its event stream
    /// exists, and builds its outbox relay and page-token signer.
    pub async fn prepare(
        &self,
        service: &'static str,
        migrations: &reemploi_store::Migrations,
    ) -> Result<Prepared, StartError> {
        self.db
            .migrate(migrations)
            .await
            .map_err(StartError::store(service))?;
        self.bus
            .ensure_stream(service)
            .await
            .map_err(StartError::bus(service))?;
        let pager = crate::paging::Pager::load(&self.db)
            .await
            .map_err(StartError::store(service))?;
        self.metrics.watch_service(service, &self.db, &self.bus);
        Ok(Prepared {
            relay: reemploi_events::outbox::Relay::new(self.db.clone(), self.bus.clone()),
            pager,
        })
    }

    /// Subscribes `handler` to `sub` for `service`, until [`Context::stop`];
    /// the consumer's task, for [`Running::task`].
    pub async fn subscribe(
        &self,
        service: &'static str,
        sub: reemploi_events::Subscription,
        handler: Arc<dyn reemploi_events::Handler>,
    ) -> Result<JoinHandle<()>, StartError> {
        self.bus
            .subscribe(sub, handler, self.stop.clone())
            .await
            .map_err(StartError::bus(service))
    }

    /// `server` behind the bearer-token check (and rate limits) of this context.
    pub fn authenticated<S>(
        &self,
        server: S,
    ) -> tonic::service::interceptor::InterceptedService<S, crate::auth::AuthInterceptor> {
        tonic::service::interceptor::InterceptedService::new(
            server,
            crate::auth::AuthInterceptor::new(self.auth.clone()),
        )
    }

    /// `server`, some of whose methods need no token, behind the optional
    /// bearer-token check (see [`crate::auth::AuthInterceptor::optional`]).
    pub fn optionally_authenticated<S>(
        &self,
        server: S,
    ) -> tonic::service::interceptor::InterceptedService<S, crate::auth::AuthInterceptor> {
        tonic::service::interceptor::InterceptedService::new(
            server,
            crate::auth::AuthInterceptor::optional(self.auth.clone()),
        )
    }
}

/// A background task of a service, supervised by [`serve`].
#[derive(Debug)]
pub struct Task {
    name: String,
    handle: JoinHandle<()>,
}

/// Adds a service's gRPC service (authenticated, size-limited) to routes.
type Mount = Box<dyn FnOnce(Routes) -> Routes + Send>;

/// A started service: its gRPC service and its background tasks.
pub struct Running {
    /// The fully-qualified gRPC service name, for health.
    pub name: &'static str,
    mount: Mount,
    /// Tasks that run until [`Context::stop`].
    pub tasks: Vec<Task>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("name", &self.name)
            .field("tasks", &self.tasks)
            .finish_non_exhaustive()
    }
}

impl Running {
    /// A service named `name` (for health) that `mount` adds to the routes,
    /// e.g. `|routes| routes.add_service(server)`.
    pub fn new(
        name: &'static str,
        mount: impl FnOnce(Routes) -> Routes + Send + 'static,
    ) -> Running {
        Running {
            name,
            mount: Box::new(mount),
            tasks: Vec::new(),
        }
    }

    /// Adds a task already spawned (e.g. a bus subscription).
    pub fn task(mut self, name: impl Into<String>, handle: JoinHandle<()>) -> Running {
        self.tasks.push(Task {
            name: name.into(),
            handle,
        });
        self
    }

    /// Spawns `future` as a task of this service.
    pub fn spawn(
        self,
        name: impl Into<String>,
        future: impl Future<Output = ()> + Send + 'static,
    ) -> Running {
        self.task(name, tokio::spawn(future))
    }
}

/// Why a service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Its database could not be reached, migrated or read.
    #[error("{service} database: {source}")]
    Store {
        /// The service.
        service: &'static str,
        /// What failed.
        #[source]
        source: StoreError,
    },
    /// The event bus refused its stream or a subscription.
    #[error("{service} events: {source}")]
    Bus {
        /// The service.
        service: &'static str,
        /// What failed.
        #[source]
        source: BusError,
    },
    /// Anything else the service could not do to start.
    #[error("{service}: {reason}")]
    Other {
        /// The service.
        service: &'static str,
        /// What failed.
        reason: String,
    },
}

impl StartError {
    /// A storage failure of `service`.
    pub fn store(service: &'static str) -> impl FnOnce(StoreError) -> StartError {
        move |source| StartError::Store { service, source }
    }

    /// A bus failure of `service`.
    pub fn bus(service: &'static str) -> impl FnOnce(BusError) -> StartError {
        move |source| StartError::Bus { service, source }
    }
}

/// Why serving ended with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The gRPC server failed.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// A background task ended before it was told to stop.
    #[error("background task `{task}` {how}; the process stops rather than serve half-working")]
    TaskDied {
        /// The task's name.
        task: String,
        /// How it ended.
        how: String,
    },
}

/// Serves `services` on `listener` (health, reflection and per-RPC tracing
/// included, each RPC counted in `metrics`) until `shutdown`, supervising
/// their tasks; then cancels `stop` and waits for the tasks. A task that
/// ends on its own cancels `shutdown` and makes this return
/// [`ServeError::TaskDied`] once all has stopped.
pub async fn serve(
    args: &ServerArgs,
    listener: TcpListener,
    services: Vec<Running>,
    metrics: &Metrics,
    shutdown: CancellationToken,
    stop: CancellationToken,
) -> Result<(), ServeError> {
    let names: Vec<&'static str> = services.iter().map(|s| s.name).collect();
    let mut routes = Routes::default();
    let mut tasks = FuturesUnordered::new();
    for service in services {
        routes = (service.mount)(routes);
        for Task { name, handle } in service.tasks {
            tasks.push(async move { (name, handle.await) });
        }
    }
    let server = Server::new(args, &[reemploi_proto::FILE_DESCRIPTOR_SET], &names)
        .with_metrics(metrics.clone())
        .serve(listener, routes, shutdown.clone());
    tokio::pin!(server);
    let mut died = None;
    let served = loop {
        tokio::select! {
            result = &mut server => break result,
            Some((task, ended)) = tasks.next(), if died.is_none() => {
                let how = match ended {
                    Ok(()) => "stopped".to_owned(),
                    Err(e) if e.is_panic() => "panicked".to_owned(),
                    Err(e) => format!("failed: {e}"),
                };
                tracing::error!(%task, %how, "background task ended: shutting down");
                died = Some(ServeError::TaskDied { task, how });
                shutdown.cancel();
            }
        }
    };
    stop.cancel();
    let finished =
        tokio::time::timeout(TASK_GRACE, async { while tasks.next().await.is_some() {} }).await;
    if finished.is_err() {
        tracing::warn!(
            grace_secs = TASK_GRACE.as_secs(),
            "background tasks still running after the grace period: abandoned"
        );
    }
    served?;
    match died {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Binds `addr` (port 0 allowed), returning the listener and its address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    crate::server::bind(addr).await
}
