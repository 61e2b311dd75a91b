//! Human-readable output. Every command also has `--json`, which prints the reply as JSON.

use crate::dates::{format_day, format_time};
use protocol_spec::staff::*;
use std::fmt::Write;

fn deliveries(out: &mut String, d: &[Delivery]) {
    for x in d {
        let _ = writeln!(
            out,
            "  {} {}",
            x.institution,
            if x.delivered {
                "informed"
            } else {
                "unreachable: queued, will be retried"
            }
        );
    }
}

pub fn case_line(c: &CaseInfo) -> String {
    let parts: Vec<String> = c
        .participants
        .iter()
        .map(|(i, p)| format!("{i} ({})", p.as_str()))
        .collect();
    format!(
        "{}  {}  person {}  opened by {}  {}",
        c.case_id,
        c.status.as_str(),
        c.person,
        c.opened_by,
        parts.join(", ")
    )
}

pub fn summary_line(s: &ReceivedSummary) -> String {
    format!(
        "{}  from {}  case {}  purpose {}  categories {}  received {} by {}",
        s.summary_id,
        s.source,
        s.case_id,
        s.purpose,
        s.categories
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(","),
        format_time(s.received_at),
        s.requested_by
    )
}

pub fn human(reply: &StaffReply) -> String {
    let mut out = String::new();
    match reply {
        StaffReply::Me(m) => {
            let _ = writeln!(out, "{} ({}) at {}", m.staff, m.role, m.institution);
        }
        StaffReply::Status(s) => {
            let _ = writeln!(out, "institution   {}", s.institution);
            let _ = writeln!(
                out,
                "federation    {} (roster version {})",
                s.federation, s.roster_version
            );
            let _ = writeln!(
                out,
                "members       {}",
                s.members
                    .iter()
                    .map(|m| m.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let _ = writeln!(out, "persons       {}", s.persons);
            let _ = writeln!(out, "cases         {}", s.open_cases);
            let _ = writeln!(out, "log entries   {}", s.log_size);
            let _ = writeln!(out, "outbox        {}", s.outbox);
            if s.witness_evidence > 0 {
                let _ = writeln!(
                    out,
                    "WITNESS EVIDENCE  {} inconsistent checkpoint(s) caught: see `passerelle log evidence`",
                    s.witness_evidence
                );
            }
        }
        StaffReply::Done => out.push_str("done\n"),
        StaffReply::Staff(list) => {
            for s in list {
                let _ = writeln!(
                    out,
                    "{:<20} {:<12} {}",
                    s.staff,
                    s.role,
                    if s.revoked { "revoked" } else { "active" }
                );
            }
        }
        StaffReply::Imported { persons, fields } => {
            let _ = writeln!(out, "imported {persons} person(s) and {fields} field(s)");
        }
        StaffReply::RosterInstalled { version } => {
            let _ = writeln!(
                out,
                "roster version {version} installed and passed on to the other members"
            );
        }
        StaffReply::CaseOpened { case_id, delivered } => {
            let _ = writeln!(out, "opened coordinated case {case_id}");
            deliveries(&mut out, delivered);
        }
        StaffReply::CaseUpdated { delivered } => {
            out.push_str("case updated\n");
            deliveries(&mut out, delivered);
        }
        StaffReply::ConsentRecorded {
            consent_id,
            delivered,
        } => {
            let _ = writeln!(out, "recorded consent {consent_id}");
            deliveries(&mut out, delivered);
        }
        StaffReply::Cases(cases) => {
            if cases.is_empty() {
                out.push_str("no coordinated cases\n");
            }
            for c in cases {
                let _ = writeln!(out, "{}", case_line(c));
            }
        }
        StaffReply::Case(d) => {
            let _ = writeln!(out, "case        {}", d.info.case_id);
            let _ = writeln!(out, "status      {}", d.info.status.as_str());
            let _ = writeln!(
                out,
                "person      {}{}",
                d.info.person,
                d.person_name
                    .as_ref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
            );
            let _ = writeln!(out, "opened by   {}", d.info.opened_by);
            for (i, p) in &d.info.participants {
                let _ = writeln!(out, "  {i:<16} {}", p.as_str());
            }
            if d.consents.is_empty() {
                out.push_str("no consent on record\n");
            }
            for c in &d.consents {
                let _ = writeln!(
                    out,
                    "consent {}  {}  between {}  purposes {}  categories {}  valid {}..{}  recorded by {}{}",
                    c.consent_id,
                    if c.revoked_at.is_some() {
                        "REVOKED"
                    } else {
                        "active"
                    },
                    c.participants
                        .iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                    c.purposes
                        .iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                    c.categories
                        .iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                    format_day(c.valid_from),
                    format_day(c.valid_until),
                    c.recorded_by,
                    c.form_digest
                        .map(|d| format!("  form sha256 {}", hex::encode(d)))
                        .unwrap_or_default()
                );
            }
        }
        StaffReply::Summary(o) => match o {
            SummaryOutcome::Received(s) => {
                let _ = writeln!(out, "received sealed summary {}", s.summary_id);
                let _ = writeln!(out, "  {}", summary_line(s));
                let _ = writeln!(
                    out,
                    "open it with: passerelle summary open {}",
                    s.summary_id
                );
            }
            SummaryOutcome::Refused { code } => {
                let _ = writeln!(out, "refused: {} ({})", code.as_str(), code.explain());
            }
            SummaryOutcome::Queued => {
                out.push_str("the responder is unreachable; the request is queued and will be sent, and the rule checked again, when it is back\n");
            }
        },
        StaffReply::Summaries(list) => {
            if list.is_empty() {
                out.push_str("no received summaries\n");
            }
            for s in list {
                let _ = writeln!(out, "{}", summary_line(s));
            }
        }
        StaffReply::Opened { info, summary } => {
            let _ = writeln!(
                out,
                "summary {} from {} (opening recorded in the log)",
                info.summary_id, info.source
            );
            for (cat, fields) in &summary.categories {
                let _ = writeln!(out, "[{cat}]");
                if fields.is_empty() {
                    out.push_str("  (no fields on record)\n");
                }
                for f in fields {
                    let _ = writeln!(out, "  {:<24} {}", f.field, f.value);
                }
            }
        }
        StaffReply::Checkpoint { note } => out.push_str(note),
        StaffReply::LogData(bytes) => {
            let _ = writeln!(out, "{} bytes", bytes.len());
        }
        StaffReply::Evidence(list) => {
            if list.is_empty() {
                out.push_str("no inconsistent checkpoint seen\n");
            }
            for e in list {
                let _ = writeln!(
                    out,
                    "{}  {}: {}\n-- checkpoint cosigned before:\n{}-- checkpoint offered:\n{}",
                    crate::dates::format_time(e.seen_at),
                    e.origin,
                    e.problem,
                    e.cosigned,
                    e.offered
                );
            }
        }
        StaffReply::Roster(r) => {
            let _ = writeln!(
                out,
                "roster `{}` version {}, {} member(s), {} signature(s)",
                r.roster.federation,
                r.roster.version,
                r.roster.members.len(),
                r.signatures.len()
            );
        }
        StaffReply::Error(e) => {
            let _ = writeln!(out, "error: {}", e.message);
        }
    }
    out
}
