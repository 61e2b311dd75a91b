//! The running node: shared state and the handlers for peer and staff requests. Protocol
//! decisions come from `protocol_spec`; this module feeds them bytes, time and the store.

use crate::log::LogState;
use crate::store::{Store, Tx};
use crate::transport::{self, Admission};
use anyhow::{Context, anyhow, bail};
use protocol_spec::avs::Avs;
use protocol_spec::case::{
    CaseEvent, CaseEventKind, CoordinatedCase, Participation, SignedCaseEvent,
};
use protocol_spec::entry::{self, Entry};
use protocol_spec::exchange::{
    Disclosure, DisclosureHeader, MAX_CLOCK_SKEW, Refusal, RefusalCode, SignedSummaryRequest,
    Summary, SummaryField, SummaryRequest,
};
use protocol_spec::ids::{CaseId, EventId, InstitutionId, RequestId, Role, StaffId, SummaryId};
use protocol_spec::keys::{EncryptionKey, PublicKey, SigningKey};
use protocol_spec::peer::{PEER_ALPN, PeerMessage, PeerReply};
use protocol_spec::roster::SignedRoster;
use protocol_spec::rule;
use protocol_spec::staff::*;
use rusqlite::OptionalExtension;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;

/// Every "not concerned" refusal leaves at this delay after the request arrived, so its timing
/// does not depend on what the responder found (no existence oracle in timing).
pub const UNIFORM_REFUSAL_DELAY: Duration = Duration::from_millis(25);

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("operating system randomness");
    b
}

/// OS randomness for HPKE sealing.
pub struct OsRng;
impl protocol_spec::seal::hpke_rng::TryRng for OsRng {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(u32::from_le_bytes(random()))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(u64::from_le_bytes(random()))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        getrandom::fill(dst).expect("operating system randomness");
        Ok(())
    }
}
impl protocol_spec::seal::hpke_rng::TryCryptoRng for OsRng {}

#[derive(Clone, Debug)]
pub struct StaffMember {
    pub staff: StaffId,
    pub role: Role,
}

/// The node's private keys.
pub struct Secrets {
    pub signing: SigningKey,
    pub encryption: EncryptionKey,
    pub log: SigningKey,
    pub witness: SigningKey,
}

pub struct Node {
    pub me: InstitutionId,
    pub signing: SigningKey,
    pub encryption: EncryptionKey,
    pub log_key: SigningKey,
    pub witness_key: SigningKey,
    pub roster: RwLock<SignedRoster>,
    pub staff: RwLock<HashMap<PublicKey, StaffMember>>,
    pub store: Store,
    pub log: Arc<Mutex<LogState>>,
    pub endpoint: quinn::Endpoint,
    /// Inbound peer connections by key, closed when the key leaves the roster.
    inbound: Mutex<HashMap<PublicKey, Vec<quinn::Connection>>>,
    outbound: tokio::sync::Mutex<HashMap<InstitutionId, quinn::Connection>>,
    /// Held while the outbox is being flushed, so two flushes never send the same item.
    flushing: tokio::sync::Mutex<()>,
    /// Held during a checkpoint-and-witness round.
    pub witnessing: tokio::sync::Mutex<()>,
    pub shutdown: CancellationToken,
}

/// Admission to the handshake: current roster members and active staff.
pub struct NodeAdmission(pub std::sync::Weak<Node>);

impl Admission for NodeAdmission {
    fn admits(&self, key: &PublicKey) -> bool {
        let Some(node) = self.0.upgrade() else {
            return false;
        };
        let member = node
            .roster
            .read()
            .unwrap()
            .roster
            .member_by_key(key)
            .is_some();
        member || node.staff.read().unwrap().contains_key(key)
    }
}

fn staff_error(kind: StaffErrorKind, message: impl Into<String>) -> StaffReply {
    StaffReply::Error(StaffError {
        kind,
        message: message.into(),
    })
}

/// An error meant for the staff member, already classified.
#[derive(Debug)]
pub struct Fault(pub StaffErrorKind, pub String);

impl<E: Into<anyhow::Error>> From<E> for Fault {
    fn from(e: E) -> Self {
        let e: anyhow::Error = e.into();
        Fault(StaffErrorKind::Internal, format!("{e:#}"))
    }
}

fn bad(msg: impl Into<String>) -> Fault {
    Fault(StaffErrorKind::BadRequest, msg.into())
}

impl Node {
    #[allow(clippy::too_many_arguments)] // one per part of the node, each built by `start`
    pub fn new(
        me: InstitutionId,
        secrets: Secrets,
        roster: SignedRoster,
        staff: HashMap<PublicKey, StaffMember>,
        store: Store,
        log: Arc<Mutex<LogState>>,
        endpoint: quinn::Endpoint,
        shutdown: CancellationToken,
    ) -> Node {
        Node {
            me,
            signing: secrets.signing,
            encryption: secrets.encryption,
            log_key: secrets.log,
            witness_key: secrets.witness,
            roster: RwLock::new(roster),
            staff: RwLock::new(staff),
            store,
            log,
            endpoint,
            inbound: Mutex::new(HashMap::new()),
            outbound: tokio::sync::Mutex::new(HashMap::new()),
            flushing: tokio::sync::Mutex::new(()),
            witnessing: tokio::sync::Mutex::new(()),
            shutdown,
        }
    }

    pub fn roster(&self) -> SignedRoster {
        self.roster.read().unwrap().clone()
    }

    // ---------------------------------------------------------------- connections

    /// Serves one inbound connection until it closes.
    pub async fn serve_connection(self: Arc<Self>, incoming: quinn::Incoming) {
        let conn = match incoming.await {
            Ok(c) => c,
            Err(e) => {
                tracing::info!(error = %e, "handshake refused");
                return;
            }
        };
        let Some((key, alpn)) = transport::peer_of(&conn) else {
            conn.close(1u32.into(), b"no identity");
            return;
        };
        let is_member = self
            .roster
            .read()
            .unwrap()
            .roster
            .member_by_key(&key)
            .is_some();
        if alpn == PEER_ALPN && is_member {
            self.inbound
                .lock()
                .unwrap()
                .entry(key)
                .or_default()
                .push(conn.clone());
            self.serve_streams(conn, key, true).await;
        } else if alpn == STAFF_ALPN && self.staff.read().unwrap().contains_key(&key) {
            self.serve_streams(conn, key, false).await;
        } else {
            conn.close(2u32.into(), b"key not admitted for this protocol");
        }
    }

