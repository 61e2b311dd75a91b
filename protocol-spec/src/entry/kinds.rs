//! One type per entry kind (spec §11), its keys in the spec's order. The table below is the
//! only place a kind's keys are listed: encoding and parsing are both generated from it.

use super::lines::{EntryError, Lines};
use super::values::{
    CaseDetail, Institutions, Person, PsiDirection, PsiEndReason, PurgeReason, SourceLeaf,
    StaffAction, Text, Value, WithdrawalReason,
};
use crate::category::Category;
use crate::exchange::RefusalCode;
use crate::ids::{CaseId, ConsentId, EventId, InstitutionId, Purpose, Role, StaffId};
use crate::stats::Month;

macro_rules! kinds {
    ($(
        $(#[$m:meta])*
        $name:ident = $kind:literal { $($field:ident: $ty:ty = $key:literal,)* }
    )*) => {
        $(
            $(#[$m])*
            #[derive(Debug, Clone, PartialEq, Eq)]
            pub struct $name {
                /// The writer's clock, unix seconds (a case event's own `at`).
                pub time: u64,
                $(pub $field: $ty,)*
            }

            impl From<$name> for LogEntry {
                fn from(e: $name) -> LogEntry {
                    LogEntry::$name(e)
                }
            }
        )*

        /// A log entry of any kind.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum LogEntry {
            $($name($name),)*
        }

        impl LogEntry {
            /// Every kind's name, in the spec's table order.
            pub const KINDS: &[&str] = &[$($kind),*];

            pub fn kind(&self) -> &'static str {
                match self {
                    $(LogEntry::$name(_) => $kind,)*
                }
            }

            pub fn time(&self) -> u64 {
                match self {
                    $(LogEntry::$name(e) => e.time,)*
                }
            }

            /// The lines after `time`, in order.
            pub(super) fn lines(&self) -> Vec<(&'static str, String)> {
                match self {
                    $(LogEntry::$name(e) => vec![$(($key, e.$field.encode()),)*],)*
                }
            }

            /// Reads the lines after `time` for `kind`; struct fields are evaluated in the
            /// order written, which is the spec's key order.
            pub(super) fn read(
                kind: &str,
                time: u64,
                lines: &mut Lines<'_>,
            ) -> Result<LogEntry, EntryError> {
                match kind {
                    $($kind => Ok(LogEntry::$name($name {
                        time,
                        $($field: lines.next($key)?,)*
                    })),)*
                    _ => Err(EntryError::UnknownKind(kind.chars().take(40).collect())),
                }
            }

            /// Whether `rest`, the bytes after the `time` line, are exactly `kind`'s lines
            /// in order, each with a value in its one text form, and nothing after: what
            /// [`LogEntry::read`] then the end accept, without building the entry.
            pub(super) fn well_formed_lines(kind: &[u8], mut rest: &[u8]) -> bool {
                $(if kind == $kind.as_bytes() {
                    return true $(&& canonical_line::<$ty>(&mut rest, $key))* && rest.is_empty();
                })*
                false
            }
        }
    };
}

/// Whether `rest` starts with the line `key`, a space, the canonical text of a `T` and a
/// newline; if so, moves `rest` past it. Every byte is checked, as UTF-8 too where a type
/// allows more than ASCII, so the entry needs no separate UTF-8 pass.
#[inline(always)]
fn canonical_line<T: Value>(rest: &mut &[u8], key: &str) -> bool {
    // Keys are a few bytes: compared in place rather than by a call to `memcmp`.
    let (k, r) = (key.as_bytes(), *rest);
    let keyed = r.len() > k.len()
        && r.iter().zip(k).fold(true, |ok, (a, b)| ok & (a == b))
        && r[k.len()] == b' ';
    if !keyed {
        return false;
    }
    let value = &r[k.len() + 1..];
    let Some(end) = T::canonical_end(value) else {
        return false;
    };
    *rest = &value[end + 1..];
    T::is_canonical(&value[..end])
}

