//! Staff requests that read the node's state (and opening a summary, which logs the opening
//! before revealing the content).

use crate::case_store::load_case;
use crate::entries;
use crate::io::{Env, Fault, Output, Ticket, bad};
use crate::jobs::{OpenJob, Work};
use crate::requester::received_info;
use crate::state::{Core, StaffMember};
use crate::store::Tx;
use protocol_spec::case::{CoordinatedCase, Participation};
use protocol_spec::exchange::{Disclosure, Summary};
use protocol_spec::ids::{CaseId, InstitutionId, RequestId, StaffId, SummaryId};
use protocol_spec::staff::{
    CaseDetail, CaseInfo, ConsentInfo, NodeStatus, QueueItem, RequestInfo, RequestState,
    StaffErrorKind, StaffInfo, StaffReply,
};
use rusqlite::OptionalExtension;

pub(crate) fn status(core: &Core, tx: &Tx<'_>) -> Result<StaffReply, Fault> {
    let roster = &core.roster.roster;
    let c = |sql: &str| tx.db.query_row(sql, [], |r| r.get::<_, i64>(0));
    Ok(StaffReply::Status(NodeStatus {
        institution: core.me.clone(),
        federation: roster.federation.clone(),
        roster_version: roster.version,
        members: roster.members.iter().map(|m| m.id.clone()).collect(),
        log_size: tx.log_size(),
        persons: c("SELECT COUNT(*) FROM persons")? as u64,
        open_cases: c("SELECT COUNT(*) FROM cases")? as u64,
        outbox: c("SELECT COUNT(*) FROM outbox")? as u64,
        witness_evidence: c("SELECT COUNT(*) FROM witness_evidence")? as u64,
        // Recorded by the daemon's log driver when a witness holds more than this log.
        log_halted: tx
            .db
            .prepare_cached("SELECT value FROM meta WHERE key = 'log-halted'")?
            .query_row([], |r| r.get::<_, Vec<u8>>(0))
            .optional()?
            .map(|p| String::from_utf8_lossy(&p).into_owned()),
        store_problem: core.store_problem.map(|p| format!("{p}; {}", p.advice())),
    }))
}

pub(crate) fn staff_list(core: &Core, tx: &Tx<'_>) -> Result<StaffReply, Fault> {
    let mut st = tx
        .db
        .prepare("SELECT staff_id, role, revoked_at IS NOT NULL FROM staff ORDER BY staff_id")?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, bool>(2)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (s, role, revoked) = row?;
        out.push(StaffInfo {
            staff: s.parse()?,
            role: role.parse()?,
            institution: core.me.clone(),
            revoked,
        });
    }
    Ok(StaffReply::Staff(out))
}

pub(crate) fn case_info(case: &CoordinatedCase, me: &InstitutionId) -> CaseInfo {
    CaseInfo {
        case_id: case.case_id,
        person: case.person.clone(),
        opened_by: case.opened_by.clone(),
        status: case.status,
        my_participation: case
            .participants
            .get(me)
            .copied()
            .unwrap_or(Participation::Left),
        participants: case
            .participants
            .iter()
            .map(|(i, p)| (i.clone(), *p))
            .collect(),
    }
}

pub(crate) fn case_list(core: &Core, tx: &Tx<'_>) -> Result<StaffReply, Fault> {
    let mut st = tx.db.prepare("SELECT history FROM cases ORDER BY rowid")?;
    let rows = st.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
    let mut out = Vec::new();
    for h in rows {
        let case = CoordinatedCase::restore(postcard::from_bytes(&h?)?)?;
        out.push(case_info(&case, &core.me));
    }
    Ok(StaffReply::Cases(out))
}

pub(crate) fn case_show(core: &Core, tx: &Tx<'_>, case_id: &CaseId) -> Result<StaffReply, Fault> {
    let case = load_case(tx.db, case_id)?
        .ok_or_else(|| bad(format!("no coordinated case {case_id} at this node")))?;
    let name: Option<String> = tx
        .db
        .prepare_cached("SELECT name FROM persons WHERE avs = ?1")?
        .query_row([case.person.digits()], |r| r.get(0))
        .optional()?;
    let consents = case
        .consents
        .iter()
        .map(|(c, revoked)| ConsentInfo {
            consent_id: c.consent_id,
            participants: c.participants.clone(),
            purposes: c.purposes.clone(),
            categories: c.categories.clone(),
            valid_from: c.valid_from,
            valid_until: c.valid_until,
            form_digest: c.form_digest,
            recorded_by: c.recorded_by.clone(),
            revoked_at: *revoked,
        })
        .collect();
    Ok(StaffReply::Case(CaseDetail {
        info: case_info(&case, &core.me),
        person_name: name,
        consents,
        lead: case.lead.clone(),
        referrals: case.referrals.clone(),
        newer_summaries: crate::notices::of_case(tx, case_id)?,
    }))
}

