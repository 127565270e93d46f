//! ExportRecolement: per diagnostic row (lot) of a site, what was estimated
//! and what became of it — the fields of the PEMD récolement (Cerfa
//! 16288), with the hand-overs as its proof.

use std::collections::BTreeMap;

use reemploi_proto::impact as pb;
use reemploi_proto::types::Quantity;
use reemploi_runtime::auth::{Principal, Role};
use reemploi_runtime::error::ApiError;
use reemploi_runtime::names::SiteName;

use crate::error::Result;
use crate::factors::METHOD_VERSION;
use crate::model::{Claim, Lot, Outcome, is_reuse};
use crate::repo::{self, Scope};
use crate::service::Impact;

impl Impact {
    /// The récolement of a site, for admins, integrators and the site's managers.
    pub async fn recolement(
        &self,
        p: &Principal,
        req: &pb::ExportRecolementRequest,
    ) -> Result<pb::Recolement> {
        let id = SiteName::parse("site", &req.site)?.0;
        let mut conn = self.db().pool().acquire().await?;
        let missing = || ApiError::not_found("site", req.site.clone());
        let site = repo::site(&mut conn, id).await?.ok_or_else(missing)?;
        match p.role {
            Role::Admin | Role::Integrator => {}
            Role::SiteManager if p.org.as_ref() == Some(&site.owner_org) => {}
            Role::SiteManager => return Err(missing().into()),
            Role::Partner => {
                return Err(ApiError::PermissionDenied(
                    "the récolement is the site's and the territory's".into(),
                )
                .into());
            }
        }
        let lots = repo::lots_of_site(&mut conn, id).await?;
        let claims = repo::claims_of_site(&mut conn, id).await?;
        let outcomes = repo::outcomes(&mut conn, Scope::Site(id)).await?;
        let on_site = repo::site_reuse(&mut conn, id).await?;
        let mut rows: Vec<pb::RecolementRow> = lots
            .iter()
            .map(|l| {
                let here = on_site
                    .iter()
                    .filter(|(lot, _)| *lot == l.id)
                    .map(|(_, g)| g)
                    .sum();
                row(l, &claims, &outcomes, here)
            })
            .collect();
        rows.sort_by(|a, b| {
            natural(&a.reference)
                .cmp(&natural(&b.reference))
                .then(a.lot.cmp(&b.lot))
        });
        Ok(pb::Recolement {
            site: req.site.clone(),
            display_name: site.display_name,
            rows,
            method_version: METHOD_VERSION.to_owned(),
        })
    }
}

/// A reference ordered as people read it: `M2` before `M10`.
fn natural(reference: &str) -> (String, u64, String) {
    let head: String = reference
        .chars()
        .take_while(|c| !c.is_ascii_digit())
        .collect();
    let rest = &reference[head.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let number = digits.parse().unwrap_or(u64::MAX);
    (head, number, rest[digits.len()..].to_owned())
}

fn row(
    lot: &Lot,
    claims: &[Claim],
    outcomes: &[Outcome],
    reused_on_site_g: i64,
) -> pb::RecolementRow {
    let handed: Vec<&Claim> = claims
        .iter()
        .filter(|c| c.lot_id == lot.id && c.handed_over())
        .collect();
    let handed_q: i64 = handed.iter().map(|c| c.quantity_milli).sum();
    let handed_g: i64 = handed.iter().map(|c| c.weighed_mass_g).sum();
    let mine: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| handed.iter().any(|c| c.id == o.claim.claim))
        .collect();
    let sum = |f: &dyn Fn(pb::OutcomeKind) -> bool| -> i64 {
        mine.iter().filter(|o| f(o.kind)).map(|o| o.mass_g).sum()
    };
    let reused = sum(&is_reuse);
    let recycled = sum(&|k| k == pb::OutcomeKind::Recycled);
    let mut disposed = sum(&|k| k == pb::OutcomeKind::Disposed);
    let mut destinations: BTreeMap<(i32, String, String), i64> = BTreeMap::new();
    for o in &mine {
        *destinations
            .entry((o.kind.into(), o.destination.clone(), o.siret.clone()))
            .or_default() += o.mass_g;
    }
    let mut not_handed = (lot.estimated_mass_g - handed_g - reused_on_site_g).max(0);
    if lot.hazardous {
        // Never reused: the whole estimate leaves through the hazardous-waste route.
        disposed += not_handed;
        not_handed = 0;
    }
    pb::RecolementRow {
        lot: lot.name().to_string(),
        reference: lot.reference.clone(),
        designation: lot.designation.clone(),
        category: lot.category.clone(),
        waste_code: lot.waste_code.clone(),
        hazardous: lot.hazardous,
        estimated_quantity: Some(Quantity {
            unit: lot.unit,
            milli: lot.quantity_milli,
        }),
        estimated_mass_g: lot.estimated_mass_g,
        handed_over_quantity: Some(Quantity {
            unit: lot.unit,
            milli: handed_q,
        }),
        handed_over_mass_g: handed_g,
        reused_elsewhere_mass_g: reused,
        recycled_mass_g: recycled,
        disposed_mass_g: disposed,
        undeclared_mass_g: (handed_g
            - reused
            - recycled
            - sum(&|k| k == pb::OutcomeKind::Disposed))
        .max(0),
        not_handed_over_mass_g: not_handed,
        reused_on_site_mass_g: reused_on_site_g,
        destinations: destinations
            .into_iter()
            .map(|((kind, destination, siret), mass_g)| pb::Destination {
                kind,
                destination,
                siret,
                mass_g,
            })
            .collect(),
        handovers: handed.iter().map(|c| c.name().to_string()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::natural;

    #[test]
    fn references_sort_as_people_read_them() {
        let mut refs = vec!["M10", "M2", "M1", "A3", ""];
        refs.sort_by_key(|r| natural(r));
        assert_eq!(refs, ["", "A3", "M1", "M2", "M10"]);
    }
}
