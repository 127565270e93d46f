//! Test support: throwaway NATS servers (one, or a three-node JetStream
//! cluster) for fault tests and unique namespaces so that tests can share
//! one NATS server.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// A throwaway `nats-server` with JetStream on a free port and a temporary
/// store directory, run as a child process and killed on drop.
///
/// The binary is `$NATS_SERVER_BIN`, else `nats-server` on the `PATH`, else
/// `/usr/sbin/nats-server`.
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    store: tempfile::TempDir,
    tls: Option<NatsPki>,
}

/// The certificates of a server started with [`NatsServer::start_tls`]:
/// made at test time by a CA of their own, in a temporary directory.
#[derive(Debug)]
pub struct NatsPki {
    dir: tempfile::TempDir,
    mutual: bool,
}

impl NatsPki {
    fn new(mutual: bool) -> NatsPki {
        let dir = tempfile::tempdir().expect("temp dir for test certificates");
        let ca = crate::tls::TestCa::new("reemploi test NATS CA");
        let server = ca.server();
        let client = ca.client("reemploi test NATS client");
        let write = |name: &str, contents: &str| crate::tls::write(dir.path(), name, contents);
        write("ca.pem", &ca.cert);
        write("server.pem", &server.cert);
        write("server.key", &server.key);
        write("client.pem", &client.cert);
        write("client.key", &client.key);
        NatsPki { dir, mutual }
    }

    /// The CA that signed the server's and the client's certificates.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A client certificate the server accepts.
    pub fn client_cert(&self) -> PathBuf {
        self.dir.path().join("client.pem")
    }

    /// The key of [`NatsPki::client_cert`].
    pub fn client_key(&self) -> PathBuf {
        self.dir.path().join("client.key")
    }

    /// The server's arguments: TLS only, and client certificates verified
    /// when mutual.
    fn server_args(&self) -> Vec<String> {
        let path = |name: &str| self.dir.path().join(name).display().to_string();
        let mut args = vec![
            if self.mutual { "--tlsverify" } else { "--tls" }.to_owned(),
            "--tlscert".to_owned(),
            path("server.pem"),
            "--tlskey".to_owned(),
            path("server.key"),
        ];
        if self.mutual {
            args.extend(["--tlscacert".to_owned(), path("ca.pem")]);
        }
        args
    }

    /// Options of a client the server accepts.
    fn client_options(&self) -> async_nats::ConnectOptions {
        async_nats::ConnectOptions::new()
            .require_tls(true)
            .add_root_certificates(self.ca())
            .add_client_certificate(self.client_cert(), self.client_key())
    }
}

impl std::fmt::Debug for NatsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsServer")
            .field("port", &self.port)
            .field("running", &self.child.is_some())
            .finish()
    }
}

impl NatsServer {
    /// Starts a server and waits until it accepts connections.
    ///
    /// # Panics
    ///
    /// When no nats-server binary can be run or it does not come up in time.
    pub async fn start() -> NatsServer {
        let port = free_port();
        let store = tempfile::tempdir().expect("temp dir for the JetStream store");
        let mut server = NatsServer {
            child: None,
            port,
            store,
            tls: None,
        };
        server.spawn().await;
        server
    }

    /// A server that speaks only TLS, with a certificate for 127.0.0.1
    /// and `localhost` signed by a CA made for it ([`NatsServer::pki`]);
    /// when `mutual`, it also requires client certificates signed by
    /// that CA.
    ///
    /// # Panics
    ///
    /// As [`NatsServer::start`].
    pub async fn start_tls(mutual: bool) -> NatsServer {
        let mut server = NatsServer {
            child: None,
            port: free_port(),
            store: tempfile::tempdir().expect("temp dir for the JetStream store"),
            tls: Some(NatsPki::new(mutual)),
        };
        server.spawn().await;
        server
    }

    /// The certificates of a server started with [`NatsServer::start_tls`].
    pub fn pki(&self) -> Option<&NatsPki> {
        self.tls.as_ref()
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL, no clean shutdown), keeping its store.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts the server again on the same port with the same store.
    pub async fn restart(&mut self) {
        self.kill().await;
        self.spawn().await;
    }

