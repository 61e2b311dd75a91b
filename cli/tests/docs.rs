//! Manual pages and shell completions, as the Debian package installs them: every command is
//! in the completions and has its page, and `passerelled` has one too.

mod common;
use clap::CommandFactory;
use clap_complete::Shell;
use common::run;
use std::collections::BTreeSet;
use std::path::Path;

/// Commands an administrator or a case worker types every day; the test also derives the full
/// list from the definitions, this one guards against a command dropped from them.
const EVERYDAY: &[&str] = &[
    "federation",
    "node",
    "staff",
    "roster",
    "records",
    "case",
    "consent",
    "summary",
    "queue",
    "log",
    "audit",
    "whoami",
    "completions",
    "man",
    "demo",
];

fn top_level() -> Vec<String> {
    let names: Vec<String> = cli::commands::Cli::command()
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| s.get_name().to_string())
        .collect();
    for n in EVERYDAY {
        assert!(names.iter().any(|m| m == n), "no `{n}` command");
    }
    names
}

/// `passerelle-case-open.1` for `passerelle case open`, for every command at every depth.
fn expected_pages(cmd: &clap::Command, prefix: &str, out: &mut BTreeSet<String>) {
    out.insert(format!("{prefix}.1"));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        expected_pages(sub, &format!("{prefix}-{}", sub.get_name()), out);
    }
}

