//! GetImpactSummary: the figures of a period and a territory, grouped.
//!
//! Whole months are read from the monthly sums (`figures`), the partial
//! months at either end of the period from the claims' own contributions;
//! both are summed by the same grouped query, so the answer is exact for any
//! period and fast for periods of whole months.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use reemploi_domain::category::{self, Family};
use reemploi_domain::text;
use reemploi_proto::impact as pb;
use reemploi_runtime::auth::{Principal, Role};
use reemploi_runtime::error::ApiError;
use reemploi_runtime::names::{Id, PartnerName, SiteName};
use reemploi_runtime::validation::{Check, Violation};
use reemploi_runtime::wire::checked_millis;
use reemploi_store::query::{Filter, select_filtered};
use reemploi_store::{Backend, now_millis};
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

use crate::calendar::Month;
use crate::error::Result;
use crate::factors::METHOD_VERSION;
use crate::model::{VALUE_COLUMNS, Values};
use crate::repo;
use crate::service::Impact;

/// Most groupings in one request.
pub const MAX_GROUPINGS: usize = 3;

/// The territory asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Territory {
    All,
    Commune(String),
    Quartier(String),
    Site(Id),
}

/// A GetImpactSummary request, validated.
#[derive(Debug, Clone)]
pub struct SummaryQuery {
    /// Start, inclusive (`None`: from the beginning).
    pub from: Option<i64>,
    /// End, exclusive.
    pub until: i64,
    pub territory: Territory,
    pub partner: Option<Uuid>,
    pub family: Option<Family>,
    pub group_by: Vec<pb::Grouping>,
    /// The organisation a site manager is limited to.
    pub org: Option<String>,
}

impl TryFrom<&pb::GetImpactSummaryRequest> for SummaryQuery {
    type Error = ApiError;

    fn try_from(req: &pb::GetImpactSummaryRequest) -> std::result::Result<Self, ApiError> {
        use pb::get_impact_summary_request::Territory as T;
        let mut c = Check::new("");
        let mut time = |field: &str, ts: Option<&prost_types::Timestamp>| {
            ts.and_then(|ts| checked_millis(ts).map_err(|e| c.fail(field, e)).ok())
        };
        let from = time("start_time", req.start_time.as_ref());
        let until = time("end_time", req.end_time.as_ref()).unwrap_or_else(|| now_millis() + 1);
        if from.is_some_and(|f| f >= until) {
            c.fail("end_time", "must come after start_time");
        }
        let territory = match &req.territory {
            None => Territory::All,
            Some(T::InseeCode(code)) => match text::insee_code("insee_code", code) {
                Ok(Some(code)) => Territory::Commune(code),
                Ok(None) => Territory::All,
                Err(e) => {
                    c.take::<()>(Err(Violation::from_domain("", &e)));
                    Territory::All
                }
            },
            Some(T::Quartier(q)) => match text::required("quartier", q, 100) {
                Ok(q) => Territory::Quartier(q),
                Err(e) => {
                    c.take::<()>(Err(Violation::from_domain("", &e)));
                    Territory::All
                }
            },
            Some(T::Site(s)) => c
                .take(SiteName::parse("site", s))
                .map_or(Territory::All, |s| Territory::Site(s.0)),
        };
        let partner = (!req.partner.is_empty())
            .then(|| {
                c.take(PartnerName::parse("partner", &req.partner))
                    .map(|p| p.0)
            })
            .flatten();
        let family = (!req.family.is_empty())
            .then(|| c.ok(Family::parse(&req.family)))
            .flatten();
        let group_by = groupings(&mut c, &req.group_by);
        c.finish()?;
        Ok(SummaryQuery {
            from,
            until,
            territory,
            partner,
            family,
            group_by,
            org: None,
        })
    }
}

fn groupings(c: &mut Check, raw: &[i32]) -> Vec<pb::Grouping> {
    let mut out = Vec::new();
    for (i, g) in raw.iter().enumerate() {
        match pb::Grouping::try_from(*g) {
            Ok(pb::Grouping::Unspecified) | Err(_) => {
                c.fail(&format!("group_by[{i}]"), "unknown grouping")
            }
            Ok(g) if out.contains(&g) => c.fail(&format!("group_by[{i}]"), "given twice"),
            Ok(g) => out.push(g),
        }
    }
    if out.len() > MAX_GROUPINGS {
        c.fail("group_by", format!("at most {MAX_GROUPINGS} groupings"));
    }
    out
}

