//! The lots near a structure (`/lots`): the filters of a plain GET form
//! (family of materials, distance, a day of availability), and the lots as
//! a list nearest first or as a map.
//!
//! The API filters by place and radius (`near`, `radius_m`). It knows one
//! category code, not a family, and an instant, not a day: the family and
//! the day are filtered here, on the lots within the radius, read page by
//! page up to a bound. The page says when that bound left lots unread, and
//! when only the nearest of the lots kept are shown.

use std::collections::HashMap;

use maud::{Markup, html};
use reemploi_domain::category::{self, Family};
use reemploi_proto::inventory::{self as ipb, Lot, LotStatus, Site};
use reemploi_proto::registry::Partner;
use reemploi_proto::types as tpb;

use super::partner::{distance_m, lot_path};
use super::sites::category_label;
use crate::WebState;
use crate::backend::bearer;
use crate::error::WebError;
use crate::form::Fields;
use crate::format::{self, DAY_SECS};
use crate::map::{self, Map, Mark, Spot};
use crate::session::Session;
use crate::text::T;
use crate::view::{self, Errors};

/// Lots asked of the API per page (the most it gives).
const PAGE_SIZE: i32 = 1000;
/// Pages of lots within the radius read at most.
const MAX_PAGES: usize = 5;
/// Lots shown at most: the nearest of those the filters keep.
const MAX_SHOWN: usize = 500;
/// The largest distance a structure may ask for, as its service radius.
const MAX_RADIUS_KM: i64 = 200;

/// How the lots are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// A table, nearest first.
    List,
    /// A map, with its points as text under it.
    Map,
}

/// The filters of the lots page, read from its query string.
#[derive(Debug, Clone)]
pub struct Filters {
    family: Option<Family>,
    radius_km: i64,
    /// The day (since 1970-01-01, UTC) the lot must be available on.
    day: Option<i64>,
    view: View,
    /// The query as typed, to show the form again.
    typed: Fields,
    /// What could not be read (and was left out of the search).
    errors: Errors,
}

impl Filters {
    /// The filters of `query`; the distance defaults to the structure's
    /// service radius, a value that cannot be read is an error and ignored.
    pub fn read(query: &Fields, partner: &Partner) -> Filters {
        let mut errors = Vec::new();
        let own = i64::from(partner.service_radius_km).clamp(1, MAX_RADIUS_KM);
        let radius_km = match query.get("rayon").filter(|r| !r.is_empty()) {
            None => own,
            Some(text) => match text.parse::<i64>() {
                Ok(km) if (1..=MAX_RADIUS_KM).contains(&km) => km,
                _ => {
                    let message = T::unreadable(T::FILTER_RADIUS, T::BAD_RADIUS);
                    errors.push(("rayon".to_owned(), message));
                    own
                }
            },
        };
        let day = query
            .date("disponible", T::FILTER_DATE)
            .unwrap_or_else(|error| {
                errors.push(error);
                None
            });
        Filters {
            family: query.get("famille").and_then(|f| Family::parse(f).ok()),
            radius_km,
            day,
            view: match query.get("vue") {
                Some("carte") => View::Map,
                _ => View::List,
            },
            typed: query.clone(),
            errors: Errors(errors),
        }
    }

    /// How the lots are shown.
    pub fn view(&self) -> View {
        self.view
    }

    /// Whether `lot` passes the filters the API could not apply.
    fn keeps(&self, lot: &Lot) -> bool {
        let family_ok = self
            .family
            .is_none_or(|f| category::find(&lot.category).is_some_and(|c| c.family == f));
        let day_ok = self.day.is_none_or(|day| {
            let (start, end) = (day * DAY_SECS, (day + 1) * DAY_SECS);
            let window = lot.availability.as_ref();
            let from = window
                .and_then(|w| w.start_time.as_ref())
                .map(|t| t.seconds);
            let until = window.and_then(|w| w.end_time.as_ref()).map(|t| t.seconds);
            from.is_none_or(|f| f < end) && until.is_none_or(|u| u > start)
        });
        family_ok && day_ok
    }

    /// `/lots?…` with these filters, shown as `view`.
    fn link(&self, view: View) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for name in ["famille", "rayon", "disponible"] {
            if let Some(value) = self.typed.get(name).filter(|v| !v.is_empty()) {
                query.append_pair(name, value);
            }
        }
        if view == View::Map {
            query.append_pair("vue", "carte");
        }
        let query = query.finish();
        if query.is_empty() {
            "/lots".to_owned()
        } else {
            format!("/lots?{query}")
        }
    }
}

/// The lots the filters keep, and how far the search went.
#[derive(Debug)]
pub struct Found {
    /// The nearest lots kept, nearest first, each with its distance in
    /// metres from the structure; at most [`MAX_SHOWN`].
    pub lots: Vec<(f64, Lot)>,
    /// How many lots the filters kept, shown or not.
    kept: usize,
    /// How many lots within the radius were read.
    read: usize,
    /// Whether the API had more lots within the radius than were read.
    unread: bool,
}

