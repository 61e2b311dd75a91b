//! The README's path, typed as a user would: the real `passerelle` binary for every command,
//! nodes started from the configs it wrote.

use std::path::{Path, PathBuf};
use std::process::Command;

fn passerelle(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run passerelle");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let (success, text) = passerelle(dir, args);
    assert!(success, "passerelle {args:?} failed:\n{text}");
    text
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/records")
}

fn port() -> String {
    cli::harness::free_port().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_commands_work_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(
        d,
        &["federation", "init", "--name", "ne-cii", "--dir", "fed"],
    );
    for (id, sector) in [("ne.orp", "employment"), ("ne.oai", "disability-insurance")] {
        ok(
            d,
            &[
                "node",
                "init",
                "--institution",
                id,
                "--name",
                id,
                "--sector",
                sector,
                "--listen",
                &port(),
                "--federation",
                "fed/federation.toml",
                "--dir",
                id,
            ],
        );
        ok(
            d,
            &[
                "federation",
                "add-member",
                "--roster",
                "fed/roster.toml",
                &format!("{id}/member.toml"),
            ],
        );
    }
    ok(
        d,
        &[
            "federation",
            "witnesses",
            "--roster",
            "fed/roster.toml",
            "--institution",
            "ne.orp",
            "--witnesses",
            "ne.oai",
            "--quorum",
            "1",
        ],
    );
    ok(
        d,
        &[
            "federation",
            "allow",
            "--roster",
            "fed/roster.toml",
            "--sector",
            "disability-insurance",
            "--purpose",
            "coordinated-assessment",
            "--categories",
            "employment,measures",
        ],
    );
    ok(
        d,
        &[
            "federation",
            "sign",
            "--roster",
            "fed/roster.toml",
            "--key",
            "fed/authority-1.key",
        ],
    );
    // One signature is below the threshold: the node check says so.
    std::fs::copy(d.join("fed/roster.toml"), d.join("ne.orp/roster.toml")).unwrap();
    let (success, text) = passerelle(d, &["node", "check", "ne.orp/node.toml"]);
    assert!(!success && text.contains("below the threshold"), "{text}");
    ok(
        d,
        &[
            "federation",
            "sign",
            "--roster",
            "fed/roster.toml",
            "--key",
            "fed/authority-3.key",
        ],
    );
    ok(
        d,
        &[
            "federation",
            "verify",
            "--roster",
            "fed/roster.toml",
            "--federation",
            "fed/federation.toml",
        ],
    );
    let mut nodes = Vec::new();
    for id in ["ne.orp", "ne.oai"] {
        std::fs::copy(d.join("fed/roster.toml"), d.join(id).join("roster.toml")).unwrap();
        ok(d, &["node", "check", &format!("{id}/node.toml")]);
        let cfg = daemon::config::NodeConfig::load(&d.join(id).join("node.toml")).unwrap();
        nodes.push(
            daemon::start(cfg, tokio_util::sync::CancellationToken::new())
                .await
                .unwrap(),
        );
    }
    let rec = examples();
    let rec = |f: &str| rec.join(f).to_string_lossy().into_owned();
    ok(
        d,
        &[
            "--credential",
            "ne.orp/admin.cred",
            "records",
            "import",
            &rec("ne.orp-persons.csv"),
            &rec("ne.orp-fields.csv"),
        ],
    );
    ok(
        d,
        &[
            "--credential",
            "ne.oai/admin.cred",
            "records",
            "import",
            &rec("ne.oai-persons.csv"),
            &rec("ne.oai-fields.csv"),
        ],
    );
    let (success, text) = passerelle(
        d,
        &[
            "--credential",
            "ne.orp/admin.cred",
            "records",
            "import",
            &rec("bad-persons.csv"),
        ],
    );
    assert!(
        !success && text.contains("bad-persons.csv:3") && text.contains("nothing was imported"),
        "{text}"
    );
    ok(
        d,
        &[
            "--credential",
            "ne.orp/admin.cred",
            "staff",
            "issue",
            "marie",
            "--role",
            "case-worker",
            "--out",
            "marie.cred",
        ],
    );
    ok(
        d,
        &[
            "--credential",
            "ne.oai/admin.cred",
            "staff",
            "issue",
            "luc",
            "--role",
            "case-worker",
            "--out",
            "luc.cred",
        ],
    );
    ok(
        d,
        &[
            "--credential",
            "ne.orp/admin.cred",
            "staff",
            "issue",
            "ana",
            "--role",
            "auditor",
            "--out",
            "ana.cred",
        ],
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(d.join("luc.cred")).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "credentials are private");

    let person = std::fs::read_to_string(examples().join("demo-person.txt")).unwrap();
    let out = ok(
        d,
        &[
            "--json",
            "--credential",
            "luc.cred",
            "case",
            "open",
            "--person",
            person.trim(),
            "--invite",
            "ne.orp",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let case = v["case-opened"]["case_id"].as_str().unwrap().to_string();
    assert!(ok(d, &["--credential", "marie.cred", "case", "list"]).contains(&case));
    ok(
        d,
        &[
            "--credential",
            "marie.cred",
            "case",
            "accept",
            "--case",
            &case,
        ],
    );
    ok(
        d,
        &[
            "--credential",
            "luc.cred",
            "consent",
            "record",
            "--case",
            &case,
            "--participants",
            "ne.oai,ne.orp",
            "--purposes",
            "coordinated-assessment",
            "--categories",
            "employment,measures",
            "--from",
            "2020-01-01",
            "--until",
            "2099-12-31",
        ],
    );
    let out = ok(
        d,
        &[
            "--json",
            "--credential",
            "luc.cred",
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
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let summary = v["summary"]["received"]["summary_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{out}"))
        .to_string();
    let opened = ok(
        d,
        &["--credential", "luc.cred", "summary", "open", &summary],
    );
    assert!(
        opened.contains("[employment]")
            && opened.contains("[measures]")
            && !opened.contains("[benefits]"),
        "{opened}"
    );
    let (success, refused) = passerelle(
        d,
        &[
            "--credential",
            "luc.cred",
            "summary",
            "request",
            "--case",
            &case,
            "--from",
            "ne.orp",
            "--purpose",
            "coordinated-assessment",
            "--categories",
            "health",
        ],
    );
    assert!(
        !success && refused.contains("category-not-consented"),
        "{refused}"
    );
    // Wrong role and bad input get clear errors.
    let (success, text) = passerelle(d, &["--credential", "ana.cred", "case", "list"]);
    assert!(!success && text.contains("case-worker role"), "{text}");
    let (success, text) = passerelle(
        d,
        &[
            "--credential",
            "luc.cred",
            "case",
            "open",
            "--person",
            "756.9217.0769.84",
        ],
    );
    assert!(!success && text.contains("check digit"), "{text}");

    ok(d, &["--credential", "ana.cred", "log", "checkpoint"]);
    ok(
        d,
        &[
            "--credential",
            "ana.cred",
            "audit",
            "export",
            "--out",
            "orp-bundle",
        ],
    );
    let verified = ok(
        d,
        &[
            "--credential",
            "ana.cred",
            "audit",
            "verify",
            "orp-bundle",
            "--federation",
            "fed/federation.toml",
        ],
    );
    assert!(verified.contains("verified"), "{verified}");
    let report = ok(d, &["audit", "person", person.trim(), "orp-bundle"]);
    assert!(
        report.contains("disclosure") && report.contains("ne.oai"),
        "{report}"
    );
    for n in nodes {
        n.stop().await;
    }
}
