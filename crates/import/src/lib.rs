//! Reading spreadsheets for reemploi's imports, shared by the command line
//! and the web app: a PEMD diagnostic as lots ([`lots`]), an SIAE directory
//! export as partners ([`partners`]). Both read the file with [`sheet`]
//! (CSV or a workbook, from a path or from uploaded bytes), check every row
//! locally with the domain rules, and keep each bad row with its line and
//! every reason; [`violations_to_rows`] maps the API's refusal of a batch
//! back to lines. Nothing here calls the API.
#![forbid(unsafe_code)]

pub mod cells;
pub mod lots;
pub mod partners;
#[cfg(test)]
mod properties;
pub mod sheet;

use std::fmt;

use reemploi_domain::DomainError;

use sheet::Row;

/// What the batch APIs accept in one call.
pub const MAX_BATCH: usize = 1000;

/// Why a whole file cannot be imported: no row of it is read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read or opened as what its name says.
    #[error("{reason}")]
    Unreadable {
        /// What the reader said.
        reason: String,
    },
    /// A CSV file that is not UTF-8 text.
    #[error("not UTF-8 text (byte {byte}): save it as \"CSV UTF-8\" or as .xlsx")]
    NotUtf8 {
        /// Where the first byte that is not UTF-8 is.
        byte: usize,
    },
    /// A CSV file with nothing on any line.
    #[error("the file is empty")]
    Empty,
    /// A workbook none of whose sheets has a cell.
    #[error("no sheet has any cell")]
    NoCells,
    /// A diagnostic without a column every lot needs.
    #[error(
        "no column for {}; the header row has: {}",
        .missing.iter().map(|c| format!("{} (e.g. {:?})", c.field, c.example)).collect::<Vec<_>>().join(", "),
        .headers.join(", ")
    )]
    MissingColumns {
        /// The columns missing, in the order of the fields.
        missing: Vec<MissingColumn>,
        /// The headers the file has.
        headers: Vec<String>,
    },
    /// An SIAE directory export without the columns that identify a
    /// structure (siret, type, raison_sociale).
    #[error(
        "an SIAE directory export needs the columns siret, type and raison_sociale; \
         the header row has: {}",
        .headers.join(", ")
    )]
    NotADirectoryExport {
        /// The headers the file has.
        headers: Vec<String>,
    },
}

/// A required column a file lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingColumn {
    /// The field it fills: `designation`, `category`, `quantity`, `unit`.
    pub field: &'static str,
    /// A header that names it.
    pub example: &'static str,
}

/// Why one cell (or the API, for one row) refuses a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// A domain rule refused a cell: its field and the rule's words.
    Domain(DomainError),
    /// A partner row without latitude or longitude, which the API requires.
    NoLocation,
    /// Coordinates that are not decimal degrees.
    NotDegrees {
        /// The latitude cell.
        latitude: String,
        /// The longitude cell.
        longitude: String,
    },
    /// A partner row that names no kind of structure.
    NoKind,
    /// A service radius outside 1 to 200 km.
    Radius {
        /// The radius given.
        km: i64,
    },
    /// A cell that is not a whole, non-negative number.
    NotWhole {
        /// Its field.
        field: &'static str,
        /// The cell.
        value: String,
    },
    /// The API refused the row: the field within the row (empty for the
    /// whole row) and the API's words.
    Refused {
        /// The field path within the row, e.g. `quantity.milli`.
        field: String,
        /// The API's description.
        description: String,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Domain(e) => write!(f, "{e}"),
            Reason::NoLocation => f.write_str(
                "latitude/longitude: required: the API places every partner on the map \
                 (add latitude and longitude columns, e.g. from the BAN geocoder)",
            ),
            Reason::NotDegrees {
                latitude,
                longitude,
            } => write!(
                f,
                "latitude/longitude: {latitude:?}, {longitude:?} are not decimal degrees"
            ),
            Reason::NoKind => {
                f.write_str("type: at least one kind of structure (ACI, AI, EI, ETTI, EITI, EA...)")
            }
            Reason::Radius { km } => write!(f, "radius_km: from 1 to 200 km, got {km}"),
            Reason::NotWhole { field, value } => {
                write!(f, "{field}: {value:?} is not a whole number")
            }
            Reason::Refused { field, description } if field.is_empty() => f.write_str(description),
            Reason::Refused { field, description } => write!(f, "{field}: {description}"),
        }
    }
}

/// A row that cannot be imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    /// Its line in the file.
    pub line: u64,
    /// Every reason, in the order of the row's fields.
    pub reasons: Vec<Reason>,
}

impl BadRow {
    /// Every reason, joined with `; `.
    pub fn reason(&self) -> String {
        self.reasons
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
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
    /// The same rows, each good one made into something else.
    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> Parsed<U> {
        Parsed {
            good: self
                .good
                .into_iter()
                .map(|(line, row)| (line, f(row)))
                .collect(),
            bad: self.bad,
        }
    }

    /// Checks every row with `check`, which makes what the row describes
    /// or gives every reason it cannot; `tick` is called once per row.
    pub fn check_rows(
        rows: &[Row],
        mut tick: impl FnMut(),
        mut check: impl FnMut(&Row) -> Result<T, Vec<Reason>>,
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
                    reasons,
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
pub struct Reasons(pub Vec<Reason>);

impl Reasons {
    /// Keeps the value, or records why the field is invalid.
    pub fn keep<T>(&mut self, r: Result<T, DomainError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(Reason::Domain(e));
                None
            }
        }
    }

    /// Records a reason.
    pub fn push(&mut self, reason: Reason) {
        self.0.push(reason);
    }
}

/// Turns the API's refusal of a batch into bad rows: a violation of
/// `requests[i].<inner>.<field>` belongs to the i-th row sent, whose line is
/// `lines[i]`. Violations that name no row are kept as they are, as
/// `field: description`.
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
                let reason = Reason::Refused {
                    field: rest.to_owned(),
                    description: description.clone(),
                };
                match rows.iter_mut().find(|r| r.line == line) {
                    Some(row) => row.reasons.push(reason),
                    None => rows.push(BadRow {
                        line,
                        reasons: vec![reason],
                    }),
                }
            }
            None if field.is_empty() => other.push(description.clone()),
            None => other.push(format!("{field}: {description}")),
        }
    }
    rows.sort_by_key(|r| r.line);
    (rows, other)
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
            ("requests[0].lot".to_owned(), "missing".to_owned()),
        ];
        let (rows, other) = violations_to_rows(&v, &[2, 5], "lot");
        let reasons: Vec<(u64, String)> = rows.iter().map(|r| (r.line, r.reason())).collect();
        assert_eq!(
            reasons,
            vec![
                (2, "partner.siret: taken; missing".to_owned()),
                (5, "category: unknown; quantity.milli: > 0".to_owned()),
            ]
        );
        assert_eq!(
            rows[1].reasons[0],
            Reason::Refused {
                field: "category".to_owned(),
                description: "unknown".to_owned()
            }
        );
        assert_eq!(other, vec!["request_id: too long".to_owned()]);
    }
}
