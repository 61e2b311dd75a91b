//! The node's SQLite store, the same in production and in the simulator: "durable" means a
//! committed SQLite transaction in both. A step of the core runs inside one savepoint and sees
//! the log entries it appends as [`Tx`] pending leaves.

use anyhow::Context;
use rusqlite::{Connection, Savepoint};
use rusqlite_migration::{M, Migrations};
use std::path::Path;

/// What a step sees: its savepoint, and the log entries it appends, which become leaves of the
/// node's transparency log in the same commit.
pub struct Tx<'a> {
    pub db: &'a Savepoint<'a>,
    pending: &'a mut Vec<Vec<u8>>,
    next_index: u64,
}

impl<'a> Tx<'a> {
    /// `next_index` is the index the first entry appended in this savepoint takes.
    pub fn new(db: &'a Savepoint<'a>, pending: &'a mut Vec<Vec<u8>>, next_index: u64) -> Self {
        Tx {
            db,
            pending,
            next_index,
        }
    }

    /// Appends a log entry in this transaction; returns its index.
    pub fn log(&mut self, entry: Vec<u8>) -> anyhow::Result<u64> {
        let idx = self.log_size();
        let leaf = protocol_spec::tlog::leaf_hash(&entry);
        self.db.execute(
            "INSERT INTO log_entries (idx, entry, leaf_hash) VALUES (?1, ?2, ?3)",
            rusqlite::params![idx as i64, entry, leaf.to_vec()],
        )?;
        self.pending.push(entry);
        Ok(idx)
    }

    /// The log's size including what this transaction appended so far.
    pub(crate) fn log_size(&self) -> u64 {
        self.next_index + self.pending.len() as u64
    }
}

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(include_str!("migrations/001_initial.sql")),
        M::up(include_str!("migrations/002_witness.sql")),
        M::up(include_str!("migrations/003_inclusion.sql")),
        M::up(include_str!("migrations/004_exactly_once.sql")),
        M::up(include_str!("migrations/005_outbox_problems.sql")),
    ])
}

/// Opens (creating if needed) and migrates the store at `path`.
pub fn open(path: &Path) -> anyhow::Result<Connection> {
    let mut conn = Connection::open(path)
        .with_context(|| format!("cannot open node store {}", path.display()))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a commit is on disk when it returns, which is what acknowledgement promises.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    migrations()
        .to_latest(&mut conn)
        .with_context(|| format!("cannot migrate node store {}", path.display()))?;
    Ok(conn)
}

/// An in-memory store for the simulator: it outlives the node that uses it, as a disk does,
/// and a commit is what survives a simulated crash.
pub fn open_in_memory() -> anyhow::Result<Connection> {
    let mut conn = Connection::open_in_memory()?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    migrations()
        .to_latest(&mut conn)
        .context("cannot migrate in-memory store")?;
    Ok(conn)
}

/// The number of entries in the log.
pub fn log_size(db: &Connection) -> anyhow::Result<u64> {
    let n: i64 = db.query_row("SELECT COUNT(*) FROM log_entries", [], |r| r.get(0))?;
    Ok(n as u64)
}
