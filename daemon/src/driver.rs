//! The node driver: QUIC connections in, the core's steps on the store thread, the core's
//! outputs carried out (replies, sends to peers, connection changes); log requests handed to
//! the log. Decisions are the core's (`node_core`); this module moves bytes and keeps
//! connections.

use crate::node::Node;
use crate::transport::{self, Admission};
use anyhow::anyhow;
use node_core::{Input, Output};
use protocol_spec::exchange::{Refusal, RefusalCode};
use protocol_spec::ids::InstitutionId;
use protocol_spec::keys::PublicKey;
use protocol_spec::peer::{PEER_ALPN, PeerMessage, PeerReply};
use protocol_spec::staff::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Every "not concerned" refusal leaves at this delay after the request arrived, so its timing
/// does not depend on what the responder found (no existence oracle in timing).
pub(crate) const UNIFORM_REFUSAL_DELAY: Duration = Duration::from_millis(25);

/// How long a staff request may wait for its outcome. Longer than a peer exchange can take
/// (handshake, request, one retry on a fresh connection), so a case worker is told what
/// happened rather than that the node did not answer.
pub(crate) const STAFF_REPLY_TIMEOUT: Duration = Duration::from_secs(45);

/// One open inbound connection counted against the limits; released when dropped.
struct ConnectionSlot {
    node: Arc<Node>,
    key: PublicKey,
}

impl ConnectionSlot {
    fn take(node: &Arc<Node>, key: PublicKey) -> Option<ConnectionSlot> {
        let mut per_key = node.per_key.lock().unwrap();
        let mine = per_key.entry(key).or_default();
        let all = node.open_connections.load(Ordering::Relaxed);
        if *mine >= node.limits.connections_per_key || all >= node.limits.connections {
            return None;
        }
        *mine += 1;
        node.open_connections.fetch_add(1, Ordering::Relaxed);
        Some(ConnectionSlot {
            node: node.clone(),
            key,
        })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut per_key = self.node.per_key.lock().unwrap();
        if let Some(n) = per_key.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                per_key.remove(&self.key);
            }
        }
        self.node.open_connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Admission to the handshake: current roster members and active staff.
pub(crate) struct NodeAdmission(pub std::sync::Weak<Node>);

impl Admission for NodeAdmission {
    fn admits(&self, key: &PublicKey) -> bool {
        let Some(node) = self.0.upgrade() else {
            return false;
        };
        node.is_member(key) || node.staff_keys.read().unwrap().contains_key(key)
    }
}

/// Only the messages spec §3.1 lists may take more than one frame.
fn spans_frames_refused(frames: usize, allowed: bool) -> Result<(), String> {
    if frames > 1 && !allowed {
        return Err(format!(
            "message of {frames} frames: only a roster, an overlap set or an import may span frames"
        ));
    }
    Ok(())
}

fn staff_error(kind: StaffErrorKind, message: impl Into<String>) -> StaffReply {
    StaffReply::Error(StaffError {
        kind,
        message: message.into(),
    })
}

impl Node {
    // ---------------------------------------------------------------- connections

    /// Serves one inbound connection until it closes.
    pub(crate) async fn serve_connection(self: Arc<Self>, incoming: quinn::Incoming) {
        let conn = match incoming.await {
            Ok(c) => c,
            Err(e) => {
                tracing::info!(direction = "inbound", reason = %e, "connection refused at the handshake");
                return;
            }
        };
        let Some((key, alpn)) = transport::peer_of(&conn) else {
            conn.close(1u32.into(), b"no identity");
            return;
        };
        // Named by institution for a peer; a staff member is not named (spec §14.7).
        let who = self
            .member_id(&key)
            .map_or_else(|| "staff".to_string(), |id| id.to_string());
        let Some(_slot) = ConnectionSlot::take(&self, key) else {
            tracing::warn!(peer = %who, direction = "inbound", reason = "over the connection limit", "connection refused");
            conn.close(4u32.into(), b"too many connections");
            return;
        };
        if alpn == PEER_ALPN && self.is_member(&key) {
            self.inbound
                .lock()
                .unwrap()
                .entry(key)
                .or_default()
                .push(conn.clone());
            tracing::info!(peer = %who, direction = "inbound", "peer connection opened");
            self.serve_streams(conn.clone(), key, true).await;
            let reason = conn
                .close_reason()
                .map_or_else(|| "node stopping".to_string(), |r| r.to_string());
            tracing::info!(peer = %who, direction = "inbound", %reason, "peer connection closed");
            // Closed connections are forgotten at once, not when the roster next changes.
            if let Some(conns) = self.inbound.lock().unwrap().get_mut(&key) {
                conns.retain(|c| c.stable_id() != conn.stable_id());
            }
        } else if alpn == STAFF_ALPN && self.staff_keys.read().unwrap().contains_key(&key) {
            self.serve_streams(conn, key, false).await;
        } else {
            tracing::info!(peer = %who, direction = "inbound", reason = "key not admitted for this protocol", "connection refused");
            conn.close(2u32.into(), b"key not admitted for this protocol");
        }
    }

