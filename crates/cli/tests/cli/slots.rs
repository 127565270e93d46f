//! `reemploi slots` as the real binary runs it against a real `reemploi
//! up`: a site manager publishes a one-truck slot, the partner books it for
//! its confirmed claim, the next booking finds it full, and the day's
//! pick-ups list the booked claim.

use super::commands::{draft, verified_partner};
use super::imports::{Server, site};
use super::str_of;

/// RFC 3339 and the date of `hour` o'clock (UTC) tomorrow.
fn tomorrow_at(hour: i64) -> (String, String) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let at = prost_types::Timestamp {
        seconds: (now / 86_400 + 1) * 86_400 + hour * 3600,
        nanos: 0,
    }
    .to_string();
    let day = at[..10].to_owned();
    (at, day)
}

#[test]
fn a_partner_books_a_slot_and_the_site_sees_its_pickups() {
    let server = Server::start();
    let admin = &server.admin;
    let coteaux = site(admin, "Coteaux – tour H");
    let lot = draft(admin, &coteaux, "Portes bois", &[]);
    let lot = str_of(&lot, "name").to_owned();
    admin.ok(&["lots", "publish", &lot]);
    let (_, as_partner) = verified_partner(&server, "Atelier de la Doller", "9001234560005");
    let first = as_partner.json_eventually(&["claim", &lot, "--quantity", "1"]);
    let first = str_of(&first, "name").to_owned();
    let second = as_partner.json(&["claim", &lot, "--quantity", "1"]);
    let second = str_of(&second, "name").to_owned();
    admin.ok(&["claims", "confirm", &first]);
    admin.ok(&["claims", "confirm", &second]);

    let (start, day) = tomorrow_at(8);
    let (end, _) = tomorrow_at(10);
    let slot = admin.json(&[
        "slots",
        "create",
        &coteaux,
        "--start",
        &start,
        "--end",
        &end,
        "--trucks",
        "1",
        "--contact",
        "Mme Keller",
        "--phone",
        "+33 3 89 00 00 00",
        "--access",
        "Portail nord",
    ]);
    let slot = str_of(&slot, "name").to_owned();
    let listed = as_partner.json(&["slots", "list", &coteaux]);
    assert_eq!(listed[0]["name"], slot.as_str(), "{listed}");

    let booked = as_partner.json(&["slots", "book", &slot, &first]);
    assert_eq!(booked["claim"], first.as_str(), "{booked}");
    let err = as_partner.fails(1, &["slots", "book", &slot, &second]);
    assert!(err.contains("all are booked"), "{err}");
    let err = admin.fails(1, &["slots", "delete", &slot]);
    assert!(err.contains("cannot be deleted"), "{err}");

    let day_view = admin.json(&["slots", "pickups", &coteaux, "--from", &day]);
    let claims: Vec<&str> = day_view
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["claim"].as_str().unwrap())
        .collect();
    assert_eq!(claims, vec![first.as_str()]);
    let table = admin.ok(&["slots", "pickups", &coteaux, "--from", &day]);
    assert!(table.contains(&first), "{table}");
}
