//! The core's state: durable state is in the store; the [`Core`] holds caches of it (the roster,
//! the active staff) and what is in flight, which a crash may lose: outbox items handed to the
//! driver, and staff members waiting for an outcome.

use crate::io::{Fault, Output, Ticket, Token, bad};
use crate::store::StoreProblem;
use anyhow::{Context, anyhow, bail};
use protocol_spec::ids::{CaseId, ConsentId, InstitutionId, Role, StaffId};
use protocol_spec::keys::{EncryptionKey, PublicKey, SigningKey};
use protocol_spec::roster::SignedRoster;
use protocol_spec::staff::{Delivery, StaffErrorKind, StaffReply};
use rusqlite::{Connection, OptionalExtension};
use std::collections::HashMap;

#[derive(Clone, Debug)]
pub(crate) struct StaffMember {
    pub(crate) staff: StaffId,
    pub(crate) role: Role,
}

/// The node's private keys.
pub struct Secrets {
    pub signing: SigningKey,
    pub encryption: EncryptionKey,
    /// Public halves of the log and witness keys, to check a roster lists what the node holds.
    pub log: PublicKey,
    pub witness: PublicKey,
    /// Encryption keys replaced by a key rotation, newest first: the summaries stored before
    /// it, or sealed by peers still holding the previous roster, open with one of them.
    pub former_encryption: Vec<EncryptionKey>,
}

/// The first administrator, registered when the store has no staff yet.
pub struct BootstrapAdmin {
    pub staff: StaffId,
    pub key: PublicKey,
}

/// Deliberately broken variants, for showing that the simulator's invariants catch them.
#[cfg(feature = "mutants")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mutants {
    /// The responder ignores revocations.
    pub responder_ignores_revocation: bool,
    /// The requester sends queued requests without checking its own state again.
    pub requester_skips_recheck: bool,
    /// The responder decides retries afresh instead of answering with its earlier reply.
    pub responder_forgets_replies: bool,
    /// The responder releases a disclosure sealed off the store thread without judging the
    /// request again on the state committed meanwhile.
    pub responder_releases_stale_seal: bool,
    /// The witness judges every checkpoint as if it had cosigned nothing before.
    pub witness_forgets_its_state: bool,
}

/// The node's state machine. Durable state is in the store; this holds caches of it (roster,
/// staff) and what is in flight, which a crash may lose.
pub struct Core {
    pub(crate) me: InstitutionId,
    pub(crate) keys: Secrets,
    pub(crate) roster: std::sync::Arc<SignedRoster>,
    pub(crate) staff: HashMap<PublicKey, StaffMember>,
    /// Outbox items handed to the driver and not yet answered.
    pub(crate) in_flight: HashMap<Token, InFlight>,
    /// Those of them that carry the roster, at most [`crate::delivery::ROSTERS_IN_FLIGHT`].
    pub(crate) rosters_in_flight: std::collections::BTreeSet<Token>,
    /// When each member was last heard from (a message or an answer, roster offers aside): a
    /// new roster is offered first to those this node works with, who are likely reachable.
    /// Ordered, so that offers leave in the same order in every run of a seed.
    pub(crate) heard: std::collections::BTreeMap<InstitutionId, u64>,
    /// Roster items whose recipient asked for the roster itself after its version was offered.
    pub(crate) rosters_wanted: std::collections::BTreeSet<Token>,
    /// The digest of the roster it was computed for: a roster of 10,000 members takes about
    /// a millisecond to hash, and each member is offered its version.
    roster_digest: Option<(std::sync::Arc<SignedRoster>, [u8; 32])>,
    /// Outbox items queued (or to be sent again) in the current step: sent once it ends.
    pub(crate) to_send: Vec<Token>,
    /// A staff member waiting for the outcome of the summary request sent as `Token`.
    pub(crate) waiting: HashMap<Token, Ticket>,
    /// Staff members waiting for case-history deliveries.
    pub(crate) deliveries: Vec<PendingDeliveries>,
    /// What keeps the store from recording, as the driver last found it; reported by
    /// `Status`.
    pub(crate) store_problem: Option<StoreProblem>,
    /// When to look for summaries past their retention next (at the first tick after a start).
    pub(crate) next_retention_scan: u64,
    /// This node's secrets of the overlap rounds it takes part in: never stored, lost with
    /// the process (spec/statistics.md §10.2).
    pub(crate) psi_secrets: crate::stats::psi::jobs::Secrets,
    /// The time part of the last local id this node drew ([`Core::next_millis`]).
    last_millis: u64,
    #[cfg(feature = "mutants")]
    pub mutants: Mutants,
}

/// How long an item handed to the driver may stay unanswered before it is sent again. Longer
/// than a driver takes to report a send (the daemon gives up on an answer within 5 s to
/// connect and 120 s for a large message): sent again while its earlier send is still out, an
/// item could be settled by the answer to that earlier send, which lacks what rode on it since.
/// It is the fallback for a driver that never reports.
pub const IN_FLIGHT_TIMEOUT: u64 = 180;

