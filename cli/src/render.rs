//! Human-readable output. Every command also has `--json`, which prints the reply as JSON.

use crate::dates::{format_day, format_time};
use crate::table::{joined, table};
use protocol_spec::staff::*;
use std::fmt::Write;

fn deliveries(out: &mut String, d: &[Delivery]) {
    out.push_str(&table(
        ["INSTITUTION", "DELIVERY"],
        d.iter().map(|x| {
            [
                x.institution.to_string(),
                if x.delivered {
                    "informed".to_string()
                } else {
                    "unreachable: queued, will be retried".to_string()
                },
            ]
        }),
    ));
}

fn cases(list: &[CaseInfo]) -> String {
    table(
        ["CASE", "STATUS", "PERSON", "OPENED BY", "PARTICIPANTS"],
        list.iter().map(|c| {
            [
                c.case_id.to_string(),
                c.status.as_str().to_string(),
                c.person.to_string(),
                c.opened_by.to_string(),
                c.participants
                    .iter()
                    .map(|(i, p)| format!("{i} ({})", p.as_str()))
                    .collect::<Vec<_>>()
                    .join(", "),
            ]
        }),
    )
}

fn summaries(list: &[ReceivedSummary]) -> String {
    table(
        [
            "SUMMARY",
            "FROM",
            "CASE",
            "PURPOSE",
            "CATEGORIES",
            "RECEIVED",
            "BY",
            "PURGED",
        ],
        list.iter().map(|s| {
            [
                s.summary_id.to_string(),
                s.source.to_string(),
                s.case_id.to_string(),
                s.purpose.to_string(),
                joined(s.categories.iter().map(|c| c.as_str())),
                format_time(s.received_at),
                s.requested_by.to_string(),
                s.purged_at.map(format_time).unwrap_or_else(|| "-".into()),
            ]
        }),
    )
}

/// A consent's validity, inclusive calendar days as staff entered them.
pub fn validity(from: u64, until: u64) -> String {
    format!("{}..{}", format_day(from), format_day(until))
}