    async fn spawn(&mut self) {
        // The port may linger briefly after a kill: retry the start a few times.
        let extra = self
            .tls
            .as_ref()
            .map(NatsPki::server_args)
            .unwrap_or_default();
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        for _ in 0..5 {
            self.child = Some(run_nats_server(self.port, self.store.path(), &extra));
            if self.wait_ready().await {
                return;
            }
            self.kill().await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("nats-server did not start on port {}", self.port);
    }

    /// Waits until the server answers a JetStream request (not merely listens).
    async fn wait_ready(&mut self) -> bool {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::time::Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(_exited)) = child.try_wait()
            {
                return false;
            }
            let options = match &self.tls {
                Some(pki) => pki.client_options(),
                None => async_nats::ConnectOptions::new(),
            };
            if jetstream_ready(&self.url(), options).await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }
}

/// Whether the server at `url` answers a JetStream API request without an
/// error: on a clustered server that happens only once the JetStream meta
/// group has a leader, not merely once the port listens.
async fn jetstream_ready(url: &str, options: async_nats::ConnectOptions) -> bool {
    let Ok(client) = options
        .connection_timeout(Duration::from_millis(500))
        .connect(url)
        .await
    else {
        return false;
    };
    // The raw account-info request: JetStream answers it once ready
    // (async-nats' typed query expects a newer server's reply shape).
    let reply = tokio::time::timeout(
        Duration::from_secs(1),
        client.request("$JS.API.INFO", bytes::Bytes::new()),
    )
    .await;
    let ready = match reply {
        Ok(Ok(reply)) => {
            let body = String::from_utf8_lossy(&reply.payload);
            body.contains("account_info_response") && !body.contains("\"error\"")
        }
        _ => false,
    };
    let _ = client.drain().await;
    ready
}

/// Nodes of a [`NatsCluster`]: the fewest with which R3 streams survive the
/// loss of one.
pub const CLUSTER_SIZE: usize = 3;

/// Three `nats-server` processes forming one JetStream cluster on free
/// ports, each with a temporary store, killed on drop. Any one node can be
/// killed (SIGKILL) and restarted on the same ports and store, to test that
/// R3 streams lose nothing when a node dies.
pub struct NatsCluster {
    name: String,
    nodes: Vec<ClusterNode>,
}

struct ClusterNode {
    child: Option<Child>,
    port: u16,
    cluster_port: u16,
    store: tempfile::TempDir,
}

impl std::fmt::Debug for NatsCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let nodes: Vec<(u16, bool)> = self
            .nodes
            .iter()
            .map(|n| (n.port, n.child.is_some()))
            .collect();
        f.debug_struct("NatsCluster")
            .field("name", &self.name)
            .field("nodes (port, running)", &nodes)
            .finish()
    }
}

impl NatsCluster {
    /// Starts three nodes and waits until every one of them answers
    /// JetStream requests (the cluster has a meta leader).
    ///
    /// # Panics
    ///
    /// When no nats-server binary can be run or the cluster does not form in time.
    pub async fn start() -> NatsCluster {
        // Ports are picked free but released before the servers bind them:
        // if one was taken in between, the whole cluster starts again on
        // new ports (routes name every node's cluster port).
        for _ in 0..3 {
            let ports = free_ports(2 * CLUSTER_SIZE);
            let id = uuid::Uuid::now_v7().simple().to_string();
            let mut cluster = NatsCluster {
                // Unique, so that a node of another test's cluster that
                // happened to reuse a port could never join this one.
                name: format!("reemploi-t{}", &id[id.len() - 12..]),
                nodes: (0..CLUSTER_SIZE)
                    .map(|i| ClusterNode {
                        child: None,
                        port: ports[i],
                        cluster_port: ports[CLUSTER_SIZE + i],
                        store: tempfile::tempdir().expect("temp dir for a JetStream store"),
                    })
                    .collect(),
            };
            for i in 0..CLUSTER_SIZE {
                cluster.spawn(i);
            }
            if cluster
                .wait_ready(&[0, 1, 2], Duration::from_secs(30))
                .await
            {
                return cluster;
            }
            for i in 0..CLUSTER_SIZE {
                cluster.kill(i).await;
            }
        }
        panic!("a three-node nats-server cluster did not form");
    }

