//! The territory's figures (`/chiffres`): the impact service's
//! `GetImpactSummary` for the filters of a plain GET form (period,
//! territory, structure, family of materials), as totals, bar charts by
//! quartier and by month with the same figures in tables, the map shaded
//! by the mass handed over in each commune and quartier, and CSV downloads
//! of the grouped figures (`/chiffres.csv?par=…` with the same filters).
//!
//! The territory admin sees everything; a site manager gets the figures of
//! its organisation's sites: the service decides, the page shows what it
//! answers.

use std::collections::BTreeMap;

use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use reemploi_domain::category::Family;
use reemploi_proto::impact::{
    Figures, GetImpactSummaryRequest, Group, Grouping, ImpactSummary,
    get_impact_summary_request::Territory as ApiTerritory,
};
use reemploi_proto::registry as rpb;
use tonic::Code;

use super::{id_of, require};
use crate::WebState;
use crate::backend::bearer;
use crate::chart::{self, Bar};
use crate::csv::{Cell, Csv};
use crate::error::WebError;
use crate::form::Fields;
use crate::format::{self, DAY_SECS};
use crate::map::{self, Amount};
use crate::session::{Auth, Role, Session};
use crate::text::T;
use crate::view::{self, Errors};

/// Who may open the figures.
const READERS: [Role; 2] = [Role::Admin, Role::SiteManager];
/// The groupings a CSV file may be asked by, by their query value.
const BY: [(&str, Grouping); 5] = [
    ("quartier", Grouping::Quartier),
    ("mois", Grouping::Month),
    ("commune", Grouping::Commune),
    ("partenaire", Grouping::Partner),
    ("categorie", Grouping::Category),
];
/// Months the chart by month fills in at most between the first and the
/// last it is given (ten years).
const MAX_MONTHS: usize = 120;
/// Structures offered in the filter at most.
const MAX_PARTNERS: i32 = 1000;

/// The place the figures are about.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Territory {
    /// Everything the reader may see.
    All,
    /// A commune, by its INSEE code.
    Commune(String),
    /// A quartier, by name.
    Quartier(String),
}

impl Territory {
    /// The select's value: `commune:68224`, `quartier:Coteaux`, or "".
    fn value(&self) -> String {
        match self {
            Territory::All => String::new(),
            Territory::Commune(code) => format!("commune:{code}"),
            Territory::Quartier(name) => format!("quartier:{name}"),
        }
    }

    /// What the reader calls it: the quartier's name, the commune's code.
    fn label(&self) -> &str {
        match self {
            Territory::All => T::ALL_TERRITORY,
            Territory::Commune(code) => code,
            Territory::Quartier(name) => name,
        }
    }

    fn parse(value: &str) -> Option<Territory> {
        match value.split_once(':') {
            _ if value.is_empty() => Some(Territory::All),
            Some(("commune", code)) if !code.trim().is_empty() => {
                Some(Territory::Commune(code.trim().to_owned()))
            }
            Some(("quartier", name)) if !name.trim().is_empty() => {
                Some(Territory::Quartier(name.trim().to_owned()))
            }
            _ => None,
        }
    }
}

/// The filters of the figures, read from the query string.
#[derive(Debug, Clone)]
struct Filters {
    /// First day included (days since 1970-01-01, UTC).
    from: Option<i64>,
    /// Last day included.
    until: Option<i64>,
    territory: Territory,
    /// A structure's id (the last part of `partners/{id}`).
    partner: String,
    family: Option<Family>,
    /// What could not be read; the figures are not asked for while any.
    errors: Errors,
}