#[test]
fn completions_name_every_command() {
    let names = top_level();
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let mut script = Vec::new();
        cli::docs::completions(cli::commands::Cli::command(), shell, &mut script);
        let script = String::from_utf8(script).unwrap();
        for n in &names {
            assert!(
                script.contains(n.as_str()),
                "{shell} completions lack `{n}`"
            );
        }
    }
    // Nested commands and closed values are completed too.
    let mut bash = Vec::new();
    cli::docs::completions(cli::commands::Cli::command(), Shell::Bash, &mut bash);
    let bash = String::from_utf8(bash).unwrap();
    for word in [
        "new-version",
        "add-member",
        "case-worker",
        "case-management",
    ] {
        assert!(bash.contains(word), "bash completions lack `{word}`");
    }
    // The same script from the command line.
    let r = run(Path::new("."), &["completions", "bash"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, bash);
    let r = run(Path::new("."), &["completions", "tcsh"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("possible values"), "{r:?}");
}

#[test]
fn one_manual_page_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man1");
    let r = run(Path::new("."), &["man", "--out", out.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{r:?}");

    let mut cmd = cli::commands::Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut expected = BTreeSet::new();
    expected_pages(&cmd, "passerelle", &mut expected);
    expected.insert("passerelled.1".to_string());
    for n in top_level() {
        assert!(expected.contains(&format!("passerelle-{n}.1")));
    }
    assert!(expected.contains("passerelle-case-open.1") && expected.contains("passerelle-man.1"));

    let written: BTreeSet<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(written, expected);
    assert!(
        r.stdout
            .contains(&format!("wrote {} manual pages", expected.len()))
    );

    for name in &written {
        let text = std::fs::read_to_string(out.join(name)).unwrap();
        let title = name.trim_end_matches(".1").to_uppercase();
        assert!(
            text.contains(&format!(".TH \"{title}\" \"1\" \"\" \"Passerelle ")),
            "{name}: {text}"
        );
        assert!(
            text.contains(".SH SYNOPSIS") && text.contains(".SH \"SEE ALSO\""),
            "{name}"
        );
    }
    let top = std::fs::read_to_string(out.join("passerelle.1")).unwrap();
    assert!(top.contains(".SH \"EXIT STATUS\"") && top.contains("PASSERELLE_CREDENTIAL"));
    for n in top_level() {
        assert!(top.contains(&format!("passerelle\\-{n}(1)")), "{n}");
    }
    let daemon = std::fs::read_to_string(out.join("passerelled.1")).unwrap();
    for part in ["\\-\\-config", "RUST_LOG", "SIGTERM", ".SH \"EXIT STATUS\""] {
        assert!(
            daemon.contains(part),
            "passerelled.1 lacks {part}:\n{daemon}"
        );
    }
}

#[test]
fn json_output_of_the_generators() {
    let r = run(Path::new("."), &["--json", "completions", "fish"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v = r.json();
    assert_eq!(v["completions"]["shell"], "fish");
    assert!(
        v["completions"]["script"]
            .as_str()
            .unwrap()
            .contains("complete -c passerelle")
    );
    let dir = tempfile::tempdir().unwrap();
    let r = run(dir.path(), &["--json", "man", "--out", "pages"]);
    assert_eq!(r.code, 0, "{r:?}");
    let pages = r.json()["man-pages"]["pages"].as_array().unwrap().len();
    assert!(pages > 40, "{pages}");
}

/// The README's code: fenced lines (a trailing `\` joins the next) and inline code spans, read
/// over a whole paragraph so that a span may cross a line break.
fn readme_code() -> Vec<String> {
    let readme = include_str!("../../README.md");
    let mut code = Vec::new();
    let mut paragraph = String::new();
    let mut pending = String::new();
    let mut in_fence = false;
    let flush = |paragraph: &mut String, code: &mut Vec<String>| {
        code.extend(paragraph.split('`').skip(1).step_by(2).map(String::from));
        paragraph.clear();
    };
    for line in readme.lines() {
        if line.trim_start().starts_with("```") {
            flush(&mut paragraph, &mut code);
            in_fence = !in_fence;
        } else if in_fence {
            match line.strip_suffix('\\') {
                Some(head) => pending.push_str(head),
                None => {
                    pending.push_str(line);
                    let line = std::mem::take(&mut pending);
                    // A shell comment is prose.
                    code.push(line.split(" #").next().unwrap_or_default().to_string());
                }
            }
        } else if line.trim().is_empty() {
            flush(&mut paragraph, &mut code);
        } else {
            paragraph.push_str(line);
            paragraph.push(' ');
        }
    }
    flush(&mut paragraph, &mut code);
    code
}

/// Every `passerelle …` the README shows names a command that exists, with options that
/// command has; and the commands a user meets in `--help` are each explained somewhere.
#[test]
fn the_readme_names_real_commands_and_options() {
    let mut root = cli::commands::Cli::command();
    root.build();
    let mut problems = Vec::new();
    let mut mentioned = BTreeSet::new();
    for code in readme_code() {
        let mut rest = code.as_str();
        while let Some(at) = rest.find("passerelle ") {
            let before = rest[..at].chars().last();
            let after = &rest[at + "passerelle ".len()..];
            rest = after;
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-') {
                continue;
            }
            let mut tokens = after
                .split_whitespace()
                .take_while(|t| !t.starts_with('#'))
                .peekable();
            // Global options before the command.
            while let Some(t) = tokens.peek() {
                match *t {
                    "--json" => {
                        tokens.next();
                    }
                    "--credential" => {
                        tokens.next();
                        tokens.next();
                    }
                    _ => break,
                }
            }
            let Some(first) = tokens.peek().copied() else {
                continue;
            };
            // `sudo -u passerelle passerelle node …`: the user, then the command; `--help` and
            // `cargo run --bin passerelle -- demo` are not commands to check.
            if first == "passerelle"
                || first.starts_with('-')
                || !first.chars().all(|c| c.is_ascii_lowercase() || c == '-')
            {
                continue;
            }
            let mut cmd = &root;
            let mut path = Vec::new();
            while let Some(sub) = tokens.peek().and_then(|t| cmd.find_subcommand(t)) {
                path.push(sub.get_name().to_string());
                cmd = sub;
                tokens.next();
            }
            if path.is_empty() {
                problems.push(format!("`passerelle {first}`: no such command"));
                continue;
            }
            let path = path.join(" ");
            for flag in tokens.filter_map(|t| t.strip_prefix("--")) {
                let flag = flag.split('=').next().unwrap_or(flag);
                let known =
                    flag == "help" || cmd.get_arguments().any(|a| a.get_long() == Some(flag));
                if !known {
                    problems.push(format!("`passerelle {path}` has no option --{flag}"));
                }
            }
            mentioned.insert(path);
        }
    }
    for needed in [
        "whoami",
        "node status",
        "case invite",
        "case list",
        "consent replace",
        "federation witnesses",
    ] {
        if !mentioned.contains(needed) {
            problems.push(format!("the README never shows `passerelle {needed}`"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
