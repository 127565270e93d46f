//! `reemploi matches`, `reemploi recommend` and `reemploi plan`: who can
//! take a lot, what a partner should look at, and a site's hand-out plan.
//! Names of lots and partners are looked up for the tables; one that cannot
//! be read (rights, deleted) is shown by its resource name.

use std::collections::HashMap;

use clap::Args;
use reemploi_proto::inventory as pb;
use reemploi_proto::matching as mpb;
use reemploi_proto::registry as rpb;
use serde_json::{Value, json};

use super::Ctx;
use crate::CliError;
use crate::client::{Connection, answer, partner_name, site_name};
use crate::output::{Listed, Table, emit, emit_table};
use crate::views;

/// Flags of `matches`.
#[derive(Args, Debug)]
pub struct MatchesArgs {
    /// The lot: `sites/SITE/lots/LOT`.
    pub lot: String,
    /// At most this many partners (up to 100).
    #[arg(long, default_value_t = 10)]
    pub limit: i32,
}

/// Flags of `recommend`.
#[derive(Args, Debug)]
pub struct RecommendArgs {
    /// The partner: `partners/ID` or `ID`.
    pub partner: String,
    /// At most this many lots (up to 1000).
    #[arg(long, default_value_t = 20)]
    pub limit: i32,
}

/// Flags of `plan`.
#[derive(Args, Debug)]
pub struct PlanArgs {
    /// The site: `sites/ID` or `ID`; all its published lots are planned.
    pub site: String,
    /// Only these partners (`partners/ID` or `ID`); repeatable. All feasible ones by default.
    #[arg(long = "partner")]
    pub partners: Vec<String>,
    /// Days, from now, the plan hands lots out over (1 to 366): each
    /// partner takes its weekly intake over the time its lots are
    /// available within them, less what it holds. 84 (12 weeks) by default.
    #[arg(long = "horizon-days", default_value_t = 0, hide_default_value = true)]
    pub horizon_days: i32,
}

/// Legal names of partners, looked up once each.
pub(crate) async fn partner_names(
    conn: &Connection,
    names: impl Iterator<Item = &String>,
) -> HashMap<String, String> {
    let mut reg = conn.registry();
    let mut out = HashMap::new();
    for name in names {
        if out.contains_key(name) {
            continue;
        }
        if let Ok(p) = reg
            .get_partner(rpb::GetPartnerRequest { name: name.clone() })
            .await
        {
            out.insert(name.clone(), p.into_inner().legal_name);
        }
    }
    out
}

/// Lots, looked up once each.
pub(crate) async fn lots(
    conn: &Connection,
    names: impl Iterator<Item = &String>,
) -> HashMap<String, pb::Lot> {
    let mut inv = conn.inventory();
    let mut out = HashMap::new();
    for name in names {
        if out.contains_key(name) {
            continue;
        }
        if let Ok(l) = inv.get_lot(pb::GetLotRequest { name: name.clone() }).await {
            out.insert(name.clone(), l.into_inner());
        }
    }
    out
}

pub(crate) fn label<'a>(names: &'a HashMap<String, String>, name: &'a str) -> &'a str {
    names.get(name).map_or(name, String::as_str)
}

pub(crate) fn lot_label(lots: &HashMap<String, pb::Lot>, name: &str) -> String {
    match lots.get(name) {
        Some(l) if !l.reference.is_empty() => format!("{} {}", l.reference, l.designation),
        Some(l) => l.designation.clone(),
        None => name.to_owned(),
    }
}

fn percent(x: f64) -> String {
    format!("{:.0} %", x * 100.0)
}

