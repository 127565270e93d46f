//! Site pages already rendered for a session, kept until what they show
//! changes.
//!
//! The page of a site asks the API for the site and a page of its lots and
//! turns them into some hundred kilobytes of HTML; a site manager going
//! back and forth between a site and its lots asks for the same page again
//! and again. A page is kept for the access token whose API calls made it,
//! so the services' own checks decided what it shows, and is served again
//! only while all of these hold:
//!
//! - nothing of its site changed: each inventory event naming the site, as
//!   the bus delivers it, and each form posted through this web app (which
//!   may change anything) make the pages it concerns stale;
//! - the token works: not expired, and not revoked (the revocations are
//!   followed from the bus as the services follow them);
//! - the page is younger than [`MAX_AGE`]: a bound on what a stalled event
//!   stream could hide.
//!
//! A page is kept only if nothing made it stale while it was being made:
//! its stamp is read before the API calls and checked when it is kept.
//! Without a bus (a `reemploi-web` given no NATS URL), or once the stream
//! of events has stopped, nothing is kept and every page is rendered.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use reemploi_events::{Bus, BusError, Handler, HandlerError, Message};
use reemploi_proto::events::envelope::Payload;
use reemploi_runtime::auth::{Claims, unverified_claims, unverified_key_id};
use reemploi_runtime::revoked::DenyList;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

/// The longest a page is served again without being rendered.
pub const MAX_AGE: Duration = Duration::from_secs(30);
/// How many bytes of pages are kept, at most.
pub const CAPACITY_BYTES: usize = 64 * 1024 * 1024;

/// The inventory's events: every change to a site, its lots and claims.
const PRODUCER: &str = "inventory";
const SUBJECTS: &str = "reemploi.inventory.>";

/// The pages kept, while a bus is followed.
#[derive(Clone)]
pub struct PagesKept {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    revoked: DenyList,
    /// False once the event stream has stopped: nothing is served since.
    following: AtomicBool,
}

/// Which changes a page has seen: a page whose stamp is no longer its
/// site's current one is stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    epoch: u64,
    generation: u64,
}

/// A page is the one of a token (by its hash) at a path with its query.
type Key = ([u8; 32], String);

struct Page {
    site: String,
    stamp: Stamp,
    born: Instant,
    /// When the token that made it expires (seconds since the epoch).
    token_expires: i64,
    claims: Claims,
    key_id: Option<String>,
    body: Bytes,
}

#[derive(Default)]
struct State {
    /// Moves on with every form posted: every page is then stale.
    epoch: u64,
    /// Per site id, moves on with every event naming it.
    generations: HashMap<String, u64>,
    pages: HashMap<Key, Page>,
    /// Keys in the order they were kept, for the oldest to leave first.
    order: VecDeque<Key>,
    bytes: usize,
}

impl State {
    fn stamp(&self, site: &str) -> Stamp {
        Stamp {
            epoch: self.epoch,
            generation: self.generations.get(site).copied().unwrap_or(0),
        }
    }

    fn remove(&mut self, key: &Key) {
        if let Some(page) = self.pages.remove(key) {
            self.bytes -= page.body.len();
        }
    }

    /// Drops the oldest pages until `room` more bytes fit.
    fn make_room(&mut self, room: usize) {
        while self.bytes + room > CAPACITY_BYTES {
            let Some(key) = self.order.pop_front() else {
                return;
            };
            self.remove(&key);
        }
    }
}

