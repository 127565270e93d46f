//! Support for end-to-end tests: the services started side by side, each on
//! its own port and database, talking over a real event bus (NATS JetStream)
//! or the in-process one, as they run in production and in `reemploi up`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reemploi_events::{Bus, InProcessBus, JetStreamBus, JetStreamOptions};
use reemploi_proto::audit::audit_service_client::AuditServiceClient;
use reemploi_proto::impact::impact_service_client::ImpactServiceClient;
use reemploi_proto::inventory as ipb;
use reemploi_proto::inventory::inventory_service_client::InventoryServiceClient;
use reemploi_proto::matching::matching_service_client::MatchingServiceClient;
use reemploi_proto::notify::notification_service_client::NotificationServiceClient;
use reemploi_proto::registry as rpb;
use reemploi_proto::registry::registry_service_client::RegistryServiceClient;
use reemploi_proto::types as tpb;
use reemploi_runtime::auth::Role;
use reemploi_store::{Backend, Db, DbOptions};
use reemploi_testing::db::TestDb;
use reemploi_testing::grpc::{self as testing, Bearer, Spawned};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// An inventory client with a role's token.
pub type Inventory = InventoryServiceClient<InterceptedService<Channel, Bearer>>;
/// A registry client with a role's token.
pub type Registry = RegistryServiceClient<InterceptedService<Channel, Bearer>>;
/// An audit trail client with a role's token.
pub type Audit = AuditServiceClient<InterceptedService<Channel, Bearer>>;
/// An impact client with a role's token.
pub type Impact = ImpactServiceClient<InterceptedService<Channel, Bearer>>;
/// A matching client with a role's token.
pub type Matching = MatchingServiceClient<InterceptedService<Channel, Bearer>>;
/// A notification client with a bearer token.
pub type Notifications = NotificationServiceClient<InterceptedService<Channel, Bearer>>;

/// How the services talk.
#[derive(Debug, Clone, Copy)]
pub enum Transport {
    /// One in-process bus, as in `reemploi up`; SQLite databases.
    InProcess,
    /// NATS JetStream at `NATS_URL`, or the servers of
    /// [`StackOptions::nats_urls`] (a namespace per test); PostgreSQL databases.
    Nats,
}

/// How a [`Stack`] is set up beyond its transport; the defaults are those of
/// [`Stack::start`].
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// Matching processes sharing one database and the same durable consumers.
    pub matching_replicas: usize,
    /// NATS server URLs (comma-separated) instead of `NATS_URL`.
    pub nats_urls: Option<String>,
    /// Replicas of the JetStream streams (3 on a three-node cluster).
    pub stream_replicas: usize,
    /// Failed attempts before an event becomes a dead letter.
    pub max_deliver: i64,
    /// When set, the inventory and matching reach their PostgreSQL databases
    /// through this address (a [`reemploi_testing::proxy::Proxy`] in front of
    /// the server), so that a test can cut them off from it.
    pub consumer_db_via: Option<SocketAddr>,
    /// How long the services' pools wait for a connection before reporting
    /// the database unavailable (sqlx's default when `None`).
    pub acquire_timeout: Option<Duration>,
}

impl Default for StackOptions {
    fn default() -> Self {
        StackOptions {
            matching_replicas: 1,
            nats_urls: None,
            stream_replicas: 1,
            max_deliver: reemploi_events::DEFAULT_MAX_DELIVER,
            consumer_db_via: None,
            acquire_timeout: None,
        }
    }
}

/// Inventory and registry, running.
pub struct Stack {
    /// The inventory's address.
    pub inventory: SocketAddr,
    /// The registry's address.
    pub registry: SocketAddr,
    /// The identity service's address.
    pub identity: SocketAddr,
    /// Where the identity service keeps its files (its key-encryption key).
    pub identity_dir: std::path::PathBuf,
    /// The addresses of the matching replicas.
    pub matching: Vec<SocketAddr>,
    /// The impact service's address.
    pub impact: SocketAddr,
    /// The bus of the in-process transport (shared by every service), for observers.
    pub bus: Arc<dyn Bus>,
    /// The event namespace of this stack on NATS.
    pub namespace: String,
    /// How the services talk.
    pub transport: Transport,
    /// The NATS server URLs the services use (comma-separated).
    pub nats_urls: String,
    /// Replicas of the JetStream streams.
    pub stream_replicas: usize,
    /// The notification service.
    pub notify: SocketAddr,
    /// The notification service itself, to sweep and look inside.
    pub notifier: reemploi_notify::Notify,
    served: Vec<Spawned>,
    dbs: Vec<TestDb>,
}

