//! Tests of reemploi-runtime: authentication, rate limits, configuration,
//! secrets, status helpers and the gRPC server (TLS and mutual TLS, health,
//! reflection, shutdown).

// Test helpers outside #[test] functions may panic too: a failed setup is a
// failed test.
#![allow(clippy::unwrap_used)]

#[path = "runtime/nats_tls.rs"]
mod nats_tls;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clap::Parser;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reemploi_runtime::auth::{
    self, AuthError, AuthInterceptor, Authenticator, Claims, Principal, Role,
};
use reemploi_runtime::config::{
    AuthArgs, BusArgs, LimitArgs, LogFormat, MetricsArgs, ServerArgs, StoreArgs, TelemetryArgs,
};
use reemploi_runtime::limit::{Limit, RateLimits, RetryAfter};
use reemploi_runtime::server::{self, Server, TlsMode};
use reemploi_runtime::{status, telemetry};
use tokio_util::sync::CancellationToken;
use tonic::service::Interceptor;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const SECRET: &[u8] = b"test-secret-0123456789abcdef0123";

// Test-only keys generated once with `openssl genpkey`; they protect nothing.
const ED_PRIVATE: &[u8] = include_bytes!("keys/ed25519_private.pem");
const ED_PUBLIC: &[u8] = include_bytes!("keys/ed25519_public.pem");
const RSA_PRIVATE: &[u8] = include_bytes!("keys/rsa_private.pem");
const RSA_PUBLIC: &[u8] = include_bytes!("keys/rsa_public.pem");

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn partner_claims() -> Claims {
    auth::claims_for(
        Role::Partner,
        None,
        Some("partner-42".to_owned()),
        Duration::from_secs(3600),
    )
}

// ---------------------------------------------------------------- auth

#[test]
fn hs256_round_trip() {
    let token = auth::issue_hs256(SECRET, &partner_claims()).unwrap();
    let principal = Authenticator::hs256(SECRET).verify(&token).unwrap();
    assert_eq!(
        principal,
        Principal {
            subject: "dev:partner".to_owned(),
            role: Role::Partner,
            org: None,
            partner: Some("partner-42".to_owned()),
        }
    );
}

#[test]
fn unverified_claims_read_any_signature_but_not_garbage() {
    // Signed with a key the reader does not know: still read, since only
    // the server decides what a token is worth.
    let token = auth::issue_hs256(b"a-key-nobody-here-has", &partner_claims()).unwrap();
    let claims = auth::unverified_claims(&token).unwrap();
    assert_eq!(claims.partner.as_deref(), Some("partner-42"));
    assert_eq!(claims.role, Role::Partner);
    for bad in ["", "not-a-token", "a.b.c"] {
        assert!(
            matches!(auth::unverified_claims(bad), Err(AuthError::Malformed)),
            "{bad:?}"
        );
    }
}

#[test]
fn wrong_secret_is_bad_signature() {
    let token = auth::issue_hs256(SECRET, &partner_claims()).unwrap();
    let err = Authenticator::hs256(b"another-secret")
        .verify(&token)
        .unwrap_err();
    assert!(matches!(err, AuthError::BadSignature), "{err:?}");
}

#[test]
fn tampered_payload_is_bad_signature() {
    let token = auth::issue_hs256(SECRET, &partner_claims()).unwrap();
    let admin = auth::issue_hs256(
        b"attacker",
        &auth::claims_for(Role::Admin, None, None, Duration::from_secs(60)),
    )
    .unwrap();
    // Header and signature of the genuine token, payload of the forged one.
    let parts: Vec<&str> = token.split('.').collect();
    let forged_payload = admin.split('.').nth(1).unwrap();
    let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    let err = Authenticator::hs256(SECRET).verify(&forged).unwrap_err();
    assert!(matches!(err, AuthError::BadSignature), "{err:?}");
}

#[test]
fn expired_token_is_refused_but_leeway_applies() {
    let auth = Authenticator::hs256(SECRET);
    let mut claims = partner_claims();
    claims.iat = now() - 3600;
    claims.exp = now() - 120;
    let token = auth::issue_hs256(SECRET, &claims).unwrap();
    let err = auth.verify(&token).unwrap_err();
    assert!(matches!(err, AuthError::Expired), "{err:?}");

    // 10 s past expiry is within the 30 s leeway.
    claims.exp = now() - 10;
    let token = auth::issue_hs256(SECRET, &claims).unwrap();
    assert!(auth.verify(&token).is_ok());
}

#[test]
fn malformed_and_missing_tokens() {
    let auth = Authenticator::hs256(SECRET);
    for token in ["garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30"] {
        let err = auth.verify(token).unwrap_err();
        assert!(matches!(err, AuthError::Malformed), "{token}: {err:?}");
    }
    assert!(matches!(auth.verify("  "), Err(AuthError::Missing)));
}

#[test]
fn role_specific_claims_are_required() {
    let auth = Authenticator::hs256(SECRET);
    let ttl = Duration::from_secs(60);

    let partner = auth::claims_for(Role::Partner, Some("org-1".into()), None, ttl);
    let err = auth
        .verify(&auth::issue_hs256(SECRET, &partner).unwrap())
        .unwrap_err();
    assert!(
        matches!(err, AuthError::InvalidClaims(ref m) if m.contains("partner")),
        "{err:?}"
    );

    let manager = auth::claims_for(Role::SiteManager, None, Some("p".into()), ttl);
    let err = auth
        .verify(&auth::issue_hs256(SECRET, &manager).unwrap())
        .unwrap_err();
    assert!(
        matches!(err, AuthError::InvalidClaims(ref m) if m.contains("org")),
        "{err:?}"
    );

    let manager = auth::claims_for(Role::SiteManager, Some("org-1".into()), None, ttl);
    let principal = auth
        .verify(&auth::issue_hs256(SECRET, &manager).unwrap())
        .unwrap();
    assert_eq!(principal.role, Role::SiteManager);
    assert_eq!(principal.org.as_deref(), Some("org-1"));

    // Admins and integrators need neither.
    for role in [Role::Admin, Role::Integrator] {
        let claims = auth::claims_for(role, None, None, ttl);
        assert_eq!(
            auth.verify(&auth::issue_hs256(SECRET, &claims).unwrap())
                .unwrap()
                .role,
            role
        );
    }
}

#[test]
fn unknown_role_in_token_is_invalid_claims() {
    let claims =
        serde_json::json!({"sub": "x", "role": "superuser", "exp": now() + 60, "iat": now()});
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap();
    let err = Authenticator::hs256(SECRET).verify(&token).unwrap_err();
    assert!(matches!(err, AuthError::InvalidClaims(_)), "{err:?}");
}

#[test]
fn eddsa_token_verifies_with_public_key() {
    let auth = Authenticator::from_public_key_pem(ED_PUBLIC).unwrap();
    assert!(format!("{auth:?}").contains("Ed25519"));
    let key = EncodingKey::from_ed_pem(ED_PRIVATE).unwrap();
    let token =
        jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &partner_claims(), &key).unwrap();
    let principal = auth.verify(&token).unwrap();
    assert_eq!(principal.partner.as_deref(), Some("partner-42"));

    // An HS256 token must not pass a public-key verifier.
    let hs = auth::issue_hs256(SECRET, &partner_claims()).unwrap();
    assert!(matches!(auth.verify(&hs), Err(AuthError::BadSignature)));
}

/// The base64url `x` of the test Ed25519 public key: the last 32 bytes of
/// its DER.
fn ed_public_x() -> String {
    use base64::Engine as _;
    let pem = std::str::from_utf8(ED_PUBLIC).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&der[der.len() - 32..])
}

#[test]
fn a_token_that_passed_still_meets_its_expiry_its_key_and_the_deny_list() {
    let ring = reemploi_runtime::keys::KeyRing::default();
    let held = [reemploi_runtime::keys::PublicKey {
        kid: "k1".to_owned(),
        x: ed_public_x(),
    }];
    ring.replace(&held);
    let auth = Authenticator::issued_by("issuer", "audience", ring.clone());
    let key = EncodingKey::from_ed_pem(ED_PRIVATE).unwrap();
    let sign = |exp: u64| {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some("k1".to_owned());
        let claims = serde_json::json!({
            "sub": "accounts/a", "role": "admin", "iss": "issuer", "aud": "audience",
            "iat": now(), "nbf": now(), "exp": exp,
        });
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    };
    let token = sign(now() + 600);
    assert_eq!(auth.verify(&token).unwrap().subject, "accounts/a");
    assert_eq!(auth.verify(&token).unwrap().subject, "accounts/a");

    // Its key leaves the ring: refused, though it passed before.
    ring.replace(&[]);
    assert!(matches!(auth.verify(&token), Err(AuthError::UnknownKey)));
    ring.replace(&held);
    assert!(auth.verify(&token).is_ok());

    // Its subject is revoked: refused on the next call.
    auth.deny_list().revoke(
        "accounts/a",
        i64::try_from(now() * 1000).unwrap(),
        i64::try_from(now() + 600).unwrap(),
    );
    assert!(matches!(auth.verify(&token), Err(AuthError::Revoked)));

    // One that passed a second before its end (with the leeway) is refused
    // once it is over.
    let other = Authenticator::issued_by("issuer", "audience", ring);
    let token = sign(now() + 1 - auth::LEEWAY_SECS);
    assert!(other.verify(&token).is_ok());
    std::thread::sleep(Duration::from_millis(2100));
    assert!(matches!(other.verify(&token), Err(AuthError::Expired)));
}

#[test]
fn rs256_token_verifies_with_public_key() {
    let auth = Authenticator::from_public_key_pem(RSA_PUBLIC).unwrap();
    assert!(format!("{auth:?}").contains("Rsa"));
    let key = EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap();
    let token =
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &partner_claims(), &key).unwrap();
    assert_eq!(auth.verify(&token).unwrap().role, Role::Partner);

    // Signed with the Ed25519 key: refused.
    let ed = EncodingKey::from_ed_pem(ED_PRIVATE).unwrap();
    let token =
        jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &partner_claims(), &ed).unwrap();
    assert!(auth.verify(&token).is_err());
}

#[test]
fn non_key_pem_is_rejected() {
    let err = Authenticator::from_public_key_pem(
        b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    )
    .unwrap_err();
    assert!(matches!(err, AuthError::InvalidKey(_)), "{err:?}");
    assert!(Authenticator::from_public_key_pem(b"not a pem").is_err());
}

