//! `reemploi notifications` as the real binary runs it against a real
//! `reemploi up`: a partner's claim is in the site manager's notifications
//! (and not the partner's), is marked read, and the manager's email
//! preferences need an account's token.

use serde_json::Value;

use super::commands::draft;
use super::imports::{Server, site};
use super::proposals::taker;
use super::{str_of, token_for};

fn kinds(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|l| l.iter().map(|n| str_of(n, "kind").to_owned()).collect())
        .unwrap_or_default()
}

#[test]
fn a_claim_is_told_to_the_site_and_marked_read() {
    let server = Server::start();
    let admin = &server.admin;
    let coteaux = site(admin, "Coteaux – tour G");
    let lot = draft(admin, &coteaux, "Portes palières", &[]);
    let lot = str_of(&lot, "name").to_owned();
    admin.ok(&["lots", "publish", &lot]);
    let (_, as_partner) = taker(&server, "Atelier des Coteaux");
    as_partner.json_eventually(&["claim", &lot, "--quantity", "1"]);

    let data = server.dir.path().join("data");
    let manager = admin.as_token(&token_for(
        &data,
        &["--role", "site_manager", "--org", "m2a-habitat"],
    ));
    let told = manager.json_until(&["notifications", "list"], |v| {
        kinds(v).contains(&"NOTIFICATION_KIND_CLAIM_RESERVED".to_owned())
    });
    let reserved: Vec<&Value> = told
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "NOTIFICATION_KIND_CLAIM_RESERVED")
        .collect();
    assert_eq!(reserved.len(), 1, "{told}");
    assert!(
        str_of(reserved[0], "title").contains("Portes palières"),
        "{told}"
    );
    let table = manager.ok(&["notifications", "list", "--unread"]);
    assert!(table.contains("claim-reserved"), "{table}");
    // The partner hears of its verification and the proposal, not of its
    // own claim as the site does.
    let theirs = as_partner.json_until(&["notifications", "list"], |v| !kinds(v).is_empty());
    assert!(
        !kinds(&theirs).contains(&"NOTIFICATION_KIND_CLAIM_RESERVED".to_owned()),
        "{theirs}"
    );

    let name = str_of(reserved[0], "name").to_owned();
    let left = manager.json(&["notifications", "read", &name]);
    assert_eq!(left["unreadCount"], "0", "{left}");
    let unread = manager.json(&["notifications", "list", "--unread"]);
    assert_eq!(unread.as_array().map(Vec::len), Some(0), "{unread}");
    // Read again: nothing changes; a name of nothing: not found.
    manager.ok(&["notifications", "read", &name]);
    let missing = format!("notifications/{}", uuid_like());
    let err = manager.fails(3, &["notifications", "read", &missing]);
    assert!(err.contains("not found"), "{err}");
    // A development token is no account: it has no email preferences.
    let err = manager.fails(1, &["notifications", "preferences"]);
    assert!(err.contains("accounts"), "{err}");
}

/// An id no notification has.
fn uuid_like() -> String {
    "01890000-0000-7000-8000-000000000000".to_owned()
}
