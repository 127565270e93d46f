//! List pagination (AIP-158): page sizes and opaque page tokens.
//!
//! A token carries the last id returned and a fingerprint of the filters it
//! was issued for, so a token replayed with other filters, or forged, is
//! refused instead of silently returning the wrong page.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{InventoryError, Result};

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
    pub fn parse(page_size: i32, page_token: &str, filters: &str) -> Result<Page> {
        let size = match page_size {
            n if n < 0 => {
                return Err(InventoryError::invalid("page_size", "must not be negative"));
            }
            0 => DEFAULT_PAGE_SIZE,
            n => usize::try_from(n)
                .unwrap_or(MAX_PAGE_SIZE)
                .min(MAX_PAGE_SIZE),
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
}

fn decode(token: &str, fingerprint: u64) -> Result<String> {
    let bad = || InventoryError::invalid("page_token", "not a page token issued for this listing");
    let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let mut parts = text.splitn(3, '|');
    let (Some("v1"), Some(fp), Some(last)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    if u64::from_str_radix(fp, 16).ok() != Some(fingerprint) {
        return Err(InventoryError::invalid(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_forgeries_fail() {
        let page = Page::parse(10, "", "site=a").unwrap();
        let id = uuid::Uuid::now_v7().to_string();
        let token = page.next_token(&id);
        assert_eq!(Page::parse(10, &token, "site=a").unwrap().after, Some(id));
        assert!(Page::parse(10, &token, "site=b").is_err());
        assert!(Page::parse(10, "garbage!", "site=a").is_err());
        assert!(Page::parse(-1, "", "").is_err());
        assert_eq!(Page::parse(5000, "", "").unwrap().size, MAX_PAGE_SIZE);
        assert_eq!(Page::parse(0, "", "").unwrap().size, DEFAULT_PAGE_SIZE);
    }
}
