//! The log's state in memory: the RFC 6962 tree over every entry's leaf hash, checked at
//! start against the newest signed checkpoint, and where the log stands with its witnesses.

use anyhow::{anyhow, bail};
use protocol_spec::tlog;
use rusqlite::{Connection, OptionalExtension};
use std::sync::Arc;

pub(crate) struct LogState {
    pub(crate) origin: String,
    pub(crate) tree: tlog::Tree,
    /// Whether this node may sign new checkpoints of its log (transparency-log.md §7.4).
    pub(crate) standing: Standing,
    /// Held while the witnesses are asked whether they hold anything newer than this log.
    pub(crate) confirming: Arc<tokio::sync::Mutex<()>>,
    /// The newest checkpoint this node signed and recorded, once known in this run: served
    /// again without reading and re-verifying it from the store at every proof.
    pub(crate) signed: Option<(u64, String)>,
    /// Set when the log halted because a witness cosigned more than the store holds: that
    /// witness and the size it cosigned.
    pub(crate) behind: Option<(protocol_spec::ids::InstitutionId, u64)>,
}

/// Where the node's log stands with its witnesses since the node started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Standing {
    /// No witness round has yet shown that the witnesses hold nothing this store's log
    /// cannot extend. `halted` is the problem that halted the log before the restart: it is
    /// still reported until a round clears it.
    Unconfirmed {
        halted: Option<String>,
    },
    Confirmed,
    /// A witness holds a cosigned checkpoint this log cannot extend: the store was lost,
    /// restored from an older copy or replaced. Nothing more of the log is signed or served
    /// until an administrator acts (README, "A halted log") and restarts the node.
    Halted(String),
}

/// The `meta` row recording why the log is halted, read by the node status.
pub(crate) const HALTED_KEY: &str = "log-halted";

/// A size or index as the store keeps it. SQLite integers are signed 64-bit: a value beyond
/// 2^63 - 1 (which only a peer's claim can reach) is refused, never wrapped to a negative row.
pub(crate) fn db_int(value: u64, what: &str) -> anyhow::Result<i64> {
    i64::try_from(value)
        .map_err(|_| anyhow!("{what} {value} is beyond 2^63 - 1, the largest this node records"))
}

/// A size or index read back from the store.
pub(crate) fn from_db(value: i64, what: &str) -> anyhow::Result<u64> {
    u64::try_from(value).map_err(|_| anyhow!("the store is corrupt: {what} {value} is negative"))
}

impl LogState {
    /// Loads every leaf hash of the log named `origin` and checks the newest signed checkpoint
    /// against them, so a store whose log was altered or truncated is noticed before the node
    /// serves or signs anything.
    pub(crate) fn load(conn: &Connection, origin: String) -> anyhow::Result<LogState> {
        let mut tree = tlog::Tree::new();
        let mut st = conn.prepare("SELECT idx, leaf_hash FROM log_entries ORDER BY idx")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
        for (expected, row) in rows.enumerate() {
            let (idx, leaf) = row?;
            if u64::try_from(expected) != u64::try_from(idx) {
                bail!("log store is corrupt: entry {expected} is missing");
            }
            let leaf: [u8; 32] = leaf
                .try_into()
                .map_err(|_| anyhow!("log store is corrupt: bad leaf hash at {idx}"))?;
            tree.append(leaf);
        }
        let last: Option<(i64, Vec<u8>)> = conn
            .query_row(
                "SELECT size, root FROM checkpoints ORDER BY size DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((size, root)) = last {
            let size = from_db(size, "checkpoint size")?;
            let ours = tree.root_at(size).ok_or_else(|| {
                anyhow!(
                    "log store is truncated: it holds {} entries but checkpoint {size} was signed",
                    tree.size()
                )
            })?;
            if ours.as_slice() != root.as_slice() {
                bail!("log store does not match signed checkpoint {size}: entries were altered");
            }
        }
        let halted: Option<Vec<u8>> = conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [HALTED_KEY], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(LogState {
            origin,
            tree,
            standing: Standing::Unconfirmed {
                halted: halted.map(|p| String::from_utf8_lossy(&p).into_owned()),
            },
            confirming: Arc::new(tokio::sync::Mutex::new(())),
            signed: None,
            behind: None,
        })
    }

    /// Why nothing of the log may be served now, if so.
    pub(crate) fn halted(&self) -> Option<&str> {
        match &self.standing {
            Standing::Halted(p) | Standing::Unconfirmed { halted: Some(p) } => Some(p),
            _ => None,
        }
    }

    pub(crate) fn size(&self) -> u64 {
        self.tree.size()
    }

    pub(crate) fn append(&mut self, entries: &[Vec<u8>]) {
        for e in entries {
            self.tree.append(tlog::leaf_hash(e));
        }
    }

    pub(crate) fn root(&self) -> [u8; 32] {
        self.tree.root()
    }
}

impl LogState {
    pub(crate) fn tree_consistency(&self, old: u64, new: u64) -> Vec<[u8; 32]> {
        self.tree.consistency_proof(old, new).unwrap_or_default()
    }
}
