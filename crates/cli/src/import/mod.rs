//! Imports of spreadsheets into the API: a PEMD diagnostic as lots
//! ([`lots`]), an SIAE directory export as partners ([`partners`]). Both
//! read the file with [`sheet`], check every row locally with the domain
//! rules, report each bad row with its line, and then send one batch call
//! (all or nothing), mapping the server's field violations back to lines.

pub mod lots;
pub mod partners;
#[cfg(test)]
mod properties;
pub mod sheet;

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};

use crate::CliError;
use crate::output::Format;
use sheet::Row;

/// A row that cannot be imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    /// Its line in the file.
    pub line: u64,
    /// Every reason, joined with `; `.
    pub reason: String,
}

impl BadRow {
    /// As JSON.
    pub fn json(&self) -> Value {
        json!({"line": self.line, "reason": self.reason})
    }
}

/// The rows of a file: those that passed the local checks, with their
/// lines, and those that did not.
#[derive(Debug)]
pub struct Parsed<T> {
    /// Good rows, in file order.
    pub good: Vec<(u64, T)>,
    /// Bad rows, in file order.
    pub bad: Vec<BadRow>,
}

impl<T> Parsed<T> {
    /// Checks every row with `check`, which makes what the row describes
    /// or gives every reason it cannot; `tick` is called once per row.
    pub fn check_rows(
        rows: &[Row],
        mut tick: impl FnMut(),
        mut check: impl FnMut(&Row) -> Result<T, Vec<String>>,
    ) -> Parsed<T> {
        let mut parsed = Parsed {
            good: Vec::new(),
            bad: Vec::new(),
        };
        for row in rows {
            match check(row) {
                Ok(made) => parsed.good.push((row.line, made)),
                Err(reasons) => parsed.bad.push(BadRow {
                    line: row.line,
                    reason: reasons.join("; "),
                }),
            }
            tick();
        }
        parsed
    }
}

/// The reasons a row is bad, collected field by field so that a row
/// reports all its mistakes at once.
#[derive(Debug, Default)]
pub struct Reasons(pub Vec<String>);

impl Reasons {
    /// Keeps the value, or records why the field is invalid.
    pub fn keep<T>(&mut self, r: Result<T, reemploi_domain::DomainError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(e.to_string());
                None
            }
        }
    }

    /// Records a reason.
    pub fn push(&mut self, reason: impl Into<String>) {
        self.0.push(reason.into());
    }
}

/// What the batch APIs accept in one call.
pub const MAX_BATCH: usize = 1000;

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
        eprintln!("{file}:{}: {}", row.line, row.reason);
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

/// Turns the server's refusal of a batch into bad rows: a violation of
/// `requests[i].<inner>.<field>` belongs to the i-th row sent, whose line is
/// `lines[i]`. Violations that name no row are kept as they are.
pub fn violations_to_rows(
    violations: &[(String, String)],
    lines: &[u64],
    inner: &str,
) -> (Vec<BadRow>, Vec<String>) {
    let mut rows: Vec<BadRow> = Vec::new();
    let mut other = Vec::new();
    for (field, description) in violations {
        let located = field
            .strip_prefix("requests[")
            .and_then(|rest| rest.split_once(']'))
            .and_then(|(i, rest)| Some((i.parse::<usize>().ok()?, rest)))
            .and_then(|(i, rest)| Some((*lines.get(i)?, rest)));
        match located {
            Some((line, rest)) => {
                let rest = rest.trim_start_matches('.');
                let rest = rest
                    .strip_prefix(inner)
                    .map_or(rest, |r| r.trim_start_matches('.'));
                let reason = if rest.is_empty() {
                    description.clone()
                } else {
                    format!("{rest}: {description}")
                };
                match rows.iter_mut().find(|r| r.line == line) {
                    Some(row) => {
                        row.reason.push_str("; ");
                        row.reason.push_str(&reason);
                    }
                    None => rows.push(BadRow { line, reason }),
                }
            }
            None => other.push(format!("{field}: {description}")),
        }
    }
    rows.sort_by_key(|r| r.line);
    (rows, other)
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
            "invalid": parsed.bad.iter().map(BadRow::json).collect::<Vec<_>>(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_point_back_to_lines() {
        let v = vec![
            ("requests[1].lot.category".to_owned(), "unknown".to_owned()),
            (
                "requests[1].lot.quantity.milli".to_owned(),
                "> 0".to_owned(),
            ),
            ("request_id".to_owned(), "too long".to_owned()),
            ("requests[0].partner.siret".to_owned(), "taken".to_owned()),
        ];
        let (rows, other) = violations_to_rows(&v, &[2, 5], "lot");
        assert_eq!(
            rows,
            vec![
                BadRow {
                    line: 2,
                    reason: "partner.siret: taken".to_owned()
                },
                BadRow {
                    line: 5,
                    reason: "category: unknown; quantity.milli: > 0".to_owned()
                },
            ]
        );
        assert_eq!(other, vec!["request_id: too long".to_owned()]);
    }
}
