//! Names people can read, from the command line: sites and lots created
//! with readable ids (or a lot's reference), lists that show what a person
//! needs (a claim's lot and partner, a lot's distance) and say when
//! `--limit` cut them short.

use super::*;

fn names_of(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| str_of(v, "name").to_owned())
        .collect()
}

/// `sites create` at a point, with `extra` flags; its JSON.
fn site_at(admin: &Client, extra: &[&str], name: &str, lat: &str, lon: &str) -> Value {
    let mut args = vec![
        "sites",
        "create",
        "--name",
        name,
        "--lat",
        lat,
        "--lon",
        lon,
        "--owner-org",
        "m2a-habitat",
    ];
    args.extend(extra);
    admin.json(&args)
}

/// `lots create` of 10 radiators on `site`, with `extra` flags; its name.
fn radiators(admin: &Client, site: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "lots",
        "create",
        "--site",
        site,
        "--designation",
        "Radiateurs fonte",
        "--category",
        "radiateur",
        "--quantity",
        "10",
        "--unit",
        "u",
        "--mass-kg",
        "600",
    ];
    args.extend(extra);
    str_of(&admin.json(&args), "name").to_owned()
}

#[test]
fn sites_and_lots_are_created_and_named_with_readable_ids() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let up = up_demo(&data);
    let admin = Client::new(up.addr, &token_for(&data, &["--role", "admin"]), dir.path());
    sites_are_named_by_their_id(&admin);
    lots_are_named_by_their_id_or_reference(&admin);
    stop(up);
}

fn sites_are_named_by_their_id(admin: &Client) {
    let site = site_at(
        admin,
        &["--id", "coteaux-b"],
        "Coteaux – tour B",
        "47.7455",
        "7.3022",
    );
    assert_eq!(str_of(&site, "name"), "sites/coteaux-b");
    let taken = admin.fails(
        1,
        &[
            "sites",
            "create",
            "--id",
            "coteaux-b",
            "--name",
            "Encore",
            "--lat",
            "47",
            "--lon",
            "7",
            "--owner-org",
            "m2a-habitat",
        ],
    );
    assert!(taken.contains("sites/coteaux-b already exists"), "{taken}");
    let bad = admin.fails(
        6,
        &[
            "sites",
            "create",
            "--id",
            "Coteaux B",
            "--name",
            "Mal",
            "--lat",
            "47",
            "--lon",
            "7",
            "--owner-org",
            "m2a-habitat",
        ],
    );
    assert!(bad.contains("site_id"), "{bad}");
}

/// Bare ids name the site; the reference names the lot unless --id does.
fn lots_are_named_by_their_id_or_reference(admin: &Client) {
    let m1 = radiators(admin, "coteaux-b", &["--reference", "M1"]);
    assert_eq!(m1, "sites/coteaux-b/lots/m1");
    let chosen = radiators(
        admin,
        "coteaux-b",
        &["--reference", "M1", "--id", "radiateurs-r2"],
    );
    assert_eq!(chosen, "sites/coteaux-b/lots/radiateurs-r2");
    let again = radiators(admin, "coteaux-b", &["--reference", "M1"]);
    assert!(
        uuid::Uuid::try_parse(again.rsplit('/').next().unwrap()).is_ok(),
        "a taken reference leaves a UUID: {again}"
    );
    let taken = admin.fails(
        1,
        &[
            "lots",
            "create",
            "--site",
            "coteaux-b",
            "--id",
            "m1",
            "--designation",
            "Doublon",
            "--category",
            "radiateur",
            "--quantity",
            "1",
            "--unit",
            "u",
        ],
    );
    assert!(
        taken.contains("sites/coteaux-b/lots/m1 already exists"),
        "{taken}"
    );
    let shown = admin.ok(&["lots", "show", "sites/coteaux-b/lots/m1"]);
    assert!(shown.contains("Radiateurs fonte"), "{shown}");
    admin.ok(&["lots", "publish", "sites/coteaux-b/lots/m1"]);
    let listed = admin.json(&["lots", "list", "--site", "coteaux-b", "--limit", "0"]);
    let mut listed = names_of(&listed);
    listed.sort();
    let mut expected = vec![m1, chosen, again];
    expected.sort();
    assert_eq!(listed, expected);
}

