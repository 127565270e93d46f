//! Exact quantities: integer thousandths of a unit, never floating point.

use std::fmt;

use crate::DomainError;

const FIELD_UNIT: &str = "unit";
const FIELD_QUANTITY: &str = "quantity";

/// Units of measure accepted on lots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    /// Countable items ("u", "pce").
    Piece,
    /// Linear metre ("ml" in French diagnostics).
    Metre,
    /// Square metre.
    SquareMetre,
    /// Cubic metre.
    CubicMetre,
    /// Kilogram.
    Kilogram,
    /// Metric tonne.
    Tonne,
    /// Litre.
    Litre,
}

impl Unit {
    /// Every unit, in declaration order.
    pub const ALL: [Unit; 7] = [
        Unit::Piece,
        Unit::Metre,
        Unit::SquareMetre,
        Unit::CubicMetre,
        Unit::Kilogram,
        Unit::Tonne,
        Unit::Litre,
    ];

    /// Stable code: `"piece"`, `"m"`, `"m2"`, `"m3"`, `"kg"`, `"t"`, `"l"`.
    pub fn code(self) -> &'static str {
        match self {
            Unit::Piece => "piece",
            Unit::Metre => "m",
            Unit::SquareMetre => "m2",
            Unit::CubicMetre => "m3",
            Unit::Kilogram => "kg",
            Unit::Tonne => "t",
            Unit::Litre => "l",
        }
    }

    /// How a quantity is written beside its number: `u` for pieces, `m²`...
    pub fn symbol(self) -> &'static str {
        match self {
            Unit::Piece => "u",
            Unit::Metre => "m",
            Unit::SquareMetre => "m²",
            Unit::CubicMetre => "m³",
            Unit::Kilogram => "kg",
            Unit::Tonne => "t",
            Unit::Litre => "l",
        }
    }

    /// Whether quantities in this unit are counted whole (pieces), so that
    /// 2.5 of them is refused.
    pub fn is_counted_whole(self) -> bool {
        self == Unit::Piece
    }

    /// Parses a code or a usual French/diagnostic spelling, case-insensitively
    /// (`"u"`, `"pce"`, `"ml"`, `"m²"`, `"tonne"`...). Field `"unit"`.
    pub fn parse(s: &str) -> Result<Unit, DomainError> {
        let lowered = s.trim().to_lowercase();
        // Diagnostics write "m 2" or "m.l." as often as "m2" or "ml".
        let key: String = lowered
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '.')
            .collect();
        let unit = match key.as_str() {
            "piece" | "pièce" | "pieces" | "pièces" | "pce" | "pces" | "pc" | "pcs" | "u"
            | "unite" | "unité" | "unites" | "unités" | "unit" | "units" | "ens" => Unit::Piece,
            "m" | "ml" | "mètre" | "metre" | "mètres" | "metres" | "mètrelinéaire"
            | "metrelineaire" | "mètreslinéaires" | "metreslineaires" => Unit::Metre,
            "m2" | "m²" | "mètrecarré" | "metrecarre" | "mètrescarrés" | "metrescarres" => {
                Unit::SquareMetre
            }
            "m3" | "m³" | "mètrecube" | "metrecube" | "mètrescubes" | "metrescubes" => {
                Unit::CubicMetre
            }
            "kg" | "kilo" | "kilos" | "kilogramme" | "kilogrammes" => Unit::Kilogram,
            "t" | "tonne" | "tonnes" => Unit::Tonne,
            "l" | "litre" | "litres" => Unit::Litre,
            _ => {
                return Err(DomainError::invalid(
                    FIELD_UNIT,
                    format!("unknown unit {:?}", s.trim()),
                ));
            }
        };
        Ok(unit)
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An exact, non-negative quantity in integer thousandths ("milli") of a unit.
///
/// There is deliberately no ordering: comparing quantities of different units
/// is meaningless; compare [`Quantity::milli`] once units are known to match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quantity {
    milli: i64,
    unit: Unit,
}

