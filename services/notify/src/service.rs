//! The notification service's gRPC methods: an account's notifications
//! (listed, marked read, watched) and its email preferences.

use std::sync::Arc;
use std::time::Duration;

use reemploi_proto::notify as pb;
use reemploi_proto::notify::notification_service_server::NotificationService;
use reemploi_runtime::auth::{Principal, caller, principal};
use reemploi_runtime::error::ApiError;
use reemploi_runtime::lapse::{Answers, Credential};
use reemploi_runtime::names::parse;
use reemploi_runtime::paging::Pager;
use reemploi_runtime::service::answer;
use reemploi_runtime::validation::{Check, Violation};
use reemploi_store::{Db, now_millis};
use sqlx::AnyConnection;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::error::{NotifyError, Result};
use crate::model::{Audience, Draft, Kind, Mode};
use crate::repo;
use crate::unsubscribe::Unsubscriber;

type Reply<T> = std::result::Result<Response<T>, Status>;

/// The notification service: its database, its page tokens, the signer of
/// unsubscribe links, and the signal of new notifications.
#[derive(Clone)]
pub struct Notify {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    pager: Pager,
    unsubscriber: Unsubscriber,
    /// Bumped after every commit that made notifications.
    made: watch::Sender<u64>,
    /// The audiences with new notifications, named by the herald.
    heralds: broadcast::Sender<Arc<str>>,
    /// Cancelled at shutdown: WatchNotifications streams end.
    shutdown: CancellationToken,
    /// The live webhooks, and the signal of deliveries to post.
    hooks: crate::webhooks::Live,
    /// The last dead letter a sweep of this process stored a notification
    /// of: the next reads those after it.
    dead_letters_told: std::sync::Mutex<Option<String>>,
}

/// How often a watch asks the database even when the herald named
/// nobody (a safety net: the herald names other replicas' notifications
/// within a second).
const WATCH_POLL: Duration = Duration::from_secs(30);
/// The most notifications a watch sends in one go.
const WATCH_BATCH: usize = 200;

impl Notify {
    /// The service over a migrated database.
    pub fn new(
        db: Db,
        pager: Pager,
        unsubscriber: Unsubscriber,
        shutdown: CancellationToken,
    ) -> Notify {
        Notify {
            inner: Arc::new(Inner {
                db,
                pager,
                unsubscriber,
                made: watch::channel(0).0,
                heralds: broadcast::channel(crate::herald::CAPACITY).0,
                shutdown,
                hooks: crate::webhooks::Live::default(),
                dead_letters_told: std::sync::Mutex::new(None),
            }),
        }
    }

