//! The map of the m2A territory, drawn on the server as SVG so that it
//! works without script, offline, and in print: the communes and NPNRU
//! quartiers of `data/m2a-places.csv` as labelled markers, and the points a
//! page places on them (sites, lots, structures), each lot a link to its
//! page; a legend and the same points as a text list go with it. The
//! figures page draws the same places as circles sized and shaded by the
//! mass handed over there ([`draw_amounts`]).

use std::f64::consts::TAU;
use std::sync::LazyLock;

use maud::{Markup, html};

use crate::text::T;

/// The places drawn under every map (sample data; see `data/README.md`).
const PLACES_CSV: &str = include_str!("../data/m2a-places.csv");
/// Width of the drawing, in SVG user units; the height follows the points.
const WIDTH: f64 = 480.0;
/// The tallest drawing, so that a far point cannot make a needle of it.
const MAX_HEIGHT: f64 = 600.0;
/// Room left around the points, for markers and labels.
const PAD: f64 = 24.0;
/// Kilometres in one degree of latitude.
const KM_PER_DEGREE: f64 = 111.195;

/// A commune or a quartier of the territory.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    /// A quartier, else a commune.
    pub quartier: bool,
    /// Its name.
    pub name: String,
    /// The commune's INSEE code (a quartier's is its commune's).
    pub insee: String,
    lat: f64,
    lon: f64,
}

/// The communes and quartiers the map knows, communes first.
pub fn places() -> &'static [Place] {
    &PLACES
}

/// The places of the CSV; a line that cannot be read is left out.
static PLACES: LazyLock<Vec<Place>> = LazyLock::new(|| parse_places(PLACES_CSV));

fn parse_places(csv: &str) -> Vec<Place> {
    csv.lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split(',').map(str::trim).collect();
            let [kind, name, _commune, insee, lat, lon] = cols.as_slice() else {
                return None;
            };
            Some(Place {
                quartier: *kind == "quartier",
                name: (*name).to_owned(),
                insee: (*insee).to_owned(),
                lat: lat.parse().ok().filter(|v: &f64| v.is_finite())?,
                lon: lon.parse().ok().filter(|v: &f64| v.is_finite())?,
            })
        })
        .collect()
}

/// What a point of the map is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// A renovation or demolition site.
    Site,
    /// A lot of materials.
    Lot,
    /// An ESS structure.
    Partner,
}

/// A point a page places on the map.
#[derive(Debug, Clone)]
pub struct Spot {
    /// What it is.
    pub mark: Mark,
    /// Its name (the link's accessible name for a lot).
    pub label: String,
    /// A detail for the text list (a distance…), may be empty.
    pub detail: String,
    /// Its page, if it has one the reader may open.
    pub href: Option<String>,
    /// Latitude, WGS84 degrees.
    pub lat: f64,
    /// Longitude, WGS84 degrees.
    pub lon: f64,
}

/// A map: its accessible name, its points and an optional circle (a
/// structure's reach).
#[derive(Debug, Clone, Default)]
pub struct Map {
    /// What the map shows, said by screen readers.
    pub label: String,
    /// The points.
    pub spots: Vec<Spot>,
    /// A circle around a point: centre latitude, longitude, radius in km.
    pub reach: Option<(f64, f64, f64)>,
}

/// An equirectangular projection fitted to a set of points: longitudes are
/// shrunk by the cosine of the mean latitude, so that at the scale of a
/// territory a kilometre east is as long as a kilometre north; north is up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Projection {
    cos: f64,
    min_x: f64,
    max_lat: f64,
    scale: f64,
    offset_x: f64,
    height: f64,
}

