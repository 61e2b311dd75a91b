//! Cryptography kept off the store thread: the store thread does only what must be serial, the
//! durable write. Signatures an input carries are checked before its step ([`precheck`]);
//! sealing, opening and signing happen between two steps ([`Work`] out, [`Done`] back in), and
//! the second step judges again on the state committed by then.

use crate::io::{HpkeRng, Input, Random, Ticket, Token};
use protocol_spec::case::{CaseEvent, SignedCaseEvent};
use protocol_spec::exchange::{
    Disclosure, DisclosureHeader, SignedSummaryRequest, Summary, SummaryRequest,
};
use protocol_spec::ids::{StaffId, SummaryId};
use protocol_spec::keys::{
    EncryptionKey, PublicKey, Signature, SignatureCheck, SigningKey, sha256,
};
use protocol_spec::peer::{PeerMessage, PeerReply};
use protocol_spec::roster::Roster;
use protocol_spec::stats::StatsReport;
use protocol_spec::stats::delivery::SignedStatsReport;
use protocol_spec::tlog::cosignature;
use protocol_spec::tlog::note::{self, Note, NoteVerifier, VerifierKey};
use protocol_spec::tlog::witness::AddCheckpoint;
use std::collections::HashSet;

/// Signatures found valid before the step. The core looks a signature up here and verifies it
/// itself only when it is missing, so a stale or empty set costs time, never correctness.
#[derive(Debug, Default, Clone)]
pub struct Verified(HashSet<[u8; 32]>);

impl Verified {
    /// Binds the key, the signature and the exact signed bytes.
    fn mark(key: &PublicKey, message: &[u8], signature: &Signature) -> [u8; 32] {
        sha256(&[&key.0, &signature.0, message])
    }

    /// Verifies now and remembers a success.
    fn check(&mut self, key: &PublicKey, message: &[u8], signature: &Signature) {
        if key.verify(message, signature) {
            self.0.insert(Self::mark(key, message, signature));
        }
    }

    /// Strict Ed25519 verification (spec §4.2), answered from the set when checked before.
    pub(crate) fn verify(&self, key: &PublicKey, message: &[u8], signature: &Signature) -> bool {
        self.0.contains(&Self::mark(key, message, signature)) || key.verify(message, signature)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A case event, under the first of its author's current and former keys it verifies with.
    fn check_event(&mut self, roster: &Roster, ev: &SignedCaseEvent) {
        let input = ev.event.signing_input();
        for key in roster.case_event_keys(&ev.event.author) {
            if self.0.contains(&Self::mark(&key, &input, &ev.signature)) {
                return;
            }
            if key.verify(&input, &ev.signature) {
                self.0.insert(Self::mark(&key, &input, &ev.signature));
                return;
            }
        }
    }

    /// A log key's Ed25519 signature lines of a checkpoint note.
    fn check_note(&mut self, key: &VerifierKey, note: &Note) {
        for s in &note.signatures {
            if key.sig_type == note::SIG_ED25519
                && s.name == key.name
                && s.key_id == key.key_id()
                && let Ok(sig) = <[u8; 64]>::try_from(s.signature.as_slice())
            {
                self.check(&key.key, note.text.as_bytes(), &Signature(sig));
            }
        }
    }
}

impl SignatureCheck for Verified {
    fn holds(&self, key: &PublicKey, message: &[u8], signature: &Signature) -> bool {
        self.verify(key, message, signature)
    }
}

/// A note verifier key whose Ed25519 signatures are judged by [`Verified`].
pub(crate) struct CheckedKey<'a> {
    pub(crate) key: &'a VerifierKey,
    pub(crate) verified: &'a Verified,
}

impl NoteVerifier for CheckedKey<'_> {
    fn name(&self) -> &str {
        &self.key.name
    }
    fn key_id(&self) -> [u8; 4] {
        self.key.key_id()
    }
    fn verify(&self, text: &[u8], signature: &[u8]) -> bool {
        match <[u8; 64]>::try_from(signature) {
            Ok(sig) if self.key.sig_type == note::SIG_ED25519 => {
                self.verified.verify(&self.key.key, text, &Signature(sig))
            }
            _ => NoteVerifier::verify(self.key, text, signature),
        }
    }
}

