//! `passerelle stats dashboard`: the dashboard member's view of every sector's monthly
//! reports, as text, and the files it writes (HTML, CSV, JSON) into a private directory.

use crate::dashboard_figures::{involved, places_used, status};
use crate::table::table;
use protocol_spec::stats::Dashboard;
use protocol_spec::stats::dashboard::DashboardMonth;
use protocol_spec::stats::report::Cell;
use std::fmt::Write;
use std::path::{Path, PathBuf};

fn month_rows(d: &Dashboard, mo: &DashboardMonth) -> Vec<[String; 8]> {
    let k = d.threshold;
    let mut rows = Vec::new();
    for r in &mo.reports {
        for m in r.report.measures.iter().filter(|m| involved(m)) {
            rows.push([
                mo.month.to_string(),
                m.measure.to_string(),
                format!("{} ({})", r.institution, r.report.sector),
                m.places_budgeted.to_string(),
                m.participants.render(k),
                m.entries.render(k),
                m.exits_total.render(k),
                places_used(m, mo.month)
                    .map_or_else(|| m.place_days_used.render(k), |p| format!("{p:.1}")),
            ]);
        }
    }
    rows
}

/// The text form: per month, measure and sector; then the members missing per month.
pub fn text(d: &Dashboard) -> String {
    let k = d.threshold;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "dashboard of federation {} at {}: {} month(s); counts under {k} show as <{k}, figures withheld so they cannot be recomputed as x",
        d.federation,
        d.dashboard,
        d.months.len()
    );
    let rows: Vec<[String; 8]> = d.months.iter().flat_map(|m| month_rows(d, m)).collect();
    if rows.is_empty() {
        let _ = writeln!(out, "\nno report received in these months");
    } else {
        out.push('\n');
        out.push_str(&table(
            [
                "MONTH",
                "MEASURE",
                "SECTOR",
                "PLACES",
                "PARTICIPANTS",
                "ENTRIES",
                "EXITS",
                "PLACES USED",
            ],
            rows,
        ));
    }
    let _ = writeln!(out, "\nreports per month");
    for mo in &d.months {
        let sent: Vec<String> = mo
            .reports
            .iter()
            .map(|r| match r.sequence {
                1 => r.institution.to_string(),
                _ => format!("{} ({})", r.institution, status(r)),
            })
            .collect();
        let missing: Vec<String> = mo
            .missing
            .iter()
            .map(|m| format!("{} ({})", m.institution, m.sector))
            .collect();
        let _ = writeln!(
            out,
            "  {}  received: {}  missing: {}",
            mo.month,
            if sent.is_empty() {
                "-".into()
            } else {
                sent.join(", ")
            },
            if missing.is_empty() {
                "none".into()
            } else {
                missing.join(", ")
            }
        );
    }
    out.push_str(&crate::overlap::dashboard_text(d));
    out
}

const CSV_HEADER: &str = "month,institution,sector,status,sequence,measure,places_budgeted,participants,entries,exits_employment,exits_training,exits_other_measure,exits_dropout,exits_other,exits_total,place_days_used,place_days_budgeted,cost_used_centimes,cost_budgeted_centimes";

/// One row per month, sector and measure, and one per missing member (`status` `missing`,
/// figures empty). Every value is an id, a month or a figure (`<k`, `x`): nothing to quote.
pub fn csv(d: &Dashboard) -> String {
    let k = d.threshold;
    let c = |cell: Cell| cell.render(k);
    let mut out = format!("{CSV_HEADER}\n");
    for mo in &d.months {
        for r in &mo.reports {
            for m in &r.report.measures {
                let exits: Vec<String> = m.exits.iter().map(|(_, e)| c(*e)).collect();
                let _ = writeln!(
                    out,
                    "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                    mo.month,
                    r.institution,
                    r.report.sector,
                    if r.sequence > 1 {
                        "correction"
                    } else {
                        "reported"
                    },
                    r.sequence,
                    m.measure,
                    m.places_budgeted,
                    c(m.participants),
                    c(m.entries),
                    exits.join(","),
                    c(m.exits_total),
                    c(m.place_days_used),
                    m.place_days_budgeted,
                    c(m.cost_used),
                    m.cost_budgeted
                );
            }
        }
        for m in &mo.missing {
            let _ = writeln!(
                out,
                "{},{},{},missing,,,,,,,,,,,,,,,",
                mo.month, m.institution, m.sector
            );
        }
    }
    out
}

