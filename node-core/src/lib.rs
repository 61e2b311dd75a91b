//! Passerelle node core: what a node does, as a deterministic state machine over its store.
//!
//! The core is sans-IO, as quinn-proto is beneath quinn. A driver feeds it [`Input`]s (a peer
//! message from an authenticated key, a staff request from an authenticated staff key, the
//! answer to a message it asked to send, a peer found unreachable, a timer tick) together with
//! an [`Env`] holding the time and a random source, inside one store transaction ([`Tx`]). The
//! core answers with [`Output`]s: a reply, a staff reply, a message to send. Outputs may be
//! released only once the transaction is committed: nothing is acknowledged or sent before it
//! is durable. No sockets, clocks, OS randomness or threads live here, so the simulator drives
//! exactly the code the daemon runs.
//!
//! The flow of one summary request (spec §7):
//! 1. `Staff(SummaryRequest)` at the requester: the rule is checked on the requester's own
//!    state, the signed request and its outbox item are written; output `Send`.
//! 2. `Peer(Summary)` at the responder: authentication, idempotent retry, freshness, the rule,
//!    the sealed disclosure and its log entry, the reply kept for retries; output `PeerReply`.
//! 3. `Delivered` at the requester: the disclosure is verified, checked against revocations
//!    the requester knows, stored sealed with its receipt entry; output `StaffReply` and
//!    `ReceiptLogged`. `Unreachable` instead leaves the item queued for `Tick` to retry.
#![forbid(unsafe_code)]

pub mod cases;
pub mod entries;
pub mod outbox;
pub mod queries;
pub mod requester;
pub mod responder;
pub mod retention;
pub mod roster;
pub mod staff;
pub mod store;

use anyhow::{Context, anyhow, bail};
use protocol_spec::ids::{InstitutionId, Role, StaffId};
use protocol_spec::keys::{EncryptionKey, PublicKey, SigningKey};
use protocol_spec::peer::{PeerMessage, PeerReply};
use protocol_spec::roster::SignedRoster;
use protocol_spec::staff::{StaffError, StaffErrorKind, StaffReply, StaffRequest};
use rusqlite::{Connection, OptionalExtension};
use std::collections::HashMap;
pub use store::{StoreProblem, Tx};

/// A staff request waiting for its reply; chosen by the driver.
pub type Ticket = u64;
/// An outbox item handed to the driver for sending: its row id.
pub type Token = i64;

/// A source of randomness. The daemon draws from the operating system; the simulator from a
/// seeded generator, so a run is reproducible from its seed.
pub trait Random {
    fn fill(&mut self, dst: &mut [u8]);
}

/// What the world gives a step besides its input: the time and randomness.
pub struct Env<'a> {
    /// Unix seconds.
    pub now: u64,
    pub random: &'a mut dyn Random,
}

impl Env<'_> {
    pub fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        self.random.fill(&mut b);
        b
    }
}

/// HPKE takes its randomness through rand_core; this lends it the step's source.
pub(crate) struct HpkeRng<'a>(pub &'a mut dyn Random);

impl protocol_spec::seal::hpke_rng::TryRng for HpkeRng<'_> {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.0.fill(&mut b);
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.0.fill(&mut b);
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.0.fill(dst);
        Ok(())
    }
}
impl protocol_spec::seal::hpke_rng::TryCryptoRng for HpkeRng<'_> {}