impl Projection {
    /// The projection that fits `points` (latitude, longitude) into a
    /// drawing [`WIDTH`] wide, with [`PAD`] around them. Non-finite points
    /// are ignored; with none, the territory's places are fitted.
    pub fn fit(points: &[(f64, f64)]) -> Projection {
        let finite: Vec<(f64, f64)> = points
            .iter()
            .copied()
            .filter(|(lat, lon)| lat.is_finite() && lon.is_finite())
            .collect();
        let finite = if finite.is_empty() {
            PLACES.iter().map(|p| (p.lat, p.lon)).collect()
        } else {
            finite
        };
        let bound = |f: fn(&(f64, f64)) -> f64, max: bool| {
            let values = finite.iter().map(f);
            if max {
                values.fold(f64::NEG_INFINITY, f64::max)
            } else {
                values.fold(f64::INFINITY, f64::min)
            }
        };
        let (min_lat, max_lat) = (bound(|p| p.0, false), bound(|p| p.0, true));
        let (min_lon, max_lon) = (bound(|p| p.1, false), bound(|p| p.1, true));
        let cos = ((min_lat + max_lat) / 2.0).to_radians().cos().max(0.01);
        // A span never below a few hundred metres: one point alone still
        // gets a drawing of sensible size.
        let span_x = ((max_lon - min_lon) * cos).max(0.005);
        let span_y = (max_lat - min_lat).max(0.005);
        let inner = WIDTH - 2.0 * PAD;
        let scale = (inner / span_x).min((MAX_HEIGHT - 2.0 * PAD) / span_y);
        let drawn_x = (max_lon - min_lon) * cos * scale;
        Projection {
            cos,
            min_x: min_lon * cos,
            max_lat: max_lat + (span_y - (max_lat - min_lat)) / 2.0,
            scale,
            offset_x: PAD + (inner - drawn_x) / 2.0,
            height: span_y * scale + 2.0 * PAD,
        }
    }

    /// The drawing's coordinates of a point: x to the east, y to the south.
    pub fn xy(&self, lat: f64, lon: f64) -> (f64, f64) {
        (
            self.offset_x + (lon * self.cos - self.min_x) * self.scale,
            PAD + (self.max_lat - lat) * self.scale,
        )
    }

    /// Drawing units per kilometre.
    pub fn per_km(&self) -> f64 {
        self.scale / KM_PER_DEGREE
    }

    /// The `viewBox` of the drawing.
    pub fn view_box(&self) -> String {
        format!("0 0 {WIDTH} {}", round(self.height))
    }

    /// Width and height of the drawing.
    pub fn size(&self) -> (f64, f64) {
        (WIDTH, self.height)
    }
}

/// A coordinate with one decimal, enough for a drawing this size.
fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// Where each spot is drawn: lots that share a place with another spot
/// (the lots of one site) are set on a ring around it, each clickable.
fn positions(map: &Map, proj: &Projection) -> Vec<(f64, f64)> {
    let key = |s: &Spot| ((s.lat * 1e5).round() as i64, (s.lon * 1e5).round() as i64);
    map.spots
        .iter()
        .enumerate()
        .map(|(i, spot)| {
            let (x, y) = proj.xy(spot.lat, spot.lon);
            if spot.mark != Mark::Lot {
                return (x, y);
            }
            let here: Vec<usize> = (0..map.spots.len())
                .filter(|&j| key(&map.spots[j]) == key(spot))
                .collect();
            let lots: Vec<usize> = here
                .iter()
                .copied()
                .filter(|&j| map.spots[j].mark == Mark::Lot)
                .collect();
            if here.len() < 2 {
                return (x, y);
            }
            let n = lots.len().max(1) as f64;
            let nth = lots.iter().position(|&j| j == i).unwrap_or(0) as f64;
            let radius = (n * 12.0 / TAU).max(11.0);
            let angle = -TAU / 4.0 + TAU * nth / n;
            (x + radius * angle.cos(), y + radius * angle.sin())
        })
        .collect()
}

/// The map, its legend, and its points as a list.
pub fn draw(map: &Map) -> Markup {
    let mut all: Vec<(f64, f64)> = PLACES.iter().map(|p| (p.lat, p.lon)).collect();
    all.extend(map.spots.iter().map(|s| (s.lat, s.lon)));
    let proj = Projection::fit(&all);
    let at = positions(map, &proj);
    html! {
        figure.map {
            svg.map-drawing viewBox=(proj.view_box()) role="group" aria-label=(map.label)
                preserveAspectRatio="xMidYMid meet" {
                rect.ground x="0" y="0" width=(WIDTH) height=(round(proj.size().1)) {}
                (territory(&proj))
                @if let Some((lat, lon, km)) = map.reach {
                    @let (x, y) = proj.xy(lat, lon);
                    circle.reach cx=(round(x)) cy=(round(y)) r=(round(km * proj.per_km())) aria-hidden="true" {}
                }
                // Sites under structures under lots: the links stay on top.
                @for mark in [Mark::Site, Mark::Partner, Mark::Lot] {
                    @for (spot, (x, y)) in map.spots.iter().zip(&at).filter(|(s, _)| s.mark == mark) {
                        (symbol(spot, *x, *y))
                    }
                }
            }
            figcaption { (legend(map.reach.is_some())) }
        }
        (list(map))
    }
}

