//! Resource names (AIP-122) such as `sites/{site}/lots/{lot}`: parsed into
//! typed ids once, at the edge, the same way by every service.
//!
//! Sites and lots have readable ids a client may choose at creation
//! (`sites/coteaux-a/lots/m1`, AIP-133), or UUIDv7s the services make;
//! claims and partners have UUIDv7s only. A lot's id is unique within its
//! site, so a lot is known by its site's id and its own.

use uuid::Uuid;

use crate::validation::Violation;

/// Parses `name` against `pattern` (e.g. `partners/{partner}`) and returns
/// the UUIDs of the `{...}` segments, in order: for resources whose ids the
/// services always make. Ids are accepted as the services print them
/// (`0190c5a3-7b1e-7c4d-8f00-3a2b1c0d9e8f`): a name that parses prints back
/// to itself.
pub fn parse(field: &str, name: &str, pattern: &str) -> Result<Vec<Uuid>, Violation> {
    segments(field, name, pattern)?
        .into_iter()
        .map(|id| id.uuid().ok_or_else(|| not_an_id(field, id.as_str())))
        .collect()
}

/// Parses `name` against `pattern` and returns the `{...}` segments as
/// [`Id`]s: UUIDs as the services print them, or readable ids.
pub fn segments(field: &str, name: &str, pattern: &str) -> Result<Vec<Id>, Violation> {
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
            ids.push(Id::parse(part).ok_or_else(|| not_an_id(field, part))?);
        } else if part != want {
            return Err(Violation::new(
                field,
                format!("expected a name like `{pattern}`"),
            ));
        }
    }
    Ok(ids)
}

fn not_an_id(field: &str, part: &str) -> Violation {
    let shown = crate::status::cut(part, 40);
    Violation::new(
        field,
        format!("`{shown}` is not a valid id (lowercase letters, digits and hyphens, or a UUID)"),
    )
}

/// The longest id (AIP-122's limit).
pub const MAX_ID: usize = 63;

/// The id of a site or a lot in its name: a UUID in the lowercase
/// hyphenated form the services print, or an id a client chose (AIP-122:
/// `[a-z]([a-z0-9-]{0,61}[a-z0-9])?`). Held inline, so that names stay
/// `Copy` as they were when every id was a UUID.
#[derive(Clone, Copy)]
pub struct Id {
    len: u8,
    bytes: [u8; MAX_ID],
}

impl Id {
    /// The id `text` if it is one: a UUID as the services print it, or a
    /// readable id. Only one spelling of a UUID is accepted (not uppercase,
    /// without hyphens, in braces, `urn:uuid:`), so that names compare as text.
    pub fn parse(text: &str) -> Option<Id> {
        if is_printed_uuid(text) || is_readable(text) {
            Some(Self::inline(text))
        } else {
            None
        }
    }

    /// The id a client chose at creation, checked for `field`: a readable
    /// id only. Ids shaped like UUIDs are the services' own: a chosen one
    /// could pass for, or one day be, a made one.
    pub fn chosen(field: &str, text: &str) -> Result<Id, Violation> {
        if Uuid::try_parse(text).is_ok() {
            return Err(Violation::new(
                field,
                "must not be a UUID: leave it empty to get one",
            ));
        }
        if is_readable(text) {
            return Ok(Self::inline(text));
        }
        let shown = crate::status::cut(text, 40);
        Err(Violation::new(
            field,
            format!(
                "`{shown}` is not a valid id: 1 to {MAX_ID} lowercase letters, digits and \
                 hyphens, starting with a letter and not ending with a hyphen"
            ),
        ))
    }

    /// The readable id `text` suggests (a diagnostic's reference `M1` gives
    /// `m1`), if it suggests one: lowercased, accents dropped, every other run
    /// of characters a hyphen, cut to the longest id.
    pub fn suggested(text: &str) -> Option<Id> {
        let mut out = String::new();
        for c in text.chars().flat_map(char::to_lowercase).map(fold_accent) {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                out.push(c);
            } else if !out.is_empty() && !out.ends_with('-') {
                out.push('-');
            }
        }
        if out.len() > MAX_ID {
            out.truncate(MAX_ID);
        }
        let out = out.trim_matches('-');
        Self::chosen("", out).ok()
    }

    /// A new time-ordered id (UUIDv7).
    pub fn generate() -> Id {
        Id::from(new_id())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored (see `inline`'s callers).
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }

    /// The UUID, when the id is one.
    pub fn uuid(&self) -> Option<Uuid> {
        is_printed_uuid(self.as_str())
            .then(|| Uuid::try_parse(self.as_str()).ok())
            .flatten()
    }

    /// Callers have checked `text` is an id: ASCII, at most [`MAX_ID`] bytes.
    fn inline(text: &str) -> Id {
        let mut bytes = [0u8; MAX_ID];
        let len = text.len().min(MAX_ID);
        bytes[..len].copy_from_slice(&text.as_bytes()[..len]);
        Id {
            len: u8::try_from(len).unwrap_or(0),
            bytes,
        }
    }
}

fn is_printed_uuid(text: &str) -> bool {
    Uuid::try_parse(text)
        .is_ok_and(|id| id.hyphenated().encode_lower(&mut Uuid::encode_buffer()) == text)
}

/// AIP-122's `[a-z]([a-z0-9-]{0,61}[a-z0-9])?`.
fn is_readable(text: &str) -> bool {
    let b = text.as_bytes();
    let inner = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-';
    !b.is_empty()
        && b.len() <= MAX_ID
        && b[0].is_ascii_lowercase()
        && b.iter().all(inner)
        && b.last().is_some_and(|c| *c != b'-')
}

