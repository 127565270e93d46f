//! `reemploi lots import`: a PEMD diagnostic onto a site. Rows whose
//! reference the site does not have become draft lots, in one batch; a row
//! whose reference names a draft of the site updates it (the fields whose
//! cells are not empty), and one naming a lot already published, or
//! several lots, leaves it alone, so that importing the same diagnostic
//! again creates nothing twice. `--publish` then publishes the drafts of
//! the file, but not the hazardous ones, and not those whose reuse
//! potential awaits a check until a passed check is recorded (`reemploi
//! lots check`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use clap::Args;
use reemploi_proto::inventory as pb;
use serde_json::{Value, json};

use super::{Ctx, pages};
use crate::CliError;
use crate::client::{Connection, answer, paced, site_name};
use crate::import::lots::again::{self, LeftAlone, Plan, key, plan};
use crate::import::lots::{LotRow, Mapping};
use crate::import::{self, Action, Done, Outcome, Read};
use crate::output::{Format, emit};
use crate::views;

/// Flags of `lots import`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The diagnostic: .csv (comma or semicolon), .xlsx, .xls or .ods.
    pub file: PathBuf,
    /// The site the lots belong to: `sites/ID` or `ID`.
    #[arg(long)]
    pub site: String,
    /// Reads the column of header COLUMN as FIELD, before the columns
    /// found by their headers; repeatable. FIELD is one of reference,
    /// designation, category, quantity, unit, mass_kg, mass_t, location,
    /// condition, reuse_potential, waste_code, hazard, description, or
    /// ignore (the column is not read).
    #[arg(long = "map", value_name = "COLUMN=FIELD")]
    pub map: Vec<Mapping>,
    /// Imports the valid rows and skips the bad ones (still reported).
    #[arg(long)]
    pub skip_invalid: bool,
    /// Reads and checks the file and shows every row as read, hazardous
    /// ones included; sends nothing (no server needed).
    #[arg(long)]
    pub dry_run: bool,
    /// Then publishes the file's draft lots: never the hazardous ones, and
    /// not those whose reuse potential is "after check" (lead, structure)
    /// until a passed check is recorded with `reemploi lots check`.
    #[arg(long)]
    pub publish: bool,
    /// Idempotency key of the batch that creates the new lots: repeating
    /// the import with it returns the first lots instead of creating them
    /// again.
    #[arg(long)]
    pub request_id: Option<String>,
}

/// `lots import`: read, check, report; then create the new lots in one
/// BatchCreateLots call and update the drafts the file changes.
pub async fn run(ctx: &Ctx, a: ImportArgs) -> Result<(), CliError> {
    let lots = LotsImport {
        site: site_name(&a.site),
        maps: a.map,
        publish: a.publish,
    };
    let options = import::Options {
        file: a.file,
        skip_invalid: a.skip_invalid,
        dry_run: a.dry_run,
        request_id: a.request_id,
    };
    import::run(ctx, &lots, options).await
}

/// What `lots import` does its own way.
struct LotsImport {
    /// The site the lots are on.
    site: String,
    /// The columns `--map` names.
    maps: Vec<Mapping>,
    /// Publish the drafts of the file that can be.
    publish: bool,
}

/// Where the "available" column is in [`views::lot_row`]: an imported lot
/// has all its quantity available, so the import leaves that column out.
const AVAILABLE: usize = 5;

/// Why `--publish` leaves a lot whose reuse potential awaits a check.
const AWAITS_CHECK: &str = "its reuse potential is \"after check\" (lead, structure): left a draft until checked; record the check with `reemploi lots check NAME --result passed --date DATE --by WHO`, then publish it with `reemploi lots publish NAME` or import again with --publish";

/// Why a row's lot is left as it is, for people.
fn left_alone(lot: &pb::Lot, why: &LeftAlone) -> String {
    match why {
        LeftAlone::NotDraft(fields) => format!(
            "the lot of reference {} is {}, and a re-import changes drafts only: kept \
             without the file's new {}",
            lot.reference,
            views::lot_status_short(lot.status),
            fields.join(", ")
        ),
        LeftAlone::SameReference(n) => format!(
            "{n} lots of the site have the reference {}: change them one by one",
            lot.reference
        ),
    }
}

impl import::Import for LotsImport {
    type Row = LotRow;
    type Made = pb::Lot;
    const WHAT: &'static str = "lots";