#[test]
fn from_args_picks_the_configured_key() {
    // Without a static key only the identity service's tokens verify, once
    // its keys are in the ring; whether that is enough is the process's call.
    let bare = Authenticator::from_args(&AuthArgs::default()).unwrap();
    assert!(!bare.has_static_key());
    assert!(matches!(
        bare.verify(&auth::issue_hs256(SECRET, &partner_claims()).unwrap()),
        Err(AuthError::BadSignature)
    ));

    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("ed25519.pem");
    std::fs::write(&key_path, ED_PUBLIC).unwrap();
    let args = AuthArgs {
        jwt_public_key: Some(key_path),
        jwt_issuer: Some("https://id.reemploi.eu".into()),
        jwt_audience: Some("reemploi-api".into()),
        ..AuthArgs::default()
    };
    assert!(format!("{:?}", Authenticator::from_args(&args).unwrap()).contains("Ed25519"));

    let missing = AuthArgs {
        jwt_public_key: Some(dir.path().join("absent.pem")),
        ..args.clone()
    };
    assert!(matches!(
        Authenticator::from_args(&missing),
        Err(AuthError::KeyFile(..))
    ));

    let both = AuthArgs {
        jwt_secret: Some("s".into()),
        jwt_public_key: Some(dir.path().join("ed25519.pem")),
        ..AuthArgs::default()
    };
    assert!(matches!(
        Authenticator::from_args(&both),
        Err(AuthError::InvalidKey(_))
    ));
}

#[test]
fn issuer_and_audience_are_checked_when_configured() {
    let args = AuthArgs {
        jwt_secret: Some(String::from_utf8(SECRET.to_vec()).unwrap()),
        jwt_issuer: Some("https://id.reemploi.eu".into()),
        jwt_audience: Some("reemploi-api".into()),
        ..AuthArgs::default()
    };
    let auth = Authenticator::from_args(&args).unwrap();
    let claims = partner_claims();
    let good = auth::issue_hs256_with(
        SECRET,
        &claims,
        Some("https://id.reemploi.eu"),
        Some("reemploi-api"),
    )
    .unwrap();
    assert!(auth.verify(&good).is_ok());

    let wrong_iss =
        auth::issue_hs256_with(SECRET, &claims, Some("https://evil"), Some("reemploi-api"))
            .unwrap();
    assert!(matches!(
        auth.verify(&wrong_iss),
        Err(AuthError::InvalidClaims(_))
    ));
    let wrong_aud = auth::issue_hs256_with(
        SECRET,
        &claims,
        Some("https://id.reemploi.eu"),
        Some("other"),
    )
    .unwrap();
    assert!(matches!(
        auth.verify(&wrong_aud),
        Err(AuthError::InvalidClaims(_))
    ));
    let none = auth::issue_hs256(SECRET, &claims).unwrap();
    assert!(matches!(
        auth.verify(&none),
        Err(AuthError::InvalidClaims(_))
    ));

    // Without configured audience a token carrying one is still accepted.
    assert!(Authenticator::hs256(SECRET).verify(&good).is_ok());
}

#[test]
fn roles_have_stable_names() {
    for (role, name) in [
        (Role::SiteManager, "site_manager"),
        (Role::Partner, "partner"),
        (Role::Admin, "admin"),
        (Role::Integrator, "integrator"),
    ] {
        assert_eq!(role.as_str(), name);
        assert_eq!(Role::parse(name).unwrap(), role);
        assert_eq!(name.parse::<Role>().unwrap(), role);
        assert_eq!(serde_json::to_string(&role).unwrap(), format!("\"{name}\""));
    }
    assert!(matches!(
        Role::parse("Admin"),
        Err(AuthError::UnknownRole(_))
    ));
}

#[test]
fn claims_skip_absent_org_and_partner() {
    let claims = auth::claims_for(Role::Admin, None, None, Duration::from_secs(60));
    let json = serde_json::to_value(&claims).unwrap();
    assert!(
        json.get("org").is_none() && json.get("partner").is_none(),
        "{json}"
    );
    assert_eq!(json["role"], "admin");
    assert_eq!(claims.exp - claims.iat, 60);
}

fn request_with(auth_header: Option<&str>) -> tonic::Request<()> {
    let mut req = tonic::Request::new(());
    if let Some(value) = auth_header {
        req.metadata_mut()
            .insert("authorization", value.parse().unwrap());
    }
    req
}

#[test]
fn interceptor_inserts_principal_or_refuses() {
    let mut interceptor = AuthInterceptor::new(Authenticator::hs256(SECRET));
    let token = auth::issue_hs256(SECRET, &partner_claims()).unwrap();

    let req = interceptor
        .call(request_with(Some(&format!("Bearer {token}"))))
        .unwrap();
    assert_eq!(
        auth::principal(&req).unwrap().partner.as_deref(),
        Some("partner-42")
    );
    // The scheme is case-insensitive.
    assert!(
        interceptor
            .call(request_with(Some(&format!("bearer {token}"))))
            .is_ok()
    );

    let err = interceptor.call(request_with(None)).unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    assert!(err.message().contains("missing"), "{}", err.message());

    let err = interceptor
        .call(request_with(Some(&format!("Basic {token}"))))
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);

    let bad = auth::issue_hs256(b"other", &partner_claims()).unwrap();
    let err = interceptor
        .call(request_with(Some(&format!("Bearer {bad}"))))
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    assert!(
        !err.message().contains(&bad),
        "the token must not be echoed"
    );

    // Without the interceptor there is no principal.
    let err = auth::principal(&request_with(None)).unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
}

#[test]
fn secret_file_is_created_once_with_mode_0600() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/jwt.secret");
    let first = auth::load_or_create_secret(&path).unwrap();
    assert_eq!(first.len(), 64);
    assert!(first.chars().all(|c| c.is_ascii_hexdigit()));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "mode {mode:o}");
    let second = auth::load_or_create_secret(&path).unwrap();
    assert_eq!(first, second);

    // A fresh path gets a different secret.
    let other = auth::load_or_create_secret(&dir.path().join("other.secret")).unwrap();
    assert_ne!(first, other);

    // An empty file is an error, not an empty secret.
    let empty = dir.path().join("empty.secret");
    std::fs::write(&empty, "\n").unwrap();
    assert!(auth::load_or_create_secret(&empty).is_err());
}

// ---------------------------------------------------------------- config

#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    bus: BusArgs,
    #[command(flatten)]
    auth: AuthArgs,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    telemetry: TelemetryArgs,
    #[command(flatten)]
    metrics: MetricsArgs,
}

#[test]
fn flags_parse_and_defaults_hold() {
    let cli = Cli::try_parse_from([
        "svc",
        "--listen",
        "0.0.0.0:9000",
        "--log-format",
        "json",
        "--jwt-secret",
        "hunter2-secret",
        "--database-url",
        "postgres://app:pa55word@db/reemploi",
        "--nats-url",
        "nats://user:natspass@nats:4222",
        "--event-namespace",
        "t1",
        "--metrics-listen",
        "127.0.0.1:9464",
    ])
    .unwrap();
    assert_eq!(
        cli.metrics.metrics_listen,
        Some("127.0.0.1:9464".parse::<SocketAddr>().unwrap())
    );
    assert_eq!(
        cli.server.listen,
        "0.0.0.0:9000".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(cli.telemetry.log_format, LogFormat::Json);
    assert_eq!(cli.bus.event_namespace.as_deref(), Some("t1"));
    assert_eq!(cli.auth.jwt_secret.as_deref(), Some("hunter2-secret"));

    // Secrets never appear in Debug output.
    let debug = format!("{cli:?}");
    for secret in [
        "hunter2-secret",
        "pa55word",
        "natspass",
        "postgres://",
        "nats://",
    ] {
        assert!(!debug.contains(secret), "{secret} leaked in {debug}");
    }
    assert!(debug.contains("<redacted>"));

    // These defaults hold unless the environment overrides them.
    if std::env::vars().all(|(k, _)| !k.starts_with("REEMPLOI_")) {
        let cli = Cli::try_parse_from(["svc"]).unwrap();
        assert_eq!(cli.server, ServerArgs::default());
        assert_eq!(cli.server.max_message_bytes, 16 * 1024 * 1024);
        assert_eq!(cli.store.data_dir, std::path::PathBuf::from("./data"));
        assert_eq!(cli.bus.stream_replicas, 1);
        // JSON unless a person watches the terminal.
        assert_eq!(cli.telemetry.log_format, LogFormat::Auto);
        assert_eq!(cli.metrics, MetricsArgs::default());
        assert_eq!(LogFormat::Auto.resolve(true), LogFormat::Pretty);
        assert_eq!(LogFormat::Auto.resolve(false), LogFormat::Json);
        assert_eq!(LogFormat::Pretty.resolve(false), LogFormat::Pretty);
        assert_eq!(cli.auth, AuthArgs::default());
        assert_eq!(cli.auth.jwt_max_lifetime_secs, 7 * 24 * 3600);
        assert_eq!(cli.limits, LimitArgs::default());
        assert_eq!(
            (cli.limits.per_principal, cli.limits.per_principal_burst),
            (100, 500)
        );
        assert_eq!(
            (cli.limits.unauthenticated, cli.limits.unauthenticated_burst),
            (10, 20)
        );
        assert_eq!(cli.server.tls_cert, None);
    }

    // A secret and a public key at once is refused at parse time.
    assert!(
        Cli::try_parse_from(["svc", "--jwt-secret", "s", "--jwt-public-key", "k.pem"]).is_err()
    );
}

#[test]
fn telemetry_init_is_idempotent() {
    telemetry::init(LogFormat::Pretty);
    telemetry::init(LogFormat::Json);
    tracing::info!("telemetry initialised twice without panicking");
}

// ---------------------------------------------------------------- status

#[test]
fn invalid_argument_round_trips_violations() {
    let violations = vec![
        ("lot.quantity".to_owned(), "must be positive".to_owned()),
        ("page_size".to_owned(), "must not be negative".to_owned()),
    ];
    let status = status::invalid_argument(violations.clone(), "INVALID_LOT");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(
        status.message().contains("lot.quantity"),
        "{}",
        status.message()
    );
    assert_eq!(status::field_violations(&status), violations);
    assert_eq!(status::reason(&status).as_deref(), Some("INVALID_LOT"));

    // Details survive the trip through HTTP headers, as a client sees them.
    let response = status.into_http::<()>();
    let decoded = tonic::Status::from_header_map(response.headers()).unwrap();
    assert_eq!(status::field_violations(&decoded), violations);
}

#[test]
fn a_thousand_violations_still_fit_in_the_trailers_a_peer_accepts() {
    let violations: Vec<(String, String)> = (0..1000)
        .map(|i| {
            (
                format!("requests[{i}].lot.category"),
                "unknown category \"appareil-sanitaire\": see reemploi categories".to_owned(),
            )
        })
        .collect();
    let status = status::invalid_argument(violations.clone(), "INVALID_ARGUMENT");
    assert!(
        status.message().contains("and 999 more"),
        "{}",
        status.message()
    );
    let response = status.into_http::<()>();
    let size: usize = response
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 32)
        .sum();
    // HTTP/2's default limit on a header block, which hyper applies.
    assert!(size < 16 * 1024, "{size} bytes of trailers");
    let kept =
        status::field_violations(&tonic::Status::from_header_map(response.headers()).unwrap());
    assert!(kept.len() > 10 && kept.len() < 1000, "{} kept", kept.len());
    assert_eq!(kept[..kept.len() - 1], violations[..kept.len() - 1]);
    let (field, last) = kept.last().unwrap();
    assert!(
        field.is_empty() && last.starts_with(&format!("{} more", 1000 - (kept.len() - 1))),
        "{last}"
    );
}

