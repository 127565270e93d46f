//! The registry's error type and its one mapping to gRPC statuses.

use reemploi_domain::DomainError;
use reemploi_runtime::status;
pub use reemploi_runtime::validation::Violation;
use reemploi_store::StoreError;
use tonic::{Code, Status};

/// Everything a registry operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The request is malformed; nothing was changed.
    #[error("invalid request: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Violation>),
    /// No such partner.
    #[error("partner {0} not found")]
    NotFound(String),
    /// A live partner already has this SIRET.
    #[error("a partner with SIRET {0} is already registered")]
    SiretTaken(String),
    /// The partner is not in a state that allows the operation.
    #[error("{message}")]
    FailedPrecondition {
        /// Stable machine-readable reason.
        reason: &'static str,
        /// What happened, for a person.
        message: String,
    },
    /// The etag sent is not the current one.
    #[error("{0} has changed since it was read (stale etag)")]
    StaleEtag(String),
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

impl RegistryError {
    /// A single-field validation failure.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::Invalid(vec![Violation::new(field, description)])
    }
}

impl From<Vec<Violation>> for RegistryError {
    fn from(v: Vec<Violation>) -> Self {
        Self::Invalid(v)
    }
}

impl From<Violation> for RegistryError {
    fn from(v: Violation) -> Self {
        Self::Invalid(vec![v])
    }
}

impl From<DomainError> for RegistryError {
    fn from(err: DomainError) -> Self {
        match err {
            DomainError::Invalid { .. }
            | DomainError::Overflow { .. }
            | DomainError::UnitMismatch { .. } => {
                Self::Invalid(vec![Violation::from_domain("", &err)])
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

impl From<reemploi_runtime::idempotent::BeginError> for RegistryError {
    fn from(err: reemploi_runtime::idempotent::BeginError) -> Self {
        match err {
            reemploi_runtime::idempotent::BeginError::Reused(v) => Self::Invalid(vec![v]),
            reemploi_runtime::idempotent::BeginError::Store(e) => e.into(),
        }
    }
}

impl From<StoreError> for RegistryError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) => Self::Unavailable(err),
            // Unique keys collide when requests race: the SIRET index is
            // told apart by the operation that inserts (see `service`).
            StoreError::Conflict | StoreError::UniqueViolation { .. } => Self::Conflict,
            StoreError::ForeignKeyViolation { .. }
            | StoreError::CheckViolation { .. }
            | StoreError::Config(_)
            | StoreError::Migrate(_)
            | StoreError::Other(_) => Self::Internal(err.to_string()),
        }
    }
}

impl From<sqlx::Error> for RegistryError {
    fn from(err: sqlx::Error) -> Self {
        StoreError::from(err).into()
    }
}

impl From<RegistryError> for Status {
    fn from(err: RegistryError) -> Status {
        match err {
            RegistryError::Invalid(violations) => status::invalid_request(violations),
            RegistryError::NotFound(name) => status::not_found("partner", &name),
            e @ RegistryError::SiretTaken(_) => {
                status::with_reason(Code::AlreadyExists, e.to_string(), "SIRET_TAKEN")
            }
            RegistryError::FailedPrecondition { reason, message } => {
                status::with_reason(Code::FailedPrecondition, message, reason)
            }
            e @ RegistryError::StaleEtag(_) => {
                status::with_reason(Code::Aborted, e.to_string(), "STALE_ETAG")
            }
            RegistryError::PermissionDenied(m) => {
                status::with_reason(Code::PermissionDenied, m, "PERMISSION_DENIED")
            }
            RegistryError::Conflict => {
                status::with_reason(Code::Aborted, "concurrent update, please retry", "CONFLICT")
            }
            RegistryError::Unavailable(source) => status::storage_unavailable("registry", &source),
            RegistryError::Internal(detail) => status::internal("registry", &detail),
        }
    }
}

/// Results of the registry layer.
pub type Result<T, E = RegistryError> = std::result::Result<T, E>;
