//! Per-lot quantity ledger.

use crate::DomainError;

const FIELD_QUANTITY: &str = "quantity";

/// Per-lot quantity ledger, all in thousandths of the lot's unit.
///
/// Invariant: `quantity == available + reserved + handed_over`, all `>= 0`.
/// Every operation returns a new ledger or an error, never a half-applied
/// one, so a caller that keeps the old value on `Err` cannot break the
/// invariant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ledger {
    /// Total quantity of the lot.
    pub quantity: i64,
    /// Not reserved nor handed over: what a partner may still claim.
    pub available: i64,
    /// Held by open claims (reserved or confirmed).
    pub reserved: i64,
    /// Physically handed over to partners.
    pub handed_over: i64,
}

/// The parts of a lot's quantity that claims move it between.
#[derive(Debug, Clone, Copy)]
enum Part {
    Available,
    Reserved,
    HandedOver,
}

impl Ledger {
    /// A fresh ledger with everything available; `quantity` must be positive.
    pub fn new(quantity: i64) -> Result<Ledger, DomainError> {
        if quantity <= 0 {
            return Err(DomainError::invalid(FIELD_QUANTITY, "must be positive"));
        }
        Ok(Ledger {
            quantity,
            available: quantity,
            reserved: 0,
            handed_over: 0,
        })
    }

    /// Rebuilds a ledger from stored columns, refusing any that break the
    /// invariant (a corrupted row must not be silently trusted).
    pub fn from_parts(
        quantity: i64,
        available: i64,
        reserved: i64,
        handed_over: i64,
    ) -> Result<Ledger, DomainError> {
        let ledger = Ledger {
            quantity,
            available,
            reserved,
            handed_over,
        };
        ledger.checked()
    }

    /// Whether the invariant holds (overflow in the sum counts as broken).
    pub fn holds(&self) -> bool {
        self.quantity >= 0
            && self.available >= 0
            && self.reserved >= 0
            && self.handed_over >= 0
            && self
                .available
                .checked_add(self.reserved)
                .and_then(|s| s.checked_add(self.handed_over))
                == Some(self.quantity)
    }

    /// Moves `q` from available to reserved (a claim is made).
    pub fn reserve(self, q: i64) -> Result<Ledger, DomainError> {
        self.moved(q, Part::Available, Part::Reserved)
    }

    /// Moves `q` from reserved back to available (claim cancelled, rejected
    /// or expired).
    pub fn release(self, q: i64) -> Result<Ledger, DomainError> {
        self.moved(q, Part::Reserved, Part::Available)
    }

    /// Moves `q` from reserved to handed over (the material left the site).
    pub fn hand_over(self, q: i64) -> Result<Ledger, DomainError> {
        self.moved(q, Part::Reserved, Part::HandedOver)
    }

    /// Moves `q` from one part of the quantity to another, never more than
    /// the first holds.
    fn moved(self, q: i64, from: Part, to: Part) -> Result<Ledger, DomainError> {
        self.checked()?;
        positive(q)?;
        let held = *self.part(from);
        if q > held {
            return Err(DomainError::InsufficientQuantity {
                requested: q,
                available: held,
                unit: None,
            });
        }
        let mut next = self;
        *next.part_mut(from) -= q;
        // At most the quantity, which is an i64: no overflow.
        *next.part_mut(to) += q;
        next.checked()
    }

    fn part(&self, part: Part) -> &i64 {
        match part {
            Part::Available => &self.available,
            Part::Reserved => &self.reserved,
            Part::HandedOver => &self.handed_over,
        }
    }

    fn part_mut(&mut self, part: Part) -> &mut i64 {
        match part {
            Part::Available => &mut self.available,
            Part::Reserved => &mut self.reserved,
            Part::HandedOver => &mut self.handed_over,
        }
    }

    /// Changes the total (the lot was edited); only `available` absorbs the
    /// difference. Shrinking below what is already reserved or handed over
    /// is refused as an invalid `quantity`, since the caller's new value is
    /// what is wrong, not the claims.
    pub fn resize(self, new_quantity: i64) -> Result<Ledger, DomainError> {
        self.checked()?;
        positive(new_quantity)?;
        let committed = self.reserved + self.handed_over;
        if new_quantity < committed {
            return Err(DomainError::invalid(
                FIELD_QUANTITY,
                format!(
                    "cannot be less than the {committed} thousandths already reserved or handed over"
                ),
            ));
        }
        Ledger {
            quantity: new_quantity,
            available: new_quantity - committed,
            ..self
        }
        .checked()
    }

    fn checked(self) -> Result<Ledger, DomainError> {
        if self.holds() {
            Ok(self)
        } else {
            Err(DomainError::invalid(
                "ledger",
                format!(
                    "inconsistent ledger: quantity {} != available {} + reserved {} + handed over {}",
                    self.quantity, self.available, self.reserved, self.handed_over
                ),
            ))
        }
    }
}

