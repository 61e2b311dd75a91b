#![no_main]
//! C2SP signed notes and verifier keys: a parsed note writes back to the same bytes, checks
//! against every key the vectors name, and a parsed verifier key writes back the same.

use fuzz::vectors::vectors;
use libfuzzer_sys::fuzz_target;
use protocol_spec::tlog::note::{Note, VerifierKey, check_text, open, verify_note};

fuzz_target!(|bytes: &[u8]| {
    let keys = &vectors().note_keys;
    if let Ok(note) = Note::parse_bytes(bytes) {
        // One spelling per note: strict base64, exact separators.
        assert_eq!(note.to_text().as_bytes(), bytes);
        assert_eq!(Note::parse(&note.to_text()), Ok(note.clone()));
        assert!(check_text(&note.text).is_ok());
        let verified = verify_note(&note, keys);
        let text = std::str::from_utf8(bytes).expect("a parsed note is UTF-8");
        assert_eq!(open(text, keys).map(|(_, names)| names), verified);
    }
    if let Ok(text) = std::str::from_utf8(bytes)
        && let Ok(key) = VerifierKey::parse(text)
    {
        assert_eq!(key.to_text(), text);
    }
});
