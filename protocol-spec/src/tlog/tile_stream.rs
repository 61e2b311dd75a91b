//! A Merkle tree read once, leaf by leaf, that keeps only what is not yet a complete tile:
//! at each tile level, the hashes of the one tile still being filled (at most 256). That is
//! enough for the root at the current size and for every C2SP tlog-tiles level tile, each
//! handed out as it completes, so a verifier checks a log of any size in constant memory.

use super::merkle::{Hash, node_hash, root_of_subtrees};
use super::tiles::{TILE_HEIGHT, TILE_WIDTH};

/// The hashes of the tile being filled at each level, lowest first.
#[derive(Debug, Clone, Default)]
pub struct TileStream {
    /// `levels[L]`: the hashes of level-L tile number `done[L]`, fewer than 256. A level-L
    /// hash is the root of 256^L leaves (tree level 8·L), so the tree's size is
    /// Σ len(levels[L])·256^L: the base-256 digits of the size.
    levels: Vec<Vec<Hash>>,
    /// Full tiles completed at each level.
    done: Vec<u64>,
    size: u64,
}

impl TileStream {
    pub fn new() -> TileStream {
        TileStream::default()
    }

    /// Leaves appended so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Hashes held, whatever the size: at most 255 per level, and at most 8 levels for a
    /// tree of up to 2^64 - 1 leaves.
    pub fn held(&self) -> usize {
        self.levels.iter().map(Vec::len).sum()
    }

    /// Appends a leaf hash. Each tile it completes, at level 0 and up, is handed to `full`
    /// as (level, index, its 256 hashes) before being folded into the level above.
    pub fn append(&mut self, leaf: Hash, full: &mut impl FnMut(u8, u64, &[Hash])) {
        self.size += 1;
        let mut hash = leaf;
        let mut level = 0;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::with_capacity(TILE_WIDTH as usize));
                self.done.push(0);
            }
            let tile = &mut self.levels[level];
            tile.push(hash);
            if tile.len() < TILE_WIDTH as usize {
                return;
            }
            // Levels stay below 8 for any u64 size, so the cast cannot truncate.
            full(level as u8, self.done[level], tile);
            hash = tile_root(tile);
            tile.clear();
            self.done[level] += 1;
            level += 1;
        }
    }

    /// The partial tiles at the right edge, as (level, index, hashes), level by level: with
    /// the full tiles already handed out, every level tile of a tree of this size.
    pub fn partial_tiles(&self) -> impl Iterator<Item = (u8, u64, &[Hash])> {
        self.levels
            .iter()
            .zip(&self.done)
            .enumerate()
            .filter(|(_, (tile, _))| !tile.is_empty())
            .map(|(level, (tile, done))| (level as u8, *done, tile.as_slice()))
    }

    /// RFC 6962 root of the leaves appended so far.
    pub fn root(&self) -> Hash {
        // The held hashes are complete subtrees, left to right, of non-increasing size;
        // folded as single leaves are, they give the unpadded shape.
        root_of_subtrees(
            self.levels
                .iter()
                .enumerate()
                .rev()
                .flat_map(|(level, tile)| {
                    let span = 1u64 << (TILE_HEIGHT as usize * level);
                    tile.iter().map(move |h| (*h, span))
                }),
        )
    }
}

/// Root of a full tile's 256 hashes, a complete subtree: pairs hashed level by level.
fn tile_root(tile: &[Hash]) -> Hash {
    let mut row = [[0u8; 32]; TILE_WIDTH as usize / 2];
    for (out, pair) in row.iter_mut().zip(tile.chunks_exact(2)) {
        *out = node_hash(&pair[0], &pair[1]);
    }
    let mut n = row.len();
    while n > 1 {
        for i in 0..n / 2 {
            row[i] = node_hash(&row[2 * i], &row[2 * i + 1]);
        }
        n /= 2;
    }
    row[0]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlog::tiles::{level_tile, level_tile_paths};
    use crate::tlog::{Tree, leaf_hash};

    #[test]
    fn roots_and_tiles_match_the_full_tree() {
        let mut tree = Tree::new();
        let mut stream = TileStream::new();
        let mut handed = Vec::new();
        for n in 1..=70_000u64 {
            let leaf = leaf_hash(&n.to_be_bytes());
            tree.append(leaf);
            stream.append(leaf, &mut |level, index, hashes| {
                handed.push((level, index, hashes.concat()));
            });
            if n < 600 || n % 4099 == 0 || n == 65_536 || n == 70_000 {
                assert_eq!(stream.root(), tree.root(), "size {n}");
                assert_eq!(stream.size(), n);
                assert!(stream.held() <= 3 * 255, "size {n}");
            }
        }
        // Full tiles as they completed, then the partial ones: exactly the tiles of the tree.
        let mut got: Vec<(u8, u64, Vec<u8>)> = handed;
        got.extend(stream.partial_tiles().map(|(l, i, h)| (l, i, h.concat())));
        got.sort_by_key(|(l, i, _)| (*l, *i));
        let want: Vec<(u8, u64, Vec<u8>)> = level_tile_paths(70_000)
            .map(|(_, l, i, w)| (l, i, level_tile(&tree, l, i, w).unwrap()))
            .collect();
        assert_eq!(got.len(), want.len());
        assert!(got == want);
        assert_eq!(TileStream::new().root(), super::super::merkle::EMPTY_ROOT);
    }
}
