//! Readable ids (AIP-122, AIP-133): sites and lots named by the ids their
//! creators chose or by a lot's reference, lot ids unique within their site
//! only, and the UUID data written before all this still served.

use reemploi_store::Migrations;

use super::*;

on_both_backends!(
    chosen_and_defaulted_ids_name_sites_and_lots,
    lot_ids_are_unique_per_site_only,
    batches_choose_and_default_ids,
    racing_creations_give_a_reference_once,
    a_deleted_drafts_id_is_given_again_with_a_newer_version,
    uuid_data_from_before_readable_ids_keeps_working,
);

fn create_site(site_id: &str, request_id: &str) -> pb::CreateSiteRequest {
    pb::CreateSiteRequest {
        site: Some(site_msg()),
        request_id: request_id.into(),
        site_id: site_id.into(),
    }
}

fn create_lot(
    site: &str,
    lot_id: &str,
    reference: &str,
    designation: &str,
) -> pb::CreateLotRequest {
    pb::CreateLotRequest {
        parent: site.into(),
        lot: Some(pb::Lot {
            reference: reference.into(),
            ..lot_msg(designation, 10)
        }),
        request_id: String::new(),
        lot_id: lot_id.into(),
    }
}

/// The code, `ErrorInfo` reason and violated fields of a refusal.
fn refusal(status: &tonic::Status) -> (Code, Option<String>, Vec<String>) {
    let fields = field_violations(status)
        .into_iter()
        .map(|(f, _)| f)
        .collect();
    (status.code(), reason(status), fields)
}

