//! `sites update`, `lots update` and `partners update`: each reads the
//! resource, changes what the flags say, and sends it back with the fields
//! changed as its update mask and the etag it read, so that a change made
//! meanwhile by someone else is refused (ABORTED) rather than overwritten.

use clap::Args;
use prost_types::{FieldMask, Timestamp};
use reemploi_domain::category;
use reemploi_domain::quantity::{Quantity, Unit};
use reemploi_domain::waste::{Hazard, WasteCode};
use reemploi_inventory::model::{unit_from_proto, unit_to_proto};
use reemploi_proto::inventory as pb;
use reemploi_proto::registry as rpb;
use reemploi_proto::types as tpb;

use super::Ctx;
use crate::CliError;
use crate::client::{answer, partner_name, site_name};
use crate::dates::{parse_end, parse_start};
use crate::output::emit;
use crate::{import, views};

/// The top-level fields an update changes: its mask.
#[derive(Default)]
struct Mask(Vec<String>);

impl Mask {
    /// Applies `value`, when given, and names `path` in the mask.
    fn set<T>(&mut self, path: &str, value: Option<T>, apply: impl FnOnce(T)) {
        if let Some(v) = value {
            apply(v);
            if !self.0.iter().any(|p| p == path) {
                self.0.push(path.to_owned());
            }
        }
    }

    /// The mask, refused when empty: an update that changes nothing is a
    /// mistake in the command line.
    fn finish(self, command: &str) -> Result<FieldMask, CliError> {
        if self.0.is_empty() {
            return Err(CliError::Usage(format!(
                "nothing to change: give at least one field to change (see `reemploi {command} --help`)"
            )));
        }
        Ok(FieldMask { paths: self.0 })
    }
}

fn usage(flag: &str) -> impl Fn(reemploi_domain::DomainError) -> CliError + '_ {
    move |e| CliError::Usage(format!("{flag}: {e}"))
}

/// `LATxLON` flags given together or not at all (clap checks that).
fn point(lat: Option<f64>, lon: Option<f64>) -> Option<tpb::GeoPoint> {
    Some(tpb::GeoPoint {
        latitude: lat?,
        longitude: lon?,
    })
}

// ---------------------------------------------------------------- sites

/// Flags of `sites update`.
#[derive(Args, Debug)]
pub struct SiteArgs {
    /// The site: `sites/ID` or `ID`.
    pub site: String,
    /// A new name.
    #[arg(long)]
    pub name: Option<String>,
    /// New latitude (with --lon), WGS84 decimal degrees.
    #[arg(long, allow_hyphen_values = true, requires = "lon")]
    pub lat: Option<f64>,
    /// New longitude (with --lat).
    #[arg(long, allow_hyphen_values = true, requires = "lat")]
    pub lon: Option<f64>,
    /// Postal address.
    #[arg(long)]
    pub address: Option<String>,
    /// Urban renewal programme, e.g. NPNRU.
    #[arg(long)]
    pub programme: Option<String>,
    /// Quartier.
    #[arg(long)]
    pub quartier: Option<String>,
    /// Commune.
    #[arg(long)]
    pub commune: Option<String>,
    /// The commune's INSEE code.
    #[arg(long)]
    pub insee: Option<String>,
    /// Start of the works: a date (2027-01-15) or an RFC 3339 time.
    #[arg(long, value_name = "DATE", value_parser = parse_start)]
    pub works_from: Option<Timestamp>,
    /// End of the works (the day given is included).
    #[arg(long, value_name = "DATE", value_parser = parse_end)]
    pub works_to: Option<Timestamp>,
}

/// `sites update`.
pub async fn site(ctx: &Ctx, a: SiteArgs) -> Result<(), CliError> {
    let mut inv = ctx.connect().await?.inventory();
    let name = site_name(&a.site);
    let mut site = answer(inv.get_site(pb::GetSiteRequest { name }).await)?;
    let mut mask = Mask::default();
    mask.set("display_name", a.name, |v| site.display_name = v);
    mask.set("location", point(a.lat, a.lon), |v| site.location = Some(v));
    mask.set("address", a.address, |v| site.address = v);
    let mut operation = site.operation.clone().unwrap_or_default();
    mask.set("operation", a.programme, |v| operation.programme = v);
    mask.set("operation", a.quartier, |v| operation.quartier = v);
    mask.set("operation", a.commune, |v| operation.commune = v);
    mask.set("operation", a.insee, |v| operation.insee_code = v);
    site.operation = Some(operation);
    mask.set("works_start_time", a.works_from, |v| {
        site.works_start_time = Some(v)
    });
    mask.set("works_end_time", a.works_to, |v| {
        site.works_end_time = Some(v)
    });
    let update_mask = Some(mask.finish("sites update")?);
    site.lot_counts.clear();
    let site = answer(
        inv.update_site(pb::UpdateSiteRequest {
            site: Some(site),
            update_mask,
        })
        .await,
    )?;
    emit(ctx.format, crate::json::message(&site), || {
        format!("updated {}\n{}", site.name, views::site_text(&site))
    })
}

