//! The outbox: every message to a peer is first a durable outbox item, then a send. An item
//! leaves the outbox when the peer has answered it; until then it is sent again with backoff,
//! and what it carries is rebuilt at each send (the latest case history and roster; a summary
//! request re-checked against the requester's own state, spec §7.6).

use crate::io::{Env, Fault, Output, Token};
use crate::jobs::{SignJob, Work};
use crate::state::{Core, InFlight};
use crate::store::Tx;
use protocol_spec::ids::{CaseId, InstitutionId, RequestId, StaffId};
use protocol_spec::peer::PeerMessage;
use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};

/// What an outbox item carries. Encoded with postcard in the store; variant order is fixed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Item {
    CaseHistory {
        case_id: CaseId,
    },
    /// Written by earlier versions, which queued a request without fixing its identity: it is
    /// withdrawn, never sent, because its identity was not recorded before it left.
    LegacySummary {
        case_id: CaseId,
        purpose: protocol_spec::ids::Purpose,
        categories: Vec<protocol_spec::category::Category>,
    },
    Summary {
        request_id: RequestId,
    },
    /// The roster in force, whatever version it is when sent.
    Roster,
    /// The case's history, once, to an institution that pushed a history lacking some of this
    /// node's events while it counts itself in the case (this node may count it out: it left
    /// earlier, then was invited again after the case closed, say).
    CaseHistoryBack {
        case_id: CaseId,
    },
    /// As `CaseHistoryBack`, to an institution this node counts out: only the events up to
    /// `until` in canonical order. Queued by earlier versions, which cut at the latest event
    /// the institution showed it holds (a time it chose); delivered as queued.
    CaseHistoryBackUntil {
        case_id: CaseId,
        until: (u64, [u8; 16]),
    },
    /// A notice that this node holds newer records about the case's person (spec §6.7).
    ChangeNotice {
        case_id: CaseId,
    },
    /// A history sent back once, to a sender that counts itself in the case while this node
    /// counts it out (spec §6.4 step 5), or that counts this node in while it is out (step 3):
    /// this node's events up to what puts the one counted out out in the sender's view too,
    /// then the sender's own later events, which address it. Carried in the item, as it was
    /// when queued: a node out of the case does not store its events afterwards.
    CaseHistoryAnswer {
        case_id: CaseId,
        events: Vec<protocol_spec::case::SignedCaseEvent>,
    },
    /// This node's latest signed report of a month, to the statistics dashboard member: a
    /// correction queued while an earlier delivery waits rides on it (spec/statistics.md §8).
    StatsReport {
        month: protocol_spec::stats::Month,
    },
    /// An overlap round's messages (spec/statistics.md §10.4), carried in the item: the
    /// start and the outcome to each participant, a set to its next hop. Dropped at the
    /// round's expiry if still queued (§10.7).
    PsiStart(Box<protocol_spec::stats::psi::SignedPsiStart>),
    PsiSet(Box<protocol_spec::stats::psi::SignedPsiSet>),
    PsiOutcome(Box<protocol_spec::stats::psi::SignedPsiOutcome>),
}

impl Item {
    /// Items with a topic are kept once per recipient: a newer change rides on the queued one.
    fn topic(&self) -> Option<String> {
        match self {
            Item::CaseHistory { case_id } => Some(format!("case:{case_id}")),
            Item::Roster => Some("roster".into()),
            Item::ChangeNotice { case_id } => Some(format!("notice:{case_id}")),
            Item::CaseHistoryBack { case_id }
            | Item::CaseHistoryBackUntil { case_id, .. }
            | Item::CaseHistoryAnswer { case_id, .. } => Some(format!("case-back:{case_id}")),
            Item::StatsReport { month } => Some(format!("stats:{month}")),
            // `psi:<round id>:…`: the round's expiry drops them by this prefix.
            Item::PsiStart(s) => Some(format!("psi:{}:start", hex::encode(s.round.id()))),
            Item::PsiSet(s) => Some(format!(
                "psi:{}:set:{}:{}",
                hex::encode(s.set.round),
                s.set.origin,
                s.set.hop
            )),
            Item::PsiOutcome(s) => Some(format!("psi:{}:outcome", hex::encode(s.outcome.round))),
            Item::Summary { .. } | Item::LegacySummary { .. } => None,
        }
    }
}

