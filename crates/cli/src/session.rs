//! A signed-in session's access token, renewed without a word: the
//! identity service's access tokens live 15 minutes, its refresh tokens 30
//! days and rotate on every use. Before a call, an access token about to
//! expire is renewed; a call the server refuses because its token has
//! expired (a clock behind the server's) is renewed and sent once more.
//! Renewed tokens are written back to the configuration file, under its
//! lock, so that the next command (or one running beside) uses them.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use reemploi_proto::identity as ipb;
use reemploi_proto::identity::identity_service_client::IdentityServiceClient;
use tokio::sync::Mutex;
use tonic::Code;
use tonic::codegen::http::{self, HeaderMap, HeaderValue};
use tonic::transport::Channel;

use crate::CliError;
use crate::config::{self, FileConfig, StoredSession};

/// How long before its expiry an access token is renewed: a call started
/// just before would otherwise arrive with a dead token.
pub const RENEW_MARGIN_SECS: i64 = 60;

/// `ErrorInfo.reason` of the statuses this client makes itself when the
/// session cannot be renewed: the person must sign in again.
pub const REASON_SIGN_IN_AGAIN: &str = "CLI_SIGN_IN_AGAIN";
/// `ErrorInfo.reason` of the statuses this client makes itself for a local
/// failure (the configuration file...).
pub const REASON_LOCAL: &str = "CLI_LOCAL";
/// The server's reason for an expired token.
const REASON_TOKEN_EXPIRED: &str = "TOKEN_EXPIRED";

/// The tokens of a session.
#[derive(Clone, PartialEq, Eq)]
struct Tokens {
    access: String,
    expires_at: Option<i64>,
    refresh: String,
}

/// A session shared by every call of one command.
pub struct Session {
    path: PathBuf,
    email: Option<String>,
    current: Mutex<Tokens>,
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Whether an access token expiring at `expires_at` should be renewed now.
fn due(expires_at: Option<i64>, now: i64) -> bool {
    expires_at.is_some_and(|at| at.saturating_sub(now) < RENEW_MARGIN_SECS)
}

/// Whether a response is the server refusing an expired token. Refusals
/// are trailers-only responses: the status is in the headers.
pub fn refused_as_expired(headers: &HeaderMap) -> bool {
    let unauthenticated = headers
        .get("grpc-status")
        .is_some_and(|v| v.as_bytes() == b"16");
    unauthenticated && header_reason(headers).as_deref() == Some(REASON_TOKEN_EXPIRED)
}

/// The `ErrorInfo` reason of a status in headers; decoded here (tonic's
/// own decoder panics on a malformed header).
fn header_reason(headers: &HeaderMap) -> Option<String> {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let details = engine
        .decode(headers.get("grpc-status-details-bin")?.as_bytes())
        .ok()?;
    let status = tonic::Status::with_details(Code::Unauthenticated, "", details.into());
    reemploi_runtime::status::reason(&status)
}

/// A status this client makes itself, in place of a server's answer.
pub fn local_status(code: Code, message: String, reason: &str) -> tonic::Status {
    reemploi_runtime::status::with_reason(code, message, reason)
}

impl Session {
    /// The session stored in the file.
    pub fn new(stored: &StoredSession) -> Session {
        Session {
            path: stored.path.clone(),
            email: stored.email.clone(),
            current: Mutex::new(Tokens {
                access: stored.access.clone(),
                expires_at: stored.expires_at,
                refresh: stored.refresh.clone(),
            }),
        }
    }

    /// The `authorization` header to send: the current access token, or a
    /// renewed one when it is due or is `rejected` (refused as expired).
    pub async fn bearer(
        &self,
        channel: &Channel,
        rejected: Option<&HeaderValue>,
    ) -> Result<HeaderValue, tonic::Status> {
        let mut current = self.current.lock().await;
        let refused = rejected.is_some_and(|r| *r == bearer_value(&current.access));
        if refused || due(current.expires_at, now_secs()) {
            *current = self.renew(channel, rejected).await?;
        }
        Ok(bearer_value(&current.access))
    }