    async fn serve_streams(self: &Arc<Self>, conn: quinn::Connection, key: PublicKey, peer: bool) {
        loop {
            let stream = tokio::select! {
                s = conn.accept_bi() => s,
                _ = self.shutdown.cancelled() => break,
            };
            let Ok((mut send, mut recv)) = stream else {
                break;
            };
            let node = self.clone();
            tokio::spawn(async move {
                let arrived = Instant::now();
                let body = transport::read_frame_bytes(&mut recv).await;
                let reply_bytes = if peer {
                    let reply = match body.map_err(|e| e.to_string()).and_then(|b| {
                        protocol_spec::wire::decode_body::<PeerMessage>(&b)
                            .map_err(|e| e.to_string())
                    }) {
                        Ok(msg) => node.handle_peer(key, msg, arrived).await,
                        Err(reason) => PeerReply::Rejected { reason },
                    };
                    protocol_spec::wire::encode_frame(&reply)
                } else {
                    let reply = match body.map_err(|e| e.to_string()).and_then(|b| {
                        protocol_spec::wire::decode_body::<StaffRequest>(&b)
                            .map_err(|e| e.to_string())
                    }) {
                        Ok(msg) => node.handle_staff(key, msg).await,
                        Err(reason) => staff_error(StaffErrorKind::BadRequest, reason),
                    };
                    protocol_spec::wire::encode_frame(&reply)
                };
                match reply_bytes {
                    Ok(bytes) => {
                        let _ = send.write_all(&bytes).await;
                        let _ = send.finish();
                    }
                    Err(e) => tracing::warn!(error = %e, "reply could not be encoded"),
                }
            });
        }
    }

    /// Closes connections of keys that are no longer members.
    fn drop_removed_members(&self) {
        let roster = self.roster.read().unwrap().roster.clone();
        let mut inbound = self.inbound.lock().unwrap();
        inbound.retain(|key, conns| {
            if roster.member_by_key(key).is_some() {
                conns.retain(|c| c.close_reason().is_none());
                true
            } else {
                for c in conns.iter() {
                    c.close(3u32.into(), b"removed from the federation roster");
                }
                false
            }
        });
    }

    /// A connection to a peer, reused while it lives.
    async fn connect_peer(&self, id: &InstitutionId) -> anyhow::Result<quinn::Connection> {
        let member = self
            .roster
            .read()
            .unwrap()
            .roster
            .member(id)
            .cloned()
            .ok_or_else(|| anyhow!("{id} is not a federation member"))?;
        let mut outbound = self.outbound.lock().await;
        if let Some(c) = outbound.get(id)
            && c.close_reason().is_none()
        {
            return Ok(c.clone());
        }
        let addr = resolve(&member.address).await?;
        let cfg = transport::client_config(&self.signing, member.signing_key, PEER_ALPN)?;
        let conn = transport::connect(&self.endpoint, cfg, addr).await?;
        outbound.insert(id.clone(), conn.clone());
        Ok(conn)
    }

    /// Sends one message to a peer. A cached connection may have died without notice (peer
    /// restarted); then the message is tried once more on a fresh connection. Case histories and
    /// rosters are idempotent; a summary request that did reach the responder before the failure
    /// is answered `replayed-request` the second time, never disclosed twice.
    pub async fn send_peer(
        &self,
        id: &InstitutionId,
        msg: &PeerMessage,
    ) -> anyhow::Result<PeerReply> {
        let conn = self.connect_peer(id).await?;
        match transport::request(&conn, msg).await {
            Ok(r) => Ok(r),
            Err(first) => {
                conn.close(0u32.into(), b"retrying");
                self.outbound.lock().await.remove(id);
                let conn = self.connect_peer(id).await.context(first.to_string())?;
                Ok(transport::request(&conn, msg).await?)
            }
        }
    }

    // ---------------------------------------------------------------- peer requests

    async fn handle_peer(
        self: &Arc<Self>,
        key: PublicKey,
        msg: PeerMessage,
        arrived: Instant,
    ) -> PeerReply {
        match msg {
            PeerMessage::Summary(req) => {
                let reply = self.answer_summary(key, req).await;
                if let PeerReply::Refusal(Refusal {
                    code: RefusalCode::NotConcerned,
                }) = reply
                {
                    tokio::time::sleep_until((arrived + UNIFORM_REFUSAL_DELAY).into()).await;
                }
                reply
            }
            PeerMessage::CaseHistory { case_id, events } => {
                match self.receive_case_history(key, case_id, events).await {
                    Ok(()) => PeerReply::Accepted,
                    Err(e) => PeerReply::Rejected {
                        reason: format!("{e:#}"),
                    },
                }
            }
            PeerMessage::Roster(r) => match self.install_roster(r, None).await {
                Ok(_) => PeerReply::Accepted,
                Err(e) => PeerReply::Rejected {
                    reason: format!("{e:#}"),
                },
            },
            PeerMessage::AddCheckpoint(body) => {
                crate::log::witness_add_checkpoint(self, body).await
            }
            // Entries carry salted person commitments; an AVS number has about 10^9 values, so
            // entries are for this node's own auditors only. Peers get checkpoints and hashes.
            PeerMessage::LogTile(path)
                if matches!(
                    protocol_spec::tlog::tiles::parse_path(&path),
                    Some(protocol_spec::tlog::tiles::TilePath::Entries { .. })
                ) =>
            {
                PeerReply::Rejected {
                    reason: "entry bundles are served to this node's auditors only".into(),
                }
            }
            PeerMessage::LogTile(path) => match crate::log::tile(self, &path).await {
                Ok(bytes) => PeerReply::LogData(bytes),
                Err(e) => PeerReply::Rejected {
                    reason: format!("{e:#}"),
                },
            },
            PeerMessage::ProveInclusion { index } => {
                match crate::log::prove_inclusion(self, index).await {
                    Ok((checkpoint, proof)) => PeerReply::Inclusion { checkpoint, proof },
                    Err(e) => PeerReply::Rejected {
                        reason: format!("{e:#}"),
                    },
                }
            }
            PeerMessage::ReceiptProof(p) => {
                let roster = self.roster().roster;
                let Some(peer) = roster.member_by_key(&key).map(|m| m.id.clone()) else {
                    return PeerReply::Rejected {
                        reason: "sender is not a member".into(),
                    };
                };
                let checked = crate::log::check_inclusion(&roster, &peer, &p);
                match checked {
                    Ok(()) => match crate::log::keep_inclusion(self, &peer, p).await {
                        Ok(()) => PeerReply::Accepted,
                        Err(e) => PeerReply::Rejected {
                            reason: format!("{e:#}"),
                        },
                    },
                    Err(e) => PeerReply::Rejected {
                        reason: format!("receipt proof does not verify: {e:#}"),
                    },
                }
            }
        }
    }

