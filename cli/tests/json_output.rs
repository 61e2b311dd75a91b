//! `--json` without a node: every command prints one JSON document on stdout, an object keyed by
//! what it holds, errors included; without `--json` errors go to stderr. A closed pipe ends the
//! output quietly.

mod common;
use common::{command, from_output, run};

fn federation(dir: &std::path::Path) {
    let r = run(
        dir,
        &[
            "--json",
            "federation",
            "init",
            "--name",
            "ne-cii",
            "--dir",
            "fed",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let v = r.json();
    assert!(
        v["federation-created"]["keys"].as_array().unwrap().len() == 3,
        "{v}"
    );
}

#[test]
fn offline_commands_print_one_keyed_document() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    federation(d);
    let r = run(
        d,
        &[
            "--json",
            "federation",
            "show",
            "--roster",
            "fed/roster.toml",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["roster"]["roster"]["federation"], "ne-cii");
}

#[test]
fn errors_are_json_with_json_and_text_on_stderr_without() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();

    let r = run(d, &["--json", "node", "check", "missing.toml"]);
    assert_eq!(r.code, 1, "{r:?}");
    let (kind, message) = r.json_error();
    assert_eq!(kind, "failed");
    assert!(message.contains("missing.toml"), "{message}");
    assert!(r.stderr.is_empty(), "{r:?}");

    let r = run(d, &["node", "check", "missing.toml"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.is_empty(), "{r:?}");
    assert!(r.stderr.starts_with("passerelle: "), "{r:?}");

    // A command line that does not parse is a usage error, as JSON too.
    let r = run(d, &["--json", "case", "frobnicate"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(r.json_error().0, "usage");
    let r = run(d, &["case", "frobnicate"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stdout.is_empty() && r.stderr.contains("frobnicate"),
        "{r:?}"
    );

    // So is a staff command without a credential.
    let r = run(d, &["--json", "case", "list"]);
    assert_eq!(r.code, 2, "{r:?}");
    let (kind, message) = r.json_error();
    assert_eq!(kind, "usage");
    assert!(message.contains("--credential"), "{message}");
}

#[test]
fn help_lists_the_exit_statuses() {
    let r = run(std::path::Path::new("."), &["--help"]);
    assert_eq!(r.code, 0, "{r:?}");
    for line in [
        "0  done",
        "2  usage",
        "3  refused",
        "4  queued",
        "5  unreachable",
        "6  internal",
    ] {
        assert!(r.stdout.contains(line), "{line}\n{}", r.stdout);
    }
}

/// `passerelle … | head -0`: the reader is gone before anything is written.
#[test]
fn closed_pipe_ends_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    federation(d);
    for json in [false, true] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let mut args = vec!["federation", "show", "--roster", "fed/roster.toml"];
        if json {
            args.insert(0, "--json");
        }
        let r = from_output(command(d, &args).stdout(writer).output().unwrap());
        assert_eq!(r.code, 0, "{r:?}");
        assert!(r.stderr.is_empty(), "{r:?}");
    }
}
