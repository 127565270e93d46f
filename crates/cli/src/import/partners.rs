//! An export of the public SIAE directory read into partners. Its columns:
//! siret, type, raison_sociale, enseigne, addresse_ligne_1 (sic),
//! code_postal, ville, departement, site_web, description; plus latitude and
//! longitude, which the directory export lacks but the API requires (rows
//! without them are bad rows), and optionally categories (`;`-separated
//! category codes), weekly_intake_kg, radius_km and insertion_fte.

use reemploi_domain::category;
use reemploi_domain::geo::GeoPoint;
use reemploi_domain::partner::PartnerKind;
use reemploi_domain::quantity::{Quantity, Unit};
use reemploi_domain::siret::Siret;
use reemploi_domain::text;
use reemploi_inventory::model::{MAX_LINE, MAX_NAME};
use reemploi_proto::registry as rpb;
use reemploi_proto::types as tpb;

use super::sheet::Sheet;
use super::{BadRow, Parsed, Reasons};
use crate::CliError;

/// Headers (normalised) of each field; the first of each is the
/// directory's own.
const SIRET: &[&str] = &["siret", "n siret", "numero siret"];
const KIND: &[&str] = &["type", "kind", "kinds", "type de structure", "types"];
const LEGAL_NAME: &[&str] = &["raison sociale", "legal name", "nom", "name"];
const TRADE_NAME: &[&str] = &["enseigne", "trade name"];
const LINE1: &[&str] = &[
    "addresse ligne 1",
    "adresse ligne 1",
    "adresse",
    "address",
    "line1",
];
const POSTAL: &[&str] = &["code postal", "postal code", "cp"];
const COMMUNE: &[&str] = &["ville", "commune", "city"];
const LATITUDE: &[&str] = &["latitude", "lat"];
const LONGITUDE: &[&str] = &["longitude", "lon", "lng", "long"];
const CATEGORIES: &[&str] = &["categories", "categories acceptees", "accepted categories"];
const INTAKE: &[&str] = &[
    "weekly intake kg",
    "capacity kg per week",
    "capacite kg semaine",
];
const RADIUS: &[&str] = &["radius km", "rayon km", "service radius km"];
const FTE: &[&str] = &["insertion fte", "etp insertion", "etp"];
/// Directory columns the API has no field for; read without a warning.
const KNOWN_UNUSED: &[&str] = &[
    "departement",
    "site web",
    "description",
    "insee",
    "code insee",
];

