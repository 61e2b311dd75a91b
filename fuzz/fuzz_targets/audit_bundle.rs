#![no_main]
//! The auditor's bundle verifier (`audit verify`), fed the honest bundle of the fuzzed
//! entries with fuzzed tamperings (see `fuzz::bundle`): it never panics, never keeps more
//! entries than the bundle holds, reads nothing past a checkpoint the log did not sign, and
//! finds nothing wrong with an honest bundle but malformed entries.

use fuzz::bundle::{BundleInput, WRONG_KEY, build};
use fuzz::vectors::vectors;
use libfuzzer_sys::fuzz_target;
use protocol_spec::audit::{BundleKeys, MAX_REPORTED_PER_KIND, verify_bundle_with};
use protocol_spec::entry::LogEntry;

fuzz_target!(|data: &[u8]| {
    let input = BundleInput::parse(data);
    let mut bundle = build(&input);
    let v = vectors();
    let keys = BundleKeys {
        log: v.log_key.clone(),
        former_logs: vec![],
        witnesses: vec![v.witness_key.clone()],
        quorum: 1,
    };
    let mut last = 0;
    let mut read = Vec::new();
    let report = verify_bundle_with(
        &mut bundle.files,
        &keys,
        bundle.kept.as_deref(),
        &mut |n| {
            assert!(n >= last);
            last = n;
        },
        &mut |i, e| {
            assert_eq!(i, read.len() as u64, "entries come in order");
            read.push(e.to_vec());
        },
    );
    assert_eq!(report.entries, read.len() as u64);
    assert!(read.len() <= input.entries.len());
    if input.flags & WRONG_KEY != 0 {
        assert_eq!(report.checkpoint, None);
        assert_eq!(report.findings.len(), 1, "{:?}", report.findings);
        return;
    }
    if input.is_honest() && input.size_delta == 0 {
        assert_eq!(report.checkpoint.as_ref(), Some(&bundle.checkpoint));
        assert_eq!(read, input.entries);
        let malformed = input
            .entries
            .iter()
            .filter(|e| LogEntry::check(e).is_err())
            .count() as u64;
        // The first malformed entries are named, the rest counted in one more line.
        let cap = MAX_REPORTED_PER_KIND;
        let lines = malformed.min(cap) + u64::from(malformed > cap);
        assert_eq!(report.findings.len() as u64, lines, "{:?}", report.findings);
    }
});
