//! Taxonomy of reusable building materials, kept as a static table so every
//! service, the CLI and imports agree on codes without a database lookup.

use crate::DomainError;

/// Broad trade family a category belongs to; matching falls back to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// Doors, windows, shutters, stairs, joinery.
    Menuiserie,
    /// Radiators, boilers.
    Chauffage,
    /// Toilets, basins, sinks, bathtubs.
    Sanitaire,
    /// Taps, pipes.
    Plomberie,
    /// Floor and wall coverings.
    Revetement,
    /// Roof tiles, cladding, zinc work.
    Couverture,
    /// Bricks, blocks, stone.
    Maconnerie,
    /// Railings, grilles, steel work.
    Metallerie,
    /// Partitions and ceilings.
    Cloison,
    /// Load-bearing concrete, timber and steel.
    Structure,
    /// Furniture.
    Mobilier,
    /// Lighting, cables, switchgear.
    Electricite,
    /// Insulation.
    Isolation,
    /// Paving, kerbs, fences.
    AmenagementExterieur,
}

impl Family {
    /// Every family, in declaration order.
    pub const ALL: [Family; 14] = [
        Family::Menuiserie,
        Family::Chauffage,
        Family::Sanitaire,
        Family::Plomberie,
        Family::Revetement,
        Family::Couverture,
        Family::Maconnerie,
        Family::Metallerie,
        Family::Cloison,
        Family::Structure,
        Family::Mobilier,
        Family::Electricite,
        Family::Isolation,
        Family::AmenagementExterieur,
    ];

    /// Stable lowercase ASCII code, e.g. `"menuiserie"`, `"amenagement-exterieur"`.
    pub fn code(self) -> &'static str {
        self.labels().0
    }

    /// French label.
    pub fn label_fr(self) -> &'static str {
        self.labels().1
    }

    /// English label.
    pub fn label_en(self) -> &'static str {
        self.labels().2
    }

    /// Parses a family code, trimmed and case-insensitive. Field `"family"`.
    pub fn parse(s: &str) -> Result<Family, DomainError> {
        let t = s.trim();
        Family::ALL
            .into_iter()
            .find(|f| f.code().eq_ignore_ascii_case(t))
            .ok_or_else(|| DomainError::invalid("family", format!("unknown family {t:?}")))
    }

    fn labels(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Family::Menuiserie => ("menuiserie", "Menuiserie", "Joinery"),
            Family::Chauffage => ("chauffage", "Chauffage", "Heating"),
            Family::Sanitaire => ("sanitaire", "Sanitaire", "Sanitary ware"),
            Family::Plomberie => ("plomberie", "Plomberie", "Plumbing"),
            Family::Revetement => ("revetement", "Revêtements", "Floor and wall coverings"),
            Family::Couverture => (
                "couverture",
                "Couverture et bardage",
                "Roofing and cladding",
            ),
            Family::Maconnerie => ("maconnerie", "Maçonnerie", "Masonry"),
            Family::Metallerie => ("metallerie", "Métallerie", "Metalwork"),
            Family::Cloison => ("cloison", "Cloisons et plafonds", "Partitions and ceilings"),
            Family::Structure => ("structure", "Structure", "Structure"),
            Family::Mobilier => ("mobilier", "Mobilier", "Furniture"),
            Family::Electricite => ("electricite", "Électricité", "Electrical"),
            Family::Isolation => ("isolation", "Isolation", "Insulation"),
            Family::AmenagementExterieur => (
                "amenagement-exterieur",
                "Aménagement extérieur",
                "Landscaping and outdoor works",
            ),
        }
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// One material category of the taxonomy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    /// Stable lowercase ASCII code with hyphens, e.g. `"porte-interieure"`.
    pub code: &'static str,
    /// Family used for approximate matching.
    pub family: Family,
    /// French label.
    pub label_fr: &'static str,
    /// English label.
    pub label_en: &'static str,
    /// European List of Waste code usually applicable when the item ends up
    /// as waste (a default for diagnostics, never a substitute for one).
    pub usual_waste_code: &'static str,
}

const fn cat(
    code: &'static str,
    family: Family,
    label_fr: &'static str,
    label_en: &'static str,
    usual_waste_code: &'static str,
) -> Category {
    Category {
        code,
        family,
        label_fr,
        label_en,
        usual_waste_code,
    }
}

use Family as F;

