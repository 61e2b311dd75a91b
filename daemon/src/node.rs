//! The node's shared parts: its identity and keys, the roster in force, the store, the log's
//! state, the limits and its connections, inbound and to peers. The driver ([`crate::driver`])
//! serves requests with them, and the log ([`crate::log`]) signs, serves and witnesses with them.

use crate::log_budget::LogBudget;
use crate::log_state::LogState;
use crate::store::Store;
use crate::transport;
use crate::watch::Watch;
use anyhow::{Context, anyhow};
use node_core::Ticket;
use protocol_spec::ids::{InstitutionId, Role};
use protocol_spec::keys::{PublicKey, SigningKey};
use protocol_spec::peer::{PEER_ALPN, PeerMessage, PeerReply};
use protocol_spec::roster::SignedRoster;
use protocol_spec::staff::StaffReply;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The node's keys the driver itself uses: TLS identity, log signatures, and the work the
/// core hands out (sealing, opening, cosigning).
pub(crate) struct DriverKeys {
    /// Sealing and opening summaries, done on the driver's threads (never the store thread).
    pub(crate) crypto: node_core::Crypto,
    pub(crate) signing: SigningKey,
    pub(crate) log: SigningKey,
}

pub(crate) struct Node {
    pub(crate) me: InstitutionId,
    pub(crate) limits: crate::config::Limits,
    /// Open inbound connections, peers and staff.
    pub(crate) open_connections: std::sync::atomic::AtomicUsize,
    /// Open inbound connections per key.
    pub(crate) per_key: Mutex<HashMap<PublicKey, usize>>,
    pub(crate) crypto: node_core::Crypto,
    pub(crate) signing: SigningKey,
    pub(crate) log_key: SigningKey,
    /// The roster in force, as the core last adopted it: for admission and the log.
    pub(crate) roster: RwLock<Arc<SignedRoster>>,
    /// Active staff keys and their roles: admission, and the role named in the log.
    pub(crate) staff_keys: RwLock<HashMap<PublicKey, Role>>,
    pub(crate) store: Store,
    pub(crate) log: Arc<Mutex<LogState>>,
    pub(crate) endpoint: quinn::Endpoint,
    /// Inbound peer connections by key, closed when the key leaves the roster.
    pub(crate) inbound: Mutex<HashMap<PublicKey, Vec<quinn::Connection>>>,
    pub(crate) outbound: tokio::sync::Mutex<HashMap<InstitutionId, quinn::Connection>>,
    /// The roster last sent whole and its wire form, encoded once for all its sends: 1.8 MiB at
    /// 10,000 members, with up to `ROSTERS_IN_FLIGHT` sends at once.
    roster_wire: Mutex<Option<(Arc<SignedRoster>, bytes::Bytes)>>,
    /// Staff requests waiting for the core's reply.
    pub(crate) tickets: Mutex<HashMap<Ticket, oneshot::Sender<StaffReply>>>,
    pub(crate) next_ticket: AtomicU64,
    /// Every task the node spawns, joined at shutdown.
    pub(crate) tasks: TaskTracker,
    /// Held during a checkpoint-and-witness round.
    pub(crate) witnessing: tokio::sync::Mutex<()>,
    /// Per peer, the newest checkpoint note of its log this node verified and found consistent
    /// with what it cosigned: the inclusion proofs of many exchanges come under one checkpoint,
    /// which is then checked once.
    pub(crate) checked_checkpoints: Mutex<HashMap<InstitutionId, String>>,
    /// Per responder, the receipts whose inclusion proofs wait to be exchanged in one batch.
    pub(crate) receipts_to_prove: Mutex<HashMap<InstitutionId, crate::log::Waiting>>,
    /// How many lines about single requests may still be logged, and those skipped.
    pub(crate) request_lines: Mutex<LogBudget>,
    pub(crate) shutdown: CancellationToken,
    /// Metrics and what the health endpoint reads.
    pub(crate) watch: Watch,
}

impl Node {
    #[allow(clippy::too_many_arguments)] // one per part of the node, each built by `start`
    pub(crate) fn new(
        me: InstitutionId,
        limits: crate::config::Limits,
        keys: DriverKeys,
        roster: SignedRoster,
        staff_keys: Vec<(PublicKey, Role)>,
        store: Store,
        log: Arc<Mutex<LogState>>,
        endpoint: quinn::Endpoint,
        shutdown: CancellationToken,
        watch: Watch,
    ) -> Node {
        Node {
            me,
            limits,
            open_connections: std::sync::atomic::AtomicUsize::new(0),
            per_key: Mutex::new(HashMap::new()),
            crypto: keys.crypto,
            signing: keys.signing,
            log_key: keys.log,
            roster: RwLock::new(Arc::new(roster)),
            staff_keys: RwLock::new(staff_keys.into_iter().collect()),
            store,
            log,
            endpoint,
            inbound: Mutex::new(HashMap::new()),
            outbound: tokio::sync::Mutex::new(HashMap::new()),
            roster_wire: Mutex::new(None),
            tickets: Mutex::new(HashMap::new()),
            next_ticket: AtomicU64::new(1),
            tasks: TaskTracker::new(),
            witnessing: tokio::sync::Mutex::new(()),
            checked_checkpoints: Mutex::new(HashMap::new()),
            receipts_to_prove: Mutex::new(HashMap::new()),
            request_lines: Mutex::new(LogBudget::new(std::time::Instant::now())),
            shutdown,
            watch,
        }
    }