#[test]
fn reasons_and_not_found() {
    use tonic_types::StatusExt;
    let status = status::with_reason(
        tonic::Code::FailedPrecondition,
        "lot is withdrawn",
        "LOT_WITHDRAWN",
    );
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    assert_eq!(status::reason(&status).as_deref(), Some("LOT_WITHDRAWN"));
    assert_eq!(
        status.get_details_error_info().unwrap().domain,
        status::DOMAIN
    );
    assert!(status::field_violations(&status).is_empty());

    let status = status::not_found("reemploi.inventory.v1.Lot", "sites/s1/lots/l1");
    assert_eq!(status.code(), tonic::Code::NotFound);
    assert_eq!(
        status::reason(&status).as_deref(),
        Some(status::REASON_NOT_FOUND)
    );
    let info = status.get_details_resource_info().unwrap();
    assert_eq!(info.resource_name, "sites/s1/lots/l1");
    assert_eq!(info.resource_type, "reemploi.inventory.v1.Lot");

    assert_eq!(status::reason(&tonic::Status::internal("plain")), None);
}

#[test]
fn internal_hides_the_cause() {
    let cause = std::io::Error::other("connection to postgres://secret@db refused");
    let status = status::internal("loading lot", &cause);
    assert_eq!(status.code(), tonic::Code::Internal);
    assert!(
        !status.message().contains("postgres"),
        "{}",
        status.message()
    );
}

// ---------------------------------------------------------------- server

const SERVICE: &str = "reemploi.test.v1.TestService";

struct Running {
    addr: SocketAddr,
    shutdown: CancellationToken,
    handle: tokio::task::JoinHandle<Result<(), server::ServerError>>,
}

async fn start_server(grace_secs: u64) -> Running {
    telemetry::init(LogFormat::Pretty);
    let args = ServerArgs {
        listen: "127.0.0.1:0".parse().unwrap(),
        shutdown_grace_secs: grace_secs,
        ..ServerArgs::default()
    };
    let (listener, addr) = server::bind(args.listen).await.unwrap();
    assert_ne!(addr.port(), 0);
    let server = Server::new(&args, &[], &[SERVICE]).with_drain_delay(Duration::ZERO);
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(server.serve(
        listener,
        tonic::service::Routes::default(),
        shutdown.clone(),
    ));
    Running {
        addr,
        shutdown,
        handle,
    }
}

async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

async fn check(
    client: &mut HealthClient<Channel>,
    service: &str,
) -> Result<ServingStatus, tonic::Status> {
    let response = client
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await?;
    Ok(response.into_inner().status())
}

#[tokio::test]
async fn health_reflection_and_graceful_shutdown() {
    let running = start_server(5).await;
    let channel = channel(running.addr).await;
    let mut health = HealthClient::new(channel.clone());

    assert_eq!(
        check(&mut health, "").await.unwrap(),
        ServingStatus::Serving
    );
    assert_eq!(
        check(&mut health, SERVICE).await.unwrap(),
        ServingStatus::Serving
    );
    assert_eq!(
        check(&mut health, "no.such.Service")
            .await
            .unwrap_err()
            .code(),
        tonic::Code::NotFound
    );

    // Reflection v1 lists health, reflection itself and nothing unexpected.
    {
        use tonic_reflection::pb::v1::ServerReflectionRequest;
        use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
        let mut reflection = ServerReflectionClient::new(channel.clone());
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut stream = reflection
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .unwrap()
            .into_inner();
        let response = stream.message().await.unwrap().unwrap();
        let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
            panic!("unexpected reflection response {response:?}");
        };
        let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        assert!(
            names.contains(&"grpc.health.v1.Health".to_owned()),
            "{names:?}"
        );
        assert!(
            names.contains(&"grpc.reflection.v1.ServerReflection".to_owned()),
            "{names:?}"
        );
        // The error details statuses carry can be decoded by generic clients.
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol(
                "google.rpc.ErrorInfo".to_owned(),
            )),
        };
        let mut stream = reflection
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .unwrap()
            .into_inner();
        let response = stream.message().await.unwrap().unwrap();
        assert!(
            matches!(
                response.message_response,
                Some(MessageResponse::FileDescriptorResponse(_))
            ),
            "google.rpc.ErrorInfo unknown to reflection: {response:?}"
        );
    }
    // ... and v1alpha answers too, for older tools.
    {
        use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
        use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
        let mut reflection = ServerReflectionClient::new(channel.clone());
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut stream = reflection
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .unwrap()
            .into_inner();
        let response = stream.message().await.unwrap().unwrap();
        let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
            panic!("unexpected reflection response {response:?}");
        };
        assert!(
            list.service
                .iter()
                .any(|s| s.name == "grpc.health.v1.Health")
        );
    }

    // Watch sees the switch to NOT_SERVING when shutdown starts.
    let mut watch = health
        .watch(HealthCheckRequest {
            service: SERVICE.to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = watch.message().await.unwrap().unwrap();
    assert_eq!(first.status(), ServingStatus::Serving);

    let started = Instant::now();
    running.shutdown.cancel();
    let next = tokio::time::timeout(Duration::from_secs(3), watch.message())
        .await
        .expect("no health update after shutdown")
        .unwrap()
        .unwrap();
    assert_eq!(next.status(), ServingStatus::NotServing);
    drop(watch);
    drop(health);
    drop(channel);

    let result = tokio::time::timeout(Duration::from_secs(5), running.handle)
        .await
        .expect("serve() did not return within the grace period")
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );

    // The listener is closed.
    assert!(
        Channel::from_shared(format!("http://{}", running.addr))
            .unwrap()
            .connect()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn grace_period_bounds_shutdown_with_rpcs_in_flight() {
    let running = start_server(1).await;
    let mut health = HealthClient::new(channel(running.addr).await);
    // A Watch stream never ends by itself: it is an RPC in flight.
    let mut watch = health
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        watch.message().await.unwrap().unwrap().status(),
        ServingStatus::Serving
    );

    let started = Instant::now();
    running.shutdown.cancel();
    let result = tokio::time::timeout(Duration::from_secs(4), running.handle)
        .await
        .expect("serve() ignored the grace period")
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
    let elapsed = started.elapsed();
    // It waited for the in-flight stream, but not past the grace period.
    assert!(
        elapsed >= Duration::from_millis(900),
        "returned after {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(3),
        "returned after {elapsed:?}"
    );
    drop(watch);
}

#[tokio::test]
async fn health_reporter_flips_a_service() {
    let args = ServerArgs {
        listen: "127.0.0.1:0".parse().unwrap(),
        shutdown_grace_secs: 1,
        ..ServerArgs::default()
    };
    let (listener, addr) = server::bind(args.listen).await.unwrap();
    let server = Server::new(&args, &[], &[SERVICE]).with_drain_delay(Duration::ZERO);
    let reporter = server.health();
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(server.serve(
        listener,
        tonic::service::Routes::default(),
        shutdown.clone(),
    ));

    let mut health = HealthClient::new(channel(addr).await);
    assert_eq!(
        check(&mut health, SERVICE).await.unwrap(),
        ServingStatus::Serving
    );
    reporter
        .set_service_status(SERVICE, tonic_health::ServingStatus::NotServing)
        .await;
    assert_eq!(
        check(&mut health, SERVICE).await.unwrap(),
        ServingStatus::NotServing
    );
    assert_eq!(
        check(&mut health, "").await.unwrap(),
        ServingStatus::Serving
    );

    drop(health);
    shutdown.cancel();
    handle.await.unwrap().unwrap();
}

/// A `MakeWriter` collecting log output in memory.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn every_rpc_is_logged_with_method_and_code() {
    // A scoped subscriber: on the current-thread runtime the server's tasks
    // run on this thread and report here. Health probes are logged at
    // trace, below the access log of the other calls (debug).
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let args = ServerArgs {
        listen: "127.0.0.1:0".parse().unwrap(),
        shutdown_grace_secs: 1,
        ..ServerArgs::default()
    };
    let (listener, addr) = server::bind(args.listen).await.unwrap();
    let server = Server::new(&args, &[], &[SERVICE]).with_drain_delay(Duration::ZERO);
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(server.serve(
        listener,
        tonic::service::Routes::default(),
        shutdown.clone(),
    ));

    let mut health = HealthClient::new(channel(addr).await);
    check(&mut health, SERVICE).await.unwrap();
    check(&mut health, "no.such.Service").await.unwrap_err();
    drop(health);
    shutdown.cancel();
    handle.await.unwrap().unwrap();

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let finished: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("rpc finished"))
        .collect();
    assert_eq!(finished.len(), 2, "{logs}");
    assert!(
        finished
            .iter()
            .all(|l| l.contains("/grpc.health.v1.Health/Check")),
        "{logs}"
    );
    assert!(finished[0].contains("code=\"OK\""), "{logs}");
    assert!(finished[1].contains("code=\"NOT_FOUND\""), "{logs}");
    assert!(logs.contains("shutting down: health NOT_SERVING"), "{logs}");
}

#[test]
fn help_names_env_vars_and_defaults() {
    use clap::CommandFactory;
    let help = Cli::command().render_long_help().to_string();
    for expected in [
        "--listen",
        "REEMPLOI_LISTEN",
        "127.0.0.1:50051",
        "REEMPLOI_MAX_MESSAGE_BYTES",
        "16777216",
        "REEMPLOI_REQUEST_TIMEOUT_SECS",
        "REEMPLOI_SHUTDOWN_GRACE_SECS",
        "REEMPLOI_CONCURRENCY_PER_CONNECTION",
        "DATABASE_URL",
        "REEMPLOI_DATA_DIR",
        "./data",
        "NATS_URL",
        "REEMPLOI_STREAM_REPLICAS",
        "REEMPLOI_EVENT_NAMESPACE",
        "REEMPLOI_JWT_SECRET",
        "REEMPLOI_JWT_PUBLIC_KEY",
        "REEMPLOI_JWT_ISSUER",
        "REEMPLOI_JWT_AUDIENCE",
        "REEMPLOI_JWT_MAX_LIFETIME_SECS",
        "604800",
        "REEMPLOI_TLS_CERT",
        "REEMPLOI_TLS_KEY",
        "REEMPLOI_TLS_CLIENT_CA",
        "REEMPLOI_RATE_LIMIT_PER_PRINCIPAL",
        "REEMPLOI_RATE_LIMIT_PER_PRINCIPAL_BURST",
        "REEMPLOI_RATE_LIMIT_UNAUTHENTICATED",
        "REEMPLOI_RATE_LIMIT_UNAUTHENTICATED_BURST",
        "REEMPLOI_LOG_FORMAT",
        "RUST_LOG",
    ] {
        assert!(
            help.contains(expected),
            "{expected} missing from --help:\n{help}"
        );
    }
    if std::env::var_os("SHOW_HELP").is_some() {
        println!("{help}");
    }
}

