//! The platform's own figures for Prometheus, read from the inventory's
//! tables when scraped: lots and claims by status, mass handed over.

use reemploi_domain::claim::ClaimStatus;
use reemploi_domain::lot::LotStatus;
use reemploi_runtime::metrics::{Probe, Samples};
use reemploi_store::Db;
use sqlx::Row;

/// Reads the inventory's figures at every scrape: two grouped counts on
/// the status indexes and one sum, cheap at the platform's sizes.
pub struct InventoryProbe {
    db: Db,
}

impl InventoryProbe {
    /// A probe of the inventory whose database is `db`.
    pub fn new(db: Db) -> InventoryProbe {
        InventoryProbe { db }
    }

    /// `(status, count)` of `table`.
    async fn by_status(&self, table: Table) -> Result<Vec<(String, i64)>, String> {
        let sql = match table {
            Table::Lots => "SELECT status, COUNT(*) AS n FROM lots GROUP BY status",
            Table::Claims => "SELECT status, COUNT(*) AS n FROM claims GROUP BY status",
        };
        let rows = sqlx::query(sql)
            .fetch_all(self.db.pool())
            .await
            .map_err(|e| e.to_string())?;
        rows.iter()
            .map(|row| Ok((row.try_get("status")?, row.try_get("n")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| e.to_string())
    }
}

#[derive(Clone, Copy)]
enum Table {
    Lots,
    Claims,
}

/// Every status of `all` with its count in `found` (0 when absent, so a
/// status that empties shows 0 rather than vanishing).
fn counts<'a>(all: &[&'a str], found: &[(String, i64)]) -> Vec<(&'a str, i64)> {
    all.iter()
        .map(|status| {
            let n = found
                .iter()
                .find(|(s, _)| s == status)
                .map_or(0, |(_, n)| *n);
            (*status, n)
        })
        .collect()
}

#[async_trait::async_trait]
impl Probe for InventoryProbe {
    async fn sample(&self, out: &mut Samples) -> Result<(), String> {
        let lots = self.by_status(Table::Lots).await?;
        let statuses: Vec<&str> = LotStatus::ALL.iter().map(|s| s.as_str()).collect();
        for (status, n) in counts(&statuses, &lots) {
            out.gauge(
                "reemploi_lots",
                "Lots in the inventory, by status",
                &[("status", status)],
                n,
            );
        }
        let claims = self.by_status(Table::Claims).await?;
        let statuses: Vec<&str> = ClaimStatus::ALL.iter().map(|s| s.as_str()).collect();
        for (status, n) in counts(&statuses, &claims) {
            out.gauge(
                "reemploi_claims",
                "Claims on lots, by status",
                &[("status", status)],
                n,
            );
        }
        // SUM of BIGINT is NUMERIC on PostgreSQL: cast back for both backends.
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(weighed_mass_g), 0) AS BIGINT) AS g FROM claims \
             WHERE status = $1",
        )
        .bind(ClaimStatus::HandedOver.as_str())
        .fetch_one(self.db.pool())
        .await
        .map_err(|e| e.to_string())?;
        let grams: i64 = row.try_get("g").map_err(|e| e.to_string())?;
        out.gauge_f64(
            "reemploi_handed_over_mass_kilograms",
            "Mass handed over to partners since the start, weighed, in kilograms",
            &[],
            grams as f64 / 1000.0,
        );
        Ok(())
    }
}