    /// The last dead letter told of by this process, if any.
    pub(crate) fn dead_letters_told(&self) -> Option<String> {
        self.inner
            .dead_letters_told
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Records that the dead letters up to `id` are told of.
    pub(crate) fn told_dead_letters_up_to(&self, id: String) {
        *self
            .inner
            .dead_letters_told
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(id);
    }

    /// Its database.
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// The live webhooks, and the signal of deliveries to post.
    pub fn hooks(&self) -> &crate::webhooks::Live {
        &self.inner.hooks
    }

    /// The signer of unsubscribe links.
    pub fn unsubscriber(&self) -> &Unsubscriber {
        &self.inner.unsubscriber
    }

    /// Tells the watchers (and the email fan-out) that notifications were made.
    pub fn wake(&self) {
        self.inner.made.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver woken after every commit that made notifications.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.made.subscribe()
    }

    /// Where the herald names the audiences with new notifications.
    pub fn heralds(&self) -> &broadcast::Sender<Arc<str>> {
        &self.inner.heralds
    }

    /// Stores `drafts` (each once) in the caller's transaction, which must
    /// have called [`repo::serialize`] first; how many were new.
    pub async fn store(&self, conn: &mut AnyConnection, drafts: &[Draft]) -> Result<usize> {
        let now = now_millis();
        let mut made = 0;
        for d in drafts {
            if repo::insert_notification(conn, d, now).await?.is_some() {
                made += 1;
            }
        }
        Ok(made)
    }

    /// ListNotifications for `p`.
    pub async fn list(
        &self,
        p: &Principal,
        req: &pb::ListNotificationsRequest,
    ) -> Result<pb::ListNotificationsResponse> {
        let audience = audience(p)?;
        let filters = format!("notifications|{}|{}", audience.key(), req.unread_only);
        let page = self
            .inner
            .pager
            .page(req.page_size, &req.page_token, &filters)?;
        let before = match page.after.as_deref() {
            None => None,
            Some(seq) => Some(
                seq.parse::<i64>()
                    .map_err(|_| Violation::new("page_token", "not a token of this listing"))?,
            ),
        };
        let mut conn = self.db().pool().acquire().await?;
        let key = audience.key();
        let mut rows = repo::page(
            &mut conn,
            &p.subject,
            &key,
            req.unread_only,
            before,
            page.size + 1,
        )
        .await?;
        let next_page_token = page.finish(&mut rows, |n| n.seq.to_string());
        Ok(pb::ListNotificationsResponse {
            notifications: rows.iter().map(|n| n.to_proto()).collect(),
            next_page_token,
            unread_count: repo::unread_count(&mut conn, &p.subject, &key).await?,
        })
    }

    /// MarkNotificationsRead for `p`: every name is checked before any mark.
    pub async fn mark_read(
        &self,
        p: &Principal,
        req: &pb::MarkNotificationsReadRequest,
    ) -> Result<pb::MarkNotificationsReadResponse> {
        let audience = audience(p)?.key();
        let mut c = Check::new("");
        if !req.all && req.names.is_empty() {
            c.fail("names", "name at least one notification, or set `all`");
        }
        if req.all && !req.names.is_empty() {
            c.fail("names", "leave empty when `all` is set");
        }
        if req.names.len() > 1000 {
            c.fail("names", "at most 1,000 at once");
        }
        let ids: Vec<Uuid> = req
            .names
            .iter()
            .enumerate()
            .filter_map(|(i, n)| {
                c.take(parse(
                    &format!("names[{i}]"),
                    n,
                    "notifications/{notification}",
                ))
                .map(|ids| ids[0])
            })
            .collect();
        c.finish()?;
        let now = now_millis();
        let mut tx = self.db().begin_write().await?;
        if req.all {
            let last = repo::last_seq(&mut tx, &audience).await?;
            repo::mark_all_read(&mut tx, &p.subject, last, now).await?;
        } else {
            let mut seqs = Vec::with_capacity(ids.len());
            for (id, name) in ids.iter().zip(&req.names) {
                let seq = repo::seq_of(&mut tx, &audience, *id)
                    .await?
                    .ok_or_else(|| ApiError::NotFound {
                        kind: "notification",
                        name: name.clone(),
                    })?;
                seqs.push(seq);
            }
            for seq in seqs {
                repo::mark_read(&mut tx, &p.subject, seq, now).await?;
            }
        }
        let unread_count = repo::unread_count(&mut tx, &p.subject, &audience).await?;
        tx.commit().await?;
        Ok(pb::MarkNotificationsReadResponse { unread_count })
    }

    /// The preferences of `p`'s account: one per kind of its role.
    pub async fn preferences(&self, p: &Principal) -> Result<pb::Preferences> {
        let (account, role) = account_of(p)?;
        let mut conn = self.db().pool().acquire().await?;
        let chosen = repo::preferences(&mut conn, account).await?;
        let preferences = Kind::of_role(role)
            .map(|k| {
                let mode = chosen
                    .iter()
                    .find(|(c, _)| *c == k)
                    .map_or(k.default_mode(), |(_, m)| *m);
                pb::Preference {
                    kind: k.to_proto() as i32,
                    mode: mode.to_proto() as i32,
                }
            })
            .collect();
        Ok(pb::Preferences {
            name: format!("accounts/{account}/preferences"),
            preferences,
        })
    }

    /// UpdatePreferences for `p`: kinds of its role, each with a mode.
    pub async fn update_preferences(
        &self,
        p: &Principal,
        req: &pb::UpdatePreferencesRequest,
    ) -> Result<pb::Preferences> {
        let (account, role) = account_of(p)?;
        let mut c = Check::new("");
        if req.preferences.is_empty() {
            c.fail("preferences", "give at least one kind and its mode");
        }
        let mut changes = Vec::new();
        for (i, pref) in req.preferences.iter().enumerate() {
            let kind = Kind::from_proto(pref.kind).filter(|k| k.role() == role);
            let mode = Mode::from_proto(pref.mode);
            if kind.is_none() {
                c.fail(
                    &format!("preferences[{i}].kind"),
                    "not a kind of notification this account receives",
                );
            }
            if mode.is_none() {
                c.fail(
                    &format!("preferences[{i}].mode"),
                    "OFF, IMMEDIATE or DIGEST",
                );
            }
            if let (Some(k), Some(m)) = (kind, mode) {
                changes.push((k, m));
            }
        }
        c.finish()?;
        let mut tx = self.db().begin_write().await?;
        for (k, m) in changes {
            repo::set_mode(&mut tx, account, k, m).await?;
        }
        tx.commit().await?;
        self.preferences(p).await
    }

    /// Unsubscribe: the token's kind off for the token's account.
    pub async fn unsubscribe(
        &self,
        req: &pb::UnsubscribeRequest,
    ) -> Result<pb::UnsubscribeResponse> {
        let (account, kind) =
            self.inner.unsubscriber.verify(&req.token).ok_or_else(|| {
                Violation::new("token", "not an unsubscribe link of this platform")
            })?;
        let mut tx = self.db().begin_write().await?;
        repo::set_mode(&mut tx, account, kind, Mode::Off).await?;
        tx.commit().await?;
        tracing::info!(account = %account, kind = kind.as_str(), "unsubscribed");
        Ok(pb::UnsubscribeResponse {
            kind: kind.to_proto() as i32,
        })
    }

    /// Sends `account` the unread notifications of `audience`, then every
    /// new one as it is made, until the stream or the server ends.
    async fn pump(
        &self,
        account: &str,
        audience: &str,
        tx: &mpsc::Sender<std::result::Result<pb::Notification, Status>>,
        heard: &mut crate::herald::Audiences,
        shutdown: &CancellationToken,
    ) -> Result<()> {
        let mut conn = self.db().pool().acquire().await?;
        // Numbers follow commits (see `repo::serialize`): whatever is made
        // after this read has a larger one.
        let start = repo::last_seq(&mut conn, audience).await?;
        let unread = repo::after(&mut conn, account, audience, 0, true, WATCH_BATCH).await?;
        drop(conn);
        for n in unread.iter().filter(|n| n.seq <= start) {
            if tx.send(Ok(n.to_proto())).await.is_err() {
                return Ok(());
            }
        }
        let mut last = start;
        loop {
            let mut conn = self.db().pool().acquire().await?;
            let batch = repo::after(&mut conn, account, audience, last, false, WATCH_BATCH).await?;
            drop(conn);
            let full = batch.len() == WATCH_BATCH;
            for n in batch {
                last = last.max(n.seq);
                if tx.send(Ok(n.to_proto())).await.is_err() {
                    return Ok(());
                }
            }
            if full {
                continue;
            }
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = tx.closed() => return Ok(()),
                more = crate::herald::named(heard, audience) => if !more { return Ok(()) },
                () = tokio::time::sleep(WATCH_POLL) => {}
            }
        }
    }
}