/// The SQL expression of a grouping's key, over a fact table `f` joined
/// with `sites s`.
fn key_expr(g: pb::Grouping) -> &'static str {
    match g {
        pb::Grouping::Commune => "COALESCE(s.insee_code, '')",
        pb::Grouping::Quartier => "COALESCE(s.quartier, '')",
        pb::Grouping::Partner => "f.partner_id",
        pb::Grouping::Category => "f.category",
        pb::Grouping::Month => "f.month",
        pb::Grouping::Site => "f.site_id",
        pb::Grouping::Unspecified => "''",
    }
}

/// Where the rows come from: a table and the period's condition on it.
enum Source {
    /// Monthly sums of months `[from, until)` (`None`: unbounded).
    Months(Option<String>, String),
    /// Claims' contributions handed over in `[from, until)`.
    Claims(i64, i64),
}

/// The sources that together cover a period exactly.
fn sources(from: Option<i64>, until: i64) -> Vec<Source> {
    let last = Month::of(until);
    let first_full = from.map(|f| {
        let m = Month::of(f);
        if m.start() == f { m } else { m.next() }
    });
    match (from, first_full) {
        (Some(f), Some(first)) if first >= last => vec![Source::Claims(f, until)],
        (Some(f), Some(first)) => vec![
            Source::Claims(f, first.start()),
            Source::Months(Some(first.key()), last.key()),
            Source::Claims(last.start(), until),
        ],
        _ => vec![
            Source::Months(None, last.key()),
            Source::Claims(last.start(), until),
        ],
    }
}

impl SummaryQuery {
    fn filter(&self, source: Option<&Source>, estimates: bool) -> Result<Filter> {
        let mut f = Filter::default();
        match &self.territory {
            Territory::All => {}
            Territory::Commune(code) => f.add("s.insee_code = ?", code.clone())?,
            Territory::Quartier(q) => f.add("s.quartier = ?", q.clone())?,
            Territory::Site(id) => f.add("f.site_id = ?", id.to_string())?,
        }
        if let Some(org) = &self.org {
            f.add("s.owner_org = ?", org.clone())?;
        }
        if let Some(family) = self.family {
            let codes: Vec<&str> = category::all()
                .iter()
                .filter(|c| c.family == family)
                .map(|c| c.code)
                .collect();
            f.any_of("f.category", &codes)?;
        }
        if !estimates && let Some(p) = self.partner {
            f.add("f.partner_id = ?", p.to_string())?;
        }
        match source {
            Some(Source::Months(from, until)) => {
                if let Some(from) = from {
                    f.add("f.month >= ?", from.clone())?;
                }
                f.add("f.month < ?", until.clone())?;
            }
            Some(Source::Claims(from, until)) => {
                f.add("f.handed_over_at >= ?", *from)?;
                f.add("f.handed_over_at < ?", *until)?;
            }
            None => {}
        }
        Ok(f)
    }

    fn keys_sql(&self) -> (String, String) {
        let select: Vec<String> = self
            .group_by
            .iter()
            .enumerate()
            .map(|(i, g)| format!("{} AS k{i}, ", key_expr(*g)))
            .collect();
        let group: Vec<String> = (0..self.group_by.len()).map(|i| format!("k{i}")).collect();
        let tail = if group.is_empty() {
            String::new()
        } else {
            format!(" GROUP BY {}", group.join(", "))
        };
        (select.concat(), tail)
    }

    /// The monthly sums that answer this query (`partners`: which partners
    /// took part is asked): the one with the fewest rows that has its keys.
    fn monthly_table(&self, partners: bool) -> &'static str {
        if self.family.is_some() || self.group_by.contains(&pb::Grouping::Category) {
            "figures"
        } else if partners
            || self.partner.is_some()
            || self.group_by.contains(&pb::Grouping::Partner)
        {
            "partner_figures"
        } else {
            "site_figures"
        }
    }

    /// Whether the diagnostic's estimate applies to every group: not by
    /// partner nor by month, nor for one partner.
    fn estimated(&self) -> bool {
        self.partner.is_none()
            && self
                .group_by
                .iter()
                .all(|g| !matches!(g, pb::Grouping::Partner | pb::Grouping::Month))
    }
}

