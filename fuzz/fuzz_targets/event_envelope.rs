//! The event decoder on any bytes, and what consumers do next: an envelope
//! is either refused as a permanent failure (dead-lettered at once, never
//! retried) or decoded into a payload that the matching projections and the
//! inventory's partner projection convert, or refuse as permanent, without
//! panicking. Each payload is converted twice: as decoded, and with its
//! names replaced by valid ones, so that the fuzzer also reaches the
//! conversions past the name checks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message as _;
use reemploi_events::{HandlerError, Message};
use reemploi_matching::error::MatchingError;
use reemploi_matching::model::{Claim, Lot, Partner};
use reemploi_proto::events::Envelope;
use reemploi_proto::events::envelope::Payload;
use reemploi_runtime::auth::{Claims, Role};
use reemploi_runtime::envelope;
use reemploi_runtime::revoked::DenyList;
use uuid::Uuid;

/// Unit masses a claim may be converted with: unknown lot, usual, extreme.
const UNIT_MASSES: [i64; 4] = [0, 1, 25_000, i64::MAX];
/// Masses a partner's open claims may already commit.
const COMMITTED: [i64; 3] = [0, 1_000_000, i64::MAX];

fn permanent(e: HandlerError) {
    assert!(
        matches!(e, HandlerError::Permanent(_)),
        "a bad event must be dead-lettered at once, got {e:?}"
    );
}

fn refused(e: MatchingError) {
    permanent(HandlerError::from(e));
}

fn apply(msg: &Message, payload: &Payload) {
    match reemploi_runtime::partners::update(msg, payload.clone()) {
        Ok((id, status)) => {
            let Payload::Partner(p) = payload else {
                panic!("inventory took {payload:?} as a partner");
            };
            assert_eq!(p.name, format!("partners/{id}"));
            assert!(
                ["verified", "pending", "suspended", "archived", "unknown"].contains(&status),
                "{status}"
            );
        }
        Err(e) => permanent(e),
    }
    match payload {
        Payload::Lot(l) => match Lot::from_event(l) {
            Ok(lot) => {
                assert_eq!(l.name, format!("sites/{}/lots/{}", lot.site_id, lot.id));
                let _ = lot.on_offer();
                if let Some(profile) = lot.profile() {
                    assert_eq!(profile.id, lot.id.to_string());
                }
            }
            Err(e) => refused(e),
        },
        Payload::Partner(p) => match Partner::from_event(p) {
            Ok(partner) => {
                assert_eq!(p.name, format!("partners/{}", partner.id));
                for committed in COMMITTED {
                    if let Some(profile) = partner.profile(committed) {
                        assert_eq!(profile.committed_g, committed);
                    }
                }
            }
            Err(e) => refused(e),
        },
        Payload::Claim(c) => {
            for unit_mass in UNIT_MASSES {
                match Claim::from_event(c, unit_mass) {
                    Ok(claim) => assert!(c.name.ends_with(&format!("/claims/{}", claim.id))),
                    Err(e) => refused(e),
                }
            }
        }
        Payload::Revocation(r) => revoke(r),
        Payload::Site(_)
        | Payload::MatchProposal(_)
        | Payload::Need(_)
        | Payload::Account(_)
        | Payload::PickupBooking(_) => {}
    }
}

/// A revocation goes into a deny list without a panic, and covers a token
/// issued at the epoch only if it reaches back that far.
fn revoke(r: &reemploi_proto::identity::Revocation) {
    let (Some(at), Some(end)) = (r.revoke_time.as_ref(), r.expire_time.as_ref()) else {
        return;
    };
    let list = DenyList::default();
    let before_ms = reemploi_runtime::wire::ts_millis(at);
    list.revoke(&r.subject, before_ms, end.seconds);
    let token = Claims {
        sub: r.subject.clone(),
        role: Role::Admin,
        org: None,
        partner: None,
        exp: u64::MAX,
        iat: 0,
        iat_ms: None,
        jti: None,
        sid: None,
    };
    if list.refuses(&token, None) {
        assert!(before_ms >= 0, "{r:?}");
    }
}

/// The payload with valid names, made from `data` so that they vary.
fn repaired(payload: &Payload, data: &[u8]) -> Payload {
    let mut bytes = [0u8; 16];
    for (b, d) in bytes.iter_mut().zip(data.iter().rev()) {
        *b = *d;
    }
    let (a, b, c) = (
        Uuid::from_bytes(bytes),
        Uuid::from_u128(u128::from_le_bytes(bytes) ^ 1),
        Uuid::from_u128(u128::from_be_bytes(bytes).wrapping_add(7)),
    );
    let mut payload = payload.clone();
    match &mut payload {
        Payload::Lot(l) => l.name = format!("sites/{a}/lots/{b}"),
        Payload::Partner(p) => p.name = format!("partners/{c}"),
        Payload::Claim(cl) => {
            cl.name = format!("sites/{a}/lots/{b}/claims/{c}");
            cl.partner = format!("partners/{a}");
        }
        Payload::Site(s) => s.name = format!("sites/{a}"),
        Payload::MatchProposal(_)
        | Payload::Revocation(_)
        | Payload::Need(_)
        | Payload::Account(_)
        | Payload::PickupBooking(_) => {}
    }
    payload
}

fuzz_target!(|data: &[u8]| {
    let msg = Message {
        subject: "reemploi.fuzz.event".to_owned(),
        event_id: "fuzz".to_owned(),
        payload: data.to_vec().into(),
        traceparent: None,
    };
    let (envelope, payload) = match envelope::decode(&msg) {
        Ok(decoded) => decoded,
        Err(e) => return permanent(e),
    };
    assert!(envelope.payload.is_none(), "the payload is handed over");
    // What was decoded encodes and decodes to itself (compared as bytes:
    // a NaN coordinate is not equal to itself).
    let whole = Envelope {
        payload: Some(payload.clone()),
        ..envelope
    }
    .encode_to_vec();
    let again = Envelope::decode(whole.as_slice()).unwrap().encode_to_vec();
    assert_eq!(again, whole);
    apply(&msg, &payload);
    apply(&msg, &repaired(&payload, data));
});