/// A summary request waiting longer than this is withdrawn and reported.
pub(crate) const SUMMARY_REQUEST_EXPIRY: u64 = 7 * 24 * 3600;

pub(crate) struct Row {
    pub(crate) token: Token,
    pub(crate) recipient: InstitutionId,
    pub(crate) item: Item,
    pub(crate) staff: Option<StaffId>,
}

/// Queues `item` for `to` durably (an item with a topic rides on the one queued already); it
/// is sent as the step ends, with what it carries then (`delivery::send_queued`).
pub(crate) fn enqueue(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    to: &InstitutionId,
    item: &Item,
    staff: Option<&StaffId>,
) -> anyhow::Result<Token> {
    let token = insert(tx, env, to, item, staff)?;
    send_soon(core, token);
    Ok(token)
}

/// What a queued item carries changed: if it is in flight, it is sent again once answered.
pub(crate) fn carries_anew(core: &mut Core, token: Token) {
    if let Some(f) = core.in_flight.get_mut(&token) {
        f.stale = true;
    }
}

/// Sends a queued item again as the step ends.
pub(crate) fn send_soon(core: &mut Core, token: Token) {
    if !core.to_send.contains(&token) {
        core.to_send.push(token);
    }
}

/// The item's row: the one of its topic made due now, or a new one. It leaves at the next
/// send of due items, not as the step ends.
pub(crate) fn insert(
    tx: &mut Tx<'_>,
    env: &Env<'_>,
    to: &InstitutionId,
    item: &Item,
    staff: Option<&StaffId>,
) -> anyhow::Result<Token> {
    if let Some(topic) = item.topic() {
        let existing: Option<i64> = tx
            .db
            .prepare_cached("SELECT id FROM outbox WHERE recipient = ?1 AND topic = ?2")?
            .query_row(rusqlite::params![to.as_str(), topic], |r| r.get(0))
            .optional()?;
        if let Some(id) = existing {
            tx.db
                .prepare_cached("UPDATE outbox SET next_attempt = ?2 WHERE id = ?1")?
                .execute(rusqlite::params![id, env.now as i64])?;
            // A history sent back is replaced: the newer judgement of what its recipient lacks
            // wins, and an answer carries its events. The others are built as they leave.
            if matches!(
                item,
                Item::CaseHistoryBack { .. }
                    | Item::CaseHistoryBackUntil { .. }
                    | Item::CaseHistoryAnswer { .. }
            ) {
                tx.db
                    .prepare_cached("UPDATE outbox SET message = ?2 WHERE id = ?1")?
                    .execute(rusqlite::params![id, postcard::to_stdvec(item)?])?;
            }
            return Ok(id);
        }
    }
    tx.db.prepare_cached("INSERT INTO outbox (recipient, message, staff, created_at, next_attempt, topic) VALUES (?1, ?2, ?3, ?4, ?4, ?5)")?
        .execute(
        rusqlite::params![
            to.as_str(),
            postcard::to_stdvec(item)?,
            staff.map(|s| s.as_str().to_string()),
            env.now as i64,
            item.topic()
        ],
    )?;
    Ok(tx.db.last_insert_rowid())
}

pub(crate) fn load(tx: &Tx<'_>, token: Token) -> anyhow::Result<Option<Row>> {
    let row: Option<(String, Vec<u8>, Option<String>)> = tx
        .db
        .prepare_cached("SELECT recipient, message, staff FROM outbox WHERE id = ?1")?
        .query_row([token], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((recipient, message, staff)) = row else {
        return Ok(None);
    };
    Ok(Some(Row {
        token,
        recipient: recipient.parse()?,
        item: postcard::from_bytes(&message)?,
        staff: staff.map(|s| s.parse()).transpose()?,
    }))
}

/// Whether a case-history item for `case_id` still waits for `to`: a summary request for that
/// case is held back until the peer knows what this node knows of the case (an acceptance
/// made just before the request, say), else the peer would judge it on an older state.
pub(crate) fn case_change_waits(
    tx: &Tx<'_>,
    to: &InstitutionId,
    case_id: &CaseId,
) -> anyhow::Result<bool> {
    Ok(tx
        .db
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM outbox WHERE recipient = ?1 AND topic = ?2)")?
        .query_row(
            rusqlite::params![to.as_str(), format!("case:{case_id}")],
            |r| r.get(0),
        )?)
}

