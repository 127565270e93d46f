//! European List of Waste codes and hazards found by diagnostics.

use std::fmt;
use std::sync::LazyLock;

use crate::DomainError;

const FIELD: &str = "waste_code";

/// The European List of Waste (the annex to Commission Decision 2000/532/EC as
/// replaced by Decision 2014/955/EU), one entry a line. A code's hazard is a
/// fact of the list, not of how it was typed: `17 06 05` exists only as the
/// hazardous `17 06 05*`, so the list must be known to refuse the plain form.
const LIST_TSV: &str = include_str!("../data/list-of-waste.tsv");

/// The entries, sorted by code so a lookup is a binary search. The file is
/// compiled in and the tests parse it, so a malformed file never ships.
static LIST: LazyLock<Vec<Entry>> = LazyLock::new(|| {
    parse_list(LIST_TSV).unwrap_or_else(|e| panic!("data/list-of-waste.tsv: {e}"))
});

/// One entry of the European List of Waste.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    code: WasteCode,
    description: &'static str,
    description_fr: &'static str,
}

impl Entry {
    /// The code, with its `*` if the entry is hazardous.
    pub fn code(&self) -> &WasteCode {
        &self.code
    }

    /// The official English description.
    pub fn description(&self) -> &'static str {
        self.description
    }

    /// The official French description (the list as published in France).
    pub fn description_fr(&self) -> &'static str {
        self.description_fr
    }
}

/// Every entry of the European List of Waste, in code order.
pub fn list() -> &'static [Entry] {
    &LIST
}

fn lookup(pairs: [u8; 3]) -> Option<&'static Entry> {
    let i = LIST.binary_search_by_key(&pairs, |e| e.code.pairs).ok()?;
    LIST.get(i)
}

/// Reads `code<TAB>hazardous<TAB>English<TAB>French` lines (`#` starts a
/// comment line); codes must be strictly increasing, which also rules out
/// duplicates.
fn parse_list(text: &'static str) -> Result<Vec<Entry>, String> {
    let mut entries: Vec<Entry> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |what: &str| format!("line {}: {what}: {line:?}", i + 1);
        let fields: Vec<&'static str> = line.split('\t').collect();
        let [code, hazardous, description, description_fr] = fields[..] else {
            return Err(bad("expected 4 tab-separated fields"));
        };
        let d = code.as_bytes();
        if d.len() != 6 || !d.iter().all(u8::is_ascii_digit) {
            return Err(bad("code must be six digits"));
        }
        let pair = |k: usize| (d[k] - b'0') * 10 + (d[k + 1] - b'0');
        let pairs = [pair(0), pair(2), pair(4)];
        if !(1..=20).contains(&pairs[0]) || pairs[1] == 0 || pairs[2] == 0 {
            return Err(bad("chapter must be 01-20, sub-chapter and entry not 00"));
        }
        let hazardous = match hazardous {
            "0" => false,
            "1" => true,
            _ => return Err(bad("hazardous must be 0 or 1")),
        };
        if description.is_empty() || description_fr.is_empty() {
            return Err(bad("descriptions must not be empty"));
        }
        if entries.last().is_some_and(|e| e.code.pairs >= pairs) {
            return Err(bad("codes must be unique and in increasing order"));
        }
        entries.push(Entry {
            code: WasteCode { pairs, hazardous },
            description,
            description_fr,
        });
    }
    Ok(entries)
}

/// The six digits of a written code, as pairs, and whether it ends with `*`.
fn written(s: &str) -> Result<([u8; 3], bool), DomainError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(DomainError::invalid(FIELD, "must not be empty"));
    }
    let (body, hazardous) = match t.strip_suffix('*') {
        Some(rest) => (rest, true),
        None => (t, false),
    };
    let mut digits = [0u8; 6];
    let mut n = 0usize;
    for c in body.chars() {
        if c.is_ascii_digit() {
            if n == 6 {
                return Err(DomainError::invalid(FIELD, "must have exactly 6 digits"));
            }
            digits[n] = c as u8 - b'0';
            n += 1;
        } else if !(c.is_whitespace() || c == '-' || c == '.') {
            return Err(DomainError::invalid(
                FIELD,
                format!("unexpected character {c:?}; expected e.g. \"17 02 01\" or \"17 06 05*\""),
            ));
        }
    }
    if n != 6 {
        return Err(DomainError::invalid(FIELD, "must have exactly 6 digits"));
    }
    let pairs = [
        digits[0] * 10 + digits[1],
        digits[2] * 10 + digits[3],
        digits[4] * 10 + digits[5],
    ];
    Ok((pairs, hazardous))
}

