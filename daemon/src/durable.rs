//! When a commit of the store is durable, and what waits for it.
//!
//! The store commits with `synchronous=NORMAL`: SQLite appends the commit to its write-ahead log
//! and returns, and syncs the log itself only around checkpoints. The commit is made durable
//! here, by syncing the write-ahead log file, before anything the commit decided is released
//! (a reply, a message to send, an acknowledgement, the log entries a checkpoint may cover).
//!
//! Under load the sync runs on its own thread: while the disk syncs one commit, the store thread
//! executes and commits the next batch, and one sync then covers every commit written
//! meanwhile. A lone commit with nothing pending is synced on the store thread itself, as a
//! `synchronous=FULL` commit would be, so a single exchange pays no extra hand-over.
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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
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

struct Syncing {
    sync: SyncFn,
    on_commit: OnCommit,
    metrics: Arc<Metrics>,
}

impl Syncing {
    /// Syncs once for all of `batches` if any wrote, then releases them in order.
    fn finish(&mut self, batches: Vec<Finished>) {
        if batches.iter().any(|b| b.wrote)
            && let Err(e) = (self.sync)()
        {
            tracing::error!(error = %e, "the node's disk failed to make its store's writes durable; the node stops, and reads back at its next start what the disk holds");
            std::process::abort();
        }
        for b in batches {
            if !b.entries.is_empty() {
                (self.on_commit)(&b.entries);
            }
            if b.wrote {
                self.metrics.store_commit(b.began.elapsed().as_secs_f64());
            }
            for release in b.releases {
                release();
            }
        }
    }
}

/// Owned by the store thread: hands each finished batch to the sync, in order.
pub(crate) struct Durability {
    syncing: Arc<Mutex<Syncing>>,
    queue: Option<mpsc::Sender<Finished>>,
    /// Batches handed to the sync thread, and batches it has released.
    sent: u64,
    released: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Durability {
    pub(crate) fn start(sync: SyncFn, on_commit: OnCommit, metrics: Arc<Metrics>) -> Durability {
        let syncing = Arc::new(Mutex::new(Syncing {
            sync,
            on_commit,
            metrics,
        }));
        let released = Arc::new(AtomicU64::new(0));
        let (tx, rx) = mpsc::channel::<Finished>();
        let (s, r) = (syncing.clone(), released.clone());
        let thread = std::thread::Builder::new()
            .name("passerelle-sync".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batches = vec![first];
                    batches.extend(rx.try_iter());
                    let n = batches.len() as u64;
                    s.lock().unwrap().finish(batches);
                    r.fetch_add(n, Ordering::Release);
                }
            })
            .expect("spawning the store's sync thread");
        Durability {
            syncing,
            queue: Some(tx),
            sent: 0,
            released,
            thread: Some(thread),
        }
    }

    /// Releases `batch` once it is durable. `alone`: no job waits for the store thread, which
    /// then has nothing better to do than wait for the disk.
    pub(crate) fn finished(&mut self, batch: Finished, alone: bool) {
        let idle = self.released.load(Ordering::Acquire) == self.sent;
        match &self.queue {
            Some(queue) if !(idle && (alone || !batch.wrote)) => {
                self.sent += 1;
                if let Err(mpsc::SendError(batch)) = queue.send(batch) {
                    // The sync thread is gone only if it panicked; finish here.
                    self.syncing.lock().unwrap().finish(vec![batch]);
                }
            }
            _ => self.syncing.lock().unwrap().finish(vec![batch]),
        }
    }
}

/// Releases what is pending and ends the sync thread.
impl Drop for Durability {
    fn drop(&mut self) {
        self.queue = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
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
    use std::time::Duration;

    /// A sync that waits for the test's word, and counts how often it ran.
    fn gated() -> (SyncFn, mpsc::Sender<()>, Arc<AtomicU64>) {
        let (go, wait) = mpsc::channel::<()>();
        let count = Arc::new(AtomicU64::new(0));
        let c = count.clone();
        let sync: SyncFn = Box::new(move || {
            wait.recv().expect("the test ended");
            c.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
        (sync, go, count)
    }

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

    /// Nothing of a commit is released before the sync that makes it durable, and one sync
    /// covers every commit written while the one before was syncing; releases keep their order,
    /// a read included.
    #[test]
    fn commits_wait_for_their_sync_and_share_it() {
        let (sync, go, syncs) = gated();
        let entries = Arc::new(Mutex::new(Vec::new()));
        let e = entries.clone();
        let mut d = Durability::start(
            sync,
            Box::new(move |x: &[Vec<u8>]| e.lock().unwrap().extend_from_slice(x)),
            Arc::new(Metrics::new()),
        );
        let (released, order) = mpsc::channel();
        // Busy: handed to the sync thread, which waits on the disk.
        d.finished(batch(true, "a", &released), false);
        std::thread::sleep(Duration::from_millis(30));
        d.finished(batch(true, "b", &released), true);
        d.finished(batch(false, "read", &released), true);
        d.finished(batch(true, "c", &released), false);
        assert!(
            order.recv_timeout(Duration::from_millis(100)).is_err(),
            "released before its sync"
        );
        assert!(entries.lock().unwrap().is_empty());
        go.send(()).unwrap(); // a's sync
        assert_eq!(order.recv_timeout(Duration::from_secs(5)).unwrap(), "a");
        assert!(order.recv_timeout(Duration::from_millis(50)).is_err());
        go.send(()).unwrap(); // one sync for b, the read after it, and c
        let rest: Vec<String> = (0..3)
            .map(|_| order.recv_timeout(Duration::from_secs(5)).unwrap())
            .collect();
        assert_eq!(rest, ["b", "read", "c"]);
        assert_eq!(syncs.load(Ordering::SeqCst), 2);
        assert_eq!(
            *entries.lock().unwrap(),
            [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]
        );
        drop(d);
    }

    /// With nothing pending, a lone commit is synced on the caller's thread before it returns,
    /// and a read is released at once.
    #[test]
    fn an_idle_commit_is_synced_in_place() {
        let count = Arc::new(AtomicU64::new(0));
        let c = count.clone();
        let mut d = Durability::start(
            Box::new(move || {
                c.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }),
            Box::new(|_: &[Vec<u8>]| {}),
            Arc::new(Metrics::new()),
        );
        let (released, order) = mpsc::channel();
        d.finished(batch(true, "a", &released), true);
        assert_eq!(order.try_recv().unwrap(), "a");
        assert_eq!(count.load(Ordering::SeqCst), 1);
        d.finished(batch(false, "read", &released), false);
        assert_eq!(order.try_recv().unwrap(), "read");
        assert_eq!(count.load(Ordering::SeqCst), 1, "a read needs no sync");
        drop(d);
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
