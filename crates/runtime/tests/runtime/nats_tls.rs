//! A service's connection to NATS over TLS, against real nats-server
//! processes that speak only TLS, with certificates made for each test.
#![allow(clippy::expect_used)]

use std::time::Duration;

use reemploi_events::{Bus, BusError, JetStreamBus, JetStreamOptions, Message, NatsTls};
use reemploi_runtime::config::{BusArgs, NatsTlsArgs, StoreArgs};
use reemploi_testing::nats::{NatsServer, unique_namespace};
use reemploi_testing::tls::{TestCa, write};

/// How long a connection that must fail at once may take: far less than
/// the wait for an unreachable cluster, which never ends.
const AT_ONCE: Duration = Duration::from_secs(5);

fn bus_args(server: &NatsServer) -> BusArgs {
    BusArgs {
        nats_url: Some(server.url()),
        event_namespace: Some(unique_namespace()),
        ..Default::default()
    }
}

/// `wiring::bus` with `args`, as a service starts: bounded, since it would
/// wait forever for a server it cannot reach.
async fn connected(args: &BusArgs) -> std::sync::Arc<dyn Bus> {
    let store = StoreArgs::default();
    tokio::time::timeout(
        Duration::from_secs(20),
        reemploi_runtime::wiring::bus(args, &store),
    )
    .await
    .expect("connected within 20 s")
    .expect("connected")
}

/// The stream is created and a message published with its PubAck awaited:
/// JetStream answered over the connection.
async fn round_trip(bus: &dyn Bus) {
    bus.ensure_stream("inventory")
        .await
        .expect("stream created");
    bus.publish(&Message::new("reemploi.inventory.lot.published", "lot"))
        .await
        .expect("published and acknowledged over TLS");
}

/// One attempt with `tls`, as a service would make it.
async fn attempt(server: &NatsServer, tls: &NatsTls) -> Result<JetStreamBus, BusError> {
    let opts = JetStreamOptions {
        namespace: Some(unique_namespace()),
        replicas: 1,
    };
    tokio::time::timeout(
        Duration::from_secs(15),
        JetStreamBus::connect_with_tls(&server.url(), opts, tls),
    )
    .await
    .expect("a single attempt ends")
}

/// `wiring::bus` must fail at once with a configuration error; its message.
async fn refused_at_start(args: &BusArgs) -> String {
    let store = StoreArgs::default();
    let connect = reemploi_runtime::wiring::bus(args, &store);
    match tokio::time::timeout(AT_ONCE, connect).await {
        Ok(Err(e @ BusError::Config(_))) => e.to_string(),
        Ok(Err(other)) => panic!("expected a configuration error, got {other}"),
        Ok(Ok(_)) => panic!("connected with unusable TLS files"),
        Err(_) => panic!("still waiting after {AT_ONCE:?}: bad files must stop the start"),
    }
}

#[tokio::test]
async fn a_service_publishes_over_tls_trusting_the_private_ca() {
    let server = NatsServer::start_tls(false).await;
    let pki = server.pki().expect("TLS server");
    let args = BusArgs {
        tls: NatsTlsArgs {
            nats_ca: Some(pki.ca()),
            ..NatsTlsArgs::default()
        },
        ..bus_args(&server)
    };
    let bus = connected(&args).await;
    round_trip(bus.as_ref()).await;
}

#[tokio::test]
async fn a_service_presents_its_client_certificate_to_a_verifying_server() {
    let server = NatsServer::start_tls(true).await;
    let pki = server.pki().expect("TLS server");
    let args = BusArgs {
        tls: NatsTlsArgs {
            nats_ca: Some(pki.ca()),
            nats_cert: Some(pki.client_cert()),
            nats_key: Some(pki.client_key()),
        },
        ..bus_args(&server)
    };
    let bus = connected(&args).await;
    round_trip(bus.as_ref()).await;
}

