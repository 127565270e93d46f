//! Resource names (`sites/{site}/lots/{lot}/claims/{claim}`, `partners/{partner}`):
//! parsed once at the edge into typed ids.

use uuid::Uuid;

use crate::error::{InventoryError, Result};

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

/// A new time-ordered id.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

fn id(field: &str, segment: &str) -> Result<Uuid> {
    Uuid::try_parse(segment)
        .map_err(|_| InventoryError::invalid(field, format!("`{segment}` is not a valid id")))
}

fn segments<'a>(field: &str, name: &'a str, pattern: &str) -> Result<Vec<&'a str>> {
    let parts: Vec<&str> = name.split('/').collect();
    let expected: Vec<&str> = pattern.split('/').collect();
    let ok = parts.len() == expected.len()
        && parts
            .iter()
            .zip(&expected)
            .all(|(p, e)| e.starts_with('{') || p == e);
    if ok {
        Ok(parts)
    } else if name.is_empty() {
        Err(InventoryError::invalid(field, "required"))
    } else {
        Err(InventoryError::invalid(
            field,
            format!("expected a name like `{pattern}`"),
        ))
    }
}

impl SiteName {
    /// Parses `sites/{site}`.
    pub fn parse(field: &str, name: &str) -> Result<Self> {
        let p = segments(field, name, "sites/{site}")?;
        Ok(Self(id(field, p[1])?))
    }
}

impl std::fmt::Display for SiteName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sites/{}", self.0)
    }
}

impl LotName {
    /// Parses `sites/{site}/lots/{lot}`.
    pub fn parse(field: &str, name: &str) -> Result<Self> {
        let p = segments(field, name, "sites/{site}/lots/{lot}")?;
        Ok(Self {
            site: id(field, p[1])?,
            lot: id(field, p[3])?,
        })
    }
}

impl std::fmt::Display for LotName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sites/{}/lots/{}", self.site, self.lot)
    }
}

impl ClaimName {
    /// Parses `sites/{site}/lots/{lot}/claims/{claim}`.
    pub fn parse(field: &str, name: &str) -> Result<Self> {
        let p = segments(field, name, "sites/{site}/lots/{lot}/claims/{claim}")?;
        Ok(Self {
            lot: LotName {
                site: id(field, p[1])?,
                lot: id(field, p[3])?,
            },
            claim: id(field, p[5])?,
        })
    }
}

impl std::fmt::Display for ClaimName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/claims/{}", self.lot, self.claim)
    }
}

impl PartnerName {
    /// Parses `partners/{partner}`.
    pub fn parse(field: &str, name: &str) -> Result<Self> {
        let p = segments(field, name, "partners/{partner}")?;
        Ok(Self(id(field, p[1])?))
    }
}

impl std::fmt::Display for PartnerName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "partners/{}", self.0)
    }
}

/// A collection parent that may be the wildcard `sites/-`: `None` means every site.
pub fn site_or_all(field: &str, parent: &str) -> Result<Option<Uuid>> {
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
