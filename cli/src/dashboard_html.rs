//! The coordination dashboard as one self-contained HTML file: inline CSS and inline SVG
//! charts, no script, no font, no link to anything outside the file (it is opened on machines
//! without network, and must not tell a third party who reads it). A pure function of the
//! dashboard's data; every label from the roster or a report is escaped.

use crate::dashboard_figures::{places_used, status};
use protocol_spec::stats::Dashboard;
use protocol_spec::stats::ExitOutcome;
use protocol_spec::stats::dashboard::{DashboardMonth, ReceivedReport};
use protocol_spec::stats::report::Cell;
use std::fmt::Write;

/// Text as HTML text or attribute value.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:24px;color:#1d2330;max-width:1180px}\
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ccd}\
p.meta{color:#556;margin:0 0 12px}.legend{background:#f3f4f8;border-left:4px solid #8a93b8;padding:8px 12px}\
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccd;padding:3px 8px;text-align:right}\
th{background:#eef0f6}td.l,th.l{text-align:left}.missing{color:#a22}svg{display:block;margin:8px 0}\
svg text{font-size:12px;fill:#1d2330}.absent{fill:#a22;font-style:italic}";

/// Colours of the sectors' series, in the order reports come.
const PALETTE: [&str; 6] = [
    "#3b6fb6", "#d9822b", "#3a9a5b", "#8e5ab5", "#c44e52", "#6b7b8c",
];

/// One bar of a horizontal chart: a value, or none when the figure is suppressed (drawn
/// absent, with `shown` as its label), and an optional budget outline.
struct Bar {
    series: String,
    colour: &'static str,
    value: Option<f64>,
    budget: Option<f64>,
    shown: String,
}

/// Groups of horizontal bars sharing one scale.
fn hbars(groups: &[(String, Vec<Bar>)], aria: &str) -> String {
    let max = groups
        .iter()
        .flat_map(|(_, bars)| bars.iter())
        .flat_map(|b| [b.value.unwrap_or(0.0), b.budget.unwrap_or(0.0)])
        .fold(1.0_f64, f64::max);
    let (left, width, row) = (300.0, 480.0, 20.0);
    let rows: usize = groups.iter().map(|(_, b)| b.len() + 1).sum();
    let height = rows as f64 * row + 10.0;
    let mut s = format!(
        "<svg width=\"1100\" height=\"{height}\" role=\"img\" aria-label=\"{}\">",
        esc(aria)
    );
    let mut y = 4.0;
    for (group, bars) in groups {
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{:.0}\" font-weight=\"bold\">{}</text>",
            y + 14.0,
            esc(group)
        );
        y += row;
        for b in bars {
            let _ = write!(
                s,
                "<text x=\"16\" y=\"{:.0}\">{}</text>",
                y + 14.0,
                esc(&b.series)
            );
            if let Some(budget) = b.budget {
                let _ = write!(
                    s,
                    "<rect x=\"{left}\" y=\"{:.0}\" width=\"{:.1}\" height=\"14\" fill=\"none\" stroke=\"#8a93b8\" stroke-dasharray=\"3 2\"/>",
                    y + 3.0,
                    budget / max * width
                );
            }
            match b.value {
                Some(v) => {
                    let _ = write!(
                        s,
                        "<rect x=\"{left}\" y=\"{:.0}\" width=\"{:.1}\" height=\"14\" fill=\"{}\"/>",
                        y + 3.0,
                        v / max * width,
                        b.colour
                    );
                    let _ = write!(
                        s,
                        "<text x=\"{:.0}\" y=\"{:.0}\">{}</text>",
                        left + width + 10.0,
                        y + 14.0,
                        esc(&b.shown)
                    );
                }
                None => {
                    let _ = write!(
                        s,
                        "<text class=\"absent\" x=\"{:.0}\" y=\"{:.0}\">{}</text>",
                        left + width + 10.0,
                        y + 14.0,
                        esc(&b.shown)
                    );
                }
            }
            y += row;
        }
    }
    s.push_str("</svg>");
    s
}

/// The latest month with at least one report.
fn latest(d: &Dashboard) -> Option<&DashboardMonth> {
    d.months.iter().rev().find(|m| !m.reports.is_empty())
}

fn colour(d: &Dashboard, institution: &protocol_spec::ids::InstitutionId) -> &'static str {
    let mut ids: Vec<&protocol_spec::ids::InstitutionId> = d
        .months
        .iter()
        .flat_map(|m| {
            m.reports
                .iter()
                .map(|r| &r.institution)
                .chain(m.missing.iter().map(|x| &x.institution))
        })
        .collect();
    ids.sort();
    ids.dedup();
    let i = ids.iter().position(|i| *i == institution).unwrap_or(0);
    PALETTE[i % PALETTE.len()]
}