    /// Every node's client URL, comma-separated, as a service is configured.
    pub fn urls(&self) -> String {
        (0..CLUSTER_SIZE)
            .map(|i| self.url(i))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The client URL of node `i`.
    pub fn url(&self, i: usize) -> String {
        format!("nats://127.0.0.1:{}", self.nodes[i].port)
    }

    /// The server name of node `i`, as JetStream names a stream's leader.
    pub fn server_name(&self, i: usize) -> String {
        format!("{}-n{i}", self.name)
    }

    /// The node whose server name is `name`.
    pub fn node_named(&self, name: &str) -> Option<usize> {
        (0..CLUSTER_SIZE).find(|&i| self.server_name(i) == name)
    }

    /// Whether node `i` is running (not killed).
    pub fn is_running(&self, i: usize) -> bool {
        self.nodes[i].child.is_some()
    }

    /// Kills node `i` (SIGKILL, no clean shutdown), keeping its store.
    pub async fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill().await;
        }
    }

    /// Waits until every running node answers JetStream requests again:
    /// after a [`NatsCluster::kill`] of the meta leader, once the others
    /// have elected a new one.
    ///
    /// # Panics
    ///
    /// When they do not within 30 s.
    pub async fn wait_available(&mut self) {
        let running: Vec<usize> = (0..CLUSTER_SIZE).filter(|&i| self.is_running(i)).collect();
        assert!(
            self.wait_ready(&running, Duration::from_secs(30)).await,
            "the cluster's running nodes do not answer JetStream requests"
        );
    }

    /// Starts node `i` again on its ports with its store, and waits until
    /// it answers JetStream requests again.
    ///
    /// # Panics
    ///
    /// When the node does not come back in time.
    pub async fn restart(&mut self, i: usize) {
        self.kill(i).await;
        // The port may linger briefly after a kill: retry the start a few times.
        for _ in 0..5 {
            self.spawn(i);
            if self.wait_ready(&[i], Duration::from_secs(20)).await {
                return;
            }
            self.kill(i).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!(
            "cluster node {i} did not restart on port {}",
            self.nodes[i].port
        );
    }

    fn spawn(&mut self, i: usize) {
        let routes: Vec<String> = (0..CLUSTER_SIZE)
            .filter(|&j| j != i)
            .map(|j| format!("nats://127.0.0.1:{}", self.nodes[j].cluster_port))
            .collect();
        let node = &self.nodes[i];
        let child = run_nats_server(
            node.port,
            node.store.path(),
            &[
                "--server_name",
                &self.server_name(i),
                "--cluster_name",
                &self.name,
                "--cluster",
                &format!("nats://127.0.0.1:{}", node.cluster_port),
                "--routes",
                &routes.join(","),
            ],
        );
        self.nodes[i].child = Some(child);
    }

    /// Waits until each of `nodes` answers JetStream requests; false if one
    /// of them exited (its port was taken) or the time ran out.
    async fn wait_ready(&mut self, nodes: &[usize], timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut pending: Vec<usize> = nodes.to_vec();
        while tokio::time::Instant::now() < deadline {
            for &i in &pending {
                if let Some(child) = self.nodes[i].child.as_mut()
                    && let Ok(Some(_exited)) = child.try_wait()
                {
                    return false;
                }
            }
            let mut still = Vec::new();
            for &i in &pending {
                if !jetstream_ready(&self.url(i), async_nats::ConnectOptions::new()).await {
                    still.push(i);
                }
            }
            pending = still;
            if pending.is_empty() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }
}

/// Runs `nats-server` with JetStream, for clients on 127.0.0.1:`port`,
/// with its store in `store` and the arguments `extra`: silent, and killed
/// when the returned child is dropped.
///
/// # Panics
///
/// When the binary cannot be run.
fn run_nats_server(port: u16, store: &Path, extra: &[&str]) -> Child {
    let binary = nats_server_binary();
    Command::new(&binary)
        .args(["-js", "-a", "127.0.0.1", "-p"])
        .arg(port.to_string())
        .args(extra)
        .arg("-sd")
        .arg(store)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()))
}

fn nats_server_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("NATS_SERVER_BIN") {
        return PathBuf::from(bin);
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("nats-server"))
            .find(|candidate| candidate.is_file())
    });
    on_path.unwrap_or_else(|| PathBuf::from("/usr/sbin/nats-server"))
}

fn free_port() -> u16 {
    free_ports(1)[0]
}

/// `n` distinct free ports: every listener is held until all are bound.
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local address").port())
        .collect()
}

/// A unique namespace (e.g. `t3f2a9c01d4`) for a test on a shared NATS server.
pub fn unique_namespace() -> String {
    let id = uuid::Uuid::now_v7().simple().to_string();
    // The tail of a UUIDv7 is random; its head is the clock, shared by tests
    // started in the same millisecond.
    format!("t{}", &id[id.len() - 12..])
}

/// The shared NATS server of the test suite, from `NATS_URL`.
///
/// # Panics
///
/// When `NATS_URL` is unset: tests must not silently skip the broker.
pub fn nats_url() -> String {
    match std::env::var("NATS_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "NATS_URL must name a NATS server with JetStream for these tests, \
             e.g. NATS_URL=nats://127.0.0.1:4222"
        ),
    }
}
