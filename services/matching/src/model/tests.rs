//! Property tests of what the matching consumers do with any event:
//! decode it, then convert its payload. Also checked, for longer, by the
//! `event_envelope` fuzz target (fuzz/, `scripts/fuzz`).
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use prost::Message as _;
use prost_types::Timestamp;
use reemploi_events::{HandlerError, Message};
use reemploi_proto::events::Envelope;
use reemploi_proto::events::envelope::Payload;
use reemploi_proto::types as tpb;
use reemploi_runtime::envelope;

use super::*;

fn message(bytes: Vec<u8>) -> Message {
    Message {
        subject: "reemploi.test.event".to_owned(),
        event_id: "test".to_owned(),
        payload: bytes.into(),
        traceparent: None,
    }
}

fn is_permanent(e: MatchingError) -> bool {
    matches!(HandlerError::from(e), HandlerError::Permanent(_))
}

/// A name: well formed for `pattern` or not.
fn name(pattern: &'static str) -> impl Strategy<Value = String> {
    let valid = prop::array::uniform3(any::<u128>()).prop_map(move |ids| {
        let mut ids = ids.into_iter().map(Uuid::from_u128);
        pattern
            .split('/')
            .map(|s| match s.starts_with('{') {
                true => ids.next().map(|u| u.to_string()).unwrap_or_default(),
                false => s.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("/")
    });
    prop_oneof![3 => valid, 1 => "\\PC{0,60}"]
}

fn quantity() -> impl Strategy<Value = Option<tpb::Quantity>> {
    proptest::option::of(
        (any::<i32>(), any::<i64>()).prop_map(|(unit, milli)| tpb::Quantity { unit, milli }),
    )
}

fn point() -> impl Strategy<Value = Option<tpb::GeoPoint>> {
    let coordinate = prop_oneof![any::<f64>(), -200.0..200.0f64];
    proptest::option::of(
        (coordinate.clone(), coordinate).prop_map(|(latitude, longitude)| tpb::GeoPoint {
            latitude,
            longitude,
        }),
    )
}

fn timestamp() -> impl Strategy<Value = Option<Timestamp>> {
    proptest::option::of(
        (any::<i64>(), any::<i32>()).prop_map(|(seconds, nanos)| Timestamp { seconds, nanos }),
    )
}

fn lot() -> impl Strategy<Value = ipb::Lot> {
    (
        name("sites/{site}/lots/{lot}"),
        prop_oneof![Just("porte-interieure".to_owned()), "\\PC{0,20}"],
        quantity(),
        quantity(),
        any::<i64>(),
        point(),
        proptest::option::of((timestamp(), timestamp())),
        any::<i32>(),
        any::<bool>(),
        any::<i64>(),
    )
        .prop_map(
            |(
                name,
                category,
                quantity,
                available,
                estimated_mass_g,
                location,
                window,
                status,
                hazardous,
                version,
            )| {
                ipb::Lot {
                    name,
                    category,
                    quantity,
                    available,
                    estimated_mass_g,
                    location,
                    availability: window.map(|(start_time, end_time)| tpb::TimeWindow {
                        start_time,
                        end_time,
                    }),
                    status,
                    hazardous,
                    version,
                    ..Default::default()
                }
            },
        )
}

fn partner() -> impl Strategy<Value = rpb::Partner> {
    (
        name("partners/{partner}"),
        prop::collection::vec(any::<i32>(), 0..4),
        prop::collection::vec(
            prop_oneof![Just("radiateur".to_owned()), "\\PC{0,12}"],
            0..4,
        ),
        point(),
        any::<i32>(),
        any::<i64>(),
        any::<i32>(),
        any::<i64>(),
    )
        .prop_map(
            |(
                name,
                kinds,
                accepted_categories,
                location,
                service_radius_km,
                weekly_intake_kg,
                status,
                version,
            )| {
                rpb::Partner {
                    name,
                    kinds,
                    accepted_categories,
                    location,
                    service_radius_km,
                    weekly_intake_kg,
                    status,
                    version,
                    ..Default::default()
                }
            },
        )
}

fn claim() -> impl Strategy<Value = ipb::Claim> {
    (
        name("sites/{site}/lots/{lot}/claims/{claim}"),
        name("partners/{partner}"),
        quantity(),
        any::<i32>(),
        any::<i64>(),
        quantity(),
    )
        .prop_map(
            |(name, partner, quantity, status, version, collected)| ipb::Claim {
                name,
                partner,
                quantity,
                status,
                version,
                collected,
                ..Default::default()
            },
        )
}

fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        lot().prop_map(Payload::Lot),
        partner().prop_map(Payload::Partner),
        claim().prop_map(Payload::Claim),
    ]
}

