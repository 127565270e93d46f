//! Test support: a real inventory on a real socket (port 0), fresh databases
//! on either backend, tokens for every role, and partners seeded through the
//! partner events the registry would publish.

use std::net::SocketAddr;
use std::sync::Arc;

use prost::Message as _;
use reemploi_events::outbox::Relay;
use reemploi_events::{Bus, InProcessBus, Message};
use reemploi_inventory::{Inventory, InventoryArgs, Settings};
use reemploi_proto::events::{Envelope, envelope::Payload};
use reemploi_proto::inventory::inventory_service_client::InventoryServiceClient;
use reemploi_proto::registry as rpb;
use reemploi_runtime::auth::Role;
use reemploi_store::{Backend, Db};
use reemploi_testing::db::TestDb;
use reemploi_testing::grpc::{self as testing, Bearer};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use uuid::Uuid;

pub use reemploi_testing::grpc::SECRET;
pub const ORG: &str = "org-m2a-habitat";

pub type Client = InventoryServiceClient<InterceptedService<Channel, Bearer>>;

pub struct App {
    pub addr: SocketAddr,
    /// The operations on the same database, for calls the API does not
    /// offer (the sweeper).
    pub inventory: Inventory,
    pub bus: Arc<dyn Bus>,
    pub db: Db,
    /// Its metrics endpoint, serving `/metrics` until it stops.
    pub metrics: SocketAddr,
    server: Option<testing::Spawned>,
    _test_db: Option<TestDb>,
}

pub async fn spawn_app(backend: Backend) -> App {
    let test_db = reemploi_testing::db::fresh(backend).await;
    let db = test_db.db.clone();
    let bus = InProcessBus::temporary().await.expect("in-process bus");
    let mut app = spawn_with(db, Arc::new(bus), Settings::default()).await;
    app._test_db = Some(test_db);
    app
}

pub async fn spawn_with(db: Db, bus: Arc<dyn Bus>, settings: Settings) -> App {
    reemploi_runtime::telemetry::init(reemploi_runtime::config::LogFormat::Pretty);
    let ctx = testing::context(db.clone(), bus.clone());
    let args = InventoryArgs {
        reservation_ttl_secs: settings.reservation_ttl.as_secs(),
        sweep_interval_secs: settings.sweep_interval.as_secs(),
        lot_cache_size: settings.lot_cache_size,
    };
    let running = reemploi_inventory::start(ctx.clone(), &args)
        .await
        .expect("inventory starts");
    let metrics = reemploi_testing::metrics::serve(&ctx.metrics, ctx.stop.clone()).await;
    let served = testing::spawn(&ctx, vec![running]).await;
    let inventory = Inventory::new(
        db.clone(),
        Relay::new(db.clone(), bus.clone()),
        settings,
        reemploi_runtime::paging::Pager::load(&db)
            .await
            .expect("page key"),
        tokio_util::sync::CancellationToken::new(),
    );
    App {
        addr: served.addr,
        inventory,
        bus,
        db,
        metrics,
        server: Some(served),
        _test_db: None,
    }
}

pub fn token(role: Role, org: Option<&str>, partner: Option<Uuid>) -> String {
    testing::token(role, org, partner.map(|p| p.to_string()).as_deref())
}

impl App {
    pub async fn client_with(&self, token: Option<String>) -> Client {
        InventoryServiceClient::with_interceptor(testing::channel(self.addr).await, Bearer(token))
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20)
    }

    pub async fn manager(&self) -> Client {
        self.client_with(Some(token(Role::SiteManager, Some(ORG), None)))
            .await
    }

    pub async fn partner(&self, id: Uuid) -> Client {
        self.client_with(Some(token(Role::Partner, None, Some(id))))
            .await
    }

    /// Publishes a partner event as the registry would.
    pub async fn set_partner(&self, id: Uuid, status: rpb::PartnerStatus, version: i64) {
        let event_id = Uuid::now_v7().to_string();
        let subject = "reemploi.registry.partner.updated".to_string();
        let envelope = Envelope {
            event_id: event_id.clone(),
            event_type: subject.clone(),
            aggregate: format!("partners/{id}"),
            aggregate_version: version,
            producer: "registry".into(),
            payload: Some(Payload::Partner(rpb::Partner {
                name: format!("partners/{id}"),
                status: status as i32,
                version,
                ..Default::default()
            })),
            ..Default::default()
        };
        self.bus
            .publish(&Message {
                subject,
                event_id,
                payload: envelope.encode_to_vec().into(),
                traceparent: None,
            })
            .await
            .expect("partner event published");
        self.wait_partner_version(id, version).await;
    }

    /// Waits until the inventory's projection holds `version` of a partner.
    pub async fn wait_partner_version(&self, id: Uuid, version: i64) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let held: Option<i64> =
                sqlx::query_scalar("SELECT version FROM partners WHERE id = $1")
                    .bind(id.to_string())
                    .fetch_optional(self.db.pool())
                    .await
                    .expect("read the partner projection");
            if held.is_some_and(|v| v >= version) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "partner event never applied"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// A verified partner, known to the inventory.
    pub async fn verified_partner(&self) -> Uuid {
        let id = Uuid::now_v7();
        self.set_partner(id, rpb::PartnerStatus::Verified, 2).await;
        id
    }

    pub async fn stop(mut self) {
        if let Some(served) = self.server.take() {
            served.stop().await.expect("inventory stops cleanly");
        }
    }
}
