//! A command that starts nodes of its own (`demo`, `bench`), stopped by a signal, stops its
//! nodes, removes its temporary files and exits 130, with `--json` as one error document.

use rustix::process::{Pid, Signal, kill_process};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Whether a file named `name` is anywhere under `dir`.
fn holds(dir: &Path, name: &str) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let path = e.path();
        if path.is_dir() {
            holds(&path, name)
        } else {
            path.file_name().is_some_and(|n| n == name)
        }
    })
}

/// Processes whose command line names `dir`.
fn processes_in(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&needle))
        .collect()
}

/// Starts `passerelle --json ARGS` with its temporary files in `tmp`.
fn start(args: &[&str], tmp: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .arg("--json")
        .args(args)
        .env("TMPDIR", tmp)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs `passerelle --json ARGS` with its temporary files in a directory of its own, stops it
/// with `signal` once a node store exists, and checks what it left.
fn interrupted(args: &[&str], signal: Signal, name: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let child = start(args, tmp.path());
    let deadline = Instant::now() + Duration::from_secs(300);
    // A node store exists.
    while !holds(tmp.path(), "node.db") {
        assert!(Instant::now() < deadline, "{args:?} created no node store");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = Pid::from_raw(child.id() as i32).unwrap();
    kill_process(pid, signal).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{out:?}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["error"]["kind"], "interrupted", "{doc}");
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(message.contains(name), "{message}");
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "{args:?} left {left:?}");
    let running = processes_in(tmp.path());
    assert!(running.is_empty(), "{args:?} left {running:?} running");
}

#[test]
fn an_interrupted_demo_removes_its_federation() {
    interrupted(&["demo"], Signal::INT, "SIGINT");
}

#[test]
fn a_terminated_demo_removes_its_federation() {
    interrupted(&["demo"], Signal::TERM, "SIGTERM");
}

/// A benchmark long enough to be stopped while it runs.
const BENCH: [&str; 6] = [
    "bench",
    "exchange",
    "--requests",
    "1000000",
    "--concurrency",
    "4",
];

/// The benchmark's nodes are processes of their own (`passerelled` beside `passerelle`, as
/// `cargo test --workspace` and `cargo build` put it): none outlives the benchmark.
#[test]
fn a_terminated_benchmark_stops_its_node_processes() {
    interrupted(&BENCH, Signal::TERM, "SIGTERM");
}

/// A benchmark killed outright cannot clean up, but its nodes notice that their input (a pipe
/// from it) closed and stop cleanly by themselves.
#[test]
fn a_killed_benchmark_leaves_no_node_running() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = start(&BENCH, tmp.path());
    let deadline = Instant::now() + Duration::from_secs(300);
    while processes_in(tmp.path()).len() < 3 {
        assert!(Instant::now() < deadline, "the benchmark started no nodes");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let running = processes_in(tmp.path());
        if running.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "left {running:?} running");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A node that stopped cleanly removed its store's write-ahead log.
    assert!(
        !holds(tmp.path(), "node.db-wal"),
        "a node did not close its store cleanly"
    );
}
