//! SIRET, the French establishment identifier.

use crate::DomainError;

const FIELD: &str = "siret";
/// SIREN of La Poste, whose establishments follow a different checksum.
const LA_POSTE_SIREN: &str = "356000000";

/// French establishment identifier: 14 digits (9-digit SIREN of the company
/// plus 5-digit NIC of the establishment) with a Luhn checksum.
///
/// La Poste has more establishments than the Luhn scheme leaves numbers for,
/// so its SIRETs (SIREN 356000000) instead have a digit sum that is a
/// multiple of 5; its head office 35600000000048 passes Luhn too.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Siret(String);

impl Siret {
    /// Parses a SIRET, ignoring spaces (it is often printed "732 829 320 00074").
    /// Field `"siret"`; the reason tells non-digits, wrong length and bad
    /// checksum apart.
    pub fn parse(s: &str) -> Result<Siret, DomainError> {
        let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        if compact.is_empty() {
            return Err(DomainError::invalid(FIELD, "must not be empty"));
        }
        if !compact.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DomainError::invalid(FIELD, "must contain only digits"));
        }
        if compact.len() != 14 {
            return Err(DomainError::invalid(
                FIELD,
                format!("must have 14 digits, got {}", compact.len()),
            ));
        }
        let digits: Vec<u32> = compact.bytes().map(|b| u32::from(b - b'0')).collect();
        let valid = luhn_ok(&digits)
            || (compact.starts_with(LA_POSTE_SIREN)
                && digits.iter().sum::<u32>().is_multiple_of(5));
        if !valid {
            return Err(DomainError::invalid(FIELD, "checksum does not match"));
        }
        Ok(Siret(compact))
    }

    /// The 14 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 9-digit SIREN of the company.
    pub fn siren(&self) -> &str {
        &self.0[..9]
    }

    /// The 5-digit NIC identifying the establishment within the company.
    pub fn nic(&self) -> &str {
        &self.0[9..]
    }
}

impl std::fmt::Display for Siret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Luhn over the digits: from the right, every second digit is doubled
/// (minus 9 when above 9) and the total must be a multiple of 10.
fn luhn_ok(digits: &[u32]) -> bool {
    let total: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let twice = d * 2;
                if twice > 9 { twice - 9 } else { twice }
            } else {
                d
            }
        })
        .sum();
    total.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(s: &str) -> String {
        match Siret::parse(s) {
            Err(DomainError::Invalid { field, reason }) => {
                assert_eq!(field, "siret");
                reason
            }
            other => panic!("{s:?}: expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn reference_vectors() {
        for s in ["73282932000074", "35600000000048", "35600000049837"] {
            let siret = Siret::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(siret.as_str(), s);
        }
        assert!(reason("12345678912345").contains("checksum"));
        // The La Poste establishment is valid only thanks to the special rule.
        let digits: Vec<u32> = "35600000049837"
            .bytes()
            .map(|b| u32::from(b - b'0'))
            .collect();
        assert!(!luhn_ok(&digits));
        // The digit-sum rule must not leak to other companies: same digit sum
        // (45) as the La Poste vector, fails Luhn, different SIREN.
        assert!(reason("35700000049836").contains("checksum"));
    }

    #[test]
    fn sample_partners_are_valid() {
        // SIRETs of partners-sample.csv.
        for s in [
            "90012345600015",
            "90023456800013",
            "90034567900014",
            "90045678100013",
            "90056789200014",
        ] {
            assert!(Siret::parse(s).is_ok(), "{s}");
        }
    }

    #[test]
    fn parts_and_spaces() {
        let s = Siret::parse(" 732 829 320 00074 ").unwrap();
        assert_eq!(s.as_str(), "73282932000074");
        assert_eq!(s.siren(), "732829320");
        assert_eq!(s.nic(), "00074");
        assert_eq!(s.to_string(), "73282932000074");
    }

    #[test]
    fn wrong_length_letters_and_checksum_have_distinct_reasons() {
        let short = reason("7328293200007");
        let long = reason("732829320000740");
        let letters = reason("7328293200007A");
        let dashed = reason("732-829-320-00074");
        let empty = reason("   ");
        assert!(short.contains("14 digits"), "{short}");
        assert!(long.contains("14 digits"), "{long}");
        assert!(letters.contains("only digits"), "{letters}");
        assert!(dashed.contains("only digits"), "{dashed}");
        assert!(empty.contains("empty"), "{empty}");
        let checksum = reason("73282932000075");
        assert!(checksum.contains("checksum"));
        assert_ne!(checksum, short);
        assert_ne!(checksum, letters);
    }

    #[test]
    fn single_digit_changes_are_caught() {
        // Luhn detects every single-digit substitution.
        let base = "73282932000074";
        for pos in 0..14 {
            for d in b'0'..=b'9' {
                let mut bytes = base.as_bytes().to_vec();
                if bytes[pos] == d {
                    continue;
                }
                bytes[pos] = d;
                let s = String::from_utf8(bytes).unwrap();
                assert!(Siret::parse(&s).is_err(), "{s}");
            }
        }
    }
}
