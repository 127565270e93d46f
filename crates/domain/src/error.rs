//! The single error type of the domain layer.

use crate::quantity::Unit;

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
    /// More was requested than is available (thousandths of the lot's unit).
    #[error("requested {requested} but only {available} available (thousandths of the unit)")]
    InsufficientQuantity {
        /// Amount asked for.
        requested: i64,
        /// Amount that could be served.
        available: i64,
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
}
