//! The institution's own records, as imported by its administrator: persons and their
//! observation-grid fields by category, from CSV or JSON (`spec/records.md`). Every problem is
//! reported with its line, and a file with any problem is rejected whole: the parsers return
//! either the complete record set or every problem found, never a part of the file.
//!
//! Problem reasons name the rule that failed and never repeat a social insurance number, a
//! name, a birth date or a value: the file's author has them, logs and screens need not.

use crate::avs::Avs;
use crate::category::Category;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Files above this size (16 MiB) are refused before parsing.
pub const MAX_FILE_BYTES: usize = 16 << 20;
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
    fn one(line: usize, reason: impl Into<String>) -> Self {
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
struct Problems {
    list: Vec<RowProblem>,
    dropped: usize,
    first_dropped_line: usize,
}

impl Problems {
    fn push(&mut self, line: usize, reason: impl Into<String>) {
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

    fn count(&self) -> usize {
        self.list.len() + self.dropped
    }

    /// `Ok(value)` if nothing was found, else every problem, sorted by line (stable: the
    /// problems of one row stay in column order).
    fn finish<T>(mut self, value: T, sort: bool) -> Result<T, ImportError> {
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
// Single-value rules, shared by both formats and by `RecordSet::validate`. Each returns the
// reason a value is refused, never quoting personal data.

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

/// `` `s` `` when `s` looks like a schema token (lowercase letters, digits, `_`, `-`, at most 32
/// bytes) and may be quoted back; empty otherwise, so a misplaced name or value is never echoed.
/// A token starts with a letter and has at most 4 digits in a row: a social insurance number
/// (`7569217076985`) or a birth date (`1978-04-12`) in the wrong column is not a token.
fn token(s: &str) -> String {
    let ok = (1..=32).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && s.split(|c: char| !c.is_ascii_digit())
            .all(|run| run.len() <= 4);
    if ok { format!(" `{s}`") } else { String::new() }
}

fn name_problem(name: &str) -> Option<String> {
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

fn date_problem(date: &str) -> Option<String> {
    (!valid_date(date))
        .then(|| "birth date is not a real calendar date YYYY-MM-DD from 1900 on".into())
}

fn parse_category(s: &str) -> Result<Category, String> {
    s.parse::<Category>().map_err(|_| {
        format!(
            "unknown data category{} (expected one of identity, household, employment, benefits, health, measures, training, case-management)",
            token(s)
        )
    })
}

fn field_name_problem(f: &str) -> Option<String> {
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

fn value_problem(v: &str) -> Option<String> {
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

/// First line of each person and field seen in one file, to name duplicates where they are.
#[derive(Default)]
struct Seen {
    persons: BTreeMap<Avs, usize>,
    fields: BTreeMap<(Avs, Category, String), usize>,
}

impl Seen {
    fn person(&mut self, line: usize, avs: &Avs, problems: &mut Problems) {
        match self.persons.get(avs) {
            Some(first) => problems.push(line, format!("person already listed at line {first}")),
            None => {
                self.persons.insert(avs.clone(), line);
            }
        }
    }

    fn field(&mut self, line: usize, avs: &Avs, cat: Category, f: &str, problems: &mut Problems) {
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

fn too_large(bytes: &[u8]) -> Option<ImportError> {
    (bytes.len() > MAX_FILE_BYTES).then(|| {
        ImportError::one(
            1,
            format!("file is larger than 16 MiB ({MAX_FILE_BYTES} bytes)"),
        )
    })
}

fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

// ---------------------------------------------------------------------------------------------
// CSV

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

    fn columns(self) -> usize {
        self.header().split(',').count()
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
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(bytes);
    let mut set = RecordSet::default();
    let mut problems = Problems::default();
    let mut seen = Seen::default();
    let mut record = csv::ByteRecord::new();
    let mut lines = LineCounter::new(bytes);
    let mut header = true;
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
        if std::mem::take(&mut header) {
            continue;
        }
        if record.len() != kind.columns() {
            problems.push(
                line,
                format!(
                    "expected {} columns (`{}`), found {}",
                    kind.columns(),
                    kind.header(),
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
        if cells.len() != record.len() {
            continue;
        }
        match kind {
            CsvKind::Persons => {
                if let Some(p) =
                    person_row(line, cells[0], cells[1], cells[2], &mut seen, &mut problems)
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
                    &mut problems,
                ) {
                    set.fields.push(f);
                }
            }
        }
    }
    problems.finish(set, true)
}

/// Line numbers of CSV records. The csv crate's positions count neither blank lines nor a
/// record's own start: a record's reported byte offset is where the previous record ended, so
/// the record starts after any line breaks that follow. `\r\n`, `\n` and a lone `\r` each end
/// a line, as they end a record.
struct LineCounter<'a> {
    bytes: &'a [u8],
    at: usize,
    line: usize,
}

impl<'a> LineCounter<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        LineCounter {
            bytes,
            at: 0,
            line: 1,
        }
    }

    /// The 1-based line of the record the csv crate reports at byte `offset` (offsets only grow).
    fn record_line(&mut self, offset: usize) -> usize {
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

/// Checks one person (all strings already trimmed); the person if it passed every rule.
fn person_row(
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
fn field_row(
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

// ---------------------------------------------------------------------------------------------
// JSON

/// A JSON value that keeps object members in order, duplicates included, so that a key given
/// twice is reported instead of silently replaced.
enum Json {
    Null,
    Bool,
    Number,
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool => "a boolean",
            Json::Number => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Json;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Json, E> {
                Ok(Json::Null)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Json, E> {
                Ok(Json::Bool)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Json, E> {
                Ok(Json::Number)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Json, E> {
                Ok(Json::Number)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Json, E> {
                Ok(Json::Number)
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Json, E> {
                Ok(Json::String(s.to_string()))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Json, E> {
                Ok(Json::String(s))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element()? {
                    out.push(v);
                }
                Ok(Json::Array(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Json>()? {
                    out.push((k, v));
                }
                Ok(Json::Object(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// Where a JSON value stands: `line` of the value (array element) or of its key (object
/// member), and the positions of its elements or members, in order.
#[derive(Debug, Default, Clone, PartialEq)]
struct Pos {
    line: usize,
    kids: Vec<Pos>,
}

/// Finds the line of every value and member of a JSON text. Only for text serde_json has
/// accepted: that bounds the nesting, hence this scanner's recursion, by serde_json's limit of
/// 128. On other text it neither panics nor loops, but its positions mean nothing.
struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
    line: usize,
}

impl Scanner<'_> {
    fn positions(text: &[u8]) -> Pos {
        let mut s = Scanner {
            b: text,
            i: 0,
            line: 1,
        };
        s.ws();
        let line = s.line;
        Pos {
            line,
            kids: s.value(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                b'\n' => self.line += 1,
                b' ' | b'\t' | b'\r' => {}
                _ => break,
            }
            self.i += 1;
        }
    }

    fn string(&mut self) {
        self.i += 1; // opening quote
        while let Some(c) = self.peek() {
            self.i += if c == b'\\' { 2 } else { 1 };
            if c == b'"' {
                break;
            }
        }
    }

    /// Consumes one value; returns the positions of its members or elements.
    fn value(&mut self) -> Vec<Pos> {
        let mut kids = Vec::new();
        match self.peek() {
            Some(open @ (b'{' | b'[')) => {
                let close = if open == b'{' { b'}' } else { b']' };
                self.i += 1;
                loop {
                    self.ws();
                    match self.peek() {
                        None => break,
                        Some(c) if c == close => {
                            self.i += 1;
                            break;
                        }
                        Some(b',') => {
                            self.i += 1;
                            continue;
                        }
                        Some(_) => {}
                    }
                    let line = self.line;
                    if open == b'{' {
                        self.string();
                        self.ws();
                        if self.peek() == Some(b':') {
                            self.i += 1;
                        }
                        self.ws();
                    }
                    let start = self.i;
                    let nested = self.value();
                    kids.push(Pos { line, kids: nested });
                    if self.i == start {
                        self.i += 1; // unexpected byte: skip it rather than loop
                    }
                }
            }
            Some(b'"') => self.string(),
            Some(_) => {
                while let Some(c) = self.peek() {
                    if matches!(c, b',' | b']' | b'}' | b' ' | b'\t' | b'\r' | b'\n') {
                        break;
                    }
                    self.i += 1;
                }
            }
            None => {}
        }
        kids
    }
}

/// The position of member or element `i` of `pos`, or `pos` itself if the scan disagrees.
fn kid(pos: &Pos, i: usize) -> Pos {
    pos.kids.get(i).cloned().unwrap_or(Pos {
        line: pos.line,
        kids: Vec::new(),
    })
}

fn json_syntax_problem(e: serde_json::Error) -> ImportError {
    // Syntax and end-of-input messages are fixed texts; data errors could quote input and
    // cannot occur when parsing into `Json`, but are kept generic all the same.
    let reason = match e.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            let msg = e.to_string();
            let msg = msg.split(" at line ").next().unwrap_or("").to_string();
            format!("malformed JSON at column {}: {msg}", e.column())
        }
        _ => "malformed JSON".to_string(),
    };
    ImportError::one(e.line().max(1), reason)
}

/// Parses a JSON file:
/// `{"persons": [{"avs", "name", "birth_date", "records": {category: {field: value}}}]}`.
pub fn parse_json(bytes: &[u8]) -> Result<RecordSet, ImportError> {
    if let Some(e) = too_large(bytes) {
        return Err(e);
    }
    let bytes = strip_bom(bytes);
    let root: Json = serde_json::from_slice(bytes).map_err(json_syntax_problem)?;
    let pos = Scanner::positions(bytes);
    let mut problems = Problems::default();
    let mut set = RecordSet::default();
    let shape = "the file must be an object {\"persons\": [ … ]}";
    let Json::Object(members) = &root else {
        return Err(ImportError::one(pos.line, shape));
    };
    let mut persons = None;
    for (i, (key, value)) in members.iter().enumerate() {
        let at = kid(&pos, i);
        match key.as_str() {
            "persons" if persons.is_some() => {
                problems.push(at.line, "key `persons` given more than once")
            }
            "persons" => persons = Some((value, at)),
            other => problems.push(at.line, format!("unknown key{} in the file", token(other))),
        }
    }
    match persons {
        None => problems.push(pos.line, format!("missing key `persons`: {shape}")),
        Some((Json::Array(list), at)) => {
            let mut seen = Seen::default();
            for (i, person) in list.iter().enumerate() {
                if let Some(p) = json_person(
                    person,
                    &kid(&at, i),
                    &mut seen,
                    &mut problems,
                    &mut set.fields,
                ) {
                    set.persons.push(p);
                }
            }
        }
        Some((other, at)) => problems.push(
            at.line,
            format!("`persons` must be an array, found {}", other.kind()),
        ),
    }
    problems.finish(set, true)
}

fn json_person(
    person: &Json,
    pos: &Pos,
    seen: &mut Seen,
    problems: &mut Problems,
    fields: &mut Vec<RecordField>,
) -> Option<Person> {
    let line = pos.line;
    let Json::Object(members) = person else {
        problems.push(
            line,
            format!("a person must be an object, found {}", person.kind()),
        );
        return None;
    };
    let before = problems.count();
    let mut slots: BTreeMap<&str, (&Json, Pos)> = BTreeMap::new();
    for (i, (key, value)) in members.iter().enumerate() {
        let at = kid(pos, i);
        match key.as_str() {
            k @ ("avs" | "name" | "birth_date" | "records") => {
                if slots.insert(k, (value, at)).is_some() {
                    problems.push(line, format!("key `{k}` given more than once"));
                }
            }
            other => problems.push(line, format!("unknown key{} in a person", token(other))),
        }
    }
    let text = |key: &str, problems: &mut Problems| -> Option<String> {
        match slots.get(key) {
            None => {
                problems.push(line, format!("missing key `{key}`"));
                None
            }
            Some((Json::String(s), _)) => Some(s.trim().to_string()),
            Some((other, _)) => {
                problems.push(
                    line,
                    format!("`{key}` must be a string, found {}", other.kind()),
                );
                None
            }
        }
    };
    let avs = text("avs", problems);
    let name = text("name", problems);
    let birth_date = text("birth_date", problems);
    let avs = avs.and_then(|a| {
        a.parse::<Avs>()
            .map_err(|e| problems.push(line, e.to_string()))
            .ok()
    });
    if let Some(r) = name.as_deref().and_then(name_problem) {
        problems.push(line, r);
    }
    if let Some(r) = birth_date.as_deref().and_then(date_problem) {
        problems.push(line, r);
    }
    if let Some(avs) = &avs {
        seen.person(line, avs, problems);
    }
    let person_ok = problems.count() == before;
    match slots.get("records") {
        None => {}
        Some((Json::Object(categories), at)) => {
            let mut categories_seen = BTreeMap::new();
            for (i, (cat, value)) in categories.iter().enumerate() {
                let cat_pos = kid(at, i);
                let category = parse_category(cat)
                    .map_err(|r| problems.push(cat_pos.line, r))
                    .ok();
                if let Some(c) = category
                    && let Some(first) = categories_seen.insert(c, cat_pos.line)
                {
                    problems.push(
                        cat_pos.line,
                        format!("category {c} already given for this person at line {first}"),
                    );
                    continue;
                }
                let Json::Object(entries) = value else {
                    problems.push(
                        cat_pos.line,
                        format!(
                            "a category must be an object of fields, found {}",
                            value.kind()
                        ),
                    );
                    continue;
                };
                for (j, (field, value)) in entries.iter().enumerate() {
                    let fline = kid(&cat_pos, j).line;
                    let value = match value {
                        Json::String(v) => Some(v.trim()),
                        other => {
                            let named = match token(field) {
                                t if t.is_empty() => t,
                                t => format!(" of{t}"),
                            };
                            problems.push(
                                fline,
                                format!(
                                    "the value{named} must be a string, found {}",
                                    other.kind()
                                ),
                            );
                            None
                        }
                    };
                    if let Some(f) =
                        field_row(fline, avs.as_ref(), category, field, value, seen, problems)
                    {
                        fields.push(f);
                    }
                }
            }
        }
        Some((other, at)) => problems.push(
            at.line,
            format!(
                "`records` must be an object of categories, found {}",
                other.kind()
            ),
        ),
    }
    match (avs, name, birth_date) {
        (Some(avs), Some(name), Some(birth_date)) if person_ok => Some(Person {
            avs,
            name,
            birth_date,
        }),
        _ => None,
    }
}

/// Parses a file by its name: `.json` (any case) as JSON, anything else as CSV.
pub fn parse_file(name: &str, bytes: &[u8]) -> Result<RecordSet, ImportError> {
    if name.to_ascii_lowercase().ends_with(".json") {
        parse_json(bytes)
    } else {
        parse_csv(bytes)
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
    use proptest::prelude::*;
    use serde_json::Value;

    fn vectors() -> Value {
        serde_json::from_str(include_str!("../vectors/records.json")).expect("records.json")
    }

    fn parse(format: &str, input: &[u8]) -> Result<RecordSet, ImportError> {
        match format {
            "csv" => parse_csv(input),
            "json" => parse_json(input),
            other => panic!("unknown format {other}"),
        }
    }

    #[test]
    fn import_vectors() {
        let v = vectors();
        for case in v["imports"].as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            let input = case["input"].as_str().unwrap().as_bytes();
            let result = parse(case["format"].as_str().unwrap(), input);
            match case.get("problems") {
                None => {
                    let set = result.unwrap_or_else(|e| panic!("{name}: {e:?}"));
                    assert_eq!(set.persons.len() as u64, case["persons"], "{name}");
                    assert_eq!(set.fields.len() as u64, case["fields"], "{name}");
                    set.validate().unwrap_or_else(|e| panic!("{name}: {e:?}"));
                }
                Some(expected) => {
                    let got = result.expect_err(name).problems;
                    let expected = expected.as_array().unwrap();
                    assert_eq!(got.len(), expected.len(), "{name}: {got:#?}");
                    for (g, e) in got.iter().zip(expected) {
                        assert_eq!(g.line as u64, e["line"], "{name}: {g:?}");
                        assert_eq!(g.reason, e["reason"].as_str().unwrap(), "{name}");
                    }
                }
            }
        }
    }

    /// records.md §7: the checks on a received record set, positions as lines.
    #[test]
    fn validate_vectors() {
        let v = vectors();
        for case in v["validate"]["cases"].as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            let set: RecordSet = serde_json::from_value(case["set"].clone()).unwrap();
            let got = set.validate().err().map(|e| e.problems).unwrap_or_default();
            let expected: Vec<RowProblem> =
                serde_json::from_value(case["problems"].clone()).unwrap();
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn date_and_field_name_vectors() {
        let v = vectors();
        for d in v["dates"]["valid"].as_array().unwrap() {
            assert!(valid_date(d.as_str().unwrap()), "{d}");
        }
        for d in v["dates"]["invalid"].as_array().unwrap() {
            assert!(!valid_date(d.as_str().unwrap()), "{d}");
        }
        for f in v["field_names"]["valid"].as_array().unwrap() {
            assert!(valid_field_name(f.as_str().unwrap()), "{f}");
        }
        for f in v["field_names"]["invalid"].as_array().unwrap() {
            assert!(!valid_field_name(f.as_str().unwrap()), "{f}");
        }
    }

    #[test]
    fn csv_values_and_kinds() {
        let f = parse_csv(
            b"avs,category,field,value\n 7569217076985 , employment , status ,\"seeking, part-time\" \n",
        )
        .unwrap();
        assert_eq!(
            f.fields,
            vec![RecordField {
                avs: "7569217076985".parse().unwrap(),
                category: Category::Employment,
                field: "status".into(),
                value: "seeking, part-time".into(),
            }]
        );
        let persons = b"avs,name,birth_date\n756.9217.0769.85,Jean Exemple,1980-02-29\n";
        assert_eq!(detect_csv_kind(persons), Some(CsvKind::Persons));
        assert_eq!(
            detect_csv_kind(b"avs;category;field;value\n"),
            Some(CsvKind::Fields)
        );
        assert_eq!(detect_csv_kind(b"avs,name\n"), None);
        assert_eq!(
            parse_csv_as(CsvKind::Persons, persons)
                .unwrap()
                .persons
                .len(),
            1
        );
        let e = parse_csv_as(CsvKind::Fields, persons).unwrap_err();
        assert_eq!(e.problems.len(), 1);
        assert!(
            e.problems[0]
                .reason
                .contains("`avs,category,field,value` for a fields file")
        );
        // Blank lines are skipped; line numbers stay those of the file.
        let e = parse_csv(
            b"avs,name,birth_date\n\n756.9217.0769.85,A,1980-01-01\n\n7569217076984,B,1980-01-01\n",
        )
        .unwrap_err();
        assert_eq!(e.problems[0].line, 5);
        // Blank lines first, CRLF, a value over two lines, lone CRs: each problem on its line.
        let input = b"\r\n\navs,name,birth_date\r\n\r\n7569217076984,\"A\r\nB\",1980-01-01\r\n\r\n\r\n7569217076984,C,1980-01-01\rx\r\r7569217076985,D,1980-13-01";
        let e = parse_csv(input).unwrap_err();
        let got: Vec<usize> = e.problems.iter().map(|p| p.line).collect();
        assert_eq!(got, vec![5, 5, 9, 10, 12], "{e:?}"); // line 5: number, and a name over two lines
    }

    #[test]
    fn problems_never_quote_personal_data() {
        let input = "avs,name,birth_date\n7569217076984,Jeanne Secret,1980-02-30\n756.9217.0769.85,Jeanne Secret,1980-01-01\n756.9217.0769.85,Jeanne Secret,1980-01-01\nJeanne Secret,7569217076985,1980-01-01\n";
        let e = parse_csv(input.as_bytes()).unwrap_err();
        let text = format!("{e} {e:?}");
        for secret in ["9217", "0769", "Jeanne", "Secret", "1980"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        let fields = "avs,category,field,value\n7569217076985,Jeanne Secret,status,x\n7569217076985,employment,Jeanne Secret,x\n7569217076985,employment,status,\u{7}Jeanne\n";
        let e = parse_csv(fields.as_bytes()).unwrap_err();
        assert_eq!(e.problems.len(), 3, "{e:?}");
        let text = format!("{e:?}");
        assert!(!text.contains("Jeanne") && !text.contains("9217"), "{text}");
        let json = br#"{"persons": [{"avs": "7569217076984", "name": "Jeanne Secret", "birth_date": "1980-02-30", "Jeanne Secret": "x", "records": {"Jeanne": {"x": "y"}}}]}"#;
        let e = parse_json(json).unwrap_err();
        let text = format!("{e:?}");
        assert_eq!(e.problems.len(), 4, "{text}");
        assert!(
            !text.contains("Jeanne") && !text.contains("9217") && !text.contains("1980"),
            "{text}"
        );
    }

    #[test]
    fn limits() {
        let big = vec![b' '; MAX_FILE_BYTES + 1];
        for e in [parse_csv(&big).unwrap_err(), parse_json(&big).unwrap_err()] {
            assert_eq!(e.problems.len(), 1);
            assert!(e.problems[0].reason.contains("16 MiB"));
        }
        let long = "x".repeat(MAX_VALUE_BYTES + 1);
        let ok = "é".repeat(MAX_VALUE_BYTES / 2);
        let input = format!(
            "avs,category,field,value\n7569217076985,employment,a,{long}\n7569217076985,employment,b,{ok}\n7569217076985,employment,{},x\n",
            "f".repeat(65)
        );
        let e = parse_csv(input.as_bytes()).unwrap_err();
        assert_eq!(e.problems.len(), 2, "{e:?}");
        assert!(e.problems[0].line == 2 && e.problems[0].reason.contains("longer than 4096"));
        assert!(e.problems[1].line == 4 && e.problems[1].reason.contains("field name must be"));
        let name = "N".repeat(MAX_NAME_BYTES + 1);
        let e =
            parse_csv(format!("avs,name,birth_date\n7569217076985,{name},1980-01-01\n").as_bytes())
                .unwrap_err();
        assert!(e.problems[0].reason.contains("longer than 200"));
        // A file of nothing but faulty rows lists MAX_PROBLEMS of them and counts the rest.
        let mut input = String::from("avs,name,birth_date\n");
        for _ in 0..MAX_PROBLEMS + 20 {
            input.push_str("x,,\n");
        }
        let e = parse_csv(input.as_bytes()).unwrap_err();
        assert_eq!(e.problems.len(), MAX_PROBLEMS + 1);
        let last = e.problems.last().unwrap();
        // Three problems a row: lines 2 to 334 fill 999 places, line 335 the last one.
        assert!(
            last.reason.starts_with("2060 further problem(s)"),
            "{last:?}"
        );
        assert_eq!(last.line, 335);
        assert!(e.to_string().starts_with("1001 problem(s): line 2: "));
        assert!(e.to_string().ends_with("; and 991 more"));
    }

    #[test]
    fn json_lines_follow_the_text() {
        // Strings that look like keys or brackets do not move the positions.
        let input = b"{\"persons\": [\n  {\"avs\": \"7569217076985\", \"name\": \"A \\\"avs\\\" [{\", \"birth_date\": \"1970-01-01\",\n   \"records\": {\"benefits\": {\"kind\": \"avs\", \"other\": \"}]\"}}},\n\n  {\"avs\": \"7561234567897\",\n   \"name\": \"B\", \"birth_date\": \"1970-02-30\"}\n]}";
        let e = parse_json(input).unwrap_err();
        assert_eq!(e.problems.len(), 1, "{e:?}");
        assert_eq!(e.problems[0].line, 5);
        let pos = Scanner::positions(input);
        assert_eq!(pos.kids.len(), 1);
        let persons = &pos.kids[0];
        assert_eq!(persons.line, 1);
        assert_eq!(
            persons.kids.iter().map(|p| p.line).collect::<Vec<_>>(),
            vec![2, 5]
        );
        assert_eq!(
            persons.kids[1]
                .kids
                .iter()
                .map(|p| p.line)
                .collect::<Vec<_>>(),
            vec![5, 6, 6]
        );
        let records = &persons.kids[0].kids[3];
        assert_eq!((records.line, records.kids[0].kids.len()), (3, 2));
        // Byte order mark and a value with an escaped newline.
        let set = parse_json(
            "\u{feff}{\"persons\": [{\"avs\": \"7569217076985\", \"name\": \"A\", \"birth_date\": \"1970-01-01\", \"records\": {\"household\": {\"note\": \"one\\ntwo\"}}}]}".as_bytes(),
        )
        .unwrap();
        assert_eq!(set.fields[0].value, "one\ntwo");
    }

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

    #[test]
    fn merged_files_are_checked_together() {
        let mut set = parse_csv(b"avs,name,birth_date\n7569217076985,A,1970-01-01\n").unwrap();
        set.merge(parse_csv(b"avs;name;birth_date\n756.9217.0769.85;A;1970-01-01\n").unwrap());
        let e = set.validate().unwrap_err();
        assert_eq!(e.problems.len(), 1);
        assert!(e.problems[0].reason.contains("same person as person 1"));
        assert_eq!(
            parse_file("x.JSON", b"{\"persons\": []}").unwrap(),
            RecordSet::default()
        );
        assert!(parse_file("x.csv", b"{\"persons\": []}").is_err());
    }

    /// The sample data of `examples/records` parses, and its README tells who is where.
    #[test]
    fn example_records() {
        macro_rules! example {
            ($f:literal) => {
                (
                    $f,
                    include_bytes!(concat!("../../examples/records/", $f)).as_slice(),
                )
            };
        }
        let institutions = [
            (
                "ne.orp",
                vec![
                    example!("ne.orp-persons.csv"),
                    example!("ne.orp-fields.csv"),
                ],
            ),
            (
                "ne.oai",
                vec![
                    example!("ne.oai-persons.csv"),
                    example!("ne.oai-fields.csv"),
                ],
            ),
            ("ne.sas", vec![example!("ne.sas.json")]),
        ];
        let avs = |s: &str| s.parse::<Avs>().unwrap();
        let (jean, marie, luca, nadia, paul) = (
            avs("756.9217.0769.85"),
            avs("756.1234.5678.97"),
            avs("756.4803.1520.74"),
            avs("756.6620.1834.53"),
            avs("756.3055.7112.99"),
        );
        let expected_persons = [
            ("ne.orp", vec![&jean, &marie, &luca, &nadia]),
            ("ne.oai", vec![&jean, &marie, &luca]),
            ("ne.sas", vec![&jean, &marie, &luca, &paul]),
        ];
        use Category::*;
        let expected_categories = [
            (
                "ne.orp",
                vec![Identity, Employment, Benefits, Measures, Training],
            ),
            (
                "ne.oai",
                vec![Identity, Benefits, Health, Measures, CaseManagement],
            ),
            (
                "ne.sas",
                vec![Identity, Household, Benefits, CaseManagement],
            ),
        ];
        for ((id, files), ((_, persons), (_, categories))) in institutions
            .iter()
            .zip(expected_persons.iter().zip(&expected_categories))
        {
            let mut set = RecordSet::default();
            for (name, bytes) in files {
                set.merge(parse_file(name, bytes).unwrap_or_else(|e| panic!("{name}: {e}")));
            }
            set.validate().unwrap();
            let got: Vec<&Avs> = set.persons.iter().map(|p| &p.avs).collect();
            assert_eq!(&got, persons, "{id}");
            for f in &set.fields {
                assert!(
                    got.contains(&&f.avs),
                    "{id}: field about a person not imported"
                );
            }
            let mut cats: Vec<Category> = set.fields.iter().map(|f| f.category).collect();
            cats.sort();
            cats.dedup();
            assert_eq!(&cats, categories, "{id}");
            // Each person has an identity field and at least two other categories.
            for p in &set.persons {
                let mut mine: Vec<Category> = set
                    .fields
                    .iter()
                    .filter(|f| f.avs == p.avs)
                    .map(|f| f.category)
                    .collect();
                mine.dedup();
                assert!(
                    mine.contains(&Identity) && mine.len() >= 3,
                    "{id}: {}",
                    p.name
                );
            }
            // The demo requests employment and measures about Jean from ne.orp.
            if *id == "ne.orp" {
                for c in [Employment, Measures] {
                    assert!(set.fields.iter().any(|f| f.avs == jean && f.category == c));
                }
            }
        }
        let demo: Avs = include_str!("../../examples/records/demo-person.txt")
            .trim()
            .parse()
            .unwrap();
        let sas_only: Avs = include_str!("../../examples/records/sas-only-person.txt")
            .trim()
            .parse()
            .unwrap();
        assert_eq!((demo, sas_only), (jean, paul));
        let readme = include_str!("../../examples/records/README.md");
        for (name, number) in [
            ("Jean Exemple", "756.9217.0769.85"),
            ("Marie Muster", "756.1234.5678.97"),
            ("Luca Beispiel", "756.4803.1520.74"),
            ("Nadia Modèle", "756.6620.1834.53"),
            ("Paul Specimen", "756.3055.7112.99"),
        ] {
            assert!(readme.contains(&format!("| {name} | {number} |")), "{name}");
        }

        let e = parse_csv(include_bytes!("../../examples/records/bad-persons.csv")).unwrap_err();
        let got: Vec<(usize, &str)> = e
            .problems
            .iter()
            .map(|p| (p.line, p.reason.as_str()))
            .collect();
        let want = [
            (3, "check digit"),
            (4, "name is missing"),
            (5, "birth date"),
            (6, "756"),
            (7, "already listed at line 2"),
            (8, "columns"),
        ];
        assert_eq!(got.len(), want.len(), "{got:#?}");
        for ((gl, gr), (wl, wr)) in got.iter().zip(want) {
            assert!(*gl == wl && gr.contains(wr), "{gl} {gr}");
        }
    }

    fn arb_set() -> impl Strategy<Value = RecordSet> {
        let avs = proptest::array::uniform9(0u8..10).prop_map(|body| {
            let mut first12 = [7, 5, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            first12[3..].copy_from_slice(&body);
            let digits: String = first12
                .iter()
                .chain([crate::avs::check_digit(&first12)].iter())
                .map(|d| char::from(b'0' + d))
                .collect();
            digits.parse::<Avs>().unwrap()
        });
        let person = (
            avs.clone(),
            "[A-Za-zÀ-ÿ][A-Za-zÀ-ÿ ,'\"-]{0,30}[a-z]",
            1900u32..2100,
            1u32..13,
            1u32..29,
        )
            .prop_map(|(avs, name, y, m, d)| Person {
                avs,
                name,
                birth_date: format!("{y:04}-{m:02}-{d:02}"),
            });
        let field = (
            avs,
            proptest::sample::select(Category::ALL.to_vec()),
            "[a-z0-9_]{1,64}",
            "[^\\p{C}]{0,20}[a-z]",
        )
            .prop_map(|(avs, category, field, value)| RecordField {
                avs,
                category,
                field,
                value,
            });
        (
            proptest::collection::vec(person, 0..6),
            proptest::collection::vec(field, 0..8),
        )
            .prop_map(|(mut persons, mut fields)| {
                let mut seen = std::collections::BTreeSet::new();
                persons.retain(|p| seen.insert(p.avs.clone()));
                let mut seen = std::collections::BTreeSet::new();
                fields.retain(|f| seen.insert((f.avs.clone(), f.category, f.field.clone())));
                for f in &mut fields {
                    f.value = f.value.trim().to_string();
                }
                RecordSet { persons, fields }
            })
    }

    fn to_csv(header: &str, rows: Vec<Vec<String>>, delimiter: u8) -> Vec<u8> {
        let mut w = csv::WriterBuilder::new()
            .delimiter(delimiter)
            .from_writer(Vec::new());
        w.write_record(header.split(',')).unwrap();
        for r in rows {
            w.write_record(r).unwrap();
        }
        w.into_inner().unwrap()
    }

    proptest! {
        #[test]
        fn valid_sets_round_trip_through_both_formats(set in arb_set(), semicolons in any::<bool>()) {
            prop_assert!(set.validate().is_ok());
            let d = if semicolons { b';' } else { b',' };
            let persons = to_csv(
                CsvKind::Persons.header(),
                set.persons.iter().map(|p| vec![p.avs.to_string(), p.name.clone(), p.birth_date.clone()]).collect(),
                d,
            );
            let fields = to_csv(
                CsvKind::Fields.header(),
                set.fields.iter().map(|f| vec![f.avs.digits(), f.category.to_string(), f.field.clone(), f.value.clone()]).collect(),
                d,
            );
            let mut back = parse_csv(&persons).unwrap();
            back.merge(parse_csv(&fields).unwrap());
            prop_assert_eq!(&back, &set);

            // JSON: persons with their own fields; fields of persons not in the set are left out.
            let mut json = Vec::new();
            for p in &set.persons {
                let mut records: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
                for f in set.fields.iter().filter(|f| f.avs == p.avs) {
                    records.entry(f.category.to_string()).or_default().insert(f.field.clone(), f.value.clone());
                }
                json.push(serde_json::json!({"avs": p.avs.to_string(), "name": p.name, "birth_date": p.birth_date, "records": records}));
            }
            let text = serde_json::to_vec_pretty(&serde_json::json!({"persons": json})).unwrap();
            let back = parse_json(&text).unwrap();
            prop_assert_eq!(&back.persons, &set.persons);
            let mut want: Vec<&RecordField> = set.fields.iter().filter(|f| set.persons.iter().any(|p| p.avs == f.avs)).collect();
            let mut got: Vec<&RecordField> = back.fields.iter().collect();
            let key = |f: &&RecordField| (f.avs.clone(), f.category, f.field.clone());
            want.sort_by_key(key);
            got.sort_by_key(key);
            prop_assert_eq!(got, want);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            for r in [parse_csv(&bytes), parse_json(&bytes)] {
                match r {
                    Ok(set) => prop_assert!(set.validate().is_ok()),
                    Err(e) => prop_assert!(!e.problems.is_empty()),
                }
            }
        }

        #[test]
        fn mangled_csv_never_panics(
            rows in proptest::collection::vec(proptest::collection::vec("[0-9.,;\"a-z\\- \n]{0,16}", 0..6), 0..8),
            fields in any::<bool>(),
        ) {
            let header = if fields { CsvKind::Fields.header() } else { CsvKind::Persons.header() };
            let mut text = format!("{header}\n");
            for r in rows {
                text.push_str(&r.join(","));
                text.push('\n');
            }
            if let Err(e) = parse_csv(text.as_bytes()) {
                prop_assert!(e.problems.iter().all(|p| p.line >= 1 && p.line <= text.lines().count() + 1));
            }
        }

        #[test]
        fn json_positions_match_serde(set in arb_set()) {
            // Every person's line is where its object starts, whatever the layout.
            let persons: Vec<Value> = set.persons.iter().map(|p| serde_json::json!({"avs": p.avs.digits(), "name": p.name, "birth_date": p.birth_date})).collect();
            let text = serde_json::to_string_pretty(&serde_json::json!({"persons": persons})).unwrap();
            let pos = Scanner::positions(text.as_bytes());
            let lines: Vec<usize> = text.lines().enumerate().filter(|(_, l)| l.trim() == "{").map(|(i, _)| i + 1).skip(1).collect();
            let got: Vec<usize> = pos.kids.first().map(|p| p.kids.iter().map(|k| k.line).collect()).unwrap_or_default();
            prop_assert_eq!(got, lines);
        }
    }
}
