//! The errors every service shares, and their one mapping to gRPC statuses.
//!
//! A service's own error type is [`ApiError`] itself, or an enum that wraps
//! it (`Api(ApiError)`) beside the variants only that service has, with
//! [`api_error_conversions!`] for the usual `?` conversions.

use reemploi_domain::DomainError;
use reemploi_store::StoreError;
use tonic::{Code, Status};

use crate::status;
use crate::validation::Violation;

/// What an operation of any service can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed; nothing was changed.
    #[error("invalid request: {}", describe(.0))]
    Invalid(Vec<Violation>),
    /// The named resource does not exist (or is not visible to the caller).
    #[error("{kind} {name} not found")]
    NotFound {
        /// `site`, `lot`, `claim`, `partner`...
        kind: &'static str,
        /// The resource name asked for.
        name: String,
    },
    /// The id a client chose for a new resource is taken.
    #[error("{kind} {name} already exists")]
    AlreadyExists {
        /// `site`, `lot`...
        kind: &'static str,
        /// The resource name that is taken.
        name: String,
    },
    /// The caller may not do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// The resource is not in a state that allows the operation.
    #[error("{message}")]
    FailedPrecondition {
        /// Stable machine-readable reason (the ErrorInfo reason).
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
    /// Concurrent writes collided; the operation may be retried.
    #[error("concurrent update, retry")]
    Conflict,
    /// The service's database cannot be reached.
    #[error("storage unavailable")]
    Unavailable(#[source] StoreError),
    /// A bug or a broken invariant; details are logged, not sent.
    #[error("internal error: {0}")]
    Internal(String),
}

fn describe(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl ApiError {
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

    /// A resource of `kind` named `name` that does not exist.
    pub fn not_found(kind: &'static str, name: impl ToString) -> Self {
        Self::NotFound {
            kind,
            name: name.to_string(),
        }
    }
}

impl From<Vec<Violation>> for ApiError {
    fn from(violations: Vec<Violation>) -> Self {
        Self::Invalid(violations)
    }
}

impl From<Violation> for ApiError {
    fn from(violation: Violation) -> Self {
        Self::Invalid(vec![violation])
    }
}

impl From<DomainError> for ApiError {
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

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) => Self::Unavailable(err),
            // A unique key collides only when two requests race to create
            // the same thing: the loser retries and sees the winner.
            StoreError::Conflict | StoreError::UniqueViolation { .. } => Self::Conflict,
            StoreError::ForeignKeyViolation { .. }
            | StoreError::CheckViolation { .. }
            | StoreError::Config(_)
            | StoreError::Migrate(_)
            | StoreError::Other(_) => Self::Internal(err.to_string()),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        StoreError::from(err).into()
    }
}

impl From<crate::idempotent::BeginError> for ApiError {
    fn from(err: crate::idempotent::BeginError) -> Self {
        match err {
            crate::idempotent::BeginError::Reused(v) => Self::Invalid(vec![v]),
            crate::idempotent::BeginError::Store(e) => e.into(),
        }
    }
}

/// What a consumer does when applying an event failed with `err`: waits
/// while its own database is down, and tries again later otherwise (the
/// event may have come before another it needs); an event that can never
/// be applied is the service's own error, refused permanently.
impl From<ApiError> for reemploi_events::HandlerError {
    fn from(err: ApiError) -> Self {
        match err {
            ApiError::Unavailable(store) => reemploi_events::HandlerError::from(store),
            other @ (ApiError::Invalid(_)
            | ApiError::NotFound { .. }
            | ApiError::PermissionDenied(_)
            | ApiError::FailedPrecondition { .. }
            | ApiError::StaleEtag { .. }
            | ApiError::Conflict
            | ApiError::AlreadyExists { .. }
            | ApiError::Internal(_)) => reemploi_events::HandlerError::Transient(other.to_string()),
        }
    }
}

impl From<ApiError> for Status {
    fn from(err: ApiError) -> Status {
        match err {
            ApiError::Invalid(violations) => status::invalid_request(violations),
            ApiError::NotFound { kind, name } => status::not_found(kind, &name),
            e @ ApiError::AlreadyExists { .. } => {
                status::with_reason(Code::AlreadyExists, e.to_string(), "ID_TAKEN")
            }
            ApiError::PermissionDenied(message) => {
                status::with_reason(Code::PermissionDenied, message, "PERMISSION_DENIED")
            }
            ApiError::FailedPrecondition { reason, message } => {
                status::with_reason(Code::FailedPrecondition, message, reason)
            }
            e @ ApiError::StaleEtag { .. } => {
                status::with_reason(Code::Aborted, e.to_string(), "STALE_ETAG")
            }
            ApiError::Conflict => {
                status::with_reason(Code::Aborted, "concurrent update, please retry", "CONFLICT")
            }
            ApiError::Unavailable(source) => status::storage_unavailable(&source),
            ApiError::Internal(detail) => status::internal("request", &detail),
        }
    }
}

/// Implements, for a service error enum with an `Api(ApiError)` variant,
/// the conversions `?` needs from everything [`ApiError`] converts from.
#[macro_export]
macro_rules! api_error_conversions {
    ($error:ty) => {
        $crate::api_error_conversions!(
            @each $error,
            ::std::vec::Vec<$crate::validation::Violation>,
            $crate::validation::Violation,
            ::reemploi_domain::DomainError,
            ::reemploi_store::StoreError,
            ::sqlx::Error,
            $crate::idempotent::BeginError
        );
    };
    (@each $error:ty, $($from:ty),*) => {$(
        impl ::std::convert::From<$from> for $error {
            fn from(err: $from) -> Self {
                Self::Api($crate::error::ApiError::from(err))
            }
        }
    )*};
}
