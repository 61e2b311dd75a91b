//! The simulated network: random delays (hence reordering), drops, duplicates and link cuts
//! that heal. It decides the fate of each message; the world schedules the arrivals.

use crate::rng::SimRng;
use std::collections::BTreeSet;

/// Who sits at the end of a link: an honest node (by index) or the misbehaving member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Party {
    Node(usize),
    Rogue,
}

#[derive(Debug, Clone, Copy)]
pub struct NetConfig {
    pub drop: f64,
    pub duplicate: f64,
    pub min_delay_ms: u64,
    pub max_delay_ms: u64,
    /// How long a sender waits for an answer before it is told the peer is unreachable.
    pub timeout_ms: u64,
    /// Chance that an answer arriving after its send was settled is handed over anyway.
    pub late_answer: f64,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            drop: 0.03,
            duplicate: 0.03,
            min_delay_ms: 2,
            max_delay_ms: 800,
            timeout_ms: 3_000,
            late_answer: 0.3,
        }
    }
}

#[derive(Default, Debug, Clone, Copy)]
pub struct NetStats {
    pub sent: u64,
    pub dropped: u64,
    pub duplicated: u64,
    pub cut_off: u64,
}

pub struct Network {
    pub config: NetConfig,
    /// Links currently cut, as ordered pairs (both directions are cut together).
    cut: BTreeSet<(Party, Party)>,
    pub stats: NetStats,
    /// No more drops or duplicates (the network has healed for good).
    calm: bool,
}

impl Network {
    pub fn new(config: NetConfig) -> Self {
        Network {
            config,
            cut: BTreeSet::new(),
            stats: NetStats::default(),
            calm: false,
        }
    }

    fn key(a: Party, b: Party) -> (Party, Party) {
        (a.min(b), a.max(b))
    }

    pub fn is_cut(&self, a: Party, b: Party) -> bool {
        self.cut.contains(&Self::key(a, b))
    }

    /// Returns false if the link was already cut.
    pub fn cut(&mut self, a: Party, b: Party) -> bool {
        self.cut.insert(Self::key(a, b))
    }

    pub fn heal(&mut self, a: Party, b: Party) {
        self.cut.remove(&Self::key(a, b));
    }

    /// Heals every link and stops dropping and duplicating.
    pub fn calm_down(&mut self) {
        self.cut.clear();
        self.calm = true;
    }

    /// The delays after which copies of a message from `a` reach `b`: none if it is lost,
    /// two if it is duplicated.
    pub fn fate(&mut self, rng: &mut SimRng, a: Party, b: Party) -> Vec<u64> {
        self.stats.sent += 1;
        if self.is_cut(a, b) {
            self.stats.cut_off += 1;
            return Vec::new();
        }
        let c = self.config;
        if !self.calm && rng.chance(c.drop) {
            self.stats.dropped += 1;
            return Vec::new();
        }
        let mut delays = vec![rng.between(c.min_delay_ms, c.max_delay_ms)];
        if !self.calm && rng.chance(c.duplicate) {
            self.stats.duplicated += 1;
            delays.push(rng.between(c.min_delay_ms, c.max_delay_ms * 3));
        }
        delays
    }
}
