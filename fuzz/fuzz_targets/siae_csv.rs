//! The SIAE directory importer (`reemploi partners import`) on any bytes:
//! it never panics; a file-level error names the file; every data row
//! comes back once, good or bad, on a line of the file, each bad one with
//! a reason; every good row is a partner the registry's rules accept.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reemploi_domain::geo::GeoPoint;
use reemploi_domain::siret::Siret;
use reemploi_fuzz::{assert_rows_accounted, assert_says_why, read_sheet};
use reemploi_import::partners;

/// The radius given to rows that have none (the CLI's default).
const DEFAULT_RADIUS_KM: i32 = partners::DEFAULT_RADIUS_KM;

fuzz_target!(|data: &[u8]| {
    let Some(sheet) = read_sheet(data) else {
        return;
    };
    let mut ticks = 0;
    let (parsed, _unused) = match partners::parse(&sheet, DEFAULT_RADIUS_KM, || ticks += 1) {
        Ok(done) => done,
        Err(e) => {
            // Only missing siret, type or raison_sociale columns stop the file.
            assert_says_why(&e);
            return;
        }
    };
    assert_rows_accounted(&sheet, &parsed, ticks);
    for (line, p) in &parsed.good {
        assert_eq!(
            Siret::parse(&p.siret).ok().as_ref().map(Siret::as_str),
            Some(p.siret.as_str()),
            "line {line}"
        );
        assert!(!p.kinds.is_empty(), "line {line}: no kind");
        assert!(!p.legal_name.is_empty(), "line {line}: no legal name");
        assert!(
            (1..=200).contains(&p.service_radius_km),
            "line {line}: radius {}",
            p.service_radius_km
        );
        assert!(
            p.weekly_intake_kg >= 0 && p.insertion_fte_centi >= 0,
            "line {line}: {p:?}"
        );
        let at = p.location.unwrap_or_default();
        assert!(
            GeoPoint::new(at.latitude, at.longitude).is_ok(),
            "line {line}: {at:?}"
        );
        let postal = p.address.as_ref().map_or("", |a| a.postal_code.as_str());
        assert!(
            postal.is_empty() || (postal.len() == 5 && postal.bytes().all(|b| b.is_ascii_digit())),
            "line {line}: postal code {postal:?}"
        );
        for c in &p.accepted_categories {
            assert!(
                reemploi_domain::category::find(c).is_some(),
                "line {line}: {c:?}"
            );
        }
    }
});
