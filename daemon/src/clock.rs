//! The node's one clock and one source of randomness, given to the core with each step.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix seconds.
pub fn now() -> u64 {
    now_millis() / 1000
}

/// Unix time in milliseconds.
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `N` bytes of operating-system randomness.
pub fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    fill(&mut b);
    b
}

/// Fills `dst` from the operating system: the one place randomness is drawn.
fn fill(dst: &mut [u8]) {
    getrandom::fill(dst).expect("operating system randomness");
}

/// Operating-system randomness, as the core takes it.
pub(crate) struct OsRandom;

impl node_core::Random for OsRandom {
    fn fill(&mut self, dst: &mut [u8]) {
        fill(dst);
    }
}