#[tokio::test]
async fn sigterm_cancels_the_shutdown_token() {
    let token = reemploi_runtime::shutdown::on_signal();
    assert!(!token.is_cancelled());
    // The handler is installed by the time on_signal returns, so this
    // signal is caught rather than killing the test process.
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    tokio::time::timeout(Duration::from_secs(5), token.cancelled())
        .await
        .expect("SIGTERM did not cancel the token");
}

#[test]
fn page_tokens_round_trip_and_forgeries_fail() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use reemploi_runtime::paging::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Pager};
    let pager = Pager::new(b"the service's key");
    let page = pager.page(10, "", "site=a").unwrap();
    let id = uuid::Uuid::now_v7().to_string();
    let token = page.next_token(&id);
    assert_eq!(
        pager.page(10, &token, "site=a").unwrap().after,
        Some(id.clone())
    );
    assert_eq!(
        pager.page(10, &token, "site=b").unwrap_err().field,
        "page_token"
    );
    assert!(pager.page(10, "garbage!", "site=a").is_err());
    // Signed by another key, or altered to skip elsewhere: refused.
    let foreign = Pager::new(b"another key").page(10, "", "site=a").unwrap();
    assert!(pager.page(10, &foreign.next_token(&id), "site=a").is_err());
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(&token).unwrap()).unwrap();
    let other = uuid::Uuid::now_v7().to_string();
    let altered = URL_SAFE_NO_PAD.encode(text.replace(&id, &other));
    assert!(pager.page(10, &altered, "site=a").is_err());
    // The unsigned form tokens once had is no longer accepted.
    let unsigned = URL_SAFE_NO_PAD.encode(format!("v1|{}|{id}", &text[3..19]));
    assert!(pager.page(10, &unsigned, "site=a").is_err());
    assert_eq!(pager.page(-1, "", "").unwrap_err().field, "page_size");
    assert_eq!(pager.page(5000, "", "").unwrap().size, MAX_PAGE_SIZE);
    assert_eq!(pager.page(0, "", "").unwrap().size, DEFAULT_PAGE_SIZE);
    let mut items: Vec<u32> = (0..11).collect();
    let next = page.finish(&mut items, |i| format!("{i}"));
    assert_eq!(items.len(), 10);
    assert!(!next.is_empty());
}

#[test]
fn resource_names_parse_strictly() {
    use reemploi_runtime::names::{new_id, parse};
    let (a, b) = (new_id(), new_id());
    let ids = parse(
        "name",
        &format!("sites/{a}/lots/{b}"),
        "sites/{site}/lots/{lot}",
    )
    .unwrap();
    assert_eq!(ids, vec![a, b]);
    assert!(parse("name", &format!("sites/{a}"), "sites/{site}/lots/{lot}").is_err());
    assert!(parse("name", "sites/x/lots/y", "sites/{site}/lots/{lot}").is_err());
    // Found by the resource_name fuzz target: other spellings of an id were
    // accepted, so a name did not print back to itself.
    let c = uuid::Uuid::from_u128(0x0190_c5a3_7b1e_7c4d_8f00_3a2b_1c0d_9e8f);
    assert!(parse("name", &format!("sites/{c}"), "sites/{site}").is_ok());
    for other in [
        c.to_string().to_uppercase(),
        c.simple().to_string(),
        c.braced().to_string(),
        c.urn().to_string(),
    ] {
        let e = parse("name", &format!("sites/{other}"), "sites/{site}").unwrap_err();
        assert!(e.description.contains("not a valid id"), "{e:?}");
    }
    assert_eq!(
        parse("name", "", "sites/{site}").unwrap_err().description,
        "required"
    );
}

/// Replicas on one database sign with one key; another deployment's tokens
/// are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_keys_are_shared_by_replicas_and_private_to_a_database() {
    use reemploi_runtime::paging::Pager;
    for backend in reemploi_store::Backend::ALL {
        let one = reemploi_testing::db::fresh(backend).await;
        let two = reemploi_testing::db::fresh(backend).await;
        for t in [&one, &two] {
            sqlx::query("CREATE TABLE service_keys (name TEXT PRIMARY KEY, secret TEXT NOT NULL)")
                .execute(t.db.pool())
                .await
                .unwrap();
        }
        let (a, b) = tokio::join!(Pager::load(&one.db), Pager::load(&one.db));
        let (a, b) = (a.unwrap(), b.unwrap());
        let id = uuid::Uuid::now_v7().to_string();
        let token = a.page(5, "", "f").unwrap().next_token(&id);
        assert_eq!(
            b.page(5, &token, "f").unwrap().after,
            Some(id),
            "{backend:?}"
        );
        let elsewhere = Pager::load(&two.db).await.unwrap();
        assert!(elsewhere.page(5, &token, "f").is_err(), "{backend:?}");
    }
}
// ---------------------------------------------------------------- hardening: JWT

/// A token with arbitrary registered claims, signed with [`SECRET`].
fn hs256_json(claims: serde_json::Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

#[test]
fn nbf_in_the_future_is_refused_in_the_past_accepted() {
    let auth = Authenticator::hs256(SECRET);
    let token = |nbf: u64| {
        hs256_json(serde_json::json!({
            "sub": "x", "role": "admin", "iat": now(), "exp": now() + 7200, "nbf": nbf,
        }))
    };

    // Valid only from one hour later: refused now.
    let err = auth.verify(&token(now() + 3600)).unwrap_err();
    assert!(matches!(err, AuthError::NotYetValid), "{err:?}");
    assert_eq!(err.reason(), "TOKEN_NOT_YET_VALID");

    // Beyond the 30 s leeway, still refused; within it, accepted.
    assert!(matches!(
        auth.verify(&token(now() + 120)),
        Err(AuthError::NotYetValid)
    ));
    assert!(auth.verify(&token(now() + 10)).is_ok());
    // Valid since a while: accepted.
    assert!(auth.verify(&token(now() - 3600)).is_ok());
}

#[test]
fn exp_beyond_the_maximum_lifetime_is_refused() {
    let in_days = |days: u64| {
        hs256_json(serde_json::json!({
            "sub": "x", "role": "admin", "iat": now(), "exp": now() + days * 24 * 3600,
        }))
    };
    // The default maximum is 7 days: `reemploi token`'s 24 h pass, a token
    // living ten years does not.
    let auth = Authenticator::hs256(SECRET);
    assert!(auth.verify(&in_days(1)).is_ok());
    assert!(auth.verify(&in_days(6)).is_ok());
    let err = auth.verify(&in_days(8)).unwrap_err();
    assert!(
        matches!(err, AuthError::LifetimeTooLong { max_secs: 604_800 }),
        "{err:?}"
    );
    assert!(err.to_string().contains("604800"), "{err}");
    assert_eq!(err.reason(), "TOKEN_LIFETIME_TOO_LONG");
    assert!(auth.verify(&in_days(3650)).is_err());

    // The flag sets it; the leeway applies.
    let args = AuthArgs {
        jwt_secret: Some(String::from_utf8(SECRET.to_vec()).unwrap()),
        jwt_max_lifetime_secs: 3600,
        ..AuthArgs::default()
    };
    let auth = Authenticator::from_args(&args).unwrap();
    let token = |exp: u64| {
        hs256_json(serde_json::json!({"sub": "x", "role": "admin", "iat": now(), "exp": exp}))
    };
    assert!(auth.verify(&token(now() + 3600)).is_ok());
    assert!(auth.verify(&token(now() + 3610)).is_ok());
    assert!(matches!(
        auth.verify(&token(now() + 7200)),
        Err(AuthError::LifetimeTooLong { max_secs: 3600 })
    ));

    // Through the interceptor: UNAUTHENTICATED with the reason.
    let mut interceptor = AuthInterceptor::new(auth);
    let err = interceptor
        .call(request_with(Some(&format!(
            "Bearer {}",
            token(now() + 7200)
        ))))
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    assert_eq!(
        status::reason(&err).as_deref(),
        Some("TOKEN_LIFETIME_TOO_LONG")
    );
    assert!(
        err.message().contains("lives too long"),
        "{}",
        err.message()
    );
}

#[test]
fn a_public_key_without_issuer_or_audience_is_refused_at_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("ed25519.pem");
    std::fs::write(&key_path, ED_PUBLIC).unwrap();
    let complete = AuthArgs {
        jwt_public_key: Some(key_path.clone()),
        jwt_issuer: Some("https://id.reemploi.eu".into()),
        jwt_audience: Some("reemploi-api".into()),
        ..AuthArgs::default()
    };
    assert!(Authenticator::from_args(&complete).is_ok());
    for (args, flag) in [
        (
            AuthArgs {
                jwt_issuer: None,
                ..complete.clone()
            },
            "--jwt-issuer",
        ),
        (
            AuthArgs {
                jwt_audience: None,
                ..complete.clone()
            },
            "--jwt-audience",
        ),
        (
            AuthArgs {
                jwt_audience: Some("  ".into()),
                ..complete.clone()
            },
            "--jwt-audience",
        ),
    ] {
        let err = Authenticator::from_args(&args).unwrap_err();
        assert!(
            matches!(err, AuthError::IncompleteConfig(ref m) if m.contains(flag)),
            "{flag}: {err:?}"
        );
    }

    // On the command line, clap names the missing flag before anything starts.
    let key = key_path.to_str().unwrap();
    let err = Cli::try_parse_from(["svc", "--jwt-public-key", key, "--jwt-audience", "a"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("--jwt-issuer"), "{err}");
    let err = Cli::try_parse_from(["svc", "--jwt-public-key", key, "--jwt-issuer", "i"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("--jwt-audience"), "{err}");
    assert!(
        Cli::try_parse_from([
            "svc",
            "--jwt-public-key",
            key,
            "--jwt-issuer",
            "i",
            "--jwt-audience",
            "a"
        ])
        .is_ok()
    );
    // A secret needs neither.
    assert!(Cli::try_parse_from(["svc", "--jwt-secret", "s"]).is_ok());
}

#[test]
fn refusals_carry_a_reason() {
    let mut interceptor = AuthInterceptor::new(Authenticator::hs256(SECRET));
    let err = interceptor.call(request_with(None)).unwrap_err();
    assert_eq!(status::reason(&err).as_deref(), Some("TOKEN_MISSING"));
    let mut claims = partner_claims();
    claims.exp = now() - 3600;
    let expired = auth::issue_hs256(SECRET, &claims).unwrap();
    let err = interceptor
        .call(request_with(Some(&format!("Bearer {expired}"))))
        .unwrap_err();
    assert_eq!(status::reason(&err).as_deref(), Some("TOKEN_EXPIRED"));
    let forged = auth::issue_hs256(b"other", &partner_claims()).unwrap();
    let err = interceptor
        .call(request_with(Some(&format!("Bearer {forged}"))))
        .unwrap_err();
    assert_eq!(
        status::reason(&err).as_deref(),
        Some("TOKEN_SIGNATURE_INVALID")
    );
}

// ---------------------------------------------------------------- test service

use reemploi_proto::matching::matching_service_client::MatchingServiceClient;
use reemploi_proto::matching::matching_service_server::{MatchingService, MatchingServiceServer};
use reemploi_proto::matching::{
    DeclineProposalRequest, ListLotMatchesRequest, ListLotMatchesResponse, ListProposalsRequest,
    ListProposalsResponse, MatchProposal, PlanAllocationRequest, PlanAllocationResponse,
    RecommendLotsRequest, RecommendLotsResponse,
};

/// The matching contract's smallest stand-in: RecommendLots answers the
/// caller's subject and partner (as the page token), so a test sees that an
/// authenticated call went through and as whom. The real services are
/// above this crate.
struct WhoAmI;

#[tonic::async_trait]
impl MatchingService for WhoAmI {
    async fn list_lot_matches(
        &self,
        _: tonic::Request<ListLotMatchesRequest>,
    ) -> Result<tonic::Response<ListLotMatchesResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("not in this test"))
    }

    async fn recommend_lots(
        &self,
        request: tonic::Request<RecommendLotsRequest>,
    ) -> Result<tonic::Response<RecommendLotsResponse>, tonic::Status> {
        let principal = auth::principal(&request)?;
        // A line inside the call, which must carry the call's request id.
        tracing::info!(subject = %principal.subject, "whoami answered");
        Ok(tonic::Response::new(RecommendLotsResponse {
            next_page_token: format!(
                "{}/{}",
                principal.subject,
                principal.partner.unwrap_or_default()
            ),
            ..Default::default()
        }))
    }

    async fn plan_allocation(
        &self,
        _: tonic::Request<PlanAllocationRequest>,
    ) -> Result<tonic::Response<PlanAllocationResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("not in this test"))
    }

    async fn list_proposals(
        &self,
        _: tonic::Request<ListProposalsRequest>,
    ) -> Result<tonic::Response<ListProposalsResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("not in this test"))
    }

    async fn decline_proposal(
        &self,
        _: tonic::Request<DeclineProposalRequest>,
    ) -> Result<tonic::Response<MatchProposal>, tonic::Status> {
        Err(tonic::Status::unimplemented("not in this test"))
    }

    async fn create_need(
        &self,
        _: tonic::Request<reemploi_proto::matching::CreateNeedRequest>,
    ) -> Result<tonic::Response<reemploi_proto::matching::Need>, tonic::Status> {
        Err(tonic::Status::unimplemented("not in this test"))
    }

    async fn update_need(
        &self,
        _: tonic::Request<reemploi_proto::matching::UpdateNeedRequest>,
    ) -> Result<tonic::Response<reemploi_proto::matching::Need>, tonic::Status> {
        Err(tonic::Status::unimplemented("not in this test"))
    }

    async fn close_need(
        &self,
        _: tonic::Request<reemploi_proto::matching::CloseNeedRequest>,
    ) -> Result<tonic::Response<reemploi_proto::matching::Need>, tonic::Status> {
        Err(tonic::Status::unimplemented("not in this test"))
    }

    async fn list_needs(
        &self,
        _: tonic::Request<reemploi_proto::matching::ListNeedsRequest>,
    ) -> Result<tonic::Response<reemploi_proto::matching::ListNeedsResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("not in this test"))
    }
}

