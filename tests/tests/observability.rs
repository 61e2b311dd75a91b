//! End-to-end: what an administrator watches. Each node of the example federation serves its
//! own `[observability]` endpoint: `/metrics` counts that node's decisions only (several
//! nodes share this process), `/readyz` names what keeps a node from serving, `/livez` says
//! the run loop and the store thread answer, and `passerelle node health` reports it with an
//! exit status. The JSON log of an exchange carries its decisions and nothing personal.

use protocol_spec::category::Category::{Employment, Training};
use protocol_spec::ids::CaseId;
use protocol_spec::staff::{StaffReply, StaffRequest, SummaryOutcome};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use tests::*;

const ASSESS: &str = "coordinated-assessment";

/// Adds an `[observability]` table to the node's config and restarts it; its address.
async fn with_endpoint(s: &mut Setup, id: &str) -> SocketAddr {
    let addr = cli::harness::free_tcp_port().expect("a free TCP port");
    let node = s.fed.node_mut(id);
    node.stop().await;
    let path = node.config_path();
    let mut text = std::fs::read_to_string(&path).expect("node.toml");
    text.push_str(&format!("\n[observability]\nlisten = \"{addr}\"\n"));
    std::fs::write(&path, text).expect("node.toml written");
    node.start()
        .await
        .expect("the node starts with its endpoint");
    addr
}

async fn scrape(addr: SocketAddr) -> String {
    let (status, body) = daemon::observability::get(addr, "/metrics")
        .await
        .expect("/metrics answers");
    assert_eq!(status, 200, "{body}");
    body
}

/// The samples of a Prometheus text exposition: (name, labels) to value.
type Samples = BTreeMap<(String, BTreeMap<String, String>), f64>;

fn samples(text: &str) -> Samples {
    let mut out = Samples::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').expect("`series value`");
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let labels = labels
            .split(',')
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (k, v) = l.split_once('=').expect("label=value");
                (k.to_string(), v.trim_matches('"').to_string())
            })
            .collect();
        out.insert((name.to_string(), labels), value.parse().expect("a number"));
    }
    out
}

/// The value of one series, 0 when absent (a counter not yet incremented).
fn value(s: &Samples, name: &str, labels: &[(&str, &str)]) -> f64 {
    let labels: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    s.get(&(name.to_string(), labels)).copied().unwrap_or(0.0)
}

/// The sum of a metric over every label set.
fn total(s: &Samples, name: &str) -> f64 {
    s.iter()
        .filter(|((n, _), _)| n == name)
        .map(|(_, v)| v)
        .sum()
}

/// A case between ne.oai and ne.orp, consented for employment data only.
async fn employment_case(s: &Setup) -> CaseId {
    let case = s.case("ne.oai", shared_person(), &["ne.orp"]).await;
    s.consent(
        "ne.oai",
        case,
        &["ne.oai", "ne.orp"],
        &[ASSESS],
        &[Employment],
        (now() - DAY, now() + 30 * DAY),
    )
    .await;
    case
}

