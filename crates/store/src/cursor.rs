//! Following a log numbered by a sequence (change log, outbox) without
//! missing an entry that commits late.
//!
//! On PostgreSQL a sequence value is taken when a row is inserted, not when
//! its transaction commits, so a lower number can become visible after a
//! higher one: a reader that only remembers the highest number it saw would
//! skip it for good. The cursor keeps the highest number below which
//! everything has been seen, and the numbers seen above it. A hole is waited
//! for a while, then given up (its transaction rolled back, or its number was
//! never used).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// How long a hole in the sequence is waited for before it is given up.
pub const HOLE_PATIENCE: Duration = Duration::from_secs(5);

/// A position in the change log that tolerates out-of-order commits.
#[derive(Debug, Clone)]
pub struct ChangeCursor {
    watermark: i64,
    above: BTreeSet<i64>,
    hole_since: Option<Instant>,
}

impl ChangeCursor {
    /// A cursor with everything up to `watermark` already seen.
    pub fn new(watermark: i64) -> ChangeCursor {
        ChangeCursor {
            watermark,
            above: BTreeSet::new(),
            hole_since: None,
        }
    }

    /// Read the log after this number.
    pub fn after(&self) -> i64 {
        self.watermark
    }

    /// Records the numbers just read (all above [`ChangeCursor::after`]) and
    /// returns those not seen before, which the reader must apply.
    pub fn take(&mut self, seqs: impl IntoIterator<Item = i64>, now: Instant) -> Vec<i64> {
        let fresh: Vec<i64> = seqs.into_iter().filter(|s| self.above.insert(*s)).collect();
        self.advance();
        if self.above.is_empty() {
            self.hole_since = None;
        } else {
            let since = *self.hole_since.get_or_insert(now);
            if now.duration_since(since) >= HOLE_PATIENCE {
                // Give the hole up: jump to just below the first number seen.
                if let Some(first) = self.above.first() {
                    self.watermark = first - 1;
                }
                self.advance();
                self.hole_since = if self.above.is_empty() {
                    None
                } else {
                    Some(now)
                };
            }
        }
        fresh
    }

    fn advance(&mut self) {
        while self.above.first() == Some(&(self.watermark + 1)) {
            self.above.pop_first();
            self.watermark += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_commit_is_not_skipped() {
        let t0 = Instant::now();
        let mut c = ChangeCursor::new(10);
        // 12 is visible before 11 commits.
        assert_eq!(c.take([12], t0), vec![12]);
        assert_eq!(c.after(), 10, "11 is still awaited");
        // The next read starts after 10 again and returns 11 and 12: only 11 is new.
        assert_eq!(c.take([11, 12], t0 + Duration::from_millis(10)), vec![11]);
        assert_eq!(c.after(), 12);
    }

    #[test]
    fn a_hole_is_given_up_after_patience() {
        let t0 = Instant::now();
        let mut c = ChangeCursor::new(0);
        assert_eq!(c.take([2, 3], t0), vec![2, 3]);
        assert_eq!(c.after(), 0);
        assert_eq!(
            c.take([2, 3], t0 + Duration::from_secs(1)),
            Vec::<i64>::new()
        );
        assert_eq!(c.after(), 0, "still waiting for 1");
        assert!(c.take([2, 3, 4], t0 + HOLE_PATIENCE).contains(&4));
        assert_eq!(c.after(), 4, "1 given up");
    }
}
