//! Coordinated cases and consents. Participants and consents change only through case events
//! signed by the node that made them; every participant replays the same history.

use crate::avs::Avs;
use crate::category::Category;
use crate::ids::{CaseId, ConsentId, EventId, InstitutionId, Purpose, StaffId};
use crate::keys::{PublicKey, Signature, SigningKey};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const CASE_EVENT_CONTEXT: &[u8] = b"passerelle/v1 case-event\n";
/// A case history longer than this is refused: it bounds what one push can make a node verify.
pub const MAX_CASE_EVENTS: usize = 1024;

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
        author_key.verify(&self.event.signing_input(), &self.signature)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Participation {
    Invited,
    Accepted,
    Left,
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
    #[error("event author {0} is not a current federation member")]
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
    pub status: CaseStatus,
    pub participants: BTreeMap<InstitutionId, Participation>,
    /// Consents with their revocation time, if revoked.
    pub consents: Vec<(Consent, Option<u64>)>,
    pub history: Vec<SignedCaseEvent>,
}

impl CoordinatedCase {
    /// Starts a case from its signed opening event.
    pub fn open(ev: SignedCaseEvent, author_key: &PublicKey) -> Result<Self, CaseError> {
        let CaseEventKind::Opened { person } = &ev.event.kind else {
            return Err(CaseError::NotOpening);
        };
        if !ev.verify(author_key) {
            return Err(CaseError::BadSignature(ev.event.author.clone()));
        }
        let mut participants = BTreeMap::new();
        participants.insert(ev.event.author.clone(), Participation::Accepted);
        Ok(CoordinatedCase {
            case_id: ev.event.case_id,
            person: person.clone(),
            opened_by: ev.event.author.clone(),
            opened_at: ev.event.at,
            status: CaseStatus::Open,
            participants,
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
            .filter(|(_, p)| **p != Participation::Left)
            .map(|(id, _)| id)
    }

    pub fn knows_event(&self, id: &EventId) -> bool {
        self.history.iter().any(|e| &e.event.event_id == id)
    }

    /// Checks that `ev` is a valid next event, without applying it.
    pub fn check(&self, ev: &SignedCaseEvent, author_key: &PublicKey) -> Result<(), CaseError> {
        let e = &ev.event;
        if e.case_id != self.case_id {
            return Err(CaseError::WrongCase);
        }
        if !ev.verify(author_key) {
            return Err(CaseError::BadSignature(e.author.clone()));
        }
        if self.history.len() >= MAX_CASE_EVENTS {
            return Err(CaseError::TooLong);
        }
        let author = self.participants.get(&e.author).copied();
        let deny = |why| Err(CaseError::NotAllowed(e.author.clone(), why));
        if self.status == CaseStatus::Closed {
            return Err(CaseError::Closed);
        }
        match &e.kind {
            CaseEventKind::Opened { .. } => deny("a case is opened only once"),
            CaseEventKind::Accepted => match author {
                Some(Participation::Invited) => Ok(()),
                _ => deny("only an invited institution accepts"),
            },
            _ if author != Some(Participation::Accepted) => {
                deny("only a participant changes the case")
            }
            CaseEventKind::Invited { institution } => {
                if self.participants.get(institution) == Some(&Participation::Accepted) {
                    deny("institution already participates")
                } else {
                    Ok(())
                }
            }
            CaseEventKind::Left => {
                if e.author == self.opened_by {
                    deny("the opener closes the case instead of leaving it")
                } else {
                    Ok(())
                }
            }
            CaseEventKind::Closed => {
                if e.author == self.opened_by {
                    Ok(())
                } else {
                    deny("only the opener closes the case")
                }
            }
            CaseEventKind::ConsentRecorded(c) => self.check_consent(c),
            CaseEventKind::ConsentRevoked { consent_id } => {
                match self
                    .consents
                    .iter()
                    .find(|(c, _)| &c.consent_id == consent_id)
                {
                    Some((_, None)) => Ok(()),
                    Some((_, Some(_))) => deny("consent already revoked"),
                    None => deny("no such consent in this case"),
                }
            }
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

    /// Applies a checked event. Returns `false` if the event was already known.
    pub fn apply(
        &mut self,
        ev: SignedCaseEvent,
        author_key: &PublicKey,
    ) -> Result<bool, CaseError> {
        if self.knows_event(&ev.event.event_id) {
            return Ok(false);
        }
        self.check(&ev, author_key)?;
        self.apply_unchecked(ev);
        Ok(true)
    }

    fn apply_unchecked(&mut self, ev: SignedCaseEvent) {
        let e = &ev.event;
        match &e.kind {
            CaseEventKind::Opened { .. } => return, // only the first event opens
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

    /// Rebuilds a case from a full signed history, looking authors' keys up with `key_of`.
    pub fn replay(
        history: &[SignedCaseEvent],
        key_of: impl Fn(&InstitutionId) -> Option<PublicKey>,
    ) -> Result<Self, CaseError> {
        if history.len() > MAX_CASE_EVENTS {
            return Err(CaseError::TooLong);
        }
        let (first, rest) = history.split_first().ok_or(CaseError::NotOpening)?;
        let key = key_of(&first.event.author)
            .ok_or_else(|| CaseError::UnknownAuthor(first.event.author.clone()))?;
        let mut case = CoordinatedCase::open(first.clone(), &key)?;
        for ev in rest {
            case.merge_one(ev, &key_of)?;
        }
        Ok(case)
    }

    /// Rebuilds a case from a history this node verified when it stored it.
    pub fn restore(history: Vec<SignedCaseEvent>) -> Result<Self, CaseError> {
        let mut it = history.into_iter();
        let first = it.next().ok_or(CaseError::NotOpening)?;
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
            status: CaseStatus::Open,
            participants,
            consents: Vec::new(),
            history: vec![first],
        };
        for ev in it {
            case.apply_unchecked(ev);
        }
        Ok(case)
    }

    /// Merges events from a peer's copy of the history; returns how many were new.
    pub fn merge(
        &mut self,
        history: &[SignedCaseEvent],
        key_of: impl Fn(&InstitutionId) -> Option<PublicKey>,
    ) -> Result<usize, CaseError> {
        if history.len() > MAX_CASE_EVENTS {
            return Err(CaseError::TooLong);
        }
        let first = history.first().ok_or(CaseError::NotOpening)?;
        if first.event.case_id != self.case_id || first.event != self.history[0].event {
            return Err(CaseError::WrongCase);
        }
        let mut new = 0;
        for ev in &history[1..] {
            if self.merge_one(ev, &key_of)? {
                new += 1;
            }
        }
        Ok(new)
    }

    fn merge_one(
        &mut self,
        ev: &SignedCaseEvent,
        key_of: &impl Fn(&InstitutionId) -> Option<PublicKey>,
    ) -> Result<bool, CaseError> {
        let key = key_of(&ev.event.author)
            .ok_or_else(|| CaseError::UnknownAuthor(ev.event.author.clone()))?;
        self.apply(ev.clone(), &key)
    }
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

    #[test]
    fn invite_accept_consent_revoke() {
        let a = SigningKey::from_seed([1; 32]);
        let b = SigningKey::from_seed([2; 32]);
        let keys = |id: &InstitutionId| match id.as_str() {
            "ne.orp" => Some(a.public()),
            "ne.oai" => Some(b.public()),
            _ => None,
        };
        let person: Avs = "7569217076985".parse().unwrap();
        let consent = Consent {
            consent_id: ConsentId([9; 16]),
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
        let h = vec![
            ev("ne.orp", &a, 1, CaseEventKind::Opened { person }),
            ev(
                "ne.orp",
                &a,
                2,
                CaseEventKind::Invited {
                    institution: inst("ne.oai"),
                },
            ),
            ev("ne.oai", &b, 3, CaseEventKind::Accepted),
            ev("ne.orp", &a, 4, CaseEventKind::ConsentRecorded(consent)),
        ];
        let case = CoordinatedCase::replay(&h, keys).unwrap();
        assert!(case.is_participant(&inst("ne.oai")));
        assert_eq!(case.consents.len(), 1);

        // The invitee may not accept on the opener's behalf, nor may an outsider invite.
        let forged = ev("ne.oai", &a, 5, CaseEventKind::Closed);
        let mut c2 = case.clone();
        assert!(matches!(
            c2.apply(forged, &b.public()),
            Err(CaseError::BadSignature(_))
        ));
        let mut c3 = case.clone();
        let revoke = ev(
            "ne.oai",
            &b,
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

    /// Spec §6.4 step 3: a known case's opening event is compared as a `CaseEvent` value (its
    /// postcard bytes), never by its signature, which was verified when it was accepted.
    #[test]
    fn merge_compares_the_opening_event_not_its_signature() {
        let a = SigningKey::from_seed([1; 32]);
        let keys = |id: &InstitutionId| (id.as_str() == "ne.orp").then(|| a.public());
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
}
