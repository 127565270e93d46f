//! The NATS JetStream bus of the distributed mode.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::AckKind;
use async_nats::jetstream::message::{PublishMessage, StreamMessage};
use async_nats::jetstream::stream::{self, StorageType};
use async_nats::jetstream::{self as js};
use async_nats::{HeaderMap, ServerAddr};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use tokio::task::JoinHandle;

use crate::tls::NatsTls;
use crate::{
    Bus, BusError, DEADLETTER_SERVICE, DeadLetter, Handler, HandlerError, Message, SUBJECT_ROOT,
    Subscription, run_handler,
};

/// Duplicate window of every stream: a message re-published with the same
/// event id within it (relay retry, several relays) is stored once.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
/// How long a publish waits for its PubAck.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the server waits for an ack before redelivering.
const ACK_WAIT: Duration = Duration::from_secs(30);
/// How long [`Bus::ensure_stream`] and [`Bus::subscribe`] retry while
/// JetStream does not answer (see [`patiently`]).
const START_PATIENCE: Duration = Duration::from_secs(30);
/// How long a scrape waits for a consumer's state.
const LAG_TIMEOUT: Duration = Duration::from_secs(1);
/// Idle heartbeat of the pull stream: a missing one reveals a lost server.
const HEARTBEAT: Duration = Duration::from_secs(5);
/// Pull request expiry (must exceed the heartbeat).
const PULL_EXPIRES: Duration = Duration::from_secs(15);
/// Set on a replayed dead letter: the original event id, which consumers
/// take as the event's identity (the message id is new, or the broker would
/// drop the replay as a duplicate).
const HEADER_EVENT_ID: &str = "Reemploi-Event-Id";
/// Headers added to dead letters.
const HEADER_ORIGINAL_SUBJECT: &str = "Reemploi-Original-Subject";
const HEADER_ORIGINAL_EVENT_ID: &str = "Reemploi-Original-Event-Id";
const HEADER_REASON: &str = "Reemploi-Dead-Letter-Reason";
const HEADER_DURABLE: &str = "Reemploi-Dead-Letter-Durable";
const HEADER_DEAD_AT: &str = "Reemploi-Dead-At";

/// Settings of a [`JetStreamBus`].
#[derive(Debug, Clone, Default)]
pub struct JetStreamOptions {
    /// Prefixes every subject (`<ns>.reemploi...`), stream name (`<NS>_REEMPLOI_...`)
    /// and durable name (`<ns>_<durable>`), invisibly to callers and handlers,
    /// so that many tests or environments share one NATS server.
    pub namespace: Option<String>,
    /// Replicas of the streams created here; 0 means 1.
    pub replicas: usize,
}

/// [`Bus`] on NATS JetStream.
///
/// Publishing awaits the PubAck, with `Nats-Msg-Id` = event id for dedup.
/// Subscriptions are durable pull consumers with explicit acks: ack after the
/// handler's `Ok`; a transient failure is nak'ed with a growing delay; once a
/// message has been delivered `max_deliver` times, or at once on a permanent
/// failure, it is published to `reemploi.deadletter.<durable>` (stream
/// `REEMPLOI_DEADLETTER`) and terminated. The consumer loop outlives broker
/// restarts: async-nats reconnects, and the loop re-opens its message stream
/// with backoff after any error; unacked messages are redelivered.
/// [`Bus::ensure_stream`] and [`Bus::subscribe`] retry for up to 30 s while
/// JetStream does not answer, so that a service starts while its cluster
/// fails over.
///
/// A follower ([`Bus::follow`]) is an ordered consumer: ephemeral, in-memory
/// on the server, without acks, which async-nats recreates after a gap or a
/// lost heartbeat. Should its message stream end or fail, the follower
/// creates another one itself, with the same backoff as a subscription,
/// starting after the last stream sequence it delivered.
#[derive(Clone)]
pub struct JetStreamBus {
    inner: Arc<Inner>,
}

struct Inner {
    client: async_nats::Client,
    js: js::Context,
    namespace: Option<String>,
    replicas: usize,
    /// What the durable subscriptions made here did, for metrics.
    consumers: crate::ConsumerRegistry,
}

// By hand: the server URL may carry credentials.
impl std::fmt::Debug for JetStreamBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamBus")
            .field("namespace", &self.inner.namespace)
            .field("replicas", &self.inner.replicas)
            .finish_non_exhaustive()
    }
}

