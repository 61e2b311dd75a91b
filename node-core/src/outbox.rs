//! The outbox: every message to a peer is first a durable outbox item, then a send. An item
//! leaves the outbox when the peer has answered it; until then it is sent again with backoff,
//! and what it carries is rebuilt at each send (the latest case history and roster; a summary
//! request re-checked against the requester's own state, spec §7.6).

use crate::{Core, Env, Fault, Output, Token, Tx, cases, requester};
use protocol_spec::exchange::RefusalCode;
use protocol_spec::ids::{CaseId, InstitutionId, RequestId, StaffId};
use protocol_spec::peer::{PeerMessage, PeerReply};
use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};

/// What an outbox item carries. Encoded with postcard in the store; variant order is fixed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Item {
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
    /// As `CaseHistoryBack`, to an institution this node counts removed: only the events up
    /// to `until` in canonical order (its removal, or the latest event it showed it holds,
    /// whichever is later), so it learns nothing newer than what it already knew (spec §6.4).
    CaseHistoryBackUntil {
        case_id: CaseId,
        until: (u64, [u8; 16]),
    },
}

impl Item {
    /// Items with a topic are kept once per recipient: a newer change rides on the queued one.
    fn topic(&self) -> Option<String> {
        match self {
            Item::CaseHistory { case_id } => Some(format!("case:{case_id}")),
            Item::Roster => Some("roster".into()),
            Item::CaseHistoryBack { case_id } | Item::CaseHistoryBackUntil { case_id, .. } => {
                Some(format!("case-back:{case_id}"))
            }
            Item::Summary { .. } | Item::LegacySummary { .. } => None,
        }
    }
}

/// An item handed to the driver and not answered yet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InFlight {
    since: u64,
    /// What it carries changed after it left: send it again once answered.
    stale: bool,
}

/// A summary request waiting longer than this is withdrawn and reported.
pub const SUMMARY_REQUEST_EXPIRY: u64 = 7 * 24 * 3600;

pub(crate) struct Row {
    pub token: Token,
    pub recipient: InstitutionId,
    pub item: Item,
    pub staff: Option<StaffId>,
}

