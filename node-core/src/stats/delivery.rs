//! Delivery of the monthly report to the dashboard member (spec/statistics.md §8) and the
//! dashboard it keeps (§9). A sending node computes and signs the report, logs its digest and
//! queues it in one step; the outbox carries it until the dashboard member accepts it. The
//! dashboard member verifies before it keeps anything.

use super::config;
use crate::entries;
use crate::io::{Env, Fault, Output, Ticket, bad};
use crate::jobs::{SignJob, Then, Unsigned, Work};
use crate::outbox::{self, Item};
use crate::state::{Core, Reply, StaffMember};
use crate::store::Tx;
use protocol_spec::ids::{InstitutionId, StaffId};
use protocol_spec::keys::PublicKey;
use protocol_spec::peer::{PeerMessage, PeerReply};
use protocol_spec::staff::StaffReply;
use protocol_spec::stats::Month;
use protocol_spec::stats::dashboard::{
    Dashboard, DashboardMeasure, DashboardMonth, ExpectedMember, MAX_DASHBOARD_MONTHS,
    ReceivedReport,
};
use protocol_spec::stats::delivery::{SignedStatsReport, verify_delivery_checked};
use rusqlite::OptionalExtension;

/// Computes the month's report and hands it out to be signed ([`Work::Sign`]); [`signed`]
/// records and queues it for the dashboard member.
pub(crate) fn send(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    ticket: Ticket,
    who: &StaffMember,
    month: Month,
    correction: bool,
) -> Result<Vec<Output>, Fault> {
    let (_, sequence) = next_delivery(core, tx, month, correction)?;
    let report = super::compute(core, tx, env, who, month)?;
    Ok(vec![Output::Work(Work::Sign(Box::new(SignJob {
        then: Then::Staff {
            ticket,
            staff: who.staff.clone(),
        },
        what: Unsigned::Report {
            report: Box::new(report),
            sequence,
        },
    })))])
}

/// The dashboard member, and the sequence number the month's next delivery takes: 1 for the
/// first, one more for each correction.
fn next_delivery(
    core: &Core,
    tx: &Tx<'_>,
    month: Month,
    correction: bool,
) -> Result<(InstitutionId, u32), Fault> {
    let dashboard = config(core)?.dashboard.clone().ok_or_else(|| {
        bad("the roster names no statistics dashboard member; the steering group sets one with `passerelle federation statistics --dashboard`")
    })?;
    if dashboard == core.me {
        return Err(bad(
            "this node is the statistics dashboard: it reads its own figures with `passerelle stats report`",
        ));
    }
    let last: Option<u32> = tx.db.query_row(
        "SELECT MAX(sequence) FROM stats_sent WHERE month = ?1",
        [month.to_string()],
        |r| r.get(0),
    )?;
    match (last, correction) {
        (Some(n), false) => Err(bad(format!(
            "{month} was already sent to {dashboard} (delivery {n}); to replace it, send it again with --correction"
        ))),
        (None, true) => Err(bad(format!(
            "{month} was never sent; a correction replaces a delivery, so send it without --correction first"
        ))),
        _ => Ok((dashboard, last.map_or(1, |n| n + 1))),
    }
}

/// The report signed off the store thread: recorded, logged and queued, unless another delivery
/// of the month was recorded meanwhile. The staff member is answered once the dashboard
/// accepted it or was found unreachable (it stays queued then).
pub(crate) fn signed(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    ticket: Ticket,
    staff: &StaffId,
    signed: SignedStatsReport,
) -> Result<Vec<Output>, Fault> {
    core.signer(staff)?;
    let month = signed.report.month;
    let (dashboard, sequence) = next_delivery(core, tx, month, signed.sequence > 1)?;
    if sequence != signed.sequence {
        return Err(bad(format!(
            "another delivery of {month} was recorded meanwhile; nothing was sent"
        )));
    }
    let digest = signed.digest();
    tx.db.execute(
        "INSERT INTO stats_sent (month, sequence, signed, digest, sent_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        rusqlite::params![
            month.to_string(),
            sequence,
            postcard::to_stdvec(&signed)?,
            digest.to_vec(),
            env.now as i64
        ],
    )?;
    entries::stats_sent(tx, env, &signed, &dashboard)?;
    let token = outbox::enqueue(
        core,
        tx,
        env,
        &dashboard,
        &Item::StatsReport { month },
        None,
    )?;
    let mut out = Vec::new();
    let reply = Reply::StatsSent {
        month,
        sequence,
        dashboard: dashboard.clone(),
        digest,
    };
    core.await_deliveries(ticket, vec![(token, dashboard)], reply, &mut out);
    Ok(out)
}

/// What a queued delivery carries now: the month's latest signed report.
pub(crate) fn delivery_message(
    tx: &mut Tx<'_>,
    month: Month,
) -> Result<Option<PeerMessage>, Fault> {
    let bytes: Option<Vec<u8>> = tx
        .db
        .query_row(
            "SELECT signed FROM stats_sent WHERE month = ?1 ORDER BY sequence DESC LIMIT 1",
            [month.to_string()],
            |r| r.get(0),
        )
        .optional()?;
    let Some(bytes) = bytes else {
        return Err(Fault::Local(anyhow::anyhow!(
            "a queued statistics delivery has no signed report in the store"
        )));
    };
    Ok(Some(PeerMessage::StatsReport(Box::new(
        postcard::from_bytes(&bytes)?,
    ))))
}

