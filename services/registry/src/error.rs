//! The registry's errors: the ones every service shares, and its own (a
//! SIRET already taken), with their one mapping to gRPC statuses.

use reemploi_runtime::error::ApiError;
use reemploi_runtime::status;
pub use reemploi_runtime::validation::Violation;
use tonic::{Code, Status};

/// Everything a registry operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// What every service can fail with.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// A live partner already has this SIRET.
    #[error("a partner with SIRET {0} is already registered")]
    SiretTaken(String),
}

reemploi_runtime::api_error_conversions!(RegistryError);

impl From<RegistryError> for Status {
    fn from(err: RegistryError) -> Status {
        match err {
            RegistryError::Api(e) => e.into(),
            e @ RegistryError::SiretTaken(_) => {
                status::with_reason(Code::AlreadyExists, e.to_string(), "SIRET_TAKEN")
            }
        }
    }
}

/// Results of the registry layer.
pub type Result<T, E = RegistryError> = std::result::Result<T, E>;