/// Routes serving [`WhoAmI`] behind the auth interceptor of `auth`.
fn whoami_routes(auth: Authenticator) -> tonic::service::Routes {
    tonic::service::Routes::new(tonic::service::interceptor::InterceptedService::new(
        MatchingServiceServer::new(WhoAmI),
        AuthInterceptor::new(auth),
    ))
}

/// Serves `routes` with `args` (its listen address bound here, port 0).
async fn serve_routes(args: ServerArgs, routes: tonic::service::Routes) -> Running {
    telemetry::init(LogFormat::Pretty);
    let (listener, addr) = server::bind(args.listen).await.unwrap();
    let server = Server::new(&args, &[], &[SERVICE]).with_drain_delay(Duration::ZERO);
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(server.serve(listener, routes, shutdown.clone()));
    Running {
        addr,
        shutdown,
        handle,
    }
}

fn loopback_args() -> ServerArgs {
    ServerArgs {
        listen: "127.0.0.1:0".parse().unwrap(),
        shutdown_grace_secs: 1,
        ..ServerArgs::default()
    }
}

/// Calls RecommendLots with `token`: the caller as the server saw it.
async fn whoami(channel: &Channel, token: Option<&str>) -> Result<String, tonic::Status> {
    let mut request = tonic::Request::new(RecommendLotsRequest::default());
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    MatchingServiceClient::new(channel.clone())
        .recommend_lots(request)
        .await
        .map(|r| r.into_inner().next_page_token)
}

/// A unary call of any `path`, with an empty request and no token.
async fn call_without_token(channel: &Channel, path: &str) -> Result<(), tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let codec = tonic_prost::ProstCodec::<RecommendLotsRequest, RecommendLotsResponse>::default();
    let path = tonic::codegen::http::uri::PathAndQuery::try_from(path.to_owned()).unwrap();
    grpc.unary(
        tonic::Request::new(RecommendLotsRequest::default()),
        path,
        codec,
    )
    .await
    .map(|_| ())
}

// ---------------------------------------------------------------- hardening: TLS

use reemploi_testing::tls::{TestCa, write};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

/// A CA, its server certificate (localhost, 127.0.0.1) and files for them.
struct Pki {
    dir: tempfile::TempDir,
    ca: TestCa,
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
    ca_file: std::path::PathBuf,
}

fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("reemploi test CA");
    let server = ca.server();
    Pki {
        cert: write(dir.path(), "server.pem", &server.cert),
        key: write(dir.path(), "server.key", &server.key),
        ca_file: write(dir.path(), "ca.pem", &ca.cert),
        ca,
        dir,
    }
}

fn tls_args(pki: &Pki, client_ca: Option<std::path::PathBuf>) -> ServerArgs {
    ServerArgs {
        tls_cert: Some(pki.cert.clone()),
        tls_key: Some(pki.key.clone()),
        tls_client_ca: client_ca,
        ..loopback_args()
    }
}

fn trusting(ca: &TestCa) -> ClientTlsConfig {
    ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&ca.cert))
}

/// Connects (TLS when `tls` is given), checks health and makes an
/// authenticated call: the caller the server saw, or the first failure.
async fn reach(url: String, tls: Option<ClientTlsConfig>, token: &str) -> Result<String, String> {
    let mut endpoint = Endpoint::from_shared(url)
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5));
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls).map_err(|e| format!("{e:?}"))?;
    }
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| format!("connect: {e:?}"))?;
    let serving = check(&mut HealthClient::new(channel.clone()), "")
        .await
        .map_err(|s| format!("health: {s}"))?;
    if serving != ServingStatus::Serving {
        return Err(format!("health: {serving:?}"));
    }
    whoami(&channel, Some(token))
        .await
        .map_err(|s| format!("call: {s}"))
}

fn partner_token(partner: &str) -> String {
    auth::issue_hs256(
        SECRET,
        &auth::claims_for(
            Role::Partner,
            None,
            Some(partner.to_owned()),
            Duration::from_secs(600),
        ),
    )
    .unwrap()
}

#[tokio::test]
async fn tls_serves_clients_that_trust_its_ca_and_refuses_the_others() {
    let pki = pki();
    let running = serve_routes(
        tls_args(&pki, None),
        whoami_routes(Authenticator::hs256(SECRET)),
    )
    .await;
    let port = running.addr.port();
    let token = partner_token("partner-7");

    // Trusting the CA: health SERVING and an authenticated call, by IP and
    // by name.
    for url in [
        format!("https://127.0.0.1:{port}"),
        format!("https://localhost:{port}"),
    ] {
        let seen = reach(url.clone(), Some(trusting(&pki.ca)), &token).await;
        assert_eq!(seen.as_deref(), Ok("dev:partner/partner-7"), "{url}");
    }

    // Plaintext: nothing, not even health.
    let err = reach(format!("http://127.0.0.1:{port}"), None, &token)
        .await
        .unwrap_err();
    assert!(
        err.starts_with("connect:") || err.starts_with("health:"),
        "{err}"
    );

    // A client that trusts another CA refuses the server's certificate.
    let stranger = TestCa::new("another CA");
    let err = reach(
        format!("https://127.0.0.1:{port}"),
        Some(trusting(&stranger)),
        &token,
    )
    .await
    .unwrap_err();
    assert!(
        err.contains("UnknownIssuer") || err.contains("certificate"),
        "{err}"
    );

    // The server still serves after those failed handshakes.
    assert!(
        reach(
            format!("https://127.0.0.1:{port}"),
            Some(trusting(&pki.ca)),
            &token
        )
        .await
        .is_ok()
    );
    running.shutdown.cancel();
    running.handle.await.unwrap().unwrap();
}

/// Whether a TLS 1.3 client was refused by the server: the server's
/// `alert`, or, when the client wrote its request before reading that
/// alert, the connection the server closed (the client sees a broken pipe,
/// a reset, a closed connection or its call cancelled, depending on
/// timing).
fn refused_by_server(err: &str, alert: &str) -> bool {
    [alert, "broken pipe", "reset", "canceled", "closed"]
        .iter()
        .any(|sign| err.contains(sign))
}

/// Health over the channel a service makes to its identity service.
async fn identity_serving(url: &str, auth: &AuthArgs) -> Result<ServingStatus, String> {
    let channel = reemploi_runtime::keys::identity_channel(url, auth).map_err(|e| e.to_string())?;
    check(&mut HealthClient::new(channel), "")
        .await
        .map_err(|s| s.to_string())
}

