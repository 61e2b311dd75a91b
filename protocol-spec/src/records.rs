//! The institution's own records, as imported by its administrator: persons and their
//! observation-grid fields by category, from CSV or JSON. Every problem is reported with its
//! line, and a file with any problem is rejected whole.

use crate::avs::Avs;
use crate::category::Category;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Files above this size are refused before parsing.
pub const MAX_FILE_BYTES: usize = 16 << 20;
pub const MAX_VALUE_BYTES: usize = 4096;
pub const MAX_NAME_BYTES: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub avs: Avs,
    pub name: String,
    /// ISO 8601 calendar date, `YYYY-MM-DD`.
    pub birth_date: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordField {
    pub avs: Avs,
    pub category: Category,
    pub field: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RecordSet {
    pub persons: Vec<Person>,
    pub fields: Vec<RecordField>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowProblem {
    /// 1-based line in the file (for JSON, the line where the person's object starts).
    pub line: usize,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} problem(s), first at line {}: {}", problems.len(), problems.first().map(|p| p.line).unwrap_or(0), problems.first().map(|p| p.reason.as_str()).unwrap_or(""))]
pub struct ImportError {
    pub problems: Vec<RowProblem>,
}

fn problem(line: usize, reason: impl Into<String>) -> RowProblem {
    RowProblem {
        line,
        reason: reason.into(),
    }
}

/// A real calendar date `YYYY-MM-DD` from 1900 on.
pub fn valid_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<u32>().ok());
    let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    if !s[0..4]
        .bytes()
        .chain(s[5..7].bytes())
        .chain(s[8..10].bytes())
        .all(|c| c.is_ascii_digit())
    {
        return false;
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    y >= 1900 && (1..=days).contains(&d)
}

fn valid_field_name(f: &str) -> bool {
    !f.is_empty()
        && f.len() <= 64
        && f.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn check_person(
    line: usize,
    avs: &str,
    name: &str,
    birth: &str,
    out: &mut Vec<RowProblem>,
) -> Option<Person> {
    let before = out.len();
    let avs = avs
        .parse::<Avs>()
        .map_err(|e| out.push(problem(line, e.to_string())))
        .ok();
    let name = name.trim();
    if name.is_empty() {
        out.push(problem(line, "name is empty"));
    } else if name.len() > MAX_NAME_BYTES || name.chars().any(char::is_control) {
        out.push(problem(
            line,
            "name is too long or contains control characters",
        ));
    }
    if !valid_date(birth.trim()) {
        out.push(problem(
            line,
            "birth date is not a valid YYYY-MM-DD date from 1900 on",
        ));
    }
    (out.len() == before).then(|| Person {
        avs: avs.expect("checked"),
        name: name.to_string(),
        birth_date: birth.trim().to_string(),
    })
}

fn check_field(
    line: usize,
    avs: &str,
    category: &str,
    field: &str,
    value: &str,
    out: &mut Vec<RowProblem>,
) -> Option<RecordField> {
    let before = out.len();
    let avs = avs
        .parse::<Avs>()
        .map_err(|e| out.push(problem(line, e.to_string())))
        .ok();
    let category = category
        .trim()
        .parse::<Category>()
        .map_err(|e| out.push(problem(line, e.to_string())))
        .ok();
    if !valid_field_name(field.trim()) {
        out.push(problem(
            line,
            "field name must be 1 to 64 characters from a-z, 0-9 and _",
        ));
    }
    if value.len() > MAX_VALUE_BYTES {
        out.push(problem(
            line,
            format!("value is longer than {MAX_VALUE_BYTES} bytes"),
        ));
    } else if value.chars().any(|c| c.is_control() && c != '\n') {
        out.push(problem(line, "value contains control characters"));
    }
    (out.len() == before).then(|| RecordField {
        avs: avs.expect("checked"),
        category: category.expect("checked"),
        field: field.trim().to_string(),
        value: value.to_string(),
    })
}

/// Parses a CSV file: a persons file (header `avs,name,birth_date`) or a fields file (header
/// `avs,category,field,value`), told apart by the header.
pub fn parse_csv(bytes: &[u8]) -> Result<RecordSet, ImportError> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(ImportError {
            problems: vec![problem(
                1,
                format!("file is larger than {MAX_FILE_BYTES} bytes"),
            )],
        });
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes);
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|s| s.trim().to_string()).collect(),
        Err(e) => {
            return Err(ImportError {
                problems: vec![problem(1, format!("unreadable header: {e}"))],
            });
        }
    };
    let kind = match header
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["avs", "name", "birth_date"] => 3,
        ["avs", "category", "field", "value"] => 4,
        _ => {
            return Err(ImportError {
                problems: vec![problem(
                    1,
                    "header must be `avs,name,birth_date` (persons) or `avs,category,field,value` (fields)",
                )],
            });
        }
    };
    let mut set = RecordSet::default();
    let mut problems = Vec::new();
    let mut seen = Seen::default();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line() as usize).unwrap_or(0);
                problems.push(problem(line, format!("unreadable row: {e}")));
                continue;
            }
        };
        let line = record.position().map(|p| p.line() as usize).unwrap_or(0);
        if record.len() != kind {
            problems.push(problem(
                line,
                format!("expected {kind} columns, found {}", record.len()),
            ));
            continue;
        }
        if kind == 3 {
            if let Some(p) = check_person(line, &record[0], &record[1], &record[2], &mut problems) {
                seen.person(line, p, &mut set, &mut problems);
            }
        } else if let Some(f) = check_field(
            line,
            &record[0],
            &record[1],
            &record[2],
            &record[3],
            &mut problems,
        ) {
            seen.field(line, f, &mut set, &mut problems);
        }
    }
    finish(set, problems)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonFile {
    persons: Vec<JsonPerson>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonPerson {
    avs: String,
    name: String,
    birth_date: String,
    #[serde(default)]
    records: BTreeMap<String, BTreeMap<String, String>>,
}

/// Parses a JSON file `{"persons": [{"avs", "name", "birth_date", "records": {category: {field: value}}}]}`.
pub fn parse_json(bytes: &[u8]) -> Result<RecordSet, ImportError> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(ImportError {
            problems: vec![problem(
                1,
                format!("file is larger than {MAX_FILE_BYTES} bytes"),
            )],
        });
    }
    let file: JsonFile = serde_json::from_slice(bytes).map_err(|e| ImportError {
        problems: vec![problem(
            e.line(),
            format!("malformed JSON: {}", e.classify_message()),
        )],
    })?;
    // Each person's line: where its `"avs"` key appears, in order.
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<usize> = text
        .match_indices("\"avs\"")
        .map(|(i, _)| text[..i].bytes().filter(|b| *b == b'\n').count() + 1)
        .collect();
    let mut set = RecordSet::default();
    let mut problems = Vec::new();
    let mut seen = Seen::default();
    for (i, p) in file.persons.iter().enumerate() {
        let line = lines.get(i).copied().unwrap_or(1);
        if let Some(person) = check_person(line, &p.avs, &p.name, &p.birth_date, &mut problems) {
            seen.person(line, person, &mut set, &mut problems);
        }
        for (cat, fields) in &p.records {
            for (field, value) in fields {
                if let Some(f) = check_field(line, &p.avs, cat, field, value, &mut problems) {
                    seen.field(line, f, &mut set, &mut problems);
                }
            }
        }
    }
    finish(set, problems)
}

