//! The placements file (spec/statistics.md §3): CSV with the header
//! `avs,measure,start,end,outcome`, `,` or `;` as the delimiter, one placement per row; every
//! problem with its line and column, never quoting a number or a date back.

use super::csv_file::{LineCounter, each_row};
use super::rows::{strip_bom, token, too_large};
use protocol_spec::avs::Avs;
use protocol_spec::records::{ImportError, Problems};
use protocol_spec::stats::placements::placement_problems;
use protocol_spec::stats::{ExitOutcome, MeasureId, Placement, PlacementSet};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const PLACEMENTS_HEADER: &str = "avs,measure,start,end,outcome";

fn delimiter(bytes: &[u8]) -> Option<u8> {
    [b',', b';'].into_iter().find(|&d| {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(d)
            .from_reader(bytes);
        let mut header = csv::ByteRecord::new();
        reader.read_byte_record(&mut header).unwrap_or(false)
            && header
                .iter()
                .map(|c| String::from_utf8_lossy(c).trim().to_ascii_lowercase())
                .eq(PLACEMENTS_HEADER.split(',').map(String::from))
    })
}

/// Parses a placements file: the whole set, or every problem found.
pub fn parse_placements(bytes: &[u8]) -> Result<PlacementSet, ImportError> {
    parse_with_lines(bytes).map(|(set, _)| set)
}

/// Parses a placements file; with the set, the file line of each placement, in order.
fn parse_with_lines(bytes: &[u8]) -> Result<(PlacementSet, Vec<usize>), ImportError> {
    if let Some(e) = too_large(bytes) {
        return Err(e);
    }
    let bytes = strip_bom(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ImportError::one(
            1,
            format!("file is empty: expected the header `{PLACEMENTS_HEADER}`"),
        ));
    }
    let header_line = LineCounter::new(bytes).record_line(0);
    let Some(delimiter) = delimiter(bytes) else {
        return Err(ImportError::one(
            header_line,
            format!("header must be `{PLACEMENTS_HEADER}` for a placements file"),
        ));
    };
    let mut set = PlacementSet::default();
    let mut lines = Vec::new();
    let mut problems = Problems::default();
    let mut seen: BTreeMap<(Avs, MeasureId, String), usize> = BTreeMap::new();
    each_row(
        bytes,
        delimiter,
        PLACEMENTS_HEADER,
        &mut problems,
        |line, cells, problems| {
            let avs = cells[0]
                .parse::<Avs>()
                .map_err(|e| problems.push(line, format!("avs: {e}")))
                .ok();
            let measure = cells[1]
                .parse::<MeasureId>()
                .map_err(|_| {
                    problems.push(
                        line,
                        format!(
                            "measure: a measure id{} is 1 to 64 characters from a-z, 0-9 and -",
                            token(cells[1])
                        ),
                    )
                })
                .ok();
            let end = (!cells[3].is_empty()).then_some(cells[3]);
            let outcome = if cells[4].is_empty() {
                Ok(None)
            } else {
                cells[4].parse::<ExitOutcome>().map(Some).map_err(|e| {
                    problems.push(line, format!("outcome: {e}{}", token(cells[4])));
                })
            };
            let Ok(outcome) = outcome else { return };
            let date_problems = placement_problems(cells[2], end, outcome);
            for r in &date_problems {
                problems.push(line, *r);
            }
            let (Some(avs), Some(measure)) = (avs, measure) else {
                return;
            };
            if !date_problems.is_empty() {
                return;
            }
            let key = (avs.clone(), measure.clone(), cells[2].to_string());
            if let Some(first) = seen.get(&key) {
                problems.push(
                    line,
                    format!("the same person, measure and start are already given at line {first}"),
                );
                return;
            }
            seen.insert(key, line);
            lines.push(line);
            set.placements.push(Placement {
                avs,
                measure,
                start: cells[2].to_string(),
                end: end.map(String::from),
                outcome,
            });
        },
    );
    problems.finish((set, lines), true)
}