impl JetStreamBus {
    /// Connects to NATS at `urls`: one server URL or several separated by
    /// commas (`nats://a:4222,nats://b:4222`), all of which the client uses
    /// (and async-nats then reconnects by itself forever). One attempt: an
    /// unreachable cluster is [`BusError::Unavailable`]; see
    /// [`JetStreamBus::connect_retrying`]. TLS only as the URL asks
    /// (`tls://`); see [`JetStreamBus::connect_with_tls`].
    pub async fn connect(urls: &str, opts: JetStreamOptions) -> Result<JetStreamBus, BusError> {
        Self::connect_with_tls(urls, opts, &NatsTls::default()).await
    }

    /// What [`JetStreamBus::connect_with_tls`] refuses before it tries a
    /// server, as [`BusError::Config`]: the namespace, each URL of `urls`
    /// (named by its place in the list, never shown: it may carry a
    /// password) and the TLS files. For a process to stop at start on a
    /// bad setting even when it reaches NATS later.
    pub fn check_settings(
        urls: &str,
        opts: &JetStreamOptions,
        tls: &NatsTls,
    ) -> Result<(), BusError> {
        if let Some(ns) = &opts.namespace {
            crate::validate_name("namespace", ns)?;
        }
        server_list(urls)?;
        tls.check()
    }

    /// [`JetStreamBus::connect`] with the TLS files of `tls`, checked
    /// first: a missing or unusable file is [`BusError::Config`].
    pub async fn connect_with_tls(
        urls: &str,
        opts: JetStreamOptions,
        tls: &NatsTls,
    ) -> Result<JetStreamBus, BusError> {
        Self::check_settings(urls, &opts, tls)?;
        let servers = server_list(urls)?;
        let options = async_nats::ConnectOptions::new()
            .name("reemploi")
            .connection_timeout(Duration::from_secs(5))
            .max_reconnects(None);
        let client = tls
            .apply(options)
            .connect(servers.as_slice())
            .await
            .map_err(|e| BusError::Unavailable(format!("cannot connect to NATS: {e}")))?;
        let js = js::ContextBuilder::new()
            .timeout(PUBLISH_TIMEOUT)
            .build(client.clone());
        Ok(JetStreamBus {
            inner: Arc::new(Inner {
                client,
                js,
                namespace: opts.namespace,
                replicas: opts.replicas.max(1),
                consumers: crate::ConsumerRegistry::default(),
            }),
        })
    }

