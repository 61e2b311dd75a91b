//! What one run does: its seed, length, faults and actors.

use crate::network::NetConfig;
use node_core::Mutants;

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
