//! Properties of the two importers on generated files: any text is read
//! without a panic and every row is reported on a line of the file; a valid
//! row comes back with the values it was written with, on the line it was
//! written on, quoted newlines included. The `diagnostic_csv` and
//! `siae_csv` fuzz targets (fuzz/, `scripts/fuzz`) check the same for
//! longer, on any bytes.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use reemploi_domain::category;
use reemploi_domain::partner::PartnerKind;
use reemploi_domain::quantity::{Quantity, Unit};
use reemploi_domain::siret::Siret;
use reemploi_domain::waste::{self, Hazard};
use reemploi_inventory::model::unit_to_proto;

use crate::sheet::read_csv;
use crate::{ImportError, Parsed, lots, partners};

/// The lines a person sees: `\n`, `\r\n` and a lone `\r` each end one.
fn lines_of(text: &str) -> Vec<String> {
    text.replace("\r\n", "\n")
        .split(['\n', '\r'])
        .map(str::to_owned)
        .collect()
}

/// A file-level error says what is wrong.
fn says_why(e: &ImportError) -> bool {
    !e.to_string().trim().is_empty()
}

/// Every row is reported once, on a data line of the file, bad ones with
/// a reason; a file-level error says why.
fn check_reported<T>(
    text: &str,
    parse: impl FnOnce(&crate::sheet::Sheet) -> Result<(Parsed<T>, Vec<String>), ImportError>,
) -> Result<(), TestCaseError> {
    let sheet = match read_csv(text.as_bytes()) {
        Ok(sheet) => sheet,
        Err(e) => {
            prop_assert!(says_why(&e), "{:?}", e);
            return Ok(());
        }
    };
    let lines = lines_of(text);
    let mut previous = 1;
    for row in &sheet.rows {
        let line = usize::try_from(row.line).unwrap();
        prop_assert!(
            line > previous && line <= lines.len(),
            "row on line {} after {} in {} line(s)",
            line,
            previous,
            lines.len()
        );
        // A row starts with something: the reader skips empty lines.
        prop_assert!(
            !lines[line - 1].is_empty(),
            "row on the empty line {}",
            line
        );
        previous = line;
    }
    match parse(&sheet) {
        Ok((parsed, _)) => {
            let mut reported: Vec<u64> = parsed.good.iter().map(|(l, _)| *l).collect();
            reported.extend(parsed.bad.iter().map(|b| b.line));
            reported.sort_unstable();
            let read: Vec<u64> = sheet.rows.iter().map(|r| r.line).collect();
            prop_assert_eq!(reported, read);
            prop_assert!(parsed.bad.iter().all(|b| !b.reasons.is_empty()));
        }
        Err(e) => {
            prop_assert!(says_why(&e), "{:?}", e);
        }
    }
    Ok(())
}

/// A cell as people and fuzzers write them: plausible values, separators,
/// quotes, line ends, and anything.
fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            "porte-interieure",
            "radiateur",
            "12,5",
            "3",
            "-1",
            "u",
            "m2",
            "kg",
            "17 02 01",
            "17 06 05*",
            "amiante",
            "non",
            "90012345600015",
            "ACI",
            "EI;ETTI",
            "47.748",
            "7,32",
            "68100",
            "30",
            "\"",
            "\"\"",
            "a\"b",
            ";",
            ",",
            "\n",
            "\r",
            "\r\n",
            "\u{feff}",
        ])
        .prop_map(str::to_owned),
        "\\PC{0,12}",
        any::<String>(),
    ]
}

/// Header cells: the names both importers look for, and others.
fn header() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "ref",
            "Désignation",
            "category",
            "QUANTITÉ",
            "Unité",
            "Masse (kg)",
            "waste_code",
            "danger",
            "description",
            "siret",
            "type",
            "raison_sociale",
            "latitude",
            "longitude",
            "radius_km",
            "insertion_fte",
            "categories",
        ])
        .prop_map(str::to_owned),
        "\\PC{0,10}",
    ]
}

/// Text of a sheet, joined as is (no quoting): often not even valid CSV.
fn raw_text() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(header(), 0..12),
        prop::collection::vec(prop::collection::vec(cell(), 0..14), 0..8),
        prop::sample::select(vec![",", ";"]),
        prop::sample::select(vec!["\n", "\r\n", "\r"]),
        any::<bool>(),
    )
        .prop_map(|(headers, rows, sep, end, bom)| {
            let mut text = if bom {
                "\u{feff}".to_owned()
            } else {
                String::new()
            };
            text.push_str(&headers.join(sep));
            for row in rows {
                text.push_str(end);
                text.push_str(&row.join(sep));
            }
            text
        })
}

