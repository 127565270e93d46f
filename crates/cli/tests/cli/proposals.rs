//! `reemploi proposals` as the real binary runs it against a real `reemploi
//! up`: a partner lists what matching proposed to it (new, then seen) and
//! declines it by id, the site manager sees who its lot was proposed to
//! and the reason, and may not decline for the partner.

use serde_json::Value;

use super::commands::draft;
use super::imports::{Server, site};
use super::{Client, siret, str_of, token_for};

/// A verified partner near the sites of [`site`] that takes the doors of
/// [`draft`] (its weekly intake is what lets matching propose it any), and
/// a client acting as it.
pub(super) fn taker(server: &Server, legal_name: &str) -> (String, Client) {
    let admin = &server.admin;
    let partner = admin.json(&[
        "partners",
        "register",
        "--legal-name",
        legal_name,
        "--siret",
        &siret("9001234560003"),
        "--kind",
        "ACI",
        "--lat",
        "47.75",
        "--lon",
        "7.33",
        "--category",
        "porte-interieure",
        "--weekly-intake-kg",
        "5000",
    ]);
    let name = str_of(&partner, "name").to_owned();
    admin.ok(&["partners", "verify", &name]);
    let data = server.dir.path().join("data");
    let token = token_for(&data, &["--role", "partner", "--partner", &name]);
    (name, admin.as_token(&token))
}

/// The proposals a command lists, once matching has made at least one.
fn listed(client: &Client, args: &[&str]) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let found = client.json(args);
        let found = found.as_array().cloned().unwrap_or_default();
        if !found.is_empty() || std::time::Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn a_partner_lists_and_declines_what_was_proposed_and_the_site_sees_it() {
    let server = Server::start();
    let admin = &server.admin;
    let coteaux = site(admin, "Coteaux – tour F");
    let lot = draft(admin, &coteaux, "Portes palières", &[]);
    let lot = str_of(&lot, "name").to_owned();
    admin.ok(&["lots", "publish", &lot]);
    let (partner, as_partner) = taker(&server, "Atelier du Rebberg");

    let mine = listed(&as_partner, &["proposals", "list"]);
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert_eq!(mine[0]["status"], "PROPOSAL_STATUS_NEW");
    assert_eq!(mine[0]["match"]["lot"], lot.as_str());
    assert_eq!(mine[0]["match"]["partner"], partner.as_str());
    let name = str_of(&mine[0], "name").to_owned();
    let table = as_partner.ok(&["proposals", "list"]);
    assert!(table.contains("Portes palières"), "{table}");
    assert!(table.contains("seen"), "listed once already: {table}");
    let csv = as_partner.ok(&["proposals", "list", "-o", "csv"]);
    assert!(
        csv.starts_with("CREATED,LOT,PARTNER,SCORE,DISTANCE,STATUS"),
        "{csv}"
    );

    let data = server.dir.path().join("data");
    let manager = admin.as_token(&token_for(
        &data,
        &["--role", "site_manager", "--org", "m2a-habitat"],
    ));
    let err = manager.fails(4, &["proposals", "decline", &name]);
    assert!(err.contains("partner"), "{err}");
    let err = as_partner.fails(6, &["proposals", "decline", "pas-un-id"]);
    assert!(err.contains("name"), "{err}");

    // By its id alone, as the table's last column ends.
    let id = name.trim_start_matches("proposals/");
    let declined = as_partner.json(&["proposals", "decline", id, "--reason", "Pas de place"]);
    assert_eq!(declined["status"], "PROPOSAL_STATUS_DECLINED");
    assert_eq!(declined["declineReason"], "Pas de place");

    let of_site = manager.json(&[
        "proposals",
        "list",
        "--site",
        &coteaux,
        "--status",
        "declined",
    ]);
    let of_site = of_site.as_array().unwrap();
    assert_eq!(of_site.len(), 1, "{of_site:?}");
    assert_eq!(of_site[0]["name"], name.as_str());
    let table = manager.ok(&["proposals", "list", "--lot", &lot]);
    assert!(table.contains("Atelier du Rebberg"), "{table}");
    assert!(table.contains("Pas de place"), "{table}");
}
