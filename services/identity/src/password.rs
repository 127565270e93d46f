//! Passwords: the policy a new one must meet, and argon2id hashing.
//!
//! Parameters: argon2id, 19 MiB of memory, 2 passes, 1 lane, 16-byte salt,
//! 32-byte output: the smallest set OWASP's password storage guidance
//! recommends for argon2id, which keeps a sign-in around a few tens of
//! milliseconds on one core (the benchmark prints the measured median). The
//! parameters are stored in each hash (PHC string), so raising them later
//! keeps old hashes verifiable.

use std::collections::HashSet;
use std::sync::{Arc, LazyLock};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use reemploi_runtime::validation::Violation;

/// Memory cost, KiB.
pub const MEMORY_KIB: u32 = 19 * 1024;
/// Passes over the memory.
pub const ITERATIONS: u32 = 2;
/// Lanes.
pub const PARALLELISM: u32 = 1;
/// Bytes of output.
pub const OUTPUT_BYTES: usize = 32;

/// Fewest characters of a new password.
pub const MIN_CHARS: usize = 12;
/// Most characters: beyond, hashing costs a caller's choosing.
pub const MAX_CHARS: usize = 256;

/// The common passwords shipped with the service (see the file's header).
static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../data/common-passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
});

/// Whether `password` is a common one, or one with only digits and
/// punctuation around it (`Password2024!`, `2024azertyuiop`,
/// `123456789012`).
pub fn is_common(password: &str) -> bool {
    let lower = password.to_lowercase();
    if COMMON.contains(lower.as_str()) {
        return true;
    }
    let core = lower.trim_matches(|c: char| !c.is_alphabetic());
    // Short cores (`ab`, `x`) would match nearly anything with digits around.
    if core.chars().count() >= 4 && COMMON.contains(core) {
        return true;
    }
    // A common one with digits or punctuation added (`123456789012`).
    lower.char_indices().skip(6).any(|(at, _)| {
        COMMON.contains(&lower[..at]) && !lower[at..].chars().any(char::is_alphabetic)
    })
}

/// A new password that meets the policy: 12 to 256 characters, not a
/// common one. Never printed.
pub struct NewPassword(String);

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(<redacted>)")
    }
}

impl NewPassword {
    /// Checks `raw` (sent as `field`); surrounding spaces count.
    pub fn parse(field: &str, raw: &str) -> Result<NewPassword, Violation> {
        let chars = raw.chars().count();
        if chars < MIN_CHARS {
            return Err(Violation::new(
                field,
                format!("must be at least {MIN_CHARS} characters"),
            ));
        }
        if chars > MAX_CHARS {
            return Err(Violation::new(
                field,
                format!("must be at most {MAX_CHARS} characters"),
            ));
        }
        if raw.chars().any(char::is_control) {
            return Err(Violation::new(field, "must not contain control characters"));
        }
        if is_common(raw) {
            return Err(Violation::new(
                field,
                "is too common: it appears in lists of passwords tried first by attackers",
            ));
        }
        Ok(NewPassword(raw.to_owned()))
    }

    /// The password itself, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Hashes and verifies passwords with the parameters above. Cheap to clone.
#[derive(Clone)]
pub struct Hasher {
    argon2: Arc<Argon2<'static>>,
    /// A hash of a random password, verified against when the email is
    /// unknown so that the answer takes as long as for a wrong password.
    decoy: Arc<String>,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher")
            .field("memory_kib", &MEMORY_KIB)
            .field("iterations", &ITERATIONS)
            .field("parallelism", &PARALLELISM)
            .finish()
    }
}

/// Why hashing failed (never the password).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

impl Hasher {
    /// A hasher with the stated parameters.
    pub fn new() -> Result<Hasher, HashError> {
        let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, Some(OUTPUT_BYTES))
            .map_err(|e| HashError(e.to_string()))?;
        let argon2 = Arc::new(Argon2::new(Algorithm::Argon2id, Version::V0x13, params));
        let decoy_bytes: [u8; 24] = rand::random();
        let decoy_password: String = decoy_bytes.iter().map(|b| format!("{b:02x}")).collect();
        let decoy = hash_with(&argon2, &decoy_password)?;
        Ok(Hasher {
            argon2,
            decoy: Arc::new(decoy),
        })
    }

    /// The PHC string of `password` with a fresh salt. Slow on purpose: run
    /// it off the async threads.
    pub fn hash(&self, password: &NewPassword) -> Result<String, HashError> {
        hash_with(&self.argon2, password.expose())
    }

    /// Whether `candidate` matches `stored`; with no stored hash (unknown
    /// email, no password) it spends the same time and says no.
    pub fn verify(&self, stored: Option<&str>, candidate: &str) -> bool {
        let matched = verify_with(&self.argon2, stored.unwrap_or(&self.decoy), candidate);
        matched && stored.is_some()
    }
}

fn hash_with(argon2: &Argon2<'static>, password: &str) -> Result<String, HashError> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| HashError(e.to_string()))?;
    argon2
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

fn verify_with(argon2: &Argon2<'static>, stored: &str, candidate: &str) -> bool {
    // A stored hash that does not parse matches nothing; it is logged
    // because it means the table was written by something else.
    match PasswordHash::new(stored) {
        Ok(hash) => argon2.verify_password(candidate.as_bytes(), &hash).is_ok(),
        Err(e) => {
            tracing::error!(error = %e, "a stored password hash does not parse");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_passwords_are_refused_and_strong_ones_kept() {
        for weak in [
            "short",
            "qwerty123456",
            "Password2024!",
            "azertyuiop12",
            "123456789012",
        ] {
            assert!(NewPassword::parse("password", weak).is_err(), "{weak}");
        }
        assert!(NewPassword::parse("password", "tuiles-de-Mulhouse-68").is_ok());
    }

    #[test]
    fn a_hash_verifies_its_password_only() {
        let hasher = Hasher::new().unwrap();
        let pw = NewPassword::parse("p", "radiateurs en fonte 1932").unwrap();
        let hash = hasher.hash(&pw).unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(hasher.verify(Some(&hash), "radiateurs en fonte 1932"));
        assert!(!hasher.verify(Some(&hash), "radiateurs en fonte 1933"));
        assert!(!hasher.verify(None, "radiateurs en fonte 1932"));
    }
}
