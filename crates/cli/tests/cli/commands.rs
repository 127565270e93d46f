//! The commands a newcomer looked for, and the messages that misled them,
//! run as the real binary against a real `reemploi up`: updates that
//! change only what they name, drafts deleted, lots published in one call,
//! partners reinstated and archived, a pick-up window, quantities said in
//! the lot's unit, and the next step said when a state forbids a change.

use std::sync::Arc;

use reemploi_events::{Bus, InProcessBus};
use serde_json::Value;

use super::imports::{Server, site};
use super::{Client, siret, str_of, token_for};

/// A draft lot on `site`, made with the flags given after the required ones.
pub(super) fn draft(admin: &Client, site: &str, designation: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        "lots",
        "create",
        "--site",
        site,
        "--designation",
        designation,
        "--category",
        "porte-interieure",
        "--quantity",
        "24",
        "--unit",
        "u",
        "--mass-kg",
        "600",
    ];
    args.extend(extra);
    admin.json(&args)
}

/// A verified partner registered by the admin, and a client acting as it.
pub(super) fn verified_partner(
    server: &Server,
    legal_name: &str,
    siret13: &str,
) -> (String, Client) {
    let admin = &server.admin;
    let partner = admin.json(&[
        "partners",
        "register",
        "--legal-name",
        legal_name,
        "--siret",
        &siret(siret13),
        "--kind",
        "ACI",
        "--lat",
        "47.75",
        "--lon",
        "7.33",
        "--category",
        "porte-interieure",
    ]);
    let name = str_of(&partner, "name").to_owned();
    admin.ok(&["partners", "verify", &name]);
    let data = server.dir.path().join("data");
    let token = token_for(&data, &["--role", "partner", "--partner", &name]);
    (name, admin.as_token(&token))
}

#[test]
fn updates_change_only_the_fields_named_and_say_when_none_is() {
    let server = Server::start();
    let admin = &server.admin;
    let coteaux = site(admin, "Coteaux – tour A");
    let before = admin.json(&["sites", "show", &coteaux]);
    let updated = admin.json(&[
        "sites",
        "update",
        &coteaux,
        "--name",
        "Coteaux – tour B",
        "--quartier",
        "Coteaux",
        "--works-from",
        "2027-01-15",
        "--works-to",
        "2027-06-30",
    ]);
    assert_eq!(updated["displayName"], "Coteaux – tour B");
    assert_eq!(updated["operation"]["quartier"], "Coteaux");
    assert_eq!(updated["location"], before["location"], "not named, kept");
    assert_eq!(updated["worksStartTime"], "2027-01-15T00:00:00Z");
    assert_eq!(
        updated["worksEndTime"], "2027-07-01T00:00:00Z",
        "the day named is included"
    );
    let err = admin.fails(2, &["sites", "update", &coteaux]);
    assert!(err.contains("nothing to change"), "{err}");

    let lot = draft(
        admin,
        &coteaux,
        "Portes bois 83x204",
        &[
            "--description",
            "Portes isoplanes, poignées déposées",
            "--available-from",
            "2027-02-01",
            "--available-until",
            "2027-03-31",
            "--photo",
            "https://photos.example/porte-1.jpg",
            "--photo",
            "https://photos.example/porte-2.jpg",
            "--dimensions",
            "830x2040x40",
        ],
    );
    let name = str_of(&lot, "name").to_owned();
    assert_eq!(lot["description"], "Portes isoplanes, poignées déposées");
    assert_eq!(lot["availability"]["startTime"], "2027-02-01T00:00:00Z");
    assert_eq!(lot["availability"]["endTime"], "2027-04-01T00:00:00Z");
    assert_eq!(lot["photoUris"].as_array().unwrap().len(), 2);
    assert_eq!(lot["dimensions"]["widthMm"], 2040);

    let changed = admin.json(&[
        "lots",
        "update",
        &name,
        "--quantity",
        "30",
        "--mass-kg",
        "750",
        "--available-until",
        "2027-04-30",
    ]);
    assert_eq!(changed["quantity"]["milli"], "30000");
    assert_eq!(changed["estimatedMassG"], "750000");
    assert_eq!(
        changed["availability"]["startTime"], "2027-02-01T00:00:00Z",
        "kept"
    );
    assert_eq!(changed["availability"]["endTime"], "2027-05-01T00:00:00Z");
    assert_eq!(changed["description"], lot["description"], "kept");
    assert_eq!(changed["photoUris"], lot["photoUris"], "kept");
    let err = admin.fails(2, &["lots", "update", &name]);
    assert!(err.contains("nothing to change"), "{err}");
    let err = admin.fails(2, &["lots", "update", &name, "--dimensions", "83x204"]);
    assert!(err.contains("LENGTHxWIDTHxHEIGHT"), "{err}");
}

