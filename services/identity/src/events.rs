//! What the identity service publishes (revocations, on
//! `reemploi.identity.access.revoked`, which every process follows into its
//! deny list) and what it follows (the registry's partner events, to know
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
