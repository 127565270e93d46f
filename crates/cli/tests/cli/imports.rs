//! The imports as the real binary runs them against a real `reemploi up`:
//! a diagnostic imported again, the headers of the official PEMD form and
//! `--map`, dry runs that show every row, `--publish` and the lots that
//! await a check, the taxonomy, and an SIAE directory imported every month.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Client, Up, siret, stop, str_of, token_for, up_with};

/// A `reemploi up` of its own, and its admin.
pub(super) struct Server {
    pub(super) up: Up,
    pub(super) admin: Client,
    pub(super) dir: tempfile::TempDir,
}

impl Server {
    pub(super) fn start() -> Server {
        Server::start_with(&[])
    }

    /// A server whose `reemploi up` also gets `extra`.
    pub(super) fn start_with(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let (up, _) = up_with(&data, extra);
        let admin = Client::new(up.addr, &token_for(&data, &["--role", "admin"]), dir.path());
        Server { up, admin, dir }
    }

    /// A path in the test's directory.
    pub(super) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// The demo's diagnostic, copied to `dir`.
fn coteaux(dir: &Path) -> PathBuf {
    let csv = dir.join("diagnostic-coteaux.csv");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../demo/diagnostic-coteaux.csv"),
        &csv,
    )
    .unwrap();
    csv
}

/// A new site of the admin's, by name.
pub(super) fn site(admin: &Client, name: &str) -> String {
    let site = admin.json(&[
        "sites",
        "create",
        "--name",
        name,
        "--lat",
        "47.7455",
        "--lon",
        "7.3022",
        "--owner-org",
        "m2a-habitat",
    ]);
    str_of(&site, "name").to_owned()
}

/// The lots of a site.
fn lots(admin: &Client, site: &str) -> Vec<Value> {
    admin
        .json(&["lots", "list", "--site", site, "--limit", "0"])
        .as_array()
        .unwrap()
        .clone()
}

/// The references of an import's list (`created`, `updated`...).
fn references(report: &Value, list: &str) -> Vec<String> {
    report[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} in {report}"))
        .iter()
        .map(|l| str_of(l, "reference").to_owned())
        .collect()
}

#[test]
fn a_diagnostic_imported_again_updates_its_drafts_and_leaves_published_lots_alone() {
    let server = Server::start();
    let admin = &server.admin;
    let site = site(admin, "Coteaux – tour C");
    let csv = coteaux(server.dir.path());
    let path = csv.to_str().unwrap();
    let first = admin.json(&["lots", "import", path, "--site", &site]);
    assert_eq!(first["created"].as_array().unwrap().len(), 10, "{first}");
    let m1 = first["created"][0].clone();
    admin.ok(&["lots", "publish", str_of(&m1, "name")]);

    // The same file again: nothing created, nothing changed.
    let again = admin.ok(&["lots", "import", path, "--site", &site]);
    assert!(
        again.starts_with("created 0 lot(s), unchanged 10 on"),
        "{again}"
    );
    assert!(!again.contains("hazardous:"), "said when imported: {again}");
    assert_eq!(lots(admin, &site).len(), 10, "no lot twice");
    revised_rows_update_drafts(admin, &site, &csv);
    a_reference_given_twice_changes_nothing(&server, &site);
    stop(server.up);
}

