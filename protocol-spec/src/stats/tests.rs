//! The report end to end over exact counts: suppression that cannot be undone from the totals,
//! noise and the monthly budget.

use super::config::*;
use super::report::*;
use super::suppress::{Mark, suppress};
use crate::category::Category;
use crate::seal::SeededRng;
use proptest::prelude::*;

fn config(privacy: Option<PrivacyBudget>) -> StatisticsConfig {
    let measure = |id: &str, places: u32| Measure {
        id: id.parse().unwrap(),
        name: format!("Measure {id}"),
        provider: "Caritas Neuchâtel".into(),
        places: vec![SectorPlaces {
            sector: "employment".parse().unwrap(),
            places,
        }],
        cost_per_place_month: 150_000,
    };
    StatisticsConfig {
        threshold: 5,
        measures: vec![measure("atelier-bois", 40), measure("coaching", 4)],
        grid_fields: vec![GridField {
            category: Category::Employment,
            field: "mobility".into(),
            values: vec!["none".into(), "licence".into(), "car".into()],
        }],
        privacy,
        dashboard: None,
    }
}

fn header() -> ReportHeader {
    ReportHeader {
        federation: "ne-cii".into(),
        institution: "ne.orp".parse().unwrap(),
        sector: "employment".parse().unwrap(),
        month: "2026-11".parse().unwrap(),
        roster_version: 3,
        computed_at: 1_795_000_000,
    }
}