#[test]
fn drafts_are_deleted_and_published_in_one_call() {
    let server = Server::start();
    let admin = &server.admin;
    let coteaux = site(admin, "Coteaux – tour C");
    let doors = str_of(&draft(admin, &coteaux, "Portes", &[]), "name").to_owned();
    let blocs = str_of(&draft(admin, &coteaux, "Blocs-portes", &[]), "name").to_owned();
    let asbestos = draft(
        admin,
        &coteaux,
        "Portes amiantées",
        &["--hazard", "asbestos"],
    );
    let spare = str_of(&draft(admin, &coteaux, "Doublon", &[]), "name").to_owned();

    let deleted = admin.json(&["lots", "delete", &spare]);
    assert_eq!(deleted["deleted"], spare.as_str());
    admin.fails(3, &["lots", "show", &spare]);

    let done = admin.json(&["lots", "publish", "--site", &coteaux, "--all"]);
    let published: Vec<&str> = done["lots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| str_of(l, "name"))
        .collect();
    assert_eq!(published, vec![doors.as_str(), blocs.as_str()]);
    let held = done["held"].as_array().unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0]["name"], asbestos["name"]);
    assert!(str_of(&held[0], "reason").contains("hazardous"), "{held:?}");
    let shown = admin.ok(&["lots", "publish", "--site", &coteaux, "--all"]);
    assert!(shown.contains("published 0 lot(s)"), "{shown}");
    assert!(shown.contains("left as drafts: 1"), "{shown}");

    // Named lots: all or none; a published lot is withdrawn, not deleted.
    let third = str_of(&draft(admin, &coteaux, "Portes palières", &[]), "name").to_owned();
    let err = admin.fails(1, &["lots", "publish", &third, &doors]);
    assert!(err.contains(&doors), "{err}");
    let still = admin.json(&["lots", "show", &third]);
    assert_eq!(still["status"], "LOT_STATUS_DRAFT", "all or none");
    let err = admin.fails(1, &["lots", "delete", &doors]);
    assert!(err.contains("withdraw"), "{err}");
    admin.json(&["lots", "show", &doors]);
}

#[test]
fn partners_are_updated_reinstated_and_archived() {
    let server = Server::start();
    let admin = &server.admin;
    let (partner, _) = verified_partner(&server, "Atelier Portes Ouvertes", "9001234560001");
    let updated = admin.json(&[
        "partners",
        "update",
        &partner,
        "--email",
        "contact@portes-ouvertes.example",
        "--phone",
        "03 89 00 00 00",
        "--category",
        "radiateur",
        "--category",
        "porte-interieure",
        "--radius-km",
        "25",
    ]);
    assert_eq!(
        updated["contact"]["email"],
        "contact@portes-ouvertes.example"
    );
    assert_eq!(updated["contact"]["phone"], "03 89 00 00 00");
    assert_eq!(
        updated["acceptedCategories"],
        serde_json::json!(["porte-interieure", "radiateur"]),
        "the categories given replace the partner's (kept in the taxonomy's order)"
    );
    assert_eq!(updated["serviceRadiusKm"], 25);
    assert_eq!(updated["legalName"], "Atelier Portes Ouvertes", "kept");
    admin.ok(&["partners", "suspend", &partner, "--reason", "contrôle"]);
    let back = admin.json(&["partners", "reinstate", &partner]);
    assert_eq!(back["status"], "PARTNER_STATUS_VERIFIED");
    let gone = admin.json(&["partners", "archive", &partner]);
    assert_eq!(gone["status"], "PARTNER_STATUS_ARCHIVED");
}

