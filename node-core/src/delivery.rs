//! Sending what the outbox holds and settling the answers: items due are sent with what they
//! carry now, and a peer's answer, or its being unreachable, settles the item and tells
//! whoever waits for it (the requester's staff member, a case change awaiting its peers).

use crate::io::{Env, Fault, Output, Token};
use crate::outbox::{self, Carry, Item, Row, load, note_problem, remove};
use crate::state::Core;
use crate::store::Tx;
use crate::{cases, notices, requester, roster, stats};
use protocol_spec::exchange::RefusalCode;
use protocol_spec::ids::{InstitutionId, StaffId};
use protocol_spec::peer::{PeerMessage, PeerReply};

/// Sends the items the step queued ([`outbox::enqueue`], [`outbox::send_soon`]), with what
/// they carry as it ends.
pub(crate) fn send_queued(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
) -> Result<Vec<Output>, Fault> {
    let queued = std::mem::take(&mut core.to_send);
    send(core, tx, env, queued)
}

/// How many roster offers may be in flight at once. Adopting a roster offers it to every other
/// member (spec §5.4): in a federation of 10,000, each offer holds a connection attempt (about
/// 33 KiB, for up to 5 s when the member is unreachable), so the rest wait in the outbox and
/// leave one by one as these are answered or found unreachable. Other messages never wait for
/// them. The roster itself, when sent, is encoded once for all its sends (the driver's part).
pub const ROSTERS_IN_FLIGHT: usize = 256;

/// Sends the items `tokens` with what they carry now. One settled meanwhile (a request
/// withdrawn, say) is skipped; one for a member the roster no longer lists is given up; a
/// roster offer waits while [`ROSTERS_IN_FLIGHT`] are in flight, unless its recipient was heard
/// from lately.
pub(crate) fn send(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    tokens: Vec<Token>,
) -> Result<Vec<Output>, Fault> {
    let mut out = Vec::new();
    for token in tokens {
        let Some(row) = load(tx, token)? else {
            continue;
        };
        if core.roster.roster.member(&row.recipient).is_none() {
            // Nothing may be sent to a member the roster no longer lists.
            out.extend(give_up(core, tx, env, &row, "recipient-removed")?);
            continue;
        }
        let roster = matches!(row.item, Item::Roster);
        if roster
            && !core.rosters_in_flight.contains(&token)
            && !roster::heard_lately(core, &row.recipient, env.now)
            && roster_slots(core, env) == 0
        {
            continue;
        }
        let sent = send_now(
            core,
            tx,
            env,
            token,
            &row.recipient,
            &row.item,
            row.staff.as_ref(),
        )?;
        if roster && sent.is_some() {
            core.rosters_in_flight.insert(token);
        }
        out.extend(sent);
    }
    Ok(out)
}

/// Free places for roster messages; one whose flight timed out no longer holds its place.
fn roster_slots(core: &mut Core, env: &Env<'_>) -> usize {
    let in_flight = &core.in_flight;
    core.rosters_in_flight.retain(|t| {
        in_flight
            .get(t)
            .is_some_and(|f| env.now.saturating_sub(f.since) < crate::state::IN_FLIGHT_TIMEOUT)
    });
    ROSTERS_IN_FLIGHT.saturating_sub(core.rosters_in_flight.len())
}

/// Sends the roster items that are due, as many as there are free places, oldest first.
pub(crate) fn send_due_rosters(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
) -> Result<Vec<Output>, Fault> {
    let slots = roster_slots(core, env);
    if slots == 0 {
        return Ok(Vec::new());
    }
    // Those in flight may be due again already (their retry is scheduled as they leave).
    let due: Vec<Token> = {
        let mut st = tx.db.prepare_cached(
            "SELECT id FROM outbox WHERE topic = 'roster' AND next_attempt <= ?1 ORDER BY next_attempt, id LIMIT ?2",
        )?;
        let rows = st.query_map(
            rusqlite::params![env.now as i64, (slots + ROSTERS_IN_FLIGHT) as i64],
            |r| r.get(0),
        )?;
        rows.collect::<Result<_, _>>()?
    };
    let due = due
        .into_iter()
        .filter(|t| !core.rosters_in_flight.contains(t))
        .take(slots)
        .collect();
    send(core, tx, env, due)
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
    outbox::send_with(core, tx, env, token, to, |core, tx, env| {
        let message = match item {
            Item::Summary { request_id } => {
                return requester::message_for(core, tx, env, token, request_id, staff);
            }
            Item::CaseHistory { case_id } => cases::history_message(tx, token, case_id, to)?,
            Item::Roster => Some(roster::message(core, token)),
            Item::CaseHistoryBack { case_id } => {
                cases::history_back_message(tx, token, case_id, to)?
            }
            Item::CaseHistoryBackUntil { case_id, until } => {
                cases::history_until_message(tx, token, case_id, *until)?
            }
            Item::ChangeNotice { case_id } => Some(notices::message(case_id)),
            Item::CaseHistoryAnswer { case_id, events } => Some(PeerMessage::CaseHistory {
                case_id: *case_id,
                events: events.clone(),
            }),
            Item::StatsReport { month } => stats::delivery_message(tx, *month)?,
            Item::PsiStart(_) | Item::PsiSet(_) | Item::PsiOutcome(_) => {
                Some(stats::psi::message(item))
            }
            Item::LegacySummary { .. } => {
                tracing::warn!("a summary request queued by an earlier version is not sent");
                outbox::remove(tx, token)?;
                None
            }
        };
        Ok(message.map(Carry::Message))
    })
}

