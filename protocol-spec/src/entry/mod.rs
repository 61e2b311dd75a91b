//! Log entries: small versioned UTF-8 text records, one `key value` pair per line in a fixed
//! order per kind (spec §11). They hold no personal data in clear: a person appears only as a
//! salted commitment ([`Person`]) that an auditor holding the social insurance number can
//! recompute with [`crate::avs::Avs::commitment`].
//!
//! [`LogEntry`] has one variant per kind, each a struct with typed fields; [`LogEntry::parse`]
//! accepts exactly the spec's grammar and [`LogEntry::to_bytes`] writes it back byte for byte.

mod kinds;
mod lines;
mod values;

pub use kinds::{
    CaseEvent, Disclosure, LogEntry, LogLoss, PsiEnd, PsiOutcome, PsiRefused, PsiRound, PsiSet,
    Receipt, RecordsImported, Refusal, RefusedByPeer, RequestWithdrawn, Roster, Staff,
    StatsReceived, StatsSent, SummaryOpened, SummaryPurged, WitnessEvidence,
};
use lines::Lines;
pub use lines::{ENTRY_HEADER, EntryError, MAX_ENTRY_LEN};
pub use values::{
    CaseDetail, Institutions, Person, PsiDirection, PsiEndReason, PurgeReason, SourceLeaf,
    StaffAction, Text, Value, WithdrawalReason, categories_text,
};

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
        let mut rest = Lines::new(kind, lines);
        let entry = LogEntry::read(kind, time, &mut rest)?;
        rest.end()?;
        Ok(entry)
    }

    /// Checks an entry's structure and values; auditors run it on every entry of a log. A
    /// well-formed entry is recognised without building it; only one that is not is parsed,
    /// for the error that says why.
    pub fn check(bytes: &[u8]) -> Result<(), EntryError> {
        if Self::well_formed(bytes) {
            return Ok(());
        }
        Self::parse(bytes).map(|_| ())
    }

    /// Whether [`LogEntry::parse`] accepts `bytes`, following its grammar step by step but
    /// building nothing.
    pub(crate) fn well_formed(bytes: &[u8]) -> bool {
        if bytes.len() > MAX_ENTRY_LEN {
            return false;
        }
        // Every line, the last included, ends with a newline; `parse` splits the same lines.
        // Each byte is checked by its line (values as UTF-8 where they may be more than
        // ASCII), so a well-formed entry is UTF-8 as `parse` requires.
        fn line<'a>(rest: &mut &'a [u8], prefix: &str) -> Option<&'a [u8]> {
            let after = rest.strip_prefix(prefix.as_bytes())?;
            let end = after.iter().position(|b| *b == b'\n')?;
            *rest = &after[end + 1..];
            Some(&after[..end])
        }
        let mut rest = bytes;
        let (Some(b""), Some(kind), Some(time)) = (
            line(&mut rest, ENTRY_HEADER),
            line(&mut rest, "kind "),
            line(&mut rest, "time "),
        ) else {
            return false;
        };
        u64::is_canonical(time) && LogEntry::well_formed_lines(kind, rest)
    }
}

#[cfg(test)]
mod tests;
