//! The store thread. It owns the SQLite connection and the node core, runs the core's steps
//! and the log's writes in order, and groups the jobs queued while it was busy into a single
//! transaction, each job in its own savepoint so one failing job does not undo the others. A
//! job's outputs are released only once its commit is durable (`durable.rs`: one sync of the
//! write-ahead log per batch, before the next begins): nothing is acknowledged or sent before
//! it is durable. When the disk fails (full, read-only, an I/O error), whoever waits is told
//! so plainly, the node's status reports it until a write succeeds again, and the thread goes
//! on serving.

use crate::clock::{OsRandom, now};
use crate::durable::{Durability, Finished, OnCommit, Release, wal_sync};
use crate::metrics::Metrics;
use node_core::{Core, Env, Fault, Input, Output, StoreProblem, Tx, Verified};
use protocol_spec::exchange::SignedSummaryRequest;
use rusqlite::Connection;
use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Instant;
use tokio::sync::oneshot;

/// Told whether the job's batch was made durable: `Ok`, or why not.
type Completion = Box<dyn FnOnce(Result<(), NotCommitted>) + Send>;
type WriteJob = Box<dyn FnOnce(&mut Tx<'_>) -> (bool, Completion) + Send>;

enum Job {
    Step {
        input: Box<Input>,
        verified: Verified,
        presigned: Option<Box<SignedSummaryRequest>>,
        done: oneshot::Sender<Vec<Output>>,
    },
    Write(WriteJob),
    Stop,
}

/// Why a batch was not made durable: the storage problem, when the disk is what failed.
#[derive(Debug, Clone, Copy)]
struct NotCommitted(Option<StoreProblem>);

impl NotCommitted {
    fn error(self) -> anyhow::Error {
        match self.0 {
            Some(p) => anyhow::Error::new(p),
            None => anyhow::anyhow!("the store could not commit"),
        }
    }
}

pub(crate) struct Store {
    jobs: mpsc::Sender<Job>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// The storage problem the store thread last met, as `node status` reports it; read by
    /// `/readyz` without a round trip to a thread that may be stuck.
    problem: Arc<Mutex<Option<StoreProblem>>>,
}

/// What one job in a batch left to do once the batch is committed or rolled back.
enum Settle {
    Step {
        origin: node_core::Origin,
        /// The step failed on its own: its outputs already answer for nothing done.
        failed: bool,
        /// It wrote nothing and saw only committed state: its outputs stand whatever becomes
        /// of the batch (a status asked while the disk is full still gets its answer).
        clean: bool,
        outputs: Vec<Output>,
        done: oneshot::Sender<Vec<Output>>,
    },
    Write {
        done: Completion,
        clean: bool,
    },
}

impl Store {
    /// Starts the store thread. `log_size` is the number of entries already in the log.
    pub(crate) fn start(
        conn: Connection,
        core: Core,
        log_size: u64,
        on_commit: OnCommit,
        metrics: Arc<Metrics>,
    ) -> Store {
        let (tx, rx) = mpsc::channel::<Job>();
        let problem = Arc::new(Mutex::new(None));
        let seen = Seen {
            problem: problem.clone(),
            metrics,
        };
        let thread = std::thread::Builder::new()
            .name("passerelle-store".into())
            .spawn(move || run(conn, core, log_size, on_commit, seen, rx))
            .expect("spawning store thread");
        Store {
            jobs: tx,
            thread: Mutex::new(Some(thread)),
            problem,
        }
    }

    /// The storage problem that keeps the store from recording now, if any.
    pub(crate) fn problem(&self) -> Option<StoreProblem> {
        *self.problem.lock().unwrap()
    }

    /// Runs one step of the core, with the signatures checked before it and the summary request
    /// signed ahead for it, if any; returns its outputs once they are durable.
    pub(crate) async fn step(
        &self,
        input: Input,
        verified: Verified,
        presigned: Option<SignedSummaryRequest>,
    ) -> anyhow::Result<Vec<Output>> {
        let (done, rx) = oneshot::channel();
        self.jobs
            .send(Job::Step {
                input: Box::new(input),
                verified,
                presigned: presigned.map(Box::new),
                done,
            })
            .map_err(|_| anyhow::anyhow!("the store has stopped"))?;
        rx.await
            .map_err(|_| anyhow::anyhow!("the store has stopped"))
    }

    /// Runs `f` in a transaction; its result is returned once the transaction is durable. An
    /// `Err` rolls back everything `f` did.
    pub(crate) async fn write<R, F>(&self, f: F) -> anyhow::Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> anyhow::Result<R> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<anyhow::Result<R>>();
        let job: WriteJob = Box::new(move |t| {
            let result = f(t);
            let ok = result.is_ok();
            let done: Completion = Box::new(move |durable| {
                let out = match (result, durable) {
                    (Ok(r), Ok(())) => Ok(r),
                    (Ok(_), Err(not)) => Err(not.error()),
                    (Err(e), _) => Err(e),
                };
                let _ = tx.send(out);
            });
            (ok, done)
        });
        self.jobs
            .send(Job::Write(job))
            .map_err(|_| anyhow::anyhow!("the store has stopped"))?;
        rx.await
            .map_err(|_| anyhow::anyhow!("the store has stopped"))?
    }

    /// Read-only work goes through the same thread: it sees every acknowledged write.
    pub(crate) async fn read<R, F>(&self, f: F) -> anyhow::Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> anyhow::Result<R> + Send + 'static,
    {
        self.write(move |t| f(t.db)).await
    }

    /// Finishes the queued jobs and joins the store thread.
    pub(crate) fn stop(&self) {
        let _ = self.jobs.send(Job::Stop);
        if let Some(t) = self.thread.lock().unwrap().take() {
            let _ = t.join();
        }
    }
}