/// The communes and quartiers, labelled; hidden from screen readers (the
/// text list says where each point is).
fn territory(proj: &Projection) -> Markup {
    html! {
        g.territory aria-hidden="true" {
            @for place in PLACES.iter() {
                @let (x, y) = proj.xy(place.lat, place.lon);
                @let left = x > WIDTH * 0.6;
                @if place.quartier {
                    circle.quartier cx=(round(x)) cy=(round(y)) r="3" {}
                } @else {
                    circle.commune cx=(round(x)) cy=(round(y)) r="3" {}
                }
                text.place-label.quartier-label[place.quartier]
                    x=(round(if left { x - 6.0 } else { x + 6.0 })) y=(round(y + 4.0))
                    text-anchor=(if left { "end" } else { "start" }) { (place.name) }
            }
        }
    }
}

/// One point: its shape, a tooltip, and a link when it has a page.
fn symbol(spot: &Spot, x: f64, y: f64) -> Markup {
    let (x, y) = (round(x), round(y));
    let shape = shape(spot.mark, x, y);
    html! {
        @if let Some(href) = &spot.href {
            a href=(href) {
                title { (spot.label) }
                (shape)
            }
        } @else {
            g aria-hidden="true" {
                title { (spot.label) }
                (shape)
            }
        }
    }
}

fn shape(mark: Mark, x: f64, y: f64) -> Markup {
    html! {
        @match mark {
            Mark::Lot => { circle.lot cx=(x) cy=(y) r="5.5" {} }
            Mark::Site => { rect.site x=(round(x - 6.0)) y=(round(y - 6.0)) width="12" height="12" {} }
            Mark::Partner => {
                polygon.partner points=(format!("{x},{} {},{y} {x},{} {},{y}", round(y - 9.0), round(x + 9.0), round(y + 9.0), round(x - 9.0))) {}
            }
        }
    }
}

/// The symbols and what they mean.
fn legend(reach: bool) -> Markup {
    let key = |symbol: Markup, text: &str| {
        html! {
            li {
                svg.key-symbol viewBox="0 0 20 20" aria-hidden="true" focusable="false" { (symbol) }
                (text)
            }
        }
    };
    html! {
        ul.map-legend {
            (key(shape(Mark::Lot, 10.0, 10.0), T::MAP_KEY_LOT))
            (key(shape(Mark::Site, 10.0, 10.0), T::MAP_KEY_SITE))
            (key(shape(Mark::Partner, 10.0, 10.0), T::MAP_KEY_PARTNER))
            (key(html! { circle.commune cx="10" cy="10" r="4" {} }, T::MAP_KEY_COMMUNE))
            (key(html! { circle.quartier cx="10" cy="10" r="4" {} }, T::MAP_KEY_QUARTIER))
            @if reach { (key(html! { circle.reach cx="10" cy="10" r="7" {} }, T::MAP_KEY_REACH)) }
        }
    }
}

/// The points as text: what the drawing shows, for every reader.
fn list(map: &Map) -> Markup {
    html! {
        h2 #points-de-la-carte { (T::MAP_LIST) }
        @if map.spots.is_empty() { p { (T::MAP_EMPTY) } }
        @else {
            ul.map-list aria-labelledby="points-de-la-carte" {
                @for spot in &map.spots {
                    li {
                        (T::map_mark(spot.mark)) " : "
                        @if let Some(href) = &spot.href { a href=(href) { (spot.label) } }
                        @else { (spot.label) }
                        @if !spot.detail.is_empty() { " — " (spot.detail) }
                    }
                }
            }
        }
    }
}

/// Shades of the circles of [`draw_amounts`]: a place's level is the
/// quarter of the largest mass its own falls in (0: nothing handed over).
const LEVELS: i64 = 4;
/// Radius of the circle of the largest mass; the others have an area in
/// proportion to their mass.
const MAX_RADIUS: f64 = 22.0;

