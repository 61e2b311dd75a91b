//! A node adopting a roster offers it to every other member (spec §5.4): by its version first,
//! the roster itself only to a member that asks for it. In a federation of thousands, each
//! offer holds a connection attempt, so only `ROSTERS_IN_FLIGHT` are in flight at once: the
//! others leave one by one as those are answered or found unreachable, every member is offered
//! it in the end, and other messages never wait.

mod common;

use common::*;
use node_core::{Core, Input, Output, ROSTERS_IN_FLIGHT, Token};
use protocol_spec::category::Category;
use protocol_spec::ids::InstitutionId;
use protocol_spec::keys::{EncryptionKey, SigningKey};
use protocol_spec::peer::{PeerMessage, PeerReply};
use protocol_spec::roster::{Member, SignedRoster};
use protocol_spec::staff::StaffRequest;
use std::collections::BTreeSet;

/// Between the vectors' consent and its revocation by ne.oai.
const NOW: u64 = 1_797_000_000;
const ADDED: usize = 300;

/// The vectors' roster, `later` versions on, with `ADDED` more members listed first.
fn larger_roster(v: &serde_json::Value, later: u64) -> SignedRoster {
    let (current, _) = federation(v);
    let mut roster = current.roster.clone();
    roster.version += later;
    roster.issued_at = NOW;
    let added = (0..ADDED as u16).map(|i| {
        // Keys of their own: a seed of sevens but for what the key is for and whose it is.
        let seed = |what: u8| {
            let mut seed = [7; 32];
            seed[0] = what;
            seed[1..3].copy_from_slice(&i.to_be_bytes());
            seed
        };
        let key = |what: u8| SigningKey::from_seed(seed(what)).public();
        Member {
            id: format!("ne.m{i}").parse().unwrap(),
            name: format!("Member {i}"),
            sector: "social-aid".parse().unwrap(),
            address: "192.0.2.1:4433".into(),
            signing_key: key(1),
            encryption_key: EncryptionKey::from_secret(seed(4)).public(),
            log_key: key(2),
            witness_key: key(3),
            witnesses: vec![],
            witness_quorum: 0,
        }
    });
    roster.members.splice(0..0, added);
    roster.check_well_formed().expect("well-formed");
    let a1 = SigningKey::from_seed(seed(v, "ed25519", "seed", "authority-1"));
    let a3 = SigningKey::from_seed(seed(v, "ed25519", "seed", "authority-3"));
    SignedRoster::sign(roster, &[&a1, &a3])
}

/// The roster offers among `outputs`: token, recipient and the version offered, whether by
/// its version alone or whole.
fn offers(outputs: &[Output]) -> Vec<(Token, InstitutionId, u64)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send {
                token,
                to,
                message: PeerMessage::RosterVersion { version, .. },
                ..
            } => Some((*token, to.clone(), *version)),
            Output::Send {
                token,
                to,
                message: PeerMessage::Roster(r),
                ..
            } => Some((*token, to.clone(), r.roster.version)),
            _ => None,
        })
        .collect()
}

/// The rosters sent whole among `outputs`: recipient and version.
fn whole(outputs: &[Output]) -> Vec<(InstitutionId, u64)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send {
                to,
                message: PeerMessage::Roster(r),
                ..
            } => Some((to.clone(), r.roster.version)),
            _ => None,
        })
        .collect()
}

/// ne.orp's administrator installs `roster`.
fn install(core: &mut Core, db: &mut rusqlite::Connection, roster: SignedRoster) -> Vec<Output> {
    step(
        core,
        db,
        NOW,
        Input::Staff {
            ticket: 2,
            key: protocol_spec::keys::PublicKey([9; 32]),
            request: StaffRequest::InstallRoster(roster),
        },
    )
}

/// A message a member sends in the course of its work (roster offers do not count).
fn notice() -> PeerMessage {
    PeerMessage::ChangeNotice {
        case_id: protocol_spec::ids::CaseId([3; 16]),
    }
}

struct Setup {
    core: Core,
    db: rusqlite::Connection,
    in_flight: Vec<(Token, InstitutionId, u64)>,
    offered: BTreeSet<(InstitutionId, u64)>,
    now: u64,
}

impl Setup {
    /// ne.orp with a case worker, after its administrator installed the larger roster.
    fn installed() -> (
        Setup,
        protocol_spec::keys::PublicKey,
        protocol_spec::ids::CaseId,
    ) {
        Setup::installed_after_hearing(&[])
    }

