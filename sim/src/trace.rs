//! The trace of a run: one line per event, the last few kept for the report of a failing seed,
//! every line printed as it happens when a seed is replayed.

use node_core::{Done, Input, Output, Signed, Then, Unsigned, Work};
use protocol_spec::case::{CaseEvent, CaseEventKind};
use protocol_spec::entry::categories_text;
use protocol_spec::peer::{PeerMessage, PeerReply};
use protocol_spec::staff::{StaffReply, StaffRequest, SummaryOutcome};
use std::collections::VecDeque;
use std::fmt;

/// How many lines a violation report shows.
pub const TAIL: usize = 200;

pub struct Trace {
    lines: VecDeque<String>,
    /// Print every line as it is recorded (replay of one seed).
    echo: bool,
}

impl Trace {
    pub fn new(echo: bool) -> Self {
        Trace {
            lines: VecDeque::with_capacity(TAIL),
            echo,
        }
    }

    pub fn record(&mut self, now_ms: u64, line: String) {
        let line = format!("{:>6}.{:03}s {line}", now_ms / 1000, now_ms % 1000);
        if self.echo {
            println!("{line}");
        }
        if self.lines.len() == TAIL {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }

    pub fn tail(&self) -> Vec<String> {
        self.lines.iter().cloned().collect()
    }
}

/// The first characters of an identifier: enough to follow it through a trace.
pub fn short(id: impl fmt::Display) -> String {
    let s = id.to_string();
    s.chars().take(8).collect()
}

pub fn input(i: &Input) -> String {
    match i {
        Input::Peer { message, .. } => message_text(message),
        Input::Staff {
            ticket, request, ..
        } => format!("staff #{ticket} {}", staff_request(request)),
        Input::Delivered { token, reply } => {
            format!("answer to item {token}: {}", reply_text(reply))
        }
        Input::Unreachable { token } => format!("item {token} unreachable"),
        Input::Tick => "tick".into(),
        Input::Done(Done::Sealed {
            request,
            disclosure,
            ..
        }) => format!(
            "sealed for {}: {}",
            short(request.request.request_id),
            if disclosure.is_some() { "ok" } else { "failed" }
        ),
        Input::Done(Done::Signed { then, signed }) => {
            let what = match signed {
                Signed::Request(r) => format!("request {}", short(r.request.request_id)),
                Signed::CaseEvents { events, attempt } => {
                    format!("{} case events (attempt {attempt})", events.len())
                }
                Signed::Report(r) => format!("report of {}", r.report.month),
                Signed::RoundStart(s) => format!("overlap round of {}", s.round.month),
            };
            format!("{} {what} signed", then_text(then))
        }
        Input::Done(Done::Cosigned { line }) => {
            format!("cosigned: {}", if line.is_some() { "ok" } else { "no key" })
        }
        Input::Done(Done::Opened {
            ticket, summary, ..
        }) => format!(
            "staff #{ticket} summary opened: {}",
            if summary.is_ok() { "ok" } else { "failed" }
        ),
        Input::Done(Done::Psi(d)) => match &**d {
            node_core::PsiDone::Blinded { round, .. } => {
                format!("overlap set blinded ({})", short(hex::encode(round)))
            }
            node_core::PsiDone::Reblinded(c) => format!(
                "overlap set of {} hop {} checked",
                c.received.set.origin, c.received.set.hop
            ),
            node_core::PsiDone::Counted { round, .. } => {
                format!("overlap counted ({})", short(hex::encode(round)))
            }
        },
    }
}

/// Who a signature is for.
fn then_text(then: &Then) -> String {
    match then {
        Then::Staff { ticket, .. } => format!("staff #{ticket}"),
        Then::Queued { token } => format!("item {token}"),
    }
}

pub fn output(o: &Output) -> String {
    match o {
        Output::PeerReply(r) => format!("reply {}", reply_text(r)),
        Output::StaffReply { ticket, reply } => format!("staff #{ticket} {}", staff_reply(reply)),
        Output::Send {
            token, to, message, ..
        } => {
            format!("send item {token} to {to}: {}", message_text(message))
        }
        Output::ReceiptLogged { peer, .. } => format!("receipt logged ({peer})"),
        Output::RosterAdopted(r) => format!("roster v{} adopted", r.roster.version),
        Output::StaffChanged(keys) => format!("{} staff keys", keys.len()),
        Output::ServeLog { ticket, .. } => format!("staff #{ticket} log request for the driver"),
        Output::Work(Work::Seal(job)) => {
            format!("seal a grant of {}", short(job.request.request.request_id))
        }
        Output::Work(Work::Cosign { body, .. }) => {
            format!(
                "cosign {}",
                body.lines().take(2).collect::<Vec<_>>().join(" ")
            )
        }
        Output::Work(Work::Sign(job)) => {
            let what = match &job.what {
                Unsigned::Request(r) => format!("request {}", short(r.request_id)),
                Unsigned::CaseEvents { events, .. } => format!("{} case events", events.len()),
                Unsigned::Report { report, .. } => format!("report of {}", report.month),
                Unsigned::RoundStart(round) => format!("overlap round of {}", round.month),
            };
            format!("{} sign {what}", then_text(&job.then))
        }
        Output::Work(Work::Open(job)) => format!("staff #{} open a summary", job.ticket),
        Output::Work(Work::Blind(_)) => "blind this sector's overlap set".into(),
        Output::Work(Work::Reblind(job)) => format!(
            "check the overlap set of {} hop {}",
            job.received.set.origin, job.received.set.hop
        ),
        Output::Work(Work::Count(_)) => "count the overlap round's final sets".into(),
    }
}

pub fn message_text(m: &PeerMessage) -> String {
    match m {
        PeerMessage::Summary(s) => {
            let r = &s.request;
            format!(
                "summary request {} {}->{} case {} {} [{}]",
                short(r.request_id),
                r.requester,
                r.responder,
                short(r.case_id),
                r.purpose,
                categories_text(&r.categories)
            )
        }
        PeerMessage::CaseHistory { case_id, events } => format!(
            "case {} history of {} events, last {}",
            short(case_id),
            events.len(),
            events.last().map(|e| event(&e.event)).unwrap_or_default()
        ),
        PeerMessage::Roster(r) => format!("roster v{}", r.roster.version),
        other => node_core::peer_message_name(other).into(),
    }
}

pub fn reply_text(r: &PeerReply) -> String {
    match r {
        PeerReply::Disclosure { disclosure, .. } => {
            let h = &disclosure.header;
            format!(
                "disclosure {} under consent {} [{}]",
                short(h.request_id),
                short(h.consent_id),
                categories_text(&h.categories)
            )
        }
        PeerReply::Refusal(f) => format!("refusal {}", f.code.as_str()),
        PeerReply::Rejected { reason } => format!("rejected ({reason})"),
        other => node_core::reply_name(other).into(),
    }
}

fn event(e: &CaseEvent) -> String {
    let what = match &e.kind {
        CaseEventKind::Opened { .. } => "opened".to_string(),
        CaseEventKind::Invited { institution } => format!("invited {institution}"),
        CaseEventKind::Accepted => "accepted".into(),
        CaseEventKind::Left => "left".into(),
        CaseEventKind::Closed => "closed".into(),
        CaseEventKind::ConsentRecorded(c) => format!("consent {} recorded", short(c.consent_id)),
        CaseEventKind::ConsentRevoked { consent_id } => {
            format!("consent {} revoked", short(consent_id))
        }
        CaseEventKind::Declined { reason } => format!("declined ({})", reason.as_str()),
        CaseEventKind::Removed { institution } => format!("removed {institution}"),
        CaseEventKind::LeadHandedOver { to } => format!("handed the lead to {to}"),
        CaseEventKind::Referred { institution, .. } => format!("referred to {institution}"),
    };
    format!("{} {what}", e.author)
}

fn staff_request(r: &StaffRequest) -> String {
    use StaffRequest as R;
    match r {
        R::StaffIssue { staff, role, .. } => format!("issue {staff} ({role})"),
        R::StaffRevoke { staff } => format!("revoke {staff}"),
        R::ImportRecords(set) => format!("import {} persons", set.persons.len()),
        R::InstallRoster(s) => format!("install roster v{}", s.roster.version),
        R::CaseOpen { invite, .. } => format!(
            "open a case inviting {}",
            invite
                .iter()
                .map(|i| i.as_str())
                .collect::<Vec<_>>()
                .join(",")
        ),
        R::CaseInvite {
            case_id,
            institution,
        } => format!("case {} invite {institution}", short(case_id)),
        R::CaseAccept { case_id } => format!("case {} accept", short(case_id)),
        R::CaseLeave { case_id } => format!("case {} leave", short(case_id)),
        R::CaseDecline { case_id, reason } => {
            format!("case {} decline ({})", short(case_id), reason.as_str())
        }
        R::CaseRemove {
            case_id,
            institution,
        } => format!("case {} remove {institution}", short(case_id)),
        R::CaseHandOver { case_id, to } => format!("case {} hand over to {to}", short(case_id)),
        R::CaseRefer {
            case_id,
            institution,
            ..
        } => format!("case {} refer to {institution}", short(case_id)),
        R::CaseClose { case_id } => format!("case {} close", short(case_id)),
        R::ConsentRecord(d) => format!(
            "case {} record consent {} {} [{}] {}..{}",
            short(d.case_id),
            d.participants
                .iter()
                .map(|i| i.as_str())
                .collect::<Vec<_>>()
                .join(","),
            d.purposes
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(","),
            categories_text(&d.categories),
            d.valid_from,
            d.valid_until
        ),
        R::ConsentRevoke {
            case_id,
            consent_id,
        } => format!(
            "case {} revoke consent {}",
            short(case_id),
            short(consent_id)
        ),
        R::SummaryRequest {
            case_id,
            from,
            purpose,
            categories,
        } => format!(
            "case {} ask {from} for {purpose} [{}]",
            short(case_id),
            categories_text(categories)
        ),
        other => format!("{other:?}").chars().take(40).collect(),
    }
}

fn staff_reply(r: &StaffReply) -> String {
    match r {
        StaffReply::Done => "done".into(),
        StaffReply::CaseOpened { case_id, .. } => format!("case {} opened", short(case_id)),
        StaffReply::CaseUpdated { .. } => "case updated".into(),
        StaffReply::ConsentRecorded { consent_id, .. } => {
            format!("consent {} recorded", short(consent_id))
        }
        StaffReply::Summary(SummaryOutcome::Received(info)) => {
            format!("summary received from {}", info.source)
        }
        StaffReply::Summary(SummaryOutcome::Refused { code }) => {
            format!("summary refused: {}", code.as_str())
        }
        StaffReply::Summary(SummaryOutcome::Queued) => "summary request queued".into(),
        StaffReply::Error(e) => format!("error {:?}: {}", e.kind, e.message),
        other => format!("{other:?}").chars().take(40).collect(),
    }
}
