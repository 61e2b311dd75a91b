#![no_main]
//! tlog-cosignature lines as a witness returns them: appended to the vector checkpoint body,
//! parsed as a note and checked against the vector witness; and the 72-byte timestamped
//! signature itself.

use fuzz::vectors::vectors;
use libfuzzer_sys::fuzz_target;
use protocol_spec::tlog::cosignature::{
    TimestampedSignature, check_quorum, cosigners, verify_cosignature,
};
use protocol_spec::tlog::note::Note;

/// The checkpoint body of the vectors' checkpoint fixture.
const BODY: &str = "example.org/passerelle/log\n5\nuFW0LWww9bCH4FJmeD+9bjlPe5JgE8yqZ3AKiwxaWW8=\n";

fuzz_target!(|bytes: &[u8]| {
    if let Some(ts) = TimestampedSignature::from_bytes(bytes) {
        assert_eq!(ts.to_bytes().as_slice(), bytes);
    }
    let Ok(lines) = std::str::from_utf8(bytes) else {
        return;
    };
    let v = vectors();
    let Ok(note) = Note::parse(&format!("{BODY}\n{lines}")) else {
        return;
    };
    // A blank line among the witness's lines moves the split: the daemon checks each line
    // against its own text, not the parsed one.
    let witnesses = std::slice::from_ref(&v.witness_key);
    for s in &note.signatures {
        if let Ok(time) = verify_cosignature(BODY, s, &v.witness_key) {
            assert_eq!(s.name, v.witness_key.name);
            assert!(time <= i64::MAX as u64);
        }
    }
    if let Ok(found) = cosigners(&note, witnesses, None) {
        assert!(found.len() <= 1);
        let _ = check_quorum(&note, witnesses, found.len(), Some(v.cosignature_time));
    }
});
