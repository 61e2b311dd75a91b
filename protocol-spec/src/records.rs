//! The institution's own records as the staff protocol carries them (`ImportRecords`): persons
//! and their observation-grid fields by category, and the checks a node applies to a set it
//! receives (`spec/records.md` §7). Reading the import files (CSV or JSON) is the CLI's: the
//! edge where the administrator's files come in.
//!
//! Problem reasons name the rule that failed and never repeat a social insurance number, a
//! name, a birth date or a value: the file's author has them, logs and screens need not.

use crate::avs::Avs;
use crate::category::Category;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Longest person name, in UTF-8 bytes.
pub const MAX_NAME_BYTES: usize = 200;
/// Longest field name, in bytes (`[a-z0-9_]{1,64}`).
pub const MAX_FIELD_NAME_BYTES: usize = 64;
/// Longest field value, in UTF-8 bytes.
pub const MAX_VALUE_BYTES: usize = 4096;
/// At most this many problems are listed; one more entry then counts the rest.
pub const MAX_PROBLEMS: usize = 1000;

/// A person the institution follows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub avs: Avs,
    pub name: String,
    /// ISO 8601 calendar date `YYYY-MM-DD`, from 1900-01-01 on.
    pub birth_date: String,
}

/// One observation-grid field about a person: `(avs, category, field)` is its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordField {
    pub avs: Avs,
    pub category: Category,
    /// `[a-z0-9_]{1,64}`.
    pub field: String,
    pub value: String,
}

/// What one import carries: persons, and fields about persons in the set or already known
/// at the node.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RecordSet {
    pub persons: Vec<Person>,
    pub fields: Vec<RecordField>,
}

/// One rejected row and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowProblem {
    /// 1-based line in the file: the row's first line for CSV; for JSON the line where the
    /// person's object starts (person-level problems) or where the category or field key
    /// stands. For [`RecordSet::validate`], the 1-based position in `persons` or `fields`,
    /// which the reason names.
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for RowProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// Every problem of a rejected file (or record set), in line order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{}", summary(&self.problems))]
pub struct ImportError {
    pub problems: Vec<RowProblem>,
}

/// How many problems `Display` of [`ImportError`] spells out; `problems` holds them all.
const SHOWN_PROBLEMS: usize = 10;

fn summary(problems: &[RowProblem]) -> String {
    let mut s = format!("{} problem(s)", problems.len());
    for (i, p) in problems.iter().take(SHOWN_PROBLEMS).enumerate() {
        s.push_str(if i == 0 { ": " } else { "; " });
        s.push_str(&p.to_string());
    }
    if problems.len() > SHOWN_PROBLEMS {
        s.push_str(&format!("; and {} more", problems.len() - SHOWN_PROBLEMS));
    }
    s
}

impl ImportError {
    /// One problem at `line`.
    pub fn one(line: usize, reason: impl Into<String>) -> Self {
        ImportError {
            problems: vec![RowProblem {
                line,
                reason: reason.into(),
            }],
        }
    }
}

/// Collects problems, at most [`MAX_PROBLEMS`] of them plus a count of the rest.
#[derive(Default)]
pub struct Problems {
    list: Vec<RowProblem>,
    dropped: usize,
    first_dropped_line: usize,
}

impl Problems {
    pub fn push(&mut self, line: usize, reason: impl Into<String>) {
        if self.list.len() < MAX_PROBLEMS {
            self.list.push(RowProblem {
                line,
                reason: reason.into(),
            });
        } else {
            if self.dropped == 0 {
                self.first_dropped_line = line;
            }
            self.dropped += 1;
        }
    }

    pub fn count(&self) -> usize {
        self.list.len() + self.dropped
    }

