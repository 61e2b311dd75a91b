//! Monthly statistics on a real node (spec/statistics.md): placements imported all or nothing,
//! the month's report read by a coordinator, small counts suppressed so that the totals do not
//! give them back, a coordinator who reads nothing else, and a privacy budget that releases
//! exhaust.

use cli::credential::Credential;
use protocol_spec::staff::{StaffReply, StaffRequest};
use protocol_spec::stats::report::Cell;
use protocol_spec::stats::{Month, PrivacyBudget, StatsReport};
use std::collections::BTreeSet;
use tests::*;

const MONTH: &str = "2026-11";

async fn report(cred: &Credential) -> anyhow::Result<StatsReport> {
    let month: Month = MONTH.parse().unwrap();
    match call(cred, StaffRequest::StatsReport { month }).await? {
        StaffReply::Report(r) => Ok(*r),
        other => panic!("{other:?}"),
    }
}

/// The participants of each measure in November, counted from the example file directly.
fn participants_in_file() -> std::collections::BTreeMap<String, usize> {
    let dir = cli::harness::examples_dir().unwrap();
    let set = cli::records::read_placements(&dir.join("placements/ne.orp.csv")).unwrap();
    let mut persons: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
    for p in set.placements {
        let running = p.end.as_deref().is_none_or(|e| e >= "2026-11-01");
        if p.start.as_str() <= "2026-11-30" && running {
            persons
                .entry(p.measure.to_string())
                .or_default()
                .insert(p.avs.digits().to_string());
        }
    }
    persons.into_iter().map(|(m, s)| (m, s.len())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_reads_the_month_with_small_counts_suppressed() {
    let s = Setup::new().await;
    let spec = ExampleSpec::load().unwrap();
    let imported = s.fed.import_placements(&spec).await.unwrap();
    assert_eq!(imported[0].1, 78, "ne.orp's placements");
    let coord = s.coordinator("ne.orp", 77).await;
    let r = report(&coord).await.unwrap();
    assert_eq!(r.month.to_string(), MONTH);
    assert_eq!(r.sector.as_str(), "employment");
    assert_eq!(r.threshold, 5);
    assert!(r.privacy.is_none());

    // Large measures are counted exactly; the small ones show as <5.
    let truth = participants_in_file();
    let row = |id: &str| {
        r.measures
            .iter()
            .find(|m| m.measure.as_str() == id)
            .unwrap()
    };
    for id in ["atelier-bois", "coaching-emploi"] {
        assert_eq!(
            row(id).participants,
            Cell::Count(truth[id] as u64),
            "{id} participants"
        );
    }
    for id in ["stage-pratique", "formation-base"] {
        assert!(
            (1..5).contains(&truth[id]),
            "{id} is a small measure in the example"
        );
        assert_eq!(row(id).participants, Cell::Small, "{id}");
        assert_eq!(row(id).participants.render(5), "<5");
        assert_eq!(
            row(id).place_days_used,
            Cell::Small,
            "{id}: its days would count its persons"
        );
    }
    assert_eq!(row("stage-pratique").places_budgeted, 3);
    assert_eq!(row("stage-pratique").place_days_budgeted, 90);

    // The acceptance criterion: the total and the shown participants do not give a small cell
    // back. The total is shown, so more than the small cells are hidden in that column.
    let total = r.all_measures.participants;
    let hidden: Vec<&str> = r
        .measures
        .iter()
        .filter(|m| m.participants.count().is_none())
        .map(|m| m.measure.as_str())
        .collect();
    let Cell::Count(t) = total else {
        panic!("the total of all measures is large: {total:?}")
    };
    assert_eq!(t, truth.values().sum::<usize>() as u64);
    let shown: u64 = r
        .measures
        .iter()
        .filter_map(|m| m.participants.count())
        .sum();
    // What the total minus the shown figures leaves is the sum of at least two hidden cells.
    assert!(hidden.len() >= 2, "{hidden:?}");
    assert!(t - shown >= 2);
    // No person: no social insurance number or name of the example appears in the report.
    let text = serde_json::to_string(&r).unwrap();
    for needle in ["7569217076985", "756.9217", "Jean", "Exemple"] {
        assert!(!text.contains(needle), "{needle}");
    }
    // Profiles count the persons followed over the declared grid fields.
    let followed = r
        .activity
        .persons_followed
        .count()
        .expect("over 5 followed");
    assert!(followed >= truth["atelier-bois"] as u64);
    assert_eq!(r.profiles.len(), 2);
    assert_eq!(r.profiles[0].field, "mobility");

    // An administrator may read it too; a case worker may not, nor a coordinator cases.
    report(&s.node("ne.orp").admin).await.unwrap();
    let e = report(&s.node("ne.orp").worker).await.unwrap_err();
    assert!(format!("{e:#}").contains("coordinator role"), "{e:#}");
    let e = call(&coord, StaffRequest::CaseList).await.unwrap_err();
    assert!(format!("{e:#}").contains("case-worker role"), "{e:#}");
    // A month not begun is refused.
    let future: Month = "2099-01".parse().unwrap();
    let e = call(&coord, StaffRequest::StatsReport { month: future })
        .await
        .unwrap_err();
    assert!(format!("{e:#}").contains("has not begun"), "{e:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_placements_file_with_one_bad_row_imports_nothing() {
    let s = Setup::new().await;
    let admin = &s.node("ne.orp").admin;
    let dir = cli::harness::examples_dir().unwrap();
    let mut set = cli::records::read_placements(&dir.join("placements/ne.orp.csv")).unwrap();
    set.placements[5].measure = "atelier-metal".parse().unwrap();
    // A person ne.orp does not follow (known at ne.sas only).
    set.placements[9].avs = sas_only_person();
    let e = call(admin, StaffRequest::ImportPlacements(set))
        .await
        .unwrap_err();
    let msg = format!("{e:#}");
    assert!(msg.contains("nothing was imported"), "{msg}");
    assert!(
        msg.contains("placement 6: measure `atelier-metal` is not declared"),
        "{msg}"
    );
    assert!(
        msg.contains("placement 10: the person is not in this institution's records"),
        "{msg}"
    );
    assert!(
        !msg.contains(&sas_only_person().digits()),
        "no number echoed: {msg}"
    );
    // Nothing was written: the month has no participant.
    let r = report(admin).await.unwrap();
    assert_eq!(r.all_measures.participants, Cell::Count(0));

    // A grid field the statistics count takes one of its declared values, or the records
    // import is refused, naming the field and the allowed values but not the value given.
    let set = protocol_spec::records::RecordSet {
        persons: vec![],
        fields: vec![protocol_spec::records::RecordField {
            avs: shared_person(),
            category: protocol_spec::category::Category::Employment,
            field: "mobility".into(),
            value: "bicycle on Tuesdays".into(),
        }],
    };
    let e = call(admin, StaffRequest::ImportRecords(set))
        .await
        .unwrap_err();
    let msg = format!("{e:#}");
    assert!(
        msg.contains("field 1: the value of employment/mobility is not one of its declared values (none, public-transport, car)"),
        "{msg}"
    );
    assert!(!msg.contains("bicycle"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_privacy_budget_releases_exhaust_it_and_are_refused() {
    let s = Setup::new().await;
    let spec = ExampleSpec::load().unwrap();
    s.fed.import_placements(&spec).await.unwrap();
    let roster = s.fed.roster.clone();
    cli::federation::edit(&roster, now(), |r| {
        r.version += 1;
        r.statistics.as_mut().unwrap().privacy = Some(PrivacyBudget {
            epsilon_per_release_milli: 500,
            epsilon_per_month_milli: 1000,
        });
        Ok(())
    })
    .unwrap();
    for key in &s.fed.authority_keys[1..] {
        cli::federation::sign(&roster, key).unwrap();
    }
    let v2 = cli::federation::load_roster(&roster).unwrap();
    call(&s.node("ne.orp").admin, StaffRequest::InstallRoster(v2))
        .await
        .unwrap();
    let coord = s.coordinator("ne.orp", 77).await;
    let first = report(&coord).await.unwrap();
    let p = first.privacy.expect("the release states its privacy");
    assert_eq!(
        (p.epsilon_milli, p.spent_milli, p.budget_milli),
        (500, 500, 1000)
    );
    assert_eq!(p.contributions, 4 * 4 + 3 + 2);
    let second = report(&coord).await.unwrap();
    assert_eq!(second.privacy.unwrap().spent_milli, 1000);
    assert_ne!(first.measures, second.measures, "fresh noise per release");
    let e = report(&coord).await.unwrap_err();
    let msg = format!("{e:#}");
    assert!(msg.contains("privacy budget of 2026-11 is spent"), "{msg}");
    // The budget is the month's: October still has its own.
    let october: Month = "2026-10".parse().unwrap();
    let r = call(&coord, StaffRequest::StatsReport { month: october })
        .await
        .unwrap();
    assert!(matches!(r, StaffReply::Report(_)));
}
