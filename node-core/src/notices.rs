//! Change notices (spec §6.7): a participant that updated its records about a case's person
//! tells the others that a newer summary is available from it. The notice carries the case id
//! only; whoever wants the newer summary requests it, under the rule, as any other.

use crate::case_store::load_case;
use crate::io::{Env, Fault, Output, Ticket, bad};
use crate::outbox::{self, Item};
use crate::state::{Core, Reply, StaffMember};
use crate::store::Tx;
use protocol_spec::ids::{CaseId, InstitutionId};
use protocol_spec::keys::PublicKey;
use protocol_spec::peer::{PeerMessage, PeerReply};
use protocol_spec::staff::ChangeNotice;

pub(crate) fn message(case_id: &CaseId) -> PeerMessage {
    PeerMessage::ChangeNotice { case_id: *case_id }
}

/// Queues a notice for every other participant of the case that is still a member; the staff
/// member is answered once each answered or was found unreachable.
pub(crate) fn send(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    ticket: Ticket,
    _who: &StaffMember,
    case_id: CaseId,
) -> Result<Vec<Output>, Fault> {
    let case = load_case(tx.db, &case_id)?
        .ok_or_else(|| bad(format!("no coordinated case {case_id} at this node")))?;
    if !case.is_participant(&core.me) {
        return Err(bad("this institution does not participate in the case"));
    }
    let targets: Vec<InstitutionId> = case
        .participants
        .keys()
        .filter(|i| {
            *i != &core.me && case.is_participant(i) && core.roster.roster.member(i).is_some()
        })
        .cloned()
        .collect();
    let mut out = Vec::new();
    let mut awaiting = Vec::new();
    for to in targets {
        let item = Item::ChangeNotice { case_id };
        let token = outbox::enqueue(core, tx, env, &to, &item, None)?;
        awaiting.push((token, to));
    }
    core.await_deliveries(ticket, awaiting, Reply::Updated, &mut out);
    Ok(out)
}

/// A notice from a peer. It is kept only when both take part in the case; the answer is
/// `Accepted` whatever this node holds, so it tells the sender nothing (spec §14.1).
pub(crate) fn receive(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    from: &PublicKey,
    case_id: &CaseId,
) -> Result<PeerReply, Fault> {
    let sender = core.sender(from)?;
    if let Some(case) = load_case(tx.db, case_id)?
        && case.is_participant(&core.me)
        && case.is_participant(&sender)
    {
        tx.db
            .prepare_cached(
                "INSERT INTO notices (case_id, source, noticed_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(case_id, source) DO UPDATE SET noticed_at = excluded.noticed_at",
            )?
            .execute(rusqlite::params![
                case_id.0.to_vec(),
                sender.as_str(),
                env.now as i64
            ])?;
    }
    Ok(PeerReply::Accepted)
}

/// The notices of a case not yet followed by a summary from their source.
pub(crate) fn of_case(tx: &Tx<'_>, case_id: &CaseId) -> anyhow::Result<Vec<ChangeNotice>> {
    let mut st = tx.db.prepare_cached(
        "SELECT source, noticed_at FROM notices WHERE case_id = ?1 ORDER BY noticed_at, source",
    )?;
    let rows = st.query_map([case_id.0.to_vec()], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (source, since) = row?;
        out.push(ChangeNotice {
            source: source.parse()?,
            since: since as u64,
        });
    }
    Ok(out)
}

/// A summary from `source` arrived: its notice, if any, is answered.
pub(crate) fn answered(
    tx: &Tx<'_>,
    case_id: &CaseId,
    source: &InstitutionId,
) -> anyhow::Result<()> {
    tx.db
        .prepare_cached("DELETE FROM notices WHERE case_id = ?1 AND source = ?2")?
        .execute(rusqlite::params![case_id.0.to_vec(), source.as_str()])?;
    Ok(())
}