fn sector_label(r: &ReceivedReport) -> String {
    format!("{} ({})", r.institution, r.report.sector)
}

fn places_chart(d: &Dashboard, mo: &DashboardMonth) -> String {
    let k = d.threshold;
    let groups: Vec<(String, Vec<Bar>)> = d
        .measures
        .iter()
        .map(|measure| {
            let bars = mo
                .reports
                .iter()
                .filter_map(|r| {
                    let m = r.report.measures.iter().find(|m| m.measure == measure.id)?;
                    if m.places_budgeted == 0 && m.place_days_used == Cell::Count(0) {
                        return None;
                    }
                    let used = places_used(m, mo.month);
                    let shown = match used {
                        Some(u) => format!("{u:.1} of {} places", m.places_budgeted),
                        None => format!(
                            "{} place-days: suppressed ({} places budgeted)",
                            m.place_days_used.render(k),
                            m.places_budgeted
                        ),
                    };
                    Some(Bar {
                        series: sector_label(r),
                        colour: colour(d, &r.institution),
                        value: used,
                        budget: Some(f64::from(m.places_budgeted)),
                        shown,
                    })
                })
                .collect();
            (format!("{} ({})", measure.name, measure.provider), bars)
        })
        .collect();
    hbars(&groups, "places used against budget per measure")
}

fn outcomes_chart(d: &Dashboard, mo: &DashboardMonth) -> String {
    let k = d.threshold;
    let groups: Vec<(String, Vec<Bar>)> = ExitOutcome::ALL
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let bars = mo
                .reports
                .iter()
                .map(|r| {
                    let cell = r
                        .report
                        .all_measures
                        .exits
                        .get(i)
                        .map_or(Cell::Withheld, |e| e.1);
                    Bar {
                        series: sector_label(r),
                        colour: colour(d, &r.institution),
                        value: cell.count().map(|n| n as f64),
                        budget: None,
                        shown: match cell {
                            Cell::Count(n) => n.to_string(),
                            other => format!("{}: suppressed", other.render(k)),
                        },
                    }
                })
                .collect();
            (o.as_str().to_string(), bars)
        })
        .collect();
    hbars(&groups, "exits by outcome")
}

/// One month's bar of one figure: each sector's shown figure stacked in its colour, and
/// whether some sector's figure is suppressed (the bar is then a lower bound, marked `+`).
fn stack(d: &Dashboard, mo: &DashboardMonth, figure: Figure) -> Stack {
    let mut parts = Vec::new();
    let mut hidden = false;
    for r in &mo.reports {
        match figure(r) {
            Cell::Count(n) => parts.push((n, colour(d, &r.institution))),
            _ => hidden = true,
        }
    }
    (parts, hidden)
}

/// One of a report's figures.
type Figure = fn(&ReceivedReport) -> Cell;

