//! List pagination (AIP-158): page sizes and opaque page tokens.
//!
//! A token carries the last id returned and a fingerprint of the filters it
//! was issued for, so a token replayed with other filters, or forged, is
//! refused instead of silently returning the wrong page.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::validation::Violation;

/// Page size when the request leaves it at 0.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// Largest page served; larger requests are capped.
pub const MAX_PAGE_SIZE: usize = 1000;

/// A validated page request.
#[derive(Debug, Clone)]
pub struct Page {
    /// How many items to return at most.
    pub size: usize,
    /// Return items with an id strictly after this one.
    pub after: Option<String>,
    fingerprint: u64,
}

impl Page {
    /// Validates `page_size` and `page_token` for a listing whose filters are
    /// described by `filters` (any stable text).
    pub fn parse(page_size: i32, page_token: &str, filters: &str) -> Result<Page, Violation> {
        let size = match usize::try_from(page_size) {
            Err(_) => return Err(Violation::new("page_size", "must not be negative")),
            Ok(0) => DEFAULT_PAGE_SIZE,
            Ok(n) => n.min(MAX_PAGE_SIZE),
        };
        let fingerprint = fnv1a(filters.as_bytes());
        let after = if page_token.is_empty() {
            None
        } else {
            Some(decode(page_token, fingerprint)?)
        };
        Ok(Page {
            size,
            after,
            fingerprint,
        })
    }

    /// The token for the page after the one ending with `last_id`.
    pub fn next_token(&self, last_id: &str) -> String {
        URL_SAFE_NO_PAD.encode(format!("v1|{:016x}|{last_id}", self.fingerprint))
    }

    /// Cuts `items` (fetched with a limit of `size + 1`) to the page and
    /// returns the next page token, empty at the end.
    pub fn finish<T>(&self, items: &mut Vec<T>, id: impl Fn(&T) -> String) -> String {
        if items.len() > self.size {
            items.truncate(self.size);
            items
                .last()
                .map(|i| self.next_token(&id(i)))
                .unwrap_or_default()
        } else {
            String::new()
        }
    }
}

fn decode(token: &str, fingerprint: u64) -> Result<String, Violation> {
    let bad = || Violation::new("page_token", "not a page token issued for this listing");
    let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let mut parts = text.splitn(3, '|');
    let (Some("v1"), Some(fp), Some(last)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    if u64::from_str_radix(fp, 16).ok() != Some(fingerprint) {
        return Err(Violation::new(
            "page_token",
            "the filters changed since this token was issued",
        ));
    }
    if uuid::Uuid::try_parse(last).is_err() {
        return Err(bad());
    }
    Ok(last.to_string())
}

/// FNV-1a: stable across processes and versions, unlike std's hasher.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
