#![no_main]
//! Key files the node config names (signing, log and witness keys; the encryption key): a
//! key read from a file writes back to a file that reads as the same key.

use libfuzzer_sys::fuzz_target;
use protocol_spec::keys::{EncryptionKey, SigningKey};

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Ok(key) = SigningKey::from_file(text) {
        let again = SigningKey::from_file(&key.to_file()).expect("a written key reads back");
        assert_eq!(again.public(), key.public());
    }
    if let Ok(key) = EncryptionKey::from_file(text) {
        let again = EncryptionKey::from_file(&key.to_file()).expect("a written key reads back");
        assert_eq!(again.secret(), key.secret());
    }
});
