//! Conversions between wire types and the domain: timestamps, points, etags.

use prost_types::Timestamp;
use reemploi_domain::DomainError;
use reemploi_domain::geo::GeoPoint;
use reemploi_proto::types as tpb;

/// Milliseconds since the epoch of a protobuf timestamp.
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