// ----------------------------------------------------------------- lots

/// What a lot says beyond its quantity and category, given when it is
/// created or updated.
#[derive(Args, Debug, Default, Clone)]
pub struct LotDetails {
    /// A longer description (state, make, how it was removed...).
    #[arg(long)]
    pub description: Option<String>,
    /// When it can be collected from: a date (2027-01-15) or a time.
    #[arg(long, value_name = "DATE", value_parser = parse_start)]
    pub available_from: Option<Timestamp>,
    /// The last day it can be collected (included).
    #[arg(long, value_name = "DATE", value_parser = parse_end)]
    pub available_until: Option<Timestamp>,
    /// The URL of a photo (https://...); repeatable. On update, the photos
    /// given replace the lot's.
    #[arg(long = "photo", value_name = "URL")]
    pub photos: Vec<String>,
    /// The outer dimensions of one item in millimetres, LENGTHxWIDTHxHEIGHT
    /// (e.g. 830x2040x40); 0 for one not known.
    #[arg(long, value_name = "LxWxH", value_parser = parse_dimensions)]
    pub dimensions: Option<tpb::Dimensions>,
    /// Where the lot itself is, when not at its site's point (another
    /// building of the site, a storage yard): latitude, with --lon.
    #[arg(long, allow_hyphen_values = true, requires = "lon")]
    pub lat: Option<f64>,
    /// The lot's own longitude, with --lat.
    #[arg(long, allow_hyphen_values = true, requires = "lat")]
    pub lon: Option<f64>,
}

/// `830x2040x40` (millimetres).
fn parse_dimensions(text: &str) -> Result<tpb::Dimensions, String> {
    let usage = || format!("{text:?}: write LENGTHxWIDTHxHEIGHT in millimetres, e.g. 830x2040x40");
    let parts: Vec<i32> = text
        .split(['x', 'X', '×'])
        .map(|p| p.trim().parse::<i32>())
        .collect::<Result<_, _>>()
        .map_err(|_| usage())?;
    match parts[..] {
        [length_mm, width_mm, height_mm] if parts.iter().all(|p| *p >= 0) => Ok(tpb::Dimensions {
            length_mm,
            width_mm,
            height_mm,
        }),
        _ => Err(usage()),
    }
}

impl LotDetails {
    /// Writes the details given into `lot`, naming each in `mask`.
    fn apply(self, lot: &mut pb::Lot, mask: &mut Mask) {
        mask.set("description", self.description, |v| lot.description = v);
        let mut window = lot.availability.unwrap_or_default();
        mask.set("availability", self.available_from, |v| {
            window.start_time = Some(v)
        });
        mask.set("availability", self.available_until, |v| {
            window.end_time = Some(v)
        });
        if window != tpb::TimeWindow::default() {
            lot.availability = Some(window);
        }
        let photos = (!self.photos.is_empty()).then_some(self.photos);
        mask.set("photo_uris", photos, |v| lot.photo_uris = v);
        mask.set("dimensions", self.dimensions, |v| lot.dimensions = Some(v));
        mask.set("location", point(self.lat, self.lon), |v| {
            lot.location = Some(v)
        });
    }

    /// Writes the details given into a new lot.
    pub fn fill(self, lot: &mut pb::Lot) {
        self.apply(lot, &mut Mask::default());
    }
}

