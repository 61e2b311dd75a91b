//! The overlap round (spec/statistics.md §10) on real nodes: the example's three sectors send
//! their reports of November to the dashboard member ne.cii, which counts the persons followed
//! by several sectors by a private set intersection round. The published figures are those
//! the test computes from the example data by plain set intersection and the same
//! suppression; no node's files hold another node's person numbers, and the dashboard's none
//! at all. A tampered set message is refused and logged; a fourth attempt of a month is
//! refused, at the dashboard and at a sector. The dashboard page charts the overlap.

use cli::credential::Credential;
use protocol_spec::avs::Avs;
use protocol_spec::entry::{LogEntry, PsiDirection};
use protocol_spec::ids::InstitutionId;
use protocol_spec::keys::sha256;
use protocol_spec::peer::{PeerMessage, PeerReply};
use protocol_spec::records::{Person, RecordSet};
use protocol_spec::staff::{StaffReply, StaffRequest};
use protocol_spec::stats::psi::{BlindedSet, OverlapCounts, PsiRound, PsiSet, encode_person};
use protocol_spec::stats::{OverlapRounds, Placement, PlacementSet, RoundState};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use tests::*;

const MONTH: &str = "2026-11";

async fn overlap(cred: &Credential, month: &str, again: bool) -> anyhow::Result<OverlapRounds> {
    let req = StaffRequest::StatsOverlap {
        month: month.parse().unwrap(),
        again,
    };
    match call(cred, req).await? {
        StaffReply::Overlap(o) => Ok(*o),
        other => panic!("{other:?}"),
    }
}

/// A valid social insurance number from nine digits.
fn avs(n: u32) -> Avs {
    let mut first = [0u8; 12];
    let digits = format!("756{n:09}");
    for (d, c) in first.iter_mut().zip(digits.bytes()) {
        *d = c - b'0';
    }
    let check = protocol_spec::avs::check_digit(&first);
    format!("{digits}{check}").parse().unwrap()
}

/// The persons an example placements file has in a measure during November 2026.
fn followed_in_november(file: &str) -> BTreeSet<String> {
    let set =
        cli::records::read_placements(&cli::harness::examples_dir().unwrap().join(file)).unwrap();
    set.placements
        .iter()
        .filter(|p| {
            p.start.as_str() <= "2026-11-30" && p.end.as_deref().is_none_or(|e| e >= "2026-11-01")
        })
        .map(|p| p.avs.digits())
        .collect()
}

/// Persons and their November placements, imported at `node` by its administrator.
async fn follow(s: &Setup, node: &str, persons: &[Avs]) {
    let admin = &s.node(node).admin;
    let records = RecordSet {
        persons: persons
            .iter()
            .map(|a| Person {
                avs: a.clone(),
                name: "Personne Exemple".into(),
                birth_date: "1980-01-01".into(),
            })
            .collect(),
        fields: vec![],
    };
    call(admin, StaffRequest::ImportRecords(records))
        .await
        .unwrap();
    let placements = PlacementSet {
        placements: persons
            .iter()
            .map(|a| Placement {
                avs: a.clone(),
                measure: "formation-base".parse().unwrap(),
                start: "2026-11-02".into(),
                end: None,
                outcome: None,
            })
            .collect(),
    };
    call(admin, StaffRequest::ImportPlacements(placements))
        .await
        .unwrap();
}

/// Every 13-digit number of `numbers` found in any file under `dir`, as text.
fn numbers_in_files(dir: &Path, numbers: &BTreeSet<String>) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let bytes = std::fs::read(&p).unwrap();
            for n in numbers {
                if bytes.windows(13).any(|w| w == n.as_bytes()) {
                    found.push((p.display().to_string(), n.clone()));
                }
            }
        }
    }
    found
}