kinds! {
    /// The responder granted a request.
    Disclosure = "disclosure" {
        case: CaseId = "case",
        person: Person = "person",
        recipient: InstitutionId = "recipient",
        purpose: Purpose = "purpose",
        categories: Vec<Category> = "categories",
        consent: ConsentId = "consent",
        request: [u8; 32] = "request",
        summary: [u8; 32] = "summary",
    }
    /// The responder refused a request; `person` is named only when the requester is concerned.
    Refusal = "refusal" {
        case: CaseId = "case",
        person: Person = "person",
        requester: InstitutionId = "requester",
        purpose: Purpose = "purpose",
        categories: Vec<Category> = "categories",
        code: RefusalCode = "code",
        request: [u8; 32] = "request",
    }
    /// The requester verified a disclosure.
    Receipt = "receipt" {
        case: CaseId = "case",
        person: Person = "person",
        source: InstitutionId = "source",
        purpose: Purpose = "purpose",
        categories: Vec<Category> = "categories",
        consent: ConsentId = "consent",
        request: [u8; 32] = "request",
        summary: [u8; 32] = "summary",
        source_leaf: SourceLeaf = "source-leaf",
        staff: StaffId = "staff",
    }
    /// The requester received a refusal.
    RefusedByPeer = "refused-by-peer" {
        case: CaseId = "case",
        person: Person = "person",
        source: InstitutionId = "source",
        purpose: Purpose = "purpose",
        categories: Vec<Category> = "categories",
        code: RefusalCode = "code",
        request: [u8; 32] = "request",
        staff: StaffId = "staff",
    }
    /// A received summary is about to be opened.
    SummaryOpened = "summary-opened" {
        case: CaseId = "case",
        person: Person = "person",
        source: InstitutionId = "source",
        summary: [u8; 32] = "summary",
        staff: StaffId = "staff",
    }
    /// A case event was applied, the node's own or a peer's.
    CaseEvent = "case-event" {
        case: CaseId = "case",
        person: Person = "person",
        author: InstitutionId = "author",
        event: EventId = "event",
        detail: CaseDetail = "detail",
        staff: StaffId = "staff",
    }
    /// A roster was adopted.
    Roster = "roster" {
        version: u64 = "version",
        digest: [u8; 32] = "digest",
    }
    /// A witness was shown a checkpoint inconsistent with one it cosigned.
    WitnessEvidence = "witness-evidence" {
        origin: Text = "origin",
        cosigned: [u8; 32] = "cosigned",
        offered: [u8; 32] = "offered",
        problem: Text = "problem",
    }
    /// A staff key was issued or revoked.
    Staff = "staff" {
        staff: StaffId = "staff",
        role: Role = "role",
        action: StaffAction = "action",
        by: StaffId = "by",
    }
    /// Case records were imported.
    RecordsImported = "records-imported" {
        persons: u64 = "persons",
        fields: u64 = "fields",
        digest: [u8; 32] = "digest",
        by: StaffId = "by",
    }
    /// The requester will not send a request (again) or does not keep its answer.
    RequestWithdrawn = "request-withdrawn" {
        case: CaseId = "case",
        person: Person = "person",
        source: InstitutionId = "source",
        request: [u8; 32] = "request",
        reason: WithdrawalReason = "reason",
        staff: StaffId = "staff",
    }
    /// A received summary's content was destroyed; its receipt stays verifiable.
    SummaryPurged = "summary-purged" {
        case: CaseId = "case",
        person: Person = "person",
        source: InstitutionId = "source",
        summary: [u8; 32] = "summary",
        reason: PurgeReason = "reason",
        staff: StaffId = "staff",
    }
    /// The administrator declared lost the entries a witness had cosigned beyond what the
    /// restored store kept; the log goes on from the kept entries under a new log key
    /// (transparency-log.md §7.6). The entry's own index is `kept`.
    LogLoss = "log-loss" {
        kept: u64 = "kept",
        kept_root: [u8; 32] = "kept-root",
        cosigned: u64 = "cosigned",
        witness: InstitutionId = "witness",
        former_key: [u8; 32] = "former-key",
    }
    /// This sector's signed monthly report was queued for the dashboard member
    /// (spec/statistics.md §8); no figure, only the delivery's digest.
    StatsSent = "stats-sent" {
        month: Month = "month",
        sequence: u64 = "sequence",
        dashboard: InstitutionId = "dashboard",
        digest: [u8; 32] = "digest",
    }
    /// The dashboard member verified and kept a sector's signed monthly report.
    StatsReceived = "stats-received" {
        institution: InstitutionId = "institution",
        month: Month = "month",
        sequence: u64 = "sequence",
        digest: [u8; 32] = "digest",
    }
    /// A round counting the persons followed by several sectors (spec/statistics.md §10.7):
    /// started by the dashboard member, joined (`reason` `-`) or refused by a participant.
    PsiRound = "psi-round" {
        round: [u8; 32] = "round",
        month: Month = "month",
        attempt: u64 = "attempt",
        participants: Institutions = "participants",
        reason: Text = "reason",
    }
    /// One end of a set message of a round: its size and digest, never an element.
    PsiSet = "psi-set" {
        round: [u8; 32] = "round",
        origin: InstitutionId = "origin",
        hop: u64 = "hop",
        direction: PsiDirection = "direction",
        peer: InstitutionId = "peer",
        size: u64 = "size",
        digest: [u8; 32] = "digest",
    }
    /// A receiver refused a set message (spec/statistics.md §10.5).
    PsiRefused = "psi-refused" {
        round: [u8; 32] = "round",
        origin: InstitutionId = "origin",
        hop: u64 = "hop",
        peer: InstitutionId = "peer",
        reason: Text = "reason",
    }
    /// The dashboard member sent a round's outcome, or a participant received it; `sizes`
    /// says how the sizes compared.
    PsiOutcome = "psi-outcome" {
        round: [u8; 32] = "round",
        digest: [u8; 32] = "digest",
        sizes: Text = "sizes",
    }
    /// A node's part in a round ended and its secret was wiped.
    PsiEnd = "psi-end" {
        round: [u8; 32] = "round",
        reason: PsiEndReason = "reason",
    }
}

