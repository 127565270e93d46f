//! `reemploi impact`: the territory's figures for a period: tonnes handed
//! over and what became of them, CO2e avoided, insertion hours and
//! full-time equivalents, in total and by group (quartier, commune,
//! partner, category, month, site).

use clap::{ArgGroup, Args, ValueEnum};
use prost_types::Timestamp;
use reemploi_proto::impact as ipb;
use reemploi_proto::impact::get_impact_summary_request::Territory;

use super::Ctx;
use crate::CliError;
use crate::client::{answer, partner_name, site_name};
use crate::dates::{parse_end, parse_start};
use crate::figures::{self, fte, fte_fr, hours1, hours2, percent, share4, tonnes_exact, tonnes3};
use crate::output::{Format, Table, csv_text, print, print_json};

/// Flags of `impact`.
#[derive(Args, Debug)]
#[command(group(ArgGroup::new("territory").args(["commune", "quartier", "site"])))]
pub struct ImpactArgs {
    /// Start of the period, included: a month (2026-01), a date
    /// (2026-01-15, UTC) or an RFC 3339 time [default: the beginning].
    #[arg(long, value_name = "DATE", value_parser = parse_start)]
    pub from: Option<Timestamp>,
    /// End of the period: a month or a date is included whole (--to 2026-03
    /// is up to the end of March), an RFC 3339 time is excluded
    /// [default: now].
    #[arg(long, value_name = "DATE", value_parser = parse_end)]
    pub to: Option<Timestamp>,
    /// Only the sites of this commune, by its INSEE code (68224: Mulhouse).
    #[arg(long, value_name = "INSEE")]
    pub commune: Option<String>,
    /// Only the sites of this quartier, as the sites' operations spell it
    /// (Coteaux).
    #[arg(long)]
    pub quartier: Option<String>,
    /// Only this site (`sites/SITE` or `SITE`).
    #[arg(long)]
    pub site: Option<String>,
    /// Only what this partner received (`partners/ID` or `ID`).
    #[arg(long)]
    pub partner: Option<String>,
    /// Only this category family, e.g. chauffage.
    #[arg(long)]
    pub family: Option<String>,
    /// Groups, in order: --by quartier,month (or --by quartier --by month).
    /// Without it, the total only.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub by: Vec<GroupBy>,
}

/// How figures are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GroupBy {
    /// By the site's commune (INSEE code).
    Commune,
    /// By the site's quartier.
    Quartier,
    /// By partner.
    Partner,
    /// By material category.
    Category,
    /// By month of the hand-over (UTC).
    Month,
    /// By site.
    Site,
}

impl GroupBy {
    /// The grouping the API takes.
    pub fn proto(self) -> ipb::Grouping {
        match self {
            GroupBy::Commune => ipb::Grouping::Commune,
            GroupBy::Quartier => ipb::Grouping::Quartier,
            GroupBy::Partner => ipb::Grouping::Partner,
            GroupBy::Category => ipb::Grouping::Category,
            GroupBy::Month => ipb::Grouping::Month,
            GroupBy::Site => ipb::Grouping::Site,
        }
    }

    /// The column's header in a table.
    fn header(self) -> &'static str {
        match self {
            GroupBy::Commune => "COMMUNE",
            GroupBy::Quartier => "QUARTIER",
            GroupBy::Partner => "PARTNER",
            GroupBy::Category => "CATEGORY",
            GroupBy::Month => "MONTH",
            GroupBy::Site => "SITE",
        }
    }

    /// The key's column in CSV; [`GroupBy::label_column`] is its label's.
    fn column(self) -> &'static str {
        match self {
            GroupBy::Commune => "commune",
            GroupBy::Quartier => "quartier",
            GroupBy::Partner => "partner",
            GroupBy::Category => "category",
            GroupBy::Month => "month",
            GroupBy::Site => "site",
        }
    }

    fn label_column(self) -> &'static str {
        match self {
            GroupBy::Commune => "commune_label",
            GroupBy::Quartier => "quartier_label",
            GroupBy::Partner => "partner_label",
            GroupBy::Category => "category_label",
            GroupBy::Month => "month_label",
            GroupBy::Site => "site_label",
        }
    }
}

