//! Needs ("recherches"), over both buses and backends: a lot that meets a
//! structure's open need ranks that structure first, with the need in the
//! breakdown, and is proposed to it so; a closed or expired need puts no
//! one first; site managers read the open needs around their sites; every
//! RPC refuses the roles it is not for, and bad input changes nothing.

use prost_types::{FieldMask, Timestamp};
use reemploi_proto::matching as mpb;
use reemploi_runtime::status::field_violations;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn needs_rank_their_structure_first_in_process() {
    needs_first(Transport::InProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn needs_rank_their_structure_first_over_nats() {
    needs_first(Transport::Nats).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn needs_are_refused_to_other_roles_and_bad_input_in_process() {
    authorization_and_bad_input(Transport::InProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn needs_are_refused_to_other_roles_and_bad_input_over_nats() {
    authorization_and_bad_input(Transport::Nats).await;
}

fn in_secs(secs: i64) -> Timestamp {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    Timestamp {
        seconds: now.as_secs() as i64 + secs,
        nanos: 0,
    }
}

/// A need of radiators within 10 km of the structure, for `secs` seconds.
fn radiators_wanted(secs: i64) -> mpb::Need {
    mpb::Need {
        category: "radiateur".into(),
        min_quantity: Some(tpb::Quantity {
            unit: tpb::Unit::Piece as i32,
            milli: 5_000,
        }),
        radius_km: 10,
        expire_time: Some(in_secs(secs)),
        note: "Pour l'atelier de rénovation".into(),
        ..Default::default()
    }
}

/// A verified partner taking radiators, once matching knows it.
async fn known(stack: &Stack, partner: rpb::Partner) -> String {
    let mut registry = stack.registry(Role::Admin, None).await;
    let name = verified(&mut registry, partner).await;
    let m = stack.matching(0, Role::Admin, None, None).await;
    eventually(WAIT, || {
        let mut m = m.clone();
        let req = mpb::RecommendLotsRequest {
            partner: name.clone(),
            ..Default::default()
        };
        async move { m.recommend_lots(req).await.ok() }
    })
    .await;
    name
}

fn id_of(name: &str) -> String {
    name.trim_start_matches("partners/").to_owned()
}

/// Two structures near the Coteaux: an insertion one next to the site,
/// and an association farther, which ranks second on score alone.
async fn two_structures(stack: &Stack) -> (String, String) {
    let near = known(
        stack,
        partner_at("Atelier Coteaux", &siret(81), 47.7470, 7.3030, 20),
    )
    .await;
    let needy = known(
        stack,
        rpb::Partner {
            kinds: vec![rpb::PartnerKind::Association as i32],
            ..partner_at("Ressourcerie Illzach", &siret(82), 47.7800, 7.3400, 20)
        },
    )
    .await;
    (near, needy)
}

async fn matches(stack: &Stack, lot: &str) -> Vec<mpb::Match> {
    let mut m = stack
        .matching(0, Role::SiteManager, Some("m2a-habitat"), None)
        .await;
    m.list_lot_matches(mpb::ListLotMatchesRequest {
        lot: lot.to_owned(),
        page_size: 10,
    })
    .await
    // Until matching has heard of the lot, none.
    .map(|r| r.into_inner().matches)
    .unwrap_or_default()
}

fn ranked(found: &[mpb::Match]) -> Vec<(String, f64)> {
    found
        .iter()
        .map(|m| (m.partner.clone(), m.breakdown.unwrap().need))
        .collect()
}

async fn needs_first(transport: Transport) {
    let stack = Stack::start(transport).await;
    let (near, needy) = two_structures(&stack).await;
    let site = coteaux_site(&stack).await;
    // Before any need, the insertion structure next door ranks first.
    let before = published_radiators(&stack, &site, 20).await;
    let found = eventually(WAIT, || {
        let stack = &stack;
        let before = before.clone();
        async move { Some(matches(stack, &before).await).filter(|m| m.len() == 2) }
    })
    .await;
    assert_eq!(ranked(&found), [(near.clone(), 0.0), (needy.clone(), 0.0)]);

    let mut as_needy = stack
        .matching(0, Role::Partner, None, Some(&id_of(&needy)))
        .await;
    let need = as_needy
        .create_need(mpb::CreateNeedRequest {
            parent: needy.clone(),
            need: Some(radiators_wanted(3600)),
            request_id: "need-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(need.name.starts_with(&format!("{needy}/needs/")));
    assert_eq!(need.state, mpb::NeedState::Open as i32);
    let center = need.center.unwrap();
    assert_eq!((center.latitude, center.longitude), (47.7800, 7.3400));
    // Retried with its request id: the same need.
    let again = as_needy
        .create_need(mpb::CreateNeedRequest {
            parent: needy.clone(),
            need: Some(mpb::Need {
                expire_time: need.expire_time,
                ..radiators_wanted(3600)
            }),
            request_id: "need-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.name, need.name);

    // A lot published now meets the need: the structure comes first.
    let lot = published_radiators(&stack, &site, 20).await;
    let found = eventually(WAIT, || {
        let stack = &stack;
        let lot = lot.clone();
        async move { Some(matches(stack, &lot).await).filter(|m| m.len() == 2) }
    })
    .await;
    assert_eq!(ranked(&found), [(needy.clone(), 1.0), (near.clone(), 0.0)]);
    assert!(found[0].score < found[1].score, "first by need, not score");
    // And proposed to it with the need in the breakdown.
    let proposal = eventually(WAIT, || {
        let mut m = as_needy.clone();
        let lot = lot.clone();
        async move {
            let listed = m
                .list_proposals(mpb::ListProposalsRequest::default())
                .await
                .ok()?
                .into_inner()
                .proposals;
            listed
                .into_iter()
                .find(|p| p.r#match.as_ref().is_some_and(|m| m.lot == lot))
        }
    })
    .await;
    assert_eq!(proposal.r#match.unwrap().breakdown.unwrap().need, 1.0);

    // The site manager sees the open need around its site.
    let mut manager = stack
        .matching(0, Role::SiteManager, Some("m2a-habitat"), None)
        .await;
    let around = manager
        .list_needs(mpb::ListNeedsRequest {
            parent: "partners/-".into(),
            site: site.clone(),
            category: "radiateur".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .needs;
    let names: Vec<&str> = around.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, [need.name.as_str()]);
    let other_family = manager
        .list_needs(mpb::ListNeedsRequest {
            parent: "partners/-".into(),
            site: site.clone(),
            category: "tuile".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .needs;
    assert!(other_family.is_empty());

    // Edited (etag read), then closed: no one is put first any more.
    let edited = as_needy
        .update_need(mpb::UpdateNeedRequest {
            need: Some(mpb::Need {
                name: need.name.clone(),
                note: "Fonte uniquement".into(),
                etag: need.etag.clone(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["note".into()],
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(edited.note, "Fonte uniquement");
    assert_eq!(edited.category, "radiateur", "the rest kept");
    let stale = as_needy
        .update_need(mpb::UpdateNeedRequest {
            need: Some(mpb::Need {
                name: need.name.clone(),
                note: "x".into(),
                etag: need.etag.clone(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["note".into()],
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    let closed = as_needy
        .close_need(mpb::CloseNeedRequest {
            name: need.name.clone(),
            etag: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(closed.state, mpb::NeedState::Closed as i32);
    assert_eq!(
        ranked(&matches(&stack, &lot).await),
        [(near.clone(), 0.0), (needy.clone(), 0.0)]
    );

    expiry(&stack, &mut as_needy, &needy, &near, &site).await;
    stack.stop().await;
}

/// A need past its expiry reads as expired, meets no lot, and is not
/// edited any more.
async fn expiry(
    stack: &Stack,
    as_needy: &mut reemploi_e2e::Matching,
    needy: &str,
    near: &str,
    site: &str,
) {
    let short = as_needy
        .create_need(mpb::CreateNeedRequest {
            parent: needy.to_owned(),
            need: Some(radiators_wanted(2)),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let list = |state: mpb::NeedState| {
        let mut m = as_needy.clone();
        let req = mpb::ListNeedsRequest {
            parent: needy.to_owned(),
            state: state as i32,
            ..Default::default()
        };
        async move { m.list_needs(req).await.unwrap().into_inner().needs }
    };
    assert!(list(mpb::NeedState::Open).await.is_empty());
    let expired = list(mpb::NeedState::Expired).await;
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].name, short.name);
    assert_eq!(expired[0].state, mpb::NeedState::Expired as i32);
    let lot = published_radiators(stack, site, 20).await;
    let found = eventually(WAIT, || {
        let lot = lot.clone();
        async move { Some(matches(stack, &lot).await).filter(|m| m.len() == 2) }
    })
    .await;
    assert_eq!(
        ranked(&found),
        [(near.to_owned(), 0.0), (needy.to_owned(), 0.0)]
    );
    let refused = as_needy
        .update_need(mpb::UpdateNeedRequest {
            need: Some(mpb::Need {
                name: short.name.clone(),
                radius_km: 20,
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["radius_km".into()],
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused).as_deref(), Some("NEED_EXPIRED"));
}

fn fields(status: &tonic::Status) -> Vec<String> {
    let mut f: Vec<String> = field_violations(status)
        .into_iter()
        .map(|(field, _)| field)
        .collect();
    f.sort();
    f
}

async fn all_needs(stack: &Stack) -> Vec<mpb::Need> {
    let mut admin = stack.matching(0, Role::Admin, None, None).await;
    let mut all = Vec::new();
    for state in [mpb::NeedState::Open, mpb::NeedState::Closed] {
        all.extend(
            admin
                .list_needs(mpb::ListNeedsRequest {
                    parent: "partners/-".into(),
                    state: state as i32,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .needs,
        );
    }
    all
}

async fn authorization_and_bad_input(transport: Transport) {
    let stack = Stack::start(transport).await;
    let (near, needy) = two_structures(&stack).await;
    let site = coteaux_site(&stack).await;
    let as_needy = stack
        .matching(0, Role::Partner, None, Some(&id_of(&needy)))
        .await;
    let as_near = stack
        .matching(0, Role::Partner, None, Some(&id_of(&near)))
        .await;
    let manager = stack
        .matching(0, Role::SiteManager, Some("m2a-habitat"), None)
        .await;
    let stranger = stack
        .matching(0, Role::SiteManager, Some("ville-mulhouse"), None)
        .await;
    let integrator = stack.matching(0, Role::Integrator, None, None).await;
    let admin = stack.matching(0, Role::Admin, None, None).await;
    let create = |mut m: reemploi_e2e::Matching, need: mpb::Need| {
        let parent = needy.clone();
        async move {
            m.create_need(mpb::CreateNeedRequest {
                parent,
                need: Some(need),
                request_id: String::new(),
            })
            .await
        }
    };
    // Writes: the structure itself and admins only.
    for m in [&as_near, &manager, &integrator] {
        let e = create(m.clone(), radiators_wanted(3600)).await.unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied);
    }
    let own = create(as_needy.clone(), radiators_wanted(3600))
        .await
        .unwrap()
        .into_inner();
    let by_admin = create(admin.clone(), radiators_wanted(3600))
        .await
        .unwrap()
        .into_inner();
    assert!(by_admin.name.starts_with(&needy));
    let update = |mut m: reemploi_e2e::Matching, name: String| async move {
        m.update_need(mpb::UpdateNeedRequest {
            need: Some(mpb::Need {
                name,
                radius_km: 15,
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["radius_km".into()],
            }),
        })
        .await
    };
    let close = |mut m: reemploi_e2e::Matching, name: String| async move {
        m.close_need(mpb::CloseNeedRequest {
            name,
            etag: String::new(),
        })
        .await
    };
    for m in [&as_near, &manager, &integrator] {
        let e = update(m.clone(), own.name.clone()).await.unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied);
        let e = close(m.clone(), own.name.clone()).await.unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied);
    }
    assert_eq!(
        update(admin.clone(), own.name.clone())
            .await
            .unwrap()
            .into_inner()
            .radius_km,
        15
    );
    close(admin.clone(), by_admin.name.clone()).await.unwrap();
    // Reads: a structure its own; a site manager around its own sites; all.
    let list = |mut m: reemploi_e2e::Matching, parent: &str, site: &str| {
        let req = mpb::ListNeedsRequest {
            parent: parent.to_owned(),
            site: site.to_owned(),
            ..Default::default()
        };
        async move { m.list_needs(req).await.map(|r| r.into_inner().needs) }
    };
    assert_eq!(list(as_needy.clone(), &needy, "").await.unwrap().len(), 1);
    for (m, parent, s, code) in [
        (&as_near, needy.as_str(), "", Code::PermissionDenied),
        (&as_needy, "partners/-", "", Code::PermissionDenied),
        (&manager, "partners/-", "", Code::InvalidArgument),
        (
            &stranger,
            "partners/-",
            site.as_str(),
            Code::PermissionDenied,
        ),
    ] {
        let e = list(m.clone(), parent, s).await.unwrap_err();
        assert_eq!(e.code(), code, "{parent} {s}");
    }
    // Once matching has heard of the site.
    let around = eventually(WAIT, || {
        let fut = list(manager.clone(), "partners/-", &site);
        async move { fut.await.ok().filter(|n| !n.is_empty()) }
    })
    .await;
    assert_eq!(around.len(), 1);
    for m in [&admin, &integrator] {
        assert_eq!(list(m.clone(), "partners/-", "").await.unwrap().len(), 1);
    }
    bad_input(&stack, &as_needy, &needy, &own).await;
    stack.stop().await;
}

/// Bad needs are INVALID_ARGUMENT on every bad field and change nothing.
async fn bad_input(stack: &Stack, as_needy: &reemploi_e2e::Matching, needy: &str, own: &mpb::Need) {
    let before = all_needs(stack).await;
    let mut m = as_needy.clone();
    let e = m
        .create_need(mpb::CreateNeedRequest {
            parent: needy.to_owned(),
            need: Some(mpb::Need {
                category: "licorne".into(),
                min_quantity: Some(tpb::Quantity {
                    unit: tpb::Unit::Piece as i32,
                    milli: 2_500,
                }),
                radius_km: 500,
                expire_time: Some(in_secs(-60)),
                note: "x".repeat(3000),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(
        fields(&e),
        [
            "need.category",
            "need.expire_time",
            "need.min_quantity.milli",
            "need.note",
            "need.radius_km"
        ]
    );
    let e = m
        .create_need(mpb::CreateNeedRequest {
            parent: needy.to_owned(),
            need: Some(mpb::Need {
                family: "chauffage".into(),
                ..radiators_wanted(3600)
            }),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(fields(&e), ["need.family"]);
    for (paths, field) in [
        (vec!["partner".to_owned()], "update_mask"),
        (vec!["radius_km".to_owned()], "need.radius_km"),
    ] {
        let e = m
            .update_need(mpb::UpdateNeedRequest {
                need: Some(mpb::Need {
                    name: own.name.clone(),
                    radius_km: 0,
                    ..Default::default()
                }),
                update_mask: Some(FieldMask { paths }),
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert_eq!(fields(&e), [field]);
    }
    let e = m
        .close_need(mpb::CloseNeedRequest {
            name: "partners/x/needs/y".into(),
            etag: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(all_needs(stack).await, before, "nothing changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_need_posted_on_one_replica_ranks_on_the_other_in_process() {
    across_replicas(Transport::InProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_need_posted_on_one_replica_ranks_on_the_other_over_nats() {
    across_replicas(Transport::Nats).await;
}

/// Replicas share the database: a need posted through one is held by the
/// other (through the change log), and its closing too.
async fn across_replicas(transport: Transport) {
    let stack = Stack::start_with(transport, 2).await;
    let (near, needy) = two_structures(&stack).await;
    let site = coteaux_site(&stack).await;
    let mut on_first = stack
        .matching(0, Role::Partner, None, Some(&id_of(&needy)))
        .await;
    let need = on_first
        .create_need(mpb::CreateNeedRequest {
            parent: needy.clone(),
            need: Some(radiators_wanted(3600)),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let lot = published_radiators(&stack, &site, 20).await;
    let on_second = |lot: String| {
        let stack = &stack;
        async move {
            let mut m = stack
                .matching(1, Role::SiteManager, Some("m2a-habitat"), None)
                .await;
            let req = mpb::ListLotMatchesRequest { lot, page_size: 10 };
            m.list_lot_matches(req)
                .await
                .map(|r| r.into_inner().matches)
                .unwrap_or_default()
        }
    };
    let found = eventually(WAIT, || {
        let fut = on_second(lot.clone());
        async move { Some(fut.await).filter(|m| m.len() == 2) }
    })
    .await;
    assert_eq!(ranked(&found), [(needy.clone(), 1.0), (near.clone(), 0.0)]);
    on_first
        .close_need(mpb::CloseNeedRequest {
            name: need.name,
            etag: String::new(),
        })
        .await
        .unwrap();
    assert_eq!(
        ranked(&on_second(lot).await),
        [(near.clone(), 0.0), (needy.clone(), 0.0)]
    );
    stack.stop().await;
}