impl Quantity {
    /// A quantity of `milli` thousandths; zero allowed, negative refused.
    pub fn new(milli: i64, unit: Unit) -> Result<Quantity, DomainError> {
        if milli < 0 {
            return Err(DomainError::invalid(FIELD_QUANTITY, "must not be negative"));
        }
        Ok(Quantity { milli, unit })
    }

    /// A strictly positive quantity (what a lot or a claim must carry).
    pub fn positive(milli: i64, unit: Unit) -> Result<Quantity, DomainError> {
        if milli <= 0 {
            return Err(DomainError::invalid(FIELD_QUANTITY, "must be positive"));
        }
        Ok(Quantity { milli, unit })
    }

    /// Parses a decimal such as `"12"`, `"12.5"` or `"12,5"` (French comma),
    /// with at most three decimals. Values too large for `i64` thousandths are
    /// reported as [`DomainError::Invalid`] because they are bad input, not a
    /// computation that overflowed.
    pub fn parse_decimal(s: &str, unit: Unit) -> Result<Quantity, DomainError> {
        let t = s.trim();
        if t.is_empty() {
            return Err(DomainError::invalid(FIELD_QUANTITY, "must not be empty"));
        }
        if t.starts_with('-') {
            return Err(DomainError::invalid(FIELD_QUANTITY, "must not be negative"));
        }
        let t = t.strip_prefix('+').unwrap_or(t);
        let (int_part, frac_part) = match t.find(['.', ',']) {
            Some(i) => (&t[..i], Some(&t[i + 1..])),
            None => (t, None),
        };
        let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(int_part) {
            return Err(DomainError::invalid(
                FIELD_QUANTITY,
                format!("{:?} is not a decimal number", s.trim()),
            ));
        }
        let mut frac_milli: i64 = 0;
        if let Some(frac) = frac_part {
            if !all_digits(frac) {
                return Err(DomainError::invalid(
                    FIELD_QUANTITY,
                    format!("{:?} is not a decimal number", s.trim()),
                ));
            }
            if frac.len() > 3 {
                return Err(DomainError::invalid(
                    FIELD_QUANTITY,
                    "at most 3 decimals are allowed",
                ));
            }
            for (i, b) in frac.bytes().enumerate() {
                let weight = [100, 10, 1][i];
                frac_milli += i64::from(b - b'0') * weight;
            }
        }
        let too_large = || DomainError::invalid(FIELD_QUANTITY, "is too large");
        let mut whole: i64 = 0;
        for b in int_part.bytes() {
            whole = whole
                .checked_mul(10)
                .and_then(|w| w.checked_add(i64::from(b - b'0')))
                .ok_or_else(too_large)?;
        }
        let milli = whole
            .checked_mul(1000)
            .and_then(|m| m.checked_add(frac_milli))
            .ok_or_else(too_large)?;
        Quantity::new(milli, unit)
    }

    /// The same quantity, refused when its unit is counted whole (pieces)
    /// and it is not: 2.5 toilets is no quantity of a lot or a claim.
    pub fn whole_if_counted(self) -> Result<Quantity, DomainError> {
        if self.unit.is_counted_whole() && self.milli % 1000 != 0 {
            return Err(DomainError::invalid(
                FIELD_QUANTITY,
                format!(
                    "pieces are counted whole: {} is not a whole number of pieces",
                    self.to_decimal_string()
                ),
            ));
        }
        Ok(self)
    }

    /// Thousandths of the unit.
    pub fn milli(self) -> i64 {
        self.milli
    }

    /// The unit.
    pub fn unit(self) -> Unit {
        self.unit
    }

    /// Sum of two quantities of the same unit.
    pub fn checked_add(self, other: Quantity) -> Result<Quantity, DomainError> {
        self.same_unit(other)?;
        let milli = self
            .milli
            .checked_add(other.milli)
            .ok_or(DomainError::Overflow {
                field: FIELD_QUANTITY,
            })?;
        Ok(Quantity {
            milli,
            unit: self.unit,
        })
    }