/// Reads every row; `default_radius_km` fills rows with no radius.
pub fn parse(
    sheet: &Sheet,
    path: &std::path::Path,
    default_radius_km: i32,
    mut tick: impl FnMut(),
) -> Result<(Parsed<rpb::Partner>, Vec<String>), CliError> {
    let col = |aliases: &[&str]| sheet.column(aliases);
    let (Some(siret), Some(kind), Some(legal_name)) = (col(SIRET), col(KIND), col(LEGAL_NAME))
    else {
        return Err(CliError::File {
            path: path.to_owned(),
            reason: format!(
                "an SIAE directory export needs the columns siret, type and raison_sociale; \
                 the header row has: {}",
                sheet.headers.join(", ")
            ),
        });
    };
    let columns = [
        Some(siret),
        Some(kind),
        Some(legal_name),
        col(TRADE_NAME),
        col(LINE1),
        col(POSTAL),
        col(COMMUNE),
        col(LATITUDE),
        col(LONGITUDE),
        col(CATEGORIES),
        col(INTAKE),
        col(RADIUS),
        col(FTE),
    ];
    let unused: Vec<String> = sheet
        .headers
        .iter()
        .enumerate()
        .filter(|(i, h)| {
            !h.is_empty()
                && !columns.contains(&Some(*i))
                && !KNOWN_UNUSED.contains(&super::sheet::normalize(h).as_str())
        })
        .map(|(_, h)| h.clone())
        .collect();
    let mut parsed = Parsed {
        good: Vec::new(),
        bad: Vec::new(),
    };
    for row in &sheet.rows {
        let get = |i: Option<usize>| i.and_then(|i| row.cells.get(i)).map_or("", String::as_str);
        let mut errors = Reasons::default();
        let siret_v = errors.keep(Siret::parse(get(Some(siret))));
        let kinds: Vec<i32> = get(Some(kind))
            .split([';', ',', '/'])
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .filter_map(|k| errors.keep(PartnerKind::parse(k)))
            .map(|k| reemploi_registry::model::kind_proto(k) as i32)
            .collect();
        let legal = errors.keep(text::required(
            "raison_sociale",
            get(Some(legal_name)),
            MAX_NAME,
        ));
        let trade = errors.keep(text::optional("enseigne", get(col(TRADE_NAME)), MAX_NAME));
        let line1 = errors.keep(text::optional(
            "addresse_ligne_1",
            get(col(LINE1)),
            MAX_LINE,
        ));
        let postal = errors.keep(text::postal_code("code_postal", get(col(POSTAL))));
        let commune = errors.keep(text::optional("ville", get(col(COMMUNE)), MAX_NAME));
        let location = match (get(col(LATITUDE)), get(col(LONGITUDE))) {
            ("", _) | (_, "") => {
                errors.keep::<GeoPoint>(Err(reemploi_domain::DomainError::invalid(
                    "latitude/longitude",
                    "required: the API places every partner on the map \
                     (add latitude and longitude columns, e.g. from the BAN geocoder)",
                )))
            }
            (lat, lon) => match (number(lat), number(lon)) {
                (Some(lat), Some(lon)) => errors.keep(GeoPoint::new(lat, lon)),
                _ => errors.keep(Err(reemploi_domain::DomainError::invalid(
                    "latitude/longitude",
                    format!("{lat:?}, {lon:?} are not decimal degrees"),
                ))),
            },
        };
        let mut accepted = Vec::new();
        for c in get(col(CATEGORIES))
            .split([';', ','])
            .map(str::trim)
            .filter(|c| !c.is_empty())
        {
            if let Some(cat) = errors.keep(category::parse(c)) {
                accepted.push(cat.code.to_owned());
            }
        }
        let intake = match get(col(INTAKE)) {
            "" => Some(0),
            v => errors.keep(whole("weekly_intake_kg", v)),
        };
        let radius = match get(col(RADIUS)) {
            "" => Some(i64::from(default_radius_km)),
            v => errors.keep(whole("radius_km", v)),
        };
        let fte = match get(col(FTE)) {
            "" => Some(0),
            v => errors.keep(Quantity::parse_decimal(v, Unit::Piece).map(|q| q.milli() / 10)),
        };
        if kinds.is_empty() && !get(Some(kind)).is_empty() {
            // Each unknown kind was reported already.
        } else if kinds.is_empty() {
            errors.push(
                "type: at least one kind of structure (ACI, AI, EI, ETTI, EITI, EA...)".to_owned(),
            );
        }
        let radius = radius.and_then(|r| match i32::try_from(r) {
            Ok(r) if (1..=200).contains(&r) => Some(r),
            _ => {
                errors.push(format!("radius_km: from 1 to 200 km, got {r}"));
                None
            }
        });
        match (
            siret_v, legal, trade, line1, postal, commune, location, intake, radius, fte,
        ) {
            (
                Some(siret),
                Some(legal),
                Some(trade),
                Some(line1),
                Some(postal),
                Some(commune),
                Some(location),
                Some(intake),
                Some(radius),
                Some(fte),
            ) if errors.0.is_empty() => parsed.good.push((
                row.line,
                rpb::Partner {
                    legal_name: legal,
                    trade_name: trade.unwrap_or_default(),
                    siret: siret.as_str().to_owned(),
                    kinds,
                    address: Some(rpb::Address {
                        line1: line1.unwrap_or_default(),
                        postal_code: postal.unwrap_or_default(),
                        commune: commune.unwrap_or_default(),
                        insee_code: String::new(),
                    }),
                    location: Some(tpb::GeoPoint {
                        latitude: location.latitude(),
                        longitude: location.longitude(),
                    }),
                    accepted_categories: accepted,
                    // Directory structures are listed to collect materials;
                    // they refine their capabilities on their own profile.
                    capabilities: vec![rpb::Capability::Collection as i32],
                    weekly_intake_kg: intake,
                    service_radius_km: radius,
                    insertion_fte_centi: fte,
                    ..Default::default()
                },
            )),
            _ => parsed.bad.push(BadRow {
                line: row.line,
                reason: errors.0.join("; "),
            }),
        }
        tick();
    }
    Ok((parsed, unused))
}

/// A decimal in degrees, with a point or a French comma.
fn number(s: &str) -> Option<f64> {
    s.trim()
        .replace(',', ".")
        .parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
}

/// A whole, non-negative number.
fn whole(field: &'static str, s: &str) -> Result<i64, reemploi_domain::DomainError> {
    let cleaned: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    cleaned
        .parse::<i64>()
        .ok()
        .filter(|v| *v >= 0)
        .ok_or_else(|| {
            reemploi_domain::DomainError::invalid(field, format!("{s:?} is not a whole number"))
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::path::Path;

    use super::*;
    use crate::import::sheet::read_csv;

    #[test]
    fn directory_rows_and_rows_without_coordinates() {
        let csv = "siret,type,raison_sociale,enseigne,addresse_ligne_1,code_postal,ville,departement,site_web,description,latitude,longitude\n\
                   90012345600015,ACI,Atelier,,1 rue X,68100,Mulhouse,68,,,47.748,7.32\n\
                   90023456800013,EI,Sans coordonnées,,,68100,Mulhouse,68,,,,\n\
                   123,XYZ,,,,6810,Mulhouse,68,,,47.7,7.3\n";
        let sheet = read_csv(Path::new("siae.csv"), csv.as_bytes()).unwrap();
        let (parsed, unused) = parse(&sheet, Path::new("siae.csv"), 30, || {}).unwrap();
        assert!(unused.is_empty(), "{unused:?}");
        assert_eq!(parsed.good.len(), 1);
        assert_eq!(parsed.good[0].1.service_radius_km, 30);
        assert_eq!(parsed.bad.len(), 2);
        assert_eq!(parsed.bad[0].line, 3);
        assert!(
            parsed.bad[0].reason.contains("latitude"),
            "{:?}",
            parsed.bad
        );
        let r = &parsed.bad[1].reason;
        for part in ["siret", "kind", "raison_sociale", "code_postal"] {
            assert!(r.contains(part), "{part} in {r}");
        }
    }
}
