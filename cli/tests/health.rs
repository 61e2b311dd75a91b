//! `passerelle node health` as a script or a service manager runs it: the real binary against a
//! node's observability endpoint, exit status 0 when ready, 5 when the endpoint cannot be
//! reached, 2 for a config without the endpoint or a log setting that cannot be used.

mod common;
use common::{command, from_output, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_health_reports_readiness_with_an_exit_status() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (_, mut fed) = common::example_federation(d).await;
    let config = fed.node("ne.orp").config_path();
    let config_arg = config.to_string_lossy().to_string();

    // Without an [observability] table there is nothing to ask; the message says what to add.
    let r = run(d, &["node", "health", "--config", &config_arg]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("has no [observability] table"), "{r:?}");

    let endpoint = cli::harness::free_tcp_port().unwrap();
    let node = fed.node_mut("ne.orp");
    node.stop().await;
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!("\n[observability]\nlisten = \"{endpoint}\"\n"));
    std::fs::write(&config, text).unwrap();
    node.start().await.unwrap();

    let r = run(d, &["--json", "node", "health", "--config", &config_arg]);
    assert_eq!(r.code, 0, "{r:?}");
    let h = &r.json()["health"];
    assert_eq!(h["ok"], true, "{r:?}");
    assert_eq!(h["probe"], "ready");
    let checks: Vec<&str> = h["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(checks, ["store", "roster", "transport", "log"]);

    let r = run(
        d,
        &[
            "node",
            "health",
            "--address",
            &endpoint.to_string(),
            "--live",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.starts_with(&format!("node at {endpoint}: live\n")),
        "{r:?}"
    );
    assert!(r.stdout.contains("store-thread"), "{r:?}");

    fed.stop().await;
    let r = run(
        d,
        &[
            "--json",
            "node",
            "health",
            "--address",
            &endpoint.to_string(),
        ],
    );
    assert_eq!(r.code, 5, "{r:?}");
    assert_eq!(r.json_error().0, "unreachable");

    // The log settings are the daemon's: a format that cannot be used stops the CLI at once.
    let r = from_output(
        command(d, &["node", "health", "--address", &endpoint.to_string()])
            .env("PASSERELLE_LOG_FORMAT", "yaml")
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("PASSERELLE_LOG_FORMAT"), "{r:?}");
}