    /// [`JetStreamBus::connect_with_tls`], waiting for as long as no listed
    /// server answers, with a log line per attempt: a service may start
    /// before its NATS cluster. Configuration errors, unusable TLS files
    /// included, fail at once.
    pub async fn connect_retrying(
        urls: &str,
        opts: JetStreamOptions,
        tls: &NatsTls,
    ) -> Result<JetStreamBus, BusError> {
        let servers: Vec<String> = server_list(urls)?
            .iter()
            .map(|s| format!("{}:{}", s.host(), s.port()))
            .collect();
        tls.check()?;
        let mut backoff = crate::RETRY_MIN;
        loop {
            match Self::connect_with_tls(urls, opts.clone(), tls).await {
                Ok(bus) => return Ok(bus),
                Err(BusError::Unavailable(reason)) => {
                    tracing::warn!(
                        servers = ?servers, %reason, retry_in = ?backoff,
                        "NATS is not reachable yet; waiting for it"
                    );
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
                Err(other) => return Err(other),
            }
        }
    }

    /// The JetStream context, for administration (e.g. deleting test streams).
    pub fn jetstream(&self) -> &js::Context {
        &self.inner.js
    }

    /// The NATS client.
    pub fn client(&self) -> &async_nats::Client {
        &self.inner.client
    }

    /// The stream name of a producing service, namespace included.
    pub fn stream_name(&self, service: &str) -> String {
        let base = format!("{SUBJECT_ROOT}_{service}")
            .to_uppercase()
            .replace('-', "_");
        match &self.inner.namespace {
            Some(ns) => format!("{}_{base}", ns.to_uppercase().replace('-', "_")),
            None => base,
        }
    }

    /// A subject or filter as seen on the wire (namespace prefixed).
    fn wire_subject(&self, subject: &str) -> String {
        match &self.inner.namespace {
            Some(ns) => format!("{ns}.{subject}"),
            None => subject.to_owned(),
        }
    }

    /// A wire subject as seen by handlers (namespace removed).
    fn local_subject<'a>(&self, wire: &'a str) -> &'a str {
        match &self.inner.namespace {
            Some(ns) => wire
                .strip_prefix(ns.as_str())
                .and_then(|rest| rest.strip_prefix('.'))
                .unwrap_or(wire),
            None => wire,
        }
    }

    fn durable_name(&self, durable: &str) -> String {
        match &self.inner.namespace {
            Some(ns) => format!("{ns}_{durable}"),
            None => durable.to_owned(),
        }
    }

    async fn get_or_create_stream(&self, service: &str) -> Result<stream::Stream, BusError> {
        crate::validate_name("service", service)?;
        let config = stream::Config {
            name: self.stream_name(service),
            subjects: vec![self.wire_subject(&format!("{SUBJECT_ROOT}.{service}.>"))],
            storage: StorageType::File,
            duplicate_window: DUPLICATE_WINDOW,
            num_replicas: self.inner.replicas,
            ..Default::default()
        };
        self.inner
            .js
            .get_or_create_stream(config)
            .await
            .map_err(|e| BusError::Unavailable(format!("cannot get or create stream: {e}")))
    }

    /// Publishes with `Nats-Msg-Id` and awaits the PubAck.
    async fn publish_wire(
        &self,
        subject: String,
        msg_id: &str,
        headers: HeaderMap,
        payload: bytes::Bytes,
    ) -> Result<(), BusError> {
        let publish = PublishMessage::build()
            .payload(payload)
            .headers(headers)
            .message_id(msg_id);
        let ack = self
            .inner
            .js
            .send_publish(subject, publish)
            .await
            .map_err(publish_error)?;
        ack.await.map_err(publish_error)?;
        Ok(())
    }

    async fn open_consumer(
        &self,
        sub: &Subscription,
    ) -> Result<js::consumer::Consumer<pull::Config>, BusError> {
        let stream = self.get_or_create_stream(&sub.stream_of).await?;
        let durable = self.durable_name(&sub.durable);
        let config = pull::Config {
            durable_name: Some(durable.clone()),
            filter_subject: self.wire_subject(&sub.filter),
            ack_policy: AckPolicy::Explicit,
            ack_wait: ACK_WAIT,
            // Unlimited on the server: the dead-lettering after max_deliver is
            // ours, so a crash during the last attempt cannot drop a message.
            max_deliver: -1,
            ..Default::default()
        };
        stream
            .get_or_create_consumer(&durable, config)
            .await
            .map_err(|e| BusError::Unavailable(format!("cannot get or create consumer: {e}")))
    }

    async fn process(
        &self,
        sub: &Subscription,
        handler: &Arc<dyn Handler>,
        failures: &mut HashMap<String, i64>,
        counters: &crate::ConsumerCounters,
        m: js::Message,
    ) {
        let (delivered, stream_seq) = match m.info() {
            Ok(info) => (info.delivered, info.stream_sequence),
            Err(_) => (1, 0),
        };
        counters.delivery(delivered > 1);
        let msg = self.message_of(&sub.stream_of, stream_seq, &m);
        let (delay, reason) = match run_handler(handler, &sub.durable, &msg).await {
            Ok(()) => {
                failures.remove(&msg.event_id);
                if let Err(e) = m.ack().await {
                    // Redelivered after ack_wait; the inbox absorbs the repeat.
                    tracing::warn!(durable = %sub.durable, error = %e, "ack failed");
                }
                return;
            }
            Err(HandlerError::Permanent(reason)) => (None, reason),
            // The consumer's storage is down: wait for it, uncounted. The
            // server's own delivery count keeps growing, so it is not used.
            Err(HandlerError::Unavailable(reason)) => {
                (Some(crate::redelivery_delay(delivered)), reason)
            }
            Err(HandlerError::Transient(reason)) => {
                let counted = failures.entry(msg.event_id.clone()).or_insert(0);
                *counted += 1;
                let counted = *counted;
                (
                    (counted < sub.max_deliver).then(|| crate::redelivery_delay(counted)),
                    reason,
                )
            }
        };
        if let Some(delay) = delay {
            tracing::warn!(
                durable = %sub.durable, event_id = %msg.event_id, delivered, reason = %reason,
                "handler failed; redelivery in {delay:?}"
            );
            if let Err(e) = m.ack_with(AckKind::Nak(Some(delay))).await {
                tracing::warn!(durable = %sub.durable, error = %e, "nak failed");
            }
            return;
        }
        failures.remove(&msg.event_id);
        tracing::error!(
            durable = %sub.durable, subject = %msg.subject, event_id = %msg.event_id,
            delivered, reason = %reason, "event dead-lettered"
        );
        match self
            .dead_letter(&sub.durable, stream_seq, &msg, &reason)
            .await
        {
            Ok(()) => {
                counters.dead_letter();
                if let Err(e) = m.ack_with(AckKind::Term).await {
                    tracing::warn!(durable = %sub.durable, error = %e, "term failed");
                }
            }
            Err(e) => {
                // Keep the message rather than lose it: try again later.
                tracing::warn!(durable = %sub.durable, error = %e, "dead-letter publish failed");
                let _ = m.ack_with(AckKind::Nak(Some(crate::RETRY_MAX))).await;
            }
        }
    }

    /// How many messages of its stream the durable `durable` has not
    /// acknowledged yet (pending delivery or awaiting an ack); `None` when
    /// JetStream does not tell within [`LAG_TIMEOUT`].
    async fn consumer_lag(&self, durable: &str, stream_of: &str) -> Option<u64> {
        let ask = self
            .inner
            .js
            .get_consumer_from_stream::<pull::Config, _, _>(
                self.durable_name(durable),
                self.stream_name(stream_of),
            );
        match tokio::time::timeout(LAG_TIMEOUT, ask).await {
            // Fetching the consumer reads its state: no second request.
            Ok(Ok(consumer)) => {
                let info = consumer.cached_info();
                let acking = u64::try_from(info.num_ack_pending).unwrap_or(0);
                Some(info.num_pending.saturating_add(acking))
            }
            Ok(Err(e)) => {
                tracing::debug!(durable, error = %e, "cannot read a consumer's lag");
                None
            }
            Err(_) => None,
        }
    }

    /// An ordered reader of `filter` in the stream of `stream_of`, handing
    /// each message after stream sequence `after` to `handler`.
    async fn follow_after(
        &self,
        stream_of: &str,
        filter: &str,
        handler: Arc<dyn Handler>,
        shutdown: CancellationToken,
        after: u64,
    ) -> Result<JoinHandle<()>, BusError> {
        let consumer = patiently("ordered consumer", || {
            self.open_follower(stream_of, filter, after)
        })
        .await?;
        let follower = Follower {
            bus: self.clone(),
            stream_of: stream_of.to_owned(),
            filter: filter.to_owned(),
            handler,
            shutdown: shutdown.clone(),
            consumer: Some(consumer),
            last: after,
        };
        Ok(tokio::spawn(read_consumer(follower, shutdown)))
    }

    /// The sequence of the last message the stream of `stream_of` holds.
    async fn last_sequence(&self, stream_of: &str) -> Result<u64, BusError> {
        let mut stream = self.get_or_create_stream(stream_of).await?;
        let info = stream
            .info()
            .await
            .map_err(|e| BusError::Unavailable(format!("cannot read the stream's state: {e}")))?;
        Ok(info.state.last_sequence)
    }

    /// An ordered consumer of `filter` on the stream of `stream_of`, from
    /// the first message, or from the one after stream sequence `after`.
    async fn open_follower(
        &self,
        stream_of: &str,
        filter: &str,
        after: u64,
    ) -> Result<js::consumer::Consumer<pull::OrderedConfig>, BusError> {
        let stream = self.get_or_create_stream(stream_of).await?;
        let config = pull::OrderedConfig {
            filter_subject: self.wire_subject(filter),
            deliver_policy: match after {
                0 => DeliverPolicy::All,
                _ => DeliverPolicy::ByStartSequence {
                    start_sequence: after.saturating_add(1),
                },
            },
            // Caps the pull expiry, and so the idle heartbeat (half of it),
            // as for subscriptions: a lost server shows within seconds.
            max_expires: PULL_EXPIRES,
            ..Default::default()
        };
        stream
            .create_consumer(config)
            .await
            .map_err(|e| BusError::Unavailable(format!("cannot create an ordered consumer: {e}")))
    }

    /// The message a handler sees of a delivery: its local subject, and as
    /// event id the original one of a replay, else the message id.
    fn message_of(&self, stream_of: &str, stream_seq: u64, m: &js::Message) -> Message {
        let header = |name: &str| {
            m.headers
                .as_ref()
                .and_then(|h| h.get(name))
                .map(|v| v.as_str().to_owned())
        };
        let event_id = header(HEADER_EVENT_ID)
            .or_else(|| header(async_nats::header::NATS_MESSAGE_ID.as_ref()))
            // A message from a foreign publisher: its stream position is a
            // stable identity across redeliveries.
            .unwrap_or_else(|| format!("{}-{stream_seq}", self.stream_name(stream_of)));
        Message {
            subject: self.local_subject(m.subject.as_str()).to_owned(),
            event_id,
            payload: m.payload.clone(),
            traceparent: header(crate::trace::TRACEPARENT),
        }
    }

    /// A dead letter as stored at `seq` of the dead-letter stream.
    fn dead_letter_of(&self, seq: u64, raw: StreamMessage) -> Result<DeadLetter, BusError> {
        let header = |name: &str| raw.headers.get(name).map(|v| v.as_str().to_owned());
        let durable = header(HEADER_DURABLE).unwrap_or_else(|| {
            // Written before the durable had a header of its own.
            let subject = self.local_subject(raw.subject.as_str());
            subject.rsplit('.').next().unwrap_or_default().to_owned()
        });
        Ok(DeadLetter {
            id: seq.to_string(),
            durable,
            message: Message {
                subject: header(HEADER_ORIGINAL_SUBJECT).ok_or_else(|| {
                    BusError::Rejected(format!("dead letter {seq} has no original subject"))
                })?,
                event_id: header(HEADER_ORIGINAL_EVENT_ID).unwrap_or_default(),
                payload: raw.payload,
                traceparent: header(crate::trace::TRACEPARENT),
            },
            reason: header(HEADER_REASON).unwrap_or_default(),
            dead_at_ms: header(HEADER_DEAD_AT)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        })
    }

    /// Publishes `msg`, delivered from position `stream_seq` of its
    /// stream, as a dead letter of `durable`.
    async fn dead_letter(
        &self,
        durable: &str,
        stream_seq: u64,
        msg: &Message,
        reason: &str,
    ) -> Result<(), BusError> {
        let mut headers = headers_of(msg);
        headers.insert(HEADER_ORIGINAL_SUBJECT, msg.subject.as_str());
        headers.insert(HEADER_ORIGINAL_EVENT_ID, msg.event_id.as_str());
        // Header values cannot hold line breaks.
        let reason: String = reason
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(512)
            .collect();
        headers.insert(HEADER_REASON, reason.as_str());
        headers.insert(HEADER_DURABLE, durable);
        headers.insert(
            HEADER_DEAD_AT,
            reemploi_store::now_millis().to_string().as_str(),
        );
        let subject = self.wire_subject(&crate::deadletter_subject(durable));
        // The dead-letter stream is shared by all durables and deduplicates
        // by message id: one id per (durable, stored message), so that a
        // retry after a lost Term is stored once. The stream position is
        // part of it because a replay is a new stored message with the same
        // event id: were the id (durable, event) alone, a replay that fails
        // again within the duplicate window would be dropped as a duplicate
        // of the first dead letter, then terminated: lost.
        let msg_id = format!("{durable}:{}:{stream_seq}", msg.event_id);
        self.publish_wire(subject, &msg_id, headers, msg.payload.clone())
            .await
    }
}

