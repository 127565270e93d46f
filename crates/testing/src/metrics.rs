//! A process's metrics endpoint on port 0, scraped over plain HTTP as
//! Prometheus does, and the values read back from the exposition text.

use std::net::SocketAddr;

use reemploi_runtime::metrics::Metrics;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// Serves `metrics` at `/metrics` on a free loopback port until `stop`;
/// where it listens.
pub async fn serve(metrics: &Metrics, stop: CancellationToken) -> SocketAddr {
    let (listener, addr) = reemploi_runtime::metrics::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap_or_else(|e| panic!("bind a metrics port: {e}"));
    tokio::spawn(reemploi_runtime::metrics::serve(
        metrics.clone(),
        listener,
        stop,
    ));
    addr
}

/// `GET /metrics` at `addr`: the body, after checking the status and the
/// content type of the text exposition format.
pub async fn scrape(addr: SocketAddr) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect to the metrics endpoint {addr}: {e}"));
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: metrics\r\nConnection: close\r\n\r\n")
        .await
        .expect("send the scrape");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("read the scrape");
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP response: {response}"));
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    // Small bodies come whole; a chunked one is joined back.
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

/// The value of the sample of `name` whose labels include every one of
/// `labels` (`key="value"`), if the exposition has one.
pub fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = match series.split_once('{') {
                Some((metric, rest)) => (metric, rest),
                None => (series, ""),
            };
            // A label is matched whole: `service` is not `grpc_service`.
            let all = labels.iter().all(|(k, v)| {
                let pair = format!("{k}=\"{v}\"");
                rest.starts_with(&pair) || rest.contains(&format!(",{pair}"))
            });
            (metric == name && all).then(|| value.parse().ok())?
        })
}
