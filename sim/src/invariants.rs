//! The simulator's invariants, checked on the nodes' committed state while the federation runs
//! and once it has settled. Each check names the invariant it guards; a failure ends the run.
//! Invariant 5, on checkpoints and witnesses, is checked by the witness rounds
//! (`crate::witnessing`).

use crate::node::SimNode;
use protocol_spec::case::{CaseStatus, CoordinatedCase, Participation};
use protocol_spec::entry::LogEntry;
use protocol_spec::exchange::{
    Disclosure, Refusal, RefusalCode, SignedSummaryRequest, SummaryRequest,
};
use protocol_spec::ids::{CaseId, ConsentId, InstitutionId, RequestId, SummaryId};
use protocol_spec::keys::PublicKey;
use protocol_spec::peer::PeerReply;
use protocol_spec::rule;
use protocol_spec::staff::ReceivedSummary;
use rusqlite::{Connection, OptionalExtension};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::rc::Rc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invariant {
    /// 1. No disclosure unless the rule held at the responder, on its committed state.
    RuleHeld,
    /// 2. Once a node recorded a revocation, it neither discloses, requests nor keeps under it.
    RevocationWins,
    /// 3. Every acknowledged exchange is in both logs after any crash; nothing happens twice.
    ExchangedOnce,
    /// 4. Once the network heals and outboxes drain, every participant holds the same case.
    Converged,
    /// 5. No node signs two inconsistent checkpoints; no witness cosigns a fork.
    Witnessed,
    /// 6. An unconcerned requester gets identical reply bytes whatever the responder holds.
    NoOracle,
    /// A case history forged by the misbehaving member was accepted.
    ForgedHistory,
    /// The simulator could not go on (a store error, a setup step refused).
    Harness,
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Invariant::RuleHeld => "invariant 1: no disclosure unless the rule held",
            Invariant::RevocationWins => "invariant 2: revocation wins",
            Invariant::ExchangedOnce => "invariant 3: acknowledged exchanges are logged, once",
            Invariant::Converged => "invariant 4: participants converge",
            Invariant::Witnessed => "invariant 5: no checkpoint fork signed or cosigned",
            Invariant::NoOracle => "invariant 6: unconcerned requesters get identical bytes",
            Invariant::ForgedHistory => "forged case history accepted",
            Invariant::Harness => "simulator failure",
        })
    }
}

#[derive(Debug, Clone)]
pub struct Failure {
    pub invariant: Invariant,
    pub detail: String,
}

pub type Check = Result<(), Failure>;

pub fn fail(invariant: Invariant, detail: impl Into<String>) -> Check {
    Err(Failure {
        invariant,
        detail: detail.into(),
    })
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure {
            invariant: Invariant::Harness,
            detail: format!("{e:#}"),
        }
    }
}

/// A summary acknowledged to a case worker as received.
struct Ack {
    requester: usize,
    responder: usize,
    summary_id: SummaryId,
    digest: [u8; 32],
}

/// What the checks remember across steps.
#[derive(Default)]
pub struct Checker {
    /// Every signed request version seen on the network, by digest.
    request_of_digest: BTreeMap<[u8; 32], RequestId>,
    /// The sealed summary each request id was disclosed with.
    sealed_of_request: BTreeMap<RequestId, [u8; 32]>,
    acks: Vec<Ack>,
    acked: BTreeSet<RequestId>,
    /// Each node's log, by node index.
    logs: BTreeMap<usize, LogIndex>,
}

fn find(nodes: &[SimNode], id: &InstitutionId) -> Option<usize> {
    nodes.iter().position(|n| &n.inst.id == id)
}

fn revoked(case: Option<&CoordinatedCase>, consent: &ConsentId) -> bool {
    case.is_some_and(|c| {
        c.consents
            .iter()
            .any(|(k, r)| &k.consent_id == consent && r.is_some())
    })
}

/// What a node's log holds about exchanges, read incrementally: a log only ever grows.
#[derive(Default)]
struct LogIndex {
    size: u64,
    receipts: BTreeSet<[u8; 32]>,
    /// The request digest of every disclosure entry, in log order.
    disclosures: Vec<[u8; 32]>,
}

