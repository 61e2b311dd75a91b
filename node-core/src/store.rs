//! The node's SQLite store, the same in production and in the simulator: "durable" means a
//! committed SQLite transaction in both. A step of the core runs inside one savepoint and sees
//! the log entries it appends as [`Tx`] pending leaves.

use anyhow::Context;
use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};
use std::path::Path;

/// What a step sees: its savepoint, and the log entries it appends, which become leaves of the
/// node's transparency log in the same commit.
pub struct Tx<'a> {
    pub db: &'a Connection,
    pending: &'a mut Vec<Vec<u8>>,
    next_index: u64,
}

impl<'a> Tx<'a> {
    /// `next_index` is the index the first entry appended in this savepoint takes.
    pub fn new(db: &'a Connection, pending: &'a mut Vec<Vec<u8>>, next_index: u64) -> Self {
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
        self.db
            .prepare_cached("INSERT INTO log_entries (idx, entry, leaf_hash) VALUES (?1, ?2, ?3)")?
            .execute(rusqlite::params![idx as i64, entry, leaf.to_vec()])?;
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
        M::up(include_str!("migrations/006_retention.sql")),
        M::up(include_str!("migrations/007_notices.sql")),
        M::up(include_str!("migrations/008_statistics.sql")),
        M::up(include_str!("migrations/009_stats_delivery.sql")),
        M::up(include_str!("migrations/010_witness_key.sql")),
        M::up(include_str!("migrations/011_psi.sql")),
        M::up(include_str!("migrations/012_ordered_keys.sql")),
        M::up(include_str!("migrations/013_outbox_due.sql")),
        M::up(include_str!("migrations/014_requests_by_key.sql")),
    ])
}

/// Opens (creating if needed) and migrates the store at `path`.
/// More than the core's distinct statements, so none is evicted and parsed again.
const STATEMENT_CACHE: usize = 160;

pub fn open(path: &Path) -> anyhow::Result<Connection> {
    let mut conn = Connection::open(path)
        .with_context(|| format!("cannot open node store {}", path.display()))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a commit is on disk when it returns, which is what acknowledgement promises. A
    // driver that syncs the write-ahead log itself before acknowledging may lower it.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // A purged summary's bytes are overwritten, not only unlinked (spec §7.10).
    conn.pragma_update(None, "secure_delete", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    prepare_once(&conn)?;
    migrations()
        .to_latest(&mut conn)
        .with_context(|| format!("cannot migrate node store {}", path.display()))?;
    Ok(conn)
}

/// Every statement of the core is prepared once per connection, not parsed at each use; and
/// planned once: SQLite otherwise plans a statement again whenever the values bound to it
/// could change its plan (a value compared with a partial index's condition, a limit), which
/// is a whole parse per use.
fn prepare_once(conn: &Connection) -> anyhow::Result<()> {
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(())
}

/// An in-memory store for the simulator: it outlives the node that uses it, as a disk does,
/// and a commit is what survives a simulated crash.
pub fn open_in_memory() -> anyhow::Result<Connection> {
    let mut conn = Connection::open_in_memory()?;
    prepare_once(&conn)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "secure_delete", "ON")?;
    migrations()
        .to_latest(&mut conn)
        .context("cannot migrate in-memory store")?;
    Ok(conn)
}

/// A failure of the disk under the store, as staff and the operator are told of it. The words
/// name neither a file nor anything stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreProblem {
    /// No space is left on the disk.
    Full,
    /// The store, or the file system it is on, cannot be written.
    ReadOnly,
    /// The disk reported an error reading or writing.
    Failed,
}

impl std::fmt::Display for StoreProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StoreProblem::Full => "the node's store is full: no space left on its disk",
            StoreProblem::ReadOnly => "the node's store is read-only",
            StoreProblem::Failed => {
                "the node's store could not be written: its disk reported an error"
            }
        })
    }
}

impl std::error::Error for StoreProblem {}

impl StoreProblem {
    /// The storage problem `e` is, if it is one: a [`StoreProblem`] a driver attached, or an
    /// SQLite or file system error anywhere in its chain.
    pub fn of(e: &anyhow::Error) -> Option<StoreProblem> {
        if let Some(p) = e.downcast_ref::<StoreProblem>() {
            return Some(*p);
        }
        e.chain().find_map(|cause| {
            if let Some(s) = cause.downcast_ref::<rusqlite::Error>() {
                StoreProblem::of_sqlite(s)
            } else {
                cause
                    .downcast_ref::<std::io::Error>()
                    .and_then(StoreProblem::of_io)
            }
        })
    }

    pub fn of_sqlite(e: &rusqlite::Error) -> Option<StoreProblem> {
        use rusqlite::ErrorCode as C;
        match e.sqlite_error_code()? {
            C::DiskFull => Some(StoreProblem::Full),
            C::ReadOnly => Some(StoreProblem::ReadOnly),
            C::SystemIoFailure | C::CannotOpen => Some(StoreProblem::Failed),
            _ => None,
        }
    }

    pub fn of_io(e: &std::io::Error) -> Option<StoreProblem> {
        use std::io::ErrorKind as K;
        match e.kind() {
            K::StorageFull | K::QuotaExceeded => Some(StoreProblem::Full),
            K::ReadOnlyFilesystem => Some(StoreProblem::ReadOnly),
            _ => None,
        }
    }

    /// What the node's administrator does about it.
    pub fn advice(&self) -> &'static str {
        match self {
            StoreProblem::Full => {
                "nothing can be recorded until space is freed on its disk; the node then goes on by itself"
            }
            StoreProblem::ReadOnly => {
                "nothing can be recorded; make its file system writable again (check the disk), then restart the node"
            }
            StoreProblem::Failed => {
                "nothing can be recorded; check its disk, then restart the node"
            }
        }
    }
}

