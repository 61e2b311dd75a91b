#![no_main]
//! Roster files as the steering group and administrators edit them (TOML): a signed roster
//! or a bare one, read, written back and read again, then verified.

use fuzz::check::toml_round_trip;
use fuzz::vectors::vectors;
use libfuzzer_sys::fuzz_target;
use protocol_spec::roster::{Roster, SignedRoster};

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Ok(signed) = toml::from_str::<SignedRoster>(text) {
        toml_round_trip(&signed);
        let _ = signed.verify(&vectors().roster.roster.authorities);
        let _ = signed.verify_successor(&vectors().roster.roster);
    }
    if let Ok(roster) = toml::from_str::<Roster>(text) {
        toml_round_trip(&roster);
        let _ = roster.check_well_formed();
    }
});
