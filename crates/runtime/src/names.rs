//! Resource names (AIP-122) such as `sites/{site}/lots/{lot}`: parsed into
//! typed ids once, at the edge, the same way by every service.

use uuid::Uuid;

use crate::validation::Violation;

/// Parses `name` against `pattern` (e.g. `sites/{site}/lots/{lot}`) and
/// returns the ids of the `{...}` segments, in order. Ids are accepted as
/// the services print them (`0190c5a3-7b1e-7c4d-8f00-3a2b1c0d9e8f`): a name
/// that parses prints back to itself.
pub fn parse(field: &str, name: &str, pattern: &str) -> Result<Vec<Uuid>, Violation> {
    if name.is_empty() {
        return Err(Violation::new(field, "required"));
    }
    let parts: Vec<&str> = name.split('/').collect();
    let expected: Vec<&str> = pattern.split('/').collect();
    if parts.len() != expected.len() {
        return Err(Violation::new(
            field,
            format!("expected a name like `{pattern}`"),
        ));
    }
    let mut ids = Vec::new();
    for (part, want) in parts.iter().zip(&expected) {
        if want.starts_with('{') {
            // One resource, one name: only the spelling the services print
            // is accepted, not the others `uuid` reads (uppercase, without
            // hyphens, in braces, `urn:uuid:`), so that names compare as text.
            let id = Uuid::try_parse(part)
                .ok()
                .filter(|id| id.hyphenated().encode_lower(&mut Uuid::encode_buffer()) == *part)
                .ok_or_else(|| {
                    let shown = crate::status::cut(part, 40);
                    Violation::new(
                        field,
                        format!("`{shown}` is not a valid id (lowercase, hyphenated)"),
                    )
                })?;
            ids.push(id);
        } else if part != want {
            return Err(Violation::new(
                field,
                format!("expected a name like `{pattern}`"),
            ));
        }
    }
    Ok(ids)
}

/// A new time-ordered id (UUIDv7).
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

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
