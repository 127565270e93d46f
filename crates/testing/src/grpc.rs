//! Services on a real socket (port 0), tokens for every role, and a client
//! interceptor that sends them. It holds no secret of any deployment.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::service::{Interceptor, Routes};
use tonic::transport::Channel;

use std::sync::Arc;

use reemploi_events::Bus;
use reemploi_runtime::auth::{Authenticator, Role, claims_for, issue_hs256};
use reemploi_runtime::config::{AuthArgs, LimitArgs, ServerArgs};
use reemploi_runtime::limit::RateLimits;
use reemploi_runtime::server::{Server, bind};
use reemploi_runtime::service::{Context, Running, ServeError};
use reemploi_store::Db;

/// The HS256 secret test servers verify and test tokens are signed with.
pub const SECRET: &[u8] = b"reemploi-test-secret-32-bytes-long!";

/// An authenticator for [`SECRET`].
pub fn authenticator() -> Authenticator {
    Authenticator::hs256(SECRET)
}

/// A token valid ten minutes for `role`, signed with [`SECRET`].
pub fn token(role: Role, org: Option<&str>, partner: Option<&str>) -> String {
    let claims = claims_for(
        role,
        org.map(str::to_string),
        partner.map(str::to_string),
        Duration::from_secs(600),
    );
    match issue_hs256(SECRET, &claims) {
        Ok(t) => t,
        Err(e) => panic!("test token: {e}"),
    }
}

/// Sends `authorization: Bearer <token>` when it has one.
#[derive(Clone, Debug)]
pub struct Bearer(pub Option<String>);

impl Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(token) = &self.0 {
            let value = format!("Bearer {token}")
                .parse()
                .map_err(|_| tonic::Status::internal("token is not a header value"))?;
            req.metadata_mut().insert("authorization", value);
        }
        Ok(req)
    }
}

/// A channel to a test server.
pub async fn channel(addr: SocketAddr) -> Channel {
    match Channel::from_shared(format!("http://{addr}")) {
        Ok(endpoint) => match endpoint.connect().await {
            Ok(channel) => channel,
            Err(e) => panic!("connect to {addr}: {e}"),
        },
        Err(e) => panic!("endpoint {addr}: {e}"),
    }
}

/// A server running on 127.0.0.1 with an ephemeral port.
pub struct Served {
    /// Where it listens.
    pub addr: SocketAddr,
    handle: JoinHandle<()>,
}

impl Served {
    /// Waits for the server to finish (after its shutdown token is cancelled).
    pub async fn finished(self) {
        let _ = self.handle.await;
    }
}

/// Serves `routes` (with health and reflection for `services`) on port 0
/// until `shutdown`, with no drain delay.
pub async fn serve(
    routes: Routes,
    services: &[&'static str],
    shutdown: CancellationToken,
) -> Served {
    let args = server_args();
    let (listener, addr) = match bind(args.listen).await {
        Ok(bound) => bound,
        Err(e) => panic!("bind a test port: {e}"),
    };
    let server = Server::new(&args, &[reemploi_proto::FILE_DESCRIPTOR_SET], services)
        .with_drain_delay(Duration::ZERO);
    let handle = tokio::spawn(async move {
        if let Err(e) = server.serve(listener, routes, shutdown).await {
            panic!("test server failed: {e}");
        }
    });
    Served { addr, handle }
}

/// The arguments of a test server: port 0 on loopback, defaults otherwise.
pub fn server_args() -> ServerArgs {
    ServerArgs {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        drain_delay_ms: 0,
        ..ServerArgs::default()
    }
}

/// A context for a service under test on `db` and `bus`, verifying tokens
/// signed with [`SECRET`] under the default rate limits, as a service
/// binary does: tests that hammer a service show the defaults are
/// generous enough.
pub fn context(db: Db, bus: Arc<dyn Bus>) -> Context {
    Context {
        db,
        bus,
        auth: authenticator().with_rate_limits(RateLimits::from_args(&LimitArgs::default())),
        max_message_bytes: 16 << 20,
        max_deliver: reemploi_events::DEFAULT_MAX_DELIVER,
        // Files a service writes in a test (mail, keys) go to a directory
        // of their own.
        data_dir: std::env::temp_dir().join(format!("reemploi-test-{}", uuid::Uuid::now_v7())),
        shutdown: CancellationToken::new(),
        stop: CancellationToken::new(),
        // Recorded, as with --metrics-listen: tests scrape them.
        metrics: reemploi_runtime::metrics::Metrics::new(),
    }
}

/// Started services, served on port 0 as a service binary serves them.
pub struct Spawned {
    /// Where they listen.
    pub addr: SocketAddr,
    /// Cancel to shut the server down (then the tasks stop).
    pub shutdown: CancellationToken,
    handle: JoinHandle<Result<(), ServeError>>,
}

impl Spawned {
    /// Shuts down gracefully and waits until the server and every task of
    /// its services have stopped; what serving ended with.
    pub async fn stop(self) -> Result<(), ServeError> {
        self.shutdown.cancel();
        self.finished().await
    }

    /// Waits until serving ends by itself (a task died) or after a shutdown.
    pub async fn finished(self) -> Result<(), ServeError> {
        match self.handle.await {
            Ok(result) => result,
            Err(e) => panic!("test server task: {e}"),
        }
    }
}

/// Serves `services`, started with `ctx`, on port 0 with no drain delay,
/// following revocations into the context's deny list as a service binary
/// does.
pub async fn spawn(ctx: &Context, services: Vec<Running>) -> Spawned {
    spawn_with(ctx, services, &AuthArgs::default()).await
}

/// [`spawn`], with the identity service (`--identity-url`) and token
/// settings of `auth`.
pub async fn spawn_with(ctx: &Context, mut services: Vec<Running>, auth: &AuthArgs) -> Spawned {
    if !services.is_empty() {
        let first = services.remove(0);
        let watched = reemploi_runtime::process::watch_access(ctx, auth, first)
            .await
            .unwrap_or_else(|e| panic!("follow revocations: {e}"));
        services.insert(0, watched);
    }
    let args = ServerArgs {
        shutdown_grace_secs: 5,
        ..server_args()
    };
    let (listener, addr) = match bind(args.listen).await {
        Ok(bound) => bound,
        Err(e) => panic!("bind a test port: {e}"),
    };
    let (shutdown, stop) = (ctx.shutdown.clone(), ctx.stop.clone());
    let metrics = ctx.metrics.clone();
    let handle = tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            reemploi_runtime::service::serve(&args, listener, services, &metrics, shutdown, stop)
                .await
        }
    });
    Spawned {
        addr,
        shutdown,
        handle,
    }
}
