//! The dashboard member's part in an overlap round (spec/statistics.md §10.3, §10.6): a
//! coordinator starts the month's round (or its next attempt), the final sets are kept until
//! all `N` are in, their sizes are compared with the sectors' signed reports, the count and
//! the outcome's signature are done off the store thread, and only the published, suppressed
//! figures are kept; the sets are deleted with the outcome.

use super::jobs::CountJob;
use super::{
    Role, RoundRow, insert_round, load_round, log_end, log_outcome, log_round, rounds_of_month,
    send, set_state,
};
use crate::io::{Env, Fault, Output, Ticket, bad};
use crate::jobs::{SignJob, Then, Unsigned, Work};
use crate::outbox::Item;
use crate::state::Core;
use crate::store::Tx;
use protocol_spec::entry::PsiEndReason;
use protocol_spec::ids::{InstitutionId, StaffId};
use protocol_spec::keys::sha256;
use protocol_spec::staff::StaffReply;
use protocol_spec::stats::psi::{
    BlindedSet, MAX_ATTEMPTS, MAX_ROUND_SECONDS, PsiRound, RoundId, SignedPsiOutcome, SignedPsiSet,
    SignedPsiStart, size_from_report,
};
use protocol_spec::stats::{
    Month, OverlapRound, OverlapRounds, PublishedOverlap, RoundState, SignedStatsReport,
};
use rusqlite::OptionalExtension;

/// How long a round runs: an hour short of the 7 days a participant accepts, so that a
/// participant whose clock is ahead of this node's still takes part (spec/statistics.md
/// §10.10).
const ROUND_SECONDS: u64 = MAX_ROUND_SECONDS - 3600;

/// `StatsOverlap`: starts the month's first round, or with `again` the next attempt after one
/// that published no figure (its start is signed off the store thread, then [`start_signed`]
/// records and sends it); answers with every attempt of the month.
pub(crate) fn overlap_request(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    ticket: Ticket,
    staff: &StaffId,
    month: Month,
    again: bool,
) -> Result<Vec<Output>, Fault> {
    let cfg = crate::stats::config(core)?;
    match &cfg.dashboard {
        Some(d) if d == &core.me => {}
        Some(d) => {
            return Err(bad(format!(
                "this node is not the statistics dashboard; the roster names {d}, which starts the overlap rounds"
            )));
        }
        None => return Err(bad("the roster names no statistics dashboard member")),
    }
    let threshold = cfg.threshold;
    let text = month.to_string();
    let rounds = rounds_of_month(tx, &text, Role::Dashboard)?;
    let attempt = match rounds.last() {
        None => 0,
        Some(last) if published(last)? => {
            if again {
                return Err(bad(format!(
                    "the round of {text} completed (attempt {}); a month's round runs again only when it published no figure",
                    last.round.attempt
                )));
            }
            return reply(tx, ticket, month, None, Vec::new());
        }
        // Running, or ended without figures (refused, expired, abandoned, or a size that
        // differed from a report): reported; `again` starts the next attempt.
        Some(_) if !again => return reply(tx, ticket, month, None, Vec::new()),
        Some(last) => {
            if last.round.attempt + 1 >= MAX_ATTEMPTS {
                return Err(bad(format!(
                    "the rounds of {text} are used up: {MAX_ATTEMPTS} attempts a month at most"
                )));
            }
            if last.state == "running" {
                abandon(tx, env, last)?;
            }
            last.round.attempt + 1
        }
    };
    if month.instants().1 > env.now {
        return Err(bad(format!(
            "{text} has not ended; its overlap is counted once it has"
        )));
    }
    let roster = &core.roster.roster;
    let round = PsiRound {
        federation: roster.federation.clone(),
        month,
        roster_version: roster.version,
        attempt,
        dashboard: core.me.clone(),
        participants: super::ring(core, &core.me),
        threshold,
        expires_at: env.now + ROUND_SECONDS,
    };
    round
        .check()
        .map_err(|e| bad(format!("no round can be started: {e}")))?;
    Ok(vec![Output::Work(Work::Sign(Box::new(SignJob {
        then: Then::Staff {
            ticket,
            staff: staff.clone(),
        },
        what: Unsigned::RoundStart(Box::new(round)),
    })))])
}

