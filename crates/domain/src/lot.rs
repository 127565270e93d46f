//! Lot lifecycle.

use crate::DomainError;

/// Where a lot stands in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LotStatus {
    /// Being described by the site; invisible to partners.
    Draft,
    /// Offered to partners; claimable.
    Published,
    /// Taken off the offer by the site (final).
    Withdrawn,
    /// Nothing left available; may come back if a reservation is released.
    Exhausted,
    /// Availability window ended (final).
    Expired,
}

impl LotStatus {
    /// Every status, in declaration order.
    pub const ALL: [LotStatus; 5] = [
        LotStatus::Draft,
        LotStatus::Published,
        LotStatus::Withdrawn,
        LotStatus::Exhausted,
        LotStatus::Expired,
    ];

    /// Stable lowercase name: `"draft"`, `"published"`, `"withdrawn"`,
    /// `"exhausted"`, `"expired"`.
    pub fn as_str(self) -> &'static str {
        match self {
            LotStatus::Draft => "draft",
            LotStatus::Published => "published",
            LotStatus::Withdrawn => "withdrawn",
            LotStatus::Exhausted => "exhausted",
            LotStatus::Expired => "expired",
        }
    }

    /// Parses [`LotStatus::as_str`] output, trimmed and case-insensitive.
    /// Field `"status"`.
    pub fn parse(s: &str) -> Result<LotStatus, DomainError> {
        let t = s.trim();
        LotStatus::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| DomainError::invalid("status", format!("unknown lot status {t:?}")))
    }

    /// Partners may claim only published lots.
    pub fn is_claimable(self) -> bool {
        self == LotStatus::Published
    }

    /// Sites may edit only draft or published lots.
    pub fn is_editable(self) -> bool {
        matches!(self, LotStatus::Draft | LotStatus::Published)
    }

    /// No action leads out of this status.
    pub fn is_terminal(self) -> bool {
        matches!(self, LotStatus::Withdrawn | LotStatus::Expired)
    }
}

impl std::fmt::Display for LotStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something that happens to a lot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LotAction {
    /// The site offers the lot.
    Publish,
    /// The site takes the lot off the offer.
    Withdraw,
    /// Available reached zero.
    Exhaust,
    /// A reservation came back while exhausted.
    Replenish,
    /// The availability window ended.
    Expire,
}

impl LotAction {
    /// Every action, in declaration order.
    pub const ALL: [LotAction; 5] = [
        LotAction::Publish,
        LotAction::Withdraw,
        LotAction::Exhaust,
        LotAction::Replenish,
        LotAction::Expire,
    ];

    /// Stable lowercase verb, as used in [`DomainError::Transition`].
    pub fn as_str(self) -> &'static str {
        match self {
            LotAction::Publish => "publish",
            LotAction::Withdraw => "withdraw",
            LotAction::Exhaust => "exhaust",
            LotAction::Replenish => "replenish",
            LotAction::Expire => "expire",
        }
    }
}

