//! A whole overlap round between four cores in memory (three sectors and the dashboard
//! member), messages carried by the test as the driver would carry them, work done at once.

use crate::io::{Env, Input, Output, Random};
use crate::state::{BootstrapAdmin, Core, Secrets};
use crate::store::Tx;
use crate::verified::Verified;
use crate::work::Crypto;
use protocol_spec::entry::LogEntry;
use protocol_spec::ids::InstitutionId;
use protocol_spec::keys::{EncryptionKey, PublicKey, SigningKey, sha256};
use protocol_spec::peer::{PeerMessage, PeerReply};
use protocol_spec::roster::{Authorities, Member, Roster, SignedRoster};
use protocol_spec::staff::{StaffReply, StaffRequest};
use protocol_spec::stats::psi::{OverlapCounts, PsiRound};
use protocol_spec::stats::{Cell, Measure, RoundState, StatisticsConfig};
use std::collections::{BTreeSet, VecDeque};

/// 2027-01-15: November 2026 has ended.
const NOW: u64 = 1_800_000_000;
const MONTH: &str = "2026-11";
const IDS: [&str; 4] = ["ne.orp", "ne.oai", "ne.sas", "ne.cii"];
const DASHBOARD: usize = 3;

struct Counter(u64);
impl Random for Counter {
    fn fill(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(32) {
            self.0 += 1;
            let block = sha256(&[&self.0.to_le_bytes()]);
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
    }
}

fn seed(id: &str, label: &str) -> [u8; 32] {
    sha256(&[id.as_bytes(), b"\n", label.as_bytes()])
}

fn secrets(id: &str) -> Secrets {
    Secrets {
        signing: SigningKey::from_seed(seed(id, "signing")),
        encryption: EncryptionKey::from_secret(seed(id, "encryption")),
        log: SigningKey::from_seed(seed(id, "log")).public(),
        witness: SigningKey::from_seed(seed(id, "witness")).public(),
        former_encryption: vec![],
    }
}

fn key(id: &str) -> PublicKey {
    SigningKey::from_seed(seed(id, "signing")).public()
}

fn roster(threshold: u32) -> SignedRoster {
    let members = IDS
        .iter()
        .map(|id| {
            let s = secrets(id);
            Member {
                id: id.parse().unwrap(),
                name: id.to_string(),
                sector: if *id == "ne.cii" {
                    "coordination".parse().unwrap()
                } else {
                    "employment".parse().unwrap()
                },
                address: format!("{id}:7100"),
                signing_key: s.signing.public(),
                encryption_key: s.encryption.public(),
                log_key: s.log,
                witness_key: s.witness,
                witnesses: vec![],
                witness_quorum: 0,
            }
        })
        .collect();
    SignedRoster {
        roster: Roster {
            federation: "ne-cii".into(),
            version: 1,
            issued_at: NOW - 86_400 * 100,
            authorities: Authorities {
                threshold: 1,
                keys: vec![],
            },
            members,
            policy: vec![],
            former_keys: vec![],
            retention: vec![],
            former_log_keys: vec![],
            statistics: Some(Box::new(StatisticsConfig {
                threshold,
                measures: vec![Measure {
                    id: "atelier-bois".parse().unwrap(),
                    name: "Atelier bois".into(),
                    provider: "Caritas".into(),
                    places: vec![],
                    cost_per_place_month: 0,
                }],
                grid_fields: vec![],
                privacy: None,
                dashboard: Some("ne.cii".parse().unwrap()),
            })),
        },
        signatures: vec![],
    }
}

struct Node {
    core: Core,
    db: rusqlite::Connection,
    crypto: Crypto,
}

struct Federation {
    nodes: Vec<Node>,
    now: u64,
    random: Counter,
    /// Staff replies, in order.
    replies: Vec<StaffReply>,
    /// Answers to messages the test sent itself.
    answers: Vec<PeerReply>,
}

/// 13 digits with a valid check digit.
fn avs(n: u64) -> String {
    let digits = format!("756{n:09}");
    let mut first = [0u8; 12];
    for (d, c) in first.iter_mut().zip(digits.bytes()) {
        *d = c - b'0';
    }
    format!("{digits}{}", protocol_spec::avs::check_digit(&first))
}

impl Federation {
    /// The sectors follow these persons (by number) in November.
    fn new(threshold: u32, followed: [&[u64]; 3]) -> Federation {
        let nodes = IDS
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let db = crate::store::open_in_memory().unwrap();
                if i < 3 {
                    for n in followed[i] {
                        db.execute(
                            "INSERT INTO placements (avs, measure, start, end_date, outcome) VALUES (?1, 'atelier-bois', '2026-11-02', NULL, NULL)",
                            [avs(*n)],
                        )
                        .unwrap();
                    }
                }
                let core = Core::load(
                    &db,
                    id.parse().unwrap(),
                    secrets(id),
                    roster(threshold),
                    BootstrapAdmin {
                        staff: "admin".parse().unwrap(),
                        key: SigningKey::from_seed(seed(id, "admin")).public(),
                    },
                    NOW,
                )
                .unwrap();
                let crypto = core.crypto();
                Node { core, db, crypto }
            })
            .collect();
        Federation {
            nodes,
            now: NOW,
            random: Counter(0),
            replies: Vec::new(),
            answers: Vec::new(),
        }
    }

    fn step(&mut self, at: usize, input: Input) -> Vec<Output> {
        let origin = input.origin();
        let node = &mut self.nodes[at];
        let size = crate::store::log_size(&node.db).unwrap();
        let mut txn = node.db.transaction().unwrap();
        let sp = txn.savepoint().unwrap();
        let mut pending = Vec::new();
        let verified = Verified::default();
        let mut env = Env {
            now: self.now,
            random: &mut self.random,
            verified: &verified,
            presigned: None,
        };
        let result = {
            let mut tx = Tx::new(&sp, &mut pending, size);
            node.core.handle(&mut tx, &mut env, input)
        };
        match result {
            Ok(out) => {
                sp.commit().unwrap();
                txn.commit().unwrap();
                out
            }
            Err(fault) => {
                drop(sp);
                drop(txn);
                node.core.failed(origin, &fault)
            }
        }
    }

    fn index(to: &InstitutionId) -> usize {
        IDS.iter().position(|id| *id == to.as_str()).unwrap()
    }

    /// Delivers `message` from `from` to `to`, doing any work that answers it; returns the
    /// reply and queues everything else the receiver does.
    fn deliver(
        &mut self,
        from: &str,
        to: usize,
        message: PeerMessage,
        events: &mut VecDeque<(usize, Input)>,
    ) -> PeerReply {
        let mut outputs = self.step(
            to,
            Input::Peer {
                from: key(from),
                message,
            },
        );
        let mut reply = None;
        while let Some(o) = outputs.pop() {
            match o {
                Output::PeerReply(r) => reply = Some(r),
                Output::Work(w) if w.answers_peer() => {
                    let done = self.nodes[to].crypto.run(w, &mut self.random);
                    outputs.extend(self.step(to, done));
                }
                other => self.route(to, other, events),
            }
        }
        reply.expect("every peer message is answered")
    }

    fn route(&mut self, at: usize, o: Output, events: &mut VecDeque<(usize, Input)>) {
        match o {
            Output::Send {
                token, to, message, ..
            } => {
                let from = IDS[at];
                let reply = self.deliver(from, Self::index(&to), message, events);
                events.push_back((at, Input::Delivered { token, reply }));
            }
            Output::Work(w) => {
                let done = self.nodes[at].crypto.run(w, &mut self.random);
                events.push_back((at, done));
            }
            Output::StaffReply { reply, .. } => self.replies.push(reply),
            Output::PeerReply(r) => self.answers.push(r),
            _ => {}
        }
    }

    /// Runs `input` at `at` and everything it causes, to quiescence.
    /// One step at node `at`, and the steps of the work it handed out, done at once; what
    /// leaves the node is returned, not delivered.
    fn step_done(&mut self, at: usize, input: Input) -> Vec<Output> {
        let mut outputs = self.step(at, input);
        while let Some(i) = outputs.iter().position(|o| matches!(o, Output::Work(_))) {
            let Output::Work(work) = outputs.remove(i) else {
                unreachable!("found above")
            };
            let done = self.nodes[at].core.crypto().run(work, &mut self.random);
            outputs.extend(self.step(at, done));
        }
        outputs
    }

    fn run(&mut self, at: usize, input: Input) {
        let mut events = VecDeque::from([(at, input)]);
        while let Some((at, input)) = events.pop_front() {
            for o in self.step(at, input) {
                self.route(at, o, &mut events);
            }
        }
    }

    fn overlap(&mut self, again: bool) -> protocol_spec::stats::OverlapRounds {
        match self.overlap_reply(again) {
            StaffReply::Overlap(o) => *o,
            other => panic!("{other:?}"),
        }
    }

    fn overlap_reply(&mut self, again: bool) -> StaffReply {
        self.run(DASHBOARD, overlap_request(again));
        self.replies.pop().expect("a staff reply")
    }

    fn log(&self, at: usize) -> Vec<LogEntry> {
        let mut st = self.nodes[at]
            .db
            .prepare("SELECT entry FROM log_entries ORDER BY idx")
            .unwrap();
        st.query_map([], |r| r.get::<_, Vec<u8>>(0))
            .unwrap()
            .map(|e| LogEntry::parse(&e.unwrap()).unwrap())
            .collect()
    }

    fn count(&self, at: usize, sql: &str) -> i64 {
        self.nodes[at].db.query_row(sql, [], |r| r.get(0)).unwrap()
    }
}

