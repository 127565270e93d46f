//! What the identity service publishes (revocations, on
//! `reemploi.identity.access.revoked`, which every process follows into its
//! deny list; accounts, on `reemploi.identity.account.{created,updated}`,
//! which the notifications follow to know whom to tell) and what it follows (the registry's partner events, to know
//! which partners are verified and may invite colleagues, a projection kept by
//! `reemploi_runtime::partners`).

use reemploi_events::Message;
use reemploi_proto::events::envelope::Payload;
use reemploi_proto::identity as pb;
use reemploi_runtime::envelope;
use reemploi_runtime::revoked::{PRODUCER, SUBJECT};
use reemploi_runtime::wire::millis_ts;

/// A revocation of `subject`'s tokens issued up to `at` (Unix ms), which
/// matters until `until` (Unix ms, the expiry of the last token it covers).
pub fn revocation(subject: String, at: i64, until: i64) -> Message {
    envelope::message(
        PRODUCER,
        SUBJECT.to_owned(),
        subject.clone(),
        1,
        at,
        Payload::Revocation(pb::Revocation {
            subject,
            revoke_time: Some(millis_ts(at)),
            expire_time: Some(millis_ts(until)),
        }),
    )
}

/// `reemploi.identity.account.created` (or `.updated`) carrying `account`
/// as the API shows it: no password hash, no secret.
pub fn account_event(account: &crate::model::Account, created: bool) -> Message {
    let event = if created { "created" } else { "updated" };
    envelope::message(
        PRODUCER,
        format!("reemploi.identity.account.{event}"),
        account.name(),
        account.version,
        account.updated_at,
        Payload::Account(account.to_proto()),
    )
}
