//! The event envelope, the same way in every service: built around an
//! aggregate's state by producers, and decoded first by every consumer,
//! which gives up at once (a dead letter) on one that can never be applied.

use prost::Message as _;
use reemploi_events::{HandlerError, Message};
use reemploi_proto::events::Envelope;
use reemploi_proto::events::envelope::Payload;

/// The event `subject` (`reemploi.<producer>.<entity>.<event>`) of
/// `producer`, carrying the state of `aggregate` at `version`, as of `at`
/// (Unix milliseconds), with a fresh event id, the actor of the call being
/// served (see [`crate::actor`]) and the current trace context.
pub fn message(
    producer: &str,
    subject: String,
    aggregate: String,
    version: i64,
    at: i64,
    payload: Payload,
) -> Message {
    let event_id = uuid::Uuid::now_v7().to_string();
    let envelope = Envelope {
        event_id: event_id.clone(),
        occur_time: Some(crate::wire::millis_ts(at)),
        event_type: subject.clone(),
        aggregate,
        aggregate_version: version,
        producer: producer.to_owned(),
        actor: crate::actor::current(),
        payload: Some(payload),
    };
    Message {
        subject,
        event_id,
        payload: envelope.encode_to_vec().into(),
        traceparent: reemploi_events::trace::current(),
    }
}

/// The envelope of `msg` and its payload, or a permanent failure when the
/// bytes are not an envelope or the envelope carries nothing.
pub fn decode(msg: &Message) -> Result<(Envelope, Payload), HandlerError> {
    let mut envelope = Envelope::decode(msg.payload.as_ref()).map_err(|e| {
        HandlerError::Permanent(format!("{}: undecodable envelope: {e}", msg.subject))
    })?;
    let payload = envelope
        .payload
        .take()
        .ok_or_else(|| HandlerError::Permanent(format!("{} carries no payload", msg.subject)))?;
    Ok((envelope, payload))
}

/// A permanent failure: `msg` carries a payload this consumer has no use for.
pub fn unexpected(msg: &Message, payload: &Payload) -> HandlerError {
    let kind = match payload {
        Payload::Site(_) => "a site",
        Payload::Lot(_) => "a lot",
        Payload::Claim(_) => "a claim",
        Payload::Partner(_) => "a partner",
        Payload::MatchProposal(_) => "a proposal",
        Payload::Revocation(_) => "a revocation",
        Payload::Need(_) => "a need",
        Payload::Account(_) => "an account",
        Payload::PickupBooking(_) => "a pick-up booking",
    };
    HandlerError::Permanent(format!("{} carries {kind}, not expected here", msg.subject))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_or_broken_envelope_is_permanent() {
        let empty = Message::new(
            "reemploi.inventory.lot.updated",
            Envelope::default().encode_to_vec(),
        );
        assert!(matches!(decode(&empty), Err(HandlerError::Permanent(_))));
        let broken = Message::new("reemploi.inventory.lot.updated", &b"\xff\xff\xff"[..]);
        assert!(matches!(decode(&broken), Err(HandlerError::Permanent(_))));
    }
}