    async fn serve_streams(self: &Arc<Self>, conn: quinn::Connection, key: PublicKey, peer: bool) {
        let in_flight = Arc::new(AtomicU32::new(0));
        let mut allowed = transport::INITIAL_STREAMS;
        loop {
            let stream = tokio::select! {
                s = conn.accept_bi() => s,
                _ = self.shutdown.cancelled() => break,
            };
            let Ok((mut send, mut recv)) = stream else {
                break;
            };
            let (serving, open) = InFlight::start(&in_flight);
            // A client using three quarters of the streams it may open gets twice as many, up
            // to the most: idle connections keep the small allowance, and its memory
            // (transport.rs). Not all of them: quinn counts a stream until both sides are done
            // with it, a little longer than the node serves it.
            if open * 4 >= allowed * 3 && allowed < transport::MAX_STREAMS {
                allowed = (allowed * 2).min(transport::MAX_STREAMS);
                conn.set_max_concurrent_bi_streams(allowed.into());
            }
            let node = self.clone();
            self.tasks.spawn(async move {
                let _serving = serving;
                let arrived = Instant::now();
                let body = transport::read_message(
                    &mut recv,
                    transport::PEER_TIMEOUT,
                    protocol_spec::wire::MAX_MESSAGE_LEN,
                )
                .await
                .map_err(|e| e.to_string());
                let reply_bytes = if peer {
                    let reply = match body.and_then(|m| {
                        let msg = m.decode::<PeerMessage>().map_err(|e| e.to_string())?;
                        spans_frames_refused(m.frames(), msg.may_span_frames())?;
                        Ok(msg)
                    }) {
                        Ok(msg) => node.handle_peer(key, msg, arrived).await,
                        Err(reason) => PeerReply::Rejected { reason },
                    };
                    protocol_spec::wire::encode_message(&reply)
                } else {
                    let reply = match body.and_then(|m| {
                        let msg = m.decode::<StaffRequest>().map_err(|e| e.to_string())?;
                        spans_frames_refused(m.frames(), msg.may_span_frames())?;
                        Ok(msg)
                    }) {
                        Ok(msg) => node.handle_staff(key, msg).await,
                        Err(reason) => staff_error(StaffErrorKind::BadRequest, reason),
                    };
                    protocol_spec::wire::encode_message(&reply)
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
        let in_force = self.roster();
        let roster = &in_force.roster;
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

    pub(crate) fn member_id(&self, key: &PublicKey) -> Option<InstitutionId> {
        self.roster
            .read()
            .unwrap()
            .roster
            .member_by_key(key)
            .map(|m| m.id.clone())
    }

    // ---------------------------------------------------------------- requests

    /// Runs a step of the core. The signatures its input carries are checked first, and a case
    /// worker's summary request is signed ahead, here and not on the store thread; work whose
    /// result is the reply to a peer (sealing a grant, cosigning a checkpoint) is done here too
    /// and its result stepped in (at most a few times: a grant can change in between).
    async fn step(self: &Arc<Self>, input: Input) -> anyhow::Result<Vec<Output>> {
        let verified = node_core::precheck(&self.roster().roster, &input);
        let presigned = self.crypto.presign(
            &input,
            crate::clock::now_millis(),
            &mut crate::clock::OsRandom,
        );
        let mut outputs = self.store.step(input, verified.clone(), presigned).await?;
        for _ in 0..3 {
            let Some(i) = outputs
                .iter()
                .position(|o| matches!(o, Output::Work(w) if w.answers_peer()))
            else {
                return Ok(outputs);
            };
            let Output::Work(work) = outputs.remove(i) else {
                unreachable!("found above")
            };
            let done = self.work(work).await?;
            // The same request comes back with its work: its signature was checked above.
            outputs.extend(self.store.step(done, verified.clone(), None).await?);
        }
        Err(anyhow!("the grant kept changing while it was sealed"))
    }

    /// Does work the core handed out; what takes seconds (an overlap round's sets of up to a
    /// million elements) on a blocking thread, off the runtime.
    async fn work(self: &Arc<Self>, work: node_core::Work) -> anyhow::Result<Input> {
        if !work.is_long() {
            return Ok(self.crypto.run(work, &mut crate::clock::OsRandom));
        }
        let node = self.clone();
        Ok(
            tokio::task::spawn_blocking(move || node.crypto.run(work, &mut crate::clock::OsRandom))
                .await?,
        )
    }

    async fn handle_peer(
        self: &Arc<Self>,
        key: PublicKey,
        msg: PeerMessage,
        arrived: Instant,
    ) -> PeerReply {
        match msg {
            PeerMessage::Summary(_)
            | PeerMessage::CaseHistory { .. }
            | PeerMessage::Roster(_)
            | PeerMessage::RosterVersion { .. }
            | PeerMessage::AddCheckpoint(_)
            | PeerMessage::ChangeNotice { .. }
            | PeerMessage::StatsReport(_)
            | PeerMessage::PsiStart(_)
            | PeerMessage::PsiSet(_)
            | PeerMessage::PsiOutcome(_) => {
                let purpose = match &msg {
                    PeerMessage::Summary(r) => Some(r.request.purpose.clone()),
                    _ => None,
                };
                let reply = match self
                    .step(Input::Peer {
                        from: key,
                        message: msg,
                    })
                    .await
                {
                    Ok(outputs) => self.carry_out(outputs),
                    Err(e) => {
                        tracing::error!(error = %e, "peer message not processed");
                        None
                    }
                };
                // Nothing was recorded (the store stopped): the sender is to send again.
                let reply = crate::log::bounded(reply.unwrap_or(PeerReply::Refusal(Refusal {
                    code: RefusalCode::Unavailable,
                })));
                if let Some(purpose) = purpose {
                    // Judged and committed: the uniform delay below is not the node's work.
                    let latency = arrived.elapsed();
                    let peer = self
                        .member_id(&key)
                        .map_or_else(|| "not-a-member".to_string(), |id| id.to_string());
                    self.decided("responder", &peer, purpose.as_str(), &reply, latency);
                }
                if let PeerReply::Refusal(Refusal {
                    code: RefusalCode::NotConcerned,
                }) = reply
                {
                    tokio::time::sleep_until((arrived + UNIFORM_REFUSAL_DELAY).into()).await;
                }
                reply
            }
            PeerMessage::LogTile(_)
            | PeerMessage::ProveInclusion { .. }
            | PeerMessage::ProveInclusions { .. }
            | PeerMessage::ReceiptProofs(_)
            | PeerMessage::ReceiptProof(_) => crate::log::answer_peer(self, key, msg).await,
        }
    }

    /// Logs and counts a summary request's decision, `granted` or a refusal code (spec §12).
    /// No person, case or request id: the peer, the purpose and the code.
    fn decided(
        &self,
        side: &'static str,
        peer: &str,
        purpose: &str,
        reply: &PeerReply,
        latency: Duration,
    ) {
        let code = match reply {
            PeerReply::Disclosure { .. } => "granted",
            PeerReply::Refusal(r) => r.code.as_str(),
            other => node_core::reply_name(other),
        };
        self.watch
            .metrics
            .decision(side, code, latency.as_secs_f64());
        if !self.request_line() {
            return;
        }
        let latency_ms = latency.as_millis() as u64;
        if code == "granted" {
            tracing::info!(
                side,
                peer,
                purpose,
                code,
                latency_ms,
                "summary request granted"
            );
        } else {
            tracing::info!(
                side,
                peer,
                purpose,
                code,
                latency_ms,
                "summary request refused"
            );
        }
    }

    /// Serves a staff request, then logs and counts it: its kind, the member's role, the
    /// outcome and the time taken; never the staff id or the request's arguments.
    async fn handle_staff(self: &Arc<Self>, key: PublicKey, request: StaffRequest) -> StaffReply {
        let began = Instant::now();
        let kind = request.kind();
        let role = self.staff_keys.read().unwrap().get(&key).copied();
        let reply = self.serve_staff(key, request).await;
        let outcome = match &reply {
            StaffReply::Error(e) => e.kind.as_str(),
            StaffReply::Summary(SummaryOutcome::Received(_)) => "received",
            StaffReply::Summary(SummaryOutcome::Refused { .. }) => "refused",
            StaffReply::Summary(SummaryOutcome::Queued) => "queued",
            _ => "ok",
        };
        // An administrator's requests change the node and are few: each is logged.
        let admin = role == Some(protocol_spec::ids::Role::Admin);
        let role = role.map_or("revoked", |r| r.as_str());
        let latency_ms = began.elapsed().as_millis() as u64;
        if admin || self.request_line() {
            tracing::info!(
                request = kind,
                role,
                outcome,
                latency_ms,
                "staff request served"
            );
        }
        self.watch.metrics.staff_request(kind, outcome);
        reply
    }

    async fn serve_staff(self: &Arc<Self>, key: PublicKey, request: StaffRequest) -> StaffReply {
        let ticket = self.next_ticket.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.tickets.lock().unwrap().insert(ticket, tx);
        match self
            .step(Input::Staff {
                ticket,
                key,
                request,
            })
            .await
        {
            Ok(outputs) => {
                self.carry_out(outputs);
            }
            Err(e) => {
                self.tickets.lock().unwrap().remove(&ticket);
                return staff_error(StaffErrorKind::Internal, format!("{e:#}"));
            }
        }
        match tokio::time::timeout(STAFF_REPLY_TIMEOUT, rx).await {
            Ok(Ok(reply)) => reply,
            _ => {
                self.tickets.lock().unwrap().remove(&ticket);
                staff_error(
                    StaffErrorKind::Pending,
                    "the outcome is not known yet; the node keeps working on it (see `passerelle summary list` and `passerelle queue`)",
                )
            }
        }
    }

    /// Carries out a step's outputs; returns the reply to the peer message of the step, if any.
    pub(crate) fn carry_out(self: &Arc<Self>, outputs: Vec<Output>) -> Option<PeerReply> {
        let mut reply = None;
        for output in outputs {
            match output {
                Output::PeerReply(r) => reply = Some(r),
                Output::StaffReply { ticket, reply } => {
                    if let Some(tx) = self.tickets.lock().unwrap().remove(&ticket) {
                        let _ = tx.send(reply);
                    }
                }
                Output::Send {
                    token,
                    to,
                    message,
                    attempt,
                    queued_at,
                } => {
                    let node = self.clone();
                    self.tasks.spawn(async move {
                        let kind = node_core::peer_message_name(&message);
                        let age_s = crate::clock::now().saturating_sub(queued_at);
                        tracing::debug!(peer = %to, kind, attempt, age_s, "outbox delivery attempt");
                        let sent = Instant::now();
                        let purpose = match &message {
                            PeerMessage::Summary(r) => Some(r.request.purpose.clone()),
                            _ => None,
                        };
                        let (input, decision) = match node.send_peer(&to, &message).await {
                            Ok(reply) => {
                                node.watch.metrics.delivery(kind, "answered");
                                let decision = purpose.map(|p| (p, reply.clone()));
                                (Input::Delivered { token, reply }, decision)
                            }
                            Err(e) => {
                                node.watch.metrics.delivery(kind, "unreachable");
                                tracing::info!(peer = %to, kind, attempt, age_s, error = %e, "outbox delivery failed; the message stays queued");
                                (Input::Unreachable { token }, None)
                            }
                        };
                        if let Ok(outputs) = node.step(input).await {
                            // The requester's exchange ends once the answer is recorded.
                            if let Some((purpose, reply)) = decision {
                                node.decided(
                                    "requester",
                                    to.as_str(),
                                    purpose.as_str(),
                                    &reply,
                                    sent.elapsed(),
                                );
                            }
                            node.carry_out(outputs);
                        }
                    });
                }
                Output::ReceiptLogged {
                    peer,
                    request_digest,
                    disclosure_leaf,
                    receipt_leaf,
                } => {
                    crate::log::receipt_logged(
                        self,
                        peer,
                        crate::log::Receipt {
                            request_digest,
                            source_leaf: disclosure_leaf,
                            receipt_leaf,
                        },
                    );
                }
                Output::RosterAdopted(roster) => {
                    let version = roster.roster.version;
                    *self.roster.write().unwrap() = roster;
                    // A peer's log key may have changed: its checkpoints are checked afresh.
                    self.checked_checkpoints.lock().unwrap().clear();
                    self.drop_removed_members();
                    let node = self.clone();
                    self.tasks.spawn(async move {
                        let in_force = node.roster();
                        let roster = &in_force.roster;
                        node.outbound
                            .lock()
                            .await
                            .retain(|id, _| roster.member(id).is_some());
                    });
                    tracing::info!(version, "roster in force");
                }
                Output::StaffChanged(keys) => {
                    *self.staff_keys.write().unwrap() = keys.into_iter().collect();
                }
                // Opening a summary, signing a staff action or a queued request: done here,
                // its result stepped in (its signatures checked before, as for any input).
                Output::Work(work) => {
                    let node = self.clone();
                    self.tasks.spawn(async move {
                        let Ok(done) = node.work(work).await else {
                            tracing::error!("work failed");
                            return;
                        };
                        match node.step(done).await {
                            Ok(outputs) => {
                                node.carry_out(outputs);
                            }
                            Err(e) => tracing::error!(error = %e, "work not recorded"),
                        }
                    });
                }
                Output::ServeLog { ticket, request } => {
                    let node = self.clone();
                    self.tasks.spawn(async move {
                        let reply = node.serve_log(request).await.unwrap_or_else(|e| {
                            staff_error(StaffErrorKind::BadRequest, format!("{e:#}"))
                        });
                        if let Some(tx) = node.tickets.lock().unwrap().remove(&ticket) {
                            let _ = tx.send(reply);
                        }
                    });
                }
            }
        }
        reply
    }

    /// Whether a line about one request is logged now (crate::log_budget): always at `debug`.
    fn request_line(&self) -> bool {
        tracing::enabled!(tracing::Level::DEBUG)
            || self.request_lines.lock().unwrap().admit(Instant::now())
    }

    /// Logs how many request lines were skipped: when the report is due, or at once when the
    /// node is `stopping`.
    pub(crate) fn report_skipped_lines(&self, stopping: bool) {
        let skipped = {
            let mut budget = self.request_lines.lock().unwrap();
            if stopping {
                budget.take(Instant::now())
            } else {
                budget.report(Instant::now())
            }
        };
        if let Some(s) = skipped {
            tracing::info!(
                skipped = s.lines,
                seconds = s.over.as_secs(),
                per_second = crate::log_budget::LINES_PER_SECOND,
                "request lines skipped"
            );
        }
    }

    /// Sends what is due in the outbox, and reports the request lines the log skipped.
    pub(crate) async fn tick(self: &Arc<Self>) {
        self.watch.metrics.upkeep();
        self.report_skipped_lines(false);
        if let Ok(outputs) = self.step(Input::Tick).await {
            self.carry_out(outputs);
        }
    }

    async fn serve_log(self: &Arc<Self>, request: StaffRequest) -> anyhow::Result<StaffReply> {
        match request {
            StaffRequest::LogCheckpoint => {
                // Gather cosignatures for the newest checkpoint before handing it out.
                if let Err(e) = crate::log::checkpoint_and_witness(self).await {
                    tracing::warn!(error = %e, "witnessing round failed");
                }
                let (_, note) = crate::log::sign_checkpoint(self).await?;
                Ok(StaffReply::Checkpoint { note })
            }
            StaffRequest::LogTile { path } => {
                Ok(StaffReply::LogData(crate::log::tile(self, &path).await?))
            }
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
            _ => Err(anyhow!("not a log request")),
        }
    }
}

/// One request a connection's client has open and the node still serves; counted off when its
/// task ends, however it ends.
struct InFlight(Arc<AtomicU32>);

impl InFlight {
    /// Counts one more request on `count`; returns it and how many are now open. Counted off
    /// when dropped, even if its task never ran.
    fn start(count: &Arc<AtomicU32>) -> (InFlight, u32) {
        let open = count.fetch_add(1, Ordering::Relaxed) + 1;
        (InFlight(count.clone()), open)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
