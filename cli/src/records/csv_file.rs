//! CSV import files: persons (`avs,name,birth_date`) or fields (`avs,category,field,value`),
//! told apart by their header, `,` or `;` as the delimiter; every problem with its line.

use super::rows::{Seen, field_row, parse_category, person_row, strip_bom, too_large};
use protocol_spec::avs::Avs;
use protocol_spec::records::{ImportError, Problems, RecordSet};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The two CSV files, told apart by their header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CsvKind {
    /// Header `avs,name,birth_date`.
    Persons,
    /// Header `avs,category,field,value`.
    Fields,
}

impl CsvKind {
    pub fn header(self) -> &'static str {
        match self {
            CsvKind::Persons => "avs,name,birth_date",
            CsvKind::Fields => "avs,category,field,value",
        }
    }
}

impl fmt::Display for CsvKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CsvKind::Persons => "persons",
            CsvKind::Fields => "fields",
        })
    }
}

/// The kind and the delimiter (`,`, or `;` as spreadsheets write in Swiss locales) of a CSV
/// file, from its header: column names compared trimmed and ASCII case-insensitively.
fn sniff(bytes: &[u8]) -> Option<(CsvKind, u8)> {
    for delimiter in [b',', b';'] {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .from_reader(bytes);
        let mut header = csv::ByteRecord::new();
        if !reader.read_byte_record(&mut header).unwrap_or(false) {
            return None;
        }
        let names: Vec<String> = header
            .iter()
            .map(|c| String::from_utf8_lossy(c).trim().to_ascii_lowercase())
            .collect();
        for kind in [CsvKind::Persons, CsvKind::Fields] {
            if names
                .iter()
                .map(String::as_str)
                .eq(kind.header().split(','))
            {
                return Some((kind, delimiter));
            }
        }
    }
    None
}

/// The kind of a CSV file by its header, if it has one of the two.
pub fn detect_csv_kind(bytes: &[u8]) -> Option<CsvKind> {
    sniff(strip_bom(bytes)).map(|(kind, _)| kind)
}

/// Parses a CSV file of either kind, told apart by its header (see [`detect_csv_kind`]).
pub fn parse_csv(bytes: &[u8]) -> Result<RecordSet, ImportError> {
    parse_csv_checked(None, bytes)
}

/// Parses a CSV file that must be of `kind`.
pub fn parse_csv_as(kind: CsvKind, bytes: &[u8]) -> Result<RecordSet, ImportError> {
    parse_csv_checked(Some(kind), bytes)
}

fn parse_csv_checked(want: Option<CsvKind>, bytes: &[u8]) -> Result<RecordSet, ImportError> {
    if let Some(e) = too_large(bytes) {
        return Err(e);
    }
    let bytes = strip_bom(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ImportError::one(
            1,
            match want {
                Some(k) => format!("file is empty: expected the header `{}`", k.header()),
                None => "file is empty: expected a header".into(),
            },
        ));
    }
    // Blank lines before the header are skipped, as the csv reader does.
    let header_line = LineCounter::new(bytes).record_line(0);
    let (kind, delimiter) = match (sniff(bytes), want) {
        (Some((kind, d)), None) => (kind, d),
        (Some((kind, d)), Some(w)) if kind == w => (kind, d),
        (_, Some(w)) => {
            return Err(ImportError::one(
                header_line,
                format!("header must be `{}` for a {w} file", w.header()),
            ));
        }
        (None, None) => {
            return Err(ImportError::one(
                header_line,
                "header must be `avs,name,birth_date` (persons) or `avs,category,field,value` (fields)",
            ));
        }
    };
    let mut set = RecordSet::default();
    let mut problems = Problems::default();
    let mut seen = Seen::default();
    each_row(
        bytes,
        delimiter,
        kind.header(),
        &mut problems,
        |line, cells, problems| match kind {
            CsvKind::Persons => {
                if let Some(p) = person_row(line, cells[0], cells[1], cells[2], &mut seen, problems)
                {
                    set.persons.push(p);
                }
            }
            CsvKind::Fields => {
                let avs = cells[0]
                    .parse::<Avs>()
                    .map_err(|e| problems.push(line, e.to_string()))
                    .ok();
                let category = parse_category(cells[1])
                    .map_err(|r| problems.push(line, r))
                    .ok();
                if let Some(f) = field_row(
                    line,
                    avs.as_ref(),
                    category,
                    cells[2],
                    Some(cells[3]),
                    &mut seen,
                    problems,
                ) {
                    set.fields.push(f);
                }
            }
        },
    );
    problems.finish(set, true)
}

/// Walks the data rows of a CSV file whose header is `header`: each row with its line and its
/// cells, trimmed, once it has the header's number of columns, all of them UTF-8. A row of
/// another width, or with a cell that is not UTF-8, is a problem of its line and is passed
/// over; an unreadable file ends the walk with a problem.
pub(super) fn each_row(
    bytes: &[u8],
    delimiter: u8,
    header: &str,
    problems: &mut Problems,
    mut row: impl FnMut(usize, &[&str], &mut Problems),
) {
    let columns = header.split(',').count();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(bytes);
    let mut record = csv::ByteRecord::new();
    let mut lines = LineCounter::new(bytes);
    let mut at_header = true;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                // Not expected from an in-memory, flexible reader; stop rather than loop.
                let line = lines.record_line(e.position().map_or(0, |p| p.byte() as usize));
                problems.push(line, "unreadable CSV from this line on");
                break;
            }
        }
        let line = lines.record_line(record.position().map_or(0, |p| p.byte() as usize));
        if std::mem::take(&mut at_header) {
            continue;
        }
        if record.len() != columns {
            problems.push(
                line,
                format!(
                    "expected {columns} columns (`{header}`), found {}",
                    record.len()
                ),
            );
            continue;
        }
        let mut cells = Vec::with_capacity(record.len());
        for (i, cell) in record.iter().enumerate() {
            match std::str::from_utf8(cell) {
                Ok(s) => cells.push(s.trim()),
                Err(_) => problems.push(
                    line,
                    format!(
                        "column {} is not valid UTF-8 (save the file as UTF-8)",
                        i + 1
                    ),
                ),
            }
        }
        if cells.len() == record.len() {
            row(line, &cells, problems);
        }
    }
}

/// Line numbers of CSV records. The csv crate's positions count neither blank lines nor a
/// record's own start: a record's reported byte offset is where the previous record ended, so
/// the record starts after any line breaks that follow. `\r\n`, `\n` and a lone `\r` each end
/// a line, as they end a record.
pub(super) struct LineCounter<'a> {
    bytes: &'a [u8],
    at: usize,
    line: usize,
}

impl<'a> LineCounter<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        LineCounter {
            bytes,
            at: 0,
            line: 1,
        }
    }

    /// The 1-based line of the record the csv crate reports at byte `offset` (offsets only grow).
    pub(super) fn record_line(&mut self, offset: usize) -> usize {
        let b = self.bytes;
        let mut start = offset.min(b.len());
        while start < b.len() && matches!(b[start], b'\r' | b'\n') {
            start += 1;
        }
        while self.at < start {
            match b[self.at] {
                b'\n' => self.line += 1,
                b'\r' if b.get(self.at + 1) != Some(&b'\n') => self.line += 1,
                _ => {}
            }
            self.at += 1;
        }
        self.line
    }
}