static CATEGORIES: [Category; 44] = [
    cat(
        "porte-interieure",
        F::Menuiserie,
        "Porte intérieure",
        "Interior door",
        "17 02 01",
    ),
    cat(
        "porte-exterieure",
        F::Menuiserie,
        "Porte extérieure",
        "Exterior door",
        "17 02 01",
    ),
    cat("fenetre", F::Menuiserie, "Fenêtre", "Window", "17 02 02"),
    cat("volet", F::Menuiserie, "Volet", "Shutter", "17 02 01"),
    cat(
        "escalier",
        F::Menuiserie,
        "Escalier",
        "Staircase",
        "17 02 01",
    ),
    cat(
        "placard",
        F::Menuiserie,
        "Placard et porte de placard",
        "Cupboard and wardrobe door",
        "17 02 01",
    ),
    cat(
        "plan-de-travail",
        F::Menuiserie,
        "Plan de travail",
        "Worktop",
        "17 02 01",
    ),
    cat(
        "radiateur",
        F::Chauffage,
        "Radiateur",
        "Radiator",
        "17 04 05",
    ),
    cat("chaudiere", F::Chauffage, "Chaudière", "Boiler", "17 04 07"),
    cat(
        "sanitaire",
        F::Sanitaire,
        "Appareil sanitaire (WC, lavabo)",
        "Sanitary ware (toilet, basin)",
        "17 01 03",
    ),
    cat("evier", F::Sanitaire, "Évier", "Kitchen sink", "17 04 05"),
    cat(
        "baignoire",
        F::Sanitaire,
        "Baignoire et receveur de douche",
        "Bathtub and shower tray",
        "17 04 05",
    ),
    cat(
        "robinetterie",
        F::Plomberie,
        "Robinetterie",
        "Taps and valves",
        "17 04 01",
    ),
    cat(
        "tuyauterie",
        F::Plomberie,
        "Tuyauterie",
        "Pipework",
        "17 04 07",
    ),
    cat(
        "parquet",
        F::Revetement,
        "Parquet",
        "Wooden flooring",
        "17 02 01",
    ),
    cat(
        "revetement-sol",
        F::Revetement,
        "Revêtement de sol souple",
        "Resilient floor covering",
        "17 02 03",
    ),
    cat(
        "carrelage",
        F::Revetement,
        "Carrelage",
        "Floor tiles",
        "17 01 03",
    ),
    cat(
        "faience",
        F::Revetement,
        "Faïence murale",
        "Wall tiles",
        "17 01 03",
    ),
    cat("moquette", F::Revetement, "Moquette", "Carpet", "17 09 04"),
    cat("tuile", F::Couverture, "Tuile", "Roof tile", "17 01 03"),
    cat("ardoise", F::Couverture, "Ardoise", "Slate", "17 09 04"),
    cat("bardage", F::Couverture, "Bardage", "Cladding", "17 02 01"),
    cat(
        "zinguerie",
        F::Couverture,
        "Zinguerie et gouttières",
        "Zinc work and gutters",
        "17 04 04",
    ),
    cat("brique", F::Maconnerie, "Brique", "Brick", "17 01 02"),
    cat(
        "parpaing",
        F::Maconnerie,
        "Parpaing",
        "Concrete block",
        "17 01 01",
    ),
    cat(
        "pierre",
        F::Maconnerie,
        "Pierre de taille",
        "Dressed stone",
        "17 01 07",
    ),
    cat(
        "garde-corps",
        F::Metallerie,
        "Garde-corps",
        "Railing",
        "17 04 05",
    ),
    cat(
        "grille",
        F::Metallerie,
        "Grille et portail",
        "Grille and gate",
        "17 04 05",
    ),
    cat(
        "plaque-platre",
        F::Cloison,
        "Plaque de plâtre",
        "Plasterboard",
        "17 08 02",
    ),
    cat(
        "cloison-amovible",
        F::Cloison,
        "Cloison amovible",
        "Demountable partition",
        "17 09 04",
    ),
    cat(
        "faux-plafond",
        F::Cloison,
        "Faux plafond",
        "Suspended ceiling",
        "17 09 04",
    ),
    cat("beton", F::Structure, "Béton", "Concrete", "17 01 01"),
    cat(
        "bois-charpente",
        F::Structure,
        "Bois de charpente",
        "Structural timber",
        "17 02 01",
    ),
    cat(
        "poutrelle-acier",
        F::Structure,
        "Poutrelle acier",
        "Steel beam",
        "17 04 05",
    ),
    cat("mobilier", F::Mobilier, "Mobilier", "Furniture", "20 03 07"),
    cat(
        "cuisine",
        F::Mobilier,
        "Meuble de cuisine",
        "Kitchen unit",
        "20 03 07",
    ),
    cat(
        "luminaire",
        F::Electricite,
        "Luminaire",
        "Light fitting",
        "20 01 36",
    ),
    cat(
        "cable-electrique",
        F::Electricite,
        "Câble électrique",
        "Electric cable",
        "17 04 11",
    ),
    cat(
        "tableau-electrique",
        F::Electricite,
        "Tableau électrique",
        "Electrical panel",
        "20 01 36",
    ),
    cat(
        "interrupteur-prise",
        F::Electricite,
        "Interrupteur et prise",
        "Switch and socket",
        "20 01 36",
    ),
    cat(
        "isolant",
        F::Isolation,
        "Isolant",
        "Insulation material",
        "17 06 04",
    ),
    cat(
        "pave",
        F::AmenagementExterieur,
        "Pavé",
        "Paving stone",
        "17 01 07",
    ),
    cat(
        "bordure",
        F::AmenagementExterieur,
        "Bordure",
        "Kerb",
        "17 01 01",
    ),
    cat(
        "cloture",
        F::AmenagementExterieur,
        "Clôture",
        "Fence",
        "17 04 05",
    ),
];

