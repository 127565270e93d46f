//! Every registry RPC through a real gRPC client on a real socket, on SQLite
//! and on PostgreSQL: bad input, authorization, and SIRET races.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use prost_types::FieldMask;
use reemploi_events::InProcessBus;
use reemploi_proto::registry as pb;
use reemploi_proto::registry::registry_service_client::RegistryServiceClient;
use reemploi_proto::types as tpb;
use reemploi_runtime::auth::Role;
use reemploi_runtime::status::{field_violations, reason};
use reemploi_store::Backend;
use reemploi_testing::db::TestDb;
use reemploi_testing::grpc::{self as testing, Bearer};
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use uuid::Uuid;

#[path = "api/upgrade.rs"]
mod upgrade;

type Client = RegistryServiceClient<InterceptedService<Channel, Bearer>>;

use reemploi_testing::on_both_backends;

on_both_backends!(
    every_rpc,
    bad_inputs_change_nothing,
    authorization,
    one_siret_one_partner,
    request_ids_belong_to_one_caller_and_one_request
);

/// Two partners whose tokens share a subject string share no request id;
/// one request id names one request.
async fn request_ids_belong_to_one_caller_and_one_request(backend: Backend) {
    let app = spawn(backend).await;
    let (x, y) = (Uuid::now_v7(), Uuid::now_v7());
    let mut px = app.client(Role::Partner, Some(x)).await;
    let mut py = app.client(Role::Partner, Some(y)).await;
    let register = |siret: &str| pb::RegisterPartnerRequest {
        partner: Some(partner_msg(siret)),
        request_id: "register-1".into(),
    };
    let mine = px
        .register_partner(register("90012345600015"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(mine.name, format!("partners/{x}"));
    let theirs = py
        .register_partner(register("90023456800013"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(theirs.name, format!("partners/{y}"), "Y got X's profile");
    assert_eq!(theirs.siret, "90023456800013");
    // X's retry is answered as the first time; X's key for another request is refused.
    let retry = px
        .register_partner(register("90012345600015"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retry.name, mine.name);
    let status = px
        .register_partner(register("90056789200014"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        field_violations(&status)
            .iter()
            .any(|(f, _)| f == "request_id")
    );
    app.stop().await;
}

struct App {
    addr: std::net::SocketAddr,
    served: Option<testing::Spawned>,
    _db: Option<TestDb>,
}

async fn spawn(backend: Backend) -> App {
    let db = reemploi_testing::db::fresh(backend).await;
    let mut app = spawn_on(db.db.clone()).await;
    app._db = Some(db);
    app
}

/// The registry started on `db`, as its binary starts.
async fn spawn_on(db: reemploi_store::Db) -> App {
    let bus = InProcessBus::temporary().await.unwrap();
    let ctx = testing::context(db, Arc::new(bus));
    let running = reemploi_registry::start(ctx.clone(), &Default::default())
        .await
        .unwrap();
    let served = testing::spawn(&ctx, vec![running]).await;
    App {
        addr: served.addr,
        served: Some(served),
        _db: None,
    }
}

impl App {
    async fn client(&self, role: Role, partner: Option<Uuid>) -> Client {
        let token = testing::token(role, Some("m2a"), partner.map(|p| p.to_string()).as_deref());
        RegistryServiceClient::with_interceptor(
            testing::channel(self.addr).await,
            Bearer(Some(token)),
        )
        .max_encoding_message_size(64 << 20)
    }

    async fn stop(mut self) {
        if let Some(s) = self.served.take() {
            s.stop().await.unwrap();
        }
    }
}

fn partner_msg(siret: &str) -> pb::Partner {
    pb::Partner {
        legal_name: "Atelier Réemploi Coteaux".into(),
        trade_name: "ARC".into(),
        siret: siret.into(),
        kinds: vec![pb::PartnerKind::Aci as i32],
        address: Some(pb::Address {
            line1: "12 rue de Provence".into(),
            postal_code: "68100".into(),
            commune: "Mulhouse".into(),
            insee_code: "68224".into(),
        }),
        location: Some(tpb::GeoPoint {
            latitude: 47.7480,
            longitude: 7.3200,
        }),
        accepted_categories: vec!["porte-interieure".into(), "radiateur".into()],
        capabilities: vec![
            pb::Capability::Collection as i32,
            pb::Capability::Refurbishing as i32,
        ],
        storage_capacity_kg: 20_000,
        weekly_intake_kg: 8_000,
        service_radius_km: 15,
        insertion_fte_centi: 1250,
        contact: Some(pb::Contact {
            name: "Camille".into(),
            email: "contact@arc.example".into(),
            phone: "03 89 00 00 00".into(),
        }),
        opening_hours: "lun-ven 8h-16h".into(),
        ..Default::default()
    }
}

fn register(partner: pb::Partner) -> pb::RegisterPartnerRequest {
    pb::RegisterPartnerRequest {
        partner: Some(partner),
        request_id: String::new(),
    }
}

async fn all(admin: &mut Client) -> Vec<pb::Partner> {
    admin
        .list_partners(pb::ListPartnersRequest {
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .partners
}

async fn every_rpc(backend: Backend) {
    let app = spawn(backend).await;
    let mut admin = app.client(Role::Admin, None).await;
    // A partner registers its own structure, under its token's id; a retry returns the same.
    let own = Uuid::now_v7();
    let mut me = app.client(Role::Partner, Some(own)).await;
    let req = pb::RegisterPartnerRequest {
        partner: Some(partner_msg("90012345600015")),
        request_id: "r1".into(),
    };
    let arc = me.register_partner(req.clone()).await.unwrap().into_inner();
    assert_eq!(arc.name, format!("partners/{own}"));
    assert_eq!(arc.status, pb::PartnerStatus::Pending as i32);
    assert_eq!(me.register_partner(req).await.unwrap().into_inner(), arc);
    assert_eq!(
        admin
            .get_partner(pb::GetPartnerRequest {
                name: arc.name.clone()
            })
            .await
            .unwrap()
            .into_inner(),
        arc
    );

    // Directory import: all at once.
    let mut rhin = partner_msg("90023456800013");
    rhin.legal_name = "Ressourcerie du Rhin".into();
    rhin.kinds = vec![
        pb::PartnerKind::Aci as i32,
        pb::PartnerKind::Ressourcerie as i32,
    ];
    rhin.location = Some(tpb::GeoPoint {
        latitude: 47.7872,
        longitude: 7.3731,
    });
    rhin.accepted_categories = vec!["mobilier".into()];
    let mut coop = partner_msg("90056789200014");
    coop.legal_name = "Coop Matériaux Partagés".into();
    coop.kinds = vec![pb::PartnerKind::Scic as i32];
    let batch = admin
        .batch_register_partners(pb::BatchRegisterPartnersRequest {
            requests: vec![register(rhin), register(coop)],
            request_id: "b1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(batch.partners.len(), 2);

    // Lifecycle: verify, suspend, reinstate, archive (which frees the SIRET).
    let v = admin
        .verify_partner(pb::VerifyPartnerRequest {
            name: arc.name.clone(),
            etag: arc.etag.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v.status, pb::PartnerStatus::Verified as i32);
    let s = admin
        .suspend_partner(pb::SuspendPartnerRequest {
            name: arc.name.clone(),
            reason: "contrôle".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.status, pb::PartnerStatus::Suspended as i32);
    let r = admin
        .reinstate_partner(pb::ReinstatePartnerRequest {
            name: arc.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.status, pb::PartnerStatus::Verified as i32);
    assert_eq!(r.version, arc.version + 3);

    // Update with a mask: the partner edits its own profile.
    let updated = me
        .update_partner(pb::UpdatePartnerRequest {
            partner: Some(pb::Partner {
                name: arc.name.clone(),
                weekly_intake_kg: 9_500,
                etag: r.etag.clone(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["weekly_intake_kg".into()],
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.weekly_intake_kg, 9_500);
    assert_eq!(updated.legal_name, arc.legal_name);

    // Filters: kind, category, radius, status, text; pagination.
    let list = |req: pb::ListPartnersRequest| {
        let mut admin = admin.clone();
        async move {
            admin
                .list_partners(req)
                .await
                .unwrap()
                .into_inner()
                .partners
        }
    };
    assert_eq!(
        list(pb::ListPartnersRequest {
            kind: pb::PartnerKind::Ressourcerie as i32,
            ..Default::default()
        })
        .await
        .len(),
        1
    );
    assert_eq!(
        list(pb::ListPartnersRequest {
            category: "radiateur".into(),
            ..Default::default()
        })
        .await
        .len(),
        2
    );
    assert_eq!(
        list(pb::ListPartnersRequest {
            category: "mobilier".into(),
            ..Default::default()
        })
        .await
        .len(),
        1
    );
    let near = list(pb::ListPartnersRequest {
        near: Some(tpb::GeoPoint {
            latitude: 47.7872,
            longitude: 7.3731,
        }),
        radius_m: 2_000,
        ..Default::default()
    })
    .await;
    assert_eq!(
        near.iter()
            .map(|p| p.legal_name.as_str())
            .collect::<Vec<_>>(),
        vec!["Ressourcerie du Rhin"]
    );
    assert_eq!(
        list(pb::ListPartnersRequest {
            status: pb::PartnerStatus::Verified as i32,
            ..Default::default()
        })
        .await
        .len(),
        1
    );
    assert_eq!(
        list(pb::ListPartnersRequest {
            text: "coop".into(),
            ..Default::default()
        })
        .await
        .len(),
        1
    );
    let first = admin
        .list_partners(pb::ListPartnersRequest {
            page_size: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.partners.len(), 2);
    let second = admin
        .list_partners(pb::ListPartnersRequest {
            page_size: 2,
            page_token: first.next_page_token,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.partners.len(), 1);
    assert!(second.next_page_token.is_empty());
    // A site manager sees verified partners only.
    let mut manager = app.client(Role::SiteManager, None).await;
    let seen = manager
        .list_partners(pb::ListPartnersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .partners;
    assert_eq!(seen.len(), 1);

    let archived = admin
        .archive_partner(pb::ArchivePartnerRequest {
            name: arc.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(archived.status, pb::PartnerStatus::Archived as i32);
    // The SIRET of an archived partner can be registered again.
    admin
        .register_partner(register(partner_msg("90012345600015")))
        .await
        .unwrap();
    app.stop().await;
}

async fn bad_inputs_change_nothing(backend: Backend) {
    let app = spawn(backend).await;
    let mut admin = app.client(Role::Admin, None).await;
    admin
        .register_partner(register(partner_msg("73282932000074")))
        .await
        .unwrap();
    let before = all(&mut admin).await;
    // The La Poste vectors are valid SIRETs: registering them works (then archive them to leave state unchanged below).
    for valid in ["35600000000048", "35600000049837"] {
        let p = admin
            .register_partner(register(partner_msg(valid)))
            .await
            .unwrap()
            .into_inner();
        admin
            .archive_partner(pb::ArchivePartnerRequest {
                name: p.name,
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let before_archived = all(&mut admin).await;
    assert_eq!(before_archived.len(), before.len() + 2);
    let cases: Vec<(&str, pb::Partner, Code, &str)> = vec![
        (
            "bad SIRET",
            partner_msg("12345678912345"),
            Code::InvalidArgument,
            "partner.siret",
        ),
        (
            "short SIRET",
            partner_msg("1234"),
            Code::InvalidArgument,
            "partner.siret",
        ),
        (
            "SIRET with letters",
            partner_msg("9001234560001A"),
            Code::InvalidArgument,
            "partner.siret",
        ),
        (
            "taken SIRET",
            partner_msg("73282932000074"),
            Code::AlreadyExists,
            "",
        ),
        (
            "radius 0",
            pb::Partner {
                service_radius_km: 0,
                ..partner_msg("90034567900014")
            },
            Code::InvalidArgument,
            "partner.service_radius_km",
        ),
        (
            "radius 201",
            pb::Partner {
                service_radius_km: 201,
                ..partner_msg("90034567900014")
            },
            Code::InvalidArgument,
            "partner.service_radius_km",
        ),
        (
            "unknown category",
            pb::Partner {
                accepted_categories: vec!["licorne".into()],
                ..partner_msg("90034567900014")
            },
            Code::InvalidArgument,
            "partner.accepted_categories[0]",
        ),
        (
            "unknown kind",
            pb::Partner {
                kinds: vec![99],
                ..partner_msg("90034567900014")
            },
            Code::InvalidArgument,
            "partner.kinds",
        ),
        (
            "no kind",
            pb::Partner {
                kinds: vec![],
                ..partner_msg("90034567900014")
            },
            Code::InvalidArgument,
            "partner.kinds",
        ),
        (
            "negative capacity",
            pb::Partner {
                storage_capacity_kg: -1,
                ..partner_msg("90034567900014")
            },
            Code::InvalidArgument,
            "partner.storage_capacity_kg",
        ),
        (
            "2 MB name",
            pb::Partner {
                legal_name: "x".repeat(2 << 20),
                ..partner_msg("90034567900014")
            },
            Code::InvalidArgument,
            "partner.legal_name",
        ),
        (
            "latitude 91",
            pb::Partner {
                location: Some(tpb::GeoPoint {
                    latitude: 91.0,
                    longitude: 7.0,
                }),
                ..partner_msg("90034567900014")
            },
            Code::InvalidArgument,
            "partner.latitude",
        ),
    ];
    for (what, partner, code, field) in cases {
        let status = admin
            .register_partner(register(partner))
            .await
            .expect_err(what);
        assert_eq!(status.code(), code, "{what}: {status:?}");
        assert!(reason(&status).is_some(), "{what}");
        if !field.is_empty() {
            let fields = field_violations(&status);
            assert!(fields.iter().any(|(f, _)| f == field), "{what}: {fields:?}");
        }
    }
    // A batch with bad rows: every bad row reported, nothing registered.
    let status = admin
        .batch_register_partners(pb::BatchRegisterPartnersRequest {
            requests: vec![
                register(partner_msg("90045678100013")),
                register(partner_msg("12345678912345")),
                register(pb::Partner {
                    service_radius_km: 500,
                    ..partner_msg("90034567900014")
                }),
                register(partner_msg("90045678100013")),
            ],
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    let fields: Vec<String> = field_violations(&status)
        .into_iter()
        .map(|(f, _)| f)
        .collect();
    assert_eq!(
        fields,
        vec![
            "requests[1].partner.siret",
            "requests[2].partner.service_radius_km",
            "requests[3].partner.siret"
        ]
    );
    assert_eq!(
        all(&mut admin).await,
        before_archived,
        "refused requests changed nothing"
    );
    app.stop().await;
}

async fn authorization(backend: Backend) {
    let app = spawn(backend).await;
    let mut admin = app.client(Role::Admin, None).await;
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let mut pa = app.client(Role::Partner, Some(a)).await;
    let mut pb_client = app.client(Role::Partner, Some(b)).await;
    let first = pa
        .register_partner(register(partner_msg("90012345600015")))
        .await
        .unwrap()
        .into_inner();
    pb_client
        .register_partner(register(partner_msg("90023456800013")))
        .await
        .unwrap();
    // A partner editing another partner.
    let denied = pb_client
        .update_partner(pb::UpdatePartnerRequest {
            partner: Some(pb::Partner {
                name: first.name.clone(),
                legal_name: "Pris".into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["legal_name".into()],
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    // A non-admin verifying, even itself; a site manager registering.
    let denied = pa
        .verify_partner(pb::VerifyPartnerRequest {
            name: first.name.clone(),
            etag: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let mut manager = app.client(Role::SiteManager, None).await;
    let denied = manager
        .verify_partner(pb::VerifyPartnerRequest {
            name: first.name.clone(),
            etag: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let denied = manager
        .register_partner(register(partner_msg("90034567900014")))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    // A partner does not see others still pending.
    let hidden = pa
        .get_partner(pb::GetPartnerRequest {
            name: format!("partners/{b}"),
        })
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound);
    // A stale etag.
    let stale = admin
        .verify_partner(pb::VerifyPartnerRequest {
            name: first.name.clone(),
            etag: "\"9\"".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    // Nothing changed.
    let now = admin
        .get_partner(pb::GetPartnerRequest {
            name: first.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(now, first);
    // No token at all.
    let mut anonymous =
        RegistryServiceClient::with_interceptor(testing::channel(app.addr).await, Bearer(None));
    let status = anonymous
        .list_partners(pb::ListPartnersRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    app.stop().await;
}

async fn one_siret_one_partner(backend: Backend) {
    let app = spawn(backend).await;
    let admin = app.client(Role::Admin, None).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let mut c = admin.clone();
        tasks.spawn(async move {
            c.register_partner(register(partner_msg("90045678100013")))
                .await
        });
    }
    let mut ok = 0;
    while let Some(done) = tasks.join_next().await {
        match done.unwrap() {
            Ok(_) => ok += 1,
            Err(status) => assert!(
                matches!(status.code(), Code::AlreadyExists),
                "a losing registration gets ALREADY_EXISTS, not {status:?}"
            ),
        }
    }
    assert_eq!(ok, 1);
    let mut admin = admin;
    assert_eq!(all(&mut admin).await.len(), 1);
    app.stop().await;
}