impl LogIndex {
    fn refresh(&mut self, node: &SimNode) -> Check {
        let size = node_core::store::log_size(&node.conn)?;
        if size < self.size {
            return fail(
                Invariant::ExchangedOnce,
                format!(
                    "{}'s log shrank from {} to {size} entries",
                    node.inst.id, self.size
                ),
            );
        }
        let mut st = node
            .conn
            .prepare_cached("SELECT entry FROM log_entries WHERE idx >= ?1 ORDER BY idx")
            .map_err(anyhow::Error::from)?;
        let mut rows = st.query([self.size as i64]).map_err(anyhow::Error::from)?;
        while let Some(row) = rows.next().map_err(anyhow::Error::from)? {
            let bytes: Vec<u8> = row.get(0).map_err(anyhow::Error::from)?;
            match LogEntry::parse(&bytes).map_err(anyhow::Error::from)? {
                LogEntry::Receipt(r) => {
                    self.receipts.insert(r.request);
                }
                LogEntry::Disclosure(d) => self.disclosures.push(d.request),
                _ => {}
            }
        }
        self.size = size;
        Ok(())
    }

    fn disclosed(&self, digest: &[u8; 32]) -> bool {
        self.disclosures.contains(digest)
    }
}

impl Checker {
    /// A responder released a disclosure after its step committed: judged again, independently,
    /// on its committed state (invariants 1, 2 and 3).
    pub fn disclosure_released(
        &mut self,
        node: &SimNode,
        from: &PublicKey,
        signed: &SignedSummaryRequest,
        d: &Disclosure,
        now: u64,
    ) -> Check {
        let core = node.core();
        let roster = &core.roster().roster;
        let r = &signed.request;
        let h = &d.header;
        let me = &node.inst.id;
        let Some(member) = roster.member_by_key(from) else {
            return fail(
                Invariant::RuleHeld,
                format!("{me} disclosed to a key that is not a member"),
            );
        };
        if member.id != r.requester || !signed.verify(&member.signing_key) {
            return fail(
                Invariant::RuleHeld,
                format!(
                    "{me} disclosed on a request by {} that {} did not sign",
                    r.requester, member.id
                ),
            );
        }
        if h.recipient != member.id || h.request_id != r.request_id || h.case_id != r.case_id {
            return fail(
                Invariant::RuleHeld,
                format!(
                    "{me} disclosed to {} on {}'s request",
                    h.recipient, member.id
                ),
            );
        }
        let case = node.case(&r.case_id)?;
        let case = case.as_deref();
        if revoked(case, &h.consent_id) {
            return fail(
                Invariant::RevocationWins,
                format!(
                    "{me} disclosed to {} under consent {}, which it has recorded as revoked (request {})",
                    h.recipient, h.consent_id, r.request_id
                ),
            );
        }
        // The rule must hold under the very consent the disclosure names: a retry answered with
        // an earlier disclosure may name another consent than the first one covering it now.
        let under_named = case.map(|c| {
            let mut c = c.clone();
            c.consents.retain(|(k, _)| k.consent_id == h.consent_id);
            c
        });
        match rule::decide(roster, me, r, under_named.as_ref(), now) {
            Ok(g) if g.categories == h.categories => {}
            Ok(g) => {
                return fail(
                    Invariant::RuleHeld,
                    format!(
                        "{me} disclosed {:?} to {}; the rule grants {:?} (request {})",
                        h.categories, h.recipient, g.categories, r.request_id
                    ),
                );
            }
            Err(code) => {
                return fail(
                    Invariant::RuleHeld,
                    format!(
                        "{me} disclosed to {} under consent {} (request {}), but on its committed state the rule refuses it: {}",
                        h.recipient,
                        h.consent_id,
                        r.request_id,
                        code.as_str()
                    ),
                );
            }
        }
        let sealed = d.sealed.digest();
        match self.sealed_of_request.get(&r.request_id) {
            Some(earlier) if *earlier != sealed => fail(
                Invariant::ExchangedOnce,
                format!(
                    "{me} disclosed request {} twice, with different sealed summaries",
                    r.request_id
                ),
            ),
            Some(_) => Ok(()),
            None => {
                self.sealed_of_request.insert(r.request_id, sealed);
                Ok(())
            }
        }
    }

