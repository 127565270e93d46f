//! `reemploi export geojson`: published lots and verified partners as an
//! RFC 7946 FeatureCollection (WGS84, `[longitude, latitude]`), for QGIS,
//! uMap or any web map.

use std::collections::HashMap;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use reemploi_proto::inventory as pb;
use reemploi_proto::registry as rpb;
use serde_json::{Value, json};

use super::{Ctx, pages};
use crate::CliError;
use crate::client::answer;
use crate::output::note;
use crate::views;

/// The `export` subcommands.
#[derive(Subcommand, Debug)]
pub enum ExportCommand {
    /// Writes published lots and verified partners as GeoJSON (RFC 7946).
    ///
    /// Each lot is a Point feature with kind "lot", its designation,
    /// category, quantity and unit, available quantity, mass, status and
    /// site; each partner a Point with kind "partner", its legal name,
    /// kinds, accepted categories, radius_km and weekly intake.
    #[command(
        after_help = "Examples:\n  reemploi export geojson -o reemploi.geojson\n  reemploi export geojson | jq '.features | length'"
    )]
    Geojson(GeojsonArgs),
}

/// Flags of `export geojson`.
#[derive(Args, Debug)]
pub struct GeojsonArgs {
    /// Where to write; stdout by default.
    #[arg(short = 'o', long = "out")]
    pub out: Option<PathBuf>,
}

/// Runs an `export` subcommand.
pub async fn run(ctx: &Ctx, cmd: ExportCommand) -> Result<(), CliError> {
    let ExportCommand::Geojson(a) = cmd;
    let conn = ctx.connect().await?;
    let inv = conn.inventory();
    let lots = super::lots::fetch_lots(
        &inv,
        "sites/-".to_owned(),
        Some(pb::LotStatus::Published),
        String::new(),
        String::new(),
        0,
    )
    .await?;
    let sites = pages(0, |page_token, page_size| {
        let mut inv = inv.clone();
        async move {
            let r = answer(
                inv.list_sites(pb::ListSitesRequest {
                    page_size,
                    page_token,
                    ..Default::default()
                })
                .await,
            )?;
            Ok((r.sites, r.next_page_token))
        }
    })
    .await?;
    let site_names: HashMap<String, String> = sites
        .into_iter()
        .map(|s| (s.name, s.display_name))
        .collect();
    let partners = super::partners::fetch_partners(
        &conn.registry(),
        Some(rpb::PartnerStatus::Verified),
        0,
        String::new(),
        String::new(),
        0,
    )
    .await?;
    let collection = feature_collection(&lots, &partners, &site_names);
    let text = serde_json::to_string_pretty(&collection)
        .map_err(|e| CliError::Stdout(std::io::Error::other(e)))?;
    match a.out {
        Some(path) => {
            std::fs::write(&path, format!("{text}\n")).map_err(|e| CliError::File {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            note(&format!(
                "wrote {} lot(s) and {} partner(s) to {}",
                lots.len(),
                partners.len(),
                path.display()
            ));
            Ok(())
        }
        None => crate::output::print(&format!("{text}\n")),
    }
}

/// RFC 7946 position: longitude first.
fn point(p: Option<&reemploi_proto::types::GeoPoint>) -> Option<Value> {
    let p = p?;
    Some(json!({"type": "Point", "coordinates": [p.longitude, p.latitude]}))
}

/// A quantity as a JSON number, so that map tools can size and filter on
/// it (display only: thousandths fit a double exactly up to 2^53).
fn amount(q: Option<&reemploi_proto::types::Quantity>) -> Value {
    #[allow(clippy::cast_precision_loss)]
    q.map_or(Value::Null, |q| json!(q.milli as f64 / 1000.0))
}

/// The FeatureCollection; items without a location are left out (a lot
/// always has one: its own or its site's).
pub fn feature_collection(
    lots: &[pb::Lot],
    partners: &[rpb::Partner],
    site_names: &HashMap<String, String>,
) -> Value {
    let mut features = Vec::new();
    for l in lots {
        let Some(geometry) = point(l.location.as_ref()) else {
            continue;
        };
        let site = l.name.split("/lots/").next().unwrap_or_default().to_owned();
        let q = l.quantity.unwrap_or_default();
        features.push(json!({
            "type": "Feature",
            "id": l.name,
            "geometry": geometry,
            "properties": {
                "kind": "lot",
                "name": l.name,
                "reference": l.reference,
                "designation": l.designation,
                "category": l.category,
                "quantity": amount(Some(&q)),
                "unit": reemploi_inventory::model::unit_from_proto(q.unit).map(|u| u.code()).unwrap_or(""),
                "quantity_label": views::quantity(Some(&q)),
                "available": amount(l.available.as_ref()),
                "available_label": views::quantity(l.available.as_ref()),
                "mass_kg": l.estimated_mass_g / 1000,
                "status": views::lot_status_short(l.status),
                "condition": l.condition,
                "waste_code": l.waste_code,
                "site": site,
                "site_name": site_names.get(&site).cloned().unwrap_or_default(),
            },
        }));
    }
    for p in partners {
        let Some(geometry) = point(p.location.as_ref()) else {
            continue;
        };
        let a = p.address.clone().unwrap_or_default();
        features.push(json!({
            "type": "Feature",
            "id": p.name,
            "geometry": geometry,
            // Lists are joined into text: QGIS and uMap show and filter
            // text attributes, not JSON arrays.
            "properties": {
                "kind": "partner",
                "name": p.name,
                "legal_name": p.legal_name,
                "trade_name": p.trade_name,
                "kinds": p.kinds.iter().map(|k| views::kind(*k)).collect::<Vec<_>>().join(", "),
                "accepted_categories": p.accepted_categories.join(", "),
                "radius_km": p.service_radius_km,
                "weekly_intake_kg": p.weekly_intake_kg,
                "commune": a.commune,
                "status": views::partner_status_short(p.status),
            },
        }));
    }
    json!({"type": "FeatureCollection", "features": features})
}
