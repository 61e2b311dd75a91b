#![no_main]
//! tlog-tiles paths as an auditor or a peer asks for them: one spelling per tile, and every
//! tile accepted lies within a tree of at most 2^64 - 1 leaves, so no offset derived from it
//! wraps around to another tile.

use libfuzzer_sys::fuzz_target;
use protocol_spec::tlog::merkle::{Tree, leaf_hash};
use protocol_spec::tlog::tiles::{
    TILE_HEIGHT, TILE_WIDTH, TilePath, is_tile_of, level_tile, parse_path,
};

fuzz_target!(|bytes: &[u8]| {
    let Ok(path) = std::str::from_utf8(bytes) else {
        return;
    };
    let Some(tile) = parse_path(path) else {
        return;
    };
    assert_eq!(tile.path(), path);
    let (level, index, width) = match tile {
        TilePath::Checkpoint => return,
        TilePath::Level {
            level,
            index,
            width,
        } => (level, index, width),
        TilePath::Entries { index, width } => (0, index, width),
    };
    assert!((1..=TILE_WIDTH).contains(&width));
    let end = 1u64
        .checked_shl(TILE_HEIGHT * u32::from(level))
        .and_then(|span| {
            index
                .checked_mul(TILE_WIDTH)?
                .checked_add(width)?
                .checked_mul(span)
        });
    assert!(end.is_some(), "{path} reaches beyond the largest tree");
    for size in [0, 1, 255, 256, 257, 600, 70_000, u64::MAX / 2, u64::MAX] {
        let _ = is_tile_of(size, &tile);
    }
    let tree = Tree::from_leaves((0u8..5).map(|i| leaf_hash(&[i])));
    let _ = level_tile(&tree, level, index, width);
});
