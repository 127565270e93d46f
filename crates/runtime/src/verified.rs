//! Tokens whose signature, issuer and audience were already checked.
//!
//! A client sends the same access token on every call for its lifetime,
//! and checking an EdDSA signature costs tens of microseconds, more than
//! the rest of a small call. Remembering the tokens that passed lets later
//! calls skip it; what can change over a token's life is still checked on
//! every call: its expiry, the signing key still being held, and the deny
//! list of revocations.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::auth::Claims;
use crate::keys::UnpoisonedLock;

/// How many tokens are remembered: a few megabytes at most, more than the
/// live sessions of a territory.
const CAPACITY: usize = 4096;

/// A token that passed: its claims, and the id of the identity service's
/// key that signed it (`None` for a static key).
#[derive(Clone)]
pub(crate) struct Passed {
    pub(crate) claims: Claims,
    pub(crate) kid: Option<String>,
    pub(crate) issued: bool,
}

/// The tokens that passed, shared by the clones of an authenticator.
#[derive(Clone, Default)]
pub(crate) struct Verified {
    tokens: Arc<Mutex<HashMap<Box<str>, Passed>>>,
}

impl Verified {
    /// What `token` was found to carry, if it passed before.
    pub(crate) fn get(&self, token: &str) -> Option<Passed> {
        self.tokens.lock().unpoisoned().get(token).cloned()
    }

    /// Remembers that `token` passed. When full, the expired tokens go
    /// first, then all of them: a forgotten token is only checked again.
    pub(crate) fn insert(&self, token: &str, passed: Passed, now: u64) {
        let mut tokens = self.tokens.lock().unpoisoned();
        if tokens.len() >= CAPACITY {
            tokens.retain(|_, p| p.claims.exp >= now);
            if tokens.len() >= CAPACITY {
                tokens.clear();
            }
        }
        tokens.insert(token.into(), passed);
    }

    /// Forgets `token`.
    pub(crate) fn remove(&self, token: &str) {
        self.tokens.lock().unpoisoned().remove(token);
    }
}