/// A placements file as read: the set, and where in the file each placement stands.
#[derive(Debug)]
pub struct PlacementsFile {
    pub path: PathBuf,
    pub set: PlacementSet,
    /// `lines[i]` is the file line of placement `i + 1`.
    lines: Vec<usize>,
}

/// How the node begins its refusal of a placement set (node-core, `import_placements`).
const NODE_REFUSAL: &str = "placements rejected; nothing was imported: ";

impl PlacementsFile {
    /// Reads and parses one placements file, naming the file with each problem.
    pub fn read(path: &Path) -> anyhow::Result<PlacementsFile> {
        use anyhow::Context;
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let (set, lines) = parse_with_lines(&bytes).map_err(|e| {
            rejected(
                e.problems
                    .iter()
                    .map(|p| format!("{}:{}: {}", path.display(), p.line, p.reason))
                    .collect(),
                0,
            )
        })?;
        Ok(PlacementsFile {
            path: path.to_path_buf(),
            set,
            lines,
        })
    }

    /// The node's refusal in this file's terms: the node numbers placements from 1 in the
    /// order sent (it never saw the file) and lists the first 10 problems on one line; this
    /// gives each its file and line, one per line, as `records import` does. `None` for any
    /// other message, which is then shown as it came.
    pub fn explain_refusal(&self, message: &str) -> Option<String> {
        let rest = message.strip_prefix(NODE_REFUSAL)?;
        let (_, items) = rest.split_once(" problem(s): ")?;
        let mut out = Vec::new();
        let mut unlisted = 0;
        for item in items.split("; ") {
            if let Some(more) = item
                .strip_prefix("and ")
                .and_then(|m| m.strip_suffix(" more"))
            {
                unlisted = more.parse().ok()?;
                continue;
            }
            let (n, reason) = item.strip_prefix("line ")?.split_once(": ")?;
            let n: usize = n.parse().ok()?;
            let line = *self.lines.get(n.checked_sub(1)?)?;
            let reason = reason
                .strip_prefix(&format!("placement {n}: "))
                .unwrap_or(reason);
            out.push(format!("{}:{line}: {reason}", self.path.display()));
        }
        Some(rejected(out, unlisted).to_string())
    }
}

/// The rejection of a placements file, one problem a line as `records import` reports them;
/// `unlisted` counts the problems the node found but did not list.
fn rejected(lines: Vec<String>, unlisted: usize) -> anyhow::Error {
    let mut text = format!(
        "{} row(s) rejected; nothing was imported:\n  {}",
        lines.len() + unlisted,
        lines.join("\n  ")
    );
    if unlisted > 0 {
        text.push_str(&format!(
            "\n  and {unlisted} more that the node does not list: correct these and import again to see them"
        ));
    }
    anyhow::anyhow!(text)
}

/// Reads and parses one placements file, naming the file with each problem.
pub fn read_placements(path: &Path) -> anyhow::Result<PlacementSet> {
    PlacementsFile::read(path).map(|f| f.set)
}

#[cfg(test)]
mod tests {
    use super::*;

    const JEAN: &str = "756.9217.0769.85";

    #[test]
    fn a_good_file_parses_whole() {
        let text = format!(
            "avs;measure;start;end;outcome\n{JEAN};atelier-bois;2026-01-05;2026-06-30;employment\n{JEAN};coaching;2026-07-01;;\n"
        );
        let set = parse_placements(text.as_bytes()).unwrap();
        assert_eq!(set.placements.len(), 2);
        assert_eq!(set.placements[0].outcome, Some(ExitOutcome::Employment));
        assert_eq!(set.placements[1].end, None);
        set.validate().unwrap();
    }