/// The headers a message travels with besides its id: its trace context.
fn headers_of(msg: &Message) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(traceparent) = &msg.traceparent {
        headers.insert(crate::trace::TRACEPARENT, traceparent.as_str());
    }
    headers
}

/// The sequence in the dead-letter stream a dead letter's id names.
fn dead_letter_seq(id: &str) -> Result<u64, BusError> {
    // Sequences start at 1.
    id.parse()
        .ok()
        .filter(|seq| *seq > 0)
        .ok_or_else(|| BusError::Rejected(format!("no dead letter `{id}`")))
}

#[async_trait::async_trait]
impl Bus for JetStreamBus {
    async fn publish(&self, msg: &Message) -> Result<(), BusError> {
        crate::validate_subject(&msg.subject)?;
        let subject = self.wire_subject(&msg.subject);
        let result = self
            .publish_wire(
                subject.clone(),
                &msg.event_id,
                headers_of(msg),
                msg.payload.clone(),
            )
            .await;
        match result {
            // No stream yet for a reemploi subject: create the producer's
            // stream and publish again, so that publishing never depends on
            // start-up order.
            Err(BusError::NoStream(reason)) => {
                let service = msg
                    .subject
                    .strip_prefix(SUBJECT_ROOT)
                    .and_then(|rest| rest.strip_prefix('.'))
                    .and_then(|rest| rest.split('.').next())
                    .ok_or(BusError::Rejected(reason))?;
                // Once: the relay retries by itself, and stays quick to stop.
                self.get_or_create_stream(service).await?;
                self.publish_wire(subject, &msg.event_id, headers_of(msg), msg.payload.clone())
                    .await
            }
            other => other,
        }
    }

