//! The identity service through a real gRPC client on a real socket, on
//! SQLite and on PostgreSQL: sign-in, sessions, invitations, resets, API
//! tokens and key rotation, with the mail read back from the files the
//! service writes when no SMTP relay is configured.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reemploi_events::InProcessBus;
use reemploi_proto::identity as pb;
use reemploi_proto::identity::identity_service_client::IdentityServiceClient;
use reemploi_runtime::auth::{AuthError, Authenticator, Role};
use reemploi_runtime::limit::{FORWARDED_FOR, RateLimits};
use reemploi_runtime::status::{field_violations, reason};
use reemploi_store::Backend;
use reemploi_testing::db::TestDb;
use reemploi_testing::grpc::{self as testing, Bearer};
use reemploi_testing::on_both_backends;
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

#[path = "identity/upgrade.rs"]
mod upgrade;

type Client = IdentityServiceClient<InterceptedService<Channel, Bearer>>;

on_both_backends!(
    sign_in_answers_alike_for_every_failure,
    failed_sign_ins_slow_down,
    refresh_tokens_rotate_and_a_reuse_ends_the_session,
    invitations_work_once_and_expire,
    password_resets_work_once_and_expire,
    sign_up_makes_a_pending_partner_account,
    accounts_are_published_once_each_change_and_once_all_at_upgrade,
    api_tokens_expire_and_are_revoked_everywhere,
    old_keys_verify_until_withdrawn,
    external_sign_in_links_by_verified_email_or_invitation,
    external_sign_in_refuses_what_does_not_hold,
    behind_a_trusted_proxy_failures_count_per_forwarded_address,
);

const PASSWORD: &str = "tuiles-de-Mulhouse-1932";

struct App {
    addr: std::net::SocketAddr,
    auth: Authenticator,
    data_dir: PathBuf,
    db: TestDb,
    served: Option<testing::Spawned>,
}

async fn spawn(backend: Backend) -> App {
    spawn_with(backend, &Default::default()).await
}

async fn spawn_with(backend: Backend, args: &reemploi_identity::IdentityArgs) -> App {
    let defaults = RateLimits::from_args(&reemploi_runtime::config::LimitArgs::default());
    spawn_limited(backend, args, defaults).await
}

async fn spawn_limited(
    backend: Backend,
    args: &reemploi_identity::IdentityArgs,
    limits: RateLimits,
) -> App {
    let db = reemploi_testing::db::fresh(backend).await;
    let bus = InProcessBus::temporary().await.unwrap();
    let mut ctx = testing::context(db.db.clone(), Arc::new(bus));
    ctx.auth = ctx.auth.with_rate_limits(limits);
    let running = reemploi_identity::start(ctx.clone(), args).await.unwrap();
    let served = testing::spawn(&ctx, vec![running]).await;
    App {
        addr: served.addr,
        auth: ctx.auth.clone(),
        data_dir: ctx.data_dir.clone(),
        db,
        served: Some(served),
    }
}

impl App {
    async fn client(&self, token: Option<String>) -> Client {
        IdentityServiceClient::with_interceptor(testing::channel(self.addr).await, Bearer(token))
    }

    async fn admin(&self) -> Client {
        self.client(Some(testing::token(Role::Admin, None, None)))
            .await
    }

    /// Invites `email` as a site manager of m2A and accepts with PASSWORD.
    async fn account(&self, email: &str) -> pb::Session {
        let inv = self
            .admin()
            .await
            .create_invitation(invitation(email, pb::AccountRole::SiteManager, "m2A", ""))
            .await
            .unwrap()
            .into_inner();
        self.client(None)
            .await
            .accept_invitation(pb::AcceptInvitationRequest {
                code: inv.code,
                password: PASSWORD.into(),
                display_name: "Chargée d'opération".into(),
            })
            .await
            .unwrap()
            .into_inner()
    }

