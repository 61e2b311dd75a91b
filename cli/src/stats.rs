//! The text form of a sector's monthly report (`passerelle stats report`).

use crate::table::table;
use protocol_spec::stats::StatsReport;
use protocol_spec::stats::report::Cell;
use std::fmt::Write;

fn chf(centimes: u64) -> String {
    format!("{}.{:02}", centimes / 100, centimes % 100)
}

fn milli(e: u32) -> String {
    let s = format!("{}.{:03}", e / 1000, e % 1000);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

pub fn report(r: &StatsReport) -> String {
    let k = r.threshold;
    let c = |cell: Cell| cell.render(k);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} ({}), {}: federation {} roster version {}; counts under {k} show as <{k}, figures withheld so they cannot be recomputed as x",
        r.institution, r.sector, r.month, r.federation, r.roster_version
    );
    let _ = writeln!(
        out,
        "\nmixed insertion measures (exits by outcome; place-days and cost used of budgeted)"
    );
    let rows = r.measures.iter().map(|m| {
        let mut row = vec![
            m.measure.to_string(),
            m.places_budgeted.to_string(),
            c(m.participants),
            c(m.entries),
        ];
        row.extend(m.exits.iter().map(|(_, e)| c(*e)));
        row.push(c(m.exits_total));
        row.push(format!(
            "{} / {}",
            c(m.place_days_used),
            m.place_days_budgeted
        ));
        row.push(format!(
            "{} / {}",
            m.cost_used.count().map_or_else(|| c(m.cost_used), chf),
            chf(m.cost_budgeted)
        ));
        row
    });
    let t = &r.all_measures;
    let mut total = vec![
        "all measures".to_string(),
        t.places_budgeted.to_string(),
        c(t.participants),
        c(t.entries),
    ];
    total.extend(t.exits.iter().map(|(_, e)| c(*e)));
    total.push(c(t.exits_total));
    total.push(format!(
        "{} / {}",
        c(t.place_days_used),
        t.place_days_budgeted
    ));
    total.push(format!("- / {}", chf(t.cost_budgeted)));
    let rows: Vec<[String; 12]> = rows
        .chain(std::iter::once(total))
        .map(|v| v.try_into().expect("12 columns"))
        .collect();
    out.push_str(&table(
        [
            "MEASURE",
            "PLACES",
            "PARTICIPANTS",
            "ENTRIES",
            "EMPLOYMENT",
            "TRAINING",
            "OTHER-MEASURE",
            "DROPOUT",
            "OTHER",
            "EXITS",
            "PLACE-DAYS",
            "COST CHF",
        ],
        rows,
    ));
    let a = &r.activity;
    let _ = writeln!(
        out,
        "\ncoordination: {} person(s) followed, {} in coordinated cases",
        c(a.persons_followed),
        c(a.persons_in_cases)
    );
    let mut decisions = vec![format!("granted {}", c(a.granted))];
    for (code, cell) in &a.refused {
        if *cell != Cell::Count(0) {
            decisions.push(format!("{} {}", code.as_str(), c(*cell)));
        }
    }
    let _ = writeln!(
        out,
        "summary decisions (persons, by their last decision): {}; total {}",
        decisions.join(", "),
        c(a.decisions_total)
    );
    if !r.profiles.is_empty() {
        let _ = writeln!(out, "\nprofiles of the persons followed");
        let rows: Vec<[String; 3]> = r
            .profiles
            .iter()
            .flat_map(|p| {
                let name = format!("{}/{}", p.category, p.field);
                p.values
                    .iter()
                    .map(move |(v, cell)| [name.clone(), v.clone(), c(*cell)])
                    .chain(std::iter::once([
                        format!("{}/{}", p.category, p.field),
                        "(not recorded)".into(),
                        c(p.not_recorded),
                    ]))
            })
            .collect();
        out.push_str(&table(["FIELD", "VALUE", "PERSONS"], rows));
    }
    match r.privacy {
        Some(p) => {
            let _ = writeln!(
                out,
                "\nprivacy: this release spent epsilon {}; {} of the month's {} spent; every figure carries discrete Laplace noise of scale {} × sensitivity / {}",
                milli(p.epsilon_milli),
                milli(p.spent_milli),
                milli(p.budget_milli),
                p.contributions,
                milli(p.epsilon_milli)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "\nprivacy: exact figures (no privacy budget set), small counts suppressed"
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    /// The first report of the statistics vectors, as a coordinator reads it.
    #[test]
    fn the_text_form_shows_suppressed_figures_and_the_budgets() {
        let file: serde_json::Value =
            serde_json::from_str(include_str!("../../protocol-spec/vectors/statistics.json"))
                .unwrap();
        let r: protocol_spec::stats::StatsReport =
            serde_json::from_value(file["reports"][0]["report"].clone()).unwrap();
        let text = super::report(&r);
        let line = |start: &str| {
            text.lines()
                .find(|l| l.starts_with(start))
                .unwrap_or_else(|| panic!("no line {start} in\n{text}"))
                .split_whitespace()
                .collect::<Vec<_>>()
        };
        // stage-pratique: 3 places, 3 participants under 5, 1 entry, its cost hidden with its days.
        assert_eq!(
            line("stage-pratique"),
            [
                "stage-pratique",
                "3",
                "<5",
                "<5",
                "<5",
                "0",
                "0",
                "0",
                "0",
                "<5",
                "<5",
                "/",
                "90",
                "<5",
                "/",
                "3600.00"
            ]
        );
        assert!(text.contains("all measures"), "{text}");
        assert!(
            text.contains("exact figures (no privacy budget set)"),
            "{text}"
        );
        assert!(text.contains("employment/mobility"), "{text}");
    }
}
