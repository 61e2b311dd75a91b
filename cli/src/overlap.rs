//! `passerelle stats overlap` and the overlap part of `stats dashboard`: the persons followed
//! by several sectors, counted by the private set intersection round (statistics.md §10), as
//! text and CSV. Only published figures appear: suppressed ones as `<k` or `x`.

use crate::table::table;
use protocol_spec::stats::dashboard::DashboardMonth;
use protocol_spec::stats::psi::Overlap;
use protocol_spec::stats::{Dashboard, OverlapRounds, RoundState};
use std::fmt::Write;

/// The published figures, one row each: the total, by number of sectors, by pair.
pub fn rows(o: &Overlap, k: u32) -> Vec<[String; 2]> {
    let mut rows = vec![[
        "persons followed by 2 sectors or more".to_string(),
        o.several.render(k),
    ]];
    for (m, cell) in &o.by_count {
        rows.push([format!("  by exactly {m} sectors"), cell.render(k)]);
    }
    for p in &o.pairs {
        rows.push([
            format!("  by {} and {}", p.first, p.second),
            p.persons.render(k),
        ]);
    }
    rows
}

/// The reply to `stats overlap`: every attempt of the month and its figures.
pub fn text(o: &OverlapRounds) -> String {
    let mut out = String::new();
    if let Some(a) = o.started {
        let _ = writeln!(
            out,
            "started attempt {a} of {}: each sector blinds its persons followed and passes the sets round the ring; run this command again to see where it stands",
            o.month
        );
    }
    if o.rounds.is_empty() {
        let _ = writeln!(out, "no round for {} yet", o.month);
    }
    for r in &o.rounds {
        let _ = writeln!(
            out,
            "{} attempt {}  {}  round {}  started {}  expires {}  final sets {}/{}",
            r.month,
            r.attempt,
            r.state,
            &hex::encode(r.round)[..16],
            crate::dates::format_time(r.started_at),
            crate::dates::format_time(r.expires_at),
            r.sets_received,
            r.participants.len()
        );
        if let Some(p) = &r.problem {
            let _ = writeln!(out, "  {p}");
        }
        if !r.sizes.is_empty() {
            let sizes: Vec<String> = r
                .sizes
                .iter()
                .map(|s| format!("{} {}", s.origin, s.size))
                .collect();
            let _ = writeln!(
                out,
                "  set sizes (padded to {}): {}",
                r.threshold,
                sizes.join(", ")
            );
        }
        if let Some(o) = &r.overlap {
            out.push_str(&table(["FIGURE", "PERSONS"], rows(o, r.threshold)));
        }
    }
    if o.rounds
        .last()
        .is_some_and(|r| r.state != RoundState::Running && r.overlap.is_none())
    {
        let _ = writeln!(
            out,
            "the latest attempt published no figure: `passerelle stats overlap --month {} --again` starts the next one (3 attempts a month at most)",
            o.month
        );
    }
    out
}

/// The dashboard's text: the published overlap of each month that has one.
pub fn dashboard_text(d: &Dashboard) -> String {
    let mut out = String::new();
    let months: Vec<&DashboardMonth> = d.months.iter().filter(|m| m.overlap.is_some()).collect();
    if months.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "\npersons followed by several sectors (private set intersection; no node learned whom another follows)"
    );
    for m in months {
        let Some(o) = &m.overlap else { continue };
        let _ = writeln!(out, "  {} (attempt {})", m.month, o.attempt);
        out.push_str(&table(["FIGURE", "PERSONS"], rows(&o.overlap, d.threshold)));
    }
    out
}

const CSV_HEADER: &str = "month,attempt,figure,sectors,first,second,persons";

/// One row per published figure: `several`, `by-count` (with the number of sectors), `pair`
/// (with the two institutions). Every value is an id, a number or `<k`/`x`.
pub fn csv(d: &Dashboard) -> String {
    let k = d.threshold;
    let mut out = format!("{CSV_HEADER}\n");
    for m in &d.months {
        let Some(p) = &m.overlap else { continue };
        let o = &p.overlap;
        let _ = writeln!(
            out,
            "{},{},several,,,,{}",
            m.month,
            p.attempt,
            o.several.render(k)
        );
        for (n, cell) in &o.by_count {
            let _ = writeln!(
                out,
                "{},{},by-count,{n},,,{}",
                m.month,
                p.attempt,
                cell.render(k)
            );
        }
        for pair in &o.pairs {
            let _ = writeln!(
                out,
                "{},{},pair,2,{},{},{}",
                m.month,
                p.attempt,
                pair.first,
                pair.second,
                pair.persons.render(k)
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol_spec::stats::OverlapRound;
    use protocol_spec::stats::psi::{PairOverlap, SetSize};
    use protocol_spec::stats::report::Cell;

    fn round(attempt: u8, state: RoundState, overlap: Option<Overlap>) -> OverlapRound {
        OverlapRound {
            month: "2026-10".parse().unwrap(),
            attempt,
            round: [0xab; 32],
            participants: vec!["ne.orp".parse().unwrap(), "ne.sas".parse().unwrap()],
            threshold: 5,
            started_at: 1_796_000_000,
            expires_at: 1_796_600_000,
            state,
            sets_received: 2,
            problem: (state == RoundState::Refused)
                .then(|| "ne.sas refused the start: the rounds of 2026-10 are used up".into()),
            sizes: vec![SetSize {
                origin: "ne.orp".parse().unwrap(),
                size: 39,
            }],
            overlap,
        }
    }

    #[test]
    fn each_attempt_its_state_and_the_figures_with_small_counts_suppressed() {
        let overlap = Overlap {
            several: Cell::Count(13),
            by_count: vec![(2, Cell::Count(13))],
            pairs: vec![PairOverlap {
                first: "ne.orp".parse().unwrap(),
                second: "ne.sas".parse().unwrap(),
                persons: Cell::Small,
            }],
        };
        let o = OverlapRounds {
            month: "2026-10".parse().unwrap(),
            started: None,
            rounds: vec![
                round(0, RoundState::Refused, None),
                round(1, RoundState::Complete, Some(overlap)),
            ],
        };
        let shown = text(&o);
        assert!(shown.contains("2026-10 attempt 0  refused"), "{shown}");
        assert!(
            shown.contains("the rounds of 2026-10 are used up"),
            "{shown}"
        );
        assert!(shown.contains("2026-10 attempt 1  complete"), "{shown}");
        assert!(shown.contains("final sets 2/2"), "{shown}");
        assert!(
            shown.contains("set sizes (padded to 5): ne.orp 39"),
            "{shown}"
        );
        assert!(
            shown.contains("persons followed by 2 sectors or more  13"),
            "{shown}"
        );
        assert!(shown.contains("by ne.orp and ne.sas"), "{shown}");
        assert!(shown.contains("<5"), "{shown}");
        assert!(!shown.contains("--again"), "the latest completed: {shown}");
        // A failed latest attempt says how to start the next.
        let failed = OverlapRounds {
            rounds: vec![round(0, RoundState::Expired, None)],
            ..o
        };
        assert!(text(&failed).contains("--month 2026-10 --again"));
    }
}
