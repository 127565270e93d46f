//! Identity across services: the tokens of the identity service are checked
//! by every service against the keys it publishes, and what it revokes is
//! refused everywhere within a second, on both buses.

use std::time::{Duration, Instant};

use reemploi_e2e::{Stack, Transport, eventually};
use reemploi_identity::keys::{Kek, Keys};
use reemploi_identity::model::Grant;
use reemploi_identity::tokens::{Issuer, Token};
use reemploi_proto::identity as idpb;
use reemploi_proto::identity::identity_service_client::IdentityServiceClient;
use reemploi_proto::inventory as ipb;
use reemploi_proto::inventory::inventory_service_client::InventoryServiceClient;
use reemploi_proto::matching as mpb;
use reemploi_proto::matching::matching_service_client::MatchingServiceClient;
use reemploi_proto::registry as rpb;
use reemploi_proto::registry::registry_service_client::RegistryServiceClient;
use reemploi_proto::types as tpb;
use reemploi_runtime::auth::Role;
use reemploi_runtime::status::reason;
use reemploi_testing::grpc::{self as testing, Bearer};
use tonic::Code;

const PASSWORD: &str = "briques-du-Rebberg-1932";

/// The first answer of every service to a token: `Ok` or the status code
/// and reason. One read-only call per service.
async fn answers(stack: &Stack, token: &str) -> Vec<(&'static str, Result<(), (Code, String)>)> {
    let bearer = || Bearer(Some(token.to_owned()));
    let outcome =
        |r: Result<(), tonic::Status>| r.map_err(|s| (s.code(), reason(&s).unwrap_or_default()));
    let mut inventory =
        InventoryServiceClient::with_interceptor(testing::channel(stack.inventory).await, bearer());
    let mut registry =
        RegistryServiceClient::with_interceptor(testing::channel(stack.registry).await, bearer());
    let mut matching = MatchingServiceClient::with_interceptor(
        testing::channel(stack.matching[0]).await,
        bearer(),
    );
    let mut identity =
        IdentityServiceClient::with_interceptor(testing::channel(stack.identity).await, bearer());
    vec![
        (
            "inventory",
            outcome(
                inventory
                    .list_sites(ipb::ListSitesRequest::default())
                    .await
                    .map(drop),
            ),
        ),
        (
            "registry",
            outcome(
                registry
                    .list_partners(rpb::ListPartnersRequest::default())
                    .await
                    .map(drop),
            ),
        ),
        (
            "matching",
            outcome(
                matching
                    .list_lot_matches(mpb::ListLotMatchesRequest {
                        lot: format!(
                            "sites/{}/lots/{}",
                            uuid::Uuid::now_v7(),
                            uuid::Uuid::now_v7()
                        ),
                        ..Default::default()
                    })
                    .await
                    .map(drop)
                    // The lot does not exist: what matters is that the token passed.
                    .or_else(|s| {
                        if s.code() == Code::NotFound {
                            Ok(())
                        } else {
                            Err(s)
                        }
                    }),
            ),
        ),
        (
            "identity",
            outcome(
                identity
                    .list_accounts(idpb::ListAccountsRequest::default())
                    .await
                    .map(drop),
            ),
        ),
    ]
}

async fn identity(
    stack: &Stack,
    token: Option<String>,
) -> IdentityServiceClient<
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, Bearer>,
> {
    IdentityServiceClient::with_interceptor(testing::channel(stack.identity).await, Bearer(token))
}

/// Signs a token with the identity service's current key, as it would, but
/// with the times and audience given: what a clock gone wrong or another
/// deployment would send.
async fn forged(stack: &Stack, now_ms: i64, expires_ms: i64, audience: &str) -> String {
    let kek = Kek::load_or_create(&stack.identity_dir).unwrap();
    let keys = Keys::new(stack.db("identity"), kek, Duration::from_secs(86_400));
    let signer = keys.signer_until(expires_ms).await.unwrap();
    let grant = Grant {
        role: Role::Admin,
        org: None,
        partner: None,
    };
    Issuer {
        issuer: reemploi_runtime::auth::DEFAULT_TOKEN_ISSUER.to_owned(),
        audience: audience.to_owned(),
    }
    .sign(
        &signer,
        Token {
            subject: "accounts/0190c5a3-7b1e-7c4d-8f00-3a2b1c0d9e8f".to_owned(),
            grant: &grant,
            now_ms,
            expires_ms,
            id: uuid::Uuid::now_v7().to_string(),
            session: None,
        },
    )
    .unwrap()
}

