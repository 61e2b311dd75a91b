//! Backup and restore on a real node: a consistent copy is taken while the node runs, and a
//! restored copy that holds less of the log than the witnesses cosigned halts the node's log
//! at its next start instead of forking it (transparency-log.md §7.4).

use protocol_spec::category::Category::*;
use protocol_spec::staff::{NodeStatus, StaffReply, StaffRequest, SummaryOutcome};
use std::os::unix::fs::PermissionsExt;
use tests::*;

const ASSESS: &str = "coordinated-assessment";

async fn status(s: &Setup, id: &str) -> NodeStatus {
    match call(&s.node(id).admin, StaffRequest::Status).await.unwrap() {
        StaffReply::Status(st) => st,
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_restored_behind_what_the_witnesses_cosigned_halts_the_log() {
    let mut s = Setup::new().await;
    let case = s.case("ne.oai", shared_person(), &["ne.orp"]).await;
    s.consent(
        "ne.oai",
        case,
        &["ne.oai", "ne.orp"],
        &[ASSESS],
        &[Employment],
        (now() - DAY, now() + DAY),
    )
    .await;
    let o = s
        .request("ne.oai", "ne.orp", ASSESS, &[Employment], case)
        .await;
    assert!(matches!(o, SummaryOutcome::Received(_)), "{o:?}");

    // A backup while ne.orp runs: a private file holding its log as committed.
    let config = s.node("ne.orp").config_path();
    let out = s.dir.path().join("orp-backup.db");
    let snap = daemon::backup::backup(&config, &out).unwrap();
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let size_then = status(&s, "ne.orp").await.log_size;
    assert!(snap.log_size > 0 && snap.log_size <= size_then, "{snap:?}");
    let again = daemon::backup::backup(&config, &out).expect_err("never overwrites");
    assert!(format!("{err:#}", err = again).contains("exists"));

    // The log grows and the witnesses cosign the larger size.
    let o = s
        .request("ne.oai", "ne.orp", ASSESS, &[Employment], case)
        .await;
    assert!(matches!(o, SummaryOutcome::Received(_)), "{o:?}");
    let r = call(&s.node("ne.orp").auditor, StaffRequest::LogCheckpoint)
        .await
        .unwrap();
    assert!(matches!(r, StaffReply::Checkpoint { .. }), "{r:?}");
    assert!(status(&s, "ne.orp").await.log_size > snap.log_size);

    // Restoring is refused while a store is in place, then done with --replace, the store in
    // place kept aside.
    s.fed.node_mut("ne.orp").stop().await;
    let err = daemon::backup::restore(&config, &out, false, now()).expect_err("a store exists");
    assert!(format!("{err:#}").contains("--replace"), "{err:#}");
    let (restored, aside) = daemon::backup::restore(&config, &out, true, now()).unwrap();
    assert_eq!(restored.log_size, snap.log_size);
    assert!(aside.expect("moved aside").exists());

    // At its start the node learns from its witnesses that they cosigned more: it halts its
    // log and says so, rather than sign a fork.
    s.fed.node_mut("ne.orp").start().await.unwrap();
    let halted = eventually(30, || async {
        status(&s, "ne.orp").await.log_halted.is_some()
    })
    .await;
    assert!(halted, "{:?}", status(&s, "ne.orp").await);
    s.stop().await;
}