    async fn publish_batch(&self, msgs: &[Message]) -> (usize, Option<BusError>) {
        // Send every message, then await the PubAcks in order: one round trip
        // per batch instead of one per message. Dedup by Nats-Msg-Id makes a
        // retry of an unacknowledged tail harmless.
        let mut acks = Vec::with_capacity(msgs.len());
        let mut stopped = None;
        for msg in msgs {
            if let Err(e) = crate::validate_subject(&msg.subject) {
                stopped = Some(e);
                break;
            }
            let publish = PublishMessage::build()
                .payload(msg.payload.clone())
                .headers(headers_of(msg))
                .message_id(&msg.event_id);
            match self
                .inner
                .js
                .send_publish(self.wire_subject(&msg.subject), publish)
                .await
            {
                Ok(ack) => acks.push(ack),
                Err(e) => {
                    stopped = Some(publish_error(e));
                    break;
                }
            }
        }
        let mut durable = 0;
        for ack in acks {
            match ack.await {
                Ok(_) => durable += 1,
                Err(e) => {
                    let e = publish_error(e);
                    // No stream yet: the one-by-one path creates it.
                    if matches!(&e, BusError::NoStream(_)) {
                        let rest = &msgs[durable..];
                        for (i, msg) in rest.iter().enumerate() {
                            if let Err(e) = self.publish(msg).await {
                                return (durable + i, Some(e));
                            }
                        }
                        return (msgs.len(), None);
                    }
                    return (durable, Some(e));
                }
            }
        }
        (durable, stopped)
    }