    /// New tokens, under the file's lock: those another process stored
    /// meanwhile when they are still good, else a Refresh with the stored
    /// refresh token (the newest, whoever renewed it last).
    async fn renew(
        &self,
        channel: &Channel,
        rejected: Option<&HeaderValue>,
    ) -> Result<Tokens, tonic::Status> {
        let local = |e: CliError| local_status(Code::Unknown, e.to_string(), REASON_LOCAL);
        let _lock = config::lock_async(&self.path).await.map_err(local)?;
        let file = config::load(&self.path).map_err(local)?;
        let Some(stored) = file.session(&self.path) else {
            return Err(self.sign_in_again("you have logged out"));
        };
        let stored = Tokens {
            access: stored.access,
            expires_at: stored.expires_at,
            refresh: stored.refresh,
        };
        let refused = rejected.is_some_and(|r| *r == bearer_value(&stored.access));
        if !refused && !due(stored.expires_at, now_secs()) {
            return Ok(stored);
        }
        let answer = IdentityServiceClient::new(channel.clone())
            .refresh(ipb::RefreshRequest {
                refresh_token: stored.refresh,
            })
            .await;
        let session = match answer {
            Ok(session) => session.into_inner(),
            Err(status) if status.code() == Code::Unauthenticated => {
                return Err(self.sign_in_again(status.message()));
            }
            Err(status) => return Err(status),
        };
        let renewed = tokens_of(&session);
        let mut file = file;
        store(&mut file, &session);
        config::save(&self.path, &file).map_err(local)?;
        tracing::debug!("access token renewed");
        Ok(renewed)
    }

    /// The refusal when the session cannot go on.
    fn sign_in_again(&self, why: &str) -> tonic::Status {
        let email = self.email.as_deref().unwrap_or("YOUR_EMAIL");
        local_status(
            Code::Unauthenticated,
            format!(
                "your session has ended ({why}): sign in again with \
                 `reemploi login --email {email}`"
            ),
            REASON_SIGN_IN_AGAIN,
        )
    }
}

/// `Bearer TOKEN` as a header value; a token a header cannot carry (which
/// the server never issues) becomes an empty value the server refuses.
pub fn bearer_value(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("Bearer {token}")).unwrap_or(HeaderValue::from_static(""))
}

fn tokens_of(session: &ipb::Session) -> Tokens {
    Tokens {
        access: session.access_token.clone(),
        expires_at: session.access_token_expire_time.map(|t| t.seconds),
        refresh: session.refresh_token.clone(),
    }
}

/// Writes a session's tokens into `file` (the address and the rest stay).
pub fn store(file: &mut FileConfig, session: &ipb::Session) {
    let tokens = tokens_of(session);
    file.token = Some(tokens.access);
    file.token_expires_at = tokens.expires_at;
    file.refresh_token = Some(tokens.refresh);
    if let Some(account) = &session.account {
        file.email = Some(account.email.clone());
    }
}

/// Sends `request` with `bearer` once the channel is ready.
pub async fn send(
    mut channel: Channel,
    mut request: http::Request<tonic::body::Body>,
    bearer: HeaderValue,
) -> Result<http::Response<tonic::body::Body>, tonic::transport::Error> {
    use tonic::codegen::Service as _;
    request
        .headers_mut()
        .insert(http::header::AUTHORIZATION, bearer);
    std::future::poll_fn(|cx| channel.poll_ready(cx)).await?;
    channel.call(request).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn tokens_are_renewed_a_minute_before_they_expire() {
        assert!(!due(None, 1_000), "a token without expiry is kept");
        assert!(!due(Some(1_000 + RENEW_MARGIN_SECS), 1_000));
        assert!(due(Some(1_000 + RENEW_MARGIN_SECS - 1), 1_000));
        assert!(due(Some(0), 1_000));
    }

    #[test]
    fn only_an_expired_token_refusal_asks_for_a_renewal() {
        let headers = |status: tonic::Status| {
            let response: http::Response<tonic::body::Body> = status.into_http();
            response.headers().clone()
        };
        let expired = local_status(
            Code::Unauthenticated,
            "token expired".into(),
            "TOKEN_EXPIRED",
        );
        assert!(refused_as_expired(&headers(expired)));
        let revoked = local_status(
            Code::Unauthenticated,
            "token revoked".into(),
            "TOKEN_REVOKED",
        );
        assert!(!refused_as_expired(&headers(revoked)));
        let denied = local_status(Code::PermissionDenied, "no".into(), "TOKEN_EXPIRED");
        assert!(!refused_as_expired(&headers(denied)));
        assert!(!refused_as_expired(&HeaderMap::new()));
    }
}