    /// The roster in force, shared: a roster of thousands of members is never copied.
    pub(crate) fn roster(&self) -> Arc<SignedRoster> {
        self.roster.read().unwrap().clone()
    }

    pub(crate) fn is_member(&self, key: &PublicKey) -> bool {
        self.roster
            .read()
            .unwrap()
            .roster
            .member_by_key(key)
            .is_some()
    }

    /// A connection to a peer, reused while it lives. The handshake runs without holding the
    /// connection table, so one unreachable peer does not hold up traffic to the others.
    async fn connect_peer(&self, id: &InstitutionId) -> anyhow::Result<quinn::Connection> {
        let member = self
            .roster
            .read()
            .unwrap()
            .roster
            .member(id)
            .cloned()
            .ok_or_else(|| anyhow!("{id} is not a federation member"))?;
        {
            let mut outbound = self.outbound.lock().await;
            if let Some(c) = outbound.get(id) {
                match c.close_reason() {
                    None => return Ok(c.clone()),
                    // Noticed when next needed: a handle kept only to watch for the close
                    // would keep a connection the node let go of open.
                    Some(reason) => {
                        tracing::info!(peer = %id, direction = "outbound", %reason, "peer connection closed");
                        outbound.remove(id);
                    }
                }
            }
        }
        let addr = transport::resolve(&member.address).await?;
        let cfg = transport::client_config(&self.signing, member.signing_key, PEER_ALPN)?;
        let conn = match transport::connect(&self.endpoint, cfg, addr).await {
            Ok(c) => c,
            Err(e) => {
                tracing::info!(peer = %id, direction = "outbound", reason = %e, "peer connection failed");
                return Err(e);
            }
        };
        tracing::info!(peer = %id, direction = "outbound", "peer connection opened");
        self.outbound.lock().await.insert(id.clone(), conn.clone());
        Ok(conn)
    }

    /// Sends one message to a peer. A cached connection may have died without notice (peer
    /// restarted); then the message is tried once more on a fresh connection. Every peer
    /// message is idempotent at the receiver: a summary request sent twice gets the same answer.
    ///
    /// A peer that keeps its connection open but does not answer within
    /// [`transport::PEER_TIMEOUT`] (hung, or gone without a word) is not asked again at once: it
    /// would not answer on a fresh connection sooner, and whoever waits would wait twice as long
    /// to learn it is unreachable; the outbox sends again later. Its connection is no longer
    /// reused, but not closed under the other messages waiting on it, which end on their own.
    pub(crate) async fn send_peer(
        &self,
        id: &InstitutionId,
        msg: &PeerMessage,
    ) -> anyhow::Result<PeerReply> {
        let conn = self.connect_peer(id).await?;
        let limit = match msg {
            PeerMessage::PsiSet(_) => transport::PSI_SET_TIMEOUT,
            _ => transport::PEER_TIMEOUT,
        };
        let wire = self.shared_wire(msg)?;
        match ask(&conn, msg, wire.as_ref(), limit).await {
            Ok(r) => Ok(r),
            Err(transport::FrameError::Timeout) if conn.close_reason().is_none() => {
                let mut outbound = self.outbound.lock().await;
                if outbound.get(id).map(|c| c.stable_id()) == Some(conn.stable_id()) {
                    outbound.remove(id);
                    tracing::info!(peer = %id, direction = "outbound", reason = "no answer in time", "peer connection given up");
                }
                Err(anyhow!("{id} did not answer within {} s", limit.as_secs()))
            }
            Err(first) => {
                tracing::info!(peer = %id, direction = "outbound", reason = %first, "peer connection closed; retrying on a new one");
                conn.close(0u32.into(), b"retrying");
                self.outbound.lock().await.remove(id);
                let conn = self.connect_peer(id).await.context(first.to_string())?;
                Ok(ask(&conn, msg, wire.as_ref(), limit).await?)
            }
        }
    }

    /// The wire form of `msg` if it is a roster, encoded once for all the sends of that roster.
    fn shared_wire(&self, msg: &PeerMessage) -> anyhow::Result<Option<bytes::Bytes>> {
        let PeerMessage::Roster(roster) = msg else {
            return Ok(None);
        };
        let mut held = self.roster_wire.lock().unwrap();
        if let Some((r, wire)) = &*held
            && Arc::ptr_eq(r, roster)
        {
            return Ok(Some(wire.clone()));
        }
        let wire = bytes::Bytes::from(protocol_spec::wire::encode_message(msg)?);
        *held = Some((roster.clone(), wire.clone()));
        Ok(Some(wire))
    }
}

/// One message and its reply: sent from its shared wire form if it has one.
async fn ask(
    conn: &quinn::Connection,
    msg: &PeerMessage,
    wire: Option<&bytes::Bytes>,
    limit: std::time::Duration,
) -> Result<PeerReply, transport::FrameError> {
    match wire {
        Some(bytes) => transport::request_encoded(conn, bytes.clone(), limit).await,
        None => transport::request_waiting(conn, msg, limit).await,
    }
}
