//! The command line as a new user meets it: every subcommand and option explains itself, closed
//! sets of values are listed, and a rejected social insurance number or staff id is not echoed.

mod common;
use clap::CommandFactory;
use common::run;
use std::path::Path;

fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
    for arg in cmd.get_arguments() {
        let id = arg.get_id().as_str();
        if matches!(id, "help" | "version") {
            continue;
        }
        if arg.get_help().is_none() && arg.get_long_help().is_none() {
            missing.push(format!("{path} argument {id}"));
        }
    }
    for sub in cmd.get_subcommands() {
        let sub_path = format!("{path} {}", sub.get_name());
        if sub.get_name() == "help" {
            continue;
        }
        if sub.get_about().is_none() && sub.get_long_about().is_none() {
            missing.push(sub_path.clone());
        }
        walk(sub, &sub_path, missing);
    }
}

#[test]
fn every_subcommand_and_argument_has_help() {
    let mut cmd = cli::commands::Cli::command();
    cmd.build();
    let mut missing = Vec::new();
    walk(&cmd, "passerelle", &mut missing);
    assert!(
        missing.is_empty(),
        "without help text:\n{}",
        missing.join("\n")
    );
}

#[test]
fn closed_sets_are_listed_and_enforced() {
    let here = Path::new(".");
    let help = run(here, &["staff", "issue", "--help"]);
    assert!(
        help.stdout
            .contains("[possible values: case-worker, auditor, admin, coordinator]"),
        "{help:?}"
    );
    let help = run(here, &["consent", "record", "--help"]);
    assert!(
        help.stdout.contains(
            "identity, household, employment, benefits, health, measures, training, case-management"
        ),
        "{help:?}"
    );
    // Open vocabularies get examples.
    let help = run(here, &["federation", "allow", "--help"]);
    assert!(
        help.stdout.contains("disability-insurance") && help.stdout.contains("action-plan"),
        "{help:?}"
    );
    let r = run(
        here,
        &[
            "summary",
            "request",
            "--case",
            "00000000000000000000000000000000",
            "--from",
            "ne.orp",
            "--purpose",
            "x",
            "--categories",
            "employment,salary",
        ],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("possible values"), "{r:?}");
}

/// Spec §14.7: error messages never repeat personal data.
#[test]
fn rejected_personal_data_is_not_echoed() {
    let here = Path::new(".");
    for (number, problem) in [
        ("756.9217.0769.84", "check digit"),
        ("756.9217.0769.8", "13 digits"),
        ("999.9217.0769.85", "756"),
    ] {
        for json in [false, true] {
            let mut args = vec!["case", "open", "--person", number];
            if json {
                args.insert(0, "--json");
            }
            let r = run(here, &args);
            assert_eq!(r.code, 2, "{r:?}");
            let all = format!("{}{}", r.stdout, r.stderr);
            assert!(all.contains(problem) && all.contains("--person"), "{r:?}");
            assert!(!all.contains(number), "{r:?}");
            assert!(!all.contains(&number.replace('.', "")), "{r:?}");
        }
    }
    let r = run(here, &["audit", "person", "7569217076984", "bundle"]);
    assert!(r.code == 2 && !r.stderr.contains("7569217076984"), "{r:?}");
    let r = run(here, &["staff", "revoke", "Marie Dupont"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("staff id") && !r.stderr.contains("Marie"),
        "{r:?}"
    );
}