/// The diagnostic revised: M2's quantity and M1's designation change,
/// M4's condition is left empty, M11 is new.
fn revised_rows_update_drafts(admin: &Client, site: &str, csv: &Path) {
    let path = csv.to_str().unwrap();
    let revised = std::fs::read_to_string(csv)
        .unwrap()
        .replace("M1,Portes intérieures bois", "M1,Portes intérieures chêne")
        .replace("radiateur,410,u,24600", "radiateur,400,u,24000")
        .replace("collé - usure partielle", "")
        + "M11,Lavabos céramique,sanitaire,60,u,900,salles de bain,bon,reemploi hors site,17 01 03,\n";
    std::fs::write(csv, revised).unwrap();
    let report = admin.json(&["lots", "import", path, "--site", site]);
    assert_eq!(references(&report, "created"), vec!["M11"]);
    assert_eq!(report["created"][0]["line"], 12);
    assert_eq!(references(&report, "updated"), vec!["M2"]);
    assert_eq!(
        report["updated"][0]["changed"],
        serde_json::json!(["quantity", "estimated_mass_g"])
    );
    assert_eq!(report["updated"][0]["quantity"]["milli"], "400000");
    assert_eq!(references(&report, "left_alone"), vec!["M1"]);
    assert_eq!(
        str_of(&report["left_alone"][0], "why"),
        "the lot of reference M1 is published, and a re-import changes drafts only: kept without the file's new designation"
    );
    assert_eq!(report["unchanged"].as_array().unwrap().len(), 8, "{report}");
    let now = lots(admin, site);
    assert_eq!(now.len(), 11);
    let by_ref = |r: &str| now.iter().find(|l| l["reference"] == r).unwrap().clone();
    assert_eq!(
        by_ref("M1")["designation"],
        "Portes intérieures bois 83x204 avec huisseries",
        "a published lot is not changed"
    );
    assert_eq!(
        by_ref("M4")["condition"],
        "collé - usure partielle",
        "an empty cell changes nothing"
    );
    assert_eq!(by_ref("M2")["estimatedMassG"], "24000000");
}

/// A reference given twice is a bad row on its line: nothing changes.
fn a_reference_given_twice_changes_nothing(server: &Server, site: &str) {
    let admin = &server.admin;
    let before = lots(admin, site);
    let twice = server.path("twice.csv");
    std::fs::write(
        &twice,
        "ref,designation,category,quantity,unit\n\
         M2,Radiateurs,radiateur,1,u\n\
         m2,Radiateurs encore,radiateur,2,u\n",
    )
    .unwrap();
    let err = admin.fails(
        6,
        &["lots", "import", twice.to_str().unwrap(), "--site", site],
    );
    assert!(
        err.contains("twice.csv:3: reference (column \"ref\"): \"m2\" is also on line 2"),
        "{err}"
    );
    assert_eq!(lots(admin, site), before);
}

#[test]
fn the_official_form_headers_tonnes_yes_no_and_map_are_read_or_refused_on_their_line() {
    let server = Server::start();
    let site = site(&server.admin, "Drouot – barre 5");
    the_official_form_is_read(&server, &site);
    values_not_understood_are_refused_on_their_lines(&server, &site);
    other_headers_are_read_with_map(&server, &site);
    assert_eq!(
        lots(&server.admin, &site).len(),
        3,
        "the refused imports created nothing"
    );
    the_taxonomy_is_listed(&server.admin);
    stop(server.up);
}

