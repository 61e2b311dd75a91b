//! Coordinated cases at this node: the staff commands that change them, the histories peers
//! push, and their distribution to every institution in the case (spec §6).

use crate::case_store::{load_case, save_case};
use crate::entries;
use crate::io::{Env, Fault, Output, Ticket, Token, bad};
use crate::jobs::{SignJob, Then, Unsigned, Work};
use crate::outbox::{self, Item};
use crate::requester;
use crate::state::{Core, Reply};
use crate::store::Tx;
use protocol_spec::avs::Avs;
use protocol_spec::case::{
    CaseError, CaseEvent, CaseEventKind, CoordinatedCase, MAX_EVENT_AHEAD_S, SignedCaseEvent,
};
use protocol_spec::exchange::{Refusal, RefusalCode};
use protocol_spec::ids::{CaseId, EventId, InstitutionId, StaffId};
use protocol_spec::keys::{PublicKey, Signature, SignatureCheck};
use protocol_spec::peer::{PeerMessage, PeerReply};
use protocol_spec::staff::StaffErrorKind;

/// How often the second step of a staff action composes its events again when the case
/// changed while they were signed, before the staff member is asked to try again.
const SIGN_ATTEMPTS: u8 = 3;

/// Lets the dry run of [`compose`] judge whether events are allowed before they are signed.
/// Nothing judged with it is kept: the second step applies the signed events with the real
/// check.
struct DryRun;

impl SignatureCheck for DryRun {
    fn holds(&self, _: &PublicKey, _: &[u8], _: &Signature) -> bool {
        true
    }
}

/// The events `kinds` make, by this node, on `case` (a new case when `None`, the first kind
/// opening it), each allowed after the one before on the committed state. Their times come
/// after every event of the case (Lamport time, so every node orders them after what this
/// node had seen, spec §6.3). Not yet signed.
fn compose(
    core: &Core,
    env: &mut Env<'_>,
    staff: &StaffId,
    case: Option<&CoordinatedCase>,
    case_id: CaseId,
    kinds: Vec<CaseEventKind>,
) -> Result<Vec<CaseEvent>, Fault> {
    let key = core.keys.signing.public();
    let mut dry = case.cloned();
    let mut events = Vec::new();
    for kind in kinds {
        let event = CaseEvent {
            event_id: EventId(env.bytes()),
            case_id,
            author: core.me.clone(),
            staff: staff.clone(),
            at: dry.as_ref().map_or(env.now, |c| c.next_time(env.now)),
            kind,
        };
        let unsigned = SignedCaseEvent {
            event: event.clone(),
            signature: Signature([0; 64]),
        };
        match &mut dry {
            None => {
                dry = Some(
                    CoordinatedCase::open_checked(unsigned, &key, &DryRun)
                        .map_err(|e| bad(e.to_string()))?,
                );
            }
            Some(c) => {
                c.apply_checked(unsigned, &key, &DryRun)
                    .map_err(|e| bad(e.to_string()))?;
            }
        }
        events.push(event);
    }
    Ok(events)
}

/// Hands the events of a staff action out to be signed ([`Work::Sign`]); [`signed`] records
/// and distributes them.
fn to_sign(ticket: Ticket, staff: &StaffId, events: Vec<CaseEvent>, attempt: u8) -> Vec<Output> {
    vec![Output::Work(Work::Sign(Box::new(SignJob {
        then: Then::Staff {
            ticket,
            staff: staff.clone(),
        },
        what: Unsigned::CaseEvents { events, attempt },
    })))]
}

/// What a new case needs: members to invite other than this institution, and the person in
/// this institution's records.
fn check_opening(
    core: &Core,
    tx: &Tx<'_>,
    person: &Avs,
    invite: &[InstitutionId],
) -> Result<(), Fault> {
    for i in invite {
        if core.roster.roster.member(i).is_none() {
            return Err(bad(format!("{i} is not a federation member")));
        }
        if i == &core.me {
            return Err(bad("a case cannot invite its own institution"));
        }
    }
    let known: bool = tx
        .db
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM persons WHERE avs = ?1)")?
        .query_row([person.digits()], |r| r.get(0))?;
    if !known {
        return Err(bad(
            "no person with this social insurance number in this institution's records",
        ));
    }
    Ok(())
}

