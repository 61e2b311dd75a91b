//! End-to-end: a node whose disk fills up or turns read-only under it, on either side of an
//! exchange. Nothing is acknowledged that is not durable and nothing disclosed that is not
//! logged; staff are told plainly what is wrong (and nothing personal), peers are answered
//! `unavailable`, `node status` says it, and the node goes on once the disk is fixed.
//!
//! A full disk is a small tmpfs under the node's data directory, filled with a filler file. A
//! read-only one is an ext4 image mounted with `errors=remount-ro`, which the kernel turns
//! read-only under the running node as it does a failing disk: Linux refuses a plain
//! `mount -o remount,ro` while a file on it is open for writing, as a running node's store is.
//!
//! Mounting needs root (CAP_SYS_ADMIN), as CI has; without it each test says it was skipped,
//! and why.

use protocol_spec::category::Category::Employment;
use protocol_spec::ids::CaseId;
use protocol_spec::staff::{NodeStatus, RequestState, StaffReply, StaffRequest, SummaryOutcome};
use std::path::Path;
use tests::disk::Disk;
use tests::*;

const ASSESS: &str = "coordinated-assessment";

/// Whether the test can mount a tmpfs; says why it is skipped if not.
fn mounting_allowed(test: &str) -> bool {
    skipped_unless(test, can_mount(), "it mounts a tmpfs, which needs root")
}

/// Whether the test can mount an ext4 image and have the kernel fail it; says why it is skipped
/// if not.
fn failing_allowed(test: &str) -> bool {
    skipped_unless(
        test,
        can_fail_ext4(),
        "it mounts an ext4 image on a loop device and has the kernel fail it, which needs root",
    )
}

fn skipped_unless(test: &str, allowed: Result<(), String>, needs: &str) -> bool {
    match allowed {
        Ok(()) => true,
        Err(why) => {
            eprintln!("SKIPPED {test}: {needs}: {why}");
            false
        }
    }
}

