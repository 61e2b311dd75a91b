//! An institution's records import, as the administrator's files give it (`spec/records.md`):
//! persons and their observation-grid fields by category, from CSV or JSON, read from disk and
//! parsed at this edge; the node receives the parsed set (`ImportRecords`) and checks it again.
//! Every problem is reported with its line, and a file with any problem is rejected whole: the
//! parsers return either the complete record set or every problem found, never a part of the
//! file.
//!
//! Problem reasons name the rule that failed and never repeat a social insurance number, a
//! name, a birth date or a value: the file's author has them, logs and screens need not.

mod csv_file;
mod json_file;
mod placements;
mod rows;
#[cfg(test)]
mod tests;

pub use csv_file::{CsvKind, detect_csv_kind, parse_csv, parse_csv_as};
pub use json_file::parse_json;
pub use placements::{PLACEMENTS_HEADER, PlacementsFile, parse_placements, read_placements};
pub use rows::MAX_FILE_BYTES;

use anyhow::{Context, bail};
use protocol_spec::records::{ImportError, RecordSet};
use std::path::PathBuf;

/// Parses a file by its name: `.json` (any case) as JSON, anything else as CSV.
pub fn parse_file(name: &str, bytes: &[u8]) -> Result<RecordSet, ImportError> {
    if name.to_ascii_lowercase().ends_with(".json") {
        parse_json(bytes)
    } else {
        parse_csv(bytes)
    }
}

/// Reads and parses record files, reporting every rejected row with file and line.
pub fn read_records(files: &[PathBuf]) -> anyhow::Result<RecordSet> {
    if files.is_empty() {
        bail!("name at least one file to import");
    }
    let mut all = RecordSet::default();
    let mut problems = Vec::new();
    for f in files {
        let bytes = std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?;
        match parse_file(&f.to_string_lossy(), &bytes) {
            Ok(set) => all.merge(set),
            Err(e) => {
                for p in e.problems {
                    problems.push(format!("{}:{}: {}", f.display(), p.line, p.reason));
                }
            }
        }
    }
    if !problems.is_empty() {
        bail!(
            "{} row(s) rejected; nothing was imported:\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    all.validate()
        .map_err(|e| anyhow::anyhow!("records rejected; nothing was imported: {e}"))?;
    Ok(all)
}
