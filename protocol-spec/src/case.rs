//! Coordinated cases and consents. Participants and consents change only through case events
//! signed by the node that made them; every participant replays the same history.

use crate::avs::Avs;
use crate::category::Category;
use crate::ids::{CaseId, ConsentId, EventId, InstitutionId, Purpose, StaffId};
use crate::keys::{PublicKey, Signature, SignatureCheck, SigningKey, Strict};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const CASE_EVENT_CONTEXT: &[u8] = b"passerelle/v1 case-event\n";
/// A case history longer than this is refused: it bounds what one push can make a node verify.
pub const MAX_CASE_EVENTS: usize = 1024;
/// A received history with an event dated more than this many seconds after the receiver's
/// clock is rejected (spec §6.4): case times only grow, so one event dated far ahead would hold
/// back every later change, a revocation included. An hour covers the request freshness window
/// (300 s) and the Lamport steps of a full history (one second per event at most).
pub const MAX_EVENT_AHEAD_S: u64 = 3600;

/// The person's consent as recorded by a case worker from the signed paper form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub consent_id: ConsentId,
    pub case_id: CaseId,
    /// Institutions between which the person consents to exchange (sources and recipients).
    pub participants: Vec<InstitutionId>,
    pub purposes: Vec<Purpose>,
    pub categories: Vec<Category>,
    /// Validity, unix seconds, inclusive bounds.
    pub valid_from: u64,
    pub valid_until: u64,
    /// SHA-256 of the scanned, signed consent form, if attached.
    #[serde(with = "crate::ids::hex32::option")]
    pub form_digest: Option<[u8; 32]>,
    pub recorded_by: StaffId,
    pub recorded_at: u64,
}

/// Why a consent does not cover a request, in the order the checks are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConsentGap {
    Parties,
    NotYetValid,
    Expired,
    Revoked,
    Purpose,
    Categories,
}

impl Consent {
    pub fn check(
        &self,
        source: &InstitutionId,
        recipient: &InstitutionId,
        purpose: &Purpose,
        categories: &[Category],
        now: u64,
        revoked: bool,
    ) -> Result<(), ConsentGap> {
        if !self.participants.contains(source) || !self.participants.contains(recipient) {
            return Err(ConsentGap::Parties);
        }
        if now < self.valid_from {
            return Err(ConsentGap::NotYetValid);
        }
        if now > self.valid_until {
            return Err(ConsentGap::Expired);
        }
        // After validity: a revoked current consent is the reason worth naming.
        if revoked {
            return Err(ConsentGap::Revoked);
        }
        if !self.purposes.contains(purpose) {
            return Err(ConsentGap::Purpose);
        }
        if !categories.iter().all(|c| self.categories.contains(c)) {
            return Err(ConsentGap::Categories);
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaseEventKind {
    /// The author opens the case about `person` and is its first participant.
    Opened {
        person: Avs,
    },
    Invited {
        institution: InstitutionId,
    },
    /// The author, previously invited, accepts.
    Accepted,
    /// The author, a participant, leaves; it no longer receives or discloses for the case.
    Left,
    /// Only the opener closes the case; no disclosure happens for a closed case.
    Closed,
    ConsentRecorded(Consent),
    ConsentRevoked {
        consent_id: ConsentId,
    },
    /// The author, previously invited (or referred), turns the invitation down.
    Declined {
        reason: DeclineReason,
    },
    /// The lead takes an invited or participating institution out of the case.
    Removed {
        institution: InstitutionId,
    },
    /// The lead hands its role (closing, removing, handing over) to another participant.
    LeadHandedOver {
        to: InstitutionId,
    },
    /// A participant refers the person to another service: an invitation that, once accepted,
    /// brings the referrer's summary for `purpose` and `categories` (spec §6.6).
    Referred {
        institution: InstitutionId,
        purpose: Purpose,
        categories: Vec<Category>,
    },
}

/// Why an invited institution declines, from a closed list: a free text could carry
/// personal data into every participant's store and log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeclineReason {
    /// The situation is outside the service's mandate.
    NotCompetent,
    /// The service has no place or capacity now.
    NoCapacity,
    /// The person does not want this service involved.
    PersonDeclined,
    /// The service already follows the person in another case.
    AlreadyFollowed,
    Other,
}

impl DeclineReason {
    pub const ALL: [DeclineReason; 5] = [
        DeclineReason::NotCompetent,
        DeclineReason::NoCapacity,
        DeclineReason::PersonDeclined,
        DeclineReason::AlreadyFollowed,
        DeclineReason::Other,
    ];

    /// The text form (spec §6.1), the same in JSON, log entries and tool output.
    pub fn as_str(self) -> &'static str {
        match self {
            DeclineReason::NotCompetent => "not-competent",
            DeclineReason::NoCapacity => "no-capacity",
            DeclineReason::PersonDeclined => "person-declined",
            DeclineReason::AlreadyFollowed => "already-followed",
            DeclineReason::Other => "other",
        }
    }
}

impl std::str::FromStr for DeclineReason {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                let all: Vec<&str> = Self::ALL.iter().map(|r| r.as_str()).collect();
                format!("unknown decline reason (one of: {})", all.join(", "))
            })
    }
}