/// A case between ne.oai and ne.orp with a consent covering employment data.
async fn case(s: &Setup) -> CaseId {
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

/// Stops `id`, puts its data directory on the disk `make` mounts there, and starts it again.
async fn move_to_disk(
    s: &mut Setup,
    id: &str,
    make: impl FnOnce(&Path) -> Result<Disk, String>,
) -> Disk {
    s.fed.node_mut(id).stop().await;
    let disk = make(&s.node(id).dir.join("data")).expect("mounting the node's disk");
    s.fed
        .node_mut(id)
        .start()
        .await
        .expect("the node starts on its new disk");
    disk
}

async fn restart(s: &mut Setup, id: &str) {
    s.fed.node_mut(id).stop().await;
    s.fed.node_mut(id).start().await.expect("the node restarts");
}

fn count(kinds: &[String], kind: &str) -> usize {
    kinds.iter().filter(|k| *k == kind).count()
}

async fn summaries(s: &Setup, id: &str) -> usize {
    match call(&s.node(id).worker, StaffRequest::SummaryList)
        .await
        .expect("summary list")
    {
        StaffReply::Summaries(l) => l.len(),
        other => panic!("{other:?}"),
    }
}

async fn status(node: &NodeHandle) -> NodeStatus {
    match call(&node.admin, StaffRequest::Status)
        .await
        .expect("status")
    {
        StaffReply::Status(s) => s,
        other => panic!("{other:?}"),
    }
}

/// A change an administrator makes at `node` (a write to its store), as the CLI reports it.
async fn admin_change(node: &NodeHandle) -> anyhow::Result<StaffReply> {
    let key = protocol_spec::keys::SigningKey::from_seed(daemon::clock::random());
    call(
        &node.admin,
        StaffRequest::StaffIssue {
            staff: format!("auditor-{}", u32::from_le_bytes(daemon::clock::random()))
                .parse()
                .expect("staff id"),
            role: protocol_spec::ids::Role::Auditor,
            key: key.public(),
        },
    )
    .await
}

/// An error a staff member gets from a node whose store cannot record: `internal` (exit
/// status 6), naming the problem, saying nothing was done, and quoting nothing personal or
/// local (the person, the data directory).
fn assert_store_error(r: anyhow::Result<StaffReply>, problem: &str, node: &NodeHandle) {
    let e = match r {
        Err(e) => e,
        Ok(reply) => panic!("expected an error naming `{problem}`, got {reply:?}"),
    };
    let text = format!("{e:#}");
    assert_eq!(
        cli::output::kind_of(&e),
        cli::output::ErrorKind::Internal,
        "{text}"
    );
    assert_eq!(cli::output::kind_of(&e).code(), 6);
    assert!(text.contains(problem), "{text}");
    assert!(text.contains("nothing was done"), "{text}");
    assert!(!text.contains(&shared_person().digits()), "{text}");
    assert!(!text.contains("Exemple"), "{text}");
    assert!(
        !text.contains(&*node.dir.to_string_lossy()),
        "no path: {text}"
    );
}

/// What the requester's status and queue say about the request to ne.orp.
async fn requester_state(s: &Setup) -> (Vec<RequestState>, Vec<Option<String>>) {
    let StaffReply::Requests(list) = call(&s.node("ne.oai").worker, StaffRequest::RequestList)
        .await
        .expect("request list")
    else {
        panic!()
    };
    let StaffReply::Queue(queue) = call(&s.node("ne.oai").worker, StaffRequest::Queue)
        .await
        .expect("queue")
    else {
        panic!()
    };
    (
        list.into_iter().map(|r| r.state).collect(),
        queue.into_iter().map(|q| q.last_problem).collect(),
    )
}

/// Once the responder can record again, the request queued at ne.oai is delivered, disclosed
/// and received once, and the two logs reconcile.
async fn delivered_once(s: &Setup) {
    let got = eventually(30, || async {
        summaries(s, "ne.oai").await == 1 && outbox_len(s.node("ne.oai")).await == 0
    })
    .await;
    assert!(
        got,
        "the queued request is delivered once the disk is fixed"
    );
    let orp = log_kinds(s.node("ne.orp"));
    let oai = log_kinds(s.node("ne.oai"));
    assert_eq!(count(&orp, "disclosure"), 1, "disclosed once: {orp:?}");
    assert_eq!(count(&oai, "receipt"), 1, "received once: {oai:?}");
    assert_eq!(summaries(s, "ne.oai").await, 1);
    let diffs = reconcile(s.node("ne.orp"), s.node("ne.oai"));
    assert!(
        diffs.is_empty(),
        "every disclosure has its receipt: {diffs:?}"
    );
}

/// ne.orp cannot record: a summary request to it is neither granted nor refused. The requester
/// is told it is queued (the responder decided nothing), keeps no summary, and shows why in its
/// queue; the responder logged no disclosure and says what is wrong with its store.
async fn responder_cannot_record(s: &Setup, case: CaseId, problem: &str) {
    let before = log_kinds(s.node("ne.orp"));
    let r = s
        .try_request("ne.oai", "ne.orp", ASSESS, &[Employment], case)
        .await
        .expect("the requester answers");
    assert_eq!(r, StaffReply::Summary(SummaryOutcome::Queued));
    assert_eq!(cli::output::Status::of(&r).code(), 4);
    assert_eq!(summaries(s, "ne.oai").await, 0, "nothing received");
    let (requests, queue) = requester_state(s).await;
    assert_eq!(requests, vec![RequestState::Pending]);
    assert_eq!(
        queue,
        vec![Some(
            "the responder could not record a decision".to_string()
        )]
    );
    let after = log_kinds(s.node("ne.orp"));
    assert_eq!(before, after, "the responder logged nothing");
    assert_eq!(count(&after, "disclosure"), 0);

    let st = status(s.node("ne.orp")).await;
    let said = st
        .store_problem
        .expect("the responder's status names the problem");
    assert!(said.contains(problem), "{said}");
    // Its own staff are told too.
    assert_store_error(
        admin_change(s.node("ne.orp")).await,
        problem,
        s.node("ne.orp"),
    );
}

/// ne.oai cannot record: a case worker's summary request fails with a clear error, nothing is
/// sent to the responder, and nothing is queued.
async fn requester_cannot_record(s: &Setup, case: CaseId, problem: &str) {
    let before = log_kinds(s.node("ne.orp"));
    let r = s
        .try_request("ne.oai", "ne.orp", ASSESS, &[Employment], case)
        .await;
    assert_store_error(r, problem, s.node("ne.oai"));
    assert_eq!(
        log_kinds(s.node("ne.orp")),
        before,
        "the responder was not asked"
    );
    assert_eq!(requester_state(s).await, (vec![], vec![]));
    let said = status(s.node("ne.oai"))
        .await
        .store_problem
        .expect("the requester's status names the problem");
    assert!(said.contains(problem), "{said}");
}

const FULL: &str = "the node's store is full: no space left on its disk";

/// What a store on an ext4 file system the kernel turned read-only is said to be: read-only
/// where the kernel refuses writes as such (EROFS); on kernels that shut the file system down
/// instead (EIO), a disk error.
fn failed_disk_problem(disk: &Disk) -> &'static str {
    match disk.probe() {
        Err(e) if e.kind() == std::io::ErrorKind::ReadOnlyFilesystem => {
            "the node's store is read-only"
        }
        Err(_) => "the node's store could not be written: its disk reported an error",
        Ok(()) => panic!("the failed file system still takes writes"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_at_the_responder_discloses_nothing_until_space_is_freed() {
    if !mounting_allowed("a_full_disk_at_the_responder_discloses_nothing_until_space_is_freed") {
        return;
    }
    let mut s = Setup::new().await;
    let case = case(&s).await;
    let disk = move_to_disk(&mut s, "ne.orp", |d| Disk::tmpfs(d, 16 << 20)).await;
    disk.fill();

    responder_cannot_record(&s, case, FULL).await;

    // Space is freed: the requester's queued retry goes through, once, with no restart.
    disk.free();
    delivered_once(&s).await;
    assert_eq!(
        status(s.node("ne.orp")).await.store_problem,
        None,
        "the status no longer reports a problem once a write succeeded"
    );
    assert!(matches!(
        admin_change(s.node("ne.orp")).await,
        Ok(StaffReply::Done)
    ));
    s.stop().await;
    drop(disk);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_at_the_requester_sends_nothing_until_space_is_freed() {
    if !mounting_allowed("a_full_disk_at_the_requester_sends_nothing_until_space_is_freed") {
        return;
    }
    let mut s = Setup::new().await;
    let case = case(&s).await;
    let disk = move_to_disk(&mut s, "ne.oai", |d| Disk::tmpfs(d, 16 << 20)).await;
    disk.fill();

    requester_cannot_record(&s, case, FULL).await;

    disk.free();
    let o = s
        .request("ne.oai", "ne.orp", ASSESS, &[Employment], case)
        .await;
    assert!(matches!(o, SummaryOutcome::Received(_)), "{o:?}");
    assert_eq!(status(s.node("ne.oai")).await.store_problem, None);
    assert_eq!(count(&log_kinds(s.node("ne.orp")), "disclosure"), 1);
    assert!(reconcile(s.node("ne.orp"), s.node("ne.oai")).is_empty());
    s.stop().await;
    drop(disk);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_turned_read_only_under_the_responder_discloses_nothing_until_repaired() {
    if !failing_allowed(
        "a_store_turned_read_only_under_the_responder_discloses_nothing_until_repaired",
    ) {
        return;
    }
    let mut s = Setup::new().await;
    let case = case(&s).await;
    let disk = move_to_disk(&mut s, "ne.orp", |d| Disk::ext4(d, 32 << 20)).await;
    disk.fail().expect("the kernel fails the file system");
    let problem = failed_disk_problem(&disk);

    responder_cannot_record(&s, case, problem).await;
    // The node cannot make its disk writable again by itself; the status says what to do.
    let said = status(s.node("ne.orp")).await.store_problem.unwrap();
    assert!(said.contains("restart the node"), "{said}");

    // The administrator stops the node, repairs the file system and starts the node again.
    s.fed.node_mut("ne.orp").stop().await;
    disk.repair().expect("repairing the file system");
    s.fed
        .node_mut("ne.orp")
        .start()
        .await
        .expect("the node starts on its repaired disk");
    assert_eq!(status(s.node("ne.orp")).await.store_problem, None);
    delivered_once(&s).await;
    s.stop().await;
    drop(disk);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_turned_read_only_under_the_requester_sends_nothing_until_repaired() {
    if !failing_allowed("a_store_turned_read_only_under_the_requester_sends_nothing_until_repaired")
    {
        return;
    }
    let mut s = Setup::new().await;
    let case = case(&s).await;
    let disk = move_to_disk(&mut s, "ne.oai", |d| Disk::ext4(d, 32 << 20)).await;
    disk.fail().expect("the kernel fails the file system");
    let problem = failed_disk_problem(&disk);

    requester_cannot_record(&s, case, problem).await;

    s.fed.node_mut("ne.oai").stop().await;
    disk.repair().expect("repairing the file system");
    s.fed
        .node_mut("ne.oai")
        .start()
        .await
        .expect("the node starts on its repaired disk");
    let o = s
        .request("ne.oai", "ne.orp", ASSESS, &[Employment], case)
        .await;
    assert!(matches!(o, SummaryOutcome::Received(_)), "{o:?}");
    assert_eq!(count(&log_kinds(s.node("ne.orp")), "disclosure"), 1);
    assert!(reconcile(s.node("ne.orp"), s.node("ne.oai")).is_empty());
    s.stop().await;
    drop(disk);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_refuses_to_start_on_a_read_only_or_full_store_and_starts_once_fixed() {
    if !mounting_allowed(
        "a_node_refuses_to_start_on_a_read_only_or_full_store_and_starts_once_fixed",
    ) {
        return;
    }
    let mut s = Setup::new().await;
    let case = case(&s).await;
    let disk = move_to_disk(&mut s, "ne.oai", |d| Disk::tmpfs(d, 16 << 20)).await;
    s.fed.node_mut("ne.oai").stop().await;
    let data = s.node("ne.oai").dir.join("data");

    let start_error = |e: anyhow::Result<()>| match e {
        Ok(()) => panic!("the node started on a store it cannot write"),
        Err(e) => format!("{e:#}"),
    };
    disk.remount(true).expect("remounting read-only");
    let e = start_error(s.fed.node_mut("ne.oai").start().await);
    assert!(
        e.contains(&format!(
            "cannot start on the store in {}: the node's store is read-only",
            data.display()
        )),
        "{e}"
    );
    disk.remount(false).expect("remounting read-write");

    disk.fill();
    let e = start_error(s.fed.node_mut("ne.oai").start().await);
    assert!(
        e.contains(&format!(
            "cannot start on the store in {}: {FULL}",
            data.display()
        )),
        "{e}"
    );

    disk.free();
    s.fed
        .node_mut("ne.oai")
        .start()
        .await
        .expect("the node starts once its disk is fixed");
    let o = s
        .request("ne.oai", "ne.orp", ASSESS, &[Employment], case)
        .await;
    assert!(matches!(o, SummaryOutcome::Received(_)), "{o:?}");
    restart(&mut s, "ne.oai").await;
    assert_eq!(summaries(&s, "ne.oai").await, 1, "kept across the restart");
    s.stop().await;
    drop(disk);
}
