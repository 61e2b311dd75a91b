//! Backup and restore on a real node: a consistent copy is taken while the node runs; a
//! restored copy that holds less of the log than the witnesses cosigned does not start until
//! the loss is declared and the log given a new key, and the declared loss is then in the log
//! for auditors (transparency-log.md §7.4, §7.6).

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
async fn a_backup_restored_behind_what_the_witnesses_cosigned_starts_only_once_the_loss_is_declared()
 {
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
    let status_before_restore = status(&s, "ne.orp").await;
    assert!(status_before_restore.log_size > snap.log_size);

    // Restoring is refused while a store is in place, then done with --replace, the store in
    // place kept aside.
    s.fed.node_mut("ne.orp").stop().await;
    let err = daemon::backup::restore(&config, &out, false, now()).expect_err("a store exists");
    assert!(format!("{err:#}").contains("--replace"), "{err:#}");
    let (restored, aside) = daemon::backup::restore(&config, &out, true, now()).unwrap();
    assert_eq!(restored.log_size, snap.log_size);
    assert!(aside.expect("moved aside").exists());

    // At its start the node asks its witnesses before serving; they cosigned more: it does not
    // start, and says how far behind it is, rather than sign a fork.
    let behind = status_before_restore.log_size;
    let refused = s
        .fed
        .node_mut("ne.orp")
        .start()
        .await
        .expect_err("behind its witnesses");
    let msg = format!("{refused:#}");
    assert!(
        msg.contains("behind")
            && msg.contains(&format!("the restored store holds {}", snap.log_size))
            && msg.contains("declare-loss"),
        "{msg}"
    );
    assert!(behind > snap.log_size);
    // It keeps refusing until the administrator acts.
    let again = s
        .fed
        .node_mut("ne.orp")
        .start()
        .await
        .expect_err("still behind");
    assert!(format!("{again:#}").contains("behind"), "{again:#}");

    // No newer copy: the administrator declares the loss. The log goes on only under a new
    // log key, so the node still refuses until the steering group gave it one.
    let declared = daemon::backup::declare_loss(&config).unwrap();
    assert_eq!(declared.kept, snap.log_size);
    assert!(declared.cosigned > snap.log_size, "{declared:?}");
    let refused = s
        .fed
        .node_mut("ne.orp")
        .start()
        .await
        .expect_err("same log key");
    assert!(
        format!("{refused:#}").contains("new log key"),
        "{refused:#}"
    );

    let prepared = cli::rotation::prepare(&config, &[cli::rotation::KeyKind::Log]).unwrap();
    let entry = cli::federation::load_member(&prepared.member).unwrap();
    let roster = s.fed.roster.clone();
    cli::federation::edit(&roster, now(), |r| {
        r.version += 1;
        cli::federation::rotate_member(r, &entry).map(|_| ())
    })
    .unwrap();
    for key in [&s.fed.authority_keys[0], &s.fed.authority_keys[2]] {
        cli::federation::sign(&roster, key).unwrap();
    }
    let v2 = cli::federation::load_roster(&roster).unwrap();
    call(&s.node("ne.oai").admin, StaffRequest::InstallRoster(v2))
        .await
        .unwrap();
    cli::rotation::activate(&config, &roster, true, now()).unwrap();
    s.fed.node_mut("ne.orp").start().await.unwrap();

    // The loss is in the log, and the witnesses cosign the log again under its new key.
    let losses: Vec<_> = log_entries(s.node("ne.orp"))
        .into_iter()
        .filter_map(|e| match e {
            protocol_spec::entry::LogEntry::LogLoss(l) => Some(l),
            _ => None,
        })
        .collect();
    assert_eq!(losses.len(), 1, "one declared loss");
    assert_eq!(losses[0].kept, snap.log_size);
    assert_eq!(losses[0].cosigned, declared.cosigned);
    assert_eq!(losses[0].witness, declared.witness);
    assert_eq!(status(&s, "ne.orp").await.log_halted, None);
    let bundle = s.dir.path().join("audit-after-loss");
    let opts = cli::audit::ExportOptions {
        wait: std::time::Duration::from_secs(60),
        allow_uncosigned: false,
    };
    let e = cli::audit::export(&s.node("ne.orp").auditor, &bundle, &opts)
        .await
        .unwrap();
    assert!(e.verified.report.ok(), "{:?}", e.verified.report.findings);
    assert_eq!(e.verified.declared_losses.len(), 1);
    assert!(
        e.verified.declared_losses[0].contains(&format!(
            "had cosigned {} entries, the restored store kept {}",
            declared.cosigned, snap.log_size
        )),
        "{:?}",
        e.verified.declared_losses
    );
    // Exchanges go on.
    let o = s
        .request("ne.oai", "ne.orp", ASSESS, &[Employment], case)
        .await;
    assert!(matches!(o, SummaryOutcome::Received(_)), "{o:?}");
    s.stop().await;
}

/// The files beside the store that a restore would have moved aside.
fn moved_aside(data: &std::path::Path) -> Vec<std::ffi::OsString> {
    std::fs::read_dir(data)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().contains("replaced"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_is_refused_while_the_node_runs_with_or_without_replace() {
    let mut s = Setup::new().await;
    let config = s.node("ne.orp").config_path();
    let out = s.dir.path().join("orp-backup.db");
    daemon::backup::backup(&config, &out).unwrap();
    let data = config.parent().unwrap().join("data");
    assert!(data.join("node.db").exists());

    for replace in [false, true] {
        let err =
            daemon::backup::restore(&config, &out, replace, now()).expect_err("the node runs");
        let msg = format!("{err:#}");
        assert!(
            msg.contains("the node is running") && msg.contains("stop it first"),
            "--replace {replace}: {msg}"
        );
        assert!(moved_aside(&data).is_empty(), "the store stays in place");
    }
    // The node goes on serving from its store.
    assert!(status(&s, "ne.orp").await.log_size > 0);
    let err = daemon::backup::declare_loss(&config).expect_err("the node runs");
    assert!(
        format!("{err:#}").contains("the node is running"),
        "{err:#}"
    );

    // Once it stopped, the same restore is done.
    s.fed.node_mut("ne.orp").stop().await;
    let (_, aside) = daemon::backup::restore(&config, &out, true, now()).unwrap();
    assert!(aside.expect("moved aside").exists());
    // And a node does not start while a restore works on its store.
    let restoring = daemon::lock::try_acquire(&data).unwrap().expect("free");
    let refused = s.fed.node_mut("ne.orp").start().await.expect_err("locked");
    assert!(format!("{refused:#}").contains("is locked"), "{refused:#}");
    drop(restoring);
    s.stop().await;
}