/// A report delivered to this node: kept only if it verifies (the sender is the member it
/// names, this node is the dashboard, the signature holds); a delivery received again is
/// answered as the first time.
pub(crate) fn receive(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    from: &PublicKey,
    signed: SignedStatsReport,
) -> Result<PeerReply, Fault> {
    let sender = core.sender(from)?;
    verify_delivery_checked(
        &core.roster.roster,
        &core.me,
        &sender,
        &signed,
        env.verified,
    )
    .map_err(|reason| bad(format!("statistics report rejected: {reason}")))?;
    let digest = signed.digest();
    let month = signed.report.month.to_string();
    let kept: Option<Vec<u8>> = tx
        .db
        .query_row(
            "SELECT digest FROM stats_received WHERE institution = ?1 AND month = ?2 AND sequence = ?3",
            rusqlite::params![sender.as_str(), month, signed.sequence],
            |r| r.get(0),
        )
        .optional()?;
    match kept {
        Some(d) if d == digest => return Ok(PeerReply::Accepted),
        Some(_) => {
            return Err(bad(format!(
                "statistics report rejected: delivery {} of {month} was already received with other content; send a correction",
                signed.sequence
            )));
        }
        None => {}
    }
    tx.db.execute(
        "INSERT INTO stats_received (institution, month, sequence, signed, digest, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        rusqlite::params![
            sender.as_str(),
            month,
            signed.sequence,
            postcard::to_stdvec(&signed)?,
            digest.to_vec(),
            env.now as i64
        ],
    )?;
    entries::stats_received(tx, env, &signed)?;
    Ok(PeerReply::Accepted)
}

/// The month before `m`.
fn previous(m: Month) -> Month {
    Month::of_instant(m.instants().0.saturating_sub(1))
}

/// The dashboard for `months` months up to `until` (spec/statistics.md §9): every member but
/// the dashboard itself is expected each month.
pub(crate) fn dashboard(
    core: &Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    months: u8,
    until: Option<Month>,
) -> Result<StaffReply, Fault> {
    let cfg = config(core)?;
    let roster = &core.roster.roster;
    match &cfg.dashboard {
        Some(d) if d == &core.me => {}
        Some(d) => {
            return Err(bad(format!(
                "this node is not the statistics dashboard; the roster names {d}"
            )));
        }
        None => return Err(bad("the roster names no statistics dashboard member")),
    }
    if !(1..=MAX_DASHBOARD_MONTHS).contains(&months) {
        return Err(bad(format!(
            "a dashboard covers 1 to {MAX_DASHBOARD_MONTHS} months"
        )));
    }
    let end = match until {
        Some(m) => m,
        None => {
            let latest: Option<String> =
                tx.db
                    .query_row("SELECT MAX(month) FROM stats_received", [], |r| r.get(0))?;
            let before = previous(Month::of_instant(env.now));
            latest
                .and_then(|m| m.parse::<Month>().ok())
                .map_or(before, |m| m.max(before))
        }
    };
    let mut window = vec![end];
    while window.len() < usize::from(months) {
        let m = previous(window[window.len() - 1]);
        if m == window[window.len() - 1] {
            break; // 1900-01: nothing earlier
        }
        window.push(m);
    }
    window.reverse();
    let name_of = |id: &InstitutionId| {
        roster
            .member(id)
            .map_or_else(|| id.to_string(), |m| m.name.clone())
    };
    let mut out = Vec::new();
    for month in window {
        let mut st = tx.db.prepare_cached(
            "SELECT r.institution, r.sequence, r.signed, r.digest, r.received_at FROM stats_received r
             WHERE r.month = ?1 AND r.sequence = (SELECT MAX(sequence) FROM stats_received s
                 WHERE s.institution = r.institution AND s.month = r.month)
             ORDER BY r.institution",
        )?;
        let rows = st.query_map([month.to_string()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, u32>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, Vec<u8>>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?;
        let mut reports = Vec::new();
        for row in rows {
            let (institution, sequence, signed, digest, received_at) = row?;
            let institution: InstitutionId = institution.parse()?;
            let signed: SignedStatsReport = postcard::from_bytes(&signed)?;
            reports.push(ReceivedReport {
                name: name_of(&institution),
                institution,
                sequence,
                received_at: received_at as u64,
                digest: digest
                    .try_into()
                    .map_err(|_| anyhow::anyhow!("a stored report digest is not 32 bytes"))?,
                report: signed.report,
            });
        }
        let missing = roster
            .members
            .iter()
            .filter(|m| m.id != core.me && !reports.iter().any(|r| r.institution == m.id))
            .map(|m| ExpectedMember {
                institution: m.id.clone(),
                name: m.name.clone(),
                sector: m.sector.clone(),
            })
            .collect();
        out.push(DashboardMonth {
            month,
            reports,
            missing,
            overlap: None,
        });
    }
    Ok(StaffReply::Dashboard(Box::new(Dashboard {
        federation: roster.federation.clone(),
        dashboard: core.me.clone(),
        threshold: cfg.threshold,
        generated_at: env.now,
        measures: cfg
            .measures
            .iter()
            .map(|m| DashboardMeasure {
                id: m.id.clone(),
                name: m.name.clone(),
                provider: m.provider.clone(),
            })
            .collect(),
        months: out,
    })))
}