/// A round's start signed off the store thread: recorded, logged and sent to every
/// participant, unless another round took its attempt meanwhile.
pub(crate) fn start_signed(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    ticket: Ticket,
    staff: &StaffId,
    start: SignedPsiStart,
) -> Result<Vec<Output>, Fault> {
    core.signer(staff)?;
    let month = start.round.month;
    let attempt = start.round.attempt;
    let text = month.to_string();
    if rounds_of_month(tx, &text, Role::Dashboard)?
        .iter()
        .any(|r| r.round.attempt >= attempt)
    {
        return Err(bad(format!(
            "another round of {text} was started meanwhile; nothing was sent"
        )));
    }
    insert_round(tx, env, &start, Role::Dashboard)?;
    log_round(tx, env, &start.round, None)?;
    let out = Vec::new();
    for p in start.round.participants.clone() {
        send(core, tx, env, &p, Item::PsiStart(Box::new(start.clone())))?;
    }
    reply(tx, ticket, month, Some(attempt), out)
}

/// Whether an attempt published figures: then the month's round is done.
fn published(r: &RoundRow) -> anyhow::Result<bool> {
    let Some(bytes) = r.outcome.as_deref() else {
        return Ok(false);
    };
    let o: SignedPsiOutcome = postcard::from_bytes(bytes)?;
    Ok(o.outcome.overlap.is_some())
}

fn reply(
    tx: &Tx<'_>,
    ticket: Ticket,
    month: Month,
    started: Option<u8>,
    mut out: Vec<Output>,
) -> Result<Vec<Output>, Fault> {
    let rounds = rounds_of_month(tx, &month.to_string(), Role::Dashboard)?
        .into_iter()
        .map(|r| describe(tx, r))
        .collect::<anyhow::Result<Vec<_>>>()?;
    out.push(Output::StaffReply {
        ticket,
        reply: StaffReply::Overlap(Box::new(OverlapRounds {
            month,
            started,
            rounds,
        })),
    });
    Ok(out)
}

fn describe(tx: &Tx<'_>, r: RoundRow) -> anyhow::Result<OverlapRound> {
    let received: u32 = tx.db.query_row(
        "SELECT COUNT(*) FROM psi_messages WHERE round = ?1 AND direction = 'received'",
        [r.id.to_vec()],
        |row| row.get(0),
    )?;
    let outcome: Option<SignedPsiOutcome> =
        r.outcome.as_deref().map(postcard::from_bytes).transpose()?;
    Ok(OverlapRound {
        month: r.round.month,
        attempt: r.round.attempt,
        round: r.id,
        participants: r.round.participants.clone(),
        threshold: r.round.threshold,
        started_at: r.started_at,
        expires_at: r.round.expires_at,
        state: r.state.parse().unwrap_or(RoundState::Running),
        sets_received: received,
        problem: r.problem,
        sizes: outcome
            .as_ref()
            .map(|o| o.outcome.sizes.clone())
            .unwrap_or_default(),
        overlap: outcome.and_then(|o| o.outcome.overlap),
    })
}

/// A coordinator starts the next attempt: this one will not complete; its sets go.
fn abandon(tx: &mut Tx<'_>, env: &Env<'_>, r: &RoundRow) -> anyhow::Result<()> {
    set_state(
        tx,
        &r.id,
        "abandoned",
        Some("a coordinator started the next attempt"),
    )?;
    tx.db.execute(
        "DELETE FROM psi_final_sets WHERE round = ?1",
        [r.id.to_vec()],
    )?;
    tx.db.execute(
        "DELETE FROM outbox WHERE topic LIKE ?1",
        [format!("psi:{}:%", hex::encode(r.id))],
    )?;
    log_end(tx, env, &r.id, PsiEndReason::Stopped)
}

/// A final set, checked: kept until the `N` are in; then their sizes are compared with the
/// sectors' reports and the count is handed out.
pub(crate) fn final_set(
    tx: &mut Tx<'_>,
    row: &RoundRow,
    m: SignedPsiSet,
) -> Result<Vec<Output>, Fault> {
    tx.db.execute(
        "INSERT INTO psi_final_sets (round, origin, elements) VALUES (?1, ?2, ?3)",
        rusqlite::params![
            row.id.to_vec(),
            m.set.origin.as_str(),
            postcard::to_stdvec(&m.set.set)?
        ],
    )?;
    let n = row.round.participants.len();
    let held: i64 = tx.db.query_row(
        "SELECT COUNT(*) FROM psi_final_sets WHERE round = ?1",
        [row.id.to_vec()],
        |r| r.get(0),
    )?;
    if (held as usize) < n {
        return Ok(Vec::new());
    }
    let mut sets = Vec::with_capacity(n);
    for origin in &row.round.participants {
        let bytes: Vec<u8> = tx.db.query_row(
            "SELECT elements FROM psi_final_sets WHERE round = ?1 AND origin = ?2",
            rusqlite::params![row.id.to_vec(), origin.as_str()],
            |r| r.get(0),
        )?;
        sets.push((origin.clone(), postcard::from_bytes::<BlindedSet>(&bytes)?));
    }
    let (publish, sizes_note, problem) = compare_sizes(tx, &row.round, &sets)?;
    if let Some(p) = problem {
        set_state(tx, &row.id, "running", Some(&p))?;
    }
    Ok(vec![Output::Work(Work::Count(Box::new(CountJob {
        round: row.round.clone(),
        sets,
        publish,
        sizes_note,
    })))])
}

