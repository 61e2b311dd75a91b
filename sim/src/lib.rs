//! Passerelle's federation simulator. It runs a whole federation of node cores (the same
//! `node-core` the daemon drives) in one thread, under simulated time, with one seeded random
//! generator, through a network that delays, drops, duplicates, reorders and partitions,
//! through crashes that lose whatever was not committed and store commits that fail, while case
//! workers work, the membership changes (a member joins, rotates its keys, leaves), nodes offer
//! their checkpoints to their witnesses, and a misbehaving member probes, replays, forges and
//! forks its log. The invariants of the
//! exchange (see [`invariants`]) are checked on the nodes' committed state throughout; a run is
//! reproducible from its seed, and a failing one reports the seed, the invariant and the trace
//! that led there.
//!
//! A run has two phases: an active one (work, attacks and faults), then a drain: the network
//! heals, every node restarts from its store, and ticks run until every outbox is empty, after
//! which every participant of a case must hold the same state of it.
#![forbid(unsafe_code)]

mod attacks;
mod config;
pub mod federation;
pub mod invariants;
mod membership;
pub mod network;
pub mod node;
mod progress;
mod report;
pub mod rng;
mod rogue;
pub mod trace;
mod witnessing;
mod workload;
mod world;

pub use config::Config;
pub use invariants::Invariant;
pub use network::{NetConfig, NetStats};
pub use node_core::Mutants;
pub use report::{Report, Stats, Violation};

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
