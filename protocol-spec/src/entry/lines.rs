//! The entry text format line by line: the keys of a kind read one at a time, each value in
//! its one canonical form, and what makes an entry malformed.

use super::values::Value;

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

/// The lines after `time`, read one expected key at a time.
pub(crate) struct Lines<'a> {
    kind: &'static str,
    lines: std::str::Split<'a, char>,
    /// 1-based number of the next line, for errors.
    line: usize,
}

impl<'a> Lines<'a> {
    /// The lines after a `time` line, which is line 3.
    pub(super) fn new(kind: &'static str, lines: std::str::Split<'a, char>) -> Lines<'a> {
        Lines {
            kind,
            lines,
            line: 4,
        }
    }

    pub(super) fn next<T: Value>(&mut self, key: &'static str) -> Result<T, EntryError> {
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

    pub(super) fn end(mut self) -> Result<(), EntryError> {
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