/// The whole taxonomy.
pub fn all() -> &'static [Category] {
    &CATEGORIES
}

/// Looks up an exact code (no trimming or case folding).
pub fn find(code: &str) -> Option<&'static Category> {
    CATEGORIES.iter().find(|c| c.code == code)
}

/// Looks up a code, trimmed and case-insensitive. Field `"category"`.
pub fn parse(code: &str) -> Result<&'static Category, DomainError> {
    let t = code.trim();
    if t.is_empty() {
        return Err(DomainError::invalid("category", "must not be empty"));
    }
    CATEGORIES
        .iter()
        .find(|c| c.code.eq_ignore_ascii_case(t))
        .ok_or_else(|| DomainError::invalid("category", format!("unknown category {t:?}")))
}

/// How well a lot's category fits a category a partner accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fit {
    /// Same category.
    Exact,
    /// Different category of the same family.
    Family,
    /// Unrelated.
    None,
}

/// Fit between a lot's category and one accepted by a partner.
pub fn fit(lot: &Category, accepted: &Category) -> Fit {
    if lot.code == accepted.code {
        Fit::Exact
    } else if lot.family == accepted.family {
        Fit::Family
    } else {
        Fit::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::waste::WasteCode;
    use std::collections::HashSet;

    /// Every category code used in the sample diagnostic (diagnostic-coteaux)
    /// and partner file (partners-sample), copied by hand.
    const SAMPLE_CODES: [&str; 12] = [
        "porte-interieure",
        "radiateur",
        "sanitaire",
        "parquet",
        "garde-corps",
        "tuile",
        "brique",
        "plaque-platre",
        "revetement-sol",
        "beton",
        "mobilier",
        "luminaire",
    ];

    const COMMON_CODES: [&str; 23] = [
        "porte-exterieure",
        "fenetre",
        "volet",
        "carrelage",
        "faience",
        "bois-charpente",
        "bardage",
        "isolant",
        "plan-de-travail",
        "evier",
        "robinetterie",
        "chaudiere",
        "tuyauterie",
        "cable-electrique",
        "tableau-electrique",
        "interrupteur-prise",
        "escalier",
        "pave",
        "bordure",
        "pierre",
        "moquette",
        "faux-plafond",
        "cloison-amovible",
    ];

    #[test]
    fn sample_and_common_codes_resolve() {
        for code in SAMPLE_CODES.iter().chain(COMMON_CODES.iter()) {
            let c = find(code).unwrap_or_else(|| panic!("{code} missing"));
            assert_eq!(c.code, *code);
            assert_eq!(parse(code).unwrap().code, *code);
        }
    }

    #[test]
    fn codes_are_unique_and_well_formed() {
        let mut seen = HashSet::new();
        for c in all() {
            assert!(seen.insert(c.code), "duplicate {}", c.code);
            assert!(!c.code.is_empty());
            assert!(
                c.code.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{}",
                c.code
            );
            assert!(!c.code.starts_with('-') && !c.code.ends_with('-') && !c.code.contains("--"));
            assert!(!c.label_fr.is_empty() && !c.label_en.is_empty());
        }
        assert!(all().len() >= 30);
    }

    #[test]
    fn usual_waste_codes_are_valid_and_not_hazardous() {
        for c in all() {
            let w =
                WasteCode::parse(c.usual_waste_code).unwrap_or_else(|e| panic!("{}: {e}", c.code));
            assert!(!w.is_hazardous(), "{}", c.code);
            assert_eq!(
                w.to_string(),
                c.usual_waste_code,
                "{} not canonical",
                c.code
            );
        }
    }

    #[test]
    fn every_family_is_used_and_coded() {
        let mut codes = HashSet::new();
        for f in Family::ALL {
            assert!(all().iter().any(|c| c.family == f), "{f:?} unused");
            assert!(codes.insert(f.code()));
            assert_eq!(Family::parse(f.code()), Ok(f));
            assert!(!f.label_fr().is_empty() && !f.label_en().is_empty());
        }
        assert_eq!(Family::AmenagementExterieur.code(), "amenagement-exterieur");
        assert!(Family::parse("toiture").is_err());
    }

    #[test]
    fn parse_is_lenient_on_case_and_space_only() {
        assert_eq!(
            parse("  Porte-Interieure ").unwrap().code,
            "porte-interieure"
        );
        assert_eq!(find("Porte-Interieure"), None);
        let e = parse("porte interieure").unwrap_err();
        assert_eq!(e.field(), Some("category"));
        assert!(parse("").is_err());
        assert!(parse("   ").is_err());
    }

    #[test]
    fn fit_levels() {
        let door = find("porte-interieure").unwrap();
        let window = find("fenetre").unwrap();
        let radiator = find("radiateur").unwrap();
        assert_eq!(fit(door, door), Fit::Exact);
        assert_eq!(fit(door, window), Fit::Family);
        assert_eq!(fit(window, door), Fit::Family);
        assert_eq!(fit(door, radiator), Fit::None);
        assert_eq!(door.family, Family::Menuiserie);
        assert_eq!(find("revetement-sol").unwrap().family, Family::Revetement);
    }
}
