//! Reads a spreadsheet — CSV (comma or semicolon, UTF-8 with or without a
//! BOM) or a workbook calamine opens (XLSX, XLS, ODS) — into a header row
//! and data rows that keep their line numbers, and finds columns by header
//! names whatever their case and accents. A file is read from its path, or
//! from its bytes and its name (an upload): the name's extension says
//! whether it is a workbook.

use std::borrow::Cow;
use std::io::Cursor;
use std::path::Path;

use calamine::{Data, Reader, Sheets};

use crate::ImportError;

/// One data row: its line number in the file (1-based, as a spreadsheet
/// shows it) and its cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Line (or spreadsheet row) number.
    pub line: u64,
    /// The cells, trimmed, one per header (missing ones are empty).
    pub cells: Vec<String>,
}

/// A header row and the data rows under it; blank rows are skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sheet {
    /// The headers as written in the file.
    pub headers: Vec<String>,
    /// The data rows.
    pub rows: Vec<Row>,
    /// `csv`, or the workbook format.
    pub format: &'static str,
}

/// Normalises a header for lookup: lowercase, accents removed, every run
/// of other characters (spaces, `_`, `(`, `.`) one space. "Masse (kg)" and
/// "mass_kg" become "masse kg" and "mass kg".
pub fn normalize(header: &str) -> String {
    let mut out = String::new();
    let mut gap = false;
    for c in header.trim().trim_start_matches('\u{feff}').chars() {
        let folded = fold(c);
        if folded.chars().all(char::is_alphanumeric) && !folded.is_empty() {
            if gap && !out.is_empty() {
                out.push(' ');
            }
            gap = false;
            out.extend(folded.chars().flat_map(char::to_lowercase));
        } else {
            gap = true;
        }
    }
    out
}

/// The ASCII spelling of the accented letters French (and its neighbours)
/// write; other characters are kept.
fn fold(c: char) -> String {
    let s = match c {
        'à' | 'á' | 'â' | 'ä' | 'ã' | 'å' | 'À' | 'Á' | 'Â' | 'Ä' | 'Ã' | 'Å' => "a",
        'ç' | 'Ç' => "c",
        'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => "e",
        'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => "i",
        'ñ' | 'Ñ' => "n",
        'ò' | 'ó' | 'ô' | 'ö' | 'õ' | 'Ò' | 'Ó' | 'Ô' | 'Ö' | 'Õ' => "o",
        'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => "u",
        'ÿ' | 'Ÿ' => "y",
        'œ' | 'Œ' => "oe",
        'æ' | 'Æ' => "ae",
        '°' => "o",
        other => return other.to_string(),
    };
    s.to_owned()
}

impl Sheet {
    /// The index of the first column whose normalised header is one of
    /// `aliases` (given normalised).
    pub fn column(&self, aliases: &[&str]) -> Option<usize> {
        let normalized: Vec<String> = self.headers.iter().map(|h| normalize(h)).collect();
        aliases
            .iter()
            .find_map(|a| normalized.iter().position(|h| h == a))
    }
}

/// Reads the file at `path`, choosing the reader by its extension (see
/// [`read_bytes`]).
pub fn read(path: &Path) -> Result<Sheet, ImportError> {
    let bytes = std::fs::read(path).map_err(|e| ImportError::Unreadable {
        reason: e.to_string(),
    })?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    read_bytes(name, &bytes)
}

/// Reads a file's bytes, choosing the reader by the extension of its
/// `name`: a workbook for .xlsx, .xlsm, .xls, .xlsb, .ods; CSV otherwise.
pub fn read_bytes(name: &str, bytes: &[u8]) -> Result<Sheet, ImportError> {
    match workbook_format(name) {
        Some(format) => read_workbook(bytes, format),
        None => read_csv(bytes),
    }
}

/// The workbook format a file name's extension says (`xlsx`, `xls`,
/// `xlsb`, `ods`), or `None` for CSV (any other name).
pub fn workbook_format(name: &str) -> Option<&'static str> {
    let ext = Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)?;
    match ext.as_str() {
        "xlsx" | "xlsm" => Some("xlsx"),
        "xls" => Some("xls"),
        "xlsb" => Some("xlsb"),
        "ods" => Some("ods"),
        _ => None,
    }
}

fn unreadable(reason: impl ToString) -> ImportError {
    ImportError::Unreadable {
        reason: reason.to_string(),
    }
}