/// A referral in force: who referred the institution, for which purpose and categories.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Referral {
    pub by: InstitutionId,
    pub institution: InstitutionId,
    pub purpose: Purpose,
    pub categories: Vec<Category>,
    pub event_id: EventId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseEvent {
    pub event_id: EventId,
    pub case_id: CaseId,
    pub author: InstitutionId,
    /// Staff member at the author who made the change.
    pub staff: StaffId,
    pub at: u64,
    pub kind: CaseEventKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCaseEvent {
    pub event: CaseEvent,
    pub signature: Signature,
}

impl CaseEvent {
    pub fn signing_input(&self) -> Vec<u8> {
        let mut out = CASE_EVENT_CONTEXT.to_vec();
        out.extend(postcard::to_stdvec(self).expect("case event encodes"));
        out
    }

    pub fn sign(self, key: &SigningKey) -> SignedCaseEvent {
        let signature = key.sign(&self.signing_input());
        SignedCaseEvent {
            event: self,
            signature,
        }
    }
}

impl SignedCaseEvent {
    pub fn verify(&self, author_key: &PublicKey) -> bool {
        self.holds(author_key, &Strict)
    }

    /// Whether the signature holds under `author_key`, as `check` judges it.
    pub fn holds(&self, author_key: &PublicKey, check: &dyn SignatureCheck) -> bool {
        check.holds(author_key, &self.event.signing_input(), &self.signature)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Participation {
    Invited,
    Accepted,
    Left,
    Declined,
    Removed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaseStatus {
    Open,
    Closed,
}

impl Participation {
    /// The text form (spec §6.2), the same in JSON and in tool output.
    pub fn as_str(self) -> &'static str {
        match self {
            Participation::Invited => "invited",
            Participation::Accepted => "accepted",
            Participation::Left => "left",
            Participation::Declined => "declined",
            Participation::Removed => "removed",
        }
    }
}

impl CaseStatus {
    /// The text form (spec §6.2), the same in JSON and in tool output.
    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Open => "open",
            CaseStatus::Closed => "closed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaseError {
    #[error("case history must start with the opening event")]
    NotOpening,
    #[error("event belongs to another case")]
    WrongCase,
    #[error("event signature does not verify for its author {0}")]
    BadSignature(InstitutionId),
    #[error("event author {0} is neither a federation member nor in the roster's key history")]
    UnknownAuthor(InstitutionId),
    #[error("{0} may not make this change: {1}")]
    NotAllowed(InstitutionId, &'static str),
    #[error("case is closed")]
    Closed,
    #[error("case history exceeds {MAX_CASE_EVENTS} events")]
    TooLong,
    #[error("consent is invalid: {0}")]
    InvalidConsent(&'static str),
}

/// A coordinated case as every participant sees it after replaying the signed history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoordinatedCase {
    pub case_id: CaseId,
    pub person: Avs,
    pub opened_by: InstitutionId,
    pub opened_at: u64,
    /// Who closes the case, removes institutions and hands the role over: the opener first.
    pub lead: InstitutionId,
    pub status: CaseStatus,
    pub participants: BTreeMap<InstitutionId, Participation>,
    /// Referrals in force, the latest per referred institution.
    pub referrals: Vec<Referral>,
    /// The event that last took each institution out of the case (`Left`, `Declined`,
    /// `Removed`), in effect.
    pub exits: BTreeMap<InstitutionId, EventId>,
    /// Consents with their revocation time, if revoked.
    pub consents: Vec<(Consent, Option<u64>)>,
    pub history: Vec<SignedCaseEvent>,
}

impl CoordinatedCase {
    /// Starts a case from its signed opening event.
    pub fn open(ev: SignedCaseEvent, author_key: &PublicKey) -> Result<Self, CaseError> {
        Self::open_checked(ev, author_key, &Strict)
    }

    /// [`Self::open`], its signature judged by `check`.
    pub fn open_checked(
        ev: SignedCaseEvent,
        author_key: &PublicKey,
        check: &dyn SignatureCheck,
    ) -> Result<Self, CaseError> {
        let CaseEventKind::Opened { person } = &ev.event.kind else {
            return Err(CaseError::NotOpening);
        };
        if !ev.holds(author_key, check) {
            return Err(CaseError::BadSignature(ev.event.author.clone()));
        }
        let mut participants = BTreeMap::new();
        participants.insert(ev.event.author.clone(), Participation::Accepted);
        Ok(CoordinatedCase {
            case_id: ev.event.case_id,
            person: person.clone(),
            opened_by: ev.event.author.clone(),
            opened_at: ev.event.at,
            lead: ev.event.author.clone(),
            status: CaseStatus::Open,
            participants,
            referrals: Vec::new(),
            exits: BTreeMap::new(),
            consents: Vec::new(),
            history: vec![ev],
        })
    }

    pub fn is_participant(&self, id: &InstitutionId) -> bool {
        self.participants.get(id) == Some(&Participation::Accepted)
    }

    /// Everyone who should receive the case history: accepted and invited institutions.
    pub fn audience(&self) -> impl Iterator<Item = &InstitutionId> {
        self.participants
            .iter()
            .filter(|(_, p)| matches!(p, Participation::Invited | Participation::Accepted))
            .map(|(id, _)| id)
    }

    /// The referral that brought `institution` into the case, if it was referred.
    pub fn referral_of(&self, institution: &InstitutionId) -> Option<&Referral> {
        self.referrals
            .iter()
            .find(|r| &r.institution == institution)
    }

    /// The events a removed institution is sent: the history up to and including the event
    /// that removed it, in canonical order, so it learns of its removal and of nothing later
    /// (spec §6.4). `None` unless `institution` is removed.
    pub fn history_until_removal(
        &self,
        institution: &InstitutionId,
    ) -> Option<Vec<SignedCaseEvent>> {
        if self.participants.get(institution) != Some(&Participation::Removed) {
            return None;
        }
        Some(self.history_until(self.exit_key(institution)?))
    }

    /// Whether `institution` is out of the case though the history names it: it left, declined
    /// or was removed, or every event that invited it was without effect (made concurrently
    /// with a change that voided it). Such an institution is told so when it counts itself in.
    pub fn is_out(&self, institution: &InstitutionId) -> bool {
        match self.participants.get(institution) {
            Some(Participation::Invited | Participation::Accepted) => false,
            Some(_) => true,
            None => self.ever_invited(institution),
        }
    }

    /// Whether the history names `institution`: it is in the participation map, or an event
    /// invites or refers it, with effect or not. Such an institution holds the case lawfully
    /// and may push its history (spec §6.4 step 2).
    pub fn names(&self, institution: &InstitutionId) -> bool {
        self.participants.contains_key(institution) || self.ever_invited(institution)
    }

    /// Whether an event of the history so far, by an institution of the participation map,
    /// invites or refers `institution`, with effect or not. An event by an institution the
    /// case never took in names nobody: else any member could name itself by inviting itself,
    /// then push histories of the case and revoke its consents.
    fn ever_invited(&self, institution: &InstitutionId) -> bool {
        self.history.iter().any(|e| match &e.event.kind {
            CaseEventKind::Invited { institution: i }
            | CaseEventKind::Referred { institution: i, .. } => {
                i == institution && self.participants.contains_key(&e.event.author)
            }
            _ => false,
        })
    }

    /// The opening event and every event up to `until` in canonical order.
    pub fn history_until(&self, until: (u64, [u8; 16])) -> Vec<SignedCaseEvent> {
        // The history is held in canonical order (fold and apply keep it so).
        let mut out = vec![self.history[0].clone()];
        out.extend(
            self.history[1..]
                .iter()
                .take_while(|e| order_key(e) <= until)
                .cloned(),
        );
        out
    }

    /// Where the history sent back to `institution` ends when it counts itself in the case
    /// with the history `offered` while this state has it out (spec §6.4): at the first event
    /// of this history, in canonical order, after which `offered` merged with this history up
    /// to that event puts `institution` out too. It learns what takes it out and nothing
    /// later. The cut follows from the events alone, never from the times `offered` claims:
    /// its sender dates its own events as it likes, and a cut at its latest event would hand a
    /// removed member every later event for one event of its own dated now. `None` when
    /// `offered` lacks nothing that puts `institution` out.
    pub fn cut_to_put_out(
        &self,
        offered: &[SignedCaseEvent],
        institution: &InstitutionId,
    ) -> Option<(u64, [u8; 16])> {
        self.first_cut_where(offered, |state| !state.audience().any(|i| i == institution))
    }

    /// Where the history sent back to `institution` ends when it counts itself out of the case
    /// with the history `offered` in another way than this state has it out (it declined a
    /// referral that a closing it lacks voided, say; spec §6.4): at the first event of this
    /// history, in canonical order, after which `offered` merged with this history up to that
    /// event gives `institution` the participation this state gives it. It learns what settles
    /// how it is out and nothing later. `None` when `offered` lacks nothing that does.
    pub fn cut_to_settle(
        &self,
        offered: &[SignedCaseEvent],
        institution: &InstitutionId,
    ) -> Option<(u64, [u8; 16])> {
        let here = self.participants.get(institution).copied();
        self.first_cut_where(offered, |state| {
            state.participants.get(institution).copied() == here
        })
    }

    /// The first event of this history, in canonical order, that `offered` lacks and after
    /// which the fold of `offered` with this history up to that event satisfies `holds`.
    fn first_cut_where(
        &self,
        offered: &[SignedCaseEvent],
        holds: impl Fn(&Self) -> bool,
    ) -> Option<(u64, [u8; 16])> {
        let held: std::collections::HashSet<&EventId> =
            offered.iter().map(|e| &e.event.event_id).collect();
        let opening = &self.history[0].event.event_id;
        let mut later: Vec<&SignedCaseEvent> = offered
            .get(1..)?
            .iter()
            .filter(|e| &e.event.event_id != opening)
            .collect();
        later.sort_by_key(|e| order_key(e));
        later.dedup_by_key(|e| e.event.event_id);
        // This state holds every offered event (merged), so the fold of `offered` with this
        // history up to an event is the fold of this history up to it, then the offered events
        // after it: built one event at a time, not folded again from the start for each.
        let mut prefix = Self::fold(self.history[0].clone(), Vec::new()).ok()?;
        for ev in &self.history[1..] {
            prefix.step(ev.clone());
            if held.contains(&ev.event.event_id) {
                continue;
            }
            let cut = order_key(ev);
            let after = later.iter().skip_while(|e| order_key(e) <= cut);
            if prefix.holds_after(after, &holds) {
                return Some(cut);
            }
        }
        None
    }

    /// One event of the fold (§6.3): in effect if the state allows it, else kept without effect.
    fn step(&mut self, ev: SignedCaseEvent) {
        if self.allows(&ev).is_ok() {
            self.apply_unchecked(ev);
        } else {
            self.history.push(ev);
        }
    }

    /// Whether the state satisfies `holds` once `events` are folded in after it; this state is
    /// left as it was.
    fn holds_after<'e>(
        &mut self,
        events: impl Iterator<Item = &'e &'e SignedCaseEvent>,
        holds: &impl Fn(&Self) -> bool,
    ) -> bool {
        // Everything but the history is copied; the history is cut back to where it was.
        let history = std::mem::take(&mut self.history);
        let kept = self.clone();
        self.history = history;
        let len = self.history.len();
        for ev in events {
            self.step((*ev).clone());
        }
        let result = holds(self);
        self.history.truncate(len);
        let history = std::mem::take(&mut self.history);
        *self = CoordinatedCase { history, ..kept };
        result
    }

    /// The history sent back to `institution` when it counts itself in the case with the
    /// history `offered` while this state has it out (spec §6.4): this history up to the cut
    /// ([`Self::cut_to_put_out`]), then the events of `offered` after it, which `institution`
    /// holds already: they address the history to it (they name it), and tell it nothing.
    /// `None` when there is no cut.
    pub fn sent_back(
        &self,
        offered: &[SignedCaseEvent],
        institution: &InstitutionId,
    ) -> Option<Vec<SignedCaseEvent>> {
        let cut = self.cut_to_put_out(offered, institution)?;
        Some(self.sent_back_until(cut, offered))
    }

    /// The history sent back to `institution` when it counts itself out of the case in
    /// another way than this state (spec §6.4): as [`Self::sent_back`], up to the cut of
    /// [`Self::cut_to_settle`]. `None` when there is no cut.
    pub fn sent_back_to_settle(
        &self,
        offered: &[SignedCaseEvent],
        institution: &InstitutionId,
    ) -> Option<Vec<SignedCaseEvent>> {
        let cut = self.cut_to_settle(offered, institution)?;
        Some(self.sent_back_until(cut, offered))
    }

    /// This history up to `cut`, then the events of `offered` after it.
    fn sent_back_until(
        &self,
        cut: (u64, [u8; 16]),
        offered: &[SignedCaseEvent],
    ) -> Vec<SignedCaseEvent> {
        let mut events = self.history_until(cut);
        let mut held: Vec<SignedCaseEvent> = offered[1..]
            .iter()
            .filter(|e| order_key(e) > cut)
            .cloned()
            .collect();
        held.sort_by_key(order_key);
        held.dedup_by(|a, b| a.event.event_id == b.event.event_id);
        events.extend(held);
        events
    }

    /// Where the event that took `institution` out of the case stands in canonical order,
    /// while it is out (left, declined or removed).
    pub fn exit_key(&self, institution: &InstitutionId) -> Option<(u64, [u8; 16])> {
        if !matches!(
            self.participants.get(institution),
            Some(Participation::Left | Participation::Declined | Participation::Removed)
        ) {
            return None;
        }
        let exit = self.exits.get(institution)?;
        self.history
            .iter()
            .find(|e| &e.event.event_id == exit)
            .map(order_key)
    }

    pub fn knows_event(&self, id: &EventId) -> bool {
        self.history.iter().any(|e| &e.event.event_id == id)
    }

    /// The `at` a new event by any author must have to come after every event of the case:
    /// case times are Lamport times, so an event always sorts after what its author had seen.
    pub fn next_time(&self, now: u64) -> u64 {
        let last = self.history.iter().map(|e| e.event.at).max().unwrap_or(0);
        now.max(last.saturating_add(1))
    }

    /// Whether `ev` may take effect on the current state (its signature aside). Revocation wins:
    /// any institution ever named in the case (in its participation map, or invited by an
    /// event without effect) revokes a recorded consent, even after it left and even once the
    /// case is closed.
    pub fn allows(&self, ev: &SignedCaseEvent) -> Result<(), CaseError> {
        let e = &ev.event;
        if e.case_id != self.case_id {
            return Err(CaseError::WrongCase);
        }
        let author = self.participants.get(&e.author).copied();
        let deny = |why| Err(CaseError::NotAllowed(e.author.clone(), why));
        if let CaseEventKind::ConsentRevoked { consent_id } = &e.kind {
            // Also an institution whose every invitation was voided by a concurrent change: it
            // took part in its own view, and nothing concurrent undoes a revocation.
            if author.is_none() && !self.ever_invited(&e.author) {
                return deny("only an institution named in the case revokes its consents");
            }
            return match self
                .consents
                .iter()
                .find(|(c, _)| &c.consent_id == consent_id)
            {
                Some((_, None)) => Ok(()),
                Some((_, Some(_))) => deny("consent already revoked"),
                None => deny("no such consent in this case"),
            };
        }
        if self.status == CaseStatus::Closed {
            return Err(CaseError::Closed);
        }
        let is_lead = e.author == self.lead;
        match &e.kind {
            CaseEventKind::Opened { .. } => deny("a case is opened only once"),
            CaseEventKind::Accepted => match author {
                Some(Participation::Invited) => Ok(()),
                _ => deny("only an invited institution accepts"),
            },
            CaseEventKind::Declined { .. } => match author {
                Some(Participation::Invited) => Ok(()),
                _ => deny("only an invited institution declines"),
            },
            _ if author != Some(Participation::Accepted) => {
                deny("only a participant changes the case")
            }
            CaseEventKind::Invited { institution }
            | CaseEventKind::Referred { institution, .. } => {
                if self.participants.get(institution) == Some(&Participation::Accepted) {
                    deny("institution already participates")
                } else if matches!(&e.kind, CaseEventKind::Referred { categories, .. } if categories.is_empty())
                {
                    deny("a referral names at least one category")
                } else {
                    Ok(())
                }
            }
            CaseEventKind::Left => {
                if is_lead {
                    deny("the lead hands the case over or closes it instead of leaving")
                } else {
                    Ok(())
                }
            }
            CaseEventKind::Closed => {
                if is_lead {
                    Ok(())
                } else {
                    deny("only the lead closes the case")
                }
            }
            CaseEventKind::Removed { institution } => {
                if !is_lead {
                    deny("only the lead removes an institution")
                } else if institution == &e.author {
                    deny("the lead hands the case over before it goes")
                } else if !matches!(
                    self.participants.get(institution),
                    Some(Participation::Invited | Participation::Accepted)
                ) {
                    deny("the institution is not invited to or taking part in the case")
                } else {
                    Ok(())
                }
            }
            CaseEventKind::LeadHandedOver { to } => {
                if !is_lead {
                    deny("only the lead hands the lead over")
                } else if to == &e.author
                    || self.participants.get(to) != Some(&Participation::Accepted)
                {
                    deny("the lead is handed to another participant")
                } else {
                    Ok(())
                }
            }
            CaseEventKind::ConsentRecorded(c) => self.check_consent(c),
            CaseEventKind::ConsentRevoked { .. } => unreachable!("handled above"),
        }
    }

    fn check_consent(&self, c: &Consent) -> Result<(), CaseError> {
        let bad = |why| Err(CaseError::InvalidConsent(why));
        if c.case_id != self.case_id {
            return bad("it names another case");
        }
        if c.participants.len() < 2 {
            return bad("it must name at least two institutions");
        }
        if c.purposes.is_empty() || c.categories.is_empty() {
            return bad("it must name at least one purpose and one category");
        }
        if c.valid_until < c.valid_from {
            return bad("its validity ends before it starts");
        }
        if self
            .consents
            .iter()
            .any(|(k, _)| k.consent_id == c.consent_id)
        {
            return bad("its id is already used");
        }
        if !c
            .participants
            .iter()
            .all(|p| self.participants.contains_key(p))
        {
            return bad("it names an institution that is not in the case");
        }
        Ok(())
    }

    /// Applies an event this node authors now: it must verify, come after every event of the
    /// case (see [`Self::next_time`]) and be allowed. Returns `false` if already known.
    pub fn apply(
        &mut self,
        ev: SignedCaseEvent,
        author_key: &PublicKey,
    ) -> Result<bool, CaseError> {
        self.apply_checked(ev, author_key, &Strict)
    }

    /// [`Self::apply`], the signature judged by `check`.
    pub fn apply_checked(
        &mut self,
        ev: SignedCaseEvent,
        author_key: &PublicKey,
        check: &dyn SignatureCheck,
    ) -> Result<bool, CaseError> {
        if self.knows_event(&ev.event.event_id) {
            return Ok(false);
        }
        if !ev.holds(author_key, check) {
            return Err(CaseError::BadSignature(ev.event.author.clone()));
        }
        if self.history.len() >= MAX_CASE_EVENTS {
            return Err(CaseError::TooLong);
        }
        if self
            .history
            .last()
            .is_some_and(|last| order_key(&ev) <= order_key(last))
        {
            return Err(CaseError::NotAllowed(
                ev.event.author.clone(),
                "a new event must come after every event of the case",
            ));
        }
        self.allows(&ev)?;
        self.apply_unchecked(ev);
        Ok(true)
    }

    fn apply_unchecked(&mut self, ev: SignedCaseEvent) {
        let e = &ev.event;
        match &e.kind {
            CaseEventKind::Opened { .. } => {}
            CaseEventKind::Invited { institution } => {
                self.participants
                    .insert(institution.clone(), Participation::Invited);
            }
            CaseEventKind::Accepted => {
                self.participants
                    .insert(e.author.clone(), Participation::Accepted);
            }
            CaseEventKind::Left => {
                self.participants
                    .insert(e.author.clone(), Participation::Left);
                self.exits.insert(e.author.clone(), e.event_id);
            }
            CaseEventKind::Declined { .. } => {
                self.participants
                    .insert(e.author.clone(), Participation::Declined);
                self.exits.insert(e.author.clone(), e.event_id);
                self.referrals.retain(|r| r.institution != e.author);
            }
            CaseEventKind::Removed { institution } => {
                self.participants
                    .insert(institution.clone(), Participation::Removed);
                self.exits.insert(institution.clone(), e.event_id);
                self.referrals.retain(|r| &r.institution != institution);
            }
            CaseEventKind::LeadHandedOver { to } => self.lead = to.clone(),
            CaseEventKind::Referred {
                institution,
                purpose,
                categories,
            } => {
                self.participants
                    .insert(institution.clone(), Participation::Invited);
                self.referrals.retain(|r| &r.institution != institution);
                self.referrals.push(Referral {
                    by: e.author.clone(),
                    institution: institution.clone(),
                    purpose: purpose.clone(),
                    categories: categories.clone(),
                    event_id: e.event_id,
                });
            }
            CaseEventKind::Closed => self.status = CaseStatus::Closed,
            CaseEventKind::ConsentRecorded(c) => self.consents.push((c.clone(), None)),
            CaseEventKind::ConsentRevoked { consent_id } => {
                if let Some(slot) = self
                    .consents
                    .iter_mut()
                    .find(|(c, _)| &c.consent_id == consent_id)
                {
                    slot.1 = Some(e.at);
                }
            }
        }
        self.history.push(ev);
    }

    /// The state of a set of verified events (spec §6.3): the opening first, then every other
    /// event in canonical order, `(at, event_id)`; an event allowed at its place takes effect,
    /// any other stays in the history without effect (a later-arriving event may change that).
    /// The same set gives the same state at every node, whatever order it arrived in.
    fn fold(first: SignedCaseEvent, rest: Vec<SignedCaseEvent>) -> Result<Self, CaseError> {
        let CaseEventKind::Opened { person } = &first.event.kind else {
            return Err(CaseError::NotOpening);
        };
        let mut participants = BTreeMap::new();
        participants.insert(first.event.author.clone(), Participation::Accepted);
        let mut case = CoordinatedCase {
            case_id: first.event.case_id,
            person: person.clone(),
            opened_by: first.event.author.clone(),
            opened_at: first.event.at,
            lead: first.event.author.clone(),
            status: CaseStatus::Open,
            participants,
            referrals: Vec::new(),
            exits: BTreeMap::new(),
            consents: Vec::new(),
            history: vec![first],
        };
        let mut rest = rest;
        rest.sort_by_key(order_key);
        rest.dedup_by(|a, b| a.event.event_id == b.event.event_id);
        for ev in rest {
            if ev.event.event_id == case.history[0].event.event_id {
                continue;
            }
            case.step(ev);
        }
        Ok(case)
    }

    /// Rebuilds a case from a full signed history, looking authors' keys up with `keys_of`
    /// (current and former keys, see [`crate::roster::Roster::case_event_keys`]).
    pub fn replay(
        history: &[SignedCaseEvent],
        keys_of: impl Fn(&InstitutionId) -> Vec<PublicKey>,
    ) -> Result<Self, CaseError> {
        Self::replay_checked(history, keys_of, &Strict)
    }

    /// [`Self::replay`], signatures judged by `check`.
    pub fn replay_checked(
        history: &[SignedCaseEvent],
        keys_of: impl Fn(&InstitutionId) -> Vec<PublicKey>,
        check: &dyn SignatureCheck,
    ) -> Result<Self, CaseError> {
        if history.len() > MAX_CASE_EVENTS {
            return Err(CaseError::TooLong);
        }
        let (first, rest) = history.split_first().ok_or(CaseError::NotOpening)?;
        if !matches!(first.event.kind, CaseEventKind::Opened { .. }) {
            return Err(CaseError::NotOpening);
        }
        for ev in history {
            verify_with(ev, first.event.case_id, &keys_of, check)?;
        }
        Self::fold(first.clone(), rest.to_vec())
    }

    /// Rebuilds a case from a history this node verified when it stored it.
    pub fn restore(history: Vec<SignedCaseEvent>) -> Result<Self, CaseError> {
        let mut it = history.into_iter();
        let first = it.next().ok_or(CaseError::NotOpening)?;
        Self::fold(first, it.collect())
    }

    /// Merges a peer's copy of the history: the union of both event sets, folded again.
    /// Only events this node does not hold yet are verified. Returns how many were new.
    pub fn merge(
        &mut self,
        history: &[SignedCaseEvent],
        keys_of: impl Fn(&InstitutionId) -> Vec<PublicKey>,
    ) -> Result<usize, CaseError> {
        self.merge_checked(history, keys_of, &Strict)
    }

    /// [`Self::merge`], signatures judged by `check`.
    pub fn merge_checked(
        &mut self,
        history: &[SignedCaseEvent],
        keys_of: impl Fn(&InstitutionId) -> Vec<PublicKey>,
        check: &dyn SignatureCheck,
    ) -> Result<usize, CaseError> {
        if history.len() > MAX_CASE_EVENTS {
            return Err(CaseError::TooLong);
        }
        let first = history.first().ok_or(CaseError::NotOpening)?;
        if first.event.case_id != self.case_id || first.event != self.history[0].event {
            return Err(CaseError::WrongCase);
        }
        let mut new: Vec<SignedCaseEvent> = Vec::new();
        for ev in &history[1..] {
            let id = &ev.event.event_id;
            if self.knows_event(id) || new.iter().any(|n| &n.event.event_id == id) {
                continue;
            }
            verify_with(ev, self.case_id, &keys_of, check)?;
            new.push(ev.clone());
        }
        if new.is_empty() {
            return Ok(0);
        }
        if self.history.len() + new.len() > MAX_CASE_EVENTS {
            return Err(CaseError::TooLong);
        }
        let count = new.len();
        let mut all = std::mem::take(&mut self.history);
        let first = all.remove(0);
        all.extend(new);
        *self = Self::fold(first, all)?;
        Ok(count)
    }
}

/// Where an event stands in a case's canonical order (after the opening event).
pub fn order_key(e: &SignedCaseEvent) -> (u64, [u8; 16]) {
    (e.event.at, e.event.event_id.0)
}

fn verify_with(
    ev: &SignedCaseEvent,
    case_id: CaseId,
    keys_of: &impl Fn(&InstitutionId) -> Vec<PublicKey>,
    check: &dyn SignatureCheck,
) -> Result<(), CaseError> {
    if ev.event.case_id != case_id {
        return Err(CaseError::WrongCase);
    }
    // An event signed before its author's key was retired, or before it was removed, stays
    // verifiable: the roster lists every key it ever vouched for.
    let keys = keys_of(&ev.event.author);
    if keys.is_empty() {
        return Err(CaseError::UnknownAuthor(ev.event.author.clone()));
    }
    if !keys.iter().any(|k| ev.holds(k, check)) {
        return Err(CaseError::BadSignature(ev.event.author.clone()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst(s: &str) -> InstitutionId {
        s.parse().unwrap()
    }

    fn ev(author: &str, key: &SigningKey, n: u8, kind: CaseEventKind) -> SignedCaseEvent {
        CaseEvent {
            event_id: EventId([n; 16]),
            case_id: CaseId([1; 16]),
            author: inst(author),
            staff: "alice".parse().unwrap(),
            at: 1000 + u64::from(n),
            kind,
        }
        .sign(key)
    }

    /// Consent 09…09 of the case 01…01, between ne.oai and ne.orp.
    fn orp_oai_consent(recorded_at: u64) -> Consent {
        Consent {
            consent_id: ConsentId([9; 16]),
            case_id: CaseId([1; 16]),
            participants: vec![inst("ne.oai"), inst("ne.orp")],
            purposes: vec!["coordinated-assessment".parse().unwrap()],
            categories: vec![Category::Employment],
            valid_from: 0,
            valid_until: 5000,
            form_digest: None,
            recorded_by: "alice".parse().unwrap(),
            recorded_at,
        }
    }

    /// The case-event keys of `names[i]`: `k[i]`'s public key.
    fn keys_by_name<'a>(
        names: &'a [&str],
        k: &'a [SigningKey],
    ) -> impl Fn(&InstitutionId) -> Vec<PublicKey> + Copy + 'a {
        move |id| {
            names
                .iter()
                .position(|n| *n == id.as_str())
                .map(|i| vec![k[i].public()])
                .unwrap_or_default()
        }
    }

    #[test]
    fn invite_accept_consent_revoke() {
        let k: Vec<SigningKey> = (1..=2).map(|i| SigningKey::from_seed([i; 32])).collect();
        let (a, b) = (&k[0], &k[1]);
        let keys = keys_by_name(&["ne.orp", "ne.oai"], &k);
        let person: Avs = "7569217076985".parse().unwrap();
        let consent = orp_oai_consent(1003);
        let h = vec![
            ev("ne.orp", a, 1, CaseEventKind::Opened { person }),
            ev(
                "ne.orp",
                a,
                2,
                CaseEventKind::Invited {
                    institution: inst("ne.oai"),
                },
            ),
            ev("ne.oai", b, 3, CaseEventKind::Accepted),
            ev("ne.orp", a, 4, CaseEventKind::ConsentRecorded(consent)),
        ];
        let case = CoordinatedCase::replay(&h, keys).unwrap();
        assert!(case.is_participant(&inst("ne.oai")));
        assert_eq!(case.consents.len(), 1);

        // The invitee may not accept on the opener's behalf, nor may an outsider invite.
        let forged = ev("ne.oai", a, 5, CaseEventKind::Closed);
        let mut c2 = case.clone();
        assert!(matches!(
            c2.apply(forged, &b.public()),
            Err(CaseError::BadSignature(_))
        ));
        let mut c3 = case.clone();
        let revoke = ev(
            "ne.oai",
            b,
            6,
            CaseEventKind::ConsentRevoked {
                consent_id: ConsentId([9; 16]),
            },
        );
        assert!(c3.apply(revoke.clone(), &b.public()).unwrap());
        assert!(c3.consents[0].1.is_some());
        // Replaying the same event is a no-op, not an error.
        assert!(!c3.apply(revoke, &b.public()).unwrap());
    }

    /// Three institutions with their keys: a case opened by ne.orp with ne.oai accepted.
    fn three() -> (Vec<SigningKey>, CoordinatedCase) {
        let keys: Vec<SigningKey> = (1..=3).map(|n| SigningKey::from_seed([n; 32])).collect();
        let person: Avs = "7569217076985".parse().unwrap();
        let mut case = CoordinatedCase::open(
            ev("ne.orp", &keys[0], 1, CaseEventKind::Opened { person }),
            &keys[0].public(),
        )
        .unwrap();
        let invite = CaseEventKind::Invited {
            institution: inst("ne.oai"),
        };
        case.apply(ev("ne.orp", &keys[0], 2, invite), &keys[0].public())
            .unwrap();
        case.apply(
            ev("ne.oai", &keys[1], 3, CaseEventKind::Accepted),
            &keys[1].public(),
        )
        .unwrap();
        (keys, case)
    }

    #[test]
    fn only_the_lead_closes_removes_and_hands_over_and_it_does_not_leave() {
        let (k, mut case) = three();
        let orp = k[0].public();
        let oai = k[1].public();
        let not_allowed = |r: Result<bool, CaseError>| matches!(r, Err(CaseError::NotAllowed(..)));
        // The lead neither leaves nor removes itself; a participant does not close or remove.
        assert!(not_allowed(
            case.clone()
                .apply(ev("ne.orp", &k[0], 4, CaseEventKind::Left), &orp)
        ));
        let remove_self = CaseEventKind::Removed {
            institution: inst("ne.orp"),
        };
        assert!(not_allowed(
            case.clone()
                .apply(ev("ne.orp", &k[0], 4, remove_self), &orp)
        ));
        assert!(not_allowed(
            case.clone()
                .apply(ev("ne.oai", &k[1], 4, CaseEventKind::Closed), &oai)
        ));
        let remove_lead = CaseEventKind::Removed {
            institution: inst("ne.orp"),
        };
        assert!(not_allowed(
            case.clone()
                .apply(ev("ne.oai", &k[1], 4, remove_lead), &oai)
        ));
        // The lead goes only to an accepted participant.
        let to_stranger = CaseEventKind::LeadHandedOver { to: inst("ne.sas") };
        assert!(not_allowed(
            case.clone()
                .apply(ev("ne.orp", &k[0], 4, to_stranger), &orp)
        ));
        let hand_over = CaseEventKind::LeadHandedOver { to: inst("ne.oai") };
        assert!(case.apply(ev("ne.orp", &k[0], 4, hand_over), &orp).unwrap());
        assert_eq!(case.lead, inst("ne.oai"));
        // Now the former lead may leave, and only the new lead closes.
        assert!(not_allowed(
            case.clone()
                .apply(ev("ne.orp", &k[0], 5, CaseEventKind::Closed), &orp)
        ));
        assert!(
            case.apply(ev("ne.orp", &k[0], 5, CaseEventKind::Left), &orp)
                .unwrap()
        );
        assert!(
            case.apply(ev("ne.oai", &k[1], 6, CaseEventKind::Closed), &oai)
                .unwrap()
        );
        assert_eq!(case.status, CaseStatus::Closed);
    }

    #[test]
    fn a_removed_institution_is_out_and_is_told_only_up_to_its_removal() {
        let (k, mut case) = three();
        let orp = k[0].public();
        let remove = CaseEventKind::Removed {
            institution: inst("ne.oai"),
        };
        assert!(case.apply(ev("ne.orp", &k[0], 4, remove), &orp).unwrap());
        let invite = CaseEventKind::Invited {
            institution: inst("ne.sas"),
        };
        assert!(case.apply(ev("ne.orp", &k[0], 5, invite), &orp).unwrap());
        assert_eq!(
            case.participants.get(&inst("ne.oai")),
            Some(&Participation::Removed)
        );
        assert!(!case.is_participant(&inst("ne.oai")));
        assert!(!case.audience().any(|i| i == &inst("ne.oai")));
        let told = case.history_until_removal(&inst("ne.oai")).unwrap();
        assert_eq!(
            told.len(),
            4,
            "opened, invited, accepted, removed; not the later invitation"
        );
        assert!(case.history_until_removal(&inst("ne.sas")).is_none());
        // The removed institution still revokes consents (revocation wins), but does not accept.
        assert!(matches!(
            case.clone().apply(
                ev("ne.oai", &k[1], 6, CaseEventKind::Accepted),
                &k[1].public()
            ),
            Err(CaseError::NotAllowed(..))
        ));
    }

    #[test]
    fn a_referral_is_an_invitation_with_its_summary_and_a_decline_ends_it() {
        let (k, mut case) = three();
        let oai = k[1].public();
        let refer = CaseEventKind::Referred {
            institution: inst("ne.sas"),
            purpose: "coordinated-assessment".parse().unwrap(),
            categories: vec![Category::Identity],
        };
        assert!(case.apply(ev("ne.oai", &k[1], 4, refer), &oai).unwrap());
        assert_eq!(
            case.participants.get(&inst("ne.sas")),
            Some(&Participation::Invited)
        );
        let r = case.referral_of(&inst("ne.sas")).unwrap();
        assert_eq!(r.by, inst("ne.oai"));
        let empty = CaseEventKind::Referred {
            institution: inst("ne.sas"),
            purpose: "coordinated-assessment".parse().unwrap(),
            categories: vec![],
        };
        assert!(matches!(
            case.clone().apply(ev("ne.oai", &k[1], 5, empty), &oai),
            Err(CaseError::NotAllowed(..))
        ));
        let decline = CaseEventKind::Declined {
            reason: DeclineReason::NoCapacity,
        };
        assert!(
            case.apply(ev("ne.sas", &k[2], 5, decline), &k[2].public())
                .unwrap()
        );
        assert_eq!(
            case.participants.get(&inst("ne.sas")),
            Some(&Participation::Declined)
        );
        assert!(case.referral_of(&inst("ne.sas")).is_none());
        assert!(!case.audience().any(|i| i == &inst("ne.sas")));
    }

    #[test]
    fn only_invited_institutions_accept() {
        let a = SigningKey::from_seed([1; 32]);
        let c = SigningKey::from_seed([3; 32]);
        let person: Avs = "7569217076985".parse().unwrap();
        let mut case = CoordinatedCase::open(
            ev("ne.orp", &a, 1, CaseEventKind::Opened { person }),
            &a.public(),
        )
        .unwrap();
        let intruder = ev("ne.smig", &c, 2, CaseEventKind::Accepted);
        assert!(matches!(
            case.apply(intruder, &c.public()),
            Err(CaseError::NotAllowed(..))
        ));
    }

    /// Two nodes receive the same events in different orders, including a consent recorded
    /// concurrently with the case's closing: they reach the same state.
    #[test]
    fn the_same_events_in_any_order_give_the_same_state() {
        let k: Vec<SigningKey> = (1..=2).map(|i| SigningKey::from_seed([i; 32])).collect();
        let (a, b) = (&k[0], &k[1]);
        let keys = keys_by_name(&["ne.orp", "ne.oai"], &k);
        let person: Avs = "7569217076985".parse().unwrap();
        let consent = |n: u8| Consent {
            consent_id: ConsentId([n; 16]),
            case_id: CaseId([1; 16]),
            participants: vec![inst("ne.oai"), inst("ne.orp")],
            purposes: vec!["coordinated-assessment".parse().unwrap()],
            categories: vec![Category::Employment],
            valid_from: 0,
            valid_until: 5000,
            form_digest: None,
            recorded_by: "alice".parse().unwrap(),
            recorded_at: 1003,
        };
        let opened = ev("ne.orp", a, 1, CaseEventKind::Opened { person });
        let invited = ev(
            "ne.orp",
            a,
            2,
            CaseEventKind::Invited {
                institution: inst("ne.oai"),
            },
        );
        let accepted = ev("ne.oai", b, 3, CaseEventKind::Accepted);
        let recorded = ev("ne.orp", a, 4, CaseEventKind::ConsentRecorded(consent(9)));
        // Concurrent: ne.orp closes (at 1005) while ne.oai records a second consent (at 1006)
        // and revokes the first (at 1007), each before hearing of the other.
        let closed = ev("ne.orp", a, 5, CaseEventKind::Closed);
        let late_consent = ev("ne.oai", b, 6, CaseEventKind::ConsentRecorded(consent(8)));
        let revoked = ev(
            "ne.oai",
            b,
            7,
            CaseEventKind::ConsentRevoked {
                consent_id: ConsentId([9; 16]),
            },
        );
        let base = vec![opened, invited, accepted, recorded];
        let mut at_orp = CoordinatedCase::replay(&base, keys).unwrap();
        at_orp
            .merge(&[base[0].clone(), closed.clone()], keys)
            .unwrap();
        at_orp
            .merge(
                &[base[0].clone(), late_consent.clone(), revoked.clone()],
                keys,
            )
            .unwrap();
        let mut at_oai = CoordinatedCase::replay(&base, keys).unwrap();
        at_oai
            .merge(
                &[base[0].clone(), revoked.clone(), late_consent.clone()],
                keys,
            )
            .unwrap();
        at_oai.merge(&[base[0].clone(), closed], keys).unwrap();
        assert_eq!(at_orp, at_oai);
        assert_eq!(at_orp.status, CaseStatus::Closed);
        // The consent recorded after the closing has no effect; the revocation does, closed
        // case or not: revocation wins.
        assert_eq!(at_orp.consents.len(), 1);
        assert_eq!(at_orp.consents[0].1, Some(1007));
        assert_eq!(
            at_orp.history.len(),
            7,
            "every event is kept, applied or not"
        );
    }

    #[test]
    fn a_participant_that_left_still_revokes_and_new_events_come_last() {
        let a = SigningKey::from_seed([1; 32]);
        let b = SigningKey::from_seed([2; 32]);
        let person: Avs = "7569217076985".parse().unwrap();
        let mut case = CoordinatedCase::open(
            ev("ne.orp", &a, 1, CaseEventKind::Opened { person }),
            &a.public(),
        )
        .unwrap();
        for (n, author, key, kind) in [
            (
                2,
                "ne.orp",
                &a,
                CaseEventKind::Invited {
                    institution: inst("ne.oai"),
                },
            ),
            (3, "ne.oai", &b, CaseEventKind::Accepted),
        ] {
            assert!(case.apply(ev(author, key, n, kind), &key.public()).unwrap());
        }
        let c = Consent {
            consent_id: ConsentId([9; 16]),
            case_id: CaseId([1; 16]),
            participants: vec![inst("ne.oai"), inst("ne.orp")],
            purposes: vec!["coordinated-assessment".parse().unwrap()],
            categories: vec![Category::Employment],
            valid_from: 0,
            valid_until: 5000,
            form_digest: None,
            recorded_by: "alice".parse().unwrap(),
            recorded_at: 1004,
        };
        case.apply(
            ev("ne.orp", &a, 4, CaseEventKind::ConsentRecorded(c)),
            &a.public(),
        )
        .unwrap();
        case.apply(ev("ne.oai", &b, 5, CaseEventKind::Left), &b.public())
            .unwrap();
        // An event older than the case's last is refused from the local author.
        let stale = CaseEvent {
            at: 1000,
            ..ev("ne.oai", &b, 6, CaseEventKind::Left).event
        }
        .sign(&b);
        assert!(case.apply(stale, &b.public()).is_err());
        let revoke = ev(
            "ne.oai",
            &b,
            7,
            CaseEventKind::ConsentRevoked {
                consent_id: ConsentId([9; 16]),
            },
        );
        assert!(case.apply(revoke, &b.public()).unwrap());
        assert!(case.consents[0].1.is_some());
        assert_eq!(case.next_time(0), 1008);
        assert_eq!(case.next_time(5000), 5000);
    }

    /// Spec §6.4 step 3: a known case's opening event is compared as a `CaseEvent` value (its
    /// postcard bytes), never by its signature, which was verified when it was accepted.
    #[test]
    fn merge_compares_the_opening_event_not_its_signature() {
        let a = SigningKey::from_seed([1; 32]);
        let keys = |id: &InstitutionId| {
            (id.as_str() == "ne.orp")
                .then(|| a.public())
                .into_iter()
                .collect()
        };
        let person: Avs = "7569217076985".parse().unwrap();
        let opened = ev("ne.orp", &a, 1, CaseEventKind::Opened { person });
        let mut case = CoordinatedCase::replay(std::slice::from_ref(&opened), keys).unwrap();

        let mut other_signature = opened.clone();
        other_signature.signature.0[0] ^= 1;
        assert_eq!(case.merge(&[other_signature], keys), Ok(0));

        let mut later = opened.event.clone();
        later.at += 1;
        assert_eq!(
            case.merge(&[later.sign(&a)], keys),
            Err(CaseError::WrongCase)
        );
        assert_eq!(case.history, vec![opened]);
    }

    /// Spec §6.3: an author's events verify under any key the roster vouches for it, current or
    /// former; a key it never had still refuses the history.
    #[test]
    fn events_under_a_retired_key_or_by_a_removed_member_verify() {
        let a_old = SigningKey::from_seed([1; 32]);
        let a_new = SigningKey::from_seed([3; 32]);
        let b = SigningKey::from_seed([2; 32]);
        let person: Avs = "7569217076985".parse().unwrap();
        let history = vec![
            ev("ne.orp", &a_old, 1, CaseEventKind::Opened { person }),
            ev(
                "ne.orp",
                &a_old,
                2,
                CaseEventKind::Invited {
                    institution: inst("ne.oai"),
                },
            ),
            ev("ne.oai", &b, 3, CaseEventKind::Accepted),
            ev("ne.orp", &a_new, 4, CaseEventKind::Closed),
        ];
        // ne.orp rotated from a_old to a_new; ne.oai was removed, its key kept as former.
        let keys = |id: &InstitutionId| match id.as_str() {
            "ne.orp" => vec![a_new.public(), a_old.public()],
            "ne.oai" => vec![b.public()],
            _ => vec![],
        };
        let case = CoordinatedCase::replay(&history, keys).unwrap();
        assert_eq!(case.status, CaseStatus::Closed);
        assert!(case.is_participant(&inst("ne.oai")));
        // Without the history, the same events are refused as they always were.
        let current_only = |id: &InstitutionId| match id.as_str() {
            "ne.orp" => vec![a_new.public()],
            _ => vec![],
        };
        assert_eq!(
            CoordinatedCase::replay(&history, current_only),
            Err(CaseError::BadSignature(inst("ne.orp")))
        );
        let mut held = CoordinatedCase::replay(&history[..1], keys).unwrap();
        assert_eq!(
            held.merge(&history, current_only),
            Err(CaseError::BadSignature(inst("ne.orp")))
        );
        assert_eq!(held.merge(&history, keys), Ok(3));
        // A key the roster never vouched for stays refused.
        let forged = ev(
            "ne.oai",
            &SigningKey::from_seed([9; 32]),
            5,
            CaseEventKind::Left,
        );
        assert_eq!(
            held.merge(&[history[0].clone(), forged], keys),
            Err(CaseError::BadSignature(inst("ne.oai")))
        );
    }

    /// ne.oai, removed at 4, invites ne.sas at 5 without knowing it, and ne.sas accepts:
    /// ne.sas is out at the lead's node (the invitation was void), in at its own.
    #[test]
    fn the_history_sent_back_ends_at_what_puts_the_sender_out() {
        let k: Vec<SigningKey> = (1..=4).map(|i| SigningKey::from_seed([i; 32])).collect();
        let names = ["ne.orp", "ne.oai", "ne.sas", "ne.smig"];
        let keys = keys_by_name(&names, &k);
        let invite = |who: &str| CaseEventKind::Invited {
            institution: inst(who),
        };
        let person: Avs = "7569217076985".parse().unwrap();
        let opened = ev("ne.orp", &k[0], 1, CaseEventKind::Opened { person });
        let before = vec![
            opened.clone(),
            ev("ne.orp", &k[0], 2, invite("ne.oai")),
            ev("ne.oai", &k[1], 3, CaseEventKind::Accepted),
        ];
        let removal = ev(
            "ne.orp",
            &k[0],
            4,
            CaseEventKind::Removed {
                institution: inst("ne.oai"),
            },
        );
        let void = [
            ev("ne.oai", &k[1], 5, invite("ne.sas")),
            ev("ne.sas", &k[2], 6, CaseEventKind::Accepted),
        ];
        let later = ev("ne.orp", &k[0], 7, invite("ne.smig"));
        let mut lead = CoordinatedCase::replay(&before, keys).unwrap();
        lead.merge(&[opened.clone(), removal.clone(), later.clone()], keys)
            .unwrap();
        // ne.sas's view, with an event of its own dated after everything the lead holds.
        let own = ev(
            "ne.sas",
            &k[2],
            9,
            CaseEventKind::ConsentRevoked {
                consent_id: ConsentId([7; 16]),
            },
        );
        let offered = [before.as_slice(), &void, &[own]].concat();
        assert!(
            CoordinatedCase::replay(&offered, keys)
                .unwrap()
                .is_participant(&inst("ne.sas"))
        );
        lead.merge(&offered, keys).unwrap();
        assert!(lead.is_out(&inst("ne.sas")));
        let cut = lead.cut_to_put_out(&offered, &inst("ne.sas")).unwrap();
        assert_eq!(cut, order_key(&removal), "the removal, and nothing later");
        let sent = lead.sent_back(&offered, &inst("ne.sas")).unwrap();
        assert!(sent.contains(&removal));
        assert!(!sent.contains(&later));
        // Addressed to ne.sas on its own (it names ne.sas, and tells it that it is out), and
        // with it ne.sas's view puts it out too: the two agree.
        assert!(
            CoordinatedCase::replay(&sent, keys)
                .unwrap()
                .is_out(&inst("ne.sas"))
        );
        let mut view = CoordinatedCase::replay(&offered, keys).unwrap();
        view.merge(&sent, keys).unwrap();
        assert!(view.is_out(&inst("ne.sas")));
        // A sender that lacks nothing that puts it out is sent nothing.
        assert_eq!(lead.cut_to_put_out(&lead.history, &inst("ne.sas")), None);
    }

    /// ne.orp removes ne.oai at 5; ne.oai, not knowing, invites ne.sas at 6, which accepts and
    /// records the person's revocation at 8. Every node holding these events has ne.sas out of
    /// the case (its invitation was void), and the revocation still takes effect: nothing
    /// concurrent undoes a revocation (spec §14.6).
    #[test]
    fn a_revocation_by_an_institution_whose_invitation_was_voided_takes_effect() {
        let k: Vec<SigningKey> = (1..=3).map(|i| SigningKey::from_seed([i; 32])).collect();
        let names = ["ne.orp", "ne.oai", "ne.sas"];
        let keys = keys_by_name(&names, &k);
        let person: Avs = "7569217076985".parse().unwrap();
        let consent = orp_oai_consent(1004);
        let history = vec![
            ev("ne.orp", &k[0], 1, CaseEventKind::Opened { person }),
            ev(
                "ne.orp",
                &k[0],
                2,
                CaseEventKind::Invited {
                    institution: inst("ne.oai"),
                },
            ),
            ev("ne.oai", &k[1], 3, CaseEventKind::Accepted),
            ev("ne.orp", &k[0], 4, CaseEventKind::ConsentRecorded(consent)),
            ev(
                "ne.orp",
                &k[0],
                5,
                CaseEventKind::Removed {
                    institution: inst("ne.oai"),
                },
            ),
            ev(
                "ne.oai",
                &k[1],
                6,
                CaseEventKind::Invited {
                    institution: inst("ne.sas"),
                },
            ),
            ev("ne.sas", &k[2], 7, CaseEventKind::Accepted),
            ev(
                "ne.sas",
                &k[2],
                8,
                CaseEventKind::ConsentRevoked {
                    consent_id: ConsentId([9; 16]),
                },
            ),
        ];
        let case = CoordinatedCase::replay(&history, keys).unwrap();
        assert!(case.is_out(&inst("ne.sas")), "its invitation was void");
        assert_eq!(case.consents[0].1, Some(1008), "and its revocation holds");
        // An institution no event names still revokes nothing.
        let outsider = SigningKey::from_seed([4; 32]);
        let mut with = history[..5].to_vec();
        with.push(ev(
            "ne.smig",
            &outsider,
            6,
            CaseEventKind::ConsentRevoked {
                consent_id: ConsentId([9; 16]),
            },
        ));
        let keys_too = |id: &InstitutionId| {
            if id.as_str() == "ne.smig" {
                vec![outsider.public()]
            } else {
                keys(id)
            }
        };
        let case = CoordinatedCase::replay(&with, keys_too).unwrap();
        assert_eq!(case.consents[0].1, None);
        // Nor does one that names itself: only an invitation by an institution of the case
        // names another.
        let mut self_named = history[..5].to_vec();
        self_named.push(ev(
            "ne.smig",
            &outsider,
            6,
            CaseEventKind::Invited {
                institution: inst("ne.smig"),
            },
        ));
        self_named.push(ev(
            "ne.smig",
            &outsider,
            7,
            CaseEventKind::ConsentRevoked {
                consent_id: ConsentId([9; 16]),
            },
        ));
        let case = CoordinatedCase::replay(&self_named, keys_too).unwrap();
        assert!(!case.names(&inst("ne.smig")));
        assert_eq!(
            case.consents[0].1, None,
            "a self-invitation revoked a consent"
        );
    }
}
