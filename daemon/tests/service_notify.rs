//! `passerelled` under a service manager (systemd `Type=notify`): it says READY once it
//! serves, feeds the watchdog it was given, and says STOPPING on SIGTERM.

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tests::*;

/// The datagrams received within `within`, until one contains `what`.
fn wait_for(socket: &UnixDatagram, what: &str, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        socket
            .set_read_timeout(Some(
                deadline
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(10)),
            ))
            .unwrap();
        match socket.recv(&mut buf) {
            Ok(n) => {
                let text = String::from_utf8_lossy(&buf[..n]).to_string();
                let done = text.contains(what);
                seen.push(text);
                if done {
                    return seen;
                }
            }
            Err(_) => break,
        }
    }
    panic!("no `{what}` from the node within {within:?}; got {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_tells_the_service_manager_it_is_ready_alive_and_stopping() {
    let mut s = Setup::new().await;
    // The node runs as a process, as systemd starts it.
    s.fed.node_mut("ne.orp").stop().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_passerelled"))
        .arg("--config")
        .arg(s.node("ne.orp").config_path())
        .env("NOTIFY_SOCKET", &path)
        // WatchdogSec=1: a ping at least every half second.
        .env("WATCHDOG_USEC", "1000000")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("passerelled starts");
    let ready = wait_for(&socket, "READY=1", Duration::from_secs(30));
    assert!(
        ready.last().unwrap().contains("STATUS=ne.orp serving"),
        "{ready:?}"
    );
    // Ready means serving: the node answers its administrator at once.
    let r = call(
        &s.node("ne.orp").admin,
        protocol_spec::staff::StaffRequest::Status,
    )
    .await;
    assert!(r.is_ok(), "{r:?}");
    wait_for(&socket, "WATCHDOG=1", Duration::from_secs(3));
    wait_for(&socket, "WATCHDOG=1", Duration::from_secs(3));
    // SIGTERM: the node says it is stopping, then exits cleanly.
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    wait_for(&socket, "STOPPING=1", Duration::from_secs(10));
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    s.stop().await;
}