    /// `Ok(value)` if nothing was found, else every problem, sorted by line (stable: the
    /// problems of one row stay in column order).
    pub fn finish<T>(mut self, value: T, sort: bool) -> Result<T, ImportError> {
        if self.count() == 0 {
            return Ok(value);
        }
        if sort {
            self.list.sort_by_key(|p| p.line);
        }
        if self.dropped > 0 {
            self.list.push(RowProblem {
                line: self.first_dropped_line,
                reason: format!(
                    "{} further problem(s) from this line on are not listed",
                    self.dropped
                ),
            });
        }
        Err(ImportError {
            problems: self.list,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Single-value rules, shared by the import formats and by `RecordSet::validate`. Each returns
// the reason a value is refused, never quoting personal data.

/// A real calendar date `YYYY-MM-DD` (Gregorian, leap years included) from 1900-01-01 on.
pub fn valid_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10
        || b[4] != b'-'
        || b[7] != b'-'
        || !b
            .iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
    {
        return false;
    }
    let num = |r: std::ops::Range<usize>| -> u32 { s[r].parse().expect("ascii digits") };
    let (y, m, d) = (num(0..4), num(5..7), num(8..10));
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

/// `[a-z0-9_]{1,64}`.
pub fn valid_field_name(f: &str) -> bool {
    (1..=MAX_FIELD_NAME_BYTES).contains(&f.len())
        && f.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Why a person's name is refused, if it is.
pub fn name_problem(name: &str) -> Option<String> {
    if name.trim().is_empty() {
        Some("name is missing or empty".into())
    } else if name.len() > MAX_NAME_BYTES {
        Some(format!("name is longer than {MAX_NAME_BYTES} bytes"))
    } else if name.chars().any(char::is_control) {
        Some("name contains control characters".into())
    } else if name.trim() != name {
        Some("name has leading or trailing spaces".into())
    } else {
        None
    }
}

/// Why a birth date is refused, if it is.
pub fn date_problem(date: &str) -> Option<String> {
    (!valid_date(date))
        .then(|| "birth date is not a real calendar date YYYY-MM-DD from 1900 on".into())
}

/// Why a field name is refused, if it is.
pub fn field_name_problem(f: &str) -> Option<String> {
    if f.is_empty() {
        Some("field name is empty".into())
    } else if !valid_field_name(f) {
        Some(format!(
            "field name must be 1 to {MAX_FIELD_NAME_BYTES} characters from a-z, 0-9 and _"
        ))
    } else {
        None
    }
}

/// Why a field value is refused, if it is.
pub fn value_problem(v: &str) -> Option<String> {
    if v.trim().is_empty() {
        Some("value is empty (leave the field out instead)".into())
    } else if v.len() > MAX_VALUE_BYTES {
        Some(format!("value is longer than {MAX_VALUE_BYTES} bytes"))
    } else if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        Some("value contains control characters".into())
    } else {
        None
    }
}

impl RecordSet {
    /// Appends another file's persons and fields; [`RecordSet::validate`] then finds
    /// duplicates across the files.
    pub fn merge(&mut self, other: RecordSet) {
        self.persons.extend(other.persons);
        self.fields.extend(other.fields);
    }

    /// Re-checks every rule of `spec/records.md` on a set received over the wire (the social
    /// insurance numbers and categories are checked by their types when deserialized). Each
    /// problem's `line` is the 1-based position in `persons` or `fields`, and its reason starts
    /// with `person N:` or `field N:`. A field about a person not in the set is allowed: the
    /// node checks it against the persons it already holds.
    pub fn validate(&self) -> Result<(), ImportError> {
        let mut problems = Problems::default();
        let mut persons: BTreeMap<&Avs, usize> = BTreeMap::new();
        for (i, p) in self.persons.iter().enumerate() {
            let n = i + 1;
            for r in [name_problem(&p.name), date_problem(&p.birth_date)]
                .into_iter()
                .flatten()
            {
                problems.push(n, format!("person {n}: {r}"));
            }
            if let Some(first) = persons.insert(&p.avs, n) {
                persons.insert(&p.avs, first);
                problems.push(n, format!("person {n}: same person as person {first}"));
            }
        }
        let mut fields: BTreeMap<(&Avs, Category, &str), usize> = BTreeMap::new();
        for (i, f) in self.fields.iter().enumerate() {
            let n = i + 1;
            for r in [field_name_problem(&f.field), value_problem(&f.value)]
                .into_iter()
                .flatten()
            {
                problems.push(n, format!("field {n}: {r}"));
            }
            if let Some(first) = fields.insert((&f.avs, f.category, &f.field), n) {
                fields.insert((&f.avs, f.category, &f.field), first);
                problems.push(
                    n,
                    format!("field {n}: same person, category and field name as field {first}"),
                );
            }
        }
        problems.finish((), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_rechecks_a_received_set() {
        let jean: Avs = "7569217076985".parse().unwrap();
        let person = |name: &str, date: &str| Person {
            avs: jean.clone(),
            name: name.into(),
            birth_date: date.into(),
        };
        let field = |f: &str, v: &str| RecordField {
            avs: jean.clone(),
            category: Category::Measures,
            field: f.into(),
            value: v.into(),
        };
        let good = RecordSet {
            persons: vec![person("Jean Exemple", "1978-04-12")],
            fields: vec![field("current_measure", "workshop")],
        };
        good.validate().unwrap();
        // Fields alone (their persons already at the node) are fine.
        RecordSet {
            persons: vec![],
            fields: good.fields.clone(),
        }
        .validate()
        .unwrap();
        let bad = RecordSet {
            persons: vec![
                person("Jean Exemple", "1978-04-12"),
                person(" Jean", "1978-4-12"),
                person("", "1978-04-12"),
            ],
            fields: vec![
                field("current_measure", "workshop"),
                field("Current", ""),
                field("current_measure", "other"),
            ],
        };
        let e = bad.validate().unwrap_err();
        let got: Vec<(usize, &str)> = e
            .problems
            .iter()
            .map(|p| (p.line, p.reason.as_str()))
            .collect();
        let want = [
            (2, "person 2: name has leading or trailing spaces"),
            (2, "person 2: birth date"),
            (2, "person 2: same person as person 1"),
            (3, "person 3: name is missing"),
            (3, "person 3: same person as person 1"),
            (2, "field 2: field name must be"),
            (2, "field 2: value is empty"),
            (
                3,
                "field 3: same person, category and field name as field 1",
            ),
        ];
        assert_eq!(got.len(), want.len(), "{got:#?}");
        for ((gl, gr), (wl, wr)) in got.iter().zip(want) {
            assert!(*gl == wl && gr.starts_with(wr), "{gl} {gr} vs {wl} {wr}");
        }
        // Over the wire, a bad number or category does not even deserialize.
        let json = serde_json::to_string(&good).unwrap();
        assert!(
            serde_json::from_str::<RecordSet>(&json.replace("7569217076985", "7569217076984"))
                .is_err()
        );
        assert!(serde_json::from_str::<RecordSet>(&json.replace("measures", "salary")).is_err());
        assert_eq!(serde_json::from_str::<RecordSet>(&json).unwrap(), good);
    }
}
