//! A sector's part in an overlap round (spec/statistics.md §10.3): it checks the dashboard
//! member's start, records the round before it sends anything, draws its secret, blinds its
//! own set and carries the others' sets one hop on; it wipes its secret once it has sent its
//! `N` messages, and compares the outcome's sizes with what it sent.

use super::jobs::{BlindJob, Secret};
use super::{
    Role, RoundRow, insert_round, load_round, log_end, log_outcome, log_round, record_message,
    ring, send,
};
use crate::io::{Env, Fault, HpkeRng, Output, bad};
use crate::jobs::Work;
use crate::outbox::Item;
use crate::state::Core;
use crate::store::Tx;
use protocol_spec::avs::Avs;
use protocol_spec::entry::{PsiDirection, PsiEndReason};
use protocol_spec::keys::{PublicKey, sha256};
use protocol_spec::peer::PeerReply;
use protocol_spec::stats::psi::{
    MAX_ROUND_SECONDS, MAX_SET, PsiError, RoundId, RoundSecret, SignedPsiOutcome, SignedPsiSet,
    SignedPsiStart,
};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The dashboard member's start: taken part in when every check of §10.3 holds, else refused
/// with the reason, which is logged too. A start received again is answered as the first time.
pub(crate) fn receive_start(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    from: &PublicKey,
    start: SignedPsiStart,
) -> Result<Vec<Output>, Fault> {
    let sender = core.sender(from)?;
    let id = start.round.id();
    if load_round(tx, &id)?.is_some_and(|r| r.role == Role::Participant) {
        return Ok(vec![Output::PeerReply(PeerReply::Accepted)]);
    }
    let persons = match check_start(core, tx, env, &sender, &start) {
        Ok(()) => followed(core, tx, &start)?,
        Err(reason) => Err(reason),
    };
    let persons = match persons {
        Ok(p) => p,
        Err(reason) => {
            tracing::warn!(peer = %sender, %reason, "an overlap round was refused");
            log_round(tx, env, &start.round, Some(&reason))?;
            return Ok(vec![Output::PeerReply(PeerReply::Rejected { reason })]);
        }
    };
    // Recorded before anything leaves: a fourth round of the month, or a second one under this
    // attempt number, is refused from now on, whatever happens to this node.
    insert_round(tx, env, &start, Role::Participant)?;
    log_round(tx, env, &start.round, None)?;
    let secret = Secret(Arc::new(RoundSecret::generate(&mut HpkeRng(env.random))));
    core.psi_secrets.insert(id, secret.clone());
    Ok(vec![
        Output::PeerReply(PeerReply::Accepted),
        Output::Work(Work::Blind(Box::new(BlindJob {
            round: start.round,
            me: core.me.clone(),
            persons,
            secret,
        }))),
    ])
}

