//! The web app driven by a real HTTP client with a cookie jar, in front of
//! the real identity, inventory, registry, matching, impact and notification
//! services (SQLite,
//! in-process bus, each on port 0): sessions, CSRF, headers, and the API's
//! own checks showing through the pages.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reemploi_events::{Bus, InProcessBus};
use reemploi_proto::identity::{self as idpb, identity_service_client::IdentityServiceClient};
use reemploi_proto::impact::{self as impact_pb, impact_service_client::ImpactServiceClient};
use reemploi_proto::inventory::{self as ipb, inventory_service_client::InventoryServiceClient};
use reemploi_proto::notify::{self as npb, notification_service_client::NotificationServiceClient};
use reemploi_proto::registry::{self as rpb, registry_service_client::RegistryServiceClient};
use reemploi_proto::types as tpb;
use reemploi_runtime::auth::Role;
use reemploi_runtime::config::AuthArgs;
use reemploi_testing::Backend;
use reemploi_testing::db::TestDb;
use reemploi_testing::grpc::{self as testing, Bearer, Spawned};
use reemploi_web::session::{SESSION_COOKIE, Sealer, Session};
use reemploi_web::{Endpoints, WebArgs, WebState};
use reqwest::StatusCode;
use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::{CONTENT_SECURITY_POLICY, COOKIE, LOCATION, SET_COOKIE};
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

#[path = "web/api_tls.rs"]
mod api_tls;
#[path = "web/names.rs"]
mod names;

const PASSWORD: &str = "correct horse battery staple";
const KEY: [u8; 32] = [42; 32];

type Registry = RegistryServiceClient<InterceptedService<Channel, Bearer>>;
type Inventory = InventoryServiceClient<InterceptedService<Channel, Bearer>>;

/// The five services and the web app in front of them.
struct App {
    web: SocketAddr,
    identity: SocketAddr,
    /// Where the identity service writes its mail (no SMTP relay).
    mail: std::path::PathBuf,
    inventory: SocketAddr,
    registry: SocketAddr,
    impact: SocketAddr,
    notify: SocketAddr,
    /// The notification service itself, to sign unsubscribe links.
    notifier: reemploi_notify::Notify,
    web_shutdown: CancellationToken,
    served: Vec<Spawned>,
    _dbs: Vec<TestDb>,
    _data: tempfile::TempDir,
}

impl App {
    async fn start() -> App {
        App::start_on(Arc::new(InProcessBus::temporary().await.unwrap())).await
    }

    /// The services and the web app, all on `bus`.
    async fn start_on(bus: Arc<dyn Bus>) -> App {
        reemploi_runtime::telemetry::init(reemploi_runtime::config::LogFormat::Pretty);
        let dbs = vec![
            reemploi_testing::db::fresh(Backend::Sqlite).await,
            reemploi_testing::db::fresh(Backend::Sqlite).await,
            reemploi_testing::db::fresh(Backend::Sqlite).await,
            reemploi_testing::db::fresh(Backend::Sqlite).await,
            reemploi_testing::db::fresh(Backend::Sqlite).await,
            reemploi_testing::db::fresh(Backend::Sqlite).await,
        ];
        let mut ctx = testing::context(dbs[0].db.clone(), bus.clone());
        // The web app calls from loopback and names each person's address.
        let proxy = [std::net::IpAddr::from([127, 0, 0, 1])];
        ctx.auth = ctx
            .auth
            .clone()
            .with_rate_limits(ctx.auth.rate_limits().clone().trusting(&proxy));
        let mail = ctx.data_dir.join("mail");
        let identity = reemploi_identity::start(ctx.clone(), &Default::default())
            .await
            .unwrap();
        let identity = testing::spawn(&ctx, vec![identity]).await;
        let auth = AuthArgs {
            identity_url: Some(format!("http://{}", identity.addr)),
            ..Default::default()
        };
        // Subscribers first, as `reemploi up` starts them.
        let ctx = testing::context(dbs[1].db.clone(), bus.clone());
        let matching = reemploi_matching::start(ctx.clone(), &Default::default())
            .await
            .unwrap();
        let matching = testing::spawn_with(&ctx, vec![matching], &auth).await;
        let ctx = testing::context(dbs[4].db.clone(), bus.clone());
        let impact = reemploi_impact::start(ctx.clone(), &Default::default())
            .await
            .unwrap();
        let impact = testing::spawn_with(&ctx, vec![impact], &auth).await;
        let ctx = testing::context(dbs[2].db.clone(), bus.clone());
        let inventory = reemploi_inventory::start(ctx.clone(), &Default::default())
            .await
            .unwrap();
        let inventory = testing::spawn_with(&ctx, vec![inventory], &auth).await;
        let ctx = testing::context(dbs[3].db.clone(), bus.clone());
        let registry = reemploi_registry::start(ctx.clone(), &Default::default())
            .await
            .unwrap();
        let registry = testing::spawn_with(&ctx, vec![registry], &auth).await;
        let ctx = testing::context(dbs[5].db.clone(), bus.clone());
        let (notify, notifier) =
            reemploi_notify::start_service(ctx.clone(), &Default::default(), &Default::default())
                .await
                .unwrap();
        let notify = testing::spawn_with(&ctx, vec![notify], &auth).await;
        let url = |addr: SocketAddr| format!("http://{addr}");
        // One address per service, as a distributed deployment has them.
        let endpoints = Endpoints {
            identity: url(identity.addr),
            inventory: url(inventory.addr),
            registry: url(registry.addr),
            matching: url(matching.addr),
            impact: url(impact.addr),
            notify: url(notify.addr),
            ..Endpoints::all("")
        };
        let data = tempfile::tempdir().unwrap();
        let (web, web_shutdown) = serve_web(&endpoints, data.path(), &*bus).await;
        App {
            web,
            identity: identity.addr,
            mail,
            inventory: inventory.addr,
            registry: registry.addr,
            impact: impact.addr,
            notify: notify.addr,
            web_shutdown,
            notifier,
            served: vec![identity, matching, impact, inventory, registry, notify],
            _dbs: dbs,
            _data: data,
        }
    }

    async fn stop(self) {
        self.web_shutdown.cancel();
        for served in self.served {
            served.stop().await.unwrap();
        }
    }

    fn browser(&self) -> Browser {
        Browser::new(self.web)
    }

    async fn identity(&self) -> IdentityServiceClient<Channel> {
        IdentityServiceClient::new(testing::channel(self.identity).await)
    }

    async fn registry(&self, role: Role, partner: Option<&str>) -> Registry {
        let token = testing::token(role, None, partner);
        RegistryServiceClient::with_interceptor(
            testing::channel(self.registry).await,
            Bearer(Some(token)),
        )
    }

    async fn inventory(&self, role: Role, org: Option<&str>, partner: Option<&str>) -> Inventory {
        let token = testing::token(role, org, partner);
        InventoryServiceClient::with_interceptor(
            testing::channel(self.inventory).await,
            Bearer(Some(token)),
        )
    }

    /// An account made the way people get one: an admin's invitation,
    /// accepted with a password.
    async fn account(&self, email: &str, role: idpb::AccountRole, org: &str) {
        let mut admin = IdentityServiceClient::with_interceptor(
            testing::channel(self.identity).await,
            Bearer(Some(testing::token(Role::Admin, None, None))),
        );
        let invitation = admin
            .create_invitation(idpb::CreateInvitationRequest {
                invitation: Some(idpb::Invitation {
                    email: email.into(),
                    role: role as i32,
                    org: org.into(),
                    ..Default::default()
                }),
            })
            .await
            .unwrap()
            .into_inner();
        self.identity()
            .await
            .accept_invitation(idpb::AcceptInvitationRequest {
                code: invitation.code,
                password: PASSWORD.into(),
                display_name: email.split('@').next().unwrap().into(),
            })
            .await
            .unwrap();
    }

    /// A site manager's account of `org`, made as [`App::account`] makes one.
    async fn site_manager(&self, email: &str, org: &str) {
        self.account(email, idpb::AccountRole::SiteManager, org)
            .await;
    }

    async fn partner_status(&self, name: &str) -> rpb::PartnerStatus {
        self.registry(Role::Admin, None)
            .await
            .get_partner(rpb::GetPartnerRequest { name: name.into() })
            .await
            .unwrap()
            .into_inner()
            .status()
    }
}

