//! Resource names on any text: parsing never panics; a name that parses
//! prints back to itself (one resource, one spelling); a refusal names the
//! field and echoes at most a cut piece of the input; names printed from
//! ids parse back to those ids. The inventory's typed names agree with the
//! runtime's parsers: sites and lots take UUIDs and readable ids, claims
//! and partners UUIDs only.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reemploi_runtime::names::{ClaimName, LotName, PartnerName, SiteName, site_or_all};
use reemploi_runtime::names::{Id, parse, segments};
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
    // Any id of either kind prints back to itself, and UUIDs are ids.
    for pattern in PATTERNS {
        if let Ok(ids) = segments("name", name, pattern) {
            let printed: Vec<&str> = ids.iter().map(Id::as_str).collect();
            let rebuilt: Vec<Uuid> = ids.iter().filter_map(Id::uuid).collect();
            if rebuilt.len() == ids.len() {
                assert_eq!(print(pattern, &rebuilt), name);
            }
            assert!(printed.iter().all(|p| name.contains(p)));
        }
        if parse("name", name, pattern).is_ok() {
            assert!(segments("name", name, pattern).is_ok(), "{pattern}");
        }
    }
    // The typed names accept exactly what their pattern accepts.
    let claim_ok = segments("name", name, PATTERNS[2]).is_ok_and(|ids| ids[2].uuid().is_some());
    let typed = [
        (
            SiteName::parse("name", name).map(|n| n.to_string()),
            segments("name", name, PATTERNS[0]).is_ok(),
        ),
        (
            LotName::parse("name", name).map(|n| n.to_string()),
            segments("name", name, PATTERNS[1]).is_ok(),
        ),
        (
            ClaimName::parse("name", name).map(|n| n.to_string()),
            claim_ok,
        ),
        (
            PartnerName::parse("name", name).map(|n| n.to_string()),
            parse("name", name, PATTERNS[3]).is_ok(),
        ),
    ];
    for (pattern, (typed, accepted)) in PATTERNS.iter().zip(typed) {
        assert_eq!(typed.is_ok(), accepted, "{pattern}");
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
