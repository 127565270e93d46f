//! Claim lifecycle.

use crate::DomainError;

/// Where a claim stands in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClaimStatus {
    /// Quantity held for the partner, awaiting the site's confirmation.
    Reserved,
    /// The site agreed; awaiting pickup.
    Confirmed,
    /// Material handed to the partner (final).
    HandedOver,
    /// Refused by the site (final).
    Rejected,
    /// Withdrawn by the partner (final).
    Cancelled,
    /// Not confirmed before its deadline (final).
    Expired,
}

impl ClaimStatus {
    /// Every status, in declaration order.
    pub const ALL: [ClaimStatus; 6] = [
        ClaimStatus::Reserved,
        ClaimStatus::Confirmed,
        ClaimStatus::HandedOver,
        ClaimStatus::Rejected,
        ClaimStatus::Cancelled,
        ClaimStatus::Expired,
    ];

    /// Stable lowercase name: `"reserved"`, `"confirmed"`, `"handed_over"`,
    /// `"rejected"`, `"cancelled"`, `"expired"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimStatus::Reserved => "reserved",
            ClaimStatus::Confirmed => "confirmed",
            ClaimStatus::HandedOver => "handed_over",
            ClaimStatus::Rejected => "rejected",
            ClaimStatus::Cancelled => "cancelled",
            ClaimStatus::Expired => "expired",
        }
    }

    /// Parses [`ClaimStatus::as_str`] output, trimmed and case-insensitive.
    /// Field `"status"`.
    pub fn parse(s: &str) -> Result<ClaimStatus, DomainError> {
        let t = s.trim();
        ClaimStatus::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| DomainError::invalid("status", format!("unknown claim status {t:?}")))
    }

    /// The claim still holds a reservation on the lot (Reserved | Confirmed).
    pub fn is_open(self) -> bool {
        matches!(self, ClaimStatus::Reserved | ClaimStatus::Confirmed)
    }
}

impl std::fmt::Display for ClaimStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something that happens to a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimAction {
    /// The site accepts the claim.
    Confirm,
    /// The site refuses the claim.
    Reject,
    /// The partner gives up the claim.
    Cancel,
    /// The confirmation deadline passed.
    Expire,
    /// The material was handed to the partner: all of it, over one trip or
    /// the last of several.
    HandOver,
    /// The site ends a pick-up with what was collected; the rest goes back
    /// to the lot.
    Close,
}

impl ClaimAction {
    /// Every action, in declaration order.
    pub const ALL: [ClaimAction; 6] = [
        ClaimAction::Confirm,
        ClaimAction::Reject,
        ClaimAction::Cancel,
        ClaimAction::Expire,
        ClaimAction::HandOver,
        ClaimAction::Close,
    ];

    /// Stable lowercase verb, as used in [`DomainError::Transition`].
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimAction::Confirm => "confirm",
            ClaimAction::Reject => "reject",
            ClaimAction::Cancel => "cancel",
            ClaimAction::Expire => "expire",
            ClaimAction::HandOver => "hand_over",
            ClaimAction::Close => "close",
        }
    }
}

/// The claim state machine.
///
/// Confirm: Reserved → Confirmed. Reject, Cancel: Reserved | Confirmed →
/// Rejected / Cancelled. Expire: Reserved → Expired (only unconfirmed
/// reservations have a deadline). HandOver, Close: Confirmed → HandedOver.
/// Anything else: [`DomainError::Transition`].
pub fn transition(from: ClaimStatus, action: ClaimAction) -> Result<ClaimStatus, DomainError> {
    use ClaimAction as A;
    use ClaimStatus as S;
    match (from, action) {
        (S::Reserved, A::Confirm) => Ok(S::Confirmed),
        (S::Reserved | S::Confirmed, A::Reject) => Ok(S::Rejected),
        (S::Reserved | S::Confirmed, A::Cancel) => Ok(S::Cancelled),
        (S::Reserved, A::Expire) => Ok(S::Expired),
        (S::Confirmed, A::HandOver | A::Close) => Ok(S::HandedOver),
        _ => Err(DomainError::Transition {
            entity: "claim",
            from: from.as_str(),
            action: action.as_str(),
        }),
    }
}

