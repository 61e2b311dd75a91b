//! SQLite store. One thread owns the connection and groups the jobs queued while it was busy
//! into a single transaction (one fsync for the group), each job in its own savepoint so one
//! failing job does not undo the others. A job's result is released only after the commit:
//! nothing is acknowledged before it is durable.

use anyhow::Context;
use rusqlite::{Connection, Savepoint};
use rusqlite_migration::{M, Migrations};
use std::path::Path;
use std::sync::mpsc;
use tokio::sync::oneshot;

/// What a job sees: its savepoint and the log entries it appends, which become leaves of the
/// node's transparency log in the same commit.
pub struct Tx<'a> {
    pub db: &'a Savepoint<'a>,
    pending: &'a mut Vec<Vec<u8>>,
    next_index: u64,
}

impl Tx<'_> {
    /// Appends a log entry in this job's transaction; returns its index.
    pub fn log(&mut self, entry: Vec<u8>) -> anyhow::Result<u64> {
        let idx = self.next_index + self.pending.len() as u64;
        let leaf = protocol_spec::tlog::leaf_hash(&entry);
        self.db.execute(
            "INSERT INTO log_entries (idx, entry, leaf_hash) VALUES (?1, ?2, ?3)",
            rusqlite::params![idx as i64, entry, leaf.to_vec()],
        )?;
        self.pending.push(entry);
        Ok(idx)
    }
}

type Completion = Box<dyn FnOnce(bool) + Send>;
type Job = Box<dyn FnOnce(&mut Tx<'_>) -> (bool, Completion) + Send>;

/// Called after each commit with the entries it made durable, in log order.
pub type OnCommit = Box<dyn FnMut(&[Vec<u8>]) + Send>;

#[derive(Clone)]
pub struct Store {
    jobs: mpsc::Sender<Job>,
}

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(include_str!("migrations/001_initial.sql")),
        M::up(include_str!("migrations/002_witness.sql")),
        M::up(include_str!("migrations/003_inclusion.sql")),
    ])
}

pub fn open_connection(path: &Path) -> anyhow::Result<Connection> {
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

impl Store {
    /// Starts the store thread. `log_size` is the number of entries already in the log.
    pub fn start(mut conn: Connection, log_size: u64, mut on_commit: OnCommit) -> Store {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("passerelle-store".into())
            .spawn(move || {
                let mut size = log_size;
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    batch.extend(rx.try_iter().take(255));
                    let mut entries: Vec<Vec<u8>> = Vec::new();
                    let mut completions: Vec<(bool, Completion)> = Vec::new();
                    let committed = (|| -> rusqlite::Result<()> {
                        let mut txn = conn.transaction()?;
                        for job in batch.drain(..) {
                            let mut pending = Vec::new();
                            let sp = txn.savepoint()?;
                            let next_index = size + entries.len() as u64;
                            let (ok, done) = {
                                let mut t = Tx {
                                    db: &sp,
                                    pending: &mut pending,
                                    next_index,
                                };
                                job(&mut t)
                            };
                            if ok {
                                sp.commit()?;
                                entries.extend(pending);
                            } else {
                                drop(sp); // rolls the job back
                            }
                            completions.push((ok, done));
                        }
                        txn.commit()
                    })();
                    let durable = committed.is_ok();
                    if let Err(e) = &committed {
                        tracing::error!(error = %e, "store commit failed; the batch is rolled back");
                    } else if !entries.is_empty() {
                        size += entries.len() as u64;
                        on_commit(&entries);
                    }
                    for (ok, done) in completions {
                        done(durable && ok);
                    }
                }
            })
            .expect("spawning store thread");
        Store { jobs: tx }
    }

    /// Runs `f` in a transaction; its result is returned once the transaction is durable. An
    /// `Err` rolls back everything `f` did.
    pub async fn write<R, F>(&self, f: F) -> anyhow::Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> anyhow::Result<R> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<anyhow::Result<R>>();
        let job: Job = Box::new(move |t| {
            let result = f(t);
            let ok = result.is_ok();
            let done: Completion = Box::new(move |durable| {
                let out = match result {
                    Ok(r) if durable => Ok(r),
                    Ok(_) => Err(anyhow::anyhow!("the store could not commit")),
                    Err(e) => Err(e),
                };
                let _ = tx.send(out);
            });
            (ok, done)
        });
        self.jobs
            .send(job)
            .map_err(|_| anyhow::anyhow!("the store has stopped"))?;
        rx.await
            .map_err(|_| anyhow::anyhow!("the store has stopped"))?
    }

    /// Read-only work goes through the same thread: it sees every acknowledged write.
    pub async fn read<R, F>(&self, f: F) -> anyhow::Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Savepoint<'_>) -> anyhow::Result<R> + Send + 'static,
    {
        self.write(move |t| f(t.db)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[tokio::test]
    async fn failed_jobs_roll_back_and_others_commit() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_connection(&dir.path().join("s.db")).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = seen.clone();
        let store = Store::start(
            conn,
            0,
            Box::new(move |e| s2.lock().unwrap().extend_from_slice(e)),
        );
        let bad = store.write(|t| -> anyhow::Result<()> {
            t.db.execute("INSERT INTO meta VALUES ('a', x'01')", [])?;
            t.log(b"lost".to_vec())?;
            anyhow::bail!("refused")
        });
        let good = store.write(|t| {
            t.db.execute("INSERT INTO meta VALUES ('b', x'02')", [])?;
            t.log(b"kept".to_vec())
        });
        let (bad, good) = tokio::join!(bad, good);
        assert!(bad.is_err());
        assert_eq!(
            good.unwrap(),
            0,
            "the failed job's entry does not take an index"
        );
        let n: i64 = store
            .read(|db| Ok(db.query_row("SELECT COUNT(*) FROM meta", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(n, 1);
        assert_eq!(seen.lock().unwrap().as_slice(), &[b"kept".to_vec()]);
    }
}
