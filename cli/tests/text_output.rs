//! Text output as a case worker reads it: consent periods are dates, never raw seconds, and
//! lists are tables whose columns line up whatever the width of each value.

mod common;
use common::run;
use std::path::Path;

/// Asserts that every line after the header starts each column where the header does,
/// counting characters (every character here is one column wide, `é` included).
fn assert_aligned(table: &str) {
    let mut lines = table.lines().map(|l| l.chars().collect::<Vec<char>>());
    let header = lines.next().expect("a header line");
    let starts: Vec<usize> = (2..header.len())
        .filter(|&i| header[i] != ' ' && header[i - 1] == ' ' && header[i - 2] == ' ')
        .collect();
    assert!(!starts.is_empty(), "not a table:\n{table}");
    let mut rows = 0;
    for line in lines.take_while(|l| !l.is_empty()) {
        rows += 1;
        for &s in &starts {
            assert!(
                line.len() > s && line[s - 1] == ' ' && line[s] != ' ',
                "column at {s} not aligned in:\n{table}"
            );
        }
    }
    assert!(rows > 0, "no rows:\n{table}");
}

/// The part of `text` from the line starting with `header` on.
fn from<'a>(text: &'a str, header: &str) -> &'a str {
    let at = text
        .find(&format!("\n{header}"))
        .map(|i| i + 1)
        .or_else(|| text.starts_with(header).then_some(0))
        .unwrap_or_else(|| panic!("no `{header}` table in:\n{text}"));
    &text[at..]
}