pub(crate) fn summary_list(tx: &Tx<'_>) -> Result<StaffReply, Fault> {
    let mut st = tx.db.prepare(
        "SELECT summary_id, disclosure, requested_by, received_at, purged_at, sealed_digest FROM summaries ORDER BY received_at, rowid",
    )?;
    type Row = (Vec<u8>, Vec<u8>, String, i64, Option<i64>, Option<Vec<u8>>);
    let rows = st.query_map([], |r| -> rusqlite::Result<Row> {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, d, by, at, purged_at, digest) = row?;
        let id = SummaryId(
            id.try_into()
                .map_err(|_| anyhow::anyhow!("corrupt summary id"))?,
        );
        let d: Disclosure = postcard::from_bytes(&d)?;
        let mut info = received_info(id, &d, &by.parse()?, at as u64);
        // A purged summary keeps the digest its receipt names; its sealed content is gone.
        if let (Some(purged_at), Some(digest)) = (purged_at, digest) {
            info.purged_at = Some(purged_at as u64);
            info.sealed_digest = digest
                .try_into()
                .map_err(|_| anyhow::anyhow!("corrupt sealed digest"))?;
        }
        out.push(info);
    }
    Ok(StaffReply::Summaries(out))
}

/// The opening is logged, in the same transaction, before the content is revealed.
/// The first step of opening a stored summary: it must exist and not be purged; the opening
/// itself is handed out ([`crate::jobs::Work::Open`]).
pub(crate) fn summary_open(
    tx: &mut Tx<'_>,
    ticket: Ticket,
    who: &StaffMember,
    summary_id: &SummaryId,
) -> Result<Output, Fault> {
    let (disclosure, _, _) = stored_summary(tx, summary_id)?;
    Ok(Output::Work(Work::Open(Box::new(OpenJob {
        ticket,
        summary_id: *summary_id,
        staff: who.staff.clone(),
        disclosure,
    }))))
}

/// The second step: the opening is logged, then the summary given to the staff member. The
/// summary must still be stored, unpurged and the one opened, and the member still active.
pub(crate) fn summary_opened(
    core: &Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    staff: &StaffId,
    summary_id: &SummaryId,
    sealed_digest: &[u8; 32],
    summary: Result<Summary, String>,
) -> Result<StaffReply, Fault> {
    if !core.staff.values().any(|m| &m.staff == staff) {
        return Err(Fault::Refused(
            StaffErrorKind::Forbidden,
            "this staff credential was revoked".into(),
        ));
    }
    let (d, by, at) = stored_summary(tx, summary_id)?;
    if &d.sealed.digest() != sealed_digest {
        return Err(Fault::Local(anyhow::anyhow!(
            "summary {summary_id} changed while it was opened"
        )));
    }
    let summary = summary.map_err(|e| {
        Fault::Refused(
            StaffErrorKind::Internal,
            format!("the stored summary cannot be opened: {e}"),
        )
    })?;
    let person = load_case(tx.db, &d.header.case_id)?.map(|c| c.person.clone());
    entries::summary_opened(tx, env, &d.header, person.as_ref(), sealed_digest, staff)?;
    let info = received_info(*summary_id, &d, &by, at);
    Ok(StaffReply::Opened { info, summary })
}

