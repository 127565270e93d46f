//! Pick-up slots: a full slot refuses the next truck (under concurrent
//! bookings too), only the claim's partner books, only a confirmed claim of
//! the slot's site is booked, who may do what, bad input, and the site's
//! day of pick-ups.

use super::*;

on_both_backends!(
    a_full_slot_refuses_the_next_booking,
    concurrent_bookings_fill_a_slot_once,
    only_the_claims_partner_books,
    only_confirmed_claims_of_the_site_are_booked,
    slot_authorization,
    bad_slots_change_nothing,
    the_day_view_lists_that_days_pickups,
);

const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Midnight (UTC) `days` days from today.
fn midnight(days: i64) -> i64 {
    (now_secs() / DAY + days) * DAY
}

fn slot(start: i64, hours: i64, trucks: i32) -> pb::PickupSlot {
    pb::PickupSlot {
        start_time: ts(start),
        end_time: ts(start + hours * HOUR),
        trucks,
        access_instructions: "Portail nord, badge à l'accueil".into(),
        contact_name: "Mme Keller".into(),
        contact_phone: "+33 3 89 00 00 00".into(),
        ..Default::default()
    }
}

async fn create_slot(m: &mut Client, site: &pb::Site, s: pb::PickupSlot) -> pb::PickupSlot {
    m.create_pickup_slot(pb::CreatePickupSlotRequest {
        parent: site.name.clone(),
        pickup_slot: Some(s),
    })
    .await
    .unwrap()
    .into_inner()
}

fn book(slot: &pb::PickupSlot, claim: &pb::Claim) -> pb::BookPickupSlotRequest {
    pb::BookPickupSlotRequest {
        name: slot.name.clone(),
        claim: claim.name.clone(),
    }
}

