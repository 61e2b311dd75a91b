#![no_main]
//! tlog-witness add-checkpoint requests: the body writes back the same, and the witness's
//! decision against the stored states of the vectors never panics and never accepts a
//! checkpoint the log key did not sign.

use fuzz::vectors::vectors;
use libfuzzer_sys::fuzz_target;
use protocol_spec::tlog::merkle::{Tree, leaf_hash};
use protocol_spec::tlog::note::VerifierKey;
use protocol_spec::tlog::witness::{AddCheckpoint, WitnessState, decide};

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let Ok(request) = AddCheckpoint::parse(text) else {
        return;
    };
    assert_eq!(request.to_text(), text);
    let v = vectors();
    // The checkpoint fixture's tree (leaves 00 to 04) at each size, and a foreign state.
    let tree = Tree::from_leaves((0u8..5).map(|i| leaf_hash(&[i])));
    let mut states: Vec<WitnessState> = (0..=5)
        .map(|n| WitnessState {
            size: n,
            root: tree.root_at(n).expect("size within the tree"),
        })
        .collect();
    states.push(WitnessState {
        size: 3,
        root: [0; 32],
    });
    for state in states {
        if let Ok((cp, note)) = decide(state, Some(&v.log_key), &request) {
            assert!(cp.size >= state.size);
            assert_eq!(cp.origin, v.log_key.name);
            assert_eq!(note.text, cp.body());
        }
    }
    assert!(decide(WitnessState::default(), None::<&VerifierKey>, &request).is_err());
});