    /// The same, `heard` having each sent ne.orp a message just before.
    fn installed_after_hearing(
        heard: &[&str],
    ) -> (
        Setup,
        protocol_spec::keys::PublicKey,
        protocol_spec::ids::CaseId,
    ) {
        let v = core_json();
        let (mut core, mut db, history, worker) = responder_with_worker(&v, NOW);
        let (roster, _) = federation(&v);
        for id in heard {
            let from = roster
                .roster
                .member(&id.parse().unwrap())
                .unwrap()
                .signing_key;
            let message = notice();
            step(&mut core, &mut db, NOW, Input::Peer { from, message });
        }
        let out = install(&mut core, &mut db, larger_roster(&v, 1));
        let first = out
            .iter()
            .position(|o| matches!(o, Output::Send { .. }))
            .expect("offers");
        let adopted = out
            .iter()
            .position(|o| matches!(o, Output::RosterAdopted(_)))
            .expect("adopted");
        assert!(
            adopted < first,
            "the driver must hold the roster its offers are addressed by"
        );
        assert!(
            whole(&out).is_empty(),
            "a roster is offered by its version first"
        );
        let in_flight = offers(&out);
        let offered = in_flight
            .iter()
            .map(|(_, to, v)| (to.clone(), *v))
            .collect();
        let s = Setup {
            core,
            db,
            in_flight,
            offered,
            now: NOW,
        };
        (s, worker, history[0].event.case_id)
    }

    fn step(&mut self, input: Input) -> Vec<(Token, InstitutionId, u64)> {
        offers(&self.run(input))
    }

    /// One step; the offers it hands out are in flight from then on.
    fn run(&mut self, input: Input) -> Vec<Output> {
        let out = step(&mut self.core, &mut self.db, self.now, input);
        let new = offers(&out);
        for (token, to, version) in &new {
            assert!(
                !self.in_flight.iter().any(|(t, ..)| t == token),
                "an offer in flight was handed out again"
            );
            self.in_flight.push((*token, to.clone(), *version));
            self.offered.insert((to.clone(), *version));
        }
        out
    }

    fn answer(&mut self, i: usize, reply: Option<PeerReply>) -> Vec<(Token, InstitutionId, u64)> {
        let (token, ..) = self.in_flight.remove(i);
        self.step(match reply {
            Some(reply) => Input::Delivered { token, reply },
            None => Input::Unreachable { token },
        })
    }
}

#[test]
fn a_roster_is_offered_a_few_members_at_a_time_and_to_every_one_in_the_end() {
    let (mut s, _, _) = Setup::installed();
    let others = ADDED + 2;
    assert_eq!(s.in_flight.len(), ROSTERS_IN_FLIGHT);
    // An answer, or a member found unreachable, lets exactly one more offer leave.
    assert_eq!(s.answer(0, Some(PeerReply::Accepted)).len(), 1);
    let unreachable = (s.in_flight[3].1.clone(), 1 + s.in_flight[3].2);
    assert_eq!(s.answer(3, None).len(), 1);
    assert_eq!(s.in_flight.len(), ROSTERS_IN_FLIGHT);
    // A tick sends nothing more while the offers in flight fill their places.
    assert!(s.step(Input::Tick).is_empty());
    // Every member is offered the roster once earlier offers are answered.
    while !s.in_flight.is_empty() {
        s.answer(0, Some(PeerReply::Accepted));
        assert!(s.in_flight.len() <= ROSTERS_IN_FLIGHT);
    }
    assert_eq!(
        s.offered.len(),
        others,
        "every other member is offered it, once"
    );
    // Those accepted are settled; the one found unreachable is offered again later.
    s.now += 3_600;
    let again: Vec<_> = s
        .step(Input::Tick)
        .into_iter()
        .map(|(_, to, v)| (to, v + 1))
        .collect();
    assert_eq!(again, vec![unreachable]);
}

#[test]
fn offers_left_unanswered_give_their_places_back_after_their_flight_times_out() {
    let (mut s, _, _) = Setup::installed();
    // The driver lost them (no answer, no failure): they are sent again, a place each.
    s.in_flight.clear();
    s.now += node_core::IN_FLIGHT_TIMEOUT + 1;
    let again = s.step(Input::Tick);
    assert_eq!(again.len(), ROSTERS_IN_FLIGHT);
}

