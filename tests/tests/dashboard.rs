//! Signed delivery of the monthly reports and the coordination dashboard (spec/statistics.md
//! §8, §9) on real nodes: the three sectors of the example send November's report to the
//! dashboard member ne.cii; a sector offline at the deadline is shown missing, and its report,
//! queued while the dashboard was down in turn, arrives once both are up; a correction takes
//! the original's place; a tampered report is rejected and nothing of it kept; both sides log
//! the same digest. The dashboard's HTML is then rendered by a real headless browser.

use cli::credential::Credential;
use protocol_spec::entry::LogEntry;
use protocol_spec::peer::{PeerMessage, PeerReply};
use protocol_spec::staff::{StaffReply, StaffRequest, StatsSent};
use protocol_spec::stats::Dashboard;
use protocol_spec::stats::report::Cell;
use std::path::{Path, PathBuf};
use tests::*;

const MONTH: &str = "2026-11";

async fn send(cred: &Credential, correction: bool) -> anyhow::Result<StatsSent> {
    let month = MONTH.parse().unwrap();
    match call(cred, StaffRequest::StatsSend { month, correction }).await? {
        StaffReply::StatsSent(s) => Ok(s),
        other => panic!("{other:?}"),
    }
}

async fn dashboard(cred: &Credential) -> Dashboard {
    let req = StaffRequest::StatsDashboard {
        months: 12,
        until: Some(MONTH.parse().unwrap()),
    };
    match call(cred, req).await.unwrap() {
        StaffReply::Dashboard(d) => *d,
        other => panic!("{other:?}"),
    }
}

fn november(d: &Dashboard) -> &protocol_spec::stats::dashboard::DashboardMonth {
    d.months
        .iter()
        .find(|m| m.month.to_string() == MONTH)
        .expect("November in the window")
}

fn missing(d: &Dashboard) -> Vec<String> {
    november(d)
        .missing
        .iter()
        .map(|m| m.institution.to_string())
        .collect()
}