#[tokio::test]
async fn services_reach_an_identity_service_with_mutual_tls_with_their_certificate() {
    let pki = pki();
    let running = serve_routes(
        tls_args(&pki, Some(pki.ca_file.clone())),
        whoami_routes(Authenticator::hs256(SECRET)),
    )
    .await;
    let url = format!("https://127.0.0.1:{}", running.addr.port());
    let client = pki.ca.client("inventory");
    let with_ca = AuthArgs {
        identity_ca: Some(pki.ca_file.clone()),
        ..AuthArgs::default()
    };
    let with_cert = AuthArgs {
        identity_cert: Some(write(pki.dir.path(), "inventory.pem", &client.cert)),
        identity_key: Some(write(pki.dir.path(), "inventory.key", &client.key)),
        ..with_ca.clone()
    };

    assert_eq!(
        identity_serving(&url, &with_cert).await,
        Ok(ServingStatus::Serving)
    );
    // The same server refuses the channel without the certificate.
    assert!(identity_serving(&url, &with_ca).await.is_err());

    // An unusable key is reported at once, naming the flags.
    let bad_key = AuthArgs {
        identity_key: Some(write(pki.dir.path(), "bad.key", "no key here\n")),
        ..with_cert.clone()
    };
    let err = identity_serving(&url, &bad_key).await.unwrap_err();
    assert!(err.contains("--identity-key"), "{err}");
    // And a certificate for a plaintext address is a mistake, not ignored.
    let plaintext = format!("http://127.0.0.1:{}", running.addr.port());
    let err = identity_serving(&plaintext, &with_cert).await.unwrap_err();
    assert!(err.contains("https"), "{err}");
}

#[tokio::test]
async fn mutual_tls_requires_a_client_certificate_signed_by_the_client_ca() {
    let pki = pki();
    let clients = TestCa::new("reemploi client CA");
    let client_ca = write(pki.dir.path(), "clients.pem", &clients.cert);
    let running = serve_routes(
        tls_args(&pki, Some(client_ca)),
        whoami_routes(Authenticator::hs256(SECRET)),
    )
    .await;
    let url = format!("https://localhost:{}", running.addr.port());
    let token = partner_token("partner-7");

    // Without a certificate: refused, though the client trusts the server.
    let err = reach(url.clone(), Some(trusting(&pki.ca)), &token)
        .await
        .unwrap_err();
    assert!(refused_by_server(&err, "CertificateRequired"), "{err}");

    // With a certificate of another CA (here, the server's own): refused.
    let foreign = pki.ca.client("intruder");
    let err = reach(
        url.clone(),
        Some(trusting(&pki.ca).identity(Identity::from_pem(&foreign.cert, &foreign.key))),
        &token,
    )
    .await
    .unwrap_err();
    assert!(refused_by_server(&err, "UnknownCA"), "{err}");

    // With a certificate the client CA signed: served.
    let client = clients.client("reemploi-cli");
    let seen = reach(
        url,
        Some(trusting(&pki.ca).identity(Identity::from_pem(&client.cert, &client.key))),
        &token,
    )
    .await;
    assert_eq!(seen.as_deref(), Ok("dev:partner/partner-7"));
    running.shutdown.cancel();
    running.handle.await.unwrap().unwrap();
}

#[test]
fn tls_flags_come_in_pairs_and_bad_files_stop_the_start() {
    let pki = pki();
    let cert = pki.cert.to_str().unwrap();
    let key = pki.key.to_str().unwrap();
    let ca = pki.ca_file.to_str().unwrap();

    // The command line: both or neither, and a client CA only with them.
    for args in [
        vec!["svc", "--tls-cert", cert],
        vec!["svc", "--tls-key", key],
        vec!["svc", "--tls-client-ca", ca],
    ] {
        let err = Cli::try_parse_from(&args).unwrap_err().to_string();
        assert!(err.contains("--tls-"), "{args:?}: {err}");
    }
    let cli = Cli::try_parse_from([
        "svc",
        "--tls-cert",
        cert,
        "--tls-key",
        key,
        "--tls-client-ca",
        ca,
    ])
    .unwrap();
    assert_eq!(cli.server.tls_key.as_deref(), Some(pki.key.as_path()));

    // The same checks for arguments built in code, and the files' contents.
    let (_, mode) = server::tls_config(&tls_args(&pki, None)).unwrap().unwrap();
    assert_eq!(mode, TlsMode::Tls);
    let (_, mode) = server::tls_config(&tls_args(&pki, Some(pki.ca_file.clone())))
        .unwrap()
        .unwrap();
    assert_eq!(mode, TlsMode::Mutual);
    assert!(server::tls_config(&loopback_args()).unwrap().is_none());

    let message = |args: ServerArgs| server::tls_config(&args).unwrap_err().to_string();
    let only_cert = ServerArgs {
        tls_key: None,
        ..tls_args(&pki, None)
    };
    assert!(message(only_cert).contains("--tls-key"));
    let only_ca = ServerArgs {
        tls_client_ca: Some(pki.ca_file.clone()),
        ..loopback_args()
    };
    assert!(message(only_ca).contains("--tls-client-ca"));
    let absent = ServerArgs {
        tls_key: Some(pki.dir.path().join("absent.key")),
        ..tls_args(&pki, None)
    };
    let err = message(absent);
    assert!(err.contains("absent.key"), "{err}");
    let garbage = write(pki.dir.path(), "garbage.key", "not a key\n");
    let err = message(ServerArgs {
        tls_key: Some(garbage),
        ..tls_args(&pki, None)
    });
    assert!(err.contains("garbage.key") && err.contains("key"), "{err}");
    // The error never carries key material.
    let server_key = std::fs::read_to_string(&pki.key).unwrap();
    let body = server_key.lines().nth(1).unwrap();
    assert!(!err.contains(body));
    // A key that is not the certificate's.
    let other = write(pki.dir.path(), "other.key", &pki.ca.client("x").key);
    let err = message(ServerArgs {
        tls_key: Some(other),
        ..tls_args(&pki, None)
    });
    assert!(err.contains("other.key") && err.contains("Key"), "{err}");
    let bad_ca = write(pki.dir.path(), "bad-ca.pem", "no certificate here\n");
    let err = message(tls_args(&pki, Some(bad_ca)));
    assert!(err.contains("bad-ca.pem"), "{err}");
}

// ---------------------------------------------------------------- hardening: rate limits

#[tokio::test]
async fn a_principal_over_its_budget_waits_and_others_are_unaffected() {
    // One request per second after a burst of 3.
    let limits = RateLimits::new(Limit::new(1, 3), None);
    let running = serve_routes(
        loopback_args(),
        whoami_routes(Authenticator::hs256(SECRET).with_rate_limits(limits)),
    )
    .await;
    let channel = channel(running.addr).await;
    let greedy = partner_token("partner-1");
    // Same role and subject (`dev:partner`), another partner: another
    // principal.
    let other = partner_token("partner-2");

    let mut served = 0;
    let refused = loop {
        match whoami(&channel, Some(&greedy)).await {
            Ok(_) => served += 1,
            Err(status) => break status,
        }
        assert!(served <= 10, "never rate limited");
    };
    assert!(served >= 3, "the burst was not granted: {served}");
    assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
    assert_eq!(
        status::reason(&refused).as_deref(),
        Some(status::REASON_RATE_LIMITED)
    );
    let delay = status::retry_delay(&refused).expect("a RetryInfo detail");
    assert!(
        delay > Duration::ZERO && delay <= Duration::from_secs(1),
        "{delay:?}"
    );

    // The other principal has a budget of its own.
    for _ in 0..3 {
        assert_eq!(
            whoami(&channel, Some(&other)).await.unwrap(),
            "dev:partner/partner-2"
        );
    }
    // Health is not limited.
    let mut health = HealthClient::new(channel.clone());
    for _ in 0..20 {
        assert_eq!(
            check(&mut health, "").await.unwrap(),
            ServingStatus::Serving
        );
    }
    // After the delay it was told, the greedy one is served again.
    tokio::time::sleep(delay).await;
    assert!(whoami(&channel, Some(&greedy)).await.is_ok());

    running.shutdown.cancel();
    running.handle.await.unwrap().unwrap();
}

#[tokio::test]
async fn calls_without_a_valid_token_are_limited_per_address() {
    let limits = RateLimits::new(None, Limit::new(1, 2));
    let running = serve_routes(
        loopback_args(),
        whoami_routes(Authenticator::hs256(SECRET).with_rate_limits(limits)),
    )
    .await;
    let channel = channel(running.addr).await;
    let forged = auth::issue_hs256(b"guess", &partner_claims()).unwrap();

    let first = whoami(&channel, None).await.unwrap_err();
    assert_eq!(first.code(), tonic::Code::Unauthenticated);
    assert_eq!(status::reason(&first).as_deref(), Some("TOKEN_MISSING"));
    let second = whoami(&channel, Some(&forged)).await.unwrap_err();
    assert_eq!(second.code(), tonic::Code::Unauthenticated);

    // The budget of this address is spent: guessing further is slowed down.
    for token in [None, Some(forged.as_str())] {
        let limited = whoami(&channel, token).await.unwrap_err();
        assert_eq!(
            limited.code(),
            tonic::Code::ResourceExhausted,
            "{limited:?}"
        );
        assert_eq!(
            status::reason(&limited).as_deref(),
            Some(status::REASON_RATE_LIMITED)
        );
        assert!(status::retry_delay(&limited).is_some());
    }
    // A valid token from the same address is counted on its principal.
    assert!(whoami(&channel, Some(&partner_token("p"))).await.is_ok());

    running.shutdown.cancel();
    running.handle.await.unwrap().unwrap();
}

/// A call without a token, as a proxy forwarding for `client` makes it.
async fn anonymous_for(channel: &Channel, client: &str) -> tonic::Code {
    let mut request = tonic::Request::new(RecommendLotsRequest::default());
    request.metadata_mut().insert(
        reemploi_runtime::limit::FORWARDED_FOR,
        format!("203.0.113.250, {client}").parse().unwrap(),
    );
    match MatchingServiceClient::new(channel.clone())
        .recommend_lots(request)
        .await
    {
        Ok(_) => tonic::Code::Ok,
        Err(status) => status.code(),
    }
}

#[tokio::test]
async fn a_trusted_proxy_names_the_client_an_untrusted_peer_cannot() {
    for trusted in [true, false] {
        let proxies: &[std::net::IpAddr] = if trusted {
            &["127.0.0.1".parse().unwrap()]
        } else {
            &["192.0.2.1".parse().unwrap()]
        };
        let limits = RateLimits::new(None, Limit::new(1, 1)).trusting(proxies);
        let running = serve_routes(
            loopback_args(),
            whoami_routes(Authenticator::hs256(SECRET).with_rate_limits(limits)),
        )
        .await;
        let channel = channel(running.addr).await;
        assert_eq!(
            anonymous_for(&channel, "198.51.100.1").await,
            tonic::Code::Unauthenticated
        );
        // Another client behind the same proxy has a budget of its own only
        // when the proxy is trusted; the last forwarded address counts.
        let other = anonymous_for(&channel, "198.51.100.2").await;
        let expected = if trusted {
            tonic::Code::Unauthenticated
        } else {
            tonic::Code::ResourceExhausted
        };
        assert_eq!(other, expected, "trusted: {trusted}");
        assert_eq!(
            anonymous_for(&channel, "198.51.100.1").await,
            tonic::Code::ResourceExhausted
        );
        running.shutdown.cancel();
        running.handle.await.unwrap().unwrap();
    }
}

