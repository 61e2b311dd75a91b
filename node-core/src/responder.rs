//! The responder's side of a summary request (spec §7.3): authentication, the earlier answer
//! to a retried request, freshness, then the rule (§7.4) on the committed case state, then the
//! sealed disclosure. The decision, its log entry and the reply kept for retries are written in
//! the step's transaction, so the reply leaves only once all three are durable.
//!
//! A grant takes two steps: the first hands the sealing out ([`crate::jobs::Work::Seal`]), off the store
//! thread; the second, given the sealed disclosure, judges the request again on the state
//! committed by then, and only if the same grant still holds logs and releases it.

use crate::case_store::load_case;
use crate::entries;
use crate::io::{Env, Fault};
use crate::jobs::SealJob;
use crate::state::Core;
use crate::store::Tx;
use protocol_spec::avs::Avs;
use protocol_spec::exchange::{
    Disclosure, DisclosureHeader, MAX_CLOCK_SKEW, Refusal, RefusalCode, SignedSummaryRequest,
    Summary, SummaryField, SummaryRequest,
};
use protocol_spec::keys::PublicKey;
use protocol_spec::peer::PeerReply;
use protocol_spec::rule;
use rusqlite::OptionalExtension;

/// How long a disclosure sealed between two steps stays good for the second one: past this,
/// it is sealed again with a fresh `disclosed_at`.
const SEALED_FOR: u64 = 30;

fn refuse(code: RefusalCode) -> PeerReply {
    PeerReply::Refusal(Refusal { code })
}

/// What the first step of an answer gives: the reply, or the sealing to do before it.
pub(crate) enum Answer {
    Reply(PeerReply),
    Seal(Box<SealJob>),
}

impl From<PeerReply> for Answer {
    fn from(r: PeerReply) -> Self {
        Answer::Reply(r)
    }
}

/// Answers `req`. `sealed` is the disclosure the sealing work made for an earlier step of the
/// same request: released only if the rule still grants exactly what it holds.
pub(crate) fn answer(
    core: &Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    from: &PublicKey,
    req: SignedSummaryRequest,
    sealed: Option<Box<Disclosure>>,
) -> Result<Answer, Fault> {
    let roster = &core.roster.roster;
    let r = &req.request;
    let digest = req.digest();
    let Some(member) = roster.member_by_key(from) else {
        entries::refusal(tx, env, r, None, RefusalCode::NotMember, &digest)?;
        return Ok(refuse(RefusalCode::NotMember).into());
    };
    if r.requester != member.id
        || !env
            .verified
            .verify(&member.signing_key, &r.signing_input(), &req.signature)
    {
        entries::refusal(tx, env, r, None, RefusalCode::BadSignature, &digest)?;
        return Ok(refuse(RefusalCode::BadSignature).into());
    }
    // A retry of a request already decided gets the same answer: a lost reply never causes a
    // second disclosure, and the requester never sees its own retry as a replay.
    if let Some(earlier) = earlier_answer(core, tx, env, r, &digest)? {
        // Revocation wins even over a lost reply: an earlier disclosure is handed out again
        // only while the rule still grants it.
        if let PeerReply::Disclosure { disclosure, .. } = &earlier {
            // Judged under the consent the disclosure names, not any other that covers it now.
            let consent = disclosure.header.consent_id;
            let case = load_case(tx.db, &r.case_id)?.map(|c| {
                let mut c = std::sync::Arc::unwrap_or_clone(c);
                c.consents.retain(|(k, _)| k.consent_id == consent);
                c
            });
            if let Err(code) = rule::decide(roster, &core.me, r, case.as_ref(), env.now) {
                let person = case
                    .as_ref()
                    .filter(|_| code != RefusalCode::NotConcerned)
                    .map(|c| &c.person);
                entries::refusal(tx, env, r, person, code, &digest)?;
                return Ok(refuse(code).into());
            }
        }
        return Ok(earlier.into());
    }
    let early = if r.responder != core.me {
        Some(RefusalCode::WrongResponder)
    } else if !r.is_well_formed() {
        Some(RefusalCode::Malformed)
    } else if env.now.abs_diff(r.issued_at) > MAX_CLOCK_SKEW {
        Some(RefusalCode::StaleRequest)
    } else {
        None
    };
    if let Some(code) = early {
        entries::refusal(tx, env, r, None, code, &digest)?;
        return Ok(refuse(code).into());
    }
    #[cfg(feature = "mutants")]
    if core.mutants.responder_releases_stale_seal
        && let Some(d) = sealed.clone()
    {
        let case = load_case(tx.db, &r.case_id)?.expect("sealed for a case held here");
        let reply = release(tx, env, &case.person, d)?;
        keep_answer(tx, env, r, &reply)?;
        return Ok(reply.into());
    }
    let case = load_case(tx.db, &r.case_id)?;
    #[cfg(feature = "mutants")]
    let case = case.map(|c| {
        let mut c = std::sync::Arc::unwrap_or_clone(c);
        if core.mutants.responder_ignores_revocation {
            c.consents
                .iter_mut()
                .for_each(|(_, revoked)| *revoked = None);
        }
        std::sync::Arc::new(c)
    });
    let reply = match rule::decide(roster, &core.me, r, case.as_deref(), env.now) {
        Err(code) => {
            let person = case
                .as_ref()
                .filter(|_| code != RefusalCode::NotConcerned)
                .map(|c| &c.person);
            entries::refusal(tx, env, r, person, code, &digest)?;
            refuse(code)
        }
        Ok(grant) => {
            let case = case.expect("a grant implies a case");
            let header = DisclosureHeader {
                request_digest: digest,
                request_id: r.request_id,
                case_id: r.case_id,
                source: core.me.clone(),
                recipient: r.requester.clone(),
                purpose: r.purpose.clone(),
                categories: grant.categories.clone(),
                consent_id: grant.consent_id,
                disclosed_at: env.now,
                roster_version: roster.version,
            };
            let d = match sealed {
                Some(d) if same_grant(&d.header, &header, env.now) => d,
                _ => {
                    let summary = build_summary(tx.db, &case.person, &grant.categories)?;
                    return Ok(Answer::Seal(Box::new(SealJob {
                        from: *from,
                        request: req,
                        header,
                        summary,
                        recipient_key: member.encryption_key,
                    })));
                }
            };
            release(tx, env, &case.person, d)?
        }
    };
    // Reached only when the id has no earlier answer.
    keep_answer(tx, env, r, &reply)?;
    Ok(reply.into())
}

