//! Serving the log as C2SP tlog-tiles: the checkpoint, level tiles and entry bundles.

use super::checkpoints::sign_checkpoint;
use super::reasons::quoted;
use crate::node::Node;
use anyhow::{Context, anyhow, bail};
use protocol_spec::tlog::tiles::{self, TilePath};
use std::sync::Arc;

/// Serves `checkpoint`, a level tile or an entry bundle.
pub(crate) async fn tile(node: &Arc<Node>, path: &str) -> anyhow::Result<Vec<u8>> {
    let tile = tiles::parse_path(path)
        .ok_or_else(|| anyhow!("not a tlog-tiles path: {}", quoted(path)))?;
    // A halted log's tiles may hold entries no witness can ever cosign (§7.4).
    if let Some(problem) = node.log.lock().unwrap().halted() {
        bail!("this node's log is halted: {problem}");
    }
    match tile {
        TilePath::Checkpoint => {
            let (_, note) = sign_checkpoint(node).await?;
            Ok(note.into_bytes())
        }
        TilePath::Level {
            level,
            index,
            width,
        } => {
            let log = node.log.lock().unwrap();
            tiles::level_tile(&log.tree, level, index, width).context("no such tile in this log")
        }
        TilePath::Entries { index, width } => {
            let size = node.log.lock().unwrap().size();
            let (first, end) =
                bundle_rows(index, width, size).context("no such entry bundle in this log")?;
            node.store
                .read(move |db| {
                    let mut st = db.prepare(
                        "SELECT entry FROM log_entries WHERE idx >= ?1 AND idx < ?2 ORDER BY idx",
                    )?;
                    let rows = st.query_map([first, end], |r| r.get::<_, Vec<u8>>(0))?;
                    let entries = rows.collect::<Result<Vec<_>, _>>()?;
                    tiles::encode_bundle(&entries)
                        .map_err(|_| anyhow!("log entry longer than 65,535 bytes"))
                })
                .await
        }
    }
}

/// The store rows `[first, end)` of entry bundle `index` of `width` entries, if a log of `size`
/// entries holds all of them. Index and width come from outside: every step is checked, so no
/// bundle wraps around to another (`index·256` modulo 2^64) or to a negative row.
fn bundle_rows(index: u64, width: u64, size: u64) -> Option<(i64, i64)> {
    let first = index.checked_mul(tiles::TILE_WIDTH)?;
    let end = first.checked_add(width)?;
    if width == 0 || end > size {
        return None;
    }
    Some((i64::try_from(first).ok()?, i64::try_from(end).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_offsets_never_wrap() {
        assert_eq!(bundle_rows(0, 1, 1), Some((0, 1)));
        assert_eq!(bundle_rows(1, 3, 259), Some((256, 259)));
        assert_eq!(bundle_rows(1, 4, 259), None, "beyond the log");
        assert_eq!(bundle_rows(0, 0, 10), None);
        // Even against a log as large as a u64 allows, an index near 2^56 does not wrap to
        // bundle 0, and no offset becomes a negative row.
        for (index, width) in [(1 << 56, 1), (u64::MAX, 1), ((1 << 56) - 1, 256)] {
            assert_eq!(
                bundle_rows(index, width, u64::MAX),
                None,
                "{index}.p/{width}"
            );
        }
        assert_eq!(bundle_rows(1 << 55, 1, u64::MAX), None, "row 2^63");
        assert_eq!(
            bundle_rows((1 << 55) - 1, 256, u64::MAX),
            None,
            "end row 2^63"
        );
        assert_eq!(
            bundle_rows((1 << 55) - 1, 255, u64::MAX),
            Some((i64::MAX - 255, i64::MAX))
        );
    }
}
