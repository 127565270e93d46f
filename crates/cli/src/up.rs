//! `reemploi up`: every service in one process, on one port.

use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use futures::future::BoxFuture;
use reemploi_runtime::auth::{Authenticator, Role, claims_for, issue_hs256_with};
use reemploi_runtime::config::AuthArgs;
use reemploi_runtime::limit::RateLimits;
use reemploi_runtime::metrics::Metrics;
use reemploi_runtime::service::{Context, Running, StartError};
use tokio_util::sync::CancellationToken;

use crate::CliError;
use crate::cli::UpArgs;
use crate::client::Connection;
use crate::config::{ClientTls, Settings};

/// How long the demo loader's admin token lives.
const DEMO_TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(600);

/// The authenticator `up` verifies tokens with: the configured secret or
/// public key, else an HS256 secret kept in `<data-dir>/jwt-secret`
/// (created if absent), with the rate limits of the flags (trusting
/// loopback, where its web app calls from, unless `--trusted-proxy` says
/// otherwise). Also returns the
/// HS256 secret when there is one, for the demo loader to sign its own
/// token. Secrets are never logged.
pub fn authenticator(args: &UpArgs) -> Result<(Authenticator, Option<String>), CliError> {
    let mut limits = RateLimits::from_args(&args.service.limits);
    if !limits.trusts_proxies() {
        // The web app this process serves calls from loopback for everyone
        // signing in through it, and names each person's address.
        limits = limits.trusting(&[Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()]);
    }
    if args.service.auth.jwt_secret.is_some() || args.service.auth.jwt_public_key.is_some() {
        return Ok((
            Authenticator::from_args(&args.service.auth)?.with_rate_limits(limits),
            args.service.auth.jwt_secret.clone(),
        ));
    }
    let path = crate::secret::secret_path(&args.service.store.data_dir);
    let secret = crate::secret::load_or_create(&args.service.store.data_dir)?;
    tracing::info!(
        file = %path.display(),
        "no --jwt-secret or --jwt-public-key: HS256 tokens signed with the secret in this file"
    );
    let generated = AuthArgs {
        jwt_secret: Some(secret.clone()),
        ..args.service.auth.clone()
    };
    Ok((
        Authenticator::from_args(&generated)?.with_rate_limits(limits),
        Some(secret),
    ))
}

/// How one service of the process starts, from its own flags.
type Start<'a> = Box<dyn FnOnce(Context) -> BoxFuture<'a, Result<Running, StartError>> + 'a>;

/// Every service of the platform, each with its own argument block.
fn services(args: &UpArgs) -> Vec<(&'static str, Start<'_>)> {
    // One set of mail flags and one public URL for the process: the
    // notification emails go out as the identity service's mail does.
    let email = reemploi_notify::EmailArgs {
        public_url: args.identity.public_url.clone(),
        mail: args.identity.mail.clone(),
    };
    vec![
        // First: it fills the key ring every service verifies tokens with.
        (
            "identity",
            Box::new(|ctx| Box::pin(reemploi_identity::start(ctx, &args.identity))),
        ),
        (
            "inventory",
            Box::new(|ctx| Box::pin(reemploi_inventory::start(ctx, &args.inventory))),
        ),
        (
            "registry",
            Box::new(|ctx| Box::pin(reemploi_registry::start(ctx, &args.registry))),
        ),
        (
            "matching",
            Box::new(|ctx| Box::pin(reemploi_matching::start(ctx, &args.matching))),
        ),
        (
            "impact",
            Box::new(|ctx| Box::pin(reemploi_impact::start(ctx, &args.impact))),
        ),
        (
            "notify",
            Box::new(move |ctx| {
                Box::pin(async move { reemploi_notify::start(ctx, &args.notify, &email).await })
            }),
        ),
    ]
}

/// Starts every service of the process, each on its own database, all on
/// `bus` and verifying with `auth`.
async fn start_services(
    args: &UpArgs,
    bus: &Arc<dyn reemploi_events::Bus>,
    auth: &Authenticator,
    metrics: &Metrics,
    shutdown: &CancellationToken,
    stop: &CancellationToken,
) -> Result<Vec<Running>, CliError> {
    let mut running = Vec::new();
    for (name, start) in services(args) {
        let ctx = Context {
            db: reemploi_runtime::wiring::database(&args.service.store, name).await?,
            bus: bus.clone(),
            auth: auth.clone(),
            max_message_bytes: args.service.server.max_message_bytes,
            max_deliver: args.service.bus.max_deliver,
            data_dir: args.service.store.data_dir.clone(),
            shutdown: shutdown.clone(),
            stop: stop.clone(),
            metrics: metrics.clone(),
        };
        let started = start(ctx.clone()).await?;
        // Once for the process: every service shares its authenticator.
        let started = match running.is_empty() {
            true => {
                reemploi_runtime::process::watch_access(&ctx, &args.service.auth, started).await?
            }
            false => started,
        };
        running.push(started);
    }
    Ok(running)
}

