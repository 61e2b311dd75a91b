//! The requester's side of a summary request (spec §7.2, §7.6). A request's identity is fixed
//! and durable before it first leaves; it is re-checked against this node's own state before
//! every send (revocation wins: nothing is asked under a consent this node knows revoked), and
//! the answer is judged against that state again before anything is kept.

use crate::case_store::load_case;
use crate::entries;
use crate::io::{Env, Fault, Output, Ticket, Token, bad};
use crate::jobs::{SignJob, Then, Unsigned, Work};
use crate::outbox::{self, Carry, Item, Row};
use crate::state::Core;
use crate::store::Tx;
use protocol_spec::case::{CaseStatus, CoordinatedCase, Participation};
use protocol_spec::category::Category;
use protocol_spec::exchange::{
    Disclosure, MAX_CLOCK_SKEW, RefusalCode, SignedSummaryRequest, SummaryRequest,
};
use protocol_spec::ids::{
    CaseId, InstitutionId, Purpose, RequestId, StaffId, SummaryId, time_ordered,
};
use protocol_spec::peer::{PeerMessage, PeerReply};
use protocol_spec::rule;
use protocol_spec::staff::{ReceivedSummary, StaffErrorKind, StaffReply, SummaryOutcome};
use rusqlite::OptionalExtension;

/// How long a request held back behind a case change waits before it looks again (the change's
/// delivery makes it due at once).
const CASE_CHANGE_WAIT: u64 = 5;

/// How old a request the driver signed ahead of the step may be, in seconds: older, it is
/// signed again between two steps, so the signing time stays the time it was asked.
const PRESIGNED_MAX_AGE: u64 = 5;

/// A case worker's request: checked and composed here. Signed ahead by the driver
/// ([`crate::Crypto::presign`]), it is recorded and sent in this step; otherwise its signature
/// is handed out ([`crate::jobs::Work::Sign`]) and [`signed`] records and sends it.
#[allow(clippy::too_many_arguments)] // the staff request's fields
pub(crate) fn request(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    ticket: Ticket,
    who: &crate::state::StaffMember,
    case_id: CaseId,
    from: InstitutionId,
    purpose: Purpose,
    categories: Vec<Category>,
) -> Result<Vec<Output>, Fault> {
    let fits = |s: &&SignedSummaryRequest| {
        let r = &s.request;
        r.issued_at <= env.now
            && env.now - r.issued_at <= PRESIGNED_MAX_AGE
            && *r
                == ask(
                    &core.me,
                    r.request_id,
                    r.issued_at,
                    case_id,
                    from.clone(),
                    purpose.clone(),
                    categories.clone(),
                )
    };
    if let Some(signed) = env.presigned.filter(fits).cloned() {
        check(core, tx, env, &signed.request)?;
        let token = write(core, tx, env, who, &signed.request, Some(&signed))?;
        core.waiting.insert(token, ticket);
        return Ok(Vec::new());
    }
    let request = compose(core, tx, env, case_id, from, purpose, categories)?;
    Ok(vec![Output::Work(Work::Sign(Box::new(SignJob {
        then: Then::Staff {
            ticket,
            staff: who.staff.clone(),
        },
        what: Unsigned::Request(request),
    })))])
}

/// The request signed off the store thread: checked again on the state committed by then,
/// its identity fixed durably and queued; the case worker waits for its outcome.
pub(crate) fn signed(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    ticket: Ticket,
    staff: &StaffId,
    signed: SignedSummaryRequest,
) -> Result<Vec<Output>, Fault> {
    let who = core.signer(staff)?;
    check(core, tx, env, &signed.request)?;
    let token = write(core, tx, env, &who, &signed.request, Some(&signed))?;
    core.waiting.insert(token, ticket);
    Ok(Vec::new())
}