/// The official form's headers; a category by its label, thousands with a
/// space, masses in tonnes, reuse potential as oui/non, a waste code with
/// its label; a column nobody reads is named.
fn the_official_form_is_read(server: &Server, site: &str) {
    let form = server.path("pemd.csv");
    std::fs::write(
        &form,
        "N°;Désignation du produit/matériau;Catégorie;Quantité estimée;Unité de mesure;\
         Masse (t);Potentiel de réemploi (oui/non);Code déchet;Caractère dangereux;Famille PEM\n\
         P1;Portes bois;Porte intérieure;1 240;U;6,2;oui;17 02 01 - Bois;non;Menuiseries\n\
         P2;Dalles vinyle;revetement-sol;900;m²;4,5;non;17 06 05* (amiante);amiante;Sols\n",
    )
    .unwrap();
    let out = server.admin.run(&[
        "lots",
        "import",
        form.to_str().unwrap(),
        "--site",
        site,
        "--output",
        "json",
    ]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ignored column(s): Famille PEM"),
        "{out:?}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let created = report["created"].as_array().unwrap();
    assert_eq!(created.len(), 2, "{report}");
    assert_eq!(created[0]["category"], "porte-interieure");
    assert_eq!(created[0]["quantity"]["milli"], "1240000");
    assert_eq!(created[0]["estimatedMassG"], "6200000");
    assert_eq!(created[0]["reusePotential"], "REUSE_POTENTIAL_DIRECT");
    assert_eq!(created[0]["wasteCode"], "17 02 01");
    assert_eq!(created[1]["reusePotential"], "REUSE_POTENTIAL_NONE");
    assert_eq!(created[1]["hazardous"], true);
}

/// Values nobody understands are errors on their lines, and nothing is
/// created.
fn values_not_understood_are_refused_on_their_lines(server: &Server, site: &str) {
    let bad = server.path("bad.csv");
    std::fs::write(
        &bad,
        "Réf;Désignation;Catégorie;Quantité;Unité;Masse (kg);Potentiel de réemploi\n\
         B1;Tuiles;tuile;100;m2;3 200;réemploi\n\
         B2;Briques;brique;4;m3;environ 6;peut-être\n\
         B3;Radiateurs;Menuiseries;4;u;12 lb;oui\n",
    )
    .unwrap();
    let err = server.admin.fails(
        6,
        &["lots", "import", bad.to_str().unwrap(), "--site", site],
    );
    for said in [
        "bad.csv:3: mass_kg (column \"Masse (kg)\"): \"environ 6\" is not a number; \
         reuse_potential (column \"Potentiel de réemploi\"): \"peut-être\" is not understood",
        "bad.csv:4: category (column \"Catégorie\"): unknown category \"Menuiseries\": neither a code nor a label of the taxonomy",
        "`reemploi categories` lists the category codes and labels",
        "the unit \"lb\" is not understood",
    ] {
        assert!(err.contains(said), "{said} in {err}");
    }
    assert!(!err.contains("bad.csv:2:"), "{err}");
}

/// Headers nobody can guess: the error says so, and --map reads them.
fn other_headers_are_read_with_map(server: &Server, site: &str) {
    let admin = &server.admin;
    let other = server.path("other.csv");
    std::fs::write(
        &other,
        "Article,Famille,Nb,U,Poids (kg),Lot\n\
         Lavabos,sanitaire,12,u,180,A1\n",
    )
    .unwrap();
    let other = other.to_str().unwrap();
    let err = admin.fails(6, &["lots", "import", other, "--site", site]);
    assert!(
        err.contains("no column for designation") && err.contains("--map COLUMN=FIELD"),
        "{err}"
    );
    let mapped = admin.json(&[
        "lots",
        "import",
        other,
        "--site",
        site,
        "--map",
        "Article=designation",
        "--map",
        "famille=category",
        "--map",
        "Nb=quantity",
        "--map",
        "Lot=reference",
    ]);
    let lavabos = &mapped["created"][0];
    assert_eq!(lavabos["designation"], "Lavabos");
    assert_eq!(lavabos["reference"], "A1");
    assert_eq!(lavabos["estimatedMassG"], "180000");
    let err = admin.fails(
        6,
        &[
            "lots",
            "import",
            other,
            "--site",
            site,
            "--map",
            "Désignation=designation",
        ],
    );
    assert!(
        err.contains("--map \"Désignation\": the header row has no such column"),
        "{err}"
    );
    let err = admin.fails(
        2,
        &[
            "lots",
            "import",
            other,
            "--site",
            site,
            "--map",
            "Article=colour",
        ],
    );
    assert!(err.contains("\"colour\" is not a field"), "{err}");
}

/// The taxonomy, as an import reads it.
fn the_taxonomy_is_listed(admin: &Client) {
    let table = admin.ok(&["categories"]);
    assert!(table.starts_with("CODE"), "{table}");
    let doors: Vec<&str> = table
        .lines()
        .find(|l| l.starts_with("porte-interieure "))
        .unwrap()
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        doors,
        vec![
            "porte-interieure",
            "menuiserie",
            "Porte intérieure",
            "Interior door",
            "17 02 01"
        ]
    );
    let all = admin.json(&["categories"]);
    assert_eq!(all.as_array().unwrap().len(), 44);
    let joinery = admin.json(&["categories", "--family", "menuiserie"]);
    let joinery = joinery.as_array().unwrap();
    assert!(!joinery.is_empty() && joinery.len() < 44);
    assert!(joinery.iter().all(|c| c["family"] == "menuiserie"));
    assert_eq!(joinery[0]["labelFr"], "Porte intérieure");
    let err = admin.fails(2, &["categories", "--family", "bois"]);
    assert!(err.contains("menuiserie, chauffage"), "{err}");
}