/// The number of entries in the log.
pub fn log_size(db: &Connection) -> anyhow::Result<u64> {
    let n: i64 = db
        .prepare_cached("SELECT COUNT(*) FROM log_entries")?
        .query_row([], |r| r.get(0))?;
    Ok(n as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A statement whose values could match a partial index's condition (`topic = 'roster'`)
    /// or set a limit is planned once, not again each time other values are bound: that was
    /// a parse of the whole statement per use.
    #[test]
    fn statements_are_planned_once_whatever_their_values() {
        let conn = open_in_memory().unwrap();
        // Each statement with the values of one use: the second value differs at each use.
        type Values = fn(i64) -> [rusqlite::types::Value; 2];
        let queries: [(&str, Values); 2] = [
            (
                "SELECT EXISTS(SELECT 1 FROM outbox WHERE recipient = ?1 AND topic = ?2)",
                |n| ["ne.orp".to_string().into(), format!("case:{n}").into()],
            ),
            (
                "SELECT id FROM outbox WHERE topic = 'roster' AND next_attempt <= ?1 ORDER BY next_attempt, id LIMIT ?2",
                |n| [5i64.into(), (10 + n).into()],
            ),
        ];
        for (sql, values) in queries {
            for n in 0..4 {
                let mut stmt = conn.prepare_cached(sql).unwrap();
                let mut rows = stmt.query(rusqlite::params_from_iter(values(n))).unwrap();
                while rows.next().unwrap().is_some() {}
            }
            let stmt = conn.prepare_cached(sql).unwrap();
            assert_eq!(
                stmt.get_status(rusqlite::StatementStatus::RePrepare),
                0,
                "{sql}"
            );
        }
    }

    /// A store of the version before ordered keys keeps its request versions (the latest still
    /// the latest) and its peers' proofs when it is migrated.
    #[test]
    fn ordered_keys_keep_what_a_store_held() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrations().to_version(&mut conn, 11).unwrap();
        for (digest, signed) in [([2u8; 32], b"first"), ([1u8; 32], b"later")] {
            conn.execute(
                "INSERT INTO request_versions (digest, request_id, signed) VALUES (?1, ?2, ?3)",
                rusqlite::params![digest.to_vec(), [7u8; 16].to_vec(), signed.to_vec()],
            )
            .unwrap();
        }
        conn.execute(
            "INSERT INTO peer_inclusion VALUES ('ne.orp', ?1, 5, ?2, 'checkpoint', ?3)",
            rusqlite::params![[3u8; 32].to_vec(), [4u8; 32].to_vec(), [5u8; 64].to_vec()],
        )
        .unwrap();
        migrations().to_latest(&mut conn).unwrap();
        let latest: Vec<u8> = conn
            .query_row(
                crate::requester::LATEST_VERSION,
                [[7u8; 16].to_vec()],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(latest, b"later");
        let again = conn
            .execute(
                "INSERT OR IGNORE INTO request_versions (digest, request_id, signed) VALUES (?1, ?2, x'00')",
                rusqlite::params![[2u8; 32].to_vec(), [7u8; 16].to_vec()],
            )
            .unwrap();
        assert_eq!(again, 0, "a version is kept once");
        let proof: (i64, Vec<u8>) = conn
            .query_row(
                "SELECT leaf_index, request_digest FROM peer_inclusion WHERE peer = 'ne.orp'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(proof, (5, [3u8; 32].to_vec()));
    }

    /// A store's requests survive their move to a table kept by id, every column of them.
    #[test]
    fn requests_kept_by_id_keep_what_a_store_held() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrations().to_version(&mut conn, 13).unwrap();
        let rows = [
            ([1u8; 16], "pending", None::<&str>, None::<Vec<u8>>, 10i64),
            (
                [2u8; 16],
                "received",
                Some("granted"),
                Some(vec![9u8; 16]),
                20,
            ),
        ];
        for (id, state, outcome, summary, at) in &rows {
            conn.execute(
                "INSERT INTO requests VALUES (?1, ?2, 'ne.oai', 'eligibility', 'income', 'alice', ?3, ?4, ?5, ?6, ?7)",
                rusqlite::params![id.to_vec(), [5u8; 16].to_vec(), state, outcome, summary, at, at + 1],
            )
            .unwrap();
        }
        migrations().to_latest(&mut conn).unwrap();
        for (id, state, outcome, summary, at) in &rows {
            let kept: i64 = conn
                .query_row(
                    "SELECT count(*) FROM requests WHERE request_id = ?1 AND case_id = ?2
                     AND responder = 'ne.oai' AND purpose = 'eligibility' AND categories = 'income'
                     AND staff = 'alice' AND state = ?3 AND outcome IS ?4 AND summary_id IS ?5
                     AND created_at = ?6 AND updated_at = ?7",
                    rusqlite::params![
                        id.to_vec(),
                        [5u8; 16].to_vec(),
                        state,
                        outcome,
                        summary,
                        at,
                        at + 1
                    ],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(kept, 1, "request {state} kept as it was");
        }
        let all: i64 = conn
            .query_row("SELECT count(*) FROM requests", [], |r| r.get(0))
            .unwrap();
        assert_eq!(all, 2);
        let duplicate = conn.execute(
            "INSERT INTO requests VALUES (?1, x'05', 'ne.oai', 'p', 'c', 'bob', 'pending', NULL, NULL, 1, 1)",
            [[1u8; 16].to_vec()],
        );
        assert!(duplicate.is_err(), "an id is still kept once");
    }
}
