//! The single error type of the domain layer.

use crate::quantity::{Quantity, Unit};

/// Everything a domain rule can refuse.
///
/// Each variant carries enough for the API layer to build a gRPC field
/// violation or an `ErrorInfo`; the `field` names are short logical names that
/// the caller prefixes with its own message path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// One field failed validation.
    #[error("{field}: {reason}")]
    Invalid {
        /// Logical field name, e.g. `"quantity"`, `"siret"`.
        field: &'static str,
        /// Human-readable explanation, safe to send to a client.
        reason: String,
    },
    /// Checked arithmetic on a field would overflow `i64`.
    #[error("{field}: arithmetic overflow")]
    Overflow {
        /// Logical field name.
        field: &'static str,
    },
    /// More was requested than is available, in thousandths of the lot's
    /// unit; said in that unit once it is known ([`DomainError::in_unit`]).
    #[error("{}", insufficient(*requested, *available, *unit))]
    InsufficientQuantity {
        /// Amount asked for.
        requested: i64,
        /// Amount that could be served.
        available: i64,
        /// The lot's unit, when the caller knows it (a ledger does not).
        unit: Option<Unit>,
    },
    /// The lifecycle of `entity` does not allow `action` from state `from`.
    #[error("cannot {action} a {entity} that is {from}")]
    Transition {
        /// `"lot"` or `"claim"`.
        entity: &'static str,
        /// Current state, as its stable string.
        from: &'static str,
        /// Refused action, as its stable string.
        action: &'static str,
    },
    /// A hazardous lot can never be published for reuse.
    #[error("a hazardous lot cannot be published for reuse")]
    Hazardous,
    /// Two quantities in different units were combined.
    #[error("unit mismatch: expected {expected}, found {found}")]
    UnitMismatch {
        /// Unit of the left operand (or of the lot).
        expected: Unit,
        /// Unit that was supplied.
        found: Unit,
    },
}

impl DomainError {
    /// Shorthand for [`DomainError::Invalid`].
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }

    /// The same error, with its quantities said in `unit` (the ledger
    /// counts thousandths and does not know the lot's unit; its caller does).
    pub fn in_unit(self, unit: Unit) -> Self {
        match self {
            Self::InsufficientQuantity {
                requested,
                available,
                ..
            } => Self::InsufficientQuantity {
                requested,
                available,
                unit: Some(unit),
            },
            other => other,
        }
    }

    /// The logical field concerned, when the error is about one field.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::Invalid { field, .. } | Self::Overflow { field } => Some(field),
            _ => None,
        }
    }

    /// A stable, machine-readable reason (UPPER_SNAKE_CASE) suitable for
    /// `google.rpc.ErrorInfo.reason`; it never changes once published.
    pub fn reason_code(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => "INVALID_FIELD",
            Self::Overflow { .. } => "QUANTITY_OVERFLOW",
            Self::InsufficientQuantity { .. } => "INSUFFICIENT_QUANTITY",
            Self::Transition { .. } => "ILLEGAL_TRANSITION",
            Self::Hazardous => "HAZARDOUS_LOT",
            Self::UnitMismatch { .. } => "UNIT_MISMATCH",
        }
    }
}

/// `500 u requested, 150 u available`; without a unit, the thousandths.
fn insufficient(requested: i64, available: i64, unit: Option<Unit>) -> String {
    match unit {
        Some(unit) => {
            let said = |milli| {
                Quantity::new(milli, unit)
                    .map_or_else(|_| milli.to_string(), |q| q.to_decimal_string())
            };
            let symbol = unit.symbol();
            format!(
                "{} {symbol} requested, {} {symbol} available",
                said(requested),
                said(available)
            )
        }
        None => format!("{requested} requested, {available} available (thousandths of the unit)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_and_reason_code() {
        let e = DomainError::invalid("siret", "bad");
        assert_eq!(e.field(), Some("siret"));
        assert_eq!(e.reason_code(), "INVALID_FIELD");
        assert_eq!(e.to_string(), "siret: bad");
        assert_eq!(DomainError::Hazardous.field(), None);
        let t = DomainError::Transition {
            entity: "lot",
            from: "withdrawn",
            action: "publish",
        };
        assert_eq!(t.to_string(), "cannot publish a lot that is withdrawn");
        let u = DomainError::UnitMismatch {
            expected: Unit::Kilogram,
            found: Unit::Tonne,
        };
        assert_eq!(u.to_string(), "unit mismatch: expected kg, found t");
    }

    #[test]
    fn quantities_are_said_in_the_lot_unit_once_known() {
        let e = DomainError::InsufficientQuantity {
            requested: 500_000,
            available: 150_000,
            unit: None,
        };
        assert_eq!(
            e.to_string(),
            "500000 requested, 150000 available (thousandths of the unit)"
        );
        assert_eq!(
            e.clone().in_unit(Unit::Piece).to_string(),
            "500 u requested, 150 u available"
        );
        let m2 = DomainError::InsufficientQuantity {
            requested: 12_500,
            available: 2_250,
            unit: None,
        }
        .in_unit(Unit::SquareMetre);
        assert_eq!(m2.to_string(), "12.5 m² requested, 2.25 m² available");
        assert_eq!(m2.reason_code(), "INSUFFICIENT_QUANTITY");
        assert_eq!(
            DomainError::Hazardous.in_unit(Unit::Piece),
            DomainError::Hazardous
        );
    }
}