fn participants() -> Vec<InstitutionId> {
    IDS[..3].iter().map(|i| i.parse().unwrap()).collect()
}

/// The dashboard's administrator asks for the month's overlap round.
fn overlap_request(again: bool) -> Input {
    Input::Staff {
        ticket: 1,
        key: SigningKey::from_seed(seed("ne.cii", "admin")).public(),
        request: StaffRequest::StatsOverlap {
            month: MONTH.parse().unwrap(),
            again,
        },
    }
}

#[test]
fn a_round_publishes_the_suppressed_true_counts_and_keeps_no_set() {
    // ne.orp 1..=20, ne.oai 11..=26, ne.sas 1..=5 and 21..=30: 10 persons in ne.orp and
    // ne.oai, 5 in ne.orp and ne.sas, 6 in ne.oai and ne.sas, none in all three.
    let orp: Vec<u64> = (1..=20).collect();
    let oai: Vec<u64> = (11..=26).collect();
    let sas: Vec<u64> = (1..=5).chain(21..=30).collect();
    let mut f = Federation::new(3, [&orp, &oai, &sas]);
    let o = f.overlap(false);
    assert_eq!(o.started, Some(0));
    assert_eq!(
        o.rounds[0].state,
        RoundState::Running,
        "answered at the start"
    );
    // The start, every set and the outcome have travelled: asking again reports.
    let o = f.overlap(false);
    assert_eq!(o.started, None);
    let round = &o.rounds[0];
    assert_eq!(round.state, RoundState::Complete, "{round:?}");
    let sets: Vec<BTreeSet<u64>> = [&orp, &oai, &sas]
        .iter()
        .map(|s| s.iter().copied().collect())
        .collect();
    let both = |a: usize, b: usize| sets[a].intersection(&sets[b]).count() as u64;
    let counts = OverlapCounts {
        sizes: sets.iter().map(|s| s.len() as u64).collect(),
        several: 21,
        by_count: vec![21, 0],
        pairs: vec![both(0, 1), both(0, 2), both(1, 2)],
    };
    assert_eq!(counts.pairs, [10, 5, 6]);
    let expected = counts.publish(&participants(), 3);
    assert_eq!(round.overlap.as_ref(), Some(&expected));
    // Figures are shown, so the comparison says something (the zero of three sectors is
    // hidden, and with it a figure it could be recomputed from).
    let shown = expected
        .pairs
        .iter()
        .filter(|p| matches!(p.persons, Cell::Count(_)))
        .count();
    assert!(shown >= 2, "{expected:?}");
    assert_eq!(expected.by_count[1].1, Cell::Small);
    // The dashboard keeps no set; each sector ended its part and found the sizes it sent.
    assert_eq!(f.count(DASHBOARD, "SELECT COUNT(*) FROM psi_final_sets"), 0);
    for at in 0..3 {
        let log = f.log(at);
        assert!(
            log.iter()
                .any(|e| matches!(e, LogEntry::PsiEnd(p) if p.reason.as_str() == "complete"))
        );
        assert!(
            log.iter()
                .any(|e| matches!(e, LogEntry::PsiOutcome(p) if p.sizes.as_str() == "match"))
        );
        assert!(f.nodes[at].core.psi_secrets.is_empty(), "secret wiped");
        assert_eq!(f.count(at, "SELECT COUNT(*) FROM outbox"), 0);
    }
    // A completed round is not run again.
    match f.overlap_reply(true) {
        StaffReply::Error(e) => assert!(e.message.contains("completed"), "{e:?}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(f.count(DASHBOARD, "SELECT COUNT(*) FROM psi_rounds"), 1);
}

#[test]
fn a_sector_that_restarted_stops_and_the_round_expires_without_figures() {
    let orp: Vec<u64> = (1..=8).collect();
    let mut f = Federation::new(2, [&orp, &orp, &orp]);
    // The start reaches the sectors, but nothing else moves: each queued set is dropped by
    // the test, as if the network were down after the start.
    let outputs = f.step_done(DASHBOARD, overlap_request(false));
    let mut starts = 0;
    for o in outputs {
        if let Output::Send {
            to,
            message: m @ PeerMessage::PsiStart(_),
            ..
        } = o
        {
            let mut events = VecDeque::new();
            let reply = f.deliver("ne.cii", Federation::index(&to), m, &mut events);
            assert_eq!(reply, PeerReply::Accepted);
            starts += 1;
        }
    }
    assert_eq!(starts, 3);
    // ne.oai restarts: its secret is gone; at its next tick the round stops there.
    f.nodes[1].core.psi_secrets.clear();
    f.run(1, Input::Tick);
    assert!(
        f.log(1)
            .iter()
            .any(|e| matches!(e, LogEntry::PsiEnd(p) if p.reason.as_str() == "stopped"))
    );
    // Past the expiry, the others end theirs, the dashboard's attempt is expired, and no
    // message of the round stays queued anywhere.
    f.now = NOW + 7 * 86_400;
    for at in [0, 2, DASHBOARD] {
        f.run(at, Input::Tick);
        assert!(
            f.log(at)
                .iter()
                .any(|e| matches!(e, LogEntry::PsiEnd(p) if p.reason.as_str() == "expired")),
            "{}",
            IDS[at]
        );
        assert_eq!(
            f.count(at, "SELECT COUNT(*) FROM outbox WHERE topic LIKE 'psi:%'"),
            0
        );
        assert!(f.nodes[at].core.psi_secrets.is_empty());
    }
    f.now = NOW + 8 * 86_400;
    let o = f.overlap(false);
    assert_eq!(o.rounds[0].state, RoundState::Expired);
    assert!(o.rounds[0].overlap.is_none());
    // The next attempt may start.
    let next = f.overlap(true);
    assert_eq!(next.started, Some(1));
}

#[test]
fn a_sector_refuses_a_start_that_is_not_the_rosters_and_logs_why() {
    let orp: Vec<u64> = (1..=8).collect();
    let mut f = Federation::new(5, [&orp, &orp, &orp]);
    let dashboard = SigningKey::from_seed(seed("ne.cii", "signing"));
    let round = |threshold: u32, attempt: u8| PsiRound {
        federation: "ne-cii".into(),
        month: MONTH.parse().unwrap(),
        roster_version: 1,
        attempt,
        dashboard: "ne.cii".parse().unwrap(),
        participants: participants(),
        threshold,
        expires_at: NOW + 86_400,
    };
    let mut events = VecDeque::new();
    let mut send = |f: &mut Federation, from: &str, r: PsiRound, key: &SigningKey| {
        f.deliver(
            from,
            0,
            PeerMessage::PsiStart(Box::new(r.sign(key))),
            &mut events,
        )
    };
    let rejected = |r: PeerReply| match r {
        PeerReply::Rejected { reason } => reason,
        other => panic!("{other:?}"),
    };
    // A lower threshold than the roster's.
    let reason = rejected(send(&mut f, "ne.cii", round(2, 0), &dashboard));
    assert_eq!(reason, "the round's threshold is 2; the roster's is 5");
    // Signed by another key.
    let other = SigningKey::from_seed(seed("ne.oai", "signing"));
    let reason = rejected(send(&mut f, "ne.cii", round(5, 0), &other));
    assert_eq!(reason, "the signature of `ne.cii` does not verify");
    // From a sector rather than the dashboard member.
    let reason = rejected(send(&mut f, "ne.oai", round(5, 0), &other));
    assert!(
        reason.contains("dashboard member `ne.cii`, not `ne.oai`"),
        "{reason}"
    );
    // Each refusal is logged with its reason, and nothing was recorded.
    let refusals = f
        .log(0)
        .into_iter()
        .filter(|e| matches!(e, LogEntry::PsiRound(r) if r.reason.as_str() != "-"))
        .count();
    assert_eq!(refusals, 3);
    assert_eq!(f.count(0, "SELECT COUNT(*) FROM psi_rounds"), 0);
    // The right start is taken, a second one under the same attempt is refused, and a
    // start received again is answered as the first time.
    let good = round(5, 0);
    assert_eq!(
        send(&mut f, "ne.cii", good.clone(), &dashboard),
        PeerReply::Accepted
    );
    assert_eq!(
        send(&mut f, "ne.cii", good, &dashboard),
        PeerReply::Accepted
    );
    let mut second = round(5, 0);
    second.expires_at += 1;
    let reason = rejected(send(&mut f, "ne.cii", second, &dashboard));
    assert_eq!(reason, format!("the rounds of {MONTH} are used up"));
    assert_eq!(f.count(0, "SELECT COUNT(*) FROM psi_rounds"), 1);
}

#[test]
fn a_set_whose_size_differs_from_its_report_publishes_no_figure() {
    let persons: Vec<u64> = (1..=8).collect();
    let mut f = Federation::new(2, [&persons, &persons, &persons]);
    for (at, id) in IDS[..3].iter().enumerate() {
        let key = SigningKey::from_seed(seed(id, "admin")).public();
        f.run(
            at,
            Input::Staff {
                ticket: 2,
                key,
                request: StaffRequest::StatsSend {
                    month: MONTH.parse().unwrap(),
                    correction: false,
                },
            },
        );
        assert!(
            matches!(f.replies.pop(), Some(StaffReply::StatsSent(s)) if s.delivered),
            "{id} reported"
        );
    }
    // ne.orp follows a ninth person after it reported: its set no longer matches.
    f.nodes[0]
        .db
        .execute(
            "INSERT INTO placements (avs, measure, start, end_date, outcome) VALUES (?1, 'atelier-bois', '2026-11-20', NULL, NULL)",
            [avs(99)],
        )
        .unwrap();
    f.overlap(false);
    let o = f.overlap(false);
    let round = &o.rounds[0];
    assert_eq!(round.state, RoundState::Complete);
    assert_eq!(round.overlap, None);
    let problem = round.problem.as_deref().unwrap_or_default();
    assert!(
        problem.contains("the set of ne.orp holds 9 elements; its report implies 8"),
        "{problem}"
    );
    let sizes: Vec<u64> = round.sizes.iter().map(|s| s.size).collect();
    assert_eq!(sizes, [9, 8, 8]);
    assert!(
        f.log(DASHBOARD)
            .iter()
            .any(|e| matches!(e, LogEntry::PsiOutcome(p) if p.sizes.as_str() == "ne.orp=differs"))
    );
    assert_eq!(f.count(DASHBOARD, "SELECT COUNT(*) FROM psi_final_sets"), 0);
    // No figure was published: the next attempt may start.
    assert_eq!(f.overlap(true).started, Some(1));
}
