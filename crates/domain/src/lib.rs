//! Pure domain types and rules of reemploi (quantities, per-lot ledger, lot and
//! claim lifecycles, material taxonomy, waste codes, SIRET, coordinates, text
//! fields), kept free of I/O, async and protobuf so every service and the CLI
//! enforce exactly the same rules.

pub mod calendar;
pub mod category;
pub mod claim;
pub mod error;
pub mod geo;
pub mod ledger;
pub mod lot;
pub mod mass;
pub mod partner;
pub mod quantity;
pub mod siret;
pub mod text;
pub mod waste;

pub use error::DomainError;