/// The summary an accepted referral brings (spec §6.6), recorded for `who` without a staff
/// member waiting on it: its outcome is in `passerelle summary requests`. Recorded in the step
/// that makes it, so it is durable with the acceptance that asks for it, and signed as it first
/// leaves ([`message_for`]). When this node's own state already does not allow it (the consent
/// that covered it revoked, say), it is recorded failed, with why, and not sent: the acceptance
/// stands, and the case worker sees why no summary came.
#[allow(clippy::too_many_arguments)]
pub(crate) fn record_referred(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    who: &crate::state::StaffMember,
    case: &CoordinatedCase,
    from: InstitutionId,
    purpose: Purpose,
    categories: Vec<Category>,
) -> Result<(), Fault> {
    let request_id = RequestId(time_ordered(env.now * 1000, env.bytes()));
    let request = ask(
        &core.me,
        request_id,
        env.now,
        case.case_id,
        from,
        purpose,
        categories,
    );
    match obstacle(&core.roster.roster, &request, Some(case), env.now) {
        None => {
            check(core, tx, env, &request)?;
            write(core, tx, env, who, &request, None)?;
        }
        Some(code) => insert(tx, env, who, &request, Some(code.as_str()))?,
    }
    Ok(())
}

/// A new request to `from`, with a fresh identity, checked against this node's own state.
fn compose(
    core: &Core,
    tx: &Tx<'_>,
    env: &mut Env<'_>,
    case_id: CaseId,
    from: InstitutionId,
    purpose: Purpose,
    categories: Vec<Category>,
) -> Result<SummaryRequest, Fault> {
    // Ordered by the second only: the milliseconds would count what this node drew.
    let request_id = RequestId(time_ordered(env.now * 1000, env.bytes()));
    let request = ask(
        &core.me, request_id, env.now, case_id, from, purpose, categories,
    );
    check(core, tx, env, &request)?;
    Ok(request)
}

/// The request a case worker asks `from` for, not yet checked: the step and the driver that
/// signs it ahead compose it alike.
pub(crate) fn ask(
    me: &InstitutionId,
    request_id: RequestId,
    issued_at: u64,
    case_id: CaseId,
    from: InstitutionId,
    purpose: Purpose,
    mut categories: Vec<Category>,
) -> SummaryRequest {
    categories.sort();
    categories.dedup();
    SummaryRequest {
        request_id,
        requester: me.clone(),
        responder: from,
        case_id,
        purpose,
        categories,
        issued_at,
    }
}

/// What the case worker must be told before anything is recorded: the request is malformed,
/// or this node's own state does not allow it.
fn check(core: &Core, tx: &Tx<'_>, env: &Env<'_>, request: &SummaryRequest) -> Result<(), Fault> {
    let from = &request.responder;
    if request.categories.is_empty() {
        return Err(bad("name at least one category"));
    }
    if core.roster.roster.member(from).is_none() {
        return Err(bad(format!("{from} is not a federation member")));
    }
    if *from == core.me {
        return Err(bad("a summary is requested from another institution"));
    }
    let case_id = request.case_id;
    let case = load_case(tx.db, &case_id)?
        .ok_or_else(|| bad(format!("no coordinated case {case_id} at this node")))?;
    if !case.is_participant(&core.me) {
        return Err(bad(match case.participants.get(&core.me) {
            Some(Participation::Invited) => {
                "this institution is invited to the case and does not participate yet: accept the invitation first"
            }
            Some(_) => {
                "this institution no longer participates in the case (it left, declined or was removed): only a new invitation, accepted, brings it back"
            }
            None => "this institution does not participate in the case",
        }));
    }
    if let Some(code) = obstacle(&core.roster.roster, request, Some(&case), env.now) {
        return Err(bad(format!(
            "not sent: this node has recorded that the case does not allow it any more ({}: {})",
            code.as_str(),
            code.explain()
        )));
    }
    Ok(())
}

/// Records the request: pending, or failed with `outcome` when it is not to be sent at all.
fn insert(
    tx: &Tx<'_>,
    env: &Env<'_>,
    who: &crate::state::StaffMember,
    request: &SummaryRequest,
    failed: Option<&str>,
) -> anyhow::Result<()> {
    tx.db.prepare_cached("INSERT INTO requests (request_id, case_id, responder, purpose, categories, staff, state, outcome, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)")?
        .execute(rusqlite::params![
            request.request_id.0.to_vec(),
            request.case_id.0.to_vec(),
            request.responder.as_str(),
            request.purpose.as_str(),
            protocol_spec::entry::categories_text(&request.categories),
            who.staff.as_str(),
            if failed.is_some() { "failed" } else { "pending" },
            failed,
            env.now as i64
        ])?;
    Ok(())
}

