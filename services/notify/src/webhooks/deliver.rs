//! Posting deliveries: for each webhook on its own, its pending deliveries
//! strictly in order, one at a time, signed; a failure is retried with an
//! exponential backoff until the retries are over, and only holds up its
//! own webhook.

use std::collections::HashMap;
use std::time::Duration;

use hmac::{Hmac, Mac};
use reemploi_store::now_millis;
use sha2::Sha256;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::error::Result;
use crate::service::Notify;
use crate::webhooks::guard::{self, NotAllowed, Resolver};
use crate::webhooks::store::{self, Delivery, Hook, Outcome};

/// How deliveries are retried.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// The first retry's delay; each next one doubles, up to an hour.
    pub retry_base: Duration,
    /// How long a delivery is retried before it fails.
    pub give_up_after: Duration,
    /// How long a receiver gets to answer.
    pub timeout: Duration,
    /// Whether deliveries may go to loopback, private and other inside
    /// addresses (trials on one machine, tests); see `guard`.
    pub allow_private: bool,
}

impl Settings {
    /// Retries from `retry_base` for 24 hours, 10 s per attempt.
    pub fn new(retry_base: Duration) -> Settings {
        Settings {
            retry_base,
            give_up_after: Duration::from_secs(24 * 3600),
            timeout: Duration::from_secs(10),
            allow_private: false,
        }
    }

    /// The delay before the attempt after `attempts` failed ones.
    pub fn backoff(&self, attempts: i64) -> Duration {
        let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        self.retry_base
            .saturating_mul(2u32.saturating_pow(exp))
            .min(MAX_BACKOFF)
    }
}

/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// How often pending deliveries are looked for, beside the wake-ups.
const POLL: Duration = Duration::from_secs(1);

/// The signature header's value for `body` sent at `timestamp` (Unix
/// seconds): `v1=` and the hex HMAC-SHA256 of `{timestamp}.{body}` keyed
/// with the secret's text.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("v1={hex}")
}

impl Notify {
    /// Posts the deliveries of every webhook until `stop`: one task per
    /// webhook with deliveries due, woken when deliveries are made and
    /// every second for those of other replicas and the retries.
    pub async fn deliver_webhooks(self, settings: Settings, stop: CancellationToken) {
        let client = match reqwest::Client::builder()
            .timeout(settings.timeout)
            // A receiver does not send its deliveries elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            // Checked when connecting, not only when the webhook was made:
            // a name may resolve to an inside address later.
            .dns_resolver(std::sync::Arc::new(Resolver {
                allow_private: settings.allow_private,
            }))
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "no HTTP client: webhooks are not delivered");
                return;
            }
        };
        let mut workers: HashMap<Uuid, JoinHandle<()>> = HashMap::new();
        loop {
            workers.retain(|_, w| !w.is_finished());
            match self.hooks_due().await {
                Ok(hooks) => {
                    for hook in hooks {
                        if workers.contains_key(&hook.id) {
                            continue;
                        }
                        let id = hook.id;
                        let worker = Worker {
                            notify: self.clone(),
                            client: client.clone(),
                            settings,
                            hook,
                        };
                        workers.insert(id, tokio::spawn(worker.run()));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "webhook deliveries not read"),
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = self.hooks().woken() => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
        for (_, w) in workers {
            w.abort();
        }
    }

    async fn hooks_due(&self) -> Result<Vec<Hook>> {
        let mut conn = self.db().pool().acquire().await?;
        store::hooks_with_pending(&mut conn).await
    }
}

/// Posts one webhook's deliveries while they are due.
struct Worker {
    notify: Notify,
    client: reqwest::Client,
    settings: Settings,
    hook: Hook,
}

impl Worker {
    async fn run(self) {
        if let Err(e) = self.drain().await {
            tracing::warn!(webhook = %self.hook.id, error = %e, "webhook deliveries stopped");
        }
    }

    /// Posts the first pending delivery while one is due; stops at the
    /// first not due yet (the next poll comes back for it).
    async fn drain(&self) -> Result<()> {
        loop {
            let mut conn = self.notify.db().pool().acquire().await?;
            let Some(d) = store::head(&mut conn, self.hook.id).await? else {
                return Ok(());
            };
            let now = now_millis();
            if d.next_attempt_at > now {
                return Ok(());
            }
            // Held for longer than an attempt lasts: if this replica dies
            // meanwhile, another takes the delivery over after it.
            let lease = now + millis(self.settings.timeout) * 3;
            if !store::lease(&mut conn, d.id, d.next_attempt_at, lease).await? {
                return Ok(());
            }
            drop(conn);
            let outcome = match self.post(&d).await {
                Ok(()) => Outcome::Delivered(now_millis()),
                Err(error) => after_failure(&self.settings, &d, error, now_millis()),
            };
            if let Outcome::Retry { error, .. } | Outcome::Failed { error } = &outcome {
                tracing::info!(
                    webhook = %self.hook.id, delivery = %d.id, attempts = d.attempts + 1,
                    error = %error, failed = matches!(outcome, Outcome::Failed { .. }),
                    "webhook delivery failed"
                );
            }
            let mut conn = self.notify.db().pool().acquire().await?;
            store::record(&mut conn, d.id, &outcome).await?;
        }
    }

    /// Posts `d` once: `Ok` on a 2xx answer, else what went wrong, as a
    /// coarse category only: the integrator reads it, and details (an
    /// inside host's answer or name) would map the platform's network.
    async fn post(&self, d: &Delivery) -> std::result::Result<(), String> {
        // An IP literal is not resolved: checked here, in case the
        // webhook was made while private targets were allowed.
        if !self.settings.allow_private && literal_forbidden(&self.hook.url) {
            return Err(NOT_ALLOWED.to_owned());
        }
        let timestamp = now_millis().div_euclid(1000);
        let answer = self
            .client
            .post(&self.hook.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Reemploi-Event-Id", &d.event_id)
            .header("Reemploi-Event-Type", &d.event_type)
            .header("Reemploi-Timestamp", timestamp.to_string())
            .header(
                "Reemploi-Signature",
                signature(&self.hook.secret, timestamp, &d.body),
            )
            .body(d.body.clone())
            .send()
            .await;
        match answer {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("HTTP {}", r.status().as_u16())),
            Err(e) => Err(category(&e).to_owned()),
        }
    }
}

/// What an integrator is told of an attempt refused before connecting.
const NOT_ALLOWED: &str = "address not allowed";

/// Whether `url`'s host is an IP literal a webhook may not reach.
fn literal_forbidden(url: &str) -> bool {
    match url::Url::parse(url) {
        Ok(u) => match u.host() {
            Some(url::Host::Domain(_)) => false,
            Some(host) => guard::forbidden_host(&host),
            None => true,
        },
        Err(_) => true,
    }
}

/// The coarse category of a failed request.
fn category(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        return "timeout";
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut tls = false;
    while let Some(c) = cause {
        let io_inner = c
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref());
        if c.downcast_ref::<NotAllowed>().is_some()
            || io_inner.is_some_and(|i| i.downcast_ref::<NotAllowed>().is_some())
        {
            return NOT_ALLOWED;
        }
        // rustls' errors are not a dependency of this crate: told by name.
        let text = c.to_string().to_ascii_lowercase();
        tls |= ["certificate", "tls", "handshake", "alert"]
            .iter()
            .any(|w| text.contains(w));
        cause = c.source();
    }
    if tls {
        "TLS error"
    } else {
        "connection failed"
    }
}

