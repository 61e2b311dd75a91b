//! Serving the log as C2SP tlog-tiles: the checkpoint, level tiles and entry bundles.

use super::{quoted, sign_checkpoint};
use crate::node::Node;
use anyhow::{Context, anyhow, bail};
use protocol_spec::tlog::tiles::{self, TilePath};
use std::sync::Arc;

/// Serves `checkpoint`, a level tile or an entry bundle.
pub async fn tile(node: &Arc<Node>, path: &str) -> anyhow::Result<Vec<u8>> {
    match tiles::parse_path(path)
        .ok_or_else(|| anyhow!("not a tlog-tiles path: {}", quoted(path)))?
    {
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
            let first = index * tiles::TILE_WIDTH;
            if first + width > size {
                bail!("no such entry bundle in this log");
            }
            node.store
                .read(move |db| {
                    let mut st = db.prepare(
                        "SELECT entry FROM log_entries WHERE idx >= ?1 AND idx < ?2 ORDER BY idx",
                    )?;
                    let rows = st.query_map([first as i64, (first + width) as i64], |r| {
                        r.get::<_, Vec<u8>>(0)
                    })?;
                    let mut out = Vec::new();
                    for e in rows {
                        let e = e?;
                        out.extend_from_slice(&(e.len() as u16).to_be_bytes());
                        out.extend_from_slice(&e);
                    }
                    Ok(out)
                })
                .await
        }
    }
}