impl Filters {
    fn read(query: &Fields) -> Filters {
        let mut errors = Vec::new();
        let mut day = |name: &str, label: &str| {
            query.date(name, label).unwrap_or_else(|error| {
                errors.push(error);
                None
            })
        };
        let (from, until) = (day("du", T::FIGURES_FROM), day("au", T::FIGURES_UNTIL));
        if let (Some(f), Some(u)) = (from, until)
            && u < f
        {
            let message = T::unreadable(T::FIGURES_UNTIL, T::BAD_WINDOW);
            errors.push(("au".to_owned(), message));
        }
        let territory = Territory::parse(&query.text("territoire")).unwrap_or_else(|| {
            let message = T::unreadable(T::FIGURES_TERRITORY, T::BAD_TERRITORY);
            errors.push(("territoire".to_owned(), message));
            Territory::All
        });
        let partner = query.text("partenaire");
        // An id only: anything else would name another resource.
        let partner = if partner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            partner
        } else {
            let message = T::unreadable(T::FIGURES_PARTNER, T::BAD_PARTNER);
            errors.push(("partenaire".to_owned(), message));
            String::new()
        };
        let family = match query.get("famille").filter(|f| !f.is_empty()) {
            None => None,
            Some(code) => Family::parse(code).ok().or_else(|| {
                let message = T::unreadable(T::FILTER_FAMILY, T::BAD_FAMILY);
                errors.push(("famille".to_owned(), message));
                None
            }),
        };
        Filters {
            from,
            until,
            territory,
            partner,
            family,
            errors: Errors(errors),
        }
    }

    /// The summary of these filters grouped by `group`.
    fn request(&self, group: Grouping) -> GetImpactSummaryRequest {
        let at = |day: i64| prost_types::Timestamp {
            seconds: day * DAY_SECS,
            nanos: 0,
        };
        GetImpactSummaryRequest {
            start_time: self.from.map(at),
            // The last day is included: the period ends at the next midnight.
            end_time: self.until.map(|u| at(u + 1)),
            territory: match &self.territory {
                Territory::All => None,
                Territory::Commune(code) => Some(ApiTerritory::InseeCode(code.clone())),
                Territory::Quartier(name) => Some(ApiTerritory::Quartier(name.clone())),
            },
            partner: if self.partner.is_empty() {
                String::new()
            } else {
                format!("partners/{}", self.partner)
            },
            family: self.family.map(|f| f.code().to_owned()).unwrap_or_default(),
            group_by: vec![group as i32],
        }
    }

    /// The query string of these filters, with `extra` pairs after them.
    fn query(&self, extra: &[(&str, &str)]) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        let day = |d: Option<i64>| {
            d.map(|d| prost_types::Timestamp {
                seconds: d * DAY_SECS,
                nanos: 0,
            })
        };
        let pairs = [
            ("du", format::date_input(day(self.from).as_ref())),
            ("au", format::date_input(day(self.until).as_ref())),
            ("territoire", self.territory.value()),
            ("partenaire", self.partner.clone()),
            (
                "famille",
                self.family.map(|f| f.code().to_owned()).unwrap_or_default(),
            ),
        ];
        for (name, value) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
            query.append_pair(name, value);
        }
        for (name, value) in extra {
            query.append_pair(name, value);
        }
        query.finish()
    }
}

/// The form's field of an API field path of the summary request.
fn filter_field(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or(path) {
        "start_time" => "du",
        "end_time" => "au",
        "partner" => "partenaire",
        "family" => "famille",
        _ => "territoire",
    }
}

/// Asks the impact service for the summary of `filters` grouped by `group`.
async fn summary(
    state: &WebState,
    session: &Session,
    filters: &Filters,
    group: Grouping,
) -> Result<ImpactSummary, tonic::Status> {
    let request = bearer(&session.access_token, filters.request(group))
        .map_err(|_| tonic::Status::internal("no header value for the token"))?;
    Ok(state
        .backend()
        .impact()
        .get_impact_summary(request)
        .await?
        .into_inner())
}

/// The structures the filter offers, by name; none when the registry
/// does not list them to this reader (the filter is then a text field).
async fn partner_choices(state: &WebState, session: &Session) -> Vec<(String, String)> {
    let request = rpb::ListPartnersRequest {
        page_size: MAX_PARTNERS,
        ..Default::default()
    };
    let Ok(request) = bearer(&session.access_token, request) else {
        return Vec::new();
    };
    let Ok(answer) = state.backend().registry().list_partners(request).await else {
        return Vec::new();
    };
    let mut partners: Vec<(String, String)> = answer
        .into_inner()
        .partners
        .into_iter()
        .map(|p| (id_of(&p.name).to_owned(), p.legal_name))
        .collect();
    partners.sort_by(|a, b| a.1.cmp(&b.1));
    partners
}

/// What the page shows.
struct FiguresView {
    filters: Filters,
    partners: Vec<(String, String)>,
    /// By quartier, by month, by commune; `None` while the filters hold errors.
    summaries: Option<[ImpactSummary; 3]>,
}