fn counts() -> MonthCounts {
    MonthCounts {
        measures: vec![
            MeasureCounts {
                participants: 38,
                entries: 9,
                exits: [6, 2, 0, 3, 1],
                place_days: 1090,
            },
            MeasureCounts {
                participants: 3,
                entries: 1,
                exits: [1, 0, 0, 0, 0],
                place_days: 80,
            },
        ],
        persons_followed: 52,
        persons_in_cases: 12,
        granted: 7,
        refused: vec![0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        profiles: vec![ProfileCounts {
            values: vec![20, 3, 25],
            not_recorded: 4,
        }],
    }
}

#[test]
fn small_counts_are_suppressed_and_cannot_be_recomputed() {
    let r = build_report(
        header(),
        &config(None),
        &counts(),
        None,
        &mut SeededRng::new([1; 32]),
    );
    let coaching = &r.measures[1];
    // 3 participants, under k = 5: shown as <5, and the place-days it would reveal too.
    assert_eq!(coaching.participants, Cell::Small);
    assert_eq!(coaching.participants.render(5), "<5");
    assert_eq!(coaching.place_days_used, Cell::Small);
    assert_eq!(coaching.cost_used, Cell::Small);
    // The column total would give 41 − 38 = 3: the large measure's figure is withheld too.
    assert_eq!(r.all_measures.participants, Cell::Count(41));
    assert_eq!(r.measures[0].participants, Cell::Withheld);
    // Exits: the small measure's one exit to employment is under k; the employment column
    // total (7) minus the large measure's 6 would give it, so the 6 is withheld.
    assert_eq!(r.measures[1].exits[0].1, Cell::Small);
    assert_eq!(r.measures[0].exits[0].1, Cell::Withheld);
    assert_eq!(r.measures[0].exits[1].1, Cell::Small);
    assert_eq!(r.measures[0].exits[2].1, Cell::Count(0));
    // Profiles: 3 with a licence; another value of the row is withheld.
    let p = &r.profiles[0];
    assert_eq!(p.values[1].1, Cell::Small);
    assert!(
        p.values.iter().filter(|v| v.1 == Cell::Withheld).count()
            + usize::from(p.not_recorded == Cell::Small)
            >= 1
    );
    // Budgets are the roster's, never hidden.
    assert_eq!(coaching.places_budgeted, 4);
    assert_eq!(coaching.place_days_budgeted, 120);
    assert_eq!(coaching.cost_budgeted, 600_000);
    assert_eq!(r.measures[0].cost_budgeted, 6_000_000);
    assert_eq!(r.activity.refused[2].1, Cell::Small);
    assert!(r.privacy.is_none());
}

#[test]
fn place_days_give_the_cost_of_places_used() {
    let mut c = counts();
    c.measures[1].participants = 6;
    let r = build_report(
        header(),
        &config(None),
        &c,
        None,
        &mut SeededRng::new([1; 32]),
    );
    // 1090 place-days of 30 at CHF 1500 a place-month: CHF 54 500.
    assert_eq!(r.measures[0].place_days_used, Cell::Count(1090));
    assert_eq!(r.measures[0].cost_used, Cell::Count(5_450_000));
}

#[test]
fn the_budget_is_spent_release_by_release_and_then_refused() {
    let cfg = config(Some(PrivacyBudget {
        epsilon_per_release_milli: 500,
        epsilon_per_month_milli: 1000,
    }));
    let month = "2026-11".parse().unwrap();
    let first = next_release(&cfg, month, 0).unwrap().unwrap();
    assert_eq!(first.spent_milli, 500);
    assert_eq!(first.contributions, 4 * 2 + 3 + 1);
    let second = next_release(&cfg, month, first.spent_milli)
        .unwrap()
        .unwrap();
    assert_eq!(second.spent_milli, 1000);
    let refused = next_release(&cfg, month, second.spent_milli).unwrap_err();
    assert_eq!(refused.spent, 1000);
    assert!(
        refused
            .to_string()
            .contains("privacy budget of 2026-11 is spent")
    );
    // Without a budget, releases are exact and unlimited.
    assert_eq!(next_release(&config(None), month, 1_000_000), Ok(None));
}

#[test]
fn noisy_reports_differ_from_release_to_release_and_stay_consistent() {
    let cfg = config(Some(PrivacyBudget {
        epsilon_per_release_milli: 1000,
        epsilon_per_month_milli: 3000,
    }));
    let mut c = counts();
    for m in &mut c.measures {
        m.participants += 400;
    }
    let month = "2026-11".parse().unwrap();
    let p = next_release(&cfg, month, 0).unwrap();
    let mut rng = SeededRng::new([9; 32]);
    let a = build_report(header(), &cfg, &c, p, &mut rng);
    let b = build_report(header(), &cfg, &c, p, &mut rng);
    assert_ne!(a, b, "fresh noise per release");
    assert_eq!(a.privacy, p);
    // Totals are sums of the published noisy figures.
    let (Cell::Count(x), Cell::Count(y), Cell::Count(t)) = (
        a.measures[0].participants,
        a.measures[1].participants,
        a.all_measures.participants,
    ) else {
        panic!("large counts are shown");
    };
    assert_eq!(x + y, t);
    // With scale G/ε = 12, 400-odd participants stay within a few scales of the truth.
    assert!((x as i64 - 438).abs() < 150, "{x}");
}

#[test]
fn the_configuration_is_checked() {
    let mut c = config(None);
    assert!(c.check().is_ok());
    c.threshold = 1;
    assert!(c.check().is_err());
    let mut c = config(None);
    c.measures.push(c.measures[0].clone());
    assert!(c.check().unwrap_err().contains("listed twice"));
    let mut c = config(None);
    c.grid_fields[0].values.push("car".into());
    assert!(c.check().is_err());
    let mut c = config(None);
    c.privacy = Some(PrivacyBudget {
        epsilon_per_release_milli: 2000,
        epsilon_per_month_milli: 1000,
    });
    assert!(c.check().is_err());
}

#[test]
fn the_report_encoding_starts_with_its_context() {
    let r = build_report(
        header(),
        &config(None),
        &counts(),
        None,
        &mut SeededRng::new([1; 32]),
    );
    let input = r.signing_input();
    assert!(input.starts_with(b"passerelle/v1 stats-report\n"));
    let back: StatsReport = postcard::from_bytes(&input[STATS_REPORT_CONTEXT.len()..]).unwrap();
    assert_eq!(back, r);
    let json: StatsReport = serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
    assert_eq!(json, r);
}

proptest! {
    /// Whatever the table, after suppression no suppressed cell of a table with row totals,
    /// column totals and a grand total can be recomputed from the published figures: checked
    /// by exact rational elimination, independent of the suppression's own arithmetic.
    #[test]
    fn no_suppressed_cell_is_recomputable(
        rows in 1usize..5,
        cols in 1usize..5,
        cells in proptest::collection::vec(prop_oneof![0u64..3, 0u64..12, 0u64..60], 16),
        k in 2u32..8,
    ) {
        let table: Vec<Vec<u64>> = (0..rows).map(|i| cells[i * 4..i * 4 + cols].to_vec()).collect();
        let values = super::suppress::tests::grid_values(&table);
        let rels = super::suppress::tests::grid_relations(rows, cols);
        let marks = suppress(&values, &vec![false; values.len()], &rels, k);
        let hidden: Vec<bool> = marks.iter().map(|m| *m != Mark::Shown).collect();
        for i in 0..values.len() {
            // Every count under the threshold is suppressed, and shown otherwise unless withheld.
            if values[i] > 0 && values[i] < u64::from(k) {
                prop_assert_eq!(marks[i], Mark::Small);
            } else {
                prop_assert_ne!(marks[i], Mark::Small);
            }
            if hidden[i] {
                prop_assert!(
                    !super::suppress::tests::determined_exactly(values.len(), &rels, &hidden, i),
                    "cell {} of {:?} recomputable: {:?}", i, table, marks
                );
            }
        }
    }
}

/// A roster of ne.orp (employment, signing key seed 10) and a dashboard member ne.cii.
fn delivery_roster() -> crate::roster::Roster {
    use crate::keys::SigningKey;
    let a = SigningKey::from_seed([1; 32]);
    let mut r = crate::roster::tests::sample(&[&a], 1);
    let mut cii = r.members[0].clone();
    cii.id = "ne.cii".parse().unwrap();
    cii.name = "Coordination CII".into();
    cii.sector = "coordination".parse().unwrap();
    cii.address = "127.0.0.1:7109".into();
    cii.signing_key = SigningKey::from_seed([40; 32]).public();
    cii.encryption_key = crate::keys::PublicKey([41; 32]);
    cii.log_key = crate::keys::PublicKey([42; 32]);
    cii.witness_key = crate::keys::PublicKey([43; 32]);
    r.members.push(cii);
    let mut stats = config(None);
    stats.dashboard = Some("ne.cii".parse().unwrap());
    r.statistics = Some(Box::new(stats));
    r
}

fn delivered(sequence: u32) -> super::SignedStatsReport {
    let r = build_report(
        header(),
        &config(None),
        &counts(),
        None,
        &mut SeededRng::new([1; 32]),
    );
    super::SignedStatsReport::sign(r, sequence, &crate::keys::SigningKey::from_seed([10; 32]))
}

#[test]
fn a_delivery_verifies_only_from_its_member_to_the_dashboard_unaltered() {
    use super::delivery::verify_delivery;
    let roster = delivery_roster();
    roster.check_well_formed().unwrap();
    let (orp, cii) = (
        "ne.orp".parse().unwrap(),
        "ne.cii".parse::<crate::ids::InstitutionId>().unwrap(),
    );
    let signed = delivered(1);
    assert_eq!(verify_delivery(&roster, &cii, &orp, &signed), Ok(()));
    // A changed figure breaks the signature.
    let mut tampered = signed.clone();
    tampered.report.measures[0].entries = Cell::Count(10);
    let e = verify_delivery(&roster, &cii, &orp, &tampered).unwrap_err();
    assert!(e.contains("signature does not verify"), "{e}");
    // So does a relabelled sequence: a correction cannot be passed off as the original.
    let mut relabelled = delivered(2);
    relabelled.sequence = 1;
    assert!(verify_delivery(&roster, &cii, &orp, &relabelled).is_err());
    // Only the dashboard member keeps reports, and only from the member the report names.
    let e = verify_delivery(&roster, &orp, &orp, &signed).unwrap_err();
    assert!(
        e.contains("not the federation's statistics dashboard"),
        "{e}"
    );
    let e = verify_delivery(&roster, &cii, &cii, &signed).unwrap_err();
    assert!(e.contains("sent by ne.cii"), "{e}");
    // The threshold the report was suppressed under must be the roster's.
    let mut stricter = roster.clone();
    stricter.statistics.as_mut().unwrap().threshold = 10;
    let e = verify_delivery(&stricter, &cii, &orp, &signed).unwrap_err();
    assert!(e.contains("threshold 5"), "{e}");
    // The digest names the delivery, sequence included.
    assert_ne!(delivered(1).digest(), delivered(2).digest());
    assert!(delivered(2).is_correction());
}

#[test]
fn the_dashboard_must_be_a_member_of_the_roster() {
    let mut roster = delivery_roster();
    roster.statistics.as_mut().unwrap().dashboard = Some("ne.nobody".parse().unwrap());
    let e = roster.check_well_formed().unwrap_err().to_string();
    assert!(e.contains("dashboard ne.nobody is not a member"), "{e}");
}
