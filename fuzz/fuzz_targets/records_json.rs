#![no_main]
//! Record imports from JSON: an accepted file yields a set that passes the node's own
//! validation and travels over the wire unchanged; a refused one lists problems with lines
//! inside the file, and no problem repeats personal data.

use cli::records::{parse_file, parse_json};
use fuzz::check::{postcard_round_trip, reason_echoes_nothing};
use libfuzzer_sys::fuzz_target;
use protocol_spec::records::MAX_PROBLEMS;

fuzz_target!(|bytes: &[u8]| {
    let parsed = parse_json(bytes);
    match &parsed {
        Ok(set) => {
            assert_eq!(set.validate(), Ok(()));
            postcard_round_trip(set);
        }
        Err(e) => {
            let lines = bytes.iter().filter(|b| **b == b'\n').count() + 1;
            assert!(!e.problems.is_empty());
            assert!(e.problems.len() <= MAX_PROBLEMS + 1);
            for p in &e.problems {
                assert!((1..=lines).contains(&p.line), "line {} of {lines}", p.line);
                reason_echoes_nothing(&p.reason);
            }
        }
    }
    assert_eq!(parse_file("records.JSON", bytes), parsed);
});