/// What comes after a failed attempt of `d` at `now`: another attempt
/// after the backoff, the last one when the retries end, or failure.
fn after_failure(settings: &Settings, d: &Delivery, error: String, now: i64) -> Outcome {
    let end = d.retry_from + millis(settings.give_up_after);
    if now >= end {
        return Outcome::Failed { error };
    }
    let next = now + millis(settings.backoff(d.attempts + 1));
    // The last attempt comes when the retries end, not after.
    Outcome::Retry {
        error,
        next: next.min(end),
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let s = Settings::new(Duration::from_millis(1000));
        assert_eq!(s.backoff(1), Duration::from_secs(1));
        assert_eq!(s.backoff(2), Duration::from_secs(2));
        assert_eq!(s.backoff(5), Duration::from_secs(16));
        assert_eq!(s.backoff(13), Duration::from_secs(3600));
        assert_eq!(s.backoff(1000), Duration::from_secs(3600));
    }

    fn delivery(retry_from: i64, attempts: i64) -> Delivery {
        Delivery {
            seq: 1,
            id: Uuid::now_v7(),
            webhook_id: Uuid::now_v7(),
            event_id: "e".into(),
            event_type: "inventory.lot.published".into(),
            body: Vec::new(),
            state: store::State::Pending,
            attempts,
            last_error: None,
            created_at: retry_from,
            retry_from,
            next_attempt_at: retry_from,
            delivered_at: None,
        }
    }

    fn next_of(o: &Outcome) -> Option<i64> {
        match o {
            Outcome::Retry { next, .. } => Some(*next),
            Outcome::Delivered(_) | Outcome::Failed { .. } => None,
        }
    }

    #[test]
    fn a_failure_is_retried_within_its_window_then_fails() {
        let mut s = Settings::new(Duration::from_millis(20));
        s.give_up_after = Duration::from_millis(400);
        let d = delivery(1_000, 0);
        let first = after_failure(&s, &d, "HTTP 503".into(), 1_005);
        assert_eq!(next_of(&first), Some(1_025));
        // The backoff doubles, and the last attempt is at the window's end.
        let late = after_failure(&s, &delivery(1_000, 4), "HTTP 503".into(), 1_390);
        assert_eq!(next_of(&late), Some(1_400));
        let over = after_failure(&s, &delivery(1_000, 5), "HTTP 503".into(), 1_400);
        assert!(matches!(over, Outcome::Failed { ref error } if error == "HTTP 503"));
    }

    #[test]
    fn literal_inside_addresses_are_caught_before_connecting() {
        assert!(literal_forbidden("http://127.0.0.1:8080/in"));
        assert!(literal_forbidden("https://[::ffff:10.0.0.1]/"));
        assert!(!literal_forbidden("https://8.8.8.8/"));
        // Names are the resolver's to check.
        assert!(!literal_forbidden("https://hooks.example.org/"));
    }
}
