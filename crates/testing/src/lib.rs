//! Test support shared by every crate's tests, so that production crates
//! carry no test code: a fresh database per test on SQLite or PostgreSQL
//! ([`db`]), throwaway `nats-server` processes (one, or a three-node
//! JetStream cluster) and namespaces on a shared one ([`nats`]), a TCP proxy
//! that cuts a service off from its database ([`proxy`]), services served on
//! port 0 with tokens for every role ([`grpc`]), their metrics endpoint
//! scraped over HTTP ([`metrics`]), certificates made at test time for
//! TLS ([`tls`]), and databases of an earlier schema holding fixture rows,
//! upgraded by a service's migrations ([`upgrade`]).
#![forbid(unsafe_code)]
// Test support reports a broken environment by panicking: that is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod db;
pub mod grpc;
pub mod metrics;
pub mod nats;
pub mod proxy;
pub mod tls;
pub mod upgrade;

pub use reemploi_store::Backend;
