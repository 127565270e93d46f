//! List pagination (AIP-158): page sizes and opaque page tokens.
//!
//! A token carries the last id returned and a fingerprint of the filters it
//! was issued for, signed (HMAC-SHA256) with a key of the service's own, kept
//! in its database so that every replica accepts the tokens of the others.
//! A token replayed with other filters, altered or forged is refused instead
//! of silently returning the wrong page.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::validation::Violation;

/// Page size when the request leaves it at 0.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// Largest page served; larger requests are capped.
pub const MAX_PAGE_SIZE: usize = 1000;
/// Name of the signing key in a service's `service_keys` table.
const KEY_NAME: &str = "page_tokens";
/// Length of a new signing key, in bytes.
const KEY_BYTES: usize = 32;

/// Issues and checks the page tokens of one service.
#[derive(Clone)]
pub struct Pager {
    key: Arc<[u8]>,
}

impl std::fmt::Debug for Pager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key signs tokens: it stays out of logs.
        f.debug_struct("Pager").finish_non_exhaustive()
    }
}

impl Pager {
    /// A pager signing with `key`.
    pub fn new(key: &[u8]) -> Pager {
        Pager { key: key.into() }
    }

    /// The pager of the service whose database is `db`: its key is read
    /// from the `service_keys` table, created there on first use.
    pub async fn load(db: &reemploi_store::Db) -> Result<Pager, reemploi_store::StoreError> {
        let fresh: [u8; KEY_BYTES] = rand::random();
        let fresh: String = fresh.iter().map(|b| format!("{b:02x}")).collect();
        // Replicas starting together: the first insert wins, all read it.
        sqlx::query(
            "INSERT INTO service_keys (name, secret) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(KEY_NAME)
        .bind(&fresh)
        .execute(db.pool())
        .await?;
        let secret: String = sqlx::query_scalar("SELECT secret FROM service_keys WHERE name = $1")
            .bind(KEY_NAME)
            .fetch_one(db.pool())
            .await?;
        Ok(Pager::new(secret.as_bytes()))
    }

    /// Validates `page_size` and `page_token` for a listing whose filters are
    /// described by `filters` (any stable text).
    pub fn page(&self, page_size: i32, page_token: &str, filters: &str) -> Result<Page, Violation> {
        let size = match usize::try_from(page_size) {
            Err(_) => return Err(Violation::new("page_size", "must not be negative")),
            Ok(0) => DEFAULT_PAGE_SIZE,
            Ok(n) => n.min(MAX_PAGE_SIZE),
        };
        let fingerprint = fnv1a(filters.as_bytes());
        let after = if page_token.is_empty() {
            None
        } else {
            Some(self.decode(page_token, fingerprint)?)
        };
        Ok(Page {
            size,
            after,
            fingerprint,
            pager: self.clone(),
        })
    }

    fn mac(&self, body: &str) -> Hmac<Sha256> {
        // HMAC takes a key of any length.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
        mac.update(body.as_bytes());
        mac
    }

    fn encode(&self, fingerprint: u64, last_id: &str) -> String {
        let body = format!("v2|{fingerprint:016x}|{last_id}");
        let tag = URL_SAFE_NO_PAD.encode(self.mac(&body).finalize().into_bytes());
        URL_SAFE_NO_PAD.encode(format!("{body}|{tag}"))
    }

    fn decode(&self, token: &str, fingerprint: u64) -> Result<String, Violation> {
        let bad = || Violation::new("page_token", "not a page token issued for this listing");
        let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
        let text = String::from_utf8(raw).map_err(|_| bad())?;
        let (body, tag) = text.rsplit_once('|').ok_or_else(bad)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| bad())?;
        // Constant-time comparison: a forger learns nothing from timing.
        self.mac(body).verify_slice(&tag).map_err(|_| bad())?;
        let mut parts = body.splitn(3, '|');
        let (Some("v2"), Some(fp), Some(last)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        if u64::from_str_radix(fp, 16).ok() != Some(fingerprint) {
            return Err(Violation::new(
                "page_token",
                "the filters changed since this token was issued",
            ));
        }
        // Signed, so issued here: still, only the keys listings make (ids,
        // UUIDs or readable, and keys of several: `{site}/{lot}`,
        // `{time}/{id}`) are let through to a query.
        if !is_key(last) {
            return Err(bad());
        }
        Ok(last.to_string())
    }
}

/// A validated page request.
#[derive(Debug, Clone)]
pub struct Page {
    /// How many items to return at most.
    pub size: usize,
    /// Return items with an id strictly after this one.
    pub after: Option<String>,
    fingerprint: u64,
    pager: Pager,
}

impl Page {
    /// The token for the page after the one ending with `last_id`.
    pub fn next_token(&self, last_id: &str) -> String {
        self.pager.encode(self.fingerprint, last_id)
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

/// Whether `last` is a listing's key: ids and their separators only.
fn is_key(last: &str) -> bool {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '/');
    !last.is_empty() && last.len() <= 256 && last.chars().all(allowed)
}

/// FNV-1a: stable across processes and versions, unlike std's hasher.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