    async fn subscribe(
        &self,
        sub: Subscription,
        handler: Arc<dyn Handler>,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, BusError> {
        sub.validate()?;
        patiently("dead-letter stream", || {
            self.get_or_create_stream(DEADLETTER_SERVICE)
        })
        .await?;
        let consumer = patiently("consumer", || self.open_consumer(&sub)).await?;
        let subscriber = Subscriber {
            bus: self.clone(),
            counters: self.inner.consumers.counters(&sub),
            sub,
            handler,
            consumer: Some(consumer),
            failures: HashMap::new(),
        };
        Ok(tokio::spawn(read_consumer(subscriber, shutdown)))
    }

    async fn follow(
        &self,
        stream_of: &str,
        filter: &str,
        handler: Arc<dyn Handler>,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, BusError> {
        crate::validate_follow(stream_of, filter)?;
        self.follow_after(stream_of, filter, handler, shutdown, 0)
            .await
    }

    async fn follow_new(
        &self,
        stream_of: &str,
        filter: &str,
        handler: Arc<dyn Handler>,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, BusError> {
        crate::validate_follow(stream_of, filter)?;
        let last = patiently("stream", || self.last_sequence(stream_of)).await?;
        self.follow_after(stream_of, filter, handler, shutdown, last)
            .await
    }

    async fn consumer_stats(&self) -> Vec<crate::ConsumerStats> {
        let consumers = self.inner.consumers.all();
        let lags = consumers
            .iter()
            .map(|(durable, stream_of, _)| self.consumer_lag(durable, stream_of));
        let lags = futures::future::join_all(lags).await;
        consumers
            .iter()
            .zip(lags)
            .map(|((durable, _, counters), lag)| counters.stats(durable, lag))
            .collect()
    }

    async fn ensure_stream(&self, service: &str) -> Result<(), BusError> {
        patiently("stream", || self.get_or_create_stream(service))
            .await
            .map(|_| ())
    }

    async fn dead_letters(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, BusError> {
        let after = after.map(dead_letter_seq).transpose()?;
        let mut stream = self.get_or_create_stream(DEADLETTER_SERVICE).await?;
        let info = stream
            .info()
            .await
            .map_err(|e| BusError::Unavailable(format!("cannot read the dead letters: {e}")))?;
        let (first, last, count) = (
            info.state.first_sequence,
            info.state.last_sequence,
            info.state.messages,
        );
        let mut found = Vec::new();
        let mut seq = after.map_or(first, |a| first.max(a.saturating_add(1)));
        while seq <= last && found.len() < limit && count > 0 {
            match stream.get_raw_message(seq).await {
                Ok(raw) => found.push(self.dead_letter_of(seq, raw)?),
                // Replayed (deleted) sequences leave gaps.
                Err(e)
                    if matches!(
                        e.kind(),
                        stream::RawMessageErrorKind::NoMessageFound
                            | stream::RawMessageErrorKind::JetStream(_)
                    ) => {}
                Err(e) => {
                    return Err(BusError::Unavailable(format!(
                        "cannot read dead letter {seq}: {e}"
                    )));
                }
            }
            seq += 1;
        }
        Ok(found)
    }

    async fn replay(&self, id: &str) -> Result<(), BusError> {
        let seq = dead_letter_seq(id)?;
        let stream = self.get_or_create_stream(DEADLETTER_SERVICE).await?;
        let raw = stream
            .get_raw_message(seq)
            .await
            .map_err(|_| BusError::Rejected(format!("no dead letter `{id}`")))?;
        let dead = self.dead_letter_of(seq, raw)?;
        let mut headers = headers_of(&dead.message);
        headers.insert(HEADER_EVENT_ID, dead.message.event_id.as_str());
        // A new message id, or the duplicate window would swallow it.
        let msg_id = format!("replay:{seq}:{}", dead.message.event_id);
        self.publish_wire(
            self.wire_subject(&dead.message.subject),
            &msg_id,
            headers,
            dead.message.payload.clone(),
        )
        .await?;
        stream
            .delete_message(seq)
            .await
            .map_err(|e| BusError::Unavailable(format!("cannot remove dead letter {seq}: {e}")))?;
        Ok(())
    }
}

/// A task that reads a JetStream consumer, a durable subscription's
/// ([`Subscriber`]) or a follower's ([`Follower`]); [`read_consumer`] runs it.
trait ConsumerReader {
    /// What the consumer's message stream fails with.
    type Error: std::fmt::Display;
    /// The consumer's message stream.
    type Messages: futures::Stream<Item = Result<js::Message, Self::Error>> + Unpin;

    /// Opens the message stream: the first time of the consumer made at
    /// start, afterwards of a new one.
    async fn open(&mut self) -> Result<Self::Messages, BusError>;

    /// Hands `m` over, and says what to do next.
    async fn deliver(&mut self, m: js::Message) -> Next;

    /// Logs that the message stream could not be opened, tried again
    /// after `retry_in`.
    fn unavailable(&self, error: &BusError, retry_in: Duration);

    /// Logs that the message stream failed, before it is opened again.
    fn failed(&self, error: &Self::Error);
}

/// What a reader does after a delivery.
enum Next {
    /// Reads the next message.
    Read,
    /// Opens its message stream again after the shortest pause (a message
    /// just came, so the backoff is at its least): the one it has went
    /// back to messages handled already.
    Reopen,
    /// Stops: shutdown came first.
    Stop,
}

/// Runs `reader` until `shutdown`, opening its message stream again, with
/// backoff, whenever it ends or fails.
async fn read_consumer(mut reader: impl ConsumerReader, shutdown: CancellationToken) {
    let mut backoff = crate::RETRY_MIN;
    loop {
        if shutdown.is_cancelled() {
            return;
        }
        let mut messages = match reader.open().await {
            Ok(m) => m,
            Err(e) => {
                reader.unavailable(&e, backoff);
                if crate::sleep_or_shutdown(&shutdown, backoff).await {
                    return;
                }
                backoff = (backoff * 2).min(crate::RETRY_MAX);
                continue;
            }
        };
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => return,
                next = messages.next() => next,
            };
            match next {
                Some(Ok(m)) => {
                    backoff = crate::RETRY_MIN;
                    match reader.deliver(m).await {
                        Next::Read => {}
                        Next::Reopen => break,
                        Next::Stop => return,
                    }
                }
                Some(Err(e)) => {
                    // Re-open the stream on any error: after a broker
                    // restart this is what resumes delivery.
                    reader.failed(&e);
                    break;
                }
                None => break,
            }
        }
        if crate::sleep_or_shutdown(&shutdown, backoff).await {
            return;
        }
        backoff = (backoff * 2).min(crate::RETRY_MAX);
    }
}

/// The task of a durable subscription.
struct Subscriber {
    bus: JetStreamBus,
    sub: Subscription,
    handler: Arc<dyn Handler>,
    /// The consumer [`Bus::subscribe`] made, until it is first opened.
    consumer: Option<js::consumer::Consumer<pull::Config>>,
    /// Failures counted against max_deliver, per event, while it is retried.
    failures: HashMap<String, i64>,
    /// Its counts, for metrics.
    counters: Arc<crate::ConsumerCounters>,
}

impl ConsumerReader for Subscriber {
    type Error = pull::MessagesError;
    type Messages = pull::Stream;

    async fn open(&mut self) -> Result<pull::Stream, BusError> {
        let consumer = match self.consumer.take() {
            Some(c) => c,
            None => self.bus.open_consumer(&self.sub).await?,
        };
        consumer
            .stream()
            .heartbeat(HEARTBEAT)
            .expires(PULL_EXPIRES)
            .messages()
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))
    }

