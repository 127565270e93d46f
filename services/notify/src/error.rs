//! The notification service's errors: the ones every service shares, and
//! its own (an event that can never be applied), with their one mapping to
//! gRPC statuses and to the bus's handler outcomes.

use reemploi_events::HandlerError;
use reemploi_runtime::error::ApiError;
use reemploi_runtime::status;
use tonic::Status;

/// Everything a notification operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// What every service can fail with.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// An event carries what can never be applied (a malformed name...).
    #[error("bad event: {0}")]
    BadEvent(String),
}

reemploi_runtime::api_error_conversions!(NotifyError);

impl From<NotifyError> for Status {
    fn from(err: NotifyError) -> Status {
        match err {
            NotifyError::Api(e) => e.into(),
            // Never an answer to a call: events are not requests.
            NotifyError::BadEvent(detail) => status::internal("event", &detail),
        }
    }
}

impl From<NotifyError> for HandlerError {
    fn from(err: NotifyError) -> Self {
        match err {
            NotifyError::Api(e) => e.into(),
            NotifyError::BadEvent(m) => HandlerError::Permanent(m),
        }
    }
}

/// Results of the notification layer.
pub type Result<T, E = NotifyError> = std::result::Result<T, E>;
