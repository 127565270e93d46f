//! Upgrades: every migration is run over a database of the schema before it
//! holding rows (`tests/fixtures/upgrade/{sqlite,postgres}/NNNN.sql`), then
//! the identity service starts on it: old accounts sign in with their
//! password, tokens are signed by the key that signed before (sealed with
//! the same key-encryption key), a withdrawn key stays withdrawn.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reemploi_events::InProcessBus;
use reemploi_proto::identity as pb;
use reemploi_proto::identity::identity_service_client::IdentityServiceClient;
use reemploi_runtime::auth::Role;
use reemploi_store::Backend;
use reemploi_testing::grpc::{self as testing, Bearer};
use reemploi_testing::on_both_backends;
use reemploi_testing::upgrade::{Seeded, Upgrade};
use tonic::Code;

/// The key-encryption key the fixtures' signing keys are sealed with.
const KEK: &str = "abababababababababababababababababababababababababababababababab";
/// The key that signs in the fixtures, and the withdrawn one.
const SIGNING_KID: &str = "0190a00e00007000800000000000000b";
const WITHDRAWN_KID: &str = "0190a00e00007000800000000000000a";
/// The outbox row the fixtures leave unrelayed.
const PENDING_EVENT: &str = "0190a00a-0000-7000-8000-000000000002";

fn upgrade() -> Upgrade {
    Upgrade::new(
        reemploi_identity::migrations(),
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/upgrade"),
    )
}

on_both_backends!(every_migration_keeps_the_rows_before_it);

/// A migration cannot land without a fixture of the schema before it.
#[test]
fn every_migration_has_a_fixture_of_the_schema_before_it() {
    upgrade().check_fixtures();
}

async fn every_migration_keeps_the_rows_before_it(backend: Backend) {
    let upgrade = upgrade();
    for from in upgrade.from_versions() {
        let seeded = upgrade.seeded(backend, from).await;
        seeded.upgrade(&reemploi_identity::migrations()).await;
        served_after_upgrade(&seeded).await;
    }
}

async fn served_after_upgrade(seeded: &Seeded) {
    let from = seeded.from;
    let bus = InProcessBus::temporary().await.expect("in-process bus");
    let ctx = testing::context(seeded.db().clone(), Arc::new(bus));
    let args = reemploi_identity::IdentityArgs {
        key_encryption_key: Some(KEK.to_owned()),
        ..Default::default()
    };
    let running = reemploi_identity::start(ctx.clone(), &args)
        .await
        .unwrap_or_else(|e| panic!("from {from}: identity starts: {e}"));
    let served = testing::spawn(&ctx, vec![running]).await;
    let channel = testing::channel(served.addr).await;
    let mut anyone = IdentityServiceClient::with_interceptor(channel.clone(), Bearer(None));
    let sign_in = |email: &str| pb::SignInRequest {
        email: email.into(),
        password: super::PASSWORD.into(),
    };

    let session = anyone
        .sign_in(sign_in("chef-de-projet@m2a-habitat.example"))
        .await
        .unwrap_or_else(|e| panic!("from {from}: an old account signs in: {e}"))
        .into_inner();
    assert!(
        token_kid(&session.access_token).contains(SIGNING_KID),
        "from {from}: signed by the key that signed before"
    );
    let disabled = anyone
        .sign_in(sign_in("ancien@arc.example"))
        .await
        .expect_err("a disabled account signed in");
    assert_eq!(disabled.code(), Code::Unauthenticated, "from {from}");

    let jwks = anyone
        .get_jwks(pb::GetJwksRequest {})
        .await
        .expect("the JWKS")
        .into_inner();
    let kids: Vec<&str> = jwks.keys.iter().map(|k| k.kid.as_str()).collect();
    assert!(kids.contains(&SIGNING_KID), "from {from}: {kids:?}");
    assert!(!kids.contains(&WITHDRAWN_KID), "from {from}: {kids:?}");

    let admin = Bearer(Some(testing::token(Role::Admin, None, None)));
    let accounts = IdentityServiceClient::with_interceptor(channel, admin)
        .list_accounts(pb::ListAccountsRequest::default())
        .await
        .unwrap_or_else(|e| panic!("from {from}: accounts: {e}"))
        .into_inner()
        .accounts;
    assert_eq!(accounts.len(), 5, "from {from}");

    seeded.wait_relayed(PENDING_EVENT).await;
    served.stop().await.expect("identity stops");
}

/// The header of a JWT, as text.
fn token_kid(jwt: &str) -> String {
    let header = jwt.split('.').next().unwrap_or_default();
    String::from_utf8(URL_SAFE_NO_PAD.decode(header).expect("a JWT header")).expect("JSON")
}
