//! JSON import files:
//! `{"persons": [{"avs", "name", "birth_date", "records": {category: {field: value}}}]}`, every
//! problem with the line of the person, category or field it is about.

use super::rows::{Seen, field_row, parse_category, strip_bom, token, too_large};
use protocol_spec::avs::Avs;
use protocol_spec::records::{
    ImportError, Person, Problems, RecordField, RecordSet, date_problem, name_problem,
};
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::fmt;

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
pub(super) struct Pos {
    pub line: usize,
    pub kids: Vec<Pos>,
}

/// Finds the line of every value and member of a JSON text. Only for text serde_json has
/// accepted: that bounds the nesting, hence this scanner's recursion, by serde_json's limit of
/// 128. On other text it neither panics nor loops, but its positions mean nothing.
pub(super) struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
    line: usize,
}

impl Scanner<'_> {
    pub(super) fn positions(text: &[u8]) -> Pos {
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