type Groups<T> = BTreeMap<Vec<String>, T>;

fn keys_of(row: &sqlx::any::AnyRow, n: usize) -> Result<Vec<String>> {
    (0..n)
        .map(|i| Ok(row.try_get::<String, _>(format!("k{i}").as_str())?))
        .collect()
}

async fn sums(conn: &mut AnyConnection, q: &SummaryQuery) -> Result<Groups<Values>> {
    let (keys, tail) = q.keys_sql();
    let sums: Vec<String> = VALUE_COLUMNS
        .iter()
        .map(|c| format!("CAST(COALESCE(SUM(f.{c}), 0) AS BIGINT) AS {c}"))
        .collect();
    let mut groups: Groups<Values> = Groups::new();
    for source in sources(q.from, q.until) {
        let table = match source {
            Source::Months(..) => q.monthly_table(false),
            Source::Claims(..) => "contributions",
        };
        let head = format!(
            "SELECT {keys}{} FROM {table} f LEFT JOIN sites s ON s.id = f.site_id",
            sums.join(", ")
        );
        let rows = select_filtered(conn, &head, q.filter(Some(&source), false)?, &tail).await?;
        for row in rows {
            let mut a = [0i64; 13];
            for (slot, col) in a.iter_mut().zip(VALUE_COLUMNS) {
                *slot = row.try_get(col)?;
            }
            let v = Values::from_array(a);
            if v == Values::default() {
                continue;
            }
            let entry = groups.entry(keys_of(&row, q.group_by.len())?).or_default();
            *entry = entry.plus(v, 1);
        }
    }
    Ok(groups)
}

/// The distinct partners of each group (a partner counts once per group,
/// and once in the total): one row per group listing them, so that the
/// answer is as small as the groups.
async fn partners(
    conn: &mut AnyConnection,
    q: &SummaryQuery,
    backend: Backend,
) -> Result<Groups<BTreeSet<String>>> {
    let (keys, tail) = q.keys_sql();
    let list = match backend {
        Backend::Sqlite => "group_concat(DISTINCT f.partner_id)",
        Backend::Postgres => "string_agg(DISTINCT f.partner_id, ',')",
    };
    let mut groups: Groups<BTreeSet<String>> = Groups::new();
    for source in sources(q.from, q.until) {
        let table = match &source {
            Source::Months(from, until) if q.monthly_table(false) == "site_figures" => {
                per_site_partners(from.as_deref(), until, list)
            }
            Source::Months(..) => q.monthly_table(true).to_owned(),
            Source::Claims(..) => "contributions".to_owned(),
        };
        let head = format!(
            "SELECT {keys}COALESCE({list}, '') AS partners FROM {table} f \
             LEFT JOIN sites s ON s.id = f.site_id"
        );
        let mut filter = q.filter(Some(&source), false)?;
        filter.raw("f.claims > 0");
        for row in select_filtered(conn, &head, filter, &tail).await? {
            let keys = keys_of(&row, q.group_by.len())?;
            let listed: String = row.try_get("partners")?;
            // A row may list a partner twice (once per site it took from).
            let set = groups.entry(keys).or_default();
            set.extend(
                listed
                    .split(',')
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned),
            );
        }
    }
    Ok(groups)
}

/// The partners of each month and site, listed in one row each: what the
/// partners of groups made of sites (quartier, commune, site) and months are
/// read from, in a fifth of the rows. The months are keys this service
/// makes (`YYYY-MM`), never text from a request.
fn per_site_partners(from: Option<&str>, until: &str, list: &str) -> String {
    let from = from.map_or_else(String::new, |m| format!("month >= '{m}' AND "));
    format!(
        "(SELECT month, site_id, SUM(claims) AS claims, {list} AS partner_id \
         FROM partner_figures f WHERE {from}month < '{until}' AND claims > 0 \
         GROUP BY month, site_id)"
    )
}

