//! Rate limits: one token bucket per authenticated caller (the whole
//! [`Principal`]) and one per client address for calls without a valid
//! token. The [`crate::auth::AuthInterceptor`] consults them, so health and
//! reflection, which it does not intercept, are never limited.
//!
//! Memory stays bounded: a bucket that has filled up again is forgotten
//! (a new one would be identical), and each map holds at most
//! [`MAX_TRACKED_KEYS`] callers; when that many are all active at once,
//! callers not yet tracked are refused until some go idle, rather than the
//! map growing without end or forgetting what active callers owe.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::auth::Principal;
use crate::config::LimitArgs;

/// Callers tracked per map at most (about 20 MB of principals at worst).
pub const MAX_TRACKED_KEYS: usize = 100_000;
/// How often idle buckets are forgotten, even when the map is not full.
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);
/// Least time between two sweeps of a full map: a sweep walks the whole
/// map, which must not happen on every call of an attack.
const MIN_SWEEP_GAP: Duration = Duration::from_secs(1);

/// A steady rate with a burst allowance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Requests per second on average; more than 0.
    pub per_second: u32,
    /// Requests allowed at once from a full bucket; more than 0.
    pub burst: u32,
}

impl Limit {
    /// `None` when `per_second` is 0 (the limit is off).
    pub fn new(per_second: u32, burst: u32) -> Option<Limit> {
        (per_second > 0).then_some(Limit {
            per_second,
            burst: burst.max(1),
        })
    }

    fn rate(self) -> f64 {
        f64::from(self.per_second)
    }

    fn capacity(self) -> f64 {
        f64::from(self.burst)
    }
}

/// What a refused call should wait before it is worth retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    fn refill(&mut self, now: Instant, limit: Limit) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * limit.rate()).min(limit.capacity());
        self.updated = now;
    }

    fn take(&mut self, now: Instant, limit: Limit) -> Result<(), RetryAfter> {
        self.refill(now, limit);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - self.tokens) / limit.rate();
            // Rounded up to the millisecond: retrying at the announced time
            // must succeed, not fall short by a rounding error.
            let millis = (wait * 1000.0).ceil().max(1.0);
            Err(RetryAfter(Duration::from_millis(millis as u64)))
        }
    }

    /// Full again: indistinguishable from a bucket never used.
    fn idle(&self, now: Instant, limit: Limit) -> bool {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens + elapsed * limit.rate() >= limit.capacity()
    }
}

#[derive(Debug)]
struct Buckets<K> {
    map: HashMap<K, Bucket>,
    swept: Instant,
    /// When the map was last found full of active callers, so the warning
    /// is logged once per sweep, not once per refused call.
    warned: Option<Instant>,
}

/// Token buckets keyed by `K`, behind one lock: each check is a hash lookup
/// and a little arithmetic, too short for the lock to matter.
#[derive(Debug)]
struct Limiter<K> {
    limit: Limit,
    max_keys: usize,
    buckets: Mutex<Buckets<K>>,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    fn new(limit: Limit, max_keys: usize) -> Limiter<K> {
        Limiter {
            limit,
            max_keys,
            buckets: Mutex::new(Buckets {
                map: HashMap::new(),
                swept: Instant::now(),
                warned: None,
            }),
        }
    }

    fn check(&self, key: &K, what: &'static str) -> Result<(), RetryAfter> {
        let now = Instant::now();
        let limit = self.limit;
        // A panic elsewhere while holding the lock leaves buckets that are
        // still consistent numbers: keep limiting rather than fail open.
        let mut guard = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let buckets = &mut *guard;
        let since_sweep = now.saturating_duration_since(buckets.swept);
        let full = buckets.map.len() >= self.max_keys;
        if since_sweep >= SWEEP_INTERVAL || (full && since_sweep >= MIN_SWEEP_GAP) {
            buckets.map.retain(|_, bucket| !bucket.idle(now, limit));
            buckets.swept = now;
        }
        if let Some(bucket) = buckets.map.get_mut(key) {
            return bucket.take(now, limit);
        }
        if buckets.map.len() >= self.max_keys {
            if buckets.warned.is_none_or(|at| at < buckets.swept) {
                tracing::warn!(
                    tracked = buckets.map.len(),
                    what,
                    "rate limiter full of active callers: refusing new ones until some go idle"
                );
                buckets.warned = Some(now);
            }
            return Err(RetryAfter(MIN_SWEEP_GAP));
        }
        let mut bucket = Bucket {
            tokens: limit.capacity(),
            updated: now,
        };
        let taken = bucket.take(now, limit);
        buckets.map.insert(key.clone(), bucket);
        taken
    }