    async fn deliver(&mut self, m: js::Message) -> Next {
        self.bus
            .process(
                &self.sub,
                &self.handler,
                &mut self.failures,
                &self.counters,
                m,
            )
            .await;
        Next::Read
    }

    fn unavailable(&self, error: &BusError, _retry_in: Duration) {
        tracing::warn!(durable = %self.sub.durable, error = %error, "consumer unavailable; retrying");
    }

    fn failed(&self, error: &pull::MessagesError) {
        tracing::warn!(durable = %self.sub.durable, error = %error, "consumer stream error; re-opening");
    }
}

/// The task of a follower: hands each message to `handler` in stream order,
/// and opens an ordered consumer after the last one it handled whenever the
/// message stream ends or fails.
struct Follower {
    bus: JetStreamBus,
    stream_of: String,
    filter: String,
    handler: Arc<dyn Handler>,
    shutdown: CancellationToken,
    /// The consumer [`Bus::follow`] made, until it is first opened.
    consumer: Option<js::consumer::Consumer<pull::OrderedConfig>>,
    /// The last stream sequence handed to the handler: where a new
    /// consumer starts, and below which a delivery is a repeat.
    last: u64,
}

impl ConsumerReader for Follower {
    type Error = pull::OrderedError;
    type Messages = pull::Ordered;