    /// Difference of two quantities of the same unit; refuses to go negative.
    pub fn checked_sub(self, other: Quantity) -> Result<Quantity, DomainError> {
        self.same_unit(other)?;
        if other.milli > self.milli {
            return Err(DomainError::InsufficientQuantity {
                requested: other.milli,
                available: self.milli,
                unit: Some(self.unit),
            });
        }
        Ok(Quantity {
            milli: self.milli - other.milli,
            unit: self.unit,
        })
    }

    /// The number alone, without unit, shortest exact form: `"12.5"`, `"240"`.
    /// [`Quantity::parse_decimal`] reads it back to the same value.
    pub fn to_decimal_string(self) -> String {
        let whole = self.milli / 1000;
        let frac = self.milli % 1000;
        if frac == 0 {
            return whole.to_string();
        }
        let digits = format!("{frac:03}");
        format!("{whole}.{}", digits.trim_end_matches('0'))
    }

    fn same_unit(self, other: Quantity) -> Result<(), DomainError> {
        if self.unit != other.unit {
            return Err(DomainError::UnitMismatch {
                expected: self.unit,
                found: other.unit,
            });
        }
        Ok(())
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_decimal_string(), self.unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn unit_codes_round_trip() {
        for u in Unit::ALL {
            assert_eq!(Unit::parse(u.code()).unwrap(), u);
            assert_eq!(Unit::parse(&u.code().to_uppercase()).unwrap(), u);
        }
        let codes: std::collections::HashSet<_> = Unit::ALL.iter().map(|u| u.code()).collect();
        assert_eq!(codes.len(), 7);
    }

    #[test]
    fn unit_french_spellings() {
        let cases = [
            ("u", Unit::Piece),
            ("U", Unit::Piece),
            ("unité", Unit::Piece),
            ("unite", Unit::Piece),
            ("pce", Unit::Piece),
            ("Pièce", Unit::Piece),
            ("ml", Unit::Metre),
            ("ML", Unit::Metre),
            ("m.l.", Unit::Metre),
            ("m²", Unit::SquareMetre),
            ("M²", Unit::SquareMetre),
            (" m 2 ", Unit::SquareMetre),
            ("m³", Unit::CubicMetre),
            ("kg", Unit::Kilogram),
            ("tonnes", Unit::Tonne),
            ("L", Unit::Litre),
        ];
        for (s, u) in cases {
            assert_eq!(Unit::parse(s), Ok(u), "{s}");
        }
    }

    #[test]
    fn unit_unknown_rejected() {
        for s in ["", "m4", "gallon", "kgs?"] {
            let err = Unit::parse(s).unwrap_err();
            assert_eq!(err.field(), Some("unit"), "{s}");
        }
    }

    #[test]
    fn new_and_positive() {
        assert_eq!(Quantity::new(0, Unit::Kilogram).unwrap().milli(), 0);
        assert_eq!(
            Quantity::new(-1, Unit::Kilogram).unwrap_err().field(),
            Some("quantity")
        );
        assert!(Quantity::positive(0, Unit::Piece).is_err());
        assert!(Quantity::positive(-5, Unit::Piece).is_err());
        let q = Quantity::positive(1, Unit::Piece).unwrap();
        assert_eq!((q.milli(), q.unit()), (1, Unit::Piece));
    }

    #[test]
    fn parse_decimal_accepts() {
        let cases = [
            ("12", 12_000),
            ("12.5", 12_500),
            ("12,5", 12_500),
            (" 0,125 ", 125),
            ("0.001", 1),
            ("+3", 3_000),
            ("007.070", 7_070),
            ("0", 0),
        ];
        for (s, milli) in cases {
            assert_eq!(
                Quantity::parse_decimal(s, Unit::SquareMetre).map(Quantity::milli),
                Ok(milli),
                "{s}"
            );
        }
    }

    #[test]
    fn parse_decimal_rejects() {
        for s in [
            "", " ", "-1", "-0.5", "1.2345", "abc", "1.2.3", "1,", ".5", "1e3", "12 5", "1_000",
            "++1", "0x10", "١٢",
        ] {
            let err = Quantity::parse_decimal(s, Unit::Kilogram).unwrap_err();
            assert_eq!(err.field(), Some("quantity"), "{s:?}");
        }
    }

    #[test]
    fn parse_decimal_overflow_boundary() {
        let max = Quantity::parse_decimal("9223372036854775.807", Unit::Litre).unwrap();
        assert_eq!(max.milli(), i64::MAX);
        for s in [
            "9223372036854775.808",
            "9223372036854776",
            "99999999999999999999999",
        ] {
            assert!(
                matches!(
                    Quantity::parse_decimal(s, Unit::Litre),
                    Err(DomainError::Invalid {
                        field: "quantity",
                        ..
                    })
                ),
                "{s}"
            );
        }
    }

    #[test]
    fn arithmetic() {
        let a = Quantity::new(1_500, Unit::Tonne).unwrap();
        let b = Quantity::new(500, Unit::Tonne).unwrap();
        assert_eq!(a.checked_add(b).unwrap().milli(), 2_000);
        assert_eq!(a.checked_sub(b).unwrap().milli(), 1_000);
        assert_eq!(a.checked_sub(a).unwrap().milli(), 0);
        assert_eq!(
            b.checked_sub(a),
            Err(DomainError::InsufficientQuantity {
                requested: 1_500,
                available: 500,
                unit: Some(Unit::Tonne),
            })
        );
        let max = Quantity::new(i64::MAX, Unit::Tonne).unwrap();
        assert_eq!(
            max.checked_add(Quantity::new(1, Unit::Tonne).unwrap()),
            Err(DomainError::Overflow { field: "quantity" })
        );
        let kg = Quantity::new(1, Unit::Kilogram).unwrap();
        let mismatch = DomainError::UnitMismatch {
            expected: Unit::Tonne,
            found: Unit::Kilogram,
        };
        assert_eq!(a.checked_add(kg), Err(mismatch.clone()));
        assert_eq!(a.checked_sub(kg), Err(mismatch));
    }

    #[test]
    fn display() {
        let q = |m, u| Quantity::new(m, u).unwrap().to_string();
        assert_eq!(q(12_500, Unit::SquareMetre), "12.5 m2");
        assert_eq!(q(240_000, Unit::Piece), "240 piece");
        assert_eq!(q(1, Unit::Kilogram), "0.001 kg");
        assert_eq!(q(10_050, Unit::Metre), "10.05 m");
        assert_eq!(q(0, Unit::Litre), "0 l");
    }

    proptest! {
        #[test]
        fn decimal_round_trip(milli in 0..=i64::MAX, idx in 0usize..7) {
            let unit = Unit::ALL[idx];
            let q = Quantity::new(milli, unit).unwrap();
            let text = q.to_decimal_string();
            prop_assert_eq!(Quantity::parse_decimal(&text, unit), Ok(q));
            let french = text.replace('.', ",");
            prop_assert_eq!(Quantity::parse_decimal(&french, unit), Ok(q));
            prop_assert_eq!(q.to_string(), format!("{} {}", text, unit.code()));
        }

        #[test]
        fn decimal_parse_matches_integer_math(whole in 0i64..1_000_000_000, frac in 0i64..1000) {
            let s = format!("{whole}.{frac:03}");
            let q = Quantity::parse_decimal(&s, Unit::Kilogram).unwrap();
            prop_assert_eq!(q.milli(), whole * 1000 + frac);
        }

        #[test]
        fn add_then_sub_is_identity(a in 0i64..i64::MAX / 2, b in 0i64..i64::MAX / 2) {
            let qa = Quantity::new(a, Unit::CubicMetre).unwrap();
            let qb = Quantity::new(b, Unit::CubicMetre).unwrap();
            let sum = qa.checked_add(qb).unwrap();
            prop_assert_eq!(sum.checked_sub(qb), Ok(qa));
        }
    }
}
