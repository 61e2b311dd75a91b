//! Text output as a case worker reads it: consent periods are dates, never raw seconds, and
//! lists are tables whose columns line up whatever the width of each value.

mod common;
use cli::harness::{ExampleFederation, ExampleSpec};
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
    let spec = ExampleSpec::load().unwrap();
    let mut fed = ExampleFederation::create(&d.join("fed"), &spec)
        .await
        .unwrap();
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
    fed.stop().await;
}
