//! What a run reports: its statistics, or the invariant it broke with the trace that led there.

use crate::invariants::Invariant;
use crate::network::NetStats;
use std::fmt;

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Events taken from the queue (ticks, staff actions, arrivals, answers, timeouts, faults).
    pub events: u64,
    /// Steps of a node core (one transaction each).
    pub steps: u64,
    pub sim_ms: u64,
    pub staff_requests: u64,
    pub crashes: u64,
    pub store_faults: u64,
    pub partitions: u64,
    pub late_answers: u64,
    pub net: NetStats,
    pub rogue_messages: u64,
    pub malformed: u64,
    pub roster_changes: u64,
    /// Summaries acknowledged to case workers as received.
    pub acknowledged: u64,
    /// From the logs: disclosures, refusals, receipts and withdrawn requests.
    pub granted: u64,
    pub refused: u64,
    pub received: u64,
    pub withdrawn: u64,
    /// Witness rounds, cosignatures obtained, checkpoints of a forked log offered.
    pub witness_rounds: u64,
    pub cosignatures: u64,
    pub forks_offered: u64,
    /// Staff case actions composed again because their case changed while they were signed.
    pub recomposed: u64,
    /// Summary requests signed ahead of their step, as the daemon signs them.
    pub presigned: u64,
}

impl Stats {
    pub fn add(&mut self, o: &Stats) {
        self.events += o.events;
        self.steps += o.steps;
        self.sim_ms += o.sim_ms;
        self.staff_requests += o.staff_requests;
        self.crashes += o.crashes;
        self.store_faults += o.store_faults;
        self.partitions += o.partitions;
        self.late_answers += o.late_answers;
        self.net.sent += o.net.sent;
        self.net.dropped += o.net.dropped;
        self.net.duplicated += o.net.duplicated;
        self.net.cut_off += o.net.cut_off;
        self.rogue_messages += o.rogue_messages;
        self.malformed += o.malformed;
        self.roster_changes += o.roster_changes;
        self.acknowledged += o.acknowledged;
        self.granted += o.granted;
        self.refused += o.refused;
        self.received += o.received;
        self.withdrawn += o.withdrawn;
        self.witness_rounds += o.witness_rounds;
        self.cosignatures += o.cosignatures;
        self.forks_offered += o.forks_offered;
        self.recomposed += o.recomposed;
        self.presigned += o.presigned;
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} events, {} steps, {:.1} h simulated; faults: {} drops, {} dups, {} cut off, {} partitions, {} crashes, {} store faults, {} late answers; misbehaving: {} messages, {} malformed; exchanges: {} granted, {} refused, {} received, {} withdrawn; {} case actions composed again after a concurrent change, {} summary requests signed ahead; witnessing: {} rounds, {} cosignatures, {} forked checkpoints offered; {} roster versions installed",
            self.events,
            self.steps,
            self.sim_ms as f64 / 3_600_000.0,
            self.net.dropped,
            self.net.duplicated,
            self.net.cut_off,
            self.partitions,
            self.crashes,
            self.store_faults,
            self.late_answers,
            self.rogue_messages,
            self.malformed,
            self.granted,
            self.refused,
            self.received,
            self.withdrawn,
            self.recomposed,
            self.presigned,
            self.witness_rounds,
            self.cosignatures,
            self.forks_offered,
            self.roster_changes,
        )
    }
}

pub struct Report {
    pub seed: u64,
    pub stats: Stats,
}

/// An invariant that did not hold: the seed that replays it, and what led there.
#[derive(Debug, Clone)]
pub struct Violation {
    pub seed: u64,
    pub invariant: Invariant,
    pub at_ms: u64,
    pub detail: String,
    /// The last trace lines before the violation.
    pub trace: Vec<String>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "seed {}: {} violated", self.seed, self.invariant)?;
        writeln!(f, "at {:.3} s: {}", self.at_ms as f64 / 1000.0, self.detail)?;
        writeln!(f, "last {} events:", self.trace.len())?;
        for line in &self.trace {
            writeln!(f, "  {line}")?;
        }
        write!(
            f,
            "replay with: cargo run --release -p sim -- --seed {}",
            self.seed
        )
    }
}