#[test]
fn claims_speak_in_the_lots_unit_and_say_what_to_do_next() {
    let server = Server::start();
    let admin = &server.admin;
    let coteaux = site(admin, "Coteaux – tour D");
    let lot = draft(admin, &coteaux, "WC suspendus", &[]);
    let lot = str_of(&lot, "name").to_owned();
    admin.ok(&["lots", "update", &lot, "--quantity", "150"]);
    admin.ok(&["lots", "publish", &lot]);
    let (partner, as_partner) =
        verified_partner(&server, "Ressourcerie du Rebberg", "9001234560002");

    // The partner's verification reaches the inventory by an event.
    let claim = as_partner.json_eventually(&[
        "claim",
        &lot,
        "--quantity",
        "20",
        "--pickup-from",
        "2027-02-01",
        "--pickup-to",
        "2027-02-05",
    ]);
    assert_eq!(claim["pickupWindow"]["startTime"], "2027-02-01T00:00:00Z");
    assert_eq!(claim["pickupWindow"]["endTime"], "2027-02-06T00:00:00Z");
    let claim = str_of(&claim, "name").to_owned();

    let err = as_partner.fails(6, &["claim", &lot, "--quantity", "2.5"]);
    assert!(err.contains("whole"), "{err}");
    let err = as_partner.fails(6, &["claim", &lot, "--quantity", "500"]);
    assert!(err.contains("500 u requested, 130 u available"), "{err}");

    let err = admin.fails(1, &["claims", "handover", &claim, "--mass-kg", "300"]);
    assert!(err.contains("reemploi claims confirm"), "{err}");
    admin.ok(&["partners", "suspend", &partner, "--reason", "SIRET fermé"]);
    let refused = || admin.run(&["claims", "confirm", &claim]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    // The suspension reaches the inventory by an event too.
    let mut out = refused();
    while out.status.success() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
        out = refused();
    }
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("suspended"), "{err}");
    let shown = admin.json(&["claims", "show", &claim]);
    assert_eq!(
        shown["status"], "CLAIM_STATUS_RESERVED",
        "refused, unchanged"
    );

    // The audit trail says who reserved the claim and who suspended the
    // partner; it is for admins only.
    let trail = |resource: &str, entries: usize| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let trail = admin.json(&["audit", resource]);
            let seen = trail.as_array().map_or(0, Vec::len);
            if seen >= entries || std::time::Instant::now() > deadline {
                return trail;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    let of_claim = trail(&claim, 1);
    assert_eq!(
        of_claim[0]["eventType"],
        "reemploi.inventory.claim.reserved"
    );
    assert_eq!(of_claim[0]["actor"]["role"], "ACCOUNT_ROLE_PARTNER");
    assert_eq!(of_claim[0]["actor"]["partner"], partner.as_str());
    let of_partner = trail(&partner, 4);
    let kinds: Vec<&str> = of_partner
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["eventType"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "reemploi.registry.partner.registered",
            "reemploi.registry.partner.verified",
            "reemploi.inventory.claim.reserved",
            "reemploi.registry.partner.suspended",
        ]
    );
    assert_eq!(of_partner[3]["actor"]["role"], "ACCOUNT_ROLE_ADMIN");
    let table = admin.ok(&["audit", &partner]);
    assert!(table.contains("registry.partner.suspended"), "{table}");
    assert!(table.contains("(admin)"), "{table}");
    let err = as_partner.fails(4, &["audit", &partner]);
    assert!(err.contains("admins"), "{err}");
}

#[test]
fn lists_speak_csv_with_the_short_flag_and_other_commands_refuse_it() {
    let server = Server::start();
    let admin = &server.admin;
    let coteaux = site(admin, "Coteaux – tour E");
    draft(admin, &coteaux, "Portes \"anciennes\", lot 1", &[]);
    let csv = admin.ok(&["lots", "list", "--site", &coteaux, "-o", "csv"]);
    let mut rows = csv::Reader::from_reader(csv.as_bytes());
    let headers = rows.headers().unwrap().clone();
    let records: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 1, "{csv}");
    let designation = headers.iter().position(|h| h == "DESIGNATION").unwrap();
    assert_eq!(&records[0][designation], "Portes \"anciennes\", lot 1");
    let sites = admin.ok(&["sites", "list", "-o", "csv"]);
    assert!(sites.lines().count() >= 2, "{sites}");
    let err = admin.fails(2, &["sites", "show", &coteaux, "-o", "csv"]);
    assert!(err.contains("--output csv is for lists"), "{err}");
}

#[test]
fn an_address_without_the_service_called_is_named() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let registry = rt.block_on(async {
        let url = reemploi_store::Db::sqlite_url(dir.path(), "registry").unwrap();
        let db = reemploi_store::Db::connect(&url).await.unwrap();
        let bus: Arc<dyn Bus> = Arc::new(InProcessBus::temporary().await.unwrap());
        let ctx = reemploi_testing::grpc::context(db, bus);
        let service = reemploi_registry::start(ctx.clone(), &Default::default())
            .await
            .unwrap();
        reemploi_testing::grpc::spawn(&ctx, vec![service]).await
    });
    let admin = Client::new(
        registry.addr,
        &reemploi_testing::grpc::token(reemploi_runtime::auth::Role::Admin, None, None),
        dir.path(),
    );
    admin.ok(&["partners", "list"]);
    let err = admin.fails(1, &["lots", "list"]);
    assert!(
        err.contains("does not serve reemploi.inventory.v1.InventoryService (ListLots)"),
        "{err}"
    );
}

