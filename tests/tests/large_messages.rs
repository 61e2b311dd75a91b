//! Messages larger than one frame (spec §3.1): a roster of 10,000 members installed,
//! propagated and served, a 10 MiB records import, and any other message refused when it
//! spans frames.

use protocol_spec::avs::check_digit;
use protocol_spec::category::Category;
use protocol_spec::keys::{EncryptionKey, SigningKey, sha256};
use protocol_spec::peer::{PeerMessage, PeerReply};
use protocol_spec::roster::{Member, SignedRoster};
use protocol_spec::staff::{StaffReply, StaffRequest, SummaryOutcome};
use protocol_spec::wire::{MAX_FRAME_LEN, encode_message};
use std::time::{Duration, Instant};
use tests::*;

fn synthetic_member(i: u64) -> Member {
    let key = |what: &[u8]| SigningKey::from_seed(sha256(&[what, &i.to_be_bytes()])).public();
    Member {
        id: format!("large.m{i}").parse().unwrap(),
        name: format!("Member {i}"),
        sector: "social-aid".parse().unwrap(),
        address: "127.0.0.1:9".into(),
        signing_key: key(b"signing"),
        encryption_key: EncryptionKey::from_secret(sha256(&[b"encryption", &i.to_be_bytes()]))
            .public(),
        log_key: key(b"log"),
        witness_key: key(b"witness"),
        witnesses: vec![],
        witness_quorum: 0,
    }
}

async fn status(s: &Setup, at: &str) -> protocol_spec::staff::NodeStatus {
    match call(&s.node(at).admin, StaffRequest::Status).await.unwrap() {
        StaffReply::Status(st) => st,
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_roster_of_ten_thousand_members_is_installed_propagated_and_served() {
    let s = Setup::new().await;
    let StaffReply::Roster(current) = call(&s.node("ne.oai").auditor, StaffRequest::Roster)
        .await
        .unwrap()
    else {
        panic!("no roster")
    };
    let mut roster = current.roster.clone();
    roster.version += 1;
    roster.issued_at = now();
    roster.members.extend((0..10_000).map(synthetic_member));
    let keys: Vec<SigningKey> = s
        .fed
        .authority_keys
        .iter()
        .map(|p| SigningKey::from_file(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect();
    let threshold = usize::from(current.roster.authorities.threshold);
    let signed = SignedRoster::sign(roster, &keys.iter().take(threshold).collect::<Vec<_>>());
    let encoded = postcard::to_stdvec(&signed).unwrap().len();
    assert!(
        encoded > MAX_FRAME_LEN,
        "the roster must not fit one frame: {encoded} bytes"
    );

    match call(
        &s.node("ne.oai").admin,
        StaffRequest::InstallRoster(signed.clone()),
    )
    .await
    .unwrap()
    {
        StaffReply::RosterInstalled { version } => assert_eq!(version, signed.roster.version),
        other => panic!("{other:?}"),
    }
    // Every other member receives it from ne.oai, although 10,000 of them are unreachable.
    let deadline = Instant::now() + Duration::from_secs(60);
    for at in ["ne.orp", "ne.sas"] {
        while status(&s, at).await.roster_version < signed.roster.version {
            assert!(Instant::now() < deadline, "{at} did not receive the roster");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // And serves it whole to its auditor.
    match call(&s.node("ne.sas").auditor, StaffRequest::Roster)
        .await
        .unwrap()
    {
        StaffReply::Roster(r) => {
            assert_eq!(r.digest(), signed.digest());
            assert_eq!(r.roster.members.len(), 10_003);
        }
        other => panic!("{other:?}"),
    }
    // Exchanges still work under it.
    let case = s.case("ne.oai", shared_person(), &["ne.orp"]).await;
    let purpose = "coordinated-assessment";
    let categories = [Category::Employment];
    s.consent(
        "ne.oai",
        case,
        &["ne.oai", "ne.orp"],
        &[purpose],
        &categories,
        (now() - DAY, now() + DAY),
    )
    .await;
    assert!(matches!(
        s.request("ne.oai", "ne.orp", purpose, &categories, case)
            .await,
        SummaryOutcome::Received(_)
    ));
}

/// A persons file of about 10 MiB: valid, distinct numbers, each with a name.
fn big_persons_file(dir: &std::path::Path) -> std::path::PathBuf {
    let mut text = String::from("avs,name,birth_date\n");
    let mut i: u64 = 0;
    while text.len() < 10 << 20 {
        let body = format!("756{:09}", 100_000_000 + i);
        let digits: [u8; 12] = body
            .bytes()
            .map(|b| b - b'0')
            .collect::<Vec<_>>()
            .try_into()
            .unwrap();
        let c = check_digit(&digits);
        text.push_str(&format!(
            "756.{}.{}.{}{},Person Number {i} With A Rather Long Family Name,1980-01-01\n",
            &body[3..7],
            &body[7..11],
            &body[11..12],
            c
        ));
        i += 1;
    }
    let path = dir.join("big-persons.csv");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ten_mebibyte_import_goes_through_in_one_transaction() {
    let s = Setup::new().await;
    let path = big_persons_file(s.dir.path());
    assert!(std::fs::metadata(&path).unwrap().len() >= 10 << 20);
    let set = cli::records::read_records(&[path]).unwrap();
    let persons = set.persons.len() as u64;
    match call(&s.node("ne.sas").admin, StaffRequest::ImportRecords(set))
        .await
        .unwrap()
    {
        StaffReply::Imported { persons: p, .. } => assert_eq!(p, persons),
        other => panic!("{other:?}"),
    }
    assert!(status(&s, "ne.sas").await.persons >= persons);
}

#[tokio::test(flavor = "multi_thread")]
async fn only_a_roster_may_span_frames() {
    let s = Setup::new().await;
    let key = s.node("ne.oai").signing_key().unwrap();
    let conn = s.raw_peer(&key, "ne.orp").await.unwrap();
    let tile = PeerMessage::LogTile("x".repeat(MAX_FRAME_LEN + 10));
    let bytes = encode_message(&tile).unwrap();
    let reply = daemon::transport::request_raw(&conn, &bytes).await.unwrap();
    match protocol_spec::wire::decode_body::<PeerReply>(&reply).unwrap() {
        PeerReply::Rejected { reason } => assert!(reason.contains("span frames"), "{reason}"),
        other => panic!("{other:?}"),
    }
}