/// Flags of `lots update`.
#[derive(Args, Debug)]
pub struct LotArgs {
    /// The lot: `sites/SITE/lots/LOT`.
    pub lot: String,
    /// A new designation.
    #[arg(long)]
    pub designation: Option<String>,
    /// A category code, e.g. porte-interieure (`reemploi categories`).
    #[arg(long)]
    pub category: Option<String>,
    /// The quantity, in the lot's unit (or in --unit's).
    #[arg(long)]
    pub quantity: Option<String>,
    /// A new unit (u, ml, m2, m3, kg, t, l), with --quantity; only while
    /// nothing is claimed.
    #[arg(long, requires = "quantity")]
    pub unit: Option<String>,
    /// Estimated mass of the whole lot in kilograms.
    #[arg(long)]
    pub mass_kg: Option<String>,
    /// The diagnostic's reference, e.g. M1.
    #[arg(long)]
    pub reference: Option<String>,
    /// Condition as observed.
    #[arg(long)]
    pub condition: Option<String>,
    /// Where the material is in the building.
    #[arg(long)]
    pub location: Option<String>,
    /// European List of Waste code, e.g. "17 02 01".
    #[arg(long)]
    pub waste_code: Option<String>,
    /// A known hazard (asbestos, lead, pcb, pah, other); repeatable; the
    /// hazards given replace the lot's.
    #[arg(long)]
    pub hazard: Vec<String>,
    #[command(flatten)]
    pub details: LotDetails,
}

/// `lots update`.
pub async fn lot(ctx: &Ctx, a: LotArgs) -> Result<(), CliError> {
    let mut inv = ctx.connect().await?.inventory();
    let mut lot = answer(
        inv.get_lot(pb::GetLotRequest {
            name: a.lot.clone(),
        })
        .await,
    )?;
    let mut mask = Mask::default();
    lot_fields(&a, &mut lot, &mut mask)?;
    a.details.apply(&mut lot, &mut mask);
    let update_mask = Some(mask.finish("lots update")?);
    let lot = answer(
        inv.update_lot(pb::UpdateLotRequest {
            lot: Some(lot),
            update_mask,
        })
        .await,
    )?;
    emit(ctx.format, crate::json::message(&lot), || {
        format!("updated {}\n{}", lot.name, views::lot_text(&lot))
    })
}

/// The flags of `lots update` that are checked here first, as when a lot
/// is created: a mistake is said before anything is sent.
fn lot_fields(a: &LotArgs, lot: &mut pb::Lot, mask: &mut Mask) -> Result<(), CliError> {
    let category = a
        .category
        .as_deref()
        .map(|c| category::parse(c).map_err(usage("--category")))
        .transpose()?;
    mask.set("category", category, |c| lot.category = c.code.to_owned());
    let current = lot.quantity.map_or(0, |q| q.unit);
    let unit = match &a.unit {
        Some(u) => Unit::parse(u).map_err(usage("--unit"))?,
        None => unit_from_proto(current).map_err(usage("the lot's unit"))?,
    };
    let quantity = a
        .quantity
        .as_deref()
        .map(|q| {
            Quantity::parse_decimal(q, unit)
                .and_then(Quantity::whole_if_counted)
                .map_err(usage("--quantity"))
        })
        .transpose()?;
    mask.set("quantity", quantity, |q| {
        lot.quantity = Some(tpb::Quantity {
            unit: unit_to_proto(unit) as i32,
            milli: q.milli(),
        })
    });
    let mass = a
        .mass_kg
        .as_deref()
        .map(|m| Quantity::parse_decimal(m, Unit::Kilogram).map_err(usage("--mass-kg")))
        .transpose()?;
    mask.set("estimated_mass_g", mass, |m| {
        lot.estimated_mass_g = m.milli()
    });
    let waste = a
        .waste_code
        .as_deref()
        .map(|w| WasteCode::parse(w).map_err(usage("--waste-code")))
        .transpose()?;
    mask.set("waste_code", waste, |w| lot.waste_code = w.to_string());
    let hazards = a
        .hazard
        .iter()
        .map(|h| Hazard::parse(h).map(|h| import::lots::hazard_proto(h) as i32))
        .collect::<Result<Vec<_>, _>>()
        .map_err(usage("--hazard"))?;
    mask.set("hazards", (!hazards.is_empty()).then_some(hazards), |h| {
        lot.hazards = h
    });
    mask.set("designation", a.designation.clone(), |v| {
        lot.designation = v
    });
    mask.set("reference", a.reference.clone(), |v| lot.reference = v);
    mask.set("condition", a.condition.clone(), |v| lot.condition = v);
    mask.set("building_location", a.location.clone(), |v| {
        lot.building_location = v
    });
    Ok(())
}

// ------------------------------------------------------------- partners

