//! Streams that end with their token. A call's token is checked when the
//! call starts, but a stream (WatchLots, WatchNotifications) may go on for
//! hours: it ends, with the refusal a new call would get, as soon as its
//! token expires or is revoked.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::Stream;
use futures::future::BoxFuture;

use crate::auth::{Authenticator, LEEWAY_SECS};

/// What the interceptor leaves on a call it let through: the authenticator
/// that checked its token, to check it again.
#[derive(Clone)]
pub(crate) struct Checker(pub(crate) Arc<Authenticator>);

/// The answers of a server-streaming method, as tonic takes them.
pub type Answers<T> = Pin<Box<dyn Stream<Item = Result<T, tonic::Status>> + Send>>;

/// The longest wait before a token is checked again without cause: a
/// token that expires in years is still looked at every day.
const LONGEST_WAIT: Duration = Duration::from_secs(24 * 3600);

/// The token a call was made with and what checked it; taken from the
/// request before its message is.
pub struct Credential(Option<(Arc<Authenticator>, String)>);

impl Credential {
    /// The credential of `req`. A call no interceptor checked has none,
    /// and its stream runs as it is.
    pub fn of<R>(req: &tonic::Request<R>) -> Credential {
        let token = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(crate::auth::bearer_token)
            .map(str::to_owned);
        let checker = req.extensions().get::<Checker>();
        Credential(token.zip(checker.map(|c| c.0.clone())).map(|(t, a)| (a, t)))
    }

    /// `answers` until the token expires or is revoked; then that refusal,
    /// and the end.
    pub fn guard<T: Send + 'static>(self, answers: Answers<T>) -> Answers<T> {
        match self.0 {
            Some((authenticator, token)) => Box::pin(Guarded {
                answers,
                lapse: Some(Box::pin(lapsed(authenticator, token))),
            }),
            None => answers,
        }
    }
}

/// Resolves, with the refusal a new call would get, once `token` no
/// longer passes: at its expiry, or at once on a revocation that covers it.
async fn lapsed(authenticator: Arc<Authenticator>, token: String) -> tonic::Status {
    let mut revocations = authenticator.deny_list().changes();
    loop {
        // Marked before the check: a revocation made after it wakes the wait.
        revocations.mark_unchanged();
        let exp = match authenticator.passed(&token) {
            Ok(passed) => passed.claims.exp,
            Err(e) => {
                tracing::debug!(reason = %e, "stream ended: its token no longer passes");
                return crate::status::with_reason(
                    tonic::Code::Unauthenticated,
                    e.to_string(),
                    e.reason(),
                );
            }
        };
        // Tokens pass until the leeway after their `exp` has gone by.
        let left = Duration::from_secs(exp.saturating_add(LEEWAY_SECS + 1))
            .saturating_sub(since_epoch())
            .min(LONGEST_WAIT);
        tokio::select! {
            () = tokio::time::sleep(left) => {}
            changed = revocations.changed() => {
                // The list outlives the authenticator that holds it; should
                // it go, the expiry is what is left to wait for.
                if changed.is_err() {
                    tokio::time::sleep(left).await;
                }
            }
        }
    }
}

fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// A stream of answers ended by its token's lapse.
struct Guarded<T> {
    answers: Answers<T>,
    /// `None` once the stream has ended.
    lapse: Option<BoxFuture<'static, tonic::Status>>,
}

impl<T: Send + 'static> Stream for Guarded<T> {
    type Item = Result<T, tonic::Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(lapse) = this.lapse.as_mut() else {
            return Poll::Ready(None);
        };
        if let Poll::Ready(refusal) = lapse.as_mut().poll(cx) {
            this.lapse = None;
            // What makes the answers stops now: its channel closes.
            this.answers = Box::pin(futures::stream::empty());
            return Poll::Ready(Some(Err(refusal)));
        }
        let next = this.answers.as_mut().poll_next(cx);
        if matches!(next, Poll::Ready(None)) {
            this.lapse = None;
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{AuthInterceptor, Claims, Role, claims_for, issue_hs256};
    use futures::StreamExt as _;
    use tonic::service::Interceptor as _;

    const SECRET: &[u8] = b"a secret for the lapse tests, long enough";

    /// A call with `claims`, let through by an interceptor of `auth`.
    fn call(auth: &Authenticator, claims: &Claims) -> tonic::Request<()> {
        let token = issue_hs256(SECRET, claims).expect("signed");
        let mut req = tonic::Request::new(());
        req.metadata_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("header"),
        );
        AuthInterceptor::new(auth.clone())
            .call(req)
            .expect("the token passes")
    }

    /// Two answers, then nothing until the end of time.
    fn answers() -> Answers<u32> {
        Box::pin(futures::stream::iter([Ok(1), Ok(2)]).chain(futures::stream::pending()))
    }

    fn reason(status: &tonic::Status) -> String {
        crate::status::reason(status).unwrap_or_default()
    }

    #[tokio::test]
    async fn a_stream_ends_when_its_token_is_revoked() {
        let auth = Authenticator::hs256(SECRET);
        let claims = claims_for(Role::Admin, None, None, Duration::from_secs(3600));
        let mut stream = Credential::of(&call(&auth, &claims)).guard(answers());
        assert_eq!(stream.next().await.map(|r| r.ok()), Some(Some(1)));
        assert_eq!(stream.next().await.map(|r| r.ok()), Some(Some(2)));
        // Nothing more comes while the token holds.
        let waited = tokio::time::timeout(Duration::from_millis(200), stream.next()).await;
        assert!(waited.is_err(), "the stream went on");
        let deny = auth.deny_list().clone();
        let now_ms = i64::try_from(since_epoch().as_millis()).expect("ms");
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            deny.revoke(&claims.sub, now_ms + 1000, now_ms / 1000 + 7200);
        });
        let refused = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("ended at once")
            .expect("with a refusal")
            .expect_err("a refusal");
        assert_eq!(refused.code(), tonic::Code::Unauthenticated);
        assert_eq!(reason(&refused), "TOKEN_REVOKED");
        assert!(stream.next().await.is_none());
    }

    #[tokio::test]
    async fn a_stream_ends_when_its_token_expires() {
        let auth = Authenticator::hs256(SECRET);
        // Issued a minute ago, it passes for 2 s more (its expiry, then the leeway).
        let mut claims = claims_for(Role::Admin, None, None, Duration::from_secs(3600));
        let now = since_epoch().as_secs();
        claims.iat = now - 60;
        claims.exp = now - LEEWAY_SECS + 2;
        let mut stream = Credential::of(&call(&auth, &claims)).guard(answers());
        assert_eq!(stream.next().await.map(|r| r.ok()), Some(Some(1)));
        let refused = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match stream.next().await {
                    Some(Ok(_)) => {}
                    Some(Err(status)) => return status,
                    None => panic!("ended without a refusal"),
                }
            }
        })
        .await
        .expect("ended once expired");
        assert_eq!(reason(&refused), "TOKEN_EXPIRED");
        assert!(stream.next().await.is_none());
    }

    #[tokio::test]
    async fn a_call_no_interceptor_checked_keeps_its_stream() {
        let mut stream = Credential::of(&tonic::Request::new(())).guard(answers());
        assert_eq!(stream.next().await.map(|r| r.ok()), Some(Some(1)));
        assert_eq!(stream.next().await.map(|r| r.ok()), Some(Some(2)));
        let waited = tokio::time::timeout(Duration::from_millis(100), stream.next()).await;
        assert!(waited.is_err(), "an unchecked stream runs as it is");
    }
}
