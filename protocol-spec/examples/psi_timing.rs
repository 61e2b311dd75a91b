//! Time to blind and to reblind a set of 10,000 persons (spec/statistics.md §10.9):
//! `cargo run --release -p protocol-spec --example psi_timing [elements]`. Prints the times;
//! asserts nothing about them.

use protocol_spec::avs::{Avs, check_digit};
use protocol_spec::seal::SeededRng;
use protocol_spec::stats::psi::{RoundSecret, blind, check_set, reblind};
use std::time::Instant;

fn avs(n: u32) -> Avs {
    let body = format!("756{n:09}");
    let first12: [u8; 12] = body
        .bytes()
        .map(|b| b - b'0')
        .collect::<Vec<_>>()
        .try_into()
        .expect("12 digits");
    format!("{body}{}", check_digit(&first12))
        .parse()
        .expect("valid number")
}

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("a number of elements"))
        .unwrap_or(10_000);
    let persons: Vec<Avs> = (0..n).map(avs).collect();
    let month = "2026-11".parse().expect("month");
    // Deterministic randomness keeps runs comparable; a node draws from the operating system.
    let mut rng = SeededRng::new([7; 32]);
    let a = RoundSecret::generate(&mut rng);
    let b = RoundSecret::generate(&mut rng);
    for run in 1..=3 {
        let t = Instant::now();
        let set = blind(&a, "ne-cii", month, &persons, 5, &mut rng).expect("blind");
        let blinded = t.elapsed();
        let t = Instant::now();
        let again = reblind(&b, &set, 5, &mut rng).expect("reblind");
        let reblinded = t.elapsed();
        let t = Instant::now();
        check_set(&again, 5).expect("checks");
        let checked = t.elapsed();
        let per = |d: std::time::Duration| d.as_secs_f64() * 1e6 / f64::from(n);
        println!(
            "run {run}: {n} elements: blind {:.1} ms ({:.1} µs each), reblind {:.1} ms ({:.1} µs each), dashboard checks {:.1} ms",
            blinded.as_secs_f64() * 1e3,
            per(blinded),
            reblinded.as_secs_f64() * 1e3,
            per(reblinded),
            checked.as_secs_f64() * 1e3,
        );
    }
}