/// Creates `dir` only its owner may enter (0700, whatever the umask), or checks that an
/// existing one is so: an existing directory is never made private behind its owner's back.
fn private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => anyhow::bail!("{} exists and is not a directory", dir.display()),
        Ok(m) if m.permissions().mode() & 0o077 != 0 => anyhow::bail!(
            "{} may be read by others; the dashboard goes into a private directory: give a new path, or `chmod 700` it",
            dir.display()
        ),
        Ok(_) => Ok(()),
        Err(_) => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| anyhow::anyhow!("cannot make {} private: {e}", dir.display()))
        }
    }
}

/// Writes `dashboard.html`, `dashboard.csv`, `dashboard-overlap.csv` (the persons followed by
/// several sectors) and `dashboard.json` into `dir` (created 0700, files 0600: figures for
/// coordinators only); returns their paths.
pub fn write(dir: &Path, d: &Dashboard) -> anyhow::Result<Vec<PathBuf>> {
    private_dir(dir)?;
    let files = [
        ("dashboard.html", crate::dashboard_html::render(d)),
        ("dashboard.csv", csv(d)),
        ("dashboard-overlap.csv", crate::overlap::csv(d)),
        ("dashboard.json", serde_json::to_string_pretty(d)? + "\n"),
    ];
    let mut out = Vec::new();
    for (name, body) in files {
        let path = dir.join(name);
        crate::files::write_private(&path, body.as_bytes())?;
        out.push(path);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::dashboard_figures::fixture::dashboard;
    use protocol_spec::stats::report::Cell;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_directory_is_private_and_an_open_one_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("new/dashboard");
        super::private_dir(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        super::private_dir(&dir).unwrap();
        let open = tmp.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = super::private_dir(&open).unwrap_err().to_string();
        assert!(e.contains("may be read by others"), "{e}");
        assert_eq!(
            std::fs::metadata(&open).unwrap().permissions().mode() & 0o777,
            0o755,
            "left as it was"
        );
    }

    #[test]
    fn csv_rows_name_the_correction_and_the_missing_member() {
        let csv = super::csv(&dashboard());
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0].split(',').count(), 19);
        assert!(
            lines[1].starts_with("2026-11,ne.orp,employment,correction,2,atelier-bois,20,x,"),
            "{}",
            lines[1]
        );
        assert_eq!(lines[3], "2026-11,ne.sas,social-aid,missing,,,,,,,,,,,,,,,");
        assert!(lines.iter().all(|l| l.split(',').count() == 19));
        let text = super::text(&dashboard());
        assert!(text.contains("missing: ne.sas (social-aid)"), "{text}");
    }

    #[test]
    fn the_published_overlap_is_charted_with_suppressed_figures_absent() {
        let mut d = dashboard();
        assert!(crate::dashboard_html::render(&d).contains("No overlap published"));
        let file: serde_json::Value =
            serde_json::from_str(include_str!("../../protocol-spec/vectors/statistics.json"))
                .unwrap();
        let overlap: protocol_spec::stats::psi::Overlap =
            serde_json::from_value(file["psi"]["overlap"].clone()).unwrap();
        d.months[0].overlap = Some(protocol_spec::stats::PublishedOverlap {
            attempt: 1,
            round: [9; 32],
            published_at: 1_796_000_000,
            overlap: overlap.clone(),
        });
        let page = crate::dashboard_html::render(&d);
        assert!(page.contains("Overlap between sectors, 2026-11"), "{page}");
        assert!(page.contains("aria-label=\"Overlap between sectors\""));
        assert_eq!(page.matches("<svg").count(), 4, "the overlap chart too");
        for p in &overlap.pairs {
            assert!(page.contains(&format!("{} and {}", p.first, p.second)));
        }
        let shown = |c: Cell| match c {
            Cell::Count(n) => n.to_string(),
            Cell::Small => "&lt;5: suppressed".into(),
            Cell::Withheld => "x: withheld".into(),
        };
        assert!(page.contains(&shown(overlap.several)));
        let csv = crate::overlap::csv(&d);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines.len(),
            2 + overlap.by_count.len() + overlap.pairs.len()
        );
        assert!(lines[1].starts_with("2026-11,1,several,,,,"), "{csv}");
        assert!(super::text(&d).contains("persons followed by several sectors"));
    }
}