/// Step 1 of spec/statistics.md §10.6: each set's size against its sector's signed report of
/// the month. Returns whether the figures may be published, the `sizes` of the `psi-outcome`
/// entry, and the problem when a size differs.
fn compare_sizes(
    tx: &Tx<'_>,
    round: &PsiRound,
    sets: &[(InstitutionId, BlindedSet)],
) -> anyhow::Result<(bool, String, Option<String>)> {
    let mut notes = Vec::new();
    let mut differ = Vec::new();
    for (origin, set) in sets {
        let signed: Option<Vec<u8>> = tx
            .db
            .query_row(
                "SELECT signed FROM stats_received WHERE institution = ?1 AND month = ?2 ORDER BY sequence DESC LIMIT 1",
                rusqlite::params![origin.as_str(), round.month.to_string()],
                |r| r.get(0),
            )
            .optional()?;
        let expected = match signed {
            Some(bytes) => {
                let s: SignedStatsReport = postcard::from_bytes(&bytes)?;
                size_from_report(
                    s.report.activity.persons_followed,
                    s.report.privacy.is_some(),
                    round.threshold,
                )
            }
            None => None,
        };
        match expected {
            None => notes.push(format!("{origin}=not-compared")),
            Some(n) if n == set.len() as u64 => {}
            Some(n) => {
                notes.push(format!("{origin}=differs"));
                differ.push(format!(
                    "the set of {origin} holds {} elements; its report implies {n}",
                    set.len()
                ));
            }
        }
    }
    let note = if notes.is_empty() {
        "match".to_string()
    } else {
        notes.join(" ")
    };
    let problem = (!differ.is_empty()).then(|| {
        format!(
            "no figure published: {}; a sector's set must be the persons its report counts",
            differ.join("; ")
        )
    });
    Ok((differ.is_empty(), note, problem))
}

/// The outcome, counted and signed: the published figures kept, the sets deleted, the
/// outcome logged and queued for every participant.
pub(crate) fn counted(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    round: RoundId,
    sizes_note: String,
    outcome: Result<SignedPsiOutcome, String>,
) -> Result<Vec<Output>, Fault> {
    let Some(row) = load_round(tx, &round)?.filter(|r| r.role == Role::Dashboard) else {
        return Ok(Vec::new());
    };
    if row.state != "running" {
        return Ok(Vec::new());
    }
    let outcome = outcome.map_err(|e| {
        Fault::Local(anyhow::anyhow!(
            "the round's final sets could not be counted: {e}"
        ))
    })?;
    let digest = sha256(&[&outcome.outcome.signing_input()]);
    tx.db.execute(
        "UPDATE psi_rounds SET state = 'complete', outcome = ?2, published_at = ?3 WHERE round = ?1",
        rusqlite::params![round.to_vec(), postcard::to_stdvec(&outcome)?, env.now as i64],
    )?;
    tx.db.execute(
        "DELETE FROM psi_final_sets WHERE round = ?1",
        [round.to_vec()],
    )?;
    log_outcome(tx, env, &round, &digest, &sizes_note)?;
    let out = Vec::new();
    for p in row.round.participants.clone() {
        send(
            core,
            tx,
            env,
            &p,
            Item::PsiOutcome(Box::new(outcome.clone())),
        )?;
    }
    Ok(out)
}

/// The published overlap of each month the dashboard shows: the latest complete attempt
/// that published figures.
pub(crate) fn attach_overlaps(tx: &Tx<'_>, reply: &mut StaffReply) -> Result<(), Fault> {
    let StaffReply::Dashboard(d) = reply else {
        return Ok(());
    };
    for m in &mut d.months {
        let rounds = rounds_of_month(tx, &m.month.to_string(), Role::Dashboard)?;
        for r in rounds.into_iter().rev() {
            let Some(bytes) = r.outcome.as_deref() else {
                continue;
            };
            let o: SignedPsiOutcome = postcard::from_bytes(bytes)?;
            if let Some(overlap) = o.outcome.overlap {
                m.overlap = Some(PublishedOverlap {
                    attempt: r.round.attempt,
                    round: r.id,
                    published_at: r.published_at.unwrap_or(0),
                    overlap,
                });
                break;
            }
        }
    }
    Ok(())
}