fn no_raw_times(text: &str) {
    // Whole words of ten digits: a run of digits inside a hex id is not a time.
    let digits = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| w.len() == 10 && w.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(digits.count(), 0, "unix seconds shown:\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periods_are_dates_and_tables_align() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (spec, mut fed) = common::example_federation(d).await;
    fed.import_records(&spec).await.unwrap();
    fed.node("ne.oai").worker.save(&d.join("oai.cred")).unwrap();
    fed.node("ne.orp").worker.save(&d.join("orp.cred")).unwrap();
    let person = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/records/demo-person.txt"),
    )
    .unwrap();
    let oai = |args: &[&str]| {
        let mut all = vec!["--credential", "oai.cred"];
        all.extend(args);
        let r = run(d, &all);
        assert_eq!(r.code, 0, "{args:?}: {r:?}");
        r.stdout
    };
    let open = || {
        let r = run(
            d,
            &[
                "--json",
                "--credential",
                "oai.cred",
                "case",
                "open",
                "--person",
                person.trim(),
                "--invite",
                "ne.orp",
            ],
        );
        r.json()["case-opened"]["case_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (case, closed) = (open(), open());
    oai(&["case", "close", "--case", &closed]);
    let r = run(
        d,
        &[
            "--credential",
            "orp.cred",
            "case",
            "accept",
            "--case",
            &case,
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let consent = |categories: &str, until: &str| {
        let r = run(
            d,
            &[
                "--json",
                "--credential",
                "oai.cred",
                "consent",
                "record",
                "--case",
                &case,
                "--participants",
                "ne.oai,ne.orp",
                "--purposes",
                "coordinated-assessment",
                "--categories",
                categories,
                "--from",
                "2020-01-01",
                "--until",
                until,
            ],
        );
        r.json()["consent-recorded"]["consent_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let revoked = consent("employment", "2030-06-30");
    consent("employment,measures", "2099-12-31");
    oai(&["consent", "revoke", "--case", &case, "--consent", &revoked]);
    let r = run(
        d,
        &[
            "--credential",
            "oai.cred",
            "summary",
            "request",
            "--case",
            &case,
            "--from",
            "ne.orp",
            "--purpose",
            "coordinated-assessment",
            "--categories",
            "employment,measures",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");

    let shown = oai(&["case", "show", "--case", &case]);
    no_raw_times(&shown);
    assert!(shown.contains("2020-01-01..2099-12-31"), "{shown}");
    assert!(shown.contains("2020-01-01..2030-06-30"), "{shown}");
    let today = cli::dates::format_day(daemon::clock::now());
    assert!(shown.contains(&format!("revoked {today}")), "{shown}");
    assert_aligned(from(&shown, "CONSENT"));
    assert_aligned(from(&shown, "INSTITUTION"));

    let list = oai(&["case", "list"]);
    assert!(
        list.contains(" open ") && list.contains(" closed "),
        "{list}"
    );
    assert_aligned(&list);
    let summaries = oai(&["summary", "list"]);
    no_raw_times(&summaries);
    assert_aligned(&summaries);

    let roster = fed.roster.to_string_lossy().into_owned();
    let r = run(d, &["federation", "show", "--roster", &roster]);
    assert_aligned(from(&r.stdout, "MEMBER"));
    assert_aligned(from(&r.stdout, "SECTOR"));

    audit_says_what_it_checked(d, &fed, person.trim()).await;
    fed.stop().await;
}

/// Changes the first roster signature in a bundle, keeping it well-formed.
fn alter_roster_signature(bundle: &Path) {
    let path = bundle.join("roster.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let at = text.find("signature = \"").expect("a signature") + "signature = \"".len();
    let old = &text[at..at + 1];
    let new = if old == "a" { "b" } else { "a" };
    std::fs::write(&path, format!("{}{new}{}", &text[..at], &text[at + 1..])).unwrap();
}

/// The auditor's commands on the logs of the exchanges above: what each checked, and under
/// what trust, in words; consent periods as dates.
async fn audit_says_what_it_checked(d: &Path, fed: &cli::harness::ExampleFederation, person: &str) {
    for (id, bundle) in [("ne.oai", "oai-1"), ("ne.orp", "orp-1")] {
        let cred = format!("{id}-auditor.cred");
        fed.node(id).auditor.save(&d.join(&cred)).unwrap();
        let r = run(
            d,
            &["--credential", &cred, "audit", "export", "--out", bundle],
        );
        assert_eq!(r.code, 0, "{r:?}");
    }
    // A bundle in a directory that does not exist: refused, and nothing is created.
    let r = run(
        d,
        &[
            "--credential",
            "ne.oai-auditor.cred",
            "audit",
            "export",
            "--out",
            "no-such-dir/oai-2",
        ],
    );
    assert_ne!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("no-such-dir does not exist"), "{r:?}");
    assert!(!d.join("no-such-dir").exists());
    let untrusted = "roster not checked against the federation's key";

    // Without the federation's anchor, the bundle's roster is taken on trust, and said so.
    let r = run(d, &["audit", "verify", "oai-1"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains(untrusted) && r.stdout.contains("--federation"),
        "{r:?}"
    );
    let r = run(
        d,
        &[
            "audit",
            "verify",
            "oai-1",
            "--federation",
            "fed/steering/federation.toml",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("roster signatures") && !r.stdout.contains(untrusted),
        "{r:?}"
    );
    // The consistency with a kept checkpoint is listed among what held.
    let r = run(
        d,
        &["audit", "verify", "oai-1", "--kept", "oai-1/checkpoint"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("consistency with the kept checkpoint"),
        "{r:?}"
    );

    // A roster whose signature was altered: only the federation's key tells.
    let bad = d.join("orp-altered");
    let r = run(
        d,
        &[
            "--credential",
            "ne.orp-auditor.cred",
            "audit",
            "export",
            "--out",
            "orp-altered",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    alter_roster_signature(&bad);
    let r = run(d, &["audit", "verify", "orp-altered"]);
    assert!(
        r.stdout.contains(untrusted) && !r.stdout.contains("roster signatures"),
        "{r:?}"
    );
    let r = run(
        d,
        &[
            "audit",
            "verify",
            "orp-altered",
            "--federation",
            "fed/steering/federation.toml",
        ],
    );
    assert_ne!(r.code, 0, "{r:?}");

    // A bundle directory that is not there is named as such.
    let r = run(d, &["audit", "verify", "sas-after"]);
    assert_ne!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains("sas-after") && r.stderr.contains("does not exist"),
        "{r:?}"
    );

    // A person's report and a reconciliation say under what trust the logs were verified,
    // and take the federation's anchor as verify does.
    let r = run(d, &["audit", "person", person, "oai-1", "orp-1"]);
    assert_eq!(r.code, 0, "{r:?}");
    no_raw_times(&r.stdout);
    assert!(r.stdout.contains("2020-01-01..2099-12-31"), "{r:?}");
    assert!(r.stdout.contains(untrusted), "{r:?}");
    let r = run(
        d,
        &[
            "audit",
            "person",
            person,
            "oai-1",
            "--federation",
            "fed/steering/federation.toml",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!r.stdout.contains(untrusted), "{r:?}");
    let r = run(
        d,
        &[
            "audit",
            "person",
            person,
            "orp-altered",
            "--federation",
            "fed/steering/federation.toml",
        ],
    );
    assert_ne!(r.code, 0, "{r:?}");
    let r = run(d, &["audit", "reconcile", "oai-1", "orp-1"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains(untrusted), "{r:?}");
    let r = run(
        d,
        &[
            "audit",
            "reconcile",
            "oai-1",
            "orp-1",
            "--federation",
            "fed/steering/federation.toml",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!r.stdout.contains(untrusted), "{r:?}");
}