/// Sends the items that are due.
pub(crate) fn tick(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
) -> Result<Vec<Output>, Fault> {
    let due: Vec<Token> = {
        let mut st = tx.db.prepare_cached(
            "SELECT id FROM outbox WHERE next_attempt <= ?1 AND topic IS NOT 'roster' ORDER BY next_attempt, id LIMIT 64",
        )?;
        let rows = st.query_map([env.now as i64], |r| r.get(0))?;
        rows.collect::<Result<_, _>>()?
    };
    // Those in flight are sent again once answered (or once their flight timed out).
    let due =
        due.into_iter()
            .filter(|token| {
                !core.in_flight.get(token).is_some_and(|f| {
                    env.now.saturating_sub(f.since) < crate::state::IN_FLIGHT_TIMEOUT
                })
            })
            .collect();
    let mut out = send(core, tx, env, due)?;
    out.extend(send_due_rosters(core, tx, env)?);
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
            Ok(core.delivery_answered(row.token, false))
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
    landed(core, tx, env, token, |core, tx, env| {
        settle_delivered(core, tx, env, token, reply)
    })
}

/// Settles a send that ended, answered or not; a roster offer leaves its place to the next.
fn landed<'t, 'e>(
    core: &mut Core,
    tx: &mut Tx<'t>,
    env: &mut Env<'e>,
    token: Token,
    settle: impl FnOnce(&mut Core, &mut Tx<'t>, &mut Env<'e>) -> Result<Vec<Output>, Fault>,
) -> Result<Vec<Output>, Fault> {
    let roster = core.rosters_in_flight.remove(&token);
    let mut out = settle(core, tx, env)?;
    if roster {
        out.extend(send_due_rosters(core, tx, env)?);
    }
    Ok(out)
}

fn settle_delivered(
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
    if !matches!(row.item, Item::Roster) {
        core.heard_from(&row.recipient, env.now);
    }
    if stats::psi::start_answered(tx, env, &row, &reply)? {
        return Ok(Vec::new());
    }
    if let Item::Roster = row.item {
        let whole = core.rosters_wanted.remove(&token);
        // The peer holds an older roster than the version offered, or does not know version
        // offers (a node of an earlier release rejects what it cannot read): the roster itself
        // follows at once, in the place this offer leaves.
        if !whole && matches!(reply, PeerReply::RosterWanted | PeerReply::Rejected { .. }) {
            core.rosters_wanted.insert(token);
            return send(core, tx, env, vec![token]);
        }
    }
    match &row.item {
        Item::Summary { request_id } => requester::answered(core, tx, env, &row, request_id, reply),
        // Sent once: whatever the answer but `unavailable`, it is settled.
        Item::CaseHistoryBack { .. }
        | Item::CaseHistoryBackUntil { .. }
        | Item::CaseHistoryAnswer { .. } => {
            if !matches!(&reply, PeerReply::Refusal(r) if r.code == RefusalCode::Unavailable) {
                remove(tx, token)?;
            }
            Ok(Vec::new())
        }
        Item::CaseHistory { .. }
        | Item::Roster
        | Item::ChangeNotice { .. }
        | Item::StatsReport { .. }
        | Item::PsiStart(_)
        | Item::PsiSet(_)
        | Item::PsiOutcome(_)
        | Item::LegacySummary { .. } => {
            let accepted = matches!(reply, PeerReply::Accepted);
            if accepted && matches!(row.item, Item::CaseHistory { .. }) {
                // Requests held back until the peer knew of this case change may leave now.
                tx.db.prepare_cached("UPDATE outbox SET next_attempt = MIN(next_attempt, ?2) WHERE recipient = ?1 AND topic IS NULL")?
        .execute(
                    rusqlite::params![row.recipient.as_str(), env.now as i64],
                )?;
            }
            match reply {
                PeerReply::Accepted if stale => {
                    tx.db
                        .prepare_cached("UPDATE outbox SET next_attempt = ?2 WHERE id = ?1")?
                        .execute(rusqlite::params![token, env.now as i64])?;
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
                        other => format!("unexpected answer: {}", crate::io::reply_name(other)),
                    };
                    tracing::warn!(peer = %row.recipient, %problem, "a peer did not accept a queued message");
                    note_problem(tx, token, &bounded(&problem))?;
                }
            }
            Ok(core.delivery_answered(token, accepted))
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

pub(crate) fn unreachable(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    token: Token,
) -> Result<Vec<Output>, Fault> {
    // Its version is offered first again: the peer may have taken the roster from another.
    core.rosters_wanted.remove(&token);
    landed(core, tx, env, token, |core, tx, _| {
        settle_unreachable(core, tx, token)
    })
}

fn settle_unreachable(
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
    Ok(core.delivery_answered(token, false))
}
