//! Crash loop: the nodes run as real `passerelled` processes and are killed with SIGKILL, again
//! and again, while a case worker keeps requesting summaries; each is restarted from its store.
//! Afterwards nothing acknowledged is missing, nothing was disclosed twice, and every disclosure
//! has its receipt (or the requester's record of why it did not keep it).
//!
//! CI runs a few cycles; `PASSERELLE_CRASH_CYCLES=120 cargo test -p daemon --test crash_loop
//! -- --nocapture` runs the long version.

use protocol_spec::category::Category::Employment;
use protocol_spec::entry::LogEntry;
use protocol_spec::staff::{StaffReply, StaffRequest, SummaryOutcome};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tests::*;

struct NodeProcess {
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl NodeProcess {
    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("node log file");
        let child = Command::new(env!("CARGO_BIN_EXE_passerelled"))
            .arg("--config")
            .arg(&self.config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("passerelled starts");
        self.child = Some(child);
    }

    /// SIGKILL: no shutdown, no goodbye to peers, whatever is not committed is lost.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

async fn wait_ready(node: &NodeHandle) {
    let ok = eventually(30, || async {
        call(&node.admin, StaffRequest::Status).await.is_ok()
    })
    .await;
    assert!(ok, "{} did not come back", node.id);
}

fn entries(dir: &Path) -> Vec<LogEntry> {
    let db = node_core::store::open(&dir.join("data/node.db")).expect("store");
    let mut st = db
        .prepare("SELECT entry FROM log_entries ORDER BY idx")
        .unwrap();
    st.query_map([], |r| r.get::<_, Vec<u8>>(0))
        .unwrap()
        .map(|e| LogEntry::parse(&e.unwrap()).expect("entry"))
        .collect()
}

/// Request digest → request id, for every version the requester signed.
fn request_ids(dir: &Path) -> HashMap<String, String> {
    let db = node_core::store::open(&dir.join("data/node.db")).expect("store");
    let mut st = db
        .prepare("SELECT digest, request_id FROM request_versions")
        .unwrap();
    st.query_map([], |r| {
        Ok((
            hex::encode(r.get::<_, Vec<u8>>(0)?),
            hex::encode(r.get::<_, Vec<u8>>(1)?),
        ))
    })
    .unwrap()
    .map(|r| r.unwrap())
    .collect()
}

fn summaries(dir: &Path) -> HashSet<String> {
    let db = node_core::store::open(&dir.join("data/node.db")).expect("store");
    let mut st = db.prepare("SELECT summary_id FROM summaries").unwrap();
    st.query_map([], |r| r.get::<_, Vec<u8>>(0))
        .unwrap()
        .map(|r| hex::encode(r.unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_nothing_acknowledged_and_discloses_nothing_twice() {
    let cycles: usize = std::env::var("PASSERELLE_CRASH_CYCLES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(4);
    let mut s = Setup::new().await;
    let case = s.case("ne.oai", shared_person(), &["ne.orp"]).await;
    s.consent(
        "ne.oai",
        case,
        &["ne.oai", "ne.orp"],
        &["coordinated-assessment"],
        &[Employment],
        (now() - DAY, now() + 30 * DAY),
    )
    .await;
    // From here on the nodes are processes.
    s.fed.stop().await;
    let mut procs: HashMap<&str, NodeProcess> = HashMap::new();
    for id in ["ne.orp", "ne.oai", "ne.sas"] {
        let mut p = NodeProcess {
            config: s.node(id).config_path(),
            log: s.node(id).dir.join("passerelled.log"),
            child: None,
        };
        p.start();
        procs.insert(id, p);
    }
    for id in ["ne.orp", "ne.oai", "ne.sas"] {
        wait_ready(s.node(id)).await;
    }

    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let unknown = Arc::new(Mutex::new(0u64));
    let mut load = Vec::new();
    for _ in 0..3 {
        let w = &s.node("ne.oai").worker;
        let worker = cli::credential::Credential::new(
            w.staff.clone(),
            w.institution.clone(),
            w.role,
            w.node_address.clone(),
            w.node_key,
            protocol_spec::keys::SigningKey::from_seed(*w.key.seed()),
        );
        let (stop, acknowledged, unknown) = (stop.clone(), acknowledged.clone(), unknown.clone());
        let from = s.id("ne.orp");
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let r = call(
                    &worker,
                    StaffRequest::SummaryRequest {
                        case_id: case,
                        from: from.clone(),
                        purpose: "coordinated-assessment".parse().unwrap(),
                        categories: vec![Employment],
                    },
                )
                .await;
                match r {
                    Ok(StaffReply::Summary(SummaryOutcome::Received(info))) => acknowledged
                        .lock()
                        .unwrap()
                        .push(hex::encode(info.summary_id.0)),
                    Ok(StaffReply::Summary(SummaryOutcome::Refused { code })) => {
                        panic!("refused under a valid consent: {code:?}")
                    }
                    _ => {
                        *unknown.lock().unwrap() += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        }));
    }
    for cycle in 0..cycles {
        tokio::time::sleep(Duration::from_millis(400 + 250 * (cycle as u64 % 4))).await;
        // The responder and the requester take turns crashing.
        let victim = if cycle % 2 == 0 { "ne.orp" } else { "ne.oai" };
        let p = procs.get_mut(victim).unwrap();
        p.kill();
        tokio::time::sleep(Duration::from_millis(150)).await;
        p.start();
        wait_ready(s.node(victim)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for l in load {
        l.await.expect("load task");
    }
    // Queued requests are delivered and settled.
    let drained = eventually(90, || async { outbox_len(s.node("ne.oai")).await == 0 }).await;
    for p in procs.values_mut() {
        p.kill();
    }
    assert!(
        drained,
        "the requester's outbox drains once both nodes are up"
    );

    let orp = entries(&s.node("ne.orp").dir);
    let oai = entries(&s.node("ne.oai").dir);
    let ids = request_ids(&s.node("ne.oai").dir);
    let kept = summaries(&s.node("ne.oai").dir);
    let acknowledged = acknowledged.lock().unwrap().clone();

    // Nothing acknowledged is lost: every summary reported received is stored.
    let lost: Vec<&String> = acknowledged.iter().filter(|a| !kept.contains(*a)).collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    assert!(!acknowledged.is_empty(), "the load made progress");

    // Nothing is disclosed twice: at most one disclosure entry per request id.
    let requests = |log: &[LogEntry], kind: &str| -> Vec<String> {
        log.iter()
            .filter(|e| e.kind() == kind)
            .filter_map(|e| e.request().map(hex::encode))
            .collect()
    };
    let disclosures = requests(&orp, "disclosure");
    let mut per_request: HashMap<&str, usize> = HashMap::new();
    for d in &disclosures {
        let id = ids
            .get(d)
            .map(String::as_str)
            .expect("every disclosure answers a request the requester recorded");
        *per_request.entry(id).or_default() += 1;
    }
    let twice: Vec<_> = per_request.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "disclosed more than once: {twice:?}");
    let receipts: HashMap<String, usize> =
        requests(&oai, "receipt")
            .into_iter()
            .fold(HashMap::new(), |mut m, r| {
                *m.entry(r).or_default() += 1;
                m
            });
    assert!(
        receipts.values().all(|n| *n == 1),
        "one receipt per disclosure"
    );
    assert_eq!(receipts.len(), kept.len(), "one stored summary per receipt");

    // Every disclosure has its receipt, or the requester's record of why it kept nothing.
    let withdrawn: HashSet<String> = requests(&oai, "request-withdrawn").into_iter().collect();
    let unreconciled: Vec<&String> = disclosures
        .iter()
        .filter(|d| !receipts.contains_key(*d) && !withdrawn.contains(*d))
        .collect();
    assert!(
        unreconciled.is_empty(),
        "disclosures without receipt: {unreconciled:?}"
    );
    eprintln!(
        "crash cycles {cycles}: acknowledged {}, outcome unknown to the client {}, disclosures {}, lost 0, duplicated 0, unreconciled 0",
        acknowledged.len(),
        unknown.lock().unwrap(),
        disclosures.len()
    );
}
