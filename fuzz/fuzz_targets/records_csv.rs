#![no_main]
//! Record imports from CSV (persons or fields, `,` or `;`): an accepted file yields a set that
//! passes the node's own validation and travels over the wire unchanged; a refused one lists
//! problems with lines inside the file, and no problem repeats personal data.

use cli::records::{detect_csv_kind, parse_csv, parse_csv_as, parse_file};
use fuzz::check::{postcard_round_trip, reason_echoes_nothing};
use libfuzzer_sys::fuzz_target;
use protocol_spec::records::{ImportError, MAX_PROBLEMS};

/// Problems name lines of the file, at most `MAX_PROBLEMS` and a count of the rest. `\r\n`,
/// `\n` and a lone `\r` each end a line, as they end a CSV record.
fn check_problems(bytes: &[u8], e: &ImportError) {
    let breaks = bytes
        .iter()
        .enumerate()
        .filter(|&(i, b)| *b == b'\n' || (*b == b'\r' && bytes.get(i + 1) != Some(&b'\n')))
        .count();
    let lines = breaks + 1;
    assert!(!e.problems.is_empty());
    assert!(e.problems.len() <= MAX_PROBLEMS + 1);
    for p in &e.problems {
        assert!(
            (1..=lines).contains(&p.line),
            "line {} of {lines}: {}",
            p.line,
            p.reason
        );
        reason_echoes_nothing(&p.reason);
    }
}

fuzz_target!(|bytes: &[u8]| {
    let parsed = parse_csv(bytes);
    match &parsed {
        Ok(set) => {
            assert_eq!(set.validate(), Ok(()));
            postcard_round_trip(set);
        }
        Err(e) => check_problems(bytes, e),
    }
    assert_eq!(parse_file("records.csv", bytes), parsed);
    if let Some(kind) = detect_csv_kind(bytes) {
        assert_eq!(parse_csv_as(kind, bytes), parsed);
    }
});