/// Starts every service, loads the demo if asked (as a client using `tls`
/// when the server speaks TLS), serves until SIGINT or SIGTERM (or until a
/// background task dies), then stops the tasks.
pub async fn run(mut args: UpArgs, tls: ClientTls) -> Result<(), CliError> {
    // Before anything starts: a bad certificate is a configuration error.
    let server_tls = reemploi_runtime::server::tls_config(&args.service.server)?.is_some();
    let shutdown = reemploi_runtime::shutdown::on_signal();
    let stop = CancellationToken::new();
    // Bound first: the mail links of the identity service open its pages.
    let (web_listener, web_addr) = bind_web(&args).await?;
    if args.identity.public_url == reemploi_identity::DEFAULT_PUBLIC_URL {
        args.identity.public_url = web_url(web_addr);
    }
    let (auth, secret) = authenticator(&args)?;
    // One bus for the whole process: services see each other's events.
    let bus = tokio::select! {
        bus = reemploi_runtime::wiring::bus(&args.service.bus, &args.service.store) => bus?,
        () = shutdown.cancelled() => return Ok(()),
    };
    // One endpoint for the whole process: every service's figures.
    let metrics = reemploi_runtime::process::metrics(&args.service.metrics);
    let running = start_services(&args, &bus, &auth, &metrics, &shutdown, &stop).await?;
    let running = with_metrics_endpoint(&args, &metrics, &stop, running).await?;

    let (listener, addr) = reemploi_runtime::server::bind(args.service.server.listen)
        .await
        .map_err(|source| CliError::Bind {
            addr: args.service.server.listen,
            source,
        })?;
    let server_args = args.service.server.clone();
    let serving = tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            reemploi_runtime::service::serve(
                &server_args,
                listener,
                running,
                &metrics,
                shutdown,
                stop,
            )
            .await
        }
    });
    let web = serve_web(
        &args,
        (web_listener, &*bus),
        &demo_addr(addr, server_tls),
        &tls,
        shutdown.clone(),
    )
    .await
    .inspect_err(|_| shutdown.cancel())?;
    let demo = demo_settings(addr, server_tls, tls);
    if args.demo
        && let Err(e) = load_demo(&args, demo, secret.as_deref()).await
    {
        shutdown.cancel();
        let _ = serving.await;
        return Err(e);
    }
    tracing::info!(%addr, "reemploi listening");
    if !server_tls {
        tracing::info!(
            "try: reemploi token --role admin | xargs -I{{}} grpcurl -plaintext -H 'authorization: Bearer {{}}' \
             -d '{{\"parent\":\"sites/-\"}}' {addr} reemploi.inventory.v1.InventoryService/ListLots"
        );
    }
    announce(addr)?;
    announce_web(web_addr)?;
    serving
        .await
        .map_err(|e| CliError::Demo(format!("server task: {e}")))??;
    match web.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "the web app stopped with an error"),
        Err(e) => tracing::error!(error = %e, "the web app's task failed"),
    }
    tracing::info!("reemploi stopped");
    Ok(())
}

/// `running` with the process's one metrics endpoint served beside its
/// first task, when `--metrics-listen` asks for one.
async fn with_metrics_endpoint(
    args: &UpArgs,
    metrics: &Metrics,
    stop: &CancellationToken,
    mut running: Vec<Running>,
) -> Result<Vec<Running>, CliError> {
    if let Some(addr) = args.service.metrics.metrics_listen {
        let listener = reemploi_runtime::metrics::bind(addr)
            .await
            .map_err(|source| CliError::Bind { addr, source })?
            .0;
        if let Some(first) = running.pop() {
            running.push(reemploi_runtime::process::metrics_task(
                metrics, listener, stop, first,
            ));
        }
    }
    Ok(running)
}

/// How the demo is loaded: as a client of the server just started.
fn demo_settings(addr: SocketAddr, server_tls: bool, tls: ClientTls) -> Settings {
    Settings {
        addr: demo_addr(addr, server_tls),
        token: None,
        session: None,
        // A REEMPLOI_CA meant for other servers must not stop a plaintext
        // demo load.
        tls: if server_tls {
            tls
        } else {
            ClientTls::default()
        },
    }
}

/// Binds `--web-listen`, before anything starts: a port taken is a clear
/// error, and the address is known to the mail links.
async fn bind_web(args: &UpArgs) -> Result<(tokio::net::TcpListener, SocketAddr), CliError> {
    let bind_error = |source| CliError::Bind {
        addr: args.web.listen,
        source,
    };
    let listener = tokio::net::TcpListener::bind(args.web.listen)
        .await
        .map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    Ok((listener, addr))
}

/// The address people open the web app at: the one it listens on, or, when
/// it listens on every interface, this machine by name.
fn web_url(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("http://localhost:{}", addr.port())
    } else {
        format!("http://{addr}")
    }
}