fn own_persons(node: &NodeHandle) -> BTreeSet<String> {
    let db = node_core::store::open(&node.dir.join("data/node.db")).unwrap();
    let mut st = db.prepare("SELECT avs FROM persons").unwrap();
    st.query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_published_overlap_is_the_true_count_and_no_node_learns_whom_another_follows() {
    let mut s = Setup::with_dashboard().await;
    let spec = ExampleSpec::load().unwrap();
    s.fed.import_placements(&spec).await.unwrap();

    // The example's sectors share one person in November; more overlap makes figures that
    // pass the threshold: twelve of ne.orp's persons also at ne.sas, seven of them also at
    // ne.oai, which follows seven persons of its own too.
    let orp_nov = followed_in_november("placements/ne.orp.csv");
    let sas_nov = followed_in_november("placements/ne.sas.csv");
    let shared: Vec<Avs> = orp_nov
        .difference(&sas_nov)
        .take(12)
        .map(|d| d.parse().unwrap())
        .collect();
    let oai_own: Vec<Avs> = (0..7).map(|i| avs(900_000_100 + i)).collect();
    follow(&s, "ne.sas", &shared).await;
    let mut oai_persons: Vec<Avs> = shared[..7].to_vec();
    oai_persons.extend(oai_own.iter().cloned());
    follow(&s, "ne.oai", &oai_persons).await;
    let truth: BTreeMap<&str, BTreeSet<String>> = [
        ("ne.orp", orp_nov.clone()),
        ("ne.oai", oai_persons.iter().map(|a| a.digits()).collect()),
        (
            "ne.sas",
            sas_nov
                .iter()
                .cloned()
                .chain(shared.iter().map(|a| a.digits()))
                .collect(),
        ),
    ]
    .into_iter()
    .collect();

    // The sectors send their reports; the dashboard starts the round.
    for n in ["ne.orp", "ne.oai", "ne.sas"] {
        let req = StaffRequest::StatsSend {
            month: MONTH.parse().unwrap(),
            correction: false,
        };
        match call(&s.node(n).admin, req).await.unwrap() {
            StaffReply::StatsSent(sent) => assert!(sent.delivered, "{sent:?}"),
            other => panic!("{other:?}"),
        }
    }
    let cii = s.coordinator("ne.cii", 78).await;
    let e = overlap(&s.coordinator("ne.orp", 79).await, MONTH, false)
        .await
        .unwrap_err();
    assert!(
        format!("{e:#}").contains("not the statistics dashboard"),
        "{e:#}"
    );
    let started = overlap(&cii, MONTH, false).await.unwrap();
    assert_eq!(started.started, Some(0));
    let ring: Vec<String> = started.rounds[0]
        .participants
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(ring, ["ne.orp", "ne.oai", "ne.sas"]);
    let mut done = None;
    for _ in 0..300 {
        let o = overlap(&cii, MONTH, false).await.unwrap();
        assert_eq!(o.started, None, "asking again starts nothing");
        if o.rounds[0].state != RoundState::Running {
            done = Some(o);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let done = done.expect("the round completes within a minute");
    let round = &done.rounds[0];
    assert_eq!(round.state, RoundState::Complete, "{round:?}");
    assert_eq!(round.problem, None);

    // The true count: plain intersection of the sets, padded sizes, the same suppression.
    let k = round.threshold;
    assert_eq!(k, 5);
    let sets: Vec<&BTreeSet<String>> = ring.iter().map(|p| &truth[p.as_str()]).collect();
    let mut holders: BTreeMap<&String, usize> = BTreeMap::new();
    for set in &sets {
        for p in set.iter() {
            *holders.entry(p).or_default() += 1;
        }
    }
    let several = holders.values().filter(|&&m| m >= 2).count() as u64;
    let by_count = (2..=3)
        .map(|m| holders.values().filter(|&&c| c == m).count() as u64)
        .collect();
    let pairs = [(0, 1), (0, 2), (1, 2)]
        .iter()
        .map(|&(a, b)| sets[a].intersection(sets[b]).count() as u64)
        .collect();
    let counts = OverlapCounts {
        sizes: sets
            .iter()
            .map(|s| (s.len() as u64).max(u64::from(k)))
            .collect(),
        several,
        by_count,
        pairs,
    };
    assert_eq!((counts.several, &counts.by_count), (13, &vec![6, 7]));
    let participants: Vec<InstitutionId> = ring.iter().map(|p| p.parse().unwrap()).collect();
    let expected = counts.publish(&participants, k);
    assert_eq!(round.overlap.as_ref(), Some(&expected));
    assert_eq!(
        expected.several,
        protocol_spec::stats::Cell::Count(13),
        "the figures pass the threshold: the comparison means something"
    );
    let sizes: Vec<u64> = round.sizes.iter().map(|s| s.size).collect();
    assert_eq!(sizes, counts.sizes);

    // Logs: the dashboard logged the round, three final sets and the outcome; each sector
    // its part (three messages sent, two received), the end, and the outcome's sizes match.
    let kinds = log_kinds(s.node("ne.cii"));
    for kind in ["psi-round", "psi-set", "psi-outcome"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    for n in ["ne.orp", "ne.oai", "ne.sas"] {
        assert!(
            eventually(30, || async {
                log_entries(s.node(n))
                    .iter()
                    .any(|e| matches!(e, LogEntry::PsiOutcome(o) if o.sizes.as_str() == "match"))
            })
            .await,
            "{n} received the outcome and its sizes match"
        );
        let entries = log_entries(s.node(n));
        let sent = entries
            .iter()
            .filter(|e| matches!(e, LogEntry::PsiSet(p) if p.direction == PsiDirection::Sent))
            .count();
        let received = entries
            .iter()
            .filter(|e| matches!(e, LogEntry::PsiSet(p) if p.direction == PsiDirection::Received))
            .count();
        assert_eq!((sent, received), (3, 2), "{n}");
        assert!(
            entries
                .iter()
                .any(|e| matches!(e, LogEntry::PsiEnd(p) if p.reason.as_str() == "complete")),
            "{n} wiped its secret"
        );
    }
    // Every digest a sender logged is the one its recipient logged.
    let digests = |n: &str, dir: PsiDirection| -> BTreeSet<(String, u64, [u8; 32])> {
        log_entries(s.node(n))
            .into_iter()
            .filter_map(|e| match e {
                LogEntry::PsiSet(p) if p.direction == dir => {
                    Some((p.origin.to_string(), p.hop, p.digest))
                }
                _ => None,
            })
            .collect()
    };
    let all = ["ne.orp", "ne.oai", "ne.sas", "ne.cii"];
    let sent: BTreeSet<_> = all
        .iter()
        .flat_map(|n| digests(n, PsiDirection::Sent))
        .collect();
    let received: BTreeSet<_> = all
        .iter()
        .flat_map(|n| digests(n, PsiDirection::Received))
        .collect();
    assert_eq!(sent.len(), 9);
    assert_eq!(sent, received);

    // No node holds another's person numbers, in its store (WAL included), log or any file;
    // the dashboard holds none at all, and no final set outlived the outcome.
    let everyone: BTreeSet<String> = truth.values().flatten().cloned().collect();
    for n in ["ne.orp", "ne.oai", "ne.sas", "ne.cii"] {
        let node = s.node(n);
        let own = own_persons(node);
        if n == "ne.cii" {
            assert!(own.is_empty(), "the dashboard holds no records");
        }
        let others: BTreeSet<String> = everyone.difference(&own).cloned().collect();
        assert!(!others.is_empty() || n != "ne.cii");
        let found = numbers_in_files(&node.dir.join("data"), &others);
        assert!(
            found.is_empty(),
            "{n} holds another node's persons: {found:?}"
        );
        // The scan does find numbers in these files: a sector's own are there.
        if n != "ne.cii" {
            assert!(!numbers_in_files(&node.dir.join("data"), &own).is_empty());
        }
    }
    let db = node_core::store::open(&s.node("ne.cii").dir.join("data/node.db")).unwrap();
    let held: i64 = db
        .query_row("SELECT COUNT(*) FROM psi_final_sets", [], |r| r.get(0))
        .unwrap();
    assert_eq!(held, 0, "the final sets are deleted with the outcome");

    // A completed month's round does not run again.
    let e = overlap(&cii, MONTH, true).await.unwrap_err();
    assert!(format!("{e:#}").contains("completed"), "{e:#}");

    // The dashboard shows the published overlap: text, CSV, JSON, and the page's chart.
    let d = match call(
        &cii,
        StaffRequest::StatsDashboard {
            months: 12,
            until: Some(MONTH.parse().unwrap()),
        },
    )
    .await
    .unwrap()
    {
        StaffReply::Dashboard(d) => *d,
        other => panic!("{other:?}"),
    };
    let november = d
        .months
        .iter()
        .find(|m| m.month.to_string() == MONTH)
        .unwrap();
    assert_eq!(
        november.overlap.as_ref().map(|o| &o.overlap),
        Some(&expected)
    );
    let out = s.dir.path().join("dashboard");
    cli::dashboard::write(&out, &d).unwrap();
    let csv = std::fs::read_to_string(out.join("dashboard-overlap.csv")).unwrap();
    assert!(csv.contains("2026-11,0,several,,,,13"), "{csv}");
    assert!(cli::dashboard::text(&d).contains("persons followed by 2 sectors or more"));
    let dom = chromium_dom(&out.join("dashboard.html"));
    assert!(dom.contains("Overlap between sectors, 2026-11"), "{dom}");
    assert!(dom.contains("ne.orp and ne.sas"), "{dom}");

    // October: ne.sas is down, so its sets are not on their way yet. A set message of
    // ne.sas's at hop 2, signed with the key of ne.orp (which computes that hop) but holding
    // the identity element, reaches ne.oai: refused, logged, nothing forwarded.
    s.fed.node_mut("ne.sas").stop().await;
    let october = overlap(&cii, "2026-10", false).await.unwrap();
    assert_eq!(october.started, Some(0));
    let id = october.rounds[0].round;
    let oai = s.node("ne.oai");
    assert!(
        eventually(30, || async {
            log_entries(oai)
                .iter()
                .any(|e| matches!(e, LogEntry::PsiRound(r) if r.round == id))
        })
        .await,
        "ne.oai took part"
    );
    let orp_key = s.node("ne.orp").signing_key().unwrap();
    let mut elements: Vec<[u8; 32]> = (0..5)
        .map(|i| {
            encode_person("elsewhere", "2026-10".parse().unwrap(), &avs(i))
                .compress()
                .to_bytes()
        })
        .collect();
    elements[2] = [0; 32];
    // The set of ne.sas at hop 2 is computed by ne.orp and goes to ne.oai (the ring is
    // ne.orp, ne.oai, ne.sas).
    let forged = PsiSet {
        round: id,
        origin: "ne.sas".parse().unwrap(),
        hop: 2,
        sender: "ne.orp".parse().unwrap(),
        set: BlindedSet { elements },
    }
    .sign(&orp_key);
    let conn = s.raw_peer(&orp_key, "ne.oai").await.unwrap();
    // A set message larger than a frame travels as a sequence of frames and is judged: this
    // one names no round ne.oai takes part in.
    let large = PsiSet {
        round: [7; 32],
        origin: "ne.sas".parse().unwrap(),
        hop: 2,
        sender: "ne.orp".parse().unwrap(),
        set: BlindedSet {
            elements: (0..40_000u32)
                .map(|i| sha256(&[&i.to_le_bytes()]))
                .collect(),
        },
    }
    .sign(&orp_key);
    assert!(
        postcard::to_stdvec(&large).unwrap().len() > protocol_spec::wire::MAX_FRAME_LEN,
        "spans frames"
    );
    let reply: PeerReply = daemon::transport::request(&conn, &PeerMessage::PsiSet(Box::new(large)))
        .await
        .unwrap();
    assert_eq!(
        reply,
        PeerReply::Rejected {
            reason: "the message belongs to another round".into()
        }
    );
    let reply: PeerReply =
        daemon::transport::request(&conn, &PeerMessage::PsiSet(Box::new(forged)))
            .await
            .unwrap();
    match &reply {
        PeerReply::Rejected { reason } => {
            assert_eq!(reason, "element 2 is the identity element")
        }
        other => panic!("a tampered set was not refused: {other:?}"),
    }
    assert!(log_entries(oai).iter().any(|e| matches!(
        e,
        LogEntry::PsiRefused(r) if r.round == id && r.reason.as_str() == "element 2 is the identity element"
    )));

    // A start the dashboard member never made (a second round under attempt 0 of October)
    // is refused by a sector that recorded attempt 0 already.
    let cii_key = s.node("ne.cii").signing_key().unwrap();
    let StaffReply::Status(status) = call(&s.node("ne.orp").admin, StaffRequest::Status)
        .await
        .unwrap()
    else {
        panic!("status")
    };
    let again = PsiRound {
        federation: "ne-cii".into(),
        month: "2026-10".parse().unwrap(),
        roster_version: status.roster_version,
        attempt: 0,
        dashboard: "ne.cii".parse().unwrap(),
        participants: participants.clone(),
        threshold: k,
        expires_at: now() + 3 * DAY,
    }
    .sign(&cii_key);
    let conn = s.raw_peer(&cii_key, "ne.orp").await.unwrap();
    let reply: PeerReply =
        daemon::transport::request(&conn, &PeerMessage::PsiStart(Box::new(again)))
            .await
            .unwrap();
    assert_eq!(
        reply,
        PeerReply::Rejected {
            reason: "the rounds of 2026-10 are used up".into()
        }
    );

    // The dashboard's next attempts, then a fourth one refused.
    for attempt in 1..=2u8 {
        let o = overlap(&cii, "2026-10", true).await.unwrap();
        assert_eq!(o.started, Some(attempt));
        assert_eq!(
            o.rounds[usize::from(attempt) - 1].state,
            RoundState::Abandoned
        );
    }
    let e = overlap(&cii, "2026-10", true).await.unwrap_err();
    assert!(format!("{e:#}").contains("used up"), "{e:#}");
    s.stop().await;
}