    /// Each problem names its line and column, and no value of the file comes back.
    #[test]
    fn problems_name_line_and_field_never_the_value() {
        let text = format!(
            "avs,measure,start,end,outcome\n\
             756.9217.0769.84,atelier-bois,2026-01-05,,\n\
             {JEAN},Atelier Bois,2026-02-30,,\n\
             {JEAN},coaching,2026-03-01,2026-02-01,employment\n\
             {JEAN},coaching,2026-03-01,,employment\n\
             {JEAN},coaching,2026-04-01,2026-05-01,\n\
             {JEAN},coaching,2026-06-01,2026-07-01,1978-04-12\n\
             {JEAN},coaching\n\
             {JEAN},atelier-bois,2026-01-05,,\n\
             {JEAN},atelier-bois,2026-01-05,,\n"
        );
        let e = parse_placements(text.as_bytes()).unwrap_err();
        let got: Vec<(usize, &str)> = e
            .problems
            .iter()
            .map(|p| (p.line, p.reason.as_str()))
            .collect();
        let want = [
            (
                2,
                "avs: invalid social insurance number: the check digit does not match",
            ),
            (
                3,
                "measure: a measure id is 1 to 64 characters from a-z, 0-9 and -",
            ),
            (
                3,
                "start is not a real calendar date YYYY-MM-DD from 1900 on",
            ),
            (4, "end is before start"),
            (5, "an outcome is given without an end"),
            (6, "an ended placement needs its outcome"),
            (
                7,
                "outcome: unknown exit outcome (expected one of employment, training, other-measure, dropout, other)",
            ),
            (
                8,
                "expected 5 columns (`avs,measure,start,end,outcome`), found 2",
            ),
            (
                10,
                "the same person, measure and start are already given at line 9",
            ),
        ];
        assert_eq!(got.len(), want.len(), "{got:#?}");
        for ((gl, gr), (wl, wr)) in got.iter().zip(want) {
            assert!(*gl == wl && gr.starts_with(wr), "{gl} {gr} vs {wl} {wr}");
        }
        let all = e.to_string();
        for secret in [
            "7569217076984",
            "756.9217.0769.8",
            "2026-02-30",
            "1978-04-12",
            "Atelier Bois",
        ] {
            assert!(!all.contains(secret), "{secret} echoed in {all}");
        }
    }

    #[test]
    fn a_wrong_header_or_an_empty_file_is_refused() {
        let e = parse_placements(b"avs,name,birth_date\n").unwrap_err();
        assert_eq!(
            e.problems[0].reason,
            "header must be `avs,measure,start,end,outcome` for a placements file"
        );
        let e = parse_placements(b"  \n").unwrap_err();
        assert!(e.problems[0].reason.starts_with("file is empty"));
    }

    /// The node numbers placements from 1 and lists 10 problems on one line; the CLI gives
    /// each its file line (the header is line 1) and file, one a line.
    #[test]
    fn the_nodes_refusal_is_told_by_file_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ne.orp.csv");
        let mut text = String::from("avs,measure,start,end,outcome\n");
        for day in 1..=12 {
            text.push_str(&format!("{JEAN},coaching-emploi,2026-01-{day:02},,\n"));
        }
        std::fs::write(&path, text).unwrap();
        let file = PlacementsFile::read(&path).unwrap();
        // As node-core's import_placements words it.
        let mut problems = Problems::default();
        for n in 1..=12 {
            problems.push(
                n,
                format!("placement {n}: measure `coaching-emploi` is not declared in the roster"),
            );
        }
        let e = problems.finish((), false).unwrap_err();
        let node = format!("placements rejected; nothing was imported: {e}");
        let told = file
            .explain_refusal(&node)
            .expect("the node's refusal is recognised");
        let lines: Vec<&str> = told.lines().collect();
        assert_eq!(lines[0], "12 row(s) rejected; nothing was imported:");
        assert_eq!(
            lines[1],
            format!(
                "  {}:2: measure `coaching-emploi` is not declared in the roster",
                path.display()
            )
        );
        assert!(lines[10].starts_with(&format!("  {}:11: ", path.display())));
        assert!(lines[11].starts_with("  and 2 more"), "{told}");
        assert_eq!(lines.len(), 12, "{told}");
        // Anything else is left as the node said it.
        assert_eq!(file.explain_refusal("the node's store is full"), None);
    }
}
