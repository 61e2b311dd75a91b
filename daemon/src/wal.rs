//! The store's write-ahead log file, laid out on disk before SQLite first writes it.
//!
//! SQLite appends each commit to its write-ahead log until a checkpoint has copied the log
//! back into the database, then writes the log again from its start. While the file grows,
//! the sync that makes a commit durable also writes the file's new size and block map (the
//! inode and allocation bitmaps on ext4): three or four device requests where a sync of blocks
//! already there takes two (the pages and the cache flush). On the virtual machines nodes run
//! on, each request costs tens of microseconds of CPU. A long-running node overwrites after its
//! first checkpoint; a node lays out the whole log as zeros when it starts, so it does from
//! its first commit (`passerelle bench exchange`, builds in turn: p50 at one in flight 1.78–2.00
//! ms instead of 2.17–2.54, 4–8% more exchanges per second at 32 in flight). SQLite deletes
//! the log when the node stops cleanly, so a stopped node's data directory holds its database
//! alone, as before.
//!
//! Zeros are never read as commits: SQLite reads a log whose header is zeros as empty, and
//! stops reading at the first frame whose checksum does not follow from the one before.

use crate::config::suffixed;
use anyhow::Context;
use rusqlite::Connection;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The write-ahead log is copied back into the database when it reaches this many pages (about
/// 80 MB; SQLite's default is 1,000), so a page many commits wrote is copied back once.
/// Measured with `passerelle bench exchange` against 1,000 pages: about 8% more exchanges per
/// second at 32 in flight and p99 3.2 ms instead of 4.4 ms at one in flight; the rarer
/// checkpoint takes longer, which p99 at 32 in flight shows (32 ms instead of 26 ms).
pub(crate) const CHECKPOINT_PAGES: i64 = 20_000;

/// Pages laid out beyond the checkpoint size: a batch committed just before the checkpoint
/// writes its pages past it.
const SLACK_PAGES: u64 = 1_024;

/// SQLite's page size, which the store keeps; a frame is a 24-byte header and a page, after a
/// 32-byte file header.
const PAGE_BYTES: u64 = 4_096;
const FRAME_BYTES: u64 = 24 + PAGE_BYTES;
const HEADER_BYTES: u64 = 32;

/// The size of a laid-out log.
const LAID_OUT_BYTES: u64 = HEADER_BYTES + (CHECKPOINT_PAGES as u64 + SLACK_PAGES) * FRAME_BYTES;

/// A log is laid out only on a file system with this many times its size available: on a
/// smaller disk the space is kept for the records, and the log grows as it is written.
const ROOM_FACTOR: u64 = 8;

/// The write-ahead log of the store at `db`.
pub(crate) fn path_of(db: &Path) -> PathBuf {
    suffixed(db, "-wal")
}

/// The directory the store at `db` is in.
fn dir_of(db: &Path) -> &Path {
    match db.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Opens the store at `db` with `open`, its write-ahead log laid out if it had none. A log
/// that cannot be laid out only costs speed: the store opens without.
pub(crate) fn open_laid_out(
    db: &Path,
    open: impl Fn(&Path) -> anyhow::Result<Connection>,
) -> anyhow::Result<Connection> {
    if !path_of(db).exists() {
        // SQLite deletes a log it finds beside an empty database: a new store is created
        // first, and closed, which checkpoints its log and deletes it.
        if std::fs::metadata(db).map_or(true, |m| m.len() == 0) {
            drop(open(db)?);
        }
        if let Err(e) = lay_out(db) {
            tracing::warn!(error = %format!("{e:#}"), "the store's write-ahead log grows as it is written");
        }
    }
    open(db)
}

/// Lays out the write-ahead log of the store at `db` if it has none and its file system has
/// room; returns whether it did.
pub(crate) fn lay_out(db: &Path) -> anyhow::Result<bool> {
    let dir = dir_of(db);
    let fs = rustix::fs::statvfs(dir)
        .with_context(|| format!("cannot read the free space of {}", dir.display()))?;
    lay_out_with(db, fs.f_bavail.saturating_mul(fs.f_frsize))
}

/// [`lay_out`] with `available` bytes free on the file system. Must run while no connection
/// has the store open, on a store of at least one page. An existing log may hold commits not
/// yet copied back into the database and is left as it is. The zeros are written to a file of
/// their own and linked into place, so no log SQLite created meanwhile is ever overwritten;
/// when they cannot be written (a disk too small), nothing is left behind.
fn lay_out_with(db: &Path, available: u64) -> anyhow::Result<bool> {
    let wal = path_of(db);
    if wal.exists() || available < LAID_OUT_BYTES.saturating_mul(ROOM_FACTOR) {
        return Ok(false);
    }
    let laying = suffixed(&wal, ".laying");
    // A start interrupted while laying out left this file; it never held a commit.
    let _ = std::fs::remove_file(&laying);
    let written = write_zeros(&laying, LAID_OUT_BYTES).and_then(|()| {
        match std::fs::hard_link(&laying, &wal) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    });
    let _ = std::fs::remove_file(&laying);
    let linked = written.with_context(|| {
        format!(
            "cannot lay out the store's write-ahead log {}",
            wal.display()
        )
    })?;
    let dir = dir_of(db);
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync directory {}", dir.display()))?;
    Ok(linked)
}

fn write_zeros(path: &Path, bytes: u64) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    let chunk = vec![0u8; 1 << 20];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        file.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(conn: &Connection) -> i64 {
        conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap()
    }

    /// A store as the node opens it: a table made at creation, commits synced by the node.
    fn create(db: &Path) -> anyhow::Result<Connection> {
        let conn = Connection::open(db)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch("CREATE TABLE IF NOT EXISTS t (x BLOB)")?;
        Ok(conn)
    }

    fn open(db: &Path) -> Connection {
        open_laid_out(db, create).unwrap()
    }

    /// Commits overwrite the laid-out file without growing it and read back after a restart;
    /// a clean close leaves the database alone, and the next start lays the log out again.
    #[test]
    fn commits_overwrite_the_laid_out_log() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        let wal = path_of(&db);
        let conn = open(&db);
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), LAID_OUT_BYTES);
        for i in 0..200 {
            conn.execute("INSERT INTO t VALUES (?1)", [vec![i as u8; 3000]])
                .unwrap();
        }
        assert_eq!(
            std::fs::metadata(&wal).unwrap().len(),
            LAID_OUT_BYTES,
            "the commits wrote over the laid-out blocks"
        );
        drop(conn);
        assert!(!wal.exists(), "a clean close leaves the database alone");
        let conn = open(&db);
        assert_eq!(rows(&conn), 200);
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), LAID_OUT_BYTES);
        conn.execute("INSERT INTO t VALUES (x'00')", []).unwrap();
        drop(conn);
        assert_eq!(rows(&open(&db)), 201);
    }

    /// A log left by a crash holds commits the database does not: laying out leaves it
    /// byte for byte, and the commits are read back.
    #[test]
    fn a_log_holding_commits_is_never_laid_over() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        let conn = create(&db).unwrap();
        conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        for i in 0..50 {
            conn.execute("INSERT INTO t VALUES (?1)", [i]).unwrap();
        }
        // The files as a crash leaves them: the commits are in the log only.
        let crashed = tempfile::tempdir().unwrap();
        let copy = crashed.path().join("s.db");
        std::fs::copy(&db, &copy).unwrap();
        std::fs::copy(path_of(&db), path_of(&copy)).unwrap();
        drop(conn);
        let before = std::fs::read(path_of(&copy)).unwrap();
        assert!(before.len() > 4096 && (before.len() as u64) < LAID_OUT_BYTES);
        assert!(!lay_out(&copy).unwrap());
        assert_eq!(std::fs::read(path_of(&copy)).unwrap(), before);
        let conn = open(&copy);
        assert_eq!(rows(&conn), 50);
        assert_eq!(
            std::fs::metadata(path_of(&copy)).unwrap().len(),
            before.len() as u64
        );
    }

    /// On a file system with little room the log is not laid out, and the store still opens;
    /// a log that cannot be laid out (its directory is gone) is an error that names it and
    /// leaves no file behind.
    #[test]
    fn a_log_is_laid_out_only_where_there_is_room() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        drop(create(&db).unwrap());
        assert!(!lay_out_with(&db, LAID_OUT_BYTES * ROOM_FACTOR - 1).unwrap());
        assert!(!path_of(&db).exists());
        assert!(lay_out_with(&db, LAID_OUT_BYTES * ROOM_FACTOR).unwrap());
        assert_eq!(
            std::fs::metadata(path_of(&db)).unwrap().len(),
            LAID_OUT_BYTES
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "the database and its log only: {names:?}");

        let gone = dir.path().join("gone").join("s.db");
        let e = lay_out_with(&gone, u64::MAX).unwrap_err();
        assert!(format!("{e:#}").contains("s.db-wal"), "{e:#}");
        assert!(!dir.path().join("gone").exists());
    }
}