/// Whether the action gives the claim's quantity not yet collected back to
/// the lot's available quantity (Reject, Cancel, Expire, Close).
pub fn releases(action: ClaimAction) -> bool {
    matches!(
        action,
        ClaimAction::Reject | ClaimAction::Cancel | ClaimAction::Expire | ClaimAction::Close
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ClaimAction as A;
    use ClaimStatus as S;

    /// Hand-written expectations for all 36 (status, action) pairs.
    const TABLE: [(S, A, Option<S>); 36] = [
        (S::Reserved, A::Confirm, Some(S::Confirmed)),
        (S::Reserved, A::Reject, Some(S::Rejected)),
        (S::Reserved, A::Cancel, Some(S::Cancelled)),
        (S::Reserved, A::Expire, Some(S::Expired)),
        (S::Reserved, A::HandOver, None),
        (S::Reserved, A::Close, None),
        (S::Confirmed, A::Confirm, None),
        (S::Confirmed, A::Reject, Some(S::Rejected)),
        (S::Confirmed, A::Cancel, Some(S::Cancelled)),
        (S::Confirmed, A::Expire, None),
        (S::Confirmed, A::HandOver, Some(S::HandedOver)),
        (S::Confirmed, A::Close, Some(S::HandedOver)),
        (S::HandedOver, A::Confirm, None),
        (S::HandedOver, A::Reject, None),
        (S::HandedOver, A::Cancel, None),
        (S::HandedOver, A::Expire, None),
        (S::HandedOver, A::HandOver, None),
        (S::HandedOver, A::Close, None),
        (S::Rejected, A::Confirm, None),
        (S::Rejected, A::Reject, None),
        (S::Rejected, A::Cancel, None),
        (S::Rejected, A::Expire, None),
        (S::Rejected, A::HandOver, None),
        (S::Rejected, A::Close, None),
        (S::Cancelled, A::Confirm, None),
        (S::Cancelled, A::Reject, None),
        (S::Cancelled, A::Cancel, None),
        (S::Cancelled, A::Expire, None),
        (S::Cancelled, A::HandOver, None),
        (S::Cancelled, A::Close, None),
        (S::Expired, A::Confirm, None),
        (S::Expired, A::Reject, None),
        (S::Expired, A::Cancel, None),
        (S::Expired, A::Expire, None),
        (S::Expired, A::HandOver, None),
        (S::Expired, A::Close, None),
    ];

    #[test]
    fn every_pair_matches_table() {
        let mut seen = 0;
        for from in S::ALL {
            for action in A::ALL {
                let (_, _, want) = TABLE
                    .iter()
                    .find(|(f, a, _)| *f == from && *a == action)
                    .expect("pair in table");
                seen += 1;
                let got = transition(from, action);
                match want {
                    Some(to) => assert_eq!(got, Ok(*to), "{from:?} {action:?}"),
                    None => assert_eq!(
                        got,
                        Err(DomainError::Transition {
                            entity: "claim",
                            from: from.as_str(),
                            action: action.as_str()
                        }),
                        "{from:?} {action:?}"
                    ),
                }
            }
        }
        assert_eq!(seen, TABLE.len());
    }

    #[test]
    fn releases_exactly_reject_cancel_expire_close() {
        let released: Vec<_> = A::ALL.into_iter().filter(|a| releases(*a)).collect();
        assert_eq!(released, [A::Reject, A::Cancel, A::Expire, A::Close]);
    }

    #[test]
    fn ledger_consistency_of_transitions() {
        // A successful transition out of an open claim either keeps the
        // reservation (still open), releases it, or hands it over; only a
        // close does the last two (the rest released, the collected kept).
        for from in S::ALL {
            for action in A::ALL {
                if let Ok(to) = transition(from, action) {
                    assert!(from.is_open(), "{from:?} is final yet {action:?} succeeded");
                    let handed = to == S::HandedOver;
                    let released = releases(action);
                    assert!(!(handed && released) || action == A::Close);
                    assert_eq!(to.is_open(), !handed && !released, "{from:?} {action:?}");
                }
            }
        }
    }

    #[test]
    fn status_strings() {
        for s in S::ALL {
            assert_eq!(S::parse(s.as_str()), Ok(s));
            assert_eq!(S::parse(&s.as_str().to_uppercase()), Ok(s));
        }
        assert_eq!(S::HandedOver.as_str(), "handed_over");
        assert_eq!(S::parse("handed over").unwrap_err().field(), Some("status"));
        let open: Vec<_> = S::ALL.into_iter().filter(|s| s.is_open()).collect();
        assert_eq!(open, [S::Reserved, S::Confirmed]);
    }
}
