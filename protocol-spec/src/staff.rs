//! Staff-to-own-node messages (ALPN `passerelle-staff/1`). A staff member's TLS client key is
//! their credential; the node maps it to a staff id and role and attributes every action.

use crate::avs::Avs;
use crate::case::{CaseStatus, DeclineReason, Participation, Referral};
use crate::category::Category;
use crate::exchange::{RefusalCode, Summary};
use crate::ids::{CaseId, ConsentId, InstitutionId, Purpose, RequestId, Role, StaffId, SummaryId};
use crate::keys::PublicKey;
use crate::records::RecordSet;
use crate::roster::SignedRoster;
use crate::stats::{Dashboard, Month, PlacementSet, StatsReport};
use serde::{Deserialize, Serialize};

pub const STAFF_ALPN: &[u8] = b"passerelle-staff/1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StaffRequest {
    WhoAmI,
    Status,
    // Administration (admin role).
    StaffIssue {
        staff: StaffId,
        role: Role,
        key: PublicKey,
    },
    StaffRevoke {
        staff: StaffId,
    },
    StaffList,
    ImportRecords(RecordSet),
    InstallRoster(SignedRoster),
    // Case work (case-worker role).
    CaseOpen {
        person: Avs,
        invite: Vec<InstitutionId>,
    },
    CaseInvite {
        case_id: CaseId,
        institution: InstitutionId,
    },
    CaseAccept {
        case_id: CaseId,
    },
    CaseClose {
        case_id: CaseId,
    },
    CaseList,
    CaseShow {
        case_id: CaseId,
    },
    ConsentRecord(ConsentDraft),
    ConsentRevoke {
        case_id: CaseId,
        consent_id: ConsentId,
    },
    SummaryRequest {
        case_id: CaseId,
        from: InstitutionId,
        purpose: Purpose,
        categories: Vec<Category>,
    },
    SummaryList,
    SummaryOpen {
        summary_id: SummaryId,
    },
    // Audit (auditor role).
    LogCheckpoint,
    /// A tile, an entry bundle or the checkpoint, by its C2SP tlog-tiles path.
    LogTile {
        path: String,
    },
    /// The signed roster in force, for an audit bundle.
    Roster,
    /// Inconsistent checkpoints this node caught as a witness, with both signed notes.
    WitnessEvidence,
    /// Case work: this institution leaves a case it participates in (not the opener, who closes).
    CaseLeave {
        case_id: CaseId,
    },
    /// Case work: this node's summary requests, newest first, with what became of each.
    RequestList,
    /// What waits in the outbox: to whom, what, since when, and the last problem.
    Queue,
    /// Case work: this institution turns down an invitation or referral to a case.
    CaseDecline {
        case_id: CaseId,
        reason: DeclineReason,
    },
    /// Case work (the case's lead): takes an invited or participating institution out.
    CaseRemove {
        case_id: CaseId,
        institution: InstitutionId,
    },
    /// Case work (the case's lead): hands the lead role to another participant.
    CaseHandOver {
        case_id: CaseId,
        to: InstitutionId,
    },
    /// Case work: refers the case's person to another service, whose acceptance brings it
    /// this institution's summary for `purpose` and `categories` under the case's consents.
    CaseRefer {
        case_id: CaseId,
        institution: InstitutionId,
        purpose: Purpose,
        categories: Vec<Category>,
    },
    /// Case work: destroys a received summary's content now, before its retention ends.
    SummaryPurge {
        summary_id: SummaryId,
    },
    /// Case work: tells the case's other participants that this institution updated its
    /// records about the person, so a newer summary is available (no data is sent).
    CaseNotify {
        case_id: CaseId,
    },
    /// Case work: the person signed a new form narrowing or renewing a consent: the new
    /// consent is recorded and the one it replaces revoked, in one step.
    ConsentReplace {
        replaces: ConsentId,
        draft: ConsentDraft,
    },
    /// Administration: the institution's placements in mixed insertion measures
    /// (spec/statistics.md §3), all or nothing.
    ImportPlacements(PlacementSet),
    /// Statistics (coordinator or admin): this sector's report for a month, after noise and
    /// suppression (spec/statistics.md §5).
    StatsReport {
        month: Month,
    },
    /// Statistics (coordinator or admin): computes the month's report as `StatsReport` does,
    /// signs it and queues it for the roster's dashboard member (spec/statistics.md §8); a
    /// month already sent is sent again only as a correction.
    StatsSend {
        month: Month,
        correction: bool,
    },
    /// Statistics (coordinator or admin), at the dashboard member: the reports received for
    /// the `months` months up to `until` (default: the latest month with a report, or the
    /// month before the current one if later), and the members still missing.
    StatsDashboard {
        months: u8,
        until: Option<Month>,
    },
    /// Statistics (coordinator or admin), at the dashboard member: the rounds counting the
    /// persons followed by several sectors in `month` (spec/statistics.md §10). Starts the
    /// first round of the month when there is none; with `again`, starts the next attempt
    /// when the latest did not complete (at most three a month); otherwise only reports.
    StatsOverlap {
        month: Month,
        again: bool,
    },
}