#[derive(Debug)]
pub enum Input {
    /// A message from a peer whose key the transport authenticated.
    Peer {
        from: PublicKey,
        message: PeerMessage,
    },
    /// A request from a staff member whose key the transport authenticated.
    Staff {
        ticket: Ticket,
        key: PublicKey,
        request: StaffRequest,
    },
    /// The peer's answer to a message sent for `token`.
    Delivered { token: Token, reply: PeerReply },
    /// The message sent for `token` did not reach the peer, or its answer did not come back.
    Unreachable { token: Token },
    /// Time passes: due outbox items are sent again.
    Tick,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// The answer to the `Peer` input of this step.
    PeerReply(PeerReply),
    StaffReply {
        ticket: Ticket,
        reply: StaffReply,
    },
    /// Send `message` to `to`; answer with `Delivered` or `Unreachable` for `token`.
    Send {
        token: Token,
        to: InstitutionId,
        message: PeerMessage,
    },
    /// A receipt is durable: the two nodes may now exchange inclusion proofs.
    ReceiptLogged {
        peer: InstitutionId,
        request_digest: [u8; 32],
        disclosure_leaf: (u64, [u8; 32]),
        receipt_leaf: (u64, [u8; 32]),
    },
    /// A newer roster is in force: connections of keys it no longer lists must close.
    RosterAdopted(Box<SignedRoster>),
    /// The set of active staff keys changed (admission to the staff protocol).
    StaffChanged(Vec<PublicKey>),
    /// An authorised log request (checkpoint, tile, witness evidence): the driver serves it
    /// from the log and answers `ticket`.
    ServeLog {
        ticket: Ticket,
        request: StaffRequest,
    },
}

/// Where an input came from: enough to answer it when its step fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Peer,
    Staff(Ticket),
    Answer(Token),
    Tick,
}

impl Input {
    pub fn origin(&self) -> Origin {
        match self {
            Input::Peer { .. } => Origin::Peer,
            Input::Staff { ticket, .. } => Origin::Staff(*ticket),
            Input::Delivered { token, .. } | Input::Unreachable { token } => Origin::Answer(*token),
            Input::Tick => Origin::Tick,
        }
    }
}

/// Why a step did nothing. Every `Err` rolls the step's transaction back.
#[derive(Debug)]
pub enum Fault {
    /// The asker (staff member or peer) asked for something this node will not do.
    Refused(StaffErrorKind, String),
    /// This node failed (storage, a corrupt row): not the asker's fault.
    Local(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for Fault {
    fn from(e: E) -> Self {
        Fault::Local(e.into())
    }
}

pub(crate) fn bad(msg: impl Into<String>) -> Fault {
    Fault::Refused(StaffErrorKind::BadRequest, msg.into())
}

#[derive(Clone, Debug)]
pub struct StaffMember {
    pub staff: StaffId,
    pub role: Role,
}

/// The node's private keys.
pub struct Secrets {
    pub signing: SigningKey,
    pub encryption: EncryptionKey,
    /// Public halves of the log and witness keys, to check a roster lists what the node holds.
    pub log: PublicKey,
    pub witness: PublicKey,
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
}

/// The node's state machine. Durable state is in the store; this holds caches of it (roster,
/// staff) and what is in flight, which a crash may lose.
pub struct Core {
    pub(crate) me: InstitutionId,
    pub(crate) keys: Secrets,
    pub(crate) roster: SignedRoster,
    pub(crate) staff: HashMap<PublicKey, StaffMember>,
    /// Outbox items handed to the driver and not yet answered.
    pub(crate) in_flight: HashMap<Token, outbox::InFlight>,
    /// A staff member waiting for the outcome of the summary request sent as `Token`.
    pub(crate) waiting: HashMap<Token, Ticket>,
    /// Staff members waiting for case-history deliveries.
    pub(crate) deliveries: Vec<cases::PendingDeliveries>,
    /// When to look for summaries past their retention next (at the first tick after a start).
    pub(crate) next_retention_scan: u64,
    /// What keeps the store from recording, as the driver last found it; reported by
    /// `Status`.
    pub(crate) store_problem: Option<StoreProblem>,
    #[cfg(feature = "mutants")]
    pub mutants: Mutants,
}

/// How long an item handed to the driver may stay unanswered before it is sent again.
pub const IN_FLIGHT_TIMEOUT: u64 = 60;

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
            .query_row("SELECT value FROM meta WHERE key = 'roster'", [], |r| {
                r.get(0)
            })
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
        db.execute(
            "INSERT INTO meta (key, value) VALUES ('roster', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [postcard::to_stdvec(&roster)?],
        )?;
        let staff_count: i64 = db.query_row("SELECT COUNT(*) FROM staff", [], |r| r.get(0))?;
        if staff_count == 0 {
            db.execute(
                "INSERT INTO staff (staff_id, role, key, issued_by, issued_at) VALUES (?1, 'admin', ?2, 'node-init', ?3)",
                rusqlite::params![admin.staff.as_str(), admin.key.0.to_vec(), now as i64],
            )?;
        }
        let staff = staff::active_staff(db)?;
        Ok(Core {
            me,
            keys,
            roster,
            staff,
            in_flight: HashMap::new(),
            waiting: HashMap::new(),
            deliveries: Vec::new(),
            next_retention_scan: 0,
            store_problem: None,
            #[cfg(feature = "mutants")]
            mutants: Mutants::default(),
        })
    }