async fn estimates(conn: &mut AnyConnection, q: &SummaryQuery) -> Result<Groups<i64>> {
    let (keys, tail) = q.keys_sql();
    let head = format!(
        "SELECT {keys}CAST(COALESCE(SUM(f.estimated_mass_g), 0) AS BIGINT) AS estimated \
         FROM estimates f LEFT JOIN sites s ON s.id = f.site_id"
    );
    let mut groups = Groups::new();
    for row in select_filtered(conn, &head, q.filter(None, true)?, &tail).await? {
        groups.insert(
            keys_of(&row, q.group_by.len())?,
            row.try_get::<i64, _>("estimated")?,
        );
    }
    Ok(groups)
}

impl Impact {
    /// The figures the caller asks for and may read.
    pub async fn summary(
        &self,
        p: &Principal,
        req: &pb::GetImpactSummaryRequest,
    ) -> Result<pb::ImpactSummary> {
        let mut q = SummaryQuery::try_from(req)?;
        // One snapshot for every query below, so that a change committing
        // in between never counts twice or not at all.
        let mut conn = self.db().pool().begin().await?;
        if self.db().backend() == reemploi_store::Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *conn)
                .await?;
        }
        self.limit_to_caller(&mut conn, p, &mut q).await?;
        let groups = sums(&mut conn, &q).await?;
        let partners = partners(&mut conn, &q, self.db().backend()).await?;
        let estimates = if q.estimated() {
            Some(estimates(&mut conn, &q).await?)
        } else {
            None
        };
        let total_values = groups
            .values()
            .fold(Values::default(), |t, v| t.plus(*v, 1));
        let all_partners: BTreeSet<&String> = partners.values().flatten().collect();
        let total_estimate = estimates.as_ref().map(|e| e.values().sum()).unwrap_or(0);
        let total = self.figures(total_values, total_estimate, all_partners.len());
        let mut keys: BTreeSet<&Vec<String>> = groups.keys().collect();
        if let Some(e) = &estimates {
            keys.extend(e.keys().filter(|_| !q.group_by.is_empty()));
        }
        let labels = Labels::load(&mut conn, &q, &keys).await?;
        let out = keys
            .into_iter()
            .filter(|k| !k.is_empty())
            .map(|k| pb::Group {
                keys: resource_keys(&q.group_by, k),
                labels: labels.of(&q.group_by, k),
                figures: Some(
                    self.figures(
                        groups.get(k).copied().unwrap_or_default(),
                        estimates
                            .as_ref()
                            .and_then(|e| e.get(k))
                            .copied()
                            .unwrap_or(0),
                        partners.get(k).map_or(0, BTreeSet::len),
                    ),
                ),
            })
            .collect();
        Ok(pb::ImpactSummary {
            total: Some(total),
            groups: out,
            method_version: METHOD_VERSION.to_owned(),
            fte_hours_per_year: self.fte_hours_per_year(),
        })
    }

    /// Narrows the query to what the caller may read.
    async fn limit_to_caller(
        &self,
        conn: &mut AnyConnection,
        p: &Principal,
        q: &mut SummaryQuery,
    ) -> Result<()> {
        match p.role {
            Role::Admin | Role::Integrator => Ok(()),
            Role::SiteManager => {
                if let Territory::Site(site) = q.territory
                    && !self.site_of_org(conn, p, site).await?
                {
                    return Err(ApiError::not_found("site", format!("sites/{site}")).into());
                }
                q.org = Some(p.org.clone().unwrap_or_default());
                Ok(())
            }
            Role::Partner => {
                let own = p.own_partner();
                if q.partner.is_some() && q.partner != own {
                    return Err(ApiError::PermissionDenied(
                        "a partner reads its own figures only".into(),
                    )
                    .into());
                }
                q.partner = Some(own.unwrap_or_default());
                Ok(())
            }
        }
    }

    fn figures(&self, v: Values, estimated_g: i64, partners: usize) -> pb::Figures {
        let ratio = |a: i64, b: i64| if b > 0 { a as f64 / b as f64 } else { 0.0 };
        let hours = v.minutes as f64 / 60.0;
        pb::Figures {
            handed_over_mass_g: v.handed_g,
            reused_as_is_mass_g: v.reused_g,
            reused_refurbished_mass_g: v.refurbished_g,
            resold_mass_g: v.resold_g,
            recycled_mass_g: v.recycled_g,
            disposed_mass_g: v.disposed_g,
            undeclared_mass_g: v.undeclared_g(),
            estimated_mass_g: estimated_g,
            reuse_rate: ratio(v.reused_total_g(), estimated_g),
            co2e_gross_g: v.gross_g,
            co2e_transport_g: v.transport_g,
            co2e_net_g: v.gross_g - v.transport_g,
            without_factor_mass_g: v.without_factor_g,
            without_factor_share: ratio(v.without_factor_g, v.reused_total_g()),
            insertion_minutes: v.minutes,
            insertion_people: v.people,
            fte: hours / f64::from(self.fte_hours_per_year().max(1)),
            lots: v.lots,
            claims: v.claims,
            partners: i64::try_from(partners).unwrap_or(i64::MAX),
        }
    }
}