    /// The responder side of a summary request: authentication, freshness and replay checks,
    /// then the rule, then the sealed disclosure. The decision, its log entry and the request
    /// id are committed together before the reply leaves.
    async fn answer_summary(
        self: &Arc<Self>,
        key: PublicKey,
        req: SignedSummaryRequest,
    ) -> PeerReply {
        let refuse = |code| PeerReply::Refusal(Refusal { code });
        let roster = self.roster();
        let now = now();
        let r = &req.request;
        let member = roster.roster.member_by_key(&key).cloned();
        // Checks that need no store; their refusals are logged like every other decision.
        let early = match &member {
            None => Some(RefusalCode::NotMember),
            Some(m) if r.requester != m.id || !req.verify(&m.signing_key) => {
                Some(RefusalCode::BadSignature)
            }
            Some(_) if r.responder != self.me => Some(RefusalCode::WrongResponder),
            Some(_) if !r.is_well_formed() => Some(RefusalCode::Malformed),
            Some(_) if now.abs_diff(r.issued_at) > MAX_CLOCK_SKEW => {
                Some(RefusalCode::StaleRequest)
            }
            Some(_) => None,
        };
        if let Some(code) = early {
            let (r, digest) = (r.clone(), hex::encode(req.digest()));
            let logged = self
                .store
                .write(move |tx| log_refusal(tx, now, &r, None, code, &digest))
                .await;
            return match logged {
                Ok(()) => refuse(code),
                Err(e) => {
                    tracing::error!(error = %e, "refusal could not be logged");
                    refuse(RefusalCode::Unavailable)
                }
            };
        }
        let member = member.expect("checked above");
        let node = self.clone();
        let result = self
            .store
            .write(move |tx| {
                let r = &req.request;
                let fresh = tx.db.execute(
                    "INSERT OR IGNORE INTO seen_requests (request_id, requester, seen_at) VALUES (?1, ?2, ?3)",
                    rusqlite::params![r.request_id.0.to_vec(), r.requester.as_str(), now as i64],
                )?;
                let digest = hex::encode(req.digest());
                if fresh == 0 {
                    log_refusal(tx, now, r, None, RefusalCode::ReplayedRequest, &digest)?;
                    return Ok(PeerReply::Refusal(Refusal { code: RefusalCode::ReplayedRequest }));
                }
                let case = load_case(tx.db, &r.case_id)?;
                match rule::decide(&roster.roster, &node.me, r, case.as_ref(), now) {
                    Err(code) => {
                        // The person is named in the log only when the requester is concerned.
                        let person = case.as_ref().filter(|_| code != RefusalCode::NotConcerned).map(|c| &c.person);
                        log_refusal(tx, now, r, person, code, &digest)?;
                        Ok(PeerReply::Refusal(Refusal { code }))
                    }
                    Ok(grant) => {
                        let case = case.expect("granted implies a case");
                        let summary = build_summary(tx.db, &case.person, &grant.categories)?;
                        let header = DisclosureHeader {
                            request_digest: req.digest(),
                            request_id: r.request_id,
                            case_id: r.case_id,
                            source: node.me.clone(),
                            recipient: r.requester.clone(),
                            purpose: r.purpose.clone(),
                            categories: grant.categories.clone(),
                            consent_id: grant.consent_id,
                            disclosed_at: now,
                            roster_version: roster.roster.version,
                        };
                        let d = Disclosure::build(header, &summary, &member.encryption_key, &node.signing, &mut OsRng)?;
                        let e = Entry::new("disclosure", now, vec![
                            r.case_id.to_string(),
                            entry::person_field(Some(&case.person), random()),
                            r.requester.to_string(),
                            r.purpose.to_string(),
                            entry::categories_field(&grant.categories),
                            grant.consent_id.to_string(),
                            digest,
                            hex::encode(d.sealed.digest()),
                        ])?;
                                                let bytes = e.to_bytes();
                        let leaf_hash = protocol_spec::tlog::leaf_hash(&bytes);
                        let leaf_index = tx.log(bytes)?;
                        Ok(PeerReply::Disclosure { disclosure: Box::new(d), leaf_index, leaf_hash })
                    }
                }
            })
            .await;
        match result {
            Ok(reply) => reply,
            Err(e) => {
                tracing::error!(error = %e, "summary request could not be processed");
                refuse(RefusalCode::Unavailable)
            }
        }
    }

    async fn receive_case_history(
        self: &Arc<Self>,
        key: PublicKey,
        case_id: CaseId,
        events: Vec<SignedCaseEvent>,
    ) -> anyhow::Result<()> {
        let roster = self.roster().roster;
        let sender = roster
            .member_by_key(&key)
            .map(|m| m.id.clone())
            .ok_or_else(|| anyhow!("sender is not a member"))?;
        if events.first().map(|e| e.event.case_id) != Some(case_id) {
            bail!("case history does not start with this case's opening event");
        }
        let me = self.me.clone();
        self.store
            .write(move |tx| {
                let key_of = |id: &InstitutionId| roster.member(id).map(|m| m.signing_key);
                let (case, new_events) = match load_case(tx.db, &case_id)? {
                    Some(mut case) => {
                        let before = case.history.len();
                        case.merge(&events, key_of)?;
                        let new = case.history[before..].to_vec();
                        (case, new)
                    }
                    None => {
                        let case = CoordinatedCase::replay(&events, key_of)?;
                        let new = case.history.clone();
                        (case, new)
                    }
                };
                if !case.audience().any(|i| i == &me) {
                    bail!("this institution is not invited to or participating in the case");
                }
                if !case.audience().any(|i| i == &sender) {
                    bail!("the sender does not take part in the case");
                }
                for ev in &new_events {
                    log_case_event(tx, &case, ev)?;
                }
                save_case(tx.db, &case)?;
                Ok(())
            })
            .await
    }

    /// Adopts a newer, validly signed roster, closes removed members' connections, and passes
    /// it on to the other members.
    pub async fn install_roster(
        self: &Arc<Self>,
        offered: SignedRoster,
        _by: Option<StaffId>,
    ) -> anyhow::Result<u64> {
        let current = self.roster();
        offered.verify_successor(&current.roster)?;
        let Some(mine) = offered.roster.member(&self.me) else {
            bail!(
                "the offered roster no longer lists this institution; an administrator must decide"
            );
        };
        // A roster that gives this institution other keys would lock the node out of its own
        // federation (peers would pin keys it does not hold): that is a key change for the
        // administrator to carry out with new key files, not something to adopt silently.
        let keys = crate::config::NodeKeys {
            signing: &self.signing,
            encryption: &self.encryption,
            log: &self.log_key,
            witness: &self.witness_key,
        };
        if let Err(what) = keys.check_listed(mine) {
            bail!(
                "the offered roster lists another {what} key for this institution than the one it holds"
            );
        }
        let version = offered.roster.version;
        let bytes = postcard::to_stdvec(&offered)?;
        let digest = hex::encode(offered.digest());
        self.store
            .write(move |tx| {
                tx.db.execute(
                    "INSERT INTO meta (key, value) VALUES ('roster', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    [bytes],
                )?;
                tx.log(Entry::new("roster", now(), vec![version.to_string(), digest])?.to_bytes())?;
                Ok(())
            })
            .await?;
        *self.roster.write().unwrap() = offered.clone();
        self.drop_removed_members();
        self.outbound
            .lock()
            .await
            .retain(|id, _| offered.roster.member(id).is_some());
        let node = self.clone();
        tokio::spawn(async move {
            for m in offered.roster.members.iter().filter(|m| m.id != node.me) {
                let _ = node
                    .send_peer(&m.id, &PeerMessage::Roster(offered.clone()))
                    .await;
            }
        });
        tracing::info!(version, "roster installed");
        Ok(version)
    }

