//! The round that counts the persons followed by several sectors (spec/statistics.md §10), at
//! this node: the dashboard member starts it and counts (`dashboard`), each sector takes part
//! (`participant`); a set message is received, checked and carried on here, by whichever role
//! the node has in the round. The cryptography is handed out as work (`jobs`).
//!
//! What is kept: the round's start and outcome, the size and digest of each set message, and at
//! the dashboard member the final blinded sets until the outcome. A sector's secret lives in
//! the core's memory only ([`Secrets`]): a restart loses it and the round cannot complete
//! there. No person's number, element or secret reaches the store or the log.

mod dashboard;
pub(crate) mod jobs;
mod participant;

pub(crate) use dashboard::{attach_overlaps, counted, overlap_request, start_signed};
pub use jobs::{BlindJob, Checked, CountJob, Hop, PsiDone, ReblindJob, Secret};
pub(crate) use participant::{blinded, receive_outcome, receive_start};

use crate::io::{Env, Fault, Output};
use crate::jobs::Work;
use crate::outbox::{self, Item};
use crate::state::Core;
use crate::store::Tx;
use protocol_spec::entry::{self, Institutions, LogEntry, PsiDirection, PsiEndReason, Text};
use protocol_spec::ids::InstitutionId;
use protocol_spec::keys::PublicKey;
use protocol_spec::peer::{PeerMessage, PeerReply};
use protocol_spec::stats::psi::{PsiError, PsiRound, RoundId, SignedPsiSet, SignedPsiStart};
use rusqlite::OptionalExtension;

/// The node's role in a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Dashboard,
    Participant,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Dashboard => "dashboard",
            Role::Participant => "participant",
        }
    }
}

/// A round as this node recorded it.
pub(crate) struct RoundRow {
    pub(crate) id: RoundId,
    pub(crate) round: PsiRound,
    pub(crate) role: Role,
    pub(crate) state: String,
    pub(crate) started_at: u64,
    pub(crate) problem: Option<String>,
    pub(crate) outcome: Option<Vec<u8>>,
    pub(crate) published_at: Option<u64>,
}

const ROUND_COLUMNS: &str = "round, role, start, state, started_at, problem, outcome, published_at";

fn round_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Vec<u8>, String, Vec<u8>, RowRest)> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        (
            r.get(3)?,
            r.get::<_, i64>(4)?,
            r.get(5)?,
            r.get(6)?,
            r.get::<_, Option<i64>>(7)?,
        ),
    ))
}

type RowRest = (String, i64, Option<String>, Option<Vec<u8>>, Option<i64>);

fn decode_row(
    (id, role, start, (state, started_at, problem, outcome, published_at)): (
        Vec<u8>,
        String,
        Vec<u8>,
        RowRest,
    ),
) -> anyhow::Result<RoundRow> {
    let start: SignedPsiStart = postcard::from_bytes(&start)?;
    Ok(RoundRow {
        id: id
            .try_into()
            .map_err(|_| anyhow::anyhow!("a stored round id is not 32 bytes"))?,
        round: start.round,
        role: if role == "dashboard" {
            Role::Dashboard
        } else {
            Role::Participant
        },
        state,
        started_at: started_at as u64,
        problem,
        outcome,
        published_at: published_at.map(|t| t as u64),
    })
}

pub(crate) fn load_round(tx: &Tx<'_>, id: &RoundId) -> anyhow::Result<Option<RoundRow>> {
    let row = tx
        .db
        .prepare_cached(&format!(
            "SELECT {ROUND_COLUMNS} FROM psi_rounds WHERE round = ?1"
        ))?
        .query_row([id.to_vec()], round_row)
        .optional()?;
    row.map(decode_row).transpose()
}

/// The rounds of `month` this node has `role` in, oldest attempt first.
pub(crate) fn rounds_of_month(
    tx: &Tx<'_>,
    month: &str,
    role: Role,
) -> anyhow::Result<Vec<RoundRow>> {
    let mut st = tx.db.prepare_cached(&format!(
        "SELECT {ROUND_COLUMNS} FROM psi_rounds WHERE month = ?1 AND role = ?2 ORDER BY attempt"
    ))?;
    let rows = st.query_map([month, role.as_str()], round_row)?;
    rows.map(|r| decode_row(r?)).collect()
}

pub(crate) fn insert_round(
    tx: &Tx<'_>,
    env: &Env<'_>,
    start: &SignedPsiStart,
    role: Role,
) -> anyhow::Result<()> {
    let r = &start.round;
    tx.db.prepare_cached(
        "INSERT INTO psi_rounds (round, month, attempt, role, start, started_at, expires_at, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'running')",
    )?
    .execute(rusqlite::params![
        r.id().to_vec(),
        r.month.to_string(),
        r.attempt,
        role.as_str(),
        postcard::to_stdvec(start)?,
        env.now as i64,
        r.expires_at as i64
    ])?;
    Ok(())
}

