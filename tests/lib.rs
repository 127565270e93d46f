//! Support for end-to-end tests: the services started side by side, each on
//! its own port and database, talking over a real event bus (NATS JetStream)
//! or the in-process one, as they run in production and in `reemploi up`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reemploi_events::{Bus, InProcessBus, JetStreamBus, JetStreamOptions};
use reemploi_proto::inventory::inventory_service_client::InventoryServiceClient;
use reemploi_proto::matching::matching_service_client::MatchingServiceClient;
use reemploi_proto::registry::registry_service_client::RegistryServiceClient;
use reemploi_runtime::auth::Role;
use reemploi_store::Backend;
use reemploi_testing::db::TestDb;
use reemploi_testing::grpc::{self as testing, Bearer, Spawned};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// An inventory client with a role's token.
pub type Inventory = InventoryServiceClient<InterceptedService<Channel, Bearer>>;
/// A registry client with a role's token.
pub type Registry = RegistryServiceClient<InterceptedService<Channel, Bearer>>;
/// A matching client with a role's token.
pub type Matching = MatchingServiceClient<InterceptedService<Channel, Bearer>>;

/// How the services talk.
#[derive(Debug, Clone, Copy)]
pub enum Transport {
    /// One in-process bus, as in `reemploi up`; SQLite databases.
    InProcess,
    /// NATS JetStream at `NATS_URL` (a namespace per test); PostgreSQL databases.
    Nats,
}

/// Inventory and registry, running.
pub struct Stack {
    /// The inventory's address.
    pub inventory: SocketAddr,
    /// The registry's address.
    pub registry: SocketAddr,
    /// The addresses of the matching replicas.
    pub matching: Vec<SocketAddr>,
    /// The bus of the in-process transport (shared by every service), for observers.
    pub bus: Arc<dyn Bus>,
    /// The event namespace of this stack on NATS.
    pub namespace: String,
    /// How the services talk.
    pub transport: Transport,
    served: Vec<Spawned>,
    _dbs: Vec<TestDb>,
}

async fn bus(transport: Transport, namespace: &str) -> Arc<dyn Bus> {
    match transport {
        Transport::InProcess => Arc::new(InProcessBus::temporary().await.expect("bus")),
        Transport::Nats => Arc::new(
            JetStreamBus::connect(
                &reemploi_testing::nats::nats_url(),
                JetStreamOptions {
                    namespace: Some(namespace.to_string()),
                    replicas: 1,
                },
            )
            .await
            .expect("NATS reachable"),
        ),
    }
}

impl Stack {
    /// Starts one matching replica, the inventory, then the registry
    /// (subscribers first, as `reemploi up` does).
    pub async fn start(transport: Transport) -> Stack {
        Self::start_with(transport, 1).await
    }

    /// Like [`Stack::start`] with `replicas` matching processes sharing one
    /// database and the same durable consumers.
    pub async fn start_with(transport: Transport, replicas: usize) -> Stack {
        reemploi_runtime::telemetry::init(reemploi_runtime::config::LogFormat::Pretty);
        let backend = match transport {
            Transport::InProcess => Backend::Sqlite,
            Transport::Nats => Backend::Postgres,
        };
        let namespace = reemploi_testing::nats::unique_namespace();
        let shared = bus(transport, &namespace).await;
        let own_bus = async || match transport {
            Transport::InProcess => shared.clone(),
            Transport::Nats => bus(transport, &namespace).await,
        };
        let inventory_db = reemploi_testing::db::fresh(backend).await;
        let registry_db = reemploi_testing::db::fresh(backend).await;
        let matching_db = reemploi_testing::db::fresh(backend).await;
        let mut served = Vec::new();
        for _ in 0..replicas {
            let ctx = testing::context(matching_db.db.clone(), own_bus().await);
            let running = reemploi_matching::start(ctx.clone(), &Default::default())
                .await
                .unwrap();
            served.push(testing::spawn(&ctx, vec![running]).await);
        }
        let ctx = testing::context(inventory_db.db.clone(), own_bus().await);
        let inventory = reemploi_inventory::start(ctx.clone(), &Default::default())
            .await
            .unwrap();
        let inventory = testing::spawn(&ctx, vec![inventory]).await;
        let ctx = testing::context(registry_db.db.clone(), own_bus().await);
        let registry = reemploi_registry::start(ctx.clone(), &Default::default())
            .await
            .unwrap();
        let registry = testing::spawn(&ctx, vec![registry]).await;
        let matching = served.iter().map(|s| s.addr).collect();
        let (inventory_addr, registry_addr) = (inventory.addr, registry.addr);
        served.extend([inventory, registry]);
        Stack {
            inventory: inventory_addr,
            registry: registry_addr,
            matching,
            bus: shared,
            namespace,
            transport,
            served,
            _dbs: vec![inventory_db, registry_db, matching_db],
        }
    }

    /// An inventory client acting as `role`.
    pub async fn inventory(
        &self,
        role: Role,
        org: Option<&str>,
        partner: Option<&str>,
    ) -> Inventory {
        let token = testing::token(role, org, partner);
        InventoryServiceClient::with_interceptor(
            testing::channel(self.inventory).await,
            Bearer(Some(token)),
        )
    }

    /// A registry client acting as `role`.
    pub async fn registry(&self, role: Role, partner: Option<&str>) -> Registry {
        let token = testing::token(role, None, partner);
        RegistryServiceClient::with_interceptor(
            testing::channel(self.registry).await,
            Bearer(Some(token)),
        )
    }

    /// A client of matching replica `replica` acting as `role`.
    pub async fn matching(
        &self,
        replica: usize,
        role: Role,
        org: Option<&str>,
        partner: Option<&str>,
    ) -> Matching {
        let token = testing::token(role, org, partner);
        MatchingServiceClient::with_interceptor(
            testing::channel(self.matching[replica]).await,
            Bearer(Some(token)),
        )
    }

    /// Stops every service and waits for them.
    pub async fn stop(self) {
        for served in self.served {
            served.stop().await.expect("a service stops cleanly");
        }
    }
}

/// Retries `attempt` until it returns `Some`, for at most `timeout`: events
/// take a moment to cross services.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = attempt().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
