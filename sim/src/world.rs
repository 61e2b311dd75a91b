//! The world of one run: simulated time, the event queue, the nodes, the network between them,
//! and the faults. Everything happens in one thread, in the order of (time, sequence), and every
//! choice is drawn from the run's one generator, so a seed replays the same run.

use crate::config::Config;
use crate::federation::{BASE_TIME, Federation};
use crate::invariants::{self, Check, Checker, Failure, Invariant, fail};
use crate::network::{Network, Party};
use crate::node::{Credential, SimNode, Worker};
use crate::progress::{Membership, Witnessing};
use crate::report::{Report, Stats, Violation};
use crate::rng::SimRng;
use crate::rogue::Rogue;
use crate::trace::{self, Trace};
use node_core::{Done, Input, Output, Signed, Ticket, Token, Verified, Work};
use protocol_spec::entry::LogEntry;
use protocol_spec::exchange::SignedSummaryRequest;
use protocol_spec::ids::{InstitutionId, Role};
use protocol_spec::keys::PublicKey;
use protocol_spec::peer::{PeerMessage, PeerReply};
use protocol_spec::staff::{StaffErrorKind, StaffReply, StaffRequest, SummaryOutcome};
use std::collections::BTreeMap;

/// Every live node gets a tick about this often.
const TICK_MS: u64 = 2_000;
/// Once the active phase is over, outboxes must drain within this much simulated time.
const DRAIN_LIMIT_MS: u64 = 3_600_000;

pub(crate) enum Event {
    Tick,
    Staff,
    Rogue,
    Fault,
    RosterChange,
    /// Nodes offer their checkpoints to their witnesses.
    Checkpoint,
    Restart(usize),
    Heal(Party, Party),
    /// A peer message reaches `to`.
    Arrive {
        to: Party,
        from: PublicKey,
        origin: Origin,
        /// Boxed: a roster is large, and most events are small.
        message: Box<PeerMessage>,
    },
    /// The answer to send `send` reaches the node that sent it.
    Answer {
        node: usize,
        incarnation: u64,
        send: u64,
        reply: PeerReply,
    },
    /// The sender of `send` stops waiting for its answer.
    Timeout {
        node: usize,
        incarnation: u64,
        send: u64,
    },
    /// Work a node's core handed out (sealing, opening) is done; for a peer message, the reply
    /// then goes back to `origin`.
    Work {
        node: usize,
        incarnation: u64,
        origin: Option<(Origin, Expect)>,
        work: Box<Work>,
    },
}