    fn parse(
        &self,
        path: &Path,
        sheet: &import::sheet::Sheet,
        tick: &mut dyn FnMut(),
    ) -> Result<Read<LotRow>, CliError> {
        import::lots::check_mappings(sheet, &self.maps)
            .map_err(|e| import::file_error(path, &e))?;
        let diagnostic = import::lots::parse_mapped(sheet, &self.maps, tick).map_err(|e| {
            let hint = match e {
                import::ImportError::MissingColumns { .. } => {
                    "; name the column that holds it with --map COLUMN=FIELD"
                }
                _ => "",
            };
            import::file_error(path, &format!("{e}{hint}"))
        })?;
        Ok(Read {
            file: path.display().to_string(),
            parsed: diagnostic.parsed,
            unused: diagnostic.layout.unused,
            columns: diagnostic
                .layout
                .columns
                .into_iter()
                .map(|(f, h)| (f.code(), h))
                .collect(),
        })
    }

    fn dry_run_columns(&self) -> &'static [&'static str] {
        &[
            "REF",
            "DESIGNATION",
            "CATEGORY",
            "QUANTITY",
            "MASS",
            "REUSE",
            "WASTE CODE",
            "HAZARDS",
            "NOTE",
        ]
    }

    fn dry_run_row(&self, row: &LotRow) -> (Value, Vec<String>) {
        let lot = &row.lot;
        let note = match &row.hazardous {
            Some(why) => format!("hazardous ({why}): a draft that can never be published"),
            None if awaits_check(lot) => {
                "after check: --publish leaves it a draft until a passed check is recorded"
                    .to_owned()
            }
            None => String::new(),
        };
        let json = json!({
            "lot": crate::json::message(lot),
            "hazardous": row.hazardous.as_ref().map(ToString::to_string),
            "after_check": awaits_check(lot),
        });
        let cells = vec![
            lot.reference.clone(),
            lot.designation.clone(),
            lot.category.clone(),
            views::quantity(lot.quantity.as_ref()),
            views::mass(lot.estimated_mass_g),
            reuse(lot.reuse_potential),
            lot.waste_code.clone(),
            hazards(&lot.hazards),
            note,
        ];
        (json, cells)
    }

    fn row_warnings(&self, rows: &[(u64, &LotRow)]) -> Vec<(u64, String)> {
        let without: Vec<u64> = rows
            .iter()
            .filter(|(_, r)| key(&r.lot.reference).is_empty())
            .map(|(line, _)| *line)
            .collect();
        no_reference(&without, rows.len())
    }

    fn made_warnings(&self, outcomes: &[Outcome<pb::Lot>]) -> Vec<(u64, String)> {
        let without: Vec<u64> = outcomes
            .iter()
            .filter(|o| matches!(o.action, Action::Created) && key(&o.item.reference).is_empty())
            .map(|o| o.line)
            .collect();
        no_reference(&without, outcomes.len())
    }

    async fn apply(
        &self,
        conn: &Connection,
        read: &Read<LotRow>,
        request_id: String,
    ) -> Result<Vec<Outcome<pb::Lot>>, CliError> {
        let existing = self.site_lots(conn).await?;
        let plans = plan(&read.parsed.good, &existing);
        let new: Vec<(u64, &LotRow)> = plans
            .iter()
            .filter_map(|(line, p)| match p {
                Plan::Create(row) => Some((*line, *row)),
                _ => None,
            })
            .collect();
        let mut created = self
            .create(conn, &read.file, &new, request_id)
            .await?
            .into_iter();
        let bar = import::progress(plans.len(), "updating");
        let mut outcomes = Vec::with_capacity(plans.len());
        for (line, plan) in plans {
            bar.inc(1);
            let (action, item) = match plan {
                Plan::Create(_) => (Action::Created, created.next().ok_or_else(short_batch)?),
                Plan::Update { lot, row, fields } => match update(conn, &lot, row, &fields).await {
                    Ok(now) => (Action::Updated(fields), now),
                    Err(status) => (Action::Refused(status), lot),
                },
                Plan::Unchanged(lot) => (Action::Unchanged, lot),
                Plan::LeftAlone(lot, why) => (Action::LeftAlone(left_alone(&lot, &why)), lot),
            };
            outcomes.push(Outcome { line, action, item });
        }
        bar.finish_and_clear();
        Ok(outcomes)
    }

    fn follow_up(&self) -> Option<&'static str> {
        self.publish.then_some("publishing")
    }

    fn needs_follow_up(&self, outcome: &Outcome<pb::Lot>) -> bool {
        self.publishable(outcome) && !self.held(outcome)
    }

    async fn follow_up_one(
        &self,
        conn: &Connection,
        lot: &pb::Lot,
    ) -> Result<pb::Lot, tonic::Status> {
        conn.publish_lot(&lot.name).await
    }

    fn name(lot: &pb::Lot) -> &str {
        &lot.name
    }

    fn report(&self, format: Format, done: &Done<'_, LotRow, pb::Lot>) -> Result<(), CliError> {
        let hazardous = hazardous(done);
        let held: Vec<&Outcome<pb::Lot>> = done.outcomes.iter().filter(|o| self.held(o)).collect();
        let json = json!({
            "file": done.file,
            "site": self.site,
            "dry_run": false,
            "created": done.json_of("created"),
            "updated": done.json_of("updated"),
            "unchanged": done.json_of("unchanged"),
            "left_alone": done.json_of("left alone"),
            "refused": done.json_of("refused"),
            "skipped": done.skipped_json(),
            "hazardous": hazardous.iter().map(|(line, lot, why)| json!({
                "line": line, "name": lot.name, "designation": lot.designation, "why": why,
            })).collect::<Vec<_>>(),
            "held": held.iter().map(|o| json!({
                "line": o.line, "name": o.item.name, "designation": o.item.designation,
                "why": AWAITS_CHECK,
            })).collect::<Vec<_>>(),
            "publish_failures": publish_failures(done),
            "warnings": done.warnings_json(),
        });
        emit(format, json, || self.text(done, &hazardous, &held))?;
        if let Some(refusal) = done.refusal() {
            return Err(refusal);
        }
        if done.failures.is_empty() {
            return Ok(());
        }
        Err(CliError::Rpc {
            code: tonic::Code::FailedPrecondition,
            message: format!("{} lot(s) could not be published", done.failures.len()),
            violations: Vec::new(),
            reason: None,
        })
    }
}