/// One granted and one refused exchange, ne.oai asking ne.orp; the refusal's code.
async fn grant_and_refuse(s: &Setup, case: CaseId) -> &'static str {
    let o = s
        .request("ne.oai", "ne.orp", ASSESS, &[Employment], case)
        .await;
    assert!(matches!(o, SummaryOutcome::Received(_)), "{o:?}");
    match s
        .request("ne.oai", "ne.orp", ASSESS, &[Training], case)
        .await
    {
        SummaryOutcome::Refused { code } => code.as_str(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_node_counts_its_own_decisions_exactly() {
    let mut s = Setup::new().await;
    let orp = with_endpoint(&mut s, "ne.orp").await;
    let oai = with_endpoint(&mut s, "ne.oai").await;
    let case = employment_case(&s).await;
    let (orp0, oai0) = (samples(&scrape(orp).await), samples(&scrape(oai).await));

    let refused = grant_and_refuse(&s, case).await;
    assert_eq!(refused, "category-not-consented");

    let (orp1, oai1) = (samples(&scrape(orp).await), samples(&scrape(oai).await));
    let moved = |a: &Samples, b: &Samples, side: &str, code: &str| {
        let labels = [("side", side), ("code", code)];
        value(b, "passerelle_decisions_total", &labels)
            - value(a, "passerelle_decisions_total", &labels)
    };
    // The responder judged two requests, the requester got two answers: each counted once,
    // at its own node, on its own side.
    assert_eq!(moved(&orp0, &orp1, "responder", "granted"), 1.0);
    assert_eq!(moved(&orp0, &orp1, "responder", refused), 1.0);
    assert_eq!(moved(&oai0, &oai1, "requester", "granted"), 1.0);
    assert_eq!(moved(&oai0, &oai1, "requester", refused), 1.0);
    let decisions = |a: &Samples, b: &Samples| {
        total(b, "passerelle_decisions_total") - total(a, "passerelle_decisions_total")
    };
    assert_eq!(
        decisions(&orp0, &orp1),
        2.0,
        "nothing else counted at ne.orp"
    );
    assert_eq!(
        decisions(&oai0, &oai1),
        2.0,
        "nothing else counted at ne.oai"
    );
    assert_eq!(
        value(
            &orp1,
            "passerelle_decisions_total",
            &[("side", "requester"), ("code", "granted")]
        ),
        0.0,
        "ne.orp requested nothing"
    );
    for (outcome, n) in [("received", 1.0), ("refused", 1.0)] {
        let labels = [("kind", "summary-request"), ("outcome", outcome)];
        assert_eq!(
            value(&oai1, "passerelle_staff_requests_total", &labels)
                - value(&oai0, "passerelle_staff_requests_total", &labels),
            n,
            "{outcome}"
        );
    }
    assert_eq!(
        value(
            &orp1,
            "passerelle_exchange_seconds_count",
            &[("side", "responder")]
        ) - value(
            &orp0,
            "passerelle_exchange_seconds_count",
            &[("side", "responder")]
        ),
        2.0
    );
    assert_eq!(value(&oai1, "passerelle_outbox_items", &[]), 0.0);
    assert_eq!(value(&oai1, "passerelle_store_problem", &[]), 0.0);
    assert!(value(&oai1, "passerelle_peers_connected", &[]) >= 1.0);
    assert!(value(&orp1, "passerelle_log_entries", &[]) >= 2.0);

    // Every metric the README lists is exported, with its help text, and no label carries
    // anything personal.
    let text = scrape(oai).await;
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    for (name, _) in daemon::metrics::METRICS {
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "{name} is described:\n{text}"
        );
        assert!(
            text.lines().any(|l| l.starts_with(name)),
            "{name} is exported:\n{text}"
        );
        assert!(readme.contains(name), "the README explains {name}");
    }
    for p in personal_strings() {
        assert!(!text.contains(&p), "the metrics quote {p:?}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_names_a_halted_log_and_liveness_holds() {
    let mut s = Setup::new().await;
    let orp = with_endpoint(&mut s, "ne.orp").await;
    let (status, live) = daemon::observability::health(orp, "/livez").await.unwrap();
    assert_eq!(status, 200, "{live:?}");
    assert!(live.ok && live.checks.len() == 2, "{live:?}");
    let (status, ready) = daemon::observability::health(orp, "/readyz").await.unwrap();
    assert_eq!(status, 200, "{ready:?}");
    let names: Vec<&str> = ready.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["store", "roster", "transport", "log"]);
    assert_eq!(health_cli(&["--address", &orp.to_string()]).await, 0);
    let config = s.node("ne.orp").config_path();
    assert_eq!(
        health_cli(&["--config", &config.to_string_lossy()]).await,
        0,
        "the address is read from node.toml"
    );
    assert_eq!(
        health_cli(&["--address", &orp.to_string(), "--live"]).await,
        0
    );
    let (status, _) = daemon::observability::get(orp, "/nothing").await.unwrap();
    assert_eq!(status, 404);

    // The log halts, as when an older copy of the store is put back by hand, around
    // `node restore` (which would refuse to start it, tests/backup.rs): /readyz says so, and
    // only that.
    let case = employment_case(&s).await;
    let o = s
        .request("ne.oai", "ne.orp", ASSESS, &[Employment], case)
        .await;
    assert!(matches!(o, SummaryOutcome::Received(_)), "{o:?}");
    let backup = s.dir.path().join("orp.db");
    daemon::backup::backup(&config, &backup).unwrap();
    let o = s
        .request("ne.oai", "ne.orp", ASSESS, &[Employment], case)
        .await;
    assert!(matches!(o, SummaryOutcome::Received(_)), "{o:?}");
    let r = call(&s.node("ne.orp").auditor, StaffRequest::LogCheckpoint)
        .await
        .unwrap();
    assert!(matches!(r, StaffReply::Checkpoint { .. }), "{r:?}");
    s.fed.node_mut("ne.orp").stop().await;
    let data = s.node("ne.orp").dir.join("data");
    for f in ["node.db", "node.db-wal", "node.db-shm"] {
        let _ = std::fs::remove_file(data.join(f));
    }
    std::fs::copy(&backup, data.join("node.db")).unwrap();
    s.fed.node_mut("ne.orp").start().await.unwrap();
    let halted = eventually(30, || async {
        daemon::observability::health(orp, "/readyz")
            .await
            .is_ok_and(|(status, _)| status == 503)
    })
    .await;
    let (status, ready) = daemon::observability::health(orp, "/readyz").await.unwrap();
    assert!(halted && status == 503, "{status} {ready:?}");
    let failing: Vec<&str> = ready
        .checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(failing, ["log"], "{ready:?}");
    assert!(ready.checks[3].detail.starts_with("halted: "), "{ready:?}");
    assert_eq!(health_cli(&["--address", &orp.to_string()]).await, 1);
    // Halted, but alive: the node still answers.
    let (status, live) = daemon::observability::health(orp, "/livez").await.unwrap();
    assert_eq!(status, 200, "{live:?}");
    let metrics = samples(&scrape(orp).await);
    assert_eq!(value(&metrics, "passerelle_log_halted", &[]), 1.0);
    s.stop().await;
}

/// `passerelle node health ARGS` run in-process; its exit status.
async fn health_cli(args: &[&str]) -> u8 {
    use clap::Parser;
    let argv = ["passerelle", "node", "health"].iter().chain(args);
    let cli = cli::commands::Cli::try_parse_from(argv).expect("the command line parses");
    match cli::commands::run(cli).await {
        Ok(status) => status.code(),
        Err(e) => cli::output::kind_of(&e).code(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_store_makes_the_node_unready_until_it_records_again() {
    if let Err(why) = can_mount() {
        eprintln!(
            "SKIPPED a_full_store_makes_the_node_unready_until_it_records_again: it mounts a tmpfs, which needs root: {why}"
        );
        return;
    }
    let mut s = Setup::new().await;
    let orp = with_endpoint(&mut s, "ne.orp").await;
    s.fed.node_mut("ne.orp").stop().await;
    let disk = tests::disk::Disk::tmpfs(&s.node("ne.orp").dir.join("data"), 16 << 20)
        .expect("mounting the node's disk");
    s.fed.node_mut("ne.orp").start().await.expect("restart");
    disk.fill();
    let change = call(
        &s.node("ne.orp").admin,
        StaffRequest::StaffIssue {
            staff: "auditor-2".parse().unwrap(),
            role: protocol_spec::ids::Role::Auditor,
            key: protocol_spec::keys::SigningKey::from_seed([5; 32]).public(),
        },
    )
    .await;
    assert!(change.is_err(), "a full disk records nothing: {change:?}");
    let (status, ready) = daemon::observability::health(orp, "/readyz").await.unwrap();
    assert_eq!(status, 503, "{ready:?}");
    let store = &ready.checks[0];
    assert!(
        store.name == "store" && !store.ok && store.detail.contains("full"),
        "{ready:?}"
    );
    assert!(ready.checks[1..].iter().all(|c| c.ok), "{ready:?}");
    assert_eq!(health_cli(&["--address", &orp.to_string()]).await, 1);
    assert_eq!(
        value(
            &samples(&scrape(orp).await),
            "passerelle_store_problem",
            &[]
        ),
        1.0
    );
    // Not ready, but alive: the store thread answers, and reads still work.
    let (status, live) = daemon::observability::health(orp, "/livez").await.unwrap();
    assert_eq!(status, 200, "{live:?}");

    disk.free();
    let change = call(
        &s.node("ne.orp").admin,
        StaffRequest::StaffIssue {
            staff: "auditor-3".parse().unwrap(),
            role: protocol_spec::ids::Role::Auditor,
            key: protocol_spec::keys::SigningKey::from_seed([6; 32]).public(),
        },
    )
    .await;
    assert!(change.is_ok(), "{change:?}");
    let (status, ready) = daemon::observability::health(orp, "/readyz").await.unwrap();
    assert_eq!(
        status, 200,
        "ready again once a write is durable: {ready:?}"
    );
    s.stop().await;
    drop(disk);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_address_in_use_is_refused_before_the_store_is_created() {
    let mut s = Setup::new().await;
    let node = s.fed.node_mut("ne.sas");
    node.stop().await;
    let data = node.dir.join("data");
    std::fs::remove_dir_all(&data).unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let path = node.config_path();
    let original = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        format!("{original}\n[observability]\nlisten = \"{addr}\"\n"),
    )
    .unwrap();
    // The node's own QUIC port may still be held for a moment by the run just stopped
    // (cli::harness::NodeHandle::start): only the endpoint's refusal is of interest here.
    let mut attempts = 0;
    let e = loop {
        let config = daemon::config::NodeConfig::load(&path).unwrap();
        let e = daemon::start(config, tokio_util::sync::CancellationToken::new())
            .await
            .err()
            .expect("the node refuses to start");
        let e = format!("{e:#}");
        if e.contains("observability") || attempts == 200 {
            break e;
        }
        attempts += 1;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(
        e.contains(&format!(
            "cannot serve the observability endpoint ([observability] listen) on {addr}"
        )) && e.contains("in use"),
        "{e}"
    );
    assert!(!data.exists(), "no store was created");

    // A non-loopback address is refused at load, naming the way out.
    std::fs::write(
        &path,
        format!(
            "{original}\n[observability]\nlisten = \"0.0.0.0:{}\"\n",
            addr.port()
        ),
    )
    .unwrap();
    let e = daemon::config::NodeConfig::load(&path)
        .err()
        .expect("refused");
    let e = format!("{e:#}");
    assert!(
        e.contains("[observability]") && e.contains("not a loopback") && e.contains("allow_remote"),
        "{e}"
    );
    drop(taken);
    s.stop().await;
}

/// Every person name, social insurance number (both forms), birth date and record value of the
/// example records: none may appear in a log line or a metric.
fn personal_strings() -> Vec<String> {
    let spec = ExampleSpec::load().expect("examples/federation.toml");
    let examples = cli::harness::examples_dir().expect("examples");
    let mut out = Vec::new();
    for i in &spec.institution {
        let files: Vec<_> = i.records.iter().map(|f| examples.join(f)).collect();
        let set = cli::records::read_records(&files).expect("example records");
        for p in set.persons {
            out.extend([p.name, p.avs.to_string(), p.avs.digits(), p.birth_date]);
        }
        for f in set.fields {
            // Short values ("yes", "2") could match anything; the long ones identify.
            if f.value.chars().count() >= 6 {
                out.push(f.value);
            }
        }
    }
    out.extend(["case-worker-1".to_string(), "auditor-1".to_string()]);
    out.sort();
    out.dedup();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_log_of_an_exchange_has_its_decisions_and_nothing_personal() {
    // Debug for this project's crates; the QUIC and TLS libraries' debug output is theirs.
    let captured =
        tests::captured_log::CapturedLog::install("debug,quinn=info,quinn_proto=info,rustls=info");
    let s = Setup::new().await;
    let case = employment_case(&s).await;
    let refused = grant_and_refuse(&s, case).await;
    // A summary is opened too: its content is in the store, never in the log.
    let summaries = match call(&s.node("ne.oai").worker, StaffRequest::SummaryList)
        .await
        .unwrap()
    {
        StaffReply::Summaries(l) => l,
        other => panic!("{other:?}"),
    };
    call(
        &s.node("ne.oai").worker,
        StaffRequest::SummaryOpen {
            summary_id: summaries[0].summary_id,
        },
    )
    .await
    .unwrap();
    // The inclusion proofs of the grant are exchanged in the background, under a checkpoint
    // signed for them: wait until the requester keeps the responder's.
    let db = node_core::store::open(&s.node("ne.oai").dir.join("data/node.db")).unwrap();
    for _ in 0..100 {
        let n: i64 = db
            .query_row("SELECT COUNT(*) FROM peer_inclusion", [], |r| r.get(0))
            .unwrap();
        if n > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    s.stop().await;

    let text = captured.text();
    let events = captured.events();
    assert!(events.len() > 20, "{} events", events.len());
    let decided = |side: &str, code: &str| {
        events.iter().any(|e| {
            let f = &e["fields"];
            f["side"] == side
                && f["code"] == code
                && f["peer"]
                    == if side == "responder" {
                        "ne.oai"
                    } else {
                        "ne.orp"
                    }
                && f["purpose"] == ASSESS
                && f["latency_ms"].is_u64()
        })
    };
    for side in ["responder", "requester"] {
        assert!(
            decided(side, "granted"),
            "a {side} grant is logged:\n{text}"
        );
        assert!(
            decided(side, refused),
            "a {side} refusal is logged with its code:\n{text}"
        );
    }
    let served = events.iter().any(|e| {
        let f = &e["fields"];
        f["message"] == "staff request served"
            && f["request"] == "summary-request"
            && f["role"] == "case-worker"
            && f["outcome"] == "received"
    });
    assert!(
        served,
        "the staff request is logged by kind, role and outcome:\n{text}"
    );
    for (message, field) in [
        ("peer connection opened", "peer"),
        ("checkpoint signed", "tree_size"),
        ("node listening", "addr"),
    ] {
        assert!(
            events
                .iter()
                .any(|e| e["fields"]["message"] == message && !e["fields"][field].is_null()),
            "`{message}` with its {field} is logged"
        );
    }
    for p in personal_strings() {
        assert!(!text.contains(&p), "the log quotes {p:?}");
    }
}
