//! CSV files as French spreadsheets open them: UTF-8 with a byte-order
//! mark (without it, some spreadsheets read the accents as Latin-1),
//! cells separated by semicolons (the comma is the decimal separator),
//! lines ended by CRLF (RFC 4180).
//!
//! A text cell may hold what a person typed elsewhere (a partner's name, a
//! quartier): a spreadsheet would run a cell starting with `=`, `+`, `-`,
//! `@`, a tab or a carriage return as a formula, so such a cell is prefixed
//! with an apostrophe, which makes it text. Numbers are written by the
//! app itself and never prefixed, so that they stay numbers.

/// Starts a file: the byte-order mark.
const BOM: &str = "\u{feff}";
/// Between cells.
const SEPARATOR: char = ';';

/// A CSV file being written.
#[derive(Debug, Clone)]
pub struct Csv {
    out: String,
}

impl Default for Csv {
    fn default() -> Self {
        Csv {
            out: BOM.to_owned(),
        }
    }
}

/// One cell.
#[derive(Debug, Clone, Copy)]
pub enum Cell<'a> {
    /// Text from anywhere: made safe for spreadsheets.
    Text(&'a str),
    /// A number the app wrote (e.g. "12,5" or "-3"), kept as it is.
    Number(&'a str),
}

impl Csv {
    /// Adds a line of `cells`.
    pub fn line(&mut self, cells: &[Cell<'_>]) {
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                self.out.push(SEPARATOR);
            }
            match cell {
                Cell::Text(text) => self.out.push_str(&quoted(&defused(text))),
                Cell::Number(number) => self.out.push_str(&quoted(number)),
            }
        }
        self.out.push_str("\r\n");
    }

    /// The whole file.
    pub fn finish(self) -> String {
        self.out
    }
}

/// `text`, with an apostrophe in front when a spreadsheet would take it
/// for a formula.
fn defused(text: &str) -> String {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_owned(),
    }
}

/// `cell` in double quotes (doubled inside) when it holds a separator, a
/// quote or a line break; as it is otherwise.
fn quoted(cell: &str) -> String {
    if cell.contains([SEPARATOR, '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_defused_and_separators_quoted() {
        let mut csv = Csv::default();
        csv.line(&[Cell::Text("clé"), Cell::Text("valeur")]);
        csv.line(&[
            Cell::Text("=HYPERLINK(\"http://x\")"),
            Cell::Text("+33"),
            Cell::Text("-2"),
            Cell::Text("@SUM(A1)"),
            Cell::Text("\tx"),
            Cell::Text("a;b"),
            Cell::Text("deux\nlignes"),
            Cell::Number("-12,5"),
            Cell::Text("Péricentre-Fonderie"),
        ]);
        let text = csv.finish();
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines[0], "\u{feff}clé;valeur");
        assert_eq!(
            lines[1],
            "\"'=HYPERLINK(\"\"http://x\"\")\";'+33;'-2;'@SUM(A1);'\tx;\"a;b\";\"deux\nlignes\";-12,5;Péricentre-Fonderie"
        );
        assert_eq!(lines[2], "", "every line ends with CRLF");
        assert_eq!(lines.len(), 3);
    }
}
