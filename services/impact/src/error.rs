//! Impact's errors: the ones every service shares, and its own (an event
//! that can never be applied), with their one mapping to gRPC statuses and
//! to the bus's handler outcomes.

use reemploi_events::HandlerError;
use reemploi_runtime::error::ApiError;
use reemploi_runtime::status;
use tonic::Status;

/// Everything an impact operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ImpactError {
    /// What every service can fail with.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// An event carries what can never be applied (a malformed name...).
    #[error("bad event: {0}")]
    BadEvent(String),
}

reemploi_runtime::api_error_conversions!(ImpactError);

impl From<ImpactError> for Status {
    fn from(err: ImpactError) -> Status {
        match err {
            ImpactError::Api(e) => e.into(),
            // Never an answer to a call: events are not requests.
            ImpactError::BadEvent(detail) => status::internal("event", &detail),
        }
    }
}

impl From<ImpactError> for HandlerError {
    fn from(err: ImpactError) -> Self {
        match err {
            ImpactError::Api(e) => e.into(),
            ImpactError::BadEvent(m) => HandlerError::Permanent(m),
        }
    }
}

/// Results of the impact layer.
pub type Result<T, E = ImpactError> = std::result::Result<T, E>;
