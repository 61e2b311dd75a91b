//! What the misbehaving member does (its state is [`crate::rogue::Rogue`]): listed in the
//! roster, authenticated by its own key, but in no case, it asks about cases it learned of or
//! made up, replays its own requests and requests it overheard, signs with the wrong key or in
//! another member's name, pushes forged case histories, and sends bytes that are not a message
//! at all. It is the worst case of a curious member: it is assumed to know every case id and
//! every history in the federation.

use crate::invariants::Check;
use crate::network::Party;
use crate::world::{Event, Expect, Origin, World};
use protocol_spec::case::{CaseEvent, CaseEventKind, Consent, SignedCaseEvent};
use protocol_spec::category::Category;
use protocol_spec::exchange::{MAX_CLOCK_SKEW, SummaryRequest};
use protocol_spec::ids::{CaseId, ConsentId, EventId, RequestId};
use protocol_spec::keys::SigningKey;
use protocol_spec::peer::PeerMessage;
use protocol_spec::wire::{PROTOCOL_VERSION, decode_body};

impl World {
    pub(crate) fn rogue_action(&mut self) -> Check {
        let targets: Vec<usize> = (0..self.nodes.len())
            .filter(|i| self.nodes[*i].joined)
            .collect();
        let t = targets[self.rng.index(targets.len())];
        let now = self.now();
        let (message, expect) = match self.rng.index(10) {
            0..=2 => {
                let case_id = self.known_case().unwrap_or(CaseId(self.rng.bytes()));
                let r = self.rogue_request(t, case_id, now);
                let signed = r.sign(&self.rogue.key);
                self.rogue.own.push((t, signed.clone()));
                (PeerMessage::Summary(signed), Expect::NotConcerned)
            }
            3 => {
                let Some((t0, s)) = self.rng.pick(&self.rogue.own).cloned() else {
                    return Ok(());
                };
                // A replay of a request the responder decided gets that same decision; one it
                // never saw is judged afresh, and only a fresh one is still unconcerned.
                let expect = if now.abs_diff(s.request.issued_at) < MAX_CLOCK_SKEW - 10 {
                    Expect::NotConcerned
                } else {
                    Expect::Anything
                };
                return self.rogue_send(t0, PeerMessage::Summary(s), expect);
            }
            4 => {
                let case_id = self.known_case().unwrap_or(CaseId(self.rng.bytes()));
                let mut r = self.rogue_request(t, case_id, now);
                let signed = if self.rng.chance(0.5) {
                    // In another member's name, with its own key.
                    let others: Vec<_> = self.nodes.iter().map(|n| n.inst.id.clone()).collect();
                    r.requester = self.rng.pick(&others).expect("members").clone();
                    r.sign(&self.rogue.key)
                } else {
                    r.sign(&SigningKey::from_seed(self.rng.bytes()))
                };
                (PeerMessage::Summary(signed), Expect::Anything)
            }
            5 => {
                let Some(s) = self.rng.pick(&self.rogue.overheard).cloned() else {
                    return Ok(());
                };
                let Some(Party::Node(t0)) = self.party_of(&s.request.responder) else {
                    return Ok(());
                };
                return self.rogue_send(t0, PeerMessage::Summary(s), Expect::Anything);
            }
            6 | 7 => {
                let Some(events) = self.known_history()? else {
                    return Ok(());
                };
                let events = self.forge(events, t, now);
                let case_id = events[0].event.case_id;
                (
                    PeerMessage::CaseHistory { case_id, events },
                    Expect::NotAccepted,
                )
            }
            8 => {
                // Its own case about someone, inviting the target: a legitimate move.
                let case_id = CaseId(self.rng.bytes());
                let person = self.rng.pick(&self.fed.persons).expect("persons").clone();
                let opening = self.rogue_event(case_id, now, CaseEventKind::Opened { person });
                let invite = CaseEventKind::Invited {
                    institution: self.nodes[t].inst.id.clone(),
                };
                let events = vec![opening, self.rogue_event(case_id, now, invite)];
                (
                    PeerMessage::CaseHistory { case_id, events },
                    Expect::Anything,
                )
            }
            _ => {
                let body = self.garbage()?;
                match decode_body::<PeerMessage>(&body) {
                    Err(_) => {
                        self.rogue.malformed += 1;
                        self.note(format!(
                            "ne.rogue -> {}: {} malformed bytes",
                            self.nodes[t].inst.id,
                            body.len()
                        ));
                        return Ok(());
                    }
                    Ok(
                        m @ (PeerMessage::Summary(_)
                        | PeerMessage::CaseHistory { .. }
                        | PeerMessage::Roster(_)),
                    ) => {
                        let foreign = matches!(&m, PeerMessage::CaseHistory { events, .. }
                            if events.first().is_some_and(|e| e.event.author != self.rogue.inst.id));
                        (
                            m,
                            if foreign {
                                Expect::NotAccepted
                            } else {
                                Expect::Anything
                            },
                        )
                    }
                    // Log and witness traffic is the driver's, not the core's.
                    Ok(_) => return Ok(()),
                }
            }
        };
        self.rogue_send(t, message, expect)
    }