/// A code of the European List of Waste: six digits in three pairs,
/// `"17 06 05*"`, where the trailing `*` marks a hazardous entry. Only codes
/// of the list, with the list's own hazard, can be built.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WasteCode {
    pairs: [u8; 3],
    hazardous: bool,
}

impl WasteCode {
    /// Parses `"17 06 05*"`, `"170605*"`, `"17-06-05 *"`, `"17.06.05"`, then
    /// looks the code up: it must be in the European List of Waste, with a `*`
    /// exactly when the list marks it hazardous. Field `"waste_code"`.
    pub fn parse(s: &str) -> Result<WasteCode, DomainError> {
        let (pairs, hazardous) = written(s)?;
        let plain = Plain(pairs);
        let Some(entry) = lookup(pairs) else {
            return Err(DomainError::invalid(
                FIELD,
                format!("{plain} is not in the European List of Waste"),
            ));
        };
        match (entry.code.hazardous, hazardous) {
            (true, false) => Err(DomainError::invalid(
                FIELD,
                format!("{plain} is hazardous in the European List of Waste: write {plain}*"),
            )),
            (false, true) => Err(DomainError::invalid(
                FIELD,
                format!(
                    "{plain} is not a hazardous entry of the European List of Waste: write {plain} without *"
                ),
            )),
            _ => Ok(entry.code.clone()),
        }
    }

    /// Reads a code stored before the list was checked: a listed code takes
    /// the list's hazard whatever was written (a stored `17 06 05` is the
    /// hazardous `17 06 05*`); an unlisted one keeps what was written, so
    /// that an old record still loads.
    pub fn from_stored(s: &str) -> Result<WasteCode, DomainError> {
        let (pairs, hazardous) = written(s)?;
        Ok(match lookup(pairs) {
            Some(entry) => entry.code.clone(),
            None => WasteCode { pairs, hazardous },
        })
    }

    /// Whether the list marks this code hazardous (it is then written with `*`).
    pub fn is_hazardous(&self) -> bool {
        self.hazardous
    }

    /// The chapter (first pair), e.g. 17 for construction and demolition.
    pub fn chapter(&self) -> u8 {
        self.pairs[0]
    }

    /// The official English description of the code in the list.
    pub fn description(&self) -> Option<&'static str> {
        lookup(self.pairs).map(Entry::description)
    }

    /// The official French description of the code in the list.
    pub fn description_fr(&self) -> Option<&'static str> {
        lookup(self.pairs).map(Entry::description_fr)
    }
}

/// The six digits as `"17 06 05"`, without the hazard marker.
struct Plain([u8; 3]);

impl fmt::Display for Plain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c] = self.0;
        write!(f, "{a:02} {b:02} {c:02}")
    }
}

impl fmt::Display for WasteCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Plain(self.pairs).fmt(f)?;
        if self.hazardous {
            f.write_str("*")?;
        }
        Ok(())
    }
}

/// A hazard found by the pre-demolition diagnostic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hazard {
    /// Asbestos (amiante): forbids reuse outright.
    Asbestos,
    /// Lead (plomb), typically in old paint: needs a check before reuse.
    Lead,
    /// Polychlorinated biphenyls.
    Pcb,
    /// Polycyclic aromatic hydrocarbons (HAP in French).
    Pah,
    /// Anything else the diagnostic flagged.
    Other,
}

impl Hazard {
    /// Every hazard, in declaration order.
    pub const ALL: [Hazard; 5] = [
        Hazard::Asbestos,
        Hazard::Lead,
        Hazard::Pcb,
        Hazard::Pah,
        Hazard::Other,
    ];

