//! Composition of the node's log entries (spec §11) from the node's own types. Entries hold
//! no personal data in clear: a person appears only as a freshly salted commitment.

use crate::io::Env;
use crate::store::Tx;
use protocol_spec::avs::Avs;
use protocol_spec::case::{CaseEventKind, CoordinatedCase, SignedCaseEvent};
use protocol_spec::entry::{self, CaseDetail, LogEntry, Person, SourceLeaf, StaffAction};
use protocol_spec::exchange::{DisclosureHeader, RefusalCode, SummaryRequest};
use protocol_spec::ids::{Role, StaffId};

/// A fresh salt per entry, so two entries about one person cannot be linked without the number.
fn person(env: &mut Env<'_>, p: Option<&Avs>) -> Person {
    Person::commit(p, env.bytes())
}

fn append(tx: &mut Tx<'_>, e: impl Into<LogEntry>) -> anyhow::Result<()> {
    tx.log(e.into().to_bytes())?;
    Ok(())
}

/// The responder refused; the person is named only when the requester is concerned.
pub(crate) fn refusal(
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    r: &SummaryRequest,
    who: Option<&Avs>,
    code: RefusalCode,
    digest: &[u8; 32],
) -> anyhow::Result<()> {
    let e = entry::Refusal {
        time: env.now,
        case: r.case_id,
        person: person(env, who),
        requester: r.requester.clone(),
        purpose: r.purpose.clone(),
        categories: r.categories.clone(),
        code,
        request: *digest,
    };
    append(tx, e)
}

/// The responder disclosed; returns the entry's bytes so its leaf can be named in the reply.
pub(crate) fn disclosure(
    env: &mut Env<'_>,
    h: &DisclosureHeader,
    who: &Avs,
    sealed_digest: &[u8; 32],
) -> Vec<u8> {
    LogEntry::from(entry::Disclosure {
        time: env.now,
        case: h.case_id,
        person: person(env, Some(who)),
        recipient: h.recipient.clone(),
        purpose: h.purpose.clone(),
        categories: h.categories.clone(),
        consent: h.consent_id,
        request: h.request_digest,
        summary: *sealed_digest,
    })
    .to_bytes()
}

pub(crate) fn receipt(
    env: &mut Env<'_>,
    h: &DisclosureHeader,
    who: Option<&Avs>,
    sealed_digest: &[u8; 32],
    source_leaf: (u64, [u8; 32]),
    staff: &StaffId,
) -> Vec<u8> {
    LogEntry::from(entry::Receipt {
        time: env.now,
        case: h.case_id,
        person: person(env, who),
        source: h.source.clone(),
        purpose: h.purpose.clone(),
        categories: h.categories.clone(),
        consent: h.consent_id,
        request: h.request_digest,
        summary: *sealed_digest,
        source_leaf: SourceLeaf {
            index: source_leaf.0,
            hash: source_leaf.1,
        },
        staff: staff.clone(),
    })
    .to_bytes()
}

pub(crate) fn refused_by_peer(
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    r: &SummaryRequest,
    who: Option<&Avs>,
    code: RefusalCode,
    digest: &[u8; 32],
    staff: &StaffId,
) -> anyhow::Result<()> {
    let e = entry::RefusedByPeer {
        time: env.now,
        case: r.case_id,
        person: person(env, who),
        source: r.responder.clone(),
        purpose: r.purpose.clone(),
        categories: r.categories.clone(),
        code,
        request: *digest,
        staff: staff.clone(),
    };
    append(tx, e)
}

/// A request this node will not send, or whose answer it will not keep: `reason` is a
/// kebab-case code from the spec; `digest` names the answered version, else the latest.
pub(crate) fn request_withdrawn(
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    r: &SummaryRequest,
    who: Option<&Avs>,
    digest: &[u8; 32],
    reason: &str,
    staff: &StaffId,
) -> anyhow::Result<()> {
    let e = entry::RequestWithdrawn {
        time: env.now,
        case: r.case_id,
        person: person(env, who),
        source: r.responder.clone(),
        request: *digest,
        reason: reason.parse().map_err(anyhow::Error::msg)?,
        staff: staff.clone(),
    };
    append(tx, e)
}

