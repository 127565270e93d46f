//! `reemploi export geojson`: lots on offer or all taken, and verified
//! partners, or the
//! territory's figures per quartier and per commune, as an RFC 7946
//! FeatureCollection (WGS84, `[longitude, latitude]`), for QGIS, uMap or
//! any web map.

use std::collections::HashMap;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use prost_types::Timestamp;
use reemploi_proto::impact as ipb;
use reemploi_proto::inventory as pb;
use reemploi_proto::registry as rpb;
use serde_json::{Value, json};

use super::{Ctx, pages};
use crate::CliError;
use crate::client::{Connection, answer};
use crate::dates::{parse_end, parse_start};
use crate::figures::{self, tonnes3};
use crate::output::note;
use crate::places::{self, Place};
use crate::views;

/// The `export` subcommands.
#[derive(Subcommand, Debug)]
pub enum ExportCommand {
    /// Writes the lots on offer and those all taken (published and
    /// exhausted; of one site with --site) and the verified partners, or
    /// with --figures the territory's figures, as GeoJSON (RFC 7946).
    ///
    /// Each lot is a Point feature, at its own place when it has one
    /// (`lots update --lat --lon`), else at its site's, with kind "lot",
    /// its designation, category, quantity and unit, the quantities
    /// available, reserved and handed over, mass, status and site; each
    /// partner a Point with kind "partner", its legal name, kinds, accepted
    /// categories, radius_km and weekly intake.
    ///
    /// With --figures, instead: one Point per quartier and per commune that
    /// has figures (as `reemploi impact --by quartier` and `--by commune`
    /// count them), at the approximate centres of the sample places file
    /// (demo/m2a-places.csv), with kind "quartier" or "commune", its name,
    /// commune and INSEE code, handed_over_t and reused_t (tonnes),
    /// co2e_net_t (t CO2e), hours, fte and method_version. A quartier or a
    /// commune not in that file is named on stderr, not drawn.
    #[command(
        after_help = "Examples:\n  reemploi export geojson --out reemploi.geojson\n  reemploi export geojson | jq '.features | length'\n  reemploi export geojson --figures --from 2026-01 --to 2026-12 --out figures.geojson"
    )]
    Geojson(GeojsonArgs),
}

/// Flags of `export geojson`.
#[derive(Args, Debug)]
pub struct GeojsonArgs {
    /// Where to write; stdout by default.
    #[arg(long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Only the lots of this site (`sites/ID` or `ID`); every site's by
    /// default.
    #[arg(long, conflicts_with = "figures")]
    pub site: Option<String>,
    /// The figures per quartier and per commune instead of lots and
    /// partners.
    #[arg(long)]
    pub figures: bool,
    /// With --figures: start of the period, as `reemploi impact --from`.
    #[arg(long, value_name = "DATE", value_parser = parse_start, requires = "figures")]
    pub from: Option<Timestamp>,
    /// With --figures: end of the period, as `reemploi impact --to`.
    #[arg(long, value_name = "DATE", value_parser = parse_end, requires = "figures")]
    pub to: Option<Timestamp>,
}