/// The keys as the API names things: partners and sites by their resource
/// names, the others as they are.
fn resource_keys(group_by: &[pb::Grouping], keys: &[String]) -> Vec<String> {
    group_by
        .iter()
        .zip(keys)
        .map(|(g, k)| match g {
            pb::Grouping::Partner => format!("partners/{k}"),
            pb::Grouping::Site => format!("sites/{k}"),
            pb::Grouping::Commune
            | pb::Grouping::Quartier
            | pb::Grouping::Category
            | pb::Grouping::Month
            | pb::Grouping::Unspecified => k.clone(),
        })
        .collect()
}

/// Names for people of the keys that are ids or codes.
struct Labels {
    communes: HashMap<String, String>,
    sites: HashMap<String, String>,
    partners: HashMap<String, String>,
}

impl Labels {
    /// The labels of every group's keys, those with estimates only included.
    async fn load(
        conn: &mut AnyConnection,
        q: &SummaryQuery,
        keys: &BTreeSet<&Vec<String>>,
    ) -> Result<Labels> {
        let mut labels = Labels {
            communes: HashMap::new(),
            sites: HashMap::new(),
            partners: HashMap::new(),
        };
        for (i, g) in q.group_by.iter().enumerate() {
            let ids: BTreeSet<&String> = keys.iter().filter_map(|k| k.get(i)).collect();
            for id in ids {
                // Sites may have readable ids; partners have UUIDs; a
                // commune is its INSEE code.
                match g {
                    pb::Grouping::Site => {
                        let name = match Id::parse(id) {
                            Some(site) => repo::site(conn, site).await?.map(|s| s.display_name),
                            None => None,
                        };
                        labels.sites.insert(id.clone(), name.unwrap_or_default());
                    }
                    pb::Grouping::Partner => {
                        let name = match Uuid::try_parse(id) {
                            Ok(partner) => {
                                repo::partner(conn, partner).await?.map(|p| p.display_name)
                            }
                            Err(_) => None,
                        };
                        labels.partners.insert(id.clone(), name.unwrap_or_default());
                    }
                    pb::Grouping::Commune => {
                        let name = repo::commune_name(conn, id).await?;
                        labels
                            .communes
                            .insert(id.clone(), name.unwrap_or_else(|| id.clone()));
                    }
                    pb::Grouping::Quartier
                    | pb::Grouping::Category
                    | pb::Grouping::Month
                    | pb::Grouping::Unspecified => {}
                }
            }
        }
        Ok(labels)
    }

    fn of(&self, group_by: &[pb::Grouping], keys: &[String]) -> Vec<String> {
        let found = |map: &HashMap<String, String>, k: &String| {
            map.get(k).cloned().unwrap_or_else(|| k.clone())
        };
        group_by
            .iter()
            .zip(keys)
            .map(|(g, k)| match g {
                pb::Grouping::Commune => found(&self.communes, k),
                pb::Grouping::Site => found(&self.sites, k),
                pb::Grouping::Partner => found(&self.partners, k),
                pb::Grouping::Category => {
                    category::find(k).map_or_else(|| k.clone(), |c| c.label_fr.to_owned())
                }
                pb::Grouping::Quartier | pb::Grouping::Month | pb::Grouping::Unspecified => {
                    k.clone()
                }
            })
            .collect()
    }
}
