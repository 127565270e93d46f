//! The inventory's error type and its one mapping to gRPC statuses.

use reemploi_domain::DomainError;
use reemploi_store::StoreError;
use tonic::{Code, Status};

pub use reemploi_runtime::validation::Violation;

/// Everything an inventory operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// The request is malformed; nothing was changed.
    #[error("invalid request: {}", describe(.0))]
    Invalid(Vec<Violation>),
    /// The named resource does not exist (or is not visible to the caller).
    #[error("{kind} {name} not found")]
    NotFound {
        /// `site`, `lot`, `claim` or `partner`.
        kind: &'static str,
        /// The resource name asked for.
        name: String,
    },
    /// The resource is not in a state that allows the operation.
    #[error("{message}")]
    FailedPrecondition {
        /// Stable machine-readable reason.
        reason: &'static str,
        /// What happened, for a person.
        message: String,
    },
    /// The etag sent is not the current one: re-read and retry.
    #[error("{name} has changed since it was read (stale etag)")]
    StaleEtag {
        /// The resource name.
        name: String,
    },
    /// The caller may not do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// Concurrent writes collided; the operation may be retried.
    #[error("concurrent update, retry")]
    Conflict,
    /// The database cannot be reached.
    #[error("storage unavailable")]
    Unavailable(#[source] StoreError),
    /// A bug or a broken invariant; details are logged, not sent.
    #[error("internal error: {0}")]
    Internal(String),
}

fn describe(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ")
}

impl InventoryError {
    /// A single-field validation failure.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::Invalid(vec![Violation::new(field, description)])
    }

    /// A failed precondition with a stable reason.
    pub fn precondition(reason: &'static str, message: impl Into<String>) -> Self {
        Self::FailedPrecondition {
            reason,
            message: message.into(),
        }
    }
}

impl From<Vec<Violation>> for InventoryError {
    fn from(violations: Vec<Violation>) -> Self {
        Self::Invalid(violations)
    }
}

impl From<Violation> for InventoryError {
    fn from(violation: Violation) -> Self {
        Self::Invalid(vec![violation])
    }
}

impl From<DomainError> for InventoryError {
    fn from(err: DomainError) -> Self {
        match err {
            DomainError::Invalid { .. } | DomainError::Overflow { .. } => {
                Self::Invalid(vec![Violation::from_domain("", &err)])
            }
            DomainError::UnitMismatch { .. } => {
                Self::Invalid(vec![Violation::new("quantity.unit", err.to_string())])
            }
            DomainError::InsufficientQuantity { .. }
            | DomainError::Transition { .. }
            | DomainError::Hazardous => Self::FailedPrecondition {
                reason: err.reason_code(),
                message: err.to_string(),
            },
        }
    }
}

impl From<reemploi_runtime::idempotent::BeginError> for InventoryError {
    fn from(err: reemploi_runtime::idempotent::BeginError) -> Self {
        match err {
            reemploi_runtime::idempotent::BeginError::Reused(v) => Self::Invalid(vec![v]),
            reemploi_runtime::idempotent::BeginError::Store(e) => e.into(),
        }
    }
}

impl From<StoreError> for InventoryError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) => Self::Unavailable(err),
            // A unique key collides only when two requests race to create the
            // same thing (idempotency keys): the loser retries and sees the winner.
            StoreError::Conflict | StoreError::UniqueViolation { .. } => Self::Conflict,
            StoreError::ForeignKeyViolation { .. }
            | StoreError::CheckViolation { .. }
            | StoreError::Config(_)
            | StoreError::Migrate(_)
            | StoreError::Other(_) => Self::Internal(err.to_string()),
        }
    }
}

impl From<sqlx::Error> for InventoryError {
    fn from(err: sqlx::Error) -> Self {
        StoreError::from(err).into()
    }
}

impl From<InventoryError> for Status {
    fn from(err: InventoryError) -> Status {
        use reemploi_runtime::status;
        match err {
            InventoryError::Invalid(violations) => status::invalid_request(violations),
            InventoryError::NotFound { kind, name } => status::not_found(kind, &name),
            InventoryError::FailedPrecondition { reason, message } => {
                status::with_reason(Code::FailedPrecondition, message, reason)
            }
            e @ InventoryError::StaleEtag { .. } => {
                status::with_reason(Code::Aborted, e.to_string(), "STALE_ETAG")
            }
            InventoryError::PermissionDenied(message) => {
                status::with_reason(Code::PermissionDenied, message, "PERMISSION_DENIED")
            }
            InventoryError::Conflict => {
                status::with_reason(Code::Aborted, "concurrent update, please retry", "CONFLICT")
            }
            InventoryError::Unavailable(source) => {
                status::storage_unavailable("inventory", &source)
            }
            InventoryError::Internal(detail) => status::internal("inventory", &detail),
        }
    }
}

/// Results of the inventory layer.
pub type Result<T, E = InventoryError> = std::result::Result<T, E>;