/// A claim of `lot` by a new verified partner, confirmed when `confirm`.
async fn claim_of(app: &App, m: &mut Client, lot: &pb::Lot, confirm: bool) -> (pb::Claim, Client) {
    let partner = app.verified_partner().await;
    let mut p = app.partner(partner).await;
    let claim = p
        .claim_lot(claim_req(lot, partner, 1, "slot"))
        .await
        .unwrap()
        .into_inner();
    if !confirm {
        return (claim, p);
    }
    let claim = m
        .confirm_claim(pb::ConfirmClaimRequest {
            name: claim.name,
            etag: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    (claim, p)
}

async fn slots_of(c: &mut Client, site: &pb::Site) -> Vec<pb::PickupSlot> {
    c.list_pickup_slots(pb::ListPickupSlotsRequest {
        parent: site.name.clone(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .pickup_slots
}

fn day(site: &pb::Site, days: i64) -> pb::ListPickupsRequest {
    pb::ListPickupsRequest {
        parent: site.name.clone(),
        start_time: ts(midnight(days)),
        end_time: ts(midnight(days + 1)),
        ..Default::default()
    }
}

/// Two trucks, three claims: the third is refused `SLOT_FULL`; the same
/// claim twice is ALREADY_EXISTS; a slot with bookings is not deleted.
async fn a_full_slot_refuses_the_next_booking(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = app.manager().await;
    let site = new_site(&mut m).await;
    let lot = published_lot(&mut m, &site, 10).await;
    let s = create_slot(&mut m, &site, slot(midnight(1) + 8 * HOUR, 2, 2)).await;
    assert_eq!((s.trucks, s.booked), (2, 0));
    let mut first = Vec::new();
    for _ in 0..2 {
        let (claim, mut p) = claim_of(&app, &mut m, &lot, true).await;
        let booked = p.book_pickup_slot(book(&s, &claim)).await.unwrap();
        assert_eq!(booked.into_inner().claim, claim.name);
        let again = p.book_pickup_slot(book(&s, &claim)).await.unwrap_err();
        assert_eq!(again.code(), Code::AlreadyExists, "{again:?}");
        first.push((claim, p));
    }
    let (third, mut p) = claim_of(&app, &mut m, &lot, true).await;
    let full = p.book_pickup_slot(book(&s, &third)).await.unwrap_err();
    assert_eq!(full.code(), Code::FailedPrecondition, "{full:?}");
    assert_eq!(reason(&full).as_deref(), Some("SLOT_FULL"));
    assert_eq!(slots_of(&mut m, &site).await[0].booked, 2);

    // A claim cancelled gives its truck back and leaves the day's list.
    let (gone, by) = &mut first[0];
    by.cancel_claim(pb::CancelClaimRequest {
        name: gone.name.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(slots_of(&mut m, &site).await[0].booked, 1);
    p.book_pickup_slot(book(&s, &third)).await.unwrap();
    let listed: Vec<String> = m
        .list_pickups(day(&site, 1))
        .await
        .unwrap()
        .into_inner()
        .pickups
        .into_iter()
        .map(|b| b.claim)
        .collect();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(!listed.contains(&gone.name), "{listed:?}");

    let booked = m
        .delete_pickup_slot(pb::DeletePickupSlotRequest {
            name: s.name.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&booked).as_deref(), Some("SLOT_BOOKED"));
    let empty = create_slot(&mut m, &site, slot(midnight(2), 1, 1)).await;
    m.delete_pickup_slot(pb::DeletePickupSlotRequest {
        name: empty.name.clone(),
    })
    .await
    .unwrap();
    let left: Vec<String> = slots_of(&mut m, &site)
        .await
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(left, vec![s.name]);
}

/// Eight partners book a one-truck slot at once: exactly one gets it.
async fn concurrent_bookings_fill_a_slot_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = app.manager().await;
    let site = new_site(&mut m).await;
    let lot = published_lot(&mut m, &site, 20).await;
    let s = create_slot(&mut m, &site, slot(midnight(1) + 9 * HOUR, 1, 1)).await;
    let mut racers = Vec::new();
    for _ in 0..8 {
        racers.push(claim_of(&app, &mut m, &lot, true).await);
    }
    let tasks: Vec<_> = racers
        .into_iter()
        .map(|(claim, mut p)| {
            let req = book(&s, &claim);
            tokio::spawn(async move { p.book_pickup_slot(req).await })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => won += 1,
            Err(e) => assert_eq!(reason(&e).as_deref(), Some("SLOT_FULL"), "{e:?}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(slots_of(&mut m, &site).await[0].booked, 1);
    let pickups = m.list_pickups(day(&site, 1)).await.unwrap().into_inner();
    assert_eq!(pickups.pickups.len(), 1);
}

/// The site's manager, another partner and an integrator may not book a
/// claim; its partner and an admin may.
async fn only_the_claims_partner_books(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = app.manager().await;
    let site = new_site(&mut m).await;
    let lot = published_lot(&mut m, &site, 10).await;
    let s = create_slot(&mut m, &site, slot(midnight(1) + 8 * HOUR, 4, 10)).await;
    let (claim, mut own) = claim_of(&app, &mut m, &lot, true).await;
    let (_, mut stranger) = claim_of(&app, &mut m, &lot, true).await;
    let mut integrator = app.client_with(Some(token_for(Role::Integrator))).await;
    for (who, c, code) in [
        ("the site's manager", &mut m, Code::PermissionDenied),
        ("an integrator", &mut integrator, Code::PermissionDenied),
        // Who cannot see the claim is told no more than that.
        ("another partner", &mut stranger, Code::NotFound),
    ] {
        let refused = c.book_pickup_slot(book(&s, &claim)).await.unwrap_err();
        assert_eq!(refused.code(), code, "{who}: {refused:?}");
    }
    assert_eq!(slots_of(&mut m, &site).await[0].booked, 0);
    own.book_pickup_slot(book(&s, &claim)).await.unwrap();
    let (other, _) = claim_of(&app, &mut m, &lot, true).await;
    let mut admin = app.client_with(Some(token_for(Role::Admin))).await;
    admin.book_pickup_slot(book(&s, &other)).await.unwrap();
    assert_eq!(slots_of(&mut m, &site).await[0].booked, 2);
}

/// A reserved claim, and a confirmed claim of another site, are refused
/// with their reason.
async fn only_confirmed_claims_of_the_site_are_booked(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = app.manager().await;
    let site = new_site(&mut m).await;
    let lot = published_lot(&mut m, &site, 10).await;
    let elsewhere = new_site(&mut m).await;
    let far_lot = published_lot(&mut m, &elsewhere, 10).await;
    let s = create_slot(&mut m, &site, slot(midnight(1) + 8 * HOUR, 4, 10)).await;

    let (reserved, mut p) = claim_of(&app, &mut m, &lot, false).await;
    let refused = p.book_pickup_slot(book(&s, &reserved)).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert_eq!(reason(&refused).as_deref(), Some("CLAIM_NOT_CONFIRMED"));

    let (far, mut q) = claim_of(&app, &mut m, &far_lot, true).await;
    let refused = q.book_pickup_slot(book(&s, &far)).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert_eq!(reason(&refused).as_deref(), Some("OTHER_SITE"));
    assert_eq!(slots_of(&mut m, &site).await[0].booked, 0);
}

/// Creating, deleting and the day view: the site's managers and admins;
/// another organisation's manager, a partner and an integrator are refused.
async fn slot_authorization(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = app.manager().await;
    let site = new_site(&mut m).await;
    let s = create_slot(&mut m, &site, slot(midnight(1) + 8 * HOUR, 2, 1)).await;
    let partner = app.verified_partner().await;
    let mut p = app.partner(partner).await;
    let mut other_org = app
        .client_with(Some(token(Role::SiteManager, Some("org-other"), None)))
        .await;
    let mut integrator = app.client_with(Some(token_for(Role::Integrator))).await;
    let mut admin = app.client_with(Some(token_for(Role::Admin))).await;
    for (who, c) in [
        ("another organisation", &mut other_org),
        ("a partner", &mut p),
        ("an integrator", &mut integrator),
    ] {
        let refused = c
            .create_pickup_slot(pb::CreatePickupSlotRequest {
                parent: site.name.clone(),
                pickup_slot: Some(slot(midnight(1), 1, 1)),
            })
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{who} creates");
        let refused = c.list_pickups(day(&site, 1)).await.unwrap_err();
        assert_eq!(
            refused.code(),
            Code::PermissionDenied,
            "{who} reads the day"
        );
        let refused = c
            .delete_pickup_slot(pb::DeletePickupSlotRequest {
                name: s.name.clone(),
            })
            .await
            .unwrap_err();
        let code = if who == "another organisation" {
            Code::NotFound
        } else {
            Code::PermissionDenied
        };
        assert_eq!(refused.code(), code, "{who} deletes");
    }
    // Partners and integrators see the slots, to book them; another
    // organisation's manager does not see the site.
    assert_eq!(slots_of(&mut p, &site).await.len(), 1);
    assert_eq!(slots_of(&mut integrator, &site).await.len(), 1);
    let hidden = other_org
        .list_pickup_slots(pb::ListPickupSlotsRequest {
            parent: site.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound);

    let by_admin = create_slot(&mut admin, &site, slot(midnight(2), 1, 1)).await;
    admin.list_pickups(day(&site, 1)).await.unwrap();
    admin
        .delete_pickup_slot(pb::DeletePickupSlotRequest {
            name: by_admin.name,
        })
        .await
        .unwrap();
    assert_eq!(slots_of(&mut m, &site).await.len(), 1);
}

/// Each bad slot is INVALID_ARGUMENT naming its field, and creates nothing.
async fn bad_slots_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = app.manager().await;
    let site = new_site(&mut m).await;
    let start = midnight(1) + 8 * HOUR;
    let past = slot(now_secs() - HOUR, 1, 1);
    let mut backwards = slot(start, 1, 1);
    backwards.end_time = ts(start - HOUR);
    let too_long = slot(start, 25, 1);
    let no_trucks = slot(start, 1, 0);
    let too_many = slot(start, 1, 51);
    let mut no_contact = slot(start, 1, 1);
    no_contact.contact_name = String::new();
    let mut no_phone = slot(start, 1, 1);
    no_phone.contact_phone = " ".into();
    let mut long_access = slot(start, 1, 1);
    long_access.access_instructions = "x".repeat(2001);
    let mut no_start = slot(start, 1, 1);
    no_start.start_time = None;
    for (bad, field) in [
        (past, "pickup_slot.start_time"),
        (backwards, "pickup_slot.end_time"),
        (too_long, "pickup_slot.end_time"),
        (no_trucks, "pickup_slot.trucks"),
        (too_many, "pickup_slot.trucks"),
        (no_contact, "pickup_slot.contact_name"),
        (no_phone, "pickup_slot.contact_phone"),
        (long_access, "pickup_slot.access_instructions"),
        (no_start, "pickup_slot.start_time"),
    ] {
        let refused = m
            .create_pickup_slot(pb::CreatePickupSlotRequest {
                parent: site.name.clone(),
                pickup_slot: Some(bad),
            })
            .await
            .unwrap_err();
        assert_eq!(
            refused.code(),
            Code::InvalidArgument,
            "{field}: {refused:?}"
        );
        let fields: Vec<String> = field_violations(&refused)
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        assert_eq!(fields, vec![field.to_string()], "{refused:?}");
    }
    assert!(slots_of(&mut m, &site).await.is_empty());

    let partner = app.verified_partner().await;
    let mut p = app.partner(partner).await;
    let refused = p
        .book_pickup_slot(pb::BookPickupSlotRequest {
            name: format!("{}/slots/x", site.name),
            claim: "claims/1".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let fields: Vec<String> = field_violations(&refused)
        .into_iter()
        .map(|(f, _)| f)
        .collect();
    assert_eq!(fields, vec!["name".to_string(), "claim".to_string()]);
    let mut wide = day(&site, 1);
    wide.end_time = ts(midnight(40));
    let refused = m.list_pickups(wide).await.unwrap_err();
    assert_eq!(field_violations(&refused)[0].0, "end_time");
    let mut open = day(&site, 1);
    open.start_time = None;
    let refused = m.list_pickups(open).await.unwrap_err();
    assert_eq!(field_violations(&refused)[0].0, "start_time");
    assert!(
        m.list_pickups(day(&site, 1))
            .await
            .unwrap()
            .into_inner()
            .pickups
            .is_empty()
    );
}

/// Bookings tomorrow and the day after: each day lists its own, by slot
/// start, with the claim, its partner, lot and the slot's window.
async fn the_day_view_lists_that_days_pickups(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = app.manager().await;
    let site = new_site(&mut m).await;
    let lot = published_lot(&mut m, &site, 10).await;
    let late = create_slot(&mut m, &site, slot(midnight(1) + 14 * HOUR, 2, 5)).await;
    let early = create_slot(&mut m, &site, slot(midnight(1) + 8 * HOUR, 2, 5)).await;
    let next = create_slot(&mut m, &site, slot(midnight(2) + 8 * HOUR, 2, 5)).await;
    let (a, mut pa) = claim_of(&app, &mut m, &lot, true).await;
    let (b, mut pb_) = claim_of(&app, &mut m, &lot, true).await;
    pa.book_pickup_slot(book(&late, &a)).await.unwrap();
    pb_.book_pickup_slot(book(&early, &b)).await.unwrap();
    pa.book_pickup_slot(book(&next, &a)).await.unwrap();

    let tomorrow = m.list_pickups(day(&site, 1)).await.unwrap().into_inner();
    let seen: Vec<(&str, &str, &str)> = tomorrow
        .pickups
        .iter()
        .map(|p| (p.claim.as_str(), p.partner.as_str(), p.lot.as_str()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (b.name.as_str(), b.partner.as_str(), lot.name.as_str()),
            (a.name.as_str(), a.partner.as_str(), lot.name.as_str()),
        ]
    );
    assert_eq!(tomorrow.pickups[0].start_time, early.start_time);
    assert_eq!(tomorrow.pickups[0].end_time, early.end_time);
    let after = m.list_pickups(day(&site, 2)).await.unwrap().into_inner();
    assert_eq!(after.pickups.len(), 1);
    assert_eq!(after.pickups[0].start_time, next.start_time);
    assert!(
        m.list_pickups(day(&site, 3))
            .await
            .unwrap()
            .into_inner()
            .pickups
            .is_empty()
    );
}