/// Checks the signatures `input` carries under the keys of `roster` (the roster the driver holds,
/// which may be older or newer than the core's): a summary request's (also when its sealing
/// comes back), a disclosure's in a peer's
/// answer, a pushed case history's, a roster's authorities', a checkpoint's, a statistics
/// report's, and this node's own case events just signed. Pure; the driver runs it on its own
/// threads.
pub fn precheck(roster: &Roster, input: &Input) -> Verified {
    let mut verified = Verified::default();
    match input {
        // A longer history is refused before any signature is checked.
        Input::Peer {
            message: PeerMessage::CaseHistory { events, .. },
            ..
        } if events.len() <= protocol_spec::case::MAX_CASE_EVENTS => events
            .iter()
            .for_each(|ev| verified.check_event(roster, ev)),
        Input::Done(Done::Signed {
            signed: Signed::CaseEvents { events, .. },
            ..
        }) => events
            .iter()
            .for_each(|ev| verified.check_event(roster, ev)),
        Input::Peer {
            message: PeerMessage::Roster(offered),
            ..
        } => {
            let input = offered.roster.signing_input();
            for s in &offered.signatures {
                if roster.authorities.keys.iter().any(|a| a.key == s.authority) {
                    verified.check(&s.authority, &input, &s.signature);
                }
            }
        }
        Input::Peer {
            message: PeerMessage::AddCheckpoint(body),
            ..
        } => {
            let note = AddCheckpoint::parse(body)
                .ok()
                .and_then(|req| Note::parse(&req.checkpoint).ok());
            if let Some(note) = note
                && let Ok(cp) = protocol_spec::tlog::Checkpoint::parse(&note.text)
                && let Some(m) = roster
                    .members
                    .iter()
                    .find(|m| crate::vkeys::origin(&roster.federation, &m.id) == cp.origin)
                && let Some(key) = crate::vkeys::log_vkey(roster, &m.id)
            {
                verified.check_note(&key, &note);
            }
        }
        Input::Peer {
            from,
            message: PeerMessage::StatsReport(signed),
        } => {
            if let Some(m) = roster.member_by_key(from) {
                verified.check(&m.signing_key, &signed.signing_input(), &signed.signature);
            }
        }
        // The request again when its sealing comes back (the second step judges it again).
        Input::Peer {
            from,
            message: PeerMessage::Summary(req),
        }
        | Input::Done(Done::Sealed {
            from, request: req, ..
        }) => {
            if let Some(m) = roster.member_by_key(from) {
                verified.check(&m.signing_key, &req.request.signing_input(), &req.signature);
            }
        }
        Input::Delivered {
            reply: PeerReply::Disclosure { disclosure: d, .. },
            ..
        } => {
            if let Some(m) = roster.member(&d.header.source) {
                verified.check(
                    &m.signing_key,
                    &Disclosure::signing_input(&d.header, &d.sealed),
                    &d.signature,
                );
            }
        }
        _ => {}
    }
    verified
}

/// What the core hands out to be done off the store thread. Its result comes back as
/// [`Input::Done`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    /// Seal a granted summary to the requester and sign the disclosure (spec §7.3).
    Seal(Box<SealJob>),
    /// Open a stored summary for the staff member waiting on `ticket`.
    Open(Box<OpenJob>),
    /// Sign what this node states, before the second step records it: a summary request
    /// (spec §7.2), case events (§6.3) or a monthly report (statistics.md §8).
    Sign(Box<SignJob>),
    /// Cosign a peer's checkpoint, its witness state already durable (transparency-log.md §6).
    Cosign {
        /// The checkpoint body, the witness key's name and the cosignature's time.
        body: String,
        name: String,
        time: u64,
    },
}

