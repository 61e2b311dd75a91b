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

/// Seeds a long run (`sim --seeds N --first F`) found breaking an invariant, each run as that
/// command runs it (0.01 day), after the fix of what it found.
#[test]
fn seeds_that_once_failed_keep_every_invariant() {
    // 100103, 100168: a key rotation's roster, installed again after a store fault, went to the founder
    // whose keys it rotates. That node starts on it but cannot pass it on (no peer admits its
    // new key before the roster reaches them), so the roster never spread and its outbox never
    // drained.
    // 400405: a removed institution declined a referral that a closing it lacked had voided.
    // Counting itself out (declined) it was sent nothing back, so it never learnt that it was
    // still removed and that the case was closed.
    // 400929: a store fault made a node forget which sends were in flight; a change rode on
    // an item whose earlier send was still unanswered, and that answer settled the item, so
    // the change never left. And a member inviting itself, without effect, had a history of a
    // case it was never in accepted.
    for seed in [100103, 100168, 400405, 400929] {
        let mut cfg = sim::Config::new(seed);
        cfg.duration_ms = 864_000;
        if let Err(v) = sim::run(&cfg) {
            panic!("seed {seed}: {v}");
        }
    }
}