/// `reemploi matches LOT`.
pub async fn matches(ctx: &Ctx, a: MatchesArgs) -> Result<(), CliError> {
    let conn = ctx.connect().await?;
    let found = answer(
        conn.matching()
            .list_lot_matches(mpb::ListLotMatchesRequest {
                lot: a.lot.clone(),
                page_size: a.limit,
            })
            .await,
    )?
    .matches;
    let names = partner_names(&conn, found.iter().map(|m| &m.partner)).await;
    let listed = Listed {
        empty: format!(
            "no partner can take {} yet (none in range, accepting its category, verified)\n",
            a.lot
        ),
        footer: String::new(),
    };
    let mut t = Table::new(&[
        "#",
        "PARTNER",
        "NAME",
        "SCORE",
        "DISTANCE",
        "CATEGORY",
        "CAPACITY",
        "INSERTION",
    ]);
    for (i, m) in found.iter().enumerate() {
        let b = m.breakdown.unwrap_or_default();
        t.row(vec![
            (i + 1).to_string(),
            label(&names, &m.partner).to_owned(),
            m.partner.clone(),
            views::fr(&format!("{:.2}", m.score)),
            views::km(m.distance_m),
            percent(b.category_fit),
            percent(b.capacity),
            if b.insertion > 0.0 {
                "SIAE".to_owned()
            } else {
                String::new()
            },
        ]);
    }
    emit_table(
        ctx.format,
        Value::Array(found.iter().map(crate::json::message).collect()),
        &t,
        &listed,
    )
}

/// `reemploi recommend PARTNER`.
pub async fn recommend(ctx: &Ctx, a: RecommendArgs) -> Result<(), CliError> {
    let conn = ctx.connect().await?;
    let partner = partner_name(&a.partner);
    let found = answer(
        conn.matching()
            .recommend_lots(mpb::RecommendLotsRequest {
                partner: partner.clone(),
                page_size: a.limit,
                page_token: String::new(),
            })
            .await,
    )?
    .matches;
    let lots = lots(&conn, found.iter().map(|m| &m.lot)).await;
    let listed = Listed {
        empty: format!("no lot to recommend to {partner} for now\n"),
        footer: format!("claim one with: reemploi claim LOT --partner {partner} --quantity Q\n"),
    };
    let mut t = Table::new(&["#", "LOT", "NAME", "AVAILABLE", "MASS", "SCORE", "DISTANCE"]);
    for (i, m) in found.iter().enumerate() {
        let lot = lots.get(&m.lot);
        t.row(vec![
            (i + 1).to_string(),
            lot_label(&lots, &m.lot),
            m.lot.clone(),
            lot.map(|l| views::quantity(l.available.as_ref()))
                .unwrap_or_default(),
            lot.map(|l| views::mass(l.estimated_mass_g))
                .unwrap_or_default(),
            views::fr(&format!("{:.2}", m.score)),
            views::km(m.distance_m),
        ]);
    }
    emit_table(
        ctx.format,
        Value::Array(found.iter().map(crate::json::message).collect()),
        &t,
        &listed,
    )
}

/// `reemploi plan SITE`: who takes what, with totals.
pub async fn plan(ctx: &Ctx, a: PlanArgs) -> Result<(), CliError> {
    let conn = ctx.connect().await?;
    let site = site_name(&a.site);
    let plan = answer(
        conn.matching()
            .plan_allocation(mpb::PlanAllocationRequest {
                site: site.clone(),
                lots: Vec::new(),
                partners: a.partners.iter().map(|p| partner_name(p)).collect(),
                horizon_days: a.horizon_days,
            })
            .await,
    )?;
    let names = partner_names(
        &conn,
        plan.allocations
            .iter()
            .map(|x| &x.partner)
            .chain(plan.capacities.iter().map(|c| &c.partner)),
    )
    .await;
    let lots = lots(
        &conn,
        plan.allocations
            .iter()
            .map(|x| &x.lot)
            .chain(plan.unallocated.iter().map(|u| &u.lot)),
    )
    .await;
    emit(ctx.format, plan_json(&site, &plan), || {
        plan_text(&site, &plan, &names, &lots)
    })
}

/// The mass no partner takes, in grams (saturating: a server's numbers are
/// not to be trusted to add up within 64 bits).
fn unallocated_g(plan: &mpb::PlanAllocationResponse) -> i64 {
    plan.unallocated
        .iter()
        .fold(0, |sum, u| sum.saturating_add(u.mass_g))
}

/// The plan as JSON: the response, with the site and the unallocated mass.
fn plan_json(site: &str, plan: &mpb::PlanAllocationResponse) -> Value {
    let mut json = crate::json::message(plan);
    if let Some(o) = json.as_object_mut() {
        o.insert("site".to_owned(), json!(site));
        o.insert(
            "unallocatedMassG".to_owned(),
            json!(unallocated_g(plan).to_string()),
        );
    }
    json
}

