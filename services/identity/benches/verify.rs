//! What accounts cost: token verification on every call, and sign-in.
//!
//! In one run:
//!
//! * **GetLot with tokens**: an inventory server (`reemploi_inventory::start`,
//!   SQLite, in-process bus) behind the real bearer check, its key ring
//!   holding the identity service's keys (the JWKS cache, shared in process
//!   as in `reemploi up`); 8 concurrent clients call GetLot with an access
//!   token the identity service signed (EdDSA) for a signed-in site manager.
//! * **baseline**: the same inventory, same database, served with
//!   authentication switched off (every call gets the same principal
//!   without any token), called the same way.
//!
//! Rounds alternate between the two, 5 each; the median throughput of each
//! and their ratio are printed beside the goal (at least 0.9). Rate limits
//! are off on both. Then the cost of one `Authenticator::verify` alone, the
//! first time a token is seen (its signature checked) and again (the token
//! remembered, its expiry and the deny list checked), and the median
//! sign-in time through gRPC with the argon2id parameters,
//! printed with them.
//!
//! ```text
//! cargo bench -p reemploi-identity --bench verify
//! ```
//!
//! `VERIFY_BENCH_SECS` sets the length of one round (default 2 s).

use std::error::Error;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reemploi_events::{Bus, InProcessBus};
use reemploi_proto::identity as idpb;
use reemploi_proto::identity::identity_service_client::IdentityServiceClient;
use reemploi_proto::inventory as pb;
use reemploi_proto::inventory::inventory_service_client::InventoryServiceClient;
use reemploi_proto::inventory::inventory_service_server::InventoryServiceServer;
use reemploi_proto::types as tpb;
use reemploi_runtime::auth::{Authenticator, Principal, Role};
use reemploi_runtime::limit::RateLimits;
use reemploi_runtime::service::{Context, Running};
use reemploi_testing::grpc::{self as testing, Bearer};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

type BoxError = Box<dyn Error + Send + Sync>;
type Res<T> = Result<T, BoxError>;

const CLIENTS: usize = 8;
const ROUNDS: usize = 5;
const GOAL: f64 = 0.9;
const PASSWORD: &str = "radiateurs-en-fonte-1932";
const SIGN_INS: usize = 15;

fn main() -> Res<()> {
    let secs = match std::env::var("VERIFY_BENCH_SECS") {
        Ok(s) => s.parse::<f64>()?,
        Err(_) => 2.0,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(Duration::from_secs_f64(secs)))
}

/// `n` access tokens of one session, each from a refresh of the last.
async fn fresh_tokens(addr: SocketAddr, refresh: &str, n: usize) -> Res<Vec<String>> {
    let mut client = IdentityServiceClient::new(testing::channel(addr).await);
    let mut refresh = refresh.to_owned();
    let mut tokens = Vec::with_capacity(n);
    for _ in 0..n {
        let session = client
            .refresh(idpb::RefreshRequest {
                refresh_token: refresh,
            })
            .await?
            .into_inner();
        refresh = session.refresh_token;
        tokens.push(session.access_token);
    }
    Ok(tokens)
}

