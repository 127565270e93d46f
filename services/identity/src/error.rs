//! The identity service's errors: those every service shares, and its own
//! (a refused sign-in, a reused refresh token, a link that no longer
//! works...), with their one mapping to gRPC statuses.

use std::time::Duration;

use reemploi_runtime::error::ApiError;
use reemploi_runtime::status;
use tonic::{Code, Status};

use crate::keys::KeyError;
use crate::oidc::OidcError;
use crate::password::HashError;
use crate::tokens::SignError;

/// Everything an identity operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// What every service can fail with.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// Wrong email or password, or a disabled account: one answer for all,
    /// so that it tells nothing about which emails have accounts.
    #[error("wrong email or password")]
    SignInFailed,
    /// Too many failed sign-ins for this email or from this address.
    #[error("too many failed sign-ins: try again in {} s", .0.as_secs().max(1))]
    Throttled(Duration),
    /// The refresh token is unknown, expired or revoked.
    #[error("the session has ended: sign in again")]
    SessionEnded,
    /// The refresh token was used already: it may have been stolen, so the
    /// whole session is revoked.
    #[error("this refresh token was already used: the session is revoked, sign in again")]
    RefreshReused,
    /// An invitation or reset link that is unknown, expired or used.
    #[error("this {0} link is unknown, expired or already used")]
    LinkInvalid(&'static str),
    /// An account already has this email.
    #[error("an account already exists for this email")]
    EmailTaken,
    /// No OpenID provider is configured.
    #[error("sign-in through an identity provider is not configured on this platform")]
    NoProvider,
    /// The OpenID provider could not be used, or refused the sign-in.
    #[error(transparent)]
    External(#[from] OidcError),
    /// The provider's identity has no account here: neither one with its
    /// email nor an invitation of it.
    #[error(
        "no account nor pending invitation for this identity's email: ask a territory admin \
         (or a colleague of your structure) to invite you"
    )]
    NotInvited,
    /// The provider gave no email, or did not verify it: no account is
    /// linked on its word.
    #[error("the identity provider has not verified this identity's email")]
    EmailNotVerified,
    /// The signing keys failed.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// Password hashing failed.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// A token could not be signed.
    #[error(transparent)]
    Sign(#[from] SignError),
}

reemploi_runtime::api_error_conversions!(IdentityError);

impl From<IdentityError> for Status {
    fn from(err: IdentityError) -> Status {
        match err {
            IdentityError::Api(e) => e.into(),
            e @ IdentityError::SignInFailed => {
                status::with_reason(Code::Unauthenticated, e.to_string(), "SIGN_IN_FAILED")
            }
            IdentityError::Throttled(wait) => status::rate_limited(wait),
            e @ IdentityError::SessionEnded => {
                status::with_reason(Code::Unauthenticated, e.to_string(), "SESSION_ENDED")
            }
            e @ IdentityError::RefreshReused => {
                status::with_reason(Code::Unauthenticated, e.to_string(), "REFRESH_TOKEN_REUSED")
            }
            e @ IdentityError::LinkInvalid(_) => {
                status::with_reason(Code::FailedPrecondition, e.to_string(), "LINK_INVALID")
            }
            e @ IdentityError::EmailTaken => {
                status::with_reason(Code::AlreadyExists, e.to_string(), "EMAIL_TAKEN")
            }
            e @ IdentityError::NoProvider => status::with_reason(
                Code::FailedPrecondition,
                e.to_string(),
                "NO_IDENTITY_PROVIDER",
            ),
            e @ IdentityError::External(OidcError::Unavailable(_)) => status::with_reason(
                Code::Unavailable,
                e.to_string(),
                "IDENTITY_PROVIDER_UNAVAILABLE",
            ),
            e @ IdentityError::External(OidcError::Refused(_)) => status::with_reason(
                Code::Unauthenticated,
                e.to_string(),
                "EXTERNAL_SIGN_IN_REFUSED",
            ),
            e @ IdentityError::NotInvited => {
                status::with_reason(Code::PermissionDenied, e.to_string(), "NOT_INVITED")
            }
            e @ IdentityError::EmailNotVerified => {
                status::with_reason(Code::PermissionDenied, e.to_string(), "EMAIL_NOT_VERIFIED")
            }
            IdentityError::Keys(KeyError::Store(e)) => ApiError::from(e).into(),
            IdentityError::Keys(e @ (KeyError::Kek(_) | KeyError::Corrupt { .. })) => {
                status::internal("signing keys", &e)
            }
            IdentityError::Hash(e) => status::internal("password", &e),
            IdentityError::Sign(e) => status::internal("token", &e),
        }
    }
}

/// Results of the identity layer.
pub type Result<T, E = IdentityError> = std::result::Result<T, E>;