    /// After a transaction failed to commit: the caches are read again from the store, and
    /// what was in flight is forgotten (the outbox sends it again).
    pub fn reload(&mut self, db: &Connection) -> anyhow::Result<()> {
        let bytes: Vec<u8> =
            db.query_row("SELECT value FROM meta WHERE key = 'roster'", [], |r| {
                r.get(0)
            })?;
        self.roster = postcard::from_bytes(&bytes).context("stored roster is corrupt")?;
        self.staff = staff::active_staff(db)?;
        self.in_flight.clear();
        self.waiting.clear();
        self.deliveries.clear();
        Ok(())
    }

    /// The driver says whether the store could record its last writes: a storage problem
    /// (disk full, read-only) is reported by `Status` until a write succeeds again.
    pub fn set_store_problem(&mut self, problem: Option<StoreProblem>) {
        self.store_problem = problem;
    }

    pub fn store_problem(&self) -> Option<StoreProblem> {
        self.store_problem
    }

    pub fn me(&self) -> &InstitutionId {
        &self.me
    }

    pub fn roster(&self) -> &SignedRoster {
        &self.roster
    }

    pub fn staff_keys(&self) -> Vec<PublicKey> {
        self.staff.keys().copied().collect()
    }

    pub fn staff_member(&self, key: &PublicKey) -> Option<&StaffMember> {
        self.staff.get(key)
    }

    /// Runs one step. On `Err` the caller rolls the transaction back and answers with
    /// [`Core::failed`].
    pub fn handle(
        &mut self,
        tx: &mut Tx<'_>,
        env: &mut Env<'_>,
        input: Input,
    ) -> Result<Vec<Output>, Fault> {
        match input {
            Input::Peer { from, message } => self.peer(tx, env, from, message),
            Input::Staff {
                ticket,
                key,
                request,
            } => self.staff_request(tx, env, ticket, key, request),
            // `delivered` takes the item out of flight itself: it needs to know whether what
            // the item carries changed while it was in flight.
            Input::Delivered { token, reply } => outbox::delivered(self, tx, env, token, reply),
            Input::Unreachable { token } => outbox::unreachable(self, tx, token),
            Input::Tick => {
                retention::tick(self, tx, env)?;
                outbox::tick(self, tx, env)
            }
        }
    }

    /// What to answer when a step failed or its transaction did not commit. Nothing of the
    /// step happened; the asker is told whose fault it was, and a failing disk is named.
    pub fn failed(&mut self, origin: Origin, fault: &Fault) -> Vec<Output> {
        let problem = match fault {
            Fault::Local(e) => {
                tracing::error!(error = %format_args!("{e:#}"), ?origin, "a step failed; nothing of it was kept");
                StoreProblem::of(e)
            }
            Fault::Refused(..) => None,
        };
        match (origin, fault) {
            // Nothing was recorded: the sender is to send again, whatever the message.
            (Origin::Peer, Fault::Local(_)) => {
                vec![Output::PeerReply(PeerReply::Refusal(
                    protocol_spec::exchange::Refusal {
                        code: protocol_spec::exchange::RefusalCode::Unavailable,
                    },
                ))]
            }
            (Origin::Peer, Fault::Refused(_, reason)) => {
                vec![Output::PeerReply(PeerReply::Rejected {
                    reason: reason.clone(),
                })]
            }
            (Origin::Staff(ticket), fault) => {
                let (kind, message) = match (fault, problem) {
                    (Fault::Refused(kind, m), _) => (*kind, m.clone()),
                    (Fault::Local(_), Some(p)) => {
                        (StaffErrorKind::Internal, format!("{p}; nothing was done"))
                    }
                    (Fault::Local(_), None) => (
                        StaffErrorKind::Internal,
                        "this node could not record the change; nothing was done".to_string(),
                    ),
                };
                self.forget_ticket(ticket);
                vec![Output::StaffReply {
                    ticket,
                    reply: StaffReply::Error(StaffError { kind, message }),
                }]
            }
            (Origin::Answer(token), _) => {
                self.in_flight.remove(&token);
                // The item stays in the outbox; whoever waits learns it is not settled yet. The
                // peer may have answered: when the disk is what failed, "queued" would wrongly
                // say the peer was not reached.
                let reply = match problem {
                    Some(p) => StaffReply::Error(StaffError {
                        kind: StaffErrorKind::Pending,
                        message: format!(
                            "{p}: what became of the request could not be recorded; it stays queued and is sent again (see `passerelle summary requests` and `passerelle queue`)"
                        ),
                    }),
                    None => StaffReply::Summary(protocol_spec::staff::SummaryOutcome::Queued),
                };
                match self.waiting.remove(&token) {
                    Some(ticket) => vec![Output::StaffReply { ticket, reply }],
                    None => Vec::new(),
                }
            }
            (Origin::Tick, _) => Vec::new(),
        }
    }