/// GET `/chiffres`: the figures for the filters of the query string.
pub async fn figures(
    State(state): State<WebState>,
    Auth(session): Auth,
    RawQuery(query): RawQuery,
) -> Result<Response, WebError> {
    require(&session, &READERS)?;
    let mut filters = Filters::read(&Fields::from_query(query.as_deref()));
    let partners = partner_choices(&state, &session).await;
    if !filters.errors.is_empty() {
        let view = FiguresView {
            filters,
            partners,
            summaries: None,
        };
        return Ok(view::refused(view.page(&session)));
    }
    let (quartier, month, commune) = tokio::join!(
        summary(&state, &session, &filters, Grouping::Quartier),
        summary(&state, &session, &filters, Grouping::Month),
        summary(&state, &session, &filters, Grouping::Commune),
    );
    let summaries = match (quartier, month, commune) {
        (Ok(q), Ok(m), Ok(c)) => [q, m, c],
        (Err(status), _, _) | (_, Err(status), _) | (_, _, Err(status)) => {
            // A filter the service refuses is shown beside its field.
            if status.code() != Code::InvalidArgument {
                return Err(status.into());
            }
            filters.errors = refused_filters(&status);
            let view = FiguresView {
                filters,
                partners,
                summaries: None,
            };
            return Ok(view::refused(view.page(&session)));
        }
    };
    let view = FiguresView {
        filters,
        partners,
        summaries: Some(summaries),
    };
    Ok(view.page(&session).into_response())
}

/// The errors of the filter form for the service's refusal of a summary.
fn refused_filters(status: &tonic::Status) -> Errors {
    let violations = reemploi_runtime::status::field_violations(status);
    if violations.is_empty() {
        return Errors(vec![("territoire".to_owned(), T::ERR_INVALID.to_owned())]);
    }
    Errors(
        violations
            .into_iter()
            .map(|(path, description)| (filter_field(&path).to_owned(), description))
            .collect(),
    )
}

impl FiguresView {
    fn page(&self, session: &Session) -> Markup {
        let body = html! {
            p { (T::FIGURES_INTRO) }
            (self.filter_form())
            @if let Some([by_quartier, by_month, by_commune]) = &self.summaries {
                (totals(by_quartier))
                (quartier_section(&self.filters, by_quartier))
                (month_section(&self.filters, by_month))
                (map_section(by_quartier, by_commune))
                (downloads(&self.filters))
            }
        };
        view::page(T::FIGURES_TITLE, Some(session), body)
    }

    fn filter_form(&self) -> Markup {
        let f = &self.filters;
        let errors = &f.errors;
        let day = |d: Option<i64>| {
            format::date_input(
                d.map(|d| prost_types::Timestamp {
                    seconds: d * DAY_SECS,
                    nanos: 0,
                })
                .as_ref(),
            )
        };
        html! {
            (errors.summary())
            form.filters method="get" action="/chiffres" aria-label=(T::FIGURES_FILTERS) {
                (view::input("du", T::FIGURES_FROM, "date", &day(f.from), errors))
                (view::input("au", T::FIGURES_UNTIL, "date", &day(f.until), errors))
                (territory_select(&f.territory, errors))
                (self.partner_select())
                div.field {
                    label for="famille" { (T::FILTER_FAMILY) }
                    @if let Some(e) = errors.of("famille") { p.error id="famille-erreur" { (e) } }
                    select #famille name="famille" {
                        option value="" { (T::ANY_FAMILY) }
                        @for family in Family::ALL {
                            option value=(family.code()) selected[f.family == Some(family)] { (family.label_fr()) }
                        }
                    }
                }
                div.actions { button type="submit" { (T::FILTER_BUTTON) } }
            }
        }
    }

    fn partner_select(&self) -> Markup {
        let (errors, chosen) = (&self.filters.errors, &self.filters.partner);
        let known = self.partners.iter().any(|(id, _)| id == chosen);
        html! {
            div.field {
                label for="partenaire" { (T::FIGURES_PARTNER) }
                @if let Some(e) = errors.of("partenaire") { p.error id="partenaire-erreur" { (e) } }
                select #partenaire name="partenaire" {
                    option value="" { (T::ANY_PARTNER) }
                    @if !known && !chosen.is_empty() {
                        option value=(chosen) selected { (chosen) }
                    }
                    @for (id, name) in &self.partners {
                        option value=(id) selected[id == chosen] { (name) }
                    }
                }
            }
        }
    }
}

/// The territory filter: the communes and quartiers the map knows, and
/// the quartier asked for even when it does not know it.
fn territory_select(current: &Territory, errors: &Errors) -> Markup {
    let places = map::places();
    let known = places.iter().any(|p| {
        let t = if p.quartier {
            Territory::Quartier(p.name.to_owned())
        } else {
            Territory::Commune(p.insee.to_owned())
        };
        &t == current
    });
    html! {
        div.field {
            label for="territoire" { (T::FIGURES_TERRITORY) }
            @if let Some(e) = errors.of("territoire") { p.error id="territoire-erreur" { (e) } }
            select #territoire name="territoire" {
                option value="" { (T::ALL_TERRITORY) }
                @if !known && *current != Territory::All {
                    option value=(current.value()) selected { (current.label()) }
                }
                optgroup label=(T::COMMUNES) {
                    @for p in places.iter().filter(|p| !p.quartier) {
                        @let t = Territory::Commune(p.insee.to_owned());
                        option value=(t.value()) selected[&t == current] { (p.name) }
                    }
                }
                optgroup label=(T::QUARTIERS) {
                    @for p in places.iter().filter(|p| p.quartier) {
                        @let t = Territory::Quartier(p.name.to_owned());
                        option value=(t.value()) selected[&t == current] { (p.name) }
                    }
                }
            }
        }
    }
}

