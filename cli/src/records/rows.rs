//! What both import formats share: the size limit, the rows' rules (each value checked by
//! `protocol_spec::records`), duplicates named where they were first seen, and what a problem
//! may quote back.

use protocol_spec::avs::Avs;
use protocol_spec::category::Category;
use protocol_spec::records::{
    ImportError, Person, Problems, RecordField, date_problem, field_name_problem, name_problem,
    value_problem,
};
use std::collections::BTreeMap;

/// Files above this size (16 MiB) are refused before parsing.
pub const MAX_FILE_BYTES: usize = 16 << 20;

/// `` `s` `` when `s` looks like a schema token (lowercase letters, digits, `_`, `-`, at most 32
/// bytes) and may be quoted back; empty otherwise, so a misplaced name or value is never echoed.
/// A token starts with a letter and has at most 4 digits in a row: a social insurance number
/// (`7569217076985`) or a birth date (`1978-04-12`) in the wrong column is not a token.
pub(super) fn token(s: &str) -> String {
    let ok = (1..=32).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && s.split(|c: char| !c.is_ascii_digit())
            .all(|run| run.len() <= 4);
    if ok { format!(" `{s}`") } else { String::new() }
}

pub(super) fn parse_category(s: &str) -> Result<Category, String> {
    s.parse::<Category>().map_err(|_| {
        format!(
            "unknown data category{} (expected one of identity, household, employment, benefits, health, measures, training, case-management)",
            token(s)
        )
    })
}

/// First line of each person and field seen in one file, to name duplicates where they are.
#[derive(Default)]
pub(super) struct Seen {
    persons: BTreeMap<Avs, usize>,
    fields: BTreeMap<(Avs, Category, String), usize>,
}

impl Seen {
    pub(super) fn person(&mut self, line: usize, avs: &Avs, problems: &mut Problems) {
        match self.persons.get(avs) {
            Some(first) => problems.push(line, format!("person already listed at line {first}")),
            None => {
                self.persons.insert(avs.clone(), line);
            }
        }
    }

    pub(super) fn field(
        &mut self,
        line: usize,
        avs: &Avs,
        cat: Category,
        f: &str,
        problems: &mut Problems,
    ) {
        let key = (avs.clone(), cat, f.to_string());
        match self.fields.get(&key) {
            Some(first) => problems.push(
                line,
                format!(
                    "field{} of {cat} already given for this person at line {first}",
                    token(f)
                ),
            ),
            None => {
                self.fields.insert(key, line);
            }
        }
    }
}

pub(super) fn too_large(bytes: &[u8]) -> Option<ImportError> {
    (bytes.len() > MAX_FILE_BYTES).then(|| {
        ImportError::one(
            1,
            format!("file is larger than 16 MiB ({MAX_FILE_BYTES} bytes)"),
        )
    })
}

pub(super) fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// Checks one person (all strings already trimmed); the person if it passed every rule.
pub(super) fn person_row(
    line: usize,
    avs: &str,
    name: &str,
    birth_date: &str,
    seen: &mut Seen,
    problems: &mut Problems,
) -> Option<Person> {
    let before = problems.count();
    let avs = avs
        .parse::<Avs>()
        .map_err(|e| problems.push(line, e.to_string()))
        .ok();
    if let Some(r) = name_problem(name) {
        problems.push(line, r);
    }
    if let Some(r) = date_problem(birth_date) {
        problems.push(line, r);
    }
    let avs = avs?;
    seen.person(line, &avs, problems);
    (problems.count() == before).then(|| Person {
        avs,
        name: name.to_string(),
        birth_date: birth_date.to_string(),
    })
}

/// Checks one field (strings already trimmed). `avs`, `category` or `value` is `None` when its
/// problem is already reported. Returns the field if it passed every rule.
pub(super) fn field_row(
    line: usize,
    avs: Option<&Avs>,
    category: Option<Category>,
    field: &str,
    value: Option<&str>,
    seen: &mut Seen,
    problems: &mut Problems,
) -> Option<RecordField> {
    let before = problems.count();
    let field_ok = match field_name_problem(field) {
        Some(r) => {
            problems.push(line, r);
            false
        }
        None => true,
    };
    if let Some(r) = value.and_then(value_problem) {
        problems.push(line, r);
    }
    let (avs, category, value) = (avs?, category?, value?);
    if field_ok {
        seen.field(line, avs, category, field, problems);
    }
    (problems.count() == before).then(|| RecordField {
        avs: avs.clone(),
        category,
        field: field.to_string(),
        value: value.to_string(),
    })
}
