//! One simulated node: its store (an in-memory SQLite database that plays the disk and outlives
//! a crash), the core running on it while the node is up, and its staff credentials. A step
//! runs the core in one transaction; its outputs count only if that transaction commits.

use crate::federation::Institution;
use crate::rng::SimRng;
use node_core::case_store::load_case;
use node_core::{Core, Crypto, Env, Fault, Input, Mutants, Output, Tx, Verified};
use protocol_spec::avs::Avs;
use protocol_spec::case::CoordinatedCase;
use protocol_spec::exchange::SignedSummaryRequest;
use protocol_spec::ids::{CaseId, StaffId};
use protocol_spec::keys::PublicKey;
use protocol_spec::roster::SignedRoster;
use rusqlite::{Connection, OptionalExtension};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// Asked for and not confirmed yet.
    Requested,
    Active,
    Revoked,
}

pub struct Worker {
    pub staff: StaffId,
    pub key: PublicKey,
    pub state: Credential,
}

pub struct SimNode {
    pub inst: Institution,
    /// The roster in the node's configuration file.
    pub configured: SignedRoster,
    pub conn: Connection,
    pub core: Option<Core>,
    /// The keys of the work the core hands out, taken from it at start.
    crypto: Option<Crypto>,
    /// Bumped at every crash: answers meant for an earlier run of the node are lost.
    pub incarnation: u64,
    /// The log's size as committed, which the next step's entries follow.
    log_size: u64,
    pub admin: PublicKey,
    pub workers: Vec<Worker>,
    /// Persons in this institution's records.
    pub persons: Vec<Avs>,
    /// Started at least once (the joiner starts only once it is in the roster), and still a
    /// member.
    pub joined: bool,
    /// Leaving the federation: its staff take no new work while its outbox drains.
    pub departing: bool,
    /// Removed from the federation: stopped for good.
    pub removed: bool,
    /// Decoded cases, so a case is decoded again only once its history grew.
    cases: RefCell<BTreeMap<CaseId, Cached>>,
}

/// A decoded case, with the length and last bytes of the stored history it was decoded from.
type Cached = (i64, Vec<u8>, Rc<CoordinatedCase>);

/// What one step did.
pub struct Step {
    pub outputs: Vec<Output>,
    /// The transaction committed; otherwise `outputs` are the core's answers to a failure.
    pub committed: bool,
    pub fault: Option<String>,
}

impl SimNode {
    pub fn new(inst: Institution, configured: SignedRoster) -> anyhow::Result<Self> {
        let admin = inst.staff_key("admin");
        Ok(SimNode {
            inst,
            configured,
            conn: node_core::store::open_in_memory()?,
            core: None,
            crypto: None,
            incarnation: 0,
            log_size: 0,
            admin,
            workers: Vec::new(),
            persons: Vec::new(),
            joined: false,
            departing: false,
            removed: false,
            cases: RefCell::new(BTreeMap::new()),
        })
    }

    pub fn is_up(&self) -> bool {
        self.core.is_some()
    }

    /// Starts (or restarts) the node from its store.
    pub fn start(&mut self, now: u64, mutants: Mutants) -> anyhow::Result<()> {
        let mut core = Core::load(
            &self.conn,
            self.inst.id.clone(),
            self.inst.secrets(),
            self.configured.clone(),
            self.inst.admin(),
            now,
        )?;
        core.mutants = mutants;
        self.log_size = node_core::store::log_size(&self.conn)?;
        let witness = protocol_spec::keys::SigningKey::from_seed(self.inst.seed("witness"));
        self.crypto = Some(core.crypto().with_witness(&witness));
        self.core = Some(core);
        self.joined = true;
        Ok(())
    }

    /// Everything not committed is lost: in-flight sends, waiting staff members.
    pub fn crash(&mut self) {
        self.core = None;
        self.incarnation += 1;
    }

    pub fn crypto(&self) -> &Crypto {
        self.crypto.as_ref().expect("the node is up")
    }

    pub fn core(&self) -> &Core {
        self.core.as_ref().expect("the node is up")
    }

