//! The node's one clock and one source of randomness, given to the core with each step.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix seconds.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("operating system randomness");
    b
}

/// Operating-system randomness.
pub(crate) struct OsRandom;

impl node_core::Random for OsRandom {
    fn fill(&mut self, dst: &mut [u8]) {
        getrandom::fill(dst).expect("operating system randomness");
    }
}