#[test]
fn claims_list_shows_each_lot_and_partner_and_filters_by_site_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let up = up_demo(&data);
    let admin = Client::new(up.addr, &token_for(&data, &["--role", "admin"]), dir.path());
    site_at(
        &admin,
        &["--id", "coteaux-b"],
        "Coteaux – tour B",
        "47.7455",
        "7.3022",
    );
    let lot = radiators(&admin, "coteaux-b", &["--reference", "R7"]);
    admin.ok(&["lots", "publish", &lot]);
    let partners = admin.json(&["partners", "list", "--status", "verified"]);
    let partner = &partners[0];
    let partner_name = str_of(partner, "name").to_owned();
    let display = match str_of(partner, "tradeName") {
        "" => str_of(partner, "legalName").to_owned(),
        trade => trade.to_owned(),
    };
    let taker = admin.as_token(&token_for(
        &data,
        &["--role", "partner", "--partner", &partner_name],
    ));
    let claim = taker.json_eventually(&["claim", &lot, "--quantity", "3"]);
    let claim = str_of(&claim, "name").to_owned();
    assert!(
        claim.starts_with("sites/coteaux-b/lots/r7/claims/"),
        "{claim}"
    );

    let table = admin.ok(&["claims", "list", "--site", "coteaux-b"]);
    let row = table
        .lines()
        .find(|l| l.contains(&claim))
        .unwrap_or_else(|| panic!("{claim} not listed:\n{table}"));
    for shown in [
        "R7",
        "Radiateurs fonte",
        display.as_str(),
        "3 u",
        "reserved",
    ] {
        assert!(row.contains(shown), "{shown:?} missing from {row:?}");
    }
    assert_eq!(table.lines().count(), 2, "only coteaux-b's claim:\n{table}");
    let json = admin.json(&["claims", "list", "--site", "coteaux-b"]);
    assert_eq!(json[0]["lotReference"], "R7");
    assert_eq!(json[0]["lotDesignation"], "Radiateurs fonte");
    assert_eq!(json[0]["partnerDisplayName"], display.as_str());
    // The demo's claims are on its own site, not on this one.
    let everywhere = admin.json(&["claims", "list", "--limit", "0"]);
    assert!(everywhere.as_array().unwrap().len() > 1);

    let confirmed = [
        "claims",
        "list",
        "--site",
        "coteaux-b",
        "--status",
        "confirmed",
    ];
    assert_eq!(admin.ok(&confirmed), "no claim\n");
    admin.ok(&["claims", "confirm", &claim]);
    let confirmed = admin.json(&confirmed);
    assert_eq!(names_of(&confirmed), [claim]);
    stop(up);
}

#[test]
fn lots_are_found_near_a_point_with_their_distance_and_cut_lists_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let up = up_demo(&data);
    let admin = Client::new(up.addr, &token_for(&data, &["--role", "admin"]), dir.path());
    // About 1.5 km and 85 km from the point asked about.
    site_at(&admin, &["--id", "near-by"], "Près", "47.7600", "7.3022");
    site_at(&admin, &["--id", "far-away"], "Loin", "48.5734", "7.7521");
    let near = radiators(&admin, "near-by", &["--reference", "N1"]);
    let far = radiators(&admin, "far-away", &["--reference", "F1"]);
    let point = ["--near", "47.7465,7.3022"];

    let mut args = vec!["lots", "list", "--radius", "5", "--limit", "0"];
    args.extend(point);
    let found = admin.json(&args);
    let names = names_of(&found);
    assert!(names.contains(&near) && !names.contains(&far), "{names:?}");
    let distances: Vec<f64> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["distanceM"].as_f64().unwrap())
        .collect();
    assert!(distances.is_sorted(), "nearest first: {distances:?}");
    let at = names.iter().position(|n| *n == near).unwrap();
    assert!((1_400.0..1_600.0).contains(&distances[at]), "{distances:?}");
    // Cut at --limit, the nearest are kept, whatever order the server lists.
    let mut one = vec![
        "lots", "list", "--radius", "5", "--limit", "1", "-o", "json",
    ];
    one.extend(point);
    let out = admin.run(&one);
    assert!(out.status.success());
    let kept: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(names_of(&kept), [names[0].clone()]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("the nearest 1 shown"), "{said}");
    let table = admin.ok(&args);
    let row = table.lines().find(|l| l.contains(&near)).unwrap();
    assert!(table.starts_with("NAME") && table.lines().next().unwrap().contains("DISTANCE"));
    assert!(row.trim_end().ends_with("1,5 km"), "{row}");
    // Without a radius: 10 km; far away is farther.
    let mut args = vec!["lots", "list", "--limit", "0"];
    args.extend(point);
    assert!(!names_of(&admin.json(&args)).contains(&far));
    let bad = admin.fails(2, &["lots", "list", "--near", "47.7", "--limit", "0"]);
    assert!(bad.contains("LAT,LON"), "{bad}");

    // A list cut at --limit says so, on stderr; a whole one says nothing.
    let out = admin.run(&["lots", "list", "--limit", "2"]);
    assert!(out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("first 2 shown; more with --limit 4"),
        "{said}"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);
    let out = admin.run(&["lots", "list", "--site", "far-away", "--limit", "1"]);
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("shown"));
    stop(up);
}
