//! Keeping the figures true: a claim's contribution is computed again from
//! everything it depends on whenever one of those changes, and the monthly
//! sums move by the difference. Since a contribution depends only on the
//! current projections and declarations, the figures do not depend on the
//! order in which events arrive, nor on how often.

use sqlx::AnyConnection;
use uuid::Uuid;

use crate::error::Result;
use crate::factors::Factors;
use crate::model::{Inputs, contribution};
use crate::repo::{self, Scope};

/// Computes a claim's contribution again and records the difference.
pub async fn recompute(conn: &mut AnyConnection, factors: &Factors, claim_id: Uuid) -> Result<()> {
    let Some(claim) = repo::claim(conn, claim_id).await? else {
        return Ok(());
    };
    let lot = repo::lot(conn, claim.lot_id).await?;
    let site = repo::site(conn, claim.site_id).await?;
    let partner = repo::partner(conn, claim.partner_id).await?;
    let outcomes = repo::outcomes(conn, Scope::Claim(claim_id)).await?;
    let hours = repo::hours(conn, Scope::Claim(claim_id)).await?;
    let first = repo::first_handover(conn, claim.lot_id).await?;
    let new = contribution(
        &Inputs {
            claim: &claim,
            lot: lot.as_ref(),
            site: site.as_ref(),
            partner: partner.as_ref(),
            outcomes: &outcomes,
            hours: &hours,
            first_of_lot: first == Some(claim_id),
        },
        factors,
    );
    let old = repo::contribution(conn, claim_id).await?;
    if old != new {
        repo::replace_contribution(conn, claim_id, old.as_ref(), new.as_ref()).await?;
    }
    Ok(())
}

/// Computes again the contributions of the claims whose `column`
/// (`lot_id`, `site_id`, `partner_id`) is `id`.
pub async fn recompute_by(
    conn: &mut AnyConnection,
    factors: &Factors,
    column: &str,
    id: Uuid,
) -> Result<()> {
    for claim in repo::claims_by(conn, column, id).await? {
        recompute(conn, factors, claim).await?;
    }
    Ok(())
}