/// What an I/O error of the store means for the disk under it. SQLite reports a write refused
/// by a read-only file system, or a shared-memory file that cannot grow on a full disk, as a
/// bare I/O error: a small file written in the data directory tells which.
pub fn probe_disk(dir: &Path) -> StoreProblem {
    let probe = dir.join(".write-check");
    let written = std::fs::write(&probe, [0u8; 512]);
    let _ = std::fs::remove_file(&probe);
    match written {
        Err(e) => StoreProblem::of_io(&e).unwrap_or(StoreProblem::Failed),
        Ok(()) => StoreProblem::Failed,
    }
}

/// The storage problem `e` is, if any, with a bare I/O error named by probing the disk.
fn classify(conn: &Connection, e: &anyhow::Error) -> Option<StoreProblem> {
    match StoreProblem::of(e)? {
        StoreProblem::Failed => Some(match conn.path().and_then(|p| Path::new(p).parent()) {
            Some(dir) => probe_disk(dir),
            None => StoreProblem::Failed,
        }),
        p => Some(p),
    }
}

/// The transaction of a batch, controlled through cached statements: rusqlite's transactions
/// and savepoints parse their `BEGIN`, `SAVEPOINT` and `RELEASE` anew each time, which was a
/// tenth of the store thread's time. Rolled back if dropped unfinished.
struct Batch<'c> {
    conn: &'c Connection,
    finished: bool,
}