/// The disclosure's log entry, and the reply that carries it with its leaf.
fn release(
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    person: &Avs,
    d: Box<Disclosure>,
) -> Result<PeerReply, Fault> {
    let entry = entries::disclosure(env, &d.header, person, &d.sealed.digest());
    let leaf_hash = protocol_spec::tlog::leaf_hash(&entry);
    let leaf_index = tx.log(entry)?;
    Ok(PeerReply::Disclosure {
        disclosure: d,
        leaf_index,
        leaf_hash,
    })
}

/// Keeps the answer to a decided request, for its retries (spec §7.3). REPLACE matters only to
/// the mutant that forgets answers, which must then show as a second disclosure.
fn keep_answer(
    tx: &mut Tx<'_>,
    env: &Env<'_>,
    r: &SummaryRequest,
    reply: &PeerReply,
) -> Result<(), Fault> {
    tx.db.prepare_cached(
        "INSERT OR REPLACE INTO seen_requests (request_id, requester, seen_at, request, reply) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?.execute(rusqlite::params![
            r.request_id.0.to_vec(),
            r.requester.as_str(),
            env.now as i64,
            postcard::to_stdvec(&same_request(r))?,
            postcard::to_stdvec(reply)?
        ],
    )?;
    Ok(())
}

/// Whether a disclosure sealed for an earlier step still says what this grant says: only the
/// time of disclosure may differ, by less than [`SEALED_FOR`].
fn same_grant(sealed: &DisclosureHeader, now: &DisclosureHeader, at: u64) -> bool {
    at.saturating_sub(sealed.disclosed_at) < SEALED_FOR
        && *sealed
            == DisclosureHeader {
                disclosed_at: sealed.disclosed_at,
                ..now.clone()
            }
}

/// What identifies a request across its signed versions: everything but the signing time.
fn same_request(r: &SummaryRequest) -> SummaryRequest {
    SummaryRequest {
        issued_at: 0,
        ..r.clone()
    }
}

/// The answer already given to this request id, if any; an id used by another requester or
/// for another request is refused `replayed-request`, and that refusal is logged.
fn earlier_answer(
    core: &Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    r: &SummaryRequest,
    digest: &[u8; 32],
) -> Result<Option<PeerReply>, Fault> {
    #[cfg(feature = "mutants")]
    if core.mutants.responder_forgets_replies {
        return Ok(None);
    }
    let _ = core;
    type Seen = (String, Option<Vec<u8>>, Option<Vec<u8>>);
    let row: Option<Seen> = tx
        .db
        .prepare_cached(
            "SELECT requester, request, reply FROM seen_requests WHERE request_id = ?1",
        )?
        .query_row([r.request_id.0.to_vec()], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .optional()?;
    let Some((requester, request, reply)) = row else {
        return Ok(None);
    };
    // The id was used by another requester, for another request, or before replies were kept.
    let same = requester == r.requester.as_str()
        && request
            .map(|b| postcard::from_bytes::<SummaryRequest>(&b))
            .transpose()?
            .is_some_and(|earlier| earlier == same_request(r));
    match (same, reply) {
        (true, Some(reply)) => Ok(Some(postcard::from_bytes(&reply)?)),
        _ => {
            entries::refusal(tx, env, r, None, RefusalCode::ReplayedRequest, digest)?;
            Ok(Some(refuse(RefusalCode::ReplayedRequest)))
        }
    }
}

fn build_summary(
    db: &rusqlite::Connection,
    person: &Avs,
    categories: &[protocol_spec::category::Category],
) -> anyhow::Result<Summary> {
    let mut summary = Summary::default();
    let mut st = db.prepare_cached(
        "SELECT field, value FROM record_fields WHERE avs = ?1 AND category = ?2 ORDER BY field",
    )?;
    for c in categories {
        let rows = st.query_map(rusqlite::params![person.digits(), c.as_str()], |r| {
            Ok(SummaryField {
                field: r.get(0)?,
                value: r.get(1)?,
            })
        })?;
        let fields = rows.collect::<Result<Vec<_>, _>>()?;
        summary.categories.insert(*c, fields);
    }
    Ok(summary)
}
