//! What every event consumer does first: decode the envelope, and give up
//! at once (a dead letter) on one that can never be applied, the same way
//! in every service.

use prost::Message as _;
use reemploi_events::{HandlerError, Message};
use reemploi_proto::events::Envelope;
use reemploi_proto::events::envelope::Payload;

/// The envelope of `msg` and its payload, or a permanent failure when the
/// bytes are not an envelope or the envelope carries nothing.
pub fn envelope(msg: &Message) -> Result<(Envelope, Payload), HandlerError> {
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
        assert!(matches!(envelope(&empty), Err(HandlerError::Permanent(_))));
        let broken = Message::new("reemploi.inventory.lot.updated", &b"\xff\xff\xff"[..]);
        assert!(matches!(envelope(&broken), Err(HandlerError::Permanent(_))));
    }
}