/// Single-line text a person writes in a cell, already trimmed.
fn words(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!(
        "[A-Za-z0-9éèàçœ'\",;.()-][A-Za-z0-9éèàçœ'\",;.() -]{{0,{max}}}"
    ))
    .unwrap()
    .prop_map(|s| s.trim().to_owned())
    .prop_filter("non-empty", |s| !s.is_empty())
}

/// How a generated file ends its lines and spaces its rows.
#[derive(Debug, Clone)]
struct Layout {
    semicolon: bool,
    /// `\n`, `\r\n` or `\r`.
    end: &'static str,
    /// Empty lines before each record (header first); cycled.
    blanks: Vec<usize>,
}

fn layout() -> impl Strategy<Value = Layout> {
    (
        any::<bool>(),
        prop::sample::select(vec!["\n", "\r\n", "\r"]),
        prop::collection::vec(prop_oneof![3 => Just(0usize), 1 => 1..3usize], 1..8),
    )
        .prop_map(|(semicolon, end, blanks)| Layout {
            semicolon,
            end,
            blanks,
        })
}

/// Writes records with the csv crate (quoting what needs it) as `layout`
/// says, and returns the text and the line each record after the first
/// starts on.
fn write_csv(records: &[Vec<String>], layout: &Layout) -> (String, Vec<u64>) {
    let mut text = String::new();
    let mut starts = Vec::new();
    for (i, record) in records.iter().enumerate() {
        let blanks = layout.blanks[i % layout.blanks.len()];
        text.push_str(&layout.end.repeat(blanks));
        starts.push(u64::try_from(lines_of(&text).len()).unwrap());
        let mut w = csv::WriterBuilder::new()
            .delimiter(if layout.semicolon { b';' } else { b',' })
            .from_writer(Vec::new());
        w.write_record(record).unwrap();
        let written = String::from_utf8(w.into_inner().unwrap()).unwrap();
        // The writer ends records with `\n`; quoted line ends stay as they are.
        text.push_str(written.strip_suffix('\n').unwrap());
        text.push_str(layout.end);
    }
    (text, starts.split_off(1))
}

/// A lot as a diagnostic row, and the lot the importer must read from it.
#[derive(Debug, Clone)]
struct LotValues {
    reference: String,
    designation: String,
    category: &'static str,
    milli: i64,
    unit: Unit,
    comma: bool,
    mass_g: i64,
    location: String,
    description: String,
    waste_code: Option<String>,
    hazards: Vec<Hazard>,
}

fn lot_values() -> impl Strategy<Value = LotValues> {
    let codes: Vec<&'static str> = category::all().iter().map(|c| c.code).collect();
    let wastes: Vec<String> = waste::list().iter().map(|e| e.code().to_string()).collect();
    (
        (
            "[A-Z][0-9]{0,4}",
            words(40),
            prop::sample::select(codes),
            1..1_000_000_000i64,
            prop::sample::select(Unit::ALL.to_vec()),
            any::<bool>(),
        ),
        (
            0..1_000_000_000i64,
            prop_oneof![Just(String::new()), words(30)],
            // Long text keeps its line ends: rows then span several lines.
            prop_oneof![
                Just(String::new()),
                words(20),
                (words(20), words(20)).prop_map(|(a, b)| format!("{a}\n{b}")),
                (words(20), words(20)).prop_map(|(a, b)| format!("{a}\r\n\n{b}")),
            ],
            proptest::option::of(prop::sample::select(wastes)),
            prop::collection::vec(prop::sample::select(Hazard::ALL.to_vec()), 0..3),
        ),
    )
        .prop_map(
            |(
                (reference, designation, category, milli, unit, comma),
                (mass_g, location, description, waste_code, hazards),
            )| LotValues {
                reference,
                designation,
                category,
                // Pieces are counted whole: a valid row in pieces is too.
                milli: if unit.is_counted_whole() {
                    milli - milli % 1000 + 1000
                } else {
                    milli
                },
                unit,
                comma,
                mass_g,
                location,
                description,
                waste_code,
                hazards,
            },
        )
}

fn decimal(milli: i64, comma: bool) -> String {
    let s = Quantity::new(milli, Unit::Piece)
        .unwrap()
        .to_decimal_string();
    if comma { s.replace('.', ",") } else { s }
}