/// Reads CSV bytes; the separator is `;` when the header line has more of
/// them than commas (French spreadsheet exports), else `,`. Lines end with
/// `\n`, `\r\n` or `\r`.
pub fn read_csv(bytes: &[u8]) -> Result<Sheet, ImportError> {
    let text = std::str::from_utf8(bytes).map_err(|e| ImportError::NotUtf8 {
        byte: e.valid_up_to(),
    })?;
    let text = unix_line_ends(text.trim_start_matches('\u{feff}'));
    // The header row: the first line with something on it, as blank lines
    // before it are skipped.
    let first = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    let delimiter = if first.matches(';').count() > first.matches(',').count() {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut gathered = Gathered::default();
    for record in reader.records() {
        let record = record.map_err(unreadable)?;
        let line = line_of(&record, text.as_bytes());
        gathered.push(line, record.iter().map(|c| c.trim().to_owned()).collect());
    }
    gathered.sheet("csv").ok_or(ImportError::Empty)
}

/// A sheet's rows as they are read, whatever the file: the first row that
/// is not blank is the header row, blank rows are skipped, and data rows
/// are padded to the header row's width.
#[derive(Default)]
struct Gathered {
    headers: Option<Vec<String>>,
    rows: Vec<Row>,
}

impl Gathered {
    /// Takes the row read on `line`.
    fn push(&mut self, line: u64, cells: Vec<String>) {
        if cells.iter().all(String::is_empty) {
            return;
        }
        match &self.headers {
            None => self.headers = Some(cells),
            Some(h) => {
                let cells = pad(cells, h.len());
                self.rows.push(Row { line, cells });
            }
        }
    }

    /// The sheet, or `None` when every row was blank.
    fn sheet(self, format: &'static str) -> Option<Sheet> {
        Some(Sheet {
            headers: self.headers?,
            rows: self.rows,
            format,
        })
    }
}

/// The line a record starts on. The reader's position counts the lines of
/// quoted newlines, but it is taken where reading began, before the empty
/// lines the reader skips: each of those moves the record one line down.
fn line_of(record: &csv::StringRecord, text: &[u8]) -> u64 {
    record.position().map_or(0, |p| {
        let skipped = usize::try_from(p.byte())
            .ok()
            .and_then(|start| text.get(start..))
            .map_or(0, |rest| rest.iter().take_while(|b| **b == b'\n').count());
        p.line()
            .saturating_add(u64::try_from(skipped).unwrap_or(u64::MAX))
    })
}

/// `text` with every line end made a `\n`: `\r\n` (Windows exports) and a
/// lone `\r` (old Mac exports). The csv reader ends a record at either but
/// counts lines by the `\n` it has consumed when the next record starts:
/// after a `\r\n` it has not yet (rust-csv issue 395), after a lone `\r`
/// never: rows would be reported a line early, or all on line 1.
fn unix_line_ends(text: &str) -> Cow<'_, str> {
    if text.contains('\r') {
        Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        Cow::Borrowed(text)
    }
}

fn pad(mut cells: Vec<String>, n: usize) -> Vec<String> {
    if cells.len() < n {
        cells.resize(n, String::new());
    }
    cells
}

/// Reads the first worksheet that has cells of a workbook in `format`.
fn read_workbook(bytes: &[u8], format: &'static str) -> Result<Sheet, ImportError> {
    let mut workbook = open_workbook(bytes, format).map_err(unreadable)?;
    for name in workbook.sheet_names() {
        let range = workbook
            .worksheet_range(&name)
            .map_err(|e| unreadable(format!("sheet {name:?}: {e}")))?;
        let Some((first_row, _)) = range.start() else {
            continue;
        };
        let mut gathered = Gathered::default();
        for (i, cells) in range.rows().enumerate() {
            let line = u64::from(first_row)
                .saturating_add(u64::try_from(i).unwrap_or(u64::MAX))
                .saturating_add(1);
            gathered.push(line, cells.iter().map(cell_text).collect());
        }
        if let Some(sheet) = gathered.sheet(format) {
            return Ok(sheet);
        }
    }
    Err(ImportError::NoCells)
}

/// Opens a workbook held in memory with the reader of its format.
fn open_workbook<'a>(
    bytes: &'a [u8],
    format: &str,
) -> Result<Sheets<Cursor<&'a [u8]>>, calamine::Error> {
    use calamine::{Error, open_workbook_from_rs};
    let data = Cursor::new(bytes);
    Ok(match format {
        "xls" => Sheets::Xls(open_workbook_from_rs(data).map_err(Error::Xls)?),
        "xlsb" => Sheets::Xlsb(open_workbook_from_rs(data).map_err(Error::Xlsb)?),
        "ods" => Sheets::Ods(open_workbook_from_rs(data).map_err(Error::Ods)?),
        _ => Sheets::Xlsx(open_workbook_from_rs(data).map_err(Error::Xlsx)?),
    })
}