/// The web app on port 0 in front of `endpoints`, with the cookie key
/// [`KEY`], keeping the pages it renders while it follows `bus`, as
/// `reemploi up` does.
async fn serve_web(
    endpoints: &Endpoints,
    data_dir: &std::path::Path,
    bus: &dyn Bus,
) -> (SocketAddr, CancellationToken) {
    let args = WebArgs {
        cookie_key: Some(KEY.iter().map(|b| format!("{b:02x}")).collect()),
        ..WebArgs::default()
    };
    let state = WebState::new(&args, endpoints, data_dir).unwrap();
    let shutdown = CancellationToken::new();
    state.keep_pages(bus, shutdown.child_token()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let web = listener.local_addr().unwrap();
    tokio::spawn(reemploi_web::serve(listener, state, shutdown.clone()));
    (web, shutdown)
}

/// A browser: a cookie jar, no automatic redirects (the tests read them).
struct Browser {
    client: reqwest::Client,
    jar: Arc<Jar>,
    base: reqwest::Url,
}

impl Browser {
    fn new(web: SocketAddr) -> Browser {
        Browser::from_address(web, std::net::IpAddr::from([127, 0, 0, 1]))
    }

    /// A browser on another machine: it connects from `local`.
    fn from_address(web: SocketAddr, local: std::net::IpAddr) -> Browser {
        let jar = Arc::new(Jar::default());
        let client = reqwest::Client::builder()
            .local_address(local)
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Browser {
            client,
            jar,
            base: format!("http://{web}").parse().unwrap(),
        }
    }

    fn url(&self, path: &str) -> reqwest::Url {
        self.base.join(path).unwrap()
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// A page's status and HTML.
    async fn page(&self, path: &str) -> (StatusCode, String) {
        let response = self.get(path).await;
        assert_csp(&response);
        (response.status(), response.text().await.unwrap())
    }

    /// Signs in through the form of `/connexion?next=…`; the answer.
    async fn sign_in(&self, email: &str, next: &str) -> reqwest::Response {
        let form_page = format!("/connexion?next={}", urlencode(next));
        let (status, html) = self.page(&form_page).await;
        assert_eq!(status, StatusCode::OK);
        let csrf = hidden(&html, "csrf");
        let next_field = hidden(&html, "next");
        self.post(
            "/connexion",
            &[
                ("csrf", &csrf),
                ("next", &next_field),
                ("email", email),
                ("password", PASSWORD),
            ],
        )
        .await
    }

    async fn signed_in(&self, email: &str) {
        let answer = self.sign_in(email, "/").await;
        assert_eq!(answer.status(), StatusCode::SEE_OTHER, "sign-in of {email}");
    }

    fn cookie(&self, name: &str) -> Option<String> {
        let header = self.jar.cookies(&self.base)?;
        header
            .to_str()
            .unwrap()
            .split("; ")
            .filter_map(|pair| pair.split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_owned())
    }

    fn session(&self) -> Session {
        let raw = self.cookie(SESSION_COOKIE).expect("a session cookie");
        Sealer::new(&KEY)
            .open_session(&raw)
            .expect("a session that opens")
    }

    fn set_session(&self, session: &Session) {
        let value = Sealer::new(&KEY).seal_session(session).unwrap();
        self.jar
            .add_cookie_str(&format!("{SESSION_COOKIE}={value}; Path=/"), &self.base);
    }
}

fn urlencode(s: &str) -> String {
    url_pairs(&[("x", s)])[2..].to_owned()
}

fn url_pairs(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        for b in v.bytes() {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

/// The value of the first hidden field `name` of a page.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name}"))
        + marker.len();
    html[start..]
        .split('"')
        .next()
        .unwrap()
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

fn location(response: &reqwest::Response) -> String {
    match response.headers().get(LOCATION) {
        Some(location) => location.to_str().unwrap().to_owned(),
        None => panic!("{} {}: no redirect", response.status(), response.url()),
    }
}

fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn assert_csp(response: &reqwest::Response) {
    let csp = response
        .headers()
        .get(CONTENT_SECURITY_POLICY)
        .unwrap_or_else(|| panic!("no CSP on {}", response.url()))
        .to_str()
        .unwrap();
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert_eq!(response.headers()["referrer-policy"], "same-origin");
}

async fn eventually<T, F, Fut>(what: &str, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(done) = attempt().await {
            return done;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A partner registered by the admin, pending, and its name.
async fn pending_partner(app: &App, siret: &str) -> String {
    app.registry(Role::Admin, None)
        .await
        .register_partner(rpb::RegisterPartnerRequest {
            partner: Some(rpb::Partner {
                legal_name: format!("Ressourcerie {siret}"),
                siret: siret.into(),
                kinds: vec![rpb::PartnerKind::Ressourcerie as i32],
                location: Some(tpb::GeoPoint {
                    latitude: 47.75,
                    longitude: 7.34,
                }),
                accepted_categories: vec!["radiateur".into()],
                weekly_intake_kg: 5_000,
                service_radius_km: 30,
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .name
}

/// The code of the newest mail of the identity service to `to` whose link
/// opens `path`, waiting for it a little: mail is sent after the commit, on
/// a task of its own.
async fn code_in_mail(dir: &std::path::Path, to: &str, path: &str) -> String {
    let marker = format!("{path}?code=");
    let newest = || {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .ok()?
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        files.iter().rev().find_map(|file| {
            let text = std::fs::read_to_string(file).unwrap();
            if !text.contains(&format!("To: {to}")) {
                return None;
            }
            let at = text.find(&marker)? + marker.len();
            Some(
                text[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || "_-".contains(*c))
                    .collect::<String>(),
            )
        })
    };
    for _ in 0..100 {
        if let Some(code) = newest() {
            return code;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no mail with {marker} in {}", dir.display());
}

/// Submits the form of the page at `get` to `action`, with its CSRF token
/// and `fields`.
async fn submit(
    browser: &Browser,
    get: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let (status, html) = browser.page(get).await;
    assert_eq!(status, StatusCode::OK, "{get}");
    let csrf = hidden(&html, "csrf");
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    browser.post(action, &form).await
}

/// A wrong password: the form again, and no session.
async fn wrong_password_refused(browser: &Browser, email: &str) {
    let (_, html) = browser.page("/connexion").await;
    let csrf = hidden(&html, "csrf");
    let form = [
        ("csrf", csrf.as_str()),
        ("email", email),
        ("password", "not the password"),
    ];
    let wrong = browser.post("/connexion", &form).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("Adresse ou mot de passe incorrect")
    );
    assert!(browser.cookie(SESSION_COOKIE).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sign_in_keeps_the_tokens_sealed_in_an_http_only_lax_cookie() {
    let app = App::start().await;
    app.account("admin@m2a.example", idpb::AccountRole::Admin, "")
        .await;
    let browser = app.browser();
    wrong_password_refused(&browser, "admin@m2a.example").await;
    let answer = browser.sign_in("admin@m2a.example", "/").await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let cookie = set_cookies(&answer)
        .into_iter()
        .find(|c| c.starts_with(&format!("{SESSION_COOKIE}=")))
        .expect("the session cookie is set");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(
            cookie.contains(attribute),
            "{attribute} missing from the cookie"
        );
    }
    assert!(
        !cookie.contains("Secure"),
        "plain http in tests: not Secure"
    );
    // The cookie opens with the key only, and shows no token in clear.
    let session = browser.session();
    assert_eq!(session.account.email, "admin@m2a.example");
    let raw = browser.cookie(SESSION_COOKIE).unwrap();
    // No part of a token either (a sealed value is random base64: only
    // whole parts, tens of characters long, cannot appear in it by chance).
    for token in [&session.access_token, &session.refresh_token] {
        assert!(!raw.contains(token.as_str()));
        for part in token.split('.').filter(|p| p.len() >= 16) {
            assert!(!raw.contains(part), "a part of a token in clear");
        }
    }
    assert!(Sealer::new(&[7; 32]).open_session(&raw).is_none());
    // Home sends the admin to the partners, whose page names who is signed in.
    let home = browser.get("/").await;
    assert_eq!(location(&home), "/partenaires");
    let (status, html) = browser.page("/partenaires").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("admin (administration du territoire)"));
    assert_eq!(html.matches("<h1").count(), 1);
    assert!(
        !html.contains("style=") && !html.contains("<script>"),
        "no inline style or script"
    );
    // The CSP is on every response, pages, errors and static files alike.
    for path in [
        "/inscription",
        "/nulle-part",
        "/static/app.css",
        "/static/app.js",
    ] {
        assert_csp(&browser.get(path).await);
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_page_needing_a_session_sends_to_sign_in_and_comes_back() {
    let app = App::start().await;
    app.site_manager("cheffe@bailleur.example", "bailleur")
        .await;
    let browser = app.browser();
    let asked = browser.get("/chantiers?vue=liste").await;
    assert_eq!(asked.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&asked),
        "/connexion?next=%2Fchantiers%3Fvue%3Dliste"
    );
    let answer = browser
        .sign_in("cheffe@bailleur.example", "/chantiers?vue=liste")
        .await;
    assert_eq!(location(&answer), "/chantiers?vue=liste");
    let (status, html) = browser.page("/chantiers?vue=liste").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Mes chantiers"));
    // Another site's address is never returned to.
    let outside = app
        .browser()
        .sign_in("cheffe@bailleur.example", "//evil.example/")
        .await;
    assert_eq!(location(&outside), "/");
    // A session whose access token expired and whose refresh token no
    // longer works ends: sign in again, and come back.
    let mut expired = browser.session();
    expired.access_expires = 0;
    expired.refresh_token = "rt_spent".into();
    browser.set_session(&expired);
    let asked = browser.get("/chantiers").await;
    assert_eq!(location(&asked), "/connexion?next=%2Fchantiers");
    assert!(
        set_cookies(&asked)
            .iter()
            .any(|c| c.starts_with(&format!("{SESSION_COOKIE}=;")))
    );
    // A cookie made with another key is no session either.
    let forged = Sealer::new(&[9; 32]).seal_session(&expired).unwrap();
    browser
        .jar
        .add_cookie_str(&format!("{SESSION_COOKIE}={forged}; Path=/"), &browser.base);
    assert_eq!(
        location(&browser.get("/chantiers").await),
        "/connexion?next=%2Fchantiers"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forms_without_the_right_csrf_token_are_refused_and_change_nothing() {
    let app = App::start().await;
    app.account("admin@m2a.example", idpb::AccountRole::Admin, "")
        .await;
    let partner = pending_partner(&app, "73282932000074").await;
    let id = partner.trim_start_matches("partners/");
    let browser = app.browser();
    browser.signed_in("admin@m2a.example").await;
    let (_, html) = browser.page("/partenaires").await;
    let etag = hidden(&html, "etag");
    let verify = format!("/partenaires/{id}/verifier");
    let without = browser.post(&verify, &[("etag", &etag)]).await;
    assert_eq!(without.status(), StatusCode::FORBIDDEN);
    let wrong = browser
        .post(&verify, &[("csrf", "forged"), ("etag", &etag)])
        .await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    // Another visitor's token is not this session's.
    let other = app.browser();
    let (_, other_html) = other.page("/connexion").await;
    let theirs = hidden(&other_html, "csrf");
    let foreign = browser
        .post(&verify, &[("csrf", &theirs), ("etag", &etag)])
        .await;
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.partner_status(&partner).await,
        rpb::PartnerStatus::Pending
    );
    // Sign-in and sign-up forms need theirs too.
    for path in ["/connexion", "/inscription"] {
        let answer = other
            .post(path, &[("email", "x@example.org"), ("password", PASSWORD)])
            .await;
        assert_eq!(answer.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let signed_up = app
        .identity()
        .await
        .sign_in(idpb::SignInRequest {
            email: "x@example.org".into(),
            password: PASSWORD.into(),
        })
        .await;
    assert!(signed_up.is_err(), "no account was made");
    // With the session's own token, the same form works.
    let csrf = hidden(&html, "csrf");
    let done = browser
        .post(&verify, &[("csrf", &csrf), ("etag", &etag)])
        .await;
    assert_eq!(location(&done), "/partenaires");
    assert_eq!(
        app.partner_status(&partner).await,
        rpb::PartnerStatus::Verified
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_is_renewed_silently_once_for_requests_that_race() {
    let app = App::start().await;
    app.account("admin@m2a.example", idpb::AccountRole::Admin, "")
        .await;
    let browser = app.browser();
    browser.signed_in("admin@m2a.example").await;
    let mut old = browser.session();
    old.access_expires = reemploi_web::session::now() + 30;
    let value = Sealer::new(&KEY).seal_session(&old).unwrap();
    // Two tabs ask at once with the same cookie (no jar: both send it).
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let ask = || {
        client
            .get(browser.url("/partenaires"))
            .header(COOKIE, format!("{SESSION_COOKIE}={value}"))
            .send()
    };
    let (a, b) = tokio::join!(ask(), ask());
    let renewed: Vec<Session> = [a.unwrap(), b.unwrap()]
        .iter()
        .map(|response| {
            assert_eq!(response.status(), StatusCode::OK);
            let cookie = set_cookies(response)
                .into_iter()
                .find(|c| c.starts_with(&format!("{SESSION_COOKIE}=")))
                .expect("a renewed cookie");
            let raw = cookie
                .split(';')
                .next()
                .unwrap()
                .split_once('=')
                .unwrap()
                .1
                .to_owned();
            Sealer::new(&KEY).open_session(&raw).unwrap()
        })
        .collect();
    assert_ne!(renewed[0].refresh_token, old.refresh_token);
    assert_eq!(
        renewed[0].refresh_token, renewed[1].refresh_token,
        "one renewal for both"
    );
    assert!(renewed[0].access_expires > old.access_expires);
    assert_eq!(renewed[0].csrf, old.csrf, "open forms stay valid");
    // The renewed session works: its refresh token is the live one.
    let again = app
        .identity()
        .await
        .refresh(idpb::RefreshRequest {
            refresh_token: renewed[0].refresh_token.clone(),
        })
        .await;
    assert!(again.is_ok());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sign_out_revokes_the_session() {
    let app = App::start().await;
    app.account("admin@m2a.example", idpb::AccountRole::Admin, "")
        .await;
    let browser = app.browser();
    browser.signed_in("admin@m2a.example").await;
    let session = browser.session();
    // Live streams opened with the session's token: its notifications, and
    // the inventory's changes.
    let bearer = || Bearer(Some(session.access_token.clone()));
    let mut notifications =
        NotificationServiceClient::with_interceptor(testing::channel(app.notify).await, bearer())
            .watch_notifications(npb::WatchNotificationsRequest {})
            .await
            .unwrap()
            .into_inner();
    let mut changes =
        InventoryServiceClient::with_interceptor(testing::channel(app.inventory).await, bearer())
            .watch_lots(ipb::WatchLotsRequest::default())
            .await
            .unwrap()
            .into_inner();
    let (_, html) = browser.page("/partenaires").await;
    let out = browser
        .post("/deconnexion", &[("csrf", &hidden(&html, "csrf"))])
        .await;
    assert_eq!(location(&out), "/connexion");
    // Both end, refused, once the revocation reaches their services.
    for (what, ended) in [
        ("notifications", next_refusal(&mut notifications).await),
        ("lot changes", next_refusal(&mut changes).await),
    ] {
        assert_eq!(
            ended.code(),
            tonic::Code::Unauthenticated,
            "{what}: {ended:?}"
        );
        assert_eq!(
            reemploi_runtime::status::reason(&ended).as_deref(),
            Some("TOKEN_REVOKED"),
            "{what}"
        );
    }
    assert!(notifications.message().await.unwrap().is_none());
    assert!(changes.message().await.unwrap().is_none());
    assert!(
        browser.cookie(SESSION_COOKIE).is_none(),
        "the cookie is cleared"
    );
    let refreshed = app
        .identity()
        .await
        .refresh(idpb::RefreshRequest {
            refresh_token: session.refresh_token.clone(),
        })
        .await;
    assert_eq!(refreshed.unwrap_err().code(), tonic::Code::Unauthenticated);
    // A copy of the old cookie is worth nothing either once the revocation
    // has reached the registry: its pages send to sign-in, and back.
    eventually("the old access token refused", || async {
        browser.set_session(&session);
        let answer = browser.get("/partenaires?statut=pending").await;
        (answer.status() == StatusCode::SEE_OTHER
            && location(&answer) == "/connexion?next=%2Fpartenaires%3Fstatut%3Dpending")
            .then_some(())
    })
    .await;
    app.stop().await;
}

/// The refusal that ends `stream`, skipping what it sends before.
async fn next_refusal<T>(stream: &mut tonic::Streaming<T>) -> tonic::Status {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.message().await {
                Ok(Some(_)) => {}
                Ok(None) => panic!("the stream ended without a refusal"),
                Err(status) => return status,
            }
        }
    })
    .await
    .expect("the stream ends")
}

/// A site of `org` with one draft lot of radiators; the lot's name.
async fn draft_lot(app: &App, org: &str, designation: &str) -> String {
    let mut manager = app.inventory(Role::SiteManager, Some(org), None).await;
    let site = manager
        .create_site(ipb::CreateSiteRequest {
            site: Some(ipb::Site {
                display_name: format!("Chantier {org}"),
                location: Some(tpb::GeoPoint {
                    latitude: 47.746,
                    longitude: 7.301,
                }),
                ..Default::default()
            }),
            request_id: String::new(),
            site_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    manager
        .create_lot(ipb::CreateLotRequest {
            parent: site.name,
            lot: Some(ipb::Lot {
                designation: designation.into(),
                category: "radiateur".into(),
                quantity: Some(tpb::Quantity {
                    unit: tpb::Unit::Piece as i32,
                    milli: 10_000,
                }),
                estimated_mass_g: 400_000,
                ..Default::default()
            }),
            request_id: String::new(),
            lot_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .name
}

async fn lot_status(app: &App, lot: &str) -> ipb::LotStatus {
    app.inventory(Role::Admin, None, None)
        .await
        .get_lot(ipb::GetLotRequest { name: lot.into() })
        .await
        .unwrap()
        .into_inner()
        .status()
}

/// `/chantiers/{site}` and `/chantiers/{site}/publier` of a lot's name.
fn site_paths(lot: &str) -> (String, String) {
    let parts: Vec<&str> = lot.split('/').collect();
    let site = format!("/chantiers/{}", parts[1]);
    let publish = format!("{site}/publier");
    (site, publish)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_site_manager_acts_on_its_own_sites_only() {
    let app = App::start().await;
    app.site_manager("cheffe@bailleur-a.example", "bailleur-a")
        .await;
    let own = draft_lot(&app, "bailleur-a", "Radiateurs fonte tour A").await;
    let theirs = draft_lot(&app, "bailleur-b", "Radiateurs acier tour B").await;
    let browser = app.browser();
    browser.signed_in("cheffe@bailleur-a.example").await;
    let (_, list) = browser.page("/chantiers").await;
    assert!(list.contains("Chantier bailleur-a") && !list.contains("Chantier bailleur-b"));
    // Its own site: the draft, its ledger bar, and a publish button that works.
    let (site, publish) = site_paths(&own);
    let (status, html) = browser.page(&site).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Radiateurs fonte tour A") && html.contains("<svg"));
    assert!(html.contains("10 pièce(s) disponible"));
    let csrf = hidden(&html, "csrf");
    let own_id = own.rsplit('/').next().unwrap();
    let etag_field = format!("etag-{own_id}");
    let etag = hidden(&html, &etag_field);
    let done = browser
        .post(
            &publish,
            &[("csrf", &csrf), ("seul", own_id), (&etag_field, &etag)],
        )
        .await;
    assert_eq!(location(&done), site);
    assert_eq!(lot_status(&app, &own).await, ipb::LotStatus::Published);
    // Another organisation's site: the API hides its drafts and refuses to
    // publish them.
    let (site, publish) = site_paths(&theirs);
    let (_, html) = browser.page(&site).await;
    assert!(
        !html.contains("Radiateurs acier tour B"),
        "another org's draft is not shown"
    );
    let refused = browser
        .post(
            &publish,
            &[
                ("csrf", &csrf),
                ("seul", theirs.rsplit('/').next().unwrap()),
            ],
        )
        .await;
    // Not even its existence: another organisation's draft is not found.
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    assert_eq!(lot_status(&app, &theirs).await, ipb::LotStatus::Draft);
    // The admin's pages are not a site manager's.
    assert_eq!(browser.page("/partenaires").await.0, StatusCode::FORBIDDEN);
    app.stop().await;
}

/// Signs up a structure through the web, registers it through the web
/// form; its partner name.
async fn signed_up_structure(browser: &Browser) -> String {
    let (_, html) = browser.page("/inscription").await;
    let answer = browser
        .post(
            "/inscription",
            &[
                ("csrf", &hidden(&html, "csrf")),
                ("structure_name", "Atelier Réemploi Coteaux"),
                ("display_name", "Camille"),
                ("email", "camille@arc.example"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(location(&answer), "/structure");
    let (_, html) = browser.page("/structure").await;
    let form = |siret: &'static str| {
        vec![
            ("csrf", hidden(&html, "csrf")),
            ("request_id", hidden(&html, "request_id")),
            ("legal_name", "Atelier Réemploi Coteaux".to_owned()),
            ("siret", siret.to_owned()),
            ("kind", "PARTNER_KIND_ACI".to_owned()),
            ("commune", "Mulhouse".to_owned()),
            ("latitude", "47,7480".to_owned()),
            ("longitude", "7.3200".to_owned()),
            ("service_radius_km", "15".to_owned()),
            ("weekly_intake_kg", "8000".to_owned()),
            ("accepted_categories", "radiateur".to_owned()),
        ]
    };
    let post = |fields: Vec<(&'static str, String)>| async move {
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        browser.post("/structure", &pairs).await
    };
    // A bad SIRET: the form again, with the API's message beside the field.
    let refused = post(form("12345678901234")).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let html = refused.text().await.unwrap();
    assert!(html.contains("id=\"siret-erreur\""), "the SIRET is flagged");
    assert!(
        html.contains("Atelier Réemploi Coteaux"),
        "what was typed is kept"
    );
    assert_eq!(location(&post(form("90012345600015")).await), "/structure");
    browser.session().account.partner
}

/// A published lot of ten radiators of a site of `org`; the lot's name.
async fn published_lot(app: &App, org: &str, designation: &str) -> String {
    let lot = draft_lot(app, org, designation).await;
    app.inventory(Role::SiteManager, Some(org), None)
        .await
        .publish_lot(ipb::PublishLotRequest {
            name: lot.clone(),
            etag: String::new(),
        })
        .await
        .unwrap();
    lot
}

/// The admin verifies `partner` with the button of the partners page.
async fn verified_through_the_web(app: &App, partner: &str) {
    let admin = app.browser();
    admin.signed_in("admin@m2a.example").await;
    let (_, html) = admin.page("/partenaires?statut=en-attente").await;
    assert!(html.contains("Atelier Réemploi Coteaux"));
    let id = partner.trim_start_matches("partners/");
    let csrf = hidden(&html, "csrf");
    let etag = hidden(&html, "etag");
    let verified = admin
        .post(
            &format!("/partenaires/{id}/verifier"),
            &[("csrf", &csrf), ("etag", &etag)],
        )
        .await;
    assert_eq!(location(&verified), "/partenaires");
}

/// The structure claims `quantity` of `lot` with the lot page's form,
/// once the inventory has learnt (through events) that it may.
async fn claimed_through_the_web(structure: &Browser, lot: &str, quantity: &str) {
    let parts: Vec<&str> = lot.split('/').collect();
    let page = format!("/lots/{}/{}", parts[1], parts[3]);
    let (_, html) = structure.page(&page).await;
    assert!(html.contains("Quantité souhaitée (en pièce(s))"));
    let (csrf, request_id) = (hidden(&html, "csrf"), hidden(&html, "request_id"));
    let form = |quantity: &str| {
        [
            ("csrf", csrf.clone()),
            ("request_id", request_id.clone()),
            ("quantity", quantity.to_owned()),
        ]
    };
    let bad = structure
        .client
        .post(structure.url(&page))
        .form(&form("deux"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.text().await.unwrap().contains("id=\"quantity-erreur\""));
    eventually("the claim accepted", || async {
        let answer = structure
            .client
            .post(structure.url(&page))
            .form(&form(quantity))
            .send()
            .await
            .unwrap();
        (answer.status() == StatusCode::SEE_OTHER)
            .then(|| assert_eq!(location(&answer), "/mes-reservations"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_structure_signs_up_is_verified_through_the_web_and_claims() {
    let app = App::start().await;
    app.account("admin@m2a.example", idpb::AccountRole::Admin, "")
        .await;
    let lot = published_lot(&app, "bailleur-a", "Radiateurs fonte").await;
    let structure = app.browser();
    let partner = signed_up_structure(&structure).await;
    let (_, html) = structure.page("/structure").await;
    assert!(
        html.contains("attend la vérification"),
        "the pending banner"
    );
    assert_eq!(
        app.partner_status(&partner).await,
        rpb::PartnerStatus::Pending
    );
    verified_through_the_web(&app, &partner).await;
    assert_eq!(
        app.partner_status(&partner).await,
        rpb::PartnerStatus::Verified
    );
    // The structure finds the lot near it, 1.4 km away, and claims 2 of 10.
    let (_, html) = structure.page("/lots").await;
    assert!(
        html.contains("Radiateurs fonte") && html.contains("1,4 km"),
        "{html}"
    );
    claimed_through_the_web(&structure, &lot, "2").await;
    let (_, html) = structure.page("/mes-reservations").await;
    assert!(html.contains("Radiateurs fonte") && html.contains("2 pièce(s)"));
    assert!(html.contains("réservée, en attente de confirmation"));
    // Its own claim's page opens.
    let start = html.find("href=\"/reservations/").unwrap() + "href=\"".len();
    let claim_page = html[start..].split('"').next().unwrap().to_owned();
    let (status, html) = structure.page(&claim_page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Réservation") && html.contains("Expire le"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_partner_cannot_open_another_partners_claim() {
    let app = App::start().await;
    let lot = published_lot(&app, "bailleur-a", "Portes bois").await;
    let other = pending_partner(&app, "73282932000074").await;
    verify(&app, &other).await;
    let claim = claimed_through_the_api(&app, &other, &lot, 1_000, "other-claim").await;
    let path = format!(
        "/reservations/{}",
        claim
            .trim_start_matches("sites/")
            .replace("/lots/", "/")
            .replace("/claims/", "/")
    );
    // The structure that signed up through the web is someone else.
    let browser = app.browser();
    signed_up_structure(&browser).await;
    let (status, html) = browser.page(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{html}");
    // The claim is there for its own partner (the same page, the API's say).
    let session = browser.session();
    assert!(!session.account.partner.is_empty() && session.account.partner != other);
    let (_, html) = browser.page("/mes-reservations").await;
    assert!(html.contains("Aucune réservation"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_invitation_and_a_password_reset_work_through_the_pages_they_are_mailed_to() {
    let app = App::start().await;
    let mut admin = IdentityServiceClient::with_interceptor(
        testing::channel(app.identity).await,
        Bearer(Some(testing::token(Role::Admin, None, None))),
    );
    admin
        .create_invitation(idpb::CreateInvitationRequest {
            invitation: Some(idpb::Invitation {
                email: "nadia@m2a.example".into(),
                role: idpb::AccountRole::SiteManager as i32,
                org: "m2a-habitat".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    // The link of the mail, as the person opens it.
    let code = code_in_mail(&app.mail, "nadia@m2a.example", "/invitation").await;
    let page = format!("/invitation?code={code}");
    let browser = app.browser();
    // Without the form's token: refused, and the invitation still works.
    let forged = browser
        .post(
            "/invitation",
            &[
                ("code", &code),
                ("display_name", "Nadia"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let fields = [("display_name", "Nadia"), ("password", PASSWORD)];
    let hidden_code = hidden(&browser.page(&page).await.1, "code");
    assert_eq!(hidden_code, code);
    let accepted = submit(
        &browser,
        &page,
        "/invitation",
        &[("code", &code), fields[0], fields[1]],
    )
    .await;
    assert_eq!(accepted.status(), StatusCode::SEE_OTHER);
    assert!(browser.cookie(SESSION_COOKIE).is_some());
    let (_, home) = browser.page("/chantiers").await;
    assert!(home.contains("Nadia"), "{home}");
    // The link works once.
    let other = app.browser();
    let again = submit(
        &other,
        &page,
        "/invitation",
        &[("code", &code), fields[0], fields[1]],
    )
    .await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert!(again.text().await.unwrap().contains("plus valable"));

    // A forgotten password: the same answer for an unknown address.
    let forgetful = app.browser();
    for email in ["nadia@m2a.example", "nobody@m2a.example"] {
        let sent = submit(
            &forgetful,
            "/mot-de-passe/oublie",
            "/mot-de-passe/oublie",
            &[("email", email)],
        )
        .await;
        assert_eq!(sent.status(), StatusCode::OK);
        assert!(sent.text().await.unwrap().contains("Si un compte existe"));
    }
    let code = code_in_mail(&app.mail, "nadia@m2a.example", "/mot-de-passe/nouveau").await;
    let page = format!("/mot-de-passe/nouveau?code={code}");
    let weak = submit(
        &forgetful,
        &page,
        "/mot-de-passe/nouveau",
        &[("code", &code), ("password", "court")],
    )
    .await;
    assert_eq!(weak.status(), StatusCode::BAD_REQUEST);
    let new_password = "une autre phrase de passe assez longue";
    let reset = submit(
        &forgetful,
        &page,
        "/mot-de-passe/nouveau",
        &[("code", &code), ("password", new_password)],
    )
    .await;
    assert_eq!(reset.status(), StatusCode::OK);
    assert!(
        reset
            .text()
            .await
            .unwrap()
            .contains("mot de passe est changé")
    );
    // The old password no longer works, the new one does.
    wrong_password_refused(&app.browser(), "nadia@m2a.example").await;
    let signed_in = submit(
        &app.browser(),
        "/connexion",
        "/connexion",
        &[("email", "nadia@m2a.example"), ("password", new_password)],
    )
    .await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_sign_ins_slow_down_their_author_not_everyone_behind_the_web_app() {
    let app = App::start().await;
    app.account("odile@m2a.example", idpb::AccountRole::Admin, "")
        .await;
    // Someone tries password after password, on address after address of
    // emails, from one machine.
    let sprayer = Browser::from_address(app.web, [127, 0, 0, 2].into());
    let mut refused = 0;
    for n in 0..30 {
        let email = format!("essai{n}@m2a.example");
        let answer = submit(
            &sprayer,
            "/connexion",
            "/connexion",
            &[("email", &email), ("password", "pas le bon mot de passe")],
        )
        .await;
        if answer.status() != StatusCode::UNAUTHORIZED {
            refused += 1;
        }
    }
    assert!(refused > 0, "the spray was never slowed down");
    // Someone else, on another machine, signs in at once.
    let other = Browser::from_address(app.web, [127, 0, 0, 3].into());
    let answer = submit(
        &other,
        "/connexion",
        "/connexion",
        &[("email", "odile@m2a.example"), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    app.stop().await;
}

/// The id (last part) of a resource name.
fn id(name: &str) -> &str {
    name.rsplit('/').next().unwrap()
}

/// The site manager's whole round: a site made and edited with the form
/// (a bad latitude refused first), drafts published by selection then all
/// at once, a structure's claim confirmed, a mass it cannot read refused,
/// the hand-over recorded with the weighed mass, the matches and the plan
/// shown, a lot withdrawn; another organisation's manager can do none of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_site_manager_runs_a_site_from_its_creation_to_the_handover() {
    let app = App::start().await;
    for (email, org) in [
        ("cheffe@bailleur-a.example", "bailleur-a"),
        ("autre@bailleur-b.example", "bailleur-b"),
    ] {
        app.account(email, idpb::AccountRole::SiteManager, org)
            .await;
    }
    let manager = app.browser();
    manager.signed_in("cheffe@bailleur-a.example").await;
    let (site, site_path) = site_made_and_edited(&app, &manager).await;
    let lots = drafts_published(&app, &manager, &site, &site_path).await;
    let csrf = claim_confirmed_and_handed_over(&app, &manager, &site_path, &lots[0].name).await;
    // The plan: the other published lots go to the structure, with totals.
    let (status, html) = manager.page(&format!("{site_path}/plan")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Masse répartie") && html.contains("Ressourcerie 73282932000074"),
        "{html}"
    );
    // Withdrawing the washbasins.
    let (_, html) = manager
        .page(&format!("{site_path}/lots/{}", id(&lots[2].name)))
        .await;
    let withdrawn = manager
        .post(
            &format!("{site_path}/lots/{}/retirer", id(&lots[2].name)),
            &[
                ("csrf", &csrf),
                ("etag", &hidden(&html, "etag")),
                ("reason", "cassés à la dépose"),
            ],
        )
        .await;
    assert_eq!(withdrawn.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        lot_status(&app, &lots[2].name).await,
        ipb::LotStatus::Withdrawn
    );
    app.stop().await;
}

/// A site made with the form (a bad latitude refused first), then renamed
/// with the edit form; a stale etag refused on the form. Its name and page.
async fn site_made_and_edited(app: &App, manager: &Browser) -> (String, String) {
    let site_form = |latitude: &'static str, name: &'static str| {
        vec![
            ("display_name", name),
            ("programme", "NPNRU"),
            ("quartier", "Coteaux"),
            ("commune", "Mulhouse"),
            ("latitude", latitude),
            ("longitude", "7,301"),
            ("works_start", "2027-01-15"),
        ]
    };
    let bad = submit(
        manager,
        "/chantiers/nouveau",
        "/chantiers/nouveau",
        &site_form("nord", "Tour C"),
    )
    .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.text().await.unwrap().contains("id=\"latitude-erreur\""));
    let made = submit(
        manager,
        "/chantiers/nouveau",
        "/chantiers/nouveau",
        &site_form("47,746", "Tour C"),
    )
    .await;
    let site_path = location(&made);
    let site = format!("sites/{}", site_path.trim_start_matches("/chantiers/"));
    let edit = format!("{site_path}/modifier");
    let (_, html) = manager.page(&edit).await;
    assert!(html.contains("value=\"2027-01-15\"") && html.contains("value=\"Coteaux\""));
    let mut renamed = site_form("47,746", "Tour C – démolition");
    let etag = hidden(&html, "etag");
    renamed.push(("etag", &etag));
    assert_eq!(
        location(&submit(manager, &edit, &edit, &renamed).await),
        site_path
    );
    let mut api = app
        .inventory(Role::SiteManager, Some("bailleur-a"), None)
        .await;
    let stored = api
        .get_site(ipb::GetSiteRequest { name: site.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored.display_name, "Tour C – démolition");
    assert_eq!(stored.operation.unwrap().quartier, "Coteaux");
    // A stale etag (the form of before the rename) is refused on the form.
    let stale = submit(manager, &edit, &edit, &renamed).await;
    assert_eq!(stale.status(), StatusCode::BAD_REQUEST);
    assert!(
        stale
            .text()
            .await
            .unwrap()
            .contains("modifié cette ressource entre-temps")
    );

    (site, site_path)
}

/// Three drafts of `site`: one published by ticking it, one refused for a
/// stale etag (named on the page that says so), then all of them. The lots.
async fn drafts_published(
    app: &App,
    manager: &Browser,
    site: &str,
    site_path: &str,
) -> Vec<ipb::Lot> {
    let mut api = app
        .inventory(Role::SiteManager, Some("bailleur-a"), None)
        .await;
    // Three drafts: one published by selection, the rest with "all".
    let mut lots = Vec::new();
    for designation in ["Radiateurs fonte", "Portes bois", "Lavabos"] {
        let lot = api
            .create_lot(ipb::CreateLotRequest {
                parent: site.to_owned(),
                lot: Some(ipb::Lot {
                    designation: designation.into(),
                    category: "radiateur".into(),
                    quantity: Some(tpb::Quantity {
                        unit: tpb::Unit::Piece as i32,
                        milli: 10_000,
                    }),
                    estimated_mass_g: 400_000,
                    photo_uris: vec!["https://photos.example/radiateur.jpg".into()],
                    ..Default::default()
                }),
                request_id: String::new(),
                lot_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        lots.push(lot);
    }
    let (_, html) = manager.page(site_path).await;
    let first = id(&lots[0].name);
    let etag_first = hidden(&html, &format!("etag-{first}"));
    let csrf = hidden(&html, "csrf");
    let publish = format!("{site_path}/publier");
    let answer = manager
        .post(
            &publish,
            &[
                ("csrf", &csrf),
                ("lot", first),
                (&format!("etag-{first}"), &etag_first),
            ],
        )
        .await;
    assert_eq!(location(&answer), site_path);
    assert_eq!(
        lot_status(app, &lots[0].name).await,
        ipb::LotStatus::Published
    );
    assert_eq!(lot_status(app, &lots[1].name).await, ipb::LotStatus::Draft);
    // A draft ticked with the etag of before a change: refused, and said so.
    let second = id(&lots[1].name);
    let stale = manager
        .post(
            &publish,
            &[
                ("csrf", &csrf),
                ("lot", second),
                (&format!("etag-{second}"), "perime"),
            ],
        )
        .await;
    assert_eq!(stale.status(), StatusCode::CONFLICT);
    let text = stale.text().await.unwrap();
    assert!(
        text.contains("Portes bois") && text.contains("entre-temps"),
        "{text}"
    );
    assert_eq!(lot_status(app, &lots[1].name).await, ipb::LotStatus::Draft);
    let answer = manager
        .post(&publish, &[("csrf", &csrf), ("tous", "1")])
        .await;
    assert_eq!(location(&answer), site_path);
    for lot in &lots {
        assert_eq!(lot_status(app, &lot.name).await, ipb::LotStatus::Published);
    }

    lots
}

/// A verified structure claims 4 radiators of `lot`; another organisation
/// cannot see or confirm it; the manager confirms, is refused an
/// unreadable mass, records the hand-over. The manager's CSRF token.
async fn claim_confirmed_and_handed_over(
    app: &App,
    manager: &Browser,
    site_path: &str,
    lot: &str,
) -> String {
    let mut api = app
        .inventory(Role::SiteManager, Some("bailleur-a"), None)
        .await;
    // A verified structure claims 4 radiators.
    let partner = pending_partner(app, "73282932000074").await;
    verify(app, &partner).await;
    let claim = claimed_through_the_api(app, &partner, lot, 4_000, "claim-radiators").await;
    let lot = lot.to_owned();
    let lot_path = format!("{site_path}/lots/{}", id(&lot));
    let claim_base = format!("{lot_path}/reservations/{}", id(&claim));
    // The lot page: the photo, the claim by the structure's name, and
    // matching's proposal with its score breakdown (once matching has
    // followed the events).
    let html = eventually("the matches on the lot page", || async {
        let (status, html) = manager.page(&lot_path).await;
        assert_eq!(status, StatusCode::OK);
        html.contains("Proximité").then_some(html)
    })
    .await;
    assert!(html.contains("src=\"https://photos.example/radiateur.jpg\""));
    assert!(html.contains("Ressourcerie 73282932000074") && html.contains("4 pièce(s)"));
    let claim_etag = {
        let at = html.find(&format!("{claim_base}/confirmer")).unwrap();
        hidden(&html[at..], "etag")
    };
    let csrf = hidden(&html, "csrf");
    // Another organisation's manager: the lot is not even found, and its
    // confirmation is refused by the API.
    let other = app.browser();
    other.signed_in("autre@bailleur-b.example").await;
    assert_eq!(other.page(&lot_path).await.0, StatusCode::NOT_FOUND);
    let (_, other_html) = other.page("/chantiers").await;
    let refused = other
        .post(
            &format!("{claim_base}/confirmer"),
            &[
                ("csrf", &hidden(&other_html, "csrf")),
                ("etag", &claim_etag),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    let confirmed = manager
        .post(
            &format!("{claim_base}/confirmer"),
            &[("csrf", &csrf), ("etag", &claim_etag)],
        )
        .await;
    assert!(location(&confirmed).starts_with(&lot_path));
    let (_, html) = manager.page(&lot_path).await;
    assert!(html.contains("Enregistrer la remise"));
    let mass_field = format!("masse-{}", id(&claim));
    let handover = format!("{claim_base}/remettre");
    let unreadable = manager
        .post(&handover, &[("csrf", &csrf), (&mass_field, "douze")])
        .await;
    assert_eq!(unreadable.status(), StatusCode::BAD_REQUEST);
    assert!(
        unreadable
            .text()
            .await
            .unwrap()
            .contains(&format!("id=\"{mass_field}-erreur\""))
    );
    two_trips_and_their_receipts(app, manager, (&lot_path, &claim), &csrf, &html).await;
    let stored = api
        .get_claim(ipb::GetClaimRequest {
            name: claim.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored.status(), ipb::ClaimStatus::HandedOver);
    assert_eq!(stored.weighed_mass_g, 152_500);

    csrf
}

/// The claim taken in two trips through the hand-over form: half a
/// radiator refused on the quantity's field, one radiator, then the three
/// left (no quantity); the lot page links each trip's receipt, whose page
/// its manager reads and another organisation's cannot.
async fn two_trips_and_their_receipts(
    app: &App,
    manager: &Browser,
    (lot_path, claim): (&str, &str),
    csrf: &str,
    html: &str,
) {
    let claim_id = id(claim);
    let handover = format!("{lot_path}/reservations/{claim_id}/remettre");
    let (mass, quantity, unit) = (
        format!("masse-{claim_id}"),
        format!("quantite-{claim_id}"),
        format!("unite-{claim_id}"),
    );
    let unit_value = hidden(html, &unit);
    let handover = handover.as_str();
    let trip = |q: &'static str, kg: &'static str| {
        let fields = [
            ("csrf", csrf.to_owned()),
            (unit.as_str(), unit_value.clone()),
            (quantity.as_str(), q.to_owned()),
            (mass.as_str(), kg.to_owned()),
        ];
        async move { post_owned(manager, handover, &fields).await }
    };
    let half = trip("0,5", "20").await;
    assert_eq!(half.status(), StatusCode::BAD_REQUEST);
    let page = half.text().await.unwrap();
    assert!(
        page.contains(&format!("id=\"{quantity}-erreur\"")),
        "{page}"
    );
    assert!(location(&trip("1", "38").await).starts_with(lot_path));
    let (_, page) = manager.page(lot_path).await;
    assert!(
        page.contains("Enlevé : 1 pièce(s) sur 4 pièce(s) (1 passage)"),
        "{page}"
    );
    assert!(page.contains("Clore avec ce qui a été enlevé"));
    assert!(location(&trip("", "114,5").await).starts_with(lot_path));
    let (_, page) = manager.page(lot_path).await;
    let links: Vec<String> = page
        .match_indices("href=\"/bons/")
        .map(|(at, _)| page[at + 6..].split('"').next().unwrap().to_owned())
        .collect();
    assert_eq!(links.len(), 2, "{page}");
    let (status, receipt) = manager.page(&links[0]).await;
    assert_eq!(status, StatusCode::OK);
    for shown in [
        "Bon d'enlèvement n° BE-",
        "38 kg",
        "Ressourcerie 73282932000074",
        "Signature du preneur",
    ] {
        assert!(receipt.contains(shown), "{shown:?} missing from {receipt}");
    }
    let other = app.browser();
    other.signed_in("autre@bailleur-b.example").await;
    assert_eq!(other.page(&links[1]).await.0, StatusCode::NOT_FOUND);
}

/// The admin's accounts page: an invitation made (a bad address refused
/// beside its field first) and its link shown, accounts listed, one
/// disabled; a structure archived from the partners page.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_admin_invites_disables_and_archives() {
    let app = App::start().await;
    app.account("admin@m2a.example", idpb::AccountRole::Admin, "")
        .await;
    app.site_manager("cheffe@bailleur-a.example", "bailleur-a")
        .await;
    let admin = app.browser();
    admin.signed_in("admin@m2a.example").await;
    let (status, html) = admin.page("/comptes").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("cheffe@bailleur-a.example") && html.contains("responsable de chantier"));
    let invite = |email: &'static str| {
        vec![
            ("email", email),
            ("role", "site_manager"),
            ("org", "bailleur-c"),
        ]
    };
    let bad = submit(
        &admin,
        "/comptes",
        "/comptes/inviter",
        &invite("pas-une-adresse"),
    )
    .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.text().await.unwrap().contains("id=\"email-erreur\""));
    let sent = submit(
        &admin,
        "/comptes",
        "/comptes/inviter",
        &invite("nouveau@bailleur-c.example"),
    )
    .await;
    assert_eq!(sent.status(), StatusCode::OK);
    let html = sent.text().await.unwrap();
    assert!(html.contains("Invitation envoyée à nouveau@bailleur-c.example"));
    let code = code_in_mail(&app.mail, "nouveau@bailleur-c.example", "/invitation").await;
    assert!(
        html.contains(&format!("/invitation?code={code}")),
        "the emailed link is shown"
    );
    // Disabling the site manager: the identity service refuses its sign-in.
    let accounts = IdentityServiceClient::with_interceptor(
        testing::channel(app.identity).await,
        Bearer(Some(testing::token(Role::Admin, None, None))),
    )
    .list_accounts(idpb::ListAccountsRequest {
        page_size: 100,
        page_token: String::new(),
    })
    .await
    .unwrap()
    .into_inner()
    .accounts;
    let cheffe = accounts
        .iter()
        .find(|a| a.email == "cheffe@bailleur-a.example")
        .unwrap();
    let (_, html) = admin.page("/comptes").await;
    let disabled = admin
        .post(
            &format!("/comptes/{}/desactiver", id(&cheffe.name)),
            &[("csrf", &hidden(&html, "csrf"))],
        )
        .await;
    assert_eq!(location(&disabled), "/comptes");
    let refused = app
        .identity()
        .await
        .sign_in(idpb::SignInRequest {
            email: "cheffe@bailleur-a.example".into(),
            password: PASSWORD.into(),
        })
        .await;
    assert!(refused.is_err(), "a disabled account cannot sign in");
    // Archiving a structure.
    let partner = pending_partner(&app, "73282932000074").await;
    let (_, html) = admin.page("/partenaires").await;
    let archived = admin
        .post(
            &format!("/partenaires/{}/archiver", id(&partner)),
            &[("csrf", &hidden(&html, "csrf")), ("etag", "")],
        )
        .await;
    assert_eq!(location(&archived), "/partenaires");
    assert_eq!(
        app.partner_status(&partner).await,
        rpb::PartnerStatus::Archived
    );
    // None of it is a site manager's.
    let manager = app.browser();
    app.site_manager("autre@bailleur-a.example", "bailleur-a")
        .await;
    manager.signed_in("autre@bailleur-a.example").await;
    assert_eq!(manager.page("/comptes").await.0, StatusCode::FORBIDDEN);
    app.stop().await;
}

/// A site of 150 lots shows them 100 at a time, each status's count a
/// link to its lots alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_large_site_shows_its_lots_a_page_at_a_time() {
    let app = App::start().await;
    app.site_manager("cheffe@bailleur-a.example", "bailleur-a")
        .await;
    let first = draft_lot(&app, "bailleur-a", "Lot 0").await;
    let site = first.split("/lots/").next().unwrap().to_owned();
    let requests = (1..150)
        .map(|i| ipb::CreateLotRequest {
            parent: site.clone(),
            lot: Some(ipb::Lot {
                designation: format!("Lot {i}"),
                category: "radiateur".into(),
                quantity: Some(tpb::Quantity {
                    unit: tpb::Unit::Piece as i32,
                    milli: 1_000,
                }),
                ..Default::default()
            }),
            request_id: String::new(),
            lot_id: String::new(),
        })
        .collect();
    let mut api = app
        .inventory(Role::SiteManager, Some("bailleur-a"), None)
        .await;
    let lots = api
        .batch_create_lots(ipb::BatchCreateLotsRequest {
            parent: site.clone(),
            requests,
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .lots;
    for lot in lots.iter().take(30) {
        api.publish_lot(ipb::PublishLotRequest {
            name: lot.name.clone(),
            etag: String::new(),
        })
        .await
        .unwrap();
    }
    let browser = app.browser();
    browser.signed_in("cheffe@bailleur-a.example").await;
    let path = format!("/chantiers/{}", id(&site));
    let cards = |html: &str| html.matches("<li id=\"lot-").count();
    // The drafts first, the first hundred of them, and a link to the next.
    let (_, html) = browser.page(&path).await;
    assert_eq!(cards(&html), 100);
    assert!(html.contains("Brouillons (120)") && html.contains("Publiés (30)"));
    let next = html
        .split("rel=\"next\" href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let (_, html) = browser.page(&next.replace("&amp;", "&")).await;
    assert_eq!(cards(&html), 20);
    assert!(!html.contains("rel=\"next\"") && html.contains("Première page"));
    let (_, html) = browser.page(&format!("{path}?statut=publies")).await;
    assert_eq!(cards(&html), 30);
    assert!(!html.contains("rel=\"next\""), "one page: no next");
    // The site's counts hide its drafts from a partner, who may not see them.
    let counts = app
        .inventory(
            Role::Partner,
            None,
            Some("partners/01a22aca-4d2f-71eb-bcd3-c81834106394"),
        )
        .await
        .get_site(ipb::GetSiteRequest { name: site.clone() })
        .await
        .unwrap()
        .into_inner()
        .lot_counts;
    assert_eq!(counts.len(), 1, "{counts:?}");
    assert_eq!(
        (counts[0].status(), counts[0].count),
        (ipb::LotStatus::Published, 30)
    );
    app.stop().await;
}

/// A site page seen is served again as it was kept (with its `Age`) until
/// its site changes, through the API as through a form, and not once its
/// session is revoked: on the in-process bus of `reemploi up`, and on
/// NATS JetStream as a distributed `reemploi-web` follows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_site_page_is_kept_until_its_site_changes_or_its_session_ends() {
    site_page_kept(App::start().await).await;
    let ns = format!("web{}", uuid::Uuid::now_v7().simple());
    let options = reemploi_events::JetStreamOptions {
        namespace: Some(ns),
        replicas: 1,
    };
    let url = reemploi_testing::nats::nats_url();
    let bus = reemploi_events::JetStreamBus::connect(&url, options)
        .await
        .unwrap();
    site_page_kept(App::start_on(Arc::new(bus)).await).await;
}

async fn site_page_kept(app: App) {
    app.site_manager("cheffe@bailleur-a.example", "bailleur-a")
        .await;
    let lot = draft_lot(&app, "bailleur-a", "Radiateur fonte").await;
    let path = format!("/chantiers/{}", id(lot.split("/lots/").next().unwrap()));
    let browser = app.browser();
    browser.signed_in("cheffe@bailleur-a.example").await;
    let kept = |r: &reqwest::Response| r.headers().contains_key(reqwest::header::AGE);
    let first = browser.get(&path).await;
    assert!(!kept(&first), "the first view is rendered");
    let html = first.text().await.unwrap();
    assert!(html.contains("Brouillons (1)"), "{html}");
    // The events of the lot's creation may still be arriving: a view then
    // is rendered again; once they are in, a view is the page kept.
    let again = eventually("a view served as kept", || async {
        let answer = browser.get(&path).await;
        kept(&answer).then_some(answer)
    })
    .await;
    assert_eq!(again.text().await.unwrap(), html);

    // Published through the API, not the web app: its event makes the
    // page stale (kept pages live 30 s; this waits at most 15).
    app.inventory(Role::SiteManager, Some("bailleur-a"), None)
        .await
        .publish_lot(ipb::PublishLotRequest {
            name: lot.clone(),
            etag: String::new(),
        })
        .await
        .unwrap();
    eventually("the page shows the lot published", || async {
        let (_, html) = browser.page(&path).await;
        html.contains("Publiés (1)").then_some(())
    })
    .await;
    let kept_again = || async {
        let answer = browser.get(&path).await;
        kept(&answer).then_some(())
    };
    eventually("kept again after the change", kept_again).await;

    // A form posted by the session, even a refused one, makes its own
    // pages stale (the web app cannot tell what a form changed), not those
    // of another session.
    let other = app.browser();
    other.signed_in("cheffe@bailleur-a.example").await;
    // Signing in is a form too: its pages count from a second after.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert!(!kept(&other.get(&path).await), "its own first view");
    let refused = browser.post("/deconnexion", &[("csrf", "faux")]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(!kept(&browser.get(&path).await), "rendered after a form");
    assert!(
        kept(&other.get(&path).await),
        "another session's page stays"
    );
    // The pages made over a second after the form are served again.
    eventually("kept again after the form", kept_again).await;

    // The session ended at the identity service, not through the web app:
    // once the revocation arrives, the page kept is not served to it.
    let session = browser.session();
    app.identity()
        .await
        .sign_out(idpb::SignOutRequest {
            refresh_token: session.refresh_token.clone(),
        })
        .await
        .unwrap();
    eventually("the revoked session sent to sign in", || async {
        let answer = browser.get(&path).await;
        (answer.status() == StatusCode::SEE_OTHER).then_some(())
    })
    .await;
    app.stop().await;
}

// ---- The partner section: lot filters and map, the pick-up window,
// cancelling a claim, recommendations, the profile and the pending banner.

/// A SIRET of 14 digits beginning with `first13` whose Luhn check holds.
fn luhn_siret(first13: &str) -> String {
    (0..10)
        .map(|d| format!("{first13}{d}"))
        .find(|s| {
            let sum: u32 = s
                .bytes()
                .rev()
                .enumerate()
                .map(|(i, b)| {
                    let d = u32::from(b - b'0');
                    match (i % 2, d * 2) {
                        (1, twice) if twice > 9 => twice - 9,
                        (1, twice) => twice,
                        _ => d,
                    }
                })
                .sum();
            sum.is_multiple_of(10)
        })
        .unwrap()
}

/// The profile of structure `n` as its forms send it: in Mulhouse, 15 km
/// of reach, radiators and interior doors.
fn structure_fields(n: u32) -> Vec<(&'static str, String)> {
    vec![
        ("legal_name", format!("Atelier {n}")),
        ("siret", luhn_siret(&format!("8123456780{n:03}"))),
        ("kind", "PARTNER_KIND_ACI".into()),
        ("line1", "2 rue de la Doller".into()),
        ("postal_code", "68100".into()),
        ("commune", "Mulhouse".into()),
        ("latitude", "47.748".into()),
        ("longitude", "7.32".into()),
        ("service_radius_km", "15".into()),
        ("weekly_intake_kg", "8000".into()),
        ("accepted_categories", "radiateur".into()),
        ("accepted_categories", "porte-interieure".into()),
        ("email", format!("equipe{n}@atelier.example")),
        ("phone", String::new()),
    ]
}

async fn post_fields(
    browser: &Browser,
    path: &str,
    fields: &[(&'static str, String)],
) -> reqwest::Response {
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    browser.post(path, &pairs).await
}

/// Structure `n` signs up and registers through the web (pending); its
/// partner name.
async fn structure_through_the_web(browser: &Browser, n: u32) -> String {
    let (_, html) = browser.page("/inscription").await;
    let answer = browser
        .post(
            "/inscription",
            &[
                ("csrf", &hidden(&html, "csrf")),
                ("structure_name", &format!("Atelier {n}")),
                ("display_name", "Camille"),
                ("email", &format!("equipe{n}@atelier.example")),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(location(&answer), "/structure");
    let (_, html) = browser.page("/structure").await;
    let mut fields = structure_fields(n);
    fields.push(("csrf", hidden(&html, "csrf")));
    fields.push(("request_id", hidden(&html, "request_id")));
    let registered = post_fields(browser, "/structure", &fields).await;
    assert_eq!(location(&registered), "/structure");
    browser.session().account.partner
}

/// `partner` claims `milli` thousandths of pieces of `lot` through the
/// API, once the inventory has learnt (through events) that it may; the
/// claim's name.
async fn claimed_through_the_api(
    app: &App,
    partner: &str,
    lot: &str,
    milli: i64,
    request_id: &str,
) -> String {
    let theirs = app.inventory(Role::Partner, None, Some(partner)).await;
    eventually("the claim accepted by the API", || {
        let request = ipb::ClaimLotRequest {
            lot: lot.to_owned(),
            partner: partner.to_owned(),
            quantity: Some(tpb::Quantity {
                unit: tpb::Unit::Piece as i32,
                milli,
            }),
            request_id: request_id.to_owned(),
            ..Default::default()
        };
        let mut client = theirs.clone();
        async move {
            client
                .claim_lot(request)
                .await
                .ok()
                .map(|c| c.into_inner().name)
        }
    })
    .await
}

async fn verify(app: &App, partner: &str) {
    app.registry(Role::Admin, None)
        .await
        .verify_partner(rpb::VerifyPartnerRequest {
            name: partner.into(),
            etag: String::new(),
        })
        .await
        .unwrap();
}

/// A site of `org` at `at` with a published lot of ten pieces per
/// (designation, category, availability); the lots' names.
async fn site_with_lots(
    app: &App,
    org: &str,
    at: (f64, f64),
    lots: &[(&str, &str, Option<tpb::TimeWindow>)],
) -> Vec<String> {
    let mut manager = app.inventory(Role::SiteManager, Some(org), None).await;
    let site = manager
        .create_site(ipb::CreateSiteRequest {
            site: Some(ipb::Site {
                display_name: format!("Chantier {org}"),
                location: Some(tpb::GeoPoint {
                    latitude: at.0,
                    longitude: at.1,
                }),
                ..Default::default()
            }),
            request_id: String::new(),
            site_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut names = Vec::new();
    for (designation, category, availability) in lots {
        let lot = manager
            .create_lot(ipb::CreateLotRequest {
                parent: site.name.clone(),
                lot: Some(ipb::Lot {
                    designation: (*designation).into(),
                    category: (*category).into(),
                    quantity: Some(tpb::Quantity {
                        unit: tpb::Unit::Piece as i32,
                        milli: 10_000,
                    }),
                    estimated_mass_g: 400_000,
                    availability: *availability,
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
        names.push(lot.name);
    }
    names
}

/// `/lots/{site}/{lot}` of a lot's name.
fn lot_page(lot: &str) -> String {
    let parts: Vec<&str> = lot.split('/').collect();
    format!("/lots/{}/{}", parts[1], parts[3])
}

/// Three published lots: two near the structure (radiators, doors), and
/// radiators 6.6 km away, available from 2096-10-02 07:06 UTC for five
/// days; the names of the near ones, then of the far one.
async fn lots_to_filter(app: &App) -> (Vec<String>, Vec<String>) {
    let near = site_with_lots(
        app,
        "bailleur-a",
        (47.746, 7.301),
        &[
            ("Radiateurs fonte", "radiateur", None),
            ("Portes bois", "porte-interieure", None),
        ],
    )
    .await;
    let window = tpb::TimeWindow {
        start_time: Some(prost_types::Timestamp {
            seconds: 4_000_000_000,
            nanos: 0,
        }),
        end_time: Some(prost_types::Timestamp {
            seconds: 4_000_000_000 + 5 * 86_400,
            nanos: 0,
        }),
    };
    let far = site_with_lots(
        app,
        "bailleur-b",
        (47.806, 7.337),
        &[("Radiateurs acier", "radiateur", Some(window))],
    )
    .await;
    (near, far)
}

/// The lots of [`lots_to_filter`] linked from `html`.
fn lots_shown(html: &str) -> Vec<&'static str> {
    ["Radiateurs fonte", "Portes bois", "Radiateurs acier"]
        .into_iter()
        .filter(|l| html.contains(&format!(">{l}</a>")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_lot_filters_narrow_the_list_and_the_map_links_each_lot_shown() {
    let app = App::start().await;
    let (near, far) = lots_to_filter(&app).await;
    let browser = app.browser();
    structure_through_the_web(&browser, 1).await;
    let (status, html) = browser.page("/lots").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(lots_shown(&html).len(), 3, "{html}");
    assert!(html.contains("value=\"15\""), "the structure's own radius");
    assert!(html.contains("method=\"get\" action=\"/lots\""));
    assert!(html.contains("<caption>Lots correspondant à vos critères"));
    assert!(!html.contains("seuls les") && !html.contains("La recherche s'est arrêtée"));
    // A family leaves the doors out; a shorter distance the far radiators.
    let (_, html) = browser.page("/lots?famille=chauffage").await;
    assert_eq!(lots_shown(&html), ["Radiateurs fonte", "Radiateurs acier"]);
    let (_, html) = browser.page("/lots?famille=chauffage&rayon=3").await;
    assert_eq!(lots_shown(&html), ["Radiateurs fonte"]);
    // A day: the lots whose window touches it (no window: always).
    let (_, html) = browser.page("/lots?disponible=2096-10-01").await;
    assert_eq!(lots_shown(&html), ["Radiateurs fonte", "Portes bois"]);
    let (_, html) = browser.page("/lots?disponible=2096-10-03").await;
    assert_eq!(lots_shown(&html).len(), 3);
    // What cannot be read is said beside its field, and left out.
    let (status, html) = browser.page("/lots?rayon=mille&disponible=hier").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"rayon-erreur\"") && html.contains("id=\"disponible-erreur\""));
    assert_eq!(lots_shown(&html).len(), 3);
    the_map_links_each_lot_shown(&browser, &near, &far).await;
    app.stop().await;
}

/// The map of the radiators of [`lots_to_filter`]: an SVG on the communes,
/// a link to each lot shown, the structure's own point, and the same as a
/// text list.
async fn the_map_links_each_lot_shown(browser: &Browser, near: &[String], far: &[String]) {
    let (status, html) = browser.page("/lots?famille=chauffage&vue=carte").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<svg") && html.contains("aria-label=\"Carte du territoire"));
    for (lot, designation) in [
        (&near[0], "Radiateurs fonte"),
        (&far[0], "Radiateurs acier"),
    ] {
        let link = format!("<a href=\"{}\"><title>{designation}</title>", lot_page(lot));
        assert!(html.contains(&link), "{link} missing");
    }
    assert!(
        !html.contains(&lot_page(&near[1])),
        "the doors are filtered out"
    );
    assert!(html.contains(">Mulhouse</text>") && html.contains(">Illzach</text>"));
    assert!(html.contains("<a href=\"/structure\"><title>Atelier 1</title>"));
    assert!(html.contains("Chantier bailleur-a"), "the sites are placed");
    assert!(html.contains("aria-current=\"page\">Carte</a>"));
    assert!(
        html.contains("name=\"vue\" value=\"carte\""),
        "the filters keep the view"
    );
    assert!(!html.contains("style="), "no inline style");
}

async fn claim_status(app: &App, claim: &str) -> ipb::ClaimStatus {
    app.inventory(Role::Admin, None, None)
        .await
        .get_claim(ipb::GetClaimRequest { name: claim.into() })
        .await
        .unwrap()
        .into_inner()
        .status()
}

/// Structure `browser` claims 2 of `lot`, to pick up on 3 and 4 October
/// 2096, once the inventory knows it is verified; its claim's page.
async fn claimed_with_a_window(browser: &Browser, lot: &str) -> String {
    let page = lot_page(lot);
    let (_, html) = browser.page(&page).await;
    let (csrf, request_id) = (hidden(&html, "csrf"), hidden(&html, "request_id"));
    let form = |from: &str, until: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("request_id", request_id.clone()),
            ("quantity", "2".to_owned()),
            ("pickup_from", from.to_owned()),
            ("pickup_until", until.to_owned()),
        ]
    };
    let backwards = post_fields(browser, &page, &form("2096-10-05", "2096-10-03")).await;
    assert_eq!(backwards.status(), StatusCode::BAD_REQUEST);
    assert!(
        backwards
            .text()
            .await
            .unwrap()
            .contains("id=\"pickup_until-erreur\"")
    );
    eventually("the claim accepted", || async {
        let answer = post_fields(browser, &page, &form("2096-10-03", "2096-10-04")).await;
        (answer.status() == StatusCode::SEE_OTHER).then_some(())
    })
    .await;
    let (_, html) = browser.page("/mes-reservations").await;
    let start = html.find("href=\"/reservations/").unwrap() + "href=\"".len();
    html[start..].split('"').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_structure_cancels_its_claim_and_another_structure_cannot() {
    let app = App::start().await;
    let lot = site_with_lots(
        &app,
        "bailleur-a",
        (47.746, 7.301),
        &[("Radiateurs fonte", "radiateur", None)],
    )
    .await
    .remove(0);
    let (owner, other) = (app.browser(), app.browser());
    verify(&app, &structure_through_the_web(&owner, 1).await).await;
    verify(&app, &structure_through_the_web(&other, 2).await).await;
    let claim_page = claimed_with_a_window(&owner, &lot).await;
    let parts: Vec<&str> = claim_page.split('/').collect();
    let claim = format!("sites/{}/lots/{}/claims/{}", parts[2], parts[3], parts[4]);
    let (status, html) = owner.page(&claim_page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("du 03/10/2096 au 04/10/2096"),
        "the pick-up window"
    );
    assert!(html.contains("Annuler la réservation"));
    let cancel = format!("{claim_page}/annuler");
    let etag = hidden(&html, "etag");
    // Without the session's CSRF token: refused, nothing changes.
    let forged = owner.post(&cancel, &[("etag", &etag)]).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(claim_status(&app, &claim).await, ipb::ClaimStatus::Reserved);
    // Another structure neither sees nor cancels it: the API says it does
    // not exist for it.
    let (status, _) = other.page(&claim_page).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, theirs) = other.page("/mes-reservations").await;
    let refused = other
        .post(
            &cancel,
            &[("csrf", &hidden(&theirs, "csrf")), ("etag", &etag)],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    assert_eq!(claim_status(&app, &claim).await, ipb::ClaimStatus::Reserved);
    // Its own structure cancels it from its list, and comes back there.
    let (_, html) = owner.page("/mes-reservations").await;
    assert!(html.contains("<caption>Vos réservations et leur état</caption>"));
    // The button names the claim, not only its lot: a lot may be claimed
    // more than once.
    assert!(
        html.contains(
            "aria-label=\"Annuler la réservation : Radiateurs fonte, 2 pièce(s), réservée le "
        ),
        "{html}"
    );
    let done = owner
        .post(
            &cancel,
            &[
                ("csrf", &hidden(&html, "csrf")),
                ("etag", &hidden(&html, "etag")),
                ("retour", "liste"),
            ],
        )
        .await;
    assert_eq!(location(&done), "/mes-reservations");
    assert_eq!(
        claim_status(&app, &claim).await,
        ipb::ClaimStatus::Cancelled
    );
    let (_, html) = owner.page("/mes-reservations").await;
    assert!(html.contains("annulée") && !html.contains("Annuler la réservation :"));
    let (_, html) = owner.page(&lot_page(&lot)).await;
    assert!(
        html.contains("10 pièce(s) disponible"),
        "the quantity is back"
    );
    app.stop().await;
}

async fn partner_of(app: &App, name: &str) -> rpb::Partner {
    app.registry(Role::Admin, None)
        .await
        .get_partner(rpb::GetPartnerRequest { name: name.into() })
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_structure_edits_its_profile_and_sees_what_the_registry_refuses() {
    let app = App::start().await;
    let browser = app.browser();
    let partner = structure_through_the_web(&browser, 1).await;
    let (status, html) = browser.page("/structure").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Modifier le profil") && html.contains("value=\"Atelier 1\""));
    let form = |radius: &str, etag: &str| {
        let mut fields: Vec<(&'static str, String)> = structure_fields(1)
            .into_iter()
            .map(|(k, v)| match k {
                "service_radius_km" => (k, radius.to_owned()),
                "commune" => (k, "Illzach".to_owned()),
                _ => (k, v),
            })
            .collect();
        fields.push(("etag", etag.to_owned()));
        fields
    };
    let etag = hidden(&html, "etag");
    let mut with_csrf = form("25", &etag);
    let no_csrf = post_fields(&browser, "/structure/profil", &with_csrf).await;
    assert_eq!(no_csrf.status(), StatusCode::FORBIDDEN);
    with_csrf.push(("csrf", hidden(&html, "csrf")));
    // A radius the registry refuses: the form again, the error beside it.
    let mut bad = form("500", &etag);
    bad.push(("csrf", hidden(&html, "csrf")));
    let refused = post_fields(&browser, "/structure/profil", &bad).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let page = refused.text().await.unwrap();
    assert!(page.contains("id=\"service_radius_km-erreur\""), "{page}");
    assert!(page.contains("value=\"500\""), "what was typed is kept");
    assert_eq!(partner_of(&app, &partner).await.service_radius_km, 15);
    // Saved: the registry has it, the page says so.
    let saved = post_fields(&browser, "/structure/profil", &with_csrf).await;
    assert_eq!(location(&saved), "/structure?enregistre=1");
    let stored = partner_of(&app, &partner).await;
    assert_eq!(stored.service_radius_km, 25);
    assert_eq!(stored.address.unwrap().commune, "Illzach");
    assert_eq!(stored.accepted_categories.len(), 2);
    let (_, html) = browser.page("/structure?enregistre=1").await;
    assert!(html.contains("Les modifications sont enregistrées") && html.contains("value=\"25\""));
    // The form of before, sent again: someone changed the profile since.
    let stale = post_fields(&browser, "/structure/profil", &{
        let mut f = form("30", &etag);
        f.push(("csrf", hidden(&html, "csrf")));
        f
    })
    .await;
    assert_eq!(stale.status(), StatusCode::BAD_REQUEST);
    assert!(
        stale
            .text()
            .await
            .unwrap()
            .contains("modifié cette ressource entre-temps")
    );
    assert_eq!(partner_of(&app, &partner).await.service_radius_km, 25);
    app.stop().await;
}

/// One published lot of radiators 1.4 km from where a structure signed up
/// through the web (pending) receives materials: the lot, the structure's
/// browser and its partner name.
async fn radiators_and_a_structure(app: &App) -> (String, Browser, String) {
    let lot = site_with_lots(
        app,
        "bailleur-a",
        (47.746, 7.301),
        &[("Radiateurs fonte", "radiateur", None)],
    )
    .await
    .remove(0);
    let browser = app.browser();
    let partner = structure_through_the_web(&browser, 1).await;
    (lot, browser, partner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn recommendations_show_a_lot_with_its_score_and_its_factors() {
    let app = App::start().await;
    let (lot, browser, partner) = radiators_and_a_structure(&app).await;
    let (status, html) = browser.page("/recommandations").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("une fois votre structure vérifiée"), "{html}");
    assert!(
        html.contains("href=\"/recommandations\""),
        "in the partner's nav"
    );
    verify(&app, &partner).await;
    let html = eventually("the lot recommended", || async {
        let (_, html) = browser.page("/recommandations").await;
        html.contains("Radiateurs fonte").then_some(html)
    })
    .await;
    assert!(html.contains(&format!("href=\"{}\"", lot_page(&lot))));
    assert!(html.contains("1,4 km"), "the distance");
    for factor in [
        "Score",
        "Catégorie",
        "Proximité",
        "Capacité",
        "Urgence",
        "Insertion",
    ] {
        assert!(html.contains(factor), "{factor}");
    }
    // An ACI is an insertion structure; an exact category fits fully.
    assert!(html.contains("data-label=\"Insertion\">100 %"));
    assert!(html.contains("data-label=\"Catégorie\">100 %"));
    assert!(html.contains("class=\"score\" data-label=\"Score\">"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_pending_banner_shows_on_every_partner_page_until_the_structure_is_verified() {
    let app = App::start().await;
    let (lot, browser, partner) = radiators_and_a_structure(&app).await;
    let pages = [
        "/lots".to_owned(),
        "/lots?vue=carte".to_owned(),
        lot_page(&lot),
        "/mes-reservations".to_owned(),
        "/recommandations".to_owned(),
        "/structure".to_owned(),
    ];
    let banner = "attend la vérification du territoire";
    for page in &pages {
        let (status, html) = browser.page(page).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(html.matches(banner).count(), 1, "the banner on {page}");
        assert!(html.contains("role=\"status\""), "{page}");
    }
    verify(&app, &partner).await;
    for page in &pages {
        let (status, html) = browser.page(page).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(!html.contains(banner), "no banner on {page} once verified");
    }
    app.stop().await;
}

// ---- imports by upload (pages::imports) ----

/// The demo's diagnostic: ten materials on lines 2 to 11, the asbestos
/// floor tiles (M9) on line 10.
const COTEAUX_CSV: &str = include_str!("../../../demo/diagnostic-coteaux.csv");
/// The demo's partners: five structures on lines 2 to 6.
const PARTNERS_CSV: &str = include_str!("../../../demo/partners-sample.csv");

/// Posts `fields` and a file input `fichier` holding `file` (named `name`)
/// as `multipart/form-data`, as a browser sends a form with a file.
async fn upload(
    browser: &Browser,
    path: &str,
    fields: &[(&str, &str)],
    name: &str,
    file: &[u8],
) -> reqwest::Response {
    const BOUNDARY: &str = "----reemploi-test-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"fichier\"; filename=\"{name}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    browser
        .client
        .post(browser.url(path))
        .header(
            reqwest::header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Uploads `file` through the form of `page` (with its CSRF token); the
/// answer's status and HTML.
async fn preview(browser: &Browser, page: &str, name: &str, file: &[u8]) -> (StatusCode, String) {
    let (status, html) = browser.page(page).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(html.contains("enctype=\"multipart/form-data\""), "{html}");
    let csrf = hidden(&html, "csrf");
    let answer = upload(browser, page, &[("csrf", &csrf)], name, file).await;
    (answer.status(), answer.text().await.unwrap())
}

/// The row of a preview's table for line `line`.
fn preview_row(html: &str, line: u64) -> &str {
    let marker = format!("data-label=\"Ligne\">{line}</th>");
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no row for line {line}"));
    let start = html[..at].rfind("<tr").unwrap();
    let end = at + html[at..].find("</tr>").unwrap();
    &html[start..end]
}

/// The fields of a preview's confirmation form, with `csrf`.
fn confirmation(html: &str, csrf: &str) -> Vec<(&'static str, String)> {
    vec![
        ("csrf", csrf.to_owned()),
        ("nom", hidden(html, "nom")),
        ("fichier", hidden(html, "fichier")),
    ]
}

async fn post_owned(browser: &Browser, path: &str, fields: &[(&str, String)]) -> reqwest::Response {
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    browser.post(path, &pairs).await
}

/// A new site of `org`, without lots; its id (the last part of its name).
async fn empty_site(app: &App, org: &str, display_name: &str) -> String {
    let site = app
        .inventory(Role::SiteManager, Some(org), None)
        .await
        .create_site(ipb::CreateSiteRequest {
            site: Some(ipb::Site {
                display_name: display_name.into(),
                location: Some(tpb::GeoPoint {
                    latitude: 47.7455,
                    longitude: 7.3022,
                }),
                ..Default::default()
            }),
            request_id: String::new(),
            site_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    site.name.rsplit('/').next().unwrap().to_owned()
}

async fn lots_of(app: &App, site: &str) -> Vec<ipb::Lot> {
    app.inventory(Role::Admin, None, None)
        .await
        .list_lots(ipb::ListLotsRequest {
            parent: format!("sites/{site}"),
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .lots
}

/// The preview of the demo's diagnostic: every line, each with what
/// becomes of it; the asbestos row on line 10.
fn assert_coteaux_preview(html: &str) {
    for line in 2..=11 {
        assert!(preview_row(html, line).contains("<td"), "line {line}");
    }
    let m9 = preview_row(html, 10);
    assert!(
        m9.contains("Dalles de sol vinyle-amiante") && m9.contains("amiante"),
        "{m9}"
    );
    assert!(
        m9.contains("jamais publiable") && m9.contains("17 06 05*"),
        "{m9}"
    );
    assert!(preview_row(html, 2).contains("À créer en brouillon"));
    assert!(
        html.contains("10 lignes prêtes à créer en brouillon, dont 1 dangereuse"),
        "{html}"
    );
    assert!(html.contains("Créer 10 lots en brouillon"));
}

/// The confirmation of the preview `html` without the form's token, or
/// with another, and an upload without it: all refused, nothing created.
/// The confirmation's fields, with the right token.
async fn forged_imports_are_refused(
    app: &App,
    browser: &Browser,
    site: &str,
    html: &str,
) -> Vec<(&'static str, String)> {
    let page = format!("/chantiers/{site}/diagnostic");
    let create = format!("{page}/creer");
    let csrf = hidden(html, "csrf");
    let mut fields = confirmation(html, &csrf);
    let forged = post_owned(browser, &create, &fields[1..]).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    fields[0].1 = "not-the-token".into();
    let forged = post_owned(browser, &create, &fields).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let forged = upload(browser, &page, &[], "d.csv", COTEAUX_CSV.as_bytes()).await;
    assert_eq!(
        forged.status(),
        StatusCode::FORBIDDEN,
        "an upload needs the token too"
    );
    assert!(lots_of(app, site).await.is_empty());
    fields[0].1 = csrf;
    fields
}

/// A partner may not import a diagnostic of `site`, even with its own
/// valid token; the site keeps its lots.
async fn a_partner_cannot_import_a_diagnostic(app: &App, site: &str) {
    let before = lots_of(app, site).await.len();
    let page = format!("/chantiers/{site}/diagnostic");
    let structure = app.browser();
    signed_up_structure(&structure).await;
    assert_eq!(structure.page(&page).await.0, StatusCode::FORBIDDEN);
    let (_, html) = structure.page("/structure").await;
    let mut theirs = confirmation_of_file(&hidden(&html, "csrf"), COTEAUX_CSV.as_bytes());
    theirs.push(("nom", "d.csv".into()));
    let refused = post_owned(&structure, &format!("{page}/creer"), &theirs).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(lots_of(app, site).await.len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_diagnostic_is_previewed_line_by_line_then_created_as_drafts_once() {
    let app = App::start().await;
    app.site_manager("cheffe@bailleur-a.example", "bailleur-a")
        .await;
    let site = empty_site(&app, "bailleur-a", "Coteaux – tour B").await;
    let page = format!("/chantiers/{site}/diagnostic");
    let browser = app.browser();
    browser.signed_in("cheffe@bailleur-a.example").await;
    let (_, site_page) = browser.page(&format!("/chantiers/{site}")).await;
    assert!(
        site_page.contains(&format!("href=\"{page}\""))
            && site_page.contains("Importer un diagnostic")
    );
    let (status, html) = preview(
        &browser,
        &page,
        "diagnostic-coteaux.csv",
        COTEAUX_CSV.as_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert_coteaux_preview(&html);
    assert!(
        lots_of(&app, &site).await.is_empty(),
        "a preview creates nothing"
    );
    let fields = forged_imports_are_refused(&app, &browser, &site, &html).await;

    // Confirmed: ten drafts, back on the site; confirmed twice, still ten.
    for _ in 0..2 {
        let done = post_owned(&browser, &format!("{page}/creer"), &fields).await;
        assert_eq!(done.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&done), format!("/chantiers/{site}"));
    }
    let lots = lots_of(&app, &site).await;
    assert_eq!(lots.len(), 10, "one batch, created once");
    assert!(lots.iter().all(|l| l.status() == ipb::LotStatus::Draft));
    let m9 = lots.iter().find(|l| l.reference == "M9").unwrap();
    assert!(m9.hazardous);
    let (_, site_page) = browser.page(&format!("/chantiers/{site}")).await;
    assert!(site_page.contains("Brouillons (10)"), "{site_page}");
    a_revised_diagnostic_updates_its_drafts(&app, &browser, &site, &fields, &lots).await;

    // The directory import is the admin's.
    assert_eq!(
        browser.page("/partenaires/import").await.0,
        StatusCode::FORBIDDEN
    );
    a_partner_cannot_import_a_diagnostic(&app, &site).await;
    app.stop().await;
}

/// The diagnostic revised and imported again: a new row is made, the
/// drafts it changes are updated, a lot published meanwhile is left as it
/// is, and nothing is made twice.
async fn a_revised_diagnostic_updates_its_drafts(
    app: &App,
    browser: &Browser,
    site: &str,
    fields: &[(&'static str, String)],
    lots: &[ipb::Lot],
) {
    let by_ref =
        |lots: &[ipb::Lot], r: &str| lots.iter().find(|l| l.reference == r).cloned().unwrap();
    app.inventory(Role::Admin, None, None)
        .await
        .publish_lot(ipb::PublishLotRequest {
            name: by_ref(lots, "M2").name,
            etag: String::new(),
        })
        .await
        .unwrap();
    let revised = COTEAUX_CSV
        .replace(
            "M1,Portes intérieures bois 83x204 avec huisseries,porte-interieure,240,",
            "M1,Portes intérieures bois 83x204 avec huisseries,porte-interieure,236,",
        )
        .replace(
            "M2,Radiateurs fonte à colonnes,",
            "M2,Radiateurs fonte à colonnes (revus),",
        )
        + "M11,Parquet chêne,parquet,120,m2,1300,couloirs,bon,reemploi hors site,17 02 01,\n";
    let csrf = fields
        .iter()
        .find(|(k, _)| *k == "csrf")
        .map(|(_, v)| v.clone())
        .unwrap();
    let mut again = confirmation_of_file(&csrf, revised.as_bytes());
    again.push(("nom", "diagnostic-coteaux-v2.csv".into()));
    let done = post_owned(
        browser,
        &format!("/chantiers/{site}/diagnostic/creer"),
        &again,
    )
    .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let now = lots_of(app, site).await;
    assert_eq!(now.len(), 11, "one new row, nothing made twice");
    assert_eq!(
        by_ref(&now, "M1").quantity.unwrap().milli,
        236_000,
        "a draft updated"
    );
    assert_eq!(by_ref(&now, "M1").name, by_ref(lots, "M1").name);
    assert_eq!(
        by_ref(&now, "M2").designation,
        by_ref(lots, "M2").designation,
        "a published lot left as it is"
    );
    assert_eq!(by_ref(&now, "M11").status(), ipb::LotStatus::Draft);
}

/// A confirmation's fields for `file`, as the preview would carry it.
fn confirmation_of_file(csrf: &str, file: &[u8]) -> Vec<(&'static str, String)> {
    use base64::Engine;
    vec![
        ("csrf", csrf.to_owned()),
        (
            "fichier",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(file),
        ),
    ]
}

/// A workbook with French headers, a blank row (row 4) and a hazardous row.
fn diagnostic_xlsx() -> Vec<u8> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    let headers = [
        "Réf",
        "DÉSIGNATION",
        "Catégorie",
        "Quantité",
        "Unité",
        "Masse (kg)",
        "Code déchet",
        "Danger",
    ];
    for (c, h) in headers.iter().enumerate() {
        ws.write_string(0, u16::try_from(c).unwrap(), *h).unwrap();
    }
    let rows = [
        (
            1,
            "X1",
            "Portes palières chêne",
            "porte-interieure",
            12.0,
            "u",
            480.0,
            "17 02 01",
            "",
        ),
        (
            2,
            "X2",
            "Radiateurs acier",
            "radiateur",
            30.0,
            "pce",
            900.5,
            "17 04 05",
            "non",
        ),
        (
            4,
            "X3",
            "Faux plafond amianté",
            "plaque-platre",
            55.5,
            "m²",
            600.0,
            "17 06 05*",
            "amiante",
        ),
    ];
    for (r, reference, designation, category, quantity, unit, mass, code, hazard) in rows {
        ws.write_string(r, 0, reference).unwrap();
        ws.write_string(r, 1, designation).unwrap();
        ws.write_string(r, 2, category).unwrap();
        ws.write_number(r, 3, quantity).unwrap();
        ws.write_string(r, 4, unit).unwrap();
        ws.write_number(r, 5, mass).unwrap();
        ws.write_string(r, 6, code).unwrap();
        ws.write_string(r, 7, hazard).unwrap();
    }
    wb.save_to_buffer().unwrap()
}

/// A CSV with bad rows previewed on a new site of bailleur-a: each shown on
/// its line with why; confirmed, the good rows only are created.
async fn bad_rows_are_left_out(app: &App, browser: &Browser) {
    let site = empty_site(app, "bailleur-a", "Drouot – îlot 2").await;
    let page = format!("/chantiers/{site}/diagnostic");
    let bad = "designation;category;quantity;unit;mass_kg\n\
               Lavabos;sanitaire;12;u;180\n\
               Plinthes;parquet;40;furlong;\n\
               Tuiles;tuile;100;m2;3200\n\
               Fenêtres;fenetre-magique;-3;u;\n";
    let (status, html) = preview(browser, &page, "bad.csv", bad.as_bytes()).await;
    assert_eq!(status, StatusCode::OK);
    let line3 = preview_row(&html, 3);
    assert!(
        line3.contains("Refusée") && line3.contains("Unité : unknown unit"),
        "{line3}"
    );
    assert!(line3.contains("Plinthes"), "what the row holds: {line3}");
    let line5 = preview_row(&html, 5);
    assert!(
        line5.contains("Catégorie : unknown category") && line5.contains("negative"),
        "{line5}"
    );
    assert!(
        html.contains("2 lignes prêtes à créer en brouillon ; 2 lignes refusées."),
        "{html}"
    );
    let csrf = hidden(&html, "csrf");
    let done = post_owned(
        browser,
        &format!("{page}/creer"),
        &confirmation(&html, &csrf),
    )
    .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let mut made: Vec<String> = lots_of(app, &site)
        .await
        .into_iter()
        .map(|l| l.designation)
        .collect();
    made.sort();
    assert_eq!(made, vec!["Lavabos", "Tuiles"], "the good rows only");
}

/// A workbook previewed on a new site of bailleur-a: the spreadsheet's
/// own row numbers, a blank row skipped; confirmed, its three lots made.
/// The site.
async fn a_workbook_is_imported(app: &App, browser: &Browser) -> String {
    let site = empty_site(app, "bailleur-a", "Bourtzwiller – barre 3").await;
    let page = format!("/chantiers/{site}/diagnostic");
    let (status, html) = preview(browser, &page, "Diagnostic.xlsx", &diagnostic_xlsx()).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(preview_row(&html, 2).contains("Portes palières chêne"));
    assert!(
        preview_row(&html, 3).contains("900,5 kg"),
        "{}",
        preview_row(&html, 3)
    );
    assert!(preview_row(&html, 5).contains("jamais publiable"));
    assert!(
        !html.contains("data-label=\"Ligne\">4</th>"),
        "the blank row is no row"
    );
    let done = post_owned(
        browser,
        &format!("{page}/creer"),
        &confirmation(&html, &hidden(&html, "csrf")),
    )
    .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(lots_of(app, &site).await.len(), 3);
    site
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_rows_are_shown_on_their_lines_and_workbooks_are_read_too() {
    let app = App::start().await;
    app.site_manager("chef@bailleur-a.example", "bailleur-a")
        .await;
    let browser = app.browser();
    browser.signed_in("chef@bailleur-a.example").await;
    bad_rows_are_left_out(&app, &browser).await;
    let other = a_workbook_is_imported(&app, &browser).await;
    let page = format!("/chantiers/{other}/diagnostic");

    // Files that cannot be imported at all: the form again, saying why.
    let (status, html) = preview(&browser, &page, "x.csv", b"ref,designation,unit\nA,B,u\n").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        html.contains("Colonnes obligatoires manquantes") && html.contains("id=\"fichier-erreur\""),
        "{html}"
    );
    let (status, html) = preview(&browser, &page, "x.xlsx", b"not a workbook").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("n'a pas pu être lu"), "{html}");
    for size in [5 * 1024 * 1024 + 1, 7 * 1024 * 1024] {
        let big = vec![b'a'; size];
        let (status, html) = preview(&browser, &page, "big.csv", &big).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(html.contains("dépasse 5 Mo"), "{html}");
    }
    assert_eq!(lots_of(&app, &other).await.len(), 3, "nothing more made");
    app.stop().await;
}

/// A diagnostic of `rows` good rows, lines 2 to `rows + 1`.
fn diagnostic_of(rows: usize) -> String {
    let mut csv = String::from("designation;category;quantity;unit\n");
    for i in 0..rows {
        csv.push_str(&format!("Lavabo {i};sanitaire;1;u\n"));
    }
    csv
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_file_of_more_rows_than_one_import_takes_is_refused_before_its_preview() {
    let app = App::start().await;
    app.site_manager("chef@bailleur-a.example", "bailleur-a")
        .await;
    let browser = app.browser();
    browser.signed_in("chef@bailleur-a.example").await;
    let site = empty_site(&app, "bailleur-a", "Drouot – îlot 3").await;
    let page = format!("/chantiers/{site}/diagnostic");
    let csv = diagnostic_of(1001);
    let (status, html) = preview(&browser, &page, "long.csv", csv.as_bytes()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        html.contains(
            "Le fichier compte 1001 lignes : un import en prend au plus 1000. \
             Découpez-le en plusieurs fichiers."
        ) && html.contains("id=\"fichier-erreur\""),
        "{html}"
    );
    assert!(
        html.contains("enctype=\"multipart/form-data\"") && !html.contains("<table"),
        "the form again, no preview: {html}"
    );
    // Carried back as if a preview had offered it: refused too.
    let (_, form) = browser.page(&page).await;
    let mut fields = confirmation_of_file(&hidden(&form, "csrf"), csv.as_bytes());
    fields.push(("nom", "long.csv".into()));
    let refused = post_owned(&browser, &format!("{page}/creer"), &fields).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(lots_of(&app, &site).await.is_empty(), "nothing created");
    // One import's worth is previewed.
    let (status, html) = preview(&browser, &page, "full.csv", diagnostic_of(1000).as_bytes()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Créer 1000 lots en brouillon"), "{html}");
    app.stop().await;
}

/// The demo's structures, and one without coordinates on line 7.
fn partners_csv() -> String {
    let mut csv = PARTNERS_CSV.to_owned();
    csv.push_str(&format!(
        "Sans Coordonnées,EI,{},Mulhouse,68224,,,tuile,100,20,1\n",
        luhn_siret("8299999999999")
    ));
    csv
}

/// The preview of [`partners_csv`]: five structures, the one without
/// coordinates refused on its line.
fn assert_partners_preview(html: &str) {
    for line in 2..=6 {
        assert!(
            preview_row(html, line).contains("en attente de vérification"),
            "line {line}"
        );
    }
    let line7 = preview_row(html, 7);
    assert!(
        line7.contains("Refusée") && line7.contains("Latitude et longitude : obligatoires"),
        "{line7}"
    );
    assert!(
        html.contains("5 structures à enregistrer ; 1 ligne refusée."),
        "{html}"
    );
    assert!(
        preview_row(html, 4).contains("30 km"),
        "the sample's own radius"
    );
}

/// The confirmation's answer to the directory preview `html`.
async fn confirm_directory(browser: &Browser, html: &str) -> reqwest::Response {
    let mut fields = confirmation(html, &hidden(html, "csrf"));
    fields.push(("rayon", hidden(html, "rayon")));
    post_owned(browser, "/partenaires/import/creer", &fields).await
}

async fn registered_partners(app: &App) -> Vec<rpb::Partner> {
    app.registry(Role::Admin, None)
        .await
        .list_partners(rpb::ListPartnersRequest {
            page_size: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .partners
}

/// Another export naming a structure registered already (line 3): the
/// registry refuses the batch, the preview says which line.
async fn a_registered_siret_is_refused_on_its_line(browser: &Browser) {
    let taken = PARTNERS_CSV.lines().nth(1).unwrap();
    let again = format!(
        "name,kind,siret,commune,lat,lon\nNouvelle Ressourcerie,RESSOURCERIE,{},Mulhouse,47.75,7.33\n{}\n",
        luhn_siret("8288888888888"),
        taken
            .split(',')
            .take(4)
            .chain(taken.split(',').skip(5).take(2))
            .collect::<Vec<_>>()
            .join(",")
    );
    let (status, html) = preview(
        browser,
        "/partenaires/import",
        "encore.csv",
        again.as_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let refused = confirm_directory(browser, &html).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let html = refused.text().await.unwrap();
    assert!(html.contains("déjà enregistrée avec ce SIRET"), "{html}");
    assert!(
        preview_row(&html, 3).contains("Refusée"),
        "{}",
        preview_row(&html, 3)
    );
    assert!(!preview_row(&html, 2).contains("Refusée"));
    assert!(
        !html.contains("Enregistrer 2 structures"),
        "no confirmation of a refused batch"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_admin_imports_an_siae_directory_after_a_preview() {
    let app = App::start().await;
    app.account("admin@m2a.example", idpb::AccountRole::Admin, "")
        .await;
    let browser = app.browser();
    browser.signed_in("admin@m2a.example").await;
    let (_, partners) = browser.page("/partenaires").await;
    assert!(partners.contains("href=\"/partenaires/import\""));
    let csv = partners_csv();
    let (status, html) = preview(&browser, "/partenaires/import", "siae.csv", csv.as_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert_partners_preview(&html);
    let done = confirm_directory(&browser, &html).await;
    assert_eq!(location(&done), "/partenaires");
    let listed = registered_partners(&app).await;
    assert_eq!(listed.len(), 5);
    assert!(
        listed
            .iter()
            .all(|p| p.status() == rpb::PartnerStatus::Pending)
    );
    a_registered_siret_is_refused_on_its_line(&browser).await;

    // A default radius out of range: the form again, with the radius typed.
    let (_, form) = browser.page("/partenaires/import").await;
    let answer = upload(
        &browser,
        "/partenaires/import",
        &[("csrf", &hidden(&form, "csrf")), ("rayon", "500")],
        "siae.csv",
        csv.as_bytes(),
    )
    .await;
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    let html = answer.text().await.unwrap();
    assert!(html.contains("id=\"rayon-erreur\""), "{html}");
    assert!(
        html.contains("name=\"rayon\" type=\"number\" value=\"500\""),
        "the radius typed: {html}"
    );
    assert_eq!(registered_partners(&app).await.len(), 5);
    app.stop().await;
}

// ---- The territory's figures and the structures' declarations (impact).

type Impact = ImpactServiceClient<InterceptedService<Channel, Bearer>>;

impl App {
    async fn impact(&self, role: Role, org: Option<&str>, partner: Option<&str>) -> Impact {
        let token = testing::token(role, org, partner);
        ImpactServiceClient::with_interceptor(
            testing::channel(self.impact).await,
            Bearer(Some(token)),
        )
    }
}

/// A site of bailleur-a in `quartier` of Mulhouse with one published lot
/// of ten radiators (400 kg estimated), 4 of them claimed by `partner`,
/// confirmed and handed over weighing `grams`; the claim's name.
async fn handed_over_in(app: &App, partner: &str, quartier: &str, grams: i64) -> String {
    let mut manager = app
        .inventory(Role::SiteManager, Some("bailleur-a"), None)
        .await;
    let site = manager
        .create_site(ipb::CreateSiteRequest {
            site: Some(ipb::Site {
                display_name: format!("Chantier {quartier}"),
                operation: Some(ipb::Operation {
                    programme: "NPNRU".into(),
                    quartier: quartier.into(),
                    commune: "Mulhouse".into(),
                    insee_code: "68224".into(),
                }),
                location: Some(tpb::GeoPoint {
                    latitude: 47.746,
                    longitude: 7.301,
                }),
                ..Default::default()
            }),
            request_id: String::new(),
            site_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let lot = site_lot(&mut manager, &site.name).await;
    let claim = claimed_through_the_api(app, partner, &lot, 4_000, &format!("c-{quartier}")).await;
    manager
        .confirm_claim(ipb::ConfirmClaimRequest {
            name: claim.clone(),
            etag: String::new(),
        })
        .await
        .unwrap();
    manager
        .record_handover(ipb::RecordHandoverRequest {
            name: claim.clone(),
            weighed_mass_g: grams,
            handover_time: None,
            etag: String::new(),
            accept_unexpected_mass: false,
            ..Default::default()
        })
        .await
        .unwrap();
    claim
}

/// A published lot of ten radiators, 400 kg estimated, on `site`.
async fn site_lot(manager: &mut Inventory, site: &str) -> String {
    let lot = manager
        .create_lot(ipb::CreateLotRequest {
            parent: site.to_owned(),
            lot: Some(ipb::Lot {
                designation: "Radiateurs fonte".into(),
                category: "radiateur".into(),
                quantity: Some(tpb::Quantity {
                    unit: tpb::Unit::Piece as i32,
                    milli: 10_000,
                }),
                estimated_mass_g: 400_000,
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

/// `/reservations/{site}/{lot}/{claim}` of a claim's name.
fn claim_page(claim: &str) -> String {
    let parts: Vec<&str> = claim.split('/').collect();
    format!("/reservations/{}/{}/{}", parts[1], parts[3], parts[5])
}

/// The structure declares, on the claim's page, 100 kg reused as is and
/// 1,5 h of sorting by 2 people, once the impact service knows the
/// hand-over (through events).
async fn declared_through_the_web(structure: &Browser, claim: &str) {
    let page = claim_page(claim);
    // The forms appear once the impact service has heard of the hand-over.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (status, html) = structure.page(&page).await;
        assert_eq!(status, StatusCode::OK);
        if html.contains("Déclarer un devenir") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{html}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let outcome = |html: &str| {
        vec![
            ("csrf", hidden(html, "csrf")),
            ("request_id", hidden(html, "request_id")),
            ("kind", "OUTCOME_KIND_REUSED_AS_IS".to_owned()),
            ("quantity", String::new()),
            ("mass_kg", "100".to_owned()),
            ("destination", "Boutique solidaire Coteaux".to_owned()),
        ]
    };
    let declared = eventually("the outcome declared", || async {
        let (_, html) = structure.page(&page).await;
        let answer = post_fields(structure, &format!("{page}/devenir"), &outcome(&html)).await;
        (answer.status() == StatusCode::SEE_OTHER).then(|| location(&answer))
    })
    .await;
    assert_eq!(declared, format!("{page}#devenir"));
    let (_, html) = structure.page(&page).await;
    assert!(html.contains("Boutique solidaire Coteaux") && html.contains("Réemployé tel quel"));
    let at = html.find(&format!("action=\"{page}/heures\"")).unwrap();
    let hours = [
        ("csrf", hidden(&html, "csrf")),
        ("request_id", hidden(&html[at..], "request_id")),
        ("activity", "ACTIVITY_SORTING".to_owned()),
        ("hours", "1,5".to_owned()),
        ("people", "2".to_owned()),
    ];
    let answer = post_fields(structure, &format!("{page}/heures"), &hours).await;
    assert_eq!(location(&answer), format!("{page}#heures"));
    // The same form sent again (a double click): declared once.
    let again = post_fields(structure, &format!("{page}/heures"), &hours).await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
}

/// Kilograms of a mass in grams below a tonne, as the pages write them.
fn french_kg(grams: i64) -> String {
    assert!(grams.abs() < 1_000_000, "{grams} g");
    let sign = if grams < 0 { "-" } else { "" };
    let (kg, g) = (grams.abs() / 1000, grams.abs() % 1000);
    if g == 0 {
        format!("{sign}{kg} kg")
    } else {
        let g = format!("{g:03}");
        format!("{sign}{kg},{} kg", g.trim_end_matches('0'))
    }
}

/// The column `name` of a CSV of the figures page, its values in grams
/// (kilograms with a decimal comma), one per group.
fn csv_column_grams(csv: &str, name: &str) -> Vec<i64> {
    let mut lines = csv.trim_start_matches('\u{feff}').lines();
    let header: Vec<&str> = lines.next().unwrap().split(';').collect();
    let at = header.iter().position(|h| *h == name).unwrap();
    lines
        .map(|line| {
            let cell = line.split(';').nth(at).unwrap();
            let (kg, g) = cell.split_once(',').unwrap_or((cell, ""));
            let g = format!("{g:0<3}");
            kg.parse::<i64>().unwrap() * 1000 + g.parse::<i64>().unwrap()
        })
        .collect()
}

/// The territory admin's figures page shows what GetImpactSummary gives for
/// hand-overs made through the API and declarations made through the
/// structure's pages: the totals, a quartier's own figures through the
/// filter, CSV files whose lines sum to the total; a structure may not see
/// the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_figures_page_shows_the_impact_services_totals_and_its_csv_lines_sum_to_them() {
    let app = App::start().await;
    app.account("admin@m2a.example", idpb::AccountRole::Admin, "")
        .await;
    let structure = app.browser();
    let partner = structure_through_the_web(&structure, 41).await;
    verify(&app, &partner).await;
    let first = handed_over_in(&app, &partner, "Coteaux", 152_500).await;
    handed_over_in(&app, &partner, "Drouot-Jonquilles", 130_000).await;
    declared_through_the_web(&structure, &first).await;
    // What the service says, once it has followed every event.
    let impact = app.impact(Role::Admin, None, None).await;
    let summary = eventually("the impact service's figures", || {
        let mut impact = impact.clone();
        async move {
            let summary = impact
                .get_impact_summary(impact_pb::GetImpactSummaryRequest::default())
                .await
                .ok()?
                .into_inner();
            let total = summary.total?;
            (total.claims == 2 && total.insertion_minutes == 90).then_some(summary)
        }
    })
    .await;
    let total = summary.total.unwrap();
    assert_eq!(total.handed_over_mass_g, 282_500);
    assert_eq!(total.reused_as_is_mass_g, 100_000);
    let admin = app.browser();
    admin.signed_in("admin@m2a.example").await;
    let (_, partners) = admin.page("/partenaires").await;
    assert!(
        partners.contains("href=\"/chiffres\""),
        "the admin's navigation links the figures"
    );
    let (status, html) = admin.page("/chiffres").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("<dd id=\"total-remis\">282,5 kg</dd>"),
        "{html}"
    );
    assert!(html.contains(&format!(
        "<dd id=\"total-co2e-net\">{} CO2e</dd>",
        french_kg(total.co2e_net_g)
    )));
    assert!(html.contains("<dd id=\"total-heures\">1,5 h</dd>"));
    assert!(html.contains(&summary.method_version) && !summary.method_version.is_empty());
    assert!(html.contains("Réemployé tel quel") && html.contains("100 kg"));
    // The charts are images named by their title, with the figures as tables.
    assert!(html.contains("aria-labelledby=\"par-quartier-titre par-quartier-desc\""));
    assert!(html.contains("aria-labelledby=\"par-mois-titre par-mois-desc\""));
    assert!(html.contains("Drouot-Jonquilles : 130 kg"));
    // One quartier through the filter: its own hand-over only.
    let (_, coteaux) = admin.page("/chiffres?territoire=quartier%3ACoteaux").await;
    assert!(
        coteaux.contains("<dd id=\"total-remis\">152,5 kg</dd>"),
        "{coteaux}"
    );
    let (status, _) = admin.page("/chiffres?du=2026-02-30").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    figures_csv_sums_to(&admin, total.handed_over_mass_g).await;
    // A structure may not see the territory's figures.
    assert_eq!(structure.page("/chiffres").await.0, StatusCode::FORBIDDEN);
    let csv = structure.get("/chiffres.csv?par=quartier").await;
    assert_eq!(csv.status(), StatusCode::FORBIDDEN);
    app.stop().await;
}

/// Each CSV of the figures is an attachment whose lines sum to `total`.
async fn figures_csv_sums_to(admin: &Browser, total: i64) {
    for by in ["quartier", "mois", "commune", "partenaire", "categorie"] {
        let answer = admin.get(&format!("/chiffres.csv?par={by}")).await;
        assert_eq!(answer.status(), StatusCode::OK, "{by}");
        let headers = answer.headers().clone();
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv")
        );
        assert_eq!(
            headers["content-disposition"],
            format!("attachment; filename=\"chiffres-{by}.csv\"").as_str()
        );
        let csv = answer.text().await.unwrap();
        let masses = csv_column_grams(&csv, "masse remise (kg)");
        assert!(!masses.is_empty(), "{by}: {csv}");
        assert_eq!(masses.iter().sum::<i64>(), total, "{by}: {csv}");
    }
    let quartiers = admin
        .get("/chiffres.csv?par=quartier")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(csv_column_grams(&quartiers, "masse remise (kg)").len(), 2);
    assert_eq!(
        admin.get("/chiffres.csv?par=couleur").await.status(),
        StatusCode::BAD_REQUEST
    );
}

/// A structure declares an outcome and hours on its handed-over claim;
/// a declaration above what was handed over is refused beside the mass
/// field, keeps what was typed, and declares nothing; another structure
/// cannot declare on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_declaration_above_the_handed_over_mass_is_refused_beside_its_field() {
    let app = App::start().await;
    let structure = app.browser();
    let partner = structure_through_the_web(&structure, 42).await;
    verify(&app, &partner).await;
    let claim = handed_over_in(&app, &partner, "Coteaux", 152_500).await;
    // The list links the claim's declarations.
    let (_, list) = structure.page("/mes-reservations").await;
    assert!(list.contains(&format!("href=\"{}#devenir\"", claim_page(&claim))));
    declared_through_the_web(&structure, &claim).await;
    let mut impact = app.impact(Role::Partner, None, Some(&partner)).await;
    let before = impact
        .list_declarations(impact_pb::ListDeclarationsRequest {
            claim: claim.clone(),
            site: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((before.outcomes.len(), before.hours.len()), (1, 1));
    assert_eq!(before.hours[0].minutes, 90);
    // 100 kg declared of 152,5 kg: 60 kg more is too much.
    let page = claim_page(&claim);
    let (_, html) = structure.page(&page).await;
    assert!(
        html.contains("Déclaré : 100 kg sur 152,5 kg remis."),
        "{html}"
    );
    let fields = [
        ("csrf", hidden(&html, "csrf")),
        ("request_id", hidden(&html, "request_id")),
        ("kind", "OUTCOME_KIND_RECYCLED".to_owned()),
        ("quantity", String::new()),
        ("mass_kg", "60".to_owned()),
        ("destination", "Recycleur du port".to_owned()),
    ];
    let refused = post_fields(&structure, &format!("{page}/devenir"), &fields).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let html = refused.text().await.unwrap();
    assert!(html.contains("id=\"mass_kg-erreur\""), "{html}");
    assert!(html.contains("value=\"60\"") && html.contains("value=\"Recycleur du port\""));
    assert!(html.contains("<option value=\"OUTCOME_KIND_RECYCLED\" selected>"));
    // Neither a mass nor a quantity: refused by the page itself.
    let mut none = fields.clone();
    none[4].1 = String::new();
    let refused = post_fields(&structure, &format!("{page}/devenir"), &none).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("id=\"quantity-erreur\"")
    );
    // Another structure cannot declare on this claim.
    let other = app.browser();
    structure_through_the_web(&other, 43).await;
    let (_, theirs) = other.page("/mes-reservations").await;
    let mut forged = fields.clone();
    forged[0].1 = hidden(&theirs, "csrf");
    forged[4].1 = "1".to_owned();
    let answer = post_fields(&other, &format!("{page}/devenir"), &forged).await;
    assert!(answer.status().is_client_error(), "{}", answer.status());
    let after = impact
        .list_declarations(impact_pb::ListDeclarationsRequest {
            claim: claim.clone(),
            site: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after, before, "nothing more declared");
    app.stop().await;
}

/// The mode of `kind` for `account`, as the notification service holds it.
async fn email_mode(
    app: &App,
    account: uuid::Uuid,
    kind: reemploi_notify::model::Kind,
) -> reemploi_proto::notify::EmailMode {
    let p = reemploi_runtime::auth::Principal {
        subject: format!("accounts/{account}"),
        role: Role::SiteManager,
        org: Some("m2a-habitat".into()),
        partner: None,
    };
    let prefs = app.notifier.preferences(&p).await.unwrap();
    let pref = prefs
        .preferences
        .iter()
        .find(|x| x.kind == kind.to_proto() as i32)
        .unwrap();
    reemploi_proto::notify::EmailMode::try_from(pref.mode).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_unsubscribe_link_of_an_email_turns_its_kind_off_without_signing_in() {
    use reemploi_notify::model::Kind;
    use reemploi_proto::notify::EmailMode;
    let app = App::start().await;
    let account = uuid::Uuid::now_v7();
    let token = app
        .notifier
        .unsubscriber()
        .token(account, Kind::ClaimReserved);
    let path = "/notifications/desabonnement";
    let page = format!("{path}?jeton={token}");
    let browser = app.browser();
    // Opening the link (as a mail scanner does) changes nothing.
    let (status, html) = browser.page(&page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Ne plus recevoir ces courriels"), "{html}");
    assert_eq!(hidden(&html, "jeton"), token);
    let mode = email_mode(&app, account, Kind::ClaimReserved).await;
    assert_eq!(mode, EmailMode::Immediate);
    // Without the form's CSRF token: refused, nothing changed.
    let bare = browser.post(path, &[("jeton", &token)]).await;
    assert_eq!(bare.status(), StatusCode::FORBIDDEN);
    let mode = email_mode(&app, account, Kind::ClaimReserved).await;
    assert_eq!(mode, EmailMode::Immediate);
    let done = submit(&browser, &page, path, &[("jeton", &token)]).await;
    assert_eq!(done.status(), StatusCode::OK);
    let said = done.text().await.unwrap();
    assert!(
        said.contains("notifications de nouvelles réservations"),
        "{said}"
    );
    let mode = email_mode(&app, account, Kind::ClaimReserved).await;
    assert_eq!(mode, EmailMode::Off);
    let other = email_mode(&app, account, Kind::ClaimCancelled).await;
    assert_eq!(other, EmailMode::Immediate);
    // A link made up for someone else: said so, nothing changed.
    let victim = uuid::Uuid::now_v7();
    let forged = token.replace(&account.to_string(), &victim.to_string());
    let refused = submit(&browser, &page, path, &[("jeton", &forged)]).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(refused.text().await.unwrap().contains("pas valable"));
    let mode = email_mode(&app, victim, Kind::ClaimReserved).await;
    assert_eq!(mode, EmailMode::Immediate);
    app.stop().await;
}

// `reemploi-web` stops at start on a NATS setting it could never use, with
// an error that names the setting and not the URL (it may carry a
// password), before it listens; NATS merely not answering is not one.
#[tokio::test]
async fn reemploi_web_stops_at_start_on_a_bad_nats_setting() {
    let dir = tempfile::tempdir().unwrap();
    let missing_ca = dir.path().join("no-such-ca.pem");
    let missing_ca = missing_ca.to_str().unwrap();
    let cases: [(&[&str], &str); 3] = [
        (
            &["--nats-url", "nats://user:s3cret@host name:4222"],
            "NATS server URL 1 of 1 is invalid",
        ),
        (
            &[
                "--nats-url",
                "nats://127.0.0.1:1",
                "--event-namespace",
                "a.b",
            ],
            "namespace",
        ),
        (
            &["--nats-url", "nats://127.0.0.1:1", "--nats-ca", missing_ca],
            "--nats-ca",
        ),
    ];
    for (args, named) in cases {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_reemploi-web"))
            .args(["--web-listen", "127.0.0.1:0", "--log-format", "json"])
            .arg("--data-dir")
            .arg(dir.path())
            .args(args)
            .env_remove("NATS_URL")
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(Duration::from_secs(30), output)
            .await
            .unwrap_or_else(|_| panic!("{args:?}: still running after 30 s"))
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?}: {stderr}");
        assert!(!stdout.contains("listening"), "{args:?}: {stdout}");
        assert!(stderr.contains(named), "{args:?}: {stderr}");
        assert!(!stderr.contains("s3cret"), "{args:?}: {stderr}");
    }
}