/// An item handed to the driver and not answered yet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InFlight {
    pub(crate) since: u64,
    /// What it carries changed after it left: send it again once answered.
    pub(crate) stale: bool,
}

/// What a staff member waits for after a case change: the answers of the peers it was sent to.
pub(crate) struct PendingDeliveries {
    pub(crate) ticket: Ticket,
    pub(crate) awaiting: Vec<(Token, InstitutionId)>,
    pub(crate) done: Vec<Delivery>,
    pub(crate) reply: Reply,
}

pub(crate) enum Reply {
    Opened(CaseId),
    Updated,
    Consent(ConsentId),
    /// A signed monthly report queued for the dashboard member.
    StatsSent {
        month: protocol_spec::stats::Month,
        sequence: u32,
        dashboard: InstitutionId,
        digest: [u8; 32],
    },
}

impl Core {
    /// The staff member a statement signed off the store thread is recorded for, unless their
    /// credential was revoked while it was signed.
    pub(crate) fn signer(&self, staff: &StaffId) -> Result<StaffMember, Fault> {
        self.staff
            .values()
            .find(|m| &m.staff == staff)
            .cloned()
            .ok_or_else(|| {
                Fault::Refused(
                    StaffErrorKind::Forbidden,
                    "this staff credential was revoked".into(),
                )
            })
    }

    /// Notes that `member` was heard from at `now`.
    pub(crate) fn heard_from(&mut self, member: &InstitutionId, now: u64) {
        match self.heard.get_mut(member) {
            Some(t) => *t = now,
            None => {
                self.heard.insert(member.clone(), now);
            }
        }
    }

    /// The digest of the roster in force (spec §5.2).
    pub(crate) fn roster_digest(&mut self) -> [u8; 32] {
        match &self.roster_digest {
            Some((r, d)) if std::sync::Arc::ptr_eq(r, &self.roster) => *d,
            _ => {
                let d = self.roster.digest();
                self.roster_digest = Some((self.roster.clone(), d));
                d
            }
        }
    }

    /// The member a peer message came from, by the key the transport authenticated; a key the
    /// roster in force no longer lists is refused.
    pub(crate) fn sender(&self, from: &PublicKey) -> Result<InstitutionId, Fault> {
        self.roster
            .roster
            .member_by_key(from)
            .map(|m| m.id.clone())
            .ok_or_else(|| bad("the sender is not a federation member"))
    }

    /// A staff member waits for the answers of the peers a change was sent to (`awaiting`),
    /// or is answered at once when it went to none.
    pub(crate) fn await_deliveries(
        &mut self,
        ticket: Ticket,
        awaiting: Vec<(Token, InstitutionId)>,
        reply: Reply,
        out: &mut Vec<Output>,
    ) {
        let pending = PendingDeliveries {
            ticket,
            awaiting,
            done: Vec::new(),
            reply,
        };
        if pending.awaiting.is_empty() {
            out.push(Output::StaffReply {
                ticket,
                reply: pending.reply(),
            });
        } else {
            self.deliveries.push(pending);
        }
    }
}

impl PendingDeliveries {
    pub(crate) fn reply(&self) -> StaffReply {
        let delivered = self.done.clone();
        match &self.reply {
            Reply::Opened(case_id) => StaffReply::CaseOpened {
                case_id: *case_id,
                delivered,
            },
            Reply::Updated => StaffReply::CaseUpdated { delivered },
            Reply::Consent(consent_id) => StaffReply::ConsentRecorded {
                consent_id: *consent_id,
                delivered,
            },
            Reply::StatsSent {
                month,
                sequence,
                dashboard,
                digest,
            } => StaffReply::StatsSent(protocol_spec::staff::StatsSent {
                month: *month,
                sequence: *sequence,
                dashboard: dashboard.clone(),
                digest: *digest,
                delivered: delivered.iter().any(|d| d.delivered),
            }),
        }
    }
}

impl Core {
    /// Loads the node from its store. `configured` is the roster of the configuration file; a
    /// newer one adopted earlier and kept in the store wins.
    pub fn load(
        db: &Connection,
        me: InstitutionId,
        keys: Secrets,
        configured: SignedRoster,
        admin: BootstrapAdmin,
        now: u64,
    ) -> anyhow::Result<Core> {
        let stored: Option<Vec<u8>> = db
            .prepare_cached("SELECT value FROM meta WHERE key = 'roster'")?
            .query_row([], |r| r.get(0))
            .optional()?;
        let mut roster = configured;
        if let Some(bytes) = stored {
            let s: SignedRoster =
                postcard::from_bytes(&bytes).context("stored roster is corrupt")?;
            if s.roster.version > roster.roster.version {
                roster = s;
            }
        }
        if roster.roster.member(&me).is_none() {
            bail!("the current roster does not list this institution `{me}`");
        }
        db.prepare_cached("INSERT INTO meta (key, value) VALUES ('roster', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value")?
        .execute(
            [postcard::to_stdvec(&roster)?],
        )?;
        let staff_count: i64 = db
            .prepare_cached("SELECT COUNT(*) FROM staff")?
            .query_row([], |r| r.get(0))?;
        if staff_count == 0 {
            db.prepare_cached("INSERT INTO staff (staff_id, role, key, issued_by, issued_at) VALUES (?1, 'admin', ?2, 'node-init', ?3)")?
        .execute(
                rusqlite::params![admin.staff.as_str(), admin.key.0.to_vec(), now as i64],
            )?;
        }
        let staff = active_staff(db)?;
        Ok(Core {
            me,
            keys,
            roster: std::sync::Arc::new(roster),
            staff,
            in_flight: HashMap::new(),
            rosters_in_flight: Default::default(),
            rosters_wanted: Default::default(),
            heard: Default::default(),
            roster_digest: None,
            to_send: Vec::new(),
            waiting: HashMap::new(),
            deliveries: Vec::new(),
            store_problem: None,
            next_retention_scan: 0,
            psi_secrets: Default::default(),
            last_millis: 0,
            #[cfg(feature = "mutants")]
            mutants: Mutants::default(),
        })
    }