#[test]
fn a_summary_request_leaves_at_once_while_the_roster_offers_wait() {
    let (mut s, worker, case_id) = Setup::installed();
    assert_eq!(s.in_flight.len(), ROSTERS_IN_FLIGHT);
    let out = step(
        &mut s.core,
        &mut s.db,
        s.now,
        Input::Staff {
            ticket: 3,
            key: worker,
            request: StaffRequest::SummaryRequest {
                case_id,
                from: "ne.oai".parse().unwrap(),
                purpose: "coordinated-assessment".parse().unwrap(),
                categories: vec![Category::Employment],
            },
        },
    );
    assert!(
        out.iter().any(|o| matches!(
            o,
            Output::Send {
                message: PeerMessage::Summary(_),
                ..
            }
        )),
        "{out:?}"
    );
    assert!(offers(&out).is_empty());
}

#[test]
fn a_roster_adopted_while_the_last_is_being_offered_reaches_every_member_too() {
    let (mut s, _, _) = Setup::installed();
    let v = core_json();
    let first = s.in_flight[0].2;
    let newer = s.step(Input::Staff {
        ticket: 4,
        key: protocol_spec::keys::PublicKey([9; 32]),
        request: StaffRequest::InstallRoster(larger_roster(&v, 2)),
    });
    assert!(
        newer.is_empty(),
        "the places are taken by the offers in flight"
    );
    // Each answer to an offer of the older roster lets the newer one leave.
    while !s.in_flight.is_empty() {
        s.answer(0, Some(PeerReply::Accepted));
    }
    let newest: BTreeSet<_> = s
        .offered
        .iter()
        .filter(|(_, v)| *v == first + 1)
        .map(|(to, _)| to.clone())
        .collect();
    assert_eq!(
        newest.len(),
        ADDED + 2,
        "every member is offered the newer roster"
    );
}

#[test]
fn a_member_holding_an_older_roster_gets_the_roster_itself_in_the_place_of_the_offer() {
    let (mut s, _, _) = Setup::installed();
    let (token, to, version) = s.in_flight.remove(0);
    let out = s.run(Input::Delivered {
        token,
        reply: PeerReply::RosterWanted,
    });
    assert_eq!(whole(&out), vec![(to, version)]);
    assert_eq!(
        s.in_flight.len(),
        ROSTERS_IN_FLIGHT,
        "it took the place it left"
    );
    // Once the roster is accepted, the place goes to the next offer, by version again.
    let i = s.in_flight.iter().position(|(t, ..)| *t == token).unwrap();
    s.in_flight.remove(i);
    let out = s.run(Input::Delivered {
        token,
        reply: PeerReply::Accepted,
    });
    assert_eq!(offers(&out).len(), 1);
    assert!(whole(&out).is_empty());
    // A node of an earlier release rejects the offer it cannot read: it gets the roster too.
    let (token, to, version) = s.in_flight.remove(0);
    let rejected = || PeerReply::Rejected {
        reason: "malformed frame".into(),
    };
    let out = s.run(Input::Delivered {
        token,
        reply: rejected(),
    });
    assert_eq!(whole(&out), vec![(to, version)]);
    // The roster itself rejected is not sent again at once: it waits for its next attempt.
    let i = s.in_flight.iter().position(|(t, ..)| *t == token).unwrap();
    s.in_flight.remove(i);
    let out = s.run(Input::Delivered {
        token,
        reply: rejected(),
    });
    assert!(whole(&out).is_empty());
    assert!(offers(&out).iter().all(|(t, ..)| *t != token));
}

#[test]
fn a_member_asks_for_the_roster_only_when_the_version_offered_is_newer() {
    let v = core_json();
    let (mut core, mut db, _, _) = responder_with_worker(&v, NOW);
    let (roster, _) = federation(&v);
    let oai: InstitutionId = "ne.oai".parse().unwrap();
    let from = roster.roster.member(&oai).unwrap().signing_key;
    let current = roster.roster.version;
    let mut offer = |version: u64, digest: [u8; 32]| {
        step(
            &mut core,
            &mut db,
            NOW,
            Input::Peer {
                from,
                message: PeerMessage::RosterVersion { version, digest },
            },
        )
    };
    let out = offer(current + 1, [7; 32]);
    assert!(
        matches!(out.as_slice(), [Output::PeerReply(PeerReply::RosterWanted)]),
        "{out:?}"
    );
    let out = offer(current, roster.digest());
    assert!(
        matches!(out.as_slice(), [Output::PeerReply(PeerReply::Accepted)]),
        "{out:?}"
    );
    // Another roster of the same version: nothing offered back, which would never end.
    let out = offer(current, [7; 32]);
    assert!(
        matches!(out.as_slice(), [Output::PeerReply(PeerReply::Accepted)]),
        "{out:?}"
    );
    // An older one: the member missed ours, which is offered back to it.
    let out = offer(current - 1, [7; 32]);
    assert!(matches!(
        out.first(),
        Some(Output::PeerReply(PeerReply::Accepted))
    ));
    let back: Vec<_> = offers(&out).into_iter().map(|(_, to, v)| (to, v)).collect();
    assert_eq!(back, vec![(oai, current)]);
}