    fn tracked(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .len()
    }
}

/// The metadata in which a trusted proxy (the web app) names the address of
/// the client it calls for.
pub const FORWARDED_FOR: &str = "x-forwarded-for";

/// The address a call without a valid token is counted against: the
/// client's IP, an IPv6 client's /64 (one host usually holds a whole /64),
/// `None` when the transport knows no peer address (all such calls share
/// one bucket).
pub fn client_key(client: Option<IpAddr>) -> Option<IpAddr> {
    client.map(|ip| match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let network = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(network))
        }
    })
}

/// The rate limits of a server, shared by every service it serves (cheap to
/// clone).
#[derive(Debug, Clone, Default)]
pub struct RateLimits {
    per_principal: Option<Arc<Limiter<Principal>>>,
    unauthenticated: Option<Arc<Limiter<Option<IpAddr>>>>,
    trusted: Arc<[IpAddr]>,
}

impl RateLimits {
    /// No limits at all.
    pub fn none() -> RateLimits {
        RateLimits::default()
    }

    /// The limits the flags describe.
    pub fn from_args(args: &LimitArgs) -> RateLimits {
        RateLimits::new(
            Limit::new(args.per_principal, args.per_principal_burst),
            Limit::new(args.unauthenticated, args.unauthenticated_burst),
        )
        .trusting(&args.trusted_proxies)
    }

    /// Believes the client address that the proxies at `proxies` forward.
    pub fn trusting(mut self, proxies: &[IpAddr]) -> RateLimits {
        self.trusted = proxies.iter().map(IpAddr::to_canonical).collect();
        self
    }

    /// Whether a proxy is trusted.
    pub fn trusts_proxies(&self) -> bool {
        !self.trusted.is_empty()
    }

    /// The address of the client that made `req`: its peer's, or, when the
    /// peer is a trusted proxy, the one the proxy forwards (the last
    /// address of `x-forwarded-for`, the one it added itself). A peer not
    /// trusted cannot choose the address it is counted under.
    pub fn client_ip<T>(&self, req: &tonic::Request<T>) -> Option<IpAddr> {
        let peer = req.remote_addr()?.ip().to_canonical();
        if !self.trusted.contains(&peer) {
            return Some(peer);
        }
        let forwarded = req
            .metadata()
            .get(FORWARDED_FOR)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse::<IpAddr>().ok());
        Some(forwarded.map_or(peer, |ip| ip.to_canonical()))
    }

    /// Limits per principal and per client address without a valid token;
    /// `None` turns one off.
    pub fn new(per_principal: Option<Limit>, unauthenticated: Option<Limit>) -> RateLimits {
        RateLimits::with_capacity(per_principal, unauthenticated, MAX_TRACKED_KEYS)
    }

    /// As [`RateLimits::new`], tracking at most `max_keys` callers per map.
    pub fn with_capacity(
        per_principal: Option<Limit>,
        unauthenticated: Option<Limit>,
        max_keys: usize,
    ) -> RateLimits {
        RateLimits {
            per_principal: per_principal.map(|l| Arc::new(Limiter::new(l, max_keys))),
            unauthenticated: unauthenticated.map(|l| Arc::new(Limiter::new(l, max_keys))),
            trusted: Arc::from([]),
        }
    }

    /// Counts one call of an authenticated `principal`.
    pub fn check_principal(&self, principal: &Principal) -> Result<(), RetryAfter> {
        match &self.per_principal {
            Some(limiter) => limiter.check(principal, "principals"),
            None => Ok(()),
        }
    }

    /// Counts one call without a valid token from `client`.
    pub fn check_unauthenticated(&self, client: Option<IpAddr>) -> Result<(), RetryAfter> {
        match &self.unauthenticated {
            Some(limiter) => limiter.check(&client_key(client), "client addresses"),
            None => Ok(()),
        }
    }

    /// How many callers are tracked now: (principals, client addresses).
    pub fn tracked(&self) -> (usize, usize) {
        (
            self.per_principal.as_ref().map_or(0, |l| l.tracked()),
            self.unauthenticated.as_ref().map_or(0, |l| l.tracked()),
        )
    }
}