#[test]
fn rate_limiter_memory_is_bounded() {
    let peer = |ip: &str| Some(ip.parse::<std::net::IpAddr>().unwrap());
    // 100/s, burst 1: a bucket is full (idle) again after 10 ms.
    let limits = RateLimits::with_capacity(None, Limit::new(100, 1), 3);
    for ip in ["10.0.0.1", "10.0.0.2", "10.0.0.3"] {
        assert_eq!(limits.check_unauthenticated(peer(ip)), Ok(()));
    }
    assert_eq!(limits.tracked().1, 3);
    // Full of active callers: a new one is refused rather than tracked.
    assert!(matches!(
        limits.check_unauthenticated(peer("10.0.0.4")),
        Err(RetryAfter(_))
    ));
    assert_eq!(limits.tracked().1, 3);
    // Once the others are idle (and a sweep is due), room is made.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(limits.check_unauthenticated(peer("10.0.0.4")), Ok(()));
    assert_eq!(limits.tracked().1, 1);

    // An IPv6 host counts with its /64; IPv4-mapped addresses as IPv4.
    let limits = RateLimits::new(None, Limit::new(1, 1));
    assert_eq!(
        limits.check_unauthenticated(peer("2001:db8:1:2::1")),
        Ok(())
    );
    assert!(
        limits
            .check_unauthenticated(peer("2001:db8:1:2:ffff::9"))
            .is_err()
    );
    assert_eq!(
        limits.check_unauthenticated(peer("2001:db8:1:3::1")),
        Ok(())
    );
    assert_eq!(limits.check_unauthenticated(peer("192.0.2.7")), Ok(()));
    assert!(
        limits
            .check_unauthenticated(peer("::ffff:192.0.2.7"))
            .is_err()
    );

    // A rate of 0 turns a limit off.
    assert_eq!(Limit::new(0, 10), None);
    let off = RateLimits::from_args(&LimitArgs {
        per_principal: 0,
        unauthenticated: 0,
        ..LimitArgs::default()
    });
    for _ in 0..1000 {
        assert_eq!(off.check_unauthenticated(None), Ok(()));
    }
}

#[test]
fn rate_limit_flags_parse() {
    let cli = Cli::try_parse_from([
        "svc",
        "--rate-limit-per-principal",
        "0",
        "--rate-limit-unauthenticated",
        "3",
        "--rate-limit-unauthenticated-burst",
        "6",
    ])
    .unwrap();
    assert_eq!(cli.limits.per_principal, 0);
    assert_eq!(
        (cli.limits.unauthenticated, cli.limits.unauthenticated_burst),
        (3, 6)
    );
    // A burst of 0 would refuse everything: a usage error.
    assert!(Cli::try_parse_from(["svc", "--rate-limit-per-principal-burst", "0"]).is_err());
}

// ------------------------------------------------ names and page tokens (proptest)

/// Properties also checked, for longer, by the `resource_name` and
/// `page_token` fuzz targets (fuzz/, `scripts/fuzz`).
mod properties {
    use proptest::prelude::*;
    use reemploi_runtime::names::parse;
    use reemploi_runtime::paging::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Pager};
    use uuid::Uuid;

    const PATTERNS: [&str; 4] = [
        "sites/{site}",
        "sites/{site}/lots/{lot}",
        "sites/{site}/lots/{lot}/claims/{claim}",
        "partners/{partner}",
    ];

    /// `pattern` with its `{...}` segments replaced by `ids`.
    fn print(pattern: &str, ids: &[Uuid]) -> String {
        let mut ids = ids.iter();
        pattern
            .split('/')
            .map(|s| match s.starts_with('{') {
                true => ids.next().map(Uuid::to_string).unwrap_or_default(),
                false => s.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("/")
    }

    /// An id in any spelling `uuid` reads: as printed, uppercase, without
    /// hyphens, in braces, as a URN.
    fn id() -> impl Strategy<Value = String> {
        let id = any::<u128>().prop_map(Uuid::from_u128);
        prop_oneof![
            id.clone().prop_map(|u| u.to_string()),
            id.clone().prop_map(|u| u.to_string().to_uppercase()),
            id.clone().prop_map(|u| u.simple().to_string()),
            id.clone().prop_map(|u| u.braced().to_string()),
            id.prop_map(|u| u.urn().to_string()),
        ]
    }

    /// A segment of a name: the words of the patterns, ids, anything else.
    fn segment() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec!["sites", "lots", "claims", "partners", "-", ""])
                .prop_map(str::to_owned),
            id(),
            "\\PC{0,40}",
        ]
    }

    fn name() -> impl Strategy<Value = String> {
        prop_oneof![
            // A pattern's shape, each id in some spelling.
            (
                prop::sample::select(PATTERNS.to_vec()),
                prop::collection::vec(id(), 3)
            )
                .prop_map(|(pattern, ids)| {
                    let mut ids = ids.into_iter();
                    pattern
                        .split('/')
                        .map(|s| match s.starts_with('{') {
                            true => ids.next().unwrap_or_default(),
                            false => s.to_owned(),
                        })
                        .collect::<Vec<_>>()
                        .join("/")
                }),
            prop::collection::vec(segment(), 1..8).prop_map(|s| s.join("/")),
            any::<String>(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn a_name_that_parses_prints_back_to_itself(name in name()) {
            for pattern in PATTERNS {
                match parse("name", &name, pattern) {
                    Ok(ids) => prop_assert_eq!(print(pattern, &ids), name.clone()),
                    Err(v) => {
                        prop_assert_eq!(v.field, "name");
                        prop_assert!(v.description.chars().count() <= 120, "{}", v.description);
                    }
                }
            }
        }

        #[test]
        fn names_printed_from_ids_parse_back(ids in prop::array::uniform3(any::<u128>())) {
            let ids = ids.map(Uuid::from_u128);
            for pattern in PATTERNS {
                let n = pattern.matches('{').count();
                prop_assert_eq!(parse("name", &print(pattern, &ids[..n]), pattern).unwrap(), ids[..n].to_vec());
            }
        }

        #[test]
        fn page_tokens_issued_round_trip_and_altered_ones_are_refused(
            key in prop::collection::vec(any::<u8>(), 0..80),
            filters in "\\PC{0,30}",
            other_filters in "\\PC{0,30}",
            last in any::<u128>(),
            size in any::<i32>(),
            at in any::<prop::sample::Index>(),
            replacement in prop::sample::select(b"ABCDEFabcdef0189-_=|".to_vec()),
        ) {
            let pager = Pager::new(&key);
            let last = Uuid::from_u128(last).to_string();
            match pager.page(size, "", &filters) {
                Ok(page) => {
                    prop_assert!(size >= 0);
                    let want = if size == 0 { DEFAULT_PAGE_SIZE } else { (size as usize).min(MAX_PAGE_SIZE) };
                    prop_assert_eq!(page.size, want);
                }
                Err(v) => {
                    prop_assert!(size < 0);
                    prop_assert_eq!(v.field, "page_size");
                }
            }
            let token = pager.page(10, "", &filters).unwrap().next_token(&last);
            prop_assert_eq!(pager.page(10, &token, &filters).unwrap().after, Some(last.clone()));
            if other_filters != filters {
                prop_assert!(pager.page(10, &token, &other_filters).is_err());
            }
            let mut other_key = key.clone();
            other_key.push(1);
            prop_assert!(Pager::new(&other_key).page(10, &token, &filters).is_err());
            let mut altered = token.clone().into_bytes();
            altered[at.index(token.len())] = replacement;
            let altered = String::from_utf8(altered).unwrap();
            if altered != token {
                prop_assert!(pager.page(10, &altered, &filters).is_err(), "{}", altered);
            }
            let truncated = &token[..at.index(token.len())];
            prop_assert!(truncated.is_empty() || pager.page(10, truncated, &filters).is_err());
        }

        #[test]
        fn only_issued_page_tokens_are_accepted(token in "\\PC{0,200}|[A-Za-z0-9_-]{0,200}") {
            let pager = Pager::new(b"the service's key");
            let first = pager.page(10, "", "site=a").unwrap();
            if let Ok(page) = pager.page(10, &token, "site=a") {
                match page.after {
                    None => prop_assert!(token.is_empty()),
                    Some(id) => prop_assert_eq!(first.next_token(&id), token),
                }
            }
        }
    }
}

// ---------------------------------------------------------------- deny list

#[test]
fn the_deny_list_refuses_what_a_revocation_covers_and_nothing_later() {
    use reemploi_runtime::revoked::DenyList;
    let list = DenyList::default();
    let mut claims = partner_claims();
    claims.sub = "accounts/a".to_owned();
    claims.sid = Some("s1".to_owned());
    let issued_ms = i64::try_from(claims.iat).unwrap() * 1000;
    let until = i64::try_from(now()).unwrap() + 900;
    assert!(!list.refuses(&claims, Some("k1")));
    // By session, by key, by subject.
    list.revoke("sessions/s1", issued_ms, until);
    assert!(list.refuses(&claims, None));
    let other_session = Claims {
        sid: Some("s2".to_owned()),
        ..claims.clone()
    };
    assert!(!list.refuses(&other_session, None));
    list.revoke("keys/k1", issued_ms, until);
    assert!(list.refuses(&other_session, Some("k1")));
    assert!(!list.refuses(&other_session, Some("k2")));
    list.revoke("accounts/a", issued_ms, until);
    assert!(list.refuses(&other_session, Some("k2")));
    // A token issued after the revocation is not covered.
    let later = Claims {
        iat: claims.iat + 2,
        sid: Some("s3".to_owned()),
        ..claims.clone()
    };
    assert!(!list.refuses(&later, Some("k2")));
    // Within one second, the millisecond claim decides: issued after the
    // revocation, not covered; before it, covered.
    list.revoke("accounts/c", issued_ms + 500, until);
    let in_the_second = |ms: i64| Claims {
        sub: "accounts/c".to_owned(),
        sid: None,
        iat_ms: Some(u64::try_from(issued_ms + ms).unwrap()),
        ..claims.clone()
    };
    assert!(!list.refuses(&in_the_second(501), None));
    assert!(list.refuses(&in_the_second(499), None));
    // A millisecond claim outside the second of `iat` is not believed.
    assert!(list.refuses(&in_the_second(1501), None));
    // A revocation past the end of what it covers is dropped.
    list.revoke("accounts/b", issued_ms, until - 10_000);
    assert_eq!(list.len(), 4);
}

// ---------------------------------------------------------------- metrics and logs

use reemploi_runtime::metrics::Metrics;
use reemploi_testing::metrics::{scrape, value};

const MATCHING: &str = "reemploi.matching.v1.MatchingService";

/// Serves [`WhoAmI`] counting every RPC in `metrics`, with its metrics
/// endpoint; the server and the endpoint's addresses.
async fn serve_counted(
    metrics: &Metrics,
    shutdown: &CancellationToken,
) -> (SocketAddr, SocketAddr) {
    let args = loopback_args();
    let (listener, addr) = server::bind(args.listen).await.unwrap();
    let server = Server::new(&args, &[reemploi_proto::FILE_DESCRIPTOR_SET], &[MATCHING])
        .with_drain_delay(Duration::ZERO)
        .with_metrics(metrics.clone());
    tokio::spawn(server.serve(
        listener,
        whoami_routes(Authenticator::hs256(SECRET)),
        shutdown.clone(),
    ));
    let endpoint = reemploi_testing::metrics::serve(metrics, shutdown.clone()).await;
    (addr, endpoint)
}

#[tokio::test]
async fn the_metrics_endpoint_counts_requests_by_method_and_code() {
    telemetry::init(LogFormat::Pretty);
    let metrics = Metrics::new();
    let shutdown = CancellationToken::new();
    let (addr, endpoint) = serve_counted(&metrics, &shutdown).await;
    let channel = channel(addr).await;
    let token = auth::issue_hs256(SECRET, &partner_claims()).unwrap();
    for _ in 0..3 {
        whoami(&channel, Some(&token)).await.unwrap();
    }
    let refused = whoami(&channel, None).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    // A method this server does not serve is counted under one name.
    let unknown = reemploi_proto::inventory::inventory_service_client::InventoryServiceClient::new(
        channel.clone(),
    )
    .get_lot(reemploi_proto::inventory::GetLotRequest::default())
    .await
    .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::Unimplemented);
    // Nor is a made-up method of a service it serves, refused before
    // routing for want of a token.
    let made_up = call_without_token(&channel, &format!("/{MATCHING}/MadeUpMethod"))
        .await
        .unwrap_err();
    assert_eq!(made_up.code(), tonic::Code::Unauthenticated);

    let text = scrape(endpoint).await;
    let count = |method: &str, code: &str| {
        value(
            &text,
            "reemploi_grpc_requests_total",
            &[
                ("grpc_service", MATCHING),
                ("grpc_method", method),
                ("grpc_code", code),
            ],
        )
    };
    assert_eq!(count("RecommendLots", "OK"), Some(3.0), "{text}");
    assert_eq!(
        count("RecommendLots", "UNAUTHENTICATED"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "reemploi_grpc_requests_total",
            &[("grpc_service", "unknown"), ("grpc_code", "UNIMPLEMENTED")]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "reemploi_grpc_requests_total",
            &[
                ("grpc_service", "unknown"),
                ("grpc_code", "UNAUTHENTICATED")
            ]
        ),
        Some(1.0),
        "{text}"
    );
    assert!(!text.contains("MadeUpMethod"), "{text}");
    assert!(
        !text.contains("InventoryService"),
        "a client names no label: {text}"
    );
    // Every call observed once in the latency histogram, in the largest
    // bucket at least.
    let latency = |name: &str, extra: &[(&str, &str)]| {
        let mut labels = vec![("grpc_service", MATCHING), ("grpc_method", "RecommendLots")];
        labels.extend_from_slice(extra);
        value(&text, name, &labels)
    };
    assert_eq!(
        latency("reemploi_grpc_request_duration_seconds_count", &[]),
        Some(4.0),
        "{text}"
    );
    assert_eq!(
        latency(
            "reemploi_grpc_request_duration_seconds_bucket",
            &[("le", "+Inf")]
        ),
        Some(4.0),
        "{text}"
    );
    assert!(text.contains("# TYPE reemploi_grpc_request_duration_seconds histogram"));
    shutdown.cancel();
}