trait ClassifyMessage {
    fn classify_message(&self) -> String;
}

impl ClassifyMessage for serde_json::Error {
    fn classify_message(&self) -> String {
        // serde_json's message may quote input; keep only its first clause, without values.
        let s = self.to_string();
        s.split(" at line")
            .next()
            .unwrap_or("")
            .split('`')
            .next()
            .unwrap_or("")
            .trim()
            .to_string()
    }
}

/// First line of each person and field seen in a file, to report duplicates where they occur.
#[derive(Default)]
struct Seen {
    persons: BTreeMap<Avs, usize>,
    fields: BTreeMap<(Avs, Category, String), usize>,
}

impl Seen {
    fn person(
        &mut self,
        line: usize,
        p: Person,
        set: &mut RecordSet,
        problems: &mut Vec<RowProblem>,
    ) {
        match self.persons.get(&p.avs) {
            Some(first) => problems.push(problem(
                line,
                format!("person already listed at line {first}"),
            )),
            None => {
                self.persons.insert(p.avs.clone(), line);
                set.persons.push(p);
            }
        }
    }

    fn field(
        &mut self,
        line: usize,
        f: RecordField,
        set: &mut RecordSet,
        problems: &mut Vec<RowProblem>,
    ) {
        let key = (f.avs.clone(), f.category, f.field.clone());
        match self.fields.get(&key) {
            Some(first) => problems.push(problem(
                line,
                format!(
                    "field `{}` in {} already given for this person at line {first}",
                    f.field, f.category
                ),
            )),
            None => {
                self.fields.insert(key, line);
                set.fields.push(f);
            }
        }
    }
}

fn finish(set: RecordSet, mut problems: Vec<RowProblem>) -> Result<RecordSet, ImportError> {
    if problems.is_empty() {
        Ok(set)
    } else {
        problems.sort_by_key(|p| p.line);
        Err(ImportError { problems })
    }
}

/// Parses a file by its name: `.json` as JSON, anything else as CSV.
pub fn parse_file(name: &str, bytes: &[u8]) -> Result<RecordSet, ImportError> {
    if name.to_ascii_lowercase().ends_with(".json") {
        parse_json(bytes)
    } else {
        parse_csv(bytes)
    }
}