impl LogEntry {
    /// How the entry names a person, for kinds that carry a `person` key.
    pub fn person(&self) -> Option<&Person> {
        match self {
            LogEntry::Disclosure(e) => Some(&e.person),
            LogEntry::Refusal(e) => Some(&e.person),
            LogEntry::Receipt(e) => Some(&e.person),
            LogEntry::RefusedByPeer(e) => Some(&e.person),
            LogEntry::SummaryOpened(e) => Some(&e.person),
            LogEntry::CaseEvent(e) => Some(&e.person),
            LogEntry::RequestWithdrawn(e) => Some(&e.person),
            LogEntry::SummaryPurged(e) => Some(&e.person),
            LogEntry::Roster(_)
            | LogEntry::WitnessEvidence(_)
            | LogEntry::Staff(_)
            | LogEntry::RecordsImported(_)
            | LogEntry::LogLoss(_)
            | LogEntry::StatsSent(_)
            | LogEntry::StatsReceived(_)
            | LogEntry::PsiRound(_)
            | LogEntry::PsiSet(_)
            | LogEntry::PsiRefused(_)
            | LogEntry::PsiOutcome(_)
            | LogEntry::PsiEnd(_) => None,
        }
    }

    /// The request digest, for kinds about one summary request.
    pub fn request(&self) -> Option<&[u8; 32]> {
        match self {
            LogEntry::Disclosure(e) => Some(&e.request),
            LogEntry::Refusal(e) => Some(&e.request),
            LogEntry::Receipt(e) => Some(&e.request),
            LogEntry::RefusedByPeer(e) => Some(&e.request),
            LogEntry::RequestWithdrawn(e) => Some(&e.request),
            _ => None,
        }
    }
}
