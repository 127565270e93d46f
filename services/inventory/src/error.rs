//! The inventory's errors: the ones every service shares, with their one
//! mapping to gRPC statuses (the inventory has none of its own).

pub use reemploi_runtime::error::ApiError as InventoryError;
pub use reemploi_runtime::validation::Violation;

/// Results of the inventory layer.
pub type Result<T, E = InventoryError> = std::result::Result<T, E>;