impl LotsImport {
    /// Creates the new lots in one batch call, in file order; a refusal
    /// names the lines of the rows it refused.
    async fn create(
        &self,
        conn: &Connection,
        file: &str,
        rows: &[(u64, &LotRow)],
        request_id: String,
    ) -> Result<Vec<pb::Lot>, CliError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let req = pb::BatchCreateLotsRequest {
            parent: self.site.clone(),
            requests: rows
                .iter()
                .map(|(_, r)| pb::CreateLotRequest {
                    parent: self.site.clone(),
                    lot: Some(r.lot.clone()),
                    request_id: String::new(),
                    lot_id: String::new(),
                })
                .collect(),
            request_id,
        };
        let lines: Vec<u64> = rows.iter().map(|(line, _)| *line).collect();
        let spinner = import::progress(rows.len(), "creating");
        let created = paced(|| {
            let (mut inventory, req) = (conn.inventory(), req.clone());
            async move { inventory.batch_create_lots(req).await }
        })
        .await
        .map_err(|s| import::batch_error(file, &s, &lines, "lot"))?;
        spinner.finish_and_clear();
        Ok(created.into_inner().lots)
    }

    /// Every lot of the site, whatever its status, at the server's pace.
    async fn site_lots(&self, conn: &Connection) -> Result<Vec<pb::Lot>, CliError> {
        pages(0, |page_token, page_size| {
            let req = pb::ListLotsRequest {
                parent: self.site.clone(),
                page_size,
                page_token,
                ..Default::default()
            };
            async move {
                let page = answer(
                    paced(|| {
                        let (mut inventory, req) = (conn.inventory(), req.clone());
                        async move { inventory.list_lots(req).await }
                    })
                    .await,
                )?;
                Ok((page.lots, page.next_page_token))
            }
        })
        .await
    }

    /// Whether `--publish` would publish the row's lot: a draft of the
    /// file (created, updated or unchanged) that is not hazardous.
    fn publishable(&self, o: &Outcome<pb::Lot>) -> bool {
        self.publish
            && matches!(
                o.action,
                Action::Created | Action::Updated(_) | Action::Unchanged
            )
            && o.item.status == pb::LotStatus::Draft as i32
            && !o.item.hazardous
    }

    /// Whether `--publish` leaves the lot a draft as its reuse potential
    /// awaits a check.
    fn held(&self, o: &Outcome<pb::Lot>) -> bool {
        self.publishable(o) && awaits_check(&o.item) && !checked(&o.item)
    }

    /// The report for people: what became of each row, the hazardous
    /// lots, those left drafts, and what to do next.
    fn text(
        &self,
        done: &Done<'_, LotRow, pb::Lot>,
        hazardous: &[(u64, &pb::Lot, String)],
        held: &[&Outcome<pb::Lot>],
    ) -> String {
        let mut columns = views::LOT_COLUMNS.to_vec();
        columns.remove(AVAILABLE);
        let table = done.table(&columns, |l| {
            let mut row = views::lot_row(l);
            row.remove(AVAILABLE);
            row
        });
        let mut text = format!(
            "{} on {} from {}{}\n{table}",
            done.counts("lot"),
            self.site,
            done.file,
            done.skipped_note()
        );
        text.push_str(&done.explanations(|l| format!("{} {}", l.reference, l.designation)));
        for (line, lot, why) in hazardous {
            text.push_str(&format!(
                "hazardous: line {line} ({}) — {why}: imported as a draft that can never be published\n",
                lot.designation
            ));
        }
        for o in held {
            text.push_str(&format!(
                "not published: line {} ({}) — {AWAITS_CHECK}\n",
                o.line, o.item.designation
            ));
        }
        for f in publish_failures(done) {
            text.push_str(&format!("not published: {f}\n"));
        }
        let drafts = done
            .outcomes
            .iter()
            .any(|o| o.item.status == pb::LotStatus::Draft as i32 && !o.item.hazardous);
        if !self.publish && drafts {
            text.push_str(
                "next: publish them with `reemploi lots publish NAME` (or import with --publish)\n",
            );
        }
        text
    }
}