    // ---------------------------------------------------------------- staff requests

    async fn handle_staff(self: &Arc<Self>, key: PublicKey, req: StaffRequest) -> StaffReply {
        // Looked up per request, so a revocation takes effect on open connections too.
        let Some(who) = self.staff.read().unwrap().get(&key).cloned() else {
            return staff_error(
                StaffErrorKind::Forbidden,
                "this staff credential is not valid at this node",
            );
        };
        if let Some(role) = req.required_role()
            && who.role != role
        {
            return staff_error(
                StaffErrorKind::Forbidden,
                format!(
                    "this action needs the {role} role; {} has the {} role",
                    who.staff, who.role
                ),
            );
        }
        match self.staff_action(&who, req).await {
            Ok(reply) => reply,
            Err(Fault(kind, message)) => staff_error(kind, message),
        }
    }

    async fn staff_action(
        self: &Arc<Self>,
        who: &StaffMember,
        req: StaffRequest,
    ) -> Result<StaffReply, Fault> {
        let by = who.staff.clone();
        match req {
            StaffRequest::WhoAmI => Ok(StaffReply::Me(StaffInfo {
                staff: who.staff.clone(),
                role: who.role,
                institution: self.me.clone(),
                revoked: false,
            })),
            StaffRequest::Status => self.status().await,
            StaffRequest::StaffIssue { staff, role, key } => {
                let (s2, k2) = (staff.clone(), key);
                self.store
                    .write(move |tx| {
                        let exists: bool = tx.db.query_row(
                            "SELECT EXISTS(SELECT 1 FROM staff WHERE staff_id = ?1 OR key = ?2)",
                            rusqlite::params![staff.as_str(), key.0.to_vec()],
                            |r| r.get(0),
                        )?;
                        if exists {
                            return Err(anyhow!("staff id or key already issued"));
                        }
                        tx.db.execute(
                            "INSERT INTO staff (staff_id, role, key, issued_by, issued_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                            rusqlite::params![staff.as_str(), role.as_str(), key.0.to_vec(), by.as_str(), now() as i64],
                        )?;
                        tx.log(Entry::new("staff", now(), vec![staff.to_string(), role.to_string(), "issued".into(), by.to_string()])?.to_bytes())?;
                        Ok(())
                    })
                    .await
                    .map_err(|e| bad(format!("{e:#}")))?;
                self.staff
                    .write()
                    .unwrap()
                    .insert(k2, StaffMember { staff: s2, role });
                Ok(StaffReply::Done)
            }
            StaffRequest::StaffRevoke { staff } => {
                let s2 = staff.clone();
                self.store
                    .write(move |tx| {
                        let role: Option<String> = tx
                            .db
                            .query_row(
                                "SELECT role FROM staff WHERE staff_id = ?1 AND revoked_at IS NULL",
                                [staff.as_str()],
                                |r| r.get(0),
                            )
                            .optional()?;
                        let role = role.ok_or_else(|| anyhow!("no active staff member {staff}"))?;
                        tx.db.execute(
                            "UPDATE staff SET revoked_at = ?1 WHERE staff_id = ?2",
                            rusqlite::params![now() as i64, staff.as_str()],
                        )?;
                        let e = Entry::new(
                            "staff",
                            now(),
                            vec![staff.to_string(), role, "revoked".into(), by.to_string()],
                        )?;
                        tx.log(e.to_bytes())?;
                        Ok(())
                    })
                    .await
                    .map_err(|e| bad(format!("{e:#}")))?;
                self.staff.write().unwrap().retain(|_, m| m.staff != s2);
                Ok(StaffReply::Done)
            }
            StaffRequest::StaffList => {
                let me = self.me.clone();
                let list = self
                    .store
                    .read(move |db| {
                        let mut st = db.prepare("SELECT staff_id, role, revoked_at IS NOT NULL FROM staff ORDER BY staff_id")?;
                        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, bool>(2)?)))?;
                        let mut out = Vec::new();
                        for row in rows {
                            let (s, role, revoked) = row?;
                            out.push(StaffInfo { staff: s.parse()?, role: role.parse()?, institution: me.clone(), revoked });
                        }
                        Ok(out)
                    })
                    .await?;
                Ok(StaffReply::Staff(list))
            }
            StaffRequest::ImportRecords(set) => {
                set.validate()
                    .map_err(|e| bad(format!("records rejected: {e}")))?;
                let (persons, fields) = (set.persons.len() as u64, set.fields.len() as u64);
                let digest =
                    hex::encode(protocol_spec::keys::sha256(&[&postcard::to_stdvec(&set)?]));
                self.store
                    .write(move |tx| {
                        for p in &set.persons {
                            tx.db.execute(
                                "INSERT INTO persons (avs, name, birth_date) VALUES (?1, ?2, ?3)
                                 ON CONFLICT(avs) DO UPDATE SET name = excluded.name, birth_date = excluded.birth_date",
                                rusqlite::params![p.avs.digits(), p.name, p.birth_date],
                            )?;
                        }
                        for f in &set.fields {
                            let known: bool = tx.db.query_row("SELECT EXISTS(SELECT 1 FROM persons WHERE avs = ?1)", [f.avs.digits()], |r| r.get(0))?;
                            if !known {
                                bail!("a field row names a person who is neither in the file nor already in the records");
                            }
                            tx.db.execute(
                                "INSERT INTO record_fields (avs, category, field, value) VALUES (?1, ?2, ?3, ?4)
                                 ON CONFLICT(avs, category, field) DO UPDATE SET value = excluded.value",
                                rusqlite::params![f.avs.digits(), f.category.as_str(), f.field, f.value],
                            )?;
                        }
                        tx.log(Entry::new("records-imported", now(), vec![persons.to_string(), fields.to_string(), digest, by.to_string()])?.to_bytes())?;
                        Ok(())
                    })
                    .await
                    .map_err(|e| bad(format!("{e:#}; nothing was imported")))?;
                Ok(StaffReply::Imported { persons, fields })
            }
            StaffRequest::InstallRoster(r) => {
                let v = self
                    .install_roster(r, Some(by))
                    .await
                    .map_err(|e| bad(format!("{e:#}")))?;
                Ok(StaffReply::RosterInstalled { version: v })
            }
            StaffRequest::CaseOpen { person, invite } => self.case_open(who, person, invite).await,
            StaffRequest::CaseInvite {
                case_id,
                institution,
            } => {
                let roster = self.roster().roster;
                if roster.member(&institution).is_none() {
                    return Err(bad(format!("{institution} is not a federation member")));
                }
                self.case_change(who, case_id, CaseEventKind::Invited { institution })
                    .await
            }
            StaffRequest::CaseAccept { case_id } => {
                self.case_change(who, case_id, CaseEventKind::Accepted)
                    .await
            }
            StaffRequest::CaseClose { case_id } => {
                self.case_change(who, case_id, CaseEventKind::Closed).await
            }
            StaffRequest::ConsentRecord(d) => {
                let mut participants = d.participants.clone();
                participants.sort();
                participants.dedup();
                let mut purposes = d.purposes.clone();
                purposes.sort();
                purposes.dedup();
                let mut categories = d.categories.clone();
                categories.sort();
                categories.dedup();
                let consent = protocol_spec::case::Consent {
                    consent_id: protocol_spec::ids::ConsentId(random()),
                    case_id: d.case_id,
                    participants,
                    purposes,
                    categories,
                    valid_from: d.valid_from,
                    valid_until: d.valid_until,
                    form_digest: d.form_digest,
                    recorded_by: who.staff.clone(),
                    recorded_at: now(),
                };
                let id = consent.consent_id;
                match self
                    .case_change(who, d.case_id, CaseEventKind::ConsentRecorded(consent))
                    .await?
                {
                    StaffReply::CaseUpdated { delivered } => Ok(StaffReply::ConsentRecorded {
                        consent_id: id,
                        delivered,
                    }),
                    other => Ok(other),
                }
            }
            StaffRequest::ConsentRevoke {
                case_id,
                consent_id,
            } => {
                self.case_change(who, case_id, CaseEventKind::ConsentRevoked { consent_id })
                    .await
            }
            StaffRequest::CaseList => {
                let me = self.me.clone();
                let cases = self
                    .store
                    .read(move |db| {
                        let mut st = db.prepare("SELECT history FROM cases ORDER BY rowid")?;
                        let rows = st.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
                        let mut out = Vec::new();
                        for h in rows {
                            let case = CoordinatedCase::restore(postcard::from_bytes(&h?)?)?;
                            out.push(case_info(&case, &me));
                        }
                        Ok(out)
                    })
                    .await?;
                Ok(StaffReply::Cases(cases))
            }
            StaffRequest::CaseShow { case_id } => {
                let me = self.me.clone();
                let detail = self
                    .store
                    .read(move |db| {
                        let Some(case) = load_case(db, &case_id)? else {
                            return Ok(None);
                        };
                        let name: Option<String> = db
                            .query_row(
                                "SELECT name FROM persons WHERE avs = ?1",
                                [case.person.digits()],
                                |r| r.get(0),
                            )
                            .optional()?;
                        let consents = case
                            .consents
                            .iter()
                            .map(|(c, revoked)| ConsentInfo {
                                consent_id: c.consent_id,
                                participants: c.participants.clone(),
                                purposes: c.purposes.clone(),
                                categories: c.categories.clone(),
                                valid_from: c.valid_from,
                                valid_until: c.valid_until,
                                form_digest: c.form_digest,
                                recorded_by: c.recorded_by.clone(),
                                revoked_at: *revoked,
                            })
                            .collect();
                        Ok(Some(CaseDetail {
                            info: case_info(&case, &me),
                            person_name: name,
                            consents,
                        }))
                    })
                    .await?;
                detail
                    .map(StaffReply::Case)
                    .ok_or_else(|| bad(format!("no coordinated case {case_id} at this node")))
            }
            StaffRequest::SummaryRequest {
                case_id,
                from,
                purpose,
                categories,
            } => {
                self.request_summary(who, case_id, from, purpose, categories)
                    .await
            }
            StaffRequest::SummaryList => {
                let list = self
                    .store
                    .read(|db| {
                        let mut st = db.prepare("SELECT summary_id, disclosure, requested_by, received_at FROM summaries ORDER BY received_at, rowid")?;
                        let rows = st.query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?)))?;
                        let mut out = Vec::new();
                        for row in rows {
                            let (id, d, by, at) = row?;
                            out.push(received_info(&id, &postcard::from_bytes(&d)?, &by, at)?);
                        }
                        Ok(out)
                    })
                    .await?;
                Ok(StaffReply::Summaries(list))
            }
            StaffRequest::SummaryOpen { summary_id } => self.open_summary(who, summary_id).await,
            StaffRequest::LogCheckpoint => {
                // Gather cosignatures for the newest checkpoint before handing it out.
                if let Err(e) = crate::log::checkpoint_and_witness(self).await {
                    tracing::warn!(error = %e, "witnessing round failed");
                }
                let (_, note) = crate::log::sign_checkpoint(self).await?;
                Ok(StaffReply::Checkpoint { note })
            }
            StaffRequest::LogTile { path } => {
                let bytes = crate::log::tile(self, &path)
                    .await
                    .map_err(|e| bad(format!("{e:#}")))?;
                Ok(StaffReply::LogData(bytes))
            }
            StaffRequest::Roster => Ok(StaffReply::Roster(self.roster())),
            StaffRequest::WitnessEvidence => {
                let list = self
                    .store
                    .read(|db| {
                        let mut st = db.prepare("SELECT origin, cosigned, offered, problem, seen_at FROM witness_evidence ORDER BY id")?;
                        let rows = st.query_map([], |r| {
                            Ok(WitnessEvidence {
                                origin: r.get(0)?,
                                cosigned: r.get(1)?,
                                offered: r.get(2)?,
                                problem: r.get(3)?,
                                seen_at: r.get::<_, i64>(4)? as u64,
                            })
                        })?;
                        Ok(rows.collect::<Result<Vec<_>, _>>()?)
                    })
                    .await?;
                Ok(StaffReply::Evidence(list))
            }
        }
    }

    async fn status(&self) -> Result<StaffReply, Fault> {
        let roster = self.roster().roster;
        let (persons, open_cases, outbox, witness_evidence) = self
            .store
            .read(|db| {
                let c = |sql: &str| db.query_row(sql, [], |r| r.get::<_, i64>(0));
                Ok((
                    c("SELECT COUNT(*) FROM persons")? as u64,
                    c("SELECT COUNT(*) FROM cases")? as u64,
                    c("SELECT COUNT(*) FROM outbox")? as u64,
                    c("SELECT COUNT(*) FROM witness_evidence")? as u64,
                ))
            })
            .await?;
        Ok(StaffReply::Status(NodeStatus {
            institution: self.me.clone(),
            federation: roster.federation.clone(),
            roster_version: roster.version,
            members: roster.members.iter().map(|m| m.id.clone()).collect(),
            log_size: self.log.lock().unwrap().size(),
            persons,
            open_cases,
            outbox,
            witness_evidence,
        }))
    }

    async fn case_open(
        self: &Arc<Self>,
        who: &StaffMember,
        person: Avs,
        invite: Vec<InstitutionId>,
    ) -> Result<StaffReply, Fault> {
        let roster = self.roster().roster;
        for i in &invite {
            if roster.member(i).is_none() {
                return Err(bad(format!("{i} is not a federation member")));
            }
            if i == &self.me {
                return Err(bad("a case cannot invite its own institution"));
            }
        }
        let case_id = CaseId(random());
        let mut events = vec![self.event(
            who,
            case_id,
            CaseEventKind::Opened {
                person: person.clone(),
            },
        )];
        for i in invite {
            events.push(self.event(who, case_id, CaseEventKind::Invited { institution: i }));
        }
        let key = self.signing.public();
        let case = self
            .store
            .write(move |tx| {
                let known: bool = tx.db.query_row(
                    "SELECT EXISTS(SELECT 1 FROM persons WHERE avs = ?1)",
                    [person.digits()],
                    |r| r.get(0),
                )?;
                if !known {
                    bail!(
                        "no person with this social insurance number in this institution's records"
                    );
                }
                let mut it = events.into_iter();
                let mut case = CoordinatedCase::open(it.next().expect("opening event"), &key)?;
                for ev in it {
                    case.apply(ev, &key)?;
                }
                for ev in &case.history {
                    log_case_event(tx, &case, ev)?;
                }
                save_case(tx.db, &case)?;
                Ok(case)
            })
            .await
            .map_err(|e| bad(format!("{e:#}")))?;
        let delivered = self.distribute(&case).await;
        Ok(StaffReply::CaseOpened { case_id, delivered })
    }

    fn event(&self, who: &StaffMember, case_id: CaseId, kind: CaseEventKind) -> SignedCaseEvent {
        CaseEvent {
            event_id: EventId(random()),
            case_id,
            author: self.me.clone(),
            staff: who.staff.clone(),
            at: now(),
            kind,
        }
        .sign(&self.signing)
    }

    async fn case_change(
        self: &Arc<Self>,
        who: &StaffMember,
        case_id: CaseId,
        kind: CaseEventKind,
    ) -> Result<StaffReply, Fault> {
        let ev = self.event(who, case_id, kind);
        let key = self.signing.public();
        let case = self
            .store
            .write(move |tx| {
                let mut case = load_case(tx.db, &case_id)?
                    .ok_or_else(|| anyhow!("no coordinated case {case_id} at this node"))?;
                case.apply(ev.clone(), &key)?;
                log_case_event(tx, &case, &ev)?;
                save_case(tx.db, &case)?;
                Ok(case)
            })
            .await
            .map_err(|e| bad(format!("{e:#}")))?;
        let delivered = self.distribute(&case).await;
        Ok(StaffReply::CaseUpdated { delivered })
    }

    /// Sends the case history to everyone else in the case; undelivered ones go to the outbox.
    async fn distribute(self: &Arc<Self>, case: &CoordinatedCase) -> Vec<Delivery> {
        let msg = PeerMessage::CaseHistory {
            case_id: case.case_id,
            events: case.history.clone(),
        };
        let mut out = Vec::new();
        let targets: Vec<InstitutionId> = case
            .audience()
            .filter(|i| *i != &self.me)
            .cloned()
            .collect();
        for id in targets {
            let ok = matches!(self.send_peer(&id, &msg).await, Ok(PeerReply::Accepted));
            if !ok {
                let bytes = postcard::to_stdvec(&OutboxItem::CaseHistory {
                    case_id: case.case_id,
                })
                .expect("encodes");
                let rid = id.to_string();
                let _ = self
                    .store
                    .write(move |tx| {
                        tx.db.execute(
                            "INSERT INTO outbox (recipient, message, created_at, next_attempt) VALUES (?1, ?2, ?3, ?3)",
                            rusqlite::params![rid, bytes, now() as i64],
                        )?;
                        Ok(())
                    })
                    .await;
            }
            out.push(Delivery {
                institution: id,
                delivered: ok,
            });
        }
        out
    }

    /// Retries undelivered messages; case histories are re-read at delivery so the peer gets
    /// the latest state, and summary requests are signed afresh so the responder checks the
    /// rule at delivery time.
    pub async fn flush_outbox(self: &Arc<Self>) {
        let Ok(_guard) = self.flushing.try_lock() else {
            return;
        };
        let due = self
            .store
            .read(|db| {
                let mut st = db.prepare("SELECT id, recipient, message, staff FROM outbox WHERE next_attempt <= ?1 ORDER BY id LIMIT 32")?;
                let rows = st.query_map([now() as i64], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, Vec<u8>>(2)?, r.get::<_, Option<String>>(3)?)))?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await
            .unwrap_or_default();
        for (id, recipient, message, staff) in due {
            let Ok(recipient) = recipient.parse::<InstitutionId>() else {
                continue;
            };
            let member = self.roster().roster.member(&recipient).is_some();
            if !member {
                // The roster no longer lists the recipient: nothing may be sent to it any more.
                tracing::warn!(peer = %recipient, "dropping an undeliverable outbox item: recipient left the federation");
            }
            let done = !member
                || match postcard::from_bytes::<OutboxItem>(&message) {
                    Ok(OutboxItem::CaseHistory { case_id }) => {
                        let case = self
                            .store
                            .read(move |db| load_case(db, &case_id))
                            .await
                            .ok()
                            .flatten();
                        match case {
                            Some(case) => matches!(
                                self.send_peer(
                                    &recipient,
                                    &PeerMessage::CaseHistory {
                                        case_id,
                                        events: case.history.clone()
                                    }
                                )
                                .await,
                                Ok(PeerReply::Accepted | PeerReply::Rejected { .. })
                            ),
                            None => true,
                        }
                    }
                    Ok(OutboxItem::Summary {
                        case_id,
                        purpose,
                        categories,
                    }) => {
                        let who = StaffMember {
                            staff: staff
                                .and_then(|s| s.parse().ok())
                                .unwrap_or_else(|| "system".parse().expect("token")),
                            role: Role::CaseWorker,
                        };
                        !matches!(
                            self.exchange_summary(
                                &who,
                                case_id,
                                recipient.clone(),
                                purpose,
                                categories
                            )
                            .await,
                            Ok(SummaryOutcome::Queued) | Err(_)
                        )
                    }
                    Err(_) => true,
                };
            let _ = self
                .store
                .write(move |tx| {
                    if done {
                        tx.db.execute("DELETE FROM outbox WHERE id = ?1", [id])?;
                    } else {
                        tx.db.execute(
                            "UPDATE outbox SET attempts = attempts + 1, next_attempt = ?2 + MIN(300, 2 * (attempts + 1)) WHERE id = ?1",
                            rusqlite::params![id, now() as i64],
                        )?;
                    }
                    Ok(())
                })
                .await;
        }
    }

    async fn request_summary(
        self: &Arc<Self>,
        who: &StaffMember,
        case_id: CaseId,
        from: InstitutionId,
        purpose: protocol_spec::ids::Purpose,
        mut categories: Vec<protocol_spec::category::Category>,
    ) -> Result<StaffReply, Fault> {
        categories.sort();
        categories.dedup();
        if categories.is_empty() {
            return Err(bad("name at least one category"));
        }
        if self.roster().roster.member(&from).is_none() {
            return Err(bad(format!("{from} is not a federation member")));
        }
        if from == self.me {
            return Err(bad("a summary is requested from another institution"));
        }
        let me = self.me.clone();
        let participant = self
            .store
            .read(move |db| Ok(load_case(db, &case_id)?.map(|c| c.is_participant(&me))))
            .await?;
        match participant {
            None => return Err(bad(format!("no coordinated case {case_id} at this node"))),
            Some(false) => {
                return Err(bad(
                    "this institution does not participate in the case (accept the invitation first)",
                ));
            }
            Some(true) => {}
        }
        let outcome = self
            .exchange_summary(
                who,
                case_id,
                from.clone(),
                purpose.clone(),
                categories.clone(),
            )
            .await?;
        if outcome == SummaryOutcome::Queued {
            let bytes = postcard::to_stdvec(&OutboxItem::Summary {
                case_id,
                purpose,
                categories,
            })?;
            let staff = who.staff.to_string();
            self.store
                .write(move |tx| {
                    tx.db.execute(
                        "INSERT INTO outbox (recipient, message, staff, created_at, next_attempt) VALUES (?1, ?2, ?3, ?4, ?4)",
                        rusqlite::params![from.as_str(), bytes, staff, now() as i64],
                    )?;
                    Ok(())
                })
                .await?;
        }
        Ok(StaffReply::Summary(outcome))
    }

    /// The requester side: sign, send, verify, store sealed, log.
    pub async fn exchange_summary(
        self: &Arc<Self>,
        who: &StaffMember,
        case_id: CaseId,
        from: InstitutionId,
        purpose: protocol_spec::ids::Purpose,
        categories: Vec<protocol_spec::category::Category>,
    ) -> Result<SummaryOutcome, Fault> {
        let roster = self.roster().roster;
        let source_key = roster
            .member(&from)
            .ok_or_else(|| bad(format!("{from} is not a federation member")))?
            .signing_key;
        let req = SummaryRequest {
            request_id: RequestId(random()),
            requester: self.me.clone(),
            responder: from.clone(),
            case_id,
            purpose,
            categories,
            issued_at: now(),
        }
        .sign(&self.signing);
        let reply = match self
            .send_peer(&from, &PeerMessage::Summary(req.clone()))
            .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::info!(peer = %from, error = %e, "peer unreachable; summary request queued");
                return Ok(SummaryOutcome::Queued);
            }
        };
        let staff = who.staff.clone();
        match reply {
            PeerReply::Disclosure {
                disclosure: d,
                leaf_index,
                leaf_hash,
            } => {
                d.verify(&req, &source_key).map_err(|e| {
                    Fault(
                        StaffErrorKind::Peer,
                        format!("{from} sent an invalid summary: {e}"),
                    )
                })?;
                let summary_id = SummaryId(random());
                let info = self
                    .store
                    .write(move |tx| {
                        let person = load_case(tx.db, &case_id)?.map(|c| c.person);
                        let at = now();
                        tx.db.execute(
                            "INSERT INTO summaries (summary_id, case_id, source, request, disclosure, requested_by, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                            rusqlite::params![summary_id.0.to_vec(), case_id.0.to_vec(), d.header.source.as_str(), postcard::to_stdvec(&req)?, postcard::to_stdvec(&d)?, staff.as_str(), at as i64],
                        )?;
                        let h = &d.header;
                                                let receipt = Entry::new("receipt", at, vec![
                            case_id.to_string(),
                            entry::person_field(person.as_ref(), random()),
                            h.source.to_string(),
                            h.purpose.to_string(),
                            entry::categories_field(&h.categories),
                            h.consent_id.to_string(),
                            hex::encode(req.digest()),
                            hex::encode(d.sealed.digest()),
                            format!("{leaf_index} {}", hex::encode(leaf_hash)),
                            staff.to_string(),
                        ])?
                        .to_bytes();
                        let receipt_hash = protocol_spec::tlog::leaf_hash(&receipt);
                        let receipt_index = tx.log(receipt)?;
                        let info = received_info(&summary_id.0, &d, staff.as_str(), at as i64)?;
                        Ok((info, req.digest(), (receipt_index, receipt_hash)))
                    })
                    .await?;
                let (info, digest, receipt_leaf) = info;
                // Each side gets the other's inclusion proof once the receipt is durable.
                tokio::spawn(crate::log::exchange_inclusion_proofs(
                    self.clone(),
                    from.clone(),
                    digest,
                    (leaf_index, leaf_hash),
                    receipt_leaf,
                ));
                Ok(SummaryOutcome::Received(info))
            }
            PeerReply::Refusal(Refusal { code }) => {
                let r = req.request.clone();
                self.store
                    .write(move |tx| {
                        let person = load_case(tx.db, &case_id)?.map(|c| c.person);
                        tx.log(
                            Entry::new(
                                "refused-by-peer",
                                now(),
                                vec![
                                    case_id.to_string(),
                                    entry::person_field(person.as_ref(), random()),
                                    r.responder.to_string(),
                                    r.purpose.to_string(),
                                    entry::categories_field(&r.categories),
                                    code.as_str().to_string(),
                                    hex::encode(req.digest()),
                                    staff.to_string(),
                                ],
                            )?
                            .to_bytes(),
                        )?;
                        Ok(())
                    })
                    .await?;
                Ok(SummaryOutcome::Refused { code })
            }
            other => Err(Fault(
                StaffErrorKind::Peer,
                format!(
                    "{from} answered a summary request with an unexpected message: {}",
                    reply_name(&other)
                ),
            )),
        }
    }

    async fn open_summary(
        self: &Arc<Self>,
        who: &StaffMember,
        summary_id: SummaryId,
    ) -> Result<StaffReply, Fault> {
        let staff = who.staff.clone();
        // The opening is logged and durable before the content is revealed.
        let (d, info) = self
            .store
            .write(move |tx| {
                let row: Option<(Vec<u8>, String, i64, Vec<u8>)> = tx
                    .db
                    .query_row(
                        "SELECT disclosure, requested_by, received_at, case_id FROM summaries WHERE summary_id = ?1",
                        [summary_id.0.to_vec()],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                    )
                    .optional()?;
                let (d, by, at, case) = row.ok_or_else(|| anyhow!("no received summary {summary_id} at this node"))?;
                let d: Disclosure = postcard::from_bytes(&d)?;
                let case_id = CaseId(case.try_into().map_err(|_| anyhow!("corrupt case id"))?);
                let person = load_case(tx.db, &case_id)?.map(|c| c.person);
                tx.log(Entry::new("summary-opened", now(), vec![
                    case_id.to_string(),
                    entry::person_field(person.as_ref(), random()),
                    d.header.source.to_string(),
                    hex::encode(d.sealed.digest()),
                    staff.to_string(),
                ])?.to_bytes())?;
                let info = received_info(&summary_id.0, &d, &by, at)?;
                Ok((d, info))
            })
            .await
            .map_err(|e| bad(format!("{e:#}")))?;
        let summary = d.open(&self.encryption).map_err(|e| {
            Fault(
                StaffErrorKind::Internal,
                format!("stored summary cannot be opened: {e}"),
            )
        })?;
        Ok(StaffReply::Opened { info, summary })
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
enum OutboxItem {
    CaseHistory {
        case_id: CaseId,
    },
    Summary {
        case_id: CaseId,
        purpose: protocol_spec::ids::Purpose,
        categories: Vec<protocol_spec::category::Category>,
    },
}

fn reply_name(r: &PeerReply) -> &'static str {
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

async fn resolve(address: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(a) = address.parse() {
        return Ok(a);
    }
    tokio::net::lookup_host(address)
        .await
        .with_context(|| format!("cannot resolve {address}"))?
        .next()
        .ok_or_else(|| anyhow!("{address} resolves to no address"))
}

fn received_info(id: &[u8], d: &Disclosure, by: &str, at: i64) -> anyhow::Result<ReceivedSummary> {
    Ok(ReceivedSummary {
        summary_id: SummaryId(id.try_into().map_err(|_| anyhow!("corrupt summary id"))?),
        case_id: d.header.case_id,
        source: d.header.source.clone(),
        purpose: d.header.purpose.clone(),
        categories: d.header.categories.clone(),
        received_at: at as u64,
        requested_by: by.parse()?,
        sealed_digest: d.sealed.digest(),
    })
}

fn case_info(case: &CoordinatedCase, me: &InstitutionId) -> CaseInfo {
    CaseInfo {
        case_id: case.case_id,
        person: case.person.clone(),
        opened_by: case.opened_by.clone(),
        status: case.status,
        my_participation: case
            .participants
            .get(me)
            .copied()
            .unwrap_or(Participation::Left),
        participants: case
            .participants
            .iter()
            .map(|(i, p)| (i.clone(), *p))
            .collect(),
    }
}

pub fn load_case(
    db: &rusqlite::Connection,
    case_id: &CaseId,
) -> anyhow::Result<Option<CoordinatedCase>> {
    let h: Option<Vec<u8>> = db
        .query_row(
            "SELECT history FROM cases WHERE case_id = ?1",
            [case_id.0.to_vec()],
            |r| r.get(0),
        )
        .optional()?;
    match h {
        None => Ok(None),
        Some(h) => Ok(Some(CoordinatedCase::restore(postcard::from_bytes(&h)?)?)),
    }
}

fn save_case(db: &rusqlite::Connection, case: &CoordinatedCase) -> anyhow::Result<()> {
    db.execute(
        "INSERT INTO cases (case_id, person, history) VALUES (?1, ?2, ?3)
         ON CONFLICT(case_id) DO UPDATE SET history = excluded.history",
        rusqlite::params![
            case.case_id.0.to_vec(),
            case.person.digits(),
            postcard::to_stdvec(&case.history)?
        ],
    )?;
    Ok(())
}

fn build_summary(
    db: &rusqlite::Connection,
    person: &Avs,
    categories: &[protocol_spec::category::Category],
) -> anyhow::Result<Summary> {
    let mut summary = Summary::default();
    let mut st = db.prepare_cached(
        "SELECT field, value FROM record_fields WHERE avs = ?1 AND category = ?2 ORDER BY field",
    )?;
    for c in categories {
        let rows = st.query_map(rusqlite::params![person.digits(), c.as_str()], |r| {
            Ok(SummaryField {
                field: r.get(0)?,
                value: r.get(1)?,
            })
        })?;
        let fields = rows.collect::<Result<Vec<_>, _>>()?;
        summary.categories.insert(*c, fields);
    }
    Ok(summary)
}

fn log_refusal(
    tx: &mut Tx<'_>,
    now: u64,
    r: &SummaryRequest,
    person: Option<&Avs>,
    code: RefusalCode,
    digest: &str,
) -> anyhow::Result<()> {
    let e = Entry::new(
        "refusal",
        now,
        vec![
            r.case_id.to_string(),
            entry::person_field(person, random()),
            r.requester.to_string(),
            r.purpose.to_string(),
            entry::categories_field(&r.categories),
            code.as_str().to_string(),
            digest.to_string(),
        ],
    )?;
    tx.log(e.to_bytes())?;
    Ok(())
}

fn log_case_event(
    tx: &mut Tx<'_>,
    case: &CoordinatedCase,
    ev: &SignedCaseEvent,
) -> anyhow::Result<()> {
    let e = &ev.event;
    let detail = match &e.kind {
        CaseEventKind::Opened { .. } => "opened".to_string(),
        CaseEventKind::Invited { institution } => format!("invited {institution}"),
        CaseEventKind::Accepted => "accepted".into(),
        CaseEventKind::Left => "left".into(),
        CaseEventKind::Closed => "closed".into(),
        CaseEventKind::ConsentRecorded(c) => format!(
            "consent-recorded {} {} {} {}..{}",
            c.consent_id,
            c.purposes
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(","),
            entry::categories_field(&c.categories),
            c.valid_from,
            c.valid_until
        ),
        CaseEventKind::ConsentRevoked { consent_id } => format!("consent-revoked {consent_id}"),
    };
    let entry = Entry::new(
        "case-event",
        e.at,
        vec![
            e.case_id.to_string(),
            entry::person_field(Some(&case.person), random()),
            e.author.to_string(),
            e.event_id.to_string(),
            detail,
            e.staff.to_string(),
        ],
    )?;
    tx.log(entry.to_bytes())?;
    Ok(())
}

pub fn active_staff(db: &rusqlite::Connection) -> anyhow::Result<HashMap<PublicKey, StaffMember>> {
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