/// The mass handed over in a commune or a quartier, for [`draw_amounts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Amount {
    /// A quartier (by its name), else a commune (by its INSEE code).
    pub quartier: bool,
    /// The INSEE code of a commune, the name of a quartier.
    pub key: String,
    /// What the reader calls it.
    pub label: String,
    /// Grams handed over there.
    pub grams: i64,
    /// The mass as read, e.g. "1,2 t".
    pub text: String,
}

/// The place of the territory an amount is about, if the map knows it.
fn place_of(amount: &Amount) -> Option<&'static Place> {
    PLACES.iter().find(|p| {
        p.quartier == amount.quartier
            && if amount.quartier {
                p.name.to_lowercase() == amount.key.trim().to_lowercase()
            } else {
                p.insee == amount.key.trim()
            }
    })
}

/// The level (0 to [`LEVELS`]) of `grams` when the largest is `max`.
fn level(grams: i64, max: i64) -> i64 {
    if grams <= 0 || max <= 0 {
        return 0;
    }
    let scaled =
        (i128::from(grams.min(max)) * i128::from(LEVELS) + i128::from(max) - 1) / i128::from(max);
    i64::try_from(scaled).unwrap_or(LEVELS).clamp(1, LEVELS)
}

/// The radius of the circle of `grams` when the largest is `max`: its
/// area in proportion to the mass.
fn radius(grams: i64, max: i64) -> f64 {
    if grams <= 0 || max <= 0 {
        return 0.0;
    }
    // Masses are far below 2^53 grams; a ratio needs no more precision.
    #[allow(clippy::cast_precision_loss)]
    let share = grams.min(max) as f64 / max as f64;
    (MAX_RADIUS * share.sqrt()).max(3.0)
}

/// The map of the territory with each commune and quartier of `amounts`
/// drawn as a circle whose area and shade grow with its mass, a legend of
/// the shades, and the amounts as a text list (those the map cannot
/// place say so). `label` names the drawing for screen readers.
pub fn draw_amounts(label: &str, amounts: &[Amount]) -> Markup {
    let points: Vec<(f64, f64)> = PLACES.iter().map(|p| (p.lat, p.lon)).collect();
    let proj = Projection::fit(&points);
    let max = amounts.iter().map(|a| a.grams).max().unwrap_or(0);
    // The largest first, so that a small circle is never hidden under it.
    let mut placed: Vec<(&Amount, &Place)> = amounts
        .iter()
        .filter(|a| a.grams > 0)
        .filter_map(|a| place_of(a).map(|p| (a, p)))
        .collect();
    placed.sort_by_key(|(amount, _)| std::cmp::Reverse(amount.grams));
    html! {
        figure.map.amounts {
            svg.map-drawing viewBox=(proj.view_box()) role="img" aria-label=(label)
                preserveAspectRatio="xMidYMid meet" {
                rect.ground x="0" y="0" width=(WIDTH) height=(round(proj.size().1)) {}
                g aria-hidden="true" {
                    @for (amount, place) in &placed {
                        @let (x, y) = proj.xy(place.lat, place.lon);
                        circle class=(format!("amount level-{}", level(amount.grams, max)))
                            cx=(round(x)) cy=(round(y)) r=(round(radius(amount.grams, max))) {
                            title { (amount.label) " : " (amount.text) }
                        }
                    }
                }
                (territory(&proj))
            }
            figcaption { (amount_legend(max)) }
        }
        (amount_list(amounts))
    }
}

/// The shades and the masses they stand for.
fn amount_legend(max: i64) -> Markup {
    // Bounds to the kilogram: the shades are a reading aid, not figures.
    let bound = |k: i64| {
        let grams = i128::from(max) * i128::from(k) / i128::from(LEVELS);
        let kg = (grams + 500) / 1000 * 1000;
        crate::format::mass(i64::try_from(kg).unwrap_or(max))
    };
    html! {
        ul.map-legend {
            @if max > 0 {
                @for k in 1..=LEVELS {
                    li {
                        svg.key-symbol viewBox="0 0 20 20" aria-hidden="true" focusable="false" {
                            circle class=(format!("amount level-{k}")) cx="10" cy="10" r="8" {}
                        }
                        (T::amount_range(&bound(k - 1), &bound(k)))
                    }
                }
            }
            li {
                svg.key-symbol viewBox="0 0 20 20" aria-hidden="true" focusable="false" {
                    circle.commune cx="10" cy="10" r="4" {}
                }
                (T::MAP_KEY_COMMUNE)
            }
            li {
                svg.key-symbol viewBox="0 0 20 20" aria-hidden="true" focusable="false" {
                    circle.quartier cx="10" cy="10" r="4" {}
                }
                (T::MAP_KEY_QUARTIER)
            }
        }
    }
}