/// Runs `impact`.
pub async fn run(ctx: &Ctx, a: ImpactArgs) -> Result<(), CliError> {
    let format = ctx.format;
    let by = a.by.clone();
    let conn = ctx.connect().await?;
    let summary = answer(conn.impact().get_impact_summary(request(a)).await)?;
    match format {
        Format::Json => print_json(&crate::json::message(&summary)),
        Format::Table => print(&summary_table(&summary, &by)),
        Format::Csv => print(&summary_csv(&summary, &by)?),
    }
}

/// The request the flags ask for.
fn request(a: ImpactArgs) -> ipb::GetImpactSummaryRequest {
    let territory = match (a.commune, a.quartier, a.site) {
        (Some(insee), _, _) => Some(Territory::InseeCode(insee.trim().to_owned())),
        (None, Some(quartier), _) => Some(Territory::Quartier(quartier.trim().to_owned())),
        (None, None, Some(site)) => Some(Territory::Site(site_name(&site))),
        (None, None, None) => None,
    };
    ipb::GetImpactSummaryRequest {
        start_time: a.from,
        end_time: a.to,
        territory,
        partner: a.partner.as_deref().map(partner_name).unwrap_or_default(),
        family: a.family.unwrap_or_default(),
        group_by: a.by.iter().map(|g| g.proto() as i32).collect(),
    }
}

/// The figure columns of the table, for people.
const TABLE_FIGURES: [&str; 8] = [
    "HANDED OVER (t)",
    "REUSED (t)",
    "RECYCLED (t)",
    "DISPOSED (t)",
    "UNDECLARED (t)",
    "NET CO2e (t CO2e)",
    "HOURS",
    "FTE",
];

fn table_figures(f: &ipb::Figures) -> Vec<String> {
    vec![
        tonnes3(f.handed_over_mass_g),
        tonnes3(figures::reused_g(f)),
        tonnes3(f.recycled_mass_g),
        tonnes3(f.disposed_mass_g),
        tonnes3(f.undeclared_mass_g),
        tonnes3(f.co2e_net_g),
        hours1(f.insertion_minutes),
        fte_fr(f.fte),
    ]
}

/// The summary for people: one row per group and the total, then what
/// the total's figures mean (CO2e detail, the mass without factor,
/// insertion, the method).
pub fn summary_table(s: &ipb::ImpactSummary, by: &[GroupBy]) -> String {
    let mut headers: Vec<&'static str> = by.iter().map(|g| g.header()).collect();
    if headers.is_empty() {
        headers.push("");
    }
    let keys = headers.len();
    headers.extend(TABLE_FIGURES);
    let mut table = Table::new(&headers);
    for g in &s.groups {
        let mut row: Vec<String> = (0..keys)
            .map(|i| match g.labels.get(i).filter(|l| !l.is_empty()) {
                Some(label) => label.clone(),
                None => g.keys.get(i).cloned().unwrap_or_default(),
            })
            .collect();
        row.extend(table_figures(&g.figures.unwrap_or_default()));
        table.row(row);
    }
    let total = s.total.unwrap_or_default();
    let mut row = vec!["total".to_owned()];
    row.resize(keys, String::new());
    row.extend(table_figures(&total));
    table.row(row);
    format!("{}\n{}", table.render(), total_notes(s, &total))
}