    async fn sign_in(&self, email: &str, password: &str) -> Result<pb::Session, tonic::Status> {
        self.client(None)
            .await
            .sign_in(pb::SignInRequest {
                email: email.into(),
                password: password.into(),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// Sets `column` of every row of `table` to a time in the past.
    async fn expire_all(&self, table: &str, column: &str) {
        let sql = format!("UPDATE {table} SET {column} = 1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(self.db.db.pool())
            .await
            .unwrap();
    }

    async fn stop(mut self) {
        if let Some(s) = self.served.take() {
            s.stop().await.unwrap();
        }
    }
}

fn invitation(
    email: &str,
    role: pb::AccountRole,
    org: &str,
    partner: &str,
) -> pb::CreateInvitationRequest {
    pb::CreateInvitationRequest {
        invitation: Some(pb::Invitation {
            email: email.into(),
            role: role as i32,
            org: org.into(),
            partner: partner.into(),
            ..Default::default()
        }),
    }
}

// ---------------------------------------------------------------- OpenID Connect

const CLIENT_ID: &str = "reemploi-tests";
const CLIENT_SECRET: &str = "a-client-secret-for-the-tests";
const REDIRECT: &str = "http://localhost:8080/oidc/callback";

/// A real OpenID provider (`tests/oidc/provider.mjs`, oidc-provider on
/// node) on a free port, killed when dropped.
struct OpenIdProvider {
    child: std::process::Child,
    issuer: String,
}

impl Drop for OpenIdProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Installs the provider's npm packages once per test run when they are
/// missing (`scripts/test` installs them first).
fn provider_dir() -> PathBuf {
    static INSTALLED: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc");
            if !dir.join("node_modules/oidc-provider").exists() {
                let status = std::process::Command::new("npm")
                    .args(["ci", "--no-audit", "--no-fund", "--silent"])
                    .current_dir(&dir)
                    .status()
                    .expect("npm is needed for the OpenID provider of the tests");
                assert!(status.success(), "npm ci in {} failed", dir.display());
            }
            dir
        })
        .clone()
}

fn start_provider() -> OpenIdProvider {
    use std::io::BufRead;
    let dir = provider_dir();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new("node")
        .args([
            "provider.mjs",
            &port.to_string(),
            CLIENT_ID,
            CLIENT_SECRET,
            REDIRECT,
        ])
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("node is needed for the OpenID provider of the tests");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if line.is_ok_and(|l| l.contains("listening")) {
                let _ = tx.send(());
            }
        }
    });
    let provider = OpenIdProvider {
        child,
        issuer: format!("http://127.0.0.1:{port}"),
    };
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the OpenID provider did not start");
    provider
}

fn oidc_args(provider: &OpenIdProvider) -> reemploi_identity::IdentityArgs {
    reemploi_identity::IdentityArgs {
        oidc: reemploi_identity::oidc::OidcArgs {
            issuer: Some(provider.issuer.clone()),
            client_id: Some(CLIENT_ID.to_owned()),
            client_secret: Some(CLIENT_SECRET.to_owned()),
            redirect_url: Some(REDIRECT.to_owned()),
        },
        ..Default::default()
    }
}

/// What the provider sends back to the redirect URL.
struct Redirect {
    code: String,
    state: String,
}

