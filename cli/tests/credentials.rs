//! Staff credentials hold a private key: one others can read is refused, and `staff issue`
//! claims its output file before the node registers the key, so no registered key is lost.

mod common;
use common::run;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn credential_readable_by_others_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let r = run(
        d,
        &["federation", "init", "--name", "ne-cii", "--dir", "fed"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let r = run(
        d,
        &[
            "node",
            "init",
            "--institution",
            "ne.orp",
            "--name",
            "ORP",
            "--sector",
            "employment",
            "--listen",
            "127.0.0.1:9",
            "--federation",
            "fed/federation.toml",
            "--dir",
            "orp",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let cred = d.join("orp/admin.cred");
    assert_eq!(
        std::fs::metadata(&cred).unwrap().permissions().mode() & 0o777,
        0o600
    );
    for mode in [0o644, 0o640, 0o604] {
        chmod(&cred, mode);
        let r = run(d, &["--json", "--credential", "orp/admin.cred", "whoami"]);
        assert_eq!(r.code, 1, "{r:?}");
        let (kind, message) = r.json_error();
        assert_eq!(kind, "failed");
        assert!(
            message.contains("orp/admin.cred") && message.contains("chmod 600"),
            "{message}"
        );
    }
    // Authority keys likewise.
    chmod(&d.join("fed/authority-1.key"), 0o644);
    let r = run(
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
    assert!(r.code == 1 && r.stderr.contains("chmod 600"), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_issue_to_an_unwritable_path_registers_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (_, mut fed) = common::example_federation(d).await;
    fed.node("ne.orp")
        .admin
        .save(&d.join("admin.cred"))
        .unwrap();
    std::fs::write(d.join("not-a-dir"), "").unwrap();
    std::fs::write(d.join("taken.cred"), "someone else's").unwrap();
    let issue = |out: &str| {
        run(
            d,
            &[
                "--json",
                "--credential",
                "admin.cred",
                "staff",
                "issue",
                "alice",
                "--role",
                "case-worker",
                "--out",
                out,
            ],
        )
    };
    let listed = || {
        let r = run(
            d,
            &["--json", "--credential", "admin.cred", "staff", "list"],
        );
        assert_eq!(r.code, 0, "{r:?}");
        r.json()["staff"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["staff"] == "alice")
    };

    let r = issue("not-a-dir/alice.cred");
    assert_eq!(r.code, 1, "{r:?}");
    let message = r.json_error().1;
    assert!(
        message.contains("not-a-dir") && message.contains("is a file"),
        "{r:?}"
    );
    assert!(
        !listed(),
        "the key was registered although its credential was lost"
    );

    // A mistyped directory is refused, named, and not created.
    let r = issue("missing/dir/alice.cred");
    assert_eq!(r.code, 1, "{r:?}");
    let message = r.json_error().1;
    assert!(
        message.contains("missing/dir") && message.contains("does not exist"),
        "{r:?}"
    );
    assert!(
        !d.join("missing").exists(),
        "a mistyped --out created directories"
    );
    assert!(!listed());

    let r = issue("taken.cred");
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.json_error().1.contains("already exists"), "{r:?}");
    assert_eq!(
        std::fs::read_to_string(d.join("taken.cred")).unwrap(),
        "someone else's"
    );
    assert!(!listed());

    let r = issue("alice.cred");
    assert_eq!(r.code, 0, "{r:?}");
    assert!(listed());
    let mode = std::fs::metadata(d.join("alice.cred"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let r = run(d, &["--json", "--credential", "alice.cred", "whoami"]);
    assert_eq!(r.json()["me"]["staff"], "alice", "{r:?}");

    // The revocation says whose credential it was, not just "done".
    let r = run(
        d,
        &["--credential", "admin.cred", "staff", "revoke", "alice"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("revoked the credential of alice"),
        "{r:?}"
    );
    fed.stop().await;
}

/// A credential pinned to a key its node no longer presents (its keys replaced without an
/// endorsement this credential can follow) says so, instead of "cannot reach the node".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_pinned_to_another_key_is_told_which_key_it_met() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (_, mut fed) = common::example_federation(d).await;
    let node = fed.node("ne.orp");
    let actual = node.admin.node_key;
    let other = protocol_spec::keys::SigningKey::from_seed([0x77; 32]).public();
    node.admin.save(&d.join("admin.cred")).unwrap();
    let text = std::fs::read_to_string(d.join("admin.cred")).unwrap();
    let pinned = format!("node_key = \"{actual}\"");
    assert!(text.contains(&pinned), "{text}");
    let stale = text.replace(&pinned, &format!("node_key = \"{other}\""));
    std::fs::write(d.join("stale.cred"), stale).unwrap();
    chmod(&d.join("stale.cred"), 0o600);
    let r = run(d, &["--json", "--credential", "stale.cred", "whoami"]);
    assert_eq!(r.code, 1, "{r:?}");
    let message = r.json_error().1;
    assert!(
        message.contains("presented a key that this credential does not pin")
            && message.contains(&actual.to_string()),
        "{r:?}"
    );
    let r = run(d, &["--json", "--credential", "admin.cred", "whoami"]);
    assert_eq!(r.code, 0, "{r:?}");
    fed.stop().await;
}