/// The totals of the selection.
fn totals(summary: &ImpactSummary) -> Markup {
    let t = summary.total.unwrap_or_default();
    let fte_base = T::fte_base(summary.fte_hours_per_year);
    html! {
        section aria-labelledby="totaux" {
            h2 #totaux { (T::FIGURES_TOTALS) }
            dl.figures {
                dt { (T::HANDED_OVER_MASS) } dd #total-remis { (format::mass(t.handed_over_mass_g)) }
                dt { (T::DIAGNOSTIC_ESTIMATE) } dd { (format::mass(t.estimated_mass_g)) }
                dt { (T::REUSE_RATE) } dd { (rate(&t)) }
            }
            h3 { (T::BY_OUTCOME) }
            dl.figures {
                @for (label, grams) in outcomes(&t) { dt { (label) } dd { (format::mass(grams)) } }
            }
            h3 { (T::CO2E_AVOIDED) }
            dl.figures {
                dt { (T::CO2E_GROSS) } dd { (format::co2e(t.co2e_gross_g)) }
                dt { (T::CO2E_TRANSPORT) } dd { (format::co2e(t.co2e_transport_g)) }
                dt { (T::CO2E_NET) } dd #total-co2e-net { (format::co2e(t.co2e_net_g)) }
                dt { (T::WITHOUT_FACTOR) }
                dd { (format::rate(t.without_factor_share)) " (" (format::mass(t.without_factor_mass_g)) ")" }
                dt { (T::METHOD_VERSION) } dd { code { (summary.method_version) } }
            }
            p.hint { (T::CO2E_HINT) }
            h3 { (T::INSERTION) }
            dl.figures {
                dt { (T::INSERTION_HOURS) } dd #total-heures { (format::hours(t.insertion_minutes)) " h" }
                dt { (T::INSERTION_PEOPLE) } dd { (t.insertion_people) }
                dt { (fte_base) } dd { (format::hundredths(t.fte)) }
            }
            h3 { (T::COUNTS) }
            dl.figures {
                dt { (T::COUNT_LOTS) } dd { (t.lots) }
                dt { (T::COUNT_CLAIMS) } dd { (t.claims) }
                dt { (T::COUNT_PARTNERS) } dd { (t.partners) }
            }
        }
    }
}

/// The reuse rate, or a dash without an estimate to compare with.
fn rate(figures: &Figures) -> String {
    if figures.estimated_mass_g > 0 {
        format::rate(figures.reuse_rate)
    } else {
        "—".to_owned()
    }
}

