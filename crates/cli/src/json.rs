//! `--output json`: API messages in the standard proto3 JSON mapping (as
//! grpcurl and other gRPC tools print them), made from the contract's own
//! descriptors rather than by hand: lowerCamelCase field names, enums by
//! name, 64-bit integers as strings, timestamps in RFC 3339, and every
//! field present, defaults included, so that scripts find what they look for.

use std::sync::LazyLock;

use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};
use serde_json::Value;

/// The contract's descriptors, decoded once.
static POOL: LazyLock<Option<DescriptorPool>> = LazyLock::new(|| {
    DescriptorPool::decode(reemploi_proto::FILE_DESCRIPTOR_SET)
        .inspect_err(|e| tracing::error!(error = %e, "the contract's descriptors do not decode"))
        .ok()
});

/// A message of the contract whose full protobuf name is known.
pub trait Named: prost::Message {
    /// E.g. `reemploi.inventory.v1.Lot`.
    const NAME: &'static str;
}

macro_rules! named {
    ($($ty:ty => $name:literal),* $(,)?) => {$(
        impl Named for $ty {
            const NAME: &'static str = $name;
        }
    )*};
}

named!(
    reemploi_proto::inventory::Site => "reemploi.inventory.v1.Site",
    reemploi_proto::inventory::Lot => "reemploi.inventory.v1.Lot",
    reemploi_proto::inventory::Claim => "reemploi.inventory.v1.Claim",
    reemploi_proto::inventory::Receipt => "reemploi.inventory.v1.Receipt",
    reemploi_proto::inventory::PickupSlot => "reemploi.inventory.v1.PickupSlot",
    reemploi_proto::inventory::PickupBooking => "reemploi.inventory.v1.PickupBooking",
    reemploi_proto::inventory::BatchPublishLotsResponse => "reemploi.inventory.v1.BatchPublishLotsResponse",
    reemploi_proto::registry::Partner => "reemploi.registry.v1.Partner",
    reemploi_proto::matching::Match => "reemploi.matching.v1.Match",
    reemploi_proto::matching::PlanAllocationResponse => "reemploi.matching.v1.PlanAllocationResponse",
    reemploi_proto::matching::MatchProposal => "reemploi.matching.v1.MatchProposal",
    reemploi_proto::matching::Need => "reemploi.matching.v1.Need",
    reemploi_proto::identity::Account => "reemploi.identity.v1.Account",
    reemploi_proto::identity::Invitation => "reemploi.identity.v1.Invitation",
    reemploi_proto::identity::ApiToken => "reemploi.identity.v1.ApiToken",
    reemploi_proto::impact::Outcome => "reemploi.impact.v1.Outcome",
    reemploi_proto::impact::HoursDeclaration => "reemploi.impact.v1.HoursDeclaration",
    reemploi_proto::impact::ListDeclarationsResponse => "reemploi.impact.v1.ListDeclarationsResponse",
    reemploi_proto::impact::ImpactSummary => "reemploi.impact.v1.ImpactSummary",
    reemploi_proto::impact::Recolement => "reemploi.impact.v1.Recolement",
    reemploi_proto::audit::AuditEntry => "reemploi.audit.v1.AuditEntry",
    reemploi_proto::notify::Notification => "reemploi.notify.v1.Notification",
    reemploi_proto::notify::Preferences => "reemploi.notify.v1.Preferences",
    reemploi_proto::notify::Webhook => "reemploi.notify.v1.Webhook",
    reemploi_proto::notify::Delivery => "reemploi.notify.v1.Delivery",
);

/// `message` as JSON. A message the contract does not describe (which the
/// tests of this module rule out) is `null`, with an error logged.
pub fn message<M: Named>(message: &M) -> Value {
    let options = SerializeOptions::new().skip_default_fields(false);
    let converted = POOL
        .as_ref()
        .and_then(|pool| pool.get_message_by_name(M::NAME))
        .ok_or_else(|| format!("{} is not in the contract", M::NAME))
        .and_then(|desc| {
            DynamicMessage::decode(desc, message.encode_to_vec().as_slice())
                .map_err(|e| e.to_string())
        })
        .and_then(|dynamic| {
            dynamic
                .serialize_with_options(serde_json::value::Serializer, &options)
                .map_err(|e| e.to_string())
        });
    converted.unwrap_or_else(|e| {
        tracing::error!(message = M::NAME, error = %e, "cannot show a message as JSON");
        Value::Null
    })
}

#[cfg(test)]
mod tests {
    use reemploi_proto::inventory as pb;
    use reemploi_proto::types as tpb;

    use super::*;

    #[test]
    fn messages_follow_the_proto3_json_mapping() {
        let lot = pb::Lot {
            name: "sites/a/lots/b".into(),
            quantity: Some(tpb::Quantity {
                unit: tpb::Unit::Piece as i32,
                milli: 240_000,
            }),
            estimated_mass_g: 6_000_000,
            status: pb::LotStatus::Published as i32,
            create_time: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
            ..Default::default()
        };
        let v = message(&lot);
        assert_eq!(v["name"], "sites/a/lots/b");
        assert_eq!(v["estimatedMassG"], "6000000");
        assert_eq!(v["quantity"]["unit"], "UNIT_PIECE");
        assert_eq!(v["quantity"]["milli"], "240000");
        assert_eq!(v["status"], "LOT_STATUS_PUBLISHED");
        assert_eq!(v["createTime"], "2023-11-14T22:13:20Z");
        // Defaults are shown too.
        assert_eq!(v["hazardous"], false);
        assert_eq!(v["designation"], "");
    }

    #[test]
    fn every_named_message_is_in_the_contract() {
        use reemploi_proto::{matching as mpb, registry as rpb};
        assert!(message(&pb::Site::default()).is_object());
        assert!(message(&pb::Lot::default()).is_object());
        assert!(message(&pb::Claim::default()).is_object());
        assert!(message(&rpb::Partner::default()).is_object());
        assert!(message(&mpb::Match::default()).is_object());
        assert!(message(&mpb::PlanAllocationResponse::default()).is_object());
        assert!(message(&mpb::MatchProposal::default()).is_object());
        assert!(message(&mpb::Need::default()).is_object());
        use reemploi_proto::identity as ipb;
        assert!(message(&ipb::Account::default()).is_object());
        assert!(message(&ipb::Invitation::default()).is_object());
        assert!(message(&ipb::ApiToken::default()).is_object());
        use reemploi_proto::impact as impb;
        assert!(message(&impb::Outcome::default()).is_object());
        assert!(message(&impb::HoursDeclaration::default()).is_object());
        assert!(message(&impb::ListDeclarationsResponse::default()).is_object());
        assert!(message(&impb::ImpactSummary::default()).is_object());
        assert!(message(&impb::Recolement::default()).is_object());
        use reemploi_proto::notify as npb;
        assert!(message(&npb::Notification::default()).is_object());
        assert!(message(&npb::Preferences::default()).is_object());
    }
}
