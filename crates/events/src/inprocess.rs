//! The in-process bus of the embedded mode: publishing calls the matching
//! subscribers' handlers directly, so the outbox relay marks an event sent only
//! once every local subscriber committed it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio_util::sync::CancellationToken;

use crate::{Bus, BusError, Handler, HandlerError, Message, Subscription, run_handler};

struct LocalSub {
    sub: Subscription,
    handler: Arc<dyn Handler>,
    shutdown: CancellationToken,
}

#[derive(Default)]
struct Inner {
    subs: Mutex<Vec<Arc<LocalSub>>>,
    /// Failed deliveries per (durable, event_id), for max_deliver.
    attempts: Mutex<HashMap<(String, String), i64>>,
    dead: Mutex<Vec<(String, Message)>>,
}

/// In-process implementation of [`Bus`] (embedded mode).
///
/// [`Bus::publish`] calls, in subscription order, the handler of every live
/// subscription whose filter matches, and fails if one failed (the relay
/// retries; the subscribers' inboxes make repeats harmless). Failures are
/// counted per (durable, event_id): past `max_deliver`, or at once for a
/// permanent failure, the message is logged, kept in [`InProcessBus::dead_letters`]
/// and treated as done for that subscriber.
///
/// Nothing is stored here: subscribe before starting the relay, or events
/// published meanwhile reach no one.
#[derive(Clone, Default)]
pub struct InProcessBus {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for InProcessBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let subs = self
            .inner
            .subs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("InProcessBus")
            .field("subscriptions", &subs)
            .finish()
    }
}

impl InProcessBus {
    /// An empty bus.
    pub fn new() -> Self {
        Self::default()
    }

    /// Messages given up on, with the durable that gave up.
    pub fn dead_letters(&self) -> Vec<(String, Message)> {
        self.inner
            .dead
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn matching(&self, subject: &str) -> Vec<Arc<LocalSub>> {
        let mut subs = self
            .inner
            .subs
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Forget subscriptions whose owner shut down.
        subs.retain(|s| !s.shutdown.is_cancelled());
        subs.iter()
            .filter(|s| crate::subject_matches(&s.sub.filter, subject))
            .cloned()
            .collect()
    }

    fn dead_letter(&self, durable: &str, msg: &Message, reason: &str) {
        tracing::error!(
            durable,
            subject = %msg.subject,
            event_id = %msg.event_id,
            reason,
            "event dead-lettered"
        );
        self.inner
            .dead
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((durable.to_owned(), msg.clone()));
    }

    /// Records a transient failure; true when the message has now been tried
    /// `max_deliver` times.
    fn count_failure(&self, durable: &str, event_id: &str, max_deliver: i64) -> bool {
        let mut attempts = self
            .inner
            .attempts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let key = (durable.to_owned(), event_id.to_owned());
        let n = attempts.entry(key.clone()).or_insert(0);
        *n += 1;
        if *n >= max_deliver {
            attempts.remove(&key);
            true
        } else {
            false
        }
    }

    fn forget_failures(&self, durable: &str, event_id: &str) {
        let mut attempts = self
            .inner
            .attempts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !attempts.is_empty() {
            attempts.remove(&(durable.to_owned(), event_id.to_owned()));
        }
    }
}

#[async_trait::async_trait]
impl Bus for InProcessBus {
    async fn publish(&self, msg: &Message) -> Result<(), BusError> {
        crate::validate_subject(&msg.subject)?;
        let mut failures = Vec::new();
        for sub in self.matching(&msg.subject) {
            let durable = &sub.sub.durable;
            match run_handler(&sub.handler, msg).await {
                Ok(()) => self.forget_failures(durable, &msg.event_id),
                Err(HandlerError::Permanent(reason)) => {
                    self.forget_failures(durable, &msg.event_id);
                    self.dead_letter(durable, msg, &reason);
                }
                Err(HandlerError::Transient(reason)) => {
                    if self.count_failure(durable, &msg.event_id, sub.sub.max_deliver) {
                        self.dead_letter(durable, msg, &reason);
                    } else {
                        tracing::warn!(
                            durable = %durable,
                            event_id = %msg.event_id,
                            reason = %reason,
                            "in-process delivery failed; will be retried"
                        );
                        failures.push(format!("{durable}: {reason}"));
                    }
                }
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(BusError::Handler(failures.join("; ")))
        }
    }

    async fn subscribe(
        &self,
        sub: Subscription,
        handler: Arc<dyn Handler>,
        shutdown: CancellationToken,
    ) -> Result<(), BusError> {
        sub.validate()?;
        self.inner
            .subs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::new(LocalSub {
                sub,
                handler,
                shutdown,
            }));
        Ok(())
    }

    async fn ensure_stream(&self, service: &str) -> Result<(), BusError> {
        crate::validate_name("service", service)
    }
}
