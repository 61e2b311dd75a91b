//! When a commit of the store is durable, and what waits for it.
//!
//! The store commits with `synchronous=NORMAL`: SQLite appends the commit to its write-ahead log
//! and returns, and syncs the log itself only around checkpoints. The commit is made durable
//! here, by syncing the write-ahead log file, before anything the commit decided is released
//! (a reply, a message to send, an acknowledgement, the log entries a checkpoint may cover).
//!
//! The store thread syncs each batch that wrote before it begins the next: the jobs that arrive
//! while the disk syncs form the next batch, so one sync covers as many commits as arrived
//! during the last (group commit). Syncing on a thread of its own while the store thread went on
//! with the next batch cost the requester 8-10% more CPU per exchange on a 2-core node, at 32
//! and 128 exchanges in flight, for no more exchanges per second: the hand-overs to and from
//! that thread cost more than the overlap gained.
//!
//! Why this is as durable as `synchronous=FULL`: the write-ahead log is append-only between
//! checkpoints and each frame's checksum chains to the one before, so after a power loss SQLite
//! recovers a prefix of the commits; a sync of the file covers every commit written before it
//! started; and SQLite under `NORMAL` still syncs the log before a checkpoint and the database
//! after it, before the log is reused. A commit is released only after a sync that began after
//! it was written, and a later commit never before an earlier one.
//!
//! A sync that fails leaves commits SQLite considers done but the disk may not hold. Nothing
//! of them has been released; the node stops at once, and its next start reads back what the
//! disk holds (as a database server must after a failed fsync: the failure cannot be retried).

use crate::metrics::Metrics;
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// Called with the log entries a commit made durable, in log order.
pub(crate) type OnCommit = Box<dyn FnMut(&[Vec<u8>]) + Send>;

/// What a job left to do once its batch is durable (or known not to be).
pub(crate) type Release = Box<dyn FnOnce() + Send>;

/// Makes the written commits durable; the store's write-ahead log file in a node.
pub(crate) type SyncFn = Box<dyn FnMut() -> std::io::Result<()> + Send>;

/// One batch as the store thread finished it.
pub(crate) struct Finished {
    /// Whether the batch committed writes that must be synced before its releases.
    pub wrote: bool,
    /// The log entries it committed, in log order.
    pub entries: Vec<Vec<u8>>,
    pub releases: Vec<Release>,
    /// When its first job started, for the commit latency.
    pub began: Instant,
}

/// Owned by the store thread: makes each finished batch durable, then releases it.
pub(crate) struct Durability {
    sync: SyncFn,
    on_commit: OnCommit,
    metrics: Arc<Metrics>,
}

impl Durability {
    pub(crate) fn new(sync: SyncFn, on_commit: OnCommit, metrics: Arc<Metrics>) -> Durability {
        Durability {
            sync,
            on_commit,
            metrics,
        }
    }

    /// Syncs once if `batch` wrote, then releases it.
    pub(crate) fn finished(&mut self, batch: Finished) {
        if batch.wrote
            && let Err(e) = (self.sync)()
        {
            tracing::error!(error = %e, "the node's disk failed to make its store's writes durable; the node stops, and reads back at its next start what the disk holds");
            std::process::abort();
        }
        if !batch.entries.is_empty() {
            (self.on_commit)(&batch.entries);
        }
        if batch.wrote {
            self.metrics
                .store_commit(batch.began.elapsed().as_secs_f64());
        }
        for release in batch.releases {
            release();
        }
    }
}

/// Syncs the write-ahead log of the store at `db` (no-op for a store in memory). The file is
/// opened at the first sync and kept: SQLite keeps it while its connection is open, deleting it
/// only when the last connection closes.
pub(crate) fn wal_sync(db: Option<PathBuf>) -> SyncFn {
    let Some(db) = db.filter(|p| !p.as_os_str().is_empty()) else {
        return Box::new(|| Ok(()));
    };
    let path = crate::wal::path_of(&db);
    let mut open: Option<File> = None;
    Box::new(move || {
        if open.is_none() {
            open = Some(File::open(&path)?);
        }
        open.as_ref().expect("opened above").sync_data()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Mutex, mpsc};

    fn batch(wrote: bool, entry: &str, released: &mpsc::Sender<String>) -> Finished {
        let (tx, name) = (released.clone(), entry.to_string());
        Finished {
            wrote,
            entries: if wrote {
                vec![entry.as_bytes().to_vec()]
            } else {
                vec![]
            },
            releases: vec![Box::new(move || tx.send(name).unwrap())],
            began: Instant::now(),
        }
    }

    /// A commit is synced before anything of it is released or its entries are handed on; a
    /// read is released without a sync.
    #[test]
    fn a_commit_is_released_after_its_sync() {
        let (released, order) = mpsc::channel();
        let syncs = Arc::new(AtomicU64::new(0));
        let entries = Arc::new(Mutex::new(Vec::new()));
        let mut d = {
            let (syncs, e, released) = (syncs.clone(), entries.clone(), released.clone());
            Durability::new(
                Box::new(move || {
                    syncs.fetch_add(1, Ordering::SeqCst);
                    released.send("sync".into()).unwrap();
                    Ok(())
                }),
                Box::new(move |x: &[Vec<u8>]| e.lock().unwrap().extend_from_slice(x)),
                Arc::new(Metrics::new()),
            )
        };
        d.finished(batch(true, "a", &released));
        d.finished(batch(false, "read", &released));
        d.finished(batch(true, "b", &released));
        let seen: Vec<String> = order.try_iter().collect();
        assert_eq!(seen, ["sync", "a", "read", "sync", "b"]);
        assert_eq!(syncs.load(Ordering::SeqCst), 2, "a read needs no sync");
        assert_eq!(*entries.lock().unwrap(), [b"a".to_vec(), b"b".to_vec()]);
    }

    /// The write-ahead log of a store on disk is what is synced; a store in memory has none.
    #[test]
    fn the_sync_reaches_the_stores_write_ahead_log() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        let conn = node_core::store::open(&db).unwrap();
        let mut sync = wal_sync(conn.path().map(PathBuf::from));
        sync().unwrap();
        drop(conn);
        let mut gone = wal_sync(Some(dir.path().join("absent.db")));
        assert!(
            gone().is_err(),
            "a missing log is an error, not a silent success"
        );
        let mut memory = wal_sync(None);
        memory().unwrap();
    }
}