/// A stacked bar: each sector's shown part with its colour, and whether a part is hidden.
type Stack = (Vec<(u64, &'static str)>, bool);

fn flows_chart(d: &Dashboard) -> String {
    let months: Vec<&DashboardMonth> = d.months.iter().rev().take(12).rev().collect();
    let series: [(&str, &str, Figure); 2] = [
        ("entries", "1", |r| r.report.all_measures.entries),
        ("exits", "0.5", |r| r.report.all_measures.exits_total),
    ];
    let bars: Vec<Vec<Stack>> = months
        .iter()
        .map(|m| series.iter().map(|s| stack(d, m, s.2)).collect())
        .collect();
    let max = bars
        .iter()
        .flatten()
        .map(|(parts, _)| parts.iter().map(|p| p.0).sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let (base, height, slot) = (230.0, 190.0, 84.0);
    let mut s = format!(
        "<svg width=\"{:.0}\" height=\"310\" role=\"img\" aria-label=\"entries and exits per month\">",
        (60.0 + slot * months.len().max(1) as f64).max(1100.0)
    );
    let _ = write!(
        s,
        "<line x1=\"40\" y1=\"{base}\" x2=\"{:.0}\" y2=\"{base}\" stroke=\"#556\"/>",
        40.0 + slot * months.len() as f64
    );
    for (i, (m, month_bars)) in months.iter().zip(&bars).enumerate() {
        let x0 = 48.0 + slot * i as f64;
        for (j, ((name, opacity, _), (parts, hidden))) in series.iter().zip(month_bars).enumerate()
        {
            let x = x0 + 30.0 * j as f64;
            if m.reports.is_empty() {
                let _ = write!(
                    s,
                    "<text class=\"absent\" x=\"{:.0}\" y=\"{:.0}\" text-anchor=\"middle\">–</text>",
                    x + 13.0,
                    base - 4.0
                );
                continue;
            }
            let mut y = base;
            for (n, fill) in parts {
                let h = *n as f64 / max * height;
                y -= h;
                let _ = write!(
                    s,
                    "<rect x=\"{x:.0}\" y=\"{y:.1}\" width=\"26\" height=\"{h:.1}\" fill=\"{fill}\" fill-opacity=\"{opacity}\"/>"
                );
            }
            let total: u64 = parts.iter().map(|p| p.0).sum();
            let _ = write!(
                s,
                "<text{} x=\"{:.0}\" y=\"{:.1}\" text-anchor=\"middle\"><title>{} {name}</title>{total}{}</text>",
                if *hidden { " class=\"absent\"" } else { "" },
                x + 13.0,
                y - 4.0,
                m.month,
                if *hidden { "+" } else { "" }
            );
        }
        let _ = write!(
            s,
            "<text x=\"{:.0}\" y=\"{:.0}\" text-anchor=\"middle\">{}</text>",
            x0 + 28.0,
            base + 18.0,
            m.month
        );
    }
    // Legend: the sectors' colours, then how to read a bar.
    let mut sectors: Vec<&ReceivedReport> = Vec::new();
    for r in months.iter().flat_map(|m| &m.reports) {
        if !sectors.iter().any(|x| x.institution == r.institution) {
            sectors.push(r);
        }
    }
    sectors.sort_by(|a, b| a.institution.cmp(&b.institution));
    for (i, r) in sectors.iter().enumerate() {
        let x = 40.0 + 230.0 * i as f64;
        let _ = write!(
            s,
            "<rect x=\"{x:.0}\" y=\"258\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{:.0}\" y=\"269\">{}</text>",
            colour(d, &r.institution),
            x + 18.0,
            esc(&sector_label(r))
        );
    }
    s.push_str(
        "<text x=\"40\" y=\"295\">Per month: entries (left, solid) and exits (right, light), stacked by sector. \
         n+: a sector's figure is suppressed and not drawn, so the total is at least n; –: no report.</text>",
    );
    s.push_str("</svg>");
    s
}

fn figures_table(d: &Dashboard, mo: &DashboardMonth) -> String {
    let k = d.threshold;
    let mut s = String::from(
        "<table><tr><th class=\"l\">measure</th><th class=\"l\">sector</th><th>places</th><th>participants</th><th>entries</th><th>exits</th><th>place-days used</th><th>place-days budgeted</th></tr>",
    );
    for measure in &d.measures {
        for r in &mo.reports {
            let Some(m) = r
                .report
                .measures
                .iter()
                .find(|m| m.measure == measure.id && crate::dashboard_figures::involved(m))
            else {
                continue;
            };
            let _ = write!(
                s,
                "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&measure.name),
                esc(&sector_label(r)),
                m.places_budgeted,
                esc(&m.participants.render(k)),
                esc(&m.entries.render(k)),
                esc(&m.exits_total.render(k)),
                esc(&m.place_days_used.render(k)),
                m.place_days_budgeted
            );
        }
    }
    s.push_str("</table>");
    s
}

fn reports_table(d: &Dashboard) -> String {
    let mut s = String::from(
        "<table><tr><th class=\"l\">month</th><th class=\"l\">received</th><th class=\"l\">missing</th></tr>",
    );
    for mo in d.months.iter().rev() {
        let received: Vec<String> = mo
            .reports
            .iter()
            .map(|r| match r.sequence {
                1 => esc(r.institution.as_str()),
                _ => format!("{} ({})", esc(r.institution.as_str()), esc(&status(r))),
            })
            .collect();
        let missing: Vec<String> = mo
            .missing
            .iter()
            .map(|m| format!("{} ({})", esc(&m.name), esc(m.sector.as_str())))
            .collect();
        let _ = write!(
            s,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l missing\">{}</td></tr>",
            mo.month,
            if received.is_empty() {
                "–".into()
            } else {
                received.join(", ")
            },
            if missing.is_empty() {
                "none".into()
            } else {
                missing.join(", ")
            }
        );
    }
    s.push_str("</table>");
    s
}

/// The persons followed by several sectors, as the round published them (statistics.md
/// §10.6): the total and by number of sectors, then each pair; a suppressed figure is drawn
/// absent with its `<k` or `x`.
fn overlap_chart(d: &Dashboard, o: &protocol_spec::stats::psi::Overlap) -> String {
    let k = d.threshold;
    let bar = |series: String, colour: &'static str, cell: Cell| Bar {
        series,
        colour,
        value: cell.count().map(|n| n as f64),
        budget: None,
        shown: match cell {
            Cell::Count(n) => n.to_string(),
            Cell::Small => format!("<{k}: suppressed"),
            Cell::Withheld => "x: withheld".to_string(),
        },
    };
    let mut counts = vec![bar("2 sectors or more".into(), PALETTE[0], o.several)];
    for (m, cell) in &o.by_count {
        counts.push(bar(format!("exactly {m} sectors"), PALETTE[1], *cell));
    }
    let pairs = o
        .pairs
        .iter()
        .map(|p| {
            bar(
                format!("{} and {}", p.first, p.second),
                colour(d, &p.first),
                p.persons,
            )
        })
        .collect();
    hbars(
        &[
            ("Persons by number of sectors".to_string(), counts),
            (
                "Persons followed by both sectors of a pair".to_string(),
                pairs,
            ),
        ],
        "Overlap between sectors",
    )
}

/// The latest month with a published overlap.
fn latest_overlap(d: &Dashboard) -> Option<&DashboardMonth> {
    d.months.iter().rev().find(|m| m.overlap.is_some())
}

/// The whole page.
pub fn render(d: &Dashboard) -> String {
    let k = d.threshold;
    let mut s = String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    let _ = write!(
        s,
        "<title>Coordination dashboard: {}</title><style>{STYLE}</style></head><body>",
        esc(&d.federation)
    );
    let _ = write!(
        s,
        "<h1>Coordination dashboard: {}</h1><p class=\"meta\">Kept by {}; generated {} from the sectors' signed monthly reports; {} month(s).</p>",
        esc(&d.federation),
        esc(d.dashboard.as_str()),
        esc(&crate::dates::format_time(d.generated_at)),
        d.months.len()
    );
    let _ = write!(
        s,
        "<p class=\"legend\">Figures count persons and name none. <b>&lt;{k}</b>: fewer than {k} persons, suppressed; <b>x</b>: withheld so that a suppressed figure cannot be recomputed from a total. Suppressed figures are drawn as absent, never as zero.</p>"
    );
    match latest(d) {
        Some(mo) => {
            let _ = write!(
                s,
                "<h2>Places used against budget, {}</h2><p>Average places occupied over the month (place-days used ÷ days); the dashed outline is the sector's budget.</p>{}",
                mo.month,
                places_chart(d, mo)
            );
            let _ = write!(
                s,
                "<h2>Entries and exits, last {} months</h2>{}",
                d.months.len().min(12),
                flows_chart(d)
            );
            let _ = write!(
                s,
                "<h2>Exits by outcome, {}</h2>{}",
                mo.month,
                outcomes_chart(d, mo)
            );
            let _ = write!(
                s,
                "<h2>Figures per measure and sector, {}</h2>{}",
                mo.month,
                figures_table(d, mo)
            );
        }
        None => s.push_str(
            "<h2>No report received</h2><p>No sector has sent a report for these months yet.</p>",
        ),
    }
    match latest_overlap(d).and_then(|m| m.overlap.as_ref().map(|o| (m.month, o))) {
        Some((month, o)) => {
            let _ = write!(
                s,
                "<h2>Overlap between sectors, {month}</h2><p>Persons followed by several sectors, counted by a private set intersection round (attempt {}): each sector blinded its persons with a secret of its own, and no node learned whom another follows. Zeros and counts under {k} are suppressed (<b>&lt;{k}</b>), as is a pair's count close to a sector's whole set.</p>{}",
                o.attempt,
                overlap_chart(d, &o.overlap)
            );
        }
        None => s.push_str(
            "<h2>Overlap between sectors</h2><p>No overlap published for these months yet (<code>passerelle stats overlap</code>).</p>",
        ),
    }
    let _ = write!(
        s,
        "<h2>Reports received and sectors missing</h2>{}",
        reports_table(d)
    );
    s.push_str("</body></html>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboard_figures::fixture::dashboard;

    #[test]
    fn labels_from_the_roster_are_escaped() {
        let page = render(&dashboard());
        assert!(page.contains("Atelier &lt;b&gt;bois&lt;/b&gt; &amp; &quot;co&quot;"));
        assert!(page.contains("Service &lt;social&gt;"));
        assert!(!page.contains("<b>bois"));
        assert!(!page.contains("<social>"));
        assert_eq!(esc("a'b"), "a&#39;b");
    }

    #[test]
    fn the_page_is_self_contained() {
        let page = render(&dashboard());
        assert!(page.starts_with("<!DOCTYPE html>"));
        for outside in [
            "http:", "https:", "<script", "<img", "<link", "url(", "@import", "src=",
        ] {
            assert!(!page.contains(outside), "{outside}");
        }
        assert_eq!(page.matches("<svg").count(), 3, "three charts");
    }

    #[test]
    fn suppressed_figures_are_drawn_absent_with_their_reason() {
        let page = render(&dashboard());
        // 450 place-days of 30: 15 places of 20; the small measure's days are suppressed and
        // get no bar, only their text form.
        assert!(page.contains("15.0 of 20 places"), "{page}");
        assert!(page.contains("&lt;5 place-days: suppressed (3 places budgeted)"));
        assert!(page.contains("class=\"absent\""));
        assert!(page.contains("drawn as absent, never as zero"));
        // Exits by outcome: a small count has no bar, a zero has one of width 0.
        assert!(page.contains("&lt;5: suppressed"));
        // The correction and the missing sector are named.
        assert!(page.contains("ne.orp (correction 1)"));
        assert!(page.contains("social-aid"));
    }
}