/// The audience of a caller, or why it has none.
fn audience(p: &Principal) -> Result<Audience> {
    Audience::of(p).ok_or_else(|| {
        ApiError::PermissionDenied(
            "integrators follow events through webhooks; they have no notifications".into(),
        )
        .into()
    })
}

/// The account of a caller signed in as one, with its role.
fn account_of(p: &Principal) -> Result<(Uuid, reemploi_runtime::auth::Role)> {
    let id = p
        .subject
        .strip_prefix("accounts/")
        .and_then(|id| Uuid::try_parse(id).ok())
        .ok_or_else(|| {
            ApiError::precondition(
                "NOT_AN_ACCOUNT",
                "email preferences belong to accounts; this token is not one",
            )
        })?;
    Ok((id, p.role))
}

type WatchStream = Answers<pb::Notification>;

#[tonic::async_trait]
impl NotificationService for Notify {
    async fn list_notifications(
        &self,
        request: Request<pb::ListNotificationsRequest>,
    ) -> Reply<pb::ListNotificationsResponse> {
        let (p, req) = caller(request)?;
        answer::<_, NotifyError>(self.list(&p, &req)).await
    }

    async fn mark_notifications_read(
        &self,
        request: Request<pb::MarkNotificationsReadRequest>,
    ) -> Reply<pb::MarkNotificationsReadResponse> {
        let (p, req) = caller(request)?;
        answer::<_, NotifyError>(self.mark_read(&p, &req)).await
    }

    type WatchNotificationsStream = WatchStream;

    async fn watch_notifications(
        &self,
        request: Request<pb::WatchNotificationsRequest>,
    ) -> Reply<WatchStream> {
        let p = principal(&request)?;
        let audience = audience(&p).map_err(Status::from)?.key();
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let notify = self.clone();
        // Listening before the first read: nothing made after it is missed.
        let mut woken = self.heralds().subscribe();
        let shutdown = self.inner.shutdown.clone();
        tokio::spawn(async move {
            if let Err(e) = notify
                .pump(&p.subject, &audience, &tx, &mut woken, &shutdown)
                .await
            {
                let _ = tx.send(Err(Status::from(e))).await;
            }
        });
        // The stream ends, refused, once the token it was opened with lapses.
        let answers = Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx));
        Ok(Response::new(Credential::of(&request).guard(answers)))
    }

    async fn get_preferences(
        &self,
        request: Request<pb::GetPreferencesRequest>,
    ) -> Reply<pb::Preferences> {
        let (p, _) = caller(request)?;
        answer::<_, NotifyError>(self.preferences(&p)).await
    }

    async fn update_preferences(
        &self,
        request: Request<pb::UpdatePreferencesRequest>,
    ) -> Reply<pb::Preferences> {
        let (p, req) = caller(request)?;
        answer::<_, NotifyError>(self.update_preferences(&p, &req)).await
    }

    async fn unsubscribe(
        &self,
        request: Request<pb::UnsubscribeRequest>,
    ) -> Reply<pb::UnsubscribeResponse> {
        let req = request.into_inner();
        answer::<_, NotifyError>(self.unsubscribe(&req)).await
    }
}
