//! Log entries: small versioned UTF-8 text records, one `key value` pair per line in a fixed
//! order per kind (spec §11). They hold no personal data in clear: a person appears only as a
//! salted commitment ([`Person`]) that an auditor holding the social insurance number can
//! recompute with [`crate::avs::Avs::commitment`].
//!
//! [`LogEntry`] has one variant per kind, each a struct with typed fields; [`LogEntry::parse`]
//! accepts exactly the spec's grammar and [`LogEntry::to_bytes`] writes it back byte for byte.

mod kinds;
mod values;

pub use kinds::{
    CaseEvent, Disclosure, LogEntry, Receipt, RecordsImported, Refusal, RefusedByPeer,
    RequestWithdrawn, Roster, Staff, SummaryOpened, SummaryPurged, WitnessEvidence,
};
pub use values::{
    CaseDetail, Person, PurgeReason, SourceLeaf, StaffAction, Text, Value, WithdrawalReason,
    categories_text,
};

pub const ENTRY_HEADER: &str = "passerelle-log-entry/v1";

/// The spec's size limit of an entry, in bytes.
pub const MAX_ENTRY_LEN: usize = 65535;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("entry is not a {ENTRY_HEADER} record")]
    Header,
    #[error("entry exceeds {MAX_ENTRY_LEN} bytes")]
    TooLong,
    #[error("entry time is not a canonical decimal number")]
    Time,
    #[error("unknown entry kind `{0}`")]
    UnknownKind(String),
    #[error("entry kind `{kind}` expects key `{expected}` at line {line}")]
    WrongKey {
        kind: &'static str,
        expected: &'static str,
        line: usize,
    },
    #[error("entry kind `{kind}`, key `{key}`: {reason}")]
    Value {
        kind: &'static str,
        key: &'static str,
        reason: String,
    },
}

impl LogEntry {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = format!(
            "{ENTRY_HEADER}\nkind {}\ntime {}\n",
            self.kind(),
            self.time()
        );
        for (k, v) in self.lines() {
            s.push_str(k);
            s.push(' ');
            s.push_str(&v);
            s.push('\n');
        }
        s.into_bytes()
    }

    /// Parses an entry: the header, `kind`, `time`, then exactly the kind's keys in order,
    /// each value valid for its type and in its one canonical text form.
    pub fn parse(bytes: &[u8]) -> Result<LogEntry, EntryError> {
        if bytes.len() > MAX_ENTRY_LEN {
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
        let time = lines
            .next()
            .and_then(|l| l.strip_prefix("time "))
            .ok_or(EntryError::Header)?;
        let time = u64::decode(time)
            .ok()
            .filter(|t| t.to_string() == time)
            .ok_or(EntryError::Time)?;
        // The kind's name as a static string, for errors; unknown kinds are refused here.
        let kind = LogEntry::KINDS
            .iter()
            .copied()
            .find(|k| *k == kind)
            .ok_or_else(|| EntryError::UnknownKind(kind.chars().take(40).collect()))?;
        let mut rest = Lines {
            kind,
            lines,
            line: 4,
        };
        let entry = LogEntry::read(kind, time, &mut rest)?;
        rest.end()?;
        Ok(entry)
    }

    /// Checks an entry's structure and values; auditors run it on every entry of a log.
    pub fn check(bytes: &[u8]) -> Result<(), EntryError> {
        Self::parse(bytes).map(|_| ())
    }
}

/// The lines after `time`, read one expected key at a time.
pub(crate) struct Lines<'a> {
    kind: &'static str,
    lines: std::str::Split<'a, char>,
    /// 1-based number of the next line, for errors.
    line: usize,
}

impl Lines<'_> {
    fn next<T: Value>(&mut self, key: &'static str) -> Result<T, EntryError> {
        let wrong = EntryError::WrongKey {
            kind: self.kind,
            expected: key,
            line: self.line,
        };
        let text = self
            .lines
            .next()
            .and_then(|l| l.strip_prefix(key))
            .and_then(|r| r.strip_prefix(' '))
            .ok_or(wrong)?;
        self.line += 1;
        let refuse = |reason: String| EntryError::Value {
            kind: self.kind,
            key,
            reason,
        };
        let value = T::decode(text).map_err(refuse)?;
        // One encoding per entry: a value that re-encodes differently (uppercase hex, a
        // leading zero, non-canonical base64) is refused.
        if value.encode() != text {
            return Err(refuse("not in its canonical form".into()));
        }
        Ok(value)
    }

    fn end(mut self) -> Result<(), EntryError> {
        match self.lines.next() {
            None => Ok(()),
            Some(_) => Err(EntryError::WrongKey {
                kind: self.kind,
                expected: "(end)",
                line: self.line,
            }),
        }
    }
}

#[cfg(test)]
mod tests;
