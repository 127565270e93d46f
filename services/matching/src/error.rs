//! Matching's errors: the ones every service shares, and its own (an event
//! that can never be applied), with their one mapping to gRPC statuses and
//! to the bus's handler outcomes.

use reemploi_events::HandlerError;
use reemploi_runtime::error::ApiError;
use reemploi_runtime::status;
pub use reemploi_runtime::validation::Violation;
use tonic::Status;

/// Everything a matching operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum MatchingError {
    /// What every service can fail with.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// An event carries what can never be applied (a malformed name...).
    #[error("bad event: {0}")]
    BadEvent(String),
}

reemploi_runtime::api_error_conversions!(MatchingError);

impl From<MatchingError> for Status {
    fn from(err: MatchingError) -> Status {
        match err {
            MatchingError::Api(e) => e.into(),
            // Never an answer to a call: events are not requests.
            MatchingError::BadEvent(detail) => status::internal("event", &detail),
        }
    }
}

impl From<MatchingError> for HandlerError {
    fn from(err: MatchingError) -> Self {
        match err {
            MatchingError::Api(e) => e.into(),
            MatchingError::BadEvent(m) => HandlerError::Permanent(m),
        }
    }
}

/// Results of the matching layer.
pub type Result<T, E = MatchingError> = std::result::Result<T, E>;
