//! The simulator finds real bugs: each deliberately broken variant of the core is caught by
//! some seed within a bounded number, and the invariant that fires is the one it breaks.

use sim::{Config, Invariant, Mutants, Violation};

/// The first seed below `seeds` whose run violates an invariant.
fn caught(mutants: Mutants, seeds: u64) -> Violation {
    for seed in 0..seeds {
        let mut cfg = Config::new(seed);
        cfg.duration_ms = 5 * 60_000;
        cfg.mutants = mutants;
        if let Err(v) = sim::run(&cfg) {
            return v;
        }
    }
    panic!("no seed below {seeds} caught {mutants:?}");
}

#[test]
fn a_responder_that_ignores_revocations_is_caught() {
    let v = caught(
        Mutants {
            responder_ignores_revocation: true,
            ..Mutants::default()
        },
        20,
    );
    assert_eq!(v.invariant, Invariant::RevocationWins, "{v}");
}

#[test]
fn a_requester_that_skips_its_recheck_is_caught() {
    let v = caught(
        Mutants {
            requester_skips_recheck: true,
            ..Mutants::default()
        },
        20,
    );
    assert_eq!(v.invariant, Invariant::RevocationWins, "{v}");
}

#[test]
fn a_responder_that_forgets_its_replies_is_caught() {
    let v = caught(
        Mutants {
            responder_forgets_replies: true,
            ..Mutants::default()
        },
        20,
    );
    // Deciding a retry afresh discloses a second time.
    assert_eq!(v.invariant, Invariant::ExchangedOnce, "{v}");
}

#[test]
fn a_responder_that_releases_a_stale_seal_is_caught() {
    let v = caught(
        Mutants {
            responder_releases_stale_seal: true,
            ..Mutants::default()
        },
        20,
    );
    // The case or its consent changed while the summary was sealed: it still left.
    assert!(
        matches!(v.invariant, Invariant::RuleHeld | Invariant::RevocationWins),
        "{v}"
    );
}

#[test]
fn a_witness_that_forgets_what_it_cosigned_is_caught() {
    let v = caught(
        Mutants {
            witness_forgets_its_state: true,
            ..Mutants::default()
        },
        20,
    );
    // The misbehaving member's forked log gets cosigned on both of its histories.
    assert_eq!(v.invariant, Invariant::Witnessed, "{v}");
}