fn consents(list: &[ConsentInfo]) -> String {
    let mut out = table(
        [
            "CONSENT",
            "STATE",
            "VALID",
            "BETWEEN",
            "PURPOSES",
            "CATEGORIES",
            "RECORDED BY",
        ],
        list.iter().map(|c| {
            [
                c.consent_id.to_string(),
                match c.revoked_at {
                    Some(t) => format!("revoked {}", format_day(t)),
                    None => "active".to_string(),
                },
                validity(c.valid_from, c.valid_until),
                joined(c.participants.iter().map(|p| p.as_str())),
                joined(c.purposes.iter().map(|p| p.as_str())),
                joined(c.categories.iter().map(|p| p.as_str())),
                c.recorded_by.to_string(),
            ]
        }),
    );
    for c in list {
        if let Some(d) = c.form_digest {
            let _ = writeln!(
                out,
                "consent {} signed form sha256 {}",
                c.consent_id,
                hex::encode(d)
            );
        }
    }
    out
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
            let members: Vec<&str> = s.members.iter().map(|m| m.as_str()).collect();
            let _ = writeln!(out, "members       {}", members.join(", "));
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
            if let Some(problem) = &s.log_halted {
                let _ = writeln!(
                    out,
                    "LOG HALTED  {problem}: this node signs and serves nothing of its log; see the README, \"A halted log\""
                );
            }
            if let Some(problem) = &s.store_problem {
                let _ = writeln!(out, "STORE FAILING  {problem}");
            }
        }
        StaffReply::Done => out.push_str("done\n"),
        StaffReply::Staff(list) => {
            out.push_str(&table(
                ["STAFF", "ROLE", "STATE"],
                list.iter().map(|s| {
                    [
                        s.staff.to_string(),
                        s.role.to_string(),
                        if s.revoked { "revoked" } else { "active" }.to_string(),
                    ]
                }),
            ));
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
        StaffReply::Cases(list) => {
            if list.is_empty() {
                out.push_str("no coordinated cases\n");
            } else {
                out.push_str(&cases(list));
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
            let _ = writeln!(out, "lead        {}", d.lead);
            out.push('\n');
            let participants = d
                .info
                .participants
                .iter()
                .map(|(i, p)| (i.to_string(), p.as_str().to_string()));
            if d.referrals.is_empty() {
                out.push_str(&table(
                    ["INSTITUTION", "PARTICIPATION"],
                    participants.map(|(i, p)| [i, p]),
                ));
            } else {
                let referred = |i: &str| {
                    d.referrals
                        .iter()
                        .find(|r| r.institution.as_str() == i)
                        .map(|r| {
                            format!(
                                "by {} for {} ({})",
                                r.by,
                                r.purpose.as_str(),
                                protocol_spec::entry::categories_text(&r.categories)
                            )
                        })
                        .unwrap_or_else(|| "-".into())
                };
                out.push_str(&table(
                    ["INSTITUTION", "PARTICIPATION", "REFERRED"],
                    participants.map(|(i, p)| {
                        let r = referred(&i);
                        [i, p, r]
                    }),
                ));
            }
            for n in &d.newer_summaries {
                let _ = writeln!(
                    out,
                    "{} holds newer records since {}: request its summary again if you need it",
                    n.source,
                    format_time(n.since)
                );
            }
            out.push('\n');
            if d.consents.is_empty() {
                out.push_str("no consent on record\n");
            } else {
                out.push_str(&consents(&d.consents));
            }
        }
        StaffReply::Summary(o) => match o {
            SummaryOutcome::Received(s) => {
                let _ = writeln!(out, "received sealed summary {}", s.summary_id);
                out.push_str(&summaries(std::slice::from_ref(s)));
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
                out.push_str("the responder is unreachable; the request is queued and will be sent, and the rule checked again, when it is back (see `passerelle summary requests` and `passerelle queue`)\n");
            }
        },
        StaffReply::Requests(list) => {
            if list.is_empty() {
                out.push_str("no summary requests\n");
            } else {
                out.push_str(&table(
                    [
                        "REQUEST",
                        "TO",
                        "CASE",
                        "CATEGORIES",
                        "STATE",
                        "OUTCOME",
                        "ASKED",
                        "BY",
                    ],
                    list.iter().map(|r| {
                        [
                            hex::encode(r.request_id.0),
                            r.responder.to_string(),
                            r.case_id.to_string(),
                            joined(r.categories.iter().map(|c| c.as_str())),
                            r.state.as_str().to_string(),
                            r.outcome.clone().unwrap_or_else(|| "-".into()),
                            format_time(r.created_at),
                            r.requested_by.to_string(),
                        ]
                    }),
                ));
            }
        }
        StaffReply::Queue(list) => {
            if list.is_empty() {
                out.push_str("the outbox is empty\n");
            } else {
                out.push_str(&table(
                    [
                        "TO",
                        "WHAT",
                        "ABOUT",
                        "SINCE",
                        "SENDS",
                        "NEXT",
                        "LAST PROBLEM",
                        "BY",
                    ],
                    list.iter().map(|q| {
                        [
                            q.recipient.to_string(),
                            q.kind.clone(),
                            q.subject.clone().unwrap_or_else(|| "-".into()),
                            format_time(q.since),
                            q.attempts.to_string(),
                            format_time(q.next_attempt),
                            q.last_problem.clone().unwrap_or_else(|| "-".into()),
                            q.staff
                                .as_ref()
                                .map(|s| s.to_string())
                                .unwrap_or_else(|| "-".into()),
                        ]
                    }),
                ));
            }
        }
        StaffReply::Summaries(list) => {
            if list.is_empty() {
                out.push_str("no received summaries\n");
            } else {
                out.push_str(&summaries(list));
            }
        }
        StaffReply::Opened { info, summary } => {
            let _ = writeln!(
                out,
                "summary {} from {} (opening recorded in the log)",
                info.summary_id, info.source
            );
            for (cat, fields) in &summary.categories {
                let _ = writeln!(out, "\n[{cat}]");
                if fields.is_empty() {
                    out.push_str("(no fields on record)\n");
                } else {
                    out.push_str(&table(
                        ["FIELD", "VALUE"],
                        fields.iter().map(|f| [f.field.clone(), f.value.clone()]),
                    ));
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
                    format_time(e.seen_at),
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
        StaffReply::PlacementsImported { placements } => {
            let _ = writeln!(out, "imported {placements} placement(s)");
        }
        StaffReply::Report(r) => out.push_str(&crate::stats::report(r)),
        StaffReply::StatsSent(s) => {
            let _ = writeln!(
                out,
                "{} signed as delivery {}{} (sha256 {})",
                s.month,
                s.sequence,
                if s.sequence > 1 { ", a correction" } else { "" },
                hex::encode(s.digest)
            );
            if s.delivered {
                let _ = writeln!(out, "delivered to the dashboard member {}", s.dashboard);
            } else {
                let _ = writeln!(
                    out,
                    "queued for the dashboard member {}: not accepted yet (unreachable, or see the last problem in `passerelle queue`); it is sent again until accepted",
                    s.dashboard
                );
            }
        }
        StaffReply::Dashboard(d) => out.push_str(&crate::dashboard::text(d)),
        StaffReply::Overlap(o) => out.push_str(&crate::overlap::text(o)),
    }
    out
}