impl Work {
    /// Whether the work's result is the reply to the peer message that asked for it.
    pub fn answers_peer(&self) -> bool {
        matches!(self, Work::Seal(_) | Work::Cosign { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealJob {
    /// The peer whose request this answers, and the request: the second step judges it again.
    pub from: PublicKey,
    pub request: SignedSummaryRequest,
    pub header: DisclosureHeader,
    pub summary: Summary,
    pub recipient_key: PublicKey,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignJob {
    pub then: Then,
    pub what: Unsigned,
}

/// Who a signature is made for: the second step records it in their name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Then {
    /// A staff member waits on `ticket` for the outcome.
    Staff { ticket: Ticket, staff: StaffId },
    /// A queued summary request leaves the outbox (item `token`) with a fresh signing time, or
    /// its first signature (an accepted referral's request); no one waits on it.
    Queued { token: Token },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsigned {
    Request(SummaryRequest),
    /// The events of one staff action, in order; `attempt` counts how often the case changed
    /// before the second step could record them.
    CaseEvents {
        events: Vec<CaseEvent>,
        attempt: u8,
    },
    Report {
        report: Box<StatsReport>,
        sequence: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signed {
    Request(SignedSummaryRequest),
    CaseEvents {
        events: Vec<SignedCaseEvent>,
        attempt: u8,
    },
    Report(Box<SignedStatsReport>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenJob {
    pub ticket: Ticket,
    pub summary_id: SummaryId,
    /// Who asked: the second step logs the opening in their name.
    pub staff: StaffId,
    pub disclosure: Disclosure,
}

/// The result of a [`Work`], for the core's next step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    Sealed {
        from: PublicKey,
        request: SignedSummaryRequest,
        /// `None` when sealing failed (a recipient key that is not a valid X25519 point).
        disclosure: Option<Box<Disclosure>>,
    },
    Opened {
        ticket: Ticket,
        summary_id: SummaryId,
        staff: StaffId,
        /// The disclosure opened, so the step can tell it is still the one stored.
        sealed_digest: [u8; 32],
        summary: Result<Summary, String>,
    },
    /// The cosignature line, or none when this node holds no witness key.
    Cosigned {
        line: Option<String>,
    },
    Signed {
        then: Then,
        signed: Signed,
    },
}

/// The node's private keys as the work needs them; the driver holds one beside the store
/// thread's core.
pub struct Crypto {
    signing: SigningKey,
    witness: Option<SigningKey>,
    /// The current encryption key first, then those a rotation replaced.
    encryption: Vec<EncryptionKey>,
}

impl Crypto {
    pub(crate) fn new(signing: &SigningKey, encryption: &[&EncryptionKey]) -> Crypto {
        Crypto {
            signing: SigningKey::from_seed(*signing.seed()),
            witness: None,
            encryption: encryption
                .iter()
                .map(|k| EncryptionKey::from_secret(*k.secret()))
                .collect(),
        }
    }

    /// With the witness key, which the core does not hold, for cosigning.
    pub fn with_witness(mut self, key: &SigningKey) -> Crypto {
        self.witness = Some(SigningKey::from_seed(*key.seed()));
        self
    }

    /// Does `work`; the answer is the input of the core's next step.
    pub fn run(&self, work: Work, random: &mut dyn Random) -> Input {
        match work {
            Work::Seal(job) => {
                let SealJob {
                    from,
                    request,
                    header,
                    summary,
                    recipient_key,
                } = *job;
                let disclosure = Disclosure::build(
                    header,
                    &summary,
                    &recipient_key,
                    &self.signing,
                    &mut HpkeRng(random),
                )
                .inspect_err(
                    |e| tracing::warn!(error = %e, "a granted summary could not be sealed"),
                )
                .ok()
                .map(Box::new);
                Input::Done(Done::Sealed {
                    from,
                    request,
                    disclosure,
                })
            }
            Work::Open(job) => {
                let d = &job.disclosure;
                let summary = self
                    .encryption
                    .iter()
                    .map(|k| d.open(k))
                    .reduce(|a, b| a.or(b))
                    .expect("the current key at least")
                    .map_err(|e| e.to_string());
                Input::Done(Done::Opened {
                    ticket: job.ticket,
                    summary_id: job.summary_id,
                    staff: job.staff,
                    sealed_digest: d.sealed.digest(),
                    summary,
                })
            }
            Work::Sign(job) => {
                let SignJob { then, what } = *job;
                let key = &self.signing;
                let signed = match what {
                    Unsigned::Request(r) => Signed::Request(r.sign(key)),
                    Unsigned::CaseEvents { events, attempt } => Signed::CaseEvents {
                        events: events.into_iter().map(|e| e.sign(key)).collect(),
                        attempt,
                    },
                    Unsigned::Report { report, sequence } => {
                        Signed::Report(Box::new(SignedStatsReport::sign(*report, sequence, key)))
                    }
                };
                Input::Done(Done::Signed { then, signed })
            }
            Work::Cosign { body, name, time } => Input::Done(Done::Cosigned {
                line: self
                    .witness
                    .as_ref()
                    .map(|k| cosignature::cosign(&body, &name, k, time).line()),
            }),
        }
    }
}
