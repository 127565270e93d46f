//! Imports of spreadsheets into the API: a PEMD diagnostic as lots
//! ([`lots`]), an SIAE directory export as partners ([`partners`]). Both
//! read and check the file with `reemploi-import` (re-exported here),
//! report each bad row with its line, and then send one batch call (all or
//! nothing), mapping the server's field violations back to lines. `run` is
//! that flow, with its progress bars and reports; each import command fills
//! in what is its own through the `Import` trait.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
pub use reemploi_import::{
    BadRow, ImportError, MAX_BATCH, Parsed, lots, partners, sheet, violations_to_rows,
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
pub fn file_error(path: &Path, e: &ImportError) -> CliError {
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

/// Reports bad rows on stderr, one line each.
pub fn report_bad_rows(file: &str, bad: &[BadRow]) {
    for row in bad {
        eprintln!("{file}:{}: {}", row.line, row.reason());
    }
}

/// Decides, before any call, whether the import goes on: with bad rows it
/// stops (exit 6) unless `--skip-invalid`; with no good row at all it stops.
pub fn gate<T>(
    file: &str,
    parsed: &Parsed<T>,
    skip_invalid: bool,
    what: &str,
) -> Result<(), CliError> {
    report_bad_rows(file, &parsed.bad);
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
/// their lines (reported on stderr); anything else stays a server error.
pub fn batch_error(file: &str, status: &tonic::Status, lines: &[u64], inner: &str) -> CliError {
    if status.code() != tonic::Code::InvalidArgument {
        return CliError::from_status(status);
    }
    let violations = reemploi_runtime::status::field_violations(status);
    let (rows, other) = violations_to_rows(&violations, lines, inner);
    report_bad_rows(file, &rows);
    for o in &other {
        eprintln!("{file}: {o}");
    }
    CliError::BadRows(format!(
        "the server refused {} row(s) of {file} ({}), nothing imported",
        rows.len(),
        status.message()
    ))
}

/// The summary of a dry run.
pub fn dry_run_summary<T>(
    format: Format,
    file: &str,
    parsed: &Parsed<T>,
    what: &str,
    extra: Value,
) -> Result<(), CliError> {
    crate::output::emit(
        format,
        json!({
            "file": file,
            "dry_run": true,
            "valid": parsed.good.len(),
            "invalid": parsed.bad.iter().map(bad_row_json).collect::<Vec<_>>(),
            "details": extra,
        }),
        || {
            format!(
                "dry run: {} valid {what}, {} invalid row(s) in {file}; nothing sent\n",
                parsed.good.len(),
                parsed.bad.len()
            )
        },
    )
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

/// What one import does its own way; [`run`] does the rest.
pub(crate) trait Import {
    /// A row that passed the local checks.
    type Row;
    /// What the server makes of a row.
    type Made: Named;
    /// What is imported, as messages say it: `lots`, `partners`.
    const WHAT: &'static str;
    /// The field of the batch's requests that holds a row, as the server's
    /// violations name it: `lot`, `partner`.
    const INNER: &'static str;

    /// Reads every row of the sheet; `tick` is called once per row.
    fn parse(
        &self,
        sheet: &Sheet,
        tick: &mut dyn FnMut(),
    ) -> Result<(Parsed<Self::Row>, Vec<String>), ImportError>;

    /// What a dry run shows besides the counts (JSON only).
    fn dry_run_details(&self, parsed: &Parsed<Self::Row>) -> Value;

    /// Sends the good rows, in file order, in one batch call.
    async fn send(
        &self,
        conn: &Connection,
        rows: Vec<&Self::Row>,
        request_id: String,
    ) -> Result<Vec<Self::Made>, tonic::Status>;

    /// The progress message of the call the flags ask for on each item
    /// made (publish, verify), if they ask for one.
    fn follow_up(&self) -> Option<&'static str>;

    /// Whether an item needs the follow-up call.
    fn needs_follow_up(&self, made: &Self::Made) -> bool;

    /// The follow-up call on one item: the item as it is then.
    async fn follow_up_one(
        &self,
        conn: &Connection,
        made: &Self::Made,
    ) -> Result<Self::Made, tonic::Status>;

    /// The resource name of an item made.
    fn name(made: &Self::Made) -> &str;

    /// Prints what was made; fails when a follow-up call did.
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
    /// The line of each good row, in the order sent.
    pub lines: Vec<u64>,
    /// What the server made of each good row, in the same order.
    pub made: Vec<M>,
    /// The items whose follow-up call failed, by name, and why.
    pub failures: Vec<(String, tonic::Status)>,
}

impl<R, M: Named> Done<'_, R, M> {
    /// Each item made as JSON, with the line of its row.
    pub fn made_json(&self) -> Vec<Value> {
        self.made
            .iter()
            .zip(&self.lines)
            .map(|(item, line)| {
                let mut v = crate::json::message(item);
                if let Some(o) = v.as_object_mut() {
                    o.insert("line".to_owned(), json!(line));
                }
                v
            })
            .collect()
    }

    /// The rows skipped, as JSON.
    pub fn skipped_json(&self) -> Vec<Value> {
        self.parsed.bad.iter().map(bad_row_json).collect()
    }

    /// ` (N invalid row(s) skipped)`, or nothing when no row was.
    pub fn skipped_note(&self) -> String {
        match self.parsed.bad.len() {
            0 => String::new(),
            n => format!(" ({n} invalid row(s) skipped)"),
        }
    }

    /// A table of the items made, each after the line of its row.
    pub fn table(&self, columns: &[&'static str], row: impl Fn(&M) -> Vec<String>) -> String {
        let mut t = Table::new(&[&["LINE"], columns].concat());
        for (line, item) in self.lines.iter().zip(&self.made) {
            let mut cells = row(item);
            cells.insert(0, line.to_string());
            t.row(cells);
        }
        t.render()
    }
}

/// Imports a file: reads and checks every row, then stops after a dry run
/// or on bad rows (unless they are skipped); else sends the good rows in
/// one batch call, makes the follow-up calls the flags ask for, and
/// reports.
pub(crate) async fn run<I: Import>(
    ctx: &Ctx,
    import: &I,
    options: Options,
) -> Result<(), CliError> {
    let file = options.file.display().to_string();
    let parsed = read(import, &options.file, &file)?;
    if options.dry_run {
        let details = import.dry_run_details(&parsed);
        return dry_run(
            ctx.format,
            &file,
            &parsed,
            options.skip_invalid,
            I::WHAT,
            details,
        );
    }
    gate(&file, &parsed, options.skip_invalid, I::WHAT)?;
    let conn = ctx.connect().await?;
    let lines: Vec<u64> = parsed.good.iter().map(|(line, _)| *line).collect();
    let rows = parsed.good.iter().map(|(_, row)| row).collect();
    let request_id = options.request_id.unwrap_or_else(request_id);
    let mut made = import
        .send(&conn, rows, request_id)
        .await
        .map_err(|s| batch_error(&file, &s, &lines, I::INNER))?;
    let failures = follow_up(import, &conn, &mut made).await;
    let done = Done {
        file: &file,
        parsed: &parsed,
        lines,
        made,
        failures,
    };
    import.report(ctx.format, &done)
}

/// Reads the file and checks every row, with a progress bar; notes the
/// columns nobody reads.
fn read<I: Import>(import: &I, path: &Path, file: &str) -> Result<Parsed<I::Row>, CliError> {
    let sheet = sheet::read(path).map_err(|e| file_error(path, &e))?;
    let bar = progress(sheet.rows.len(), "checking");
    let (parsed, unused) = import
        .parse(&sheet, &mut || bar.inc(1))
        .map_err(|e| file_error(path, &e))?;
    bar.finish_and_clear();
    if !unused.is_empty() {
        note(&format!("{file}: ignored column(s): {}", unused.join(", ")));
    }
    Ok(parsed)
}

/// A dry run: the bad rows and the summary. Bad rows make it fail too,
/// unless they would be skipped.
fn dry_run<T>(
    format: Format,
    file: &str,
    parsed: &Parsed<T>,
    skip_invalid: bool,
    what: &str,
    details: Value,
) -> Result<(), CliError> {
    report_bad_rows(file, &parsed.bad);
    dry_run_summary(format, file, parsed, what, details)?;
    if !parsed.bad.is_empty() && !skip_invalid {
        return Err(CliError::BadRows(format!(
            "{} invalid row(s) in {file}",
            parsed.bad.len()
        )));
    }
    Ok(())
}

/// Makes the follow-up call the flags ask for on every item that needs it,
/// keeping each answer in place of its item; returns the names of the
/// items whose call failed, and why.
async fn follow_up<I: Import>(
    import: &I,
    conn: &Connection,
    made: &mut [I::Made],
) -> Vec<(String, tonic::Status)> {
    let mut failures = Vec::new();
    let Some(what) = import.follow_up() else {
        return failures;
    };
    let bar = progress(made.len(), what);
    for item in made.iter_mut() {
        bar.inc(1);
        if !import.needs_follow_up(item) {
            continue;
        }
        match import.follow_up_one(conn, item).await {
            Ok(now) => *item = now,
            Err(status) => failures.push((I::name(item).to_owned(), status)),
        }
    }
    bar.finish_and_clear();
    failures
}
