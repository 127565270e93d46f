//! `reemploi partners import`: an SIAE directory export. A row whose SIRET
//! no partner has (archived ones aside) registers a pending partner, in
//! one batch; a row whose SIRET a partner has updates it with the cells
//! that are not empty, so that the monthly export can be imported again.
//! The directory says nothing of materials: `--accepts` gives the
//! categories of the rows that name none, and a partner left accepting
//! nothing, which matching would never propose, is warned about.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use clap::Args;
use reemploi_proto::registry as rpb;
use serde_json::{Value, json};

use super::{Ctx, pages};
use crate::CliError;
use crate::client::{Connection, answer, paced};
use crate::import::partners::PartnerRow;
use crate::import::{self, Action, Done, Outcome, Read};
use crate::output::{Format, emit};
use crate::views;

/// Flags of `partners import`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The export: .csv (comma or semicolon), .xlsx, .xls or .ods.
    pub file: PathBuf,
    /// Service radius of new partners whose row gives none, in km.
    #[arg(long, default_value_t = reemploi_import::partners::DEFAULT_RADIUS_KM, value_parser = clap::value_parser!(i32).range(1..=200))]
    pub default_radius_km: i32,
    /// The categories accepted by the partners whose row names none (the
    /// directory has no categories): codes or labels of `reemploi
    /// categories`, comma-separated or repeated. Given to new partners,
    /// and to existing ones that accept none yet.
    #[arg(long = "accepts", value_name = "CATEGORY", value_delimiter = ',')]
    pub accepts: Vec<String>,
    /// Imports the valid rows and skips the bad ones (still reported).
    #[arg(long)]
    pub skip_invalid: bool,
    /// Reads and checks the file and shows every row as read; registers
    /// nothing (no server needed).
    #[arg(long)]
    pub dry_run: bool,
    /// Then verifies every partner of the file still pending (admins).
    #[arg(long)]
    pub verify: bool,
    /// Idempotency key of the batch that registers the new partners.
    #[arg(long)]
    pub request_id: Option<String>,
}

/// `partners import`: read, check, report; then register the new partners
/// in one BatchRegisterPartners call and update the existing ones.
pub async fn run(ctx: &Ctx, a: ImportArgs) -> Result<(), CliError> {
    let mut accepts: Vec<String> = Vec::new();
    for given in &a.accepts {
        let code = reemploi_import::cells::category(given)
            .map_err(|e| CliError::Usage(format!("--accepts: {e}")))?
            .code
            .to_owned();
        if !accepts.contains(&code) {
            accepts.push(code);
        }
    }
    let partners = PartnersImport {
        default_radius_km: a.default_radius_km,
        accepts,
        verify: a.verify,
    };
    let options = import::Options {
        file: a.file,
        skip_invalid: a.skip_invalid,
        dry_run: a.dry_run,
        request_id: a.request_id,
    };
    import::run(ctx, &partners, options).await
}

/// What `partners import` does its own way.
struct PartnersImport {
    /// The service radius of new rows without one, in km.
    default_radius_km: i32,
    /// The category codes of rows that name none.
    accepts: Vec<String>,
    /// Verify every partner of the file still pending.
    verify: bool,
}

/// Why a partner that accepts no category is worth a warning.
const MATCHES_NOTHING: &str = "accepts no category, so matching will never propose it a lot: give a categories column, or --accepts";

/// What becomes of a row, given the partners registered.
enum Plan {
    /// No partner has its SIRET: a new one, as it will be registered.
    Register(rpb::Partner),
    /// A partner has it, and the row changes these fields: the partner as
    /// it is, and as it will be.
    Update {
        current: Box<rpb::Partner>,
        wanted: Box<rpb::Partner>,
        fields: Vec<&'static str>,
    },
    /// A partner has it and already says what the row says.
    Unchanged(rpb::Partner),
}

/// A list as a set, to compare.
fn sorted<T: Ord + Clone>(v: &[T]) -> Vec<T> {
    let mut v = v.to_vec();
    v.sort();
    v.dedup();
    v
}

