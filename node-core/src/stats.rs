//! Monthly statistics at this node (spec/statistics.md): the placements import, the counts a
//! month's report is made of, gathered inside the step's transaction, and the privacy budget
//! ledger. Noise and suppression are protocol-spec's pure functions; the random source is the
//! step's.

use crate::case_store::load_case;
use crate::io::{Env, Fault, HpkeRng, bad};
use crate::state::{Core, StaffMember};
use crate::store::Tx;
use protocol_spec::case::{CaseEventKind, SignedCaseEvent};
use protocol_spec::exchange::{RefusalCode, SummaryRequest};
use protocol_spec::ids::{CaseId, InstitutionId};
use protocol_spec::peer::PeerReply;
use protocol_spec::records::Problems;
use protocol_spec::staff::StaffReply;
use protocol_spec::stats::month::day_number;
use protocol_spec::stats::report::{
    MeasureCounts, MonthCounts, ProfileCounts, ReportHeader, build_report, next_release,
};
use protocol_spec::stats::{ExitOutcome, Month, PlacementSet, StatisticsConfig};
use std::collections::{BTreeMap, BTreeSet};

mod delivery;
pub(crate) mod psi;
pub(crate) use delivery::{dashboard, delivery_message, receive, send, signed};

pub(crate) fn config(core: &Core) -> Result<&StatisticsConfig, Fault> {
    core.roster.roster.statistics.as_deref().ok_or_else(|| {
        bad("the federation's roster declares no statistics (measures, grid fields, threshold); ask the steering group")
    })
}

/// Imports a placement set, all or nothing: every placement's measure must be declared in the
/// roster and its person held in the records.
pub(crate) fn import_placements(
    core: &Core,
    tx: &mut Tx<'_>,
    set: PlacementSet,
) -> Result<StaffReply, Fault> {
    set.validate()
        .map_err(|e| bad(format!("placements rejected; nothing was imported: {e}")))?;
    let cfg = config(core)?;
    let mut problems = Problems::default();
    for (i, p) in set.placements.iter().enumerate() {
        let n = i + 1;
        if cfg.measure(&p.measure).is_none() {
            problems.push(
                n,
                format!(
                    "placement {n}: measure `{}` is not declared in the roster",
                    p.measure
                ),
            );
        }
        let known: bool = tx.db.query_row(
            "SELECT EXISTS(SELECT 1 FROM persons WHERE avs = ?1)",
            [p.avs.digits()],
            |r| r.get(0),
        )?;
        if !known {
            problems.push(
                n,
                format!("placement {n}: the person is not in this institution's records (import the person first)"),
            );
        }
    }
    problems
        .finish((), false)
        .map_err(|e| bad(format!("placements rejected; nothing was imported: {e}")))?;
    for p in &set.placements {
        tx.db.execute(
            "INSERT INTO placements (avs, measure, start, end_date, outcome) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(avs, measure, start) DO UPDATE SET end_date = excluded.end_date, outcome = excluded.outcome",
            rusqlite::params![
                p.avs.digits(),
                p.measure.as_str(),
                p.start,
                p.end,
                p.outcome.map(ExitOutcome::as_str)
            ],
        )?;
    }
    Ok(StaffReply::PlacementsImported {
        placements: set.placements.len() as u64,
    })
}

/// This sector's report for `month`: refused for a month not begun, and, under a privacy
/// budget, once the month's budget is spent; a noisy release is recorded in the ledger in the
/// same transaction, so no figures leave before their cost is durable.
pub(crate) fn report(
    core: &Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    who: &StaffMember,
    month: Month,
) -> Result<StaffReply, Fault> {
    Ok(StaffReply::Report(Box::new(compute(
        core, tx, env, who, month,
    )?)))
}