/// A valid SIRET: 13 digits and the check digit that makes it one.
fn siret() -> impl Strategy<Value = String> {
    "[0-9]{13}".prop_map(|head| {
        (0..10)
            .map(|d| format!("{head}{d}"))
            .find(|s| Siret::parse(s).is_ok())
            .unwrap()
    })
}

/// A partner as a directory row, and what the importer must read from it.
#[derive(Debug, Clone)]
struct PartnerValues {
    siret: String,
    kinds: Vec<PartnerKind>,
    legal_name: String,
    trade_name: String,
    line1: String,
    postal_code: String,
    commune: String,
    latitude: f64,
    longitude: f64,
    comma: bool,
    categories: Vec<&'static str>,
    intake_kg: i64,
    radius_km: i32,
    fte_centi: i64,
}

fn partner_values() -> impl Strategy<Value = PartnerValues> {
    let codes: Vec<&'static str> = category::all().iter().map(|c| c.code).collect();
    (
        (
            siret(),
            prop::collection::vec(prop::sample::select(PartnerKind::ALL.to_vec()), 1..4),
            words(40),
            prop_oneof![Just(String::new()), words(30)],
            prop_oneof![Just(String::new()), words(40)],
            "[0-9]{5}",
            prop_oneof![Just(String::new()), words(30)],
        ),
        (
            -90.0..=90.0f64,
            -180.0..=180.0f64,
            any::<bool>(),
            prop::collection::vec(prop::sample::select(codes), 0..4),
            0..10_000_000i64,
            1..=200i32,
            0..100_000i64,
        ),
    )
        .prop_map(
            |(
                (siret, kinds, legal_name, trade_name, line1, postal_code, commune),
                (latitude, longitude, comma, categories, intake_kg, radius_km, fte_centi),
            )| PartnerValues {
                siret,
                kinds,
                legal_name,
                trade_name,
                line1,
                postal_code,
                commune,
                latitude,
                longitude,
                comma,
                categories,
                intake_kg,
                radius_km,
                fte_centi,
            },
        )
}

/// Whether no two values are equal.
fn distinct(values: impl Iterator<Item = String>) -> bool {
    let mut seen = std::collections::HashSet::new();
    values.into_iter().all(|v| seen.insert(v))
}