    /// Stable code: `"asbestos"`, `"lead"`, `"pcb"`, `"pah"`, `"other"`.
    pub fn code(self) -> &'static str {
        match self {
            Hazard::Asbestos => "asbestos",
            Hazard::Lead => "lead",
            Hazard::Pcb => "pcb",
            Hazard::Pah => "pah",
            Hazard::Other => "other",
        }
    }

    /// Parses a code or its French name (`"amiante"`, `"plomb"`, `"hap"`,
    /// `"autre"`), trimmed and case-insensitive. Field `"hazard"`.
    pub fn parse(s: &str) -> Result<Hazard, DomainError> {
        let t = s.trim().to_lowercase();
        let h = match t.as_str() {
            "asbestos" | "amiante" => Hazard::Asbestos,
            "lead" | "plomb" => Hazard::Lead,
            "pcb" => Hazard::Pcb,
            "pah" | "hap" => Hazard::Pah,
            "other" | "autre" => Hazard::Other,
            _ => {
                return Err(DomainError::invalid(
                    "hazard",
                    format!("unknown hazard {:?}", s.trim()),
                ));
            }
        };
        Ok(h)
    }

    /// Hazards that rule out reuse whatever the waste code (asbestos).
    pub fn forbids_reuse(self) -> bool {
        self == Hazard::Asbestos
    }
}

