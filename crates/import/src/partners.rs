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

use crate::sheet::{Row, Sheet};
use crate::{ImportError, Parsed, Reason, Reasons};

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

/// The service radius of rows without one, in km, unless the importer
/// says otherwise.
pub const DEFAULT_RADIUS_KM: i32 = 30;

/// Reads every row; `default_radius_km` fills rows with no radius; `tick`
/// is called once per row. Returns the rows, and the headers of the
/// columns nobody reads.
pub fn parse(
    sheet: &Sheet,
    default_radius_km: i32,
    tick: impl FnMut(),
) -> Result<(Parsed<rpb::Partner>, Vec<String>), ImportError> {
    let columns = Columns::find(sheet)?;
    let unused: Vec<String> = sheet
        .headers
        .iter()
        .enumerate()
        .filter(|(i, h)| {
            !h.is_empty()
                && !columns.reads(*i)
                && !KNOWN_UNUSED.contains(&crate::sheet::normalize(h).as_str())
        })
        .map(|(_, h)| h.clone())
        .collect();
    let parsed = Parsed::check_rows(&sheet.rows, tick, |row| {
        partner(&columns, row, default_radius_km)
    });
    Ok((parsed, unused))
}

/// Where each field's column is: the first three, the directory's own
/// identification, are required; the others may be missing.
struct Columns {
    siret: usize,
    kind: usize,
    legal_name: usize,
    trade_name: Option<usize>,
    line1: Option<usize>,
    postal: Option<usize>,
    commune: Option<usize>,
    latitude: Option<usize>,
    longitude: Option<usize>,
    categories: Option<usize>,
    intake: Option<usize>,
    radius: Option<usize>,
    fte: Option<usize>,
}

impl Columns {
    /// Finds the columns by their headers.
    fn find(sheet: &Sheet) -> Result<Columns, ImportError> {
        let col = |aliases: &[&str]| sheet.column(aliases);
        let (Some(siret), Some(kind), Some(legal_name)) = (col(SIRET), col(KIND), col(LEGAL_NAME))
        else {
            return Err(ImportError::NotADirectoryExport {
                headers: sheet.headers.clone(),
            });
        };
        Ok(Columns {
            siret,
            kind,
            legal_name,
            trade_name: col(TRADE_NAME),
            line1: col(LINE1),
            postal: col(POSTAL),
            commune: col(COMMUNE),
            latitude: col(LATITUDE),
            longitude: col(LONGITUDE),
            categories: col(CATEGORIES),
            intake: col(INTAKE),
            radius: col(RADIUS),
            fte: col(FTE),
        })
    }

    /// Whether column `i` is read.
    fn reads(&self, i: usize) -> bool {
        [self.siret, self.kind, self.legal_name].contains(&i)
            || [
                self.trade_name,
                self.line1,
                self.postal,
                self.commune,
                self.latitude,
                self.longitude,
                self.categories,
                self.intake,
                self.radius,
                self.fte,
            ]
            .contains(&Some(i))
    }
}

/// One row as a partner, or every reason it is not one.
fn partner(c: &Columns, row: &Row, default_radius_km: i32) -> Result<rpb::Partner, Vec<Reason>> {
    let cell = |i: Option<usize>| i.and_then(|i| row.cells.get(i)).map_or("", String::as_str);
    let mut errors = Reasons::default();
    // The fields are read in this order, the order of the row's reasons.
    let mut fields = RowFields {
        siret: errors.keep(Siret::parse(cell(Some(c.siret)))),
        kinds: kinds(&mut errors, cell(Some(c.kind))),
        legal_name: errors.keep(text::required(
            "raison_sociale",
            cell(Some(c.legal_name)),
            MAX_NAME,
        )),
        trade_name: errors.keep(text::optional("enseigne", cell(c.trade_name), MAX_NAME)),
        address: address(&mut errors, cell(c.line1), cell(c.postal), cell(c.commune)),
        location: location(&mut errors, cell(c.latitude), cell(c.longitude)),
        categories: categories(&mut errors, cell(c.categories)),
        intake: whole_or(&mut errors, "weekly_intake_kg", cell(c.intake), 0),
        radius: whole_or(
            &mut errors,
            "radius_km",
            cell(c.radius),
            i64::from(default_radius_km),
        ),
        fte: match cell(c.fte) {
            "" => Some(0),
            v => errors.keep(Quantity::parse_decimal(v, Unit::Piece).map(|q| q.milli() / 10)),
        },
    };
    // A kind cell that is not empty had each of its unknown kinds reported.
    if fields.kinds.is_empty() && cell(Some(c.kind)).is_empty() {
        errors.push(Reason::NoKind);
    }
    if let Some(km) = fields.radius.filter(|km| !(1..=200).contains(km)) {
        errors.push(Reason::Radius { km });
        fields.radius = None;
    }
    match fields.partner() {
        Some(partner) if errors.0.is_empty() => Ok(partner),
        _ => Err(errors.0),
    }
}

