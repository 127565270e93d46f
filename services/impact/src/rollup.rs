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
use crate::repo::{self, Of, Scope};

/// Computes a claim's contribution again and records the difference.
pub async fn recompute(conn: &mut AnyConnection, factors: &Factors, claim_id: Uuid) -> Result<()> {
    let Some(claim) = repo::claim(conn, claim_id).await? else {
        return Ok(());
    };
    let lot_name = claim.name().lot;
    let lot = repo::lot(conn, lot_name).await?;
    let site = repo::site(conn, claim.site_id).await?;
    let partner = repo::partner(conn, claim.partner_id).await?;
    let outcomes = repo::outcomes(conn, Scope::Claim(claim_id)).await?;
    let hours = repo::hours(conn, Scope::Claim(claim_id)).await?;
    let first = repo::first_handover(conn, lot_name).await?;
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

/// Computes again the contributions of the claims of `of`.
pub async fn recompute_by(conn: &mut AnyConnection, factors: &Factors, of: Of) -> Result<()> {
    for claim in repo::claims_by(conn, of).await? {
        recompute(conn, factors, claim).await?;
    }
    Ok(())
}
