//! Imports of spreadsheets into the API: a PEMD diagnostic as lots
//! ([`lots`]), an SIAE directory export as partners ([`partners`]). Both
//! read and check the file with `reemploi-import` (re-exported here) and
//! report each bad row with its line. A dry run shows every row as read.
//! Otherwise the import looks up what already exists (lots by reference on
//! the site, partners by SIRET), creates the new ones in one batch call
//! (all or nothing), mapping the server's field violations back to lines,
//! then updates the existing ones a row changes, one call each. `run` is
//! that flow, with its progress bars and reports; each import command
//! fills in what is its own through the `Import` trait.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use reemploi_domain::DomainError;
pub use reemploi_import::{
    BadRow, ImportError, MAX_BATCH, Parsed, Reason, lots, partners, sheet, violations_to_rows,
};
use serde_json::{Value, json};

use crate::CliError;
use crate::client::Connection;
use crate::commands::{Ctx, request_id};
use crate::json::Named;
use crate::output::{Format, Table, note};
use sheet::Sheet;

/// A bad row as JSON: its line and every reason, joined.
pub fn bad_row_json(row: &BadRow) -> Value {
    json!({"line": row.line, "reason": row.reason()})
}

/// The error of a file that cannot be imported at all.
pub fn file_error(path: &Path, e: &impl ToString) -> CliError {
    CliError::File {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

/// Rows from which a progress bar is worth drawing.
const PROGRESS_FROM: usize = 200;

/// A progress bar on stderr for `len` rows, hidden for short files and
/// when stderr is not a terminal (logs, pipes, tests).
pub fn progress(len: usize, what: &str) -> ProgressBar {
    if len < PROGRESS_FROM || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(
        Some(u64::try_from(len).unwrap_or(u64::MAX)),
        ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} rows ({eta})") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}

/// Reports bad rows on stderr, one line each, and where to find the
/// categories when one was not known. A field read from a column whose
/// header says it otherwise (`columns`: field and header) is named with
/// the header too, as the person sees it in the file.
pub fn report_bad_rows(file: &str, bad: &[BadRow], columns: &[(&'static str, String)]) {
    for row in bad {
        eprintln!("{file}:{}: {}", row.line, with_columns(row, columns));
    }
    if bad.iter().any(|r| r.reason().contains("unknown category")) {
        note("`reemploi categories` lists the category codes and labels");
    }
}

/// A bad row's reasons, each field followed by the header of its column
/// when the header is not the field's own name.
fn with_columns(row: &BadRow, columns: &[(&'static str, String)]) -> String {
    let named = |reason: &Reason| {
        let text = reason.to_string();
        let Reason::Domain(DomainError::Invalid { field, .. }) = reason else {
            return text;
        };
        match columns.iter().find(|(f, _)| f == field) {
            Some((f, header)) if sheet::normalize(header) != sheet::normalize(f) => {
                text.replacen(&format!("{f}:"), &format!("{f} (column {header:?}):"), 1)
            }
            _ => text,
        }
    };
    row.reasons.iter().map(named).collect::<Vec<_>>().join("; ")
}

/// Decides, before any call, whether the import goes on: with bad rows it
/// stops (exit 6) unless `--skip-invalid`; with no good row at all it stops.
pub(crate) fn gate<T>(read: &Read<T>, skip_invalid: bool, what: &str) -> Result<(), CliError> {
    let (file, parsed) = (&read.file, &read.parsed);
    report_bad_rows(file, &parsed.bad, &read.columns);
    let bad = parsed.bad.len();
    let good = parsed.good.len();
    if bad > 0 && !skip_invalid {
        return Err(CliError::BadRows(format!(
            "{bad} invalid row(s) in {file}, nothing imported: fix them, or pass \
             --skip-invalid to import the {good} valid {what}"
        )));
    }
    if good == 0 {
        return Err(CliError::BadRows(format!("no valid {what} in {file}")));
    }
    if good > MAX_BATCH {
        return Err(CliError::BadRows(format!(
            "{good} {what} in {file}: one import takes at most {MAX_BATCH}, split the file"
        )));
    }
    Ok(())
}

/// The error of a refused batch: INVALID_ARGUMENT becomes bad rows with
/// their lines (reported on stderr); ALREADY_EXISTS, which names the
/// batch's rows as `requests[i]`, names their lines instead; anything else
/// stays a server error.
pub fn batch_error(file: &str, status: &tonic::Status, lines: &[u64], inner: &str) -> CliError {
    if status.code() == tonic::Code::AlreadyExists {
        return CliError::BadRows(format!(
            "the server refused {file}, nothing imported: {}",
            requests_as_lines(status.message(), file, lines)
        ));
    }
    if status.code() != tonic::Code::InvalidArgument {
        return CliError::from_status(status);
    }
    let violations = reemploi_runtime::status::field_violations(status);
    let (rows, other) = violations_to_rows(&violations, lines, inner);
    report_bad_rows(file, &rows, &[]);
    for o in &other {
        eprintln!("{file}: {o}");
    }
    CliError::BadRows(format!(
        "the server refused {} row(s) of {file} ({}), nothing imported",
        rows.len(),
        status.message()
    ))
}

/// A message naming the rows of a batch as `requests[i]`, with each named
/// by its line in the file instead (`file:7`).
fn requests_as_lines(message: &str, file: &str, lines: &[u64]) -> String {
    let mut out = String::new();
    let mut rest = message;
    while let Some(at) = rest.find("requests[") {
        let (before, tail) = rest.split_at(at);
        out.push_str(before);
        let inner = &tail["requests[".len()..];
        let line = inner
            .split_once(']')
            .and_then(|(i, after)| Some((*lines.get(i.parse::<usize>().ok()?)?, after)));
        match line {
            Some((line, after)) => {
                out.push_str(&format!("{file}:{line}"));
                rest = after;
            }
            None => {
                out.push_str("requests[");
                rest = inner;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The flags every import takes, whatever it imports.
#[derive(Debug)]
pub struct Options {
    /// The file to read.
    pub file: PathBuf,
    /// Imports the valid rows and skips the bad ones (still reported).
    pub skip_invalid: bool,
    /// Reads and checks the file, sends nothing.
    pub dry_run: bool,
    /// Idempotency key of the batch; a fresh one when absent.
    pub request_id: Option<String>,
}

/// A file read and checked: its rows, and what its header row says.
pub(crate) struct Read<R> {
    /// The file, as shown.
    pub file: String,
    /// Its rows, good and bad.
    pub parsed: Parsed<R>,
    /// The headers of the columns nobody reads.
    pub unused: Vec<String>,
    /// Each field read and the header it is read from, when the import
    /// says (a diagnostic's columns are guessed: they are shown).
    pub columns: Vec<(&'static str, String)>,
}

/// What an import did with one good row.
#[derive(Debug)]
pub(crate) enum Action {
    /// Made anew.
    Created,
    /// An existing item the row changed: the fields that changed.
    Updated(Vec<&'static str>),
    /// An existing item that already says what the row says.
    Unchanged,
    /// An existing item the import does not change, and why.
    LeftAlone(String),
    /// An existing item whose update the server refused.
    Refused(tonic::Status),
}

impl Action {
    /// The word of a report's ACTION column and of its JSON lists.
    pub fn word(&self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Updated(_) => "updated",
            Action::Unchanged => "unchanged",
            Action::LeftAlone(_) => "left alone",
            Action::Refused(_) => "refused",
        }
    }
}

/// A good row and what became of it: the item as it is now.
pub(crate) struct Outcome<M> {
    /// The row's line.
    pub line: u64,
    /// What the import did.
    pub action: Action,
    /// The item.
    pub item: M,
}

/// What one import does its own way; [`run`] does the rest.
pub(crate) trait Import {
    /// A row that passed the local checks.
    type Row;
    /// What the server makes of a row.
    type Made: Named;
    /// What is imported, as messages say it: `lots`, `partners`.
    const WHAT: &'static str;

    /// Reads every row of the sheet of `path`; `tick` is called once per
    /// row.
    fn parse(
        &self,
        path: &Path,
        sheet: &Sheet,
        tick: &mut dyn FnMut(),
    ) -> Result<Read<Self::Row>, CliError>;

    /// What a dry run shows of each good row: as JSON, and as a table row
    /// under [`Import::dry_run_columns`] whose last cell is a note.
    fn dry_run_row(&self, row: &Self::Row) -> (Value, Vec<String>);

    /// The columns of a dry run's table, after LINE.
    fn dry_run_columns(&self) -> &'static [&'static str];

    /// Warnings about rows as read, each with its line (a partner that
    /// would accept nothing): what a dry run can tell without the server.
    fn row_warnings(&self, rows: &[(u64, &Self::Row)]) -> Vec<(u64, String)>;

    /// Warnings about what the import made, each with its line.
    fn made_warnings(&self, outcomes: &[Outcome<Self::Made>]) -> Vec<(u64, String)>;

    /// Sends the good rows: creates the new ones in one batch call (its
    /// refusal is an error naming the lines), updates the existing ones.
    async fn apply(
        &self,
        conn: &Connection,
        read: &Read<Self::Row>,
        request_id: String,
    ) -> Result<Vec<Outcome<Self::Made>>, CliError>;

    /// The progress message of the call the flags ask for on each item
    /// made (publish, verify), if they ask for one.
    fn follow_up(&self) -> Option<&'static str>;

    /// Whether an item needs the follow-up call.
    fn needs_follow_up(&self, outcome: &Outcome<Self::Made>) -> bool;

    /// The follow-up call on one item: the item as it is then.
    async fn follow_up_one(
        &self,
        conn: &Connection,
        made: &Self::Made,
    ) -> Result<Self::Made, tonic::Status>;

    /// The resource name of an item made.
    fn name(made: &Self::Made) -> &str;

    /// Prints what was done; fails when a call did.
    fn report(
        &self,
        format: Format,
        done: &Done<'_, Self::Row, Self::Made>,
    ) -> Result<(), CliError>;
}

/// An import that went through: what [`Import::report`] shows.
pub(crate) struct Done<'a, R, M> {
    /// The file, as shown.
    pub file: &'a str,
    /// Its rows, good and bad.
    pub parsed: &'a Parsed<R>,
    /// What became of each good row, in file order.
    pub outcomes: Vec<Outcome<M>>,
    /// The items whose follow-up call failed, by name, and why.
    pub failures: Vec<(String, tonic::Status)>,
    /// The warnings about rows (see [`Import::warnings`]).
    pub warnings: Vec<(u64, String)>,
}

impl<R, M: Named> Done<'_, R, M> {
    /// The items of one action (by its word) as JSON, each with the line
    /// of its row, the fields an update changed and why an item was left
    /// alone or refused.
    pub fn json_of(&self, word: &str) -> Vec<Value> {
        self.outcomes
            .iter()
            .filter(|o| o.action.word() == word)
            .map(|o| {
                let mut v = crate::json::message(&o.item);
                if let Some(obj) = v.as_object_mut() {
                    obj.insert("line".to_owned(), json!(o.line));
                    match &o.action {
                        Action::Updated(fields) => {
                            obj.insert("changed".to_owned(), json!(fields));
                        }
                        Action::LeftAlone(why) => {
                            obj.insert("why".to_owned(), json!(why));
                        }
                        Action::Refused(status) => {
                            obj.insert("why".to_owned(), json!(status.message()));
                        }
                        Action::Created | Action::Unchanged => {}
                    }
                }
                v
            })
            .collect()
    }

    /// How many rows each action had, as a report's first words:
    /// `created 3 lot(s), updated 1, unchanged 5`, actions without a row
    /// left out (but for `created`).
    pub fn counts(&self, what: &str) -> String {
        let count = |w: &str| {
            self.outcomes
                .iter()
                .filter(|o| o.action.word() == w)
                .count()
        };
        let mut parts = vec![format!("created {} {what}(s)", count("created"))];
        for word in ["updated", "unchanged", "left alone", "refused"] {
            if count(word) > 0 {
                parts.push(format!("{word} {}", count(word)));
            }
        }
        parts.join(", ")
    }

    /// The rows skipped, as JSON.
    pub fn skipped_json(&self) -> Vec<Value> {
        self.parsed.bad.iter().map(bad_row_json).collect()
    }

    /// The warnings, as JSON.
    pub fn warnings_json(&self) -> Vec<Value> {
        self.warnings
            .iter()
            .map(|(line, w)| json!({"line": line, "warning": w}))
            .collect()
    }

    /// ` (N invalid row(s) skipped)`, or nothing when no row was.
    pub fn skipped_note(&self) -> String {
        match self.parsed.bad.len() {
            0 => String::new(),
            n => format!(" ({n} invalid row(s) skipped)"),
        }
    }

    /// A table of the items, each after the line of its row and what the
    /// import did.
    pub fn table(&self, columns: &[&'static str], row: impl Fn(&M) -> Vec<String>) -> String {
        let mut t = Table::new(&[&["LINE", "ACTION"], columns].concat());
        for o in &self.outcomes {
            let mut cells = row(&o.item);
            cells.insert(0, o.action.word().to_owned());
            cells.insert(0, o.line.to_string());
            t.row(cells);
        }
        t.render()
    }

    /// The lines that say why rows were changed, left alone or refused,
    /// and the warnings.
    pub fn explanations(&self, label: impl Fn(&M) -> String) -> String {
        let mut text = String::new();
        for o in &self.outcomes {
            let said = match &o.action {
                Action::Updated(fields) => format!("updated: {}", fields.join(", ")),
                Action::LeftAlone(why) => format!("left alone: {why}"),
                Action::Refused(status) => format!("not updated: {}", status.message()),
                Action::Created | Action::Unchanged => continue,
            };
            let (kind, rest) = said.split_once(": ").unwrap_or((&said, ""));
            text.push_str(&format!(
                "{kind}: line {} ({}): {rest}\n",
                o.line,
                label(&o.item)
            ));
        }
        for (line, w) in &self.warnings {
            text.push_str(&format!("warning: line {line}: {w}\n"));
        }
        text
    }

    /// The error to end with when the server refused an update.
    pub fn refusal(&self) -> Option<CliError> {
        let refused: Vec<(u64, &tonic::Status)> = self
            .outcomes
            .iter()
            .filter_map(|o| match &o.action {
                Action::Refused(status) => Some((o.line, status)),
                _ => None,
            })
            .collect();
        let lines: Vec<String> = refused.iter().map(|(l, _)| l.to_string()).collect();
        let (_, first) = refused.first()?;
        Some(CliError::Rpc {
            code: first.code(),
            message: format!(
                "the server refused the update of line(s) {} of {}; the other rows went through",
                lines.join(", "),
                self.file
            ),
            violations: reemploi_runtime::status::field_violations(first),
            reason: reemploi_runtime::status::reason(first),
        })
    }
}

/// Imports a file: reads and checks every row, then shows every row in a
/// dry run or stops on bad rows (unless they are skipped); else sends the
/// good rows, makes the follow-up calls the flags ask for, and reports.
pub(crate) async fn run<I: Import>(
    ctx: &Ctx,
    import: &I,
    options: Options,
) -> Result<(), CliError> {
    let read = read(import, &options.file)?;
    if options.dry_run {
        return dry_run(ctx.format, import, &read, options.skip_invalid);
    }
    gate(&read, options.skip_invalid, I::WHAT)?;
    let conn = ctx.connect().await?;
    let request_id = options.request_id.unwrap_or_else(request_id);
    let mut outcomes = import.apply(&conn, &read, request_id).await?;
    let failures = follow_up(import, &conn, &mut outcomes).await;
    let done = Done {
        file: &read.file,
        parsed: &read.parsed,
        warnings: import.made_warnings(&outcomes),
        outcomes,
        failures,
    };
    import.report(ctx.format, &done)
}

/// Reads the file and checks every row, with a progress bar; notes the
/// columns nobody reads.
fn read<I: Import>(import: &I, path: &Path) -> Result<Read<I::Row>, CliError> {
    let sheet = sheet::read(path).map_err(|e| file_error(path, &e))?;
    let bar = progress(sheet.rows.len(), "checking");
    let read = import.parse(path, &sheet, &mut || bar.inc(1))?;
    bar.finish_and_clear();
    if !read.unused.is_empty() {
        note(&format!(
            "{}: ignored column(s): {}",
            read.file,
            read.unused.join(", ")
        ));
    }
    Ok(read)
}

/// A dry run: every row as read, good or bad, on stdout (the bad ones on
/// stderr too), with the warnings. Bad rows make it fail too, unless they
/// would be skipped.
fn dry_run<I: Import>(
    format: Format,
    import: &I,
    read: &Read<I::Row>,
    skip_invalid: bool,
) -> Result<(), CliError> {
    let file = &read.file;
    let parsed = &read.parsed;
    report_bad_rows(file, &parsed.bad, &read.columns);
    let good: Vec<(u64, &I::Row)> = parsed.good.iter().map(|(l, r)| (*l, r)).collect();
    let warnings = import.row_warnings(&good);
    let mut rows: Vec<(u64, Value, Vec<String>)> = parsed
        .good
        .iter()
        .map(|(line, row)| {
            let (json, cells) = import.dry_run_row(row);
            (*line, json, cells)
        })
        .collect();
    let width = import.dry_run_columns().len();
    for bad in &parsed.bad {
        let mut cells = vec![String::new(); width.saturating_sub(1)];
        cells.push(format!("invalid: {}", with_columns(bad, &read.columns)));
        let json = json!({"invalid": bad.reason()});
        rows.push((bad.line, json, cells));
    }
    rows.sort_by_key(|(line, _, _)| *line);
    let json = json!({
        "file": file,
        "dry_run": true,
        "columns": read.columns.iter().map(|(f, h)| json!({"field": f, "header": h})).collect::<Vec<_>>(),
        "rows": rows.iter().map(|(line, v, _)| {
            let mut v = v.clone();
            if let Some(o) = v.as_object_mut() {
                o.insert("line".to_owned(), json!(line));
            }
            v
        }).collect::<Vec<_>>(),
        "valid": parsed.good.len(),
        "invalid": parsed.bad.iter().map(bad_row_json).collect::<Vec<_>>(),
        "warnings": warnings.iter().map(|(l, w)| json!({"line": l, "warning": w})).collect::<Vec<_>>(),
    });
    crate::output::emit(format, json, || {
        dry_run_text(import.dry_run_columns(), read, &rows, &warnings, I::WHAT)
    })?;
    if !parsed.bad.is_empty() && !skip_invalid {
        return Err(CliError::BadRows(format!(
            "{} invalid row(s) in {file}",
            parsed.bad.len()
        )));
    }
    Ok(())
}

/// A dry run for people: the columns read, every row, the warnings and
/// the counts.
fn dry_run_text<R>(
    columns: &'static [&'static str],
    read: &Read<R>,
    rows: &[(u64, Value, Vec<String>)],
    warnings: &[(u64, String)],
    what: &str,
) -> String {
    let mut text = String::new();
    if !read.columns.is_empty() {
        let read_as: Vec<String> = read
            .columns
            .iter()
            .map(|(f, h)| format!("{h:?} as {f}"))
            .collect();
        text.push_str(&format!("columns: {}\n", read_as.join(", ")));
    }
    let mut table = Table::new(&[&["LINE"], columns].concat());
    for (line, _, cells) in rows {
        let mut cells = cells.clone();
        cells.insert(0, line.to_string());
        table.row(cells);
    }
    text.push_str(&table.render());
    for (line, w) in warnings {
        text.push_str(&format!("warning: line {line}: {w}\n"));
    }
    text.push_str(&format!(
        "dry run: {} valid {what}, {} invalid row(s) in {}; nothing sent\n",
        read.parsed.good.len(),
        read.parsed.bad.len(),
        read.file
    ));
    text
}

/// Makes the follow-up call the flags ask for on every item that needs it,
/// keeping each answer in place of its item; returns the names of the
/// items whose call failed, and why.
async fn follow_up<I: Import>(
    import: &I,
    conn: &Connection,
    outcomes: &mut [Outcome<I::Made>],
) -> Vec<(String, tonic::Status)> {
    let mut failures = Vec::new();
    let Some(what) = import.follow_up() else {
        return failures;
    };
    let bar = progress(outcomes.len(), what);
    for outcome in outcomes.iter_mut() {
        bar.inc(1);
        if !import.needs_follow_up(outcome) {
            continue;
        }
        match import.follow_up_one(conn, &outcome.item).await {
            Ok(now) => outcome.item = now,
            Err(status) => failures.push((I::name(&outcome.item).to_owned(), status)),
        }
    }
    bar.finish_and_clear();
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_refusal_names_lines_not_request_indexes() {
        let said = requests_as_lines(
            "a partner with SIRET 1 (requests[0]), 2 (requests[2]) is already registered; requests[9] requests[",
            "siae.csv",
            &[2, 5, 7],
        );
        assert_eq!(
            said,
            "a partner with SIRET 1 (siae.csv:2), 2 (siae.csv:7) is already registered; requests[9] requests["
        );
    }
}
