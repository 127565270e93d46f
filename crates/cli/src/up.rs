//! `reemploi up`: every service in one process, on one port.

use std::io::Write;

use reemploi_runtime::auth::Authenticator;
use reemploi_runtime::config::AuthArgs;

use crate::CliError;
use crate::cli::UpArgs;

/// The authenticator `up` verifies tokens with: the configured secret or
/// public key, else an HS256 secret kept in `<data-dir>/jwt-secret`
/// (created if absent). The secret itself is never logged.
pub fn authenticator(args: &UpArgs) -> Result<Authenticator, CliError> {
    if args.auth.jwt_secret.is_some() || args.auth.jwt_public_key.is_some() {
        return Ok(Authenticator::from_args(&args.auth)?);
    }
    let path = crate::secret::secret_path(&args.store.data_dir);
    let secret = crate::secret::load_or_create(&args.store.data_dir)?;
    tracing::info!(
        file = %path.display(),
        "no --jwt-secret or --jwt-public-key: HS256 tokens signed with the secret in this file"
    );
    let generated = AuthArgs {
        jwt_secret: Some(secret),
        ..args.auth.clone()
    };
    Ok(Authenticator::from_args(&generated)?)
}

/// Starts every service, loads the demo if asked, serves until SIGINT or
/// SIGTERM, then waits for the background tasks to finish.
pub async fn run(args: UpArgs) -> Result<(), CliError> {
    let shutdown = reemploi_runtime::shutdown::on_signal();
    let auth = authenticator(&args)?;
    // One bus for the whole process: services see each other's events.
    let bus = reemploi_runtime::wiring::bus(&args.bus).await?;

    // Subscribers start before the services whose events they follow: on the
    // in-process bus an event is delivered to the subscribers present.
    let matching_db = reemploi_runtime::wiring::database(&args.store, "matching").await?;
    let mut matching = reemploi_matching::start(
        matching_db,
        bus.clone(),
        auth.clone(),
        args.server.max_message_bytes,
        shutdown.clone(),
    )
    .await?;

    let inventory_db = reemploi_runtime::wiring::database(&args.store, "inventory").await?;
    let mut inventory = reemploi_inventory::start(
        inventory_db,
        bus.clone(),
        args.inventory.settings(),
        auth.clone(),
        args.server.max_message_bytes,
        shutdown.clone(),
    )
    .await?;

    // Started after the inventory, whose partner projection must be
    // subscribed before the registry's first event leaves on the in-process bus.
    let registry_db = reemploi_runtime::wiring::database(&args.store, "registry").await?;
    let mut registry = reemploi_registry::start(
        registry_db,
        bus.clone(),
        auth.clone(),
        args.server.max_message_bytes,
        shutdown.clone(),
    )
    .await?;

    if args.demo {
        let partners = crate::demo::load_partners(&registry.registry).await?;
        tracing::info!(partners, "demo partners registered and verified");
        let loaded = crate::demo::load(&inventory.inventory).await?;
        tracing::info!(
            site = %loaded.site,
            lots = loaded.lots,
            published = loaded.published,
            hazardous = loaded.hazardous,
            "demo data loaded"
        );
    }

    let (listener, addr) = reemploi_runtime::server::bind(args.server.listen)
        .await
        .map_err(|source| CliError::Bind {
            addr: args.server.listen,
            source,
        })?;
    tracing::info!(%addr, "reemploi listening");
    tracing::info!(
        "try: reemploi token --role admin | xargs -I{{}} grpcurl -plaintext -H 'authorization: Bearer {{}}' \
         -d '{{\"parent\":\"sites/-\"}}' {addr} reemploi.inventory.v1.InventoryService/ListLots"
    );
    announce(addr)?;

    let routes = tonic::service::Routes::new(inventory.service)
        .add_service(registry.service)
        .add_service(matching.service);
    reemploi_runtime::server::Server::new(
        &args.server,
        &[reemploi_proto::FILE_DESCRIPTOR_SET],
        &[
            reemploi_proto::service_names::INVENTORY,
            reemploi_proto::service_names::REGISTRY,
            reemploi_proto::service_names::MATCHING,
        ],
    )
    .serve(listener, routes, shutdown)
    .await?;
    while inventory.tasks.join_next().await.is_some() {}
    while registry.tasks.join_next().await.is_some() {}
    while matching.tasks.join_next().await.is_some() {}
    tracing::info!("reemploi stopped");
    Ok(())
}

/// Prints `listening on ADDR` to stdout and flushes it, for scripts and
/// tests that start with port 0.
fn announce(addr: std::net::SocketAddr) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {addr}")
        .and_then(|()| out.flush())
        .map_err(CliError::Stdout)
}