    fn rogue_send(&mut self, t: usize, message: PeerMessage, expect: Expect) -> Check {
        self.rogue.messages += 1;
        let from = self.rogue.public();
        for delay in self.net.fate(&mut self.rng, Party::Rogue, Party::Node(t)) {
            let message = message.clone();
            self.schedule(
                delay,
                Event::Arrive {
                    to: Party::Node(t),
                    from,
                    origin: Origin::Rogue(expect),
                    message: Box::new(message),
                },
            );
        }
        Ok(())
    }

    fn rogue_request(&mut self, t: usize, case_id: CaseId, now: u64) -> SummaryRequest {
        let purposes = crate::federation::Federation::purposes();
        SummaryRequest {
            request_id: RequestId(self.rng.bytes()),
            requester: self.rogue.inst.id.clone(),
            responder: self.nodes[t].inst.id.clone(),
            case_id,
            purpose: self.rng.pick(&purposes).expect("purposes").clone(),
            categories: self.rng.subset(&Category::ALL, 4),
            issued_at: now,
        }
    }

    fn rogue_event(&mut self, case_id: CaseId, now: u64, kind: CaseEventKind) -> SignedCaseEvent {
        CaseEvent {
            event_id: EventId(self.rng.bytes()),
            case_id,
            author: self.rogue.inst.id.clone(),
            staff: "mallory".parse().expect("staff id"),
            at: now,
            kind,
        }
        .sign(&self.rogue.key)
    }

    /// Some case an honest node opened, if any.
    fn known_case(&mut self) -> Option<CaseId> {
        let known = self.known_history().ok().flatten()?;
        self.rng.chance(0.7).then(|| known[0].event.case_id)
    }

    fn known_history(&mut self) -> anyhow::Result<Option<Vec<SignedCaseEvent>>> {
        let holders: Vec<usize> = (0..self.nodes.len())
            .filter(|i| self.nodes[*i].joined)
            .collect();
        let h = holders[self.rng.index(holders.len())];
        let cases: Vec<_> = self.nodes[h]
            .cases()?
            .into_iter()
            .filter(|c| c.opened_by != self.rogue.inst.id)
            .collect();
        Ok(self.rng.pick(&cases).map(|c| c.history.clone()))
    }

    /// A real history, as is or with a forged event: its own change to a case it is not in,
    /// another member's change signed with its key, or a tampered event.
    fn forge(
        &mut self,
        mut events: Vec<SignedCaseEvent>,
        t: usize,
        now: u64,
    ) -> Vec<SignedCaseEvent> {
        let case_id = events[0].event.case_id;
        match self.rng.index(4) {
            0 => {}
            1 => {
                let kind = match self.rng.index(3) {
                    0 => CaseEventKind::Accepted,
                    1 => CaseEventKind::Invited {
                        institution: self.rogue.inst.id.clone(),
                    },
                    _ => CaseEventKind::ConsentRecorded(Consent {
                        consent_id: ConsentId(self.rng.bytes()),
                        case_id,
                        participants: vec![
                            self.rogue.inst.id.clone(),
                            self.nodes[t].inst.id.clone(),
                        ],
                        purposes: crate::federation::Federation::purposes(),
                        categories: Category::ALL.to_vec(),
                        valid_from: now - 60,
                        valid_until: now + 86_400,
                        form_digest: None,
                        recorded_by: "mallory".parse().expect("staff id"),
                        recorded_at: now,
                    }),
                };
                events.push(self.rogue_event(case_id, now, kind));
            }
            2 => {
                let mut e = self.rogue_event(
                    case_id,
                    now,
                    CaseEventKind::Invited {
                        institution: self.rogue.inst.id.clone(),
                    },
                );
                e.event.author = events[0].event.author.clone();
                e.signature = self.rogue.key.sign(&e.event.signing_input());
                events.push(e);
            }
            _ => {
                let i = self.rng.index(events.len());
                events[i].event.at += 1;
            }
        }
        events
    }

    /// Random bytes after the version field, or a real message with a few bytes changed.
    fn garbage(&mut self) -> anyhow::Result<Vec<u8>> {
        let mut body = PROTOCOL_VERSION.to_be_bytes().to_vec();
        let base = match self.rng.index(3) {
            0 => None,
            1 => self
                .rng
                .pick(&self.rogue.overheard)
                .cloned()
                .map(PeerMessage::Summary),
            _ => self
                .known_history()?
                .map(|events| PeerMessage::CaseHistory {
                    case_id: events[0].event.case_id,
                    events,
                }),
        };
        match base {
            None => {
                let n = self.rng.between(0, 200) as usize;
                body.extend((0..n).map(|_| self.rng.bytes::<1>()[0]));
            }
            Some(m) => {
                let mut bytes = postcard::to_stdvec(&m)?;
                for _ in 0..self.rng.between(1, 3) {
                    let i = self.rng.index(bytes.len());
                    bytes[i] ^= 1 << self.rng.between(0, 7);
                }
                body.extend(bytes);
            }
        }
        Ok(body)
    }
}