impl StaffRequest {
    /// Whether the request may travel as a sequence of frames (spec §3.1): a records or
    /// placements import (files of up to 16 MiB) or a roster of thousands of members.
    pub fn may_span_frames(&self) -> bool {
        matches!(
            self,
            StaffRequest::ImportRecords(_)
                | StaffRequest::ImportPlacements(_)
                | StaffRequest::InstallRoster(_)
        )
    }

    /// The request's kind in kebab-case, its serde name: what the node's log and metrics say
    /// of a request served, without any of its arguments.
    pub fn kind(&self) -> &'static str {
        use StaffRequest::*;
        match self {
            WhoAmI => "who-am-i",
            Status => "status",
            StaffIssue { .. } => "staff-issue",
            StaffRevoke { .. } => "staff-revoke",
            StaffList => "staff-list",
            ImportRecords(_) => "import-records",
            InstallRoster(_) => "install-roster",
            CaseOpen { .. } => "case-open",
            CaseInvite { .. } => "case-invite",
            CaseAccept { .. } => "case-accept",
            CaseClose { .. } => "case-close",
            CaseList => "case-list",
            CaseShow { .. } => "case-show",
            ConsentRecord(_) => "consent-record",
            ConsentRevoke { .. } => "consent-revoke",
            SummaryRequest { .. } => "summary-request",
            SummaryList => "summary-list",
            SummaryOpen { .. } => "summary-open",
            LogCheckpoint => "log-checkpoint",
            LogTile { .. } => "log-tile",
            Roster => "roster",
            WitnessEvidence => "witness-evidence",
            CaseLeave { .. } => "case-leave",
            RequestList => "request-list",
            Queue => "queue",
            CaseDecline { .. } => "case-decline",
            CaseRemove { .. } => "case-remove",
            CaseHandOver { .. } => "case-hand-over",
            CaseRefer { .. } => "case-refer",
            SummaryPurge { .. } => "summary-purge",
            CaseNotify { .. } => "case-notify",
            ConsentReplace { .. } => "consent-replace",
            ImportPlacements(_) => "import-placements",
            StatsReport { .. } => "stats-report",
            StatsSend { .. } => "stats-send",
            StatsDashboard { .. } => "stats-dashboard",
            StatsOverlap { .. } => "stats-overlap",
        }
    }

    /// The role a request needs. Reading status and one's own identity needs none.
    pub fn required_role(&self) -> Option<Role> {
        use StaffRequest::*;
        match self {
            WhoAmI | Status | Queue => None,
            StaffIssue { .. }
            | StaffRevoke { .. }
            | StaffList
            | ImportRecords(_)
            | InstallRoster(_)
            | ImportPlacements(_) => Some(Role::Admin),
            CaseOpen { .. }
            | CaseInvite { .. }
            | CaseAccept { .. }
            | CaseClose { .. }
            | CaseLeave { .. }
            | CaseDecline { .. }
            | CaseRemove { .. }
            | CaseHandOver { .. }
            | CaseRefer { .. }
            | RequestList
            | CaseList
            | CaseShow { .. }
            | ConsentRecord(_)
            | ConsentRevoke { .. }
            | SummaryRequest { .. }
            | SummaryList
            | SummaryOpen { .. }
            | SummaryPurge { .. }
            | CaseNotify { .. }
            | ConsentReplace { .. } => Some(Role::CaseWorker),
            LogCheckpoint | LogTile { .. } | Roster | WitnessEvidence => Some(Role::Auditor),
            StatsReport { .. } | StatsSend { .. } | StatsDashboard { .. } | StatsOverlap { .. } => {
                Some(Role::Coordinator)
            }
        }
    }

    /// Whether a staff member with `role` may make this request: the required role, or, for
    /// the statistics a coordinator reads, also an administrator of the node.
    pub fn permits(&self, role: Role) -> bool {
        match self.required_role() {
            None => true,
            Some(Role::Coordinator) => matches!(role, Role::Coordinator | Role::Admin),
            Some(needed) => role == needed,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentDraft {
    pub case_id: CaseId,
    pub participants: Vec<InstitutionId>,
    pub purposes: Vec<Purpose>,
    pub categories: Vec<Category>,
    pub valid_from: u64,
    pub valid_until: u64,
    #[serde(with = "crate::ids::hex32::option")]
    pub form_digest: Option<[u8; 32]>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StaffReply {
    Me(StaffInfo),
    Status(NodeStatus),
    Done,
    Staff(Vec<StaffInfo>),
    Imported {
        persons: u64,
        fields: u64,
    },
    RosterInstalled {
        version: u64,
    },
    CaseOpened {
        case_id: CaseId,
        delivered: Vec<Delivery>,
    },
    CaseUpdated {
        delivered: Vec<Delivery>,
    },
    Cases(Vec<CaseInfo>),
    Case(CaseDetail),
    ConsentRecorded {
        consent_id: ConsentId,
        delivered: Vec<Delivery>,
    },
    Summary(SummaryOutcome),
    Summaries(Vec<ReceivedSummary>),
    Opened {
        info: ReceivedSummary,
        summary: Summary,
    },
    Checkpoint {
        note: String,
    },
    LogData(#[serde(with = "crate::ids::hex_bytes")] Vec<u8>),
    Roster(SignedRoster),
    Evidence(Vec<WitnessEvidence>),
    Error(StaffError),
    Requests(Vec<RequestInfo>),
    Queue(Vec<QueueItem>),
    PlacementsImported {
        placements: u64,
    },
    Report(Box<StatsReport>),
    /// A report was signed and queued for the dashboard member; `delivered` once it accepted.
    StatsSent(StatsSent),
    Dashboard(Box<Dashboard>),
    /// The rounds of a month counting the persons followed by several sectors.
    Overlap(Box<crate::stats::OverlapRounds>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsSent {
    pub month: Month,
    pub sequence: u32,
    pub dashboard: InstitutionId,
    /// SHA-256 of the delivery's signing input, as both nodes' logs name it.
    #[serde(with = "crate::ids::hex32")]
    pub digest: [u8; 32],
    pub delivered: bool,
}

/// Two signed checkpoints of a peer's log that cannot both be honest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessEvidence {
    pub origin: String,
    /// The checkpoint this node had cosigned.
    pub cosigned: String,
    /// The inconsistent checkpoint it was then offered.
    pub offered: String,
    pub problem: String,
    pub seen_at: u64,
}

/// A summary request this node made, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestInfo {
    pub request_id: RequestId,
    pub case_id: CaseId,
    pub responder: InstitutionId,
    pub purpose: Purpose,
    pub categories: Vec<Category>,
    pub requested_by: StaffId,
    pub state: RequestState,
    /// Kebab-case: the refusal code, the reason it was withdrawn, or `received`; none while
    /// pending.
    pub outcome: Option<String>,
    pub summary_id: Option<SummaryId>,
    pub created_at: u64,
    pub updated_at: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequestState {
    /// Queued or in flight; the outbox will send it (again).
    Pending,
    Received,
    Refused,
    /// Withdrawn before or after sending; `outcome` says why. Nothing was kept.
    Failed,
}

impl RequestState {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestState::Pending => "pending",
            RequestState::Received => "received",
            RequestState::Refused => "refused",
            RequestState::Failed => "failed",
        }
    }
}

/// An outbox item: a message waiting for its recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueItem {
    pub recipient: InstitutionId,
    /// `case-history`, `summary-request`, `roster`, `change-notice` or `stats-report`.
    pub kind: String,
    /// The case or request it is about, hex; the month of a statistics report; none for a
    /// roster.
    pub subject: Option<String>,
    pub staff: Option<StaffId>,
    pub since: u64,
    pub attempts: u64,
    pub next_attempt: u64,
    /// The last problem met delivering it, if any.
    pub last_problem: Option<String>,
}

/// Whether a case change reached a participant now or waits in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub institution: InstitutionId,
    pub delivered: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffInfo {
    pub staff: StaffId,
    pub role: Role,
    pub institution: InstitutionId,
    pub revoked: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub institution: InstitutionId,
    pub federation: String,
    pub roster_version: u64,
    pub members: Vec<InstitutionId>,
    pub log_size: u64,
    /// Inconsistent checkpoints this node caught as a witness (kept as evidence).
    pub witness_evidence: u64,
    pub persons: u64,
    pub open_cases: u64,
    pub outbox: u64,
    /// Why this node's own log is halted, if it is: a witness holds a cosigned checkpoint the
    /// log cannot extend, and the node signs and serves nothing more of it
    /// (transparency-log.md §7.4).
    pub log_halted: Option<String>,
    /// Why the node's store cannot record now (its disk is full, read-only or failing), and
    /// what its administrator does about it, if so; cleared once a write succeeds again.
    pub store_problem: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseInfo {
    pub case_id: CaseId,
    pub person: Avs,
    pub opened_by: InstitutionId,
    pub status: CaseStatus,
    pub my_participation: Participation,
    pub participants: Vec<(InstitutionId, Participation)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseDetail {
    pub info: CaseInfo,
    /// Name from this institution's own records, when it knows the person.
    pub person_name: Option<String>,
    pub consents: Vec<ConsentInfo>,
    /// Who closes the case, removes institutions and hands the role over.
    pub lead: InstitutionId,
    /// Institutions referred to the case, by whom, for what.
    pub referrals: Vec<Referral>,
    /// Participants that said they hold newer records than the last summary received from
    /// them, and since when.
    pub newer_summaries: Vec<ChangeNotice>,
}

/// A participant's notice that a newer summary is available from it (spec §6.7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeNotice {
    pub source: InstitutionId,
    pub since: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentInfo {
    pub consent_id: ConsentId,
    pub participants: Vec<InstitutionId>,
    pub purposes: Vec<Purpose>,
    pub categories: Vec<Category>,
    pub valid_from: u64,
    pub valid_until: u64,
    #[serde(with = "crate::ids::hex32::option")]
    pub form_digest: Option<[u8; 32]>,
    pub recorded_by: StaffId,
    pub revoked_at: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SummaryOutcome {
    Received(ReceivedSummary),
    Refused {
        code: RefusalCode,
    },
    /// The responder was unreachable; the request waits in the outbox and the rule is checked
    /// again by the responder at delivery.
    Queued,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedSummary {
    pub summary_id: SummaryId,
    pub case_id: CaseId,
    pub source: InstitutionId,
    pub purpose: Purpose,
    pub categories: Vec<Category>,
    pub received_at: u64,
    pub requested_by: StaffId,
    #[serde(with = "crate::ids::hex32")]
    pub sealed_digest: [u8; 32],
    /// When its content was destroyed, at the end of its retention or on request (§7.10).
    pub purged_at: Option<u64>,
}

/// Errors returned to staff. `kind` tells who is at fault; `message` never holds personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{}: {message}", kind.as_str())]
pub struct StaffError {
    pub kind: StaffErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StaffErrorKind {
    /// The request is invalid (unknown case, bad argument).
    BadRequest,
    /// The staff member's role does not allow this.
    Forbidden,
    /// A peer node misbehaved or could not be reached.
    Peer,
    /// The node failed locally.
    Internal,
    /// The outcome is not known yet: the node keeps working on it (a queued exchange).
    Pending,
}

impl StaffErrorKind {
    /// The text form, the same in JSON and in tool output.
    pub fn as_str(self) -> &'static str {
        match self {
            StaffErrorKind::BadRequest => "bad-request",
            StaffErrorKind::Forbidden => "forbidden",
            StaffErrorKind::Peer => "peer",
            StaffErrorKind::Internal => "internal",
            StaffErrorKind::Pending => "pending",
        }
    }
}