/// Puts an item off for `seconds` without counting an attempt.
pub(crate) fn postpone(
    tx: &Tx<'_>,
    env: &Env<'_>,
    token: Token,
    seconds: u64,
) -> anyhow::Result<()> {
    tx.db
        .prepare_cached("UPDATE outbox SET next_attempt = ?2 WHERE id = ?1")?
        .execute(rusqlite::params![token, (env.now + seconds) as i64])?;
    Ok(())
}

/// Notes why the last attempt did not settle the item, for `passerelle queue`.
pub(crate) fn note_problem(tx: &Tx<'_>, token: Token, problem: &str) -> anyhow::Result<()> {
    tx.db
        .prepare_cached("UPDATE outbox SET last_problem = ?2 WHERE id = ?1")?
        .execute(rusqlite::params![token, problem])?;
    Ok(())
}

pub(crate) fn remove(tx: &Tx<'_>, token: Token) -> anyhow::Result<()> {
    tx.db
        .prepare_cached("DELETE FROM outbox WHERE id = ?1")?
        .execute([token])?;
    Ok(())
}

/// Counts the attempt that leaves now and schedules the next after `attempts` sends: 2 s,
/// doubling, at most 300 s. Returns this attempt's number and when the item was queued.
fn reschedule(tx: &Tx<'_>, env: &Env<'_>, token: Token) -> anyhow::Result<(i64, i64)> {
    Ok(tx.db.prepare_cached("UPDATE outbox SET attempts = attempts + 1, next_attempt = ?2 + MIN(300, 2 << MIN(attempts, 8)) WHERE id = ?1 RETURNING attempts, created_at")?
        .query_row(
        rusqlite::params![token, env.now as i64],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}

/// What an item carries when it leaves: its message, or first a signature (a summary request
/// signed again with a fresh time, spec §7.6), made off the store thread; the item is sent
/// once it comes back.
pub(crate) enum Carry {
    Message(PeerMessage),
    Sign(Box<SignJob>),
}

impl From<PeerMessage> for Carry {
    fn from(m: PeerMessage) -> Carry {
        Carry::Message(m)
    }
}

/// Hands an item to the driver with what it carries now, as `message` builds it (`None`: the
/// item was settled instead and nothing leaves), unless it is already in flight (then it is
/// sent again once answered).
pub(crate) fn send_with<'t, 'e, M: Into<Carry>>(
    core: &mut Core,
    tx: &mut Tx<'t>,
    env: &mut Env<'e>,
    token: Token,
    to: &InstitutionId,
    message: impl FnOnce(&mut Core, &mut Tx<'t>, &mut Env<'e>) -> Result<Option<M>, Fault>,
) -> Result<Option<Output>, Fault> {
    if let Some(f) = core.in_flight.get_mut(&token)
        && env.now.saturating_sub(f.since) < crate::state::IN_FLIGHT_TIMEOUT
    {
        f.stale = true;
        return Ok(None);
    }
    let message = match message(core, tx, env)?.map(Into::into) {
        None => return Ok(None),
        Some(Carry::Message(m)) => m,
        Some(Carry::Sign(job)) => {
            // Held like a send until the signature is back, so a tick does not ask twice.
            core.in_flight.insert(
                token,
                InFlight {
                    since: env.now,
                    stale: false,
                },
            );
            return Ok(Some(Output::Work(Work::Sign(job))));
        }
    };
    // The next attempt is scheduled as the item leaves: an answer that never comes is retried.
    let (attempt, queued_at) = reschedule(tx, env, token)?;
    core.in_flight.insert(
        token,
        InFlight {
            since: env.now,
            stale: false,
        },
    );
    Ok(Some(Output::Send {
        token,
        to: to.clone(),
        message,
        attempt: u32::try_from(attempt).unwrap_or(u32::MAX),
        queued_at: u64::try_from(queued_at).unwrap_or(0),
    }))
}

/// After a roster change, every waiting item is due at once: a peer that refused for want of
/// the new roster may take it now.
pub(crate) fn all_due(tx: &Tx<'_>, env: &Env<'_>) -> anyhow::Result<()> {
    tx.db
        .prepare_cached("UPDATE outbox SET next_attempt = MIN(next_attempt, ?1)")?
        .execute([env.now as i64])?;
    Ok(())
}
