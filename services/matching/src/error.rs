//! The matching service's error type and its one mapping to gRPC statuses.

use reemploi_domain::DomainError;
use reemploi_runtime::status;
pub use reemploi_runtime::validation::Violation;
use reemploi_store::StoreError;
use tonic::{Code, Status};

/// Everything a matching operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum MatchingError {
    /// The request is malformed.
    #[error("invalid request: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Violation>),
    /// Matching knows no such lot, site or partner (yet).
    #[error("{kind} {name} not found")]
    NotFound {
        /// `lot`, `site` or `partner`.
        kind: &'static str,
        /// The name asked for.
        name: String,
    },
    /// The caller may not see this.
    #[error("{0}")]
    PermissionDenied(String),
    /// The allocation could not be computed on this input.
    #[error("{0}")]
    FailedPrecondition(String),
    /// The database cannot be reached.
    #[error("storage unavailable")]
    Unavailable(#[source] StoreError),
    /// An event carries what can never be applied (a malformed name...).
    #[error("bad event: {0}")]
    BadEvent(String),
    /// A bug or a broken invariant; details are logged, not sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<Vec<Violation>> for MatchingError {
    fn from(v: Vec<Violation>) -> Self {
        Self::Invalid(v)
    }
}

impl From<Violation> for MatchingError {
    fn from(v: Violation) -> Self {
        Self::Invalid(vec![v])
    }
}

impl From<DomainError> for MatchingError {
    fn from(err: DomainError) -> Self {
        match err {
            DomainError::Invalid { .. }
            | DomainError::Overflow { .. }
            | DomainError::UnitMismatch { .. } => {
                Self::Invalid(vec![Violation::from_domain("", &err)])
            }
            DomainError::InsufficientQuantity { .. }
            | DomainError::Transition { .. }
            | DomainError::Hazardous => Self::FailedPrecondition(err.to_string()),
        }
    }
}

impl From<StoreError> for MatchingError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) => Self::Unavailable(err),
            StoreError::Conflict
            | StoreError::UniqueViolation { .. }
            | StoreError::ForeignKeyViolation { .. }
            | StoreError::CheckViolation { .. }
            | StoreError::Config(_)
            | StoreError::Migrate(_)
            | StoreError::Other(_) => Self::Internal(err.to_string()),
        }
    }
}

impl From<sqlx::Error> for MatchingError {
    fn from(err: sqlx::Error) -> Self {
        StoreError::from(err).into()
    }
}

impl From<MatchingError> for Status {
    fn from(err: MatchingError) -> Status {
        match err {
            MatchingError::Invalid(violations) => status::invalid_request(violations),
            MatchingError::NotFound { kind, name } => status::not_found(kind, &name),
            MatchingError::PermissionDenied(m) => {
                status::with_reason(Code::PermissionDenied, m, "PERMISSION_DENIED")
            }
            MatchingError::FailedPrecondition(m) => {
                status::with_reason(Code::FailedPrecondition, m, "NOT_ALLOCATABLE")
            }
            MatchingError::Unavailable(source) => status::storage_unavailable("matching", &source),
            MatchingError::BadEvent(detail) | MatchingError::Internal(detail) => {
                status::internal("matching", &detail)
            }
        }
    }
}

impl From<MatchingError> for reemploi_events::HandlerError {
    fn from(err: MatchingError) -> Self {
        use reemploi_events::HandlerError;
        match err {
            // Its own database is down: wait for it.
            MatchingError::Unavailable(store) => HandlerError::from(store),
            MatchingError::BadEvent(m) => HandlerError::Permanent(m),
            other @ (MatchingError::Invalid(_)
            | MatchingError::NotFound { .. }
            | MatchingError::PermissionDenied(_)
            | MatchingError::FailedPrecondition(_)
            | MatchingError::Internal(_)) => HandlerError::Transient(other.to_string()),
        }
    }
}

/// Results of the matching layer.
pub type Result<T, E = MatchingError> = std::result::Result<T, E>;