/// The values in order, each at its first place only.
fn first_of_each<T: PartialEq + Copy>(values: &[T]) -> Vec<T> {
    let mut kept = Vec::new();
    for v in values {
        if !kept.contains(v) {
            kept.push(*v);
        }
    }
    kept
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_text_is_read_and_every_row_is_reported_on_its_line(text in raw_text()) {
        check_reported(&text, |sheet| lots::parse(sheet, || {}))?;
        check_reported(&text, |sheet| partners::parse(sheet, partners::DEFAULT_RADIUS_KM, || {}))?;
    }

    #[test]
    fn any_bytes_are_read_without_a_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(text) = std::str::from_utf8(&bytes) {
            check_reported(text, |sheet| lots::parse(sheet, || {}))?;
        } else {
            prop_assert!(read_csv(&bytes).is_err());
        }
    }

    #[test]
    fn valid_diagnostic_rows_round_trip(
        // A reference names one row (a re-import matches by it).
        rows in prop::collection::vec(lot_values(), 1..6)
            .prop_filter("distinct references", |rows| distinct(rows.iter().map(|v| v.reference.to_lowercase()))),
        layout in layout(),
    ) {
        let mut records = vec![
            ["Réf", "Désignation", "Catégorie", "Quantité", "Unité", "Masse (kg)",
             "Localisation", "Description", "Code déchet", "Danger"]
                .map(str::to_owned)
                .to_vec(),
        ];
        for v in &rows {
            records.push(vec![
                v.reference.clone(),
                v.designation.clone(),
                v.category.to_owned(),
                decimal(v.milli, v.comma),
                v.unit.code().to_owned(),
                decimal(v.mass_g, v.comma),
                v.location.clone(),
                v.description.clone(),
                v.waste_code.clone().unwrap_or_default(),
                v.hazards.iter().map(|h| h.code()).collect::<Vec<_>>().join(if layout.semicolon { "," } else { ";" }),
            ]);
        }
        let (text, lines) = write_csv(&records, &layout);
        let sheet = read_csv(text.as_bytes()).unwrap();
        let (parsed, unused) = lots::parse(&sheet, || {}).unwrap();
        prop_assert!(unused.is_empty(), "{:?}", unused);
        prop_assert!(parsed.bad.is_empty(), "{:?}\n{}", parsed.bad, text);
        prop_assert_eq!(parsed.good.len(), rows.len());
        for (((line, got), v), want_line) in parsed.good.iter().zip(&rows).zip(&lines) {
            let lot = &got.lot;
            prop_assert_eq!(line, want_line);
            prop_assert_eq!(&lot.reference, &v.reference);
            prop_assert_eq!(&lot.designation, &v.designation);
            prop_assert_eq!(lot.category.as_str(), v.category);
            let quantity = lot.quantity.unwrap();
            prop_assert_eq!(quantity.milli, v.milli);
            prop_assert_eq!(quantity.unit, unit_to_proto(v.unit) as i32);
            prop_assert_eq!(lot.estimated_mass_g, v.mass_g);
            prop_assert_eq!(&lot.building_location, &v.location);
            prop_assert_eq!(&lot.description, &v.description.replace("\r\n", "\n"));
            prop_assert_eq!(&lot.waste_code, &v.waste_code.clone().unwrap_or_default());
            // A hazard named twice is one hazard.
            prop_assert_eq!(lot.hazards.len(), first_of_each(&v.hazards).len());
        }
    }

    #[test]
    fn valid_directory_rows_round_trip(
        // A SIRET names one row (a re-import updates its partner).
        rows in prop::collection::vec(partner_values(), 1..6)
            .prop_filter("distinct SIRETs", |rows| distinct(rows.iter().map(|v| v.siret.clone()))),
        layout in layout(),
    ) {
        let mut records = vec![
            ["siret", "type", "raison_sociale", "enseigne", "addresse_ligne_1", "code_postal",
             "ville", "departement", "latitude", "longitude", "categories", "weekly_intake_kg",
             "radius_km", "insertion_fte"]
                .map(str::to_owned)
                .to_vec(),
        ];
        for v in &rows {
            let degrees = |d: f64| if v.comma { d.to_string().replace('.', ",") } else { d.to_string() };
            records.push(vec![
                v.siret.clone(),
                v.kinds.iter().map(|k| k.code()).collect::<Vec<_>>().join(", "),
                v.legal_name.clone(),
                v.trade_name.clone(),
                v.line1.clone(),
                v.postal_code.clone(),
                v.commune.clone(),
                "68".to_owned(),
                degrees(v.latitude),
                degrees(v.longitude),
                v.categories.join(";"),
                v.intake_kg.to_string(),
                v.radius_km.to_string(),
                format!("{}.{:02}", v.fte_centi / 100, v.fte_centi % 100),
            ]);
        }
        let (text, lines) = write_csv(&records, &layout);
        let sheet = read_csv(text.as_bytes()).unwrap();
        let (parsed, unused) = partners::parse(&sheet, partners::DEFAULT_RADIUS_KM, || {}).unwrap();
        prop_assert!(unused.is_empty(), "{:?}", unused);
        prop_assert!(parsed.bad.is_empty(), "{:?}\n{}", parsed.bad, text);
        for (((line, p), v), want_line) in parsed.good.iter().zip(&rows).zip(&lines) {
            prop_assert_eq!(line, want_line);
            prop_assert_eq!(&p.siret, &v.siret);
            let kinds: Vec<i32> = v.kinds.iter().map(|k| reemploi_registry::model::kind_proto(*k) as i32).collect();
            prop_assert_eq!(&p.kinds, &kinds);
            prop_assert_eq!(&p.legal_name, &v.legal_name);
            prop_assert_eq!(&p.trade_name, &v.trade_name);
            let address = p.address.clone().unwrap();
            prop_assert_eq!(&address.line1, &v.line1);
            prop_assert_eq!(&address.postal_code, &v.postal_code);
            prop_assert_eq!(&address.commune, &v.commune);
            let at = p.location.unwrap();
            prop_assert_eq!((at.latitude, at.longitude), (v.latitude, v.longitude));
            // A category named twice is accepted once.
            prop_assert_eq!(&p.accepted_categories, &first_of_each(&v.categories).iter().map(|c| (*c).to_owned()).collect::<Vec<_>>());
            prop_assert_eq!(p.weekly_intake_kg, v.intake_kg);
            prop_assert_eq!(p.service_radius_km, v.radius_km);
            prop_assert_eq!(p.insertion_fte_centi, v.fte_centi);
        }
        prop_assert_eq!(parsed.good.len(), rows.len());
    }
}