/// The masses by outcome, with their names.
fn outcomes(f: &Figures) -> [(&'static str, i64); 6] {
    [
        (T::OUTCOME_REUSED_AS_IS, f.reused_as_is_mass_g),
        (T::OUTCOME_REUSED_REFURBISHED, f.reused_refurbished_mass_g),
        (T::OUTCOME_RESOLD, f.resold_mass_g),
        (T::OUTCOME_RECYCLED, f.recycled_mass_g),
        (T::OUTCOME_DISPOSED, f.disposed_mass_g),
        (T::OUTCOME_UNDECLARED, f.undeclared_mass_g),
    ]
}

/// A group's name for a person: the service's label, else its key, else
/// what an empty key means.
fn group_label(group: &Group) -> String {
    let label = group.labels.first().map(String::as_str).unwrap_or_default();
    let key = group.keys.first().map(String::as_str).unwrap_or_default();
    match (label.is_empty(), key.is_empty()) {
        (false, _) => label.to_owned(),
        (true, false) => key.to_owned(),
        (true, true) => T::NO_GROUP.to_owned(),
    }
}

fn key(group: &Group) -> &str {
    group.keys.first().map(String::as_str).unwrap_or_default()
}

fn figures_of(group: &Group) -> Figures {
    group.figures.unwrap_or_default()
}

/// The chart and the table by quartier; each quartier links to its own figures.
fn quartier_section(filters: &Filters, summary: &ImpactSummary) -> Markup {
    let bars: Vec<Bar> = summary
        .groups
        .iter()
        .map(|g| mass_bar(group_label(g), &figures_of(g)))
        .collect();
    let link = |g: &Group| {
        let mut narrowed = filters.clone();
        narrowed.territory = Territory::Quartier(key(g).to_owned());
        (!key(g).is_empty()).then(|| format!("/chiffres?{}", narrowed.query(&[])))
    };
    let rows: Vec<(String, Option<String>, Figures)> = summary
        .groups
        .iter()
        .map(|g| (group_label(g), link(g), figures_of(g)))
        .collect();
    html! {
        section aria-labelledby="par-quartier-titre-section" {
            h2 #par-quartier-titre-section { (T::BY_QUARTIER) }
            (chart::bars("par-quartier", T::CHART_QUARTIER_TITLE, T::CHART_QUARTIER_DESC, &bars))
            (group_table(T::BY_QUARTIER_CAPTION, T::COL_QUARTIER, &rows))
        }
    }
}

/// The chart and the table by month, every month between the first and
/// the last shown (those with nothing at zero).
fn month_section(filters: &Filters, summary: &ImpactSummary) -> Markup {
    let by_key: BTreeMap<&str, Figures> = summary
        .groups
        .iter()
        .map(|g| (key(g), figures_of(g)))
        .collect();
    let months = month_keys(filters, by_key.keys().filter_map(|k| parse_month(k)));
    // Months the service gives outside the filled span still show.
    let mut keys: Vec<String> = months
        .iter()
        .map(|&(y, m)| format!("{y:04}-{m:02}"))
        .collect();
    keys.extend(by_key.keys().map(|k| (*k).to_owned()));
    keys.sort();
    keys.dedup();
    let rows: Vec<(String, Option<String>, Figures)> = keys
        .iter()
        .map(|k| {
            (
                T::month_label(k),
                None,
                by_key.get(k.as_str()).cloned().unwrap_or_default(),
            )
        })
        .collect();
    let bars: Vec<Bar> = rows
        .iter()
        .map(|(l, _, f)| mass_bar(l.clone(), f))
        .collect();
    html! {
        section aria-labelledby="par-mois-titre-section" {
            h2 #par-mois-titre-section { (T::BY_MONTH) }
            (chart::bars("par-mois", T::CHART_MONTH_TITLE, T::CHART_MONTH_DESC, &bars))
            (group_table(T::BY_MONTH_CAPTION, T::COL_MONTH, &rows))
        }
    }
}

fn mass_bar(label: String, figures: &Figures) -> Bar {
    Bar {
        label,
        value: figures.handed_over_mass_g,
        text: format::mass(figures.handed_over_mass_g),
    }
}

/// The months the chart by month shows, besides those the service gives:
/// every month of the period asked for, or when it is open or too long,
/// every month between the first and the last given.
fn month_keys(filters: &Filters, given: impl Iterator<Item = (i64, i64)>) -> Vec<(i64, i64)> {
    let given: Vec<(i64, i64)> = given.collect();
    let (Some(&first), Some(&last)) = (given.iter().min(), given.iter().max()) else {
        return Vec::new();
    };
    let from = filters
        .from
        .map(month_of_day)
        .map_or(first, |f| f.min(first));
    let until = filters
        .until
        .map(month_of_day)
        .map_or(last, |u| u.max(last));
    let period = months_between(from, until);
    if period.len() < MAX_MONTHS {
        period
    } else {
        months_between(first, last)
    }
}

/// (year, month) of a day since 1970-01-01.
fn month_of_day(day: i64) -> (i64, i64) {
    let text = format::date_input(Some(&prost_types::Timestamp {
        seconds: day * DAY_SECS,
        nanos: 0,
    }));
    parse_month(&text[..7.min(text.len())]).unwrap_or((1970, 1))
}

/// (year, month) of `YYYY-MM`.
fn parse_month(key: &str) -> Option<(i64, i64)> {
    let (y, m) = key.split_once('-')?;
    let (y, m) = (y.parse().ok()?, m.parse().ok()?);
    (1..=12).contains(&m).then_some((y, m))
}

/// Every month from `first` to `last` included, at most [`MAX_MONTHS`].
fn months_between(first: (i64, i64), last: (i64, i64)) -> Vec<(i64, i64)> {
    let mut months = Vec::new();
    let (mut y, mut m) = first;
    while (y, m) <= last && months.len() < MAX_MONTHS {
        months.push((y, m));
        (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    }
    months
}

/// A table of groups: name, mass handed over, reuse rate, CO2e net, hours.
fn group_table(caption: &str, first: &str, rows: &[(String, Option<String>, Figures)]) -> Markup {
    html! {
        @if !rows.is_empty() {
            div.table-wrap { table {
                caption { (caption) }
                thead { tr {
                    th scope="col" { (first) }
                    th scope="col" { (T::HANDED_OVER_MASS) }
                    th scope="col" { (T::REUSE_RATE) }
                    th scope="col" { (T::CO2E_NET) }
                    th scope="col" { (T::INSERTION_HOURS) }
                } }
                tbody { @for (label, link, f) in rows { tr {
                    th scope="row" {
                        @if let Some(link) = link { a href=(link) { (label) } } @else { (label) }
                    }
                    td data-label=(T::HANDED_OVER_MASS) { (format::mass(f.handed_over_mass_g)) }
                    td data-label=(T::REUSE_RATE) { (rate(f)) }
                    td data-label=(T::CO2E_NET) { (format::co2e(f.co2e_net_g)) }
                    td data-label=(T::INSERTION_HOURS) { (format::hours(f.insertion_minutes)) " h" }
                } } }
            } }
        }
    }
}

/// The map shaded by the mass handed over in each commune and quartier.
fn map_section(by_quartier: &ImpactSummary, by_commune: &ImpactSummary) -> Markup {
    let amount = |quartier: bool, g: &Group| Amount {
        quartier,
        key: key(g).to_owned(),
        label: group_label(g),
        grams: figures_of(g).handed_over_mass_g,
        text: format::mass(figures_of(g).handed_over_mass_g),
    };
    let amounts: Vec<Amount> = by_commune
        .groups
        .iter()
        .filter(|g| !key(g).is_empty())
        .map(|g| amount(false, g))
        .chain(
            by_quartier
                .groups
                .iter()
                .filter(|g| !key(g).is_empty())
                .map(|g| amount(true, g)),
        )
        .collect();
    html! {
        section aria-labelledby="carte" {
            h2 #carte { (T::FIGURES_MAP) }
            p.hint { (T::FIGURES_MAP_HINT) }
            (map::draw_amounts(T::FIGURES_MAP_LABEL, &amounts))
        }
    }
}

/// Links to the CSV files of the grouped figures, with the same filters.
fn downloads(filters: &Filters) -> Markup {
    html! {
        section aria-labelledby="telecharger" {
            h2 #telecharger { (T::DOWNLOADS) }
            p.hint { (T::DOWNLOADS_HINT) }
            ul.links {
                @for (slug, grouping) in BY {
                    li { a href=(format!("/chiffres.csv?{}", filters.query(&[("par", slug)]))) download { (T::download_by(grouping)) } }
                }
            }
        }
    }
}

/// GET `/chiffres.csv?par=…&…`: the figures grouped as asked, as a CSV
/// attachment, one line per group (the groups sum to the total).
pub async fn figures_csv(
    State(state): State<WebState>,
    Auth(session): Auth,
    RawQuery(query): RawQuery,
) -> Result<Response, WebError> {
    require(&session, &READERS)?;
    let query = Fields::from_query(query.as_deref());
    let by = query.text("par");
    let Some((slug, grouping)) = BY.iter().find(|(slug, _)| *slug == by) else {
        return Err(WebError::BadRequest(format!("no grouping {by:?}")));
    };
    let filters = Filters::read(&query);
    if !filters.errors.is_empty() {
        return Err(WebError::BadRequest("unreadable filters".into()));
    }
    let summary = summary(&state, &session, &filters, *grouping).await?;
    let disposition = format!("attachment; filename=\"chiffres-{slug}.csv\"");
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        csv_of(&summary, *grouping),
    )
        .into_response())
}