impl PartnersImport {
    /// The partner of a new row: the default categories when it names
    /// none.
    fn new_partner(&self, row: &PartnerRow) -> rpb::Partner {
        let mut partner = row.partner.clone();
        if partner.accepted_categories.is_empty() {
            partner.accepted_categories = self.accepts.clone();
        }
        partner
    }

    /// What becomes of each row, given the partners by SIRET.
    fn plan(
        &self,
        rows: &[(u64, PartnerRow)],
        by_siret: &HashMap<String, rpb::Partner>,
    ) -> Vec<(u64, Plan)> {
        rows.iter()
            .map(|(line, row)| {
                let plan = match by_siret.get(&row.partner.siret) {
                    None => Plan::Register(self.new_partner(row)),
                    Some(current) => {
                        let (wanted, fields) = self.update_of(current, row);
                        if fields.is_empty() {
                            Plan::Unchanged(current.clone())
                        } else {
                            Plan::Update {
                                current: Box::new(current.clone()),
                                wanted: Box::new(wanted),
                                fields,
                            }
                        }
                    }
                };
                (*line, plan)
            })
            .collect()
    }

    /// The partner as a row would leave it, and the fields that changed:
    /// the names and kinds, the fields the row gives a value for, and the
    /// default categories when the partner accepts none.
    fn update_of(
        &self,
        current: &rpb::Partner,
        row: &PartnerRow,
    ) -> (rpb::Partner, Vec<&'static str>) {
        let new = &row.partner;
        let given = |f: &str| row.given.contains(&f);
        let mut wanted = current.clone();
        wanted.legal_name.clone_from(&new.legal_name);
        wanted.kinds = sorted(&new.kinds);
        if given("trade_name") {
            wanted.trade_name.clone_from(&new.trade_name);
        }
        let mut address = current.address.clone().unwrap_or_default();
        let from = new.address.clone().unwrap_or_default();
        for (field, to, value) in [
            ("address.line1", &mut address.line1, from.line1),
            (
                "address.postal_code",
                &mut address.postal_code,
                from.postal_code,
            ),
            ("address.commune", &mut address.commune, from.commune),
        ] {
            if given(field) {
                *to = value;
            }
        }
        wanted.address = Some(address);
        if given("location") {
            wanted.location = new.location;
        }
        if given("accepted_categories") {
            wanted.accepted_categories = sorted(&new.accepted_categories);
        } else if current.accepted_categories.is_empty() {
            wanted.accepted_categories = sorted(&self.accepts);
        }
        for (field, to, value) in [
            (
                "weekly_intake_kg",
                &mut wanted.weekly_intake_kg,
                new.weekly_intake_kg,
            ),
            (
                "insertion_fte_centi",
                &mut wanted.insertion_fte_centi,
                new.insertion_fte_centi,
            ),
        ] {
            if given(field) {
                *to = value;
            }
        }
        if given("service_radius_km") {
            wanted.service_radius_km = new.service_radius_km;
        }
        let mut contact = current.contact.clone().unwrap_or_default();
        let from = new.contact.clone().unwrap_or_default();
        if given("contact.email") {
            contact.email = from.email;
        }
        if given("contact.phone") {
            contact.phone = from.phone;
        }
        wanted.contact = Some(contact);
        let fields = differences(current, &wanted);
        (wanted, fields)
    }

    /// Registers the new partners in one batch call, in file order; a
    /// refusal names the lines of the rows it refused.
    async fn register(
        &self,
        conn: &Connection,
        file: &str,
        rows: &[(u64, &rpb::Partner)],
        request_id: String,
    ) -> Result<Vec<rpb::Partner>, CliError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let req = rpb::BatchRegisterPartnersRequest {
            requests: rows
                .iter()
                .map(|(_, p)| rpb::RegisterPartnerRequest {
                    partner: Some((*p).clone()),
                    request_id: String::new(),
                })
                .collect(),
            request_id,
        };
        let lines: Vec<u64> = rows.iter().map(|(line, _)| *line).collect();
        let registered = paced(|| {
            let (mut registry, req) = (conn.registry(), req.clone());
            async move { registry.batch_register_partners(req).await }
        })
        .await
        .map_err(|s| import::batch_error(file, &s, &lines, "partner"))?;
        Ok(registered.into_inner().partners)
    }
}