    /// A requester handed a summary request to the network (invariant 2): never one that only
    /// consents it knows revoked would cover. What it has not heard of yet (a consent recorded
    /// elsewhere) is the responder's to judge, so other refusals of its own view are allowed.
    pub fn request_sent(
        &mut self,
        node: &SimNode,
        signed: &SignedSummaryRequest,
        now: u64,
    ) -> Check {
        self.seen(signed);
        let r = &signed.request;
        let Some(case) = node.case(&r.case_id)? else {
            return Ok(());
        };
        let fresh = SummaryRequest {
            issued_at: now,
            ..r.clone()
        };
        let roster = &node.core().roster().roster;
        let Err(code) = rule::decide(roster, &r.responder, &fresh, Some(&case), now) else {
            return Ok(());
        };
        let mut unrevoked = (*case).clone();
        for (_, revoked) in &mut unrevoked.consents {
            *revoked = None;
        }
        match rule::decide(roster, &r.responder, &fresh, Some(&unrevoked), now) {
            Ok(g) => fail(
                Invariant::RevocationWins,
                format!(
                    "{} sent request {} to {} although only consent {}, which it has recorded as revoked, covers it ({})",
                    node.inst.id,
                    r.request_id,
                    r.responder,
                    g.consent_id,
                    code.as_str()
                ),
            ),
            Err(_) => Ok(()),
        }
    }

    /// Any signed request seen on the network, so log entries (which name digests) can be
    /// traced back to request ids.
    pub fn seen(&mut self, signed: &SignedSummaryRequest) {
        self.request_of_digest
            .insert(signed.digest(), signed.request.request_id);
    }

    /// A requester kept a received summary: never under a consent it knows revoked
    /// (invariant 2).
    pub fn receipt_logged(&self, node: &SimNode, request_digest: &[u8; 32]) -> Check {
        let Some((_, d)) = stored_summary(&node.conn, |_, d| {
            &d.header.request_digest == request_digest
        })?
        else {
            return fail(
                Invariant::ExchangedOnce,
                format!(
                    "{} logged a receipt for request {} but keeps no summary for it",
                    node.inst.id,
                    hex::encode(request_digest)
                ),
            );
        };
        let case = node.case(&d.header.case_id)?;
        if revoked(case.as_deref(), &d.header.consent_id) {
            return fail(
                Invariant::RevocationWins,
                format!(
                    "{} kept a summary from {} under consent {}, which it has recorded as revoked",
                    node.inst.id, d.header.source, d.header.consent_id
                ),
            );
        }
        Ok(())
    }

    /// A case worker was told a summary was received (invariant 3): it is stored, both logs
    /// name the exchange, and no request is acknowledged twice.
    pub fn acknowledged(
        &mut self,
        nodes: &[SimNode],
        requester: usize,
        info: &ReceivedSummary,
    ) -> Check {
        let me = &nodes[requester].inst.id;
        let Some(req) = kept(&nodes[requester].conn, &info.summary_id)? else {
            return fail(
                Invariant::ExchangedOnce,
                format!(
                    "{me} acknowledged summary {} that it does not keep",
                    info.summary_id
                ),
            );
        };
        let request_id = req.request.request_id;
        if !self.acked.insert(request_id) {
            return fail(
                Invariant::ExchangedOnce,
                format!("{me} acknowledged request {request_id} twice"),
            );
        }
        let Some(responder) = find(nodes, &info.source) else {
            return fail(
                Invariant::ExchangedOnce,
                format!("{me} acknowledged a summary from unknown {}", info.source),
            );
        };
        let ack = Ack {
            requester,
            responder,
            summary_id: info.summary_id,
            digest: req.digest(),
        };
        for i in [requester, responder] {
            self.logs.entry(i).or_default().refresh(&nodes[i])?;
        }
        self.ack_durable(nodes, &ack)?;
        self.acks.push(ack);
        Ok(())
    }

    fn ack_durable(&self, nodes: &[SimNode], ack: &Ack) -> Check {
        let me = &nodes[ack.requester].inst.id;
        let you = &nodes[ack.responder].inst.id;
        let stored = kept(&nodes[ack.requester].conn, &ack.summary_id)?;
        if stored.is_none_or(|req| req.digest() != ack.digest) {
            return fail(
                Invariant::ExchangedOnce,
                format!(
                    "{me} no longer keeps acknowledged summary {}",
                    ack.summary_id
                ),
            );
        }
        let logs = |i: usize| self.logs.get(&i).expect("refreshed before");
        if !logs(ack.requester).receipts.contains(&ack.digest) {
            return fail(
                Invariant::ExchangedOnce,
                format!(
                    "{me}'s log has no receipt for acknowledged summary {}",
                    ack.summary_id
                ),
            );
        }
        if !logs(ack.responder).disclosed(&ack.digest) {
            return fail(
                Invariant::ExchangedOnce,
                format!(
                    "{you}'s log has no disclosure for the summary {me} acknowledged ({})",
                    ack.summary_id
                ),
            );
        }
        Ok(())
    }

