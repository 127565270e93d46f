//! The structure's profile (`/structure` once registered): what the
//! registry holds, and the registration form's fields to change it. Only
//! the fields that changed are sent, named in the update mask, with the
//! etag the form was shown with: someone else's change meanwhile is
//! refused, not overwritten.

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use maud::{Markup, html};
use reemploi_proto::registry::{self as rpb, Partner, PartnerKind};

use super::partner::{own_partner, partner_of, partner_page, profile_fields};
use super::{judged, require};
use crate::WebState;
use crate::backend::bearer;
use crate::error::{WebError, redirect};
use crate::form::Fields;
use crate::session::{Auth, Role, Session};
use crate::text::T;
use crate::view::{self, Errors};

/// The profile form filled with what the registry holds.
pub(super) fn form_of(partner: &Partner) -> Fields {
    let address = partner.address.clone().unwrap_or_default();
    let contact = partner.contact.clone().unwrap_or_default();
    let location = partner.location.unwrap_or_default();
    let kind = partner
        .kinds
        .first()
        .and_then(|k| PartnerKind::try_from(*k).ok())
        .unwrap_or(PartnerKind::Unspecified);
    let mut pairs = vec![
        ("legal_name", partner.legal_name.clone()),
        ("siret", partner.siret.clone()),
        ("kind", kind.as_str_name().to_owned()),
        ("line1", address.line1),
        ("postal_code", address.postal_code),
        ("commune", address.commune),
        ("latitude", location.latitude.to_string()),
        ("longitude", location.longitude.to_string()),
        ("service_radius_km", partner.service_radius_km.to_string()),
        ("weekly_intake_kg", partner.weekly_intake_kg.to_string()),
        ("email", contact.email),
        ("phone", contact.phone),
        ("etag", partner.etag.clone()),
    ];
    pairs.extend(
        partner
            .accepted_categories
            .iter()
            .map(|c| ("accepted_categories", c.clone())),
    );
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// The profile page: the registration's summary, then the edit form.
pub(super) fn page(
    session: &Session,
    partner: &Partner,
    form: &Fields,
    errors: &Errors,
    saved: bool,
) -> Markup {
    let body = html! {
        @if saved { p.notice role="status" { (T::PROFILE_SAVED) } }
        p { (T::REGISTERED) }
        dl {
            dt { (T::LEGAL_NAME) } dd { (partner.legal_name) }
            dt { (T::COL_SIRET) } dd { (partner.siret) }
            dt { (T::STRUCTURE_STATUS) } dd { (T::partner_status(partner.status())) }
        }
        section aria-labelledby="modifier" {
            h2 #modifier { (T::PROFILE_EDIT) }
            (errors.summary())
            form.stack method="post" action="/structure/profil" {
                (view::csrf(&session.csrf))
                input type="hidden" name="etag" value=(form.text("etag"));
                (profile_fields(form, errors))
                button type="submit" { (T::PROFILE_SAVE) }
            }
        }
    };
    partner_page(T::PROFILE_TITLE, session, Some(partner), body)
}

/// POST `/structure/profil`: saves what changed in the profile.
pub async fn update(
    State(state): State<WebState>,
    Auth(session): Auth,
    body: Bytes,
) -> Result<Response, WebError> {
    let form = Fields::from_body(&body);
    session.check_csrf(form.csrf())?;
    require(&session, &[Role::Partner])?;
    let Some(current) = own_partner(&state, &session).await? else {
        return Ok(redirect("/structure"));
    };
    let again = |errors: &Errors| page(&session, &current, &form, errors, false);
    let patch = match partner_of(&form) {
        Ok(patch) => patch,
        Err(errors) => return Ok(view::refused(again(&errors))),
    };
    let (patch, paths) = changes(&current, patch, form.text("etag"));
    if paths.is_empty() {
        return Ok(redirect("/structure?enregistre=1"));
    }
    let request = rpb::UpdatePartnerRequest {
        partner: Some(patch),
        update_mask: Some(prost_types::FieldMask { paths }),
    };
    let answer = state
        .backend()
        .registry()
        .update_partner(bearer(&session.access_token, request)?)
        .await;
    judged(
        answer,
        "legal_name",
        |_| Ok(redirect("/structure?enregistre=1")),
        again,
    )
}

/// The patch to send and the paths of the fields that changed. What the
/// form does not show is kept: a structure of several kinds keeps them all
/// while the one chosen is among them, the contact keeps its name, the
/// address its INSEE code while the commune stays.
fn changes(current: &Partner, mut patch: Partner, etag: String) -> (Partner, Vec<String>) {
    if patch
        .kinds
        .first()
        .is_some_and(|k| current.kinds.contains(k))
    {
        patch.kinds.clone_from(&current.kinds);
    }
    if let (Some(new), Some(old)) = (patch.address.as_mut(), current.address.as_ref())
        && new.commune == old.commune
    {
        new.insee_code.clone_from(&old.insee_code);
    }
    if let (Some(new), Some(old)) = (patch.contact.as_mut(), current.contact.as_ref()) {
        new.name.clone_from(&old.name);
    }
    let set = |v: &[String]| v.iter().cloned().collect::<BTreeSet<String>>();
    let changed = [
        ("legal_name", patch.legal_name != current.legal_name),
        ("siret", patch.siret != current.siret),
        ("kinds", patch.kinds != current.kinds),
        (
            "address",
            patch.address.clone().unwrap_or_default()
                != current.address.clone().unwrap_or_default(),
        ),
        ("location", patch.location != current.location),
        (
            "accepted_categories",
            set(&patch.accepted_categories) != set(&current.accepted_categories),
        ),
        (
            "service_radius_km",
            patch.service_radius_km != current.service_radius_km,
        ),
        (
            "weekly_intake_kg",
            patch.weekly_intake_kg != current.weekly_intake_kg,
        ),
        (
            "contact",
            patch.contact.clone().unwrap_or_default()
                != current.contact.clone().unwrap_or_default(),
        ),
    ];
    let paths = changed
        .into_iter()
        .filter(|(_, changed)| *changed)
        .map(|(path, _)| path.to_owned())
        .collect();
    patch.name.clone_from(&current.name);
    patch.etag = etag;
    (patch, paths)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reemploi_proto::types as tpb;

    fn registered() -> Partner {
        Partner {
            name: "partners/p".into(),
            legal_name: "Atelier".into(),
            siret: "73282932000074".into(),
            kinds: vec![PartnerKind::Aci as i32, PartnerKind::Ressourcerie as i32],
            address: Some(rpb::Address {
                line1: "2 rue".into(),
                postal_code: "68100".into(),
                commune: "Mulhouse".into(),
                insee_code: "68224".into(),
            }),
            location: Some(tpb::GeoPoint {
                latitude: 47.748,
                longitude: 7.32,
            }),
            accepted_categories: vec!["radiateur".into(), "porte-interieure".into()],
            service_radius_km: 15,
            weekly_intake_kg: 8000,
            contact: Some(rpb::Contact {
                name: "Camille".into(),
                email: "c@a.example".into(),
                phone: String::new(),
            }),
            etag: "v1".into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_form_as_shown_changes_nothing() {
        let current = registered();
        let patch = partner_of(&form_of(&current)).unwrap();
        let (patch, paths) = changes(&current, patch, "v1".into());
        assert!(paths.is_empty(), "{paths:?}");
        assert_eq!(patch.kinds.len(), 2, "both kinds kept");
        assert_eq!(patch.name, "partners/p");
    }

    #[test]
    fn only_what_changed_is_named_and_the_rest_is_kept() {
        let current = registered();
        let mut pairs: Vec<(String, String)> = form_of(&current)
            .all("accepted_categories")
            .into_iter()
            .map(|c| ("accepted_categories".to_owned(), c))
            .collect();
        for (k, v) in [
            ("legal_name", "Atelier"),
            ("siret", "73282932000074"),
            ("kind", "PARTNER_KIND_EI"),
            ("line1", "2 rue"),
            ("postal_code", "68100"),
            ("commune", "Mulhouse"),
            ("latitude", "47.748"),
            ("longitude", "7.32"),
            ("service_radius_km", "30"),
            ("weekly_intake_kg", "8000"),
            ("email", "c@a.example"),
        ] {
            pairs.push((k.to_owned(), v.to_owned()));
        }
        let patch = partner_of(&pairs.into_iter().collect()).unwrap();
        let (patch, paths) = changes(&current, patch, "v1".into());
        assert_eq!(paths, vec!["kinds", "service_radius_km"]);
        assert_eq!(patch.kinds, vec![PartnerKind::Ei as i32]);
        assert_eq!(patch.address.unwrap().insee_code, "68224");
        assert_eq!(patch.contact.unwrap().name, "Camille");
        assert_eq!(patch.etag, "v1");
    }
}
