//! A bounded run of the simulator, as CI runs it: short federations over twenty seeds, with
//! every invariant checked, and the same seed replaying the same run.

fn short(seed: u64) -> sim::Config {
    let mut cfg = sim::Config::new(seed);
    cfg.duration_ms = 3 * 60_000;
    cfg
}

#[test]
fn twenty_short_federations_keep_every_invariant() {
    let mut total = sim::Stats::default();
    for seed in 0..20 {
        match sim::run(&short(seed)) {
            Ok(report) => total.add(&report.stats),
            Err(v) => panic!("{v}"),
        }
    }
    // The runs did something: exchanges granted and refused, faults injected.
    assert!(total.granted > 0 && total.refused > 0, "{total}");
    assert!(
        total.crashes > 0 && total.store_faults > 0 && total.net.dropped > 0,
        "{total}"
    );
    assert!(total.rogue_messages > 0, "{total}");
}

#[test]
fn a_seed_replays_the_same_run() {
    let a = sim::run(&short(7)).unwrap_or_else(|v| panic!("{v}"));
    let b = sim::run(&short(7)).unwrap_or_else(|v| panic!("{v}"));
    assert_eq!(a.stats.to_string(), b.stats.to_string());
    assert_eq!(a.stats.steps, b.stats.steps);
}