fn positive(q: i64) -> Result<(), DomainError> {
    if q <= 0 {
        return Err(DomainError::invalid(FIELD_QUANTITY, "must be positive"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn new_ledger() {
        let l = Ledger::new(5_000).unwrap();
        assert_eq!(
            l,
            Ledger {
                quantity: 5_000,
                available: 5_000,
                reserved: 0,
                handed_over: 0
            }
        );
        assert!(l.holds());
        assert!(Ledger::new(0).is_err());
        assert!(Ledger::new(-1).is_err());
    }

    #[test]
    fn full_lifecycle() {
        let l = Ledger::new(10).unwrap();
        let l = l.reserve(4).unwrap();
        assert_eq!((l.available, l.reserved, l.handed_over), (6, 4, 0));
        let l = l.hand_over(3).unwrap();
        assert_eq!((l.available, l.reserved, l.handed_over), (6, 1, 3));
        let l = l.release(1).unwrap();
        assert_eq!((l.available, l.reserved, l.handed_over), (7, 0, 3));
        let l = l.resize(5).unwrap();
        assert_eq!((l.quantity, l.available), (5, 2));
        let l = l.resize(20).unwrap();
        assert_eq!((l.quantity, l.available), (20, 17));
        assert!(l.holds());
    }

    #[test]
    fn refusals() {
        let l = Ledger::new(10).unwrap().reserve(6).unwrap();
        assert_eq!(
            l.reserve(5),
            Err(DomainError::InsufficientQuantity {
                requested: 5,
                available: 4,
                unit: None,
            })
        );
        assert_eq!(
            l.release(7),
            Err(DomainError::InsufficientQuantity {
                requested: 7,
                available: 6,
                unit: None,
            })
        );
        assert!(l.hand_over(7).is_err());
        assert!(l.reserve(0).is_err());
        assert!(l.release(-1).is_err());
        assert!(l.hand_over(0).is_err());
        let e = l.resize(5).unwrap_err();
        assert_eq!(e.field(), Some("quantity"));
        assert_eq!(l.resize(6).unwrap().available, 0);
        assert!(l.resize(0).is_err());
    }

    #[test]
    fn broken_ledger_refused() {
        let bad = Ledger {
            quantity: 10,
            available: 10,
            reserved: 1,
            handed_over: 0,
        };
        assert!(!bad.holds());
        assert!(bad.reserve(1).is_err());
        assert!(bad.release(1).is_err());
        assert!(bad.resize(12).is_err());
        assert!(Ledger::from_parts(10, 10, 1, 0).is_err());
        assert!(Ledger::from_parts(0, 1, -1, 0).is_err());
        assert_eq!(Ledger::from_parts(10, 5, 3, 2).unwrap().reserved, 3);
        let overflowing = Ledger {
            quantity: -2,
            available: i64::MAX,
            reserved: i64::MAX,
            handed_over: 0,
        };
        assert!(!overflowing.holds());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Reserve(i64),
        Release(i64),
        HandOver(i64),
        Resize(i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Mostly small amounts so operations often succeed, plus extremes.
        let amount = prop_oneof![4 => -5i64..200, 1 => Just(i64::MAX), 1 => Just(i64::MIN)];
        prop_oneof![
            amount.clone().prop_map(Op::Reserve),
            amount.clone().prop_map(Op::Release),
            amount.clone().prop_map(Op::HandOver),
            amount.prop_map(Op::Resize),
        ]
    }

    proptest! {
        #[test]
        fn invariant_survives_any_sequence(
            initial in 1i64..500,
            ops in proptest::collection::vec(op(), 0..60),
        ) {
            let mut ledger = Ledger::new(initial).unwrap();
            let mut total_reserved_ok = 0i128;
            for op in ops {
                let before = ledger;
                let result = match op {
                    Op::Reserve(q) => ledger.reserve(q),
                    Op::Release(q) => ledger.release(q),
                    Op::HandOver(q) => ledger.hand_over(q),
                    Op::Resize(q) => ledger.resize(q),
                };
                // Operations take `self` by value; the original must be untouched.
                prop_assert_eq!(ledger, before);
                if let Ok(next) = result {
                    if let Op::Reserve(q) = op {
                        prop_assert_eq!(next.available, before.available - q);
                        total_reserved_ok += i128::from(q);
                    }
                    if let Op::HandOver(_) = op {
                        prop_assert!(next.handed_over > before.handed_over);
                    }
                    ledger = next;
                }
                prop_assert!(ledger.holds());
                prop_assert!(ledger.quantity > 0);
                prop_assert!(ledger.available >= 0);
                prop_assert!(ledger.reserved >= 0);
                prop_assert!(ledger.handed_over >= 0);
                prop_assert_eq!(
                    ledger.quantity,
                    ledger.available + ledger.reserved + ledger.handed_over
                );
                // handed_over only ever grows: material does not come back.
                prop_assert!(ledger.handed_over >= before.handed_over);
            }
            prop_assert!(
                total_reserved_ok >= i128::from(ledger.reserved) + i128::from(ledger.handed_over)
            );
        }

        #[test]
        fn failing_ops_are_rejected_precisely(
            initial in 1i64..500,
            r in 1i64..500,
            extra in 1i64..500,
        ) {
            let ledger = Ledger::new(initial).unwrap();
            let over = initial + extra;
            prop_assert_eq!(
                ledger.reserve(over),
                Err(DomainError::InsufficientQuantity { requested: over, available: initial, unit: None })
            );
            if r <= initial {
                let held = ledger.reserve(r).unwrap();
                prop_assert!(held.release(r + extra).is_err());
                prop_assert!(held.hand_over(r + extra).is_err());
                prop_assert_eq!(held.release(r).unwrap(), ledger);
            }
        }
    }
}