/// The fields UpdatePartner is to change: those in which `wanted` differs
/// from `current`.
fn differences(current: &rpb::Partner, wanted: &rpb::Partner) -> Vec<&'static str> {
    let address = |p: &rpb::Partner| p.address.clone().unwrap_or_default();
    let contact = |p: &rpb::Partner| p.contact.clone().unwrap_or_default();
    [
        ("legal_name", current.legal_name != wanted.legal_name),
        ("trade_name", current.trade_name != wanted.trade_name),
        ("kinds", sorted(&current.kinds) != sorted(&wanted.kinds)),
        ("address", address(current) != address(wanted)),
        ("location", current.location != wanted.location),
        (
            "accepted_categories",
            sorted(&current.accepted_categories) != sorted(&wanted.accepted_categories),
        ),
        (
            "weekly_intake_kg",
            current.weekly_intake_kg != wanted.weekly_intake_kg,
        ),
        (
            "service_radius_km",
            current.service_radius_km != wanted.service_radius_km,
        ),
        (
            "insertion_fte_centi",
            current.insertion_fte_centi != wanted.insertion_fte_centi,
        ),
        ("contact", contact(current) != contact(wanted)),
    ]
    .into_iter()
    .filter(|(_, differs)| *differs)
    .map(|(field, _)| field)
    .collect()
}

