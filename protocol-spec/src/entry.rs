//! Log entries: small versioned UTF-8 text records, one `key value` pair per line in a fixed
//! order per kind. They hold no personal data in clear: a person appears only as a salted
//! commitment (`person <salt> <commitment>`, both base64) that an auditor holding the social
//! insurance number can recompute with [`crate::avs::Avs::commitment`].

use crate::avs::Avs;
use crate::category::Category;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

pub const ENTRY_HEADER: &str = "passerelle-log-entry/v1";

/// Entry kinds and the keys each carries, in order, after `kind` and `time`.
pub const KINDS: &[(&str, &[&str])] = &[
    (
        "disclosure",
        &[
            "case",
            "person",
            "recipient",
            "purpose",
            "categories",
            "consent",
            "request",
            "summary",
        ],
    ),
    (
        "refusal",
        &[
            "case",
            "person",
            "requester",
            "purpose",
            "categories",
            "code",
            "request",
        ],
    ),
    (
        "receipt",
        &[
            "case",
            "person",
            "source",
            "purpose",
            "categories",
            "consent",
            "request",
            "summary",
            "source-leaf",
            "staff",
        ],
    ),
    (
        "refused-by-peer",
        &[
            "case",
            "person",
            "source",
            "purpose",
            "categories",
            "code",
            "request",
            "staff",
        ],
    ),
    (
        "summary-opened",
        &["case", "person", "source", "summary", "staff"],
    ),
    (
        "case-event",
        &["case", "person", "author", "event", "detail", "staff"],
    ),
    ("roster", &["version", "digest"]),
    (
        "witness-evidence",
        &["origin", "cosigned", "offered", "problem"],
    ),
    ("staff", &["staff", "role", "action", "by"]),
    ("records-imported", &["persons", "fields", "digest", "by"]),
    (
        "request-withdrawn",
        &["case", "person", "source", "request", "reason", "staff"],
    ),
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("unknown entry kind `{0}`")]
    UnknownKind(String),
    #[error("entry kind `{kind}` expects key `{expected}` at line {line}")]
    WrongKey {
        kind: String,
        expected: String,
        line: usize,
    },
    #[error("entry value for `{0}` contains a newline")]
    Newline(String),
    #[error("entry is not a {ENTRY_HEADER} record")]
    Header,
    #[error("entry exceeds 65535 bytes")]
    TooLong,
}

/// A log entry under construction or parsed back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: String,
    pub time: u64,
    pub fields: Vec<(String, String)>,
}

/// How a person is written into an entry.
pub fn person_field(person: Option<&Avs>, salt: [u8; 32]) -> String {
    match person {
        Some(p) => format!("{} {}", B64.encode(salt), B64.encode(p.commitment(&salt))),
        None => "-".to_string(),
    }
}

pub fn categories_field(categories: &[Category]) -> String {
    if categories.is_empty() {
        return "-".into();
    }
    categories
        .iter()
        .map(|c| c.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

impl Entry {
    /// Builds an entry; `values` must follow the kind's key order exactly.
    pub fn new(kind: &str, time: u64, values: Vec<String>) -> Result<Entry, EntryError> {
        let keys = KINDS
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, keys)| *keys)
            .ok_or_else(|| EntryError::UnknownKind(kind.into()))?;
        if keys.len() != values.len() {
            return Err(EntryError::WrongKey {
                kind: kind.into(),
                expected: keys.get(values.len()).unwrap_or(&"(end)").to_string(),
                line: 3 + values.len().min(keys.len()),
            });
        }
        let mut fields = Vec::with_capacity(keys.len());
        for (k, v) in keys.iter().zip(values) {
            if v.contains('\n') {
                return Err(EntryError::Newline(k.to_string()));
            }
            fields.push((k.to_string(), v));
        }
        Ok(Entry {
            kind: kind.into(),
            time,
            fields,
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = format!("{ENTRY_HEADER}\nkind {}\ntime {}\n", self.kind, self.time);
        for (k, v) in &self.fields {
            s.push_str(k);
            s.push(' ');
            s.push_str(v);
            s.push('\n');
        }
        s.into_bytes()
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Checks an entry's structure without allocating: header, kind, canonical time, the
    /// kind's keys in order, nothing more. Auditors run it on every entry of a log.
    pub fn check(bytes: &[u8]) -> Result<(), EntryError> {
        Self::walk(bytes, |_, _| ()).map(|_| ())
    }

    fn walk<'a>(
        bytes: &'a [u8],
        mut value: impl FnMut(usize, &'a str),
    ) -> Result<(&'a str, u64), EntryError> {
        if bytes.len() > 65535 {
            return Err(EntryError::TooLong);
        }
        let text = std::str::from_utf8(bytes).map_err(|_| EntryError::Header)?;
        let body = text.strip_suffix('\n').ok_or(EntryError::Header)?;
        let mut lines = body.split('\n');
        if lines.next() != Some(ENTRY_HEADER) {
            return Err(EntryError::Header);
        }
        let kind = lines
            .next()
            .and_then(|l| l.strip_prefix("kind "))
            .ok_or(EntryError::Header)?;
        let time_text = lines
            .next()
            .and_then(|l| l.strip_prefix("time "))
            .ok_or(EntryError::Header)?;
        // Canonical decimal: digits only, no leading zero, so each entry has one encoding.
        if time_text.is_empty()
            || (time_text.len() > 1 && time_text.starts_with('0'))
            || !time_text.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(EntryError::Header);
        }
        let time = time_text.parse::<u64>().map_err(|_| EntryError::Header)?;
        let keys = KINDS
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, keys)| *keys)
            .ok_or_else(|| EntryError::UnknownKind(kind.into()))?;
        let wrong = |expected: &str, i: usize| EntryError::WrongKey {
            kind: kind.into(),
            expected: expected.into(),
            line: i + 4,
        };
        let mut n = 0;
        for (i, line) in lines.enumerate() {
            let expected = keys.get(i).ok_or_else(|| wrong("(end)", i))?;
            let v = line
                .strip_prefix(expected)
                .and_then(|r| r.strip_prefix(' '))
                .ok_or_else(|| wrong(expected, i))?;
            value(i, v);
            n += 1;
        }
        if n != keys.len() {
            return Err(wrong(keys[n], n));
        }
        Ok((kind, time))
    }

    /// Parses an entry, with the checks of [`Entry::check`].
    pub fn parse(bytes: &[u8]) -> Result<Entry, EntryError> {
        let mut values = Vec::new();
        let (kind, time) = Self::walk(bytes, |_, v| values.push(v.to_string()))?;
        Entry::new(kind, time, values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_reject_reordering() {
        let e = Entry::new("roster", 17, vec!["3".into(), "abcd".into()]).unwrap();
        let bytes = e.to_bytes();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            "passerelle-log-entry/v1\nkind roster\ntime 17\nversion 3\ndigest abcd\n"
        );
        assert_eq!(Entry::parse(&bytes).unwrap(), e);
        let swapped = b"passerelle-log-entry/v1\nkind roster\ntime 17\ndigest abcd\nversion 3\n";
        assert!(Entry::parse(swapped).is_err());
        assert!(Entry::new("roster", 1, vec!["1\n2".into(), "x".into()]).is_err());
    }

    #[test]
    fn person_commitment_is_recomputable_and_hides_the_number() {
        let p: Avs = "7569217076985".parse().unwrap();
        let f = person_field(Some(&p), [4; 32]);
        assert!(!f.contains("7569217076985"));
        assert_eq!(f, person_field(Some(&p), [4; 32]));
        assert_ne!(f, person_field(Some(&p), [5; 32]));
    }
}