/// The checks of spec/statistics.md §10.3, in order; the reason names the first that fails.
fn check_start(
    core: &Core,
    tx: &Tx<'_>,
    env: &Env<'_>,
    sender: &protocol_spec::ids::InstitutionId,
    start: &SignedPsiStart,
) -> Result<(), String> {
    let roster = &core.roster.roster;
    let r = &start.round;
    let dashboard = roster
        .statistics
        .as_ref()
        .and_then(|c| c.dashboard.clone())
        .ok_or("the roster in force names no statistics dashboard member")?;
    if sender != &dashboard || r.dashboard != dashboard {
        return Err(format!(
            "a round is started by the roster's dashboard member `{dashboard}`, not `{sender}`"
        ));
    }
    let key = roster
        .member(&dashboard)
        .map(|m| m.signing_key)
        .ok_or("the dashboard member is not in the roster in force")?;
    r.check().map_err(|e| e.to_string())?;
    if !env
        .verified
        .verify(&key, &r.signing_input(), &start.signature)
    {
        return Err(PsiError::BadSignature(dashboard).to_string());
    }
    if r.federation != roster.federation || r.roster_version != roster.version {
        return Err(format!(
            "the round names roster {} of `{}`; this node holds version {} of `{}`",
            r.roster_version, r.federation, roster.version, roster.federation
        ));
    }
    if r.participants != ring(core, &dashboard) {
        return Err(
            "the participants are not every other member of the roster in force, in its order"
                .into(),
        );
    }
    let threshold = roster.statistics.as_ref().map_or(0, |c| c.threshold);
    if r.threshold != threshold {
        return Err(format!(
            "the round's threshold is {}; the roster's is {threshold}",
            r.threshold
        ));
    }
    if !r.participants.contains(&core.me) {
        return Err(PsiError::NotParticipant(core.me.clone()).to_string());
    }
    if r.month.instants().1 > env.now {
        return Err(format!("{} has not ended by this node's clock", r.month));
    }
    if r.expires_at <= env.now || r.expires_at > env.now + MAX_ROUND_SECONDS {
        return Err("the round's expiry is not within the next 7 days".into());
    }
    let month = r.month.to_string();
    let taken: Vec<(u8, Vec<u8>)> = tx
        .db
        .prepare_cached(
            "SELECT attempt, round FROM psi_rounds WHERE month = ?1 AND role = 'participant'",
        )
        .and_then(|mut st| {
            st.query_map([&month], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
        })
        .map_err(|e| format!("this node could not read its rounds: {e}"))?;
    if taken.iter().any(|(a, _)| *a == r.attempt) || taken.len() >= 3 {
        return Err(format!("the rounds of {month} are used up"));
    }
    Ok(())
}

/// The persons this sector counts as followed in the round's month: the set its monthly
/// report counts (spec/statistics.md §4).
fn followed(
    core: &Core,
    tx: &Tx<'_>,
    start: &SignedPsiStart,
) -> Result<Result<Vec<Avs>, String>, Fault> {
    let persons = crate::stats::persons_followed(core, tx, start.round.month)?;
    if persons.len() > MAX_SET {
        return Ok(Err(format!(
            "this sector follows more persons than a set holds ({MAX_SET})"
        )));
    }
    let persons = persons
        .iter()
        .map(|p| p.parse::<Avs>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| anyhow::anyhow!("a stored person's number is not valid"))?;
    Ok(Ok(persons))
}

/// This sector's own set, blinded: its hop 1 goes to the next participant.
pub(crate) fn blinded(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    round: RoundId,
    set: Result<SignedPsiSet, String>,
) -> Result<Vec<Output>, Fault> {
    let Some(row) = load_round(tx, &round)? else {
        return Ok(Vec::new());
    };
    if row.state != "running" || !core.psi_secrets.contains_key(&round) {
        // Expired or stopped meanwhile: nothing leaves.
        return Ok(Vec::new());
    }
    let set = set.map_err(|e| bad(format!("this sector's set could not be blinded: {e}")))?;
    forward(core, tx, env, &row, set)?;
    Ok(Vec::new())
}

/// Sends one set message this node computed (its own hop 1, or the hop after one it
/// received) and wipes the secret once the `N` messages of its part are sent.
pub(crate) fn forward(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    row: &RoundRow,
    m: SignedPsiSet,
) -> Result<(), Fault> {
    let to = row
        .round
        .recipient(&m.set.origin, m.set.hop)
        .map_err(|e| anyhow::anyhow!("this node computed a set message out of the ring: {e}"))?
        .clone();
    record_message(tx, env, &m, &m.digest(), PsiDirection::Sent, &to)?;
    send(core, tx, env, &to, Item::PsiSet(Box::new(m)))?;
    let sent: i64 = tx.db.query_row(
        "SELECT COUNT(*) FROM psi_messages WHERE round = ?1 AND direction = 'sent'",
        [row.id.to_vec()],
        |r| r.get(0),
    )?;
    if sent as usize >= row.round.participants.len() {
        core.psi_secrets.remove(&row.id);
        super::set_state(tx, &row.id, "done", None)?;
        log_end(tx, env, &row.id, PsiEndReason::Complete)?;
    }
    Ok(())
}

/// The dashboard member's outcome: verified, and its sizes compared with those this node
/// sent, its own set's and those it relayed; a difference names the origin in the log.
pub(crate) fn receive_outcome(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    from: &PublicKey,
    signed: SignedPsiOutcome,
) -> Result<PeerReply, Fault> {
    let sender = core.sender(from)?;
    let id = signed.outcome.round;
    let Some(row) = load_round(tx, &id)?.filter(|r| r.role == Role::Participant) else {
        return Err(bad(PsiError::WrongRound.to_string()));
    };
    if sender != row.round.dashboard {
        return Err(bad(format!(
            "the outcome comes from the dashboard member `{}`, not `{sender}`",
            row.round.dashboard
        )));
    }
    let key = core
        .roster
        .roster
        .member(&sender)
        .map(|m| m.signing_key)
        .ok_or_else(|| bad("the dashboard member is not in the roster in force"))?;
    let input = signed.outcome.signing_input();
    if !env.verified.verify(&key, &input, &signed.signature) {
        return Err(bad(PsiError::BadSignature(sender).to_string()));
    }
    let bytes = postcard::to_stdvec(&signed)?;
    match &row.outcome {
        Some(kept) if *kept == bytes => return Ok(PeerReply::Accepted),
        Some(_) => return Err(bad("another outcome of this round was received before")),
        None => {}
    }
    let mut st = tx.db.prepare_cached(
        "SELECT origin, size FROM psi_messages WHERE round = ?1 AND direction = 'sent'",
    )?;
    let sent: BTreeMap<String, i64> = st
        .query_map([id.to_vec()], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    drop(st);
    let differ: Vec<String> = sent
        .iter()
        .filter(|(origin, size)| {
            !signed
                .outcome
                .sizes
                .iter()
                .any(|s| s.origin.as_str() == origin.as_str() && s.size as i64 == **size)
        })
        .map(|(origin, _)| format!("{origin}=differs"))
        .collect();
    let sizes = if differ.is_empty() {
        "match".to_string()
    } else {
        tracing::warn!(origins = %differ.join(" "), "an overlap round's outcome reports sizes this node did not send");
        differ.join(" ")
    };
    tx.db.execute(
        "UPDATE psi_rounds SET outcome = ?2, published_at = ?3 WHERE round = ?1",
        rusqlite::params![id.to_vec(), bytes, env.now as i64],
    )?;
    log_outcome(tx, env, &id, &sha256(&[&input]), &sizes)?;
    Ok(PeerReply::Accepted)
}