#[test]
fn the_map_puts_lots_at_their_own_place_filters_by_site_and_shows_what_left() {
    let server = Server::start();
    let admin = &server.admin;
    let coteaux = site(admin, "Coteaux – tour F");
    let elsewhere = site(admin, "Drouot – barre 3");
    let yard = draft(
        admin,
        &coteaux,
        "Portes en dépôt",
        &["--lat", "47.7512", "--lon", "7.3101"],
    );
    let yard = str_of(&yard, "name").to_owned();
    let taken = str_of(&draft(admin, &coteaux, "Portes palières", &[]), "name").to_owned();
    let other = str_of(&draft(admin, &elsewhere, "Radiateurs", &[]), "name").to_owned();
    for lot in [&yard, &taken, &other] {
        admin.ok(&["lots", "publish", lot]);
    }
    let (_, as_partner) = verified_partner(&server, "Atelier du Nouveau Bassin", "9001234560003");
    let claim = as_partner.json_eventually(&["claim", &taken, "--quantity", "24"]);
    let claim = str_of(&claim, "name").to_owned();
    admin.ok(&["claims", "confirm", &claim]);
    admin.ok(&["claims", "handover", &claim, "--mass-kg", "590"]);

    let out = server.path("coteaux.geojson");
    admin.ok(&[
        "export",
        "geojson",
        "--site",
        &coteaux,
        "--out",
        out.to_str().unwrap(),
    ]);
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let lots: Vec<&Value> = doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["properties"]["kind"] == "lot")
        .collect();
    let named = |name: &str| lots.iter().find(|f| f["id"] == name).copied();
    assert_eq!(lots.len(), 2, "only --site's lots: {lots:?}");
    assert!(named(&other).is_none());
    let at_yard = named(&yard).unwrap();
    assert_eq!(
        at_yard["geometry"]["coordinates"],
        serde_json::json!([7.3101, 47.7512]),
        "a lot with its own place is drawn there"
    );
    let gone = named(&taken).expect("a lot all handed over stays on the map");
    assert_eq!(gone["properties"]["status"], "exhausted");
    assert_eq!(gone["properties"]["handed_over"], 24.0);
    assert_eq!(gone["properties"]["handed_over_label"], "24 u");
    assert_ne!(gone["geometry"], at_yard["geometry"]);
    let err = admin.fails(2, &["export", "geojson", "--site", &coteaux, "--figures"]);
    assert!(err.contains("--figures"), "{err}");
}

#[test]
fn a_claim_is_collected_in_trips_each_with_its_receipt() {
    let server = Server::start();
    let admin = &server.admin;
    let coteaux = site(admin, "Coteaux – tour G");
    let lot = str_of(&draft(admin, &coteaux, "Portes à enlever", &[]), "name").to_owned();
    admin.ok(&["lots", "publish", &lot]);
    let (_, as_partner) = verified_partner(&server, "Atelier des Coteaux", "9001234560004");
    let claim = as_partner.json_eventually(&["claim", &lot, "--quantity", "20"]);
    let claim = str_of(&claim, "name").to_owned();
    admin.ok(&["claims", "confirm", &claim]);

    let handover = ["claims", "handover", claim.as_str(), "--mass-kg"];
    let first = admin.json(&[&handover[..], &["196", "--quantity", "8"]].concat());
    assert_eq!(first["status"], "CLAIM_STATUS_CONFIRMED");
    assert_eq!(first["collected"]["milli"], "8000");
    assert_eq!(first["tripCount"], 1);
    let err = admin.fails(6, &[&handover[..], &["10", "--quantity", "2.5"]].concat());
    assert!(err.contains("whole"), "{err}");
    let err = admin.fails(6, &[&handover[..], &["10", "--quantity", "13"]].concat());
    assert!(err.contains("13 u requested, 12 u available"), "{err}");
    let shown = admin.ok(&["claims", "show", &claim]);
    assert!(shown.contains("8 u"), "{shown}");

    let closed = admin.json(&["claims", "close", &claim, "--reason", "le reste est cassé"]);
    assert_eq!(closed["status"], "CLAIM_STATUS_HANDED_OVER");
    let lot_now = admin.json(&["lots", "show", &lot]);
    assert_eq!(
        lot_now["available"]["milli"], "16000",
        "the 12 left came back"
    );

    let receipts = as_partner.json(&["claims", "receipts", &claim]);
    let receipts = receipts.as_array().unwrap();
    assert_eq!(receipts.len(), 1);
    let number = str_of(&receipts[0], "number").to_owned();
    assert!(
        number.starts_with("BE-") && number.ends_with("-0001"),
        "{number}"
    );
    let table = admin.ok(&["claims", "receipts", "--site", &coteaux]);
    assert!(table.contains(&number), "{table}");
    let receipt = str_of(&receipts[0], "name").to_owned();
    let text = as_partner.ok(&["claims", "receipt", &receipt]);
    for shown in [number.as_str(), "196 kg", "Portes à enlever", "8 u of 20 u"] {
        assert!(text.contains(shown), "{shown:?} missing from {text}");
    }
}