/// Whether a lot's reuse potential awaits a check (lead, structure).
fn awaits_check(lot: &pb::Lot) -> bool {
    lot.reuse_potential == pb::ReusePotential::AfterCheck as i32
}

/// Whether a lot's recorded check passed.
fn checked(lot: &pb::Lot) -> bool {
    lot.check
        .as_ref()
        .is_some_and(|c| c.result == pb::CheckResult::Passed as i32)
}

/// Updates a draft with the fields a row changes, as it was listed (its
/// etag: a change made meanwhile is not overwritten), at the server's
/// pace.
async fn update(
    conn: &Connection,
    current: &pb::Lot,
    row: &LotRow,
    fields: &[&'static str],
) -> Result<pb::Lot, tonic::Status> {
    let req = again::update_request(current, row, fields);
    paced(|| {
        let (mut inventory, req) = (conn.inventory(), req.clone());
        async move { inventory.update_lot(req).await }
    })
    .await
    .map(tonic::Response::into_inner)
}

/// The error of a batch that answered fewer lots than it was sent.
fn short_batch() -> CliError {
    CliError::Local("the server answered fewer lots than it was sent".to_owned())
}

/// The warnings about rows without a reference, which a re-import cannot
/// find again: one for the whole file when no row has one.
fn no_reference(lines: &[u64], rows: usize) -> Vec<(u64, String)> {
    match lines {
        [] => Vec::new(),
        [first, ..] if lines.len() == rows && rows > 1 => vec![(
            *first,
            "no row has a reference (e.g. a Réf column): importing the file again would create \
             every lot again"
                .to_owned(),
        )],
        _ => lines
            .iter()
            .map(|line| {
                (
                    *line,
                    "no reference: importing the file again would create this lot again".to_owned(),
                )
            })
            .collect(),
    }
}

/// A reuse potential as a word; nothing when not assessed.
fn reuse(v: i32) -> String {
    match pb::ReusePotential::try_from(v) {
        Ok(pb::ReusePotential::Unspecified) | Err(_) => String::new(),
        Ok(p) => p
            .as_str_name()
            .trim_start_matches("REUSE_POTENTIAL_")
            .to_lowercase()
            .replace('_', " "),
    }
}

/// Hazards as words.
fn hazards(v: &[i32]) -> String {
    v.iter()
        .filter_map(|h| pb::Hazard::try_from(*h).ok())
        .map(|h| h.as_str_name().trim_start_matches("HAZARD_").to_lowercase())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The hazardous lots the import created or updated: the line of each,
/// the lot, and why it can never be published.
fn hazardous<'a>(done: &'a Done<'_, LotRow, pb::Lot>) -> Vec<(u64, &'a pb::Lot, String)> {
    let why: HashMap<u64, String> = done
        .parsed
        .good
        .iter()
        .filter_map(|(line, row)| row.hazardous.as_ref().map(|h| (*line, h.to_string())))
        .collect();
    done.outcomes
        .iter()
        .filter(|o| matches!(o.action, Action::Created | Action::Updated(_)))
        .filter_map(|o| why.get(&o.line).map(|w| (o.line, &o.item, w.clone())))
        .collect()
}

/// Each lot not published, and why.
fn publish_failures(done: &Done<'_, LotRow, pb::Lot>) -> Vec<String> {
    done.failures
        .iter()
        .map(|(name, status)| format!("{name}: {}", status.message()))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The rows of a small diagnostic, read as the command reads them.
    fn rows(csv: &str) -> Vec<(u64, LotRow)> {
        let sheet = import::sheet::read_csv(csv.as_bytes()).unwrap();
        let (parsed, _) = import::lots::parse(&sheet, || {}).unwrap();
        assert!(parsed.bad.is_empty(), "{:?}", parsed.bad);
        parsed.good
    }

    fn lot(reference: &str, status: pb::LotStatus, row: &LotRow) -> pb::Lot {
        pb::Lot {
            name: format!("sites/s/lots/{reference}"),
            reference: reference.to_owned(),
            status: status as i32,
            ..row.lot.clone()
        }
    }

    #[test]
    fn rows_are_matched_to_lots_by_reference_and_only_drafts_change() {
        let rows = rows(
            "ref,designation,category,quantity,unit,condition\n\
             A1,Portes,porte-interieure,10,u,bon\n\
             a2,Radiateurs,radiateur,5,u,\n\
             A3,Tuiles,tuile,100,m2,bon\n\
             A4,Briques,brique,2,m3,\n\
             ,Lavabos,sanitaire,3,u,\n\
             A6,Dalles,revetement-sol,9,m2,\n",
        );
        let mut old_doors = lot("A1", pb::LotStatus::Draft, &rows[0].1);
        old_doors.quantity = Some(reemploi_proto::types::Quantity {
            unit: old_doors.quantity.unwrap().unit,
            milli: 8_000,
        });
        let mut radiators = lot("A2", pb::LotStatus::Draft, &rows[1].1);
        // An empty cell in the file leaves what the lot says.
        radiators.condition = "à désembouer".to_owned();
        let mut tiles = lot("A3", pb::LotStatus::Published, &rows[2].1);
        tiles.designation = "Tuiles plates".to_owned();
        let bricks = lot("A4", pb::LotStatus::Published, &rows[3].1);
        let slabs = lot("A6", pb::LotStatus::Draft, &rows[5].1);
        let existing = vec![old_doors, radiators, tiles, bricks, slabs.clone(), slabs];
        let planned: Vec<(u64, String)> = plan(&rows, &existing)
            .into_iter()
            .map(|(line, p)| {
                let said = match p {
                    Plan::Create(_) => "create".to_owned(),
                    Plan::Update { fields, .. } => format!("update {}", fields.join(",")),
                    Plan::Unchanged(_) => "unchanged".to_owned(),
                    Plan::LeftAlone(lot, why) => format!("left alone: {}", left_alone(&lot, &why)),
                };
                (line, said)
            })
            .collect();
        let want = [
            (2, "update quantity"),
            (3, "unchanged"),
            (
                4,
                "left alone: the lot of reference A3 is published, and a re-import changes \
                 drafts only: kept without the file's new designation",
            ),
            (5, "unchanged"),
            (6, "create"),
            (
                7,
                "left alone: 2 lots of the site have the reference A6: change them one by one",
            ),
        ];
        let want: Vec<(u64, String)> = want.iter().map(|(l, s)| (*l, (*s).to_owned())).collect();
        assert_eq!(planned, want);
    }

    #[test]
    fn rows_without_a_reference_are_warned_about_once_when_none_has_one() {
        assert_eq!(no_reference(&[], 3), vec![]);
        assert_eq!(no_reference(&[2, 3], 2).len(), 1);
        assert_eq!(no_reference(&[3], 2)[0].0, 3);
        assert_eq!(no_reference(&[2], 1).len(), 1);
    }
}
