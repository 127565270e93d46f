//! What inventory publishes (lot, claim and site events through the outbox)
//! and what it follows (the registry's partner events, kept as a projection
//! by `reemploi_runtime::partners`).

use reemploi_events::Message;
use reemploi_proto::events::envelope::Payload;

use crate::model::{ClaimRow, LotRow, SiteRow};

/// The producing service's name, on subjects and envelopes.
pub const PRODUCER: &str = "inventory";

/// Subject prefix of every lot event.
pub const LOT_SUBJECT_PREFIX: &str = "reemploi.inventory.lot.";

fn envelope(
    subject: String,
    aggregate: String,
    version: i64,
    now: i64,
    payload: Payload,
) -> Message {
    reemploi_runtime::envelope::message(PRODUCER, subject, aggregate, version, now, payload)
}

/// `reemploi.inventory.site.<event>` carrying the site.
pub fn site_event(site: &SiteRow, event: &str) -> Message {
    envelope(
        format!("reemploi.inventory.site.{event}"),
        site.name().to_string(),
        site.version,
        site.updated_at,
        Payload::Site(site.to_proto()),
    )
}

/// `reemploi.inventory.lot.<event>` carrying the lot.
pub fn lot_event(lot: &LotRow, event: &str) -> Message {
    envelope(
        format!("{LOT_SUBJECT_PREFIX}{event}"),
        lot.name().to_string(),
        lot.version,
        lot.updated_at,
        Payload::Lot(lot.to_proto()),
    )
}

/// `reemploi.inventory.lot.deleted`: the draft as it was, with its
/// `delete_time`, so that every reader drops it.
pub fn deleted_lot_event(lot: &LotRow) -> Message {
    let mut gone = lot.to_proto();
    gone.delete_time = Some(reemploi_runtime::wire::millis_ts(lot.updated_at));
    envelope(
        format!("{LOT_SUBJECT_PREFIX}deleted"),
        lot.name().to_string(),
        lot.version,
        lot.updated_at,
        Payload::Lot(gone),
    )
}

/// `reemploi.inventory.claim.<event>` carrying the claim.
pub fn claim_event(claim: &ClaimRow, event: &str) -> Message {
    envelope(
        format!("reemploi.inventory.claim.{event}"),
        claim.name().to_string(),
        claim.version,
        claim.updated_at,
        Payload::Claim(claim.to_proto()),
    )
}

/// `reemploi.inventory.pickup.booked` carrying the booking (made once, so
/// always at version 1).
pub fn pickup_booked_event(booking: &reemploi_proto::inventory::PickupBooking, at: i64) -> Message {
    envelope(
        "reemploi.inventory.pickup.booked".to_owned(),
        booking.name.clone(),
        1,
        at,
        Payload::PickupBooking(booking.clone()),
    )
}