/// Runs an `export` subcommand.
pub async fn run(ctx: &Ctx, cmd: ExportCommand) -> Result<(), CliError> {
    let ExportCommand::Geojson(a) = cmd;
    let conn = ctx.connect().await?;
    let (collection, what) = if a.figures {
        figures_map(&conn, a.from, a.to).await?
    } else {
        lots_and_partners(&conn, a.site.as_deref()).await?
    };
    let text = serde_json::to_string_pretty(&collection)
        .map_err(|e| CliError::Stdout(std::io::Error::other(e)))?;
    match a.out {
        Some(path) => {
            std::fs::write(&path, format!("{text}\n")).map_err(|e| CliError::File {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            note(&format!("wrote {what} to {}", path.display()));
            Ok(())
        }
        None => crate::output::print(&format!("{text}\n")),
    }
}

/// The lots on offer and those all taken (with what was handed over), of
/// one site or all, and the verified partners; and what they are for the
/// note.
async fn lots_and_partners(
    conn: &Connection,
    site: Option<&str>,
) -> Result<(Value, String), CliError> {
    let inv = conn.inventory();
    let parent = site.map_or_else(|| "sites/-".to_owned(), crate::client::site_name);
    let mut lots = Vec::new();
    for status in [pb::LotStatus::Published, pb::LotStatus::Exhausted] {
        let some = super::lots::fetch_lots(
            &inv,
            parent.clone(),
            Some(status),
            String::new(),
            String::new(),
            0,
        )
        .await?;
        lots.extend(some);
    }
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
    let what = format!("{} lot(s) and {} partner(s)", lots.len(), partners.len());
    Ok((feature_collection(&lots, &partners, &site_names), what))
}

/// The figures by quartier and by commune, and what they are for the note;
/// the groups without a place are named on stderr.
async fn figures_map(
    conn: &Connection,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
) -> Result<(Value, String), CliError> {
    let mut impact = conn.impact();
    let ask = |grouping: ipb::Grouping| ipb::GetImpactSummaryRequest {
        start_time: from,
        end_time: to,
        group_by: vec![grouping as i32],
        ..Default::default()
    };
    let by_quartier = answer(
        impact
            .get_impact_summary(ask(ipb::Grouping::Quartier))
            .await,
    )?;
    let by_commune = answer(impact.get_impact_summary(ask(ipb::Grouping::Commune)).await)?;
    let (collection, unplaced) = figures_collection(&by_quartier, &by_commune);
    for u in &unplaced {
        note(&format!("not on the map, no place is known for {u}"));
    }
    let drawn = collection["features"].as_array().map_or(0, Vec::len);
    Ok((collection, format!("the figures of {drawn} place(s)")))
}

/// How a group's key finds its place.
type PlaceOf = fn(&str) -> Option<&'static Place>;

/// One Point per quartier and per commune of the groups, at its place of
/// the places file; and the groups that have none, for people.
pub fn figures_collection(
    by_quartier: &ipb::ImpactSummary,
    by_commune: &ipb::ImpactSummary,
) -> (Value, Vec<String>) {
    let mut features = Vec::new();
    let mut unplaced = Vec::new();
    let lookups: [(&ipb::ImpactSummary, &str, PlaceOf); 2] = [
        (by_quartier, "quartier", places::quartier),
        (by_commune, "commune", places::commune),
    ];
    for (summary, kind, place_of) in lookups {
        for g in &summary.groups {
            let key = g.keys.first().map(String::as_str).unwrap_or_default();
            let figures = g.figures.unwrap_or_default();
            match place_of(key) {
                Some(place) => features.push(figures_feature(
                    kind,
                    place,
                    &figures,
                    &summary.method_version,
                )),
                None => {
                    let label = g.labels.first().filter(|l| !l.is_empty());
                    let who = match label.map_or(key, String::as_str) {
                        "" => format!("the sites with no {kind}"),
                        named => format!("the {kind} {named:?}"),
                    };
                    let handed = tonnes3(figures.handed_over_mass_g);
                    unplaced.push(format!("{who} ({handed} t handed over)"));
                }
            }
        }
    }
    (
        json!({"type": "FeatureCollection", "features": features}),
        unplaced,
    )
}

/// Grams as tonnes, a JSON number for map tools to size and colour by
/// (display only: grams fit a double exactly far beyond any territory).
#[allow(clippy::cast_precision_loss)]
fn tonnes(grams: i64) -> f64 {
    grams as f64 / 1e6
}

fn figures_feature(kind: &str, place: &Place, f: &ipb::Figures, method: &str) -> Value {
    let id = match kind {
        "commune" => format!("commune/{}", place.insee),
        _ => format!("{kind}/{}", place.name),
    };
    #[allow(clippy::cast_precision_loss)]
    let hours = (f.insertion_minutes as f64 / 60.0 * 100.0).round() / 100.0;
    json!({
        "type": "Feature",
        "id": id,
        "geometry": {"type": "Point", "coordinates": [place.lon, place.lat]},
        "properties": {
            "kind": kind,
            "name": place.name,
            "commune": place.commune,
            "insee": place.insee,
            "handed_over_t": tonnes(f.handed_over_mass_g),
            "reused_t": tonnes(figures::reused_g(f)),
            "co2e_net_t": tonnes(f.co2e_net_g),
            "hours": hours,
            "fte": (f.fte * 1000.0).round() / 1000.0,
            "method_version": method,
        },
    })
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
                "reserved": amount(l.reserved.as_ref()),
                "handed_over": amount(l.handed_over.as_ref()),
                "handed_over_label": views::quantity(l.handed_over.as_ref()),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn group(key: &str, label: &str, handed_g: i64, minutes: i64) -> ipb::Group {
        ipb::Group {
            keys: vec![key.to_owned()],
            labels: vec![label.to_owned()],
            figures: Some(ipb::Figures {
                handed_over_mass_g: handed_g,
                reused_as_is_mass_g: handed_g / 2,
                co2e_net_g: -1_500,
                insertion_minutes: minutes,
                ..Default::default()
            }),
        }
    }

    #[test]
    fn figures_are_drawn_at_their_places_and_the_unknown_ones_reported() {
        let method = "impact-method/1".to_owned();
        let by_quartier = ipb::ImpactSummary {
            groups: vec![
                group("Coteaux", "Coteaux", 355_250, 90),
                group("Bel-Air", "Bel-Air", 1_000_000, 0),
                group("", "", 2_000, 0),
            ],
            method_version: method.clone(),
            ..Default::default()
        };
        let by_commune = ipb::ImpactSummary {
            groups: vec![group("68224", "Mulhouse", 1_357_250, 90)],
            method_version: method,
            ..Default::default()
        };
        let (doc, unplaced) = figures_collection(&by_quartier, &by_commune);
        let features = doc["features"].as_array().cloned().unwrap_or_default();
        assert_eq!(features.len(), 2, "{doc}");
        let coteaux = &features[0];
        assert_eq!(coteaux["geometry"]["coordinates"], json!([7.301, 47.746]));
        let p = &coteaux["properties"];
        assert_eq!(p["kind"], "quartier");
        assert_eq!(p["name"], "Coteaux");
        assert_eq!(p["insee"], "68224");
        assert_eq!(p["handed_over_t"], 0.35525);
        assert_eq!(p["reused_t"], 0.177625);
        assert_eq!(p["co2e_net_t"], -0.0015);
        assert_eq!(p["hours"], 1.5);
        assert_eq!(p["method_version"], "impact-method/1");
        assert_eq!(features[1]["properties"]["kind"], "commune");
        assert_eq!(features[1]["properties"]["name"], "Mulhouse");
        assert_eq!(features[1]["id"], "commune/68224");
        assert_eq!(unplaced.len(), 2, "{unplaced:?}");
        assert!(unplaced[0].contains("\"Bel-Air\" (1,000 t"), "{unplaced:?}");
        assert_eq!(
            unplaced[1],
            "the sites with no quartier (0,002 t handed over)"
        );
    }
}
