//! Cryptography kept off the store thread: the store thread does only what must be serial, the
//! durable write. Signatures an input carries are checked before its step ([`precheck`]), and a
//! case worker's summary request is signed before its step ([`Crypto::presign`]); sealing,
//! opening and other signing happen between two steps ([`Work`] out, [`Done`] back in, done by
//! [`Crypto`]), and the second step judges again on the state committed by then.

use crate::io::{HpkeRng, Input, Random};
use crate::jobs::{Done, SealJob, SignJob, Signed, Unsigned, Work};
use crate::verified::Verified;
use protocol_spec::exchange::{Disclosure, SignedSummaryRequest};
use protocol_spec::ids::{InstitutionId, RequestId, time_ordered};
use protocol_spec::keys::{EncryptionKey, SigningKey};
use protocol_spec::peer::{PeerMessage, PeerReply};
use protocol_spec::roster::Roster;
use protocol_spec::staff::StaffRequest;
use protocol_spec::stats::delivery::SignedStatsReport;
use protocol_spec::tlog::cosignature;
use protocol_spec::tlog::note::Note;
use protocol_spec::tlog::witness::AddCheckpoint;

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
        // Signed by the member the transport authenticated.
        Input::Peer {
            from,
            message: PeerMessage::PsiStart(start),
        } => verified.check_sender(roster, from, &start.round.signing_input(), &start.signature),
        Input::Peer {
            from,
            message: PeerMessage::PsiOutcome(o),
        } => verified.check_sender(roster, from, &o.outcome.signing_input(), &o.signature),
        Input::Peer {
            from,
            message: PeerMessage::StatsReport(signed),
        } => verified.check_sender(roster, from, &signed.signing_input(), &signed.signature),
        // The request again when its sealing comes back (the second step judges it again).
        Input::Peer {
            from,
            message: PeerMessage::Summary(req),
        }
        | Input::Done(Done::Sealed {
            from, request: req, ..
        }) => verified.check_sender(roster, from, &req.request.signing_input(), &req.signature),
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

/// The node's private keys as the work needs them; the driver holds one beside the store
/// thread's core.
pub struct Crypto {
    /// This node, the requester of the summary requests it signs ahead.
    me: InstitutionId,
    signing: SigningKey,
    witness: Option<SigningKey>,
    /// The current encryption key first, then those a rotation replaced.
    encryption: Vec<EncryptionKey>,
}

impl Crypto {
    pub(crate) fn new(
        me: &InstitutionId,
        signing: &SigningKey,
        encryption: &[&EncryptionKey],
    ) -> Crypto {
        Crypto {
            me: me.clone(),
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

    /// A case worker's summary request composed and signed ahead of its step, on the driver's
    /// threads, so that the step checks and records it at once instead of handing its signing
    /// out between two steps; `None` for any other input. A request the step does not take
    /// (refused, or not the one asked) is dropped: it was neither recorded nor sent.
    /// `millis` is the time in Unix milliseconds: the request's id begins with it.
    pub fn presign(
        &self,
        input: &Input,
        millis: u64,
        random: &mut dyn Random,
    ) -> Option<SignedSummaryRequest> {
        let Input::Staff {
            request:
                StaffRequest::SummaryRequest {
                    case_id,
                    from,
                    purpose,
                    categories,
                },
            ..
        } = input
        else {
            return None;
        };
        let mut bytes = [0u8; 10];
        random.fill(&mut bytes);
        let request = crate::requester::ask(
            &self.me,
            RequestId(time_ordered(millis, bytes)),
            millis / 1000,
            *case_id,
            from.clone(),
            purpose.clone(),
            categories.clone(),
        );
        Some(request.sign(&self.signing))
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
                    Unsigned::RoundStart(round) => Signed::RoundStart(Box::new(round.sign(key))),
                };
                Input::Done(Done::Signed { then, signed })
            }
            Work::Cosign { body, name, time } => Input::Done(Done::Cosigned {
                line: self
                    .witness
                    .as_ref()
                    .map(|k| cosignature::cosign(&body, &name, k, time).line()),
            }),
            Work::Blind(job) => psi(crate::stats::psi::jobs::run_blind(
                &self.signing,
                *job,
                random,
            )),
            Work::Reblind(job) => psi(crate::stats::psi::jobs::run_reblind(
                &self.signing,
                *job,
                random,
            )),
            Work::Count(job) => psi(crate::stats::psi::jobs::run_count(&self.signing, *job)),
        }
    }
}

/// An overlap round's result, as the core's next input.
fn psi(done: crate::stats::psi::jobs::PsiDone) -> Input {
    Input::Done(Done::Psi(Box::new(done)))
}