/// Where test artefacts are kept: `$CARGO_TARGET_DIR/test-artefacts`, else
/// `target/test-artefacts` at the workspace root.
fn artefacts() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("test-artefacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_sectors_report_to_the_dashboard_which_shows_who_is_missing() {
    let mut s = Setup::with_dashboard().await;
    let spec = ExampleSpec::load().unwrap();
    s.fed.import_placements(&spec).await.unwrap();
    let cii = s.coordinator("ne.cii", 78).await;
    let orp = s.coordinator("ne.orp", 78).await;

    // Nothing received yet: the three sectors are missing, never the dashboard itself.
    let d = dashboard(&cii).await;
    assert_eq!(d.months.len(), 12);
    assert_eq!(missing(&d), ["ne.orp", "ne.oai", "ne.sas"]);

    // ne.sas is offline at the deadline; the two others send.
    s.fed.node_mut("ne.sas").stop().await;
    let sent = send(&orp, false).await.unwrap();
    assert!(sent.delivered, "{sent:?}");
    assert_eq!((sent.sequence, sent.dashboard.as_str()), (1, "ne.cii"));
    let oai = send(&s.node("ne.oai").admin, false).await.unwrap();
    assert!(oai.delivered);
    let d = dashboard(&cii).await;
    assert_eq!(missing(&d), ["ne.sas"]);
    let got: Vec<&str> = november(&d)
        .reports
        .iter()
        .map(|r| r.institution.as_str())
        .collect();
    assert_eq!(got, ["ne.oai", "ne.orp"]);
    // The figures are the sector's own report, as `stats report` computes it.
    let orp_report = &november(&d).reports[1];
    assert_eq!(orp_report.digest, sent.digest);
    let atelier = &orp_report.report.measures[0];
    assert_eq!(atelier.measure.as_str(), "atelier-bois");
    assert!(matches!(atelier.participants, Cell::Count(n) if n >= 5));

    // Sending the month again needs --correction; a correction of a month never sent is refused.
    let e = send(&orp, false).await.unwrap_err();
    assert!(format!("{e:#}").contains("--correction"), "{e:#}");
    let e = send(&s.node("ne.orp").worker, false).await.unwrap_err();
    assert!(format!("{e:#}").contains("coordinator role"), "{e:#}");

    // Now the dashboard is down when ne.sas comes back and sends: its report waits in the
    // outbox, shown by `passerelle queue`, and arrives once the dashboard is up again.
    s.fed.node_mut("ne.cii").stop().await;
    s.fed.node_mut("ne.sas").start().await.unwrap();
    let sas = &s.node("ne.sas").admin;
    let e = send(sas, true).await.unwrap_err();
    assert!(format!("{e:#}").contains("never sent"), "{e:#}");
    let queued = send(sas, false).await.unwrap();
    assert!(!queued.delivered, "the dashboard is down: {queued:?}");
    let StaffReply::Queue(items) = call(sas, StaffRequest::Queue).await.unwrap() else {
        panic!("queue")
    };
    assert!(
        items.iter().any(|i| i.kind == "stats-report"
            && i.subject.as_deref() == Some(MONTH)
            && i.recipient.as_str() == "ne.cii"),
        "{items:?}"
    );
    s.fed.node_mut("ne.cii").start().await.unwrap();
    assert!(
        eventually(120, || async { outbox_len(s.node("ne.sas")).await == 0 }).await,
        "the queued report reaches the dashboard"
    );
    let d = dashboard(&cii).await;
    assert!(missing(&d).is_empty(), "{:?}", missing(&d));
    assert_eq!(november(&d).reports.len(), 3);

    // A correction replaces ne.orp's figures on the dashboard.
    let corrected = send(&orp, true).await.unwrap();
    assert!(corrected.delivered);
    assert_eq!(corrected.sequence, 2);
    let d = dashboard(&cii).await;
    let shown = november(&d)
        .reports
        .iter()
        .find(|r| r.institution.as_str() == "ne.orp")
        .unwrap();
    assert_eq!((shown.sequence, shown.digest), (2, corrected.digest));

    // A tampered report, sent over a real connection with ne.orp's own key as a new
    // correction: rejected, and the dashboard keeps showing delivery 2.
    let key = s.node("ne.orp").signing_key().unwrap();
    let mut forged = protocol_spec::stats::SignedStatsReport::sign(shown.report.clone(), 3, &key);
    forged.report.measures[0].participants = Cell::Count(999);
    let conn = s.raw_peer(&key, "ne.cii").await.unwrap();
    let reply: PeerReply =
        daemon::transport::request(&conn, &PeerMessage::StatsReport(Box::new(forged)))
            .await
            .unwrap();
    match reply {
        PeerReply::Rejected { reason } => {
            assert!(reason.contains("signature does not verify"), "{reason}")
        }
        other => panic!("a tampered report was not rejected: {other:?}"),
    }
    // Properly signed by ne.orp but claiming to be ne.sas's: rejected too.
    let mut posing = shown.report.clone();
    posing.institution = "ne.sas".parse().unwrap();
    posing.sector = "social-aid".parse().unwrap();
    let posing = protocol_spec::stats::SignedStatsReport::sign(posing, 5, &key);
    let reply: PeerReply =
        daemon::transport::request(&conn, &PeerMessage::StatsReport(Box::new(posing)))
            .await
            .unwrap();
    assert!(
        matches!(&reply, PeerReply::Rejected { reason } if reason.contains("sent by ne.orp")),
        "{reply:?}"
    );
    let after = dashboard(&cii).await;
    let shown_after = november(&after)
        .reports
        .iter()
        .find(|r| r.institution.as_str() == "ne.orp")
        .unwrap();
    assert_eq!(shown_after.sequence, 2);
    assert_eq!(
        shown_after.report.measures[0].participants,
        atelier.participants
    );

    // A retry of a delivery the dashboard holds is accepted again and kept once.
    let db = node_core::store::open(&s.node("ne.orp").dir.join("data/node.db")).unwrap();
    let first: Vec<u8> = db
        .query_row(
            "SELECT signed FROM stats_sent WHERE month = ?1 AND sequence = 1",
            [MONTH],
            |r| r.get(0),
        )
        .unwrap();
    let first: protocol_spec::stats::SignedStatsReport = postcard::from_bytes(&first).unwrap();
    let retry = PeerMessage::StatsReport(Box::new(first));
    let reply: PeerReply = daemon::transport::request(&conn, &retry).await.unwrap();
    assert_eq!(reply, PeerReply::Accepted);
    // Deliveries arriving out of order: 5, then 4. Both are kept; 5 stays the one shown.
    let report = shown_after.report.clone();
    for sequence in [5, 4] {
        let signed = protocol_spec::stats::SignedStatsReport::sign(report.clone(), sequence, &key);
        let reply: PeerReply =
            daemon::transport::request(&conn, &PeerMessage::StatsReport(Box::new(signed)))
                .await
                .unwrap();
        assert_eq!(reply, PeerReply::Accepted);
    }
    let d = dashboard(&cii).await;
    let latest = november(&d)
        .reports
        .iter()
        .find(|r| r.institution.as_str() == "ne.orp")
        .unwrap();
    assert_eq!(latest.sequence, 5);

    // Both sides logged every delivery by the same digest, and nothing of the forgeries.
    let sent_digests: Vec<[u8; 32]> = log_entries(s.node("ne.orp"))
        .into_iter()
        .filter_map(|e| match e {
            LogEntry::StatsSent(e) => Some(e.digest),
            _ => None,
        })
        .collect();
    assert_eq!(sent_digests, [sent.digest, corrected.digest]);
    let received: Vec<(String, u64, [u8; 32])> = log_entries(s.node("ne.cii"))
        .into_iter()
        .filter_map(|e| match e {
            LogEntry::StatsReceived(e) => Some((e.institution.to_string(), e.sequence, e.digest)),
            _ => None,
        })
        .collect();
    // ne.oai, ne.sas, and ne.orp's 1, 2, 5 and 4: the retry is not logged again.
    assert_eq!(received.len(), 6, "{received:?}");
    assert!(received.contains(&("ne.orp".into(), 1, sent.digest)));
    assert!(received.contains(&("ne.orp".into(), 2, corrected.digest)));
    assert!(received.contains(&("ne.sas".into(), 1, queued.digest)));

    // The files: a private directory, private files.
    let out = s.dir.path().join("dashboard");
    let files = cli::dashboard::write(&out, &after).unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&out), 0o700);
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    let csv = std::fs::read_to_string(out.join("dashboard.csv")).unwrap();
    assert!(
        csv.contains("2026-11,ne.orp,employment,correction,2,atelier-bois,20,"),
        "{csv}"
    );
    let json: Dashboard =
        serde_json::from_str(&std::fs::read_to_string(out.join("dashboard.json")).unwrap())
            .unwrap();
    assert_eq!(json, after);

    browser_renders(&out.join("dashboard.html"), &after);
    s.stop().await;
}