/// Goes where a browser goes from `url` as the person `hint` (the test
/// provider signs them in at once), up to the redirect back to us.
async fn browse(url: &str, hint: &str) -> Redirect {
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut url = reqwest::Url::parse(url).unwrap();
    url.query_pairs_mut().append_pair("login_hint", hint);
    for _ in 0..10 {
        let answer = http.get(url.clone()).send().await.unwrap();
        let status = answer.status();
        let Some(location) = answer.headers().get("location").cloned() else {
            panic!("{status}: {}", answer.text().await.unwrap_or_default());
        };
        url = url.join(location.to_str().unwrap()).unwrap();
        if url.as_str().starts_with(REDIRECT) {
            let param = |name: &str| {
                url.query_pairs()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            return Redirect {
                code: param("code"),
                state: param("state"),
            };
        }
    }
    panic!("no redirect back after 10 hops");
}

/// `url` with its `nonce` replaced by `nonce`.
fn with_nonce(url: &str, nonce: &str) -> String {
    let mut url = reqwest::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "nonce" {
                nonce.into()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url.into()
}

impl App {
    /// A whole sign-in with the provider as `hint`, from the start to the
    /// finish.
    async fn external_sign_in(&self, hint: &str) -> Result<pb::Session, tonic::Status> {
        let mut client = self.client(None).await;
        let started = client
            .start_external_sign_in(pb::StartExternalSignInRequest {})
            .await?
            .into_inner();
        let back = browse(&started.authorization_url, hint).await;
        assert_eq!(back.state, started.state);
        self.finish(&back).await
    }

    async fn finish(&self, back: &Redirect) -> Result<pb::Session, tonic::Status> {
        self.client(None)
            .await
            .finish_external_sign_in(pb::FinishExternalSignInRequest {
                state: back.state.clone(),
                code: back.code.clone(),
            })
            .await
            .map(tonic::Response::into_inner)
    }
}

async fn external_sign_in_links_by_verified_email_or_invitation(backend: Backend) {
    let provider = start_provider();
    let app = spawn_with(backend, &oidc_args(&provider)).await;
    // An account with a password: the provider's identity is linked to it.
    let ada = app.account("ada@m2a.example").await.account.unwrap();
    let session = app.external_sign_in("ada@m2a.example").await.unwrap();
    assert_eq!(session.account.as_ref().unwrap().name, ada.name);
    let principal = app.auth.verify(&session.access_token).unwrap();
    assert_eq!(principal.subject, ada.name);
    assert_eq!(principal.org.as_deref(), Some("m2A"));
    // Next time through the link; the password still works too.
    let again = app.external_sign_in("ada@m2a.example").await.unwrap();
    assert_eq!(again.account.unwrap().name, ada.name);
    app.sign_in("ada@m2a.example", PASSWORD).await.unwrap();

    // An invitation not yet accepted: the sign-in makes its account, with
    // its grant, and the invitation's link no longer works.
    let inv = app
        .admin()
        .await
        .create_invitation(invitation(
            "bea@m2a.example",
            pb::AccountRole::Admin,
            "",
            "",
        ))
        .await
        .unwrap()
        .into_inner();
    let bea = app.external_sign_in("bea@m2a.example").await.unwrap();
    let account = bea.account.unwrap();
    assert_eq!(account.email, "bea@m2a.example");
    assert_eq!(account.role, pb::AccountRole::Admin as i32);
    assert_eq!(
        app.auth.verify(&bea.access_token).unwrap().role,
        Role::Admin
    );
    let used = app
        .client(None)
        .await
        .accept_invitation(pb::AcceptInvitationRequest {
            code: inv.code,
            password: PASSWORD.into(),
            display_name: "Béatrice".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&used).as_deref(), Some("LINK_INVALID"), "{used:?}");
    // No password was set: the account signs in through the provider only.
    let err = app.sign_in("bea@m2a.example", PASSWORD).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    app.stop().await;
}

async fn external_sign_in_refuses_what_does_not_hold(backend: Backend) {
    let provider = start_provider();
    let app = spawn_with(backend, &oidc_args(&provider)).await;
    app.account("carl@m2a.example").await;
    app.account("other-audience.dan@m2a.example").await;
    let mut client = app.client(None).await;
    let refused = |err: &tonic::Status, code: Code, why: &str| {
        assert_eq!(err.code(), code, "{err:?}");
        assert_eq!(reason(err).as_deref(), Some(why), "{err:?}");
    };

    // Nobody has this email, nor an invitation of it.
    let err = app
        .external_sign_in("nobody@m2a.example")
        .await
        .unwrap_err();
    refused(&err, Code::PermissionDenied, "NOT_INVITED");
    // The provider did not verify the email: no link on its word.
    let err = app
        .external_sign_in("unverified.carl@m2a.example")
        .await
        .unwrap_err();
    refused(&err, Code::PermissionDenied, "EMAIL_NOT_VERIFIED");
    // An id_token made for another client.
    let err = app
        .external_sign_in("other-audience.dan@m2a.example")
        .await
        .unwrap_err();
    refused(&err, Code::Unauthenticated, "EXTERNAL_SIGN_IN_REFUSED");
    assert!(err.message().contains("udience"), "{err:?}");

    // A nonce that is not the sign-in's (an authorization request tampered
    // with, or another sign-in's answer).
    let started = client
        .start_external_sign_in(pb::StartExternalSignInRequest {})
        .await
        .unwrap()
        .into_inner();
    let forged = with_nonce(&started.authorization_url, "n_forged");
    let back = browse(&forged, "carl@m2a.example").await;
    let err = app.finish(&back).await.unwrap_err();
    refused(&err, Code::Unauthenticated, "EXTERNAL_SIGN_IN_REFUSED");
    assert!(err.message().contains("nonce"), "{err:?}");

    // A state works once, even when its sign-in succeeded.
    let started = client
        .start_external_sign_in(pb::StartExternalSignInRequest {})
        .await
        .unwrap()
        .into_inner();
    let back = browse(&started.authorization_url, "carl@m2a.example").await;
    app.finish(&back).await.unwrap();
    let err = app.finish(&back).await.unwrap_err();
    refused(&err, Code::FailedPrecondition, "LINK_INVALID");
    // Missing fields are named.
    let err = client
        .finish_external_sign_in(pb::FinishExternalSignInRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let fields: Vec<String> = field_violations(&err).into_iter().map(|v| v.0).collect();
    assert_eq!(fields, ["state", "code"], "{err:?}");
    // None of the refused identities got an account.
    let listed = app
        .admin()
        .await
        .list_accounts(pb::ListAccountsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut emails: Vec<String> = listed.accounts.into_iter().map(|a| a.email).collect();
    emails.sort();
    assert_eq!(
        emails,
        ["carl@m2a.example", "other-audience.dan@m2a.example"]
    );
    app.stop().await;

    // Without a provider configured, the external sign-in says so.
    let plain = spawn(backend).await;
    let err = plain
        .client(None)
        .await
        .start_external_sign_in(pb::StartExternalSignInRequest {})
        .await
        .unwrap_err();
    refused(&err, Code::FailedPrecondition, "NO_IDENTITY_PROVIDER");
    plain.stop().await;
}

/// Polls `check` until it holds, for at most `within`.
async fn eventually(within: Duration, what: &str, mut check: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < within, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    start.elapsed()
}

/// The code (`inv_…` or `rst_…`) of the latest mail to `to` in the mail
/// files of `dir`, waiting for it to be written.
async fn mailed_code(dir: &Path, to: &str, prefix: &str) -> String {
    let start = Instant::now();
    loop {
        if let Some(code) = find_code(&dir.join("mail"), to, prefix) {
            return code;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no {prefix} mail to {to}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn find_code(dir: &Path, to: &str, prefix: &str) -> Option<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    files.iter().rev().find_map(|path| {
        // Undo quoted-printable soft line breaks: a code may be cut by one.
        let text = std::fs::read_to_string(path)
            .ok()?
            .replace("=\r\n", "")
            .replace("=\n", "");
        if !text.contains(to) {
            return None;
        }
        let start = text.find(&format!("{prefix}_"))?;
        let code: String = text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .collect();
        (code.len() == prefix.len() + 1 + 43).then_some(code)
    })
}

async fn sign_in_answers_alike_for_every_failure(backend: Backend) {
    let app = spawn(backend).await;
    let session = app.account("Marie@Example.org").await;
    assert_eq!(session.account.as_ref().unwrap().email, "marie@example.org");
    // Right: the access token works on a method that needs one.
    let ok = app.sign_in("marie@example.org", PASSWORD).await.unwrap();
    let me = app
        .client(Some(ok.access_token.clone()))
        .await
        .get_account(pb::GetAccountRequest {
            name: "accounts/me".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(me.role, pb::AccountRole::SiteManager as i32);
    assert_eq!(me.org, "m2A");
    let principal = app.auth.verify(&ok.access_token).unwrap();
    assert_eq!(principal.subject, me.name);
    // Wrong password, unknown email, disabled account: one answer.
    let wrong = app
        .sign_in("marie@example.org", "not-the-password-1")
        .await
        .unwrap_err();
    let unknown = app
        .sign_in("nobody@example.org", PASSWORD)
        .await
        .unwrap_err();
    app.admin()
        .await
        .disable_account(pb::DisableAccountRequest {
            name: me.name.clone(),
        })
        .await
        .unwrap();
    let disabled = app
        .sign_in("marie@example.org", PASSWORD)
        .await
        .unwrap_err();
    for status in [&wrong, &unknown, &disabled] {
        assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
        assert_eq!(status.message(), wrong.message());
        assert_eq!(reason(status).as_deref(), Some("SIGN_IN_FAILED"));
    }
    // The disabled account's token stops working (the deny list).
    eventually(Duration::from_secs(1), "disabled account refused", || {
        matches!(app.auth.verify(&ok.access_token), Err(AuthError::Revoked))
    })
    .await;
    // Bad input says what is wrong.
    let bad = app.sign_in("not an email", PASSWORD).await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(field_violations(&bad).iter().any(|(f, _)| f == "email"));
    app.stop().await;
}

async fn failed_sign_ins_slow_down(backend: Backend) {
    let app = spawn(backend).await;
    app.account("paul@example.org").await;
    for email in ["paul@example.org", "ghost@example.org"] {
        for _ in 0..reemploi_identity::throttle::FREE_FAILURES {
            let s = app.sign_in(email, "wrong-password-123").await.unwrap_err();
            assert_eq!(s.code(), Code::Unauthenticated);
        }
        // Even the right password waits now: the count is per email.
        let s = app.sign_in(email, PASSWORD).await.unwrap_err();
        assert_eq!(s.code(), Code::ResourceExhausted, "{email}: {s:?}");
        assert!(reemploi_runtime::status::retry_delay(&s).is_some());
    }
    app.stop().await;
}

async fn refresh_tokens_rotate_and_a_reuse_ends_the_session(backend: Backend) {
    let app = spawn(backend).await;
    app.account("lea@example.org").await;
    let first = app.sign_in("lea@example.org", PASSWORD).await.unwrap();
    let mut anon = app.client(None).await;
    let refresh = |token: &str| pb::RefreshRequest {
        refresh_token: token.into(),
    };
    let second = anon
        .refresh(refresh(&first.refresh_token))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(second.refresh_token, first.refresh_token);
    assert!(app.auth.verify(&second.access_token).is_ok());
    // The first refresh token again: a reuse; the whole session ends.
    let reused = anon
        .refresh(refresh(&first.refresh_token))
        .await
        .unwrap_err();
    assert_eq!(reason(&reused).as_deref(), Some("REFRESH_TOKEN_REUSED"));
    let ended = anon
        .refresh(refresh(&second.refresh_token))
        .await
        .unwrap_err();
    assert_eq!(reason(&ended).as_deref(), Some("SESSION_ENDED"));
    eventually(
        Duration::from_secs(1),
        "the session's access tokens refused",
        || {
            matches!(
                app.auth.verify(&second.access_token),
                Err(AuthError::Revoked)
            ) && matches!(
                app.auth.verify(&first.access_token),
                Err(AuthError::Revoked)
            )
        },
    )
    .await;
    // Another session of the same account is untouched; signing out ends it.
    let other = app.sign_in("lea@example.org", PASSWORD).await.unwrap();
    assert!(app.auth.verify(&other.access_token).is_ok());
    anon.sign_out(pb::SignOutRequest {
        refresh_token: other.refresh_token.clone(),
    })
    .await
    .unwrap();
    let after = anon
        .refresh(refresh(&other.refresh_token))
        .await
        .unwrap_err();
    assert_eq!(reason(&after).as_deref(), Some("SESSION_ENDED"));
    eventually(Duration::from_secs(1), "signed-out token refused", || {
        app.auth.verify(&other.access_token).is_err()
    })
    .await;
    // An expired refresh token is refused.
    let late = app.sign_in("lea@example.org", PASSWORD).await.unwrap();
    app.expire_all("refresh_tokens", "expires_at").await;
    let expired = anon
        .refresh(refresh(&late.refresh_token))
        .await
        .unwrap_err();
    assert_eq!(reason(&expired).as_deref(), Some("SESSION_ENDED"));
    app.stop().await;
}

async fn invitations_work_once_and_expire(backend: Backend) {
    let app = spawn(backend).await;
    // The first admin of an empty deployment was invited at start.
    mailed_code(&app.data_dir, "admin@reemploi.invalid", "inv").await;
    let mut admin = app.admin().await;
    let inv = admin
        .create_invitation(invitation(
            "ines@example.org",
            pb::AccountRole::Admin,
            "",
            "",
        ))
        .await
        .unwrap()
        .into_inner();
    // The mail carries the same code as the answer.
    assert_eq!(
        mailed_code(&app.data_dir, "ines@example.org", "inv").await,
        inv.code
    );
    let accept = |code: &str, password: &str| pb::AcceptInvitationRequest {
        code: code.into(),
        password: password.into(),
        display_name: "Inès".into(),
    };
    let mut anon = app.client(None).await;
    // A weak password is refused and leaves the link usable.
    let weak = anon
        .accept_invitation(accept(&inv.code, "azerty123456"))
        .await
        .unwrap_err();
    assert_eq!(weak.code(), Code::InvalidArgument);
    assert!(field_violations(&weak).iter().any(|(f, _)| f == "password"));
    let session = anon
        .accept_invitation(accept(&inv.code, PASSWORD))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(session.account.unwrap().role, pb::AccountRole::Admin as i32);
    let again = anon
        .accept_invitation(accept(&inv.code, PASSWORD))
        .await
        .unwrap_err();
    assert_eq!(reason(&again).as_deref(), Some("LINK_INVALID"));
    // An invitation past its 7 days no longer works.
    let late = admin
        .create_invitation(invitation(
            "tom@example.org",
            pb::AccountRole::Integrator,
            "",
            "",
        ))
        .await
        .unwrap()
        .into_inner();
    app.expire_all("invitations", "expires_at").await;
    let expired = anon
        .accept_invitation(accept(&late.code, PASSWORD))
        .await
        .unwrap_err();
    assert_eq!(reason(&expired).as_deref(), Some("LINK_INVALID"));
    // Who may invite whom.
    let partner = uuid::Uuid::now_v7();
    let mut staff = app
        .client(Some(testing::token(
            Role::Partner,
            None,
            Some(&partner.to_string()),
        )))
        .await;
    let colleague = invitation(
        "sam@example.org",
        pb::AccountRole::Partner,
        "",
        &format!("partners/{partner}"),
    );
    let unverified = staff.create_invitation(colleague).await.unwrap_err();
    assert_eq!(reason(&unverified).as_deref(), Some("PARTNER_NOT_VERIFIED"));
    let admin_invite = staff
        .create_invitation(invitation(
            "eve@example.org",
            pb::AccountRole::Admin,
            "",
            "",
        ))
        .await
        .unwrap_err();
    assert_eq!(admin_invite.code(), Code::PermissionDenied);
    let mut manager = app
        .client(Some(testing::token(Role::SiteManager, Some("m2A"), None)))
        .await;
    let by_manager = manager
        .create_invitation(invitation(
            "eve@example.org",
            pb::AccountRole::SiteManager,
            "m2A",
            "",
        ))
        .await
        .unwrap_err();
    assert_eq!(by_manager.code(), Code::PermissionDenied);
    // A site manager needs an organisation; the field says so.
    let no_org = admin
        .create_invitation(invitation(
            "eve@example.org",
            pb::AccountRole::SiteManager,
            "",
            "",
        ))
        .await
        .unwrap_err();
    assert!(
        field_violations(&no_org)
            .iter()
            .any(|(f, _)| f == "invitation.org")
    );
    app.stop().await;
}

async fn password_resets_work_once_and_expire(backend: Backend) {
    let app = spawn(backend).await;
    app.account("hugo@example.org").await;
    let mut anon = app.client(None).await;
    let before = app.sign_in("hugo@example.org", PASSWORD).await.unwrap();
    let ask = |email: &str| pb::RequestPasswordResetRequest {
        email: email.into(),
    };
    anon.request_password_reset(ask("HUGO@example.org"))
        .await
        .unwrap();
    // An unknown email gets the same answer, and no mail.
    anon.request_password_reset(ask("nobody@example.org"))
        .await
        .unwrap();
    let code = mailed_code(&app.data_dir, "hugo@example.org", "rst").await;
    assert!(find_code(&app.data_dir.join("mail"), "nobody@example.org", "rst").is_none());
    let reset = |password: &str| pb::ResetPasswordRequest {
        code: code.clone(),
        password: password.into(),
    };
    let new_password = "briques-pleines-du-Rebberg";
    anon.reset_password(reset(new_password)).await.unwrap();
    assert!(app.sign_in("hugo@example.org", PASSWORD).await.is_err());
    assert!(app.sign_in("hugo@example.org", new_password).await.is_ok());
    let again = anon
        .reset_password(reset("encore-un-autre-mot-2"))
        .await
        .unwrap_err();
    assert_eq!(reason(&again).as_deref(), Some("LINK_INVALID"));
    // Sessions from before the reset are over.
    eventually(
        Duration::from_secs(1),
        "old tokens refused after a reset",
        || {
            matches!(
                app.auth.verify(&before.access_token),
                Err(AuthError::Revoked)
            )
        },
    )
    .await;
    // A link past its 30 minutes no longer works.
    anon.request_password_reset(ask("hugo@example.org"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let late = mailed_code(&app.data_dir, "hugo@example.org", "rst").await;
    app.expire_all("password_resets", "expires_at").await;
    let expired = anon
        .reset_password(pb::ResetPasswordRequest {
            code: late,
            password: "encore-un-autre-mot-3".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&expired).as_deref(), Some("LINK_INVALID"));
    app.stop().await;
}

async fn sign_up_makes_a_pending_partner_account(backend: Backend) {
    let app = spawn(backend).await;
    let mut anon = app.client(None).await;
    let request = |email: &str, password: &str| pb::SignUpRequest {
        email: email.into(),
        password: password.into(),
        display_name: "Camille".into(),
        structure_name: "Atelier Réemploi Coteaux".into(),
    };
    let session = anon
        .sign_up(request("camille@arc.example", PASSWORD))
        .await
        .unwrap()
        .into_inner();
    let account = session.account.unwrap();
    assert_eq!(account.role, pb::AccountRole::Partner as i32);
    assert!(account.partner.starts_with("partners/"));
    let principal = app.auth.verify(&session.access_token).unwrap();
    assert_eq!(
        principal.own_partner().map(|p| format!("partners/{p}")),
        Some(account.partner.clone())
    );
    let taken = anon
        .sign_up(request("Camille@arc.example", PASSWORD))
        .await
        .unwrap_err();
    assert_eq!(taken.code(), Code::AlreadyExists);
    let weak = anon
        .sign_up(request("other@arc.example", "password"))
        .await
        .unwrap_err();
    assert!(field_violations(&weak).iter().any(|(f, _)| f == "password"));
    app.stop().await;
}

/// The account events in the outbox, by subject.
async fn account_events(app: &App) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT subject FROM outbox WHERE subject LIKE 'reemploi.identity.account.%' ORDER BY seq",
    )
    .fetch_all(app.db.db.pool())
    .await
    .unwrap()
}

async fn accounts_are_published_once_each_change_and_once_all_at_upgrade(backend: Backend) {
    let app = spawn(backend).await;
    app.account("cheffe@m2a.example").await;
    assert_eq!(
        account_events(&app).await,
        ["reemploi.identity.account.created"]
    );
    // A database from before accounts were published: everything is
    // published once, not twice.
    sqlx::query("DELETE FROM outbox")
        .execute(app.db.db.pool())
        .await
        .unwrap();
    sqlx::query("DELETE FROM service_keys WHERE name = 'accounts-published'")
        .execute(app.db.db.pool())
        .await
        .unwrap();
    assert!(
        reemploi_identity::repo::publish_accounts_once(&app.db.db)
            .await
            .unwrap()
    );
    assert!(
        !reemploi_identity::repo::publish_accounts_once(&app.db.db)
            .await
            .unwrap()
    );
    assert_eq!(
        account_events(&app).await,
        ["reemploi.identity.account.updated"]
    );
    app.stop().await;
}

async fn api_tokens_expire_and_are_revoked_everywhere(backend: Backend) {
    let app = spawn(backend).await;
    let mut admin = app.admin().await;
    let in_days = |days: i64| prost_types::Timestamp {
        seconds: reemploi_store::now_millis() / 1000 + days * 86_400,
        nanos: 0,
    };
    let create = |expire: Option<prost_types::Timestamp>| pb::CreateApiTokenRequest {
        api_token: Some(pb::ApiToken {
            display_name: "plateforme régionale".into(),
            expire_time: expire,
            ..Default::default()
        }),
    };
    for bad in [None, Some(in_days(-1)), Some(in_days(400))] {
        let s = admin.create_api_token(create(bad)).await.unwrap_err();
        assert!(
            field_violations(&s)
                .iter()
                .any(|(f, _)| f == "api_token.expire_time"),
            "{s:?}"
        );
    }
    let made = admin
        .create_api_token(create(Some(in_days(90))))
        .await
        .unwrap()
        .into_inner();
    let token = made.api_token.unwrap();
    let principal = app.auth.verify(&made.secret).unwrap();
    assert_eq!(principal.role, Role::Integrator);
    assert_eq!(principal.subject, token.name);
    let listed = admin
        .list_api_tokens(pb::ListApiTokensRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.api_tokens.len(), 1);
    // Only admins manage tokens; an integrator cannot make more.
    let mut integrator = app.client(Some(made.secret.clone())).await;
    let denied = integrator
        .create_api_token(create(Some(in_days(9))))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let revoked = admin
        .revoke_api_token(pb::RevokeApiTokenRequest {
            name: token.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(revoked.revoke_time.is_some());
    eventually(Duration::from_secs(1), "revoked API token refused", || {
        matches!(app.auth.verify(&made.secret), Err(AuthError::Revoked))
    })
    .await;
    app.stop().await;
}

async fn old_keys_verify_until_withdrawn(backend: Backend) {
    let app = spawn(backend).await;
    app.account("kim@example.org").await;
    let old = app.sign_in("kim@example.org", PASSWORD).await.unwrap();
    let mut admin = app.admin().await;
    let rotated = admin
        .rotate_signing_keys(pb::RotateSigningKeysRequest {
            retire_previous: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        rotated.keys.len(),
        2,
        "the old key still verifies its tokens"
    );
    assert!(app.auth.verify(&old.access_token).is_ok());
    let new = app.sign_in("kim@example.org", PASSWORD).await.unwrap();
    let kid = |t: &str| jsonwebtoken::decode_header(t).unwrap().kid.unwrap();
    assert_ne!(kid(&new.access_token), kid(&old.access_token));
    assert!(app.auth.verify(&new.access_token).is_ok());
    // Withdrawing the previous keys refuses what they signed at once.
    let fresh = admin
        .rotate_signing_keys(pb::RotateSigningKeysRequest {
            retire_previous: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fresh.keys.len(), 1);
    for token in [&old.access_token, &new.access_token] {
        assert!(
            matches!(
                app.auth.verify(token),
                Err(AuthError::UnknownKey | AuthError::Revoked)
            ),
            "a token of a withdrawn key still verifies"
        );
    }
    let latest = app.sign_in("kim@example.org", PASSWORD).await.unwrap();
    assert_eq!(kid(&latest.access_token), fresh.keys[0].kid);
    assert!(app.auth.verify(&latest.access_token).is_ok());
    app.stop().await;
}

/// A sign-in with a wrong password, made by a proxy for `client`.
async fn failed_for(app: &App, email: &str, client: &str) -> Code {
    let mut request = tonic::Request::new(pb::SignInRequest {
        email: email.into(),
        password: "not-the-password-1".into(),
    });
    request
        .metadata_mut()
        .insert(FORWARDED_FOR, client.parse().unwrap());
    let mut client = IdentityServiceClient::new(testing::channel(app.addr).await);
    client.sign_in(request).await.unwrap_err().code()
}

async fn behind_a_trusted_proxy_failures_count_per_forwarded_address(backend: Backend) {
    // The web app calls from loopback for everyone signing in through it
    // (no rate limits: the sign-in throttling alone is under test).
    let proxy = [std::net::IpAddr::from([127, 0, 0, 1])];
    let limits = RateLimits::none().trusting(&proxy);
    let app = spawn_limited(backend, &Default::default(), limits).await;
    // A spray from one person, one email each time: their address ends up
    // slowed down...
    let mut codes = Vec::new();
    for n in 0..=reemploi_identity::throttle::FREE_FAILURES * 4 {
        codes.push(failed_for(&app, &format!("spray{n}@example.org"), "198.51.100.7").await);
    }
    assert_eq!(codes.last(), Some(&Code::ResourceExhausted), "{codes:?}");
    assert!(
        codes[..codes.len() - 1]
            .iter()
            .all(|c| *c == Code::Unauthenticated)
    );
    // ...not everyone else behind the same proxy.
    let other = failed_for(&app, "someone@example.org", "198.51.100.8").await;
    assert_eq!(other, Code::Unauthenticated);
    app.stop().await;
}