/// The month's report, its privacy cost recorded in the ledger: what `StatsReport` returns
/// and `StatsSend` signs.
pub(crate) fn compute(
    core: &Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    who: &StaffMember,
    month: Month,
) -> Result<protocol_spec::stats::StatsReport, Fault> {
    let cfg = config(core)?;
    if month.instants().0 > env.now {
        return Err(bad(format!(
            "{month} has not begun; a report covers a month under way or past"
        )));
    }
    let roster = &core.roster.roster;
    let me = roster
        .member(&core.me)
        .ok_or_else(|| bad("this node is not in the roster in force"))?;
    let spent: i64 = tx.db.query_row(
        "SELECT COALESCE(SUM(epsilon_milli), 0) FROM stats_releases WHERE month = ?1",
        [month.to_string()],
        |r| r.get(0),
    )?;
    let privacy = next_release(cfg, month, u32::try_from(spent).unwrap_or(u32::MAX))
        .map_err(|e| bad(e.to_string()))?;
    let (counts, _) = gather(core, tx, cfg, month)?;
    let header = ReportHeader {
        federation: roster.federation.clone(),
        institution: core.me.clone(),
        sector: me.sector.clone(),
        month,
        roster_version: roster.version,
        computed_at: env.now,
    };
    let report = build_report(header, cfg, &counts, privacy, &mut HpkeRng(env.random));
    if let Some(p) = privacy {
        tx.db.execute(
            "INSERT INTO stats_releases (month, released_at, epsilon_milli, role) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![month.to_string(), env.now as i64, p.epsilon_milli, who.role.as_str()],
        )?;
    }
    Ok(report)
}

/// The persons this institution followed in `month`, as 13 digits: the set its report counts
/// as `persons_followed`, and its input to the overlap round (spec/statistics.md §10.1).
pub(crate) fn persons_followed(
    core: &Core,
    tx: &Tx<'_>,
    month: Month,
) -> Result<BTreeSet<String>, Fault> {
    Ok(gather(core, tx, config(core)?, month)?.1)
}

