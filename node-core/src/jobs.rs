//! The work a step hands out to be done off the store thread ([`Work`]) and its result, the
//! input of the next step ([`Done`]); and the handles a step and its driver share.

use protocol_spec::case::{CaseEvent, SignedCaseEvent};
use protocol_spec::exchange::{
    Disclosure, DisclosureHeader, SignedSummaryRequest, Summary, SummaryRequest,
};
use protocol_spec::ids::{StaffId, SummaryId};
use protocol_spec::keys::PublicKey;
use protocol_spec::stats::StatsReport;
use protocol_spec::stats::delivery::SignedStatsReport;

/// A staff request waiting for its reply; chosen by the driver.
pub type Ticket = u64;
/// An outbox item handed to the driver for sending: its row id.
pub type Token = i64;

/// What the core hands out to be done off the store thread. Its result comes back as
/// [`Input::Done`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    /// Seal a granted summary to the requester and sign the disclosure (spec §7.3).
    Seal(Box<SealJob>),
    /// Open a stored summary for the staff member waiting on `ticket`.
    Open(Box<OpenJob>),
    /// Sign what this node states, before the second step records it: a summary request
    /// (spec §7.2), case events (§6.3) or a monthly report (statistics.md §8).
    Sign(Box<SignJob>),
    /// Cosign a peer's checkpoint, its witness state already durable (transparency-log.md §6).
    Cosign {
        /// The checkpoint body, the witness key's name and the cosignature's time.
        body: String,
        name: String,
        time: u64,
    },
    /// Blind this sector's own set, hop 1 of an overlap round (spec/statistics.md §10.3).
    Blind(Box<crate::stats::psi::jobs::BlindJob>),
    /// Check a received set message and carry it one hop on (spec/statistics.md §10.5).
    Reblind(Box<crate::stats::psi::jobs::ReblindJob>),
    /// Count the final sets and sign the outcome, at the dashboard member (§10.6).
    Count(Box<crate::stats::psi::jobs::CountJob>),
}

impl Work {
    /// Whether the work's result is the reply to the peer message that asked for it.
    pub fn answers_peer(&self) -> bool {
        matches!(self, Work::Seal(_) | Work::Cosign { .. } | Work::Reblind(_))
    }

    /// Whether the work can take seconds (an overlap round's sets of up to a million
    /// elements): the driver runs it where it holds up nothing else.
    pub fn is_long(&self) -> bool {
        matches!(self, Work::Blind(_) | Work::Reblind(_) | Work::Count(_))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealJob {
    /// The peer whose request this answers, and the request: the second step judges it again.
    pub from: PublicKey,
    pub request: SignedSummaryRequest,
    pub header: DisclosureHeader,
    pub summary: Summary,
    pub recipient_key: PublicKey,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignJob {
    pub then: Then,
    pub what: Unsigned,
}

/// Who a signature is made for: the second step records it in their name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Then {
    /// A staff member waits on `ticket` for the outcome.
    Staff { ticket: Ticket, staff: StaffId },
    /// A queued summary request leaves the outbox (item `token`) with a fresh signing time, or
    /// its first signature (an accepted referral's request); no one waits on it.
    Queued { token: Token },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsigned {
    Request(SummaryRequest),
    /// The events of one staff action, in order; `attempt` counts how often the case changed
    /// before the second step could record them.
    CaseEvents {
        events: Vec<CaseEvent>,
        attempt: u8,
    },
    Report {
        report: Box<StatsReport>,
        sequence: u32,
    },
    /// The start of an overlap round, at the dashboard member (statistics.md §10.3).
    RoundStart(Box<protocol_spec::stats::psi::PsiRound>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signed {
    Request(SignedSummaryRequest),
    CaseEvents {
        events: Vec<SignedCaseEvent>,
        attempt: u8,
    },
    Report(Box<SignedStatsReport>),
    RoundStart(Box<protocol_spec::stats::psi::SignedPsiStart>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenJob {
    pub ticket: Ticket,
    pub summary_id: SummaryId,
    /// Who asked: the second step logs the opening in their name.
    pub staff: StaffId,
    pub disclosure: Disclosure,
}

/// The result of a [`Work`], for the core's next step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    Sealed {
        from: PublicKey,
        request: SignedSummaryRequest,
        /// `None` when sealing failed (a recipient key that is not a valid X25519 point).
        disclosure: Option<Box<Disclosure>>,
    },
    Opened {
        ticket: Ticket,
        summary_id: SummaryId,
        staff: StaffId,
        /// The disclosure opened, so the step can tell it is still the one stored.
        sealed_digest: [u8; 32],
        summary: Result<Summary, String>,
    },
    /// The cosignature line, or none when this node holds no witness key.
    Cosigned {
        line: Option<String>,
    },
    Signed {
        then: Then,
        signed: Signed,
    },
    /// The result of an overlap round's job.
    Psi(Box<crate::stats::psi::jobs::PsiDone>),
}