    /// After crashes: every acknowledged exchange is still stored and logged on both sides.
    pub fn acks_durable(&mut self, nodes: &[SimNode]) -> Check {
        for (i, node) in nodes.iter().enumerate().filter(|(_, n)| n.joined) {
            self.logs.entry(i).or_default().refresh(node)?;
        }
        self.acks
            .iter()
            .try_for_each(|a| self.ack_durable(nodes, a))
    }

    /// At the end: at most one disclosure entry per request id in each responder's log, and at
    /// most one kept summary per request id at each requester.
    pub fn exchanged_once(&mut self, nodes: &[SimNode]) -> Check {
        self.acks_durable(nodes)?;
        for (i, log) in &self.logs {
            let me = &nodes[*i].inst.id;
            let mut disclosed = BTreeSet::new();
            for digest in &log.disclosures {
                let Some(id) = self.request_of_digest.get(digest) else {
                    return fail(
                        Invariant::ExchangedOnce,
                        format!("{me} logged a disclosure for a request never sent"),
                    );
                };
                if !disclosed.insert(*id) {
                    return fail(
                        Invariant::ExchangedOnce,
                        format!("{me}'s log has two disclosure entries for request {id}"),
                    );
                }
            }
            let mut kept = BTreeSet::new();
            let mut twice = None;
            stored_summary(&nodes[*i].conn, |_, d| {
                if !kept.insert(d.header.request_id) {
                    twice = Some(d.header.request_id);
                }
                false
            })?;
            if let Some(id) = twice {
                return fail(
                    Invariant::ExchangedOnce,
                    format!("{me} keeps two summaries for request {id}"),
                );
            }
        }
        Ok(())
    }
}

/// The request version a kept summary answered.
fn kept(conn: &Connection, summary_id: &SummaryId) -> anyhow::Result<Option<SignedSummaryRequest>> {
    let bytes: Option<Vec<u8>> = conn
        .query_row(
            "SELECT request FROM summaries WHERE summary_id = ?1",
            [summary_id.0.to_vec()],
            |r| r.get(0),
        )
        .optional()?;
    Ok(bytes.map(|b| postcard::from_bytes(&b)).transpose()?)
}

/// The newest kept summary matching `pick`, with the request version it answered.
fn stored_summary(
    conn: &Connection,
    mut pick: impl FnMut(&SummaryId, &Disclosure) -> bool,
) -> anyhow::Result<Option<(SignedSummaryRequest, Disclosure)>> {
    let mut st = conn.prepare_cached(
        "SELECT summary_id, request, disclosure FROM summaries ORDER BY rowid DESC",
    )?;
    let mut rows = st.query([])?;
    while let Some(row) = rows.next()? {
        let id: Vec<u8> = row.get(0)?;
        let id = SummaryId(
            id.try_into()
                .map_err(|_| anyhow::anyhow!("corrupt summary id"))?,
        );
        let d: Disclosure = postcard::from_bytes(&row.get::<_, Vec<u8>>(2)?)?;
        if pick(&id, &d) {
            let req = postcard::from_bytes(&row.get::<_, Vec<u8>>(1)?)?;
            return Ok(Some((req, d)));
        }
    }
    Ok(None)
}

/// Invariant 6: the one reply an unconcerned requester may get, byte for byte.
pub fn unconcerned(reply: &PeerReply) -> Check {
    let expected = PeerReply::Refusal(Refusal {
        code: RefusalCode::NotConcerned,
    });
    let bytes = postcard::to_stdvec(reply).map_err(anyhow::Error::from)?;
    if bytes != postcard::to_stdvec(&expected).map_err(anyhow::Error::from)? {
        return fail(
            Invariant::NoOracle,
            format!("an unconcerned requester got {reply:?}"),
        );
    }
    Ok(())
}

/// What participants must agree on about a case.
#[derive(PartialEq, Eq)]
struct CaseState {
    participants: BTreeMap<InstitutionId, Participation>,
    lead: InstitutionId,
    status: CaseStatus,
    /// Consents, and whether each is revoked.
    consents: BTreeSet<(ConsentId, bool)>,
}