#[test]
fn a_dry_run_shows_every_row_and_publish_leaves_lots_awaiting_a_check() {
    let server = Server::start();
    let csv = coteaux(server.dir.path());
    let path = csv.to_str().unwrap();
    a_dry_run_shows_every_row(server.dir.path(), path);
    publish_leaves_lots_awaiting_a_check(&server.admin, path);
    stop(server.up);
}

/// A dry run needs no server: every row, hazardous ones included.
fn a_dry_run_shows_every_row(dir: &Path, path: &str) {
    let offline = Client {
        addr: "http://127.0.0.1:9".to_owned(),
        token: None,
        config: dir.join("offline.toml"),
    };
    let shown = offline.ok(&["lots", "import", path, "--site", "sites/x", "--dry-run"]);
    assert!(shown.contains("columns: \"ref\" as reference"), "{shown}");
    for reference in ["M1", "M2", "M3", "M4", "M5", "M6", "M7", "M8", "M9", "M10"] {
        assert!(
            shown
                .lines()
                .any(|l| l.split_whitespace().nth(1) == Some(reference)),
            "{reference} in {shown}"
        );
    }
    let m9 = shown.lines().find(|l| l.starts_with("10 ")).unwrap();
    assert!(
        m9.contains("Dalles de sol vinyle-amiante")
            && m9.contains("hazardous (hazardous waste code 17 06 05*, asbestos)"),
        "{m9}"
    );
    let m5 = shown.lines().find(|l| l.starts_with("6 ")).unwrap();
    assert!(m5.contains("after check") && m5.contains("lead"), "{m5}");
    let summary = format!("dry run: 10 valid lots, 0 invalid row(s) in {path}; nothing sent\n");
    assert!(shown.ends_with(&summary), "{shown}");
    let json = offline.json(&["lots", "import", path, "--site", "sites/x", "--dry-run"]);
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 10);
    assert_eq!(rows[8]["line"], 10);
    assert!(str_of(&rows[8], "hazardous").contains("asbestos"));
    assert_eq!(
        rows[8]["lot"]["designation"],
        "Dalles de sol vinyle-amiante"
    );
    assert_eq!(rows[4]["after_check"], true);
    assert_eq!(rows[0]["after_check"], false);
}

