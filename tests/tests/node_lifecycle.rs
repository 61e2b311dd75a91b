//! End-to-end: start-up checks, staff credentials and roles, roster updates, bad frames.

use protocol_spec::category::Category::*;
use protocol_spec::exchange::{Refusal, RefusalCode};
use protocol_spec::peer::{PeerMessage, PeerReply};
use protocol_spec::roster::SignedRoster;
use protocol_spec::staff::{StaffReply, StaffRequest};
use protocol_spec::wire::{MAX_FRAME_LEN, PROTOCOL_VERSION};
use std::path::Path;
use tests::*;

fn load_err(config: &Path) -> String {
    match daemon::config::NodeConfig::load(config) {
        Ok(_) => panic!("config {} should be refused", config.display()),
        Err(e) => format!("{e:#}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_refuses_to_start_on_bad_config_keys_or_roster() {
    let s = Setup::new().await;
    let node = s.node("ne.orp");
    let dir = tempfile::tempdir().unwrap();
    // Work on a copy of the node's directory so the running node is untouched.
    let copy = dir.path().join("ne.orp");
    copy_dir(&node.dir, &copy, &["data"]);
    let cfg = copy.join("node.toml");
    let original = std::fs::read_to_string(&cfg).unwrap();

    // Corrupt config.
    std::fs::write(&cfg, "institution = [").unwrap();
    assert!(load_err(&cfg).contains("invalid"), "{}", load_err(&cfg));
    // Unknown setting.
    std::fs::write(&cfg, format!("{original}\nsurprise = 1\n")).unwrap();
    assert!(load_err(&cfg).contains("surprise"));
    std::fs::write(&cfg, &original).unwrap();

    // Missing key file.
    let key = copy.join("keys/signing.key");
    let key_text = std::fs::read_to_string(&key).unwrap();
    std::fs::remove_file(&key).unwrap();
    assert!(load_err(&cfg).contains("signing.key"));
    // Key readable by others.
    std::fs::write(&key, &key_text).unwrap();
    set_mode(&key, 0o644);
    assert!(load_err(&cfg).contains("chmod 600"));
    // Garbage key.
    set_mode(&key, 0o600);
    std::fs::write(&key, "not a key\n").unwrap();
    set_mode(&key, 0o600);
    assert!(load_err(&cfg).contains("signing key file"));
    std::fs::write(&key, &key_text).unwrap();
    set_mode(&key, 0o600);

    // Roster below threshold: drop one of the two signatures.
    let roster_path = copy.join("roster.toml");
    let mut roster: SignedRoster = cli::federation::load_roster(&roster_path).unwrap();
    let full = roster.clone();
    roster.signatures.pop();
    cli::federation::save_roster(&roster_path, &roster).unwrap();
    assert!(
        load_err(&cfg).contains("below the threshold"),
        "{}",
        load_err(&cfg)
    );

    // A validly signed roster that does not list this institution.
    let mut other = full.roster.clone();
    cli::federation::remove_member(&mut other, &"ne.orp".parse().unwrap(), &Default::default())
        .unwrap();
    let keys: Vec<_> = s
        .fed
        .authority_keys
        .iter()
        .map(|p| {
            protocol_spec::keys::SigningKey::from_file(&std::fs::read_to_string(p).unwrap())
                .unwrap()
        })
        .collect();
    let signed = SignedRoster::sign(other, &[&keys[0], &keys[1]]);
    cli::federation::save_roster(&roster_path, &signed).unwrap();
    assert!(
        load_err(&cfg).contains("does not list this institution"),
        "{}",
        load_err(&cfg)
    );

    // And the intact copy loads.
    cli::federation::save_roster(&roster_path, &full).unwrap();
    daemon::config::NodeConfig::load(&cfg).expect("intact config loads");
    s.stop().await;
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_roles_are_enforced_and_revocation_takes_effect() {
    let s = Setup::new().await;
    let orp = s.node("ne.orp");
    // An auditor may not open cases; a case worker may not import records or issue staff.
    let e = call(&orp.auditor, StaffRequest::CaseList)
        .await
        .unwrap_err();
    assert!(format!("{e:#}").contains("case-worker role"), "{e:#}");
    let e = call(&orp.worker, StaffRequest::StaffList)
        .await
        .unwrap_err();
    assert!(format!("{e:#}").contains("admin role"), "{e:#}");
    let StaffReply::Me(me) = call(&orp.worker, StaffRequest::WhoAmI).await.unwrap() else {
        panic!()
    };
    assert_eq!(me.staff.as_str(), "case-worker-1");

    call(
        &orp.admin,
        StaffRequest::StaffRevoke {
            staff: orp.worker.staff.clone(),
        },
    )
    .await
    .unwrap();
    let e = call(&orp.worker, StaffRequest::CaseList)
        .await
        .expect_err("a revoked credential no longer reaches the node");
    // Said plainly, not as a lost connection or a TLS error number.
    assert!(
        format!("{e:#}").contains("not registered there, or it was revoked"),
        "{e:#}"
    );
    let StaffReply::Staff(list) = call(&orp.admin, StaffRequest::StaffList).await.unwrap() else {
        panic!()
    };
    assert!(
        list.iter()
            .any(|m| m.staff.as_str() == "case-worker-1" && m.revoked)
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roster_update_removes_a_member_and_closes_its_connections() {
    let mut s = Setup::new().await;
    let sas_key = s.node("ne.sas").signing_key().unwrap();
    // While ne.sas is down (it stays down), an invitation to it waits in ne.orp's outbox.
    s.fed.node_mut("ne.sas").stop().await;
    let r = call(
        &s.node("ne.orp").worker,
        StaffRequest::CaseOpen {
            person: shared_person(),
            invite: vec![s.id("ne.sas")],
        },
    )
    .await
    .unwrap();
    let StaffReply::CaseOpened { delivered, .. } = r else {
        panic!("{r:?}")
    };
    assert!(!delivered[0].delivered);
    let conn = s
        .raw_peer(&sas_key, "ne.orp")
        .await
        .expect("ne.sas is a member");

    // The steering group drafts version 2 without ne.sas and two authorities sign it.
    let roster = &s.fed.roster;
    let now = now();
    cli::federation::edit(roster, now, |r| {
        r.version += 1;
        cli::federation::remove_member(r, &"ne.sas".parse().unwrap(), &Default::default())
    })
    .unwrap();
    cli::federation::sign(roster, &s.fed.authority_keys[1]).unwrap();
    let one_signature = cli::federation::load_roster(roster).unwrap();
    let e = call(
        &s.node("ne.orp").admin,
        StaffRequest::InstallRoster(one_signature),
    )
    .await
    .unwrap_err();
    assert!(format!("{e:#}").contains("below the threshold"), "{e:#}");
    cli::federation::sign(roster, &s.fed.authority_keys[2]).unwrap();
    let v2 = cli::federation::load_roster(roster).unwrap();
    let StaffReply::RosterInstalled { version } = call(
        &s.node("ne.orp").admin,
        StaffRequest::InstallRoster(v2.clone()),
    )
    .await
    .unwrap() else {
        panic!()
    };
    assert_eq!(version, 2);

    // The open connection of the removed member is closed, and a new one is refused.
    tokio::time::timeout(std::time::Duration::from_secs(5), conn.closed())
        .await
        .expect("connection closed");
    assert!(s.raw_peer(&sas_key, "ne.orp").await.is_err());
    // ne.orp passed the roster on: ne.oai adopts it too.
    let mut adopted = false;
    for _ in 0..50 {
        if let StaffReply::Status(st) = call(&s.node("ne.oai").worker, StaffRequest::Status)
            .await
            .unwrap()
            && st.roster_version == 2
        {
            adopted = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(adopted, "the newer roster propagates to other members");
    // The queued invitation to the removed member is dropped, not retried forever.
    let mut outbox = u64::MAX;
    for _ in 0..50 {
        let StaffReply::Status(st) = call(&s.node("ne.orp").admin, StaffRequest::Status)
            .await
            .unwrap()
        else {
            panic!()
        };
        outbox = st.outbox;
        if outbox == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(outbox, 0, "nothing stays queued for a member that left");
    // An older roster is refused.
    let e = call(&s.node("ne.orp").admin, StaffRequest::InstallRoster(v2))
        .await
        .unwrap_err();
    assert!(format!("{e:#}").contains("not newer"), "{e:#}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_oversized_and_unknown_version_frames_get_clear_errors() {
    let s = Setup::new().await;
    let key = s.node("ne.oai").signing_key().unwrap();
    let conn = s.raw_peer(&key, "ne.orp").await.unwrap();
    let reply = |bytes: Vec<u8>| {
        let conn = conn.clone();
        async move {
            let body = daemon::transport::request_raw(&conn, &bytes)
                .await
                .expect("the node answers");
            protocol_spec::wire::decode_body::<PeerReply>(&body).expect("answer is a valid frame")
        }
    };
    // Garbage payload.
    let mut garbage = vec![0, 0, 0, 6];
    garbage.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    garbage.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
    let PeerReply::Rejected { reason } = reply(garbage).await else {
        panic!()
    };
    assert!(reason.contains("malformed"), "{reason}");
    // Unknown version.
    let mut v9 = protocol_spec::wire::encode_frame(&PeerMessage::Roster(
        cli::federation::load_roster(&s.fed.roster).unwrap().into(),
    ))
    .unwrap();
    v9[4..6].copy_from_slice(&9u16.to_be_bytes());
    let PeerReply::Rejected { reason } = reply(v9).await else {
        panic!()
    };
    assert!(
        reason.contains("unsupported protocol version 9"),
        "{reason}"
    );
    // Oversized: the length alone is refused, before any body is read.
    let big = ((MAX_FRAME_LEN + 1) as u32).to_be_bytes().to_vec();
    let PeerReply::Rejected { reason } = reply(big).await else {
        panic!()
    };
    assert!(reason.contains("exceeds the limit"), "{reason}");
    // The node is still healthy afterwards.
    let case = s.case("ne.oai", shared_person(), &["ne.orp"]).await;
    s.consent(
        "ne.oai",
        case,
        &["ne.oai", "ne.orp"],
        &["coordinated-assessment"],
        &[Employment],
        (now() - DAY, now() + DAY),
    )
    .await;
    let o = s
        .request(
            "ne.oai",
            "ne.orp",
            "coordinated-assessment",
            &[Employment],
            case,
        )
        .await;
    assert!(
        matches!(o, protocol_spec::staff::SummaryOutcome::Received(_)),
        "{o:?}"
    );
    let _ = Refusal {
        code: RefusalCode::Malformed,
    };
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_import_leaves_nothing_behind() {
    let s = Setup::new().await;
    let bad = records_dir().join("bad-persons.csv");
    let e = cli::records::read_records(&[bad]).unwrap_err();
    let msg = format!("{e:#}");
    assert!(
        msg.contains("bad-persons.csv:"),
        "each rejected row is named with its line: {msg}"
    );
    assert!(msg.contains("nothing was imported"));
    let StaffReply::Status(before) = call(&s.node("ne.orp").admin, StaffRequest::Status)
        .await
        .unwrap()
    else {
        panic!()
    };
    // Even a set that passes the CLI but names an unknown person is refused whole by the node.
    let mut set = cli::records::read_records(&[records_dir().join("ne.orp-persons.csv")]).unwrap();
    let orphan = cli::records::read_records(&[records_dir().join("ne.oai-fields.csv")]).unwrap();
    let mut field = orphan.fields[0].clone();
    field.avs = sas_only_person(); // known at ne.sas only, not at ne.orp
    set.fields.push(field);
    let e = call(&s.node("ne.orp").admin, StaffRequest::ImportRecords(set))
        .await
        .unwrap_err();
    assert!(format!("{e:#}").contains("nothing was imported"), "{e:#}");
    let StaffReply::Status(after) = call(&s.node("ne.orp").admin, StaffRequest::Status)
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(before.persons, after.persons);
    assert_eq!(
        before.log_size, after.log_size,
        "no log entry for a rejected import"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_log_store_disagrees_with_its_signed_checkpoint_refuses_to_start() {
    let mut s = Setup::new().await;
    let StaffReply::Checkpoint { .. } =
        call(&s.node("ne.orp").auditor, StaffRequest::LogCheckpoint)
            .await
            .unwrap()
    else {
        panic!()
    };
    s.fed.node_mut("ne.orp").stop().await;
    let db = s.node("ne.orp").dir.join("data/node.db");

    // One entry's leaf hash altered, then entries removed: either way the log no longer
    // produces the signed root, and the node refuses to start.
    for (tampering, expected) in [
        (
            "UPDATE log_entries SET leaf_hash = zeroblob(32) WHERE idx = 1",
            "entries were altered",
        ),
        ("DELETE FROM log_entries WHERE idx >= 1", "truncated"),
    ] {
        let conn = node_core::store::open(&db).unwrap();
        conn.execute(tampering, []).unwrap();
        drop(conn);
        let cfg = daemon::config::NodeConfig::load(&s.node("ne.orp").config_path()).unwrap();
        let e = daemon::start(cfg, tokio_util::sync::CancellationToken::new())
            .await
            .err()
            .expect("refuses to start");
        assert!(format!("{e:#}").contains(expected), "{e:#}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_over_its_connection_share_is_refused_and_others_are_still_served() {
    let s = Setup::new().await;
    let key = s.node("ne.oai").signing_key().unwrap();
    // node.toml's default: 8 connections per key.
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(s.raw_peer(&key, "ne.orp").await.expect("within the share"));
    }
    assert!(
        s.raw_peer(&key, "ne.orp").await.is_err(),
        "a ninth connection from the same key is refused"
    );
    // Another member and the staff are served meanwhile.
    let sas = s.node("ne.sas").signing_key().unwrap();
    assert!(s.raw_peer(&sas, "ne.orp").await.is_ok());
    assert!(
        call(&s.node("ne.orp").admin, StaffRequest::Status)
            .await
            .is_ok()
    );
    // Closing one frees its place.
    held.pop().unwrap().close(0u32.into(), b"done");
    let again = eventually(5, || async { s.raw_peer(&key, "ne.orp").await.is_ok() }).await;
    assert!(again, "a closed connection gives its place back");
    s.stop().await;
}