#[derive(Clone, Copy)]
pub(crate) enum Origin {
    /// An outbox item of an honest node.
    Node {
        node: usize,
        incarnation: u64,
        send: u64,
    },
    /// The misbehaving member, with what its message's answer must be.
    Rogue(Expect),
    /// A checkpoint of `owner`'s log offered to `witness`.
    Witnessing {
        owner: Party,
        witness: usize,
        size: u64,
        root: protocol_spec::tlog::Hash,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Expect {
    Anything,
    /// Invariant 6: the exact refusal of an unconcerned requester.
    NotConcerned,
    /// A forged or foreign case history: never accepted.
    NotAccepted,
}

struct Sent {
    node: usize,
    token: Token,
    settled: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum StaffKind {
    /// Setting a node up: it must succeed.
    Setup,
    Issue(usize),
    Revoke(usize),
    Install,
    CaseWork,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Active,
    /// Healed network, no new work, no faults: outboxes drain.
    Drain,
}

pub(crate) struct World {
    pub cfg: Config,
    pub now_ms: u64,
    pub rng: SimRng,
    queue: BTreeMap<(u64, u64), Event>,
    seq: u64,
    pub fed: Federation,
    /// The founders, then the joiner (started when the roster adds it).
    pub nodes: Vec<SimNode>,
    pub rogue: Rogue,
    pub net: Network,
    sends: BTreeMap<u64, Sent>,
    next_send: u64,
    tickets: BTreeMap<Ticket, (usize, StaffKind)>,
    next_ticket: Ticket,
    phase: Phase,
    /// Setting up: no injected store faults.
    quiet: bool,
    pub stats: Stats,
    pub trace: Trace,
    checker: Checker,
    pub(crate) witnessing: Witnessing,
    pub(crate) membership: Membership,
}

impl World {
    pub fn new(cfg: Config) -> anyhow::Result<Self> {
        let mut rng = SimRng::new(cfg.seed);
        let fed = Federation::new(cfg.seed, &mut rng);
        let mut nodes = Vec::new();
        for inst in &fed.founders {
            nodes.push(SimNode::new(inst.clone(), fed.first.clone())?);
        }
        // Configured with the roster that adds it, when the steering group issues that.
        nodes.push(SimNode::new(fed.joiner.clone(), fed.first.clone())?);
        let rogue = Rogue::new(fed.rogue.clone());
        Ok(World {
            net: Network::new(cfg.net),
            trace: Trace::new(cfg.verbose),
            cfg,
            now_ms: 0,
            rng,
            queue: BTreeMap::new(),
            seq: 0,
            fed,
            nodes,
            rogue,
            sends: BTreeMap::new(),
            next_send: 0,
            tickets: BTreeMap::new(),
            next_ticket: 0,
            phase: Phase::Active,
            quiet: false,
            stats: Stats::default(),
            checker: Checker::default(),
            witnessing: Witnessing::default(),
            membership: Membership::default(),
        })
    }

    pub fn now(&self) -> u64 {
        BASE_TIME + self.now_ms / 1000
    }

    pub fn active(&self) -> bool {
        self.phase == Phase::Active
    }

    pub(crate) fn schedule(&mut self, after_ms: u64, ev: Event) {
        self.seq += 1;
        self.queue.insert((self.now_ms + after_ms, self.seq), ev);
    }

    pub fn note(&mut self, line: String) {
        self.trace.record(self.now_ms, line);
    }

    pub fn violation(&self, f: Failure) -> Violation {
        Violation {
            seed: self.cfg.seed,
            invariant: f.invariant,
            at_ms: self.now_ms,
            detail: f.detail,
            trace: self.trace.tail(),
        }
    }

    pub fn party_of(&self, id: &InstitutionId) -> Option<Party> {
        if id == &self.rogue.inst.id {
            return Some(Party::Rogue);
        }
        self.nodes
            .iter()
            .position(|n| &n.inst.id == id)
            .filter(|i| self.nodes[*i].joined)
            .map(Party::Node)
    }

    pub fn run(&mut self) -> Result<Report, Violation> {
        self.play().map_err(|f| self.violation(f))?;
        Ok(Report {
            seed: self.cfg.seed,
            stats: self.stats.clone(),
        })
    }

    fn play(&mut self) -> Check {
        for i in 0..self.fed.founders.len() {
            self.set_up(i)?;
        }
        self.schedule(TICK_MS, Event::Tick);
        self.schedule(300, Event::Staff);
        if self.cfg.rogue {
            self.schedule(1_000, Event::Rogue);
        }
        if self.cfg.crashes || self.cfg.partitions {
            let after = self.rng.between(2_000, 20_000);
            self.schedule(after, Event::Fault);
        }
        if self.cfg.roster_change {
            self.schedule(self.cfg.duration_ms * 2 / 5, Event::RosterChange);
        }
        self.schedule(5_000, Event::Checkpoint);
        while let Some(((at, _), ev)) = self.queue.pop_first() {
            if at >= self.cfg.duration_ms || self.stats.events >= self.cfg.max_events {
                self.queue.insert((at, 0), ev);
                break;
            }
            self.now_ms = at;
            self.stats.events += 1;
            self.handle(ev)?;
        }
        self.drain()?;
        self.checker.exchanged_once(&self.nodes)?;
        invariants::converged(&self.nodes, &self.rogue.inst.id)?;
        self.count_outcomes()?;
        self.stats.sim_ms = self.now_ms;
        self.stats.net = self.net.stats;
        self.stats.rogue_messages = self.rogue.messages;
        self.stats.malformed = self.rogue.malformed;
        self.stats.witness_rounds = self.witnessing.rounds;
        self.stats.cosignatures = self.witnessing.cosignatures;
        self.stats.forks_offered = self.witnessing.forks_offered;
        Ok(())
    }

    /// Heals the network, restarts every node from its store, and lets the outboxes drain.
    fn drain(&mut self) -> Check {
        self.phase = Phase::Drain;
        self.net.calm_down();
        self.note("drain: network healed, every node restarts".into());
        for i in 0..self.nodes.len() {
            if self.nodes[i].joined {
                if self.nodes[i].is_up() {
                    // Not a fault: a planned restart, so what was acknowledged is checked again.
                    self.nodes[i].crash();
                    self.tickets.retain(|_, (n, _)| *n != i);
                }
                self.restart(i)?;
            }
        }
        let deadline = self.now_ms + DRAIN_LIMIT_MS;
        while let Some(((at, _), ev)) = self.queue.pop_first() {
            self.now_ms = self.now_ms.max(at);
            self.stats.events += 1;
            let tick = matches!(ev, Event::Tick);
            self.handle(ev)?;
            if tick && self.settled()? {
                return Ok(());
            }
            if self.now_ms > deadline {
                let mut left = Vec::new();
                for n in self.nodes.iter().filter(|n| n.joined) {
                    left.push(format!("{}: {}", n.inst.id, n.outbox_len()?));
                }
                return fail(
                    Invariant::Converged,
                    format!(
                        "outboxes did not drain within {} h of healing ({})",
                        DRAIN_LIMIT_MS / 3_600_000,
                        left.join(", ")
                    ),
                );
            }
        }
        Ok(())
    }

    /// Nothing left to send and nothing on the wire.
    fn settled(&self) -> anyhow::Result<bool> {
        for n in self.nodes.iter().filter(|n| n.joined) {
            if n.outbox_len()? > 0 {
                return Ok(false);
            }
        }
        Ok(!self.queue.values().any(|e| {
            matches!(
                e,
                Event::Arrive { .. } | Event::Answer { .. } | Event::Work { .. }
            )
        }))
    }

    fn handle(&mut self, ev: Event) -> Check {
        match ev {
            Event::Tick => {
                for i in 0..self.nodes.len() {
                    if self.nodes[i].is_up() {
                        self.step(i, Input::Tick, Expect::Anything, None)?;
                    }
                }
                let next = self.rng.between(TICK_MS * 3 / 4, TICK_MS * 5 / 4);
                self.schedule(next, Event::Tick);
            }
            Event::Staff if self.active() => {
                self.staff_action()?;
                let next = self.rng.between(100, 1_500);
                self.schedule(next, Event::Staff);
            }
            Event::Rogue if self.active() => {
                self.rogue_action()?;
                let next = self.rng.between(300, 3_000);
                self.schedule(next, Event::Rogue);
            }
            Event::Fault if self.active() => {
                self.inject_fault()?;
                let next = self.rng.between(10_000, 60_000);
                self.schedule(next, Event::Fault);
            }
            Event::RosterChange if self.active() => self.roster_change()?,
            Event::Checkpoint if self.active() => {
                self.witness_round()?;
                let next = self.rng.between(3_000, 12_000);
                self.schedule(next, Event::Checkpoint);
            }
            Event::Staff
            | Event::Rogue
            | Event::Fault
            | Event::RosterChange
            | Event::Checkpoint => {}
            Event::Restart(i) => {
                // A node that left the federation stays stopped.
                if !self.nodes[i].is_up() && !self.nodes[i].removed {
                    self.restart(i)?;
                }
            }
            Event::Heal(a, b) => self.net.heal(a, b),
            Event::Arrive {
                to,
                from,
                origin,
                message,
            } => self.arrive(to, from, origin, *message)?,
            Event::Answer {
                node,
                incarnation,
                send,
                reply,
            } => self.answer(node, incarnation, send, reply)?,
            Event::Timeout {
                node,
                incarnation,
                send,
            } => {
                let n = &self.nodes[node];
                if n.is_up() && n.incarnation == incarnation {
                    let s = self.sends.get_mut(&send).expect("a timeout follows a send");
                    if !s.settled {
                        s.settled = true;
                        let token = s.token;
                        self.step(node, Input::Unreachable { token }, Expect::Anything, None)?;
                    }
                }
            }
            Event::Work {
                node,
                incarnation,
                origin,
                work,
            } => self.work_done(node, incarnation, origin, *work)?,
        }
        Ok(())
    }

    /// Runs one input at node `i` and releases what the core answered; the checks run on the
    /// committed state. Returns the reply to a peer message.
    pub(crate) fn step(
        &mut self,
        i: usize,
        input: Input,
        expect: Expect,
        origin: Option<Origin>,
    ) -> Result<Option<PeerReply>, Failure> {
        let request = match &input {
            Input::Peer {
                from,
                message: PeerMessage::Summary(s),
            }
            | Input::Done(Done::Sealed {
                from, request: s, ..
            }) => Some((*from, s.clone())),
            _ => None,
        };
        // Signatures checked before the step against the node's roster, as the daemon does;
        // or not at all, so the core's own verification runs too.
        let verified = match &self.nodes[i].core {
            Some(core) if self.rng.chance(0.5) => {
                node_core::precheck(&core.roster().roster, &input)
            }
            _ => Verified::default(),
        };
        if let Input::Done(Done::Signed {
            signed: Signed::CaseEvents { attempt: 1.., .. },
            ..
        }) = &input
        {
            self.stats.recomposed += 1;
        }
        let text = trace::input(&input);
        let store_fault = self.active() && !self.quiet && self.rng.chance(self.cfg.store_faults);
        let now = self.now();
        // A case worker's request signed ahead, as the daemon does; or not, so the step hands
        // its signing out.
        let presigned = if self.nodes[i].core.is_some() && self.rng.chance(0.5) {
            let millis = now * 1000 + self.now_ms % 1000;
            self.nodes[i]
                .crypto()
                .presign(&input, millis, &mut self.rng)
        } else {
            None
        };
        if presigned.is_some() {
            self.stats.presigned += 1;
        }
        let step = self.nodes[i].step(
            input,
            &verified,
            presigned.as_ref(),
            now,
            &mut self.rng,
            store_fault,
        )?;
        self.stats.steps += 1;
        if store_fault {
            self.stats.store_faults += 1;
        }
        let outcome = match &step.fault {
            None => String::new(),
            Some(f) => format!(" [rolled back: {f}]"),
        };
        let outs: Vec<String> = step
            .outputs
            .iter()
            .filter(|o| !matches!(o, Output::StaffChanged(_)))
            .map(trace::output)
            .collect();
        self.note(format!(
            "{} <- {text}{outcome}{}{}",
            self.nodes[i].inst.id,
            if outs.is_empty() { "" } else { " => " },
            outs.join("; ")
        ));
        let mut reply = None;
        for out in step.outputs {
            match out {
                Output::PeerReply(r) => {
                    if step.committed {
                        self.judge_reply(i, &r, request.as_ref(), expect, now)?;
                    }
                    reply = Some(r);
                }
                Output::StaffReply { ticket, reply } => self.staff_reply(i, ticket, reply)?,
                Output::Send {
                    token, to, message, ..
                } => self.send(i, token, to, message)?,
                Output::ReceiptLogged { request_digest, .. } => self
                    .checker
                    .receipt_logged(&self.nodes[i], &request_digest)?,
                // The simulator issues no log requests; a stray one is simply dropped.
                Output::ServeLog { ticket, .. } => {
                    self.tickets.remove(&ticket);
                }
                Output::RosterAdopted(_) | Output::StaffChanged(_) => {}
                // Done off the store thread, a moment later: other steps may come in between.
                Output::Work(work) if step.committed => {
                    // Mostly at once; now and then late, as on a loaded machine.
                    let after = if self.rng.chance(0.8) {
                        self.rng.between(0, 30)
                    } else {
                        self.rng.between(30, 10_000)
                    };
                    let incarnation = self.nodes[i].incarnation;
                    self.schedule(
                        after,
                        Event::Work {
                            node: i,
                            incarnation,
                            origin: origin.map(|o| (o, expect)),
                            work: Box::new(work),
                        },
                    );
                }
                Output::Work(_) => {}
            }
        }
        Ok(reply)
    }

    fn judge_reply(
        &mut self,
        i: usize,
        r: &PeerReply,
        request: Option<&(PublicKey, SignedSummaryRequest)>,
        expect: Expect,
        now: u64,
    ) -> Check {
        if let PeerReply::Disclosure { disclosure, .. } = r {
            let Some((from, signed)) = request else {
                return fail(
                    Invariant::RuleHeld,
                    format!(
                        "{} disclosed in answer to something other than a request",
                        self.nodes[i].inst.id
                    ),
                );
            };
            self.checker
                .disclosure_released(&self.nodes[i], from, signed, disclosure, now)?;
        }
        match expect {
            Expect::Anything => Ok(()),
            Expect::NotConcerned => invariants::unconcerned(r),
            Expect::NotAccepted if *r == PeerReply::Accepted => fail(
                Invariant::ForgedHistory,
                format!(
                    "{} accepted a case history from the misbehaving member about a case it is not in",
                    self.nodes[i].inst.id
                ),
            ),
            Expect::NotAccepted => Ok(()),
        }
    }

    /// Hands a message of node `i` to the network; its answer or a timeout comes back later.
    fn send(&mut self, i: usize, token: Token, to: InstitutionId, message: PeerMessage) -> Check {
        if let PeerMessage::Summary(s) = &message {
            self.checker.request_sent(&self.nodes[i], s, self.now())?;
            self.rogue.overheard(s);
        }
        self.next_send += 1;
        let send = self.next_send;
        self.sends.insert(
            send,
            Sent {
                node: i,
                token,
                settled: false,
            },
        );
        let n = &self.nodes[i];
        let (incarnation, from) = (n.incarnation, n.inst.signing().public());
        let origin = Origin::Node {
            node: i,
            incarnation,
            send,
        };
        if let Some(to) = self.party_of(&to) {
            for delay in self.net.fate(&mut self.rng, Party::Node(i), to) {
                let message = message.clone();
                self.schedule(
                    delay,
                    Event::Arrive {
                        to,
                        from,
                        origin,
                        message: Box::new(message),
                    },
                );
            }
        }
        let timeout = self.net.config.timeout_ms;
        self.schedule(
            timeout,
            Event::Timeout {
                node: i,
                incarnation,
                send,
            },
        );
        Ok(())
    }

    fn arrive(
        &mut self,
        to: Party,
        from: PublicKey,
        origin: Origin,
        message: PeerMessage,
    ) -> Check {
        let reply = match to {
            Party::Rogue => Some(self.rogue.answer(&message)),
            Party::Node(j) => {
                if !self.nodes[j].is_up() {
                    let text = trace::message_text(&message);
                    self.note(format!("{} is down: lost {text}", self.nodes[j].inst.id));
                    return Ok(());
                }
                let expect = match origin {
                    Origin::Rogue(e) => e,
                    Origin::Node { .. } | Origin::Witnessing { .. } => Expect::Anything,
                };
                self.step(j, Input::Peer { from, message }, expect, Some(origin))?
            }
        };
        self.reply(to, origin, reply)
    }

    /// The answer of a work's step at node `i`, routed as the reply to the message that asked.
    fn work_done(
        &mut self,
        i: usize,
        incarnation: u64,
        origin: Option<(Origin, Expect)>,
        work: Work,
    ) -> Check {
        let n = &self.nodes[i];
        if !n.is_up() || n.incarnation != incarnation {
            let id = n.inst.id.clone();
            self.note(format!("{id} restarted since: lost its work in progress"));
            return Ok(());
        }
        let input = n.crypto().run(work, &mut self.rng);
        let expect = origin.map_or(Expect::Anything, |(_, e)| e);
        let reply = self.step(i, input, expect, origin.map(|(o, _)| o))?;
        match origin {
            Some((origin, _)) => self.reply(Party::Node(i), origin, reply),
            None => Ok(()),
        }
    }

    /// Sends a node's reply back through the network to the node whose message it answers.
    fn reply(&mut self, to: Party, origin: Origin, reply: Option<PeerReply>) -> Check {
        let Some(reply) = reply else {
            return Ok(());
        };
        match origin {
            Origin::Node {
                node,
                incarnation,
                send,
            } => {
                for delay in self.net.fate(&mut self.rng, to, Party::Node(node)) {
                    let reply = reply.clone();
                    self.schedule(
                        delay,
                        Event::Answer {
                            node,
                            incarnation,
                            send,
                            reply,
                        },
                    );
                }
            }
            // The log's owner learns the answer if the network carries it back; once is enough.
            Origin::Witnessing {
                owner,
                witness,
                size,
                root,
            } => {
                if !self.net.fate(&mut self.rng, to, owner).is_empty() {
                    self.witness_answered(owner, witness, (size, root), &reply)?;
                }
            }
            Origin::Rogue(_) => {}
        }
        Ok(())
    }

    fn answer(&mut self, node: usize, incarnation: u64, send: u64, reply: PeerReply) -> Check {
        let n = &self.nodes[node];
        if !n.is_up() || n.incarnation != incarnation {
            let id = n.inst.id.clone();
            self.note(format!(
                "{id} restarted since: lost answer {}",
                trace::reply_text(&reply)
            ));
            return Ok(());
        }
        let s = &self.sends[&send];
        debug_assert_eq!(s.node, node);
        let token = s.token;
        if s.settled {
            // A late or duplicated answer: the core must shrug it off.
            if !(self.active() && self.rng.chance(self.net.config.late_answer)) {
                return Ok(());
            }
            self.stats.late_answers += 1;
        }
        self.sends
            .get_mut(&send)
            .expect("an answer follows a send")
            .settled = true;
        self.step(
            node,
            Input::Delivered { token, reply },
            Expect::Anything,
            None,
        )?;
        Ok(())
    }

    /// Asks node `i`'s core on behalf of the staff member holding `key`.
    pub(crate) fn staff(
        &mut self,
        i: usize,
        key: PublicKey,
        request: StaffRequest,
        kind: StaffKind,
    ) -> Check {
        self.next_ticket += 1;
        let ticket = self.next_ticket;
        self.tickets.insert(ticket, (i, kind));
        self.stats.staff_requests += 1;
        self.step(
            i,
            Input::Staff {
                ticket,
                key,
                request,
            },
            Expect::Anything,
            None,
        )?;
        Ok(())
    }

    fn staff_reply(&mut self, i: usize, ticket: Ticket, reply: StaffReply) -> Check {
        let Some((node, kind)) = self.tickets.remove(&ticket) else {
            return fail(
                Invariant::ExchangedOnce,
                format!(
                    "{} answered staff ticket #{ticket} twice",
                    self.nodes[i].inst.id
                ),
            );
        };
        if node != i {
            return fail(
                Invariant::Harness,
                format!("ticket #{ticket} answered by another node"),
            );
        }
        match (&reply, kind) {
            (StaffReply::Summary(SummaryOutcome::Received(info)), _) => {
                self.stats.acknowledged += 1;
                self.checker.acknowledged(&self.nodes, i, info)?;
            }
            (StaffReply::Error(e), StaffKind::Setup) => {
                return fail(
                    Invariant::Harness,
                    format!("setting up {} failed: {e}", self.nodes[i].inst.id),
                );
            }
            (StaffReply::Done, StaffKind::Issue(w)) => {
                self.nodes[i].workers[w].state = Credential::Active
            }
            (StaffReply::Error(_), StaffKind::Issue(w)) => {
                self.nodes[i].workers[w].state = Credential::Revoked
            }
            (StaffReply::Done, StaffKind::Revoke(w)) => {
                self.nodes[i].workers[w].state = Credential::Revoked
            }
            (StaffReply::Error(e), StaffKind::Install) if e.kind == StaffErrorKind::Internal => {
                self.schedule(5_000, Event::RosterChange);
            }
            (StaffReply::RosterInstalled { .. }, _) => {
                self.stats.roster_changes += 1;
                self.roster_installed();
            }
            _ => {}
        }
        Ok(())
    }

    /// Starts node `i` for the first time: records imported, two case workers issued.
    pub(crate) fn set_up(&mut self, i: usize) -> Check {
        self.quiet = true;
        let now = self.now();
        self.nodes[i].start(now, self.cfg.mutants)?;
        let records = crate::federation::records(&self.fed.persons, &mut self.rng);
        self.nodes[i].persons = records.persons.iter().map(|p| p.avs.clone()).collect();
        let admin = self.nodes[i].admin;
        self.staff(
            i,
            admin,
            StaffRequest::ImportRecords(records),
            StaffKind::Setup,
        )?;
        for _ in 0..2 {
            self.issue_worker(i, StaffKind::Setup)?;
        }
        self.quiet = false;
        self.note(format!("{} set up", self.nodes[i].inst.id));
        Ok(())
    }

    pub(crate) fn issue_worker(&mut self, i: usize, kind: StaffKind) -> Check {
        let n = &mut self.nodes[i];
        let w = n.workers.len();
        let staff = format!("cw-{}", w + 1);
        let key = n.inst.staff_key(&staff);
        n.workers.push(Worker {
            staff: staff.parse().expect("staff id"),
            key,
            state: Credential::Requested,
        });
        let admin = n.admin;
        let request = StaffRequest::StaffIssue {
            staff: staff.parse().expect("staff id"),
            role: Role::CaseWorker,
            key,
        };
        let kind = if kind == StaffKind::Setup {
            // Setup replies must succeed; the credential is usable at once.
            self.nodes[i].workers[w].state = Credential::Active;
            StaffKind::Setup
        } else {
            StaffKind::Issue(w)
        };
        self.staff(i, admin, request, kind)
    }

    pub(crate) fn crash(&mut self, i: usize) {
        self.nodes[i].crash();
        self.tickets.retain(|_, (n, _)| *n != i);
        self.stats.crashes += 1;
        let id = self.nodes[i].inst.id.clone();
        self.note(format!("{id} crashed"));
    }

    pub(crate) fn restart(&mut self, i: usize) -> Check {
        let now = self.now();
        self.nodes[i].start(now, self.cfg.mutants)?;
        let id = self.nodes[i].inst.id.clone();
        self.note(format!("{id} restarted from its store"));
        // Whatever was acknowledged before the crash is still there.
        self.checker.acks_durable(&self.nodes)
    }

    fn inject_fault(&mut self) -> Check {
        let up: Vec<usize> = (0..self.nodes.len())
            .filter(|i| self.nodes[*i].is_up())
            .collect();
        let joined: Vec<Party> = (0..self.nodes.len())
            .filter(|i| self.nodes[*i].joined)
            .map(Party::Node)
            .chain(std::iter::once(Party::Rogue))
            .collect();
        let crash = self.cfg.crashes && (!self.cfg.partitions || self.rng.chance(0.5));
        if crash {
            // At least one node stays up, so work goes on.
            if up.len() > 1 {
                let i = up[self.rng.index(up.len())];
                self.crash(i);
                let after = self.rng.between(500, 60_000);
                self.schedule(after, Event::Restart(i));
            }
            return Ok(());
        }
        let a = joined[self.rng.index(joined.len())];
        let mut cut = Vec::new();
        if self.rng.chance(0.3) {
            // Isolate `a` from everyone.
            cut.extend(joined.iter().filter(|b| **b != a).map(|b| (a, *b)));
        } else {
            let b = joined[self.rng.index(joined.len())];
            if a != b {
                cut.push((a, b));
            }
        }
        let heal = self.rng.between(1_000, 90_000);
        for (a, b) in cut {
            if self.net.cut(a, b) {
                self.stats.partitions += 1;
                self.note(format!("link {a:?} - {b:?} cut"));
                self.schedule(heal, Event::Heal(a, b));
            }
        }
        Ok(())
    }

    /// The steering group adds a member: one administrator installs the new roster, which the
    /// outboxes carry to everyone; the new member's node starts with it.
    /// What the logs say happened, for the report.
    fn count_outcomes(&mut self) -> Check {
        for n in self.nodes.iter().filter(|n| n.joined) {
            let mut st = n
                .conn
                .prepare("SELECT entry FROM log_entries")
                .map_err(anyhow::Error::from)?;
            let rows = st
                .query_map([], |r| r.get::<_, Vec<u8>>(0))
                .map_err(anyhow::Error::from)?;
            for e in rows {
                let e = LogEntry::parse(&e.map_err(anyhow::Error::from)?)
                    .map_err(anyhow::Error::from)?;
                match e {
                    LogEntry::Disclosure(_) => self.stats.granted += 1,
                    LogEntry::Refusal(_) => self.stats.refused += 1,
                    LogEntry::RequestWithdrawn(_) => self.stats.withdrawn += 1,
                    LogEntry::Receipt(_) => self.stats.received += 1,
                    _ => {}
                }
            }
        }
        Ok(())
    }
}
