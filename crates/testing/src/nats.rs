//! Test support: throwaway NATS servers for fault tests and unique namespaces
//! so that tests can share one NATS server.

use std::path::PathBuf;
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
        };
        server.spawn().await;
        server
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
        let binary = nats_server_binary();
        // The port may linger briefly after a kill: retry the start a few times.
        for _ in 0..5 {
            let child = Command::new(&binary)
                .args(["-js", "-a", "127.0.0.1", "-p"])
                .arg(self.port.to_string())
                .arg("-sd")
                .arg(self.store.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
            self.child = Some(child);
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
            if let Ok(client) = async_nats::ConnectOptions::new()
                .connection_timeout(Duration::from_millis(500))
                .connect(self.url())
                .await
            {
                // The raw account-info request: JetStream answers it once
                // ready (async-nats' typed query expects a newer server's
                // reply shape).
                let reply = tokio::time::timeout(
                    Duration::from_secs(1),
                    client.request("$JS.API.INFO", bytes::Bytes::new()),
                )
                .await;
                if let Ok(Ok(reply)) = reply {
                    let body = String::from_utf8_lossy(&reply.payload);
                    if body.contains("account_info_response") && !body.contains("\"error\"") {
                        return true;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }
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
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
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