/// The published lots within the filters, the nearest first; the lots
/// within the radius are read [`MAX_PAGES`] pages at most.
pub async fn find(
    state: &WebState,
    session: &Session,
    partner: &Partner,
    filters: &Filters,
) -> Result<Found, WebError> {
    let home = partner.location.unwrap_or_default();
    let mut inventory = state.backend().inventory();
    let (mut near, mut read, mut page_token) = (Vec::new(), 0, String::new());
    for _ in 0..MAX_PAGES {
        let request = ipb::ListLotsRequest {
            parent: "sites/-".into(),
            page_size: PAGE_SIZE,
            page_token,
            status: LotStatus::Published as i32,
            near: Some(home),
            radius_m: filters.radius_km * 1000,
            ..Default::default()
        };
        let answer = inventory
            .list_lots(bearer(&session.access_token, request)?)
            .await?
            .into_inner();
        read += answer.lots.len();
        near.extend(
            answer
                .lots
                .into_iter()
                .filter(|lot| filters.keeps(lot))
                .map(|lot| (distance_m(&home, lot.location.as_ref()), lot)),
        );
        page_token = answer.next_page_token;
        if page_token.is_empty() {
            break;
        }
    }
    near.sort_by(|a, b| a.0.total_cmp(&b.0));
    let kept = near.len();
    near.truncate(MAX_SHOWN);
    Ok(Found {
        lots: near,
        kept,
        read,
        unread: !page_token.is_empty(),
    })
}

/// The sites of `lots`, read a few at a time (for the map); a site that
/// cannot be read is left out.
pub async fn sites_of(
    state: &WebState,
    session: &Session,
    lots: &[(f64, Lot)],
) -> HashMap<String, Site> {
    let names = lots
        .iter()
        .filter_map(|(_, lot)| lot.name.split("/lots/").next().map(str::to_owned));
    super::fetch_all(names, |name| async move {
        let request = bearer(&session.access_token, ipb::GetSiteRequest { name }).ok()?;
        let site = state.backend().inventory().get_site(request).await.ok()?;
        Some(site.into_inner())
    })
    .await
}

/// The page's body: the filters, the switch, and the lots as a list or a map.
pub fn body(
    partner: &Partner,
    filters: &Filters,
    found: &Found,
    sites: &HashMap<String, Site>,
) -> Markup {
    let near = &found.lots;
    html! {
        p { (T::lots_intro(filters.radius_km)) }
        (filter_form(filters))
        (switch(filters))
        (limits(found))
        @match filters.view {
            View::List => {
                @if near.is_empty() { p { (T::NO_LOTS_MATCH) } }
                @else { (table(near)) }
            }
            View::Map => { (map::draw(&lots_map(partner, filters, near, sites))) }
        }
    }
}

/// What the list leaves out: the lots kept beyond those shown, and the
/// lots within the radius the search did not read.
fn limits(found: &Found) -> Markup {
    html! {
        @if found.kept > found.lots.len() {
            p.notice { (T::lots_cut(found.lots.len(), found.kept)) }
        }
        @if found.unread {
            p.notice { (T::lots_unread(found.read)) }
        }
    }
}

fn filter_form(filters: &Filters) -> Markup {
    let errors = &filters.errors;
    let family = filters.family.map(Family::code).unwrap_or_default();
    let radius = filters
        .typed
        .get("rayon")
        .filter(|r| !r.is_empty())
        .map_or_else(|| filters.radius_km.to_string(), str::to_owned);
    html! {
        (errors.summary())
        form.filters method="get" action="/lots" aria-label=(T::FILTERS) {
            @if filters.view == View::Map { input type="hidden" name="vue" value="carte"; }
            div.field {
                label for="famille" { (T::FILTER_FAMILY) }
                select #famille name="famille" {
                    option value="" { (T::ANY_FAMILY) }
                    @for f in Family::ALL {
                        option value=(f.code()) selected[f.code() == family] { (f.label_fr()) }
                    }
                }
            }
            (view::field("rayon", T::FILTER_RADIUS, "number", &radius, Some(T::FILTER_RADIUS_HINT), errors))
            (view::field("disponible", T::FILTER_DATE, "date", &filters.typed.text("disponible"), Some(T::FILTER_DATE_HINT), errors))
            div.actions { button type="submit" { (T::FILTER_BUTTON) } }
        }
    }
}

/// Links between the list and the map, keeping the filters.
fn switch(filters: &Filters) -> Markup {
    let item = |view: View, text: &str| {
        let current = filters.view == view;
        html! { li { a href=(filters.link(view)) aria-current=[current.then_some("page")] { (text) } } }
    };
    html! {
        nav.views aria-label=(T::VIEW_NAV) {
            ul { (item(View::List, T::VIEW_LIST)) (item(View::Map, T::VIEW_MAP)) }
        }
    }
}

