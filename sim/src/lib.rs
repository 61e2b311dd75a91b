//! Passerelle's federation simulator. It runs a whole federation of node cores (the same
//! `node-core` the daemon drives) in one thread, under simulated time, with one seeded random
//! generator, through a network that delays, drops, duplicates, reorders and partitions,
//! through crashes that lose whatever was not committed and store commits that fail, while case
//! workers work and a misbehaving member probes, replays and forges. The invariants of the
//! exchange (see [`invariants`]) are checked on the nodes' committed state throughout; a run is
//! reproducible from its seed, and a failing one reports the seed, the invariant and the trace
//! that led there.
//!
//! A run has two phases: an active one (work, attacks and faults), then a drain: the network
//! heals, every node restarts from its store, and ticks run until every outbox is empty, after
//! which every participant of a case must hold the same state of it.
#![forbid(unsafe_code)]

pub mod federation;
pub mod invariants;
pub mod network;
pub mod node;
pub mod rng;
mod rogue;
pub mod trace;
mod workload;
mod world;

pub use invariants::Invariant;
pub use network::{NetConfig, NetStats};
pub use node_core::Mutants;
use std::fmt;

/// What one run does.
#[derive(Debug, Clone)]
pub struct Config {
    pub seed: u64,
    /// Length of the active phase, in simulated milliseconds.
    pub duration_ms: u64,
    /// The active phase also ends after this many events.
    pub max_events: u64,
    /// Print every trace line as it happens.
    pub verbose: bool,
    /// Deliberately broken variants of the core, for showing the invariants catch them.
    pub mutants: Mutants,
    pub net: NetConfig,
    pub crashes: bool,
    pub partitions: bool,
    /// Chance that a step's commit fails.
    pub store_faults: f64,
    /// Whether the misbehaving member acts.
    pub rogue: bool,
    /// Whether the steering group adds a member during the run.
    pub roster_change: bool,
}

impl Config {
    /// Every fault and actor on, for one simulated hour.
    pub fn new(seed: u64) -> Self {
        Config {
            seed,
            duration_ms: 3_600_000,
            max_events: u64::MAX,
            verbose: false,
            mutants: Mutants::default(),
            net: NetConfig::default(),
            crashes: true,
            partitions: true,
            store_faults: 0.01,
            rogue: true,
            roster_change: true,
        }
    }
}

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
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} events, {} steps, {:.1} h simulated; faults: {} drops, {} dups, {} cut off, {} partitions, {} crashes, {} store faults, {} late answers; misbehaving: {} messages, {} malformed; exchanges: {} granted, {} refused, {} received, {} withdrawn",
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

/// Runs one federation from `cfg.seed`.
pub fn run(cfg: &Config) -> Result<Report, Violation> {
    let mut world = world::World::new(cfg.clone()).map_err(|e| Violation {
        seed: cfg.seed,
        invariant: Invariant::Harness,
        at_ms: 0,
        detail: format!("{e:#}"),
        trace: Vec::new(),
    })?;
    world.run()
}
