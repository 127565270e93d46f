//! Creating and editing a site: one form for both, sent to CreateSite or
//! to UpdateSite with the site's etag, so that two people editing at once
//! cannot overwrite each other unseen.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use reemploi_proto::inventory::{self as ipb, Operation, Site};
use reemploi_proto::types as tpb;

use super::{id_of, judged, require};
use crate::WebState;
use crate::backend::bearer;
use crate::error::{WebError, redirect};
use crate::form::Fields;
use crate::format;
use crate::session::{Auth, Role, Session, new_token};
use crate::text::T;
use crate::view::{self, Errors};

/// What UpdateSite is asked to change: every field the form shows.
const UPDATE_MASK: [&str; 6] = [
    "display_name",
    "operation",
    "location",
    "address",
    "works_start_time",
    "works_end_time",
];

/// The form's values of an existing site.
fn fields_of(site: &Site) -> Fields {
    let operation = site.operation.clone().unwrap_or_default();
    let location = site.location.unwrap_or_default();
    Fields::of(&[
        ("display_name", site.display_name.clone()),
        ("programme", operation.programme),
        ("quartier", operation.quartier),
        ("commune", operation.commune),
        ("insee_code", operation.insee_code),
        ("address", site.address.clone()),
        ("latitude", location.latitude.to_string()),
        ("longitude", location.longitude.to_string()),
        (
            "works_start",
            format::date_input(site.works_start_time.as_ref()),
        ),
        (
            "works_end",
            format::date_input(site.works_end_time.as_ref()),
        ),
        ("owner_org", site.owner_org.clone()),
        ("etag", site.etag.clone()),
    ])
}

/// The site the form describes, or the fields it cannot read.
fn site_of(form: &Fields, session: &Session) -> Result<Site, Errors> {
    let mut errors = Vec::new();
    let mut decimal = |name: &str| {
        form.decimal(name).unwrap_or_else(|| {
            errors.push((
                name.to_owned(),
                T::unreadable(T::field(name), T::BAD_NUMBER),
            ));
            0.0
        })
    };
    let location = tpb::GeoPoint {
        latitude: decimal("latitude"),
        longitude: decimal("longitude"),
    };
    let mut date = |name: &str| match form.get(name) {
        None | Some("") => None,
        Some(text) => format::day_start(text).or_else(|| {
            errors.push((name.to_owned(), T::unreadable(T::field(name), T::BAD_DATE)));
            None
        }),
    };
    let (works_start_time, works_end_time) = (date("works_start"), date("works_end"));
    if !errors.is_empty() {
        return Err(Errors(errors));
    }
    let owner_org = match session.account.role {
        Role::Admin => form.text("owner_org"),
        Role::SiteManager | Role::Partner | Role::Integrator => session.account.org.clone(),
    };
    Ok(Site {
        display_name: form.text("display_name"),
        operation: Some(Operation {
            programme: form.text("programme"),
            quartier: form.text("quartier"),
            commune: form.text("commune"),
            insee_code: form.text("insee_code"),
        }),
        location: Some(location),
        address: form.text("address"),
        owner_org,
        works_start_time,
        works_end_time,
        etag: form.text("etag"),
        ..Default::default()
    })
}

fn form_body(session: &Session, action: &str, form: &Fields, errors: &Errors) -> Markup {
    let request_id = form.get("request_id").map_or_else(new_token, str::to_owned);
    let text = |name: &str, label: &str| view::input(name, label, "text", &form.text(name), errors);
    html! {
        (errors.summary())
        form.stack method="post" action=(action) {
            (view::csrf(&session.csrf))
            input type="hidden" name="request_id" value=(request_id);
            input type="hidden" name="etag" value=(form.text("etag"));
            (text("display_name", T::SITE_NAME))
            // The owner is chosen at creation (by an admin); it does not change.
            @if session.account.role == Role::Admin && form.text("etag").is_empty() { (text("owner_org", T::SITE_OWNER)) }
            fieldset {
                legend { (T::SITE_OPERATION) }
                (text("programme", T::PROGRAMME))
                (text("quartier", T::QUARTIER))
                (text("commune", T::COMMUNE))
                (text("insee_code", T::INSEE_CODE))
            }
            (text("address", T::ADDRESS))
            fieldset {
                legend { (T::SITE_LOCATION) }
                (view::field("latitude", T::LATITUDE, "text", &form.text("latitude"), Some(T::LOCATION_HINT), errors))
                (view::input("longitude", T::LONGITUDE, "text", &form.text("longitude"), errors))
            }
            (view::input("works_start", T::WORKS_START, "date", &form.text("works_start"), errors))
            (view::input("works_end", T::WORKS_END, "date", &form.text("works_end"), errors))
            button type="submit" { (T::SAVE) }
        }
    }
}