    /// After a transaction failed to commit: the caches are read again from the store. A send
    /// of an item still stored stays in flight, marked stale: made before, it may still be
    /// answered, and that answer must not settle what the item carries by then; the item is
    /// sent again once answered, or once its flight timed out (if that send was one of the
    /// failed steps', it never left). The flights of items the failure took away are
    /// forgotten: their ids are given again to new items.
    pub fn reload(&mut self, db: &Connection) -> anyhow::Result<()> {
        let bytes: Vec<u8> = db
            .prepare_cached("SELECT value FROM meta WHERE key = 'roster'")?
            .query_row([], |r| r.get(0))?;
        self.roster = postcard::from_bytes(&bytes).context("stored roster is corrupt")?;
        self.staff = active_staff(db)?;
        let mut stored = db.prepare_cached("SELECT 1 FROM outbox WHERE id = ?1")?;
        let mut gone = Vec::new();
        for (token, flight) in self.in_flight.iter_mut() {
            if stored.exists([token])? {
                flight.stale = true;
            } else {
                gone.push(*token);
            }
        }
        for token in gone {
            self.in_flight.remove(&token);
        }
        self.rosters_in_flight.clear();
        self.rosters_wanted.clear();
        self.waiting.clear();
        self.deliveries.clear();
        Ok(())
    }

    /// The driver says whether the store could record its last writes: a storage problem
    /// (disk full, read-only) is reported by `Status` until a write succeeds again.
    pub fn set_store_problem(&mut self, problem: Option<StoreProblem>) {
        self.store_problem = problem;
    }

    /// The time part of a local id drawn now (`now` in Unix seconds): later than the last one
    /// drawn, so the ids this node keeps sort as they were drawn (a store keyed by them
    /// appends). Only for ids no peer sees: within a second it counts what was drawn.
    pub(crate) fn next_millis(&mut self, now: u64) -> u64 {
        self.last_millis = (now * 1000).max(self.last_millis + 1);
        self.last_millis
    }

    pub fn store_problem(&self) -> Option<StoreProblem> {
        self.store_problem
    }

    pub fn roster(&self) -> &SignedRoster {
        &self.roster
    }

    /// The keys the cryptography handed out of steps needs, for the driver to hold.
    pub fn crypto(&self) -> crate::work::Crypto {
        let encryption: Vec<_> = std::iter::once(&self.keys.encryption)
            .chain(&self.keys.former_encryption)
            .collect();
        crate::work::Crypto::new(&self.me, &self.keys.signing, &encryption)
    }

    /// The active staff keys with their roles: the driver admits them and names the role (never
    /// the staff id) in its log of requests served.
    pub fn staff_keys(&self) -> Vec<(PublicKey, Role)> {
        self.staff.iter().map(|(k, m)| (*k, m.role)).collect()
    }

    /// Records the answer of a peer to a case-history push; replies to staff members whose
    /// deliveries are all answered.
    pub(crate) fn delivery_answered(&mut self, token: Token, delivered: bool) -> Vec<Output> {
        let mut out = Vec::new();
        for p in &mut self.deliveries {
            if let Some(pos) = p.awaiting.iter().position(|(t, _)| *t == token) {
                let (_, institution) = p.awaiting.remove(pos);
                p.done.push(Delivery {
                    institution,
                    delivered,
                });
            }
        }
        self.deliveries.retain(|p| {
            if p.awaiting.is_empty() {
                out.push(Output::StaffReply {
                    ticket: p.ticket,
                    reply: p.reply(),
                });
                false
            } else {
                true
            }
        });
        out
    }
}

/// The active staff members by key, as the store lists them.
pub(crate) fn active_staff(db: &Connection) -> anyhow::Result<HashMap<PublicKey, StaffMember>> {
    let mut st = db.prepare("SELECT staff_id, role, key FROM staff WHERE revoked_at IS NULL")?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Vec<u8>>(2)?,
        ))
    })?;
    let mut out = HashMap::new();
    for row in rows {
        let (s, role, key) = row?;
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| anyhow!("corrupt staff key in store"))?;
        out.insert(
            PublicKey(key),
            StaffMember {
                staff: s.parse()?,
                role: role.parse()?,
            },
        );
    }
    Ok(out)
}