pub(crate) fn set_state(
    tx: &Tx<'_>,
    id: &RoundId,
    state: &str,
    problem: Option<&str>,
) -> anyhow::Result<()> {
    tx.db
        .prepare_cached(
            "UPDATE psi_rounds SET state = ?2, problem = COALESCE(?3, problem) WHERE round = ?1",
        )?
        .execute(rusqlite::params![id.to_vec(), state, problem])?;
    Ok(())
}

/// The ring of the roster in force: every member but the dashboard member, in roster order.
pub(crate) fn ring(core: &Core, dashboard: &InstitutionId) -> Vec<InstitutionId> {
    core.roster
        .roster
        .members
        .iter()
        .filter(|m| &m.id != dashboard)
        .map(|m| m.id.clone())
        .collect()
}

// ------------------------------------------------------------------------------- the log

fn log(tx: &mut Tx<'_>, e: impl Into<LogEntry>) -> anyhow::Result<()> {
    tx.log(e.into().to_bytes())?;
    Ok(())
}

/// Free text for an entry: one line, bounded.
fn text(s: &str) -> Text {
    let mut end = s.len().min(Text::MAX);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Text::new(&s[..end].replace('\n', " ")).expect("one bounded line")
}

pub(crate) fn log_round(
    tx: &mut Tx<'_>,
    env: &Env<'_>,
    round: &PsiRound,
    reason: Option<&str>,
) -> anyhow::Result<()> {
    log(
        tx,
        entry::PsiRound {
            time: env.now,
            round: round.id(),
            month: round.month,
            attempt: u64::from(round.attempt),
            participants: Institutions(round.participants.clone()),
            reason: text(reason.unwrap_or("-")),
        },
    )
}

/// One end of a set message: its size and digest are logged and kept, for the outcome's
/// comparison and for an auditor reconciling two logs.
pub(crate) fn record_message(
    tx: &mut Tx<'_>,
    env: &Env<'_>,
    m: &SignedPsiSet,
    digest: &[u8; 32],
    direction: PsiDirection,
    peer: &InstitutionId,
) -> anyhow::Result<()> {
    let s = &m.set;
    tx.db.prepare_cached(
        "INSERT INTO psi_messages (round, origin, hop, direction, peer, size, digest) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(rusqlite::params![
        s.round.to_vec(),
        s.origin.as_str(),
        s.hop,
        direction.as_str(),
        peer.as_str(),
        s.set.len() as i64,
        digest.to_vec()
    ])?;
    log(
        tx,
        entry::PsiSet {
            time: env.now,
            round: s.round,
            origin: s.origin.clone(),
            hop: u64::from(s.hop),
            direction,
            peer: peer.clone(),
            size: s.set.len() as u64,
            digest: *digest,
        },
    )
}

pub(crate) fn log_outcome(
    tx: &mut Tx<'_>,
    env: &Env<'_>,
    round: &RoundId,
    digest: &[u8; 32],
    sizes: &str,
) -> anyhow::Result<()> {
    log(
        tx,
        entry::PsiOutcome {
            time: env.now,
            round: *round,
            digest: *digest,
            sizes: text(sizes),
        },
    )
}

pub(crate) fn log_end(
    tx: &mut Tx<'_>,
    env: &Env<'_>,
    round: &RoundId,
    reason: PsiEndReason,
) -> anyhow::Result<()> {
    log(
        tx,
        entry::PsiEnd {
            time: env.now,
            round: *round,
            reason,
        },
    )
}

/// Refuses a set message: logged (`psi-refused`) and answered `Rejected`; nothing of it is
/// kept or forwarded.
fn refuse(
    tx: &mut Tx<'_>,
    env: &Env<'_>,
    m: &SignedPsiSet,
    peer: &InstitutionId,
    reason: String,
) -> Result<Vec<Output>, Fault> {
    let s = &m.set;
    tracing::warn!(origin = %s.origin, hop = s.hop, %peer, %reason, "an overlap set message was refused");
    log(
        tx,
        entry::PsiRefused {
            time: env.now,
            round: s.round,
            origin: s.origin.clone(),
            hop: u64::from(s.hop),
            peer: peer.clone(),
            reason: text(&reason),
        },
    )?;
    Ok(vec![Output::PeerReply(PeerReply::Rejected { reason })])
}

/// Queues a message of a round for `to`; it leaves as the step ends.
pub(crate) fn send(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    to: &InstitutionId,
    item: Item,
) -> Result<(), Fault> {
    outbox::enqueue(core, tx, env, to, &item, None)?;
    Ok(())
}