/// --publish: the hazardous lot and the one awaiting its lead check stay
/// drafts, and the report says why and how to record the check; once a
/// passed check is recorded with `lots check`, the next import publishes
/// it; a failed check keeps it from publication.
fn publish_leaves_lots_awaiting_a_check(admin: &Client, path: &str) {
    let site1 = site(admin, "Coteaux – tour D");
    let out = admin.ok(&["lots", "import", path, "--site", &site1, "--publish"]);
    assert!(
        out.contains("not published: line 6 (Garde-corps acier de balcon) — its reuse potential is \"after check\" (lead, structure)")
            && out.contains("reemploi lots check"),
        "{out}"
    );
    let lot_of = |site: &str, r: &str| {
        lots(admin, site)
            .iter()
            .find(|l| l["reference"] == r)
            .unwrap()
            .clone()
    };
    let status = |site: &str, r: &str| lot_of(site, r)["status"].clone();
    assert_eq!(status(&site1, "M5"), "LOT_STATUS_DRAFT");
    assert_eq!(status(&site1, "M9"), "LOT_STATUS_DRAFT");
    assert_eq!(status(&site1, "M6"), "LOT_STATUS_PUBLISHED");
    let published = lots(admin, &site1)
        .iter()
        .filter(|l| l["status"] == "LOT_STATUS_PUBLISHED")
        .count();
    assert_eq!(published, 8);
    let m5 = lot_of(&site1, "M5")["name"].as_str().unwrap().to_owned();
    let err = admin.fails(1, &["lots", "publish", &m5]);
    assert!(err.contains("awaits a check"), "{err}");

    // A failed check keeps it a draft; a passed one lets the next import publish it.
    let check = |result: &str| {
        admin.json(&[
            "lots",
            "check",
            &m5,
            "--result",
            result,
            "--date",
            "2026-11-02",
            "--by",
            "Diagnostics Alsace",
        ])
    };
    assert_eq!(check("failed")["check"]["result"], "CHECK_RESULT_FAILED");
    let report = admin.json(&["lots", "import", path, "--site", &site1, "--publish"]);
    assert_eq!(report["held"][0]["line"], 6, "{report}");
    assert_eq!(status(&site1, "M5"), "LOT_STATUS_DRAFT");
    assert_eq!(check("passed")["check"]["checkedBy"], "Diagnostics Alsace");
    let report = admin.json(&["lots", "import", path, "--site", &site1, "--publish"]);
    assert_eq!(report["held"], serde_json::json!([]), "{report}");
    assert_eq!(status(&site1, "M5"), "LOT_STATUS_PUBLISHED");
}

/// An SIAE directory export: the directory's columns with e-mail and phone,
/// coordinates, and no categories.
fn directory(rows: &[(&str, &str, &str, &str)]) -> String {
    let mut csv = String::from(
        "siret,type,raison_sociale,enseigne,addresse_ligne_1,code_postal,ville,departement,\
         site_web,email,telephone,latitude,longitude\n",
    );
    for (siret, name, email, phone) in rows {
        csv.push_str(&format!(
            "{siret},ACI,{name},,2 rue du Test,68100,Mulhouse,68,,{email},{phone},47.75,7.33\n"
        ));
    }
    csv
}

#[test]
fn the_monthly_directory_updates_partners_by_siret_with_contacts_and_default_categories() {
    let server = Server::start();
    let sirets = [
        siret("7100000000001"),
        siret("7100000000002"),
        siret("7100000000003"),
    ];
    the_first_data_row_is_line_2(&server, &sirets[0]);
    let atelier_a = the_first_import_gives_default_categories(&server, &sirets);
    next_month_updates_by_siret(&server, &sirets, &atelier_a);
    stop(server.up);
}

/// The first data row is line 2, whatever is wrong with it, in a CSV file
/// or in a workbook.
fn the_first_data_row_is_line_2(server: &Server, a: &str) {
    let admin = &server.admin;
    let file = server.path("siae-68.csv");
    let path = file.to_str().unwrap();
    std::fs::write(
        &file,
        directory(&[
            ("12345678912345", "Mauvais SIRET", "", ""),
            (a, "Atelier A", "contact@a.example", "03 89 00 00 01"),
        ]),
    )
    .unwrap();
    let err = admin.fails(6, &["partners", "import", path]);
    assert!(err.contains("siae-68.csv:2: siret"), "{err}");
    assert!(!err.contains("siae-68.csv:1:"), "{err}");
    let xlsx = server.path("siae-68.xlsx");
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (r, row) in [
        ["siret", "type", "raison_sociale", "latitude", "longitude"],
        ["12345678912345", "ACI", "Mauvais SIRET", "47.75", "7.33"],
        [a, "ACI", "Atelier A", "47.75", "7.33"],
    ]
    .iter()
    .enumerate()
    {
        for (c, cell) in row.iter().enumerate() {
            ws.write_string(u32::try_from(r).unwrap(), u16::try_from(c).unwrap(), *cell)
                .unwrap();
        }
    }
    wb.save(&xlsx).unwrap();
    let err = admin.fails(
        6,
        &["partners", "import", xlsx.to_str().unwrap(), "--dry-run"],
    );
    assert!(err.contains("siae-68.xlsx:2: siret"), "{err}");
}

