//! The node's transparency log: entries live in the store, their leaf hashes in memory in an
//! RFC 6962 tree, and signed checkpoints in C2SP tlog-checkpoint form.

use crate::node::Node;
use anyhow::{Context, bail};
use protocol_spec::tlog;
use rusqlite::Connection;
use std::sync::Arc;

pub struct LogState {
    pub origin: String,
    tree: tlog::Tree,
}

/// The checkpoint origin of a node's log.
pub fn origin(federation: &str, institution: &str) -> String {
    format!("{federation}.passerelle/{institution}")
}

impl LogState {
    /// Loads every leaf hash and checks the newest signed checkpoint against them, so a store
    /// whose log was altered or truncated is noticed before the node serves anything.
    pub fn load(
        conn: &Connection,
        institution: &impl std::fmt::Display,
        federation: &str,
    ) -> anyhow::Result<LogState> {
        let mut tree = tlog::Tree::new();
        let mut st = conn.prepare("SELECT idx, leaf_hash FROM log_entries ORDER BY idx")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
        for (expected, row) in rows.enumerate() {
            let (idx, leaf) = row?;
            if idx as usize != expected {
                bail!("log store is corrupt: entry {expected} is missing");
            }
            let leaf: [u8; 32] = leaf
                .try_into()
                .map_err(|_| anyhow::anyhow!("log store is corrupt: bad leaf hash at {idx}"))?;
            tree.append(leaf);
        }
        let last: Option<(i64, Vec<u8>)> = conn
            .query_row(
                "SELECT size, root FROM checkpoints ORDER BY size DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .ok();
        if let Some((size, root)) = last {
            let size = size as u64;
            if size > tree.size() {
                bail!(
                    "log store is truncated: it holds {} entries but checkpoint {size} was signed",
                    tree.size()
                );
            }
            if tree.root_at(size).context("computing log root")?.as_slice() != root.as_slice() {
                bail!("log store does not match signed checkpoint {size}: entries were altered");
            }
        }
        Ok(LogState {
            origin: origin(federation, &institution.to_string()),
            tree,
        })
    }

    pub fn size(&self) -> u64 {
        self.tree.size()
    }

    pub fn append(&mut self, entries: &[Vec<u8>]) {
        for e in entries {
            self.tree.append(tlog::leaf_hash(e));
        }
    }

    pub fn root(&self) -> [u8; 32] {
        self.tree.root()
    }
}

/// Signs a checkpoint of the current tree and records it before returning it.
pub async fn sign_checkpoint(node: &Arc<Node>) -> anyhow::Result<String> {
    let (origin, size, root) = {
        let log = node.log.lock().unwrap();
        (log.origin.clone(), log.size(), log.root())
    };
    let cp = tlog::Checkpoint {
        origin: origin.clone(),
        size,
        root,
    };
    let note = tlog::sign_checkpoint(&cp, &origin, &node.log_key);
    let n2 = note.clone();
    node.store
        .write(move |tx| {
            tx.db.execute(
                "INSERT OR IGNORE INTO checkpoints (size, root, note) VALUES (?1, ?2, ?3)",
                rusqlite::params![size as i64, root.to_vec(), n2],
            )?;
            Ok(())
        })
        .await?;
    Ok(note)
}
