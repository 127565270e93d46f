//! Process plumbing shared by every reemploi service: configuration blocks
//! (clap flags with environment fallbacks), tracing setup, JWT
//! authentication into a [`auth::Principal`], rate limits, gRPC server
//! bootstrap (TLS, health, reflection, limits, per-RPC tracing), Prometheus
//! metrics and graceful shutdown.
#![forbid(unsafe_code)]

pub mod actor;
pub mod auth;
pub mod config;
pub mod envelope;
pub mod error;
pub mod idempotent;
pub mod keys;
pub mod lapse;
pub mod limit;
pub mod mask;
pub mod metrics;
pub mod names;
pub mod paging;
pub mod partners;
pub mod process;
pub mod revoked;
pub mod server;
pub mod service;
pub mod shutdown;
pub mod status;
pub mod telemetry;
pub mod validation;
mod verified;
pub mod wire;
pub mod wiring;
