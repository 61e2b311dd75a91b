//! Consistency proofs built from a log's level tiles (spec §7.3). A node holding two signed
//! checkpoints of a peer's log, but no proof between them, obtains the hashes from the tiles
//! the log serves (§9.2) and verifies the proof as any other (§3.3): wrong tiles can only make
//! the proof fail, never make inconsistent checkpoints pass.

use super::merkle::{Hash, node_hash, root_from_leaves};
use super::tiles::{TILE_HEIGHT, TILE_WIDTH, TileError, decode_level_tile, tile_path};

/// RFC 6962's split point: the largest power of two strictly below `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// Where the hash of the complete subtree of `len` leaves (a power of two) at `start` (a
/// multiple of `len`) lies in the level tiles of a tree of `size` leaves: the tile's path and
/// width, and the range of its hashes whose tree hash it is. At level `L` each hash covers
/// 256^L leaves, so one tile holds the subtree's 1 to 128 hashes.
fn locate(start: u64, len: u64, size: u64) -> (String, u64, std::ops::Range<usize>) {
    let level = len.trailing_zeros() / TILE_HEIGHT;
    let shift = TILE_HEIGHT * level;
    let (first, count) = (start >> shift, len >> shift);
    let tile = first / TILE_WIDTH;
    let width = ((size >> shift) - tile * TILE_WIDTH).min(TILE_WIDTH);
    let offset = (first % TILE_WIDTH) as usize;
    // `level` is at most 7 (len ≤ 2^63), so it fits a u8.
    (
        tile_path(level as u8, tile, width),
        width,
        offset..offset + count as usize,
    )
}

/// PROOF(old, D[0:new]) with `subtree(start, len)` giving the hash of each complete subtree.
fn proof_with(
    old: u64,
    new: u64,
    subtree: &mut dyn FnMut(u64, u64) -> Result<Hash, TileError>,
) -> Result<Vec<Hash>, TileError> {
    // MTH(D[start:start+len]); in a consistency proof `start` is always a multiple of the
    // power of two at or above `len`, so every complete subtree met here is aligned.
    fn range(
        start: u64,
        len: u64,
        subtree: &mut dyn FnMut(u64, u64) -> Result<Hash, TileError>,
    ) -> Result<Hash, TileError> {
        if len.is_power_of_two() {
            return subtree(start, len);
        }
        let k = split(len);
        Ok(node_hash(
            &range(start, k, subtree)?,
            &range(start + k, len - k, subtree)?,
        ))
    }
    // SUBPROOF(m, D[start:start+n], complete), RFC 6962 §2.1.2.
    fn subproof(
        m: u64,
        start: u64,
        n: u64,
        complete: bool,
        subtree: &mut dyn FnMut(u64, u64) -> Result<Hash, TileError>,
        out: &mut Vec<Hash>,
    ) -> Result<(), TileError> {
        if m == n {
            if !complete {
                out.push(range(start, n, subtree)?);
            }
            return Ok(());
        }
        let k = split(n);
        if m <= k {
            subproof(m, start, k, complete, subtree, out)?;
            out.push(range(start + k, n - k, subtree)?);
        } else {
            subproof(m - k, start + k, n - k, false, subtree, out)?;
            out.push(range(start, k, subtree)?);
        }
        Ok(())
    }
    let mut out = Vec::new();
    if old > 0 && old < new {
        subproof(old, 0, new, true, subtree, &mut out)?;
    }
    Ok(out)
}

/// Paths of the level tiles of the tree of `new` leaves that hold the consistency proof from
/// `old` to `new`, in first-use order, each once: a few per tile level. Empty when no proof
/// is needed (`old` is 0 or not below `new`).
pub fn consistency_tiles(old: u64, new: u64) -> Vec<String> {
    let mut paths: Vec<String> = Vec::new();
    let _ = proof_with(old, new, &mut |start, len| {
        let (path, _, _) = locate(start, len, new);
        if !paths.contains(&path) {
            paths.push(path);
        }
        Ok([0; 32])
    });
    paths
}