async fn every_service_checks_time_and_audience(transport: Transport) {
    let stack = Stack::start(transport).await;
    let now = reemploi_store::now_millis();
    let aud = reemploi_runtime::auth::DEFAULT_TOKEN_AUDIENCE;
    // A good one first: every service has the keys (fetched at its start).
    let good = forged(&stack, now, now + 600_000, aud).await;
    eventually(Duration::from_secs(10), || {
        let stack = &stack;
        let good = good.clone();
        async move {
            answers(stack, &good)
                .await
                .iter()
                .all(|(_, r)| r.is_ok())
                .then_some(())
        }
    })
    .await;
    let cases = [
        (
            "expired",
            forged(&stack, now - 900_000, now - 120_000, aud).await,
            "TOKEN_EXPIRED",
        ),
        (
            "not yet valid",
            forged(&stack, now + 600_000, now + 900_000, aud).await,
            "TOKEN_NOT_YET_VALID",
        ),
        (
            "another audience",
            forged(&stack, now, now + 600_000, "another-platform").await,
            "TOKEN_CLAIMS_INVALID",
        ),
    ];
    for (what, token, expected) in cases {
        for (service, answer) in answers(&stack, &token).await {
            assert_eq!(
                answer,
                Err((Code::Unauthenticated, expected.to_owned())),
                "{what} token at {service}"
            );
        }
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_service_checks_time_and_audience_in_process() {
    every_service_checks_time_and_audience(Transport::InProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_service_checks_time_and_audience_over_nats() {
    every_service_checks_time_and_audience(Transport::Nats).await;
}

/// How long after `revoke` the inventory refuses `token`; it must have
/// accepted it before.
async fn refused_after(stack: &Stack, token: &str, revoke: impl Future<Output = ()>) -> Duration {
    let mut inventory = InventoryServiceClient::with_interceptor(
        testing::channel(stack.inventory).await,
        Bearer(Some(token.to_owned())),
    );
    eventually(Duration::from_secs(10), || {
        let mut c = inventory.clone();
        async move {
            c.list_sites(ipb::ListSitesRequest::default())
                .await
                .ok()
                .map(drop)
        }
    })
    .await;
    revoke.await;
    let start = Instant::now();
    loop {
        match inventory.list_sites(ipb::ListSitesRequest::default()).await {
            Err(s) if reason(&s).as_deref() == Some("TOKEN_REVOKED") => return start.elapsed(),
            Err(s) => panic!("refused for another reason: {s:?}"),
            Ok(_) => {}
        }
        assert!(start.elapsed() < Duration::from_secs(10), "never refused");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn revocations_reach_the_inventory_within_a_second(transport: Transport) {
    let stack = Stack::start(transport).await;
    let mut admin = identity(&stack, Some(testing::token(Role::Admin, None, None))).await;
    // An integrator's API token, revoked.
    let made = admin
        .create_api_token(idpb::CreateApiTokenRequest {
            api_token: Some(idpb::ApiToken {
                display_name: "plateforme régionale".into(),
                expire_time: Some(prost_types_in(30)),
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    let name = made.api_token.unwrap().name;
    let took = refused_after(&stack, &made.secret, async {
        admin
            .revoke_api_token(idpb::RevokeApiTokenRequest { name })
            .await
            .unwrap();
    })
    .await;
    assert!(
        took < Duration::from_secs(1),
        "revoked API token accepted for {took:?}"
    );
    // A site manager's account, disabled.
    let inv = admin
        .create_invitation(idpb::CreateInvitationRequest {
            invitation: Some(idpb::Invitation {
                email: "marie@m2a.example".into(),
                role: idpb::AccountRole::SiteManager as i32,
                org: "m2a-habitat".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    let session = identity(&stack, None)
        .await
        .accept_invitation(idpb::AcceptInvitationRequest {
            code: inv.code,
            password: PASSWORD.into(),
            display_name: "Marie".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let account = session.account.unwrap().name;
    let took = refused_after(&stack, &session.access_token, async {
        admin
            .disable_account(idpb::DisableAccountRequest { name: account })
            .await
            .unwrap();
    })
    .await;
    assert!(
        took < Duration::from_secs(1),
        "disabled account accepted for {took:?}"
    );
    stack.stop().await;
}

fn prost_types_in(days: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: reemploi_store::now_millis() / 1000 + days * 86_400,
        nanos: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revocations_reach_the_inventory_within_a_second_in_process() {
    revocations_reach_the_inventory_within_a_second(Transport::InProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revocations_reach_the_inventory_within_a_second_over_nats() {
    revocations_reach_the_inventory_within_a_second(Transport::Nats).await;
}

/// An ESS structure signs up, registers with the registry under its new
/// partner id, is verified by the territory, and claims a lot: all with
/// the tokens of its own account.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_structure_signs_up_registers_is_verified_and_claims() {
    let stack = Stack::start(Transport::InProcess).await;
    let session = identity(&stack, None)
        .await
        .sign_up(idpb::SignUpRequest {
            email: "camille@arc.example".into(),
            password: PASSWORD.into(),
            display_name: "Camille".into(),
            structure_name: "Atelier Réemploi Coteaux".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let partner = session.account.unwrap().partner;
    let own = Bearer(Some(session.access_token.clone()));
    let registry = RegistryServiceClient::with_interceptor(
        testing::channel(stack.registry).await,
        own.clone(),
    );
    let registered = eventually(Duration::from_secs(10), || {
        let mut r = registry.clone();
        async move {
            r.register_partner(rpb::RegisterPartnerRequest {
                partner: Some(structure()),
                request_id: "signup-registration".into(),
            })
            .await
            .ok()
            .map(tonic::Response::into_inner)
        }
    })
    .await;
    assert_eq!(registered.name, partner);
    // Not verified yet: no claim.
    let lot = lot_on_offer(&stack).await;
    let mut inventory =
        InventoryServiceClient::with_interceptor(testing::channel(stack.inventory).await, own);
    let claim = |request_id: &str| ipb::ClaimLotRequest {
        lot: lot.clone(),
        partner: partner.clone(),
        quantity: Some(tpb::Quantity {
            unit: tpb::Unit::Piece as i32,
            milli: 2_000,
        }),
        request_id: request_id.to_owned(),
        ..Default::default()
    };
    let early = inventory.claim_lot(claim("early")).await.unwrap_err();
    assert_eq!(reason(&early).as_deref(), Some("PARTNER_NOT_ELIGIBLE"));
    stack
        .registry(Role::Admin, None)
        .await
        .verify_partner(rpb::VerifyPartnerRequest {
            name: partner.clone(),
            etag: String::new(),
        })
        .await
        .unwrap();
    let claimed = eventually(Duration::from_secs(15), || {
        let mut c = inventory.clone();
        let req = claim("after-verification");
        async move { c.claim_lot(req).await.ok().map(tonic::Response::into_inner) }
    })
    .await;
    assert_eq!(claimed.partner, partner);
    stack.stop().await;
}

fn structure() -> rpb::Partner {
    rpb::Partner {
        legal_name: "Atelier Réemploi Coteaux".into(),
        siret: "90012345600015".into(),
        kinds: vec![rpb::PartnerKind::Aci as i32],
        location: Some(tpb::GeoPoint {
            latitude: 47.7480,
            longitude: 7.3200,
        }),
        accepted_categories: vec!["radiateur".into()],
        weekly_intake_kg: 8_000,
        service_radius_km: 15,
        ..Default::default()
    }
}

/// A published lot of ten radiators on a new site.
async fn lot_on_offer(stack: &Stack) -> String {
    let mut manager = stack
        .inventory(Role::SiteManager, Some("m2a-habitat"), None)
        .await;
    let site = manager
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
        .into_inner();
    let lot = manager
        .create_lot(ipb::CreateLotRequest {
            parent: site.name,
            lot: Some(ipb::Lot {
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