/// Fixes the request's identity durably, with its signed version if it has one yet, and
/// queues it.
fn write(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    who: &crate::state::StaffMember,
    request: &SummaryRequest,
    signed: Option<&SignedSummaryRequest>,
) -> Result<Token, Fault> {
    let from = request.responder.clone();
    insert(tx, env, who, request, None)?;
    if let Some(signed) = signed {
        keep_version(tx, signed)?;
    }
    let request_id = request.request_id;
    let item = Item::Summary { request_id };
    Ok(outbox::enqueue(
        core,
        tx,
        env,
        &from,
        &item,
        Some(&who.staff),
    )?)
}

fn keep_version(tx: &Tx<'_>, signed: &SignedSummaryRequest) -> anyhow::Result<()> {
    tx.db.prepare_cached("INSERT OR IGNORE INTO request_versions (digest, request_id, signed) VALUES (?1, ?2, ?3)")?
        .execute(
        rusqlite::params![
            signed.digest().to_vec(),
            signed.request.request_id.0.to_vec(),
            postcard::to_stdvec(signed)?
        ],
    )?;
    Ok(())
}

/// The latest signed version of a request (`?1`, its id): the last one written. Found through
/// the id's index, without sorting.
pub(crate) const LATEST_VERSION: &str = "SELECT signed FROM request_versions WHERE rowid = (SELECT max(rowid) FROM request_versions WHERE request_id = ?1)";

/// A signed version of the request: the one with `digest`, else the latest.
fn version(
    tx: &Tx<'_>,
    request_id: &RequestId,
    digest: Option<&[u8; 32]>,
) -> anyhow::Result<Option<SignedSummaryRequest>> {
    let bytes: Option<Vec<u8>> = match digest {
        Some(d) => tx
            .db
            .prepare_cached(
                "SELECT signed FROM request_versions WHERE digest = ?1 AND request_id = ?2",
            )?
            .query_row(rusqlite::params![d.to_vec(), request_id.0.to_vec()], |r| {
                r.get(0)
            }),
        None => tx
            .db
            .prepare_cached(LATEST_VERSION)?
            .query_row([request_id.0.to_vec()], |r| r.get(0)),
    }
    .optional()?;
    Ok(bytes.map(|b| postcard::from_bytes(&b)).transpose()?)
}

fn latest_version(
    tx: &Tx<'_>,
    request_id: &RequestId,
) -> anyhow::Result<Option<SignedSummaryRequest>> {
    version(tx, request_id, None)
}

/// What this node knows that forbids `r` for good: the case is closed, or only consents it
/// knows revoked would cover the request. Anything else (a consent or acceptance it may not
/// have heard of yet) is for the responder to judge on its own state.
pub(crate) fn obstacle(
    roster: &protocol_spec::roster::Roster,
    r: &SummaryRequest,
    case: Option<&CoordinatedCase>,
    now: u64,
) -> Option<RefusalCode> {
    let case = case?;
    if case.status == CaseStatus::Closed {
        return Some(RefusalCode::CaseClosed);
    }
    if rule::decide(roster, &r.responder, r, Some(case), now).is_ok() {
        return None;
    }
    let mut unrevoked = case.clone();
    unrevoked
        .consents
        .iter_mut()
        .for_each(|(_, revoked)| *revoked = None);
    rule::decide(roster, &r.responder, r, Some(&unrevoked), now)
        .is_ok()
        .then_some(RefusalCode::ConsentRevoked)
}

