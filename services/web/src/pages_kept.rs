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
//!   the bus delivers it, makes the site's pages stale;
//! - the session posted no form since the page was made: the web app
//!   cannot tell what a form changed, and the event of that change may
//!   reach this replica after the page the form redirects to is asked for
//!   (the time of the last form is in a cookie of the session's browser, so
//!   every replica knows it);
//! - the token works: not expired, and not revoked (the revocations are
//!   followed from the bus as the services follow them);
//! - the page is younger than [`MAX_AGE`]: a bound on what a stalled event
//!   stream could hide.
//!
//! A page is kept only if nothing made it stale while it was being made:
//! its stamp is read before the API calls and checked when it is kept.
//! The streams are read from the moment the web app starts (what happened
//! before concerns no page it keeps). Without a bus (a `reemploi-web` given
//! no NATS URL), or once a stream has ended, nothing is kept and every page
//! is rendered.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use reemploi_events::{Bus, BusError, Handler, HandlerError, Message};
use reemploi_proto::events::envelope::Payload;
use reemploi_runtime::auth::{Claims, unverified_claims, unverified_key_id};
use reemploi_runtime::revoked::{self, DenyList};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

/// The longest a page is served again without being rendered.
pub const MAX_AGE: Duration = Duration::from_secs(30);
/// How many bytes of pages are kept, at most.
pub const CAPACITY_BYTES: usize = 64 * 1024 * 1024;
/// The cookie holding when the session last posted a form (milliseconds
/// since the epoch). Not secret: a person who changes it only changes
/// which of their own pages are rendered again.
pub const WRITTEN_COOKIE: &str = "reemploi_ecrit";
/// How long the cookie lives: past [`MAX_AGE`], every page it could refuse
/// has expired anyway.
pub const WRITTEN_COOKIE_SECS: i64 = 60;
/// The clocks of two replicas may differ by this much: a page made this
/// close after a form is not served again either.
const CLOCK_SKEW_MS: i64 = 1_000;

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
    /// False once a stream has stopped: nothing is served since.
    following: AtomicBool,
}

/// Which changes a page has seen, and when they were read: a page whose
/// stamp is no longer its site's current one is stale.
#[derive(Debug, Clone, Copy)]
pub struct Stamp {
    epoch: u64,
    generation: u64,
    /// When it was read (milliseconds since the epoch): the page shows
    /// nothing older.
    read_ms: i64,
    /// The same moment on this process's clock, which the page's age
    /// counts from.
    read_at: Instant,
}

impl Stamp {
    fn same(&self, other: &Stamp) -> bool {
        (self.epoch, self.generation) == (other.epoch, other.generation)
    }
}

/// A page is the one of a token (by its hash) at a path with its query.
type Key = ([u8; 32], String);

struct Page {
    site: String,
    stamp: Stamp,
    born: Instant,
    /// Which keeping of its key this is, to tell it from an older one in
    /// the order of arrival.
    number: u64,
    /// When the token that made it expires (seconds since the epoch).
    token_expires: i64,
    claims: Claims,
    key_id: Option<String>,
    body: Bytes,
}

#[derive(Default)]
struct State {
    /// Moves on when every page is stale at once.
    epoch: u64,
    /// Per site id, moves on with every event naming it.
    generations: HashMap<String, u64>,
    pages: HashMap<Key, Page>,
    /// Keys with their number in the order they were kept, for the oldest
    /// to leave first.
    order: VecDeque<(u64, Key)>,
    bytes: usize,
    kept: u64,
}

impl State {
    fn stamp(&self, site: &str, read_ms: i64) -> Stamp {
        Stamp {
            epoch: self.epoch,
            generation: self.generations.get(site).copied().unwrap_or(0),
            read_ms,
            read_at: Instant::now(),
        }
    }

    fn remove(&mut self, key: &Key) -> Option<Page> {
        let page = self.pages.remove(key)?;
        self.bytes -= page.body.len();
        Some(page)
    }