impl std::fmt::Debug for PagesKept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PagesKept")
            .field("following", &self.shared.following.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

impl PagesKept {
    /// Pages kept while `bus` delivers the inventory's events and the
    /// revocations, until `stop`.
    pub async fn following(bus: &dyn Bus, stop: CancellationToken) -> Result<PagesKept, BusError> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            revoked: DenyList::default(),
            following: AtomicBool::new(true),
        });
        let revocations = shared.revoked.follow(bus, stop.clone()).await?;
        bus.ensure_stream(PRODUCER).await?;
        let changes = bus
            .follow(PRODUCER, SUBJECTS, Arc::new(Changes(shared.clone())), stop)
            .await?;
        let watched = shared.clone();
        tokio::spawn(async move {
            // Either stream ending (at shutdown, or lost) ends keeping pages.
            tokio::select! {
                _ = revocations => {}
                _ = changes => {}
            }
            watched.following.store(false, Ordering::SeqCst);
        });
        Ok(PagesKept { shared })
    }

    fn on(&self) -> Option<&Shared> {
        Some(&*self.shared).filter(|s| s.following.load(Ordering::SeqCst))
    }

    /// What `site`'s pages have seen now: read before the API calls that
    /// make a page, given back to [`PagesKept::keep`].
    pub fn stamp(&self, site: &str) -> Option<Stamp> {
        self.on().map(|s| s.lock().stamp(site))
    }

    /// The page of `site` kept for `token` at `path`, if it is still
    /// true, with its age in seconds.
    pub fn get(&self, token: &str, path: &str, site: &str, now_secs: i64) -> Option<(Bytes, u64)> {
        let shared = self.on()?;
        let key = key(token, path);
        let page = {
            let mut state = shared.lock();
            let current = state.stamp(site);
            let page = state.pages.get(&key)?;
            let fresh = page.site == site
                && page.stamp == current
                && page.born.elapsed() < MAX_AGE
                && page.token_expires > now_secs;
            if !fresh {
                state.remove(&key);
                return None;
            }
            let age = page.born.elapsed().as_secs();
            (
                page.body.clone(),
                age,
                page.claims.clone(),
                page.key_id.clone(),
            )
        };
        let (body, age, claims, key_id) = page;
        (!shared.revoked.refuses(&claims, key_id.as_deref())).then_some((body, age))
    }

    /// Keeps `body`, the page of `site` made for `token` at `path`, unless
    /// something changed since `stamp` was read.
    pub fn keep(
        &self,
        (token, token_expires): (&str, i64),
        path: &str,
        (site, stamp): (&str, Stamp),
        body: Bytes,
    ) {
        let Some(shared) = self.on() else {
            return;
        };
        // A token that cannot be read is never served from here.
        let Ok(claims) = unverified_claims(token) else {
            return;
        };
        if body.len() > CAPACITY_BYTES / 8 {
            return;
        }
        let key = key(token, path);
        let mut state = shared.lock();
        if state.stamp(site) != stamp {
            return;
        }
        state.remove(&key);
        state.make_room(body.len());
        state.bytes += body.len();
        state.order.push_back(key.clone());
        state.pages.insert(
            key,
            Page {
                site: site.to_owned(),
                stamp,
                born: Instant::now(),
                token_expires,
                claims,
                key_id: unverified_key_id(token),
                body,
            },
        );
        // The order may hold keys replaced or removed since: trim them
        // when they outnumber the pages.
        if state.order.len() > 2 * state.pages.len() + 64 {
            let State { order, pages, .. } = &mut *state;
            order.retain(|k| pages.contains_key(k));
        }
    }

    /// Every page is stale: a form was posted, which may change anything.
    pub fn forget_all(&self) {
        self.shared.forget_all();
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn forget_all(&self) {
        let mut state = self.lock();
        state.epoch += 1;
        state.pages.clear();
        state.order.clear();
        state.bytes = 0;
    }

    /// The pages of `site` are stale.
    fn site_changed(&self, site: &str) {
        let mut state = self.lock();
        *state.generations.entry(site.to_owned()).or_insert(0) += 1;
    }
}

fn key(token: &str, path: &str) -> Key {
    (Sha256::digest(token.as_bytes()).into(), path.to_owned())
}

/// The site id a resource name starts with (`sites/{site}/…`).
fn site_of(name: &str) -> Option<&str> {
    name.strip_prefix("sites/")?
        .split('/')
        .next()
        .filter(|s| !s.is_empty())
}

/// Follows the inventory's events into the sites' generations.
struct Changes(Arc<Shared>);