/// Why this node would not send `r` now, judged on its own committed state.
fn recheck(
    core: &Core,
    tx: &Tx<'_>,
    env: &Env<'_>,
    r: &SummaryRequest,
    staff: Option<&StaffId>,
    created_at: u64,
) -> anyhow::Result<Option<String>> {
    #[cfg(feature = "mutants")]
    if core.mutants.requester_skips_recheck {
        return Ok(None);
    }
    if env.now.saturating_sub(created_at) > outbox::SUMMARY_REQUEST_EXPIRY {
        return Ok(Some("expired".into()));
    }
    let active: bool = match staff {
        Some(s) => tx
            .db
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM staff WHERE staff_id = ?1 AND revoked_at IS NULL)",
            )?
            .query_row([s.as_str()], |row| row.get(0))?,
        None => false,
    };
    if !active {
        return Ok(Some("staff-revoked".into()));
    }
    let case = load_case(tx.db, &r.case_id)?;
    if !case.as_ref().is_some_and(|c| c.is_participant(&core.me)) {
        return Ok(Some("not-participant-here".into()));
    }
    let fresh = SummaryRequest {
        issued_at: env.now,
        ..r.clone()
    };
    Ok(
        obstacle(&core.roster.roster, &fresh, case.as_deref(), env.now)
            .map(|code| code.as_str().to_string()),
    )
}

/// What a queued request carries as it leaves: its latest signed version, or first a new
/// signature when it has none yet or its signing time is older than half the freshness window;
/// `None` if it was withdrawn or held back.
pub(crate) fn message_for(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    token: Token,
    request_id: &RequestId,
    staff: Option<&StaffId>,
) -> Result<Option<Carry>, Fault> {
    let Some((state, created_at, draft)) = recorded(core, tx, request_id)? else {
        tracing::error!("an outbox item names a request this node has no record of");
        outbox::remove(tx, token)?;
        return Ok(None);
    };
    if state != "pending" {
        outbox::remove(tx, token)?;
        return Ok(None);
    }
    let latest = latest_version(tx, request_id)?;
    let request = latest.as_ref().map_or(draft, |v| v.request.clone());
    if let Some(reason) = recheck(core, tx, env, &request, staff, created_at)? {
        withdraw(core, tx, env, token, request_id, &reason)?;
        return Ok(None);
    }
    if outbox::case_change_waits(tx, &request.responder, &request.case_id)? {
        outbox::postpone(tx, env, token, CASE_CHANGE_WAIT)?;
        return Ok(None);
    }
    match latest {
        Some(signed) if env.now.saturating_sub(signed.request.issued_at) <= MAX_CLOCK_SKEW / 2 => {
            Ok(Some(PeerMessage::Summary(signed).into()))
        }
        // Same identity, fresh signing time: the responder judges freshness on every version.
        _ => Ok(Some(Carry::Sign(Box::new(SignJob {
            then: Then::Queued { token },
            what: Unsigned::Request(SummaryRequest {
                issued_at: env.now,
                ..request
            }),
        })))),
    }
}

/// The request's state, when it was made, and the request as recorded (its signing time that
/// of its recording).
fn recorded(
    core: &Core,
    tx: &Tx<'_>,
    request_id: &RequestId,
) -> Result<Option<(String, u64, SummaryRequest)>, Fault> {
    type Row = (String, i64, Vec<u8>, String, String, String);
    let row: Option<Row> = tx
        .db
        .prepare_cached(
            "SELECT state, created_at, case_id, responder, purpose, categories FROM requests WHERE request_id = ?1",
        )?
        .query_row([request_id.0.to_vec()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
        })
        .optional()?;
    let Some((state, created_at, case_id, responder, purpose, categories)) = row else {
        return Ok(None);
    };
    let corrupt = |what: &str| anyhow::anyhow!("the store is corrupt: a request's {what}");
    let created_at = u64::try_from(created_at).map_err(|_| corrupt("time"))?;
    let request = SummaryRequest {
        request_id: *request_id,
        requester: core.me.clone(),
        responder: responder.parse().map_err(|_| corrupt("responder"))?,
        case_id: CaseId(case_id.try_into().map_err(|_| corrupt("case"))?),
        purpose: purpose.parse().map_err(|_| corrupt("purpose"))?,
        categories: Category::parse_list(&categories).map_err(|_| corrupt("categories"))?,
        issued_at: created_at,
    };
    Ok(Some((state, created_at, request)))
}