fn table(near: &[(f64, Lot)]) -> Markup {
    html! {
        div.table-wrap { table {
            caption { (T::LOTS_CAPTION) }
            thead { tr {
                th scope="col" { (T::COL_LOT) }
                th scope="col" { (T::CATEGORY) }
                th scope="col" { (T::COL_AVAILABLE) }
                th scope="col" { (T::COL_DISTANCE) }
            } }
            tbody { @for (metres, lot) in near { tr {
                th scope="row" { a href=(lot_path(&lot.name)) { (lot.designation) } }
                td data-label=(T::CATEGORY) { (category_label(&lot.category)) }
                td data-label=(T::COL_AVAILABLE) { (format::quantity(lot.available.as_ref())) }
                td data-label=(T::COL_DISTANCE) { (format::km(*metres)) }
            } } }
        } }
    }
}

/// The structure, the sites of the lots, and the lots, on the map.
fn lots_map(
    partner: &Partner,
    filters: &Filters,
    near: &[(f64, Lot)],
    sites: &HashMap<String, Site>,
) -> Map {
    let home = partner.location.unwrap_or_default();
    let point =
        |p: Option<&tpb::GeoPoint>| p.map_or((f64::NAN, f64::NAN), |p| (p.latitude, p.longitude));
    let mut spots = vec![Spot {
        mark: Mark::Partner,
        label: partner.legal_name.clone(),
        detail: T::MAP_HOME.to_owned(),
        href: Some("/structure".to_owned()),
        lat: home.latitude,
        lon: home.longitude,
    }];
    for site in sites.values() {
        let (lat, lon) = point(site.location.as_ref());
        let commune = site.operation.as_ref().map(|o| o.commune.clone());
        spots.push(Spot {
            mark: Mark::Site,
            label: site.display_name.clone(),
            detail: commune.unwrap_or_default(),
            href: None,
            lat,
            lon,
        });
    }
    for (metres, lot) in near {
        let (lat, lon) = point(lot.location.as_ref());
        spots.push(Spot {
            mark: Mark::Lot,
            label: lot.designation.clone(),
            detail: T::lot_detail(
                &format::km(*metres),
                &format::quantity(lot.available.as_ref()),
            ),
            href: Some(lot_path(&lot.name)),
            lat,
            lon,
        });
    }
    // Points without a usable place are in the text list only.
    spots.retain(|s| s.lat.is_finite() && s.lon.is_finite());
    Map {
        label: T::lots_map(near.len()),
        spots,
        reach: Some((home.latitude, home.longitude, filters.radius_km as f64)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partner() -> Partner {
        Partner {
            service_radius_km: 15,
            ..Default::default()
        }
    }

    fn lot(category: &str, from: Option<i64>, until: Option<i64>) -> Lot {
        let ts = |s: i64| prost_types::Timestamp {
            seconds: s,
            nanos: 0,
        };
        Lot {
            category: category.into(),
            availability: Some(tpb::TimeWindow {
                start_time: from.map(ts),
                end_time: until.map(ts),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn filters_default_to_the_structures_radius_and_flag_what_they_cannot_read() {
        let f = Filters::read(&Fields::from_query(None), &partner());
        assert_eq!(
            (f.radius_km, f.day, f.family, f.view),
            (15, None, None, View::List)
        );
        let f = Filters::read(
            &Fields::from_query(Some(
                "rayon=500&disponible=demain&famille=chauffage&vue=carte",
            )),
            &partner(),
        );
        assert_eq!(f.radius_km, 15);
        assert!(f.errors.of("rayon").is_some() && f.errors.of("disponible").is_some());
        assert_eq!((f.family, f.view), (Some(Family::Chauffage), View::Map));
        assert_eq!(
            f.link(View::List),
            "/lots?famille=chauffage&rayon=500&disponible=demain"
        );
    }

    #[test]
    fn the_page_says_what_the_list_leaves_out() {
        let said = |found: &Found| limits(found).into_string();
        let mut found = Found {
            lots: vec![(1.0, Lot::default()); 3],
            kept: 3,
            read: 3,
            unread: false,
        };
        assert_eq!(said(&found), "");
        found.kept = 700;
        assert!(said(&found).contains(&T::lots_cut(3, 700)));
        found.read = 5000;
        found.unread = true;
        assert!(said(&found).contains(&T::lots_unread(5000)));
    }

    #[test]
    fn a_lot_is_kept_by_family_and_by_a_day_its_window_touches() {
        let q = Fields::from_query(Some("famille=chauffage&disponible=2026-03-12"));
        let f = Filters::read(&q, &partner());
        let day = format::parse_date("2026-03-12").unwrap() * DAY_SECS;
        assert!(f.keeps(&lot("radiateur", None, None)));
        assert!(!f.keeps(&lot("porte-interieure", None, None)));
        // Opens in the afternoon of that day: kept.
        assert!(f.keeps(&lot("radiateur", Some(day + 14 * 3600), None)));
        // Opens the next day, or closed at its first instant: not kept.
        assert!(!f.keeps(&lot("radiateur", Some(day + DAY_SECS), None)));
        assert!(!f.keeps(&lot("radiateur", None, Some(day))));
        assert!(f.keeps(&lot("radiateur", Some(day - DAY_SECS), Some(day + 1))));
    }
}
