//! Cryptography kept off the store thread: the store thread does only what must be serial, the
//! durable write. Signatures an input carries are checked before its step ([`precheck`]);
//! sealing a granted summary and opening a stored one happen between two steps ([`Work`] out,
//! [`Done`] back in), and the second step judges again on the state committed by then.

use crate::io::{HpkeRng, Input, Random, Ticket};
use protocol_spec::exchange::{
    Disclosure, DisclosureHeader, SignedSummaryRequest, Summary, SummaryRequest,
};
use protocol_spec::ids::{StaffId, SummaryId};
use protocol_spec::keys::{EncryptionKey, PublicKey, Signature, SigningKey, sha256};
use protocol_spec::peer::{PeerMessage, PeerReply};
use protocol_spec::roster::Roster;
use protocol_spec::tlog::cosignature;
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
}

/// Checks the signatures `input` carries under the keys of `roster` (the roster the driver holds,
/// which may be older or newer than the core's): a summary request's, and a disclosure's in a
/// peer's answer. Pure; the driver runs it on its own threads.
pub fn precheck(roster: &Roster, input: &Input) -> Verified {
    let mut verified = Verified::default();
    match input {
        Input::Peer {
            from,
            message: PeerMessage::Summary(req),
        } => {
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
    /// Sign a case worker's summary request before it is recorded and sent (spec §7.2).
    Sign(Box<SignJob>),
    /// Cosign a peer's checkpoint, its witness state already durable (transparency-log.md §6).
    Cosign {
        /// The checkpoint body, the witness key's name and the cosignature's time.
        body: String,
        name: String,
        time: u64,
    },
    /// Blind this sector's own set, hop 1 of an overlap round (spec/statistics.md §10.3).
    Blind(Box<crate::stats::psi::BlindJob>),
    /// Check a received set message and carry it one hop on (spec/statistics.md §10.5).
    Reblind(Box<crate::stats::psi::ReblindJob>),
    /// Count the final sets and sign the outcome, at the dashboard member (§10.6).
    Count(Box<crate::stats::psi::CountJob>),
}

impl Work {
    /// Whether the work's result is the reply to the peer message that asked for it.
    pub fn answers_peer(&self) -> bool {
        matches!(self, Work::Seal(_) | Work::Cosign { .. } | Work::Reblind(_))
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
    /// The case worker waiting for the outcome, in whose name the second step records it.
    pub ticket: Ticket,
    pub staff: StaffId,
    pub request: SummaryRequest,
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
    Cosigned { line: Option<String> },
    RequestSigned {
        ticket: Ticket,
        staff: StaffId,
        signed: SignedSummaryRequest,
    },
    /// The result of an overlap round's job.
    Psi(Box<crate::stats::psi::PsiDone>),
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
                let SignJob {
                    ticket,
                    staff,
                    request,
                } = *job;
                Input::Done(Done::RequestSigned {
                    ticket,
                    staff,
                    signed: request.sign(&self.signing),
                })
            }
            Work::Cosign { body, name, time } => Input::Done(Done::Cosigned {
                line: self
                    .witness
                    .as_ref()
                    .map(|k| cosignature::cosign(&body, &name, k, time).line()),
            }),
            Work::Blind(job) => crate::stats::psi::run_blind(&self.signing, *job, random),
            Work::Reblind(job) => crate::stats::psi::run_reblind(&self.signing, *job, random),
            Work::Count(job) => crate::stats::psi::run_count(&self.signing, *job),
        }
    }
}