    fn forget_ticket(&mut self, ticket: Ticket) {
        self.waiting.retain(|_, t| *t != ticket);
        self.deliveries.retain(|d| d.ticket != ticket);
    }

    fn peer(
        &mut self,
        tx: &mut Tx<'_>,
        env: &mut Env<'_>,
        from: PublicKey,
        message: PeerMessage,
    ) -> Result<Vec<Output>, Fault> {
        let reply = match message {
            PeerMessage::Summary(req) => responder::answer(self, tx, env, &from, req)?,
            PeerMessage::CaseHistory { case_id, events } => {
                return cases::receive_history(self, tx, env, &from, case_id, events);
            }
            PeerMessage::Roster(r) => {
                let mut out = roster::offered(self, tx, env, r, &from)?;
                out.insert(0, Output::PeerReply(PeerReply::Accepted));
                return Ok(out);
            }
            other => {
                return Err(Fault::Local(anyhow!(
                    "the node core does not handle {} messages; the driver does",
                    peer_message_name(&other)
                )));
            }
        };
        Ok(vec![Output::PeerReply(reply)])
    }

    fn staff_request(
        &mut self,
        tx: &mut Tx<'_>,
        env: &mut Env<'_>,
        ticket: Ticket,
        key: PublicKey,
        request: StaffRequest,
    ) -> Result<Vec<Output>, Fault> {
        // Looked up per request, so a revocation takes effect on open connections too.
        let Some(who) = self.staff.get(&key).cloned() else {
            return Err(Fault::Refused(
                StaffErrorKind::Forbidden,
                "this staff credential is not registered at this node, or was revoked".into(),
            ));
        };
        if let Some(role) = request.required_role()
            && who.role != role
        {
            return Err(Fault::Refused(
                StaffErrorKind::Forbidden,
                format!(
                    "this action needs the {role} role; {} has the {} role",
                    who.staff, who.role
                ),
            ));
        }
        staff::dispatch(self, tx, env, ticket, &who, request)
    }
}

pub fn peer_message_name(m: &PeerMessage) -> &'static str {
    match m {
        PeerMessage::Summary(_) => "summary request",
        PeerMessage::CaseHistory { .. } => "case history",
        PeerMessage::Roster(_) => "roster",
        PeerMessage::AddCheckpoint(_) => "add-checkpoint",
        PeerMessage::LogTile(_) => "log tile",
        PeerMessage::ProveInclusion { .. } => "inclusion proof request",
        PeerMessage::ReceiptProof(_) => "receipt proof",
    }
}

pub fn reply_name(r: &PeerReply) -> &'static str {
    match r {
        PeerReply::Disclosure { .. } => "disclosure",
        PeerReply::Cosigned(_) => "cosignature",
        PeerReply::WitnessRefused { .. } => "witness refusal",
        PeerReply::LogData(_) => "log data",
        PeerReply::Inclusion { .. } => "inclusion proof",
        PeerReply::Refusal(_) => "refusal",
        PeerReply::Accepted => "accepted",
        PeerReply::Rejected { .. } => "rejected",
    }
}
