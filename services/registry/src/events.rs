//! What the registry publishes: every change of a partner, with its whole
//! state, on `reemploi.registry.partner.<event>`. It follows no one.

use reemploi_events::Message;
use reemploi_proto::events::envelope::Payload;

use crate::model::PartnerRow;

/// The producing service's name, on subjects and envelopes.
pub const PRODUCER: &str = "registry";

/// `reemploi.registry.partner.<event>` carrying the partner.
pub fn partner_event(row: &PartnerRow, event: &str) -> Message {
    reemploi_runtime::envelope::message(
        PRODUCER,
        format!("reemploi.registry.partner.{event}"),
        row.name(),
        row.version,
        row.updated_at,
        Payload::Partner(row.to_proto()),
    )
}
