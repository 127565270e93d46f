//! Resource names on any text: parsing never panics; a name that parses
//! prints back to itself (one resource, one spelling); a refusal names the
//! field and echoes at most a cut piece of the input; names printed from
//! ids parse back to those ids. The inventory's typed names agree with the
//! runtime's parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reemploi_runtime::names::{ClaimName, LotName, PartnerName, SiteName, site_or_all};
use reemploi_runtime::names::parse;
use uuid::Uuid;

/// Every pattern the services parse.
const PATTERNS: [&str; 4] = [
    "sites/{site}",
    "sites/{site}/lots/{lot}",
    "sites/{site}/lots/{lot}/claims/{claim}",
    "partners/{partner}",
];

/// `pattern` with its `{...}` segments replaced by `ids`, in order.
fn print(pattern: &str, ids: &[Uuid]) -> String {
    let mut ids = ids.iter();
    pattern
        .split('/')
        .map(|segment| match segment.starts_with('{') {
            true => ids.next().map(Uuid::to_string).unwrap_or_default(),
            false => segment.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn check_text(name: &str) {
    for pattern in PATTERNS {
        match parse("name", name, pattern) {
            Ok(ids) => {
                assert_eq!(ids.len(), pattern.matches('{').count());
                assert_eq!(print(pattern, &ids), name, "{pattern} does not print back");
            }
            Err(v) => {
                assert_eq!(v.field, "name");
                assert!(!v.description.is_empty());
                // Ids are echoed cut to 40 characters; patterns are short.
                assert!(
                    v.description.chars().count() <= 120,
                    "echoes too much: {}",
                    v.description
                );
            }
        }
    }
    // The typed names accept exactly what their pattern accepts.
    let typed = [
        SiteName::parse("name", name).map(|n| n.to_string()),
        LotName::parse("name", name).map(|n| n.to_string()),
        ClaimName::parse("name", name).map(|n| n.to_string()),
        PartnerName::parse("name", name).map(|n| n.to_string()),
    ];
    for (pattern, typed) in PATTERNS.iter().zip(typed) {
        assert_eq!(
            typed.is_ok(),
            parse("name", name, pattern).is_ok(),
            "{pattern}"
        );
        if let Ok(printed) = typed {
            assert_eq!(printed, name);
        }
    }
    match site_or_all("parent", name) {
        Ok(None) => assert!(name.is_empty() || name == "sites/-"),
        Ok(Some(site)) => assert_eq!(format!("sites/{site}"), name),
        Err(v) => assert_eq!(v.field, "parent"),
    }
}

fuzz_target!(|data: &[u8]| {
    check_text(&String::from_utf8_lossy(data));
    // Names printed from any ids parse back to them.
    let mut bytes = [0u8; 48];
    for (b, d) in bytes.iter_mut().zip(data) {
        *b = *d;
    }
    let ids: Vec<Uuid> = bytes
        .chunks_exact(16)
        .map(|c| Uuid::from_slice(c).unwrap())
        .collect();
    for pattern in PATTERNS {
        let n = pattern.matches('{').count();
        let name = print(pattern, &ids[..n]);
        assert_eq!(parse("name", &name, pattern).unwrap(), ids[..n].to_vec());
        check_text(&name);
    }
});
