//! Idempotent requests (AIP-155): the key of a request under its caller,
//! with a fingerprint of the request so that a key reused for another
//! request is refused rather than answered with the first one's result.

use reemploi_store::StoreError;
use reemploi_store::idempotency::{self, Begun, Key};
use sha2::{Digest, Sha256};

use crate::auth::Principal;
use crate::validation::Violation;

/// The key of `request` (which carries `request_id`) for `scope`, asked by
/// `caller`.
pub fn key(
    caller: &Principal,
    scope: impl Into<String>,
    request_id: &str,
    request: &impl prost::Message,
) -> Key {
    Key {
        scope: scope.into(),
        caller: caller.key(),
        request_id: request_id.to_owned(),
        fingerprint: fingerprint(request),
    }
}

/// A digest of a request's encoding (hex SHA-256). The request id is part
/// of it, which is harmless: two requests compared share their key.
pub fn fingerprint(request: &impl prost::Message) -> String {
    hex(&Sha256::digest(request.encode_to_vec()))
}

/// A digest of a request and of who sent it, for keys whose scope does not
/// name the caller (a claim's key is the partner's, whoever claims for it).
pub fn fingerprint_by(caller: &Principal, request: &impl prost::Message) -> String {
    let mut digest = Sha256::new();
    digest.update(caller.key().as_bytes());
    digest.update([0]);
    digest.update(request.encode_to_vec());
    hex(&digest.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The violation of a request that reuses another request's key.
pub fn reused() -> Violation {
    Violation::new(
        "request_id",
        "already used for a different request: use a new key for a new request, \
         the same key only to retry the same request",
    )
}

/// Why an idempotent request could not begin.
#[derive(Debug, thiserror::Error)]
pub enum BeginError {
    /// The key was used for a different request.
    #[error("{0}")]
    Reused(Violation),
    /// The key could not be read or recorded.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Begins a request in its own transaction, when it has a key: `None` to
/// go ahead (`result` is recorded under the key), or the result the first
/// attempt recorded, to answer with again.
pub async fn begin(
    conn: &mut sqlx::AnyConnection,
    key: Option<&Key>,
    result: &str,
    now: i64,
) -> Result<Option<String>, BeginError> {
    let Some(key) = key else { return Ok(None) };
    match idempotency::begin(conn, key, result, now).await? {
        Begun::New => Ok(None),
        Begun::Repeat(recorded) => Ok(Some(recorded)),
        Begun::Reused => Err(BeginError::Reused(reused())),
    }
}
