//! The inventory's resource names, parsed once at the edge into typed ids.

use reemploi_runtime::names::parse;
use reemploi_runtime::validation::Violation;
use uuid::Uuid;

pub use reemploi_runtime::names::new_id;

/// `sites/{site}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SiteName(pub Uuid);
/// `sites/{site}/lots/{lot}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LotName {
    /// The site.
    pub site: Uuid,
    /// The lot.
    pub lot: Uuid,
}
/// `sites/{site}/lots/{lot}/claims/{claim}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimName {
    /// The lot's name.
    pub lot: LotName,
    /// The claim.
    pub claim: Uuid,
}
/// `partners/{partner}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartnerName(pub Uuid);

impl SiteName {
    /// Parses `sites/{site}`.
    pub fn parse(field: &str, name: &str) -> Result<Self, Violation> {
        let ids = parse(field, name, "sites/{site}")?;
        Ok(Self(ids[0]))
    }
}

impl LotName {
    /// Parses `sites/{site}/lots/{lot}`.
    pub fn parse(field: &str, name: &str) -> Result<Self, Violation> {
        let ids = parse(field, name, "sites/{site}/lots/{lot}")?;
        Ok(Self {
            site: ids[0],
            lot: ids[1],
        })
    }
}

impl ClaimName {
    /// Parses `sites/{site}/lots/{lot}/claims/{claim}`.
    pub fn parse(field: &str, name: &str) -> Result<Self, Violation> {
        let ids = parse(field, name, "sites/{site}/lots/{lot}/claims/{claim}")?;
        Ok(Self {
            lot: LotName {
                site: ids[0],
                lot: ids[1],
            },
            claim: ids[2],
        })
    }
}

impl PartnerName {
    /// Parses `partners/{partner}`.
    pub fn parse(field: &str, name: &str) -> Result<Self, Violation> {
        let ids = parse(field, name, "partners/{partner}")?;
        Ok(Self(ids[0]))
    }
}

impl std::fmt::Display for SiteName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sites/{}", self.0)
    }
}

impl std::fmt::Display for LotName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sites/{}/lots/{}", self.site, self.lot)
    }
}

impl std::fmt::Display for ClaimName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/claims/{}", self.lot, self.claim)
    }
}

impl std::fmt::Display for PartnerName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "partners/{}", self.0)
    }
}

/// A collection parent that may be the wildcard `sites/-`: `None` means every site.
pub fn site_or_all(field: &str, parent: &str) -> Result<Option<Uuid>, Violation> {
    if parent.is_empty() || parent == "sites/-" {
        Ok(None)
    } else {
        SiteName::parse(field, parent).map(|s| Some(s.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects() {
        let lot = LotName {
            site: new_id(),
            lot: new_id(),
        };
        assert_eq!(LotName::parse("name", &lot.to_string()).unwrap(), lot);
        let claim = ClaimName {
            lot,
            claim: new_id(),
        };
        assert_eq!(ClaimName::parse("name", &claim.to_string()).unwrap(), claim);
        assert!(LotName::parse("name", "sites/x/lots/y").is_err());
        assert!(SiteName::parse("name", &lot.to_string()).is_err());
        assert!(SiteName::parse("name", "").is_err());
        assert_eq!(site_or_all("parent", "sites/-").unwrap(), None);
    }
}