/// Updates a partner with the fields a row changes, as it was listed (its
/// etag: a change made meanwhile is not overwritten), at the server's pace.
async fn update(
    conn: &Connection,
    current: &rpb::Partner,
    wanted: &rpb::Partner,
    fields: &[&'static str],
) -> Result<rpb::Partner, tonic::Status> {
    let mut partner = wanted.clone();
    partner.name.clone_from(&current.name);
    partner.etag.clone_from(&current.etag);
    let req = rpb::UpdatePartnerRequest {
        partner: Some(partner),
        update_mask: Some(prost_types::FieldMask {
            paths: fields.iter().map(|f| (*f).to_owned()).collect(),
        }),
    };
    paced(|| {
        let (mut registry, req) = (conn.registry(), req.clone());
        async move { registry.update_partner(req).await }
    })
    .await
    .map(tonic::Response::into_inner)
}

/// The partners not archived, by SIRET (unique among them), listed at the
/// server's pace.
async fn by_siret(conn: &Connection) -> Result<HashMap<String, rpb::Partner>, CliError> {
    let all = pages(0, |page_token, page_size| {
        let req = rpb::ListPartnersRequest {
            page_size,
            page_token,
            ..Default::default()
        };
        async move {
            let page = answer(
                paced(|| {
                    let (mut registry, req) = (conn.registry(), req.clone());
                    async move { registry.list_partners(req).await }
                })
                .await,
            )?;
            Ok((page.partners, page.next_page_token))
        }
    })
    .await?;
    Ok(all
        .into_iter()
        .filter(|p| p.status != rpb::PartnerStatus::Archived as i32)
        .map(|p| (p.siret.clone(), p))
        .collect())
}

impl import::Import for PartnersImport {
    type Row = PartnerRow;
    type Made = rpb::Partner;
    const WHAT: &'static str = "partners";

    fn parse(
        &self,
        path: &Path,
        sheet: &import::sheet::Sheet,
        tick: &mut dyn FnMut(),
    ) -> Result<Read<PartnerRow>, CliError> {
        let directory = import::partners::parse_directory(sheet, self.default_radius_km, tick)
            .map_err(|e| import::file_error(path, &e))?;
        Ok(Read {
            file: path.display().to_string(),
            parsed: directory.parsed,
            unused: directory.unused,
            columns: Vec::new(),
        })
    }

    fn dry_run_columns(&self) -> &'static [&'static str] {
        &[
            "SIRET",
            "LEGAL NAME",
            "KINDS",
            "COMMUNE",
            "CATEGORIES",
            "EMAIL",
            "PHONE",
            "NOTE",
        ]
    }

    fn dry_run_row(&self, row: &PartnerRow) -> (Value, Vec<String>) {
        let p = self.new_partner(row);
        let contact = p.contact.clone().unwrap_or_default();
        let note = if p.accepted_categories.is_empty() {
            MATCHES_NOTHING.to_owned()
        } else {
            String::new()
        };
        let cells = vec![
            p.siret.clone(),
            p.legal_name.clone(),
            p.kinds
                .iter()
                .map(|k| views::kind(*k))
                .collect::<Vec<_>>()
                .join(","),
            p.address.clone().unwrap_or_default().commune,
            p.accepted_categories.join(","),
            contact.email,
            contact.phone,
            note,
        ];
        (json!({"partner": crate::json::message(&p)}), cells)
    }

    fn row_warnings(&self, rows: &[(u64, &PartnerRow)]) -> Vec<(u64, String)> {
        rows.iter()
            .filter(|(_, r)| self.new_partner(r).accepted_categories.is_empty())
            .map(|(line, r)| {
                (
                    *line,
                    format!(
                        "{} {MATCHES_NOTHING} (unless it is registered already and accepts some)",
                        r.partner.legal_name
                    ),
                )
            })
            .collect()
    }

    fn made_warnings(&self, outcomes: &[Outcome<rpb::Partner>]) -> Vec<(u64, String)> {
        outcomes
            .iter()
            .filter(|o| o.item.accepted_categories.is_empty())
            .map(|o| (o.line, format!("{} {MATCHES_NOTHING}", o.item.legal_name)))
            .collect()
    }

    async fn apply(
        &self,
        conn: &Connection,
        read: &Read<PartnerRow>,
        request_id: String,
    ) -> Result<Vec<Outcome<rpb::Partner>>, CliError> {
        let plans = self.plan(&read.parsed.good, &by_siret(conn).await?);
        let new: Vec<(u64, &rpb::Partner)> = plans
            .iter()
            .filter_map(|(line, p)| match p {
                Plan::Register(partner) => Some((*line, partner)),
                _ => None,
            })
            .collect();
        let mut registered = self
            .register(conn, &read.file, &new, request_id)
            .await?
            .into_iter();
        let bar = import::progress(plans.len(), "updating");
        let mut outcomes = Vec::with_capacity(plans.len());
        for (line, plan) in plans {
            bar.inc(1);
            let (action, item) = match plan {
                Plan::Register(_) => (
                    Action::Created,
                    registered.next().ok_or_else(|| {
                        CliError::Local(
                            "the server answered fewer partners than it was sent".to_owned(),
                        )
                    })?,
                ),
                Plan::Update {
                    current,
                    wanted,
                    fields,
                } => match update(conn, &current, &wanted, &fields).await {
                    Ok(now) => (Action::Updated(fields), now),
                    Err(status) => (Action::Refused(status), *current),
                },
                Plan::Unchanged(current) => (Action::Unchanged, current),
            };
            outcomes.push(Outcome { line, action, item });
        }
        bar.finish_and_clear();
        Ok(outcomes)
    }

    fn follow_up(&self) -> Option<&'static str> {
        self.verify.then_some("verifying")
    }

    fn needs_follow_up(&self, outcome: &Outcome<rpb::Partner>) -> bool {
        !matches!(outcome.action, Action::Refused(_))
            && outcome.item.status == rpb::PartnerStatus::Pending as i32
    }

    async fn follow_up_one(
        &self,
        conn: &Connection,
        partner: &rpb::Partner,
    ) -> Result<rpb::Partner, tonic::Status> {
        conn.verify_partner(&partner.name).await
    }

    fn name(partner: &rpb::Partner) -> &str {
        &partner.name
    }

    fn report(
        &self,
        format: Format,
        done: &Done<'_, PartnerRow, rpb::Partner>,
    ) -> Result<(), CliError> {
        let json = json!({
            "file": done.file,
            "dry_run": false,
            "registered": done.json_of("created"),
            "updated": done.json_of("updated"),
            "unchanged": done.json_of("unchanged"),
            "refused": done.json_of("refused"),
            "skipped": done.skipped_json(),
            "verify_failures": done.failures.iter().map(|(n, s)| json!({"name": n, "message": s.message()})).collect::<Vec<_>>(),
            "warnings": done.warnings_json(),
        });
        emit(format, json, || self.text(done))?;
        if let Some(refusal) = done.refusal() {
            return Err(refusal);
        }
        match done.failures.first() {
            Some((_, status)) => Err(CliError::from_status(status)),
            None => Ok(()),
        }
    }
}

