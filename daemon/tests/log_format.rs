//! `passerelled`'s log as an administrator sets it: `PASSERELLE_LOG_FORMAT=json` gives one JSON
//! object per line on stderr, `PASSERELLE_LOG` wins over `RUST_LOG`, and a value that cannot be
//! used stops the daemon with exit status 2, naming the variable.

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::Duration;
use tests::*;

#[test]
fn an_unknown_log_format_is_refused_naming_the_variable() {
    let out = Command::new(env!("CARGO_BIN_EXE_passerelled"))
        .args(["--config", "/nonexistent/node.toml"])
        .env("PASSERELLE_LOG_FORMAT", "xml")
        .output()
        .expect("passerelled runs");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("PASSERELLE_LOG_FORMAT=\"xml\" is not a log format: use `text` or `json`"),
        "{err}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_passerelled"))
        .args(["--config", "/nonexistent/node.toml"])
        .env("PASSERELLE_LOG", "info,=[")
        .output()
        .expect("passerelled runs");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("PASSERELLE_LOG="),
        "{out:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_logs_one_json_object_per_line() {
    let mut s = Setup::new().await;
    s.fed.node_mut("ne.orp").stop().await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_passerelled"))
        .arg("--config")
        .arg(s.node("ne.orp").config_path())
        .env("PASSERELLE_LOG_FORMAT", "json")
        .env("PASSERELLE_LOG", "info")
        // Read only when PASSERELLE_LOG is unset: it would hide the info events.
        .env("RUST_LOG", "error")
        .env_remove("NOTIFY_SOCKET")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("passerelled starts");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    while !lines.iter().any(|l: &String| l.contains("node listening")) {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no `node listening` event; got {lines:?}"));
        lines.push(line);
    }
    // A staff request, logged by kind and role.
    let r = call(
        &s.node("ne.orp").admin,
        protocol_spec::staff::StaffRequest::Status,
    )
    .await;
    assert!(r.is_ok(), "{r:?}");
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
    reader.join().unwrap();
    lines.extend(rx.try_iter());
    let events: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let has = |message: &str| events.iter().any(|e| e["fields"]["message"] == message);
    assert!(has("node listening") && has("node stopped"), "{lines:#?}");
    assert!(
        events
            .iter()
            .any(|e| e["fields"]["message"] == "staff request served"
                && e["fields"]["request"] == "status"
                && e["fields"]["role"] == "admin"
                && e["level"] == "INFO"),
        "{lines:#?}"
    );
    assert!(
        lines.iter().all(|l| !l.contains('\u{1b}')),
        "no terminal colours in a pipe"
    );
    s.stop().await;
}