impl RecordSet {
    pub fn merge(&mut self, other: RecordSet) {
        self.persons.extend(other.persons);
        self.fields.extend(other.fields);
    }

    fn duplicates(&self) -> Result<(), Vec<RowProblem>> {
        let mut problems = Vec::new();
        let mut persons = BTreeSet::new();
        for (i, p) in self.persons.iter().enumerate() {
            if !persons.insert(&p.avs) {
                problems.push(problem(i + 1, "person appears more than once"));
            }
        }
        let mut fields = BTreeSet::new();
        for (i, f) in self.fields.iter().enumerate() {
            if !fields.insert((&f.avs, f.category, &f.field)) {
                problems.push(problem(
                    i + 1,
                    format!(
                        "field `{}` in {} appears more than once for the same person",
                        f.field, f.category
                    ),
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// Re-checks a set received over the wire: what the parsers guarantee, the node checks again.
    pub fn validate(&self) -> Result<(), ImportError> {
        let mut problems = Vec::new();
        for (i, p) in self.persons.iter().enumerate() {
            check_person(
                i + 1,
                &p.avs.digits(),
                &p.name,
                &p.birth_date,
                &mut problems,
            );
        }
        for (i, f) in self.fields.iter().enumerate() {
            check_field(
                i + 1,
                &f.avs.digits(),
                f.category.as_str(),
                &f.field,
                &f.value,
                &mut problems,
            );
        }
        if let Err(mut d) = self.duplicates() {
            problems.append(&mut d);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ImportError { problems })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_persons_and_fields() {
        let p =
            parse_csv(b"avs,name,birth_date\n756.9217.0769.85,Jean Exemple,1980-02-29\n").unwrap();
        assert_eq!(p.persons.len(), 1);
        let f = parse_csv(
            b"avs,category,field,value\n7569217076985,employment,status,\"seeking, part-time\"\n",
        )
        .unwrap();
        assert_eq!(f.fields[0].value, "seeking, part-time");
        assert_eq!(f.fields[0].category, Category::Employment);
    }

    #[test]
    fn every_bad_row_is_reported_with_its_line() {
        let input = b"avs,name,birth_date\n7569217076985,Ok,1980-01-01\n7569217076984,Bad Check,1980-01-01\n7569217076985,,1981-02-30\nonly,two\n";
        let e = parse_csv(input).unwrap_err();
        let lines: Vec<usize> = e.problems.iter().map(|p| p.line).collect();
        assert!(
            lines.contains(&3) && lines.contains(&4) && lines.contains(&5),
            "{e:?}"
        );
        assert!(e.problems.iter().any(|p| p.reason.contains("check digit")));
        assert!(e.problems.iter().any(|p| p.reason.contains("birth date")));
        assert!(e.problems.iter().any(|p| p.reason.contains("columns")));
        assert!(
            !format!("{e:?}").contains("7569217076984"),
            "no personal data in errors"
        );
    }

    #[test]
    fn json_records_and_positions() {
        let input = br#"{"persons": [
  {"avs": "7569217076985", "name": "A", "birth_date": "1970-01-01",
   "records": {"household": {"size": "3"}}},
  {"avs": "7569217076985", "name": "B", "birth_date": "1970-13-01",
   "records": {"salary": {"x": "1"}}}
]}"#;
        let e = parse_json(input).unwrap_err();
        assert!(
            e.problems
                .iter()
                .any(|p| p.line == 4 && p.reason.contains("birth date")),
            "{e:?}"
        );
        assert!(
            e.problems
                .iter()
                .any(|p| p.line == 4 && p.reason.contains("unknown data category"))
        );
        let ok = parse_json(&input[..input.len()]).err();
        assert!(ok.is_some());
        let good = br#"{"persons": [{"avs": "7569217076985", "name": "A", "birth_date": "1970-01-01", "records": {"household": {"size": "3"}}}]}"#;
        let set = parse_json(good).unwrap();
        assert_eq!(set.fields.len(), 1);
        assert!(set.validate().is_ok());
    }

    #[test]
    fn duplicates_and_headers_are_refused() {
        let e = parse_csv(
            b"avs,name,birth_date\n7569217076985,A,1970-01-01\n7569217076985,A,1970-01-01\n",
        )
        .unwrap_err();
        assert!(
            e.problems
                .iter()
                .any(|p| p.line == 3 && p.reason.contains("already listed at line 2")),
            "{e:?}"
        );
        let e = parse_csv(b"id,name\n1,2\n").unwrap_err();
        assert_eq!(e.problems[0].line, 1);
        assert!(valid_date("2000-02-29") && !valid_date("1900-02-29") && !valid_date("1899-12-31"));
    }
}