/// RFC 6962 PROOF(old, D[0:new]) computed from the level tiles of the tree of `new` leaves,
/// which `tile` returns by path (the tiles [`consistency_tiles`] lists). The caller verifies
/// it against the two checkpoints' roots with [`super::verify_consistency`].
pub fn consistency_proof_from_tiles(
    old: u64,
    new: u64,
    tile: &mut dyn FnMut(&str) -> Option<Vec<u8>>,
) -> Result<Vec<Hash>, TileError> {
    proof_with(old, new, &mut |start, len| {
        let (path, width, hashes) = locate(start, len, new);
        let bytes = tile(&path).ok_or_else(|| TileError::Missing(path.clone()))?;
        let all = decode_level_tile(&path, &bytes, width)?;
        Ok(root_from_leaves(&all[hashes]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlog::tiles::level_tiles;
    use crate::tlog::{ProofError, Tree, leaf_hash, verify_consistency};
    use std::collections::HashMap;

    fn tree(n: u32, salt: u8) -> Tree {
        Tree::from_leaves((0..n).map(|i| leaf_hash(&[&i.to_be_bytes()[..], &[salt]].concat())))
    }

    fn tiles_of(t: &Tree, size: u64) -> HashMap<String, Vec<u8>> {
        level_tiles(t, size).unwrap().into_iter().collect()
    }

    #[test]
    fn proofs_from_tiles_equal_the_tree_s_own_and_name_only_needed_tiles() {
        let t = tree(70_000, 0);
        let pairs = [
            (0, 5),
            (1, 2),
            (3, 5),
            (5, 5),
            (255, 256),
            (256, 257),
            (300, 65_536),
            (65_536, 65_537),
            (1_000, 70_000),
            (69_999, 70_000),
            (12_345, 67_890),
        ];
        for (old, new) in pairs {
            let tiles = tiles_of(&t, new);
            let needed = consistency_tiles(old, new);
            assert!(needed.iter().all(|p| tiles.contains_key(p)), "{old}→{new}");
            assert!(needed.len() <= 12, "{old}→{new}: {needed:?}");
            let mut fetched = Vec::new();
            let proof = consistency_proof_from_tiles(old, new, &mut |p| {
                fetched.push(p.to_string());
                tiles.get(p).cloned()
            })
            .unwrap();
            assert_eq!(
                Some(proof.clone()),
                t.consistency_proof(old, new),
                "{old}→{new}"
            );
            assert!(fetched.iter().all(|p| needed.contains(p)));
            let (r_old, r_new) = (t.root_at(old).unwrap(), t.root_at(new).unwrap());
            assert_eq!(verify_consistency(old, new, &r_old, &r_new, &proof), Ok(()));
        }
    }

    #[test]
    fn tiles_of_another_history_or_altered_tiles_do_not_prove_consistency() {
        let (t, fork) = (tree(1_000, 0), tree(1_000, 1));
        let (old, new) = (300, 1_000);
        let (r_old, r_new) = (t.root_at(old).unwrap(), t.root_at(new).unwrap());
        // A log that forked: its tiles prove its own history, not the one cosigned before.
        let tiles = tiles_of(&fork, new);
        let proof = consistency_proof_from_tiles(old, new, &mut |p| tiles.get(p).cloned()).unwrap();
        let fork_new = fork.root_at(new).unwrap();
        assert_eq!(
            verify_consistency(old, new, &r_old, &fork_new, &proof),
            Err(ProofError::Mismatch)
        );
        // The right history with one hash altered.
        let mut tiles = tiles_of(&t, new);
        for p in consistency_tiles(old, new) {
            tiles.get_mut(&p).unwrap()[0] ^= 1;
        }
        let proof = consistency_proof_from_tiles(old, new, &mut |p| tiles.get(p).cloned()).unwrap();
        assert!(verify_consistency(old, new, &r_old, &r_new, &proof).is_err());
        // A tile missing or of the wrong length is an error, not a proof.
        assert!(matches!(
            consistency_proof_from_tiles(old, new, &mut |_| None),
            Err(TileError::Missing(_))
        ));
        assert!(matches!(
            consistency_proof_from_tiles(old, new, &mut |_| Some(vec![0; 31])),
            Err(TileError::TileLength { .. })
        ));
    }

    #[test]
    fn huge_sizes_name_few_tiles() {
        // Sizes a signed checkpoint may claim: the list stays short and nothing overflows.
        for (old, new) in [
            (1, u64::MAX),
            (u64::MAX - 1, u64::MAX),
            (1 << 40, (1 << 62) + 3),
        ] {
            let needed = consistency_tiles(old, new);
            assert!(
                !needed.is_empty() && needed.len() <= 32,
                "{old}→{new}: {needed:?}"
            );
        }
        assert!(consistency_tiles(0, 10).is_empty());
        assert!(consistency_tiles(10, 10).is_empty());
    }
}