#[test]
fn members_heard_from_lately_are_offered_a_new_roster_first() {
    // ne.sas is listed after 300 members the node never heard from; ne.oai too.
    let (mut s, _, _) = Setup::installed_after_hearing(&["ne.sas"]);
    let first: Vec<_> = s.in_flight.iter().map(|(_, to, _)| to.as_str()).collect();
    assert_eq!(first, vec!["ne.sas"]);
    // The others a second later, as many as there are places, in the order they are listed.
    s.now += 1;
    let next = s.step(Input::Tick);
    assert_eq!(next.len(), ROSTERS_IN_FLIGHT - 1);
    assert!(
        next.iter()
            .all(|(_, to, _)| to.as_str().starts_with("ne.m"))
    );
}

#[test]
fn a_member_heard_from_lately_is_offered_a_new_roster_while_the_places_are_taken() {
    // The places are taken by offers to members never heard from, unreachable say.
    let (mut s, _, _) = Setup::installed();
    assert_eq!(s.in_flight.len(), ROSTERS_IN_FLIGHT);
    let v = core_json();
    let (roster, _) = federation(&v);
    let sas: InstitutionId = "ne.sas".parse().unwrap();
    let from = roster.roster.member(&sas).unwrap().signing_key;
    s.run(Input::Peer {
        from,
        message: notice(),
    });
    let newer = s.step(Input::Staff {
        ticket: 4,
        key: protocol_spec::keys::PublicKey([9; 32]),
        request: StaffRequest::InstallRoster(larger_roster(&v, 2)),
    });
    let to: Vec<_> = newer.iter().map(|(_, to, _)| to.clone()).collect();
    assert_eq!(to, vec![sas]);
}

#[test]
fn roster_offers_received_do_not_count_as_being_heard_from() {
    // Every member that adopts a roster offers it to every other: being offered one says
    // nothing of whom this node works with.
    let v = core_json();
    let (mut core, mut db, _, _) = responder_with_worker(&v, NOW);
    let (roster, _) = federation(&v);
    let from = roster
        .roster
        .member(&"ne.sas".parse().unwrap())
        .unwrap()
        .signing_key;
    let message = PeerMessage::RosterVersion {
        version: roster.roster.version,
        digest: roster.digest(),
    };
    step(&mut core, &mut db, NOW, Input::Peer { from, message });
    let out = install(&mut core, &mut db, larger_roster(&v, 1));
    let to: Vec<_> = offers(&out).into_iter().map(|(_, to, _)| to).collect();
    assert_eq!(to.len(), ROSTERS_IN_FLIGHT);
    assert!(to.iter().all(|id| id.as_str().starts_with("ne.m")));
}

#[test]
fn a_roster_sent_whole_that_is_not_newer_gets_ours_back_only_if_older() {
    let v = core_json();
    let (mut core, mut db, _, _) = responder_with_worker(&v, NOW);
    let (roster, _) = federation(&v);
    let oai: InstitutionId = "ne.oai".parse().unwrap();
    let from = roster.roster.member(&oai).unwrap().signing_key;
    let a1 = SigningKey::from_seed(seed(&v, "ed25519", "seed", "authority-1"));
    let a3 = SigningKey::from_seed(seed(&v, "ed25519", "seed", "authority-3"));
    let mut send = |version: u64, issued_at: u64| {
        let mut r = roster.roster.clone();
        r.version = version;
        r.issued_at = issued_at;
        let message = PeerMessage::Roster(SignedRoster::sign(r, &[&a1, &a3]).into());
        step(&mut core, &mut db, NOW, Input::Peer { from, message })
    };
    // Another roster of the version in force: accepted, nothing offered back, which would
    // never end.
    let out = send(roster.roster.version, roster.roster.issued_at + 1);
    assert!(
        matches!(out.as_slice(), [Output::PeerReply(PeerReply::Accepted)]),
        "{out:?}"
    );
    // An older one: ours is offered back, by its version.
    let out = send(roster.roster.version - 1, roster.roster.issued_at);
    assert!(matches!(
        out.first(),
        Some(Output::PeerReply(PeerReply::Accepted))
    ));
    let back: Vec<_> = offers(&out).into_iter().map(|(_, to, v)| (to, v)).collect();
    assert_eq!(back, vec![(oai, roster.roster.version)]);
    assert!(whole(&out).is_empty());
}
