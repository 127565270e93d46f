//! Who may do what in the inventory: site managers act on their
//! organisation's sites, partners claim for themselves, admins do all,
//! integrators read.

use reemploi_runtime::auth::{Principal, Role};
use uuid::Uuid;

use crate::error::{InventoryError, Result};

fn denied(what: &str) -> InventoryError {
    InventoryError::PermissionDenied(what.to_string())
}

/// Site managers of `owner_org`, and admins, manage a site and its lots and claims.
pub fn manage(p: &Principal, owner_org: &str) -> Result<()> {
    match p.role {
        Role::Admin => Ok(()),
        Role::SiteManager if p.org.as_deref() == Some(owner_org) => Ok(()),
        Role::SiteManager => Err(denied("this site belongs to another organisation")),
        Role::Partner | Role::Integrator => {
            Err(denied("only site managers and admins manage sites"))
        }
    }
}

/// Who may read a site of `owner_org`: among site managers, its own
/// organisation's only (another organisation's sites are none of theirs);
/// everyone else, since partners look for lots by site.
pub fn sees_site(p: &Principal, owner_org: &str) -> bool {
    match p.role {
        Role::SiteManager => p.org.as_deref() == Some(owner_org),
        Role::Admin | Role::Integrator | Role::Partner => true,
    }
}

/// Who may see draft lots of `owner_org`.
pub fn sees_drafts(p: &Principal, owner_org: &str) -> bool {
    match p.role {
        Role::Admin | Role::Integrator => true,
        Role::SiteManager => p.org.as_deref() == Some(owner_org),
        Role::Partner => false,
    }
}

/// A partner claims for itself only; admins may claim for any partner.
pub fn claim_for(p: &Principal, partner: Uuid) -> Result<()> {
    match p.role {
        Role::Admin => Ok(()),
        Role::Partner if p.own_partner() == Some(partner) => Ok(()),
        Role::Partner => Err(denied("a partner claims for itself only")),
        Role::SiteManager | Role::Integrator => Err(denied("only partners claim lots")),
    }
}

/// Who may see a claim: admins and integrators, the site's managers, the claimant.
pub fn sees_claim(p: &Principal, owner_org: &str, partner: Uuid) -> bool {
    match p.role {
        Role::Admin | Role::Integrator => true,
        Role::SiteManager => p.org.as_deref() == Some(owner_org),
        Role::Partner => p.own_partner() == Some(partner),
    }
}

/// Cancelling: the claimant, the site's managers, admins.
pub fn cancel(p: &Principal, owner_org: &str, partner: Uuid) -> Result<()> {
    match p.role {
        Role::Partner if p.own_partner() == Some(partner) => Ok(()),
        Role::Partner => Err(denied("a partner cancels its own claims only")),
        Role::Admin | Role::SiteManager | Role::Integrator => manage(p, owner_org),
    }
}

/// Watching the change stream: integrators and admins.
pub fn watch(p: &Principal) -> Result<()> {
    match p.role {
        Role::Admin | Role::Integrator => Ok(()),
        Role::SiteManager | Role::Partner => Err(denied("the change stream is for integrators")),
    }
}

/// Creating a site: admins for anyone, site managers for their organisation.
/// Returns the owner organisation to record.
pub fn create_site(p: &Principal, requested_org: &str) -> Result<String> {
    match (p.role, p.org.as_deref()) {
        (Role::Admin, _) => Ok(requested_org.to_string()),
        (Role::SiteManager, Some(org)) if requested_org.is_empty() || requested_org == org => {
            Ok(org.to_string())
        }
        (Role::SiteManager, _) => Err(denied(
            "a site manager creates sites for its own organisation",
        )),
        (Role::Partner | Role::Integrator, _) => {
            Err(denied("only site managers and admins create sites"))
        }
    }
}

/// Booking a pick-up slot: the claim's partner, and admins for it.
pub fn book_pickup(p: &Principal, partner: Uuid) -> Result<()> {
    match p.role {
        Role::Admin => Ok(()),
        Role::Partner if p.own_partner() == Some(partner) => Ok(()),
        Role::Partner => Err(denied("a partner books pick-ups for its own claims only")),
        Role::SiteManager | Role::Integrator => {
            Err(denied("only the claim's partner books its pick-up"))
        }
    }
}