/// Renders the dashboard in Debian's chromium, headless: the DOM holds the figures, and a
/// screenshot is kept as a test artefact.
fn browser_renders(html: &Path, d: &Dashboard) {
    let page = std::fs::read_to_string(html).unwrap();
    assert!(!page.contains("http://") && !page.contains("https://") && !page.contains("<script"));
    let dom = tests::chromium_dom(html);
    assert!(dom.contains("Coordination dashboard: ne-cii"), "{dom}");
    // The example's figures: ne.orp's places used of its 20 in the woodwork workshop, and the
    // month's entries as the sectors reported them.
    let mo = november(d);
    let orp = mo
        .reports
        .iter()
        .find(|r| r.institution.as_str() == "ne.orp")
        .unwrap();
    let atelier = &orp.report.measures[0];
    let used = cli::dashboard_figures::places_used(atelier, mo.month).expect("shown");
    let label = format!("{used:.1} of 20 places");
    assert!(dom.contains(&label), "no `{label}` in the rendered page");
    assert!(dom.contains("<svg"), "charts are inline SVG");
    assert!(dom.contains("Atelier bois (Caritas Neuchâtel)"));
    let shot = artefacts().join("dashboard.png");
    let _ = std::fs::remove_file(&shot);
    tests::chromium_on(
        html,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,2000".to_string(),
        ],
    );
    let png = std::fs::read(&shot).expect("the screenshot was written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{}",
        png.len()
    );
}
