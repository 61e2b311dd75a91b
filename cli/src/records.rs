//! An institution's records import, as the administrator's files give it: read from disk and
//! parsed, every rejected row reported with its file and line.

use anyhow::{Context, bail};
use protocol_spec::records::RecordSet;
use std::path::PathBuf;

/// Reads and parses record files, reporting every rejected row with file and line.
pub fn read_records(files: &[PathBuf]) -> anyhow::Result<RecordSet> {
    if files.is_empty() {
        bail!("name at least one file to import");
    }
    let mut all = RecordSet::default();
    let mut problems = Vec::new();
    for f in files {
        let bytes = std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?;
        match protocol_spec::records::parse_file(&f.to_string_lossy(), &bytes) {
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
