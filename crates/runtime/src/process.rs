//! What every service binary does around its service: flags, logging,
//! connecting its database and bus, serving until a signal, a clean exit.

use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

use crate::auth::Authenticator;
use crate::config::{
    AuthArgs, BusArgs, LimitArgs, MetricsArgs, ServerArgs, StoreArgs, TelemetryArgs,
};
use crate::limit::RateLimits;
use crate::metrics::Metrics;
use crate::service::{Context, Running, StartError};

/// The flags every service binary takes.
#[derive(clap::Args, Clone, Debug)]
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
    pub limits: LimitArgs,
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
    #[command(flatten)]
    pub metrics: MetricsArgs,
}

/// A failure that ends the process; its message is logged and printed.
pub type Failure = Box<dyn std::error::Error>;

impl ServiceArgs {
    /// Starts logging and the signal listener, checks the TLS files,
    /// connects the database of `service` and the bus, and loads the token
    /// verifier with its rate limits: the context a service starts in.
    pub async fn connect(&self, service: &str) -> Result<Context, Failure> {
        crate::telemetry::start(&self.telemetry, &format!("reemploi-{service}"))?;
        // Checked before anything connects: a bad certificate is a
        // configuration error, best reported before a database migrates.
        crate::server::tls_config(&self.server)?;
        let auth = Authenticator::from_args(&self.auth)?
            .with_rate_limits(RateLimits::from_args(&self.limits));
        // The identity service holds its own keys; any other service needs
        // somewhere to get them from, or a static key.
        if service != "identity" && self.auth.identity_url.is_none() && !auth.has_static_key() {
            return Err(crate::auth::AuthError::NoKeyConfigured.into());
        }
        let shutdown = crate::shutdown::on_signal();
        let bus = tokio::select! {
            bus = crate::wiring::bus(&self.bus, &self.store) => bus?,
            () = shutdown.cancelled() => return Err("stopped while waiting for NATS".into()),
        };
        Ok(Context {
            db: crate::wiring::database(&self.store, service).await?,
            bus,
            auth,
            max_message_bytes: self.server.max_message_bytes,
            max_deliver: self.bus.max_deliver,
            data_dir: self.store.data_dir.clone(),
            shutdown,
            stop: CancellationToken::new(),
            metrics: metrics(&self.metrics),
        })
    }

    /// Serves the service started in `ctx` until a signal, supervising its
    /// background tasks (see [`crate::service::serve`]).
    pub async fn serve(&self, ctx: &Context, running: Running) -> Result<(), Failure> {
        let mut running = running.task(
            "revocations",
            ctx.auth
                .deny_list()
                .follow(&*ctx.bus, ctx.stop.clone())
                .await?,
        );
        if let Some(url) = &self.auth.identity_url {
            let channel = crate::keys::identity_channel(url, &self.auth)?;
            running = refresh_signing_keys(ctx, channel, running);
        }
        let (running, _) = serve_metrics(&self.metrics, &ctx.metrics, &ctx.stop, running).await?;
        let (listener, addr) = crate::server::bind(self.server.listen).await?;
        tracing::info!(%addr, service = running.name, "listening");
        let served = crate::service::serve(
            &self.server,
            listener,
            vec![running],
            &ctx.metrics,
            ctx.shutdown.clone(),
            ctx.stop.clone(),
        )
        .await;
        crate::telemetry::flush().await;
        Ok(served?)
    }
}

/// The metrics of a process started with `args`: recorded only when they
/// are served.
pub fn metrics(args: &MetricsArgs) -> Metrics {
    match args.metrics_listen {
        Some(_) => Metrics::new(),
        None => Metrics::disabled(),
    }
}

/// With `--metrics-listen`, binds it and adds to `running` the task that
/// serves `metrics` there until `stop`; returns where it listens.
pub async fn serve_metrics(
    args: &MetricsArgs,
    metrics: &Metrics,
    stop: &CancellationToken,
    running: Running,
) -> Result<(Running, Option<std::net::SocketAddr>), Failure> {
    let Some(addr) = args.metrics_listen else {
        return Ok((running, None));
    };
    let (listener, addr) = crate::metrics::bind(addr)
        .await
        .map_err(|e| format!("--metrics-listen {addr}: {e}"))?;
    Ok((metrics_task(metrics, listener, stop, running), Some(addr)))
}

/// Adds to `running` the task that serves `metrics` on `listener` until
/// `stop`.
pub fn metrics_task(
    metrics: &Metrics,
    listener: tokio::net::TcpListener,
    stop: &CancellationToken,
    running: Running,
) -> Running {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "metrics endpoint listening at /metrics");
    }
    let served = crate::metrics::serve(metrics.clone(), listener, stop.clone());
    running.spawn("metrics endpoint", async move {
        if let Err(e) = served.await {
            tracing::error!(error = %e, "the metrics endpoint failed");
        }
    })
}

/// Adds to `running` what keeps this process's token checks current: the
/// revocations it follows into its deny list, and, with `--identity-url`,
/// the refresh of the identity service's public keys. Once per process.
pub async fn watch_access(
    ctx: &Context,
    auth: &AuthArgs,
    running: Running,
) -> Result<Running, StartError> {
    let followed = ctx
        .auth
        .deny_list()
        .follow(&*ctx.bus, ctx.stop.clone())
        .await
        .map_err(StartError::bus("revocations"))?;
    let mut running = running.task("revocations", followed);
    if let Some(url) = &auth.identity_url {
        let channel = crate::keys::identity_channel(url, auth).map_err(|e| StartError::Other {
            service: "signing keys",
            reason: e.to_string(),
        })?;
        running = refresh_signing_keys(ctx, channel, running);
    }
    Ok(running)
}

/// Adds to `running` the task that keeps the key ring of `ctx` filled with
/// the identity service's public keys, fetched over `channel`.
fn refresh_signing_keys(
    ctx: &Context,
    channel: tonic::transport::Channel,
    running: Running,
) -> Running {
    let source = std::sync::Arc::new(crate::keys::GrpcJwks::new(channel));
    running.spawn(
        "signing keys",
        ctx.auth
            .key_ring()
            .clone()
            .refresh(source, ctx.stop.clone()),
    )
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