/// What the total's figures mean, line by line.
fn total_notes(s: &ipb::ImpactSummary, t: &ipb::Figures) -> String {
    let mut notes = vec![
        format!(
            "reused: {} t as is, {} t refurbished, {} t resold",
            tonnes3(t.reused_as_is_mass_g),
            tonnes3(t.reused_refurbished_mass_g),
            tonnes3(t.resold_mass_g)
        ),
        format!(
            "CO2e avoided: gross {}, transport {}, net {} t CO2e",
            tonnes3(t.co2e_gross_g),
            tonnes3(t.co2e_transport_g),
            tonnes3(t.co2e_net_g)
        ),
        format!(
            "without a CO2e factor: {} t, {} of the mass reused (counted as zero)",
            tonnes3(t.without_factor_mass_g),
            percent(t.without_factor_share)
        ),
        format!(
            "insertion: {} h by {} people, {} FTE at {} h a year",
            hours1(t.insertion_minutes),
            t.insertion_people,
            fte_fr(t.fte),
            crate::views::fr(&s.fte_hours_per_year.to_string())
        ),
    ];
    if t.estimated_mass_g > 0 {
        notes.push(format!(
            "reused against the diagnostic's estimate of {} t: {}",
            tonnes3(t.estimated_mass_g),
            percent(t.reuse_rate)
        ));
    }
    notes.push(format!(
        "counted: {} lot(s), {} claim(s), {} partner(s)",
        t.lots, t.claims, t.partners
    ));
    notes.push(format!("method: {}", s.method_version));
    notes.iter().map(|n| format!("{n}\n")).collect()
}

/// The figure columns of the CSV: exact tonnes (6 decimals), minutes
/// beside hours, shares in [0, 1].
const CSV_FIGURES: [&str; 23] = [
    "handed_over_t",
    "reused_as_is_t",
    "reused_refurbished_t",
    "resold_t",
    "recycled_t",
    "disposed_t",
    "undeclared_t",
    "estimated_t",
    "reuse_rate",
    "co2e_gross_t",
    "co2e_transport_t",
    "co2e_net_t",
    "without_factor_t",
    "without_factor_share",
    "insertion_minutes",
    "insertion_hours",
    "insertion_people",
    "fte",
    "lots",
    "claims",
    "partners",
    "fte_hours_per_year",
    "method_version",
];

fn csv_figures(f: &ipb::Figures, s: &ipb::ImpactSummary) -> Vec<String> {
    vec![
        tonnes_exact(f.handed_over_mass_g),
        tonnes_exact(f.reused_as_is_mass_g),
        tonnes_exact(f.reused_refurbished_mass_g),
        tonnes_exact(f.resold_mass_g),
        tonnes_exact(f.recycled_mass_g),
        tonnes_exact(f.disposed_mass_g),
        tonnes_exact(f.undeclared_mass_g),
        tonnes_exact(f.estimated_mass_g),
        share4(f.reuse_rate),
        tonnes_exact(f.co2e_gross_g),
        tonnes_exact(f.co2e_transport_g),
        tonnes_exact(f.co2e_net_g),
        tonnes_exact(f.without_factor_mass_g),
        share4(f.without_factor_share),
        f.insertion_minutes.to_string(),
        hours2(f.insertion_minutes),
        f.insertion_people.to_string(),
        fte(f.fte),
        f.lots.to_string(),
        f.claims.to_string(),
        f.partners.to_string(),
        s.fte_hours_per_year.to_string(),
        s.method_version.clone(),
    ]
}

