//! Readable ids in the web app's addresses: a site made with the id
//! `coteaux-a` and a lot named by its reference `M1` are the pages
//! `/chantiers/coteaux-a` and `/chantiers/coteaux-a/lots/m1`.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pages_of_readable_sites_and_lots_are_addressed_by_them() {
    let app = App::start().await;
    app.account(
        "cheffe@bailleur-a.example",
        idpb::AccountRole::SiteManager,
        "bailleur-a",
    )
    .await;
    let mut manager = app
        .inventory(Role::SiteManager, Some("bailleur-a"), None)
        .await;
    manager
        .create_site(ipb::CreateSiteRequest {
            site: Some(ipb::Site {
                display_name: "Coteaux tour A".into(),
                location: Some(tpb::GeoPoint {
                    latitude: 47.746,
                    longitude: 7.301,
                }),
                ..Default::default()
            }),
            request_id: String::new(),
            site_id: "coteaux-a".into(),
        })
        .await
        .unwrap();
    let lot = manager
        .create_lot(ipb::CreateLotRequest {
            parent: "sites/coteaux-a".into(),
            lot: Some(ipb::Lot {
                reference: "M1".into(),
                designation: "Radiateurs fonte M1".into(),
                category: "radiateur".into(),
                quantity: Some(tpb::Quantity {
                    unit: tpb::Unit::Piece as i32,
                    milli: 10_000,
                }),
                estimated_mass_g: 400_000,
                ..Default::default()
            }),
            request_id: String::new(),
            lot_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(lot.name, "sites/coteaux-a/lots/m1");

    let browser = app.browser();
    browser.signed_in("cheffe@bailleur-a.example").await;
    let (status, html) = browser.page("/chantiers/coteaux-a").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("href=\"/chantiers/coteaux-a/lots/m1\""),
        "{html}"
    );
    // Published from the site's page by its readable id.
    let csrf = hidden(&html, "csrf");
    let etag = hidden(&html, "etag-m1");
    let done = browser
        .post(
            "/chantiers/coteaux-a/publier",
            &[("csrf", &csrf), ("seul", "m1"), ("etag-m1", &etag)],
        )
        .await;
    assert_eq!(location(&done), "/chantiers/coteaux-a");
    assert_eq!(lot_status(&app, &lot.name).await, ipb::LotStatus::Published);
    let (status, html) = browser.page("/chantiers/coteaux-a/lots/m1").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Radiateurs fonte M1"));
    // Another site's lot of the same id is another page: there is none.
    let (status, _) = browser.page("/chantiers/coteaux-b/lots/m1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}