/// Serves the web app on `listener`, a client of the API at `api`
/// (trusting `tls.ca` when it is https), until `shutdown`; it keeps the
/// site pages it rendered while `bus` says they are still true.
async fn serve_web(
    args: &UpArgs,
    (listener, bus): (tokio::net::TcpListener, &dyn reemploi_events::Bus),
    api: &str,
    tls: &ClientTls,
    shutdown: CancellationToken,
) -> Result<tokio::task::JoinHandle<std::io::Result<()>>, CliError> {
    if args.service.server.tls_client_ca.is_some() && tls.client_cert.is_none() {
        tracing::warn!(
            "the API requires client certificates: the web app, given none \
             (--client-cert, --client-key), cannot call it"
        );
    }
    let endpoints = reemploi_web::Endpoints {
        ca: tls.ca.clone(),
        client_cert: tls.client_cert.clone(),
        client_key: tls.client_key.clone(),
        ..reemploi_web::Endpoints::all(api)
    };
    let state = reemploi_web::WebState::new(&args.web, &endpoints, &args.service.store.data_dir)?;
    state.keep_pages(bus, shutdown.child_token()).await?;
    Ok(tokio::spawn(reemploi_web::serve(listener, state, shutdown)))
}

/// Prints where the web app is, after the `listening on` line.
fn announce_web(addr: SocketAddr) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "web app on {}/", web_url(addr))
        .and_then(|()| out.flush())
        .map_err(CliError::Stdout)
}

/// Where the demo loader reaches the server: over TLS by name (`localhost`
/// for a loopback or wildcard address, which is what a development
/// certificate names), else in plaintext at the bound address.
fn demo_addr(addr: SocketAddr, tls: bool) -> String {
    if !tls {
        return format!("http://{addr}");
    }
    let ip = addr.ip();
    if ip.is_loopback() || ip.is_unspecified() {
        format!("https://localhost:{}", addr.port())
    } else {
        format!("https://{addr}")
    }
}

/// Loads the m2A sample through the server's own API, as an admin whose
/// token is signed here with the HS256 secret.
async fn load_demo(
    args: &UpArgs,
    settings: Settings,
    secret: Option<&str>,
) -> Result<(), CliError> {
    let secret = secret.ok_or_else(|| {
        CliError::Demo(
            "--demo signs its own admin token and needs an HS256 secret: \
             leave out --jwt-public-key or give --jwt-secret"
                .to_owned(),
        )
    })?;
    let claims = claims_for(Role::Admin, None, None, DEMO_TOKEN_TTL);
    let token = issue_hs256_with(
        secret.as_bytes(),
        &claims,
        args.service.auth.jwt_issuer.as_deref(),
        args.service.auth.jwt_audience.as_deref(),
    )?;
    let tls = settings.addr.starts_with("https://");
    let partner_settings = settings.clone();
    let api = Connection::open(&Settings {
        token: Some(token),
        ..settings
    })
    .await
    .map_err(|e| match e {
        // The usual cause: the loader does not trust the certificate.
        CliError::Unreachable { addr, reason } if tls => CliError::Demo(format!(
            "cannot load the demo over TLS at {addr} ({reason}): give --ca with the CA that \
             signed --tls-cert (a certificate for localhost), and with --tls-client-ca also \
             --client-cert and --client-key"
        )),
        e => e,
    })?;
    let partners = crate::demo::load_partners(&api).await?;
    tracing::info!(
        partners = partners.len(),
        "demo partners registered and verified"
    );
    let loaded = crate::demo::load(&api).await?;
    tracing::info!(
        site = %loaded.site,
        lots = loaded.lots,
        published = loaded.published,
        hazardous = loaded.hazardous,
        "demo data loaded"
    );
    let (accounts, password) = crate::demo::load_accounts(&api, &partners).await?;
    let structures: Vec<(String, String)> = partners
        .iter()
        .map(|p| (p.name.clone(), p.siret.clone()))
        .collect();
    let as_partner = async |name: String| {
        let id = name.trim_start_matches("partners/").to_owned();
        let claims = claims_for(Role::Partner, None, Some(id), DEMO_TOKEN_TTL);
        let token = issue_hs256_with(
            secret.as_bytes(),
            &claims,
            args.service.auth.jwt_issuer.as_deref(),
            args.service.auth.jwt_audience.as_deref(),
        )?;
        Connection::open(&Settings {
            token: Some(token),
            ..partner_settings.clone()
        })
        .await
    };
    let handed = crate::demo_figures::load(&api, &loaded.site, &structures, as_partner).await?;
    tracing::info!(
        handovers = handed,
        "demo hand-overs, outcomes and hours loaded"
    );
    announce_accounts(&accounts, &password)
}

/// Prints the demo accounts made now, with their password: once, since only
/// its hash is kept.
fn announce_accounts(accounts: &[(String, String)], password: &str) -> Result<(), CliError> {
    if accounts.is_empty() {
        tracing::info!("demo accounts made by an earlier run are kept");
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    let mut text = String::from("demo accounts (shown once), each with the password below:\n");
    for (email, role) in accounts {
        text.push_str(&format!("  {email:<40} {role}\n"));
    }
    text.push_str(&format!(
        "  password: {password}\n  sign in: reemploi login --email {}\n",
        accounts[0].0
    ));
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(CliError::Stdout)
}

/// Prints `listening on ADDR` to stdout and flushes it, for scripts and
/// tests that start with port 0.
fn announce(addr: SocketAddr) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {addr}")
        .and_then(|()| out.flush())
        .map_err(CliError::Stdout)
}
