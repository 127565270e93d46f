//! The audit trail end to end: every change of a claim, its lot, its site
//! and its partner names the account that made it, as the token said;
//! admins alone read it, by resource. Both buses, both backends.

use reemploi_proto::audit as apb;
use reemploi_proto::events::Actor;
use reemploi_proto::identity::AccountRole;
use reemploi_runtime::auth::{claims_for, issue_hs256};
use reemploi_runtime::status::field_violations;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_trail_names_who_did_what_in_process() {
    the_trail_names_who_did_what(Transport::InProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_trail_names_who_did_what_over_nats() {
    the_trail_names_who_did_what(Transport::Nats).await;
}

/// The trail of `resource`, all of it, as an admin reads it, two at a time
/// (so that paging is crossed).
async fn trail(stack: &Stack, resource: &str) -> Vec<apb::AuditEntry> {
    let mut admin = stack.audit(Role::Admin, None, None).await;
    let mut entries = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = admin
            .list_audit_entries(apb::ListAuditEntriesRequest {
                resource: resource.to_owned(),
                page_size: 2,
                page_token,
            })
            .await
            .unwrap()
            .into_inner();
        entries.extend(page.entries);
        if page.next_page_token.is_empty() {
            return entries;
        }
        page_token = page.next_page_token;
    }
}

fn kinds(entries: &[apb::AuditEntry]) -> Vec<&str> {
    entries
        .iter()
        .map(|e| e.event_type.trim_start_matches("reemploi."))
        .collect()
}

async fn the_trail_names_who_did_what(transport: Transport) {
    let stack = Stack::start(transport).await;
    let site = coteaux_site(&stack).await;
    let lot = published_radiators(&stack, &site, 10).await;
    let mut admin = stack.registry(Role::Admin, None).await;
    let partner = verified(
        &mut admin,
        partner_at("Atelier", &siret(11), 47.75, 7.30, 30),
    )
    .await;
    let id = partner.trim_start_matches("partners/").to_owned();
    let taker = stack.inventory(Role::Partner, None, Some(&id)).await;
    let claim = eventually(WAIT, || {
        let mut c = taker.clone();
        let req = ipb::ClaimLotRequest {
            lot: lot.clone(),
            partner: partner.clone(),
            quantity: Some(tpb::Quantity {
                unit: tpb::Unit::Piece as i32,
                milli: 3_000,
            }),
            request_id: uuid::Uuid::now_v7().to_string(),
            ..Default::default()
        };
        async move { c.claim_lot(req).await.ok().map(|r| r.into_inner().name) }
    })
    .await;
    // A named site manager of the site's organisation confirms.
    let mut chef = claims_for(
        Role::SiteManager,
        Some("m2a-habitat".into()),
        None,
        Duration::from_secs(600),
    );
    chef.sub = "accounts/0191e5a0-aaaa-7000-8000-00000000c4ef".into();
    let mut chef = stack
        .inventory_with(issue_hs256(reemploi_testing::grpc::SECRET, &chef).unwrap())
        .await;
    chef.confirm_claim(ipb::ConfirmClaimRequest {
        name: claim.clone(),
        etag: String::new(),
    })
    .await
    .unwrap();

    // The claim's trail: reserved by the partner, confirmed by the chef.
    let entries = eventually(WAIT, || async {
        let entries = trail(&stack, &claim).await;
        (entries.len() == 2).then_some(entries)
    })
    .await;
    assert_eq!(
        kinds(&entries),
        ["inventory.claim.reserved", "inventory.claim.confirmed"]
    );
    assert!(entries.iter().all(|e| e.resource == claim));
    assert_eq!(
        entries[0].actor,
        Some(Actor {
            subject: "dev:partner".into(),
            role: AccountRole::Partner as i32,
            organization: String::new(),
            partner: partner.clone(),
        })
    );
    assert_eq!(
        entries[1].actor,
        Some(Actor {
            subject: "accounts/0191e5a0-aaaa-7000-8000-00000000c4ef".into(),
            role: AccountRole::SiteManager as i32,
            organization: "m2a-habitat".into(),
            partner: String::new(),
        })
    );
    assert!(entries[1].resource_version > entries[0].resource_version);

    // A site's trail holds its lots' and their claims', oldest first.
    let site_trail = trail(&stack, &site).await;
    assert_eq!(
        kinds(&site_trail),
        [
            "inventory.site.created",
            "inventory.lot.created",
            "inventory.lot.published",
            "inventory.claim.reserved",
            // The lot's ledger, with what the claim reserved.
            "inventory.lot.updated",
            "inventory.claim.confirmed",
        ]
    );
    assert_eq!(
        kinds(&trail(&stack, &lot).await)[..2],
        ["inventory.lot.created", "inventory.lot.published"]
    );
    // A partner's: its registration and verification by the admin, and its claims.
    let partner_trail = trail(&stack, &partner).await;
    assert_eq!(
        kinds(&partner_trail),
        [
            "registry.partner.registered",
            "registry.partner.verified",
            "inventory.claim.reserved",
            "inventory.claim.confirmed",
        ]
    );
    assert_eq!(
        partner_trail[1].actor.as_ref().map(|a| a.role),
        Some(AccountRole::Admin as i32)
    );

    // Admins only; a name that is no resource is refused on its field.
    for (role, org, partner) in [
        (Role::SiteManager, Some("m2a-habitat"), None),
        (Role::Partner, None, Some(id.as_str())),
        (Role::Integrator, None, None),
    ] {
        let denied = stack
            .audit(role, org, partner)
            .await
            .list_audit_entries(apb::ListAuditEntriesRequest {
                resource: claim.clone(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied, "{role:?}");
    }
    let refused = stack
        .audit(Role::Admin, None, None)
        .await
        .list_audit_entries(apb::ListAuditEntriesRequest {
            resource: "accounts/someone".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(field_violations(&refused)[0].0, "resource");
    stack.stop().await;
}