/// Microseconds per [`Authenticator::verify`] over `tokens`, each of which
/// must pass.
fn micros_per_verify(auth: &Authenticator, tokens: &[String]) -> Res<f64> {
    let start = Instant::now();
    for token in tokens {
        std::hint::black_box(auth.verify(token))?;
    }
    Ok(start.elapsed().as_secs_f64() / tokens.len() as f64 * 1e6)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// A context on a fresh SQLite database of `dir`, without rate limits.
async fn context(dir: &std::path::Path, name: &str, bus: Arc<dyn Bus>) -> Res<Context> {
    let url = reemploi_store::Db::sqlite_url(dir, name)?;
    let db = reemploi_store::Db::connect(&url).await?;
    let mut ctx = testing::context(db, bus);
    ctx.auth = ctx.auth.with_rate_limits(RateLimits::none());
    ctx.data_dir = dir.join(name);
    Ok(ctx)
}

async fn run(round: Duration) -> Res<()> {
    let dir = tempfile::tempdir()?;
    let bus: Arc<dyn Bus> = Arc::new(InProcessBus::temporary().await?);
    let id_ctx = context(dir.path(), "identity", bus.clone()).await?;
    let identity = reemploi_identity::start(id_ctx.clone(), &Default::default()).await?;
    let identity = testing::spawn(&id_ctx, vec![identity]).await;
    let session = signed_in_manager(identity.addr).await?;

    // The inventory verifies with the identity service's keys, in process.
    let mut inv_ctx = context(dir.path(), "inventory", bus.clone()).await?;
    inv_ctx.auth = id_ctx.auth.clone();
    let inventory = reemploi_inventory::start(inv_ctx.clone(), &Default::default()).await?;
    let authed = testing::spawn(&inv_ctx, vec![inventory]).await;
    let open = open_inventory(&inv_ctx).await?;
    let lot = lot(authed.addr, &session.access_token).await?;

    let mut with_tokens = Vec::new();
    let mut without = Vec::new();
    for _ in 0..ROUNDS {
        with_tokens.push(throughput(authed.addr, Some(&session.access_token), &lot, round).await?);
        without.push(throughput(open.addr, None, &lot, round).await?);
    }
    let (a, b) = (median(with_tokens), median(without));
    println!("GetLot, {CLIENTS} clients, {ROUNDS} alternating rounds of {round:?}, medians:");
    println!("  with EdDSA tokens (JWKS cache):  {a:>9.0} calls/s");
    println!("  authentication off (baseline):   {b:>9.0} calls/s");
    println!(
        "  ratio {:.3} (goal: at least {GOAL}) {}",
        a / b,
        if a / b >= GOAL { "met" } else { "NOT met" }
    );

    // First sight of a token (its signature checked) against a repeat (the
    // token remembered): fresh authenticators over the same key ring.
    let tokens = fresh_tokens(identity.addr, &session.refresh_token, 200).await?;
    let ring = id_ctx.auth.key_ring().clone();
    let (issuer, audience) = (id_ctx.auth.token_issuer(), id_ctx.auth.token_audience());
    let (mut first, mut again) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        let auth = Authenticator::issued_by(issuer, audience, ring.clone());
        first.push(micros_per_verify(&auth, &tokens)?);
        again.push(micros_per_verify(&auth, &tokens)?);
    }
    println!(
        "Authenticator::verify alone, median of 7 x {} tokens: {:.1} µs the first time \
         (EdDSA signature), {:.2} µs again (remembered)",
        tokens.len(),
        median(first),
        median(again)
    );

    let mut times = Vec::new();
    let mut client = IdentityServiceClient::new(testing::channel(identity.addr).await);
    for _ in 0..SIGN_INS {
        let start = Instant::now();
        client
            .sign_in(idpb::SignInRequest {
                email: "bench@m2a.example".into(),
                password: PASSWORD.into(),
            })
            .await?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "SignIn: median {:.1} ms over {SIGN_INS} (argon2id m={} KiB, t={}, p={}, {} B output)",
        median(times),
        reemploi_identity::password::MEMORY_KIB,
        reemploi_identity::password::ITERATIONS,
        reemploi_identity::password::PARALLELISM,
        reemploi_identity::password::OUTPUT_BYTES,
    );
    authed.stop().await?;
    open.stop().await?;
    identity.stop().await?;
    Ok(())
}

