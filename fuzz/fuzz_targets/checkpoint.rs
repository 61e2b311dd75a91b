#![no_main]
//! C2SP checkpoints: the body alone (one spelling per checkpoint), the signed note opened
//! with the log key, and its cosignatures counted toward a quorum.

use fuzz::vectors::vectors;
use libfuzzer_sys::fuzz_target;
use protocol_spec::tlog::cosignature::{check_quorum, cosigners};
use protocol_spec::tlog::note::Note;
use protocol_spec::tlog::{Checkpoint, open_checkpoint};

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Ok(cp) = Checkpoint::parse(text) {
        assert_eq!(cp.body(), text);
    }
    let v = vectors();
    if let Ok((cp, note)) = open_checkpoint(text, &v.log_key) {
        assert_eq!(cp.body(), note.text);
        assert_eq!(cp.origin, v.log_key.name);
    }
    if let Ok(note) = Note::parse(text) {
        let witnesses = std::slice::from_ref(&v.witness_key);
        let found = cosigners(&note, witnesses, None);
        let quorum = check_quorum(&note, witnesses, 1, Some(v.cosignature_time));
        // A clock limit and a quorum only add reasons to refuse.
        if found.is_err() {
            assert!(quorum.is_err());
        }
    }
});