fn last_segment(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

async fn chosen_and_defaulted_ids_name_sites_and_lots(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = app.manager().await;
    let (site, unnamed) = site_ids_are_chosen_once(&mut m).await;
    lot_ids_are_chosen_or_defaulted(&mut m, &site).await;
    readable_names_are_accepted(&mut m, &site, &unnamed).await;
    app.stop().await;
}

/// `sites/coteaux-a` made, asked for again, and malformed ids refused;
/// it and a site made without an id.
async fn site_ids_are_chosen_once(m: &mut Client) -> (pb::Site, pb::Site) {
    let site = m
        .create_site(create_site("coteaux-a", "first"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(site.name, "sites/coteaux-a");
    // A retry of the same request answers with the site it made...
    let again = m
        .create_site(create_site("coteaux-a", "first"))
        .await
        .unwrap();
    assert_eq!(again.into_inner().name, "sites/coteaux-a");
    // ...another request for the same id is refused.
    let taken = m
        .create_site(create_site("coteaux-a", "second"))
        .await
        .unwrap_err();
    assert_eq!(
        refusal(&taken),
        (Code::AlreadyExists, Some("ID_TAKEN".into()), vec![])
    );
    let made = Uuid::now_v7().to_string();
    for bad in [
        "Coteaux A",
        "1-coteaux",
        "coteaux-",
        "coteaux_a",
        made.as_str(),
    ] {
        let refused = m.create_site(create_site(bad, "")).await.unwrap_err();
        assert_eq!(
            refusal(&refused),
            (
                Code::InvalidArgument,
                Some("INVALID_ARGUMENT".into()),
                vec!["site_id".into()]
            ),
            "site_id {bad:?}"
        );
    }
    let unnamed = new_site(m).await;
    Uuid::try_parse(last_segment(&unnamed.name)).expect("a site without an id gets a UUID");
    (site, unnamed)
}

/// Lots of `site` named by their reference, by a chosen id, or by a UUID.
async fn lot_ids_are_chosen_or_defaulted(m: &mut Client, site: &pb::Site) {
    let m1 = m
        .create_lot(create_lot(&site.name, "", "M1", "Portes"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        m1.name, "sites/coteaux-a/lots/m1",
        "the reference names the lot"
    );
    let second_m1 = m
        .create_lot(create_lot(&site.name, "", "M1", "Portes encore"))
        .await
        .unwrap()
        .into_inner();
    Uuid::try_parse(last_segment(&second_m1.name)).expect("a taken reference gives a UUID");
    let chosen = m
        .create_lot(create_lot(&site.name, "portes-r1", "M1", "Portes R+1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(chosen.name, "sites/coteaux-a/lots/portes-r1");
    for taken in ["portes-r1", "m1"] {
        let refused = m
            .create_lot(create_lot(&site.name, taken, "", "Doublon"))
            .await
            .unwrap_err();
        assert_eq!(
            refusal(&refused),
            (Code::AlreadyExists, Some("ID_TAKEN".into()), vec![]),
            "lot_id {taken}"
        );
        assert!(
            refused
                .message()
                .contains(&format!("sites/coteaux-a/lots/{taken}"))
        );
    }
    let refused = m
        .create_lot(create_lot(&site.name, "-m2", "", "Mal nommé"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(refusal(&refused).2, vec!["lot_id".to_string()]);
    // A reference that makes no id (it starts with a digit) leaves a UUID.
    let numbered = m
        .create_lot(create_lot(&site.name, "", "12", "Numérotée"))
        .await
        .unwrap()
        .into_inner();
    Uuid::try_parse(last_segment(&numbered.name)).expect("UUID");
}

/// The names are accepted wherever names are; sites are still listed
/// newest first, whatever their ids, across pages.
async fn readable_names_are_accepted(m: &mut Client, site: &pb::Site, unnamed: &pb::Site) {
    assert_eq!(
        get_lot(m, "sites/coteaux-a/lots/m1").await.designation,
        "Portes"
    );
    let got = m
        .get_site(pb::GetSiteRequest {
            name: "sites/coteaux-a".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.lot_counts.iter().map(|c| c.count).sum::<i64>(), 4);
    let listed = m
        .list_lots(pb::ListLotsRequest {
            parent: "sites/coteaux-a".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .lots;
    assert_eq!(listed.len(), 4);
    let missing = m
        .get_lot(pb::GetLotRequest {
            name: "sites/coteaux-b/lots/m1".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let newest = m.create_site(create_site("aa-newest", "")).await.unwrap();
    let mut listed = Vec::new();
    let mut token = String::new();
    loop {
        let page = m
            .list_sites(pb::ListSitesRequest {
                page_size: 1,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        listed.extend(page.sites.into_iter().map(|s| s.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(
        listed,
        [
            newest.into_inner().name,
            unnamed.name.clone(),
            site.name.clone()
        ]
    );
}

/// Two sites each with a lot `m1`: every read and write reaches the one
/// named, claims included, and lists page through both.
async fn lot_ids_are_unique_per_site_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = app.manager().await;
    let mut lots = Vec::new();
    for (site, designation) in [("coteaux-a", "Portes A"), ("coteaux-b", "Portes B")] {
        m.create_site(create_site(site, "")).await.unwrap();
        let lot = m
            .create_lot(create_lot(&format!("sites/{site}"), "", "M1", designation))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(lot.name, format!("sites/{site}/lots/m1"));
        let lot = m
            .publish_lot(pb::PublishLotRequest {
                name: lot.name,
                etag: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        lots.push(lot);
    }
    an_update_reaches_the_lot_named(&mut m, &lots[1]).await;
    a_claim_moves_its_own_lot(&app, &mut m, &lots[0]).await;
    every_lot_is_paged_through_once(&mut m).await;
    app.stop().await;
}

async fn an_update_reaches_the_lot_named(m: &mut Client, other: &pb::Lot) {
    let updated = m
        .update_lot(pb::UpdateLotRequest {
            lot: Some(pb::Lot {
                name: "sites/coteaux-a/lots/m1".into(),
                designation: "Portes A, revues".into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["designation".into()],
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.designation, "Portes A, revues");
    let held = get_lot(m, &other.name).await;
    assert_eq!(
        (held.designation.as_str(), held.version),
        ("Portes B", other.version)
    );
}

/// A claim moves its own lot's ledger only, is named under it, and is
/// listed with its site's claims.
async fn a_claim_moves_its_own_lot(app: &App, m: &mut Client, lot: &pb::Lot) {
    let partner = app.verified_partner().await;
    let mut p = app.partner(partner).await;
    let claim = p
        .claim_lot(claim_req(lot, partner, 4, "claim-a"))
        .await
        .unwrap()
        .into_inner();
    assert!(
        claim.name.starts_with("sites/coteaux-a/lots/m1/claims/"),
        "{}",
        claim.name
    );
    assert_eq!(
        ledger(&get_lot(m, "sites/coteaux-a/lots/m1").await).1,
        6_000
    );
    assert_eq!(
        ledger(&get_lot(m, "sites/coteaux-b/lots/m1").await).1,
        10_000
    );
    let claims_of = |parent: &str| {
        let mut m = m.clone();
        let parent = parent.to_string();
        async move {
            m.list_claims(pb::ListClaimsRequest {
                parent,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .claims
            .len()
        }
    };
    assert_eq!(claims_of("sites/coteaux-a/lots/-").await, 1);
    assert_eq!(claims_of("sites/coteaux-b/lots/-").await, 0);
    assert_eq!(claims_of("sites/coteaux-b/lots/m1").await, 0);
    assert_eq!(claims_of("sites/-/lots/-").await, 1);
    let cancelled = p
        .cancel_claim(pb::CancelClaimRequest {
            name: claim.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cancelled.status, pb::ClaimStatus::Cancelled as i32);
    assert_eq!(
        ledger(&get_lot(m, "sites/coteaux-a/lots/m1").await).1,
        10_000
    );
    assert_eq!(
        ledger(&get_lot(m, "sites/coteaux-b/lots/m1").await).1,
        10_000
    );
}

/// Every site's lots, one per page: each once, though their ids are equal.
async fn every_lot_is_paged_through_once(m: &mut Client) {
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = m
            .list_lots(pb::ListLotsRequest {
                parent: "sites/-".into(),
                page_size: 1,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        seen.extend(page.lots.into_iter().map(|l| l.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, ["sites/coteaux-a/lots/m1", "sites/coteaux-b/lots/m1"]);
}

/// A batch names its lots as single creations do, all or nothing.
async fn batches_choose_and_default_ids(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = app.manager().await;
    m.create_site(create_site("coteaux-a", "")).await.unwrap();
    let parent = "sites/coteaux-a";
    m.create_lot(create_lot(parent, "portes-r1", "", "Portes"))
        .await
        .unwrap();
    let batch = |lots: Vec<pb::CreateLotRequest>| pb::BatchCreateLotsRequest {
        parent: parent.into(),
        requests: lots,
        request_id: String::new(),
    };
    let count = |m: &mut Client| {
        let mut m = m.clone();
        async move {
            m.list_lots(pb::ListLotsRequest {
                parent: parent.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .lots
            .len()
        }
    };

    let twice = m
        .batch_create_lots(batch(vec![
            create_lot("", "x1", "", "Un"),
            create_lot("", "Bad", "", "Deux"),
            create_lot("", "x1", "", "Trois"),
        ]))
        .await
        .unwrap_err();
    assert_eq!(twice.code(), Code::InvalidArgument);
    assert_eq!(
        refusal(&twice).2,
        vec![
            "requests[1].lot_id".to_string(),
            "requests[2].lot_id".into()
        ]
    );
    let taken = m
        .batch_create_lots(batch(vec![
            create_lot("", "", "M9", "Neuf"),
            create_lot("", "portes-r1", "", "Doublon"),
        ]))
        .await
        .unwrap_err();
    assert_eq!(refusal(&taken).0, Code::AlreadyExists);
    assert_eq!(count(&mut m).await, 1, "a refused batch creates nothing");

    let made = m
        .batch_create_lots(batch(vec![
            create_lot("", "", "M2", "Deux"),
            create_lot("", "", "M2", "Deux encore"),
            // The reference of this one gives `m4`, which the next row chose.
            create_lot("", "", "M4", "Quatre"),
            create_lot("", "m4", "M3", "Trois"),
        ]))
        .await
        .unwrap()
        .into_inner()
        .lots;
    let ids: Vec<&str> = made.iter().map(|l| last_segment(&l.name)).collect();
    assert_eq!((ids[0], ids[3]), ("m2", "m4"));
    Uuid::try_parse(ids[1]).expect("the second M2 gets a UUID");
    Uuid::try_parse(ids[2]).expect("a reference never takes a chosen id");
    assert_eq!(count(&mut m).await, 5);
    // Listed in the order they were made, the batch's in its own, two a page.
    let mut listed = Vec::new();
    let mut token = String::new();
    loop {
        let page = m
            .list_lots(pb::ListLotsRequest {
                parent: parent.into(),
                page_size: 2,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        listed.extend(page.lots.into_iter().map(|l| l.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let mut expected = vec!["sites/coteaux-a/lots/portes-r1".to_string()];
    expected.extend(made.into_iter().map(|l| l.name));
    assert_eq!(listed, expected);
    app.stop().await;
}

/// Lots created at once on one site with one reference: every creation
/// succeeds, one lot takes the reference's id, the others UUIDs.
async fn racing_creations_give_a_reference_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = app.manager().await;
    m.create_site(create_site("coteaux-a", "")).await.unwrap();
    let mut racing = tokio::task::JoinSet::new();
    for i in 0..12 {
        let mut m = m.clone();
        racing.spawn(async move {
            m.create_lot(create_lot(
                "sites/coteaux-a",
                "",
                "M7",
                &format!("Porte {i}"),
            ))
            .await
            .map(|r| r.into_inner().name)
        });
    }
    let mut named = Vec::new();
    while let Some(done) = racing.join_next().await {
        named.push(done.unwrap().expect("every creation succeeds"));
    }
    let by_reference: Vec<&String> = named.iter().filter(|n| n.ends_with("/lots/m7")).collect();
    assert_eq!(by_reference.len(), 1, "{named:?}");
    let made = named
        .iter()
        .filter(|n| Uuid::try_parse(last_segment(n)).is_ok())
        .count();
    assert_eq!(made, 11, "{named:?}");
    app.stop().await;
}

/// A draft deleted frees its id; the lot made again under it starts past
/// the deletion's version (which the lot events carried).
async fn a_deleted_drafts_id_is_given_again_with_a_newer_version(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = app.manager().await;
    m.create_site(create_site("coteaux-a", "")).await.unwrap();
    let first = m
        .create_lot(create_lot("sites/coteaux-a", "", "M1", "Portes"))
        .await
        .unwrap()
        .into_inner();
    let edited = m
        .update_lot(pb::UpdateLotRequest {
            lot: Some(pb::Lot {
                name: first.name.clone(),
                designation: "Portes revues".into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["designation".into()],
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(edited.version, 2);
    m.delete_lot(pb::DeleteLotRequest {
        name: first.name.clone(),
        etag: edited.etag,
    })
    .await
    .unwrap();
    let batch = m
        .batch_create_lots(pb::BatchCreateLotsRequest {
            parent: "sites/coteaux-a".into(),
            requests: vec![create_lot("", "", "M1", "Portes encore")],
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(batch.lots[0].name, "sites/coteaux-a/lots/m1");
    assert_eq!(batch.lots[0].version, 4, "one past the deletion, at 3");
    m.delete_lot(pb::DeleteLotRequest {
        name: first.name.clone(),
        etag: String::new(),
    })
    .await
    .unwrap();
    let again = m
        .create_lot(create_lot("sites/coteaux-a", "m1", "", "Portes enfin"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (again.name.as_str(), again.version),
        ("sites/coteaux-a/lots/m1", 6)
    );
    app.stop().await;
}

/// Runs the inventory's migrations up to `before` (excluded) only: the
/// schema as a release without readable ids left it.
async fn migrate_until(db: &reemploi_store::Db, before: i64) {
    let Migrations { sqlite, postgres } = reemploi_inventory::migrations();
    let mut old = match db.backend() {
        Backend::Sqlite => sqlite,
        Backend::Postgres => postgres,
    };
    let kept: Vec<_> = old
        .migrations
        .iter()
        .filter(|m| m.version < before)
        .cloned()
        .collect();
    old.migrations = kept.into();
    old.run(db.pool()).await.expect("older migrations");
}

/// Rows as the previous release wrote them (UUID ids, lots keyed by id
/// alone) are read, claimed and released under the new schema.
async fn uuid_data_from_before_readable_ids_keeps_working(backend: Backend) {
    let test_db = reemploi_testing::db::fresh(backend).await;
    let db = test_db.db.clone();
    migrate_until(&db, 4).await;
    let (site, lot, claim) = old_rows(&db).await;
    // The service migrates the rest as it starts.
    let bus = reemploi_events::InProcessBus::temporary().await.unwrap();
    let app = support::spawn_with(db, Arc::new(bus), Settings::default()).await;
    let mut m = app.manager().await;
    let lot_name = format!("sites/{site}/lots/{lot}");
    let held = get_lot(&mut m, &lot_name).await;
    assert_eq!(
        (held.designation.as_str(), ledger(&held).1),
        ("Portes", 6_000)
    );
    let claims = m
        .list_claims(pb::ListClaimsRequest {
            parent: lot_name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .claims;
    assert_eq!(claims.len(), 1);
    let claim_name = format!("{lot_name}/claims/{claim}");
    assert_eq!(claims[0].name, claim_name);
    m.reject_claim(pb::RejectClaimRequest {
        name: claim_name,
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(ledger(&get_lot(&mut m, &lot_name).await).1, 10_000);
    // New lots of the old site get readable ids beside the old UUID ones.
    let new = m
        .create_lot(create_lot(&format!("sites/{site}"), "", "M1", "Portes"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(new.name, format!("sites/{site}/lots/m1"));
    app.stop().await;
    drop(test_db);
}

/// A site, a published lot of 10 and a reservation of 4 on it, written as
/// the previous release wrote them; their ids.
async fn old_rows(db: &reemploi_store::Db) -> (Uuid, Uuid, Uuid) {
    let (site, lot, claim, partner) = (
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
    );
    let now = reemploi_store::now_millis();
    sqlx::query(
        "INSERT INTO sites (id, display_name, programme, quartier, commune, insee_code, \
         latitude, longitude, address, owner_org, created_at, updated_at, version) \
         VALUES ($1, 'Coteaux', '', '', '', '', 47.746, 7.301, '', $2, $3, $3, 1)",
    )
    .bind(site.to_string())
    .bind(ORG)
    .bind(now)
    .execute(db.pool())
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO lots (id, site_id, owner_org, reference, designation, description, \
         category, unit, quantity, available, reserved, handed_over, estimated_mass_g, \
         length_mm, width_mm, height_mm, condition, building_location, photo_uris, \
         waste_code, hazards, reuse_potential, status, hazardous, latitude, longitude, \
         created_at, updated_at, version) VALUES ($1, $2, $3, 'M1', 'Portes', '', \
         'porte-interieure', 'u', 10000, 6000, 4000, 0, 250000, 0, 0, 0, '', '', '', \
         '17 02 01', '', 0, 'published', 0, 47.746, 7.301, $4, $4, 2)",
    )
    .bind(lot.to_string())
    .bind(site.to_string())
    .bind(ORG)
    .bind(now)
    .execute(db.pool())
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO claims (id, lot_id, site_id, owner_org, partner_id, unit, quantity, \
         status, expires_at, weighed_mass_g, note, request_id, created_at, updated_at, \
         version) VALUES ($1, $2, $3, $4, $5, 'u', 4000, 'reserved', $6, 0, '', 'old', \
         $7, $7, 1)",
    )
    .bind(claim.to_string())
    .bind(lot.to_string())
    .bind(site.to_string())
    .bind(ORG)
    .bind(partner.to_string())
    .bind(now + 3_600_000)
    .bind(now)
    .execute(db.pool())
    .await
    .unwrap();
    (site, lot, claim)
}
