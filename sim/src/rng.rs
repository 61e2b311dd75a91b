//! The run's one source of randomness: every choice of the simulator and every random byte a
//! node core draws come from it, so a run is a function of its seed.

use rand::{Rng, RngExt, SeedableRng};
use rand_pcg::Pcg64;

pub struct SimRng(Pcg64);

impl SimRng {
    pub fn new(seed: u64) -> Self {
        SimRng(Pcg64::seed_from_u64(seed))
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.0.random_bool(p.min(1.0))
    }

    /// A value in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        self.0.random_range(lo..=hi)
    }

    /// An index below `n` (which must not be zero).
    pub fn index(&mut self, n: usize) -> usize {
        self.0.random_range(0..n)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        (!items.is_empty()).then(|| &items[self.index(items.len())])
    }

    /// A non-empty random subset of `items`, in their order.
    pub fn subset<T: Clone>(&mut self, items: &[T], max: usize) -> Vec<T> {
        if items.is_empty() {
            return Vec::new();
        }
        let want = 1 + self.index(max.min(items.len()));
        let mut chosen: Vec<usize> = (0..items.len()).collect();
        for i in 0..want {
            let j = i + self.index(items.len() - i);
            chosen.swap(i, j);
        }
        chosen.truncate(want);
        chosen.sort_unstable();
        chosen.into_iter().map(|i| items[i].clone()).collect()
    }

    pub fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        self.0.fill_bytes(&mut b);
        b
    }
}

impl node_core::Random for SimRng {
    fn fill(&mut self, dst: &mut [u8]) {
        self.0.fill_bytes(dst);
    }
}
