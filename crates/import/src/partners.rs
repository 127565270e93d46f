//! An export of the public SIAE directory read into partners. Its columns:
//! siret, type, raison_sociale, enseigne, addresse_ligne_1 (sic),
//! code_postal, ville, departement, site_web, description; plus latitude and
//! longitude, which the directory export lacks but the API requires (rows
//! without them are bad rows), and optionally categories (`;`-separated
//! category codes or labels), weekly_intake_kg, radius_km, insertion_fte,
//! and the e-mail and phone of the structure's contact. A SIRET given
//! twice is a bad row: a re-import updates the structure of a SIRET.

use std::collections::HashMap;

use reemploi_domain::DomainError;
use reemploi_domain::geo::GeoPoint;
use reemploi_domain::partner::PartnerKind;
use reemploi_domain::quantity::{Quantity, Unit};
use reemploi_domain::siret::Siret;
use reemploi_domain::text;
use reemploi_inventory::model::{MAX_LINE, MAX_NAME};
use reemploi_proto::registry as rpb;
use reemploi_proto::types as tpb;

use crate::cells;
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
const EMAIL: &[&str] = &[
    "email",
    "e mail",
    "courriel",
    "mail",
    "adresse email",
    "adresse e mail",
    "adresse mail",
    "adresse electronique",
    "contact email",
];
const PHONE: &[&str] = &[
    "telephone",
    "tel",
    "phone",
    "numero de telephone",
    "phone number",
    "contact telephone",
];
/// The longest phone number the registry keeps.
const MAX_PHONE: usize = 40;
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

/// An export read: its rows, and the columns nobody reads.
#[derive(Debug)]
pub struct Directory {
    /// Its rows, good and bad.
    pub parsed: Parsed<PartnerRow>,
    /// The headers of the columns nobody reads.
    pub unused: Vec<String>,
}

/// A partner read from a row.
#[derive(Debug, Clone)]
pub struct PartnerRow {
    /// The partner to register.
    pub partner: rpb::Partner,
    /// The fields the row gives a value for (a column and a cell that is
    /// not empty), beside the SIRET, the kinds and the legal name, which
    /// every row gives: `trade_name`, `address.line1`,
    /// `address.postal_code`, `address.commune`, `location`,
    /// `accepted_categories`, `weekly_intake_kg`, `service_radius_km`,
    /// `insertion_fte_centi`, `contact.email`, `contact.phone`. A
    /// re-import changes these only: an empty cell changes nothing.
    pub given: Vec<&'static str>,
}

/// Reads every row; `default_radius_km` fills rows with no radius; `tick`
/// is called once per row. Returns the rows, and the headers of the
/// columns nobody reads.
pub fn parse(
    sheet: &Sheet,
    default_radius_km: i32,
    tick: impl FnMut(),
) -> Result<(Parsed<rpb::Partner>, Vec<String>), ImportError> {
    let directory = parse_directory(sheet, default_radius_km, tick)?;
    Ok((directory.parsed.map(|row| row.partner), directory.unused))
}

/// Reads every row, as [`parse`], and says which fields the file gives.
pub fn parse_directory(
    sheet: &Sheet,
    default_radius_km: i32,
    tick: impl FnMut(),
) -> Result<Directory, ImportError> {
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
    // Each SIRET's first line.
    let mut seen: HashMap<String, u64> = HashMap::new();
    let parsed = Parsed::check_rows(&sheet.rows, tick, |row| {
        partner(&columns, row, default_radius_km, &mut seen)
    });
    Ok(Directory { parsed, unused })
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
    email: Option<usize>,
    phone: Option<usize>,
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
            email: col(EMAIL),
            phone: col(PHONE),
        })
    }

    /// The fields a row gives a value for (see [`PartnerRow::given`]).
    fn given(&self, row: &Row) -> Vec<&'static str> {
        let filled = |i: Option<usize>| {
            i.and_then(|i| row.cells.get(i))
                .is_some_and(|c| !c.trim().is_empty())
        };
        [
            (self.trade_name, "trade_name"),
            (self.line1, "address.line1"),
            (self.postal, "address.postal_code"),
            (self.commune, "address.commune"),
            (self.latitude, "location"),
            (self.categories, "accepted_categories"),
            (self.intake, "weekly_intake_kg"),
            (self.radius, "service_radius_km"),
            (self.fte, "insertion_fte_centi"),
            (self.email, "contact.email"),
            (self.phone, "contact.phone"),
        ]
        .into_iter()
        .filter(|(column, _)| filled(*column))
        .map(|(_, field)| field)
        .collect()
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
                self.email,
                self.phone,
            ]
            .contains(&Some(i))
    }
}

