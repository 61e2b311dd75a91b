//! A staff member's case action takes two steps: its events are composed and handed out to be
//! signed off the store thread, then applied to the case as committed by then (spec §6.3). A
//! peer's change that lands in between comes first: the action is composed again after it, or
//! refused when it is no longer allowed; nothing signed is kept until it applies.

mod common;

use common::*;
use node_core::{Done, Fault, Input, Output, Signed, Unsigned, Verified, Work};
use protocol_spec::case::{CaseEvent, CaseEventKind, SignedCaseEvent};
use protocol_spec::ids::{ConsentId, EventId};
use protocol_spec::keys::{PublicKey, SigningKey};
use protocol_spec::peer::PeerMessage;
use protocol_spec::staff::{StaffReply, StaffRequest};

/// Between the vectors' consent (recorded at 1795306500) and its revocation by ne.oai.
const NOW: u64 = 1_797_000_000;

struct Setup {
    core: node_core::Core,
    db: rusqlite::Connection,
    history: Vec<SignedCaseEvent>,
    oai: SigningKey,
    worker: PublicKey,
}

/// ne.orp holding the case up to the consent, with a case worker.
fn setup() -> Setup {
    let v = core_json();
    let (core, db, history, worker) = responder_with_worker(&v, NOW);
    let oai = SigningKey::from_seed(seed(&v, "ed25519", "seed", "ne.oai signing"));
    Setup {
        core,
        db,
        history,
        oai,
        worker,
    }
}

impl Setup {
    /// The case worker revokes the vectors' consent: the first step hands its event out.
    fn revoke(&mut self) -> Work {
        let case_id = self.history[0].event.case_id;
        let out = one_step(
            &mut self.core,
            &mut self.db,
            NOW,
            Input::Staff {
                ticket: 2,
                key: self.worker,
                request: StaffRequest::ConsentRevoke {
                    case_id,
                    consent_id: ConsentId([0x33; 16]),
                },
            },
        );
        let [Output::Work(work @ Work::Sign(job))] = out.as_slice() else {
            panic!("the event handed out to be signed, got {out:?}")
        };
        assert!(
            matches!(&job.what, Unsigned::CaseEvents { events, attempt: 0 } if events.len() == 1)
        );
        work.clone()
    }

    /// ne.oai pushes the case with `events` after the consent. It lands when this node's clock
    /// has reached their time: a history dated ahead of the clock is rejected (spec §6.4).
    fn push(&mut self, events: Vec<SignedCaseEvent>) {
        let mut all = self.history[..4].to_vec();
        all.extend(events);
        let now = all.iter().map(|e| e.event.at).max().unwrap_or(NOW).max(NOW);
        one_step(
            &mut self.core,
            &mut self.db,
            now,
            Input::Peer {
                from: self.oai.public(),
                message: PeerMessage::CaseHistory {
                    case_id: self.history[0].event.case_id,
                    events: all,
                },
            },
        );
    }

    fn stored(&self) -> Vec<SignedCaseEvent> {
        let h: Vec<u8> = self
            .db
            .query_row("SELECT history FROM cases", [], |r| r.get(0))
            .unwrap();
        postcard::from_bytes(&h).unwrap()
    }
}

#[test]
fn a_case_action_is_composed_again_after_a_change_that_landed_while_it_was_signed() {
    let mut s = setup();
    let work = s.revoke();
    let done = s.core.crypto().run(work, &mut Counter(100));
    // Meanwhile ne.oai leaves the case, at a time after the revocation as composed.
    let left = CaseEvent {
        event_id: EventId([0x51; 16]),
        case_id: s.history[0].event.case_id,
        author: "ne.oai".parse().unwrap(),
        staff: "bruno".parse().unwrap(),
        at: NOW + 100,
        kind: CaseEventKind::Left,
    }
    .sign(&s.oai);
    s.push(vec![left]);

    // The signed revocation no longer comes last: composed again, after the departure.
    let out = one_step(&mut s.core, &mut s.db, NOW, done);
    let [Output::Work(again @ Work::Sign(job))] = out.as_slice() else {
        panic!("the action composed again, got {out:?}")
    };
    let Unsigned::CaseEvents { events, attempt: 1 } = &job.what else {
        panic!("a second attempt, got {:?}", job.what)
    };
    assert!(events[0].at > NOW + 100, "after the change that landed");
    assert_eq!(s.stored().len(), 5, "nothing of the first signature kept");

    let done = s.core.crypto().run(again.clone(), &mut Counter(120));
    assert!(matches!(
        &done,
        Input::Done(Done::Signed {
            signed: Signed::CaseEvents { attempt: 1, .. },
            ..
        })
    ));
    let out = one_step(&mut s.core, &mut s.db, NOW, done);
    assert!(
        out.iter().any(|o| matches!(
            o,
            Output::StaffReply {
                ticket: 2,
                reply: StaffReply::CaseUpdated { .. }
            }
        )),
        "{out:?}"
    );
    let stored = s.stored();
    assert_eq!(stored.len(), 6);
    assert!(matches!(stored[4].event.kind, CaseEventKind::Left));
    assert!(matches!(
        stored[5].event.kind,
        CaseEventKind::ConsentRevoked { .. }
    ));
    assert_eq!(stored[5].event.author.as_str(), "ne.orp");
}

#[test]
fn a_case_action_no_longer_allowed_when_its_signature_comes_back_is_refused() {
    let mut s = setup();
    let work = s.revoke();
    let done = s.core.crypto().run(work, &mut Counter(100));
    // Meanwhile ne.oai revokes the same consent (the vectors' revocation).
    let revoked = s.history[4].clone();
    s.push(vec![revoked]);

    let refused = try_step(&mut s.core, &mut s.db, NOW, done, &Verified::default());
    let Err(Fault::Refused(_, reason)) = refused else {
        panic!("the staff member is told, got {refused:?}")
    };
    assert!(reason.contains("already revoked"), "{reason}");
    let stored = s.stored();
    assert_eq!(stored.len(), 5, "only ne.oai's revocation is kept");
    assert_eq!(stored[4].event.author.as_str(), "ne.oai");
}
