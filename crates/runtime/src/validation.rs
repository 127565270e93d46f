//! Validation at the API edge: every bad field of a request is collected as
//! a [`Violation`] with its path, so a client learns all its mistakes at once.

use reemploi_domain::DomainError;

/// One field that failed validation, with its path in the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Path of the field in the request, e.g. `lot.quantity.milli`.
    pub field: String,
    /// What is wrong, for a person.
    pub description: String,
}

impl Violation {
    /// A violation of `field`.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }

    /// A domain validation failure, placed under `prefix` (e.g. `lot`).
    pub fn from_domain(prefix: &str, err: &DomainError) -> Self {
        let field = match err.field() {
            Some(f) => join(prefix, f),
            None => prefix.to_string(),
        };
        let description = match err {
            DomainError::Invalid { reason, .. } => reason.clone(),
            other => other.to_string(),
        };
        Self { field, description }
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.description)
    }
}

impl std::error::Error for Violation {}

fn join(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_string()
    } else {
        format!("{prefix}.{field}")
    }
}

/// Collects every violation of one message instead of stopping at the first.
#[derive(Debug, Default)]
pub struct Check {
    prefix: String,
    violations: Vec<Violation>,
}

impl Check {
    /// A check of the message at `prefix` (e.g. `lot`, or `` for the request itself).
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            violations: Vec::new(),
        }
    }

    /// Keeps the value, or records why it is invalid.
    pub fn ok<T>(&mut self, r: Result<T, DomainError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.violations
                    .push(Violation::from_domain(&self.prefix, &e));
                None
            }
        }
    }

    /// Keeps the value, or records the violation (already carrying its full path).
    pub fn take<T>(&mut self, r: Result<T, Violation>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(v) => {
                self.violations.push(v);
                None
            }
        }
    }

    /// Records a violation of `field` (relative to the prefix).
    pub fn fail(&mut self, field: &str, description: impl Into<String>) {
        self.violations
            .push(Violation::new(join(&self.prefix, field), description));
    }

    /// Adds violations found elsewhere (full paths).
    pub fn extend(&mut self, violations: Vec<Violation>) {
        self.violations.extend(violations);
    }

    /// Whether nothing was recorded so far.
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }

    /// Succeeds when nothing was recorded.
    pub fn finish(self) -> Result<(), Vec<Violation>> {
        if self.violations.is_empty() {
            Ok(())
        } else {
            Err(self.violations)
        }
    }
}

/// Validates an idempotency key: 1 to 100 visible ASCII characters.
pub fn request_id(c: &mut Check, value: &str, required: bool) -> Option<String> {
    if value.is_empty() {
        if required {
            c.fail(
                "request_id",
                "required: a unique key per request, reused on retries",
            );
        }
        return None;
    }
    if value.len() > 100 || !value.chars().all(|ch| ch.is_ascii_graphic()) {
        c.fail("request_id", "1 to 100 visible ASCII characters");
        return None;
    }
    Some(value.to_string())
}

/// The `near` + `radius_m` filter of a list request: both or neither, a
/// valid point and a positive radius. Records what is wrong in `c`.
pub fn near_filter(
    c: &mut Check,
    near: Option<&reemploi_proto::types::GeoPoint>,
    radius_m: i64,
) -> Option<reemploi_domain::geo::GeoPoint> {
    let point = near.and_then(|p| c.ok(crate::wire::point_from_proto("near", Some(p))));
    if near.is_some() && radius_m <= 0 {
        c.fail(
            "radius_m",
            "a positive radius in metres is required with `near`",
        );
    }
    if near.is_none() && radius_m != 0 {
        c.fail("near", "required with `radius_m`");
    }
    point
}

/// A `LIKE ... ESCAPE '\'` pattern matching values that contain `text`
/// literally: `%`, `_` and `\` in it match only themselves.
pub fn like_contains(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The free-text filter of a list request, lower-cased for matching; at most
/// 200 characters.
pub fn search_text(c: &mut Check, text: &str) -> String {
    let text = text.trim().to_lowercase();
    if text.chars().count() > 200 {
        c.fail("text", "at most 200 characters");
    }
    text
}
