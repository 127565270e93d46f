//! What commands print: aligned tables and `key: value` blocks for people,
//! or JSON (`--output json`) for scripts. Results go to stdout; progress,
//! notes and bad-row reports go to stderr so that stdout stays parseable.

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
    }
}

/// Emits a list: a JSON array, or a table with one row per item (or
/// `no <what>` when there is none).
pub fn emit_list<T>(
    format: Format,
    items: &[T],
    json: impl Fn(&T) -> Value,
    columns: &[&'static str],
    row: impl Fn(&T) -> Vec<String>,
    what: &str,
) -> Result<(), CliError> {
    emit(
        format,
        Value::Array(items.iter().map(json).collect()),
        || {
            let mut t = Table::new(columns);
            for item in items {
                t.row(row(item));
            }
            if t.is_empty() {
                format!("no {what}\n")
            } else {
                t.render()
            }
        },
    )
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
}
