//! Conversions between wire types and the domain: timestamps, points, etags;
//! and a message sent as bytes already encoded.

use prost_types::Timestamp;
use reemploi_domain::DomainError;
use reemploi_domain::geo::GeoPoint;
use reemploi_proto::types as tpb;

/// 0001-01-01T00:00:00Z, the earliest time a client may send (RFC 3339,
/// and so JSON clients, cannot write an earlier one).
const MIN_SECONDS: i64 = -62_135_596_800;
/// 9999-12-31T23:59:59Z, the latest.
const MAX_SECONDS: i64 = 253_402_300_799;

/// Milliseconds since the epoch of a timestamp a client sent, refused
/// (with what is wrong, for a field violation) outside years 0001 to 9999
/// or with nanos outside 0..=999,999,999: such a value, once stored, could
/// no longer be written as JSON to any client.
pub fn checked_millis(ts: &Timestamp) -> Result<i64, String> {
    if !(0..=999_999_999).contains(&ts.nanos) {
        return Err(format!(
            "nanos must be from 0 to 999999999, got {}",
            ts.nanos
        ));
    }
    if !(MIN_SECONDS..=MAX_SECONDS).contains(&ts.seconds) {
        return Err("must be between years 0001 and 9999".to_owned());
    }
    Ok(ts_millis(ts))
}

/// Milliseconds since the epoch of a protobuf timestamp (saturating; for
/// values already checked, or read from a trusted event).
pub fn ts_millis(ts: &Timestamp) -> i64 {
    ts.seconds
        .saturating_mul(1000)
        .saturating_add(i64::from(ts.nanos / 1_000_000))
}

/// A protobuf timestamp of milliseconds since the epoch.
pub fn millis_ts(ms: i64) -> Timestamp {
    Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: i32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    }
}

/// Seconds since the Unix epoch, now (0 before 1970).
pub fn now_secs() -> i64 {
    reemploi_store::now_millis().div_euclid(1000)
}

/// A validated point; `field` names it when it is missing.
pub fn point_from_proto(
    field: &'static str,
    p: Option<&tpb::GeoPoint>,
) -> Result<GeoPoint, DomainError> {
    let p = p.ok_or_else(|| DomainError::invalid(field, "required"))?;
    GeoPoint::new(p.latitude, p.longitude)
}

/// The wire form of a point.
pub fn point_proto(p: GeoPoint) -> tpb::GeoPoint {
    tpb::GeoPoint {
        latitude: p.latitude(),
        longitude: p.longitude(),
    }
}

/// The etag of a resource at `version`.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// Whether a client's etag allows a change: empty (no check) or current.
pub fn etag_allows(sent: &str, version: i64) -> bool {
    sent.is_empty() || sent == etag(version)
}

/// The stored form (`verified`, `pending`, `suspended`, `archived`, or
/// `unknown`) of a registry partner status as an event carries it: what
/// the services that follow partners keep of each.
pub fn partner_status_str(status: i32) -> &'static str {
    use reemploi_proto::registry::PartnerStatus;
    match PartnerStatus::try_from(status) {
        Ok(PartnerStatus::Verified) => "verified",
        Ok(PartnerStatus::Pending) => "pending",
        Ok(PartnerStatus::Suspended) => "suspended",
        Ok(PartnerStatus::Archived) => "archived",
        Ok(PartnerStatus::Unspecified) | Err(_) => "unknown",
    }
}

/// A message already encoded, written to the wire as it is: a request or
/// reply whose bytes were made once (a batch of spans, a benchmark's
/// reply), where prost's generated type would be built only to be encoded.
/// Decoding one keeps nothing: it is for sending.
#[derive(Clone, Debug, Default)]
pub struct Encoded(pub bytes::Bytes);

impl prost::Message for Encoded {
    fn encode_raw(&self, buf: &mut impl bytes::BufMut) {
        buf.put_slice(&self.0);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: prost::encoding::WireType,
        buf: &mut impl bytes::Buf,
        ctx: prost::encoding::DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        prost::encoding::skip_field(wire_type, tag, buf, ctx)
    }

    fn encoded_len(&self) -> usize {
        self.0.len()
    }

    fn clear(&mut self) {
        self.0 = bytes::Bytes::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_outside_rfc3339_are_refused() {
        let ts = |seconds, nanos| Timestamp { seconds, nanos };
        assert_eq!(
            checked_millis(&ts(1_700_000_000, 5_000_000)),
            Ok(1_700_000_000_005)
        );
        assert_eq!(checked_millis(&ts(MIN_SECONDS, 0)), Ok(MIN_SECONDS * 1000));
        assert!(checked_millis(&ts(MAX_SECONDS, 999_999_999)).is_ok());
        assert!(checked_millis(&ts(0, -5)).is_err());
        assert!(checked_millis(&ts(0, 2_000_000_000)).is_err());
        assert!(checked_millis(&ts(292_000_000_000 * 31_556_952, 0)).is_err());
        assert!(checked_millis(&ts(MIN_SECONDS - 1, 0)).is_err());
        assert!(checked_millis(&ts(MAX_SECONDS + 1, 0)).is_err());
    }
}
