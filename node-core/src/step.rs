//! One step of the core: the input routed to its handler, and the answer when a step fails.

use crate::io::{Env, Fault, Input, Origin, Output, Ticket, peer_message_name};
use crate::jobs::{Done, Signed, Then, Work};
use crate::state::Core;
use crate::store::StoreProblem;
use crate::store::Tx;
use crate::{cases, delivery, notices, queries, responder, retention, roster, staff, stats};
use anyhow::anyhow;
use protocol_spec::keys::PublicKey;
use protocol_spec::peer::{PeerMessage, PeerReply};
use protocol_spec::staff::{StaffError, StaffErrorKind, StaffReply, StaffRequest};

impl Core {
    /// Runs one step. On `Err` the caller rolls the transaction back and answers with
    /// [`Core::failed`]. What the step queued in the outbox is sent as it ends.
    pub fn handle(
        &mut self,
        tx: &mut Tx<'_>,
        env: &mut Env<'_>,
        input: Input,
    ) -> Result<Vec<Output>, Fault> {
        self.to_send.clear();
        let mut outputs = self.route(tx, env, input)?;
        outputs.extend(delivery::send_queued(self, tx, env)?);
        Ok(outputs)
    }

    fn route(
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
            Input::Delivered { token, reply } => delivery::delivered(self, tx, env, token, reply),
            Input::Unreachable { token } => delivery::unreachable(self, tx, env, token),
            Input::Tick => {
                retention::tick(self, tx, env)?;
                stats::psi::tick(self, tx, env)?;
                delivery::tick(self, tx, env)
            }
            Input::Done(Done::Sealed {
                from,
                request,
                disclosure,
            }) => {
                // Sealing can fail only on a recipient key that is no X25519 point; nothing was
                // decided, the requester may ask again.
                let Some(d) = disclosure else {
                    return Err(Fault::Local(anyhow!(
                        "the granted summary could not be sealed"
                    )));
                };
                let answer = responder::answer(self, tx, env, &from, request, Some(d))?;
                Ok(vec![answer.into()])
            }
            Input::Done(Done::Cosigned { line }) => Ok(vec![Output::PeerReply(match line {
                Some(line) => PeerReply::Cosigned(line),
                None => PeerReply::WitnessRefused {
                    status: 500,
                    latest: None,
                    reason: "this node holds no witness key".into(),
                },
            })]),
            Input::Done(Done::Signed { then, signed }) => match (then, signed) {
                (Then::Staff { ticket, staff }, Signed::Request(signed)) => {
                    crate::requester::signed(self, tx, env, ticket, &staff, signed)
                }
                (Then::Queued { token }, Signed::Request(signed)) => {
                    crate::requester::queued_signed(self, tx, token, signed)
                }
                (Then::Staff { ticket, staff }, Signed::CaseEvents { events, attempt }) => {
                    cases::signed(self, tx, env, ticket, &staff, events, attempt)
                }
                (Then::Staff { ticket, staff }, Signed::Report(signed)) => {
                    stats::signed(self, tx, env, ticket, &staff, *signed)
                }
                (Then::Staff { ticket, staff }, Signed::RoundStart(start)) => {
                    stats::psi::start_signed(self, tx, env, ticket, &staff, *start)
                }
                (Then::Queued { .. }, _) => Err(Fault::Local(anyhow!(
                    "only a queued summary request is signed for the outbox"
                ))),
            },
            Input::Done(Done::Opened {
                ticket,
                summary_id,
                staff,
                sealed_digest,
                summary,
            }) => {
                let reply = queries::summary_opened(
                    self,
                    tx,
                    env,
                    &staff,
                    &summary_id,
                    &sealed_digest,
                    summary,
                )?;
                Ok(vec![Output::StaffReply { ticket, reply }])
            }
            Input::Done(Done::Psi(done)) => stats::psi::done(self, tx, env, *done),
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
        // Roster offers come from every member that adopts a roster: they say nothing of whom
        // this node works with.
        let offer = matches!(
            message,
            PeerMessage::Roster(_) | PeerMessage::RosterVersion { .. }
        );
        if !offer && let Some(m) = self.roster.clone().roster.member_by_key(&from) {
            self.heard_from(&m.id, env.now);
        }
        let reply = match message {
            PeerMessage::Summary(req) => {
                return Ok(vec![
                    responder::answer(self, tx, env, &from, req, None)?.into(),
                ]);
            }
            PeerMessage::CaseHistory { case_id, events } => {
                return cases::receive_history(self, tx, env, &from, case_id, events);
            }
            PeerMessage::AddCheckpoint(body) => {
                return Ok(vec![crate::witness::add_checkpoint(self, tx, env, &body)?]);
            }
            PeerMessage::ChangeNotice { case_id } => {
                notices::receive(self, tx, env, &from, &case_id)?
            }
            PeerMessage::StatsReport(signed) => stats::receive(self, tx, env, &from, *signed)?,
            PeerMessage::PsiStart(s) => {
                return stats::psi::receive_start(self, tx, env, &from, *s);
            }
            PeerMessage::PsiSet(s) => return stats::psi::receive_set(self, tx, env, &from, *s),
            PeerMessage::PsiOutcome(s) => stats::psi::receive_outcome(self, tx, env, &from, *s)?,
            PeerMessage::RosterVersion { version, digest } => {
                roster::version_offered(self, tx, env, version, digest, &from)?
            }
            PeerMessage::Roster(r) => {
                let mut out =
                    roster::offered(self, tx, env, std::sync::Arc::unwrap_or_clone(r), &from)?;
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
            && !request.permits(who.role)
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

impl From<responder::Answer> for Output {
    fn from(a: responder::Answer) -> Output {
        match a {
            responder::Answer::Reply(r) => Output::PeerReply(r),
            responder::Answer::Seal(job) => Output::Work(Work::Seal(job)),
        }
    }
}
