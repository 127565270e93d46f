//! `reemploi up --demo`: the m2A sample, loaded through the inventory's
//! in-process API as an admin. Idempotent: the site and lots carry fixed
//! request ids, so a restart gets the first results back, and lots already
//! published are left as they are.

use reemploi_inventory::{Inventory, InventoryError, diagnostic};
use reemploi_proto::inventory as pb;
use reemploi_proto::types as tpb;
use reemploi_runtime::auth::{Principal, Role};

use crate::CliError;

/// The sample diagnostic (PEMD) of the Coteaux tower A demolition.
pub const DIAGNOSTIC_CSV: &str = include_str!("../../../demo/diagnostic-coteaux.csv");

/// Idempotency key of the demo site.
pub const SITE_REQUEST_ID: &str = "demo-site";
/// Idempotency key of the demo lots.
pub const LOTS_REQUEST_ID: &str = "demo-lots";

/// What the demo loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The site's resource name.
    pub site: String,
    /// Lots on the site.
    pub lots: usize,
    /// Lots published, now or by an earlier run.
    pub published: usize,
    /// Hazardous lots, left as drafts.
    pub hazardous: usize,
}

fn admin() -> Principal {
    Principal {
        subject: "demo".to_owned(),
        role: Role::Admin,
        org: None,
        partner: None,
    }
}

/// The demo site (operation, location and INSEE code from demo/m2a-places.csv).
pub fn site() -> pb::Site {
    pb::Site {
        display_name: "Coteaux – démolition tour A".to_owned(),
        operation: Some(pb::Operation {
            programme: "NPNRU".to_owned(),
            quartier: "Coteaux".to_owned(),
            commune: "Mulhouse".to_owned(),
            insee_code: "68224".to_owned(),
        }),
        location: Some(tpb::GeoPoint {
            latitude: 47.7460,
            longitude: 7.3010,
        }),
        owner_org: "m2a-habitat".to_owned(),
        ..Default::default()
    }
}

/// Loads the sample: the site, its lots, then publishes every lot that is
/// not hazardous.
pub async fn load(inventory: &Inventory) -> Result<Loaded, CliError> {
    let p = admin();
    let site = inventory
        .create_site(
            &p,
            pb::CreateSiteRequest {
                site: Some(site()),
                request_id: SITE_REQUEST_ID.to_owned(),
            },
        )
        .await
        .map_err(|e| CliError::Demo(format!("create site: {e}")))?;
    let lots = diagnostic::read(DIAGNOSTIC_CSV).map_err(|rows| {
        let rows: Vec<String> = rows
            .iter()
            .map(|r| format!("line {}: {}", r.line, r.reason))
            .collect();
        CliError::Demo(format!("diagnostic: {}", rows.join("; ")))
    })?;
    let created = inventory
        .batch_create_lots(
            &p,
            pb::BatchCreateLotsRequest {
                parent: site.name.clone(),
                requests: lots
                    .into_iter()
                    .map(|lot| pb::CreateLotRequest {
                        parent: site.name.clone(),
                        lot: Some(lot),
                        request_id: String::new(),
                    })
                    .collect(),
                request_id: LOTS_REQUEST_ID.to_owned(),
            },
        )
        .await
        .map_err(|e| CliError::Demo(format!("create lots: {e}")))?;
    let mut loaded = Loaded {
        site: site.name.clone(),
        lots: created.lots.len(),
        published: 0,
        hazardous: 0,
    };
    for lot in created.lots {
        if lot.hazardous {
            loaded.hazardous += 1;
            continue;
        }
        // A replay of the batch returns the lots as they are now: those an
        // earlier run published need nothing more.
        if lot.status == pb::LotStatus::Published as i32 {
            loaded.published += 1;
            continue;
        }
        let req = pb::PublishLotRequest {
            name: lot.name.clone(),
            etag: String::new(),
        };
        match inventory.publish_lot(&p, req).await {
            Ok(_) => loaded.published += 1,
            // Published meanwhile (e.g. by a client between the replay and
            // now): publishing twice is refused, and that is fine.
            Err(InventoryError::FailedPrecondition { reason, .. }) => {
                tracing::debug!(lot = %lot.name, reason, "demo lot not published again");
            }
            Err(e) => return Err(CliError::Demo(format!("publish {}: {e}", lot.name))),
        }
    }
    Ok(loaded)
}
