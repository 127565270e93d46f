//! The diagnostic importer (`reemploi lots import`) on any bytes: it never
//! panics; a file-level error names the file; every data row comes back
//! once, good or bad, on a line of the file, each bad one with a reason;
//! every good row is a lot the inventory's own rules accept.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reemploi_domain::waste::WasteCode;
use reemploi_fuzz::{assert_rows_accounted, assert_says_why, read_sheet};
use reemploi_import::lots;
use reemploi_inventory::model::MAX_NAME;

fuzz_target!(|data: &[u8]| {
    let Some(sheet) = read_sheet(data) else {
        return;
    };
    let mut ticks = 0;
    let (parsed, _unused) = match lots::parse(&sheet, || ticks += 1) {
        Ok(done) => done,
        Err(e) => {
            // Only a missing required column stops the whole file.
            assert_says_why(&e);
            return;
        }
    };
    assert_rows_accounted(&sheet, &parsed, ticks);
    for (line, row) in &parsed.good {
        let lot = &row.lot;
        let designation = &lot.designation;
        assert!(
            !designation.is_empty()
                && designation.trim() == designation
                && designation.chars().count() <= MAX_NAME,
            "line {line}: designation {designation:?}"
        );
        assert!(
            reemploi_domain::category::find(&lot.category).is_some(),
            "line {line}: category {:?}",
            lot.category
        );
        let quantity = lot.quantity.unwrap_or_default();
        assert!(quantity.milli > 0, "line {line}: quantity {quantity:?}");
        assert!(lot.estimated_mass_g >= 0, "line {line}: mass {lot:?}");
        if !lot.waste_code.is_empty() {
            // The code sent is one the inventory reads back the same.
            let code = WasteCode::parse(&lot.waste_code);
            assert_eq!(
                code.map(|c| c.to_string()).ok().as_deref(),
                Some(lot.waste_code.as_str()),
                "line {line}"
            );
        }
    }
});