#[async_trait::async_trait]
impl Handler for Changes {
    async fn handle(&self, msg: &Message) -> Result<(), HandlerError> {
        let name = match reemploi_runtime::envelope::decode(msg) {
            Ok((_, Payload::Site(site))) => Some(site.name),
            Ok((_, Payload::Lot(lot))) => Some(lot.name),
            Ok((_, Payload::Claim(claim))) => Some(claim.name),
            Ok((_, Payload::PickupBooking(booking))) => Some(booking.name),
            Ok((
                _,
                Payload::Partner(_)
                | Payload::MatchProposal(_)
                | Payload::Revocation(_)
                | Payload::Need(_)
                | Payload::Account(_),
            ))
            | Err(_) => None,
        };
        match name.as_deref().and_then(site_of) {
            Some(site) => self.0.site_changed(site),
            // An event of the inventory whose site cannot be told: any
            // page may be stale.
            None => self.0.forget_all(),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use reemploi_events::InProcessBus;
    use reemploi_runtime::auth::Role;

    const LATER: i64 = i64::MAX;

    async fn kept() -> PagesKept {
        let bus = InProcessBus::temporary().await.unwrap();
        PagesKept::following(&bus, CancellationToken::new())
            .await
            .unwrap()
    }

    fn token(org: &str) -> String {
        reemploi_testing::grpc::token(Role::SiteManager, Some(org), None)
    }

    #[test]
    fn the_site_is_the_first_segment_after_sites() {
        assert_eq!(site_of("sites/abc/lots/x"), Some("abc"));
        assert_eq!(site_of("sites/abc"), Some("abc"));
        assert_eq!(site_of("sites/"), None);
        assert_eq!(site_of("partners/abc"), None);
    }

    #[tokio::test]
    async fn a_page_is_served_to_its_token_until_its_site_changes() {
        let pages = kept().await;
        let (mine, theirs) = (token("a"), token("b"));
        let stamp = pages.stamp("s1").unwrap();
        let page = Bytes::from_static(b"<p>s1</p>");
        pages.keep((&mine, LATER), "/chantiers/s1", ("s1", stamp), page.clone());
        let get = |t: &str| pages.get(t, "/chantiers/s1", "s1", 0).map(|(b, _)| b);
        assert_eq!(get(&mine), Some(page.clone()));
        assert_eq!(get(&theirs), None, "another token never gets it");
        assert_eq!(
            pages.get(&mine, "/chantiers/s1?statut=publies", "s1", 0),
            None
        );
        pages.shared.site_changed("s2");
        assert_eq!(get(&mine), Some(page), "another site changed");
        pages.shared.site_changed("s1");
        assert_eq!(get(&mine), None, "its site changed");
    }

    #[tokio::test]
    async fn a_page_made_while_its_site_changed_is_not_kept() {
        let pages = kept().await;
        let mine = token("a");
        let stamp = pages.stamp("s1").unwrap();
        // The event of a change arrives while the page is being made.
        pages.shared.site_changed("s1");
        let page = Bytes::from_static(b"<p>before</p>");
        pages.keep((&mine, LATER), "/chantiers/s1", ("s1", stamp), page);
        assert!(pages.get(&mine, "/chantiers/s1", "s1", 0).is_none());
        // A form posted meanwhile, likewise.
        let stamp = pages.stamp("s1").unwrap();
        pages.forget_all();
        let page = Bytes::from_static(b"<p>before</p>");
        pages.keep((&mine, LATER), "/chantiers/s1", ("s1", stamp), page);
        assert!(pages.get(&mine, "/chantiers/s1", "s1", 0).is_none());
    }

    #[tokio::test]
    async fn an_expired_token_and_a_stopped_stream_get_nothing() {
        let pages = kept().await;
        let mine = token("a");
        let stamp = pages.stamp("s1").unwrap();
        let page = Bytes::from_static(b"<p>s1</p>");
        pages.keep((&mine, 100), "/chantiers/s1", ("s1", stamp), page);
        assert!(pages.get(&mine, "/chantiers/s1", "s1", 99).is_some());
        assert!(pages.get(&mine, "/chantiers/s1", "s1", 100).is_none());
        let stamp = pages.stamp("s1").unwrap();
        let page = Bytes::from_static(b"<p>s1</p>");
        pages.keep((&mine, LATER), "/chantiers/s1", ("s1", stamp), page);
        pages.shared.following.store(false, Ordering::SeqCst);
        assert!(pages.get(&mine, "/chantiers/s1", "s1", 0).is_none());
        assert!(pages.stamp("s1").is_none());
    }

    #[tokio::test]
    async fn the_oldest_pages_leave_first_when_full() {
        let pages = kept().await;
        let mine = token("a");
        let size = CAPACITY_BYTES / 8;
        let path = |i: usize| format!("/chantiers/s1?apres={i}");
        for i in 0..9 {
            let stamp = pages.stamp("s1").unwrap();
            let page = Bytes::from(vec![b'x'; size]);
            pages.keep((&mine, LATER), &path(i), ("s1", stamp), page);
        }
        assert!(
            pages.get(&mine, &path(0), "s1", 0).is_none(),
            "the oldest left"
        );
        assert!((1..9).all(|i| pages.get(&mine, &path(i), "s1", 0).is_some()));
        assert!(pages.shared.lock().bytes <= CAPACITY_BYTES);
    }
}
