//! What commands print: aligned tables and `key: value` blocks for people,
//! JSON (`--output json`) for scripts, or CSV (`--output csv`, for the
//! figures and the récolement) for spreadsheets. Results go to stdout;
//! progress, notes and bad-row reports go to stderr so that stdout stays
//! parseable.

use std::io::Write;

use serde_json::Value;

use crate::CliError;

/// The output format of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Aligned tables and readable text.
    #[default]
    Table,
    /// One JSON document on stdout.
    Json,
    /// CSV (RFC 4180, UTF-8, comma-separated, decimal point) for
    /// spreadsheets: every list, `impact` and `recolement`.
    Csv,
}

impl Format {
    /// The message for a command that has no CSV form, given before it
    /// does anything (a mutation must not run to then fail its printing).
    pub fn no_csv() -> CliError {
        CliError::Usage(
            "--output csv is for lists (`… list`, `matches`, `recommend`, `categories`), \
             `impact` and `recolement`; use table or json here"
                .to_owned(),
        )
    }
}

/// A table with a header row; columns are padded to their widest cell.
#[derive(Debug, Default)]
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&'static str]) -> Table {
        Table {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (missing cells are blank, extra ones dropped).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Whether no row was added.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text, one line per row, each ending with a newline.
    pub fn render(&self) -> String {
        let width = |s: &str| s.chars().count();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let mut text = String::new();
        let mut line = |cells: &mut dyn Iterator<Item = &str>| {
            let mut l = String::new();
            for (i, (cell, w)) in cells.zip(&widths).enumerate() {
                if i > 0 {
                    l.push_str("  ");
                }
                l.push_str(cell);
                l.extend(std::iter::repeat_n(' ', w.saturating_sub(width(cell))));
            }
            text.push_str(l.trim_end());
            text.push('\n');
        };
        line(&mut self.headers.iter().copied());
        for row in &self.rows {
            let blank = std::iter::repeat("");
            line(
                &mut row
                    .iter()
                    .map(String::as_str)
                    .chain(blank)
                    .take(widths.len()),
            );
        }
        text
    }
}

/// `key: value` lines with the keys aligned, for one resource.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let w = pairs
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}:{} {v}\n", " ".repeat(w - k.chars().count())))
        .collect()
}

/// Writes text to stdout. A closed pipe (`reemploi lots list | head`) is
/// not a failure.
pub fn print(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::Stdout(e)),
    }
}

/// Writes a JSON document, pretty-printed, to stdout.
pub fn print_json(value: &Value) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::Stdout(std::io::Error::other(e)))?;
    print(&format!("{text}\n"))
}

/// Prints `json` or the text `human` makes, as the format asks.
pub fn emit(format: Format, json: Value, human: impl FnOnce() -> String) -> Result<(), CliError> {
    match format {
        Format::Json => print_json(&json),
        Format::Table => print(&human()),
        // Refused before the command runs (see `crate::run`).
        Format::Csv => Err(Format::no_csv()),
    }
}

/// A CSV document: the header row, then the rows, every cell made safe to
/// open in a spreadsheet ([`csv_cell`]).
pub fn csv_text(headers: &[&str], rows: &[Vec<String>]) -> Result<String, CliError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let bad = |e: csv::Error| CliError::Stdout(std::io::Error::other(e));
    w.write_record(headers.iter().map(|h| csv_cell(h).into_owned()))
        .map_err(bad)?;
    for row in rows {
        w.write_record(row.iter().map(|c| csv_cell(c).into_owned()))
            .map_err(bad)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| CliError::Stdout(std::io::Error::other(e.to_string())))?;
    String::from_utf8(bytes).map_err(|e| CliError::Stdout(std::io::Error::other(e)))
}

/// A cell a spreadsheet will show as text, never run as a formula: text
/// that starts with `=`, `+`, `-`, `@`, a tab or a carriage return (a
/// declared destination, a designation...) gets a leading `'`. A plain
/// decimal number such as a negative net CO2e is left as it is, so that it
/// stays a number; it cannot be a formula.
pub fn csv_cell(cell: &str) -> std::borrow::Cow<'_, str> {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && !is_plain_number(cell) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// `-12`, `-0.355250`, `+3.5`: a sign, digits, and at most one point
/// followed by digits.
fn is_plain_number(cell: &str) -> bool {
    let digits = cell.strip_prefix(['-', '+']).unwrap_or(cell);
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, "0"));
    let all = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    all(whole) && all(frac)
}

/// Emits a list: a JSON array, or a table with one row per item (or
/// `no <what>` when there is none), or the same table as CSV.
pub fn emit_list<T>(
    format: Format,
    items: &[T],
    json: impl Fn(&T) -> Value,
    columns: &[&'static str],
    row: impl Fn(&T) -> Vec<String>,
    what: &str,
) -> Result<(), CliError> {
    let mut t = Table::new(columns);
    for item in items {
        t.row(row(item));
    }
    let listed = Listed {
        empty: format!("no {what}\n"),
        footer: String::new(),
    };
    emit_table(
        format,
        Value::Array(items.iter().map(json).collect()),
        &t,
        &listed,
    )
}

/// What a table printed for people says around its rows.
#[derive(Debug, Default)]
pub struct Listed {
    /// The text instead of an empty table.
    pub empty: String,
    /// A line after the rows (what to do next).
    pub footer: String,
}

/// A table in the format asked: the JSON given, the table aligned with its
/// footer (or the empty text), or the same columns and rows as CSV.
pub fn emit_table(format: Format, json: Value, t: &Table, listed: &Listed) -> Result<(), CliError> {
    match format {
        Format::Json => print_json(&json),
        Format::Csv => print(&csv_text(&t.headers, &t.rows)?),
        Format::Table if t.is_empty() => print(&listed.empty),
        Format::Table => print(&format!("{}{}", t.render(), listed.footer)),
    }
}

/// A note for people on stderr (never with the JSON on stdout).
pub fn note(text: &str) {
    eprintln!("{text}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_on_characters_not_bytes() {
        let mut t = Table::new(&["A", "NAME"]);
        t.row(vec!["é".to_owned(), "x".to_owned()]);
        t.row(vec!["abc".to_owned()]);
        assert_eq!(t.render(), "A    NAME\né    x\nabc\n");
        assert_eq!(
            fields(&[("a", "1".to_owned()), ("bbb", "2".to_owned())]),
            "a:   1\nbbb: 2\n"
        );
    }

    #[test]
    fn csv_cells_never_run_as_formulas_and_numbers_stay_numbers() {
        for risky in [
            "=1+2", "+33 6 12", "-2+3", "@SUM(A1)", "\tx", "\r=x", "-", "+",
        ] {
            assert_eq!(csv_cell(risky), format!("'{risky}"), "{risky:?}");
        }
        for safe in [
            "-0.355250",
            "-12",
            "+3.5",
            "0.5",
            "Ressourcerie = atelier",
            "",
        ] {
            assert_eq!(csv_cell(safe), safe, "{safe:?}");
        }
        let text = csv_text(
            &["Référence", "Destinations"],
            &[vec![
                "M1".to_owned(),
                "=HYPERLINK(\"x\"), Mulhouse".to_owned(),
            ]],
        )
        .unwrap();
        assert_eq!(
            text,
            "Référence,Destinations\nM1,\"'=HYPERLINK(\"\"x\"\"), Mulhouse\"\n"
        );
    }
}
