//! Test support: a TCP proxy that can cut a service off from a server (its
//! database, say) and let it back, to test how the service rides out an
//! outage without stopping the server itself, which other tests share.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

/// Forwards every connection made to [`Proxy::addr`] to a target address.
/// [`Proxy::cut`] drops the open connections and closes the listening
/// socket, so that new connections are refused (as by a server that is
/// down) until [`Proxy::restore`] listens again on the same address.
pub struct Proxy {
    addr: SocketAddr,
    target: SocketAddr,
    serving: Mutex<Option<Serving>>,
}

/// The accept loop while the proxy is up.
struct Serving {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("addr", &self.addr)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl Proxy {
    /// Listens on 127.0.0.1 on a free port and forwards to `target`.
    ///
    /// # Panics
    ///
    /// When no port can be bound.
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a port for the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let proxy = Proxy {
            addr,
            target,
            serving: Mutex::new(None),
        };
        *proxy.serving.lock().await = Some(serve(listener, target));
        proxy
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Drops every open connection and refuses new ones until
    /// [`Proxy::restore`]; returns once the listener is closed and the
    /// connections are gone. Cutting twice is harmless.
    pub async fn cut(&self) {
        if let Some(serving) = self.serving.lock().await.take() {
            serving.stop.cancel();
            let _ = serving.task.await;
        }
    }

    /// Listens again on the same address after a [`Proxy::cut`].
    ///
    /// # Panics
    ///
    /// When the address cannot be bound again within a few seconds.
    pub async fn restore(&self) {
        let mut serving = self.serving.lock().await;
        if serving.is_some() {
            return;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    panic!("proxy cannot listen on {} again: {e}", self.addr)
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        *serving = Some(serve(listener, self.target));
    }
}

/// Accepts and forwards until `stop`, then drops the listener and every
/// forwarded connection before returning.
fn serve(listener: TcpListener, target: SocketAddr) -> Serving {
    let stop = CancellationToken::new();
    let task = tokio::spawn({
        let stop = stop.clone();
        async move {
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    accepted = listener.accept() => {
                        if let Ok((client, _)) = accepted {
                            connections.spawn(forward(client, target));
                        }
                    }
                    // Reap finished connections so the set does not grow.
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
            drop(listener);
            // Aborts every forwarding task and waits until each has
            // dropped its two sockets.
            connections.shutdown().await;
        }
    });
    Serving { stop, task }
}

async fn forward(mut client: TcpStream, target: SocketAddr) {
    // A target that is down looks the same to the client: the connection closes.
    if let Ok(mut server) = TcpStream::connect(target).await {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    }
}

/// The server address (`host:port`, port 5432 by default) of a `postgres://`
/// URL.
///
/// # Panics
///
/// When the URL has no host that resolves.
pub fn postgres_addr(url: &str) -> SocketAddr {
    let (_, authority) = split_authority(url);
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let with_port = if host_port.starts_with('[') {
        if host_port.contains("]:") {
            host_port.to_owned()
        } else {
            format!("{host_port}:5432")
        }
    } else if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    with_port
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .unwrap_or_else(|| panic!("the database URL names no reachable host"))
}

/// `url` with its `host:port` replaced by `addr` (credentials, database and
/// query kept): the same database reached through a [`Proxy`].
pub fn url_through(url: &str, addr: SocketAddr) -> String {
    let (scheme, authority) = split_authority(url);
    let rest = &url[scheme.len() + 3 + authority.len()..];
    let credentials = authority
        .rsplit_once('@')
        .map(|(c, _)| format!("{c}@"))
        .unwrap_or_default();
    format!("{scheme}://{credentials}{addr}{rest}")
}

/// (scheme, authority) of `scheme://authority/path?query`.
fn split_authority(url: &str) -> (&str, &str) {
    let (scheme, rest) = url
        .split_once("://")
        .unwrap_or_else(|| panic!("not a URL with an authority"));
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    (scheme, &rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn urls_are_redirected_keeping_the_rest() {
        let addr: SocketAddr = "127.0.0.1:6000".parse().unwrap();
        assert_eq!(
            url_through("postgres://u:p@db.example:5432/x?sslmode=disable", addr),
            "postgres://u:p@127.0.0.1:6000/x?sslmode=disable"
        );
        assert_eq!(
            url_through("postgres://127.0.0.1/x", addr),
            "postgres://127.0.0.1:6000/x"
        );
        assert_eq!(
            postgres_addr("postgres://postgres@127.0.0.1:5433/postgres"),
            "127.0.0.1:5433".parse().unwrap()
        );
        assert_eq!(
            postgres_addr("postgres://127.0.0.1/postgres"),
            "127.0.0.1:5432".parse().unwrap()
        );
    }

    /// An echo server behind the proxy: bytes pass, a cut drops the open
    /// connection and refuses new ones, a restore lets them in again.
    #[tokio::test]
    async fn cut_drops_and_refuses_until_restored() {
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = echo.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = echo.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        let proxy = Proxy::start(target).await;
        let roundtrip = |mut s: TcpStream| async move {
            s.write_all(b"ping").await?;
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).await?;
            assert_eq!(&buf, b"ping");
            Ok::<TcpStream, std::io::Error>(s)
        };
        let open = roundtrip(TcpStream::connect(proxy.addr()).await.unwrap())
            .await
            .unwrap();

        proxy.cut().await;
        assert!(roundtrip(open).await.is_err(), "open connection dropped");
        assert!(
            TcpStream::connect(proxy.addr()).await.is_err(),
            "new connections refused"
        );

        proxy.restore().await;
        roundtrip(TcpStream::connect(proxy.addr()).await.unwrap())
            .await
            .unwrap();
    }
}