/// A cell as the text a person sees; whole numbers without `.0`, and
/// others to nine decimals at most: a formula's result (`=0.1+0.2`) holds
/// binary noise (`0.30000000000000004`) the spreadsheet does not show, and
/// which would read as more decimals than a mass or a quantity takes.
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.trim().to_owned(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => {
            if f.fract() == 0.0 && f.abs() < 1e15 {
                format!("{f:.0}")
            } else if f.is_finite() && f.abs() < 1e15 {
                let fixed = format!("{f:.9}");
                fixed.trim_end_matches('0').trim_end_matches('.').to_owned()
            } else {
                f.to_string()
            }
        }
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) => d.to_string(),
        Data::Error(e) => format!("#{e:?}"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn headers_match_whatever_their_case_and_accents() {
        assert_eq!(normalize("Désignation"), "designation");
        assert_eq!(normalize("Masse (kg)"), "masse kg");
        assert_eq!(normalize("mass_kg"), "mass kg");
        assert_eq!(normalize("  QUANTITÉ "), "quantite");
        assert_eq!(normalize("Potentiel de réemploi"), "potentiel de reemploi");
        assert_eq!(normalize("Réf."), "ref");
        assert_eq!(normalize("\u{feff}État"), "etat");
    }

    #[test]
    fn semicolons_blank_rows_and_quoted_newlines_keep_line_numbers() {
        let csv = "Réf;Désignation\nA;\"deux\nlignes\"\n\n;\nB;porte\n";
        let sheet = read_csv(csv.as_bytes()).unwrap();
        assert_eq!(sheet.headers, vec!["Réf", "Désignation"]);
        let lines: Vec<u64> = sheet.rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![2, 6]);
        assert_eq!(sheet.column(&["designation"]), Some(1));
    }

    #[test]
    fn windows_and_old_mac_line_ends_keep_line_numbers() {
        // Found by the fuzz targets and proptests: after a `\r\n` or an
        // empty line a row was reported on the line before its own; with
        // lone `\r` line ends, all rows were on line 1; a blank first line
        // made the separator a comma.
        let csv = "\nRéf;Désignation\r\nA;porte\r\n\r\nB;\"deux\r\nlignes\"\rC;x\r\r\n\nD;y";
        let sheet = read_csv(csv.as_bytes()).unwrap();
        let lines: Vec<u64> = sheet.rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![3, 5, 7, 10]);
        assert_eq!(sheet.rows[1].cells, vec!["B", "deux\nlignes"]);
    }

    #[test]
    fn uploaded_bytes_are_read_as_their_name_says() {
        let mut wb = rust_xlsxwriter::Workbook::new();
        let ws = wb.add_worksheet();
        ws.write_string(0, 0, "Réf").unwrap();
        ws.write_string(0, 1, "Quantité").unwrap();
        ws.write_string(1, 0, "A").unwrap();
        ws.write_number(1, 1, 12.0).unwrap();
        // Row 3 is blank; row 4 holds a decimal.
        ws.write_string(3, 0, "B").unwrap();
        ws.write_number(3, 1, 2.5).unwrap();
        let bytes = wb.save_to_buffer().unwrap();
        let sheet = read_bytes("Diagnostic.XLSX", &bytes).unwrap();
        assert_eq!(sheet.format, "xlsx");
        assert_eq!(sheet.headers, vec!["Réf", "Quantité"]);
        let rows: Vec<(u64, Vec<String>)> =
            sheet.rows.into_iter().map(|r| (r.line, r.cells)).collect();
        assert_eq!(
            rows,
            vec![
                (2, vec!["A".to_owned(), "12".to_owned()]),
                (4, vec!["B".to_owned(), "2.5".to_owned()]),
            ]
        );
        // The same bytes named as CSV are not UTF-8 text; CSV named as a
        // workbook is not a workbook.
        assert!(matches!(
            read_bytes("diagnostic.csv", &bytes),
            Err(ImportError::NotUtf8 { .. })
        ));
        assert!(matches!(
            read_bytes("diagnostic.xlsx", b"a,b\n1,2\n"),
            Err(ImportError::Unreadable { .. })
        ));
        assert_eq!(read_bytes("export", b"a;b\n1;2\n").unwrap().format, "csv");
        assert_eq!(read_csv(b"\n \n"), Err(ImportError::Empty));
    }

    #[test]
    fn a_formula_s_binary_noise_is_not_read_as_decimals() {
        let mut wb = rust_xlsxwriter::Workbook::new();
        let ws = wb.add_worksheet();
        ws.write_string(0, 0, "Masse (t)").unwrap();
        for (r, v) in [0.1 + 0.2, 24.6, -1.5, 1.0 / 3.0, 2.0]
            .into_iter()
            .enumerate()
        {
            ws.write_number(u32::try_from(r).unwrap() + 1, 0, v)
                .unwrap();
        }
        let sheet = read_bytes("d.xlsx", &wb.save_to_buffer().unwrap()).unwrap();
        let cells: Vec<&str> = sheet.rows.iter().map(|r| r.cells[0].as_str()).collect();
        assert_eq!(cells, vec!["0.3", "24.6", "-1.5", "0.333333333", "2"]);
    }

    #[test]
    fn latin1_is_refused_with_advice() {
        let err = read_csv(b"ref,d\xe9signation\n").unwrap_err();
        assert!(err.to_string().contains("UTF-8"), "{err}");
    }
}