/// The amounts as text, the largest first.
fn amount_list(amounts: &[Amount]) -> Markup {
    let mut sorted: Vec<&Amount> = amounts.iter().collect();
    sorted.sort_by(|a, b| b.grams.cmp(&a.grams).then_with(|| a.label.cmp(&b.label)));
    html! {
        h3 #masses-de-la-carte { (T::AMOUNTS_LIST) }
        @if sorted.is_empty() { p { (T::MAP_EMPTY) } }
        @else {
            ul.map-list aria-labelledby="masses-de-la-carte" {
                @for amount in sorted {
                    li {
                        (T::amount_kind(amount.quartier)) " : " (amount.label) " — " (amount.text)
                        @if place_of(amount).is_none() { " " (T::AMOUNT_NOT_PLACED) }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inside(proj: &Projection, lat: f64, lon: f64) -> bool {
        let (x, y) = proj.xy(lat, lon);
        let (w, h) = proj.size();
        (0.0..=w).contains(&x) && (0.0..=h).contains(&y)
    }

    #[test]
    fn the_places_file_reads_whole() {
        assert_eq!(PLACES.len(), 14);
        assert!(PLACES.iter().any(|p| p.name == "Mulhouse" && !p.quartier));
        assert_eq!(PLACES.iter().filter(|p| p.quartier).count(), 4);
    }

    #[test]
    fn every_point_is_inside_the_view_box_with_room_around() {
        let far = (48.0, 7.0);
        let mut points: Vec<(f64, f64)> = PLACES.iter().map(|p| (p.lat, p.lon)).collect();
        points.push(far);
        let proj = Projection::fit(&points);
        for (lat, lon) in &points {
            assert!(inside(&proj, *lat, *lon), "{lat},{lon}");
            let (x, y) = proj.xy(*lat, *lon);
            let (w, h) = proj.size();
            assert!(
                x >= PAD - 1e-9 && x <= w - PAD + 1e-9 && y >= PAD - 1e-9 && y <= h - PAD + 1e-9
            );
        }
        assert!(proj.view_box().starts_with("0 0 480 "));
    }

    #[test]
    fn north_is_up_and_east_is_right() {
        let proj = Projection::fit(&[(47.70, 7.20), (47.85, 7.45)]);
        let (_, y_south) = proj.xy(47.70, 7.3);
        let (_, y_north) = proj.xy(47.85, 7.3);
        assert!(y_north < y_south, "north is up");
        let (x_west, _) = proj.xy(47.75, 7.20);
        let (x_east, _) = proj.xy(47.75, 7.45);
        assert!(x_east > x_west, "east is right");
    }

    #[test]
    fn a_kilometre_east_is_as_long_as_a_kilometre_north() {
        let proj = Projection::fit(&[(47.70, 7.20), (47.85, 7.45)]);
        let (x0, y0) = proj.xy(47.77, 7.30);
        // One kilometre north, one kilometre east at this latitude.
        let (_, y1) = proj.xy(47.77 + 1.0 / KM_PER_DEGREE, 7.30);
        let east = 1.0 / (KM_PER_DEGREE * 47.775_f64.to_radians().cos());
        let (x1, _) = proj.xy(47.77, 7.30 + east);
        let (north, east) = (y0 - y1, x1 - x0);
        assert!((north - east).abs() / north < 0.01, "{north} vs {east}");
        assert!((proj.per_km() - north).abs() / north < 1e-9);
    }

    #[test]
    fn one_point_or_none_still_fits() {
        let alone = Projection::fit(&[(47.75, 7.33)]);
        assert!(inside(&alone, 47.75, 7.33));
        assert!(alone.size().1.is_finite() && alone.size().1 > 2.0 * PAD);
        let none = Projection::fit(&[(f64::NAN, 7.0)]);
        assert!(inside(&none, 47.7508, 7.3359));
    }

    #[test]
    fn a_far_point_keeps_the_drawing_within_its_height() {
        let proj = Projection::fit(&[(47.0, 7.33), (48.5, 7.34)]);
        assert!(proj.size().1 <= MAX_HEIGHT + 1e-9);
        assert!(inside(&proj, 47.0, 7.33) && inside(&proj, 48.5, 7.34));
    }

    #[test]
    fn lots_of_one_site_are_spread_and_each_is_a_link() {
        let spot = |mark, label: &str, href: Option<&str>| Spot {
            mark,
            label: label.into(),
            detail: String::new(),
            href: href.map(str::to_owned),
            lat: 47.746,
            lon: 7.301,
        };
        let map = Map {
            label: "carte".into(),
            spots: vec![
                spot(Mark::Site, "Chantier", None),
                spot(Mark::Lot, "Portes", Some("/lots/a/b")),
                spot(Mark::Lot, "Radiateurs", Some("/lots/a/c")),
            ],
            reach: Some((47.75, 7.32, 15.0)),
        };
        let proj = Projection::fit(&[(47.7, 7.2), (47.8, 7.4)]);
        let at = positions(&map, &proj);
        assert_ne!(at[1], at[2], "two lots of one site are apart");
        assert_ne!(at[0], at[1], "a lot does not hide its site");
        let svg = draw(&map).into_string();
        assert!(svg.contains("<a href=\"/lots/a/b\"><title>Portes</title>"));
        assert!(svg.contains("<a href=\"/lots/a/c\"><title>Radiateurs</title>"));
        assert!(svg.contains("aria-label=\"carte\""));
        assert!(svg.contains(">Mulhouse</text>"));
        assert!(!svg.contains("style="), "no inline style");
    }

    fn amount(quartier: bool, key: &str, grams: i64) -> Amount {
        Amount {
            quartier,
            key: key.into(),
            label: key.into(),
            grams,
            text: crate::format::mass(grams),
        }
    }

    #[test]
    fn amounts_are_placed_by_insee_code_or_quartier_name_and_shaded_by_quarter() {
        assert_eq!(
            place_of(&amount(false, "68224", 1)).unwrap().name,
            "Mulhouse"
        );
        assert_eq!(
            place_of(&amount(true, "coteaux", 1)).unwrap().name,
            "Coteaux"
        );
        assert!(place_of(&amount(true, "68224", 1)).is_none());
        assert!(place_of(&amount(false, "Mulhouse", 1)).is_none());
        assert_eq!(
            [0, 1, 250, 251, 500, 750, 999, 1000].map(|g| level(g, 1000)),
            [0, 1, 1, 2, 2, 3, 4, 4]
        );
        assert_eq!(level(5, 0), 0);
        assert!((radius(1000, 1000) - MAX_RADIUS).abs() < 1e-9);
        assert!((radius(250, 1000) - MAX_RADIUS / 2.0).abs() < 1e-9);
        assert!(radius(0, 1000).abs() < 1e-9);
    }

    #[test]
    fn the_map_of_amounts_draws_each_known_place_and_lists_every_amount() {
        let svg = draw_amounts(
            "carte des masses",
            &[
                amount(false, "68224", 2_000_000),
                amount(true, "Coteaux", 500_000),
                amount(true, "<Ailleurs>", 100_000),
            ],
        )
        .into_string();
        // Two places drawn, and the four shades of the legend.
        assert_eq!(svg.matches("class=\"amount level-").count(), 2 + 4);
        let mulhouse = svg.find("<title>68224 : 2 t</title>").unwrap();
        let circle = svg[..mulhouse].rfind("<circle").unwrap();
        assert!(svg[circle..mulhouse].contains("level-4"));
        let coteaux = svg.find("<title>Coteaux : 500 kg</title>").unwrap();
        let circle = svg[..coteaux].rfind("<circle").unwrap();
        assert!(svg[circle..coteaux].contains("level-1"));
        assert!(svg.contains("<title>Coteaux : 500 kg</title>"));
        assert!(svg.contains("role=\"img\" aria-label=\"carte des masses\""));
        assert!(svg.contains("&lt;Ailleurs&gt; — 100 kg"), "{svg}");
        assert!(svg.contains(T::AMOUNT_NOT_PLACED));
        assert!(!svg.contains("style="), "no inline style");
    }
}
