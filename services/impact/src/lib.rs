//! The reemploi impact service: what the materials handed over became, the
//! insertion work they gave, and the territory's figures (tonnes kept, CO2e
//! avoided, insertion hours) with the récolement of each site. Keeps its own
//! projections of sites, lots, claims and partners from events, and from
//! them the audit trail (who changed what); publishes nothing.

pub mod audit;
pub mod calendar;
pub mod declare;
pub mod error;
pub mod events;
pub mod factors;
pub mod model;
pub mod recolement;
pub mod repo;
pub mod rollup;
pub mod service;
pub mod summary;

use reemploi_proto::audit::audit_service_server::AuditServiceServer;
use reemploi_proto::impact::impact_service_server::ImpactServiceServer;
use reemploi_proto::service_names::IMPACT;
use reemploi_runtime::service::{Context, Running, StartError};
use reemploi_store::Migrations;

use crate::audit::Audit;

pub use error::ImpactError;
pub use factors::{Factors, METHOD_VERSION};
pub use service::Impact;

/// The impact service's embedded migrations, per backend.
pub fn migrations() -> Migrations {
    Migrations {
        sqlite: sqlx::migrate!("./migrations/sqlite"),
        postgres: sqlx::migrate!("./migrations/postgres"),
    }
}

/// Default hours in one full-time equivalent year (the legal 1,607 h).
pub const DEFAULT_FTE_HOURS: i32 = 1607;

/// Impact's settings.
#[derive(clap::Args, Debug, Clone)]
pub struct ImpactArgs {
    /// Hours in one full-time equivalent year, the divisor of the FTE
    /// figures: 1,607 h is the legal working year; ateliers et chantiers
    /// d'insertion often count 1,820 paid hours (35 h × 52 weeks).
    #[arg(
        long = "fte-hours-per-year",
        env = "REEMPLOI_FTE_HOURS_PER_YEAR",
        default_value_t = DEFAULT_FTE_HOURS,
        value_parser = clap::value_parser!(i32).range(1..=8784)
    )]
    pub fte_hours_per_year: i32,
}

impl Default for ImpactArgs {
    fn default() -> Self {
        ImpactArgs {
            fte_hours_per_year: DEFAULT_FTE_HOURS,
        }
    }
}

/// Migrates, then follows the inventory's and the registry's events.
pub async fn start(ctx: Context, args: &ImpactArgs) -> Result<Running, StartError> {
    let prepared = ctx.prepare(events::PRODUCER, &migrations()).await?;
    let factors = Factors::shipped().map_err(|e| StartError::Other {
        service: events::PRODUCER,
        reason: e.to_string(),
    })?;
    let impact = Impact::new(ctx.db.clone(), factors, args.fte_hours_per_year);
    let service = ctx.authenticated(
        ImpactServiceServer::new(impact.clone())
            .max_decoding_message_size(ctx.max_message_bytes)
            .max_encoding_message_size(ctx.max_message_bytes),
    );
    let audit = ctx.authenticated(
        AuditServiceServer::new(Audit::new(ctx.db.clone(), prepared.pager))
            .max_decoding_message_size(ctx.max_message_bytes)
            .max_encoding_message_size(ctx.max_message_bytes),
    );
    let mut running = Running::new(IMPACT, |routes| {
        routes.add_service(service).add_service(audit)
    });
    for subscription in events::subscriptions(ctx.max_deliver) {
        let name = subscription.durable.clone();
        let handler = events::Consumer::new(impact.clone(), &name);
        let consumer = ctx
            .subscribe(events::PRODUCER, subscription, handler)
            .await?;
        running = running.task(format!("impact consumer {name}"), consumer);
    }
    Ok(running)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod upgrade_tests;
