#![no_main]
//! The node's configuration file (TOML) up to the point where it names other files: parsed,
//! written back and parsed again to the same text, then its federation anchor and institution
//! checked against the vector roster as the node does at start.

use daemon::config::{ConfigFile, NodeKeys, check_roster_for};
use fuzz::vectors::vectors;
use libfuzzer_sys::fuzz_target;
use protocol_spec::keys::{EncryptionKey, SigningKey};

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let Ok(file) = toml::from_str::<ConfigFile>(text) else {
        return;
    };
    // `ConfigFile` has no equality: compare what it writes.
    let written = toml::to_string(&file).expect("a parsed config writes");
    let again: ConfigFile = toml::from_str(&written).expect("a written config reads back");
    assert_eq!(toml::to_string(&again).expect("writes"), written);
    let (signing, log, witness) = (
        SigningKey::from_seed([1; 32]),
        SigningKey::from_seed([2; 32]),
        SigningKey::from_seed([3; 32]),
    );
    let encryption = EncryptionKey::from_secret([4; 32]);
    let keys = NodeKeys {
        signing: &signing,
        encryption: &encryption,
        log: &log,
        witness: &witness,
    };
    let _ = check_roster_for(
        &vectors().roster,
        &file.federation,
        &file.institution,
        &keys,
    );
});