    /// Drops the oldest pages until `room` more bytes fit, and the pages
    /// too old to be served at the front of the order in any case.
    fn make_room(&mut self, room: usize) {
        while let Some((number, key)) = self.order.front() {
            let current = self.pages.get(key).filter(|p| p.number == *number);
            let full = self.bytes + room > CAPACITY_BYTES;
            match current {
                Some(page) if !full && page.born.elapsed() < MAX_AGE => return,
                Some(_) => {
                    let key = key.clone();
                    self.remove(&key);
                }
                // Replaced or removed since: only its place in the order is left.
                None => {}
            }
            self.order.pop_front();
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
    /// revocations, from now until `stop`.
    pub async fn following(bus: &dyn Bus, stop: CancellationToken) -> Result<PagesKept, BusError> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            revoked: DenyList::default(),
            following: AtomicBool::new(true),
        });
        // Both readers end together, should either fail to start or stop.
        let readers = stop.child_token();
        let revocations = bus
            .follow_new(
                revoked::PRODUCER,
                revoked::SUBJECT,
                Arc::new(shared.revoked.clone()),
                readers.clone(),
            )
            .await?;
        let changes = bus
            .follow_new(
                PRODUCER,
                SUBJECTS,
                Arc::new(Changes(shared.clone())),
                readers.clone(),
            )
            .await
            .inspect_err(|_| readers.cancel())?;
        let watched = shared.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = revocations => {}
                _ = changes => {}
            }
            readers.cancel();
            watched.following.store(false, Ordering::SeqCst);
            watched.forget_all();
        });
        Ok(PagesKept { shared })
    }

    fn on(&self) -> Option<&Shared> {
        Some(&*self.shared).filter(|s| s.following.load(Ordering::SeqCst))
    }

    /// What `site`'s pages have seen at `now_ms`: read before the API calls
    /// that make a page, given back to [`PagesKept::keep`].
    pub fn stamp(&self, site: &str, now_ms: i64) -> Option<Stamp> {
        self.on().map(|s| s.lock().stamp(site, now_ms))
    }

    /// The page of `site` kept for `token` at `path`, if it is still
    /// true at `now_secs` for a session that last posted a form at
    /// `written_ms`, with its age in seconds.
    pub fn get(
        &self,
        (token, written_ms): (&str, Option<i64>),
        path: &str,
        site: &str,
        now_secs: i64,
    ) -> Option<(Bytes, u64)> {
        let shared = self.on()?;
        let key = key(token, path);
        let (body, age, claims, key_id) = {
            let mut state = shared.lock();
            let current = state.stamp(site, 0);
            let page = state.pages.get(&key)?;
            let after_forms =
                written_ms.is_none_or(|w| page.stamp.read_ms > w.saturating_add(CLOCK_SKEW_MS));
            let fresh = page.site == site
                && page.stamp.same(&current)
                && page.born.elapsed() < MAX_AGE
                && page.token_expires > now_secs;
            if !fresh || !after_forms {
                // Never to be served: the session's forms only move on.
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
        if !state.stamp(site, 0).same(&stamp) {
            return;
        }
        state.remove(&key);
        state.make_room(body.len());
        state.bytes += body.len();
        state.kept += 1;
        let number = state.kept;
        state.order.push_back((number, key.clone()));
        state.pages.insert(
            key,
            Page {
                site: site.to_owned(),
                stamp,
                born: stamp.read_at,
                number,
                token_expires,
                claims,
                key_id: unverified_key_id(token),
                body,
            },
        );
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every page is stale.
    fn forget_all(&self) {
        let dropped = {
            let mut state = self.lock();
            let epoch = state.epoch + 1;
            let kept = state.kept;
            std::mem::replace(
                &mut *state,
                State {
                    epoch,
                    kept,
                    ..State::default()
                },
            )
        };
        // The pages are freed once the lock is let go.
        drop(dropped);
    }

    /// The pages of `site` are stale.
    fn site_changed(&self, site: &str) {
        let mut state = self.lock();
        *state.generations.entry(site.to_owned()).or_insert(0) += 1;
    }
}

/// Now, in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
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

/// The site an inventory event is about, from its resource's name.
fn site_named(msg: &Message) -> Option<String> {
    let name = match reemploi_runtime::envelope::decode(msg) {
        Ok((_, Payload::Site(site))) => site.name,
        Ok((_, Payload::Lot(lot))) => lot.name,
        Ok((_, Payload::Claim(claim))) => claim.name,
        Ok((_, Payload::PickupBooking(booking))) => booking.name,
        Ok((
            _,
            Payload::Partner(_)
            | Payload::MatchProposal(_)
            | Payload::Revocation(_)
            | Payload::Need(_)
            | Payload::Account(_),
        ))
        | Err(_) => return None,
    };
    site_of(&name).map(str::to_owned)
}

/// Follows the inventory's events into the sites' generations.
struct Changes(Arc<Shared>);

#[async_trait::async_trait]
impl Handler for Changes {
    async fn handle(&self, msg: &Message) -> Result<(), HandlerError> {
        match site_named(msg) {
            Some(site) => self.0.site_changed(&site),
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
    use prost::Message as _;
    use reemploi_events::InProcessBus;
    use reemploi_proto::events::Envelope;
    use reemploi_proto::inventory as ipb;
    use reemploi_runtime::auth::Role;

    const LATER: i64 = i64::MAX;
    const PATH: &str = "/chantiers/s1";

    async fn kept(stop: CancellationToken) -> PagesKept {
        let bus = InProcessBus::temporary().await.unwrap();
        PagesKept::following(&bus, stop).await.unwrap()
    }

    fn token(org: &str) -> String {
        reemploi_testing::grpc::token(Role::SiteManager, Some(org), None)
    }

    /// Keeps `body` for `token` at [`PATH`], with a stamp read at `read_ms`.
    fn keep(pages: &PagesKept, token: &str, read_ms: i64, body: &'static [u8]) {
        let stamp = pages.stamp("s1", read_ms).unwrap();
        let page = Bytes::from_static(body);
        pages.keep((token, LATER), PATH, ("s1", stamp), page);
    }

    fn held(pages: &PagesKept) -> usize {
        pages.shared.lock().pages.len()
    }

    #[test]
    fn the_site_is_the_first_segment_after_sites() {
        assert_eq!(site_of("sites/abc/lots/x"), Some("abc"));
        assert_eq!(site_of("sites/abc"), Some("abc"));
        assert_eq!(site_of("sites/"), None);
        assert_eq!(site_of("partners/abc"), None);
    }

    #[test]
    fn an_event_names_the_site_of_its_resource() {
        let message = |payload: Payload| Message {
            subject: "reemploi.inventory.x.y".into(),
            event_id: "e".into(),
            payload: Envelope {
                payload: Some(payload),
                ..Default::default()
            }
            .encode_to_vec()
            .into(),
            traceparent: None,
        };
        let named = |payload| site_named(&message(payload));
        let site = ipb::Site {
            name: "sites/s1".into(),
            ..Default::default()
        };
        let lot = ipb::Lot {
            name: "sites/s2/lots/l".into(),
            ..Default::default()
        };
        let claim = ipb::Claim {
            name: "sites/s3/lots/l/claims/c".into(),
            partner: "partners/p".into(),
            ..Default::default()
        };
        let booking = ipb::PickupBooking {
            name: "sites/s4/pickupSlots/t/bookings/b".into(),
            claim: "sites/s9/lots/l/claims/c".into(),
            partner: "partners/p".into(),
            ..Default::default()
        };
        assert_eq!(named(Payload::Site(site)).as_deref(), Some("s1"));
        assert_eq!(named(Payload::Lot(lot)).as_deref(), Some("s2"));
        assert_eq!(named(Payload::Claim(claim)).as_deref(), Some("s3"));
        assert_eq!(
            named(Payload::PickupBooking(booking)).as_deref(),
            Some("s4")
        );
        let partner = reemploi_proto::registry::Partner::default();
        assert_eq!(named(Payload::Partner(partner)), None);
    }

    #[tokio::test]
    async fn a_page_is_served_to_its_token_until_its_site_changes() {
        let pages = kept(CancellationToken::new()).await;
        let (mine, theirs) = (token("a"), token("b"));
        keep(&pages, &mine, 0, b"<p>s1</p>");
        let get = |t: &str| pages.get((t, None), PATH, "s1", 0).map(|(b, _)| b);
        assert_eq!(get(&mine), Some(Bytes::from_static(b"<p>s1</p>")));
        assert_eq!(get(&theirs), None, "another token never gets it");
        let other_path = pages.get((&mine, None), "/chantiers/s1?statut=publies", "s1", 0);
        assert_eq!(other_path, None);
        pages.shared.site_changed("s2");
        assert!(get(&mine).is_some(), "another site changed");
        pages.shared.site_changed("s1");
        assert_eq!(get(&mine), None, "its site changed");
        assert_eq!(held(&pages), 0, "a stale page is let go");
    }

    #[tokio::test]
    async fn a_page_made_while_its_site_changed_is_not_kept() {
        let pages = kept(CancellationToken::new()).await;
        let mine = token("a");
        let stamp = pages.stamp("s1", 0).unwrap();
        // The event of a change arrives while the page is being made.
        pages.shared.site_changed("s1");
        let page = Bytes::from_static(b"<p>before</p>");
        pages.keep((&mine, LATER), PATH, ("s1", stamp), page);
        assert_eq!(held(&pages), 0);
        // Every page made stale meanwhile, likewise.
        let stamp = pages.stamp("s1", 0).unwrap();
        pages.shared.forget_all();
        let page = Bytes::from_static(b"<p>before</p>");
        pages.keep((&mine, LATER), PATH, ("s1", stamp), page);
        assert_eq!(held(&pages), 0);
    }

    #[tokio::test]
    async fn a_form_posted_by_the_session_makes_its_older_pages_stale() {
        let pages = kept(CancellationToken::new()).await;
        let mine = token("a");
        keep(&pages, &mine, 10_000, b"<p>s1</p>");
        let get = |written| pages.get((&mine, Some(written)), PATH, "s1", 0);
        // Made well after the form: served.
        assert!(get(10_000 - CLOCK_SKEW_MS - 1).is_some());
        // Made before the form, or too close after it for clocks to tell.
        assert!(get(10_000 - CLOCK_SKEW_MS).is_none());
        assert_eq!(held(&pages), 0);
    }

    #[tokio::test]
    async fn an_expired_token_and_a_stopped_stream_get_nothing() {
        let stop = CancellationToken::new();
        let pages = kept(stop.clone()).await;
        let mine = token("a");
        let stamp = pages.stamp("s1", 0).unwrap();
        let page = Bytes::from_static(b"<p>s1</p>");
        pages.keep((&mine, 100), PATH, ("s1", stamp), page);
        assert!(pages.get((&mine, None), PATH, "s1", 99).is_some());
        assert!(pages.get((&mine, None), PATH, "s1", 100).is_none());
        keep(&pages, &mine, 0, b"<p>s1</p>");
        // The streams end: nothing is served or kept, and the pages go.
        stop.cancel();
        let deadline = Instant::now() + Duration::from_secs(10);
        while pages.stamp("s1", 0).is_some() {
            assert!(Instant::now() < deadline, "still keeping after the stop");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(pages.get((&mine, None), PATH, "s1", 0).is_none());
        assert_eq!(held(&pages), 0);
    }

    #[tokio::test]
    async fn the_oldest_pages_leave_first_when_full() {
        let pages = kept(CancellationToken::new()).await;
        let mine = token("a");
        let size = CAPACITY_BYTES / 8;
        let path = |i: usize| format!("/chantiers/s1?apres={i}");
        let keep_at = |i: usize| {
            let stamp = pages.stamp("s1", 0).unwrap();
            let page = Bytes::from(vec![b'x'; size]);
            pages.keep((&mine, LATER), &path(i), ("s1", stamp), page);
        };
        for i in 0..8 {
            keep_at(i);
        }
        // The oldest kept again is the newest now: it stays.
        keep_at(0);
        keep_at(8);
        assert!(
            pages.get((&mine, None), &path(1), "s1", 0).is_none(),
            "the oldest left"
        );
        let stay = [0, 2, 3, 4, 5, 6, 7, 8];
        assert!(
            stay.iter()
                .all(|i| pages.get((&mine, None), &path(*i), "s1", 0).is_some())
        );
        assert!(pages.shared.lock().bytes <= CAPACITY_BYTES);
    }
}