/// Flags of `partners update`.
#[derive(Args, Debug)]
pub struct PartnerArgs {
    /// The partner: `partners/ID` or `ID`.
    pub partner: String,
    /// Legal name (raison sociale).
    #[arg(long)]
    pub legal_name: Option<String>,
    /// Trade name (enseigne).
    #[arg(long)]
    pub trade_name: Option<String>,
    /// Latitude where materials are received (with --lon).
    #[arg(long, allow_hyphen_values = true, requires = "lon")]
    pub lat: Option<f64>,
    /// Longitude (with --lat).
    #[arg(long, allow_hyphen_values = true, requires = "lat")]
    pub lon: Option<f64>,
    /// How far the partner collects, in km (1 to 200).
    #[arg(long)]
    pub radius_km: Option<i32>,
    /// A category code accepted; repeatable; the categories given replace
    /// the partner's.
    #[arg(long = "category")]
    pub categories: Vec<String>,
    /// How much the partner can take in per week, in kg.
    #[arg(long)]
    pub weekly_intake_kg: Option<i64>,
    /// Street and number.
    #[arg(long)]
    pub street: Option<String>,
    /// Postal code.
    #[arg(long)]
    pub postal_code: Option<String>,
    /// Commune.
    #[arg(long)]
    pub commune: Option<String>,
    /// The contact's name.
    #[arg(long)]
    pub contact_name: Option<String>,
    /// The contact's e-mail.
    #[arg(long)]
    pub email: Option<String>,
    /// The contact's phone.
    #[arg(long)]
    pub phone: Option<String>,
    /// Opening hours, free text ("lun-ven 8h-16h").
    #[arg(long)]
    pub opening_hours: Option<String>,
}

/// `partners update`.
pub async fn partner(ctx: &Ctx, a: PartnerArgs) -> Result<(), CliError> {
    let mut reg = ctx.connect().await?.registry();
    let name = partner_name(&a.partner);
    let mut p = answer(reg.get_partner(rpb::GetPartnerRequest { name }).await)?;
    let mut mask = Mask::default();
    mask.set("legal_name", a.legal_name, |v| p.legal_name = v);
    mask.set("trade_name", a.trade_name, |v| p.trade_name = v);
    mask.set("location", point(a.lat, a.lon), |v| p.location = Some(v));
    mask.set("service_radius_km", a.radius_km, |v| {
        p.service_radius_km = v
    });
    let categories = (!a.categories.is_empty()).then_some(a.categories);
    mask.set("accepted_categories", categories, |v| {
        p.accepted_categories = v
    });
    mask.set("weekly_intake_kg", a.weekly_intake_kg, |v| {
        p.weekly_intake_kg = v
    });
    let mut address = p.address.clone().unwrap_or_default();
    mask.set("address", a.street, |v| address.line1 = v);
    mask.set("address", a.postal_code, |v| address.postal_code = v);
    mask.set("address", a.commune, |v| address.commune = v);
    p.address = Some(address);
    let mut contact = p.contact.clone().unwrap_or_default();
    mask.set("contact", a.contact_name, |v| contact.name = v);
    mask.set("contact", a.email, |v| contact.email = v);
    mask.set("contact", a.phone, |v| contact.phone = v);
    p.contact = Some(contact);
    mask.set("opening_hours", a.opening_hours, |v| p.opening_hours = v);
    let update_mask = Some(mask.finish("partners update")?);
    let p = answer(
        reg.update_partner(rpb::UpdatePartnerRequest {
            partner: Some(p),
            update_mask,
        })
        .await,
    )?;
    emit(ctx.format, crate::json::message(&p), || {
        format!("updated {}\n{}", p.name, views::partner_text(&p))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dimensions_are_three_whole_millimetres() {
        let d = parse_dimensions("830x2040X40").unwrap();
        assert_eq!((d.length_mm, d.width_mm, d.height_mm), (830, 2040, 40));
        for bad in ["830x2040", "a x b x c", "1x2x3x4", "-1x2x3", ""] {
            assert!(parse_dimensions(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_mask_names_each_field_once_and_refuses_nothing_to_change() {
        let mut mask = Mask::default();
        let mut text = String::new();
        mask.set("operation", Some("a"), |v| text.push_str(v));
        mask.set("operation", Some("b"), |v| text.push_str(v));
        mask.set("address", None::<String>, |_| {
            panic!("applied a value not given")
        });
        assert_eq!(text, "ab");
        assert_eq!(mask.finish("x").unwrap().paths, vec!["operation"]);
        assert!(Mask::default().finish("sites update").is_err());
    }
}