/// Converts as the consumer does; a refusal must be a dead letter.
fn convert(
    payload: &Payload,
    unit_mass_g: i64,
    committed_g: i64,
) -> std::result::Result<(), TestCaseError> {
    match payload {
        Payload::Lot(l) => match Lot::from_event(l) {
            Ok(lot) => {
                prop_assert_eq!(&l.name, &format!("sites/{}/lots/{}", lot.site_id, lot.id));
                let _ = lot.on_offer();
                let _ = lot.profile();
            }
            Err(e) => prop_assert!(is_permanent(e)),
        },
        Payload::Partner(p) => match Partner::from_event(p) {
            Ok(partner) => {
                prop_assert_eq!(&p.name, &format!("partners/{}", partner.id));
                let _ = partner.profile(committed_g);
            }
            Err(e) => prop_assert!(is_permanent(e)),
        },
        Payload::Claim(c) => match Claim::from_event(c, unit_mass_g) {
            Ok(claim) => prop_assert!(c.name.ends_with(&claim.id.to_string())),
            Err(e) => prop_assert!(is_permanent(e)),
        },
        Payload::Site(_)
        | Payload::MatchProposal(_)
        | Payload::Revocation(_)
        | Payload::Need(_)
        | Payload::Account(_)
        | Payload::PickupBooking(_) => {}
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_bytes_are_a_dead_letter_or_a_payload(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        match envelope::decode(&message(bytes)) {
            Ok((envelope, payload)) => {
                prop_assert!(envelope.payload.is_none());
                convert(&payload, 1000, 0)?;
            }
            Err(e) => prop_assert!(matches!(e, HandlerError::Permanent(_)), "{:?}", e),
        }
    }

    #[test]
    fn any_envelope_converts_or_is_a_dead_letter(
        payload in payload(),
        version in any::<i64>(),
        unit_mass_g in prop_oneof![any::<i64>(), 0..100_000i64],
        committed_g in any::<i64>(),
    ) {
        let envelope = Envelope {
            event_id: "test".to_owned(),
            aggregate_version: version,
            payload: Some(payload),
            ..Default::default()
        };
        let (decoded, payload) = envelope::decode(&message(envelope.encode_to_vec())).unwrap();
        prop_assert_eq!(decoded.aggregate_version, version);
        convert(&payload, unit_mass_g, committed_g)?;
    }
}

/// A partner holds what it has not collected of its open claims: 6
/// radiators of 60 kg claimed, 4 collected, hold 120 kg.
#[test]
fn an_open_claim_holds_what_is_left_to_collect() {
    let pieces = |n: i64| {
        Some(tpb::Quantity {
            unit: tpb::Unit::Piece as i32,
            milli: n * 1000,
        })
    };
    let claim = ipb::Claim {
        name: "sites/s/lots/m2/claims/0190a003-0000-7000-8000-000000000001".into(),
        partner: "partners/0190a002-0000-7000-8000-000000000001".into(),
        quantity: pieces(6),
        collected: pieces(4),
        status: ipb::ClaimStatus::Confirmed as i32,
        version: 4,
        ..Default::default()
    };
    let held = Claim::from_event(&claim, 60_000).expect("a claim");
    assert!(held.open);
    assert_eq!(held.mass_g, 120_000);
}