pub(crate) fn enqueue(
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    to: &InstitutionId,
    item: &Item,
    staff: Option<&StaffId>,
) -> anyhow::Result<Token> {
    if let Some(topic) = item.topic() {
        let existing: Option<i64> = tx
            .db
            .query_row(
                "SELECT id FROM outbox WHERE recipient = ?1 AND topic = ?2",
                rusqlite::params![to.as_str(), topic],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(id) = existing {
            tx.db.execute(
                "UPDATE outbox SET next_attempt = ?2 WHERE id = ?1",
                rusqlite::params![id, env.now as i64],
            )?;
            return Ok(id);
        }
    }
    tx.db.execute(
        "INSERT INTO outbox (recipient, message, staff, created_at, next_attempt, topic) VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
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
        .query_row(
            "SELECT recipient, message, staff FROM outbox WHERE id = ?1",
            [token],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
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
    Ok(tx.db.query_row(
        "SELECT EXISTS(SELECT 1 FROM outbox WHERE recipient = ?1 AND topic = ?2)",
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
    tx.db.execute(
        "UPDATE outbox SET next_attempt = ?2 WHERE id = ?1",
        rusqlite::params![token, (env.now + seconds) as i64],
    )?;
    Ok(())
}

/// Notes why the last attempt did not settle the item, for `passerelle queue`.
pub(crate) fn note_problem(tx: &Tx<'_>, token: Token, problem: &str) -> anyhow::Result<()> {
    tx.db.execute(
        "UPDATE outbox SET last_problem = ?2 WHERE id = ?1",
        rusqlite::params![token, problem],
    )?;
    Ok(())
}

pub(crate) fn remove(tx: &Tx<'_>, token: Token) -> anyhow::Result<()> {
    tx.db.execute("DELETE FROM outbox WHERE id = ?1", [token])?;
    Ok(())
}

/// The next attempt after `attempts` sends: 2 s, doubling, at most 300 s.
fn reschedule(tx: &Tx<'_>, env: &Env<'_>, token: Token) -> anyhow::Result<()> {
    tx.db.execute(
        "UPDATE outbox SET attempts = attempts + 1, next_attempt = ?2 + MIN(300, 2 << MIN(attempts, 8)) WHERE id = ?1",
        rusqlite::params![token, env.now as i64],
    )?;
    Ok(())
}

/// Builds what an item carries now and hands it to the driver, unless it is already in flight
/// (then it is sent again once answered).
pub(crate) fn send_now(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    token: Token,
    to: &InstitutionId,
    item: &Item,
    staff: Option<&StaffId>,
) -> Result<Option<Output>, Fault> {
    if let Some(f) = core.in_flight.get_mut(&token)
        && env.now.saturating_sub(f.since) < crate::IN_FLIGHT_TIMEOUT
    {
        f.stale = true;
        return Ok(None);
    }
    let message = match item {
        Item::CaseHistory { case_id } => match cases::history_for(tx, case_id, to)? {
            Some(events) => PeerMessage::CaseHistory {
                case_id: *case_id,
                events,
            },
            // The recipient left the case (or it is gone): nothing more reaches it.
            None => {
                remove(tx, token)?;
                return Ok(None);
            }
        },
        Item::Roster => PeerMessage::Roster(core.roster.clone()),
        Item::CaseHistoryBackUntil { case_id, until } => match cases::load_case(tx.db, case_id)? {
            Some(c) => PeerMessage::CaseHistory {
                case_id: *case_id,
                events: c.history_until(*until),
            },
            None => {
                remove(tx, token)?;
                return Ok(None);
            }
        },
        Item::CaseHistoryBack { case_id } => match cases::load_case(tx.db, case_id)? {
            // A removed institution learns nothing after its removal.
            Some(c) => PeerMessage::CaseHistory {
                case_id: *case_id,
                events: c.history_until_removal(to).unwrap_or(c.history),
            },
            None => {
                remove(tx, token)?;
                return Ok(None);
            }
        },
        Item::Summary { request_id } => {
            match requester::message_for(core, tx, env, token, request_id, staff)? {
                Some(m) => m,
                None => return Ok(None),
            }
        }
        Item::LegacySummary { .. } => {
            tracing::warn!("a summary request queued by an earlier version is not sent");
            remove(tx, token)?;
            return Ok(None);
        }
    };
    // The next attempt is scheduled as the item leaves: an answer that never comes is retried.
    reschedule(tx, env, token)?;
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
    }))
}

/// Sends the items that are due.
pub(crate) fn tick(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
) -> Result<Vec<Output>, Fault> {
    let due: Vec<Token> = {
        let mut st = tx.db.prepare_cached(
            "SELECT id FROM outbox WHERE next_attempt <= ?1 ORDER BY next_attempt, id LIMIT 64",
        )?;
        let rows = st.query_map([env.now as i64], |r| r.get(0))?;
        rows.collect::<Result<_, _>>()?
    };
    let mut out = Vec::new();
    for token in due {
        if core
            .in_flight
            .get(&token)
            .is_some_and(|f| env.now.saturating_sub(f.since) < crate::IN_FLIGHT_TIMEOUT)
        {
            continue;
        }
        let Some(row) = load(tx, token)? else {
            continue;
        };
        if core.roster.roster.member(&row.recipient).is_none() {
            // Nothing may be sent to a member the roster no longer lists.
            out.extend(give_up(core, tx, env, &row, "recipient-removed")?);
            continue;
        }
        if let Some(send) = send_now(
            core,
            tx,
            env,
            token,
            &row.recipient,
            &row.item,
            row.staff.as_ref(),
        )? {
            out.push(send);
        }
    }
    Ok(out)
}

/// Removes an item that will never be delivered, and tells whoever waits for it.
fn give_up(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    row: &Row,
    reason: &str,
) -> Result<Vec<Output>, Fault> {
    tracing::warn!(peer = %row.recipient, reason, "an outbox item is given up");
    match &row.item {
        Item::Summary { request_id } => {
            requester::withdraw(core, tx, env, row.token, request_id, reason)
        }
        _ => {
            remove(tx, row.token)?;
            Ok(cases::delivery_answered(core, row.token, false))
        }
    }
}

pub(crate) fn delivered(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    token: Token,
    reply: PeerReply,
) -> Result<Vec<Output>, Fault> {
    // Only the answer to the send in flight counts: a duplicate, or a late answer to a send
    // already given up, must not settle what the item carries now (it is sent again anyway).
    let Some(flight) = core.in_flight.remove(&token) else {
        return Ok(Vec::new());
    };
    let stale = flight.stale;
    let Some(row) = load(tx, token)? else {
        // Already settled: a duplicate or late answer.
        return Ok(Vec::new());
    };
    match &row.item {
        Item::Summary { request_id } => requester::answered(core, tx, env, &row, request_id, reply),
        // Sent once: whatever the answer but `unavailable`, it is settled.
        Item::CaseHistoryBack { .. } | Item::CaseHistoryBackUntil { .. } => {
            if !matches!(&reply, PeerReply::Refusal(r) if r.code == RefusalCode::Unavailable) {
                remove(tx, token)?;
            }
            Ok(Vec::new())
        }
        Item::CaseHistory { .. } | Item::Roster | Item::LegacySummary { .. } => {
            let accepted = matches!(reply, PeerReply::Accepted);
            if accepted && matches!(row.item, Item::CaseHistory { .. }) {
                // Requests held back until the peer knew of this case change may leave now.
                tx.db.execute(
                    "UPDATE outbox SET next_attempt = MIN(next_attempt, ?2) WHERE recipient = ?1 AND topic IS NULL",
                    rusqlite::params![row.recipient.as_str(), env.now as i64],
                )?;
            }
            match reply {
                PeerReply::Accepted if stale => {
                    tx.db.execute(
                        "UPDATE outbox SET next_attempt = ?2 WHERE id = ?1",
                        rusqlite::params![token, env.now as i64],
                    )?;
                }
                PeerReply::Accepted => remove(tx, token)?,
                // The recipient does not take part in the case (it left, or never joined):
                // nothing more about the case goes to it.
                PeerReply::Refusal(r) if r.code == RefusalCode::NotConcerned => {
                    tracing::info!(peer = %row.recipient, "a peer is not concerned by a case any more");
                    remove(tx, token)?
                }
                // Not taken: kept, with the reason, and sent again with backoff. A peer may
                // refuse for a while (a roster it has not adopted yet, a failed write); what
                // it keeps refusing stays visible in `passerelle queue`, never dropped silently.
                other => {
                    let problem = match &other {
                        PeerReply::Rejected { reason } => format!("rejected: {reason}"),
                        PeerReply::Refusal(r) if r.code == RefusalCode::Unavailable => {
                            "the peer could not record it".to_string()
                        }
                        other => format!("unexpected answer: {}", crate::reply_name(other)),
                    };
                    tracing::warn!(peer = %row.recipient, %problem, "a peer did not accept a queued message");
                    note_problem(tx, token, &bounded(&problem))?;
                }
            }
            Ok(cases::delivery_answered(core, token, accepted))
        }
    }
}

/// At most 200 bytes of a peer's text, cut on a character boundary.
fn bounded(text: &str) -> String {
    let mut end = text.len().min(200);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

/// After a roster change, every waiting item is due at once: a peer that refused for want of
/// the new roster may take it now.
pub(crate) fn all_due(tx: &Tx<'_>, env: &Env<'_>) -> anyhow::Result<()> {
    tx.db.execute(
        "UPDATE outbox SET next_attempt = MIN(next_attempt, ?1)",
        [env.now as i64],
    )?;
    Ok(())
}

pub(crate) fn unreachable(
    core: &mut Core,
    tx: &mut Tx<'_>,
    token: Token,
) -> Result<Vec<Output>, Fault> {
    if core.in_flight.remove(&token).is_none() {
        return Ok(Vec::new());
    }
    let Some(row) = load(tx, token)? else {
        return Ok(Vec::new());
    };
    note_problem(tx, token, "unreachable")?;
    if let Item::Summary { .. } = row.item
        && let Some(ticket) = core.waiting.remove(&token)
    {
        return Ok(vec![Output::StaffReply {
            ticket,
            reply: protocol_spec::staff::StaffReply::Summary(
                protocol_spec::staff::SummaryOutcome::Queued,
            ),
        }]);
    }
    Ok(cases::delivery_answered(core, token, false))
}