pub(crate) fn open(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    ticket: Ticket,
    who: &crate::state::StaffMember,
    person: Avs,
    invite: Vec<InstitutionId>,
) -> Result<Vec<Output>, Fault> {
    check_opening(core, tx, &person, &invite)?;
    let case_id = CaseId(env.bytes());
    let kinds = std::iter::once(CaseEventKind::Opened { person })
        .chain(
            invite
                .into_iter()
                .map(|institution| CaseEventKind::Invited { institution }),
        )
        .collect();
    let events = compose(core, env, &who.staff, None, case_id, kinds)?;
    Ok(to_sign(ticket, &who.staff, events, 0))
}

pub(crate) fn change(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    ticket: Ticket,
    who: &crate::state::StaffMember,
    case_id: CaseId,
    kind: CaseEventKind,
) -> Result<Vec<Output>, Fault> {
    changes(core, tx, env, ticket, who, case_id, vec![kind])
}

/// Several events by this node, each after the one before, recorded and distributed at once: a
/// consent replaced is the new consent recorded and the old one revoked, both or neither. An
/// accepted referral brings the referrer's summary (see [`signed`]).
pub(crate) fn changes(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    ticket: Ticket,
    who: &crate::state::StaffMember,
    case_id: CaseId,
    kinds: Vec<CaseEventKind>,
) -> Result<Vec<Output>, Fault> {
    let case = load_case(tx.db, &case_id)?
        .ok_or_else(|| bad(format!("no coordinated case {case_id} at this node")))?;
    let events = compose(core, env, &who.staff, Some(&case), case_id, kinds)?;
    Ok(to_sign(ticket, &who.staff, events, 0))
}

/// The events of a staff action, signed off the store thread: applied to the case as committed
/// by now, logged, stored and distributed. When the case changed meanwhile so that they no
/// longer follow its latest event, or are no longer allowed, they are composed again (and the
/// staff member told if the change is not allowed any more).
pub(crate) fn signed(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    ticket: Ticket,
    staff: &StaffId,
    events: Vec<SignedCaseEvent>,
    attempt: u8,
) -> Result<Vec<Output>, Fault> {
    let who = core.signer(staff)?;
    let Some(first) = events.first() else {
        return Err(Fault::Local(anyhow::anyhow!(
            "a staff action with no event"
        )));
    };
    let case_id = first.event.case_id;
    let opening = match &first.event.kind {
        CaseEventKind::Opened { person } => Some(person.clone()),
        _ => None,
    };
    let stored = match &opening {
        Some(person) => {
            let invited: Vec<InstitutionId> = events[1..]
                .iter()
                .filter_map(|e| match &e.event.kind {
                    CaseEventKind::Invited { institution } => Some(institution.clone()),
                    _ => None,
                })
                .collect();
            check_opening(core, tx, person, &invited)?;
            None
        }
        None => Some(
            load_case(tx.db, &case_id)?
                .ok_or_else(|| bad(format!("no coordinated case {case_id} at this node")))?,
        ),
    };
    let key = core.keys.signing.public();
    let case = match apply_all(stored.as_deref().cloned(), &events, &key, env.verified) {
        Ok(case) => case,
        Err(e) if attempt + 1 >= SIGN_ATTEMPTS => {
            return Err(bad(format!(
                "the case kept changing while this change was recorded ({e}); nothing was done, try again"
            )));
        }
        Err(_) => {
            let kinds = events.into_iter().map(|e| e.event.kind).collect();
            let events = compose(core, env, staff, stored.as_deref(), case_id, kinds)?;
            return Ok(to_sign(ticket, staff, events, attempt + 1));
        }
    };
    for ev in &events {
        entries::case_event(tx, env, &case, ev)?;
    }
    save_case(tx.db, &case)?;
    let reply = if opening.is_some() {
        Reply::Opened(case_id)
    } else if let Some(c) = events.iter().find_map(|e| match &e.event.kind {
        CaseEventKind::ConsentRecorded(c) => Some(c),
        _ => None,
    }) {
        Reply::Consent(c.consent_id)
    } else {
        Reply::Updated
    };
    let out = distribute(core, tx, env, &case, ticket, reply)?;
    // An accepted referral brings the referrer's summary at once: the request is recorded as
    // if the staff member had made it, and leaves once the referrer holds the acceptance
    // (spec §6.6, §9).
    let accepted = events
        .iter()
        .any(|e| matches!(e.event.kind, CaseEventKind::Accepted));
    if accepted
        && let Some(r) = case.referral_of(&core.me).cloned()
        && core.roster.roster.member(&r.by).is_some()
    {
        requester::record_referred(core, tx, env, &who, &case, r.by, r.purpose, r.categories)?;
    }
    Ok(out)
}

