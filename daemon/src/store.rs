//! The store thread. It owns the SQLite connection and the node core, runs the core's steps
//! and the log's writes in order, and groups the jobs queued while it was busy into a single
//! transaction (one fsync for the group), each job in its own savepoint so one failing job
//! does not undo the others. A job's outputs are released only after the commit: nothing is
//! acknowledged or sent before it is durable.

use crate::clock::{OsRandom, now};
use node_core::{Core, Env, Fault, Input, Output, Tx};
use rusqlite::{Connection, Savepoint};
use std::sync::{Mutex, mpsc};
use tokio::sync::oneshot;

type Completion = Box<dyn FnOnce(bool) + Send>;
type WriteJob = Box<dyn FnOnce(&mut Tx<'_>) -> (bool, Completion) + Send>;

enum Job {
    Step {
        input: Box<Input>,
        done: oneshot::Sender<Vec<Output>>,
    },
    Write(WriteJob),
    Stop,
}

/// Called after each commit with the entries it made durable, in log order.
pub(crate) type OnCommit = Box<dyn FnMut(&[Vec<u8>]) + Send>;

pub(crate) struct Store {
    jobs: mpsc::Sender<Job>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// What one job in a batch left to do once the batch is committed or rolled back.
enum Settle {
    Step {
        origin: node_core::Origin,
        outputs: Vec<Output>,
        done: oneshot::Sender<Vec<Output>>,
    },
    Write(bool, Completion),
}

impl Store {
    /// Starts the store thread. `log_size` is the number of entries already in the log.
    pub(crate) fn start(conn: Connection, core: Core, log_size: u64, on_commit: OnCommit) -> Store {
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("passerelle-store".into())
            .spawn(move || run(conn, core, log_size, on_commit, rx))
            .expect("spawning store thread");
        Store {
            jobs: tx,
            thread: Mutex::new(Some(thread)),
        }
    }

    /// Runs one step of the core; returns its outputs once they are durable.
    pub(crate) async fn step(&self, input: Input) -> anyhow::Result<Vec<Output>> {
        let (done, rx) = oneshot::channel();
        self.jobs
            .send(Job::Step {
                input: Box::new(input),
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
            .send(Job::Write(job))
            .map_err(|_| anyhow::anyhow!("the store has stopped"))?;
        rx.await
            .map_err(|_| anyhow::anyhow!("the store has stopped"))?
    }

    /// Read-only work goes through the same thread: it sees every acknowledged write.
    pub(crate) async fn read<R, F>(&self, f: F) -> anyhow::Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Savepoint<'_>) -> anyhow::Result<R> + Send + 'static,
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

fn run(
    mut conn: Connection,
    mut core: Core,
    log_size: u64,
    mut on_commit: OnCommit,
    rx: mpsc::Receiver<Job>,
) {
    let mut size = log_size;
    let mut stopping = false;
    while !stopping {
        let Ok(first) = rx.recv() else { break };
        let mut batch = vec![first];
        batch.extend(rx.try_iter().take(255));
        let mut entries: Vec<Vec<u8>> = Vec::new();
        let mut settles: Vec<Settle> = Vec::new();
        let committed = (|| -> rusqlite::Result<()> {
            let mut txn = conn.transaction()?;
            for job in batch.drain(..) {
                let mut pending = Vec::new();
                let sp = txn.savepoint()?;
                let next_index = size + entries.len() as u64;
                let (ok, settle, reload) = {
                    let mut t = Tx::new(&sp, &mut pending, next_index);
                    match job {
                        Job::Stop => {
                            stopping = true;
                            (true, None, false)
                        }
                        Job::Write(f) => {
                            let (ok, done) = f(&mut t);
                            (ok, Some(Settle::Write(ok, done)), false)
                        }
                        Job::Step { input, done } => {
                            let origin = input.origin();
                            let mut random = OsRandom;
                            let mut env = Env {
                                now: now(),
                                random: &mut random,
                            };
                            match core.handle(&mut t, &mut env, *input) {
                                Ok(outputs) => (
                                    true,
                                    Some(Settle::Step {
                                        origin,
                                        outputs,
                                        done,
                                    }),
                                    false,
                                ),
                                Err(fault) => {
                                    let local = matches!(fault, Fault::Local(_));
                                    let outputs = core.failed(origin, &fault);
                                    (
                                        false,
                                        Some(Settle::Step {
                                            origin,
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
                if ok {
                    sp.commit()?;
                    entries.extend(pending);
                } else {
                    drop(sp); // rolls the job back
                }
                if reload && let Err(e) = core.reload(&txn) {
                    tracing::error!(error = %e, "the node's state could not be read again");
                }
                settles.extend(settle);
            }
            txn.commit()
        })();
        let durable = committed.is_ok();
        if let Err(e) = &committed {
            tracing::error!(error = %e, "store commit failed; the batch is rolled back");
            if let Err(e) = core.reload(&conn) {
                tracing::error!(error = %e, "the node's state could not be read again");
            }
        } else if !entries.is_empty() {
            size += entries.len() as u64;
            on_commit(&entries);
        }
        for s in settles {
            match s {
                Settle::Write(ok, done) => done(durable && ok),
                Settle::Step {
                    origin,
                    outputs,
                    done,
                } => {
                    let outputs = if durable {
                        outputs
                    } else {
                        let fault = Fault::Local(anyhow::anyhow!("the store could not commit"));
                        core.failed(origin, &fault)
                    };
                    let _ = done.send(outputs);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn core(db: &Connection) -> Core {
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
}