#[tokio::test]
async fn disabled_metrics_render_nothing() {
    let metrics = Metrics::disabled();
    assert!(!metrics.is_enabled());
    assert_eq!(metrics.render().await, "");
}

impl Captured {
    /// Every line as JSON; a line that is not JSON fails the test.
    fn lines(&self) -> Vec<serde_json::Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect()
    }
}

/// The request id of the `rpc` span a JSON line was written in.
fn request_id_of(line: &serde_json::Value) -> Option<&str> {
    line["spans"]
        .as_array()?
        .iter()
        .find(|span| span["name"] == "rpc")?["request_id"]
        .as_str()
}

/// The trace id a JSON line was written with.
fn trace_id_of(line: &serde_json::Value) -> Option<&str> {
    line["trace_id"].as_str()
}

/// A JSON subscriber at `filter` with trace ids, the thread's default
/// while the guard lives; the lines it writes.
fn capture_json(filter: &str) -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let subscriber = telemetry::subscriber(
        LogFormat::Json,
        telemetry::filter(filter),
        {
            let captured = captured.clone();
            move || captured.clone()
        },
        false,
        Some(telemetry::local_tracer()),
    );
    (captured, tracing::subscriber::set_default(subscriber))
}

/// RecommendLots as a partner, sending `x-request-id: id`.
async fn recommend_with_id(channel: &Channel, id: &str) -> tonic::Response<RecommendLotsResponse> {
    let token = auth::issue_hs256(SECRET, &partner_claims()).unwrap();
    let mut request = tonic::Request::new(RecommendLotsRequest::default());
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
        .metadata_mut()
        .insert("x-request-id", id.parse().unwrap());
    MatchingServiceClient::new(channel.clone())
        .recommend_lots(request)
        .await
        .unwrap()
}

// One thread: the server's tasks run where the subscriber below is the
// default, so every line it writes is captured.
#[tokio::test(flavor = "current_thread")]
async fn json_log_lines_of_a_call_carry_its_request_id() {
    // Info, with the access log (a line per call) turned on.
    let (captured, _default) = capture_json("info,reemploi_runtime::server=debug");
    let shutdown = CancellationToken::new();
    let (addr, _) = serve_counted(&Metrics::disabled(), &shutdown).await;
    let channel = channel(addr).await;

    // The caller's id is taken, and answered back.
    let answer = recommend_with_id(&channel, "req-7f3a").await;
    assert_eq!(answer.metadata().get("x-request-id").unwrap(), "req-7f3a");

    // Without one (or with one unfit for a log line), an id is made.
    let answer = recommend_with_id(&channel, "two words").await;
    let made = answer
        .metadata()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(uuid::Uuid::parse_str(&made).is_ok(), "{made}");
    shutdown.cancel();

    let lines = captured.lines();
    for id in ["req-7f3a", made.as_str()] {
        let messages: Vec<&str> = lines
            .iter()
            .filter(|line| request_id_of(line) == Some(id))
            .filter_map(|line| line["message"].as_str())
            .collect();
        assert!(
            messages.contains(&"whoami answered") && messages.contains(&"rpc finished"),
            "{id}: {messages:?} in {lines:?}"
        );
    }
    // Every line written inside a call names its request and its trace,
    // one trace per call.
    let mut traces = std::collections::HashMap::new();
    for line in &lines {
        if line["spans"]
            .as_array()
            .is_some_and(|spans| !spans.is_empty())
        {
            let request = request_id_of(line).unwrap_or_else(|| panic!("{line}"));
            let trace = trace_id_of(line).unwrap_or_else(|| panic!("no trace id: {line}"));
            assert_eq!(trace.len(), 32, "{line}");
            let first = traces.entry(request.to_owned()).or_insert(trace.to_owned());
            assert_eq!(first, trace, "{line}");
        }
    }
    assert_eq!(traces.len(), 2, "{traces:?}");
    assert_ne!(traces["req-7f3a"], traces[made.as_str()]);
    assert!(!lines.iter().any(|l| l.to_string().contains("two words")));
}

// At info, the level services run at, a successful call writes no line of
// its own (the access log is at debug); what its handler logs still names it.
#[tokio::test(flavor = "current_thread")]
async fn at_info_a_successful_call_writes_no_access_line() {
    let (captured, _default) = capture_json("info");
    let shutdown = CancellationToken::new();
    let (addr, _) = serve_counted(&Metrics::disabled(), &shutdown).await;
    recommend_with_id(&channel(addr).await, "req-info-1").await;
    shutdown.cancel();

    let lines = captured.lines();
    let messages: Vec<&str> = lines
        .iter()
        .filter(|line| request_id_of(line) == Some("req-info-1"))
        .filter_map(|line| line["message"].as_str())
        .collect();
    assert_eq!(messages, ["whoami answered"], "{lines:?}");
}

/// A probe that reads one figure, fails, or never answers.
struct Figure(Option<i64>);

#[async_trait::async_trait]
impl reemploi_runtime::metrics::Probe for Figure {
    async fn sample(&self, out: &mut reemploi_runtime::metrics::Samples) -> Result<(), String> {
        match self.0 {
            Some(n) => {
                out.gauge("reemploi_test_figure", "A figure", &[("of", "test")], n);
                Ok(())
            }
            None => Err("cannot read it".to_owned()),
        }
    }
}

struct Hangs;

#[async_trait::async_trait]
impl reemploi_runtime::metrics::Probe for Hangs {
    async fn sample(&self, _: &mut reemploi_runtime::metrics::Samples) -> Result<(), String> {
        std::future::pending().await
    }
}

/// A probe that fails or hangs leaves its figures out and says so; the
/// scrape still answers, within the probes' time limit, with the others.
#[tokio::test]
async fn a_failing_or_hanging_probe_costs_only_its_own_figures() {
    let metrics = Metrics::new();
    metrics.probe("good", Figure(Some(7)));
    metrics.probe("bad", Figure(None));
    metrics.probe("stuck", Hangs);
    let started = Instant::now();
    let text = metrics.render().await;
    assert!(started.elapsed() < Duration::from_secs(5), "{text}");
    assert_eq!(
        value(&text, "reemploi_test_figure", &[("of", "test")]),
        Some(7.0)
    );
    let up = |probe| value(&text, "reemploi_metrics_probe_up", &[("probe", probe)]);
    assert_eq!(
        (up("good"), up("bad"), up("stuck")),
        (Some(1.0), Some(0.0), Some(0.0)),
        "{text}"
    );
    // A probe added again under its key replaces the first.
    metrics.probe("good", Figure(Some(8)));
    let text = metrics.render().await;
    assert_eq!(
        value(&text, "reemploi_test_figure", &[("of", "test")]),
        Some(8.0),
        "{text}"
    );
}