/// `events` applied in order to `stored`, or opening a new case when `None`.
fn apply_all(
    stored: Option<CoordinatedCase>,
    events: &[SignedCaseEvent],
    key: &PublicKey,
    check: &dyn SignatureCheck,
) -> Result<CoordinatedCase, CaseError> {
    let (mut case, rest) = match stored {
        Some(case) => (case, events),
        None => {
            let (first, rest) = events.split_first().ok_or(CaseError::NotOpening)?;
            (
                CoordinatedCase::open_checked(first.clone(), key, check)?,
                rest,
            )
        }
    };
    for ev in rest {
        case.apply_checked(ev.clone(), key, check)?;
    }
    Ok(case)
}

/// Queues the case history for every other institution in the case and hands the sends to
/// the driver; the staff member is answered once every peer answered or was found unreachable.
fn distribute(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    case: &CoordinatedCase,
    ticket: Ticket,
    reply: Reply,
) -> Result<Vec<Output>, Fault> {
    let mut targets: Vec<InstitutionId> = recipients(core, case)
        .filter(|i| *i != &core.me)
        .cloned()
        .collect();
    // An institution this change removed is told, with the history up to its removal.
    if let Some(CaseEventKind::Removed { institution }) = case.history.last().map(|e| &e.event.kind)
        && case.history_until_removal(institution).is_some()
        && core.roster.roster.member(institution).is_some()
    {
        targets.push(institution.clone());
    }
    let mut out = Vec::new();
    let mut awaiting = Vec::new();
    for to in targets {
        let item = Item::CaseHistory {
            case_id: case.case_id,
        };
        let token = outbox::enqueue(core, tx, env, &to, &item, None)?;
        awaiting.push((token, to));
    }
    core.await_deliveries(ticket, awaiting, reply, &mut out);
    Ok(out)
}

/// The institutions of the case's audience that are still federation members: a member since
/// removed stays in the case's history but is sent nothing more (spec §6.4).
fn recipients<'a>(
    core: &'a Core,
    case: &'a CoordinatedCase,
) -> impl Iterator<Item = &'a InstitutionId> {
    case.audience()
        .filter(|i| core.roster.roster.member(i).is_some())
}

/// What a queued [`Item::CaseHistory`] carries now: all of the case's history while `to` is in
/// its audience, up to its removal once removed (it learns of that and of nothing later);
/// `None` otherwise (it left or declined, or the case is gone), the item then removed.
pub(crate) fn history_message(
    tx: &Tx<'_>,
    token: Token,
    case_id: &CaseId,
    to: &InstitutionId,
) -> Result<Option<PeerMessage>, Fault> {
    case_message(tx, token, case_id, |c| {
        if c.audience().any(|i| i == to) {
            Some(c.history)
        } else {
            c.history_until_removal(to)
        }
    })
}

