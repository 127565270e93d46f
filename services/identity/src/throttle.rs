//! Failed sign-ins slow down, per email and per client address: after a few
//! failures each further attempt must wait, twice as long every time, up to
//! a quarter of an hour. Emails are counted whether or not they have an
//! account, so the slowing down reveals nothing either. Counts live in
//! memory: a restart forgives, and each replica counts on its own.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Failures allowed before any wait.
pub const FREE_FAILURES: u32 = 5;
/// The first wait.
const FIRST_WAIT: Duration = Duration::from_secs(1);
/// The longest wait.
pub const MAX_WAIT: Duration = Duration::from_secs(15 * 60);
/// Failures older than this are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(24 * 3600);
/// Most keys held; beyond, the stalest are dropped (an attacker spraying
/// addresses must not grow the map without end).
const MAX_KEYS: usize = 100_000;
/// Failures from one address are counted this many times more leniently
/// than failures on one email: many people share an address.
const ADDRESS_FACTOR: u32 = 4;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// The counts, shared by clones.
#[derive(Debug, Clone, Default)]
pub struct Throttle {
    inner: Arc<Mutex<HashMap<String, Failures>>>,
}

/// What a key is counted under.
fn keys(email: &str, peer: Option<IpAddr>) -> [(String, u32); 2] {
    [
        (format!("email:{email}"), FREE_FAILURES),
        (
            format!(
                "addr:{}",
                peer.map(|p| p.to_string()).unwrap_or_else(|| "-".into())
            ),
            FREE_FAILURES * ADDRESS_FACTOR,
        ),
    ]
}

/// The wait after `count` failures, when `free` are allowed.
fn wait_after(count: u32, free: u32) -> Duration {
    if count < free {
        return Duration::ZERO;
    }
    let doublings = (count - free).min(16);
    FIRST_WAIT.saturating_mul(1 << doublings).min(MAX_WAIT)
}

impl Throttle {
    /// How long the caller must still wait before trying `email` from
    /// `peer`; `None` if it may try now.
    pub fn wait(&self, email: &str, peer: Option<IpAddr>) -> Option<Duration> {
        let map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        keys(email, peer)
            .iter()
            .filter_map(|(key, free)| {
                let f = map.get(key)?;
                let until = f.last + wait_after(f.count, *free);
                (until > now).then(|| until - now)
            })
            .max()
    }

    /// Counts a failure of `email` from `peer`.
    pub fn failed(&self, email: &str, peer: Option<IpAddr>) {
        let mut map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if map.len() >= MAX_KEYS {
            map.retain(|_, f| now.duration_since(f.last) < FORGET_AFTER);
            if map.len() >= MAX_KEYS {
                // Still full: drop the stalest half.
                let mut ages: Vec<Instant> = map.values().map(|f| f.last).collect();
                ages.sort();
                let cut = ages[ages.len() / 2];
                map.retain(|_, f| f.last > cut);
            }
        }
        for (key, _) in keys(email, peer) {
            let entry = map.entry(key).or_insert(Failures {
                count: 0,
                last: now,
            });
            if now.duration_since(entry.last) >= FORGET_AFTER {
                entry.count = 0;
            }
            entry.count = entry.count.saturating_add(1);
            entry.last = now;
        }
    }

    /// Forgets the failures of `email` after a successful sign-in (those of
    /// the address stay: one success does not excuse a spray).
    pub fn succeeded(&self, email: &str) {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&format!("email:{email}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_beyond_the_free_ones_make_callers_wait_longer_and_longer() {
        let t = Throttle::default();
        let peer = Some(IpAddr::from([192, 0, 2, 1]));
        for _ in 0..FREE_FAILURES {
            assert_eq!(t.wait("a@b.fr", peer), None);
            t.failed("a@b.fr", peer);
        }
        let first = t
            .wait("a@b.fr", peer)
            .expect("a wait after the free failures");
        t.failed("a@b.fr", peer);
        let second = t.wait("a@b.fr", peer).expect("a longer wait");
        assert!(second > first, "{second:?} <= {first:?}");
        // Another email from another address is not slowed down.
        assert_eq!(t.wait("c@d.fr", Some(IpAddr::from([192, 0, 2, 2]))), None);
        t.succeeded("a@b.fr");
        // The address keeps its count (below its own threshold here).
        assert_eq!(t.wait("a@b.fr", peer), None);
        assert_eq!(wait_after(100, 5), MAX_WAIT);
    }
}