/// The month's exact counts (spec/statistics.md §4), and the persons followed.
fn gather(
    core: &Core,
    tx: &Tx<'_>,
    cfg: &StatisticsConfig,
    month: Month,
) -> anyhow::Result<(MonthCounts, BTreeSet<String>)> {
    let (first, last) = (month.first_day(), month.last_day());
    let index: BTreeMap<&str, usize> = cfg
        .measures
        .iter()
        .enumerate()
        .map(|(i, m)| (m.id.as_str(), i))
        .collect();
    // Per (measure, person): the days in the month, the entries and the last exit.
    struct Stay {
        days: BTreeSet<i64>,
        entered: bool,
        exit: Option<(i64, i64, ExitOutcome)>,
    }
    let mut stays: BTreeMap<(usize, String), Stay> = BTreeMap::new();
    let mut st = tx.db.prepare(
        "SELECT avs, measure, start, end_date, outcome FROM placements
         WHERE start <= ?1 AND (end_date IS NULL OR end_date >= ?2)",
    )?;
    let first_text = format!("{month}-01");
    let last_text = format!("{month}-{:02}", month.days());
    let rows = st.query_map([&last_text, &first_text], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<String>>(3)?,
            r.get::<_, Option<String>>(4)?,
        ))
    })?;
    for row in rows {
        let (avs, measure, start, end, outcome) = row?;
        // A measure the roster no longer declares is not reported.
        let Some(&m) = index.get(measure.as_str()) else {
            continue;
        };
        let s = day_number(&start);
        let e = end.as_deref().map_or(last, day_number);
        let stay = stays.entry((m, avs)).or_insert(Stay {
            days: BTreeSet::new(),
            entered: false,
            exit: None,
        });
        // Overlapping placements of one person in one measure count each day once.
        stay.days.extend(s.max(first)..=e.min(last));
        stay.entered |= s >= first;
        if let (Some(_), Some(o)) = (&end, outcome)
            && e <= last
        {
            let o: ExitOutcome = o
                .parse()
                .map_err(|_| anyhow::anyhow!("a stored placement has an unknown outcome"))?;
            // The person's last exit of the month names its outcome.
            if stay.exit.is_none_or(|(pe, ps, _)| (e, s) > (pe, ps)) {
                stay.exit = Some((e, s, o));
            }
        }
    }
    let mut counts = MonthCounts {
        measures: vec![MeasureCounts::default(); cfg.measures.len()],
        refused: vec![0; RefusalCode::ALL.len()],
        ..MonthCounts::default()
    };
    let mut followed: BTreeSet<String> = BTreeSet::new();
    for ((m, avs), stay) in &stays {
        let c = &mut counts.measures[*m];
        c.participants += 1;
        c.entries += u64::from(stay.entered);
        c.place_days += stay.days.len() as u64;
        if let Some((_, _, o)) = stay.exit {
            c.exits[o.index()] += 1;
        }
        followed.insert(avs.clone());
    }

    // Persons of the coordinated cases this institution took part in during the month.
    let (t0, t1) = month.instants();
    let mut in_cases = BTreeSet::new();
    let mut person_of: BTreeMap<CaseId, String> = BTreeMap::new();
    let mut st = tx.db.prepare("SELECT case_id, person FROM cases")?;
    let rows = st.query_map([], |r| {
        Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?))
    })?;
    for row in rows {
        let (id, person) = row?;
        let Ok(id) = <[u8; 16]>::try_from(id.as_slice()) else {
            continue;
        };
        let case_id = CaseId(id);
        person_of.insert(case_id, person.clone());
        if let Some(case) = load_case(tx.db, &case_id)?
            && took_part(&case.history, &core.me, t0, t1)
        {
            in_cases.insert(person);
        }
    }
    counts.persons_in_cases = in_cases.len() as u64;
    followed.extend(in_cases);
    counts.persons_followed = followed.len() as u64;

    // Decisions on summary requests: each person (or unknown case) in the cell of its last
    // decision of the month.
    let mut last: BTreeMap<String, Option<RefusalCode>> = BTreeMap::new();
    let mut st = tx.db.prepare(
        "SELECT request, reply FROM seen_requests
         WHERE seen_at >= ?1 AND seen_at < ?2 AND request IS NOT NULL AND reply IS NOT NULL
         ORDER BY seen_at, rowid",
    )?;
    let rows = st.query_map([t0 as i64, t1 as i64], |r| {
        Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
    })?;
    for row in rows {
        let (request, reply) = row?;
        let request: SummaryRequest = postcard::from_bytes(&request)?;
        let decision = match postcard::from_bytes::<PeerReply>(&reply)? {
            PeerReply::Disclosure { .. } => None,
            PeerReply::Refusal(r) => Some(r.code),
            _ => continue,
        };
        let who = person_of
            .get(&request.case_id)
            .cloned()
            .unwrap_or_else(|| format!("case {}", request.case_id));
        last.insert(who, decision);
    }
    for decision in last.values() {
        match decision {
            None => counts.granted += 1,
            Some(code) => {
                let i = RefusalCode::ALL.iter().position(|c| c == code).unwrap_or(0);
                counts.refused[i] += 1;
            }
        }
    }

    // Profiles of the persons followed over the declared grid fields.
    for g in &cfg.grid_fields {
        let mut st = tx
            .db
            .prepare("SELECT avs, value FROM record_fields WHERE category = ?1 AND field = ?2")?;
        let values: BTreeMap<String, String> = st
            .query_map([g.category.as_str(), g.field.as_str()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<Result<_, _>>()?;
        let mut p = ProfileCounts {
            values: vec![0; g.values.len()],
            not_recorded: 0,
        };
        for avs in &followed {
            match values
                .get(avs)
                .and_then(|v| g.values.iter().position(|d| d == v))
            {
                Some(i) => p.values[i] += 1,
                None => p.not_recorded += 1,
            }
        }
        counts.profiles.push(p);
    }
    Ok((counts, followed))
}

/// Whether `me` took part in the case (opened or accepted it, until it left, was removed or
/// the case closed) at some instant of `[t0, t1)`.
fn took_part(history: &[SignedCaseEvent], me: &InstitutionId, t0: u64, t1: u64) -> bool {
    let mut since: Option<u64> = None;
    for e in history {
        let (at, mine) = (e.event.at, &e.event.author == me);
        let ends = match &e.event.kind {
            CaseEventKind::Opened { .. } | CaseEventKind::Accepted if mine => {
                since.get_or_insert(at);
                false
            }
            CaseEventKind::Left => mine,
            CaseEventKind::Removed { institution } => institution == me,
            CaseEventKind::Closed => true,
            _ => false,
        };
        if ends && since.take().is_some_and(|s| s < t1 && at >= t0) {
            return true;
        }
        if matches!(e.event.kind, CaseEventKind::Closed) {
            return false;
        }
    }
    since.is_some_and(|s| s < t1)
}