/// What a queued [`Item::CaseHistoryBackUntil`] carries: the case's events up to `until` in
/// canonical order, or `None` once the case is gone, the item then removed.
pub(crate) fn history_until_message(
    tx: &Tx<'_>,
    token: Token,
    case_id: &CaseId,
    until: (u64, [u8; 16]),
) -> Result<Option<PeerMessage>, Fault> {
    case_message(tx, token, case_id, |c| Some(c.history_until(until)))
}

/// The events `pick` takes from the stored case, as a history message; `None` once the case is
/// gone or `pick` sends nothing, the item then removed.
fn case_message(
    tx: &Tx<'_>,
    token: Token,
    case_id: &CaseId,
    pick: impl FnOnce(CoordinatedCase) -> Option<Vec<SignedCaseEvent>>,
) -> Result<Option<PeerMessage>, Fault> {
    match load_case(tx.db, case_id)?
        .map(std::sync::Arc::unwrap_or_clone)
        .and_then(pick)
    {
        Some(events) => Ok(Some(PeerMessage::CaseHistory {
            case_id: *case_id,
            events,
        })),
        None => {
            outbox::remove(tx, token)?;
            Ok(None)
        }
    }
}

/// What a queued [`Item::CaseHistoryBack`] (written by earlier versions) carries now: the
/// case's history, up to its removal for a removed recipient, or `None` once the case is gone,
/// the item then removed.
pub(crate) fn history_back_message(
    tx: &Tx<'_>,
    token: Token,
    case_id: &CaseId,
    to: &InstitutionId,
) -> Result<Option<PeerMessage>, Fault> {
    case_message(tx, token, case_id, |c| {
        Some(c.history_until_removal(to).unwrap_or(c.history))
    })
}