async fn bus(transport: Transport, urls: &str, namespace: &str, replicas: usize) -> Arc<dyn Bus> {
    match transport {
        Transport::InProcess => Arc::new(InProcessBus::temporary().await.expect("bus")),
        Transport::Nats => Arc::new(
            JetStreamBus::connect(
                urls,
                JetStreamOptions {
                    namespace: Some(namespace.to_string()),
                    replicas,
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
        Self::start_with_options(transport, StackOptions::default()).await
    }

    /// Like [`Stack::start`] with `replicas` matching processes sharing one
    /// database and the same durable consumers.
    pub async fn start_with(transport: Transport, replicas: usize) -> Stack {
        Self::start_with_options(
            transport,
            StackOptions {
                matching_replicas: replicas,
                ..StackOptions::default()
            },
        )
        .await
    }

    /// Like [`Stack::start`], set up as `options` say.
    pub async fn start_with_options(transport: Transport, options: StackOptions) -> Stack {
        reemploi_runtime::telemetry::init(reemploi_runtime::config::LogFormat::Pretty);
        let backend = match transport {
            Transport::InProcess => Backend::Sqlite,
            Transport::Nats => Backend::Postgres,
        };
        let namespace = reemploi_testing::nats::unique_namespace();
        let nats_urls = match (transport, &options.nats_urls) {
            (Transport::Nats, Some(urls)) => urls.clone(),
            (Transport::Nats, None) => reemploi_testing::nats::nats_url(),
            (Transport::InProcess, _) => String::new(),
        };
        let replicas = options.stream_replicas;
        let shared = bus(transport, &nats_urls, &namespace, replicas).await;
        let own_bus = async || match transport {
            Transport::InProcess => shared.clone(),
            Transport::Nats => bus(transport, &nats_urls, &namespace, replicas).await,
        };
        let inventory_db = reemploi_testing::db::fresh(backend).await;
        let registry_db = reemploi_testing::db::fresh(backend).await;
        let matching_db = reemploi_testing::db::fresh(backend).await;
        let impact_db = reemploi_testing::db::fresh(backend).await;
        // The services' pools: on the test databases, or through the proxy.
        let connect = async |test_db: &TestDb, via: Option<SocketAddr>| {
            if via.is_none() && options.acquire_timeout.is_none() {
                return test_db.db.clone();
            }
            let url = match via {
                Some(addr) => reemploi_testing::proxy::url_through(&test_db.url, addr),
                None => test_db.url.clone(),
            };
            let mut db_options = DbOptions::default();
            if let Some(timeout) = options.acquire_timeout {
                db_options.acquire_timeout = timeout;
            }
            Db::connect_with(&url, db_options)
                .await
                .expect("connect a service's pool")
        };
        let context = |db: Db, bus: Arc<dyn Bus>| {
            let mut ctx = testing::context(db, bus);
            ctx.max_deliver = options.max_deliver;
            ctx
        };
        // The identity service first: the others fetch its keys, as
        // separate processes do.
        let identity_db = reemploi_testing::db::fresh(backend).await;
        let ctx = context(identity_db.db.clone(), own_bus().await);
        let identity_dir = ctx.data_dir.clone();
        let identity = reemploi_identity::start(ctx.clone(), &Default::default())
            .await
            .unwrap();
        let identity = testing::spawn(&ctx, vec![identity]).await;
        let identity_addr = identity.addr;
        let auth = reemploi_runtime::config::AuthArgs {
            identity_url: Some(format!("http://{identity_addr}")),
            ..Default::default()
        };
        let matching_pool = connect(&matching_db, options.consumer_db_via).await;
        let mut served = vec![identity];
        for _ in 0..options.matching_replicas {
            let ctx = context(matching_pool.clone(), own_bus().await);
            let running = reemploi_matching::start(ctx.clone(), &Default::default())
                .await
                .unwrap();
            served.push(testing::spawn_with(&ctx, vec![running], &auth).await);
        }
        let notify_db = reemploi_testing::db::fresh(backend).await;
        let ctx = context(notify_db.db.clone(), own_bus().await);
        // Webhooks to receivers the tests run on this machine.
        let notify_args = reemploi_notify::NotifyArgs {
            webhook_allow_private: true,
            webhook_retry_base_ms: 100,
            ..Default::default()
        };
        let (notify, notifier) =
            reemploi_notify::start_service(ctx.clone(), &notify_args, &Default::default())
                .await
                .unwrap();
        let notify = testing::spawn_with(&ctx, vec![notify], &auth).await;
        let notify_addr = notify.addr;
        served.push(notify);
        let ctx = context(impact_db.db.clone(), own_bus().await);
        let impact = reemploi_impact::start(ctx.clone(), &Default::default())
            .await
            .unwrap();
        let impact = testing::spawn_with(&ctx, vec![impact], &auth).await;
        let impact_addr = impact.addr;
        served.push(impact);
        let ctx = context(
            connect(&inventory_db, options.consumer_db_via).await,
            own_bus().await,
        );
        let inventory = reemploi_inventory::start(ctx.clone(), &Default::default())
            .await
            .unwrap();
        let inventory = testing::spawn_with(&ctx, vec![inventory], &auth).await;
        let ctx = context(connect(&registry_db, None).await, own_bus().await);
        let registry = reemploi_registry::start(ctx.clone(), &Default::default())
            .await
            .unwrap();
        let registry = testing::spawn_with(&ctx, vec![registry], &auth).await;
        let matching = served
            .iter()
            .skip(1)
            .take(options.matching_replicas)
            .map(|s| s.addr)
            .collect();
        let (inventory_addr, registry_addr) = (inventory.addr, registry.addr);
        served.extend([inventory, registry]);
        Stack {
            inventory: inventory_addr,
            registry: registry_addr,
            identity: identity_addr,
            identity_dir,
            matching,
            impact: impact_addr,
            bus: shared,
            namespace,
            transport,
            nats_urls,
            stream_replicas: replicas,
            notify: notify_addr,
            notifier,
            served,
            dbs: vec![
                inventory_db,
                registry_db,
                matching_db,
                identity_db,
                impact_db,
                notify_db,
            ],
        }
    }

    /// A bus on which a test can observe this stack's events: the shared
    /// one in process, a connection of its own to the stack's NATS servers
    /// and namespace otherwise.
    pub async fn observer_bus(&self) -> Arc<dyn Bus> {
        match self.transport {
            Transport::InProcess => self.bus.clone(),
            Transport::Nats => {
                bus(
                    self.transport,
                    &self.nats_urls,
                    &self.namespace,
                    self.stream_replicas,
                )
                .await
            }
        }
    }

    /// A pool on the database of `service` (`inventory`, `registry`,
    /// `matching`, `identity` or `impact`), to look inside when a test fails.
    pub fn db(&self, service: &str) -> Db {
        let i = match service {
            "inventory" => 0,
            "registry" => 1,
            "matching" => 2,
            "identity" => 3,
            "impact" => 4,
            "notify" => 5,
            other => panic!("no service {other}"),
        };
        self.dbs[i].db.clone()
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

    /// An inventory client sending `token`.
    pub async fn inventory_with(&self, token: String) -> Inventory {
        InventoryServiceClient::with_interceptor(
            testing::channel(self.inventory).await,
            Bearer(Some(token)),
        )
    }

    /// A client of the audit trail (kept by impact) acting as `role`.
    pub async fn audit(&self, role: Role, org: Option<&str>, partner: Option<&str>) -> Audit {
        let token = testing::token(role, org, partner);
        AuditServiceClient::with_interceptor(
            testing::channel(self.impact).await,
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

    /// A client of the notifications acting as `role`.
    pub async fn notifications(
        &self,
        role: Role,
        org: Option<&str>,
        partner: Option<&str>,
    ) -> Notifications {
        self.notifications_with(testing::token(role, org, partner))
            .await
    }

    /// A client of the notifications sending `token`.
    pub async fn notifications_with(&self, token: String) -> Notifications {
        NotificationServiceClient::with_interceptor(
            testing::channel(self.notify).await,
            Bearer(Some(token)),
        )
    }

    /// An impact client acting as `role`.
    pub async fn impact(&self, role: Role, org: Option<&str>, partner: Option<&str>) -> Impact {
        let token = testing::token(role, org, partner);
        ImpactServiceClient::with_interceptor(
            testing::channel(self.impact).await,
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

/// A partner at (`lat`, `lon`) taking radiators within `radius_km`.
pub fn partner_at(name: &str, siret: &str, lat: f64, lon: f64, radius_km: i32) -> rpb::Partner {
    rpb::Partner {
        legal_name: name.into(),
        siret: siret.into(),
        kinds: vec![rpb::PartnerKind::Aci as i32],
        location: Some(tpb::GeoPoint {
            latitude: lat,
            longitude: lon,
        }),
        accepted_categories: vec!["radiateur".into()],
        weekly_intake_kg: 30_000,
        service_radius_km: radius_km,
        ..Default::default()
    }
}

/// Registers `partner` and verifies it (as `admin`); its name.
pub async fn verified(admin: &mut Registry, partner: rpb::Partner) -> String {
    let p = admin
        .register_partner(rpb::RegisterPartnerRequest {
            partner: Some(partner),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    admin
        .verify_partner(rpb::VerifyPartnerRequest {
            name: p.name.clone(),
            etag: String::new(),
        })
        .await
        .unwrap();
    p.name
}

/// A valid SIRET (Luhn) for test partner `n`.
pub fn siret(n: u32) -> String {
    let body = format!("9{n:012}");
    let sum: u32 = body
        .chars()
        .rev()
        .enumerate()
        .map(|(i, c)| {
            let d = c.to_digit(10).unwrap();
            // The check digit will take the last place: from the right, the
            // body's digits start at an even position, doubled.
            if i % 2 == 0 {
                let twice = d * 2;
                twice / 10 + twice % 10
            } else {
                d
            }
        })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

/// A published lot of `pieces` radiators on `site`; its name.
pub async fn published_radiators(stack: &Stack, site: &str, pieces: i64) -> String {
    let mut manager = stack
        .inventory(Role::SiteManager, Some("m2a-habitat"), None)
        .await;
    let lot = manager
        .create_lot(ipb::CreateLotRequest {
            parent: site.to_string(),
            lot: Some(ipb::Lot {
                designation: "Radiateurs fonte".into(),
                category: "radiateur".into(),
                quantity: Some(tpb::Quantity {
                    unit: tpb::Unit::Piece as i32,
                    milli: pieces * 1000,
                }),
                estimated_mass_g: pieces * 60_000,
                ..Default::default()
            }),
            request_id: String::new(),
            lot_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    manager
        .publish_lot(ipb::PublishLotRequest {
            name: lot.name.clone(),
            etag: String::new(),
        })
        .await
        .unwrap();
    lot.name
}

/// A site of organisation `m2a-habitat` at the Coteaux; its name.
pub async fn coteaux_site(stack: &Stack) -> String {
    let mut manager = stack
        .inventory(Role::SiteManager, Some("m2a-habitat"), None)
        .await;
    manager
        .create_site(ipb::CreateSiteRequest {
            site: Some(ipb::Site {
                display_name: "Coteaux".into(),
                location: Some(tpb::GeoPoint {
                    latitude: 47.7460,
                    longitude: 7.3010,
                }),
                ..Default::default()
            }),
            request_id: String::new(),
            site_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .name
}