/// What a queued item of a round carries: the signed message itself.
pub(crate) fn message(item: &Item) -> PeerMessage {
    match item {
        Item::PsiStart(s) => PeerMessage::PsiStart(s.clone()),
        Item::PsiSet(s) => PeerMessage::PsiSet(s.clone()),
        Item::PsiOutcome(s) => PeerMessage::PsiOutcome(s.clone()),
        _ => unreachable!("only the items of a round are built here"),
    }
}

/// The step after a round's job.
pub(crate) fn done(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    d: PsiDone,
) -> Result<Vec<Output>, Fault> {
    match d {
        PsiDone::Blinded { round, set } => blinded(core, tx, env, round, set),
        PsiDone::Reblinded(c) => reblinded(core, tx, env, c),
        PsiDone::Counted {
            round,
            sizes_note,
            outcome,
        } => counted(core, tx, env, round, sizes_note, outcome),
    }
}

// ------------------------------------------------------------------- set messages received

/// A set message, at a participant (hop `h < N`) or at the dashboard member (hop `N`): the
/// checks of spec/statistics.md §10.5 that need no cryptography, then the signature, the
/// elements and the next hop off the store thread ([`Work::Reblind`]); the reply comes from
/// [`reblinded`].
pub(crate) fn receive_set(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    from: &PublicKey,
    m: SignedPsiSet,
) -> Result<Vec<Output>, Fault> {
    let peer = core.sender(from)?;
    let s = &m.set;
    let Some(row) = load_round(tx, &s.round)?.filter(|r| r.round.expires_at > env.now) else {
        return refuse(tx, env, &m, &peer, PsiError::WrongRound.to_string());
    };
    if let Err(e) = m.check_route(&row.round, &core.me) {
        return refuse(tx, env, &m, &peer, e.to_string());
    }
    if peer != s.sender {
        return refuse(
            tx,
            env,
            &m,
            &peer,
            format!(
                "the message names `{}` as its sender, not `{peer}`",
                s.sender
            ),
        );
    }
    let hop = match row.role {
        Role::Dashboard => Hop::Check,
        Role::Participant => match core.psi_secrets.get(&row.id) {
            Some(secret) if row.state == "running" => Hop::Reblind(secret.clone()),
            // A message received before, sent again: its digest decides the answer.
            _ if received_digest(tx, &m)?.is_some() => Hop::Check,
            None if row.state == "running" => {
                stopped(tx, env, &row.id)?;
                return refuse(
                    tx,
                    env,
                    &m,
                    &peer,
                    "this node restarted during the round and no longer holds its secret; the round cannot complete".into(),
                );
            }
            _ => {
                return refuse(
                    tx,
                    env,
                    &m,
                    &peer,
                    format!("this node's part in the round has ended ({})", row.state),
                );
            }
        },
    };
    let sender_key = core
        .roster
        .roster
        .member(&s.sender)
        .map(|m| m.signing_key)
        .ok_or_else(|| crate::io::bad("the sender is not a federation member"))?;
    Ok(vec![Output::Work(Work::Reblind(Box::new(ReblindJob {
        from: *from,
        round: row.round,
        me: core.me.clone(),
        received: m,
        sender_key,
        hop,
    })))])
}

fn received_digest(tx: &Tx<'_>, m: &SignedPsiSet) -> anyhow::Result<Option<Vec<u8>>> {
    let s = &m.set;
    Ok(tx
        .db
        .prepare_cached(
            "SELECT digest FROM psi_messages WHERE round = ?1 AND origin = ?2 AND hop = ?3 AND direction = 'received'",
        )?
        .query_row(
            rusqlite::params![s.round.to_vec(), s.origin.as_str(), s.hop],
            |r| r.get(0),
        )
        .optional()?)
}

/// A participant that lost its secret (it restarted) stops: its part ends.
fn stopped(tx: &mut Tx<'_>, env: &Env<'_>, id: &RoundId) -> anyhow::Result<()> {
    set_state(
        tx,
        id,
        "stopped",
        Some("this node restarted during the round and lost its secret"),
    )?;
    log_end(tx, env, id, PsiEndReason::Stopped)
}

