//! European List of Waste codes and hazards found by diagnostics.

use std::fmt;

use crate::DomainError;

const FIELD: &str = "waste_code";

/// European List of Waste code: six digits in three pairs, `"17 06 05*"`; a
/// trailing `*` marks a hazardous waste.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WasteCode {
    pairs: [u8; 3],
    hazardous: bool,
}

impl WasteCode {
    /// Parses `"17 06 05*"`, `"170605*"`, `"17-06-05 *"`, `"17.06.05"`.
    ///
    /// The chapter must be 01–20 and neither the sub-chapter nor the entry
    /// may be 00, as in the published list. Field `"waste_code"`.
    pub fn parse(s: &str) -> Result<WasteCode, DomainError> {
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
                    format!(
                        "unexpected character {c:?}; expected e.g. \"17 02 01\" or \"17 06 05*\""
                    ),
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
        if !(1..=20).contains(&pairs[0]) {
            return Err(DomainError::invalid(
                FIELD,
                "chapter must be between 01 and 20",
            ));
        }
        if pairs[1] == 0 || pairs[2] == 0 {
            return Err(DomainError::invalid(
                FIELD,
                "sub-chapter and entry cannot be 00",
            ));
        }
        Ok(WasteCode { pairs, hazardous })
    }

    /// Whether the code carries the hazardous marker `*`.
    pub fn is_hazardous(&self) -> bool {
        self.hazardous
    }

    /// The chapter (first pair), e.g. 17 for construction and demolition.
    pub fn chapter(&self) -> u8 {
        self.pairs[0]
    }
}

impl fmt::Display for WasteCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c] = self.pairs;
        write!(f, "{a:02} {b:02} {c:02}")?;
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
    use super::*;

    #[test]
    fn hazardous_and_not() {
        let asb = WasteCode::parse("17 06 05*").unwrap();
        assert!(asb.is_hazardous());
        assert_eq!(asb.chapter(), 17);
        assert_eq!(asb.to_string(), "17 06 05*");
        let wood = WasteCode::parse("17 02 01").unwrap();
        assert!(!wood.is_hazardous());
        assert_eq!(wood.to_string(), "17 02 01");
        assert_ne!(asb, WasteCode::parse("17 06 05").unwrap());
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
            let e = WasteCode::parse(s).unwrap_err();
            assert_eq!(e.field(), Some("waste_code"), "{s:?}");
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