/// The site `sites/{id}`, if the API shows it to this person.
pub(crate) async fn get_site(
    state: &WebState,
    session: &Session,
    id: &str,
) -> Result<Site, WebError> {
    let request = ipb::GetSiteRequest {
        name: format!("sites/{id}"),
    };
    Ok(state
        .backend()
        .inventory()
        .get_site(bearer(&session.access_token, request)?)
        .await?
        .into_inner())
}

/// GET `/chantiers/nouveau`.
pub async fn new_form(Auth(session): Auth) -> Result<Response, WebError> {
    require(&session, &[Role::SiteManager, Role::Admin])?;
    let body = form_body(
        &session,
        "/chantiers/nouveau",
        &Fields::default(),
        &Errors::default(),
    );
    Ok(view::page(T::NEW_SITE_TITLE, Some(&session), body).into_response())
}

/// POST `/chantiers/nouveau`: creates the site, then shows it.
pub async fn create(
    State(state): State<WebState>,
    Auth(session): Auth,
    body: Bytes,
) -> Result<Response, WebError> {
    let form = Fields::from_body(&body);
    session.check_csrf(form.csrf())?;
    require(&session, &[Role::SiteManager, Role::Admin])?;
    let again = |errors: &Errors| {
        let body = form_body(&session, "/chantiers/nouveau", &form, errors);
        view::page(T::NEW_SITE_TITLE, Some(&session), body)
    };
    let site = match site_of(&form, &session) {
        Ok(site) => site,
        Err(errors) => return Ok(view::refused(again(&errors))),
    };
    let request = ipb::CreateSiteRequest {
        site: Some(site),
        request_id: form.text("request_id"),
        site_id: String::new(),
    };
    let answer = state
        .backend()
        .inventory()
        .create_site(bearer(&session.access_token, request)?)
        .await;
    judged(
        answer,
        "display_name",
        |site| Ok(redirect(&format!("/chantiers/{}", id_of(&site.name)))),
        again,
    )
}

/// GET `/chantiers/{site}/modifier`.
pub async fn edit_form(
    State(state): State<WebState>,
    Auth(session): Auth,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    require(&session, &[Role::SiteManager, Role::Admin])?;
    let site = get_site(&state, &session, &id).await?;
    let action = format!("/chantiers/{id}/modifier");
    let body = form_body(&session, &action, &fields_of(&site), &Errors::default());
    Ok(view::page(
        &T::edit_site_title(&site.display_name),
        Some(&session),
        body,
    )
    .into_response())
}

/// POST `/chantiers/{site}/modifier`: saves the form over the version it
/// was made from (a stale etag is the API's refusal, shown as such).
pub async fn update(
    State(state): State<WebState>,
    Auth(session): Auth,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, WebError> {
    let mut form = Fields::from_body(&body);
    session.check_csrf(form.csrf())?;
    require(&session, &[Role::SiteManager, Role::Admin])?;
    let action = format!("/chantiers/{id}/modifier");
    let title = T::edit_site_title(&form.text("display_name"));
    let again = |form: &Fields, errors: &Errors| {
        view::page(
            &title,
            Some(&session),
            form_body(&session, &action, form, errors),
        )
    };
    let mut site = match site_of(&form, &session) {
        Ok(site) => site,
        Err(errors) => return Ok(view::refused(again(&form, &errors))),
    };
    site.name = format!("sites/{id}");
    let request = ipb::UpdateSiteRequest {
        site: Some(site),
        update_mask: Some(prost_types::FieldMask {
            paths: UPDATE_MASK.iter().map(|p| (*p).to_owned()).collect(),
        }),
    };
    let answer = state
        .backend()
        .inventory()
        .update_site(bearer(&session.access_token, request)?)
        .await;
    if matches!(&answer, Err(status) if status.code() == tonic::Code::Aborted) {
        // Changed meanwhile: the form keeps what was typed, over the
        // current version, so that saving again is a decision, not a loop.
        let current = get_site(&state, &session, &id).await?;
        form.set("etag", current.etag);
    }
    judged(
        answer,
        "display_name",
        |_| Ok(redirect(&format!("/chantiers/{id}"))),
        |errors| again(&form, errors),
    )
}