/// A queued request signed off the store thread: kept as its latest version and sent, unless
/// it was settled meanwhile. The send checks it again on the state committed by then.
pub(crate) fn queued_signed(
    core: &mut Core,
    tx: &mut Tx<'_>,
    token: Token,
    signed: SignedSummaryRequest,
) -> Result<Vec<Output>, Fault> {
    core.in_flight.remove(&token);
    let Some(row) = outbox::load(tx, token)? else {
        return Ok(Vec::new());
    };
    if !matches!(&row.item, Item::Summary { request_id } if *request_id == signed.request.request_id)
    {
        return Err(Fault::Local(anyhow::anyhow!(
            "a signed request came back for an outbox item that carries something else"
        )));
    }
    keep_version(tx, &signed)?;
    outbox::send_soon(core, token);
    Ok(Vec::new())
}

fn settle(
    tx: &Tx<'_>,
    env: &Env<'_>,
    request_id: &RequestId,
    state: &str,
    outcome: &str,
    summary: Option<&SummaryId>,
) -> anyhow::Result<()> {
    tx.db.prepare_cached("UPDATE requests SET state = ?2, outcome = ?3, summary_id = ?4, updated_at = ?5 WHERE request_id = ?1")?
        .execute(
        rusqlite::params![
            request_id.0.to_vec(),
            state,
            outcome,
            summary.map(|s| s.0.to_vec()),
            env.now as i64
        ],
    )?;
    Ok(())
}

/// The request will not be sent (again), or its answer will not be kept: recorded, logged,
/// and reported to whoever waits.
pub(crate) fn withdraw(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    token: Token,
    request_id: &RequestId,
    reason: &str,
) -> Result<Vec<Output>, Fault> {
    withdraw_answered(core, tx, env, token, request_id, reason, None)
}

fn withdraw_answered(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    token: Token,
    request_id: &RequestId,
    reason: &str,
    answered: Option<&SignedSummaryRequest>,
) -> Result<Vec<Output>, Fault> {
    outbox::remove(tx, token)?;
    let staff: Option<String> = tx
        .db
        .prepare_cached("SELECT staff FROM requests WHERE request_id = ?1")?
        .query_row([request_id.0.to_vec()], |r| r.get(0))
        .optional()?;
    let version = match answered {
        Some(v) => Some(v.clone()),
        None => latest_version(tx, request_id)?,
    };
    if let (Some(staff), Some(signed)) = (staff, version) {
        let person = load_case(tx.db, &signed.request.case_id)?.map(|c| c.person.clone());
        entries::request_withdrawn(
            tx,
            env,
            &signed.request,
            person.as_ref(),
            &signed.digest(),
            reason,
            &staff.parse()?,
        )?;
    }
    settle(tx, env, request_id, "failed", reason, None)?;
    Ok(core
        .waiting
        .remove(&token)
        .map(|ticket| Output::StaffReply {
            ticket,
            reply: StaffReply::Error(protocol_spec::staff::StaffError {
                kind: StaffErrorKind::Peer,
                message: format!("the summary request was withdrawn ({reason}); nothing was kept"),
            }),
        })
        .into_iter()
        .collect())
}

