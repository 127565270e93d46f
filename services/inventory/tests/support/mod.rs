//! Test support: a real inventory on a real socket (port 0), fresh databases
//! on either backend, tokens for every role, and partners seeded through the
//! partner events the registry would publish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prost::Message as _;
use reemploi_events::{Bus, InProcessBus, Message};
use reemploi_inventory::{Inventory, Settings};
use reemploi_proto::events::{Envelope, envelope::Payload};
use reemploi_proto::inventory::inventory_service_client::InventoryServiceClient;
use reemploi_proto::registry as rpb;
use reemploi_runtime::auth::{Authenticator, Role, claims_for, issue_hs256};
use reemploi_runtime::config::ServerArgs;
use reemploi_store::testing::TestDb;
use reemploi_store::{Backend, Db};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use uuid::Uuid;

pub const SECRET: &[u8] = b"test-secret-of-at-least-32-bytes!!";
pub const ORG: &str = "org-m2a-habitat";

#[derive(Clone)]
pub struct Bearer(pub Option<String>);

impl Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(token) = &self.0 {
            let value = format!("Bearer {token}")
                .parse()
                .map_err(|_| tonic::Status::internal("header"))?;
            req.metadata_mut().insert("authorization", value);
        }
        Ok(req)
    }
}

pub type Client = InventoryServiceClient<InterceptedService<Channel, Bearer>>;

pub struct App {
    pub addr: SocketAddr,
    pub inventory: Inventory,
    pub bus: Arc<dyn Bus>,
    pub db: Db,
    pub shutdown: CancellationToken,
    server: Option<JoinHandle<()>>,
    tasks: Option<tokio::task::JoinSet<()>>,
    _test_db: Option<TestDb>,
}

pub async fn spawn_app(backend: Backend) -> App {
    let test_db = reemploi_store::testing::fresh(backend).await;
    let db = test_db.db.clone();
    let mut app = spawn_with(db, Arc::new(InProcessBus::new()), Settings::default()).await;
    app._test_db = Some(test_db);
    app
}

pub async fn spawn_with(db: Db, bus: Arc<dyn Bus>, settings: Settings) -> App {
    reemploi_runtime::telemetry::init(reemploi_runtime::config::LogFormat::Pretty);
    let shutdown = CancellationToken::new();
    let args = ServerArgs {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..ServerArgs::default()
    };
    let running = reemploi_inventory::start(
        db.clone(),
        bus.clone(),
        settings,
        Authenticator::hs256(SECRET),
        args.max_message_bytes,
        shutdown.clone(),
    )
    .await
    .expect("inventory starts");
    let (listener, addr) = reemploi_runtime::server::bind(args.listen).await.unwrap();
    let server = reemploi_runtime::server::Server::new(
        &args,
        &[reemploi_proto::FILE_DESCRIPTOR_SET],
        &[reemploi_proto::service_names::INVENTORY],
    )
    .with_drain_delay(Duration::ZERO);
    let routes = tonic::service::Routes::new(running.service);
    let stop = shutdown.clone();
    let handle = tokio::spawn(async move {
        server
            .serve(listener, routes, stop)
            .await
            .expect("server runs");
    });
    App {
        addr,
        inventory: running.inventory,
        bus,
        db,
        shutdown,
        server: Some(handle),
        tasks: Some(running.tasks),
        _test_db: None,
    }
}

pub fn token(role: Role, org: Option<&str>, partner: Option<Uuid>) -> String {
    let claims = claims_for(
        role,
        org.map(str::to_string),
        partner.map(|p| p.to_string()),
        Duration::from_secs(600),
    );
    issue_hs256(SECRET, &claims).unwrap()
}

impl App {
    pub async fn client_with(&self, token: Option<String>) -> Client {
        let channel = Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap();
        InventoryServiceClient::with_interceptor(channel, Bearer(token))
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
            })
            .await
            .expect("partner event delivered");
    }

    /// A verified partner, known to the inventory.
    pub async fn verified_partner(&self) -> Uuid {
        let id = Uuid::now_v7();
        self.set_partner(id, rpb::PartnerStatus::Verified, 2).await;
        id
    }

    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(h) = self.server.take() {
            let _ = h.await;
        }
        if let Some(mut t) = self.tasks.take() {
            while t.join_next().await.is_some() {}
        }
    }
}
