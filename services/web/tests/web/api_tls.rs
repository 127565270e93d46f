//! The web app's channels to an API served over mutual TLS: with
//! `--api-ca` and `--api-cert`/`--api-key` the handshake succeeds (the
//! server then answers the call itself), without the certificate it does
//! not, and unreadable files are reported when the app starts.

use std::time::Duration;

use reemploi_proto::identity::GetJwksRequest;
use reemploi_runtime::config::ServerArgs;
use reemploi_runtime::server::{self, Server};
use reemploi_testing::tls::{TestCa, write};
use reemploi_web::{Backend, Endpoints};
use tokio_util::sync::CancellationToken;

/// A gRPC server with mutual TLS that serves no application service: a
/// call that reaches it is answered UNIMPLEMENTED, after the handshake.
async fn mutual_tls_server(dir: &std::path::Path, ca: &TestCa) -> (String, CancellationToken) {
    let server_cert = ca.server();
    let args = ServerArgs {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        drain_delay_ms: 0,
        tls_cert: Some(write(dir, "server.pem", &server_cert.cert)),
        tls_key: Some(write(dir, "server.key", &server_cert.key)),
        tls_client_ca: Some(write(dir, "ca.pem", &ca.cert)),
        ..ServerArgs::default()
    };
    let (listener, addr) = server::bind(args.listen).await.unwrap();
    let shutdown = CancellationToken::new();
    let server = Server::new(&args, &[], &[]).with_drain_delay(Duration::ZERO);
    let routes = tonic::service::Routes::default();
    tokio::spawn(server.serve(listener, routes, shutdown.clone()));
    (format!("https://localhost:{}", addr.port()), shutdown)
}

async fn call(backend: &Backend) -> tonic::Code {
    match backend.identity().get_jwks(GetJwksRequest::default()).await {
        Ok(_) => tonic::Code::Ok,
        Err(status) => status.code(),
    }
}

#[tokio::test]
async fn the_web_app_presents_its_client_certificate_to_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("reemploi test CA");
    let (url, shutdown) = mutual_tls_server(dir.path(), &ca).await;
    let web = ca.client("web");
    let trusting = Endpoints {
        ca: Some(dir.path().join("ca.pem")),
        ..Endpoints::all(&url)
    };
    let with_cert = Endpoints {
        client_cert: Some(write(dir.path(), "web.pem", &web.cert)),
        client_key: Some(write(dir.path(), "web.key", &web.key)),
        ..trusting.clone()
    };

    // The handshake succeeds: the server itself answers that it serves no
    // such method.
    let backend = Backend::connect(&with_cert).unwrap();
    assert_eq!(call(&backend).await, tonic::Code::Unimplemented);

    // Without the certificate the server refuses the connection: the call
    // fails in transport (with TLS 1.3 the refusal arrives with the first
    // request), never reaching the server.
    let backend = Backend::connect(&trusting).unwrap();
    let code = call(&backend).await;
    assert!(
        matches!(code, tonic::Code::Unavailable | tonic::Code::Unknown),
        "{code:?}"
    );

    // A missing file is named when the app starts.
    let missing = Endpoints {
        client_key: Some(dir.path().join("missing.key")),
        ..with_cert
    };
    let err = Backend::connect(&missing).unwrap_err().to_string();
    assert!(err.contains("--api-key"), "{err}");
    shutdown.cancel();
}