pub(crate) fn summary_opened(
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    h: &DisclosureHeader,
    who: Option<&Avs>,
    sealed_digest: &[u8; 32],
    staff: &StaffId,
) -> anyhow::Result<()> {
    let e = entry::SummaryOpened {
        time: env.now,
        case: h.case_id,
        person: person(env, who),
        source: h.source.clone(),
        summary: *sealed_digest,
        staff: staff.clone(),
    };
    append(tx, e)
}

pub fn summary_purged(
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    h: &DisclosureHeader,
    who: Option<&Avs>,
    sealed_digest: &[u8; 32],
    reason: entry::PurgeReason,
    staff: &StaffId,
) -> anyhow::Result<()> {
    let e = entry::SummaryPurged {
        time: env.now,
        case: h.case_id,
        person: person(env, who),
        source: h.source.clone(),
        summary: *sealed_digest,
        reason,
        staff: staff.clone(),
    };
    append(tx, e)
}

/// Its `time` is the event's own `at`, the author's clock (spec §11).
pub(crate) fn case_event(
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    case: &CoordinatedCase,
    ev: &SignedCaseEvent,
) -> anyhow::Result<()> {
    let e = &ev.event;
    let detail = match &e.kind {
        CaseEventKind::Opened { .. } => CaseDetail::Opened,
        CaseEventKind::Invited { institution } => CaseDetail::Invited(institution.clone()),
        CaseEventKind::Accepted => CaseDetail::Accepted,
        CaseEventKind::Left => CaseDetail::Left,
        CaseEventKind::Closed => CaseDetail::Closed,
        CaseEventKind::ConsentRecorded(c) => CaseDetail::ConsentRecorded {
            consent: c.consent_id,
            purposes: c.purposes.clone(),
            categories: c.categories.clone(),
            valid_from: c.valid_from,
            valid_until: c.valid_until,
        },
        CaseEventKind::ConsentRevoked { consent_id } => CaseDetail::ConsentRevoked(*consent_id),
        CaseEventKind::Declined { reason } => CaseDetail::Declined(*reason),
        CaseEventKind::Removed { institution } => CaseDetail::Removed(institution.clone()),
        CaseEventKind::LeadHandedOver { to } => CaseDetail::LeadHandedOver(to.clone()),
        CaseEventKind::Referred {
            institution,
            purpose,
            categories,
        } => CaseDetail::Referred {
            institution: institution.clone(),
            purpose: purpose.clone(),
            categories: categories.clone(),
        },
    };
    let entry = entry::CaseEvent {
        time: e.at,
        case: e.case_id,
        person: person(env, Some(&case.person)),
        author: e.author.clone(),
        event: e.event_id,
        detail,
        staff: e.staff.clone(),
    };
    append(tx, entry)
}

pub(crate) fn staff(
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    staff: &StaffId,
    role: Role,
    action: StaffAction,
    by: &StaffId,
) -> anyhow::Result<()> {
    let e = entry::Staff {
        time: env.now,
        staff: staff.clone(),
        role,
        action,
        by: by.clone(),
    };
    append(tx, e)
}

pub(crate) fn records_imported(
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    persons: u64,
    fields: u64,
    digest: &[u8; 32],
    by: &StaffId,
) -> anyhow::Result<()> {
    let e = entry::RecordsImported {
        time: env.now,
        persons,
        fields,
        digest: *digest,
        by: by.clone(),
    };
    append(tx, e)
}

pub(crate) fn stats_sent(
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    signed: &protocol_spec::stats::SignedStatsReport,
    dashboard: &protocol_spec::ids::InstitutionId,
) -> anyhow::Result<()> {
    let e = entry::StatsSent {
        time: env.now,
        month: signed.report.month,
        sequence: u64::from(signed.sequence),
        dashboard: dashboard.clone(),
        digest: signed.digest(),
    };
    append(tx, e)
}

pub(crate) fn stats_received(
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    signed: &protocol_spec::stats::SignedStatsReport,
) -> anyhow::Result<()> {
    let e = entry::StatsReceived {
        time: env.now,
        institution: signed.report.institution.clone(),
        month: signed.report.month,
        sequence: u64::from(signed.sequence),
        digest: signed.digest(),
    };
    append(tx, e)
}

pub(crate) fn roster(
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    version: u64,
    digest: &[u8; 32],
) -> anyhow::Result<()> {
    let e = entry::Roster {
        time: env.now,
        version,
        digest: *digest,
    };
    append(tx, e)
}