/// The plan for people: who takes what, the totals, whether the plan is
/// the optimum, and what stays.
fn plan_text(
    site: &str,
    plan: &mpb::PlanAllocationResponse,
    names: &HashMap<String, String>,
    lots: &HashMap<String, pb::Lot>,
) -> String {
    let mut text = format!("allocation plan for {site}\n\n");
    if plan.allocations.is_empty() {
        text.push_str("no published lot of this site can go to a verified partner in range\n");
    } else {
        text.push_str(&allocations_table(plan, names, lots));
    }
    let partners_used = {
        let mut p: Vec<&String> = plan.allocations.iter().map(|x| &x.partner).collect();
        p.sort();
        p.dedup();
        p.len()
    };
    text.push_str(&format!(
        "\ntotal: {} to {partners_used} partner(s), {:.1} tonne-km\n",
        views::tonnes(plan.total_mass_g),
        plan.total_tonne_km
    ));
    if plan.optimal {
        text.push_str("optimal: no whole-unit plan reuses more, or as much with less transport\n");
    } else {
        text.push_str(&format!(
            "not proven optimal: the search stopped at its limit; at most {} more could be placed\n",
            views::mass(plan.mass_bound_g.saturating_sub(plan.total_mass_g))
        ));
    }
    text.push_str(&unallocated_text(plan, lots));
    text.push_str(&capacities_text(plan, names));
    text
}

/// Each partner's capacity over the horizon, what the plan uses and leaves.
fn capacities_text(plan: &mpb::PlanAllocationResponse, names: &HashMap<String, String>) -> String {
    if plan.capacities.is_empty() {
        return String::new();
    }
    let mut text = format!(
        "
capacities over {} days (weekly intake over the time the lots are there, less what is held):
",
        plan.horizon_days
    );
    let mut t = Table::new(&[
        "PARTNER", "PER WEEK", "DAYS", "HELD", "CAPACITY", "USED", "LEFT",
    ]);
    for c in &plan.capacities {
        t.row(vec![
            label(names, &c.partner).to_owned(),
            views::mass(c.weekly_intake_kg.saturating_mul(1000)),
            views::fr(&format!("{:.1}", c.window_seconds as f64 / 86_400.0)),
            views::mass(c.held_g),
            views::mass(c.capacity_g),
            views::mass(c.used_g),
            views::mass(c.left_g),
        ]);
    }
    text.push_str(&t.render());
    text
}

/// One line per allocation: the lot, the partner, how much and how far.
fn allocations_table(
    plan: &mpb::PlanAllocationResponse,
    names: &HashMap<String, String>,
    lots: &HashMap<String, pb::Lot>,
) -> String {
    let mut t = Table::new(&["LOT", "PARTNER", "QUANTITY", "MASS", "DISTANCE", "T·KM"]);
    for x in &plan.allocations {
        // tonne-km of one line: tonnes times kilometres.
        #[allow(clippy::cast_precision_loss)]
        let tkm = (x.mass_g as f64 / 1e6) * (x.distance_m as f64 / 1000.0);
        t.row(vec![
            lot_label(lots, &x.lot),
            label(names, &x.partner).to_owned(),
            views::quantity(x.quantity.as_ref()),
            views::mass(x.mass_g),
            views::km(x.distance_m),
            format!("{tkm:.1}"),
        ]);
    }
    t.render()
}

/// What no partner takes: the total, then one line per lot.
fn unallocated_text(plan: &mpb::PlanAllocationResponse, lots: &HashMap<String, pb::Lot>) -> String {
    if plan.unallocated.is_empty() {
        return "unallocated: nothing\n".to_owned();
    }
    let mut text = format!(
        "unallocated: {} in {} lot(s)\n",
        views::tonnes(unallocated_g(plan)),
        plan.unallocated.len()
    );
    let mut t = Table::new(&["LOT", "QUANTITY", "MASS"]);
    for u in &plan.unallocated {
        t.row(vec![
            lot_label(lots, &u.lot),
            views::quantity(u.quantity.as_ref()),
            views::mass(u.mass_g),
        ]);
    }
    text.push_str(&t.render());
    text
}