/// The responder answered a queued request.
pub(crate) fn answered(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    row: &Row,
    request_id: &RequestId,
    reply: PeerReply,
) -> Result<Vec<Output>, Fault> {
    let token = row.token;
    let staff = row
        .staff
        .clone()
        .unwrap_or_else(|| "system".parse().expect("token"));
    match reply {
        PeerReply::Disclosure {
            disclosure: d,
            leaf_index,
            leaf_hash,
        } => {
            let Some(req) = version(tx, request_id, Some(&d.header.request_digest))? else {
                return withdraw(core, tx, env, token, request_id, "disclosure-invalid");
            };
            let Some(source) = core.roster.roster.member(&row.recipient) else {
                return withdraw(core, tx, env, token, request_id, "recipient-removed");
            };
            let signed = env.verified.verify(
                &source.signing_key,
                &Disclosure::signing_input(&d.header, &d.sealed),
                &d.signature,
            );
            if d.answers(&req).is_err() || !signed {
                return withdraw(core, tx, env, token, request_id, "disclosure-invalid");
            }
            // Revocation wins on receipt too: a summary under a consent this node knows
            // revoked, or for a case it no longer takes part in, is not kept.
            let case = load_case(tx.db, &d.header.case_id)?;
            let usable = case.as_ref().is_some_and(|c| {
                c.is_participant(&core.me)
                    && !c.consents.iter().any(|(k, revoked)| {
                        k.consent_id == d.header.consent_id && revoked.is_some()
                    })
            });
            if !usable {
                let reason = "consent-revoked-here";
                return withdraw_answered(core, tx, env, token, request_id, reason, Some(&req));
            }
            let person = case.map(|c| c.person.clone());
            let summary_id = SummaryId(time_ordered(core.next_millis(env.now), env.bytes()));
            tx.db.prepare_cached("INSERT INTO summaries (summary_id, case_id, source, request, disclosure, requested_by, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?
        .execute(
                rusqlite::params![
                    summary_id.0.to_vec(),
                    d.header.case_id.0.to_vec(),
                    d.header.source.as_str(),
                    postcard::to_stdvec(&req)?,
                    postcard::to_stdvec(&d)?,
                    staff.as_str(),
                    env.now as i64
                ],
            )?;
            crate::notices::answered(tx, &d.header.case_id, &d.header.source)?;
            let receipt = entries::receipt(
                env,
                &d.header,
                person.as_ref(),
                &d.sealed.digest(),
                (leaf_index, leaf_hash),
                &staff,
            );
            let receipt_hash = protocol_spec::tlog::leaf_hash(&receipt);
            let receipt_index = tx.log(receipt)?;
            settle(
                tx,
                env,
                request_id,
                "received",
                "received",
                Some(&summary_id),
            )?;
            outbox::remove(tx, token)?;
            let mut out = vec![Output::ReceiptLogged {
                peer: row.recipient.clone(),
                request_digest: req.digest(),
                disclosure_leaf: (leaf_index, leaf_hash),
                receipt_leaf: (receipt_index, receipt_hash),
            }];
            if let Some(ticket) = core.waiting.remove(&token) {
                out.push(Output::StaffReply {
                    ticket,
                    reply: StaffReply::Summary(SummaryOutcome::Received(received_info(
                        summary_id, &d, &staff, env.now,
                    ))),
                });
            }
            Ok(out)
        }
        // The responder could not record its decision: nothing happened there; ask again later.
        PeerReply::Refusal(r) if r.code == RefusalCode::Unavailable => {
            outbox::note_problem(tx, token, "the responder could not record a decision")?;
            Ok(core
                .waiting
                .remove(&token)
                .map(|ticket| Output::StaffReply {
                    ticket,
                    reply: StaffReply::Summary(SummaryOutcome::Queued),
                })
                .into_iter()
                .collect())
        }
        PeerReply::Refusal(r) => {
            let code = r.code;
            let req = latest_version(tx, request_id)?
                .ok_or_else(|| Fault::Local(anyhow::anyhow!("request versions are missing")))?;
            let person = load_case(tx.db, &req.request.case_id)?.map(|c| c.person.clone());
            entries::refused_by_peer(
                tx,
                env,
                &req.request,
                person.as_ref(),
                code,
                &req.digest(),
                &staff,
            )?;
            settle(tx, env, request_id, "refused", code.as_str(), None)?;
            outbox::remove(tx, token)?;
            Ok(core
                .waiting
                .remove(&token)
                .map(|ticket| Output::StaffReply {
                    ticket,
                    reply: StaffReply::Summary(SummaryOutcome::Refused { code }),
                })
                .into_iter()
                .collect())
        }
        _ => withdraw(core, tx, env, token, request_id, "unexpected-answer"),
    }
}

pub(crate) fn received_info(
    summary_id: SummaryId,
    d: &Disclosure,
    by: &StaffId,
    at: u64,
) -> ReceivedSummary {
    ReceivedSummary {
        summary_id,
        case_id: d.header.case_id,
        source: d.header.source.clone(),
        purpose: d.header.purpose.clone(),
        categories: d.header.categories.clone(),
        received_at: at,
        requested_by: by.clone(),
        sealed_digest: d.sealed.digest(),
        purged_at: None,
    }
}