#[tokio::test]
async fn a_tls_server_is_refused_without_the_right_ca_or_client_certificate() {
    let server = NatsServer::start_tls(true).await;
    let pki = server.pki().expect("TLS server");
    let dir = tempfile::tempdir().expect("temp dir");

    // The system roots do not know the private CA.
    let no_ca = NatsTls {
        cert: Some(pki.client_cert()),
        key: Some(pki.client_key()),
        ..NatsTls::default()
    };
    assert!(matches!(
        attempt(&server, &no_ca).await,
        Err(BusError::Unavailable(_))
    ));

    // Another CA: the server's certificate is not trusted.
    let other = TestCa::new("another CA");
    let other_ca = write(dir.path(), "other-ca.pem", &other.cert);
    let wrong_ca = NatsTls {
        ca: Some(other_ca),
        ..no_ca.clone()
    };
    assert!(attempt(&server, &wrong_ca).await.is_err());

    // The right CA but no client certificate: the server refuses.
    let ca_only = NatsTls {
        ca: Some(pki.ca()),
        ..NatsTls::default()
    };
    assert!(attempt(&server, &ca_only).await.is_err());

    // A client certificate of another CA: refused too.
    let stranger = other.client("stranger");
    let with_stranger = NatsTls {
        ca: Some(pki.ca()),
        cert: Some(write(dir.path(), "stranger.pem", &stranger.cert)),
        key: Some(write(dir.path(), "stranger.key", &stranger.key)),
    };
    assert!(attempt(&server, &with_stranger).await.is_err());

    // And the right files together are accepted: the failures above are
    // the files', not the server's.
    let right = NatsTls {
        ca: Some(pki.ca()),
        cert: Some(pki.client_cert()),
        key: Some(pki.client_key()),
    };
    attempt(&server, &right).await.expect("accepted");
}

#[tokio::test]
async fn a_plaintext_server_is_refused_when_tls_is_asked_for() {
    let server = NatsServer::start().await;
    let ca = TestCa::new("unused CA");
    let dir = tempfile::tempdir().expect("temp dir");
    let tls = NatsTls {
        ca: Some(write(dir.path(), "ca.pem", &ca.cert)),
        ..NatsTls::default()
    };
    assert!(attempt(&server, &tls).await.is_err());
    attempt(&server, &NatsTls::default())
        .await
        .expect("the same server without TLS");
}

#[tokio::test]
async fn unusable_tls_files_stop_the_start_with_the_flag_and_the_file() {
    // Nothing listens there: only the files can end the wait.
    let dir = tempfile::tempdir().expect("temp dir");
    let base = BusArgs {
        nats_url: Some("nats://127.0.0.1:1".to_owned()),
        ..Default::default()
    };
    let ca = TestCa::new("CA");
    let leaf = ca.client("client");
    let other = ca.client("other");
    let cert = write(dir.path(), "client.pem", &leaf.cert);
    let other_key = write(dir.path(), "other.key", &other.key);

    let missing = dir.path().join("missing-ca.pem");
    let message = refused_at_start(&BusArgs {
        tls: NatsTlsArgs {
            nats_ca: Some(missing.clone()),
            ..base.tls.clone()
        },
        ..base.clone()
    })
    .await;
    assert!(message.contains("--nats-ca"), "{message}");
    assert!(
        message.contains(&missing.display().to_string()),
        "{message}"
    );

    let garbage = write(dir.path(), "garbage.pem", "not a certificate\n");
    let message = refused_at_start(&BusArgs {
        tls: NatsTlsArgs {
            nats_ca: Some(garbage),
            ..base.tls.clone()
        },
        ..base.clone()
    })
    .await;
    assert!(message.contains("no PEM certificate"), "{message}");

    // A key that is not the certificate's: named, its contents not shown.
    let message = refused_at_start(&BusArgs {
        tls: NatsTlsArgs {
            nats_cert: Some(cert.clone()),
            nats_key: Some(other_key),
            ..base.tls.clone()
        },
        ..base.clone()
    })
    .await;
    assert!(message.contains("--nats-key"), "{message}");
    let key_body: String = other.key.lines().nth(1).unwrap_or_default().to_owned();
    assert!(!message.contains(&key_body), "{message}");

    let message = refused_at_start(&BusArgs {
        tls: NatsTlsArgs {
            nats_cert: Some(cert.clone()),
            nats_key: Some(cert),
            ..base.tls.clone()
        },
        ..base.clone()
    })
    .await;
    assert!(message.contains("no private key"), "{message}");

    let message = refused_at_start(&BusArgs {
        tls: NatsTlsArgs {
            nats_cert: Some(write(dir.path(), "alone.pem", &leaf.cert)),
            ..base.tls.clone()
        },
        ..base
    })
    .await;
    assert!(message.contains("--nats-key"), "{message}");
}

#[test]
fn the_client_certificate_flags_go_together() {
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        bus: BusArgs,
    }
    let parsed = Cli::try_parse_from(["x", "--nats-ca", "ca.pem", "--nats-cert", "c.pem"]);
    assert!(parsed.is_err(), "--nats-cert without --nats-key");
    let parsed = Cli::try_parse_from([
        "x",
        "--nats-ca",
        "ca.pem",
        "--nats-cert",
        "c.pem",
        "--nats-key",
        "c.key",
    ])
    .expect("all three");
    assert_eq!(parsed.bus.nats_tls().ca.as_deref(), Some("ca.pem".as_ref()));
    assert_eq!(parsed.bus.nats_tls().key.as_deref(), Some("c.key".as_ref()));
}
