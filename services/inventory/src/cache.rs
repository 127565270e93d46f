//! Lots already read and turned into their public message, by version.
//!
//! A page of ListLots is 51 rows of 31 columns; reading and converting
//! them costs far more than the query that picks them. Every change to a
//! lot writes a new version (the writes are conditional on the old one),
//! so a lot's site, id, creation time and version name one content for
//! good: a page first reads only those keys and serves the lots from here
//! when every one is known, in the order and with the filters of the one
//! query, so that the page is as consistent as a full read. One entry
//! unknown or stale and the page is read whole, and remembered.
//!
//! Entries are immutable facts, never invalidated: a newer version simply
//! replaces the older one, and the oldest entries leave first when the
//! cache is full. Nothing here is shared between replicas, nor needs to be.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use reemploi_proto::inventory as pb;
use reemploi_runtime::names::Id;

use crate::model::LotRow;

/// How many lots are kept by default: a few megabytes.
pub const DEFAULT_CAPACITY: usize = 20_000;

/// What names one content of a lot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub created_at: i64,
    pub version: i64,
}

/// A lot as read, with its message.
#[derive(Debug)]
pub struct CachedLot {
    pub row: LotRow,
    pub proto: pb::Lot,
}

/// A lot's site and id.
pub type Key = (Id, Id);

/// What the cache needs to know of what it holds.
pub trait Stamped {
    /// Which lot.
    fn key(&self) -> Key;
    /// Which content of it.
    fn stamp(&self) -> Stamp;
}

impl Stamped for CachedLot {
    fn key(&self) -> Key {
        (self.row.site_id, self.row.id)
    }

    fn stamp(&self) -> Stamp {
        Stamp {
            created_at: self.row.created_at,
            version: self.row.version,
        }
    }
}

/// A bounded map from a lot to its last content read.
pub struct LotCache<T = CachedLot> {
    capacity: usize,
    inner: Mutex<Entries<T>>,
}

struct Entries<T> {
    lots: HashMap<Key, Arc<T>>,
    /// Keys in the order they were first inserted: the next to leave first.
    order: VecDeque<Key>,
}

impl<T: Stamped> LotCache<T> {
    /// A cache of at most `capacity` lots (0 keeps none).
    pub fn new(capacity: usize) -> LotCache<T> {
        LotCache {
            capacity,
            inner: Mutex::new(Entries {
                lots: HashMap::new(),
                order: VecDeque::new(),
            }),
        }
    }

    /// The lots at exactly these stamps, in order; `None` as soon as one is
    /// unknown or at another stamp.
    pub fn get_all(&self, wanted: &[(Key, Stamp)]) -> Option<Vec<Arc<T>>> {
        let entries = self.inner.lock().ok()?;
        wanted
            .iter()
            .map(|(key, stamp)| {
                entries
                    .lots
                    .get(key)
                    .filter(|cached| cached.stamp() == *stamp)
                    .cloned()
            })
            .collect()
    }

    /// Remembers lots just read, replacing older versions.
    pub fn put_all(&self, lots: impl IntoIterator<Item = Arc<T>>) {
        if self.capacity == 0 {
            return;
        }
        // A poisoned lock only means another caller panicked mid-insert:
        // the map is still a map of facts, and the cache can be skipped.
        let Ok(mut entries) = self.inner.lock() else {
            return;
        };
        for lot in lots {
            let key = lot.key();
            // A lot deleted and made again under its id is another
            // content whatever its version: another creation time always
            // replaces.
            let newer = entries.lots.get(&key).is_none_or(|old| {
                let (old, new) = (old.stamp(), lot.stamp());
                old.created_at != new.created_at || old.version <= new.version
            });
            if !newer {
                continue;
            }
            if entries.lots.insert(key, lot).is_none() {
                entries.order.push_back(key);
            }
            while entries.lots.len() > self.capacity {
                match entries.order.pop_front() {
                    Some(oldest) => entries.lots.remove(&oldest),
                    None => break,
                };
            }
        }
    }

    /// How many lots it may hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many lots are held.
    pub fn len(&self) -> usize {
        self.inner.lock().map(|e| e.lots.len()).unwrap_or(0)
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake(Key, i64);

    impl Stamped for Fake {
        fn key(&self) -> Key {
            self.0
        }
        fn stamp(&self) -> Stamp {
            stamp(self.1)
        }
    }

    fn stamp(version: i64) -> Stamp {
        Stamp {
            created_at: 1,
            version,
        }
    }

    fn key(lot: &str) -> Key {
        (
            Id::parse("site").expect("an id"),
            Id::parse(lot).expect("an id"),
        )
    }

    fn lot(name: &str, version: i64) -> Arc<Fake> {
        Arc::new(Fake(key(name), version))
    }

    #[test]
    fn serves_only_the_exact_version_and_keeps_at_most_its_capacity() {
        let cache = LotCache::new(2);
        cache.put_all([lot("a", 1), lot("b", 1)]);
        assert!(cache.get_all(&[(key("a"), stamp(1))]).is_some());
        assert!(cache.get_all(&[(key("a"), stamp(2))]).is_none());
        let other_creation = Stamp {
            created_at: 2,
            version: 1,
        };
        assert!(cache.get_all(&[(key("a"), other_creation)]).is_none());
        // An older version read late does not replace a newer one.
        cache.put_all([lot("a", 3), lot("a", 2)]);
        let got = cache.get_all(&[(key("a"), stamp(3))]).expect("v3");
        assert_eq!(got[0].1, 3);
        // A third lot pushes out the first inserted.
        cache.put_all([lot("c", 1)]);
        assert_eq!(cache.len(), 2);
        assert!(cache.get_all(&[(key("a"), stamp(3))]).is_none());
        assert!(
            cache
                .get_all(&[(key("b"), stamp(1)), (key("c"), stamp(1))])
                .is_some()
        );
        let none: LotCache<Fake> = LotCache::new(0);
        none.put_all([lot("a", 1)]);
        assert!(none.is_empty());
    }
}