/// Without categories a partner matches nothing: a warning; --accepts
/// gives them (comma-separated or repeated, codes or labels). The first
/// structure's name.
fn the_first_import_gives_default_categories(server: &Server, sirets: &[String; 3]) -> String {
    let admin = &server.admin;
    let file = server.path("siae-68.csv");
    let path = file.to_str().unwrap();
    std::fs::write(
        &file,
        directory(&[
            (
                &sirets[0],
                "Atelier A",
                "contact@a.example",
                "03 89 00 00 01",
            ),
            (&sirets[1], "Atelier B", "", ""),
        ]),
    )
    .unwrap();
    let dry = admin.ok(&["partners", "import", path, "--dry-run"]);
    assert!(
        dry.contains("warning: line 2: Atelier A accepts no category, so matching will never propose it a lot"),
        "{dry}"
    );
    let report = admin.json(&[
        "partners",
        "import",
        path,
        "--accepts",
        "radiateur,Porte intérieure",
        "--accepts",
        "tuile",
        "--verify",
    ]);
    let registered = report["registered"].as_array().unwrap();
    assert_eq!(registered.len(), 2, "{report}");
    assert_eq!(report["warnings"], serde_json::json!([]));
    let first = &registered[0];
    assert_eq!(first["line"], 2);
    assert_eq!(
        first["acceptedCategories"],
        serde_json::json!(["porte-interieure", "radiateur", "tuile"])
    );
    assert_eq!(first["contact"]["email"], "contact@a.example");
    assert_eq!(first["contact"]["phone"], "03 89 00 00 01");
    assert_eq!(first["status"], "PARTNER_STATUS_VERIFIED");
    str_of(first, "name").to_owned()
}

/// Next month: A's phone changed, B is as it was, C is new and names no
/// category; it goes through, --skip-invalid or not. --accepts then fills
/// a partner that accepts nothing, never one that does.
fn next_month_updates_by_siret(server: &Server, sirets: &[String; 3], atelier_a: &str) {
    let admin = &server.admin;
    let file = server.path("siae-68.csv");
    let path = file.to_str().unwrap();
    std::fs::write(
        &file,
        directory(&[
            (
                &sirets[0],
                "Atelier A",
                "contact@a.example",
                "03 89 99 99 99",
            ),
            (&sirets[1], "Atelier B", "", ""),
            (&sirets[2], "Atelier C", "c@c.example", ""),
        ]),
    )
    .unwrap();
    let text = admin.ok(&["partners", "import", path, "--skip-invalid"]);
    assert!(
        text.starts_with("registered 1 partner(s), updated 1, unchanged 1 from"),
        "{text}"
    );
    assert!(
        text.contains("updated: line 2 (Atelier A): contact")
            && text.contains("warning: line 4: Atelier C accepts no category"),
        "{text}"
    );
    let all = admin.json(&["partners", "list", "--limit", "0"]);
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 3, "no partner twice");
    let a_now = admin.json(&["partners", "show", atelier_a]);
    assert_eq!(a_now["contact"]["phone"], "03 89 99 99 99");
    assert_eq!(a_now["contact"]["email"], "contact@a.example");
    assert_eq!(a_now["status"], "PARTNER_STATUS_VERIFIED", "still verified");
    let report = admin.json(&["partners", "import", path, "--accepts", "brique"]);
    let updated = report["updated"].as_array().unwrap();
    assert_eq!(updated.len(), 1, "{report}");
    assert_eq!(updated[0]["legalName"], "Atelier C");
    assert_eq!(
        updated[0]["changed"],
        serde_json::json!(["accepted_categories"])
    );
    assert_eq!(
        admin.json(&["partners", "show", atelier_a])["acceptedCategories"],
        serde_json::json!(["porte-interieure", "radiateur", "tuile"])
    );
    let err = admin.fails(2, &["partners", "import", path, "--accepts", "bois"]);
    assert!(
        err.contains("--accepts: category: unknown category \"bois\""),
        "{err}"
    );
}