/// The checked set message: refused with the first check that failed, in the order of
/// spec/statistics.md §10.5, or kept: at a participant the next hop's message queued, at the
/// dashboard member the final set; answered `Accepted` only then.
fn reblinded(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    c: Checked,
) -> Result<Vec<Output>, Fault> {
    let Checked {
        from,
        received: m,
        digest,
        signature_ok,
        checked,
    } = c;
    let peer = core.sender(&from)?;
    let Some(row) = load_round(tx, &m.set.round)?.filter(|r| r.round.expires_at > env.now) else {
        return refuse(tx, env, &m, &peer, PsiError::WrongRound.to_string());
    };
    if !signature_ok {
        let reason = PsiError::BadSignature(m.set.sender.clone()).to_string();
        return refuse(tx, env, &m, &peer, reason);
    }
    match received_digest(tx, &m)? {
        Some(d) if d == digest => return Ok(vec![Output::PeerReply(PeerReply::Accepted)]),
        Some(_) => {
            let reason = format!(
                "a different message for the set of `{}` at hop {} was received before: `{}` sent two",
                m.set.origin, m.set.hop, m.set.sender
            );
            return refuse(tx, env, &m, &peer, reason);
        }
        None => {}
    }
    let next = match checked {
        Err(reason) => return refuse(tx, env, &m, &peer, reason),
        Ok(next) => next,
    };
    let mut out = Vec::new();
    match (row.role, next) {
        (Role::Dashboard, _) if row.state == "running" => {
            record_message(tx, env, &m, &digest, PsiDirection::Received, &peer)?;
            out.extend(dashboard::final_set(tx, &row, m)?);
        }
        (Role::Participant, Some(next))
            if row.state == "running" && core.psi_secrets.contains_key(&row.id) =>
        {
            record_message(tx, env, &m, &digest, PsiDirection::Received, &peer)?;
            participant::forward(core, tx, env, &row, next)?;
        }
        _ => {
            let reason = format!("this node's part in the round has ended ({})", row.state);
            return refuse(tx, env, &m, &peer, reason);
        }
    }
    out.insert(0, Output::PeerReply(PeerReply::Accepted));
    Ok(out)
}

// ---------------------------------------------------------------- time, answers, dashboard

/// Rounds past their expiry end: a participant's secret is wiped, the dashboard member's
/// final sets deleted, and every queued message of the round dropped (spec/statistics.md
/// §10.7). A participant that restarted during a round stops it.
pub(crate) fn tick(core: &mut Core, tx: &mut Tx<'_>, env: &mut Env<'_>) -> Result<(), Fault> {
    let mut st = tx
        .db
        .prepare_cached("SELECT round, role, expires_at FROM psi_rounds WHERE state = 'running'")?;
    let rows: Vec<(Vec<u8>, String, i64)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    drop(st);
    for (id, role, expires_at) in rows {
        let id: RoundId = id
            .try_into()
            .map_err(|_| anyhow::anyhow!("a stored round id is not 32 bytes"))?;
        if (expires_at as u64) <= env.now {
            set_state(tx, &id, "expired", None)?;
            tx.db
                .execute("DELETE FROM psi_final_sets WHERE round = ?1", [id.to_vec()])?;
            // Dropping the secret wipes it once no job in flight holds it any more.
            core.psi_secrets.remove(&id);
            log_end(tx, env, &id, PsiEndReason::Expired)?;
        } else if role == "participant" && !core.psi_secrets.contains_key(&id) {
            stopped(tx, env, &id)?;
        }
    }
    // Whatever a round still has queued leaves the outbox at its expiry, sent or not.
    tx.db.execute(
        "DELETE FROM outbox WHERE topic LIKE 'psi:%' AND substr(topic, 5, 64) IN
             (SELECT lower(hex(round)) FROM psi_rounds WHERE expires_at <= ?1)",
        [env.now as i64],
    )?;
    Ok(())
}

/// A participant's answer to a start this node (the dashboard member) sent: a refusal ends
/// the attempt, which cannot complete without that participant. Returns false for the
/// answers the outbox settles as usual.
pub(crate) fn start_answered(
    tx: &mut Tx<'_>,
    env: &Env<'_>,
    row: &outbox::Row,
    reply: &PeerReply,
) -> Result<bool, Fault> {
    let (Item::PsiStart(start), PeerReply::Rejected { reason }) = (&row.item, reply) else {
        return Ok(false);
    };
    let id = start.round.id();
    let problem = format!("{} refused the start: {reason}", row.recipient);
    tracing::warn!(peer = %row.recipient, %reason, "a participant refused an overlap round");
    if load_round(tx, &id)?.is_some_and(|r| r.state == "running") {
        set_state(tx, &id, "refused", Some(&problem))?;
        tx.db
            .execute("DELETE FROM psi_final_sets WHERE round = ?1", [id.to_vec()])?;
        log_end(tx, env, &id, PsiEndReason::Stopped)?;
    }
    outbox::remove(tx, row.token)?;
    Ok(true)
}

#[cfg(test)]
#[path = "psi/tests.rs"]
mod tests;
