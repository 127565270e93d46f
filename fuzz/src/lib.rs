//! Checks shared by the fuzz targets in `fuzz_targets/`: what must hold of
//! any sheet the CSV reader returns, and of any import of it, whatever the
//! bytes were. Each target asserts these properties, so a wrong answer
//! fails as loudly as a panic.
#![forbid(unsafe_code)]

use reemploi_import::sheet::{self, Sheet};
use reemploi_import::{BadRow, ImportError, Parsed};

/// The lines a person sees in `bytes`: a line ends with `\n`, `\r\n` or a
/// lone `\r` (the line end of old Mac spreadsheet exports).
pub fn lines_of(bytes: &[u8]) -> Vec<&[u8]> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                lines.push(&bytes[start..i]);
                start = i + 1;
            }
            b'\r' => {
                lines.push(&bytes[start..i]);
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    lines.push(&bytes[start..]);
    lines
}

/// A file-level error says what is wrong.
pub fn assert_says_why(e: &ImportError) {
    assert!(
        !e.to_string().trim().is_empty(),
        "an error without a reason: {e:?}"
    );
}

/// Reads `bytes` as the importers do and checks the sheet: a header row,
/// data rows in file order, each on a line of the file after the header.
pub fn read_sheet(bytes: &[u8]) -> Option<Sheet> {
    let sheet = match sheet::read_csv(bytes) {
        Ok(sheet) => sheet,
        Err(e) => {
            assert_says_why(&e);
            return None;
        }
    };
    assert_eq!(sheet.format, "csv");
    assert!(
        sheet.headers.iter().any(|h| !h.is_empty()),
        "a blank header row: {:?}",
        sheet.headers
    );
    let lines = lines_of(bytes);
    let mut previous = 1;
    for row in &sheet.rows {
        let line = usize::try_from(row.line).unwrap();
        assert!(
            line > previous && line <= lines.len(),
            "row on line {line} after line {previous}, in a file of {} line(s): {:?}",
            lines.len(),
            sheet.rows.iter().map(|r| r.line).collect::<Vec<_>>()
        );
        // A row starts with something: the reader skips empty lines.
        assert!(!lines[line - 1].is_empty(), "row on the empty line {line}");
        previous = line;
        assert!(row.cells.len() >= sheet.headers.len(), "{row:?}");
        assert!(row.cells.iter().any(|c| !c.is_empty()), "a blank row kept");
        assert!(
            row.cells.iter().all(|c| c.trim() == c),
            "untrimmed cell {row:?}"
        );
    }
    Some(sheet)
}

/// Every data row is reported once, good or bad, in file order, on its own
/// line; each bad row says why; `ticks` counted every row.
pub fn assert_rows_accounted<T>(sheet: &Sheet, parsed: &Parsed<T>, ticks: usize) {
    assert_eq!(ticks, sheet.rows.len(), "one tick per row");
    let mut reported: Vec<u64> = parsed.good.iter().map(|(line, _)| *line).collect();
    reported.extend(parsed.bad.iter().map(|b| b.line));
    reported.sort_unstable();
    let rows: Vec<u64> = sheet.rows.iter().map(|r| r.line).collect();
    assert_eq!(reported, rows, "rows reported vs rows read");
    for BadRow { line, reasons } in &parsed.bad {
        assert!(
            !reasons.is_empty() && reasons.iter().all(|r| !r.to_string().trim().is_empty()),
            "bad row on line {line} says nothing"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::lines_of;

    #[test]
    fn line_ends_of_every_platform_count_once() {
        assert_eq!(lines_of(b""), vec![b""]);
        let four: Vec<&[u8]> = vec![b"a", b"b", b"c", b"d"];
        assert_eq!(lines_of(b"a\nb\r\nc\rd"), four);
        let three: Vec<&[u8]> = vec![b"a", b"", b""];
        assert_eq!(lines_of(b"a\r\r\n"), three);
    }
}