/// The summary as CSV: a `row` column (`group` or `total`), each grouping's
/// key and label, then the figures; one row per group, then the total.
/// Masses and minutes of the groups sum to the total's exactly; partners
/// do not (one partner may be in several groups), nor do rates.
pub fn summary_csv(s: &ipb::ImpactSummary, by: &[GroupBy]) -> Result<String, CliError> {
    let mut headers = vec!["row"];
    for g in by {
        headers.extend([g.column(), g.label_column()]);
    }
    headers.extend(CSV_FIGURES);
    let mut rows = Vec::with_capacity(s.groups.len() + 1);
    for g in &s.groups {
        let mut row = vec!["group".to_owned()];
        for i in 0..by.len() {
            row.push(g.keys.get(i).cloned().unwrap_or_default());
            row.push(g.labels.get(i).cloned().unwrap_or_default());
        }
        row.extend(csv_figures(&g.figures.unwrap_or_default(), s));
        rows.push(row);
    }
    let mut total = vec!["total".to_owned()];
    total.resize(1 + 2 * by.len(), String::new());
    total.extend(csv_figures(&s.total.unwrap_or_default(), s));
    rows.push(total);
    csv_text(&headers, &rows)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn figures(handed: i64, reused: i64, minutes: i64, net: i64) -> ipb::Figures {
        ipb::Figures {
            handed_over_mass_g: handed,
            reused_as_is_mass_g: reused,
            undeclared_mass_g: handed - reused,
            co2e_net_g: net,
            insertion_minutes: minutes,
            fte: minutes as f64 / 60.0 / 1607.0,
            without_factor_mass_g: reused,
            without_factor_share: 1.0,
            ..Default::default()
        }
    }

    fn group(keys: &[&str], labels: &[&str], f: ipb::Figures) -> ipb::Group {
        ipb::Group {
            keys: keys.iter().map(|k| (*k).to_owned()).collect(),
            labels: labels.iter().map(|k| (*k).to_owned()).collect(),
            figures: Some(f),
        }
    }

    fn summary() -> ipb::ImpactSummary {
        ipb::ImpactSummary {
            total: Some(figures(1_355_250, 300_000, 210, -1_500)),
            groups: vec![
                group(
                    &["Coteaux", "2026-01"],
                    &["Coteaux", "janvier 2026"],
                    figures(355_250, 200_000, 90, -2_000),
                ),
                group(
                    &["=cmd|'/C calc'!A0", "2026-02"],
                    &["", ""],
                    figures(1_000_000, 100_000, 120, 500),
                ),
            ],
            method_version: "impact-method/1".to_owned(),
            fte_hours_per_year: 1607,
        }
    }

    #[test]
    fn the_table_shows_tonnes_hours_the_share_without_factor_and_the_method() {
        let text = summary_table(&summary(), &[GroupBy::Quartier, GroupBy::Month]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("QUARTIER  "), "{text}");
        assert!(lines[0].contains("  MONTH  "), "{text}");
        assert!(lines[0].contains("HANDED OVER (t)") && lines[0].contains("FTE"));
        assert!(lines[1].starts_with("Coteaux"), "labels shown: {text}");
        assert!(lines[1].contains("janvier 2026") && lines[1].contains(" 0,355 "));
        assert!(
            lines[1].contains(" -0,002 ") && lines[1].contains(" 1,5 "),
            "{text}"
        );
        assert!(
            lines[3].starts_with("total ") && lines[3].contains(" 1,355 "),
            "{text}"
        );
        assert!(text.contains("net -0,002 t CO2e"), "{text}");
        assert!(
            text.contains("without a CO2e factor: 0,300 t, 100,0 %"),
            "{text}"
        );
        assert!(
            text.contains("3,5 h by 0 people, 0,002 FTE at 1 607 h a year"),
            "{text}"
        );
        assert!(text.contains("method: impact-method/1"), "{text}");
        let total_only = summary_table(&summary(), &[]);
        assert!(total_only.lines().nth(1).unwrap().starts_with("Coteaux"));
    }

    #[test]
    fn the_csv_has_a_row_per_group_and_a_total_row_that_they_sum_to() {
        let text = summary_csv(&summary(), &[GroupBy::Quartier, GroupBy::Month]).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let headers = reader.headers().unwrap().clone();
        assert_eq!(
            &headers.iter().take(6).collect::<Vec<_>>(),
            &[
                "row",
                "quartier",
                "quartier_label",
                "month",
                "month_label",
                "handed_over_t"
            ]
        );
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 3);
        assert_eq!(&rows[2][0], "total");
        assert_eq!(&rows[1][1], "'=cmd|'/C calc'!A0", "never a formula");
        let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
        for name in [
            "handed_over_t",
            "reused_as_is_t",
            "undeclared_t",
            "co2e_net_t",
        ] {
            let micro = |r: &csv::StringRecord| -> i64 {
                r[col(name)].replace('.', "").parse::<i64>().unwrap()
            };
            assert_eq!(micro(&rows[0]) + micro(&rows[1]), micro(&rows[2]), "{name}");
        }
        assert_eq!(&rows[0][col("handed_over_t")], "0.355250");
        assert_eq!(&rows[0][col("co2e_net_t")], "-0.002000");
        assert_eq!(&rows[2][col("insertion_minutes")], "210");
        assert_eq!(&rows[2][col("insertion_hours")], "3.50");
        assert_eq!(&rows[2][col("method_version")], "impact-method/1");
    }
}