impl PartnersImport {
    /// The report for people: what became of each row, those not
    /// verified, the warnings, and what to do next.
    fn text(&self, done: &Done<'_, PartnerRow, rpb::Partner>) -> String {
        let counts = done.counts("partner").replacen("created", "registered", 1);
        let mut text = format!(
            "{counts} from {}{}\n{}",
            done.file,
            done.skipped_note(),
            done.table(views::PARTNER_COLUMNS, views::partner_row)
        );
        text.push_str(&done.explanations(|p| p.legal_name.clone()));
        for (name, s) in &done.failures {
            text.push_str(&format!("not verified: {name}: {}\n", s.message()));
        }
        if !self.verify {
            text.push_str("next: an admin verifies each with `reemploi partners verify NAME` (or import with --verify)\n");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The first row of a small directory export, as the command reads it.
    fn row(csv: &str) -> PartnerRow {
        let sheet = import::sheet::read_csv(csv.as_bytes()).unwrap();
        let directory = import::partners::parse_directory(&sheet, 30, || {}).unwrap();
        assert!(
            directory.parsed.bad.is_empty(),
            "{:?}",
            directory.parsed.bad
        );
        directory.parsed.good[0].1.clone()
    }

    fn importer(accepts: &[&str]) -> PartnersImport {
        PartnersImport {
            default_radius_km: 30,
            accepts: accepts.iter().map(|c| (*c).to_owned()).collect(),
            verify: false,
        }
    }

    const HEADER: &str = "siret,type,raison_sociale,enseigne,ville,email,telephone,latitude,longitude,categories,radius_km\n";

    #[test]
    fn an_update_changes_what_the_row_gives_and_no_more() {
        let registered = row(&format!(
            "{HEADER}90012345600015,EI;ACI,Atelier,Enseigne,Mulhouse,a@b.fr,0389,47.7,7.3,tuile,15\n"
        ))
        .partner;
        // Same kinds in another order, empty cells, no categories: nothing.
        let same = row(&format!(
            "{HEADER}90012345600015,ACI;EI,Atelier,,,,,47.7,7.3,,\n"
        ));
        let (_, fields) = importer(&["brique"]).update_of(&registered, &same);
        assert_eq!(fields, Vec::<&str>::new());
        // A new phone, a new commune, another radius: those only; the
        // contact keeps its e-mail.
        let moved = row(&format!(
            "{HEADER}90012345600015,ACI,Atelier,,Illzach,,0390,47.7,7.3,,20\n"
        ));
        let (wanted, fields) = importer(&[]).update_of(&registered, &moved);
        assert_eq!(
            fields,
            vec!["kinds", "address", "service_radius_km", "contact"]
        );
        let contact = wanted.contact.unwrap();
        assert_eq!(
            (contact.email.as_str(), contact.phone.as_str()),
            ("a@b.fr", "0390")
        );
        assert_eq!(wanted.trade_name, "Enseigne");
        assert_eq!(wanted.accepted_categories, vec!["tuile"]);
    }

    #[test]
    fn default_categories_fill_only_a_partner_that_accepts_none() {
        let mut registered = row(&format!(
            "{HEADER}90012345600015,ACI,Atelier,,,,,47.7,7.3,,\n"
        ))
        .partner;
        let again = row(&format!(
            "{HEADER}90012345600015,ACI,Atelier,,,,,47.7,7.3,,\n"
        ));
        let import = importer(&["radiateur", "brique"]);
        let (wanted, fields) = import.update_of(&registered, &again);
        assert_eq!(fields, vec!["accepted_categories"]);
        assert_eq!(wanted.accepted_categories, vec!["brique", "radiateur"]);
        registered.accepted_categories = vec!["tuile".to_owned()];
        let (_, fields) = import.update_of(&registered, &again);
        assert_eq!(fields, Vec::<&str>::new());
        assert_eq!(
            import.new_partner(&again).accepted_categories,
            vec!["radiateur", "brique"]
        );
    }
}