/// A received summary as stored: its disclosure, who asked for it and when it came. Refused
/// when unknown or purged.
fn stored_summary(
    tx: &Tx<'_>,
    summary_id: &SummaryId,
) -> Result<(Disclosure, StaffId, u64), Fault> {
    let row: Option<(Vec<u8>, String, i64)> = tx
        .db
        .prepare_cached(
            "SELECT disclosure, requested_by, received_at FROM summaries WHERE summary_id = ?1",
        )?
        .query_row([summary_id.0.to_vec()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let (d, by, at) =
        row.ok_or_else(|| bad(format!("no received summary {summary_id} at this node")))?;
    if let Some((_, reason, _)) = crate::retention::purged(tx, summary_id)? {
        return Err(bad(format!(
            "summary {summary_id} was purged ({reason}): its content is destroyed; its receipt stays in the log (`summary list` shows when)"
        )));
    }
    Ok((postcard::from_bytes(&d)?, by.parse()?, at as u64))
}

pub(crate) fn request_list(tx: &Tx<'_>) -> Result<StaffReply, Fault> {
    let mut st = tx.db.prepare(
        "SELECT request_id, case_id, responder, purpose, categories, staff, state, outcome, summary_id, created_at, updated_at
         FROM requests ORDER BY created_at DESC, request_id DESC LIMIT 1000",
    )?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, Vec<u8>>(0)?,
            r.get::<_, Vec<u8>>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, String>(6)?,
            r.get::<_, Option<String>>(7)?,
            r.get::<_, Option<Vec<u8>>>(8)?,
            r.get::<_, i64>(9)?,
            r.get::<_, i64>(10)?,
        ))
    })?;
    let id16 = |b: Vec<u8>| -> anyhow::Result<[u8; 16]> {
        b.try_into()
            .map_err(|_| anyhow::anyhow!("corrupt id in requests"))
    };
    let mut out = Vec::new();
    for row in rows {
        let (id, case, responder, purpose, categories, staff, state, outcome, summary, at, upd) =
            row?;
        let state = match state.as_str() {
            "pending" => RequestState::Pending,
            "received" => RequestState::Received,
            "refused" => RequestState::Refused,
            "failed" => RequestState::Failed,
            other => return Err(anyhow::anyhow!("corrupt request state {other}").into()),
        };
        let categories = if categories == "-" {
            Vec::new()
        } else {
            categories
                .split(',')
                .map(|c| c.parse())
                .collect::<Result<Vec<_>, _>>()?
        };
        out.push(RequestInfo {
            request_id: RequestId(id16(id)?),
            case_id: CaseId(id16(case)?),
            responder: responder.parse()?,
            purpose: purpose.parse()?,
            categories,
            requested_by: staff.parse()?,
            state,
            outcome,
            summary_id: summary.map(id16).transpose()?.map(SummaryId),
            created_at: at as u64,
            updated_at: upd as u64,
        });
    }
    Ok(StaffReply::Requests(out))
}

pub(crate) fn queue(tx: &Tx<'_>) -> Result<StaffReply, Fault> {
    let mut st = tx.db.prepare(
        "SELECT id, recipient, staff, created_at, attempts, next_attempt, last_problem FROM outbox ORDER BY id",
    )?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<String>>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, i64>(5)?,
            r.get::<_, Option<String>>(6)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (token, recipient, staff, since, attempts, next, problem) = row?;
        let Some(item) = crate::outbox::load(tx, token)? else {
            continue;
        };
        let (kind, subject) = match item.item {
            crate::outbox::Item::CaseHistory { case_id } => {
                ("case-history", Some(case_id.to_string()))
            }
            crate::outbox::Item::Summary { request_id } => {
                ("summary-request", Some(hex::encode(request_id.0)))
            }
            crate::outbox::Item::LegacySummary { case_id, .. } => {
                ("summary-request", Some(case_id.to_string()))
            }
            crate::outbox::Item::Roster => ("roster", None),
            crate::outbox::Item::PsiStart(s) => ("psi-start", Some(hex::encode(s.round.id()))),
            crate::outbox::Item::PsiSet(s) => (
                "psi-set",
                Some(format!(
                    "{} {} hop {}",
                    hex::encode(s.set.round),
                    s.set.origin,
                    s.set.hop
                )),
            ),
            crate::outbox::Item::PsiOutcome(s) => {
                ("psi-outcome", Some(hex::encode(s.outcome.round)))
            }
            crate::outbox::Item::StatsReport { month } => ("stats-report", Some(month.to_string())),
            crate::outbox::Item::ChangeNotice { case_id } => {
                ("change-notice", Some(case_id.to_string()))
            }
            crate::outbox::Item::CaseHistoryBack { case_id }
            | crate::outbox::Item::CaseHistoryBackUntil { case_id, .. }
            | crate::outbox::Item::CaseHistoryAnswer { case_id, .. } => {
                ("case-history", Some(case_id.to_string()))
            }
        };
        out.push(QueueItem {
            recipient: recipient.parse()?,
            kind: kind.into(),
            subject,
            staff: staff.map(|s| s.parse()).transpose()?,
            since: since as u64,
            attempts: attempts as u64,
            next_attempt: next as u64,
            last_problem: problem,
        });
    }
    Ok(StaffReply::Queue(out))
}