/// The letter an accented lowercase Latin letter is written with, as a
/// diagnostic's references use them (`é` -> `e`); other characters as they are.
fn fold_accent(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ä' | 'ã' | 'å' => 'a',
        'ç' => 'c',
        'è' | 'é' | 'ê' | 'ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' => 'i',
        'ñ' => 'n',
        'ò' | 'ó' | 'ô' | 'ö' | 'õ' => 'o',
        'ù' | 'ú' | 'û' | 'ü' => 'u',
        'ÿ' | 'ý' => 'y',
        c => c,
    }
}

impl From<Uuid> for Id {
    fn from(id: Uuid) -> Id {
        Id::inline(id.hyphenated().encode_lower(&mut Uuid::encode_buffer()))
    }
}

impl PartialEq for Id {
    fn eq(&self, other: &Id) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Id {}

impl PartialOrd for Id {
    fn partial_cmp(&self, other: &Id) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Id {
    fn cmp(&self, other: &Id) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl std::hash::Hash for Id {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// A new time-ordered id (UUIDv7).
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

/// `sites/{site}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SiteName(pub Id);
/// `sites/{site}/lots/{lot}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LotName {
    /// The site.
    pub site: Id,
    /// The lot, unique within its site.
    pub lot: Id,
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
        let ids = segments(field, name, "sites/{site}")?;
        Ok(Self(ids[0]))
    }
}

impl LotName {
    /// Parses `sites/{site}/lots/{lot}`.
    pub fn parse(field: &str, name: &str) -> Result<Self, Violation> {
        let ids = segments(field, name, "sites/{site}/lots/{lot}")?;
        Ok(Self {
            site: ids[0],
            lot: ids[1],
        })
    }

    /// The key of the lot among every site's lots (`{site}/{lot}`), for
    /// indexes and logs that hold lots of several sites under one text.
    pub fn key(&self) -> String {
        format!("{}/{}", self.site, self.lot)
    }

    /// Reads back a [`LotName::key`].
    pub fn from_key(key: &str) -> Option<LotName> {
        let (site, lot) = key.split_once('/')?;
        Some(LotName {
            site: Id::parse(site)?,
            lot: Id::parse(lot)?,
        })
    }
}

impl ClaimName {
    /// Parses `sites/{site}/lots/{lot}/claims/{claim}`.
    pub fn parse(field: &str, name: &str) -> Result<Self, Violation> {
        let ids = segments(field, name, "sites/{site}/lots/{lot}/claims/{claim}")?;
        let claim = ids[2]
            .uuid()
            .ok_or_else(|| not_an_id(field, ids[2].as_str()))?;
        Ok(Self {
            lot: LotName {
                site: ids[0],
                lot: ids[1],
            },
            claim,
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
pub fn site_or_all(field: &str, parent: &str) -> Result<Option<Id>, Violation> {
    if parent.is_empty() || parent == "sites/-" {
        Ok(None)
    } else {
        SiteName::parse(field, parent).map(|s| Some(s.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Id {
        Id::parse(s).unwrap()
    }

    #[test]
    fn round_trips_and_rejects() {
        let lot = LotName {
            site: Id::generate(),
            lot: Id::generate(),
        };
        assert_eq!(LotName::parse("name", &lot.to_string()).unwrap(), lot);
        let claim = ClaimName {
            lot,
            claim: new_id(),
        };
        assert_eq!(ClaimName::parse("name", &claim.to_string()).unwrap(), claim);
        assert!(LotName::parse("name", "sites/X/lots/y").is_err());
        assert!(SiteName::parse("name", &lot.to_string()).is_err());
        assert!(SiteName::parse("name", "").is_err());
        assert_eq!(site_or_all("parent", "sites/-").unwrap(), None);
    }

    #[test]
    fn readable_ids_in_names() {
        let lot = LotName::parse("name", "sites/coteaux-a/lots/m1").unwrap();
        assert_eq!(lot.site, id("coteaux-a"));
        assert_eq!(lot.lot.as_str(), "m1");
        assert_eq!(lot.to_string(), "sites/coteaux-a/lots/m1");
        assert_eq!(LotName::from_key(&lot.key()), Some(lot));
        let claim = format!("sites/coteaux-a/lots/m1/claims/{}", new_id());
        assert_eq!(ClaimName::parse("name", &claim).unwrap().to_string(), claim);
        // A claim's id is the service's UUID, never a readable one.
        assert!(ClaimName::parse("name", "sites/a/lots/m1/claims/c1").is_err());
        assert!(PartnerName::parse("name", "partners/emmaus").is_err());
        for bad in ["1a", "-a", "a-", "A1", "a_b", "a.b", "é", &"a".repeat(64)] {
            assert!(Id::parse(bad).is_none(), "{bad}");
            assert!(Id::chosen("site_id", bad).is_err(), "{bad}");
        }
        assert_eq!(
            Id::parse(&"a".repeat(63)).map(|i| i.as_str().len()),
            Some(63)
        );
        // The services' UUIDs are names, never a chosen id.
        let made = new_id().to_string();
        assert!(Id::parse(&made).is_some());
        assert!(Id::chosen("site_id", &made).is_err());
        assert!(Id::parse(&made.to_uppercase()).is_none());
    }

    #[test]
    fn suggested_from_references() {
        let s = |t: &str| Id::suggested(t).map(|i| i.to_string());
        assert_eq!(s("M1").as_deref(), Some("m1"));
        assert_eq!(
            s(" Menuiserie intérieure / P-12 ").as_deref(),
            Some("menuiserie-interieure-p-12")
        );
        assert_eq!(s("12"), None);
        assert_eq!(s("--"), None);
        assert_eq!(s(&"x".repeat(80)).map(|i| i.len()), Some(63));
        let cut = format!("{} b", "a".repeat(62));
        assert_eq!(s(&cut), Some("a".repeat(62)));
    }
}
