#![no_main]
//! tlog-tiles entry bundles: a parsed bundle writes back the same bytes, its entries are
//! checked as log entries, and an honest partial bundle read through `read_entries` under
//! its own checkpoint gives back its entries.

use libfuzzer_sys::fuzz_target;
use protocol_spec::entry::LogEntry;
use protocol_spec::tlog::Checkpoint;
use protocol_spec::tlog::merkle::{Tree, leaf_hash};
use protocol_spec::tlog::tiles::{
    TILE_WIDTH, decode_level_tile, encode_bundle, parse_bundle, read_entries, read_tree,
};

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
    let tree = Tree::from_leaves(entries.iter().map(|e| leaf_hash(e)));
    let cp = Checkpoint {
        origin: "fuzz".into(),
        size: tree.size(),
        root: tree.root(),
    };
    let mut fetch = |_: &str| Some(bytes.to_vec());
    let read = read_entries(&mut fetch, &cp);
    if (1..=TILE_WIDTH).contains(&tree.size()) {
        assert_eq!(read, Ok(entries));
    }
    // The same bytes offered as every level tile of that tree.
    let _ = read_tree(&mut fetch, &cp);
});
