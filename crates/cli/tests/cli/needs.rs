//! `reemploi needs` as the real binary runs it against a real `reemploi
//! up`: a partner posts a need, lists, edits and closes it; a door lot
//! published near it then ranks the structure first with the need in the
//! breakdown; the site manager lists the needs around its site and may not
//! post one; bad input is refused on its field.

use serde_json::Value;

use super::commands::draft;
use super::imports::{Server, site};
use super::proposals::taker;
use super::{Client, str_of, token_for};

/// RFC 3339, `days` from now.
fn in_days(days: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    prost_types::Timestamp {
        seconds: now.as_secs() as i64 + days * 86_400,
        nanos: 0,
    }
    .to_string()
}

/// What a list command prints, once it holds `n` items.
fn listed(client: &Client, args: &[&str], n: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let found = client.json(args).as_array().cloned().unwrap_or_default();
        if found.len() >= n || std::time::Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn a_structure_posts_a_need_and_is_proposed_the_lot_that_meets_it_first() {
    let server = Server::start();
    let admin = &server.admin;
    let coteaux = site(admin, "Coteaux – tour G");
    let (partner, as_partner) = taker(&server, "Atelier de la Doller");
    let until = in_days(60);
    let create = [
        "needs",
        "create",
        "--category",
        "porte-interieure",
        "--min",
        "10",
        "--unit",
        "u",
        "--radius-km",
        "15",
        "--until",
        &until,
        "--note",
        "Portes pour l'atelier",
    ];
    // Once matching has heard of the structure (its place is the centre).
    let need = as_partner.json_eventually(&create);
    let name = str_of(&need, "name").to_owned();
    assert!(name.starts_with(&format!("{partner}/needs/")), "{need}");
    assert_eq!(need["state"], "NEED_STATE_OPEN");
    assert_eq!(need["minQuantity"]["milli"], "10000");
    let mine = as_partner.json(&["needs", "list"]);
    assert_eq!(mine.as_array().unwrap().len(), 1, "{mine}");
    let csv = as_partner.ok(&["needs", "list", "-o", "csv"]);
    assert!(csv.starts_with("WHAT,FROM,TO,AREA,UNTIL,STATE"), "{csv}");

    // The site manager sees it around its site, and posts none.
    let data = server.dir.path().join("data");
    let manager = admin.as_token(&token_for(
        &data,
        &["--role", "site_manager", "--org", "m2a-habitat"],
    ));
    let around = listed(
        &manager,
        &[
            "needs",
            "list",
            "--all",
            "--site",
            &coteaux,
            "--category",
            "porte-interieure",
        ],
        1,
    );
    assert_eq!(around.len(), 1, "{around:?}");
    assert_eq!(around[0]["name"], name.as_str());
    let mut as_manager = create.to_vec();
    as_manager.extend(["--partner", &partner]);
    manager.fails(4, &as_manager);

    // A lot that meets it: the structure first, with the need.
    let lot = draft(admin, &coteaux, "Portes isoplanes", &[]);
    let lot = str_of(&lot, "name").to_owned();
    admin.ok(&["lots", "publish", &lot]);
    // Matching may know the draft before the published lot.
    let matches = admin.json_until(&["matches", &lot], |m| {
        m.as_array().is_some_and(|all| !all.is_empty())
    });
    let first = &matches.as_array().unwrap()[0];
    assert_eq!(first["partner"], partner.as_str(), "{matches}");
    assert_eq!(first["breakdown"]["need"], 1.0, "{matches}");

    // Edited, then closed.
    let edited = as_partner.json(&["needs", "update", &name, "--radius-km", "25"]);
    assert_eq!(edited["radiusKm"], 25);
    assert_eq!(edited["note"], "Portes pour l'atelier", "the rest kept");
    as_partner.fails(2, &["needs", "update", &name]);
    let closed = as_partner.json(&["needs", "close", &name]);
    assert_eq!(closed["state"], "NEED_STATE_CLOSED");
    assert!(
        as_partner
            .json(&["needs", "list"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    let gone = as_partner.json(&["needs", "list", "--state", "closed"]);
    assert_eq!(gone.as_array().unwrap().len(), 1);

    // Bad input, on its field.
    let err = as_partner.fails(
        6,
        &[
            "needs",
            "create",
            "--category",
            "licorne",
            "--radius-km",
            "15",
            "--until",
            &until,
        ],
    );
    assert!(err.contains("need.category"), "{err}");
    let err = as_partner.fails(
        6,
        &[
            "needs",
            "create",
            "--category",
            "radiateur",
            "--until",
            &until,
        ],
    );
    assert!(err.contains("need.radius_km"), "{err}");
}