/// The lot state machine.
///
/// Publish: Draft → Published, refused with [`DomainError::Hazardous`] when
/// `hazardous` (checked before the state so the client learns the real
/// obstacle); Replenish of a hazardous lot is refused the same way, so no
/// path leads a hazardous lot to Published. Withdraw: Draft | Published | Exhausted → Withdrawn.
/// Exhaust: Published → Exhausted. Replenish: Exhausted → Published.
/// Expire: Published | Exhausted → Expired. Anything else:
/// [`DomainError::Transition`].
pub fn transition(
    from: LotStatus,
    action: LotAction,
    hazardous: bool,
) -> Result<LotStatus, DomainError> {
    use LotAction as A;
    use LotStatus as S;
    if action == A::Publish && hazardous {
        return Err(DomainError::Hazardous);
    }
    let to = match (from, action) {
        (S::Draft, A::Publish) => S::Published,
        (S::Draft | S::Published | S::Exhausted, A::Withdraw) => S::Withdrawn,
        (S::Published, A::Exhaust) => S::Exhausted,
        (S::Exhausted, A::Replenish) => S::Published,
        (S::Published | S::Exhausted, A::Expire) => S::Expired,
        _ => {
            return Err(DomainError::Transition {
                entity: "lot",
                from: from.as_str(),
                action: action.as_str(),
            });
        }
    };
    // A lot flagged hazardous after publication must not come back on offer.
    if to == S::Published && hazardous {
        return Err(DomainError::Hazardous);
    }
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use LotAction as A;
    use LotStatus as S;

    /// The expected outcome of every (status, action) pair, written out by
    /// hand rather than derived from the implementation.
    fn expected(from: S, action: A) -> Option<S> {
        const TABLE: [(S, A, Option<S>); 25] = [
            (S::Draft, A::Publish, Some(S::Published)),
            (S::Draft, A::Withdraw, Some(S::Withdrawn)),
            (S::Draft, A::Exhaust, None),
            (S::Draft, A::Replenish, None),
            (S::Draft, A::Expire, None),
            (S::Published, A::Publish, None),
            (S::Published, A::Withdraw, Some(S::Withdrawn)),
            (S::Published, A::Exhaust, Some(S::Exhausted)),
            (S::Published, A::Replenish, None),
            (S::Published, A::Expire, Some(S::Expired)),
            (S::Withdrawn, A::Publish, None),
            (S::Withdrawn, A::Withdraw, None),
            (S::Withdrawn, A::Exhaust, None),
            (S::Withdrawn, A::Replenish, None),
            (S::Withdrawn, A::Expire, None),
            (S::Exhausted, A::Publish, None),
            (S::Exhausted, A::Withdraw, Some(S::Withdrawn)),
            (S::Exhausted, A::Exhaust, None),
            (S::Exhausted, A::Replenish, Some(S::Published)),
            (S::Exhausted, A::Expire, Some(S::Expired)),
            (S::Expired, A::Publish, None),
            (S::Expired, A::Withdraw, None),
            (S::Expired, A::Exhaust, None),
            (S::Expired, A::Replenish, None),
            (S::Expired, A::Expire, None),
        ];
        TABLE
            .iter()
            .find(|(f, a, _)| *f == from && *a == action)
            .map(|(_, _, to)| *to)
            .expect("table covers every pair")
    }

    #[test]
    fn every_pair_matches_table() {
        for from in S::ALL {
            for action in A::ALL {
                let got = transition(from, action, false);
                match expected(from, action) {
                    Some(to) => assert_eq!(got, Ok(to), "{from:?} {action:?}"),
                    None => assert_eq!(
                        got,
                        Err(DomainError::Transition {
                            entity: "lot",
                            from: from.as_str(),
                            action: action.as_str()
                        }),
                        "{from:?} {action:?}"
                    ),
                }
            }
        }
    }

    #[test]
    fn hazardous_never_published() {
        for from in S::ALL {
            assert_eq!(
                transition(from, A::Publish, true),
                Err(DomainError::Hazardous)
            );
        }
        assert_eq!(
            transition(S::Exhausted, A::Replenish, true),
            Err(DomainError::Hazardous)
        );
        // Hazard only blocks publication; a hazardous lot can still be withdrawn or expire.
        assert_eq!(transition(S::Published, A::Expire, true), Ok(S::Expired));
        assert_eq!(transition(S::Draft, A::Withdraw, true), Ok(S::Withdrawn));
        for from in S::ALL {
            for action in A::ALL {
                if let Ok(to) = transition(from, action, true) {
                    assert_ne!(to, S::Published, "{from:?} {action:?}");
                }
            }
        }
    }

    #[test]
    fn status_strings() {
        for s in S::ALL {
            assert_eq!(S::parse(s.as_str()), Ok(s));
            assert_eq!(S::parse(&format!(" {} ", s.as_str().to_uppercase())), Ok(s));
            assert_eq!(s.to_string(), s.as_str());
        }
        assert_eq!(S::Withdrawn.as_str(), "withdrawn");
        assert_eq!(S::parse("gone").unwrap_err().field(), Some("status"));
        assert!(S::parse("").is_err());
    }

    #[test]
    fn predicates() {
        let claimable: Vec<_> = S::ALL.into_iter().filter(|s| s.is_claimable()).collect();
        assert_eq!(claimable, [S::Published]);
        let editable: Vec<_> = S::ALL.into_iter().filter(|s| s.is_editable()).collect();
        assert_eq!(editable, [S::Draft, S::Published]);
        for s in S::ALL {
            let leaves = A::ALL.into_iter().any(|a| transition(s, a, false).is_ok());
            assert_eq!(s.is_terminal(), !leaves, "{s:?}");
        }
    }
}