impl<'c> Batch<'c> {
    fn begin(conn: &'c Connection) -> rusqlite::Result<Batch<'c>> {
        let batch = Batch {
            conn,
            finished: false,
        };
        batch.run("BEGIN")?;
        Ok(batch)
    }

    fn run(&self, sql: &str) -> rusqlite::Result<()> {
        self.conn.prepare_cached(sql)?.execute([])?;
        Ok(())
    }

    fn commit(mut self) -> rusqlite::Result<()> {
        self.run("COMMIT")?;
        self.finished = true;
        Ok(())
    }

    fn rollback(mut self) -> rusqlite::Result<()> {
        self.finished = true;
        if self.conn.is_autocommit() {
            return Ok(());
        }
        self.run("ROLLBACK")
    }
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        if !self.finished && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

/// What the store thread shows outside it: its storage problem and its commit latency.
struct Seen {
    problem: Arc<Mutex<Option<StoreProblem>>>,
    metrics: Arc<Metrics>,
}

fn run(
    conn: Connection,
    mut core: Core,
    log_size: u64,
    on_commit: OnCommit,
    seen: Seen,
    rx: mpsc::Receiver<Job>,
) {
    // Durable once `durable` has synced the write-ahead log, not when SQLite returns.
    if let Err(e) = conn.pragma_update(None, "synchronous", "NORMAL") {
        tracing::warn!(error = %e, "the store keeps syncing each commit itself");
    }
    if let Err(e) = conn.pragma_update(None, "wal_autocheckpoint", crate::wal::CHECKPOINT_PAGES) {
        tracing::warn!(error = %e, "the store checkpoints at SQLite's default size");
    }
    let mut durable = Durability::new(
        wal_sync(conn.path().map(std::path::PathBuf::from)),
        on_commit,
        seen.metrics.clone(),
    );
    let mut size = log_size;
    let mut stopping = false;
    while !stopping {
        let Ok(first) = rx.recv() else {
            break;
        };
        let mut batch = vec![first];
        batch.extend(rx.try_iter().take(255));
        let mut entries: Vec<Vec<u8>> = Vec::new();
        let mut settles: Vec<Settle> = Vec::new();
        // A storage problem a job met, and whether SQLite then cancelled the whole transaction:
        // then nothing of the batch is durable, and it is rolled back whatever the later jobs do.
        let mut met: Option<StoreProblem> = None;
        let mut cancelled = false;
        // Whether a job that succeeded wrote anything: its commit shows the disk records again.
        let mut wrote = false;
        let began = Instant::now();
        let committed = (|| -> rusqlite::Result<()> {
            let txn = Batch::begin(&conn)?;
            for job in batch.drain(..) {
                let mut pending = Vec::new();
                txn.run("SAVEPOINT job")?;
                let before = conn.total_changes();
                let next_index = size + entries.len() as u64;
                let (ok, mut settle, reload) = {
                    let mut t = Tx::new(&conn, &mut pending, next_index);
                    match job {
                        Job::Stop => {
                            stopping = true;
                            (true, None, false)
                        }
                        Job::Write(f) => {
                            let (ok, done) = f(&mut t);
                            (ok, Some(Settle::Write { done, clean: false }), false)
                        }
                        Job::Step {
                            input,
                            verified,
                            presigned,
                            done,
                        } => {
                            let origin = input.origin();
                            let mut random = OsRandom;
                            let mut env = Env {
                                now: now(),
                                random: &mut random,
                                verified: &verified,
                                presigned: presigned.as_deref(),
                            };
                            match core.handle(&mut t, &mut env, *input) {
                                Ok(outputs) => (
                                    true,
                                    Some(Settle::Step {
                                        origin,
                                        failed: false,
                                        clean: false,
                                        outputs,
                                        done,
                                    }),
                                    false,
                                ),
                                Err(fault) => {
                                    let local = matches!(fault, Fault::Local(_));
                                    let fault = match fault {
                                        Fault::Local(e) => match classify(t.db, &e) {
                                            Some(p) => {
                                                met = Some(p);
                                                Fault::Local(e.context(p))
                                            }
                                            None => Fault::Local(e),
                                        },
                                        refused => refused,
                                    };
                                    let outputs = core.failed(origin, &fault);
                                    (
                                        false,
                                        Some(Settle::Step {
                                            origin,
                                            failed: true,
                                            clean: false,
                                            outputs,
                                            done,
                                        }),
                                        local,
                                    )
                                }
                            }
                        }
                    }
                };
                let unchanged = conn.total_changes() == before;
                if let Some(Settle::Step { clean, .. } | Settle::Write { clean, .. }) = &mut settle
                {
                    *clean = unchanged && !wrote;
                }
                settles.extend(settle);
                if ok {
                    wrote |= !unchanged;
                    txn.run("RELEASE job")?;
                    entries.extend(pending);
                } else if !conn.is_autocommit() {
                    txn.run("ROLLBACK TO job")?;
                    txn.run("RELEASE job")?;
                }
                if conn.is_autocommit() {
                    // SQLite cancelled the whole transaction, as it may on a full disk or an
                    // I/O error. The jobs left run in a new one that is rolled back too: a job's
                    // savepoint released outside a transaction would commit on its own.
                    cancelled = true;
                    txn.run("BEGIN")?;
                }
                if reload && let Err(e) = core.reload(&conn) {
                    tracing::error!(error = %e, "the node's state could not be read again");
                }
            }
            if cancelled {
                txn.rollback() // whatever is left of it
            } else {
                txn.commit()
            }
        })();
        let failure = match committed {
            Ok(()) if !cancelled => None,
            Ok(()) => Some(NotCommitted(met)),
            Err(e) => {
                let e = anyhow::Error::from(e);
                let problem = classify(&conn, &e).or(met);
                match problem {
                    Some(p) => {
                        tracing::error!(error = %e, problem = %p, "store commit failed; the batch is rolled back")
                    }
                    None => {
                        tracing::error!(error = %e, "store commit failed; the batch is rolled back")
                    }
                }
                Some(NotCommitted(problem))
            }
        };
        if cancelled {
            tracing::error!("the store transaction was cancelled; the batch is rolled back");
        }
        match failure {
            Some(_) => {
                if let Err(e) = core.reload(&conn) {
                    tracing::error!(error = %e, "the node's state could not be read again");
                }
            }
            None => size += entries.len() as u64,
        }
        // What the status reports: the problem met, until a write is durable again.
        let problem = failure.and_then(|f| f.0).or(met);
        if let Some(p) = problem {
            if core.store_problem() != Some(p) {
                tracing::error!(problem = %p, advice = p.advice(), "the node's store cannot record");
            }
            core.set_store_problem(Some(p));
        } else if failure.is_none() && wrote && core.store_problem().is_some() {
            tracing::info!("the node's store records again");
            core.set_store_problem(None);
        }
        *seen.problem.lock().unwrap() = core.store_problem();
        let mut releases: Vec<Release> = Vec::with_capacity(settles.len());
        for s in settles {
            match s {
                Settle::Write { done, clean } => {
                    let durable = match failure {
                        Some(f) if !clean => Err(f),
                        _ => Ok(()),
                    };
                    releases.push(Box::new(move || done(durable)));
                }
                Settle::Step {
                    origin,
                    failed,
                    clean,
                    outputs,
                    done,
                } => {
                    let outputs = match failure {
                        Some(f) if !failed && !clean => {
                            core.failed(origin, &Fault::Local(f.error()))
                        }
                        _ => outputs,
                    };
                    releases.push(Box::new(move || {
                        let _ = done.send(outputs);
                    }));
                }
            }
        }
        let kept = failure.is_none();
        // Jobs that arrive while the disk syncs form the next batch.
        durable.finished(Finished {
            wrote: kept && wrote,
            entries: if kept { entries } else { Vec::new() },
            releases,
            began,
        });
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use protocol_spec::exchange::{Refusal, RefusalCode};
    use protocol_spec::peer::PeerReply;
    use protocol_spec::staff::{StaffErrorKind, StaffReply};

    /// A core for a one-member federation, over `db`.
    pub(crate) fn core(db: &Connection) -> Core {
        let seed = [7u8; 32];
        let signing = protocol_spec::keys::SigningKey::from_seed(seed);
        let authority = protocol_spec::keys::SigningKey::from_seed([9; 32]);
        let me: protocol_spec::ids::InstitutionId = "ne.orp".parse().unwrap();
        let roster = protocol_spec::roster::Roster {
            federation: "f".into(),
            version: 1,
            issued_at: 0,
            authorities: protocol_spec::roster::Authorities {
                threshold: 1,
                keys: vec![protocol_spec::roster::Authority {
                    name: "a1".into(),
                    key: authority.public(),
                }],
            },
            members: vec![protocol_spec::roster::Member {
                id: me.clone(),
                name: "orp".into(),
                sector: "employment".parse().unwrap(),
                address: "127.0.0.1:1".into(),
                signing_key: signing.public(),
                encryption_key: protocol_spec::keys::EncryptionKey::from_secret([1; 32]).public(),
                log_key: protocol_spec::keys::PublicKey([2; 32]),
                witness_key: protocol_spec::keys::PublicKey([3; 32]),
                witnesses: vec![],
                witness_quorum: 0,
            }],
            policy: vec![],
            former_keys: vec![],
            former_log_keys: vec![],
            retention: vec![],
            statistics: None,
        };
        let roster = protocol_spec::roster::SignedRoster::sign(roster, &[&authority]);
        Core::load(
            db,
            me,
            node_core::Secrets {
                signing,
                encryption: protocol_spec::keys::EncryptionKey::from_secret([1; 32]),
                log: protocol_spec::keys::PublicKey([2; 32]),
                witness: protocol_spec::keys::PublicKey([3; 32]),
                former_encryption: vec![],
            },
            roster,
            node_core::BootstrapAdmin {
                staff: "admin".parse().unwrap(),
                key: protocol_spec::keys::PublicKey([4; 32]),
            },
            0,
        )
        .unwrap()
    }

    #[tokio::test]
    async fn failed_jobs_roll_back_and_others_commit() {
        let dir = tempfile::tempdir().unwrap();
        let conn = node_core::store::open(&dir.path().join("s.db")).unwrap();
        let core = core(&conn);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = seen.clone();
        let store = Store::start(
            conn,
            core,
            0,
            Box::new(move |e| s2.lock().unwrap().extend_from_slice(e)),
            Arc::new(Metrics::new()),
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
            .read(|db| {
                Ok(db.query_row(
                    "SELECT COUNT(*) FROM meta WHERE key IN ('a', 'b')",
                    [],
                    |r| r.get(0),
                )?)
            })
            .await
            .unwrap();
        assert_eq!(n, 1);
        assert_eq!(seen.lock().unwrap().as_slice(), &[b"kept".to_vec()]);
        store.stop();
        assert!(
            store.read(|_| Ok(())).await.is_err(),
            "a stopped store refuses work"
        );
    }

    /// Holds the store thread in a job until the sender is used or dropped, so the jobs sent
    /// meanwhile make one batch.
    async fn hold(store: &Arc<Store>) -> std::sync::mpsc::Sender<()> {
        let (gate, wait) = std::sync::mpsc::channel::<()>();
        let s = store.clone();
        tokio::spawn(async move {
            s.write(move |_| {
                let _ = wait.recv();
                Ok(())
            })
            .await
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        gate
    }

    async fn meta_keys(store: &Store) -> Vec<String> {
        store
            .read(|db| {
                let mut st =
                    db.prepare("SELECT key FROM meta WHERE key IN ('a', 'c') ORDER BY key")?;
                let keys = st.query_map([], |r| r.get(0))?;
                Ok(keys.collect::<Result<Vec<String>, _>>()?)
            })
            .await
            .unwrap()
    }

    /// SQLite may cancel a whole transaction on a full disk or an I/O error. Nothing of the batch
    /// is then acknowledged, and nothing after it is committed behind its caller's back; what
    /// only read committed state is still answered.
    #[tokio::test]
    async fn a_cancelled_transaction_acknowledges_nothing_and_commits_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let conn = node_core::store::open(&dir.path().join("s.db")).unwrap();
        let core = core(&conn);
        let store = Arc::new(Store::start(
            conn,
            core,
            0,
            Box::new(|_| {}),
            Arc::new(Metrics::new()),
        ));
        let gate = hold(&store).await;
        let read = store
            .read(|db| Ok(db.query_row("SELECT COUNT(*) FROM staff", [], |r| r.get::<_, i64>(0))?));
        let a = store.write(|t| {
            t.db.execute("INSERT INTO meta VALUES ('a', x'01')", [])?;
            Ok(())
        });
        let cancel = store.write(|t| -> anyhow::Result<()> {
            t.db.execute_batch("ROLLBACK")?; // as SQLite does on some storage failures
            anyhow::bail!("cancelled")
        });
        let c = store.write(|t| {
            t.db.execute("INSERT INTO meta VALUES ('c', x'03')", [])?;
            Ok(())
        });
        let release = async {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            gate.send(()).unwrap();
        };
        let (read, a, cancel, c, ()) = tokio::join!(read, a, cancel, c, release);
        assert_eq!(read.unwrap(), 1, "a read of committed state is answered");
        assert!(a.is_err(), "cancelled with the transaction");
        assert!(cancel.is_err());
        assert!(
            c.is_err(),
            "run after the cancellation, rolled back with the batch"
        );
        assert!(meta_keys(&store).await.is_empty(), "nothing was committed");
        // The store goes on.
        store
            .write(|t| Ok(t.db.execute("INSERT INTO meta VALUES ('a', x'01')", [])?))
            .await
            .unwrap();
        assert_eq!(meta_keys(&store).await, ["a"]);
        store.stop();
    }

    #[test]
    fn a_full_disk_is_named_to_staff_and_peers_are_answered_unavailable() {
        let conn = node_core::store::open_in_memory().unwrap();
        let mut core = core(&conn);
        let full = || {
            Fault::Local(anyhow::Error::from(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
                None,
            )))
        };
        let out = core.failed(node_core::Origin::Staff(7), &full());
        let [
            Output::StaffReply {
                ticket: 7,
                reply: StaffReply::Error(e),
            },
        ] = out.as_slice()
        else {
            panic!("{out:?}")
        };
        assert_eq!(e.kind, StaffErrorKind::Internal);
        assert_eq!(
            e.message,
            "the node's store is full: no space left on its disk; nothing was done"
        );
        assert_eq!(
            core.failed(node_core::Origin::Peer, &full()),
            [Output::PeerReply(PeerReply::Refusal(Refusal {
                code: RefusalCode::Unavailable
            }))]
        );
        // A problem a driver named is said as it named it.
        let read_only =
            Fault::Local(anyhow::anyhow!("disk I/O error").context(StoreProblem::ReadOnly));
        let out = core.failed(node_core::Origin::Staff(8), &read_only);
        assert!(
            matches!(&out[..], [Output::StaffReply { reply: StaffReply::Error(e), .. }]
                if e.message == "the node's store is read-only; nothing was done"),
            "{out:?}"
        );
    }
}