/// One row as a partner, or every reason it is not one.
fn partner(
    c: &Columns,
    row: &Row,
    default_radius_km: i32,
    seen: &mut HashMap<String, u64>,
) -> Result<PartnerRow, Vec<Reason>> {
    let cell = |i: Option<usize>| i.and_then(|i| row.cells.get(i)).map_or("", String::as_str);
    let mut errors = Reasons::default();
    // The fields are read in this order, the order of the row's reasons.
    let mut fields = RowFields {
        siret: errors
            .keep(Siret::parse(cell(Some(c.siret))).and_then(|s| first_use(seen, s, row.line))),
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
        email: errors.keep(cells::email(cell(c.email))),
        phone: errors.keep(text::optional("telephone", cell(c.phone), MAX_PHONE)),
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
        Some(partner) if errors.0.is_empty() => Ok(PartnerRow {
            partner,
            given: c.given(row),
        }),
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
    email: Option<Option<String>>,
    phone: Option<Option<String>>,
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
            contact: Some(rpb::Contact {
                name: String::new(),
                email: self.email?.unwrap_or_default(),
                phone: self.phone?.unwrap_or_default(),
            }),
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

/// The categories a cell lists by code or label, separated by `;` or `,`.
fn categories(errors: &mut Reasons, cell: &str) -> Vec<String> {
    let mut codes: Vec<String> = Vec::new();
    for code in cell
        .split([';', ','])
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .filter_map(|c| errors.keep(cells::category(c)))
        .map(|cat| cat.code.to_owned())
    {
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    codes
}

/// The SIRET, if no earlier row gave it.
fn first_use(
    seen: &mut HashMap<String, u64>,
    siret: Siret,
    line: u64,
) -> Result<Siret, DomainError> {
    match seen.get(siret.as_str()) {
        Some(first) => Err(DomainError::invalid(
            "siret",
            format!(
                "{} is also on line {first}: one row per structure",
                siret.as_str()
            ),
        )),
        None => {
            seen.insert(siret.as_str().to_owned(), line);
            Ok(siret)
        }
    }
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

    #[test]
    fn contacts_labels_and_a_siret_given_twice() {
        let csv = "siret;type;raison_sociale;latitude;longitude;categories;email;téléphone\n\
                   90012345600015;ACI;Atelier;47.7;7.3;Radiateur, tuile;contact@atelier.example;03 89 00 00 00\n\
                   90012345600015;EI;Encore;47.7;7.3;;;\n\
                   90023456800013;EI;Mauvais courriel;47.7;7.3;;a@b.fr, c@d.fr;\n";
        let sheet = read_csv(csv.as_bytes()).unwrap();
        let d = parse_directory(&sheet, DEFAULT_RADIUS_KM, || {}).unwrap();
        assert!(d.unused.is_empty(), "{:?}", d.unused);
        assert_eq!(d.parsed.good.len(), 1, "{:?}", d.parsed.bad);
        let (line, row) = &d.parsed.good[0];
        assert_eq!(
            row.given,
            vec![
                "location",
                "accepted_categories",
                "contact.email",
                "contact.phone"
            ]
        );
        let p = &row.partner;
        assert_eq!(*line, 2, "the header is line 1");
        assert_eq!(p.accepted_categories, vec!["radiateur", "tuile"]);
        let contact = p.contact.clone().unwrap();
        assert_eq!(contact.email, "contact@atelier.example");
        assert_eq!(contact.phone, "03 89 00 00 00");
        let bad: Vec<(u64, String)> = d.parsed.bad.iter().map(|b| (b.line, b.reason())).collect();
        assert_eq!(bad[0].0, 3);
        assert!(bad[0].1.contains("also on line 2"), "{bad:?}");
        assert_eq!(bad[1].0, 4);
        assert!(
            bad[1].1.contains("email") && bad[1].1.contains("one address"),
            "{bad:?}"
        );
    }
}
