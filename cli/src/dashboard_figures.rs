//! What the dashboard's text, CSV and page all show the same way: a delivery's status, the
//! places a measure used, which sectors take part in it.

use protocol_spec::stats::dashboard::ReceivedReport;
use protocol_spec::stats::report::{Cell, MeasureFigures};

/// Whether a delivery is the month's first or a correction.
pub fn status(r: &ReceivedReport) -> String {
    if r.sequence > 1 {
        format!("correction {}", r.sequence - 1)
    } else {
        "reported".into()
    }
}

/// Average places occupied over the month: place-days used over the month's days.
pub fn places_used(m: &MeasureFigures, month: protocol_spec::stats::Month) -> Option<f64> {
    m.place_days_used
        .count()
        .map(|d| d as f64 / f64::from(month.days()))
}

/// Whether a sector takes part in a measure: it budgeted places or had participants. The
/// other rows are zeros, left out of the text and the page (the CSV keeps them).
pub fn involved(m: &MeasureFigures) -> bool {
    m.places_budgeted > 0 || m.participants != Cell::Count(0)
}

/// The dashboard the tests of the text, CSV and page read.
#[cfg(test)]
pub(crate) mod fixture {
    use protocol_spec::stats::dashboard::{
        DashboardMeasure, DashboardMonth, ExpectedMember, ReceivedReport,
    };
    use protocol_spec::stats::report::Cell;
    use protocol_spec::stats::{Dashboard, StatsReport};

    /// The first report of the statistics vectors (ne.orp, 2026-11), received as delivery 2,
    /// with ne.sas missing; the measure names are the roster's, here with markup in them.
    pub(crate) fn dashboard() -> Dashboard {
        let file: serde_json::Value =
            serde_json::from_str(include_str!("../../protocol-spec/vectors/statistics.json"))
                .unwrap();
        let mut report: StatsReport =
            serde_json::from_value(file["reports"][0]["report"].clone()).unwrap();
        report.measures[0].place_days_used = Cell::Count(450);
        let month = report.month;
        Dashboard {
            federation: "ne-cii".into(),
            dashboard: "ne.cii".parse().unwrap(),
            threshold: 5,
            generated_at: 1_796_000_000,
            measures: vec![
                DashboardMeasure {
                    id: "atelier-bois".parse().unwrap(),
                    name: "Atelier <b>bois</b> & \"co\"".into(),
                    provider: "Caritas".into(),
                },
                DashboardMeasure {
                    id: "stage-pratique".parse().unwrap(),
                    name: "Stage pratique".into(),
                    provider: "ORP".into(),
                },
            ],
            months: vec![DashboardMonth {
                month,
                reports: vec![ReceivedReport {
                    institution: "ne.orp".parse().unwrap(),
                    name: "Office régional de placement".into(),
                    sequence: 2,
                    received_at: 1_796_000_000,
                    digest: [1; 32],
                    report,
                }],
                missing: vec![ExpectedMember {
                    institution: "ne.sas".parse().unwrap(),
                    name: "Service <social>".into(),
                    sector: "social-aid".parse().unwrap(),
                }],
                overlap: None,
            }],
        }
    }
}