impl fmt::Debug for CaseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .participants
            .iter()
            .map(|(i, p)| format!("{i}:{p:?}"))
            .collect();
        let consents: Vec<String> = self
            .consents
            .iter()
            .map(|(c, r)| {
                format!(
                    "{}{}",
                    crate::trace::short(c),
                    if *r { " revoked" } else { "" }
                )
            })
            .collect();
        write!(
            f,
            "{:?} lead {} [{}] consents [{}]",
            self.status,
            self.lead,
            parts.join(", "),
            consents.join(", ")
        )
    }
}

impl CaseState {
    fn of(c: &CoordinatedCase) -> Self {
        CaseState {
            participants: c.participants.clone(),
            lead: c.lead.clone(),
            status: c.status,
            consents: c
                .consents
                .iter()
                .map(|(k, r)| (k.consent_id, r.is_some()))
                .collect(),
        }
    }
}

/// Invariant 4, once the network has healed and every outbox drained: every node agrees on
/// the roster, and every institution in a case's audience holds the same state of it. Cases
/// the misbehaving member opened are left out: it may tell each node another story.
pub fn converged(nodes: &[SimNode], rogue: &InstitutionId) -> Check {
    let live: Vec<usize> = (0..nodes.len()).filter(|i| nodes[*i].joined).collect();
    let version = |i: usize| nodes[i].core().roster().roster.version;
    if let Some(newest) = live.iter().map(|i| version(*i)).max()
        && let Some(behind) = live.iter().find(|i| version(**i) < newest)
    {
        return fail(
            Invariant::Converged,
            format!(
                "{} still uses roster version {} while version {newest} is out",
                nodes[*behind].inst.id,
                version(*behind)
            ),
        );
    }
    let mut views: BTreeMap<CaseId, BTreeMap<usize, Rc<CoordinatedCase>>> = BTreeMap::new();
    for &i in &live {
        for c in nodes[i].cases()? {
            views.entry(c.case_id).or_default().insert(i, c);
        }
    }
    for (case_id, held) in views {
        if held.values().any(|c| &c.opened_by == rogue) {
            continue;
        }
        let in_own_audience =
            |i: usize, c: &CoordinatedCase| c.audience().any(|a| a == &nodes[i].inst.id);
        let Some((&first, reference)) = held.iter().find(|(i, c)| in_own_audience(**i, c)) else {
            continue;
        };
        let reference_state = CaseState::of(reference);
        // Institutions in the case by their own account agree with each other...
        let mut listed: BTreeMap<&InstitutionId, usize> = BTreeMap::new();
        for (&i, c) in held.iter().filter(|(i, c)| in_own_audience(**i, c)) {
            let state = CaseState::of(c);
            if state != reference_state {
                return fail(
                    Invariant::Converged,
                    format!(
                        "case {case_id}: {} holds {reference_state:?}\n  but {} holds {state:?}",
                        nodes[first].inst.id, nodes[i].inst.id
                    ),
                );
            }
            for id in c.audience() {
                listed.entry(id).or_insert(i);
            }
        }
        // ...and everyone they count in holds the case and still counts itself in.
        for (id, by) in listed.into_iter().filter(|(id, _)| *id != rogue) {
            // A member that left the federation keeps the case as it was when it left.
            let Some(i) = find(nodes, id).filter(|i| nodes[*i].joined) else {
                continue;
            };
            let by = &nodes[by].inst.id;
            match held.get(&i) {
                None => {
                    return fail(
                        Invariant::Converged,
                        format!(
                            "case {case_id}: {id} is in its audience at {by} but does not hold it"
                        ),
                    );
                }
                Some(c) if !in_own_audience(i, c) => {
                    return fail(
                        Invariant::Converged,
                        format!(
                            "case {case_id}: {id} left it, but {by} still counts it in ({:?})",
                            reference_state
                        ),
                    );
                }
                Some(_) => {}
            }
        }
        // ...and an institution they removed holds the case and knows it was removed.
        let removed = reference_state
            .participants
            .iter()
            .filter(|(id, p)| **p == Participation::Removed && *id != rogue);
        for (id, _) in removed {
            // A member that left the federation keeps the case as it was when it left.
            let Some(i) = find(nodes, id).filter(|i| nodes[*i].joined) else {
                continue;
            };
            let knows = held
                .get(&i)
                .is_some_and(|c| c.participants.get(id) == Some(&Participation::Removed));
            if !knows {
                return fail(
                    Invariant::Converged,
                    format!(
                        "case {case_id}: {id} was removed ({reference_state:?}) but does not know it"
                    ),
                );
            }
        }
    }
    Ok(())
}