/// Merges a history pushed by a peer. Whether this node is concerned is judged on the offered
/// history first, and every answer that could depend on what it holds is the same uniform
/// `not-concerned` refusal, so the answer does not tell an outsider whether the case exists.
pub(crate) fn receive_history(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    from: &PublicKey,
    case_id: CaseId,
    events: Vec<SignedCaseEvent>,
) -> Result<Vec<Output>, Fault> {
    let refused = |m: String| Fault::Refused(StaffErrorKind::BadRequest, m);
    // Final for the sender: this node does not take (or no longer takes) part in the case.
    let not_concerned = || {
        PeerReply::Refusal(Refusal {
            code: RefusalCode::NotConcerned,
        })
    };
    let roster = &core.roster.roster;
    let sender = core.sender(from)?;
    if events.first().map(|e| e.event.case_id) != Some(case_id) {
        return Err(refused(
            "case history does not start with this case's opening event".into(),
        ));
    }
    // Judged on the offered history and the clock alone, so the answer says nothing of what
    // this node holds; rejected, not refused, so the sender sends again once the clock is near.
    if events
        .iter()
        .any(|e| e.event.at > env.now.saturating_add(MAX_EVENT_AHEAD_S))
    {
        return Err(refused(format!(
            "a case event is dated more than {MAX_EVENT_AHEAD_S} s after this node's clock"
        )));
    }
    // Current and former keys: a history touched by a member since removed, or signed under a
    // key since replaced, stays verifiable (spec §6.3).
    let key_of = |id: &InstitutionId| roster.case_event_keys(id);
    // Judged on the offered history alone first: whether this node is addressed, and whether
    // the sender ever took part, must not depend on what this node holds.
    let offered = CoordinatedCase::replay_checked(&events, key_of, env.verified)
        .map_err(|e| refused(e.to_string()))?;
    // Addressed to this node: it is in the audience, or the history names it and tells it that
    // it is out of the case (it was removed, or a concurrent change voided its invitation),
    // so its view converges. Both are judged on the offered history alone.
    let told_out = offered.is_out(&core.me);
    let counted_in_by_sender = offered.audience().any(|i| i == &core.me);
    if !offered.names(&sender) || !(counted_in_by_sender || told_out) {
        return Ok(vec![Output::PeerReply(not_concerned())]);
    }
    let sender_counts_itself_in = offered.audience().any(|i| i == &sender);
    let sender_in_offered = offered.participants.get(&sender).copied();
    let (case, new_events) = match load_case(tx.db, &case_id)? {
        Some(case) => {
            let mut case = std::sync::Arc::unwrap_or_clone(case);
            let known: std::collections::HashSet<EventId> =
                case.history.iter().map(|e| e.event.event_id).collect();
            case.merge_checked(&events, key_of, env.verified)
                .map_err(|e| refused(e.to_string()))?;
            let new = case
                .history
                .iter()
                .filter(|e| !known.contains(&e.event.event_id))
                .cloned()
                .collect();
            (case, new)
        }
        None => {
            let new = offered.history.clone();
            (offered, new)
        }
    };
    let out_of_case = case.is_out(&core.me);
    if !(case.audience().any(|i| i == &core.me) || told_out && out_of_case) {
        let out = vec![Output::PeerReply(not_concerned())];
        // The sender counts this node in, but this node holds the event that took it out: the
        // sender lacks it, and without it the two never converge (its author may have left the
        // federation, or pushed it only to institutions since out of the case). It goes back
        // up to the first event that puts this node out in the sender's view too, so the
        // sender is addressed by what it gets, and learns nothing later (spec §6.4 step 3).
        if case.exit_key(&core.me).is_some()
            && out_of_case
            && counted_in_by_sender
            && sender_counts_itself_in
            && let Some(back) = case.sent_back(&events, &core.me)
            && load_case(tx.db, &case_id)?.is_some()
        {
            let item = Item::CaseHistoryAnswer {
                case_id,
                events: back,
            };
            outbox::enqueue(core, tx, env, &sender, &item, None)?;
        }
        return Ok(out);
    }
    for ev in &new_events {
        entries::case_event(tx, env, &case, ev)?;
    }
    // Stored before anything is queued: what is sent is built from the stored case.
    if !new_events.is_empty() {
        save_case(tx.db, &case)?;
    }
    let out = vec![Output::PeerReply(PeerReply::Accepted)];
    // The sender lacks events this node holds, and counts itself in the case, or is counted in
    // here (its leaving, say, was voided by an earlier closing it had not seen), or counts
    // itself out in another way than here (it declined a referral that a closing it lacks
    // voided, while it stays removed here): they go back to it, so the two converge.
    let offered_ids: std::collections::HashSet<EventId> =
        events.iter().map(|e| e.event.event_id).collect();
    let counted_in_here = case.audience().any(|i| i == &sender);
    let out_otherwise = case.participants.get(&sender) != sender_in_offered.as_ref();
    if (sender_counts_itself_in || counted_in_here || out_otherwise)
        && !out_of_case
        && case
            .history
            .iter()
            .any(|e| !offered_ids.contains(&e.event.event_id))
    {
        // Out of the case here: it gets what makes its view converge, up to the first event
        // that puts it out in its own view too (whatever took it out or voided its return),
        // or that settles how it is out, and nothing later, whatever time its own events claim.
        let item = if counted_in_here {
            Some(Item::CaseHistory { case_id })
        } else {
            let back = if sender_counts_itself_in {
                case.sent_back(&events, &sender)
            } else {
                case.sent_back_to_settle(&events, &sender)
            };
            back.map(|events| Item::CaseHistoryAnswer { case_id, events })
        };
        if let Some(item) = item {
            outbox::enqueue(core, tx, env, &sender, &item, None)?;
        }
    }
    if !new_events.is_empty() {
        if out_of_case {
            // Out of the case: this node passes nothing on; it keeps the history for its records.
            return Ok(out);
        }
        // Passed on to the others in the case: an author's own pushes reach only the audience
        // it knew of, and an institution invited meanwhile must still get every event.
        let others: Vec<InstitutionId> = recipients(core, &case)
            .filter(|i| *i != &core.me && *i != &sender)
            .cloned()
            .collect();
        for to in others {
            let item = Item::CaseHistory { case_id };
            outbox::enqueue(core, tx, env, &to, &item, None)?;
        }
    }
    Ok(out)
}