/// A site manager invited by a development admin token and signed in.
async fn signed_in_manager(addr: SocketAddr) -> Res<idpb::Session> {
    let mut admin = IdentityServiceClient::with_interceptor(
        testing::channel(addr).await,
        Bearer(Some(testing::token(Role::Admin, None, None))),
    );
    let invitation = admin
        .create_invitation(idpb::CreateInvitationRequest {
            invitation: Some(idpb::Invitation {
                email: "bench@m2a.example".into(),
                role: idpb::AccountRole::SiteManager as i32,
                org: "m2a-habitat".into(),
                ..Default::default()
            }),
        })
        .await?
        .into_inner();
    Ok(IdentityServiceClient::new(testing::channel(addr).await)
        .accept_invitation(idpb::AcceptInvitationRequest {
            code: invitation.code,
            password: PASSWORD.into(),
            display_name: "Banc d'essai".into(),
        })
        .await?
        .into_inner())
}

/// The same inventory, on the same database, with authentication off: each
/// call gets the site manager's principal without a token.
async fn open_inventory(ctx: &Context) -> Res<testing::Spawned> {
    let prepared = ctx
        .prepare("inventory", &reemploi_inventory::migrations())
        .await?;
    let inventory = reemploi_inventory::Inventory::new(
        ctx.db.clone(),
        prepared.relay,
        Default::default(),
        prepared.pager,
        ctx.shutdown.clone(),
    );
    let principal = Principal {
        subject: "bench".into(),
        role: Role::SiteManager,
        org: Some("m2a-habitat".into()),
        partner: None,
    };
    let open = InterceptedService::new(
        InventoryServiceServer::new(inventory),
        move |mut req: tonic::Request<()>| {
            req.extensions_mut().insert(principal.clone());
            Ok(req)
        },
    );
    let running = Running::new(reemploi_proto::service_names::INVENTORY, |routes| {
        routes.add_service(open)
    });
    // Its own stop tokens: stopping it must not stop the other server.
    let mut own = ctx.clone();
    own.shutdown = tokio_util::sync::CancellationToken::new();
    own.stop = tokio_util::sync::CancellationToken::new();
    Ok(testing::spawn(&own, vec![running]).await)
}

type Inventory = InventoryServiceClient<InterceptedService<Channel, Bearer>>;

async fn lot(addr: SocketAddr, token: &str) -> Res<String> {
    let mut c: Inventory = InventoryServiceClient::with_interceptor(
        testing::channel(addr).await,
        Bearer(Some(token.to_owned())),
    );
    let site = c
        .create_site(pb::CreateSiteRequest {
            site: Some(pb::Site {
                display_name: "Coteaux".into(),
                owner_org: "m2a-habitat".into(),
                location: Some(tpb::GeoPoint {
                    latitude: 47.746,
                    longitude: 7.301,
                }),
                ..Default::default()
            }),
            request_id: String::new(),
            site_id: String::new(),
        })
        .await?
        .into_inner();
    Ok(c.create_lot(pb::CreateLotRequest {
        parent: site.name,
        lot: Some(pb::Lot {
            designation: "Radiateurs fonte".into(),
            category: "radiateur".into(),
            quantity: Some(tpb::Quantity {
                unit: tpb::Unit::Piece as i32,
                milli: 10_000,
            }),
            estimated_mass_g: 600_000,
            ..Default::default()
        }),
        request_id: String::new(),
        lot_id: String::new(),
    })
    .await?
    .into_inner()
    .name)
}

/// Calls per second of GetLot by CLIENTS clients for `round`.
async fn throughput(addr: SocketAddr, token: Option<&str>, lot: &str, round: Duration) -> Res<f64> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CLIENTS {
        let mut c: Inventory = InventoryServiceClient::with_interceptor(
            testing::channel(addr).await,
            Bearer(token.map(str::to_owned)),
        );
        let name = lot.to_owned();
        tasks.spawn(async move {
            let end = Instant::now() + round;
            let mut calls = 0u64;
            while Instant::now() < end {
                c.get_lot(pb::GetLotRequest { name: name.clone() }).await?;
                calls += 1;
            }
            Ok::<u64, tonic::Status>(calls)
        });
    }
    let mut total = 0;
    while let Some(done) = tasks.join_next().await {
        total += done??;
    }
    Ok(total as f64 / round.as_secs_f64())
}