    async fn open(&mut self) -> Result<pull::Ordered, BusError> {
        let consumer = match self.consumer.take() {
            Some(c) => c,
            None => {
                self.bus
                    .open_follower(&self.stream_of, &self.filter, self.last)
                    .await?
            }
        };
        consumer
            .messages()
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))
    }

    async fn deliver(&mut self, m: js::Message) -> Next {
        // The ordered consumer has checked the info already.
        let seq = m.info().map(|info| info.stream_sequence).unwrap_or(0);
        // async-nats recreates its consumer from the last sequence *it*
        // delivered, or from the stream's first message if it delivered
        // none since we opened it after `last`: rather than read the whole
        // stream again to pass over what was handled, a consumer is opened
        // after `last`.
        if seq != 0 && seq <= self.last {
            tracing::debug!(filter = %self.filter, seq, last = self.last, "follower went back; re-opening after the last message handled");
            return Next::Reopen;
        }
        let msg = self.bus.message_of(&self.stream_of, seq, &m);
        if !crate::follow_one(&self.handler, &msg, &self.filter, &self.shutdown).await {
            return Next::Stop;
        }
        self.last = self.last.max(seq);
        Next::Read
    }

    fn unavailable(&self, error: &BusError, retry_in: Duration) {
        tracing::warn!(filter = %self.filter, error = %error, retry_in = ?retry_in, "follower unavailable; retrying");
    }

    fn failed(&self, error: &pull::OrderedError) {
        tracing::warn!(filter = %self.filter, error = %error, "follower's stream failed; re-opening");
    }
}

/// Runs `attempt` again while JetStream does not answer, for up to
/// [`START_PATIENCE`]: what a service does at start (its streams, its
/// consumers) must outlast a cluster that is electing a leader, or creating
/// an R3 stream on a peer set that includes a node that just died, which
/// NATS takes several seconds to settle, often longer than one request's
/// timeout. Other errors are returned at once.
async fn patiently<T, F, Fut>(what: &str, mut attempt: F) -> Result<T, BusError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, BusError>>,
{
    let deadline = tokio::time::Instant::now() + START_PATIENCE;
    let mut backoff = crate::RETRY_MIN;
    loop {
        match attempt().await {
            Err(BusError::Unavailable(reason))
                if tokio::time::Instant::now() + backoff < deadline =>
            {
                tracing::warn!(%reason, retry_in = ?backoff, "JetStream {what}: no answer yet; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(crate::RETRY_MAX);
            }
            other => return other,
        }
    }
}

fn publish_error(e: js::context::PublishError) -> BusError {
    match e.kind() {
        PublishErrorKind::StreamNotFound => BusError::NoStream(e.to_string()),
        PublishErrorKind::WrongLastMessageId
        | PublishErrorKind::WrongLastSequence
        | PublishErrorKind::MaxPayloadExceeded => BusError::Rejected(e.to_string()),
        _ => BusError::Unavailable(e.to_string()),
    }
}

/// The servers of a comma-separated list of NATS URLs. The error names the
/// position of a bad entry, never its text: a URL may carry credentials.
fn server_list(urls: &str) -> Result<Vec<ServerAddr>, BusError> {
    let entries: Vec<&str> = urls
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .collect();
    if entries.is_empty() {
        return Err(BusError::Config("the NATS URL is empty".to_owned()));
    }
    entries
        .iter()
        .enumerate()
        .map(|(i, url)| {
            url.parse::<ServerAddr>().map_err(|e| {
                BusError::Config(format!(
                    "NATS server URL {} of {} is invalid: {e}",
                    i + 1,
                    entries.len()
                ))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_list_names_every_server() {
        let servers =
            server_list("nats://a:4222, nats://user:pw@b:4223,nats://c:4224").expect("valid");
        let hosts: Vec<(String, u16)> = servers
            .iter()
            .map(|s| (s.host().to_owned(), s.port()))
            .collect();
        assert_eq!(
            hosts,
            [
                ("a".to_owned(), 4222),
                ("b".to_owned(), 4223),
                ("c".to_owned(), 4224)
            ]
        );
        let err = server_list("nats://a:4222,nats://secret@b:port").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("2 of 2"), "{text}");
        assert!(!text.contains("secret"), "{text}");
        assert!(server_list(" , ").is_err());
    }
}
