//! Resource names (AIP-122) such as `sites/{site}/lots/{lot}`: parsed into
//! their UUID segments once, at the edge.

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