impl fmt::Display for Hazard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A lot is hazardous (never publishable) if its waste code is hazardous or
/// any of its hazards forbids reuse.
pub fn is_hazardous(code: Option<&WasteCode>, hazards: &[Hazard]) -> bool {
    code.is_some_and(WasteCode::is_hazardous) || hazards.iter().any(|h| h.forbids_reuse())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn reason(s: &str) -> String {
        let e = WasteCode::parse(s).unwrap_err();
        assert_eq!(e.field(), Some("waste_code"), "{s:?}");
        e.to_string()
    }

    #[test]
    fn stored_codes_take_the_lists_hazard() {
        let asbestos = WasteCode::from_stored("17 06 05").unwrap();
        assert!(asbestos.is_hazardous());
        assert_eq!(asbestos.to_string(), "17 06 05*");
        assert!(!WasteCode::from_stored("17 02 01*").unwrap().is_hazardous());
        // Unlisted but well-formed: loads as written.
        assert_eq!(
            WasteCode::from_stored("17 06 99").unwrap().to_string(),
            "17 06 99"
        );
        assert!(WasteCode::from_stored("nope").is_err());
    }

    #[test]
    fn hazardous_and_not() {
        let asb = WasteCode::parse("17 06 05*").unwrap();
        assert!(asb.is_hazardous());
        assert_eq!(asb.chapter(), 17);
        assert_eq!(asb.to_string(), "17 06 05*");
        let wood = WasteCode::parse("17 02 01").unwrap();
        assert!(!wood.is_hazardous());
        assert_eq!(wood.to_string(), "17 02 01");
    }

    #[test]
    fn hazardous_code_without_star_is_refused() {
        // The security finding: asbestos written without its `*` passed as
        // non-hazardous and was published.
        assert_eq!(
            reason("17 06 05"),
            "waste_code: 17 06 05 is hazardous in the European List of Waste: write 17 06 05*"
        );
        for s in ["170605", "17-06-05", "17 06 01", "17 09 03", "20 01 21"] {
            assert!(reason(s).contains("is hazardous"), "{s}");
        }
    }

    #[test]
    fn star_on_a_non_hazardous_code_is_refused() {
        assert_eq!(
            reason("17 02 01*"),
            "waste_code: 17 02 01 is not a hazardous entry of the European List of Waste: \
             write 17 02 01 without *"
        );
        assert!(reason("17 09 04*").contains("not a hazardous entry"));
    }

    #[test]
    fn codes_outside_the_list_are_refused() {
        assert_eq!(
            reason("17 06 99"),
            "waste_code: 17 06 99 is not in the European List of Waste"
        );
        // Well-formed but absent: gaps in a sub-chapter, an unused
        // sub-chapter, a code that is not an entry in any spelling.
        for s in ["17 06 02", "17 07 01", "17 04 08", "17 06 99*", "20 01 03"] {
            assert!(reason(s).contains("not in the European List"), "{s}");
        }
    }

    #[test]
    fn accepted_spellings_are_canonicalised() {
        for s in [
            "17 06 05*",
            "170605*",
            "17-06-05 *",
            " 17.06.05* ",
            "17 0605*",
        ] {
            let w = WasteCode::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(w.to_string(), "17 06 05*", "{s}");
        }
        assert_eq!(WasteCode::parse("200136").unwrap().to_string(), "20 01 36");
        assert_eq!(WasteCode::parse("01 01 01").unwrap().chapter(), 1);
    }

    #[test]
    fn bad_formats_rejected() {
        for s in [
            "",
            "*",
            "17 06",
            "17 06 0",
            "17 06 055",
            "1706055*",
            "17 06 05**",
            "*17 06 05",
            "17 06 05 x",
            "AB CD EF",
            "17/06/05",
            "00 01 01",
            "21 01 01",
            "99 01 01",
            "17 00 01",
            "17 01 00",
            "17 06 05*1",
            "１７ ０６ ０５",
        ] {
            reason(s);
        }
    }

    #[test]
    fn descriptions() {
        let asb = WasteCode::parse("17 06 05*").unwrap();
        assert_eq!(
            asb.description(),
            Some("construction materials containing asbestos")
        );
        assert_eq!(
            asb.description_fr(),
            Some("matériaux de construction contenant de l'amiante")
        );
        assert_eq!(
            WasteCode::parse("17 04 05").unwrap().description(),
            Some("iron and steel")
        );
    }

    #[test]
    fn the_list_has_every_entry_of_the_decision() {
        // Decision 2000/532/EC as replaced by 2014/955/EU: 842 entries, 408 of
        // them hazardous, in 20 chapters.
        assert_eq!(list().len(), 842);
        assert_eq!(
            list().iter().filter(|e| e.code().is_hazardous()).count(),
            408
        );
        for chapter in 1..=20 {
            assert!(
                list().iter().any(|e| e.code().chapter() == chapter),
                "chapter {chapter}"
            );
        }
        assert!(
            list()
                .windows(2)
                .all(|w| w[0].code().pairs < w[1].code().pairs)
        );
        assert!(
            list()
                .iter()
                .all(|e| !e.description().is_empty() && !e.description_fr().is_empty())
        );
    }

    #[test]
    fn construction_and_demolition_chapter_is_exact() {
        let chapter_17: Vec<String> = list()
            .iter()
            .filter(|e| e.code().chapter() == 17)
            .map(|e| e.code().to_string())
            .collect();
        assert_eq!(
            chapter_17,
            [
                "17 01 01",
                "17 01 02",
                "17 01 03",
                "17 01 06*",
                "17 01 07",
                "17 02 01",
                "17 02 02",
                "17 02 03",
                "17 02 04*",
                "17 03 01*",
                "17 03 02",
                "17 03 03*",
                "17 04 01",
                "17 04 02",
                "17 04 03",
                "17 04 04",
                "17 04 05",
                "17 04 06",
                "17 04 07",
                "17 04 09*",
                "17 04 10*",
                "17 04 11",
                "17 05 03*",
                "17 05 04",
                "17 05 05*",
                "17 05 06",
                "17 05 07*",
                "17 05 08",
                "17 06 01*",
                "17 06 03*",
                "17 06 04",
                "17 06 05*",
                "17 08 01*",
                "17 08 02",
                "17 09 01*",
                "17 09 02*",
                "17 09 03*",
                "17 09 04",
            ]
        );
    }

    #[test]
    fn malformed_list_lines_are_reported() {
        let ok = "# comment\n170101\t0\tconcrete\tbéton\n170102\t0\tbricks\tbriques\n";
        assert_eq!(parse_list(ok).unwrap().len(), 2);
        for (text, what) in [
            ("170101\t0\tconcrete\n", "4 tab-separated"),
            ("17010\t0\ta\tb\n", "six digits"),
            ("210101\t0\ta\tb\n", "chapter"),
            ("170101\t2\ta\tb\n", "0 or 1"),
            ("170101\t0\t\tb\n", "empty"),
            ("170102\t0\ta\tb\n170101\t0\ta\tb\n", "increasing"),
            ("170101\t0\ta\tb\n170101\t1\ta\tb\n", "unique"),
        ] {
            let e = parse_list(text).unwrap_err();
            assert!(e.contains(what), "{text:?}: {e}");
        }
    }

    proptest! {
        #[test]
        fn every_entry_round_trips(i in 0..842usize) {
            let entry = &list()[i];
            let shown = entry.code().to_string();
            prop_assert_eq!(&WasteCode::parse(&shown).unwrap(), entry.code());
            prop_assert_eq!(entry.code().description(), Some(entry.description()));
        }

        #[test]
        fn six_digits_parse_to_a_listed_code_or_are_refused(
            // Half the cases are listed codes, which random digits rarely hit.
            n in prop_oneof![
                0..1_000_000u32,
                (0..842usize).prop_map(|i| {
                    let [a, b, c] = list()[i].code().pairs;
                    u32::from(a) * 10_000 + u32::from(b) * 100 + u32::from(c)
                }),
            ],
            star: bool,
        ) {
            let s = format!("{n:06}{}", if star { "*" } else { "" });
            let digits = format!("{n:06}");
            let listed = list()
                .iter()
                .find(|e| e.code().to_string().replace(' ', "").trim_end_matches('*') == digits);
            match (WasteCode::parse(&s), listed) {
                (Ok(code), Some(entry)) => {
                    prop_assert_eq!(&code, entry.code());
                    prop_assert_eq!(code.is_hazardous(), star);
                }
                (Ok(code), None) => prop_assert!(false, "{s} parsed to unlisted {code}"),
                (Err(e), listed) => {
                    prop_assert_eq!(e.field(), Some("waste_code"));
                    // Refused only when absent or written with the wrong hazard.
                    prop_assert!(listed.is_none_or(|l| l.code().is_hazardous() != star), "{s}: {e}");
                }
            }
        }
    }

    #[test]
    fn hazards() {
        for h in Hazard::ALL {
            assert_eq!(Hazard::parse(h.code()), Ok(h));
            assert_eq!(Hazard::parse(&h.code().to_uppercase()), Ok(h));
        }
        assert_eq!(Hazard::parse("amiante"), Ok(Hazard::Asbestos));
        assert_eq!(Hazard::parse(" Plomb "), Ok(Hazard::Lead));
        assert_eq!(Hazard::parse("HAP"), Ok(Hazard::Pah));
        assert_eq!(Hazard::parse("PCB"), Ok(Hazard::Pcb));
        assert_eq!(Hazard::parse("radon").unwrap_err().field(), Some("hazard"));
        let forbidding: Vec<_> = Hazard::ALL
            .into_iter()
            .filter(|h| h.forbids_reuse())
            .collect();
        assert_eq!(forbidding, [Hazard::Asbestos]);
    }

    #[test]
    fn lot_hazard_rule() {
        let star = WasteCode::parse("17 06 05*").unwrap();
        let plain = WasteCode::parse("17 04 05").unwrap();
        assert!(!is_hazardous(None, &[]));
        assert!(!is_hazardous(Some(&plain), &[]));
        assert!(is_hazardous(Some(&star), &[]));
        // Diagnostic M5: steel railings with lead paint need a check, not a ban.
        assert!(!is_hazardous(Some(&plain), &[Hazard::Lead]));
        // Diagnostic M9: asbestos vinyl floor tiles.
        assert!(is_hazardous(Some(&star), &[Hazard::Asbestos]));
        assert!(is_hazardous(None, &[Hazard::Lead, Hazard::Asbestos]));
        assert!(is_hazardous(Some(&plain), &[Hazard::Asbestos]));
    }
}