/// What a row says, field by field: `None` where a field is invalid (its
/// reason recorded).
struct RowFields {
    siret: Option<Siret>,
    kinds: Vec<i32>,
    legal_name: Option<String>,
    trade_name: Option<Option<String>>,
    address: Option<rpb::Address>,
    location: Option<GeoPoint>,
    categories: Vec<String>,
    intake: Option<i64>,
    radius: Option<i64>,
    fte: Option<i64>,
}

impl RowFields {
    /// The partner, when every field is valid.
    fn partner(self) -> Option<rpb::Partner> {
        let location = self.location?;
        Some(rpb::Partner {
            legal_name: self.legal_name?,
            trade_name: self.trade_name?.unwrap_or_default(),
            siret: self.siret?.as_str().to_owned(),
            kinds: self.kinds,
            address: Some(self.address?),
            location: Some(tpb::GeoPoint {
                latitude: location.latitude(),
                longitude: location.longitude(),
            }),
            accepted_categories: self.categories,
            // Directory structures are listed to collect materials;
            // they refine their capabilities on their own profile.
            capabilities: vec![rpb::Capability::Collection as i32],
            weekly_intake_kg: self.intake?,
            // Within 1 to 200 km (checked), so an i32.
            service_radius_km: i32::try_from(self.radius?).ok()?,
            insertion_fte_centi: self.fte?,
            ..Default::default()
        })
    }
}

/// The kinds of structure a cell lists, separated by `;`, `,` or `/`.
fn kinds(errors: &mut Reasons, cell: &str) -> Vec<i32> {
    cell.split([';', ',', '/'])
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .filter_map(|k| errors.keep(PartnerKind::parse(k)))
        .map(|k| reemploi_registry::model::kind_proto(k) as i32)
        .collect()
}

/// The address, from its three columns.
fn address(errors: &mut Reasons, line1: &str, postal: &str, commune: &str) -> Option<rpb::Address> {
    let line1 = errors.keep(text::optional("addresse_ligne_1", line1, MAX_LINE));
    let postal = errors.keep(text::postal_code("code_postal", postal));
    let commune = errors.keep(text::optional("ville", commune, MAX_NAME));
    Some(rpb::Address {
        line1: line1?.unwrap_or_default(),
        postal_code: postal?.unwrap_or_default(),
        commune: commune?.unwrap_or_default(),
        insee_code: String::new(),
    })
}

/// Where the partner is: required, as the API places every partner on the
/// map.
fn location(errors: &mut Reasons, lat: &str, lon: &str) -> Option<GeoPoint> {
    let point = match (lat, lon) {
        ("", _) | (_, "") => Err(Reason::NoLocation),
        (lat, lon) => match (number(lat), number(lon)) {
            (Some(lat), Some(lon)) => GeoPoint::new(lat, lon).map_err(Reason::Domain),
            _ => Err(Reason::NotDegrees {
                latitude: lat.to_owned(),
                longitude: lon.to_owned(),
            }),
        },
    };
    point.map_err(|reason| errors.push(reason)).ok()
}

/// The category codes a cell lists, separated by `;` or `,`.
fn categories(errors: &mut Reasons, cell: &str) -> Vec<String> {
    cell.split([';', ','])
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .filter_map(|c| errors.keep(category::parse(c)))
        .map(|cat| cat.code.to_owned())
        .collect()
}

/// A whole number, or `default` when the cell is empty.
fn whole_or(errors: &mut Reasons, field: &'static str, cell: &str, default: i64) -> Option<i64> {
    match cell {
        "" => Some(default),
        v => whole(field, v).map_err(|reason| errors.push(reason)).ok(),
    }
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
fn whole(field: &'static str, s: &str) -> Result<i64, Reason> {
    let cleaned: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    cleaned
        .parse::<i64>()
        .ok()
        .filter(|v| *v >= 0)
        .ok_or_else(|| Reason::NotWhole {
            field,
            value: s.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::sheet::read_csv;

    #[test]
    fn directory_rows_and_rows_without_coordinates() {
        let csv = "siret,type,raison_sociale,enseigne,addresse_ligne_1,code_postal,ville,departement,site_web,description,latitude,longitude\n\
                   90012345600015,ACI,Atelier,,1 rue X,68100,Mulhouse,68,,,47.748,7.32\n\
                   90023456800013,EI,Sans coordonnées,,,68100,Mulhouse,68,,,,\n\
                   123,XYZ,,,,6810,Mulhouse,68,,,47.7,7.3\n";
        let sheet = read_csv(csv.as_bytes()).unwrap();
        let (parsed, unused) = parse(&sheet, DEFAULT_RADIUS_KM, || {}).unwrap();
        assert!(unused.is_empty(), "{unused:?}");
        assert_eq!(parsed.good.len(), 1);
        assert_eq!(parsed.good[0].1.service_radius_km, 30);
        assert_eq!(parsed.bad.len(), 2);
        assert_eq!(parsed.bad[0].line, 3);
        assert!(
            parsed.bad[0].reason().contains("latitude"),
            "{:?}",
            parsed.bad
        );
        let r = &parsed.bad[1].reason();
        for part in ["siret", "kind", "raison_sociale", "code_postal"] {
            assert!(r.contains(part), "{part} in {r}");
        }
    }
}