/// The CSV of a grouped summary: a header line, then one line per group.
fn csv_of(summary: &ImpactSummary, grouping: Grouping) -> String {
    let mut csv = Csv::default();
    let header: Vec<Cell<'_>> = T::CSV_COLUMNS.iter().map(|c| Cell::Text(c)).collect();
    csv.line(&header);
    for group in &summary.groups {
        let label = match grouping {
            Grouping::Month => T::month_label(key(group)),
            _ => group_label(group),
        };
        let numbers = csv_numbers(&figures_of(group));
        let mut cells = vec![Cell::Text(key(group)), Cell::Text(&label)];
        cells.extend(numbers.iter().map(|n| Cell::Number(n)));
        cells.push(Cell::Text(&summary.method_version));
        csv.line(&cells);
    }
    csv.finish()
}

/// The numbers of one CSV line, in the order of [`T::CSV_COLUMNS`]
/// between the label and the method; masses in kilograms to the gram.
fn csv_numbers(f: &Figures) -> Vec<String> {
    let mut cells: Vec<String> = [
        f.handed_over_mass_g,
        f.reused_as_is_mass_g,
        f.reused_refurbished_mass_g,
        f.resold_mass_g,
        f.recycled_mass_g,
        f.disposed_mass_g,
        f.undeclared_mass_g,
        f.estimated_mass_g,
    ]
    .iter()
    .map(|&g| format::kg(g))
    .collect();
    cells.push(format::hundredths(f.reuse_rate));
    for g in [
        f.co2e_gross_g,
        f.co2e_transport_g,
        f.co2e_net_g,
        f.without_factor_mass_g,
    ] {
        cells.push(format::kg(g));
    }
    cells.push(format::hundredths(f.without_factor_share));
    cells.push(format::hours(f.insertion_minutes));
    cells.push(f.insertion_people.to_string());
    cells.push(format::hundredths(f.fte));
    cells.extend([f.lots, f.claims, f.partners].map(|n| n.to_string()));
    cells
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_read_a_period_a_territory_a_structure_and_a_family() {
        let q = Fields::from_query(Some(
            "du=2026-01-01&au=2026-03-31&territoire=quartier%3ACoteaux&partenaire=abc-1&famille=chauffage",
        ));
        let f = Filters::read(&q);
        assert!(f.errors.is_empty(), "{:?}", f.errors);
        let r = f.request(Grouping::Month);
        let jan = format::parse_date("2026-01-01").unwrap() * DAY_SECS;
        let apr = format::parse_date("2026-04-01").unwrap() * DAY_SECS;
        assert_eq!(r.start_time.unwrap().seconds, jan);
        assert_eq!(r.end_time.unwrap().seconds, apr, "the last day is included");
        assert_eq!(r.territory, Some(ApiTerritory::Quartier("Coteaux".into())));
        assert_eq!(
            (r.partner.as_str(), r.family.as_str()),
            ("partners/abc-1", "chauffage")
        );
        assert_eq!(r.group_by, vec![Grouping::Month as i32]);
        assert_eq!(
            f.query(&[("par", "mois")]),
            "du=2026-01-01&au=2026-03-31&territoire=quartier%3ACoteaux&partenaire=abc-1&famille=chauffage&par=mois"
        );
        let all = Filters::read(&Fields::from_query(Some("territoire=commune%3A68224")));
        assert_eq!(
            all.request(Grouping::Quartier).territory,
            Some(ApiTerritory::InseeCode("68224".into()))
        );
        assert_eq!(all.request(Grouping::Quartier).start_time, None);
    }

    #[test]
    fn filters_that_cannot_be_read_are_errors_beside_their_fields() {
        let q = Fields::from_query(Some(
            "du=2026-03-01&au=2026-02-01&territoire=ville%3Ax&partenaire=..%2Fsites&famille=beton",
        ));
        let f = Filters::read(&q);
        for field in ["au", "territoire", "partenaire", "famille"] {
            assert!(f.errors.of(field).is_some(), "{field}: {:?}", f.errors);
        }
        assert!(
            Filters::read(&Fields::from_query(Some("du=hier")))
                .errors
                .of("du")
                .is_some()
        );
    }

    #[test]
    fn months_are_filled_between_the_first_and_the_last() {
        assert_eq!(
            months_between((2025, 11), (2026, 2)),
            vec![(2025, 11), (2025, 12), (2026, 1), (2026, 2)]
        );
        assert!(months_between((2026, 2), (2025, 1)).is_empty());
        assert_eq!(months_between((1, 1), (9999, 12)).len(), MAX_MONTHS);
        assert_eq!(parse_month("2026-03"), Some((2026, 3)));
        assert_eq!(parse_month("2026-13"), None);
        assert_eq!(
            month_of_day(format::parse_date("2026-03-31").unwrap()),
            (2026, 3)
        );
        let open = Filters::read(&Fields::default());
        let given = [(2026, 3), (2025, 12)];
        assert_eq!(month_keys(&open, given.into_iter()).len(), 4);
        assert!(month_keys(&open, std::iter::empty()).is_empty());
        let year = Filters::read(&Fields::from_query(Some("du=2025-01-01&au=2025-12-31")));
        assert_eq!(month_keys(&year, [(2025, 6)].into_iter()).len(), 12);
        let ages = Filters::read(&Fields::from_query(Some("du=1900-01-01")));
        assert_eq!(
            month_keys(&ages, given.into_iter()),
            vec![(2025, 12), (2026, 1), (2026, 2), (2026, 3)],
            "a period too long to draw shows the months given"
        );
    }

    #[test]
    fn the_csv_has_a_line_per_group_with_masses_in_kilograms() {
        let group = |key: &str, label: &str, grams: i64| Group {
            keys: vec![key.into()],
            labels: vec![label.into()],
            figures: Some(Figures {
                handed_over_mass_g: grams,
                insertion_minutes: 90,
                ..Default::default()
            }),
        };
        let summary = ImpactSummary {
            total: None,
            groups: vec![group("Coteaux", "", 152_500), group("=1+1", "@x", 1)],
            method_version: "impact-method/1".into(),
            fte_hours_per_year: 1607,
        };
        let csv = csv_of(&summary, Grouping::Quartier);
        let lines: Vec<&str> = csv.trim_end().split("\r\n").collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[0].trim_start_matches('\u{feff}').split(';').count(),
            T::CSV_COLUMNS.len()
        );
        assert!(
            lines[1].starts_with("Coteaux;Coteaux;152,5;"),
            "{}",
            lines[1]
        );
        assert!(lines[1].contains(";1,5;"), "hours: {}", lines[1]);
        assert!(lines[1].ends_with(";impact-method/1"));
        assert!(lines[2].starts_with("'=1+1;'@x;0,001;"), "{}", lines[2]);
        for line in &lines[1..] {
            assert_eq!(line.split(';').count(), T::CSV_COLUMNS.len(), "{line}");
        }
    }

    fn admin() -> Session {
        Session {
            account: crate::session::Account {
                name: "accounts/a".into(),
                email: "admin@m2a.example".into(),
                display_name: "Dominique".into(),
                role: Role::Admin,
                org: String::new(),
                partner: String::new(),
            },
            access_token: String::new(),
            access_expires: 0,
            refresh_token: String::new(),
            refresh_expires: 0,
            csrf: "jeton".into(),
        }
    }

    fn grouped(keys: &[(&str, i64)]) -> ImpactSummary {
        let figures = |grams: i64| Figures {
            handed_over_mass_g: grams,
            estimated_mass_g: 2 * grams,
            reuse_rate: 0.5,
            insertion_minutes: 90,
            ..Default::default()
        };
        ImpactSummary {
            total: Some(figures(keys.iter().map(|(_, g)| g).sum())),
            groups: keys
                .iter()
                .map(|(key, grams)| Group {
                    keys: vec![(*key).into()],
                    labels: vec![],
                    figures: Some(figures(*grams)),
                })
                .collect(),
            method_version: "impact-method/1".into(),
            fte_hours_per_year: 1607,
        }
    }

    #[test]
    fn the_page_shows_totals_charts_tables_map_and_downloads_with_the_filters() {
        let filters = Filters::read(&Fields::from_query(Some("famille=chauffage")));
        let view = FiguresView {
            filters,
            partners: vec![("p1".into(), "Atelier <1>".into())],
            summaries: Some([
                grouped(&[("Coteaux", 152_500), ("", 130_000)]),
                grouped(&[("2026-01", 152_500), ("2026-03", 130_000)]),
                grouped(&[("68224", 282_500)]),
            ]),
        };
        let html = view.page(&admin()).into_string();
        assert!(html.contains("<dd id=\"total-remis\">282,5 kg</dd>"));
        assert!(html.contains("<dd id=\"total-heures\">1,5 h</dd>"));
        assert!(html.contains("Équivalents temps plein (base 1607 h par an)"));
        assert!(html.contains("<code>impact-method/1</code>"));
        // By quartier: a link to the quartier's own figures, and the group
        // without a quartier named as such.
        assert!(
            html.contains("href=\"/chiffres?territoire=quartier%3ACoteaux&amp;famille=chauffage\"")
        );
        assert!(html.contains(T::NO_GROUP));
        // By month: February drawn at zero between January and March.
        assert!(html.contains("février 2026 : 0 kg"), "{html}");
        assert!(html.contains("<title>68224 : 282,5 kg</title>"));
        assert!(html.contains("href=\"/chiffres.csv?famille=chauffage&amp;par=mois\""));
        assert!(html.contains("Atelier &lt;1&gt;"));
        assert!(!html.contains("style="), "no inline style");
        let refused = FiguresView {
            filters: Filters::read(&Fields::from_query(Some("du=hier"))),
            partners: vec![],
            summaries: None,
        };
        let html = refused.page(&admin()).into_string();
        assert!(html.contains("id=\"du-erreur\"") && !html.contains("total-remis"));
    }
}