    /// Runs one input in one transaction. With `store_fault` the transaction is rolled back
    /// even though the core succeeded, as a failed disk write would.
    pub fn step(
        &mut self,
        input: Input,
        verified: &Verified,
        presigned: Option<&SignedSummaryRequest>,
        now: u64,
        rng: &mut SimRng,
        store_fault: bool,
    ) -> anyhow::Result<Step> {
        let origin = input.origin();
        let SimNode {
            conn,
            core,
            log_size,
            ..
        } = self;
        let core = core.as_mut().expect("a step runs on a node that is up");
        let mut txn = conn.transaction()?;
        let result = {
            let sp = txn.savepoint()?;
            let mut pending = Vec::new();
            let mut env = Env {
                now,
                random: rng,
                verified,
                presigned,
            };
            let r = {
                let mut tx = Tx::new(&sp, &mut pending, *log_size);
                core.handle(&mut tx, &mut env, input)
            };
            match r {
                Ok(outputs) if !store_fault => {
                    sp.commit()?;
                    Ok((outputs, pending.len() as u64))
                }
                Ok(_) => Err(Fault::Local(anyhow::anyhow!("injected store fault"))),
                Err(fault) => Err(fault),
            }
        };
        match result {
            Ok((outputs, appended)) => {
                txn.commit()?;
                *log_size += appended;
                Ok(Step {
                    outputs,
                    committed: true,
                    fault: None,
                })
            }
            Err(fault) => {
                txn.rollback()?;
                let outputs = core.failed(origin, &fault);
                let fault = match fault {
                    Fault::Local(e) => {
                        core.reload(conn)?;
                        format!("local: {e:#}")
                    }
                    Fault::Refused(kind, m) => format!("refused ({kind:?}): {m}"),
                };
                Ok(Step {
                    outputs,
                    committed: false,
                    fault: Some(fault),
                })
            }
        }
    }

    /// The case as committed in the store.
    pub fn case(&self, case_id: &CaseId) -> anyhow::Result<Option<Rc<CoordinatedCase>>> {
        let row: Option<(i64, Vec<u8>)> = self
            .conn
            .query_row(
                "SELECT length(history), substr(history, -64) FROM cases WHERE case_id = ?1",
                [case_id.0.to_vec()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        row.map(|(len, tail)| self.cached(*case_id, len, tail))
            .transpose()
    }

    /// Every case this node holds, as committed, in store order.
    /// Received summaries not purged yet, from the committed store.
    pub fn unpurged_summaries(&self) -> anyhow::Result<Vec<protocol_spec::ids::SummaryId>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT summary_id FROM summaries WHERE purged_at IS NULL")?;
        let rows = st.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
        let mut out = Vec::new();
        for id in rows {
            let id: [u8; 16] = id?
                .try_into()
                .map_err(|_| anyhow::anyhow!("corrupt summary id"))?;
            out.push(protocol_spec::ids::SummaryId(id));
        }
        Ok(out)
    }

    pub fn cases(&self) -> anyhow::Result<Vec<Rc<CoordinatedCase>>> {
        let mut st = self.conn.prepare_cached(
            "SELECT case_id, length(history), substr(history, -64) FROM cases ORDER BY rowid",
        )?;
        let rows = st.query_map([], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?, r.get(2)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, len, tail) = row?;
            let id = CaseId(
                id.try_into()
                    .map_err(|_| anyhow::anyhow!("corrupt case id"))?,
            );
            out.push(self.cached(id, len, tail)?);
        }
        Ok(out)
    }

    /// A history only grows, so its length and last bytes tell whether the decoded copy is
    /// still the stored one.
    fn cached(
        &self,
        case_id: CaseId,
        len: i64,
        tail: Vec<u8>,
    ) -> anyhow::Result<Rc<CoordinatedCase>> {
        let mut cache = self.cases.borrow_mut();
        if let Some((l, t, c)) = cache.get(&case_id)
            && *l == len
            && *t == tail
        {
            return Ok(c.clone());
        }
        let case = load_case(&self.conn, &case_id)?
            .ok_or_else(|| anyhow::anyhow!("case {case_id} vanished"))?;
        let case = Rc::new(std::sync::Arc::unwrap_or_clone(case));
        cache.insert(case_id, (len, tail, case.clone()));
        Ok(case)
    }

    /// The committed log's entries from index `from` on.
    pub fn log_entries_from(&self, from: u64) -> anyhow::Result<Vec<Vec<u8>>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT entry FROM log_entries WHERE idx >= ?1 ORDER BY idx")?;
        let rows = st.query_map([from as i64], |r| r.get::<_, Vec<u8>>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn outbox_len(&self) -> anyhow::Result<u64> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))?;
        Ok(n as u64)
    }

    pub fn active_workers(&self) -> Vec<(StaffId, PublicKey)> {
        self.workers
            .iter()
            .filter(|w| w.state == Credential::Active)
            .map(|w| (w.staff.clone(), w.key))
            .collect()
    }
}
