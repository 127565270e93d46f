//! Tokens that no longer work although they have not expired: the deny list
//! every process keeps in memory from the identity service's revocation
//! events (`reemploi.identity.access.revoked`), which it follows from the
//! first on an ephemeral consumer, so every replica of every service holds
//! all of them and a process that starts again rebuilds the list.
//!
//! A revocation names what it covers: `accounts/{id}` (every token of a
//! disabled account), `apiTokens/{id}`, `sessions/{id}` (the access
//! tokens of one signed-in session, by their `sid` claim), or `keys/{kid}`
//! (every token a withdrawn signing key signed). Tokens issued at
//! or before its time are refused; it is forgotten once the last token it
//! covers has expired.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use reemploi_events::{Bus, BusError, Handler, HandlerError, Message};
use reemploi_proto::events::envelope::Payload;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::auth::Claims;

/// The producer of revocations.
pub const PRODUCER: &str = "identity";
/// The subject of every revocation.
pub const SUBJECT: &str = "reemploi.identity.access.revoked";

/// One revocation: tokens issued at or before `before_ms` are refused until
/// `until_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Revoked {
    before_ms: i64,
    until_secs: i64,
}

/// The revocations in force, shared by every clone.
#[derive(Debug, Clone, Default)]
pub struct DenyList {
    inner: Arc<RwLock<HashMap<String, Revoked>>>,
    /// Told of every revocation, so that what holds a token for long (a
    /// stream, see [`crate::lapse`]) checks it again at once.
    changed: Arc<tokio::sync::watch::Sender<()>>,
}

impl DenyList {
    /// Refuses the tokens of `subject` issued at or before `before_ms` (Unix
    /// milliseconds) until `until_secs` (Unix seconds). Of two revocations
    /// of one subject the later wins; those past their end are dropped.
    pub fn revoke(&self, subject: &str, before_ms: i64, until_secs: i64) {
        let now = crate::wire::now_secs();
        let mut map = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, r| r.until_secs >= now);
        if until_secs < now {
            return;
        }
        let entry = map.entry(subject.to_owned()).or_insert(Revoked {
            before_ms,
            until_secs,
        });
        entry.before_ms = entry.before_ms.max(before_ms);
        entry.until_secs = entry.until_secs.max(until_secs);
        drop(map);
        self.changed.send_replace(());
    }

    /// Sees every revocation made from now on.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<()> {
        self.changed.subscribe()
    }

    /// Whether a token with `claims`, signed with the key `kid`, is
    /// revoked: its subject, its session, or its signing key.
    pub fn refuses(&self, claims: &Claims, kid: Option<&str>) -> bool {
        // The millisecond claim only within the second `iat` states.
        let second = i64::try_from(claims.iat)
            .unwrap_or(i64::MAX)
            .saturating_mul(1000);
        let issued_ms = claims
            .iat_ms
            .and_then(|ms| i64::try_from(ms).ok())
            .filter(|ms| (second..second.saturating_add(1000)).contains(ms))
            .unwrap_or(second);
        let map = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        if map.is_empty() {
            return false;
        }
        let covers = |key: &str| map.get(key).is_some_and(|r| issued_ms <= r.before_ms);
        covers(&claims.sub)
            || claims
                .sid
                .as_deref()
                .is_some_and(|sid| covers(&format!("sessions/{sid}")))
            || kid.is_some_and(|kid| covers(&format!("keys/{kid}")))
    }

    /// How many revocations are held.
    pub fn len(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Follows the revocations on `bus` into this list until `stop`.
    pub async fn follow(
        &self,
        bus: &dyn Bus,
        stop: CancellationToken,
    ) -> Result<JoinHandle<()>, BusError> {
        bus.ensure_stream(PRODUCER).await?;
        bus.follow(PRODUCER, SUBJECT, Arc::new(self.clone()), stop)
            .await
    }
}

#[async_trait::async_trait]
impl Handler for DenyList {
    async fn handle(&self, msg: &Message) -> Result<(), HandlerError> {
        let (_, payload) = crate::envelope::decode(msg)?;
        let Payload::Revocation(r) = payload else {
            return Err(crate::envelope::unexpected(msg, &payload));
        };
        let before_ms = r
            .revoke_time
            .as_ref()
            .map(crate::wire::ts_millis)
            .ok_or_else(|| HandlerError::Permanent("a revocation without its time".to_owned()))?;
        let until_secs =
            r.expire_time.as_ref().map(|t| t.seconds).ok_or_else(|| {
                HandlerError::Permanent("a revocation without its end".to_owned())
            })?;
        self.revoke(&r.subject, before_ms, until_secs);
        tracing::info!(subject = %r.subject, "revocation applied");
        Ok(())
    }
}
