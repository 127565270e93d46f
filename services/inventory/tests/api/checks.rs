//! Lots "after check" (lead, structure): published only once a passed
//! check is recorded; who records it and what is refused.

use super::*;

on_both_backends!(
    a_lot_after_check_is_published_once_its_check_passed,
    lot_checks_by_role
);

/// A failed check keeps the lot from publication as no check does, each
/// with its reason; a passed one, recorded with who made it and when, lets
/// it be published. Bad checks change nothing; a lot needing no check
/// refuses one.
async fn a_lot_after_check_is_published_once_its_check_passed(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = app.manager().await;
    let site = new_site(&mut m).await;
    let leaded = draft_lot(&mut m, &site, pb::ReusePotential::AfterCheck, &[]).await;
    let publish = || pb::PublishLotRequest {
        name: leaded.name.clone(),
        etag: String::new(),
    };
    let refused = m.publish_lot(publish()).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused).as_deref(), Some("CHECK_NOT_PASSED"));
    assert!(
        refused.message().contains("awaits a check"),
        "{}",
        refused.message()
    );
    let named = m
        .batch_publish_lots(pb::BatchPublishLotsRequest {
            parent: site.name.clone(),
            names: vec![leaded.name.clone()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&named).as_deref(), Some("CHECK_NOT_PASSED"));

    let record = |check: pb::LotCheck| pb::RecordLotCheckRequest {
        name: leaded.name.clone(),
        check: Some(check),
        ..Default::default()
    };
    let future = pb::LotCheck {
        check_time: ts(4_102_444_800),
        ..passed_check()
    };
    for (bad, field) in [
        (
            pb::LotCheck {
                check_time: None,
                ..passed_check()
            },
            "check.check_time",
        ),
        (future, "check.check_time"),
        (
            pb::LotCheck {
                result: 0,
                ..passed_check()
            },
            "check.result",
        ),
        (
            pb::LotCheck {
                result: 9,
                ..passed_check()
            },
            "check.result",
        ),
        (
            pb::LotCheck {
                checked_by: " ".into(),
                ..passed_check()
            },
            "check.checked_by",
        ),
    ] {
        let refused = m.record_lot_check(record(bad)).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument);
        assert_eq!(field_violations(&refused)[0].0, field);
    }
    assert_eq!(
        get_lot(&mut m, &leaded.name).await,
        leaded,
        "refused checks changed nothing"
    );

    let failed = pb::LotCheck {
        result: pb::CheckResult::Failed as i32,
        ..passed_check()
    };
    let lot = m
        .record_lot_check(record(failed))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(lot.check.unwrap().result, pb::CheckResult::Failed as i32);
    let refused = m.publish_lot(publish()).await.unwrap_err();
    assert_eq!(reason(&refused).as_deref(), Some("CHECK_NOT_PASSED"));
    assert!(
        refused.message().contains("failed its check"),
        "{}",
        refused.message()
    );

    let lot = m
        .record_lot_check(record(passed_check()))
        .await
        .unwrap()
        .into_inner();
    let check = lot.check.unwrap();
    assert_eq!(check.result, pb::CheckResult::Passed as i32);
    assert_eq!(check.checked_by, "Diagnostics Alsace, plomb");
    assert!(!check.recorded_by.is_empty());
    let published = m.publish_lot(publish()).await.unwrap().into_inner();
    assert_eq!(published.status, pb::LotStatus::Published as i32);
    assert_eq!(
        published.check.clone().unwrap(),
        check,
        "the check stays with the lot"
    );
    let failed_late = m
        .record_lot_check(record(pb::LotCheck {
            result: pb::CheckResult::Failed as i32,
            ..passed_check()
        }))
        .await
        .unwrap_err();
    assert_eq!(reason(&failed_late).as_deref(), Some("LOT_PUBLISHED"));
    assert_eq!(get_lot(&mut m, &published.name).await, published);

    let doors = draft_lot(&mut m, &site, pb::ReusePotential::Direct, &[]).await;
    let refused = m
        .record_lot_check(pb::RecordLotCheckRequest {
            name: doors.name.clone(),
            check: Some(passed_check()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&refused).as_deref(), Some("NO_CHECK_NEEDED"));
    app.stop().await;
}

/// The site's managers and admins record a check; a partner, an
/// integrator and another organisation do not (a partner does not even
/// see the draft).
async fn lot_checks_by_role(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = app.manager().await;
    let site = new_site(&mut m).await;
    let leaded = draft_lot(&mut m, &site, pb::ReusePotential::AfterCheck, &[]).await;
    let record = || pb::RecordLotCheckRequest {
        name: leaded.name.clone(),
        check: Some(passed_check()),
        ..Default::default()
    };
    let mut partner = app.partner(app.verified_partner().await).await;
    let mut other = app
        .client_with(Some(token(Role::SiteManager, Some("org-other"), None)))
        .await;
    let mut integrator = app.client_with(Some(token_for(Role::Integrator))).await;
    let mut admin = app.client_with(Some(token_for(Role::Admin))).await;
    for (who, c, code) in [
        ("a partner", &mut partner, Code::NotFound),
        ("another organisation", &mut other, Code::NotFound),
        ("an integrator", &mut integrator, Code::PermissionDenied),
    ] {
        let refused = c.record_lot_check(record()).await.unwrap_err();
        assert_eq!(refused.code(), code, "{who}");
    }
    assert!(get_lot(&mut m, &leaded.name).await.check.is_none());
    admin.record_lot_check(record()).await.unwrap();
    m.record_lot_check(record()).await.unwrap();
    app.stop().await;
}
