#![no_main]
//! tlog-tiles entry bundles: a parsed bundle writes back the same bytes, its entries are
//! checked as log entries, and an honest bundle of them read back by the auditor's verifier
//! gives back its entries; the same bytes offered as every level tile are judged without
//! panicking.

use fuzz::bundle::{BundleInput, COSIGN, build};
use fuzz::vectors::vectors;
use libfuzzer_sys::fuzz_target;
use protocol_spec::audit::{BundleKeys, verify_bundle, verify_bundle_with};
use protocol_spec::entry::LogEntry;
use protocol_spec::tlog::tiles::{TILE_WIDTH, decode_level_tile, encode_bundle, parse_bundle};

fuzz_target!(|bytes: &[u8]| {
    // The same bytes as a level tile of each width.
    for width in [1, 5, TILE_WIDTH] {
        let _ = decode_level_tile("fuzz", bytes, width);
    }
    let Ok(entries) = parse_bundle("fuzz", bytes) else {
        return;
    };
    assert_eq!(encode_bundle(&entries).expect("entries fit"), bytes);
    for e in &entries {
        assert_eq!(LogEntry::check(e).is_ok(), LogEntry::parse(e).is_ok());
    }
    if entries.is_empty() || entries.len() as u64 > TILE_WIDTH {
        return;
    }
    // The honest bundle of these entries, under a checkpoint signed by the vector log key.
    let v = vectors();
    let keys = BundleKeys {
        log: v.log_key.clone(),
        former_logs: vec![],
        witnesses: vec![v.witness_key.clone()],
        quorum: 1,
    };
    let mut bundle = build(&BundleInput {
        flags: COSIGN,
        entries: entries.clone(),
        ..BundleInput::default()
    });
    let mut read = Vec::new();
    let report = verify_bundle_with(&mut bundle.files, &keys, None, &mut |_| {}, &mut |_, e| {
        read.push(e.to_vec())
    });
    assert_eq!(read, entries);
    assert_eq!(report.entries, entries.len() as u64);
    let malformed = entries
        .iter()
        .filter(|e| LogEntry::check(e).is_err())
        .count();
    assert_eq!(report.findings.len(), malformed, "{:?}", report.findings);
    // The same bytes offered as every level tile of that tree.
    for (path, b) in bundle.files.iter_mut() {
        if path.starts_with("tile/") && !path.starts_with("tile/entries/") {
            *b = bytes.to_vec();
        }
    }
    let _ = verify_bundle(&mut bundle.files, &keys, None, &mut |_| {});
});
